"""Crash recovery end to end (issue 10): srsish SIGKILLed while it records an FLV, an MP4 and an HLS segment;
a new srsish on the same directory and conf finishes all three at start and reports each once.

What is proven here: after the kill the files are still `.tmp` (so recovery has work to do); after the
restart each has its final name, no `.tmp` or sidecar is left, ffprobe reads each as H.264 + AAC with the
duration that was recorded (less at most the last second or two that had not reached the disk), the MP4
and the FLV decode without an error, the playlist lists the segment with its duration, and the receiver
gets on_dvr twice and on_hls once, all with `X-Srsish-Recovered: 1`, with the publisher's fields (those
of its on_publish), each before that publisher's recovered on_unpublish. Pieces: tests/app/test_recovery.py
and tests/kernel/test_crash_tails.py.
"""
import json
import os
import re
import signal
import subprocess
import time

import m3u8
import pytest

from helpers import peers
from helpers.hooks_receiver import HookReceiver
from helpers.probe import assert_h264_aac, ffprobe_frames
from helpers.server import SrsishProcess
from helpers.util import wait_for

pytestmark = pytest.mark.e2e

KILL_AFTER = 4.0
PUBLISHER_FIELDS = ("client_id", "ip", "vhost", "app", "tcUrl", "stream", "param", "stream_url", "stream_id")


def vhost(name: str, dvr_path: str, hook_url: str, hls: bool = False) -> str:
    hls_block = """
    hls {
        enabled on;
        hls_path ./hls;
        hls_fragment 30;
        hls_window 60;
    }""" if hls else ""
    return """
vhost %s {
    dvr {
        enabled on;
        dvr_path %s;
        dvr_plan session;
    }%s
    http_hooks {
        enabled on;
        on_publish %s;
        on_unpublish %s;
        on_dvr %s;
        on_hls %s;
    }
}
""" % (name, dvr_path, hls_block, hook_url, hook_url, hook_url, hook_url)


def files_under(root: str) -> set:
    out = set()
    for d, _, names in os.walk(root):
        out.update(os.path.relpath(os.path.join(d, n), root) for n in names)
    return out


def probe_duration(path: str) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", path],
                         stdout=subprocess.PIPE, text=True, timeout=30, check=True).stdout
    return float(json.loads(out)["format"]["duration"])


def assert_decodes_cleanly(path: str) -> None:
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), "%s does not decode cleanly: %s" % (path, r.stderr[-2000:])


def test_sigkill_mid_recording_then_restart_finishes_and_reports_each_file_once(make_server, procs, media):
    with HookReceiver() as rx:
        url = rx.url("/hooks")
        extra = (vhost("flvrec", "./dvr/[vhost]/[stream].[timestamp].flv", url, hls=True)
                 + vhost("mp4rec", "./dvr/[vhost]/[stream].[timestamp].mp4", url))
        srv = make_server(global_extra=extra)
        dvr_root = os.path.join(srv.workdir, "dvr")
        for v in ("flvrec", "mp4rec"):
            peers.ffmpeg_publish(procs, srv.url("rec") + "?vhost=" + v, media.clip.path, loop=True, name=v)
        rx.wait(2, action="on_publish", timeout=15)
        started = time.monotonic()
        time.sleep(KILL_AFTER)
        os.kill(srv.pid, signal.SIGKILL)
        srv.proc.wait(5)
        recorded = time.monotonic() - started
        procs.cleanup()

        left = files_under(dvr_root) | {os.path.join("hls", f) for f in files_under(os.path.join(srv.workdir, "hls"))}
        for pattern in (r"flvrec/rec\.\d+\.flv\.tmp$", r"flvrec/rec\.\d+\.flv\.tmp\.json$",
                        r"mp4rec/rec\.\d+\.mp4\.tmp$", r"mp4rec/rec\.\d+\.mp4\.tmp\.idx$",
                        r"hls/live/rec-0\.ts\.tmp$", r"hls/live/rec-0\.ts\.tmp\.json$"):
            assert any(re.search(pattern, f) for f in left), "no %s after the kill: %s" % (pattern, sorted(left))
        assert len(rx.find(action="on_dvr")) == 0 and len(rx.find(action="on_hls")) == 0, rx.dump()

        again = SrsishProcess(srv.workdir, port=srv.port, conf_text=srv.render_conf())
        try:
            again.start()
            rx.wait(2, action="on_dvr", timeout=15)
            rx.wait(1, action="on_hls", timeout=15)
            rx.wait(2, action="on_unpublish", timeout=15)
            time.sleep(1.5)                                   # nothing more may come
        finally:
            again.stop()
            print(again.diagnostics())
        again.check_no_traceback()

    publishes = {r.body["vhost"]: r.body for r in rx.find(action="on_publish")}
    dvrs = rx.find(action="on_dvr")
    hlss = rx.find(action="on_hls")
    assert len(dvrs) == 2 and len(hlss) == 1, rx.dump()
    assert all(r.header("X-Srsish-Recovered") == "1" for r in dvrs + hlss), rx.dump()
    for r in dvrs + hlss:
        pub = publishes[r.body["vhost"]]
        assert {k: r.body[k] for k in PUBLISHER_FIELDS} == {k: pub[k] for k in PUBLISHER_FIELDS}, r.body
        assert r.body["cwd"] == srv.workdir, r.body
        # the recovered file comes before the on_unpublish the same session is owed
        order = [q.action for q in rx.find(client_id=r.client_id) if q.action != "on_publish"]
        assert order.index(r.action) < order.index("on_unpublish"), order

    left = files_under(dvr_root) | files_under(os.path.join(srv.workdir, "hls"))
    assert not [f for f in left if re.search(r"\.(tmp|json|idx)$", f)], sorted(left)
    low, high = recorded - 2.5, recorded + 0.7      # ffmpeg's start, and the last second not yet on disk
    for r in dvrs:
        body = r.body
        ext = "flv" if body["vhost"] == "flvrec" else "mp4"
        assert re.match(r"^\./dvr/%s/rec\.\d{13}\.%s$" % (body["vhost"], ext), body["file"]), body
        path = os.path.join(srv.workdir, body["file"])
        duration = probe_duration(path)
        assert low <= duration <= high, "%s: %.2fs recovered of %.2fs recorded" % (path, duration, recorded)
        assert_h264_aac(ffprobe_frames(path))
        assert_decodes_cleanly(path)

    [seg] = hlss
    body = seg.body
    assert (body["file"], body["url"], body["m3u8"], body["m3u8_url"], body["seq_no"]) == (
        "./hls/live/rec-0.ts", "live/rec-0.ts", "./hls/live/rec.m3u8", "live/rec.m3u8", 0), body
    playlist = m3u8.load(os.path.join(srv.workdir, "hls", "live", "rec.m3u8"))
    assert [s.uri for s in playlist.segments] == ["rec-0.ts"], playlist.dumps()
    assert abs(playlist.segments[0].duration - body["duration"]) < 0.01
    assert low <= body["duration"] <= high, (body, recorded)
    ts_path = os.path.join(srv.workdir, "hls", "live", "rec-0.ts")
    assert os.path.getsize(ts_path) % 188 == 0
    assert_h264_aac(ffprobe_frames(ts_path))
    assert abs(probe_duration(ts_path) - body["duration"]) < 0.2
