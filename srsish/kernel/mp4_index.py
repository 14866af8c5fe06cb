"""The crash-recovery index of an MP4 being written: its record format, a muxer that hands it out, and the muxer rebuilt from it.

An IndexedMp4Muxer writes the same file as an Mp4Muxer; `index_records()` also hands out, as
bytes to append to a side file, the layout, the codec configurations and every sample added
since the last call. `IndexedMp4Muxer.from_index()` rebuilds the muxer from that file, holding
every sample whose bytes reached the file, so `finish()` can complete a file whose writer died.
"""
import struct
import zlib

from srsish.kernel.mp4 import Mp4Error, Mp4Muxer


class Mp4Index:
    """The index file's format: a magic, then records `kind(4) length(4) payload crc32(4)`.

    Records are only ever appended; the CRC (of kind, length and payload) tells a whole record
    from a torn one or from the zeros a power loss can leave at a file's end.
    """
    MAGIC = b"SRSISHX1"
    LAYOUT = b"LAYO"            # free box offset, mdat header offset, first sample offset
    VIDEO_CONFIG = b"VCFG"      # avcC record
    AUDIO_CONFIG = b"ACFG"      # AudioSpecificConfig
    SAMPLES = b"SMPL"           # SAMPLE_FORMAT entries in file order
    LAYOUT_FORMAT = struct.Struct(">QQQ")
    SAMPLE_FORMAT = struct.Struct(">BQIqiB")    # track (0 video, 1 audio), offset, size, time, ctts, keyframe
    VIDEO, AUDIO = 0, 1
    _HEAD = struct.Struct(">4sI")
    _CRC = struct.Struct(">I")

    @classmethod
    def record(cls, kind: bytes, payload: bytes) -> bytes:
        head = cls._HEAD.pack(kind, len(payload))
        return head + payload + cls._CRC.pack(zlib.crc32(payload, zlib.crc32(head)))

    @classmethod
    def records(cls, data: bytes):
        """(kind, payload) of every whole record, in order, up to the first torn or damaged one."""
        if data[:len(cls.MAGIC)] != cls.MAGIC:
            return
        pos, n = len(cls.MAGIC), len(data)
        while pos + cls._HEAD.size + cls._CRC.size <= n:
            kind, length = cls._HEAD.unpack_from(data, pos)
            end = pos + cls._HEAD.size + length
            if end + cls._CRC.size > n:
                return
            payload = bytes(data[pos + cls._HEAD.size:end])
            if cls._CRC.unpack_from(data, end)[0] != zlib.crc32(payload, zlib.crc32(data[pos:pos + cls._HEAD.size])):
                return
            yield kind, payload
            pos = end + cls._CRC.size


class IndexedMp4Muxer(Mp4Muxer):
    """An Mp4Muxer that also keeps the index of what it wrote, for crash recovery."""

    def __init__(self) -> None:
        super().__init__()
        self._index_started = False
        self._indexed_configs: dict = {}     # kind -> the config last written to the index
        self._pending = bytearray()          # SAMPLE_FORMAT entries not yet handed out

    def _record(self, t, time: int, ctts: int, keyframe: bool, size: int) -> None:
        if not self._begun:
            raise Mp4Error("begin() first")
        track = Mp4Index.VIDEO if t.kind == "vide" else Mp4Index.AUDIO
        self._pending += Mp4Index.SAMPLE_FORMAT.pack(track, self._pos, size, time, ctts, 1 if keyframe else 0)

    def index_records(self) -> bytes:
        """What the index file lacks (append it, after the samples it names are written): b"" when nothing."""
        if not self._begun:
            return b""
        out = []
        if not self._index_started:
            self._index_started = True
            out.append(Mp4Index.MAGIC)
            out.append(Mp4Index.record(Mp4Index.LAYOUT, Mp4Index.LAYOUT_FORMAT.pack(
                self._free_at, self._mdat_at, self._mdat_at + 8)))
        # Track ids follow the order configurations first came in: keep that order.
        for t in self._tracks:
            kind = Mp4Index.VIDEO_CONFIG if t.kind == "vide" else Mp4Index.AUDIO_CONFIG
            if self._indexed_configs.get(kind) != t.config:
                self._indexed_configs[kind] = t.config
                out.append(Mp4Index.record(kind, t.config))
        if self._pending:
            out.append(Mp4Index.record(Mp4Index.SAMPLES, bytes(self._pending)))
            self._pending = bytearray()
        return b"".join(out)

    @classmethod
    def from_index(cls, index: bytes, data_end: int) -> "IndexedMp4Muxer":
        """The muxer of an index file, holding every sample whose bytes end by `data_end` (the file's size).

        A torn or damaged record ends the index there; Mp4Error when it does not even hold the layout.
        """
        muxer = cls()
        layout = None
        for kind, payload in Mp4Index.records(index):
            if kind == Mp4Index.LAYOUT:
                layout = Mp4Index.LAYOUT_FORMAT.unpack(payload)
                muxer._free_at, muxer._mdat_at, muxer._pos = layout
                muxer._begun = True
            elif layout is None:
                break
            elif kind == Mp4Index.VIDEO_CONFIG:
                muxer.set_video_config(payload)
            elif kind == Mp4Index.AUDIO_CONFIG:
                muxer.set_audio_config(payload)
            elif kind == Mp4Index.SAMPLES:
                if not muxer._restore_samples(payload, data_end):
                    break
        if layout is None:
            raise Mp4Error("the index holds no file layout")
        return muxer

    def _restore_samples(self, payload: bytes, data_end: int) -> bool:
        """Add the samples of one SAMPLES record; False at the first one that cannot be (the index ends there)."""
        fmt = Mp4Index.SAMPLE_FORMAT
        for i in range(len(payload) // fmt.size):
            kind, offset, size, time, ctts, keyframe = fmt.unpack_from(payload, i * fmt.size)
            t = self.video if kind == Mp4Index.VIDEO else self.audio
            if t is None or offset != self._pos or offset + size > data_end or (t.times and time <= t.times[-1]):
                return False
            t.times.append(time)
            t.ctts.append(ctts)
            if keyframe:
                t.sync.append(t.count + 1)
            self._place(t, size)
        return True
