"""The local broker's durable queue: one SQLite row per pending delivery.

An event is acknowledged (202) only after its deliveries are committed, and
a delivery row is deleted only in the same transaction that stores what its
reply produced, so a broker killed at any moment loses nothing it accepted.
Rows that were in flight when it died are delivered again at the next start
(at least once: the stages are idempotent).
"""

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    route TEXT NOT NULL,
    target TEXT NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    dead_letter INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    accepted_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX IF NOT EXISTS due ON deliveries (state, next_at);
"""


@dataclass(frozen=True)
class Delivery:
    """One event owed to one target."""

    id: int
    route: str
    target: str
    event: str
    """The event in structured JSON form."""
    attempts: int
    dead_letter: bool
    accepted_at: float


class Journal:
    """Thread-safe access to the deliveries table (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("UPDATE deliveries SET state='pending' WHERE state='inflight'")

    def add(self, deliveries: list[tuple[str, str, str]], *, done: int | None = None) -> None:
        """Commit ``(route, target, event)`` rows, deleting delivery ``done`` in the same step."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO deliveries (route, target, event, next_at, accepted_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(route, target, event, now, now) for route, target, event in deliveries])
                if done is not None:
                    self._db.execute("DELETE FROM deliveries WHERE id=?", (done,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def claim(self, limit: int) -> list[Delivery]:
        """Up to ``limit`` due deliveries, marked in flight."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                "SELECT id, route, target, event, attempts, dead_letter, accepted_at "
                "FROM deliveries WHERE state='pending' AND next_at<=? ORDER BY next_at LIMIT ?",
                (time.time(), limit)).fetchall()
            self._db.executemany("UPDATE deliveries SET state='inflight' WHERE id=?",
                                 [(row[0],) for row in rows])
            self._db.execute("COMMIT")
        return [Delivery(id=r[0], route=r[1], target=r[2], event=r[3], attempts=r[4],
                         dead_letter=bool(r[5]), accepted_at=r[6]) for r in rows]

    def retry_later(self, delivery_id: int, delay_s: float) -> None:
        """Count a failed attempt and make the delivery due again after ``delay_s``."""
        with self._lock:
            self._db.execute("UPDATE deliveries SET state='pending', attempts=attempts+1, "
                             "next_at=? WHERE id=?", (time.time() + delay_s, delivery_id))

    def dead_letter(self, delivery_id: int, target: str, event: str) -> None:
        """Turn a delivery that failed for good into one to the dead-letter sink."""
        with self._lock:
            self._db.execute("UPDATE deliveries SET state='pending', attempts=0, dead_letter=1, "
                             "target=?, event=?, next_at=? WHERE id=?",
                             (target, event, time.time(), delivery_id))

    def drop(self, delivery_id: int) -> None:
        """Forget a delivery (delivered with no reply, or given up on)."""
        with self._lock:
            self._db.execute("DELETE FROM deliveries WHERE id=?", (delivery_id,))

    def pending(self) -> int:
        """Deliveries not finished yet, in flight included."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]

    def next_due_in(self) -> float | None:
        """Seconds until the next pending delivery is due (``None`` when there is none)."""
        with self._lock:
            row = self._db.execute("SELECT MIN(next_at) FROM deliveries "
                                   "WHERE state='pending'").fetchone()
        return None if row[0] is None else max(0.0, row[0] - time.time())

    def close(self) -> None:
        """Close the database; rows stay for the next start."""
        with self._lock:
            self._db.close()
