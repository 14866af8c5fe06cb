"""An in-process HTTP/1.1 hook backend (gevent) that records raw requests and answers as scripted."""
import socket
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import gevent
import gevent.pool
import gevent.ssl
from gevent.server import StreamServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"0"
    delay: float = 0.0
    drop: bool = False  # close the connection without answering


@dataclass
class Req:
    conn: int
    method: str
    target: str
    headers: list
    body: bytes


@dataclass
class Backend:
    """An HTTP/1.1 server on 127.0.0.1 (gevent StreamServer) that records raw requests and answers as scripted.

    `routes` maps a path (without query) to a Reply, or to a function (conn number, request
    number on that connection) -> Reply.
    """
    port: int = 0
    ssl_context: Optional[gevent.ssl.SSLContext] = None
    routes: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    conns: int = 0

    def __post_init__(self) -> None:
        kw = {"ssl_context": self.ssl_context} if self.ssl_context else {}
        # A pool, so that stop() also ends the keep-alive connections (a real restart).
        self.server = StreamServer(("127.0.0.1", self.port), self._handle, spawn=gevent.pool.Pool(),
                                   **kw)
        self.server.start()
        self.port = self.server.server_port

    def url(self, path: str) -> str:
        return "%s://127.0.0.1:%d%s" % ("https" if self.ssl_context else "http", self.port, path)

    def paths(self) -> list[str]:
        return [r.target for r in self.requests]

    def stop(self) -> None:
        self.server.stop(timeout=0)  # kills idle keep-alive handlers at once

    def _handle(self, sock: socket.socket, _addr: tuple) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conns += 1
        conn, nth = self.conns, 0
        rfile = sock.makefile("rb")
        try:
            while True:
                line = rfile.readline(65537)
                if not line:
                    return
                method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
                headers = []
                while True:
                    h = rfile.readline(65537)
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    headers.append((name, value.strip()))
                length = int(dict((k.lower(), v) for k, v in headers).get("content-length", 0))
                body = rfile.read(length) if length else b""
                nth += 1
                self.requests.append(Req(conn, method, target, headers, body))
                reply: Union[Reply, Callable] = self.routes.get(target.split("?")[0], Reply())
                if callable(reply):
                    reply = reply(conn, nth)
                if reply.delay:
                    gevent.sleep(reply.delay)
                if reply.drop:
                    return
                sock.sendall(b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                             % (reply.status, len(reply.body)) + reply.body)
        except OSError:
            return
        finally:
            rfile.close()
            sock.close()
