"""Statistics: kbps from sampled byte counters (SRS's 30-second figures), vhost ids, and the live streams described as plain data."""
from collections import deque
from typing import Callable, Deque, Dict, Iterable, List, Tuple

from srsish.kernel import codec
from srsish.protocol import amf0

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


def live_streams(sources: Iterable, players_by_source: Dict, rates: Callable[[str], Dict[str, int]]) -> List[dict]:
    """Every stream with a publisher or players, as plain dicts (what lal's on_update reports)."""
    def session(c) -> dict:
        r = rates(c.id)
        return {"id": c.id, "protocol": "http-flv" if "flv" in c.describe()["type"] else "rtmp", "ip": c.ip,
                "port": getattr(c, "port", 0), "created": c.created, "send_bytes": c.send_bytes,
                "recv_bytes": c.recv_bytes, "send_kbps": r["send_30s"], "recv_kbps": r["recv_30s"]}

    out = []
    for src in sources:
        pub = src.publisher if src.is_publishing else None
        subs = players_by_source.get(src, [])
        if pub is None and not subs:
            continue
        meta = amf0.first_object(src.metadata.payload) if src.metadata is not None else {}
        out.append({"app": src.app, "stream": src.stream,
                    "audio_codec": codec.audio_codec_name(src.audio_sh.payload) if src.audio_sh else "",
                    "video_codec": codec.video_codec_name(src.video_sh.payload) if src.video_sh else "",
                    "width": _whole(meta.get("width")), "height": _whole(meta.get("height")),
                    "publisher": session(pub) if pub is not None else None,
                    "players": [session(c) for c in subs]})
    return out


def _whole(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
