"""ViewerWatch: bytes a viewer sends are counted, its leaving is reported once, and no greenlet
waits on its socket in the meantime."""
import gevent
from gevent import socket

from srsish.app.http.viewer_watch import ViewerWatch


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.recv_bytes = 0


def watched_pair():
    ours, viewer = socket.socketpair()
    conn = Conn(ours)
    left = []
    return conn, viewer, left, ViewerWatch(conn, lambda: left.append(1))


def test_bytes_are_counted_and_hanging_up_is_reported_once():
    conn, viewer, left, watch = watched_pair()
    gevent.sleep(0.05)
    assert watch._reader is None, "a greenlet was started before the viewer did anything"
    viewer.sendall(b"hello")
    gevent.sleep(0.05)
    assert conn.recv_bytes == 5 and not left and watch.left is None
    viewer.sendall(b"again")
    gevent.sleep(0.05)
    assert conn.recv_bytes == 10 and not left
    viewer.shutdown(socket.SHUT_WR)
    gevent.sleep(0.05)
    assert left == [1] and watch.left == "closed"
    watch.stop()
    viewer.close()
    conn.sock.close()


def test_a_reset_is_a_leave_with_its_error():
    conn, viewer, left, watch = watched_pair()
    conn.sock.sendall(b"x" * 10)   # unread data on the viewer's side makes its close a reset
    gevent.sleep(0.01)
    viewer.close()
    gevent.sleep(0.05)
    assert left == [1] and watch.left is not None
    watch.stop()
    conn.sock.close()


def test_stop_ends_the_watch():
    conn, viewer, left, watch = watched_pair()
    watch.stop()
    viewer.sendall(b"late")
    viewer.close()
    gevent.sleep(0.05)
    assert not left and conn.recv_bytes == 0
    conn.sock.close()
