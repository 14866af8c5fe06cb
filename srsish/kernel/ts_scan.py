"""Reading back an MPEG-TS segment cut short: where its last whole PES ends, and the time span it covers."""
from dataclasses import dataclass

from srsish.kernel.ts import TS_CLOCK_PER_MS, TS_PACKET_SIZE
from srsish.kernel.ts_fields import TIMESTAMP_MASK

SYNC_BYTE = 0x47


@dataclass(frozen=True)
class TsScan:
    """`end`: the length to keep (whole packets, up to the start of the last PES, which may be torn);
    `pes`: how many PES packets that keeps; `duration_ms`: from their earliest DTS to their latest."""
    end: int
    pes: int
    duration_ms: int


def _payload_start(packet) -> int:
    """Where a packet's payload starts, or -1 when it carries none."""
    control = (packet[3] >> 4) & 0x03
    if control == 0x01:
        return 4
    if control == 0x03:
        return 5 + packet[4]
    return -1


def _pes_dts(packet, at: int):
    """The DTS (else the PTS) of a PES header starting at `at` in this packet, or None."""
    if at < 0 or at + 14 > TS_PACKET_SIZE or packet[at:at + 3] != b"\x00\x00\x01":
        return None
    flags = packet[at + 7] >> 6
    if flags == 0b11:
        field = at + 14            # the DTS follows the PTS
    elif flags == 0b10:
        field = at + 9
    else:
        return None
    if field + 5 > TS_PACKET_SIZE:
        return None
    b = packet[field:field + 5]
    return (((b[0] >> 1) & 0x07) << 30) | (b[1] << 22) | ((b[2] >> 1) << 15) | (b[3] << 7) | (b[4] >> 1)


def scan_segment(data) -> TsScan:
    """Scan a segment (bytes or an mmap) as the HLS muxer writes it: each PES whole, one after the other.

    Stops at the first packet that has lost its sync byte. The last PES found is left out (its
    packets may not all have reached the disk), so `end` is where it starts.
    """
    whole = len(data) - len(data) % TS_PACKET_SIZE
    starts = []                     # (offset, dts) of every PES start
    pos = 0
    while pos < whole:
        packet = data[pos:pos + TS_PACKET_SIZE]
        if packet[0] != SYNC_BYTE:
            break
        if packet[1] & 0x40:        # payload_unit_start_indicator
            dts = _pes_dts(packet, _payload_start(packet))
            if dts is not None:
                starts.append((pos, dts))
        pos += TS_PACKET_SIZE
    if not starts:
        return TsScan(0, 0, 0)
    kept = starts[:-1]
    end = starts[-1][0]
    if not kept:
        return TsScan(end, 0, 0)
    first = kept[0][1]
    # Signed distances from the first DTS modulo 2^33: audio and video interleave a little out of
    # order, and a clock that wraps inside the segment still counts right.
    half = (TIMESTAMP_MASK + 1) // 2
    offsets = [((dts - first + half) & TIMESTAMP_MASK) - half for _, dts in kept]
    return TsScan(end, len(kept), (max(offsets) - min(offsets)) // TS_CLOCK_PER_MS)
