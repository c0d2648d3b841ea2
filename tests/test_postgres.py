"""PostgreSQL as the store (SPEC §10): its schema in step with SQLite's, the SQL translated once,
its failures named by their storage cause, durable commits, and several app servers on one
database storing every event exactly once."""

import json
import random
import threading
import time
import urllib.error
import urllib.request
from itertools import pairwise

import psycopg
import pytest
from psycopg import pq

from backend import db, ingest, schema, store_pg
from backend.app import create_app
from backend.errors import StartupError
from backend.timeutil import format_instant, parse_instant
from tests.helpers import assert_problem, event, post_events
from tests.servers import Server, free_port

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def url(config):
    """The URL of the test's database (that of the app `config` makes)."""
    return config["DATABASE_PATH"]


def test_the_schema_versions_of_both_stores_are_in_step():
    assert schema.POSTGRES_FIRST_VERSION + len(schema.POSTGRES_MIGRATIONS) - 1 == schema.SCHEMA_VERSION


def test_a_new_database_gets_the_schema_once_and_records_its_version(url):
    db.init_db(url)  # a second start-up changes nothing
    conn = db.connect(url)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(schema.SCHEMA_VERSION,)]
        columns = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                    "WHERE table_name = 'events'").fetchall())
        assert columns["ts_ms"] == columns["received_at_ms"] == columns["id"] == "bigint"
    finally:
        conn.close()


def test_a_database_of_a_newer_release_stops_start_up_naming_it(url):
    conn = db.connect(url)
    conn.execute("UPDATE schema_version SET version = ?", (schema.SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(StartupError, match="from a newer release"):
        db.init_db(url)


@pytest.mark.parametrize("sql, expected", [
    ("SELECT 1 FROM t WHERE a = ? AND b = ?", ("SELECT 1 FROM t WHERE a = %s AND b = %s", None)),
    ("SELECT 1 FROM t WHERE (:a IS NULL OR a = :a) AND b > :b",
     ("SELECT 1 FROM t WHERE (%s::text IS NULL OR a = %s) AND b > %s", ["a", "a", "b"])),
    ("SELECT '?', ':x', 'it''s ?' WHERE a = ?", ("SELECT '?', ':x', 'it''s ?' WHERE a = %s", None)),
    ("SELECT a % 2, now()::text", ("SELECT a %% 2, now()::text", None)),
    ("BEGIN IMMEDIATE", (f"BEGIN; SELECT pg_advisory_xact_lock({store_pg.WRITE_LOCK_KEY})", None)),
    ("PRAGMA busy_timeout = 50", ("SET lock_timeout = 50", None)),
])
def test_sqlite_placeholders_and_transaction_statements_are_translated(sql, expected):
    assert store_pg.translate(sql) == expected


def test_rows_read_by_name_and_position_and_sums_are_whole_numbers(url):
    conn = db.connect(url)
    try:
        row = conn.execute("SELECT SUM(x) AS total, 'a' AS name FROM (VALUES (9007199254740993), (1)) AS v (x)"
                           ).fetchone()
        assert row["total"] == row[0] == 9007199254740994 and isinstance(row[0], int)
        assert row["name"] == "a" and tuple(row) == (9007199254740994, "a")
        assert conn.execute("SELECT SUM(x) FROM (VALUES (1.5), (1)) AS v (x)").fetchone()[0] == 2.5
    finally:
        conn.close()


def test_iterating_a_result_gives_every_row_in_order(url):
    conn = db.connect(url)
    try:
        rows = conn.execute("SELECT n, n * 2 AS double FROM generate_series(1, 2500) AS n ORDER BY n")
        assert [(row[0], row["double"]) for row in rows] == [(n, 2 * n) for n in range(1, 2501)]
    finally:
        conn.close()


def test_commits_are_durable_and_writers_take_one_lock(url):
    conn = db.connect(url)
    try:
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert conn.execute("SHOW fsync").fetchone()[0] == "on"
        with db.transaction(conn):
            locks = conn.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = ?",
                                 (store_pg.WRITE_LOCK_KEY,)).fetchone()[0]
        assert locks == 1
    finally:
        conn.close()


def test_a_single_event_write_waits_for_the_server_a_few_times_not_once_per_statement(app, url, clock, tmp_path):
    """A write sends its statements ahead and waits only where it reads an answer (a pipeline):
    a camera's single event is 8 round trips to the server, where one per statement would be
    22, each waiting for a core that the dashboards' reads share."""
    conn = db.connect(url)
    trace = tmp_path / "libpq-trace"
    try:
        for minute in range(3):  # the worker's earlier state and a warm connection
            ingest.ingest(conn, [event(f"2026-01-15T10:0{minute}:00Z", event_id=f"e{minute}")], clock(), 0)
        with trace.open("w") as file:
            conn.raw.pgconn.trace(file.fileno())
            conn.raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            summary = ingest.ingest(conn, [event("2026-01-15T10:05:00Z", event_id="e5")], clock(), 0)
            conn.raw.pgconn.untrace()
    finally:
        conn.close()
    assert summary["accepted"] == 1
    senders = [line.split("\t")[0] for line in trace.read_text().splitlines()]  # F: to the server, B: back
    round_trips = sum(1 for pair in pairwise(["F", *senders]) if pair == ("F", "B"))
    assert 0 < round_trips <= 8


def test_a_writer_held_too_long_is_busy_and_nothing_is_kept(config, url):
    client = create_app({**config, "BUSY_TIMEOUT_MS": 200}).test_client()
    holder = db.connect(url)
    try:
        with db.transaction(holder):  # another server's write transaction, taking its time
            response = client.post("/events", json=[event("2026-01-15T10:00:00Z")])
        body = assert_problem(response, 503)
        assert response.headers["Retry-After"] == "1" and "none of this request was kept" in body["detail"]
    finally:
        holder.close()
    post_events(client, event("2026-01-15T10:00:00Z"), status=201)  # the lock is free again


def test_reads_stop_at_the_query_time_limit(config):
    client = create_app({**config, "QUERY_TIMEOUT_SECONDS": 0}).test_client()
    response = client.get("/metrics/workers")
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"


def test_a_transaction_stopped_at_the_time_limit_can_still_be_ended(url):
    conn = db.connect(url)
    try:
        conn.execute("BEGIN")
        conn.set_time_limit(0)  # the time is up at once
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT 1")
        conn.execute("ROLLBACK")
        assert not conn.in_transaction
        conn.set_time_limit(None)
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
    finally:
        conn.close()


def test_a_read_only_database_turns_health_red_and_writes_are_refused(config, url, pg_cluster):
    client = create_app(config).test_client()
    post_events(client, event("2026-01-15T10:00:00Z"), status=201)
    name = url.split("?")[0].rsplit("/", 1)[1]
    pg_cluster.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    try:
        db._kept.conn.close()  # the setting meets new connections, as after a restart
        health = client.get("/health")
        assert health.status_code == 503 and health.get_json()["cause"] == "read_only"
        problem = assert_problem(client.post("/events", json=[event("2026-01-15T11:00:00Z")]), 503)
        assert problem["cause"] == "read_only"
        assert client.get("/events").get_json()["events"][0]["timestamp"] == "2026-01-15T10:00:00Z"
    finally:
        pg_cluster.execute(f"ALTER DATABASE {name} RESET default_transaction_read_only")


def test_a_database_that_is_gone_is_unreachable_and_the_message_hides_the_password(config, url, pg_cluster):
    client = create_app(config).test_client()
    post_events(client, event("2026-01-15T10:00:00Z"), status=201)
    name = url.split("?")[0].rsplit("/", 1)[1]
    pg_cluster.execute(f"DROP DATABASE {name} WITH (FORCE)")
    for _ in range(2):  # the connection is cut, then none can be made
        problem = assert_problem(client.post("/events", json=[event("2026-01-15T11:00:00Z")]), 503)
        assert problem["cause"] == "unreachable"
    assert client.get("/health").get_json()["cause"] == "unreachable"
    pg_cluster.execute(f"CREATE DATABASE {name} TEMPLATE {pg_cluster.template}")  # for its next test



def test_start_up_waits_for_a_server_that_does_not_answer_then_stops_with_one_line(config):
    nobody = f"postgresql://factory:s3cret@127.0.0.1:{free_port()}/factory"
    started = time.monotonic()
    with pytest.raises(StartupError) as stopped:
        create_app({**config, "DATABASE_PATH": nobody, "DATABASE_WAIT_SECONDS": 1})
    assert time.monotonic() - started >= 0.7  # asked again while the wait lasted
    assert "unreachable" in str(stopped.value) and "s3cret" not in str(stopped.value)
    assert "\n" not in str(stopped.value)


@pytest.mark.parametrize("error, cause", [
    (psycopg.errors.DiskFull("no space left on device"), "disk_full"),
    (psycopg.errors.ReadOnlySqlTransaction("read-only"), "read_only"),
    (psycopg.errors.DataCorrupted("invalid page"), "corrupt"),
    (psycopg.errors.QueryCanceled("statement timeout"), "busy"),
    (psycopg.errors.LockNotAvailable("lock timeout"), "busy"),
    (psycopg.errors.AdminShutdown("terminating connection"), "unreachable"),
    (psycopg.OperationalError("connection refused"), "unreachable"),
    (psycopg.errors.UndefinedTable("no such table"), None),
])
def test_psycopg_errors_name_their_storage_cause(error, cause):
    assert db.storage_cause(error) == cause


# --- Two app servers on one database ----------------------------------------------------------


def post(base, events):
    """POST a batch to one server; `(status, body)`, `(None, None)` when the server did not answer."""
    request = urllib.request.Request(base + "/events", data=json.dumps(events).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return None, None


def test_two_servers_on_one_database_store_every_event_once_and_agree(tmp_path, url):
    start_ms = parse_instant("2026-01-15T08:00:00Z")  # a fixed day: real servers take it (servers.FIXED_DATES)
    rng = random.Random(17)
    events = []
    for number in range(600):
        kind = rng.choice(["working", "idle", "absent", "product_count"])
        # One event every 5 s: no two share a natural key.
        body = event(format_instant(start_ms + 5000 * number),
                     worker_id=f"W{rng.randrange(8)}", workstation_id=f"S{rng.randrange(5)}", event_type=kind,
                     **({"count": rng.randint(1, 5)} if kind == "product_count" else {}))
        if number % 2:
            body["event_id"] = f"cam-{number}"  # half with an idempotency key, half by their natural key
        events.append(body)
    distinct = len(events)
    batches = [events[start:start + 20] for start in range(0, len(events), 20)]
    # Some batches twice, side by side: two senders post them to the two servers at about the same time.
    sends = []
    for batch in batches:
        sends.extend([batch, batch] if rng.random() < 0.4 else [batch])

    servers = [Server(str(tmp_path / f"server-{n}"), DATABASE_URL=url).start() for n in range(2)]
    try:
        failures, faults = [], []

        def sender(number):
            for index in range(number, len(sends), 6):
                for attempt in range(50):  # a retrying camera: each batch is sent until acknowledged
                    status, body = post(servers[(index + attempt) % 2].base, sends[index])
                    if status is not None and status >= 500 and status != 503:
                        faults.append(status)  # a fault of ours, not a busy database
                    if status in (200, 201):
                        if body["rejected"]:
                            failures.append(body)
                        break
                    time.sleep(0.05 * (attempt + 1))
                else:
                    failures.append(index)

        threads = [threading.Thread(target=sender, args=(number,)) for number in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        assert not failures and not faults and not any(thread.is_alive() for thread in threads)

        conn = db.connect(url)
        try:
            assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == distinct
            assert conn.execute("SELECT COUNT(DISTINCT id) FROM events").fetchone()[0] == distinct
        finally:
            conn.close()
        window = "?from=2026-01-15T07:00:00Z&to=2026-01-15T10:00:00Z"
        for path in ("/metrics/workers", "/metrics/workstations", "/metrics/factory"):
            first, second = (server.get(path + window) for server in servers)
            assert first == second, path
        assert servers[0].get("/metrics/factory" + window)["factory"]["event_count"] == distinct
    finally:
        for server in servers:
            server.stop()


def test_the_file_backup_refuses_a_postgresql_database(monkeypatch, tmp_path, capsys):
    from backend import backup

    monkeypatch.setenv("DATABASE_URL", "postgresql://factory@127.0.0.1/factory")
    with pytest.raises(SystemExit) as stopped:
        backup.main([str(tmp_path / "copy.db")])
    assert stopped.value.code == 2 and "pg_dump" in capsys.readouterr().err
    assert not (tmp_path / "copy.db").exists()
