"""srsish as a process: conf check (-t), signals (SIGHUP reload, SIGUSR1 log reopen,
SIGTERM), and daemon mode."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from helpers import peers
from helpers.rtmp_raw import RtmpRawClient
from helpers.server import pid_alive, run_srsish_cli, srsish_conf, srsish_env
from helpers.util import free_port, port_open, recv_closed, wait_connections, wait_for

pytestmark = pytest.mark.e2e


def _conf(port, **kw):
    return srsish_conf(port, **kw)


def _rtmp_connect_ok(host, port):
    with RtmpRawClient(host, port, timeout=5) as c:
        c.handshake()
        m = c.connect("live")
        return m.status_code == "NetConnection.Connect.Success"


def test_conf_check_good_and_bad(tmp_path):
    """-t -c good.conf exits 0; a bad conf exits non-zero and names file:line."""
    good = tmp_path / "good.conf"
    good.write_text(_conf(free_port()))
    r = run_srsish_cli(["-t", "-c", str(good)], cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout

    bad = tmp_path / "bad.conf"                      # unknown directive on line 3
    bad.write_text("listen 1935;\nmax_connections 100;\nno_such_directive on;\ndaemon off;\n")
    r = run_srsish_cli(["-t", "-c", str(bad)], cwd=str(tmp_path))
    assert r.returncode != 0, "bad conf accepted:\n" + r.stdout
    assert "bad.conf:3" in r.stdout, "error does not name bad.conf:3:\n" + r.stdout

    broken = tmp_path / "broken.conf"               # stray closing brace on line 4
    broken.write_text("listen 1935;\nvhost __defaultVhost__ {\n}\n}\n")
    r = run_srsish_cli(["-t", "-c", str(broken)], cwd=str(tmp_path))
    assert r.returncode != 0, "broken conf accepted:\n" + r.stdout
    assert "broken.conf:4" in r.stdout, "error does not name broken.conf:4:\n" + r.stdout


def test_sighup_broken_conf_keeps_old_valid_conf_reloads(make_server):
    """SIGHUP with a broken conf: error logged, old conf kept, still serving. SIGHUP with
    a valid changed conf (max_connections 1000 -> 2): logged as reloaded and in effect."""
    srv = make_server()
    start = len(srv.log_text())
    srv.write_conf(srv.render_conf() + "\nthis is { not a conf\n")
    srv.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload" in srv.log_text()[start:].lower() and
             "error" in srv.log_text()[start:].lower(), 5,
             message="a reload error in the log")
    assert srv.alive()
    assert _rtmp_connect_ok(srv.host, srv.port)

    start = len(srv.log_text())
    srv.write_conf(srv.render_conf(max_connections=2))
    srv.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload" in srv.log_text()[start:].lower(), 5, message="reload in the log")
    assert "[error]" not in srv.log_text()[start:].lower(), srv.log_text()[start:]
    # the new limit applies: two idle connections are kept, a third is closed
    idle = []
    try:
        def limit_applies():
            while len(idle) < 2:
                idle.append(socket.create_connection((srv.host, srv.port), timeout=5))
            wait_connections(srv.port, 2)
            with socket.create_connection((srv.host, srv.port), timeout=5) as third:
                return recv_closed(third, 1.0)
        wait_for(limit_applies, 6, interval=0.2, message="max_connections 2 to apply after reload")
    finally:
        for s in idle:
            s.close()


def test_sigusr1_reopens_log_file(make_server):
    srv = make_server()
    wait_for(lambda: os.path.exists(srv.log_path), 5, message="the log file")
    rotated = srv.log_path + ".1"
    os.rename(srv.log_path, rotated)
    srv.send_signal(signal.SIGUSR1)
    assert _rtmp_connect_ok(srv.host, srv.port)         # something to log
    wait_for(lambda: os.path.exists(srv.log_path) and os.path.getsize(srv.log_path) > 0, 5,
             message="a new log file after SIGUSR1")
    assert srv.alive()


def test_sigterm_with_publisher_exits_zero(make_server, procs, media):
    srv = make_server()
    pub = peers.ffmpeg_publish(procs, srv.url("term"), media.clip.path, loop=True)
    wait_connections(srv.port, 1)
    wait_for(lambda: "publish" in srv.log_text().lower(), 5, message="publish in the log")
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait_exit(5)
    assert rc == 0, "exit code %s after SIGTERM\n%s" % (rc, srv.diagnostics())
    assert time.monotonic() - t0 < 5


def test_daemon_mode_detaches_and_writes_pid(tmp_path):
    """daemon on: the command returns, the pid file names a live process that serves
    RTMP, and SIGTERM to it ends it."""
    workdir = tmp_path / "daemon"
    (workdir / "objs").mkdir(parents=True)
    port = free_port()
    conf = workdir / "srsish.conf"
    conf.write_text(_conf(port, daemon="on"))
    pid_file = workdir / "objs" / "srs.pid"
    pid = None
    out = open(tmp_path / "daemon-console.log", "wb")
    try:
        r = subprocess.run([sys.executable, "-m", "srsish", "-c", str(conf)], cwd=str(workdir),
                           env=srsish_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                           timeout=15)
        assert r.returncode == 0, (tmp_path / "daemon-console.log").read_text()
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 10,
                 message="the pid file")
        pid = int(pid_file.read_text().strip())
        assert pid_alive(pid)
        wait_for(lambda: port_open("127.0.0.1", port), 10, message="the daemon's port")
        assert _rtmp_connect_ok("127.0.0.1", port)
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid), 5, message="the daemon to exit on SIGTERM")
        log = (workdir / "objs" / "srs.log").read_text(errors="replace")
        assert "Traceback" not in log, log[-4000:]
    finally:
        out.close()
        if pid and pid_alive(pid):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    ours = str(conf).encode() in f.read()
            except OSError:
                ours = False
            if ours:
                os.kill(pid, signal.SIGKILL)


def _http_get_ok(port):
    """True when the HTTP server at `port` answers the API root."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def test_sighup_rebinds_changed_listeners_once(make_server):
    """SIGHUP that moves `listen` and `http_api.listen`: each listener is bound once at its new port (no
    'Address already in use'), the old ports close; a new port that is taken keeps the old conf and ports."""
    http1 = free_port()
    api = "http_api {{ enabled on; listen 127.0.0.1:{}; }}"
    srv = make_server(global_extra=api.format(http1))
    assert _http_get_ok(http1)
    rtmp2, http2 = free_port(), free_port()
    for rtmp, http in ((rtmp2, http1), (rtmp2, http2)):   # RTMP moves alone (the API stays), then the API
        start = len(srv.log_text())
        srv.write_conf(srv.render_conf(port=rtmp, global_extra=api.format(http)))
        srv.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload config" in srv.log_text()[start:], 5, message="reload in the log")
        log = srv.log_text()[start:]
        assert "[error]" not in log.lower() and "already in use" not in log, log
        wait_for(lambda: _rtmp_connect_ok("127.0.0.1", rtmp) and _http_get_ok(http), 5,
                 message="RTMP and the API at their new ports")
    assert not port_open("127.0.0.1", srv.port) and not _http_get_ok(http1)

    # A new port that someone else holds: the reload fails as a whole and nothing moves.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        taken = squatter.getsockname()[1]
        start = len(srv.log_text())
        srv.write_conf(srv.render_conf(port=taken, global_extra=api.format(http2)))
        srv.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in srv.log_text()[start:], 5, message="a reload error in the log")
        assert f"127.0.0.1:{taken}" in srv.log_text()[start:]
        assert _rtmp_connect_ok("127.0.0.1", rtmp2) and _http_get_ok(http2)
    assert srv.alive()
