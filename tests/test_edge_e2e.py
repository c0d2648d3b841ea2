"""End to end: the simulator feeds a real server through the edge client while both are killed
and restarted mid-stream; in the end every event the device made is stored exactly once."""

import sqlite3
import subprocess
import sys
import time

from backend.edge.simulate import floor_events
from tests.helpers import stored_count
from tests.servers import REPO_ROOT, Server

CAMERAS = 30
RUN_SEED = 5


def wait_until(condition, deadline_s=60):
    """Poll an observable condition (a row count, a process state) until it holds."""
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.02)


def simulator(base, outbox, speed):
    return subprocess.Popen(
        [sys.executable, "-m", "backend.edge.simulate", "--url", base, "--cameras", str(CAMERAS),
         "--speed", str(speed), "--outbox", str(outbox), "--batch-size", "20",
         "--seed", str(RUN_SEED), "--backoff-max", "0.2", "--max-seconds", "120"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_simulator_and_server_restarts_lose_nothing_and_store_nothing_twice(tmp_path):
    planned = {event["event_id"] for _offset, event in floor_events(CAMERAS, RUN_SEED)}
    outbox = tmp_path / "outbox.db"
    server = Server(tmp_path / "server").start()
    database = server.database_path
    # Played at 2400x (the shift in 12 s), so the stream is still going when the power is cut.
    first = simulator(server.base, outbox, speed=2400)
    try:
        wait_until(lambda: stored_count(database, "SELECT COUNT(*) FROM events") > 200)
        server.kill()  # mid-stream, as a power cut would
        stored_at_cut = stored_count(database, "SELECT COUNT(*) FROM events")
        # The client notices and keeps its events; then the device loses power too.
        retried = "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts > 0"
        wait_until(lambda: stored_count(outbox, retried) > 0)
        first.kill()
        first.wait(timeout=10)
        assert stored_at_cut < len(planned)

        server.start()  # same port, same database file
        second = simulator(server.base, outbox, speed=0)  # resumes from the outbox, then the rest at once
        output, _ = second.communicate(timeout=120)
        assert second.returncode == 0, output
    finally:
        first.kill()
        server.stop()

    conn = sqlite3.connect(database)
    stored = [row[0] for row in conn.execute("SELECT event_id FROM events")]
    # Every planned event, and the states the device sent again (after the restart, as heartbeats).
    made = {row[0] for row in sqlite3.connect(outbox).execute("SELECT event_id FROM outbox")}
    assert planned <= made
    assert len(stored) == len(set(stored)) == len(made)
    assert set(stored) == made
    assert stored_count(outbox, "SELECT COUNT(*) FROM outbox WHERE status != 'sent'") == 0
