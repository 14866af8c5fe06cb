"""The hook outbox: signed and identified requests, per-client order, durability across restarts, expiry,
and a database that is corrupt or cannot be opened. Real local HTTP backends (test_http_hooks.Backend)."""
import json
import os
import time

import pytest

from srsish.app.hooks import signing
from srsish.app.hooks.http_hooks import HookContext, HttpHooks
from srsish.app.hooks.outbox import OutboxError, open_database
from srsish.app.hooks.sender import backoff

from helpers.hook_backend import Backend, Reply

from test_http_hooks import conf, free_port


def ctx(client_id: str, stream: str = "s") -> HookContext:
    return HookContext(client_id=client_id, ip="127.0.0.1", vhost="__defaultVhost__", app="live", stream=stream)


def test_backoff_doubles_to_the_cap_with_jitter():
    assert [backoff(n, 60, rng=lambda: 1.0) for n in (1, 2, 3, 7, 8, 30)] == [1, 2, 4, 60, 60, 60]
    assert backoff(3, 60, rng=lambda: 0.0) == 2.0          # jitter takes at most half away
    assert backoff(50, 2.0, rng=lambda: 0.5) == 1.5


def test_signature_verifies_over_timestamp_and_exact_body(hooks, backend):
    secret = "s3cr3t-key"
    assert hooks.on_connect(conf("on_connect", backend.url("/c"), secret=secret), ctx("c1")).ok
    hooks.on_close(conf("on_close", backend.url("/c"), secret=secret), ctx("c1"))
    assert hooks.drain(5)
    for req in backend.requests:
        h = dict(req.headers)
        sig = h["X-Srsish-Signature"]
        assert sig.startswith("sha256=") and len(sig) == 7 + 64
        assert signing.verify(secret, h["X-Srsish-Timestamp"], req.body, sig, now=time.time())
        assert not signing.verify("other", h["X-Srsish-Timestamp"], req.body, sig, now=time.time())
        assert not signing.verify(secret, h["X-Srsish-Timestamp"], req.body + b" ", sig, now=time.time())
        assert not signing.verify(secret, h["X-Srsish-Timestamp"], req.body, sig, now=time.time() + 600)
    assert secret not in json.dumps([r.body.decode() for r in backend.requests])


def _script_first_of(backend, client, action, times, reply):
    """Answer `reply` to the first `times` requests of (client, action); everything else is accepted."""
    left = {"n": times}

    def route(conn, nth):
        body = json.loads(backend.requests[-1].body)
        if body["client_id"] == client and body["action"] == action and left["n"] > 0:
            left["n"] -= 1
            return reply
        return Reply()
    return route


def _seen(backend):
    return [(json.loads(r.body)["client_id"], json.loads(r.body)["action"], r.target) for r in backend.requests]


def test_one_clients_events_keep_their_order_while_its_backend_does_not_answer(hooks, backend):
    # A's first event gets no answer twice (the connection drops): A's next event, to another path of the
    # same backend, waits for it; B's events are not held.
    backend.routes["/h"] = _script_first_of(backend, "A", "on_stop", 2, Reply(drop=True))
    c = conf("on_stop", backend.url("/h"), retry_max_delay=0.3)
    c["on_close"] = [backend.url("/other")]
    hooks.on_stop(c, ctx("A"))
    hooks.on_close(c, ctx("A"))
    hooks.on_stop(c, ctx("B"))
    assert hooks.drain(5)
    seen = _seen(backend)
    assert seen.index(("B", "on_stop", "/h")) < seen.index(("A", "on_close", "/other"))
    assert [s for s in seen if s[0] == "A"] == [("A", "on_stop", "/h")] * 3 + [("A", "on_close", "/other")]


def test_an_event_a_url_refuses_does_not_hold_the_clients_other_urls(hooks, backend):
    backend.routes["/h"] = _script_first_of(backend, "A", "on_stop", 2, Reply(200, b'{"code":1}'))
    c = conf("on_stop", backend.url("/h"), retry_max_delay=0.3)
    c["on_close"] = [backend.url("/other")]
    hooks.on_stop(c, ctx("A"))
    hooks.on_close(c, ctx("A"))
    assert hooks.drain(5)
    seen = _seen(backend)
    assert seen.index(("A", "on_close", "/other")) < len(seen) - 1      # it did not wait for the retries
    assert seen.count(("A", "on_stop", "/h")) == 3 and seen.count(("A", "on_close", "/other")) == 1


def test_pending_events_survive_a_restart_and_keep_their_id(tmp_path):
    path = str(tmp_path / "hooks.db")
    port = free_port()
    url = "http://127.0.0.1:%d/api/v1/streams" % port
    first = HttpHooks("srv1", "svc1", db=open_database(path))
    first.on_unpublish(conf("on_unpublish", url, retry_max_delay=0.2), ctx("pub1"))
    assert not first.drain(0.5)                     # nobody listens yet
    first.close()
    assert os.path.exists(path)

    backend = Backend(port=port)
    second = HttpHooks("srv1", "svc1", db=open_database(path))
    try:
        assert second.start(lambda vhost: None) == 1
        assert second.drain(5)
        (req,) = backend.requests
        h = dict(req.headers)
        assert int(h["X-Srsish-Attempt"]) >= 2 and json.loads(req.body)["action"] == "on_unpublish"
        stats = second.outbox.stats()[url]
        assert stats["pending"] == 0 and stats["delivered"] == 1 and stats["retried"] == 1
    finally:
        second.close()
        backend.stop()


def test_an_event_past_its_retry_window_expires_loudly(hooks, hook_log):
    url = "http://127.0.0.1:%d/gone" % free_port()
    hooks.on_dvr(conf("on_dvr", url, retry_max_delay=0.1, retry_window=0.4), ctx("p"))
    deadline = time.monotonic() + 5
    while hooks.outbox.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    import gevent
    gevent.sleep(0)
    assert hooks.outbox.pending() == 0
    assert hooks.outbox.stats()[url]["expired"] == 1
    assert any("expired" in line and "on_dvr" in line for line in hook_log)


def test_corrupt_database_is_moved_aside_and_a_fresh_one_used(tmp_path, hook_log):
    import logging
    path = tmp_path / "hooks.db"
    path.write_bytes(b"this is not a database" * 100)
    db = open_database(str(path), logging.getLogger("srsish"))
    assert db.execute("SELECT count(*) FROM deliveries").fetchone() == (0,)
    aside = [p for p in os.listdir(tmp_path) if ".corrupt-" in p]
    assert aside and (tmp_path / aside[0]).read_bytes().startswith(b"this is not")
    assert any("corrupt" in line for line in hook_log)


def test_a_path_that_cannot_be_opened_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutboxError) as e:
        open_database(str(blocker / "sub" / "hooks.db"))
    assert str(blocker) in str(e.value)


def test_sessions_left_open_by_a_crash_get_their_closing_hooks_once(tmp_path, backend):
    path = str(tmp_path / "hooks.db")
    c = conf("on_connect", backend.url("/clients"))
    c.update(on_publish=[backend.url("/streams")], on_play=[backend.url("/sessions")],
             on_close=[backend.url("/clients")], on_unpublish=[backend.url("/streams")],
             on_stop=[backend.url("/sessions")])
    crashed = HttpHooks("srv1", "svc1", db=open_database(path))
    pub, player, gone = ctx("pub1", "cam"), ctx("play1", "cam"), ctx("left1", "cam")
    for who, gate in ((pub, crashed.on_publish), (player, crashed.on_play), (gone, crashed.on_play)):
        assert crashed.on_connect(c, who).ok and gate(c, who).ok
    crashed.on_stop(c, gone)            # this one ended cleanly before the crash
    crashed.on_close(c, gone)
    crashed.update_bytes([("pub1", 10, 123456), ("play1", 654321, 20)])
    assert crashed.drain(5)
    backend.requests.clear()
    crashed.sender.stop()               # the process dies: nothing more is sent, the database stays

    after = HttpHooks("srv1", "svc1", db=open_database(path))
    try:
        after.start(lambda vhost: c if vhost == "__defaultVhost__" else None)
        assert after.drain(5)
        got = [(json.loads(r.body)["action"], json.loads(r.body)["client_id"], dict(r.headers)) for r in backend.requests]
        assert sorted((a, cid) for a, cid, _ in got) == sorted([
            ("on_unpublish", "pub1"), ("on_close", "pub1"), ("on_stop", "play1"), ("on_close", "play1")])
        assert all(h.get("X-Srsish-Recovered") == "1" for _, _, h in got)
        for cid in ("pub1", "play1"):       # per client: the stream's hook before the connection's
            mine = [a for a, who, _ in got if who == cid]
            assert mine[-1] == "on_close"
        closes = {json.loads(r.body)["client_id"]: json.loads(r.body) for r in backend.requests
                  if json.loads(r.body)["action"] == "on_close"}
        assert closes["pub1"]["recv_bytes"] == 123456 and closes["play1"]["send_bytes"] == 654321
        assert after.journal.left_open() == []
    finally:
        after.close()
    again = HttpHooks("srv1", "svc1", db=open_database(path))   # a second start owes nothing more
    try:
        assert again.recover(lambda vhost: c) == 0
    finally:
        again.close()
