"""The edge device's outbox: every event is written to a local SQLite file before it is sent.

An event stays `pending` until the server has answered for it: `sent` (accepted or a duplicate,
with the server's row id) or `parked` (rejected, with the server's reasons). Nothing is ever
deleted, and the file outlives restarts of the device and of the server.
"""

import json
import secrets
import sqlite3
import time
from contextlib import contextmanager

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'parked')),
    attempts INTEGER NOT NULL DEFAULT 0,
    server_id INTEGER,
    errors TEXT,
    created_at_ms INTEGER NOT NULL,
    done_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (status, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# ON CONFLICT, not OR IGNORE: a replayed event_id is skipped, but any other failure still raises.
ADD_SQL = "INSERT INTO outbox (event_id, body, created_at_ms) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
PENDING_SQL = "SELECT seq, body FROM outbox WHERE status = 'pending' ORDER BY seq LIMIT ?"
COUNT_ATTEMPT_SQL = "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?"
MARK_SENT_SQL = "UPDATE outbox SET status = 'sent', server_id = ?, done_at_ms = ? WHERE seq = ?"
PARK_SQL = "UPDATE outbox SET status = 'parked', errors = ?, done_at_ms = ? WHERE seq = ?"
COUNTS_SQL = "SELECT status, COUNT(*) FROM outbox GROUP BY status"
PARKED_SQL = "SELECT event_id, body, errors FROM outbox WHERE status = 'parked' ORDER BY seq"
GET_META_SQL = "SELECT value FROM meta WHERE key = ?"
SET_META_SQL = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"


def new_event_id(device_id, now_ns=None):
    """A fresh `event_id` as the edge client gives every event it did not get one for: the
    device's name, then the time in milliseconds and 80 random bits in hex (time first, as in a
    version-7 UUID). Ids from many devices never collide, and one device's ids rise with the
    millisecond they were made in, so the server adds each device's new ids next to its previous
    ones in its index of ids, a few pages a batch, not at random places, a page an event."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    return f"{device_id}-{now_ns // 1_000_000:012x}{secrets.token_hex(10)}"


class Outbox:
    """A durable queue of events on one SQLite file."""

    def __init__(self, path, device_id="edge"):
        self.device_id = device_id
        self.conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")  # an acknowledged add survives power loss
        self.conn.executescript(SCHEMA_SQL)

    def close(self):
        self.conn.close()

    def add(self, events):
        """Store events (dicts) for sending; give each without an `event_id` a fresh one.

        Adding an event whose `event_id` is already in the outbox changes nothing, so a device
        that replays its source after a restart does not send anything twice. Returns the ids.
        An event JSON cannot carry (a `NaN` or infinite number) raises `ValueError` and none of
        `events` is added: the server could never read a batch holding it.
        """
        now_ms = time.time_ns() // 1_000_000
        rows, ids = [], []
        for index, event in enumerate(events):
            event = dict(event)
            if not event.get("event_id"):
                event["event_id"] = new_event_id(self.device_id)
            ids.append(event["event_id"])
            try:
                text = json.dumps(event, separators=(",", ":"), allow_nan=False)
            except ValueError as problem:
                raise ValueError(f"event {index} cannot be sent as JSON: {problem}") from None
            rows.append((event["event_id"], text, now_ms))
        with self._transaction():
            self.conn.executemany(ADD_SQL, rows)
        return ids

    @contextmanager
    def _transaction(self):
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def pending(self, limit):
        """The oldest pending events: `(seq, event dict)`."""
        return [(seq, json.loads(body)) for seq, body in self.conn.execute(PENDING_SQL, (limit,))]

    def record(self, attempted, outcomes):
        """Save the server's answer: count the attempt, then `("sent", id)` or `("parked", errors)`.

        `outcomes` maps seq to its outcome; sequences without one stay pending.
        """
        now_ms = time.time_ns() // 1_000_000
        with self._transaction():
            self.conn.executemany(COUNT_ATTEMPT_SQL, [(seq,) for seq in attempted])
            for seq, (status, detail) in outcomes.items():
                if status == "sent":
                    self.conn.execute(MARK_SENT_SQL, (detail, now_ms, seq))
                else:
                    self.conn.execute(PARK_SQL, (json.dumps(detail), now_ms, seq))

    def counts(self):
        """`{"pending": n, "sent": n, "parked": n}`."""
        counts = dict.fromkeys(("pending", "sent", "parked"), 0)
        counts.update(dict(self.conn.execute(COUNTS_SQL).fetchall()))
        return counts

    def parked(self):
        """Rejected events with the server's reasons: `(event_id, event dict, errors)`."""
        return [(event_id, json.loads(body), json.loads(errors))
                for event_id, body, errors in self.conn.execute(PARKED_SQL)]

    def get_meta(self, key):
        row = self.conn.execute(GET_META_SQL, (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key, value):
        self.conn.execute(SET_META_SQL, (key, str(value)))
