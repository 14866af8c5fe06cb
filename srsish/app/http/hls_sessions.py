"""HlsPlayContexts: SRS's hls_ctx play sessions, so an HLS viewer gets on_play and on_stop like an RTMP player."""
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional
from urllib.parse import quote

import gevent

from srsish.app.access import PLAY, security_refusal
from srsish.app.clients import ClientRegistry
from srsish.app.config import Config, spec_defaults
from srsish.app.hooks.http_hooks import HookContext, HttpHooks
from srsish.app.http.types import HttpRequest, HttpResponse
from srsish.app.live.source import SourceRegistry
from srsish.core import paths
from srsish.core.ids import new_client_id
from srsish.core.log import get_logger
from srsish.core.naming import stream_url
from srsish.kernel.m3u8 import VARIANT_CONTENT_TYPE, render_variant_playlist

CHECK_INTERVAL = 2.0          # seconds between looks for quiet sessions (SRS: 5)
# A session id a client may bring back (after a restart): what new_client_id makes, with room.
_CTX_ID = re.compile(r"[0-9a-z]{4,32}")
_URL_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(eq=False)
class HlsSession:
    """One viewer's session: the hook fields of its first request and when it was last heard from.

    It is a Client like an RTMP or HTTP-FLV one (the API lists it as `hls-play` and can kick it), but it
    holds no connection: it lives from its on_play to its on_stop.
    """
    id: str
    vhost: str
    hook: HookContext
    last_seen: float
    end: Callable[["HlsSession", str], None]     # ends the session (on_stop) for `kick`
    ip: str = ""
    created: float = 0.0
    source: Any = None          # plays files, not a live source's consumer
    send_bytes: int = 0
    recv_bytes: int = 0

    def describe(self) -> dict:
        h = self.hook
        base = h.stream[:-5] if h.stream.endswith(".m3u8") else h.stream
        return {"vhost": self.vhost, "stream": h.stream_id, "ip": self.ip, "pageUrl": h.pageUrl, "swfUrl": "",
                "tcUrl": h.tcUrl, "url": f"/{h.app}/{base}", "name": base, "type": "hls-play", "publish": False}

    def kick(self, reason: str) -> None:
        self.end(self, reason)


class HlsPlayContexts:
    """The hls_ctx sessions of one server; the HTTP server calls `handle` for every GET of an .m3u8.

    A first request (no hls_ctx) runs on_play with SRS's HLS fields (stream keeps ".m3u8",
    tcUrl http://host/app, pageUrl from Referer, client_id = the session id). Accepted, it gets
    SRS's one-entry variant playlist pointing at `?hls_ctx=ID`; rejected, a 403. Requests that
    carry a known id only refresh the session, and the file is served as usual. A session quiet
    for 2 x hls_window gets on_stop.

    Unlike SRS: a rejected viewer gets an HTTP answer (SRS closes the connection) and no session
    (so no on_stop later), and an id the server no longer knows (it restarted) is taken over
    after on_play instead of answering a second variant playlist to a player that expects media.
    """

    def __init__(self, config: Callable[[], Config], sources: SourceRegistry, clients: ClientRegistry,
                 hooks: HttpHooks) -> None:
        self.config = config          # the conf as it is now (a reload swaps it)
        self.sources = sources
        self.clients = clients
        self.hooks = hooks
        self.sessions: Dict[str, HlsSession] = {}
        self._checker: Optional[gevent.Greenlet] = None
        self.log = get_logger()

    # -- the HTTP server's entry point ------------------------------------------------------
    def handle(self, req: HttpRequest, vhost: dict, app: str, stream: str) -> Optional[HttpResponse]:
        """The response for this playlist request, or None to let the HTTP server serve the file."""
        hls = vhost["hls"]
        if req.method != "GET" or not hls["enabled"] or not hls["hls_ctx"]:
            return None
        playlist = self._playlist_path(req.path)
        if playlist is None:
            return None   # the server answers 404; no session for a stream that is not there
        ctx_id = req.query_dict().get("hls_ctx", "")
        session = self.sessions.get(ctx_id) if ctx_id else None
        if session is not None:
            session.last_seen = time.monotonic()
            return self._playlist_with_ctx(playlist, ctx_id) if hls["hls_ts_ctx"] else None
        known_format = bool(ctx_id) and _CTX_ID.fullmatch(ctx_id) is not None
        sid = ctx_id if known_format else self._new_id()
        log = get_logger(sid)
        refusal = security_refusal(vhost["security"], PLAY, req.ip)   # before any hook
        if refusal:
            log.warning("hls play rejected ip=%s %s/%s: %s", req.ip, app, stream, refusal)
            return HttpResponse(403, [("Content-Type", "text/plain; charset=utf-8")],
                                f"Forbidden: {refusal}\n".encode("utf-8"))
        hook = self.hook_context(req, vhost, app, stream, sid)
        verdict = self.hooks.on_play(self._hooks_conf(vhost), hook)
        if not verdict.ok:
            log.warning("hls play rejected ip=%s %s/%s: %s", req.ip, app, stream, verdict.reason)
            return HttpResponse(403, [("Content-Type", "text/plain; charset=utf-8")],
                                b"Forbidden: on_play rejected this viewer\n")
        session = HlsSession(sid, vhost["name"], hook, time.monotonic(), self._end, ip=req.ip, created=time.time())
        self.sessions[sid] = session
        self.clients.add(session, connection=False)
        self._ensure_checker()
        log.info("hls play session ip=%s vhost=%s app=%s stream=%s param=%s", req.ip, hook.vhost, app, stream,
                 hook.param)
        if known_format:
            return self._playlist_with_ctx(playlist, sid) if hls["hls_ts_ctx"] else None
        return HttpResponse(200, [("Content-Type", VARIANT_CONTENT_TYPE), ("Cache-Control", "no-cache")],
                            render_variant_playlist(self.session_url(req, sid)).encode("utf-8"))

    def touch(self, req: HttpRequest) -> None:
        """A segment request carrying `hls_ctx` (hls_ts_ctx on) keeps its session alive."""
        session = self.sessions.get(req.query_dict().get("hls_ctx", ""))
        if session is not None:
            session.last_seen = time.monotonic()

    @staticmethod
    def _playlist_with_ctx(path: str, sid: str) -> Optional[HttpResponse]:
        """hls_ts_ctx: the playlist with `hls_ctx=ID` on every segment URI, so segment requests count too."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            return None
        lines = []
        for line in text.splitlines():
            if line and not line.startswith("#"):
                line += ("&" if "?" in line else "?") + "hls_ctx=" + sid
            lines.append(line)
        return HttpResponse(200, [("Content-Type", VARIANT_CONTENT_TYPE), ("Cache-Control", "no-cache")],
                            ("\n".join(lines) + "\n").encode("utf-8"))

    @staticmethod
    def session_url(req: HttpRequest, sid: str) -> str:
        """The playlist URL with the session id, the viewer's own query kept after it (as SRS)."""
        url = quote(req.path, safe=_URL_SAFE) + "?hls_ctx=" + sid
        return url + "&" + req.query if req.query else url

    def hook_context(self, req: HttpRequest, vhost: dict, app: str, stream: str, sid: str) -> HookContext:
        """on_play/on_stop fields as SRS sends them for HLS."""
        vhost_name = vhost["name"]
        base = stream[:-5] if stream.endswith(".m3u8") else stream
        source = self.sources.get(vhost_name, app, base)
        return HookContext(client_id=sid, ip=req.ip, vhost=vhost_name, app=app, stream=base + ".m3u8",
                           param=req.param, tcUrl=f"http://{req.host}/{app}",
                           pageUrl=req.headers.get("referer", ""), stream_url=stream_url(vhost_name, app, base),
                           stream_id=source.id if source is not None else "", protocol="hls",
                           client_url=f"http://{req.headers.get('host', '')}{req.path}{req.param}")

    # -- sessions ending ----------------------------------------------------------------------
    def close_all(self) -> None:
        """Server shutdown: on_stop for every live session."""
        checker, self._checker = self._checker, None
        if checker is not None:
            checker.kill(block=False)
        for s in list(self.sessions.values()):
            self._end(s, "server shutdown")

    def expire(self, now: Optional[float] = None) -> int:
        """on_stop for every session quiet for 2 x hls_window; returns how many ended."""
        now = time.monotonic() if now is None else now
        ended = [s for s in list(self.sessions.values()) if now - s.last_seen > 2 * self._window(s.vhost)]
        for s in ended:
            self._end(s, "no request for 2 x hls_window")
        return len(ended)

    def _end(self, s: HlsSession, why: str) -> None:
        """End a session once (expiry, a kick, shutdown): forget it and send its on_stop."""
        if self.sessions.get(s.id) is not s:
            return
        del self.sessions[s.id]
        self.clients.remove(s)
        get_logger(s.id).info("hls play session ends (%s): %s/%s", why, s.hook.app, s.hook.stream)
        self.hooks.on_stop(self.config().hooks_conf(s.vhost) or {}, s.hook)

    def _ensure_checker(self) -> None:
        if self._checker is None or self._checker.dead:
            self._checker = gevent.spawn(self._check_loop)

    def _check_loop(self) -> None:
        while self.sessions:
            gevent.sleep(CHECK_INTERVAL)
            try:
                self.expire()
            except Exception:  # a hook bug must not end the checking for everyone
                self.log.exception("hls_ctx: expiring sessions failed")
        self._checker = None

    # -- helpers ------------------------------------------------------------------------------
    def _new_id(self) -> str:
        while True:
            sid = new_client_id()
            if sid not in self.sessions:
                return sid

    def _window(self, vhost_name: str) -> float:
        vhost = self.config().vhost(vhost_name) or spec_defaults("vhost")
        return float(vhost["hls"]["hls_window"])

    def _hooks_conf(self, vhost: dict) -> dict:
        return self.config().hooks_conf(vhost["name"]) or vhost["http_hooks"]

    def _playlist_path(self, path: str) -> Optional[str]:
        """The playlist file under http_server.dir, or None."""
        root = self.config().http_server_dir
        if "." in path.split("/"):
            return None
        try:
            full = paths.join_under(root, path)
        except paths.OutsideRoot:
            return None
        return full if os.path.isfile(full) else None
