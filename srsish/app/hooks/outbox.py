"""Outbox: notifications stored on disk (SQLite, WAL) before they count as sent, so none is lost to a down backend or a crash.

One row per (event, URL). A row leaves the outbox when its URL accepted it, or when it is older than its
retry window (expired: logged and counted, never silently dropped). Counters per URL are kept since start.
Time is passed in (`now`, wall-clock seconds) so the scheduling rules are testable without a clock.

Ordering: rows of one client to one backend (scheme://host:port) are delivered in the order they were
added: `heads` never hands out a row while an older row of the same client and backend is pending, unless
that older row was refused by an HTTP answer (the backend is up and said no to that one event: it must not
hold the client's other events hostage). Different backends never wait for each other.
"""
import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence
from urllib.parse import urlsplit

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    url         TEXT NOT NULL,
    backend     TEXT NOT NULL,
    body        BLOB NOT NULL,
    timeout     REAL NOT NULL,
    tls_verify  INTEGER NOT NULL,
    secret      TEXT NOT NULL,
    recovered   INTEGER NOT NULL,
    created     REAL NOT NULL,
    window      REAL NOT NULL,
    max_delay   REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    answered    INTEGER NOT NULL DEFAULT 0,
    next_at     REAL NOT NULL,
    last_error  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS deliveries_by_url ON deliveries (url, seq);
CREATE INDEX IF NOT EXISTS deliveries_by_client ON deliveries (client_id, backend, seq);
CREATE TABLE IF NOT EXISTS sessions (
    client_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    vhost       TEXT NOT NULL,
    context     TEXT NOT NULL,
    send_bytes  INTEGER NOT NULL DEFAULT 0,
    recv_bytes  INTEGER NOT NULL DEFAULT 0,
    opened      REAL NOT NULL,
    PRIMARY KEY (client_id, kind)
);
"""

COUNTERS = ("delivered", "retried", "failed", "expired", "accepted", "refused")


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One atomic write (BEGIN ... COMMIT); inside another transaction it simply joins it."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class OutboxError(Exception):
    """The outbox database cannot be opened or used; the message names the path and the cause."""


@dataclass(frozen=True)
class Delivery:
    """One notification to one URL, as stored."""
    seq: int
    event_id: str
    action: str
    client_id: str
    url: str
    body: bytes
    timeout: float
    tls_verify: bool
    secret: str          # signs each attempt; never logged
    recovered: bool
    created: float
    window: float
    max_delay: float
    attempts: int
    next_at: float


def backend_of(url: str) -> str:
    """`scheme://host:port` of a hook URL: the unit whose per-client order the outbox keeps."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"
    except ValueError:
        return url


def ordering_key(action: str, url: str) -> str:
    """The unit whose per-client order the outbox keeps: the backend, one lane per dialect (`lal:on_pub_start`
    is in lane `lal`), so one format's events never wait for another's."""
    lane = action.partition(":")[0] + " " if ":" in action else ""
    return lane + backend_of(url)


def check_path(path: str) -> Optional[str]:
    """Why the outbox at `path` could not be opened, without creating anything (for `srsish -t`); None if it can."""
    if os.path.exists(path):
        if os.path.isdir(path):
            return f"hook outbox {path}: is a folder"
        return None if os.access(path, os.R_OK | os.W_OK) else f"hook outbox {path}: not readable and writable"
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        return f"hook outbox {path}: {folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"hook outbox {path}: cannot write in {folder}"
    return None


def open_database(path: str, log=None) -> sqlite3.Connection:
    """Open (or make) the database at `path` in WAL mode; a corrupt file is moved aside and a fresh one made.

    Raises OutboxError when the path cannot be opened at all (a missing folder that cannot be made, no
    permission): a start-up error, not something to run without.
    """
    folder = os.path.dirname(path) or "."
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutboxError(f"hook outbox {path}: cannot make folder {folder}: {e.strerror}") from None
    try:
        return _open(path)
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.OperationalError) and "unable to open" in str(e):
            raise OutboxError(f"hook outbox {path}: cannot open: {e}") from None
        aside = f"{path}.corrupt-{int(time.time())}"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, aside + suffix)
        if log is not None:
            log.error("hook outbox %s is corrupt (%s): moved aside to %s, starting a fresh one", path, e, aside)
        try:
            return _open(path)
        except sqlite3.DatabaseError as e2:
            raise OutboxError(f"hook outbox {path}: cannot open: {e2}") from None


def _open(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed row survives a killed process; only a power loss may lose
        # the last commits (the database stays consistent).
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        db.execute("SELECT count(*) FROM deliveries").fetchone()
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("quick_check failed")
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


class Outbox:
    """The deliveries table: add events, hand out what is due, record outcomes, count per URL."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.counters: Dict[str, Dict[str, int]] = {}

    def add(self, event_id: str, action: str, client_id: str, urls: Sequence[str], body: bytes, *,
            timeout: float, tls_verify: bool, secret: str, window: float, max_delay: float, now: float,
            recovered: bool = False) -> None:
        """Store one event for each of its URLs, in one transaction (before the event counts as sent)."""
        with transaction(self.db):
            self.db.executemany(
                "INSERT INTO deliveries (event_id, action, client_id, url, backend, body, timeout, tls_verify, secret,"
                " recovered, created, window, max_delay, next_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(event_id, action, client_id, url, ordering_key(action, url), body, timeout, int(tls_verify),
                  secret or "",
                  int(recovered), now, window, max_delay, now) for url in urls])

    def drop(self, action: str, url: str) -> int:
        """Forget what is pending of `action` to `url` (a heartbeat replaced by the next one)."""
        with transaction(self.db):
            return self.db.execute("DELETE FROM deliveries WHERE action=? AND url=?", (action, url)).rowcount

    def urls(self) -> List[str]:
        """Every URL with something pending."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT url FROM deliveries")]

    def urls_after(self, d: "Delivery") -> List[str]:
        """The URLs holding later rows of `d`'s client on `d`'s backend: they may move once `d` is gone."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT url FROM deliveries WHERE client_id=? AND backend=? AND seq>?",
            (d.client_id, ordering_key(d.action, d.url), d.seq))]

    def pending(self, url: Optional[str] = None) -> int:
        if url is None:
            return self.db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM deliveries WHERE url=?", (url,)).fetchone()[0]

    def heads(self, url: str, limit: int = 200) -> List[Delivery]:
        """The rows of `url` that may go now as far as order goes (see the module docstring)."""
        rows = self.db.execute(
            "SELECT seq, event_id, action, client_id, url, body, timeout, tls_verify, secret, recovered, created,"
            " window, max_delay, attempts, next_at FROM deliveries d WHERE url=? AND NOT EXISTS ("
            " SELECT 1 FROM deliveries e WHERE e.client_id=d.client_id AND e.backend=d.backend AND e.seq<d.seq"
            " AND (e.answered=0 OR e.url=d.url))"
            " ORDER BY seq LIMIT ?", (url, limit)).fetchall()
        return [Delivery(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], bool(r[7]), r[8], bool(r[9]), r[10],
                         r[11], r[12], r[13], r[14]) for r in rows]

    def delivered(self, d: Delivery) -> None:
        self.db.execute("DELETE FROM deliveries WHERE seq=?", (d.seq,))
        self.count(d.url, "delivered")
        if d.attempts > 0:
            self.count(d.url, "retried")

    def failed(self, d: Delivery, error: str, next_at: float, answered: bool) -> None:
        """An attempt failed (`answered`: the backend answered and refused): try again at `next_at`."""
        with transaction(self.db):
            self.db.execute("UPDATE deliveries SET attempts=attempts+1, answered=?, next_at=?, last_error=?"
                            " WHERE seq=?", (int(answered), next_at, error[:500], d.seq))
        self.count(d.url, "failed")

    def expire(self, d: Delivery) -> None:
        """Past its retry window: removed and counted as expired (the caller logs it)."""
        self.db.execute("DELETE FROM deliveries WHERE seq=?", (d.seq,))
        self.count(d.url, "expired")

    def count(self, url: str, what: str) -> None:
        """Add one to a counter of `url` (gating hooks count accepted/refused/failed here too)."""
        counts = self.counters.get(url)
        if counts is None:
            counts = self.counters[url] = dict.fromkeys(COUNTERS, 0)
        counts[what] += 1

    def stats(self) -> Dict[str, Dict[str, int]]:
        """Per URL: pending, delivered, retried (delivered after a failure), failed attempts, expired."""
        out: Dict[str, Dict[str, int]] = {}
        for url, n in self.db.execute("SELECT url, count(*) FROM deliveries GROUP BY url"):
            out.setdefault(url, dict.fromkeys(("pending",) + COUNTERS, 0))["pending"] = n
        for url, counts in self.counters.items():
            out.setdefault(url, dict.fromkeys(("pending",) + COUNTERS, 0)).update(counts)
        return out
