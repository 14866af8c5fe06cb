"""HTTP-FLV live play: GET /app/stream.flv through the same consumer fan-out as RTMP players."""
import re
import socket
import time
from typing import Any, Callable, List, Optional, Tuple

import gevent

from srsish.app.access import PLAY, security_refusal
from srsish.app.clients import ClientRegistry
from srsish.app.config import Config
from srsish.app.hooks.http_hooks import HookContext, HttpHooks
from srsish.app.http.server import HttpConnection, render_head, text_response
from srsish.app.http.types import HttpRequest
from srsish.app.http.viewer_watch import ViewerWatch
from srsish.app.live.consumer import Consumer, StreamMarker
from srsish.app.live.source import SourceRegistry
from srsish.app.live.writer import QueueWriter, SendTimeout, rebased
from srsish.core import naming
from srsish.core.ids import new_client_id
from srsish.core.log import get_logger
from srsish.kernel.flv import file_header, previous_tag_size, tag_header
from srsish.kernel.message import SharedMessage

FLV_HEADER_AV = file_header(has_audio=True, has_video=True)
_CHUNK_END = b"\r\n"
_LAST_CHUNK = b"0\r\n\r\n"


def mount_pattern(mount: str) -> Optional["re.Pattern"]:
    """A regex for an http_remux mount such as `[vhost]/[app]/[stream].flv` (FLV mounts only)."""
    if not mount.endswith(".flv"):
        return None
    if mount.startswith("[vhost]"):
        mount = mount[len("[vhost]"):]
    if not mount.startswith("/"):
        mount = "/" + mount
    rx = re.escape(mount).replace(re.escape("[app]"), "(?P<app>.+?)").replace(re.escape("[stream]"),
                                                                             "(?P<stream>[^/]+?)")
    return re.compile("^" + rx + "$")


def flv_tag(m: SharedMessage, timestamp: int) -> Tuple[bytes, bytes, bytes]:
    """(tag header, payload, previous tag size) of `m` at a viewer's `timestamp`."""
    payload = m.payload
    size = len(payload)
    tail = m.cache.get("flv")
    if tail is None:
        tail = m.cache["flv"] = previous_tag_size(size)
    return tag_header(m.type_id, timestamp, size), payload, tail


def flv_view_render(key: Tuple[str, Any]) -> Callable[[SharedMessage], Tuple[bytes, bytes, bytes]]:
    """How the log view ("flv", timestamp base) renders a message; it holds no viewer, since it outlives them."""
    at = rebased(key[1])
    return lambda m: flv_tag(m, at(m.timestamp))


class FlvWriter(QueueWriter):
    """Per message: an 11-byte tag header, the payload and the tag size, shared between viewers.

    The tag header depends on the viewer only through its timestamp, so the triple is kept in
    `SharedMessage.renderings` under ("flv", timestamp): viewers that joined on the same GOP
    share it. With chunked encoding one chunk frames the whole batch.
    """

    def __init__(self, client: "FlvClient", consumer: Consumer, mw_latency_ms: int, mw_msgs: int,
                 chunked: bool) -> None:
        super().__init__(client.conn.sock, consumer, mw_latency_ms, mw_msgs)
        self.client = client
        self.chunked = chunked
        self._counted = 0

    def encode(self, items: List[Any]) -> List[Any]:
        if self.span is not None and items:
            # Straight from the source's log (media only, no markers): one slice of shared bytes.
            view = self.consumer.log.view(("flv", self.view_base(items)), flv_view_render)
            out = view.slice(*self.span)
            total = view.size(*self.span)
        else:
            out = self._encode_items(items)
            total = sum(map(len, out))
        if self.chunked:
            if total:
                out.insert(0, b"%x\r\n" % total)
                out.append(_CHUNK_END)
            if self.finished:
                out.append(_LAST_CHUNK)
        return out

    def _encode_items(self, items: List[Any]) -> List[Any]:
        out: List[Any] = []
        rel = self.consumer.relative_timestamp
        for m in items:
            if type(m) is SharedMessage:
                key = ("flv", rel(m.timestamp))
                rendering = m.renderings.get(key)
                if rendering is None:
                    rendering = m.share(key, flv_tag(m, key[1]))
                out += rendering
            elif type(m) is StreamMarker and m.kind == "unpublish":
                self.finished = True   # SRS cuts HTTP-FLV viewers off when the publisher leaves
                break
        return out

    def on_sent(self) -> None:
        self.client.conn.send_bytes += self.send_bytes - self._counted
        self._counted = self.send_bytes


def _client_url(req: HttpRequest) -> str:
    """The full URL a viewer asked for (Host header as sent), query included."""
    return f"http://{req.headers.get('host', '')}{req.path}{req.param}"


def _socket_facts(sock) -> Tuple[int, str]:
    """(the peer's port, our address) of an accepted socket; (0, "") when it is already gone."""
    try:
        return sock.getpeername()[1], sock.getsockname()[0]
    except (OSError, IndexError):
        return 0, ""


class FlvClient:
    """One HTTP-FLV viewer: gated by on_play, fed by a consumer, ended by either side or a kick."""
    kind = "flv-play"
    publish = False

    def __init__(self, streams: "HttpFlvStreams", conn: HttpConnection, req: HttpRequest, vhost: dict, app: str,
                 stream: str) -> None:
        self.streams = streams
        self.conn = conn
        self.req = req
        self.vhost = vhost
        self.app, self.stream = app, stream
        self.id = new_client_id()
        self.log = get_logger(self.id)
        self.ip = req.ip
        self.created = time.time()
        self.source = None
        self.greenlet = gevent.getcurrent()
        self.port, self.server_ip = _socket_facts(conn.sock)

    @property
    def send_bytes(self) -> int:
        return self.conn.send_bytes

    @property
    def recv_bytes(self) -> int:
        return self.conn.recv_bytes

    def describe(self) -> dict:
        vhost = self.vhost["name"]
        return {"vhost": vhost, "stream": self.source.id if self.source else "", "ip": self.ip,
                "pageUrl": self.req.headers.get("referer", ""), "swfUrl": "",
                "tcUrl": f"http://{self.req.host or vhost}/{self.app}", "url": f"/{self.app}/{self.stream}",
                "name": self.stream, "type": self.kind, "publish": False}

    def kick(self, reason: str, timeout: float = 5.0) -> None:
        self.greenlet.kill(block=True, timeout=timeout)

    def hook_context(self) -> HookContext:
        vhost = self.vhost["name"]
        return HookContext(
            client_id=self.id, ip=self.ip, vhost=vhost, app=self.app, stream=self.stream, param=self.req.param,
            tcUrl=f"http://{self.req.host or vhost}/{self.app}", pageUrl=self.req.headers.get("referer", ""),
            stream_url=naming.stream_url(vhost, self.app, self.stream), stream_id=self.source.id if self.source else "",
            protocol="http-flv", port=self.port, client_url=_client_url(self.req), server_ip=self.server_ip)

    def _hooks_conf(self) -> dict:
        return self.streams.config().hooks_conf(self.vhost["name"]) or self.vhost["http_hooks"]

    def serve(self, extra: List[Tuple[str, str]], chunked: bool) -> None:
        """Gate, then stream until the viewer leaves, the publisher leaves, or we are kicked."""
        self.log.info("HTTP-FLV client ip=%s, url=%s%s", self.ip, self.req.path, self.req.param)
        sources, hooks, clients = self.streams.sources, self.streams.hooks, self.streams.clients
        self.source = sources.get(self.vhost["name"], self.app, self.stream)
        refusal = security_refusal(self.vhost["security"], PLAY, self.ip)   # before any hook
        if refusal:
            self.log.warning("HTTP-FLV play rejected: %s", refusal)
            self.conn.respond(self.req, text_response(403, refusal), False, extra)
            return
        verdict = hooks.on_play(self._hooks_conf(), self.hook_context())
        if not verdict.ok:
            self.log.warning("HTTP-FLV play rejected: %s", verdict.reason)
            self.conn.respond(self.req, text_response(403, verdict.client_text), False, extra)
            return
        source = sources.publishing(self.vhost["name"], self.app, self.stream)
        edge = self.streams.edge
        if source is None and edge is not None and edge.is_edge(self.vhost):
            source = sources.fetch_or_create(self.vhost["name"], self.app, self.stream)   # pulled below
        if source is None:
            # The stream went away while the hook decided: nothing to play, and on_stop follows on_play.
            self.conn.respond(self.req, text_response(404, "stream not found"), False, extra)
            hooks.on_stop(self._hooks_conf(), self.hook_context())
            return
        self.source = source
        play = self.vhost["play"]
        consumer = source.create_consumer(int(float(play["queue_length"]) * 1000))
        consumer.drops = self.streams.drops
        if edge is not None:
            edge.pull(self.vhost, source, self.app, self.stream, self.req.param)
        headers = [("Content-Type", "video/x-flv"), ("Cache-Control", "no-cache"), ("Connection", "Close")]
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        head = render_head(200, headers + extra)
        first = b"%x\r\n%s\r\n" % (len(FLV_HEADER_AV), FLV_HEADER_AV) if chunked else FLV_HEADER_AV
        clients.add(self)
        watch = None
        reason = "viewer closed"
        failed = False   # a socket error or a send timeout (srs_clients_errs_total)
        try:
            self.conn.send(head + first)
            latency = 0 if self.vhost["min_latency"] else int(play["mw_latency"])
            writer = FlvWriter(self, consumer, latency, int(play["mw_msgs"]), chunked)
            # This greenlet writes; the watch ends the writer (and a send stuck on a full socket) when
            # the viewer leaves.
            watch = ViewerWatch(self.conn, lambda: (self._shutdown(), consumer.close()))
            self.log.info("start HTTP-FLV play vhost=%s, app=%s, stream=%s", self.vhost["name"], self.app,
                          self.stream)
            writer.run()
            if watch.left is not None:
                reason = "viewer closed" if watch.left == "closed" else watch.left
            elif writer.error is not None:
                reason = f"writer: {writer.error}"
                failed = isinstance(writer.error, SendTimeout)   # a broken pipe is the viewer leaving
            elif writer.finished:
                reason = "publisher left"
        except OSError as e:
            reason = f"socket: {e}"
            failed = True
        except gevent.GreenletExit:
            reason = "kicked"
            raise
        finally:
            if watch is not None:
                watch.stop()
            clients.remove(self, failed)
            source.destroy_consumer(consumer)
            sources.release_if_idle(source)
            self.log.info("stop HTTP-FLV play: %s, send=%d, dropped=%d", reason, self.send_bytes, consumer.dropped)
            hooks.on_stop(self._hooks_conf(), self.hook_context())

    def _shutdown(self) -> None:
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class HttpFlvStreams:
    """Matches `.flv` requests against the vhosts' http_remux mounts and serves them."""

    def __init__(self, config: Callable[[], Config], sources: SourceRegistry, clients: ClientRegistry,
                 hooks: HttpHooks, edge: Any = None, drops: Any = None) -> None:
        self.config = config          # the conf as it is now (a reload swaps it)
        self.drops = drops            # the PlayerDrops viewers' queues count slow-viewer events in
        self.edge = edge              # the EdgeCluster: an edge vhost's streams are pulled from its origins
        self.sources = sources
        self.clients = clients
        self.hooks = hooks

    def match(self, req: HttpRequest) -> Optional[Tuple[dict, str, str]]:
        vhost_name = req.query_dict().get("vhost") or req.query_dict().get("domain") or req.host or \
            naming.DEFAULT_VHOST
        vhost = self.config().vhost(vhost_name)
        if vhost is None or not vhost["enabled"]:
            return None
        remux = vhost["http_remux"]
        if not remux["enabled"]:
            return None
        pattern = mount_pattern(remux["mount"])
        m = pattern.match(req.path) if pattern else None
        if not m:
            return None
        return vhost, m.group("app").strip("/"), m.group("stream")

    def serve(self, conn: HttpConnection, req: HttpRequest, extra: List[Tuple[str, str]]) -> Optional[bool]:
        """None when the path is no FLV mount (serve it as a file); else False: the connection ends."""
        found = self.match(req)
        if found is None:
            return None
        vhost, app, stream = found
        if self.sources.publishing(vhost["name"], app, stream) is None and \
                not (self.edge is not None and self.edge.is_edge(vhost)):
            conn.respond(req, text_response(404, f"stream /{app}/{stream} is not published"), False, extra)
            return False
        chunked = req.version != "HTTP/1.0"   # HTTP/1.0 viewers get a close-delimited body
        FlvClient(self, conn, req, vhost, app, stream).serve(extra, chunked)
        return False
