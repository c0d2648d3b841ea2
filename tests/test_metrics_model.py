"""The time model (SPEC §5) on hand-built timelines, calling the pure functions directly."""

import pytest

from backend.metrics import (
    Window,
    build_report,
    resolve_window,
    union_length_ms,
    worker_timeline,
)

MIN = 60_000
BASE = 1_768_464_000_000  # 2026-01-15T08:00:00Z


def at(minutes):
    """An instant `minutes` after 08:00."""
    return BASE + minutes * MIN


def spans(timeline):
    """A timeline's intervals as (start minute, end minute, state, station)."""
    return [((i.start_ms - BASE) / MIN, (i.end_ms - BASE) / MIN, i.state, i.workstation_id)
            for i in timeline.intervals]


def report(window, events_by_worker, units=(), stations=("S1", "S2"), max_gap_ms=None, event_count=0):
    workers = [(worker_id, worker_id) for worker_id in sorted(events_by_worker)]
    return build_report(window, workers, [(s, s) for s in stations], events_by_worker,
                        list(units), event_count, max_gap_ms)


# --- the window -------------------------------------------------------------------------------

@pytest.mark.parametrize("from_ms, to_ms, earliest, latest, now, expected", [
    (None, None, at(0), at(60), at(600), Window(at(0), at(60))),
    (at(10), None, at(0), at(60), at(600), Window(at(10), at(60))),
    (None, at(30), at(0), at(60), at(600), Window(at(0), at(30))),
    (at(10), at(30), at(0), at(60), at(600), Window(at(10), at(30))),
    # `to` in the future is cut to now
    (at(10), at(900), at(0), at(60), at(600), Window(at(10), at(600))),
    # with no event in scope, the window is empty unless both ends are given
    (None, None, None, None, at(600), None),
    (at(10), None, None, None, at(600), None),
    (None, at(30), None, None, at(600), None),
    (at(10), at(30), None, None, at(600), Window(at(10), at(30))),
])
def test_window_follows_the_rules_of_spec(from_ms, to_ms, earliest, latest, now, expected):
    assert resolve_window(from_ms, to_ms, earliest, latest, now) == expected


def test_window_starting_after_now_has_zero_length():
    window = resolve_window(at(700), None, at(0), at(800), at(600))
    assert window.length_ms == 0


# --- state intervals ----------------------------------------------------------------------------

def test_each_state_holds_until_the_next_and_the_last_until_the_window_end():
    events = [(at(0), "working", "S1"), (at(30), "idle", "S1"), (at(40), "working", "S1")]
    timeline = worker_timeline(events, Window(at(0), at(60)))
    assert spans(timeline) == [(0, 30, "working", "S1"), (30, 40, "idle", "S1"), (40, 60, "working", "S1")]
    assert timeline.last_event == (at(40), "working", "S1")


def test_state_before_window_is_carried_in():
    events = [(at(-90), "working", "S1"), (at(20), "idle", "S2")]
    timeline = worker_timeline(events, Window(at(0), at(60)))
    assert spans(timeline) == [(0, 20, "working", "S1"), (20, 60, "idle", "S2")]


def test_state_after_window_end_is_cut_off():
    events = [(at(0), "working", "S1"), (at(90), "idle", "S1")]
    timeline = worker_timeline(events, Window(at(0), at(60)))
    assert spans(timeline) == [(0, 60, "working", "S1")]
    assert timeline.last_event == (at(0), "working", "S1")


def test_equal_timestamps_follow_arrival_order():
    # Same instant: the later arrival wins; the earlier one holds for no time at all.
    events = [(at(0), "idle", "S1"), (at(0), "working", "S1")]
    timeline = worker_timeline(events, Window(at(0), at(60)))
    assert spans(timeline) == [(0, 60, "working", "S1")]
    assert timeline.last_event[1] == "working"


def test_gap_cap_leaves_the_rest_of_a_long_interval_unknown():
    events = [(at(0), "working", "S1"), (at(100), "idle", "S1")]
    timeline = worker_timeline(events, Window(at(0), at(120)), max_gap_ms=30 * MIN)
    assert spans(timeline) == [(0, 30, "working", "S1"), (30, 100, "unknown", "S1"), (100, 120, "idle", "S1")]


def test_gap_cap_applies_before_clipping_to_the_window():
    # Working since 07:00 with a 45-minute horizon ends at 07:45, before the window opens.
    events = [(at(-60), "working", "S1")]
    assert spans(worker_timeline(events, Window(at(0), at(60)), max_gap_ms=45 * MIN)) == [(0, 60, "unknown", "S1")]
    assert spans(worker_timeline(events, Window(at(0), at(60)), max_gap_ms=90 * MIN)) == [
        (0, 30, "working", "S1"), (30, 60, "unknown", "S1")]


@pytest.mark.parametrize("last_minute, horizon, expected", [
    (50, 15, "working"),  # confirmed 10 minutes before the end: still in force
    (45, 15, "working"),  # the horizon runs out exactly at the end
    (44, 15, "unknown"),  # ran out a minute before the end
    (0, None, "working"),  # no horizon: the last state holds
])
def test_state_at_end_is_unknown_once_the_horizon_ran_out(last_minute, horizon, expected):
    events = {"W1": [(at(0), "working", "S1"), (at(last_minute), "working", "S1")]}
    item = report(Window(at(0), at(60)), events, max_gap_ms=horizon and horizon * MIN)["workers"][0]
    assert item["state_at_end"] == expected
    assert item["last_state"] == "working"


def test_unknown_time_counts_in_no_state_and_no_occupancy():
    # Working 0-15, silent 15-40, idle 40-55, silent 55-60 (a 15-minute horizon).
    events = {"W1": [(at(0), "working", "S1"), (at(40), "idle", "S1")]}
    result = report(Window(at(0), at(60)), events, max_gap_ms=15 * MIN)
    worker, station = result["workers"][0], result["workstations"][0]
    assert (worker["active_seconds"], worker["idle_seconds"], worker["unknown_seconds"]) == (900, 900, 1800)
    assert worker["utilization_pct"] == 50
    assert worker["state_at_end"] == "unknown"
    assert station["occupancy_seconds"] == 1800
    assert result["factory"]["total_unknown_seconds"] == 1800


def test_a_worker_without_state_events_has_no_state_at_end():
    result = report(Window(at(0), at(60)), {"W1": []}, max_gap_ms=15 * MIN)
    assert result["workers"][0]["state_at_end"] is None


def test_no_events_give_no_intervals():
    timeline = worker_timeline([], Window(at(0), at(60)))
    assert timeline.intervals == [] and timeline.last_event is None


def test_zero_length_window_gives_no_time():
    timeline = worker_timeline([(at(0), "working", "S1")], Window(at(10), at(10)))
    assert timeline.intervals == []


@pytest.mark.parametrize("raw, expected", [
    ([], 0),
    ([(0, 10)], 10),
    ([(0, 10), (5, 15)], 15),
    ([(0, 10), (10, 20)], 20),
    ([(20, 30), (0, 10)], 20),
    ([(0, 30), (5, 10), (12, 14)], 30),
    ([(0, 10), (0, 10)], 10),
])
def test_union_counts_overlaps_once(raw, expected):
    assert union_length_ms(raw) == expected


# --- figures ------------------------------------------------------------------------------------

def test_worker_figures_from_a_small_timeline():
    events = {"W1": [(at(0), "working", "S1"), (at(45), "idle", "S1"), (at(60), "absent", "S1"),
                     (at(90), "working", "S1")]}
    result = report(Window(at(0), at(120)), events, units=[("W1", "S1", 9)])
    worker = result["workers"][0]
    assert worker["active_seconds"] == 75 * 60
    assert worker["idle_seconds"] == 15 * 60
    assert worker["absent_seconds"] == 30 * 60
    assert worker["utilization_pct"] == 83.33
    assert worker["units"] == 9
    assert worker["units_per_hour"] == 7.2
    assert worker["last_state"] == "working"
    assert worker["current_workstation_id"] == "S1"


def test_two_workers_at_one_station_never_exceed_full_occupancy():
    events = {
        "W1": [(at(0), "working", "S1")],
        "W2": [(at(10), "idle", "S1"), (at(50), "working", "S2")],
    }
    result = report(Window(at(0), at(60)), events, units=[("W1", "S1", 4), ("W2", "S1", 2)])
    s1, s2 = result["workstations"]
    assert s1["occupancy_seconds"] == 3600 and s1["utilization_pct"] == 100
    assert s1["units"] == 6 and s1["throughput_per_hour"] == 6
    assert s2["occupancy_seconds"] == 600 and s2["utilization_pct"] == 16.67


def test_absent_time_does_not_occupy_a_station():
    events = {"W1": [(at(0), "absent", "S1"), (at(30), "working", "S1")]}
    station = report(Window(at(0), at(60)), events)["workstations"][0]
    assert station["occupancy_seconds"] == 1800


def test_factory_figures_sum_workers_and_average_utilization_over_present_workers():
    events = {
        "W1": [(at(0), "working", "S1"), (at(30), "idle", "S1")],  # 50 %
        "W2": [(at(0), "working", "S2")],  # 100 %
        "W3": [(at(0), "absent", "S2")],  # never present: left out of the mean
    }
    result = report(Window(at(0), at(60)), events, units=[("W1", "S1", 3), ("W2", "S2", 5)], event_count=7)
    factory = result["factory"]
    assert factory["total_active_seconds"] == 90 * 60
    assert factory["total_idle_seconds"] == 30 * 60
    assert factory["total_units"] == 8
    assert factory["average_production_rate"] == round(8 / 1.5, 2)
    assert factory["average_utilization_pct"] == 75
    assert factory["worker_count"] == 3 and factory["workstation_count"] == 2
    assert factory["event_count"] == 7


def test_zero_denominators_give_zero():
    result = report(Window(at(0), at(0)), {"W1": [(at(0), "absent", "S1")]}, units=[("W1", "S1", 2)])
    worker, station = result["workers"][0], result["workstations"][0]
    assert worker["utilization_pct"] == 0 and worker["units_per_hour"] == 0
    assert station["utilization_pct"] == 0 and station["throughput_per_hour"] == 0
    assert result["factory"]["average_production_rate"] == 0
    assert result["factory"]["average_utilization_pct"] == 0


def test_empty_window_reports_zeros_and_null_bounds():
    result = report(None, {"W1": [(at(0), "working", "S1")]}, event_count=5)
    assert result["window"] == {"from": None, "to": None, "seconds": 0}
    worker = result["workers"][0]
    assert worker["active_seconds"] == 0 and worker["last_state"] is None
    assert result["factory"]["event_count"] == 0


def test_window_is_reported_in_iso_utc():
    result = report(Window(at(0), at(90) + 500), {})
    assert result["window"] == {"from": "2026-01-15T08:00:00Z", "to": "2026-01-15T09:30:00.500Z",
                                "seconds": 5400.5}

