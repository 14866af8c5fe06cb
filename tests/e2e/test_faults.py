"""Real faults: hook backends that misbehave, hostile RTMP and HTTP peers, a full disk; bounded, logged, local."""
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from helpers import peers
from helpers.http_util import hooks_block, http_server_block, raw_request, wait_http_port
from helpers.rtmp_raw import RtmpRawClient, amf0_encode
from helpers.util import free_port, server_send_queue, wait_for

HOST = "127.0.0.1"


def rss_kb(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ----------------------------------------------------------------------------- hook backends
class BadBackend:
    """A TCP server answering every HTTP request in one bad way (`mode`)."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket):
        try:
            c.recv(65536)
            if self.mode == "silent":
                self.stop.wait(60)
            elif self.mode == "trickle":     # 1 byte per second, forever
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n0" * 100:
                    if self.stop.wait(1):
                        break
                    c.sendall(bytes([b]))
            elif self.mode == "huge":        # a 1 GB answer, as fast as it is read
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
                chunk = b"0" * 65536
                for _ in range(16384):
                    if self.stop.is_set():
                        break
                    c.sendall(chunk)
            elif self.mode == "reset":       # half an answer, then RST
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"co")
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif self.mode == "redirect":
                c.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://%s:%d/elsewhere\r\nContent-Length: 0\r\n\r\n"
                          % (HOST.encode(), self.port))
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.mark.parametrize("mode", ["silent", "trickle", "huge", "reset", "redirect"])
def test_bad_hook_backend_costs_only_the_client_it_gates(make_server, mode):
    """on_connect of vhost `gated` goes to a backend that misbehaves; `timeout 3`. The gated client is refused
    within the timeout (plus slack), a client of another vhost connects at once meanwhile, memory stays bounded."""
    backend = BadBackend(mode)
    try:
        url = "http://%s:%d/api/v1/clients" % (HOST, backend.port)
        srv = make_server(global_extra="vhost gated {\n%s\n}" % hooks_block({"on_connect": [url]}).replace(
            "    }", "        timeout 3;\n    }"))
        before = rss_kb(srv.pid)
        gated = RtmpRawClient(srv.host, srv.port, timeout=15)
        gated.handshake()
        gated.connect("live", tc_url="rtmp://%s:%d/live?vhost=gated" % (srv.host, srv.port))
        gated.create_stream()
        t0 = time.monotonic()
        gated.play("s")                           # srsish asks on_connect (then on_play) here
        free = RtmpRawClient(srv.host, srv.port, timeout=5)
        free.handshake()
        free.connect("live")                      # another vhost, no hook: answered at once
        free.create_stream()
        free.play("s")
        free.wait_status("NetStream.Play.Start", timeout=5)
        free_took = time.monotonic() - t0
        try:
            m = gated.read_until(lambda m: m.status_level == "error" or m.command_name == "_error", timeout=15)
            assert m is not None
        except (EOFError, OSError):
            pass                                  # refused by closing: as good
        took = time.monotonic() - t0
        assert took <= 3 + 2.5, "refused after %.1f s, timeout is 3 s" % took
        assert free_took < 2.0, "the other vhost's client waited %.1f s" % free_took
        assert rss_kb(srv.pid) - before < 50_000, "RSS grew by %d kB" % (rss_kb(srv.pid) - before)
        # The client hears the refusal before the server logs it: wait for the line.
        log = wait_for(lambda: (lambda text: text if "rejected" in text else None)(srv.log_text()), 5,
                       message="the refusal in the log")
        assert "on_connect" in log, log[-3000:]
        free.close()
        gated.close()
    finally:
        backend.close()


# ----------------------------------------------------------------------------- hostile RTMP peers
def test_absurd_chunk_size_and_message_length_are_refused_and_logged(server):
    for payload, needle in (
            (lambda c: c.send_message(1, struct.pack(">I", 0x7FFFFFFF)), "chunk size"),
            (lambda c: c.send_raw(b"\x03" + b"\x00\x00\x00" + b"\xff\xff\xff" + b"\x14" + b"\x00" * 4), "message")):
        c = RtmpRawClient(server.host, server.port, timeout=5)
        c.handshake()
        payload(c)
        assert c.is_closed_by_peer(5), needle
        c.close()
        server.wait_log(needle)
    ok = RtmpRawClient(server.host, server.port, timeout=5)
    ok.handshake()
    ok.connect("live")
    ok.close()


def test_million_entry_amf_object_bounded_in_time_and_memory(server):
    """A connect whose command object has a million keys (~7 MB, under the 8 MiB message cap): read, decided
    and answered in seconds, memory back within bounds, other clients served."""
    props = b"".join(struct.pack(">H", 4) + b"%04x" % (i % 65536) + b"\x05" for i in range(1_000_000))
    body = amf0_encode("connect", 1.0) + b"\x03" + props + b"\x00\x00\x09"
    assert len(body) < 8 * 1024 * 1024
    before = rss_kb(server.pid)
    c = RtmpRawClient(server.host, server.port, timeout=30)
    c.handshake()
    c.set_chunk_size(65536)
    t0 = time.monotonic()
    c.send_message(20, body, csid=3)
    try:
        c.read_until(lambda m: m.command_name in ("_result", "_error"), timeout=30)
    except (EOFError, OSError):
        pass   # refused and closed is as good as answered
    took = time.monotonic() - t0
    assert took < 20, "a million-key object took %.1f s" % took
    other = RtmpRawClient(server.host, server.port, timeout=5)
    other.handshake()
    other.connect("live")
    other.close()
    c.close()
    time.sleep(1)
    assert rss_kb(server.pid) - before < 400_000, "RSS grew by %d kB" % (rss_kb(server.pid) - before)


def test_thousands_of_idle_connections(make_server, procs, media, tmp_path):
    srv = make_server(max_connections=5000)
    before = rss_kb(srv.pid)
    idle = []
    try:
        for _ in range(2000):
            s = socket.create_connection((srv.host, srv.port), 5)
            idle.append(s)
        time.sleep(2)
        grown = rss_kb(srv.pid) - before
        assert grown < 2000 * 60, "2000 idle connections cost %d kB" % grown
        pub = peers.ffmpeg_publish(procs, srv.url("busy"), media.short.path, name="pub")
        player = peers.ffmpeg_play(procs, srv.url("busy"), str(tmp_path / "p.flv"))
        assert pub.wait(media.short.seconds + 20) == 0, pub.tail()
        assert player.wait(20) == 0, player.tail()
    finally:
        for s in idle:
            s.close()



# ----------------------------------------------------------------------------- slow players
class _Player:
    """A raw RTMP player reading in a thread: every media message with the wall time it arrived."""

    def __init__(self, srv, name: str, budget_per_s: int = 0):
        self.client = RtmpRawClient(srv.host, srv.port, timeout=10, rcvbuf=4096 if budget_per_s else None)
        self.client.setup_player("live", name)
        self.client.wait_status("NetStream.Play.Start", timeout=10)
        self.budget_per_s = budget_per_s
        self.arrivals = []            # (wall time, media timestamp, payload bytes) of each media message
        self.raw_bytes = 0            # what a paced player has read off the socket
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._paced if budget_per_s else self._full, daemon=True)
        self.thread.start()

    def _full(self):
        c = self.client
        while not self.stop.is_set():
            try:
                m = c.read_message(timeout=1)
            except socket.timeout:
                continue
            except (OSError, EOFError, ValueError):
                return
            if m.type in (8, 9):
                self.arrivals.append((time.monotonic(), m.timestamp, len(m.payload)))

    def _paced(self):
        """Reads budget_per_s bytes a second in 10 slices; the bytes are parsed only at the end."""
        c = self.client
        c.auto_ack = False
        while not self.stop.wait(0.1):
            want = self.budget_per_s // 10
            while want > 0:
                try:
                    c.sock.settimeout(0.05)
                    data = c.sock.recv(want)
                except socket.timeout:
                    break
                except OSError:
                    return
                if not data:
                    return
                c.rbuf += data
                self.raw_bytes += len(data)
                want -= len(data)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.client.close()

    def drain(self, seconds: float):
        """Stop pacing and read at full speed for `seconds`: what the kernel and the server held for it."""
        self.stop.set()
        self.thread.join(5)
        deadline = time.monotonic() + seconds
        self.client.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                data = self.client.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            self.client.rbuf += data

    def media_rate(self, t0: float, t1: float):
        """(media seconds per wall second, bytes per second) of what arrived between t0 and t1."""
        got = [a for a in self.arrivals if t0 <= a[0] <= t1]
        if len(got) < 2:
            return 0.0, 0.0
        return (got[-1][1] - got[0][1]) / 1000.0 / (t1 - t0), sum(a[2] for a in got) / (t1 - t0)

    def parse_paced(self):
        """The messages a paced player read (after close: the chunk parser runs off its buffer)."""
        out = []
        while True:
            try:
                out.append(self.client.read_message(timeout=0.01))
            except (OSError, EOFError, ValueError):
                return out


@pytest.mark.timeout(120)
def test_player_at_a_tenth_of_the_rate_drops_gops_others_keep_the_rate(make_server, procs, media):
    """A player reading at 10% of the stream's byte rate next to three that read freely (queue_length 2 s).
    The kernel buffers ~3 MB towards the slow one first (tcp_wmem), then srsish drops whole GOPs from its queue:
    its media has gaps, each followed by a keyframe, and its "stop play" line counts the dropped messages. The
    others are measured: media time and bytes at the stream's rate, nothing dropped for them."""
    srv = make_server(play_extra="        queue_length 2;")
    clip = media.heavy    # ~2 MB/s: the 4 MiB a kernel may buffer towards the slow player fill in seconds
    stream_rate = os.path.getsize(clip.path) / clip.seconds    # bytes per second the publisher sends
    pub = peers.ffmpeg_publish(procs, srv.url("tenth"), clip.path, loop=True)
    wait_for(lambda: "tenth" in srv.log_text(), 10, message="the publish")
    time.sleep(1.5)
    slow = _Player(srv, "tenth", budget_per_s=int(stream_rate / 10))
    normal = [_Player(srv, "tenth") for _ in range(3)]
    t_start = time.monotonic()
    time.sleep(15)
    t_end = time.monotonic()
    in_kernel = server_send_queue(srv.port, slow.client.sock.getsockname()[1])
    slow_rate = slow.raw_bytes / (t_end - t_start)
    for p in normal:
        p.close()
    slow.drain(4)    # the ~3 MB the kernel buffers towards it first hold 20 s of its reading
    slow.close()
    assert pub.alive(), pub.tail()
    rates = [p.media_rate(t_start + 4, t_end) for p in normal]
    print("stream %.0f B/s; slow player read %.0f B/s (%d B in the server's kernel buffer); normal players "
          "(media s/s, B/s): %s" % (stream_rate, slow_rate, in_kernel, ", ".join("%.2f %.0f" % r for r in rates)))
    for media_per_s, bytes_per_s in rates:
        assert 0.9 <= media_per_s <= 1.1, "a normal player got %.2f s of media per second" % media_per_s
        assert bytes_per_s >= 0.8 * stream_rate, "a normal player got %.0f B/s of %.0f" % (bytes_per_s, stream_rate)
    assert slow_rate <= 0.15 * stream_rate
    video = [m for m in slow.parse_paced() if m.type == 9 and not m.is_sequence_header]
    gaps = [(a, b) for a, b in zip(video, video[1:]) if b.timestamp - a.timestamp > 500]
    assert gaps, "the slow player's video has no gap: %s" % [m.timestamp for m in video][:50]
    assert all(b.is_video_keyframe for _, b in gaps), "after a dropped GOP the slow player resumed off a keyframe"
    print("slow player: %d video frames, gaps %s" % (len(video), [(a.timestamp, b.timestamp) for a, b in gaps]))
    log = wait_for(lambda: (lambda t: t if t.count("stop play, dropped=") >= 4 else None)(srv.log_text()), 10,
                   message="four stop play lines")
    dropped = sorted(int(n) for n in re.findall(r"stop play, dropped=(\d+)", log))
    assert dropped[:3] == [0, 0, 0] and dropped[3] > 0, dropped

# ----------------------------------------------------------------------------- hostile HTTP peers
def test_oversized_http_head_and_body_refused(make_server, tmp_path):
    hport = free_port()
    root = tmp_path / "www"
    root.mkdir()
    srv = make_server(global_extra=http_server_block(hport, str(root)))
    wait_http_port(srv, hport)
    r = raw_request(hport, b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    assert r.status in (413, 431, 400), r
    r = raw_request(hport, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\n")
    assert r.status == 413, r
    ok = raw_request(hport, b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n")
    assert ok.status == 404



@pytest.mark.timeout(120)
def test_slowloris_heads_are_cut_at_the_head_timeout_others_served(make_server, tmp_path):
    """100 connections each send a request head one byte every 3 s. Each is answered 408 and closed when
    its head has taken HEAD_TIMEOUT (30 s; no conf knob, so the test waits it out once), while a normal
    client fetching a file every 0.5 s is answered at once the whole time."""
    hport = free_port()
    root = tmp_path / "www"
    root.mkdir()
    (root / "ok.txt").write_text("served\n")
    srv = make_server(global_extra=http_server_block(hport, str(root)))
    wait_http_port(srv, hport)
    head = b"GET /ok.txt HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"z" * 100
    slow, opened, cut = [], {}, {}
    for _ in range(100):
        s = socket.create_connection((HOST, hport), 5)
        s.setblocking(False)
        opened[s] = time.monotonic()
        slow.append(s)
    answers = {}
    stop = threading.Event()

    def trickle():
        for i in range(len(head)):
            for s in slow:
                if s in cut:
                    continue
                try:
                    data = s.recv(4096)
                    answers[s] = answers.get(s, b"") + data
                    if not data:
                        cut[s] = time.monotonic()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    cut[s] = time.monotonic()
                    continue
                try:
                    s.send(head[i:i + 1])
                except OSError:
                    cut[s] = time.monotonic()
            if len(cut) == len(slow) or stop.wait(0.1 if answers else 3):
                return

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    worst, served = 0.0, 0
    try:
        deadline = time.monotonic() + 45
        while len(cut) < len(slow) and time.monotonic() < deadline:
            t0 = time.monotonic()
            r = raw_request(hport, b"GET /ok.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            assert r.status == 200 and r.body == b"served\n", r.describe()
            worst = max(worst, time.monotonic() - t0)
            served += 1
            time.sleep(0.5)
    finally:
        stop.set()
        t.join(10)
        for s in slow:
            s.close()
    lasted = sorted(cut[s] - opened[s] for s in cut)
    print("slowloris: %d cut after %.1f..%.1f s; %d normal requests meanwhile, slowest %.3f s" % (
        len(cut), lasted[0], lasted[-1], served, worst))
    assert len(cut) == len(slow), "%d of %d slow heads still open after 45 s" % (len(slow) - len(cut), len(slow))
    assert 29 <= lasted[0] and lasted[-1] <= 36, "cut after %.1f..%.1f s, HEAD_TIMEOUT is 30 s" % (
        lasted[0], lasted[-1])
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers.values()), [a[:60] for a in answers.values()][:3]
    assert served >= 40 and worst < 1.0, "normal client: %d answers, slowest %.2f s" % (served, worst)
    srv.wait_log("bad request (408): request head timeout")

# ----------------------------------------------------------------------------- disk full
@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("disk-full test needs root to mount a 2 MiB tmpfs (not root here)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_stops_recording_not_the_stream(make_server, procs, media, tmp_path, small_fs):
    dvr = "    dvr { enabled on; dvr_path %s/[app]/[stream].[timestamp].flv; }" % small_fs
    srv = make_server(vhost_extra=dvr)
    player = peers.ffmpeg_play(procs, srv.url("full"), str(tmp_path / "p.flv"))
    pub = peers.ffmpeg_publish(procs, srv.url("full"), media.heavy.path, name="pub")
    assert pub.wait(media.heavy.seconds + 20) == 0, pub.tail()
    assert player.wait(20) == 0, player.tail()
    log = srv.log_text()
    assert "No space left" in log or "ENOSPC" in log or "disk full" in log.lower(), log[-4000:]
    assert os.path.getsize(tmp_path / "p.flv") > 1_000_000, "the player did not get the stream"
    # space back: the next publish records again
    for f in small_fs.rglob("*.flv"):
        f.unlink()
    pub2 = peers.ffmpeg_publish(procs, srv.url("again"), media.short.path, name="pub2")
    assert pub2.wait(media.short.seconds + 20) == 0, pub2.tail()
    time.sleep(1)
    assert list(small_fs.rglob("again.*.flv")), srv.log_text()[-3000:]
