"""`GET /metrics/dashboard`: every part of the page for one window, equal to the endpoint that
answers that part alone, with an ETag that changes exactly when one of the parts can."""


import pytest

from backend import db, queries
from tests.helpers import assert_problem, event, post_events, strip_seconds


@pytest.fixture
def seeded(client):
    """The demo floor in a database of this test's own, for tests that change it or move the
    clock; those that only read it use the shared `demo_floor`."""
    assert client.post("/seed").status_code == 200
    return client


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


QUERIES = ["", "?from=2026-01-15T07:10:00Z&to=2026-01-15T11:50:00Z", "?site_id=plant-north",
           "?min_confidence=0.6&max_gap_seconds=1500", "?planned_only=true&from=2026-01-15T06:00:00Z"]


@pytest.mark.parametrize("query", QUERIES)
def test_every_part_equals_its_own_endpoint(seeded, clock, query):
    joiner = "&" if query else "?"
    body = get(seeded, f"/metrics/dashboard{query}{joiner}width=600")
    window = body["window"]
    bounds = f"from={window['from']}&to={window['to']}"
    metrics_query = f"{query}{joiner}"
    assert body["factory"] == get(seeded, f"/metrics/factory{query}")["factory"]
    assert body["workers"] == get(seeded, f"/metrics/workers{query}")["workers"]
    assert body["workstations"] == get(seeded, f"/metrics/workstations{query}")["workstations"]
    assert body["timeline"] == get(seeded, f"/metrics/timeline{metrics_query}width=600")
    assert body["hourly"] == get(seeded, f"/metrics/hourly{metrics_query}width=600")
    assert body["models"] == get(seeded, f"/metrics/models{metrics_query}width=600")
    assert body["drift"] == get(seeded, f"/metrics/drift{query}")
    site = "&site_id=plant-north" if "site_id" in query else ""
    clock.set(window["to"])  # the window's shift report is as of its end
    assert body["shift_report"] == get(seeded, f"/metrics/shifts?{bounds}{site}")
    assert body["alerts"] == get(seeded, "/alerts?state=open&limit=1000")
    feed_site = "?site_id=plant-north" if "site_id" in query else ""
    assert body["feed"] == get(seeded, f"/events{feed_site}{'&' if feed_site else '?'}limit=20")


def test_timeline_totals_are_the_worker_figures(demo_floor):
    body = get(demo_floor, "/metrics/dashboard?width=50")
    figures = {w["worker_id"]: w for w in body["workers"]}
    for row in body["timeline"]["workers"]:
        for state, key in (("working", "active_seconds"), ("idle", "idle_seconds"), ("absent", "absent_seconds"),
                           ("unknown", "unknown_seconds")):
            seconds = strip_seconds(body["timeline"], row, state)
            assert seconds == pytest.approx(figures[row["worker_id"]][key], abs=len(row["slots"] or []) / 2 + 0.001)
        assert len(row["intervals"]) <= 2 * 50 + 1 and len(row["slots"] or []) <= 50


def test_worker_and_workstation_narrow_the_charts_and_the_feed_only(demo_floor):
    body = get(demo_floor, "/metrics/dashboard?worker_id=W-02&workstation_id=WS-03")
    assert [w["worker_id"] for w in body["timeline"]["workers"]] == ["W-02"]
    assert len(body["workers"]) > 1  # the tables list everyone; the page narrows them
    assert body["hourly"] == get(demo_floor, "/metrics/hourly?worker_id=W-02&workstation_id=WS-03")
    assert all(e["worker_id"] == "W-02" and e["workstation_id"] == "WS-03" for e in body["feed"]["events"])


def test_a_worker_not_in_scope_leaves_the_charts_empty_and_the_rest_whole(demo_floor):
    body = get(demo_floor, "/metrics/dashboard?worker_id=nobody")
    assert body["timeline"] is None and body["hourly"] is None
    assert body["workers"] and body["models"]["models"] and body["feed"]["events"] == []


def test_floor_section_holds_the_figures_of_now_only(demo_floor):
    body = get(demo_floor, "/metrics/dashboard?sections=floor&from=2026-01-15T10:00:00Z")
    assert body["workers"] and body["timeline"]["workers"] and "alerts" in body["alerts"]
    assert [body[part] for part in ("hourly", "models", "drift", "shift_report", "feed")] == [None] * 5


def test_empty_database(client):
    body = get(client, "/metrics/dashboard")
    assert body["window"] == {"from": None, "to": None, "seconds": 0}
    assert body["timeline"]["workers"] == [] and body["hourly"]["buckets"] == []
    assert body["shift_report"] is None and body["feed"]["events"] == []


@pytest.mark.parametrize("query", ["width=10", "width=wide", "sections=some", "feed_limit=0", "from=soon"])
def test_bad_parameters_are_422(demo_floor, query):
    assert_problem(demo_floor.get(f"/metrics/dashboard?{query}"), 422)


def test_too_many_shifts_for_the_report_say_so_and_keep_the_rest(seeded):
    all_day = {"name": "All day", "start": "00:00", "end": "00:00"}
    seeded.put("/calendar", json={"time_zone": "UTC", "shifts": [all_day]})
    body = get(seeded, "/metrics/dashboard?from=2025-06-01T00:00:00Z")
    assert body["shift_report"] is None and "200" in body["shift_report_error"]
    assert body["workers"]


def test_unchanged_answer_is_304_and_a_new_event_or_alert_changes_it(seeded, app):
    url = "/metrics/dashboard?from=2026-01-15T06:00:00Z&to=2026-01-15T12:00:00Z"
    etag = seeded.get(url).headers["ETag"]
    assert seeded.get(url, headers={"If-None-Match": etag}).status_code == 304
    conn = db.connect(app.config["DATABASE_PATH"])
    try:
        with db.transaction(conn):
            conn.execute("INSERT INTO alerts (rule_id, kind, subject, opened_at_ms, detail) "
                         "VALUES ('idle', 'worker_idle', 'W-01', 0, '{}')")
    finally:
        conn.close()
    changed = seeded.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and len(changed.get_json()["alerts"]["alerts"]) == 1
    etag = changed.headers["ETag"]
    post_events(seeded, event("2026-01-15T11:00:00Z", worker_id="W-01", event_type="idle"), status=201)
    assert seeded.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_the_shift_report_is_as_of_the_window_end_so_the_clock_changes_nothing(seeded, clock):
    seeded.put("/calendar", json={"time_zone": "UTC", "shifts": [{"name": "Late", "start": "14:00", "end": "22:00"}]})
    url = "/metrics/dashboard?from=2026-01-15T06:00:00Z&to=2026-01-15T16:00:00Z"
    first = seeded.get(url)
    late = [s for s in first.get_json()["shift_report"]["shifts"] if s["shift"] == "Late" and s["site_id"] is None]
    assert [(s["status"], s["window"]["to"]) for s in late] == [("running", "2026-01-15T16:00:00Z")]
    clock.set("2026-01-15T18:05:00Z")
    assert seeded.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_the_floor_setup_is_read_once_for_every_part_in_planned_time(demo_floor, monkeypatch):
    calls = []
    load_calendar = queries.load_calendar
    monkeypatch.setattr(queries, "load_calendar", lambda *args: calls.append(args) or load_calendar(*args))
    body = get(demo_floor, "/metrics/dashboard?planned_only=true&from=2026-01-15T06:00:00Z&to=2026-01-15T12:00:00Z")
    assert body["timeline"]["workers"] and body["hourly"]["buckets"] and body["shift_report"]["shifts"]
    assert len(calls) == 1  # the metrics, the timeline, the hourly buckets and the shift report share one read
