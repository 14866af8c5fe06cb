"""Server- and client-role RTMP sessions talking in memory: SRS's exact answer sequences (srs.md 5)."""
import pytest

from srsish.protocol import amf0
from srsish.protocol.rtmp import connection as rc
from srsish.protocol.rtmp.session import events as se
from srsish.protocol.rtmp.session.server import IDENTIFY, PLAYING, PUBLISHING, SessionStateError

from session_pair import SessionPair, describe

SERVER_DATA = {"srs_sig": "srsish", "srs_server": "srsish/1", "srs_license": "MIT",
               "srs_url": "https://github.com/ossrs/srs", "srs_version": "1", "srs_server_ip": "127.0.0.1",
               "srs_pid": 42.0, "srs_id": "abcd1234"}
CMD, DATA = rc.MSG_AMF0_COMMAND, rc.MSG_AMF0_DATA


def connected_pair(**kw) -> SessionPair:
    pair = SessionPair(**kw)
    pair.client.connect("rtmp://example.com/live?token=t", "live", flashVer="FMLE/3.0", objectEncoding=3.0)
    server_events, _ = pair.exchange()
    assert isinstance(server_events[-1], se.ConnectRequested)
    pair.server.accept_connect(window_ack_size=2500000, chunk_size=60000, server_data=SERVER_DATA)
    _, client_events = pair.exchange()
    assert isinstance(client_events[-1], se.Connected)
    pair.tap.take()
    return pair


@pytest.mark.parametrize("complex_handshake", [True, False])
def test_connect_request_and_the_exact_reply_sequence(complex_handshake):
    pair = SessionPair(complex_handshake)
    pair.client.connect("rtmp://example.com:1936/live?token=t", "live", pageUrl="http://p", swfUrl="http://s")
    server_events, client_events = pair.exchange()
    assert server_events[0] == rc.HandshakeComplete(complex_handshake)
    req_ev = server_events[1]
    assert isinstance(req_ev, se.ConnectRequested) and req_ev.transaction_id == 1.0
    req = req_ev.request
    assert (req.host, req.port, req.app, req.param, req.pageUrl, req_ev.swf_url) == \
        ("example.com", 1936, "live", "?token=t", "http://p", "http://s")
    assert pair.server.data_to_send() == b""   # nothing is answered before the app decides

    pair.server.accept_connect(window_ack_size=2500000, chunk_size=60000, server_data=SERVER_DATA)
    _, client_events = pair.exchange()
    wire = [describe(m) for m in pair.tap.take()]
    assert wire[:3] == [(2, rc.MSG_WINDOW_ACK_SIZE, 0, (2500000).to_bytes(4, "big")),
                        (2, rc.MSG_SET_PEER_BANDWIDTH, 0, (2500000).to_bytes(4, "big") + b"\x02"),
                        (2, rc.MSG_SET_CHUNK_SIZE, 0, (60000).to_bytes(4, "big"))]
    csid, _, sid, name, tid, (props, info) = wire[3]
    assert (csid, sid, name, tid) == (3, 0, "_result", 1.0)
    assert props == {"fmsVer": "FMS/3,5,3,888", "capabilities": 127.0, "mode": 1.0}
    assert info["code"] == "NetConnection.Connect.Success" and info["objectEncoding"] == 0.0
    assert list(info["data"]) == ["version"] + list(SERVER_DATA) and info["data"]["version"] == "3,5,3,888"
    assert wire[4] == (3, CMD, 0, "onBWDone", 0.0, [None])
    assert len(wire) == 5
    assert client_events[:3] == [rc.WindowAckSize(2500000), rc.PeerBandwidth(2500000, 2), rc.ChunkSizeChanged(60000)]
    assert client_events[3] == se.Connected(props, info)


def test_object_encoding_is_echoed():
    pair = SessionPair()
    pair.client.connect("rtmp://h/live", "live", objectEncoding=3.0)
    pair.exchange()
    pair.server.accept_connect(window_ack_size=1, chunk_size=128, server_data={})
    _, client_events = pair.exchange()
    assert client_events[-1].info["objectEncoding"] == 3.0


def test_commands_before_connect_are_surfaced_as_ignored():
    pair = SessionPair()
    pair.client.call("createStream")
    server_events, _ = pair.exchange()
    assert server_events[-1] == se.CommandIgnored("createStream")
    assert pair.server.data_to_send() == b""


def test_rejected_connect_gets_connect_rejected():
    pair = SessionPair()
    pair.client.connect("rtmp://nowhere/live", "live")
    pair.exchange()
    pair.server.reject("vhost nowhere is not configured")
    _, client_events = pair.exchange()
    assert client_events[-1] == se.ConnectRejected(
        {"level": "error", "code": "NetConnection.Connect.Rejected", "description": "vhost nowhere is not configured"})


def test_fmle_publish_then_fcunpublish():
    pair = connected_pair()
    pair.client.publish("livestream?k=v")
    server_events, client_events = pair.exchange()
    assert server_events == [se.PublishRequested(pair.server.request, 1, 0.0, True)]
    req = server_events[0].request
    assert (req.stream, req.param, req.vhost) == ("livestream", "?token=t&k=v", "example.com")
    assert [type(e) for e in client_events] == [se.CallResult, se.CallResult, se.StreamCreated]
    assert client_events[0].args == [amf0.UNDEFINED] and client_events[2] == se.StreamCreated(1)
    pair.tap.take()

    pair.server.start_publish()
    assert pair.server.state == PUBLISHING
    _, client_events = pair.exchange()
    start = {"code": "NetStream.Publish.Start", "description": "Started publishing stream."}
    assert [describe(m) for m in pair.tap.take()] == [
        (5, CMD, 1, "onFCPublish", 0.0, [None, start]),
        (5, CMD, 1, "onStatus", 0.0, [None, {"level": "status", **start, "clientid": "abcd1234"}])]
    assert [(e.name, e.code, e.level) for e in client_events] == [
        ("onFCPublish", "NetStream.Publish.Start", ""), ("onStatus", "NetStream.Publish.Start", "status")]

    pair.client.send_metadata({"width": 64.0})
    pair.client.send_media(rc.MSG_VIDEO, 40, b"\x17\x01" + bytes(500))
    server_events, _ = pair.exchange()
    assert server_events == [se.Metadata([amf0.EcmaArray(width=64.0)], 0),
                             rc.Media(rc.MSG_VIDEO, 40, 1, b"\x17\x01" + bytes(500))]

    pair.client.unpublish()
    server_events, client_events = pair.exchange()
    assert server_events == [se.Unpublished()]
    assert pair.server.state == IDENTIFY
    done = {"code": "NetStream.Unpublish.Success"}
    assert [describe(m)[3:5] for m in pair.tap.take()] == [("onFCUnpublish", 0.0), ("_result", 5.0), ("onStatus", 0.0)]
    assert client_events[0] == se.Status("onFCUnpublish", done["code"], "", "Stop publishing stream.",
                                         {**done, "description": "Stop publishing stream."})
    assert client_events[1] == se.CallResult(5.0, [amf0.UNDEFINED])
    assert client_events[2].info == {"level": "status", **done, "description": "Stream is now unpublished",
                                     "clientid": "abcd1234"}


def test_flash_publish_has_no_onfcpublish_and_republish_resets_fmle():
    pair = connected_pair()
    pair.client.publish("first")
    pair.exchange()
    pair.server.start_publish()
    pair.exchange()
    pair.client.close_stream()
    server_events, _ = pair.exchange()
    assert server_events == [se.StreamClosed("closeStream")]
    pair.tap.take()
    pair.client.publish("second", fmle=False)
    server_events, _ = pair.exchange()
    assert server_events[-1].fc_publish is False
    pair.server.start_publish()
    pair.exchange()
    assert [describe(m)[3] for m in pair.tap.take()] == ["_result", "onStatus"]


def test_play_sequence_pause_and_close():
    pair = connected_pair()
    pair.client.play("livestream")
    server_events, client_events = pair.exchange()
    assert server_events == [se.PlayRequested(pair.server.request, 1, 0.0)]
    assert client_events == [se.StreamCreated(1)]
    pair.tap.take()

    pair.server.start_play()
    assert pair.server.state == PLAYING
    _, client_events = pair.exchange()
    wire = [describe(m) for m in pair.tap.take()]
    assert wire[0] == (2, rc.MSG_USER_CONTROL, 0, bytes.fromhex("0000 00000001"))
    assert [(w[0], w[2], w[3], w[5][1]["code"]) for w in wire[1:3]] == [
        (5, 1, "onStatus", "NetStream.Play.Reset"), (5, 1, "onStatus", "NetStream.Play.Start")]
    assert wire[1][5][1] == {"level": "status", "code": "NetStream.Play.Reset", "description":
                             "Playing and resetting stream.", "details": "stream", "clientid": "abcd1234"}
    assert wire[3] == (5, DATA, 1, ["|RtmpSampleAccess", True, True])
    assert len(wire) == 4
    assert client_events[0] == rc.UserControl(rc.UC_STREAM_BEGIN, 1)

    pair.client.pause(True)
    server_events, client_events = pair.exchange()
    assert server_events == [se.PauseChanged(True)]
    assert [getattr(e, "code", None) or e.event for e in client_events] == ["NetStream.Pause.Notify", rc.UC_STREAM_EOF]
    pair.client.pause(False)
    server_events, client_events = pair.exchange()
    assert server_events == [se.PauseChanged(False)]
    assert [getattr(e, "code", None) or e.event for e in client_events] == ["NetStream.Unpause.Notify",
                                                                            rc.UC_STREAM_BEGIN]
    tid = pair.client.call("someCall")
    _, client_events = pair.exchange()
    assert client_events == [se.CallResult(tid, [None])]

    pair.client.close_stream()
    server_events, _ = pair.exchange()
    assert server_events == [se.StreamClosed("closeStream")] and pair.server.state == IDENTIFY


def test_markers_render_bytes_without_touching_the_session_output():
    pair = connected_pair()
    pair.client.play("livestream")
    pair.exchange()
    pair.server.start_play()
    pair.exchange()
    gone, back = pair.server.unpublish_notify(), pair.server.publish_notify()
    assert pair.server.data_to_send() == b""
    pair.client.receive_data(gone + back)
    events = pair.events(pair.client)
    assert events[0] == rc.UserControl(rc.UC_STREAM_EOF, 1)
    assert events[1].info == {"level": "status", "code": "NetStream.Play.UnpublishNotify",
                              "description": "The stream is unpublished."}
    assert events[2] == rc.UserControl(rc.UC_STREAM_BEGIN, 1)
    assert events[3].code == "NetStream.Play.PublishNotify"


def test_identify_answers():
    pair = connected_pair()
    tids = [pair.client.call("fooBar"), pair.client.call("_checkbw"), pair.client.call("getStreamLength", "s")]
    server_events, client_events = pair.exchange()
    assert server_events == []
    assert client_events == [
        se.CallFailed(tids[0], {"level": "error", "code": "NetConnection.Call.Failed",
                                "description": "Method not found (fooBar)"}),
        se.CallResult(tids[1], [None]),
        se.CallResult(tids[2], [0.0])]


def test_unknown_method_without_transaction_id_gets_no_answer():
    pair = connected_pair()
    pair.client.conn.send_command("fooBar", 0, None)
    pair.exchange()
    assert pair.tap.take() == []


@pytest.mark.parametrize("verb, code", [("publish", "NetStream.Publish.BadName"), ("play", "NetStream.Play.Failed")])
def test_rejected_stream_gets_status_with_the_reason(verb, code):
    pair = connected_pair()
    getattr(pair.client, verb)("livestream")
    pair.exchange()
    pair.server.reject("hook said no")
    _, client_events = pair.exchange()
    status = [e for e in client_events if isinstance(e, se.Status)]
    assert status == [se.Status("onStatus", code, "error", "hook said no",
                                {"level": "error", "code": code, "description": "hook said no"})]
    with pytest.raises(SessionStateError):
        pair.server.start_publish()


def test_answers_out_of_order_are_refused():
    pair = connected_pair()
    with pytest.raises(SessionStateError):
        pair.server.start_play()
    pair.client.publish("s")
    pair.exchange()
    with pytest.raises(SessionStateError):
        pair.server.start_play()
