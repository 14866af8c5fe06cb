"""The README's commands work as written after its first set-up command: none needs an activated venv or a
`python` Debian does not have, and its walk-throughs (publish and play, HTTP-FLV and the API, HLS, every
callback in one try) run as the README writes them, in a copy of the repository with the set-up's `.venv`.
The one change: the README's ports (1935, 1985, 8080, 8085) become free ones, in the commands and in the copy's
confs alike, so the test never depends on fixed ports being free."""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from helpers.server import REPO_ROOT
from helpers.util import free_port, port_open, wait_for

pytestmark = pytest.mark.e2e

README = os.path.join(REPO_ROOT, "README.md")
PROGRAMS = (".venv/bin/srsish", ".venv/bin/python", "ffmpeg", "ffplay", "curl", "rtmpdump", "gst-launch-1.0",
            "apt-get", "python3", "python", "srsish", "pip", "bash")
PORTS = (1935, 1985, 8080, 8085)
PORT = {p: free_port() for p in PORTS}     # the README's port -> the one this run uses


def localize(text: str) -> str:
    """`text` with the README's ports replaced by this run's (an RTMP URL without a port gets one)."""
    text = text.replace("rtmp://127.0.0.1/", "rtmp://127.0.0.1:%d/" % PORT[1935])
    return re.sub(r"(?<![\d.])(%s)(?!\d)" % "|".join(map(str, PORTS)), lambda m: str(PORT[int(m.group(1))]), text)


def sections():
    """{section title: [shell command lines in its fenced blocks]}, in README order."""
    out, title, in_block = {}, "", False
    for line in open(README, encoding="utf-8").read().splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if not in_block and line.startswith("#"):
            title = line.lstrip("#").strip()
        elif in_block and line.split(" ", 1)[0] in PROGRAMS:
            out.setdefault(title, []).append(line.split("  #")[0].strip())
    return out


def command(section, start):
    found = [c for c in sections()[section] if c.startswith(start)]
    assert found, "README section %r has no command starting %r" % (section, start)
    return found[0]


def test_no_command_needs_an_activated_venv_or_python():
    text = open(README, encoding="utf-8").read()
    commands = [c for cmds in sections().values() for c in cmds]
    commands += re.findall(r"`((?:python|srsish|pip)[ 3][^`]*)`", text)          # inline ones, e.g. `python x.py`
    bad = [c for c in commands if c.split(" ", 1)[0] in ("python", "srsish", "pip") or c.startswith("python3 bench")]
    assert not bad, "README commands that fail after the set-up (no venv activated, Debian has no python): %s" % bad
    setup = sections()["Set up (fresh Debian 12, Python 3.11)"][0]
    assert setup.endswith("&& .venv/bin/srsish -c conf/srs.conf") and ".venv/bin/pip install ." in setup, setup


class Shell:
    """README commands run with bash in the copy, as written; long-running ones in the background."""

    def __init__(self, cwd, logdir):
        self.cwd, self.logdir, self.procs, self.n = cwd, logdir, [], 0

    def start(self, cmd, env=None):
        cmd = localize(cmd)
        self.n += 1
        log = open(os.path.join(self.logdir, "%02d.log" % self.n), "wb")
        p = subprocess.Popen(["bash", "-c", cmd], cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, env=dict(os.environ, **(env or {})))
        p.log_path, p.cmd = log.name, cmd
        log.close()
        self.procs.append(p)
        return p

    def run(self, cmd, timeout=60):
        cmd = localize(cmd)
        r = subprocess.run(["bash", "-c", cmd], cwd=self.cwd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, "README command failed: %s\n%s%s" % (cmd, r.stdout[-2000:], r.stderr[-2000:])
        return r.stdout

    @staticmethod
    def output(p):
        with open(p.log_path, errors="replace") as f:
            return f.read()

    def stop(self, p, sig=signal.SIGINT):
        if p.poll() is None:
            os.killpg(p.pid, sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p, signal.SIGTERM)


@pytest.fixture
def shell(tmp_path):
    copy = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        src = os.path.join(REPO_ROOT, name)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(str(copy / name)), exist_ok=True)
            shutil.copy2(src, str(copy / name))
    for conf in (copy / "conf").glob("*.conf"):
        conf.write_text(localize(conf.read_text()))
    os.symlink(sys.prefix, str(copy / ".venv"))          # the set-up command's venv
    logs = tmp_path / "logs"
    logs.mkdir()
    sh = Shell(str(copy), str(logs))
    try:
        yield sh
    finally:
        sh.stop_all()


def wait_server(sh, p, ports):
    for port in (PORT[p] for p in ports):
        wait_for(lambda: port_open("127.0.0.1", port) or p.poll() is not None, 20, message="port %d" % port)
        assert p.poll() is None, sh.output(p)


def api(path):
    out = subprocess.run(["curl", "-s", "http://127.0.0.1:%d%s" % (PORT[1985], path)], capture_output=True, text=True).stdout
    return json.loads(out) if out.startswith("{") else {}


def test_publish_play_http_flv_and_api_as_written(shell):
    setup = sections()["Set up (fresh Debian 12, Python 3.11)"][0]
    server = shell.start(setup.rsplit("&& ", 1)[1])               # .venv/bin/srsish -c conf/srs.conf
    wait_server(shell, server, (1935, 1985, 8080))
    play = sections()["Publish and play"]
    shell.run(command("Publish and play", "ffmpeg -y -f lavfi"), timeout=120)     # makes input.flv
    assert os.path.getsize(os.path.join(shell.cwd, "input.flv")) > 100000
    shell.start(command("Publish and play", "ffmpeg -re -stream_loop"))
    wait_for(lambda: api("/api/v1/streams").get("streams"), 20, interval=0.5, message="the published stream")
    # Every player command plays for 4 s as written (ffplay with SDL's dummy drivers: no screen here).
    players = [c for c in play if c.split(" ", 1)[0] in ("ffplay", "rtmpdump", "gst-launch-1.0")
               or c.startswith("ffmpeg -y -i")]
    assert len(players) >= 6, players
    for cmd in players:
        if os.path.exists(os.path.join(shell.cwd, "out.flv")):
            os.remove(os.path.join(shell.cwd, "out.flv"))
        if "m3u8" in cmd:   # the first 10 s segment (conf/srs.conf keeps SRS's hls_fragment)
            wait_for(lambda: os.path.exists(os.path.join(shell.cwd, "objs/nginx/html/live/livestream.m3u8")), 40,
                     interval=0.5, message="the HLS playlist")
        p = shell.start(cmd, env={"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
        time.sleep(5)
        assert p.poll() is None, "player ended early: %s\n%s" % (cmd, shell.output(p)[-2000:])
        if "out.flv" in cmd:
            assert os.path.getsize(os.path.join(shell.cwd, "out.flv")) > 10000, cmd
        shell.stop(p)
    # The HTTP-FLV and API section's curl commands, as written.
    for cmd in sections()["HTTP-FLV, HLS and the HTTP API"]:
        if "DELETE" in cmd:
            continue
        out = shell.run(cmd)
        if "live.flv" in cmd:
            assert open(os.path.join(shell.cwd, "live.flv"), "rb").read(3) == b"FLV"
        else:
            assert json.loads(out)["code"] == 0, (cmd, out)
    # Kick a player with the README's DELETE, its ID taken from /api/v1/clients.
    viewer = shell.start(command("Publish and play", "ffmpeg -y -i rtmp://"))
    cid = wait_for(lambda: [c["id"] for c in api("/api/v1/clients")["clients"] if c["type"] == "rtmp-play"], 10,
                   interval=0.3, message="the player in the API")[0]
    kick = command("HTTP-FLV, HLS and the HTTP API", "curl -X DELETE")
    assert json.loads(shell.run(kick.replace("/ID", "/" + cid)))["code"] == 0
    viewer.wait(10)
    assert cid not in [c["id"] for c in api("/api/v1/clients")["clients"]]
    # The pages are served by the default conf.
    assert "/players/" in shell.run("curl -s http://127.0.0.1:8080/")


def test_hls_section_as_written(shell):
    cmds = sections()["HLS"]
    server = shell.start(cmds[0])
    assert cmds[0] == ".venv/bin/srsish -c conf/hls.conf"
    wait_server(shell, server, (1935, 8080))
    shell.run(command("Publish and play", "ffmpeg -y -f lavfi"), timeout=120)
    shell.start(cmds[1])
    wait_for(lambda: os.path.exists(os.path.join(shell.cwd, "objs/nginx/html/live/livestream.m3u8")), 40,
             interval=0.5, message="the playlist")
    p = shell.start(cmds[2], env={"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    time.sleep(4)
    assert p.poll() is None, shell.output(p)[-2000:]


def test_every_callback_in_one_try_as_written(shell):
    cb, srv, pub, viewer = _all_on_block()
    callback = shell.start(cb)
    wait_server(shell, callback, (8085,))
    server = shell.start(srv)
    wait_server(shell, server, (1935, 1985, 8080))
    shell.run(command("Publish and play", "ffmpeg -y -f lavfi"), timeout=120)
    publisher = shell.start(pub)

    def actions():
        out = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/api/v1/events" % PORT[8085]], capture_output=True, text=True)
        return {e.get("action") or "heartbeat" for e in json.loads(out.stdout)["data"]} if out.stdout else set()
    wait_for(lambda: {"on_connect", "on_publish", "on_hls"} <= actions(), 30, interval=0.5, message="on_hls")
    shell.run(viewer, timeout=60)
    wait_for(lambda: "on_play" in actions(), 10, interval=0.5, message="on_play of the HLS viewer")
    shell.stop(publisher)
    wait_for(lambda: {"on_dvr", "on_unpublish", "on_close", "heartbeat"} <= actions(), 30, interval=0.5,
             message="on_dvr, on_unpublish, on_close and the heartbeat: %s" % actions())


def _all_on_block():
    cmds = sections()["Try callbacks"]
    i = cmds.index(".venv/bin/srsish -c conf/http.hooks.callback.all.conf")
    return cmds[i - 1], cmds[i], cmds[i + 1], cmds[i + 2]
