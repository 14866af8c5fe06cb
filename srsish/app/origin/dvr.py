"""Dvr: record a published stream to FLV or MP4 files as SRS's `dvr` does, and queue on_dvr for each finished file.

One `Dvr` per publish session (an OriginFeature). The session plan writes one file from publish
to unpublish; the segment plan starts a new file every `dvr_duration` seconds, on a video
keyframe when `dvr_wait_keyframe`. Every file (dvr_files.py) is written as `FILE.tmp`, renamed to
FILE when it is complete, and only then reported through on_dvr (from the hooks' background worker).

Paths come from the `dvr_path` template, expanded in one pass. Stream and app names are the
publisher's, so they are cleaned (core/naming.py), and the final path must stay under the
template's root (the part before the first variable) both as written and once symlinks are
resolved (core/paths.py).
"""
import dataclasses
import os
import time
from typing import List, Optional

from srsish.app.origin.dvr_files import TMP_SUFFIX, DvrFile, FlvFile, Mp4File
from srsish.app.origin.feature import OriginContext, OriginFeature
from srsish.core import naming, paths
from srsish.kernel.message import SharedMessage


MAX_COLLISIONS = 1000
_VARIABLES = naming.STREAM_VARIABLES + naming.TIME_VARIABLES


class DvrPathError(ValueError):
    """A recording path that cannot be built: every name like it is taken."""


# ----------------------------------------------------------------------------- paths

def applies(dvr_apply: Optional[List[str]], app: str, stream: str) -> bool:
    """SRS's dvr_apply filter: `all`, or one of the listed `app/stream` entries."""
    if not dvr_apply or "all" in dvr_apply:
        return True
    return f"{app}/{stream}" in dvr_apply


class DvrPath:
    """SRS's dvr_path: a file template (`.flv` / `.mp4`) or a folder that gets `/[stream].[timestamp].flv`."""

    def __init__(self, template: str) -> None:
        if not template.endswith((".flv", ".mp4")):
            template = template.rstrip("/") + "/[stream].[timestamp].flv"
        self.template = template
        self.format = "mp4" if template.endswith(".mp4") else "flv"
        first = next((m for m in naming.VARIABLE.finditer(template) if m.group(1) in _VARIABLES), None)
        prefix = template[:first.start()] if first else template
        root = prefix if prefix.endswith("/") else os.path.dirname(prefix)
        self.root = root or "."

    def build(self, vhost: str, app: str, stream: str, now: float, utc: bool = False) -> str:
        """The path for a file opened at `now` (seconds since the epoch); OutsideRoot if it leaves the root."""
        values = {**naming.stream_values(vhost, app, stream), **naming.time_values(now, utc)}
        path = naming.expand(self.template, values)
        paths.resolve_under(self.root, path)
        return path


def unique_path(path: str) -> str:
    """`path`, or `name.N.ext` when a file (or its temporary) already has that name: never overwrite."""
    base, ext = os.path.splitext(path)
    for n in range(MAX_COLLISIONS):
        candidate = path if n == 0 else f"{base}.{n}{ext}"
        if not os.path.lexists(candidate) and not os.path.lexists(candidate + TMP_SUFFIX):
            return candidate
    raise DvrPathError(f"{MAX_COLLISIONS} files named like {path!r} already exist")


# ----------------------------------------------------------------------------- the feature

class Dvr(OriginFeature):
    """Records one publish session; see the module docstring for the plans and the rules."""

    @classmethod
    def create(cls, ctx: OriginContext) -> Optional["Dvr"]:
        conf = ctx.vhost["dvr"]
        if not conf["enabled"]:
            return None
        if not applies(conf["dvr_apply"], ctx.hook.app, ctx.hook.stream):
            return None
        return cls(ctx, conf)

    def __init__(self, ctx: OriginContext, conf: dict) -> None:
        self.ctx = ctx
        self.log = ctx.log
        self.path = DvrPath(str(conf["dvr_path"]))
        self.segmented = conf["dvr_plan"] == "segment"
        self.duration_ms = int(float(conf["dvr_duration"]) * 1000)
        self.wait_keyframe = bool(conf["dvr_wait_keyframe"])
        self.jitter_mode = conf["time_jitter"]
        self.file: Optional[DvrFile] = None
        self.metadata: Optional[SharedMessage] = None
        self.video_sh: Optional[SharedMessage] = None
        self.audio_sh: Optional[SharedMessage] = None
        self.seen_video = False
        self.files = 0

    # -- OriginFeature --------------------------------------------------------------------
    def on_publish(self) -> None:
        self._open()          # as SRS: a file from publish on, even if no media ever comes

    def on_metadata(self, msg: SharedMessage) -> None:
        self.metadata = msg
        if self.file is not None:
            self.file.write_metadata(msg.payload, self._head_ts())

    def on_media(self, msg: SharedMessage) -> None:
        if msg.is_video:
            self.seen_video = True
        if msg.is_sequence_header:
            if msg.is_video:
                self.video_sh = msg
            else:
                self.audio_sh = msg
        f = self.file
        if f is None:
            return
        if f.needs_new_file(msg) or self._segment_due(f, msg):
            self._reap()
            self._open()
            self._write_headers(self.file, msg)
            return
        ts = f.stamp(msg.timestamp)
        if f.write_media(msg, ts) and f.source_start is None and not msg.is_sequence_header:
            f.source_start = msg.timestamp
        f.checkpoint_due(ts)

    def on_unpublish(self) -> None:
        self._reap()

    # -- plans -----------------------------------------------------------------------------
    def _segment_due(self, f: DvrFile, msg: SharedMessage) -> bool:
        if not self.segmented or msg.is_sequence_header or f.source_start is None:
            return False
        if msg.timestamp - f.source_start < self.duration_ms:
            return False
        # MP4 always cuts on a keyframe: a file that started on a delta frame would drop it.
        if not self.seen_video or not (self.wait_keyframe or self.path.format == "mp4"):
            return True
        return msg.is_video and msg.is_keyframe

    def _write_headers(self, f: DvrFile, first: SharedMessage) -> None:
        """A new file mid-stream: metadata and sequence headers at the first message's time, then it."""
        ts = f.stamp(first.timestamp)
        if self.metadata is not None:
            f.write_metadata(self.metadata.payload, ts)
        for sh in (self.video_sh, self.audio_sh):
            if sh is not None:
                f.write_media(sh, ts)
        if not first.is_sequence_header and f.write_media(first, ts):
            f.source_start = first.timestamp

    def _head_ts(self) -> int:
        f = self.file
        return 0 if f is None or f.first_ts is None else f.first_ts

    # -- files -----------------------------------------------------------------------------
    def _open(self) -> None:
        hook = self.ctx.hook
        path = self.path.build(hook.vhost, hook.app, hook.stream, time.time(), self.ctx.utc_time)
        paths.make_dirs_under(self.path.root, os.path.dirname(path) or ".")
        path = unique_path(path)
        if self.path.format == "mp4":
            f: DvrFile = Mp4File(path, self.jitter_mode, self.log)
        else:
            f = FlvFile(path, self.jitter_mode, self.wait_keyframe, self.log)
        self.file = f
        f.start()
        f.write_sidecar({"vhost": hook.vhost, "hook": dataclasses.asdict(self._report_context(path))})
        self.files += 1
        if self.log is not None:
            self.log.info("dvr stream %s to file %s", hook.stream, path)

    def _reap(self) -> None:
        """Finish the current file and queue its on_dvr; a failure is logged, and raised once reported."""
        f, self.file = self.file, None
        if f is None:
            return
        try:
            f.finish()
        except Exception as e:
            self._log_error("dvr file %s could not be completed: %s", f.path, e)
            if not self._rename_partial(f):
                raise
        if self.log is not None:
            self.log.info("dvr file %s done, duration=%.3fs, size=%d", f.path, f.duration_ms / 1000.0, f.pos)
        self._on_dvr(f.path)
        f.forget_sidecars()

    def _rename_partial(self, f: DvrFile) -> bool:
        """After a failed finish, keep what was written under the final name if we can."""
        if os.path.exists(f.path) and not os.path.exists(f.tmp):
            return True                                 # the rename itself went through
        try:
            os.rename(f.tmp, f.path)
        except OSError as e:
            self._log_error("dvr file %s left as %s: %s", f.path, f.tmp, e)
            return False
        self._log_error("dvr file %s is incomplete (kept what was written)", f.path)
        return True

    def _report_context(self, path: str):
        return dataclasses.replace(self.ctx.hook, cwd=self.ctx.cwd, file=path)

    def _on_dvr(self, path: str) -> None:
        self.ctx.hooks.on_dvr(self.ctx.hooks_conf(), self._report_context(path))

    def _log_error(self, fmt: str, *args) -> None:
        if self.log is not None:
            self.log.error(fmt, *args)

