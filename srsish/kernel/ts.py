"""MPEG-TS muxing of FLV audio/video tag bodies (H.264, AAC, MP3) into 188-byte packets, with no I/O."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from srsish.core.errors import MediaError
from srsish.kernel import codec
from srsish.kernel.codec import AacConfig, AvcConfig, CodecError
from srsish.kernel.codec.avc import START_CODE
from srsish.kernel.ts_fields import encode_pcr, es_info, pes_header, psi_section

TS_PACKET_SIZE = 188
TS_PAYLOAD_SIZE = 184

# SRS's PIDs and program number, so segments look like SRS's to tools that care.
PAT_PID = 0x0000
PMT_PID = 0x1001
VIDEO_PID = 0x0100
AUDIO_PID = 0x0101
PROGRAM_NUMBER = 1
TRANSPORT_STREAM_ID = 1

STREAM_TYPE_H264 = 0x1B
STREAM_TYPE_AAC = 0x0F   # ADTS
STREAM_TYPE_MP3 = 0x03
STREAM_ID_VIDEO = 0xE0
STREAM_ID_AUDIO = 0xC0

TS_CLOCK_PER_MS = 90

NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
# access unit delimiter, primary_pic_type 7 (any slice type) + stop bit
AUD_NALU = START_CODE + b"\x09\xf0"


class TsError(MediaError):
    """A sequence header or frame that cannot be muxed."""


# ----------------------------------------------------------------------------- H.264

def parse_avc_config(record: bytes) -> AvcConfig:
    """The AVCDecoderConfigurationRecord, which must hold an SPS and a PPS for Annex B output."""
    try:
        cfg = codec.parse_avc_config(record)
    except CodecError as e:
        raise TsError(str(e)) from e
    if not cfg.sps or not cfg.pps:
        raise TsError("avcC without SPS or PPS")
    return cfg


def split_avcc(data: bytes, length_size: int) -> List[bytes]:
    """The NAL units of a length-prefixed (AVCC) access unit."""
    nalus = []
    pos, end = 0, len(data)
    while pos + length_size <= end:
        size = int.from_bytes(data[pos:pos + length_size], "big")
        pos += length_size
        if size == 0:
            continue
        if pos + size > end:
            raise TsError(f"NALU of {size} bytes overruns the frame ({end - pos} left)")
        nalus.append(data[pos:pos + size])
        pos += size
    return nalus


def avcc_to_annexb(data: bytes, cfg: AvcConfig, keyframe: bool) -> bytes:
    """Annex B for one access unit: our AUD first, SPS/PPS before a keyframe that lacks them, then the NALUs.

    An AUD already in the frame is dropped, so there is exactly one and it comes first (iOS wants that).
    """
    nalus = [n for n in split_avcc(data, cfg.length_size) if n[0] & 0x1F != NAL_AUD]
    parts = [AUD_NALU]
    if keyframe and not any(n[0] & 0x1F == NAL_SPS for n in nalus):
        parts.append(cfg.annexb_parameter_sets)
    for n in nalus:
        parts.append(START_CODE)
        parts.append(n)
    return b"".join(parts)


# ----------------------------------------------------------------------------- AAC

def parse_audio_specific_config(asc: bytes) -> AacConfig:
    """The AudioSpecificConfig as ADTS carries it: HE-AAC as its AAC-LC core (ADTS signals SBR implicitly)."""
    try:
        return codec.parse_audio_specific_config(asc).core()
    except CodecError as e:
        raise TsError(str(e)) from e


def adts_header(cfg: AacConfig, payload_len: int) -> bytes:
    """The 7-byte ADTS header (MPEG-4, no CRC) for one raw AAC frame of `payload_len` bytes."""
    frame_len = payload_len + 7
    if frame_len > 0x1FFF:
        raise TsError(f"AAC frame of {payload_len} bytes does not fit ADTS")
    profile = max(0, min(3, cfg.object_type - 1))
    ch = cfg.channels & 0x07
    return bytes((
        0xFF, 0xF1,
        (profile << 6) | (cfg.sampling_index << 2) | (ch >> 2),
        ((ch & 0x03) << 6) | (frame_len >> 11),
        (frame_len >> 3) & 0xFF,
        ((frame_len & 0x07) << 5) | 0x1F,   # buffer fullness 0x7FF (variable rate)
        0xFC,                               # ... and one raw data block
    ))


# ----------------------------------------------------------------------------- FLV tag bodies

@dataclass
class VideoTag:
    """A video tag as this muxer sees it: H.264 or nothing, coded frames X folded into coded frames."""
    codec: str          # "h264", or "" for a codec TS does not carry here
    packet_type: int    # 0 sequence header, 1 coded frame, 2 end of sequence
    keyframe: bool
    cts: int            # composition time offset, ms
    data: bytes


def parse_video_tag(payload: bytes) -> Optional[VideoTag]:
    """The H.264 view of a video tag body (legacy or Enhanced RTMP avc1); None if too short to say."""
    try:
        tag = codec.parse_video_tag(payload)
    except CodecError:
        return None
    if not tag.is_avc:
        return VideoTag("", tag.packet_type, tag.keyframe, 0, b"")
    ptype = codec.PACKET_CODED_FRAMES if tag.is_coded_frames else tag.packet_type
    return VideoTag("h264", ptype, tag.keyframe, tag.cts, tag.data)


# ----------------------------------------------------------------------------- the muxer

class TsMuxer:
    """Turns one publish session's FLV audio/video tag bodies into TS packets.

    Call `start_segment()` when a new file begins (PAT/PMT are repeated before its first
    PES), then feed `video()` / `audio()` in arrival order; each returns the TS bytes to
    append (b"" for sequence headers and for what is dropped). A track appears in the PMT
    once its codec is known; when one appears mid-segment, PAT/PMT go out again with a new
    PMT version. Continuity counters run on across segments. `video_enabled` /
    `audio_enabled` False drop that track (hls_vcodec vn / hls_acodec an).
    """

    def __init__(self, video_enabled: bool = True, audio_enabled: bool = True) -> None:
        self.video_enabled = video_enabled
        self.audio_enabled = audio_enabled
        self.avc: Optional[AvcConfig] = None
        self.aac: Optional[AacConfig] = None
        self.audio_codec = ""          # "aac" / "mp3" once the audio track is known
        self.unsupported: List[str] = []   # codec descriptions dropped, for the app to log once
        self._pmt_version = 0
        self._pmt_tracks: Optional[Tuple[bool, str]] = None   # what the last PMT sent listed
        self._tables_due = True
        self._cc: Dict[int, int] = {}
        self._headers: Dict[int, Tuple[bytes, ...]] = {}

    # -- tracks -------------------------------------------------------------------------
    @property
    def has_video(self) -> bool:
        return self.avc is not None

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codec)

    @property
    def pcr_pid(self) -> int:
        return VIDEO_PID if self.has_video else AUDIO_PID

    def _track_added(self) -> None:
        self._tables_due = True

    def start_segment(self) -> None:
        """The next PES starts a new file: put PAT and PMT before it."""
        self._tables_due = True

    # -- input --------------------------------------------------------------------------
    def video(self, timestamp: int, payload: bytes) -> bytes:
        """TS bytes for one FLV video tag body at `timestamp` (ms, the DTS)."""
        if not self.video_enabled:
            return b""
        tag = parse_video_tag(payload)
        if tag is None:
            return b""
        if tag.codec != "h264":
            self._unsupported(f"video codec of tag byte 0x{payload[0]:02x}")
            return b""
        if tag.packet_type == 0:
            had = self.has_video
            self.avc = parse_avc_config(tag.data)
            if not had:
                self._track_added()
            return b""
        if tag.packet_type != 1 or self.avc is None or not tag.data:
            return b""
        es = avcc_to_annexb(tag.data, self.avc, tag.keyframe)
        dts = timestamp * TS_CLOCK_PER_MS
        pts = (timestamp + tag.cts) * TS_CLOCK_PER_MS
        return self._pes(VIDEO_PID, STREAM_ID_VIDEO, es, pts, dts, tag.keyframe)

    def audio(self, timestamp: int, payload: bytes) -> bytes:
        """TS bytes for one FLV audio tag body at `timestamp` (ms)."""
        if not self.audio_enabled:
            return b""
        try:
            tag = codec.parse_audio_tag(payload)
        except CodecError:
            return b""
        if tag.sound_format == codec.AUDIO_CODEC_AAC:
            if tag.is_sequence_header:
                self.aac = parse_audio_specific_config(tag.data)
                self._set_audio_codec("aac")
                return b""
            if self.aac is None or not tag.data:
                return b""
            es = adts_header(self.aac, len(tag.data)) + tag.data
        elif tag.sound_format in (codec.AUDIO_CODEC_MP3, codec.AUDIO_CODEC_MP3_8K):
            if not tag.data:
                return b""
            self._set_audio_codec("mp3")
            es = tag.data
        else:
            self._unsupported(f"audio format {tag.sound_format}")
            return b""
        ts = timestamp * TS_CLOCK_PER_MS
        return self._pes(AUDIO_PID, STREAM_ID_AUDIO, es, ts, ts, False)

    def _set_audio_codec(self, name: str) -> None:
        if self.audio_codec != name:
            self.audio_codec = name
            self._track_added()

    def _unsupported(self, what: str) -> None:
        if what not in self.unsupported:
            self.unsupported.append(what)

    # -- output -------------------------------------------------------------------------
    def tables(self) -> bytes:
        """PAT and PMT packets for the tracks known now; a PMT listing other tracks gets a new version."""
        self._tables_due = False
        tracks = (self.has_video, self.audio_codec)
        if self._pmt_tracks is not None and tracks != self._pmt_tracks:
            self._pmt_version = (self._pmt_version + 1) & 0x1F
        self._pmt_tracks = tracks
        return self._section(PAT_PID, self.pat_section()) + self._section(PMT_PID, self.pmt_section())

    def pat_section(self) -> bytes:
        body = bytes((TRANSPORT_STREAM_ID >> 8, TRANSPORT_STREAM_ID & 0xFF, 0xC1, 0x00, 0x00,
                      PROGRAM_NUMBER >> 8, PROGRAM_NUMBER & 0xFF,
                      0xE0 | (PMT_PID >> 8), PMT_PID & 0xFF))
        return psi_section(0x00, body)

    def pmt_section(self) -> bytes:
        streams = b""
        if self.has_video:
            streams += es_info(STREAM_TYPE_H264, VIDEO_PID)
        if self.has_audio:
            streams += es_info(STREAM_TYPE_AAC if self.audio_codec == "aac" else STREAM_TYPE_MP3, AUDIO_PID)
        pcr = self.pcr_pid
        body = bytes((PROGRAM_NUMBER >> 8, PROGRAM_NUMBER & 0xFF, 0xC1 | (self._pmt_version << 1), 0x00, 0x00,
                      0xE0 | (pcr >> 8), pcr & 0xFF, 0xF0, 0x00)) + streams
        return psi_section(0x02, body)

    def _next_cc(self, pid: int) -> int:
        cc = self._cc.get(pid, 0)
        self._cc[pid] = (cc + 1) & 0x0F
        return cc

    def _section(self, pid: int, section: bytes) -> bytes:
        cc = self._next_cc(pid)
        head = bytes((0x47, 0x40 | (pid >> 8), pid & 0xFF, 0x10 | cc, 0x00))  # pointer_field 0
        return (head + section).ljust(TS_PACKET_SIZE, b"\xff")

    def _plain_headers(self, pid: int) -> Tuple[bytes, ...]:
        """The 16 headers (one per continuity counter) of payload-only continuation packets."""
        hdrs = self._headers.get(pid)
        if hdrs is None:
            hdrs = self._headers[pid] = tuple(bytes((0x47, pid >> 8, pid & 0xFF, 0x10 | cc)) for cc in range(16))
        return hdrs

    def _pes(self, pid: int, stream_id: int, es: bytes, pts: int, dts: int, keyframe: bool) -> bytes:
        out = bytearray()
        if self._tables_due:
            out += self.tables()
        pes = memoryview(pes_header(stream_id, pts, dts, len(es)) + es)
        total = len(pes)
        # First packet: payload_unit_start, and an adaptation field with the PCR on the PCR PID.
        af = b""
        if pid == self.pcr_pid:
            af = bytes((7, 0x50 if keyframe else 0x10)) + encode_pcr(dts)
        elif keyframe:
            af = b"\x01\x40"
        pos = self._packet(out, pid, True, af, pes, 0, total)
        hdrs = self._plain_headers(pid)
        cc = self._cc.get(pid, 0)
        # Whole continuation packets: a cached header and 184 payload bytes each.
        while total - pos >= TS_PAYLOAD_SIZE:
            out += hdrs[cc]
            out += pes[pos:pos + TS_PAYLOAD_SIZE]
            pos += TS_PAYLOAD_SIZE
            cc = (cc + 1) & 0x0F
        self._cc[pid] = cc
        if pos < total:
            self._packet(out, pid, False, b"", pes, pos, total)
        return bytes(out)

    def _packet(self, out: bytearray, pid: int, start: bool, af: bytes, data: memoryview, pos: int,
                total: int) -> int:
        """Append one packet carrying data[pos:]; stuffing fills a short one. Returns the new pos."""
        room = TS_PAYLOAD_SIZE - len(af)
        left = total - pos
        if left < room:
            stuff = room - left
            if af:
                af = bytes((af[0] + stuff,)) + af[1:] + b"\xff" * stuff
            elif stuff == 1:
                af = b"\x00"
            else:
                af = bytes((stuff - 1, 0x00)) + b"\xff" * (stuff - 2)
            room = left
        cc = self._next_cc(pid)
        out += bytes((0x47, (0x40 if start else 0x00) | (pid >> 8), pid & 0xFF, (0x30 if af else 0x10) | cc))
        out += af
        out += data[pos:pos + room]
        return pos + room
