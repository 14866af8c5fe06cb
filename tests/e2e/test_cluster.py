"""Edge/origin cluster and forward between srsish processes (issue 14), with real peers.

An edge (`cluster { mode remote; origin ...; }`) pulls a played stream from its origin over RTMP, one
upstream per stream whatever the number of players; a stream published to an edge is pushed on to the
origin; origins are tried in order; `forward` pushes every published stream to its destinations and to
what a `backend` answers; SO_REUSEPORT lets two edge processes share one port.
"""
import os
import socket

import pytest

from helpers import peers
from helpers.hooks_receiver import HookReceiver
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
