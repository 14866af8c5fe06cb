"""RTMP play end to end: real players (ffmpeg, rtmpdump, gst rtmp2src) and real
publishers (ffmpeg, gst rtmp2sink) against the server; what players receive is
checked with ffprobe."""
import time

import pytest

from helpers import peers
from helpers.probe import (assert_complete_stream, assert_first_video_keyframe, assert_h264_aac,
                           assert_pts_increasing, ffprobe_frames)
from helpers.rtmp_raw import RtmpRawClient
from helpers.util import wait_connections

pytestmark = pytest.mark.e2e


def _finish_players(players, timeout=8.0):
    """Players normally end by themselves when the publisher leaves (StreamEOF /
    UnpublishNotify); whatever is still running after `timeout` is stopped with SIGINT
    (each of them finalises its output file on SIGINT)."""
    deadline = time.monotonic() + timeout
    for p in players:
        while p.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if p.alive():
            p.stop()


def _check_players(players, clip):
    failures = []
    for p in players:
        try:
            assert_complete_stream(ffprobe_frames(p.out), clip)
        except AssertionError as e:
            failures.append("%s: %s" % (p.name, e))
    assert not failures, "\n".join(failures)


def test_ffmpeg_publish_three_players_get_whole_stream(server, procs, media, tmp_path):
    """Players that arrive before the publisher get the whole stream: ffmpeg,
    rtmpdump (librtmp) and gst rtmp2src each record H.264 + AAC with every frame."""
    url = server.url("whole")
    players = [
        peers.ffmpeg_play(procs, url, str(tmp_path / "ffmpeg.flv")),
        peers.rtmpdump_play(procs, url, str(tmp_path / "rtmpdump.flv")),
        peers.gst_play(procs, url, str(tmp_path / "gst.flv")),
    ]
    wait_connections(server.port, len(players))
    pub = peers.ffmpeg_publish(procs, url, media.clip.path)
    assert pub.wait(media.clip.seconds + 15) == 0, pub.tail()
    _finish_players(players)
    _check_players(players, media.clip)


def test_gst_publish_ffmpeg_plays(server, procs, media, tmp_path):
    """gst-launch rtmp2sink publishes (flvmux streamable, no re-encoding); ffmpeg plays."""
    url = server.url("gstpub")
    player = peers.ffmpeg_play(procs, url, str(tmp_path / "ffmpeg.flv"))
    wait_connections(server.port, 1)
    pub = peers.gst_publish(procs, url, media.clip.path)
    assert pub.wait(media.clip.seconds + 15) == 0, pub.tail()
    _finish_players([player])
    _check_players([player], media.clip)


def test_mid_stream_join_starts_at_keyframe_from_gop_cache(server, procs, media, tmp_path):
    """A player joining 1 s into a 3 s GOP starts at once with the cached keyframe
    (GOP cache) instead of waiting ~2 s for the next one; ffmpeg's recording of the
    join starts with a keyframe."""
    url = server.url("midjoin")
    clip = media.gop3
    pub = peers.ffmpeg_publish(procs, url, clip.path, loop=True)
    wait_connections(server.port, 1)
    # keyframes at 0, 3, 6 s of stream time: join at ~4 s, 1 s after a keyframe.
    time.sleep(clip.gop_seconds + 1.0)
    assert pub.alive(), pub.tail()

    ff = peers.ffmpeg_play(procs, url, str(tmp_path / "join.flv"), duration=2)
    with RtmpRawClient(server.host, server.port, timeout=5) as raw:
        t0 = time.monotonic()
        raw.setup_player("live", "midjoin")
        first_video = raw.read_until(lambda m: m.type == 9 and not m.is_sequence_header, timeout=5)
        waited = time.monotonic() - t0
        assert first_video.is_video_keyframe, "first video frame after play is not a keyframe: " + raw.summary()
        # Without a GOP cache the next keyframe is >= ~2 s away; with it, it is in the
        # first burst. 1.2 s leaves a wide margin for a loaded machine.
        assert waited < 1.2, "first keyframe took %.2fs: no GOP cache? %s" % (waited, raw.summary())
        seq_headers = [m for m in raw.received if m.is_sequence_header]
        assert {m.type for m in seq_headers} == {8, 9}, \
            "expected AAC and AVC sequence headers before media: " + raw.summary()

    assert ff.wait(15) == 0, ff.tail()
    p = ffprobe_frames(ff.out)
    assert_h264_aac(p)
    assert_first_video_keyframe(p)
    assert_pts_increasing(p)
    assert p.video_count >= 40, "recorded 2 s but got: " + p.describe()
