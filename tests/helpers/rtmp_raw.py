"""A minimal raw RTMP client (sockets + struct only) for end-to-end tests.

It does what real players and publishers do on the wire, but lets a test stop
at any step: the simple handshake, `connect`, `createStream`, `play` or the FMLE
publish sequence, then read messages (or deliberately stop reading), send media
taken from an FLV file, or send garbage.  It never hides a protocol error: a
short read raises `EOFError`, a timeout raises `socket.timeout`.
"""
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .util import recv_closed

# message types
MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACK = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK_SIZE = 5
MSG_SET_PEER_BW = 6
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_DATA_AMF3 = 15
MSG_COMMAND_AMF3 = 17
MSG_DATA_AMF0 = 18
MSG_COMMAND_AMF0 = 20

# user control events
UC_STREAM_BEGIN = 0
UC_STREAM_EOF = 1
UC_SET_BUFFER_LENGTH = 3
UC_PING_REQUEST = 6
UC_PING_RESPONSE = 7


# ----------------------------------------------------------------------------- AMF0
class AmfObject(dict):
    """An AMF0 anonymous object (type 0x03)."""


class EcmaArray(dict):
    """An AMF0 ECMA array (type 0x08)."""


class _Undefined:
    def __repr__(self):
        return "undefined"


UNDEFINED = _Undefined()


def amf0_encode(*values: Any) -> bytes:
    out = bytearray()
    for v in values:
        _amf0_write(out, v)
    return bytes(out)


def _amf0_key(out: bytearray, k: str) -> None:
    kb = k.encode()
    out += struct.pack(">H", len(kb)) + kb


def _amf0_write(out: bytearray, v: Any) -> None:
    if v is None:
        out.append(0x05)
    elif v is UNDEFINED:
        out.append(0x06)
    elif isinstance(v, bool):
        out += bytes([0x01, 1 if v else 0])
    elif isinstance(v, (int, float)):
        out += b"\x00" + struct.pack(">d", float(v))
    elif isinstance(v, str):
        b = v.encode()
        if len(b) > 0xFFFF:
            out += b"\x0c" + struct.pack(">I", len(b)) + b
        else:
            out += b"\x02" + struct.pack(">H", len(b)) + b
    elif isinstance(v, EcmaArray):
        out += b"\x08" + struct.pack(">I", len(v))
        for k, x in v.items():
            _amf0_key(out, k)
            _amf0_write(out, x)
        out += b"\x00\x00\x09"
    elif isinstance(v, dict):
        out.append(0x03)
        for k, x in v.items():
            _amf0_key(out, k)
            _amf0_write(out, x)
        out += b"\x00\x00\x09"
    elif isinstance(v, (list, tuple)):
        out += b"\x0a" + struct.pack(">I", len(v))
        for x in v:
            _amf0_write(out, x)
    else:
        raise TypeError("cannot AMF0-encode %r" % (v,))


def amf0_decode_all(data: bytes) -> List[Any]:
    vals, pos = [], 0
    while pos < len(data):
        v, pos = _amf0_read(data, pos)
        vals.append(v)
    return vals


def _amf0_read_props(data: bytes, pos: int, target: dict) -> int:
    while True:
        if data[pos:pos + 3] == b"\x00\x00\x09":
            return pos + 3
        (klen,) = struct.unpack_from(">H", data, pos)
        pos += 2
        key = data[pos:pos + klen].decode("utf-8", "replace")
        pos += klen
        if pos >= len(data):          # tolerate a missing end marker
            return pos
        target[key], pos = _amf0_read(data, pos)


def _amf0_read(data: bytes, pos: int) -> Tuple[Any, int]:
    t = data[pos]
    pos += 1
    if t == 0x00:
        return struct.unpack_from(">d", data, pos)[0], pos + 8
    if t == 0x01:
        return data[pos] != 0, pos + 1
    if t == 0x02:
        (n,) = struct.unpack_from(">H", data, pos)
        return data[pos + 2:pos + 2 + n].decode("utf-8", "replace"), pos + 2 + n
    if t == 0x03:
        obj = AmfObject()
        return obj, _amf0_read_props(data, pos, obj)
    if t in (0x05, 0x06):
        return (None if t == 0x05 else UNDEFINED), pos
    if t == 0x08:
        arr = EcmaArray()
        return arr, _amf0_read_props(data, pos + 4, arr)
    if t == 0x0A:
        (n,) = struct.unpack_from(">I", data, pos)
        pos += 4
        items = []
        for _ in range(n):
            v, pos = _amf0_read(data, pos)
            items.append(v)
        return items, pos
    if t == 0x0B:
        return struct.unpack_from(">d", data, pos)[0], pos + 10
    if t == 0x0C:
        (n,) = struct.unpack_from(">I", data, pos)
        return data[pos + 4:pos + 4 + n].decode("utf-8", "replace"), pos + 4 + n
    raise ValueError("unsupported AMF0 type 0x%02x at %d" % (t, pos - 1))


# ----------------------------------------------------------------------------- messages
@dataclass
class Message:
    type: int
    timestamp: int
    stream_id: int
    payload: bytes
    csid: int = 0
    _amf: Optional[List[Any]] = field(default=None, repr=False)

    @property
    def is_command(self) -> bool:
        return self.type in (MSG_COMMAND_AMF0, MSG_COMMAND_AMF3)

    @property
    def amf(self) -> List[Any]:
        """The AMF0 values of a command / data message (AMF3 envelopes: skip the 0 byte)."""
        if self._amf is None:
            data = self.payload
            if self.type in (MSG_COMMAND_AMF3, MSG_DATA_AMF3) and data[:1] == b"\x00":
                data = data[1:]
            self._amf = amf0_decode_all(data)
        return self._amf

    @property
    def command_name(self) -> Optional[str]:
        if self.type in (MSG_COMMAND_AMF0, MSG_COMMAND_AMF3, MSG_DATA_AMF0, MSG_DATA_AMF3):
            vals = self.amf
            return vals[0] if vals and isinstance(vals[0], str) else None
        return None

    @property
    def status_code(self) -> Optional[str]:
        """`code` of an onStatus-like command's info object, else None."""
        if not self.is_command:
            return None
        for v in self.amf[1:]:
            if isinstance(v, dict) and "code" in v:
                return v["code"]
        return None

    @property
    def status_level(self) -> Optional[str]:
        if not self.is_command:
            return None
        for v in self.amf[1:]:
            if isinstance(v, dict) and "level" in v:
                return v["level"]
        return None

    @property
    def user_control_event(self) -> Optional[int]:
        if self.type == MSG_USER_CONTROL and len(self.payload) >= 2:
            return struct.unpack_from(">H", self.payload)[0]
        return None

    @property
    def is_video_keyframe(self) -> bool:
        """A video frame (not a sequence header) of frame type 1 (key)."""
        p = self.payload
        if self.type != MSG_VIDEO or not p or (p[0] >> 4) != 1:
            return False
        if (p[0] & 0x0F) == 7 and len(p) > 1 and p[1] == 0:
            return False            # AVC sequence header
        return True

    @property
    def is_sequence_header(self) -> bool:
        p = self.payload
        if self.type == MSG_VIDEO:
            return len(p) > 1 and (p[0] & 0x0F) == 7 and p[1] == 0
        if self.type == MSG_AUDIO:
            return len(p) > 1 and (p[0] >> 4) == 10 and p[1] == 0
        return False

    def describe(self) -> str:
        if self.command_name:
            return "%s(%s)" % (self.command_name, self.status_code or "")
        if self.type == MSG_USER_CONTROL:
            return "UserControl(%s)" % self.user_control_event
        return "msg(type=%d, ts=%d, len=%d)" % (self.type, self.timestamp, len(self.payload))


class _ChunkState:
    __slots__ = ("timestamp", "delta", "length", "type", "stream_id", "ext", "payload")

    def __init__(self):
        self.timestamp = 0
        self.delta = 0
        self.length = 0
        self.type = 0
        self.stream_id = 0
        self.ext = False
        self.payload = bytearray()


# ----------------------------------------------------------------------------- FLV
def flv_tags(data: bytes) -> List[Tuple[int, int, bytes]]:
    """[(tag_type, timestamp_ms, body)] of FLV bytes, header included (8 audio, 9 video, 18 script).

    Stops at a tag cut short (a live capture ends anywhere). Written apart from srsish's own
    FLV code on purpose: the tests check the server's bytes with a parser of their own.
    """
    if data[:3] != b"FLV":
        raise AssertionError("not FLV: %r" % data[:32])
    pos = struct.unpack_from(">I", data, 5)[0] + 4
    tags = []
    while pos + 11 <= len(data):
        ttype = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        if pos + 11 + size > len(data):
            break
        tags.append((ttype, ts, data[pos + 11:pos + 11 + size]))
        pos += 11 + size + 4
    return tags


def read_flv_tags(path: str) -> List[Tuple[int, int, bytes]]:
    """flv_tags() of an FLV file."""
    with open(path, "rb") as f:
        return flv_tags(f.read())


# ----------------------------------------------------------------------------- client
class RtmpRawClient:
    """One RTMP connection. Use as a context manager; every wait has a timeout."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, rcvbuf: Optional[int] = None,
                 connect: bool = True):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.in_chunk_size = 128
        self.out_chunk_size = 128
        self.window_ack_size = 0
        self.bytes_received = 0
        self.last_ack = 0
        self.auto_ack = True
        self.rbuf = bytearray()
        self.chunks: Dict[int, _ChunkState] = {}
        self.tx_id = 0
        self.stream_id = 0
        self.received: List[Message] = []     # every message read so far, in order
        self.closed = False
        if connect:
            self.sock.connect((host, port))

    # -- context manager
    def __enter__(self) -> "RtmpRawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    # -- raw I/O
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, n: int, deadline: Optional[float]) -> None:
        while len(self.rbuf) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout("timed out waiting for %d bytes" % n)
                self.sock.settimeout(left)
            data = self.sock.recv(max(65536, n - len(self.rbuf)))
            if not data:
                raise EOFError("server closed the connection")
            self.rbuf += data
            self.bytes_received += len(data)

    def _take(self, n: int, deadline: Optional[float]) -> bytes:
        self._fill(n, deadline)
        out = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return out

    # -- handshake
    def handshake(self) -> None:
        """Simple (plain) handshake: C1 has zero time and zero version, C2 echoes S1."""
        deadline = time.monotonic() + self.timeout
        c1 = b"\x00" * 8 + os.urandom(1528)
        self.send_raw(b"\x03" + c1)
        s0 = self._take(1, deadline)
        if s0 != b"\x03":
            raise ValueError("bad S0 %r" % s0)
        s1 = self._take(1536, deadline)
        self._take(1536, deadline)        # S2
        self.send_raw(s1)

    # -- chunk writer
    def send_message(self, mtype: int, payload: bytes, timestamp: int = 0, stream_id: int = 0,
                     csid: int = 3) -> None:
        ts = timestamp & 0xFFFFFFFF
        ext = ts >= 0xFFFFFF
        head = bytes([csid & 0x3F]) + (0xFFFFFF if ext else ts).to_bytes(3, "big") + \
            len(payload).to_bytes(3, "big") + bytes([mtype]) + struct.pack("<I", stream_id)
        if ext:
            head += struct.pack(">I", ts)
        out = bytearray(head)
        cont = bytes([0xC0 | (csid & 0x3F)]) + (struct.pack(">I", ts) if ext else b"")
        for i in range(0, max(len(payload), 1), self.out_chunk_size):
            if i:
                out += cont
            out += payload[i:i + self.out_chunk_size]
        self.send_raw(bytes(out))

    def set_chunk_size(self, size: int) -> None:
        self.send_message(MSG_SET_CHUNK_SIZE, struct.pack(">I", size), csid=2)
        self.out_chunk_size = size

    def send_command(self, name: str, tx: float, *args: Any, stream_id: int = 0, csid: int = 3) -> None:
        self.send_message(MSG_COMMAND_AMF0, amf0_encode(name, tx, *args), stream_id=stream_id, csid=csid)

    def send_user_control(self, event: int, *values: int) -> None:
        self.send_message(MSG_USER_CONTROL, struct.pack(">H", event) + b"".join(struct.pack(">I", v) for v in values), csid=2)

    # -- chunk reader
    def read_message(self, timeout: Optional[float] = None) -> Message:
        """The next complete message; protocol control is applied (and kept in .received)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msg = self._read_chunk(deadline)
            if msg is None:
                continue
            self._on_message(msg)
            self.received.append(msg)
            return msg

    def _read_chunk(self, deadline: float) -> Optional[Message]:
        b0 = self._take(1, deadline)[0]
        fmt, csid = b0 >> 6, b0 & 0x3F
        if csid == 0:
            csid = 64 + self._take(1, deadline)[0]
        elif csid == 1:
            b = self._take(2, deadline)
            csid = 64 + b[0] + b[1] * 256
        st = self.chunks.get(csid)
        if st is None:
            if fmt != 0:
                raise ValueError("chunk stream %d starts with fmt %d" % (csid, fmt))
            st = self.chunks[csid] = _ChunkState()
        starting = not st.payload
        if fmt <= 2:
            h = self._take(3 if fmt == 2 else (7 if fmt == 1 else 11), deadline)
            ts = int.from_bytes(h[0:3], "big")
            if fmt <= 1:
                st.length = int.from_bytes(h[3:6], "big")
                st.type = h[6]
            if fmt == 0:
                st.stream_id = struct.unpack_from("<I", h, 7)[0]
            st.ext = ts == 0xFFFFFF
            if st.ext:
                ts = struct.unpack(">I", self._take(4, deadline))[0]
            if fmt == 0:
                st.timestamp = ts
                st.delta = 0
            else:
                st.delta = ts
                st.timestamp = (st.timestamp + ts) & 0xFFFFFFFF
        else:
            if st.ext:
                self._take(4, deadline)
            if starting:
                st.timestamp = (st.timestamp + st.delta) & 0xFFFFFFFF
        need = min(self.in_chunk_size, st.length - len(st.payload))
        st.payload += self._take(need, deadline)
        if len(st.payload) < st.length:
            return None
        msg = Message(st.type, st.timestamp, st.stream_id, bytes(st.payload), csid)
        st.payload = bytearray()
        return msg

    def _on_message(self, msg: Message) -> None:
        p = msg.payload
        if msg.type == MSG_SET_CHUNK_SIZE and len(p) >= 4:
            self.in_chunk_size = struct.unpack(">I", p[:4])[0] & 0x7FFFFFFF
        elif msg.type == MSG_WINDOW_ACK_SIZE and len(p) >= 4:
            self.window_ack_size = struct.unpack(">I", p[:4])[0]
        elif msg.type == MSG_USER_CONTROL and msg.user_control_event == UC_PING_REQUEST:
            self.send_user_control(UC_PING_RESPONSE, struct.unpack_from(">I", p, 2)[0])
        if self.auto_ack and self.window_ack_size and \
                self.bytes_received - self.last_ack >= self.window_ack_size:
            self.last_ack = self.bytes_received
            self.send_message(MSG_ACK, struct.pack(">I", self.bytes_received & 0xFFFFFFFF), csid=2)

    def read_until(self, pred: Callable[[Message], bool], timeout: Optional[float] = None) -> Message:
        """Read messages until `pred(msg)`; returns that message (timeout: socket.timeout)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no matching message within the timeout; got: %s" % self.summary())
            msg = self.read_message(left)
            if pred(msg):
                return msg

    def wait_status(self, *codes: str, timeout: Optional[float] = None) -> Message:
        """Wait for an onStatus (or _error/onFCPublish) carrying one of `codes`."""
        return self.read_until(lambda m: m.status_code in codes, timeout)

    def wait_result(self, tx: float, timeout: Optional[float] = None) -> Message:
        m = self.read_until(lambda m: m.command_name in ("_result", "_error") and
                            len(m.amf) > 1 and m.amf[1] == tx, timeout)
        if m.command_name == "_error":
            raise RuntimeError("server answered _error: %r" % (m.amf,))
        return m

    def summary(self, last: int = 20) -> str:
        return ", ".join(m.describe() for m in self.received[-last:])

    def is_closed_by_peer(self, timeout: float) -> bool:
        """Drain the socket; True when the server closes it (EOF or reset) within `timeout`."""
        return bool(recv_closed(self.sock, timeout))

    # -- NetConnection / NetStream
    def _next_tx(self) -> int:
        self.tx_id += 1
        return self.tx_id

    def connect(self, app: str = "live", tc_url: Optional[str] = None,
                timeout: Optional[float] = None) -> Message:
        tc_url = tc_url or "rtmp://%s:%d/%s" % (self.host, self.port, app)
        tx = self._next_tx()
        assert tx == 1
        self.send_command("connect", tx, {
            "app": app, "flashVer": "LNX 9,0,124,2", "tcUrl": tc_url, "fpad": False,
            "capabilities": 15.0, "audioCodecs": 4071.0, "videoCodecs": 252.0,
            "videoFunction": 1.0, "objectEncoding": 0.0})
        return self.wait_result(tx, timeout)

    def create_stream(self, timeout: Optional[float] = None) -> int:
        tx = self._next_tx()
        self.send_command("createStream", tx, None)
        m = self.wait_result(tx, timeout)
        self.stream_id = int(m.amf[3])
        return self.stream_id

    def play(self, name: str, start: float = -2) -> None:
        """createStream must have run; sends play + SetBufferLength (no wait)."""
        self.send_command("play", 0, None, name, start, stream_id=self.stream_id, csid=8)
        self.send_user_control(UC_SET_BUFFER_LENGTH, self.stream_id, 3000)

    def publish(self, name: str, wait: bool = True, timeout: Optional[float] = None) -> Optional[Message]:
        """FMLE sequence (releaseStream, FCPublish, createStream, publish); waits for
        onStatus NetStream.Publish.Start (or any error-level status) when `wait`."""
        self.send_command("releaseStream", self._next_tx(), None, name)
        self.send_command("FCPublish", self._next_tx(), None, name)
        self.create_stream(timeout)
        self.send_command("publish", 0, None, name, "live", stream_id=self.stream_id, csid=8)
        if not wait:
            return None
        return self.read_until(lambda m: m.command_name == "onStatus" and m.status_code is not None
                               and (m.status_code == "NetStream.Publish.Start" or m.status_level == "error"),
                               timeout)

    def setup_player(self, app: str, name: str, timeout: Optional[float] = None) -> None:
        self.handshake()
        self.connect(app, timeout=timeout)
        self.create_stream(timeout)
        self.play(name)

    def setup_publisher(self, app: str, name: str, timeout: Optional[float] = None) -> Message:
        self.handshake()
        self.set_chunk_size(60000)
        self.connect(app, timeout=timeout)
        return self.publish(name, timeout=timeout)

    def send_flv_tags(self, tags: Iterable[Tuple[int, int, bytes]], ts_offset: int = 0,
                      pace: bool = False) -> int:
        """Send FLV tags as RTMP media on the published stream; returns the last timestamp."""
        t0, last = time.monotonic(), ts_offset
        for ttype, ts, body in tags:
            if ttype not in (MSG_AUDIO, MSG_VIDEO, MSG_DATA_AMF0):
                continue
            last = ts + ts_offset
            if pace:
                delay = ts / 1000.0 - (time.monotonic() - t0)
                if delay > 0:
                    time.sleep(delay)
            csid = {MSG_AUDIO: 4, MSG_VIDEO: 6, MSG_DATA_AMF0: 5}[ttype]
            if ttype == MSG_DATA_AMF0:
                vals = amf0_decode_all(body)
                if vals and vals[0] == "onMetaData":    # publishers send @setDataFrame
                    body = amf0_encode("@setDataFrame") + body
            self.send_message(ttype, body, timestamp=last, stream_id=self.stream_id, csid=csid)
        return last

    def media_messages(self) -> List[Message]:
        return [m for m in self.received if m.type in (MSG_AUDIO, MSG_VIDEO)]
