"""Other servers' notification formats (lal, xiu, Huawei Cloud): each module turns a neutral session event into requests.

A dialect module knows its field names, order and types and nothing of the app: it gets the event name, the
HookContext (neutral facts about the client and stream), its conf block and the server's id, and returns
`Request`s. `http_hooks.HttpHooks` sends them through the outbox (xiu's on_publish synchronously: it gates).
"""
from dataclasses import dataclass
from typing import Optional

# The neutral events the app's sessions go through (HttpHooks maps SRS's hooks onto them).
CONNECT, PUBLISH, UNPUBLISH, PLAY, STOP, HLS = "connect", "publish", "unpublish", "play", "stop", "hls"


@dataclass(frozen=True)
class StreamState:
    """The stream of an event at that moment: whether it has a publisher, how many players it has."""
    publishing: bool = False
    players: int = 0


@dataclass(frozen=True)
class Request:
    """One notification of a dialect: `action` is `dialect:event` (the outbox's action and reply rule)."""
    action: str
    url: str
    body: bytes


def urls_of(conf: Optional[dict], key: str) -> list:
    """The URLs a dialect block gives for `key` (none when the block is off)."""
    if not conf or not conf["enabled"]:
        return []
    value = conf[key]
    if isinstance(value, str):
        value = value.split()
    return [u for u in value if u]


def remote_addr(ip: str, port: int) -> str:
    """`ip:port` as Go prints a net.Addr (`[::1]:port` for IPv6); the bare ip when the port is unknown."""
    if not port:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def dialect_of(action: str) -> str:
    """`lal` of `lal:on_pub_start`; "" for SRS's own actions."""
    return action.partition(":")[0] if ":" in action else ""


def accepted(action: str, status: int) -> bool:
    """A dialect's reply rule: lal takes any 2xx, xiu and Huawei need 200 (the body is never read)."""
    if dialect_of(action) == "lal":
        return 200 <= status < 300
    return status == 200
