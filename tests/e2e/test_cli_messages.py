"""What the command line tells a newcomer: `--version`, `-t` printing each warning once, where a daemon's log and
pid went (said before it detaches), and a taken port named by its address."""
import os
import signal
import socket
import subprocess
import sys

import pytest

from helpers.server import pid_alive, run_srsish_cli, srsish_conf, srsish_env
from helpers.util import free_port, port_open, wait_for

pytestmark = pytest.mark.e2e


def test_version_long_and_short(tmp_path):
    from srsish import SIGNATURE
    for flag in ("--version", "-v"):
        r = run_srsish_cli([flag], cwd=str(tmp_path))
        assert r.returncode == 0 and r.stdout.strip() == SIGNATURE, r.stdout


def test_check_prints_each_warning_once(tmp_path):
    conf = tmp_path / "w.conf"
    conf.write_text("listen 1935;\ndaemon off;\npithy_print_ms 1000;\nvhost __defaultVhost__ {\n tcp_nodelay on;\n}\n")
    r = run_srsish_cli(["-t", "-c", str(conf)], cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout
    for directive in ('"pithy_print_ms"', '"vhost.tcp_nodelay"'):
        assert r.stdout.count(directive) == 1, r.stdout


def test_daemon_says_where_log_and_pid_went(tmp_path):
    port = free_port()
    conf = tmp_path / "d.conf"
    conf.write_text(srsish_conf(port, daemon="on"))     # srs_log_tank file; ./objs/srs.log; ./objs/srs.pid
    r = subprocess.run([sys.executable, "-m", "srsish", "-c", str(conf)], cwd=str(tmp_path), env=srsish_env(),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15)
    pid_file = tmp_path / "objs" / "srs.pid"
    try:
        assert r.returncode == 0, r.stderr
        assert "log to %s" % (tmp_path / "objs" / "srs.log") in r.stderr, r.stderr
        assert "pid in %s" % pid_file in r.stderr, r.stderr
        wait_for(lambda: port_open("127.0.0.1", port), 10, message="the daemon's port")
    finally:
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 10, message="the pid file")
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid), 10, message="the daemon to stop")


def test_taken_port_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        conf = tmp_path / "t.conf"
        conf.write_text(srsish_conf(port).replace("srs_log_tank file;", "srs_log_tank console;"))
        r = run_srsish_cli(["-c", str(conf)], cwd=str(tmp_path))
    assert r.returncode == 1, r.stdout
    assert "cannot start: cannot listen for RTMP at 127.0.0.1:%d: Address already in use" % port in r.stdout, r.stdout
    assert "Errno" not in r.stdout, r.stdout
