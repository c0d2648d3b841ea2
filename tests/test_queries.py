"""The time model's reads by hour and day equal a plain look through every stored event."""

import random

import pytest

from backend import db, ingest, queries
from backend.timeutil import format_instant

HOUR = 3_600_000
DAY = 24 * HOUR
BASE = 1_768_435_200_000  # 2026-01-15T00:00:00Z
NOW = BASE + 10 * DAY
WORKERS = ("W1", "W2", "W3")
SITES = (None, "A", "B")


def random_history(rng, count):
    """Events over six days, with runs of days on which a worker has none."""
    events = []
    for number in range(count):
        worker = rng.choice(WORKERS)
        day = rng.choice([0, 1, 1, 2, 4, 5] if worker != "W3" else [0, 5])
        ts = BASE + day * DAY + rng.randrange(0, DAY, rng.choice([1, 60_000, HOUR]))
        kind = rng.choice(["working", "idle", "absent", "product_count"])
        event = {"timestamp": format_instant(ts), "worker_id": worker, "workstation_id": rng.choice(["S1", "S2"]),
                 "event_type": kind, "confidence": rng.choice([None, 0.2, 0.9])}
        if kind == "product_count":
            event["count"] = 1
        if rng.random() < 0.7:
            event["event_id"] = f"e{number}"
        site = rng.choice(SITES)
        if site:
            event["site_id"] = site
        events.append(event)
    return events


@pytest.fixture
def conn(tmp_path):
    path = str(tmp_path / "factory.db")
    db.init_db(path)
    connection = db.connect(path)
    yield connection
    connection.close()


def store(conn, events, rng):
    """Store the events in batches of random size and order, as devices would send them."""
    rng.shuffle(events)
    while events:
        size = rng.randint(1, 40)
        batch, events = events[:size], events[size:]
        summary = ingest.ingest(conn, batch, NOW, 0)
        assert summary["rejected"] == 0


def stored_states(conn):
    """Every stored state event, `(id, ts_ms, worker, type, station, confidence, site)`."""
    return conn.execute("SELECT id, ts_ms, worker_id, event_type, workstation_id, confidence, site_id FROM events "
                        "WHERE event_type != 'product_count'").fetchall()


def in_scope(row, site_id, min_confidence):
    _id, _ts, _worker, _type, _station, confidence, site = row
    return ((site_id is None or site == site_id)
            and (min_confidence is None or confidence is None or confidence >= min_confidence))


def plainly(rows, scope, worker_id, start_ms, end_ms):
    """One worker's `state_events` worked out by looking at every row."""
    mine = sorted((row for row in rows
                   if row[2] == worker_id and in_scope(row, scope["site_id"], scope["min_confidence"])),
                  key=lambda row: (row[1], row[0]))
    before = [row for row in mine if row[1] < min(start_ms, end_ms + 1)]
    inside = [row for row in mine if start_ms <= row[1] <= end_ms]
    return [(row[1], row[3], row[4]) for row in before[-1:] + inside]


@pytest.mark.parametrize("seed", range(6))
def test_worker_state_events_equal_a_look_through_every_event(conn, seed):
    rng = random.Random(seed)
    store(conn, random_history(rng, 300), rng)
    rows = stored_states(conn)
    for _ in range(60):
        start_ms = BASE + rng.randrange(-DAY, 7 * DAY, rng.choice([1, 60_000, HOUR]))
        end_ms = start_ms + rng.choice([-1, 0, 1, 30 * 60_000, HOUR, 5 * HOUR, 2 * DAY + 7])
        scope = queries.scope_params(rng.choice(SITES), rng.choice([None, 0.5]))
        expected = {worker_id: plainly(rows, scope, worker_id, start_ms, end_ms) for worker_id in WORKERS}
        # Several workers are read together, one alone by its hours.
        assert queries.state_events(conn, scope, WORKERS, start_ms, end_ms) == expected, (start_ms, end_ms, scope)
        for worker_id in WORKERS:
            assert (queries.state_events(conn, scope, [worker_id], start_ms, end_ms)
                    == {worker_id: expected[worker_id]}), (worker_id, start_ms, end_ms, scope)


def test_a_filter_passing_over_the_latest_day_finds_the_state_days_before(conn):
    ingest.ingest(conn, [
        {"timestamp": "2026-01-13T22:00:00Z", "worker_id": "W1", "workstation_id": "S1", "event_type": "working",
         "confidence": 0.9},
        {"timestamp": "2026-01-14T23:30:00Z", "worker_id": "W1", "workstation_id": "S1", "event_type": "idle",
         "confidence": 0.1},
    ], NOW, 0)
    start_ms = BASE + DAY + 9 * HOUR  # two days on
    scope = queries.scope_params(min_confidence=0.5)
    assert queries.state_events(conn, scope, ["W1", "W2"], start_ms, start_ms + HOUR) == {
        "W1": [(BASE - 26 * HOUR, "working", "S1")], "W2": []}
    assert queries.state_events(conn, queries.scope_params(), ["W1"], start_ms, start_ms + HOUR) == {
        "W1": [(BASE - 30 * 60_000, "idle", "S1")]}


def test_a_worker_who_arrived_after_the_start_is_carried_in_from_the_day_before_in_one_read(conn, monkeypatch):
    ingest.ingest(conn, [
        {"timestamp": "2026-01-14T22:00:00Z", "worker_id": "W1", "workstation_id": "S1", "event_type": "working"},
        {"timestamp": "2026-01-15T10:00:00Z", "worker_id": "W1", "workstation_id": "S2", "event_type": "idle"},
    ], NOW, 0)

    def day_by_day(*_args):
        raise AssertionError("looked for the carried-in state day by day")

    monkeypatch.setattr(queries, "_carried_in_days_before", day_by_day)
    start_ms = BASE + 8 * HOUR  # the shift began before W1 came in today
    assert queries.state_events(conn, queries.scope_params(), ["W1", "W2"], start_ms, start_ms + HOUR) == {
        "W1": [(BASE - 2 * HOUR, "working", "S1")], "W2": []}


@pytest.mark.parametrize("seed", range(4))
def test_next_states_after_equal_a_look_through_every_event_within_a_day(conn, seed):
    rng = random.Random(seed)
    store(conn, random_history(rng, 300), rng)
    rows = stored_states(conn)
    pairs = [(worker_id, BASE + rng.randrange(-HOUR, 7 * DAY, rng.choice([1, 60_000]))) for worker_id in WORKERS
             for _ in range(20)]
    found = queries.next_states_after(conn, pairs)
    for worker_id in WORKERS:
        asked = [after_ms for worker, after_ms in pairs if worker == worker_id]
        nexts = [min((row[1] for row in rows if row[2] == worker_id and row[1] > after_ms), default=None)
                 for after_ms in asked]
        # A worker asked several times gets the earliest answer; one beyond the following day is not looked for.
        near = [ts for ts, after_ms in zip(nexts, asked, strict=True)
                if ts is not None and ts // HOUR < after_ms // HOUR + 24]
        assert found.get(worker_id) == (min(near) if near else None)


def test_next_states_after_looks_through_the_following_day_to_the_latest_hour(conn):
    def state(worker_id, ts_ms, kind):
        return {"timestamp": format_instant(ts_ms), "worker_id": worker_id, "workstation_id": "S1", "event_type": kind}

    ingest.ingest(conn, [
        state("W1", BASE + 10 * 60_000, "working"), state("W1", BASE + 23 * HOUR + 59 * 60_000, "idle"),
        state("W2", BASE, "working"), state("W2", BASE + 24 * HOUR, "idle"),  # the 25th hour: not looked in
        state("W3", BASE + 5 * HOUR, "working"), state("W3", BASE + 24 * HOUR + 5 * 60_000, "idle"),  # latest hour
    ], NOW, 0)
    pairs = [("W1", BASE + 10 * 60_000), ("W2", BASE), ("W3", BASE + 5 * HOUR)]
    assert queries.next_states_after(conn, pairs) == {"W1": BASE + 23 * HOUR + 59 * 60_000,
                                                      "W3": BASE + 24 * HOUR + 5 * 60_000}
    assert queries.next_states_after(conn, [("W3", BASE + 24 * HOUR + 5 * 60_000)]) == {}


@pytest.mark.parametrize("seed", range(3))
def test_unit_instants_equal_a_look_through_every_product_count(conn, seed):
    rng = random.Random(seed)
    store(conn, random_history(rng, 300), rng)
    rows = conn.execute("SELECT ts_ms, worker_id, workstation_id, count, confidence, site_id FROM events "
                        "WHERE event_type = 'product_count'").fetchall()
    for _ in range(30):
        start_ms = BASE + rng.randrange(-DAY, 7 * DAY, rng.choice([1, 60_000, HOUR]))
        end_ms = start_ms + rng.choice([0, 1, HOUR, 2 * DAY + 7])
        scope = queries.scope_params(rng.choice(SITES), rng.choice([None, 0.5]))
        worker_id, station_id = rng.choice([None, *WORKERS]), rng.choice([None, "S1", "S2"])
        expected = {}
        for ts, worker, station, count, confidence, site in rows:
            if (start_ms <= ts <= end_ms and in_scope((0, ts, worker, "", station, confidence, site), scope["site_id"],
                                                      scope["min_confidence"])
                    and worker_id in (None, worker) and station_id in (None, station)):
                expected[worker, station, ts] = expected.get((worker, station, ts), 0) + count
        found = queries.window_unit_instants(conn, scope, start_ms, end_ms, worker_id, station_id)
        assert sorted(found) == sorted((w, s, count, ts) for (w, s, ts), count in expected.items())
