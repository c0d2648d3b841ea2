"""Under load, faults and restarts: every acknowledged event kept, none twice, nothing corrupt."""

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend.backup import backup, restore
from tests.servers import REPO_ROOT, Server, request

BATCH = 200


def batch_events(number, size=BATCH):
    """Batch `number`: `size` distinct events whose ids name the batch."""
    return [{"timestamp": f"2026-01-15T{8 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
             "worker_id": f"W{number % 20}", "workstation_id": f"S{number % 5}", "event_type": "working",
             "event_id": f"b{number:05d}-{i:04d}"} for i in range(size)]


def stored(database_path, sql="SELECT event_id FROM events"):
    conn = sqlite3.connect(database_path)
    try:
        return [row[0] for row in conn.execute(sql)]
    finally:
        conn.close()


def test_parallel_singles_and_batches_with_retries_store_each_event_once(tmp_path):
    server = Server(tmp_path / "server", WEB_CONCURRENCY="4").start()
    try:
        batches = [batch_events(n, 50) for n in range(24)]
        singles = [[event] for batch in batches[:6] for event in batch]  # the same events, one by one
        work = batches * 2 + singles  # every batch sent twice: a retry racing the original
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda body: request(server.base, "/events", body), work))
        statuses = [status for status, _ in answers]
        assert all(status in (200, 201) for status in statuses), sorted(set(statuses))
        assert not any("locked" in json.dumps(body) for _, body in answers)
        ids = stored(server.database_path)
        assert len(ids) == len(set(ids)) == 24 * 50
        assert sum(body["accepted"] for _, body in answers) == 24 * 50
    finally:
        server.stop()


def _sender(base, numbers, acknowledged, stop):
    for number in numbers:
        if stop.is_set():
            return
        try:
            status, body = request(base, "/events", batch_events(number))
        except (OSError, http.client.HTTPException):
            return  # the server is gone, maybe mid-answer: this batch was never acknowledged
        if status == 201 and body["accepted"] == BATCH:
            acknowledged.append(number)


def test_killed_mid_ingestion_keeps_every_acknowledged_batch_and_no_partial_one(tmp_path):
    server = Server(tmp_path / "server").start()
    acknowledged, stop = [], threading.Event()
    senders = [threading.Thread(target=_sender, args=(server.base, range(k, 400, 4), acknowledged, stop))
               for k in range(4)]
    for sender in senders:
        sender.start()
    try:
        # Wait for real traffic, then cut the power mid-stream.
        while len(acknowledged) < 20:
            assert any(sender.is_alive() for sender in senders), "senders stopped early"
            stop.wait(0.01)  # polling the acknowledged count, not timing anything
        server.kill()
    finally:
        stop.set()
        for sender in senders:
            sender.join(timeout=30)
    assert len(acknowledged) < 400, "ingestion finished before the kill"

    server.start()
    try:
        assert server.get("/health")["database"] == "ok"
    finally:
        server.stop()
    conn = sqlite3.connect(server.database_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    per_batch = dict(conn.execute("SELECT substr(event_id, 2, 5), COUNT(*) FROM events GROUP BY 1"))
    conn.close()
    assert all(count == BATCH for count in per_batch.values()), "a batch was stored in part"
    assert {f"{n:05d}" for n in acknowledged} <= set(per_batch)


def test_online_backup_is_consistent_and_restores(tmp_path):
    server = Server(tmp_path / "server").start()
    try:
        for number in range(5):
            server.post("/events", batch_events(number))
        stop = threading.Event()
        writer = threading.Thread(target=_sender, args=(server.base, range(5, 60), [], stop))
        writer.start()
        copy = str(tmp_path / "backups" / "factory.db")
        result = subprocess.run([sys.executable, "-m", "backend.backup", copy],
                                cwd=REPO_ROOT, env={**os.environ, "DATABASE_PATH": server.database_path},
                                capture_output=True, text=True, timeout=60)
        stop.set()
        writer.join(timeout=30)
        assert result.returncode == 0, result.stderr
        assert "integrity ok" in result.stdout
    finally:
        server.stop()

    copied = stored(copy)
    assert len(copied) % BATCH == 0 and len(copied) >= 5 * BATCH  # whole batches only

    restored = Server(tmp_path / "restored")
    events = restore(copy, restored.database_path)
    assert events == len(copied)
    restored.start()
    try:
        assert restored.get("/health")["events"] == len(copied)
        assert restored.get("/metrics/factory")["factory"]["event_count"] == len(copied)
    finally:
        restored.stop()


def test_backup_refuses_a_corrupt_copy(tmp_path):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    try:
        backup(str(broken), str(tmp_path / "copy.db"))
    except (RuntimeError, sqlite3.DatabaseError):
        pass
    else:
        raise AssertionError("a broken database was copied without complaint")
    assert not (tmp_path / "copy.db").exists()


def test_a_bad_backup_leaves_the_database_as_it_was(tmp_path):
    from backend.db import init_db

    live = str(tmp_path / "live #1.db")  # a path a URI would misread without quoting
    init_db(live)
    conn = sqlite3.connect(live)
    conn.execute("INSERT INTO workers VALUES ('W1', 'Ana')")
    conn.commit()
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    try:
        restore(str(broken), live)
    except (RuntimeError, sqlite3.DatabaseError):
        pass
    else:
        raise AssertionError("a broken backup was restored")
    assert conn.execute("SELECT name FROM workers").fetchall() == [("Ana",)]
    conn.close()
    assert backup(live, str(tmp_path / "copy.db")) == 0
    assert not [path.name for path in tmp_path.iterdir() if ".partial" in path.name or ".restoring" in path.name]


def test_a_backup_from_a_newer_release_is_refused_and_the_database_kept(tmp_path):
    from backend.db import UnusableDatabase, init_db

    live, newer = str(tmp_path / "live.db"), str(tmp_path / "newer.db")
    for path in (live, newer):
        init_db(path)
    conn = sqlite3.connect(live)
    conn.execute("INSERT INTO workers VALUES ('W1', 'Ana')")
    conn.commit()
    conn.close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(UnusableDatabase, match="newer release"):
        restore(newer, live)
    conn = sqlite3.connect(live)
    assert conn.execute("SELECT name FROM workers").fetchall() == [("Ana",)]
    assert conn.execute("PRAGMA user_version").fetchone()[0] < 999
    conn.close()
    assert not [path.name for path in tmp_path.iterdir() if ".restoring" in path.name]


@pytest.mark.parametrize("restoring", [False, True])
def test_the_backup_command_says_what_failed_in_one_line(tmp_path, restoring):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 10)
    live = tmp_path / "live.db"
    args = ["--restore", str(broken)] if restoring else [str(tmp_path / "copy.db")]
    database = live if restoring else tmp_path / "missing" / "nowhere.db"
    result = subprocess.run([sys.executable, "-m", "backend.backup", *args, "--database", str(database)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {broken if restoring else database}: ") and line.endswith("; nothing was written")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.db"]
