"""StreamRequest: what a client asked for (vhost, app, stream, param) parsed from tcUrl and stream name."""
from dataclasses import dataclass
from typing import Dict, Optional
from urllib.parse import parse_qsl

from srsish.core import naming
from srsish.core.errors import ProtocolError
from srsish.core.naming import DEFAULT_VHOST
# Stream and app names end up in file paths, URLs and logs: bound them and refuse control bytes.
MAX_NAME_LENGTH = 512


@dataclass
class StreamRequest:
    tcUrl: str = ""
    pageUrl: str = ""
    schema: str = "rtmp"
    host: str = ""
    port: int = 1935
    vhost: str = ""
    app: str = ""
    stream: str = ""
    param: str = ""          # the query with its leading "?", or ""
    object_encoding: float = 0.0

    def query(self) -> Dict[str, str]:
        return dict(parse_qsl(self.param.lstrip("?"), keep_blank_values=True))

    def stream_url(self, resolved_vhost: Optional[str] = None) -> str:
        """SRS's stream key: `/app/stream` on the default vhost, `vhost/app/stream` otherwise."""
        vhost = resolved_vhost if resolved_vhost is not None else self.vhost
        return naming.stream_url(vhost, self.app, self.stream)


def _check_name(kind: str, value: str) -> str:
    if len(value) > MAX_NAME_LENGTH:
        raise ProtocolError(f"{kind} name of {len(value)} characters exceeds {MAX_NAME_LENGTH}")
    if any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise ProtocolError(f"{kind} name {value!r} contains control characters")
    return value


def _split_query(s: str):
    if "?" in s:
        base, q = s.split("?", 1)
        return base, q
    return s, ""


def parse_tc_url(tc_url: str) -> StreamRequest:
    """Parse `rtmp://host[:port]/app[?query]` as SRS does; the query is kept for `param`."""
    req = StreamRequest(tcUrl=tc_url)
    rest = tc_url
    if "://" in rest:
        req.schema, rest = rest.split("://", 1)
    hostport, _, path = rest.partition("/")
    path, tc_query = _split_query(path)
    hostport, q2 = _split_query(hostport)
    tc_query = tc_query or q2
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = hostport.partition(":")
    req.host = host
    if port:
        try:
            req.port = int(port)
        except ValueError:
            raise ProtocolError(f"tcUrl {tc_url!r} has a bad port {port!r}") from None
    app = path.strip("/")
    if app.endswith("/_definst_"):
        app = app[: -len("/_definst_")]
    req.app = _check_name("app", app)
    req.param = "?" + tc_query if tc_query else ""
    return req


def apply_stream_name(req: StreamRequest, name: str) -> StreamRequest:
    """Fill stream and param from a publish/play name such as `livestream?token=abc`, then resolve the vhost.

    A query in the tcUrl and one in the stream name are both kept, once each (SRS doubles the
    tcUrl's query; we do not).
    """
    stream, query = _split_query(name or "")
    parts = [p for p in (req.param.lstrip("?"), query) if p]
    if len(parts) == 2 and parts[0] == parts[1]:
        parts = parts[:1]
    req.param = "?" + "&".join(parts) if parts else ""
    stream = stream.strip()
    if stream.endswith("/_definst_"):
        stream = stream[: -len("/_definst_")]
    if not stream and "/" in req.app:
        req.app, stream = req.app.rsplit("/", 1)
    req.stream = _check_name("stream", stream)
    req.vhost = resolve_vhost_name(req)
    return req


def resolve_vhost_name(req: StreamRequest) -> str:
    """The vhost a client asked for: `?vhost=` or `?domain=` wins, else the tcUrl host."""
    q = req.query()
    return q.get("vhost") or q.get("domain") or req.host or DEFAULT_VHOST
