"""DVR (issue 5) end to end: a real srsish process records what ffmpeg (or the raw RTMP client)
publishes; ffprobe and ffmpeg read the files back; a real HTTP receiver in the test process gets
on_dvr.

What is proven here: session and segment plans in FLV and MP4 put files where the template says
(folder form and date variables included), each file is H.264 + AAC with the published duration,
segments start on keyframes at time 0 and are dvr_duration long, no frame is lost across them, MP4
decodes from the start without an error; on_dvr comes once per file, after the rename, with SRS's
fields; a publisher killed mid-stream and a server stopped with SIGTERM mid-publish still leave
complete files and their on_dvr; hostile app and stream names never put a file outside the root;
SRS's three sample confs run as shipped. The rules and the feature alone, without a server, are
tested in tests/app/test_dvr.py.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from helpers import peers
from helpers.hooks_receiver import OK, HookReceiver
from helpers.probe import assert_first_video_keyframe, assert_h264_aac, ffprobe_frames
from helpers.rtmp_raw import RtmpRawClient, read_flv_tags
from helpers.server import REPO_ROOT, run_srsish_cli
from helpers.util import free_port, port_open, wait_for
from srsish.kernel import flv

SAMPLE = os.path.join(REPO_ROOT, "tests", "data", "srs-hook-samples", "main-049-on_dvr-rtmp-pub-urla.json")
ID8 = re.compile(r"^[0-9a-z]{8}$")
e2e = pytest.mark.e2e


# ----------------------------------------------------------------------------- helpers
def dvr_vhost(name: str, path: str, rx: HookReceiver, plan: str = "session", duration: float = 2) -> str:
    """A vhost block recording with `path` and posting on_dvr to the receiver."""
    return """
vhost %s {
    dvr {
        enabled on;
        dvr_path %s;
        dvr_plan %s;
        dvr_duration %s;
        dvr_wait_keyframe on;
    }
    http_hooks {
        enabled on;
        on_dvr %s;
    }
}
""" % (name, path, plan, duration, rx.url("/hooks/a/on_dvr"))


def checking_responder(cwd_of):
    """A receiver responder that notes, when on_dvr arrives, whether the file and its .tmp exist."""
    seen = {}

    def respond(req):
        body = req.body
        if body.get("action") == "on_dvr":
            full = os.path.join(cwd_of(), body["file"])
            seen[body["file"]] = (os.path.isfile(full), os.path.exists(full + ".tmp"))
        return OK
    return respond, seen


def probe_duration(path: str) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", path],
                         stdout=subprocess.PIPE, text=True, timeout=30, check=True).stdout
    return float(json.loads(out)["format"]["duration"])


def assert_decodes_cleanly(path: str) -> None:
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), "%s does not decode cleanly: %s" % (path, r.stderr[-2000:])


def assert_on_dvr_body(body: dict, cwd: str) -> None:
    with open(SAMPLE, encoding="utf-8") as f:
        srs = json.loads(json.load(f)["request"]["body"])
    assert list(body) == list(srs), "on_dvr keys differ from SRS's: %s" % body
    assert all(type(body[k]) is type(srs[k]) for k in srs), body
    assert body["action"] == "on_dvr" and ID8.match(body["client_id"]) and body["ip"] == "127.0.0.1"
    assert body["cwd"] == cwd, body


def files_under(root: str) -> set:
    out = set()
    for d, _, names in os.walk(root):
        out.update(os.path.relpath(os.path.join(d, n), root) for n in names)
    return out


def first_pts(path: str) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-read_intervals", "%+#4",
                          "-of", "csv=p=0", path], stdout=subprocess.PIPE, text=True, timeout=30).stdout
    return min(float(x) for x in out.split() if x.strip() and x != "N/A")


# ----------------------------------------------------------------------------- plans and formats
PLANS = {
    # vhost: (dvr_path, plan, regex of the file relative to the server's cwd)
    "flvsession": ("./dvr/flvsession", "session", r"^\./dvr/flvsession/pub\.(\d{13})\.flv$"),
    "mp4session": ("./dvr/[vhost]/[app]/[2006][01][02]/[stream]-[15][04][05][999].mp4", "session",
                   r"^\./dvr/mp4session/live/(\d{8})/pub-(\d{9})\.mp4$"),
    "flvsegment": ("./dvr/[vhost]/[app]/[stream].[timestamp].flv", "segment",
                   r"^\./dvr/flvsegment/live/pub\.(\d{13})\.flv$"),
    "mp4segment": ("./dvr/[vhost]/[app]/[stream].[timestamp].mp4", "segment",
                   r"^\./dvr/mp4segment/live/pub\.(\d{13})\.mp4$"),
}


@e2e
def test_session_and_segment_plans_in_flv_and_mp4(make_server, procs, media):
    """Four vhosts, one per plan and format, each recording `live/pub` published by ffmpeg in real
    time: files where the templates say, on_dvr once per file after its rename, the full clip."""
    clip = media.clip
    holder = {}
    respond, seen = checking_responder(lambda: holder["srv"].workdir)
    with HookReceiver(respond) as rx:
        extra = "".join(dvr_vhost(v, path, rx, plan) for v, (path, plan, _) in PLANS.items())
        srv = holder["srv"] = make_server(global_extra=extra)
        started = time.time()
        pubs = [peers.ffmpeg_publish(procs, srv.url("pub") + "?vhost=" + v, clip.path, name="pub-" + v)
                for v in PLANS]
        for p in pubs:
            assert p.wait(clip.seconds + 20) == 0, p.tail()
        segments = round(clip.seconds / 2)
        rx.wait(2 + 2 * segments, action="on_dvr", timeout=15)
        time.sleep(0.5)                                # nothing more may come
        assert len(rx.find(action="on_dvr")) == 2 + 2 * segments, rx.dump()

        for vhost, (_, plan, pattern) in PLANS.items():
            bodies = [r.body for r in rx.find(action="on_dvr") if r.body["vhost"] == vhost]
            paths = [b["file"] for b in bodies]
            assert len(bodies) == (1 if plan == "session" else segments), (vhost, paths)
            assert len(set(paths)) == len(paths), paths
            on_disk = {os.path.join(".", "dvr", f) for f in files_under(os.path.join(srv.workdir, "dvr"))
                       if f.split(os.sep)[0] == vhost}
            assert on_disk == set(paths), "files on disk %s, on_dvr %s" % (sorted(on_disk), paths)
            for b in bodies:
                assert_on_dvr_body(b, srv.workdir)
                assert (b["app"], b["stream"], b["param"]) == ("live", "pub", "?vhost=" + vhost), b
                assert b["stream_url"] == "%s/live/pub" % vhost, b
                assert seen[b["file"]] == (True, False), "on_dvr before the rename: %s" % b["file"]
                m = re.match(pattern, b["file"])
                assert m, "%s does not match %s" % (b["file"], pattern)
                if plan != "session" or vhost == "flvsession":
                    assert started - 1 <= int(m.group(1)) / 1000.0 <= time.time(), b["file"]
                else:
                    assert m.group(1) == time.strftime("%Y%m%d", time.localtime(started)), b["file"]
            check_recording(srv.workdir, sorted(paths), plan, clip)


def check_recording(cwd: str, paths: list, plan: str, clip) -> None:
    """The files of one publish hold the clip: codecs, durations, keyframes first, every frame once."""
    total_video = total_audio = 0
    for i, rel in enumerate(paths):
        path = os.path.join(cwd, rel)
        p = ffprobe_frames(path)
        assert_h264_aac(p)
        assert_first_video_keyframe(p)
        total_video += p.video_count
        total_audio += p.audio_count
        duration = probe_duration(path)
        expected = clip.seconds if plan == "session" else 2.0
        assert abs(duration - expected) <= clip.gop_seconds, "%s lasts %.3fs, not ~%ss" % (rel, duration, expected)
        assert first_pts(path) < 0.1, "%s does not start at 0" % rel
        if path.endswith(".mp4"):
            assert_decodes_cleanly(path)
    assert total_video == clip.video_frames, \
        "%d video frames recorded, %d published" % (total_video, clip.video_frames)
    assert total_audio == clip.audio_packets, \
        "%d audio frames recorded, %d published" % (total_audio, clip.audio_packets)


# ----------------------------------------------------------------------------- nothing lost
@e2e
def test_killed_publisher_and_server_sigterm_leave_playable_files(make_server, procs, media):
    """ffmpeg SIGKILLed mid-stream (MP4 session), then the server stopped with SIGTERM while two
    others publish (FLV segments, MP4 session): every file is complete, playable, reported."""
    holder = {}
    respond, seen = checking_responder(lambda: holder["srv"].workdir)
    with HookReceiver(respond) as rx:
        extra = (dvr_vhost("mp4a", "./dvr/[vhost]/[stream].[timestamp].mp4", rx)
                 + dvr_vhost("flvseg", "./dvr/[vhost]/[stream].[timestamp].flv", rx, "segment")
                 + dvr_vhost("mp4b", "./dvr/[vhost]/[stream].[timestamp].mp4", rx))
        srv = holder["srv"] = make_server(global_extra=extra)
        killed = peers.ffmpeg_publish(procs, srv.url("k") + "?vhost=mp4a", media.clip.path, loop=True, name="killed")
        others = [peers.ffmpeg_publish(procs, srv.url("t") + "?vhost=" + v, media.clip.path, loop=True, name=v)
                  for v in ("flvseg", "mp4b")]
        time.sleep(3.5)
        killed.kill()                                  # SIGKILL: the server just sees the socket close
        [r] = wait_for(lambda: [r for r in rx.find(action="on_dvr") if r.body["vhost"] == "mp4a"], 10,
                       message="on_dvr of the killed publisher's file")
        assert seen[r.body["file"]] == (True, False)
        time.sleep(2.5)
        assert all(p.alive() for p in others)
        srv.send_signal(signal.SIGTERM)
        assert srv.wait_exit(20) == 0, srv.diagnostics()
        bodies = [r.body for r in rx.find(action="on_dvr")]
        by_vhost = {v: [b for b in bodies if b["vhost"] == v] for v in ("mp4a", "flvseg", "mp4b")}
        assert len(by_vhost["mp4a"]) == 1 and len(by_vhost["mp4b"]) == 1, rx.dump()
        assert len(by_vhost["flvseg"]) >= 3, rx.dump()  # ~6 s in 2 s segments
        leftovers = [f for f in files_under(os.path.join(srv.workdir, "dvr")) if f.endswith(".tmp")]
        assert not leftovers, leftovers
        for vhost, minimum in (("mp4a", 2.5), ("mp4b", 4.5)):
            path = os.path.join(srv.workdir, by_vhost[vhost][0]["file"])
            assert probe_duration(path) >= minimum, (path, probe_duration(path))
            p = ffprobe_frames(path)
            assert_h264_aac(p)
            assert_first_video_keyframe(p)
            assert_decodes_cleanly(path)
        for b in by_vhost["flvseg"]:
            p = ffprobe_frames(os.path.join(srv.workdir, b["file"]))
            assert_h264_aac(p)
            assert_first_video_keyframe(p)
        for b in bodies:
            assert seen[b["file"]] == (True, False), b


# ----------------------------------------------------------------------------- path safety
HOSTILE = [
    ("live", "../../x"), ("live", "%2e%2e"), ("live", "a/b/../../../c"), ("live", ".."),
    ("live", "/abs/olute"), ("live", "x" * 480), ("live", "y?param=../../../z"), ("live", "s4\\..\\..\\w"),
    ("..", "s1"), ("live/../../..", "s2"), ("..\\..", "s3"), ("live/%2e%2e/..", "s5"),
]


def raw_publish_tags(srv, app: str, stream: str, vhost: str, tags) -> bool:
    """Publish a few tags under a raw app/stream name; True when the server accepted the publish."""
    with RtmpRawClient(srv.host, srv.port, timeout=10) as raw:
        raw.handshake()
        raw.set_chunk_size(60000)
        raw.connect(app, tc_url="rtmp://%s:%d/%s?vhost=%s" % (srv.host, srv.port, app, vhost))
        status = raw.publish(stream)
        if status.status_code != "NetStream.Publish.Start":
            return False
        raw.send_flv_tags(tags)
        time.sleep(0.1)
    return True


@e2e
def test_hostile_names_stay_inside_the_root(make_server, media, tmp_path):
    """`..`, separators, absolute names, encoded dots, params and long names in app and stream:
    each publish is recorded, under the dvr_path root; nothing appears anywhere else."""
    outer = tmp_path.parent
    before = files_under(str(outer))
    with HookReceiver() as rx:
        extra = (dvr_vhost("names", "./dvr/[app]/[stream].[timestamp].flv", rx)
                 + dvr_vhost("dirs", "./dvr2/[stream]/[app]/[timestamp].flv", rx))
        srv = make_server(global_extra=extra)
        tags = read_flv_tags(media.short.path)[:40]
        accepted = sum(raw_publish_tags(srv, app, stream, vhost, tags)
                       for vhost in ("names", "dirs") for app, stream in HOSTILE)
        assert accepted >= len(HOSTILE), "the server refused most hostile names: nothing was tested"
        try:
            rx.wait(accepted, action="on_dvr", timeout=15)
        finally:
            # Where files landed is checked first: it is the point, whatever else went wrong.
            roots = [os.path.join(srv.workdir, d) + os.sep for d in ("dvr", "dvr2", "objs")]
            for rel in sorted(files_under(str(outer)) - before):
                full = os.path.join(str(outer), rel)
                real = os.path.realpath(full)
                assert any(real.startswith(r) for r in roots) or full in (srv.conf_path, srv.console_path), \
                    "a file appeared outside the dvr roots: %s" % full
        roots = {"names": os.path.join(srv.workdir, "dvr"), "dirs": os.path.join(srv.workdir, "dvr2")}
        for r in rx.find(action="on_dvr"):
            full = os.path.realpath(os.path.join(srv.workdir, r.body["file"]))
            root = os.path.realpath(roots[r.body["vhost"]])
            assert full.startswith(root + os.sep) and os.path.isfile(full), r.body
            assert len(list(flv.read_tags(open(full, "rb").read()))) > 10, r.body["file"]


# ----------------------------------------------------------------------------- SRS's confs
@e2e
@pytest.mark.parametrize("conf, ext", [("dvr.session.conf", "flv"), ("dvr.segment.conf", "flv"),
                                       ("dvr.mp4.conf", "mp4")])
def test_shipped_confs_check_and_record(conf, ext, procs, media, tmp_path):
    """conf/dvr.*.conf pass `-t` and record as shipped (the port moved with SRS_LISTEN, as SRS allows)."""
    path = os.path.join(REPO_ROOT, "conf", conf)
    r = run_srsish_cli(["-t", "-c", path], cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout
    port = free_port()
    env = dict(os.environ, SRS_LISTEN=str(port), PYTHONPATH=REPO_ROOT)
    server = procs.spawn("srsish-" + conf, [sys.executable, "-m", "srsish", "-c", path], cwd=str(tmp_path), env=env)
    wait_for(lambda: port_open("127.0.0.1", port) or not server.alive(), 15, message="the server's port")
    assert server.alive(), server.tail()
    pub = peers.ffmpeg_publish(procs, "rtmp://127.0.0.1:%d/live/shipped" % port, media.short.path, realtime=False)
    assert pub.wait(30) == 0, pub.tail()
    folder = tmp_path / "objs" / "nginx" / "html" / "live"
    wait_for(lambda: folder.is_dir() and any(f.suffix == "." + ext for f in folder.iterdir()), 10,
             message="a recorded ." + ext)
    server.stop(signal.SIGTERM, timeout=10)
    [name] = [f.name for f in folder.iterdir()]
    assert re.match(r"^shipped\.\d{13}\.%s$" % ext, name), name
    p = ffprobe_frames(str(folder / name))
    assert_h264_aac(p)
    assert p.video_count == media.short.video_frames
    assert "Traceback" not in server.output()
