"""DeliveryCounts: hook deliveries since start counted by action and outcome (the exporter's srsish_hook_deliveries_total).

Actions are SRS's (`on_publish`, `on_close`, ...) and the dialects' (`lal:on_pub_start`, `xiu:on_publish`), a
bounded set. A gating hook's outcomes are GATE_OUTCOMES; a notification's are NOTIFY_OUTCOMES. The first count
of an action makes every outcome of its kind exist at zero, so a scraper sees a series before its first event.
"""
from typing import Dict, Iterator, Tuple

__all__ = ["DeliveryCounts", "GATE_OUTCOMES", "NOTIFY_OUTCOMES"]

# accepted: the URL said yes; refused: it answered no; failed: no HTTP answer (refused connection, timeout, TLS).
GATE_OUTCOMES = ("accepted", "refused", "failed")
# delivered: the URL accepted the event; retried: accepted after at least one failed attempt (also delivered);
# failed: one attempt that failed (no answer, or an answer SRS's rules judge a failure), to be retried;
# expired: given up after the retry window.
NOTIFY_OUTCOMES = ("delivered", "retried", "failed", "expired")


class DeliveryCounts:
    """Counters by (action, outcome), kept in memory since start."""

    def __init__(self) -> None:
        self._counts: Dict[str, Dict[str, int]] = {}

    def gate(self, action: str, outcome: str) -> None:
        """One gating call (on_connect, on_publish, on_play, xiu:on_publish) to one URL ended with `outcome`."""
        self._add(action, outcome, GATE_OUTCOMES)

    def notify(self, action: str, outcome: str) -> None:
        """One notification to one URL reached `outcome` (an attempt failed, it was delivered, retried, expired)."""
        self._add(action, outcome, NOTIFY_OUTCOMES)

    def _add(self, action: str, outcome: str, outcomes: Tuple[str, ...]) -> None:
        if outcome not in outcomes:
            raise ValueError(f"hook outcome {outcome!r} is none of {', '.join(outcomes)}")
        counts = self._counts.get(action)
        if counts is None:
            counts = self._counts[action] = dict.fromkeys(outcomes, 0)
        counts[outcome] = counts.get(outcome, 0) + 1

    def get(self, action: str, outcome: str) -> int:
        return self._counts.get(action, {}).get(outcome, 0)

    def __iter__(self) -> Iterator[Tuple[str, str, int]]:
        """(action, outcome, count), sorted by action, outcomes in their kind's order."""
        for action in sorted(self._counts):
            for outcome, n in list(self._counts[action].items()):
                yield action, outcome, n
