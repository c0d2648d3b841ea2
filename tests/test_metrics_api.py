"""Metrics through HTTP (SPEC §5): the worked example of the README, parameters, scope, items."""

import pytest

from tests.helpers import assert_problem, event, post_events

WORKED_EXAMPLE = [
    event("2026-01-15T08:00:00Z", "W1", "working"),
    event("2026-01-15T08:30:00Z", "W1", "product_count", count=5),
    event("2026-01-15T09:00:00Z", "W1", "idle"),
    event("2026-01-15T09:15:00Z", "W1", "working"),
    event("2026-01-15T09:45:00Z", "W1", "product_count", count=3),
    event("2026-01-15T10:00:00Z", "W1", "absent"),
    event("2026-01-15T08:30:00Z", "W2", "working"),
    event("2026-01-15T09:30:00Z", "W2", "absent"),
]


@pytest.fixture
def example(client):
    post_events(client, *WORKED_EXAMPLE, status=201)
    return client


def test_worked_example_of_the_readme(example):
    workers = example.get("/metrics/workers").get_json()
    assert workers["window"] == {"from": "2026-01-15T08:00:00Z", "to": "2026-01-15T10:00:00Z", "seconds": 7200}
    w1, w2 = workers["workers"]
    assert w1 == {
        "worker_id": "W1", "name": "W1", "active_seconds": 6300, "idle_seconds": 900, "absent_seconds": 0,
        "unknown_seconds": 0, "utilization_pct": 87.5, "units": 8, "units_per_hour": 4.57,
        "last_state": "absent", "last_seen": "2026-01-15T10:00:00Z", "current_workstation_id": "S1",
        "state_at_end": "absent",
    }
    assert (w2["active_seconds"], w2["idle_seconds"], w2["absent_seconds"]) == (3600, 0, 1800)
    assert w2["utilization_pct"] == 100

    station = example.get("/metrics/workstations").get_json()["workstations"][0]
    assert station == {"workstation_id": "S1", "name": "S1", "occupancy_seconds": 7200,
                       "utilization_pct": 100, "units": 8, "throughput_per_hour": 4, "planned_seconds": 0,
                       "target_units_per_hour": None, "target_units": None, "attainment_pct": None}

    factory = example.get("/metrics/factory").get_json()["factory"]
    assert factory == {
        "total_active_seconds": 9900, "total_idle_seconds": 900, "total_unknown_seconds": 0, "total_units": 8,
        "average_production_rate": 2.91, "average_utilization_pct": 93.75,
        "worker_count": 2, "workstation_count": 1, "event_count": 8, "target_units": None, "attainment_pct": None,
    }


def test_state_before_window_is_carried_in(example):
    w1 = example.get("/metrics/workers/W1?from=2026-01-15T08:45:00Z&to=2026-01-15T09:30:00Z").get_json()["worker"]
    # working carried in from 08:00: 08:45-09:00, idle 09:00-09:15, working 09:15-09:30
    assert (w1["active_seconds"], w1["idle_seconds"]) == (1800, 900)
    assert w1["units"] == 0


def test_units_on_the_window_edges_count(example):
    w1 = example.get("/metrics/workers/W1?from=2026-01-15T08:30:00Z&to=2026-01-15T09:45:00Z").get_json()["worker"]
    assert w1["units"] == 8


def test_to_in_the_future_is_cut_to_now(client, clock):
    clock.set("2026-01-15T09:00:00Z")
    post_events(client, event("2026-01-15T08:00:00Z"), status=201)
    body = client.get("/metrics/workers?to=2026-01-16T00:00:00Z").get_json()
    assert body["window"]["to"] == "2026-01-15T09:00:00Z"
    assert body["workers"][0]["active_seconds"] == 3600


def test_out_of_order_arrival_gives_the_same_figures(example, make_client):
    reversed_client = make_client()
    post_events(reversed_client, *reversed(WORKED_EXAMPLE), status=201)
    for path in ["/metrics/workers", "/metrics/workstations", "/metrics/factory"]:
        assert reversed_client.get(path).get_json() == example.get(path).get_json()


def test_empty_database_gives_empty_window_and_zeros(client):
    body = client.get("/metrics/factory").get_json()
    assert body["window"] == {"from": None, "to": None, "seconds": 0}
    assert all(value == 0 for name, value in body["factory"].items() if name not in ("target_units", "attainment_pct"))
    assert body["factory"]["target_units"] is None and body["factory"]["attainment_pct"] is None
    assert client.get("/metrics/workers").get_json() == {"window": body["window"], "workers": []}


def test_window_with_both_ends_and_no_events_has_its_length(client):
    body = client.get("/metrics/factory?from=2026-01-15T08:00:00Z&to=2026-01-15T09:00:00Z").get_json()
    assert body["window"] == {"from": "2026-01-15T08:00:00Z", "to": "2026-01-15T09:00:00Z", "seconds": 3600}


def test_registered_worker_without_events_in_scope_is_listed_with_zeros(example):
    body = example.get("/metrics/workers?from=2026-01-15T07:00:00Z&to=2026-01-15T07:30:00Z").get_json()
    assert [w["worker_id"] for w in body["workers"]] == ["W1", "W2"]
    assert all(w["active_seconds"] == 0 and w["last_state"] is None for w in body["workers"])


def test_gap_cap_from_query_and_from_setting(client, make_client):
    post_events(client, event("2026-01-15T08:00:00Z"), event("2026-01-15T12:00:00Z", event_type="idle"), status=201)
    uncapped = client.get("/metrics/workers/W1").get_json()["worker"]
    capped = client.get("/metrics/workers/W1?max_gap_seconds=3600").get_json()["worker"]
    assert (uncapped["active_seconds"], capped["active_seconds"]) == (14400, 3600)

    setting = make_client(STATE_MAX_GAP_SECONDS=1800)
    post_events(setting, event("2026-01-15T08:00:00Z"), event("2026-01-15T12:00:00Z", event_type="idle"), status=201)
    assert setting.get("/metrics/workers/W1").get_json()["worker"]["active_seconds"] == 1800
    assert setting.get("/metrics/workers/W1?max_gap_seconds=7200").get_json()["worker"]["active_seconds"] == 7200


def test_min_confidence_drops_uncertain_events_everywhere(client):
    post_events(client,
                event("2026-01-15T08:00:00Z", confidence=0.9),
                event("2026-01-15T09:00:00Z", event_type="idle", confidence=0.2),
                event("2026-01-15T10:00:00Z", event_type="absent"),  # no confidence: always counts
                event("2026-01-15T11:00:00Z", event_type="product_count", count=4, confidence=0.1),
                status=201)
    body = client.get("/metrics/workers?min_confidence=0.5").get_json()
    assert body["window"]["to"] == "2026-01-15T10:00:00Z"  # the low-confidence count is out of scope
    worker = body["workers"][0]
    assert (worker["active_seconds"], worker["idle_seconds"], worker["units"]) == (7200, 0, 0)


def test_site_id_limits_events_and_lists(client):
    post_events(client,
                event("2026-01-15T08:00:00Z", "A1", workstation_id="N1", site_id="north"),
                event("2026-01-15T09:00:00Z", "A1", "absent", workstation_id="N1", site_id="north"),
                event("2026-01-15T08:00:00Z", "B1", workstation_id="S1", site_id="south"),
                event("2026-01-15T12:00:00Z", "B1", "absent", workstation_id="S1", site_id="south"),
                status=201)
    north = client.get("/metrics/workers?site_id=north").get_json()
    assert [w["worker_id"] for w in north["workers"]] == ["A1"]
    assert north["window"]["to"] == "2026-01-15T09:00:00Z"
    stations = client.get("/metrics/workstations?site_id=south").get_json()["workstations"]
    assert [s["workstation_id"] for s in stations] == ["S1"]
    assert client.get("/metrics/factory?site_id=north").get_json()["factory"]["worker_count"] == 1
    assert_problem(client.get("/metrics/workers/B1?site_id=north"), 404)


@pytest.mark.parametrize("query", [
    "",
    "?from=2026-01-15T08:40:00Z",
    "?from=2026-01-15T08:40:00Z&to=2026-01-15T09:20:00Z",
    "?to=2026-01-15T09:00:00%2B01:00",
    "?max_gap_seconds=1200&min_confidence=0.5",
])
def test_single_item_equals_the_list_item(example, query):
    workers = example.get(f"/metrics/workers{query}").get_json()
    for item in workers["workers"]:
        single = example.get(f"/metrics/workers/{item['worker_id']}{query}").get_json()
        assert single == {"window": workers["window"], "worker": item}
    stations = example.get(f"/metrics/workstations{query}").get_json()
    for item in stations["workstations"]:
        single = example.get(f"/metrics/workstations/{item['workstation_id']}{query}").get_json()
        assert single == {"window": stations["window"], "workstation": item}


@pytest.mark.parametrize("path", ["/metrics/workers/nobody", "/metrics/workstations/nowhere"])
def test_unknown_id_is_404(example, path):
    assert_problem(example.get(path), 404)


@pytest.mark.parametrize("query, fields", [
    ("from=yesterday", {"from"}),
    ("to=2026-02-30T00:00:00Z", {"to"}),
    ("from=2026-01-15T10:00:00Z&to=2026-01-15T09:00:00Z", {"from"}),
    ("min_confidence=abc&max_gap_seconds=-5", {"min_confidence", "max_gap_seconds"}),
    ("min_confidence=nan", {"min_confidence"}),
    ("max_gap_seconds=inf", {"max_gap_seconds"}),
])
@pytest.mark.parametrize("path", ["/metrics/factory", "/metrics/workers", "/metrics/workstations/S1"])
def test_bad_query_is_422_listing_every_problem(example, path, query, fields):
    body = assert_problem(example.get(f"{path}?{query}"), 422)
    assert {error["field"] for error in body["errors"]} == fields


def test_every_metrics_response_carries_the_window(example):
    for path in ["/metrics/factory", "/metrics/workers", "/metrics/workers/W1",
                 "/metrics/workstations", "/metrics/workstations/S1"]:
        assert set(example.get(path).get_json()["window"]) == {"from", "to", "seconds"}


def test_a_horizon_setting_below_a_millisecond_stops_start_up(make_client):
    from backend.errors import StartupError

    with pytest.raises(StartupError, match="STATE_MAX_GAP_SECONDS"):
        make_client(STATE_MAX_GAP_SECONDS=0.0001)


def test_the_signal_horizon_is_900_seconds_unless_set_and_0_turns_it_off(make_client, monkeypatch):
    from backend.app import default_config

    monkeypatch.delenv("STATE_MAX_GAP_SECONDS", raising=False)
    assert default_config()["STATE_MAX_GAP_SECONDS"] == 900
    timeline = (event("2026-01-15T08:00:00Z"), event("2026-01-15T12:00:00Z", event_type="idle"))
    default = make_client(STATE_MAX_GAP_SECONDS=900)
    post_events(default, *timeline, status=201)
    worker = default.get("/metrics/workers/W1").get_json()["worker"]
    assert (worker["active_seconds"], worker["unknown_seconds"]) == (900, 13500)
    assert default.get("/metrics/workers/W1?max_gap_seconds=0").get_json()["worker"]["active_seconds"] == 14400
    off = make_client(STATE_MAX_GAP_SECONDS=0)
    post_events(off, *timeline, status=201)
    assert off.get("/metrics/workers/W1").get_json()["worker"]["unknown_seconds"] == 0


# The README's second worked example: one shift with a break, a camera that goes silent past the
# signal horizon (900 s, the default), and a target.
SHIFT_CALENDAR = {"time_zone": "UTC", "shifts": [
    {"name": "Early", "start": "06:00", "end": "08:00", "breaks": [{"start": "07:00", "end": "07:15"}]}]}
SHIFT_EXAMPLE = [
    event("2026-01-15T05:50:00Z", "W1", "working"),
    event("2026-01-15T06:05:00Z", "W1", "working"),  # heartbeats: the state again
    event("2026-01-15T06:20:00Z", "W1", "working"),
    event("2026-01-15T06:30:00Z", "W1", "product_count", count=10),
    event("2026-01-15T06:35:00Z", "W1", "idle"),
    event("2026-01-15T06:45:00Z", "W1", "working"),
    event("2026-01-15T07:00:00Z", "W1", "working"),
    event("2026-01-15T07:05:00Z", "W1", "product_count", count=5),  # in the break
    event("2026-01-15T07:10:00Z", "W1", "working"),  # then the camera is silent until 07:50
    event("2026-01-15T07:50:00Z", "W1", "working"),
    event("2026-01-15T07:55:00Z", "W1", "product_count", count=15),
    event("2026-01-15T08:00:00Z", "W1", "product_count", count=2),  # at the shift's end: counts
    event("2026-01-15T08:00:00Z", "W1", "absent"),
]


def test_worked_example_of_a_shift_with_a_break_a_horizon_cut_and_a_target(make_client):
    client = make_client(STATE_MAX_GAP_SECONDS=900)
    post_events(client, *SHIFT_EXAMPLE, status=201)
    assert client.put("/calendar", json=SHIFT_CALENDAR).status_code == 200
    assert client.put("/workstations/S1", json={"target_units_per_hour": 20}).status_code == 200
    shift = "from=2026-01-15T06:00:00Z&to=2026-01-15T08:00:00Z"

    planned = client.get(f"/metrics/workers/W1?{shift}&planned_only=true").get_json()
    assert planned["window"] == {"from": "2026-01-15T06:00:00Z", "to": "2026-01-15T08:00:00Z", "seconds": 7200}
    assert planned["worker"] == {
        "worker_id": "W1", "name": "W1", "active_seconds": 4200, "idle_seconds": 600, "absent_seconds": 0,
        "unknown_seconds": 1500, "utilization_pct": 87.5, "units": 27, "units_per_hour": 23.14,
        "last_state": "absent", "last_seen": "2026-01-15T08:00:00Z", "current_workstation_id": "S1",
        "state_at_end": "absent",
    }
    station = client.get(f"/metrics/workstations/S1?{shift}&planned_only=true").get_json()["workstation"]
    assert station == {"workstation_id": "S1", "name": "S1", "occupancy_seconds": 4800, "utilization_pct": 76.19,
                       "units": 27, "throughput_per_hour": 20.25, "planned_seconds": 6300,
                       "target_units_per_hour": 20, "target_units": 35, "attainment_pct": 77.14}
    factory = client.get(f"/metrics/factory?{shift}&planned_only=true").get_json()["factory"]
    assert (factory["target_units"], factory["attainment_pct"], factory["event_count"]) == (35, 77.14, 12)

    # All of the window, not only planned time: the break counts, and the units made in it.
    station = client.get(f"/metrics/workstations/S1?{shift}").get_json()["workstation"]
    assert (station["occupancy_seconds"], station["utilization_pct"], station["units"]) == (5700, 79.17, 32)
    assert (station["planned_seconds"], station["target_units"], station["attainment_pct"]) == (6300, 35, 91.43)
    # Without a horizon the silent 25 minutes count as working.
    worker = client.get(f"/metrics/workers/W1?{shift}&planned_only=true&max_gap_seconds=0").get_json()["worker"]
    assert (worker["active_seconds"], worker["unknown_seconds"]) == (5700, 0)

    (report,) = client.get(f"/metrics/shifts?{shift}").get_json()["shifts"]
    assert (report["shift"], report["planned_seconds"], report["status"]) == ("Early", 6300, "done")
    assert report["workstations"][0] == client.get(
        f"/metrics/workstations?{shift}&planned_only=true").get_json()["workstations"][0]
