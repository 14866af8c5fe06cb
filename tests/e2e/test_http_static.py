"""http_server static files end to end (issue 4): a real srsish process serving a web root.

What is proven here: SRS's content types (m3u8, ts, flv, mp4, html, js), HEAD, single Range
requests (206 + Content-Range; 416 when unsatisfiable), keep-alive (two requests on one
connection), `Cache-Control: no-cache` on .m3u8, CORS when crossdomain is on (and OPTIONS
preflight) and not when it is off, a large file byte for byte, and that nothing outside
`dir` is ever served: `..`, `%2e%2e`, encoded slashes, `//etc/passwd`, absolute-form targets,
backslashes, NUL, double encoding, and symlinks out of the root all get 403/404 (400 for a
target that is not a path at all), never the file's contents. Paths curl and http.client
would normalise are sent byte for byte on raw sockets.
"""
import hashlib
import http.client
import os
import socket
import string

import pytest

from helpers.http_util import HOST, get_raw_path, http_server_block, raw_request, wait_http_port
from helpers.server import SrsishProcess
from helpers.util import free_port

pytestmark = pytest.mark.e2e

SECRET = b"TOPSECRET-srsish-static-3f9c1b"
RANGE_DATA = (string.ascii_letters + string.digits).encode() * 2        # 124 bytes
FILES = {
    "index.html": (b"<html><body>srsish</body></html>\n", "text/html"),
    "player.js": (b"console.log('srsish');\n", "application/javascript"),
    "live/s.m3u8": (b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\ns-0.ts\n",
                    "application/vnd.apple.mpegurl"),
    "live/s-0.ts": (b"\x47" + b"\x00" * 187, "video/MP2T"),
    "vod/a.flv": (b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00", "video/x-flv"),
    "vod/b.mp4": (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "video/mp4"),
    "range.bin": (RANGE_DATA, None),
}


class Site:
    def __init__(self, srv, port, root, outside, big_sha):
        self.srv, self.port, self.root, self.outside, self.big_sha = srv, port, root, outside, big_sha


def _build_tree(base: str):
    """base/secret.txt (+ .flv/.html copies) outside; base/html the root, with symlinks out."""
    root = os.path.join(base, "html")
    outside = os.path.join(base, "outside")
    os.makedirs(outside)
    for name in ("secret.txt", "secret.flv", "secret.html"):
        with open(os.path.join(base, name), "wb") as f:
            f.write(SECRET)
        with open(os.path.join(outside, name), "wb") as f:
            f.write(SECRET)
    for rel, (data, _) in FILES.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    big = os.urandom(3 * 1024 * 1024 + 17)
    with open(os.path.join(root, "vod", "big.mp4"), "wb") as f:
        f.write(big)
    # symlinks inside the root that lead out of it
    os.symlink(os.path.join(base, "secret.txt"), os.path.join(root, "escape.txt"))
    os.symlink(os.path.join(outside, "secret.flv"), os.path.join(root, "vod", "escape.flv"))
    os.symlink(outside, os.path.join(root, "outdir"))
    os.symlink("../../secret.html", os.path.join(root, "live", "rel.html"))
    return root, outside, hashlib.sha256(big).hexdigest()


def _start(base: str, crossdomain=True):
    root, outside, big_sha = _build_tree(base)
    port = free_port()
    srv = SrsishProcess(os.path.join(base, "srv"), global_extra=http_server_block(port, root, crossdomain))
    srv.start()
    try:
        wait_http_port(srv, port)
    except BaseException:
        srv.stop()
        raise
    return Site(srv, port, root, outside, big_sha)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = _start(str(tmp_path_factory.mktemp("static")))
    yield s
    s.srv.stop()
    s.srv.check_no_traceback()


def _get(site, path, method="GET", headers=None):
    conn = http.client.HTTPConnection(HOST, site.port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r, r.read()
    finally:
        conn.close()


def _ctype(r) -> str:
    return (r.getheader("Content-Type") or "").split(";")[0].strip().lower()


# ----------------------------------------------------------------------------- types, HEAD, no-cache
@pytest.mark.parametrize("rel", [k for k, v in FILES.items() if v[1]])
def test_content_types(site, rel):
    """Each kind of file comes back whole with SRS's Content-Type and its Content-Length."""
    data, ctype = FILES[rel]
    r, body = _get(site, "/" + rel)
    assert r.status == 200, "GET /%s: %d %r" % (rel, r.status, body[:200])
    assert body == data, "GET /%s: wrong bytes %r" % (rel, body[:64])
    assert _ctype(r) == ctype.lower(), "GET /%s: Content-Type %r, expected %r" % (
        rel, r.getheader("Content-Type"), ctype)
    assert r.getheader("Content-Length") == str(len(data))


def test_m3u8_no_cache_and_missing_file(site):
    r, _ = _get(site, "/live/s.m3u8")
    assert r.status == 200
    assert "no-cache" in (r.getheader("Cache-Control") or "").lower(), \
        "no Cache-Control: no-cache on .m3u8: %r" % r.getheaders()
    r, body = _get(site, "/live/nothere.ts")
    assert r.status == 404, "missing file: %d %r" % (r.status, body[:200])


def test_head_keep_alive_and_big_file(site):
    """HEAD gives the headers (Content-Length of the file) and no body; then, on the same
    TCP connection, a GET of a 3 MB file comes back byte for byte, then a third request."""
    conn = http.client.HTTPConnection(HOST, site.port, timeout=10)
    try:
        conn.request("HEAD", "/vod/b.mp4")
        r = conn.getresponse()
        assert r.read() == b""
        assert r.status == 200 and r.getheader("Content-Length") == str(len(FILES["vod/b.mp4"][0])), \
            "HEAD: %d %r" % (r.status, r.getheaders())
        assert _ctype(r) == "video/mp4"
        assert (r.getheader("Connection") or "").lower() != "close", "HEAD closed the connection"
        sock1 = conn.sock
        local1 = sock1.getsockname()

        conn.request("GET", "/vod/big.mp4")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, r.status
        assert hashlib.sha256(body).hexdigest() == site.big_sha, "big file differs (%d bytes)" % len(body)
        assert conn.sock is sock1 and conn.sock.getsockname() == local1, \
            "second request did not reuse the connection (keep-alive)"

        conn.request("GET", "/index.html")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == FILES["index.html"][0]
        assert conn.sock is sock1, "third request did not reuse the connection"
    finally:
        conn.close()


def test_head_sends_no_body_raw(site):
    """On a raw socket: HEAD, then GET pipelined behind it; the bytes after the HEAD's
    head must be the GET's response, not a body."""
    with socket.create_connection((HOST, site.port), 5) as s:
        s.sendall(b"HEAD /player.js HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /player.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    first, sep, rest = buf.partition(b"\r\n\r\n")
    assert sep and first.startswith(b"HTTP/1.1 200"), buf[:300]
    assert rest.startswith(b"HTTP/1.1 200"), "HEAD sent a body (or the second answer is missing): %r" % rest[:200]
    assert rest.endswith(FILES["player.js"][0])


# ----------------------------------------------------------------------------- ranges
@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-9", 0, 9),
    ("bytes=10-", 10, len(RANGE_DATA) - 1),
    ("bytes=-5", len(RANGE_DATA) - 5, len(RANGE_DATA) - 1),
    ("bytes=120-500", 120, len(RANGE_DATA) - 1),
])
def test_range(site, spec, start, end):
    r, body = _get(site, "/range.bin", headers={"Range": spec})
    assert r.status == 206, "Range %s: %d %r" % (spec, r.status, r.getheaders())
    assert body == RANGE_DATA[start:end + 1], "Range %s: got %r" % (spec, body)
    assert r.getheader("Content-Range") == "bytes %d-%d/%d" % (start, end, len(RANGE_DATA)), r.getheaders()
    assert r.getheader("Content-Length") == str(end - start + 1)


@pytest.mark.parametrize("spec", ["bytes=124-", "bytes=500-600"])
def test_range_unsatisfiable(site, spec):
    r, body = _get(site, "/range.bin", headers={"Range": spec})
    assert r.status == 416, "Range %s: %d %r" % (spec, r.status, body[:100])
    assert r.getheader("Content-Range") == "bytes */%d" % len(RANGE_DATA), r.getheaders()
    assert RANGE_DATA not in body


def test_ranges_keep_alive(site):
    """A ranged GET does not end the connection: a second ranged GET follows on it."""
    conn = http.client.HTTPConnection(HOST, site.port, timeout=5)
    try:
        conn.request("GET", "/range.bin", headers={"Range": "bytes=0-9"})
        r = conn.getresponse()
        assert r.status == 206 and r.read() == RANGE_DATA[:10]
        s = conn.sock
        conn.request("GET", "/range.bin", headers={"Range": "bytes=-5"})
        r = conn.getresponse()
        assert r.status == 206 and r.read() == RANGE_DATA[-5:]
        assert conn.sock is s
    finally:
        conn.close()


# ----------------------------------------------------------------------------- CORS
def test_cors_on(site):
    r, _ = _get(site, "/live/s.m3u8", headers={"Origin": "http://player.example.com"})
    assert r.getheader("Access-Control-Allow-Origin") == "*", r.getheaders()
    r, body = _get(site, "/live/s.m3u8", method="OPTIONS",
                   headers={"Origin": "http://player.example.com", "Access-Control-Request-Method": "GET"})
    assert r.status in (200, 204), "OPTIONS preflight: %d %r" % (r.status, body[:200])
    assert r.getheader("Access-Control-Allow-Origin") == "*", r.getheaders()


def test_cors_off(tmp_path):
    s = _start(str(tmp_path), crossdomain=False)
    try:
        r, body = _get(s, "/index.html", headers={"Origin": "http://player.example.com"})
        assert r.status == 200 and body == FILES["index.html"][0]
        assert r.getheader("Access-Control-Allow-Origin") is None, \
            "crossdomain off, yet CORS header: %r" % r.getheaders()
    finally:
        s.srv.stop()
    s.srv.check_no_traceback()


# ----------------------------------------------------------------------------- nothing outside dir
TRAVERSALS = [
    "/../secret.txt",
    "/../../secret.txt",
    "/live/../../secret.txt",
    "/./../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/live/..%2f..%2fsecret.txt",
    "/live%2f..%2f..%2fsecret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/../../../../../../../../etc/passwd",
    "//etc/passwd",
    "///etc/passwd",
    "/%2fetc%2fpasswd",
    "/%2Fetc/passwd",
    "/..\\secret.txt",
    "/live\\..\\..\\secret.txt",
    "/..%5csecret.txt",
    "/..%5c..%5csecret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/../secret.txt%00.html",
    "/index.html%00/../../secret.txt",
    "/..%00/secret.txt",
    "/..%c0%afsecret.txt",
    "/..;/secret.txt",
    "/../secret.flv",
    "/..%2fsecret.flv",
    "/../secret.html",
    "/escape.txt",
    "/vod/escape.flv",
    "/outdir/secret.txt",
    "/outdir/secret.flv",
    "/outdir/",
    "/live/rel.html",
    "/" + "a/" * 3 + "../" * 6 + "secret.txt",
    "http://127.0.0.1/../secret.txt",
    "http://127.0.0.1//etc/passwd",
]
# request targets that are not origin-form paths: 400 is a fine answer too
NOT_A_PATH = ["../secret.txt", "secret.txt", "*", "%2e%2e/secret.txt"]


def _new_traceback(site, marks):
    texts = (site.srv.console_text(), site.srv.log_text())
    return any("Traceback" in t[m:] for t, m in zip(texts, marks))


def _assert_not_served(site, target, allowed):
    marks = (len(site.srv.console_text()), len(site.srv.log_text()))
    try:
        r = get_raw_path(site.port, target)
    except AssertionError as e:
        raise AssertionError("GET %s: no response (%s); server traceback: %s"
                             % (target, e, _new_traceback(site, marks))) from None
    assert not _new_traceback(site, marks), "GET %s made the server log a Traceback" % target
    assert SECRET not in r.body and b"root:x:0:0" not in r.body, \
        "GET %s served a file outside dir: %s" % (target, r.describe())
    assert r.status in allowed, "GET %s: expected one of %s, got %s" % (target, allowed, r.describe())


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_never_served(site, target):
    _assert_not_served(site, target, (403, 404))


@pytest.mark.parametrize("target", NOT_A_PATH)
def test_malformed_target_never_served(site, target):
    _assert_not_served(site, target, (400, 403, 404))


def test_traversal_other_methods_and_raw_nul(site):
    """HEAD and a Range request of a traversal path give no file either; a raw NUL byte in
    the request line is refused; the server still serves afterwards."""
    for req in (b"HEAD /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-5\r\nConnection: close\r\n\r\n",
                b"GET /escape.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-5\r\nConnection: close\r\n\r\n",
                b"GET /..\x00/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /secret.txt\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
        try:
            r = raw_request(site.port, req)
        except AssertionError:
            continue   # closed without an answer: nothing served either
        assert SECRET not in r.raw and SECRET[-6:] not in r.body, "%r served the secret: %s" % (req, r.describe())
        assert r.status in (400, 403, 404, 416), "%r: %s" % (req, r.describe())
    r, body = _get(site, "/index.html")
    assert r.status == 200 and body == FILES["index.html"][0]


def test_inside_paths_still_served(site):
    """Normalisation does not over-block: an encoded character and a `./` inside the root work."""
    r, body = _get(site, "/live/%73.m3u8")
    assert r.status == 200 and body == FILES["live/s.m3u8"][0], "encoded name: %d" % r.status
    r = get_raw_path(site.port, "/./live/./s.m3u8")
    assert r.status in (200, 403, 404) and SECRET not in r.body
