"""HLS end to end (issue 6): a real srsish process, ffmpeg publishing, the files served by srsish's
own http_server, and a real hook receiver in the test process (helpers.hooks_receiver).

What is proven here: while ffmpeg publishes (1 s GOP, hls_fragment 2, hls_window 6) the playlist
appears and parses, every segment is H.264 + AAC for ffprobe, starts on a keyframe, has the
duration its EXTINF says and continues the previous one's PTS; ffmpeg plays the playlist over
HTTP; over a longer publish the playlist keeps SRS's window, every read of it is whole, and old
segments are deleted; on_hls (SRS's keys, order and JSON types, the values SRS gives) and
on_hls_notify (the GET with its template filled in) come once per segment; a publisher that comes
back continues the sequence after EXT-X-DISCONTINUITY; hls_dispose removes everything; hostile
app/stream names write nothing outside hls_path; both forms of hls_entry_prefix (and the notify
GET of the absolute segment URL), path templates with [duration] and the time variables, pure
audio cut at hls_fragment x hls_aof_ratio, hls_vcodec vn; hls_ctx sessions: on_play with SRS's
HLS fields and the variant playlist, 403 for a rejected viewer, on_stop after 2 x hls_window
and at shutdown.
"""
import http.client
import json
import math
import os
import re
import subprocess
import time
from typing import Dict, List, Optional, Tuple

import m3u8
import pytest

from helpers import peers
from helpers.hooks_receiver import OK, HookReceiver, Reply
from helpers.probe import assert_first_video_keyframe, assert_h264_aac, assert_pts_increasing, ffprobe_frames
from helpers.server import REPO_ROOT, SrsishProcess
from helpers.util import free_port, port_open, wait_for

pytestmark = pytest.mark.e2e

HOST = "127.0.0.1"
FRAGMENT = 2
WINDOW = 6
FPS = 25
FRAME = 1.0 / FPS
HLS_DIR = "objs/nginx/html"
SAMPLES = os.path.join(REPO_ROOT, "tests", "data", "srs-hook-samples")
ID8 = re.compile(r"^[0-9a-z]{8}$")


# ----------------------------------------------------------------------------- server and conf

class HlsServer(SrsishProcess):
    """srsish with HLS and http_server on a free port serving hls_path."""

    def __init__(self, workdir: str, hls: str, hooks: str = "", vhosts: str = "", **kw) -> None:
        self.http_port = free_port()
        http = "http_server {\n    enabled on;\n    listen %s:%d;\n    dir ./%s;\n}\n" % (HOST, self.http_port, HLS_DIR)
        super().__init__(workdir, global_extra=http, vhost_extra=hls + "\n" + hooks, **kw)
        self.vhosts = vhosts
        self.hls_root = os.path.join(self.workdir, HLS_DIR)

    def render_conf(self, **overrides) -> str:
        return super().render_conf(**overrides) + self.vhosts

    def wait_ready(self, timeout: Optional[float] = None) -> None:
        super().wait_ready(timeout)
        wait_for(lambda: port_open(HOST, self.http_port, 0.3), 10, message="HTTP port %d" % self.http_port)

    def path(self, rel: str) -> str:
        return os.path.join(self.hls_root, rel)


def hls_block(**directives) -> str:
    conf = dict(enabled="on", hls_fragment=FRAGMENT, hls_window=WINDOW, hls_path="./" + HLS_DIR)
    conf.update(directives)
    return "    hls {\n%s\n    }" % "\n".join("        %s %s;" % (k, v) for k, v in conf.items())


def hooks_block(urls: Dict[str, str]) -> str:
    lines = ["    http_hooks {", "        enabled on;"] + ["        %s %s;" % kv for kv in urls.items()] + ["    }"]
    return "\n".join(lines)


@pytest.fixture
def start(tmp_path, request):
    """start(hls=..., hooks=..., vhosts=...) -> a running HlsServer; stopped (and checked for
    tracebacks) at teardown."""
    started: List[HlsServer] = []

    def factory(**kw) -> HlsServer:
        srv = HlsServer(str(tmp_path / ("server%d" % len(started))), **kw)
        started.append(srv)
        srv.start()
        return srv

    yield factory
    for srv in started:
        srv.stop()
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed:
            print("\n===== srsish diagnostics =====\n" + srv.diagnostics())
        srv.check_no_traceback()


# ----------------------------------------------------------------------------- small helpers

def http_get(port: int, target: str, headers: Optional[dict] = None) -> Tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", target, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def load_playlist(path: str) -> Optional[m3u8.M3U8]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return m3u8.loads(text)


def wait_playlist(path: str, segments: int = 1, timeout: float = 15.0) -> m3u8.M3U8:
    def ready():
        pl = load_playlist(path)
        return pl if pl is not None and len(pl.segments) >= segments else None
    return wait_for(ready, timeout, interval=0.1, message="%s with %d segment(s)" % (path, segments))


def wait_gets(rx: HookReceiver, n: int, path_prefix: str, timeout: float = 10.0) -> list:
    """The GET requests (on_hls_notify) under `path_prefix`, once there are `n` of them."""
    def found():
        gets = [r for r in list(rx.requests) if r.method == "GET" and r.path.startswith(path_prefix)]
        return gets if len(gets) >= n else None
    return wait_for(found, timeout, message="%d notify GETs under %s:\n%s" % (n, path_prefix, rx.dump()))


def seq_of(uri: str) -> int:
    return int(re.search(r"-(\d+)\.ts", uri).group(1))


def sample_body(name: str) -> dict:
    with open(os.path.join(SAMPLES, name), encoding="utf-8") as f:
        return json.loads(json.load(f)["request"]["body"])


def check_segments(pl: m3u8.M3U8, base_dir: str) -> None:
    """Each segment: H.264 + AAC, first video frame a keyframe, video span = EXTINF within a frame,
    PTS continuing the previous segment's within a frame."""
    previous_last: Optional[int] = None
    for seg in pl.segments:
        p = ffprobe_frames(os.path.join(base_dir, seg.uri))
        assert_h264_aac(p)
        assert_first_video_keyframe(p)
        assert_pts_increasing(p)
        assert p.audio_count > 0, p.describe()
        span = (p.video[-1].pts - p.video[0].pts) / 90000.0 + FRAME
        assert abs(span - seg.duration) <= FRAME + 0.005, \
            "%s: EXTINF %.3f but the video spans %.3f s" % (seg.uri, seg.duration, span)
        if previous_last is not None and not seg.discontinuity:
            gap = (p.video[0].pts - previous_last) / 90000.0
            assert abs(gap - FRAME) <= 0.002, "%s: PTS jumps by %.3f s from the previous segment" % (seg.uri, gap)
        previous_last = p.video[-1].pts


def tree(root: str) -> set:
    out = set()
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            out.add(os.path.join(d, name))
    return out


# ----------------------------------------------------------------------------- the live stream, its hooks, republish, dispose

def test_live_segments_hooks_republish_and_dispose(start, procs, media):
    """ffmpeg publishes live/a?token=abc (6 s, 1 s GOP): the playlist appears during the publish,
    then holds 3 segments that ffprobe accepts, with EXTINF matching and PTS continuous; on_hls and
    on_hls_notify arrive once per segment with SRS's fields. The publisher comes back: the sequence
    goes on after EXT-X-DISCONTINUITY, the oldest segment leaves the window and its file goes. After
    hls_dispose without a publisher, every file is gone."""
    with HookReceiver() as rx:
        hooks = hooks_block({"on_publish": rx.url("/hooks/on_publish"), "on_hls": rx.url("/hooks/on_hls"),
                             "on_hls_notify": rx.url("/hooks/notify/[server_id]/[app]/[stream]/[ts_url][param]")})
        srv = start(hls=hls_block(hls_dispose=8), hooks=hooks)
        m3u8_path = srv.path("live/a.m3u8")
        pub = peers.ffmpeg_publish(procs, srv.url("a?token=abc"), media.clip.path)
        first = wait_playlist(m3u8_path, 1, timeout=10)
        assert pub.alive(), "the playlist should appear while publishing\n" + pub.tail()
        assert first.media_sequence == 0 and first.target_duration in (FRAGMENT, FRAGMENT + 1)
        assert pub.wait(media.clip.seconds + 15) == 0, pub.tail()

        wait_for(lambda: len(load_playlist(m3u8_path).segments) == 3, 5, message="the last segment at unpublish")
        pl = load_playlist(m3u8_path)
        assert [seq_of(s.uri) for s in pl.segments] == [0, 1, 2]
        assert pl.segments[0].discontinuity and not pl.segments[1].discontinuity
        assert abs(sum(s.duration for s in pl.segments) - media.clip.seconds) < 0.1
        assert pl.target_duration == math.ceil(max(max(s.duration for s in pl.segments), FRAGMENT))
        assert not os.path.exists(m3u8_path + ".temp")
        assert not [n for n in os.listdir(srv.path("live")) if n.endswith(".tmp")]
        check_segments(pl, srv.path("live"))

        # on_hls: SRS's keys in SRS's order and JSON types, SRS's values
        published = rx.wait(1, 5, action="on_publish")[0].body
        hls_hooks = rx.wait(3, 10, action="on_hls")
        assert len(hls_hooks) == 3
        sample = sample_body("main-014-on_hls-rtmp-pub-urla.json")
        for i, (req, seg) in enumerate(zip(hls_hooks, pl.segments)):
            body = req.body
            assert list(body) == list(sample), "on_hls keys differ from SRS's: %s" % req.describe()
            assert {k: type(v) for k, v in body.items()} == {k: type(v) for k, v in sample.items()}
            assert re.search(rb'"duration":\d+\.\d\d,', req.raw), req.raw
            assert body["seq_no"] == i
            assert abs(body["duration"] - seg.duration) < 0.006
            for key in ("client_id", "ip", "vhost", "app", "tcUrl", "stream", "param", "stream_url", "stream_id",
                        "server_id", "service_id"):
                assert body[key] == published[key], key
            assert (body["stream"], body["param"]) == ("a", "?token=abc")
            assert body["cwd"] == srv.workdir
            assert body["file"] == "./%s/live/a-%d.ts" % (HLS_DIR, i)
            assert body["url"] == "live/a-%d.ts" % i
            assert body["m3u8"] == "./%s/live/a.m3u8" % HLS_DIR
            assert body["m3u8_url"] == "live/a.m3u8"
        notify = wait_gets(rx, 3, "/hooks/notify/")
        assert [r.path for r in notify] == ["/hooks/notify/%s/live/a/a-%d.ts?token=abc" % (published["server_id"], i)
                                            for i in range(3)]
        assert all(r.raw == b"" for r in notify)

        # the publisher comes back within hls_dispose: the sequence goes on after a discontinuity
        pub2 = peers.ffmpeg_publish(procs, srv.url("a?token=abc"), media.short.path, name="ffmpeg-pub2")
        assert pub2.wait(media.short.seconds + 15) == 0, pub2.tail()
        wait_for(lambda: seq_of(load_playlist(m3u8_path).segments[-1].uri) == 4, 5, message="segment 4")
        pl = load_playlist(m3u8_path)
        seqs = [seq_of(s.uri) for s in pl.segments]
        assert seqs == [1, 2, 3, 4], pl.dumps()
        assert pl.media_sequence == 1
        assert [s.discontinuity for s in pl.segments] == [False, False, True, False]
        assert sum(s.duration for s in pl.segments[1:]) <= WINDOW, "SRS keeps only what the window needs"
        assert not os.path.exists(srv.path("live/a-0.ts")), "a segment that left the window is deleted"
        check_segments(pl, srv.path("live"))
        assert [r.body["seq_no"] for r in rx.wait(5, 10, action="on_hls")] == [0, 1, 2, 3, 4]

        # hls_dispose 8: no publisher for 8 s, and every file goes
        wait_for(lambda: not [n for n in os.listdir(srv.path("live"))], 12, interval=0.2,
                 message="hls_dispose to remove %s" % os.listdir(srv.path("live")))


# ----------------------------------------------------------------------------- window, cleanup, playback over HTTP

def test_window_cleanup_and_playback_over_http(start, procs, media, tmp_path):
    """A 20 s publish: every read of the playlist is whole and parses, keeps SRS's window (the
    segments after the oldest never exceed hls_window), and every segment it lists (but the oldest,
    which may just be going) exists; old segments are deleted. Meanwhile ffmpeg plays the playlist
    through srsish's http_server."""
    srv = start(hls=hls_block())
    url = srv.url("b")
    pub = peers.ffmpeg_publish(procs, url, media.clip.path, loop=True, duration=20)
    m3u8_path = srv.path("live/b.m3u8")
    wait_playlist(m3u8_path, 2, timeout=10)

    out = str(tmp_path / "played.ts")
    player = procs.spawn("ffmpeg-hls-play", ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-y",
                                              "-live_start_index", "0",
                                              "-i", "http://%s:%d/live/b.m3u8" % (HOST, srv.http_port),
                                              "-c", "copy", "-t", "5", "-f", "mpegts", out])
    reads, most = 0, 0
    while pub.alive():
        with open(m3u8_path, encoding="utf-8") as f:
            text = f.read()
        assert text.startswith("#EXTM3U\n") and text.endswith(".ts\n"), "half a playlist:\n" + text
        pl = m3u8.loads(text)
        reads += 1
        durations = [s.duration for s in pl.segments]
        assert sum(durations[1:]) <= WINDOW + 0.001, text
        most = max(most, len(pl.segments))
        for seg in pl.segments[1:]:
            assert os.path.exists(srv.path("live/" + seg.uri)), "%s listed but missing" % seg.uri
        time.sleep(0.1)
    assert pub.returncode == 0, pub.tail()
    assert reads > 50 and most >= 3

    final = load_playlist(m3u8_path)
    assert final.media_sequence >= 6, "a 20 s publish cuts ~10 segments of 2 s"
    on_disk = {n for n in os.listdir(srv.path("live")) if n.endswith(".ts")}
    assert on_disk == {s.uri for s in final.segments}, "segments out of the window must be deleted"

    assert player.wait(20) == 0, player.tail()
    p = ffprobe_frames(out)
    assert_h264_aac(p)
    assert_first_video_keyframe(p)
    assert abs(p.video_count - 5 * FPS) <= 3, p.describe()
    assert p.audio_count > 150, p.describe()


# ----------------------------------------------------------------------------- names, prefixes, templates, audio only

def test_hostile_names_prefixes_templates_and_audio_only(start, procs, media, tmp_path):
    """Stream and app names with `..`, `/` and absolute paths create nothing outside hls_path.
    hls_entry_prefix without a trailing `/` puts the m3u8's directory in the segment URL, and the
    notify GET goes to that URL itself (SRS's quirk); with a trailing `/` it does not. Path
    templates fill the time variables, [seq] and [duration]. A pure audio stream is cut at
    hls_fragment x hls_aof_ratio, and hls_vcodec vn leaves video out."""
    audio_only = str(tmp_path / "audio.flv")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", media.clip.path, "-vn", "-c:a", "copy", "-f", "flv",
                    audio_only], check=True, timeout=30)
    with HookReceiver() as rx:
        prefix = rx.url("/cdn")
        vhosts = ("vhost slash.test {\n%s\n}\n" % hls_block(hls_entry_prefix=prefix + "/")
                  + "vhost vn.test {\n%s\n}\n" % hls_block(hls_vcodec="vn"))
        hooks = hooks_block({"on_hls": rx.url("/hooks/on_hls"), "on_hls_notify": rx.url("/hooks/notify/[ts_url]")})
        ts_file = "[app]/[stream]/[2006][01][02]/[15][04][05].[999]-[timestamp]-[seq]-[duration].ts"
        srv = start(hls=hls_block(hls_entry_prefix=prefix, hls_ts_file=ts_file), hooks=hooks, vhosts=vhosts)
        before = tree(str(tmp_path))

        hostile = [("live", "../../../evil"), ("live", "/abs/evil"), ("../../up", "x"), ("a/../../..", "..")]
        for app, stream in hostile:
            cmd = peers.FFMPEG + ["-loglevel", "warning", "-i", media.short.path, "-c", "copy", "-f", "flv",
                                  "-rtmp_app", app, "-rtmp_playpath", stream,
                                  "rtmp://%s:%d/%s/%s" % (HOST, srv.port, "live", "placeholder")]
            assert procs.spawn("ffmpeg-hostile", cmd).wait(30) == 0
        time.sleep(0.5)
        created = tree(str(tmp_path)) - before
        outside = sorted(p for p in created if not p.startswith(srv.hls_root + os.sep)
                         and not (srv.hls_root + os.sep).startswith(p + os.sep)     # hls_path itself
                         and not p.startswith(str(tmp_path / "peers")))
        assert not outside, "files outside hls_path: %s" % outside
        m3u8s = [p for p in created if p.endswith(".m3u8")]
        assert len(m3u8s) == len(hostile), "each hostile publish still gets its playlist inside: %s" % m3u8s

        # templates + prefix without "/": http://.../cdn/live/<ts path relative to the m3u8>
        pub = peers.ffmpeg_publish(procs, srv.url("t"), media.short.path, realtime=False, name="ffmpeg-tmpl")
        assert pub.wait(30) == 0, pub.tail()
        pl = wait_playlist(srv.path("live/t.m3u8"), 2)
        pattern = re.compile(re.escape(prefix) + r"/live/t/(\d{8})/(\d{6})\.(\d{3})-(\d{13})-(\d+)-(\d+)\.ts$")
        for i, seg in enumerate(pl.segments):
            m = pattern.match(seg.uri)
            assert m, seg.uri
            assert int(m.group(5)) == i and int(m.group(6)) == round(seg.duration * 1000)
            assert m.group(1) == time.strftime("%Y%m%d", time.localtime(int(m.group(4)) / 1000))
            rel = seg.uri[len(prefix) + 1:][len("live/"):]
            assert os.path.isfile(srv.path("live/" + rel)), rel
        hls_hooks = rx.wait(len(pl.segments), 10, action="on_hls", stream="t")
        assert [h.body["url"] for h in hls_hooks] == [s.uri for s in pl.segments]
        got = wait_gets(rx, len(pl.segments), "/cdn/live/t/")
        assert [r.path for r in got] == [s.uri[len(rx.url("")):] for s in pl.segments], \
            "SRS GETs the absolute segment URL instead of the notify template"

        # prefix with "/": prefix + file, no app directory
        pub = peers.ffmpeg_publish(procs, srv.url("s?vhost=slash.test"), media.short.path, realtime=False,
                                   name="ffmpeg-slash")
        assert pub.wait(30) == 0, pub.tail()
        pl = wait_playlist(srv.path("live/s.m3u8"), 1)
        assert pl.segments[0].uri == prefix + "/s-0.ts"

        # pure audio: cut at hls_fragment x hls_aof_ratio (2 x 2.1 = 4.2 s)
        pub = peers.ffmpeg_publish(procs, srv.url("pa"), audio_only, realtime=False, name="ffmpeg-audio")
        assert pub.wait(30) == 0, pub.tail()
        pl = wait_playlist(srv.path("live/pa.m3u8"), 2)
        assert 4.2 <= pl.segments[0].duration < 4.3, pl.dumps()
        p = ffprobe_frames(srv.path("live/" + pl.segments[0].uri.rsplit("/live/", 1)[-1]))
        assert p.codecs == {"audio": "aac"} and p.audio_count > 150, p.describe()

        # hls_vcodec vn: video left out of an audio+video stream
        pub = peers.ffmpeg_publish(procs, srv.url("v?vhost=vn.test"), media.short.path, realtime=False,
                                   name="ffmpeg-vn")
        assert pub.wait(30) == 0, pub.tail()
        pl = wait_playlist(srv.path("live/v.m3u8"), 1)
        p = ffprobe_frames(srv.path("live/" + pl.segments[0].uri))
        assert p.codecs == {"audio": "aac"}, p.describe()


# ----------------------------------------------------------------------------- hls_ctx play sessions

def test_hls_ctx_on_play_variant_403_and_on_stop(start, procs, media):
    """The first GET of live/c.m3u8 runs on_play with SRS's HLS fields (stream keeps .m3u8, tcUrl
    http://host/app, pageUrl from Referer, client_id = the 8-character session id) and answers
    SRS's variant playlist pointing at ?hls_ctx=ID&<query>; with the id the playlist itself is
    served. A viewer the backend rejects gets 403 and never an on_stop. A session quiet for
    2 x hls_window gets on_stop; one still open at SIGTERM gets it at shutdown."""
    window = 2

    def responder(req):
        return Reply(200, b"1") if req.body.get("param", "").endswith("token=bad") else OK

    with HookReceiver(responder) as rx:
        hooks = hooks_block({"on_publish": rx.url("/hooks/on_publish"), "on_play": rx.url("/hooks/on_play"),
                             "on_stop": rx.url("/hooks/on_stop")})
        srv = start(hls=hls_block(hls_fragment=1, hls_window=window), hooks=hooks)
        pub = peers.ffmpeg_publish(procs, srv.url("c"), media.clip.path, loop=True, duration=40)
        wait_playlist(srv.path("live/c.m3u8"), 1, timeout=10)
        published = rx.wait(1, 5, action="on_publish")[0].body

        status, headers, _ = http_get(srv.http_port, "/live/nope.m3u8")
        assert status == 404 and not rx.find(action="on_play")

        status, headers, body = http_get(srv.http_port, "/live/c.m3u8?token=good",
                                         {"Referer": "http://player.example.com/page.html"})
        assert status == 200, body
        assert headers["content-type"] == "application/vnd.apple.mpegurl"
        m = re.fullmatch(rb"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1\n"
                         rb"/live/c\.m3u8\?hls_ctx=([0-9a-z]{8})&token=good", body)
        assert m, body
        sid = m.group(1).decode()
        play = rx.wait(1, 5, action="on_play")[0]
        sample = sample_body("main-018-on_play-hls-play-urla.json")
        assert list(play.body) == list(sample)
        assert {k: type(v) for k, v in play.body.items()} == {k: type(v) for k, v in sample.items()}
        expected = dict(client_id=sid, ip=HOST, vhost="__defaultVhost__", app="live", stream="c.m3u8",
                        tcUrl="http://%s/live" % HOST, param="?token=good",
                        pageUrl="http://player.example.com/page.html", stream_url="/live/c",
                        stream_id=published["stream_id"])
        assert {k: play.body[k] for k in expected} == expected

        for i in range(3):   # a player polling with its id: the media playlist, no new on_play
            if i:
                time.sleep(1)
            status, _, body = http_get(srv.http_port, "/live/c.m3u8?hls_ctx=%s&token=good" % sid)
            last_poll = time.monotonic()
            assert status == 200 and b"#EXTINF:" in body, body
            segments = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
            assert segments and all(u.endswith("?hls_ctx=" + sid) for u in segments), body   # hls_ts_ctx
        assert len(rx.find(action="on_play")) == 1 and not rx.find(action="on_stop")

        # hls_ts_ctx: a segment request with the id keeps the session alive (3 s > the 2 s check interval)
        time.sleep(3)
        with open(srv.path("live/c.m3u8"), encoding="utf-8") as f:   # read from disk: no playlist request
            newest = [line for line in f.read().splitlines() if line and not line.startswith("#")][-1]
        status, _, _ = http_get(srv.http_port, "/live/%s?hls_ctx=%s" % (newest, sid))
        last_poll = time.monotonic()
        assert status == 200

        status, _, body = http_get(srv.http_port, "/live/c.m3u8?token=bad")
        assert status == 403 and len(body) < 200 and b"127.0.0.1" not in body, body
        assert len(rx.find(action="on_play")) == 2

        # an id the server does not know (it restarted): on_play, then the playlist itself
        status, _, body = http_get(srv.http_port, "/live/c.m3u8?hls_ctx=k33p1d0l")
        assert status == 200 and b"#EXTINF:" in body, body
        assert rx.wait(3, 5, action="on_play")[2].body["client_id"] == "k33p1d0l"

        stop = rx.wait(1, 2 * window + 8, action="on_stop", client_id=sid)[0]
        assert stop.arrived - last_poll >= 2 * window - 0.1, "on_stop before the viewer was quiet 2 x hls_window"
        sample = sample_body("main-056-on_stop-hls-play-urla.json")
        assert list(stop.body) == list(sample)
        assert {k: type(v) for k, v in stop.body.items()} == {k: type(v) for k, v in sample.items()}
        assert {k: stop.body[k] for k in expected if k != "pageUrl"} == {k: v for k, v in expected.items()
                                                                          if k != "pageUrl"}
        rx.wait(1, 2 * window + 8, action="on_stop", client_id="k33p1d0l")

        # a second viewer still there at SIGTERM gets its on_stop before the server exits
        status, _, body = http_get(srv.http_port, "/live/c.m3u8")
        sid2 = re.search(rb"hls_ctx=([0-9a-z]{8})", body).group(1).decode()
        pub.stop()
        srv.stop()
        assert [r.body["client_id"] for r in rx.find(action="on_stop")] == [sid, "k33p1d0l", sid2], \
            "one on_stop per accepted viewer, none for the rejected one"
