"""Fuzz targets: one function per parser that reads outside bytes, raising only if srsish misbehaves.

Each target takes `bytes` and returns None when the parser either succeeded or refused the input with one of
srsish's typed errors (core/errors.py: SrsishError and its ProtocolError, MediaError, ConfigError; paths'
OutsideRoot where a template the operator wrote may leave its root). Anything else escapes: that is a finding.
`bench/fuzz.py` drives them with atheris (coverage-guided) or a plain mutation driver; the regression inputs
under tests/data/fuzz-regressions/<target>/ are replayed by tests/fuzz/test_fuzz_regressions.py.
"""
import os
import struct
import tempfile
from typing import Callable, Dict, List

from srsish.app.config.loader import load_config
from srsish.app.config.parser import parse_file
from srsish.app.hooks.events import judge_reply
from srsish.core import naming, paths
from srsish.core.errors import SrsishError
from srsish.kernel import flv
from srsish.kernel.codec import aac, avc, describe, flv_tags, hevc
from srsish.protocol import amf0, http
from srsish.protocol.request import apply_stream_name, parse_tc_url
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.chunk import ChunkDecoder, encode_message
from srsish.protocol.rtmp.handshake import ClientHandshake, ServerHandshake
from srsish.protocol.rtmp.session import events as sev
from srsish.protocol.rtmp.session.client import ClientSession
from srsish.protocol.rtmp.session.server import ServerSession

EXPECTED = (SrsishError,)
MAX_EVENTS = 100_000   # a target that yields more events than this from one input is stuck in a loop


def _zeros(n: int) -> bytes:
    return bytes(n)


def _pieces(data: bytes) -> List[bytes]:
    """The input cut in three at points it chooses itself (its first two bytes), as TCP may cut it."""
    if len(data) < 2:
        return [data]
    a, b = sorted((data[0] * len(data) // 256, data[1] * len(data) // 256))
    body = data[2:]
    return [p for p in (body[:a], body[a:b], body[b:]) if p]


# -- RTMP ---------------------------------------------------------------------------------
_C0C1 = ClientHandshake(random_bytes=_zeros).start()
_C2 = bytes(1536)


def handshake_server(data: bytes) -> None:
    hs = ServerHandshake(random_bytes=_zeros)
    try:
        for piece in _pieces(data):
            hs.receive_data(piece)
    except EXPECTED:
        pass


def _server_reply() -> bytes:
    return ServerHandshake(random_bytes=_zeros).receive_data(_C0C1)


def handshake_client(data: bytes) -> None:
    hs = ClientHandshake(complex=bool(data[:1]) and data[0] & 1 == 1, random_bytes=_zeros)
    hs.start()
    try:
        for piece in _pieces(data):
            hs.receive_data(piece)
    except EXPECTED:
        pass


def chunk(data: bytes) -> None:
    """The chunk stream decoder as RtmpConnection drives it: Set Chunk Size and Abort obeyed."""
    dec = ChunkDecoder()
    try:
        for piece in _pieces(data):
            dec.feed(piece)
            for _ in range(MAX_EVENTS):
                m = dec.next_message()
                if m is None:
                    break
                if m.type_id == rc.MSG_SET_CHUNK_SIZE and len(m.payload) >= 4:
                    dec.set_chunk_size(struct.unpack(">I", m.payload[:4])[0] & 0x7FFFFFFF)
                elif m.type_id == rc.MSG_ABORT and len(m.payload) >= 4:
                    dec.abort(struct.unpack(">I", m.payload[:4])[0])
            else:
                raise AssertionError("chunk decoder yields messages without end")
    except EXPECTED:
        pass


def amf(data: bytes) -> None:
    """AMF0 values, AMF0 commands, and AMF3 commands (the AMF0 switch marker inside), per the first byte."""
    if not data:
        return
    mode, body = data[0] % 3, data[1:]
    try:
        if mode == 0:
            amf0.decode_all(body)
        else:
            amf0.decode_command(body, amf3=mode == 2)
    except EXPECTED:
        pass


def _drive_server(session: ServerSession) -> None:
    for _ in range(MAX_EVENTS):
        ev = session.next_event()
        if ev is rc.NEED_DATA or isinstance(ev, rc.ConnectionClosed):
            return
        if isinstance(ev, sev.ConnectRequested):
            session.accept_connect(window_ack_size=2_500_000, chunk_size=60_000, server_data={"srs_id": "x"})
        elif isinstance(ev, sev.PublishRequested):
            session.start_publish()
        elif isinstance(ev, sev.PlayRequested):
            session.start_play()
    raise AssertionError("server session yields events without end")


def rtmp_server_session(data: bytes) -> None:
    """What a client may send after a good handshake, through the server session's command handling."""
    s = ServerSession("fuzz0001", random_bytes=_zeros)
    s.receive_data(_C0C1 + _C2)
    try:
        for piece in _pieces(data):
            s.receive_data(piece)
            _drive_server(s)
            s.data_to_send()
        s.receive_data(b"")
        _drive_server(s)
    except EXPECTED:
        pass


def rtmp_client_session(data: bytes) -> None:
    """What a server (an edge's origin, a forward target) may answer, through the client session."""
    c = ClientSession(random_bytes=_zeros)
    c.data_to_send()
    c.receive_data(_server_reply())
    try:
        c.connect("rtmp://127.0.0.1/live", "live")
        for piece in _pieces(data):
            c.receive_data(piece)
            for _ in range(MAX_EVENTS):
                ev = c.next_event()
                if ev is rc.NEED_DATA or isinstance(ev, rc.ConnectionClosed):
                    break
                if isinstance(ev, sev.Connected):
                    c.call("createStream")
                elif isinstance(ev, sev.StreamCreated):
                    c.play("s")
            else:
                raise AssertionError("client session yields events without end")
            c.data_to_send()
    except EXPECTED:
        pass


# -- media ---------------------------------------------------------------------------------
def flv_file(data: bytes) -> None:
    try:
        for strict in (True, False):
            for t in flv.read_tags(data, strict=strict):
                if t.type_id == 9:
                    flv_tags.parse_video_tag(t.body)
                elif t.type_id == 8:
                    flv_tags.parse_audio_tag(t.body)
    except EXPECTED:
        pass


_CODEC_PARSERS: List[Callable[[bytes], object]] = [
    flv_tags.parse_video_tag, flv_tags.parse_audio_tag, avc.parse_avc_config, avc.sps_dimensions,
    avc.avcc_dimensions, hevc.parse_hevc_config, aac.parse_audio_specific_config, describe.avc_profile_level,
    describe.aac_config, flv_tags.video_is_keyframe, flv_tags.video_is_sequence_header,
    flv_tags.video_is_coded_frames, flv_tags.audio_is_sequence_header, flv_tags.video_codec_name,
    flv_tags.audio_codec_name, flv_tags.video_is_avc, flv_tags.audio_is_aac,
]


def codec(data: bytes) -> None:
    """The first byte picks the parser; what parses is written back and read again (it must round-trip)."""
    if not data:
        return
    parse = _CODEC_PARSERS[data[0] % len(_CODEC_PARSERS)]
    try:
        value = parse(data[1:])
    except EXPECTED:
        return
    to_bytes = getattr(value, "to_bytes", None)
    if to_bytes is not None and not isinstance(value, int):
        try:
            again = parse(to_bytes())
        except EXPECTED:
            return   # a record we read leniently may not be one we can write (e.g. reserved bits)
        if again != value:
            raise AssertionError("round trip changed %r into %r" % (value, again))


# -- HTTP, conf, hooks, names -----------------------------------------------------------------
def http_request(data: bytes) -> None:
    reader = http.RequestReader("192.0.2.1", max_head_bytes=8192, max_body_bytes=65536)
    try:
        for piece in _pieces(data) + [b""]:
            reader.receive_data(piece)
            for _ in range(MAX_EVENTS):
                ev = reader.next_event()
                if ev is http.NEED_DATA or isinstance(ev, http.Closed):
                    break
                ev.param, ev.query_dict()
            else:
                raise AssertionError("request reader yields requests without end")
            if isinstance(ev, http.Closed):
                return
    except EXPECTED:
        pass


_CONF_DIR = tempfile.mkdtemp(prefix="srsish-fuzz-conf-")


def conf(data: bytes) -> None:
    """The conf parser and the typed loader (env empty), on a file of the input's bytes."""
    path = os.path.join(_CONF_DIR, "fuzz.conf")
    with open(path, "wb") as f:
        f.write(data)
    cwd = os.getcwd()
    os.chdir(_CONF_DIR)   # `include` is relative to the working directory
    try:
        parse_file(path)
        load_config(path, env={})
    except EXPECTED:
        pass
    finally:
        os.chdir(cwd)


def hook_reply(data: bytes) -> None:
    """The judge of a gating hook's answer: a verdict for any status and body, never an exception."""
    status = int.from_bytes(data[:2], "big") if len(data) >= 2 else 200
    verdict = judge_reply(status, data[2:])
    assert verdict is None or isinstance(verdict, str)
    assert verdict is None or len(verdict) < 1024, "a reason without a bound"


_ROOT = os.path.realpath(tempfile.mkdtemp(prefix="srsish-fuzz-root-"))
_SAFE_TEMPLATES = ("[app]/[stream].[timestamp].flv", "[app]/[stream]-[seq].ts", "[vhost]/[app]/[stream].m3u8",
                   "[app]/[stream]/[2006]/[01]/[02]/[15].[04].[05].[999].flv")


def names(data: bytes) -> None:
    """Hostile names (as a client sends them in tcUrl and stream name) through the path templates.

    With the shipped templates the file must land under the root: OutsideRoot there is a finding. With a
    template taken from the input (the operator's), OutsideRoot is the expected refusal.
    """
    # odd lengths keep undecodable bytes as lone surrogates (names a client may send that no file system takes)
    text = data.decode("utf-8", "surrogateescape" if len(data) % 2 else "replace") if data else ""
    parts = text.split("\x00")
    tc_url, stream = parts[0], parts[1] if len(parts) > 1 else ""
    try:
        req = apply_stream_name(parse_tc_url(tc_url), stream)
    except EXPECTED:
        req = None
    except UnicodeError:
        raise
    vhost, app, name = (req.vhost, req.app, req.stream) if req else ("__defaultVhost__", tc_url, stream)
    values = {**naming.stream_values(vhost, app, name), **naming.time_values(1_700_000_000.5, True), "seq": "7"}
    for template in _SAFE_TEMPLATES:
        rel = naming.expand(template, values)
        full = paths.join_under(_ROOT, rel)
        assert full.startswith(_ROOT + os.sep), (template, rel, full)
        assert all(len(p.encode("utf-8", "surrogatepass")) <= 255 for p in rel.split("/")), rel
    if len(parts) > 2:
        try:
            paths.join_under(_ROOT, naming.expand(parts[2], values))
        except paths.OutsideRoot:
            pass


TARGETS: Dict[str, Callable[[bytes], None]] = {
    "handshake_server": handshake_server, "handshake_client": handshake_client, "chunk": chunk, "amf": amf,
    "rtmp_server_session": rtmp_server_session, "rtmp_client_session": rtmp_client_session,
    "flv": flv_file, "codec": codec, "http": http_request, "conf": conf, "hook_reply": hook_reply,
    "names": names,
}


# -- seeds: one or more valid inputs per target, so mutation starts from the real formats ---------------
def _publish_session_bytes() -> bytes:
    """A whole FMLE publish as a client sends it after the handshake, chunk size changed, with media."""
    out = b""
    cs = 4096
    out += encode_message(2, rc.MSG_SET_CHUNK_SIZE, 0, 0, struct.pack(">I", cs), 128)
    out += encode_message(3, rc.MSG_AMF0_COMMAND, 0, 0, amf0.encode(
        "connect", 1.0, {"app": "live", "tcUrl": "rtmp://127.0.0.1/live?vhost=v&token=1", "objectEncoding": 0.0}), cs)
    out += encode_message(3, rc.MSG_AMF0_COMMAND, 0, 0, amf0.encode("releaseStream", 2.0, None, "s"), cs)
    out += encode_message(3, rc.MSG_AMF0_COMMAND, 0, 0, amf0.encode("FCPublish", 3.0, None, "s"), cs)
    out += encode_message(3, rc.MSG_AMF0_COMMAND, 0, 0, amf0.encode("createStream", 4.0, None), cs)
    out += encode_message(4, rc.MSG_AMF0_COMMAND, 0, 1, amf0.encode("publish", 5.0, None, "s?k=v", "live"), cs)
    out += encode_message(4, rc.MSG_AMF0_DATA, 0, 1, amf0.encode(
        "@setDataFrame", "onMetaData", amf0.EcmaArray(width=320.0, height=240.0)), cs)
    out += encode_message(6, 9, 0, 1, bytes.fromhex("1700000000014d401effe1000967"), cs)
    out += encode_message(6, 9, 40, 1, b"\x17\x01\x00\x00\x00" + b"\x00\x00\x00\x05\x65" + bytes(4), cs)
    out += encode_message(4, rc.MSG_AMF0_COMMAND, 0, 1, amf0.encode("FCUnpublish", 6.0, None, "s"), cs)
    out += encode_message(4, rc.MSG_AMF0_COMMAND, 0, 1, amf0.encode("deleteStream", 7.0, None, 1.0), cs)
    return out


def _play_session_bytes() -> bytes:
    out = encode_message(3, rc.MSG_AMF0_COMMAND, 0, 0, amf0.encode(
        "connect", 1.0, {"app": "live", "tcUrl": "rtmp://h:19350/live"}), 128)
    out += encode_message(3, rc.MSG_AMF0_COMMAND, 0, 0, amf0.encode("createStream", 2.0, None), 128)
    out += encode_message(8, rc.MSG_AMF0_COMMAND, 0, 1, amf0.encode("play", 3.0, None, "s", -1000.0), 128)
    out += encode_message(8, rc.MSG_AMF0_COMMAND, 0, 1, amf0.encode("pause", 4.0, None, True, 0.0), 128)
    out += encode_message(2, rc.MSG_USER_CONTROL, 0, 0, struct.pack(">HII", 3, 1, 3000), 128)
    return out


def _server_answers() -> bytes:
    out = encode_message(2, rc.MSG_WINDOW_ACK_SIZE, 0, 0, struct.pack(">I", 2500000), 128)
    out += encode_message(2, rc.MSG_SET_PEER_BANDWIDTH, 0, 0, struct.pack(">IB", 2500000, 2), 128)
    out += encode_message(3, rc.MSG_AMF0_COMMAND, 0, 0, amf0.encode(
        "_result", 1.0, {"fmsVer": "FMS/3,5,3,888"}, {"level": "status", "code": "NetConnection.Connect.Success"}), 128)
    out += encode_message(3, rc.MSG_AMF0_COMMAND, 0, 0, amf0.encode("_result", 2.0, None, 1.0), 128)
    out += encode_message(5, rc.MSG_AMF0_COMMAND, 0, 1, amf0.encode(
        "onStatus", 0.0, None, {"level": "status", "code": "NetStream.Play.Start", "description": "x"}), 128)
    out += encode_message(6, 9, 0, 1, bytes.fromhex("1700000000014d401effe1000967"), 128)
    return out


def _flv_sample() -> bytes:
    body = flv.file_header()
    body += flv.tag(18, 0, amf0.encode("onMetaData", amf0.EcmaArray(duration=1.0)))
    body += flv.tag(9, 0, bytes.fromhex("1700000000014d401effe1000967"))
    body += flv.tag(8, 0, bytes.fromhex("af001210"))
    body += flv.tag(9, 40, b"\x27\x01\x00\x00\x00\x00\x00\x00\x02\x41\x00")
    return body


_SPS = bytes.fromhex("6742c01eda0280bfe5c0440000030004000003003c3c58ba80")
_PPS = bytes.fromhex("68ce3c80")
_AVCC = bytes.fromhex("0142c01effe1") + len(_SPS).to_bytes(2, "big") + _SPS + b"\x01" + \
    len(_PPS).to_bytes(2, "big") + _PPS


def seeds(name: str) -> List[bytes]:
    if name == "handshake_server":
        return [b"\x00\x80\x80" + _C0C1 + _C2 + b"\x03junk", b"\x10\x20" + b"\x03" + bytes(1536 * 2)]
    if name == "handshake_client":
        return [b"\x01\x80\x80" + _server_reply(), b"\x00\x10\x20" + _server_reply() + b"\x02"]
    if name == "chunk":
        return [b"\x40\xc0" + _publish_session_bytes(), b"\x00\x00" + _play_session_bytes()]
    if name == "amf":
        return [b"\x00" + amf0.encode("x", 1.0, True, None, {"a": [1.0, "b"]}, amf0.EcmaArray(k="v")),
                b"\x01" + amf0.encode("connect", 1.0, {"app": "live"}),
                b"\x02\x00" + amf0.encode("connect", 1.0) + b"\x11\x06\x07abc\x0a\x0b\x01\x03a\x04\x01\x01"]
    if name == "rtmp_server_session":
        return [b"\x40\xc0" + _publish_session_bytes(), b"\x20\x90" + _play_session_bytes()]
    if name == "rtmp_client_session":
        return [b"\x40\xc0" + _server_answers()]
    if name == "flv":
        return [_flv_sample()]
    if name == "codec":
        return [b"\x00\x17\x00\x00\x00\x00" + _AVCC, b"\x02" + _AVCC, b"\x03" + _SPS, b"\x06\x12\x10",
                b"\x05" + bytes.fromhex("01016000000000000000005af000fcfdf8f800000f03a00001001840010c01ffff016000"
                                         "000300000300000300000300b4ba024000000300400000030000")]
    if name == "http":
        return [b"\x40\x80GET /live/s.flv?token=1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n"
                b"POST /api/v1/clients HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"]
    if name == "conf":
        return [b"listen 1935;\nvhost __defaultVhost__ {\n  hls { enabled on; hls_fragment 2; }\n"
                b"  http_hooks { enabled on; on_connect http://127.0.0.1:8085/api/v1/clients; }\n}\n",
                b"listen 1935; http_api { enabled on; listen 1985; } vhost v { dvr { enabled on; } }"]
    if name == "hook_reply":
        return [b"\x00\xc80", b"\x00\xc8{\"code\": 0}", b"\x01\xf4oops", b"\x00\xc8{\"code\": \"0\"}"]
    if name == "names":
        return ["rtmp://h/live?vhost=v\x00s?token=1\x00[app]/[stream].flv".encode(),
                "rtmp://h/../..\x00..\x00../[stream]".encode(), "rtmp://h/a/b/c\x00%2e%2e\u00e9".encode()]
    raise KeyError(name)
