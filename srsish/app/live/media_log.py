"""MediaLog: a source's recent messages in order, read in place by the consumers that keep up."""
from bisect import bisect_right
from typing import Any, Callable, Dict, List, Sequence

import gevent

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
        self.tickers: Dict[float, "Ticker"] = {}
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

    def ticker(self, seconds: float) -> "Ticker":
        """The clock the followers that rest `seconds` between batches share."""
        t = self.tickers.get(seconds)
        if t is None:
            t = self.tickers[seconds] = Ticker(seconds)
        return t

    def view(self, key: Any, make_render: Callable[[Any], Callable[[SharedMessage], Sequence[bytes]]]) -> "RenderedView":
        """The log as the bytes of one receiver view (`key`), shared by every follower with that view.

        `make_render(key)` is called when the view is new; what it returns must not hold the player
        that asked first, since the view outlives it.
        """
        v = self.views.get(key)
        if v is None:
            v = self.views[key] = RenderedView(self, make_render(key))
        return v


class Ticker:
    """Wakes the followers resting at one latency all at once, every `seconds`, while any rest.

    Followers woken together fetch the same span of the log, so their batches are the same bytes
    (one page of a RenderedView, one buffer to send), and one timer serves them all.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.resting: Dict[Any, None] = {}
        self._greenlet = None

    def add(self, consumer: Any) -> None:
        """Wake `consumer` (set its `wakeup`) at the next tick."""
        self.resting[consumer] = None
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        try:
            while self.resting:
                gevent.sleep(self.seconds)
                resting, self.resting = self.resting, {}
                for c in resting:
                    c.wakeup.set()
        finally:
            self._greenlet = None


class RenderedView:
    """The log's messages rendered for one view (e.g. RTMP chunk size, stream id and timestamp base),
    once, by whichever follower needs them first.

    What one call renders is joined into one page, so followers that fetch the same span (those
    woken by one tick) send that page as it is, one buffer; a span that starts or ends inside a
    page gets a memoryview of it. `offsets` count bytes from the view's first message.
    """

    def __init__(self, log: MediaLog, render: Callable[[SharedMessage], Sequence[bytes]]) -> None:
        self.log = log
        self.render = render
        self.pages: List[bytes] = []
        self.page_offsets: List[int] = []  # the offset of each page's first byte
        self.offsets: List[int] = [0]      # offsets[k]: the bytes rendered before position start + k
        self.start = self.end = log.end    # the positions of the first message rendered and the one after the last

    def slice(self, start: int, end: int) -> List[Any]:
        """The bytes of log positions start..end-1 (which the log still holds), as pages or views of them."""
        log = self.log
        if start < self.start or start > self.end:   # not contiguous with what we have: start afresh
            self.pages, self.page_offsets, self.offsets = [], [], [0]
            self.start = self.end = start
        elif self.start < log.start:                 # the log forgot these: so do we
            del self.offsets[:log.start - self.start]
            self.start = log.start
            drop = bisect_right(self.page_offsets, self.offsets[0]) - 1
            if drop > 0:
                del self.pages[:drop], self.page_offsets[:drop]
        offsets = self.offsets
        if end > self.end:
            render, parts = self.render, []
            total = offsets[-1]
            for m in log.items[self.end - log.start:end - log.start]:
                rendered = render(m)
                parts += rendered
                total += sum(map(len, rendered))
                offsets.append(total)
            self.page_offsets.append(offsets[self.end - self.start])
            self.pages.append(b"".join(parts))
            self.end = end
        lo, hi = offsets[start - self.start], offsets[end - self.start]
        out: List[Any] = []
        i = bisect_right(self.page_offsets, lo) - 1
        while lo < hi:
            page, first = self.pages[i], self.page_offsets[i]
            a, b = lo - first, min(hi - first, len(page))
            out.append(page if a == 0 and b == len(page) else memoryview(page)[a:b])
            lo = first + b
            i += 1
        return out

    def size(self, start: int, end: int) -> int:
        """How many bytes `slice(start, end)` holds (call it after that slice)."""
        return self.offsets[end - self.start] - self.offsets[start - self.start]
