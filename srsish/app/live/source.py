"""LiveSource: one stream's publisher, metadata and GOP caches, and the fan-out to its consumers."""
from typing import Dict, List, Optional, Tuple

from srsish import SIGNATURE, VERSION
from srsish.app.live.consumer import PUBLISH, UNPUBLISH, Consumer
from srsish.core.ids import new_vid
from srsish.kernel.jitter import Jitter
from srsish.kernel.message import MSG_DATA, SharedMessage
from srsish.protocol import amf0

# SRS calls a stream pure audio once this many audio messages arrive with no video.
PURE_AUDIO_GUESS_COUNT = 115


class GopCache:
    """The messages since the last video keyframe, so a new player starts on a keyframe at once."""

    def __init__(self, enabled: bool = True, max_frames: int = 2500) -> None:
        self.enabled = enabled
        self.max_frames = max_frames
        self.messages: List[SharedMessage] = []
        self._audio_after_video = 0

    def cache(self, msg: SharedMessage) -> None:
        if not self.enabled:
            return
        if msg.is_video:
            if msg.is_keyframe:
                self.messages = []
            self._audio_after_video = 0
        elif msg.is_audio:
            self._audio_after_video += 1
            if self._audio_after_video > PURE_AUDIO_GUESS_COUNT:
                self.messages.clear()
                return
        if msg.is_video and not self.messages and not msg.is_keyframe:
            return  # never start a cache on a delta frame
        self.messages.append(msg)
        if len(self.messages) > self.max_frames:
            self.messages.clear()

    def clear(self) -> None:
        self.messages = []
        self._audio_after_video = 0


class LiveSource:
    """A stream (vhost/app/stream): who publishes it and who plays it.

    Everything here runs in the publisher's greenlet without I/O: enqueueing to a consumer
    is an O(1) append, and each player's own writer does the socket work.
    """

    def __init__(self, vhost: str, app: str, stream: str) -> None:
        self.vhost, self.app, self.stream = vhost, app, stream
        self.id = new_vid()
        self.publisher = None           # the publishing connection object, or None
        self.consumers: List[Consumer] = []
        self.metadata: Optional[SharedMessage] = None
        self.video_sh: Optional[SharedMessage] = None
        self.audio_sh: Optional[SharedMessage] = None
        self.gop = GopCache()
        self.jitter = Jitter("full")
        self.time_jitter = "full"
        self.frames = 0
        self.hub = None                 # the OriginHub of the current publish session
        self.publish_time = 0.0         # wall-clock time the current publish started

    # -- configuration ---------------------------------------------------------------
    def configure(self, play_conf: dict) -> None:
        self.gop.enabled = bool(play_conf.get("gop_cache", True))
        self.gop.max_frames = int(play_conf.get("gop_cache_max_frames", 2500))
        mode = play_conf.get("time_jitter", "full")
        if mode != self.time_jitter:
            self.time_jitter = mode
            self.jitter = Jitter(mode if mode == "full" else "off")

    # -- publisher side ----------------------------------------------------------------
    @property
    def is_publishing(self) -> bool:
        return self.publisher is not None

    def on_publish(self, publisher, now: float = 0.0) -> None:
        self.publisher = publisher
        self.publish_time = now
        self.gop.clear()
        self.metadata = self.video_sh = self.audio_sh = None
        for c in self.consumers:
            c.enqueue_item(PUBLISH)

    def on_unpublish(self) -> None:
        hub, self.hub = self.hub, None
        if hub is not None:
            hub.on_unpublish()
        self.publisher = None
        self.gop.clear()
        self.metadata = self.video_sh = self.audio_sh = None
        for c in self.consumers:
            c.enqueue_item(UNPUBLISH)

    def on_metadata(self, values: list, timestamp: int) -> SharedMessage:
        """@setDataFrame/onMetaData: keep it (with our server name added) and pass it on."""
        meta = None
        for v in values:
            if isinstance(v, dict):
                meta = v
                break
        if meta is None:
            meta = amf0.EcmaArray()
        elif not isinstance(meta, amf0.EcmaArray):
            meta = amf0.EcmaArray(meta)
        meta["server"] = SIGNATURE
        meta["server_version"] = VERSION
        msg = SharedMessage(MSG_DATA, self._correct(timestamp), amf0.encode("onMetaData", meta))
        self.metadata = msg
        if self.hub is not None:
            self.hub.on_metadata(msg)
        for c in self.consumers:
            c.enqueue(msg)
        return msg

    def on_media(self, type_id: int, timestamp: int, payload: bytes) -> SharedMessage:
        msg = SharedMessage(type_id, self._correct(timestamp), payload)
        if msg.is_sequence_header:
            if msg.is_video:
                self.video_sh = msg
            else:
                self.audio_sh = msg
        else:
            self.gop.cache(msg)
            self.frames += msg.is_video
        if self.hub is not None:
            self.hub.on_media(msg)
        for c in self.consumers:
            c.enqueue(msg)
        return msg

    def _correct(self, timestamp: int) -> int:
        return self.jitter.correct(timestamp)

    # -- player side ------------------------------------------------------------------
    def create_consumer(self, queue_length_ms: int) -> Consumer:
        """A new consumer, primed with metadata, sequence headers and the GOP cache."""
        c = Consumer(queue_length_ms, rebase=self.time_jitter != "off")
        gop = self.gop.messages
        if gop:
            c.base = gop[0].timestamp
        for m in (self.metadata, self.audio_sh, self.video_sh):
            if m is not None:
                c.queue.append(m)
        c.queue.extend(gop)
        if c.queue:
            c.wakeup.set()
        self.consumers.append(c)
        return c

    def destroy_consumer(self, c: Consumer) -> None:
        c.close()
        try:
            self.consumers.remove(c)
        except ValueError:
            pass

    @property
    def idle(self) -> bool:
        return self.publisher is None and not self.consumers


class SourceManager:
    """Every live source, keyed by (vhost, app, stream); created on first use, dropped when idle."""

    def __init__(self) -> None:
        self.sources: Dict[Tuple[str, str, str], LiveSource] = {}

    def fetch_or_create(self, vhost: str, app: str, stream: str) -> LiveSource:
        key = (vhost, app, stream)
        src = self.sources.get(key)
        if src is None:
            src = self.sources[key] = LiveSource(vhost, app, stream)
        return src

    def release_if_idle(self, src: LiveSource) -> None:
        if src.idle and self.sources.get((src.vhost, src.app, src.stream)) is src:
            del self.sources[(src.vhost, src.app, src.stream)]
