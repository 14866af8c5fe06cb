"""HTTP callbacks (issue 3) end to end: a real srsish process, real ffmpeg peers (or the
raw RTMP client where timing matters), and a real HTTP(S) receiver in the test process
(helpers.hooks_receiver) that records every request and answers as each test scripts it.

What is proven here: SRS's bodies (keys, order, JSON types, values), event order per
client, several URLs per event (in order; gating stops at the first failure; notify hooks
call all), SRS's reply table on on_publish with the reason shown by ffmpeg, no
Publish.Start / onFCPublish / Play.Start before the gate said yes, a hanging backend
delaying only its own client, HTTPS with certificate verification, SIGHUP reload of the
URLs, exactly one on_close per client however it ends, and the bundled callback server
with token auth.
"""
import json
import os
import re
import signal
import ssl
import sys
import time

import pytest

from helpers import peers
from helpers.hooks_receiver import OK, HookReceiver, Reply
from helpers.probe import ffprobe_frames
from helpers.rtmp_raw import MSG_USER_CONTROL, UC_STREAM_BEGIN, RtmpRawClient
from helpers.server import REPO_ROOT, SrsishProcess, run_srsish_cli, srsish_env
from helpers.util import free_port, port_open, wait_for

pytestmark = pytest.mark.e2e

SAMPLES = os.path.join(REPO_ROOT, "tests", "data", "srs-hook-samples")
# One captured SRS 7.0.18 request per event (RTMP publisher / RTMP player, ffmpeg).
SAMPLE_OF = {
    "on_connect": "main-003-on_connect-rtmp-pub-urla.json",
    "on_publish": "main-005-on_publish-rtmp-pub-urla.json",
    "on_unpublish": "main-048-on_unpublish-rtmp-pub-urla.json",
    "on_play": "main-012-on_play-rtmp-play-urla.json",
    "on_stop": "main-025-on_stop-rtmp-play-urla.json",
    "on_close": "main-052-on_close-rtmp-pub-urla.json",
}
EVENTS = ("on_connect", "on_close", "on_publish", "on_unpublish", "on_play", "on_stop")
ID8 = re.compile(r"^[0-9a-z]{8}$")
VID = re.compile(r"^vid-[0-9a-z]{7}$")


# ----------------------------------------------------------------------------- helpers
def hooks_block(urls: dict, timeout=None, tls_verify=None) -> str:
    """An `http_hooks { ... }` block (inside a vhost) from {event: [url, ...]}."""
    lines = ["    http_hooks {", "        enabled on;"]
    for event, us in urls.items():
        lines.append("        %s %s;" % (event, " ".join(us)))
    if timeout is not None:
        lines.append("        timeout %s;" % timeout)
    if tls_verify is not None:
        lines.append("        tls_verify %s;" % ("on" if tls_verify else "off"))
    lines.append("    }")
    return "\n".join(lines)


def tagged(rx: HookReceiver, tags=("a",), events=EVENTS) -> dict:
    """{event: [/hooks/<tag>/<event> for each tag]} on the receiver."""
    return {ev: [rx.url("/hooks/%s/%s" % (t, ev)) for t in tags] for ev in events}


def sample_body(event: str) -> tuple:
    """(raw body text, parsed body) of the captured SRS request for `event`."""
    with open(os.path.join(SAMPLES, SAMPLE_OF[event]), encoding="utf-8") as f:
        s = json.load(f)
    raw = s["request"]["body"]
    return raw, json.loads(raw)


def seq(rx: HookReceiver, client_id: str) -> list:
    """(action, tag) of each first attempt of the client's hooks, in arrival order (retries left out)."""
    return [(r.action, r.tag) for r in rx.find(client_id=client_id) if r.header("X-Srsish-Attempt") == "1"]


def retried(rx: HookReceiver, client_id: str, action: str, tag: str) -> bool:
    """The refused notification came again: attempt 2, the same event id."""
    tries = [r for r in rx.find(client_id=client_id, action=action, tag=tag)]
    ids = {r.header("X-Srsish-Event-Id") for r in tries}
    return len(ids) == 1 and any(r.header("X-Srsish-Attempt") == "2" for r in tries)


def one(rx: HookReceiver, timeout: float = 10.0, **match):
    """The single request matching (waits for it); fails if more than one arrived."""
    found = rx.wait(1, timeout, **match)
    assert len(found) == 1, "expected one %r, got:\n%s" % (match, rx.dump())
    return found[0]


def raw_publish(srv, stream: str, timeout: float = 10.0, tc_url=None):
    """A raw FMLE publisher; returns (client, the final onStatus: Publish.Start or an error)."""
    raw = RtmpRawClient(srv.host, srv.port, timeout=timeout)
    raw.handshake()
    raw.connect("live", tc_url=tc_url)
    return raw, raw.publish(stream, timeout=timeout)


def status_text(msg) -> str:
    info = [v for v in msg.amf[1:] if isinstance(v, dict)]
    return "%s %s" % (msg.command_name, info)


def log_offset(srv) -> int:
    return len(srv.log_text())


# ----------------------------------------------------------------------------- bodies, order, two URLs
def test_bodies_order_and_two_urls(make_server, procs, media, tmp_path, monkeypatch):
    """ffmpeg publishes `live/bodies?token=abc` and ffmpeg plays it, every event configured
    with two URLs (a, b): each body has SRS's keys in SRS's order with SRS's JSON types
    (compared with the captured samples), compact as SRS writes it, the right values;
    the events arrive in order per client, each URL exactly once, a before b."""
    monkeypatch.delenv("SRS_SERVER_ID", raising=False)
    name = "bodies"
    with HookReceiver() as rx:
        srv = make_server(vhost_extra=hooks_block(tagged(rx, ("a", "b"))))
        pub = peers.ffmpeg_publish(procs, srv.url(name) + "?token=abc", media.short.path)
        rx.wait(2, action="on_publish", stream=name)
        player = peers.ffmpeg_play(procs, srv.url(name), str(tmp_path / "play.flv"))
        assert pub.wait(media.short.seconds + 15) == 0, pub.tail()
        assert player.wait(15) == 0, player.tail()
        rx.wait(4, action="on_close", timeout=10)
        time.sleep(0.3)  # nothing more may come

        pub_id = one(rx, action="on_publish", tag="a").client_id
        play_id = one(rx, action="on_play", tag="a").client_id
        assert pub_id != play_id
        assert seq(rx, pub_id) == [(ev, t) for ev in ("on_connect", "on_publish", "on_unpublish", "on_close")
                                   for t in ("a", "b")], rx.dump()
        assert seq(rx, play_id) == [(ev, t) for ev in ("on_connect", "on_play", "on_stop", "on_close")
                                    for t in ("a", "b")], rx.dump()
        assert len(rx.requests) == 16, rx.dump()
        assert ffprobe_frames(player.out).video_count > 10, "the player got no stream"

        with open(os.path.join(srv.workdir, "objs", "srs.id"), encoding="utf-8") as f:
            server_id = f.read().strip()
        service_ids = {r.body["service_id"] for r in rx.requests}
        assert len(service_ids) == 1 and ID8.match(service_ids.pop())
        stream_ids = set()
        tc_url = "rtmp://127.0.0.1:%d/live" % srv.port

        for r in rx.requests:
            event, who = r.action, ("publisher" if r.client_id == pub_id else "player")
            where = "%s %s of the %s: %s" % (event, r.tag, who, r.raw)
            # the transport
            assert r.method == "POST", where
            assert r.path == "/hooks/%s/%s" % (r.tag, event), where
            assert r.header("Content-Type") == "application/json", where
            assert re.match(r"^srsish/\d", r.header("User-Agent") or ""), r.headers
            assert int(r.header("Content-Length")) == len(r.raw), where
            # keys, order, types: as SRS's captured request, and as compact
            sample_raw, sample = sample_body(event)
            body = r.body
            assert list(body) == list(sample), "%s\nSRS: %s" % (where, sample_raw)
            for k in sample:
                assert type(body[k]) is type(sample[k]), "%s: %s is %s in SRS's body" % (
                    where, k, type(sample[k]).__name__)
            assert r.raw.decode() == json.dumps(body, separators=(",", ":"), ensure_ascii=False), where
            # values
            assert body["server_id"] == server_id, where
            assert body["action"] == event
            assert ID8.match(body["client_id"]), where
            assert body["ip"] == "127.0.0.1" and body["vhost"] == "__defaultVhost__" and body["app"] == "live"
            if event != "on_close":
                assert body["stream"] == name and body["tcUrl"] == tc_url, where
                assert body["param"] == ("?token=abc" if who == "publisher" else ""), where
            if "pageUrl" in body:
                assert body["pageUrl"] == "", where
            if "stream_id" in body:
                assert body["stream_url"] == "/live/" + name, where
                assert VID.match(body["stream_id"]), where
                stream_ids.add(body["stream_id"])
            if event == "on_close":
                assert body["send_bytes"] > 0 and body["recv_bytes"] > 0, where
            # a and b get the same body, b only after a answered
            if r.tag == "b":
                [a] = rx.find(action=event, client_id=r.client_id, tag="a")
                assert a.raw == r.raw and a.answered is not None and a.answered <= r.arrived, where
        assert len(stream_ids) == 1, "publisher and player saw different stream_ids: %s" % stream_ids

        # byte counts are the socket's, as the server log says
        clip_size = os.path.getsize(media.short.path)
        pub_close = rx.find(action="on_close", client_id=pub_id)[0].body
        play_close = rx.find(action="on_close", client_id=play_id)[0].body
        assert pub_close["recv_bytes"] > 0.8 * clip_size, pub_close
        assert play_close["send_bytes"] > 50000, play_close
        log = srv.log_text()
        for cid, b in ((pub_id, pub_close), (play_id, play_close)):
            assert re.search(r"\[%s\] client disconnect: .*send=%d, recv=%d" % (cid, b["send_bytes"], b["recv_bytes"]),
                             log), "on_close byte counts differ from the log for %s: %s" % (cid, b)


def test_tcurl_query_not_doubled(make_server):
    """A client that puts the token in the tcUrl (OBS style) gets `param` once (SRS doubles it)."""
    with HookReceiver() as rx:
        srv = make_server(vhost_extra=hooks_block(tagged(rx, events=("on_connect", "on_publish"))))
        tc = "rtmp://127.0.0.1:%d/live?token=tq" % srv.port
        raw, status = raw_publish(srv, "tcq", tc_url=tc)
        with raw:
            assert status.status_code == "NetStream.Publish.Start", raw.summary()
        for event in ("on_connect", "on_publish"):
            body = one(rx, action=event).body
            assert body["param"] == "?token=tq", body
            assert body["stream"] == "tcq", body


# ----------------------------------------------------------------------------- several URLs
def test_rejection_skips_later_urls_notify_hooks_call_all(make_server, procs, media):
    """on_publish a answers `1`: ffmpeg is refused and prints why, on_publish b is never
    called, on_unpublish is not sent, on_close (a and b) is. on_unpublish/on_stop/on_close
    a answer 500: b is still called for each, and a's are retried (same event id)."""
    def responder(req):
        if req.action == "on_publish" and req.tag == "a" and req.stream == "rej":
            return Reply(200, b"1")
        if req.tag == "a" and req.action in ("on_unpublish", "on_stop", "on_close"):
            return Reply(500, b"boom")
        return OK

    with HookReceiver(responder) as rx:
        srv = make_server(vhost_extra=hooks_block(tagged(rx, ("a", "b"))))
        url_a = rx.url("/hooks/a/on_publish")

        rej = peers.ffmpeg_publish(procs, srv.url("rej"), media.short.path, realtime=False, name="pub-rej")
        assert rej.wait(15) != 0, "rejected publisher succeeded:\n" + rej.tail()
        # The client is told the hook and the answer, never the backend's URL; the server log keeps the URL.
        assert 'on_publish rejected: HTTP 200 body "1"' in rej.output() and url_a not in rej.output(), rej.tail()
        assert 'on_publish %s rejected: HTTP 200 body "1"' % url_a in srv.log_text()
        rej_id = one(rx, action="on_publish", stream="rej").client_id
        rx.wait(1, action="on_close", client_id=rej_id, tag="b")
        time.sleep(0.3)
        assert seq(rx, rej_id) == [("on_connect", "a"), ("on_connect", "b"), ("on_publish", "a"),
                                   ("on_close", "a"), ("on_close", "b")], rx.dump()

        ok = peers.ffmpeg_publish(procs, srv.url("okay"), media.short.path, realtime=False, name="pub-ok")
        assert ok.wait(15) == 0, ok.tail()
        ok_id = one(rx, action="on_publish", stream="okay", tag="a").client_id
        rx.wait(1, action="on_close", client_id=ok_id, tag="b")
        assert seq(rx, ok_id) == [(ev, t) for ev in ("on_connect", "on_publish", "on_unpublish", "on_close")
                                  for t in ("a", "b")], rx.dump()

        with RtmpRawClient(srv.host, srv.port) as player:
            player.setup_player("live", "okay")
            player.wait_status("NetStream.Play.Start")
        play_id = one(rx, action="on_play", tag="a").client_id
        rx.wait(1, action="on_close", client_id=play_id, tag="b")
        assert seq(rx, play_id) == [(ev, t) for ev in ("on_connect", "on_play", "on_stop", "on_close")
                                    for t in ("a", "b")], rx.dump()
        assert "status=500" in srv.log_text(), "failed notify hooks are not logged"
        for cid, action in ((rej_id, "on_close"), (ok_id, "on_unpublish"), (play_id, "on_stop")):
            wait_for(lambda: retried(rx, cid, action, "a"), 10, message=f"{action} a to be retried")


# ----------------------------------------------------------------------------- srs.md 1.2 reply table
REFUSED_VHOST = "refused.test"
TABLE = [
    # id, reply, accepted, what ffmpeg must print after "rejected: "
    ("200-zero", Reply(200, b"0"), True, None),
    ("200-code0", Reply(200, b'{"code":0}'), True, None),
    ("201-zero", Reply(201, b"0"), True, None),
    ("200-code0-data", Reply(200, b'{"code": 0, "data": null}'), True, None),
    ("200-zero-lf", Reply(200, b"0\n"), True, None),      # srsish allows whitespace (SRS does not)
    ("200-one", Reply(200, b"1"), False, 'HTTP 200 body "1"'),
    ("200-empty", Reply(200, b""), False, "HTTP 200 empty body"),
    ("200-code1", Reply(200, b'{"code":1}'), False, r'HTTP 200 body "{\"code\":1}"'),
    ("200-code-str0", Reply(200, b'{"code":"0"}'), False, r'HTTP 200 body "{\"code\":\"0\"}"'),
    ("202-zero", Reply(202, b"0"), False, 'HTTP 202 body "0"'),     # only 200 and 201 count
    ("404", Reply(404, b"0"), False, 'HTTP 404 body "0"'),
    ("500", Reply(500, b"0"), False, 'HTTP 500 body "0"'),
    ("refused", None, False, "connection refused"),
]


@pytest.fixture(scope="module")
def table_server(tmp_path_factory):
    """One server for the whole table: on_publish answers per stream name (the case id);
    the `refused` case publishes to a vhost whose on_publish port has no listener."""
    replies = {case: reply for case, reply, _, _ in TABLE if reply is not None}

    def responder(req):
        if req.action == "on_publish":
            return replies.get(req.stream, OK)
        return OK

    rx = HookReceiver(responder)
    urls = tagged(rx, events=("on_connect", "on_close", "on_publish", "on_unpublish"))
    closed_port = free_port()
    refused = dict(urls, on_publish=["http://127.0.0.1:%d/hooks/a/on_publish" % closed_port])
    srv = SrsishProcess(str(tmp_path_factory.mktemp("table")),
                        global_extra="vhost %s {\n%s\n}" % (REFUSED_VHOST, hooks_block(refused)),
                        vhost_extra=hooks_block(urls))
    srv.refused_url = refused["on_publish"][0]
    try:
        srv.start()
        yield srv, rx
    finally:
        srv.stop()
        rx.close()
    srv.check_no_traceback()


@pytest.mark.parametrize("case,reply,accepted,reason", TABLE, ids=[c[0] for c in TABLE])
def test_on_publish_reply_table(table_server, procs, media, case, reply, accepted, reason):
    srv, rx = table_server
    url = srv.url(case) + ("?vhost=" + REFUSED_VHOST if case == "refused" else "")
    start = log_offset(srv)
    pub = peers.ffmpeg_publish(procs, url, media.short.path, realtime=False, name="pub-" + case)
    rc = pub.wait(20)
    cid = one(rx, action="on_connect", stream=case).client_id
    rx.wait(1, action="on_close", client_id=cid)
    log = srv.log_text()[start:]
    started = re.search(r"start publish .*stream=%s," % re.escape(case), log)
    events = [r.action for r in rx.find(client_id=cid)]
    if accepted:
        assert rc == 0, pub.tail()
        assert started, "no `start publish` for %s in the log:\n%s" % (case, log[-3000:])
        assert events == ["on_connect", "on_publish", "on_unpublish", "on_close"], rx.dump()
    else:
        hook_url = srv.refused_url if case == "refused" else rx.url("/hooks/a/on_publish")
        assert rc != 0, "publisher accepted:\n" + pub.tail()
        # ffmpeg prints the error onStatus' description: "Server error: <description>"
        assert "on_publish rejected: %s" % reason in pub.output() and hook_url not in pub.output(), pub.tail()
        assert "on_publish %s rejected: %s" % (hook_url, reason) in log
        assert not started, log[-3000:]
        # no on_unpublish for a rejected publish, but on_close
        expected = ["on_connect", "on_close"] if case == "refused" else ["on_connect", "on_publish", "on_close"]
        assert events == expected, rx.dump()


# ----------------------------------------------------------------------------- gate before success
def _read_all_until(raw, pred, timeout):
    """Read messages, each with its arrival time, until `pred(msg)`; [(t, msg)]."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "nothing matched within %.1fs: %s" % (timeout, raw.summary())
        m = raw.read_message(left)
        out.append((time.monotonic(), m))
        if pred(m):
            return out


DELAY = 1.5


def _slow_gate_responder(req):
    if req.action in ("on_publish", "on_play") and req.stream.startswith("slow"):
        return Reply(200, b"0", delay=DELAY)
    return OK


def test_no_publish_start_before_on_publish_said_yes(make_server):
    """on_publish answers after 1.5 s: neither onFCPublish nor onStatus(NetStream.Publish.Start)
    reaches the client before that answer; both come after it."""
    with HookReceiver(_slow_gate_responder) as rx:
        srv = make_server(vhost_extra=hooks_block(tagged(rx, events=("on_connect", "on_publish"))))
        with RtmpRawClient(srv.host, srv.port, timeout=10) as raw:
            raw.handshake()
            raw.connect("live")
            raw.publish("slowpub", wait=False)
            sent = time.monotonic()
            got = _read_all_until(raw, lambda m: m.status_code == "NetStream.Publish.Start"
                                  and m.command_name == "onStatus", 10)
        hook = one(rx, action="on_publish")
        assert hook.answered is not None and hook.answered - hook.arrived >= DELAY - 0.05
        success = [(t, m) for t, m in got if m.command_name == "onFCPublish"
                   or m.status_code == "NetStream.Publish.Start"]
        assert [m.command_name for _, m in success] == ["onFCPublish", "onStatus"], raw.summary()
        for t, m in success:
            assert t >= hook.answered, "%s arrived %.3fs before on_publish answered" % (
                status_text(m), hook.answered - t)
        assert success[0][0] - sent >= DELAY - 0.05, "Publish.Start did not wait for the hook"


def test_no_play_start_before_on_play_said_yes(make_server):
    """on_play answers after 1.5 s: no StreamBegin, Play.Reset or Play.Start before that answer."""
    with HookReceiver(_slow_gate_responder) as rx:
        srv = make_server(vhost_extra=hooks_block(tagged(rx, events=("on_connect", "on_play"))))
        with RtmpRawClient(srv.host, srv.port, timeout=10) as raw:
            raw.setup_player("live", "slowplay")
            sent = time.monotonic()
            got = _read_all_until(raw, lambda m: m.status_code == "NetStream.Play.Start", 10)
        hook = one(rx, action="on_play")
        assert hook.answered is not None and hook.answered - hook.arrived >= DELAY - 0.05
        starting = [(t, m) for t, m in got if m.status_code in ("NetStream.Play.Reset", "NetStream.Play.Start")
                    or (m.type == MSG_USER_CONTROL and m.user_control_event == UC_STREAM_BEGIN)]
        assert len(starting) == 3, raw.summary()
        for t, m in starting:
            assert t >= hook.answered, "%s arrived %.3fs before on_play answered" % (
                m.describe(), hook.answered - t)
        assert starting[-1][0] - sent >= DELAY - 0.05, "Play.Start did not wait for the hook"


# ----------------------------------------------------------------------------- a hanging backend
def test_hanging_hook_delays_only_its_client(make_server, procs, media, tmp_path):
    """`timeout 2;` and an on_publish backend that never answers stream A: while A waits,
    stream B is published and played by ffmpeg at full speed; A is refused after ~2 s
    and ffmpeg says it timed out."""
    def responder(req):
        if req.action == "on_publish" and req.stream == "hang":
            return Reply(hang=True)
        return OK

    with HookReceiver(responder) as rx:
        srv = make_server(vhost_extra=hooks_block(tagged(rx), timeout=2))
        a = peers.ffmpeg_publish(procs, srv.url("hang"), media.short.path, name="pub-hang")
        hung = one(rx, action="on_publish", stream="hang")
        b_player = peers.ffmpeg_play(procs, srv.url("free"), str(tmp_path / "free.flv"))
        b_pub = peers.ffmpeg_publish(procs, srv.url("free"), media.short.path, name="pub-free")

        assert a.wait(15) != 0, "A was accepted:\n" + a.tail()
        assert "on_publish rejected: timed out after 2" in a.output(), a.tail()
        a_close = one(rx, action="on_close", client_id=hung.client_id)
        took = a_close.arrived - hung.arrived
        assert 1.8 <= took <= 4.0, "A refused %.2fs after its on_publish, timeout is 2 s" % took

        # B went on while A waited: its gates were answered at once, before A's refusal
        b_hook = one(rx, action="on_publish", stream="free")
        p_hook = one(rx, action="on_play", stream="free")
        for h in (b_hook, p_hook):
            assert h.answered is not None and h.answered < a_close.arrived, rx.dump()
        log = srv.log_text()
        b_started = re.search(r"start publish .*stream=free,", log)
        a_refused = re.search(r"\[%s\] client rejected" % hung.client_id, log)
        assert b_started and a_refused and b_started.start() < a_refused.start(), log[-3000:]

        assert b_pub.wait(media.short.seconds + 15) == 0, b_pub.tail()
        assert b_player.wait(15) == 0, b_player.tail()
        frames = ffprobe_frames(b_player.out).video_count
        assert frames >= media.short.video_frames - 5, "B's player got %d of %d frames" % (
            frames, media.short.video_frames)


# ----------------------------------------------------------------------------- HTTPS
@pytest.fixture
def tls_backend(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    ca_pem = str(tmp_path / "test-ca.pem")
    ca.cert_pem.write_to_path(ca_pem)
    with HookReceiver(tls=ctx) as rx:
        yield rx, ca_pem


@pytest.mark.parametrize("ca_in_env,tls_verify,accepted", [
    (True, None, True),      # verification on (default), test CA trusted through SSL_CERT_FILE
    (False, None, False),    # verification on, certificate from an unknown CA
    (False, False, True),    # `tls_verify off;`: any certificate, as SRS
], ids=["trusted-ca", "untrusted", "tls_verify-off"])
def test_https_hooks(make_server, tls_backend, monkeypatch, ca_in_env, tls_verify, accepted):
    rx, ca_pem = tls_backend
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    if ca_in_env:
        monkeypatch.setenv("SSL_CERT_FILE", ca_pem)
    else:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    url = rx.url("/hooks/a/on_publish")
    assert url.startswith("https://")
    srv = make_server(vhost_extra=hooks_block({"on_publish": [url]}, tls_verify=tls_verify))
    raw, status = raw_publish(srv, "tls")
    with raw:
        if accepted:
            assert status.status_code == "NetStream.Publish.Start", raw.summary()
            assert one(rx, action="on_publish").body["stream"] == "tls"
        else:
            assert status.status_level == "error", raw.summary()
            why = status_text(status)
            assert "on_publish rejected: TLS certificate rejected" in why and url not in why, why
            assert not rx.find(action="on_publish"), rx.dump()
            wait_for(lambda: rx.tls_errors, 5, message="the refused TLS handshake at the backend")


# ----------------------------------------------------------------------------- reload
def test_sighup_reload_changes_hook_url(make_server):
    """on_publish/on_unpublish point at X; after the conf says Y and SIGHUP, the next
    events go to Y: the next publish, and the unpublish of a publisher that started before."""
    with HookReceiver() as rx:
        def urls(tag):
            return {ev: [rx.url("/hooks/%s/%s" % (tag, ev))] for ev in ("on_publish", "on_unpublish")}
        srv = make_server(vhost_extra=hooks_block(urls("x")))
        first, status = raw_publish(srv, "first")
        with first:
            assert status.status_code == "NetStream.Publish.Start", first.summary()
            start = log_offset(srv)
            srv.write_conf(srv.render_conf(vhost_extra=hooks_block(urls("y"))))
            srv.send_signal(signal.SIGHUP)
            srv.wait_log("reload config", start=start)
            second, status = raw_publish(srv, "second")
            with second:
                assert status.status_code == "NetStream.Publish.Start", second.summary()
        rx.wait(2, action="on_unpublish")
        got = [(r.action, r.tag, r.stream) for r in rx.requests]
        assert got[:2] == [("on_publish", "x", "first"), ("on_publish", "y", "second")], rx.dump()
        assert sorted(got[2:]) == [("on_unpublish", "y", "first"), ("on_unpublish", "y", "second")], rx.dump()


# ----------------------------------------------------------------------------- exactly one on_close
def _start_pair(srv, procs, media, tmp_path, rx, name):
    """A looping ffmpeg publisher and an ffmpeg player on `name`, both started (log)."""
    pub = peers.ffmpeg_publish(procs, srv.url(name), media.short.path, loop=True, name="pub-" + name)
    pub_id = one(rx, action="on_publish", stream=name).client_id
    player = peers.ffmpeg_play(procs, srv.url(name), str(tmp_path / (name + ".flv")), name="play-" + name)
    play_id = one(rx, action="on_play", stream=name).client_id
    for cid, what in ((pub_id, "start publish"), (play_id, "start play")):
        srv.wait_log("[%s] %s" % (cid, what))
    return pub, player, pub_id, play_id


PUB_EVENTS = ["on_connect", "on_publish", "on_unpublish", "on_close"]
PLAY_EVENTS = ["on_connect", "on_play", "on_stop", "on_close"]


def test_killed_clients_get_one_unpublish_stop_close(make_server, procs, media, tmp_path):
    """SIGKILLed ffmpeg publisher and player: on_unpublish / on_stop and on_close, once each."""
    with HookReceiver() as rx:
        srv = make_server(vhost_extra=hooks_block(tagged(rx)))
        pub, player, pub_id, play_id = _start_pair(srv, procs, media, tmp_path, rx, "killed")
        pub.kill()
        player.kill()
        rx.wait(1, action="on_close", client_id=pub_id)
        rx.wait(1, action="on_close", client_id=play_id)
        time.sleep(1.0)  # a second on_close would come now
        assert [r.action for r in rx.find(client_id=pub_id)] == PUB_EVENTS, rx.dump()
        assert [r.action for r in rx.find(client_id=play_id)] == PLAY_EVENTS, rx.dump()


def test_server_sigterm_sends_unpublish_stop_close_before_exit(make_server, procs, media, tmp_path):
    """SIGTERM with a publisher and a player connected: on_unpublish, on_stop and both
    on_close are delivered (answered) before the server process exits, once each."""
    with HookReceiver() as rx:
        srv = make_server(vhost_extra=hooks_block(tagged(rx)))
        pub, player, pub_id, play_id = _start_pair(srv, procs, media, tmp_path, rx, "shutdown")
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait_exit(15)
        exited = time.monotonic()
        assert rc == 0, srv.diagnostics()
        assert [r.action for r in rx.find(client_id=pub_id)] == PUB_EVENTS, rx.dump()
        assert [r.action for r in rx.find(client_id=play_id)] == PLAY_EVENTS, rx.dump()
        for r in rx.requests:
            assert r.answered is not None and r.answered < exited, r.describe()


# ----------------------------------------------------------------------------- the bundled callback server
def test_bundled_callback_server_token_auth(make_server, procs, media):
    """research/api-server/server.py --tokens a,b: ?token=a publishes, ?token=zzz is
    refused and ffmpeg prints the backend's answer."""
    api = procs.spawn("api-server", [sys.executable, os.path.join(REPO_ROOT, "research", "api-server", "server.py"),
                                     "0", "--host", "127.0.0.1", "--tokens", "a,b"])
    m = wait_for(lambda: re.search(r"listening at 127\.0\.0\.1:(\d+)", api.output()), 15,
                 message="the api-server to listen")
    base = "http://127.0.0.1:%s/api/v1/" % m.group(1)
    routes = {"on_connect": "clients", "on_close": "clients", "on_publish": "streams",
              "on_unpublish": "streams", "on_play": "sessions", "on_stop": "sessions"}
    srv = make_server(vhost_extra=hooks_block({ev: [base + r] for ev, r in routes.items()}))

    good = peers.ffmpeg_publish(procs, srv.url("tok") + "?token=a", media.short.path, realtime=False,
                                name="pub-good")
    assert good.wait(20) == 0, good.tail()
    assert re.search(r"start publish .*stream=tok,", srv.log_text()), srv.diagnostics()

    bad = peers.ffmpeg_publish(procs, srv.url("tok") + "?token=zzz", media.short.path, realtime=False,
                               name="pub-bad")
    assert bad.wait(20) != 0, "wrong token accepted:\n" + bad.tail()
    out = bad.output()
    # told the hook and the backend's answer, never the backend's URL
    assert "on_connect rejected" in out and "invalid token" in out and base not in out, bad.tail()

    wait_for(lambda: api.output().count("on_close") >= 2, 10, message="two on_close at the api-server")
    log = api.output()
    assert re.search(r"REJECTED on_connect .*param=\?token=zzz", log), log
    for action in ("on_connect", "on_publish", "on_unpublish"):
        assert re.search(r"\] %s .*param=\?token=a\b" % action, log), log


def test_shipped_callback_conf_loads_and_runs(procs, tmp_path):
    """conf/http.hooks.callback.conf: `-t` passes, every event points at the callback
    server on 127.0.0.1:8085, and it runs (on a free port, via SRS_LISTEN)."""
    conf = os.path.join(REPO_ROOT, "conf", "http.hooks.callback.conf")
    r = run_srsish_cli(["-t", "-c", conf], cwd=REPO_ROOT)
    assert r.returncode == 0, r.stdout
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    for event, route in (("on_connect", "clients"), ("on_close", "clients"), ("on_publish", "streams"),
                         ("on_unpublish", "streams"), ("on_play", "sessions"), ("on_stop", "sessions"),
                         ("on_dvr", "dvrs"), ("on_hls", "hls"), ("on_hls_notify", "hls/")):
        assert re.search(r"^\s*%s\s+\"?http://127\.0\.0\.1:8085/api/v1/%s" % (event, route), text, re.M), event
    port = free_port()
    env = dict(srsish_env(), SRS_LISTEN=str(port))
    run = procs.spawn("srsish-callback-conf", [sys.executable, "-m", "srsish", "-c", conf],
                      cwd=str(tmp_path), env=env)
    wait_for(lambda: port_open("127.0.0.1", port) or not run.alive(), 15, message="srsish to listen")
    assert run.alive(), run.tail()
    run.stop(signal.SIGTERM)
    assert run.returncode == 0, run.tail()
    assert "Traceback" not in run.output(), run.tail()
