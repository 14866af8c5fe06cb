"""RtmpConn: one RTMP client's socket: bytes to the server session, its events to gates and sources, answers back."""
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import gevent
from gevent import Timeout

from srsish import SIGNATURE, VERSION
from srsish.app import access
from srsish.app.config import Config
from srsish.app.hooks.http_hooks import HookContext, HttpHooks
from srsish.app.live.consumer import PUBLISH, UNPUBLISH, Consumer
from srsish.app.live.source import LiveSource, SourceRegistry
from srsish.app.live.writer import SendTimeout
from srsish.app.origin.hub import OriginHub
from srsish.app.rtmp.player import PlayWriter
from srsish.core.errors import ProtocolError
from srsish.core.ids import new_client_id
from srsish.core.log import get_logger
from srsish.core.naming import DEFAULT_VHOST
from srsish.protocol.request import StreamRequest
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.media import MediaChunker
from srsish.protocol.rtmp.session import events as se
from srsish.protocol.rtmp.session.server import ServerSession

HANDSHAKE_TIMEOUT = 30.0      # handshake + connect phase
IDENTIFY_TIMEOUT = 30.0       # waiting for publish/play after connect
PLAYER_RECV_TIMEOUT = None    # players may stay silent for ever; the writer's send timeout guards them
RECV_SIZE = 64 * 1024


class ClientRejected(Exception):
    """The client is refused; the message is what we tell it and log."""


class ClientGone(Exception):
    """The peer closed the connection or it timed out."""


# How a ClientGone that is no error starts: the peer left, the API or shutdown kicked it, its writer ended (a
# broken pipe to a leaving player is its leaving; only a send timeout makes the writer's end an error).
CLEAN_ENDS = ("peer closed", "kicked", "player writer stopped")


class PeerSilent(ClientGone):
    """No bytes arrived within the read timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"no data for {timeout:.1f}s")
        self.timeout = timeout


@dataclass
class RtmpServices:
    """What an RTMP connection uses of the server, and nothing more."""
    config: Callable[[], Config]          # the conf as it is now (a reload swaps it)
    sources: SourceRegistry
    hooks: HttpHooks
    start_origin: Callable[..., OriginHub]   # (vhost, hook context, hooks_conf getter, log) -> the session's hub
    edge: Any = None                      # the EdgeCluster (pull from origins, token traverse), if any
    drops: Any = None                     # the PlayerDrops a player's queue counts slow-player events in


class RtmpConn:
    """Serves one accepted RTMP socket; all blocking is on this greenlet (and a writer when playing)."""

    def __init__(self, sock: socket.socket, address, services: RtmpServices) -> None:
        self.services = services
        self.sock = sock
        self.ip = address[0] if address else ""
        self.port = address[1] if address and len(address) > 1 else 0
        self.id = new_client_id()
        self.log = get_logger(self.id)
        self.session = ServerSession(self.id, now_ms=int(time.monotonic() * 1000) & 0xFFFFFFFF)
        self.req: Optional[StreamRequest] = None
        self.vhost: Optional[dict] = None
        self.send_bytes = 0
        self.recv_bytes = 0
        self.created = time.time()
        self.kind = "unknown"        # fmle-publish, flash-publish, play
        self.swf_url = ""
        self.flash_ver = ""
        self.source: Optional[LiveSource] = None
        self.consumer: Optional[Consumer] = None
        self.connect_passed = False  # on_connect said yes (once per connection)
        self.connected = False       # the connect command was answered
        self.access_refused = False  # security or refer refused it before any hook
        self._writer = None
        self._writer_error = None
        self._closing = False
        self.ended_in_error = False  # rejected, protocol error, timeout, socket or writer failure (srs_clients_errs_total)
        self.greenlet = gevent.getcurrent()

    def describe(self) -> dict:
        """This client as SRS's API lists it (ids, urls, type); the API adds counters."""
        req = self.req
        vhost = self.vhost["name"] if self.vhost else (req.vhost or req.host if req else "")
        return {"vhost": vhost, "stream": self.source.id if self.source else "", "ip": self.ip,
                "pageUrl": req.pageUrl if req else "", "swfUrl": self.swf_url, "tcUrl": req.tcUrl if req else "",
                "url": f"/{req.app}/{req.stream}" if req else "", "name": req.stream if req else "",
                "type": "rtmp-play" if self.kind == "play" else self.kind,
                "publish": self.kind.endswith("publish")}

    def kick(self, reason: str, timeout: float = 5.0) -> None:
        """End this client from another greenlet (API kick, shutdown); its hooks still run."""
        self.greenlet.kill(ClientGone(f"kicked: {reason}"), block=True, timeout=timeout)

    # -- socket helpers ------------------------------------------------------------------
    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.sock.sendall(data)
            self.send_bytes += len(data)

    def _recv(self, timeout: Optional[float]) -> None:
        try:
            with Timeout(timeout, PeerSilent(timeout) if timeout else ClientGone("timeout")):
                data = self.sock.recv(RECV_SIZE)
        except OSError as e:
            raise ClientGone(f"recv: {e}") from None
        if not data:
            raise ClientGone("peer closed")
        self.recv_bytes += len(data)
        self.session.receive_data(data)

    def _next(self):
        """The next session event, reading from the socket as needed (callers bound the wait)."""
        while True:
            ev = self.session.next_event()
            if ev is not rc.NEED_DATA:
                return ev
            self._flush()  # identify replies, acks and ping responses the session queued
            self._recv(None)

    # -- life cycle --------------------------------------------------------------------
    def serve(self) -> None:
        self.log.info("RTMP client ip=%s:%s, fd=%s", self.ip, self.port, self.sock.fileno())
        reason = "done"
        try:
            self._handshake()
            self._connect_app()
            while True:
                self._identify_and_serve()
        except ClientGone as e:
            reason = f"player writer stopped: {self._writer_error}" if self._writer_error else str(e)
            self.ended_in_error = isinstance(self._writer_error, SendTimeout) or not str(e).startswith(CLEAN_ENDS)
        except ClientRejected as e:
            reason = f"rejected: {e}"
            self.ended_in_error = True
            self.log.warning("client rejected: %s", e)
        except ProtocolError as e:
            reason = f"protocol error: {e}"
            self.ended_in_error = True
            self.log.warning("protocol error, closing: %s", e)
        except OSError as e:
            reason = f"player writer stopped: {self._writer_error}" if self._writer_error else f"socket: {e}"
            self.ended_in_error = True
        except gevent.GreenletExit:
            reason = "server stopping or client kicked"
            raise
        finally:
            self._cleanup(reason)

    def _handshake(self) -> None:
        with Timeout(HANDSHAKE_TIMEOUT, ClientGone("handshake timeout")):
            while not isinstance(ev := self._next(), rc.HandshakeComplete):
                pass
        self.log.info("%s handshake success", "complex" if ev.complex else "simple")

    def _connect_app(self) -> None:
        with Timeout(HANDSHAKE_TIMEOUT, ClientGone("connect timeout")):
            while True:
                ev = self._next()
                if isinstance(ev, se.ConnectRequested):
                    break
                if isinstance(ev, se.CommandIgnored):
                    self.log.info("ignore command %s before connect", ev.name)
        req = self.req = ev.request
        self.swf_url = ev.swf_url
        self.flash_ver = ev.flash_ver
        self.log.info("connect app, tcUrl=%s, pageUrl=%s, schema=%s, vhost=%s, port=%s, app=%s, args=%s",
                      req.tcUrl, req.pageUrl, req.schema, req.host, req.port, req.app,
                      "null" if not req.param else req.param)
        vhost = self.services.config().vhost(req.host or DEFAULT_VHOST)
        if vhost is None or not vhost["enabled"]:
            self._reject(f"vhost {req.host} is not configured or disabled")
        self.vhost = vhost
        self.session.accept_connect(
            window_ack_size=int(vhost["out_ack_size"]),
            chunk_size=int(vhost["chunk_size"]),
            server_data=dict(srs_sig="srsish", srs_server=SIGNATURE, srs_license="MIT",
                             srs_url="https://github.com/ossrs/srs", srs_version=VERSION,
                             srs_server_ip=self._local_ip(), srs_pid=float(os.getpid()), srs_id=self.id))
        self._flush()
        self.connected = True

    def _local_ip(self) -> str:
        try:
            return self.sock.getsockname()[0]
        except OSError:
            return ""

    def _reject(self, why: str, told: str = "") -> None:
        """Tell the client why before closing (ffmpeg and OBS print the description), then close; `told`
        replaces `why` for the client when the log's version names something the client must not see."""
        self.session.reject(told or why)
        try:
            self._flush()
        except OSError:
            pass   # the client may already be gone; it is refused either way
        raise ClientRejected(why)

    # -- identify: the session answers releaseStream/FCPublish/createStream; we get publish or play --
    def _identify_and_serve(self) -> None:
        with Timeout(IDENTIFY_TIMEOUT, ClientGone("identify timeout: no publish or play")):
            while True:
                ev = self._next()
                if isinstance(ev, (se.PublishRequested, se.PlayRequested)):
                    break
        req = self.req = ev.request
        vhost = self.services.config().vhost(req.vhost)
        if vhost is None or not vhost["enabled"]:
            self._reject(f"vhost {req.vhost} is not configured or disabled")
        self.vhost = vhost
        if not req.stream:
            self._reject("empty stream name")
        # security and refer refuse before any hook: a refused client costs the backend nothing
        action = access.PUBLISH if isinstance(ev, se.PublishRequested) else access.PLAY
        refusal = access.security_refusal(vhost["security"], action, self.ip) or \
            access.refer_refusal(vhost["refer"], action, req.pageUrl)
        if refusal:
            self.access_refused = True   # no hook was called, so none is owed (on_close included)
            self._reject(refusal)
        edge = self.services.edge
        if edge is not None and edge.token_traverse(vhost):   # as SRS: once the stream is known
            why = edge.check_client(vhost, req, self.id, play=isinstance(ev, se.PlayRequested))
            if why is not None:
                self.access_refused = True
                self._reject(why)
        if isinstance(ev, se.PublishRequested):
            self.kind = "fmle-publish" if ev.fc_publish else "flash-publish"
            self._publish()
        else:
            self.kind = "play"
            self._play(ev.duration_ms)

    def hook_context(self) -> HookContext:
        req = self.req
        vhost_name = self.vhost["name"] if self.vhost else req.vhost
        return HookContext(
            client_id=self.id, ip=self.ip, vhost=vhost_name, app=req.app, stream=req.stream, param=req.param,
            tcUrl=req.tcUrl, pageUrl=req.pageUrl, stream_url=req.stream_url(vhost_name),
            stream_id=self.source.id if self.source else "", send_bytes=self.send_bytes, recv_bytes=self.recv_bytes,
            protocol="rtmp", port=self.port, client_url=f"{req.tcUrl.split('?', 1)[0]}/{req.stream}{req.param}",
            server_ip=self._local_ip(), flash_ver=self.flash_ver)

    def _hooks_conf(self) -> dict:
        """The vhost's http_hooks as the config says now, so a reload applies to the next event."""
        return self.services.config().hooks_conf(self.vhost["name"]) or self.vhost["http_hooks"]

    def _identified(self) -> LiveSource:
        req = self.req
        self.log.info("identify client success. type=%s, vhost=%s, app=%s, stream=%s, param=%s",
                      self.kind, self.vhost["name"], req.app, req.stream, req.param)
        return self.services.sources.fetch_or_create(self.vhost["name"], req.app, req.stream)

    def _gate(self, source: LiveSource, hook) -> None:
        """on_connect (once per connection), then on_publish or on_play; a refusal lets the source go."""
        self.source = source
        try:
            self._gate_connect()
            verdict = hook(self._hooks_conf(), self.hook_context())
            if not verdict.ok:
                self._reject(verdict.reason, verdict.client_text)
        except BaseException:
            if source.publisher is self:
                source.publisher = None
            self.source = None
            self.services.sources.release_if_idle(source)
            raise

    def _gate_connect(self) -> None:
        if self.connect_passed:
            return
        verdict = self.services.hooks.on_connect(self._hooks_conf(), self.hook_context())
        if not verdict.ok:
            self._reject(verdict.reason, verdict.client_text)
        self.connect_passed = True

    # -- publish ------------------------------------------------------------------------
    def _publish(self) -> None:
        req = self.req
        source = self._identified()
        if source.publisher is not None:
            self.services.sources.release_if_idle(source)
            self._reject(f"Stream {req.stream_url(self.vhost['name'])} is busy: already publishing")
        source.publisher = self   # claim it while the hooks decide, so a racing publisher sees it busy
        self._gate(source, self.services.hooks.on_publish)
        source.configure(self.vhost["play"])
        source.on_publish(self, time.time())
        source.hub = self.services.start_origin(self.vhost, self._hook_ctx_for(source), self._hooks_conf, self.log)
        self.session.start_publish()
        self._flush()
        self.log.info("start publish vhost=%s, app=%s, stream=%s, stream_id=%s",
                      self.vhost["name"], req.app, req.stream, source.id)
        try:
            self._publish_loop()
        finally:
            self._stop_publish()

    def _publish_loop(self) -> None:
        pub = self.vhost["publish"]
        first_timeout = max(0.1, pub["firstpkt_timeout"] / 1000.0)
        normal_timeout = max(0.1, pub["normal_timeout"] / 1000.0)
        timeout = first_timeout
        source = self.source
        session = self.session
        while True:
            ev = session.next_event()
            t = type(ev)
            if t is rc.Media:
                source.on_media(ev.type_id, ev.timestamp, ev.payload)
                timeout = normal_timeout
            elif ev is rc.NEED_DATA:
                self._flush()
                try:
                    self._recv(timeout)
                except PeerSilent:
                    phase = "firstpkt_timeout" if timeout == first_timeout and source.frames == 0 else \
                        "normal_timeout"
                    raise ClientGone(f"publisher silent for {timeout:.1f}s ({phase})") from None
            elif t is se.Metadata:
                source.on_metadata(ev.values, ev.timestamp)
            elif t is se.Unpublished:
                self._flush()
                return
            elif t is se.StreamClosed:
                return

    def _stop_publish(self) -> None:
        source = self.source
        if source is None or source.publisher is not self:
            return
        source.on_unpublish()
        self.source = None
        self.log.info("stop publish vhost=%s, app=%s, stream=%s", source.vhost, source.app, source.stream)
        # As SRS, the last segment's on_hls and the recording's on_dvr reach a backend before on_unpublish:
        # they were queued first, and the outbox keeps one client's events in order per backend.
        self.services.hooks.on_unpublish(self._hooks_conf(), self._hook_ctx_for(source))
        self.services.sources.release_if_idle(source)

    def _hook_ctx_for(self, source: LiveSource) -> HookContext:
        ctx = self.hook_context()
        ctx.stream_id = source.id
        return ctx

    # -- play ---------------------------------------------------------------------------
    def _play(self, duration_ms: float = -1.0) -> None:
        req = self.req
        source = self._identified()
        self._gate(source, self.services.hooks.on_play)
        self.session.start_play()
        self._flush()
        play = self.vhost["play"]
        if not source.is_publishing:
            source.configure(play)
        consumer = source.create_consumer(int(float(play["queue_length"]) * 1000))
        consumer.drops = self.services.drops
        self.consumer = consumer
        if self.services.edge is not None:
            self.services.edge.pull(self.vhost, source, req.app, req.stream, req.param)
        self.log.info("start play vhost=%s, app=%s, stream=%s, publishing=%s, gop=%d",
                      self.vhost["name"], req.app, req.stream, source.is_publishing, len(source.gop.messages))
        writer = self._play_writer(consumer, play, duration_ms)
        self._writer = gevent.spawn(writer.run)
        self._writer.link(lambda g: self._on_writer_stopped(writer))
        try:
            self._play_control_loop()
        finally:
            self._stop_play()

    def _on_writer_stopped(self, writer: "PlayWriter") -> None:
        """A writer that failed (send timeout, broken socket) or played its duration ends the connection; log why."""
        error = writer.error
        if error is None and writer.duration_reached:
            error = f"play duration {writer.duration_ms:.0f} ms reached after {writer.played_ms} ms of stream"
            self.log.info("%s, closing as SRS", error)
        elif error is None:
            return
        else:
            self.log.warning("player writer stopped: %s", error)
        self._writer_error = error
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _play_writer(self, consumer: Consumer, play: dict, duration_ms: float) -> PlayWriter:
        """The writer greenlet's encoder gets the stream markers' bytes now: it never touches the session."""
        session = self.session
        chunker = MediaChunker(session.out_chunk_size, session.stream_id, consumer.relative_timestamp,
                               {UNPUBLISH: session.unpublish_notify(), PUBLISH: session.publish_notify()})
        latency = 0 if self.vhost["min_latency"] else int(play["mw_latency"])
        return PlayWriter(self.sock, consumer, chunker, latency, int(play["mw_msgs"]), self._count_sent,
                          duration_ms, session.play_stop_notify())

    def _count_sent(self, n: int) -> None:
        self.send_bytes += n

    def _play_control_loop(self) -> None:
        """While the writer sends, read the player's control messages (pause, close, acks).

        Whatever the session answers goes through the consumer's queue, so only the writer
        greenlet writes to the socket.
        """
        session = self.session
        while True:
            ev = session.next_event()
            if ev is rc.NEED_DATA:
                out = session.data_to_send()
                if out:
                    self.consumer.enqueue_item(out)
                if self._writer is not None and self._writer.dead:
                    raise ClientGone("player writer stopped")
                self._recv(PLAYER_RECV_TIMEOUT)
                continue
            t = type(ev)
            if t is se.StreamClosed:
                return
            if t is se.PauseChanged:
                self.consumer.paused = ev.paused
                self.consumer.enqueue_item(session.data_to_send())
                self.log.info("%s play", "pause" if ev.paused else "resume")

    def _stop_play(self) -> None:
        source, consumer = self.source, self.consumer
        if consumer is None or source is None:
            return
        self.consumer = None
        source.destroy_consumer(consumer)
        if self._writer is not None:
            # Let the writer send what is queued (e.g. a closeStream reply), then stop it.
            self._writer.kill(block=True, timeout=1)
            self._writer = None
        self.log.info("stop play, dropped=%d", consumer.dropped)
        self.services.hooks.on_stop(self._hooks_conf(), self._hook_ctx_for(source))
        self.source = None
        self.services.sources.release_if_idle(source)

    # -- end ----------------------------------------------------------------------------
    def _cleanup(self, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            if self.consumer is not None:
                self._stop_play()
            if self.source is not None and self.source.publisher is self:
                self._stop_publish()
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            self.log.info("client disconnect: %s, send=%d, recv=%d", reason, self.send_bytes, self.recv_bytes)
            if self.connected and self.vhost is not None and not self.access_refused:
                ctx = self.hook_context()
                self.services.hooks.on_close(self._hooks_conf(), ctx)
