"""HTTP callbacks (SRS `http_hooks`): build each event's JSON body, deliver it to the configured URLs, judge the reply.

Three separate pieces, so later work (retries with a durable queue, signing, event ids,
other servers' body formats) changes one of them and no caller:

* building: `HookEvents` (the one table of body fields per action) and `build_body`;
* judging: `judge_reply`;
* delivery: `HookTransport` (geventhttpclient, one keep-alive pool per backend).

`HttpHooks` is what the app calls; it takes plain values (`HookContext`), never
connection or source objects.
"""
import errno
import math
import os
import ssl
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

import gevent.local
import gevent.ssl
import simplejson
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError

from srsish import SIGNATURE
from srsish.app.hooks.worker import AsyncCallWorker
from srsish.core.log import get_logger

# The body of every POST hook, field by field, in the order SRS writes them
# (srs.md section 2). `server_id`, `service_id` and `action` come from the sender,
# every other field from the HookContext attribute of the same name.
HookEvents: dict[str, tuple[str, ...]] = {
    "on_connect": ("server_id", "service_id", "action", "client_id", "ip", "vhost", "app",
                   "stream", "param", "tcUrl", "pageUrl"),
    "on_close": ("server_id", "service_id", "action", "client_id", "ip", "vhost", "app",
                 "send_bytes", "recv_bytes"),
    "on_publish": ("server_id", "service_id", "action", "client_id", "ip", "vhost", "app",
                   "tcUrl", "stream", "param", "stream_url", "stream_id"),
    "on_unpublish": ("server_id", "service_id", "action", "client_id", "ip", "vhost", "app",
                     "tcUrl", "stream", "param", "stream_url", "stream_id"),
    "on_play": ("server_id", "service_id", "action", "client_id", "ip", "vhost", "app",
                "stream", "tcUrl", "param", "pageUrl", "stream_url", "stream_id"),
    "on_stop": ("server_id", "service_id", "action", "client_id", "ip", "vhost", "app",
                "tcUrl", "stream", "param", "stream_url", "stream_id"),
    "on_dvr": ("server_id", "service_id", "action", "client_id", "ip", "vhost", "app",
               "tcUrl", "stream", "param", "cwd", "file", "stream_url", "stream_id"),
    "on_hls": ("server_id", "service_id", "action", "client_id", "ip", "vhost", "app",
               "tcUrl", "stream", "param", "duration", "cwd", "file", "url", "m3u8",
               "m3u8_url", "seq_no", "stream_url", "stream_id"),
}
_INT_FIELDS = frozenset(("send_bytes", "recv_bytes", "seq_no"))
_SENDER_FIELDS = frozenset(("server_id", "service_id", "action"))

DEFAULT_TIMEOUT = 30.0          # seconds; SRS's http client default
NOTIFY_TIMEOUT = 10.0           # on_hls_notify has its own, as in SRS
POOL_CONCURRENCY = 16           # keep-alive connections per backend
MAX_REPLY_BYTES = 64 * 1024     # a hook reply is `0` or a small object; larger is rejected


@dataclass
class HookContext:
    """What the app knows about a client or stream when an event fires."""
    client_id: str
    ip: str
    vhost: str
    app: str
    stream: str = ""
    param: str = ""
    tcUrl: str = ""
    pageUrl: str = ""
    stream_url: str = ""
    stream_id: str = ""
    send_bytes: int = 0
    recv_bytes: int = 0
    cwd: str = ""
    file: str = ""
    duration: float = 0.0
    url: str = ""
    m3u8: str = ""
    m3u8_url: str = ""
    seq_no: int = 0


@dataclass
class HookVerdict:
    """The outcome of a gating hook; `reason` names the hook, the URL and the backend's answer."""
    ok: bool
    reason: str


# ----------------------------------------------------------------------------- building

def _json_value(field: str, value: object) -> str:
    if field in _INT_FIELDS:
        return str(int(value))  # type: ignore[call-overload]
    if field == "duration":
        d = float(value)  # type: ignore[arg-type]
        return "%.2f" % (d if math.isfinite(d) else 0.0)
    # simplejson with ensure_ascii=False escapes exactly what SRS escapes (" \ \b \f \n \r \t)
    # and passes non-ASCII through; other control characters become \u00XX where SRS
    # would emit them raw (which is not valid JSON).
    return simplejson.dumps("" if value is None else str(value), ensure_ascii=False)


def build_body(action: str, ctx: HookContext, server_id: str, service_id: str) -> str:
    """The compact JSON body SRS posts for `action`, keys in SRS's order."""
    try:
        fields = HookEvents[action]
    except KeyError:
        raise ValueError(f"no hook body defined for {action!r}") from None
    sender = {"server_id": server_id, "service_id": service_id, "action": action}
    parts = []
    for field in fields:
        value = sender[field] if field in _SENDER_FIELDS else getattr(ctx, field)
        parts.append(f'"{field}":{_json_value(field, value)}')
    return "{" + ",".join(parts) + "}"


# ----------------------------------------------------------------------------- judging

def _snippet(body: bytes, limit: int = 64) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return simplejson.dumps(text + ("..." if len(body) > limit else ""), ensure_ascii=True)


def judge_reply(status: int, body: bytes) -> Optional[str]:
    """None when the backend accepted, else a short reason such as `HTTP 200 body "1"`.

    Accepted: HTTP 200 or 201 with a body of `0`, or a JSON object whose `code` is the
    integer 0 (not `false`, not `"0"`). Unlike SRS, whitespace around a bare `0`
    (`0\\n`, which many frameworks append) is accepted.
    """
    if status not in (200, 201):
        return f"HTTP {status} body {_snippet(body)}"
    if len(body) > MAX_REPLY_BYTES:
        return f"HTTP {status} body larger than {MAX_REPLY_BYTES} bytes"
    text = body.strip()
    if not text:
        return f"HTTP {status} empty body"
    if text == b"0":
        return None
    try:
        value = simplejson.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):
        return f"HTTP {status} body {_snippet(body)} is not JSON"
    if isinstance(value, dict):
        code = value.get("code")
        if type(code) is int and code == 0:  # bool is an int subclass; False is not 0 here
            return None
    return f"HTTP {status} body {_snippet(body)}"


# ----------------------------------------------------------------------------- delivery

class HookTransportError(Exception):
    """A hook call that got no HTTP answer; the message is the short reason."""


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    uri: str  # path and query exactly as written in the config, `/` when empty


def _parse_url(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise HookTransportError(f"bad URL ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise HookTransportError(f"unsupported URL scheme {parts.scheme!r}")
    if not parts.hostname:
        raise HookTransportError("bad URL (no host)")
    # Slice the raw string rather than re-joining path and query, so the request target
    # is byte-for-byte what the operator wrote (a trailing `?` included).
    rest = url.split("#", 1)[0]
    rest = rest[rest.index("://") + 3 + len(parts.netloc):]
    if not rest.startswith("/"):
        rest = "/" + rest
    return _Target(scheme, parts.hostname, port or (443 if scheme == "https" else 80), rest)


def _client_context() -> ssl.SSLContext:
    # gevent.ssl.create_default_context() hands back a *stdlib* SSLContext (without
    # monkey-patching), whose sockets block the whole hub during the handshake and every
    # read; gevent's own SSLContext class makes cooperative sockets.
    return gevent.ssl.SSLContext(gevent.ssl.PROTOCOL_TLS_CLIENT)


def _verifying_context(**_ignored: object) -> ssl.SSLContext:
    # System CAs; OpenSSL honours SSL_CERT_FILE / SSL_CERT_DIR when they are loaded.
    # geventhttpclient passes its own CA bundle as `cafile`, which would *replace* the
    # system store, hence the ignored keywords.
    ctx = _client_context()  # PROTOCOL_TLS_CLIENT: CERT_REQUIRED and check_hostname on
    ctx.load_default_certs()
    if ctx.cert_store_stats().get("x509_ca", 0) == 0 and not os.environ.get("SSL_CERT_DIR"):
        try:  # no CA file at OpenSSL's default path (a CA *directory* loads lazily, shows 0)
            import certifi
            ctx.load_verify_locations(cafile=certifi.where())
        except ImportError:
            pass
    return ctx


def _insecure_context(**_ignored: object) -> ssl.SSLContext:
    ctx = _client_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _describe(e: BaseException, timeout: float) -> str:
    if isinstance(e, HookTransportError):
        return str(e)
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected ({e.verify_message})"
    if isinstance(e, ssl.SSLError):
        if "timed out" in str(e):  # gevent's SSL sockets time out with SSLError
            return f"timed out after {timeout}s"
        return f"TLS error ({e.reason or e})"
    if isinstance(e, TimeoutError):
        return f"timed out after {timeout}s"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, ConnectionResetError):
        return "connection reset"
    if isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "host unreachable"
    if isinstance(e, HTTPConnectionClosed):
        return "connection closed before a response"
    if isinstance(e, HTTPParseError):
        return f"malformed HTTP response ({e})"
    if isinstance(e, OSError):
        return f"{type(e).__name__} ({e.strerror or e})"
    return f"{type(e).__name__} ({e})"


def _track_reuse(client: HTTPClient, local: gevent.local.local) -> None:
    """Record, per greenlet, whether the socket of the last request came from the pool.

    geventhttpclient does not say, and the stale-connection retry needs it. This wraps
    two methods of the client's pool instance (geventhttpclient 2.x internals; the test
    for the retry covers it).
    """
    pool = client._connection_pool
    create_socket, get_socket = pool._create_socket, pool.get_socket

    def tracked_create_socket():  # type: ignore[no-untyped-def]
        local.reused = False
        return create_socket()

    def tracked_get_socket():  # type: ignore[no-untyped-def]
        local.reused = True  # get_socket calls _create_socket when the pool has none idle
        return get_socket()

    pool._create_socket = tracked_create_socket
    pool.get_socket = tracked_get_socket


class HookTransport:
    """Delivers hook requests over HTTP(S) with one keep-alive pool per backend."""

    def __init__(self, user_agent: str) -> None:
        self.user_agent = user_agent
        self._clients: dict[tuple, HTTPClient] = {}
        self._local = gevent.local.local()

    def _client(self, t: _Target, timeout: float, tls_verify: bool, concurrency: int) -> HTTPClient:
        key = (t.scheme, t.host, t.port, timeout, tls_verify, concurrency)
        client = self._clients.get(key)
        if client is None:
            kw: dict = dict(connection_timeout=timeout, network_timeout=timeout,
                            concurrency=concurrency, headers={"User-Agent": self.user_agent})
            if t.scheme == "https":
                kw.update(ssl=True, insecure=not tls_verify,
                          ssl_context_factory=_verifying_context if tls_verify else _insecure_context)
            client = HTTPClient(t.host, port=t.port, **kw)
            _track_reuse(client, self._local)
            self._clients[key] = client
        return client

    def post(self, url: str, body: bytes, timeout: float, tls_verify: bool) -> tuple[int, bytes]:
        """POST `body` as JSON; returns (status, reply body); raises HookTransportError."""
        target = _parse_url(url)
        headers = {"Content-Type": "application/json", "Connection": "Keep-Alive"}
        try:
            client = self._client(target, timeout, tls_verify, POOL_CONCURRENCY)
            for attempt in (1, 2):
                self._local.reused = False
                try:
                    resp = client.request("POST", target.uri, body=body, headers=headers)
                except HTTPConnectionClosed:
                    # Not one byte came back on a pooled keep-alive connection: the backend
                    # restarted or closed it as idle just as we reused it, and did not act
                    # on the request. Retry once on a new connection, and only in this case
                    # (a POST is not idempotent; geventhttpclient itself never retries it).
                    if attempt == 1 and self._local.reused:
                        continue
                    raise
                try:
                    data = resp.read(MAX_REPLY_BYTES + 1)
                finally:
                    resp.release()
                return resp.status_code, data
        except Exception as e:
            raise HookTransportError(_describe(e, timeout)) from e
        raise AssertionError("unreachable")

    def get(self, url: str, timeout: float, tls_verify: bool, max_bytes: int) -> tuple[int, int]:
        """GET `url`, reading at most `max_bytes` of the reply; returns (status, bytes read)."""
        target = _parse_url(url)
        headers = {"Content-Type": "application/json", "Content-Length": "0",
                   "Connection": "Keep-Alive"}
        try:
            # One connection per backend is enough for the single worker greenlet, and it
            # caps geventhttpclient's own retries of an idempotent GET (pool size + 1) at two.
            client = self._client(target, timeout, tls_verify, 1)
            resp = client.request("GET", target.uri, headers=headers)
            try:
                data = resp.read(max(0, max_bytes))
            finally:
                resp.release()  # closes the connection when the body was not read in full
            return resp.status_code, len(data)
        except Exception as e:
            raise HookTransportError(_describe(e, timeout)) from e

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


# ----------------------------------------------------------------------------- the app's entry point

def _urls(conf: dict, action: str) -> list[str]:
    if not conf or not conf.get("enabled"):
        return []
    urls = conf.get(action) or []
    if isinstance(urls, str):
        urls = urls.split()
    return [u for u in urls if u]


def _replace_notify(template: str, server_id: str, service_id: str, ctx: HookContext,
                    ts_url: str) -> str:
    # Plain text replacement, no URL-encoding, as SRS.
    for var, value in (("[server_id]", server_id), ("[service_id]", service_id),
                       ("[app]", ctx.app), ("[stream]", ctx.stream),
                       ("[ts_url]", ts_url), ("[param]", ctx.param)):
        template = template.replace(var, value)
    return template


class HttpHooks:
    """Fires SRS's HTTP callbacks for one server process.

    Gating hooks (on_connect, on_publish, on_play) run in the caller's greenlet and
    return a verdict; notify hooks (on_close, on_unpublish, on_stop) run in the caller's
    greenlet and only log; on_dvr, on_hls and on_hls_notify are queued to a background
    worker and return at once (`flush` waits for them).

    `conf` is the vhost's http_hooks dict: `enabled`, one URL list per event, `timeout`
    (seconds, default 30, covering connect and each read) and `tls_verify` (default True;
    False accepts any certificate, as SRS does). A backend that trickles bytes slowly can
    hold a call longer than `timeout`: the limit applies to each network wait.

    HTTPS verifies against the system CAs; `SSL_CERT_FILE` / `SSL_CERT_DIR` in the
    environment replace them (OpenSSL's rule), which is also how tests trust a test CA.
    Connections are kept alive, one pool per (scheme, host, port, timeout, tls_verify);
    a POST that meets a stale pooled connection is retried once on a fresh one.
    When the background queue is full (10000 calls) a new call is dropped with an error
    line naming it; the producer (the media path) never blocks.
    """

    def __init__(self, server_id: str, service_id: str, user_agent: str = f"{SIGNATURE}") -> None:
        self.server_id = server_id
        self.service_id = service_id
        self.transport = HookTransport(user_agent)
        self._worker = AsyncCallWorker("http_hooks")

    # gating ------------------------------------------------------------------
    def on_connect(self, conf: dict, ctx: HookContext) -> HookVerdict:
        return self._gate("on_connect", conf, ctx)

    def on_publish(self, conf: dict, ctx: HookContext) -> HookVerdict:
        return self._gate("on_publish", conf, ctx)

    def on_play(self, conf: dict, ctx: HookContext) -> HookVerdict:
        return self._gate("on_play", conf, ctx)

    # notify, synchronous -----------------------------------------------------
    def on_close(self, conf: dict, ctx: HookContext) -> None:
        self._notify_all("on_close", conf, ctx)

    def on_unpublish(self, conf: dict, ctx: HookContext) -> None:
        self._notify_all("on_unpublish", conf, ctx)

    def on_stop(self, conf: dict, ctx: HookContext) -> None:
        self._notify_all("on_stop", conf, ctx)

    # background --------------------------------------------------------------
    def on_dvr(self, conf: dict, ctx: HookContext) -> None:
        self._queue_chain("on_dvr", conf, ctx)

    def on_hls(self, conf: dict, ctx: HookContext) -> None:
        self._queue_chain("on_hls", conf, ctx)

    def on_hls_notify(self, conf: dict, ctx: HookContext, ts_url: str, nb_notify: int) -> None:
        """GET every on_hls_notify URL with its template variables replaced.

        As SRS: when `ts_url` is itself absolute (hls_entry_prefix is a URL), that URL is
        fetched instead of the template, once per configured URL (a CDN pre-warm).
        """
        templates = _urls(conf, "on_hls_notify")
        if not templates:
            return
        tls_verify = bool(conf.get("tls_verify", True))
        absolute = ts_url.startswith(("http://", "https://"))
        urls = [ts_url if absolute else
                _replace_notify(t, self.server_id, self.service_id, ctx, ts_url)
                for t in templates]
        log = get_logger(ctx.client_id)

        def run() -> None:
            for url in urls:
                started = time.monotonic()
                try:
                    status, nread = self.transport.get(url, NOTIFY_TIMEOUT, tls_verify, nb_notify)
                except HookTransportError as e:
                    log.warning("http hook on_hls_notify %s failed in %dms: %s (ignored)",
                                url, _ms(started), e)
                    continue
                log.info("http hook on_hls_notify %s status=%d %dms, read %d bytes",
                         url, status, _ms(started), nread)

        self._worker.submit(run, f"on_hls_notify client={ctx.client_id} ts={ts_url}")

    def flush(self, timeout: float) -> None:
        """Wait until the background queue is empty, at most `timeout` seconds."""
        if not self._worker.flush(timeout):
            get_logger().warning("http hooks: %d background calls still pending after %.1fs",
                                 self._worker.pending(), timeout)

    def close(self) -> None:
        """Stop the background worker (call `flush` first) and close pooled connections."""
        self._worker.stop()
        self.transport.close()

    # internals ---------------------------------------------------------------
    def _make_call(self, action: str, conf: dict, ctx: HookContext) -> Optional["_HookCall"]:
        """One event, built and ready to deliver; None when nothing is configured for it."""
        urls = _urls(conf, action)
        if not urls:
            return None
        return _HookCall(action, tuple(urls), _utf8(build_body(action, ctx, self.server_id,
                                                               self.service_id)),
                         _timeout(conf), bool(conf.get("tls_verify", True)), ctx.client_id)

    def _deliver(self, call: "_HookCall", url: str) -> Optional[str]:
        """One POST, judged and logged: None on success, else the reason."""
        log = get_logger(call.cid)
        started = time.monotonic()
        try:
            status, reply = self.transport.post(url, call.body, call.timeout, call.tls_verify)
        except HookTransportError as e:
            log.warning("http hook %s %s failed in %dms: %s", call.action, url, _ms(started), e)
            return str(e)
        why = judge_reply(status, reply)
        if why is None:
            log.info("http hook %s %s status=%d %dms ok", call.action, url, status, _ms(started))
        else:
            log.warning("http hook %s %s status=%d %dms rejected: %s",
                        call.action, url, status, _ms(started), why)
        return why

    def _chain(self, call: "_HookCall") -> Optional[str]:
        """Call the URLs in order, stopping at the first failure, whose full reason is returned."""
        for i, url in enumerate(call.urls):
            why = self._deliver(call, url)
            if why is not None:
                if i + 1 < len(call.urls):
                    get_logger(call.cid).warning("http hook %s: %d later URL(s) skipped",
                                                 call.action, len(call.urls) - i - 1)
                return f"{call.action} {url} rejected: {why}"
        return None

    def _gate(self, action: str, conf: dict, ctx: HookContext) -> HookVerdict:
        call = self._make_call(action, conf, ctx)
        reason = self._chain(call) if call else None
        return HookVerdict(reason is None, reason or "")

    def _notify_all(self, action: str, conf: dict, ctx: HookContext) -> None:
        call = self._make_call(action, conf, ctx)
        for url in call.urls if call else ():
            self._deliver(call, url)  # each failure is logged there; the rest still run

    def _queue_chain(self, action: str, conf: dict, ctx: HookContext) -> None:
        # Built now, not in the worker: the context may change before the worker runs.
        call = self._make_call(action, conf, ctx)
        if call is not None:
            self._worker.submit(lambda: self._chain(call),
                                f"{action} client={ctx.client_id} "
                                f"stream={ctx.vhost}/{ctx.app}/{ctx.stream} file={ctx.file}")


@dataclass(frozen=True)
class _HookCall:
    """An event ready for delivery: what a durable queue or a signer would work on."""
    action: str
    urls: tuple[str, ...]
    body: bytes
    timeout: float
    tls_verify: bool
    cid: str


def _timeout(conf: dict) -> float:
    value = float(conf.get("timeout") or DEFAULT_TIMEOUT)
    return value if value > 0 else DEFAULT_TIMEOUT


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _utf8(text: str) -> bytes:
    try:
        # Names decoded from the wire with surrogateescape go back out as the raw bytes.
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")
