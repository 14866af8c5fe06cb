"""MediaChunker: one player's RTMP media output, with the chunked payload shared by every player."""
from typing import Any, Callable, Dict, List, Tuple

from srsish.kernel.message import SharedMessage
from srsish.protocol.rtmp.chunk import EXTENDED_TIMESTAMP, chunk_header, chunk_tail
from srsish.protocol.rtmp.connection import CSID_AUDIO, CSID_OVER_STREAM, CSID_VIDEO


def media_csid(message: SharedMessage) -> int:
    """The chunk stream a published message goes out on."""
    return CSID_VIDEO if message.is_video else (CSID_AUDIO if message.is_audio else CSID_OVER_STREAM)


class MediaChunker:
    """Turns queue items into buffers for one player; the hot path of fan-out.

    A message goes out as its fmt-0 header (12 bytes, 16 with an extended timestamp) and its
    tail: the payload cut into chunks with fmt-3 headers, which depends only on (chunk size,
    csid) and, with an extended timestamp, on the timestamp, and is cached on the SharedMessage.
    The header depends on the player only through (chunk size, stream id, the player's
    timestamp), so the pair is shared in `SharedMessage.renderings` under that key: players
    that joined on the same GOP see the same timestamps, and for them a message costs one dict
    lookup instead of building a header.

    Items are SharedMessages, pre-rendered bytes (control replies), or keys of `prerendered`
    (e.g. the stream markers, whose status messages are rendered once when play starts).
    """
    __slots__ = ("chunk_size", "stream_id", "timestamp_of", "prerendered")

    def __init__(self, chunk_size: int, stream_id: int, timestamp_of: Callable[[int], int],
                 prerendered: Dict[Any, bytes]) -> None:
        self.chunk_size = chunk_size
        self.stream_id = stream_id
        self.timestamp_of = timestamp_of   # the player's view of a source timestamp
        self.prerendered = prerendered

    def encode(self, items: List[Any]) -> List[bytes]:
        out: List[bytes] = []
        rel = self.timestamp_of
        size, sid = self.chunk_size, self.stream_id
        for m in items:
            if type(m) is SharedMessage:
                key = (size, sid, rel(m.timestamp))
                rendering = m.renderings.get(key)
                if rendering is None:
                    rendering = m.share(key, self.render(m, key[2]))
                out += rendering
            elif type(m) is bytes:
                if m:
                    out.append(m)
            else:
                out.append(self.prerendered[m])
        return out

    def render(self, m: SharedMessage, ts: int) -> Tuple[bytes, bytes]:
        """(fmt-0 header, tail) of `m` at this player's timestamp `ts`."""
        size = self.chunk_size
        csid = CSID_VIDEO if m.is_video else (CSID_AUDIO if m.is_audio else CSID_OVER_STREAM)
        payload = m.payload
        header = chunk_header(csid, ts, len(payload), m.type_id, self.stream_id)
        if len(payload) <= size:
            return header, payload
        key = (size, csid) if ts < EXTENDED_TIMESTAMP else (size, csid, ts)
        tail = m.cache.get(key)
        if tail is None:
            tail = m.cache[key] = chunk_tail(payload, size, csid, ts)
        return header, tail
