"""LiveSource and Consumer without sockets: GOP cache, sequence headers, shrink, markers, rebasing."""
from srsish.app.live.consumer import _CHECK_EVERY, Consumer, StreamMarker
from srsish.app.live.gop_cache import GopCache
from srsish.app.live.source import LiveSource, SourceRegistry
from srsish.kernel.message import SharedMessage

AVC_SH = b"\x17\x00" + bytes(10)
AAC_SH = b"\xaf\x00\x12\x10"
KEY = b"\x17\x01" + bytes(20)
INTER = b"\x27\x01" + bytes(20)
AUDIO = b"\xaf\x01" + bytes(20)


def publish_gop(src, start_ts, frames=5):
    src.on_media(9, start_ts, KEY)
    for i in range(1, frames):
        src.on_media(8, start_ts + i * 40 - 5, AUDIO)
        src.on_media(9, start_ts + i * 40, INTER)


def kinds(items):
    out = []
    for m in items:
        if isinstance(m, StreamMarker):
            out.append(m.kind)
        elif m.is_sequence_header:
            out.append("vsh" if m.is_video else "ash")
        elif m.is_video:
            out.append("key" if m.is_keyframe else "inter")
        elif m.is_audio:
            out.append("audio")
        else:
            out.append("meta")
    return out


def test_new_player_gets_meta_headers_then_gop_from_last_keyframe():
    src = LiveSource("__defaultVhost__", "live", "s")
    src.on_publish(object())
    src.on_metadata([{"width": 320.0}], 0)
    src.on_media(9, 0, AVC_SH)
    src.on_media(8, 0, AAC_SH)
    publish_gop(src, 0)
    publish_gop(src, 1000)
    c = src.create_consumer(30000)
    got = kinds(c.fetch())
    assert got[:3] == ["meta", "ash", "vsh"]
    assert got[3] == "key" and got.count("key") == 1  # only the last GOP
    assert c.base == src.gop.messages[0].timestamp


def test_metadata_gets_server_signature():
    src = LiveSource("v", "live", "s")
    msg = src.on_metadata(["onMetaData", {"width": 320.0}], 0)
    assert b"srsish" in msg.payload and b"server_version" in msg.payload


def test_gop_cache_off_and_max_frames():
    g = GopCache(enabled=False)
    g.cache(SharedMessage(9, 0, KEY))
    assert g.messages == []
    g = GopCache(max_frames=3)
    for ts in range(5):
        g.cache(SharedMessage(9, ts, KEY if ts == 0 else INTER))
    assert g.messages == []  # cleared once past the bound


def test_gop_cache_never_starts_on_delta_frame_and_drops_pure_audio():
    g = GopCache()
    g.cache(SharedMessage(9, 0, INTER))
    assert g.messages == []
    g.cache(SharedMessage(9, 0, KEY))
    for i in range(200):
        g.cache(SharedMessage(8, i, AUDIO))
    assert g.messages == []


def test_consumer_shrinks_whole_gops_and_keeps_sequence_headers():
    c = Consumer(queue_length_ms=1000)
    c.enqueue(SharedMessage(9, 0, AVC_SH))
    for ts in range(0, 5000, 40):
        c.enqueue(SharedMessage(9, ts, KEY if ts % 2000 == 0 else INTER))
    got = c.fetch()
    assert kinds(got)[0] == "vsh"
    assert kinds(got)[1] == "key"       # restarts on a keyframe
    assert got[-1].timestamp - got[1].timestamp <= 1000 + 2000  # bounded: at most one GOP past the limit
    assert c.dropped > 0


def test_consumer_waits_for_keyframe_after_dropping_everything():
    c = Consumer(queue_length_ms=100)
    c.enqueue(SharedMessage(9, 0, KEY))
    for ts in range(40, 4000, 40):
        c.enqueue(SharedMessage(9, ts, INTER))
    assert "inter" not in kinds(c.fetch())[-3:] or c.dropped > 0
    c.enqueue(SharedMessage(9, 4040, INTER))
    assert not c.queue          # still waiting for a keyframe
    c.enqueue(SharedMessage(9, 4080, KEY))
    assert kinds(c.queue) == ["key"]


def test_an_audio_only_player_cut_back_keeps_its_newest_audio_and_goes_on():
    c = Consumer(queue_length_ms=1000)
    c.enqueue(SharedMessage(8, 0, AAC_SH))
    for ts in range(0, 5000, 23):
        c.enqueue(SharedMessage(8, ts, AUDIO))
    got = c.fetch()
    assert kinds(got)[0] == "ash" and c.dropped > 0
    assert got[-1].timestamp == 4991
    # the newest second, not nothing (checked every _CHECK_EVERY messages, so up to that many more)
    assert 0 < got[-1].timestamp - got[1].timestamp <= 1000 + _CHECK_EVERY * 23
    c.enqueue(SharedMessage(8, 5000, AUDIO))
    assert kinds(c.queue) == ["audio"]                          # no video keyframe to wait for


def test_markers_and_rebase():
    src = LiveSource("v", "live", "s")
    c = src.create_consumer(30000)
    src.on_publish(object())
    src.on_media(9, 5000, KEY)
    src.on_unpublish()
    assert kinds(c.fetch()) == ["publish", "key", "unpublish"]
    assert c.relative_timestamp(0) == 0 and c.relative_timestamp(40) == 40
    c2 = Consumer(1000)
    assert c2.relative_timestamp(7000) == 0 and c2.relative_timestamp(7040) == 40
    c3 = Consumer(1000, rebase=False)
    assert c3.relative_timestamp(7000) == 7000


def test_full_jitter_keeps_timestamps_monotonic_across_a_republish():
    src = LiveSource("v", "live", "s")
    src.on_publish(object())
    publish_gop(src, 100000)
    last = src.gop.messages[-1].timestamp
    src.on_unpublish()
    src.on_publish(object())
    first_again = src.on_media(9, 0, KEY).timestamp
    assert first_again > last


def test_source_registry_releases_idle_sources_only():
    m = SourceRegistry()
    s = m.fetch_or_create("v", "live", "a")
    c = s.create_consumer(1000)
    m.release_if_idle(s)
    assert m.fetch_or_create("v", "live", "a") is s
    s.destroy_consumer(c)
    m.release_if_idle(s)
    assert m.fetch_or_create("v", "live", "a") is not s


def test_source_registry_lookups():
    reg = SourceRegistry()
    s = reg.fetch_or_create("v", "live", "a")
    assert reg.get("v", "live", "a") is s and reg.get("v", "live", "b") is None
    assert reg.publishing("v", "live", "a") is None   # exists, nobody publishes yet
    s.on_publish(object())
    assert reg.publishing("v", "live", "a") is s
    assert list(reg) == [s] and len(reg) == 1
