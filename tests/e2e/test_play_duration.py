"""The RTMP play command's duration argument: `rtmpdump --live -B 3` ends after about 3 s of stream with a playable file.

Without it the server streams on and rtmpdump never exits (SRS ends such a play with an error after the
duration; srsish also sends StreamEOF and NetStream.Play.Stop first, which librtmp takes as the end).
"""
import subprocess
import time

import pytest

from helpers import peers
from helpers.util import wait_for

pytestmark = pytest.mark.e2e


def probe_duration(path: str) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-select_streams", "v",
                          "-of", "csv=p=0", path], capture_output=True, text=True, timeout=30)
    times = [float(t) for t in out.stdout.split() if t.strip()]
    assert times, out.stderr
    return max(times) - min(times)


def test_rtmpdump_stop_ends_the_play_after_its_duration(make_server, procs, media, tmp_path):
    srv = make_server()
    peers.ffmpeg_publish(procs, srv.url("d"), media.clip.path, loop=True)
    wait_for(lambda: "start publish" in srv.log_text(), 15, message="publish")
    out = str(tmp_path / "d.flv")
    started = time.monotonic()
    dump = peers.rtmpdump_play(procs, srv.url("d"), out, stop=3)
    code = dump.wait(20)
    took = time.monotonic() - started
    assert code in (0, 2), dump.output()   # 2: librtmp calls a live download "incomplete"
    assert took < 8, took
    assert 2.0 <= probe_duration(out) <= 4.5
    assert "play duration 3000 ms reached" in srv.log_text()
    assert srv.alive()
