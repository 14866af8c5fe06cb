"""Codec parsing and serializing for the kernel: FLV tag bodies, avcC, hvcC and the AAC AudioSpecificConfig.

`from srsish.kernel import codec` gives the whole surface; the submodules hold one structure each.
"""
from srsish.kernel.codec.aac import PROFILE_NAMES as AAC_PROFILES
from srsish.kernel.codec.aac import SAMPLE_RATES as AAC_SAMPLE_RATES
from srsish.kernel.codec.aac import AacConfig, parse_audio_specific_config
from srsish.kernel.codec.avc import PROFILE_NAMES as AVC_PROFILES
from srsish.kernel.codec.avc import AvcConfig, avcc_dimensions, parse_avc_config, sps_dimensions
from srsish.kernel.codec.bits import CodecError
from srsish.kernel.codec.describe import aac_config, avc_profile_level
from srsish.kernel.codec.flv_tags import (AAC_RAW, AAC_SEQUENCE_HEADER, AUDIO_CODEC_AAC, AUDIO_CODEC_MP3,
                                          AUDIO_CODEC_MP3_8K, AUDIO_CODEC_NAMES, FOURCC_AVC, FOURCC_HEVC,
                                          PACKET_CODED_FRAMES, PACKET_CODED_FRAMES_X, PACKET_SEQUENCE_END,
                                          PACKET_SEQUENCE_START, VIDEO_CODEC_AVC, VIDEO_CODEC_HEVC,
                                          VIDEO_CODEC_NAMES, AudioTag, VideoTag, audio_codec_name, audio_is_aac,
                                          audio_is_sequence_header, parse_audio_tag, parse_video_tag,
                                          video_codec_name, video_is_avc, video_is_coded_frames,
                                          video_is_keyframe, video_is_sequence_header)
from srsish.kernel.codec.hevc import HevcConfig, HevcNalArray, parse_hevc_config

__all__ = [
    "AAC_PROFILES", "AAC_RAW", "AAC_SAMPLE_RATES", "AAC_SEQUENCE_HEADER", "AUDIO_CODEC_AAC", "AUDIO_CODEC_MP3",
    "AUDIO_CODEC_MP3_8K", "AUDIO_CODEC_NAMES", "AVC_PROFILES", "AacConfig", "AudioTag", "AvcConfig", "CodecError",
    "FOURCC_AVC", "FOURCC_HEVC", "HevcConfig", "HevcNalArray", "PACKET_CODED_FRAMES", "PACKET_CODED_FRAMES_X",
    "PACKET_SEQUENCE_END", "PACKET_SEQUENCE_START", "VIDEO_CODEC_AVC", "VIDEO_CODEC_HEVC", "VIDEO_CODEC_NAMES",
    "VideoTag", "aac_config", "audio_codec_name", "audio_is_aac", "audio_is_sequence_header", "avc_profile_level",
    "avcc_dimensions", "parse_audio_specific_config", "parse_audio_tag", "parse_avc_config", "parse_hevc_config",
    "parse_video_tag", "sps_dimensions", "video_codec_name", "video_is_avc",
    "video_is_coded_frames", "video_is_keyframe", "video_is_sequence_header",
]
