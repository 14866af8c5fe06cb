"""Tests for srsish.protocol.rtmp.handshake: client/server pairs, golden bytes, errors, and ffmpeg interop."""
import hashlib
import hmac
import itertools
import shutil
import socket
import subprocess
import threading
import time

import pytest

from srsish.core.errors import ProtocolError
from srsish.protocol import amf0
from srsish.protocol.rtmp.handshake import ClientHandshake, HandshakeError, ServerHandshake

# The public keys, restated here so the tests do not just mirror the module (librtmp handshake.h,
# ffmpeg rtmpproto.c and SRS srs_protocol_rtmp_handshake.cpp all carry the same bytes).
KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
PLAYER_KEY = b"Genuine Adobe Flash Player 001" + KEY_TAIL
SERVER_KEY = b"Genuine Adobe Flash Media Server 001" + KEY_TAIL


def hmac256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def digest_pos(packet: bytes, schema: int) -> int:
    block = 772 if schema == 0 else 8
    return block + 4 + sum(packet[block : block + 4]) % 728


def digest_ok(packet: bytes, schema: int, key: bytes) -> bool:
    pos = digest_pos(packet, schema)
    return hmac256(key, packet[:pos] + packet[pos + 32 :]) == packet[pos : pos + 32]


def stream(label: bytes):
    """A deterministic random_bytes: SHA-256 in counter mode, so golden bytes do not depend on Python's PRNG."""
    counter = itertools.count()

    def random_bytes(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(label + next(counter).to_bytes(4, "big")).digest()
        return out[:n]

    return random_bytes


def make_c1(schema, *, time_=0x1234, version=bytes.fromhex("80000702"), label=b"c1") -> bytes:
    """A C1 built by hand; schema None means a simple-handshake C1 without digest."""
    c1 = bytearray(time_.to_bytes(4, "big") + version + stream(label)(1528))
    if schema is not None:
        pos = digest_pos(c1, schema)
        c1[pos : pos + 32] = hmac256(PLAYER_KEY[:30], bytes(c1[:pos] + c1[pos + 32 :]))
    return bytes(c1)


def feed(side, data: bytes, step: int | None) -> bytes:
    """Feed `data` all at once (step None) or `step` bytes at a time; collect what `side` answers."""
    if step is None:
        return side.receive_data(data)
    return b"".join(side.receive_data(data[i : i + step]) for i in range(0, len(data), step))


# ------------------------------------------------------------------------------------------------
# Keys and error type.


def test_well_known_keys():
    assert len(PLAYER_KEY) == 62 and len(SERVER_KEY) == 68
    assert HandshakeError.__mro__[1] is ProtocolError and issubclass(HandshakeError, ValueError)


# ------------------------------------------------------------------------------------------------
# Client against server.


@pytest.mark.parametrize("step", [None, 1, 7, 1000], ids=["all-at-once", "byte-at-a-time", "7-bytes", "1000-bytes"])
@pytest.mark.parametrize("complex_", [True, False], ids=["complex", "simple"])
def test_client_server_pair(complex_, step):
    client = ClientHandshake(complex=complex_, now_ms=1000)
    server = ServerHandshake(now_ms=2000)
    c0c1 = client.start()
    assert len(c0c1) == 1537 and c0c1[0] == 3

    s0s1s2 = feed(server, c0c1, step)
    assert len(s0s1s2) == 3073 and s0s1s2[0] == 3
    assert not server.done

    c2 = feed(client, s0s1s2, step)
    assert len(c2) == 1536 and client.done
    assert client.server_complex is complex_

    assert feed(server, c2, step) == b""
    assert server.done and server.complex is complex_
    assert server.leftover == b"" and client.leftover == b""


def test_complex_pair_verifies_all_signatures():
    client = ClientHandshake(now_ms=1, random_bytes=stream(b"client"))
    server = ServerHandshake(now_ms=2, random_bytes=stream(b"server"))
    c0c1 = client.start()
    c1 = c0c1[1:]
    assert c1[4:8] == bytes.fromhex("80000702")
    assert digest_ok(c1, 1, PLAYER_KEY[:30])  # the client signs with schema 1, as SRS's and ffmpeg's do

    s0s1s2 = server.receive_data(c0c1)
    s1, s2 = s0s1s2[1:1537], s0s1s2[1537:]
    assert s1[:8] == bytes.fromhex("00000002 04050001")
    assert digest_ok(s1, 1, SERVER_KEY[:36])  # S1 follows the client's schema
    c1_digest = c1[digest_pos(c1, 1) :][:32]
    assert s2[1504:] == hmac256(hmac256(SERVER_KEY, c1_digest), s2[:1504])

    c2 = client.receive_data(s0s1s2)
    s1_digest = s1[digest_pos(s1, 1) :][:32]
    assert c2[1504:] == hmac256(hmac256(PLAYER_KEY, s1_digest), c2[:1504])


@pytest.mark.parametrize("schema", [0, 1])
@pytest.mark.parametrize("step", [None, 1])
def test_server_accepts_both_schemas(schema, step):
    c1 = make_c1(schema)
    server = ServerHandshake(random_bytes=stream(b"server"))
    out = feed(server, b"\x03" + c1, step)
    assert server.complex
    s1, s2 = out[1:1537], out[1537:]
    assert digest_ok(s1, schema, SERVER_KEY[:36])
    assert not digest_ok(s1, 1 - schema, SERVER_KEY[:36])
    assert s2[1504:] == hmac256(hmac256(SERVER_KEY, c1[digest_pos(c1, schema) :][:32]), s2[:1504])
    feed(server, bytes(1536), step)
    assert server.done


def test_client_accepts_a_schema0_server():
    # A server that answers with a schema-0 S1 regardless of our schema-1 C1 (FMS-style).
    client = ClientHandshake(random_bytes=stream(b"client"))
    c1 = client.start()[1:]
    s1 = bytearray(bytes(4) + bytes.fromhex("03050101") + stream(b"s1")(1528))
    pos = digest_pos(s1, 0)
    s1[pos : pos + 32] = hmac256(SERVER_KEY[:36], bytes(s1[:pos] + s1[pos + 32 :]))
    s2_random = stream(b"s2")(1504)
    s2 = s2_random + hmac256(hmac256(SERVER_KEY, c1[digest_pos(c1, 1) :][:32]), s2_random)
    c2 = client.receive_data(b"\x03" + bytes(s1) + s2)
    assert client.done and client.server_complex
    assert c2[1504:] == hmac256(hmac256(PLAYER_KEY, bytes(s1[pos : pos + 32])), c2[:1504])


# ------------------------------------------------------------------------------------------------
# Golden bytes: a fixed C1 and a fixed server random give one exact S0+S1+S2.

GOLDEN_C1_DIGEST = bytes.fromhex("21e75370c1b4f372197426e6851457dad135832bb6a8827908c201aa165ea6d0")
GOLDEN_S1_DIGEST = bytes.fromhex("f41b3a4baa598e019b804156b18918b75c7171c0b4fc6547ea3d6c433f857ee0")
GOLDEN_S2_SIGNATURE = bytes.fromhex("dc3cb8b700ec476925bedd741f03e0897d05dfd781cb2ecae7f19236b13b4387")


def test_golden_complex_s0s1s2():
    c1 = make_c1(1)
    assert digest_pos(c1, 1) == 613 and c1[613:645] == GOLDEN_C1_DIGEST  # C1 offset bytes sum to 601

    server = ServerHandshake(now_ms=0x5A5A5A5A, random_bytes=stream(b"server"))
    out = server.receive_data(b"\x03" + c1)

    # The server draws 1528 bytes for S1's body, then 1504 for S2's random part.
    server_random = stream(b"server")
    s1_body, s2_random = server_random(1528), server_random(1504)
    # S1's digest block starts at 8 (schema 1, like the C1): offset bytes 5c 6d cb 69 sum to 509,
    # so the digest sits at 8 + 4 + 509 % 728 = 521.
    assert s1_body[:4].hex() == "5c6dcb69"
    expected_s1 = bytes.fromhex("5a5a5a5a 04050001") + s1_body[: 521 - 8] + GOLDEN_S1_DIGEST + s1_body[521 - 8 + 32 :]
    expected_s2 = s2_random + GOLDEN_S2_SIGNATURE
    assert out == b"\x03" + expected_s1 + expected_s2
    assert hashlib.sha256(out).hexdigest() == "8479b9207bbfe59136f256cf4474b8a4fac5f4509a1900ae93ba70604c4cd8c3"
    # And the literals are what the published formulas give.
    assert digest_ok(expected_s1, 1, SERVER_KEY[:36])
    assert GOLDEN_S2_SIGNATURE == hmac256(hmac256(SERVER_KEY, GOLDEN_C1_DIGEST), s2_random)


def test_golden_simple_fallback():
    c1 = make_c1(None, version=bytes(4))
    server = ServerHandshake(now_ms=0x0102030405, random_bytes=stream(b"server"))
    out = server.receive_data(b"\x03" + c1)
    assert not server.complex
    # S1 = time (ms, modulo 2**32) + zero version + random; S2 echoes C1.
    assert out == b"\x03" + bytes.fromhex("02030405 00000000") + stream(b"server")(1528) + c1


def test_server_falls_back_to_simple_on_a_bad_digest():
    c1 = bytearray(make_c1(1))
    c1[digest_pos(c1, 1)] ^= 0xFF
    server = ServerHandshake()
    out = server.receive_data(b"\x03" + bytes(c1))
    assert not server.complex and out[1537:] == bytes(c1)


def test_client_time_and_versions():
    c1 = ClientHandshake(complex=False, now_ms=2**32 + 7).start()[1:]
    assert c1[:8] == bytes.fromhex("00000007 00000000")
    assert not digest_ok(c1, 0, PLAYER_KEY[:30]) and not digest_ok(c1, 1, PLAYER_KEY[:30])


# ------------------------------------------------------------------------------------------------
# Pipelining and leftovers.


@pytest.mark.parametrize("step", [None, 1, 100])
def test_server_leftover_after_c2(step):
    client, server = ClientHandshake(), ServerHandshake()
    s0s1s2 = feed(server, client.start(), step)
    first_chunk = bytes.fromhex("030000000000c514000000000200")  # start of a connect chunk
    assert feed(server, client.receive_data(s0s1s2) + first_chunk, step) == b""
    assert server.done and server.leftover == first_chunk
    server.receive_data(b"more")
    assert server.leftover == first_chunk + b"more"


def test_server_gets_c0_c1_c2_in_one_read():
    # A client that does not wait for S1 (allowed for the simple handshake) sends everything at once.
    c1 = make_c1(None, version=bytes(4))
    server = ServerHandshake()
    out = server.receive_data(b"\x03" + c1 + c1 + b"\x02")
    assert len(out) == 3073 and server.done and server.leftover == b"\x02"


def test_server_waits_for_full_c0c1_and_c2():
    server = ServerHandshake()
    c0c1 = ClientHandshake().start()
    assert server.receive_data(c0c1[:1536]) == b""
    assert len(server.receive_data(c0c1[1536:])) == 3073
    assert server.receive_data(bytes(1535)) == b"" and not server.done
    assert server.receive_data(b"\x00") == b"" and server.done
    assert server.receive_data(b"") == b""


def test_client_leftover_after_s2():
    client, server = ClientHandshake(), ServerHandshake()
    s0s1s2 = server.receive_data(client.start())
    assert client.receive_data(s0s1s2 + b"\x02\x00") != b""
    assert client.done and client.leftover == b"\x02\x00"
    assert client.receive_data(b"\x01") == b"" and client.leftover == b"\x02\x00\x01"


# ------------------------------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize("c0", [0x06, 0x08, 0x00, 0x47])  # RTMPE, RTMPTE, nonsense, "GET ..."
def test_server_rejects_bad_c0_at_once(c0):
    server = ServerHandshake()
    with pytest.raises(HandshakeError, match=f"C0 is 0x{c0:02x}"):
        server.receive_data(bytes([c0]))


def test_client_rejects_bad_s0():
    client = ClientHandshake()
    client.start()
    with pytest.raises(HandshakeError, match="S0 is 0x06"):
        client.receive_data(b"\x06")


def test_complex_client_rejects_a_server_that_claims_complex_without_a_valid_digest():
    client = ClientHandshake()
    client.start()
    s1 = bytes(4) + bytes.fromhex("04050001") + stream(b"junk")(1528)
    with pytest.raises(HandshakeError, match=r"version 4\.5\.0\.1.*digest does not verify"):
        client.receive_data(b"\x03" + s1 + bytes(1536))


def test_complex_client_rejects_a_bad_s2():
    client, server = ClientHandshake(), ServerHandshake()
    out = bytearray(server.receive_data(client.start()))
    out[-1] ^= 0x01
    with pytest.raises(HandshakeError, match="S2"):
        client.receive_data(bytes(out))


def test_complex_client_accepts_a_simple_server():
    # Version 0 in S1 means the server does not do the digest handshake: echo S1.
    client = ClientHandshake()
    c1 = client.start()[1:]
    s1 = bytes(8) + stream(b"s1")(1528)
    c2 = client.receive_data(b"\x03" + s1 + c1)
    assert client.done and not client.server_complex and c2 == s1


def test_simple_client_echoes_s1_even_from_a_complex_server():
    server = ServerHandshake()
    out = server.receive_data(b"\x03" + make_c1(1))
    assert server.complex
    client = ClientHandshake(complex=False)
    client.start()
    assert client.receive_data(out) == out[1:1537]
    assert client.server_complex  # S1 did carry a valid digest; a simple client just does not use it


def test_server_does_not_verify_c2():
    client, server = ClientHandshake(), ServerHandshake()
    server.receive_data(client.start())
    server.receive_data(b"\xff" * 1536)
    assert server.done and server.complex


def test_misuse():
    client = ClientHandshake()
    with pytest.raises(RuntimeError):
        client.receive_data(b"\x03")
    client.start()
    with pytest.raises(RuntimeError):
        client.start()
    with pytest.raises(ValueError, match="random_bytes"):
        ServerHandshake(random_bytes=lambda n: b"short").receive_data(ClientHandshake().start())


# ------------------------------------------------------------------------------------------------
# Real ffmpeg.

FFMPEG = shutil.which("ffmpeg")


def _dechunk_first_message(data: bytes) -> tuple[int, bytes] | None:
    """The first RTMP message in `data` if it is complete: fmt-0 header on a one-byte csid, 128-byte chunks."""
    if len(data) < 12:
        return None
    assert data[0] >> 6 == 0 and 2 <= data[0] & 0x3F < 64, data[:12].hex()
    length, msg_type = int.from_bytes(data[4:7], "big"), data[7]
    payload, pos = b"", 12
    while len(payload) < length:
        if payload:
            if pos >= len(data):
                return None
            assert data[pos] == 0xC0 | data[0], "expected a fmt-3 continuation chunk"
            pos += 1
        take = min(128, length - len(payload))
        if pos + take > len(data):
            return None
        payload += data[pos : pos + take]
        pos += take
    return msg_type, payload


@pytest.mark.timeout(60)
def test_ffmpeg_player_completes_complex_handshake_with_our_server():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)
    port = listener.getsockname()[1]
    result: dict = {}

    def serve():
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(20)
                hs = ServerHandshake()
                while not hs.done:
                    data = conn.recv(65536)
                    if not data:
                        return
                    out = hs.receive_data(data)
                    if out:
                        conn.sendall(out)
                result["complex"] = hs.complex
                pending = hs.leftover
                while (message := _dechunk_first_message(pending)) is None:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                result["message"] = message
        except Exception as e:  # reported by the assertions below
            result["error"] = repr(e)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    proc = subprocess.Popen(
        [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "debug", "-i", f"rtmp://127.0.0.1:{port}/live/x"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        thread.join(30)
    finally:
        listener.close()
        proc.kill()
        stderr = proc.communicate(timeout=30)[1].decode("utf-8", "replace")

    assert "error" not in result, result
    # ffmpeg checks S1's digest and S2's signature because our server version's first byte is >= 3.
    assert "Server version 4.5.0.1" in stderr, stderr
    assert "Signature mismatch" not in stderr and "validating failed" not in stderr, stderr
    assert result.get("complex") is True
    # Its next step after the handshake is the connect command, which our AMF0 decoder reads.
    msg_type, payload = result["message"]
    assert msg_type == 20
    values = amf0.decode_command(payload)
    assert values[:2] == ["connect", 1.0]
    assert values[2]["app"] == "live" and values[2]["tcUrl"] == f"rtmp://127.0.0.1:{port}/live"


@pytest.mark.timeout(60)
def test_our_client_completes_handshake_with_ffmpeg_server():
    # ffmpeg -listen answers with a zero server version (simple handshake); once the handshake is
    # done it reads our connect and answers NetConnection.Connect.Success.
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen(
        [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "debug", "-listen", "1", "-timeout", "20",
         "-i", f"rtmp://127.0.0.1:{port}/live/x"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=20)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        with conn:
            client = ClientHandshake()
            conn.sendall(client.start())
            while not client.done:
                data = conn.recv(65536)
                assert data, "ffmpeg closed the connection during the handshake"
                out = client.receive_data(data)
                if out:
                    conn.sendall(out)
            assert not client.server_complex
            payload = amf0.encode("connect", 1.0, {"app": "live", "tcUrl": f"rtmp://127.0.0.1:{port}/live"})
            assert len(payload) <= 128  # one chunk
            header = b"\x03" + bytes(3) + len(payload).to_bytes(3, "big") + b"\x14" + bytes(4)
            conn.sendall(header + payload)
            received = client.leftover
            while b"NetConnection.Connect.Success" not in received:
                data = conn.recv(65536)
                if not data:
                    break
                received += data
    finally:
        proc.kill()
        stderr = proc.communicate(timeout=30)[1].decode("utf-8", "replace")
    assert b"NetConnection.Connect.Success" in received, stderr
    assert "Erroneous C2" not in stderr, stderr
