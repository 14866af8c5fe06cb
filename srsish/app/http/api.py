"""HttpApi: SRS's HTTP API (/api/v1/versions, summaries, vhosts, streams, clients, client kick)."""
import base64
import gc
import hmac
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import greenlet
import simplejson

from srsish import VERSION
from srsish.app.clients import ClientRegistry
from srsish.app.config import Config
from srsish.app.http.types import HttpRequest, HttpResponse
from srsish.app.live.source import SourceRegistry
from srsish.app.stats import Statistic
from srsish.kernel import codec
from srsish.protocol import amf0

ERROR_STREAM_NOT_FOUND = 2048
ERROR_CLIENT_NOT_FOUND = 2049
ERROR_METHOD = 1061
ERROR_SYSTEM_CONFIG_RAW = 1060            # raw API: an rpc it does not know
ERROR_SYSTEM_CONFIG_RAW_DISABLED = 1061   # raw API: disabled, or this rpc not allowed


def _proc_status_kb(field: str) -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _greenlet_count() -> int:
    """Greenlets in this process that have not finished (a walk of the gc's objects: milliseconds, for the
    soak's leak check); finished ones that wait for the cycle collector are memory, not greenlets."""
    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and not o.dead)


def _meminfo() -> Dict[str, int]:
    out = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                name, _, rest = line.partition(":")
                out[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


@dataclass
class ApiState:
    """What the API reads of the server: its identity, the conf as it is now, the registries, the stats."""
    server_id: str
    service_id: str
    started_at: float                  # wall-clock time the server started
    config: Callable[[], Config]
    sources: SourceRegistry
    clients: ClientRegistry
    statistic: Statistic
    vhost_id: Callable[[str], str]     # a stable `vid-` id per vhost name
    hooks_stats: Callable[[], Dict[str, Dict[str, int]]] = dict   # the hook outbox's counters per URL
    reload: Callable[[], dict] = dict          # the server's reload (as SIGHUP); returns its reload-fetch record
    last_reload: Callable[[], dict] = dict     # the last reload's record: err, msg, state, rid


class HttpApi:
    """Answers API requests from the server's live state; every reply starts code/server/service/pid."""

    def __init__(self, state: ApiState) -> None:
        self.state = state

    # -- plumbing -------------------------------------------------------------------------
    def handle(self, req: HttpRequest) -> HttpResponse:
        denied = self._check_auth(req)
        if denied is not None:
            return denied
        path = req.path.rstrip("/") or "/"
        parts = path.strip("/").split("/")
        try:
            if path == "/":
                body = self._ok(urls={"api": "the api root"})
            elif path == "/api":
                body = self._ok(urls={"v1": "the api version 1.0"})
            elif parts[:2] != ["api", "v1"]:
                return self._json({"code": 404}, req, 404)
            elif len(parts) == 2:
                body = self._ok(urls={name: f"/api/v1/{name}" for name in
                                      ("versions", "summaries", "vhosts", "streams", "clients")})
            else:
                body = self._route(req, parts[2], parts[3] if len(parts) > 3 else None)
        except _MethodNotAllowed:
            return HttpResponse(405, [("Content-Type", "text/plain")], b"Method Not Allowed\n")
        return self._json(body, req)

    def _route(self, req: HttpRequest, what: str, ident: Optional[str]) -> dict:
        if what == "versions":
            major, minor, revision = (VERSION.split(".") + ["0", "0"])[:3]
            return self._ok(data={"major": int(major), "minor": int(minor), "revision": int(revision),
                                  "version": VERSION})
        if what == "summaries":
            return self._ok(data=self.summaries())
        if what == "hooks":
            return self._ok(hooks=self._hooks())
        if what == "raw":
            return self._raw(req)
        if what in ("vhosts", "streams", "clients"):
            if req.method == "DELETE" and what == "clients" and ident:
                return self._kick(ident)
            if req.method not in ("GET", "HEAD"):
                raise _MethodNotAllowed()
            return getattr(self, "_" + what)(ident)
        return self._ok(urls={name: f"/api/v1/{name}" for name in
                              ("versions", "summaries", "vhosts", "streams", "clients")})

    def _raw(self, req: HttpRequest) -> dict:
        """SRS's raw API: rpc=reload reloads the conf as SIGHUP does (when allow_reload), rpc=reload-fetch tells
        how the last reload went. SRS's other rpcs (raw, query, update) are not served."""
        raw = self.state.config().section("http_api")["raw_api"]
        rpc = req.query_dict().get("rpc", "")
        if not raw["enabled"]:
            return self._error(ERROR_SYSTEM_CONFIG_RAW_DISABLED)
        if rpc == "reload":
            if not raw["allow_reload"]:
                return self._error(ERROR_SYSTEM_CONFIG_RAW_DISABLED)
            self.state.reload()
            return self._ok()
        if rpc == "reload-fetch":
            last = self.state.last_reload()
            return self._ok(data={k: last[k] for k in ("err", "msg", "state", "rid")})
        return self._error(ERROR_SYSTEM_CONFIG_RAW)

    def _ok(self, **fields: Any) -> dict:
        body = {"code": 0, "server": self.state.server_id, "service": self.state.service_id,
                "pid": str(os.getpid())}
        body.update(fields)
        return body

    def _error(self, code: int) -> dict:
        return {"code": code, "server": self.state.server_id, "service": self.state.service_id,
                "pid": str(os.getpid())}

    @staticmethod
    def _json(body: dict, req: HttpRequest, status: int = 200) -> HttpResponse:
        text = simplejson.dumps(body, separators=(",", ":"))
        callback = req.query_dict().get("callback", "")
        if callback and callback.replace("_", "").replace(".", "").isalnum():
            return HttpResponse(status, [("Content-Type", "text/javascript")], f"{callback}({text})".encode())
        return HttpResponse(status, [("Content-Type", "application/json")], text.encode())

    def _check_auth(self, req: HttpRequest) -> Optional[HttpResponse]:
        auth = self.state.config().section("http_api")["auth"]
        if not auth["enabled"]:
            return None
        expected = f"{auth['username']}:{auth['password']}".encode()
        given = req.headers.get("authorization", "")
        if given.lower().startswith("basic "):
            try:
                if hmac.compare_digest(base64.b64decode(given[6:].strip(), validate=True), expected):
                    return None
            except ValueError:
                pass
        return HttpResponse(401, [("Content-Type", "application/json"),
                                  ("WWW-Authenticate", 'Basic realm="srsish"')], b'{"code":401}')

    # -- objects --------------------------------------------------------------------------
    def _vhost_id(self, name: str) -> str:
        return self.state.vhost_id(name)

    def _vhosts(self, ident: Optional[str]) -> dict:
        objs = []
        for name in self.state.config().vhost_names:
            vhost = self.state.config().vhost(name)
            vid = self._vhost_id(name)
            sources = [s for s in self.state.sources if s.vhost == name]
            clients = [c for c in self.state.clients if c.describe()["vhost"] == name]
            objs.append({"id": vid, "name": name, "enabled": bool(vhost["enabled"]),
                         "clients": len(clients), "streams": len(sources),
                         "send_bytes": sum(c.send_bytes for c in clients),
                         "recv_bytes": sum(c.recv_bytes for c in clients),
                         "kbps": self.state.statistic.rates(vid),
                         "hls": {"enabled": bool(vhost["hls"]["enabled"]),
                                 "fragment": vhost["hls"]["hls_fragment"]}})
        if ident:
            found = [o for o in objs if o["id"] == ident]
            return self._ok(vhost=found[0]) if found else self._error(ERROR_STREAM_NOT_FOUND)
        return self._ok(vhosts=objs)

    def _streams(self, ident: Optional[str]) -> dict:
        players = self.state.clients.players_by_source()
        objs = [self._stream_obj(s, players.get(s, [])) for s in self.state.sources
                if s.is_publishing or s.consumers]
        if ident:
            found = [o for o in objs if o["id"] == ident]
            return self._ok(stream=found[0]) if found else self._error(ERROR_STREAM_NOT_FOUND)
        return self._ok(streams=objs)

    def _stream_obj(self, src, players: list) -> dict:
        pub = src.publisher if src.is_publishing else None
        obj = {"id": src.id, "name": src.stream, "vhost": self._vhost_id(src.vhost), "app": src.app,
               "tcUrl": pub.req.tcUrl if pub is not None and pub.req else "",
               "url": f"/{src.app}/{src.stream}", "live_ms": int(src.publish_time * 1000) if pub else 0,
               "clients": len(players) + (1 if pub is not None else 0), "frames": src.frames,
               "send_bytes": sum(c.send_bytes for c in players),
               "recv_bytes": pub.recv_bytes if pub is not None else 0,
               "kbps": self.state.statistic.rates(src.id),
               "publish": {"active": pub is not None, "cid": pub.id if pub is not None else ""},
               "video": None, "audio": None}
        if src.video_sh is not None:
            profile, level = codec.avc_profile_level(src.video_sh.payload)
            width = height = 0
            meta = amf0.first_object(src.metadata.payload) if src.metadata is not None else {}
            obj["video"] = {"codec": codec.video_codec_name(src.video_sh.payload),
                            "profile": codec.AVC_PROFILES.get(profile, str(profile)),
                            "level": f"{level // 10}.{level % 10}" if level else "",
                            "width": int(meta.get("width") or width), "height": int(meta.get("height") or height)}
        if src.audio_sh is not None:
            object_type, rate, channels = codec.aac_config(src.audio_sh.payload)
            obj["audio"] = {"codec": codec.audio_codec_name(src.audio_sh.payload), "sample_rate": rate,
                            "channel": channels, "profile": codec.AAC_PROFILES.get(object_type, str(object_type))}
        return obj

    def _clients(self, ident: Optional[str]) -> dict:
        if ident:
            c = self.state.clients.get(ident)
            return self._ok(client=self._client_obj(c)) if c else self._error(ERROR_CLIENT_NOT_FOUND)
        return self._ok(clients=[self._client_obj(c) for c in self.state.clients])

    def _client_obj(self, c) -> dict:
        obj = {"id": c.id}
        obj.update(c.describe())
        obj["vhost"] = self._vhost_id(obj["vhost"])   # SRS lists the vhost's id, as streams do
        obj["alive"] = round(time.time() - c.created, 3)
        obj["send_bytes"] = c.send_bytes
        obj["recv_bytes"] = c.recv_bytes
        obj["kbps"] = self.state.statistic.rates(c.id)
        return obj

    def _kick(self, ident: str) -> dict:
        c = self.state.clients.get(ident)
        if c is None:
            return self._error(ERROR_CLIENT_NOT_FOUND)
        c.kick("kicked by the HTTP API")
        return self._ok()

    def _hooks(self) -> dict:
        """srsish's hook outbox: per URL, pending and delivered notifications, retries, failed attempts,
        expired events, and the gating hooks' accepted/refused answers."""
        per_url = self.state.hooks_stats()
        totals = dict.fromkeys(("pending", "delivered", "retried", "failed", "expired", "accepted", "refused"), 0)
        for counts in per_url.values():
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
        return {**totals, "backends": [{"url": url, **counts} for url, counts in sorted(per_url.items())]}

    def summaries(self) -> dict:
        """The data of /api/v1/summaries (also what the heartbeat sends with `summaries on`)."""
        mem = _meminfo()
        rss = _proc_status_kb("VmRSS")
        total = mem.get("MemTotal", 0)
        try:
            load = os.getloadavg()
        except OSError:
            load = (0.0, 0.0, 0.0)
        clients = list(self.state.clients)
        return {
            "ok": True, "now_ms": int(time.time() * 1000),
            "self": {"version": VERSION, "pid": os.getpid(), "ppid": os.getppid(), "argv": " ".join(sys.argv),
                     "cwd": os.getcwd(), "mem_kbyte": rss, "mem_percent": round(rss / total, 4) if total else 0,
                     "cpu_percent": self.state.statistic.cpu_percent,
                     "srs_uptime": int(time.time() - self.state.started_at), "greenlets": _greenlet_count()},
            "system": {"cpu_percent": 0, "cpus": os.cpu_count(), "cpus_online": os.cpu_count(),
                       "mem_ram_kbyte": total, "mem_ram_percent": round(1 - mem.get("MemAvailable", 0) / total, 4)
                       if total else 0, "load_1m": load[0], "load_5m": load[1], "load_15m": load[2],
                       "srs_send_bytes": sum(c.send_bytes for c in clients),
                       "srs_recv_bytes": sum(c.recv_bytes for c in clients), "conn_srs": len(clients)},
        }


class _MethodNotAllowed(Exception):
    pass
