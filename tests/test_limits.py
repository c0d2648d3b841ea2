"""Every read request bounded as a whole: one deadline for its SQL and its Python loops, a client
that has gone stops the work, and heavy metrics reads take turns within a process."""

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import types

import pytest

from backend import charts, limits, metrics
from backend.logs import JsonFormatter

from .helpers import assert_problem, at, event, post_events
from .servers import REPO_ROOT, SERVE_ARGS

TIMELINE = "/metrics/timeline"


class FakeClock:
    """A monotonic clock in seconds that moves only when told."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake_clock(monkeypatch):
    """The clock every request limit reads, standing still unless a test moves it."""
    clock = FakeClock()
    monkeypatch.setattr(limits, "time", types.SimpleNamespace(monotonic=clock))
    return clock


@pytest.fixture
def floor(client):
    """Three workers with a morning of state events each."""
    post_events(client, *[event(at(f"{hour:02d}:00"), f"W{worker}", kind)
                          for worker in range(3) for hour, kind in ((8, "working"), (10, "idle"), (11, "working"))],
                status=201)
    return client


@pytest.fixture
def pieces_made(monkeypatch):
    """The state events the time model has turned into intervals, in order; the charts look at
    the request's limit between every two rows they read."""
    made = []
    original = metrics.state_pieces

    def counting(event, *args, **kwargs):
        made.append(event)
        return original(event, *args, **kwargs)

    monkeypatch.setattr(metrics, "state_pieces", counting)
    monkeypatch.setattr(charts, "CHECK_EVERY", 1)
    return made


def closed_peer():
    """A connected socket whose peer has closed: what a server holds once a browser gave up."""
    ours, theirs = socket.socketpair()
    theirs.close()
    return ours


# --- the limit itself ------------------------------------------------------------------------

def test_a_limit_stops_at_its_deadline_and_stays_stopped():
    clock = FakeClock()
    limit = limits.Limit(clock.now + 5, clock=clock)
    assert limit.stop_reason() is None
    clock.now += 5.001
    assert limit.stop_reason() == "deadline"
    clock.now -= 10  # a reason once found is kept
    assert limit.stop_reason() == "deadline"


def test_a_closed_peer_is_seen_and_a_live_one_is_not():
    ours, theirs = socket.socketpair()
    try:
        assert not limits.client_gone(ours)
        theirs.sendall(b"GET /next HTTP/1.1\r\n")  # a pipelined request waiting: the client is there
        assert not limits.client_gone(ours)
        assert ours.recv(100)  # peeking left it in place
        theirs.close()
        assert limits.client_gone(ours)
    finally:
        ours.close()


def test_checked_rows_stop_mid_loop_once_the_deadline_passes():
    clock = FakeClock()
    limits.begin(1, clock=clock)
    try:
        seen = []
        with pytest.raises(limits.RequestStopped) as stopped:
            for number in limits.checked(range(10_000), every=100):
                seen.append(number)
                if number == 250:
                    clock.now += 2
        assert stopped.value.reason == "deadline" and len(seen) == 300
    finally:
        limits.end()


def test_outside_a_request_nothing_is_limited():
    assert limits.stop_reason() is None and limits.remaining_s() is None
    assert list(limits.checked([1, 2, 3], every=1)) == [1, 2, 3]


# --- through the app -------------------------------------------------------------------------

def test_python_work_past_the_deadline_answers_the_503_problem(floor, fake_clock, pieces_made, monkeypatch):
    counting = metrics.state_pieces

    def slow(event, *args, **kwargs):  # each state event takes longer than the limit
        fake_clock.now += 3600
        return counting(event, *args, **kwargs)

    monkeypatch.setattr(metrics, "state_pieces", slow)
    response = floor.get(TIMELINE, query_string={"from": at("08:00"), "to": at("12:00")})
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert "in time" in body["detail"] and "QUERY_TIMEOUT_SECONDS" in body["detail"]
    assert len(pieces_made) == 1  # stopped at the next interval, with no SQL left to interrupt it


def test_within_the_deadline_the_same_request_answers(floor, fake_clock, pieces_made):
    response = floor.get(TIMELINE, query_string={"from": at("08:00"), "to": at("12:00")})
    assert response.status_code == 200 and len(pieces_made) == 9


def test_sql_past_the_deadline_answers_the_same_503_problem(floor, fake_clock, monkeypatch):
    # The clock passes the deadline while SQLite runs: its progress handler asks the same limit.
    from backend import queries

    original = queries.window_bounds

    def late(conn, scope):
        fake_clock.now += 3600
        return original(conn, scope)

    monkeypatch.setattr(queries, "window_bounds", late)
    response = floor.get("/metrics/workers", query_string={"min_confidence": "0.1"})
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"


def test_an_abandoned_request_stops_its_work_and_logs_499(floor, pieces_made, caplog):
    peer = closed_peer()
    try:
        with caplog.at_level(logging.INFO, logger="factory.access"):
            response = floor.get(TIMELINE, environ_base={"gunicorn.socket": peer})
    finally:
        peer.close()
    assert response.status_code == limits.CLIENT_CLOSED and response.data == b""
    assert pieces_made == []
    line = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert (line["path"], line["status"]) == (TIMELINE, 499)


def test_a_client_still_there_is_answered(floor):
    ours, theirs = socket.socketpair()
    try:
        response = floor.get(TIMELINE, environ_base={"gunicorn.socket": ours})
    finally:
        ours.close()
        theirs.close()
    assert response.status_code == 200


def test_writes_are_not_stopped_part_way(client, fake_clock):
    # A write shares its transaction with others' (db.write_together); it is bounded by its size.
    peer = closed_peer()
    try:
        answer = post_events(client, event(at("09:00")), environ_base={"gunicorn.socket": peer}, status=201)
    finally:
        peer.close()
    assert answer["accepted"] == 1


# --- heavy reads take turns --------------------------------------------------------------------

@pytest.fixture
def one_turn(make_client):
    """A client of an app with one turn at heavy work and a short limit, and that turn taken."""
    client = make_client(HEAVY_REQUESTS=1, QUERY_TIMEOUT_SECONDS=0.3)
    post_events(client, event(at("09:00")), status=201)
    turns = client.application.extensions["heavy_turns"]
    assert turns.acquire(blocking=False)
    yield client
    turns.release()


def test_a_metrics_read_waits_for_a_turn_then_answers_503(one_turn):
    body = assert_problem(one_turn.get("/metrics/workers"), 503)
    assert "in time" in body["detail"]


def test_other_reads_do_not_wait_for_a_turn(one_turn):
    for path in ("/health", "/events", "/workers", "/openapi.json"):
        assert one_turn.get(path).status_code == 200, path


def test_a_metrics_read_without_its_token_never_waits_for_a_turn(make_client):
    client = make_client(HEAVY_REQUESTS=1, QUERY_TIMEOUT_SECONDS=60, VIEW_TOKENS="viewer-token")
    turns = client.application.extensions["heavy_turns"]
    assert turns.acquire(blocking=False)
    try:
        assert_problem(client.get("/metrics/workers"), 401)
    finally:
        turns.release()


def test_an_abandoned_wait_for_a_turn_stops(make_client):
    client = make_client(HEAVY_REQUESTS=1, QUERY_TIMEOUT_SECONDS=60)
    turns = client.application.extensions["heavy_turns"]
    assert turns.acquire(blocking=False)
    peer = closed_peer()
    try:
        response = client.get("/metrics/workers", environ_base={"gunicorn.socket": peer})
    finally:
        peer.close()
        turns.release()
    assert response.status_code == 499


def test_sqlite_memory_of_a_process_is_held_together(app):
    from backend import db

    conn = db.connect(app.config["DATABASE_PATH"])
    try:  # one limit for every connection's page cache, not 64 threads times cache_size
        assert conn.execute("PRAGMA soft_heap_limit").fetchone()[0] == 64 * 1024 * 1024
    finally:
        conn.close()


def test_no_turn_at_all_stops_start_up(make_client):
    from backend.errors import StartupError

    with pytest.raises(StartupError, match="HEAVY_REQUESTS must be at least 1, not 0"):
        make_client(HEAVY_REQUESTS=0)


def test_turns_are_given_back_whatever_the_answer(make_client):
    client = make_client(HEAVY_REQUESTS=2)
    post_events(client, event(at("09:00")), status=201)
    assert client.get("/metrics/workers").status_code == 200
    assert client.get("/metrics/workers?min_confidence=7").status_code == 422
    assert client.get("/metrics/workers/nobody").status_code == 404
    turns = client.application.extensions["heavy_turns"]
    assert turns.acquire(blocking=False) and turns.acquire(blocking=False)


def test_turns_let_the_permitted_number_through_at_once(make_client):
    client = make_client(HEAVY_REQUESTS=2, QUERY_TIMEOUT_SECONDS=30)
    post_events(client, event(at("09:00")), status=201)
    inside, release, lock = [], threading.Event(), threading.Lock()
    most = []
    original = metrics.report_from_tally

    def holding(*args, **kwargs):
        with lock:
            inside.append(1)
            most.append(len(inside))
        release.wait(10)
        with lock:
            inside.pop()
        return original(*args, **kwargs)

    statuses = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "report_from_tally", holding)
        threads = [threading.Thread(target=lambda: statuses.append(client.get("/metrics/factory").status_code))
                   for _ in range(5)]
        for thread in threads:
            thread.start()
        deadline = threading.Event()
        for _ in range(200):  # until two are inside, at most 10 s
            if len(most) >= 2:
                break
            deadline.wait(0.05)
        release.set()
        for thread in threads:
            thread.join(30)
    assert max(most) == 2 and statuses == [200] * 5


# --- gunicorn stays above the request limit ----------------------------------------------------

def gunicorn_check(**env):
    return subprocess.run([sys.executable, "-m", "gunicorn", *SERVE_ARGS, "--check-config", "--print-config"],
                          cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_gunicorn_timeout_stays_well_above_the_request_limit():
    result = gunicorn_check(QUERY_TIMEOUT_SECONDS="45", WEB_TIMEOUT="")
    assert result.returncode == 0, result.stderr
    timeout = next(int(line.split("=")[1]) for line in result.stdout.splitlines() if line.startswith("timeout "))
    assert timeout >= 3 * 45


def test_a_gunicorn_timeout_too_close_to_the_request_limit_stops_start_up():
    result = gunicorn_check(QUERY_TIMEOUT_SECONDS="20", WEB_TIMEOUT="30")
    assert result.returncode != 0
    assert "WEB_TIMEOUT=30" in result.stdout + result.stderr and "Traceback" not in result.stdout + result.stderr


# --- through gunicorn, as served -------------------------------------------------------------

def raw_request(port, path, half_close):
    """Send one GET over a plain socket; with `half_close` the client closes its side at once,
    as a browser that gave up does. Returns the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode()


def access_lines(log_path):
    with open(log_path) as log:
        return [json.loads(line) for line in log if '"factory.access"' in line]


def test_gunicorn_serves_the_limits(tmp_path):
    from .servers import Server

    server = Server(str(tmp_path / "server"), QUERY_TIMEOUT_SECONDS="0.000001").start()
    try:
        server.post("/events", [event(at("09:00"))])
        status, body = server.request("GET", "/metrics/workers")
        assert status == 503 and body["status"] == 503 and "in time" in body["detail"]  # a problem, not HTML
        assert raw_request(server.port, "/metrics/factory", half_close=False).startswith("HTTP/1.1 503")
        # A client that closed its side: the server may look before the close reaches it (then the
        # deadline answers), so it is asked a few times; one look that sees it is enough.
        statuses = []
        for attempt in range(5):
            statuses.append(raw_request(server.port, f"/metrics/factory?gone={attempt}", half_close=True))
            if statuses[-1].startswith("HTTP/1.1 499"):
                break
        assert statuses[-1].startswith("HTTP/1.1 499"), statuses
    finally:
        server.stop()
    gone = [line["status"] for line in access_lines(server.log_path) if "gone" in line["query"]]
    assert gone[-1] == 499 and set(gone) <= {499, 503}
