"""MediaLog: a source's recent messages in order, read in place by the consumers that keep up."""
from typing import Any, Callable, Dict, List, Sequence

from srsish.kernel.message import SharedMessage

TRIM_EVERY = 64   # appends between two trims of what no follower needs any more


class MediaLog:
    """The published messages, each appended once, indexed by a position that never changes meaning.

    A consumer that keeps up (a follower) holds only a position here: the publisher does no work
    per follower, and a follower's fetch is one slice. A consumer with something of its own to
    send first (the GOP burst, a control answer, a stream marker, a restart on a keyframe) is
    `detached`: the source appends to its own queue, as before, until it has drained it.
    """

    def __init__(self) -> None:
        self.items: List[SharedMessage] = []
        self.start = 0                         # the position of items[0]
        self.detached: Dict[Any, None] = {}    # consumers fed one by one, in the order they detached
        self.waiting: Dict[Any, None] = {}     # followers whose writer sleeps until the next message
        self.views: Dict[Any, "RenderedView"] = {}
        self._appends = 0

    @property
    def end(self) -> int:
        """The position the next message will get."""
        return self.start + len(self.items)

    def since(self, position: int) -> List[SharedMessage]:
        return self.items[position - self.start:]

    def append(self, msg: SharedMessage) -> bool:
        """Add `msg` and wake the followers waiting for it; True when it is time to trim."""
        self.items.append(msg)
        if self.waiting:
            for c in self.waiting:
                c.wakeup.set()
            self.waiting.clear()
        self._appends += 1
        return self._appends % TRIM_EVERY == 0

    def trim(self, keep_from: int) -> None:
        """Forget the messages before position `keep_from` (the slowest follower's), and unused views."""
        drop = min(keep_from, self.end) - self.start
        if drop > 0:
            del self.items[:drop]
            self.start += drop
            for key in [k for k, v in self.views.items() if v.end <= self.start]:
                del self.views[key]

    def view(self, key: Any, make_render: Callable[[Any], Callable[[SharedMessage], Sequence[bytes]]],
             per: int) -> "RenderedView":
        """The log as the bytes of one receiver view (`key`), shared by every follower with that view.

        `make_render(key)` is called when the view is new; what it returns must not hold the player
        that asked first, since the view outlives it.
        """
        v = self.views.get(key)
        if v is None:
            v = self.views[key] = RenderedView(self, make_render(key), per)
        return v


class RenderedView:
    """The log's messages rendered for one view (e.g. RTMP chunk size, stream id and timestamp base):
    `per` buffers a message, rendered once by whichever follower needs them first. A follower's
    batch is then one slice of `buffers`, whatever the number of messages in it.
    """

    def __init__(self, log: MediaLog, render: Callable[[SharedMessage], Sequence[bytes]], per: int) -> None:
        self.log = log
        self.render = render
        self.per = per
        self.buffers: List[bytes] = []
        self.offsets: List[int] = [0]     # offsets[k]: the bytes rendered before position start + k
        self.start = self.end = log.end   # the positions of the first message rendered and the one after the last

    def slice(self, start: int, end: int) -> List[bytes]:
        """The buffers of log positions start..end-1 (which the log still holds)."""
        log, per = self.log, self.per
        if start < self.start or start > self.end:   # not contiguous with what we have: start afresh
            self.buffers = []
            self.offsets = [0]
            self.start = self.end = start
        elif self.start < log.start:                 # the log forgot these: so do we
            del self.buffers[:(log.start - self.start) * per]
            del self.offsets[:log.start - self.start]
            self.start = log.start
        if end > self.end:
            render, buffers, offsets = self.render, self.buffers, self.offsets
            for m in log.items[self.end - log.start:end - log.start]:
                parts = render(m)
                buffers += parts
                offsets.append(offsets[-1] + sum(map(len, parts)))
            self.end = end
        return self.buffers[(start - self.start) * per:(end - self.start) * per]

    def size(self, start: int, end: int) -> int:
        """How many bytes `slice(start, end)` holds (call it after that slice)."""
        return self.offsets[end - self.start] - self.offsets[start - self.start]
