"""Publishing end to end: a busy stream refuses a second publisher, players survive
a publisher leaving and get the stream again when it comes back, and silent
publishers are dropped by firstpkt_timeout / normal_timeout."""
import socket
import time

import pytest

from helpers import peers
from helpers.probe import assert_complete_stream, ffprobe_frames
from helpers.rtmp_raw import UC_STREAM_EOF, RtmpRawClient, read_flv_tags
from helpers.util import file_size, recv_closed, wait_connections, wait_file_grows

pytestmark = pytest.mark.e2e


def test_second_publisher_refused_first_goes_on(server, procs, media, tmp_path):
    """While a stream is published, a second publisher gets onStatus(level error,
    NetStream.Publish.BadName) and is closed; the first publisher and its player go on."""
    url = server.url("busy")
    player = peers.ffmpeg_play(procs, url, str(tmp_path / "player.flv"))
    wait_connections(server.port, 1)
    pub = peers.ffmpeg_publish(procs, url, media.clip.path)
    wait_file_grows(player.out, 4096, timeout=10)

    # a real second publisher: ffmpeg reports an error-level onStatus as "Server error: <description>"
    second = peers.ffmpeg_publish(procs, url, media.short.path, realtime=False, name="ffmpeg-pub2")
    rc = second.wait(15)
    out = second.output()
    assert rc != 0, "second publisher was accepted:\n" + second.tail()
    assert "NetStream.Publish.BadName" in out or "Server error" in out, \
        "second publisher was not refused with an error onStatus:\n" + second.tail()

    # the same at protocol level
    with RtmpRawClient(server.host, server.port) as raw:
        status = raw.setup_publisher("live", "busy")
        assert status.status_level == "error" and status.status_code == "NetStream.Publish.BadName", \
            "expected onStatus error NetStream.Publish.BadName, got: " + raw.summary()
        assert recv_closed(raw.sock, 5), "refused publisher was not closed"

    assert pub.alive(), "first publisher died:\n" + pub.tail()
    size = file_size(player.out)
    wait_file_grows(player.out, size + 4096, timeout=5)
    assert pub.wait(media.clip.seconds + 15) == 0, pub.tail()
    if player.alive():
        try:
            player.wait(8)
        except AssertionError:
            player.stop()
    assert_complete_stream(ffprobe_frames(player.out), media.clip)


def _video_frames(msgs):
    return [m for m in msgs if m.type == 9 and not m.is_sequence_header]


def test_publisher_leaves_and_returns(server, procs, media, tmp_path):
    """When the publisher leaves, players get StreamEOF + onStatus
    NetStream.Play.UnpublishNotify and stay connected; when it publishes again they
    get the new session. Real players end cleanly on that notification (ffmpeg and
    rtmpdump on UnpublishNotify, gst rtmp2src on StreamEOF) with the whole session."""
    url = server.url("comeback")
    clip = media.short
    real = [peers.ffmpeg_play(procs, url, str(tmp_path / "ffmpeg.flv")),
            peers.rtmpdump_play(procs, url, str(tmp_path / "rtmpdump.flv")),
            peers.gst_play(procs, url, str(tmp_path / "gst.flv"))]
    with RtmpRawClient(server.host, server.port, timeout=10) as raw:
        raw.setup_player("live", "comeback")
        wait_connections(server.port, len(real) + 1)

        pub = peers.ffmpeg_publish(procs, url, clip.path, name="ffmpeg-pub1")
        assert pub.wait(clip.seconds + 15) == 0, pub.tail()
        raw.wait_status("NetStream.Play.UnpublishNotify", timeout=10)
        first = _video_frames(raw.received)
        events = [m.user_control_event for m in raw.received]
        assert UC_STREAM_EOF in events, "no StreamEOF before UnpublishNotify: " + raw.summary()
        assert abs(len(first) - clip.video_frames) <= 3, \
            "first session: %d video frames, expected %d" % (len(first), clip.video_frames)

        # the real players end by themselves, exit 0, with the whole first session
        failures = []
        for p in real:
            try:
                rc = p.wait(8)
                assert rc == 0, "exit code %s" % rc
                assert_complete_stream(ffprobe_frames(p.out), clip)
            except AssertionError as e:
                failures.append("%s: %s\n%s" % (p.name, e, p.tail(800)))
        assert not failures, "\n".join(failures)

        # the raw player is still connected: no close and no media for a moment
        n = len(raw.received)
        deadline = time.monotonic() + 0.7
        try:
            while time.monotonic() < deadline:
                raw.read_message(timeout=max(0.01, deadline - time.monotonic()))
        except socket.timeout:
            pass
        except (EOFError, ConnectionResetError) as e:
            pytest.fail("player closed after UnpublishNotify (%s): %s" % (e, raw.summary()))
        assert not [m for m in raw.received[n:] if m.type in (8, 9)], raw.summary()
        n = len(raw.received)

        pub2 = peers.ffmpeg_publish(procs, url, clip.path, name="ffmpeg-pub2")
        raw.read_until(lambda m: m.type == 9 and not m.is_sequence_header, timeout=10)
        assert pub2.wait(clip.seconds + 15) == 0, pub2.tail()
        raw.wait_status("NetStream.Play.UnpublishNotify", timeout=10)
        second = _video_frames(raw.received[n:])
        assert second and second[0].is_video_keyframe, "second session does not start at a keyframe"
        assert abs(len(second) - clip.video_frames) <= 3, \
            "second session: %d video frames, expected %d" % (len(second), clip.video_frames)


def test_silent_publisher_dropped_after_firstpkt_timeout(make_server):
    """publish { firstpkt_timeout 1000; }: a publisher that never sends media is closed."""
    srv = make_server(firstpkt_timeout=1000, normal_timeout=5000)
    with RtmpRawClient(srv.host, srv.port) as raw:
        status = raw.setup_publisher("live", "silent")
        assert status.status_code == "NetStream.Publish.Start", raw.summary()
        t0 = time.monotonic()
        assert recv_closed(raw.sock, 6), "silent publisher still connected after 6 s (firstpkt_timeout 1000)"
        took = time.monotonic() - t0
        assert took > 0.5, "closed after %.2fs, before firstpkt_timeout" % took


def test_publisher_going_silent_dropped_after_normal_timeout(make_server, media):
    """publish { normal_timeout 1000; }: a publisher that stops sending media is closed."""
    srv = make_server(firstpkt_timeout=20000, normal_timeout=1000)
    tags = read_flv_tags(media.clip.path)
    with RtmpRawClient(srv.host, srv.port) as raw:
        raw.setup_publisher("live", "goessilent")
        raw.send_flv_tags(tags[:40])
        t0 = time.monotonic()
        assert recv_closed(raw.sock, 6), "publisher silent for 6 s still connected (normal_timeout 1000)"
        took = time.monotonic() - t0
        assert took > 0.5, "closed after %.2fs, before normal_timeout" % took
