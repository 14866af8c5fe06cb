"""HTTP-FLV live play end to end (issue 4): a real srsish process with `http_server` and
`http_remux`, ffmpeg publishing over RTMP, and ffmpeg, curl and raw sockets playing
`http://127.0.0.1:PORT/live/NAME.flv`; what they receive is checked with ffprobe and an FLV
tag parser. Hooks go to a real HTTP receiver in the test process (helpers.hooks_receiver).

What is proven here: the response (200, video/x-flv, chunked) starts with the FLV header,
onMetaData, the sequence headers and the GOP cache (first video frame a keyframe); ffmpeg and
curl recordings are H.264 + AAC with sane frame counts; on_play gates before any byte, with
the query as param, Referer as pageUrl, X-Forwarded-For / X-Real-IP as ip, the stream
without `.flv`, an 8-character client_id; on_stop when the viewer leaves or is cut off; a
rejected viewer gets 403 with a short reason and no on_stop; an unpublished stream gives 404
at once; when the publisher leaves, every viewer's body ends with the chunked terminator and
the connection closes; a viewer that reads nothing does not slow a normal viewer; the
`[vhost]` mount form serves a named vhost by Host header.
"""
import os
import re
import socket
import subprocess
import time

import pytest

from helpers import peers
from helpers.hooks_receiver import OK, HookReceiver, Reply
from helpers.http_util import (FlvReader, check_flv_start, get_raw_path, hooks_block,
                               http_remux_block, http_server_block, wait_flv_live, wait_http_port)
from helpers.probe import (assert_audio_present, assert_first_video_keyframe, assert_h264_aac,
                           assert_pts_increasing, ffprobe_frames)
from helpers.rtmp_raw import flv_tags
from helpers.util import free_port, server_send_queue, wait_for

pytestmark = pytest.mark.e2e

ID8 = re.compile(r"^[0-9a-z]{8}$")
VID = re.compile(r"^vid-[0-9a-z]{7}$")
# SRS 7.0.18's key order (reference srs.md section 2)
ON_PLAY_KEYS = ["server_id", "service_id", "action", "client_id", "ip", "vhost", "app", "stream", "tcUrl", "param",
                "pageUrl", "stream_url", "stream_id"]
ON_STOP_KEYS = ["server_id", "service_id", "action", "client_id", "ip", "vhost", "app", "tcUrl", "stream", "param",
                "stream_url", "stream_id"]
SECRET = b"TOPSECRET-srsish-flv-77a1"


class FlvSite:
    def __init__(self, srv, http_port, root):
        self.srv, self.http_port, self.root = srv, http_port, root

    def rtmp(self, stream):
        return self.srv.url(stream)

    def flv(self, stream, query=""):
        return "http://127.0.0.1:%d/live/%s.flv%s" % (self.http_port, stream, query)

    def path(self, stream, query=""):
        return "/live/%s.flv%s" % (stream, query)


def start_site(make_server, tmp_path, rx=None, remux=True, global_extra="", play_extra="") -> FlvSite:
    root = tmp_path / "html"
    root.mkdir(exist_ok=True)
    (root / "index.html").write_bytes(b"<html>srsish</html>\n")
    (tmp_path / "secret.flv").write_bytes(SECRET)
    port = free_port()
    vhost_extra = [http_remux_block()] if remux else []
    if rx is not None:
        vhost_extra.append(hooks_block({ev: [rx.url("/hooks/a/" + ev)] for ev in ("on_play", "on_stop")}))
    srv = make_server(global_extra=http_server_block(port, str(root)) + "\n" + global_extra,
                      vhost_extra="\n".join(vhost_extra), play_extra=play_extra)
    wait_http_port(srv, port)
    return FlvSite(srv, port, str(root))


def curl(procs, url, out, max_time, headers=(), name="curl"):
    cmd = ["curl", "-s", "-S", "--max-time", str(max_time), "-o", out]
    for h in headers:
        cmd += ["-H", h]
    return procs.spawn(name, cmd + [url], out=out)


def curl_status(url, timeout=10.0):
    """(HTTP status as curl saw it, seconds it took)."""
    t0 = time.monotonic()
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(timeout), url],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout + 5)
    return r.stdout.strip(), time.monotonic() - t0


def by_param(rx, action, param):
    return [r for r in rx.find(action=action) if r.body.get("param") == param]


def wait_by_param(rx, action, param, timeout=10.0):
    wait_for(lambda: by_param(rx, action, param), timeout,
             message="%s with param %r; got:\n%s" % (action, param, rx.dump()))
    found = by_param(rx, action, param)
    assert len(found) == 1, "expected one %s with param %r:\n%s" % (action, param, rx.dump())
    return found[0]


def probe_recording(path, min_frames, max_frames):
    assert os.path.exists(path) and os.path.getsize(path) > 0, "%s is empty" % path
    p = ffprobe_frames(path)
    assert_h264_aac(p)
    assert_first_video_keyframe(p)
    assert_pts_increasing(p)
    assert min_frames <= p.video_count <= max_frames, \
        "expected %d..%d video frames: %s" % (min_frames, max_frames, p.describe())
    assert_audio_present(p, min_frames)   # ~43 AAC packets/s against 25 video frames/s
    return p


# ----------------------------------------------------------------------------- playing
def test_ffmpeg_curl_and_raw_viewer_play(make_server, procs, media, tmp_path):
    """ffmpeg publishes a looped 3 s-GOP clip; joining mid-GOP, a raw viewer sees SRS's
    response (200, video/x-flv, chunked) and FLV header + onMetaData + sequence headers +
    GOP cache starting with a keyframe; `ffmpeg -i URL -c copy -t 3` and `curl --max-time 3`
    record valid H.264 + AAC starting on a keyframe."""
    site = start_site(make_server, tmp_path)
    pub = peers.ffmpeg_publish(procs, site.rtmp("play"), media.gop3.path, loop=True)
    wait_flv_live(site.http_port, site.path("play"))
    time.sleep(1.0)   # be mid-GOP: the cache must supply the keyframe

    ff = peers.ffmpeg_play(procs, site.flv("play"), str(tmp_path / "ffmpeg.flv"), duration=3)
    cu = curl(procs, site.flv("play"), str(tmp_path / "curl.flv"), 3)
    with FlvReader(site.http_port, site.path("play")) as raw:
        assert raw.read_head() == 200, raw.buf[:300]
        assert (raw.header("Content-Type") or "").lower().startswith("video/x-flv"), raw.headers
        assert raw.chunked, "HTTP-FLV not chunked: %r" % raw.headers
        raw.read_for(2.0)
        data, _ = raw.payload()
    assert data[:3] == b"FLV" and data[3] == 1, "no FLV header: %r" % data[:16]
    assert data[4] & 0x05 == 0x05, "FLV header without audio+video flags: %r" % data[:16]
    tags = flv_tags(data)
    check_flv_start(tags)
    nvideo = sum(1 for t, _, b in tags if t == 9 and b[1] == 1)
    assert nvideo >= 25, "2 s of a 25 fps stream (with the GOP cache) gave only %d frames" % nvideo

    assert ff.wait(20) == 0, ff.tail()
    cu_rc = cu.wait(15)
    assert cu_rc == 28, "curl --max-time 3 should time out (rc 28) on a live stream, got %d: %s" % (cu_rc, cu.tail())
    probe_recording(ff.out, 60, 110)
    # curl: the GOP cache (up to 75 frames) then ~3 s of real time
    probe_recording(cu.out, 40, 180)
    assert check_file_start(cu.out)
    assert pub.alive(), pub.tail()


def check_file_start(path):
    with open(path, "rb") as f:
        check_flv_start(flv_tags(f.read()))
    return True


def test_publisher_leaving_ends_every_viewer(make_server, procs, media, tmp_path):
    """When the publisher leaves: the raw viewer's chunked body ends with the terminator and
    the server closes; curl exits 0 (complete response); ffmpeg's recording ends cleanly;
    each viewer gets on_stop; the stream then answers 404."""
    with HookReceiver() as rx:
        site = start_site(make_server, tmp_path, rx)
        pub = peers.ffmpeg_publish(procs, site.rtmp("leave"), media.clip.path)
        wait_flv_live(site.http_port, site.path("leave"))
        cu = curl(procs, site.flv("leave", "?who=curl"), str(tmp_path / "curl.flv"), 40)
        ff = peers.ffmpeg_play(procs, site.flv("leave", "?who=ffmpeg"), str(tmp_path / "ffmpeg.flv"))
        raw = FlvReader(site.http_port, site.path("leave", "?who=raw"), timeout=5)
        try:
            assert raw.read_head() == 200
            assert pub.wait(media.clip.seconds + 15) == 0, pub.tail()
            t_end = time.monotonic()
            assert raw.read_until_eof(5), "raw viewer still connected 5 s after the publisher left"
            assert raw.eof and time.monotonic() - t_end < 5
            data, terminated = raw.payload()
            assert terminated, "no chunked terminator (0\\r\\n\\r\\n) at the end: %r" % raw.body[-40:]
            check_flv_start(flv_tags(data))
        finally:
            raw.close()
        assert cu.wait(8) == 0, "curl should end cleanly (complete chunked body): %s" % cu.tail()
        assert ff.wait(8) == 0, ff.tail()
        probe_recording(cu.out, 20, media.clip.video_frames + 5)
        probe_recording(ff.out, 20, media.clip.video_frames + 5)
        for who in ("curl", "ffmpeg", "raw"):
            play = wait_by_param(rx, "on_play", "?who=" + who)
            stop = wait_by_param(rx, "on_stop", "?who=" + who)
            assert stop.client_id == play.client_id, rx.dump()
            assert stop.arrived >= play.arrived
        status, took = curl_status(site.flv("leave"))
        assert status == "404", "stream gone: expected 404, got %s" % status


# ----------------------------------------------------------------------------- hooks
def test_on_play_gates_first_byte_and_fields(make_server, procs, media, tmp_path):
    """on_play (answered after 0.8 s) comes before the first response byte; its body has
    SRS's keys in order: the query as param, the Referer as pageUrl, the first
    X-Forwarded-For entry as ip, the stream without .flv, an 8-char client_id, SRS's
    stream_url and a vid- stream_id; on_stop, with the same client_id, after the viewer left."""
    def responder(req):
        return Reply(delay=0.8) if "slow=1" in req.body.get("param", "") else OK

    with HookReceiver(responder) as rx:
        site = start_site(make_server, tmp_path, rx)
        pub = peers.ffmpeg_publish(procs, site.rtmp("hk"), media.gop3.path, loop=True)
        wait_flv_live(site.http_port, site.path("hk"))
        hdrs = ("X-Forwarded-For: 203.0.113.9, 10.0.0.1\r\nX-Real-IP: 198.51.100.99\r\n"
                "Referer: http://player.example.com/page.html\r\n")
        q = "?token=flvtok&slow=1"
        with FlvReader(site.http_port, site.path("hk", q), headers=hdrs) as raw:
            assert raw.read_head(8) == 200, raw.buf[:300]
            play = wait_by_param(rx, "on_play", q)
            assert play.answered is not None and raw.first_byte_at >= play.answered, \
                "a response byte came before on_play was answered"
            assert raw.first_byte_at - raw.connected_at >= 0.7, "on_play's 0.8 s did not delay the response"
            raw.read_for(0.5)
            assert not by_param(rx, "on_stop", q), "on_stop while the viewer still plays"
        b = play.body
        assert list(b) == ON_PLAY_KEYS, "on_play keys %s, SRS has %s" % (list(b), ON_PLAY_KEYS)
        assert b["action"] == "on_play" and ID8.match(b["client_id"]), b
        assert b["ip"] == "203.0.113.9", "X-Forwarded-For first entry must be ip: %r" % b
        assert (b["vhost"], b["app"], b["stream"]) == ("__defaultVhost__", "live", "hk"), b
        assert b["param"] == q and b["pageUrl"] == "http://player.example.com/page.html", b
        assert b["stream_url"] == "/live/hk" and VID.match(b["stream_id"]), b
        assert isinstance(b["tcUrl"], str) and b["tcUrl"].endswith("/live"), b
        stop = wait_by_param(rx, "on_stop", q, timeout=5)
        s = stop.body
        assert list(s) == ON_STOP_KEYS, "on_stop keys %s, SRS has %s" % (list(s), ON_STOP_KEYS)
        assert s["client_id"] == b["client_id"] and s["ip"] == "203.0.113.9", s
        assert (s["stream"], s["param"], s["stream_url"], s["stream_id"]) == \
            ("hk", q, "/live/hk", b["stream_id"]), s
        assert VID.match(s["stream_id"]), s

        # X-Real-IP when there is no X-Forwarded-For; the TCP peer when neither; curl as the viewer
        c1 = curl(procs, site.flv("hk", "?who=realip"), str(tmp_path / "c1.flv"), 1.5,
                  headers=["X-Real-IP: 198.51.100.7"])
        c2 = curl(procs, site.flv("hk", "?who=plain"), str(tmp_path / "c2.flv"), 1.5)
        assert c1.wait(10) == 28 and c2.wait(10) == 28, c1.tail() + c2.tail()
        p1 = wait_by_param(rx, "on_play", "?who=realip")
        p2 = wait_by_param(rx, "on_play", "?who=plain")
        assert p1.body["ip"] == "198.51.100.7", p1.body
        assert p2.body["ip"] == "127.0.0.1" and p2.body["pageUrl"] == "", p2.body
        assert wait_by_param(rx, "on_stop", "?who=realip", 5).client_id == p1.client_id
        assert wait_by_param(rx, "on_stop", "?who=plain", 5).client_id == p2.client_id
        ids = {r.client_id for r in rx.find(action="on_play")}
        assert len(ids) == len(rx.find(action="on_play")), "client_id reused: %s" % rx.dump()
        assert pub.alive(), pub.tail()


def test_rejected_viewer_gets_403(make_server, procs, media, tmp_path):
    """on_play answered `1`: the viewer gets HTTP 403 with a short reason and not a byte of
    FLV; curl sees 403; no on_stop follows; a viewer the hook accepts plays."""
    def responder(req):
        return Reply(200, b"1") if "deny" in req.body.get("param", "") else OK

    with HookReceiver(responder) as rx:
        site = start_site(make_server, tmp_path, rx)
        pub = peers.ffmpeg_publish(procs, site.rtmp("rj"), media.gop3.path, loop=True)
        wait_flv_live(site.http_port, site.path("rj"))
        t0 = time.monotonic()
        r = get_raw_path(site.http_port, site.path("rj", "?deny=1"))
        assert r.status == 403, "rejected viewer: expected 403, got %s" % r.describe()
        assert time.monotonic() - t0 < 3
        assert 0 < len(r.body) <= 512 and b"FLV" not in r.body[:3], "403 body should be a short reason: %r" % r.body
        status, _ = curl_status(site.flv("rj", "?deny=2"))
        assert status == "403", "curl: expected 403, got %s" % status
        rejected = [wait_by_param(rx, "on_play", q) for q in ("?deny=1", "?deny=2")]
        time.sleep(1.0)
        for p in rejected:
            assert not rx.find(action="on_stop", client_id=p.client_id), \
                "on_stop for a viewer on_play rejected (SRS sends none):\n%s" % rx.dump()
        with FlvReader(site.http_port, site.path("rj", "?ok=1")) as raw:
            assert raw.read_head() == 200
            raw.read_for(1.0)
            check_flv_start(flv_tags(raw.payload()[0]))
        assert pub.alive(), pub.tail()


def test_unpublished_stream_404_at_once_and_no_escape(make_server, procs, tmp_path):
    """A stream nobody publishes answers 404 at once (raw socket and curl), never a hang; FLV
    mount paths that try to leave the root are 403/404 and never the file."""
    with HookReceiver() as rx:
        site = start_site(make_server, tmp_path, rx)
        t0 = time.monotonic()
        r = get_raw_path(site.http_port, site.path("nobody"), timeout=5)
        took = time.monotonic() - t0
        assert r.status == 404, r.describe()
        assert took < 2.0, "404 took %.1fs" % took
        status, took = curl_status(site.flv("nobody", "?x=1"), timeout=10)
        assert status == "404" and took < 2.0, "curl: %s after %.1fs" % (status, took)
        for target in ("/../secret.flv", "/live/../../secret.flv", "/live/..%2f..%2fsecret.flv",
                       "/%2e%2e/secret.flv", "/..%2fsecret.flv", "/live/%2e%2e%2f%2e%2e%2fsecret.flv",
                       "//secret.flv", "/live\\..\\..\\secret.flv", "/../secret.flv?vhost=x"):
            r = get_raw_path(site.http_port, target)
            assert SECRET not in r.body, "GET %s served a file outside dir: %s" % (target, r.describe())
            assert r.status in (403, 404), "GET %s: %s" % (target, r.describe())
        r = get_raw_path(site.http_port, "/index.html")
        assert r.status == 200 and r.body == b"<html>srsish</html>\n", r.describe()


# ----------------------------------------------------------------------------- robustness
def test_stalled_viewer_does_not_disturb_ffmpeg(make_server, procs, media, tmp_path):
    """A raw viewer with a 4 KB receive buffer that never reads sits on a ~2 MB/s stream;
    an ffmpeg viewer started next to it still records 4 s in real time, from a keyframe."""
    site = start_site(make_server, tmp_path)
    pub = peers.ffmpeg_publish(procs, site.rtmp("slow"), media.heavy.path, loop=True)
    wait_flv_live(site.http_port, site.path("slow"))
    stalled = FlvReader(site.http_port, site.path("slow", "?stalled=1"), rcvbuf=4096)
    try:
        wait_for(lambda: server_send_queue(site.http_port, stalled.local_port) > 0, 5,
                 message="the server's send queue to the stalled viewer to fill")
        t0 = time.monotonic()
        ff = peers.ffmpeg_play(procs, site.flv("slow"), str(tmp_path / "ffmpeg.flv"), duration=4)
        assert ff.wait(20) == 0, ff.tail()
        took = time.monotonic() - t0
        assert took < 10, "ffmpeg needed %.1fs for 4 s of stream next to a stalled viewer" % took
        probe_recording(ff.out, 85, 130)
        assert pub.alive(), pub.tail()
        # the server is still responsive to new viewers
        with FlvReader(site.http_port, site.path("slow")) as raw:
            assert raw.read_head() == 200
    finally:
        stalled.close()


def test_stalled_viewer_that_hangs_up_is_let_go_at_once(make_server, procs, media, tmp_path):
    """A viewer that never reads fills the server's send queue, so its writer waits on a full socket;
    when the viewer then shuts its side, the play ends within seconds (on_stop, the log's reason),
    not after the 30 s send timeout: the viewer's read side is watched while this greenlet writes."""
    with HookReceiver() as rx:
        site = start_site(make_server, tmp_path, rx)
        pub = peers.ffmpeg_publish(procs, site.rtmp("hang"), media.heavy.path, loop=True)
        wait_flv_live(site.http_port, site.path("hang"))
        q = "?who=hangup"
        stalled = FlvReader(site.http_port, site.path("hang", q), rcvbuf=4096)
        try:
            queued = []

            def socket_full():   # the send queue stopped growing: the writer is parked on a full socket
                queued.append(server_send_queue(site.http_port, stalled.local_port))
                time.sleep(0.5)
                return len(queued) > 1 and queued[-1] > 0 and queued[-1] == queued[-2]
            wait_for(socket_full, 20, message="the server's send queue to the stalled viewer to fill")
            assert not by_param(rx, "on_stop", q), rx.dump()
            t0 = time.monotonic()
            stalled.sock.shutdown(socket.SHUT_WR)
            wait_by_param(rx, "on_stop", q, timeout=10)
            assert time.monotonic() - t0 < 5, "the hung-up viewer was held %.1fs" % (time.monotonic() - t0)
            site.srv.wait_log("stop HTTP-FLV play: viewer closed", 5)
        finally:
            stalled.close()
        assert pub.alive(), pub.tail()


def test_named_vhost_mount(make_server, procs, media, tmp_path):
    """`[vhost]/[app]/[stream].flv` on a named vhost: a stream published with ?vhost=named.test
    plays with `Host: named.test` (and with ?vhost=named.test); with the default vhost's Host it
    is not found."""
    named = ("vhost named.test {\n%s\n}" % http_remux_block())
    site = start_site(make_server, tmp_path, remux=False, global_extra=named)
    pub = peers.ffmpeg_publish(procs, site.rtmp("nv") + "?vhost=named.test", media.gop3.path, loop=True)

    def plays(headers="", query=""):
        with FlvReader(site.http_port, site.path("nv", query), headers=headers) as raw:
            if raw.read_head(3) != 200:
                return False
            raw.read_for(0.8)
            check_flv_start(flv_tags(raw.payload()[0]))
            return True
    # Host header is sent by FlvReader as 127.0.0.1:port; an extra Host would duplicate it,
    # so the named vhost is asked for through the raw request below.
    wait_for(lambda: plays(query="?vhost=named.test"), 10, interval=0.3, message="named vhost by ?vhost=")
    with socket.create_connection(("127.0.0.1", site.http_port), 5) as s:
        s.sendall(b"GET /live/nv.flv HTTP/1.1\r\nHost: named.test\r\n\r\n")
        s.settimeout(5)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    assert buf.startswith(b"HTTP/1.1 200"), "Host: named.test: %r" % buf[:300]
    r = get_raw_path(site.http_port, "/live/nv.flv", timeout=3)
    assert r.status == 404, "default vhost has no http_remux, yet: %s" % r.describe()
    assert pub.alive(), pub.tail()
