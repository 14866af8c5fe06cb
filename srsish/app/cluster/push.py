"""RtmpPush: pushes one published stream to another server (forward, edge publish), retrying while it is down.

The publisher's greenlet only appends to a bounded Consumer queue (`offer`); this object's own greenlet
connects, sends metadata and sequence headers first, then the media, and reconnects every few seconds
after a failure. A down or slow destination never blocks the publisher or its players.
"""
from typing import List, Optional

import gevent
from gevent.event import Event

from srsish.app.live.consumer import Consumer
from srsish.core.ids import new_client_id
from srsish.core.log import get_logger
from srsish.kernel.message import MSG_DATA, SharedMessage
from srsish.app.cluster.upstream import RtmpUpstream, Target, UpstreamError

RETRY_INTERVAL = 3.0      # seconds between attempts at a destination that is down (SRS's forwarder waits 3 s)
QUEUE_LENGTH_MS = 10000   # media queued for a slow destination before whole GOPs are dropped
SEND_TIMEOUT = 30.0       # a destination that takes no bytes for this long is dropped and retried


class RtmpPush:
    """Pushes to the first target that accepts, in order (several targets = failover, as an edge's origins)."""

    def __init__(self, targets: List[Target], what: str, log_id: str) -> None:
        self.targets = targets
        self.what = what                      # "forward" or "edge publish", for the log
        self.id = new_client_id()
        self.log = get_logger(log_id)
        self.queue = Consumer(QUEUE_LENGTH_MS, rebase=False)
        self.metadata: Optional[SharedMessage] = None
        self.video_sh: Optional[SharedMessage] = None
        self.audio_sh: Optional[SharedMessage] = None
        self.upstream: Optional[RtmpUpstream] = None
        self.connected = Event()
        self.send_bytes = 0
        self._stopped = False
        self._greenlet = gevent.spawn(self._run)

    # -- the publisher's side: never blocks ------------------------------------------------
    def offer(self, msg: SharedMessage) -> None:
        if msg.type_id == MSG_DATA:
            self.metadata = msg
        elif msg.is_sequence_header:
            if msg.is_video:
                self.video_sh = msg
            else:
                self.audio_sh = msg
        if self.connected.is_set():
            self.queue.enqueue(msg)

    def stop(self) -> None:
        """Send what is queued (briefly), unpublish and close; returns without waiting for a slow destination."""
        self._stopped = True
        self.queue.close()

    def kill(self) -> None:
        self._stopped = True
        self._greenlet.kill(block=False)

    # -- our greenlet ----------------------------------------------------------------------
    def _run(self) -> None:
        index = 0
        while not self._stopped:
            target = self.targets[index % len(self.targets)]
            upstream = RtmpUpstream(target, self.id)
            try:
                upstream.open("publish")
            except UpstreamError as e:
                self.log.warning("%s to %r failed: %s; retry in %.0fs", self.what, target, e, RETRY_INTERVAL)
                index += 1
                if index % len(self.targets) == 0:
                    gevent.sleep(RETRY_INTERVAL)
                continue
            self.log.info("%s to %r started, server=%s", self.what, target,
                          upstream.server_info.get("srs_server", "?"))
            self.upstream = upstream
            try:
                self._pump(upstream)
            except UpstreamError as e:
                self.log.warning("%s to %r broke: %s; retry in %.0fs", self.what, target, e, RETRY_INTERVAL)
            finally:
                self.connected.clear()
                self.send_bytes += upstream.send_bytes
                self.upstream = None
                upstream.close()
            if not self._stopped:
                gevent.sleep(RETRY_INTERVAL)
        self.log.info("%s stopped, sent %d bytes", self.what, self.send_bytes)

    def _pump(self, upstream: RtmpUpstream) -> None:
        session = upstream.session
        self.queue.fetch()   # nothing stale from before this connection
        self.connected.set()
        for m in (self.metadata, self.video_sh, self.audio_sh):
            if m is not None:
                self._send(session, m)
        need_keyframe = True
        reader = gevent.spawn(self._drain_server, upstream)
        reader.link(lambda g: self.queue.wakeup.set())
        try:
            while True:
                self.queue.wakeup.wait()
                items = self.queue.fetch()
                for m in items:
                    if type(m) is not SharedMessage:
                        continue
                    if need_keyframe and m.is_video and not m.is_sequence_header:
                        if not m.is_keyframe:
                            continue
                        need_keyframe = False
                    self._send(session, m)
                if reader.dead:
                    raise UpstreamError(f"{upstream.target.endpoint}: {reader.exception or 'server closed'}")
                with gevent.Timeout(SEND_TIMEOUT, UpstreamError(f"{upstream.target.endpoint}: send timeout")):
                    upstream.flush()
                if self.queue.closed:
                    session.unpublish()
                    with gevent.Timeout(2.0, False):
                        upstream.flush()
                    return
        finally:
            reader.kill(block=False)

    @staticmethod
    def _send(session, m: SharedMessage) -> None:
        if m.type_id == MSG_DATA:
            session.conn.send_message(5, MSG_DATA, m.timestamp, session.stream_id, _set_data_frame(m.payload))
        else:
            session.send_media(m.type_id, m.timestamp, m.payload)

    def _drain_server(self, upstream: RtmpUpstream) -> None:
        """Read what the destination sends (acks, pings, an error status) so its window never fills."""
        while True:
            ev = upstream.next_event(flush=False)
            code = getattr(ev, "code", "")
            if getattr(ev, "level", "") == "error":
                raise UpstreamError(f"{upstream.target.endpoint}: {code} {getattr(ev, 'description', '')}")
            if self.queue.closed and not self.queue.queue:
                return

    def describe(self) -> dict:
        up = self.upstream
        return {"what": self.what, "targets": [repr(t) for t in self.targets],
                "active": repr(up.target) if up is not None else "", "send_bytes": self.send_bytes}


_SET_DATA_FRAME = b"\x02\x00\x0d@setDataFrame"


def _set_data_frame(payload: bytes) -> bytes:
    """Our metadata message is onMetaData(...); a publisher sends it as @setDataFrame(onMetaData, ...)."""
    return payload if payload.startswith(_SET_DATA_FRAME) else _SET_DATA_FRAME + payload
