"""AMF3 decoding, only as far as RTMP type-17 commands need it: the scalar values an AMF0 AVM+ (0x11) switch carries.

Numbers decode as float, strings (inline or by reference) as str; the complex AMF3 types
(object, array, date, XML, byte array, vectors, dictionary) raise Amf0Error, as does any
malformed input.
"""
from __future__ import annotations

import struct

from srsish.protocol.amf_values import UNDEFINED, Amf0Error, read_utf8, truncated

_S_DOUBLE = struct.Struct(">d")


_AMF3_NAMES = {
    0x07: "XML document",
    0x08: "date",
    0x09: "array",
    0x0A: "object",
    0x0B: "XML",
    0x0C: "byte array",
    0x0D: "vector<int>",
    0x0E: "vector<uint>",
    0x0F: "vector<double>",
    0x10: "vector<object>",
    0x11: "dictionary",
}


def _read_u29(data: bytes, pos: int) -> tuple[int, int]:
    """AMF3's variable-length 29-bit unsigned integer: 7 bits in each of up to 3 bytes, then 8."""
    n = len(data)
    value = 0
    for i in range(4):
        if pos >= n:
            raise truncated("AMF3 U29 integer", pos, 1, n)
        b = data[pos]
        pos += 1
        if i == 3:
            return (value << 8) | b, pos
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos
    raise AssertionError("unreachable")


def decode_value(data: bytes, pos: int, strings: list) -> tuple[object, int]:
    """One AMF3 value at `pos` (just after an AVM+ 0x11 switch) and the offset past it.

    `strings` is the string-reference table, shared by every AMF3 value of one payload.
    """
    n = len(data)
    if pos >= n:
        raise Amf0Error(f"AMF0 truncated: no AMF3 marker after AVM+ switch at offset {pos}", pos)
    marker = data[pos]
    at = pos
    pos += 1
    if marker == 0x00:
        return UNDEFINED, pos
    if marker == 0x01:
        return None, pos
    if marker == 0x02:
        return False, pos
    if marker == 0x03:
        return True, pos
    if marker == 0x04:
        value, pos = _read_u29(data, pos)
        if value & 0x10000000:
            value -= 0x20000000
        # Numbers decode as float everywhere, whichever AMF version carried them.
        return float(value), pos
    if marker == 0x05:
        if pos + 8 > n:
            raise truncated("AMF3 double", pos, 8, n)
        return _S_DOUBLE.unpack_from(data, pos)[0], pos + 8
    if marker == 0x06:
        ref_at = pos
        header, pos = _read_u29(data, pos)
        if not header & 1:
            index = header >> 1
            if index >= len(strings):
                raise Amf0Error(
                    f"AMF3 string reference {index} at offset {ref_at} points past the {len(strings)} strings seen",
                    ref_at,
                )
            return strings[index], pos
        value, pos = read_utf8(data, pos, header >> 1, "AMF3 string")
        if value:  # the empty string is never added to the reference table
            strings.append(value)
        return value, pos
    name = _AMF3_NAMES.get(marker)
    if name is not None:
        raise Amf0Error(f"AMF3 {name} marker 0x{marker:02x} at offset {at} is not supported", at)
    raise Amf0Error(f"unknown AMF3 marker 0x{marker:02x} at offset {at}", at)
