"""SessionJournal: every session a gating hook opened, kept on disk until its closing hook is queued.

A client that passed on_connect is owed on_close; a publisher that passed on_publish, on_unpublish; a player
(RTMP, HTTP-FLV or HLS) that passed on_play, on_stop. When the process dies without closing them (SIGKILL,
OOM, power loss), the next start finds them here and sends what each is owed, with the bytes counted up to
the last journal update. Same database as the outbox.
"""
import dataclasses
import json
import sqlite3
from typing import Iterable, List, Tuple

from srsish.app.hooks.events import HookContext
from srsish.app.hooks.outbox import transaction

# The hook that opens a session, the kind of session, and the hook that closes it.
OPENS = {"on_connect": "connect", "on_publish": "publish", "on_play": "play"}
CLOSES = {"on_close": "connect", "on_unpublish": "publish", "on_stop": "play"}
OWED = {"connect": "on_close", "publish": "on_unpublish", "play": "on_stop"}


class SessionJournal:
    """The sessions table: open, close, update byte counters, list what a crash left open."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def open(self, kind: str, ctx: HookContext, now: float) -> None:
        context = json.dumps(dataclasses.asdict(ctx), ensure_ascii=False)
        with transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO sessions (client_id, kind, vhost, context, send_bytes, recv_bytes,"
                            " opened) VALUES (?,?,?,?,?,?,?)",
                            (ctx.client_id, kind, ctx.vhost, context, ctx.send_bytes, ctx.recv_bytes, now))

    def close(self, kind: str, client_id: str) -> None:
        with transaction(self.db):
            self.db.execute("DELETE FROM sessions WHERE client_id=? AND kind=?", (client_id, kind))

    def update_bytes(self, counters: Iterable[Tuple[str, int, int]]) -> None:
        """(client id, send bytes, recv bytes) of live clients, in one transaction."""
        with transaction(self.db):
            self.db.executemany("UPDATE sessions SET send_bytes=?, recv_bytes=? WHERE client_id=?",
                                [(send, recv, cid) for cid, send, recv in counters])

    def left_open(self) -> List[Tuple[str, HookContext]]:
        """(kind, context with the last bytes) of every session still open, per client the stream ones
        (publish, play) before its connection, oldest client first."""
        rows = self.db.execute(
            "SELECT kind, context, send_bytes, recv_bytes FROM sessions ORDER BY opened, client_id,"
            " CASE kind WHEN 'connect' THEN 1 ELSE 0 END").fetchall()
        out = []
        for kind, context, send, recv in rows:
            try:
                fields = json.loads(context)
                ctx = HookContext(**{f.name: fields[f.name] for f in dataclasses.fields(HookContext)
                                     if f.name in fields})
            except (ValueError, TypeError):
                continue
            ctx.send_bytes, ctx.recv_bytes = send, recv
            out.append((kind, ctx))
        by_client: dict = {}
        for kind, ctx in out:
            by_client.setdefault(ctx.client_id, []).append((kind, ctx))
        ordered = []
        for entries in by_client.values():
            ordered.extend(sorted(entries, key=lambda e: e[0] == "connect"))
        return ordered

    def clear(self) -> None:
        with transaction(self.db):
            self.db.execute("DELETE FROM sessions")
