"""GopCache: the messages since the last video keyframe, so a new player starts on a keyframe at once."""
from typing import List

from srsish.kernel.message import SharedMessage

# SRS calls a stream pure audio once this many audio messages arrive with no video.
PURE_AUDIO_GUESS_COUNT = 115


class GopCache:
    """The messages since the last video keyframe, so a new player starts on a keyframe at once."""

    def __init__(self, enabled: bool = True, max_frames: int = 2500) -> None:
        self.enabled = enabled
        self.max_frames = max_frames
        self.messages: List[SharedMessage] = []
        self._audio_after_video = 0

    def cache(self, msg: SharedMessage) -> None:
        if not self.enabled:
            return
        if msg.is_video:
            if msg.is_keyframe:
                self.messages = []
            self._audio_after_video = 0
        elif msg.is_audio:
            self._audio_after_video += 1
            if self._audio_after_video > PURE_AUDIO_GUESS_COUNT:
                self.messages.clear()
                return
        if msg.is_video and not self.messages and not msg.is_keyframe:
            return  # never start a cache on a delta frame
        self.messages.append(msg)
        if len(self.messages) > self.max_frames:
            self.messages.clear()

    def clear(self) -> None:
        self.messages = []
        self._audio_after_video = 0
