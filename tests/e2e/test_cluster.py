"""Edge/origin cluster and forward between srsish processes (issue 14), with real peers.

An edge (`cluster { mode remote; origin ...; }`) pulls a played stream from its origin over RTMP, one
upstream per stream whatever the number of players; a stream published to an edge is pushed on to the
origin; origins are tried in order; `forward` pushes every published stream to its destinations and to
what a `backend` answers; SO_REUSEPORT lets two edge processes share one port.
"""
import os
import socket
import subprocess
import time

import pytest

from helpers import peers
from helpers.hooks_receiver import OK, HookReceiver, Reply
from helpers.http_util import api_get, hooks_block, http_api_block, http_remux_block, wait_http_port, FlvReader
from helpers.probe import assert_first_video_keyframe, assert_h264_aac, ffprobe_frames
from helpers.util import free_port, wait_for

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cluster_block(*origins: str, extra: str = "") -> str:
    return "    cluster {\n        mode remote;\n        origin %s;\n%s    }\n" % (" ".join(origins), extra)


def upstream_players(api_port: int, stream: str) -> list:
    """The origin's RTMP players of `stream` (what an edge's upstream is, seen from the origin)."""
    clients = api_get(api_port, "/api/v1/clients/")["clients"]
    return [c for c in clients if c["name"] == stream and c["type"] == "rtmp-play"]


def probe_ok(path: str, frames: int = 10) -> None:
    p = ffprobe_frames(path)
    assert_h264_aac(p)
    assert_first_video_keyframe(p)
    assert len(p.video) >= frames, "only %d video frames in %s" % (len(p.video), path)


def test_edge_pulls_once_for_many_players_and_hooks_fire_on_each_node(make_server, media, procs, tmp_path):
    api, http = free_port(), free_port()
    with HookReceiver() as origin_hooks, HookReceiver() as edge_hooks:
        origin = make_server(global_extra=http_api_block(api),
                             vhost_extra=hooks_block({"on_play": [origin_hooks.url("/o/sessions")],
                                                      "on_connect": [origin_hooks.url("/o/clients")]}))
        wait_http_port(origin, api)
        edge = make_server(global_extra="http_server { enabled on; listen %d; dir ./html; }\n" % http,
                           vhost_extra=cluster_block("127.0.0.1:%d" % origin.port) + http_remux_block() + "\n" +
                           hooks_block({"on_play": [edge_hooks.url("/e/sessions")],
                                        "on_stop": [edge_hooks.url("/e/sessions")]}))
        wait_http_port(edge, http)
        peers.ffmpeg_publish(procs, origin.url("s1"), media.clip.path, loop=True)
        origin.wait_log("start publish", 10)
        outs = [str(tmp_path / n) for n in ("ff.flv", "dump.flv")]
        ff = peers.ffmpeg_play(procs, edge.url("s1"), outs[0], duration=3)
        dump = peers.rtmpdump_play(procs, edge.url("s1"), outs[1])
        with FlvReader(http, "/live/s1.flv") as flv:
            assert flv.read_head(10) == 200
            flv.read_for(2.5)
            body, _ = flv.payload()
        assert body[:3] == b"FLV" and len(body) > 50000, "HTTP-FLV from the edge got %d bytes" % len(body)
        # one upstream at the origin for three edge players
        wait_for(lambda: len(upstream_players(api, "s1")) == 1, 5, message="one upstream")
        assert len(upstream_players(api, "s1")) == 1
        peers.wait_all([ff], 30)
        dump.stop()
        for out in outs:
            probe_ok(out)
        # each node's hooks saw only its own clients: the edge three players, the origin one (the upstream)
        edge_plays = edge_hooks.wait(3, 10, action="on_play")
        assert {r.body["stream"] for r in edge_plays} == {"s1"}
        origin_plays = origin_hooks.find(action="on_play")
        assert len(origin_plays) == 1, origin_hooks.dump()
        # the upstream is closed a while after the last player left
        wait_for(lambda: not upstream_players(api, "s1"), 15, message="upstream closed at the origin")
        assert "closing the upstream" in edge.log_text()


def test_publish_to_an_edge_plays_from_the_origin_and_a_second_edge(make_server, media, procs, tmp_path):
    origin = make_server()
    edge1 = make_server(vhost_extra=cluster_block("127.0.0.1:%d" % origin.port))
    edge2 = make_server(vhost_extra=cluster_block("127.0.0.1:%d" % origin.port))
    peers.ffmpeg_publish(procs, edge1.url("pushed") + "?k=v", media.clip.path, loop=True)
    origin.wait_log("start publish", 10)
    assert "param=?k=v" in origin.log_text()   # the publisher's query goes on to the origin
    outs = [str(tmp_path / "origin.flv"), str(tmp_path / "edge2.flv")]
    players = [peers.ffmpeg_play(procs, origin.url("pushed"), outs[0], duration=2, name="from-origin"),
               peers.ffmpeg_play(procs, edge2.url("pushed"), outs[1], duration=2, name="from-edge2")]
    assert peers.wait_all(players, 30) == [0, 0]
    for out in outs:
        probe_ok(out)


def test_origin_failover_in_order(make_server, media, procs, tmp_path):
    down = free_port()                      # the first origin listed is not running
    origin = make_server()
    edge = make_server(vhost_extra=cluster_block("127.0.0.1:%d" % down, "127.0.0.1:%d" % origin.port))
    peers.ffmpeg_publish(procs, origin.url("fo"), media.clip.path, loop=True)
    origin.wait_log("start publish", 10)
    out = str(tmp_path / "fo.flv")
    assert peers.wait_all([peers.ffmpeg_play(procs, edge.url("fo"), out, duration=2)], 30) == [0]
    probe_ok(out)
    log = edge.log_text()
    assert "origin rtmp://127.0.0.1:%d/live/fo failed" % down in log and "from origin rtmp://127.0.0.1:%d/live/fo" % origin.port in log


def test_forward_to_srsish_and_dynamic_forward_through_the_callback_server(make_server, media, procs, tmp_path):
    dest, dyn = make_server(), make_server()
    api_port = free_port()
    api = procs.spawn("api-server", [os.sys.executable, os.path.join(REPO, "research", "api-server", "server.py"),
                                     str(api_port), "--host", "127.0.0.1", "--forward",
                                     "rtmp://127.0.0.1:%d/dyn/[stream]" % dyn.port])
    wait_for(lambda: _port_open(api_port), 10, message="callback server")
    down = free_port()
    src = make_server(vhost_extra="    forward {\n        enabled on;\n        destination 127.0.0.1:%d 127.0.0.1:%d;\n"
                                  "        backend http://127.0.0.1:%d/api/v1/forward;\n    }\n"
                                  % (down, dest.port, api_port))
    pub = peers.ffmpeg_publish(procs, src.url("fw"), media.clip.path, loop=True)
    dest.wait_log("start publish", 10)
    dyn.wait_log("start publish", 10)
    outs = [str(tmp_path / "dest.flv"), str(tmp_path / "dyn.flv")]
    players = [peers.ffmpeg_play(procs, dest.url("fw"), outs[0], duration=2, name="dest"),
               peers.ffmpeg_play(procs, dyn.url("fw", app="dyn"), outs[1], duration=2, name="dyn")]
    assert peers.wait_all(players, 30) == [0, 0]
    for out in outs:
        probe_ok(out)
    assert pub.alive, "the down destination must not affect the publisher"
    assert "on_forward" in api.output()
    assert "forward to rtmp://127.0.0.1:%d/live/fw failed" % down in src.log_text()


def test_backend_failure_keeps_the_publisher(make_server, media, procs):
    src = make_server(vhost_extra="    forward {\n        enabled on;\n        backend http://127.0.0.1:%d/x;\n    }\n"
                                  % free_port())
    pub = peers.ffmpeg_publish(procs, src.url("nb"), media.clip.path, loop=True)
    src.wait_log("forward backend", 10)
    assert "[Error]" in src.wait_log("no dynamic forward for this stream", 5)
    assert pub.alive


def test_two_edge_processes_share_one_port(make_server, media, procs, tmp_path):
    origin = make_server()
    port = free_port()
    edges = [make_server(port=port, vhost_extra=cluster_block("127.0.0.1:%d" % origin.port)) for _ in range(2)]
    peers.ffmpeg_publish(procs, origin.url("rp"), media.clip.path, loop=True)
    origin.wait_log("start publish", 10)
    served = set()
    for i in range(12):
        out = str(tmp_path / ("p%d.flv" % i))
        assert peers.wait_all([peers.ffmpeg_play(procs, edges[0].url("rp"), out, frames=5, name="p%d" % i)], 30) == [0]
        served = {n for n, e in enumerate(edges) if "start play" in e.log_text()}
        if served == {0, 1}:
            break
    assert served == {0, 1}, "the kernel should spread players over both processes sharing the port"


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.3).close()
        return True
    except OSError:
        return False


def test_token_traverse_refuses_what_the_origin_refuses(make_server, media, procs, tmp_path):
    """`token_traverse on`: the origin judges each edge player (its tcUrl and query) before the edge plays to it."""
    def origin_decides(req):   # the origin's on_connect refuses the bad token (the publisher has none)
        return Reply(200, b'{"code":403}') if "token=bad" in req.body.get("tcUrl", "") else OK
    with HookReceiver(origin_decides) as origin_hooks:
        origin = make_server(vhost_extra=hooks_block({"on_connect": [origin_hooks.url("/o/clients")]}))
        edge = make_server(vhost_extra=cluster_block("127.0.0.1:%d" % origin.port, extra="        token_traverse on;\n"))
        peers.ffmpeg_publish(procs, origin.url("tt") + "?token=good", media.clip.path, loop=True)
        origin.wait_log("start publish", 10)
        base = "rtmp://127.0.0.1:%d/live" % edge.port
        refused = procs.spawn("refused", ["rtmpdump", "-q", "-r", base + "/tt", "-t", base + "?token=bad", "--live",
                                          "-B", "2", "-o", str(tmp_path / "refused.flv")])
        assert refused.wait(15) != 0
        assert "token traverse: origin refused the client" in edge.wait_log("token traverse", 5)
        assert "start play" not in edge.log_text()
        out = str(tmp_path / "good.flv")
        good = procs.spawn("good", ["rtmpdump", "-q", "-r", base + "/tt", "-t", base + "?token=good", "--live",
                                    "-B", "3", "-o", out], out=out)
        assert good.wait(20) in (0, 2), good.output()   # 2: librtmp calls a live download "incomplete"
        probe_ok(out)
        # the origin saw each client's own tcUrl (with its token), then the edge's upstream
        tc_urls = [r.body["tcUrl"] for r in origin_hooks.find(action="on_connect")]
        assert any("token=bad" in t for t in tc_urls) and any("token=good" in t for t in tc_urls), tc_urls


def test_edge_api_shows_the_upstream_and_hls_is_cut_from_the_pulled_stream(make_server, media, procs, tmp_path):
    api, http = free_port(), free_port()
    origin = make_server()
    hls = ("    hls {\n        enabled on;\n        hls_fragment 2;\n        hls_window 6;\n"
           "        hls_path ./objs/nginx/html;\n    }\n")
    edge = make_server(global_extra=http_api_block(api) + "\nhttp_server { enabled on; listen %d; dir ./objs/nginx/html; }\n"
                       % http, vhost_extra=cluster_block("127.0.0.1:%d" % origin.port) + hls)
    wait_http_port(edge, api)
    wait_http_port(edge, http)
    peers.ffmpeg_publish(procs, origin.url("hs"), media.clip.path, loop=True)
    origin.wait_log("start publish", 10)
    player = peers.ffmpeg_play(procs, edge.url("hs"), str(tmp_path / "p.flv"), duration=12)
    edge.wait_log("is live", 10)
    # the API: the upstream is a client of the edge, typed edge-ingest, and the stream's publisher
    ingest = wait_for(lambda: [c for c in api_get(api, "/api/v1/clients/")["clients"] if c["type"] == "edge-ingest"],
                      10, message="edge-ingest client")[0]
    up = ingest["upstream"]
    assert up["origin"] == "127.0.0.1:%d" % origin.port and up["connected"] is True, ingest
    assert up["origins"] == ["127.0.0.1:%d" % origin.port] and up["failovers"] == 0, ingest
    assert up["server"].startswith("srsish/"), ingest
    assert ingest["tcUrl"] == "rtmp://127.0.0.1:%d/live" % origin.port and ingest["publish"] is True, ingest
    stream = [s for s in api_get(api, "/api/v1/streams/")["streams"] if s["name"] == "hs"][0]
    assert stream["publish"]["active"] is True and stream["publish"]["cid"] == ingest["id"], stream
    # HLS on the edge: segments of the pulled stream, served by the edge and playable
    playlist = os.path.join(edge.workdir, "objs", "nginx", "html", "live", "hs.m3u8")
    wait_for(lambda: os.path.exists(playlist) and open(playlist).read().count("#EXTINF") >= 2, 20,
             message="two HLS segments on the edge")
    hls_out = str(tmp_path / "hls.flv")
    done = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i",
                           "http://127.0.0.1:%d/live/hs.m3u8" % http, "-c", "copy", "-t", "3", "-f", "flv", hls_out],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    probe_ok(hls_out)
    assert peers.wait_all([player], 30) == [0]


def test_rtmpdump_stop_ends_a_late_play_on_an_edge_after_its_duration(make_server, media, procs, tmp_path):
    """`rtmpdump --live -B 3` joining an edge stream that is pulled already gets about 3 s, then ends.

    The play duration was counted on the source's timestamps, where the cached metadata and sequence
    headers are as old as the stream: a late player was ended at once with a fraction of a second.
    """
    origin = make_server()
    edge = make_server(vhost_extra=cluster_block("127.0.0.1:%d" % origin.port))
    peers.ffmpeg_publish(procs, origin.url("b3"), media.clip.path, loop=True)
    origin.wait_log("start publish", 10)
    first = peers.ffmpeg_play(procs, edge.url("b3"), str(tmp_path / "first.flv"), duration=14, name="first")
    edge.wait_log("is live", 10)
    time.sleep(6)                       # the edge's stream is 6 s old when rtmpdump comes
    out = str(tmp_path / "b3.flv")
    started = time.monotonic()
    dump = peers.rtmpdump_play(procs, edge.url("b3"), out, stop=3)
    code = dump.wait(20)
    took = time.monotonic() - started
    assert code in (0, 2), dump.output()
    assert 2.0 <= took < 8, took
    assert 2.0 <= _video_seconds(out) <= 4.5
    assert "play duration 3000 ms reached" in edge.log_text()
    assert peers.wait_all([first], 30) == [0]


def _video_seconds(path: str) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-select_streams", "v",
                          "-of", "csv=p=0", path], capture_output=True, text=True, timeout=30)
    times = [float(t) for t in out.stdout.split() if t.strip()]
    assert times, out.stderr
    return max(times) - min(times)
