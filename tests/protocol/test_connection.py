"""RtmpConnection in both roles over an in-memory link (h11's ConnectionPair idea): no sockets."""
import pytest

from srsish.core.errors import ProtocolError
from srsish.protocol import amf0
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.chunk import encode_message


class ConnectionPair:
    def __init__(self, complex_handshake=True):
        self.client = rc.RtmpConnection(rc.CLIENT, complex_handshake=complex_handshake)
        self.server = rc.RtmpConnection(rc.SERVER)
        self.client.start()
        self.pump()

    def pump(self):
        for _ in range(10):
            moved = False
            for a, b in ((self.client, self.server), (self.server, self.client)):
                data = a.data_to_send()
                if data:
                    b.receive_data(data)
                    moved = True
            if not moved:
                return
        raise AssertionError("link did not settle in 10 rounds")

    @staticmethod
    def events(conn):
        out = []
        while (ev := conn.next_event()) is not rc.NEED_DATA:
            out.append(ev)
        return out


@pytest.mark.parametrize("complex_handshake", [True, False])
def test_handshake_both_roles(complex_handshake):
    pair = ConnectionPair(complex_handshake)
    assert pair.events(pair.server) == [rc.HandshakeComplete(complex_handshake)]
    assert pair.events(pair.client) == [rc.HandshakeComplete(complex_handshake)]


def test_connect_command_round_trip_and_reply_sequence():
    pair = ConnectionPair()
    pair.events(pair.server), pair.events(pair.client)
    pair.client.send_command("connect", 1, {"app": "live", "tcUrl": "rtmp://h/live", "flashVer": "FMLE/3.0"})
    pair.pump()
    (ev,) = pair.events(pair.server)
    assert ev == rc.Command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live", "flashVer": "FMLE/3.0"}, [], 0, 0)
    s = pair.server
    s.send_window_ack_size(2500000)
    s.send_set_peer_bandwidth(2500000, 2)
    s.send_set_chunk_size(60000)
    s.send_command("_result", 1, {"fmsVer": "FMS/3,5,3,888"}, {"code": "NetConnection.Connect.Success"})
    pair.pump()
    evs = pair.events(pair.client)
    assert evs[:3] == [rc.WindowAckSize(2500000), rc.PeerBandwidth(2500000, 2), rc.ChunkSizeChanged(60000)]
    assert evs[3].name == "_result" and evs[3].args == [{"code": "NetConnection.Connect.Success"}]


def test_large_media_after_chunk_size_change_and_acks():
    pair = ConnectionPair()
    pair.events(pair.server), pair.events(pair.client)
    pair.client.send_set_chunk_size(4096)
    pair.client.send_window_ack_size(10000)   # the server must ack every 10000 bytes it receives
    pair.pump()
    payload = bytes(50000)
    pair.client.send_message(6, 9, 40, 1, b"\x17\x01" + payload)
    pair.pump()
    evs = pair.events(pair.server)
    assert evs[:3] == [rc.ChunkSizeChanged(4096), rc.WindowAckSize(10000), rc.Media(9, 40, 1, b"\x17\x01" + payload)]
    pair.pump()
    acks = [e for e in pair.events(pair.client) if isinstance(e, rc.Acknowledgement)]
    assert acks and acks[0].sequence == pair.server.bytes_received


def test_ping_request_is_answered_automatically():
    pair = ConnectionPair()
    pair.events(pair.server), pair.events(pair.client)
    pair.server.send_user_control(rc.UC_PING_REQUEST, 12345)
    pair.pump()
    assert rc.UserControl(rc.UC_PING_REQUEST, 12345) in pair.events(pair.client)
    pair.pump()
    assert rc.UserControl(rc.UC_PING_RESPONSE, 12345) in pair.events(pair.server)


def test_set_buffer_length_recorded():
    pair = ConnectionPair()
    pair.events(pair.server)
    pair.client.send_user_control(rc.UC_SET_BUFFER_LENGTH, 1, 3000)
    pair.pump()
    assert pair.events(pair.server) == [rc.UserControl(rc.UC_SET_BUFFER_LENGTH, 1, 3000)]
    assert pair.server.peer_buffer_ms == 3000


def test_set_data_frame_and_amf3_command():
    pair = ConnectionPair()
    pair.events(pair.server)
    meta = amf0.EcmaArray(width=320.0, height=240.0)
    pair.client.send_data(1, "@setDataFrame", "onMetaData", meta)
    pair.client.send_message(3, rc.MSG_AMF3_COMMAND, 0, 0, b"\x00" + amf0.encode("createStream", 2.0, None))
    pair.pump()
    data, cmd = pair.events(pair.server)
    assert data.name == "@setDataFrame" and data.values == ["onMetaData", meta]
    assert cmd.name == "createStream" and cmd.transaction_id == 2.0


def test_aggregate_message_is_split_and_rebased():
    def tag(t, ts, body):
        return bytes([t]) + len(body).to_bytes(3, "big") + ts.to_bytes(3, "big") + b"\x00" + bytes(3) + body + \
            (11 + len(body)).to_bytes(4, "big")
    agg = tag(9, 100, b"\x17\x01abc") + tag(8, 120, b"\xaf\x01xy")
    pair = ConnectionPair()
    pair.events(pair.server)
    pair.client.send_message(6, rc.MSG_AGGREGATE, 5000, 1, agg)
    pair.pump()
    assert pair.events(pair.server) == [rc.Media(9, 5000, 1, b"\x17\x01abc"), rc.Media(8, 5020, 1, b"\xaf\x01xy")]


def test_command_without_name_is_a_protocol_error():
    pair = ConnectionPair()
    pair.events(pair.server)
    pair.server.receive_data(encode_message(3, 20, 0, 0, amf0.encode(1.0, 2.0), 128))
    with pytest.raises(ProtocolError):
        pair.events(pair.server)


def test_short_control_payloads_are_protocol_errors():
    for type_id in (rc.MSG_SET_CHUNK_SIZE, rc.MSG_ACK, rc.MSG_WINDOW_ACK_SIZE, rc.MSG_SET_PEER_BANDWIDTH,
                    rc.MSG_USER_CONTROL):
        pair = ConnectionPair()
        pair.events(pair.server)
        pair.server.receive_data(encode_message(2, type_id, 0, 0, b"\x00\x01", 128))
        with pytest.raises(ProtocolError):
            pair.events(pair.server)


def test_peer_close_is_an_event():
    pair = ConnectionPair()
    pair.events(pair.server)
    pair.server.receive_data(b"")
    assert pair.events(pair.server) == [rc.ConnectionClosed()]
