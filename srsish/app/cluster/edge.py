"""EdgeCluster: SRS's edge (`cluster { mode remote; }`): pull a played stream from the origins, check tokens there.

The first player of a stream on an edge vhost starts an EdgeIngester, which plays the stream from the
first origin that answers and publishes it into the local LiveSource: every local player (RTMP, HTTP-FLV)
and the HLS muxer share that one upstream connection. A broken upstream is replaced by the next origin
in the list (players see UnpublishNotify, then PublishNotify and the stream again); the upstream is
closed once the stream has had no player for IDLE_CLOSE seconds.
"""
import time
from typing import Any, Callable, Dict, List, Optional

import gevent

from srsish.app.cluster.upstream import RtmpUpstream, Target, UpstreamError, parse_host_port
from srsish.core.ids import new_client_id
from srsish.core.log import get_logger
from srsish.core.naming import stream_url
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.session import events as se

IDLE_CLOSE = 3.0        # seconds without a player before the upstream is closed
RETRY_INTERVAL = 3.0    # seconds to wait once every origin failed, before trying the first again
TOKEN_TIMEOUT = 5.0     # token traverse: how long the origin may take to answer a connect


def edge_targets(vhost: dict, app: str, stream: str, param: str) -> List[Target]:
    """The vhost's origins, in order, each asked for app/stream with the client's query (SRS keeps it)."""
    cluster = vhost["cluster"]
    upstream_vhost = cluster["vhost"] or vhost["name"]
    out = []
    for text in cluster["origin"]:
        host, port = parse_host_port(text)
        out.append(Target(host, port, app, stream, param, vhost=upstream_vhost))
    return out


def is_edge(vhost: Optional[dict]) -> bool:
    return vhost is not None and vhost["cluster"]["mode"] == "remote" and bool(vhost["cluster"]["origin"])


class _UpstreamRequest:
    """What the API reads of a publisher's request (its tcUrl)."""

    def __init__(self, tc_url: str) -> None:
        self.tcUrl = tc_url


class EdgeIngester:
    """The upstream of one edge stream: plays it from an origin and is the local source's publisher."""
    kind = "edge-ingest"

    def __init__(self, edge: "EdgeCluster", source: Any, vhost: dict, app: str, stream: str, param: str) -> None:
        self.edge = edge
        self.source = source
        self.vhost = vhost
        self.app, self.stream, self.param = app, stream, param
        self.targets = edge_targets(vhost, app, stream, param)
        self.id = new_client_id()
        self.log = get_logger(self.id)
        self.created = time.time()
        self.ip = self.targets[0].host
        self.req = _UpstreamRequest(self.targets[0].tc_url)
        self.upstream: Optional[RtmpUpstream] = None
        self._send_bytes = self._recv_bytes = 0
        self.failovers = 0
        self._stopping = False
        self._greenlet = gevent.spawn(self._run)
        self._watcher = gevent.spawn(self._watch_players)

    # -- the Client interface (the API lists the upstream as a client of the edge) ---------
    @property
    def send_bytes(self) -> int:
        return self._send_bytes + (self.upstream.send_bytes if self.upstream else 0)

    @property
    def recv_bytes(self) -> int:
        return self._recv_bytes + (self.upstream.recv_bytes if self.upstream else 0)

    def describe(self) -> dict:
        up = self.upstream
        target = up.target if up is not None else None
        return {"vhost": self.vhost["name"], "stream": self.source.id, "ip": target.host if target else "",
                "pageUrl": "", "swfUrl": "", "tcUrl": target.tc_url if target else "",
                "url": f"/{self.app}/{self.stream}", "name": self.stream, "type": self.kind, "publish": True,
                "upstream": {"origin": target.endpoint if target else "", "connected": up is not None,
                             "origins": [t.endpoint for t in self.targets], "failovers": self.failovers,
                             "server": (up.server_info.get("srs_server", "") if up is not None else "")}}

    def kick(self, reason: str, timeout: float = 5.0) -> None:
        self.log.info("edge ingest kicked: %s", reason)
        self.stop()

    # -- life cycle ------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._greenlet.kill(block=False)
        self._watcher.kill(block=False)
        gevent.spawn(self._finish)

    def _finish(self) -> None:
        self._greenlet.join(timeout=5)
        self.edge._forget(self)

    def _watch_players(self) -> None:
        idle_since = None
        while True:
            gevent.sleep(0.5)
            if self.source.consumers:
                idle_since = None
                continue
            now = time.monotonic()
            if idle_since is None:
                idle_since = now
            elif now - idle_since >= IDLE_CLOSE:
                self.log.info("edge ingest: no player for %.0fs, closing the upstream", IDLE_CLOSE)
                self.stop()
                return

    def _run(self) -> None:
        index = 0
        try:
            while True:
                target = self.targets[index % len(self.targets)]
                up = RtmpUpstream(target, self.id)
                try:
                    up.open("play")
                except UpstreamError as e:
                    self.log.warning("edge pull %s from origin %r failed: %s", self._url(), target, e)
                    self._recv_bytes += up.recv_bytes
                    self._send_bytes += up.send_bytes
                    index += 1
                    if index % len(self.targets) == 0:
                        gevent.sleep(RETRY_INTERVAL)
                    continue
                self.upstream = up
                self.log.info("edge pull %s from origin %r, server=%s, upstream id=%s", self._url(), target,
                              up.server_info.get("srs_server", "?"), up.server_info.get("srs_id", "?"))
                try:
                    self._pull(up)
                except UpstreamError as e:
                    self.failovers += 1
                    index += 1
                    self.log.warning("edge pull %s from origin %r broke: %s; trying origin %r", self._url(),
                                     target, e, self.targets[index % len(self.targets)])
                finally:
                    self._unpublish()
                    self.upstream = None
                    self._recv_bytes += up.recv_bytes
                    self._send_bytes += up.send_bytes
                    up.close()
        finally:
            self._unpublish()

    def _url(self) -> str:
        return stream_url(self.vhost["name"], self.app, self.stream)

    def _pull(self, up: RtmpUpstream) -> None:
        source = self.source
        while True:
            ev = up.next_event()
            t = type(ev)
            if t is rc.Media:
                if source.publisher is not self:
                    self._publish()
                source.on_media(ev.type_id, ev.timestamp, ev.payload)
            elif t is rc.Data:
                if ev.name in ("onMetaData", "@setDataFrame"):
                    if source.publisher is not self:
                        self._publish()
                    source.on_metadata(ev.values, ev.timestamp)
            elif t is se.Status:
                if ev.code == "NetStream.Play.UnpublishNotify":
                    self.log.info("edge pull %s: the origin's publisher left", self._url())
                    self._unpublish()
                elif ev.level == "error":
                    raise UpstreamError(f"{up.target.endpoint}: {ev.code} {ev.description}")

    def _publish(self) -> None:
        source = self.source
        if source.publisher is not None and source.publisher is not self:
            raise UpstreamError("a local publisher has the stream")
        source.configure(self.vhost["play"])
        source.on_publish(self, time.time())
        source.hub = self.edge.start_hub(self)
        self.log.info("edge ingest %s is live, stream_id=%s", self._url(), source.id)

    def _unpublish(self) -> None:
        if self.source.publisher is self:
            self.source.on_unpublish()


class EdgeCluster:
    """Every edge ingest of this process, started on demand; the token traverse check."""

    def __init__(self, sources: Any, clients: Any, start_hub: Callable[[EdgeIngester], Any]) -> None:
        self.sources = sources
        self.clients = clients
        self.start_hub = start_hub          # (ingester) -> the OriginHub of its publish session (HLS, ...)
        self._ingesters: Dict[int, EdgeIngester] = {}

    is_edge = staticmethod(is_edge)

    def pull(self, vhost: dict, source: Any, app: str, stream: str, param: str) -> None:
        """A player arrived at `source`: make sure it is pulled from the origins (unless published here)."""
        if not is_edge(vhost) or source.publisher is not None or id(source) in self._ingesters:
            return
        if vhost["cluster"]["protocol"] != "rtmp":
            get_logger().warning("vhost %s: cluster.protocol %s is not implemented by srsish, pulling over rtmp",
                                 vhost["name"], vhost["cluster"]["protocol"])
        ingester = EdgeIngester(self, source, vhost, app, stream, param)
        self._ingesters[id(source)] = ingester
        self.clients.add(ingester, connection=False)

    def _forget(self, ingester: EdgeIngester) -> None:
        if self._ingesters.get(id(ingester.source)) is ingester:
            del self._ingesters[id(ingester.source)]
        self.clients.remove(ingester)
        self.sources.release_if_idle(ingester.source)

    def ingesters(self) -> List[EdgeIngester]:
        return list(self._ingesters.values())

    @staticmethod
    def token_traverse(vhost: Optional[dict]) -> bool:
        return is_edge(vhost) and bool(vhost["cluster"]["token_traverse"])

    @staticmethod
    def check_client(vhost: dict, req: Any, client_id: str, play: bool) -> Optional[str]:
        """Token traverse: ask the origins, in order, whether they take this client (its tcUrl and query).

        SRS's edge only sends the client's `connect`; since SRS (and srsish) run on_connect when the client
        plays or publishes, an origin never refuses that, so a player is checked by a `play` of its stream
        with its tcUrl and query (the origin runs on_connect and on_play), closed at once. A publisher gets
        SRS's connect (its push to the origin carries its query, and the origin's on_publish judges that).
        None when an origin accepted; else why (the origin's refusal, or that none answered).
        """
        why = "no origin"
        for text in vhost["cluster"]["origin"]:
            host, port = parse_host_port(text)
            target = Target(host, port, req.app, req.stream, req.param, tc_url=req.tcUrl)
            upstream = RtmpUpstream(target, client_id)
            try:
                if play:
                    upstream.open("play", TOKEN_TIMEOUT, {"pageUrl": req.pageUrl})
                    upstream.close()
                else:
                    upstream.check_connect(TOKEN_TIMEOUT, {"pageUrl": req.pageUrl})
                return None
            except UpstreamError as e:
                why = str(e)
                if "refused:" in why or "closed the connection" in why:
                    return f"token traverse: origin refused the client: {why}"
        return f"token traverse: no origin answered: {why}"
