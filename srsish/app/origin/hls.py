"""Hls: the origin feature that cuts a published stream into MPEG-TS segments and a live m3u8 under hls_path, as SRS.

The playlist that outlives the session (its window, the m3u8 file, deleting old segments) is
hls_playlist.py's HlsStream. For crash recovery (recovery.py) a segment being written has a
sidecar `NAME.ts.tmp.json` (sidecar.py) with its names and its publisher's hook fields, and its
bytes go to the OS at least every FLUSH_MS of media.
"""
import dataclasses
import os
import posixpath
import time
from typing import Callable, Dict, Optional
from urllib.parse import quote

from srsish.app.hooks.events import HookContext
from srsish.app.origin import sidecar
from srsish.app.origin.feature import OriginContext, OriginFeature
from srsish.app.origin.hls_playlist import HlsStream, Segment, remove_file
from srsish.core import naming, paths
from srsish.core.log import get_logger
from srsish.kernel.message import SharedMessage
from srsish.kernel.ts import TsError, TsMuxer


# SRS drops a segment shorter than this (its sequence number is reused) and never reaps one
# shorter than twice this, so a keyframe right after a cut cannot make a sliver.
MIN_SEGMENT_MS = 100
# ...and drops one longer than this many times hls_fragment x hls_td_ratio (broken timestamps).
MAX_SEGMENT_TD_FACTOR = 3
# hls_ts_floor: a segment may come early or late by this share of hls_fragment per piece behind...
FLOOR_REAP_PERCENT = 0.3
# ...and the piece counter jumps to the clock when it runs more than this many pieces ahead.
FLOOR_JUMP_PIECES = 20
WRITE_BUFFER = 64 * 1024
KNOWN_VCODECS = ("h264", "vn")
KNOWN_ACODECS = ("aac", "mp3", "an")
# Characters kept as they are in a segment URI; the rest (space, ?, #, %...) are percent-encoded.
URI_SAFE = "/:@!$&'()*+,;=-._~"
FLUSH_MS = 1000               # media time between two flushes of the open segment (crash recovery)


# ----------------------------------------------------------------------------- names and templates

def segment_uri(ts_rel: str, m3u8_rel: str, entry_prefix: str) -> str:
    """A segment's URI in the playlist: relative to the m3u8's directory, or after hls_entry_prefix as SRS.

    With a prefix not ending in "/", the m3u8's directory is put between prefix and file
    (`http://cdn/live/s-0.ts`); with a trailing "/", the prefix is followed by the file alone.
    """
    m3u8_dir = posixpath.dirname(m3u8_rel)
    ts_url = quote(posixpath.relpath(ts_rel, m3u8_dir or "."), safe=URI_SAFE)
    if not entry_prefix:
        return ts_url
    uri = entry_prefix
    if not entry_prefix.endswith("/"):
        uri += "/"
        if m3u8_dir:
            uri += quote(m3u8_dir, safe=URI_SAFE) + "/"
    return uri + ts_url


def hook_url(uri: str, m3u8_url: str) -> str:
    """on_hls `url`: the m3u8's directory plus the segment URI, or the URI itself when absolute."""
    if "://" in uri or uri.startswith("/"):
        return uri
    d = posixpath.dirname(m3u8_url)
    return f"{d}/{uri}" if d else uri


def hook_path(hls_path: str, rel: str) -> str:
    """A file as the hooks report it: hls_path, "/", the path under it."""
    return hls_path.rstrip("/") + "/" + rel


def report_context(hook: HookContext, cwd: str, hls_path: str, m3u8_rel: str, uri: str, ts_rel: str,
                   duration_ms: int, seq: int) -> HookContext:
    """The on_hls fields of a finished segment: the publisher's, with the segment's."""
    return dataclasses.replace(hook, duration=duration_ms / 1000.0, cwd=cwd, file=hook_path(hls_path, ts_rel),
                               url=hook_url(uri, m3u8_rel), m3u8=hook_path(hls_path, m3u8_rel),
                               m3u8_url=m3u8_rel, seq_no=seq)


# ----------------------------------------------------------------------------- the feature

class _OpenSegment:
    """The segment being written: its names, its temp file, the DTS range it covers."""

    def __init__(self, seq: int, values: Dict[str, str], path: str, discontinuity: bool) -> None:
        self.seq = seq
        self.values = values          # hls_ts_file's variables but [duration]
        self.path = path              # absolute, "[duration]" still in it
        self.tmp = path + ".tmp"
        self.discontinuity = discontinuity
        self.file = None
        self.start: Optional[int] = None
        self.end: Optional[int] = None

    def cover(self, dts: int) -> int:
        """Take in a message's DTS; returns the duration up to it (SRS: from the earliest DTS to this one)."""
        if self.start is None:
            self.start = self.end = dts
        else:
            self.start = min(self.start, dts)
            self.end = max(self.end, dts)
        return dts - self.start

    @property
    def duration_ms(self) -> int:
        return 0 if self.start is None else self.end - self.start


class Hls(OriginFeature):
    """HLS for one publish session, an OriginFeature (hub.py). Runs in the publisher's greenlet:
    file writes only; hooks are queued."""

    def __init__(self, ctx: OriginContext, stream: HlsStream, root_real: str, m3u8_rel: str) -> None:
        self.ctx = ctx
        self.clock: Callable[[], float] = time.time
        conf = ctx.vhost["hls"]
        self.conf = conf
        self.log = ctx.log or get_logger()
        self.stream = stream
        self.root_real = root_real
        self.m3u8_rel = m3u8_rel
        self.fragment_ms = float(conf["hls_fragment"]) * 1000
        self.max_td_ms = self.fragment_ms * float(conf["hls_td_ratio"])
        self.aof_ms = self.fragment_ms * float(conf["hls_aof_ratio"])
        self.wait_keyframe = bool(conf["hls_wait_keyframe"])
        vcodec, acodec = str(conf["hls_vcodec"]).lower(), str(conf["hls_acodec"]).lower()
        if vcodec not in KNOWN_VCODECS or acodec not in KNOWN_ACODECS:
            self.log.warning("hls: hls_vcodec %s / hls_acodec %s: only vn / an change anything, the codecs come "
                             "from the stream (h264; aac or mp3)", vcodec, acodec)
        self.muxer = TsMuxer(video_enabled=vcodec != "vn", audio_enabled=acodec != "an")
        self.current: Optional[_OpenSegment] = None
        self._seen_keyframe = False
        self._discontinuity = True      # the first segment of every publish session
        self._sequence_headers: Dict[int, bytes] = {}
        self._accept_floor = 0
        self._deviation = 0
        self._logged_unsupported = 0
        self._flushed_at: Optional[int] = None

    # -- OriginFeature ------------------------------------------------------------------
    @classmethod
    def create(cls, ctx: OriginContext) -> Optional["Hls"]:
        conf = ctx.vhost["hls"]
        if not conf["enabled"]:
            return None
        if ctx.hls_streams is None:
            raise ValueError("no HlsStreams in the OriginContext: the server must give one")
        h = ctx.hook
        root_real = os.path.realpath(os.path.join(ctx.cwd or os.getcwd(), conf["hls_path"]))
        m3u8_rel = naming.expand(conf["hls_m3u8_file"], naming.stream_values(h.vhost, h.app, h.stream))
        m3u8_path = paths.join_under(root_real, m3u8_rel)
        stream = ctx.hls_streams.get_or_create(m3u8_path)
        if stream.publishing:
            (ctx.log or get_logger()).error("hls: %s is already written by another publisher; no HLS for %s/%s",
                                            m3u8_path, h.app, h.stream)
            return None
        return cls(ctx, stream, root_real, m3u8_rel)

    def on_publish(self) -> None:
        self.stream.publishing = True
        self.stream.cancel_dispose()
        self.log.info("hls: publish %s, fragment=%.2fs, td=%.2fs, aof=%.2fs, window=%.2fs, next seq=%d",
                      self.stream.m3u8_path, self.fragment_ms / 1000, self.max_td_ms / 1000, self.aof_ms / 1000,
                      float(self.conf["hls_window"]), self.stream.next_seq)
        self._open_segment()

    def on_metadata(self, msg: SharedMessage) -> None:
        pass

    def on_media(self, msg: SharedMessage) -> None:
        if msg.is_sequence_header:
            self._on_sequence_header(msg)
            return
        if msg.is_video:
            self._on_video(msg)
        elif msg.is_audio:
            self._on_audio(msg)
        self._flush_due(msg.timestamp)

    def on_unpublish(self) -> None:
        stream = self.stream
        try:
            if self.current is not None:
                self._close_segment()
        finally:
            self.current = None
            stream.publishing = False
            stream.schedule_dispose(float(self.conf["hls_dispose"]))

    # -- media --------------------------------------------------------------------------
    def _on_sequence_header(self, msg: SharedMessage) -> None:
        if self._sequence_headers.get(msg.type_id) != msg.payload:
            # A new codec configuration: the segment it lands in gets EXT-X-DISCONTINUITY.
            if msg.type_id in self._sequence_headers and self.current is not None:
                self.current.discontinuity = True
            self._sequence_headers[msg.type_id] = msg.payload
        self._mux(self.muxer.video if msg.is_video else self.muxer.audio, msg)

    def _on_video(self, msg: SharedMessage) -> None:
        if not self.muxer.video_enabled:
            return
        if msg.is_keyframe:
            self._seen_keyframe = True
        elif self.wait_keyframe and not self._seen_keyframe:
            return  # the first segment starts on a keyframe too
        duration = self.current.cover(msg.timestamp)
        if self._overflow(duration) and (msg.is_keyframe or not self.wait_keyframe):
            self._reap(msg.timestamp, duration)
        self._write(self._mux(self.muxer.video, msg))

    def _on_audio(self, msg: SharedMessage) -> None:
        if not self.muxer.audio_enabled:
            return
        duration = self.current.cover(msg.timestamp)
        # SRS's "absolute overflow": cut on audio too, so pure audio (and a stream whose
        # keyframes stop) still gets segments, at hls_fragment x hls_aof_ratio.
        if duration >= max(self.aof_ms + self._deviation_ms(), 2 * MIN_SEGMENT_MS):
            self._reap(msg.timestamp, duration)
        self._write(self._mux(self.muxer.audio, msg))

    def _mux(self, fn: Callable[[int, bytes], bytes], msg: SharedMessage) -> bytes:
        try:
            data = fn(msg.timestamp, msg.payload)
        except TsError as e:
            self.log.warning("hls: dropped a %s message at %dms: %s", "video" if msg.is_video else "audio",
                             msg.timestamp, e)
            return b""
        if len(self.muxer.unsupported) > self._logged_unsupported:
            for what in self.muxer.unsupported[self._logged_unsupported:]:
                self.log.warning("hls: %s cannot go into MPEG-TS here; that track is left out", what)
            self._logged_unsupported = len(self.muxer.unsupported)
        return data

    def _overflow(self, duration_ms: int) -> bool:
        if duration_ms < 2 * MIN_SEGMENT_MS:
            return False
        return duration_ms >= self.max_td_ms + self._deviation_ms()

    def _deviation_ms(self) -> float:
        if not self.conf["hls_ts_floor"]:
            return 0.0
        return FLOOR_REAP_PERCENT * self._deviation * self.fragment_ms

    def _flush_due(self, dts: int) -> None:
        seg = self.current
        if seg is None or seg.file is None:
            return
        if self._flushed_at is None or dts < self._flushed_at:
            self._flushed_at = dts
        elif dts - self._flushed_at >= FLUSH_MS:
            self._flushed_at = dts
            seg.file.flush()

    # -- segments -----------------------------------------------------------------------
    def _reap(self, dts: int, duration: int) -> None:
        """Close the segment at the message that starts the next one: EXTINF = next start - this start."""
        self._close_segment(duration)
        self._open_segment()
        self.current.cover(dts)

    def _open_segment(self) -> None:
        stream = self.stream
        seq = stream.next_seq
        stream.next_seq += 1
        h = self.ctx.hook
        now = self.clock()
        values = {**naming.stream_values(h.vhost, h.app, h.stream), **naming.time_values(now, self.ctx.utc_time),
                  "seq": str(seq)}
        floor = self._floor_timestamp(now)
        if floor is not None:
            values["timestamp"] = floor
        # [duration] is known when the segment closes: until then it stays in the names as written.
        path = paths.join_under(self.root_real, naming.expand(self.conf["hls_ts_file"], values))
        self.current = _OpenSegment(seq, values, path, self._discontinuity)
        self._discontinuity = False
        self.muxer.start_segment()

    def _floor_timestamp(self, now: float) -> Optional[str]:
        """hls_ts_floor: [timestamp] becomes a piece counter that goes up by one per segment, as SRS."""
        if not self.conf["hls_ts_floor"]:
            return None
        current = int(now * 1000 // self.fragment_ms)
        self._accept_floor = current - 1 if not self._accept_floor else self._accept_floor + 1
        if self._accept_floor - current > FLOOR_JUMP_PIECES:
            self.log.warning("hls: ts_floor jumps, piece %d is %d ahead of the clock", self._accept_floor,
                             self._accept_floor - current)
            self._accept_floor = current - 1
        self._deviation = self._accept_floor - current
        return str(self._accept_floor)

    def _write(self, data: bytes) -> None:
        if not data:
            return
        seg = self.current
        if seg.file is None:
            paths.make_dirs_under(self.root_real, os.path.dirname(seg.tmp))
            paths.resolve_under(self.root_real, seg.tmp)   # a directory swapped for a symlink meanwhile
            seg.file = open(seg.tmp, "wb", buffering=WRITE_BUFFER)
            self.stream.pending_tmp = seg.tmp
            self._write_sidecar(seg)
        seg.file.write(data)

    def _write_sidecar(self, seg: _OpenSegment) -> None:
        """What recovery needs to finish, list and report this segment if the server dies first."""
        sidecar.write(seg.tmp, {
            "kind": "hls", "vhost": self.ctx.hook.vhost,
            "hook": dataclasses.asdict(dataclasses.replace(self.ctx.hook, cwd=self.ctx.cwd)),
            "seq": seg.seq, "values": seg.values, "discontinuity": seg.discontinuity,
            "hls_path": self.conf["hls_path"], "hls_ts_file": self.conf["hls_ts_file"], "m3u8_rel": self.m3u8_rel,
            "entry_prefix": self.conf["hls_entry_prefix"] or "",
            "max_td_ms": self.max_td_ms})

    def _close_segment(self, duration: Optional[int] = None) -> None:
        seg, self.current = self.current, None
        stream = self.stream
        if seg.file is not None:
            seg.file.close()
        stream.pending_tmp = None
        if duration is None:
            duration = seg.duration_ms
        too_long = duration > self.max_td_ms * MAX_SEGMENT_TD_FACTOR
        if seg.file is None or duration < MIN_SEGMENT_MS or too_long:
            if seg.file is not None:
                remove_file(seg.tmp)
                sidecar.remove(sidecar.path_of(seg.tmp))
            stream.next_seq -= 1      # SRS reuses the number
            self._discontinuity = self._discontinuity or seg.discontinuity
            if too_long:
                self.log.warning("hls: dropped segment %d of %dms, over %d x hls_fragment x hls_td_ratio "
                                 "(timestamps jumped, or keyframes are too far apart)", seg.seq, duration,
                                 MAX_SEGMENT_TD_FACTOR)
            return
        ts_rel = naming.expand(self.conf["hls_ts_file"], {**seg.values, "duration": str(duration)})
        final = paths.join_under(self.root_real, ts_rel)
        os.replace(seg.tmp, final)
        uri = segment_uri(ts_rel, self.m3u8_rel, self.conf["hls_entry_prefix"] or "")
        done = Segment(seg.seq, final, self._hook_path(ts_rel), uri, ts_rel, duration, seg.discontinuity)
        stream.window.append(done)
        expired = stream.trim(float(self.conf["hls_window"]))
        stream.write_playlist(self.root_real, self.max_td_ms)
        if self.conf["hls_cleanup"]:
            for old in expired:
                remove_file(old.path)
        self._queue_hooks(done)
        if not sidecar.remove(sidecar.path_of(seg.tmp)):
            self.log.warning("hls: cannot remove the recovery sidecar of %s", seg.tmp)

    def _hook_path(self, rel: str) -> str:
        return hook_path(self.conf["hls_path"], rel)

    def _queue_hooks(self, seg: Segment) -> None:
        conf = self.ctx.hooks_conf()
        if not conf or not conf["enabled"]:
            return
        ctx = report_context(self.ctx.hook, self.ctx.cwd, self.conf["hls_path"], self.m3u8_rel, seg.uri, seg.ts_rel,
                             seg.duration_ms, seg.seq)
        self.ctx.hooks.on_hls(conf, ctx)
        self.ctx.hooks.on_hls_notify(conf, ctx, seg.uri, int(self.conf["hls_nb_notify"]))
