"""Hook events: the one table of body fields per action, the context they are filled from, and SRS's reply rules.

Pure values and functions (no I/O): `HookEvents`, `HookContext`, `build_body` and `judge_reply` are what a
durable queue, a signer or another server's body format builds on.
"""
import math
from dataclasses import dataclass
from typing import Optional

import simplejson

from srsish.app.hooks.dialects import accepted

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
    # Neutral facts other servers' formats need (hooks/dialects/); SRS's bodies never carry them.
    protocol: str = ""          # rtmp, http-flv, hls
    port: int = 0               # the client's port (0: unknown)
    client_url: str = ""        # the full URL the client used, query included
    server_ip: str = ""         # the server's address the client connected to
    flash_ver: str = ""         # RTMP connect's flashVer
    publish_time: float = 0.0   # Unix time the publish started (the same on its start and its end)


@dataclass
class HookVerdict:
    """The outcome of a gating hook: `reason` (for the log) names the hook, the URL and the backend's answer;
    `told` is what the refused client is told, the hook and the answer but never the backend's URL."""
    ok: bool
    reason: str
    told: str = ""

    @property
    def client_text(self) -> str:
        return self.told or self.reason


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


def _snippet(body: bytes, limit: int = 64) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return simplejson.dumps(text + ("..." if len(body) > limit else ""), ensure_ascii=True)


def judge_for(action: str, status: int, body: bytes) -> Optional[str]:
    """The reply rule of `action`: SRS's (judge_reply) for SRS's hooks; a dialect's (`lal:...`) its own."""
    if ":" not in action:
        return judge_reply(status, body)
    return None if accepted(action, status) else f"HTTP {status} body {_snippet(body)}"


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
