"""RequestReader: HTTP/1.1 request bytes in, HttpRequest values out, parsed by h11 (sans-IO, no socket).

Why h11: it is a well-kept sans-IO HTTP/1.1 parser, the same shape as our protocol layer (receive_data /
next_event), and it refuses what hand parsers get wrong: conflicting Content-Length, duplicate Host,
malformed request and header lines, bad Transfer-Encoding.

How we drive it: h11 reads requests only. srsish writes its own responses (byte-identical to SRS-style
heads, and the HTTP-FLV handler takes the socket over after a `.flv` head and streams a body h11 never
sees), so no h11 state machine ever sends. One `h11.Connection` parses exactly one request: after its
EndOfMessage, the bytes it has not consumed (`trailing_data`, i.e. pipelined requests) are carried over to a
fresh Connection. That keeps h11 out of keep-alive decisions (we keep HTTP/1.0 `Connection: keep-alive`,
which h11 would refuse to cycle) and needs no fake Response to reach `start_next_cycle`.

What we add on top of h11, because h11 tolerates it and a server facing the internet should not:
duplicate Content-Length headers even when identical (h11 merges them), a Content-Length list such as
`5, 5`, obsolete line folding (h11 unfolds it), and HTTP versions other than 1.x. Request bodies are read
and dropped (no handler takes one), bounded by `max_body_bytes`; chunked request bodies are refused with
400 as before. Other repeated headers keep the last value.
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qsl, unquote

import h11

from srsish.core.errors import ProtocolError

# Bounds on what a client may send before we answer; browsers and players stay far below them.
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024

_LINE_END = re.compile(rb"\r?\n")   # h11 accepts bare LF line ends; the raw-head checks must split alike


@dataclass
class HttpRequest:
    method: str                      # "GET", "HEAD", ...
    path: str                        # percent-decoded path, no query, e.g. "/live/livestream.m3u8"
    query: str = ""                  # raw query without "?", e.g. "token=abc&hls_ctx=x"
    headers: Dict[str, str] = field(default_factory=dict)   # lower-case names
    ip: str = ""                     # client ip: X-Forwarded-For first entry, else X-Real-IP, else the peer
    host: str = ""                   # Host header without the port
    version: str = "HTTP/1.1"

    @property
    def param(self) -> str:
        """SRS's `param`: the query with its leading "?", or ""."""
        return "?" + self.query if self.query else ""

    def query_dict(self) -> Dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


@dataclass
class HttpResponse:
    status: int = 200
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class BadRequest(ProtocolError):
    """A request we refuse; `status` is the answer (400, 404, 408, 413), the message its cause."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


class NeedData:
    """The reader has no complete request yet: feed it more bytes."""


class Closed:
    """The client closed the connection between two requests."""


NEED_DATA = NeedData()
CLOSED = Closed()


def client_ip(headers: Dict[str, str], peer_ip: str) -> str:
    """SRS's rule: the first X-Forwarded-For entry, else X-Real-IP, else the TCP peer."""
    xff = headers.get("x-forwarded-for", "")
    if xff.strip():
        return xff.split(",")[0].strip()
    return headers.get("x-real-ip", "").strip() or peer_ip


def check_raw_head(head: bytes, max_head_bytes: int = MAX_HEAD_BYTES) -> None:
    """Refuse what h11 accepts but we do not: an oversized head, folded lines, repeated Content-Length."""
    if len(head) > max_head_bytes:
        raise BadRequest(413, f"request head over {max_head_bytes} bytes")
    lines = _LINE_END.split(head.lstrip(b"\r\n"))
    lengths = 0
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise BadRequest(400, "obsolete line folding in the request head")
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            lengths += 1
            if b"," in value:
                raise BadRequest(400, "a list of Content-Length values")
    if lengths > 1:
        raise BadRequest(400, "duplicate Content-Length headers")


def build_request(event: h11.Request, peer_ip: str) -> HttpRequest:
    """Our HttpRequest from h11's: decoded path, raw query, host without port, SRS's client ip."""
    version = event.http_version.decode("ascii")
    if not version.startswith("1."):
        raise BadRequest(400, f"unsupported HTTP version {version!r}")
    headers: Dict[str, str] = {}
    for name, value in event.headers:
        headers[name.decode("latin-1")] = value.decode("latin-1")
    target = event.target.decode("latin-1")
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
    return HttpRequest(method=event.method.decode("latin-1").upper(), path=path, query=query, headers=headers,
                       ip=client_ip(headers, peer_ip), host=host, version="HTTP/" + version)


class RequestReader:
    """The requests of one client connection, in order; bodies are read and dropped.

    `receive_data(b"")` means the client closed. `next_event()` returns an HttpRequest once its head and
    body are both in, NEED_DATA, or CLOSED; it raises BadRequest for anything malformed, after which the
    reader is done (answer and close).
    """

    def __init__(self, peer_ip: str, max_head_bytes: int = MAX_HEAD_BYTES,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.peer_ip = peer_ip
        self.max_head_bytes = max_head_bytes
        self.max_body_bytes = max_body_bytes
        self._parser = self._new_parser()
        self._head = bytearray()   # bytes fed for the current request until its head is parsed
        self._request: Optional[HttpRequest] = None   # the parsed head whose body is being read

    @property
    def reading_body(self) -> bool:
        """True between a request's head and the end of its body (the app times the two apart)."""
        return self._request is not None

    def _new_parser(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head_bytes)

    def receive_data(self, data: bytes) -> None:
        if self._request is None:
            self._head += data
        self._parser.receive_data(data)

    def next_event(self) -> Union[HttpRequest, NeedData, Closed]:
        while True:
            try:
                event = self._parser.next_event()
            except h11.RemoteProtocolError as e:
                if e.error_status_hint == 431:   # h11's "head too long"; we have always said 413
                    raise BadRequest(413, f"request head over {self.max_head_bytes} bytes") from None
                raise BadRequest(400, str(e)) from None
            if event is h11.NEED_DATA:
                return NEED_DATA
            if isinstance(event, h11.ConnectionClosed):
                return CLOSED
            if isinstance(event, h11.Request):
                self._request = self._on_head(event)
            elif isinstance(event, h11.EndOfMessage):
                return self._finish_request()
            # Data: a request body we do not use. h11 already bounds it by Content-Length.

    def _on_head(self, event: h11.Request) -> HttpRequest:
        unparsed = len(self._parser.trailing_data[0])
        check_raw_head(bytes(self._head[:len(self._head) - unparsed]), self.max_head_bytes)
        self._head = bytearray()
        req = build_request(event, self.peer_ip)
        if "transfer-encoding" in req.headers:   # h11 lets only "chunked" through
            raise BadRequest(400, "chunked request bodies are not accepted")
        length = int(req.headers.get("content-length", "0"))   # h11 checked it is digits
        if length > self.max_body_bytes:
            raise BadRequest(413, f"request body of {length} bytes refused")
        return req

    def _finish_request(self) -> HttpRequest:
        req = self._request
        assert req is not None
        leftover, closed = self._parser.trailing_data
        self._parser = self._new_parser()
        self._request = None
        self._head = bytearray()
        if leftover:   # never feed b"": to h11 that means the client closed
            self.receive_data(leftover)
        if closed:
            self._parser.receive_data(b"")
        return req
