"""A soak with churn: srsish under M minutes of coming and going, sampled for leaks, with every hook accounted.

    python bench/soak.py --minutes 60 [--dir DIR] [--streams 3] [--seed 1]

Starts the bundled callback server (research/api-server/server.py) and srsish with HLS, DVR (segment plan),
HTTP-FLV, the HTTP API and every hook pointing at the callback server. For M minutes:

  * publishers (ffmpeg, looped clip) come and go, stopped cleanly (SIGINT) or abruptly (SIGKILL);
  * RTMP players (rtmpdump) join and leave: some read at full rate, some read slowly, some never read;
  * HTTP-FLV players (raw sockets) the same; HLS viewers fetch the playlist and its newest segment;
  * the API is polled, and a random client is kicked now and then;
  * the callback server goes down and comes back on a schedule (hooks must wait in the outbox, not get lost);
  * a SIGHUP (reload) every few minutes; garbage bytes on the RTMP and HTTP ports.

Every 5 s it samples srsish's RSS and open fds (/proc), its greenlets (/api/v1/summaries) and the hook outbox
(/api/v1/hooks) into DIR/soak.csv and plots them to DIR/soak.png. At the end it stops every peer, waits for
the outbox to drain and the HLS dispose timers to fire, stops srsish with SIGTERM and checks the bar, printing
one verdict line per check and exiting 1 if any fails:

  * flat: RSS, fds and greenlets when idle at the end are not above the idle level after warm-up (plus noise);
    idle means like the start: no client, nothing in the outbox (so no per-URL sender greenlet), no HLS
    session (so no expiry checker) and no stream waiting for its hls_dispose timer (a greenlet per stream);
  * hooks: at the callback server, each on_connect has its on_close, each on_publish its on_unpublish, each
    on_play its on_stop (by client id; the server's log lines carry the event ids), no event processed twice;
  * media: every DVR file and every HLS segment seen on disk is read without error by ffprobe;
  * no "Traceback" in srsish's log or console.
"""
import argparse
import csv
import glob
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from typing import Callable, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
SAMPLE_EVERY = 5.0
HLS_DISPOSE = 10   # seconds; short, so disposal is part of the churn and its timers end before the idle sample
GREENLET_NOISE = 3   # greenlets a sample may catch starting or ending (the API counts only unfinished ones)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("nothing listening on %d after %.0f s" % (port, timeout))


def make_clip(path: str) -> None:
    """10 s of 320x240 H.264 (1 s GOP) + AAC, made once with ffmpeg's test sources."""
    if os.path.exists(path):
        return
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=44100", "-t", "10", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-g", "25", "-bf", "0", "-c:a", "aac", "-b:a", "64k", "-f", "flv", path],
                   check=True, timeout=120)


CONF = """\
listen {host}:{rtmp};
max_connections 3000;
daemon off;
pid ./objs/srs.pid;
srs_log_tank file;
srs_log_file ./objs/srs.log;
http_api {{ enabled on; listen {host}:{api}; }}
http_server {{ enabled on; listen {host}:{http}; dir ./objs/html; }}
vhost __defaultVhost__ {{
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}
    hls {{ enabled on; hls_path ./objs/html; hls_fragment 2; hls_window 10; hls_dispose {dispose}; }}
    dvr {{ enabled on; dvr_plan segment; dvr_duration 20; dvr_path ./objs/dvr/[app]/[stream].[timestamp].flv; }}
    play {{ queue_length 5; }}
    publish {{ normal_timeout 5000; }}
    http_hooks {{
        enabled on;
        timeout 3;
        on_connect {cb}/api/v1/clients;
        on_close {cb}/api/v1/clients;
        on_publish {cb}/api/v1/streams;
        on_unpublish {cb}/api/v1/streams;
        on_play {cb}/api/v1/sessions;
        on_stop {cb}/api/v1/sessions;
        on_dvr {cb}/api/v1/dvrs;
        on_hls {cb}/api/v1/hls;
    }}
}}
"""


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = os.path.abspath(args.dir or tempfile.mkdtemp(prefix="srsish-soak-"))
        os.makedirs(os.path.join(self.dir, "objs"), exist_ok=True)
        self.rnd = random.Random(args.seed)
        self.rtmp, self.http, self.api, self.cb = free_port(), free_port(), free_port(), free_port()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts: Dict[str, int] = {}
        self.errors: List[str] = []
        self.peers: List[subprocess.Popen] = []
        self.samples: List[dict] = []
        self.hls_probed: Dict[str, bool] = {}
        self.cb_proc: Optional[subprocess.Popen] = None
        self.srs: Optional[subprocess.Popen] = None
        self.t0 = 0.0
        self.streams = ["soak%d" % i for i in range(args.streams)]

    # -- bookkeeping
    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def spawn(self, cmd: List[str], **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        with self.lock:
            self.peers.append(p)
            self.peers = [q for q in self.peers if q.poll() is None]
        return p

    @staticmethod
    def end(p: subprocess.Popen, sig: int = signal.SIGINT) -> None:
        try:
            os.killpg(p.pid, sig)
            p.wait(5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)

    def nap(self, lo: float, hi: float) -> bool:
        """Sleep a random while; False once the soak is over."""
        return not self.stop.wait(self.rnd.uniform(lo, hi))

    # -- processes
    def start_callback_server(self) -> None:
        log = open(os.path.join(self.dir, "callbacks.log"), "ab")
        self.cb_proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "research", "api-server", "server.py"),
                                         str(self.cb), "--host", HOST], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.dir)
        wait_port(self.cb)

    def stop_callback_server(self) -> None:
        if self.cb_proc is not None:
            self.end(self.cb_proc, signal.SIGKILL)
            self.cb_proc = None

    def start_srsish(self) -> None:
        conf = os.path.join(self.dir, "srsish.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF.format(host=HOST, rtmp=self.rtmp, api=self.api, http=self.http,
                                cb="http://%s:%d" % (HOST, self.cb), dispose=HLS_DISPOSE))
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.srs = subprocess.Popen([sys.executable, "-m", "srsish", "-c", conf], cwd=self.dir, env=env,
                                    stdout=open(os.path.join(self.dir, "console.log"), "ab"),
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        for port in (self.rtmp, self.http, self.api):
            wait_port(port)

    def api_get(self, path: str) -> dict:
        with urllib.request.urlopen("http://%s:%d%s" % (HOST, self.api, path), timeout=5) as r:
            return json.loads(r.read())

    # -- actors (each a thread until the soak ends)
    def publisher(self, stream: str) -> None:
        clip = os.path.join(self.dir, "clip.flv")
        while not self.stop.is_set():
            p = self.spawn(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
                            "-i", clip, "-c", "copy", "-f", "flv", "rtmp://%s:%d/live/%s" % (HOST, self.rtmp, stream)])
            self.count("publish")
            self.stop.wait(self.rnd.uniform(20, 60))
            abrupt = self.rnd.random() < 0.4 and not self.stop.is_set()
            self.end(p, signal.SIGKILL if abrupt else signal.SIGINT)
            self.count("publish_abrupt" if abrupt else "publish_clean")
            if not self.nap(1, 4):
                return

    def rtmp_player(self) -> None:
        while self.nap(1, 5):
            stream, mode = self.rnd.choice(self.streams), self.rnd.choice(("full", "full", "slow", "stalled"))
            p = self.spawn(["rtmpdump", "-q", "--live", "-r", "rtmp://%s:%d/live/%s" % (HOST, self.rtmp, stream),
                            "-o", "-"], stdout=subprocess.PIPE)
            self.count("rtmp_play_" + mode)
            deadline = time.monotonic() + self.rnd.uniform(10, 40)
            while time.monotonic() < deadline and not self.stop.is_set() and p.poll() is None:
                if mode == "full":
                    p.stdout.read1(65536)
                elif mode == "slow":
                    p.stdout.read1(2048)
                    time.sleep(0.5)
                else:
                    time.sleep(0.5)
            self.end(p, self.rnd.choice((signal.SIGINT, signal.SIGKILL)))
            p.stdout.close()

    def flv_player(self) -> None:
        while self.nap(1, 5):
            stream, mode = self.rnd.choice(self.streams), self.rnd.choice(("full", "full", "slow", "stalled"))
            self.count("flv_play_" + mode)
            try:
                with socket.create_connection((HOST, self.http), 5) as s:
                    if mode != "full":
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
                    s.settimeout(5)
                    s.sendall(b"GET /live/%s.flv HTTP/1.1\r\nHost: x\r\n\r\n" % stream.encode())
                    deadline = time.monotonic() + self.rnd.uniform(10, 40)
                    while time.monotonic() < deadline and not self.stop.is_set():
                        if mode == "full":
                            if not s.recv(65536):
                                break
                        elif mode == "slow":
                            if not s.recv(2048):
                                break
                            time.sleep(0.5)
                        else:
                            time.sleep(0.5)
            except OSError:
                self.count("flv_play_cut")

    def hls_viewer(self) -> None:
        while self.nap(1, 5):
            stream = self.rnd.choice(self.streams)
            self.count("hls_view")
            deadline = time.monotonic() + self.rnd.uniform(10, 30)
            while time.monotonic() < deadline and not self.stop.is_set():
                try:
                    url = "http://%s:%d/live/%s.m3u8" % (HOST, self.http, stream)
                    for _ in range(3):   # the variant playlist (SRS's hls_ctx session), the media one, a segment
                        with urllib.request.urlopen(url, timeout=5) as r:
                            body = r.read()
                        if not url.split("?")[0].endswith(".m3u8"):
                            self.count("hls_segment_fetched")
                            break
                        uris = [ln for ln in body.decode().splitlines() if ln and not ln.startswith("#")]
                        if not uris:
                            break
                        url = urllib.parse.urljoin(url, uris[-1])
                except OSError:
                    self.count("hls_miss")   # not published right now, or a segment already gone
                time.sleep(2)

    def api_user(self) -> None:
        n = 0
        while self.nap(2, 4):
            n += 1
            try:
                clients = self.api_get("/api/v1/clients?count=1000")["clients"]
                self.api_get("/api/v1/streams")
                self.count("api_poll")
                if n % 10 == 0 and clients:
                    victim = self.rnd.choice(clients)["id"]
                    req = urllib.request.Request("http://%s:%d/api/v1/clients/%s" % (HOST, self.api, victim),
                                                 method="DELETE")
                    urllib.request.urlopen(req, timeout=5).read()
                    self.count("api_kick")
            except OSError as e:
                self.count("api_error")
                self.note("api: %s" % e)

    def garbage(self) -> None:
        while self.nap(1, 3):
            port = self.rnd.choice((self.rtmp, self.http))
            try:
                with socket.create_connection((HOST, port), 5) as s:
                    s.sendall(self.rnd.choice((b"\x03", b"GET ", b"\x00" * 1537, b"")) +
                              os.urandom(self.rnd.randint(0, 5000)))
                    if self.rnd.random() < 0.3:
                        time.sleep(self.rnd.uniform(0, 3))   # and sometimes just hang on a while
                self.count("garbage")
            except OSError:
                self.count("garbage")

    def callback_flapper(self) -> None:
        """Down for `down` s every `period` s: hooks wait in the outbox; gating hooks fail (clients refused)."""
        period = 60.0 if self.args.minutes >= 10 else 40.0
        down = 10.0
        while not self.stop.wait(period - down):
            self.stop_callback_server()
            self.count("callback_down")
            self.stop.wait(down)
            self.start_callback_server()

    def reloader(self) -> None:
        period = 180.0 if self.args.minutes >= 10 else 50.0
        while not self.stop.wait(period):
            self.srs.send_signal(signal.SIGHUP)
            self.count("sighup")

    def sampler(self) -> None:
        while True:
            self.samples.append(self.sample())
            if self.stop.wait(SAMPLE_EVERY):
                return

    def sample(self) -> dict:
        row = {"t": round(self.elapsed(), 1), "rss_kb": 0, "fds": 0, "greenlets": -1, "outbox_pending": -1,
               "clients": -1}
        try:
            with open("/proc/%d/status" % self.srs.pid) as f:
                row["rss_kb"] = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            row["fds"] = len(os.listdir("/proc/%d/fd" % self.srs.pid))
            row["greenlets"] = self.api_get("/api/v1/summaries")["data"]["self"]["greenlets"]
            row["outbox_pending"] = self.api_get("/api/v1/hooks")["hooks"]["pending"]
            row["clients"] = len(self.api_get("/api/v1/clients?count=10000")["clients"])
        except (OSError, ValueError, KeyError, AttributeError) as e:
            self.note("sample: %s" % e)
        return row

    def hls_prober(self) -> None:
        """Every 20 s, ffprobe the HLS segments on disk not probed yet (they are deleted as the window moves)."""
        while not self.stop.wait(20):
            self.probe_hls()

    def probe_hls(self) -> None:
        for path in sorted(glob.glob(os.path.join(self.dir, "objs", "html", "live", "*.ts"))):
            if path in self.hls_probed:
                continue
            try:
                if time.time() - os.path.getmtime(path) < 3:
                    continue   # just written: wait for the next round
            except OSError:
                continue   # the window moved on and srsish deleted it
            ok = ffprobe_ok(path)
            if ok is not None:
                self.hls_probed[path] = ok

    def note(self, text: str) -> None:
        with self.lock:
            if len(self.errors) < 200:
                self.errors.append("%.0fs %s" % (self.elapsed(), text))

    # -- the run
    def run(self) -> int:
        make_clip(os.path.join(self.dir, "clip.flv"))
        self.start_callback_server()
        self.start_srsish()
        self.t0 = time.monotonic()
        time.sleep(2)
        idle_start = self.sample()
        print("soak: dir=%s rtmp=%d http=%d api=%d callbacks=%d, %g minutes" % (
            self.dir, self.rtmp, self.http, self.api, self.cb, self.args.minutes), flush=True)
        actors: List[Callable] = [self.sampler, self.callback_flapper, self.reloader, self.api_user, self.garbage,
                                  self.hls_prober, self.hls_viewer, self.hls_viewer]
        actors += [lambda s=s: self.publisher(s) for s in self.streams]
        actors += [self.rtmp_player] * self.args.players + [self.flv_player] * self.args.players
        threads = [threading.Thread(target=a, daemon=True) for a in actors]
        for t in threads:
            t.start()
        deadline = time.monotonic() + self.args.minutes * 60
        while time.monotonic() < deadline:
            time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))
            if self.srs.poll() is not None:
                self.note("srsish exited with %s" % self.srs.returncode)
                break
            last = self.samples[-1] if self.samples else {}
            print("soak: %4.0fs rss=%s kB fds=%s greenlets=%s outbox=%s clients=%s" % (
                self.elapsed(), last.get("rss_kb"), last.get("fds"), last.get("greenlets"),
                last.get("outbox_pending"), last.get("clients")), flush=True)
        self.stop.set()
        for t in threads:
            t.join(60)
        with self.lock:
            peers = list(self.peers)
        for p in peers:
            self.end(p, signal.SIGKILL)
        if self.cb_proc is None:
            self.start_callback_server()
        drained = self.wait_quiet()
        idle_end = self.sample()
        self.samples.append(idle_end)
        self.probe_hls()
        self.srs.send_signal(signal.SIGTERM)
        try:
            rc = self.srs.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
            self.end(self.srs, signal.SIGKILL)
        time.sleep(2)   # the last on_close / on_unpublish of the drain reach the callback server's log
        self.stop_callback_server()
        self.write_csv()
        self.plot()
        return self.verdict(idle_start, idle_end, drained, rc)

    def wait_quiet(self, timeout: float = 90.0) -> bool:
        """Until no client is left and the outbox is empty (both via the API), then hls_dispose more.

        The last publisher left before the clients count reached 0, so its stream's dispose timer fires
        within HLS_DISPOSE of that: after it srsish holds what it held at the start.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.sample()
            if s["clients"] == 0 and s["outbox_pending"] == 0:
                time.sleep(HLS_DISPOSE + 3)   # the dispose timers fire, the last greenlets finish
                return True
            time.sleep(1)
        return False

    # -- results
    def write_csv(self) -> None:
        with open(os.path.join(self.dir, "soak.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(self.samples[0]))
            w.writeheader()
            w.writerows(self.samples)

    def plot(self) -> None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        t = [s["t"] / 60 for s in self.samples]
        fig, axes = plt.subplots(4, 1, figsize=(9, 9), sharex=True)
        for ax, key, label in zip(axes, ("rss_kb", "fds", "greenlets", "outbox_pending"),
                                  ("RSS (MiB)", "open fds", "greenlets", "outbox pending")):
            ys = [s[key] / 1024 if key == "rss_kb" else s[key] for s in self.samples]
            ax.plot(t, ys, lw=1)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[1].plot(t, [s["clients"] for s in self.samples], lw=1, alpha=0.6, label="clients")
        axes[1].legend(loc="upper left")
        axes[-1].set_xlabel("minutes")
        fig.suptitle("srsish soak: %g min, %d streams, churn" % (self.args.minutes, self.args.streams))
        fig.tight_layout()
        fig.savefig(os.path.join(self.dir, "soak.png"), dpi=80)

    def verdict(self, idle_start: dict, idle_end: dict, drained: bool, rc: Optional[int]) -> int:
        checks = []
        warm = [s for s in self.samples if s["t"] >= min(300.0, self.args.minutes * 60 / 4) and s["rss_kb"]]
        rss_ref = max(s["rss_kb"] for s in warm[: max(1, len(warm) // 5)]) if warm else idle_start["rss_kb"]
        checks.append(("rss flat", idle_end["rss_kb"] <= rss_ref * 1.10 + 8192,
                       "idle at start %d kB, peak early after warm-up %d kB, idle at end %d kB" % (
                           idle_start["rss_kb"], rss_ref, idle_end["rss_kb"])))
        checks.append(("fds flat", idle_end["fds"] <= idle_start["fds"] + 3,
                       "idle at start %d, idle at end %d" % (idle_start["fds"], idle_end["fds"])))
        checks.append(("greenlets flat", 0 <= idle_end["greenlets"] <= idle_start["greenlets"] + GREENLET_NOISE,
                       "idle at start %d, idle at end %d" % (idle_start["greenlets"], idle_end["greenlets"])))
        checks.append(("outbox drained", drained and idle_end["outbox_pending"] == 0,
                       "pending at end %s" % idle_end["outbox_pending"]))
        checks.append(("clean stop", rc == 0, "srsish exit code %s" % rc))
        ok, detail = self.account_hooks()
        checks.append(("hooks accounted", ok, detail))
        dvr = sorted(glob.glob(os.path.join(self.dir, "objs", "dvr", "**", "*.flv"), recursive=True))
        bad_dvr = [p for p in dvr if not ffprobe_ok(p)]
        checks.append(("dvr playable", bool(dvr) and not bad_dvr,
                       "%d files, %d unreadable %s" % (len(dvr), len(bad_dvr), bad_dvr[:3])))
        bad_hls = [p for p, good in self.hls_probed.items() if not good]
        checks.append(("hls playable", bool(self.hls_probed) and not bad_hls,
                       "%d segments probed, %d unreadable %s" % (len(self.hls_probed), len(bad_hls), bad_hls[:3])))
        logs = "".join(read(os.path.join(self.dir, p)) for p in ("objs/srs.log", "console.log"))
        checks.append(("no traceback", "Traceback" not in logs, "%d log bytes" % len(logs)))
        self.counts["hls_dispose"] = logs.count("hls dispose ")
        print("soak: churn %s" % json.dumps(dict(sorted(self.counts.items()))))
        for e in self.errors[:20]:
            print("soak: note %s" % e)
        for name, good, text in checks:
            print("soak: %-16s %s  %s" % (name, "PASS" if good else "FAIL", text))
        print("soak: csv %s, plot %s" % (os.path.join(self.dir, "soak.csv"), os.path.join(self.dir, "soak.png")))
        return 0 if all(good for _, good, _ in checks) else 1

    def account_hooks(self) -> tuple:
        """Pair the callbacks the callback server processed, by client id and action."""
        seen: Dict[str, Dict[str, int]] = {}
        ids: Dict[str, int] = {}
        for line in read(os.path.join(self.dir, "callbacks.log")).splitlines():
            if "DUPLICATE" in line or "FAIL" in line or "BAD REQUEST" in line:
                continue
            m = re.search(r"(on_\w+) client_id=(\S*)", line)
            if not m:
                continue
            action, cid = m.group(1), m.group(2)
            seen.setdefault(action, {})
            seen[action][cid] = seen[action].get(cid, 0) + 1
            mid = re.search(r"\bid=(\S+)", line)
            if mid:
                ids[mid.group(1)] = ids.get(mid.group(1), 0) + 1
        problems = []
        for start, stop in (("on_connect", "on_close"), ("on_publish", "on_unpublish"), ("on_play", "on_stop")):
            starts, stops = seen.get(start, {}), seen.get(stop, {})
            orphans = [c for c in starts if stops.get(c, 0) < starts[c]]
            if orphans:
                problems.append("%d %s without %s (%s)" % (len(orphans), start, stop, ",".join(orphans[:5])))
        twice = [i for i, n in ids.items() if n > 1]
        if twice:
            problems.append("%d event ids processed twice" % len(twice))
        summary = ", ".join("%s=%d" % (a, sum(v.values())) for a, v in sorted(seen.items()))
        return not problems, summary + ("; " + "; ".join(problems) if problems else "; every start has its stop")


def ffprobe_ok(path: str) -> Optional[bool]:
    """True when ffprobe reads every packet of `path` without an error; None if the file vanished meanwhile."""
    try:
        r = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                            "stream=nb_read_packets", "-of", "json", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, text=True)
    except subprocess.TimeoutExpired:
        return False
    if not os.path.exists(path):
        return None
    return r.returncode == 0 and not r.stderr.strip()


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--dir", help="work directory (default: a new temporary one, kept)")
    ap.add_argument("--streams", type=int, default=3)
    ap.add_argument("--players", type=int, default=3, help="RTMP player threads, and as many HTTP-FLV ones")
    ap.add_argument("--seed", type=int, default=1)
    return Soak(ap.parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
