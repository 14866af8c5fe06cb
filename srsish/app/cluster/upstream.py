"""RtmpUpstream: one outgoing RTMP connection (edge pull, edge push, forward) driving a ClientSession over a socket."""
import socket
import time
from typing import Any, Optional, Tuple
from urllib.parse import urlsplit

import gevent
from gevent import Timeout

from srsish.core.naming import DEFAULT_VHOST
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.session import events as se
from srsish.protocol.rtmp.session.client import ClientSession

CONNECT_TIMEOUT = 5.0     # TCP connect + handshake + connect + createStream + publish/play answer
RECV_SIZE = 64 * 1024
DEFAULT_PORT = 1935


class UpstreamError(Exception):
    """The other server could not be reached, refused us, or the connection broke; the text says which."""


def parse_host_port(text: str) -> Tuple[str, int]:
    """SRS's `origin`/`destination` item: `host[:port]` (port 1935 when left out); ValueError if malformed."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError(f'"{text}" has no host')
    number = int(port) if port else DEFAULT_PORT
    if not 0 < number < 65536:
        raise ValueError(f'"{text}": port {number} is out of range')
    return host, number


class Target:
    """Where an upstream connection goes and what it asks for: host, port, tcUrl, app and the stream with its query."""

    def __init__(self, host: str, port: int, app: str, stream: str, param: str = "", vhost: str = "",
                 tc_url: str = "") -> None:
        self.host, self.port, self.app, self.stream, self.param = host, port, app, stream, param
        if not tc_url:
            tc_url = f"rtmp://{host}:{port}/{app}"
            if vhost and vhost != DEFAULT_VHOST:
                tc_url += f"?vhost={vhost}"
        self.tc_url = tc_url

    @classmethod
    def from_url(cls, url: str) -> "Target":
        """`rtmp://host[:port]/app[/more]/stream[?query]` (a backend's forward URL); ValueError if it is not one."""
        parts = urlsplit(url)
        if parts.scheme != "rtmp" or not parts.hostname:
            raise ValueError(f"not an rtmp:// URL: {url!r}")
        path = parts.path.strip("/")
        app, _, stream = path.rpartition("/")
        if not app or not stream:
            raise ValueError(f"no app/stream in {url!r}")
        return cls(parts.hostname, parts.port or DEFAULT_PORT, app, stream, "?" + parts.query if parts.query else "")

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def stream_name(self) -> str:
        return self.stream + self.param

    def __repr__(self) -> str:
        return f"rtmp://{self.endpoint}/{self.app}/{self.stream_name}"


class RtmpUpstream:
    """A client-role RTMP connection over a gevent socket: connect and play or publish, then media in or out.

    One greenlet reads (`next_event`); writes (`send_*`) may come from the same greenlet only.
    """

    def __init__(self, target: Target, client_id: str) -> None:
        self.target = target
        self.client_id = client_id
        self.session = ClientSession(now_ms=int(time.monotonic() * 1000) & 0xFFFFFFFF)
        self.sock: Optional[socket.socket] = None
        self.send_bytes = 0
        self.recv_bytes = 0
        self.connected_at = 0.0
        self.server_info: dict = {}

    # -- set-up --------------------------------------------------------------------------
    def open(self, verb: str, timeout: float = CONNECT_TIMEOUT, connect_args: Optional[dict] = None) -> None:
        """Connect, then `play` or `publish` the target's stream; returns once the server said Start.

        Raises UpstreamError (with the server's description when it refused).
        """
        t = self.target
        try:
            with Timeout(timeout, UpstreamError(f"{t.endpoint}: no answer within {timeout:.0f}s")):
                self.sock = socket.create_connection((t.host, t.port))
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.session.connect(t.tc_url, t.app, **(connect_args or {}))
                self._await(se.Connected, "connect")
                if verb == "publish":
                    self.session.publish(t.stream_name)
                    self._await_status("NetStream.Publish.Start")
                else:
                    self.session.play(t.stream_name)
                    self._await_status("NetStream.Play.Start")
        except OSError as e:
            self.close()
            raise UpstreamError(f"{t.endpoint}: {e}") from None
        except BaseException:
            self.close()
            raise
        self.connected_at = time.time()

    def check_connect(self, timeout: float, connect_args: Optional[dict] = None) -> None:
        """Only `connect` (token traverse): returns if the server accepted it, else UpstreamError."""
        t = self.target
        try:
            with Timeout(timeout, UpstreamError(f"{t.endpoint}: no answer within {timeout:.0f}s")):
                self.sock = socket.create_connection((t.host, t.port))
                self.session.connect(t.tc_url, t.app, **(connect_args or {}))
                self._await(se.Connected, "connect")
        except OSError as e:
            raise UpstreamError(f"{t.endpoint}: {e}") from None
        finally:
            self.close()

    def _await(self, kind: type, what: str) -> Any:
        while True:
            ev = self.next_event()
            if isinstance(ev, kind):
                if isinstance(ev, se.Connected) and isinstance(ev.info, dict):
                    data = ev.info.get("data")
                    self.server_info = dict(data) if isinstance(data, dict) else {}
                return ev
            if isinstance(ev, (se.ConnectRejected, se.CallFailed)):
                raise UpstreamError(f"{self.target.endpoint}: {what} refused: {_describe(ev.info)}")
            if isinstance(ev, se.Status) and ev.level == "error":
                raise UpstreamError(f"{self.target.endpoint}: {what} refused: {ev.code} {ev.description}".rstrip())

    def _await_status(self, code: str) -> None:
        while True:
            ev = self._await(se.Status, code)
            if ev.code == code:
                return

    # -- running -------------------------------------------------------------------------
    def next_event(self, flush: bool = True) -> Any:
        """The next session event, reading the socket as needed; UpstreamError when it closes.

        `flush=False` for a reader greenlet beside a writer: then only the writer sends (acks included).
        """
        while True:
            ev = self.session.next_event()
            if ev is not rc.NEED_DATA:
                if isinstance(ev, rc.ConnectionClosed):
                    raise UpstreamError(f"{self.target.endpoint}: server closed the connection")
                return ev
            if flush:
                self.flush()
            self._recv()

    def _recv(self) -> None:
        if self.sock is None:
            raise UpstreamError(f"{self.target.endpoint}: not connected")
        try:
            data = self.sock.recv(RECV_SIZE)
        except OSError as e:
            raise UpstreamError(f"{self.target.endpoint}: recv: {e}") from None
        if not data:
            raise UpstreamError(f"{self.target.endpoint}: server closed the connection")
        self.recv_bytes += len(data)
        self.session.receive_data(data)

    def flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.sock is not None:
            try:
                self.sock.sendall(data)
            except OSError as e:
                raise UpstreamError(f"{self.target.endpoint}: send: {e}") from None
            self.send_bytes += len(data)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def _describe(info: Any) -> str:
    if isinstance(info, dict):
        return str(info.get("description") or info.get("code") or info)
    return str(info)


def sleep_unless_stopped(seconds: float, stopped) -> bool:
    """Wait `seconds` or until the event `stopped` is set; True if it was set."""
    return bool(stopped.wait(seconds)) if stopped is not None else (gevent.sleep(seconds) or False)
