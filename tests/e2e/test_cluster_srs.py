"""Interop with a real SRS 7.0.18 (issue 14): SRS origin + srsish edge, srsish origin + SRS edge, srsish forward to SRS.

SRS is built once per machine by `bash ../shared/peers/build-srs.sh` (outside the repository, reused after)
in a session fixture; every SRS here listens on 127.0.0.1 at free ports, runs in the foreground with its log
on the console, and is ended by the test.
"""
import os
import subprocess

import pytest

from helpers import peers
from helpers.probe import assert_first_video_keyframe, assert_h264_aac, ffprobe_frames
from helpers.util import free_port, port_open, wait_for

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(os.path.dirname(REPO), "shared", "peers", "build-srs.sh")


@pytest.fixture(scope="session")
def srs_binary():
    """The SRS 7.0.18 binary, built the first time (about 3 minutes on 2 cores)."""
    done = subprocess.run(["bash", BUILD_SCRIPT], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, "SRS build failed:\n" + done.stderr[-3000:]
    path = done.stdout.strip().splitlines()[-1]
    assert os.access(path, os.X_OK), path
    return path


@pytest.fixture
def run_srs(srs_binary, procs, tmp_path):
    """run_srs(vhost_body) -> port: an SRS on 127.0.0.1:<free port> with that __defaultVhost__ body."""
    def start(vhost_body: str = "") -> int:
        port = free_port()
        work = tmp_path / ("srs%d" % port)
        work.mkdir()
        conf = work / "srs.conf"
        conf.write_text("listen 127.0.0.1:%d;\nmax_connections 100;\ndaemon off;\nsrs_log_tank console;\n"
                        "pid ./srs.pid;\nvhost __defaultVhost__ {\n%s\n}\n" % (port, vhost_body))
        procs.spawn("srs-%d" % port, [srs_binary, "-c", str(conf)], cwd=str(work))
        wait_for(lambda: port_open("127.0.0.1", port, 0.3), 15, message="SRS on port %d" % port)
        return port
    return start


def _probe(path: str) -> None:
    p = ffprobe_frames(path)
    assert_h264_aac(p)
    assert_first_video_keyframe(p)
    assert len(p.video) >= 10


def _edge(origin_port: int) -> str:
    return "    cluster {\n        mode remote;\n        origin 127.0.0.1:%d;\n    }\n" % origin_port


def test_srs_origin_with_a_srsish_edge(run_srs, make_server, media, procs, tmp_path):
    srs = run_srs()
    edge = make_server(vhost_extra=_edge(srs))
    peers.ffmpeg_publish(procs, "rtmp://127.0.0.1:%d/live/a" % srs, media.clip.path, loop=True)
    out = str(tmp_path / "a.flv")
    assert peers.wait_all([peers.ffmpeg_play(procs, edge.url("a"), out, duration=2)], 30) == [0]
    _probe(out)
    assert "server=SRS/7.0.18" in edge.log_text()


def test_srsish_origin_with_an_srs_edge(run_srs, make_server, media, procs, tmp_path):
    origin = make_server()
    srs = run_srs(_edge(origin.port))
    peers.ffmpeg_publish(procs, origin.url("b"), media.clip.path, loop=True)
    origin.wait_log("start publish", 10)
    out = str(tmp_path / "b.flv")
    assert peers.wait_all([peers.ffmpeg_play(procs, "rtmp://127.0.0.1:%d/live/b" % srs, out, duration=2)], 30) == [0]
    _probe(out)
    assert "type=play" in origin.log_text()   # the SRS edge's upstream is a player of the origin


def test_srsish_forwards_to_srs(run_srs, make_server, media, procs, tmp_path):
    srs = run_srs()
    src = make_server(vhost_extra="    forward {\n        enabled on;\n        destination 127.0.0.1:%d;\n    }\n" % srs)
    peers.ffmpeg_publish(procs, src.url("c"), media.clip.path, loop=True)
    out = str(tmp_path / "c.flv")
    src.wait_log("forward to rtmp://127.0.0.1:%d/live/c started" % srs, 10)
    assert peers.wait_all([peers.ffmpeg_play(procs, "rtmp://127.0.0.1:%d/live/c" % srs, out, duration=2)], 30) == [0]
    _probe(out)
