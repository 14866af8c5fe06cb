"""What the durable hook outbox costs per notification, against posting the same events directly.

    python bench/hook_outbox.py [--events 3000]

Starts the bundled callback server (research/api-server/server.py) on a free port, then in this process,
with gevent, sends --events on_close notifications to it two ways, each timed by this process's CPU time
(user + system) and wall clock:

  1. direct: HookTransport.post per event, in order (what srsish did before the outbox: SRS's way);
  2. outbox: HttpHooks.on_close per event (stored in SQLite in WAL mode on a temporary file, then
     delivered by the sender greenlet, headers and signature included), until the outbox is empty.

The difference per event is the outbox's price: the SQLite writes (insert, delete, counters), the
scheduling, and the identity headers and HMAC.
"""
import argparse
import os
import sys
import tempfile
import time

from gevent import monkey

monkey.patch_all()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from hook_latency import HOST, start_api_server, stop  # noqa: E402

from srsish.app.config import spec_defaults  # noqa: E402
from srsish.app.hooks.events import build_body  # noqa: E402
from srsish.app.hooks.http_hooks import HookContext, HttpHooks  # noqa: E402
from srsish.app.hooks.outbox import open_database  # noqa: E402


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def ctx(i: int) -> HookContext:
    return HookContext(client_id="c%07d" % i, ip=HOST, vhost="__defaultVhost__", app="live", stream="s%d" % i,
                       send_bytes=1000 + i, recv_bytes=2000 + i)


def run_direct(url: str, n: int) -> tuple:
    hooks = HttpHooks("vid-bench00", "bench000")
    conf = dict(spec_defaults("vhost.http_hooks"), enabled=True, on_close=[url])
    try:
        hooks.transport.post(url, b"{}", 5, True)     # warm the keep-alive connection
        c0, w0 = cpu(), time.perf_counter()
        for i in range(n):
            body = build_body("on_close", ctx(i), hooks.server_id, hooks.service_id).encode()
            status, _ = hooks.transport.post(url, body, conf["timeout"], True)
            assert status == 200
        return cpu() - c0, time.perf_counter() - w0
    finally:
        hooks.close()


def run_outbox(url: str, n: int, tmp: str) -> tuple:
    hooks = HttpHooks("vid-bench00", "bench000", db=open_database(os.path.join(tmp, "bench.hooks.db")))
    conf = dict(spec_defaults("vhost.http_hooks"), enabled=True, on_close=[url], secret="bench-secret")
    try:
        hooks.transport.post(url, b"{}", 5, True)
        c0, w0 = cpu(), time.perf_counter()
        for i in range(n):
            hooks.on_close(conf, ctx(i))
        if not hooks.drain(120):
            raise SystemExit("the outbox did not empty")
        used = cpu() - c0, time.perf_counter() - w0
        stats = hooks.outbox.stats()[url]
        assert stats["delivered"] == n, stats
        return used
    finally:
        hooks.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=3000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hook-outbox-") as tmp:
        api, port = start_api_server(tmp)
        try:
            url = "http://%s:%d/api/v1/clients" % (HOST, port)
            direct = run_direct(url, args.events)
            outbox = run_outbox(url, args.events, tmp)
        finally:
            stop(api)
    n = args.events
    print("%d on_close notifications to the bundled callback server (this process's CPU; the server's own "
          "time is not counted)" % n)
    print("| path | CPU µs per event | events/s (wall) |")
    print("| --- | ---: | ---: |")
    for name, (c, w) in (("direct POST (before the outbox)", direct), ("outbox: SQLite + sender + signature", outbox)):
        print("| %s | %.0f | %.0f |" % (name, c / n * 1e6, n / w))
    print("outbox cost: %.0f µs of CPU per event (%.2fx the direct path)"
          % ((outbox[0] - direct[0]) / n * 1e6, outbox[0] / direct[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
