"""Tests for srsish.app.hooks.http_hooks: bodies against SRS's captures, reply judging, and delivery against real local servers."""
import glob
import json
import os
import socket
import time

import gevent
import gevent.pool
import gevent.ssl
import pytest
import trustme

from srsish import SIGNATURE
from helpers.hook_backend import Backend, Reply
from srsish.app.config import spec_defaults
from srsish.app.hooks.http_hooks import HookContext, HookEvents, build_body, judge_reply
from srsish.app.hooks.worker import AsyncCallWorker

# The requests SRS 7.0.18 sent, captured on the wire (outside the repo; override with the env var).
SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "srs-hook-samples")
SENDER = ("server_id", "service_id", "action")


def load_samples() -> list[dict]:
    out = []
    for path in sorted(glob.glob(os.path.join(SAMPLES, "*.json"))):
        with open(path, encoding="utf-8") as f:
            sample = json.load(f)
        sample["name"] = os.path.basename(path)
        out.append(sample)
    return out


def ctx_from_body(body: dict) -> HookContext:
    return HookContext(**{k: v for k, v in body.items() if k not in SENDER})


CTX = HookContext(client_id="x42bnd27", ip="127.0.0.1", vhost="__defaultVhost__", app="live",
                  stream="livestream", param="?token=abc", tcUrl="rtmp://127.0.0.1:19350/live",
                  stream_url="/live/livestream", stream_id="vid-1q5u2d3")


def conf(event: str, *urls: str, **kw: object) -> dict:
    c: dict = {**spec_defaults("vhost.http_hooks"), "enabled": True, event: list(urls), "timeout": 5.0}
    c.update(kw)
    return c


# ----------------------------------------------------------------------------- a real HTTP backend

def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ----------------------------------------------------------------------------- build_body

def test_build_body_reproduces_every_captured_sample():
    samples = load_samples()
    assert samples, f"no captured samples at {SAMPLES}"
    covered = set()
    for sample in samples:
        req = sample["request"]
        if not req["request_line"].startswith("POST ") or not sample.get("body_parsed"):
            continue
        parsed = sample["body_parsed"]
        action = parsed.get("action")
        if action is None:  # heartbeat: not built here
            continue
        got = build_body(action, ctx_from_body(parsed), parsed["server_id"], parsed["service_id"])
        assert got == req["body"], sample["name"]
        # the same thing spelled out: key order and JSON types
        pairs = json.loads(got, object_pairs_hook=list)
        want = json.loads(req["body"], object_pairs_hook=list)
        assert [k for k, _ in pairs] == [k for k, _ in want] == list(HookEvents[action])
        assert [type(v) for _, v in pairs] == [type(v) for _, v in want]
        covered.add(action)
    assert covered == set(HookEvents), "samples should cover every POST action"


def test_build_body_number_formats():
    ctx = HookContext("c", "1.2.3.4", "v", "live", duration=1.96, seq_no=7, send_bytes=12,
                      recv_bytes=3)
    assert '"duration":1.96,' in build_body("on_hls", ctx, "s", "t")
    ctx.duration = 2
    body = build_body("on_hls", ctx, "s", "t")
    assert '"duration":2.00,' in body and '"seq_no":7,' in body
    assert build_body("on_close", ctx, "s", "t").endswith('"send_bytes":12,"recv_bytes":3}')


def test_build_body_minimal_escaping():
    ctx = HookContext("c", "1.2.3.4", "v", "live", stream='a"b\\c\nd\té/直播\x01',
                      param="?k=v&x=</script>")
    body = build_body("on_publish", ctx, "s", "t")
    assert '"stream":"a\\"b\\\\c\\nd\\té/直播\\u0001"' in body
    assert '"param":"?k=v&x=</script>"' in body
    assert json.loads(body)["stream"] == ctx.stream


def test_build_body_unknown_action():
    with pytest.raises(ValueError):
        build_body("on_forward", CTX, "s", "t")


# ----------------------------------------------------------------------------- judge_reply

@pytest.mark.parametrize("status,body,ok", [
    (200, b"0", True),
    (200, b'{"code":0}', True),
    (200, b'{"code": 0, "data": null}', True),
    (201, b"0", True),
    (201, b'{"code":0}', True),
    (200, b"0\n", True),          # more lenient than SRS: whitespace around 0
    (200, b" 0\r\n", True),
    (200, b"1", False),
    (200, b"", False),
    (200, b"  \n", False),
    (200, b'{"code":1}', False),
    (200, b'{"code":"0"}', False),
    (200, b'{"code":false}', False),
    (200, b'{"code":0.0}', False),
    (200, b'{"data":0}', False),
    (200, b'"0"', False),
    (200, b"[0]", False),
    (200, b"ok", False),
    (200, b"\xff\xfe", False),
    (404, b"0", False),
    (500, b"0", False),
    (204, b"", False),
])
def test_judge_reply(status, body, ok):
    why = judge_reply(status, body)
    assert (why is None) == ok, why
    if not ok:
        assert why.startswith("HTTP %d" % status)


# ----------------------------------------------------------------------------- gating against a real server

def test_gating_disabled_or_no_urls_calls_nothing(hooks, backend):
    c = conf("on_publish", backend.url("/x"))
    c["enabled"] = False
    assert hooks.on_publish(c, CTX).ok
    assert hooks.on_play(conf("on_publish", backend.url("/x")), CTX).ok  # no on_play URL
    assert hooks.on_connect({}, CTX).ok
    assert backend.requests == []


@pytest.mark.parametrize("reply,ok", [
    (Reply(200, b"0"), True), (Reply(200, b'{"code":0}'), True), (Reply(201, b"0"), True),
    (Reply(200, b"0\n"), True), (Reply(200, b"1"), False), (Reply(200, b""), False),
    (Reply(200, b'{"code":1}'), False), (Reply(200, b'{"code":"0"}'), False),
    (Reply(200, b"not json"), False), (Reply(404, b"0"), False), (Reply(500, b"0"), False),
])
def test_gating_follows_reply_table(hooks, backend, reply, ok):
    backend.routes["/h"] = reply
    for fire, event in ((hooks.on_connect, "on_connect"), (hooks.on_publish, "on_publish"),
                        (hooks.on_play, "on_play")):
        verdict = fire(conf(event, backend.url("/h")), CTX)
        assert verdict.ok == ok, verdict.reason
        assert (verdict.reason == "") == ok


def test_rejection_reason_names_hook_url_and_answer(hooks, backend):
    backend.routes["/api/v1/streams"] = Reply(200, b"1")
    url = backend.url("/api/v1/streams")
    verdict = hooks.on_publish(conf("on_publish", url), CTX)
    assert verdict.reason == 'on_publish %s rejected: HTTP 200 body "1"' % url
    # what the refused client is told: the hook and the answer, never the backend's URL
    assert verdict.client_text == 'on_publish rejected: HTTP 200 body "1"'


def test_request_method_headers_target_and_body(hooks, backend):
    url = backend.url("/api/v1/streams?x=1&y=%20z")
    assert hooks.on_publish(conf("on_publish", url), CTX).ok
    (req,) = backend.requests
    assert req.method == "POST"
    assert req.target == "/api/v1/streams?x=1&y=%20z"
    body = build_body("on_publish", CTX, "srv1", "svc1").encode()
    assert req.body == body
    headers = dict(req.headers)
    ids = {k: headers.pop(k) for k in ("X-Srsish-Event-Id", "X-Srsish-Attempt", "X-Srsish-Timestamp")}
    assert sorted(headers.items()) == sorted([
        ("Connection", "Keep-Alive"), ("Content-Length", str(len(body))),
        ("Content-Type", "application/json"), ("Host", "127.0.0.1:%d" % backend.port),
        ("User-Agent", SIGNATURE)])        # no signature without a secret
    assert len(ids["X-Srsish-Event-Id"]) == 20 and ids["X-Srsish-Attempt"] == "1"
    assert abs(int(ids["X-Srsish-Timestamp"]) - time.time()) < 5
    assert SIGNATURE.startswith("srsish/")


def test_empty_path_becomes_slash(hooks, backend):
    assert hooks.on_connect(conf("on_connect", backend.url("")), CTX).ok
    assert hooks.on_connect(conf("on_connect", backend.url("?a=1")), CTX).ok
    assert backend.paths() == ["/", "/?a=1"]


def test_several_urls_called_in_order_and_first_failure_stops(hooks, backend):
    a, b = backend.url("/a"), backend.url("/b")
    assert hooks.on_play(conf("on_play", a, b), CTX).ok
    assert backend.paths() == ["/a", "/b"]
    backend.requests.clear()
    backend.routes["/a"] = Reply(200, b"1")
    verdict = hooks.on_play(conf("on_play", a, b), CTX)
    assert not verdict.ok and verdict.reason.startswith("on_play %s rejected" % a)
    assert backend.paths() == ["/a"]


def test_notifications_reach_every_url_each_on_its_own_and_failures_are_retried(hooks, backend, hook_log):
    backend.routes["/a"] = lambda conn, nth: Reply(500, b"0") if len(backend.requests) <= 2 else Reply()
    refused = "http://127.0.0.1:%d/down" % free_port()
    fast = {"retry_max_delay": 0.2}
    for fire, event in ((hooks.on_close, "on_close"), (hooks.on_unpublish, "on_unpublish"),
                        (hooks.on_stop, "on_stop")):
        assert fire(conf(event, backend.url("/a"), refused, backend.url("/b"), **fast), CTX) is None
    assert not hooks.drain(1.5)                   # the refused URL never accepts
    by_path: dict = {}
    for r in backend.requests:
        by_path.setdefault(r.target, []).append((json.loads(r.body)["action"], dict(r.headers)))
    assert [a for a, _ in by_path["/b"]] == ["on_close", "on_unpublish", "on_stop"]
    accepted_a = [a for a, _ in by_path["/a"]]
    assert accepted_a.count("on_close") >= 2 and set(accepted_a) == {"on_close", "on_unpublish", "on_stop"}
    retries = [h for a, h in by_path["/a"] if a == "on_close"]
    assert [h["X-Srsish-Attempt"] for h in retries] == [str(i) for i in range(1, len(retries) + 1)]
    assert len({h["X-Srsish-Event-Id"] for h in retries}) == 1
    assert any("connection refused" in line for line in hook_log)
    assert any("HTTP 500" in line for line in hook_log)
    assert hooks.outbox.pending() == 3 and hooks.outbox.pending(refused) == 3


def test_keep_alive_connection_is_reused(hooks, backend):
    for _ in range(5):
        assert hooks.on_publish(conf("on_publish", backend.url("/k")), CTX).ok
    assert len(backend.requests) == 5 and backend.conns == 1


def test_silent_backend_times_out_without_blocking_other_greenlets(hooks, backend):
    backend.routes["/silent"] = Reply(delay=30)
    ticks = [0]

    def ticker() -> None:
        while True:
            gevent.sleep(0.01)
            ticks[0] += 1

    g = gevent.spawn(ticker)
    started = time.monotonic()
    verdict = hooks.on_publish(conf("on_publish", backend.url("/silent"), timeout=0.5), CTX)
    elapsed = time.monotonic() - started
    g.kill()
    assert not verdict.ok and verdict.reason.endswith("timed out after 0.5s"), verdict.reason
    assert 0.45 <= elapsed < 2.0
    assert ticks[0] >= 25  # the hub kept running while the hook waited


def test_connection_refused_rejects_at_once(hooks):
    url = "http://127.0.0.1:%d/api" % free_port()
    started = time.monotonic()
    verdict = hooks.on_connect(conf("on_connect", url), CTX)
    assert time.monotonic() - started < 0.5
    assert verdict.reason == "on_connect %s rejected: connection refused" % url


def test_bad_urls_reject_instead_of_raising(hooks):
    for url in ("ftp://127.0.0.1/x", "http:///nohost", "http://127.0.0.1:99999/x",
                "http://no-such-host.invalid/x"):
        verdict = hooks.on_publish(conf("on_publish", url), CTX)
        assert not verdict.ok and verdict.reason.startswith("on_publish %s rejected: " % url)


def test_backend_restarted_between_calls(hooks):
    first = Backend()
    port = first.port
    try:
        assert hooks.on_publish(conf("on_publish", first.url("/r")), CTX).ok
    finally:
        first.stop()
    second = Backend(port=port)
    try:
        assert hooks.on_publish(conf("on_publish", second.url("/r")), CTX).ok
        assert len(second.requests) == 1
    finally:
        second.stop()


def test_stale_pooled_connection_is_retried_once(hooks, backend):
    # The backend drops the second request of a connection unanswered, as when it closes
    # an idle keep-alive connection just as the hook reuses it.
    backend.routes["/s"] = lambda conn, nth: Reply(drop=(nth == 2))
    assert hooks.on_publish(conf("on_publish", backend.url("/s")), CTX).ok
    assert hooks.on_publish(conf("on_publish", backend.url("/s")), CTX).ok
    assert [r.conn for r in backend.requests] == [1, 1, 2]


def test_fresh_connection_closed_without_answer_is_not_retried(hooks, backend):
    backend.routes["/d"] = Reply(drop=True)
    verdict = hooks.on_publish(conf("on_publish", backend.url("/d")), CTX)
    assert not verdict.ok and "connection closed before a response" in verdict.reason
    assert len(backend.requests) == 1


# ----------------------------------------------------------------------------- HTTPS

@pytest.fixture
def tls_backend():
    ca = trustme.CA()
    ctx = gevent.ssl.SSLContext(gevent.ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    b = Backend(ssl_context=ctx)
    yield b, ca
    b.stop()


def test_https_with_trusted_ca(hooks, tls_backend, tmp_path, monkeypatch):
    b, ca = tls_backend
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    for _ in range(3):
        assert hooks.on_publish(conf("on_publish", b.url("/tls")), CTX).ok
    assert len(b.requests) == 3 and b.conns == 1


def test_https_untrusted_certificate_rejected_unless_verify_off(hooks, tls_backend, tmp_path,
                                                                 monkeypatch):
    b, _ca = tls_backend
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    verdict = hooks.on_publish(conf("on_publish", b.url("/tls")), CTX)
    assert not verdict.ok and "TLS certificate rejected" in verdict.reason, verdict.reason
    assert b.requests == []
    assert hooks.on_publish(conf("on_publish", b.url("/tls"), tls_verify=False), CTX).ok
    assert len(b.requests) == 1


# ----------------------------------------------------------------------------- the background worker

def hls_ctx(seq: int) -> HookContext:
    return HookContext("x42bnd27", "127.0.0.1", "__defaultVhost__", "live", "livestream",
                       "?token=abc", duration=2.0, seq_no=seq, file="live/livestream-%d.ts" % seq)


def test_notifications_return_at_once_and_arrive_in_order(hooks, backend):
    backend.routes["/slow"] = Reply(delay=0.2)
    started = time.monotonic()
    hooks.on_hls(conf("on_hls", backend.url("/slow")), hls_ctx(0))
    hooks.on_hls(conf("on_hls", backend.url("/slow")), hls_ctx(1))
    hooks.on_dvr(conf("on_dvr", backend.url("/slow")), CTX)
    assert time.monotonic() - started < 0.1 and backend.requests == []
    assert hooks.drain(5.0)
    assert time.monotonic() - started >= 0.55
    bodies = [json.loads(r.body) for r in backend.requests]
    assert [(b["action"], b.get("seq_no")) for b in bodies] == [
        ("on_hls", 0), ("on_hls", 1), ("on_dvr", None)]


def test_drain_returns_after_timeout_when_backend_hangs(hooks, backend, hook_log):
    backend.routes["/hang"] = Reply(delay=30)
    hooks.on_dvr(conf("on_dvr", backend.url("/hang"), timeout=5.0), CTX)
    started = time.monotonic()
    assert not hooks.drain(0.3)
    assert 0.25 <= time.monotonic() - started < 1.5
    assert any("still pending" in line for line in hook_log)


def test_hls_notify_template_all_urls_and_read_limit(hooks, backend, hook_log):
    backend.routes["/n/srv1/svc1/live/livestream/livestream-0.ts"] = Reply(200, b"x" * 1_000_000)
    refused = "http://127.0.0.1:%d/[app]" % free_port()
    c = conf("on_hls_notify", refused,
             backend.url("/n/[server_id]/[service_id]/[app]/[stream]/[ts_url][param]"),
             backend.url("/second/[stream]"))
    started = time.monotonic()
    hooks.on_hls_notify(c, hls_ctx(0), "livestream-0.ts", 10)
    assert time.monotonic() - started < 0.1
    hooks.flush(5.0)
    assert backend.paths() == ["/n/srv1/svc1/live/livestream/livestream-0.ts?token=abc",
                               "/second/livestream"]
    req = backend.requests[0]
    assert req.method == "GET" and req.body == b""
    assert ("User-Agent", SIGNATURE) in req.headers
    assert any("read 10 bytes" in line for line in hook_log), hook_log
    assert any("on_hls_notify http://127.0.0.1" in line and "connection refused" in line
               for line in hook_log)


def test_hls_notify_absolute_ts_url_is_fetched_itself(hooks, backend):
    c = conf("on_hls_notify", backend.url("/a/[ts_url]"), backend.url("/b/[ts_url]"))
    hooks.on_hls_notify(c, hls_ctx(0), backend.url("/cdn/live/pfx-0.ts"), 64)
    hooks.flush(5.0)
    assert backend.paths() == ["/cdn/live/pfx-0.ts", "/cdn/live/pfx-0.ts"]


def test_worker_full_queue_drops_new_task_loudly(hook_log):
    worker = AsyncCallWorker("test-worker", maxsize=2)
    done: list[int] = []
    try:
        assert worker.submit(lambda: done.append(1), "task-1")
        assert worker.submit(lambda: done.append(2), "task-2")
        assert not worker.submit(lambda: done.append(3), "task-3")
        assert worker.flush(1.0)
        assert done == [1, 2]
        assert any("dropped task-3" in line for line in hook_log)
    finally:
        worker.stop()
