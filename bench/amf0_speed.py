#!/usr/bin/env python3
"""How long AMF0 takes to encode and decode a connect command (done once per RTMP connection).

    python3 bench/amf0_speed.py                 # best of 5 runs of 500 cycles
    python3 bench/amf0_speed.py --number 2000 --repeat 7

The command is the one ffmpeg sends to play (tests/helpers/amf0_captures.py), with the fields
other clients add, eleven properties in all. The figure printed is microseconds per
encode+decode cycle (best run). It used to be a timed assertion in tests/protocol/test_amf0.py
(under 50 us); timing belongs here, where a loaded machine cannot fail a test.
"""
import argparse
import os
import sys
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from helpers.amf0_captures import PLAY_CONNECT_VALUES  # noqa: E402
from srsish.protocol.amf0 import decode_command, encode  # noqa: E402

# ffmpeg's play connect (the test suite's capture) with the fields other clients add.
CONNECT_VALUES = [*PLAY_CONNECT_VALUES[:2], {**PLAY_CONNECT_VALUES[2], "type": "nonprivate",
                                             "swfUrl": "rtmp://h/live", "objectEncoding": 0.0}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=500, help="cycles per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is reported")
    args = parser.parse_args()
    assert decode_command(encode(*CONNECT_VALUES)) == CONNECT_VALUES

    def cycle() -> None:
        decode_command(encode(*CONNECT_VALUES))

    best = min(timeit.repeat(cycle, number=args.number, repeat=args.repeat)) / args.number
    print(f"amf0 connect encode+decode: {best * 1e6:.1f} us per cycle "
          f"(best of {args.repeat} x {args.number})")


if __name__ == "__main__":
    main()
