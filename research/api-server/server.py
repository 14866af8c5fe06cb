"""The bundled HTTP callback server: receives SRS-style hooks, logs them, answers `{"code":0}` (or rejects a bad token)."""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import html  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import bottle  # noqa: E402
import simplejson  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

USAGE = """Usage: python server.py <port> [--host HOST] [--tokens a,b | --tokens-file FILE]
  Receives the HTTP callbacks of srsish (or SRS) and answers {"code":0}.
  e.g.: python server.py 8085
With tokens, on_connect/on_publish/on_play are rejected unless their param has token=<one of them>.
GET / lists the callbacks received; GET /api/v1/events gives them as JSON."""

# route -> the actions it accepts (the routes SRS's own api-server uses)
ROUTES = {
    "clients": ("on_connect", "on_close"),
    "streams": ("on_publish", "on_unpublish"),
    "sessions": ("on_play", "on_stop"),
    "dvrs": ("on_dvr",),
    "hls": ("on_hls",),
    "servers": ("heartbeat",),  # the heartbeat body has no `action`
}
GATING = frozenset(("on_connect", "on_publish", "on_play"))
MAX_EVENTS = 1000

app = bottle.Bottle()
events: collections.deque = collections.deque(maxlen=MAX_EVENTS)  # newest on the left
tokens: frozenset = frozenset()


def _clean(value: object) -> str:
    """One printable line: hook fields are client-controlled and must not forge log lines."""
    text = str(value)
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: "\\x%02x" % ord(m.group()), text)


def log(text: str) -> None:
    print("[%s] %s" % (time.strftime("%Y-%m-%d %H:%M:%S"), text), flush=True)


def record(route: str, action: str, verdict: str, body: object) -> None:
    events.appendleft({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "route": route,
                       "action": action, "verdict": verdict, "body": body})


def token_ok(param: str) -> bool:
    # `param` is the query with its `?`; split on `?` too, in case a client doubled it.
    for pair in re.split(r"[?&]", param or ""):
        name, _, value = pair.partition("=")
        if name == "token" and value in tokens:
            return True
    return False


def reply(status: int, obj: dict) -> str:
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    return simplejson.dumps(obj)


def summary(action: str, body: dict) -> str:
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
        line = "heartbeat device_id=%s ip=%s server=%s" % (
            body.get("device_id", ""), body.get("ip", ""), body.get("server", ""))
    return _clean(line)


@app.post("/api/v1/<route>")
def callback(route: str) -> str:
    if route not in ROUTES:
        bottle.abort(404, "no such callback route")
    raw = bottle.request.body.read()
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
    if tokens and action in GATING and not token_ok(str(body.get("param", ""))):
        log("REJECTED %s (invalid token)" % summary(action, body))
        record(route, action, "rejected: invalid token", body)
        return reply(200, {"code": 403, "data": "invalid token"})
    log(summary(action, body))
    record(route, action, "ok", body)
    return reply(200, {"code": 0, "data": None})


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


@app.get("/")
def index() -> str:
    rows = []
    for ev in events:
        pretty = simplejson.dumps(ev["body"], indent=2, ensure_ascii=False, sort_keys=False)
        rows.append("<li><b>%s</b> %s <code>/api/v1/%s</code> %s<pre>%s</pre></li>" % tuple(
            html.escape(str(x)) for x in (ev["time"], ev["action"], ev["route"], ev["verdict"],
                                          pretty)))
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"refresh\" content=\"2\"><title>srsish callbacks</title></head>"
            "<body><h1>Callbacks received (%d, newest first)</h1><ul>%s</ul></body></html>"
            % (len(events), "".join(rows) or "<li>none yet</li>"))


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
    global tokens
    if not argv:
        print(USAGE)
        return 1
    parser = argparse.ArgumentParser(usage=USAGE)
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--tokens", help="comma-separated accepted tokens")
    parser.add_argument("--tokens-file", help="file of accepted tokens, one a line, # comments")
    args = parser.parse_args(argv)
    tokens = load_tokens(args)
    server = NoDelayWSGIServer((args.host, args.port), app, log=None)
    server.start()
    host, port = server.address[:2]
    log("api server listening at %s:%d, tokens %s" % (
        host, port, "required (%d)" % len(tokens) if tokens else "not checked"))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
