"""SPEC §5 "Sites, shifts and planned time": calendars, sites, a workstation's site, `planned_only`,
targets and attainment, names, and the shift report, through the HTTP API.

Every expected number is worked out by hand from the SPEC, with hand-built events and calendars.
The pinned clock (conftest) reads 2026-01-15T18:00:00Z unless a test moves it; conftest runs
without a signal horizon unless a test sets one.
"""

import csv
import io

import pytest

from backend import calendars, params
from backend.timeutil import format_instant, parse_instant
from tests.helpers import (
    assert_problem,
    at,
    event,
    factory,
    get_ok,
    keep_up,
    post_events,
    stations_by_id,
    workers_by_id,
)

HOUR = 3600
EARLY = {"name": "Early", "start": "06:00", "end": "14:00", "breaks": [{"start": "09:00", "end": "09:15"}]}
LATE = {"name": "Late", "start": "14:00", "end": "22:00"}
NIGHT = {"name": "Night", "start": "22:00", "end": "06:00", "breaks": [{"start": "02:00", "end": "02:30"}]}
PLANNED = {"planned_only": "true"}


def put_ok(client, path, body, **kwargs):
    """PUT `body` to `path`, demand 200, return the JSON answer."""
    response = client.put(path, json=body, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def worker(client, worker_id, params):
    return workers_by_id(client, params)[worker_id]


def station(client, station_id, params):
    return stations_by_id(client, params)[station_id]


def times(item):
    return item["active_seconds"], item["idle_seconds"], item["absent_seconds"], item["unknown_seconds"]


# --------------------------------------------------------------------------------------------
# Calendars and sites: GET and PUT
# --------------------------------------------------------------------------------------------

def test_the_factory_calendar_is_the_factory_zone_without_shifts_until_one_is_put(make_client):
    client = make_client(FACTORY_TZ="Europe/Berlin")
    assert get_ok(client, "/calendar") == {"time_zone": "Europe/Berlin", "shifts": []}
    stored = put_ok(client, "/calendar", {"shifts": [EARLY]})
    assert stored == {"time_zone": "Europe/Berlin", "shifts": [{**EARLY, "days": ["mon", "tue", "wed", "thu", "fri",
                                                                                  "sat", "sun"]}]}
    assert get_ok(client, "/calendar") == stored
    assert put_ok(client, "/calendar", stored) == stored  # a calendar as read is written back unchanged


def test_an_invalid_calendar_is_422_listing_every_problem_and_changes_nothing(client):
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [EARLY]})
    body = assert_problem(client.put("/calendar", json={
        "time_zone": "Mars/Olympus", "shifts": [{"name": "", "start": "25:00", "end": "14:00", "break": []}]}), 422)
    assert {error["field"] for error in body["errors"]} == {
        "time_zone", "shifts[0].name", "shifts[0].start", "shifts[0].break"}
    assert get_ok(client, "/calendar")["shifts"][0]["name"] == "Early"
    body = assert_problem(client.put("/calendar", data='{"time_zone": "UTC", "time_zone": "UTC"}',
                                     content_type="application/json"), 422)
    assert body["errors"] == [{"field": "time_zone", "message": "appears more than once"}]
    assert_problem(client.put("/calendar", data="{", content_type="application/json"), 400)


def test_sites_known_from_events_are_listed_by_id_beside_configured_ones(client):
    post_events(client, event(at("08:00"), workstation_id="N1", site_id="north"), status=201)
    stored = put_ok(client, "/sites/east", {"name": "East hall", "time_zone": "Asia/Tokyo", "shifts": [LATE]})
    assert stored["site_id"] == "east" and stored["time_zone"] == "Asia/Tokyo"
    assert get_ok(client, "/sites")["sites"] == [
        stored, {"site_id": "north", "name": "north", "time_zone": None, "shifts": None}]
    assert get_ok(client, "/sites/north") == {"site_id": "north", "name": "north", "time_zone": None, "shifts": None}
    assert get_ok(client, "/sites/east") == stored
    assert put_ok(client, "/sites/north", {"name": "North hall"})["shifts"] is None
    assert get_ok(client, "/sites/north")["name"] == "North hall"
    assert_problem(client.get("/sites/nowhere"), 404)


def test_an_invalid_site_is_422_listing_every_problem(client):
    body = assert_problem(client.put("/sites/east", json={"name": " ", "time_zone": "Nowhere/Land",
                                                          "shifts": "all day", "site_id": "west"}), 422)
    assert {error["field"] for error in body["errors"]} == {"name", "time_zone", "shifts", "site_id"}
    body = assert_problem(client.put("/sites/%20east", json={"name": "East"}), 422)
    assert body["errors"][0]["field"] == "site_id"
    assert_problem(client.get("/sites/east"), 404)


@pytest.mark.parametrize("method, path, body", [
    ("put", "/calendar", {"shifts": [EARLY]}),
    ("put", "/sites/east", {"name": "East"}),
    ("put", "/workstations/S1", {"target_units_per_hour": 5}),
    ("put", "/workers/W1", {"name": "Ada"}),
])
def test_writes_of_the_floors_setup_need_the_admin_token_when_one_is_set(make_client, method, path, body):
    client = make_client(ADMIN_TOKEN="admin", INGEST_TOKEN="edge")
    post_events(client, event(at("08:00")), status=201, headers={"Authorization": "Bearer edge"})
    assert_problem(getattr(client, method)(path, json=body), 401)
    assert_problem(getattr(client, method)(path, json=body, headers={"Authorization": "Bearer edge"}), 403)
    response = getattr(client, method)(path, json=body, headers={"Authorization": "Bearer admin"})
    assert response.status_code == 200


def test_each_write_of_the_floors_setup_changes_the_metrics_etag(client):
    post_events(client, event(at("08:00")), event(at("09:00"), event_type="idle"), status=201)
    tags = [client.get("/metrics/workstations").headers["ETag"]]
    for path, body in [("/calendar", {"shifts": [EARLY]}), ("/sites/north", {"name": "North"}),
                       ("/workstations/S1", {"target_units_per_hour": 5}), ("/workers/W1", {"name": "Ada"})]:
        put_ok(client, path, body)
        tags.append(client.get("/metrics/workstations").headers["ETag"])
    assert len(set(tags)) == len(tags)


# --------------------------------------------------------------------------------------------
# planned_only: breaks, nights, DST, overlapping shifts
# --------------------------------------------------------------------------------------------

def test_a_shift_with_a_break_counts_only_planned_time_and_units_stamped_in_it(client):
    # Early 06:00-14:00 with a break 09:00-09:15: 7.75 h planned. W1 works 05:00-15:00.
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [EARLY]})
    post_events(client,
                event(at("05:00")),
                event(at("06:00"), event_type="product_count", count=1),  # the shift's start: counts
                event(at("09:05"), event_type="product_count", count=2),  # in the break: does not
                event(at("09:15"), event_type="product_count", count=4),  # the break's end: counts
                event(at("14:00"), event_type="product_count", count=8),  # the shift's end: counts
                event(at("14:30"), event_type="product_count", count=16),  # after it: does not
                event(at("15:00"), event_type="absent"),
                status=201)
    planned = worker(client, "W1", PLANNED)
    assert times(planned) == (27900, 0, 0, 0)
    assert planned["units"] == 13
    every = worker(client, "W1", {})
    assert times(every) == (36000, 0, 0, 0) and every["units"] == 31
    s1 = station(client, "S1", PLANNED)
    assert (s1["occupancy_seconds"], s1["planned_seconds"], s1["utilization_pct"]) == (27900, 27900, 100)
    s1 = station(client, "S1", {})
    assert (s1["occupancy_seconds"], s1["planned_seconds"], s1["utilization_pct"]) == (36000, 27900, 100)
    assert factory(client, PLANNED)["event_count"] == factory(client, {})["event_count"] == 7


def test_a_night_shift_crosses_midnight_and_its_break_lies_on_the_next_day(client):
    # Night 22:00-06:00 with a break 02:00-02:30 after midnight: 7.5 h planned from Jan 13 22:00.
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [NIGHT]})
    post_events(client, event("2026-01-13T21:00:00Z"), event("2026-01-14T02:10:00Z", event_type="idle"),
                event("2026-01-14T07:00:00Z", event_type="absent"), status=201)
    w1 = worker(client, "W1", PLANNED)
    # working 22:00-02:00 (4 h), idle 02:30-06:00 (3.5 h); the break 02:00-02:30 is not planned
    assert times(w1) == (4 * HOUR, 3.5 * HOUR, 0, 0)
    assert station(client, "S1", PLANNED)["planned_seconds"] == 7.5 * HOUR
    (night,) = get_ok(client, "/metrics/shifts", {"from": "2026-01-13T12:00:00Z",
                                                  "to": "2026-01-14T12:00:00Z"})["shifts"]
    assert (night["shift"], night["date"], night["start"], night["end"], night["planned_seconds"]) == (
        "Night", "2026-01-13", "2026-01-13T22:00:00Z", "2026-01-14T06:00:00Z", 7.5 * HOUR)


@pytest.mark.parametrize("time_zone, start, end, date, hours", [
    # Europe/Berlin springs forward on 2025-03-30 (02:00 CET -> 03:00 CEST): the night is 7 h.
    ("Europe/Berlin", "2025-03-29T21:00:00Z", "2025-03-30T04:00:00Z", "2025-03-29", 7),
    # and falls back on 2025-10-26 (03:00 CEST -> 02:00 CET): 9 h.
    ("Europe/Berlin", "2025-10-25T20:00:00Z", "2025-10-26T05:00:00Z", "2025-10-25", 9),
    # America/New_York springs forward on 2025-03-09 (02:00 EST -> 03:00 EDT): 7 h.
    ("America/New_York", "2025-03-09T03:00:00Z", "2025-03-09T10:00:00Z", "2025-03-08", 7),
    # and falls back on 2025-11-02 (02:00 EDT -> 01:00 EST): 9 h.
    ("America/New_York", "2025-11-02T02:00:00Z", "2025-11-02T11:00:00Z", "2025-11-01", 9),
])
def test_a_night_shift_across_a_dst_change_lasts_the_real_time_between_its_wall_clock_ends(
        client, time_zone, start, end, date, hours):
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [LATE]})  # the factory's: not this site's
    put_ok(client, "/sites/plant", {"name": "Plant", "time_zone": time_zone,
                                    "shifts": [{"name": "Night", "start": "22:00", "end": "06:00"}]})
    # Working since an hour before the shift, at a station of that site.
    post_events(client, event(format_instant(parse_instant(start) - HOUR * 1000), workstation_id="P1", site_id="plant"),
                status=201)
    window = {"from": start, "to": end}
    assert worker(client, "W1", {**window, **PLANNED})["active_seconds"] == hours * HOUR
    assert station(client, "P1", window)["planned_seconds"] == hours * HOUR
    (night,) = get_ok(client, "/metrics/shifts", {**window, "site_id": "plant"})["shifts"]
    assert (night["start"], night["end"], night["date"], night["planned_seconds"]) == (start, end, date, hours * HOUR)


def test_overlapping_shifts_count_their_common_time_once(client):
    # A 06:00-14:00 and B 12:00-20:00: planned 06:00-20:00, 14 h; each instance 8 h.
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [{"name": "A", "start": "06:00", "end": "14:00"},
                                                                {"name": "B", "start": "12:00", "end": "20:00"}]})
    post_events(client, event(at("04:00")), event(at("17:00"), event_type="idle"), status=201)
    clock_window = {"from": at("00:00"), "to": at("18:00")}
    assert times(worker(client, "W1", {**clock_window, **PLANNED})) == (11 * HOUR, 1 * HOUR, 0, 0)
    assert station(client, "S1", clock_window)["planned_seconds"] == 12 * HOUR
    shifts = get_ok(client, "/metrics/shifts", {"from": at("00:00"), "to": at("23:00")})["shifts"]
    assert [(s["shift"], s["planned_seconds"], s["status"]) for s in shifts] == [
        ("A", 8 * HOUR, "done"), ("B", 8 * HOUR, "running")]


def test_planned_only_cuts_unknown_time_too(make_client):
    client = make_client(STATE_MAX_GAP_SECONDS=900)
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [EARLY]})
    # Working at 08:00, then silence: known until 08:15, unknown until 10:00.
    post_events(client, event(at("08:00")), event(at("10:00"), event_type="absent"), status=201)
    assert times(worker(client, "W1", PLANNED)) == (900, 0, 0, 6300 - 900)  # 09:00-09:15 is a break
    assert times(worker(client, "W1", {})) == (900, 0, 0, 6300)


def test_planned_only_clips_the_timeline_and_the_buckets_alike(client):
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [EARLY]})
    post_events(client, event(at("08:30")), event(at("09:10"), event_type="product_count", count=3),
                event(at("09:30"), event_type="product_count", count=5), event(at("10:00"), event_type="idle"),
                status=201)
    query = {"from": at("08:00"), "to": at("11:00"), **PLANNED}
    intervals = get_ok(client, "/metrics/timeline", query)["workers"][0]["intervals"]
    assert [(i["from"], i["to"], i["state"]) for i in intervals] == [
        (at("08:30"), at("09:00"), "working"), (at("09:15"), at("10:00"), "working"),
        (at("10:00"), at("11:00"), "idle")]
    buckets = get_ok(client, "/metrics/hourly", query)["buckets"]
    assert [(b["active_seconds"], b["idle_seconds"], b["units"]) for b in buckets] == [
        (1800, 0, 0), (2700, 0, 5), (0, 3600, 0)]


# --------------------------------------------------------------------------------------------
# A workstation's site
# --------------------------------------------------------------------------------------------

def test_a_workstation_takes_the_site_of_the_first_event_that_registered_it(client):
    post_events(client, event(at("08:00"), workstation_id="S1", site_id="north"),
                event(at("08:01"), workstation_id="S1", site_id="south"), status=201)
    post_events(client, event(at("08:02"), workstation_id="S1", site_id="south"),
                event(at("08:03"), workstation_id="S2"), event(at("08:04"), workstation_id="S2", site_id="south"),
                status=201)
    assert get_ok(client, "/workstations")["workstations"] == [
        {"workstation_id": "S1", "name": "S1", "site_id": "north", "target_units_per_hour": None},
        {"workstation_id": "S2", "name": "S2", "site_id": None, "target_units_per_hour": None}]


def test_a_station_moved_to_another_site_runs_on_that_sites_calendar(client):
    # The factory plans 06:00-14:00; site east plans 12:00-20:00 (its own shifts, UTC).
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [{"name": "Day", "start": "06:00", "end": "14:00"}]})
    put_ok(client, "/sites/east", {"name": "East", "shifts": [{"name": "Late", "start": "12:00", "end": "20:00"}]})
    # W1 works at S1 08:00-12:00 and at S2 12:00-16:00, making 6 units at S2 at 13:00.
    post_events(client, event(at("08:00"), "W1", workstation_id="S1"), event(at("12:00"), "W1", workstation_id="S2"),
                event(at("16:00"), "W1", "absent", workstation_id="S2"),
                event(at("13:00"), "W1", "product_count", workstation_id="S2", count=6), status=201)
    window = {"from": at("08:00"), "to": at("16:00"), **PLANNED}
    # Both stations on the factory calendar: 08:00-12:00 at S1 and 12:00-14:00 at S2 are planned.
    assert worker(client, "W1", window)["active_seconds"] == 6 * HOUR
    assert station(client, "S2", window)["planned_seconds"] == 6 * HOUR  # 08:00-14:00
    put_ok(client, "/workstations/S2", {"site_id": "east"})
    # Now S2's time counts 12:00-16:00 (east plans until 20:00); S1's stays as it was.
    assert worker(client, "W1", window)["active_seconds"] == 8 * HOUR
    s2 = station(client, "S2", window)
    assert (s2["planned_seconds"], s2["occupancy_seconds"], s2["units"]) == (4 * HOUR, 4 * HOUR, 6)
    put_ok(client, "/workstations/S2", {"site_id": None})
    assert worker(client, "W1", window)["active_seconds"] == 6 * HOUR


def test_put_workstation_checks_every_member_and_unknown_stations_are_404(client):
    post_events(client, event(at("08:00")), status=201)
    body = assert_problem(client.put("/workstations/S1", json={
        "name": "  ", "site_id": "nowhere", "target_units_per_hour": -1, "colour": "red"}), 422)
    assert {error["field"] for error in body["errors"]} == {"name", "site_id", "target_units_per_hour", "colour"}
    for bad in ("12", True, "inf", [], {"per": "hour"}):
        body = assert_problem(client.put("/workstations/S1", json={"target_units_per_hour": bad}), 422)
        assert body["errors"][0]["field"] == "target_units_per_hour"
    assert_problem(client.put("/workstations/S1", json=[1]), 422)
    assert_problem(client.put("/workstations/S9", json={"name": "Press"}), 404)
    assert_problem(client.put("/workers/W9", json={"name": "Ada"}), 404)
    assert get_ok(client, "/workstations")["workstations"][0] == {
        "workstation_id": "S1", "name": "S1", "site_id": None, "target_units_per_hour": None}


# --------------------------------------------------------------------------------------------
# Targets, attainment, names
# --------------------------------------------------------------------------------------------

def test_targets_give_target_units_over_planned_time_and_attainment(client):
    # Early: 7.75 h planned. S1 target 12/h: 93 units; S2 target 4/h: 31; S3 none.
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [EARLY]})
    post_events(client, event(at("06:00"), "W1", workstation_id="S1"),
                event(at("10:00"), "W1", "product_count", workstation_id="S1", count=62),
                event(at("06:00"), "W2", workstation_id="S2"),
                event(at("10:00"), "W2", "product_count", workstation_id="S2", count=40),
                event(at("10:00"), "W3", "product_count", workstation_id="S3", count=7),
                event(at("14:00"), "W1", "absent", workstation_id="S1"), status=201)
    assert put_ok(client, "/workstations/S1", {"target_units_per_hour": 12}) == {
        "workstation_id": "S1", "name": "S1", "site_id": None, "target_units_per_hour": 12}
    put_ok(client, "/workstations/S2", {"target_units_per_hour": 4.0})
    window = {"from": at("06:00"), "to": at("14:00")}
    stations = stations_by_id(client, window)
    assert {k: stations["S1"][k] for k in ("planned_seconds", "target_units_per_hour", "target_units", "units",
                                           "attainment_pct")} == {
        "planned_seconds": 27900, "target_units_per_hour": 12, "target_units": 93, "units": 62,
        "attainment_pct": 66.67}
    assert (stations["S2"]["target_units"], stations["S2"]["attainment_pct"]) == (31, 129.03)  # ahead
    assert (stations["S3"]["target_units"], stations["S3"]["attainment_pct"]) == (None, None)
    fac = factory(client, window)
    assert (fac["target_units"], fac["attainment_pct"], fac["total_units"]) == (124, 82.26, 109)  # 102 / 124
    # Half the shift: 06:00-10:00, 4 h planned less the break: 3.75 h; S1's target 45 units.
    s1 = station(client, "S1", {"from": at("06:00"), "to": at("10:00")})
    assert (s1["target_units"], s1["attainment_pct"]) == (45, 137.78)
    put_ok(client, "/workstations/S1", {"target_units_per_hour": None})
    put_ok(client, "/workstations/S2", {"target_units_per_hour": None})
    assert (factory(client, window)["target_units"], factory(client, window)["attainment_pct"]) == (None, None)


def test_names_show_in_every_list(client):
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [EARLY]})
    post_events(client, event(at("08:00")), status=201)
    assert put_ok(client, "/workers/W1", {"name": "  Ada Lovelace "}) == {"worker_id": "W1", "name": "Ada Lovelace"}
    assert put_ok(client, "/workstations/S1", {"name": "Press 1"})["name"] == "Press 1"
    assert get_ok(client, "/workers")["workers"] == [{"worker_id": "W1", "name": "Ada Lovelace"}]
    assert get_ok(client, "/workstations")["workstations"][0]["name"] == "Press 1"
    assert worker(client, "W1", {})["name"] == "Ada Lovelace"
    assert get_ok(client, "/metrics/workers/W1")["worker"]["name"] == "Ada Lovelace"
    assert station(client, "S1", {})["name"] == "Press 1"
    assert get_ok(client, "/metrics/timeline")["workers"][0]["name"] == "Ada Lovelace"
    (early,) = get_ok(client, "/metrics/shifts", {"from": at("06:00"), "to": at("13:00")})["shifts"]
    assert early["workers"][0]["name"] == "Ada Lovelace" and early["workstations"][0]["name"] == "Press 1"
    assert put_ok(client, "/workers/W1", {"name": None})["name"] == "W1"  # null: the id again
    body = assert_problem(client.put("/workers/W1", json={"name": "x" * 101, "nick": "A"}), 422)
    assert {error["field"] for error in body["errors"]} == {"name", "nick"}


# --------------------------------------------------------------------------------------------
# The shift report
# --------------------------------------------------------------------------------------------

def two_sites_over_two_days(client):
    """Factory: Early (break) and Late, UTC. Site east: the factory's shifts in Europe/Berlin.
    W1 at S1 (no site), W2 at E1 (east); a target on each station."""
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [EARLY, LATE]})
    post_events(client,
                event("2026-01-14T05:30:00Z", "W1", workstation_id="S1"),
                event("2026-01-14T09:10:00Z", "W1", "product_count", workstation_id="S1", count=4),
                event("2026-01-14T11:00:00Z", "W1", "idle", workstation_id="S1"),
                event("2026-01-14T15:00:00Z", "W1", "product_count", workstation_id="S1", count=9),
                event("2026-01-14T21:00:00Z", "W1", "absent", workstation_id="S1"),
                event(at("07:00"), "W1", workstation_id="S1"),
                event(at("12:00"), "W1", "product_count", workstation_id="S1", count=20),
                event("2026-01-14T04:00:00Z", "W2", workstation_id="E1", site_id="east"),
                event(at("10:00"), "W2", "product_count", workstation_id="E1", count=30, site_id="east"),
                event(at("16:00"), "W2", "absent", workstation_id="E1", site_id="east"),
                status=201)
    put_ok(client, "/sites/east", {"name": "East", "time_zone": "Europe/Berlin"})
    put_ok(client, "/workstations/S1", {"target_units_per_hour": 3})
    put_ok(client, "/workstations/E1", {"target_units_per_hour": 5})


RANGE = {"from": "2026-01-14T00:00:00Z", "to": "2026-01-16T00:00:00Z"}


def test_the_shift_report_lists_each_calendars_instances_oldest_first_with_their_status(client):
    two_sites_over_two_days(client)
    body = get_ok(client, "/metrics/shifts", RANGE)
    assert (body["from"], body["to"]) == (RANGE["from"], RANGE["to"])
    # Berlin is UTC+1 in January: east's Early is 05:00-13:00Z, its Late 13:00-21:00Z. Its Late
    # of Jan 13 (13:00-21:00Z) ends before the range; the factory's Late of Jan 15 runs at 18:00.
    assert [(s["site_id"], s["shift"], s["date"], s["start"][5:16], s["status"]) for s in body["shifts"]] == [
        ("east", "Early", "2026-01-14", "01-14T05:00", "done"),
        (None, "Early", "2026-01-14", "01-14T06:00", "done"),
        ("east", "Late", "2026-01-14", "01-14T13:00", "done"),
        (None, "Late", "2026-01-14", "01-14T14:00", "done"),
        ("east", "Early", "2026-01-15", "01-15T05:00", "done"),
        (None, "Early", "2026-01-15", "01-15T06:00", "done"),
        ("east", "Late", "2026-01-15", "01-15T13:00", "running"),
        (None, "Late", "2026-01-15", "01-15T14:00", "running"),
    ]
    assert {s["planned_seconds"] for s in body["shifts"] if s["shift"] == "Early"} == {27900}
    later = get_ok(client, "/metrics/shifts", {"from": at("19:00"), "to": "2026-01-16T07:00:00Z"})["shifts"]
    assert [(s["site_id"], s["shift"], s["status"]) for s in later] == [
        ("east", "Late", "running"), (None, "Late", "running"),
        ("east", "Early", "planned"), (None, "Early", "planned")]
    assert [s["site_id"] for s in get_ok(client, "/metrics/shifts", {**RANGE, "site_id": "east"})["shifts"]] == [
        "east"] * 4
    assert_problem(client.get("/metrics/shifts", query_string={"site_id": "west"}), 404)


def test_each_shifts_figures_equal_the_metrics_endpoints_for_its_time_with_planned_only(client):
    two_sites_over_two_days(client)
    shifts = get_ok(client, "/metrics/shifts", {"from": "2026-01-14T00:00:00Z", "to": "2026-01-16T07:00:00Z"})
    assert len(shifts["shifts"]) == 10
    for shift in shifts["shifts"]:
        query = {"from": shift["start"], "to": shift["end"], **PLANNED}
        if shift["site_id"] is not None:
            query["site_id"] = shift["site_id"]
        assert get_ok(client, "/metrics/workers", query) == {"window": shift["window"], "workers": shift["workers"]}
        assert get_ok(client, "/metrics/workstations", query) == {"window": shift["window"],
                                                                  "workstations": shift["workstations"]}
        assert get_ok(client, "/metrics/factory", query) == {"window": shift["window"], "factory": shift["factory"]}
    by_key = {(s["site_id"], s["shift"], s["date"]): s for s in shifts["shifts"]}
    # The factory's Early of Jan 14 (06:00-14:00Z, break 09:00-09:15): W1 working 06:00-11:00
    # less the break, idle 11:00-14:00; the 4 units at 09:10 fall in the break. Only S1 has a
    # target there: 3/h x 7.75 h. E1 runs on east's calendar, also inside this window.
    early = by_key[None, "Early", "2026-01-14"]
    w1 = {w["worker_id"]: w for w in early["workers"]}["W1"]
    assert times(w1) == (17100, 10800, 0, 0) and w1["units"] == 0
    s1 = {s["workstation_id"]: s for s in early["workstations"]}["S1"]
    assert (s1["planned_seconds"], s1["target_units"], s1["attainment_pct"]) == (27900, 23.25, 0)
    # The running Late of Jan 15 at 18:00: 4 h of its 8 planned so far; the window ends now.
    late = by_key[None, "Late", "2026-01-15"]
    assert late["window"] == {"from": at("14:00"), "to": at("18:00"), "seconds": 4 * HOUR}
    assert late["planned_seconds"] == 8 * HOUR
    # East's own Early of Jan 15 (05:00-13:00Z): only east's events count; W2 made 30 units.
    east = by_key["east", "Early", "2026-01-15"]
    assert [w["worker_id"] for w in east["workers"]] == ["W2"]
    e1 = east["workstations"][0]
    assert (e1["units"], e1["planned_seconds"], e1["target_units"], e1["attainment_pct"]) == (30, 27900, 38.75, 77.42)


def test_shift_current_counts_only_each_sites_shift_under_way_as_the_shift_report_does(client):
    two_sites_over_two_days(client)
    # At 18:00 east's Late (13:00-21:00Z) and the factory's (14:00-22:00Z) are under way: "this
    # shift" over both runs from 13:00, where the factory's Early still had an hour to go.
    this_shift = {"from": at("13:00"), "to": at("18:00"), **PLANNED}
    current = {**this_shift, "shift": "current"}
    s1, e1 = station(client, "S1", this_shift), station(client, "E1", this_shift)
    assert (s1["planned_seconds"], e1["planned_seconds"]) == (5 * HOUR, 5 * HOUR)
    s1, e1 = station(client, "S1", current), station(client, "E1", current)
    assert (s1["planned_seconds"], s1["occupancy_seconds"], s1["target_units"]) == (4 * HOUR, 4 * HOUR, 12)
    assert e1["planned_seconds"] == 5 * HOUR
    assert times(worker(client, "W1", this_shift))[0] == 5 * HOUR
    assert times(worker(client, "W1", current))[0] == 4 * HOUR
    # Each station's figures are those of its own site's running instance in the shift report.
    running = {s["site_id"]: s for s in get_ok(client, "/metrics/shifts", {"from": at("13:00")})["shifts"]
               if s["status"] == "running"}
    assert {s["workstation_id"]: s for s in running[None]["workstations"]}["S1"] == s1
    assert {s["workstation_id"]: s for s in running["east"]["workstations"]}["E1"] == e1
    # A window ending at 13:30 ends in the factory's Early: for S1 that shift alone counts.
    early = station(client, "S1", {**current, "to": at("13:30")})
    assert early["planned_seconds"] == HOUR // 2
    # It counts planned time: `planned_only` need not be given with it.
    assert station(client, "S1", {"from": at("13:00"), "to": at("18:00"), "shift": "current"}) == s1
    problem = assert_problem(client.get("/metrics/workstations", query_string={**current, "shift": "now"}), 422)
    assert [error["field"] for error in problem["errors"]] == ["shift"], problem


def test_shift_previous_counts_only_each_sites_shift_that_ended_last(client):
    two_sites_over_two_days(client)
    # At 18:00 the shift that ended last is east's Early (05:00-13:00Z) there and the factory's
    # (06:00-14:00Z) on S1: "previous shift" runs from 05:00 to 14:00, where east's Late had begun.
    previous = {"from": at("05:00"), "to": at("14:00"), "shift": "previous"}
    plain = {"from": at("05:00"), "to": at("14:00"), **PLANNED}
    assert station(client, "E1", plain)["planned_seconds"] == 27900 + HOUR
    s1, e1 = station(client, "S1", previous), station(client, "E1", previous)
    assert (s1["planned_seconds"], e1["planned_seconds"]) == (27900, 27900)
    done = {(s["site_id"], s["shift"]): s for s in get_ok(client, "/metrics/shifts", {"from": at("00:00")})["shifts"]
            if s["status"] == "done" and s["date"] == "2026-01-15"}
    assert {s["workstation_id"]: s for s in done[None, "Early"]["workstations"]}["S1"] == s1
    assert {s["workstation_id"]: s for s in done["east", "Early"]["workstations"]}["E1"] == e1


@pytest.mark.parametrize("shift", ["current", "previous"])
def test_one_shift_read_from_the_roll_ups_equals_it_worked_out_from_the_events(app, client, shift):
    two_sites_over_two_days(client)
    keep_up(app)
    # Ends at a shift's start and end and a millisecond after, inside a break, mid-hour.
    for to in (at("13:00"), "2026-01-15T13:00:00.001Z", at("14:00"), "2026-01-15T14:00:00.001Z", at("09:05"),
               at("17:30")):
        for start in (at("05:00"), "2026-01-14T20:30:00Z"):
            query = {"from": start, "to": to, "shift": shift}
            # A confidence filter that keeps every event makes the answer be worked out from them.
            from_events = {**query, "min_confidence": 0}
            for path in ("/metrics/workstations", "/metrics/workers"):
                assert get_ok(client, path, query) == get_ok(client, path, from_events), (path, query)


def test_the_shift_report_defaults_to_the_last_seven_days_and_takes_at_most_200_instances(client):
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [EARLY]})
    body = get_ok(client, "/metrics/shifts")
    assert (body["from"], body["to"]) == ("2026-01-08T18:00:00Z", at("18:00"))
    assert [s["date"] for s in body["shifts"]] == [f"2026-01-{day:02d}" for day in range(9, 16)]
    # 48 half-hour shifts a day: 4 days hold 193 instances (the one starting at `to` overlaps it), 5 days 241.
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [
        {"name": f"S{n}", "start": f"{n // 2:02d}:{n % 2 * 30:02d}", "end": f"{n // 2:02d}:{n % 2 * 30 + 29:02d}"}
        for n in range(48)]})
    assert params.MAX_SHIFT_INSTANCES == 200
    assert len(get_ok(client, "/metrics/shifts", {"from": "2026-01-10T00:00:00Z",
                                                  "to": "2026-01-14T00:00:00Z"})["shifts"]) == 193
    body = assert_problem(client.get("/metrics/shifts", query_string={"from": "2026-01-10T00:00:00Z",
                                                                      "to": "2026-01-15T00:00:00Z"}), 422)
    assert "more than 200 shift instances" in body["errors"][0]["message"]
    assert_problem(client.get("/metrics/shifts"), 422)  # the default 7 days hold 337
    body = assert_problem(client.get("/metrics/shifts", query_string={"from": at("12:00"), "to": at("10:00")}), 422)
    assert body["errors"][0]["field"] == "from"


def test_a_range_of_centuries_is_refused_without_listing_its_millions_of_shifts(client, monkeypatch):
    # What was seen: 1970-9999 with three shifts a day listed all 8.8 million instances in memory
    # (gigabytes, a minute of work) before saying the range was too long.
    put_ok(client, "/calendar", {"time_zone": "UTC", "shifts": [
        {"name": f"S{n}", "start": f"{n * 8:02d}:00", "end": f"{n * 8 + 7:02d}:59"} for n in range(3)]})
    put_ok(client, "/sites/east", {"name": "East", "time_zone": "Asia/Tokyo"})
    instances, most = calendars._instances, 2 * (params.MAX_SHIFT_INSTANCES + 1)  # the factory's and east's

    def counted(*args):
        for number, instance in enumerate(instances(*args), 1):
            if number > most:
                raise RuntimeError("worked out more instances than it takes to refuse the range")
            yield instance

    monkeypatch.setattr(calendars, "_instances", counted)
    body = assert_problem(client.get("/metrics/shifts", query_string={
        "from": "1970-01-01T00:00:00Z", "to": "9999-12-31T00:00:00Z"}), 422)
    assert "more than 200 shift instances" in body["errors"][0]["message"]


def test_the_shift_report_as_csv_has_a_row_per_instance_and_workstation(client):
    two_sites_over_two_days(client)
    put_ok(client, "/workstations/S1", {"name": "=HYPERLINK(\"x\")"})  # a formula is not run by a spreadsheet
    response = client.get("/metrics/shifts.csv", query_string={**RANGE, "site_id": "east"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    shifts = get_ok(client, "/metrics/shifts", {**RANGE, "site_id": "east"})["shifts"]
    assert len(rows) == sum(len(s["workstations"]) for s in shifts) == 4  # east lists E1 only
    first = rows[0]
    assert first == {"site_id": "east", "shift": "Early", "date": "2026-01-14", "start": "2026-01-14T05:00:00Z",
                     "end": "2026-01-14T13:00:00Z", "status": "done", "workstation_id": "E1",
                     "workstation_name": "E1", "planned_seconds": "27900.0", "target_units_per_hour": "5.0",
                     "target_units": "38.75", "units": "0", "attainment_pct": "0.0",
                     "occupancy_seconds": "27900.0", "utilization_pct": "100.0"}
    everything = client.get("/metrics/shifts.csv", query_string=RANGE).get_data(as_text=True)
    assert "'=HYPERLINK" in everything and ",=HYPERLINK" not in everything
    # Polled like the JSON: an unchanged answer goes back as a 304.
    tag = response.headers["ETag"]
    again = client.get("/metrics/shifts.csv", query_string={**RANGE, "site_id": "east"},
                       headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.headers["Cache-Control"] == "no-cache"
