#!/usr/bin/env python3
"""What DVR costs: server CPU with N publishers at ~2 Mbit/s recorded (session FLV or MP4) versus not recorded.

For each run a fresh srsish (pinned to CPU 0 when `taskset` exists) takes N ffmpeg publishers
(`-re -stream_loop -1 -c copy` of a 2 Mbit/s 720p clip, pinned to CPU 1); after a settle time
the server's utime+stime (/proc/PID/stat) is sampled over the window. Runs alternate without
and with DVR, `--repeat` times each; the medians give the CPU DVR adds per stream, in % of
one core. The clip is made once into bench/.cache/source.flv (as ../shared/bench does).

    python3 bench/dvr_cpu.py                      # 20 streams, 20 s window, 2 runs of each
    python3 bench/dvr_cpu.py -n 10 --repeat 3 --format mp4
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SOURCE = os.path.join(HERE, ".cache", "source.flv")
CLK_TCK = os.sysconf("SC_CLK_TCK")

CONF = """\
listen 127.0.0.1:{port};
max_connections 1000;
daemon off;
pid ./srs.pid;
srs_log_tank file;
srs_log_file ./srs.log;
vhost __defaultVhost__ {{
{dvr}
}}
"""
DVR = """\
    dvr {{
        enabled on;
        dvr_path ./dvr/[app]/[stream].[timestamp].{ext};
        dvr_plan session;
    }}"""


def make_source() -> float:
    """The 2 Mbit/s clip (30 s 1280x720 testsrc2, x264 veryfast 1900k, GOP 2 s, AAC 128k); its kbit/s."""
    if not os.path.exists(SOURCE):
        os.makedirs(os.path.dirname(SOURCE), exist_ok=True)
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
                        "-f", "lavfi", "-i", "sine=frequency=440",
                        "-t", "30", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                        "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
                        "-b:v", "1900k", "-maxrate", "1900k", "-bufsize", "3800k",
                        "-c:a", "aac", "-b:a", "128k", "-f", "flv", SOURCE + ".tmp"], check=True)
        os.rename(SOURCE + ".tmp", SOURCE)
    seconds = float(subprocess.check_output(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                             "-of", "csv=p=0", SOURCE]))
    return os.path.getsize(SOURCE) * 8 / seconds / 1000


def pinned(cpu: int, cmd: List[str]) -> List[str]:
    return (["taskset", "-c", str(cpu)] + cmd) if shutil.which("taskset") and os.cpu_count() > 1 else cmd


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK      # utime, stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("srsish did not start; see its log")


def stop(proc: Optional[subprocess.Popen], sig: int, grace: float = 10) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(n: int, dvr_ext: Optional[str], settle: float, window: float, workdir: str) -> dict:
    """One fresh server with `n` publishers; its CPU % over the window (DVR on when `dvr_ext`)."""
    port = free_port()
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    with open(os.path.join(workdir, "srsish.conf"), "w") as f:
        f.write(CONF.format(port=port, dvr=DVR.format(ext=dvr_ext) if dvr_ext else ""))
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = open(os.path.join(workdir, "console.log"), "wb")
    server = subprocess.Popen(pinned(0, [sys.executable, "-m", "srsish", "-c", "srsish.conf"]), cwd=workdir,
                              env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    pubs: List[subprocess.Popen] = []
    try:
        wait_port(port, server)
        for i in range(n):
            pubs.append(subprocess.Popen(pinned(1, [
                "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
                "-i", SOURCE, "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/s{i}"]),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        time.sleep(settle)
        alive = sum(p.poll() is None for p in pubs)
        c0, t0 = cpu_seconds(server.pid), time.monotonic()
        time.sleep(window)
        c1, t1 = cpu_seconds(server.pid), time.monotonic()
        if sum(p.poll() is None for p in pubs) < n or alive < n:
            raise SystemExit(f"only {alive} of {n} publishers kept going; see {workdir}/console.log")
        cpu = 100.0 * (c1 - c0) / (t1 - t0)
    finally:
        for p in pubs:
            stop(p, signal.SIGINT)
        stop(server, signal.SIGTERM)
        log.close()
    recorded = 0
    for d, _, names in os.walk(os.path.join(workdir, "dvr")):
        recorded += sum(os.path.getsize(os.path.join(d, x)) for x in names)
    shutil.rmtree(os.path.join(workdir, "dvr"), ignore_errors=True)
    return {"dvr": dvr_ext or "off", "streams": n, "server_cpu_pct": round(cpu, 2),
            "recorded_mb": round(recorded / 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20, help="publishers (default 20)")
    ap.add_argument("--window", type=float, default=20, help="measuring window, s (default 20)")
    ap.add_argument("--settle", type=float, default=5, help="wait after the publishers start, s (default 5)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each mode (default 2)")
    ap.add_argument("--format", choices=("flv", "mp4"), default="flv", help="what DVR records (default flv)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "srsish-dvr-bench"))
    args = ap.parse_args()
    kbps = make_source()
    runs = []
    for i in range(args.repeat):
        for ext in (None, args.format):
            r = run(args.n, ext, args.settle, args.window, args.workdir)
            runs.append(r)
            print(json.dumps(r), flush=True)
    off = statistics.median(r["server_cpu_pct"] for r in runs if r["dvr"] == "off")
    on = statistics.median(r["server_cpu_pct"] for r in runs if r["dvr"] != "off")
    summary = {"streams": args.n, "source_kbps": round(kbps), "window_s": args.window, "format": args.format,
               "cpu_pct_without_dvr": off, "cpu_pct_with_dvr": on,
               "added_cpu_pct_per_stream": round((on - off) / args.n, 3)}
    print(json.dumps(summary))
    print(f"\n{args.n} streams at {kbps:.0f} kbit/s: server CPU {off:.1f}% without DVR, {on:.1f}% with DVR "
          f"({args.format}); DVR adds {(on - off) / args.n:.2f}% of one core per stream")


if __name__ == "__main__":
    main()
