"""MediaChunker: a player's media bytes parsed back by ChunkDecoder, and the shared chunk tail cache."""
import pytest

from srsish.kernel.message import MAX_RENDERINGS, SharedMessage
from srsish.protocol.rtmp.chunk import ChunkDecoder
from srsish.protocol.rtmp.connection import CSID_AUDIO, CSID_OVER_STREAM, CSID_VIDEO
from srsish.protocol.rtmp.media import MediaChunker, media_csid

MARK = object()


def batch():
    return [SharedMessage(18, 0, b"\x02\x00\x0aonMetaData" + bytes(40)),
            SharedMessage(8, 0, b"\xaf\x00\x12\x10"),
            SharedMessage(9, 0, b"\x17\x00\x00\x00\x00" + bytes(range(256)) * 3),
            SharedMessage(9, 40, b"\x17\x01\x00\x00\x00" + bytes(70000)),
            SharedMessage(8, 23, b"\xaf\x01" + bytes(300))]


def parse(buffers, chunk_size):
    decoder = ChunkDecoder()
    decoder.chunk_size = chunk_size
    decoder.feed(b"".join(buffers))
    out = []
    while (m := decoder.next_message()) is not None:
        out.append(m)
    assert decoder.buffered == 0
    return out


@pytest.mark.parametrize("chunk_size", [128, 60000])
def test_round_trip_through_chunk_decoder(chunk_size):
    msgs = batch()
    chunker = MediaChunker(chunk_size, 1, lambda ts: ts + 1000, {})
    parsed = parse(chunker.encode(msgs), chunk_size)
    assert [(m.csid, m.type_id, m.timestamp, m.stream_id, m.payload) for m in parsed] == \
        [(media_csid(m), m.type_id, m.timestamp + 1000, 1, m.payload) for m in msgs]
    assert [m.csid for m in parsed] == [CSID_OVER_STREAM, CSID_AUDIO, CSID_VIDEO, CSID_VIDEO, CSID_AUDIO]


def test_wire_chunk_stream_ids_are_unchanged():
    # Players have been receiving video on 6, audio on 4 and data on 5: keep the wire as it was.
    assert (CSID_VIDEO, CSID_AUDIO, CSID_OVER_STREAM) == (6, 4, 5)


def test_golden_bytes_of_a_two_chunk_message():
    msg = SharedMessage(9, 0x010203, b"\x17\x01" + bytes(126) + b"\xee\xff")
    out = MediaChunker(128, 1, lambda ts: ts, {}).encode([msg])
    assert b"".join(out) == bytes.fromhex("06 010203 000082 09 01000000") + msg.payload[:128] + \
        b"\xc6" + b"\xee\xff"


def test_extended_timestamps_repeat_after_every_fmt3_header():
    ts = 0x1234567
    msg = SharedMessage(9, ts, b"\x27\x01" + bytes(298))
    out = b"".join(MediaChunker(128, 1, lambda t: t, {}).encode([msg]))
    ext = ts.to_bytes(4, "big")
    assert out[:16] == bytes.fromhex("06 ffffff 00012c 09 01000000") + ext
    assert out[16 + 128:16 + 128 + 5] == b"\xc6" + ext
    (parsed,) = parse([out], 128)
    assert (parsed.timestamp, parsed.payload) == (ts, msg.payload)


def test_tail_is_built_once_per_chunk_size_and_shared_by_players():
    msg = SharedMessage(9, 0, b"\x17\x01" + bytes(1000))
    a = MediaChunker(128, 1, lambda ts: ts, {}).encode([msg])
    b = MediaChunker(128, 1, lambda ts: ts + 5, {}).encode([msg])
    c = MediaChunker(4096, 1, lambda ts: ts, {}).encode([msg])
    assert a[1] is b[1] and a[0] != b[0]
    assert c[1] is msg.payload and len(msg.cache) == 1


def test_extended_timestamp_tails_are_cached_per_timestamp():
    msg = SharedMessage(9, 0, b"\x17\x01" + bytes(1000))
    early = MediaChunker(128, 1, lambda ts: 0x1000000, {}).encode([msg])
    late = MediaChunker(128, 1, lambda ts: 0x1000001, {}).encode([msg])
    assert early[1] != late[1]
    assert parse(late, 128)[0].timestamp == 0x1000001


def test_bytes_pass_through_and_prerendered_items_are_looked_up():
    out = MediaChunker(128, 1, lambda ts: ts, {MARK: b"marker"}).encode([b"reply", b"", MARK])
    assert out == [b"reply", b"marker"]


def test_players_at_the_same_timestamp_share_the_whole_rendering():
    msgs = batch()
    a = MediaChunker(128, 1, lambda ts: ts, {}).encode(msgs)
    b = MediaChunker(128, 1, lambda ts: ts, {}).encode(msgs)
    later = MediaChunker(128, 1, lambda ts: ts + 7, {}).encode(msgs)
    other_stream = MediaChunker(128, 2, lambda ts: ts, {}).encode(msgs)
    assert all(x is y for x, y in zip(a, b))                  # headers too: one build for both players
    assert later[0] is not a[0] and later[1] is a[1]          # its own header, the shared tail
    assert other_stream[0] != a[0]
    assert [m.timestamp for m in parse(later, 128)] == [m.timestamp + 7 for m in msgs]


def test_renderings_are_bounded_and_past_the_bound_a_player_renders_its_own():
    msg = SharedMessage(9, 0, b"\x17\x01" + bytes(300))
    for offset in range(MAX_RENDERINGS + 5):
        out = MediaChunker(128, 1, lambda ts: ts + offset, {}).encode([msg])
        assert parse(out, 128)[0].timestamp == offset
    assert len(msg.renderings) == MAX_RENDERINGS
