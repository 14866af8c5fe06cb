"""The bundled HTTP callback server: receives SRS-style hooks, verifies and dedupes them, logs them, answers 0."""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import html  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Optional  # noqa: E402

import bottle  # noqa: E402
import simplejson  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

USAGE = """Usage: python server.py <port> [--host HOST] [--tokens a,b | --tokens-file FILE] [--secret KEY] [--fail N]
                        [--huawei-key KEY] [--forward rtmp://HOST:PORT/[app]/[stream] ...]
  Receives the HTTP callbacks of srsish (or SRS) and answers {"code":0}; lal's, xiu's and Huawei's formats
  at /lal/<event>, /xiu/<event> and /huawei/notify.
  e.g.: python server.py 8085
With tokens, on_connect/on_publish/on_play are rejected unless their param has token=<one of them>.
With a secret, every POST must carry a valid X-Srsish-Signature and a timestamp within 300 s (else HTTP 401).
With --fail N, the first N notifications (not on_connect/on_publish/on_play) get HTTP 500, to watch retries.
With --huawei-key, a Huawei notification whose auth_sign does not verify gets HTTP 401.
An event id already processed is answered again but not processed twice.
GET / lists the callbacks received; GET /api/v1/events gives them as JSON."""

# route -> the actions it accepts (the routes SRS's own api-server uses)
ROUTES = {
    "clients": ("on_connect", "on_close"),
    "streams": ("on_publish", "on_unpublish"),
    "sessions": ("on_play", "on_stop"),
    "dvrs": ("on_dvr",),
    "hls": ("on_hls",),
    "servers": ("heartbeat",),  # the heartbeat body has no `action`
    "forward": ("on_forward",),  # SRS 5's dynamic forward: answered with data.urls (--forward)
}
GATING = frozenset(("on_connect", "on_publish", "on_play", "xiu:on_publish"))
# The other servers' formats: dialect -> event (path) -> what the body must look like
DIALECT_EVENTS = {
    "lal": ("on_server_start", "on_update", "on_pub_start", "on_pub_stop", "on_sub_start", "on_sub_stop",
            "on_rtmp_connect", "on_hls_make_ts"),
    "xiu": ("on_publish", "on_unpublish", "on_play", "on_stop"),
    "huawei": ("notify",),
}
XIU_TAGS = {"on_publish": "Publish", "on_unpublish": "UnPublish", "on_play": "Subscribe", "on_stop": "UnSubscribe"}
MAX_EVENTS = 1000
MAX_EVENT_IDS = 10000  # how many processed event ids are remembered for deduplication
MAX_SERVERS = 100  # how many servers' last heartbeat are kept
MAX_SKEW = 300  # seconds a signed request's timestamp may be away from now

# srsish's identity headers (bottle reads header names case-insensitively)
EVENT_ID = "X-Srsish-Event-Id"
ATTEMPT = "X-Srsish-Attempt"
TIMESTAMP = "X-Srsish-Timestamp"
SIGNATURE = "X-Srsish-Signature"
RECOVERED = "X-Srsish-Recovered"

app = bottle.Bottle()
events: collections.deque = collections.deque(maxlen=MAX_EVENTS)  # newest on the left
# event id -> (the answer it got, its entry in `events`) once processed, or None when it was refused by --fail
event_ids: "collections.OrderedDict[str, Optional[tuple]]" = collections.OrderedDict()
heartbeats: "collections.OrderedDict[str, dict]" = collections.OrderedDict()  # server -> last beat
tokens: frozenset = frozenset()
secret: bytes = b""
fail_first = 0  # --fail N
huawei_key: bytes = b""  # --huawei-key KEY
forward_urls: list = []  # --forward URL ...: templates ([app], [stream], [param]) answered to on_forward
counts = {"failed": 0, "duplicates": 0, "unauthorized": 0}


def _clean(value: object) -> str:
    """One printable line: hook fields are client-controlled and must not forge log lines."""
    text = str(value)
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: "\\x%02x" % ord(m.group()), text)


def now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def log(text: str) -> None:
    print("[%s] %s" % (now_text(), text), flush=True)


def record(route: str, action: str, verdict: str, body: object, meta: Optional[dict] = None) -> dict:
    event = {"time": now_text(), "route": route, "action": action, "verdict": verdict, "body": body}
    event.update(meta or {"event_id": None, "attempt": None, "recovered": False, "verified": None,
                          "retry": False})
    event["repeats"] = 0  # later requests with the same event id, answered but not processed
    event["last_attempt"] = None
    events.appendleft(event)
    return event


def token_ok(param: str) -> bool:
    # `param` is the query with its `?`; split on `?` too, in case a client doubled it.
    for pair in re.split(r"[?&]", param or ""):
        name, _, value = pair.partition("=")
        if name == "token" and value in tokens:
            return True
    return False


def reply(status: int, obj: object) -> str:
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    return simplejson.dumps(obj)


def signature_of(timestamp: str, body: bytes) -> str:
    """What a backend computes: `sha256=` + hex HMAC-SHA256(secret, TIMESTAMP + "." + BODY)."""
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def why_unauthorized(headers: bottle.HeaderDict, body: bytes) -> Optional[str]:
    """None when the request is signed with our secret and fresh, else the reason to refuse it."""
    timestamp = headers.get(TIMESTAMP, "")
    signature = headers.get(SIGNATURE, "")
    if not timestamp:
        return "missing %s" % TIMESTAMP
    if not signature:
        return "missing %s" % SIGNATURE
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        return "bad %s" % TIMESTAMP
    skew = int(time.time()) - int(timestamp)
    if abs(skew) > MAX_SKEW:
        return "stale %s (%d s %s)" % (TIMESTAMP, abs(skew), "old" if skew > 0 else "ahead")
    # compare_digest on bytes: a non-ASCII header must be refused, not raise
    if not hmac.compare_digest(signature_of(timestamp, body).encode(), signature.encode("utf-8", "replace")):
        return "bad signature"
    return None


def identity(headers: bottle.HeaderDict) -> dict:
    """The event's identity as srsish sends it; the id is None for senders without it (SRS)."""
    return {"event_id": headers.get(EVENT_ID) or None, "attempt": headers.get(ATTEMPT) or None,
            "recovered": headers.get(RECOVERED, "") == "1",
            "verified": True if secret else None, "retry": False}


def tags(meta: dict) -> str:
    """The identity part of a log line: id, attempt, recovered, verified, retry."""
    parts = []
    if meta["event_id"] is not None:
        parts += ["id=%s" % meta["event_id"], "attempt=%s" % (meta["attempt"] or "?"),
                  "recovered=%s" % ("yes" if meta["recovered"] else "no"),
                  "retry=%s" % ("yes" if meta["retry"] else "no")]
    if meta["verified"] is not None:
        parts.append("verified=%s" % ("yes" if meta["verified"] else "no"))
    return _clean(" [%s]" % " ".join(parts)) if parts else ""


def remember(event_id: Optional[str], processed: Optional[tuple]) -> None:
    """Keep the last MAX_EVENT_IDS ids: (answer, entry) once processed, None when only seen."""
    if event_id is None:
        return
    event_ids[event_id] = processed
    event_ids.move_to_end(event_id)
    while len(event_ids) > MAX_EVENT_IDS:
        event_ids.popitem(last=False)


def dialect_summary(action: str, body: dict) -> str:
    """One line for a lal/xiu/Huawei notification, the dialect named first."""
    dialect, _, event = action.partition(":")
    if dialect == "xiu":
        tag = next(iter(body), "")
        inner = body.get(tag) if isinstance(body.get(tag), dict) else {}
        ident = (inner.get("identifier") or {}).get("Rtmp") or {}
        info = inner.get("info") or {}
        notify = info.get("notify_info") or {}
        line = "%s id=%s %s %s/%s url=%s remote_addr=%s" % (tag, info.get("id", ""), info.get("sub_type", ""),
                                                            ident.get("app_name", ""), ident.get("stream_name", ""),
                                                            notify.get("request_url", ""),
                                                            notify.get("remote_addr", ""))
    elif dialect == "huawei":
        line = "%s domain=%s %s/%s usr_args=%s client_ip=%s node_ip=%s publish_timestamp=%s" % (
            body.get("event", ""), body.get("domain", ""), body.get("app", ""), body.get("stream", ""),
            body.get("usr_args", ""), body.get("client_ip", ""), body.get("node_ip", ""),
            body.get("publish_timestamp", ""))
    elif event == "on_update":
        groups = body.get("groups") or []
        line = "on_update server_id=%s groups=%s" % (body.get("server_id", ""), ",".join(
            "%s/%s(subs=%d)" % (g.get("app_name", ""), g.get("stream_name", ""), len(g.get("subs") or []))
            for g in groups if isinstance(g, dict)) or "-")
    else:
        fields = ("session_id", "protocol", "url", "remote_addr", "ts_file", "start_time")
        line = event + "".join(" %s=%s" % (k, body[k]) for k in fields if k in body)
    return _clean("[%s] %s" % (dialect, line))


def summary(action: str, body: dict) -> str:
    if ":" in action:
        return dialect_summary(action, body)
    where = "%s/%s/%s" % (body.get("vhost", ""), body.get("app", ""), body.get("stream", ""))
    line = "%s client_id=%s ip=%s %s param=%s" % (action, body.get("client_id", ""),
                                                 body.get("ip", ""), where, body.get("param", ""))
    if action in ("on_dvr", "on_hls"):
        line += " file=%s" % body.get("file", "")
    if action == "on_hls":
        line += " duration=%s seq_no=%s" % (body.get("duration", ""), body.get("seq_no", ""))
    if action == "on_close":
        line += " send_bytes=%s recv_bytes=%s" % (body.get("send_bytes"), body.get("recv_bytes"))
    if action == "heartbeat":
        line = "heartbeat device_id=%s ip=%s server=%s service=%s pid=%s" % (
            body.get("device_id", ""), body.get("ip", ""), body.get("server", ""),
            body.get("service", ""), body.get("pid", ""))
    return _clean(line)


def heartbeat_id(body: dict) -> str:
    return str(body.get("device_id") or body.get("server") or "")


def note_heartbeat(body: dict) -> None:
    key = str(body.get("server") or body.get("device_id") or body.get("ip") or "")
    heartbeats[key] = {"time": now_text(), "body": body}
    heartbeats.move_to_end(key)
    while len(heartbeats) > MAX_SERVERS:
        heartbeats.popitem(last=False)


def process(route: str, action: str, body: dict, meta: dict) -> tuple:
    """Handle a verified, new event once: (the JSON answer, its entry), remembered for its repeats."""
    if tokens and action in GATING and not token_ok(str(body.get("param", ""))):
        log("REJECTED %s (invalid token)%s" % (summary(action, body), tags(meta)))
        return {"code": 403, "data": "invalid token"}, record(route, action, "rejected: invalid token", body, meta)
    log(summary(action, body) + tags(meta))
    entry = record(route, action, "ok", body, meta)
    if action == "on_forward":
        urls = [u.replace("[app]", str(body.get("app", ""))).replace("[stream]", str(body.get("stream", "")))
                .replace("[param]", str(body.get("param", ""))) for u in forward_urls]
        return {"code": 0, "data": {"urls": urls}}, entry
    if action == "heartbeat":
        note_heartbeat(body)
        return {"code": 0, "data": {"id": heartbeat_id(body)}}, entry
    return {"code": 0, "data": None}, entry


@app.post("/api/v1/<route>")
def callback(route: str) -> str:
    if route not in ROUTES:
        bottle.abort(404, "no such callback route")
    raw = bottle.request.body.read()
    headers = bottle.request.headers
    if secret:
        why = why_unauthorized(headers, raw)
        if why:
            counts["unauthorized"] += 1
            log(_clean("UNAUTHORIZED /api/v1/%s: %s, not processed (id=%s)" % (
                route, why, headers.get(EVENT_ID, "-"))))
            return reply(401, {"code": 401, "data": why})
    try:
        body = simplejson.loads(raw.decode("utf-8"))
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
    except (ValueError, RecursionError) as e:
        log("BAD REQUEST /api/v1/%s: %s, body=%s" % (route, _clean(e), _clean(raw[:200])))
        record(route, "?", "bad request", raw.decode("utf-8", "replace"))
        return reply(400, {"code": 400, "data": "invalid JSON body"})
    action = "heartbeat" if route == "servers" else str(body.get("action", ""))
    if action not in ROUTES[route]:
        log("BAD REQUEST /api/v1/%s: unexpected action %s" % (route, _clean(action)))
        record(route, action, "bad request", body)
        return reply(400, {"code": 400, "data": "unexpected action for /api/v1/%s" % route})

    meta = identity(headers)
    event_id = meta["event_id"]
    if event_id is not None and event_id in event_ids:
        meta["retry"] = True
        processed = event_ids[event_id]
        if processed is not None:  # already processed: the same answer again, nothing else
            answer, entry = processed
            counts["duplicates"] += 1
            entry["repeats"] += 1
            entry["last_attempt"] = meta["attempt"]
            log("DUPLICATE %s: already processed, answered again, not processed twice%s" % (
                summary(action, body), tags(meta)))
            return reply(200, answer)
    if action not in GATING and counts["failed"] < fail_first:
        counts["failed"] += 1
        verdict = "refused by --fail (%d/%d)" % (counts["failed"], fail_first)
        log("FAIL %s: %s, HTTP 500%s" % (summary(action, body), verdict, tags(meta)))
        record(route, action, verdict, body, meta)
        remember(event_id, None)
        return reply(500, {"code": 500, "data": verdict})
    answer, entry = process(route, action, body, meta)
    remember(event_id, (answer, entry))
    return reply(200, answer)


def huawei_sign_problem(body: dict) -> Optional[str]:
    """None when auth_sign is HMAC-SHA256(key, event+domain+app+stream+auth_timestamp), else what is wrong."""
    ts, sign = body.get("auth_timestamp"), body.get("auth_sign")
    if not isinstance(ts, str) or not isinstance(sign, str):
        return "missing auth_timestamp or auth_sign"
    msg = "".join(str(body.get(k, "")) for k in ("event", "domain", "app", "stream")) + ts
    expected = hmac.new(huawei_key, msg.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), sign.encode("utf-8", "replace")):
        return "bad auth_sign"
    return None


@app.post("/<dialect:re:lal|xiu|huawei>/<event>")
def dialect_callback(dialect: str, event: str) -> str:
    """lal's, xiu's and Huawei's notifications: checked for their shape, signed, deduped, --fail, listed."""
    route = "%s/%s" % (dialect, event)
    if event not in DIALECT_EVENTS[dialect]:
        bottle.abort(404, "no such %s notification" % dialect)
    raw = bottle.request.body.read()
    headers = bottle.request.headers
    if secret:
        why = why_unauthorized(headers, raw)
        if why:
            counts["unauthorized"] += 1
            log(_clean("UNAUTHORIZED /%s: %s, not processed (id=%s)" % (route, why, headers.get(EVENT_ID, "-"))))
            return reply(401, {"code": 401, "data": why})
    try:
        body = simplejson.loads(raw.decode("utf-8"))
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        if dialect == "xiu" and list(body) != [XIU_TAGS[event]]:
            raise ValueError("expected {%r: ...}" % XIU_TAGS[event])
        if dialect == "huawei" and body.get("event") not in ("PUBLISH", "PUBLISH_DONE"):
            raise ValueError("event is neither PUBLISH nor PUBLISH_DONE")
    except (ValueError, RecursionError) as e:
        log("BAD REQUEST /%s: %s, body=%s" % (route, _clean(e), _clean(raw[:200])))
        record(route, dialect + ":" + event, "bad request", raw.decode("utf-8", "replace"))
        return reply(400, {"code": 400, "data": "bad %s body: %s" % (dialect, e)})
    action = "%s:%s" % (dialect, body["event"] if dialect == "huawei" else event)
    meta = identity(headers)
    if dialect == "huawei" and huawei_key:
        why = huawei_sign_problem(body)
        if why:
            counts["unauthorized"] += 1
            log("UNAUTHORIZED %s: %s, not processed%s" % (summary(action, body), why, tags(meta)))
            record(route, action, "unauthorized: " + why, body, meta)
            return reply(401, {"code": 401, "data": why})
        meta["verified"] = True
    event_id = meta["event_id"]
    if event_id is not None and event_ids.get(event_id) is not None:
        meta["retry"] = True
        answer, entry = event_ids[event_id]
        counts["duplicates"] += 1
        entry["repeats"] += 1
        entry["last_attempt"] = meta["attempt"]
        log("DUPLICATE %s: already processed, answered again, not processed twice%s" % (
            summary(action, body), tags(meta)))
        return reply(200, answer)
    if event_id is not None and event_id in event_ids:
        meta["retry"] = True
    if action not in GATING and counts["failed"] < fail_first:
        counts["failed"] += 1
        verdict = "refused by --fail (%d/%d)" % (counts["failed"], fail_first)
        log("FAIL %s: %s, HTTP 500%s" % (summary(action, body), verdict, tags(meta)))
        record(route, action, verdict, body, meta)
        remember(event_id, None)
        return reply(500, {"code": 500, "data": verdict})
    log(summary(action, body) + tags(meta))
    entry = record(route, action, "ok", body, meta)
    answer = {"code": 0, "data": None}
    remember(event_id, (answer, entry))
    return reply(200, answer)


@app.get("/api/v1/hls/<path:path>")
def hls_notify(path: str) -> str:
    query = bottle.request.query_string
    target = "/api/v1/hls/" + path + ("?" + query if query else "")
    log(_clean("on_hls_notify GET %s" % target))
    record("hls", "on_hls_notify", "ok", {"url": target})
    bottle.response.content_type = "text/plain; charset=utf-8"
    return "ok\n"


@app.get("/api/v1/events")
def list_events() -> str:
    return reply(200, {"code": 0, "data": list(events)})


def _yes_no(flag: object) -> str:
    return "yes" if flag else "no"


def event_item(ev: dict) -> str:
    """One event on the page: what it was, its identity, its JSON body; everything escaped."""
    esc = lambda x: html.escape(str(x))  # noqa: E731
    pretty = simplejson.dumps(ev["body"], indent=2, ensure_ascii=False, sort_keys=False)
    if ev["event_id"] is None:
        ident = "id: none (sent without %s)" % EVENT_ID
    else:
        ident = "id <code>%s</code> &middot; attempt %s &middot; recovered: %s &middot; retry of a known id: %s" % (
            esc(ev["event_id"]), esc(ev["attempt"] or "?"), _yes_no(ev["recovered"]), _yes_no(ev["retry"]))
    ident += " &middot; verified: %s" % ("not checked (no --secret)" if ev["verified"] is None
                                         else _yes_no(ev["verified"]))
    if ev["repeats"]:
        ident += " &middot; repeated %d time(s), answered without processing (last attempt %s)" % (
            ev["repeats"], esc(ev["last_attempt"] or "?"))
    dialect, _, event = ev["action"].partition(":") if ":" in ev["action"] else ("SRS", "", ev["action"])
    path = "/" + ev["route"] if ":" in ev["action"] or "/" in ev["route"] else "/api/v1/" + ev["route"]
    return "<li><b>%s</b> [%s] %s <code>%s</code> %s<br>\n%s\n<pre>%s</pre></li>\n" % (
        esc(ev["time"]), esc(dialect), esc(event), esc(path), esc(ev["verdict"]), ident, esc(pretty))


def heartbeat_row(server: str, beat: dict) -> str:
    body = beat["body"]
    ports = " ".join("%s=%s" % (kind, ",".join(str(p) for p in body[kind]))
                     for kind in ("rtmp", "http", "api", "srt", "rtc") if isinstance(body.get(kind), list))
    cells = (server, body.get("device_id", ""), body.get("ip", ""), body.get("service", ""),
             body.get("pid", ""), ports, "yes" if "summaries" in body else "no", beat["time"])
    return "<tr>%s</tr>\n" % "".join("<td>%s</td>" % html.escape(str(c)) for c in cells)


@app.get("/")
def index() -> str:
    if secret:
        checks = "signatures required (--secret), %d unauthorized request(s) refused" % counts["unauthorized"]
    else:
        checks = "signatures not checked (no --secret)"
    checks += "; %d duplicate(s) answered without processing" % counts["duplicates"]
    if fail_first:
        checks += "; --fail %d: %d notification(s) refused so far" % (fail_first, counts["failed"])
    servers = "".join(heartbeat_row(name, beat) for name, beat in reversed(heartbeats.items()))
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"refresh\" content=\"2\"><title>srsish callbacks</title></head><body>\n"
            "<p>%s</p>\n"
            "<h2>Servers (last heartbeat each, newest first)</h2>\n%s\n"
            "<h1>Callbacks received (%d, newest first)</h1>\n<ul>\n%s</ul></body></html>\n"
            % (html.escape(checks),
               "<table border=\"1\"><tr><th>server</th><th>device_id</th><th>ip</th><th>service</th>"
               "<th>pid</th><th>ports</th><th>summaries</th><th>last heartbeat</th></tr>\n%s</table>"
               % servers if heartbeats else "<p>none yet</p>",
               len(events), "".join(event_item(ev) for ev in events) or "<li>none yet</li>\n"))


class NoDelayWSGIServer(WSGIServer):
    """pywsgi writes headers and body separately; with Nagle on, each reply stalls 13-45 ms."""

    def handle(self, sock, address):  # type: ignore[no-untyped-def]
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return super().handle(sock, address)


def load_tokens(args: argparse.Namespace) -> frozenset:
    found = [t.strip() for t in (args.tokens or "").split(",") if t.strip()]
    if args.tokens_file:
        with open(args.tokens_file, encoding="utf-8") as f:
            found += [ln.strip() for ln in f if ln.strip() and not ln.strip().startswith("#")]
    return frozenset(found)


def main(argv: list) -> int:
    global tokens, secret, fail_first, huawei_key, forward_urls
    if not argv:
        print(USAGE)
        return 1
    parser = argparse.ArgumentParser(usage=USAGE)
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--tokens", help="comma-separated accepted tokens")
    parser.add_argument("--tokens-file", help="file of accepted tokens, one a line, # comments")
    parser.add_argument("--secret", help="the http_hooks secret: require X-Srsish-Signature on every POST")
    parser.add_argument("--fail", type=int, default=0, metavar="N",
                        help="answer HTTP 500 to the first N notifications (never to on_connect/publish/play)")
    parser.add_argument("--huawei-key", help="huawei_notify's key: refuse (HTTP 401) a bad auth_sign")
    parser.add_argument("--forward", action="append", default=[], metavar="URL",
                        help="answer on_forward with this RTMP URL ([app] [stream] [param] replaced); repeatable")
    args = parser.parse_args(argv)
    if args.fail < 0:
        parser.error("--fail takes a count >= 0")
    tokens = load_tokens(args)
    secret = (args.secret or "").encode("utf-8")
    fail_first = args.fail
    huawei_key = (args.huawei_key or "").encode("utf-8")
    forward_urls = list(args.forward)
    server = NoDelayWSGIServer((args.host, args.port), app, log=None)
    server.start()
    host, port = server.address[:2]
    log("api server listening at %s:%d, tokens %s, signatures %s%s" % (
        host, port, "required (%d)" % len(tokens) if tokens else "not checked",
        "required" if secret else "not checked",
        ", failing the first %d notifications" % fail_first if fail_first else ""))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
