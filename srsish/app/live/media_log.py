"""MediaLog: a source's recent messages in order, read in place by the consumers that keep up."""
from typing import Any, Dict, List

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
        self.waiting: List[Any] = []           # followers whose writer sleeps until the next message
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
        """Forget the messages before position `keep_from` (the slowest follower's)."""
        drop = min(keep_from, self.end) - self.start
        if drop > 0:
            del self.items[:drop]
            self.start += drop
