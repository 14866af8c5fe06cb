"""Forward and edge publish: origin features that push each published stream to other servers over RTMP.

`Forward` is SRS's `forward { destination ...; backend URL; }`: every destination gets the stream, and the
backend (SRS 5's dynamic forward) is asked with the on_forward body which RTMP URLs to push to as well.
`EdgePush` is SRS's edge publish (`cluster { mode remote; }`): the stream goes on to the first origin that
takes it. Each push has its own greenlet and bounded queue (cluster/push.py): the publisher never waits.
"""
from typing import List, Optional

import gevent
import simplejson

from srsish.app.cluster.push import RtmpPush
from srsish.app.cluster.upstream import Target, parse_host_port
from srsish.app.hooks.events import judge_reply
from srsish.app.origin.feature import OriginContext, OriginFeature
from srsish.kernel.message import SharedMessage

# on_forward's body fields, in SRS's order (action first, unlike the other hooks).
ON_FORWARD_FIELDS = ("action", "server_id", "service_id", "client_id", "ip", "vhost", "app", "tcUrl", "stream",
                     "param")


def on_forward_body(ctx: OriginContext) -> bytes:
    """The JSON SRS posts to a forward backend when a stream is published."""
    hooks, hook = ctx.hooks, ctx.hook
    values = {"action": "on_forward", "server_id": hooks.server_id, "service_id": hooks.service_id,
              "client_id": hook.client_id, "ip": hook.ip, "vhost": hook.vhost, "app": hook.app,
              "tcUrl": hook.tcUrl, "stream": hook.stream, "param": hook.param}
    return simplejson.dumps({k: values[k] for k in ON_FORWARD_FIELDS}, separators=(",", ":"),
                            ensure_ascii=False).encode("utf-8", "surrogateescape")


def forward_urls(status: int, reply: bytes) -> List[str]:
    """The backend's `data.urls`, judged by the hooks' reply rules; ValueError says why it is refused."""
    why = judge_reply(status, reply)
    if why is not None:
        raise ValueError(why)
    value = simplejson.loads(reply.decode("utf-8")) if reply.strip() != b"0" else {}
    data = value.get("data") if isinstance(value, dict) else None
    urls = data.get("urls") if isinstance(data, dict) else None
    if urls is None:
        return []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ValueError(f"data.urls is not a list of strings: {urls!r}")
    return urls


class _Pushes(OriginFeature):
    """Feeds every push of this publish session; stops them at unpublish."""

    def __init__(self, ctx: OriginContext) -> None:
        self.ctx = ctx
        self.pushes: List[RtmpPush] = []

    def _start(self, targets: List[Target], what: str) -> None:
        push = RtmpPush(targets, what, self.ctx.hook.client_id)
        # What the stream already sent (a backend answers after the sequence headers went by).
        for m in getattr(self, "_seen", ()):
            push.offer(m)
        self.pushes.append(push)

    def on_metadata(self, msg: SharedMessage) -> None:
        for p in self.pushes:
            p.offer(msg)

    def on_media(self, msg: SharedMessage) -> None:
        for p in self.pushes:
            p.offer(msg)

    def on_unpublish(self) -> None:
        for p in self.pushes:
            p.stop()
        self.pushes = []


class Forward(_Pushes):
    """SRS's forward: push to every `destination` and to what the `backend` answers."""

    @classmethod
    def create(cls, ctx: OriginContext) -> Optional["Forward"]:
        conf = ctx.vhost["forward"]
        if ctx.edge_pull or not conf["enabled"] or not (conf["destination"] or conf["backend"]):
            return None
        return cls(ctx)

    def __init__(self, ctx: OriginContext) -> None:
        super().__init__(ctx)
        self._seen: List[SharedMessage] = []   # metadata and sequence headers, for pushes started later
        self._backend = None

    def on_publish(self) -> None:
        conf, hook = self.ctx.vhost["forward"], self.ctx.hook
        for text in conf["destination"]:
            try:
                host, port = parse_host_port(text)
            except ValueError as e:
                self._log_error("forward destination %r ignored: %s", text, e)
                continue
            self._start([Target(host, port, hook.app, hook.stream, hook.param, vhost=hook.vhost)], "forward")
        if conf["backend"]:
            self._backend = gevent.spawn(self._ask_backend, conf["backend"])

    def _ask_backend(self, url: str) -> None:
        """SRS 5's dynamic forward. SRS refuses the publisher when this fails; we keep it and push nowhere."""
        hooks_conf = self.ctx.hooks_conf()
        try:
            status, reply = self.ctx.hooks.transport.post(url, on_forward_body(self.ctx), float(hooks_conf["timeout"]),
                                                          hooks_conf["tls_verify"])
            urls = forward_urls(status, reply)
        except Exception as e:  # transport error, refusal, bad JSON: the publisher goes on
            self._log_error("forward backend %s failed, no dynamic forward for this stream: %s", url, e)
            return
        if self.ctx.log is not None:
            self.ctx.log.info("forward backend %s answered urls=%s", url, urls)
        for u in urls:
            try:
                target = Target.from_url(u)
            except ValueError as e:
                self._log_error("forward backend %s: url ignored: %s", url, e)
                continue
            self._start([target], "forward")

    def on_metadata(self, msg: SharedMessage) -> None:
        self._remember(msg)
        super().on_metadata(msg)

    def on_media(self, msg: SharedMessage) -> None:
        if msg.is_sequence_header:
            self._remember(msg)
        super().on_media(msg)

    def _remember(self, msg: SharedMessage) -> None:
        self._seen = [m for m in self._seen if not (m.type_id == msg.type_id)] + [msg]

    def on_unpublish(self) -> None:
        if self._backend is not None:
            self._backend.kill(block=False)
        super().on_unpublish()

    def _log_error(self, fmt: str, *args) -> None:
        if self.ctx.log is not None:
            self.ctx.log.error(fmt, *args)


class EdgePush(_Pushes):
    """SRS's edge publish: a stream published to an edge goes on to the first origin that takes it."""

    @classmethod
    def create(cls, ctx: OriginContext) -> Optional["EdgePush"]:
        cluster = ctx.vhost["cluster"]
        if ctx.edge_pull or cluster["mode"] != "remote" or not cluster["origin"]:
            return None
        return cls(ctx)

    def on_publish(self) -> None:
        cluster, hook = self.ctx.vhost["cluster"], self.ctx.hook
        targets = []
        for text in cluster["origin"]:
            host, port = parse_host_port(text)
            targets.append(Target(host, port, hook.app, hook.stream, hook.param,
                                  vhost=cluster["vhost"] or hook.vhost))
        self._start(targets, "edge publish")
