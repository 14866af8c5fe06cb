"""ServerSession: the server side of one RTMP client: it says what was asked and renders SRS's answers.

The app reads events (ConnectRequested, PublishRequested, PlayRequested, media, ...), runs its
gates, and calls accept_connect / reject / start_publish / start_play. Replies that need no
decision (identify calls, FCUnpublish, pause) are queued by the session itself.
"""
import os
from typing import Any, Callable, Dict, Optional, Union

from srsish.protocol import amf0
from srsish.protocol.request import StreamRequest, apply_stream_name, parse_tc_url
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.session.events import (CommandIgnored, ConnectRequested, Metadata, PauseChanged,
                                                 PlayRequested, PublishRequested, StreamClosed, Unpublished)

# Session states.
AWAIT_CONNECT = "await-connect"      # handshake, then until connect arrives
CONNECT_PENDING = "connect-pending"  # ConnectRequested surfaced; the app decides
IDENTIFY = "identify"                # connected; until publish or play
STREAM_PENDING = "stream-pending"    # Publish/PlayRequested surfaced; the app gates
PUBLISHING = "publishing"
PLAYING = "playing"
REJECTED = "rejected"

FMS_VERSION = "3,5,3,888"
PEER_BANDWIDTH = 2500000
STREAM_ID = 1   # SRS answers every createStream with stream 1 (srs.md 5.3)

_RESULT = "_result"
_IDENTIFY_SILENT = frozenset(("deleteStream", "closeStream", "FCUnpublish", "_result", "_error", "onBWDone",
                              "_checkbw", "pause"))

ServerEvent = Union[rc.Event, ConnectRequested, CommandIgnored, PublishRequested, PlayRequested, Metadata,
                    Unpublished, StreamClosed, PauseChanged]


def _number_arg(args: list, index: int, default: float) -> float:
    """The AMF0 number at `index` of a command's arguments (play: name, start, duration), else `default`."""
    value = args[index] if len(args) > index else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default


class SessionStateError(Exception):
    """The app called a session method that the session's state does not allow."""


class ServerSession:
    """One client's RTMP session, server role; sans-IO on top of RtmpConnection."""

    def __init__(self, client_id: str, *, now_ms: int = 0,
                 random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self.client_id = client_id
        self.conn = rc.RtmpConnection(rc.SERVER, now_ms=now_ms, random_bytes=random_bytes)
        self.state = AWAIT_CONNECT
        self.request: Optional[StreamRequest] = None
        self.stream_id = STREAM_ID
        self._connect_tid = 1.0
        self._fc_publish = False
        self._stream_tid = 0.0
        self._stream_verb = ""

    # -- bytes --------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        self.conn.receive_data(data)

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()

    @property
    def out_chunk_size(self) -> int:
        return self.conn.out_chunk_size

    # -- events -------------------------------------------------------------------------
    def next_event(self) -> Union[ServerEvent, rc._NeedData]:
        """The next event the app must see, or NEED_DATA; answers what needs no decision."""
        conn = self.conn
        while True:
            ev = conn.next_event()
            t = type(ev)
            state = self.state
            if t is rc.Media:
                if state is PUBLISHING:
                    return ev
                continue
            if t is rc.Command:
                if state is PUBLISHING:
                    out = self._while_publishing(ev)
                elif state is PLAYING:
                    out = self._while_playing(ev)
                elif state is IDENTIFY:
                    out = self._identify(ev)
                elif state is AWAIT_CONNECT and ev.name == "connect":
                    out = self._connect_requested(ev)
                else:
                    out = CommandIgnored(ev.name)   # before connect, or while the app decides
            elif t is rc.Data:
                out = self._metadata(ev) if state is PUBLISHING else None
            elif ev is rc.NEED_DATA or t is rc.HandshakeComplete or t is rc.ConnectionClosed:
                return ev
            else:
                continue   # protocol control: RtmpConnection has already acted on it
            if out is not None:
                return out

    def _connect_requested(self, ev: rc.Command) -> ConnectRequested:
        obj = ev.command_object if isinstance(ev.command_object, dict) else {}
        tc_url = str(obj.get("tcUrl") or "")
        if not tc_url:
            tc_url = "rtmp://127.0.0.1/" + str(obj.get("app") or "")
        req = parse_tc_url(tc_url)
        if obj.get("app") and not req.app:
            req.app = str(obj["app"]).strip("/")
        req.pageUrl = str(obj.get("pageUrl") or "")
        enc = obj.get("objectEncoding")
        req.object_encoding = float(enc) if isinstance(enc, (int, float)) and not isinstance(enc, bool) else 0.0
        self.request = req
        self._connect_tid = ev.transaction_id
        self.state = CONNECT_PENDING
        return ConnectRequested(ev.transaction_id, req, str(obj.get("swfUrl") or ""), str(obj.get("flashVer") or ""))

    def _identify(self, ev: rc.Command) -> Optional[ServerEvent]:
        name, tid, conn = ev.name, ev.transaction_id, self.conn
        if name in ("releaseStream", "FCPublish"):
            self._fc_publish = self._fc_publish or name == "FCPublish"
            conn.send_command(_RESULT, tid, None, amf0.UNDEFINED)
        elif name == "createStream":
            conn.send_command(_RESULT, tid, None, float(STREAM_ID))
        elif name == "getStreamLength":
            conn.send_command(_RESULT, tid, None, 0.0)
        elif name in ("publish", "play"):
            stream_name = ev.args[0] if ev.args and isinstance(ev.args[0], str) else ""
            req = apply_stream_name(self.request, stream_name)
            self.stream_id = ev.stream_id or STREAM_ID
            self._stream_tid, self._stream_verb = tid, name
            self.state = STREAM_PENDING
            if name == "publish":
                return PublishRequested(req, self.stream_id, tid, self._fc_publish)
            return PlayRequested(req, self.stream_id, tid, _number_arg(ev.args, 2, -1.0))
        elif name in _IDENTIFY_SILENT:
            if name == "_checkbw" and tid:
                conn.send_command(_RESULT, tid, None, None)
        elif tid:
            conn.send_command("_error", tid, None, {"level": "error", "code": "NetConnection.Call.Failed",
                                                    "description": f"Method not found ({name})"})
        return None

    @staticmethod
    def _metadata(ev: rc.Data) -> Optional[Metadata]:
        if ev.name == "@setDataFrame" or ev.name == "onMetaData":
            values = ev.values[1:] if ev.name == "@setDataFrame" and ev.values and ev.values[0] == "onMetaData" \
                else ev.values
            return Metadata(values, ev.timestamp)
        return None

    def _while_publishing(self, ev: rc.Command) -> Optional[ServerEvent]:
        conn, sid = self.conn, self.stream_id
        if ev.name == "FCUnpublish":
            conn.send_on_status(sid, {"code": "NetStream.Unpublish.Success",
                                      "description": "Stop publishing stream."}, name="onFCUnpublish")
            if ev.transaction_id:
                conn.send_command(_RESULT, ev.transaction_id, None, amf0.UNDEFINED)
            conn.send_on_status(sid, {"level": "status", "code": "NetStream.Unpublish.Success",
                                      "description": "Stream is now unpublished", "clientid": self.client_id})
            self._back_to_identify()
            return Unpublished()
        if ev.name in ("deleteStream", "closeStream"):
            self._back_to_identify()
            return StreamClosed(ev.name)
        if ev.transaction_id:
            conn.send_command(_RESULT, ev.transaction_id, None, None)
        return None

    def _while_playing(self, ev: rc.Command) -> Optional[ServerEvent]:
        conn, sid = self.conn, self.stream_id
        if ev.name in ("closeStream", "deleteStream"):
            self._back_to_identify()
            return StreamClosed(ev.name)
        if ev.name == "pause":
            paused = bool(ev.args[0]) if ev.args else True
            if paused:
                conn.send_on_status(sid, {"level": "status", "code": "NetStream.Pause.Notify",
                                          "description": "Paused stream."})
                conn.send_user_control(rc.UC_STREAM_EOF, sid)
            else:
                conn.send_on_status(sid, {"level": "status", "code": "NetStream.Unpause.Notify",
                                          "description": "Unpaused stream."})
                conn.send_user_control(rc.UC_STREAM_BEGIN, sid)
            return PauseChanged(paused)
        if ev.transaction_id:
            conn.send_command(_RESULT, ev.transaction_id, None, None)
        return None

    def _back_to_identify(self) -> None:
        self.state = IDENTIFY
        self._fc_publish = False

    def _expect(self, *states: str) -> None:
        if self.state not in states:
            raise SessionStateError(f"session is {self.state}, not {' or '.join(states)}")

    # -- the app's answers --------------------------------------------------------------
    def accept_connect(self, *, window_ack_size: int, chunk_size: int, server_data: Dict[str, Any]) -> None:
        """The connect reply (srs.md 5.2); `server_data` fills the info's ECMA array after `version`."""
        self._expect(CONNECT_PENDING)
        c = self.conn
        c.send_window_ack_size(window_ack_size)
        c.send_set_peer_bandwidth(PEER_BANDWIDTH, 2)
        c.send_set_chunk_size(chunk_size)
        data = amf0.EcmaArray(version=FMS_VERSION, **server_data)
        c.send_command(_RESULT, self._connect_tid, {"fmsVer": "FMS/" + FMS_VERSION, "capabilities": 127.0, "mode": 1.0},
                       {"level": "status", "code": "NetConnection.Connect.Success",
                        "description": "Connection succeeded", "objectEncoding": self.request.object_encoding,
                        "data": data})
        c.send_command("onBWDone", 0, None)
        self.state = IDENTIFY

    def reject(self, why: str) -> None:
        """Tell the client why it is refused (ffmpeg and OBS print the description); the app then closes."""
        if self.state in (AWAIT_CONNECT, CONNECT_PENDING):
            self.conn.send_command("_error", 1, None, {"level": "error", "code": "NetConnection.Connect.Rejected",
                                                       "description": why})
        elif self.state is STREAM_PENDING:
            code = "NetStream.Publish.BadName" if self._stream_verb == "publish" else "NetStream.Play.Failed"
            self.conn.send_on_status(self.stream_id, {"level": "error", "code": code, "description": why})
            if self._stream_tid:
                self.conn.send_command("_error", self._stream_tid, None,
                                       {"level": "error", "code": code, "description": why})
        else:
            raise SessionStateError(f"nothing to reject while {self.state}")
        self.state = REJECTED

    def start_publish(self) -> None:
        """The publish answers: onFCPublish (FMLE style only), then onStatus Publish.Start."""
        self._expect(STREAM_PENDING)
        if self._stream_verb != "publish":
            raise SessionStateError("start_publish for a play request")
        info = {"code": "NetStream.Publish.Start", "description": "Started publishing stream."}
        if self._fc_publish:
            self.conn.send_on_status(self.stream_id, dict(info), name="onFCPublish")
        self.conn.send_on_status(self.stream_id, {"level": "status", **info, "clientid": self.client_id})
        self.state = PUBLISHING

    def start_play(self) -> None:
        """The play answers (srs.md 5.3): StreamBegin, Play.Reset, Play.Start, |RtmpSampleAccess."""
        self._expect(STREAM_PENDING)
        if self._stream_verb != "play":
            raise SessionStateError("start_play for a publish request")
        c, sid = self.conn, self.stream_id
        c.send_user_control(rc.UC_STREAM_BEGIN, sid)
        c.send_on_status(sid, {"level": "status", "code": "NetStream.Play.Reset",
                               "description": "Playing and resetting stream.", "details": "stream",
                               "clientid": self.client_id})
        c.send_on_status(sid, {"level": "status", "code": "NetStream.Play.Start",
                               "description": "Started playing stream.", "details": "stream",
                               "clientid": self.client_id})
        c.send_data(sid, "|RtmpSampleAccess", True, True)
        self.state = PLAYING

    # -- what a player's writer sends when the publisher leaves or comes back ------------
    # Rendered as bytes, not queued: the writer greenlet sends them, never this session's buffer.
    def play_stop_notify(self) -> bytes:
        """StreamEOF and NetStream.Play.Stop: the play's duration is over (players such as librtmp then end)."""
        size, sid = self.conn.out_chunk_size, self.stream_id
        return rc.user_control_message(rc.UC_STREAM_EOF, sid, size) + rc.on_status_message(
            sid, {"level": "status", "code": "NetStream.Play.Stop", "description": "Stopped playing stream.",
                  "clientid": self.client_id}, size)

    def unpublish_notify(self) -> bytes:
        size, sid = self.conn.out_chunk_size, self.stream_id
        return rc.user_control_message(rc.UC_STREAM_EOF, sid, size) + rc.on_status_message(
            sid, {"level": "status", "code": "NetStream.Play.UnpublishNotify",
                  "description": "The stream is unpublished."}, size)

    def publish_notify(self) -> bytes:
        size, sid = self.conn.out_chunk_size, self.stream_id
        return rc.user_control_message(rc.UC_STREAM_BEGIN, sid, size) + rc.on_status_message(
            sid, {"level": "status", "code": "NetStream.Play.PublishNotify",
                  "description": "The stream is published."}, size)

