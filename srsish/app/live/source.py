"""LiveSource: one stream's publisher, metadata and GOP caches, and the fan-out to its consumers."""
from typing import Dict, Iterator, List, Optional, Tuple

from srsish import SIGNATURE, VERSION
from srsish.app.live.consumer import PUBLISH, UNPUBLISH, Consumer
from srsish.app.live.gop_cache import GopCache
from srsish.app.live.media_log import MediaLog
from srsish.core.ids import new_vid
from srsish.kernel.jitter import Jitter
from srsish.kernel.message import MSG_DATA, SharedMessage
from srsish.protocol import amf0


class LiveSource:
    """A stream (vhost/app/stream): who publishes it and who plays it.

    Everything here runs in the publisher's greenlet without I/O: a message is appended once
    to the MediaLog, which the consumers that keep up read in place, and to the queue of each
    consumer that is detached from it; each player's own writer does the socket work.
    """

    def __init__(self, vhost: str, app: str, stream: str) -> None:
        self.vhost, self.app, self.stream = vhost, app, stream
        self.id = new_vid()
        self.publisher = None           # the publishing connection object, or None
        self.consumers: List[Consumer] = []
        self.log = MediaLog()
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
        self.gop.enabled = bool(play_conf["gop_cache"])
        self.gop.max_frames = int(play_conf["gop_cache_max_frames"])
        mode = play_conf["time_jitter"]
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
        self._fan_out(msg)
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
        self._fan_out(msg)
        return msg

    def _fan_out(self, msg: SharedMessage) -> None:
        log = self.log
        trim_due = log.append(msg)
        for c in log.detached:
            c.enqueue(msg)
        if trim_due:   # after: a follower detached now finds msg among what it had not read
            self._trim_log()

    def _trim_log(self) -> None:
        """Forget what every follower has read; a follower more than its queue_length behind (a
        stalled player) is detached, so its own queue is cut back by whole GOPs as any queue is."""
        log = self.log
        newest = log.items[-1].timestamp
        keep = log.end
        for c in self.consumers:
            cursor = c.cursor
            if cursor is None or cursor == log.end:
                continue
            if newest - log.items[cursor - log.start].timestamp > c.queue_length_ms:
                c.detach()
            else:
                keep = min(keep, cursor)
        log.trim(keep)

    def _correct(self, timestamp: int) -> int:
        return self.jitter.correct(timestamp)

    # -- player side ------------------------------------------------------------------
    def create_consumer(self, queue_length_ms: int) -> Consumer:
        """A new consumer, primed with metadata, sequence headers and the GOP cache."""
        c = Consumer(queue_length_ms, rebase=self.time_jitter != "off", log=self.log)
        gop = self.gop.messages
        if gop:
            c.base = gop[0].timestamp
        for m in (self.metadata, self.audio_sh, self.video_sh):
            if m is not None:
                c.queue.append(m)
        c.queue.extend(gop)
        if c.queue:
            c.wakeup.set()
            self.log.detached[c] = None   # the burst first, then the log
        else:
            c.follow()
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


class SourceRegistry:
    """Every live source, keyed by (vhost, app, stream); created on first use, dropped when idle."""

    def __init__(self) -> None:
        self._sources: Dict[Tuple[str, str, str], LiveSource] = {}

    def get(self, vhost: str, app: str, stream: str) -> Optional[LiveSource]:
        return self._sources.get((vhost, app, stream))

    def publishing(self, vhost: str, app: str, stream: str) -> Optional[LiveSource]:
        """The source if someone publishes it now, else None."""
        src = self._sources.get((vhost, app, stream))
        return src if src is not None and src.is_publishing else None

    def fetch_or_create(self, vhost: str, app: str, stream: str) -> LiveSource:
        key = (vhost, app, stream)
        src = self._sources.get(key)
        if src is None:
            src = self._sources[key] = LiveSource(vhost, app, stream)
        return src

    def release_if_idle(self, src: LiveSource) -> None:
        key = (src.vhost, src.app, src.stream)
        if src.idle and self._sources.get(key) is src:
            del self._sources[key]

    def __len__(self) -> int:
        return len(self._sources)

    def __iter__(self) -> Iterator[LiveSource]:
        """A snapshot, so callers may switch greenlets while they walk it."""
        return iter(list(self._sources.values()))
