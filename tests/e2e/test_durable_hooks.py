"""Hooks that never lose an event (issue 10), end to end: a backend down for 30 s, a restart while it is down,
a SIGKILLed server, signed requests, the heartbeat, the outbox in the API, and an outbox that cannot open."""
import glob
import hashlib
import hmac
import json
import os
import signal
import time
import urllib.request

import pytest

from helpers import peers
from helpers.hooks_receiver import HookReceiver
from helpers.http_util import FlvReader, http_api_block
from helpers.rtmp_raw import RtmpRawClient
from helpers.server import run_srsish_cli
from helpers.util import free_port, wait_for

pytestmark = pytest.mark.e2e

SECRET = "test-secret-0123"
GATES = ("on_connect", "on_publish", "on_play")
NOTIFICATIONS = ("on_close", "on_unpublish", "on_stop", "on_dvr", "on_hls")


def hooks_conf(gate_rx: HookReceiver, notify_port: int, **extra) -> str:
    """Gating hooks to a receiver that is always up; notifications to `notify_port` (up or down)."""
    lines = ["    http_hooks {", "        enabled on;", f"        secret {SECRET};", "        retry_max_delay 2;"]
    lines += [f"        {ev} {gate_rx.url('/hooks/g/' + ev)};" for ev in GATES]
    lines += [f"        {ev} http://127.0.0.1:{notify_port}/hooks/n/{ev};" for ev in NOTIFICATIONS]
    lines += [f"        {k} {v};" for k, v in extra.items()]
    return "\n".join(lines + ["    }"])


def media_conf(root: str = "./objs/nginx/html") -> str:
    return ("    dvr { enabled on; dvr_plan segment; dvr_duration 2; dvr_path %s/[app]/[stream].[timestamp].flv; }\n"
            "    hls { enabled on; hls_fragment 1; hls_window 20; hls_path %s; }\n" % (root, root))


def signed_ok(req) -> bool:
    ts = req.header("X-Srsish-Timestamp") or ""
    want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + req.raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, req.header("X-Srsish-Signature") or "")


def by_event(rx: HookReceiver) -> dict:
    out: dict = {}
    for r in rx.requests:
        out.setdefault(r.header("X-Srsish-Event-Id"), []).append(r)
    return out


def test_backend_down_30s_then_up_gets_every_notification_once_in_order(make_server, procs, media):
    notify_port = free_port()
    with HookReceiver() as gate:
        srv = make_server(vhost_extra=hooks_conf(gate, notify_port) + "\n" + media_conf())
        down_since = time.monotonic()
        pub = peers.ffmpeg_publish(procs, srv.url("cam"), media.short.path, loop=True, name="pub")
        wait_for(lambda: gate.find(action="on_publish"), 10, message="on_publish")
        player = peers.ffmpeg_play(procs, srv.url("cam"), os.devnull, duration=3, name="play")
        assert player.wait(20) == 0, player.tail()
        time.sleep(4)
        pub.stop()
        wait_for(lambda: "stop publish" in srv.log_text(), 10, message="the publish to end")
        hls_files = glob.glob(os.path.join(srv.workdir, "objs/nginx/html/live/cam-*.ts"))
        dvr_files = glob.glob(os.path.join(srv.workdir, "objs/nginx/html/live/cam.*.flv"))
        assert hls_files and dvr_files
        wait_for(lambda: "will retry" in srv.log_text(), 10, message="failed attempts in the log")
        time.sleep(max(0.0, 30 - (time.monotonic() - down_since)))       # the backend is down for 30 s

        with HookReceiver(port=notify_port) as rx:
            pub_id = gate.find(action="on_publish")[0].client_id
            play_id = gate.find(action="on_play")[0].client_id
            want = {"on_hls": len(hls_files), "on_dvr": len(dvr_files), "on_unpublish": 1, "on_stop": 1,
                    "on_close": 2}

            def all_there():
                return all(len(rx.find(action=a)) >= n for a, n in want.items())
            wait_for(all_there, 30, interval=0.2, message="every notification after the backend came back")
            time.sleep(2.5)                      # a duplicate would come within the 2 s retry cap
            events = by_event(rx)
            assert all(len(reqs) == 1 for reqs in events.values()), rx.dump()
            assert {a: len(rx.find(action=a)) for a in want} == want, rx.dump()
            assert all(signed_ok(r) for r in rx.requests)
            # Each client's oldest event was retried while the backend was down; the ones behind it waited
            # their turn (one attempt per backoff against a dead backend, not one per event).
            for cid in (pub_id, play_id):
                assert int([r for r in rx.requests if r.client_id == cid][0].header("X-Srsish-Attempt")) >= 5
            mine = [r.action for r in rx.requests if r.client_id == pub_id]
            assert mine[-2:] == ["on_unpublish", "on_close"], mine       # DVR/HLS first, then unpublish, close
            assert [r.action for r in rx.requests if r.client_id == play_id] == ["on_stop", "on_close"]


def test_events_pending_at_sigterm_are_delivered_after_the_next_start(make_server, procs, media):
    notify_port = free_port()
    with HookReceiver() as gate:
        srv = make_server(vhost_extra=hooks_conf(gate, notify_port))
        with RtmpRawClient(srv.host, srv.port) as c:
            c.setup_player("live", "nobody")
            c.wait_status("NetStream.Play.Start")
        wait_for(lambda: "will retry" in srv.log_text(), 10, message="the first failed attempt")
        srv.send_signal(signal.SIGTERM)
        assert srv.wait_exit(20) == 0
        assert "kept for the next start" in srv.log_text()
        with HookReceiver(port=notify_port) as rx:
            srv.start()
            rx.wait(1, 10, action="on_stop")
            rx.wait(1, 10, action="on_close")
            time.sleep(0.5)
            assert [r.action for r in rx.requests] == ["on_stop", "on_close"], rx.dump()
            assert "pending from before" in srv.log_text()


def test_sigkilled_server_owes_every_open_session_its_closing_hooks(make_server, procs, media, tmp_path):
    srv_port = free_port()
    with HookReceiver() as rx:
        srv = make_server(vhost_extra=hooks_conf(rx, rx.port) + "\n    http_remux { enabled on; }\n"
                          + "    hls { enabled on; hls_fragment 1; hls_window 10; }\n",
                          global_extra=http_server_conf(srv_port))
        pub = peers.ffmpeg_publish(procs, srv.url("cam"), media.short.path, loop=True, name="pub")
        rx.wait(1, 10, action="on_publish")
        rtmp_player = peers.ffmpeg_play(procs, srv.url("cam"), os.devnull, name="rtmp-play")
        flv = FlvReader(srv_port, "/live/cam.flv")
        assert flv.read_head() == 200
        wait_for(lambda: os.path.exists(os.path.join(srv.workdir, "objs/nginx/html/live/cam.m3u8")), 10,
                 message="the HLS playlist")
        with urllib.request.urlopen(f"http://127.0.0.1:{srv_port}/live/cam.m3u8", timeout=5) as r:
            assert r.status == 200
        rx.wait(3, 10, action="on_play")    # the RTMP, HTTP-FLV and HLS players
        gated = {r.client_id: r.action for r in rx.find() if r.action in ("on_publish", "on_play")}
        os.kill(srv.pid, signal.SIGKILL)
        srv.wait_exit(5)
        flv.close()
        pub.stop()
        rtmp_player.stop()
        before = len(rx.requests)

        srv.start()
        owed = {cid: ("on_unpublish" if a == "on_publish" else "on_stop") for cid, a in gated.items()}
        for cid, action in owed.items():
            rx.wait(1, 10, action=action, client_id=cid)
        time.sleep(1.0)
        recovered = rx.requests[before:]
        assert all(r.header("X-Srsish-Recovered") == "1" for r in recovered), rx.dump()
        for cid, action in owed.items():
            mine = [r.action for r in recovered if r.client_id == cid]
            # every RTMP client also passed on_connect and is owed on_close after its stop
            assert mine in ([action], [action, "on_close"]), (cid, mine)
        ids = [r.header("X-Srsish-Event-Id") for r in recovered]
        assert len(ids) == len(set(ids))
        srv.stop()
        srv.start()                                   # a second start owes nothing
        time.sleep(1.5)
        assert not any(r.header("X-Srsish-Recovered") for r in rx.requests[before + len(recovered):])


def http_server_conf(port: int) -> str:
    return "http_server { enabled on; listen 127.0.0.1:%d; dir ./objs/nginx/html; }" % port


def test_heartbeat_is_signed_and_shaped_as_srs(make_server):
    with HookReceiver() as rx:
        api = free_port()
        srv = make_server(global_extra=(
            "heartbeat { enabled on; interval 1; url %s; device_id dev-1; summaries on; ports on; secret %s; }\n"
            % (rx.url("/api/v1/servers?ignored=1"), SECRET)) + http_api_block(api))
        beats = rx.wait(2, 10)
        b = beats[0]
        assert b.path == "/api/v1/servers" and signed_ok(b)
        assert list(b.body) == ["device_id", "ip", "server", "service", "pid", "summaries", "rtmp", "api"]
        assert b.body["device_id"] == "dev-1" and isinstance(b.body["pid"], str) and b.body["pid"].isdigit()
        assert b.body["rtmp"] == ["127.0.0.1:%d" % srv.port] and b.body["api"] == ["127.0.0.1:%d" % api]
        assert set(b.body["summaries"]["data"]) >= {"ok", "now_ms", "self", "system"}
        assert b.header("X-Srsish-Event-Id") != beats[1].header("X-Srsish-Event-Id")


def test_heartbeats_to_a_down_backend_do_not_pile_up(make_server):
    port = free_port()
    api = free_port()
    srv = make_server(global_extra="heartbeat { enabled on; interval 1; url http://127.0.0.1:%d/hb; }\n%s"
                      % (port, http_api_block(api)))
    time.sleep(4)
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/hooks" % api, timeout=5) as r:
        hooks = json.load(r)["hooks"]
    assert hooks["pending"] <= 1, hooks
    assert srv.alive()


def test_api_shows_the_outbox(make_server):
    api = free_port()
    down = free_port()
    with HookReceiver() as gate:
        srv = make_server(vhost_extra=hooks_conf(gate, down), global_extra=http_api_block(api))
        with RtmpRawClient(srv.host, srv.port) as c:
            c.setup_player("live", "x")
            c.wait_status("NetStream.Play.Start")

        def outbox():
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/hooks" % api, timeout=5) as r:
                return json.load(r)["hooks"]
        h = wait_for(lambda: (lambda o: o if o["pending"] == 2 and o["failed"] >= 2 else None)(outbox()), 10,
                     message="two pending notifications with failed attempts")
        urls = {b["url"]: b for b in h["backends"]}
        assert urls["http://127.0.0.1:%d/hooks/n/on_stop" % down]["pending"] == 1
        assert urls[gate.url("/hooks/g/on_play")]["accepted"] == 1


def test_outbox_that_cannot_open_is_a_clear_error(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    conf = tmp_path / "x.conf"
    conf.write_text("listen %d;\ndaemon off;\nsrs_log_tank console;\nhook_outbox ./blocker/sub/hooks.db;\n"
                    "vhost __defaultVhost__ { }\n" % free_port())
    r = run_srsish_cli(["-t", "-c", str(conf)], cwd=str(tmp_path))
    assert r.returncode != 0 and "hook outbox ./blocker/sub/hooks.db" in r.stdout, r.stdout
    r = run_srsish_cli(["-c", str(conf)], cwd=str(tmp_path))
    assert r.returncode != 0 and "cannot start" in r.stdout and "blocker" in r.stdout, r.stdout


def test_corrupt_outbox_is_moved_aside_and_the_server_runs(make_server, tmp_path):
    srv = make_server()
    srv.stop()
    db = os.path.join(srv.workdir, "objs", "srsish.hooks.db")
    assert os.path.exists(db)
    with open(db, "wb") as f:
        f.write(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    srv.start()
    assert "is corrupt" in srv.log_text() and glob.glob(db + ".corrupt-*")
    with RtmpRawClient(srv.host, srv.port) as c:
        c.handshake()
        assert c.connect("live").status_code == "NetConnection.Connect.Success"
