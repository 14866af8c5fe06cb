"""Byte-exact tests for srsish.protocol.amf3, reached as RTMP does: AVM+ switches inside AMF0 and type-17 commands."""
import pytest

from helpers.amf0_captures import FFMPEG_PLAY_CONNECT, PLAY_CONNECT_VALUES, h
from srsish.protocol.amf0 import UNDEFINED, Amf0Error, decode, decode_command


@pytest.mark.parametrize(
    "amf3,value",
    [
        ("00", UNDEFINED),
        ("01", None),
        ("02", False),
        ("03", True),
        ("04 00", 0.0),
        ("04 7f", 127.0),
        ("04 8100", 128.0),
        ("04 ff7f", 16383.0),
        ("04 818000", 16384.0),
        ("04 ffff7f", 2097151.0),
        ("04 80c08000", 2097152.0),
        ("04 bfffffff", 268435455.0),  # largest positive U29 integer
        ("04 ffffffff", -1.0),  # sign-extended from 29 bits
        ("04 c0808000", -268435456.0),
        ("05 3ff8000000000000", 1.5),
        ("06 01", ""),
        ("06 0d 77696e6c696e", "winlin"),
        ("06 05 c3a9", "é"),
    ],
)
def test_amf3_scalars(amf3, value):
    wire = h("11") + h(amf3)
    decoded, end = decode(wire)
    assert decoded == value and type(decoded) is type(value) and end == len(wire)


def test_amf3_command_with_string_references():
    # A type-17 command: format byte, AMF0 name and transaction id, then AMF3 values; the last
    # two are references (U29 header with low bit 0) to the first and second strings sent inline.
    payload = h(
        """
        00
        02 0007 636f6e6e656374
        00 3ff0000000000000
        11 06 09 6c697665
        11 06 01
        11 06 0b 7374726561
        11 06 00
        11 06 02
        11 04 ffffffff
        05
        """
    )
    assert decode_command(payload, amf3=True) == ["connect", 1.0, "live", "", "strea", "live", "strea", -1.0, None]


def test_amf3_command_skips_only_the_format_byte():
    assert decode_command(h("00 02 0004 706c6179 00 0000000000000000 05"), amf3=True) == ["play", 0.0, None]
    assert decode_command(h("00"), amf3=True) == []
    with pytest.raises(Amf0Error, match="format byte"):
        decode_command(b"", amf3=True)


def test_amf3_connect_reencoded_as_type17():
    assert decode_command(b"\x00" + FFMPEG_PLAY_CONNECT, amf3=True) == PLAY_CONNECT_VALUES


@pytest.mark.parametrize(
    "wire,message",
    [
        (h("11 0a 0b 01 01"), r"AMF3 object marker 0x0a at offset 1"),
        (h("11 09 01 01"), r"AMF3 array marker 0x09 at offset 1"),
        (h("11 08 01 00"), r"AMF3 date marker 0x08 at offset 1"),
        (h("11 0c 03 00"), r"AMF3 byte array marker 0x0c at offset 1"),
        (h("11 7f"), r"unknown AMF3 marker 0x7f at offset 1"),
        (h("11"), r"no AMF3 marker after AVM\+ switch at offset 1"),
        (h("11 04 ff ff"), r"truncated AMF3 U29 integer at offset 4"),
        (h("11 05 3ff8"), r"truncated AMF3 double at offset 2"),
        (h("11 06 0d 7769"), r"truncated AMF3 string at offset 3"),
        (h("11 06 00"), r"AMF3 string reference 0 at offset 2 points past the 0 strings seen"),
        (h("11 06 05 c328"), r"AMF3 string at offset 3 is not valid UTF-8"),
    ],
)
def test_amf3_errors(wire, message):
    with pytest.raises(Amf0Error, match=message):
        decode(wire)


def test_amf3_references_do_not_leak_between_decode_calls():
    decode(h("11 06 03 61"))
    with pytest.raises(Amf0Error, match="reference"):
        decode(h("11 06 00"))
