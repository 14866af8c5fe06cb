"""PlayerDrops: players that fell behind, counted per event (the exporter's srsish_players_dropped_total).

A player's Consumer tells it when its queue is cut back (SRS's whole-GOP shrink) and its writer when the
player is cut off for taking no bytes for the send timeout. Nothing here runs per message: the shrink is
already the rare branch, and it reports how many messages it cut in one call.
"""
from typing import Dict

__all__ = ["PlayerDrops", "REASONS"]

# shrink: the player's queue was cut back at least once (counted once per player);
# send_timeout: the player took no bytes for the send timeout and was disconnected.
REASONS = ("shrink", "send_timeout")


class PlayerDrops:
    """Counters since start: players by reason, and media messages cut from players' queues."""

    def __init__(self) -> None:
        self.players: Dict[str, int] = dict.fromkeys(REASONS, 0)
        self.messages = 0

    def shrunk(self, first: bool, messages: int) -> None:
        """A player's queue was cut back by `messages` media messages; `first` when it is that player's first cut."""
        if first and messages:
            self.players["shrink"] += 1
        self.messages += messages

    def cut_off(self, reason: str) -> None:
        """A player was disconnected for being slow (`send_timeout`)."""
        if reason not in self.players:
            raise ValueError(f"player drop reason {reason!r} is none of {', '.join(REASONS)}")
        self.players[reason] += 1
