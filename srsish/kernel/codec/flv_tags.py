"""FLV audio/video tag bodies, legacy (CodecID) and Enhanced RTMP (FourCC): parse, serialize and quick predicates."""
from dataclasses import dataclass

from srsish.kernel.codec.bits import CodecError

VIDEO_CODEC_AVC = 7
VIDEO_CODEC_HEVC = 12          # the CDN extension of legacy FLV; Enhanced RTMP says hvc1
AUDIO_CODEC_MP3 = 2
AUDIO_CODEC_AAC = 10
AUDIO_CODEC_MP3_8K = 14

FOURCC_AVC = b"avc1"
FOURCC_HEVC = b"hvc1"

FRAME_KEY = 1
FRAME_INTER = 2

# Video packet types: legacy AVCPacketType and Enhanced RTMP's PacketType share 0-2.
PACKET_SEQUENCE_START = 0
PACKET_CODED_FRAMES = 1
PACKET_SEQUENCE_END = 2
PACKET_CODED_FRAMES_X = 3      # Enhanced RTMP: coded frames without the composition time (it is 0)

AAC_SEQUENCE_HEADER = 0
AAC_RAW = 1
AAC_SOUND_FLAGS = 0x0F         # 44 kHz, 16-bit, stereo: what every AAC tag says, whatever the stream is

VIDEO_CODEC_NAMES = {2: "H263", 3: "Screen", 4: "VP6", 5: "VP6A", 6: "Screen2", 7: "H264", 12: "HEVC", 13: "AV1"}
AUDIO_CODEC_NAMES = {0: "PCM", 1: "ADPCM", 2: "MP3", 3: "PCM_LE", 7: "G711A", 8: "G711U", 10: "AAC", 11: "Speex",
                     13: "Opus", 14: "MP3_8K"}
FOURCC_NAMES = {b"hvc1": "HEVC", b"av01": "AV1", b"vp09": "VP9", b"avc1": "H264"}
# Codecs whose coded frames carry a composition time: legacy ids and FourCCs.
_CTS_CODEC_IDS = (VIDEO_CODEC_AVC, VIDEO_CODEC_HEVC)
_CTS_FOURCCS = (FOURCC_AVC, FOURCC_HEVC)


@dataclass
class VideoTag:
    """A video tag body. Legacy tags set `codec_id`, Enhanced RTMP ones `fourcc` (and codec_id 0).

    `data` is the decoder configuration record for a sequence start, length-prefixed NAL units
    for coded frames. `packet_type` is the one on the wire (PACKET_*).
    """
    frame_type: int
    packet_type: int
    data: bytes
    cts: int = 0               # composition time offset, ms
    codec_id: int = 0
    fourcc: bytes = b""

    @property
    def keyframe(self) -> bool:
        return self.frame_type == FRAME_KEY

    @property
    def is_sequence_header(self) -> bool:
        return self.packet_type == PACKET_SEQUENCE_START and self._has_packet_type

    @property
    def is_coded_frames(self) -> bool:
        return self.packet_type == PACKET_CODED_FRAMES or (bool(self.fourcc)
                                                           and self.packet_type == PACKET_CODED_FRAMES_X)

    @property
    def is_avc(self) -> bool:
        return self.fourcc == FOURCC_AVC if self.fourcc else self.codec_id == VIDEO_CODEC_AVC

    @property
    def is_hevc(self) -> bool:
        return self.fourcc == FOURCC_HEVC if self.fourcc else self.codec_id == VIDEO_CODEC_HEVC

    @property
    def codec_name(self) -> str:
        return FOURCC_NAMES.get(self.fourcc, "") if self.fourcc else VIDEO_CODEC_NAMES.get(self.codec_id, "")

    @property
    def _has_packet_type(self) -> bool:
        return bool(self.fourcc) or self.codec_id in _CTS_CODEC_IDS

    @property
    def _has_cts(self) -> bool:
        if self.fourcc:
            return self.fourcc in _CTS_FOURCCS and self.packet_type == PACKET_CODED_FRAMES
        return self.codec_id in _CTS_CODEC_IDS

    def to_bytes(self) -> bytes:
        if self.fourcc:
            if len(self.fourcc) != 4 or not 0 <= self.packet_type <= 0x0F:
                raise CodecError(f"Enhanced RTMP tag with FourCC {self.fourcc!r}, packet type {self.packet_type}")
            head = bytes((0x80 | (self.frame_type << 4) | self.packet_type,)) + self.fourcc
        elif self._has_packet_type:
            head = bytes(((self.frame_type << 4) | self.codec_id, self.packet_type))
        else:
            head = bytes(((self.frame_type << 4) | self.codec_id,))
        if self._has_cts:
            head += (self.cts & 0xFFFFFF).to_bytes(3, "big")
        return head + self.data


def parse_video_tag(payload: bytes) -> VideoTag:
    """Parse a video tag body; raises CodecError when it is too short for its header."""
    if not payload:
        raise CodecError("empty video tag")
    b0 = payload[0]
    frame_type = (b0 >> 4) & 0x07
    if b0 & 0x80:  # Enhanced RTMP: IsExHeader, FrameType, PacketType, then a FourCC instead of the codec id
        if len(payload) < 5:
            raise CodecError(f"Enhanced RTMP video tag of {len(payload)} bytes has no FourCC")
        tag = VideoTag(frame_type, b0 & 0x0F, b"", 0, 0, bytes(payload[1:5]))
        start = 5
    else:
        tag = VideoTag(b0 >> 4, PACKET_CODED_FRAMES, b"", 0, b0 & 0x0F)
        start = 1
        if tag._has_packet_type:
            if len(payload) < 2:
                raise CodecError("video tag without its packet type")
            tag.packet_type = payload[1]
            start = 2
    if tag._has_cts:
        if len(payload) < start + 3:
            raise CodecError(f"video tag of {len(payload)} bytes cut in its composition time")
        tag.cts = _si24(payload[start:start + 3])
        start += 3
    tag.data = bytes(payload[start:])
    return tag


def _si24(b: bytes) -> int:
    v = (b[0] << 16) | (b[1] << 8) | b[2]
    return v - (1 << 24) if v & 0x800000 else v


@dataclass
class AudioTag:
    """An audio tag body: SoundFormat, the rate/size/type bits, and for AAC the packet type."""
    sound_format: int
    data: bytes
    packet_type: int = AAC_RAW     # AAC only
    sound_flags: int = AAC_SOUND_FLAGS

    @property
    def is_sequence_header(self) -> bool:
        return self.sound_format == AUDIO_CODEC_AAC and self.packet_type == AAC_SEQUENCE_HEADER

    @property
    def codec_name(self) -> str:
        return AUDIO_CODEC_NAMES.get(self.sound_format, "")

    def to_bytes(self) -> bytes:
        head = bytes(((self.sound_format << 4) | self.sound_flags,))
        if self.sound_format == AUDIO_CODEC_AAC:
            head += bytes((self.packet_type,))
        return head + self.data


def parse_audio_tag(payload: bytes) -> AudioTag:
    """Parse an audio tag body; raises CodecError when it is too short for its header."""
    if not payload:
        raise CodecError("empty audio tag")
    fmt = payload[0] >> 4
    if fmt == AUDIO_CODEC_AAC:
        if len(payload) < 2:
            raise CodecError("AAC audio tag without its packet type")
        return AudioTag(fmt, bytes(payload[2:]), payload[1], payload[0] & 0x0F)
    return AudioTag(fmt, bytes(payload[1:]), AAC_RAW, payload[0] & 0x0F)


# ----------------------------------------------------------------------------- per-message predicates
# Every published message goes through these, so they read bytes instead of building a tag;
# tests/kernel/test_codec.py checks that they agree with the parsers.

def video_is_keyframe(payload: bytes) -> bool:
    """True for a key frame (frame type 1), sequence headers included."""
    return bool(payload) and (payload[0] >> 4) & 0x7 == FRAME_KEY


def video_is_sequence_header(payload: bytes) -> bool:
    """True for an AVC/HEVC decoder configuration record (legacy) or any Enhanced RTMP sequence start."""
    if len(payload) < 2:
        return False
    b0 = payload[0]
    if b0 & 0x80:
        return b0 & 0x0F == PACKET_SEQUENCE_START
    return (b0 >> 4) == FRAME_KEY and (b0 & 0x0F) in _CTS_CODEC_IDS and payload[1] == PACKET_SEQUENCE_START


def audio_is_sequence_header(payload: bytes) -> bool:
    """True for an AAC AudioSpecificConfig."""
    return len(payload) >= 2 and (payload[0] >> 4) == AUDIO_CODEC_AAC and payload[1] == AAC_SEQUENCE_HEADER


def video_is_avc(payload: bytes) -> bool:
    """True for H.264: legacy CodecID 7 or Enhanced RTMP avc1."""
    if not payload:
        return False
    if payload[0] & 0x80:
        return payload[1:5] == FOURCC_AVC
    return payload[0] & 0x0F == VIDEO_CODEC_AVC


def video_is_coded_frames(payload: bytes) -> bool:
    """True for a tag carrying frames: not a sequence start or end (nor another Enhanced RTMP packet)."""
    if not payload:
        return False
    b0 = payload[0]
    if b0 & 0x80:
        return b0 & 0x0F in (PACKET_CODED_FRAMES, PACKET_CODED_FRAMES_X)
    if b0 & 0x0F in _CTS_CODEC_IDS:
        return len(payload) >= 2 and payload[1] == PACKET_CODED_FRAMES
    return True


def audio_is_aac(payload: bytes) -> bool:
    return bool(payload) and payload[0] >> 4 == AUDIO_CODEC_AAC


def video_codec_name(payload: bytes) -> str:
    if not payload:
        return ""
    if payload[0] & 0x80:
        return FOURCC_NAMES.get(bytes(payload[1:5]), "")
    return VIDEO_CODEC_NAMES.get(payload[0] & 0x0F, "")


def audio_codec_name(payload: bytes) -> str:
    return AUDIO_CODEC_NAMES.get(payload[0] >> 4, "") if payload else ""
