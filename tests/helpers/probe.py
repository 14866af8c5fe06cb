"""ffprobe wrappers and assertions on what a player received."""
import json
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Optional


@dataclass
class VideoFrame:
    pts: Optional[int]          # in the stream time base (FLV: milliseconds)
    dts: Optional[int]
    key: bool
    pict_type: Optional[str] = None   # only with decode=True


@dataclass
class Probe:
    path: str
    codecs: Dict[str, str] = field(default_factory=dict)   # codec_type -> codec_name
    video: List[VideoFrame] = field(default_factory=list)
    audio_count: int = 0

    @property
    def video_count(self) -> int:
        return len(self.video)

    def describe(self) -> str:
        keys = [i for i, f in enumerate(self.video) if f.key]
        return ("%s: codecs=%s video=%d (keys at %s) audio=%d first pts=%s last pts=%s"
                % (self.path, self.codecs, len(self.video), keys[:12], self.audio_count,
                   self.video[0].pts if self.video else None, self.video[-1].pts if self.video else None))


def _int(v) -> Optional[int]:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def ffprobe_frames(path: str, decode: bool = False, timeout: float = 60.0) -> Probe:
    """Streams and per-packet video info of `path`. decode=False uses -show_packets
    (what was on the wire: K flag, pts); decode=True uses -show_frames (adds pict_type;
    note a decoder may hide leading non-key frames)."""
    what = "-show_frames" if decode else "-show_packets"
    r = subprocess.run(["ffprobe", "-v", "error", "-show_streams", what, "-of", "json", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("ffprobe failed on %s: %s" % (path, r.stderr[-2000:]))
    data = json.loads(r.stdout or "{}")
    p = Probe(path)
    kinds = {}
    for s in data.get("streams", []):
        kinds[s["index"]] = s.get("codec_type")
        p.codecs.setdefault(s.get("codec_type"), s.get("codec_name"))
    for item in data.get("packets" if not decode else "frames", []):
        kind = item.get("codec_type") or item.get("media_type") or kinds.get(item.get("stream_index"))
        if kind == "video":
            if decode:
                p.video.append(VideoFrame(_int(item.get("pts", item.get("best_effort_timestamp"))),
                                          _int(item.get("pkt_dts")), bool(item.get("key_frame")),
                                          item.get("pict_type")))
            else:
                p.video.append(VideoFrame(_int(item.get("pts")), _int(item.get("dts")),
                                          "K" in (item.get("flags") or "")))
        elif kind == "audio":
            p.audio_count += 1
    return p


# ----------------------------------------------------------------------------- assertions
def assert_h264_aac(p: Probe) -> None:
    assert p.codecs.get("video") == "h264" and p.codecs.get("audio") == "aac", \
        "expected H.264 + AAC: " + p.describe()


def assert_frame_count(p: Probe, expected: int, tolerance: int = 3) -> None:
    assert abs(p.video_count - expected) <= tolerance, \
        "expected %d video frames (+-%d), got %d: %s" % (expected, tolerance, p.video_count, p.describe())


def assert_first_video_keyframe(p: Probe) -> None:
    assert p.video, "no video frames: " + p.describe()
    assert p.video[0].key, "first video frame is not a keyframe: " + p.describe()


def assert_pts_increasing(p: Probe, strict: bool = True) -> None:
    pts = [f.pts for f in p.video]
    assert all(x is not None for x in pts), "video frame without pts: " + p.describe()
    for i in range(1, len(pts)):
        ok = pts[i] > pts[i - 1] if strict else pts[i] >= pts[i - 1]
        assert ok, "video pts not increasing at frame %d: %s -> %s (%s)" % (i, pts[i - 1], pts[i], p.describe())


def assert_audio_present(p: Probe, minimum: int) -> None:
    assert p.audio_count >= minimum, "expected >= %d audio packets: %s" % (minimum, p.describe())


def assert_complete_stream(p: Probe, clip, tolerance: int = 3) -> None:
    """A player that was there from the start got the whole clip, in order."""
    assert_h264_aac(p)
    assert_frame_count(p, clip.video_frames, tolerance)
    assert_first_video_keyframe(p)
    assert_pts_increasing(p)
    # audio: same tolerance scaled to the audio packet rate (~43/s vs 25/s)
    assert abs(p.audio_count - clip.audio_packets) <= 2 * tolerance + 2, \
        "expected ~%d audio packets: %s" % (clip.audio_packets, p.describe())
