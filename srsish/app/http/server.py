"""HttpServer: one listener serving static files, HTTP-FLV and the HTTP API on keep-alive connections."""
import socket
from typing import TYPE_CHECKING, Any, Callable, Optional

from gevent import Timeout
from gevent.server import StreamServer

from srsish.app.http.connection import HttpConnection, render_head, text_response
from srsish.app.http.static import StaticFiles
from srsish.app.http.types import HttpRequest, HttpResponse
from srsish.core.log import get_logger
from srsish.core.naming import DEFAULT_VHOST
from srsish.protocol.http import BadRequest

if TYPE_CHECKING:
    import ssl

TLS_HANDSHAKE_TIMEOUT = 10.0   # seconds an HTTPS client gets to finish its handshake

# flv.py takes these from here; they live in connection.py.
__all__ = ["HttpServer", "HttpConnection", "render_head", "text_response"]


class HttpServer:
    """A listener for files (`static`), the API (`api`), or both when they share a port.

    It gets a bound socket and the handlers it dispatches to: the API, HTTP-FLV streams and HLS play
    sessions (anything with their `handle`/`serve`/`touch` methods), and the conf as it is now. With an
    `ssl_context` it serves HTTPS: each connection's TLS handshake runs on its own greenlet, then the same
    handlers answer. A reload may swap `roles` and `ssl_context`; new connections take the new ones.
    """

    def __init__(self, sock: socket.socket, roles: set, config: Callable[[], Any], api: Any, flv: Any,
                 hls_sessions: Any, ssl_context: Optional["ssl.SSLContext"] = None) -> None:
        self.roles = set(roles)
        self.ssl_context = ssl_context
        self.config = config
        self.api = api
        self.flv = flv
        self.hls_sessions = hls_sessions
        self.log = get_logger()
        sock.setblocking(False)   # StreamServer accepts in the hub: a blocking listener stalls it when unpatched
        self.stream_server = StreamServer(sock, self._handle)

    @property
    def port(self) -> int:
        return self.stream_server.server_port

    def start(self) -> None:
        self.stream_server.start()
        self.log.info("%s listen at tcp://%s:%d for %s", "HTTPS" if self.ssl_context else "HTTP",
                      self.stream_server.server_host, self.port, "+".join(sorted(self.roles)))

    def close(self) -> None:
        self.stream_server.close()

    def _crossdomain(self, role: str) -> bool:
        cfg = self.config()
        section = cfg.section("http_api" if role == "api" else "http_server")
        return bool(section["crossdomain"])

    def _handle(self, sock: socket.socket, address) -> None:
        peer_ip = address[0] if address else ""
        tls = self.ssl_context
        if tls is not None:
            try:
                with Timeout(TLS_HANDSHAKE_TIMEOUT):
                    sock = tls.wrap_socket(sock, server_side=True)
            except (OSError, Timeout) as e:   # ssl.SSLError is an OSError
                self.log.warning("https client ip=%s TLS handshake failed: %s", peer_ip, e or "timeout")
                sock.close()
                return
        conn = HttpConnection(sock, peer_ip)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._serve(conn)
        except BadRequest as e:
            self.log.warning("http client ip=%s bad request (%d): %s", peer_ip, e.status, e)
            self._refuse(conn, e)
        except Timeout:
            self.log.warning("http client ip=%s send timeout, closing", peer_ip)
        except OSError as e:
            self.log.debug("http client ip=%s gone: %s", peer_ip, e)
        finally:
            try:
                sock.close()
            except OSError as e:
                self.log.debug("http client ip=%s close: %s", peer_ip, e)

    def _serve(self, conn: HttpConnection) -> None:
        """Requests in order until the client closes, asks to, or a stream takes the connection."""
        while True:
            req = conn.read_request()
            if req is None:
                return
            keep_alive = self._keep_alive(req, req.version)
            if not self._dispatch(conn, req, keep_alive):
                return
            if not keep_alive:
                return

    def _refuse(self, conn: HttpConnection, e: BadRequest) -> None:
        """Answer a bad request with its status and cause, then the connection ends."""
        try:
            conn.respond(HttpRequest("GET", "/"), text_response(e.status, str(e)), False, [])
        except (OSError, Timeout) as why:
            self.log.debug("http client ip=%s left before its %d answer: %s", conn.peer_ip, e.status, why)

    @staticmethod
    def _keep_alive(req: HttpRequest, version: str) -> bool:
        conn_hdr = req.headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            return "keep-alive" in conn_hdr
        return "close" not in conn_hdr

    def _dispatch(self, conn: HttpConnection, req: HttpRequest, keep_alive: bool) -> bool:
        """Answer one request; False when the connection must end (e.g. after a stream)."""
        is_api = "api" in self.roles and (req.path == "/api" or req.path.startswith("/api/"))
        cors = self._crossdomain("api" if is_api else "static")
        extra = [("Access-Control-Allow-Origin", "*")] if cors else []
        if req.method == "OPTIONS" and cors:
            conn.respond(req, HttpResponse(200, [
                ("Access-Control-Allow-Methods", "GET, POST, HEAD, PUT, DELETE, OPTIONS"),
                ("Access-Control-Allow-Headers", "*, Authorization"),   # `*` never covers Authorization ("Access-Control-Expose-Headers", "*"),
                ("Access-Control-Max-Age", "3600")]), keep_alive, extra)
            return True
        if is_api:
            resp = self.api.handle(req)
            conn.respond(req, resp, keep_alive, extra)
            return True
        if "static" not in self.roles:
            if req.path == "/":
                conn.respond(req, self.api.handle(req), keep_alive, extra)
            else:
                conn.respond(req, text_response(404, "not found"), keep_alive, extra)
            return True
        if req.path.startswith("/api/v1/versions"):
            conn.respond(req, self.api.handle(req), keep_alive, extra)
            return True
        if req.method not in ("GET", "HEAD"):
            conn.respond(req, text_response(405, f"method {req.method} not allowed"), keep_alive, extra)
            return True
        if req.path.endswith(".flv") and req.method == "GET":
            handled = self.flv.serve(conn, req, extra)
            if handled is not None:
                return handled
        if req.path.endswith(".m3u8"):
            resp = self._hls_ctx(req)
            if resp is not None:
                conn.respond(req, resp, keep_alive, extra)
                return True
        elif req.path.endswith(".ts") and "hls_ctx=" in req.query:
            self.hls_sessions.touch(req)
        root = self.config().http_server_dir
        if not StaticFiles(root).serve(conn, req, keep_alive, extra):
            conn.respond(req, text_response(404, "not found"), keep_alive, extra)
        return True

    def _hls_ctx(self, req: HttpRequest) -> Optional[HttpResponse]:
        vhost_name = req.query_dict().get("vhost") or req.host or DEFAULT_VHOST
        vhost = self.config().vhost(vhost_name)
        if vhost is None or not vhost["hls"]["enabled"] or not vhost["hls"]["hls_ctx"]:
            return None
        app, _, stream = req.path.strip("/").rpartition("/")
        return self.hls_sessions.handle(req, vhost, app, stream)
