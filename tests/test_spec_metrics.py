"""SPEC §5 Metrics: the time model and the figures, through the HTTP API.

Every expected number below is worked out by hand from the SPEC's time model, not taken from
the implementation. The pinned clock (conftest) reads 2026-01-15T18:00:00Z unless a test moves it.
"""

import random

import pytest

from tests.helpers import (
    METRICS_LIST_PATHS,
    assert_figures,
    assert_problem,
    at,
    event,
    factory,
    get_ok,
    post_events,
    stations_by_id,
    window,
    workers_by_id,
)

WORKER_FIGURES = {
    "worker_id", "name", "active_seconds", "idle_seconds", "absent_seconds", "utilization_pct",
    "unknown_seconds", "units", "units_per_hour", "last_state", "last_seen", "current_workstation_id",
    "state_at_end",
}
STATION_FIGURES = {
    "workstation_id", "name", "occupancy_seconds", "utilization_pct", "units", "throughput_per_hour",
    "planned_seconds", "target_units_per_hour", "target_units", "attainment_pct",
}
# Figures about targets: `null` while no workstation has a target.
FACTORY_TARGET_FIGURES = {"target_units", "attainment_pct"}
FACTORY_FIGURES = {
    "total_active_seconds", "total_idle_seconds", "total_unknown_seconds", "total_units", "average_production_rate",
    "average_utilization_pct", "worker_count", "workstation_count", "event_count", *FACTORY_TARGET_FIGURES,
}
ZERO_FACTORY = {**dict.fromkeys(FACTORY_FIGURES, 0), **dict.fromkeys(FACTORY_TARGET_FIGURES)}
NO_TARGET = {"planned_seconds": 0, "target_units_per_hour": None, "target_units": None, "attainment_pct": None}


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# §5.1-5.3 The window, carry-in, clipping
# --------------------------------------------------------------------------------------------

CARRY_IN_TIMELINE = [
    event(at("08:00"), event_type="working"),
    event(at("11:00"), event_type="idle"),
    event(at("12:00"), event_type="absent"),
]


@pytest.mark.parametrize("params, active, idle, last_state, last_seen, win", [
    # The state before `from` (working since 08:00) is carried in.
    ({"from": at("10:00")}, 3600, 3600, "absent", at("12:00"), (at("10:00"), at("12:00"), 7200)),
    ({"from": at("10:30"), "to": at("11:30")}, 1800, 1800, "idle", at("11:00"),
     (at("10:30"), at("11:30"), 3600)),
    # Nothing happens inside the window: the carried-in state fills it.
    ({"from": at("09:00"), "to": at("10:00")}, 3600, 0, "working", at("08:00"),
     (at("09:00"), at("10:00"), 3600)),
    # The whole data: S is the earliest event, E the latest.
    ({}, 10800, 3600, "absent", at("12:00"), (at("08:00"), at("12:00"), 14400)),
])
def test_state_before_window_is_carried_in(client, params, active, idle, last_state, last_seen, win):
    post_events(client, *CARRY_IN_TIMELINE, status=201)
    body = get_ok(client, "/metrics/workers", params)
    assert body["window"] == {"from": win[0], "to": win[1], "seconds": win[2]}
    (w1,) = body["workers"]
    assert_figures(w1, active_seconds=active, idle_seconds=idle, absent_seconds=0,
                   last_state=last_state, last_seen=last_seen, current_workstation_id="S1")


def test_window_end_is_latest_event_not_now_when_to_is_missing(client):
    post_events(client, event(at("16:00"), event_type="working"), event(at("17:00"), event_type="idle"),
                status=201)
    body = get_ok(client, "/metrics/workers")
    assert body["window"] == {"from": at("16:00"), "to": at("17:00"), "seconds": 3600}
    assert_figures(body["workers"][0], active_seconds=3600, idle_seconds=0, utilization_pct=100)


def test_window_bounds_use_every_worker_and_product_counts(client):
    # W1's last state holds until E, and E is set by W2's product count at 12:00.
    post_events(client,
                event(at("10:00"), "W1", "working"),
                event(at("09:00"), "W2", "idle", "S2"),
                event(at("12:00"), "W2", "product_count", "S2", count=1),
                status=201)
    assert window(client) == {"from": at("09:00"), "to": at("12:00"), "seconds": 10800}
    workers = workers_by_id(client)
    assert workers["W1"]["active_seconds"] == 7200
    assert workers["W2"]["idle_seconds"] == 10800


@pytest.mark.parametrize("to, now, expected_to, seconds", [
    (at("20:00"), "2026-01-15T18:00:00Z", at("18:00"), 7200),
    (at("20:00"), "2026-01-15T17:00:00Z", at("17:00"), 3600),
    (at("17:30"), "2026-01-15T18:00:00Z", at("17:30"), 5400),
])
def test_to_in_the_future_is_clipped_to_now(client, clock, to, now, expected_to, seconds):
    post_events(client, event(at("16:00"), event_type="working"), status=201)
    clock.set(now)
    body = get_ok(client, "/metrics/workers", {"to": to})
    assert body["window"] == {"from": at("16:00"), "to": expected_to, "seconds": seconds}
    assert body["workers"][0]["active_seconds"] == seconds
    assert body["workers"][0]["utilization_pct"] == 100


def test_accepted_future_events_do_not_count_past_now(client):
    # Within the clock skew an event may lie after now; E = min(E, now) leaves it outside.
    post_events(client,
                event(at("17:00"), event_type="working"),
                event(at("18:03"), event_type="product_count", count=4),
                event(at("18:04"), event_type="idle"),
                status=201)
    body = get_ok(client, "/metrics/workers")
    assert body["window"] == {"from": at("17:00"), "to": at("18:00"), "seconds": 3600}
    assert_figures(body["workers"][0], active_seconds=3600, idle_seconds=0, units=0,
                   last_state="working", last_seen=at("17:00"))
    assert factory(client)["event_count"] == 1


def test_last_state_is_latest_state_event_at_or_before_the_clipped_end(client):
    # from=19:00, to=20:00 with now=18:00: S=19:00, E=18:00. The idle event at 18:04 lies after
    # E, so "latest state event at or before E" is the working event at 17:00.
    post_events(client, event(at("17:00"), event_type="working"), event(at("18:04"), event_type="idle"),
                status=201)
    body = get_ok(client, "/metrics/workers", {"from": at("19:00"), "to": at("20:00")})
    assert body["window"] == {"from": at("19:00"), "to": at("18:00"), "seconds": 0}
    assert_figures(body["workers"][0], active_seconds=0, idle_seconds=0,
                   last_state="working", last_seen=at("17:00"))


def test_from_after_last_event_gives_an_empty_length_window(client):
    post_events(client,
                event(at("10:00"), event_type="working"),
                event(at("10:30"), event_type="product_count", count=2),
                event(at("11:00"), event_type="idle"),
                status=201)
    params = {"from": at("13:00")}
    assert window(client, params) == {"from": at("13:00"), "to": at("11:00"), "seconds": 0}
    assert_figures(workers_by_id(client, params)["W1"],
                   active_seconds=0, idle_seconds=0, absent_seconds=0, utilization_pct=0, units=0,
                   units_per_hour=0, last_state="idle", last_seen=at("11:00"), current_workstation_id="S1")
    assert_figures(stations_by_id(client, params)["S1"],
                   occupancy_seconds=0, utilization_pct=0, units=0, throughput_per_hour=0)
    assert factory(client, params) == {**ZERO_FACTORY, "worker_count": 1, "workstation_count": 1}


@pytest.mark.parametrize("path", METRICS_LIST_PATHS)
def test_empty_database_gives_null_window_and_zeros(client, path):
    body = get_ok(client, path)
    assert body["window"] == {"from": None, "to": None, "seconds": 0}
    if path == "/metrics/factory":
        assert body["factory"] == ZERO_FACTORY
    else:
        assert body[path.rsplit("/", 1)[1]] == []


@pytest.mark.parametrize("params", [
    {"min_confidence": "0.9"},  # every event is below it
    {"min_confidence": "0.9", "from": at("09:00")},  # `to` missing
    {"min_confidence": "0.9", "to": at("12:00")},  # `from` missing
    {"site_id": "elsewhere-but-W1-is-not-there"},
])
def test_scope_without_events_gives_null_window_and_lists_registered_workers_with_zeros(client, params):
    post_events(client, event(at("10:00"), confidence=0.5, site_id="north"),
                event(at("10:30"), event_type="product_count", count=3, confidence=0.5, site_id="north"),
                status=201)
    body = get_ok(client, "/metrics/workers", params)
    assert body["window"] == {"from": None, "to": None, "seconds": 0}
    expected_ids = [] if "site_id" in params else ["W1"]
    assert [w["worker_id"] for w in body["workers"]] == expected_ids
    for item in body["workers"]:
        assert_figures(item, active_seconds=0, idle_seconds=0, absent_seconds=0, utilization_pct=0,
                       units=0, units_per_hour=0, last_state=None, last_seen=None,
                       current_workstation_id=None)
    fac = factory(client, params)
    assert fac == {**ZERO_FACTORY, "worker_count": fac["worker_count"], "workstation_count": fac["workstation_count"]}


def test_empty_scope_with_from_and_to_keeps_the_asked_window(client):
    body = get_ok(client, "/metrics/workstations", {"from": at("10:00"), "to": at("12:00")})
    assert body["window"] == {"from": at("10:00"), "to": at("12:00"), "seconds": 7200}
    assert body["workstations"] == []
    assert factory(client, {"from": at("10:00"), "to": at("12:00")}) == ZERO_FACTORY


def test_window_times_are_output_in_utc_with_z(client):
    post_events(client, event(at("09:00")), status=201)
    body = get_ok(client, "/metrics/factory", {"from": "2026-01-15T12:00:00+02:00",
                                                "to": "2026-01-15T07:00:00-05:00"})
    assert body["window"] == {"from": at("10:00"), "to": at("12:00"), "seconds": 7200}


def test_from_equal_to_to_is_a_valid_empty_window(client):
    post_events(client, event(at("09:00")), status=201)
    body = get_ok(client, "/metrics/workers", {"from": at("10:00"), "to": at("10:00")})
    assert body["window"] == {"from": at("10:00"), "to": at("10:00"), "seconds": 0}
    assert body["workers"][0]["last_state"] == "working"


# --------------------------------------------------------------------------------------------
# §5.2 Ordering: equal timestamps by arrival; out-of-order arrival changes nothing
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("batches, active, idle, last_state", [
    # One batch: index order is arrival order.
    ([["working", "idle"]], 0, 3600, "idle"),
    ([["idle", "working"]], 3600, 0, "working"),
    # Separate requests.
    ([["working"], ["idle"]], 0, 3600, "idle"),
    ([["idle"], ["working"]], 3600, 0, "working"),
])
def test_equal_timestamps_are_ordered_by_arrival(client, batches, active, idle, last_state):
    post_events(client, event(at("11:00"), "W2", "absent", "S9"), status=201)  # sets E = 11:00
    for batch in batches:
        post_events(client, *[event(at("10:00"), event_type=kind) for kind in batch], status=201)
    w1 = workers_by_id(client)["W1"]
    assert_figures(w1, active_seconds=active, idle_seconds=idle, last_state=last_state,
                   last_seen=at("10:00"))


@pytest.mark.parametrize("start, seconds", [("10:00", 3600), ("09:30", 5400)])  # on or within an hour
@pytest.mark.parametrize("second", ["idle", "working"])
def test_equal_timestamps_before_from_carry_in_the_later_arrival(client, second, start, seconds):
    first = "working" if second == "idle" else "idle"
    post_events(client, event(at("09:00"), event_type=first), status=201)
    post_events(client, event(at("09:00"), event_type=second), status=201)
    w1 = workers_by_id(client, {"from": at(start), "to": at("11:00")})["W1"]
    assert_figures(w1, active_seconds=seconds if second == "working" else 0,
                   idle_seconds=seconds if second == "idle" else 0, last_state=second)


def test_equal_timestamps_after_the_last_state_event_decide_last_state(client):
    post_events(client, event(at("10:00"), event_type="working"), status=201)
    post_events(client, event(at("11:00"), event_type="absent"), event(at("11:00"), event_type="idle"),
                status=201)
    w1 = workers_by_id(client)["W1"]
    assert_figures(w1, active_seconds=3600, last_state="idle", last_seen=at("11:00"))


# Two workers, two stations, a station change, product counts at S and E. Hand-computed:
#   W1: working S1 08:00-09:30 (5400), idle S1 09:30-10:00 (1800), working S1 10:00-11:00 (3600),
#       absent 11:00-11:30 (1800), working S2 11:30-12:00 (1800); product_count 3 at S1 10:30.
#   W2: idle S1 08:30-09:00 (1800), working S1 09:00-10:45 (6300), absent 10:45-12:00 (4500);
#       product_count 2 at S1 09:45, product_count 1 at S2 12:00 (= E).
#   Window 08:00-12:00 = 14400 s. S1 occupancy = union(08:00-11:00, 08:30-10:45) = 10800.
MIXED_TIMELINE = [
    event(at("08:00"), "W1", "working", "S1"),
    event(at("08:30"), "W2", "idle", "S1"),
    event(at("09:00"), "W2", "working", "S1"),
    event(at("09:30"), "W1", "idle", "S1"),
    event(at("09:45"), "W2", "product_count", "S1", count=2),
    event(at("10:00"), "W1", "working", "S1"),
    event(at("10:30"), "W1", "product_count", "S1", count=3),
    event(at("10:45"), "W2", "absent", "S1"),
    event(at("11:00"), "W1", "absent", "S1"),
    event(at("11:30"), "W1", "working", "S2"),
    event(at("12:00"), "W2", "product_count", "S2", count=1),
]
MIXED_WORKERS = {
    "W1": {"worker_id": "W1", "name": "W1", "active_seconds": 10800, "idle_seconds": 1800,
           "absent_seconds": 1800, "utilization_pct": 85.71, "units": 3, "units_per_hour": 1.0,
           "last_state": "working", "last_seen": at("11:30"), "current_workstation_id": "S2",
           "unknown_seconds": 0, "state_at_end": "working"},
    "W2": {"worker_id": "W2", "name": "W2", "active_seconds": 6300, "idle_seconds": 1800,
           "absent_seconds": 4500, "utilization_pct": 77.78, "units": 3, "units_per_hour": 1.71,
           "last_state": "absent", "last_seen": at("10:45"), "current_workstation_id": "S1",
           "unknown_seconds": 0, "state_at_end": "absent"},
}
MIXED_STATIONS = {
    "S1": {"workstation_id": "S1", "name": "S1", "occupancy_seconds": 10800, "utilization_pct": 75.0,
           "units": 5, "throughput_per_hour": 1.67, **NO_TARGET},
    "S2": {"workstation_id": "S2", "name": "S2", "occupancy_seconds": 1800, "utilization_pct": 12.5,
           "units": 1, "throughput_per_hour": 2.0, **NO_TARGET},
}
MIXED_FACTORY = {
    "total_active_seconds": 17100, "total_idle_seconds": 3600, "total_unknown_seconds": 0, "total_units": 6,
    "average_production_rate": 1.26, "worker_count": 2, "workstation_count": 2, "event_count": 11,
}
MIXED_AVERAGE_UTILIZATION = (100 * 10800 / 12600 + 100 * 6300 / 8100) / 2  # 81.746...


def _post_in_order(client, events):
    post_events(client, *events, status=201)


def _post_reversed(client, events):
    post_events(client, *reversed(events), status=201)


def _post_one_by_one_reversed(client, events):
    for item in reversed(events):
        client.post("/events", json=item)


def _post_shuffled(client, events):
    shuffled = list(events)
    random.Random(20260115).shuffle(shuffled)
    post_events(client, *shuffled[:5], status=201)
    post_events(client, *shuffled[5:], status=201)


@pytest.mark.parametrize("post", [_post_in_order, _post_reversed, _post_one_by_one_reversed, _post_shuffled])
def test_out_of_order_arrival_gives_the_same_figures(client, post):
    post(client, MIXED_TIMELINE)
    body = get_ok(client, "/metrics/workers")
    assert body["window"] == {"from": at("08:00"), "to": at("12:00"), "seconds": 14400}
    assert {w["worker_id"]: w for w in body["workers"]} == MIXED_WORKERS
    assert stations_by_id(client) == MIXED_STATIONS
    fac = factory(client)
    assert {k: fac[k] for k in MIXED_FACTORY} == MIXED_FACTORY
    assert fac["average_utilization_pct"] == pytest.approx(MIXED_AVERAGE_UTILIZATION, abs=0.01)


# --------------------------------------------------------------------------------------------
# §5 Workstations: occupancy is a union
# --------------------------------------------------------------------------------------------

def test_two_workers_at_one_station_count_once(client):
    post_events(client,
                event(at("10:00"), "W1", "working", "S1"),
                event(at("10:00"), "W2", "working", "S1"),
                event(at("12:00"), "W1", "absent", "S1"),
                event(at("12:00"), "W2", "absent", "S1"),
                status=201)
    s1 = stations_by_id(client)["S1"]
    assert_figures(s1, occupancy_seconds=7200, utilization_pct=100)
    assert factory(client)["total_active_seconds"] == 14400


def test_station_occupancy_is_the_union_of_working_and_idle_spells(client):
    # S1: W1 working 10:00-11:00, W2 idle 10:30-11:30 -> union 10:00-11:30 = 5400 of 7200.
    post_events(client,
                event(at("10:00"), "W1", "working", "S1"),
                event(at("10:30"), "W2", "idle", "S1"),
                event(at("11:00"), "W1", "absent", "S1"),
                event(at("11:30"), "W2", "absent", "S1"),
                event(at("10:00"), "W3", "working", "S2"),
                event(at("12:00"), "W3", "absent", "S2"),
                event(at("11:15"), "W2", "product_count", "S1", count=3),
                status=201)
    stations = stations_by_id(client)
    assert_figures(stations["S1"], occupancy_seconds=5400, utilization_pct=75.0, units=3,
                   throughput_per_hour=2.0)
    assert_figures(stations["S2"], occupancy_seconds=7200, utilization_pct=100, units=0,
                   throughput_per_hour=0)
    for item in stations.values():
        assert item["utilization_pct"] <= 100


def test_absent_time_does_not_occupy_a_station(client):
    post_events(client,
                event(at("10:00"), "W1", "absent", "S1"),
                event(at("11:00"), "W1", "working", "S1"),
                event(at("12:00"), "W1", "absent", "S1"),
                status=201)
    assert_figures(stations_by_id(client)["S1"], occupancy_seconds=3600, utilization_pct=50.0)


# --------------------------------------------------------------------------------------------
# §5.5 Units and product counts
# --------------------------------------------------------------------------------------------

def test_product_counts_at_exactly_start_and_end_are_counted(client):
    post_events(client,
                event(at("10:00"), event_type="working"),
                event(at("09:59:59"), event_type="product_count", count=100),
                event(at("10:00"), event_type="product_count", count=2),
                event(at("11:00"), event_type="product_count", count=3),
                event(at("11:00:01"), event_type="product_count", count=1000),
                status=201)
    params = {"from": at("10:00"), "to": at("11:00")}
    assert_figures(workers_by_id(client, params)["W1"], units=5, units_per_hour=5.0)
    assert_figures(stations_by_id(client, params)["S1"], units=5)
    fac = factory(client, params)
    assert fac["total_units"] == 5
    assert fac["event_count"] == 3


def test_product_count_never_ends_an_interval(client):
    post_events(client,
                event(at("10:00"), event_type="working"),
                event(at("10:30"), event_type="product_count", count=1),
                event(at("11:00"), event_type="idle"),
                event(at("11:30"), event_type="product_count", count=1, workstation_id="S2"),
                event(at("12:00"), event_type="absent"),
                status=201)
    assert_figures(workers_by_id(client)["W1"], active_seconds=3600, idle_seconds=3600, absent_seconds=0,
                   units=2, last_state="absent", last_seen=at("12:00"), current_workstation_id="S1")
    stations = stations_by_id(client)
    assert_figures(stations["S1"], occupancy_seconds=7200, units=1)
    assert_figures(stations["S2"], occupancy_seconds=0, units=1, throughput_per_hour=0)


def test_product_count_after_last_state_extends_the_window_but_is_not_a_state(client):
    post_events(client,
                event(at("10:00"), event_type="working"),
                event(at("12:00"), event_type="product_count", count=4, workstation_id="S7"),
                status=201)
    assert_figures(workers_by_id(client)["W1"], active_seconds=7200, units=4, units_per_hour=2.0,
                   last_state="working", last_seen=at("10:00"), current_workstation_id="S1")


def test_worker_with_only_product_counts_has_no_last_state(client):
    post_events(client, event(at("10:00"), event_type="product_count", count=2), status=201)
    assert_figures(workers_by_id(client)["W1"], units=2, units_per_hour=0, utilization_pct=0,
                   last_state=None, last_seen=None, current_workstation_id=None)


# --------------------------------------------------------------------------------------------
# §5.4 The optional cap
# --------------------------------------------------------------------------------------------

CAP_TIMELINE = [
    event(at("08:00"), event_type="working"),
    event(at("12:00"), event_type="idle"),
    event(at("12:30"), event_type="absent"),
]


@pytest.mark.parametrize("setting, query, active, idle, utilization", [
    (None, None, 14400, 1800, 88.89),
    (None, "3600", 3600, 1800, 66.67),
    (7200, None, 7200, 1800, 80.0),
    (7200, "600", 600, 600, 50.0),  # the query parameter overrides the setting
    (7200, "86400", 14400, 1800, 88.89),
    (None, "90.5", 90.5, 90.5, 50.0),  # seconds may carry fractions
])
def test_max_gap_caps_intervals_and_the_rest_is_unknown(config, clock, setting, query, active, idle,
                                                        utilization):
    from backend.app import create_app

    config["STATE_MAX_GAP_SECONDS"] = setting
    client = create_app(config).test_client()
    post_events(client, *CAP_TIMELINE, status=201)
    params = {"max_gap_seconds": query} if query else {}
    body = get_ok(client, "/metrics/workers", params)
    assert body["window"]["seconds"] == 16200  # the cap never changes the window
    assert_figures(body["workers"][0], active_seconds=active, idle_seconds=idle, absent_seconds=0,
                   utilization_pct=utilization)
    assert stations_by_id(client, params)["S1"]["occupancy_seconds"] == active + idle


def test_max_gap_applies_before_clipping(client):
    # working 08:00 .. absent 12:00, cap 3 h: the interval is 08:00-11:00, cut to 10:00-11:00.
    post_events(client, event(at("08:00"), event_type="working"), event(at("12:00"), event_type="absent"),
                status=201)
    params = {"from": at("10:00"), "to": at("12:00"), "max_gap_seconds": "10800"}
    assert_figures(workers_by_id(client, params)["W1"], active_seconds=3600, absent_seconds=0)


def test_max_gap_caps_the_last_interval_held_until_the_end(client):
    post_events(client, event(at("10:00"), "W1", "working"), event(at("14:00"), "W2", "idle", "S2"),
                status=201)
    workers = workers_by_id(client, {"max_gap_seconds": "3600"})
    assert workers["W1"]["active_seconds"] == 3600
    assert workers["W1"]["last_state"] == "working"


# --------------------------------------------------------------------------------------------
# Scope: min_confidence, site_id
# --------------------------------------------------------------------------------------------

CONFIDENCE_TIMELINE = [
    event(at("08:00"), event_type="absent", confidence=0.1),
    event(at("09:00"), event_type="working", confidence=0.9),
    event(at("10:00"), event_type="idle", confidence=0.3),
    event(at("10:30"), event_type="working"),  # no confidence: always counts
    event(at("10:45"), event_type="product_count", count=2, confidence=0.4),
    event(at("10:50"), event_type="product_count", count=3, confidence=0.5),  # equal: counts
    event(at("11:00"), event_type="absent", confidence=0.5),
    event(at("12:00"), event_type="idle", confidence=0.2),
]


@pytest.mark.parametrize("min_confidence, win, figures, event_count", [
    (None, (at("08:00"), at("12:00"), 14400),
     dict(active_seconds=5400, idle_seconds=1800, absent_seconds=7200, utilization_pct=75.0, units=5,
          units_per_hour=3.33, last_state="idle", last_seen=at("12:00")), 8),
    ("0", (at("08:00"), at("12:00"), 14400),
     dict(active_seconds=5400, idle_seconds=1800, absent_seconds=7200, utilization_pct=75.0, units=5,
          units_per_hour=3.33, last_state="idle", last_seen=at("12:00")), 8),
    # Low-confidence events vanish, also from the window bounds (08:00 and 12:00 are gone).
    ("0.5", (at("09:00"), at("11:00"), 7200),
     dict(active_seconds=7200, idle_seconds=0, absent_seconds=0, utilization_pct=100, units=3,
          units_per_hour=1.5, last_state="absent", last_seen=at("11:00")), 4),
    ("1", (at("10:30"), at("10:30"), 0),
     dict(active_seconds=0, idle_seconds=0, absent_seconds=0, utilization_pct=0, units=0,
          units_per_hour=0, last_state="working", last_seen=at("10:30")), 1),
])
def test_min_confidence_ignores_low_confidence_events_entirely(client, min_confidence, win, figures,
                                                               event_count):
    post_events(client, *CONFIDENCE_TIMELINE, status=201)
    params = {"min_confidence": min_confidence} if min_confidence else {}
    body = get_ok(client, "/metrics/workers", params)
    assert body["window"] == {"from": win[0], "to": win[1], "seconds": win[2]}
    assert_figures(body["workers"][0], **figures)
    assert factory(client, params)["event_count"] == event_count


def test_low_confidence_event_before_from_is_not_carried_in(client):
    post_events(client,
                event(at("08:00"), event_type="working", confidence=0.9),
                event(at("09:00"), event_type="idle", confidence=0.1),
                event(at("11:00"), event_type="absent", confidence=0.9),
                status=201)
    params = {"from": at("10:00"), "min_confidence": "0.5"}
    assert_figures(workers_by_id(client, params)["W1"], active_seconds=3600, idle_seconds=0)
    assert_figures(workers_by_id(client, {"from": at("10:00")})["W1"], active_seconds=0, idle_seconds=3600)


SITE_TIMELINE = [
    event(at("10:00"), "W1", "working", "S1", site_id="A"),
    event(at("10:30"), "W1", "idle", "S2", site_id="B"),
    event(at("11:00"), "W1", "absent", "S1", site_id="A"),
    event(at("10:00"), "W2", "working", "S3", site_id="B"),
    event(at("12:00"), "W2", "absent", "S3", site_id="B"),
    event(at("09:00"), "W3", "working", "S4"),  # no site
]


@pytest.mark.parametrize("site, worker_ids, station_ids, win", [
    ("A", ["W1"], ["S1"], (at("10:00"), at("11:00"), 3600)),
    ("B", ["W1", "W2"], ["S2", "S3"], (at("10:00"), at("12:00"), 7200)),
    ("C", [], [], (None, None, 0)),
    (None, ["W1", "W2", "W3"], ["S1", "S2", "S3", "S4"], (at("09:00"), at("12:00"), 10800)),
])
def test_site_id_lists_only_what_that_site_saw(client, site, worker_ids, station_ids, win):
    post_events(client, *SITE_TIMELINE, status=201)
    params = {"site_id": site} if site else {}
    body = get_ok(client, "/metrics/workers", params)
    assert body["window"] == {"from": win[0], "to": win[1], "seconds": win[2]}
    assert sorted(w["worker_id"] for w in body["workers"]) == worker_ids
    assert sorted(stations_by_id(client, params)) == station_ids
    fac = factory(client, params)
    assert (fac["worker_count"], fac["workstation_count"]) == (len(worker_ids), len(station_ids))


def test_site_id_counts_only_that_sites_events(client):
    post_events(client, *SITE_TIMELINE, status=201)
    # Site A: W1 working at S1 10:00-11:00; the site-B idle event at 10:30 does not count.
    assert_figures(workers_by_id(client, {"site_id": "A"})["W1"], active_seconds=3600, idle_seconds=0,
                   last_state="absent", current_workstation_id="S1")
    # Site B: W1 idle at S2 from 10:30 until E = 12:00.
    assert_figures(workers_by_id(client, {"site_id": "B"})["W1"], active_seconds=0, idle_seconds=5400,
                   last_state="idle", current_workstation_id="S2")
    assert factory(client, {"site_id": "B"})["event_count"] == 3


# --------------------------------------------------------------------------------------------
# Single-item endpoints
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {},
    {"from": at("09:00"), "to": at("10:30")},
    {"from": at("11:45")},
    {"to": at("09:15")},
    {"min_confidence": "0.5"},
    {"max_gap_seconds": "1200"},
    {"site_id": "B"},
])
def test_single_item_endpoints_equal_the_list_item(client, params):
    post_events(client, *[dict(e, confidence=0.2) if i % 3 == 0 else e for i, e in enumerate(MIXED_TIMELINE)],
                *SITE_TIMELINE, status=201)
    workers = get_ok(client, "/metrics/workers", params)
    for item in workers["workers"]:
        single = get_ok(client, f"/metrics/workers/{item['worker_id']}", params)
        assert single == {"window": workers["window"], "worker": item}
    stations = get_ok(client, "/metrics/workstations", params)
    for item in stations["workstations"]:
        single = get_ok(client, f"/metrics/workstations/{item['workstation_id']}", params)
        assert single == {"window": stations["window"], "workstation": item}
    assert workers["workers"] and stations["workstations"]


def test_single_worker_window_is_worked_out_over_the_whole_scope(client):
    post_events(client,
                event(at("10:00"), "W1", "working"),
                event(at("08:00"), "W2", "working", "S2"),
                event(at("12:00"), "W2", "idle", "S2"),
                status=201)
    body = get_ok(client, "/metrics/workers/W1")
    assert body["window"] == {"from": at("08:00"), "to": at("12:00"), "seconds": 14400}
    assert body["worker"]["active_seconds"] == 7200
    body = get_ok(client, "/metrics/workstations/S1")
    assert body["window"]["seconds"] == 14400
    assert_figures(body["workstation"], occupancy_seconds=7200, utilization_pct=50.0)


@pytest.mark.parametrize("worker_id", [
    "7", "W 1", "W%1", "Ünïcødé", "w1",
    "line-1/W3",
])
def test_single_item_endpoint_reaches_any_valid_id(client, worker_id):
    from urllib.parse import quote

    post_events(client, event(at("10:00"), worker_id, workstation_id=worker_id), status=201)
    body = get_ok(client, "/metrics/workers/" + quote(worker_id, safe=""))
    assert body["worker"]["worker_id"] == worker_id
    body = get_ok(client, "/metrics/workstations/" + quote(worker_id, safe=""))
    assert body["workstation"]["workstation_id"] == worker_id


@pytest.mark.parametrize("path, params", [
    ("/metrics/workers/NOPE", {}),
    ("/metrics/workstations/NOPE", {}),
    ("/metrics/workers/W1x", {}),
    ("/metrics/workers/w1", {}),  # ids are case-sensitive
    ("/metrics/workers/W1", {"site_id": "elsewhere"}),  # not in that site's list
    ("/metrics/workstations/S1", {"site_id": "elsewhere"}),
])
def test_unknown_id_on_single_item_endpoint_is_404(client, path, params):
    post_events(client, event(at("10:00"), "W1"), event(at("10:00"), "Wx", site_id="elsewhere",
                                                          workstation_id="Sx"), status=201)
    assert_problem(client.get(path, query_string=params), 404)


# --------------------------------------------------------------------------------------------
# Figures: names, types, rounding, zero denominators, factory averages
# --------------------------------------------------------------------------------------------

def test_every_figure_is_present_with_the_right_type(client):
    post_events(client, *MIXED_TIMELINE, event(at("10:00"), "W9", "product_count", "S9", count=1),
                status=201)
    workers = get_ok(client, "/metrics/workers")
    win = workers["window"]
    assert set(win) == {"from", "to", "seconds"}
    assert win["from"].endswith("Z") and win["to"].endswith("Z") and is_number(win["seconds"])
    for item in workers["workers"]:
        assert WORKER_FIGURES <= set(item)
        assert isinstance(item["worker_id"], str) and isinstance(item["name"], str)
        for name in ("active_seconds", "idle_seconds", "absent_seconds", "utilization_pct", "units_per_hour"):
            assert is_number(item[name]), name
        assert isinstance(item["units"], int) and not isinstance(item["units"], bool)
        assert item["last_state"] in ("working", "idle", "absent", None)
        assert item["last_seen"] is None or (isinstance(item["last_seen"], str) and item["last_seen"].endswith("Z"))
        assert item["current_workstation_id"] is None or isinstance(item["current_workstation_id"], str)
    stations = get_ok(client, "/metrics/workstations")
    assert stations["window"] == win
    for item in stations["workstations"]:
        assert STATION_FIGURES <= set(item)
        for name in ("occupancy_seconds", "utilization_pct", "throughput_per_hour", "planned_seconds"):
            assert is_number(item[name]), name
        assert isinstance(item["units"], int) and not isinstance(item["units"], bool)
    body = get_ok(client, "/metrics/factory")
    assert body["window"] == win
    assert FACTORY_FIGURES <= set(body["factory"])
    for name in FACTORY_FIGURES - FACTORY_TARGET_FIGURES:
        assert is_number(body["factory"][name]), name
    for name in ("total_units", "worker_count", "workstation_count", "event_count"):
        assert isinstance(body["factory"][name], int), name


def test_percentages_and_rates_are_rounded_to_two_decimals(client):
    # active 420 s, idle 840 s: 33.333..%; 1 unit in 7 min: 8.5714/h; S1 1 unit in 0.35 h: 2.857/h.
    post_events(client,
                event(at("10:00"), event_type="working"),
                event(at("10:05"), event_type="product_count", count=1),
                event(at("10:07"), event_type="idle"),
                event(at("10:21"), event_type="absent"),
                status=201)
    assert_figures(workers_by_id(client)["W1"], active_seconds=420, idle_seconds=840,
                   utilization_pct=33.33, units_per_hour=8.57)
    assert_figures(stations_by_id(client)["S1"], occupancy_seconds=1260, utilization_pct=100,
                   throughput_per_hour=2.86)
    fac = factory(client)
    assert fac["average_production_rate"] == 8.57
    assert fac["average_utilization_pct"] == pytest.approx(33.33, abs=0.01)
    assert fac["average_utilization_pct"] == round(fac["average_utilization_pct"], 2)


def test_ratios_with_zero_denominators_are_zero(client):
    post_events(client,
                event(at("10:00"), event_type="absent"),
                event(at("10:30"), event_type="product_count", count=2),
                event(at("11:00"), event_type="absent"),
                status=201)
    assert_figures(workers_by_id(client)["W1"], active_seconds=0, idle_seconds=0, absent_seconds=3600,
                   utilization_pct=0, units=2, units_per_hour=0)
    assert_figures(stations_by_id(client)["S1"], occupancy_seconds=0, utilization_pct=0, units=2,
                   throughput_per_hour=0)
    assert_figures(factory(client), total_units=2, average_production_rate=0, average_utilization_pct=0)


def test_station_utilization_is_zero_when_window_has_no_length(client):
    post_events(client, event(at("10:00"), event_type="working"), status=201)
    assert window(client) == {"from": at("10:00"), "to": at("10:00"), "seconds": 0}
    assert_figures(stations_by_id(client)["S1"], occupancy_seconds=0, utilization_pct=0)


@pytest.mark.parametrize("timelines, expected_average", [
    # W1 100 %, W2 0 %; W3 only absent and W4 only product counts are left out of the mean.
    ([("W1", "working"), ("W2", "idle"), ("W3", "absent")], 50.0),
    ([("W1", "working"), ("W3", "absent")], 100.0),
    ([("W2", "idle"), ("W3", "absent")], 0),
])
def test_average_utilization_is_the_mean_over_workers_with_active_or_idle_time(client, timelines,
                                                                               expected_average):
    for worker_id, state in timelines:
        post_events(client, event(at("10:00"), worker_id, state, "S" + worker_id[1:]), status=201)
    post_events(client, event(at("11:00"), "W4", "product_count", "S1", count=1), status=201)
    fac = factory(client)
    assert fac["average_utilization_pct"] == pytest.approx(expected_average, abs=0.01)
    assert fac["worker_count"] == len(timelines) + 1
    assert fac["total_units"] == 1
    assert fac["event_count"] == len(timelines) + 1


def test_average_utilization_is_not_weighted_by_time(client):
    # W1: 1 h working, 2 h idle -> 33.33 %. W2: 30 min working -> 100 %. Mean 66.67, not 42.86.
    post_events(client,
                event(at("09:00"), "W1", "working"),
                event(at("10:00"), "W1", "idle"),
                event(at("12:00"), "W1", "absent"),
                event(at("11:00"), "W2", "working", "S2"),
                event(at("11:30"), "W2", "absent", "S2"),
                status=201)
    fac = factory(client)
    assert fac["average_utilization_pct"] == pytest.approx((100 / 3 + 100) / 2, abs=0.01)
    assert_figures(fac, total_active_seconds=5400, total_idle_seconds=7200, total_units=0,
                   average_production_rate=0, worker_count=2, workstation_count=2, event_count=5)


# --------------------------------------------------------------------------------------------
# Metrics query parameters: 422 for anything that does not parse
# --------------------------------------------------------------------------------------------

BAD_METRICS_QUERIES = [
    {"from": "yesterday"},
    {"to": "2026-13-01T00:00:00Z"},
    {"from": at("12:00"), "to": at("11:00")},
    {"min_confidence": "abc"},
    {"min_confidence": "1.5"},
    {"min_confidence": "-0.1"},
    {"min_confidence": "nan"},
    {"max_gap_seconds": "abc"},
    {"max_gap_seconds": "-5"},
    {"max_gap_seconds": "inf"},
]


@pytest.mark.parametrize("path", METRICS_LIST_PATHS + ["/metrics/workers/W1", "/metrics/workstations/S1"])
@pytest.mark.parametrize("params", BAD_METRICS_QUERIES)
def test_metrics_query_that_does_not_parse_is_422(client, path, params):
    post_events(client, event(at("10:00")), status=201)
    assert_problem(client.get(path, query_string=params), 422)


@pytest.mark.parametrize("params", [
    {"from": "9999-12-31T23:59:59-05:00"},
    {"from": "0001-01-01T00:00:00+01:00", "to": at("12:00")},
    {"to": "0001-01-01T00:00:00+01:00"},
])
def test_extreme_query_instants_are_never_a_500(client, params):
    post_events(client, event(at("10:00")), status=201)
    response = client.get("/metrics/factory", query_string=params)
    assert response.status_code in (200, 422), response.get_data(as_text=True)
