"""H.264: the AVCDecoderConfigurationRecord (avcC, ISO 14496-15 5.3.3) and picture size from the SPS."""
from dataclasses import dataclass, field
from typing import List, Tuple

from srsish.kernel.codec.bits import BitReader, CodecError

START_CODE = b"\x00\x00\x00\x01"
PROFILE_NAMES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High10", 122: "High422",
                 244: "High444"}
# Profiles whose SPS carries chroma format and bit depths (and may carry scaling matrices).
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


@dataclass
class AvcConfig:
    """An AVCDecoderConfigurationRecord: NALU length size, profile and level, the parameter sets.

    `extension` keeps verbatim what High profiles add after the PPS (chroma format, bit depths,
    SPS extensions), so a record parsed and serialized again comes back byte for byte.
    """
    length_size: int = 4
    sps: List[bytes] = field(default_factory=list)
    pps: List[bytes] = field(default_factory=list)
    profile: int = 0
    compatibility: int = 0
    level: int = 0
    extension: bytes = b""

    @property
    def annexb_parameter_sets(self) -> bytes:
        return b"".join(START_CODE + n for n in self.sps + self.pps)

    def to_bytes(self) -> bytes:
        if not 1 <= self.length_size <= 4 or self.length_size == 3:
            raise CodecError(f"avcC NALU length size {self.length_size} is not 1, 2 or 4")
        if len(self.sps) > 31 or len(self.pps) > 255:
            raise CodecError("avcC holds at most 31 SPS and 255 PPS")
        out = bytearray((1, self.profile, self.compatibility, self.level, 0xFC | (self.length_size - 1),
                         0xE0 | len(self.sps)))
        for i, sets in enumerate((self.sps, self.pps)):
            if i:
                out.append(len(sets))
            for nalu in sets:
                out += len(nalu).to_bytes(2, "big") + nalu
        return bytes(out + self.extension)


def parse_avc_config(record: bytes) -> AvcConfig:
    """Parse an AVCDecoderConfigurationRecord (the avcC box body, or an FLV AVC sequence header's data)."""
    if len(record) < 7:
        raise CodecError(f"avcC of {len(record)} bytes is too short")
    if record[0] != 1:
        raise CodecError(f"avcC version {record[0]} is not 1")
    cfg = AvcConfig(length_size=(record[4] & 0x03) + 1, profile=record[1], compatibility=record[2],
                    level=record[3])
    pos = 5
    for target, count_mask in ((cfg.sps, 0x1F), (cfg.pps, 0xFF)):
        if pos >= len(record):
            raise CodecError("avcC truncated before its parameter set count")
        count = record[pos] & count_mask
        pos += 1
        for _ in range(count):
            if pos + 2 > len(record):
                raise CodecError("avcC truncated in a parameter set length")
            size = (record[pos] << 8) | record[pos + 1]
            pos += 2
            if pos + size > len(record):
                raise CodecError("avcC truncated in a parameter set")
            target.append(bytes(record[pos:pos + size]))
            pos += size
    cfg.extension = bytes(record[pos:])
    return cfg


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + r.se() + 256) % 256
        last = nxt or last


def sps_dimensions(sps: bytes) -> Tuple[int, int]:
    """(width, height) in pixels from an H.264 SPS NAL unit (header byte included), cropping applied."""
    rbsp = bytes(sps[1:]).replace(b"\x00\x00\x03", b"\x00\x00")
    r = BitReader(rbsp)
    profile = r.u(8)
    r.u(16)                                   # constraint flags, level
    r.ue()                                    # seq_parameter_set_id
    chroma = 1
    if profile in _HIGH_PROFILES:
        chroma = r.ue()
        if chroma == 3 and r.u(1):            # separate_colour_plane: no chroma subsampling units
            chroma = 0
        r.ue()
        r.ue()                                # bit depths
        r.u(1)
        if r.u(1):                            # seq_scaling_matrix_present_flag
            for i in range(12 if chroma == 3 else 8):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()                                    # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1)
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()                                    # max_num_ref_frames
    r.u(1)
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.u(1)
    r.u(1)
    crop = (r.ue(), r.ue(), r.ue(), r.ue()) if r.u(1) else (0, 0, 0, 0)
    unit_x = 2 if chroma in (1, 2) else 1
    unit_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (crop[2] + crop[3])
    return width, height


def avcc_dimensions(avcc: bytes) -> Tuple[int, int]:
    """(width, height) from an AVCDecoderConfigurationRecord's first SPS, or (0, 0) if it cannot say."""
    try:
        cfg = parse_avc_config(avcc)
        return sps_dimensions(cfg.sps[0]) if cfg.sps else (0, 0)
    except CodecError:
        return 0, 0
