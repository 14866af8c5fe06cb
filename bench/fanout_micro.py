"""Fan-out micro-benchmark: the Python cost of srsish's hot path per delivered MB, without sockets.

One publisher greenlet feeds a LiveSource in real time (a 2078 kbit/s-like stream: 30 fps video,
43 audio frames/s, a keyframe every 2 s); N players each have a consumer and a real writer
(RTMP PlayWriter or HTTP-FLV FlvWriter) whose socket is a stub that accepts every byte. What is
measured is the process CPU time over the window divided by the bytes the writers handed to
`sendmsg`: the part of fan-out that is Python (enqueue, wake-ups, timers, encode, send loop),
which the whole-server bench (run_fanout.sh) cannot separate from the kernel's share.

    .venv/bin/python bench/fanout_micro.py                 # rtmp and flv, N=800 and 2000, 6 s each
    .venv/bin/python bench/fanout_micro.py -p rtmp -n 800 -d 10 --profile   # and cProfile's top 25

Numbers are only comparable on the same machine and load; compare a branch against main in one go.
"""
import argparse
import cProfile
import pstats
import time

import gevent

from srsish.app.http.flv import FlvWriter
from srsish.app.live.consumer import PUBLISH, UNPUBLISH
from srsish.app.live.source import LiveSource
from srsish.app.rtmp.player import PlayWriter
from srsish.protocol.rtmp.media import MediaChunker

VIDEO_SH = b"\x17\x00\x00\x00\x00" + bytes(40)
AUDIO_SH = b"\xaf\x00\x12\x10"
PLAY_CONF = {"gop_cache": True, "gop_cache_max_frames": 2500, "time_jitter": "full"}


class StubSocket:
    """Accepts everything at once, like a socket whose peer always keeps up."""

    def __init__(self) -> None:
        self.calls = 0

    def sendmsg(self, buffers, ancdata=(), flags=0) -> int:
        self.calls += 1
        return sum(map(len, buffers))


class StubConn:
    def __init__(self) -> None:
        self.sock = StubSocket()
        self.send_bytes = 0


class StubFlvClient:
    def __init__(self) -> None:
        self.conn = StubConn()


def publish(source: LiveSource, seconds: float) -> None:
    """Video at 30 fps (keyframe every 60 frames), audio at ~43/s, paced in real time."""
    source.on_publish(object())
    source.on_metadata([{"width": 1280}], 0)
    source.on_media(9, 0, VIDEO_SH)
    source.on_media(8, 0, AUDIO_SH)
    start = time.monotonic()
    frame = 0
    audio_ts = 0.0
    video = [b"\x17\x01" + bytes(40_000), b"\x27\x01" + bytes(7_600)]
    audio = b"\xaf\x01" + bytes(370)
    while True:
        ts = frame * 1000 // 30
        if ts >= seconds * 1000:
            break
        while audio_ts <= ts:
            source.on_media(8, int(audio_ts), audio)
            audio_ts += 1024 * 1000 / 44100
        source.on_media(9, ts, video[0] if frame % 60 == 0 else video[1])
        frame += 1
        delay = start + (frame * 1000 // 30) / 1000 - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)


def run(proto: str, n: int, seconds: float, mw_latency: int, profile: bool) -> dict:
    source = LiveSource("__defaultVhost__", "live", "bench")
    source.configure(PLAY_CONF)
    writers = []
    greenlets = []
    for _ in range(n):
        consumer = source.create_consumer(30_000)
        if proto == "rtmp":
            chunker = MediaChunker(60000, 1, consumer.relative_timestamp, {UNPUBLISH: b"u", PUBLISH: b"p"})
            w = PlayWriter(StubSocket(), consumer, chunker, mw_latency, 0, lambda _n: None)
        else:
            w = FlvWriter(StubFlvClient(), consumer, mw_latency, 0, True)
        writers.append(w)
        greenlets.append(gevent.spawn(w.run))
    gevent.sleep(0)
    prof = cProfile.Profile() if profile else None
    cpu0 = time.process_time()
    if prof:
        prof.enable()
    publish(source, seconds)
    if prof:
        prof.disable()
    cpu = time.process_time() - cpu0
    sent = sum(w.send_bytes for w in writers)
    wakeups = sum((w.sock if proto == "rtmp" else w.client.conn.sock).calls for w in writers)
    for c in list(source.consumers):
        source.destroy_consumer(c)
    gevent.joinall(greenlets, timeout=5)
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    mb = sent / 1e6
    return {"proto": proto, "n": n, "cpu_s": round(cpu, 3), "MB": round(mb, 1),
            "us_per_MB": round(cpu * 1e6 / mb, 1) if mb else None,
            "sends": wakeups, "us_per_send": round(cpu * 1e6 / wakeups, 2) if wakeups else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-p", "--proto", action="append", choices=["rtmp", "flv"])
    ap.add_argument("-n", action="append", type=int)
    ap.add_argument("-d", "--duration", type=float, default=6.0)
    ap.add_argument("--mw-latency", type=int, default=350)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    for proto in args.proto or ["rtmp", "flv"]:
        for n in args.n or [800, 2000]:
            print(run(proto, n, args.duration, args.mw_latency, args.profile), flush=True)


if __name__ == "__main__":
    main()
