"""Server processes under test.

`SrsishProcess` is the real target: `python -m srsish -c CONF` in the foreground, cwd a
per-test directory, the conf written from an SRS-syntax template. `NginxRtmpProcess`
runs nginx-rtmp with the same interface; it is only a stand-in for debugging the
harness and the peer command lines while srsish is not there (see conftest.py).

Both are context managers: start, wait for the port (bounded), and on exit stop with
SIGTERM then SIGKILL after 5 s. SrsishProcess also fails the test when its log (or its
console output) contains a Python "Traceback", unless `allow_traceback=True`.
"""
import os
import signal
import subprocess
import sys
import time
from typing import List, Optional

from .util import free_port, port_open, wait_for

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "127.0.0.1"

SRSISH_CONF_TEMPLATE = """\
listen {host}:{port};
max_connections {max_connections};
daemon {daemon};
pid ./objs/srs.pid;
srs_log_tank file;
srs_log_file ./objs/srs.log;
{global_extra}
vhost __defaultVhost__ {{
    play {{
        gop_cache {gop_cache};
        mw_latency {mw_latency};
{play_extra}
    }}
    publish {{
        firstpkt_timeout {firstpkt_timeout};
        normal_timeout {normal_timeout};
{publish_extra}
    }}
{vhost_extra}
}}
"""


SRSISH_CONF_DEFAULTS = dict(host=None, port=None, max_connections=1000, daemon="off",
                            gop_cache="on", mw_latency=100, firstpkt_timeout=20000,
                            normal_timeout=5000, global_extra="", vhost_extra="", play_extra="",
                            publish_extra="")


def srsish_conf(port: int, host: str = "127.0.0.1", **kw) -> str:
    """The test conf text for `port` (template parameters as keyword arguments)."""
    params = dict(SRSISH_CONF_DEFAULTS, host=host, port=port)
    params.update(kw)
    return SRSISH_CONF_TEMPLATE.format(**params)


def srsish_env() -> dict:
    """Environment for running srsish from the source tree (whatever cwd)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_srsish_cli(args: List[str], cwd: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Run `python -m srsish ARGS` to completion (bounded); output captured as text."""
    return subprocess.run([sys.executable, "-m", "srsish"] + list(args), cwd=cwd, env=srsish_env(),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as dead
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class ServerProcess:
    """Common part: one server process in `workdir`, listening on `port`."""

    kind = "server"
    start_timeout = 15.0
    stop_timeout = 5.0

    def __init__(self, workdir: str, port: Optional[int] = None, allow_traceback: bool = False):
        self.workdir = os.path.abspath(workdir)
        os.makedirs(os.path.join(self.workdir, "objs"), exist_ok=True)
        self.host = HOST
        self.port = port or free_port()
        self.allow_traceback = allow_traceback
        self.proc: Optional[subprocess.Popen] = None
        self.console_path = os.path.join(self.workdir, "console.log")
        self.returncode: Optional[int] = None

    # -- to override
    def command(self) -> List[str]:
        raise NotImplementedError

    def write_conf(self) -> None:
        raise NotImplementedError

    def env(self) -> Optional[dict]:
        return None

    @property
    def log_path(self) -> str:
        raise NotImplementedError

    # -- lifecycle
    def start(self, wait: bool = True) -> "ServerProcess":
        self.write_conf()
        with open(self.console_path, "ab") as out:
            self.proc = subprocess.Popen(self.command(), cwd=self.workdir, env=self.env(),
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: Optional[float] = None) -> None:
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port, 0.5):
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("%s exited with %s before listening on %d\n%s"
                                     % (self.kind, self.proc.returncode, self.port, self.diagnostics()))
            if time.monotonic() > deadline:
                raise AssertionError("%s not listening on %d after %.0fs\n%s"
                                     % (self.kind, self.port, timeout, self.diagnostics()))
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.1fs\n%s" % (self.kind, timeout, self.diagnostics()))
        return self.returncode

    def stop(self) -> Optional[int]:
        """SIGTERM, then SIGKILL (whole process group) after stop_timeout s. Returns the
        exit code of the SIGTERM stop, or None if it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            self._kill_group()
            return self.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.returncode = None
        self._kill_group()
        if self.returncode is None:
            self.proc.wait(5)
        return self.returncode

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    # -- logs
    def log_text(self) -> str:
        return _read(self.log_path)

    def console_text(self) -> str:
        return _read(self.console_path)

    def diagnostics(self, n: int = 4000) -> str:
        return "--- %s log (%s):\n%s\n--- console:\n%s" % (
            self.kind, self.log_path, self.log_text()[-n:], self.console_text()[-n:])

    def wait_log(self, needle: str, timeout: float = 5.0, start: int = 0) -> str:
        """Wait until `needle` (case-insensitive) is in the log after offset `start`."""
        low = needle.lower()
        try:
            wait_for(lambda: low in self.log_text()[start:].lower(), timeout, message="log line %r" % needle)
        except AssertionError:
            raise AssertionError("no %r in the %s log within %.1fs\n%s"
                                 % (needle, self.kind, timeout, self.diagnostics()))
        return self.log_text()

    def check_no_traceback(self) -> None:
        if self.allow_traceback:
            return
        for name, text in (("log", self.log_text()), ("console", self.console_text())):
            assert "Traceback" not in text, "%s %s has a Traceback:\n%s" % (self.kind, name, text[-6000:])

    # -- URLs
    def url(self, stream: str, app: str = "live") -> str:
        return "rtmp://%s:%d/%s/%s" % (self.host, self.port, app, stream)

    def __enter__(self) -> "ServerProcess":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        if exc_type is None:
            self.check_no_traceback()


def _read(path: str) -> str:
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


class SrsishProcess(ServerProcess):
    """`python -m srsish -c CONF` in the foreground; the conf is SRS syntax from the template."""

    kind = "srsish"

    def __init__(self, workdir: str, port: Optional[int] = None, *, max_connections: int = 1000,
                 firstpkt_timeout: int = 20000, normal_timeout: int = 5000, global_extra: str = "",
                 vhost_extra: str = "", play_extra: str = "", publish_extra: str = "",
                 gop_cache: str = "on", mw_latency: int = 100,
                 daemon: bool = False, conf_text: Optional[str] = None, allow_traceback: bool = False,
                 conf_name: str = "srsish.conf"):
        super().__init__(workdir, port, allow_traceback)
        self.conf_path = os.path.join(self.workdir, conf_name)
        self.params = dict(SRSISH_CONF_DEFAULTS, host=self.host, port=self.port,
                           max_connections=max_connections, firstpkt_timeout=firstpkt_timeout,
                           normal_timeout=normal_timeout, global_extra=global_extra,
                           vhost_extra=vhost_extra, play_extra=play_extra, publish_extra=publish_extra,
                           gop_cache=gop_cache, mw_latency=mw_latency, daemon="on" if daemon else "off")
        self.conf_text = conf_text

    def render_conf(self, **overrides) -> str:
        """The conf text with template parameters overridden (e.g. for a reload)."""
        if self.conf_text is not None and not overrides:
            return self.conf_text
        params = dict(self.params, **overrides)
        return SRSISH_CONF_TEMPLATE.format(**params)

    def write_conf(self, text: Optional[str] = None) -> None:
        with open(self.conf_path, "w", encoding="utf-8") as f:
            f.write(self.render_conf() if text is None else text)

    def command(self) -> List[str]:
        return [sys.executable, "-m", "srsish", "-c", self.conf_path]

    def env(self) -> dict:
        return srsish_env()

    @property
    def log_path(self) -> str:
        return os.path.join(self.workdir, "objs", "srs.log")

    @property
    def pid_file(self) -> str:
        return os.path.join(self.workdir, "objs", "srs.pid")


NGINX_CONF_TEMPLATE = """\
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
pid {workdir}/objs/nginx.pid;
error_log {workdir}/objs/error.log info;
events {{ worker_connections 1024; }}
rtmp {{ server {{
    listen {host}:{port};
    application live {{ live on; publish_notify on; drop_idle_publisher 5s; }}
}} }}
"""


class NginxRtmpProcess(ServerProcess):
    """nginx + libnginx-mod-rtmp as a stand-in server for harness development.

    `publish_notify on` so players get NetStream.Play.UnpublishNotify (as the srsish
    contract says). It has no GOP cache and no max_connections equivalent."""

    kind = "nginx-rtmp"

    def __init__(self, workdir: str, port: Optional[int] = None, **_ignored):
        super().__init__(workdir, port, allow_traceback=True)
        self.conf_path = os.path.join(self.workdir, "nginx.conf")

    def write_conf(self) -> None:
        with open(self.conf_path, "w") as f:
            f.write(NGINX_CONF_TEMPLATE.format(workdir=self.workdir, host=self.host, port=self.port))

    def command(self) -> List[str]:
        return ["nginx", "-p", self.workdir, "-c", self.conf_path, "-g", "daemon off;"]

    @property
    def log_path(self) -> str:
        return os.path.join(self.workdir, "objs", "error.log")


SERVER_KINDS = {"srsish": SrsishProcess, "nginx": NginxRtmpProcess}
