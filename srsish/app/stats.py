"""Statistic: byte counters sampled over time, giving SRS's 30-second kbps figures for the API."""
from collections import deque
from typing import Callable, Deque, Dict, Iterable, Tuple

WINDOW_S = 30.0


class Kbps:
    """Send/recv rates over the last 30 s from (time, send_bytes, recv_bytes) samples."""

    def __init__(self) -> None:
        self.samples: Deque[Tuple[float, int, int]] = deque()

    def sample(self, now: float, send_bytes: int, recv_bytes: int) -> None:
        self.samples.append((now, send_bytes, recv_bytes))
        while len(self.samples) > 2 and now - self.samples[1][0] >= WINDOW_S:
            self.samples.popleft()

    def rates(self) -> Dict[str, int]:
        if len(self.samples) < 2:
            return {"recv_30s": 0, "send_30s": 0}
        (t0, s0, r0), (t1, s1, r1) = self.samples[0], self.samples[-1]
        dt = max(t1 - t0, 1e-3)
        return {"recv_30s": int((r1 - r0) * 8 / 1000 / dt), "send_30s": int((s1 - s0) * 8 / 1000 / dt)}


class Statistic:
    """Kbps per id (client, stream, vhost), fed by the app every few seconds with plain numbers."""

    def __init__(self) -> None:
        self.kbps: Dict[str, Kbps] = {}
        self.cpu_percent = 0.0   # this process, over the last sampling interval

    def sample(self, now: float, counters: Iterable[Tuple[str, int, int]]) -> None:
        seen = set()
        for key, send, recv in counters:
            seen.add(key)
            k = self.kbps.get(key)
            if k is None:
                k = self.kbps[key] = Kbps()
            k.sample(now, send, recv)
        for key in list(self.kbps):
            if key not in seen:
                del self.kbps[key]

    def rates(self, key: str) -> Dict[str, int]:
        k = self.kbps.get(key)
        return k.rates() if k else {"recv_30s": 0, "send_30s": 0}


class VhostIds:
    """A stable `vid-` id per vhost name, as SRS's API lists vhosts (made on first use)."""

    def __init__(self, new_id: Callable[[], str]) -> None:
        self._new_id = new_id
        self._ids: Dict[str, str] = {}

    def __call__(self, name: str) -> str:
        vid = self._ids.get(name)
        if vid is None:
            vid = self._ids[name] = self._new_id()
        return vid
