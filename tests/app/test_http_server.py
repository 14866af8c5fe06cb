"""Tests for srsish.app.http.server: HttpServer on a loopback socket, with fake config, API and FLV handlers."""
import logging
import re
import socket as std_socket
import struct
from typing import List, Optional

import gevent
import pytest
from gevent import socket

from srsish import SIGNATURE
from srsish.app.http import connection
from srsish.app.http.server import HttpServer
from srsish.app.http.types import HttpRequest, HttpResponse


class FakeConfig:
    def __init__(self, static_dir: str) -> None:
        self.sections = {"http_api": {"crossdomain": True}, "http_server": {"crossdomain": True, "dir": static_dir}}
        self.http_server_dir = static_dir

    def section(self, name: str) -> dict:
        return self.sections[name]

    def vhost(self, name: str) -> Optional[dict]:
        return None


class FakeApi:
    def __init__(self) -> None:
        self.seen: List[HttpRequest] = []

    def handle(self, req: HttpRequest) -> HttpResponse:
        self.seen.append(req)
        return HttpResponse(200, [("Content-Type", "application/json")], b'{"code":0}')


class FakeFlv:
    def serve(self, conn, req, extra):
        return None   # no FLV mount: served as a file


def listener() -> std_socket.socket:
    sock = std_socket.socket(std_socket.AF_INET, std_socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


@pytest.fixture
def site(tmp_path):
    """An api+static HttpServer on loopback; yields (its FakeApi, the server)."""
    (tmp_path / "index.html").write_bytes(b"<html>hi</html>")
    config = FakeConfig(str(tmp_path))
    api = FakeApi()
    http = HttpServer(listener(), {"api", "static"}, lambda: config, api, FakeFlv(), hls_sessions=None)
    http.start()
    yield api, http
    http.close()


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG, logger="srsish")
    return caplog


def exchange(port: int, data: bytes, shutdown: bool = False, timeout: float = 5.0) -> bytes:
    """Send the bytes, then read until the server closes."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    try:
        s.sendall(data)
        if shutdown:
            s.shutdown(std_socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def wait_for_log(caplog, text: str, timeout: float = 3.0) -> logging.LogRecord:
    with gevent.Timeout(timeout, AssertionError(f"no log line with {text!r}: {caplog.text}")):
        while True:
            for rec in caplog.records:
                if text in rec.getMessage():
                    return rec
            gevent.sleep(0.02)


def without_date(raw: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"Date: X\r\n", raw)


def test_keep_alive_pipelined_api_and_file(site):
    api, http = site
    raw = exchange(http.port, b"GET /api/v1/summaries?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
                              b"GET /index.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    sig = SIGNATURE.encode()
    assert without_date(raw) == (
        b"HTTP/1.1 200 OK\r\nServer: " + sig + b"\r\nDate: X\r\nContent-Type: application/json\r\n"
        b"Access-Control-Allow-Origin: *\r\nContent-Length: 10\r\nConnection: Keep-Alive\r\n\r\n{\"code\":0}"
        b"HTTP/1.1 200 OK\r\nServer: " + sig + b"\r\nDate: X\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Accept-Ranges: bytes\r\nContent-Length: 15\r\nConnection: Close\r\nAccess-Control-Allow-Origin: *\r\n"
        b"\r\n<html>hi</html>")
    [req] = api.seen
    assert (req.path, req.query, req.ip) == ("/api/v1/summaries", "x=1", "127.0.0.1")


def test_duplicate_content_length_is_answered_400_and_logged(site, logs):
    _, http = site
    raw = exchange(http.port, b"POST /api/v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                              b"Content-Length: 2\r\n\r\nhi")
    assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Connection: Close\r\n" in raw
    rec = wait_for_log(logs, "bad request")
    assert rec.levelno == logging.WARNING
    assert "ip=127.0.0.1" in rec.getMessage() and "Content-Length" in rec.getMessage()
    assert site[0].seen == []


def test_trickling_head_gets_408_and_a_warning(site, logs, monkeypatch):
    monkeypatch.setattr(connection, "HEAD_TIMEOUT", 0.2)
    _, http = site
    raw = exchange(http.port, b"GET / HTTP/1.1\r\nHo")
    assert raw.startswith(b"HTTP/1.1 408 ")
    rec = wait_for_log(logs, "request head timeout")
    assert rec.levelno == logging.WARNING and "ip=127.0.0.1" in rec.getMessage()


def test_client_close_mid_head_is_a_logged_400(site, logs):
    _, http = site
    raw = exchange(http.port, b"GET / HTTP/1.1\r\nHo", shutdown=True)
    assert raw.startswith(b"HTTP/1.1 400 ")
    assert "closed" in wait_for_log(logs, "bad request").getMessage()


def test_reset_connection_is_a_debug_line(site, logs):
    _, http = site
    s = socket.create_connection(("127.0.0.1", http.port))
    s.sendall(b"POST /api/v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0")
    gevent.sleep(0.1)
    s.setsockopt(std_socket.SOL_SOCKET, std_socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()   # RST: the server's recv fails
    rec = wait_for_log(logs, "gone")
    assert rec.levelno == logging.DEBUG and "ip=127.0.0.1" in rec.getMessage()


def test_clean_close_between_requests_logs_no_warning(site, logs):
    _, http = site
    raw = exchange(http.port, b"GET /api/v1/versions HTTP/1.1\r\nHost: h\r\n\r\n", shutdown=True)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(b'{"code":0}')
    gevent.sleep(0.1)
    assert not [r for r in logs.records if r.levelno >= logging.WARNING], logs.text
