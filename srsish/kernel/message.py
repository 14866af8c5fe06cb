"""SharedMessage: one published message, its codec flags, and encodings cached for every player."""
from typing import Any, Dict, Tuple

from srsish.kernel import codec

MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_DATA = 18

# How many receiver-specific renderings one message keeps (see SharedMessage.renderings). Players that
# joined together share one; past this many distinct views a player renders its own bytes, so a
# crowd of viewers that each joined at a different moment costs today's per-player work, not memory.
MAX_RENDERINGS = 32


class SharedMessage:
    """An immutable published message shared by every consumer.

    `timestamp` is already corrected by the source's jitter. Encodings that do not depend on
    the receiver (the RTMP chunk tail per chunk size, later the FLV tag tail) are cached in
    `cache` by whoever needs them first, so N players cost one encoding.

    `renderings` holds whole encodings (headers included) keyed by what makes them differ between
    receivers, e.g. (chunk size, stream id, the player's timestamp): players that see the message at
    the same timestamp share the bytes, and a player's wake-up is a dict lookup per message.
    """
    __slots__ = ("type_id", "timestamp", "payload", "is_video", "is_audio", "is_keyframe",
                 "is_sequence_header", "cache", "renderings")

    def __init__(self, type_id: int, timestamp: int, payload: bytes) -> None:
        self.type_id = type_id
        self.timestamp = timestamp
        self.payload = payload
        self.is_video = type_id == MSG_VIDEO
        self.is_audio = type_id == MSG_AUDIO
        if self.is_video:
            self.is_sequence_header = codec.video_is_sequence_header(payload)
            self.is_keyframe = not self.is_sequence_header and codec.video_is_keyframe(payload)
        elif self.is_audio:
            self.is_sequence_header = codec.audio_is_sequence_header(payload)
            self.is_keyframe = False
        else:
            self.is_sequence_header = False
            self.is_keyframe = False
        self.cache: Dict[Tuple, bytes] = {}
        self.renderings: Dict[Any, Tuple[bytes, ...]] = {}

    def share(self, key: Any, rendering: Tuple[bytes, ...]) -> Tuple[bytes, ...]:
        """Keep `rendering` for other receivers with the same `key` (up to MAX_RENDERINGS); returns it."""
        if len(self.renderings) < MAX_RENDERINGS:
            self.renderings[key] = rendering
        return rendering

    def __repr__(self) -> str:
        return f"SharedMessage(type={self.type_id}, ts={self.timestamp}, len={len(self.payload)})"
