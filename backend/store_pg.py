"""PostgreSQL as the store (`DATABASE_URL=postgresql://...`): the connection that speaks the same
SQL as the SQLite one, and what its errors say of the storage (its schema is in `schema`).

Everything that differs from SQLite lives here. The rest of the service writes SQL both stores
accept, with `?` and `:name` placeholders, and drives transactions with the statements SQLite
knows; `PgConnection` translates those once per statement text.
"""

import functools
import itertools
import re
import time
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus

from .schema import POSTGRES_FIRST_VERSION, POSTGRES_MIGRATIONS

URL_PREFIXES = ("postgresql://", "postgres://")

# Every write transaction holds this advisory lock, so writers take turns as they do at SQLite's
# write lock: duplicate lookups, the event ids handed out and the roll-ups stay exact with any
# number of app servers on one database. (An arbitrary key, the same for every server.)
WRITE_LOCK_KEY = 7_211_017

# The statements of SQLite's dialect the service uses to drive transactions, as PostgreSQL says them.
# A write takes the writers' lock; a read transaction is one snapshot, as SQLite's `BEGIN` gives.
STATEMENTS = {
    "BEGIN IMMEDIATE": f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})",
    "BEGIN": "BEGIN ISOLATION LEVEL REPEATABLE READ",
    "PRAGMA busy_timeout": "SELECT (EXTRACT(EPOCH FROM current_setting('lock_timeout')::interval) * 1000)::bigint",
}
BUSY_TIMEOUT_SET = re.compile(r"\s*PRAGMA busy_timeout\s*=\s*(\d+)\s*")
# A string literal, a `?`, a `:name` (not a `::` cast) with the `IS [NOT] NULL` after it if any, or
# a `%` (which psycopg would read as one of its own).
PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?|(?<![:\w]):([A-Za-z_]\w*)(\s+IS\s+(?:NOT\s+)?NULL\b)?|%",
                         re.IGNORECASE)

ENDINGS = ("COMMIT", "ROLLBACK", "RELEASE")

SCHEMA_VERSION_TABLE_SQL = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
SCHEMA_VERSION_SQL = "SELECT COALESCE(MAX(version), 0) FROM schema_version"
SET_SCHEMA_VERSION_SQL = "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES ({version})"


def is_url(target):
    """Whether `target` (the `DATABASE_PATH` setting, or `DATABASE_URL`) names a PostgreSQL database."""
    return isinstance(target, str) and target.startswith(URL_PREFIXES)


def shown(url):
    """`url` with its password left out, for messages and logs."""
    return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", url)


@functools.lru_cache(maxsize=1024)
def translate(sql):
    """`(text, names)`: `sql` as psycopg takes it, with the name bound at each `%s` in order
    (`None`: the parameters are positional already).

    `?` and `:name` become `%s`, `%` becomes `%%`; SQLite's transaction statements become
    PostgreSQL's. Each use of a name is a parameter of its own, so that `:name IS NULL` (cast to
    text: it has no type there) does not decide the type of `column = :name`.
    """
    stripped = sql.strip()
    if stripped in STATEMENTS:
        return STATEMENTS[stripped], None
    timeout = BUSY_TIMEOUT_SET.fullmatch(sql)
    if timeout:
        return f"SET lock_timeout = {int(timeout.group(1))}", None
    names = []

    def replace(match):
        text = match.group(0)
        if text == "?":
            return "%s"
        if text == "%":
            return "%%"
        if match.group(1):
            names.append(match.group(1))
            return f"%s::text{match.group(2)}" if match.group(2) else "%s"
        return text

    return PLACEHOLDER.sub(replace, sql), names or None


class _NumberLoader(Loader):
    """`numeric` (what `SUM` of a BIGINT gives) as an `int` when whole, as SQLite would answer."""

    def load(self, data):
        digits = bytes(data)
        try:
            return int(digits)
        except ValueError:
            return float(digits)


@functools.lru_cache(maxsize=256)
def _row_class(names):
    index = {name: number for number, name in enumerate(names)}

    class Row(tuple):
        """A result row read by position or by column name, as `sqlite3.Row`."""

        __slots__ = ()

        def __getitem__(self, key):
            return tuple.__getitem__(self, index[key] if isinstance(key, str) else key)

        def keys(self):
            return list(names)

    return Row


def _rows(cursor):
    if cursor.description is None:
        return tuple
    return _row_class(tuple(column.name for column in cursor.description))


_BATCH_ROWS = 1000


class PgCursor:
    """The part of `sqlite3.Cursor` the service uses, over a psycopg cursor."""

    row_factory = None  # rows are always readable by position and by name

    def __init__(self, conn):
        self.conn = conn
        self.raw = conn.raw.cursor(row_factory=_rows)

    def execute(self, sql, params=None):
        """Run one statement (placeholders as SQLite's); returns the cursor."""
        if not sql.startswith(ENDINGS):  # a transaction is always ended, time limit or not
            self.conn.check_deadline()
        text, names = translate(sql)
        if not params:
            self.raw.execute(text.replace("%%", "%"))
        elif names is None:
            self.raw.execute(text, params)
        else:
            self.raw.execute(text, [params[name] for name in names])
        return self

    def executemany(self, sql, seq):
        """Run one statement for every set of parameters."""
        self.conn.check_deadline()
        text, names = translate(sql)
        seq = list(seq) if names is None else [[params[name] for name in names] for params in seq]
        if seq:
            self.raw.executemany(text, seq)
        return self

    def fetchone(self):
        """The next row, or `None`."""
        raw = self._answered()
        return raw.fetchone() if raw.description is not None else None

    def fetchall(self):
        """Every row left."""
        raw = self._answered()
        return raw.fetchall() if raw.description is not None else []

    def __iter__(self):
        raw = self._answered()
        if raw.description is None:
            return iter(())
        # Rows made a batch at a time (in psycopg's C code) rather than one by one.
        return itertools.chain.from_iterable(iter(lambda: raw.fetchmany(_BATCH_ROWS), []))

    @property
    def rowcount(self):
        """Rows the last statement changed."""
        return self._answered().rowcount

    def _answered(self):
        """The psycopg cursor once the statement's answer is in: one sent ahead
        (`PgConnection.sending_ahead`) is waited for here, with all sent before it."""
        if self.conn.pipeline is not None and self.raw.pgresult is None:
            self.conn.pipeline.sync()
        return self.raw

    def close(self):
        """Free the cursor."""
        self.raw.close()


class PgConnection:
    """A PostgreSQL connection with the surface of the SQLite one the service uses: autocommit,
    transactions begun explicitly, `execute` with SQLite's placeholders."""

    def __init__(self, url, busy_timeout_ms):
        self.target = url
        self.deadline = None
        self.pipeline = None  # while statements are sent ahead (`sending_ahead`)
        self.raw = psycopg.connect(url, autocommit=True, connect_timeout=10)
        self.raw.adapters.register_loader("numeric", _NumberLoader)
        # A writer waits this long for the writers' lock, as for SQLite's.
        self.raw.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
        # An acknowledged write is on disk: the default, said here so no server setting changes it.
        self.raw.execute("SET synchronous_commit = on")
        # The service's statements each take milliseconds; compiling one to machine code (JIT, which
        # PostgreSQL starts on a high cost estimate, as a seek per worker and hour gets) took 10-25 ms.
        self.raw.execute("SET jit = off")

    def execute(self, sql, params=None):
        """Run one statement; returns its cursor."""
        return PgCursor(self).execute(sql, params)

    def executemany(self, sql, seq):
        """Run one statement for every set of parameters."""
        return PgCursor(self).executemany(sql, seq)

    def executescript(self, script):
        """Run several statements without parameters."""
        self.check_deadline()
        self.raw.execute(script)

    def cursor(self):
        """A new cursor."""
        return PgCursor(self)

    def begin_write(self):
        """Begin a write transaction: it waits for the writers' lock up to the lock timeout."""
        self.execute("BEGIN IMMEDIATE")

    @contextmanager
    def sending_ahead(self):
        """Send each statement without waiting for its answer until one is read (a pipeline): a
        write's statements take a few round trips to the server instead of one each. Their
        errors are raised by the read that waits for them, or on leaving."""
        with self.raw.pipeline() as self.pipeline:
            try:
                yield
            finally:
                self.pipeline = None

    @property
    def in_transaction(self):
        """Whether a transaction is open (or failed and not yet rolled back)."""
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def broken(self):
        """Whether the connection is closed or lost, so that a new one is needed."""
        return self.raw.closed or self.raw.broken

    def set_time_limit(self, seconds):
        """Stop statements once `seconds` have passed from now (`None`: no limit): each is
        bounded by `statement_timeout`, and none starts after the time is up."""
        if seconds is None:
            if self.deadline is not None:
                self.deadline = None
                self.raw.execute("SET statement_timeout = 0")
        else:
            self.deadline = time.monotonic() + seconds
            self.raw.execute(f"SET statement_timeout = {max(1, int(seconds * 1000))}")

    def check_deadline(self):
        """Raise `QueryCanceled` when the time limit has passed."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise pg_errors.QueryCanceled("the request's query time limit has passed")

    def prepare(self, deadline):
        """Nothing to prepare before the schema is upgraded (SQLite switches to WAL here)."""

    def schema_version(self):
        """The version of the schema, 0 for a new database (inside the upgrade's write transaction)."""
        self.raw.execute(SCHEMA_VERSION_TABLE_SQL)
        return self.raw.execute(SCHEMA_VERSION_SQL).fetchone()[0]

    def migrations(self, version, latest):
        """`(version, script)` of each step from `version` to `latest`."""
        first = max(version + 1, POSTGRES_FIRST_VERSION)
        return [(number, POSTGRES_MIGRATIONS[number - POSTGRES_FIRST_VERSION]) for number in range(first, latest + 1)]

    def run_script(self, script):
        """Run one migration's statements inside the open transaction."""
        self.raw.execute(script)

    def set_schema_version(self, version):
        """Record the schema's version (inside the upgrade's transaction)."""
        self.raw.execute(SET_SCHEMA_VERSION_SQL.format(version=int(version)))

    def close(self):
        """Close the connection."""
        self.raw.close()


def connect(url, busy_timeout_ms=5000, wait_s=0):
    """A `PgConnection` to the database `url` names; a server that does not answer (not there,
    or starting up) is tried again for up to `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    delay = 0.1
    while True:
        try:
            return PgConnection(url, busy_timeout_ms)
        except psycopg.OperationalError as failure:
            if storage_cause(failure) != "unreachable" or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)  # the server is not up yet: ask again shortly
        delay = min(delay * 2, 2.0)


# SQLSTATEs that say something of the storage, by the cause SPEC §7 names.
_CAUSES = (
    ((pg_errors.DiskFull,), "disk_full"),
    ((pg_errors.ReadOnlySqlTransaction, pg_errors.InsufficientPrivilege), "read_only"),
    ((pg_errors.DataCorrupted, pg_errors.IndexCorrupted), "corrupt"),
    ((pg_errors.QueryCanceled, pg_errors.LockNotAvailable, pg_errors.DeadlockDetected,
      pg_errors.SerializationFailure, pg_errors.TooManyConnections), "busy"),
    ((pg_errors.AdminShutdown, pg_errors.CrashShutdown, pg_errors.CannotConnectNow,
      pg_errors.ConnectionException), "unreachable"),
)


def storage_cause(error):
    """What a psycopg error says of the storage: a cause of SPEC §7, `"busy"`, or `None`."""
    for kinds, cause in _CAUSES:
        if isinstance(error, kinds):
            return cause
    if isinstance(error, psycopg.OperationalError) and error.sqlstate is None:
        return "unreachable"  # refused, lost or closed: no server answered
    return None


def lock_timed_out(error):
    """Whether a write gave up waiting for the writers' lock."""
    return isinstance(error, pg_errors.LockNotAvailable)
