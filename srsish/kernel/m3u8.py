"""HLS playlist text as SRS writes it: the live media playlist and the one-line variant playlist of hls_ctx."""
import math
from dataclasses import dataclass
from typing import Sequence

VARIANT_CONTENT_TYPE = "application/vnd.apple.mpegurl"


@dataclass
class PlaylistEntry:
    """One segment as the playlist lists it."""
    uri: str
    duration_ms: int
    discontinuity: bool = False
    sequence_no: int = 0


def target_duration(entries: Sequence[PlaylistEntry], max_td_ms: float) -> int:
    """EXT-X-TARGETDURATION as SRS: whole seconds, ceil(max(longest segment, hls_fragment x hls_td_ratio))."""
    longest = max((e.duration_ms for e in entries), default=0)
    return int(math.ceil(max(longest, max_td_ms) / 1000.0))


def render_media_playlist(entries: Sequence[PlaylistEntry], max_td_ms: float) -> str:
    """The live playlist: version 3, the first entry's sequence number, EXTINF with 3 decimals."""
    if not entries:
        raise ValueError("a media playlist needs at least one segment")
    lines = ["#EXTM3U", "#EXT-X-VERSION:3",
             f"#EXT-X-MEDIA-SEQUENCE:{entries[0].sequence_no}",
             f"#EXT-X-TARGETDURATION:{target_duration(entries, max_td_ms)}"]
    for e in entries:
        if e.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXTINF:{e.duration_ms / 1000.0:.3f}, no desc")
        lines.append(e.uri)
    return "\n".join(lines) + "\n"


def render_variant_playlist(url: str) -> str:
    """The tiny master playlist SRS answers a new hls_ctx viewer with (no trailing newline, as SRS)."""
    return "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1\n" + url
