"""Child processes that are always reaped: each runs in its own session, its output
goes to a file (never a pipe that could fill), and `ProcessTracker.cleanup()` kills
whatever is still running (SIGTERM, then SIGKILL) at teardown, even on failure."""
import os
import signal
import subprocess
import time
from typing import List, Optional, Sequence


class Peer:
    """One started process (a player, a publisher, a CLI run)."""

    def __init__(self, name: str, cmd: Sequence[str], log_path: str, proc: subprocess.Popen,
                 out: Optional[str] = None):
        self.name, self.cmd, self.log_path, self.proc, self.out = name, list(cmd), log_path, proc, out
        self.started = time.monotonic()
        self.ended: Optional[float] = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> Optional[int]:
        return self.poll()

    def poll(self) -> Optional[int]:
        rc = self.proc.poll()
        if rc is not None and self.ended is None:
            self.ended = time.monotonic()
        return rc

    def alive(self) -> bool:
        return self.poll() is None

    def wait(self, timeout: float) -> int:
        """Wait for exit; AssertionError (with the log tail) after `timeout` s."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.1fs\n%s" % (self.name, timeout, self.tail()))
        self.poll()
        return rc

    def stop(self, sig: int = signal.SIGINT, timeout: float = 5.0) -> Optional[int]:
        """Ask it to stop (ffmpeg/gst/rtmpdump all finish their output on SIGINT);
        SIGKILL if it does not. Returns the exit code."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.poll()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def output(self) -> str:
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tail(self, n: int = 3000) -> str:
        return "--- %s: %s\n%s" % (self.name, " ".join(self.cmd), self.output()[-n:])

    def __repr__(self) -> str:
        return "<Peer %s pid=%s rc=%s>" % (self.name, self.proc.pid, self.proc.poll())


class ProcessTracker:
    """Starts processes with logs under `logdir`; `cleanup()` ends all of them."""

    def __init__(self, logdir: str):
        self.logdir = logdir
        os.makedirs(logdir, exist_ok=True)
        self.peers: List[Peer] = []
        self._n = 0

    def spawn(self, name: str, cmd: Sequence[str], out: Optional[str] = None,
              cwd: Optional[str] = None, env: Optional[dict] = None, stdin_null: bool = True) -> Peer:
        self._n += 1
        log_path = os.path.join(self.logdir, "%02d-%s.log" % (self._n, name))
        logf = open(log_path, "wb")
        try:
            proc = subprocess.Popen(list(cmd), stdout=logf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL if stdin_null else None,
                                    cwd=cwd, env=env, start_new_session=True)
        finally:
            logf.close()
        peer = Peer(name, cmd, log_path, proc, out)
        self.peers.append(peer)
        return peer

    def cleanup(self) -> None:
        live = [p for p in self.peers if p.proc.poll() is None]
        for p in live:
            try:
                os.killpg(p.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        for p in live:
            try:
                p.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()

    def dump(self) -> str:
        return "\n".join(p.tail(1500) for p in self.peers)
