"""Consumers that keep up read the source's MediaLog in place; anything of their own detaches them."""
import gevent

from srsish.app.live.consumer import PUBLISH
from srsish.app.live.media_log import TRIM_EVERY
from srsish.app.live.source import LiveSource

AVC_SH = b"\x17\x00" + bytes(10)
KEY = b"\x17\x01" + bytes(20)
INTER = b"\x27\x01" + bytes(20)


def live_source():
    src = LiveSource("v", "live", "s")
    src.configure({"gop_cache": False, "gop_cache_max_frames": 2500, "time_jitter": "full"})
    src.on_publish(object())
    return src


def test_a_follower_costs_the_publisher_nothing_and_fetches_a_slice():
    src = live_source()
    c = src.create_consumer(30000)
    assert c.cursor is not None and not src.log.detached
    sent = [src.on_media(9, ts, KEY if ts == 0 else INTER) for ts in range(0, 200, 40)]
    assert not c.queue and c.pending() == 5       # nothing was appended to the consumer itself
    assert c.fetch() == sent and c.pending() == 0
    assert c.fetch() == []


def test_own_items_detach_in_order_and_the_consumer_follows_again_once_drained():
    src = live_source()
    c = src.create_consumer(30000)
    a = src.on_media(9, 0, KEY)
    c.enqueue_item(b"control")                    # e.g. an RTMP answer: after what it had not read yet
    b = src.on_media(9, 40, INTER)                # detached: the source queues for it
    assert c.cursor is None and c in src.log.detached
    assert c.fetch() == [a, b"control", b]
    assert c.cursor == src.log.end and c not in src.log.detached
    src.on_unpublish()
    src.on_publish(object())
    assert [getattr(i, "kind", i) for i in c.fetch()] == ["unpublish", "publish"]


def test_a_new_player_gets_its_burst_first_then_follows():
    src = live_source()
    src.on_media(9, 0, AVC_SH)
    c = src.create_consumer(30000)
    assert c in src.log.detached
    assert [m.is_sequence_header for m in c.fetch()] == [True]
    m = src.on_media(9, 40, KEY)
    assert c.cursor is not None and c.fetch() == [m]


def test_the_log_keeps_only_what_the_slowest_follower_has_not_read():
    src = live_source()
    fast, slow = src.create_consumer(30000), src.create_consumer(30000)
    for i in range(TRIM_EVERY):
        src.on_media(9, i * 10, KEY if i == 0 else INTER)
        fast.fetch()
    assert src.log.start == 0                     # the slow one has read nothing yet
    assert len(slow.fetch()) == TRIM_EVERY
    for i in range(TRIM_EVERY, 2 * TRIM_EVERY):
        src.on_media(9, i * 10, INTER)
    assert src.log.start == TRIM_EVERY and slow.pending() == TRIM_EVERY


def test_a_follower_that_fell_behind_restarts_on_a_keyframe_with_its_headers():
    src = live_source()
    src.on_media(9, 0, AVC_SH)
    c = src.create_consumer(1000)
    c.fetch()                                     # the burst; now it follows
    sh = src.on_media(9, 0, AVC_SH)
    for ts in range(0, 5000, 40):
        src.on_media(9, ts, KEY if ts % 2000 == 0 else INTER)
    got = c.fetch()
    assert got[0] is sh and got[1].is_keyframe and got[1].timestamp == 4000
    assert c.dropped > 0


def test_destroyed_consumers_are_forgotten_and_a_waiting_follower_is_woken():
    src = live_source()
    gone = src.create_consumer(30000)
    gone.enqueue_item(PUBLISH)
    src.destroy_consumer(gone)
    assert not src.log.detached
    c = src.create_consumer(30000)
    waiter = gevent.spawn(c.wait)
    gevent.sleep(0)
    assert not waiter.dead
    src.on_media(9, 0, KEY)
    waiter.join(timeout=1)
    assert waiter.dead
