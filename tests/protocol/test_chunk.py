"""Chunk stream: byte-exact headers, reassembly of every fmt, extended timestamps, hostile input."""
import os

import pytest

from srsish.protocol.rtmp.chunk import (ChunkDecoder, ChunkError, MAX_MESSAGE_SIZE, chunk_header, chunk_tail,
                                        encode_message)


def decode_all(data: bytes, chunk_size: int = 128):
    d = ChunkDecoder()
    d.chunk_size = chunk_size
    d.feed(data)
    out = []
    while (m := d.next_message()) is not None:
        out.append(m)
    return out, d


def test_fmt0_header_bytes_exact():
    # csid 3, ts 0x010203, len 0x000010, type 20, stream 1 (little endian).
    assert chunk_header(3, 0x010203, 16, 20, 1) == bytes.fromhex("03 010203 000010 14 01000000")


def test_two_and_three_byte_basic_headers():
    assert chunk_header(64, 0, 1, 8, 0)[:2] == b"\x00\x00"
    assert chunk_header(319, 0, 1, 8, 0)[:2] == b"\x00\xff"
    assert chunk_header(320, 0, 1, 8, 0)[:3] == b"\x01\x00\x01"
    assert chunk_header(65599, 0, 1, 8, 0)[:3] == b"\x01\xff\xff"


def test_extended_timestamp_in_header_and_every_fmt3():
    payload = bytes(300)
    data = encode_message(6, 9, 0x01000000, 1, payload, 128)
    # fmt0: 0xFFFFFF marker then the 4-byte extended timestamp after the message header.
    assert data[1:4] == b"\xff\xff\xff" and data[12:16] == b"\x01\x00\x00\x00"
    # Each fmt-3 continuation repeats it (librtmp and FFmpeg expect that).
    assert data[16 + 128:16 + 128 + 5] == b"\xc6\x01\x00\x00\x00"
    msgs, _ = decode_all(data)
    assert msgs[0].timestamp == 0x01000000 and msgs[0].payload == payload


def test_tail_splits_payload_with_fmt3_headers():
    payload = bytes(range(256)) * 2
    tail = chunk_tail(payload, 200, 6)
    assert tail == payload[:200] + b"\xc6" + payload[200:400] + b"\xc6" + payload[400:]
    assert chunk_tail(payload[:100], 200, 6) == payload[:100]


def test_fmt1_fmt2_fmt3_deltas():
    # Hand-built chunks (after SRS's utest vectors): fmt0 ts=1000, fmt1 delta 40, fmt2 delta 40, fmt3 new message.
    p = b"\x17\x01" + bytes(8)
    data = (bytes.fromhex("06 0003e8 00000a 09 01000000") + p
            + bytes.fromhex("46 000028 00000a 09") + p
            + bytes.fromhex("86 000028") + p
            + bytes.fromhex("c6") + p)
    msgs, _ = decode_all(data)
    assert [m.timestamp for m in msgs] == [1000, 1040, 1080, 1120]
    assert all(m.stream_id == 1 and m.type_id == 9 and m.payload == p for m in msgs)


def test_interleaved_chunk_streams_and_byte_at_a_time():
    a, v = os.urandom(300), os.urandom(500)
    va = encode_message(6, 9, 10, 1, v, 128)
    aa = encode_message(4, 8, 20, 1, a, 128)
    # interleave: first chunk of video, whole audio, rest of video
    data = va[:12 + 128] + aa + va[12 + 128:]
    d = ChunkDecoder()
    got = []
    for b in data:
        d.feed(bytes([b]))
        while (m := d.next_message()) is not None:
            got.append(m)
    assert [(m.type_id, m.payload) for m in got] == [(8, a), (9, v)]


def test_set_chunk_size_limits():
    d = ChunkDecoder()
    for bad in (0, 127, 65537, 2 ** 31):
        with pytest.raises(ChunkError, match="chunk size"):
            d.set_chunk_size(bad)
    d.set_chunk_size(65536)
    payload = os.urandom(100000)
    d.feed(encode_message(6, 9, 0, 1, payload, 65536))
    assert d.next_message().payload == payload


def test_absurd_message_length_refused():
    d = ChunkDecoder()
    d.feed(bytes.fromhex("06 000000 ffffff 09 01000000"))  # declares 16 MiB
    with pytest.raises(ChunkError, match="exceeds"):
        d.next_message()
    assert MAX_MESSAGE_SIZE < 0xFFFFFF


def test_stream_starting_with_fmt3_refused():
    d = ChunkDecoder()
    d.feed(b"\xc5" + bytes(10))
    with pytest.raises(ChunkError, match="starts with fmt 3"):
        d.next_message()


def test_truncated_input_waits_for_more():
    data = encode_message(3, 20, 0, 0, os.urandom(400), 128)
    for cut in range(len(data)):
        msgs, d = decode_all(data[:cut])
        assert msgs == []
        d.feed(data[cut:])
        assert d.next_message() is not None


def test_abort_drops_partial_message():
    d = ChunkDecoder()
    data = encode_message(6, 9, 0, 1, os.urandom(300), 128)
    d.feed(data[:12 + 128])
    assert d.next_message() is None
    d.abort(6)
    fresh = os.urandom(50)
    d.feed(encode_message(6, 9, 5, 1, fresh, 128))
    assert d.next_message().payload == fresh
