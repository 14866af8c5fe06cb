"""The exporter's counters without a server: hook deliveries by action and outcome (against a real local HTTP
backend) and slow players (a Consumer's shrink, a QueueWriter's send timeout over a socketpair)."""
import gevent
import pytest
from gevent import socket

from srsish.app.hooks.delivery_counts import DeliveryCounts
from srsish.app.live import writer as writer_module
from srsish.app.live.consumer import Consumer
from srsish.app.live.drops import PlayerDrops
from srsish.kernel.message import SharedMessage

from helpers.hook_backend import Reply
from test_hook_outbox import ctx
from test_http_hooks import conf, free_port
from test_writer import RawWriter

KEY = b"\x17\x01" + bytes(20)
INTER = b"\x27\x01" + bytes(20)


def test_delivery_counts_start_every_outcome_of_the_kind_at_zero():
    counts = DeliveryCounts()
    counts.gate("on_publish", "refused")
    counts.notify("lal:on_pub_start", "failed")
    counts.notify("lal:on_pub_start", "delivered")
    assert list(counts) == [
        ("lal:on_pub_start", "delivered", 1), ("lal:on_pub_start", "retried", 0),
        ("lal:on_pub_start", "failed", 1), ("lal:on_pub_start", "expired", 0),
        ("on_publish", "accepted", 0), ("on_publish", "refused", 1), ("on_publish", "failed", 0)]
    assert counts.get("on_play", "accepted") == 0
    with pytest.raises(ValueError):
        counts.gate("on_play", "expired")       # a gating hook is never queued, so never expires


def test_gating_hooks_count_accepted_refused_and_failed_by_action(hooks, backend):
    backend.routes["/no"] = Reply(200, b'{"code":1}')
    assert hooks.on_connect(conf("on_connect", backend.url("/yes")), ctx("c")).ok
    assert not hooks.on_publish(conf("on_publish", backend.url("/no")), ctx("c")).ok
    assert not hooks.on_play(conf("on_play", "http://127.0.0.1:%d/down" % free_port()), ctx("c")).ok
    d = hooks.deliveries
    assert (d.get("on_connect", "accepted"), d.get("on_publish", "refused"), d.get("on_play", "failed")) == (1, 1, 1)
    assert d.get("on_publish", "accepted") == d.get("on_connect", "refused") == 0


def test_notifications_count_delivered_retried_failed_and_expired_by_action(hooks, backend):
    answers = iter([Reply(500, b"0")])
    backend.routes["/flaky"] = lambda conn, nth: next(answers, Reply())
    hooks.on_close(conf("on_close", backend.url("/flaky"), retry_max_delay=0.1), ctx("a"))
    hooks.on_dvr(conf("on_dvr", "http://127.0.0.1:%d/down" % free_port(), retry_max_delay=0.1,
                      retry_window=0.4), ctx("a"))
    assert hooks.drain(5)
    d = hooks.deliveries
    assert [(o, d.get("on_close", o)) for o in ("delivered", "retried", "failed", "expired")] == \
        [("delivered", 1), ("retried", 1), ("failed", 1), ("expired", 0)]
    assert d.get("on_dvr", "expired") == 1 and d.get("on_dvr", "failed") >= 1 and d.get("on_dvr", "delivered") == 0
    url_stats = hooks.outbox.stats()[backend.url("/flaky")]     # the per-URL view (the API's) is unchanged
    assert (url_stats["delivered"], url_stats["retried"], url_stats["failed"]) == (1, 1, 1)


def test_a_players_shrinks_count_the_player_once_and_every_message_cut():
    drops = PlayerDrops()
    c = Consumer(queue_length_ms=1000)
    c.drops = drops
    for ts in range(0, 10000, 40):
        c.enqueue(SharedMessage(9, ts, KEY if ts % 2000 == 0 else INTER))
    assert c.dropped > 0 and drops.messages == c.dropped
    assert drops.players == {"shrink": 1, "send_timeout": 0}
    other = Consumer(queue_length_ms=1000)       # not a player's queue (a forward's): counts nothing
    for ts in range(0, 10000, 40):
        other.enqueue(SharedMessage(9, ts, KEY if ts % 2000 == 0 else INTER))
    assert other.dropped > 0 and drops.players["shrink"] == 1 and drops.messages == c.dropped


def test_a_player_that_takes_no_bytes_is_counted_when_cut_off(monkeypatch):
    monkeypatch.setattr(writer_module, "SEND_TIMEOUT", 0.3)
    a, b = socket.socketpair()          # b never reads
    drops = PlayerDrops()
    c = Consumer(30000)
    c.drops = drops
    c.enqueue(SharedMessage(9, 0, KEY + bytes(8 << 20)))
    w = RawWriter(a, c, mw_latency_ms=0)
    g = gevent.spawn(w.run)
    g.join(timeout=5)
    assert isinstance(w.error, writer_module.SendTimeout)
    assert drops.players == {"shrink": 0, "send_timeout": 1}
    with pytest.raises(ValueError):
        drops.cut_off("bored")
    a.close()
    b.close()
