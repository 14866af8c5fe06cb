"""http_api.raw_api end to end: curl's rpc=reload reloads the conf as SIGHUP does, only when allowed, and
rpc=reload-fetch reports how the last reload went (a broken conf is reported and the old one kept)."""
import json
import subprocess

import pytest

from helpers import peers
from helpers.http_util import http_api_block, wait_http_port
from helpers.util import free_port

pytestmark = pytest.mark.e2e


def raw_block(port, allow_reload):
    return http_api_block(port).rstrip("}") + (
        "    raw_api {\n        enabled on;\n        allow_reload %s;\n    }\n}" % ("on" if allow_reload else "off"))


def curl_json(url):
    done = subprocess.run(["curl", "-sS", "--max-time", "20", url], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_rpc_reload_applies_the_new_conf_and_a_broken_one_is_reported(make_server, procs, media, tmp_path):
    api = free_port()
    srv = make_server(global_extra=raw_block(api, True))
    wait_http_port(srv, api)
    base = "http://127.0.0.1:%d/api/v1/raw?rpc=" % api
    assert curl_json(base + "reload-fetch")["data"] == {"err": 0, "msg": "Success", "state": 0, "rid": ""}

    srv.write_conf(srv.render_conf(global_extra=raw_block(api, True),
                                   vhost_extra="    security { enabled on; deny publish all; }"))
    assert curl_json(base + "reload")["code"] == 0
    fetched = curl_json(base + "reload-fetch")["data"]
    assert (fetched["err"], fetched["state"]) == (0, 90) and fetched["rid"]
    pub = peers.ffmpeg_publish(procs, srv.url("after"), media.clip.path)
    assert pub.wait(20) != 0 and "deny publish all" in pub.output()

    srv.write_conf(srv.render_conf(global_extra=raw_block(api, True)) + "\nthis is { not a conf\n")
    assert curl_json(base + "reload")["code"] == 0
    broken = curl_json(base + "reload-fetch")["data"]
    assert broken["err"] == 1023 and broken["state"] == 10 and broken["rid"] != fetched["rid"], broken
    assert "srsish.conf" in broken["msg"]
    again = peers.ffmpeg_publish(procs, srv.url("still"), media.clip.path, name="again")
    assert again.wait(20) != 0, "the old conf (with its deny rule) is kept"
    assert curl_json(base + "nothing")["code"] == 1060


def test_rpc_reload_not_allowed_is_srs_error_1061(make_server, tmp_path):
    api = free_port()
    srv = make_server(global_extra=raw_block(api, False))
    wait_http_port(srv, api)
    srv.write_conf(srv.render_conf(global_extra=raw_block(api, False), max_connections=7))
    assert curl_json("http://127.0.0.1:%d/api/v1/raw?rpc=reload" % api)["code"] == 1061
    assert "reload config" not in srv.log_text()
