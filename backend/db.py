"""Database connections, transactions and in-place schema upgrades keyed on the schema's version
(the schema itself is in `schema`); what a failing database means for a request (the storage
causes of SPEC §7), and the health check.

SQLite (a file, `DATABASE_PATH`) is the default store and its dialect lives here; PostgreSQL
(`DATABASE_URL=postgresql://...`) lives in `store_pg`, whose connection speaks the same SQL.
"""

import errno
import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import psycopg
from flask import current_app, g, request

from . import limits, queries, store_pg
from .errors import StartupError, problem_response
from .schema import SCHEMA_VERSION, SQLITE_MIGRATIONS

log = logging.getLogger(__name__)

# An acknowledged write is on disk: with `synchronous = FULL` every commit syncs the write-ahead
# log, so a committed transaction survives a crash of the machine, not only of the process. The
# log is cut back to `journal_size_limit` bytes after each checkpoint, so it cannot grow unbounded.
# Foreign keys are not enforced: every event's worker and workstation are registered in the
# transaction that stores it (`ingest.store_events`), and enforcing the references would cost two
# lookups on every insert. Each server thread keeps its own connection and so its own page cache
# (`cache_size`); `soft_heap_limit` holds all of a process's SQLite memory near 64 MB together, so
# 64 threads' caches cannot add up to gigabytes (the pages stay in the operating system's cache).
PRAGMAS_SQL = """
PRAGMA synchronous = FULL;
PRAGMA journal_size_limit = 67108864;
PRAGMA cache_size = -32768;
PRAGMA soft_heap_limit = 67108864;
"""


# SQLite's primary result codes that say something of the storage (the low byte of an error's
# `sqlite_errorcode`; the extended codes, such as SQLITE_IOERR_WRITE, share it).
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_INTERRUPT = 3, 5, 6, 8, 9
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26
SQLITE_READONLY_DBMOVED = SQLITE_READONLY | (4 << 8)  # the file was moved or deleted while open

# The causes SPEC §7 names for a database that cannot be read and written.
STORAGE_CAUSES = ("disk_full", "read_only", "corrupt", "unreachable")
# How long a write that failed for a storage cause keeps `/health` red without another write.
WRITE_FAILURE_MEMORY_S = 60.0

HEALTH_WRITE_SQL = "UPDATE health_check SET checked_at_ms = ? WHERE id = 1"
INTEGRITY_SQL = "PRAGMA quick_check(1)"


# Every error either store raises, and those that say it was busy or stopped (or a mistake in SQL).
Error = (sqlite3.Error, psycopg.Error)
OperationalError = (sqlite3.OperationalError, psycopg.OperationalError)


class UnusableDatabase(StartupError):
    """The database cannot be used; the message is one line naming the path and the cause."""

    def __init__(self, path, cause, detail):
        super().__init__(f"cannot use the database {shown(path)}: {cause} ({detail})")
        self.path = path
        self.cause = cause


class SchemaTooNewError(UnusableDatabase):
    """The database file was written by a newer release than this one."""

    def __init__(self, path, version):
        super().__init__(path, "from a newer release",
                         f"schema version {version}; this release reads up to {SCHEMA_VERSION}")


class StorageFailure(sqlite3.DatabaseError):
    """A write that failed for a cause in the storage, one of `STORAGE_CAUSES`.

    `transaction` raises it in place of SQLite's own error, so that code which waits out a busy
    database (by catching `OperationalError`) never takes a full disk for a busy one.
    """

    def __init__(self, cause, detail):
        super().__init__(detail)
        self.cause = cause


def storage_cause(error, path=None):
    """What `error` (either store's `Error`, or an `OSError`) says of the storage at `path`.

    One of `STORAGE_CAUSES`; `"busy"` for a lock held too long or a query stopped at its time
    limit; `None` when it says nothing of the storage (a mistake in SQL, say). A file that cannot
    be opened or written on a read-only file system, or without the permission to write it, is
    `read_only`; one that cannot be opened otherwise is `unreachable`.
    """
    if isinstance(error, StorageFailure):
        return error.cause
    if isinstance(error, psycopg.Error):
        return store_pg.storage_cause(error)
    if isinstance(error, OSError):
        return {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EROFS: "read_only"}.get(
            error.errno, "unreachable")
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary in (SQLITE_BUSY, SQLITE_LOCKED, SQLITE_INTERRUPT):
        return "busy"
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return "corrupt"
    if primary == SQLITE_FULL:
        return "disk_full"
    if code == SQLITE_READONLY_DBMOVED:
        return "unreachable"
    if primary == SQLITE_READONLY or (primary in (SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_PERM)
                                      and path is not None and _cannot_write(path)):
        return "read_only"
    if primary in (SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_PERM):
        return "unreachable"
    return None


def _cannot_write(path):
    """Whether the file at `path` can be read but not written (its file system or permissions)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    readable = os.access(path, os.R_OK, effective_ids=True)
    writable = os.access(path, os.W_OK, effective_ids=True) and os.access(folder, os.W_OK, effective_ids=True)
    return readable and not writable


# Files found damaged by this process. A file `<path>-damaged` beside the database tells every
# other process; start-up checks the file and removes it when the database is sound again.
_damaged = set()


def damage_marker(path):
    """The file that tells every process the database at `path` was found damaged."""
    return f"{os.path.abspath(path)}-damaged"


def mark_damaged(path, detail):
    """Never write to the database at `path` again: it was found damaged (`detail` says how)."""
    path = os.path.abspath(path)
    if path in _damaged:
        return
    _damaged.add(path)
    log.error("database %s is damaged (%s): writes are refused until it is restored", path, detail)
    try:
        with open(damage_marker(path), "w") as marker:
            marker.write(f"{detail}\n")
    except OSError:
        pass  # its folder may be as broken as the file: this process remembers it all the same


def is_damaged(path):
    """Whether the database at `path` was found damaged, by this process or another."""
    return os.path.abspath(path) in _damaged or os.path.exists(damage_marker(path))


def _path_of(conn):
    return conn.target


def shown(target):
    """The database's path or URL as messages show it (no password)."""
    return store_pg.shown(target) if store_pg.is_url(target) else target


def lock_timed_out(error):
    """Whether `error` says a write gave up waiting for another's transaction to end."""
    return store_pg.lock_timed_out(error) or "locked" in str(error) or "busy" in str(error)


# How often a write transaction that finds the file locked tries again (see `begin_write`).
BEGIN_RETRY_S = 0.0005


class SqliteConnection(sqlite3.Connection):
    """A SQLite connection with what the service asks of either store's (see `store_pg.PgConnection`)."""

    broken = False  # a file that is gone is found by its identity instead (see `_thread_connection`)
    busy_timeout_ms = 0  # set by `connect`

    def begin_write(self):
        """`BEGIN IMMEDIATE`, tried every `BEGIN_RETRY_S` while another connection writes, for
        up to the busy timeout; then SQLite's "database is locked" error.

        SQLite's own busy handler sleeps ever longer between tries (1, 2, 5, 10, 15, 20, 25 ms
        ...), so a server process that found the file locked by the other's few-millisecond
        transaction slept 33-80 ms before it tried again, while the lock stood free; at 500
        camera events/s those waits were the slowest requests."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        self.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if error.sqlite_errorcode & 0xFF != SQLITE_BUSY or time.monotonic() >= deadline:
                        raise
                time.sleep(BEGIN_RETRY_S)
        finally:
            self.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")

    @property
    def target(self):
        """The database file's path."""
        return self.execute("PRAGMA database_list").fetchone()[2]

    def set_time_limit(self, seconds):
        """Interrupt SQL once `seconds` have passed from now (`None`: no limit)."""
        if seconds is None:
            self.set_progress_handler(None, 0)
        else:
            deadline = time.monotonic() + seconds
            # Within a request, also when its client has gone (`limits`).
            self.set_progress_handler(lambda: time.monotonic() > deadline or limits.stop_reason() is not None, 1000)

    def sending_ahead(self):
        """Nothing to send ahead: SQLite runs in this process (see `store_pg.PgConnection`)."""
        return nullcontext()

    def prepare(self, deadline):
        """Switch the file to WAL before its schema is upgraded."""
        _use_wal(self, deadline)

    def schema_version(self):
        """The version of the schema, 0 for a new file."""
        return self.execute("PRAGMA user_version").fetchone()[0]

    def migrations(self, version, latest):
        """`(version, script)` of each step from `version` to `latest`."""
        return [(number, SQLITE_MIGRATIONS[number - 1]) for number in range(version + 1, latest + 1)]

    def run_script(self, script):
        """Run one migration's statements inside the open transaction."""
        for statement in _statements(script):
            self.execute(statement)

    def set_schema_version(self, version):
        """Record the schema's version."""
        self.execute(f"PRAGMA user_version = {int(version)}")


class KeptConnection:
    """The connection a long-running companion (the MQTT bridge, the notifier) keeps: opened
    when first asked for, dropped after a failure so that the next use opens a fresh one."""

    def __init__(self, config):
        self.config = config
        self.conn = None

    def get(self):
        """The connection, opened now if there is none; a missing file is an error, not a new one."""
        if self.conn is None:
            self.conn = connect(self.config["DATABASE_PATH"], self.config["BUSY_TIMEOUT_MS"], create=False)
        return self.conn

    def drop(self):
        """Close the connection, whatever state it is in."""
        if self.conn is not None:
            try:
                self.conn.close()
            except Error:
                pass
            self.conn = None


def connect(path, busy_timeout_ms=5000, create=True, wait_s=0):
    """Open a connection in autocommit mode; transactions are begun explicitly.

    `path` is a SQLite file or a PostgreSQL URL. Writers of one database take turns at its write
    lock: one waits up to `busy_timeout_ms` for another's transaction to end. With `create=False`
    a missing file is an error (`SQLITE_CANTOPEN`) instead of a new empty database; with `create`
    its folder is made too. A database server that does not answer is waited for up to `wait_s`
    (a file has none to wait for).
    """
    if store_pg.is_url(path):
        return store_pg.connect(path, busy_timeout_ms, wait_s)
    if create:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    target = path if create else f"{Path(path).absolute().as_uri()}?mode=rw"
    conn = sqlite3.connect(target, timeout=busy_timeout_ms / 1000, isolation_level=None, uri=not create,
                           factory=SqliteConnection)
    conn.row_factory = sqlite3.Row
    conn.busy_timeout_ms = busy_timeout_ms
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.executescript(PRAGMAS_SQL)
    return conn


@contextmanager
def transaction(conn):
    """`BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` on any error: all or nothing.

    A file found damaged is never written to. A write that fails for a storage cause raises
    `StorageFailure` naming it; a file found damaged on the way is marked so.
    """
    path = _path_of(conn)
    if is_damaged(path):
        raise StorageFailure("corrupt", "the database file was found damaged; nothing is written to it")
    try:
        try:
            conn.begin_write()
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
    except Error as error:
        failure = _as_storage_failure(error, path)
        if failure is error:
            raise
        raise failure from error


def _as_storage_failure(error, path):
    """`error` as the `StorageFailure` naming its cause (a damaged file marked so), or `error`
    itself when it says nothing of the storage (a lock held too long, a mistake in SQL)."""
    if isinstance(error, StorageFailure) or not isinstance(error, Error):
        return error
    cause = storage_cause(error, path)
    if cause not in STORAGE_CAUSES:
        return error
    if cause == "corrupt":
        mark_damaged(path, str(error))
    failure = StorageFailure(cause, str(error))
    failure.__cause__ = error
    return failure


class _Write:
    """One caller's share of a shared write transaction (see `write_together`)."""

    def __init__(self, item):
        self.item = item
        self.result = None
        self.error = None
        self.done = False


_writes_lock = threading.Lock()  # guards `_waiting_writes`
_waiting_writes = []
_writer = threading.Lock()  # held by the thread that commits for the others


def write_together(conn, item, store):
    """Store `item` by `store(conn, items)` (which returns one result per item) in a write
    transaction shared with the writes other threads of this process ask for meanwhile, and
    return its result once that transaction is committed.

    With `synchronous = FULL` a commit waits for the disk to sync the write-ahead log, a few
    milliseconds that no amount of CPU shortens: a floor of cameras, each posting single events,
    would queue behind one sync per event. Here the thread that takes the writer's turn stores
    the items of every write waiting at that moment with one call of `store`, in one
    transaction: one sync, and one round of statements, for all of them. Should that call raise,
    each write is stored again on its own, in a savepoint, so one that raises is undone alone
    and its caller gets its error; a storage failure fails the transaction, and so every write
    in it, with the error `transaction` names.
    """
    write = _Write(item)
    with _writes_lock:
        _waiting_writes.append(write)
    with _writer:
        if not write.done:
            with _writes_lock:
                writes = _waiting_writes[:]
                _waiting_writes.clear()
            _commit_writes(conn, writes, store)
    if write.error is not None:
        # One write's own failure, met inside its savepoint, names its storage cause as well.
        raise _as_storage_failure(write.error, _path_of(conn))
    return write.result


def _commit_writes(conn, writes, store):
    try:
        with transaction(conn), conn.sending_ahead():
            if not _stored(conn, writes, store):
                for write in writes:
                    _stored(conn, [write], store)
    except BaseException as error:  # nothing of any write was kept
        for write in writes:
            write.error = write.error or error
        if not isinstance(error, Exception):
            raise
    finally:
        for write in writes:
            write.done = True


def _stored(conn, writes, store):
    """Store `writes` with one call of `store` in a savepoint; whether it went through (if not,
    the savepoint is undone and a lone write holds its error)."""
    conn.execute("SAVEPOINT write")
    try:
        results = store(conn, [write.item for write in writes])
    except Error:
        raise  # the storage failed, not these writes: the transaction fails as a whole
    except Exception as error:
        conn.execute("ROLLBACK TO write")
        conn.execute("RELEASE write")
        if len(writes) == 1:
            writes[0].error = error
        return False
    conn.execute("RELEASE write")
    for write, result in zip(writes, results, strict=True):
        write.result = result
    return True


def _rollback(conn):
    # SQLite may have rolled back already (on a full disk, say); the failure to report is the
    # one that got us here, not the ROLLBACK's.
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except Error:
            pass


def upgrade(conn, wait_s=30):
    """Bring the schema to `SCHEMA_VERSION` in one transaction. Returns the version.

    Several server processes may start on one new file at once; switching it to WAL needs the
    file to itself and SQLite does not wait for that, so the switch is retried for `wait_s`.
    On PostgreSQL the write transaction's lock makes them take turns.
    """
    conn.prepare(time.monotonic() + wait_s)
    with transaction(conn):
        version = conn.schema_version()
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(_path_of(conn), version)
        for number, script in conn.migrations(version, SCHEMA_VERSION):
            conn.run_script(script)
            conn.set_schema_version(number)
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


def init_db(path, wait_s=0):
    """Create the database file and its folder when missing, check it can be used, upgrade its schema.

    A database server (PostgreSQL) that does not answer yet, as while it starts beside the
    service, is waited for up to `wait_s` seconds.

    Raises `UnusableDatabase`, one line naming the path and the cause, when the file cannot be
    opened, read or written, is not a database or is damaged, or comes from a newer release.
    A file some process found damaged (see `mark_damaged`) is checked whole first.
    """
    try:
        conn = connect(path, wait_s=wait_s)
        try:
            if os.path.exists(damage_marker(path)):
                _check_whole(conn, path)
            upgrade(conn)
            conn.execute(queries.NEXT_EVENT_ID_SQL).fetchone()  # reads the pages every write starts from
        finally:
            conn.close()
    except (*Error, OSError) as error:
        raise unusable(path, error) from None


def unusable(path, error):
    """The `UnusableDatabase` to stop start-up with for `error` met while opening `path`."""
    if isinstance(error, OSError):
        return UnusableDatabase(path, storage_cause(error), error.strerror or str(error))
    return UnusableDatabase(path, storage_cause(error, path) or "unusable", " ".join(str(error).split()))


def _check_whole(conn, path):
    verdict = " ".join(conn.execute(INTEGRITY_SQL).fetchone()[0].split())  # one line
    if verdict != "ok":
        raise UnusableDatabase(path, "corrupt", f"found damaged and the check still fails: {verdict}; "
                                                f"restore it from a backup, then delete {damage_marker(path)}")
    os.remove(damage_marker(path))
    _damaged.discard(os.path.abspath(path))
    log.warning("database %s was marked damaged and is sound now; writes are taken again", path)


_kept = threading.local()


def get_db():
    """The request's connection: the thread's own, opened once and kept between requests.

    Keeping it open matters: closing the last connection to a WAL database checkpoints it,
    which would cost every request milliseconds. A read request's SQL is interrupted at the
    request's limit (`limits`: its deadline, or its client gone), so one slow question cannot
    hold a server process for long; a metrics read first waits for its turn at heavy work.
    """
    if "db" not in g:
        limits.take_heavy_turn()
        g.db = _thread_connection(current_app.config["DATABASE_PATH"], current_app.config["BUSY_TIMEOUT_MS"])
        seconds = limits.remaining_s()
        if seconds is not None:
            g.db.set_time_limit(seconds)
    return g.db


def _thread_connection(path, busy_timeout_ms):
    """The kept connection, while `path` still names the file it opened.

    A file deleted or moved while open can still be read and written through the connection,
    and all of that is lost; so the file is looked up on every request, and a connection to a
    file that is gone is closed. A new one never creates a file: start-up does that.
    """
    identity = _identity(path)
    conn = getattr(_kept, "conn", None)
    if conn is not None and (_kept.path != path or _kept.identity != identity or identity is None or conn.broken):
        conn.close()
        conn = _kept.conn = None
    if conn is None:
        conn = connect(path, busy_timeout_ms, create=False)
        _kept.conn, _kept.path, _kept.identity = conn, path, identity
    return conn


def _identity(path):
    if store_pg.is_url(path):
        return path  # nothing to look up: a lost connection says itself so (`broken`)
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def close_db(_exc=None):
    """Hand the request's connection back clean: no open transaction, no time limit."""
    conn = g.pop("db", None)
    if conn is not None:
        _rollback(conn)
        try:
            conn.set_time_limit(None)
        except Error:
            conn.close()  # lost; the next request opens a new one
            _kept.conn = None


# Per database path: (cause, monotonic time) of the last write this process could not store for
# a storage cause, until a write succeeds again.
_failed_writes = {}


def check_health(path, now_ms):
    """SPEC §7's health: `(body, status)`, `200` only when the database can be read *and* written.

    The check writes the time into a one-row table and commits, so a full disk, a read-only file
    system, a file gone or a damaged file all show. A write request that failed for a storage
    cause in the last `WRITE_FAILURE_MEMORY_S` seconds, with none succeeding since, keeps it red
    too: a full disk may still take the check's few bytes but not a batch of events.
    """
    if is_damaged(path):
        return _degraded("corrupt", "The database file was found damaged; nothing is written to it.")
    try:
        conn = get_db()
        with transaction(conn):
            conn.execute(HEALTH_WRITE_SQL, (now_ms,))
        events = queries.count_events(conn)
    except Error as error:
        cause = storage_cause(error, path)
        if cause == "corrupt":
            mark_damaged(path, str(error))
        log.warning("health check failed: %s (%s)", cause, error)
        return _degraded(cause or "unknown", STORAGE_DETAIL.get(cause, f"The database failed: {error}"))
    failed = _failed_writes.get(os.path.abspath(path))
    if failed is not None and time.monotonic() - failed[1] < WRITE_FAILURE_MEMORY_S:
        return _degraded(failed[0], STORAGE_DETAIL[failed[0]])
    return {"status": "ok", "database": "ok", "events": events}, 200


def _degraded(cause, detail):
    return {"status": "degraded", "database": cause, "cause": cause, "detail": detail}, 503


# What each storage cause means for a client; every answer to a request that failed for one says it.
STORAGE_DETAIL = {
    "disk_full": "The database's disk is full: nothing more can be stored until space is freed.",
    "read_only": "The database is read-only (its file system or its permissions): nothing can be stored.",
    "corrupt": "The database file is damaged: this server no longer writes to it. Restore it from a backup.",
    "unreachable": "The database file cannot be opened or read (gone, moved, or its storage failing).",
    "busy": "The database could not answer in time; nothing was changed. Retry shortly.",
}


def _handle_database_error(error):
    """The answer to a request that failed in the database: `503` naming a storage cause, `503`
    with `Retry-After: 1` for a busy database, otherwise the `500` of a fault of ours."""
    path = current_app.config["DATABASE_PATH"]
    cause = storage_cause(error, path)
    reason = limits.stop_reason() if cause == "busy" else None
    if reason is not None:  # the progress handler stopped the query at the request's limit
        return limits.stopped_response(reason)
    if cause == "busy":
        # A lock held too long by another process.
        log.warning("database unavailable: %s", error)
        return problem_response(503, "Service Unavailable", STORAGE_DETAIL["busy"], headers={"Retry-After": "1"})
    if cause is None:
        log.exception("unhandled database error")
        return problem_response(500, "Internal Server Error", "The server could not complete the request.")
    if cause == "corrupt":
        mark_damaged(path, str(error))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        _failed_writes[os.path.abspath(path)] = (cause, time.monotonic())
    log.error("database %s: %s (%s)", shown(path), cause, error)
    return problem_response(503, "Service Unavailable", STORAGE_DETAIL[cause], headers={"Retry-After": "30"},
                            cause=cause)


def _forget_failed_writes(response):
    if request.method == "POST" and 200 <= response.status_code < 300:
        _failed_writes.pop(os.path.abspath(current_app.config["DATABASE_PATH"]), None)
    return response


def init_app(app):
    """Prepare the database file, close connections at the end of each request, and answer
    every database failure by its cause."""
    init_db(app.config["DATABASE_PATH"], app.config["DATABASE_WAIT_SECONDS"])
    app.teardown_appcontext(close_db)
    app.register_error_handler(sqlite3.Error, _handle_database_error)
    app.register_error_handler(psycopg.Error, _handle_database_error)
    app.after_request(_forget_failed_writes)
