"""The RTMP handshake (C0/C1/C2 and S0/S1/S2), simple and complex, as sans-IO state machines for both roles.

Wire layout: C0/S0 is the version byte 3; C1/S1 and C2/S2 are 1536 bytes each.

Simple handshake: C1/S1 = time(4) + zero(4) + random(1528), and C2/S2 echo the peer's C1/S1.

Complex handshake (Flash Player 9+, ffmpeg, OBS): C1/S1 = time(4) + version(4) + two 764-byte
blocks, a "key" block and a "digest" block, in one of two orders:

    schema 0: time, version, key block, digest block   (digest block at offset 772)
    schema 1: time, version, digest block, key block   (digest block at offset 8)

A digest block is offset(4) + random + digest(32) + random; the 32-byte digest sits at
block + 4 + (sum of the 4 offset bytes) % 728. It is HMAC-SHA256 over the 1504 other bytes of
C1/S1, keyed with the first 30 bytes of the player key (C1) or the first 36 of the server key (S1).
S2 is random(1504) + HMAC-SHA256(HMAC-SHA256(server key, C1 digest), random), and C2 the same with
the player key and the S1 digest. We never run the Diffie-Hellman exchange the key block is meant
for (that is RTMPE, which SRS does not offer either), so our key blocks are just random.

SRS behaviour copied here: C0 must be 3; the server tries the complex handshake with schema 0, then
schema 1, and falls back to simple when C1 carries no valid digest; C2 is read but never checked
(ffmpeg's C2 would not pass, and nothing depends on it).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import Callable

from srsish.core.errors import ProtocolError

__all__ = ["ClientHandshake", "HandshakeError", "ServerHandshake", "RTMP_VERSION", "PACKET_SIZE"]

RTMP_VERSION = 3
PACKET_SIZE = 1536  # C1, S1, C2 and S2 are each exactly this long

# The well-known keys from Adobe's players and servers, as published in librtmp (handshake.h),
# ffmpeg (libavformat/rtmpproto.c) and SRS (srs_protocol_rtmp_handshake.cpp). Each is an ASCII
# name followed by the same 32 bytes; only the name part signs C1/S1, the whole key signs C2/S2.
_KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
_PLAYER_KEY = b"Genuine Adobe Flash Player 001" + _KEY_TAIL  # 62 bytes
_SERVER_KEY = b"Genuine Adobe Flash Media Server 001" + _KEY_TAIL  # 68 bytes
_PLAYER_KEY_NAME = _PLAYER_KEY[:30]
_SERVER_KEY_NAME = _SERVER_KEY[:36]

# Version fields of C1/S1 in the complex handshake. ffmpeg logs S1's as "Server version a.b.c.d"
# and only verifies the S1 digest and S2 when the first byte is >= 3; SRS sends 1.0.5.4 and so
# escapes that check. We send 4.5.0.1 so that ffmpeg does check our signatures.
SERVER_VERSION = b"\x04\x05\x00\x01"
CLIENT_VERSION = b"\x80\x00\x07\x02"  # the value SRS's own client (edge, forward) sends

_DIGEST_SIZE = 32
_BLOCK_SIZE = 764
_DIGEST_OFFSET_MOD = _BLOCK_SIZE - _DIGEST_SIZE - 4  # 728
_SCHEMA0_DIGEST_BLOCK = 8 + _BLOCK_SIZE  # 772: the key block comes first
_SCHEMA1_DIGEST_BLOCK = 8  # the digest block comes first
_C2S2_RANDOM = PACKET_SIZE - _DIGEST_SIZE  # 1504

_U32 = struct.Struct(">I")


class HandshakeError(ProtocolError):
    """The peer sent a handshake we cannot accept (wrong version byte, bad server signature)."""


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _digest_pos(packet: bytes, schema: int) -> int:
    """Where the 32-byte digest sits in a 1536-byte C1/S1 laid out with `schema` (0 or 1)."""
    block = _SCHEMA0_DIGEST_BLOCK if schema == 0 else _SCHEMA1_DIGEST_BLOCK
    return block + 4 + sum(packet[block : block + 4]) % _DIGEST_OFFSET_MOD


def _sign_c1s1(packet: bytes, pos: int, key: bytes) -> bytes:
    """The digest of C1/S1: HMAC over everything except the 32 bytes at `pos`."""
    return _hmac(key, packet[:pos] + packet[pos + _DIGEST_SIZE :])


def _find_digest(packet: bytes, key: bytes) -> int | None:
    """The schema (0 first, as SRS) whose digest verifies with `key`, or None."""
    for schema in (0, 1):
        pos = _digest_pos(packet, schema)
        if hmac.compare_digest(_sign_c1s1(packet, pos, key), packet[pos : pos + _DIGEST_SIZE]):
            return schema
    return None


def _make_c1s1(time_ms: int, version: bytes, body: bytes, schema: int | None, key: bytes) -> bytes:
    """time + version + 1528 body bytes, with a digest imprinted when `schema` is given."""
    packet = bytearray(_U32.pack(time_ms & 0xFFFFFFFF) + version + body)
    if schema is not None:
        pos = _digest_pos(packet, schema)
        packet[pos : pos + _DIGEST_SIZE] = _sign_c1s1(bytes(packet), pos, key)
    return bytes(packet)


def _make_c2s2(peer_digest: bytes, key: bytes, random: bytes) -> bytes:
    return random + _hmac(_hmac(key, peer_digest), random)


def _draw(random_bytes: Callable[[int], bytes], n: int) -> bytes:
    data = random_bytes(n)
    if len(data) != n:
        raise ValueError(f"random_bytes({n}) returned {len(data)} bytes")
    return bytes(data)


class ServerHandshake:
    """The server side: feed it what the client sends; send back what it returns.

    receive_data returns S0+S1+S2 (3073 bytes) once C0+C1 are in, and b"" otherwise. `done` turns
    True once C2 is in; whatever arrived after C2 (a client may pipeline its first chunk) is in
    `leftover`, and bytes fed after that are appended to it.
    """

    def __init__(self, *, now_ms: int = 0, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._now_ms = now_ms
        self._random_bytes = random_bytes
        self._buf = bytearray()
        self._replied = False
        self.done = False
        self.complex = False
        self.leftover = b""

    def receive_data(self, data: bytes) -> bytes:
        if self.done:
            self.leftover += data
            return b""
        buf = self._buf
        buf += data
        out = b""
        if not self._replied:
            if buf and buf[0] != RTMP_VERSION:
                raise HandshakeError(
                    f"RTMP handshake: C0 is 0x{buf[0]:02x}, only plain RTMP (0x03) is supported"
                )
            if len(buf) < 1 + PACKET_SIZE:
                return b""
            c1 = bytes(buf[1 : 1 + PACKET_SIZE])
            del buf[: 1 + PACKET_SIZE]
            out = self._s0s1s2(c1)
            self._replied = True
        if len(buf) >= PACKET_SIZE:
            # C2 is not verified, as in SRS: ffmpeg's would fail and no client depends on it.
            self.leftover = bytes(buf[PACKET_SIZE:])
            buf.clear()
            self.done = True
        return out

    def _s0s1s2(self, c1: bytes) -> bytes:
        schema = _find_digest(c1, _PLAYER_KEY_NAME)
        s1_body = _draw(self._random_bytes, PACKET_SIZE - 8)
        if schema is None:
            s1 = _make_c1s1(self._now_ms, b"\x00\x00\x00\x00", s1_body, None, b"")
            return bytes((RTMP_VERSION,)) + s1 + c1
        self.complex = True
        # S1 uses the client's schema, as SRS does.
        s1 = _make_c1s1(self._now_ms, SERVER_VERSION, s1_body, schema, _SERVER_KEY_NAME)
        c1_pos = _digest_pos(c1, schema)
        c1_digest = c1[c1_pos : c1_pos + _DIGEST_SIZE]
        s2 = _make_c2s2(c1_digest, _SERVER_KEY, _draw(self._random_bytes, _C2S2_RANDOM))
        return bytes((RTMP_VERSION,)) + s1 + s2


class ClientHandshake:
    """The client side: send start(), feed what the server sends, send what receive_data returns.

    With complex=True, C1 carries a schema-1 digest (what SRS's client and ffmpeg send; FMS
    requires it). If S1's version field is non-zero the server claims the complex handshake, and
    then its S1 digest and S2 signature must verify or HandshakeError is raised.
    """

    def __init__(
        self, *, complex: bool = True, now_ms: int = 0, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> None:
        self._complex = complex
        self._now_ms = now_ms
        self._random_bytes = random_bytes
        self._buf = bytearray()
        self._c1: bytes | None = None
        self.done = False
        self.server_complex = False
        self.leftover = b""

    def start(self) -> bytes:
        """C0+C1 (1537 bytes), to send first."""
        if self._c1 is not None:
            raise RuntimeError("ClientHandshake.start() was already called")
        body = _draw(self._random_bytes, PACKET_SIZE - 8)
        if self._complex:
            self._c1 = _make_c1s1(self._now_ms, CLIENT_VERSION, body, 1, _PLAYER_KEY_NAME)
        else:
            self._c1 = _make_c1s1(self._now_ms, b"\x00\x00\x00\x00", body, None, b"")
        return bytes((RTMP_VERSION,)) + self._c1

    def receive_data(self, data: bytes) -> bytes:
        """Feed server bytes; returns C2 once S0+S1+S2 are in, b"" before (and after)."""
        if self._c1 is None:
            raise RuntimeError("call ClientHandshake.start() before receive_data()")
        if self.done:
            self.leftover += data
            return b""
        buf = self._buf
        buf += data
        if buf and buf[0] != RTMP_VERSION:
            raise HandshakeError(f"RTMP handshake: S0 is 0x{buf[0]:02x}, expected 0x03")
        if len(buf) < 1 + 2 * PACKET_SIZE:
            return b""
        s1 = bytes(buf[1 : 1 + PACKET_SIZE])
        s2 = bytes(buf[1 + PACKET_SIZE : 1 + 2 * PACKET_SIZE])
        self.leftover = bytes(buf[1 + 2 * PACKET_SIZE :])
        buf.clear()

        schema = _find_digest(s1, _SERVER_KEY_NAME)
        self.server_complex = schema is not None
        c2 = s1  # simple: echo S1
        if self._complex:
            if schema is None and s1[4:8] != b"\x00\x00\x00\x00":
                raise HandshakeError(
                    "RTMP handshake: server claims the complex handshake (version "
                    f"{'.'.join(str(b) for b in s1[4:8])}) but S1's digest does not verify"
                )
            if schema is not None:
                c1_pos = _digest_pos(self._c1, 1)
                expected = _make_c2s2(self._c1[c1_pos : c1_pos + _DIGEST_SIZE], _SERVER_KEY, s2[:_C2S2_RANDOM])
                if not hmac.compare_digest(expected, s2):
                    raise HandshakeError("RTMP handshake: S2's signature does not match our C1 digest")
                s1_pos = _digest_pos(s1, schema)
                c2 = _make_c2s2(
                    s1[s1_pos : s1_pos + _DIGEST_SIZE], _PLAYER_KEY, _draw(self._random_bytes, _C2S2_RANDOM)
                )
        self.done = True
        return c2
