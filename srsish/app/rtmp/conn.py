"""RtmpConn: one RTMP client's life: handshake, connect, then publish or play cycles, under timeouts."""
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, List, Optional

import gevent
from gevent import Timeout

from srsish import SIGNATURE, VERSION
from srsish.app.config import Config
from srsish.app.hooks.http_hooks import HookContext, HttpHooks
from srsish.app.live.consumer import Consumer, StreamMarker
from srsish.app.live.source import LiveSource, SourceRegistry
from srsish.app.live.writer import QueueWriter
from srsish.app.origin.hub import OriginHub
from srsish.core.errors import ProtocolError
from srsish.core.ids import new_client_id
from srsish.core.log import get_logger
from srsish.core.naming import DEFAULT_VHOST
from srsish.kernel.message import SharedMessage
from srsish.protocol import amf0
from srsish.protocol.request import StreamRequest, apply_stream_name, parse_tc_url
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.chunk import chunk_header, chunk_tail, EXTENDED_TIMESTAMP

HANDSHAKE_TIMEOUT = 30.0      # handshake + connect phase
IDENTIFY_TIMEOUT = 30.0       # waiting for publish/play after connect
PLAYER_RECV_TIMEOUT = None    # players may stay silent for ever; the writer's send timeout guards them
RECV_SIZE = 64 * 1024
UNPUBLISH_FLUSH_TIMEOUT = 5.0  # the most an unpublish waits for queued on_hls/on_dvr hooks

_CMD_RESULT = "_result"


class ClientRejected(Exception):
    """The client is refused; the message is what we tell it and log."""


class ClientGone(Exception):
    """The peer closed the connection or it timed out."""


@dataclass
class RtmpServices:
    """What an RTMP connection uses of the server, and nothing more."""
    config: Callable[[], Config]          # the conf as it is now (a reload swaps it)
    sources: SourceRegistry
    hooks: HttpHooks
    start_origin: Callable[..., OriginHub]   # (vhost, hook context, hooks_conf getter, log) -> the session's hub


class RtmpConn:
    """Serves one accepted RTMP socket; all blocking is on this greenlet (and a writer when playing)."""

    def __init__(self, sock: socket.socket, address, services: RtmpServices) -> None:
        self.services = services
        self.sock = sock
        self.ip = address[0] if address else ""
        self.port = address[1] if address and len(address) > 1 else 0
        self.id = new_client_id()
        self.log = get_logger(self.id)
        self.conn = rc.RtmpConnection(rc.SERVER, now_ms=int(time.monotonic() * 1000) & 0xFFFFFFFF)
        self.req: Optional[StreamRequest] = None
        self.vhost: Optional[dict] = None
        self.send_bytes = 0
        self.recv_bytes = 0
        self.created = time.time()
        self.kind = "unknown"        # fmle-publish, flash-publish, play
        self.swf_url = ""
        self.source: Optional[LiveSource] = None
        self.consumer: Optional[Consumer] = None
        self.connect_passed = False  # on_connect said yes (once per connection)
        self.connected = False       # the connect command was answered
        self._writer = None
        self._writer_error = None
        self._closing = False
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
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)
            self.send_bytes += len(data)

    def _recv(self, timeout: Optional[float]) -> None:
        try:
            with Timeout(timeout, ClientGone(f"no data for {timeout:.1f}s" if timeout else "timeout")):
                data = self.sock.recv(RECV_SIZE)
        except OSError as e:
            raise ClientGone(f"recv: {e}") from None
        if not data:
            raise ClientGone("peer closed")
        self.recv_bytes += len(data)
        self.conn.receive_data(data)

    def _next(self):
        """The next protocol event, reading from the socket as needed (callers bound the wait)."""
        while True:
            ev = self.conn.next_event()
            if ev is not rc.NEED_DATA:
                return ev
            self._flush()  # acks and ping responses queued by the protocol layer
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
        except ClientRejected as e:
            reason = f"rejected: {e}"
            self.log.warning("client rejected: %s", e)
        except ProtocolError as e:
            reason = f"protocol error: {e}"
            self.log.warning("protocol error, closing: %s", e)
        except OSError as e:
            reason = f"player writer stopped: {self._writer_error}" if self._writer_error else f"socket: {e}"
        except gevent.GreenletExit:
            reason = "server stopping or client kicked"
            raise
        finally:
            self._cleanup(reason)

    def _handshake(self) -> None:
        with Timeout(HANDSHAKE_TIMEOUT, ClientGone("handshake timeout")):
            while True:
                ev = self.conn.next_event()
                if isinstance(ev, rc.HandshakeComplete):
                    self.log.info("%s handshake success", "complex" if ev.complex else "simple")
                    return
                self._flush()
                self._recv(None)

    def _connect_app(self) -> None:
        with Timeout(HANDSHAKE_TIMEOUT, ClientGone("connect timeout")):
            while True:
                ev = self._next()
                if isinstance(ev, rc.Command) and ev.name == "connect":
                    break
                if isinstance(ev, rc.Command):
                    self.log.info("ignore command %s before connect", ev.name)
        obj = ev.command_object if isinstance(ev.command_object, dict) else {}
        tc_url = str(obj.get("tcUrl") or "")
        if not tc_url:
            tc_url = "rtmp://127.0.0.1/" + str(obj.get("app") or "")
        req = parse_tc_url(tc_url)
        if obj.get("app") and not req.app:
            req.app = str(obj["app"]).strip("/")
        req.pageUrl = str(obj.get("pageUrl") or "")
        self.swf_url = str(obj.get("swfUrl") or "")
        enc = obj.get("objectEncoding")
        req.object_encoding = float(enc) if isinstance(enc, (int, float)) and not isinstance(enc, bool) else 0.0
        self.req = req
        self.log.info("connect app, tcUrl=%s, pageUrl=%s, schema=%s, vhost=%s, port=%s, app=%s, args=%s",
                      tc_url, req.pageUrl, req.schema, req.host, req.port, req.app, "null" if not req.param else req.param)
        vhost = self.services.config().vhost(req.host or DEFAULT_VHOST)
        if vhost is None or not vhost.get("enabled", True):
            self._reject_connect(f"vhost {req.host} is not configured or disabled")
        self.vhost = vhost
        self._send_connect_reply(ev.transaction_id, vhost)
        self.connected = True

    def _send_connect_reply(self, tid: float, vhost: dict) -> None:
        c = self.conn
        c.send_window_ack_size(int(vhost.get("out_ack_size", 2500000)))
        c.send_set_peer_bandwidth(2500000, 2)
        c.send_set_chunk_size(int(vhost.get("chunk_size") or self.services.config().chunk_size))
        data = amf0.EcmaArray(
            version="3,5,3,888", srs_sig="srsish", srs_server=SIGNATURE, srs_license="MIT",
            srs_url="https://github.com/ossrs/srs", srs_version=VERSION, srs_server_ip=self._local_ip(),
            srs_pid=float(os.getpid()), srs_id=self.id)
        c.send_command(_CMD_RESULT, tid, {"fmsVer": "FMS/3,5,3,888", "capabilities": 127.0, "mode": 1.0},
                       {"level": "status", "code": "NetConnection.Connect.Success",
                        "description": "Connection succeeded", "objectEncoding": self.req.object_encoding,
                        "data": data})
        c.send_command("onBWDone", 0, None)
        self._flush()

    def _local_ip(self) -> str:
        try:
            return self.sock.getsockname()[0]
        except OSError:
            return ""

    def _reject_connect(self, why: str) -> None:
        self.conn.send_command("_error", 1, None, {"level": "error", "code": "NetConnection.Connect.Rejected",
                                                   "description": why})
        self._flush_and_reject(why)

    def _flush_and_reject(self, why: str) -> None:
        try:
            self._flush()
        except OSError:
            pass   # the client may already be gone; it is refused either way
        raise ClientRejected(why)

    # -- identify: releaseStream / FCPublish / createStream / publish / play ------------
    def _identify_and_serve(self) -> None:
        fc_publish = False
        with Timeout(IDENTIFY_TIMEOUT, ClientGone("identify timeout: no publish or play")):
            while True:
                ev = self._next()
                if not isinstance(ev, rc.Command):
                    continue
                name, tid = ev.name, ev.transaction_id
                if name in ("releaseStream", "FCPublish"):
                    fc_publish = fc_publish or name == "FCPublish"
                    self.conn.send_command(_CMD_RESULT, tid, None, amf0.UNDEFINED)
                    self._flush()
                elif name == "createStream":
                    self.conn.send_command(_CMD_RESULT, tid, None, 1.0)
                    self._flush()
                elif name == "getStreamLength":
                    self.conn.send_command(_CMD_RESULT, tid, None, 0.0)
                    self._flush()
                elif name in ("publish", "play"):
                    break
                elif name in ("deleteStream", "closeStream", "FCUnpublish", "_result", "_error", "onBWDone",
                              "_checkbw", "pause"):
                    if name == "_checkbw" and tid:
                        self.conn.send_command(_CMD_RESULT, tid, None, None)
                        self._flush()
                elif tid:
                    self.conn.send_command("_error", tid, None, {
                        "level": "error", "code": "NetConnection.Call.Failed",
                        "description": f"Method not found ({name})"})
                    self._flush()
        stream_name = ev.args[0] if ev.args and isinstance(ev.args[0], str) else ""
        req = apply_stream_name(self.req, stream_name)
        vhost = self.services.config().vhost(req.vhost)
        if vhost is None or not vhost.get("enabled", True):
            self._refuse(ev, f"vhost {req.vhost} is not configured or disabled")
        self.vhost = vhost
        if not req.stream:
            self._refuse(ev, "empty stream name")
        if ev.name == "publish":
            self.kind = "fmle-publish" if fc_publish else "flash-publish"
            self._publish(ev, fc_publish)
        else:
            self.kind = "play"
            self._play(ev)

    def _refuse(self, ev: rc.Command, why: str) -> None:
        """Tell the client why before closing: ffmpeg and OBS print the description."""
        code = "NetStream.Publish.BadName" if ev.name == "publish" else "NetStream.Play.Failed"
        self.conn.send_on_status(ev.stream_id or 1, {"level": "error", "code": code, "description": why})
        if ev.transaction_id:
            self.conn.send_command("_error", ev.transaction_id, None,
                                   {"level": "error", "code": code, "description": why})
        self._flush_and_reject(why)

    def hook_context(self) -> HookContext:
        req = self.req
        vhost_name = self.vhost["name"] if self.vhost else req.vhost
        return HookContext(
            client_id=self.id, ip=self.ip, vhost=vhost_name, app=req.app, stream=req.stream, param=req.param,
            tcUrl=req.tcUrl, pageUrl=req.pageUrl, stream_url=req.stream_url(vhost_name),
            stream_id=self.source.id if self.source else "", send_bytes=self.send_bytes, recv_bytes=self.recv_bytes)

    def _hooks_conf(self) -> dict:
        """The vhost's http_hooks as the config says now, so a reload applies to the next event."""
        current = self.services.config().vhost(self.vhost["name"])
        return (current or self.vhost)["http_hooks"]

    def _identified(self) -> LiveSource:
        req = self.req
        self.log.info("identify client success. type=%s, vhost=%s, app=%s, stream=%s, param=%s",
                      self.kind, self.vhost["name"], req.app, req.stream, req.param)
        return self.services.sources.fetch_or_create(self.vhost["name"], req.app, req.stream)

    def _gate(self, ev: rc.Command, source: LiveSource, hook) -> None:
        """on_connect (once per connection), then on_publish or on_play; a refusal lets the source go."""
        self.source = source
        try:
            self._gate_connect(ev)
            verdict = hook(self._hooks_conf(), self.hook_context())
            if not verdict.ok:
                self._refuse(ev, verdict.reason)
        except BaseException:
            if source.publisher is self:
                source.publisher = None
            self.source = None
            self.services.sources.release_if_idle(source)
            raise

    def _gate_connect(self, ev: rc.Command) -> None:
        if self.connect_passed:
            return
        verdict = self.services.hooks.on_connect(self._hooks_conf(), self.hook_context())
        if not verdict.ok:
            self._refuse(ev, verdict.reason)
        self.connect_passed = True

    # -- publish ------------------------------------------------------------------------
    def _publish(self, ev: rc.Command, fc_publish: bool) -> None:
        req, sid = self.req, ev.stream_id or 1
        source = self._identified()
        if source.publisher is not None:
            self.services.sources.release_if_idle(source)
            self._refuse(ev, f"Stream {req.stream_url(self.vhost['name'])} is busy: already publishing")
        source.publisher = self   # claim it while the hooks decide, so a racing publisher sees it busy
        self._gate(ev, source, self.services.hooks.on_publish)
        source.configure(self.vhost["play"])
        source.on_publish(self, time.time())
        source.hub = self.services.start_origin(self.vhost, self._hook_ctx_for(source), self._hooks_conf, self.log)
        info = {"code": "NetStream.Publish.Start", "description": "Started publishing stream."}
        if fc_publish:
            self.conn.send_on_status(sid, dict(info), name="onFCPublish")
        self.conn.send_on_status(sid, {"level": "status", **info, "clientid": self.id})
        self._flush()
        self.log.info("start publish vhost=%s, app=%s, stream=%s, stream_id=%s",
                      self.vhost["name"], req.app, req.stream, source.id)
        try:
            self._publish_loop(sid)
        finally:
            self._stop_publish()

    def _publish_loop(self, sid: int) -> None:
        pub = self.vhost["publish"]
        first_timeout = max(0.1, pub.get("firstpkt_timeout", 20000) / 1000.0)
        normal_timeout = max(0.1, pub.get("normal_timeout", 5000) / 1000.0)
        timeout = first_timeout
        source = self.source
        conn = self.conn
        while True:
            ev = conn.next_event()
            if ev is rc.NEED_DATA:
                self._flush()
                try:
                    self._recv(timeout)
                except ClientGone as e:
                    if str(e).startswith("no data"):
                        phase = "firstpkt_timeout" if timeout == first_timeout and source.frames == 0 else \
                            "normal_timeout"
                        raise ClientGone(f"publisher silent for {timeout:.1f}s ({phase})") from None
                    raise
                continue
            t = type(ev)
            if t is rc.Media:
                source.on_media(ev.type_id, ev.timestamp, ev.payload)
                timeout = normal_timeout
            elif t is rc.Data:
                if ev.name == "@setDataFrame" or ev.name == "onMetaData":
                    values = ev.values[1:] if ev.name == "@setDataFrame" and ev.values and ev.values[0] == "onMetaData" \
                        else ev.values
                    source.on_metadata(values, ev.timestamp)
            elif t is rc.Command:
                if ev.name == "FCUnpublish":
                    conn.send_on_status(sid, {"code": "NetStream.Unpublish.Success",
                                              "description": "Stop publishing stream."}, name="onFCUnpublish")
                    if ev.transaction_id:
                        conn.send_command(_CMD_RESULT, ev.transaction_id, None, amf0.UNDEFINED)
                    conn.send_on_status(sid, {"level": "status", "code": "NetStream.Unpublish.Success",
                                              "description": "Stream is now unpublished", "clientid": self.id})
                    self._flush()
                    return
                if ev.name in ("deleteStream", "closeStream"):
                    return
                if ev.transaction_id:
                    conn.send_command(_CMD_RESULT, ev.transaction_id, None, None)
                    self._flush()

    def _stop_publish(self) -> None:
        source = self.source
        if source is None or source.publisher is not self:
            return
        source.on_unpublish()
        self.source = None
        self.log.info("stop publish vhost=%s, app=%s, stream=%s", source.vhost, source.app, source.stream)
        # As SRS, the last segment's on_hls and the recording's on_dvr go out before on_unpublish.
        # The source is already free, so a publisher coming back is not held up by this wait.
        self.services.hooks.flush(UNPUBLISH_FLUSH_TIMEOUT)
        self.services.hooks.on_unpublish(self._hooks_conf(), self._hook_ctx_for(source))
        self.services.sources.release_if_idle(source)

    def _hook_ctx_for(self, source: LiveSource) -> HookContext:
        ctx = self.hook_context()
        ctx.stream_id = source.id
        return ctx

    # -- play ---------------------------------------------------------------------------
    def _play(self, ev: rc.Command) -> None:
        req, sid = self.req, ev.stream_id or 1
        source = self._identified()
        self._gate(ev, source, self.services.hooks.on_play)
        c = self.conn
        c.send_user_control(rc.UC_STREAM_BEGIN, sid)
        c.send_on_status(sid, {"level": "status", "code": "NetStream.Play.Reset",
                               "description": "Playing and resetting stream.", "details": "stream",
                               "clientid": self.id})
        c.send_on_status(sid, {"level": "status", "code": "NetStream.Play.Start",
                               "description": "Started playing stream.", "details": "stream",
                               "clientid": self.id})
        c.send_data(sid, "|RtmpSampleAccess", True, True)
        self._flush()
        play = self.vhost["play"]
        if not source.is_publishing:
            source.configure(play)
        consumer = source.create_consumer(int(float(play.get("queue_length", 30)) * 1000))
        self.consumer = consumer
        self.log.info("start play vhost=%s, app=%s, stream=%s, publishing=%s, gop=%d",
                      self.vhost["name"], req.app, req.stream, source.is_publishing, len(source.gop.messages))
        writer = PlayWriter(self, consumer, sid, play)
        self._writer = gevent.spawn(writer.run)
        self._writer.link(lambda g: self._on_writer_stopped(writer))
        try:
            self._play_control_loop(sid)
        finally:
            self._stop_play()

    def _on_writer_stopped(self, writer: "PlayWriter") -> None:
        """A writer that failed (send timeout, broken socket) ends the connection; log why."""
        error = writer.error
        if error is None:
            return
        self.log.warning("player writer stopped: %s", error)
        self._writer_error = error
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _play_control_loop(self, sid: int) -> None:
        """While the writer sends, read the player's control messages (pause, close, acks)."""
        conn = self.conn
        while True:
            ev = conn.next_event()
            if ev is rc.NEED_DATA:
                out = conn.data_to_send()
                if out:
                    self.consumer.enqueue_item(out)
                if self._writer is not None and self._writer.dead:
                    raise ClientGone("player writer stopped")
                self._recv(PLAYER_RECV_TIMEOUT)
                continue
            if isinstance(ev, rc.Command):
                if ev.name in ("closeStream", "deleteStream"):
                    return
                if ev.name == "pause":
                    self._on_pause(ev, sid)
                elif ev.transaction_id:
                    conn.send_command(_CMD_RESULT, ev.transaction_id, None, None)

    def _on_pause(self, ev: rc.Command, sid: int) -> None:
        paused = bool(ev.args[0]) if ev.args else True
        self.consumer.paused = paused
        if paused:
            self.conn.send_on_status(sid, {"level": "status", "code": "NetStream.Pause.Notify",
                                           "description": "Paused stream."})
            self.conn.send_user_control(rc.UC_STREAM_EOF, sid)
        else:
            self.conn.send_on_status(sid, {"level": "status", "code": "NetStream.Unpause.Notify",
                                           "description": "Unpaused stream."})
            self.conn.send_user_control(rc.UC_STREAM_BEGIN, sid)
        self.consumer.enqueue_item(self.conn.data_to_send())
        self.log.info("%s play", "pause" if paused else "resume")

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
            if self.connected and self.vhost is not None:
                ctx = self.hook_context()
                self.services.hooks.on_close(self._hooks_conf(), ctx)


class PlayWriter(QueueWriter):
    """The RTMP player's writer greenlet.

    Per message only a 12-byte chunk header is built for this player; the chunked payload
    (the tail) is built once per (message, chunk size, csid) and cached on the message.
    """

    def __init__(self, rc_conn: RtmpConn, consumer: Consumer, stream_id: int, play_conf: dict) -> None:
        latency = 0 if rc_conn.vhost.get("min_latency") else int(play_conf.get("mw_latency", 350))
        super().__init__(rc_conn.sock, consumer, latency, int(play_conf.get("mw_msgs", 0)))
        self.c = rc_conn
        self.stream_id = stream_id
        self.chunk_size = rc_conn.conn.out_chunk_size
        self._counted = 0

    def on_sent(self) -> None:
        self.c.send_bytes += self.send_bytes - self._counted
        self._counted = self.send_bytes

    def encode(self, items: List[Any]) -> List[bytes]:
        out: List[bytes] = []
        append = out.append
        rel = self.consumer.relative_timestamp
        size, sid = self.chunk_size, self.stream_id
        for m in items:
            tm = type(m)
            if tm is SharedMessage:
                csid = 6 if m.is_video else (4 if m.is_audio else 5)
                ts = rel(m.timestamp)
                payload = m.payload
                append(chunk_header(csid, ts, len(payload), m.type_id, sid))
                if len(payload) > size:
                    key = (size, csid) if ts < EXTENDED_TIMESTAMP else (size, csid, ts)
                    tail = m.cache.get(key)
                    if tail is None:
                        tail = m.cache[key] = chunk_tail(payload, size, csid, ts)
                    append(tail)
                else:
                    append(payload)
            elif tm is StreamMarker:
                append(self._marker_bytes(m))
            elif m:
                append(m)
        return out

    def _marker_bytes(self, marker: StreamMarker) -> bytes:
        conn, sid = self.c.conn, self.stream_id
        if marker.kind == "unpublish":
            conn.send_user_control(rc.UC_STREAM_EOF, sid)
            conn.send_on_status(sid, {"level": "status", "code": "NetStream.Play.UnpublishNotify",
                                      "description": "The stream is unpublished."})
        else:
            conn.send_user_control(rc.UC_STREAM_BEGIN, sid)
            conn.send_on_status(sid, {"level": "status", "code": "NetStream.Play.PublishNotify",
                                      "description": "The stream is published."})
        return conn.data_to_send()
