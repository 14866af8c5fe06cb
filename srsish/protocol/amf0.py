"""AMF0 encode and decode for RTMP commands and metadata: Python values in, bytes out, and back.

Pure functions over bytes (sans-IO). Mapping used by `encode`:

    float/int -> number 0x00        bool -> boolean 0x01
    str -> string 0x02, or long string 0x0C above 65535 UTF-8 bytes
    None -> null 0x05               UNDEFINED -> undefined 0x06
    EcmaArray -> ECMA array 0x08    dict -> anonymous object 0x03
    list/tuple -> strict array 0x0A Amf0Date -> date 0x0B

`decode` returns numbers as float, objects as dict (key order kept), ECMA arrays as EcmaArray,
strict arrays as list, XML documents as str and typed objects as dict (the class name is dropped).
The AVM+ marker 0x11 switches one value to AMF3 (amf3.py: only the scalar values that RTMP
encoders put in type-17 commands). The value types and Amf0Error are amf_values.py's, named here
too since they are this module's interface. Every malformed input raises Amf0Error, never
IndexError, struct.error or RecursionError.
"""
from __future__ import annotations

import struct

from srsish.protocol import amf3
from srsish.protocol.amf_values import UNDEFINED, Amf0Date, Amf0Error, EcmaArray, Undefined, read_utf8, truncated

__all__ = [
    "Amf0Date",
    "Amf0Error",
    "EcmaArray",
    "MAX_DEPTH",
    "UNDEFINED",
    "Undefined",
    "decode",
    "decode_all",
    "decode_command",
    "encode",
]

# Containers (object, ECMA array, strict array, typed object) nested deeper than this are rejected.
# Real RTMP commands and onMetaData nest two or three levels; the cap keeps a hostile payload of
# b"\x03\x00\x01a" * N from exhausting the Python stack.
MAX_DEPTH = 64

_NUMBER = 0x00
_BOOLEAN = 0x01
_STRING = 0x02
_OBJECT = 0x03
_MOVIECLIP = 0x04
_NULL = 0x05
_UNDEFINED = 0x06
_REFERENCE = 0x07
_ECMA_ARRAY = 0x08
_OBJECT_END = 0x09
_STRICT_ARRAY = 0x0A
_DATE = 0x0B
_LONG_STRING = 0x0C
_UNSUPPORTED = 0x0D
_RECORDSET = 0x0E
_XML_DOCUMENT = 0x0F
_TYPED_OBJECT = 0x10
_AVMPLUS = 0x11

_MARKER_NAMES = {
    _MOVIECLIP: "movieclip",
    _REFERENCE: "reference",
    _OBJECT_END: "object-end",
    _RECORDSET: "recordset",
}

_S_NUMBER = struct.Struct(">Bd")
_S_DOUBLE = struct.Struct(">d")
_S_MARKER_U16 = struct.Struct(">BH")
_S_MARKER_U32 = struct.Struct(">BI")
_S_U16 = struct.Struct(">H")
_S_U32 = struct.Struct(">I")
_S_DATE = struct.Struct(">Bdh")
_S_DATE_BODY = struct.Struct(">dh")

_OBJECT_END_BYTES = b"\x00\x00\x09"
_MAX_U16 = 0xFFFF


# ---------------------------------------------------------------------------------------------
# Encoding


def encode(*values: object) -> bytes:
    """Encode each value in turn and return the concatenation (e.g. a whole command)."""
    out: list[bytes] = []
    append = out.append
    for value in values:
        _encode_value(value, append, 0)
    return b"".join(out)


def _encode_str(value: str, append) -> None:
    raw = value.encode("utf-8")
    n = len(raw)
    if n <= _MAX_U16:
        append(_S_MARKER_U16.pack(_STRING, n))
    else:
        append(_S_MARKER_U32.pack(_LONG_STRING, n))
    append(raw)


def _encode_properties(mapping: dict, append, depth: int) -> None:
    for key, item in mapping.items():
        if not isinstance(key, str):
            raise TypeError(f"AMF0 property names must be str, not {type(key).__name__}: {key!r}")
        raw = key.encode("utf-8")
        if len(raw) > _MAX_U16:
            raise ValueError(f"AMF0 property name is {len(raw)} UTF-8 bytes, the limit is {_MAX_U16}")
        append(_S_U16.pack(len(raw)))
        append(raw)
        _encode_value(item, append, depth)
    append(_OBJECT_END_BYTES)


def _enter(depth: int) -> int:
    if depth >= MAX_DEPTH:
        raise ValueError(f"AMF0 value nests deeper than {MAX_DEPTH} containers")
    return depth + 1


def _encode_value(value: object, append, depth: int) -> None:
    # Exact-type checks first (the common case, and bool must not fall into int), then subclasses.
    t = type(value)
    if t is str:
        _encode_str(value, append)
    elif t is float:
        append(_S_NUMBER.pack(_NUMBER, value))
    elif t is int:
        append(_S_NUMBER.pack(_NUMBER, float(value)))  # OverflowError past a double's range
    elif value is None:
        append(b"\x05")
    elif t is bool:
        append(b"\x01\x01" if value else b"\x01\x00")
    elif t is dict:
        append(b"\x03")
        _encode_properties(value, append, _enter(depth))
    elif t is EcmaArray:
        append(_S_MARKER_U32.pack(_ECMA_ARRAY, len(value)))
        _encode_properties(value, append, _enter(depth))
    elif t is list or t is tuple:
        inner = _enter(depth)
        append(_S_MARKER_U32.pack(_STRICT_ARRAY, len(value)))
        for item in value:
            _encode_value(item, append, inner)
    elif value is UNDEFINED:
        append(b"\x06")
    elif t is Amf0Date or isinstance(value, Amf0Date):
        if not -0x8000 <= value.tz <= 0x7FFF:
            raise ValueError(f"AMF0 date timezone must fit in 16 signed bits: {value.tz}")
        append(_S_DATE.pack(_DATE, float(value.ms), value.tz))
    elif isinstance(value, bool):
        append(b"\x01\x01" if value else b"\x01\x00")
    elif isinstance(value, (int, float)):
        append(_S_NUMBER.pack(_NUMBER, float(value)))
    elif isinstance(value, str):
        _encode_str(str(value), append)
    elif isinstance(value, EcmaArray):
        append(_S_MARKER_U32.pack(_ECMA_ARRAY, len(value)))
        _encode_properties(value, append, _enter(depth))
    elif isinstance(value, dict):
        append(b"\x03")
        _encode_properties(value, append, _enter(depth))
    elif isinstance(value, (list, tuple)):
        inner = _enter(depth)
        append(_S_MARKER_U32.pack(_STRICT_ARRAY, len(value)))
        for item in value:
            _encode_value(item, append, inner)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as AMF0: {value!r}")


# ---------------------------------------------------------------------------------------------
# Decoding


def decode(data: bytes, offset: int = 0) -> tuple[object, int]:
    """Decode one value at `offset`; return it and the offset just past it."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    if offset < 0:
        raise ValueError(f"offset must not be negative: {offset}")
    return _decode_value(data, offset, 0, [])


def decode_all(data: bytes, offset: int = 0) -> list:
    """Decode values from `offset` to the end of `data`."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    if offset < 0:
        raise ValueError(f"offset must not be negative: {offset}")
    n = len(data)
    # One AMF3 string-reference table for the whole payload, so a type-17 command can refer back
    # to a string sent in an earlier AVM+ value of the same message.
    amf3_strings: list[str] = []
    values = []
    pos = offset
    while pos < n:
        value, pos = _decode_value(data, pos, 0, amf3_strings)
        values.append(value)
    return values


def decode_command(payload: bytes, amf3: bool = False) -> list:
    """Decode an RTMP command or data message payload into its list of values.

    amf3=True means an RTMP message of type 17 (AMF3 command) or 15 (AMF3 data): its payload starts
    with one format byte (0x00) and continues as AMF0 that may switch values to AMF3 with 0x11.
    """
    if not amf3:
        return decode_all(payload)
    if not payload:
        raise Amf0Error("AMF3 command is empty: missing the format byte at offset 0", 0)
    # SRS and librtmp skip this byte without looking at it; so do we.
    return decode_all(payload, 1)


def _read_key(data: bytes, pos: int, n: int) -> tuple[str, int]:
    if pos + 2 > n:
        raise truncated("property name length", pos, 2, n)
    length = (data[pos] << 8) | data[pos + 1]
    pos += 2
    if not length:
        return "", pos
    end = pos + length
    if end > n:
        raise truncated("property name", pos, length, n)
    try:
        return data[pos:end].decode("utf-8"), end
    except UnicodeDecodeError as e:
        raise Amf0Error(
            f"AMF0 property name at offset {pos} is not valid UTF-8 (byte {pos + e.start})", pos
        ) from None


def _decode_properties(data: bytes, pos: int, depth: int, amf3_strings: list, result: dict, what: str) -> int:
    """Read name/value pairs up to and including the object-end marker 00 00 09."""
    n = len(data)
    while True:
        start = pos
        key, pos = _read_key(data, pos, n)
        if not key:
            if pos >= n:
                raise truncated(f"{what} (no object-end marker)", start, 3, n)
            if data[pos] == _OBJECT_END:
                return pos + 1
        value, pos = _decode_value(data, pos, depth, amf3_strings)
        result[key] = value


def _decode_ecma_properties(data: bytes, pos: int, depth: int, amf3_strings: list, result: dict) -> int:
    """Like _decode_properties, but end of data also ends the array.

    Some encoders (ffmpeg's FLV muxer among them, and several hardware encoders) write onMetaData
    with a count that does not match, or with no object-end marker at all; like SRS and ffmpeg we
    ignore the count and stop at 00 00 09 or at the end of the payload.
    """
    n = len(data)
    while True:
        left = n - pos
        if left <= 0:
            return pos
        if left < 3 and not any(data[pos:]):
            # "00" or "00 00" at the very end: an end marker cut short, treated as the end.
            return n
        key, pos = _read_key(data, pos, n)
        if not key and pos < n and data[pos] == _OBJECT_END:
            return pos + 1
        value, pos = _decode_value(data, pos, depth, amf3_strings)
        result[key] = value


def _decode_value(data: bytes, pos: int, depth: int, amf3_strings: list) -> tuple[object, int]:
    n = len(data)
    if pos >= n:
        raise Amf0Error(f"AMF0 truncated: no value marker at offset {pos}", pos)
    marker = data[pos]
    at = pos
    pos += 1

    if marker == _STRING:
        if pos + 2 > n:
            raise truncated("string length", pos, 2, n)
        length = (data[pos] << 8) | data[pos + 1]
        return read_utf8(data, pos + 2, length, "string")

    if marker == _NUMBER:
        if pos + 8 > n:
            raise truncated("number", pos, 8, n)
        return _S_DOUBLE.unpack_from(data, pos)[0], pos + 8

    if marker == _OBJECT or marker == _TYPED_OBJECT or marker == _ECMA_ARRAY or marker == _STRICT_ARRAY:
        if depth >= MAX_DEPTH:
            raise Amf0Error(f"AMF0 value at offset {at} nests deeper than {MAX_DEPTH} containers", at)
        depth += 1
        if marker == _OBJECT:
            obj: dict = {}
            return obj, _decode_properties(data, pos, depth, amf3_strings, obj, "object")
        if marker == _ECMA_ARRAY:
            if pos + 4 > n:
                raise truncated("ECMA array count", pos, 4, n)
            arr = EcmaArray()
            return arr, _decode_ecma_properties(data, pos + 4, depth, amf3_strings, arr)
        if marker == _STRICT_ARRAY:
            if pos + 4 > n:
                raise truncated("strict array count", pos, 4, n)
            count = _S_U32.unpack_from(data, pos)[0]
            pos += 4
            # No preallocation from the untrusted count: each element takes at least one byte,
            # so a lying count runs into the end of data quickly.
            items = []
            for _ in range(count):
                item, pos = _decode_value(data, pos, depth, amf3_strings)
                items.append(item)
            return items, pos
        # Typed object: a class name, then properties as in an anonymous object.
        if pos + 2 > n:
            raise truncated("typed object class name length", pos, 2, n)
        _, pos = read_utf8(data, pos + 2, (data[pos] << 8) | data[pos + 1], "typed object class name")
        obj = {}
        return obj, _decode_properties(data, pos, depth, amf3_strings, obj, "typed object")

    if marker == _NULL:
        return None, pos
    if marker == _BOOLEAN:
        if pos >= n:
            raise truncated("boolean", pos, 1, n)
        return data[pos] != 0, pos + 1
    if marker == _UNDEFINED or marker == _UNSUPPORTED:
        return UNDEFINED, pos
    if marker == _LONG_STRING or marker == _XML_DOCUMENT:
        what = "long string" if marker == _LONG_STRING else "XML document"
        if pos + 4 > n:
            raise truncated(f"{what} length", pos, 4, n)
        return read_utf8(data, pos + 4, _S_U32.unpack_from(data, pos)[0], what)
    if marker == _DATE:
        if pos + 10 > n:
            raise truncated("date", pos, 10, n)
        ms, tz = _S_DATE_BODY.unpack_from(data, pos)
        return Amf0Date(ms, tz), pos + 10
    if marker == _AVMPLUS:
        return amf3.decode_value(data, pos, amf3_strings)
    if marker in _MARKER_NAMES:
        raise Amf0Error(f"AMF0 {_MARKER_NAMES[marker]} marker 0x{marker:02x} at offset {at} is not supported", at)
    raise Amf0Error(f"unknown AMF0 marker 0x{marker:02x} at offset {at}", at)


def first_object(payload: bytes) -> dict:
    """The first object of an AMF0 data message (onMetaData's values), or {} when there is none or it is broken."""
    try:
        values = decode_all(payload)
    except ValueError:
        return {}
    return next((v for v in values if isinstance(v, dict)), {})
