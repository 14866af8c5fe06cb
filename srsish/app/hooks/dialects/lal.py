"""lal's HTTP notify: on_pub_start/stop, on_sub_start/stop, on_rtmp_connect, on_hls_make_ts, on_server_start, on_update.

Bodies follow lal's documentation (the seed's raw request) field by field: compact JSON, keys in lal's order,
strings and booleans where lal has them. lal never refuses a client; every event is a notification.
"""
import os
import platform
import time
from typing import Callable, Dict, Iterable, List, Optional

import gevent
import simplejson

from srsish.app.hooks.dialects import (CONNECT, HLS, PLAY, PUBLISH, STOP, UNPUBLISH, Request, StreamState,
                                       remote_addr, urls_of)
from srsish.core.log import get_logger

PROTOCOLS = {"rtmp": "RTMP", "http-flv": "HTTP-FLV", "hls": "HLS"}
STAT_PROTOCOLS = {"rtmp": "RTMP", "http-flv": "FLV", "hls": "HLS"}   # lal's StatSession names
EVENTS = {PUBLISH: "on_pub_start", UNPUBLISH: "on_pub_stop", PLAY: "on_sub_start", STOP: "on_sub_stop"}
API_VERSION = "srsish-api-v1"
NOTIFY_VERSION = "srsish-lal-notify-v1"


def _json(obj: dict) -> bytes:
    return simplejson.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogateescape")


def stream_name(ctx) -> str:
    """SRS's HLS context names the stream `NAME.m3u8`; lal names the stream."""
    return ctx.stream[:-5] if ctx.protocol == "hls" and ctx.stream.endswith(".m3u8") else ctx.stream


def session_body(event: str, ctx, server_id: str, state: StreamState) -> dict:
    """on_pub_start/stop and on_sub_start/stop: the start counts its own client in the two booleans."""
    has_in = state.publishing or event == PUBLISH
    has_out = state.players > 0 or event == PLAY
    return {"server_id": server_id, "protocol": PROTOCOLS.get(ctx.protocol, ctx.protocol.upper()),
            "url": ctx.client_url, "app_name": ctx.app, "stream_name": stream_name(ctx),
            "url_param": ctx.param[1:] if ctx.param.startswith("?") else ctx.param,
            "session_id": ctx.client_id, "remote_addr": remote_addr(ctx.ip, ctx.port),
            "has_in_session": bool(has_in), "has_out_session": bool(has_out)}


def rtmp_connect_body(ctx, server_id: str) -> dict:
    return {"server_id": server_id, "session_id": ctx.client_id, "remote_addr": remote_addr(ctx.ip, ctx.port),
            "app": ctx.app, "flashVer": ctx.flash_ver, "tcUrl": ctx.tcUrl}


def hls_make_ts_body(ctx, server_id: str) -> dict:
    """Sent when a segment is complete (lal's `close` event: the file and its duration are final)."""
    return {"server_id": server_id, "event": "close", "stream_name": ctx.stream, "cwd": ctx.cwd,
            "ts_file": ctx.file, "live_m3u8_file": ctx.m3u8, "record_m3u8_file": "", "id": int(ctx.seq_no),
            "duration": float(ctx.duration)}


def requests(event: str, ctx, conf: Optional[dict], server_id: str, state: StreamState) -> List[Request]:
    """lal's notifications for one neutral event."""
    if event == CONNECT:
        if ctx.protocol != "rtmp":
            return []
        name, body = "on_rtmp_connect", rtmp_connect_body(ctx, server_id)
    elif event == HLS:
        name, body = "on_hls_make_ts", hls_make_ts_body(ctx, server_id)
    elif event in EVENTS:
        name, body = EVENTS[event], session_body(event, ctx, server_id, state)
    else:
        return []
    data = _json(body)
    return [Request("lal:" + name, url, data) for url in urls_of(conf, name)]


# -- server-wide reports -------------------------------------------------------------------------------------
def readable_time(t: float) -> str:
    """lal's time format: `2006-01-02 15:04:05.000`, local time."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + ".%03d" % int((t % 1) * 1000)


def server_start_body(server_id: str, version: str, started_at: float) -> bytes:
    """The data of lal's /api/stat/lal_info with srsish's values."""
    return _json({"server_id": server_id, "bin_info": f"srsish {version}, Python {platform.python_version()}, "
                  f"pid {os.getpid()}", "lal_version": version, "api_version": API_VERSION,
                  "notify_version": NOTIFY_VERSION, "start_time": readable_time(started_at)})


def _stat_session(s: Optional[dict], base_type: str) -> dict:
    """lal's StatSession of a neutral session dict (or the zero one lal shows for an empty slot)."""
    if not s:
        return {"session_id": "", "protocol": "", "base_type": "", "remote_addr": "", "start_time": "",
                "read_bytes_sum": 0, "wrote_bytes_sum": 0, "bitrate_kbits": 0, "read_bitrate_kbits": 0,
                "write_bitrate_kbits": 0}
    read_kbits, write_kbits = int(s["recv_kbps"]), int(s["send_kbps"])
    return {"session_id": s["id"], "protocol": STAT_PROTOCOLS.get(s["protocol"], s["protocol"].upper()),
            "base_type": base_type, "remote_addr": remote_addr(s["ip"], s["port"]),
            "start_time": readable_time(s["created"]), "read_bytes_sum": int(s["recv_bytes"]),
            "wrote_bytes_sum": int(s["send_bytes"]),
            "bitrate_kbits": read_kbits if base_type == "PUB" else write_kbits,
            "read_bitrate_kbits": read_kbits, "write_bitrate_kbits": write_kbits}


def stat_group(stream: dict) -> dict:
    """One entry of lal's /api/stat/all_group `groups` from a neutral stream dict (see LalReporter)."""
    return {"stream_name": stream["stream"], "app_name": stream["app"], "audio_codec": stream["audio_codec"],
            "video_codec": stream["video_codec"], "video_width": int(stream["width"]),
            "video_height": int(stream["height"]), "pub": _stat_session(stream["publisher"], "PUB"),
            "subs": [_stat_session(p, "SUB") for p in stream["players"]], "pull": _stat_session(None, "PULL")}


def update_body(server_id: str, streams: Iterable[dict]) -> bytes:
    return _json({"server_id": server_id, "groups": [stat_group(s) for s in streams]})


class LalReporter:
    """on_server_start once at start, then on_update every `update_interval_sec` while lal_http_notify is on.

    `streams()` lists the live streams as neutral dicts: app, stream, audio_codec, video_codec, width, height,
    publisher (or None) and players, each session a dict of id, protocol, ip, port, created, send_bytes,
    recv_bytes, send_kbps, recv_kbps. `send(action, url, body, conf, replace)` queues one notification.
    """

    def __init__(self, server_id: str, version: str, started_at: float, section: Callable[[], dict],
                 streams: Callable[[], List[Dict]], send: Callable[..., object]) -> None:
        self.server_id = server_id
        self.version = version
        self.started_at = started_at
        self.section = section
        self.streams = streams
        self.send = send
        self._greenlet = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def server_start(self) -> int:
        conf = self.section()
        body = server_start_body(self.server_id, self.version, self.started_at)
        urls = urls_of(conf, "on_server_start")
        for url in urls:
            self.send("lal:on_server_start", url, body, conf, False)
        return len(urls)

    def update(self) -> int:
        """Queue one on_update (replacing one still pending: a report that could not go is stale)."""
        conf = self.section()
        urls = urls_of(conf, "on_update")
        if not urls:
            return 0
        body = update_body(self.server_id, self.streams())
        for url in urls:
            self.send("lal:on_update", url, body, conf, True)
        return len(urls)

    def _run(self) -> None:
        log = get_logger()
        try:
            self.server_start()
        except Exception as e:  # a broken report must not end the reporter
            log.error("lal on_server_start failed: %s", e)
        while True:
            gevent.sleep(max(1.0, float(self.section()["update_interval_sec"])))
            try:
                self.update()
            except Exception as e:
                log.error("lal on_update failed: %s", e)
