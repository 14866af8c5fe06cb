"""RtmpConnection: the sans-IO RTMP state machine for one peer (server or client role).

Bytes go in with `receive_data`, events come out of `next_event`, and every `send_*`
call appends bytes that `data_to_send` hands back. Protocol control (chunk size, abort,
acknowledgement windows, ping) is handled here; commands, data and media surface as events.
"""
import os
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, List, Optional, Union

from srsish.core.errors import ProtocolError
from srsish.protocol import amf0
from srsish.protocol.rtmp.chunk import (DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, ChunkDecoder,
                                        RawMessage, encode_message)
from srsish.protocol.rtmp.handshake import ClientHandshake, ServerHandshake

SERVER = "server"
CLIENT = "client"


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()

# Message type ids (RTMP spec 5.4, 7.1).
MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACK = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK_SIZE = 5
MSG_SET_PEER_BANDWIDTH = 6
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_AMF3_DATA = 15
MSG_AMF3_SHARED_OBJECT = 16
MSG_AMF3_COMMAND = 17
MSG_AMF0_DATA = 18
MSG_AMF0_SHARED_OBJECT = 19
MSG_AMF0_COMMAND = 20
MSG_AGGREGATE = 22

# User control event types (RTMP spec 7.1.7).
UC_STREAM_BEGIN = 0
UC_STREAM_EOF = 1
UC_STREAM_DRY = 2
UC_SET_BUFFER_LENGTH = 3
UC_STREAM_IS_RECORDED = 4
UC_PING_REQUEST = 6
UC_PING_RESPONSE = 7

# Chunk stream ids we send on. Control on 2 and commands on 3 are SRS's (srs.md 5.2); stream
# commands, data and video follow SRS too. Audio has gone out on 4 since srsish's first player:
# srs.md records no SRS fact about it and players accept any id, so the wire stays as it is.
CSID_PROTOCOL_CONTROL = 2
CSID_OVER_CONNECTION = 3
CSID_AUDIO = 4
CSID_OVER_STREAM = 5
CSID_VIDEO = 6

_U32 = struct.Struct(">I")
_U32U8 = struct.Struct(">IB")
_U16U32 = struct.Struct(">HI")
_U16U32U32 = struct.Struct(">HII")


# ---- events -------------------------------------------------------------------------------

@dataclass
class HandshakeComplete:
    complex: bool


@dataclass
class Command:
    """An AMF command (connect, createStream, publish, play, _result, onStatus, ...)."""
    name: str
    transaction_id: float
    command_object: Any
    args: List[Any]
    stream_id: int = 0
    timestamp: int = 0


@dataclass
class Data:
    """An AMF data message (@setDataFrame, onMetaData, |RtmpSampleAccess); `payload` is the AMF0 body."""
    name: str
    values: List[Any]
    stream_id: int
    timestamp: int
    payload: bytes


@dataclass
class Media:
    """An audio (8) or video (9) message; the payload is an FLV tag body."""
    type_id: int
    timestamp: int
    stream_id: int
    payload: bytes


@dataclass
class UserControl:
    event: int
    value: int
    extra: int = 0


@dataclass
class Acknowledgement:
    sequence: int


@dataclass
class WindowAckSize:
    size: int


@dataclass
class PeerBandwidth:
    size: int
    limit_type: int


@dataclass
class ChunkSizeChanged:
    size: int


@dataclass
class ConnectionClosed:
    """The peer closed its side (receive_data(b"") was called)."""


Event = Union[HandshakeComplete, Command, Data, Media, UserControl, Acknowledgement, WindowAckSize,
              PeerBandwidth, ChunkSizeChanged, ConnectionClosed]


# ---- messages rendered on their own (for a writer that must not share the output buffer) --

def user_control_message(event: int, value: int, chunk_size: int, extra: Optional[int] = None) -> bytes:
    """A User Control message on the protocol control chunk stream."""
    payload = _U16U32.pack(event, value) if extra is None else _U16U32U32.pack(event, value, extra)
    return encode_message(CSID_PROTOCOL_CONTROL, MSG_USER_CONTROL, 0, 0, payload, chunk_size)


def command_message(name: str, transaction_id: float, command_object: Any, args: tuple, chunk_size: int,
                    stream_id: int = 0, csid: int = CSID_OVER_CONNECTION) -> bytes:
    """An AMF0 command message."""
    payload = amf0.encode(name, float(transaction_id), command_object, *args)
    return encode_message(csid, MSG_AMF0_COMMAND, 0, stream_id, payload, chunk_size)


def on_status_message(stream_id: int, info: dict, chunk_size: int, name: str = "onStatus") -> bytes:
    """An onStatus (or onFCPublish/onFCUnpublish) call on the stream's chunk stream."""
    return command_message(name, 0, None, (info,), chunk_size, stream_id, CSID_OVER_STREAM)


# ---- the connection ----------------------------------------------------------------------

class RtmpConnection:
    """One RTMP peer's protocol state; the same class serves both roles."""

    def __init__(self, role: str = SERVER, *, now_ms: int = 0,
                 random_bytes: Callable[[int], bytes] = os.urandom, complex_handshake: bool = True) -> None:
        self.role = role
        if role == SERVER:
            self._handshake: Any = ServerHandshake(now_ms=now_ms, random_bytes=random_bytes)
        else:
            self._handshake = ClientHandshake(complex=complex_handshake, now_ms=now_ms, random_bytes=random_bytes)
        self.handshake_done = False
        self._decoder = ChunkDecoder()
        self._events: Deque[Event] = deque()
        self._out: List[bytes] = []
        self._closed = False
        self.out_chunk_size = DEFAULT_CHUNK_SIZE
        self.bytes_received = 0
        self.in_window_ack_size = 0   # the peer's WindowAckSize: we ack after this many bytes
        self._last_ack = 0
        self.peer_buffer_ms = 0

    # -- input ---------------------------------------------------------------------------
    def start(self) -> None:
        """Client role: queue C0+C1."""
        if self.role == CLIENT:
            self._out.append(self._handshake.start())

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; b"" means the peer closed."""
        if not data:
            self._closed = True
            return
        self.bytes_received += len(data)
        if not self.handshake_done:
            reply = self._handshake.receive_data(data)
            if reply:
                self._out.append(reply)
            if not self._handshake.done:
                return
            self.handshake_done = True
            complex_used = self._handshake.complex if self.role == SERVER else self._handshake.server_complex
            self._events.append(HandshakeComplete(complex_used))
            data = self._handshake.leftover
            if not data:
                return
        self._decoder.feed(data)
        self._maybe_ack()

    def _maybe_ack(self) -> None:
        if self.in_window_ack_size and self.bytes_received - self._last_ack >= self.in_window_ack_size:
            self._last_ack = self.bytes_received
            self._send_control(MSG_ACK, _U32.pack(self.bytes_received & 0xFFFFFFFF))

    def next_event(self) -> Union[Event, _NeedData]:
        """The next event, or NEED_DATA. Raises ProtocolError on malformed input."""
        while not self._events:
            msg = self._decoder.next_message()
            if msg is None:
                self._maybe_ack()  # a WindowAckSize may have just arrived with the bytes it covers
                if self._closed:
                    self._closed = False
                    return ConnectionClosed()
                return NEED_DATA
            self._handle(msg)
        return self._events.popleft()

    def _handle(self, msg: RawMessage) -> None:
        t = msg.type_id
        p = msg.payload
        if t == MSG_VIDEO or t == MSG_AUDIO:
            self._events.append(Media(t, msg.timestamp, msg.stream_id, p))
        elif t == MSG_AMF0_COMMAND or t == MSG_AMF3_COMMAND:
            values = amf0.decode_command(p, amf3=(t == MSG_AMF3_COMMAND))
            if len(values) < 2 or not isinstance(values[0], str):
                raise ProtocolError(f"command message without a name and transaction id: {values[:2]!r}")
            tid = values[1]
            if not isinstance(tid, (int, float)) or isinstance(tid, bool):
                raise ProtocolError(f"command {values[0]!r} has a non-numeric transaction id {tid!r}")
            cmd_obj = values[2] if len(values) > 2 else None
            self._events.append(Command(values[0], float(tid), cmd_obj, values[3:], msg.stream_id, msg.timestamp))
        elif t == MSG_AMF0_DATA or t == MSG_AMF3_DATA:
            body = p[1:] if t == MSG_AMF3_DATA and p[:1] == b"\x00" else p
            values = amf0.decode_all(body)
            name = values[0] if values and isinstance(values[0], str) else ""
            self._events.append(Data(name, values[1:] if name else values, msg.stream_id, msg.timestamp, body))
        elif t == MSG_SET_CHUNK_SIZE:
            size = self._u32(p, "SetChunkSize") & 0x7FFFFFFF
            self._decoder.set_chunk_size(size)
            self._events.append(ChunkSizeChanged(size))
        elif t == MSG_ABORT:
            self._decoder.abort(self._u32(p, "Abort"))
        elif t == MSG_ACK:
            self._events.append(Acknowledgement(self._u32(p, "Acknowledgement")))
        elif t == MSG_WINDOW_ACK_SIZE:
            size = self._u32(p, "WindowAckSize")
            self.in_window_ack_size = size
            self._events.append(WindowAckSize(size))
        elif t == MSG_SET_PEER_BANDWIDTH:
            if len(p) < 5:
                raise ProtocolError(f"SetPeerBandwidth payload of {len(p)} bytes, need 5")
            size, limit = _U32U8.unpack_from(p)
            self._events.append(PeerBandwidth(size, limit))
        elif t == MSG_USER_CONTROL:
            self._handle_user_control(p)
        elif t == MSG_AGGREGATE:
            self._split_aggregate(msg)
        # Shared objects and unknown types are ignored, as SRS does.

    @staticmethod
    def _u32(p: bytes, what: str) -> int:
        if len(p) < 4:
            raise ProtocolError(f"{what} payload of {len(p)} bytes, need 4")
        return _U32.unpack_from(p)[0]

    def _handle_user_control(self, p: bytes) -> None:
        if len(p) < 6:
            raise ProtocolError(f"user control payload of {len(p)} bytes, need at least 6")
        event, value = _U16U32.unpack_from(p)
        extra = 0
        if event == UC_SET_BUFFER_LENGTH:
            if len(p) < 10:
                raise ProtocolError("SetBufferLength without its buffer length")
            extra = _U32.unpack_from(p, 6)[0]
            self.peer_buffer_ms = extra
        elif event == UC_PING_REQUEST:
            self.send_user_control(UC_PING_RESPONSE, value)
        self._events.append(UserControl(event, value, extra))

    def _split_aggregate(self, msg: RawMessage) -> None:
        """An aggregate message holds FLV tags; each becomes its own event, timestamps rebased."""
        p, pos, first_ts = msg.payload, 0, None
        while pos + 11 <= len(p):
            tag_type = p[pos]
            size = int.from_bytes(p[pos + 1:pos + 4], "big")
            ts = int.from_bytes(p[pos + 4:pos + 7], "big") | (p[pos + 7] << 24)
            body = p[pos + 11:pos + 11 + size]
            if len(body) != size:
                raise ProtocolError("aggregate message with a truncated sub-message")
            if first_ts is None:
                first_ts = ts
            ts = (msg.timestamp + ts - first_ts) & 0xFFFFFFFF
            if tag_type in (MSG_AUDIO, MSG_VIDEO):
                self._events.append(Media(tag_type, ts, msg.stream_id, body))
            elif tag_type == MSG_AMF0_DATA:
                values = amf0.decode_all(body)
                name = values[0] if values and isinstance(values[0], str) else ""
                self._events.append(Data(name, values[1:] if name else values, msg.stream_id, ts, body))
            pos += 11 + size + 4

    # -- output --------------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """Every byte queued by send_* calls since the last call."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def send_message(self, csid: int, type_id: int, timestamp: int, stream_id: int, payload: bytes) -> None:
        self._out.append(encode_message(csid, type_id, timestamp, stream_id, payload, self.out_chunk_size))

    def _send_control(self, type_id: int, payload: bytes) -> None:
        self.send_message(CSID_PROTOCOL_CONTROL, type_id, 0, 0, payload)

    def send_set_chunk_size(self, size: int) -> None:
        if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size {size} outside {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
        self._send_control(MSG_SET_CHUNK_SIZE, _U32.pack(size))
        self.out_chunk_size = size

    def send_window_ack_size(self, size: int) -> None:
        self._send_control(MSG_WINDOW_ACK_SIZE, _U32.pack(size))

    def send_set_peer_bandwidth(self, size: int, limit_type: int = 2) -> None:
        self._send_control(MSG_SET_PEER_BANDWIDTH, _U32U8.pack(size, limit_type))

    def send_acknowledgement(self, sequence: int) -> None:
        self._send_control(MSG_ACK, _U32.pack(sequence & 0xFFFFFFFF))

    def send_user_control(self, event: int, value: int, extra: Optional[int] = None) -> None:
        self._out.append(user_control_message(event, value, self.out_chunk_size, extra))

    def send_command(self, name: str, transaction_id: float, command_object: Any, *args: Any,
                     stream_id: int = 0, csid: int = CSID_OVER_CONNECTION) -> None:
        self._out.append(command_message(name, transaction_id, command_object, args, self.out_chunk_size,
                                         stream_id, csid))

    def send_on_status(self, stream_id: int, info: dict, name: str = "onStatus") -> None:
        """An onStatus (or onFCPublish/onFCUnpublish) call on the stream's chunk stream."""
        self._out.append(on_status_message(stream_id, info, self.out_chunk_size, name))

    def send_data(self, stream_id: int, *values: Any, timestamp: int = 0) -> None:
        self.send_message(CSID_OVER_STREAM, MSG_AMF0_DATA, timestamp, stream_id, amf0.encode(*values))
