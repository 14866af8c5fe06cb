"""The files DVR records into: one FLV or MP4 file written as `FILE.tmp`, checkpointed for crash recovery, then renamed.

Every file has a sidecar `FILE.tmp.json` (sidecar.py) from its start until it is reported, and its
written bytes go to the OS at least every CHECKPOINT_MS of media; an MP4 also appends its sample
tables to `FILE.tmp.idx` then, so a server killed outright leaves enough on disk to finish the file
at the next start (recovery.py).
"""
import os
import struct
from typing import Optional, Tuple

from srsish.app.origin import sidecar
from srsish.kernel import codec, flv, mp4
from srsish.kernel.jitter import Jitter
from srsish.kernel.message import MSG_DATA, SharedMessage
from srsish.kernel.mp4_index import IndexedMp4Muxer
from srsish.protocol import amf0


TMP_SUFFIX = ".tmp"
WRITE_BUFFER = 64 * 1024      # as SRS's fwrite cache
_DOUBLE = struct.Struct(">d")
INDEX_SUFFIX = ".idx"         # an MP4's sample tables, for crash recovery
CHECKPOINT_MS = 1000          # media time between two flushes (and MP4 index appends)


class DvrFile:
    """One file being recorded under `path + .tmp`; `finish` completes it and renames it to `path`."""

    def __init__(self, path: str, jitter_mode: str, log=None) -> None:
        self.path = path
        self.log = log
        self.tmp = path + TMP_SUFFIX
        self.jitter = Jitter(jitter_mode)
        self.first_ts: Optional[int] = None      # the file's own times (after its jitter)
        self.last_ts = 0
        self.source_start: Optional[int] = None   # the source's time of the first media written
        self.f = open(self.tmp, "xb", buffering=WRITE_BUFFER)
        self.pos = 0
        self._checkpoint_ts: Optional[int] = None

    @property
    def duration_ms(self) -> int:
        return 0 if self.first_ts is None else self.last_ts - self.first_ts

    def write(self, *parts: bytes) -> None:
        for p in parts:
            self.f.write(p)
            self.pos += len(p)

    def patch(self, offset: int, data: bytes) -> None:
        self.f.seek(offset)
        self.f.write(data)
        self.f.seek(self.pos)

    def stamp(self, timestamp: int) -> int:
        """The file's own time for a source timestamp (time_jitter: starts at 0 unless `off`)."""
        ts = self.jitter.correct(timestamp)
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = max(self.last_ts, ts)
        return ts

    # crash recovery -------------------------------------------------------------------
    def write_sidecar(self, info: dict) -> None:
        """What recovery needs to finish and report this file if the server dies before `finish`."""
        sidecar.write(self.tmp, {"kind": "dvr", "format": self.format, **info})

    def checkpoint_due(self, ts: int) -> None:
        """Called after each write with its file time: every CHECKPOINT_MS, hand what was written to the OS."""
        if self._checkpoint_ts is None:
            self._checkpoint_ts = ts
        elif ts - self._checkpoint_ts >= CHECKPOINT_MS:
            self._checkpoint_ts = ts
            self.checkpoint()

    def checkpoint(self) -> None:
        self.f.flush()

    def forget_sidecars(self) -> None:
        """The file is complete and reported: recovery has nothing left to do for it."""
        if not sidecar.remove(sidecar.path_of(self.tmp), self.tmp + INDEX_SUFFIX) and self.log is not None:
            self.log.warning("dvr file %s: cannot remove its recovery sidecar", self.path)

    # to implement ---------------------------------------------------------------------
    format = ""

    def start(self) -> None: ...
    def write_metadata(self, payload: bytes, ts: int) -> None: ...
    def write_media(self, msg: SharedMessage, ts: int) -> bool:  # False when skipped
        raise NotImplementedError

    def needs_new_file(self, msg: SharedMessage) -> bool:
        return False

    def finalize(self) -> None: ...

    def finish(self) -> None:
        """Complete the file (trailer, sizes), close it and rename it; the fd is closed whatever fails."""
        try:
            self.finalize()
            self.f.flush()
        finally:
            self.close_quietly()
        os.rename(self.tmp, self.path)

    def close_quietly(self) -> None:
        """Close the fd; a failure is logged, not raised (after another error, that one is what counts)."""
        try:
            self.f.close()
        except OSError as e:
            if self.log is not None:
                self.log.error("dvr file %s: closing %s failed: %s", self.path, self.tmp, e)


class FlvFile(DvrFile):
    """FLV: header, the first metadata (with duration and filesize patched at the end), every tag."""
    format = "flv"

    def __init__(self, path: str, jitter_mode: str, wait_keyframe: bool, log=None) -> None:
        super().__init__(path, jitter_mode, log)
        self.wait_keyframe = wait_keyframe
        self.has_keyframe = False
        self._meta_offsets: Optional[Tuple[int, int]] = None   # (duration, filesize) value offsets
        self._has_metadata = False

    def start(self) -> None:
        self.write(flv.file_header(True, True))

    def write_metadata(self, payload: bytes, ts: int) -> None:
        if self._has_metadata:
            return                                      # as SRS: the first per file
        self._has_metadata = True
        body, offsets = metadata_with_placeholders(payload)
        at = self.pos + flv.TAG_HEADER_SIZE
        self.write(flv.tag_header(MSG_DATA, ts, len(body)), body, flv.previous_tag_size(len(body)))
        if offsets is not None:
            self._meta_offsets = (at + offsets[0], at + offsets[1])

    def write_media(self, msg: SharedMessage, ts: int) -> bool:
        if msg.is_video and not msg.is_sequence_header:
            if msg.is_keyframe:
                self.has_keyframe = True
            elif not self.has_keyframe and self.wait_keyframe:
                return False                            # as SRS: a file starts on a keyframe
        payload = msg.payload
        self.write(flv.tag_header(msg.type_id, ts, len(payload)), payload, flv.previous_tag_size(len(payload)))
        return True

    def finalize(self) -> None:
        if self._meta_offsets is not None:
            duration, size = duration_and_size(self.duration_ms, self.pos)
            self.patch(self._meta_offsets[0], duration)
            self.patch(self._meta_offsets[1], size)


def metadata_with_placeholders(payload: bytes) -> Tuple[bytes, Optional[Tuple[int, int]]]:
    """onMetaData re-encoded with `duration` and `filesize` last (0 for now), and the offsets of their values.

    As SRS: the values are patched when the file closes, so players see the real duration.
    A body that does not decode is written as it came, with no offsets.
    """
    try:
        values = amf0.decode_all(payload)
    except Exception:
        return payload, None
    if len(values) < 2 or not isinstance(values[1], dict):
        return payload, None
    meta = amf0.EcmaArray((k, v) for k, v in values[1].items() if k not in ("duration", "filesize"))
    meta["duration"] = 0.0
    meta["filesize"] = 0.0
    body = amf0.encode(values[0], meta)
    # ... "duration" <number 8 bytes> "filesize" <number 8 bytes> 00 00 09
    filesize_at = len(body) - 3 - 8
    duration_at = filesize_at - 11 - 8
    if body[duration_at - 11:duration_at] != b"\x00\x08duration\x00":
        return payload, None
    return body, (duration_at, filesize_at)


def placeholder_offsets(body: bytes) -> Optional[Tuple[int, int]]:
    """The (duration, filesize) value offsets in a metadata body `metadata_with_placeholders` made, else None."""
    filesize_at = len(body) - 3 - 8
    duration_at = filesize_at - 11 - 8
    if (duration_at < 11 or body[-3:] != b"\x00\x00\x09"
            or body[duration_at - 11:duration_at] != b"\x00\x08duration\x00"
            or body[filesize_at - 11:filesize_at] != b"\x00\x08filesize\x00"):
        return None
    return duration_at, filesize_at


def duration_and_size(duration_ms: int, size: int) -> Tuple[bytes, bytes]:
    """The two AMF0 number values patched over the placeholders."""
    return _DOUBLE.pack(duration_ms / 1000.0), _DOUBLE.pack(float(size))


class Mp4File(DvrFile):
    """MP4 through the kernel muxer: H.264 and AAC tracks; the moov is written at the end.

    The sample tables also go, at each checkpoint, to the index `FILE.tmp.idx` (kernel/mp4_index.py),
    after the samples they describe: recovery trusts the index only as far as the file goes.
    """
    format = "mp4"

    def __init__(self, path: str, jitter_mode: str, log=None) -> None:
        super().__init__(path, jitter_mode, log)
        self.muxer = IndexedMp4Muxer()
        self.has_keyframe = False
        self._warned = set()
        self._index = None

    def start(self) -> None:
        self.write(self.muxer.begin())
        self._index = open(self.tmp + INDEX_SUFFIX, "wb", buffering=0)
        self.checkpoint()

    def checkpoint(self) -> None:
        self.f.flush()
        records = self.muxer.index_records()
        if records and self._index is not None:
            # The samples reach the disk before the index that names them (power loss too).
            os.fdatasync(self.f.fileno())
            self._index.write(records)

    def close_quietly(self) -> None:
        super().close_quietly()
        index, self._index = self._index, None
        if index is not None:
            try:
                index.close()
            except OSError:
                pass

    def needs_new_file(self, msg: SharedMessage) -> bool:
        """A codec configuration that changes after samples used the old one needs a new file."""
        if not msg.is_sequence_header:
            return False
        try:
            if msg.is_video and codec.video_is_avc(msg.payload):
                return self.muxer.config_differs("vide", mp4.flv_avc_config(msg.payload))
            if msg.is_audio and codec.audio_is_aac(msg.payload):
                return self.muxer.config_differs("soun", mp4.flv_aac_config(msg.payload))
        except mp4.Mp4Error:
            return False
        return False

    def write_media(self, msg: SharedMessage, ts: int) -> bool:
        payload = msg.payload
        try:
            if msg.is_video:
                return self._video(payload, msg, ts)
            if msg.is_audio:
                return self._audio(payload, msg, ts)
        except mp4.Mp4Error as e:
            self._warn("bad", f"dvr mp4 {self.path}: skipped a message: {e}")
        return False

    def _video(self, payload: bytes, msg: SharedMessage, ts: int) -> bool:
        if not codec.video_is_avc(payload):
            self._warn("vcodec", f"dvr mp4 {self.path}: only H.264 video is recorded, skipping this video")
            return False
        if msg.is_sequence_header:
            self.muxer.set_video_config(mp4.flv_avc_config(payload))
            return True
        if not codec.video_is_coded_frames(payload) or self.muxer.video is None:
            return False                                # end of sequence, or frames before the config
        cts, key, data = mp4.flv_avc_sample(payload)
        if not key and not self.has_keyframe:
            return False                                # an MP4 always starts on a keyframe
        self.has_keyframe = True
        self.write(self.muxer.add_video(ts, cts, key, data))
        return True

    def _audio(self, payload: bytes, msg: SharedMessage, ts: int) -> bool:
        if not codec.audio_is_aac(payload):
            self._warn("acodec", f"dvr mp4 {self.path}: only AAC audio is recorded, skipping this audio")
            return False
        if msg.is_sequence_header:
            self.muxer.set_audio_config(mp4.flv_aac_config(payload))
            return True
        if self.muxer.audio is None:
            return False
        self.write(self.muxer.add_audio(ts, mp4.flv_aac_sample(payload)))
        return True

    def finalize(self) -> None:
        trailer = self.muxer.finish()
        for offset, data in trailer.patches:
            self.patch(offset, data)
        self.write(trailer.moov)

    def _warn(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            if self.log is not None:
                self.log.warning(text)
