"""The time model (SPEC §5) on hand-built timelines, calling the pure functions directly."""

import pytest

from backend.calendars import Calendar, Shift, Site
from backend.metrics import (
    Floor,
    Window,
    build_report,
    clip_to_plan,
    plan_floor,
    planned_units,
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


def test_heartbeats_make_one_interval_whose_horizon_runs_from_the_last_of_them():
    # Working at S1 confirmed every 10 minutes, then 20 minutes without a word (the horizon is 15);
    # the same state at another station, or another state, starts a new interval.
    events = [(at(0), "working", "S1"), (at(10), "working", "S1"), (at(20), "working", "S1"),
              (at(40), "working", "S1"), (at(45), "working", "S2"), (at(50), "idle", "S2"), (at(55), "idle", "S2")]
    timeline = worker_timeline(events, Window(at(5), at(60)), max_gap_ms=15 * MIN)
    assert spans(timeline) == [(5, 35, "working", "S1"), (35, 40, "unknown", "S1"), (40, 45, "working", "S1"),
                               (45, 50, "working", "S2"), (50, 60, "idle", "S2")]
    assert timeline.last_event == (at(55), "idle", "S2")
    assert spans(worker_timeline(events[:4], Window(at(0), at(60)))) == [(0, 60, "working", "S1")]  # no horizon


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



# --- planned time, targets (SPEC §5, "Sites, shifts and planned time") --------------------------

def floor(plans, targets=None, planned_only=True):
    """A `Floor` from minute ranges per station: `{"S1": [(0, 30), (45, 120)]}`."""
    return Floor({station: tuple((at(s), at(e)) for s, e in ranges) for station, ranges in plans.items()},
                 targets=targets or {}, planned_only=planned_only)


def test_clip_to_plan_keeps_each_intervals_part_in_its_own_stations_planned_time():
    # S1 planned 0-30 and 45-120 (a break 30-45); S2 planned 60-120 only.
    plan = floor({"S1": [(0, 30), (45, 120)], "S2": [(60, 120)]})
    events = [(at(0), "working", "S1"), (at(40), "idle", "S1"), (at(50), "working", "S2"), (at(70), "working", "S1")]
    timeline = worker_timeline(events, Window(at(0), at(120)), max_gap_ms=30 * MIN)
    assert spans(clip_to_plan(timeline, plan)) == [
        (0, 30, "working", "S1"), (45, 50, "idle", "S1"), (60, 70, "working", "S2"),
        (70, 100, "working", "S1"), (100, 120, "unknown", "S1")]


def test_planned_units_count_only_instants_in_planned_time_ends_included():
    plan = floor({"S1": [(0, 30), (45, 120)]})
    rows = [("W1", "S1", 1, at(0)), ("W1", "S1", 2, at(30)), ("W1", "S1", 4, at(31)), ("W1", "S1", 8, at(45)),
            ("W1", "S2", 16, at(10))]  # S2 has no planned time
    assert planned_units(rows, plan) == [("W1", "S1", 1, at(0)), ("W1", "S1", 2, at(30)), ("W1", "S1", 8, at(45))]


def test_planned_only_report_counts_planned_time_and_station_utilization_over_planned_seconds():
    plan = floor({"S1": [(0, 30), (45, 120)]}, targets={"S1": 6})
    events = {"W1": [(at(0), "working", "S1"), (at(60), "idle", "S1")]}
    units = [("W1", "S1", 3, at(20)), ("W1", "S1", 5, at(40))]  # the second lies in the break
    result = build_report(Window(at(0), at(90)), [("W1", "W1")], [("S1", "S1"), ("S2", "S2")], events, units, 4,
                          None, plan)
    worker = result["workers"][0]
    assert (worker["active_seconds"], worker["idle_seconds"], worker["units"]) == (45 * 60, 30 * 60, 3)
    s1, s2 = result["workstations"]
    # S1: planned 0-30 and 45-90 inside the window = 75 min; occupied all of it.
    assert_station = {"occupancy_seconds": 4500, "utilization_pct": 100, "units": 3, "planned_seconds": 4500,
                      "target_units_per_hour": 6, "target_units": 7.5, "attainment_pct": 40}
    assert {key: s1[key] for key in assert_station} == assert_station
    assert (s2["planned_seconds"], s2["target_units"], s2["attainment_pct"]) == (0, None, None)
    assert result["factory"]["event_count"] == 4  # unchanged by planned_only
    assert (result["factory"]["target_units"], result["factory"]["attainment_pct"]) == (7.5, 40)


def test_without_planned_only_all_time_counts_and_targets_still_use_planned_time():
    plan = floor({"S1": [(0, 30), (45, 120)]}, targets={"S1": 6}, planned_only=False)
    events = {"W1": [(at(0), "working", "S1")]}
    result = build_report(Window(at(0), at(90)), [("W1", "W1")], [("S1", "S1")], events, [("W1", "S1", 9)], 2,
                          None, plan)
    s1 = result["workstations"][0]
    assert (s1["occupancy_seconds"], s1["utilization_pct"], s1["planned_seconds"]) == (5400, 100, 4500)
    assert (s1["target_units"], s1["attainment_pct"]) == (7.5, 120)


@pytest.mark.parametrize("targets, target_units, attainment", [
    ({}, None, None),  # no target anywhere: null
    ({"S1": 4}, 4, 75),  # only S1's units count against S1's target
    ({"S1": 4, "S2": 2}, 6, 83.33),
    ({"S1": 0}, 0, 0),  # a zero target: a zero denominator gives 0
    ({"S1": 1 / 3}, 0.33, 900),  # rounded once, from the exact target
])
def test_factory_target_sums_the_stations_with_a_target_and_attainment_is_their_units_over_it(
        targets, target_units, attainment):
    plan = floor({"S1": [(0, 60)], "S2": [(0, 60)]}, targets=targets, planned_only=False)
    units = [("W1", "S1", 3), ("W1", "S2", 2)]
    factory = build_report(Window(at(0), at(60)), [("W1", "W1")], [("S1", "S1"), ("S2", "S2")], {}, units, 0,
                           None, plan)["factory"]
    assert (factory["target_units"], factory["attainment_pct"]) == (target_units, attainment)


def test_plan_floor_gives_each_station_its_sites_calendar_and_the_factorys_otherwise():
    factory = Calendar("UTC", (Shift("Day", "08:00", "10:00"),))
    sites = {"east": Site("East", "Asia/Tokyo", None),  # the factory's shifts in Tokyo: 23:00-01:00 UTC
             "west": Site("West", None, (Shift("Late", "09:00", "12:00"),)),
             "bare": Site("bare")}
    window = Window(at(0), at(180))  # 08:00-11:00 UTC
    plan = plan_floor(window, factory, sites, {"S1": None, "S2": "east", "S3": "west", "S4": "bare", "S5": "gone"},
                      {"S3": 5})
    assert [plan.planned_ms(station, window) // MIN for station in ("S1", "S2", "S3", "S4", "S5", "S9")] == [
        120, 0, 120, 120, 120, 120]
    # The whole hours the window touches, and the one its end instant begins: its end is known.
    assert plan.plan("S3") == ((at(60), at(240)),)
    assert plan.targets == {"S3": 5} and not plan.planned_only
