"""Heartbeat: SRS's periodic POST that tells a backend this server is alive, sent as a signed notification.

The body is SRS 7's: device_id, ip, server, service, pid (a string), then `summaries` ({"data": ...}, the
/api/v1/summaries data) with `summaries on` and the listen endpoints (rtmp, http, api) with `ports on`.
It goes through the outbox like every notification (headers, signing, retries), but a beat that could not
be delivered is replaced by the next one instead of piling up. As SRS, the URL's query is dropped.
"""
import fcntl
import os
import socket
import struct
from typing import Callable, Dict, List, Optional

import gevent
import simplejson

from srsish.app.hooks.http_hooks import HttpHooks
from srsish.core.log import get_logger

SIOCGIFADDR = 0x8915


def local_ipv4s() -> List[str]:
    """This host's IPv4 addresses, loopback last (SRS picks the heartbeat `ip` from this list by index)."""
    ips: List[str] = []
    for _index, name in socket.if_nameindex():
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                packed = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            ips.append(socket.inet_ntoa(packed[20:24]))
        except OSError:
            continue   # an interface without an IPv4 address
    return sorted(set(ips), key=lambda ip: (ip.startswith("127."), ips.index(ip)))


def device_ip(network_index: int) -> str:
    """SRS_DEVICE_IP, else the address at `network_index` (stats.network) of this host's list."""
    env = os.environ.get("SRS_DEVICE_IP")
    if env:
        return env
    ips = local_ipv4s() or ["127.0.0.1"]
    return ips[network_index] if 0 <= network_index < len(ips) else ips[0]


def heartbeat_url(url: str) -> str:
    """SRS posts to the URL without its query."""
    return url.split("?", 1)[0].split("#", 1)[0]


def build_heartbeat(conf: dict, server_id: str, service_id: str, ip: str, summaries: Optional[dict],
                    ports: Optional[Dict[str, List[str]]]) -> bytes:
    body: dict = {"device_id": conf["device_id"], "ip": ip, "server": server_id, "service": service_id,
                  "pid": str(os.getpid())}
    if conf["summaries"] and summaries is not None:
        body["summaries"] = {"data": summaries}
    if conf["ports"] and ports:
        body.update(ports)
    return simplejson.dumps(body, separators=(",", ":")).encode("utf-8")


class Heartbeat:
    """The heartbeat greenlet: a first beat at start, then one per `interval` while enabled."""

    def __init__(self, hooks: HttpHooks, section: Callable[[], dict], network_index: Callable[[], int],
                 summaries: Callable[[], dict], ports: Callable[[], Dict[str, List[str]]]) -> None:
        self.hooks = hooks
        self.section = section            # the heartbeat section as the conf says now
        self.network_index = network_index
        self.summaries = summaries
        self.ports = ports
        self._greenlet: Optional[gevent.Greenlet] = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def beat(self) -> Optional[str]:
        """Queue one heartbeat (replacing one still pending); returns its event id, None when disabled."""
        conf = self.section()
        if not conf.get("enabled") or not conf.get("url"):
            return None
        body = build_heartbeat(conf, self.hooks.server_id, self.hooks.service_id,
                               device_ip(self.network_index()),
                               self.summaries() if conf["summaries"] else None,
                               self.ports() if conf["ports"] else None)
        interval = float(conf["interval"])
        return self.hooks.send_raw("heartbeat", self.hooks.server_id, heartbeat_url(conf["url"]), body,
                                   secret=conf.get("secret") or "", window=interval, max_delay=interval,
                                   replace=True)

    def _run(self) -> None:
        log = get_logger()
        while True:
            try:
                self.beat()
            except Exception as e:  # a broken beat must not end the heartbeat
                log.error("heartbeat failed: %s", e)
            gevent.sleep(max(1.0, float(self.section().get("interval") or 10)))
