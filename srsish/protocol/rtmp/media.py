"""MediaChunker: one player's RTMP media output, with the chunked payload shared by every player."""
from typing import Any, Callable, Dict, List

from srsish.kernel.message import SharedMessage
from srsish.protocol.rtmp.chunk import EXTENDED_TIMESTAMP, chunk_header, chunk_tail
from srsish.protocol.rtmp.connection import CSID_AUDIO, CSID_OVER_STREAM, CSID_VIDEO


def media_csid(message: SharedMessage) -> int:
    """The chunk stream a published message goes out on."""
    return CSID_VIDEO if message.is_video else (CSID_AUDIO if message.is_audio else CSID_OVER_STREAM)


class MediaChunker:
    """Turns queue items into buffers for one player; the hot path of fan-out.

    Per message only the fmt-0 header (12 bytes, 16 with an extended timestamp) is built for
    this player. The rest of the message, the payload cut into chunks with fmt-3 headers,
    depends only on (chunk size, csid) and, with an extended timestamp, on the timestamp: it
    is built once and cached on the SharedMessage for every other player.

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
        append = out.append
        rel = self.timestamp_of
        size, sid = self.chunk_size, self.stream_id
        prerendered = self.prerendered
        for m in items:
            if type(m) is SharedMessage:
                csid = CSID_VIDEO if m.is_video else (CSID_AUDIO if m.is_audio else CSID_OVER_STREAM)
                ts = rel(m.timestamp)
                payload = m.payload
                append(chunk_header(csid, ts, len(payload), m.type_id, sid))
                if len(payload) > size:
                    key = (size, csid) if ts < EXTENDED_TIMESTAMP else (size, csid, ts)
                    tail = m.cache.get(key)
                    if tail is None:
                        tail = m.cache[key] = chunk_tail(payload, size, csid, ts)
                    append(tail)
                else:
                    append(payload)
            elif type(m) is bytes:
                if m:
                    append(m)
            else:
                append(prerendered[m])
        return out
