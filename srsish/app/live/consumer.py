"""Consumer: one player's bounded queue of shared messages, with SRS's whole-GOP shrink."""
from collections import deque
from typing import Any, Deque, List, Optional, Tuple

import gevent
from gevent.event import Event

from srsish.app.live.media_log import MediaLog
from srsish.kernel.message import SharedMessage


class StreamMarker:
    """A non-media queue item: the publisher left (`unpublish`) or came back (`publish`)."""
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"StreamMarker({self.kind})"


UNPUBLISH = StreamMarker("unpublish")
PUBLISH = StreamMarker("publish")

_CHECK_EVERY = 64


class Consumer:
    """A player's queue: the source appends in O(1); the player's writer greenlet drains it.

    The queue holds at most `queue_length_ms` of media; past that whole GOPs are dropped
    (SRS's shrink) so a slow player costs bounded memory and restarts on a keyframe.
    Timestamps are rebased per consumer so every player starts near zero.

    With a `log` (its source's MediaLog) a consumer whose queue is empty follows the log instead:
    it holds a position (`cursor`) and fetches a slice, and the publisher does nothing for it.
    Anything of its own (`enqueue_item`) or a restart on a keyframe detaches it back to the
    queue until the writer has drained it. A follower more than queue_length behind is detached
    by the source's log trim (then cut back like any queue), or shrunk when it fetches first.
    """
    drops = None   # a player's consumer: the PlayerDrops its owner counts shrinks in (live/drops.py)

    def __init__(self, queue_length_ms: int, rebase: bool = True, log: Optional[MediaLog] = None) -> None:
        self.queue: Deque[Any] = deque()
        self.log = log
        self.cursor: Optional[int] = None   # the position in `log` this consumer reads from, if it follows it
        self.span: Optional[Tuple[int, int]] = None   # the log positions the last fetch returned, if exactly those
        self.wakeup = Event()
        self.queue_length_ms = queue_length_ms
        self.rebase = rebase
        self.base: Optional[int] = None
        self.closed = False
        self.paused = False
        self.dropped = 0
        self._next_check = _CHECK_EVERY
        self._need_keyframe = False

    def enqueue(self, msg: SharedMessage) -> None:
        if self._need_keyframe and (msg.is_video or msg.is_audio) and not msg.is_sequence_header:
            if not msg.is_keyframe:
                self.dropped += 1
                return
            self._need_keyframe = False
        q = self.queue
        q.append(msg)
        if len(q) >= self._next_check:
            self._next_check = len(q) + _CHECK_EVERY
            self._shrink_if_long(msg.timestamp)
        if not self.wakeup.is_set():
            self.wakeup.set()

    def enqueue_item(self, item: Any) -> None:
        """Queue control bytes or a StreamMarker, in order with the media."""
        self.detach()
        self.queue.append(item)
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.cursor = None
        if self.log is not None:
            self.log.detached.pop(self, None)
            self.log.waiting.pop(self, None)
            for ticker in self.log.tickers.values():
                ticker.resting.pop(self, None)
        self.wakeup.set()

    def pending(self) -> int:
        """How many items wait for the writer."""
        if self.cursor is None:
            return len(self.queue)
        return len(self.queue) + self.log.end - self.cursor

    def wait(self) -> None:
        """Block until something is queued or the consumer closes."""
        if self.cursor is not None:
            self.log.waiting[self] = None
        self.wakeup.wait()

    def rest(self, seconds: float) -> None:
        """Let about `seconds` of media gather before the next fetch. A follower rests on its log's
        ticker, with every follower at that latency, so they fetch (and send) the same span; anything
        queued for it (a control answer, a marker) or a close ends the rest early."""
        if self.cursor is None:
            gevent.sleep(seconds)
            return
        self.wakeup.clear()
        self.log.ticker(seconds).add(self)
        self.wakeup.wait()

    def fetch(self) -> List[Any]:
        """Everything queued, oldest first; the queue is left empty."""
        self.wakeup.clear()
        self.span = None
        if self.cursor is not None:
            return self._fetch_from_log()
        q = self.queue
        items = list(q)
        q.clear()
        self._next_check = _CHECK_EVERY
        self.follow()
        return items

    def follow(self) -> None:
        """Read from the log from now on, if there is one and nothing of our own is queued."""
        log = self.log
        if log is not None and not self.queue and not self._need_keyframe and not self.closed:
            self.cursor = log.end
            log.detached.pop(self, None)

    def detach(self) -> None:
        """Back to a queue of our own: what we had not read from the log goes into it first (and is
        cut back there if it is longer than queue_length)."""
        if self.cursor is None:
            return
        unread = self.log.since(self.cursor)
        self.cursor = None
        self.log.detached[self] = None
        for m in unread:
            self.enqueue(m)
        if unread:
            self._shrink_if_long(unread[-1].timestamp)

    def _fetch_from_log(self) -> List[Any]:
        log = self.log
        items = log.since(self.cursor)
        self.span = (self.cursor, log.end)
        self.cursor = log.end
        if items and items[-1].timestamp - items[0].timestamp > self.queue_length_ms:
            self.span = None
            # Fell behind: the same whole-GOP shrink as the queue's, on what it would send now.
            self.queue = deque(items)
            self._shrink_if_long(items[-1].timestamp)
            items = list(self.queue)
            self.queue.clear()
            self._next_check = _CHECK_EVERY
            if self._need_keyframe:
                self.cursor = None
                log.detached[self] = None
        return items

    def _shrink_if_long(self, last_ts: int) -> None:
        first_ts = None
        for item in self.queue:
            if type(item) is SharedMessage and (item.is_video or item.is_audio):
                first_ts = item.timestamp
                break
        if first_ts is None or last_ts - first_ts <= self.queue_length_ms:
            return
        items = list(self.queue)
        keep_from = None
        has_video = False
        for i in range(len(items) - 1, -1, -1):
            it = items[i]
            if type(it) is SharedMessage and it.is_video:
                has_video = True
                if it.is_keyframe:
                    keep_from = i
                    break
        if not has_video:
            # Audio alone has no keyframe to wait for: keep its newest queue_length.
            keep_from = next(i for i, it in enumerate(items) if type(it) is SharedMessage and it.is_audio
                             and last_ts - it.timestamp <= self.queue_length_ms)
        elif keep_from is None or items[keep_from].timestamp == first_ts:
            # The newest GOP alone is too long: drop all media and restart at the next keyframe.
            keep_from = len(items)
            self._need_keyframe = True
        # Keep what a decoder needs whatever was dropped: metadata, sequence headers, markers.
        kept = [it for it in items[:keep_from]
                if type(it) is not SharedMessage or it.is_sequence_header or not (it.is_video or it.is_audio)]
        if self.drops is not None:
            self.drops.shrunk(not self.dropped, keep_from - len(kept))
        self.dropped += keep_from - len(kept)
        self.queue = deque(kept + items[keep_from:])
        self._next_check = len(self.queue) + _CHECK_EVERY

    def relative_timestamp(self, ts: int) -> int:
        """The timestamp this player sees: rebased so its first message is at zero."""
        if not self.rebase:
            return ts
        base = self.base
        if base is None:
            self.base = base = ts
        return ts - base if ts > base else 0
