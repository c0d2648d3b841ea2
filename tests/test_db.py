"""The database file: created with its folder, WAL mode, schema versions upgraded in place."""

import sqlite3

import pytest

from backend import db, schema
from tests.helpers import event, post_events


def test_database_file_and_folder_are_created(tmp_path, make_client):
    path = tmp_path / "deep" / "er" / "factory.db"
    make_client(DATABASE_PATH=str(path))
    assert path.exists()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION


def test_instants_are_stored_as_integer_epoch_milliseconds(client, app):
    post_events(client, event("2026-01-15T12:00:00.250+02:00"), status=201)
    conn = sqlite3.connect(app.config["DATABASE_PATH"])
    assert conn.execute("SELECT ts_ms, typeof(ts_ms) FROM events").fetchone() == (1768471200250, "integer")


def test_time_model_reads_use_indexes(app):
    from backend import queries

    conn = sqlite3.connect(app.config["DATABASE_PATH"])

    def plan(sql, params):
        return " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))

    scope = queries.scope_params(worker_id="W1", start_ms=5, end_ms=9, day=0)
    # The state carried into a window is a seek per hour of one day (what they find, one worker's
    # state events of that day, is sorted for the latest; never a range of the index); the
    # window's own state events a seek per hour; the days come from their own key.
    carry_in_all = plan(queries.CARRY_IN_STATES_SQL.format(workers="(:w0), (:w1)"), {**scope, "w0": "W1", "w1": "W2"})
    for carry_in in (carry_in_all, plan(queries.CARRY_IN_STATE_SQL, scope)):
        assert "USING INDEX events_worker_hour_states (<expr>=? AND worker_id=? AND ts_ms<?)" in carry_in
        assert "SCAN events" not in carry_in
    window = plan(queries.WINDOW_STATES_SQL, scope)
    assert "USING INDEX events_worker_hour_states (<expr>=? AND worker_id=? AND ts_ms>? AND ts_ms<?)" in window
    assert "TEMP B-TREE" not in window
    # Every worker's window at once is one range of the time index, already in order.
    window_all = plan(queries.WINDOW_ALL_STATES_SQL, scope)
    assert "USING INDEX events_time (ts_ms>? AND ts_ms<?)" in window_all
    assert "TEMP B-TREE" not in window_all
    assert "USING PRIMARY KEY (worker_id=? AND day<?)" in plan(queries.STATE_DAYS_BEFORE_SQL, scope)
    next_states = queries.NEXT_STATES_AFTER_SQL.format(hours=24, pairs="(?, ?), (?, ?)")
    assert "USING INDEX events_worker_hour_states (<expr>=? AND worker_id=? AND ts_ms>?)" in plan(
        next_states, ("W1", 5, "W2", 7))
    assert "USING INDEX events_time" in plan(queries.FIND_BY_NATURAL_KEY_SQL, ("W1", 5, "S1", "working", None))
    assert "events_time" in plan("SELECT COUNT(*) FROM events WHERE ts_ms BETWEEN 1 AND 5", ())


def test_older_database_is_upgraded_in_place_keeping_its_events(tmp_path, make_client):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(schema.SQLITE_MIGRATIONS[0])  # a file written by the first schema version
    conn.execute("INSERT INTO workers VALUES ('W1', 'Ana')")
    conn.execute("INSERT INTO workstations VALUES ('S1', 'Press')")
    conn.execute("INSERT INTO events (ts_ms, worker_id, workstation_id, event_type, site_id, received_at_ms) "
                 "VALUES (1768464000000, 'W1', 'S1', 'working', 'north', 0)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    client = make_client(DATABASE_PATH=str(path))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"events_event_id", "events_worker_hour_states", "events_time"} <= indexes
    assert client.get("/workers").get_json()["workers"] == [{"worker_id": "W1", "name": "Ana"}]
    assert [site["site_id"] for site in client.get("/sites").get_json()["sites"]] == ["north"]
    assert client.get("/metrics/workers?site_id=north").get_json()["workers"][0]["worker_id"] == "W1"
    # The days of each worker's state events are listed on upgrade: its state carries into a later window.
    later = client.get("/metrics/workers?from=2026-01-15T09:00:00Z&to=2026-01-15T10:00:00Z").get_json()
    assert later["workers"][0]["active_seconds"] == 3600, later


def test_newer_database_is_refused(tmp_path, make_client):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(db.SchemaTooNewError):
        make_client(DATABASE_PATH=str(path))


def test_failed_batch_keeps_nothing(client, app, monkeypatch):
    from backend import queries

    # The insert fails half-way through the batch: the whole request is rolled back.
    missing_table = queries.INSERT_EVENT_SQL.replace("events (", "events_missing (", 1)
    monkeypatch.setattr(queries, "INSERT_EVENT_SQL", missing_table)
    response = client.post("/events", json=[event("2026-01-15T08:00:00Z")])
    assert response.status_code == 503
    monkeypatch.undo()
    assert client.get("/workers").get_json()["workers"] == []
    conn = sqlite3.connect(app.config["DATABASE_PATH"])
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_many_processes_opening_one_new_file_at_once_all_start(tmp_path):
    import subprocess
    import sys

    from tests.servers import REPO_ROOT

    path = tmp_path / "fresh" / "factory.db"
    code = ("import sys; from backend.app import create_app; "
            f"create_app({{'DATABASE_PATH': {str(path)!r}, 'SEED_IF_EMPTY': True}}); print('ok')")
    starters = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [starter.communicate(timeout=60) for starter in starters]
    assert all(starter.returncode == 0 for starter in starters), [err[-500:] for _, err in results]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(DISTINCT event_id) = COUNT(*) FROM events").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM workers").fetchone()[0] == 6  # seeded once


def test_a_process_starting_while_another_writes_waits_for_its_turn(tmp_path):
    import subprocess
    import sys

    from backend.db import init_db
    from tests.servers import REPO_ROOT

    path = tmp_path / "busy.db"
    init_db(str(path))
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")  # a long write by a server process already running
    code = f"from backend.app import create_app; create_app({{'DATABASE_PATH': {str(path)!r}}}); print('started')"
    starter = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        try:
            starter.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass  # still waiting for the lock, as it should
        assert starter.returncode is None, starter.stderr.read()[-800:]
    finally:
        writer.execute("COMMIT")
    out, err = starter.communicate(timeout=60)
    assert starter.returncode == 0 and "started" in out, err[-800:]




def test_a_commit_is_synced_to_disk_and_the_write_ahead_log_is_bounded(app, client):
    # Acknowledged means on disk: under WAL, `synchronous = FULL` syncs the log at every commit,
    # so a 201 survives a crash of the machine; `NORMAL` would not.
    with app.test_request_context("/events", method="POST"):
        conn = db.get_db()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert 0 < conn.execute("PRAGMA journal_size_limit").fetchone()[0] <= 64 * 1024 * 1024


def test_the_count_of_clears_is_gone_from_an_upgraded_file(app):
    conn = sqlite3.connect(app.config["DATABASE_PATH"])
    columns = [row[1] for row in conn.execute("PRAGMA table_info(data_version)")]
    assert columns == ["id", "generation"]


def _wait_for(condition, deadline_s=10):
    import time

    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.001)  # polling a condition, not a wait standing in for one


def test_writes_that_wait_together_are_committed_together_and_fail_alone(tmp_path):
    # While the file is locked, one write waits for it and four more queue behind: those four
    # are stored by one call in one transaction by one thread (one sync of the log); when that
    # call raises, each is stored again alone, and the one that raises is undone alone.
    import threading

    path = str(tmp_path / "together.db")
    db.init_db(path)
    setup = db.connect(path)
    setup.execute("CREATE TABLE t (who TEXT)")
    blocker = db.connect(path)
    blocker.execute("BEGIN IMMEDIATE")
    ran_on, errors, calls = {}, {}, []

    def store(conn, names):
        calls.append(sorted(names))
        for name in names:
            ran_on[name] = id(conn)
            conn.execute("INSERT INTO t VALUES (?)", (name,))
        if "bad" in names:
            raise ValueError("refused")
        return [f"stored {name}" for name in names]

    def write(name):
        conn = db.connect(path)
        try:
            assert db.write_together(conn, name, store) == f"stored {name}"
        except ValueError as error:
            errors[name] = str(error)
        finally:
            conn.close()

    first = threading.Thread(target=write, args=("first",))
    first.start()
    _wait_for(lambda: db._writer.locked() and not db._waiting_writes)  # the first holds the turn
    others = [threading.Thread(target=write, args=(name,)) for name in ("a", "b", "bad", "c")]
    for thread in others:
        thread.start()
    _wait_for(lambda: len(db._waiting_writes) == 4)
    blocker.execute("ROLLBACK")
    for thread in [first, *others]:
        thread.join(10)
    assert len({ran_on[name] for name in ("a", "b", "bad", "c")}) == 1  # one thread ran them all
    assert errors == {"bad": "refused"}
    assert calls[:2] == [["first"], ["a", "b", "bad", "c"]]
    assert sorted(calls[2:]) == [["a"], ["b"], ["bad"], ["c"]]
    assert sorted(row[0] for row in setup.execute("SELECT who FROM t")) == ["a", "b", "c", "first"]
    for conn in (setup, blocker):
        conn.close()


def test_a_write_finding_the_file_locked_tries_again_every_half_millisecond(tmp_path, monkeypatch):
    # SQLite's own busy handler would sleep 1, 2, 5, 10, 15 ... ms between tries; the lock is
    # taken at the first try after the other writer's transaction ended.
    path = str(tmp_path / "locked.db")
    db.init_db(path)
    blocker, writer = db.connect(path), db.connect(path, busy_timeout_ms=5000)
    blocker.execute("BEGIN IMMEDIATE")
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:
            blocker.execute("ROLLBACK")

    monkeypatch.setattr(db.time, "sleep", sleep)
    with db.transaction(writer):
        assert writer.in_transaction
    assert sleeps == [db.BEGIN_RETRY_S] * 3
    assert writer.execute("PRAGMA busy_timeout").fetchone()[0] == 5000  # reads still wait as before
    for conn in (blocker, writer):
        conn.close()


def test_a_write_gives_up_with_the_lock_error_after_the_busy_timeout(tmp_path):
    path = str(tmp_path / "locked.db")
    db.init_db(path)
    blocker, writer = db.connect(path), db.connect(path, busy_timeout_ms=50)
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as failure:
        with db.transaction(writer):
            pass
    assert db.lock_timed_out(failure.value) and not writer.in_transaction
    assert writer.execute("PRAGMA busy_timeout").fetchone()[0] == 50
    for conn in (blocker, writer):
        conn.close()
