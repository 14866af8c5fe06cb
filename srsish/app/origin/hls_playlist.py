"""An HLS playlist's lasting state: its window of finished segments, trimmed to hls_window, written as the m3u8, and deleted on hls_cleanup / hls_dispose."""
import dataclasses
import os
from typing import Dict, List, Optional

import gevent

from srsish.core import paths
from srsish.core.log import get_logger
from srsish.kernel.m3u8 import PlaylistEntry, render_media_playlist


@dataclasses.dataclass
class Segment:
    """A finished segment in the window."""
    seq: int
    path: str             # absolute file path
    file: str             # the path as hooks report it (hls_path + "/" + expanded hls_ts_file)
    uri: str
    ts_rel: str           # the expanded hls_ts_file
    duration_ms: int
    discontinuity: bool


class HlsStream:
    """One playlist's lasting state: sequence numbers and the window.

    It outlives a publish session, so a publisher that comes back within hls_dispose goes on
    with the next sequence number (after an EXT-X-DISCONTINUITY), as SRS; disposing it deletes
    its files and forgets it, and the next publish starts again from 0.
    """

    def __init__(self, m3u8_path: str, registry: "HlsStreams") -> None:
        self.m3u8_path = m3u8_path
        self.registry = registry
        self.next_seq = 0
        self.window: List[Segment] = []
        self.publishing = False
        self.pending_tmp: Optional[str] = None
        self._dispose_timer: Optional[gevent.Greenlet] = None

    def trim(self, window_s: float) -> List[Segment]:
        """Drop the oldest segments while the newer ones alone already cover hls_window (SRS's rule); returns them."""
        window_ms = window_s * 1000
        segs = self.window
        total, keep_from = 0, 0
        for i in range(len(segs) - 1, -1, -1):
            total += segs[i].duration_ms
            if total > window_ms:
                keep_from = i
                break
        expired, self.window = segs[:keep_from], segs[keep_from:]
        return expired

    def write_playlist(self, root_real: str, max_td_ms: float) -> None:
        """Write the m3u8 of the window; readers see the old playlist or the new one, never half of one."""
        entries = [PlaylistEntry(s.uri, s.duration_ms, s.discontinuity, s.seq) for s in self.window]
        text = render_media_playlist(entries, max_td_ms)
        path = self.m3u8_path
        tmp = path + ".temp"
        paths.make_dirs_under(root_real, os.path.dirname(path))
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        os.replace(tmp, path)

    def schedule_dispose(self, seconds: float) -> None:
        self.cancel_dispose()
        if seconds > 0:
            self._dispose_timer = gevent.spawn_later(seconds, self.dispose)

    def cancel_dispose(self) -> None:
        timer, self._dispose_timer = self._dispose_timer, None
        if timer is not None and timer is not gevent.getcurrent():
            timer.kill(block=False)

    def dispose(self) -> None:
        """Delete every file of this playlist and forget it (SRS's hls_dispose)."""
        self._dispose_timer = None
        if self.publishing:
            return
        for path in [s.path for s in self.window] + [self.pending_tmp or "", self.m3u8_path]:
            remove_file(path)
        self.window = []
        self.registry.forget(self)
        get_logger().info("hls dispose %s: files removed", self.m3u8_path)


class HlsStreams:
    """Every playlist one server has files of, by absolute m3u8 path: the Server owns one, its publishers share it."""

    def __init__(self) -> None:
        self.by_path: Dict[str, HlsStream] = {}

    def get_or_create(self, m3u8_path: str) -> HlsStream:
        stream = self.by_path.get(m3u8_path)
        if stream is None:
            stream = self.by_path[m3u8_path] = HlsStream(m3u8_path, self)
        return stream

    def forget(self, stream: HlsStream) -> None:
        if self.by_path.get(stream.m3u8_path) is stream:
            del self.by_path[stream.m3u8_path]


def remove_file(path: str) -> None:
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            get_logger().warning("hls: cannot remove %s: %s", path, e)
