"""Hourly roll-ups give exactly the figures worked out from the events, through late,
out-of-order and duplicate arrivals, events far in the past, planned time of several site
calendars, at the server's signal horizon (none, the default 900 s, or a long one) and after it
changes; they hold rows only for hours with events and are ready before the first reader."""

import itertools
import math
import random
import re
import time
from dataclasses import replace

import pytest

from backend import charts, reports, rollups, sweep
from backend.app import create_app
from backend.db import connect, transaction
from backend.reports import MetricsQuery, events_report, resolve
from backend.timeutil import format_instant, parse_instant
from tests.helpers import keep_up, post_events

HOUR = 3_600_000
DAY = 24 * HOUR
BASE = 1_768_435_200_000  # 2026-01-15T00:00:00Z
NOW = BASE + 3 * DAY
OLD = 86_400_000 * 3  # 1970-01-04: a camera whose clock was reset
PAST = BASE - 40 * DAY  # a worker seen once, long before the rest
CALENDAR = {"time_zone": "UTC", "shifts": [
    {"name": "Early", "start": "06:00", "end": "14:00", "breaks": [{"start": "09:00", "end": "09:15"}]},
    {"name": "Late", "start": "14:00", "end": "22:00"}]}
NORTH = {"name": "North", "time_zone": "Europe/Berlin", "shifts": [
    {"name": "Day", "start": "07:30", "end": "16:00", "days": ["mon", "tue", "wed", "thu", "fri"]}]}


@pytest.fixture
def config(config):
    """Events as old as 1970 are taken in: a lone one must not cost an hour per hour since."""
    return {**config, "MAX_EVENT_AGE_DAYS": 30_000}


def event_at(ms, worker_id, station_id, event_type, **fields):
    return {"timestamp": format_instant(ms), "worker_id": worker_id, "workstation_id": station_id,
            "event_type": event_type, **fields}


def random_events(rng, count):
    events = []
    for _ in range(count):
        event_type = rng.choice(["working", "working", "idle", "absent", "product_count"])
        station = rng.randrange(3)
        # Now and then a long quiet spell: events on the third day only late, none on the second.
        offset = rng.choice([rng.randrange(0, 20 * HOUR, 1000 * rng.choice([1, 60, 900])),
                             rng.randrange(50 * HOUR, 60 * HOUR, 60_000)])
        event = event_at(BASE + offset, f"W{rng.randrange(5)}", f"S{station}", event_type,
                         confidence=round(rng.random(), 2))
        if station == 0:
            event["site_id"] = "north"
        if event_type == "product_count":
            event["count"] = rng.randint(1, 3)
        events.append(event)
    return events


def queries_to_ask(rng):
    yield ""
    yield "?planned_only=true"
    yield f"?from={format_instant(PAST - HOUR)}&to={format_instant(NOW)}"
    for _ in range(6):
        start = BASE + rng.randrange(-2 * HOUR, 62 * HOUR, 60_000)
        end = start + rng.choice([30 * 60_000, HOUR, 5 * HOUR + 17 * 60_000, 30 * HOUR, 80 * HOUR])
        window = f"?from={format_instant(start)}&to={format_instant(end)}"
        yield window
        yield window + "&planned_only=true"
        yield window + rng.choice(["&site_id=north", "&min_confidence=0.5", "&max_gap_seconds=60"])
    yield f"?from={format_instant(BASE + HOUR)}&to={format_instant(BASE + 10 * HOUR)}"  # on hour boundaries
    yield f"?from={format_instant(BASE + HOUR)}&to={format_instant(BASE + 10 * HOUR)}&planned_only=true"


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


def read(app, sql):
    conn = connect(app.config["DATABASE_PATH"])
    try:
        return [tuple(row) for row in conn.execute(sql)]
    finally:
        conn.close()


def rolled_up_hours(app):
    return read(app, "SELECT COUNT(*) FROM rollup_hours WHERE stale = 0")[0][0]


def stale_hours(app):
    return [hour for (hour,) in read(app, "SELECT hour FROM rollup_hours WHERE stale = 1 ORDER BY hour")]


def stored_rows(app):
    """The computed roll-up rows, by table: hours', then days'."""
    tables = []
    for unit in ("hour", "day"):
        fresh = f"{unit} IN (SELECT {unit} FROM rollup_{unit}s WHERE stale = 0)"
        tables += [read(app, f"SELECT {unit}, events FROM rollup_{unit}s WHERE stale = 0 ORDER BY {unit}"),
                   read(app, f"SELECT * FROM rollup_worker_{unit}s WHERE {fresh} ORDER BY {unit}, worker_id"),
                   read(app, f"SELECT * FROM rollup_station_{unit}s WHERE {fresh} ORDER BY {unit}, workstation_id")]
    return tuple(tables)


def rebuilt_rows(app):
    """The roll-up rows computed again from nothing, as start-up does after a horizon change."""
    conn = connect(app.config["DATABASE_PATH"])
    try:
        with transaction(conn):
            conn.execute("UPDATE rollup_hours SET stale = 1")
            conn.execute("UPDATE rollup_days SET stale = 1")
        rollups.catch_up(conn, app.config["CLOCK"]())
    finally:
        conn.close()
    return stored_rows(app)


def stored_horizon(app):
    return read(app, "SELECT max_gap_ms FROM rollup_horizon")


def assert_answers_equal_from_scratch(app, client, query_string, now_ms=NOW):
    exact = from_scratch(app, query_string, now_ms)  # one report holds the figures of all three
    for path in ("/metrics/workers", "/metrics/workstations", "/metrics/factory"):
        fast = client.get(f"{path}{query_string}").get_json()
        key = path.rsplit("/", 1)[1]
        assert fast[key] == exact[key], (path, query_string)
        assert fast["window"] == exact["window"]


@pytest.mark.parametrize("horizon", [0, 900, 7200])
@pytest.mark.parametrize("seed", range(3))
def test_rollups_match_the_events_through_late_arrivals(config, clock, seed, horizon):
    clock.ms = NOW
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": horizon})
    client = app.test_client()
    assert client.put("/calendar", json=CALENDAR).status_code == 200
    rng = random.Random(seed)
    history = random_events(rng, 400)
    history.append(event_at(PAST + rng.randrange(HOUR), "W1", "S1", rng.choice(["working", "idle"])))
    for round_number in range(5):
        batch = history[round_number * 80:(round_number + 1) * 80 + (round_number == 4)]
        rng.shuffle(batch)  # out of order, and late relative to hours already rolled up
        keep_up(app)  # the answers below come from these roll-ups, but for the hours the batch changes
        assert rolled_up_hours(app) > 0 or round_number == 0
        post_events(client, *batch, *rng.sample(batch, 5))  # with some duplicates
        assert stale_hours(app)  # a batch computes none: start-up and the keepers do
        if round_number == 1:
            assert client.put("/sites/north", json=NORTH).status_code == 200
        for query_string in queries_to_ask(rng):
            assert_answers_equal_from_scratch(app, client, query_string)
    assert stored_horizon(app) == [(horizon * 1000 or None,)]
    post_events(client, event_at(NOW - HOUR, "W0", "S1", "working"))
    keep_up(app)
    assert all(hour >= NOW // HOUR for hour in stale_hours(app))  # only the current hour's, read from events
    for query_string in itertools.islice(queries_to_ask(rng), 5):  # whole days from their roll-ups
        assert_answers_equal_from_scratch(app, client, query_string)
    kept = stored_rows(app)
    computed = [{number for number, _events in kept[0]}] * 3 + [{number for number, _events in kept[3]}] * 3
    assert computed[3]  # days too
    rebuilt = tuple([row for row in table if row[0] in numbers]
                    for table, numbers in zip(rebuilt_rows(app), computed, strict=True))
    assert kept == rebuilt  # kept up batch by batch, equal to computed afresh
    unknown = client.get("/metrics/factory").get_json()["factory"]["total_unknown_seconds"]
    assert (unknown > 0) == (horizon > 0)


def test_a_late_state_event_inside_an_unknown_stretch_changes_only_hours_from_its_own(config, clock):
    # Working at 00:00 with a 15-minute horizon: unknown from 00:15 to 10:00. W2 works each hour.
    # Then an idle event arrives at 04:30: 04:30-04:45 idle, unknown again until 10:00.
    clock.ms = NOW
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": 900})
    client = app.test_client()
    post_events(client, event_at(BASE, "W1", "S1", "working"), event_at(BASE + 10 * HOUR, "W1", "S1", "absent"),
                *(event_at(BASE + hour * HOUR + 60_000, "W2", "S2", "working") for hour in range(12)), status=201)
    create_app({**config, "STATE_MAX_GAP_SECONDS": 900})  # a restart computes the hours the batch left
    before = stored_rows(app)[1]
    post_events(client, event_at(BASE + 4 * HOUR + 30 * 60_000, "W1", "S1", "idle"), status=201)
    assert stale_hours(app) == [BASE // HOUR + 4, BASE // HOUR + 10]  # its own hour and that of W1's next event
    create_app({**config, "STATE_MAX_GAP_SECONDS": 900})
    after = stored_rows(app)[1]
    changed = {(row[0] - BASE // HOUR, row[1]) for row in set(after) ^ set(before)}
    assert changed == {(hour, "W1") for hour in range(4, 10)}  # up to W1's next event; W2's rows stay
    query = f"?to={format_instant(BASE + 10 * HOUR)}"
    worker = client.get(f"/metrics/workers/W1{query}").get_json()["worker"]
    assert (worker["active_seconds"], worker["idle_seconds"], worker["unknown_seconds"]) == (900, 900, 34200)
    assert_answers_equal_from_scratch(app, client, query)
    assert_answers_equal_from_scratch(app, client, "")


def test_rollups_are_computed_again_when_the_horizon_setting_changes(config, clock):
    clock.ms = NOW
    timeline = [event_at(BASE, "W1", "S1", "working"), event_at(BASE + 5 * HOUR, "W1", "S1", "idle"),
                event_at(BASE + 5 * HOUR + 10 * 60_000, "W1", "S1", "working"),
                event_at(BASE + 9 * HOUR, "W1", "S1", "absent"), event_at(BASE + 10 * HOUR, "W1", "S1", "absent")]
    post_events(create_app({**config, "STATE_MAX_GAP_SECONDS": 900}).test_client(), *timeline, status=201)
    for horizon in (900, 1800, 0, 900):
        # One database file, served in turn with another STATE_MAX_GAP_SECONDS: a restart.
        app = create_app({**config, "STATE_MAX_GAP_SECONDS": horizon})
        client = app.test_client()
        assert stored_horizon(app) == [(horizon * 1000 or None,)]
        assert rolled_up_hours(app) == 4  # hours 0, 5, 9 and 10: those with events
        active = client.get("/metrics/workers/W1").get_json()["worker"]["active_seconds"]
        assert active == {900: 1800, 1800: 3600, 0: 32400 - 600}[horizon]
        assert_answers_equal_from_scratch(app, client, "")


def test_rollups_hold_only_hours_with_events(app, client, clock):
    clock.ms = NOW
    post_events(client, event_at(BASE, "W1", "S1", "working"),
                event_at(BASE + 10 * HOUR, "W1", "S1", "absent"), status=201)
    # A batch marks the hours it changes; the keeper (or start-up) computes them.
    assert read(app, "SELECT hour, stale FROM rollup_hours ORDER BY hour") == [
        (BASE // HOUR, 1), (BASE // HOUR + 10, 1)]
    assert client.get("/metrics/workers/W1").get_json()["worker"]["active_seconds"] == 36000
    keep_up(app)
    post_events(client, event_at(BASE + 4 * HOUR, "W1", "S1", "idle"), status=201)  # late: a third hour
    assert read(app, "SELECT hour, stale FROM rollup_hours ORDER BY hour") == [
        (BASE // HOUR, 0), (BASE // HOUR + 4, 1), (BASE // HOUR + 10, 1)]  # its own, and W1's next event's
    worker = client.get("/metrics/workers/W1").get_json()["worker"]
    assert (worker["active_seconds"], worker["idle_seconds"]) == (4 * 3600, 6 * 3600)
    keep_up(app)
    assert read(app, "SELECT hour, stale FROM rollup_hours ORDER BY hour") == [
        (BASE // HOUR, 0), (BASE // HOUR + 4, 0), (BASE // HOUR + 10, 0)]
    assert client.get("/metrics/workers/W1").get_json()["worker"] == worker


def test_rollups_answer_unfiltered_queries_at_the_stored_horizon():
    assert sweep.usable(MetricsQuery(), (None,))
    assert sweep.usable(MetricsQuery(max_gap_ms=900_000), (900_000,))
    assert sweep.usable(MetricsQuery(max_gap_ms=900_000, planned_only=True), (900_000,))
    assert not sweep.usable(MetricsQuery(), None)
    assert not sweep.usable(MetricsQuery(site_id="north"), (None,))
    assert not sweep.usable(MetricsQuery(min_confidence=0.5), (None,))
    assert not sweep.usable(MetricsQuery(max_gap_ms=60_000), (900_000,))
    assert not sweep.usable(MetricsQuery(max_gap_ms=None), (900_000,))


def test_a_lone_event_in_1970_adds_one_hour_not_one_per_hour_since(config, clock):
    clock.ms = NOW
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": 900})
    client = app.test_client()
    post_events(client, event_at(BASE, "W1", "S1", "working"), event_at(BASE + 5 * HOUR, "W1", "S1", "idle"),
                event_at(BASE + 6 * HOUR, "W1", "S1", "idle"), status=201)
    started = time.perf_counter()
    post_events(client, event_at(OLD, "W2", "S2", "working"), status=201)
    query = f"?from=1970-01-01T00:00:00Z&to={format_instant(NOW)}"
    assert_answers_equal_from_scratch(app, client, query)
    assert_answers_equal_from_scratch(app, client, query + "&planned_only=true")
    assert time.perf_counter() - started < 2  # milliseconds in fact; an hour per hour since 1970 takes minutes
    assert len(read(app, "SELECT hour FROM rollup_hours")) == 4
    assert len(read(app, "SELECT hour FROM rollup_worker_hours")) <= 2 * 4  # two workers, four hours
    worker = client.get(f"/metrics/workers/W2{query}").get_json()["worker"]
    assert worker["active_seconds"] == 900 and worker["unknown_seconds"] == (NOW - OLD) / 1000 - 900


def test_a_late_event_in_a_long_gap_marks_only_the_hours_to_the_workers_next_event(config, clock):
    # W1 is off for 20 days; W2 works throughout. An event of W1 arriving late in the gap changes
    # its hour and W1's next event's hour, not the 20 days of W2's hours after it.
    clock.ms = BASE + 30 * DAY
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": 900})
    client = app.test_client()
    post_events(client, event_at(BASE, "W1", "S1", "working"), event_at(BASE + HOUR, "W1", "S1", "absent"),
                event_at(BASE + 25 * DAY, "W1", "S1", "working"),
                *(event_at(BASE + hour * HOUR, "W2", "S2", "working") for hour in range(0, 26 * 24, 5)), status=201)
    create_app({**config, "STATE_MAX_GAP_SECONDS": 900})  # a restart computes what the batch left stale
    assert stale_hours(app) == []
    post_events(client, event_at(BASE + 5 * DAY + 30 * 60_000, "W1", "S1", "idle"), status=201)
    assert [hour - BASE // HOUR for hour in stale_hours(app)] == [5 * 24, 25 * 24]
    for query in ("", "?planned_only=true", f"?from={format_instant(BASE + 4 * DAY + 1)}"):
        fast = client.get(f"/metrics/workers{query}").get_json()
        assert fast["workers"] == from_scratch(app, query, clock.ms)["workers"]


def test_start_up_computes_the_stale_hours_so_no_reader_has_to(config, clock):
    clock.ms = BASE + 29 * HOUR + 30 * 60_000
    app = create_app(config)
    post_events(app.test_client(), *(event_at(BASE + hour * HOUR, "W1", "S1", "working") for hour in range(30)),
                status=201)
    assert len(stale_hours(app)) == 30
    create_app(config)  # a restart
    assert stale_hours(app) == [BASE // HOUR + 29]  # only the current hour, which every batch changes


def test_the_keeper_computes_what_no_write_marked_since_its_look_before(config, clock, monkeypatch):
    # Ten days posted in two batches, which compute none of their hours, and a camera's event in
    # the current hour. The keeper's first look computes nothing the batches marked (they marked
    # after its look before: a stream may still be filling those hours), only the current hour's
    # first part up to the camera's event; its next look every stale hour and then the days, in
    # rounds of about BUILD_SECONDS (spent at once here: one hour or day each), but for an hour a
    # late event marked after its look before (and its day), which the look after that computes.
    clock.ms = BASE + 10 * DAY + 30 * 60_000
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": 900})
    client = app.test_client()
    history = [event_at(BASE + hour * HOUR + 60_000, f"W{hour % 3}", "S1", kind)
               for hour in range(10 * 24) for kind in ("working", "idle")]
    post_events(client, *history[:240], status=201)
    post_events(client, *history[240:], status=201)
    post_events(client, event_at(clock.ms - 60_000, "W1", "S1", "working"), status=201)
    assert rolled_up_hours(app) == 0 and len(stale_hours(app)) == 10 * 24 + 1  # and the current hour
    monkeypatch.setattr(rollups, "BUILD_SECONDS", 0)
    rounds = []
    original = rollups.bring_up_to_date
    monkeypatch.setattr(rollups, "bring_up_to_date", lambda *args: rounds.append(original(*args)) or rounds[-1])
    keeper = rollups.Keeper(app.config["DATABASE_PATH"], clock, 5000)
    conn = connect(app.config["DATABASE_PATH"])
    try:
        assert rollups.behind(conn, clock.ms, math.inf)
        assert keeper.keep(conn) == 1 and rolled_up_hours(app) == 0 and rounds == []
        post_events(client, event_at(BASE + 5 * HOUR + 120_000, "W9", "S1", "product_count", count=1), status=201)
        # The hours but the late one, the days but its, and the current hour's part again: the
        # late event, before its end, cleared it.
        assert keeper.keep(conn) == (10 * 24 - 1) + 9 + 1
        assert set(rounds[:-1]) == {(1, 1, rounds[0][2])} and rounds[-1][:2] == (0, 0)  # one a round, then none
        assert stale_hours(app) == [BASE // HOUR + 5, clock.ms // HOUR]
        assert keeper.keep(conn) == 1 + 1  # that hour, then its day
        assert not rollups.behind(conn, clock.ms, math.inf) and keeper.keep(conn) == 0  # nothing left: only a read
    finally:
        conn.close()
    assert stale_hours(app) == [clock.ms // HOUR]
    assert current_part(app) == (clock.ms - 60_000, 0)  # up to the camera's event, which lies after it
    assert stored_rows(app) == rebuilt_rows(app)

    keep_up(app)
    assert current_part(app) is not None
    assert_charts_equal_the_events(
        client, [f"from={format_instant(BASE - 3 * HOUR + 1234)}&to={format_instant(clock.ms)}&width=50"], monkeypatch)


@pytest.mark.parametrize(("late", "stored"), [("count in the hour", 4), ("state event before it", 1)])
def test_a_rollup_a_write_changed_while_it_was_computed_is_not_stored(config, clock, monkeypatch, late, stored):
    # Hours are computed from a read snapshot, outside the writers' lock, then stored in a write
    # transaction. An event stored meanwhile that changes the hour being computed leaves that hour
    # as the write left it, and the next round computes it with the event: a product count in it
    # (the other hours are stored), or a worker's new latest state event before it whose horizon
    # ends before it, written straight into the rows of every later hour (none of those is stored).
    clock.ms = BASE + 2 * DAY
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": 900})
    client = app.test_client()
    post_events(client, event_at(BASE + HOUR, "W1", "S1", "working"),
                *(event_at(BASE + hour * HOUR + 60_000, "W2", "S2", "working") for hour in range(4, 8)), status=201)
    target = BASE // HOUR + 6
    late_event = (event_at(BASE + 6 * HOUR + 600_000, "W3", "S3", "product_count", count=2)
                  if late == "count in the hour" else event_at(BASE + 2 * HOUR, "W1", "S1", "idle"))
    original = rollups._compute_hour
    as_written = []

    def compute_and_meanwhile_store(conn, hour, *args, **kwargs):
        computed = original(conn, hour, *args, **kwargs)
        if hour == target:
            post_events(client, late_event, status=201)
            as_written.extend(read(app, f"SELECT * FROM rollup_worker_hours WHERE hour = {target}"))
        return computed

    monkeypatch.setattr(rollups, "_compute_hour", compute_and_meanwhile_store)
    conn = connect(app.config["DATABASE_PATH"])
    try:
        assert rollups.bring_up_to_date(conn, clock.ms)[:2] == (5, stored) and target in stale_hours(app)
        assert read(app, f"SELECT * FROM rollup_worker_hours WHERE hour = {target}") == as_written
        monkeypatch.setattr(rollups, "_compute_hour", original)
        keep_up(app)
    finally:
        conn.close()
    assert not stale_hours(app)
    assert stored_rows(app) == rebuilt_rows(app)


def current_part(app):
    """`(until_ms, events)` of the computed first part of the current hour, or `None`."""
    found = read(app, f"SELECT until_ms, events FROM rollup_hours WHERE until_ms IS NOT NULL AND stale = 1 "
                      f"AND hour = {app.config['CLOCK']() // HOUR}")
    return found[0] if found else None


def keep_the_current_hour(app):
    conn = connect(app.config["DATABASE_PATH"])
    try:
        return rollups.keep_current_hour(conn, app.config["CLOCK"]())
    finally:
        conn.close()


@pytest.mark.parametrize("horizon", [0, 900])
@pytest.mark.parametrize("seed", range(2))
def test_the_current_hours_first_part_is_kept_and_answers_equal_the_events(config, clock, seed, horizon):
    # Cameras post into the current hour while the keeper computes its first part up to the
    # latest event (or PART_LAG_MS before now): windows ending in the hour add only the events
    # after the part. An event before the part's end clears it, one after leaves it. Once the
    # hour is over it is computed whole (with its marks); an hour found with its part long after
    # (a server down for days) is computed from the part and the events after it. Both equal a
    # rebuild.
    start = BASE + 2 * DAY + 5 * HOUR
    clock.ms = start + 10 * 60_000
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": horizon})
    client = app.test_client()
    assert client.put("/calendar", json=CALENDAR).status_code == 200
    rng = random.Random(seed)
    workers = [f"W{number}" for number in range(4)]

    def camera_events(first_ms, end_ms, count):
        events = []
        for _ in range(count):
            kind = rng.choice(["working", "working", "idle", "absent", "product_count"])
            event = event_at(rng.randrange(first_ms, end_ms), rng.choice(workers), f"S{rng.randrange(3)}", kind)
            events.append({**event, "count": rng.randint(1, 3)} if kind == "product_count" else event)
        return events

    post_events(client, *camera_events(start - 3 * HOUR, start, 60), status=201)
    keep_up(app)
    assert keep_the_current_hour(app) == 0  # nothing in the current hour yet
    for round_number in range(6):
        part = current_part(app)
        before = part[0] if part else start + 1
        late = round_number % 2 == 1  # every other round, one event before the part's end
        post_events(client, *camera_events(clock.ms - 60_000, clock.ms, 8),
                    *(camera_events(start, before, 1) if late else []), status=201)
        assert (current_part(app) is None) == (late or part is None)
        assert keep_the_current_hour(app) == 1 and keep_the_current_hour(app) == 0  # once per change
        part = current_part(app)
        assert part is not None and part[0] <= clock.ms - rollups.PART_LAG_MS
        for end in (start, part[0] - 1, part[0], part[0] + 1, clock.ms - 30_000, clock.ms):
            for begin in (start - 2 * HOUR - 1234, start, end - 60_000):
                window = f"?from={format_instant(begin)}&to={format_instant(end)}"
                for query_string in (window, window + "&planned_only=true"):
                    assert_answers_equal_from_scratch(app, client, query_string, clock.ms)
        clock.ms += 3 * 60_000
    clock.ms = start + HOUR + 20 * 60_000
    post_events(client, *camera_events(start + HOUR, clock.ms - 60_000, 8), status=201)
    keep_up(app)
    assert stale_hours(app) == [start // HOUR + 1] and current_part(app) is not None
    assert stored_rows(app) == rebuilt_rows(app)
    clock.ms += 2 * DAY
    keep_up(app)
    assert stale_hours(app) == [] and not read(app, "SELECT hour FROM rollup_hours WHERE until_ms IS NOT NULL")
    assert stored_rows(app) == rebuilt_rows(app)


def marked_hours(app):
    return sorted({hour for (hour,) in read(app, "SELECT hour FROM rollup_hour_marks")})


@pytest.mark.parametrize("horizon", [0, 900])
def test_windows_starting_inside_recent_hours_count_them_less_their_figures_up_to_a_mark(config, clock,
                                                                                         monkeypatch, horizon):
    # The MARK_HOURS hours before the current one keep their figures up to every MARK_MS in
    # them; a window starting inside one counts it whole, less its figures up to the next mark,
    # and works out only the events before that mark; one ending inside one counts its figures
    # up to the mark before, and works out only the events after it. The answers equal the
    # events' wherever the window starts and ends; a late event makes the hour stale and its
    # marks unused until it is computed again; older hours keep none. With planned_only only
    # when the calendar plans the whole hour (the floor's plans cover the hours the window
    # touches), not in an hour with a break.
    clock.ms = BASE + 2 * DAY + 30 * 60_000
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": horizon})
    client = app.test_client()
    assert client.put("/calendar", json=CALENDAR).status_code == 200
    rng = random.Random(horizon)
    kinds = ["working", "working", "idle", "absent", "product_count"]
    history = [event_at(BASE + rng.randrange(2 * DAY), f"W{rng.randrange(4)}", f"S{rng.randrange(3)}",
                        rng.choice(kinds)) for _ in range(600)]
    post_events(client, *[{**event, "count": 2} if event["event_type"] == "product_count" else event
                          for event in history], status=201)
    keep_up(app)
    newest = clock.ms // HOUR - 1
    assert marked_hours(app) == list(range(newest - rollups.MARK_HOURS + 1, newest + 1))
    used = []
    before_mark = sweep.Sweep._before_mark

    def recording(sweep, last, start_ms):
        result = before_mark(sweep, last, start_ms)
        used.append((sweep.floor is not None, result))
        return result

    monkeypatch.setattr(sweep.Sweep, "_before_mark", recording)
    ends = []
    mark = sweep.Sweep._mark
    monkeypatch.setattr(sweep.Sweep, "_mark", lambda *args: ends.append(mark(*args)) or ends[-1])
    hour_ms = (newest - 5) * HOUR  # 18:00, planned whole by the late shift

    def assert_windows_equal_from_scratch(hour_ms=hour_ms):
        for offset in (1, rollups.MARK_MS - 1, rollups.MARK_MS, 2 * rollups.MARK_MS + 1,
                       HOUR - rollups.MARK_MS - 1, HOUR - rollups.MARK_MS + 1, HOUR - 1):
            for end in (hour_ms + 3 * HOUR + 1234, hour_ms + 3 * HOUR + 8 * rollups.MARK_MS,
                        hour_ms + 3 * HOUR + HOUR - 1, clock.ms):
                window = f"?from={format_instant(hour_ms + offset)}&to={format_instant(end)}"
                for query_string in (window, window + "&planned_only=true"):
                    assert_answers_equal_from_scratch(app, client, query_string, clock.ms)

    assert_windows_equal_from_scratch()
    paths = 3
    # All but the two in the hour's last five minutes, with and without planned_only.
    assert used.count((False, True)) == used.count((True, True)) == paths * 4 * 5
    # The ends on a mark and inside its last five minutes (21:00, planned whole), none before its first.
    assert sum(end is not None for end in ends) == paths * 7 * 2 * 2
    used.clear()
    assert_windows_equal_from_scratch((newest - 14) * HOUR)  # 09:00: the early shift's break
    assert used.count((False, True)) == paths * 4 * 5 and (True, True) not in used
    post_events(client, event_at(hour_ms + 10 * 60_000, "W1", "S1", "absent"), status=201)  # late
    used.clear()
    assert_windows_equal_from_scratch()
    assert (False, True) not in used and (True, True) not in used
    keep_up(app)
    used.clear()
    assert_windows_equal_from_scratch()
    assert used.count((False, True)) == used.count((True, True)) == paths * 4 * 5
    assert stored_rows(app) == rebuilt_rows(app)
    # A new worker's first state event, late, two hours before: with a horizon its unknown time
    # past the horizon is written straight into the later hours' rows, and their marks, which
    # lack it, are dropped; without one those hours are stale. Either way no mark is read.
    post_events(client, event_at(hour_ms - 2 * HOUR, "W8", "S1", "working"), status=201)
    used.clear()
    ends.clear()
    assert_windows_equal_from_scratch()
    assert (False, True) not in used and (True, True) not in used and ends.count(None) == len(ends)
    assert not horizon or all(hour < hour_ms // HOUR - 1 for hour in marked_hours(app))
    keep_up(app)
    assert stored_rows(app) == rebuilt_rows(app)
    # The charts of a long window ending now read the current hour's part too.
    post_events(client, event_at(clock.ms - 20 * 60_000, "W2", "S2", "idle"), status=201)
    keep_up(app)
    assert current_part(app) is not None
    assert_charts_equal_the_events(
        client, [f"from={format_instant(BASE - 3 * HOUR + 1234)}&to={format_instant(clock.ms)}&width=50"], monkeypatch)


def test_a_busy_database_is_answered_from_the_rollups_without_the_write_lock(app, client, clock):
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


def work_of(conn, query, now_ms):
    """SQLite's work for one metrics report (virtual machine steps, in thousands): a measure of
    its cost that the machine's load does not move."""
    steps = [0]

    def count():
        steps[0] += 1

    conn.set_progress_handler(count, 1000)
    try:
        report = reports.metrics_report(conn, query, now_ms)
    finally:
        conn.set_progress_handler(None, 0)
    return steps[0], report


@pytest.mark.sqlite_only  # counts SQLite's own steps
@pytest.mark.parametrize(("query", "from_rollups"), [
    (MetricsQuery(max_gap_ms=900_000), True),
    (MetricsQuery(max_gap_ms=900_000, planned_only=True), True),
    (MetricsQuery(max_gap_ms=900_000, site_id="north"), False),
    (MetricsQuery(max_gap_ms=900_000, min_confidence=0.5), False),
], ids=["horizon", "planned_only", "site", "confidence"])
def test_an_eight_hour_window_costs_the_same_on_a_short_and_a_long_history(config, clock, new_database, query,
                                                                           from_rollups):
    # Three workers reporting every 2 minutes; the same last 8 hours after 2 days or 12 days of history.
    costs = []
    for days in (2, 12):
        end = BASE + days * DAY
        clock.ms = end
        settings = {**config, "STATE_MAX_GAP_SECONDS": 900, "DATABASE_PATH": new_database(f"history-{days}")}
        app = create_app(settings)
        client = app.test_client()
        assert client.put("/calendar", json=CALENDAR).status_code == 200
        for day in range(days):
            body = post_events(client, *(
                event_at(BASE + day * DAY + minute * 60_000, f"W{worker}", f"S{worker}", kind,
                         site_id="north", confidence=0.9, **({"count": 1} if kind == "product_count" else {}))
                for minute in range(0, 24 * 60, 2) for worker in range(3)
                for kind in [("working", "idle", "working", "product_count")[minute // 10 % 4]]))
            assert body["accepted"] == 3 * 24 * 30
        create_app(settings)  # a restart computes the hours the last batch left
        conn = connect(app.config["DATABASE_PATH"])
        try:
            window = replace(query, from_ms=end - 8 * HOUR - 7 * 60_000, to_ms=end - 7 * 60_000)
            steps, report = work_of(conn, window, end)
            assert report["factory"]["total_active_seconds"] > 0
            costs.append(steps)
            if from_rollups:
                # A week from roll-ups: a fraction of the work of reading its events.
                week = replace(query, from_ms=end - 7 * DAY - 7 * 60_000, to_ms=end - 7 * 60_000)
                fast, report = work_of(conn, week, end)
                slow = work_of_events(conn, week, end)
                assert fast * 4 < slow, (fast, slow)
        finally:
            conn.close()
    assert costs[1] <= costs[0] * 1.2 + 5, costs


def work_of_events(conn, query, now_ms):
    """`work_of` a report worked out from the events alone."""
    steps = [0]

    def count():
        steps[0] += 1

    window, workers, workstations = resolve(conn, query, now_ms)
    conn.set_progress_handler(count, 1000)
    try:
        events_report(conn, query, window, workers, workstations)
    finally:
        conn.set_progress_handler(None, 0)
    return steps[0]


def slot_seconds(intervals, slot_ms):
    """`{(slot, state): seconds}` of a strip: intervals cut at slot boundaries; a `mixed` band
    counted in the slot where it begins."""
    found = {}
    for item in intervals:
        start, end = parse_instant(item["from"]), parse_instant(item["to"])
        if item["state"] == "mixed":
            for state, seconds in item["split"].items():
                found[start // slot_ms, state] = found.get((start // slot_ms, state), 0) + seconds
            continue
        while start < end:
            until = min(end, (start // slot_ms + 1) * slot_ms)
            key = (start // slot_ms, item["state"])
            found[key] = found.get(key, 0) + (until - start) / 1000
            start = until
    return found


@pytest.mark.parametrize("seed", range(3))
def test_charts_of_long_windows_are_read_from_the_rollups_and_equal_the_events(config, clock, seed, monkeypatch):
    """A pixel of an hour or more: the timeline, the buckets and the drift mix come from the
    roll-ups (whole days from the daily ones) in slots of whole hours or days, and say what the
    events say, also after a late event changes days already rolled up."""
    clock.ms = NOW
    app = create_app(config)
    client = app.test_client()
    rng = random.Random(seed)
    history = random_events(rng, 300)
    history.append(event_at(PAST + rng.randrange(HOUR), "W1", "S1", rng.choice(["working", "idle"])))
    history += [event_at(BASE + DAY + rng.randrange(DAY), f"W{rng.randrange(5)}", "S1", "working") for _ in range(20)]
    post_events(client, *history[:200])
    keep_up(app)
    post_events(client, *history[200:])  # late: hours already rolled up change
    post_events(client, event_at(NOW - HOUR, "W0", "S1", "idle"))
    keep_up(app)
    assert read(app, "SELECT COUNT(*) FROM rollup_days WHERE stale = 0")[0][0] >= 3
    windows = [f"from={format_instant(BASE - 3 * HOUR)}&to={format_instant(NOW)}&width=60",
               f"from={format_instant(BASE + 1234)}&to={format_instant(BASE + 61 * HOUR + 5678)}&width=50",
               f"from={format_instant(PAST - HOUR)}&to={format_instant(NOW)}&width=400", "width=50",
               f"from={format_instant(BASE - 2 * DAY)}&to={format_instant(NOW)}&width=2000"]  # pixels under an hour
    assert_charts_equal_the_events(client, windows, monkeypatch)
    # A new worker's first state event, early: its time runs on through every later day.
    post_events(client, event_at(BASE + 5 * HOUR, "W9", "S2", "working"), event_at(NOW - 1000, "W1", "S1", "idle"))
    assert_charts_equal_the_events(client, windows, monkeypatch)


@pytest.mark.parametrize("seed", range(2))
def test_fine_charts_carry_each_workers_state_in_from_the_rollups_as_the_events_do(config, clock, seed):
    """A chart drawn from the events takes every worker's state at the window's start from the
    roll-up of the hour before and the events since, and says what the events alone say:
    windows starting inside an hour, on one, at an event's own instant, before all events, and
    in an hour whose roll-up a late event has made stale."""
    clock.ms = NOW
    app = create_app({**config, "STATE_MAX_GAP_SECONDS": 900})
    client = app.test_client()
    rng = random.Random(seed)
    history = random_events(rng, 300)
    post_events(client, *history)
    keep_up(app)
    starts = [BASE + rng.randrange(0, 60 * HOUR, 1000) for _ in range(4)]
    starts += [BASE + 5 * HOUR, parse_instant(history[7]["timestamp"]), BASE - HOUR]

    def assert_equal_the_events():
        for start in starts:
            window = f"from={format_instant(start)}&to={format_instant(start + 3 * HOUR + 1234)}&width=2000"
            for path in ("/metrics/timeline?", "/metrics/hourly?", "/metrics/drift?recent_seconds=3600&"):
                fast = client.get(f"{path}{window}").get_json()
                exact = client.get(f"{path}{window}&min_confidence=0").get_json()  # carried in from the events
                assert fast.get("workers", fast) == exact.get("workers", exact), (path, window)
                assert fast.get("buckets") == exact.get("buckets"), (path, window)

    assert_equal_the_events()
    late = event_at(starts[0] - rng.randrange(1, HOUR), "W1", "S2", "absent")
    post_events(client, late)
    assert_equal_the_events()


def assert_charts_equal_the_events(client, windows, monkeypatch):
    paths = ("/metrics/timeline?", "/metrics/hourly?", "/metrics/drift?recent_seconds=7200&")
    monkeypatch.undo()
    # The events' answers: a confidence filter that keeps every event is answered from them.
    exact = {(path, window): client.get(f"{path}{window}&min_confidence=0").get_json()
             for path in paths for window in windows}
    for window in windows:  # the events' strips at the finest resolution, to compare slot by slot
        finest = re.sub(r"width=[0-9]+", "width=10000", window)
        exact[paths[0], window] = client.get(f"{paths[0]}{finest}&min_confidence=0").get_json()
    monkeypatch.setattr(charts, "intervals", None)  # from here on, reading events would fail
    for window in windows:
        timeline = client.get(f"/metrics/timeline?{window}").get_json()
        window_ms = parse_instant(timeline["window"]["to"]) - parse_instant(timeline["window"]["from"])
        slot_ms = charts.slot_size_ms(round(timeline["resolution_seconds"] * 1000), window_ms)
        assert slot_ms is not None and slot_ms % HOUR == 0
        first = parse_instant(timeline["slots"]["from"])
        assert timeline["slots"] == {"from": timeline["slots"]["from"], "seconds": slot_ms // 1000,
                                     "states": ["working", "idle", "absent", "unknown"]}
        assert first % slot_ms == 0 and first <= parse_instant(timeline["window"]["from"]) < first + slot_ms
        slots = -(-(parse_instant(timeline["window"]["to"]) - first) // slot_ms)
        fine = exact[paths[0], window]["resolution_seconds"]  # a band of the events' strip straddles a slot by less
        for fast, slow in zip(timeline["workers"], exact[paths[0], window]["workers"], strict=True):
            assert fast["worker_id"] == slow["worker_id"] and fast["intervals"] == [] and len(fast["slots"]) == slots
            got = {(first // slot_ms + index, state): seconds for index, row in enumerate(fast["slots"])
                   for state, seconds in zip(timeline["slots"]["states"], row, strict=True)}
            want = slot_seconds(slow["intervals"], slot_ms)
            for key in {*got, *want}:  # whole seconds, rounded
                assert got.get(key, 0) == pytest.approx(want.get(key, 0), abs=2 * fine + 0.501), (window, key)
        assert client.get(f"{paths[1]}{window}").get_json() == exact[paths[1], window]
        assert client.get(f"{paths[2]}{window}").get_json()["workers"] == exact[paths[2], window]["workers"]
        metrics = client.get(f"/metrics/workers?{window}").get_json()["workers"]
        assert metrics == client.get(f"/metrics/workers?{window}&min_confidence=0").get_json()["workers"]



def test_the_keepers_of_several_processes_take_turns(config, clock):
    # Each server process has a keeper; one of them computes at a time, its turn renewed at each
    # look, and another takes the turn once it has ended (that process stopped looking).
    clock.ms = BASE + 2 * DAY
    app = create_app(config)
    client = app.test_client()
    first, second = (rollups.Keeper(app.config["DATABASE_PATH"], clock, 5000) for _ in range(2))
    conn = connect(app.config["DATABASE_PATH"])
    try:
        assert first.keep(conn) == 0 and second.keep(conn) == 0  # the first takes the turn
        post_events(client, event_at(BASE + HOUR, "W1", "S1", "working"), status=201)
        assert second.keep(conn) == 0 and first.keep(conn) == 0  # marked after the first's look before
        assert second.keep(conn) == 0 and first.keep(conn) == 2 and not stale_hours(app)  # the hour, then its day
        post_events(client, event_at(BASE + 3 * HOUR, "W1", "S1", "idle"), status=201)
        clock.ms += rollups.KEEP_TURN_MS
        assert second.keep(conn) == 0 and first.keep(conn) == 0  # the second's turn, from its first look
        assert stale_hours(app) and second.keep(conn) == 2 and not stale_hours(app)
    finally:
        conn.close()
