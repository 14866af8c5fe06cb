"""vhost.security and vhost.refer end to end: real ffmpeg, rtmpdump and curl clients against a srsish process.

Proven here: `deny publish all` refuses ffmpeg with a status naming the rule and no hook request at all
(security is checked before on_connect); a play deny refuses RTMP (rtmpdump), HTTP-FLV (curl, 403) and HLS play
sessions (curl, 403) with no on_play; an allowed client still plays; a reload that adds a deny applies to the next
client; refer admits a player whose pageUrl is the domain or a subdomain and refuses `evilexample.com` and a
player with no pageUrl, before on_play.
"""
import os
import signal
import subprocess

import pytest

from helpers import peers
from helpers.hooks_receiver import HookReceiver
from helpers.http_util import hooks_block, http_remux_block, http_server_block, wait_flv_live, wait_http_port
from helpers.util import free_port, wait_for

pytestmark = pytest.mark.e2e

HOOK_EVENTS = ("on_connect", "on_publish", "on_play", "on_stop", "on_close")


def hooks(rx):
    return hooks_block({ev: [rx.url("/hooks/" + ev)] for ev in HOOK_EVENTS})


def security(*rules):
    return "    security {\n        enabled on;\n" + "".join("        %s;\n" % r for r in rules) + "    }"


def test_deny_publish_refuses_ffmpeg_before_any_hook(make_server, procs, media):
    with HookReceiver() as rx:
        srv = make_server(vhost_extra=security("deny publish all") + "\n" + hooks(rx))
        pub = peers.ffmpeg_publish(procs, srv.url("denied"), media.clip.path)
        assert pub.wait(20) != 0
        assert 'denied by rule \\"deny publish all\\"' in pub.output() or \
            'denied by rule "deny publish all"' in pub.output(), pub.output()
        assert 'security: publish from 127.0.0.1 denied by rule "deny publish all"' in srv.log_text()
        assert rx.find() == [], rx.dump()


def test_deny_play_refuses_rtmp_flv_and_hls_players_and_others_play(make_server, procs, media, tmp_path):
    root = tmp_path / "html"
    (root / "live").mkdir(parents=True)
    (root / "live" / "hand.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n")
    http_port = free_port()
    with HookReceiver() as rx:
        vhost = "\n".join([security("allow publish all", "allow play all", "deny play 127.0.0.1"), hooks(rx), http_remux_block(),
                           "    hls {\n        enabled on;\n        hls_path %s;\n    }" % root])
        srv = make_server(global_extra=http_server_block(http_port, str(root)), vhost_extra=vhost)
        wait_http_port(srv, http_port)
        peers.ffmpeg_publish(procs, srv.url("s"), media.clip.path, loop=True)
        wait_for(lambda: rx.find(action="on_publish"), 15, message="on_publish")

        dump = peers.rtmpdump_play(procs, srv.url("s"), str(tmp_path / "r.flv"))
        assert dump.wait(20) != 0
        flv = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                              "http://127.0.0.1:%d/live/s.flv" % http_port], capture_output=True, text=True)
        assert flv.stdout == "403"
        hls = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "--max-time", "10",
                              "http://127.0.0.1:%d/live/hand.m3u8" % http_port], capture_output=True, text=True)
        assert hls.stdout.endswith("\n403") and 'deny play 127.0.0.1' in hls.stdout, hls.stdout
        log = srv.log_text()
        rule = 'security: play from 127.0.0.1 denied by rule "deny play 127.0.0.1"'
        for line in ("client rejected: " + rule, "HTTP-FLV play rejected: " + rule,
                     "hls play rejected ip=127.0.0.1 live/hand.m3u8: " + rule):
            assert line in log, line
        assert rx.find(action="on_play") == [] and rx.find(action="on_stop") == []

        # Another address is not denied: the same server from source address 127.0.0.2 (still loopback).
        out = tmp_path / "ok.flv"
        ok = subprocess.run(["curl", "-s", "-o", str(out), "--max-time", "3", "--interface", "127.0.0.2",
                             "http://127.0.0.1:%d/live/s.flv" % http_port], capture_output=True)
        assert ok.returncode == 28 and out.stat().st_size > 10000, out.read_bytes()[:300]   # streamed until --max-time
        wait_for(lambda: rx.find(action="on_play"), 5, message="on_play for the allowed viewer")


def test_reload_applies_security_to_the_next_client(make_server, procs, media, tmp_path):
    srv = make_server()
    peers.ffmpeg_publish(procs, srv.url("r"), media.clip.path, loop=True)
    first = peers.ffmpeg_play(procs, srv.url("r"), str(tmp_path / "a.flv"), duration=2, name="before")
    assert first.wait(30) == 0, first.output()
    start = len(srv.log_text())
    srv.write_conf(srv.render_conf(vhost_extra=security("allow publish all", "deny play all")))
    srv.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload config" in srv.log_text()[start:], 5, message="reload")
    second = peers.ffmpeg_play(procs, srv.url("r"), str(tmp_path / "b.flv"), duration=2, name="after")
    assert second.wait(30) != 0
    assert 'denied by rule "deny play all"' in srv.log_text()[start:]


def test_refer_matches_whole_domains_before_on_play(make_server, procs, media, tmp_path):
    with HookReceiver() as rx:
        vhost = "    refer {\n        enabled on;\n        play example.com;\n    }\n" + hooks(rx)
        srv = make_server(vhost_extra=vhost)
        peers.ffmpeg_publish(procs, srv.url("p"), media.clip.path, loop=True)
        wait_for(lambda: rx.find(action="on_publish"), 15, message="on_publish (refer play does not gate publish)")

        def play(page, name):
            cmd = ["rtmpdump", "-q", "-r", srv.url("p"), "--live", "-B", "2", "-o", str(tmp_path / (name + ".flv"))]
            if page is not None:
                cmd += ["-p", page]
            return procs.spawn(name, cmd, out=str(tmp_path / (name + ".flv")))

        for page, name in (("http://evilexample.com/x.html", "evil"), (None, "nopage")):
            assert play(page, name).wait(20) != 0
        assert rx.find(action="on_play") == [], rx.dump()
        assert 'refer: play from page "http://evilexample.com/x.html" denied' in srv.log_text()
        good = play("http://www.example.com/player.html", "good")
        good.wait(30)
        wait_for(lambda: rx.find(action="on_play"), 5, message="on_play for www.example.com")
        assert os.path.getsize(tmp_path / "good.flv") > 10000
