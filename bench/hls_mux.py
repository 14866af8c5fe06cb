#!/usr/bin/env python3
"""What HLS costs: CPU seconds per second of a 2 Mbit/s stream segmented, offline (no network).

The bench's clip (bench/.cache/source.flv: 30 s 1280x720 testsrc2 x264 1900k GOP 2 s + AAC 128k,
2078 kbit/s, made once as ../shared/bench does) is read into SharedMessages and, looped to
`--seconds` of stream, fed through

* `ts`:  the kernel TsMuxer alone (FLV tag bodies in, TS bytes out, nothing written), and
* `hls`: the Hls origin feature as a publish session runs it (TsMuxer, .ts files, playlist
  rewrites, window cleanup, on_hls/on_hls_notify queued to a stub), hls_fragment 10, hls_window 60,
  into a temporary hls_path.

It reports process CPU time (user+sys) per stream-second and how many such streams one core
could segment in real time (1 / that), the median of `--repeat` runs.

    python3 bench/hls_mux.py                    # 300 s of stream, 3 runs
    python3 bench/hls_mux.py --seconds 120 --repeat 5
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from srsish.app.config import load_config  # noqa: E402
from srsish.app.origin.hls import Hls  # noqa: E402
from srsish.app.origin.hls_playlist import HlsStreams  # noqa: E402
from srsish.app.hooks.http_hooks import HookContext  # noqa: E402
from srsish.app.origin.hub import OriginContext  # noqa: E402
from srsish.core.naming import DEFAULT_VHOST  # noqa: E402
from srsish.kernel.message import SharedMessage  # noqa: E402
from srsish.kernel.ts import TsMuxer  # noqa: E402

SOURCE = os.path.join(HERE, ".cache", "source.flv")
CONF = """listen 1935;
vhost __defaultVhost__ {
    hls { enabled on; hls_fragment 10; hls_window 60; hls_path %s; hls_dispose 0; }
    http_hooks { enabled on; on_hls http://127.0.0.1:1/on_hls; on_hls_notify http://127.0.0.1:1/[ts_url]; }
}
"""


def make_source() -> None:
    if os.path.exists(SOURCE):
        return
    os.makedirs(os.path.dirname(SOURCE), exist_ok=True)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
                    "-t", "30", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                    "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
                    "-b:v", "1900k", "-maxrate", "1900k", "-bufsize", "3800k",
                    "-c:a", "aac", "-b:a", "128k", "-f", "flv", SOURCE + ".tmp"], check=True)
    os.rename(SOURCE + ".tmp", SOURCE)


def read_flv(path: str) -> List[Tuple[int, int, bytes]]:
    """(type, timestamp ms, tag body) of every audio/video tag."""
    with open(path, "rb") as f:
        data = f.read()
    pos = int.from_bytes(data[5:9], "big") + 4
    tags = []
    while pos + 11 <= len(data):
        kind = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        if kind in (8, 9):
            tags.append((kind, ts, data[pos + 11:pos + 11 + size]))
        pos += 11 + size + 4
    return tags


def stream_messages(tags: List[Tuple[int, int, bytes]], seconds: float) -> Tuple[List[SharedMessage], float]:
    """The clip looped to `seconds`, as a publisher's SharedMessages (sequence headers sent once)."""
    span = max(ts for _, ts, _ in tags) + 40
    headers = [SharedMessage(k, 0, b) for k, ts, b in tags if SharedMessage(k, 0, b).is_sequence_header]
    media = [(k, ts, b) for k, ts, b in tags if not SharedMessage(k, 0, b).is_sequence_header]
    msgs = list(headers)
    loop = 0
    while loop * span < seconds * 1000:
        msgs += [SharedMessage(k, ts + loop * span, b) for k, ts, b in media]
        loop += 1
    return msgs, loop * span / 1000.0


class StubHooks:
    """Counts the hook calls the feature queues (the real sender would hand them to a worker)."""

    def __init__(self) -> None:
        self.calls = 0

    def on_hls(self, conf, ctx) -> None:
        self.calls += 1

    def on_hls_notify(self, conf, ctx, ts_url, nb_notify) -> None:
        self.calls += 1


def run_ts(msgs: List[SharedMessage]) -> Tuple[float, int]:
    m = TsMuxer()
    out = 0
    started = time.process_time()
    m.start_segment()
    for msg in msgs:
        out += len(m.video(msg.timestamp, msg.payload) if msg.is_video else m.audio(msg.timestamp, msg.payload))
    return time.process_time() - started, out


def run_hls(msgs: List[SharedMessage], root: str) -> Tuple[float, int, int]:
    conf_path = os.path.join(root, "bench.conf")
    with open(conf_path, "w") as f:
        f.write(CONF % os.path.join(root, "html"))
    vhost = load_config(conf_path).vhost(DEFAULT_VHOST)
    hooks = StubHooks()
    hook = HookContext(client_id="bench001", ip="127.0.0.1", vhost=DEFAULT_VHOST, app="live", stream="bench")
    ctx = OriginContext(vhost=vhost, hook=hook, hooks=hooks, hooks_conf=lambda: vhost["http_hooks"], cwd=root,
                        hls_streams=HlsStreams())     # a fresh one per run: nothing carries over
    started = time.process_time()
    feature = Hls.create(ctx)
    feature.on_publish()
    for msg in msgs:
        feature.on_media(msg)
    feature.on_unpublish()
    cpu = time.process_time() - started
    segments = feature.stream.next_seq
    return cpu, segments, hooks.calls


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=300, help="stream seconds per run (default 300)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each, the median is reported (default 3)")
    args = p.parse_args()
    make_source()
    tags = read_flv(SOURCE)
    msgs, seconds = stream_messages(tags, args.seconds)
    flv_bytes = sum(len(m.payload) for m in msgs)
    kbps = flv_bytes * 8 / seconds / 1000
    print("source %s: %.0f kbit/s of tag bodies, %.0f s of stream per run, %d messages"
          % (os.path.relpath(SOURCE), kbps, seconds, len(msgs)))

    ts_cpu, hls_cpu = [], []
    for _ in range(args.repeat):
        cpu, out = run_ts(msgs)
        ts_cpu.append(cpu)
        with tempfile.TemporaryDirectory(prefix="hls-bench-") as root:
            cpu, segments, calls = run_hls(msgs, root)
        hls_cpu.append(cpu)
    overhead = 100.0 * (out - flv_bytes) / flv_bytes
    print("TS output %.0f kbit/s (+%.1f%% over the FLV bodies); %d segments, %d hook calls queued per run"
          % (out * 8 / seconds / 1000, overhead, segments, calls))
    print("%-4s %14s %22s %26s" % ("what", "CPU s per run", "CPU s per stream-second", "streams per core (real time)"))
    for name, cpus in (("ts", ts_cpu), ("hls", hls_cpu)):
        per = statistics.median(cpus) / seconds
        print("%-4s %14.2f %22.4f %26.0f" % (name, statistics.median(cpus), per, 1.0 / per))
    return 0


if __name__ == "__main__":
    sys.exit(main())
