"""QueueWriter: a player's writer greenlet that drains its consumer and sends merged writes."""
import socket
from typing import Any, Callable, List

import gevent
from gevent import Timeout

from srsish.app.live.consumer import Consumer
from srsish.kernel.message import SharedMessage

IOV_MAX = 1000   # Linux allows 1024 buffers per sendmsg
SEND_TIMEOUT = 30.0
MIN_LATENCY_WAIT = 0.05   # the longest a min_latency player waits to gather mw_msgs messages
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


class SendTimeout(Exception):
    """A player made no progress for SEND_TIMEOUT seconds."""


def rebased(base: Any) -> Callable[[int], int]:
    """The timestamps of a view whose base is `base` (see QueueWriter.view_base), as
    Consumer.relative_timestamp gives them to a player with that base."""
    if base == "absolute":
        return lambda ts: ts
    return lambda ts: ts - base if ts > base else 0


def send_now(sock, buffers: List[Any]) -> int:
    """One sendmsg that never waits: how many bytes the socket took (0 when it is full or has no sendmsg)."""
    if not _DONTWAIT or len(buffers) > IOV_MAX:
        return 0
    try:
        return sock.sendmsg(buffers, (), _DONTWAIT)
    except (BlockingIOError, NotImplementedError):
        return 0


def unsent(buffers: List[Any], sent: int) -> List[Any]:
    """What is left of `buffers` once their first `sent` bytes went out."""
    for j, b in enumerate(buffers):
        blen = len(b)
        if sent < blen:
            return [memoryview(b)[sent:] if sent else b] + buffers[j + 1:]
        sent -= blen
    return []


def send_iov(sock, buffers: List[Any]) -> int:
    """Write every buffer with as few sendmsg calls as possible; loops on partial sends."""
    total = 0
    i, n = 0, len(buffers)
    while i < n:
        batch = buffers[i:i + IOV_MAX]
        try:
            sent = sock.sendmsg(batch)
        except NotImplementedError:   # a TLS socket (HTTPS viewer) has no sendmsg: one joined write
            rest = b"".join(buffers[i:])
            sock.sendall(rest)
            return total + len(rest)
        total += sent
        for j, b in enumerate(batch):
            blen = len(b)
            if sent >= blen:
                sent -= blen
                continue
            if sent:
                buffers[i + j] = memoryview(b)[sent:]
            i += j
            break
        else:
            i += len(batch)
    return total


class QueueWriter:
    """Waits for the consumer, sleeps `mw_latency` to gather more, encodes, sends in one go.

    The first batch (metadata, sequence headers, GOP cache) goes out at once so a new player
    starts immediately. Subclasses turn queue items into buffers in `encode`.
    """

    def __init__(self, sock, consumer: Consumer, mw_latency_ms: int, mw_msgs: int = 0) -> None:
        self.sock = sock
        self.consumer = consumer
        self.mw_latency = max(0, mw_latency_ms) / 1000.0
        self.mw_msgs = max(0, mw_msgs)
        self.send_bytes = 0
        self.finished = False   # set by a subclass to end the stream after this batch
        self.span = None        # log positions of the batch being encoded, when it is exactly those (see encode)
        self.error: Exception = None   # why the writer stopped early (socket error, send timeout)

    def run(self) -> None:
        """The greenlet body: returns when the consumer closes, the stream ends, or a send fails."""
        try:
            self._loop()
        except (OSError, SendTimeout) as e:
            self.error = e
            if type(e) is SendTimeout and self.consumer.drops is not None:
                self.consumer.drops.cut_off("send_timeout")

    def _loop(self) -> None:
        consumer = self.consumer
        first = True
        while not consumer.closed and not self.finished:
            if not consumer.pending():
                consumer.wait()
                if consumer.closed:
                    break
                if not first:
                    self._gather()
            first = False
            items = consumer.fetch()
            self.span = consumer.span
            if consumer.paused:
                items = [it for it in items if type(it) is not SharedMessage]
                self.span = None
            buffers = self.encode(items)
            if buffers:
                self.send_bytes += self._send(buffers)
                self.on_sent()
            if self.mw_latency and not self.finished:
                # Gather the next batch now: a live stream has queued more by the time we wake, so
                # the loop goes straight to fetch, with no wake-up from the publisher in between.
                consumer.rest(self.mw_latency)

    def _send(self, buffers: List[Any]) -> int:
        """Usually one sendmsg that the socket takes whole; the timer is armed only when it must wait."""
        sent = send_now(self.sock, buffers)
        if sent == sum(map(len, buffers)):
            return sent
        with Timeout(SEND_TIMEOUT, SendTimeout(f"send timeout: no progress for {SEND_TIMEOUT:.0f}s")):
            return sent + send_iov(self.sock, unsent(buffers, sent))

    def _gather(self) -> None:
        """Let more messages queue up so one send carries several.

        With `mw_latency` we sleep that long (SRS's merged write). In min_latency mode there is
        no sleep, but with `mw_msgs` set we still wait until that many messages are queued,
        for at most MIN_LATENCY_WAIT.
        """
        if self.mw_latency:
            gevent.sleep(self.mw_latency)
            return
        consumer = self.consumer
        if self.mw_msgs <= 1:
            return
        with Timeout(MIN_LATENCY_WAIT, False):
            while consumer.pending() < self.mw_msgs and not consumer.closed:
                consumer.wakeup.clear()
                consumer.wait()

    def encode(self, items: List[Any]) -> List[Any]:
        """The buffers for `items`. When `self.span` is set, items are exactly those positions of the
        consumer's MediaLog, and a subclass may return a slice of a shared RenderedView instead."""
        raise NotImplementedError

    def view_base(self, items: List[Any]) -> Any:
        """What, besides the protocol's own settings, makes this player's bytes differ: its timestamp base."""
        consumer = self.consumer
        if not consumer.rebase:
            return "absolute"
        if consumer.base is None:
            consumer.relative_timestamp(items[0].timestamp)   # the first message sets it, as it always has
        return consumer.base

    def on_sent(self) -> None:
        """Called after each batch; lets the owner count bytes."""
