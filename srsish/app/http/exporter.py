"""The Prometheus exporter (`exporter { enabled on; listen 9972; label L; tag T; }`): its own port serves GET /metrics only.

The text comes from prometheus_client's own renderer over a collector that reads the server's live state when
scraped (nothing is counted twice): SRS's metric names and labels (srs_build_info, srs_cpu_percent,
srs_memory, srs_send_bytes_total, srs_receive_bytes_total, srs_streams, srs_clients, srs_clients_total,
srs_clients_errs_total), then srsish's own: hook deliveries by action and outcome, hook notifications by URL
and outcome, the outbox's pending rows, players dropped for being slow and the messages cut from their queues.
"""
import os
import socket
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator

from gevent.server import StreamServer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from srsish import VERSION
from srsish.app.clients import ClientRegistry
from srsish.app.hooks.delivery_counts import DeliveryCounts
from srsish.app.http.connection import HttpConnection, text_response
from srsish.app.http.types import HttpResponse
from srsish.app.live.drops import PlayerDrops
from srsish.app.stats import Statistic
from srsish.core.log import get_logger
from srsish.protocol.http import BadRequest

__all__ = ["ExporterState", "MetricsCollector", "MetricsServer"]


@dataclass
class ExporterState:
    """What the exporter reads: identity, the exporter block as it is now, registries, stats, counters."""
    server_id: str
    service_id: str
    exporter_conf: Callable[[], dict]
    sources: Any                                       # iterable of live sources
    clients: ClientRegistry
    statistic: Statistic
    hooks_stats: Callable[[], Dict[str, Dict[str, int]]]   # per URL: pending, delivered, retried, failed, expired
    hook_deliveries: DeliveryCounts                    # by action and outcome
    player_drops: PlayerDrops


def _rss_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class MetricsCollector:
    """A prometheus_client collector over the live state, read at every scrape."""

    def __init__(self, state: ExporterState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        st, conf = self.state, self.state.exporter_conf()
        labels = {"server": st.server_id, "service": st.service_id, "pid": str(os.getpid()),
                  "major": VERSION.split(".")[0], "version": VERSION, "code": "srsish"}
        if conf["label"]:
            labels["label"] = conf["label"]
        if conf["tag"]:
            labels["tag"] = conf["tag"]
        info = GaugeMetricFamily("srs_build_info", "A metric with a constant '1' value labeled by version.",
                                 labels=list(labels))
        info.add_metric(list(labels.values()), 1)
        yield info
        yield GaugeMetricFamily("srs_cpu_percent", "SRS cpu used percent.", value=st.statistic.cpu_percent)
        yield GaugeMetricFamily("srs_memory", "SRS memory used.", value=_rss_bytes())
        clients = list(st.clients)
        yield CounterMetricFamily("srs_send_bytes", "SRS total sent bytes.", value=sum(c.send_bytes for c in clients))
        yield CounterMetricFamily("srs_receive_bytes", "SRS total received bytes.",
                                  value=sum(c.recv_bytes for c in clients))
        yield GaugeMetricFamily("srs_streams", "The number of SRS concurrent streams.",
                                value=sum(1 for s in st.sources if s.publisher is not None))
        yield GaugeMetricFamily("srs_clients", "The number of SRS concurrent clients.", value=len(clients))
        yield CounterMetricFamily("srs_clients", "The total counts of SRS clients.", value=st.clients.total)
        yield CounterMetricFamily("srs_clients_errs", "The total errors of SRS clients.", value=st.clients.errors)
        yield from self._srsish_metrics()

    def _srsish_metrics(self) -> Iterator[Metric]:
        st = self.state
        by_action = CounterMetricFamily("srsish_hook_deliveries", "Hook deliveries by action and outcome.",
                                        labels=["action", "outcome"])
        for action, outcome, n in st.hook_deliveries:
            by_action.add_metric([action, outcome], n)
        yield by_action
        hooks = st.hooks_stats()
        sent = CounterMetricFamily("srsish_hook_notifications", "Hook notification deliveries by URL and outcome.",
                                   labels=["url", "outcome"])
        pending = GaugeMetricFamily("srsish_hook_outbox_pending", "Notifications waiting in the outbox, by URL.",
                                    labels=["url"])
        for url, counts in sorted(hooks.items()):
            for outcome in ("delivered", "retried", "failed", "expired"):
                sent.add_metric([url, outcome], counts.get(outcome, 0))
            pending.add_metric([url], counts.get("pending", 0))
        yield sent
        yield pending
        drops = CounterMetricFamily("srsish_players_dropped", "Players that fell behind: queue cut back "
                                    "(shrink, once per player) or cut off (send_timeout).", labels=["reason"])
        for reason, n in st.player_drops.players.items():
            drops.add_metric([reason], n)
        yield drops
        yield CounterMetricFamily("srsish_messages_dropped", "Media messages cut from slow players' queues.",
                                  value=st.player_drops.messages)


class MetricsServer:
    """The exporter's listener: GET /metrics is the Prometheus text, anything else 404 (no API here)."""

    def __init__(self, sock: socket.socket, state: ExporterState) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MetricsCollector(state))
        self.log = get_logger()
        sock.setblocking(False)
        self.stream_server = StreamServer(sock, self._handle)

    @property
    def port(self) -> int:
        return self.stream_server.server_port

    def start(self) -> None:
        self.stream_server.start()
        self.log.info("exporter listen at tcp://%s:%d for /metrics", self.stream_server.server_host, self.port)

    def close(self) -> None:
        self.stream_server.close()

    def _handle(self, sock: socket.socket, address) -> None:
        conn = HttpConnection(sock, address[0] if address else "")
        try:
            req = conn.read_request()
            if req is None:
                return
            if req.path != "/metrics":
                resp = text_response(404, "not found: the exporter serves /metrics only")
            elif req.method not in ("GET", "HEAD"):
                resp = text_response(405, f"method {req.method} not allowed")
            else:
                resp = HttpResponse(200, [("Content-Type", CONTENT_TYPE_LATEST)], generate_latest(self.registry))
            conn.respond(req, resp, False, [])
        except (BadRequest, OSError) as e:
            self.log.debug("exporter client gone or bad request: %s", e)
        finally:
            sock.close()
