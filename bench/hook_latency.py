"""What the HTTP callbacks cost a publisher: time from TCP connect to NetStream.Publish.Start.

    python bench/hook_latency.py [--runs 50]

In one run it starts the bundled callback server (research/api-server/server.py) and two
srsish processes on free ports of 127.0.0.1, then measures, median of --runs each:

  1. RTMP publish set-up on srsish without hooks: TCP connect, handshake, connect,
     releaseStream, FCPublish, createStream, publish, until onStatus NetStream.Publish.Start
     (srsish's own sans-IO RtmpConnection in the client role over a plain socket);
  2. the same on srsish with on_connect + on_publish pointing at the callback server;
  3. the callback server's own response time: a bare POST of an on_publish body over a
     keep-alive connection (http.client).

Two hooks gate a publish, so the overhead (2 - 1) should be about two callback answers
(3) plus a little. Every process it starts is ended on exit.
"""
import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from srsish.protocol.rtmp import connection as rc  # noqa: E402

HOST = "127.0.0.1"
WARMUP = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("process %s exited with %s" % (proc.args, proc.returncode))
        try:
            socket.create_connection((HOST, port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listening on %d after %.0fs" % (port, timeout))


def spawn(cmd, cwd: str, log: str, env=None) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(8)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def start_api_server(workdir: str) -> tuple:
    log = os.path.join(workdir, "api-server.log")
    proc = spawn([sys.executable, os.path.join(ROOT, "research", "api-server", "server.py"), "0",
                  "--host", HOST], workdir, log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with open(log, encoding="utf-8", errors="replace") as f:
            m = re.search(r"listening at [\d.]+:(\d+)", f.read())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            raise SystemExit("api-server exited:\n" + open(log).read())
        time.sleep(0.05)
    raise SystemExit("api-server did not start")


def start_srsish(workdir: str, hooks: str, root: str = ROOT) -> tuple:
    os.makedirs(os.path.join(workdir, "objs"), exist_ok=True)
    port = free_port()
    conf = os.path.join(workdir, "srsish.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("listen %s:%d;\ndaemon off;\npid ./objs/srs.pid;\nsrs_log_tank file;\n"
                "srs_log_file ./objs/srs.log;\nvhost __defaultVhost__ {\n%s\n}\n" % (HOST, port, hooks))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = spawn([sys.executable, "-m", "srsish", "-c", conf], workdir, os.path.join(workdir, "console.log"), env)
    wait_port(port, proc)
    return proc, port


# ----------------------------------------------------------------------------- the RTMP publisher
class Publisher:
    """Drives srsish's sans-IO RtmpConnection (client role) over a blocking socket."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.port, self.timeout = port, timeout

    def _pump(self, sock, conn, want):
        """Send what is queued, then read until `want(event)` is true; returns that event."""
        while True:
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
            ev = conn.next_event()
            if ev is rc.NEED_DATA:
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("server closed the connection")
                conn.receive_data(data)
                continue
            if isinstance(ev, rc.Command) and ev.name == "onStatus" and ev.args and \
                    isinstance(ev.args[0], dict) and ev.args[0].get("level") == "error":
                raise RuntimeError("refused: %s" % ev.args[0])
            if want(ev):
                return ev

    def publish_once(self, stream: str) -> float:
        """Seconds from TCP connect to onStatus(NetStream.Publish.Start)."""
        t0 = time.perf_counter()
        sock = socket.create_connection((HOST, self.port), self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tc_url = "rtmp://%s:%d/live" % (HOST, self.port)
            conn = rc.RtmpConnection(rc.CLIENT)
            conn.start()
            self._pump(sock, conn, lambda e: isinstance(e, rc.HandshakeComplete))
            conn.send_command("connect", 1, {"app": "live", "type": "nonprivate", "flashVer": "FMLE/3.0",
                                             "tcUrl": tc_url})
            self._pump(sock, conn, lambda e: isinstance(e, rc.Command) and e.name == "_result"
                       and e.transaction_id == 1)
            conn.send_command("releaseStream", 2, None, stream)
            conn.send_command("FCPublish", 3, None, stream)
            conn.send_command("createStream", 4, None)
            res = self._pump(sock, conn, lambda e: isinstance(e, rc.Command) and e.name == "_result"
                             and e.transaction_id == 4)
            sid = int(res.args[0]) if res.args else 1
            conn.send_command("publish", 5, None, stream, "live", stream_id=sid, csid=rc.CSID_OVER_STREAM)
            self._pump(sock, conn, lambda e: isinstance(e, rc.Command) and e.name == "onStatus" and e.args
                       and isinstance(e.args[0], dict) and e.args[0].get("code") == "NetStream.Publish.Start")
            return time.perf_counter() - t0
        finally:
            sock.close()


def measure_publish(port: int, runs: int, tag: str) -> list:
    pub = Publisher(port)
    times = []
    for i in range(WARMUP + runs):
        t = pub.publish_once("%s%d" % (tag, i))
        if i >= WARMUP:
            times.append(t)
        time.sleep(0.02)  # let the server finish the previous client's unpublish/close hooks
    return times


def measure_api_server(port: int, runs: int) -> list:
    body = json.dumps({
        "server_id": "vid-bench00", "service_id": "bench000", "action": "on_publish", "client_id": "bench001",
        "ip": HOST, "vhost": "__defaultVhost__", "app": "live", "tcUrl": "rtmp://127.0.0.1:1935/live",
        "stream": "livestream", "param": "", "stream_url": "/live/livestream", "stream_id": "vid-bench01",
    }, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Connection": "Keep-Alive"}
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    try:
        for i in range(WARMUP + runs):
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/streams", body=body, headers=headers)
            resp = conn.getresponse()
            reply = resp.read()
            t = time.perf_counter() - t0
            if resp.status != 200 or json.loads(reply).get("code") != 0:
                raise SystemExit("api-server answered %d %r" % (resp.status, reply))
            if i >= WARMUP:
                times.append(t)
    finally:
        conn.close()
    return times


def row(name: str, times: list) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return "| %-58s | %9.2f | %7.2f | %7.2f |" % (name, statistics.median(ms), ms[0], p90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="measured runs per setup (after %d warm-up)" % WARMUP)
    ap.add_argument("--compare", metavar="ROOT", help="also measure the hooked setup with the srsish of another "
                    "checkout (e.g. the previous main), in the same run")
    args = ap.parse_args()
    procs = []
    with tempfile.TemporaryDirectory(prefix="hook-latency-") as tmp:
        try:
            api, api_port = start_api_server(tmp)
            procs.append(api)
            base = "http://%s:%d/api/v1/" % (HOST, api_port)
            hooks = ("    http_hooks {\n        enabled on;\n        on_connect %sclients;\n"
                     "        on_publish %sstreams;\n    }" % (base, base))
            plain, plain_port = start_srsish(os.path.join(tmp, "plain"), "")
            procs.append(plain)
            hooked, hooked_port = start_srsish(os.path.join(tmp, "hooked"), hooks)
            procs.append(hooked)

            other = None
            if args.compare:
                old, old_port = start_srsish(os.path.join(tmp, "compare"), hooks, os.path.abspath(args.compare))
                procs.append(old)
            no_hooks = measure_publish(plain_port, args.runs, "plain")
            with_hooks = measure_publish(hooked_port, args.runs, "hooked")
            if args.compare:
                other = measure_publish(old_port, args.runs, "compare")
            api_times = measure_api_server(api_port, args.runs)
            with open(os.path.join(tmp, "hooked", "objs", "srs.log"), encoding="utf-8") as f:
                calls = len(re.findall(r"http hook on_(?:connect|publish) .* ok", f.read()))
        finally:
            for p in reversed(procs):
                stop(p)

    print("hook latency, median of %d runs (%d warm-up), milliseconds" % (args.runs, WARMUP))
    print("| %-58s | %9s | %7s | %7s |" % ("setup", "median", "min", "p90"))
    print("|%s|%s|%s|%s|" % ("-" * 60, "-" * 11, "-" * 9, "-" * 9))
    print(row("RTMP connect -> Publish.Start, no hooks", no_hooks))
    print(row("RTMP connect -> Publish.Start, on_connect + on_publish", with_hooks))
    if other is not None:
        print(row("the same, srsish of %s" % args.compare, other))
    print(row("api-server answer to one POST (keep-alive)", api_times))
    overhead = statistics.median(with_hooks) - statistics.median(no_hooks)
    print("hook overhead (median difference): %.2f ms for 2 hook calls; 2 x api-server answer: %.2f ms"
          % (overhead * 1000, 2 * statistics.median(api_times) * 1000))
    if calls < 2 * (WARMUP + args.runs):
        print("WARNING: the hooked server logged only %d successful hook calls" % calls)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
