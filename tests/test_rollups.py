"""Hourly roll-ups give exactly the figures worked out from the events, through late,
out-of-order and duplicate arrivals, with queries in between that build roll-ups up, at the
server's signal horizon (none, the default 900 s, or a long one) and after it changes."""

import random

import pytest

from backend import rollups
from backend.app import create_app
from backend.db import connect
from backend.reports import MetricsQuery, events_report, resolve
from backend.timeutil import format_instant
from tests.helpers import post_events

HOUR = 3_600_000
BASE = 1_768_435_200_000  # 2026-01-15T00:00:00Z
NOW = BASE + 3 * 24 * HOUR


def event_at(ms, worker_id, station_id, event_type):
    return {"timestamp": format_instant(ms), "worker_id": worker_id, "workstation_id": station_id,
            "event_type": event_type}


def random_events(rng, count):
    events = []
    for _ in range(count):
        event_type = rng.choice(["working", "working", "idle", "absent", "product_count"])
        event = {"timestamp": format_instant(BASE + rng.randrange(0, 60 * HOUR, 1000 * rng.choice([1, 60, 900]))),
                 "worker_id": f"W{rng.randrange(5)}", "workstation_id": f"S{rng.randrange(3)}",
                 "event_type": event_type}
        if event_type == "product_count":
            event["count"] = rng.randint(1, 3)
        events.append(event)
    return events


def windows(rng):
    yield ""
    for _ in range(6):
        start = BASE + rng.randrange(-2 * HOUR, 62 * HOUR, 60_000)
        end = start + rng.choice([30 * 60_000, HOUR, 5 * HOUR + 17 * 60_000, 30 * HOUR, 80 * HOUR])
        yield f"?from={format_instant(start)}&to={format_instant(end)}"
    yield f"?from={format_instant(BASE + HOUR)}&to={format_instant(BASE + 10 * HOUR)}"  # on hour boundaries


def from_scratch(app, query_string, now_ms):
    """The report for `query_string` worked out from the events alone, at the app's horizon."""
    with app.test_request_context(f"/metrics/workers{query_string}"):
        from flask import request

        query = MetricsQuery.from_args(request.args, app.config["STATE_MAX_GAP_SECONDS"])
    conn = connect(app.config["DATABASE_PATH"])
    try:
        window, workers, workstations = resolve(conn, query, now_ms)
        return events_report(conn, query, window, workers, workstations)
    finally:
        conn.close()


def rolled_up_hours(app):
    conn = connect(app.config["DATABASE_PATH"])
    try:
        return conn.execute("SELECT COUNT(*) FROM rollup_hours").fetchone()[0]
    finally:
        conn.close()


def stored_horizon(app):
    conn = connect(app.config["DATABASE_PATH"])
    try:
        return [tuple(row) for row in conn.execute("SELECT max_gap_ms FROM rollup_horizon")]
    finally:
        conn.close()


def assert_answers_equal_from_scratch(app, client, query_string):
    for path in ("/metrics/workers", "/metrics/workstations", "/metrics/factory"):
        fast = client.get(f"{path}{query_string}").get_json()
        exact = from_scratch(app, query_string, NOW)
        key = path.rsplit("/", 1)[1]
        assert fast[key] == exact[key], (path, query_string)
        assert fast["window"] == exact["window"]


@pytest.mark.parametrize("horizon", [0, 900, 7200])
@pytest.mark.parametrize("seed", range(4))
def test_rollups_match_the_events_through_late_arrivals(config, clock, seed, horizon):
    clock.ms = NOW
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": horizon})
    client = app.test_client()
    rng = random.Random(seed)
    history = random_events(rng, 400)
    for round_number in range(5):
        batch = history[round_number * 80:(round_number + 1) * 80]
        rng.shuffle(batch)  # out of order, and late relative to hours already rolled up
        post_events(client, *batch, *rng.sample(batch, 5))  # with some duplicates
        for query_string in windows(rng):
            assert_answers_equal_from_scratch(app, client, query_string)
    assert rolled_up_hours(app) > 0  # the answers above came from roll-ups
    assert stored_horizon(app) == [(horizon * 1000 or None,)]
    unknown = client.get("/metrics/factory").get_json()["factory"]["total_unknown_seconds"]
    assert (unknown > 0) == (horizon > 0)


def test_a_late_state_event_inside_an_unknown_stretch_changes_only_hours_from_its_own(config, clock):
    # Working at 00:00 with a 15-minute horizon: unknown from 00:15 to 10:00. Roll-ups are built,
    # then an idle event arrives at 04:30: 04:30-04:45 idle, unknown again until 10:00.
    clock.ms = NOW
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": 900})
    client = app.test_client()
    post_events(client, event_at(BASE, "W1", "S1", "working"), event_at(BASE + 10 * HOUR, "W1", "S1", "absent"),
                status=201)
    assert_answers_equal_from_scratch(app, client, "")
    assert rolled_up_hours(app) == 10
    post_events(client, event_at(BASE + 4 * HOUR + 30 * 60_000, "W1", "S1", "idle"), status=201)
    assert rolled_up_hours(app) == 4  # hours 0-3 kept
    worker = client.get("/metrics/workers/W1").get_json()["worker"]
    assert (worker["active_seconds"], worker["idle_seconds"], worker["unknown_seconds"]) == (900, 900, 34200)
    assert_answers_equal_from_scratch(app, client, "")


def test_rollups_are_dropped_when_the_horizon_setting_changes(config, clock):
    clock.ms = NOW
    timeline = [event_at(BASE, "W1", "S1", "working"), event_at(BASE + 5 * HOUR, "W1", "S1", "idle"),
                event_at(BASE + 5 * HOUR + 10 * 60_000, "W1", "S1", "working"),
                event_at(BASE + 9 * HOUR, "W1", "S1", "absent")]
    apps = {}
    for horizon in (900, 1800, 0, 900):
        # One database file, served in turn with another STATE_MAX_GAP_SECONDS, as after a restart.
        app = apps.get(horizon) or create_app({**config, "STATE_MAX_GAP_SECONDS": horizon})
        apps[horizon] = app
        client = app.test_client()
        if len(apps) == 1 and horizon == 900 and not rolled_up_hours(app):
            post_events(client, *timeline, status=201)
        active = client.get("/metrics/workers/W1").get_json()["worker"]["active_seconds"]
        assert active == {900: 1800, 1800: 3600, 0: 32400 - 600}[horizon]
        assert stored_horizon(app) == [(horizon * 1000 or None,)]
        assert rolled_up_hours(app) == 9
        assert_answers_equal_from_scratch(app, client, "")


def test_rollups_are_used_and_forgotten_when_an_hour_changes(app, client, clock):
    clock.ms = NOW
    post_events(client, event_at(BASE, "W1", "S1", "working"),
                event_at(BASE + 10 * HOUR, "W1", "S1", "absent"), status=201)
    assert client.get("/metrics/workers/W1").get_json()["worker"]["active_seconds"] == 36000
    conn = connect(app.config["DATABASE_PATH"])
    assert conn.execute("SELECT COUNT(*) FROM rollup_hours").fetchone()[0] == 10
    post_events(client, event_at(BASE + 4 * HOUR, "W1", "S1", "idle"), status=201)  # late: changes hours 4 to 10
    assert tuple(conn.execute("SELECT MIN(hour), MAX(hour) FROM rollup_hours").fetchone()) == (
        BASE // HOUR, BASE // HOUR + 3)
    worker = client.get("/metrics/workers/W1").get_json()["worker"]
    assert (worker["active_seconds"], worker["idle_seconds"]) == (4 * 3600, 6 * 3600)


def test_rollups_answer_only_unfiltered_queries_at_the_servers_horizon():
    assert rollups.usable(MetricsQuery())
    assert rollups.usable(MetricsQuery(max_gap_ms=900_000, horizon_ms=900_000))
    assert not rollups.usable(MetricsQuery(site_id="north"))
    assert not rollups.usable(MetricsQuery(min_confidence=0.5))
    assert not rollups.usable(MetricsQuery(max_gap_ms=60_000))
    assert not rollups.usable(MetricsQuery(max_gap_ms=60_000, horizon_ms=900_000))
    assert not rollups.usable(MetricsQuery(max_gap_ms=None, horizon_ms=900_000))
    assert not rollups.usable(MetricsQuery(planned_only=True))


def test_a_window_reaching_far_beyond_the_data_keeps_no_empty_hours(app, client, clock):
    clock.ms = NOW
    post_events(client, event_at(BASE, "W1", "S1", "working"),
                event_at(BASE + 5 * HOUR, "W1", "S1", "idle"), status=201)
    query = f"?from=1970-01-01T00:00:00Z&to={format_instant(NOW)}"
    body = client.get(f"/metrics/workers{query}").get_json()
    exact = from_scratch(app, query, NOW)
    assert body["workers"] == exact["workers"] and body["window"] == exact["window"]
    assert body["workers"][0]["idle_seconds"] == (NOW - BASE - 5 * HOUR) / 1000  # idle ever since
    conn = connect(app.config["DATABASE_PATH"])
    assert conn.execute("SELECT COUNT(*) FROM rollup_hours").fetchone()[0] <= 6
    buckets = client.get(f"/metrics/hourly{query}").get_json()
    assert len(buckets["buckets"]) <= 5000


def test_a_window_with_both_ends_and_no_events_needs_no_rollups(client):
    body = client.get("/metrics/factory?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z").get_json()
    assert body["window"]["seconds"] == 86400 and body["factory"]["total_active_seconds"] == 0



def test_a_worker_registered_while_a_query_runs_is_in_the_hours_it_rolls_up(app, client, clock):
    clock.ms = NOW
    post_events(client, event_at(BASE, "W1", "S1", "working"), event_at(BASE + 10 * HOUR, "W1", "S1", "absent"),
                status=201)
    conn = connect(app.config["DATABASE_PATH"])
    window, workers, _stations = resolve(conn, MetricsQuery(), NOW)  # a query in flight sees W1 only
    post_events(client, event_at(BASE + HOUR, "W2", "S2", "working"), event_at(BASE + 9 * HOUR, "W2", "S2", "absent"),
                status=201)  # meanwhile a batch registers W2 and forgets the hours it changes
    rollups.window_tally(conn, window, workers, None)  # the query goes on to roll those hours up
    fast = client.get("/metrics/workers").get_json()
    assert fast["workers"] == from_scratch(app, "", NOW)["workers"]
    assert fast["workers"][1]["active_seconds"] == 8 * 3600


def test_a_busy_database_is_answered_from_the_events_not_with_503(app, client, clock):
    clock.ms = NOW
    post_events(client, event_at(BASE, "W1", "S1", "working"), event_at(BASE + 10 * HOUR, "W1", "S1", "absent"),
                status=201)
    writer = connect(app.config["DATABASE_PATH"])
    writer.execute("BEGIN IMMEDIATE")  # a batch holding the write lock
    try:
        response = client.get("/metrics/workers")
        assert response.status_code == 200
        assert response.get_json()["workers"][0]["active_seconds"] == 36000
    finally:
        writer.execute("ROLLBACK")


