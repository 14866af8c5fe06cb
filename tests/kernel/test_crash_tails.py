"""What crash recovery reads back from files cut short: the FLV tail scan, the MP4 index round trip, the TS cut."""
import struct

import pytest

from srsish.kernel import flv, mp4, ts
from srsish.kernel.mp4_index import IndexedMp4Muxer
from srsish.kernel.ts_scan import scan_segment

# Real codec configurations (x264, ffmpeg's AAC), as FLV sequence-header bodies; as in test_mp4.py / test_ts.py.
AVC_SH_320x240 = bytes.fromhex("17000000000164000dffe100176764000dacb40a0fd808800000030080000019078a155001"
                               "000468ef0fcbfdf8f800")
AAC_SH_44100_MONO = bytes.fromhex("af00120856e500")


def top_boxes(data: bytes) -> list:
    """[(type, offset, size)] of the top-level boxes (32-bit sizes)."""
    out, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        assert size >= 8 and pos + size <= len(data), (kind, pos, size)
        out.append((kind, pos, size))
        pos += size
    return out


# ----------------------------------------------------------------------------- FLV
def _flv(n: int) -> bytes:
    out = [flv.file_header(), flv.tag(flv.TAG_SCRIPT, 0, b"\x02\x00\x0aonMetaData" + bytes(20))]
    for i in range(n):
        out.append(flv.tag(flv.TAG_VIDEO, 1000 + i * 40, bytes(50 + i)))
        out.append(flv.tag(flv.TAG_AUDIO, 1000 + i * 40, bytes(10)))
    return b"".join(out)


def test_flv_scan_of_a_whole_file():
    data = _flv(10)
    found = flv.scan(data)
    assert (found.end, found.tags) == (len(data), 21)
    assert (found.first_ts, found.last_ts, found.duration_ms) == (0, 1360, 1360)
    assert (found.script_body, found.script_size) == (13 + 11, 33)


@pytest.mark.parametrize("cut", [1, 5, 11, 30, 63])
def test_flv_scan_stops_before_a_torn_tag(cut):
    data = _flv(10)
    whole = _flv(9)
    torn = whole + data[len(whole):len(whole) + cut]     # part of the 10th frame's video tag
    found = flv.scan(torn)
    assert found.end == len(whole) and found.tags == 19 and found.last_ts == 1320


def test_flv_scan_stops_at_zeros_and_at_a_bad_previous_size():
    whole = _flv(5)
    assert flv.scan(whole + bytes(4096)).end == len(whole)   # what a power loss can leave
    bad = bytearray(_flv(6))
    bad[len(whole) - 4:len(whole)] = b"\x00\x00\x00\x01"     # the 5th frame's audio tag lies about its size
    assert flv.scan(bytes(bad)).end == len(whole) - 4 - 10 - 11


# ----------------------------------------------------------------------------- MP4
def _feed(muxer: mp4.Mp4Muxer, frames: range) -> bytes:
    out = b""
    for i in frames:
        cts = 80 if i % 3 else 0
        out += muxer.add_video(i * 40, cts, i % 25 == 0, bytes([i % 256]) * (300 + i))
        out += muxer.add_audio(i * 40, bytes([i % 7]) * 90)
        if i % 2:
            out += muxer.add_audio(i * 40 + 23, bytes(91))
    return out


def _muxer(indexed: bool) -> (mp4.Mp4Muxer, bytes):
    m = IndexedMp4Muxer() if indexed else mp4.Mp4Muxer()
    head = m.begin()
    m.set_video_config(mp4.flv_avc_config(AVC_SH_320x240))
    m.set_audio_config(mp4.flv_aac_config(AAC_SH_44100_MONO))
    return m, head


def _complete(m: mp4.Mp4Muxer, data: bytes) -> bytes:
    trailer = m.finish()
    out = bytearray(data)
    for offset, patch in trailer.patches:
        out[offset:offset + len(patch)] = patch
    return bytes(out) + trailer.moov


def test_mp4_index_round_trip_gives_the_file_the_writer_would_have_closed():
    m, data = _muxer(True)
    index = m.index_records()
    data += _feed(m, range(0, 30))
    index += m.index_records()
    data += _feed(m, range(30, 60))
    index += m.index_records()
    assert m.index_records() == b""                    # nothing new, nothing to append
    reference, ref_data = _muxer(False)
    ref_data += _feed(reference, range(0, 60))
    expected = _complete(reference, ref_data)

    restored = IndexedMp4Muxer.from_index(index, len(data))
    assert restored.size == len(data) and restored.duration_ms == reference.duration_ms
    assert _complete(restored, data) == expected


def test_mp4_index_is_trusted_only_as_far_as_the_file_and_whole_records_go():
    m, data = _muxer(True)
    index = m.index_records()
    data += _feed(m, range(0, 20))
    index += m.index_records()
    checkpoint = len(data)
    data += _feed(m, range(20, 40))
    late = m.index_records()
    reference, ref_data = _muxer(False)
    ref_data += _feed(reference, range(0, 20))
    expected = _complete(reference, ref_data)
    assert ref_data == data[:checkpoint]

    torn = index + late[:len(late) // 2]                               # the last append did not finish
    assert _complete(IndexedMp4Muxer.from_index(torn, len(data)), data[:checkpoint]) == expected
    damaged = index + late[:-1] + bytes([late[-1] ^ 1])                # its CRC is wrong
    assert _complete(IndexedMp4Muxer.from_index(damaged, len(data)), data[:checkpoint]) == expected
    # The index got to the disk, the samples of its last record did not all: those are left out.
    short = IndexedMp4Muxer.from_index(index + late, checkpoint + 10)
    assert short.size == checkpoint and short.sample_count == reference.sample_count
    with pytest.raises(mp4.Mp4Error):
        IndexedMp4Muxer.from_index(b"SRSISHX1", 100)                      # no layout: nothing to build on


def test_mp4_restored_file_parses_with_its_samples_where_they_are():
    m, data = _muxer(True)
    index = m.index_records()
    data += _feed(m, range(0, 50))
    index += m.index_records()
    whole = _complete(IndexedMp4Muxer.from_index(index, len(data)), data)
    boxes = top_boxes(whole)
    assert [b[0] for b in boxes] == [b"ftyp", b"free", b"mdat", b"moov"]
    assert boxes[2][1] + boxes[2][2] == len(data)                    # the mdat holds every sample


# ----------------------------------------------------------------------------- TS
def _avc_frame(nalu: bytes, key: bool) -> bytes:
    return bytes((0x17 if key else 0x27, 1, 0, 0, 0)) + len(nalu).to_bytes(4, "big") + nalu


def _segment(frames: int) -> bytes:
    mux = ts.TsMuxer()
    mux.start_segment()
    out = mux.video(0, AVC_SH_320x240) + mux.audio(0, AAC_SH_44100_MONO)
    for i in range(frames):
        key = i % 25 == 0
        out += mux.video(5000 + i * 40, _avc_frame(b"\x65" + bytes(2000) if key else b"\x41" + bytes(700), key))
        out += mux.audio(5000 + i * 40 + 3, b"\xaf\x01" + bytes(150))
    return out


def test_ts_scan_leaves_the_last_pes_out_and_measures_the_rest():
    data = _segment(50)
    found = scan_segment(data)
    # 100 PES (50 video, 50 audio): the last (audio at 5000 + 49*40 + 3) may be torn, so it is cut;
    # the rest spans from video 5000 to video 5000 + 49*40.
    assert found.pes == 99 and found.duration_ms == 49 * 40
    assert found.end % 188 == 0 and data[found.end] == 0x47 and data[found.end + 1] & 0x40
    assert found.end < len(data)


@pytest.mark.parametrize("cut", [0, 1, 100, 187, 188 * 3 + 17])
def test_ts_scan_of_a_segment_cut_short(cut):
    data = _segment(50)
    torn = data[:len(data) - cut]
    found = scan_segment(torn)
    assert found.end % 188 == 0 and found.end <= len(torn) - len(torn) % 188
    assert scan_segment(torn[:found.end]).pes == found.pes - 1     # everything kept is whole PES


def test_ts_scan_of_nothing_and_of_garbage():
    assert scan_segment(b"") == scan_segment(bytes(188 * 4)) == scan_segment(b"\x47" + bytes(100))
    assert scan_segment(b"").end == 0
