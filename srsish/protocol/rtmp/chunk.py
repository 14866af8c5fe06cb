"""RTMP chunk stream: reassemble incoming chunks into messages, and split messages into chunks."""
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional

from srsish.core.errors import ProtocolError

# The RTMP spec allows chunk sizes up to 2^31-1; SRS accepts 128..65536 and so do we:
# anything outside is either a broken peer or an attempt to make us buffer without bound.
MIN_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 65536
DEFAULT_CHUNK_SIZE = 128
# The 24-bit length field allows 16 MiB. A 4K keyframe at high bitrate is a few MiB, so
# 8 MiB leaves room for real media while refusing a peer that declares absurd messages.
MAX_MESSAGE_SIZE = 8 * 1024 * 1024
EXTENDED_TIMESTAMP = 0xFFFFFF

_U24 = struct.Struct(">I")
_U32BE = struct.Struct(">I")
_U32LE = struct.Struct("<I")


class ChunkError(ProtocolError):
    """A chunk stream that breaks the protocol or our limits."""


@dataclass(slots=True)
class RawMessage:
    """One reassembled RTMP message."""
    type_id: int
    timestamp: int
    stream_id: int
    payload: bytes
    csid: int = 0


class _InStream:
    """Header state of one incoming chunk stream id."""
    __slots__ = ("timestamp", "delta", "length", "type_id", "stream_id", "has_ext", "parts", "received")

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.has_ext = False
        self.parts: List[bytes] = []
        self.received = 0


class ChunkDecoder:
    """Turns the bytes of an RTMP chunk stream into `RawMessage`s; never touches a socket."""

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.max_message_size = max_message_size
        self._buf = b""
        self._pos = 0
        self._streams: Dict[int, _InStream] = {}

    def set_chunk_size(self, size: int) -> None:
        if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE:
            raise ChunkError(f"peer chunk size {size} outside {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
        self.chunk_size = size

    def abort(self, csid: int) -> None:
        """Drop the partly received message on `csid` (the Abort Message)."""
        st = self._streams.get(csid)
        if st is not None:
            st.parts = []
            st.received = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            self._buf = self._buf[self._pos:] + data
            self._pos = 0
        elif self._buf:
            self._buf += data
        else:
            self._buf = bytes(data)

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next_message(self) -> Optional[RawMessage]:
        """The next complete message, or None when more bytes are needed."""
        while True:
            result = self._read_chunk()
            if result is None:
                return None
            if result is not True:
                return result

    def _read_chunk(self):
        """Parse one chunk. Returns None (need data), True (chunk consumed) or a RawMessage."""
        buf, pos, end = self._buf, self._pos, len(self._buf)
        if pos >= end:
            return None
        b0 = buf[pos]
        fmt = b0 >> 6
        csid = b0 & 0x3F
        p = pos + 1
        if csid == 0:
            if p + 1 > end:
                return None
            csid = 64 + buf[p]
            p += 1
        elif csid == 1:
            if p + 2 > end:
                return None
            csid = 64 + buf[p] + buf[p + 1] * 256
            p += 2
        st = self._streams.get(csid)
        new_stream = st is None
        if new_stream:
            if fmt != 0:
                raise ChunkError(f"chunk stream {csid} starts with fmt {fmt}, not 0")
            st = _InStream()
        starting = st.received == 0
        if fmt == 0:
            if p + 11 > end:
                return None
            ts = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]
            length = (buf[p + 3] << 16) | (buf[p + 4] << 8) | buf[p + 5]
            type_id = buf[p + 6]
            stream_id = _U32LE.unpack_from(buf, p + 7)[0]
            p += 11
        elif fmt == 1:
            if p + 7 > end:
                return None
            ts = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]
            length = (buf[p + 3] << 16) | (buf[p + 4] << 8) | buf[p + 5]
            type_id = buf[p + 6]
            stream_id = st.stream_id
            p += 7
        elif fmt == 2:
            if p + 3 > end:
                return None
            ts = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]
            length, type_id, stream_id = st.length, st.type_id, st.stream_id
            p += 3
        else:
            ts = None
            length, type_id, stream_id = st.length, st.type_id, st.stream_id

        has_ext = st.has_ext if fmt == 3 else ts == EXTENDED_TIMESTAMP
        if has_ext:
            if p + 4 > end:
                return None
            ext = _U32BE.unpack_from(buf, p)[0]
            if fmt == 3 and not starting:
                # Continuation chunks repeat the extended timestamp in librtmp/FFmpeg, but
                # not in every encoder: consume it only when it matches (as SRS does).
                expected = st.timestamp
                if ext == expected:
                    p += 4
            else:
                ts = ext
                p += 4

        if fmt != 3 and not starting:
            raise ChunkError(f"chunk stream {csid}: new header (fmt {fmt}) in the middle of a message")
        if starting:
            if length > self.max_message_size:
                raise ChunkError(f"message length {length} exceeds the {self.max_message_size} byte limit")
        take = min(self.chunk_size, length - st.received)
        if p + take > end:
            return None

        # The whole chunk is here: commit the header state.
        if new_stream:
            self._streams[csid] = st
        if starting:
            if fmt == 0:
                st.timestamp = ts
                st.delta = ts
            elif fmt in (1, 2):
                st.delta = ts
                st.timestamp += ts
            else:
                st.timestamp += st.delta
            st.length, st.type_id, st.stream_id = length, type_id, stream_id
            if fmt != 3:
                st.has_ext = has_ext
            st.timestamp &= 0xFFFFFFFF
        if take:
            st.parts.append(buf[p:p + take])
            st.received += take
        self._pos = p + take
        if st.received < st.length:
            return True
        payload = st.parts[0] if len(st.parts) == 1 else b"".join(st.parts)
        st.parts = []
        st.received = 0
        return RawMessage(st.type_id, st.timestamp, st.stream_id, payload, csid)


def _basic_header(fmt: int, csid: int) -> bytes:
    if csid < 2 or csid > 65599:
        raise ValueError(f"chunk stream id {csid} out of range")
    if csid < 64:
        return bytes(((fmt << 6) | csid,))
    if csid < 320:
        return bytes((fmt << 6, csid - 64))
    v = csid - 64
    return bytes(((fmt << 6) | 1, v & 0xFF, v >> 8))


_BASIC0 = [bytes((c,)) for c in range(64)]


def chunk_header(csid: int, timestamp: int, length: int, type_id: int, stream_id: int) -> bytes:
    """The fmt-0 header that starts a message: basic header, message header, extended timestamp."""
    ts = timestamp & 0xFFFFFFFF
    basic = _basic_header(0, csid) if csid >= 64 else _BASIC0[csid]
    sid = _U32LE.pack(stream_id)
    if ts >= EXTENDED_TIMESTAMP:
        return basic + ((EXTENDED_TIMESTAMP << 32) | (length << 8) | type_id).to_bytes(7, "big") + sid + _U32BE.pack(ts)
    return basic + ((ts << 32) | (length << 8) | type_id).to_bytes(7, "big") + sid


def chunk_tail(payload: bytes, chunk_size: int, csid: int, timestamp: int = 0) -> bytes:
    """The payload with a fmt-3 header before every chunk after the first.

    This is the part of a chunked message that does not depend on the receiver, so it is
    built once per (message, chunk size, csid) and shared by every player.
    With an extended timestamp each fmt-3 header repeats it, as librtmp and FFmpeg expect.
    """
    n = len(payload)
    if n <= chunk_size:
        return payload
    sep = _basic_header(3, csid)
    if timestamp & 0xFFFFFFFF >= EXTENDED_TIMESTAMP:
        sep += _U32BE.pack(timestamp & 0xFFFFFFFF)
    mv = memoryview(payload)
    return sep.join([mv[i:i + chunk_size] for i in range(0, n, chunk_size)])


def encode_message(csid: int, type_id: int, timestamp: int, stream_id: int, payload: bytes,
                   chunk_size: int) -> bytes:
    """A whole message as chunks: fmt-0 header, then the payload split by `chunk_size`."""
    return chunk_header(csid, timestamp, len(payload), type_id, stream_id) + \
        chunk_tail(payload, chunk_size, csid, timestamp)
