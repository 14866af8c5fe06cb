"""HttpServer: one listener serving static files, HTTP-FLV and the HTTP API on keep-alive connections."""
import os
import socket
from email.utils import formatdate
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import unquote

from gevent import Timeout
from gevent.server import StreamServer

from srsish import SIGNATURE
from srsish.app.http.types import HttpRequest, HttpResponse
from srsish.core import paths
from srsish.core.log import get_logger
from srsish.core.naming import DEFAULT_VHOST

# Bounds on what a client may send before we answer; browsers and players stay far below them.
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
HEAD_TIMEOUT = 30.0        # idle keep-alive connection, or a request head that trickles in
SEND_TIMEOUT = 30.0
FILE_CHUNK = 256 * 1024

REASONS = {200: "OK", 206: "Partial Content", 302: "Found", 304: "Not Modified", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 416: "Range Not Satisfiable", 500: "Internal Server Error"}
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/MP2T", ".flv": "video/x-flv", ".mp4": "video/mp4",
    ".m4s": "video/iso.segment", ".mp3": "audio/mpeg", ".aac": "audio/aac", ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8", ".js": "application/javascript", ".css": "text/css",
    ".json": "application/json", ".txt": "text/plain; charset=utf-8", ".xml": "text/xml", ".png": "image/png",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".ico": "image/x-icon",
    ".svg": "image/svg+xml", ".wasm": "application/wasm",
}


class BadRequest(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def client_ip(headers: Dict[str, str], peer_ip: str) -> str:
    """SRS's rule: the first X-Forwarded-For entry, else X-Real-IP, else the TCP peer."""
    xff = headers.get("x-forwarded-for", "")
    if xff.strip():
        return xff.split(",")[0].strip()
    return headers.get("x-real-ip", "").strip() or peer_ip


def parse_head(head: bytes, peer_ip: str) -> Tuple[HttpRequest, str]:
    """Parse a request head (up to the blank line) into an HttpRequest and its HTTP version."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # latin-1 decodes anything; kept for clarity
        raise BadRequest(400, "undecodable request head") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"bad request line {lines[0][:80]!r}")
    method, target, version = parts
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, f"bad header line {line[:80]!r}")
        headers[name.lower()] = value.strip()
    raw_path, _, query = target.partition("?")
    if "://" in raw_path:  # absolute-form target: keep the path only
        raw_path = "/" + raw_path.split("://", 1)[1].partition("/")[2]
    if not raw_path.startswith("/"):
        raise BadRequest(400, f"bad request target {target[:80]!r}")
    try:
        path = unquote(raw_path, errors="strict") if "%" in raw_path else raw_path
    except UnicodeDecodeError:
        raise BadRequest(404, f"no such path: not valid UTF-8 once decoded: {raw_path[:80]!r}") from None
    host = headers.get("host", "")
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    else:
        host = host.partition(":")[0]
    return HttpRequest(method=method.upper(), path=path, query=query, headers=headers,
                       ip=client_ip(headers, peer_ip), host=host, version=version), version


def render_head(status: int, headers: List[Tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", f"Server: {SIGNATURE}",
             f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HttpConnection:
    """The socket of one HTTP client: reads request heads, writes whole responses."""

    def __init__(self, sock: socket.socket, peer_ip: str) -> None:
        self.sock = sock
        self.peer_ip = peer_ip
        self.buf = b""
        self.send_bytes = 0
        self.recv_bytes = 0

    def read_head(self) -> Optional[bytes]:
        """The next request head, or None when the client closed between requests."""
        with Timeout(HEAD_TIMEOUT, BadRequest(408, "request head timeout")):
            while b"\r\n\r\n" not in self.buf:
                if len(self.buf) > MAX_HEAD_BYTES:
                    raise BadRequest(413, f"request head over {MAX_HEAD_BYTES} bytes")
                data = self.sock.recv(65536)
                if not data:
                    if self.buf.strip():
                        raise BadRequest(400, "connection closed in the middle of a request head")
                    return None
                self.recv_bytes += len(data)
                self.buf += data
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if len(head) > MAX_HEAD_BYTES:
            raise BadRequest(413, f"request head over {MAX_HEAD_BYTES} bytes")
        return head

    def skip_body(self, req: HttpRequest) -> None:
        if "chunked" in req.headers.get("transfer-encoding", "").lower():
            raise BadRequest(400, "chunked request bodies are not accepted")
        try:
            length = int(req.headers.get("content-length", "0") or "0")
        except ValueError:
            raise BadRequest(400, "bad Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise BadRequest(413, f"request body of {length} bytes refused")
        with Timeout(HEAD_TIMEOUT, BadRequest(408, "request body timeout")):
            while len(self.buf) < length:
                data = self.sock.recv(65536)
                if not data:
                    raise BadRequest(400, "connection closed in the middle of a request body")
                self.recv_bytes += len(data)
                self.buf += data
        self.buf = self.buf[length:]

    def send(self, data: bytes) -> None:
        with Timeout(SEND_TIMEOUT):
            self.sock.sendall(data)
        self.send_bytes += len(data)

    def respond(self, req: HttpRequest, resp: HttpResponse, keep_alive: bool, extra: List[Tuple[str, str]]) -> None:
        headers = list(resp.headers) + extra
        names = {k.lower() for k, _ in headers}
        if "content-length" not in names:
            headers.append(("Content-Length", str(len(resp.body))))
        headers.append(("Connection", "Keep-Alive" if keep_alive else "Close"))
        body = b"" if req.method == "HEAD" else resp.body
        self.send(render_head(resp.status, headers) + body)


def text_response(status: int, text: str, headers: Optional[List[Tuple[str, str]]] = None) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "text/plain; charset=utf-8")] + (headers or []),
                        (text + "\n").encode("utf-8"))


class StaticFiles:
    """Files under one root, never outside it, with types, HEAD and single ranges."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def resolve(self, path: str) -> Optional[str]:
        """The real file for a request path, or None for anything that is not safely inside the root."""
        if "\\" in path or "." in path.split("/"):
            return None
        try:
            full = paths.join_under(self.root, path)    # `..`, NUL and symlinks out of the root refused
            if os.path.isdir(full):
                full = paths.resolve_under(self.root, os.path.join(full, "index.html"))
        except paths.OutsideRoot:
            return None
        return full if os.path.isfile(full) else None

    def serve(self, conn: HttpConnection, req: HttpRequest, keep_alive: bool, extra: List[Tuple[str, str]]) -> bool:
        """Serve the file; False when there is none (the caller answers 404)."""
        full = self.resolve(req.path)
        if full is None:
            return False
        try:
            f = open(full, "rb")
        except OSError:
            return False
        with f:
            size = os.fstat(f.fileno()).st_size
            ext = os.path.splitext(full)[1].lower()
            headers = [("Content-Type", CONTENT_TYPES.get(ext, "application/octet-stream")),
                       ("Accept-Ranges", "bytes")]
            if ext == ".m3u8":
                headers.append(("Cache-Control", "no-cache"))
            status, start, end = 200, 0, size - 1
            rng = req.headers.get("range", "")
            if rng:
                parsed = parse_range(rng, size)
                if parsed is None:
                    conn.respond(req, HttpResponse(416, headers + [("Content-Range", f"bytes */{size}")]),
                                 keep_alive, extra)
                    return True
                status, (start, end) = 206, parsed
                headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
            length = max(0, end - start + 1)
            headers.append(("Content-Length", str(length)))
            headers.append(("Connection", "Keep-Alive" if keep_alive else "Close"))
            conn.send(render_head(status, headers + extra))
            if req.method == "HEAD":
                return True
            f.seek(start)
            left = length
            while left > 0:
                data = f.read(min(FILE_CHUNK, left))
                if not data:
                    raise OSError(f"{full} shrank while being served")
                conn.send(data)
                left -= len(data)
        return True


def parse_range(value: str, size: int) -> Optional[Tuple[int, int]]:
    """One `bytes=a-b` range as (start, end) inclusive; None when it cannot be satisfied.

    Several ranges are answered with the first one only, which clients accept.
    """
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        return None
    first = spec.split(",")[0].strip()
    a, sep, b = first.partition("-")
    try:
        if not sep:
            return None
        if a == "":
            n = int(b)
            if n <= 0 or size == 0:
                return None
            return max(0, size - n), size - 1
        start = int(a)
        end = int(b) if b else size - 1
    except ValueError:
        return None
    if start < 0 or start >= size or end < start:
        return None
    return start, min(end, size - 1)


class HttpServer:
    """A listener for files (`static`), the API (`api`), or both when they share a port.

    It gets a bound socket and the handlers it dispatches to: the API, HTTP-FLV streams and HLS play
    sessions (anything with their `handle`/`serve`/`touch` methods), and the conf as it is now.
    """

    def __init__(self, sock: socket.socket, roles: set, config: Callable[[], Any], api: Any, flv: Any,
                 hls_sessions: Any) -> None:
        self.roles = set(roles)
        self.config = config
        self.api = api
        self.flv = flv
        self.hls_sessions = hls_sessions
        self.log = get_logger()
        self.stream_server = StreamServer(sock, self._handle)

    @property
    def port(self) -> int:
        return self.stream_server.server_port

    def start(self) -> None:
        self.stream_server.start()
        self.log.info("HTTP listen at tcp://%s:%d for %s", self.stream_server.server_host, self.port,
                      "+".join(sorted(self.roles)))

    def close(self) -> None:
        self.stream_server.close()

    def _crossdomain(self, role: str) -> bool:
        cfg = self.config()
        section = cfg.section("http_api" if role == "api" else "http_server")
        return bool(section["crossdomain"])

    def _handle(self, sock: socket.socket, address) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = HttpConnection(sock, address[0] if address else "")
        try:
            while True:
                head = conn.read_head()
                if head is None:
                    return
                try:
                    req, version = parse_head(head, conn.peer_ip)
                    conn.skip_body(req)
                except BadRequest as e:
                    self.log.warning("http client ip=%s bad request: %s", conn.peer_ip, e)
                    conn.respond(HttpRequest("GET", "/"), text_response(e.status, str(e)), False, [])
                    return
                keep_alive = self._keep_alive(req, version)
                if not self._dispatch(conn, req, keep_alive):
                    return
                if not keep_alive:
                    return
        except BadRequest as e:
            try:
                conn.respond(HttpRequest("GET", "/"), text_response(e.status, str(e)), False, [])
            except (OSError, Timeout):
                pass
        except (OSError, Timeout):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

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
                ("Access-Control-Allow-Headers", "*"), ("Access-Control-Expose-Headers", "*"),
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
