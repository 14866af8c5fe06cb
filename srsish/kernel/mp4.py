"""A progressive MP4 muxer (H.264 + AAC): samples stream out as they arrive, the moov comes at the end.

Pure: every call returns the bytes to write and the caller owns the file. The layout is

    ftyp | free(8) | mdat(8-byte header, size patched at the end) | samples... | moov

`begin()` gives the first three boxes, `add_*()` the bytes of each sample (appended in order),
`finish()` the patches to apply (the mdat size) and the moov to append. When the media data
grows past 4 GiB the `free` box and the mdat header are rewritten together as one 16-byte
mdat header with a 64-bit size, so the sample offsets never move (QuickTime's `wide` trick).

For crash recovery, mp4_index.py's IndexedMp4Muxer also hands out an index of the samples as
they are added, and rebuilds a muxer from it, so `finish()` can complete a file whose writer died.
"""
import struct
from array import array
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from srsish.core.errors import MediaError
from srsish.kernel import codec
from srsish.kernel.codec import AacConfig, CodecError
from srsish.kernel.codec.avc import avcc_dimensions

MOVIE_TIMESCALE = 1000        # mvhd, tkhd and elst durations: milliseconds
VIDEO_TIMESCALE = 90000       # FLV milliseconds map onto it exactly
_U32_MAX = 0xFFFFFFFF
_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
_LANGUAGE_UND = 0x55C4        # ISO-639-2 "und", 5 bits per letter


class Mp4Error(MediaError):
    """A codec configuration or sample the muxer cannot use."""


# ----------------------------------------------------------------------------- boxes

def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _descriptor(tag: int, body: bytes) -> bytes:
    """An MPEG-4 descriptor (esds): tag, size in 7-bit groups, body."""
    n = len(body)
    size = bytearray((n & 0x7F,))
    n >>= 7
    while n:
        size.insert(0, 0x80 | (n & 0x7F))
        n >>= 7
    return bytes((tag,)) + bytes(size) + body


# ----------------------------------------------------------------------------- FLV bodies to samples
# Legacy (CodecID 7) and Enhanced RTMP avc1 tags alike: the HLS muxer accepts the same ones.

def parse_audio_specific_config(asc: bytes) -> AacConfig:
    """The AAC AudioSpecificConfig the sample entry and the timing need; HE-AAC times run at the core rate."""
    try:
        return codec.parse_audio_specific_config(asc)
    except CodecError as e:
        raise Mp4Error(str(e)) from e


def _avc_tag(body: bytes, want_config: bool) -> codec.VideoTag:
    try:
        tag = codec.parse_video_tag(body)
    except CodecError as e:
        raise Mp4Error(str(e)) from e
    if not tag.is_avc:
        raise Mp4Error("not an AVC video tag")
    if want_config and not tag.is_sequence_header:
        raise Mp4Error("not an AVC sequence header")
    if not want_config and not tag.is_coded_frames:
        raise Mp4Error("not an AVC NALU packet")
    return tag


def _aac_tag(body: bytes, packet_type: int) -> bytes:
    try:
        tag = codec.parse_audio_tag(body)
    except CodecError as e:
        raise Mp4Error(str(e)) from e
    if tag.sound_format != codec.AUDIO_CODEC_AAC or tag.packet_type != packet_type:
        raise Mp4Error("not an AAC sequence header" if packet_type == codec.AAC_SEQUENCE_HEADER
                       else "not an AAC raw frame")
    return tag.data


def flv_avc_config(body: bytes) -> bytes:
    """The AVCDecoderConfigurationRecord inside an FLV AVC sequence-header tag body."""
    record = _avc_tag(body, True).data
    if len(record) < 6:
        raise Mp4Error(f"avcC of {len(record)} bytes is too short")
    return record


def flv_avc_sample(body: bytes) -> Tuple[int, bool, bytes]:
    """(composition offset in ms, keyframe, length-prefixed NAL units) of an FLV AVC NALU tag body."""
    tag = _avc_tag(body, False)
    return tag.cts, tag.keyframe, tag.data


def flv_aac_config(body: bytes) -> bytes:
    """The AudioSpecificConfig inside an FLV AAC sequence-header tag body."""
    config = _aac_tag(body, codec.AAC_SEQUENCE_HEADER)
    if len(config) < 2:
        raise Mp4Error(f"AudioSpecificConfig of {len(config)} bytes is too short")
    return config


def flv_aac_sample(body: bytes) -> bytes:
    """The raw AAC frame inside an FLV AAC tag body."""
    return _aac_tag(body, codec.AAC_RAW)


# ----------------------------------------------------------------------------- tracks

@dataclass
class _Track:
    track_id: int
    kind: str                   # "vide" or "soun"
    timescale: int
    config: bytes               # avcC record or AudioSpecificConfig
    width: int = 0
    height: int = 0
    aac: Optional[AacConfig] = None
    times: array = field(default_factory=lambda: array("q"))     # decode times, media timescale
    ctts: array = field(default_factory=lambda: array("i"))      # composition offsets, media timescale
    sizes: array = field(default_factory=lambda: array("I"))
    sync: array = field(default_factory=lambda: array("I"))      # 1-based numbers of keyframes
    chunk_offsets: array = field(default_factory=lambda: array("Q"))
    chunk_counts: array = field(default_factory=lambda: array("I"))
    data_bytes: int = 0

    @property
    def count(self) -> int:
        return len(self.sizes)

    def durations(self) -> List[int]:
        t = self.times
        out = [t[i + 1] - t[i] for i in range(len(t) - 1)]
        if self.kind == "soun" and self.aac is not None:
            out.append(self.aac.frame_length)
        else:
            out.append(out[-1] if out else VIDEO_TIMESCALE // 25)
        return out

    def media_duration(self) -> int:
        return (self.times[-1] - self.times[0] + self.durations()[-1]) if self.times else 0


@dataclass(frozen=True)
class Mp4Trailer:
    """What closing the file takes: write each patch at its offset, then append `moov`."""
    patches: List[Tuple[int, bytes]]
    moov: bytes


class Mp4Muxer:
    """Builds one MP4 file; the caller writes every returned byte string in order."""

    def __init__(self) -> None:
        self.video: Optional[_Track] = None
        self.audio: Optional[_Track] = None
        self._tracks: List[_Track] = []
        self._pos = 0                 # bytes handed out so far = the file's size
        self._free_at = 0
        self._mdat_at = 0
        self._last_track: Optional[_Track] = None
        self._begun = False

    @property
    def size(self) -> int:
        return self._pos

    @property
    def duration_ms(self) -> int:
        """The movie's duration so far, as the moov would give it."""
        return max((_rescale(t.times[0], t.timescale, MOVIE_TIMESCALE)
                    + _rescale(t.media_duration(), t.timescale, MOVIE_TIMESCALE) for t in self._tracks if t.count),
                   default=0)

    @property
    def sample_count(self) -> int:
        return sum(t.count for t in self._tracks)

    def begin(self) -> bytes:
        """ftyp, a free box reserved for a 64-bit mdat size, and the mdat header."""
        ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"avc1", b"mp41")
        self._free_at = len(ftyp)
        self._mdat_at = self._free_at + 8
        head = ftyp + box(b"free") + struct.pack(">I4s", 0, b"mdat")
        self._pos = len(head)
        self._begun = True
        return head

    def set_video_config(self, avcc: bytes) -> None:
        """The AVC decoder configuration; only before the first video sample (one sample entry)."""
        if self.video is not None:
            if self.video.count and self.video.config != avcc:
                raise Mp4Error("the AVC configuration changed after video samples were written")
            self.video.config = bytes(avcc)
            self.video.width, self.video.height = avcc_dimensions(avcc)
            return
        w, h = avcc_dimensions(avcc)
        self.video = self._add_track("vide", VIDEO_TIMESCALE, bytes(avcc))
        self.video.width, self.video.height = w, h

    def set_audio_config(self, asc: bytes) -> None:
        """The AAC AudioSpecificConfig; only before the first audio sample."""
        aac = parse_audio_specific_config(asc)
        if self.audio is not None:
            if self.audio.count and self.audio.config != asc:
                raise Mp4Error("the AAC configuration changed after audio samples were written")
            self.audio.config, self.audio.aac, self.audio.timescale = bytes(asc), aac, aac.sample_rate
            return
        self.audio = self._add_track("soun", aac.sample_rate, bytes(asc))
        self.audio.aac = aac

    def config_differs(self, kind: str, config: bytes) -> bool:
        """True when `config` would replace a configuration that samples already use."""
        t = self.video if kind == "vide" else self.audio
        return t is not None and t.count > 0 and t.config != bytes(config)

    def _add_track(self, kind: str, timescale: int, config: bytes) -> _Track:
        t = _Track(len(self._tracks) + 1, kind, timescale, config)
        self._tracks.append(t)
        return t

    def add_video(self, dts_ms: int, cts_ms: int, keyframe: bool, data: bytes) -> bytes:
        """One H.264 access unit (length-prefixed NAL units); returns the bytes to append."""
        t = self.video
        if t is None:
            raise Mp4Error("video sample before the AVC configuration")
        time = dts_ms * (VIDEO_TIMESCALE // 1000)
        if t.times and time <= t.times[-1]:
            time = t.times[-1] + 1    # decode times must grow; the source guarantees it, a file must too
        ctts = cts_ms * (VIDEO_TIMESCALE // 1000)
        self._record(t, time, ctts, keyframe, len(data))
        t.times.append(time)
        t.ctts.append(ctts)
        if keyframe:
            t.sync.append(t.count + 1)
        return self._append(t, data)

    def add_audio(self, dts_ms: int, data: bytes) -> bytes:
        """One raw AAC frame; returns the bytes to append.

        Times advance by the frame length (exact), and resynchronise to the message time only
        when it is more than a frame away (a gap in the source): millisecond timestamps would
        otherwise make every duration jitter by up to 22 samples.
        """
        t = self.audio
        if t is None or t.aac is None:
            raise Mp4Error("audio sample before the AAC configuration")
        actual = dts_ms * t.timescale // 1000
        if t.times:
            expected = t.times[-1] + t.aac.frame_length
            time = expected if abs(actual - expected) < t.aac.frame_length else max(actual, t.times[-1] + 1)
        else:
            time = actual
        self._record(t, time, 0, False, len(data))
        t.times.append(time)
        t.ctts.append(0)
        return self._append(t, data)

    def _append(self, t: _Track, data: bytes) -> bytes:
        self._place(t, len(data))
        return data

    def _place(self, t: _Track, size: int) -> None:
        """Account a sample of `size` bytes at the end of the mdat (a new chunk when the track changes)."""
        if not self._begun:
            raise Mp4Error("begin() first")
        if self._last_track is t and t.chunk_counts:
            t.chunk_counts[-1] += 1
        else:
            t.chunk_offsets.append(self._pos)
            t.chunk_counts.append(1)
        self._last_track = t
        t.sizes.append(size)
        t.data_bytes += size
        self._pos += size

    def _record(self, t: _Track, time: int, ctts: int, keyframe: bool, size: int) -> None:
        """Called before each sample is placed, at the offset it will take; mp4_index.py's muxer keeps them."""

    def finish(self) -> Mp4Trailer:
        """The mdat size patch and the moov, built from everything added so far."""
        mdat_size = self._pos - self._mdat_at
        if mdat_size <= _U32_MAX:
            patches = [(self._mdat_at, struct.pack(">I4s", mdat_size, b"mdat"))]
        else:
            patches = [(self._free_at, struct.pack(">I4sQ", 1, b"mdat", mdat_size + 8))]
        moov = self._moov()
        self._pos += len(moov)
        return Mp4Trailer(patches, moov)

    # -- moov ------------------------------------------------------------------------------
    def _moov(self) -> bytes:
        tracks = [t for t in self._tracks if t.count]
        traks = []
        movie_duration = 0
        for t in tracks:
            trak, duration = self._trak(t)
            traks.append(trak)
            movie_duration = max(movie_duration, duration)
        return box(b"moov", _mvhd(movie_duration, len(self._tracks) + 1), *traks)

    def _trak(self, t: _Track) -> Tuple[bytes, int]:
        media = t.media_duration()
        start = _rescale(t.times[0], t.timescale, MOVIE_TIMESCALE)
        play = _rescale(media, t.timescale, MOVIE_TIMESCALE)
        # A track that starts after the other gets an empty edit first, which keeps A/V sync.
        # Composition offsets are not cut away: FLV decode times start at 0, so a first
        # frame shown at its cts is already where the publisher put it.
        edts = box(b"edts", _elst([(start, -1), (play, 0)])) if start else b""
        total = start + play
        mdia = box(b"mdia", _mdhd(t.timescale, media), _hdlr(t.kind), self._minf(t))
        return box(b"trak", _tkhd(t, total), edts, mdia), total

    def _minf(self, t: _Track) -> bytes:
        header = (full_box(b"vmhd", 0, 1, bytes(8)) if t.kind == "vide"
                  else full_box(b"smhd", 0, 0, bytes(4)))
        dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
        return box(b"minf", header, dinf, self._stbl(t))

    def _stbl(self, t: _Track) -> bytes:
        parts = [self._stsd(t), _stts(t.durations())]
        if any(t.ctts):
            parts.append(_ctts(t.ctts))
        if t.kind == "vide" and len(t.sync) != t.count:
            parts.append(full_box(b"stss", 0, 0, struct.pack(">I", len(t.sync)), _be32(t.sync)))
        parts += [_stsc(t.chunk_counts), _stsz(t.sizes), _stco(t.chunk_offsets)]
        return box(b"stbl", *parts)

    def _stsd(self, t: _Track) -> bytes:
        if t.kind == "vide":
            entry = box(b"avc1", bytes(6), struct.pack(">H", 1), bytes(16),
                        struct.pack(">HHIIIH", t.width, t.height, 0x00480000, 0x00480000, 0, 1),
                        bytes(32), struct.pack(">Hh", 0x0018, -1), box(b"avcC", t.config))
        else:
            aac = t.aac
            rate = aac.sample_rate if aac.sample_rate < 65536 else 0
            bitrate = _bitrate(t)
            dcd = _descriptor(4, struct.pack(">BB", 0x40, 0x15) + (6144).to_bytes(3, "big")
                              + struct.pack(">II", bitrate, bitrate) + _descriptor(5, t.config))
            esd = _descriptor(3, struct.pack(">HB", 0, 0) + dcd + _descriptor(6, b"\x02"))
            entry = box(b"mp4a", bytes(6), struct.pack(">H", 1), bytes(8),
                        struct.pack(">HHHHI", aac.channels or 2, 16, 0, 0, rate << 16),
                        full_box(b"esds", 0, 0, esd))
        return full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry)


def _rescale(value: int, src: int, dst: int) -> int:
    return (value * dst + src // 2) // src


def _bitrate(t: _Track) -> int:
    seconds = t.media_duration() / t.timescale if t.timescale else 0
    return int(t.data_bytes * 8 / seconds) if seconds > 0 else 0


def _be32(values) -> bytes:
    return struct.pack(">%dI" % len(values), *values)


def _runs(values) -> List[Tuple[int, int]]:
    """Run-length pairs (count, value)."""
    out: List[List[int]] = []
    for v in values:
        if out and out[-1][1] == v:
            out[-1][0] += 1
        else:
            out.append([1, v])
    return [(c, v) for c, v in out]


def _mvhd(duration: int, next_track_id: int) -> bytes:
    v1 = duration > _U32_MAX
    times = struct.pack(">QQIQ" if v1 else ">IIII", 0, 0, MOVIE_TIMESCALE, duration)
    return full_box(b"mvhd", 1 if v1 else 0, 0, times, struct.pack(">IH", 0x00010000, 0x0100), bytes(10),
                    _MATRIX, bytes(24), struct.pack(">I", next_track_id))


def _tkhd(t: _Track, duration: int) -> bytes:
    v1 = duration > _U32_MAX
    head = struct.pack(">QQIIQ" if v1 else ">IIIII", 0, 0, t.track_id, 0, duration)
    volume = 0x0100 if t.kind == "soun" else 0
    return full_box(b"tkhd", 1 if v1 else 0, 0x000003, head, bytes(8), struct.pack(">hhhH", 0, 0, volume, 0),
                    _MATRIX, struct.pack(">II", t.width << 16, t.height << 16))


def _elst(edits: List[Tuple[int, int]]) -> bytes:
    v1 = any(d > _U32_MAX for d, _ in edits)
    fmt = ">QqHH" if v1 else ">IiHH"
    body = b"".join(struct.pack(fmt, d, m, 1, 0) for d, m in edits)
    return full_box(b"elst", 1 if v1 else 0, 0, struct.pack(">I", len(edits)), body)


def _mdhd(timescale: int, duration: int) -> bytes:
    v1 = duration > _U32_MAX
    times = struct.pack(">QQIQ" if v1 else ">IIII", 0, 0, timescale, duration)
    return full_box(b"mdhd", 1 if v1 else 0, 0, times, struct.pack(">HH", _LANGUAGE_UND, 0))


def _hdlr(kind: str) -> bytes:
    name = b"VideoHandler\x00" if kind == "vide" else b"SoundHandler\x00"
    return full_box(b"hdlr", 0, 0, bytes(4), kind.encode(), bytes(12), name)


def _stts(durations: List[int]) -> bytes:
    runs = _runs(durations)
    return full_box(b"stts", 0, 0, struct.pack(">I", len(runs)),
                    b"".join(struct.pack(">II", c, d) for c, d in runs))


def _ctts(offsets) -> bytes:
    runs = _runs(offsets)
    negative = any(v < 0 for _, v in runs)
    fmt = ">Ii" if negative else ">II"
    return full_box(b"ctts", 1 if negative else 0, 0, struct.pack(">I", len(runs)),
                    b"".join(struct.pack(fmt, c, v) for c, v in runs))


def _stsc(chunk_counts) -> bytes:
    entries = []
    previous = None
    for i, n in enumerate(chunk_counts):
        if n != previous:
            entries.append(struct.pack(">III", i + 1, n, 1))
            previous = n
    return full_box(b"stsc", 0, 0, struct.pack(">I", len(entries)), *entries)


def _stsz(sizes) -> bytes:
    return full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(sizes)), _be32(sizes))


def _stco(offsets) -> bytes:
    if offsets and max(offsets) > _U32_MAX:
        return full_box(b"co64", 0, 0, struct.pack(">I", len(offsets)), struct.pack(">%dQ" % len(offsets), *offsets))
    return full_box(b"stco", 0, 0, struct.pack(">I", len(offsets)), _be32(offsets))
