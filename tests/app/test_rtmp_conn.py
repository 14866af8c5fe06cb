"""RtmpConn without a Server: a socketpair, the narrow RtmpServices, and a client-role RtmpConnection as the peer."""
import gevent
import pytest
from gevent import socket as gsocket

from srsish.app.clients import ClientRegistry
from srsish.app.config import load_config
from srsish.app.hooks.http_hooks import HttpHooks
from srsish.app.live.source import SourceRegistry
from srsish.app.rtmp.conn import RtmpConn, RtmpServices
from srsish.protocol.rtmp import connection as rc

AVC_SH = bytes([0x17, 0, 0, 0, 0]) + bytes.fromhex("0164001fffe1000467640028ac010004e8ee3c80")
KEY = bytes([0x17, 1, 0, 0, 0]) + b"\x00\x00\x00\x02\x65\x88"


class Peer:
    """The client side of the socketpair, driven by the sans-IO client role."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.conn = rc.RtmpConnection(rc.CLIENT)
        self.conn.start()
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def next_event(self, timeout: float = 5.0):
        with gevent.Timeout(timeout):
            while True:
                ev = self.conn.next_event()
                if ev is not rc.NEED_DATA:
                    return ev
                self.flush()
                data = self.sock.recv(65536)
                assert data, "server closed the connection"
                self.conn.receive_data(data)

    def command(self, name: str, timeout: float = 5.0) -> rc.Command:
        while True:
            ev = self.next_event(timeout)
            if isinstance(ev, rc.Command) and (ev.name == name or name == "*"):
                return ev


@pytest.fixture
def served():
    config = load_config(None, env={})
    sources, clients = SourceRegistry(), ClientRegistry()
    hubs = []
    services = RtmpServices(config=lambda: config, sources=sources, hooks=HttpHooks("srv", "svc"),
                            start_origin=lambda *args: hubs.append(args) or None)
    a, b = _tcp_pair()
    conn = RtmpConn(a, ("127.0.0.1", 5555), services)
    clients.add(conn)
    g = gevent.spawn(conn.serve)
    peer = Peer(b)
    yield peer, conn, sources, hubs
    g.kill()
    b.close()


def _tcp_pair():
    """Two ends of a loopback TCP connection (the connect reply names the server's address)."""
    with gsocket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        b = gsocket.create_connection(listener.getsockname())
        a, _ = listener.accept()
    return a, b


def _connect(peer: Peer) -> rc.Command:
    assert isinstance(peer.next_event(), rc.HandshakeComplete)
    peer.conn.send_command("connect", 1, {"app": "live", "tcUrl": "rtmp://127.0.0.1/live?token=t"})
    peer.flush()
    return peer.command("_result")


def test_publish_reaches_the_source_registry(served):
    peer, conn, sources, hubs = served
    reply = _connect(peer)
    assert reply.args[0]["code"] == "NetConnection.Connect.Success"
    assert reply.args[0]["data"]["srs_id"] == conn.id
    peer.conn.send_command("createStream", 2, None)
    peer.flush()
    assert peer.command("_result").args[0] == 1.0
    peer.conn.send_command("publish", 3, None, "cam1", "live", stream_id=1)
    peer.flush()
    status = peer.command("onStatus")
    assert status.args[0]["code"] == "NetStream.Publish.Start"
    peer.conn.send_message(rc.CSID_VIDEO, rc.MSG_VIDEO, 0, 1, AVC_SH)
    peer.conn.send_message(rc.CSID_VIDEO, rc.MSG_VIDEO, 40, 1, KEY)
    peer.flush()

    def published():
        src = sources.publishing("__defaultVhost__", "live", "cam1")
        return src is not None and src.video_sh is not None and src.gop.messages
    with gevent.Timeout(5):
        while not published():
            gevent.sleep(0.01)
    src = sources.get("__defaultVhost__", "live", "cam1")
    assert src.publisher is conn and conn.source is src
    assert len(hubs) == 1 and hubs[0][1].stream == "cam1" and hubs[0][1].param == "?token=t"
    assert conn.describe()["type"] == "flash-publish"   # no FCPublish was sent

    peer.sock.close()   # the publisher leaves: its source goes idle and is released
    with gevent.Timeout(5):
        while sources.get("__defaultVhost__", "live", "cam1") is not None:
            gevent.sleep(0.01)


def test_unknown_method_gets_an_error_naming_it(served):
    peer, conn, sources, hubs = served
    _connect(peer)
    peer.conn.send_command("noSuchMethod", 7, None)
    peer.flush()
    err = peer.command("_error")
    assert err.transaction_id == 7 and "noSuchMethod" in err.args[0]["description"]
