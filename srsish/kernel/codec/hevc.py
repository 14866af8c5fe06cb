"""H.265: the HEVCDecoderConfigurationRecord (hvcC, ISO 14496-15 8.3.3), parse and serialize."""
from dataclasses import dataclass, field
from typing import List

from srsish.kernel.codec.bits import CodecError

NAL_VPS = 32
NAL_SPS = 33
NAL_PPS = 34
_HEADER_SIZE = 23


@dataclass
class HevcNalArray:
    """One array of the record: parameter sets (or SEI) of one NAL unit type."""
    nal_type: int
    nalus: List[bytes] = field(default_factory=list)
    complete: bool = True


@dataclass
class HevcConfig:
    """An HEVCDecoderConfigurationRecord: the general profile/tier/level, NALU length size, NAL arrays."""
    profile: int = 1                      # general_profile_idc
    level: int = 0                        # general_level_idc: 30 x the level number
    tier: int = 0
    profile_space: int = 0
    compatibility: int = 0                # general_profile_compatibility_flags, 32 bits
    constraints: int = 0                  # general_constraint_indicator_flags, 48 bits
    min_spatial_segmentation: int = 0
    parallelism: int = 0
    chroma_format: int = 1
    bit_depth_luma: int = 8
    bit_depth_chroma: int = 8
    avg_frame_rate: int = 0
    constant_frame_rate: int = 0
    temporal_layers: int = 1
    temporal_id_nested: int = 0
    length_size: int = 4
    arrays: List[HevcNalArray] = field(default_factory=list)

    def nalus(self, nal_type: int) -> List[bytes]:
        """The NAL units of one type (NAL_VPS, NAL_SPS, NAL_PPS ...), in record order."""
        return [n for a in self.arrays if a.nal_type == nal_type for n in a.nalus]

    def to_bytes(self) -> bytes:
        if self.length_size not in (1, 2, 4):
            raise CodecError(f"hvcC NALU length size {self.length_size} is not 1, 2 or 4")
        out = bytearray((1, (self.profile_space << 6) | (self.tier << 5) | self.profile))
        out += self.compatibility.to_bytes(4, "big") + self.constraints.to_bytes(6, "big")
        out += bytes((self.level,))
        out += (0xF000 | self.min_spatial_segmentation).to_bytes(2, "big")
        out += bytes((0xFC | self.parallelism, 0xFC | self.chroma_format, 0xF8 | (self.bit_depth_luma - 8),
                      0xF8 | (self.bit_depth_chroma - 8)))
        out += self.avg_frame_rate.to_bytes(2, "big")
        out += bytes(((self.constant_frame_rate << 6) | (self.temporal_layers << 3)
                      | (self.temporal_id_nested << 2) | (self.length_size - 1), len(self.arrays)))
        for a in self.arrays:
            out += bytes(((0x80 if a.complete else 0) | a.nal_type,)) + len(a.nalus).to_bytes(2, "big")
            for n in a.nalus:
                out += len(n).to_bytes(2, "big") + n
        return bytes(out)


def parse_hevc_config(record: bytes) -> HevcConfig:
    """Parse an HEVCDecoderConfigurationRecord; raises CodecError when it is truncated."""
    if len(record) < _HEADER_SIZE:
        raise CodecError(f"hvcC of {len(record)} bytes is too short")
    if record[0] != 1:
        raise CodecError(f"hvcC version {record[0]} is not 1")
    b = record
    cfg = HevcConfig(
        profile_space=b[1] >> 6, tier=(b[1] >> 5) & 1, profile=b[1] & 0x1F,
        compatibility=int.from_bytes(b[2:6], "big"), constraints=int.from_bytes(b[6:12], "big"), level=b[12],
        min_spatial_segmentation=int.from_bytes(b[13:15], "big") & 0x0FFF, parallelism=b[15] & 0x03,
        chroma_format=b[16] & 0x03, bit_depth_luma=(b[17] & 0x07) + 8, bit_depth_chroma=(b[18] & 0x07) + 8,
        avg_frame_rate=int.from_bytes(b[19:21], "big"), constant_frame_rate=b[21] >> 6,
        temporal_layers=(b[21] >> 3) & 0x07, temporal_id_nested=(b[21] >> 2) & 1, length_size=(b[21] & 0x03) + 1)
    pos = _HEADER_SIZE
    for _ in range(b[22]):
        array, pos = _parse_array(b, pos)
        cfg.arrays.append(array)
    return cfg


def _parse_array(b: bytes, pos: int) -> tuple:
    if pos + 3 > len(b):
        raise CodecError("hvcC truncated in a NAL array header")
    array = HevcNalArray(b[pos] & 0x3F, complete=bool(b[pos] & 0x80))
    count = int.from_bytes(b[pos + 1:pos + 3], "big")
    pos += 3
    for _ in range(count):
        if pos + 2 > len(b):
            raise CodecError("hvcC truncated in a NAL unit length")
        size = int.from_bytes(b[pos:pos + 2], "big")
        pos += 2
        if pos + size > len(b):
            raise CodecError("hvcC truncated in a NAL unit")
        array.nalus.append(bytes(b[pos:pos + size]))
        pos += size
    return array, pos

