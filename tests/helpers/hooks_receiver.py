"""A real HTTP(S) hook receiver for end-to-end tests of `http_hooks`.

`HookReceiver` listens on 127.0.0.1:<free port> in the test process (threads, no gevent),
records every request it gets (method, path, headers in arrival order, raw body, parsed
JSON, arrival and answer times on `time.monotonic()`), and answers each one as a
`responder(request) -> Reply` decides: a status and body, after a delay, or never (the
handler holds the connection until the receiver closes). HTTPS when given an
`ssl.SSLContext` (server side); the TLS handshake runs in the request's own thread.
"""
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Optional, Tuple


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"0"
    delay: float = 0.0      # seconds to wait before answering
    hang: bool = False      # never answer (the connection is dropped when the receiver closes)


OK = Reply()


@dataclass
class HookRequest:
    method: str
    path: str
    headers: List[Tuple[str, str]]
    raw: bytes
    arrived: float
    peer: Tuple[str, int]
    answered: Optional[float] = None   # when the reply started to be written (None: not answered)
    reply: Optional[Reply] = None
    json: Optional[object] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            self.json = json.loads(self.raw.decode("utf-8")) if self.raw else None
        except ValueError:
            self.json = None

    @property
    def body(self) -> dict:
        return self.json if isinstance(self.json, dict) else {}

    @property
    def action(self) -> str:
        return str(self.body.get("action", ""))

    @property
    def client_id(self) -> str:
        return str(self.body.get("client_id", ""))

    @property
    def stream(self) -> str:
        return str(self.body.get("stream", ""))

    @property
    def tag(self) -> str:
        """The first path segment after /hooks/ (tests use /hooks/<tag>/<event>), else ""."""
        parts = self.path.split("?")[0].strip("/").split("/")
        return parts[1] if len(parts) > 1 and parts[0] == "hooks" else ""

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def describe(self) -> str:
        return "%s %s %s" % (self.method, self.path, self.raw[:300].decode("utf-8", "replace"))


Responder = Callable[[HookRequest], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as srsish's pooled client expects
    server: "_Server"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _serve(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        rec = self.server.owner._record(self.command, self.path, list(self.headers.items()), raw,
                                         self.client_address)
        reply = self.server.owner._answer(rec)
        if reply.hang:
            self.server.owner._released.wait()
            self.close_connection = True
            return
        if reply.delay and self.server.owner._released.wait(reply.delay):
            self.close_connection = True
            return
        # Marked before the first byte goes out, so whatever the client under test sees
        # because of this answer comes after `answered` (and never before it is set).
        self.server.owner._mark_answered(rec, reply)
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()

    do_POST = _serve
    do_GET = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: "HookReceiver"
    tls: Optional[ssl.SSLContext] = None

    def finish_request(self, request, client_address):  # runs in the request's thread
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.owner.tls_errors.append(str(e))
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):  # a client that went away: not our business
        pass


class HookReceiver:
    """Use as a context manager; `url("/hooks/a/on_publish")` gives the URL to configure."""

    def __init__(self, responder: Optional[Responder] = None, tls: Optional[ssl.SSLContext] = None, port: int = 0):
        self.responder = responder or (lambda req: OK)
        self.requests: List[HookRequest] = []
        self.tls_errors: List[str] = []
        self._cond = threading.Condition()
        self._released = threading.Event()
        self._srv = _Server(("127.0.0.1", port), _Handler)   # a given port: a backend coming back
        self._srv.owner = self
        self._srv.tls = tls
        self.port = self._srv.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="hook-receiver", daemon=True)
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return "%s://%s:%d%s" % (self.scheme, host, self.port, path)

    # -- recording
    def _record(self, method, path, headers, raw, peer) -> HookRequest:
        rec = HookRequest(method, path, headers, raw, time.monotonic(), peer)
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()
        return rec

    def _answer(self, rec: HookRequest) -> Reply:
        try:
            return self.responder(rec)
        except Exception as e:  # a broken script must show, not hang the server under test
            return Reply(599, ("responder error: %r" % e).encode())

    def _mark_answered(self, rec: HookRequest, reply: Reply) -> None:
        with self._cond:
            rec.answered = time.monotonic()
            rec.reply = reply
            self._cond.notify_all()

    # -- queries
    def find(self, action: Optional[str] = None, client_id: Optional[str] = None, stream: Optional[str] = None,
             tag: Optional[str] = None) -> List[HookRequest]:
        with self._cond:
            reqs = list(self.requests)
        return [r for r in reqs if (action is None or r.action == action)
                and (client_id is None or r.client_id == client_id)
                and (stream is None or r.stream == stream)
                and (tag is None or r.tag == tag)]

    def wait(self, count: int = 1, timeout: float = 10.0, **match) -> List[HookRequest]:
        """Wait until at least `count` requests match (see `find`); AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.find(**match)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("expected %d hook request(s) matching %r within %.1fs; got:\n%s"
                                         % (count, match, timeout, self.dump()))
                self._cond.wait(min(left, 0.2))

    def dump(self) -> str:
        with self._cond:
            reqs = list(self.requests)
        return "\n".join("  %.3f %s" % (r.arrived, r.describe()) for r in reqs) or "  (none)"

    # -- lifecycle
    def close(self) -> None:
        self._released.set()
        self._srv.shutdown()
        self._srv.server_close()

    def __enter__(self) -> "HookReceiver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
