"""The MP4 muxer: files built from synthetic samples, parsed back with a small box walker."""
import struct

import pytest

from srsish.kernel import mp4

# Real codec configurations (x264 and ffmpeg's AAC encoder), as FLV sequence-header tag bodies.
AVC_SH_320x240 = bytes.fromhex("17000000000164000dffe100176764000dacb40a0fd808800000030080000019078a155001"
                               "000468ef0fcbfdf8f800")
AAC_SH_44100_MONO = bytes.fromhex("af00120856e500")
AVCC_1920x1080 = bytes.fromhex("0142c028ffe100196742c028da01e0089f97011000000300100000030320f1832a01000468ce0fc8")
AVCC_444_350x202 = bytes.fromhex("01f4000dffe1001a67f4000d91968161bee7c044000003000400000300c83c50aa8001000568ce0f"
                                 "1920fff8f800")

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts"}


# ----------------------------------------------------------------------------- box walker
def walk(data: bytes, start: int = 0, end=None) -> list:
    """[(type, payload start, payload end, children)] for the boxes in data[start:end]."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos < end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            head = 16
        elif size == 0:
            size = end - pos
        assert size >= head and pos + size <= end, "box %r at %d overruns its parent" % (kind, pos)
        children = walk(data, pos + head, pos + size) if kind in CONTAINERS else []
        out.append((kind, pos + head, pos + size, children))
        pos += size
    assert pos == end
    return out


def find(boxes: list, path: str) -> list:
    """Every box at a slash path such as 'moov/trak/mdia/mdhd'."""
    first, _, rest = path.partition("/")
    hits = [b for b in boxes if b[0] == first.encode()]
    return hits if not rest else [x for b in hits for x in find(b[3], rest)]


def full(data: bytes, b) -> tuple:
    """(version, flags, body) of a full box."""
    vf = struct.unpack_from(">I", data, b[1])[0]
    return vf >> 24, vf & 0xFFFFFF, data[b[1] + 4:b[2]]


def table(data: bytes, b, fmt: str) -> list:
    _, _, body = full(data, b)
    n = struct.unpack_from(">I", body)[0]
    size = struct.calcsize(fmt)
    return [struct.unpack_from(fmt, body, 4 + i * size) for i in range(n)]


class Track:
    """What a trak says, decoded."""

    def __init__(self, data: bytes, trak) -> None:
        kids = trak[3]
        self.handler = full(data, find(kids, "mdia/hdlr")[0])[2][4:8]
        _, _, mdhd = full(data, find(kids, "mdia/mdhd")[0])
        self.timescale, self.duration = struct.unpack_from(">II", mdhd, 8)
        stbl = "mdia/minf/stbl/"
        self.stts = table(data, find(kids, stbl + "stts")[0], ">II")
        self.ctts = [table(data, b, ">Ii") for b in find(kids, stbl + "ctts")]
        self.stss = [r[0] for b in find(kids, stbl + "stss") for r in table(data, b, ">I")]
        self.has_stss = bool(find(kids, stbl + "stss"))
        self.stsc = table(data, find(kids, stbl + "stsc")[0], ">III")
        _, _, stsz = full(data, find(kids, stbl + "stsz")[0])
        fixed, count = struct.unpack_from(">II", stsz)
        self.sizes = [fixed] * count if fixed else list(struct.unpack_from(">%dI" % count, stsz, 8))
        co = find(kids, stbl + "stco") or find(kids, stbl + "co64")
        self.chunk_offsets = [r[0] for r in table(data, co[0], ">I" if co[0][0] == b"stco" else ">Q")]
        self.co64 = co[0][0] == b"co64"
        self.stsd = find(kids, stbl + "stsd")[0]
        _, _, tkhd = full(data, find(kids, "tkhd")[0])
        self.width, self.height = (v >> 16 for v in struct.unpack_from(">II", tkhd, len(tkhd) - 8))
        self.elst = [table(data, b, ">IiHH") for b in find(kids, "edts/elst")]

    @property
    def durations(self) -> list:
        return [d for n, d in self.stts for _ in range(n)]

    def sample_offsets(self) -> list:
        """Each sample's file offset, from stsc + stco + stsz."""
        per_chunk = []
        for i, (first, n, _) in enumerate(self.stsc):
            last = self.stsc[i + 1][0] - 1 if i + 1 < len(self.stsc) else len(self.chunk_offsets)
            per_chunk += [n] * (last - first + 1)
        offsets, k = [], 0
        for chunk, n in zip(self.chunk_offsets, per_chunk):
            pos = chunk
            for _ in range(n):
                offsets.append(pos)
                pos += self.sizes[k]
                k += 1
        return offsets


def build(muxer: mp4.Mp4Muxer, steps) -> bytes:
    """Run the muxer like the DVR does: write what it returns, patch and append at the end."""
    out = bytearray(muxer.begin())
    for step in steps:
        out += step()
    trailer = muxer.finish()
    for off, data in trailer.patches:
        out[off:off + len(data)] = data
    out += trailer.moov
    return bytes(out)


def av_file(seconds: int = 2, gop: int = 25, cts: int = 0):
    """A muxed file of 25 fps video (keyframe every `gop`) and 44.1 kHz AAC, interleaved by time."""
    m = mp4.Mp4Muxer()
    m.set_video_config(mp4.flv_avc_config(AVC_SH_320x240))
    m.set_audio_config(mp4.flv_aac_config(AAC_SH_44100_MONO))
    events = [(i * 40, "v", i) for i in range(seconds * 25)]
    events += [(i * 1024 * 1000 // 44100, "a", i) for i in range(seconds * 44100 // 1024)]
    samples = {}

    def step(kind, i, ts):
        def run():
            data = bytes([i & 0xFF]) * (100 + i % 7) if kind == "v" else bytes([0xA0 | (i & 0x0F)]) * 20
            samples[(kind, i)] = data
            if kind == "v":
                return m.add_video(ts, cts, i % gop == 0, data)
            return m.add_audio(ts, data)
        return run

    steps = [step(kind, i, ts) for ts, kind, i in sorted(events, key=lambda e: (e[0], e[1]))]
    return build(m, steps), samples, m


# ----------------------------------------------------------------------------- layout
def test_layout_is_ftyp_free_mdat_moov_with_patched_mdat_size():
    data, _, _ = av_file(1)
    top = walk(data)
    assert [b[0] for b in top] == [b"ftyp", b"free", b"mdat", b"moov"]
    ftyp = data[top[0][1]:top[0][2]]
    assert ftyp[:4] == b"isom" and b"avc1" in ftyp[8:] and b"mp41" in ftyp[8:]
    mdat = top[2]
    assert mdat[2] - mdat[1] == 25 * 100 + sum(i % 7 for i in range(25)) + (44100 // 1024) * 20


def test_empty_file_is_still_well_formed():
    m = mp4.Mp4Muxer()
    data = build(m, [])
    top = walk(data)
    assert [b[0] for b in top] == [b"ftyp", b"free", b"mdat", b"moov"]
    assert top[2][2] == top[2][1]                      # an empty mdat
    assert not find(top, "moov/trak") and find(top, "moov/mvhd")


def test_two_tracks_with_codec_entries_and_dimensions():
    data, _, _ = av_file(1)
    top = walk(data)
    tracks = [Track(data, t) for t in find(top, "moov/trak")]
    assert [t.handler for t in tracks] == [b"vide", b"soun"]
    video, audio = tracks
    assert (video.width, video.height) == (320, 240)
    entry = data[video.stsd[1] + 8:video.stsd[2]]
    assert entry[4:8] == b"avc1" and struct.unpack_from(">HH", entry, 8 + 24) == (320, 240)
    assert AVC_SH_320x240[5:] in entry and b"avcC" in entry
    entry = data[audio.stsd[1] + 8:audio.stsd[2]]
    assert entry[4:8] == b"mp4a" and b"esds" in entry
    channels, bits, _, _, rate = struct.unpack_from(">HHHHI", entry, 8 + 16)
    assert (channels, bits, rate >> 16) == (1, 16, 44100)
    assert AAC_SH_44100_MONO[2:] in entry                 # the AudioSpecificConfig, in the esds


def test_sample_tables_count_time_and_locate_every_sample():
    data, samples, _ = av_file(2)
    video, audio = (Track(data, t) for t in find(walk(data), "moov/trak"))
    assert len(video.sizes) == 50 and len(audio.sizes) == 2 * 44100 // 1024
    assert video.timescale == 90000 and set(video.durations) == {3600}
    assert video.duration == 50 * 3600                  # 2.000 s
    assert audio.timescale == 44100 and set(audio.durations) == {1024}
    assert audio.duration == len(audio.sizes) * 1024
    assert video.stss == [1, 26]
    assert not audio.has_stss                           # every audio sample is a sync sample
    assert not video.ctts                               # no composition offsets, no ctts
    for kind, track in (("v", video), ("a", audio)):
        offsets = track.sample_offsets()
        for i, (off, size) in enumerate(zip(offsets, track.sizes)):
            assert data[off:off + size] == samples[(kind, i)]


def test_interleaved_samples_make_chunks_and_a_compact_stsc():
    data, _, _ = av_file(2)
    video, audio = (Track(data, t) for t in find(walk(data), "moov/trak"))
    assert sum(1 for _ in video.chunk_offsets) > 1
    # stsc lists a run only where samples-per-chunk changes
    counts = [n for _, n, _ in video.stsc]
    assert all(a != b for a, b in zip(counts, counts[1:]))


def test_composition_offsets_go_to_ctts():
    data, _, _ = av_file(1, cts=80)
    video = Track(data, find(walk(data), "moov/trak")[0])
    assert video.ctts == [[(25, 80 * 90)]]


def test_movie_duration_is_the_longest_track_in_ms():
    data, _, _ = av_file(2)
    top = walk(data)
    _, _, mvhd = full(data, find(top, "moov/mvhd")[0])
    timescale, duration = struct.unpack_from(">II", mvhd, 8)
    audio_ms = (2 * 44100 // 1024) * 1024 * 1000 / 44100
    assert timescale == 1000 and duration == round(max(2000, audio_ms))


def test_audio_times_follow_frames_and_resync_after_a_gap():
    m = mp4.Mp4Muxer()
    m.set_audio_config(bytes.fromhex("1208"))
    steps = [lambda ts=ts: m.add_audio(ts, b"x") for ts in (0, 23, 46, 70, 1000, 1023)]
    data = build(m, steps)
    audio = Track(data, find(walk(data), "moov/trak")[0])
    # 0..70 ms are exact 1024-sample frames despite the rounded ms; then a gap to 1000 ms
    assert audio.durations[:3] == [1024, 1024, 1024]
    assert audio.durations[3] == 1000 * 44100 // 1000 - 3 * 1024
    assert audio.durations[4:] == [1024, 1024]


def test_a_track_that_starts_late_gets_an_empty_edit():
    m = mp4.Mp4Muxer()
    m.set_video_config(mp4.flv_avc_config(AVC_SH_320x240))
    m.set_audio_config(bytes.fromhex("1208"))
    steps = [lambda: m.add_audio(0, b"a"), lambda: m.add_video(40, 0, True, b"v"),
             lambda: m.add_audio(23, b"a"), lambda: m.add_video(80, 0, False, b"v")]
    data = build(m, steps)
    video, audio = (Track(data, t) for t in find(walk(data), "moov/trak"))
    assert video.elst == [[(40, -1, 1, 0), (80, 0, 1, 0)]]
    assert audio.elst == []


def test_large_files_switch_to_64_bit_sizes_and_offsets():
    m = mp4.Mp4Muxer()
    m.set_video_config(mp4.flv_avc_config(AVC_SH_320x240))
    m.set_audio_config(bytes.fromhex("1208"))
    head = m.begin()
    m.add_audio(0, b"a")
    m._pos += 5 << 30     # as if 5 GiB of samples had been written
    m.add_video(0, 0, True, b"v")
    trailer = m.finish()
    [(offset, patch)] = trailer.patches
    assert offset == head.index(b"free") - 4 and patch[4:8] == b"mdat"
    size, _, large = struct.unpack(">I4sQ", patch)
    assert size == 1 and large == m.size - len(trailer.moov) - offset
    assert b"co64" in trailer.moov                      # the video chunk lies past 4 GiB


def test_config_changes_after_samples_are_refused():
    m = mp4.Mp4Muxer()
    m.begin()
    m.set_video_config(mp4.flv_avc_config(AVC_SH_320x240))
    assert not m.config_differs("vide", mp4.flv_avc_config(AVC_SH_320x240))
    m.add_video(0, 0, True, b"v")
    assert m.config_differs("vide", AVCC_1920x1080)
    with pytest.raises(mp4.Mp4Error):
        m.set_video_config(AVCC_1920x1080)


def test_samples_need_their_configuration_first():
    m = mp4.Mp4Muxer()
    m.begin()
    with pytest.raises(mp4.Mp4Error):
        m.add_video(0, 0, True, b"v")
    with pytest.raises(mp4.Mp4Error):
        m.add_audio(0, b"a")


# ----------------------------------------------------------------------------- codec configs
@pytest.mark.parametrize("avcc, size", [(AVC_SH_320x240[5:], (320, 240)), (AVCC_1920x1080, (1920, 1080)),
                                        (AVCC_444_350x202, (350, 202))])
def test_sps_dimensions_with_cropping_and_high_profiles(avcc, size):
    assert mp4.avcc_dimensions(avcc) == size


def test_unreadable_sps_gives_zero_dimensions():
    assert mp4.avcc_dimensions(b"\x01\x64\x00\x0d\xff\xe1\x00\x02\x67\x64") == (0, 0)


@pytest.mark.parametrize("asc, expected", [
    ("1208", (2, 44100, 1, 1024)),
    ("1190", (2, 48000, 2, 1024)),
    ("1214", (2, 44100, 2, 960)),           # frameLengthFlag
    ("2b920800", (5, 22050, 2, 1024)),      # HE-AAC, explicit: times run at the core rate
])
def test_audio_specific_config(asc, expected):
    c = mp4.parse_audio_specific_config(bytes.fromhex(asc))
    assert (c.object_type, c.sample_rate, c.channels, c.frame_length) == expected


def test_flv_bodies_to_samples():
    cts, key, data = mp4.flv_avc_sample(b"\x17\x01\xff\xff\xd8" + b"nal")
    assert (cts, key, data) == (-40, True, b"nal")
    assert mp4.flv_avc_sample(b"\x27\x01\x00\x00\x50nal")[:2] == (80, False)
    assert mp4.flv_aac_sample(b"\xaf\x01raw") == b"raw"
    with pytest.raises(mp4.Mp4Error):
        mp4.flv_avc_config(b"\x1c\x00" + bytes(20))        # HEVC is not AVC
    with pytest.raises(mp4.Mp4Error):
        mp4.flv_aac_config(b"\x2f\x00\x12\x08")             # MP3 is not AAC


def test_descriptor_sizes_use_7_bit_groups():
    assert mp4._descriptor(5, b"ab") == b"\x05\x02ab"
    long = mp4._descriptor(5, bytes(200))
    assert long[:3] == b"\x05\x81\x48" and len(long) == 203
