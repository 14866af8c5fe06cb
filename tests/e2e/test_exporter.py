"""The Prometheus exporter end to end: curl scrapes /metrics on the exporter's own port while ffmpeg publishes and
plays; the text is parsed with prometheus_client's own parser. Only /metrics is served there (SRS serves the
whole API, kicks included, on that port)."""
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import peers
from helpers.hooks_receiver import HookReceiver
from helpers.http_util import hooks_block, wait_http_port
from helpers.util import free_port, wait_for

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
