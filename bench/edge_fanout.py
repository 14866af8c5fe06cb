#!/usr/bin/env python3
"""Fan-out through edge processes sharing one port (SO_REUSEPORT) against one srsish process, in the same run.

For each N, two layouts are measured one after the other, each with fresh processes:

* `one`:   one srsish process; the publisher and the N players on it (as bench/run_fanout.sh).
* `edges`: an origin on an internal port and E edge processes (default 2) sharing the public port, each pulling
           the stream from the origin (one upstream per edge); the publisher on the origin, the N players on
           the public port, spread over the edges by the kernel.

As ../shared/bench/fanout.py does, every server runs pinned to CPU 0 (`taskset -c 0`: the edges share that core,
so the comparison is the cost of the layout, not more cores), the publisher (ffmpeg -re of the bench's 2 Mbit/s
clip) and players.py on CPU 1. players.py measures one process tree, so the CPU of each server is read here from
/proc/PID/stat over the players' window. Reported per point: players on rate, CPU % of each process and of all,
CPU us per delivered MB (all the servers' CPU, the origin's included), sockets per edge.

  bench/edge_fanout.py                          # N = 400,1600 over RTMP, 2 edges
  bench/edge_fanout.py -n 200 --proto flv       # HTTP-FLV
  bench/edge_fanout.py -n 800 --edges 2 --duration 10

The shared bench is copied to --work (default /tmp/srsish-bench, as run_fanout.sh; its .cache/source.flv is
reused); results are appended to WORK/results/edge-STAMP.jsonl. Ports 19365 (public RTMP), 18365 (public
HTTP-FLV) and 19366 (the origin) on 127.0.0.1 must be free.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLIC_RTMP, PUBLIC_HTTP, ORIGIN_RTMP = 19365, 18365, 19366
CLK = os.sysconf("SC_CLK_TCK")
SETTLE = 3.0          # players.py's default --settle
WINDOW_LAG = 0.3      # players.py starts its clock after its interpreter is up


def conf(listen: int, name: str, cluster_origin: int = 0, http: int = 0) -> str:
    """A bench conf as bench/srsish.conf (log to a file, no API), optionally an edge of `cluster_origin`."""
    text = (f"listen 127.0.0.1:{listen};\nmax_connections 10000;\ndaemon off;\nsrs_log_tank file;\n"
            f"srs_log_file ./{name}.log;\npid ./{name}.pid;\nhttp_api {{ enabled off; }}\n")
    if http:
        text += f"http_server {{ enabled on; listen 127.0.0.1:{http}; dir ./html; }}\n"
    text += "vhost __defaultVhost__ {\n"
    if http:
        text += "    http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }\n"
    if cluster_origin:
        text += f"    cluster {{ mode remote; origin 127.0.0.1:{cluster_origin}; }}\n"
    return text + "}\n"


def cpu_seconds(pid: int) -> float:
    """utime+stime of one process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def sockets(pid: int) -> int:
    n = 0
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        try:
            n += os.readlink(fd).startswith("socket:")
        except OSError:
            pass
    return n


class Layout:
    """The server processes of one point, started pinned to CPU 0 and stopped by pid."""

    def __init__(self, kind: str, edges: int, workdir: str, log) -> None:
        self.kind, self.workdir, self.log = kind, workdir, log
        self.procs: Dict[str, subprocess.Popen] = {}
        os.makedirs(os.path.join(workdir, "html"), exist_ok=True)
        if kind == "one":
            self.names = {"one": conf(PUBLIC_RTMP, "one", http=PUBLIC_HTTP)}
            self.publish_port = PUBLIC_RTMP
        else:
            self.names = {"origin": conf(ORIGIN_RTMP, "origin")}
            for i in range(1, edges + 1):
                self.names[f"edge{i}"] = conf(PUBLIC_RTMP, f"edge{i}", cluster_origin=ORIGIN_RTMP, http=PUBLIC_HTTP)
            self.publish_port = ORIGIN_RTMP

    def start(self, python: str) -> None:
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for name, text in self.names.items():
            path = os.path.join(self.workdir, name + ".conf")
            with open(path, "w") as f:
                f.write(text)
            self.procs[name] = subprocess.Popen(["taskset", "-c", "0", python, "-m", "srsish", "-c", path],
                                                cwd=self.workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                                start_new_session=True)
            if name in ("one", "origin"):
                wait_port(self.publish_port, self.procs[name])
        wait_port(PUBLIC_RTMP, next(iter(self.procs.values())))
        wait_port(PUBLIC_HTTP, next(iter(self.procs.values())))
        time.sleep(0.5)      # every edge listening, not only the first

    def stop(self) -> None:
        for p in self.procs.values():
            stop(p)


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    import socket
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited at start (rc={proc.returncode}); see the log")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"port {port} never opened")


def stop(proc, sig=signal.SIGTERM, grace=5.0) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_point(fanout, layout: Layout, proto: str, n: int, args, kbps: float, python: str) -> dict:
    bg = fanout.background_busy()
    pub = None
    try:
        layout.start(python)
        pub = subprocess.Popen(["taskset", "-c", "1", "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
                                "-stream_loop", "-1", "-i", fanout.SOURCE, "-c", "copy", "-f", "flv",
                                f"rtmp://127.0.0.1:{layout.publish_port}/live/bench"],
                               stdin=subprocess.DEVNULL, stdout=layout.log, stderr=subprocess.STDOUT)
        time.sleep(3)
        if pub.poll() is not None:
            return {"error": "publisher exited"}
        url = (f"rtmp://127.0.0.1:{PUBLIC_RTMP}/live/bench" if proto == "rtmp"
               else f"http://127.0.0.1:{PUBLIC_HTTP}/live/bench.flv")
        ramp = max(5.0, n / 200)
        players = subprocess.Popen(["taskset", "-c", "1", sys.executable, os.path.join(args.work, "players.py"), url,
                                    "-n", str(n), "--source-kbps", f"{kbps:.0f}", "--duration", str(args.duration),
                                    "--ramp", str(ramp)], stdout=subprocess.PIPE, stderr=layout.log, text=True)
        time.sleep(ramp + SETTLE + WINDOW_LAG)
        pids = {name: p.pid for name, p in layout.procs.items()}
        c0, t0 = {k: cpu_seconds(v) for k, v in pids.items()}, time.monotonic()
        time.sleep(args.duration / 2)
        socks = {k: sockets(v) for k, v in pids.items()}
        time.sleep(args.duration / 2)
        c1, t1 = {k: cpu_seconds(v) for k, v in pids.items()}, time.monotonic()
        rss = sum(rss_mib(v) for v in pids.values())
        out, _ = players.communicate(timeout=args.duration + ramp + 120)
        r = json.loads(out.strip().splitlines()[-1])
        window = t1 - t0
        cpu = {k: round(100 * (c1[k] - c0[k]) / window, 1) for k in pids}
        total_cpu_s = sum(c1[k] - c0[k] for k in pids)
        delivered_mb = r["agg_mbps"] * r["window_s"] / 8     # 10^6 bytes
        r.update(layout=layout.kind, cpu_pct=cpu, server_cpu_pct=round(sum(cpu.values()), 1),
                 cpu_us_per_mb=round(total_cpu_s * 1e6 / delivered_mb, 1) if delivered_mb else None,
                 server_rss_mib=round(rss, 1), sockets=socks, bg_busy_pct=bg)
        return r
    finally:
        stop(pub, signal.SIGINT)
        layout.stop()


def row(n: int, r: dict) -> str:
    if "error" in r:
        return f"{r.get('layout', '?'):6} {n:>5} ERROR {r['error']}"
    per = " ".join(f"{k}={v}" for k, v in r["cpu_pct"].items())
    socks = " ".join(f"{k}={v}" for k, v in r["sockets"].items() if k.startswith("edge"))
    return (f"{r['layout']:6} {n:>5} {r['connected']:>5} {r['on_rate']:>7.3f} {r['p5_kbps']:>6} {r['p50_kbps']:>7} "
            f"{r['agg_mbps']:>7.1f} {r['server_cpu_pct']:>6.1f} {r['cpu_busy_pct'][0]:>5} "
            f"{r['cpu_us_per_mb'] or 0:>6.0f} {r['server_rss_mib']:>7.1f} {r['gen_cpu_pct']:>6.1f}  [{per}]"
            + (f" sockets[{socks}]" if socks else "")
            + (f"  WARNING: machine {r['bg_busy_pct']}% busy before start" if r["bg_busy_pct"] >= 10 else ""))


HEAD = (f"{'layout':6} {'N':>5} {'conn':>5} {'on_rate':>7} {'p5kbps':>6} {'p50kbps':>7} {'Mbit/s':>7} "
        f"{'CPU%':>6} {'cpu0%':>5} {'us/MB':>6} {'RSS_MiB':>7} {'gen%':>6}  [CPU % per process]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", default="400,1600", help="comma list of player counts (default 400,1600)")
    ap.add_argument("--proto", choices=["rtmp", "flv"], default="rtmp")
    ap.add_argument("--edges", type=int, default=2, help="edge processes sharing the public port (default 2)")
    ap.add_argument("--duration", type=float, default=20, help="measuring window per point, s (default 20)")
    ap.add_argument("--bench", default=os.path.join(os.path.dirname(REPO), "shared", "bench"),
                    help="the shared bench to copy (never written)")
    ap.add_argument("--work", default="/tmp/srsish-bench", help="work dir: the bench copy, logs, results")
    ap.add_argument("--python", default=sys.executable, help="interpreter that can import srsish and gevent")
    args = ap.parse_args()

    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 CPUs (servers on CPU 0, publisher and players on CPU 1)")
    for tool in ("taskset", "ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found")
    os.makedirs(os.path.join(args.work, "results"), exist_ok=True)
    for name in ("fanout.py", "players.py"):
        dst = os.path.join(args.work, name)
        shutil.copyfile(os.path.join(args.bench, name), dst)
    sys.path.insert(0, args.work)
    import fanout                      # the copy: its make_source caches the clip under WORK/.cache
    kbps = fanout.make_source()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = os.path.join(args.work, "results", f"edge-{stamp}.jsonl")
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# edge fan-out {stamp}: source {kbps:.0f} kbit/s, {args.proto}, {args.edges} edges, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}, srsish {rev or '?'}; results {out_path}\n{HEAD}", flush=True)
    with open(os.path.join(args.work, "results", "edge-servers.log"), "a") as log:
        for n in (int(x) for x in args.n.split(",")):
            for kind in ("one", "edges"):
                workdir = os.path.join(args.work, "edge-" + kind)
                r = run_point(fanout, Layout(kind, args.edges, workdir, log), args.proto, n, args, kbps, args.python)
                r.setdefault("layout", kind)
                print(row(n, r), flush=True)
                with open(out_path, "a") as f:
                    f.write(json.dumps(dict(r, n=n, proto=args.proto, edges=args.edges,
                                            date=time.strftime("%Y-%m-%dT%H:%M"))) + "\n")
                time.sleep(1)


if __name__ == "__main__":
    main()
