"""Every conf in conf/ passes `srsish -t`, and the HTTP samples serve as shipped (ports moved by SRS_* env)."""
import glob
import json
import os
import signal
import subprocess
import sys

import pytest

from helpers import peers
from helpers.probe import assert_first_video_keyframe, assert_h264_aac, ffprobe_frames
from helpers.server import REPO_ROOT, run_srsish_cli
from helpers.util import free_port, port_open, wait_for

CONFS = sorted(glob.glob(os.path.join(REPO_ROOT, "conf", "*.conf")))


@pytest.mark.parametrize("path", CONFS, ids=os.path.basename)
def test_every_shipped_conf_checks(path, tmp_path):
    r = run_srsish_cli(["-t", "-c", path], cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr


def test_http_flv_live_and_http_api_confs_serve(procs, media, tmp_path):
    rtmp, http, api = free_port(), free_port(), free_port()
    env = dict(os.environ, SRS_LISTEN=str(rtmp), SRS_HTTP_SERVER_LISTEN=str(http), SRS_HTTP_API_LISTEN=str(api),
               PYTHONPATH=REPO_ROOT)
    flv_conf = os.path.join(REPO_ROOT, "conf", "http.flv.live.conf")
    server = procs.spawn("srsish-flv-conf", [sys.executable, "-m", "srsish", "-c", flv_conf], cwd=str(tmp_path),
                         env=env)
    wait_for(lambda: port_open("127.0.0.1", http) or not server.alive(), 15, message="the HTTP port")
    peers.ffmpeg_publish(procs, "rtmp://127.0.0.1:%d/live/livestream" % rtmp, media.gop3.path, loop=True)
    out = str(tmp_path / "got.flv")
    url = "http://127.0.0.1:%d/live/livestream.flv" % http

    def fetch():
        return subprocess.run(["curl", "-s", "--max-time", "3", "-o", out, "-w", "%{http_code}", url],
                              capture_output=True, text=True).stdout == "200"
    wait_for(fetch, 20, interval=0.5, message="HTTP-FLV from conf/http.flv.live.conf")
    probe = ffprobe_frames(out)
    assert_h264_aac(probe)
    assert_first_video_keyframe(probe)
    server.stop(signal.SIGTERM, timeout=10)

    api_conf = os.path.join(REPO_ROOT, "conf", "http.api.conf")
    server = procs.spawn("srsish-api-conf", [sys.executable, "-m", "srsish", "-c", api_conf], cwd=str(tmp_path),
                         env=env)
    wait_for(lambda: port_open("127.0.0.1", api) or not server.alive(), 15, message="the API port")
    peers.ffmpeg_publish(procs, "rtmp://127.0.0.1:%d/live/livestream" % rtmp, media.gop3.path, loop=True)

    def streams():
        r = subprocess.run(["curl", "-s", "--max-time", "3", "http://127.0.0.1:%d/api/v1/streams/" % api],
                           capture_output=True, text=True)
        body = json.loads(r.stdout or "{}")
        return body if body.get("streams") else None
    body = wait_for(streams, 20, interval=0.5, message="the published stream in /api/v1/streams/")
    assert body["code"] == 0 and body["streams"][0]["name"] == "livestream"
    assert body["streams"][0]["publish"]["active"] is True
