"""Model figures from the day and hour roll-ups: models, the confidence series and the confidence
drift over any window equal what the window's events give, on both stores; each roll-up is filled
by its migration, kept by ingestion and cleared with the events."""

import math
import random
from fractions import Fraction

import pytest

from backend import db, schema
from backend.timeutil import format_instant, parse_instant

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
UNIT_MS = {"day": DAY_MS, "hour": HOUR_MS}
# The schema version that brings each model roll-up.
MODEL_VERSION = {unit: next(number for number, script in enumerate(schema.SQLITE_MIGRATIONS, start=1)
                            if f"CREATE TABLE rollup_model_{unit}s" in script) for unit in UNIT_MS}
FIRST_MS = parse_instant("2026-01-05T00:00:00Z")
LAST_MS = parse_instant("2026-01-15T17:59:59.999Z")  # the app's clock is at 18:00
VERSIONS = ("m-1", "m-2", None)
SITES = ("north", "south", None)
CONFIDENCES = (None, 0.0, 0.1, 0.35, 0.5, 0.72, 0.9, 0.93, 1.0)

WINDOWS = [
    {},  # the whole data
    {"from": "2026-01-07T00:00:00Z", "to": "2026-01-12T00:00:00Z"},  # whole days, ends on a day's first instant
    {"from": "2026-01-05T05:17:23.456Z", "to": "2026-01-14T20:01:02.003Z"},  # cuts its first and last day
    {"from": "2026-01-10T00:00:00Z", "to": "2026-01-10T23:59:59.999Z"},  # one whole day
    {"from": "2026-01-09T10:00:00Z", "to": "2026-01-09T13:30:00.500Z"},  # part of a day
    {"from": "2026-01-06T12:00:00Z", "to": "2026-01-15T18:00:00Z", "bucket_seconds": 172_800},  # 2-day buckets
    {"from": "2026-01-06T12:00:00Z", "to": "2026-01-15T18:00:00Z", "bucket_seconds": 18_000},  # 5-hour buckets
]
SCOPES = [{}, {"site_id": "north"}, {"min_confidence": 0.5}, {"site_id": "south", "min_confidence": 0.9}]


def history(seed, count=1500):
    """`count` events as `(ts_ms, site_id, model_version, confidence)` over eleven days, some on the
    first and last instant of a day, some with a confidence of every bit of a double's."""
    rng = random.Random(seed)
    edges = [day * DAY_MS + offset for day in range(FIRST_MS // DAY_MS, LAST_MS // DAY_MS)
             for offset in (0, DAY_MS - 1)]
    instants = sorted(set(rng.sample(range(FIRST_MS, LAST_MS + 1), count - len(edges)) + edges))
    return [(ts_ms, rng.choice(SITES), rng.choice(VERSIONS),
             rng.random() if rng.random() < 0.1 else rng.choice(CONFIDENCES)) for ts_ms in instants]


def post_history(client, events, seed):
    """Post the events in batches of mixed days, so most batches add to days stored already."""
    bodies = [{"timestamp": format_instant(ts_ms), "worker_id": f"W{number % 7}", "workstation_id": "S1",
               "event_type": "working" if number % 3 else "idle",
               **({"site_id": site} if site else {}), **({"model_version": version} if version else {}),
               **({"confidence": confidence} if confidence is not None else {})}
              for number, (ts_ms, site, version, confidence) in enumerate(events)]
    random.Random(seed).shuffle(bodies)
    for start in range(0, len(bodies), 250):
        response = client.post("/events", json=bodies[start:start + 250])
        assert response.get_json()["accepted"] == len(bodies[start:start + 250]), response.get_json()


def in_scope(event, scope):
    _ts_ms, site, _version, confidence = event
    return ((scope.get("site_id") is None or site == scope["site_id"])
            and (scope.get("min_confidence") is None or confidence is None or confidence >= scope["min_confidence"]))


def half_up(value):
    """Four decimals, half away from zero, of an exact value (README, "Model versions and drift")."""
    whole = math.floor(abs(value) * 10_000 + Fraction(1, 2))
    return (whole if value >= 0 else -whole) / 10_000


def sent(confidence):
    """A confidence as the decimal a camera sent: the double's shortest form."""
    return Fraction(repr(confidence))


def exact_mean(confidences):
    return sum(map(sent, confidences)) / len(confidences) if confidences else None


def mean(confidences):
    return half_up(exact_mean(confidences)) if confidences else None


def by_version(events):
    versions = {}
    for event in events:
        versions.setdefault(event[2], []).append(event)
    return sorted(versions.items(), key=lambda item: (item[0] is None, item[0] or ""))


def expected_models(events, start_ms, end_ms, low, bucket_ms):
    """`(models, series)` of `/metrics/models`, worked out from the events one by one."""
    models = []
    for version, group in by_version(events):
        rated = sorted(event[3] for event in group if event[3] is not None)
        models.append({
            "model_version": version, "event_count": len(group), "confidence_count": len(rated),
            "mean_confidence": mean(rated),
            "p10_confidence": half_up(sent(rated[math.ceil(0.1 * len(rated)) - 1])) if rated else None,
            "low_confidence_share": half_up(Fraction(sum(c < low for c in rated), len(rated))) if rated else 0,
            "first_seen": format_instant(min(event[0] for event in group)),
            "last_seen": format_instant(max(event[0] for event in group))})
    last_slot = max(start_ms // bucket_ms, (end_ms - 1) // bucket_ms)
    series = []
    for version, group in by_version(events):
        slots = {}
        for event in group:
            slots.setdefault(min(event[0] // bucket_ms, last_slot), []).append(event)
        for slot, in_slot in sorted(slots.items()):
            point_start = max(slot * bucket_ms, start_ms)
            series.append({"model_version": version, "from": format_instant(point_start),
                           "to": format_instant(max(point_start, min((slot + 1) * bucket_ms, end_ms))),
                           "events": len(in_slot),
                           "mean_confidence": mean([event[3] for event in in_slot if event[3] is not None])})
    return models, series


def expected_drift(events, start_ms, end_ms, recent_ms, min_events):
    """The confidence verdicts of `/metrics/drift` per version, worked out from the events."""
    cut_ms = max(start_ms, end_ms - recent_ms)
    verdicts = []
    for version, group in by_version([event for event in events if event[3] is not None]):
        sides = [[event[3] for event in group if (event[0] >= cut_ms) == recent] for recent in (False, True)]
        enough = min(map(len, sides)) >= min_events
        means = [exact_mean(side) for side in sides]
        verdicts.append({"model_version": version, "baseline_events": len(sides[0]), "recent_events": len(sides[1]),
                         "baseline_mean": mean(sides[0]), "recent_mean": mean(sides[1]),
                         "drop": half_up(means[0] - means[1]) if enough else None})
    return verdicts


def drift_verdicts(body):
    return [{"model_version": item["model_version"], "baseline_events": item["baseline"]["events"],
             "recent_events": item["recent"]["events"], "baseline_mean": item["baseline"]["mean_confidence"],
             "recent_mean": item["recent"]["mean_confidence"], "drop": item["confidence_drop"]}
            for item in body["models"]]


def window_of(body):
    return parse_instant(body["window"]["from"]), parse_instant(body["window"]["to"])


def picked(events, scope, start_ms, end_ms):
    return [event for event in events if start_ms <= event[0] <= end_ms and in_scope(event, scope)]


def get(client, path, params):
    response = client.get(path, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def stored(client):
    events = history(seed=17)
    post_history(client, events, seed=17)
    return client, events


def test_models_over_any_window_equal_the_events(stored):
    client, events = stored
    for window in WINDOWS:
        for scope in SCOPES:
            body = get(client, "/metrics/models", {**window, **scope, "low_confidence": 0.6})
            start_ms, end_ms = window_of(body)
            models, series = expected_models(picked(events, scope, start_ms, end_ms), start_ms, end_ms, 0.6,
                                             body["bucket_seconds"] * 1000)
            assert body["models"] == models, (window, scope)
            assert body["series"] == series, (window, scope)


@pytest.mark.parametrize("recent_seconds", [3600, 2 * 86400 + 5 * 3600 + 0.25])
def test_confidence_drift_over_any_window_equals_the_events(stored, recent_seconds):
    client, events = stored
    for window in WINDOWS:
        for scope in SCOPES:
            params = {key: value for key, value in window.items() if key != "bucket_seconds"}
            body = get(client, "/metrics/drift", {**params, **scope, "recent_seconds": recent_seconds,
                                                  "min_events": 3})
            start_ms, end_ms = window_of(body)
            expected = expected_drift(picked(events, scope, start_ms, end_ms), start_ms, end_ms,
                                      round(recent_seconds * 1000), 3)
            assert drift_verdicts(body) == expected, (window, scope)


def test_the_dashboard_models_and_drift_equal_the_events(stored):
    client, events = stored
    for window in WINDOWS[:4]:
        for scope in SCOPES[::3]:
            params = {key: value for key, value in window.items() if key != "bucket_seconds"}
            body = get(client, "/metrics/dashboard", {**params, **scope, "width": 600})
            start_ms, end_ms = window_of(body["models"])
            inside = picked(events, scope, start_ms, end_ms)
            models, series = expected_models(inside, start_ms, end_ms, body["models"]["low_confidence_threshold"],
                                             body["models"]["bucket_seconds"] * 1000)
            assert (body["models"]["models"], body["models"]["series"]) == (models, series), (window, scope)
            rules = body["drift"]["rules"]
            assert drift_verdicts(body["drift"]) == expected_drift(
                inside, start_ms, end_ms, round(rules["recent_seconds"] * 1000), rules["min_events"])


def in_order(rows):
    return sorted((tuple(row) for row in rows), key=lambda row: [(value is None, value or 0) for value in row])


def unit_rows(conn, unit):
    return in_order(conn.execute(
        f"SELECT {unit}, site_id, model_version, confidence, events, first_ms, last_ms FROM rollup_model_{unit}s"))


def grouped_events(conn, unit):
    return in_order(conn.execute(
        f"SELECT ts_ms / {UNIT_MS[unit]}, site_id, model_version, confidence, COUNT(*), MIN(ts_ms), MAX(ts_ms) "
        "FROM events GROUP BY 1, 2, 3, 4"))


@pytest.mark.parametrize("unit, window, bucket_seconds, changed", [
    ("day", {"from": "2026-01-07T00:00:00Z", "to": "2026-01-12T00:00:00Z"}, 86400, "2026-01-08T10:00:00Z"),
    ("hour", {"from": "2026-01-08T09:00:00Z", "to": "2026-01-08T14:00:00Z"}, 3600, "2026-01-08T10:00:00Z"),
    # The whole hours before the first whole day of a window in days.
    ("hour", {"from": "2026-01-07T05:00:00Z", "to": "2026-01-12T00:00:00Z"}, 86400, "2026-01-07T06:00:00Z"),
])
def test_whole_units_are_read_from_their_roll_up(stored, config, unit, window, bucket_seconds, changed):
    client, _events = stored
    before = get(client, "/metrics/models", window)["models"]
    conn = db.connect(config["DATABASE_PATH"])
    try:
        conn.execute(f"UPDATE rollup_model_{unit}s SET events = events * 2 WHERE {unit} = ?",
                     (parse_instant(changed) // UNIT_MS[unit],))
    finally:
        conn.close()
    after = get(client, "/metrics/models", {**window, "bucket_seconds": bucket_seconds})["models"]
    assert sum(m["event_count"] for m in after) > sum(m["event_count"] for m in before)


@pytest.mark.parametrize("unit", UNIT_MS)
def test_ingestion_keeps_the_roll_up_as_the_events_group(stored, config, unit):
    _client, events = stored
    conn = db.connect(config["DATABASE_PATH"])
    try:
        rows = unit_rows(conn, unit)
        assert rows == grouped_events(conn, unit)
        assert sum(row[4] for row in rows) == len(events) > len(rows)  # every event, some sharing a row
    finally:
        conn.close()


# What the migrations from each model roll-up's on added, undone so they run again.
LATER_TABLES = {"day": ("DROP TABLE rollup_model_days", "DROP INDEX rollup_partial_hours",
                        "ALTER TABLE rollup_hours DROP COLUMN until_ms", "DROP TABLE rollup_hour_marks",
                        "ALTER TABLE rollup_hours DROP COLUMN marked", "ALTER TABLE rollup_days DROP COLUMN marked",
                        "DROP TABLE rollup_keeper", "DROP TABLE rollup_model_hours"),
                "hour": ("DROP TABLE rollup_model_hours",)}


@pytest.mark.parametrize("unit", UNIT_MS)
def test_the_migration_fills_the_roll_up_from_the_events(stored, config, unit):
    path = config["DATABASE_PATH"]
    conn = db.connect(path)
    try:
        kept = unit_rows(conn, unit)
        for statement in LATER_TABLES[unit]:
            conn.execute(statement)
        conn.set_schema_version(MODEL_VERSION[unit] - 1)
    finally:
        conn.close()
    db.init_db(path)
    conn = db.connect(path)
    try:
        assert unit_rows(conn, unit) == kept
    finally:
        conn.close()


def test_reloading_the_demo_clears_the_roll_ups(stored, config):
    client, _events = stored
    assert client.post("/seed?replace=all").status_code in (200, 201)
    conn = db.connect(config["DATABASE_PATH"])
    try:
        for unit in UNIT_MS:
            rows = unit_rows(conn, unit)
            assert rows == grouped_events(conn, unit)
            assert not any(row[1] in ("north", "south") for row in rows)  # none of the events posted before
    finally:
        conn.close()
