"""The values AMF0 and AMF3 decode to that Python lacks (undefined, ECMA array, date), and Amf0Error with the checked reads that raise it."""
from __future__ import annotations

from dataclasses import dataclass

from srsish.core.errors import ProtocolError


class Amf0Error(ProtocolError):
    """Malformed AMF0 (or embedded AMF3) input; the message names what and at which offset."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class Undefined:
    """The AMF0 `undefined` value (marker 0x06); use the singleton UNDEFINED."""

    __slots__ = ()
    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED = Undefined()


class EcmaArray(dict):
    """An AMF0 ECMA array (marker 0x08), e.g. onMetaData; a plain dict encodes as an object (0x03)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"EcmaArray({dict.__repr__(self)})"


@dataclass(frozen=True)
class Amf0Date:
    """An AMF0 date (marker 0x0B): milliseconds since the Unix epoch, and a timezone the spec says to leave 0."""

    ms: float
    tz: int = 0


def truncated(what: str, at: int, need: int, n: int) -> Amf0Error:
    """The error for a value cut short: `need` bytes at `at`, `n` in all."""
    return Amf0Error(
        f"AMF0 truncated {what} at offset {at}: need {need} bytes, {max(n - at, 0)} left", at
    )


def read_utf8(data: bytes, pos: int, length: int, what: str) -> tuple[str, int]:
    """`length` bytes of UTF-8 at `pos`, and the offset past them; Amf0Error when cut short or not UTF-8."""
    end = pos + length
    if end > len(data):
        raise truncated(what, pos, length, len(data))
    try:
        return data[pos:end].decode("utf-8"), end
    except UnicodeDecodeError as e:
        raise Amf0Error(f"AMF0 {what} at offset {pos} is not valid UTF-8 (byte {pos + e.start})", pos) from None
