"""The interface between a publish session and its origin features (DVR, HLS): OriginContext and OriginFeature."""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

from srsish.app.hooks.http_hooks import HookContext, HttpHooks
from srsish.kernel.message import SharedMessage

if TYPE_CHECKING:
    from srsish.app.origin.hls_playlist import HlsStreams


@dataclass
class OriginContext:
    """What an origin feature needs to know about the publish session it serves."""
    vhost: dict                        # the vhost's typed config (sections "dvr", "hls", ...)
    hook: HookContext                  # the publisher's hook fields (client_id, app, stream, param, stream_id...)
    hooks: HttpHooks                   # queue on_dvr / on_hls / on_hls_notify here; never wait on them
    hooks_conf: Callable[[], dict]     # the vhost's http_hooks as the config says now
    utc_time: bool = False
    cwd: str = ""
    log: object = None                 # a logger carrying the publisher's client id
    hls_streams: Optional["HlsStreams"] = None   # the server's playlists, which outlive a publish session
    edge_pull: bool = False            # the stream is an edge's copy of an origin's: no forward, no edge push


class OriginFeature:
    """The interface every origin feature implements. `create` returns None when not enabled."""

    @classmethod
    def create(cls, ctx: OriginContext) -> Optional["OriginFeature"]:
        raise NotImplementedError

    def on_publish(self) -> None: ...
    def on_metadata(self, msg: SharedMessage) -> None: ...
    def on_media(self, msg: SharedMessage) -> None: ...   # audio/video, sequence headers included
    def on_unpublish(self) -> None: ...                    # close files, queue hooks
