"""The codec facts the HTTP API reports, read from sequence-header tag bodies; zeros when unreadable."""
from typing import Tuple

from srsish.kernel.codec.aac import parse_audio_specific_config
from srsish.kernel.codec.bits import CodecError
from srsish.kernel.codec.flv_tags import parse_audio_tag, parse_video_tag


def avc_profile_level(sequence_header: bytes) -> Tuple[int, int]:
    """(profile_idc, level_idc) at the avcC offsets of a video sequence header's record, or (0, 0)."""
    try:
        record = parse_video_tag(sequence_header).data
    except CodecError:
        return 0, 0
    return (record[1], record[3]) if len(record) >= 4 else (0, 0)


def aac_config(sequence_header: bytes) -> Tuple[int, int, int]:
    """(object_type, sample_rate, channels) from an AAC sequence header tag body, or (0, 0, 0)."""
    try:
        cfg = parse_audio_specific_config(parse_audio_tag(sequence_header).data)
    except CodecError:
        return 0, 0, 0
    return cfg.object_type, cfg.sample_rate, cfg.channels
