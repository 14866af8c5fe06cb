"""Tests for srsish.protocol.http: requests out of bytes fed in, without a socket."""
from typing import List

import pytest

from srsish.protocol.http import CLOSED, NEED_DATA, BadRequest, HttpRequest, RequestReader, client_ip

GET = b"GET /live/a.m3u8?token=x HTTP/1.1\r\nHost: example.test:8080\r\n\r\n"


def feed(reader: RequestReader, data: bytes) -> List[HttpRequest]:
    """Feed the bytes at once, then take every request they complete."""
    reader.receive_data(data)
    out = []
    while True:
        event = reader.next_event()
        if not isinstance(event, HttpRequest):
            return out
        out.append(event)


def refused(data: bytes, eof: bool = False, **limits) -> BadRequest:
    reader = RequestReader("10.0.0.1", **limits)
    with pytest.raises(BadRequest) as info:
        feed(reader, data)
        if eof:
            feed(reader, b"")
    return info.value


def test_one_request():
    [req] = feed(RequestReader("10.0.0.1"), GET)
    assert (req.method, req.path, req.query, req.host, req.version, req.ip) == \
        ("GET", "/live/a.m3u8", "token=x", "example.test", "HTTP/1.1", "10.0.0.1")
    assert req.headers == {"host": "example.test:8080"}
    assert req.param == "?token=x"


def test_pipelined_requests_come_out_in_order():
    data = GET + b"HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n" + b"GET /c HTTP/1.1\r\nHo"
    reader = RequestReader("10.0.0.1")
    reqs = feed(reader, data)
    assert [(r.method, r.path) for r in reqs] == [("GET", "/live/a.m3u8"), ("HEAD", "/b")]
    assert reader.next_event() is NEED_DATA
    [third] = feed(reader, b"st: h\r\n\r\n")
    assert third.path == "/c"


def test_next_request_in_a_later_read():
    reader = RequestReader("10.0.0.1")
    assert len(feed(reader, GET)) == 1
    assert reader.next_event() is NEED_DATA
    [second] = feed(reader, b"GET /two HTTP/1.1\r\nHost: h\r\n\r\n")
    assert second.path == "/two"


def test_http10_keep_alive_requests_follow_each_other():
    """h11 will not cycle an HTTP/1.0 connection; a fresh parser per request does."""
    one = b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    reqs = feed(RequestReader("10.0.0.1"), one + one.replace(b"/a", b"/b"))
    assert [(r.path, r.version) for r in reqs] == [("/a", "HTTP/1.0"), ("/b", "HTTP/1.0")]


def test_head_split_across_many_reads():
    reader = RequestReader("10.0.0.1")
    for i, byte in enumerate(GET):
        reader.receive_data(bytes([byte]))
        event = reader.next_event()
        if i < len(GET) - 1:
            assert event is NEED_DATA, i
    assert isinstance(event, HttpRequest) and event.path == "/live/a.m3u8"


def test_body_is_read_and_dropped_before_the_request_comes_out():
    reader = RequestReader("10.0.0.1")
    head = b"POST /api/v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
    assert feed(reader, head + b"01234") == []
    assert reader.reading_body
    [post, get] = feed(reader, b"56789" + b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (post.method, post.path, get.path) == ("POST", "/api/v1/x", "/next")
    assert not reader.reading_body


def test_clean_close_between_requests():
    reader = RequestReader("10.0.0.1")
    assert len(feed(reader, GET)) == 1
    reader.receive_data(b"")
    assert reader.next_event() is CLOSED


def test_close_in_the_middle_is_a_400():
    assert refused(GET[:20], eof=True).status == 400
    body_cut = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123"
    assert refused(body_cut, eof=True).status == 400


@pytest.mark.parametrize("lengths", [
    (b"Content-Length: 5\r\n", b"Content-Length: 5\r\n"),     # identical: h11 would merge them
    (b"Content-Length: 5\r\n", b"content-length: 6\r\n"),     # conflicting
    (b"Content-Length: 5, 5\r\n",),                           # a list in one header
    (b"Content-Length: 5, 6\r\n",),
])
def test_repeated_content_length_is_a_400(lengths):
    data = b"POST / HTTP/1.1\r\nHost: h\r\n" + b"".join(lengths) + b"\r\nhello"
    e = refused(data)
    assert e.status == 400 and "content-length" in str(e).lower()


def test_duplicate_host_is_a_400():
    e = refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert e.status == 400 and "host" in str(e).lower()


def test_obsolete_line_folding_is_a_400():
    e = refused(b"GET / HTTP/1.1\r\nHost: h\r\nX-Thing: one\r\n  two\r\n\r\n")
    assert e.status == 400 and "folding" in str(e)


def test_oversized_head_is_a_413_whether_it_trickles_or_arrives_whole():
    big = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + b"a" * 2000
    assert refused(big, max_head_bytes=1024).status == 413              # never completes
    assert refused(big + b"\r\n\r\n", max_head_bytes=1024).status == 413  # complete, still too big
    assert len(feed(RequestReader("ip", max_head_bytes=4096), big + b"\r\n\r\n")) == 1


def test_bodies_chunked_or_too_big_are_refused():
    chunked = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    assert refused(chunked).status == 400
    big = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2001\r\n\r\n"
    assert refused(big, max_body_bytes=2000).status == 413
    assert refused(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n").status == 400


@pytest.mark.parametrize("data", [
    b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    b"GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET relative HTTP/1.1\r\nHost: h\r\n\r\n",
])
def test_malformed_requests_are_400(data):
    assert refused(data).status == 400


def test_percent_decoding_and_invalid_utf8():
    [req] = feed(RequestReader("ip"), b"GET /live/%73%20x.m3u8 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert req.path == "/live/s x.m3u8"
    assert refused(b"GET /live/%ff.m3u8 HTTP/1.1\r\nHost: h\r\n\r\n").status == 404


def test_absolute_form_target_and_host_forms():
    [req] = feed(RequestReader("ip"), b"GET http://other:80/live/s.flv?a=1 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")
    assert (req.path, req.query, req.host) == ("/live/s.flv", "a=1", "::1")
    [req] = feed(RequestReader("ip"), b"get / HTTP/1.0\r\n\r\n")
    assert (req.method, req.host) == ("GET", "")


def test_client_ip_follows_srs():
    assert client_ip({"x-forwarded-for": " 1.1.1.1 , 2.2.2.2", "x-real-ip": "3.3.3.3"}, "9.9.9.9") == "1.1.1.1"
    assert client_ip({"x-real-ip": "3.3.3.3"}, "9.9.9.9") == "3.3.3.3"
    assert client_ip({"x-forwarded-for": " "}, "9.9.9.9") == "9.9.9.9"
    [req] = feed(RequestReader("9.9.9.9"), b"GET / HTTP/1.1\r\nHost: h\r\nX-Real-IP: 3.3.3.3\r\n\r\n")
    assert req.ip == "3.3.3.3"
