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
    assert got[0] is sh and got[1].is_keyframe             # restarts on a keyframe, headers kept
    assert got[-1].timestamp - got[1].timestamp <= 1000 + 2000 and c.dropped > 0


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


def play_writer(src, chunk_size=128):
    from srsish.app.rtmp.player import PlayWriter
    from srsish.protocol.rtmp.media import MediaChunker
    c = src.create_consumer(30000)
    chunker = MediaChunker(chunk_size, 1, c.relative_timestamp, {})
    return PlayWriter(None, c, chunker, 350, 0, lambda n: None)


def encode_next(w):
    items = w.consumer.fetch()
    w.span = w.consumer.span
    return items, w.encode(items)


def test_followers_with_one_view_send_the_same_rendered_bytes():
    from srsish.protocol.rtmp.chunk import ChunkDecoder
    src = live_source()
    a, b, other_size = play_writer(src), play_writer(src), play_writer(src, 4096)
    sent = [src.on_media(9, 1000, KEY + bytes(300)), src.on_media(9, 1040, INTER)]
    items_a, out_a = encode_next(a)
    _, out_b = encode_next(b)
    _, out_other = encode_next(other_size)
    assert items_a == sent and a.span == (0, 2)
    assert len(out_a) == 1 and out_b[0] is out_a[0]
    assert out_other[0] is not out_a[0] and out_other[0] != out_a[0]   # another chunk size, other bytes
    dec = ChunkDecoder()
    dec.chunk_size = 128
    dec.feed(b"".join(out_a))
    got = [dec.next_message() for _ in sent]
    assert [(m.timestamp, m.payload) for m in got] == [(0, sent[0].payload), (40, sent[1].payload)]


def test_a_view_renders_each_message_once_into_pages_and_follows_the_log_trim():
    src = live_source()
    calls = []
    view = src.log.view("k", lambda key: lambda m: calls.append(m) or (b"h", m.payload))
    msgs = [src.on_media(9, i, KEY if i == 0 else INTER) for i in range(3)]
    first = view.slice(0, 2)
    assert first == [b"h" + KEY + b"h" + INTER] and type(first[0]) is bytes   # one page, one buffer
    assert view.slice(0, 2)[0] is first[0]                                     # the same span: the same page
    later = view.slice(1, 3)                   # inside the first page, then a new one
    assert [bytes(b) for b in later] == [b"h" + INTER, b"h" + INTER] and calls == msgs
    src.log.trim(2)
    assert [bytes(b) for b in view.slice(2, 3)] == [b"h" + INTER] and view.start == 2 and len(view.pages) == 1
    src.log.trim(3)
    assert "k" not in src.log.views            # nobody had asked for anything past the trim


def test_a_view_knows_the_size_of_a_slice():
    src = live_source()
    view = src.log.view("k", lambda key: lambda m: (b"hdr", m.payload, b"t"))
    for i in range(4):
        src.on_media(9, i, KEY if i == 0 else INTER)
    for span in [(0, 2), (1, 4), (3, 4), (2, 2)]:
        buffers = view.slice(*span)
        assert view.size(*span) == sum(map(len, buffers))
    src.log.trim(2)
    buffers = view.slice(2, 4)
    assert view.size(2, 4) == sum(map(len, buffers)) == 2 * (3 + len(INTER) + 1)
    assert b"".join(buffers) == (b"hdr" + INTER + b"t") * 2


def test_followers_resting_on_one_ticker_wake_together_and_send_one_shared_page():
    src = live_source()
    a, b = play_writer(src), play_writer(src)
    for w in (a, b):
        gevent.spawn(w.consumer.rest, 0.05)
    gevent.sleep(0)
    ticker = src.log.tickers[0.05]
    assert set(ticker.resting) == {a.consumer, b.consumer}
    sent = [src.on_media(9, 1000, KEY + bytes(300)), src.on_media(9, 1040, INTER)]
    assert not a.consumer.wakeup.is_set()      # appends do not end a rest
    gevent.sleep(0.1)
    assert a.consumer.wakeup.is_set() and b.consumer.wakeup.is_set() and not ticker.resting
    (_, out_a), (_, out_b) = encode_next(a), encode_next(b)
    assert len(out_a) == 1 and out_b[0] is out_a[0]          # one buffer, the same object for both
    assert len(out_a[0]) == sum(len(m.payload) for m in sent) + 2 * 12 + 2   # headers + two fmt-3 chunk headers
    gevent.sleep(0.1)
    assert ticker._greenlet is None            # nobody rests: the ticker stopped


def test_a_control_answer_ends_a_rest_early_and_a_close_forgets_the_rester():
    src = live_source()
    w = play_writer(src)
    c = w.consumer
    resting = gevent.spawn(c.rest, 5)
    gevent.sleep(0)
    c.enqueue_item(b"pong")
    resting.join(timeout=1)
    assert resting.dead and c.fetch() == [b"pong"]
    resting = gevent.spawn(c.rest, 5)
    gevent.sleep(0)
    src.destroy_consumer(c)
    resting.join(timeout=1)
    assert resting.dead and not src.log.tickers[5].resting


def test_a_stalled_follower_is_detached_and_cut_back_while_it_sends_nothing():
    src = live_source()
    c = src.create_consumer(1000)
    reading = src.create_consumer(1000)
    for ts in range(0, 5000, 40):                 # c never fetches: its writer is stuck in a send
        src.on_media(9, ts, KEY if ts % 2000 == 0 else INTER)
        reading.fetch()
    assert c.cursor is None and c in src.log.detached and c.dropped > 0
    assert len(src.log.items) < TRIM_EVERY        # the log no longer keeps what c had not read
    got = c.fetch()
    assert got[0].is_keyframe and got[-1].timestamp - got[0].timestamp <= 1000 + 2000
    assert [m.timestamp for m in got] == sorted({m.timestamp for m in got})   # each message once
    assert c.cursor is not None                   # drained: it follows the log again


def test_a_player_that_left_is_not_kept_alive_by_the_log():
    import gc
    import weakref
    src = live_source()
    w = play_writer(src)
    src.on_media(9, 0, KEY)
    encode_next(w)                       # its view now exists in the log
    c = w.consumer
    waiter = gevent.spawn(c.wait)        # and it sleeps among the log's waiting followers
    gevent.sleep(0)
    assert c in src.log.waiting and src.log.views
    src.destroy_consumer(c)
    waiter.join(timeout=1)
    refs = weakref.ref(w), weakref.ref(c)
    del w, c, waiter
    gc.collect()
    assert refs[0]() is None and refs[1]() is None
    assert not src.log.waiting and src.log.views    # the view stays for the next player with its key
