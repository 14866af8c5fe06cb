"""FlvWriter.encode: tags parsed back, rebased per viewer, shared between viewers, one chunk per batch."""
import struct
from types import SimpleNamespace

from srsish.app.http.flv import FlvWriter
from srsish.app.live.consumer import UNPUBLISH, Consumer
from srsish.kernel.message import SharedMessage


def writer(chunked=False, base=None):
    consumer = Consumer(30000)
    consumer.base = base
    client = SimpleNamespace(conn=SimpleNamespace(sock=None, send_bytes=0))
    return FlvWriter(client, consumer, 350, 0, chunked)


def tags(data):
    out, i = [], 0
    while i < len(data):
        type_id, size = data[i], int.from_bytes(data[i + 1:i + 4], "big")
        ts = int.from_bytes(data[i + 4:i + 7], "big") | (data[i + 7] << 24)
        (prev,) = struct.unpack(">I", data[i + 11 + size:i + 15 + size])
        assert prev == 11 + size
        out.append((type_id, ts, data[i + 11:i + 11 + size]))
        i += 15 + size
    return out


def test_viewers_that_joined_together_share_every_buffer():
    msgs = [SharedMessage(9, 5000, b"\x17\x01" + bytes(900)), SharedMessage(8, 5010, b"\xaf\x01" + bytes(9))]
    a, b, late = writer(base=5000), writer(base=5000), writer(base=5010)
    out_a, out_b, out_late = a.encode(msgs), b.encode(msgs), late.encode(msgs)
    assert all(x is y for x, y in zip(out_a, out_b))
    assert tags(b"".join(out_a)) == [(9, 0, msgs[0].payload), (8, 10, msgs[1].payload)]
    assert tags(b"".join(out_late)) == [(9, 0, msgs[0].payload), (8, 0, msgs[1].payload)]
    assert out_late[3] is not out_a[3] and out_late[4] is out_a[4]   # its own header, the shared payload


def test_chunked_batch_is_one_chunk_and_unpublish_ends_the_body():
    w = writer(chunked=True, base=0)
    msg = SharedMessage(9, 40, b"\x27\x01" + bytes(100))
    body = b"".join(w.encode([msg, UNPUBLISH]))
    size, rest = body.split(b"\r\n", 1)
    assert int(size, 16) == 11 + 102 + 4 and rest[int(size, 16):] == b"\r\n0\r\n\r\n" and w.finished
    assert tags(rest[:int(size, 16)]) == [(9, 40, msg.payload)]
