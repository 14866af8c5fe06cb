"""SRS's HTTP API end to end (issue 4): a real srsish process with `http_api` (and
`http_server` + `http_remux`), ffmpeg publishing over RTMP and ffmpeg/curl playing over RTMP
and HTTP-FLV, hooks going to a real HTTP receiver in the test process.

What is proven here: the envelope (`code`, `server`, `service`, `pid` as a string, in that
order) on versions, summaries, vhosts, streams and clients; SRS's stream and client objects
(keys in SRS's order, codec details, publish.cid, client types fmle-publish / rtmp-play /
flv-play) with correct counts and byte counters that grow while media flows, and kbps that
becomes non-zero; 2048/2049 with HTTP 200 for unknown ids; DELETE /api/v1/clients/ID kicks an
RTMP player (ffmpeg ends, on_stop then on_close), an HTTP-FLV player (curl ends, on_stop, no
on_close) and a publisher (ffmpeg ends, on_unpublish then on_close, its FLV viewers cut off
with on_stop); Basic auth (401 without or with wrong credentials); CORS; and one server for
the API and the files when they share a port.
"""
import http.client
import json
import re
import time

import pytest

from helpers import peers
from helpers.hooks_receiver import HookReceiver
from helpers.http_util import (FlvReader, api_call, api_get, basic_auth, hooks_block, http_api_block,
                               http_remux_block, http_server_block, wait_flv_live, wait_http_port)
from helpers.util import free_port, wait_for

pytestmark = pytest.mark.e2e

ID8 = re.compile(r"^[0-9a-z]{8}$")
VID = re.compile(r"^vid-[0-9a-z]{7}$")
ENVELOPE = ["code", "server", "service", "pid"]
STREAM_KEYS = ["id", "name", "vhost", "app", "tcUrl", "url", "live_ms", "clients", "frames", "send_bytes",
               "recv_bytes", "kbps", "publish", "video", "audio"]
CLIENT_KEYS = ["id", "vhost", "stream", "ip", "pageUrl", "swfUrl", "tcUrl", "url", "name", "type", "publish",
               "alive", "send_bytes", "recv_bytes", "kbps"]
HOOK_EVENTS = ("on_connect", "on_close", "on_publish", "on_unpublish", "on_play", "on_stop")


class ApiSite:
    def __init__(self, srv, api_port, http_port, root):
        self.srv, self.api_port, self.http_port, self.root = srv, api_port, http_port, root

    def get(self, path, **kw):
        return api_get(self.api_port, path, **kw)

    def flv(self, stream, query=""):
        return "http://127.0.0.1:%d/live/%s.flv%s" % (self.http_port, stream, query)


def start_site(make_server, tmp_path, rx=None, shared=False, auth=None, api_crossdomain=True) -> ApiSite:
    root = tmp_path / "html"
    root.mkdir(exist_ok=True)
    (root / "index.html").write_bytes(b"<html>srsish api</html>\n")
    api_port = free_port()
    http_port = api_port if shared else free_port()
    conf = http_api_block(api_port, crossdomain=api_crossdomain, auth=auth) + "\n" + \
        http_server_block(http_port, str(root))
    vhost_extra = [http_remux_block()]
    if rx is not None:
        vhost_extra.append(hooks_block({ev: [rx.url("/hooks/a/" + ev)] for ev in HOOK_EVENTS}))
    srv = make_server(global_extra=conf, vhost_extra="\n".join(vhost_extra))
    wait_http_port(srv, api_port)
    wait_http_port(srv, http_port)
    return ApiSite(srv, api_port, http_port, str(root))


def check_envelope(body, srv, code=0):
    assert list(body)[:4] == ENVELOPE, "reply must start with %s: %r" % (ENVELOPE, body)
    assert body["code"] == code, body
    assert isinstance(body["server"], str) and body["server"], body
    assert isinstance(body["service"], str) and ID8.match(body["service"]), body
    assert body["pid"] == str(srv.pid), "pid must be the server's pid as a string: %r" % body


def is_kbps(k):
    return isinstance(k, dict) and isinstance(k.get("recv_30s"), int) and isinstance(k.get("send_30s"), int)


def streams_named(site, name):
    return [s for s in site.get("/api/v1/streams/")["streams"] if s["name"] == name]


def clients_of(site, stream_id):
    return [c for c in site.get("/api/v1/clients/")["clients"] if c["stream"] == stream_id]


def wait_stream(site, name, nclients, timeout=15.0):
    """The stream object once it shows `nclients` clients (publisher included)."""
    def ready():
        found = streams_named(site, name)
        return found[0] if found and found[0]["clients"] == nclients and found[0]["publish"]["active"] else None
    try:
        return wait_for(ready, timeout, interval=0.2, message="stream %s with %d clients" % (name, nclients))
    except AssertionError:
        raise AssertionError("stream %s never had %d clients; streams=%r clients=%r"
                             % (name, nclients, site.get("/api/v1/streams/"), site.get("/api/v1/clients/")))


def by_type(clients):
    out = {}
    for c in clients:
        assert c["type"] not in out, "two clients of type %s: %r" % (c["type"], clients)
        out[c["type"]] = c
    return out


# ----------------------------------------------------------------------------- shapes, no media
def test_envelope_versions_summaries_vhosts_and_errors(make_server, tmp_path):
    site = start_site(make_server, tmp_path)
    srv = site.srv
    v = site.get("/api/v1/versions")
    check_envelope(v, srv)
    d = v["data"]
    assert all(isinstance(d[k], int) for k in ("major", "minor", "revision")), d
    assert d["version"] == "%d.%d.%d" % (d["major"], d["minor"], d["revision"]), d

    s = site.get("/api/v1/summaries")
    check_envelope(s, srv)
    assert s["data"]["ok"] is True and isinstance(s["data"]["now_ms"], int), s
    assert isinstance(s["data"]["self"], dict) and isinstance(s["data"]["system"], dict), s

    vh = site.get("/api/v1/vhosts/")
    check_envelope(vh, srv)
    default = [x for x in vh["vhosts"] if x["name"] == "__defaultVhost__"]
    assert len(default) == 1 and VID.match(default[0]["id"]), vh
    for k in ("enabled", "clients", "streams", "send_bytes", "recv_bytes", "kbps", "hls"):
        assert k in default[0], "vhost without %s: %r" % (k, default[0])
    assert default[0]["clients"] == 0 and default[0]["streams"] == 0 and is_kbps(default[0]["kbps"])
    one = site.get("/api/v1/vhosts/" + default[0]["id"])
    check_envelope(one, srv)
    assert one["vhost"]["name"] == "__defaultVhost__", one

    st = site.get("/api/v1/streams/")
    check_envelope(st, srv)
    assert st["streams"] == [], st
    # SRS answers /api/v1/streams with a 302 to the slash form; srsish may answer it directly
    status, hdrs, body = api_call(site.api_port, "/api/v1/streams")
    assert status in (200, 302), (status, body)
    if status == 302:
        assert hdrs.get("location") == "/api/v1/streams/", hdrs
    else:
        check_envelope(body, srv)
        assert body["streams"] == []
    cl = site.get("/api/v1/clients/")
    check_envelope(cl, srv)
    assert cl["clients"] == [], cl

    for path, code in (("/api/v1/streams/vid-nosuch", 2048), ("/api/v1/clients/nosuch00", 2049)):
        status, _, body = api_call(site.api_port, path)
        assert status == 200 and isinstance(body, dict) and body.get("code") == code, \
            "GET %s: expected HTTP 200 {code:%d}, got %d %r" % (path, code, status, body)
    status, _, body = api_call(site.api_port, "/api/v1/clients/nosuch00", method="DELETE")
    assert status == 200 and body.get("code") == 2049, (status, body)

    # CORS on the API (crossdomain on)
    status, hdrs, _ = api_call(site.api_port, "/api/v1/versions", headers={"Origin": "http://x.example"})
    assert hdrs.get("access-control-allow-origin") == "*", hdrs
    status, hdrs, _ = api_call(site.api_port, "/api/v1/clients/", method="OPTIONS",
                               headers={"Origin": "http://x.example", "Access-Control-Request-Method": "DELETE"})
    assert status in (200, 204) and hdrs.get("access-control-allow-origin") == "*", (status, hdrs)
    # the file server on its own port is a different server: no API there but /api/v1/versions
    status, _, body = api_call(site.http_port, "/api/v1/versions")
    assert status == 200 and body["code"] == 0, (status, body)


def test_auth(make_server, tmp_path):
    """http_api auth: 401 without credentials and with wrong ones; 200 with the right ones."""
    site = start_site(make_server, tmp_path, auth=("admin", "s3cret"))
    for auth in (None, basic_auth("admin", "wrong"), basic_auth("root", "s3cret"), "Basic !!notbase64",
                 "Bearer s3cret"):
        for path in ("/api/v1/versions", "/api/v1/streams/", "/api/v1/clients/"):
            status, _, body = api_call(site.api_port, path, auth=auth)
            assert status == 401, "GET %s with %r: expected 401, got %d %r" % (path, auth, status, body)
            assert not (isinstance(body, dict) and "streams" in body or isinstance(body, dict) and "clients" in body)
    status, _, body = api_call(site.api_port, "/api/v1/clients/nosuch00", method="DELETE")
    assert status == 401, (status, body)
    body = site.get("/api/v1/streams/", auth=basic_auth("admin", "s3cret"))
    check_envelope(body, site.srv)


def test_shared_port_serves_api_and_files(make_server, tmp_path):
    """http_api and http_server on one port: one server answers both."""
    site = start_site(make_server, tmp_path, shared=True)
    assert site.api_port == site.http_port
    check_envelope(site.get("/api/v1/versions"), site.srv)
    check_envelope(site.get("/api/v1/streams/"), site.srv)
    conn = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=5)
    try:
        conn.request("GET", "/index.html")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"<html>srsish api</html>\n"
        sock = conn.sock
        conn.request("GET", "/api/v1/summaries")       # same keep-alive connection
        r = conn.getresponse()
        body = json.loads(r.read())
        assert r.status == 200 and (r.getheader("Content-Type") or "").startswith("application/json")
        check_envelope(body, site.srv)
        assert conn.sock is sock, "the shared server did not keep the connection alive"
    finally:
        conn.close()


# ----------------------------------------------------------------------------- live: list, count, kick players
def test_streams_clients_live_then_kick_players(make_server, procs, media, tmp_path):
    """ffmpeg publishes; an ffmpeg RTMP player and an ffmpeg HTTP-FLV player play. The API
    lists the stream (SRS's object, H264 320x240 / AAC 44100 mono, 3 clients, publish.cid the
    publisher) and its three clients (fmle-publish, rtmp-play, flv-play); byte counters grow;
    kbps becomes non-zero. Then DELETE kicks each player: its process ends, its hooks follow,
    it leaves the lists, and the publisher goes on."""
    with HookReceiver() as rx:
        site = start_site(make_server, tmp_path, rx)
        srv = site.srv
        name = "apilive"
        pub = peers.ffmpeg_publish(procs, srv.url(name), media.gop3.path, loop=True)
        wait_flv_live(site.http_port, "/live/%s.flv" % name)
        rtmp_player = peers.ffmpeg_play(procs, srv.url(name), str(tmp_path / "rtmp.flv"), name="rtmp-player")
        flv_player = peers.ffmpeg_play(procs, site.flv(name, "?who=ffmpeg"), str(tmp_path / "flv.flv"),
                                       name="flv-player")
        stream = wait_stream(site, name, 3)

        assert list(stream) == STREAM_KEYS, "stream keys %s, SRS has %s" % (list(stream), STREAM_KEYS)
        assert VID.match(stream["id"]) and stream["app"] == "live" and stream["url"] == "/live/" + name, stream
        vhosts = site.get("/api/v1/vhosts/")["vhosts"]
        default = [v for v in vhosts if v["name"] == "__defaultVhost__"][0]
        assert stream["vhost"] == default["id"], "stream.vhost must be the vhost id: %r %r" % (stream, default)
        assert isinstance(stream["live_ms"], int) and stream["live_ms"] > 0, stream
        assert isinstance(stream["tcUrl"], str) and "/live" in stream["tcUrl"], stream
        assert isinstance(stream["frames"], int) and stream["frames"] > 0, stream
        assert is_kbps(stream["kbps"]), stream
        v, a = stream["video"], stream["audio"]
        assert v and v["codec"] == "H264" and (v["width"], v["height"]) == (320, 240), stream
        assert isinstance(v["profile"], str) and v["profile"] and isinstance(v["level"], str), stream
        assert a and a["codec"] == "AAC" and a["sample_rate"] == 44100 and a["channel"] == 1, stream
        assert a["profile"] == "LC", stream
        one = site.get("/api/v1/streams/" + stream["id"])
        check_envelope(one, srv)
        assert one["stream"]["id"] == stream["id"] and one["stream"]["name"] == name, one

        clients = clients_of(site, stream["id"])
        types = by_type(clients)
        assert set(types) == {"fmle-publish", "rtmp-play", "flv-play"}, clients
        for c in clients:
            assert list(c) == CLIENT_KEYS, "client keys %s, SRS has %s" % (list(c), CLIENT_KEYS)
            assert ID8.match(c["id"]) and c["vhost"] == stream["vhost"] and c["ip"] == "127.0.0.1", c
            assert c["url"] == "/live/" + name and c["name"] == name, c
            assert c["publish"] is (c["type"] == "fmle-publish"), c
            assert isinstance(c["alive"], (int, float)) and c["alive"] >= 0 and is_kbps(c["kbps"]), c
        pub_c, rtmp_c, flv_c = types["fmle-publish"], types["rtmp-play"], types["flv-play"]
        assert stream["publish"] == {"active": True, "cid": pub_c["id"]}, stream
        assert rx.find(action="on_publish", client_id=pub_c["id"]), "publisher id unlike its hooks' client_id"
        assert rx.find(action="on_play", client_id=rtmp_c["id"]) and rx.find(action="on_play", client_id=flv_c["id"])
        one = site.get("/api/v1/clients/" + flv_c["id"])
        check_envelope(one, srv)
        assert one["client"]["id"] == flv_c["id"] and one["client"]["type"] == "flv-play", one
        d = [v for v in site.get("/api/v1/vhosts/")["vhosts"] if v["name"] == "__defaultVhost__"][0]
        assert d["clients"] == 3 and d["streams"] == 1, d

        # byte counters grow while media flows
        before = {c["id"]: c for c in clients}

        def grown():
            now = {c["id"]: c for c in clients_of(site, stream["id"])}
            ok = all(now[cid]["send_bytes"] > before[cid]["send_bytes"] for cid in (rtmp_c["id"], flv_c["id"]))
            return now if ok and now[pub_c["id"]]["recv_bytes"] > before[pub_c["id"]]["recv_bytes"] else None
        after = wait_for(grown, 5, interval=0.2, message="every client's byte counter to grow")
        s2 = streams_named(site, name)[0]
        assert after[pub_c["id"]]["recv_bytes"] > before[pub_c["id"]]["recv_bytes"], (before, after)
        for cid in (rtmp_c["id"], flv_c["id"]):
            assert after[cid]["send_bytes"] > before[cid]["send_bytes"] > 0, (before[cid], after[cid])
        assert s2["recv_bytes"] > stream["recv_bytes"] and s2["send_bytes"] > stream["send_bytes"], (stream, s2)
        assert s2["frames"] > stream["frames"], (stream, s2)

        def rates_up():
            s = streams_named(site, name)[0]
            cs = {c["id"]: c for c in clients_of(site, stream["id"])}
            return (s["kbps"]["recv_30s"] > 0 and s["kbps"]["send_30s"] > 0
                    and cs[pub_c["id"]]["kbps"]["recv_30s"] > 0 and cs[flv_c["id"]]["kbps"]["send_30s"] > 0)
        try:
            wait_for(rates_up, 20, interval=0.5, message="kbps")
        except AssertionError:
            raise AssertionError("kbps still 0 after 20 s: %r %r" % (streams_named(site, name),
                                                                      clients_of(site, stream["id"])))

        # kick the RTMP player
        status, _, body = api_call(site.api_port, "/api/v1/clients/" + rtmp_c["id"], method="DELETE")
        assert status == 200, (status, body)
        check_envelope(body, srv)
        rtmp_player.wait(8)
        stop = rx.wait(1, 5, action="on_stop", client_id=rtmp_c["id"])[0]
        close = rx.wait(1, 5, action="on_close", client_id=rtmp_c["id"])[0]
        assert stop.arrived <= close.arrived, "on_stop must come before on_close:\n" + rx.dump()
        assert close.body.get("send_bytes", 0) > 0, close.body
        assert flv_player.alive(), "kicking the RTMP player ended the FLV player: " + flv_player.tail()

        # kick the HTTP-FLV player
        status, _, body = api_call(site.api_port, "/api/v1/clients/" + flv_c["id"], method="DELETE")
        assert status == 200 and body["code"] == 0, (status, body)
        flv_player.wait(8)
        rx.wait(1, 5, action="on_stop", client_id=flv_c["id"])
        time.sleep(0.3)
        assert not rx.find(action="on_close", client_id=flv_c["id"]), "on_close for an HTTP-FLV viewer:\n" + rx.dump()
        for cid in (rtmp_c["id"], flv_c["id"]):
            status, _, body = api_call(site.api_port, "/api/v1/clients/" + cid)
            assert body.get("code") == 2049, "kicked client %s still listed: %r" % (cid, body)
        assert pub.alive(), pub.tail()
        stream = wait_stream(site, name, 1)
        assert [c["type"] for c in clients_of(site, stream["id"])] == ["fmle-publish"]
        assert not rx.find(action="on_unpublish"), rx.dump()


def test_kick_publisher_cuts_flv_viewers(make_server, procs, media, tmp_path):
    """DELETE on the publisher: ffmpeg's publish ends, on_unpublish then on_close arrive for
    it, its HTTP-FLV viewers (curl and a raw socket) are cut off with on_stop, and the stream
    leaves /api/v1/streams/."""
    with HookReceiver() as rx:
        site = start_site(make_server, tmp_path, rx)
        name = "kickpub"
        pub = peers.ffmpeg_publish(procs, site.srv.url(name), media.gop3.path, loop=True)
        wait_flv_live(site.http_port, "/live/%s.flv" % name)
        cu = procs.spawn("curl", ["curl", "-s", "--max-time", "40", "-H", "Referer: http://page.example/x.html",
                                  "-o", str(tmp_path / "curl.flv"), site.flv(name, "?who=curl")])
        raw = FlvReader(site.http_port, "/live/%s.flv?who=raw" % name)
        try:
            assert raw.read_head() == 200
            stream = wait_stream(site, name, 3)
            assert sorted(c["type"] for c in clients_of(site, stream["id"])) == \
                ["flv-play", "flv-play", "fmle-publish"], clients_of(site, stream["id"])
            flv_clients = [c for c in clients_of(site, stream["id"]) if c["type"] == "flv-play"]
            assert len(flv_clients) == 2, flv_clients
            assert "http://page.example/x.html" in [c["pageUrl"] for c in flv_clients], flv_clients
            pub_id = stream["publish"]["cid"]
            raw.read_for(0.5)

            status, _, body = api_call(site.api_port, "/api/v1/clients/" + pub_id, method="DELETE")
            assert status == 200 and body["code"] == 0, (status, body)
            pub.wait(10)   # ffmpeg's publish ends (its exit code varies with where the write failed)
            assert raw.read_until_eof(5), "raw FLV viewer not cut off after the publisher was kicked"
        finally:
            raw.close()
        cu.wait(8)
        unpub = rx.wait(1, 5, action="on_unpublish", client_id=pub_id)[0]
        close = rx.wait(1, 5, action="on_close", client_id=pub_id)[0]
        assert unpub.arrived <= close.arrived, "on_unpublish must come before on_close:\n" + rx.dump()
        for c in flv_clients:
            rx.wait(1, 5, action="on_stop", client_id=c["id"])
        wait_for(lambda: not streams_named(site, name), 5, message="stream to leave /api/v1/streams/")
        assert site.get("/api/v1/clients/")["clients"] == [], site.get("/api/v1/clients/")
        status, _, body = api_call(site.api_port, "/api/v1/clients/" + pub_id)
        assert body.get("code") == 2049, body
