"""Inspect FLV audio/video tag bodies: codec ids, keyframes and sequence headers."""

VIDEO_CODEC_AVC = 7
VIDEO_CODEC_HEVC = 12
AUDIO_CODEC_MP3 = 2
AUDIO_CODEC_AAC = 10

VIDEO_CODEC_NAMES = {2: "H263", 3: "Screen", 4: "VP6", 5: "VP6A", 6: "Screen2", 7: "H264", 12: "HEVC", 13: "AV1"}
AUDIO_CODEC_NAMES = {0: "PCM", 1: "ADPCM", 2: "MP3", 3: "PCM_LE", 7: "G711A", 8: "G711U", 10: "AAC", 11: "Speex",
                     13: "Opus", 14: "MP3_8K"}
# Enhanced RTMP (v1) FourCCs, sent with the ex-header bit set.
_EX_FOURCC = {b"hvc1": "HEVC", b"av01": "AV1", b"vp09": "VP9", b"avc1": "H264"}


def video_is_keyframe(payload: bytes) -> bool:
    """True for a key frame (frame type 1), sequence headers included."""
    return bool(payload) and (payload[0] >> 4) & 0x7 == 1


def video_is_sequence_header(payload: bytes) -> bool:
    """True for an AVC/HEVC decoder configuration record (legacy or Enhanced RTMP)."""
    if len(payload) < 2:
        return False
    b0 = payload[0]
    if b0 & 0x80:  # Enhanced RTMP: the low nibble is the packet type, 0 = sequence start
        return b0 & 0x0F == 0
    return (b0 >> 4) == 1 and (b0 & 0x0F) in (VIDEO_CODEC_AVC, VIDEO_CODEC_HEVC) and payload[1] == 0


def audio_is_sequence_header(payload: bytes) -> bool:
    """True for an AAC AudioSpecificConfig."""
    return len(payload) >= 2 and (payload[0] >> 4) == AUDIO_CODEC_AAC and payload[1] == 0


def video_codec_name(payload: bytes) -> str:
    if not payload:
        return ""
    if payload[0] & 0x80:
        return _EX_FOURCC.get(bytes(payload[1:5]), "")
    return VIDEO_CODEC_NAMES.get(payload[0] & 0x0F, "")


def audio_codec_name(payload: bytes) -> str:
    return AUDIO_CODEC_NAMES.get(payload[0] >> 4, "") if payload else ""


def avc_profile_level(sequence_header: bytes) -> tuple:
    """(profile_idc, level_idc) from an AVC sequence header tag body, or (0, 0)."""
    # tag body: frame/codec byte, packet type, 3-byte cts, then AVCDecoderConfigurationRecord
    if len(sequence_header) < 9:
        return 0, 0
    return sequence_header[6], sequence_header[8]


AVC_PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High10", 122: "High422",
                244: "High444"}
AAC_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
AAC_PROFILES = {1: "Main", 2: "LC", 3: "SSR", 5: "HE", 29: "HEv2"}


def aac_config(sequence_header: bytes) -> tuple:
    """(object_type, sample_rate, channels) from an AAC sequence header tag body, or (0, 0, 0)."""
    if len(sequence_header) < 4:
        return 0, 0, 0
    asc = sequence_header[2:]
    object_type = asc[0] >> 3
    rate_index = ((asc[0] & 0x07) << 1) | (asc[1] >> 7)
    channels = (asc[1] >> 3) & 0x0F
    rate = AAC_SAMPLE_RATES[rate_index] if rate_index < len(AAC_SAMPLE_RATES) else 0
    return object_type, rate, channels
