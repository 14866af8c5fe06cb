"""Tests for research/api-server/server.py, run as a subprocess the way users run it."""
import glob
import hashlib
import hmac
import html
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

    def request(self, path: str, body: Optional[bytes] = None,
                headers: Optional[dict] = None) -> tuple[int, bytes, str]:
        req = urllib.request.Request(self.url(path), data=body, method="POST" if body is not None else "GET")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "")

    def post(self, route: str, body: object, headers: Optional[dict] = None) -> tuple[int, dict]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, data, _ = self.request("/api/v1/" + route, raw, headers)
        return status, json.loads(data)

    def events(self) -> list:
        return json.loads(self.request("/api/v1/events")[1])["data"]

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
        assert hooks.drain(5.0)       # notifications go through the outbox; on_hls_notify is its own GET
        hooks.on_hls_notify(conf, ctx, "hookstream-0.ts", 64)
        hooks.flush(5.0)
    finally:
        hooks.close()
    status, data, _ = token_server.request("/api/v1/events")
    mine = [e["action"] for e in json.loads(data)["data"]
            if e["action"] == "on_hls_notify" or e["body"].get("client_id") == "c9"]
    assert mine[::-1] == ["on_publish", "on_publish", "on_unpublish", "on_hls", "on_hls_notify"]


# --- srsish's identity headers: --secret, event ids, --fail, heartbeat ---

SECRET = "s3cret"
NOTIFICATIONS = ["on_close", "on_unpublish", "on_stop", "on_dvr", "on_hls"]


def signed(body: bytes, event_id: str, attempt: int = 1, secret: str = SECRET,
           timestamp: Optional[int] = None, recovered: bool = False) -> dict:
    """The headers srsish sends, signed the way the README tells a backend to verify them."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"X-Srsish-Event-Id": event_id, "X-Srsish-Attempt": str(attempt),
               "X-Srsish-Timestamp": ts, "X-Srsish-Signature": "sha256=" + mac}
    if recovered:
        headers["X-Srsish-Recovered"] = "1"
    return headers


def raw_body(action: str, **extra: object) -> bytes:
    return json.dumps(body_for(action, **extra)).encode()


def events_of(s: ApiServer, client_id: str) -> list:
    return [e for e in s.events() if isinstance(e["body"], dict) and e["body"].get("client_id") == client_id]


@pytest.fixture(scope="module")
def secret_server(tmp_path_factory) -> Iterator[ApiServer]:
    s = ApiServer(tmp_path_factory.mktemp("api"), "--secret", SECRET)
    yield s
    s.stop()


def test_secret_accepts_a_signed_request(secret_server):
    raw = raw_body("on_unpublish", client_id="good1")
    assert secret_server.post("streams", raw, signed(raw, "ev-good1")) == (200, {"code": 0, "data": None})
    assert [e["event_id"] for e in events_of(secret_server, "good1")] == ["ev-good1"]


@pytest.mark.parametrize("case", ["missing", "no-timestamp", "wrong-secret", "tampered", "stale", "future",
                                  "uppercase-prefix"])
def test_secret_refuses_bad_missing_stale_or_tampered(secret_server, case):
    client = "bad-" + case
    raw = raw_body("on_close", client_id=client)
    headers = signed(raw, "ev-" + client)
    if case == "missing":
        del headers["X-Srsish-Signature"]
    elif case == "no-timestamp":
        del headers["X-Srsish-Timestamp"]
    elif case == "wrong-secret":
        headers = signed(raw, "ev-" + client, secret="other")
    elif case == "tampered":
        raw = raw.replace(b'"on_close"', b'"on_close" ')  # same JSON meaning, other bytes
    elif case == "stale":
        headers = signed(raw, "ev-" + client, timestamp=int(time.time()) - 301 - 5)
    elif case == "future":
        headers = signed(raw, "ev-" + client, timestamp=int(time.time()) + 301 + 5)
    elif case == "uppercase-prefix":
        headers["X-Srsish-Signature"] = headers["X-Srsish-Signature"].replace("sha256=", "SHA256=")
    status, answer = secret_server.post("clients", raw, headers)
    assert status == 401 and answer["code"] == 401 and answer["data"], case
    assert client not in json.dumps(secret_server.events()), "a refused request was processed"
    line = r"UNAUTHORIZED /api/v1/clients: .+, not processed \(id=ev-%s\)" % re.escape(client)
    assert re.search(line, secret_server.output())
    # the same event signed correctly afterwards is processed: a refusal does not burn its id
    raw = raw_body("on_close", client_id=client)
    assert secret_server.post("clients", raw, signed(raw, "ev-" + client, attempt=2))[0] == 200
    assert [e["attempt"] for e in events_of(secret_server, client)] == ["2"]


def test_secret_timestamp_within_300_seconds_is_accepted(secret_server):
    raw = raw_body("on_stop", client_id="old-ok")
    assert secret_server.post("sessions", raw, signed(raw, "ev-old-ok", timestamp=int(time.time()) - 280))[0] == 200


def test_secret_reasons_name_what_is_wrong(secret_server):
    raw = raw_body("on_hls", client_id="why")
    headers = signed(raw, "ev-why")
    assert "signature" in secret_server.post("hls", raw + b" ", headers)[1]["data"]
    assert "stale" in secret_server.post("hls", raw, signed(raw, "ev-why", timestamp=1000))[1]["data"]
    del headers["X-Srsish-Signature"]
    assert "missing" in secret_server.post("hls", raw, headers)[1]["data"]


def test_duplicate_event_id_is_answered_but_processed_once(server):
    raw = raw_body("on_unpublish", client_id="dup1")
    headers = {"X-Srsish-Event-Id": "ev-dup1", "X-Srsish-Attempt": "1"}
    for attempt in (1, 2, 3):
        headers["X-Srsish-Attempt"] = str(attempt)
        assert server.post("streams", raw, headers) == (200, {"code": 0, "data": None})
    mine = [e for e in server.events() if e["event_id"] == "ev-dup1"]
    assert len(mine) == 1 and mine[0]["attempt"] == "1" and mine[0]["verdict"] == "ok"
    assert mine[0]["repeats"] == 2 and mine[0]["last_attempt"] == "3"
    out = server.output()
    assert out.count("id=ev-dup1 attempt=1 recovered=no retry=no") == 1
    assert out.count("DUPLICATE on_unpublish") >= 2 and "id=ev-dup1 attempt=3 recovered=no retry=yes" in out
    # another id with the same body is a new event; no id (SRS) is never deduplicated
    assert server.post("streams", raw, {"X-Srsish-Event-Id": "ev-dup2"})[0] == 200
    assert server.post("streams", raw)[0] == 200 and server.post("streams", raw)[0] == 200
    assert len(events_of(server, "dup1")) == 4


def test_duplicate_gating_event_gets_its_first_answer_again(token_server):
    raw = raw_body("on_publish", param="?token=nope", client_id="dupgate")
    first = token_server.post("streams", raw, {"X-Srsish-Event-Id": "ev-dupgate"})
    assert first[1]["code"] == 403
    assert token_server.post("streams", raw, {"X-Srsish-Event-Id": "ev-dupgate", "X-Srsish-Attempt": "2"}) == first
    assert len([e for e in token_server.events() if e["event_id"] == "ev-dupgate"]) == 1


def test_fail_refuses_exactly_the_first_n_notifications_never_gating(tmp_path):
    s = ApiServer(tmp_path, "--fail", "3")
    try:
        statuses = []
        for i, action in enumerate(["on_connect", "on_close", "on_publish", "on_unpublish", "on_play",
                                    "on_dvr", "on_stop", "on_hls", "on_connect"]):
            raw = raw_body(action, client_id="f%d" % i)
            status, answer = s.post(ROUTE_OF[action], raw, {"X-Srsish-Event-Id": "ev-f%d" % i})
            statuses.append((action, status, answer["code"]))
        assert statuses == [("on_connect", 200, 0), ("on_close", 500, 500), ("on_publish", 200, 0),
                            ("on_unpublish", 500, 500), ("on_play", 200, 0), ("on_dvr", 500, 500),
                            ("on_stop", 200, 0), ("on_hls", 200, 0), ("on_connect", 200, 0)]
        assert s.output().count("FAIL ") == 3 and "refused by --fail (3/3)" in s.output()
        # the retry of a refused event is processed now, and shown as a retry of a known id
        raw = raw_body("on_close", client_id="f1")
        assert s.post("clients", raw, {"X-Srsish-Event-Id": "ev-f1", "X-Srsish-Attempt": "2"})[0] == 200
        f1 = [(e["verdict"], e["attempt"], e["retry"]) for e in s.events() if e["event_id"] == "ev-f1"]
        assert f1 == [("ok", "2", True), ("refused by --fail (1/3)", None, False)]
        assert "id=ev-f1 attempt=2 recovered=no retry=yes" in s.output()
    finally:
        s.stop()


def test_fail_counts_heartbeats_as_notifications(tmp_path):
    s = ApiServer(tmp_path, "--fail", "1")
    try:
        beat = {"device_id": "d1", "ip": "10.0.0.1", "server": "srv1", "service": "svc1", "pid": "42"}
        assert s.post("servers", beat)[0] == 500
        assert s.post("servers", beat) == (200, {"code": 0, "data": {"id": "d1"}})
        assert s.post("clients", body_for("on_close"))[0] == 200
    finally:
        s.stop()


def test_heartbeat_route_answers_id_and_lists_last_beat_per_server(server):
    beat = {"device_id": "", "ip": "10.1.2.3", "server": "vid-hb1", "service": "svc-hb", "pid": "777",
            "rtmp": ["127.0.0.1:1935"], "http": ["127.0.0.1:8080"], "api": ["127.0.0.1:1985"]}
    assert server.post("servers", beat) == (200, {"code": 0, "data": {"id": "vid-hb1"}})
    beat.update(device_id="dev<1>", pid="778")
    assert server.post("servers", beat) == (200, {"code": 0, "data": {"id": "dev<1>"}})
    assert "heartbeat device_id=dev<1> ip=10.1.2.3 server=vid-hb1 service=svc-hb pid=778" in server.output()
    page = server.request("/")[1].decode()
    rows = [r for r in (tr.split("</tr>")[0] for tr in page.split("<tr>")) if "vid-hb1" in r]
    assert len(rows) == 1 and "778" in rows[0] and ">777<" not in rows[0]
    assert "dev&lt;1&gt;" in rows[0] and "rtmp=127.0.0.1:1935" in rows[0]


def test_page_shows_attempt_recovered_verified_and_retry(secret_server):
    raw = raw_body("on_close", client_id="page1")
    secret_server.post("clients", raw, signed(raw, "ev-<page1>", attempt=4, recovered=True))
    secret_server.post("clients", raw, signed(raw, "ev-<page1>", attempt=5, recovered=True))
    raw2 = raw_body("on_close", client_id="page2")
    secret_server.post("clients", raw2, signed(raw2, "ev-page2"))
    page = secret_server.request("/")[1].decode()
    item1 = next(li for li in page.split("<li>") if "ev-&lt;page1&gt;" in li)
    item2 = next(li for li in page.split("<li>") if "ev-page2" in li)
    assert "<page1>" not in page
    assert "attempt 4" in item1 and "recovered: yes" in item1 and "verified: yes" in item1
    assert "retry of a known id: no" in item1 and "repeated 1 time(s)" in item1 and "last attempt 5" in item1
    assert "attempt 1" in item2 and "recovered: no" in item2 and "verified: yes" in item2
    assert "signatures required" in page
    out = secret_server.output()
    assert "on_close client_id=page1" in out and "[id=ev-<page1> attempt=4 recovered=yes retry=no verified=yes]" in out


def test_page_without_secret_says_not_verified(server):
    raw = raw_body("on_stop", client_id="page3")
    server.post("sessions", raw, {"X-Srsish-Event-Id": "ev-page3", "X-Srsish-Attempt": "1"})
    page = server.request("/")[1].decode()
    item = next(li for li in page.split("<li>") if "ev-page3" in li)
    assert "verified: not checked" in item and "recovered: no" in item


# ------------------------------------------------------------------ lal, xiu and Huawei formats (issue 11)
LAL_PUB = {"server_id": "1", "protocol": "RTMP", "url": "rtmp://127.0.0.1:1935/live/test110?token=1111",
           "app_name": "live", "stream_name": "test110", "url_param": "token=1111", "session_id": "s1",
           "remote_addr": "127.0.0.1:52576", "has_in_session": True, "has_out_session": False}
XIU_PUB = {"Publish": {"identifier": {"Rtmp": {"app_name": "live", "stream_name": "test"}},
                       "info": {"id": "x1", "sub_type": "PushRtmp",
                                "notify_info": {"request_url": "rtmp://127.0.0.1:1935/live/test?token=password",
                                                "remote_addr": "127.0.0.1:57792"}}}}
HW_KEY = "hw-secret"


def huawei_body(event: str = "PUBLISH", key: Optional[str] = HW_KEY, stream: str = "example_stream") -> dict:
    body = {"domain": "push.example.com", "app": "live", "stream": stream, "usr_args": "a=1",
            "client_ip": "100.125.58.90", "node_ip": "112.12.196.218", "publish_timestamp": "1587954134",
            "event": event}
    if key is not None:
        ts = str(int(time.time()))
        body["auth_timestamp"] = ts
        msg = (event + body["domain"] + body["app"] + stream + ts).encode()
        body["auth_sign"] = hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()
    return body


def post_path(s: ApiServer, path: str, body: object, headers: Optional[dict] = None) -> tuple:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, data, _ = s.request(path, raw, headers)
    return status, json.loads(data)


def test_each_dialect_is_accepted_printed_and_listed_with_its_name(server):
    lal_update = {"server_id": "1", "groups": [{"stream_name": "test110", "app_name": "live", "subs": [{}, {}]}]}
    for path, body in (("/lal/on_pub_start", LAL_PUB), ("/lal/on_update", lal_update),
                       ("/xiu/on_publish", XIU_PUB), ("/huawei/notify", huawei_body())):
        assert post_path(server, path, body, {"X-Srsish-Event-Id": "ev-d" + path}) == (200, {"code": 0,
                                                                                            "data": None}), path
    out = server.output()
    assert "[lal] on_pub_start session_id=s1 protocol=RTMP url=rtmp://127.0.0.1:1935/live/test110?token=1111" in out
    assert "[lal] on_update server_id=1 groups=live/test110(subs=2)" in out
    assert "[xiu] Publish id=x1 PushRtmp live/test url=rtmp://127.0.0.1:1935/live/test?token=password" in out
    assert "[huawei] PUBLISH domain=push.example.com live/example_stream usr_args=a=1" in out
    page = server.request("/")[1].decode()
    for name in ("[lal] on_pub_start", "[xiu] on_publish", "[huawei] PUBLISH", "[SRS]"):
        assert html.escape(name) in page, name
    assert "<code>/huawei/notify</code>" in page and "<code>/lal/on_update</code>" in page


def test_dialect_bad_shapes_get_400_unknown_events_404(server):
    assert post_path(server, "/xiu/on_publish", LAL_PUB)[0] == 400          # not {"Publish": ...}
    assert post_path(server, "/xiu/on_stop", XIU_PUB)[0] == 400             # Publish at on_stop
    assert post_path(server, "/huawei/notify", {"event": "START"})[0] == 400
    assert post_path(server, "/lal/on_pub_start", b"[1]")[0] == 400
    assert server.request("/lal/on_nothing", b"{}")[0] == 404
    assert server.request("/")[0] == 200


def test_huawei_key_checks_auth_sign(tmp_path):
    s = ApiServer(tmp_path, "--huawei-key", HW_KEY)
    try:
        assert post_path(s, "/huawei/notify", huawei_body("PUBLISH_DONE"))[0] == 200
        status, answer = post_path(s, "/huawei/notify", huawei_body(key="wrong"))
        assert (status, answer["data"]) == (401, "bad auth_sign")
        tampered = huawei_body()
        tampered["stream"] = "other"
        assert post_path(s, "/huawei/notify", tampered)[0] == 401
        assert post_path(s, "/huawei/notify", huawei_body(key=None))[1]["data"] == \
            "missing auth_timestamp or auth_sign"
        out = s.output()
        assert "[huawei] PUBLISH_DONE" in out and out.count("UNAUTHORIZED [huawei]") == 3
        assert "verified=yes" in out
    finally:
        s.stop()


def test_dialects_share_dedupe_fail_and_secret(tmp_path):
    s = ApiServer(tmp_path, "--fail", "1", "--secret", "k")
    try:
        raw = json.dumps(LAL_PUB).encode()
        ts = str(int(time.time()))
        sig = "sha256=" + hmac.new(b"k", ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        headers = {"X-Srsish-Event-Id": "ev-lal", "X-Srsish-Timestamp": ts, "X-Srsish-Signature": sig}
        assert post_path(s, "/lal/on_pub_start", raw, dict(headers, **{"X-Srsish-Attempt": "1"}))[0] == 500
        assert post_path(s, "/lal/on_pub_start", raw, dict(headers, **{"X-Srsish-Attempt": "2"}))[0] == 200
        assert post_path(s, "/lal/on_pub_start", raw, dict(headers, **{"X-Srsish-Attempt": "3"}))[0] == 200
        assert post_path(s, "/lal/on_pub_start", raw, {"X-Srsish-Event-Id": "ev-unsigned"})[0] == 401
        mine = [e for e in s.events() if e["event_id"] == "ev-lal"]
        assert [(e["verdict"], e["repeats"]) for e in mine] == [("ok", 1), ("refused by --fail (1/1)", 0)]
        assert "DUPLICATE [lal] on_pub_start" in s.output()
    finally:
        s.stop()


def test_xiu_on_publish_is_gating_never_failed(tmp_path):
    s = ApiServer(tmp_path, "--fail", "5")
    try:
        assert post_path(s, "/xiu/on_publish", XIU_PUB)[0] == 200
        assert post_path(s, "/huawei/notify", huawei_body())[0] == 500
    finally:
        s.stop()
