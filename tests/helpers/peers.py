"""Real RTMP peers (ffmpeg, rtmpdump, gst-launch-1.0) as tracked processes.

Command lines verified against nginx-rtmp (see tests/e2e/README.md for what each
peer does when the publisher leaves)."""
from typing import List, Optional, Sequence

from .procs import Peer, ProcessTracker

FFMPEG = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats"]


def ffmpeg_publish(tracker: ProcessTracker, url: str, clip_path: str, loop: bool = False,
                   realtime: bool = True, duration: Optional[float] = None,
                   loglevel: str = "info", name: str = "ffmpeg-pub") -> Peer:
    """ffmpeg [-re] [-stream_loop -1] -i CLIP -c copy -f flv URL"""
    cmd = FFMPEG + ["-loglevel", loglevel]
    if realtime:
        cmd += ["-re"]
    if loop:
        cmd += ["-stream_loop", "-1"]
    cmd += ["-i", clip_path]
    if duration is not None:
        cmd += ["-t", str(duration)]
    cmd += ["-c", "copy", "-f", "flv", url]
    return tracker.spawn(name, cmd)


def ffmpeg_play(tracker: ProcessTracker, url: str, out: str, duration: Optional[float] = None,
                frames: Optional[int] = None, name: str = "ffmpeg-play",
                extra_input: Sequence[str] = ()) -> Peer:
    """ffmpeg -i URL -c copy [-t N | -frames:v N] -f flv OUT

    ffmpeg's RTMP client ends (exit 0, file finalised) on onStatus
    NetStream.Play.Stop or NetStream.Play.UnpublishNotify."""
    cmd = FFMPEG + ["-loglevel", "info", "-y", *extra_input, "-i", url, "-c", "copy"]
    if duration is not None:
        cmd += ["-t", str(duration)]
    if frames is not None:
        cmd += ["-frames:v", str(frames)]
    cmd += ["-f", "flv", out]
    return tracker.spawn(name, cmd, out=out)


def rtmpdump_play(tracker: ProcessTracker, url: str, out: str, stop: Optional[float] = None,
                  name: str = "rtmpdump") -> Peer:
    """rtmpdump -r URL --live -o OUT [-B STOP]  (librtmp ends on UnpublishNotify/Play.Stop)."""
    cmd = ["rtmpdump", "-q", "-r", url, "--live", "-o", out]
    if stop is not None:
        cmd += ["-B", str(stop)]
    return tracker.spawn(name, cmd, out=out)


def gst_publish(tracker: ProcessTracker, url: str, clip_path: str, name: str = "gst-pub") -> Peer:
    """Publish an H.264+AAC FLV without re-encoding; rtmp2sink paces it in real time.

    gst-launch-1.0 -e filesrc location=CLIP ! flvdemux name=d
      d.video ! queue ! h264parse ! mux.  d.audio ! queue ! aacparse ! mux.
      flvmux name=mux streamable=true ! rtmp2sink location=URL"""
    cmd = ["gst-launch-1.0", "-e", "filesrc", "location=" + clip_path, "!", "flvdemux", "name=d",
           "d.video", "!", "queue", "!", "h264parse", "!", "mux.",
           "d.audio", "!", "queue", "!", "aacparse", "!", "mux.",
           "flvmux", "name=mux", "streamable=true", "!", "rtmp2sink", "location=" + url]
    return tracker.spawn(name, cmd)


def gst_play(tracker: ProcessTracker, url: str, out: str, num_buffers: int = -1,
             name: str = "gst-play") -> Peer:
    """gst-launch-1.0 -e rtmp2src location=URL [num-buffers=N] ! filesink location=OUT

    rtmp2src outputs FLV as it comes (header + tags), so the file is the stream. It
    goes EOS (exit 0) on UserControl StreamEOF from the server."""
    src = ["rtmp2src", "location=" + url]
    if num_buffers >= 0:
        src.append("num-buffers=%d" % num_buffers)
    cmd = ["gst-launch-1.0", "-e", *src, "!", "filesink", "location=" + out]
    return tracker.spawn(name, cmd, out=out)


def ffmpeg_first_frame(tracker: ProcessTracker, url: str, out: str, name: str = "ffmpeg-1frame") -> Peer:
    """Ends as soon as one video frame is received (-frames:v 1): time-to-first-frame probe."""
    return ffmpeg_play(tracker, url, out, frames=1, name=name)


def wait_all(peers: List[Peer], timeout: float) -> List[int]:
    import time
    deadline = time.monotonic() + timeout
    return [p.wait(max(0.1, deadline - time.monotonic())) for p in peers]
