"""SQLite connections and the schema, with in-place upgrades keyed on `PRAGMA user_version`."""

import os
import sqlite3
import threading
import time
from contextlib import contextmanager

from flask import current_app, g, request

# Each entry upgrades the schema by one version; the list index + 1 is the version it produces.
# Never edit a released entry: append a new one, so older database files upgrade in place.
MIGRATIONS = [
    # 1: the tables. Instants are integer UTC epoch milliseconds.
    """
    CREATE TABLE workers (
        worker_id TEXT PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE workstations (
        workstation_id TEXT PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        event_id TEXT,
        ts_ms INTEGER NOT NULL,
        worker_id TEXT NOT NULL REFERENCES workers (worker_id),
        workstation_id TEXT NOT NULL REFERENCES workstations (workstation_id),
        event_type TEXT NOT NULL
            CHECK (event_type IN ('working', 'idle', 'absent', 'product_count')),
        confidence REAL,
        count INTEGER,
        model_version TEXT,
        site_id TEXT,
        received_at_ms INTEGER NOT NULL
    );
    """,
    # 2: indexes for idempotency and for the time model's reads.
    """
    CREATE UNIQUE INDEX events_event_id ON events (event_id) WHERE event_id IS NOT NULL;
    -- One worker's events by time: the carry-in seek, the window scan, duplicate lookups.
    CREATE INDEX events_worker_time ON events (worker_id, ts_ms);
    -- All events of a window: window bounds, unit sums, event counts, the live feed.
    CREATE INDEX events_time ON events (ts_ms);
    CREATE INDEX events_site_time ON events (site_id, ts_ms) WHERE site_id IS NOT NULL;
    """,
    # 3: hourly roll-ups, derived from the events and rebuilt whenever an event changes an hour.
    # An hour counts as computed while it has a row in rollup_hours; ingestion deletes that row
    # for every hour a new event changes (its worker and station rows are replaced when the hour
    # is computed again).
    """
    CREATE TABLE rollup_hours (
        hour INTEGER PRIMARY KEY,
        events INTEGER NOT NULL
    );
    CREATE TABLE rollup_worker_hours (
        hour INTEGER NOT NULL,
        worker_id TEXT NOT NULL,
        working_ms INTEGER NOT NULL,
        idle_ms INTEGER NOT NULL,
        absent_ms INTEGER NOT NULL,
        units INTEGER NOT NULL,
        PRIMARY KEY (hour, worker_id)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_station_hours (
        hour INTEGER NOT NULL,
        workstation_id TEXT NOT NULL,
        occupancy_ms INTEGER NOT NULL,
        units INTEGER NOT NULL,
        PRIMARY KEY (hour, workstation_id)
    ) WITHOUT ROWID;
    """,
    # 4: a counter every change of the stored events moves on, for cheap ETags on the metrics.
    """
    CREATE TABLE data_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    );
    INSERT INTO data_version (id, generation) VALUES (1, 0);
    """,
    # 5: who and what appears at each site, kept on insert; cheaper to keep than an index of
    # every event by site, which each insert would have to maintain.
    """
    CREATE TABLE site_members (
        site_id TEXT NOT NULL,
        worker_id TEXT NOT NULL,
        workstation_id TEXT NOT NULL,
        PRIMARY KEY (site_id, worker_id, workstation_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO site_members (site_id, worker_id, workstation_id)
        SELECT DISTINCT site_id, worker_id, workstation_id FROM events WHERE site_id IS NOT NULL;
    DROP INDEX events_site_time;
    """,
    # 6: the time model reads one worker's state events only; product counts need not be in
    # that index, so every insert of one maintains a smaller index.
    """
    CREATE INDEX events_worker_states ON events (worker_id, ts_ms) WHERE event_type != 'product_count';
    DROP INDEX events_worker_time;
    """,
    # 7: one worker's state events by hour first, then worker and time. A batch of a live floor
    # then inserts into the few pages of the latest hours, not into one page per worker, which
    # was most of what storing a batch cost. A worker's events are found by a seek per hour; the
    # days on which each worker has state events, kept on insert, say which hours to look in.
    """
    CREATE TABLE worker_state_days (
        worker_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        PRIMARY KEY (worker_id, day)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO worker_state_days (worker_id, day)
        SELECT DISTINCT worker_id, ts_ms / 86400000 FROM events WHERE event_type != 'product_count';
    CREATE INDEX events_worker_hour_states ON events (ts_ms / 3600000, worker_id, ts_ms)
        WHERE event_type != 'product_count';
    DROP INDEX events_worker_states;
    """,
    # 8: a count of the times every stored event was cleared (demo reloads). A server process
    # remembers which workers, stations, site members and state days its writes registered, and
    # registers them again once this count has moved.
    """
    ALTER TABLE data_version ADD COLUMN clears INTEGER NOT NULL DEFAULT 0;
    """,
    # 9: every write registers the names it needs, so the count of clears has no use.
    """
    ALTER TABLE data_version DROP COLUMN clears;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

# An acknowledged write is on disk: with `synchronous = FULL` every commit syncs the write-ahead
# log, so a committed transaction survives a crash of the machine, not only of the process. The
# log is cut back to `journal_size_limit` bytes after each checkpoint, so it cannot grow unbounded.
# Foreign keys are not enforced: every event's worker and workstation are registered in the
# transaction that stores it (`ingest.store_events`), and enforcing the references would cost two
# lookups on every insert.
PRAGMAS_SQL = """
PRAGMA synchronous = FULL;
PRAGMA journal_size_limit = 67108864;
PRAGMA cache_size = -32768;
"""


class SchemaTooNewError(RuntimeError):
    """The database file was written by a newer release than this one."""


def connect(path, busy_timeout_ms=5000):
    """Open a connection in autocommit mode; transactions are begun explicitly.

    Writers of one file take turns at SQLite's write lock: one waits up to `busy_timeout_ms`
    for another's transaction to end.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.executescript(PRAGMAS_SQL)
    return conn


@contextmanager
def transaction(conn):
    """`BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` on any error: all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def upgrade(conn, wait_s=30):
    """Bring the schema to `SCHEMA_VERSION` in one transaction. Returns the version.

    Several server processes may start on one new file at once; switching it to WAL needs the
    file to itself and SQLite does not wait for that, so the switch is retried for `wait_s`.
    """
    _use_wal(conn, time.monotonic() + wait_s)
    with transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"database schema version {version} is newer than this release ({SCHEMA_VERSION})"
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    return SCHEMA_VERSION


def _use_wal(conn, deadline):
    delay = 0.01
    while True:
        try:
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as failure:
            if "locked" not in str(failure) or time.monotonic() > deadline:
                raise
        time.sleep(delay)  # another process is creating or switching the file: wait our turn
        delay = min(delay * 2, 0.5)


def _statements(script):
    # executescript would commit the open transaction; run each statement inside it instead.
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""


def init_db(path):
    """Create the database file and its folder when missing, then upgrade the schema."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    conn = connect(path)
    try:
        upgrade(conn)
    finally:
        conn.close()


_kept = threading.local()


def get_db():
    """The request's connection: the thread's own, opened once and kept between requests.

    Keeping it open matters: closing the last connection to a WAL database checkpoints it,
    which would cost every request milliseconds. A read request's SQL is interrupted once it
    has run `QUERY_TIMEOUT_SECONDS`, so one slow question cannot hold a server process for long.
    """
    if "db" not in g:
        g.db = _thread_connection(current_app.config["DATABASE_PATH"], current_app.config["BUSY_TIMEOUT_MS"])
        if request.method in ("GET", "HEAD"):
            deadline = time.monotonic() + current_app.config["QUERY_TIMEOUT_SECONDS"]
            g.db.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
    return g.db


def _thread_connection(path, busy_timeout_ms):
    conn = getattr(_kept, "conn", None)
    if conn is not None and _kept.path != path:
        conn.close()
        conn = None
    if conn is None:
        conn = connect(path, busy_timeout_ms)
        _kept.conn, _kept.path = conn, path
    return conn


def close_db(_exc=None):
    """Hand the request's connection back clean: no open transaction, no time limit."""
    conn = g.pop("db", None)
    if conn is not None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.set_progress_handler(None, 0)


def init_app(app):
    """Prepare the database file and close connections at the end of each request."""
    init_db(app.config["DATABASE_PATH"])
    app.teardown_appcontext(close_db)
