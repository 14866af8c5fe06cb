"""ViewerWatch: notices a streaming HTTP viewer leaving without a greenlet of its own per viewer."""
from typing import Callable, Optional

import gevent

RECV_CHUNK = 4096


class ViewerWatch:
    """Watches the read side of a socket whose owner only writes (an HTTP-FLV viewer).

    A viewer sends nothing after its request, so a greenlet parked in `recv` per viewer would cost
    about 8 KB each to learn only that it left. An io watcher costs almost nothing: when the socket
    turns readable (the viewer closed, or did send something), it stops and starts a short-lived
    greenlet that reads once; end of stream or an error calls `on_leave` (once), anything else is
    counted in `conn.recv_bytes` and the watch goes on. Reading through the socket object keeps TLS
    sockets right.
    """

    def __init__(self, conn, on_leave: Callable[[], None]) -> None:
        self.conn = conn
        self.on_leave = on_leave
        self.left: Optional[str] = None   # why the viewer is gone ("closed", or the socket error)
        self._reader: Optional[gevent.Greenlet] = None
        self._io = gevent.get_hub().loop.io(conn.sock.fileno(), 1)
        self._io.start(self._readable)

    def _readable(self) -> None:   # runs in the hub: must not block
        self._io.stop()
        self._reader = gevent.spawn(self._read_once)

    def _read_once(self) -> None:
        try:
            data = self.conn.sock.recv(RECV_CHUNK)
        except OSError as e:
            self._leave(f"socket: {e}")
            return
        if not data:
            self._leave("closed")
            return
        self.conn.recv_bytes += len(data)
        if self._io is not None:
            self._io.start(self._readable)

    def _leave(self, why: str) -> None:
        self.left = why
        self.on_leave()

    def stop(self) -> None:
        """Stop watching (the stream ended some other way)."""
        if self._io is not None:
            self._io.stop()
            self._io.close()
            self._io = None
        if self._reader is not None and self._reader is not gevent.getcurrent():
            self._reader.kill(block=False)
