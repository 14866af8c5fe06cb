"""HttpRequest and HttpResponse: the plain values the HTTP server hands to its handlers and gets back."""
from dataclasses import dataclass, field
from typing import Dict, List, Tuple
from urllib.parse import parse_qsl


@dataclass
class HttpRequest:
    method: str                      # "GET", "HEAD", ...
    path: str                        # percent-decoded path, no query, e.g. "/live/livestream.m3u8"
    query: str = ""                  # raw query without "?", e.g. "token=abc&hls_ctx=x"
    headers: Dict[str, str] = field(default_factory=dict)   # lower-case names
    ip: str = ""                     # client ip: X-Forwarded-For first entry, else X-Real-IP, else the peer
    host: str = ""                   # Host header without the port
    version: str = "HTTP/1.1"

    @property
    def param(self) -> str:
        """SRS's `param`: the query with its leading "?", or ""."""
        return "?" + self.query if self.query else ""

    def query_dict(self) -> Dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


@dataclass
class HttpResponse:
    status: int = 200
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
