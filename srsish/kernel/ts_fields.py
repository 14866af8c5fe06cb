"""The header fields of MPEG-TS: CRC-32/MPEG-2, PTS/DTS and PCR, PES headers and PSI sections."""
from typing import Tuple

TIMESTAMP_MASK = (1 << 33) - 1


# ----------------------------------------------------------------------------- CRC32 (MPEG-2)

def _crc_table() -> Tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (polynomial 0x04C11DB7, initial 0xFFFFFFFF, no reflection, no final xor)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ b]
    return crc


# ----------------------------------------------------------------------------- timestamps and PES

def encode_timestamp(prefix: int, ts: int) -> bytes:
    """A 5-byte PTS or DTS field; `prefix` is 0b0010 (PTS only), 0b0011 (PTS with DTS) or 0b0001 (DTS)."""
    ts &= TIMESTAMP_MASK
    return bytes((
        (prefix << 4) | (((ts >> 30) & 0x07) << 1) | 1,
        (ts >> 22) & 0xFF,
        (((ts >> 15) & 0x7F) << 1) | 1,
        (ts >> 7) & 0xFF,
        ((ts & 0x7F) << 1) | 1,
    ))


def encode_pcr(base: int) -> bytes:
    """The 6-byte program_clock_reference: 33-bit base (90 kHz), 6 reserved bits, 9-bit extension 0."""
    base &= TIMESTAMP_MASK
    return bytes(((base >> 25) & 0xFF, (base >> 17) & 0xFF, (base >> 9) & 0xFF, (base >> 1) & 0xFF,
                  ((base & 1) << 7) | 0x7E, 0x00))


def pes_header(stream_id: int, pts: int, dts: int, payload_len: int) -> bytes:
    """A PES header with PTS, plus DTS when it differs; PES_packet_length 0 (unbounded) past 65535."""
    if (pts & TIMESTAMP_MASK) == (dts & TIMESTAMP_MASK):
        fields = encode_timestamp(0b0010, pts)
        flags = 0x80
    else:
        fields = encode_timestamp(0b0011, pts) + encode_timestamp(0b0001, dts)
        flags = 0xC0
    length = 3 + len(fields) + payload_len
    if length > 0xFFFF:
        length = 0  # allowed for video only; audio frames never come near it
    return bytes((0x00, 0x00, 0x01, stream_id, length >> 8, length & 0xFF, 0x80, flags, len(fields))) + fields


def es_info(stream_type: int, pid: int) -> bytes:
    """One elementary stream's entry in the PMT (no descriptors)."""
    return bytes((stream_type, 0xE0 | (pid >> 8), pid & 0xFF, 0xF0, 0x00))


def psi_section(table_id: int, body: bytes) -> bytes:
    """A PSI section: table id, section_syntax_indicator 1 and the length, the body, CRC32."""
    length = len(body) + 4
    head = bytes((table_id, 0xB0 | (length >> 8), length & 0xFF))
    section = head + body
    return section + crc32_mpeg2(section).to_bytes(4, "big")
