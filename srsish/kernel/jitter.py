"""SRS's timestamp correction (time_jitter full/zero/off) as a pure class."""

# SRS treats a jump of more than this between two messages as a broken timestamp...
MAX_JITTER_MS = 250
# ...and replaces it with one frame's worth of time.
DEFAULT_FRAME_TIME_MS = 10


class Jitter:
    """`full`: timestamps start near 0 and never jump; `zero`: start at 0; `off`: untouched."""

    def __init__(self, mode: str = "full") -> None:
        if mode not in ("full", "zero", "off"):
            raise ValueError(f"time_jitter must be full, zero or off, not {mode!r}")
        self.mode = mode
        self._last_in = -1
        self._last_out = 0
        self._base = -1

    def correct(self, timestamp: int) -> int:
        if self.mode == "off":
            return timestamp
        if self.mode == "zero":
            if self._base < 0:
                self._base = timestamp
            return max(0, timestamp - self._base)
        if self._last_in < 0:
            delta = 0
        else:
            delta = timestamp - self._last_in
            if delta < -MAX_JITTER_MS or delta > MAX_JITTER_MS:
                delta = DEFAULT_FRAME_TIME_MS
        self._last_in = timestamp
        self._last_out = max(0, self._last_out + delta)
        return self._last_out
