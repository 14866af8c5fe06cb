"""HookTransport: delivers hook requests over HTTP(S) with one keep-alive pool per backend (geventhttpclient).

geventhttpclient and the TLS modules are imported by the first request: a server that calls no
hook (a plain origin under load) is 4-5 MiB smaller without them.
"""
import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional
from urllib.parse import urlsplit

import gevent
import gevent.local

from srsish.app.hooks.events import MAX_REPLY_BYTES

if TYPE_CHECKING:
    import ssl

    from geventhttpclient import HTTPClient

POOL_CONCURRENCY = 16           # keep-alive connections per backend


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


def _client_context() -> "ssl.SSLContext":
    import gevent.ssl
    # gevent.ssl.create_default_context() hands back a *stdlib* SSLContext (without
    # monkey-patching), whose sockets block the whole hub during the handshake and every
    # read; gevent's own SSLContext class makes cooperative sockets.
    return gevent.ssl.SSLContext(gevent.ssl.PROTOCOL_TLS_CLIENT)


def _verifying_context(**_ignored: object) -> "ssl.SSLContext":
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


def _insecure_context(**_ignored: object) -> "ssl.SSLContext":
    import ssl
    ctx = _client_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _describe(e: BaseException, timeout: float) -> str:
    if isinstance(e, HookTransportError):
        return str(e)
    import ssl
    from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError
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


def _track_reuse(client: "HTTPClient", local: gevent.local.local) -> None:
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
        self._clients: dict[tuple, "HTTPClient"] = {}
        self._local = gevent.local.local()

    def _client(self, t: _Target, timeout: float, tls_verify: bool, concurrency: int) -> "HTTPClient":
        key = (t.scheme, t.host, t.port, timeout, tls_verify, concurrency)
        client = self._clients.get(key)
        if client is None:
            from geventhttpclient import HTTPClient
            kw: dict = dict(connection_timeout=timeout, network_timeout=timeout,
                            concurrency=concurrency, headers={"User-Agent": self.user_agent})
            if t.scheme == "https":
                kw.update(ssl=True, insecure=not tls_verify,
                          ssl_context_factory=_verifying_context if tls_verify else _insecure_context)
            client = HTTPClient(t.host, port=t.port, **kw)
            _track_reuse(client, self._local)
            self._clients[key] = client
        return client

    def post(self, url: str, body: bytes, timeout: float, tls_verify: bool,
             extra_headers: Optional[Dict[str, str]] = None) -> tuple[int, bytes]:
        """POST `body` as JSON (with `extra_headers`); returns (status, reply body); raises HookTransportError."""
        target = _parse_url(url)
        headers = {"Content-Type": "application/json", "Connection": "Keep-Alive"}
        if extra_headers:
            headers.update(extra_headers)
        # The socket timeouts bound each read; this bounds the whole request (a backend answering one
        # byte a second would otherwise hold its client for as long as it likes).
        with gevent.Timeout(timeout, HookTransportError(f"timed out after {timeout}s")):
            return self._post(target, body, timeout, tls_verify, headers)

    def _post(self, target, body: bytes, timeout: float, tls_verify: bool, headers: dict) -> tuple[int, bytes]:
        from geventhttpclient.response import HTTPConnectionClosed
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
