"""SPEC §7 Health that tells the truth, and start-up on a file it cannot use.

`GET /health` is `200 ok` only when the database can be read and written; otherwise `503` with
`"status": "degraded"` and the cause. Every other request failing for a storage cause names it
too. A damaged file is never written to. Start-up on a file it cannot use is one line naming
the path and the cause. Every storage fault here is real, on real SQLite files: a page limit
SQLite enforces, file permissions (taken as an unprivileged user, since root ignores them),
pages overwritten in the middle of a file, a folder taken away.
"""

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import contextmanager

import pytest

from backend import db, schema, seed
from backend.app import create_app
from backend.errors import StartupError
from tests.helpers import assert_problem, at, event, get_ok, post_events
from tests.servers import DEV_SERVER, GUNICORN, REPO_ROOT, Server

NOBODY = 65534  # the conventional unprivileged user and group


def degraded(client, cause):
    """`/health` is `503 degraded` naming `cause`; returns the body."""
    response = client.get("/health")
    assert response.status_code == 503, response.get_json()
    body = response.get_json()
    assert (body["status"], body["cause"]) == ("degraded", cause), body
    assert body["detail"]
    return body


def storage_problem(response, cause):
    """The answer is a `503` problem naming the storage `cause`, not "could not answer in time"."""
    body = assert_problem(response, 503)
    assert body["cause"] == cause, body
    assert "in time" not in body["detail"]
    return body


def many_events(count, prefix="mark"):
    """`count` distinct events of one worker, a second apart, named `<prefix>-0000`..."""
    return [event(at(f"{8 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"), "W1", event_id=f"{prefix}-{i:04d}")
            for i in range(count)]


def copy_database(source, target):
    """A consistent copy of the database file `source` at `target`, with no write-ahead log beside it."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    reader, writer = sqlite3.connect(source), sqlite3.connect(target)
    try:
        reader.backup(writer)
    finally:
        writer.close()
        reader.close()


def damage_page_holding(path, marker):
    """Overwrite, with random bytes, the table page that holds the text `marker`: a file that
    still opens, whose damage shows only when that page is read."""
    with open(path, "r+b") as file:
        data = file.read()
        page_size = int.from_bytes(data[16:18], "big")
        for start in range(page_size, len(data), page_size):
            page = data[start:start + page_size]
            if page[0] == 0x0D and marker in page:  # 0x0D: a leaf page of a table
                file.seek(start)
                file.write(random.Random(7).randbytes(page_size))
                return
    raise AssertionError(f"no table page holds {marker!r}")


def file_state(path):
    """The bytes of the database file and of its write-ahead log, as a digest."""
    digest = hashlib.sha256()
    for name in (path, f"{path}-wal"):
        if os.path.exists(name):
            with open(name, "rb") as file:
                digest.update(file.read())
    return digest.hexdigest()


@contextmanager
def unprivileged():
    """Run the block as a user without special rights, so that file permissions bite: root's do not."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def open_folder():
    """A folder an unprivileged user can reach and create files in (pytest's own is root's alone)."""
    folder = tempfile.mkdtemp(prefix="factory-health-")
    os.chmod(folder, 0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# §7 Health: read and written, or degraded with the cause
# --------------------------------------------------------------------------------------------

def test_health_writes_the_database_to_say_ok(app, client, clock):
    body = get_ok(client, "/health")
    assert body == {"status": "ok", "database": "ok", "events": 0}
    conn = db.connect(app.config["DATABASE_PATH"])
    assert conn.execute("SELECT checked_at_ms FROM health_check").fetchone()[0] == clock()  # a real write
    conn.close()


@pytest.mark.sqlite_only
def test_disk_full_turns_health_red_and_every_write_says_so(app, client):
    post_events(client, event(at("07:00")), status=201)
    with app.test_request_context("/"):  # the connection the test client's requests use
        conn = db.get_db()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite refuses to grow the file: SQLITE_FULL
    response = client.post("/events", json=many_events(400))
    storage_problem(response, "disk_full")
    degraded(client, "disk_full")
    assert get_ok(client, "/events")["events"][0]["timestamp"] == at("07:00")  # still readable; nothing kept

    with app.test_request_context("/"):
        db.get_db().execute("PRAGMA max_page_count = 1000000")  # space freed
    post_events(client, *many_events(400), status=201)
    assert get_ok(client, "/health")["status"] == "ok"


@pytest.mark.sqlite_only
def test_read_only_file_turns_health_red_and_writes_are_refused(config, open_folder, clock):
    path = os.path.join(open_folder, "factory.db")
    client = create_app({**config, "DATABASE_PATH": path}).test_client()
    conn = db.connect(path)
    seed.load_demo(conn, clock())
    conn.close()
    os.chmod(path, 0o444)  # as a volume mounted read-only, or a file of another user, meets a new connection
    with unprivileged():
        body = degraded(client, "read_only")
        assert "read-only" in body["detail"]
        storage_problem(client.post("/events", json=[event(at("18:00"))]), "read_only")
        assert len(get_ok(client, "/workers")["workers"]) == 6  # reads still answer


@pytest.mark.sqlite_only
def test_a_database_that_is_gone_is_unreachable_for_health_reads_and_writes(app, client):
    post_events(client, event(at("07:00")), status=201)
    shutil.rmtree(os.path.dirname(app.config["DATABASE_PATH"]))
    degraded(client, "unreachable")
    storage_problem(client.get("/metrics/workers"), "unreachable")
    storage_problem(client.post("/events", json=[event(at("08:00"))]), "unreachable")
    assert not os.path.exists(app.config["DATABASE_PATH"])  # no empty database made in its place


@pytest.mark.sqlite_only
def test_a_file_replaced_by_a_folder_is_unreachable(app, client):
    post_events(client, event(at("07:00")), status=201)
    path = app.config["DATABASE_PATH"]
    for name in (path, f"{path}-wal", f"{path}-shm"):
        if os.path.exists(name):
            os.remove(name)
    os.mkdir(path)
    degraded(client, "unreachable")
    storage_problem(client.get("/events"), "unreachable")


@pytest.mark.sqlite_only
def test_half_corrupt_file_is_found_out_and_never_written_to_again(config, tmp_path):
    source = str(tmp_path / "source" / "factory.db")
    writer = create_app({**config, "DATABASE_PATH": source}).test_client()
    writer.post("/seed")
    post_events(writer, *many_events(3000), status=201)
    path = str(tmp_path / "damaged" / "factory.db")
    copy_database(source, path)
    damage_page_holding(path, b"mark-1500")

    client = create_app({**config, "DATABASE_PATH": path}).test_client()  # the header and schema are sound
    storage_problem(client.get("/metrics/workers"), "corrupt")
    before = file_state(path)
    storage_problem(client.post("/events", json=[event(at("12:00"), "W-NEW")]), "corrupt")
    storage_problem(client.post("/seed?replace=all"), "corrupt")
    degraded(client, "corrupt")
    assert file_state(path) == before  # nothing written, not even to its log
    assert os.path.exists(db.damage_marker(path))  # every other process of this server is told

    with pytest.raises(StartupError, match=f"{path}: corrupt"):
        create_app({**config, "DATABASE_PATH": path})  # a restart checks the whole file first

    os.remove(path)
    copy_database(source, path)  # restored from a backup
    restored = create_app({**config, "DATABASE_PATH": path}).test_client()
    assert not os.path.exists(db.damage_marker(path))
    post_events(restored, event(at("12:00"), "W-NEW"), status=201)
    assert get_ok(restored, "/health")["status"] == "ok"


def test_a_busy_database_still_asks_for_a_retry(make_client):
    client = make_client(QUERY_TIMEOUT_SECONDS=0)
    client.post("/seed")
    response = client.get("/metrics/workers")
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1" and "in time" in body["detail"] and "cause" not in body


# --------------------------------------------------------------------------------------------
# §7 Start-up on a file it cannot use: one line with the path and the cause, never a traceback
# --------------------------------------------------------------------------------------------

def not_a_database(path):
    with open(path, "wb") as file:
        file.write(b"These are the minutes of the safety meeting, not a database.\n" * 100)


def from_a_newer_release(path):
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 5}")
    conn.close()


def a_folder(path):
    os.mkdir(path)


def found_damaged(path):
    source = path + ".source"
    db.init_db(source)
    conn = db.connect(source)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.executemany("INSERT INTO notes VALUES (?)", [(f"note-{i:04d} " * 20,) for i in range(500)])
    conn.close()
    copy_database(source, path)
    damage_page_holding(path, b"note-0250")
    with open(db.damage_marker(path), "w") as marker:
        marker.write("database disk image is malformed\n")


@pytest.mark.parametrize("command", [GUNICORN, DEV_SERVER], ids=["gunicorn as make run starts it", "python -m backend"])
@pytest.mark.parametrize("make_file, cause", [
    (not_a_database, "corrupt"),
    (from_a_newer_release, "from a newer release"),
    (a_folder, "unreachable"),
    (found_damaged, "corrupt"),
])
def test_start_up_on_a_file_it_cannot_use_is_one_line_naming_path_and_cause(tmp_path, command, make_file, cause):
    server = Server(tmp_path / "server", command)
    make_file(server.database_path)
    finished = subprocess.run(server.command, cwd=REPO_ROOT, env=server.env, capture_output=True, text=True,
                              timeout=60)
    lines = [line for line in (finished.stdout + finished.stderr).splitlines() if line.strip()]
    assert finished.returncode == 1, lines
    assert len(lines) == 1, lines
    assert server.database_path in lines[0] and cause in lines[0], lines
    assert "Traceback" not in finished.stderr
