"""Server: the listeners, the live sources, the hooks, signals, reload and an orderly shutdown."""
import fcntl
import os
import signal
import socket
import time
from typing import Dict, List, Optional

import gevent
import gevent.event
from gevent.server import StreamServer

from srsish.app.config import Config, ConfigError, load_config, parse_endpoint
from srsish.app.http.hls_sessions import HlsPlayContexts
from srsish.app.http.api import HttpApi
from srsish.app.http.flv import HttpFlvStreams
from srsish.app.hooks.http_hooks import HttpHooks
from srsish.app.http.server import HttpServer
from srsish.app.rtmp.conn import RtmpConn
from srsish.app.live.source import LiveSource, SourceManager
from srsish.app.stats import Statistic
from srsish.core.ids import new_service_id, new_vid
from srsish.core.log import get_logger, reopen_logs, setup_logging

SHUTDOWN_GRACE = 5.0   # seconds the clients get to run their unpublish/stop/close hooks
STAT_INTERVAL = 2.0    # seconds between byte-counter samples (kbps in the API)


def load_server_id(config: Config) -> str:
    """server_id from the conf, else SRS_SERVER_ID, else the id saved beside the pid file (made once)."""
    if config.server_id:
        return config.server_id
    env_id = os.environ.get("SRS_SERVER_ID")
    if env_id:
        return env_id
    base = config.pid[:-4] if config.pid.endswith(".pid") else config.pid
    path = base + ".id"
    try:
        with open(path, encoding="utf-8") as f:
            saved = f.read().strip()
        if saved:
            return saved
    except OSError:
        pass
    sid = new_vid()
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(sid)
    except OSError as e:
        get_logger().warning("cannot save server_id to %s: %s", path, e)
    return sid


class Server:
    """One srsish process: owns the config, listeners, sources and clients."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.log = get_logger()
        self.sources = SourceManager()
        self.clients: Dict[str, object] = {}   # RTMP connections and HTTP-FLV viewers, by client id
        self.service_id = new_service_id()
        self.server_id = load_server_id(config)
        self.hooks = HttpHooks(self.server_id, self.service_id)
        self._listeners: List[StreamServer] = []
        self.http_servers: List[HttpServer] = []
        self.http_api = HttpApi(self)
        self.http_flv = HttpFlvStreams(self)
        self.hls_ctx = HlsPlayContexts(self)
        self.statistic = Statistic()
        self.cpu_percent = 0.0
        self._vhost_ids: Dict[str, str] = {}
        self._sampler = None
        self._stopping = False
        self._stopped = gevent.event.Event()
        self._pid_fd: Optional[int] = None

    # -- listeners ----------------------------------------------------------------------
    def start(self) -> None:
        self._start_rtmp()
        self._start_http()
        if self._sampler is None:
            self._sampler = gevent.spawn(self._sample_forever)

    def _start_rtmp(self) -> None:
        for ip, port in self.config.listen:
            listener = self._make_listener(ip, port)
            srv = StreamServer(listener, self._handle_rtmp)
            srv.start()
            self._listeners.append(srv)
            self.log.info("RTMP listen at tcp://%s:%d", ip, srv.server_port)

    def _start_http(self) -> None:
        """The API and the file server; when they share an endpoint they share one listener."""
        roles: Dict[tuple, set] = {}
        for section, role in (("http_api", "api"), ("http_server", "static")):
            conf = self.config.section(section)
            if conf.get("enabled"):
                endpoint = parse_endpoint(str(conf.get("listen")))
                roles.setdefault(endpoint, set()).add(role)
        for (ip, port), rs in roles.items():
            srv = HttpServer(self, ip, port, rs)
            srv.start()
            self.http_servers.append(srv)

    def vhost_id(self, name: str) -> str:
        """A stable `vid-` id for a vhost name, as SRS's API shows."""
        vid = self._vhost_ids.get(name)
        if vid is None:
            vid = self._vhost_ids[name] = new_vid()
        return vid

    def players_by_source(self) -> Dict[LiveSource, list]:
        """Every player (RTMP or HTTP-FLV) grouped by the source it plays, in one pass over the clients."""
        groups: Dict[LiveSource, list] = {}
        for c in list(self.clients.values()):
            src = getattr(c, "source", None)
            if src is not None and src.publisher is not c:
                groups.setdefault(src, []).append(c)
        return groups

    def _sample_forever(self) -> None:
        last_cpu, last_t = _cpu_seconds(), time.monotonic()
        while not self._stopping:
            gevent.sleep(STAT_INTERVAL)
            now = time.monotonic()
            cpu = _cpu_seconds()
            self.cpu_percent = round(100.0 * (cpu - last_cpu) / max(now - last_t, 1e-3), 2)
            last_cpu, last_t = cpu, now
            counters = [(c.id, c.send_bytes, c.recv_bytes) for c in list(self.clients.values())]
            players = self.players_by_source()
            per_vhost: Dict[str, list] = {}
            for src in list(self.sources.sources.values()):
                pub = src.publisher
                send = sum(c.send_bytes for c in players.get(src, ()))
                recv = pub.recv_bytes if pub is not None else 0
                counters.append((src.id, send, recv))
                acc = per_vhost.setdefault(src.vhost, [0, 0])
                acc[0] += send
                acc[1] += recv
            counters += [(self.vhost_id(name), s, r) for name, (s, r) in per_vhost.items()]
            self.statistic.sample(now, counters)

    @staticmethod
    def _make_listener(ip: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(1024)
        return sock

    @property
    def rtmp_ports(self) -> List[int]:
        return [s.server_port for s in self._listeners]

    @property
    def http_ports(self) -> List[int]:
        return [s.port for s in self.http_servers]

    def _handle_rtmp(self, sock, address) -> None:
        if self._stopping:
            sock.close()
            return
        if len(self.clients) >= self.config.max_connections:
            self.log.warning("drop client ip=%s: max_connections %d reached", address[0],
                             self.config.max_connections)
            sock.close()
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = RtmpConn(self, sock, address)
        self.clients[conn.id] = conn
        try:
            conn.serve()
        finally:
            self.clients.pop(conn.id, None)

    # -- stream events (statistics and, later, DVR/HLS hang off these) --------------------
    def on_stream_publish(self, source: LiveSource, conn: RtmpConn) -> None:
        pass

    def on_stream_unpublish(self, source: LiveSource, conn: RtmpConn) -> None:
        pass

    # -- pid file -----------------------------------------------------------------------
    def write_pid_file(self) -> None:
        """Write and lock the pid file, so a second instance on the same file fails (as SRS)."""
        path = self.config.pid
        if not path:
            return
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(f"pid file {path} is locked: is another srsish running?") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._pid_fd = fd

    def _remove_pid_file(self) -> None:
        if self._pid_fd is not None:
            try:
                os.unlink(self.config.pid)
            except OSError:
                pass
            os.close(self._pid_fd)
            self._pid_fd = None

    # -- signals ------------------------------------------------------------------------
    def install_signals(self) -> None:
        # Handlers only spawn the real work (gunicorn #1126: never block in a signal handler).
        gevent.signal_handler(signal.SIGTERM, lambda: gevent.spawn(self.stop, "SIGTERM"))
        gevent.signal_handler(signal.SIGINT, lambda: gevent.spawn(self.stop, "SIGINT"))
        gevent.signal_handler(signal.SIGQUIT, lambda: gevent.spawn(self.stop, "SIGQUIT"))
        gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(self.reload))
        gevent.signal_handler(signal.SIGUSR1, lambda: gevent.spawn(self.reopen_log))

    def reload(self) -> None:
        path = self.config.path
        try:
            new = load_config(path)
        except ConfigError as e:
            self.log.error("reload failed, keeping the old config: %s", e)
            return
        except OSError as e:
            self.log.error("reload failed, keeping the old config: %s: %s", path, e)
            return
        old = self.config
        self.config = new
        if sorted(new.listen) != sorted(old.listen):
            self._rebind()
        self.log.info("reload config %s success", path)

    def _rebind(self) -> None:
        old = self._listeners
        self._listeners = []
        for srv in old:
            srv.close()
        self.start()

    def reopen_log(self) -> None:
        reopen_logs()
        self.log.info("log file reopened")

    # -- run and stop -------------------------------------------------------------------
    def serve_forever(self) -> None:
        self._stopped.wait()

    def stop(self, why: str = "stop") -> None:
        """Close listeners, end every client (their hooks run), flush async hooks, exit."""
        if self._stopping:
            return
        self._stopping = True
        self.log.info("%s: closing listeners and %d clients", why, len(self.clients))
        for srv in self._listeners:
            srv.close()
        for http in self.http_servers:
            http.close()
        if self._sampler is not None:
            self._sampler.kill(block=False)
        greenlets = []
        for conn in list(self.clients.values()):
            g = gevent.spawn(self._end_client, conn)
            greenlets.append(g)
        gevent.joinall(greenlets, timeout=SHUTDOWN_GRACE)
        self.hls_ctx.close_all()
        try:
            self.hooks.flush(SHUTDOWN_GRACE)
        finally:
            self.hooks.close()
            self._remove_pid_file()
            self.log.info("server stopped")
            self._stopped.set()

    @staticmethod
    def _end_client(conn) -> None:
        conn.kick("server shutdown")


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def make_server(config_path: Optional[str]) -> Server:
    config = load_config(config_path)
    setup_logging(config.log_tank, config.log_file, config.log_level)
    return Server(config)
