"""QueueWriter over a socketpair: merged writes, partial sends, mw_msgs in min_latency mode."""
from gevent import socket

import gevent

from srsish.app.live.consumer import Consumer
from srsish.app.live.writer import QueueWriter, send_iov, send_now, unsent
from srsish.kernel.message import SharedMessage


class RawWriter(QueueWriter):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.batches = []

    def encode(self, items):
        self.batches.append(len(items))
        return [m.payload for m in items]


def test_send_iov_loops_on_partial_sends():
    a, b = socket.socketpair()
    a.setblocking(True)
    bufs = [bytes([i]) * 100000 for i in range(8)]
    got = bytearray()

    def reader():
        while len(got) < 800000:
            got.extend(b.recv(1 << 20))
    g = gevent.spawn(reader)
    assert send_iov(a, list(bufs)) == 800000
    g.join(timeout=10)
    assert bytes(got) == b"".join(bufs)


def test_first_batch_goes_at_once_then_writes_merge():
    a, b = socket.socketpair()
    c = Consumer(30000)
    c.enqueue(SharedMessage(9, 0, b"\x17\x01k"))
    w = RawWriter(a, c, mw_latency_ms=200)
    g = gevent.spawn(w.run)
    gevent.sleep(0.05)
    assert w.batches == [1]              # the GOP burst did not wait
    for ts in range(10):
        c.enqueue(SharedMessage(9, ts, b"\x27\x01x"))
        gevent.sleep(0.005)
    gevent.sleep(0.3)
    assert w.batches[1:] == [10]         # ten messages, one send
    c.close()
    g.join(timeout=2)
    assert g.dead and w.error is None


def test_min_latency_waits_for_mw_msgs():
    a, b = socket.socketpair()
    c = Consumer(30000)
    w = RawWriter(a, c, mw_latency_ms=0, mw_msgs=4)
    c.enqueue(SharedMessage(9, 0, b"\x17\x01k"))
    g = gevent.spawn(w.run)
    gevent.sleep(0.01)
    for ts in range(4):
        c.enqueue(SharedMessage(9, ts, b"\x27\x01x"))
        gevent.sleep(0.002)
    gevent.sleep(0.1)
    assert w.batches == [1, 4]
    c.close()
    g.join(timeout=2)


def test_writer_records_a_broken_socket_instead_of_raising():
    a, b = socket.socketpair()
    b.close()
    c = Consumer(30000)
    c.enqueue(SharedMessage(9, 0, b"\x17\x01" + bytes(100000)))
    w = RawWriter(a, c, mw_latency_ms=0)
    g = gevent.spawn(w.run)
    g.join(timeout=2)
    assert g.dead and g.exception is None and isinstance(w.error, OSError)


def test_send_now_takes_what_fits_without_waiting_and_unsent_is_the_rest():
    a, b = socket.socketpair()
    bufs = [bytes([i]) * 1_000_000 for i in range(8)]   # far more than a socket buffer
    sent = send_now(a, bufs)                              # returns at once: no reader, no greenlet switch
    assert 0 < sent < 8_000_000
    rest = unsent(bufs, sent)
    assert sum(map(len, rest)) == 8_000_000 - sent and bytes(rest[-1]) == bufs[-1]
    assert bytes(unsent([b"abc", b"def"], 4)[0]) == b"ef" and unsent([b"abc"], 3) == []
    b.close()


def test_writer_finishes_a_batch_the_socket_could_not_take_at_once():
    a, b = socket.socketpair()
    c = Consumer(30000)
    payloads = [bytes([i]) * 500_000 for i in range(6)]
    for i, p in enumerate(payloads):
        c.enqueue(SharedMessage(9, i, p))
    w = RawWriter(a, c, mw_latency_ms=100)
    g = gevent.spawn(w.run)
    got = bytearray()
    while len(got) < 3_000_000:
        got.extend(b.recv(1 << 20))
    assert bytes(got) == b"".join(payloads) and w.batches == [6]
    c.close()
    g.join(timeout=2)
    assert g.dead and w.error is None
