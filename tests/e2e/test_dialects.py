"""lal, xiu and Huawei Cloud notifications (issue 11) end to end: a real srsish, ffmpeg publishing and playing
over RTMP and HTTP-FLV, and a HookReceiver standing in for each backend at /hooks/<dialect>/<event>.

Every body is checked against the seeds (../shared/seeds: 000 xiu, 002 lal, 004 Huawei): keys in order, JSON
types, values; start and stop share their id; xiu's on_publish refuses a publisher before Publish.Start;
Huawei's auth_sign verifies; lal's on_update lists a stream with its publisher and two players; a lal or
Huawei backend answering 500 refuses nobody and gets the event again.
"""
import hashlib
import hmac
import json
import re
import time

import pytest

from helpers import peers
from helpers.hooks_receiver import OK, HookReceiver, Reply
from helpers.http_util import http_remux_block, http_server_block, wait_flv_live, wait_http_port
from helpers.util import free_port, wait_for

pytestmark = pytest.mark.e2e

ID8 = re.compile(r"^[0-9a-z]{8}$")
ADDR = re.compile(r"^127\.0\.0\.1:\d+$")
# seed 002, lal's raw on_pub_start request: the keys in order and their JSON types
LAL_SESSION = [("server_id", str), ("protocol", str), ("url", str), ("app_name", str), ("stream_name", str),
               ("url_param", str), ("session_id", str), ("remote_addr", str), ("has_in_session", bool),
               ("has_out_session", bool)]
LAL_CONNECT = ["server_id", "session_id", "remote_addr", "app", "flashVer", "tcUrl"]
LAL_INFO = ["server_id", "bin_info", "lal_version", "api_version", "notify_version", "start_time"]
LAL_GROUP = ["stream_name", "app_name", "audio_codec", "video_codec", "video_width", "video_height", "pub", "subs",
             "pull"]
LAL_STAT = ["session_id", "protocol", "base_type", "remote_addr", "start_time", "read_bytes_sum",
            "wrote_bytes_sum", "bitrate_kbits", "read_bitrate_kbits", "write_bitrate_kbits"]
LAL_EVENTS = ("on_server_start", "on_update", "on_pub_start", "on_pub_stop", "on_sub_start", "on_sub_stop",
              "on_rtmp_connect", "on_hls_make_ts")
HUAWEI_KEYS = ["domain", "app", "stream", "usr_args", "client_ip", "node_ip", "publish_timestamp", "event"]
KEY = "hw-key-7f3a"


def got(rx, dialect, event):
    """Requests to /hooks/<dialect>/<event>, first attempts only, in arrival order."""
    return [r for r in rx.requests if r.path == "/hooks/%s/%s" % (dialect, event)
            and r.header("X-Srsish-Attempt") in (None, "1")]


def wait_got(rx, dialect, event, count=1, timeout=15.0, where=None):
    def enough():
        found = [r for r in got(rx, dialect, event) if where is None or where(r)]
        return found if len(found) >= count else None
    return wait_for(enough, timeout, interval=0.1, message="%d %s %s\n%s" % (count, dialect, event, rx.dump()))


def lal_block(rx, interval=1):
    lines = ["lal_http_notify {", "    enabled on;", "    update_interval_sec %s;" % interval]
    lines += ["    %s %s;" % (ev, rx.url("/hooks/lal/" + ev)) for ev in LAL_EVENTS]
    return "\n".join(lines + ["}"])


def xiu_block(rx):
    lines = ["xiu_httpnotify {", "    enabled on;"]
    lines += ["    %s %s;" % (ev, rx.url("/hooks/xiu/" + ev)) for ev in ("on_publish", "on_unpublish", "on_play",
                                                                        "on_stop")]
    return "\n".join(lines + ["}"])


def huawei_block(rx, key=None):
    lines = ["    huawei_notify {", "        enabled on;", "        url %s;" % rx.url("/hooks/huawei/notify")]
    if key:
        lines.append("        key %s;" % key)
    return "\n".join(lines + ["    }"])


def compact(r) -> None:
    assert r.raw.decode() == json.dumps(r.json, separators=(",", ":"), ensure_ascii=False), r.raw


def start(make_server, tmp_path, global_extra="", vhost_extra=""):
    port = free_port()
    root = tmp_path / "html"
    root.mkdir(exist_ok=True)
    srv = make_server(global_extra=http_server_block(port, str(root)) + "\n" + global_extra,
                      vhost_extra=http_remux_block() + "\n" + vhost_extra)
    wait_http_port(srv, port)
    return srv, port


# ----------------------------------------------------------------------------------------------- lal
def test_lal_bodies_pairing_and_on_update(make_server, procs, media, tmp_path):
    """ffmpeg publishes live/lal?token=1111; an RTMP and an HTTP-FLV ffmpeg play it. lal's backend gets
    on_server_start, on_rtmp_connect, on_pub_start, two on_sub_start, on_update listing the publisher and both
    players, then the stops with the same session ids, bodies as the seed."""
    with HookReceiver() as rx:
        srv, http = start(make_server, tmp_path, global_extra=lal_block(rx))
        boot = wait_got(rx, "lal", "on_server_start")[0]
        assert list(boot.body) == LAL_INFO and all(type(v) is str for v in boot.body.values()), boot.raw
        compact(boot)
        server_id = boot.body["server_id"]
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$", boot.body["start_time"]), boot.raw

        pub = peers.ffmpeg_publish(procs, srv.url("lal") + "?token=1111", media.gop3.path, loop=True)
        wait_got(rx, "lal", "on_pub_start")
        rtmp_player = peers.ffmpeg_play(procs, srv.url("lal"), str(tmp_path / "r.flv"), duration=30, name="rtmp")
        wait_got(rx, "lal", "on_sub_start", 1)
        flv_url = "http://127.0.0.1:%d/live/lal.flv?token=2222" % http
        flv_player = peers.ffmpeg_play(procs, flv_url, str(tmp_path / "f.flv"), duration=30, name="flv")
        wait_got(rx, "lal", "on_sub_start", 2)

        def full_update():
            for r in got(rx, "lal", "on_update"):
                groups = [g for g in r.body["groups"] if g["stream_name"] == "lal"]
                if groups and groups[0]["pub"]["session_id"] and len(groups[0]["subs"]) == 2:
                    return r
            return None
        upd = wait_for(full_update, 15, interval=0.2, message="an on_update with a publisher and two players")
        compact(upd)
        assert list(upd.body) == ["server_id", "groups"] and upd.body["server_id"] == server_id
        [group] = [g for g in upd.body["groups"] if g["stream_name"] == "lal"]
        assert list(group) == LAL_GROUP, group
        assert group["app_name"] == "live" and group["video_codec"] == "H264" and group["audio_codec"] == "AAC"
        assert group["video_width"] == 320 and group["video_height"] == 240, group
        for s in [group["pub"], group["pull"]] + group["subs"]:
            assert list(s) == LAL_STAT, s
        assert group["pull"]["session_id"] == "" and group["pull"]["read_bytes_sum"] == 0
        assert group["pub"]["base_type"] == "PUB" and group["pub"]["protocol"] == "RTMP"
        assert group["pub"]["read_bytes_sum"] > 0 and ADDR.match(group["pub"]["remote_addr"]), group["pub"]
        assert sorted(s["protocol"] for s in group["subs"]) == ["FLV", "RTMP"], group["subs"]
        assert all(s["base_type"] == "SUB" and ADDR.match(s["remote_addr"]) for s in group["subs"])

        pub.stop()
        assert rtmp_player.wait(20) == 0, rtmp_player.tail()
        flv_player.wait(20)
        wait_got(rx, "lal", "on_pub_stop")
        wait_got(rx, "lal", "on_sub_stop", 2)

        [connect_pub, connect_play] = wait_got(rx, "lal", "on_rtmp_connect", 2)
        for r in (connect_pub, connect_play):
            compact(r)
            assert list(r.body) == LAL_CONNECT, r.raw
            assert r.body["server_id"] == server_id and r.body["app"] == "live" and ID8.match(r.body["session_id"])
            assert r.body["tcUrl"] == "rtmp://127.0.0.1:%d/live" % srv.port and ADDR.match(r.body["remote_addr"])
        # what ffmpeg sends: FMLE's flashVer when it publishes, a Flash player's when it plays
        assert connect_pub.body["flashVer"].startswith("FMLE/3.0 (compatible; Lavf"), connect_pub.raw
        assert connect_play.body["flashVer"] == "LNX 9,0,124,2", connect_play.raw

        [start_pub] = got(rx, "lal", "on_pub_start")
        [stop_pub] = got(rx, "lal", "on_pub_stop")
        subs = got(rx, "lal", "on_sub_start")
        stops = got(rx, "lal", "on_sub_stop")
        for r in [start_pub, stop_pub] + subs + stops:
            compact(r)
            assert [(k, type(v)) for k, v in r.body.items()] == LAL_SESSION, r.raw
            assert r.body["server_id"] == server_id and r.body["app_name"] == "live"
            assert r.body["stream_name"] == "lal" and ADDR.match(r.body["remote_addr"]), r.raw
            assert r.header("X-Srsish-Event-Id"), r.headers
        rtmp_base = "rtmp://127.0.0.1:%d/live/lal" % srv.port
        assert start_pub.body["url"] == rtmp_base + "?token=1111" and start_pub.body["url_param"] == "token=1111"
        assert start_pub.body["protocol"] == "RTMP" and start_pub.body == stop_pub.body | {
            "has_in_session": True, "has_out_session": False}
        # no player yet when it started; its two players were still attached when it stopped
        assert (start_pub.body["has_in_session"], start_pub.body["has_out_session"]) == (True, False)
        assert (stop_pub.body["has_in_session"], stop_pub.body["has_out_session"]) == (False, True)
        assert start_pub.body["session_id"] == connect_pub.body["session_id"]
        by_protocol = {r.body["protocol"]: r for r in subs}
        assert set(by_protocol) == {"RTMP", "HTTP-FLV"}, [r.raw for r in subs]
        assert by_protocol["RTMP"].body["url"] == rtmp_base and by_protocol["RTMP"].body["url_param"] == ""
        assert by_protocol["HTTP-FLV"].body["url"] == flv_url
        assert by_protocol["HTTP-FLV"].body["url_param"] == "token=2222"
        assert by_protocol["RTMP"].body["session_id"] == connect_play.body["session_id"]
        # the second player's start counts the first player and the publisher, and itself
        second = subs[1]
        assert (second.body["has_in_session"], second.body["has_out_session"]) == (True, True), second.raw
        # every start has its stop, with the same session id (the id the API shows)
        assert sorted(r.body["session_id"] for r in subs) == sorted(r.body["session_id"] for r in stops)
        last_stop = stops[-1]
        assert last_stop.body["has_out_session"] is False, last_stop.raw


# ----------------------------------------------------------------------------------------------- xiu
def test_xiu_bodies_and_pairing(make_server, procs, media, tmp_path):
    """RTMP publish, RTMP and HTTP-FLV play: Publish/UnPublish, Subscribe/UnSubscribe as the seed, one id per
    start and stop."""
    with HookReceiver() as rx:
        srv, http = start(make_server, tmp_path, global_extra=xiu_block(rx))
        pub = peers.ffmpeg_publish(procs, srv.url("test") + "?token=password", media.gop3.path, loop=True)
        wait_got(rx, "xiu", "on_publish")
        wait_flv_live(http, "/live/test.flv")
        p1 = peers.ffmpeg_play(procs, srv.url("test") + "?token=password", str(tmp_path / "r.flv"), duration=3,
                               name="rtmp")
        p2 = peers.ffmpeg_play(procs, "http://127.0.0.1:%d/live/test.flv?token=password" % http,
                               str(tmp_path / "f.flv"), duration=3, name="flv")
        assert p1.wait(20) == 0, p1.tail()
        p2.wait(20)
        wait_got(rx, "xiu", "on_stop", 2)
        pub.stop()
        wait_got(rx, "xiu", "on_unpublish")

        def check(r, tag, sub_type, url):
            compact(r)
            assert list(r.body) == [tag], r.raw
            inner = r.body[tag]
            assert list(inner) == ["identifier", "info"]
            assert inner["identifier"] == {"Rtmp": {"app_name": "live", "stream_name": "test"}}
            assert list(inner["identifier"]["Rtmp"]) == ["app_name", "stream_name"]
            info = inner["info"]
            assert list(info) == ["id", "sub_type", "notify_info"] and type(info["id"]) is str and info["id"]
            assert info["sub_type"] == sub_type, r.raw
            assert list(info["notify_info"]) == ["request_url", "remote_addr"]
            assert info["notify_info"]["request_url"] == url, r.raw
            assert ADDR.match(info["notify_info"]["remote_addr"]), r.raw
            return info["id"], info["notify_info"]["remote_addr"]

        rtmp_url = "rtmp://127.0.0.1:%d/live/test?token=password" % srv.port
        [p] = got(rx, "xiu", "on_publish")
        [u] = got(rx, "xiu", "on_unpublish")
        assert check(p, "Publish", "PushRtmp", rtmp_url) == check(u, "UnPublish", "PushRtmp", rtmp_url)
        starts = {r.body["Subscribe"]["info"]["sub_type"]: r for r in got(rx, "xiu", "on_play")}
        stops = {r.body["UnSubscribe"]["info"]["sub_type"]: r for r in got(rx, "xiu", "on_stop")}
        assert set(starts) == set(stops) == {"PlayerRtmp", "PlayerHttpFlv"}
        for sub_type, url in (("PlayerRtmp", rtmp_url), ("PlayerHttpFlv", "/live/test.flv?token=password")):
            assert check(starts[sub_type], "Subscribe", sub_type, url) == \
                check(stops[sub_type], "UnSubscribe", sub_type, url)
        ids = {check(r, "Subscribe", k, r.body["Subscribe"]["info"]["notify_info"]["request_url"])[0]
               for k, r in starts.items()}
        assert len(ids) == 2 and p.body["Publish"]["info"]["id"] not in ids


def test_xiu_on_publish_refuses_before_publish_start(make_server, procs, media, tmp_path):
    """xiu's on_publish answering 403 refuses ffmpeg: it exits with an error, no Publish.Start is logged, no
    UnPublish follows, SRS's on_publish is never asked; the next publisher, accepted, goes live."""
    def answer(req):
        return Reply(403, b"no") if "refused" in req.raw.decode() else OK
    with HookReceiver(answer) as rx:
        hooks = "\n".join(["    http_hooks {", "        enabled on;",
                           "        on_publish %s;" % rx.url("/hooks/srs/on_publish"), "    }"])
        srv, http = start(make_server, tmp_path, global_extra=xiu_block(rx), vhost_extra=hooks)
        pub = peers.ffmpeg_publish(procs, srv.url("refused"), media.short.path, name="refused")
        assert pub.wait(20) != 0, pub.tail()
        [r] = got(rx, "xiu", "on_publish")
        assert r.body["Publish"]["identifier"]["Rtmp"]["stream_name"] == "refused"
        log = srv.log_text()
        assert "xiu on_publish %s rejected: HTTP 403" % rx.url("/hooks/xiu/on_publish") in log, log[-3000:]
        assert "start publish" not in log and "xiu on_publish" in pub.output(), pub.tail()
        assert not [q for q in rx.requests if q.path == "/hooks/srs/on_publish"], rx.dump()

        ok = peers.ffmpeg_publish(procs, srv.url("accepted"), media.gop3.path, loop=True, name="accepted")
        wait_flv_live(http, "/live/accepted.flv")
        ok.stop()
        wait_got(rx, "xiu", "on_unpublish")
        time.sleep(0.5)
        assert [q.body["UnPublish"]["identifier"]["Rtmp"]["stream_name"] for q in got(rx, "xiu", "on_unpublish")] \
            == ["accepted"], rx.dump()


# -------------------------------------------------------------------------------------------- Huawei
def test_huawei_bodies_signature_and_retry(make_server, procs, media, tmp_path):
    """PUBLISH and PUBLISH_DONE as the seed with the same publish_timestamp and a valid auth_sign; the backend
    answers 500 to the first PUBLISH and 500 to every lal event: the publisher is live all along and both
    are sent again (same event id) until accepted."""
    first = {"huawei": True}
    lal_fails = {"n": 0}

    def answer(req):
        if req.path == "/hooks/huawei/notify" and first["huawei"]:
            first["huawei"] = False
            return Reply(500, b"busy")
        if req.path.startswith("/hooks/lal/on_pub_") and lal_fails["n"] < 2:
            lal_fails["n"] += 1
            return Reply(500, b"busy")
        return Reply(200, b"")
    with HookReceiver(answer) as rx:
        lal = "\n".join(["lal_http_notify {", "    enabled on;",
                         "    on_pub_start %s;" % rx.url("/hooks/lal/on_pub_start"),
                         "    on_pub_stop %s;" % rx.url("/hooks/lal/on_pub_stop"), "}"])
        srv, http = start(make_server, tmp_path, global_extra=lal, vhost_extra=huawei_block(rx, KEY))
        pub = peers.ffmpeg_publish(procs, srv.url("example_stream") + "?auth_info=abc&cdn=hw", media.gop3.path,
                                   loop=True)
        wait_flv_live(http, "/live/example_stream.flv")      # live although both backends said 500
        before = time.time()
        wait_for(lambda: len([r for r in rx.requests if r.path == "/hooks/huawei/notify"]) >= 2, 15,
                 message="PUBLISH sent again after a 500\n" + rx.dump())
        wait_for(lambda: len([r for r in rx.requests if r.path == "/hooks/lal/on_pub_start"]) >= 2, 15,
                 message="lal on_pub_start sent again after a 500\n" + rx.dump())
        pub.stop()
        wait_for(lambda: [r for r in rx.requests if r.path == "/hooks/huawei/notify"
                          and r.body.get("event") == "PUBLISH_DONE"], 15, message="PUBLISH_DONE\n" + rx.dump())
        wait_for(lambda: [r for r in rx.requests if r.path == "/hooks/lal/on_pub_stop" and r.reply
                          and r.reply.status == 200], 15, message="lal on_pub_stop accepted\n" + rx.dump())

        sent = [r for r in rx.requests if r.path == "/hooks/huawei/notify"]
        publishes = [r for r in sent if r.body["event"] == "PUBLISH"]
        assert len(publishes) == 2 and publishes[0].raw == publishes[1].raw, rx.dump()
        assert publishes[0].header("X-Srsish-Event-Id") == publishes[1].header("X-Srsish-Event-Id")
        assert [r.header("X-Srsish-Attempt") for r in publishes] == ["1", "2"]
        [done] = [r for r in sent if r.body["event"] == "PUBLISH_DONE"]
        for r in (publishes[0], done):
            compact(r)
            body = r.body
            assert list(body) == HUAWEI_KEYS + ["auth_timestamp", "auth_sign"], r.raw
            assert all(type(v) is str for v in body.values()), r.raw
            assert body["domain"] == "127.0.0.1" and body["app"] == "live" and body["stream"] == "example_stream"
            assert body["usr_args"] == "auth_info=abc&cdn=hw" and body["client_ip"] == "127.0.0.1"
            assert body["node_ip"] == "127.0.0.1"
            msg = body["event"] + body["domain"] + body["app"] + body["stream"] + body["auth_timestamp"]
            assert body["auth_sign"] == hmac.new(KEY.encode(), msg.encode(), hashlib.sha256).hexdigest()
            assert abs(int(body["auth_timestamp"]) - before) < 60
        assert publishes[0].body["publish_timestamp"] == done.body["publish_timestamp"]
        assert abs(int(done.body["publish_timestamp"]) - before) < 60
        lal_starts = [r for r in rx.requests if r.path == "/hooks/lal/on_pub_start"]
        assert len({r.header("X-Srsish-Event-Id") for r in lal_starts}) == 1 and len(lal_starts) >= 2
