"""ClientSession: the client side of RTMP (connect, createStream, publish or play) against another server.

For pulling from or pushing to another server (edge, forward): calls go out as asked and the
server's `_result`/`_error`/onStatus answers come back as events. Sockets stay with the caller.
"""
import os
from typing import Any, Callable, Dict, List, Optional, Union

from srsish.protocol import amf0
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.session.events import (CallFailed, CallResult, Connected, ConnectRejected, Status,
                                                 StreamCreated)

ClientEvent = Union[rc.Event, Connected, ConnectRejected, StreamCreated, Status, CallResult, CallFailed]

_STATUS_CALLS = frozenset(("onStatus", "onFCPublish", "onFCUnpublish"))


class ClientSession:
    """One outgoing RTMP session, client role; sans-IO on top of RtmpConnection."""

    def __init__(self, *, now_ms: int = 0, random_bytes: Callable[[int], bytes] = os.urandom,
                 complex_handshake: bool = True) -> None:
        self.conn = rc.RtmpConnection(rc.CLIENT, now_ms=now_ms, random_bytes=random_bytes,
                                      complex_handshake=complex_handshake)
        self.stream_id = 0
        self.stream_name = ""
        self._next_tid = 1
        self._pending: Dict[float, str] = {}   # transaction id -> the call it answers
        self._after_create = ""                # "publish" or "play" once createStream answers
        self._deferred: List[Callable[[], None]] = []   # calls made before the handshake finished
        self.conn.start()

    # -- bytes --------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        self.conn.receive_data(data)

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()

    # -- calls --------------------------------------------------------------------------
    def _call(self, name: str, command_object: Any, *args: Any, stream_id: int = 0,
              csid: int = rc.CSID_OVER_CONNECTION) -> float:
        tid = float(self._next_tid)
        self._next_tid += 1
        self._pending[tid] = name
        self._send(lambda: self.conn.send_command(name, tid, command_object, *args, stream_id=stream_id, csid=csid))
        return tid

    def _send(self, send: Callable[[], None]) -> None:
        # Commands may not precede C2: hold them until the handshake is done.
        if self.conn.handshake_done and not self._deferred:
            send()
        else:
            self._deferred.append(send)

    def connect(self, tc_url: str, app: str, **properties: Any) -> float:
        """connect(app, tcUrl, ...): answered by Connected or ConnectRejected."""
        return self._call("connect", {"app": app, "type": "nonprivate", "tcUrl": tc_url, **properties})

    def call(self, name: str, *args: Any) -> float:
        """Any other call on the connection; answered by CallResult or CallFailed."""
        return self._call(name, None, *args)

    def publish(self, stream_name: str, fmle: bool = True) -> None:
        """releaseStream, FCPublish, createStream as ffmpeg does (Flash: createStream only);
        publish follows the stream's creation."""
        self.stream_name = stream_name
        if fmle:
            self._call("releaseStream", None, stream_name)
            self._call("FCPublish", None, stream_name)
        self._create_then("publish")

    def play(self, stream_name: str) -> None:
        """createStream; play follows the stream's creation."""
        self.stream_name = stream_name
        self._create_then("play")

    def _create_then(self, verb: str) -> None:
        self._after_create = verb
        self._call("createStream", None)

    def unpublish(self) -> None:
        """FCUnpublish then deleteStream, as ffmpeg ends a publish."""
        self._call("FCUnpublish", None, self.stream_name)
        self._call("deleteStream", None, float(self.stream_id))

    def close_stream(self) -> None:
        self._send(lambda: self.conn.send_command("closeStream", 0, None, stream_id=self.stream_id,
                                                  csid=rc.CSID_OVER_STREAM))

    def pause(self, paused: bool, position_ms: float = 0.0) -> None:
        self._send(lambda: self.conn.send_command("pause", 0, None, paused, position_ms, stream_id=self.stream_id,
                                                  csid=rc.CSID_OVER_STREAM))

    def send_metadata(self, metadata: Dict[str, Any], timestamp: int = 0) -> None:
        self.conn.send_data(self.stream_id, "@setDataFrame", "onMetaData", amf0.EcmaArray(metadata),
                            timestamp=timestamp)

    def send_media(self, type_id: int, timestamp: int, payload: bytes) -> None:
        csid = rc.CSID_VIDEO if type_id == rc.MSG_VIDEO else rc.CSID_AUDIO
        self.conn.send_message(csid, type_id, timestamp, self.stream_id, payload)

    # -- events -------------------------------------------------------------------------
    def next_event(self) -> Union[ClientEvent, rc._NeedData]:
        while True:
            ev = self.conn.next_event()
            t = type(ev)
            if t is rc.HandshakeComplete:
                deferred, self._deferred = self._deferred, []
                for send in deferred:
                    send()
                return ev
            if t is not rc.Command:
                return ev
            out = self._answer(ev)
            if out is not None:
                return out

    def _answer(self, ev: rc.Command) -> Optional[ClientEvent]:
        if ev.name in _STATUS_CALLS:
            info = ev.args[0] if ev.args and isinstance(ev.args[0], dict) else {}
            return Status(ev.name, str(info.get("code", "")), str(info.get("level", "")),
                          str(info.get("description", "")), info)
        if ev.name not in ("_result", "_error"):
            return None   # onBWDone and other calls from the server need no answer
        call = self._pending.pop(ev.transaction_id, "")
        info = ev.args[0] if ev.args else None
        if ev.name == "_error":
            return ConnectRejected(info) if call == "connect" else CallFailed(ev.transaction_id, info)
        if call == "connect":
            return Connected(ev.command_object, info)
        if call == "createStream" and isinstance(info, (int, float)):
            self.stream_id = int(info)
            self._send_stream_verb()
            return StreamCreated(self.stream_id)
        return CallResult(ev.transaction_id, list(ev.args))

    def _send_stream_verb(self) -> None:
        verb, self._after_create = self._after_create, ""
        if verb == "publish":
            self.conn.send_command("publish", 0, None, self.stream_name, "live", stream_id=self.stream_id,
                                   csid=rc.CSID_OVER_STREAM)
        elif verb == "play":
            self.conn.send_command("play", 0, None, self.stream_name, -2000.0, stream_id=self.stream_id,
                                   csid=rc.CSID_OVER_STREAM)
            self.conn.send_user_control(rc.UC_SET_BUFFER_LENGTH, self.stream_id, 3000)
