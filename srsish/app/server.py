"""Server: the listeners, the live sources, the hooks, signals, reload and an orderly shutdown."""
import fcntl
import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Dict, List, Optional, Set, Tuple

import gevent
import gevent.event
from gevent.server import StreamServer

from srsish import VERSION
from srsish.app.clients import ClientRegistry
from srsish.app.cluster.edge import EdgeCluster, EdgeIngester
from srsish.app.config import Config, ConfigError, load_config, parse_endpoint
from srsish.app.hooks.dialects import StreamState
from srsish.app.hooks.dialects.lal import LalReporter
from srsish.app.hooks.heartbeat import Heartbeat
from srsish.app.hooks.http_hooks import HookContext, HttpHooks
from srsish.app.hooks.outbox import open_database
from srsish.app.http.api import ApiState, HttpApi
from srsish.app.http.flv import HttpFlvStreams
from srsish.app.http.hls_sessions import HlsPlayContexts
from srsish.app.http.server import HttpServer
from srsish.app.http.tls import https_blocks, load_server_context
from srsish.app.live.drops import PlayerDrops
from srsish.app.live.source import SourceRegistry
from srsish.app.origin import recovery
from srsish.app.origin.hls_playlist import HlsStreams
from srsish.app.origin.hub import OriginContext, OriginHub
from srsish.app.rtmp.conn import RtmpConn, RtmpServices
from srsish.app.stats import Statistic, VhostIds, live_streams
from srsish.core.ids import new_service_id, new_vid
from srsish.core.log import get_logger, reopen_logs, setup_logging
from srsish.core.naming import stream_url

if TYPE_CHECKING:
    import ssl

    from srsish.app.http.exporter import MetricsServer

# SRS's reload states and error codes, as rpc=reload-fetch reports them
RELOAD_INIT, RELOAD_PARSING, RELOAD_APPLYING, RELOAD_FINISHED = 0, 10, 30, 90
ERROR_SYSTEM_CONFIG_INVALID = 1023
ERROR_SOCKET_LISTEN = 1003

SHUTDOWN_GRACE = 5.0   # seconds the clients get to run their unpublish/stop/close hooks
OUTBOX_DRAIN_GRACE = 10.0   # seconds a stop waits for notifications to be delivered; the rest stays on disk
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
    """One srsish process: owns the config, listeners, sources and clients, and wires the rooms together.

    Each component gets only what it uses: the conf as it is now (`self.current_config`, a reload swaps
    it), the source and client registries, the hooks, the stats; never this object.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.log = get_logger()
        self.sources = SourceRegistry()
        self.clients = ClientRegistry()
        self.player_drops = PlayerDrops()      # slow players' queue cuts and send timeouts, for the exporter
        self.service_id = new_service_id()
        self.server_id = load_server_id(config)
        self.started_at = time.time()
        # The outbox is where notifications wait for their backend, across restarts; cannot open it, cannot start.
        self.hooks = HttpHooks(self.server_id, self.service_id, db=open_database(config.hook_outbox, self.log),
                               dialect_conf=self._dialect_conf, stream_state=self._stream_state)
        self.hls_streams = HlsStreams()        # HLS playlists outlive their publish sessions (hls_dispose)
        self.statistic = Statistic()
        self.vhost_ids = VhostIds(new_vid)
        self.last_reload = {"err": 0, "msg": "Success", "state": RELOAD_INIT, "rid": ""}
        self._rtmp: Dict[Tuple[str, int], StreamServer] = {}
        self._http: Dict[Tuple[str, int], HttpServer] = {}
        self.http_api = HttpApi(ApiState(
            server_id=self.server_id, service_id=self.service_id, started_at=self.started_at,
            config=self.current_config, sources=self.sources, clients=self.clients,
            statistic=self.statistic, vhost_id=self.vhost_ids, hooks_stats=self.hooks.outbox.stats,
            reload=self.reload, last_reload=lambda: self.last_reload))
        self.edge = EdgeCluster(self.sources, self.clients, self._start_edge_hub)
        self.http_flv = HttpFlvStreams(self.current_config, self.sources, self.clients, self.hooks, self.edge,
                                       self.player_drops)
        self.hls_ctx = HlsPlayContexts(self.current_config, self.sources, self.clients, self.hooks)
        self.heartbeat = Heartbeat(self.hooks, lambda: self.config.section("heartbeat"),
                                   lambda: self.config.section("stats")["network"], self.http_api.summaries,
                                   self._listen_endpoints)
        self.lal_reporter = LalReporter(
            self.server_id, VERSION, self.started_at, lambda: self.config.section("lal_http_notify"),
            lambda: live_streams(self.sources, self.clients.players_by_source(), self.statistic.rates),
            self.hooks.send_report)
        self._exporter: Optional["MetricsServer"] = None
        self._sampler = None
        self._stopping = False
        self._stopped = gevent.event.Event()
        self._pid_fd: Optional[int] = None

    def current_config(self) -> Config:
        """The conf as it is now; components call this per event so a reload applies to the next one."""
        return self.config

    # -- listeners ----------------------------------------------------------------------
    def start(self) -> None:
        """Bind every listener of the conf; a port that cannot be bound raises OSError naming it."""
        self._apply_listeners(self.config)
        self._start_exporter()
        # Files a crash left half-written are finished and reported first: a publisher's recovered on_dvr
        # must be queued before the on_unpublish hooks.start() owes its session.
        recovery.recover(self.config.root["vhost"], self.hooks, self.config.hooks_conf, log=self.log)
        pending = self.hooks.start(lambda vhost: self.config.hooks_conf(vhost))
        if pending:
            self.log.info("hook outbox %s: %d notifications pending from before, delivering",
                          self.config.hook_outbox, pending)
        self.heartbeat.start()
        self.lal_reporter.start()
        if self._sampler is None:
            self._sampler = gevent.spawn(self._sample_forever)

    # -- what the other servers' notification formats are told ------------------------------
    def _dialect_conf(self, vhost: str) -> dict:
        """The lal, xiu and Huawei blocks as the conf says now (Huawei's is the vhost's)."""
        v = self.config.vhost(vhost)
        return {"lal": self.config.section("lal_http_notify"), "xiu": self.config.section("xiu_httpnotify"),
                "huawei": v["huawei_notify"] if v is not None else None}

    def _stream_state(self, vhost: str, app: str, stream: str) -> StreamState:
        src = self.sources.get(vhost, app, stream)
        if src is None:
            return StreamState()
        return StreamState(publishing=src.is_publishing, players=len(src.consumers))

    def _start_exporter(self) -> None:
        """The Prometheus exporter on its own port (bound at start; a reload does not move it)."""
        conf = self.config.section("exporter")
        if not conf["enabled"] or self._exporter is not None:
            return
        # Imported only when enabled: prometheus_client adds about 3 MiB to every process that loads it.
        from srsish.app.http.exporter import ExporterState, MetricsServer
        self._exporter = MetricsServer(_bind(parse_endpoint(str(conf["listen"])), "exporter"), ExporterState(
            server_id=self.server_id, service_id=self.service_id,
            exporter_conf=lambda: self.config.section("exporter"), sources=self.sources, clients=self.clients,
            statistic=self.statistic, hooks_stats=self.hooks.outbox.stats, hook_deliveries=self.hooks.deliveries,
            player_drops=self.player_drops))
        self._exporter.start()

    def _listen_endpoints(self) -> Dict[str, List[str]]:
        """The listen endpoints SRS's heartbeat reports with `ports on`, as the conf writes them."""
        def text(ep) -> str:
            return str(ep[1]) if ep[0] == "0.0.0.0" else f"{ep[0]}:{ep[1]}"
        out = {"rtmp": [text(ep) for ep in self.config.listen]}
        for section, key in (("http_server", "http"), ("http_api", "api")):
            conf = self.config.section(section)
            if conf["enabled"]:
                out[key] = [conf["listen"]]
        return out

    def _apply_listeners(self, config: Config) -> None:
        """Make the listeners match `config`: bind what is new first, then close what went.

        Endpoints that stay keep their socket (and their clients). If any new port cannot be bound,
        the new sockets are closed again and nothing changes: OSError names the address.
        """
        rtmp_wanted = list(dict.fromkeys(tuple(e) for e in config.listen))
        http_wanted = http_roles(config)
        tls = https_contexts(config)   # a key or cert that does not load fails here, before anything binds
        for ep, (roles, _) in https_roles(config).items():
            http_wanted.setdefault(ep, set()).update(roles)
        new_rtmp: Dict[Tuple[str, int], StreamServer] = {}
        new_http: Dict[Tuple[str, int], HttpServer] = {}
        try:
            for ep in rtmp_wanted:
                if ep not in self._rtmp:
                    new_rtmp[ep] = StreamServer(_bind(ep, "RTMP"), self._handle_rtmp)
            for ep, roles in http_wanted.items():
                if ep not in self._http:
                    new_http[ep] = HttpServer(_bind(ep, "HTTPS" if ep in tls else "HTTP"), roles,
                                              self.current_config, self.http_api, self.http_flv, self.hls_ctx,
                                              ssl_context=tls.get(ep))
        except OSError:
            for srv in new_rtmp.values():
                srv.close()
            for srv in new_http.values():
                srv.close()
            raise
        for ep in [ep for ep in self._rtmp if ep not in rtmp_wanted]:
            self._rtmp.pop(ep).close()
            self.log.info("RTMP stop listening at tcp://%s:%d", *ep)
        for ep in [ep for ep in self._http if ep not in http_wanted]:
            self._http.pop(ep).close()
            self.log.info("HTTP stop listening at tcp://%s:%d", *ep)
        for ep, srv in new_rtmp.items():
            srv.start()
            self._rtmp[ep] = srv
            self.log.info("RTMP listen at tcp://%s:%d", ep[0], srv.server_port)
        for ep, roles in http_wanted.items():
            if ep in new_http:
                new_http[ep].start()
                self._http[ep] = new_http[ep]
            else:   # a kept listener takes the new roles and certificate for its next connections
                self._http[ep].roles = set(roles)
                self._http[ep].ssl_context = tls.get(ep)

    def _sample_forever(self) -> None:
        last_cpu, last_t = _cpu_seconds(), time.monotonic()
        while not self._stopping:
            gevent.sleep(STAT_INTERVAL)
            now = time.monotonic()
            cpu = _cpu_seconds()
            self.statistic.cpu_percent = round(100.0 * (cpu - last_cpu) / max(now - last_t, 1e-3), 2)
            last_cpu, last_t = cpu, now
            counters = [(c.id, c.send_bytes, c.recv_bytes) for c in self.clients]
            try:
                self.hooks.update_bytes(counters)   # what a recovered on_close would report
            except Exception as e:  # a full disk must not stop the stats
                self.log.error("hook journal: cannot update byte counters: %s", e)
            players = self.clients.players_by_source()
            per_vhost: Dict[str, list] = {}
            for src in self.sources:
                pub = src.publisher
                send = sum(c.send_bytes for c in players.get(src, ()))
                recv = pub.recv_bytes if pub is not None else 0
                counters.append((src.id, send, recv))
                acc = per_vhost.setdefault(src.vhost, [0, 0])
                acc[0] += send
                acc[1] += recv
            counters += [(self.vhost_ids(name), s, r) for name, (s, r) in per_vhost.items()]
            self.statistic.sample(now, counters)

    @property
    def rtmp_ports(self) -> List[int]:
        return [s.server_port for s in self._rtmp.values()]

    @property
    def http_ports(self) -> List[int]:
        return [s.port for s in self._http.values()]

    def _handle_rtmp(self, sock, address) -> None:
        if self._stopping:
            sock.close()
            return
        if self.clients.connections >= self.config.max_connections:
            self.log.warning("drop client ip=%s: max_connections %d reached", address[0],
                             self.config.max_connections)
            sock.close()
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = RtmpConn(sock, address, RtmpServices(
            config=self.current_config, sources=self.sources, hooks=self.hooks, start_origin=self._start_origin,
            edge=self.edge, drops=self.player_drops))
        self.clients.add(conn)
        try:
            conn.serve()
        finally:
            self.clients.remove(conn, conn.ended_in_error)

    def _start_origin(self, vhost: dict, hook: HookContext, hooks_conf, log) -> OriginHub:
        """The origin features (DVR, HLS) of a publish session that starts now."""
        return OriginHub.start(OriginContext(vhost=vhost, hook=hook, hooks=self.hooks, hooks_conf=hooks_conf,
                                             utc_time=self.config.utc_time, log=log, hls_streams=self.hls_streams))

    def _start_edge_hub(self, ingester: EdgeIngester) -> OriginHub:
        """An edge's pulled stream gets the vhost's HLS (and DVR), never forward or edge publish."""
        vhost = ingester.vhost
        hook = HookContext(client_id=ingester.id, ip=ingester.ip, vhost=vhost["name"], app=ingester.app,
                           stream=ingester.stream, param=ingester.param, tcUrl=ingester.req.tcUrl,
                           stream_url=stream_url(vhost["name"], ingester.app, ingester.stream),
                           stream_id=ingester.source.id)
        hooks_conf = lambda: self.config.hooks_conf(vhost["name"]) or vhost["http_hooks"]  # noqa: E731
        return OriginHub.start(OriginContext(vhost=vhost, hook=hook, hooks=self.hooks, hooks_conf=hooks_conf,
                                             utc_time=self.config.utc_time, log=ingester.log,
                                             hls_streams=self.hls_streams, edge_pull=True))

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

    def reload(self) -> dict:
        """SIGHUP (and the raw API's rpc=reload): load the conf again; a broken conf, or a new port that cannot be
        bound, keeps the old one. Returns SRS's reload-fetch record of this reload (also kept as last_reload)."""
        path = self.config.path
        result = self.last_reload = {"err": 0, "msg": "Success", "state": RELOAD_PARSING, "rid": new_vid()[4:]}
        try:
            new = load_config(path)
        except (ConfigError, OSError) as e:
            why = f"{path}: {e}" if isinstance(e, OSError) and not isinstance(e, ConfigError) else str(e)
            self.log.error("reload failed, keeping the old config: %s", why)
            result.update(err=ERROR_SYSTEM_CONFIG_INVALID, msg=why)
            return result
        result["state"] = RELOAD_APPLYING
        try:
            self._apply_listeners(new)
        except OSError as e:
            self.log.error("reload failed, keeping the old config and listeners: %s", e)
            result.update(err=ERROR_SOCKET_LISTEN, msg=str(e))
            return result
        self.config = new
        result["state"] = RELOAD_FINISHED
        self.log.info("reload config %s success", path)
        return result

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
        for srv in self._rtmp.values():
            srv.close()
        for http in self._http.values():
            http.close()
        if self._exporter is not None:
            self._exporter.close()
        if self._sampler is not None:
            self._sampler.kill(block=False)
        greenlets = []
        for conn in self.clients:
            g = gevent.spawn(self._end_client, conn)
            greenlets.append(g)
        gevent.joinall(greenlets, timeout=SHUTDOWN_GRACE)
        self.hls_ctx.close_all()
        self.heartbeat.stop()
        self.lal_reporter.stop()
        try:
            self.hooks.flush(SHUTDOWN_GRACE)
            self.hooks.drain(OUTBOX_DRAIN_GRACE)
        finally:
            self.hooks.close()
            self._remove_pid_file()
            self.log.info("server stopped")
            self._stopped.set()

    @staticmethod
    def _end_client(conn) -> None:
        conn.kick("server shutdown")


def http_roles(config: Config) -> Dict[Tuple[str, int], Set[str]]:
    """The HTTP endpoints of the conf and their roles; the API and the files share one when they share a port."""
    roles: Dict[Tuple[str, int], Set[str]] = {}
    for section, role in (("http_api", "api"), ("http_server", "static")):
        conf = config.section(section)
        if conf["enabled"]:
            roles.setdefault(parse_endpoint(str(conf["listen"])), set()).add(role)
    return roles


def https_roles(config: Config) -> Dict[Tuple[str, int], Tuple[Set[str], dict]]:
    """The HTTPS endpoints of the conf: their roles and the https block whose key and cert they serve."""
    out: Dict[Tuple[str, int], Tuple[Set[str], dict]] = {}
    role_of = {"http_api.https": "api", "http_server.https": "static"}
    for where, https in https_blocks({s: config.section(s) for s in ("http_server", "http_api")}):
        roles, _ = out.setdefault(parse_endpoint(str(https["listen"])), (set(), https))
        roles.add(role_of[where])
    return out


def https_contexts(config: Config) -> Dict[Tuple[str, int], "ssl.SSLContext"]:
    """A TLS context per HTTPS endpoint; TlsError (an OSError) names the key or cert that cannot be loaded."""
    out = {}
    for ep, (roles, https) in https_roles(config).items():
        where = "http_api.https" if roles == {"api"} else "http_server.https"
        out[ep] = load_server_context(https["key"], https["cert"], where)
    return out


def _bind(endpoint: Tuple[str, int], what: str) -> socket.socket:
    """A listening socket at `endpoint`; OSError names the address when it cannot be had."""
    ip, port = endpoint
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # As SRS: several processes may listen on one port, and the kernel spreads connections among them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((ip, port))
        sock.listen(1024)
    except OSError as e:
        sock.close()
        err = OSError(f"cannot listen for {what} at {ip}:{port}: {e.strerror}")   # the text, without "[Errno N]"
        err.errno = e.errno
        raise err from None
    return sock


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def make_server(config_path: Optional[str]) -> Server:
    config = load_config(config_path)
    setup_logging(config.log_tank, config.log_file, config.log_level)
    return Server(config)
