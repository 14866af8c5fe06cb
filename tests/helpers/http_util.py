"""HTTP-side helpers for the e2e tests of srsish's HTTP server, HTTP-FLV and HTTP API.

Conf fragments (`http_server {}`, `http_api {}`, `http_remux {}`, `http_hooks {}`), a raw HTTP
client that sends a request target byte for byte (for paths curl or http.client would
normalise), a small JSON API client, and a reader for live HTTP-FLV responses (headers,
de-chunking, FLV tags, the time the first body byte arrived).
"""
import base64
import http.client
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .util import port_open, wait_for

HOST = "127.0.0.1"


# ----------------------------------------------------------------------------- conf fragments
def http_server_block(port: int, root: str, crossdomain: Optional[bool] = True) -> str:
    lines = ["http_server {", "    enabled on;", "    listen %s:%d;" % (HOST, port), "    dir %s;" % root]
    if crossdomain is not None:
        lines.append("    crossdomain %s;" % ("on" if crossdomain else "off"))
    lines.append("}")
    return "\n".join(lines)


def http_api_block(port: int, crossdomain: Optional[bool] = True, auth: Optional[Tuple[str, str]] = None) -> str:
    lines = ["http_api {", "    enabled on;", "    listen %s:%d;" % (HOST, port)]
    if crossdomain is not None:
        lines.append("    crossdomain %s;" % ("on" if crossdomain else "off"))
    if auth is not None:
        lines += ["    auth {", "        enabled on;", "        username %s;" % auth[0],
                  "        password %s;" % auth[1], "    }"]
    lines.append("}")
    return "\n".join(lines)


def http_remux_block(mount: str = "[vhost]/[app]/[stream].flv") -> str:
    return "\n".join(["    http_remux {", "        enabled on;", "        mount %s;" % mount, "    }"])


def hooks_block(urls: Dict[str, List[str]]) -> str:
    """`http_hooks { ... }` (inside a vhost) from {event: [url, ...]}."""
    lines = ["    http_hooks {", "        enabled on;"]
    for event, us in urls.items():
        lines.append("        %s %s;" % (event, " ".join(us)))
    lines.append("    }")
    return "\n".join(lines)


def wait_http_port(srv, port: int, timeout: float = 10.0) -> None:
    """Wait until the server process listens on `port` (its RTMP port is already up)."""
    try:
        wait_for(lambda: port_open(HOST, port, 0.3), timeout, message="HTTP port %d" % port)
    except AssertionError:
        raise AssertionError("srsish not listening on HTTP port %d after %.0fs\n%s"
                             % (port, timeout, srv.diagnostics()))


# ----------------------------------------------------------------------------- raw HTTP
@dataclass
class RawResponse:
    status: int
    reason: str
    headers: List[Tuple[str, str]]
    body: bytes
    raw: bytes = field(repr=False, default=b"")

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def describe(self) -> str:
        return "HTTP %d %s %s body=%r" % (self.status, self.reason, self.headers, self.body[:200])


def parse_head(raw: bytes) -> Tuple[int, str, List[Tuple[str, str]], bytes]:
    """(status, reason, headers, rest) of a response that holds its whole head."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError("no complete HTTP response head in %r" % raw[:300])
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0].startswith("HTTP/1."), "not an HTTP response: %r" % raw[:300]
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return int(parts[1]), (parts[2] if len(parts) > 2 else ""), headers, rest


def dechunk(data: bytes) -> Tuple[bytes, bool]:
    """Decode a chunked body (possibly cut short). Returns (payload, saw the last chunk)."""
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return bytes(out), False
        size = int(data[pos:eol].split(b";")[0], 16)
        if size == 0:
            return bytes(out), True
        start = eol + 2
        if start + size > len(data):
            out += data[start:]
            return bytes(out), False
        out += data[start:start + size]
        pos = start + size + 2


def raw_request(port: int, request: bytes, timeout: float = 5.0, host: str = HOST) -> RawResponse:
    """Send `request` as it is, read one response: up to Content-Length, the end of a chunked
    body, or EOF. The connection is closed afterwards."""
    with socket.create_connection((host, port), timeout) as s:
        s.sendall(request)
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in buf:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            data = s.recv(65536)
            if not data:
                break
            buf += data
        if b"\r\n\r\n" not in buf:
            raise AssertionError("no HTTP response to %r (got %r)" % (request[:200], buf[:300]))
        status, reason, headers, rest = parse_head(buf)
        resp = RawResponse(status, reason, headers, b"", buf)
        clen = resp.header("content-length")
        chunked = "chunked" in (resp.header("transfer-encoding") or "").lower()
        if request.startswith(b"HEAD ") or status in (204, 304):
            return resp
        while True:
            if clen is not None and len(rest) >= int(clen):
                rest = rest[:int(clen)]
                break
            if chunked and dechunk(rest)[1]:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            rest += data
        resp.body = dechunk(rest)[0] if chunked else rest
        return resp


def get_raw_path(port: int, target: str, extra_headers: str = "", timeout: float = 5.0) -> RawResponse:
    """GET with the request target exactly as given (no normalisation, no encoding)."""
    req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n%s\r\n"
           % (target, HOST, port, extra_headers)).encode("latin-1")
    return raw_request(port, req, timeout)


# ----------------------------------------------------------------------------- API client
def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def api_call(port: int, path: str, method: str = "GET", auth: Optional[str] = None,
             headers: Optional[dict] = None, timeout: float = 5.0) -> Tuple[int, dict, Optional[dict]]:
    """(HTTP status, response headers (lower-case names), parsed JSON body or None)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        h = dict(headers or {})
        if auth:
            h["Authorization"] = auth
        conn.request(method, path, headers=h)
        r = conn.getresponse()
        body = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except ValueError:
        data = None
    return r.status, hdrs, data


def api_get(port: int, path: str, auth: Optional[str] = None) -> dict:
    """GET an API path that must answer 200 with a JSON object; follows one SRS-style 302."""
    status, hdrs, data = api_call(port, path, auth=auth)
    if status == 302 and hdrs.get("location"):
        status, hdrs, data = api_call(port, hdrs["location"], auth=auth)
    assert status == 200 and isinstance(data, dict), \
        "GET %s: expected 200 + JSON object, got %d %r" % (path, status, data)
    return data


# ----------------------------------------------------------------------------- live HTTP-FLV
def check_flv_start(tags: List[Tuple[int, int, bytes]]) -> None:
    """SRS's start of an HTTP-FLV stream: onMetaData first, the AVC and AAC sequence
    headers before any media frame, and the first video frame a keyframe."""
    assert tags, "no FLV tags"
    assert tags[0][0] == 18 and b"onMetaData" in tags[0][2][:32], \
        "first tag is not onMetaData: type %d %r" % (tags[0][0], tags[0][2][:32])
    first_media = {}
    for i, (t, _, body) in enumerate(tags):
        if t in (8, 9) and t not in first_media:
            first_media[t] = (i, body)
    assert 9 in first_media and 8 in first_media, "no audio or no video tag in %d tags" % len(tags)
    vi, vbody = first_media[9]
    ai, abody = first_media[8]
    assert vbody[0] == 0x17 and vbody[1] == 0, "first video tag is not the AVC sequence header: %r" % vbody[:8]
    assert (abody[0] >> 4) == 10 and abody[1] == 0, "first audio tag is not the AAC sequence header: %r" % abody[:8]
    frames = [b for t, _, b in tags if t == 9 and not (b[0] == 0x17 and b[1] == 0)]
    assert frames, "no video frame after the sequence header"
    assert (frames[0][0] >> 4) == 1, "first video frame is not a keyframe: %r" % frames[0][:8]
    media_before = [i for i, (t, _, b) in enumerate(tags[:max(vi, ai)]) if t in (8, 9) and i not in (vi, ai)]
    assert not media_before, "a media frame (tag %d) came before a sequence header" % media_before[0]


class FlvReader:
    """A raw HTTP-FLV viewer on a socket: sends the GET, then `read_for()` collects bytes.

    `head` holds the parsed response head once it arrived; `body` the raw (still chunked)
    bytes after it; `first_byte_at` the monotonic time of the first response byte."""

    def __init__(self, port: int, path: str, headers: str = "", rcvbuf: Optional[int] = None,
                 timeout: float = 5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        self.connected_at = time.monotonic()
        self.local_port = self.sock.getsockname()[1]
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: srsish-tests\r\n%s\r\n"
                           % (path, HOST, port, headers)).encode("latin-1"))
        self.buf = b""
        self.first_byte_at: Optional[float] = None
        self.eof = False
        self.status: Optional[int] = None
        self.headers: List[Tuple[str, str]] = []
        self.body = b""

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def _recv(self, timeout: float) -> bool:
        self.sock.settimeout(max(0.01, timeout))
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
        if self.status is None:
            self.buf += data
            if b"\r\n\r\n" in self.buf:
                self.status, _, self.headers, rest = parse_head(self.buf)
                self.body = rest
        else:
            self.body += data
        return True

    def read_head(self, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None and not self.eof and time.monotonic() < deadline:
            self._recv(deadline - time.monotonic())
        assert self.status is not None, "no HTTP response head within %.1fs (got %r)" % (timeout, self.buf[:200])
        return self.status

    def read_for(self, seconds: float) -> None:
        """Read whatever comes for `seconds` (or until EOF)."""
        deadline = time.monotonic() + seconds
        while not self.eof and time.monotonic() < deadline:
            self._recv(deadline - time.monotonic())

    def read_until_eof(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._recv(deadline - time.monotonic())
        return self.eof

    @property
    def chunked(self) -> bool:
        return "chunked" in (self.header("transfer-encoding") or "").lower()

    def payload(self) -> Tuple[bytes, bool]:
        """(the FLV bytes, whether the chunked terminator arrived)."""
        if self.chunked:
            return dechunk(self.body)
        return self.body, False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "FlvReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_flv_live(port: int, path: str, timeout: float = 10.0) -> None:
    """Poll until GET `path` answers 200 (the stream is published); each probe disconnects at once."""
    def probe():
        try:
            with FlvReader(port, path, timeout=2) as r:
                return r.read_head(2) == 200
        except (OSError, AssertionError):
            return False
    wait_for(probe, timeout, interval=0.2, message="HTTP-FLV %s to answer 200" % path)
