"""PlayWriter: an RTMP player's writer greenlet: queue items to chunks (MediaChunker), merged writes to the socket."""
from typing import Any, Callable, List

from srsish.app.live.consumer import Consumer
from srsish.app.live.writer import QueueWriter
from srsish.protocol.rtmp.media import MediaChunker


class PlayWriter(QueueWriter):
    """Sends what the consumer queues: media, the session's control answers, the stream markers.

    It owns its MediaChunker and nothing of the connection's session, so the reading greenlet and
    this one never share an output buffer.
    """

    def __init__(self, sock, consumer: Consumer, chunker: MediaChunker, mw_latency_ms: int, mw_msgs: int,
                 count_sent: Callable[[int], None]) -> None:
        super().__init__(sock, consumer, mw_latency_ms, mw_msgs)
        self.chunker = chunker
        self._count_sent = count_sent
        self._counted = 0

    def on_sent(self) -> None:
        self._count_sent(self.send_bytes - self._counted)
        self._counted = self.send_bytes

    def encode(self, items: List[Any]) -> List[bytes]:
        return self.chunker.encode(items)
