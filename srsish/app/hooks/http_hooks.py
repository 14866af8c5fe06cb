"""HttpHooks: what the app calls to fire SRS's HTTP callbacks: gating hooks decide, notifications are sent or queued."""
import time
from dataclasses import dataclass
from typing import Optional

from srsish import SIGNATURE
from srsish.app.hooks.events import HookContext, HookEvents, HookVerdict, build_body, judge_reply
from srsish.app.hooks.transport import HookTransport, HookTransportError
from srsish.app.hooks.worker import AsyncCallWorker
from srsish.core.log import get_logger

__all__ = ["HookContext", "HookEvents", "HookVerdict", "HttpHooks", "build_body", "judge_reply"]

NOTIFY_TIMEOUT = 10.0           # on_hls_notify has its own, as in SRS


def _urls(conf: dict, action: str) -> list[str]:
    if not conf or not conf["enabled"]:
        return []
    urls = conf[action]
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
        tls_verify = bool(conf["tls_verify"])
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
                         _timeout(conf), bool(conf["tls_verify"]), ctx.client_id)

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
    return float(conf["timeout"])


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _utf8(text: str) -> bytes:
    try:
        # Names decoded from the wire with surrogateescape go back out as the raw bytes.
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")
