"""HttpHooks: what the app calls to fire SRS's HTTP callbacks: gating hooks decide, notifications are sent or queued."""
import sqlite3
import time
from typing import Callable, Optional

from srsish import SIGNATURE
from srsish.app.hooks.dialects import CONNECT, HLS, PLAY, PUBLISH, STOP, UNPUBLISH, StreamState, urls_of
from srsish.app.hooks.delivery_counts import DeliveryCounts
from srsish.app.hooks.dialects import huawei, lal, xiu
from srsish.app.hooks.events import HookContext, HookEvents, HookVerdict, build_body, judge_for, judge_reply
from srsish.app.hooks.journal import CLOSES, OPENS, OWED, SessionJournal
from srsish.app.hooks.outbox import Outbox, open_database, transaction
from srsish.app.hooks.sender import OutboxSender
from srsish.app.hooks.signing import request_headers
from srsish.app.hooks.transport import HookTransport, HookTransportError
from srsish.app.hooks.worker import AsyncCallWorker
from srsish.core.ids import new_event_id
from srsish.core.log import get_logger

__all__ = ["HookContext", "HookEvents", "HookVerdict", "HttpHooks", "build_body", "judge_reply"]

NOTIFY_TIMEOUT = 10.0           # on_hls_notify has its own, as in SRS
# SRS's notifications and the neutral session event each one is for the other formats (hooks/dialects/).
NEUTRAL = {"on_unpublish": UNPUBLISH, "on_stop": STOP, "on_hls": HLS}


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

    Gating hooks (on_connect, on_publish, on_play) run in the caller's greenlet and return a verdict;
    they are never queued (a client waiting to go live must not wait for a retry schedule).
    Notifications (on_close, on_unpublish, on_stop, on_dvr, on_hls) are written to the outbox before
    the call returns and delivered by its sender, each URL on its own, retried with backoff until the
    URL accepts or the retry window passes. on_hls_notify stays SRS's single best-effort GET, queued
    to a background worker.

    Every request carries X-Srsish-Event-Id, X-Srsish-Attempt and X-Srsish-Timestamp, and with
    `secret` X-Srsish-Signature (see signing.py). Bodies are byte-identical to SRS's.

    `conf` is the vhost's http_hooks dict: `enabled`, one URL list per event, `timeout`
    (seconds, covering connect and each read), `tls_verify` (False accepts any certificate, as SRS
    does), `secret`, `retry_max_delay` and `retry_window` (seconds).

    HTTPS verifies against the system CAs; `SSL_CERT_FILE` / `SSL_CERT_DIR` in the
    environment replace them (OpenSSL's rule), which is also how tests trust a test CA.
    Connections are kept alive, one pool per (scheme, host, port, timeout, tls_verify);
    a POST that meets a stale pooled connection is retried once on a fresh one.

    Beside SRS's hooks, the same session events go out in lal's, xiu's and Huawei's formats
    (hooks/dialects/) to the URLs `dialect_conf(vhost)` gives ({"lal": block, "xiu": block, "huawei": block}),
    through the same outbox; xiu's on_publish gates like SRS's. `stream_state(vhost, app, stream)` tells lal
    whether the stream has a publisher and players.
    """

    def __init__(self, server_id: str, service_id: str, db: Optional[sqlite3.Connection] = None,
                 user_agent: str = f"{SIGNATURE}", clock: Callable[[], float] = time.time,
                 dialect_conf: Optional[Callable[[str], dict]] = None,
                 stream_state: Optional[Callable[[str, str, str], StreamState]] = None) -> None:
        self.server_id = server_id
        self.service_id = service_id
        self.clock = clock
        self.dialect_conf = dialect_conf or (lambda vhost: {})
        self.stream_state = stream_state or (lambda vhost, app, stream: StreamState())
        self._publish_times: dict = {}     # client id -> the publish's start (Huawei pairs start and end by it)
        self.transport = HookTransport(user_agent)
        # Without a database (tools, tests) the outbox lives in memory: retried, not durable.
        db = db if db is not None else open_database(":memory:")
        self.outbox = Outbox(db)
        self.journal = SessionJournal(db)
        self.deliveries = DeliveryCounts()     # by action and outcome (the per-URL counts are the outbox's)
        self.sender = OutboxSender(self.outbox, self.transport, clock, self.deliveries)
        self._worker = AsyncCallWorker("http_hooks")

    def start(self, hooks_conf: Callable[[str], Optional[dict]]) -> int:
        """Recover what an unclean exit left open, then deliver what the outbox holds; returns how many
        deliveries are pending. `hooks_conf(vhost name)` is the vhost's http_hooks as the conf says now."""
        self.recover(hooks_conf)
        return self.sender.start()

    def recover(self, hooks_conf: Callable[[str], Optional[dict]]) -> int:
        """Queue the closing hooks every session left open in the journal is owed (X-Srsish-Recovered: 1)."""
        left = self.journal.left_open()
        log = get_logger()
        with transaction(self.outbox.db):
            for kind, ctx in left:
                action = OWED[kind]
                log.warning("recover: %s session of client %s (%s/%s/%s) was left open by an unclean exit: "
                            "queueing %s", kind, ctx.client_id, ctx.vhost, ctx.app, ctx.stream, action)
                self.notify(action, hooks_conf(ctx.vhost) or {}, ctx, recovered=True)
            self.journal.clear()
        return len(left)

    def update_bytes(self, counters) -> None:
        """The live clients' byte counters, so a recovered on_close carries what was counted last."""
        self.journal.update_bytes(counters)

    # gating ------------------------------------------------------------------
    def on_connect(self, conf: dict, ctx: HookContext) -> HookVerdict:
        verdict = self._gate("on_connect", conf, ctx)
        if verdict.ok:
            self._queue_dialects(CONNECT, ctx)
        return verdict

    def on_publish(self, conf: dict, ctx: HookContext) -> HookVerdict:
        """xiu's on_publish (it may refuse), then SRS's; accepted, the other formats hear of the start."""
        ctx.publish_time = ctx.publish_time or self.clock()
        why = self._xiu_gate(ctx)
        if why is not None:
            return HookVerdict(False, why)
        verdict = self._gate("on_publish", conf, ctx)
        if not verdict.ok:
            self._queue_dialects(UNPUBLISH, ctx, only="xiu")   # xiu heard Publish: it hears the end too
            return verdict
        self._publish_times[ctx.client_id] = ctx.publish_time
        self._queue_dialects(PUBLISH, ctx, skip="xiu")
        return verdict

    def on_play(self, conf: dict, ctx: HookContext) -> HookVerdict:
        verdict = self._gate("on_play", conf, ctx)
        if verdict.ok:
            self._queue_dialects(PLAY, ctx)
        return verdict

    # notifications, through the outbox ---------------------------------------
    def on_close(self, conf: dict, ctx: HookContext, recovered: bool = False) -> None:
        self.notify("on_close", conf, ctx, recovered)

    def on_unpublish(self, conf: dict, ctx: HookContext, recovered: bool = False) -> None:
        self.notify("on_unpublish", conf, ctx, recovered)

    def on_stop(self, conf: dict, ctx: HookContext, recovered: bool = False) -> None:
        self.notify("on_stop", conf, ctx, recovered)

    def on_dvr(self, conf: dict, ctx: HookContext, recovered: bool = False) -> None:
        self.notify("on_dvr", conf, ctx, recovered)

    def on_hls(self, conf: dict, ctx: HookContext, recovered: bool = False) -> None:
        self.notify("on_hls", conf, ctx, recovered)

    def notify(self, action: str, conf: dict, ctx: HookContext, recovered: bool = False) -> Optional[str]:
        """Store the event for each of its URLs and wake their senders; returns its event id (None: no URL)."""
        urls = _urls(conf, action)
        event_id = new_event_id()
        if action == "on_unpublish":
            started = self._publish_times.pop(ctx.client_id, 0.0)
            ctx.publish_time = ctx.publish_time or started
        with transaction(self.outbox.db):     # the session is closed exactly when its hook is stored
            if action in CLOSES:
                self.journal.close(CLOSES[action], ctx.client_id)
            if urls:
                body = _utf8(build_body(action, ctx, self.server_id, self.service_id))
                self.outbox.add(event_id, action, ctx.client_id, urls, body, timeout=_timeout(conf),
                                tls_verify=conf["tls_verify"], secret=conf["secret"] or "",
                                window=conf["retry_window"], max_delay=conf["retry_max_delay"], now=self.clock(),
                                recovered=recovered)
            if action in NEUTRAL:
                self._queue_dialects(NEUTRAL[action], ctx, recovered=recovered)
        for url in urls:
            self.sender.wake(url)
        return event_id if urls else None

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
                    self.deliveries.notify("on_hls_notify", "failed")
                    log.warning("http hook on_hls_notify %s failed in %dms: %s (ignored)",
                                url, _ms(started), e)
                    continue
                self.deliveries.notify("on_hls_notify", "delivered")
                log.info("http hook on_hls_notify %s status=%d %dms, read %d bytes",
                         url, status, _ms(started), nread)

        self._worker.submit(run, f"on_hls_notify client={ctx.client_id} ts={ts_url}")

    def send_raw(self, action: str, client_id: str, url: str, body: bytes, *, secret: str, window: float,
                 max_delay: float, timeout: float = NOTIFY_TIMEOUT, replace: bool = False,
                 tls_verify: bool = True) -> str:
        """Queue a notification whose body is already built (the heartbeat); `replace` drops one still pending."""
        event_id = new_event_id()
        with transaction(self.outbox.db):
            if replace:
                self.outbox.drop(action, url)
            self.outbox.add(event_id, action, client_id, [url], body, timeout=timeout, tls_verify=tls_verify,
                            secret=secret, window=window, max_delay=max_delay, now=self.clock())
        self.sender.wake(url)
        return event_id

    def send_report(self, action: str, url: str, body: bytes, conf: dict, replace: bool) -> str:
        """Queue a server-wide dialect report (lal's on_server_start, on_update) under the block `conf`;
        `replace` drops one still pending (a stale on_update is worth nothing)."""
        window = float(conf["retry_window"])
        if replace:
            window = min(window, max(1.0, float(conf["update_interval_sec"])))
        return self.send_raw(action, self.server_id, url, body, secret=conf["secret"] or "", window=window,
                             max_delay=conf["retry_max_delay"], timeout=_timeout(conf), replace=replace,
                             tls_verify=conf["tls_verify"])

    def flush(self, timeout: float) -> None:
        """Wait until the on_hls_notify queue is empty, at most `timeout` seconds."""
        if not self._worker.flush(timeout):
            get_logger().warning("http hooks: %d background calls still pending after %.1fs",
                                 self._worker.pending(), timeout)

    def drain(self, timeout: float) -> bool:
        """Shutdown: wait at most `timeout` seconds for the outbox to empty; the rest stays on disk."""
        if self.sender.drain(timeout):
            return True
        get_logger().warning("http hooks: %d notifications still pending after %.1fs, kept for the next start",
                             self.outbox.pending(), timeout)
        return False

    def close(self) -> None:
        """Stop the workers (call `flush` and `drain` first) and close pooled connections."""
        self._worker.stop()
        self.sender.stop()
        self.transport.close()

    # other servers' formats --------------------------------------------------
    def _dialect_requests(self, event: str, ctx: HookContext, confs: dict) -> list:
        """(block, request) of every format for one neutral event."""
        out = []
        if confs.get("lal"):
            state = self.stream_state(ctx.vhost, ctx.app, lal.stream_name(ctx))
            out += [(confs["lal"], r) for r in lal.requests(event, ctx, confs["lal"], self.server_id, state)]
        if confs.get("xiu"):
            out += [(confs["xiu"], r) for r in xiu.requests(event, ctx, confs["xiu"])]
        if confs.get("huawei"):
            out += [(confs["huawei"], r) for r in huawei.requests(event, ctx, confs["huawei"], self.clock())]
        return out

    def _queue_dialects(self, event: str, ctx: HookContext, recovered: bool = False, only: str = "",
                        skip: str = "") -> None:
        """Store the other formats' notifications of `event` in the outbox (one event id per format and
        event, shared by its URLs), each format in its own ordering lane; `only` / `skip` name a format."""
        confs = self.dialect_conf(ctx.vhost) or {}
        if only:
            confs = {only: confs.get(only)}
        elif skip:
            confs = {k: v for k, v in confs.items() if k != skip}
        grouped: dict = {}
        for conf, r in self._dialect_requests(event, ctx, confs):
            grouped.setdefault((r.action, r.body), (conf, []))[1].append(r.url)
        if not grouped:
            return
        now = self.clock()
        with transaction(self.outbox.db):
            for (action, body), (conf, urls) in grouped.items():
                self.outbox.add(new_event_id(), action, ctx.client_id, urls, body, timeout=_timeout(conf),
                                tls_verify=conf["tls_verify"], secret=conf["secret"] or "",
                                window=conf["retry_window"], max_delay=conf["retry_max_delay"], now=now,
                                recovered=recovered)
        for _conf, urls in grouped.values():
            for url in urls:
                self.sender.wake(url)

    def _xiu_gate(self, ctx: HookContext) -> Optional[str]:
        """xiu's on_publish, posted now: None when every URL answered 200, else why the publisher is refused."""
        conf = (self.dialect_conf(ctx.vhost) or {}).get("xiu")
        urls = urls_of(conf, "on_publish")
        body = xiu.body(PUBLISH, ctx)
        if not urls or body is None:
            return None
        event_id = new_event_id()
        for url in urls:
            why = self._deliver("xiu:on_publish", url, body, conf, event_id, ctx.client_id)
            if why is not None:
                return f"xiu on_publish {url} rejected: {why}"
        return None

    # internals ---------------------------------------------------------------
    def _deliver(self, action: str, url: str, body: bytes, conf: dict, event_id: str, cid: str) -> Optional[str]:
        """One gating POST, judged, logged and counted: None on success, else the reason."""
        log = get_logger(cid)
        headers = request_headers(event_id, 1, self.clock(), body, conf["secret"])
        started = time.monotonic()
        try:
            status, reply = self.transport.post(url, body, _timeout(conf), conf["tls_verify"], headers)
        except HookTransportError as e:
            self.outbox.count(url, "failed")
            self.deliveries.gate(action, "failed")
            log.warning("http hook %s %s failed in %dms: %s", action, url, _ms(started), e)
            return str(e)
        why = judge_for(action, status, reply)
        if why is None:
            self.outbox.count(url, "accepted")
            self.deliveries.gate(action, "accepted")
            log.info("http hook %s %s status=%d %dms ok", action, url, status, _ms(started))
        else:
            self.outbox.count(url, "refused")
            self.deliveries.gate(action, "refused")
            log.warning("http hook %s %s status=%d %dms rejected: %s", action, url, status, _ms(started), why)
        return why

    def _gate(self, action: str, conf: dict, ctx: HookContext) -> HookVerdict:
        """Call the URLs in order, stopping at the first failure, whose full reason is the verdict's."""
        urls = _urls(conf, action)
        if not urls:
            self.journal.open(OPENS[action], ctx, self.clock())
            return HookVerdict(True, "")
        event_id = new_event_id()
        body = _utf8(build_body(action, ctx, self.server_id, self.service_id))
        for i, url in enumerate(urls):
            why = self._deliver(action, url, body, conf, event_id, ctx.client_id)
            if why is not None:
                if i + 1 < len(urls):
                    get_logger(ctx.client_id).warning("http hook %s: %d later URL(s) skipped", action,
                                                      len(urls) - i - 1)
                return HookVerdict(False, f"{action} {url} rejected: {why}", told=f"{action} rejected: {why}")
        self.journal.open(OPENS[action], ctx, self.clock())
        return HookVerdict(True, "")


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
