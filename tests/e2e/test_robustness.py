"""The server keeps serving under misbehaving clients: a player that stops reading,
garbage on the port, too many connections."""
import os
import socket
import struct
import time

import pytest

from helpers import peers
from helpers.probe import assert_complete_stream, ffprobe_frames
from helpers.rtmp_raw import RtmpRawClient
from helpers.util import (recv_closed, server_holds_client, server_send_queue, wait_connections,
                          wait_for)

pytestmark = pytest.mark.e2e


def _stalled_player(srv, name):
    """A raw player with a tiny receive buffer that plays and then never reads again."""
    raw = RtmpRawClient(srv.host, srv.port, timeout=5, rcvbuf=4096)
    raw.setup_player("live", name)
    raw.auto_ack = False
    return raw


def test_stalled_player_does_not_hold_up_others(server, procs, media, tmp_path):
    """One player stops reading; another (ffmpeg) still gets every frame while the
    server's socket to the stalled one fills up."""
    url = server.url("stall")
    with _stalled_player(server, "stall") as stalled:
        client_port = stalled.sock.getsockname()[1]
        player = peers.ffmpeg_play(procs, url, str(tmp_path / "ffmpeg.flv"))
        wait_connections(server.port, 2)
        # ~12 Mbit/s for 8 s: far more than the stalled socket's buffers can hold
        pub = procs.spawn("ffmpeg-pub", peers.FFMPEG + [
            "-loglevel", "info", "-re", "-stream_loop", "1", "-i", media.heavy.path,
            "-c", "copy", "-f", "flv", url])
        peak = 0
        while pub.alive():
            peak = max(peak, server_send_queue(server.port, client_port))
            time.sleep(0.1)
        assert pub.wait(1) == 0, pub.tail()
        if player.alive():
            try:
                player.wait(8)
            except AssertionError:
                player.stop()
        p = ffprobe_frames(player.out)
        expected = 2 * media.heavy.video_frames
        assert_complete_stream(p, type(media.heavy)(media.heavy.path, 8, 25, expected, 2 * media.heavy.audio_packets))
        # the scenario really happened: the server had data stuck towards the stalled player
        print("peak send queue to the stalled player: %d bytes" % peak)
        assert peak > 256 * 1024 or not server_holds_client(server.port, client_port), \
            "stalled player's socket never filled (peak send queue %d bytes)" % peak


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_stalled_player_is_dropped_after_send_timeout(server, procs, media):
    """A player that never reads is eventually closed by the server (send timeout,
    SRS: 30 s) and the log says why; the server keeps the publisher."""
    url = server.url("stall2")
    with _stalled_player(server, "stall2") as stalled:
        client_port = stalled.sock.getsockname()[1]
        pub = peers.ffmpeg_publish(procs, url, media.heavy.path, loop=True)
        wait_for(lambda: server_send_queue(server.port, client_port) > 256 * 1024, 20,
                 message="the stalled player's socket to fill")
        log_start = len(server.log_text())
        wait_for(lambda: not server_holds_client(server.port, client_port), 60, interval=0.5,
                 message="the server to drop the stalled player")
        assert pub.alive(), "publisher dropped with the stalled player:\n" + pub.tail()
        assert server.alive()
        new_log = server.log_text()[log_start:].lower()
        assert "timeout" in new_log or "timed out" in new_log, \
            "the log does not say the stalled player timed out:\n" + new_log[-3000:]


def _handshake(sock):
    sock.sendall(b"\x03" + b"\x00" * 8 + os.urandom(1528))
    got = b""
    while len(got) < 1 + 1536 * 2:
        data = sock.recv(65536)
        assert data, "closed during handshake"
        got += data
    sock.sendall(got[1:1537])


def _garbage_random(sock):
    data = bytearray(os.urandom(4096))
    data[0] = 0x03 ^ 0xFF            # never a valid C0
    sock.sendall(bytes(data))


def _garbage_after_handshake(sock):
    _handshake(sock)
    # an AMF0 command message whose body is not AMF0 (bad type marker), then noise
    body = b"\xee" + os.urandom(199)
    sock.sendall(bytes([0x03]) + b"\x00\x00\x00" + struct.pack(">I", len(body))[1:] + b"\x14" +
                 b"\x00\x00\x00\x00" + body[:128] + b"\xc3" + body[128:] + os.urandom(2048))


def _truncated_chunk_header(sock):
    _handshake(sock)
    sock.sendall(b"\x03\x00\x00")     # fmt 0 needs 11 header bytes: give 2
    sock.shutdown(socket.SHUT_WR)


def _huge_message(sock):
    _handshake(sock)
    # fmt 0, csid 3, declares a 16 MiB - 1 AMF0 command; send one chunk of it
    sock.sendall(b"\x03" + b"\x00\x00\x00" + b"\xff\xff\xff" + b"\x14" + b"\x00\x00\x00\x00" + os.urandom(128))
    sock.shutdown(socket.SHUT_WR)


GARBAGE = {
    "random-bytes": _garbage_random,
    "garbage-after-handshake": _garbage_after_handshake,
    "truncated-chunk-header": _truncated_chunk_header,
    "16MB-message": _huge_message,
}


def test_garbage_clients_are_dropped_server_keeps_serving(server, procs, media, tmp_path):
    """Each kind of garbage gets its connection closed (for the truncated ones, once
    the client has shut its side); afterwards a normal publish/play still works, the
    log names the handshake failure, and there is no traceback."""
    still_open = []
    for name, send in GARBAGE.items():
        with socket.create_connection((server.host, server.port), timeout=5) as s:
            try:
                send(s)
            except (BrokenPipeError, ConnectionResetError):
                continue                  # already dropped: fine
            if not recv_closed(s, 5):
                still_open.append(name)
    assert not still_open, "server did not close garbage connections: %s" % still_open
    assert server.alive()
    assert "handshake" in server.log_text().lower(), \
        "log does not name the handshake failure:\n" + server.log_text()[-3000:]

    url = server.url("aftergarbage")
    player = peers.ffmpeg_play(procs, url, str(tmp_path / "after.flv"))
    wait_connections(server.port, 1)
    pub = peers.ffmpeg_publish(procs, url, media.short.path)
    assert pub.wait(media.short.seconds + 15) == 0, pub.tail()
    if player.alive():
        try:
            player.wait(8)
        except AssertionError:
            player.stop()
    assert_complete_stream(ffprobe_frames(player.out), media.short)


def test_max_connections_refuses_beyond_limit(make_server):
    """max_connections 3: three idle connections are kept, the fourth is accepted and
    closed at once; when one leaves, a new one is kept again."""
    srv = make_server(max_connections=3)
    idle = [socket.create_connection((srv.host, srv.port), timeout=5) for _ in range(3)]
    try:
        wait_connections(srv.port, 3)
        with socket.create_connection((srv.host, srv.port), timeout=5) as fourth:
            t0 = time.monotonic()
            assert recv_closed(fourth, 3), "4th connection was not closed (max_connections 3)"
            assert time.monotonic() - t0 < 2.5
        for s in idle:
            assert not recv_closed(s, 0.05), "an idle connection within the limit was closed"
        idle.pop().close()

        def accepted_again():
            with socket.create_connection((srv.host, srv.port), timeout=5) as s:
                return not recv_closed(s, 0.5)
        wait_for(accepted_again, 5, interval=0.2, message="a connection to be kept after one left")
        with RtmpRawClient(srv.host, srv.port) as c:     # and it still speaks RTMP
            c.handshake()
            c.connect("live")
    finally:
        for s in idle:
            s.close()
