"""HttpConnection: one HTTP client's socket, read through a RequestReader and written with our own heads."""
import socket
from email.utils import formatdate
from typing import List, Optional, Tuple

from gevent import Timeout

from srsish import SIGNATURE
from srsish.protocol.http import NEED_DATA, BadRequest, HttpRequest, HttpResponse, RequestReader

HEAD_TIMEOUT = 30.0        # idle keep-alive connection, a request head that trickles in, or its body
SEND_TIMEOUT = 30.0
RECV_CHUNK = 65536

REASONS = {200: "OK", 206: "Partial Content", 302: "Found", 304: "Not Modified", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 416: "Range Not Satisfiable", 500: "Internal Server Error"}


def render_head(status: int, headers: List[Tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", f"Server: {SIGNATURE}",
             f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def text_response(status: int, text: str, headers: Optional[List[Tuple[str, str]]] = None) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "text/plain; charset=utf-8")] + (headers or []),
                        (text + "\n").encode("utf-8"))


class HttpConnection:
    """The socket of one HTTP client: reads requests (heads and bodies), writes whole responses."""

    def __init__(self, sock: socket.socket, peer_ip: str) -> None:
        self.sock = sock
        self.peer_ip = peer_ip
        self.reader = RequestReader(peer_ip)
        self.send_bytes = 0
        self.recv_bytes = 0

    def read_request(self) -> Optional[HttpRequest]:
        """The next request with its body read, or None when the client closed between requests.

        Raises BadRequest for a malformed request, and a 408 one when the head, or then the body, takes
        longer than HEAD_TIMEOUT.
        """
        timer: Optional[Timeout] = None
        timed_phase = ""
        try:
            while True:
                event = self.reader.next_event()
                if event is not NEED_DATA:
                    return event if isinstance(event, HttpRequest) else None
                phase = "body" if self.reader.reading_body else "head"
                if phase != timed_phase:
                    if timer is not None:
                        timer.cancel()
                    timer = Timeout.start_new(HEAD_TIMEOUT, BadRequest(408, f"request {phase} timeout"))
                    timed_phase = phase
                data = self.sock.recv(RECV_CHUNK)
                self.recv_bytes += len(data)
                self.reader.receive_data(data)
        finally:
            if timer is not None:
                timer.cancel()

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
