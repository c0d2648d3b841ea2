"""A consistent copy of the live database, made online with SQLite's backup API.

    python -m backend.backup /backups/factory-2026-01-15.db     # copy DATABASE_PATH there
    python -m backend.backup --restore /backups/factory-2026-01-15.db   # server stopped first

The copy is taken in one read transaction while the server keeps running (in WAL mode readers
and writers do not block each other), so it is the database as of one moment, with every batch
either wholly in it or not at all. The copy is checked before it is reported.
"""

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from .db import init_db


def backup(source_path, target_path):
    """Copy the database at `source_path` to `target_path` (replaced) and check the copy.

    Returns the number of events in the copy. Raises `RuntimeError` when the copy is not intact.
    """
    folder = os.path.dirname(os.path.abspath(target_path))
    os.makedirs(folder, exist_ok=True)
    partial = target_path + ".partial"
    _remove(partial)
    try:
        source = sqlite3.connect(f"{Path(source_path).absolute().as_uri()}?mode=ro", uri=True, timeout=30)
        target = sqlite3.connect(partial)
        try:
            source.backup(target)  # all pages in one step: one consistent snapshot
            verdict = target.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise RuntimeError(f"the copy is not intact: {verdict}")
            events = target.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        finally:
            target.close()
            source.close()
    except BaseException:
        _remove(partial)  # nothing half-made is left behind
        raise
    os.replace(partial, target_path)  # the finished copy appears at once, never half-written
    return events


def _remove(path):
    for leftover in (path, path + "-wal", path + "-shm"):
        if os.path.exists(leftover):
            os.remove(leftover)


def restore(backup_path, database_path):
    """Put a backup in place of the database; the server must be stopped first.

    The backup is copied and checked beside the database first; only a good copy replaces it,
    so a bad backup leaves the database (and its write-ahead log) as it was.
    """
    staged = database_path + ".restoring"
    events = backup(backup_path, staged)
    try:
        init_db(staged)  # a backup from an older release is upgraded like any older file, a newer one refused
    except BaseException:
        _remove(staged)
        raise
    for stale in (database_path + "-wal", database_path + "-shm"):
        if os.path.exists(stale):
            os.remove(stale)
    os.replace(staged, database_path)
    return events


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m backend.backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="where to write the copy (or, with --restore, the copy to restore)")
    parser.add_argument("--restore", action="store_true", help="replace the database with this copy")
    parser.add_argument("--database", default=os.environ.get("DATABASE_PATH", "data/factory.db"),
                        help="the live database (default: DATABASE_PATH)")
    args = parser.parse_args(argv)
    if os.environ.get("DATABASE_URL"):
        parser.error("DATABASE_URL names a PostgreSQL database: back it up with pg_dump and restore it with "
                     "pg_restore; this command copies the SQLite file")
    source = args.path if args.restore else args.database
    try:
        if args.restore:
            events = restore(args.path, args.database)
            print(f"restored {args.path} to {args.database}: {events} events")
        else:
            events = backup(args.database, args.path)
            print(f"backed up {args.database} to {args.path}: {events} events, integrity ok")
    except (sqlite3.Error, OSError, RuntimeError) as error:  # one line, and nothing was replaced
        print(f"Error: {source}: {' '.join(str(error).split())}; nothing was written", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
