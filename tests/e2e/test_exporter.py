"""The Prometheus exporter end to end: curl scrapes /metrics on the exporter's own port while ffmpeg publishes and
plays; the text is parsed with prometheus_client's own parser. Only /metrics is served there (SRS serves the
whole API, kicks included, on that port). srsish's own counters: hook deliveries by action and outcome after a
refused on_publish, delivered on_close and an on_unpublish to a dead URL; a player that stops reading."""
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import peers
from helpers.hooks_receiver import OK, HookReceiver, Reply
from helpers.http_util import hooks_block, wait_http_port
from helpers.rtmp_raw import RtmpRawClient
from helpers.util import free_port, server_send_queue, wait_for

pytestmark = pytest.mark.e2e


def scrape(port, path="/metrics"):
    return subprocess.run(["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", "http://127.0.0.1:%d%s" % (port, path)],
                          capture_output=True, text=True, timeout=20)


def samples(text):
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def test_metrics_have_srs_names_labels_and_srsish_hook_counters(make_server, procs, media, tmp_path):
    port = free_port()
    with HookReceiver() as rx:
        srv = make_server(global_extra="exporter {\n    enabled on;\n    listen 127.0.0.1:%d;\n"
                                       "    label cn-beijing;\n    tag cn-edge;\n}" % port,
                          vhost_extra=hooks_block({"on_close": [rx.url("/hooks/on_close")]}))
        wait_http_port(srv, port)
        peers.ffmpeg_publish(procs, srv.url("m"), media.clip.path, loop=True)
        wait_for(lambda: "start publish" in srv.log_text(), 15, message="publish")
        play = peers.ffmpeg_play(procs, srv.url("m"), str(tmp_path / "m.flv"), duration=2)
        assert play.wait(30) == 0
        wait_for(lambda: rx.find(action="on_close"), 10, message="the player's on_close")

        got = scrape(port)
        body, status = got.stdout.rsplit("\n", 1)
        assert status == "200", got
        m = samples(body)
        info = m["srs_build_info"][0]
        assert info.value == 1 and info.labels["label"] == "cn-beijing" and info.labels["tag"] == "cn-edge"
        assert info.labels["server"] and info.labels["service"] and info.labels["version"]
        for name in ("srs_cpu_percent", "srs_memory", "srs_send_bytes_total", "srs_receive_bytes_total"):
            assert name in m, sorted(m)
        assert m["srs_memory"][0].value > 1e6
        assert m["srs_receive_bytes_total"][0].value > 10000   # the publisher is still sending
        assert m["srs_streams"][0].value == 1
        assert m["srs_clients"][0].value == 1                   # the publisher; the player has left
        assert m["srs_clients_total"][0].value >= 2
        delivered = [s for s in m["srsish_hook_notifications_total"]
                     if s.labels["outcome"] == "delivered" and s.labels["url"].endswith("/hooks/on_close")]
        assert delivered and delivered[0].value >= 1
        assert m["srsish_hook_outbox_pending"][0].value == 0

        for path in ("/api/v1/summaries", "/api/v1/clients/x", "/"):
            assert scrape(port, path).stdout.endswith("\n404")


def deliveries(m, action):
    """{outcome: count} of srsish_hook_deliveries_total for `action`."""
    return {s.labels["outcome"]: s.value for s in m["srsish_hook_deliveries_total"] if s.labels["action"] == action}


def test_hook_deliveries_by_action_and_outcome_slow_players_and_client_errors(make_server, procs, media):
    port, dead = free_port(), free_port()

    def refuse_one_stream(req):
        return Reply(200, b'{"code":403}') if req.action == "on_publish" and req.stream == "refused" else OK

    with HookReceiver(refuse_one_stream) as rx:
        hooks = hooks_block({"on_publish": [rx.url("/hooks/on_publish")], "on_close": [rx.url("/hooks/on_close")],
                             "on_unpublish": ["http://127.0.0.1:%d/hooks/on_unpublish" % dead]})
        hooks = hooks.replace("    }", "        retry_max_delay 0.5;\n        retry_window 3;\n    }")
        srv = make_server(global_extra="exporter {\n    enabled on;\n    listen 127.0.0.1:%d;\n}" % port,
                          vhost_extra=hooks, play_extra="        queue_length 2;")
        wait_http_port(srv, port)
        m = samples(scrape(port).stdout.rsplit("\n", 1)[0])
        assert m["srs_clients_errs_total"][0].value == 0
        assert [s.value for s in m["srsish_players_dropped_total"]] == [0, 0]

        refused = peers.ffmpeg_publish(procs, srv.url("refused"), media.clip.path, name="refused")
        assert refused.wait(20) != 0, refused.tail()               # the backend said no
        wait_for(lambda: rx.find(action="on_close"), 10, message="the refused publisher's on_close")

        pub = peers.ffmpeg_publish(procs, srv.url("ok"), media.heavy.path, loop=True, name="pub")
        wait_for(lambda: "start publish" in srv.log_text(), 15, message="publish")
        # A player that stops reading: its socket fills, then its queue passes queue_length and is cut back.
        with RtmpRawClient(srv.host, srv.port, timeout=5, rcvbuf=4096) as stalled:
            stalled.setup_player("live", "ok")
            stalled.auto_ack = False
            client_port = stalled.sock.getsockname()[1]
            wait_for(lambda: server_send_queue(srv.port, client_port) > 256 * 1024, 20,
                     message="the stalled player's socket to fill")

            def dropped():
                d = samples(scrape(port).stdout.rsplit("\n", 1)[0])
                return d if {s.labels["reason"]: s.value for s in d["srsish_players_dropped_total"]}["shrink"] else None
            m = wait_for(dropped, 20, interval=0.5, message="the stalled player's queue to be cut back")
            assert {s.labels["reason"]: s.value for s in m["srsish_players_dropped_total"]} == \
                {"shrink": 1, "send_timeout": 0}
            assert m["srsish_messages_dropped_total"][0].value > 0
            print("messages cut from the stalled player's queue: %d" % m["srsish_messages_dropped_total"][0].value)
            assert deliveries(m, "on_publish") == {"accepted": 1, "refused": 1, "failed": 0}
            assert deliveries(m, "on_close")["delivered"] == 1
            assert m["srs_clients_errs_total"][0].value == 1         # the refused publisher; no one else failed

            pub.stop()
            wait_for(lambda: len(rx.find(action="on_close")) >= 2, 10, message="the publisher's on_close")
            # on_unpublish's retry window (3 s) passes: it is given up, loudly
            m = wait_for(lambda: (lambda d: d if deliveries(d, "on_unpublish").get("expired") else None)(
                samples(scrape(port).stdout.rsplit("\n", 1)[0])), 15, interval=0.5, message="on_unpublish to expire")
        unpublish = deliveries(m, "on_unpublish")
        print("on_unpublish to a dead URL: %s" % unpublish)
        assert unpublish["failed"] >= 2 and unpublish["expired"] == 1, unpublish
        assert unpublish["delivered"] == unpublish["retried"] == 0
        assert deliveries(m, "on_close") == {"delivered": 2, "retried": 0, "failed": 0, "expired": 0}
        assert "expired" in srv.log_text()
