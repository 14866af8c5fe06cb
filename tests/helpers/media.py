"""Test media, made once per session with ffmpeg (lavfi testsrc2 + sine, no inputs)."""
import json
import os
import subprocess
from dataclasses import dataclass

FPS = 25


@dataclass(frozen=True)
class Clip:
    path: str
    seconds: float
    gop_frames: int
    video_frames: int
    audio_packets: int

    @property
    def gop_seconds(self) -> float:
        return self.gop_frames / FPS


def make_clip(path: str, seconds: float, gop_frames: int, size: str = "320x240",
              extra_video: tuple = (), timeout: float = 60.0) -> Clip:
    """An FLV clip: testsrc2 SIZE at 25 fps, H.264 (x264 veryfast, fixed GOP of
    `gop_frames`, no B-frames) + AAC-LC 44.1 kHz mono 440 Hz sine."""
    tmp = path + ".tmp.flv"
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", "testsrc2=size=%s:rate=%d" % (size, FPS),
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
           "-t", str(seconds),
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
           "-g", str(gop_frames), "-keyint_min", str(gop_frames), "-sc_threshold", "0", "-bf", "0",
           *extra_video,
           "-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-ac", "1",
           "-f", "flv", tmp]
    subprocess.run(cmd, check=True, timeout=timeout, stdin=subprocess.DEVNULL)
    os.replace(tmp, path)
    counts = _count_packets(path)
    return Clip(path, seconds, gop_frames, counts.get("video", 0), counts.get("audio", 0))


def _count_packets(path: str) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                          "stream=codec_type,nb_read_packets", "-of", "json", path],
                         check=True, timeout=30, stdout=subprocess.PIPE, text=True).stdout
    return {s["codec_type"]: int(s["nb_read_packets"]) for s in json.loads(out)["streams"]}


@dataclass(frozen=True)
class MediaSet:
    """clip: 6 s, 1 s GOP (150 frames) - the standard published stream.
    short: 3 s, 1 s GOP (75 frames) - for sessions that stop and start again.
    gop3: 6 s, 3 s GOP - looped endlessly for mid-stream joins (GOP cache checks).
    heavy: 4 s 1280x720 high-bitrate (~2 MB/s), 1 s GOP - to fill a stalled socket fast."""
    dir: str
    clip: Clip
    short: Clip
    gop3: Clip
    heavy: Clip


def make_media(dir: str) -> MediaSet:
    os.makedirs(dir, exist_ok=True)
    j = os.path.join
    return MediaSet(
        dir=dir,
        clip=make_clip(j(dir, "clip.flv"), 6, 25),
        short=make_clip(j(dir, "short.flv"), 3, 25),
        gop3=make_clip(j(dir, "gop3.flv"), 6, 75),
        heavy=make_clip(j(dir, "heavy.flv"), 4, 25, size="1280x720",
                        extra_video=("-preset", "ultrafast", "-qp", "8")),
    )
