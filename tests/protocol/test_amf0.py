"""Byte-exact tests for srsish.protocol.amf0: golden vectors, real captures, round trips, malformed input."""
import copy
import math
import pickle
import random

import pytest

from helpers.amf0_captures import (
    FFMPEG_ONMETADATA,
    FFMPEG_PLAY_CONNECT,
    FFMPEG_PUBLISH_CONNECT,
    ONMETADATA_VALUES,
    PLAY_CONNECT_VALUES,
    PUBLISH_CONNECT_VALUES,
    h,
)
from srsish.core.errors import ProtocolError
from srsish.protocol.amf0 import (
    MAX_DEPTH,
    UNDEFINED,
    Amf0Date,
    Amf0Error,
    EcmaArray,
    Undefined,
    decode,
    decode_all,
    decode_command,
    encode,
)


# ------------------------------------------------------------------------------------------------
# Golden vectors, one per type. The SRS-marked ones restate facts from SRS's AMF0 unit tests
# (ossrs/srs trunk/src/utest/srs_utest_amf0.cpp, MIT licence, Copyright (c) 2013-2015 SRS(ossrs)):
# marker bytes, "winlin" as 02 0006 ..., empty object = 1+3 bytes, empty ECMA array = 1+4+3,
# empty strict array = 0a 00000000, a strict array of one number = 5+9 bytes.

GOLDEN = [
    # (id, value, encoding)
    ("number-10 (SRS)", 10.0, h("00 4024000000000000")),
    ("number-0", 0.0, h("00 0000000000000000")),
    ("number-neg100", -100.0, h("00 c059000000000000")),
    ("number-1.5", 1.5, h("00 3ff8000000000000")),
    ("number-transaction-id", 1.0, h("00 3ff0000000000000")),
    ("true (SRS)", True, h("01 01")),
    ("false (SRS)", False, h("01 00")),
    ("string-winlin (SRS)", "winlin", h("02 0006 77696e6c696e")),
    ("string-empty", "", h("02 0000")),
    ("string-latin1", "é", h("02 0002 c3a9")),
    ("string-cjk", "直播", h("02 0006 e79bb4 e692ad")),
    ("string-emoji", "a🎥", h("02 0005 61 f09f8ea5")),
    ("null (SRS)", None, h("05")),
    ("undefined (SRS)", UNDEFINED, h("06")),
    ("object-empty (SRS)", {}, h("03 000009")),
    (
        "object-name (SRS)",
        {"name": "winlin"},
        h("03  0004 6e616d65  02 0006 77696e6c696e  000009"),
    ),
    (
        "object-nonascii-key",
        {"é": 1.0},
        h("03  0002 c3a9  00 3ff0000000000000  000009"),
    ),
    ("ecma-empty (SRS)", EcmaArray(), h("08 00000000 000009")),
    (
        "ecma-p0 (SRS)",
        EcmaArray(p0="function"),
        h("08 00000001  0002 7030  02 0008 66756e6374696f6e  000009"),
    ),
    ("strict-empty (SRS)", [], h("0a 00000000")),
    ("strict-one-number (SRS)", [0.0], h("0a 00000001  00 0000000000000000")),
    (
        "strict-mixed",
        ["a", None, True],
        h("0a 00000003  02 0001 61  05  01 01"),
    ),
    ("date", Amf0Date(1_000_000_000_000.0, 0), h("0b 426d1a94a2000000 0000")),
    ("date-negative-tz", Amf0Date(0.0, -60), h("0b 0000000000000000 ffc4")),
]


@pytest.mark.parametrize("value,wire", [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN])
def test_golden_encode(value, wire):
    assert encode(value) == wire


@pytest.mark.parametrize("value,wire", [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN])
def test_golden_decode(value, wire):
    decoded, end = decode(wire)
    assert end == len(wire)
    assert decoded == value
    assert type(decoded) is type(value)


def test_int_encodes_as_number_and_decodes_as_float():
    assert encode(10) == encode(10.0) == h("00 4024000000000000")
    value, _ = decode(encode(3))
    assert value == 3.0 and type(value) is float


def test_number_specials_round_trip():
    assert decode(encode(math.inf))[0] == math.inf
    assert decode(encode(-0.0)) == (-0.0, 9) and math.copysign(1, decode(encode(-0.0))[0]) == -1
    assert math.isnan(decode(encode(math.nan))[0])


def test_string_length_prefix_counts_utf8_bytes():
    text = "中文直播流"  # 5 characters, 15 bytes
    wire = encode(text)
    assert wire[:3] == h("02 000f")
    assert len(wire) == 3 + 15
    assert decode(wire) == (text, 18)


def test_string_at_the_u16_limit_is_a_string():
    text = "a" * 65535
    wire = encode(text)
    assert wire[:3] == h("02 ffff") and len(wire) == 3 + 65535
    assert decode(wire) == (text, len(wire))


def test_string_over_the_u16_limit_is_a_long_string():
    text = "a" * 65536
    wire = encode(text)
    assert wire[:5] == h("0c 00010000") and wire[5:] == b"a" * 65536
    assert decode(wire) == (text, len(wire))


def test_long_string_limit_is_in_bytes_not_characters():
    text = "é" * 40000  # 40,000 characters but 80,000 UTF-8 bytes
    wire = encode(text)
    assert wire[:5] == h("0c 00013880")
    assert decode(wire)[0] == text


def test_xml_document_decodes_as_str():
    assert decode(h("0f 00000007 3c612f3e 636363")) == ("<a/>ccc", 12)


def test_typed_object_decodes_as_dict_without_class_name():
    wire = h("10  0003 466f6f  0001 78 00 3ff0000000000000  000009")
    value, end = decode(wire)
    assert value == {"x": 1.0} and type(value) is dict and end == len(wire)


def test_unsupported_marker_decodes_as_undefined():
    assert decode(h("0d")) == (UNDEFINED, 1)


def test_multiple_values_and_offsets():
    wire = encode("winlin", 10.0, True, None, UNDEFINED)  # SRS's "mixed any" sequence
    assert wire == h("02 0006 77696e6c696e  00 4024000000000000  01 01  05  06")
    assert decode_all(wire) == ["winlin", 10.0, True, None, UNDEFINED]
    assert decode(wire, 9) == (10.0, 18)
    assert decode_all(wire, 18) == [True, None, UNDEFINED]
    assert decode_all(b"") == []


def test_bytes_like_inputs():
    wire = encode("connect", 1.0)
    assert decode_all(bytearray(wire)) == ["connect", 1.0]
    assert decode_all(memoryview(wire)) == ["connect", 1.0]
    assert decode(memoryview(wire), 10) == (1.0, 19)


def test_object_keeps_key_order_and_empty_key():
    value = {"z": 1.0, "a": 2.0, "": 3.0, "m": 4.0}
    decoded = decode(encode(value))[0]
    assert list(decoded) == ["z", "a", "", "m"]
    assert decoded == value


# ------------------------------------------------------------------------------------------------
# SRS's "ScenarioMain": the connect _result props and info objects (structure restated from
# srs_utest_amf0.cpp, MIT; the bytes below are ours).


def test_srs_scenario_connect_result():
    props = {"fmsVer": "FMS/3,5,3,888", "capabilities": 253.0, "mode": 123.0}
    info = {
        "level": "info",
        "code": "NetStream.Connnect.Success",
        "descrption": "connected",
        "objectEncoding": 3.0,
        "data": EcmaArray(version="FMS/3,5,3,888", srs_sig="srs"),
    }
    wire = encode(props, info)
    assert wire[0] == 0x03 and wire[-1] == 0x09
    assert wire.startswith(h("03 0006 666d73566572 02 000d 464d532f332c352c332c383838"))
    assert h("0004 64617461 08 00000002") in wire  # "data" then an ECMA array of two
    got_props, got_info = decode_all(wire)
    assert got_props == props
    assert got_info == info and type(got_info["data"]) is EcmaArray
    assert got_info["data"]["srs_sig"] == "srs"


# ------------------------------------------------------------------------------------------------
# Real captures.

CAPTURES = [
    ("ffmpeg-play-connect", FFMPEG_PLAY_CONNECT, PLAY_CONNECT_VALUES),
    ("ffmpeg-publish-connect", FFMPEG_PUBLISH_CONNECT, PUBLISH_CONNECT_VALUES),
    ("ffmpeg-onmetadata", FFMPEG_ONMETADATA, ONMETADATA_VALUES),
]


@pytest.mark.parametrize("wire,values", [c[1:] for c in CAPTURES], ids=[c[0] for c in CAPTURES])
def test_capture_decodes(wire, values):
    decoded = decode_command(wire)
    assert decoded == values
    assert [type(v) for v in decoded] == [type(v) for v in values]
    assert list(decoded[-1]) == list(values[-1])  # key order as sent


@pytest.mark.parametrize("wire,values", [c[1:] for c in CAPTURES], ids=[c[0] for c in CAPTURES])
def test_capture_encodes_byte_exact(wire, values):
    assert encode(*values) == wire


# ------------------------------------------------------------------------------------------------
# ECMA arrays as real encoders write them.


def test_ecma_array_ignores_a_wrong_count():
    wire = h("08 00000000  0001 61 00 3ff0000000000000  0001 62 05  000009")
    assert decode(wire) == (EcmaArray(a=1.0, b=None), len(wire))
    wire = h("08 000000ff  0001 61 05  000009")
    assert decode(wire) == (EcmaArray(a=None), len(wire))


def test_ecma_array_without_end_marker_ends_at_end_of_data():
    wire = h("08 00000002  0001 61 00 3ff0000000000000  0001 62 05")
    value, end = decode(wire)
    assert value == {"a": 1.0, "b": None} and type(value) is EcmaArray and end == len(wire)
    assert decode_command(h("02 000a 6f6e4d65746144617461") + wire) == ["onMetaData", EcmaArray(a=1.0, b=None)]


@pytest.mark.parametrize("tail", ["00", "0000"])
def test_ecma_array_with_a_cut_end_marker(tail):
    wire = h("08 00000001  0001 61 05") + h(tail)
    assert decode(wire) == (EcmaArray(a=None), len(wire))


def test_onmetadata_every_truncation_raises_or_gives_a_prefix():
    name_end = 13  # after the "onMetaData" string
    full = ONMETADATA_VALUES[1]
    for cut in range(name_end, len(FFMPEG_ONMETADATA)):
        try:
            value, end = decode(FFMPEG_ONMETADATA[:cut], name_end)
        except Amf0Error:
            continue
        assert type(value) is EcmaArray and end == cut
        assert list(value.items()) == list(full.items())[: len(value)]


# ------------------------------------------------------------------------------------------------
# Round trips.

ROUND_TRIPS = [
    ["connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live", "objectEncoding": 0.0}],
    ["_result", 1.0, {"fmsVer": "FMS/3,5,3,888", "capabilities": 127.0, "mode": 1.0},
     {"level": "status", "code": "NetConnection.Connect.Success", "description": "Connection succeeded",
      "objectEncoding": 0.0, "data": EcmaArray(version="3,5,3,888", srs_sig="SRS", srs_pid=1234.0)}],
    ["onStatus", 0.0, None, {"level": "status", "code": "NetStream.Play.Start", "details": UNDEFINED}],
    ["@setDataFrame", "onMetaData", EcmaArray(width=1920.0, nested={"list": [1.0, "x", [], {}]})],
    [[[[["deep"]]]], {"a": {"b": {"c": EcmaArray(d=[Amf0Date(1.5, 0)])}}}],
    ["x" * 70000, "ü" * 33000, ""],
]


@pytest.mark.parametrize("values", ROUND_TRIPS, ids=range(len(ROUND_TRIPS)))
def test_round_trip(values):
    wire = encode(*values)
    assert decode_all(wire) == values
    assert encode(*decode_all(wire)) == wire


def test_tuple_encodes_as_strict_array():
    assert encode(("a", 1.0)) == encode(["a", 1.0])
    assert decode(encode(("a",)))[0] == ["a"]


def test_subclasses_encode_like_their_base():
    from collections import OrderedDict
    from enum import IntEnum

    class Level(IntEnum):
        TWO = 2

    class Name(str):
        pass

    class Meta(EcmaArray):
        pass

    assert encode(Level.TWO) == encode(2.0)
    assert encode(Name("ab")) == encode("ab")
    assert encode(OrderedDict(a=1.0)) == encode({"a": 1.0})
    assert encode(Meta(a=1.0)) == encode(EcmaArray(a=1.0))


# ------------------------------------------------------------------------------------------------
# UNDEFINED, EcmaArray, Amf0Date.


def test_undefined_singleton():
    assert Undefined() is UNDEFINED
    assert not UNDEFINED
    assert repr(UNDEFINED) == "UNDEFINED"
    assert UNDEFINED is not None and UNDEFINED != None  # noqa: E711
    assert copy.copy(UNDEFINED) is UNDEFINED and copy.deepcopy(UNDEFINED) is UNDEFINED
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED


def test_ecma_array_and_date_types():
    assert isinstance(EcmaArray(), dict)
    assert repr(EcmaArray(a=1)) == "EcmaArray({'a': 1})"
    d = Amf0Date(5.0, 0)
    assert d == Amf0Date(5.0, 0) and hash(d) == hash(Amf0Date(5.0, 0))
    with pytest.raises(AttributeError):
        d.ms = 1.0


def test_error_types():
    assert issubclass(Amf0Error, ProtocolError) and issubclass(Amf0Error, ValueError)


# ------------------------------------------------------------------------------------------------
# Malformed input: always Amf0Error, with the offset in the message.

# Each of these encodes one value; a cut anywhere inside must raise.
TRUNCATION_CASES = {
    "number": encode(1.0),
    "boolean": encode(True),
    "string": encode("winlin"),
    "long-string": encode("b" * 65536),
    "object": encode(PLAY_CONNECT_VALUES[2]),
    "nested": encode({"a": [1.0, {"b": "c"}], "d": EcmaArray(e=None)}),
    "strict-array": encode(["a", 1.0, None]),
    "date": encode(Amf0Date(1.0, 0)),
    "typed-object": h("10  0003 466f6f  0001 78 05  000009"),
    "xml": h("0f 00000003 3c612f"),
}


@pytest.mark.parametrize("wire", TRUNCATION_CASES.values(), ids=TRUNCATION_CASES.keys())
def test_truncated_at_every_offset_raises(wire):
    assert decode(wire)[1] == len(wire)
    # The long string would make this quadratic; its interesting cuts are in the header and the ends.
    cuts = range(len(wire)) if len(wire) < 1000 else [*range(10), len(wire) - 1]
    for cut in cuts:
        with pytest.raises(Amf0Error) as info:
            decode(wire[:cut])
        assert "offset" in str(info.value)


def test_truncated_connect_command_raises_inside_values():
    # A cut inside any one of the three values is an error; a cut between values is just fewer values.
    boundaries = {0, 10, 19, len(FFMPEG_PLAY_CONNECT)}
    for cut in range(len(FFMPEG_PLAY_CONNECT)):
        if cut in boundaries:
            assert len(decode_command(FFMPEG_PLAY_CONNECT[:cut])) == sorted(boundaries).index(cut)
        else:
            with pytest.raises(Amf0Error):
                decode_command(FFMPEG_PLAY_CONNECT[:cut])


def test_truncation_message_names_what_and_where():
    with pytest.raises(Amf0Error, match=r"truncated number at offset 1: need 8 bytes, 3 left") as info:
        decode(h("00 3ff000"))
    assert info.value.offset == 1
    with pytest.raises(Amf0Error, match=r"truncated string at offset 4: need 6 bytes, 2 left"):
        decode(h("05  02 0006 7769"), 1)


def test_object_without_end_marker_raises():
    with pytest.raises(Amf0Error, match="object-end"):
        decode(h("03  0001 61 05  0000"))
    with pytest.raises(Amf0Error):
        decode(h("03  0001 61 05"))


@pytest.mark.parametrize("marker", [0x12, 0x13, 0x20, 0x3F, 0x80, 0xFF])
def test_unknown_marker(marker):
    with pytest.raises(Amf0Error, match=rf"unknown AMF0 marker 0x{marker:02x} at offset 0"):
        decode(bytes([marker]))


@pytest.mark.parametrize(
    "wire,message",
    [
        (h("07 0001"), "reference marker 0x07 at offset 0"),
        (h("04"), "movieclip marker 0x04 at offset 0"),
        (h("0e"), "recordset marker 0x0e at offset 0"),
        (h("09"), "object-end marker 0x09 at offset 0"),
    ],
)
def test_unsupported_markers(wire, message):
    with pytest.raises(Amf0Error, match=message):
        decode(wire)


def test_unknown_marker_inside_an_object_reports_its_offset():
    with pytest.raises(Amf0Error, match="unknown AMF0 marker 0x12 at offset 4"):
        decode(h("03 0001 61 12 000009"))


@pytest.mark.parametrize(
    "wire",
    [
        h("02 0002 c328"),  # bad continuation byte
        h("02 0001 ff"),
        h("02 0003 eda080"),  # an encoded surrogate
        h("02 0001 c3"),  # cut multi-byte sequence
        h("0c 00000002 c328"),
        h("0f 00000001 80"),
        h("03 0002 c328 05 000009"),  # in a property name
        h("08 00000001 0001 ff 05 000009"),
        h("10 0001 ff 000009"),  # in a typed object's class name
    ],
)
def test_invalid_utf8(wire):
    with pytest.raises(Amf0Error, match="not valid UTF-8"):
        decode(wire)


def _nest(open_bytes: bytes, close_bytes: bytes, levels: int, inner: bytes = h("05")) -> bytes:
    return open_bytes * levels + inner + close_bytes * levels


NESTINGS = {
    "object": (h("03 0001 61"), h("000009")),
    "ecma": (h("08 00000001 0001 61"), h("000009")),
    "strict": (h("0a 00000001"), b""),
    "typed": (h("10 0001 43 0001 61"), h("000009")),
}


@pytest.mark.parametrize("kind", NESTINGS)
def test_nesting_limit(kind):
    opener, closer = NESTINGS[kind]
    ok = _nest(opener, closer, MAX_DEPTH)
    assert decode(ok)[1] == len(ok)
    with pytest.raises(Amf0Error, match=f"deeper than {MAX_DEPTH}"):
        decode(_nest(opener, closer, MAX_DEPTH + 1))


def test_very_deep_nesting_is_not_a_recursion_error():
    with pytest.raises(Amf0Error):
        decode(h("0a 00000001") * 100_000)


def test_hostile_lengths_and_counts():
    with pytest.raises(Amf0Error, match="need 4294967295 bytes"):
        decode(h("0c ffffffff 61"))
    with pytest.raises(Amf0Error):
        decode(h("0a ffffffff 05 05"))
    with pytest.raises(Amf0Error, match="need 65535 bytes"):
        decode(h("02 ffff 61"))


def test_negative_offset():
    with pytest.raises(ValueError):
        decode(h("05"), -1)


def test_random_garbage_only_raises_amf0_error():
    rng = random.Random(20240601)
    seeds = [encode(*v) for v in ROUND_TRIPS[:5]] + [FFMPEG_PLAY_CONNECT, FFMPEG_ONMETADATA]
    for _ in range(3000):
        if rng.random() < 0.5:
            wire = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        else:
            wire = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 4)):
                wire[rng.randrange(len(wire))] = rng.randrange(256)
            wire = bytes(wire)
        try:
            decode_all(wire)
            decode_command(wire, amf3=True)
        except Amf0Error:
            pass


# ------------------------------------------------------------------------------------------------
# Encoding errors (our own bugs, not wire input): TypeError / ValueError, never silent.


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object(), {"ok": b"no"}, [complex(1, 2)]])
def test_encode_rejects_unsupported_types(value):
    with pytest.raises(TypeError):
        encode(value)


def test_encode_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="timezone"):
        encode(Amf0Date(0.0, 40000))
    with pytest.raises(OverflowError):
        encode(10**400)


def test_encode_rejects_non_str_keys_and_long_keys():
    with pytest.raises(TypeError):
        encode({1: "a"})
    with pytest.raises(ValueError):
        encode({"k" * 65536: 1.0})


def test_encode_nesting_limit():
    value: list = []
    for _ in range(MAX_DEPTH - 1):
        value = [value]
    assert decode(encode(value))[0] == value
    with pytest.raises(ValueError, match="deeper"):
        encode([value])
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError):
        encode(loop)
