"""Hypothesis properties of the wire and media parsers: round trips, and no error but our typed ones."""
import math
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srsish.core.errors import SrsishError
from srsish.kernel import flv
from srsish.kernel.codec import aac, avc, flv_tags, hevc
from srsish.protocol import amf0, http
from srsish.protocol.rtmp.chunk import ChunkDecoder, encode_message
from srsish.protocol.rtmp.handshake import ClientHandshake, ServerHandshake

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- AMF0: what encode writes, decode gives back -----------------------------------------------------------
finite = st.floats(allow_nan=False, allow_infinity=True, width=64)
keys = st.text(max_size=20)
scalars = st.one_of(finite, st.booleans(), st.text(max_size=50), st.none(), st.just(amf0.UNDEFINED))
amf_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(keys, inner, max_size=5),
                            st.dictionaries(keys, inner, max_size=5).map(amf0.EcmaArray)),
    max_leaves=30)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b and type(a) is type(b)


@FAST
@given(st.lists(amf_values, max_size=6))
def test_amf0_round_trip(values):
    assert _same(values, amf0.decode_all(amf0.encode(*values)))


@FAST
@given(st.binary(max_size=2000))
def test_amf0_decode_raises_only_amf0_error(data):
    for call in (amf0.decode_all, amf0.decode_command, lambda d: amf0.decode_command(d, amf3=True)):
        try:
            call(data)
        except amf0.Amf0Error:
            pass


def test_amf0_nesting_past_the_cap_is_refused_not_a_recursion_error():
    deep = b"\x0a\x00\x00\x00\x01" * 100_000 + b"\x05"
    try:
        amf0.decode_all(deep)
    except amf0.Amf0Error as e:
        assert "deep" in str(e) or "nest" in str(e) or str(amf0.MAX_DEPTH) in str(e)
    else:
        raise AssertionError("100 000 nested arrays decoded")


# -- RTMP chunk stream: messages encoded at any chunk size come back whole -----------------------------------
messages = st.lists(st.tuples(st.integers(2, 65599), st.integers(1, 22), st.integers(0, 0xFFFFFFFF),
                              st.integers(0, 0xFFFFFF), st.binary(max_size=3000)), min_size=1, max_size=6)


@FAST
@given(messages, st.integers(128, 65536), st.integers(1, 4096))
def test_chunk_round_trip_any_chunk_size_any_cut(msgs, chunk_size, cut):
    wire = b"".join(encode_message(cs, t, ts, sid, p, chunk_size) for cs, t, ts, sid, p in msgs)
    dec = ChunkDecoder()
    dec.set_chunk_size(chunk_size)
    got = []
    for i in range(0, len(wire), cut):
        dec.feed(wire[i:i + cut])
        while (m := dec.next_message()) is not None:
            got.append((m.csid, m.type_id, m.timestamp, m.stream_id, m.payload))
    assert got == [(cs, t, ts, sid, p) for cs, t, ts, sid, p in msgs]


@FAST
@given(st.binary(max_size=4000), st.integers(128, 65536))
def test_chunk_decoder_raises_only_protocol_errors(data, chunk_size):
    dec = ChunkDecoder()
    dec.set_chunk_size(chunk_size)
    try:
        dec.feed(data)
        while dec.next_message() is not None:
            pass
    except SrsishError:
        pass


@FAST
@given(st.binary(min_size=1, max_size=5000))
def test_handshakes_raise_only_protocol_errors(data):
    for hs in (ServerHandshake(), ClientHandshake()):
        if isinstance(hs, ClientHandshake):
            hs.start()
        try:
            hs.receive_data(data)
        except SrsishError:
            pass


def test_handshake_pair_completes_byte_by_byte():
    client, server = ClientHandshake(), ServerHandshake()
    c0c1 = client.start()
    reply = b"".join(server.receive_data(c0c1[i:i + 1]) for i in range(len(c0c1)))
    c2 = b"".join(client.receive_data(reply[i:i + 1]) for i in range(len(reply)))
    server.receive_data(c2)
    assert client.done and server.done and server.complex


# -- FLV and codec records ----------------------------------------------------------------------------
tags = st.lists(st.tuples(st.sampled_from([8, 9, 18]), st.integers(0, 0x7FFFFFFF), st.binary(max_size=500)),
                max_size=8)


@FAST
@given(tags)
def test_flv_tags_round_trip(items):
    data = flv.file_header() + b"".join(flv.tag(t, ts, body) for t, ts, body in items)
    assert [(t.type_id, t.timestamp, t.body) for t in flv.read_tags(data)] == items


@FAST
@given(st.binary(max_size=3000))
def test_flv_and_codec_parsers_raise_only_media_errors(data):
    for parse in (lambda d: list(flv.read_tags(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00" + d)),
                  flv_tags.parse_video_tag, flv_tags.parse_audio_tag, avc.parse_avc_config, avc.sps_dimensions,
                  hevc.parse_hevc_config, aac.parse_audio_specific_config):
        try:
            parse(data)
        except SrsishError:
            pass


params = st.binary(min_size=1, max_size=60)


@FAST
@given(st.sampled_from([1, 2, 4]), st.lists(params, min_size=1, max_size=3), st.lists(params, max_size=3),
       st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_avc_config_round_trip(length_size, sps, pps, profile, compat, level):
    cfg = avc.AvcConfig(length_size=length_size, sps=sps, pps=pps, profile=profile, compatibility=compat,
                        level=level)
    assert avc.parse_avc_config(cfg.to_bytes()) == cfg


@FAST
@given(st.sampled_from([1, 2, 5, 29]), st.integers(0, 12), st.integers(1, 7))
def test_aac_config_round_trip(object_type, rate_index, channels):
    try:
        cfg = aac.parse_audio_specific_config(aac.AacConfig(object_type, rate_index, channels).to_bytes())
    except SrsishError:
        return
    assert aac.parse_audio_specific_config(cfg.to_bytes()) == cfg


# -- HTTP requests --------------------------------------------------------------------------------------
@FAST
@given(st.binary(max_size=3000), st.integers(1, 500))
def test_http_reader_raises_only_bad_request(data, cut):
    reader = http.RequestReader("192.0.2.1")
    try:
        for i in range(0, len(data), cut):
            reader.receive_data(data[i:i + cut])
            while not isinstance(ev := reader.next_event(), (type(http.NEED_DATA), http.Closed)):
                pass
    except http.BadRequest as e:
        assert e.status in (400, 413, 414, 431, 501, 505)


def test_chunk_size_limits_are_typed():
    dec = ChunkDecoder()
    try:
        dec.set_chunk_size(0x7FFFFFFF)
    except SrsishError:
        pass
    # a message header claiming 16 MiB - beyond the limit - is refused before any buffering
    dec = ChunkDecoder()
    dec.feed(b"\x03" + b"\x00\x00\x00" + (0xFFFFFF).to_bytes(3, "big") + b"\x09" + struct.pack("<I", 1))
    try:
        dec.next_message()
    except SrsishError:
        return
    raise AssertionError("a 16 MiB message header was accepted")
