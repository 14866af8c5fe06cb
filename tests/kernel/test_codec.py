"""The codec package: golden bytes for avcC, hvcC, AudioSpecificConfig and FLV tags, round trips, typed errors."""
import pytest

from srsish.core.errors import MediaError, SrsishError
from srsish.kernel import codec, flv, mp4, ts
from srsish.kernel.codec import (AacConfig, AudioTag, AvcConfig, CodecError, HevcConfig, HevcNalArray, VideoTag,
                                 parse_audio_specific_config, parse_audio_tag, parse_avc_config, parse_hevc_config,
                                 parse_video_tag)
from srsish.kernel.codec.bits import BitWriter

# ----------------------------------------------------------------------------- golden bytes
# x264 High profile, level 1.3, 4-byte NALU lengths, one SPS and one PPS, then the High-profile
# tail (chroma_format 1, 8-bit luma and chroma, no SPS extensions).
SPS = bytes.fromhex("6764000dacb40a0fd808800000030080000019078a1550")
PPS = bytes.fromhex("68ef0fcb")
AVCC = (bytes.fromhex("01 64 00 0d ff e1") + len(SPS).to_bytes(2, "big") + SPS
        + b"\x01" + len(PPS).to_bytes(2, "big") + PPS + bytes.fromhex("fdf8f800"))

# x265 Main profile, Main tier, level 3.1 (93), 4-byte lengths, temporal id nested; VPS, SPS, PPS arrays.
VPS_H = bytes.fromhex("40010c01ffff01600000030090000003000003005d959809")
SPS_H = bytes.fromhex("42010101600000030090000003000003005da00280802d165959a4932bc05a808080820000030002000003003210")
PPS_H = bytes.fromhex("4401c172b46240")
HVCC = (bytes.fromhex("01 01 60000000 900000000000 5d f000 fc fd f8 f8 0000 0f 03")
        + b"\xa0\x00\x01" + len(VPS_H).to_bytes(2, "big") + VPS_H
        + b"\xa1\x00\x01" + len(SPS_H).to_bytes(2, "big") + SPS_H
        + b"\xa2\x00\x01" + len(PPS_H).to_bytes(2, "big") + PPS_H)

ASC_LC_44100_STEREO = bytes.fromhex("1210")
ASC_HE_44100_STEREO = bytes.fromhex("2b920800")     # SBR signalled explicitly: 22.05 kHz LC core, 44.1 kHz out
ASC_HEV2_44100 = bytes.fromhex("eb8a0800")          # SBR + PS: mono core, stereo out

NALUS = b"\x00\x00\x00\x02\x65\x88"
ERTMP_AVC_START = b"\x90avc1" + AVCC                 # key frame, packet type 0 (sequence start)
ERTMP_AVC_FRAME = b"\x91avc1\x00\x00\x28" + NALUS     # key frame, coded frames, cts 40
ERTMP_AVC_FRAME_X = b"\xa3avc1" + NALUS               # inter frame, coded frames X (cts 0)
ERTMP_HEVC_START = b"\x90hvc1" + HVCC
LEGACY_AVC_START = b"\x17\x00\x00\x00\x00" + AVCC
LEGACY_AVC_FRAME = b"\x27\x01\xff\xff\xd8" + NALUS    # inter frame, cts -40
LEGACY_HEVC_START = b"\x1c\x00\x00\x00\x00" + HVCC


# ----------------------------------------------------------------------------- AVC
def test_avc_record_golden():
    cfg = parse_avc_config(AVCC)
    assert (cfg.profile, cfg.compatibility, cfg.level, cfg.length_size) == (100, 0, 13, 4)
    assert (cfg.sps, cfg.pps, cfg.extension) == ([SPS], [PPS], bytes.fromhex("fdf8f800"))
    assert cfg.to_bytes() == AVCC
    assert codec.sps_dimensions(SPS) == (320, 240)


def test_avc_record_built_from_values_round_trips():
    cfg = AvcConfig(length_size=2, sps=[SPS], pps=[PPS, b"\x68\x01"], profile=66, compatibility=0xC0, level=31)
    data = cfg.to_bytes()
    assert data[:6] == bytes((1, 66, 0xC0, 31, 0xFD, 0xE1))
    assert parse_avc_config(data) == cfg


@pytest.mark.parametrize("cut", range(len(AVCC) - 4))     # every prefix short of the High-profile tail
def test_truncated_avc_record_raises_codec_error(cut):
    with pytest.raises(CodecError):
        parse_avc_config(AVCC[:cut])


# ----------------------------------------------------------------------------- HEVC
def test_hevc_record_golden():
    cfg = parse_hevc_config(HVCC)
    assert (cfg.profile, cfg.tier, cfg.level, cfg.length_size) == (1, 0, 93, 4)
    assert (cfg.compatibility, cfg.constraints) == (0x60000000, 0x900000000000)
    assert (cfg.chroma_format, cfg.bit_depth_luma, cfg.temporal_layers, cfg.temporal_id_nested) == (1, 8, 1, 1)
    assert [a.nal_type for a in cfg.arrays] == [32, 33, 34]
    assert cfg.nalus(33) == [SPS_H] and cfg.nalus(32) == [VPS_H] and cfg.nalus(34) == [PPS_H]
    assert cfg.to_bytes() == HVCC


def test_hevc_record_built_from_values_round_trips():
    cfg = HevcConfig(profile=2, level=120, tier=1, bit_depth_luma=10, bit_depth_chroma=10, length_size=2,
                     arrays=[HevcNalArray(33, [SPS_H]), HevcNalArray(34, [PPS_H, PPS_H], complete=False)])
    assert parse_hevc_config(cfg.to_bytes()) == cfg


@pytest.mark.parametrize("cut", range(len(HVCC)))
def test_truncated_hevc_record_raises_codec_error(cut):
    with pytest.raises(CodecError):
        parse_hevc_config(HVCC[:cut])


# ----------------------------------------------------------------------------- AAC
def test_aac_lc_golden():
    cfg = parse_audio_specific_config(ASC_LC_44100_STEREO)
    assert cfg == AacConfig(2, 4, 2)
    assert (cfg.sample_rate, cfg.output_rate, cfg.frame_length, cfg.is_he) == (44100, 44100, 1024, False)
    assert cfg.to_bytes() == ASC_LC_44100_STEREO


def test_he_aac_golden():
    cfg = parse_audio_specific_config(ASC_HE_44100_STEREO)
    assert (cfg.object_type, cfg.core_object_type, cfg.sample_rate, cfg.output_rate, cfg.channels) == \
        (5, 2, 22050, 44100, 2)
    assert cfg.core() == AacConfig(2, 7, 2)
    assert cfg.to_bytes() == ASC_HE_44100_STEREO
    v2 = parse_audio_specific_config(ASC_HEV2_44100)
    assert (v2.object_type, v2.sample_rate, v2.output_rate, v2.channels) == (29, 22050, 44100, 1)
    assert v2.to_bytes() == ASC_HEV2_44100


@pytest.mark.parametrize("cfg", [
    AacConfig(2, 3, 1),
    AacConfig(2, 4, 2, frame_length=960),
    AacConfig(2, 15, 1, explicit_rate=48000),
    AacConfig(1, 8, 6),
    AacConfig(5, 6, 2, core_object_type=2, extension_rate_index=3),
    AacConfig(5, 6, 2, core_object_type=2, extension_rate_index=15, extension_explicit_rate=50000),
    AacConfig(42, 4, 2),                                   # escaped object type (USAC)
])
def test_aac_config_round_trips(cfg):
    assert parse_audio_specific_config(cfg.to_bytes()) == cfg


def test_explicit_rate_maps_to_the_nearest_adts_index():
    cfg = parse_audio_specific_config(bytes.fromhex("17805dc008"))
    assert (cfg.rate_index, cfg.sample_rate, cfg.sampling_index) == (15, 48000, 3)
    assert cfg.to_bytes() == bytes.fromhex("17805dc008")


@pytest.mark.parametrize("asc", ["", "12", "2b", "1780", "1690", "0210", "17800000"])
def test_bad_audio_specific_config_raises_codec_error(asc):
    # truncated; reserved rate index 13; object type 0; explicit rate 0
    with pytest.raises(CodecError):
        parse_audio_specific_config(bytes.fromhex(asc))


# ----------------------------------------------------------------------------- FLV tags
def test_enhanced_rtmp_avc_sequence_start_and_frames():
    start = parse_video_tag(ERTMP_AVC_START)
    assert (start.fourcc, start.frame_type, start.packet_type, start.data) == (b"avc1", 1, 0, AVCC)
    assert start.is_sequence_header and start.is_avc and start.codec_name == "H264"
    frame = parse_video_tag(ERTMP_AVC_FRAME)
    assert (frame.keyframe, frame.packet_type, frame.cts, frame.data) == (True, 1, 40, NALUS)
    x = parse_video_tag(ERTMP_AVC_FRAME_X)
    assert (x.keyframe, x.packet_type, x.cts, x.data, x.is_coded_frames) == (False, 3, 0, NALUS, True)
    end = parse_video_tag(b"\x92avc1")
    assert end.packet_type == codec.PACKET_SEQUENCE_END and not end.is_coded_frames


def test_legacy_video_tags():
    start = parse_video_tag(LEGACY_AVC_START)
    assert (start.codec_id, start.fourcc, start.is_sequence_header, start.data) == (7, b"", True, AVCC)
    frame = parse_video_tag(LEGACY_AVC_FRAME)
    assert (frame.keyframe, frame.cts, frame.data, frame.is_coded_frames) == (False, -40, NALUS, True)
    hevc = parse_video_tag(LEGACY_HEVC_START)
    assert hevc.is_hevc and parse_hevc_config(hevc.data).level == 93
    h263 = parse_video_tag(b"\x22abc")                     # no packet type, no cts
    assert (h263.codec_name, h263.packet_type, h263.data) == ("H263", 1, b"abc")


@pytest.mark.parametrize("body", [ERTMP_AVC_START, ERTMP_AVC_FRAME, ERTMP_AVC_FRAME_X, ERTMP_HEVC_START,
                                  b"\x92avc1", b"\x91hvc1\xff\xff\xff" + NALUS, b"\x91av01" + NALUS,
                                  LEGACY_AVC_START, LEGACY_AVC_FRAME, LEGACY_HEVC_START, b"\x22abc"])
def test_video_tags_round_trip(body):
    assert parse_video_tag(body).to_bytes() == body


def test_video_tag_built_from_values():
    tag = VideoTag(frame_type=1, packet_type=codec.PACKET_CODED_FRAMES, data=NALUS, cts=-2, fourcc=b"hvc1")
    assert tag.to_bytes() == b"\x91hvc1\xff\xff\xfe" + NALUS
    assert parse_video_tag(tag.to_bytes()) == tag


@pytest.mark.parametrize("body", [b"", b"\x90avc", b"\x17", b"\x17\x01\x00\x00", b"\x91avc1\x00\x00"])
def test_truncated_video_tag_raises_codec_error(body):
    with pytest.raises(CodecError):
        parse_video_tag(body)


def test_audio_tags():
    sh = parse_audio_tag(b"\xaf\x00" + ASC_LC_44100_STEREO)
    assert sh.is_sequence_header and sh.data == ASC_LC_44100_STEREO and sh.codec_name == "AAC"
    raw = AudioTag(codec.AUDIO_CODEC_AAC, b"\x21\x22")
    assert raw.to_bytes() == b"\xaf\x01\x21\x22" and parse_audio_tag(raw.to_bytes()) == raw
    mp3 = parse_audio_tag(b"\x2e\xff\xfb")
    assert (mp3.codec_name, mp3.data, mp3.is_sequence_header, mp3.to_bytes()) == ("MP3", b"\xff\xfb", False,
                                                                                 b"\x2e\xff\xfb")
    for body in (b"", b"\xaf"):
        with pytest.raises(CodecError):
            parse_audio_tag(body)


VIDEO_BODIES = [ERTMP_AVC_START, ERTMP_AVC_FRAME, ERTMP_AVC_FRAME_X, ERTMP_HEVC_START, b"\x92avc1",
                LEGACY_AVC_START, LEGACY_AVC_FRAME, LEGACY_HEVC_START, b"\x17\x02\x00\x00\x00", b"\x22abc"]


@pytest.mark.parametrize("body", VIDEO_BODIES)
def test_byte_predicates_agree_with_the_parser(body):
    tag = parse_video_tag(body)
    assert codec.video_is_keyframe(body) == tag.keyframe
    assert codec.video_is_sequence_header(body) == tag.is_sequence_header
    assert codec.video_is_coded_frames(body) == tag.is_coded_frames
    assert codec.video_is_avc(body) == tag.is_avc
    assert codec.video_codec_name(body) == tag.codec_name


# ----------------------------------------------------------------------------- what callers get
@pytest.mark.parametrize("start, frame", [(LEGACY_AVC_START, LEGACY_AVC_FRAME),
                                          (ERTMP_AVC_START, ERTMP_AVC_FRAME_X)])
def test_hls_and_mp4_accept_the_same_avc_tags(start, frame):
    assert mp4.flv_avc_config(start) == AVCC
    assert mp4.flv_avc_sample(frame)[1:] == (False, NALUS)
    muxer = ts.TsMuxer()
    muxer.video(0, start)
    assert muxer.has_video and muxer.video(40, frame)


def test_neither_muxer_takes_hevc_as_avc():
    with pytest.raises(mp4.Mp4Error):
        mp4.flv_avc_config(ERTMP_HEVC_START)
    assert ts.parse_video_tag(ERTMP_HEVC_START).codec == ""


def test_api_facts_from_sequence_headers():
    assert codec.avc_profile_level(LEGACY_AVC_START) == codec.avc_profile_level(ERTMP_AVC_START) == (100, 13)
    assert codec.avc_profile_level(b"\x17\x00") == (0, 0)
    assert codec.aac_config(b"\xaf\x00" + ASC_LC_44100_STEREO) == (2, 44100, 2)
    assert codec.aac_config(b"\xaf\x00" + ASC_HE_44100_STEREO) == (5, 22050, 2)
    assert codec.aac_config(b"\xaf\x00\x12") == (0, 0, 0)


def test_adts_carries_he_aac_as_its_core():
    cfg = ts.parse_audio_specific_config(ASC_HE_44100_STEREO)
    assert ts.adts_header(cfg, 10)[2] >> 2 == (1 << 4) | 7     # profile LC (1), rate index 7 (22050)


def test_every_kernel_error_is_one_family():
    for error in (CodecError, ts.TsError, mp4.Mp4Error, flv.FlvError):
        assert issubclass(error, MediaError) and issubclass(error, SrsishError) and issubclass(error, ValueError)
    with pytest.raises(MediaError):
        ts.parse_avc_config(AVCC[:8])
    with pytest.raises(MediaError):
        flv.tag_header(9, 0, 1 << 24)


def test_bit_writer_refuses_values_that_do_not_fit():
    w = BitWriter()
    with pytest.raises(CodecError):
        w.u(4, 16)
    w.u(3, 5)
    assert w.to_bytes() == b"\xa0"
