"""OriginHub: the features of one publish session (DVR, HLS, forward, edge publish), fed from the publisher's greenlet."""
import os
from typing import List

from srsish.app.origin.dvr import Dvr
from srsish.app.origin.hls import Hls
from srsish.app.origin.feature import OriginContext, OriginFeature
from srsish.app.origin.forward import EdgePush, Forward
from srsish.kernel.message import SharedMessage

__all__ = ["FEATURES", "OriginContext", "OriginFeature", "OriginHub"]


# The features every publish session gets, when their vhost section enables them.
FEATURES: List[type] = [Dvr, Hls, Forward, EdgePush]


class OriginHub:
    """Runs the enabled features; one that fails is logged and switched off, the stream goes on."""

    def __init__(self, ctx: OriginContext) -> None:
        self.ctx = ctx
        self.features: List[OriginFeature] = []
        for cls in FEATURES:
            try:
                feature = cls.create(ctx)
            except Exception as e:  # a broken feature must not stop the publisher
                self._log_error(cls.__name__, "create", e)
                continue
            if feature is not None:
                self.features.append(feature)

    @classmethod
    def start(cls, ctx: OriginContext) -> "OriginHub":
        if not ctx.cwd:
            ctx.cwd = os.getcwd()
        hub = cls(ctx)
        hub._each("on_publish")
        return hub

    def on_metadata(self, msg: SharedMessage) -> None:
        if self.features:
            self._each("on_metadata", msg)

    def on_media(self, msg: SharedMessage) -> None:
        if self.features:
            self._each("on_media", msg)

    def on_unpublish(self) -> None:
        self._each("on_unpublish")
        self.features = []

    def _each(self, method: str, *args) -> None:
        for feature in list(self.features):
            try:
                getattr(feature, method)(*args)
            except Exception as e:
                self._log_error(type(feature).__name__, method, e)
                self.features.remove(feature)
                if method != "on_unpublish":
                    try:
                        feature.on_unpublish()  # let it close what it can
                    except Exception as closing_error:
                        if self.ctx.log is not None:
                            self.ctx.log.error("%s on_unpublish after that failed too: %s", type(feature).__name__,
                                               closing_error)

    def _log_error(self, name: str, method: str, e: Exception) -> None:
        if self.ctx.log is not None:
            self.ctx.log.error("%s %s failed, feature stopped for this stream: %s", name, method, e)
