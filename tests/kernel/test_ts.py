"""The MPEG-TS muxer: packet framing, PSI tables and CRC, PES timestamps, Annex B and ADTS, golden bytes."""
from typing import Dict, List, Tuple

import pytest

from srsish.kernel import ts
from srsish.kernel.ts import (AUDIO_PID, PMT_PID, VIDEO_PID, AacConfig, TsError, TsMuxer, adts_header,
                              avcc_to_annexb, parse_audio_specific_config, parse_avc_config, parse_video_tag)
from srsish.kernel.ts_fields import crc32_mpeg2, encode_pcr, encode_timestamp, pes_header

SPS = bytes.fromhex("6764001facd9405005bb011000000300100000030320f183196000")
PPS = bytes.fromhex("68ebe3cb22c0")
AVCC = bytes((1, 0x64, 0x00, 0x1F, 0xFF, 0xE1)) + len(SPS).to_bytes(2, "big") + SPS + b"\x01" \
    + len(PPS).to_bytes(2, "big") + PPS
ASC_LC_44100_MONO = bytes((0x12, 0x08))

# SRS's fixed segment header (srs_app_hls.cpp in SRS 1/2, after nginx-rtmp): PAT, then the PMT for
# H.264 on PID 0x100 (the PCR PID) and AAC on 0x101, each CRC'd and stuffed to 188 bytes.
SRS_PAT = bytes.fromhex("474000100000b00d0001c100000001f0012e701905").ljust(188, b"\xff")
SRS_PMT = bytes.fromhex("475001100002b0170001c10000e100f0001be100f0000fe101f0002f44b99b").ljust(188, b"\xff")


# ----------------------------------------------------------------------------- FLV tag bodies

def avc_sequence_header() -> bytes:
    return b"\x17\x00\x00\x00\x00" + AVCC


def avc_frame(nalus: List[bytes], key: bool, cts: int = 0) -> bytes:
    body = b"".join(len(n).to_bytes(4, "big") + n for n in nalus)
    return bytes((0x17 if key else 0x27, 1)) + (cts & 0xFFFFFF).to_bytes(3, "big") + body


def aac_sequence_header() -> bytes:
    return b"\xae\x00" + ASC_LC_44100_MONO


def aac_frame(data: bytes) -> bytes:
    return b"\xae\x01" + data


# ----------------------------------------------------------------------------- a small demuxer for checks

def packets(data: bytes) -> List[bytes]:
    assert len(data) % 188 == 0, f"{len(data)} bytes is not whole TS packets"
    return [data[i:i + 188] for i in range(0, len(data), 188)]


def pid_of(p: bytes) -> int:
    return ((p[1] & 0x1F) << 8) | p[2]


def payload_of(p: bytes) -> bytes:
    afc = (p[3] >> 4) & 0x3
    pos = 4
    if afc & 0x2:
        pos += 1 + p[4]
    return p[pos:] if afc & 0x1 else b""


def pes_units(data: bytes) -> Dict[int, List[bytes]]:
    """Whole PES packets per PID (a unit starts at payload_unit_start_indicator)."""
    units: Dict[int, List[bytearray]] = {}
    for p in packets(data):
        pid = pid_of(p)
        if pid in (0, PMT_PID):
            continue
        if p[1] & 0x40:
            units.setdefault(pid, []).append(bytearray())
        units[pid][-1] += payload_of(p)
    return {pid: [bytes(u) for u in us] for pid, us in units.items()}


def decode_timestamp(b: bytes) -> int:
    return (((b[0] >> 1) & 0x07) << 30) | (b[1] << 22) | ((b[2] >> 1) << 15) | (b[3] << 7) | (b[4] >> 1)


def split_pes(pes: bytes) -> Tuple[int, int, bytes]:
    """(pts, dts, elementary stream) of one PES packet."""
    assert pes[:3] == b"\x00\x00\x01"
    flags, hlen = pes[7], pes[8]
    pts = decode_timestamp(pes[9:14])
    dts = decode_timestamp(pes[14:19]) if flags & 0x40 else pts
    return pts, dts, pes[9 + hlen:]


# ----------------------------------------------------------------------------- CRC and tables

def test_crc32_mpeg2_check_value():
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7   # the catalogue's check value for CRC-32/MPEG-2
    assert crc32_mpeg2(b"") == 0xFFFFFFFF


def test_pat_and_pmt_are_srs_bytes_for_h264_aac():
    m = TsMuxer()
    m.video(0, avc_sequence_header())
    m.audio(0, aac_sequence_header())
    out = m.video(0, avc_frame([b"\x65\x88\x84"], key=True))
    pkts = packets(out)
    assert pkts[0] == SRS_PAT
    assert pkts[1] == SRS_PMT


def test_psi_crc_covers_the_section():
    m = TsMuxer()
    for section in (m.pat_section(), m.pmt_section()):
        assert crc32_mpeg2(section[:-4]).to_bytes(4, "big") == section[-4:]
        assert crc32_mpeg2(section) == 0   # the property decoders check


def test_audio_only_pmt_lists_audio_and_takes_pcr_from_it():
    m = TsMuxer()
    m.audio(0, aac_sequence_header())
    out = m.audio(0, aac_frame(b"\x21" * 50))
    pmt = packets(out)[1]
    assert pid_of(pmt) == PMT_PID
    section = pmt[5:]
    pcr_pid = ((section[8] & 0x1F) << 8) | section[9]
    assert pcr_pid == AUDIO_PID
    assert section[12:17] == bytes((ts.STREAM_TYPE_AAC, 0xE1, 0x01, 0xF0, 0x00))
    assert section[1] & 0x0F == 0 and section[2] == 9 + 5 + 4   # one stream
    audio = [p for p in packets(out) if pid_of(p) == AUDIO_PID]
    assert audio[0][3] & 0x20 and audio[0][5] & 0x10, "PCR expected on the audio PID"


def test_pmt_version_goes_up_when_a_track_appears_mid_stream():
    m = TsMuxer()
    m.audio(0, aac_sequence_header())
    first = packets(m.audio(0, aac_frame(b"\x01" * 20)))
    m.video(10, avc_sequence_header())
    second = packets(m.video(10, avc_frame([b"\x65\x01"], key=True)))
    v1 = (first[1][10] >> 1) & 0x1F
    assert pid_of(second[1]) == PMT_PID
    v2 = (second[1][10] >> 1) & 0x1F
    assert (v1, v2) == (0, 1)
    # the next segment repeats the same PMT: same version
    m.start_segment()
    third = packets(m.audio(20, aac_frame(b"\x01" * 20)))
    assert (third[1][10] >> 1) & 0x1F == 1


# ----------------------------------------------------------------------------- packets and counters

def test_every_packet_is_188_bytes_and_counters_run_per_pid_across_segments():
    m = TsMuxer()
    m.video(0, avc_sequence_header())
    m.audio(0, aac_sequence_header())
    out = bytearray()
    for i in range(60):
        if i == 30:
            m.start_segment()
        out += m.video(i * 40, avc_frame([b"\x65" + bytes(range(256)) * (i * 7 + 1)], key=i % 25 == 0))
        out += m.audio(i * 23, aac_frame(bytes(200 + i)))
    last: Dict[int, int] = {}
    for p in packets(bytes(out)):
        assert p[0] == 0x47
        pid = pid_of(p)
        cc = p[3] & 0x0F
        if pid in last:
            assert cc == (last[pid] + 1) % 16, f"PID {pid:#x}: counter {last[pid]} then {cc}"
        last[pid] = cc
    assert set(last) == {0, PMT_PID, VIDEO_PID, AUDIO_PID}


def test_stuffing_fills_the_last_packet_through_the_adaptation_field():
    m = TsMuxer()
    m.audio(0, aac_sequence_header())
    for size in (1, 100, 160, 166, 167, 168, 169, 170, 171, 184, 350, 2000):
        m.start_segment()
        out = m.audio(0, aac_frame(bytes([0x5A]) * size))
        pes = pes_units(out)[AUDIO_PID][0]
        _, _, es = split_pes(pes)
        assert es[7:] == bytes([0x5A]) * size, f"payload of {size} bytes came back wrong"
        for p in packets(out):
            if p[3] & 0x20:   # an adaptation field: its length must leave exactly the payload
                assert 4 + 1 + p[4] <= 188


def test_pes_length_and_payload_round_trip_including_over_64k():
    m = TsMuxer()
    m.video(0, avc_sequence_header())
    big = b"\x65" + bytes(range(256)) * 400    # 102 kB: PES_packet_length must be 0
    small = b"\x41" + b"\x01" * 30
    out = m.video(1000, avc_frame([big], key=True, cts=80)) + m.video(1040, avc_frame([small], key=False))
    units = pes_units(out)[VIDEO_PID]
    assert len(units) == 2
    assert units[0][4:6] == b"\x00\x00"
    pts, dts, es = split_pes(units[0])
    assert (pts, dts) == (1080 * 90, 1000 * 90)
    assert es == ts.AUD_NALU + b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS + b"\x00\x00\x00\x01" + big
    length = int.from_bytes(units[1][4:6], "big")
    assert length == len(units[1]) - 6
    pts, dts, es = split_pes(units[1])
    assert pts == dts == 1040 * 90
    assert es == ts.AUD_NALU + b"\x00\x00\x00\x01" + small


def test_keyframe_packet_carries_pcr_and_random_access():
    m = TsMuxer()
    m.video(0, avc_sequence_header())
    out = m.video(2000, avc_frame([b"\x65\x00"], key=True))
    first = [p for p in packets(out) if pid_of(p) == VIDEO_PID][0]
    assert first[1] & 0x40 and first[3] & 0x20
    assert first[5] == 0x50                 # random_access_indicator + PCR_flag
    assert first[6:12] == encode_pcr(2000 * 90)
    delta = [p for p in packets(m.video(2040, avc_frame([b"\x41\x00"], key=False))) if pid_of(p) == VIDEO_PID][0]
    assert delta[5] == 0x10                 # PCR, no random access


# ----------------------------------------------------------------------------- timestamps

def test_pts_and_dts_fields_golden():
    assert encode_timestamp(0b0010, 0) == bytes.fromhex("2100010001")
    assert encode_timestamp(0b0010, 90000) == bytes.fromhex("210005bf21")
    assert encode_timestamp(0b0011, (1 << 33) - 1) == bytes.fromhex("3fffffffff")
    assert encode_timestamp(0b0001, 1 << 32) == bytes.fromhex("1900010001")
    for value in (0, 1, 90000, 123456789, (1 << 33) - 1):
        assert decode_timestamp(encode_timestamp(0b0010, value)) == value


def test_timestamps_wrap_at_33_bits():
    assert encode_timestamp(0b0010, (1 << 33) + 5) == encode_timestamp(0b0010, 5)


def test_pes_header_golden():
    assert pes_header(0xC0, 90000, 90000, 100) == bytes.fromhex("000001c0006c808005" "210005bf21")
    assert pes_header(0xE0, 90000 + 3600, 90000, 10) == (bytes.fromhex("000001e00017" "80c00a")
                                                         + encode_timestamp(0b0011, 93600)
                                                         + encode_timestamp(0b0001, 90000))


def test_pcr_golden():
    assert encode_pcr(0) == bytes.fromhex("000000007e00")
    assert encode_pcr(1) == bytes.fromhex("00000000fe00")
    assert encode_pcr(90000) == bytes.fromhex("0000afc87e00")
    base = 123456789
    b = encode_pcr(base)
    assert ((b[0] << 25) | (b[1] << 17) | (b[2] << 9) | (b[3] << 1) | (b[4] >> 7)) == base
    assert b[4] & 0x7E == 0x7E and b[5] == 0


# ----------------------------------------------------------------------------- H.264

def test_avc_config_parses_sps_pps_and_length_size():
    cfg = parse_avc_config(AVCC)
    assert (cfg.length_size, cfg.sps, cfg.pps) == (4, [SPS], [PPS])
    with pytest.raises(TsError):
        parse_avc_config(AVCC[:12])
    with pytest.raises(TsError):
        parse_avc_config(b"\x02" + AVCC[1:])


def test_annexb_puts_aud_first_and_parameter_sets_before_keyframes_only():
    cfg = parse_avc_config(AVCC)
    sei, idr, slice_ = b"\x06\x05\x01\x80", b"\x65\x88\x84\x00", b"\x41\x9a\x00"
    key = avcc_to_annexb(b"".join(len(n).to_bytes(4, "big") + n for n in (sei, idr)), cfg, True)
    sc = b"\x00\x00\x00\x01"
    assert key == b"\x00\x00\x00\x01\x09\xf0" + sc + SPS + sc + PPS + sc + sei + sc + idr
    delta = avcc_to_annexb(len(slice_).to_bytes(4, "big") + slice_, cfg, False)
    assert delta == b"\x00\x00\x00\x01\x09\xf0" + sc + slice_


def test_annexb_keeps_one_aud_and_inband_parameter_sets():
    cfg = parse_avc_config(AVCC)
    aud, idr = b"\x09\x10", b"\x65\x01"
    frame = b"".join(len(n).to_bytes(4, "big") + n for n in (aud, SPS, PPS, idr))
    out = avcc_to_annexb(frame, cfg, True)
    assert out.count(b"\x00\x00\x00\x01\x09") == 1 and out.startswith(ts.AUD_NALU)
    assert out.count(SPS) == 1


def test_annexb_with_two_byte_lengths_and_a_truncated_frame():
    cfg = ts.AvcConfig(length_size=2, sps=[SPS], pps=[PPS])
    out = avcc_to_annexb(b"\x00\x02\x41\x01", cfg, False)
    assert out == ts.AUD_NALU + b"\x00\x00\x00\x01\x41\x01"
    with pytest.raises(TsError):
        avcc_to_annexb(b"\x00\x09\x41\x01", cfg, False)


def test_enhanced_rtmp_avc_tags():
    tag = parse_video_tag(b"\x91avc1\x00\x00\x28" + b"\x00\x00\x00\x02\x65\x01")
    assert (tag.codec, tag.packet_type, tag.keyframe, tag.cts) == ("h264", 1, True, 40)
    tag = parse_video_tag(b"\xa3avc1" + b"\x00\x00\x00\x02\x41\x01")
    assert (tag.packet_type, tag.keyframe, tag.cts, tag.data) == (1, False, 0, b"\x00\x00\x00\x02\x41\x01")
    assert parse_video_tag(b"\x90hvc1" + AVCC).codec == ""


def test_negative_composition_time():
    m = TsMuxer()
    m.video(0, avc_sequence_header())
    out = m.video(1000, avc_frame([b"\x41\x00"], key=False, cts=-40))
    pts, dts, _ = split_pes(pes_units(out)[VIDEO_PID][0])
    assert (pts, dts) == (960 * 90, 1000 * 90)


# ----------------------------------------------------------------------------- AAC and MP3

def test_adts_header_matches_ffmpeg():
    # headers taken from `ffmpeg -f lavfi -i sine -c:a aac -f adts` (mono 44.1 kHz, stereo 48 kHz)
    assert adts_header(AacConfig(2, 4, 1), 258) == bytes.fromhex("fff15040213ffc")
    assert adts_header(AacConfig(2, 3, 2), 288) == bytes.fromhex("fff14c8024fffc")
    with pytest.raises(TsError):
        adts_header(AacConfig(2, 4, 1), 9000)


def test_audio_specific_config_variants():
    assert parse_audio_specific_config(ASC_LC_44100_MONO) == AacConfig(2, 4, 1)
    assert parse_audio_specific_config(bytes.fromhex("1190")) == AacConfig(2, 3, 2)      # LC 48k stereo
    he = parse_audio_specific_config(bytes.fromhex("2b1188"))    # HE-AAC: 24 kHz core, SBR to 48 kHz
    assert (he.object_type, he.sample_rate, he.channels) == (2, 24000, 2)
    explicit = parse_audio_specific_config(bytes.fromhex("17805dc008"))   # rate index 15: an explicit 48000
    assert (explicit.sample_rate, explicit.channels) == (48000, 1)
    with pytest.raises(TsError):
        parse_audio_specific_config(b"\x12")


def test_aac_frames_become_adts_in_audio_pes():
    m = TsMuxer()
    assert m.audio(0, aac_frame(b"\x01\x02")) == b""      # no config yet: dropped
    assert m.audio(0, aac_sequence_header()) == b""
    out = m.audio(46, aac_frame(b"\x21\x22\x23"))
    pts, dts, es = split_pes(pes_units(out)[AUDIO_PID][0])
    assert pts == dts == 46 * 90
    assert es == adts_header(AacConfig(2, 4, 1), 3) + b"\x21\x22\x23"


def test_mp3_passes_through_with_its_stream_type():
    m = TsMuxer()
    frame = b"\xff\xfb\x90\x64" + bytes(100)
    out = m.audio(0, b"\x2e" + frame)
    pmt = packets(out)[1][5:]
    assert pmt[12] == ts.STREAM_TYPE_MP3
    _, _, es = split_pes(pes_units(out)[AUDIO_PID][0])
    assert es == frame


def test_disabled_and_unsupported_tracks_are_left_out():
    m = TsMuxer(video_enabled=False)
    assert m.video(0, avc_sequence_header()) == b"" and not m.has_video
    m = TsMuxer(audio_enabled=False)
    assert m.audio(0, aac_sequence_header()) == b"" and not m.has_audio
    m = TsMuxer()
    assert m.video(0, b"\x12\x00\x00") == b""               # Sorenson H.263
    assert m.audio(0, b"\x82\x00") == b""                    # Nellymoser
    assert len(m.unsupported) == 2 and not m.has_video and not m.has_audio
