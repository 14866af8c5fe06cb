"""xiu's HTTP notify: Publish / UnPublish / Subscribe / UnSubscribe, serde's externally tagged JSON.

Bodies are the seed's: `{"Publish": {"identifier": {"Rtmp": {app_name, stream_name}}, "info": {id, sub_type,
notify_info: {request_url, remote_addr}}}}`. on_publish gates (a non-200 answer refuses the publisher,
decided before it goes live); everything else is a notification.
"""
from typing import List, Optional

import simplejson

from srsish.app.hooks.dialects import PLAY, PUBLISH, STOP, UNPUBLISH, Request, remote_addr, urls_of

# neutral event -> (xiu's conf key, the body's tag)
EVENTS = {PUBLISH: ("on_publish", "Publish"), UNPUBLISH: ("on_unpublish", "UnPublish"),
          PLAY: ("on_play", "Subscribe"), STOP: ("on_stop", "UnSubscribe")}
SUB_TYPES = {("rtmp", True): "PushRtmp", ("rtmp", False): "PlayerRtmp", ("http-flv", False): "PlayerHttpFlv"}


def request_url(ctx) -> str:
    """The RTMP URL with its query for RTMP clients; the request's path and query for HTTP ones."""
    url = ctx.client_url
    if ctx.protocol != "rtmp" and "://" in url:
        rest = url.split("://", 1)[1]
        return "/" + rest.partition("/")[2]
    return url


def body(event: str, ctx) -> Optional[bytes]:
    """The body of `event` for this client, or None when xiu has no such notification (HLS viewers)."""
    if event not in EVENTS:
        return None
    sub_type = SUB_TYPES.get((ctx.protocol, event in (PUBLISH, UNPUBLISH)))
    if sub_type is None:
        return None
    tag = EVENTS[event][1]
    obj = {tag: {"identifier": {"Rtmp": {"app_name": ctx.app, "stream_name": ctx.stream}},
                 "info": {"id": ctx.client_id, "sub_type": sub_type,
                          "notify_info": {"request_url": request_url(ctx),
                                          "remote_addr": remote_addr(ctx.ip, ctx.port)}}}}
    return simplejson.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogateescape")


def requests(event: str, ctx, conf: Optional[dict]) -> List[Request]:
    """xiu's requests for one neutral event (on_publish's are sent as a gate by the caller)."""
    data = body(event, ctx)
    if data is None:
        return []
    key = EVENTS[event][0]
    return [Request("xiu:" + key, url, data) for url in urls_of(conf, key)]
