"""PlayWriter: an RTMP player's writer greenlet: queue items to chunks (MediaChunker), merged writes to the socket."""
from typing import Any, Callable, List, Tuple

from srsish.app.live.consumer import Consumer
from srsish.app.live.writer import QueueWriter, rebased
from srsish.kernel.message import SharedMessage
from srsish.protocol.rtmp.media import MediaChunker


def rtmp_view_render(key: Tuple[str, int, int, Any]) -> Callable[[SharedMessage], List[bytes]]:
    """How the log view ("rtmp", chunk size, stream id, timestamp base) renders a message:
    (chunk header, chunks), with a chunker of its own, since the view outlives any player."""
    _, chunk_size, stream_id, base = key
    chunker = MediaChunker(chunk_size, stream_id, rebased(base), {})
    return lambda m: chunker.encode([m])


class PlayWriter(QueueWriter):
    """Sends what the consumer queues: media, the session's control answers, the stream markers.

    It owns its MediaChunker and nothing of the connection's session, so the reading greenlet and
    this one never share an output buffer.
    """

    def __init__(self, sock, consumer: Consumer, chunker: MediaChunker, mw_latency_ms: int, mw_msgs: int,
                 count_sent: Callable[[int], None], duration_ms: float = -1.0, stop_notice: bytes = b"") -> None:
        super().__init__(sock, consumer, mw_latency_ms, mw_msgs)
        self.chunker = chunker
        self._count_sent = count_sent
        self._counted = 0
        # play's duration argument (SRS: the sum of timestamp steps of the messages sent, checked per batch)
        self.duration_ms = duration_ms
        self.played_ms = 0
        self._last_ts = None
        self._stop_notice = stop_notice
        self.duration_reached = False

    def on_sent(self) -> None:
        self._count_sent(self.send_bytes - self._counted)
        self._counted = self.send_bytes

    def encode(self, items: List[Any]) -> List[bytes]:
        if self.span is not None and items:
            # Straight from the source's log: the bytes every player with this view shares, one slice.
            chunker = self.chunker
            key = ("rtmp", chunker.chunk_size, chunker.stream_id, self.view_base(items))
            out = self.consumer.log.view(key, rtmp_view_render).slice(*self.span)
        else:
            out = self.chunker.encode(items)
        if self.duration_ms > 0:
            self._count_duration(items)
            if self.played_ms >= self.duration_ms:
                out.append(self._stop_notice)
                self.duration_reached = self.finished = True
        return out

    def _count_duration(self, items: List[Any]) -> None:
        # The timestamps the player is sent: a late player's metadata and sequence headers keep the
        # source's old timestamps, and the step from them to the GOP cache is no time played.
        relative = self.consumer.relative_timestamp
        for m in items:
            if type(m) is SharedMessage:
                ts = relative(m.timestamp)
                last = self._last_ts
                if last is None or last > ts:
                    last = ts
                self.played_ms += ts - last
                self._last_ts = ts
