"""Huawei Cloud Live's stream start/stop notification (开停播通知): PUBLISH and PUBLISH_DONE, optionally signed.

Body, in this order, all strings: domain, app, stream, usr_args, client_ip, node_ip, publish_timestamp,
event; with a `key`, auth_timestamp and auth_sign = hex HMAC-SHA256(key, event+domain+app+stream+auth_timestamp).
"""
import hashlib
import hmac
from typing import List, Optional

import simplejson

from srsish.app.hooks.dialects import PUBLISH, UNPUBLISH, Request, urls_of
from srsish.core.naming import DEFAULT_VHOST

EVENTS = {PUBLISH: "PUBLISH", UNPUBLISH: "PUBLISH_DONE"}


def auth_sign(key: str, event: str, domain: str, app: str, stream: str, auth_timestamp: str) -> str:
    """Lowercase hex HMAC-SHA256 under `key` of event + domain + app + stream + auth_timestamp."""
    msg = (event + domain + app + stream + auth_timestamp).encode("utf-8", "surrogateescape")
    return hmac.new(key.encode("utf-8"), msg, hashlib.sha256).hexdigest()


def domain_of(ctx) -> str:
    """The vhost; for the default vhost, the host the publisher's tcUrl names."""
    if ctx.vhost != DEFAULT_VHOST:
        return ctx.vhost
    url = ctx.tcUrl.split("://", 1)[-1]
    host = url.partition("/")[0].partition("?")[0]
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def body(event: str, ctx, conf: dict, now: float) -> bytes:
    name = EVENTS[event]
    domain = domain_of(ctx)
    obj = {"domain": domain, "app": ctx.app, "stream": ctx.stream,
           "usr_args": ctx.param[1:] if ctx.param.startswith("?") else ctx.param,
           "client_ip": ctx.ip, "node_ip": ctx.server_ip, "publish_timestamp": str(int(ctx.publish_time)),
           "event": name}
    key = conf["key"]
    if key:
        ts = str(int(now))
        obj["auth_timestamp"] = ts
        obj["auth_sign"] = auth_sign(key, name, domain, ctx.app, ctx.stream, ts)
    return simplejson.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogateescape")


def requests(event: str, ctx, conf: Optional[dict], now: float) -> List[Request]:
    """Huawei's notification for a publish starting or ending (nothing for players)."""
    if event not in EVENTS or ctx.protocol != "rtmp":
        return []
    urls = urls_of(conf, "url")
    if not urls:
        return []
    data = body(event, ctx, conf, now)
    return [Request("huawei:" + EVENTS[event], url, data) for url in urls]
