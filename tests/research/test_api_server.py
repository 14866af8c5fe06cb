"""Tests for research/api-server/server.py, run as a subprocess the way users run it."""
import glob
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Iterator, Optional

import pytest

from srsish.app.config import spec_defaults
from srsish.app.hooks.http_hooks import HookContext, HttpHooks

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER = os.path.join(ROOT, "research", "api-server", "server.py")
SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "srs-hook-samples")
ROUTE_OF = {"on_connect": "clients", "on_close": "clients", "on_publish": "streams",
            "on_unpublish": "streams", "on_play": "sessions", "on_stop": "sessions",
            "on_dvr": "dvrs", "on_hls": "hls"}
ALL_ACTIONS = list(ROUTE_OF)


class ApiServer:
    """server.py on a free port (it binds port 0 and says which port in its first line)."""

    def __init__(self, tmp_path, *args: str) -> None:
        self.out_path = os.path.join(str(tmp_path), "server-%d.out" % time.monotonic_ns())
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen([sys.executable, SERVER, "0", "--host", "127.0.0.1", *args],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            m = re.search(r"listening at 127\.0\.0\.1:(\d+)", self.output())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server.py did not start:\n" + self.output())
            time.sleep(0.05)

    def output(self) -> str:
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def url(self, path: str) -> str:
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def request(self, path: str, body: Optional[bytes] = None) -> tuple[int, bytes, str]:
        req = urllib.request.Request(self.url(path), data=body, method="POST" if body is not None else "GET")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "")

    def post(self, route: str, body: object) -> tuple[int, dict]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, data, _ = self.request("/api/v1/" + route, raw)
        return status, json.loads(data)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ApiServer]:
    s = ApiServer(tmp_path_factory.mktemp("api"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory) -> Iterator[ApiServer]:
    s = ApiServer(tmp_path_factory.mktemp("api"), "--tokens", "a,b")
    yield s
    s.stop()


def body_for(action: str, param: str = "", **extra: object) -> dict:
    body = {"server_id": "srv1", "service_id": "svc1", "action": action, "client_id": "c1",
            "ip": "127.0.0.1", "vhost": "__defaultVhost__", "app": "live",
            "stream": "livestream", "param": param}
    body.update(extra)
    return body


def test_no_argument_prints_usage_and_exits_1():
    proc = subprocess.run([sys.executable, SERVER], capture_output=True, timeout=30)
    assert proc.returncode == 1
    assert b"Usage" in proc.stdout and b"8085" in proc.stdout


def test_every_captured_sample_is_accepted(server):
    samples = sorted(glob.glob(os.path.join(SAMPLES, "*.json")))
    assert samples, f"no captured samples at {SAMPLES}"
    seen = set()
    for path in samples:
        with open(path, encoding="utf-8") as f:
            req = json.load(f)["request"]
        method, target, _ = req["request_line"].split(" ")
        if method == "GET":  # on_hls_notify: /hooks/<tag>/on_hls_notify/<rest>
            rest = target.split("/on_hls_notify/", 1)[-1]
            status, data, ctype = server.request("/api/v1/hls/" + rest.lstrip("/"))
            assert status == 200 and ctype.startswith("text/plain"), path
            seen.add("on_hls_notify")
            continue
        body = json.loads(req["body"])
        action = body.get("action", "heartbeat")
        route = ROUTE_OF.get(action, "servers")
        status, answer = server.post(route, req["body"].encode())
        assert (status, answer["code"]) == (200, 0), path
        seen.add(action)
    assert seen >= set(ALL_ACTIONS) | {"on_hls_notify"}
    assert "on_publish client_id=x42bnd27" in server.output()
    assert "file=/var/srs-test/dvr/live/livestream.1795423648325.flv" in server.output()


def test_without_tokens_everything_is_allowed(server):
    for action in ALL_ACTIONS:
        assert server.post(ROUTE_OF[action], body_for(action)) == (200, {"code": 0, "data": None})


@pytest.mark.parametrize("action", ["on_connect", "on_publish", "on_play"])
def test_tokens_gate_connect_publish_play(token_server, action):
    route = ROUTE_OF[action]
    for param in ("?token=a", "?token=b", "?x=1&token=b", "?token=a&x=1"):
        status, answer = token_server.post(route, body_for(action, param))
        assert (status, answer["code"]) == (200, 0), param
    for param in ("", "?token=c", "?x=1", "?token=", "?tokenx=a", "?token=ab"):
        status, answer = token_server.post(route, body_for(action, param))
        assert status == 200 and answer["code"] != 0, param
    assert "REJECTED %s" % action in token_server.output()


@pytest.mark.parametrize("action", ["on_close", "on_unpublish", "on_stop", "on_dvr", "on_hls"])
def test_tokens_never_reject_other_events(token_server, action):
    status, answer = token_server.post(ROUTE_OF[action], body_for(action, "?token=wrong"))
    assert (status, answer["code"]) == (200, 0)


def test_tokens_file(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("# accepted tokens\nsecret1\n\n  secret2  \n")
    s = ApiServer(tmp_path, "--tokens-file", str(path))
    try:
        assert s.post("streams", body_for("on_publish", "?token=secret2"))[1]["code"] == 0
        assert s.post("streams", body_for("on_publish", "?token=secret3"))[1]["code"] != 0
        assert s.post("streams", body_for("on_publish", "?token=# accepted tokens"))[1]["code"] != 0
    finally:
        s.stop()


def test_bad_requests_get_400_and_server_survives(server):
    for route, raw in (("streams", b"{not json"), ("clients", b"[1,2]"), ("dvrs", b"\xff\xfe"),
                       ("clients", json.dumps(body_for("on_publish")).encode())):
        status, answer = server.post(route, raw)
        assert status == 400 and answer["code"] == 400, raw
    assert "BAD REQUEST" in server.output()
    assert server.post("streams", body_for("on_publish"))[1]["code"] == 0


def test_index_page_lists_events_escaped(server):
    hostile = "<script>alert('x')</script>"
    server.post("streams", body_for("on_publish", stream=hostile, client_id="evil\n[fake] line"))
    status, page, ctype = server.request("/")
    text = page.decode()
    assert status == 200 and ctype.startswith("text/html")
    assert 'http-equiv="refresh" content="2"' in text
    assert "&lt;script&gt;alert(" in text and "<script>" not in text
    assert "evil\\x0a[fake] line" in server.output()  # no forged log line either

    status, data, ctype = server.request("/api/v1/events")
    events = json.loads(data)["data"]
    assert ctype.startswith("application/json")
    assert events[0]["action"] == "on_publish" and events[0]["body"]["stream"] == hostile


def test_hls_notify_get_answers_plain_text(server):
    status, data, ctype = server.request("/api/v1/hls/srv1/live/livestream/livestream-0.ts?token=abc")
    assert status == 200 and ctype.startswith("text/plain") and data
    assert "on_hls_notify GET /api/v1/hls/srv1/live/livestream/livestream-0.ts?token=abc" \
        in server.output()


def test_http_hooks_against_the_real_server(token_server):
    hooks = HttpHooks("srv1", "svc1")
    try:
        conf = {**spec_defaults("vhost.http_hooks"), "enabled": True, "timeout": 5.0,
                "on_publish": [token_server.url("/api/v1/streams")],
                "on_unpublish": [token_server.url("/api/v1/streams")],
                "on_hls": [token_server.url("/api/v1/hls")],
                "on_hls_notify": [token_server.url("/api/v1/hls/[app]/[stream]/[ts_url][param]")]}
        ctx = HookContext("c9", "127.0.0.1", "__defaultVhost__", "live", "hookstream", "?token=a")
        assert hooks.on_publish(conf, ctx).ok
        ctx.param = "?token=zzz"
        verdict = hooks.on_publish(conf, ctx)
        assert not verdict.ok and "403" in verdict.reason and "invalid token" in verdict.reason
        hooks.on_unpublish(conf, ctx)
        hooks.on_hls(conf, ctx)
        hooks.on_hls_notify(conf, ctx, "hookstream-0.ts", 64)
        hooks.flush(5.0)
    finally:
        hooks.close()
    status, data, _ = token_server.request("/api/v1/events")
    mine = [e["action"] for e in json.loads(data)["data"]
            if e["action"] == "on_hls_notify" or e["body"].get("client_id") == "c9"]
    assert mine[::-1] == ["on_publish", "on_publish", "on_unpublish", "on_hls", "on_hls_notify"]
