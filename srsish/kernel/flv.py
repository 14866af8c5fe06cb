"""FLV file framing: the file header, tag headers and previous-tag sizes, and a small tag reader."""
import struct
from dataclasses import dataclass
from typing import Iterator

from srsish.core.errors import MediaError

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18

TAG_HEADER_SIZE = 11
FILE_HEADER_SIZE = 9
_U32 = struct.Struct(">I")
# type + 24-bit size | low 24 timestamp bits + high 8 | 24-bit stream id (0), packed as 4 + 4 + 2 + 1 bytes
_TAG_HEADER = struct.Struct(">IIHB")


class FlvError(MediaError):
    """Bytes that are not a well-formed FLV file."""


def file_header(has_audio: bool = True, has_video: bool = True) -> bytes:
    """The 9-byte FLV header and the first PreviousTagSize (0): the 13 bytes every FLV file starts with."""
    flags = (0x04 if has_audio else 0) | (0x01 if has_video else 0)
    return b"FLV\x01" + bytes((flags,)) + _U32.pack(FILE_HEADER_SIZE) + _U32.pack(0)


def tag_header(type_id: int, timestamp: int, size: int) -> bytes:
    """The 11-byte tag header: type, 24-bit size, timestamp (low 24 bits, then the high 8), stream id 0.

    HTTP-FLV calls this once per message per viewer: one struct pack is the fastest way found.
    """
    if size >> 24:   # also true for a negative size
        raise FlvError(f"an FLV tag body holds at most 16 MiB, not {size} bytes")
    return _TAG_HEADER.pack((type_id << 24) | size, ((timestamp & 0xFFFFFF) << 8) | ((timestamp >> 24) & 0xFF), 0, 0)


def previous_tag_size(body_size: int) -> bytes:
    """The 4 bytes after a tag: the size of that tag, header included."""
    return _U32.pack(TAG_HEADER_SIZE + body_size)


def tag(type_id: int, timestamp: int, body: bytes) -> bytes:
    """One whole tag: header, body and the previous-tag size that follows it."""
    return tag_header(type_id, timestamp, len(body)) + bytes(body) + previous_tag_size(len(body))


@dataclass(frozen=True)
class Tag:
    """A tag read back from a file; `offset` is where its header starts."""
    type_id: int
    timestamp: int
    body: bytes
    offset: int


def read_header(data: bytes) -> tuple:
    """(has_audio, has_video, offset of the first tag) of an FLV file's first bytes."""
    if len(data) < FILE_HEADER_SIZE + 4 or data[:3] != b"FLV":
        raise FlvError("not an FLV file")
    flags = data[4]
    data_offset = _U32.unpack_from(data, 5)[0]
    return bool(flags & 0x04), bool(flags & 0x01), data_offset + 4


def read_tags(data: bytes, strict: bool = True) -> Iterator[Tag]:
    """Every tag of an FLV file held in memory, checking each previous-tag size when `strict`.

    A truncated last tag ends the iteration (a file cut short is still readable up to there).
    """
    _, _, pos = read_header(data)
    n = len(data)
    while pos + TAG_HEADER_SIZE <= n:
        type_id = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        end = pos + TAG_HEADER_SIZE + size
        if end + 4 > n:
            return
        if strict and _U32.unpack_from(data, end)[0] != TAG_HEADER_SIZE + size:
            raise FlvError(f"bad previous-tag size after the tag at offset {pos}")
        yield Tag(type_id, ts, bytes(data[pos + TAG_HEADER_SIZE:end]), pos)
        pos = end + 4


@dataclass(frozen=True)
class FlvScan:
    """What a file cut short holds: where its last whole tag ends, its time span, its first script tag."""
    end: int                  # offset just past the last whole tag (and its previous-tag size)
    tags: int
    first_ts: int
    last_ts: int              # the largest timestamp seen
    script_body: int = -1     # offset of the first script tag's body, -1 when none
    script_size: int = 0

    @property
    def duration_ms(self) -> int:
        return self.last_ts - self.first_ts if self.tags else 0


def scan(data) -> FlvScan:
    """Walk the tags of an FLV file that may end torn (bytes, or an mmap of a large file).

    Stops at the first tag that is not whole, not audio/video/script, or whose previous-tag size
    disagrees: whatever follows it (a torn write, zeros a power loss left) is not the file.
    """
    _, _, pos = read_header(data[:FILE_HEADER_SIZE + 4])
    n = len(data)
    tags = first_ts = last_ts = 0
    script_body, script_size = -1, 0
    while pos + TAG_HEADER_SIZE + 4 <= n:
        type_id = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        end = pos + TAG_HEADER_SIZE + size
        if type_id not in (TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT) or end + 4 > n:
            break
        if _U32.unpack(data[end:end + 4])[0] != TAG_HEADER_SIZE + size:
            break
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        if tags == 0:
            first_ts = last_ts = ts
        last_ts = max(last_ts, ts)
        if type_id == TAG_SCRIPT and script_body < 0:
            script_body, script_size = pos + TAG_HEADER_SIZE, size
        tags += 1
        pos = end + 4
    return FlvScan(pos, tags, first_ts, last_ts, script_body, script_size)
