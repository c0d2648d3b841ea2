"""SPEC §6 Demo data: `POST /seed`, a living, deterministic floor behind its guards.

Also the last rule of §6: when `INGEST_TOKEN` is set, `POST /events` needs it the same way.
The demo is loaded at the pinned clock of `conftest.py` (Thursday 2026-01-15 18:00 UTC: 19:00
in Berlin, the north plant's late shift running; 13:00 in New York, the south plant's day shift
running) unless a test moves it.
"""

import pytest

from backend import calendars, seed
from backend.timeutil import format_instant, parse_instant
from tests.helpers import METRICS_LIST_PATHS, assert_problem, at, event, get_ok, post_events, registered, stored_events

METRICS = METRICS_LIST_PATHS
DAY_MS = 86_400_000
HORIZON = {"max_gap_seconds": 900}  # the default signal horizon (the tests' app has none)


# --------------------------------------------------------------------------------------------
# §6 The demo floor: current, realistic, deterministic
# --------------------------------------------------------------------------------------------

def load(client):
    response = client.post("/seed")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_seeding_twice_at_the_same_now_gives_identical_metrics(client):
    paths = METRICS + ["/metrics/timeline", "/metrics/hourly", "/metrics/models", "/metrics/drift"]
    load(client)
    first = [get_ok(client, path, HORIZON) for path in paths]
    load(client)
    assert [get_ok(client, path, HORIZON) for path in paths] == first
    assert first[0]["factory"]["total_units"] > 0


def test_demo_events_are_the_same_for_the_same_now():
    now = parse_instant("2026-01-15T18:00:00Z")
    assert seed.demo_events(now) == seed.demo_events(now)


def test_a_past_shift_is_the_same_whenever_the_demo_is_loaded():
    # Each shift is planned from its worker, date and shift alone; `now` only says where the floor ends.
    def early_shift(now):
        return [(e["ts_ms"], e["worker_id"], e["workstation_id"], e["event_type"], e["count"])
                for e in seed.demo_events(parse_instant(now))
                if parse_instant("2026-01-14T05:00:00Z") <= e["ts_ms"] < parse_instant("2026-01-14T13:00:00Z")
                and e["event_type"] in ("working", "idle", "product_count")]

    assert early_shift("2026-01-15T18:00:00Z") == early_shift("2026-01-16T09:30:00Z")


def test_the_demo_holds_the_last_7_days_up_to_now(client, clock):
    body = load(client)
    now = clock()
    begins, ends = parse_instant(body["from"]), parse_instant(body["to"])
    # From a little before 7 days ago (the start of a shift running then) up to now.
    assert now - 7 * DAY_MS - 9 * 3_600_000 <= begins <= now - 7 * DAY_MS
    assert now - 5 * 60_000 < ends <= now
    window = get_ok(client, "/metrics/factory")["window"]
    assert (window["from"], window["to"]) == (body["from"], body["to"])
    assert body["workers"] == 6 and body["workstations"] == 6 and body["units"] > 1000
    assert 5_000 <= body["events"] <= 40_000
    assert [(site["site_id"], site["time_zone"]) for site in body["sites"]] == [
        ("plant-north", "Europe/Berlin"), ("plant-south", "America/New_York")]


def test_every_worker_and_station_has_a_name_and_production_stations_a_target(client):
    load(client)
    workers = get_ok(client, "/metrics/workers")["workers"]
    assert len(workers) == 6 and all(w["name"] != w["worker_id"] and " " in w["name"] for w in workers)
    stations = get_ok(client, "/metrics/workstations")["workstations"]
    assert len(stations) == 6 and all(s["name"] != s["workstation_id"] for s in stations)
    targets = {s["workstation_id"]: s["target_units_per_hour"] for s in stations}
    assert targets == {station.workstation_id: station.target_units_per_hour for station in seed.WORKSTATIONS}
    assert sum(target is not None for target in targets.values()) == 4


def test_two_sites_in_two_time_zones_with_their_own_calendars(client):
    load(client)
    assert get_ok(client, "/calendar") == {"time_zone": "Europe/Berlin", "shifts": []}
    north, south = (get_ok(client, f"/sites/{site_id}") for site_id in ("plant-north", "plant-south"))
    assert north["time_zone"] == "Europe/Berlin" and south["time_zone"] == "America/New_York"
    assert [shift["name"] for shift in north["shifts"]] == ["Early", "Late"]
    assert [shift["name"] for shift in south["shifts"]] == ["Day", "Saturday"]
    assert all(shift["breaks"] for shift in north["shifts"] + south["shifts"])
    sites = {s["workstation_id"]: s["site_id"] for s in get_ok(client, "/workstations")["workstations"]}
    assert sites == {station.workstation_id: station.site_id for station in seed.WORKSTATIONS}


def running_instances(now_ms):
    """`(site_id, ShiftInstance)` of every demo shift running at `now_ms`."""
    return [(site_id, instance) for site_id in seed.SITES
            for instance in calendars.shift_instances(seed.site_calendar(site_id), now_ms, now_ms + 1)
            if instance.start_ms <= now_ms < instance.end_ms]


def previous_instance(site_id, now_ms):
    """The latest demo shift of a site that ended by `now_ms`."""
    ended = [instance for instance in calendars.shift_instances(seed.site_calendar(site_id), now_ms - 4 * DAY_MS,
                                                                now_ms)
             if instance.end_ms <= now_ms]
    return ended[-1]


def shift_stations(client, site_id, instance):
    """The figures of a site's production stations over one shift instance, in planned time only."""
    params = {"from": format_instant(instance.start_ms), "to": format_instant(instance.end_ms),
              "planned_only": "true"}
    return [s for s in get_ok(client, "/metrics/workstations", params)["workstations"]
            if seed.STATIONS[s["workstation_id"]].site_id == site_id and s["target_units_per_hour"] is not None]


def test_the_running_shifts_show_live_figures_against_their_targets(client, clock):
    load(client)
    running = running_instances(clock())
    assert [(site_id, instance.name) for site_id, instance in running] == [("plant-north", "Late"),
                                                                          ("plant-south", "Day")]
    for site_id, instance in running:
        stations = shift_stations(client, site_id, instance)
        assert len(stations) == 2
        for station in stations:
            # Planned time so far, not the whole shift: the window ends now.
            assert 0 < station["planned_seconds"] < (instance.end_ms - instance.start_ms) / 1000
            assert station["units"] > 0 and station["target_units"] > 0
            assert 40 <= station["attainment_pct"] <= 160, station


def test_the_shift_report_lists_each_sites_shifts_of_the_week(client):
    load(client)
    shifts = get_ok(client, "/metrics/shifts")["shifts"]
    assert {shift["site_id"] for shift in shifts} == {"plant-north", "plant-south"}
    assert [(s["site_id"], s["shift"]) for s in shifts if s["status"] == "running"] == [
        ("plant-south", "Day"), ("plant-north", "Late")]  # oldest first: 12:00 and 13:00 UTC
    done = [s for s in shifts if s["status"] == "done"]
    # Thursday 18:00 back to Thursday 18:00: north Late, Fri Early and Late, Mon-Wed Early and Late,
    # Thu Early; south Thu, Fri, Sat morning, Mon-Wed.
    assert len(done) == 16
    assert all(s["factory"]["total_units"] > 0 and 60 < s["factory"]["attainment_pct"] < 120 for s in done)


def test_outside_every_shift_the_previous_shift_shows_units_against_targets(client, clock):
    clock.set("2026-01-15T04:00:00Z")  # 05:00 in Berlin, 23:00 the day before in New York
    load(client)
    assert running_instances(clock()) == []
    for site_id in seed.SITES:
        instance = previous_instance(site_id, clock())
        stations = shift_stations(client, site_id, instance)
        assert stations and all(s["units"] > 0 and s["attainment_pct"] > 30 for s in stations), stations


def test_over_the_week_attainment_is_near_target_and_painting_runs_behind(client):
    load(client)
    stations = {s["workstation_id"]: s for s in get_ok(client, "/metrics/workstations", {"planned_only": "true"})[
        "workstations"]}
    for station_id in ("WS-01", "WS-02", "WS-04"):
        assert 80 <= stations[station_id]["attainment_pct"] <= 110, stations[station_id]
    assert stations["WS-05"]["attainment_pct"] < 80  # painting: clearly behind
    assert stations["WS-03"]["attainment_pct"] is None and stations["WS-06"]["attainment_pct"] is None


@pytest.mark.parametrize("now", ["2026-01-15T18:00:00Z", "2026-01-15T04:00:00Z", "2026-01-18T12:00:00Z"])
def test_one_camera_has_fallen_silent_and_every_other_keeps_its_heartbeat(make_client, clock, now):
    clock.set(now)
    client = make_client(STATE_MAX_GAP_SECONDS=900)
    load(client)
    workers = {w["worker_id"]: w for w in get_ok(client, "/metrics/workers")["workers"]}
    silent = {worker_id for worker_id, w in workers.items() if w["state_at_end"] == "unknown"}
    assert silent == {seed.SILENT_WORKER}
    assert clock() - parse_instant(workers[seed.SILENT_WORKER]["last_seen"]) > 15 * 60_000
    # Everyone else is off shift (absent) or on it (working, idle, absent on a break), never unknown.
    assert all(w["state_at_end"] in ("working", "idle", "absent") for w in workers.values()
               if w["worker_id"] != seed.SILENT_WORKER)


def test_heartbeats_repeat_each_state_at_least_every_five_minutes():
    events = seed.demo_events(parse_instant("2026-01-15T18:00:00Z"))
    by_worker = {}
    for e in events:
        if e["event_type"] != "product_count":
            by_worker.setdefault(e["worker_id"], []).append(e["ts_ms"])
    for times in by_worker.values():
        assert max(later - earlier for earlier, later in zip(times, times[1:], strict=False)) <= 5 * 60_000


def test_working_now_counts_only_workers_the_cameras_see_working(make_client):
    client = make_client(STATE_MAX_GAP_SECONDS=900)
    load(client)
    states = {w["worker_id"]: w["state_at_end"] for w in get_ok(client, "/metrics/workers")["workers"]}
    # 18:00 UTC: the north late crew (W-03, W-04) and the south day crew (W-05, W-06) are on shift;
    # W-04 waits for material; the early crew (W-01, W-02) went home; W-02's camera fell silent.
    assert states["W-01"] == "absent" and states["W-02"] == "unknown" and states["W-04"] == "idle"
    assert {states["W-03"], states["W-05"], states["W-06"]} <= {"working", "idle", "absent"}


def test_demo_events_cover_what_a_floor_produces():
    events = seed.demo_events(parse_instant("2026-01-15T18:00:00Z"))
    assert {e["event_type"] for e in events} == {"working", "idle", "absent", "product_count"}
    assert {e["model_version"] for e in events} == {seed.OLD_MODEL, seed.NEW_MODEL}
    assert {e["site_id"] for e in events} == {"plant-north", "plant-south"}
    confidences = [e["confidence"] for e in events]
    assert min(confidences) < 0.6 and max(confidences) > 0.95
    stations_per_worker = {}
    for e in events:
        stations_per_worker.setdefault(e["worker_id"], set()).add(e["workstation_id"])
    assert all(len(stations) > 1 for stations in stations_per_worker.values())  # station changes
    assert len({e["event_id"] for e in events}) == len(events)
    assert [e["ts_ms"] for e in events] == sorted(e["ts_ms"] for e in events)


def test_nothing_but_absence_between_shifts():
    # Cameras run around the clock: a worker off shift is reported absent at their home station.
    now = parse_instant("2026-01-15T18:00:00Z")
    for worker in seed.WORKERS:
        shifts = seed.crew_instances(worker, now - 8 * DAY_MS, now)
        off_shift = [e for e in seed.demo_events(now) if e["worker_id"] == worker.worker_id
                     and not any(i.start_ms - 3_600_000 <= e["ts_ms"] <= i.end_ms + 3_600_000 for i in shifts)]
        assert off_shift and {(e["event_type"], e["workstation_id"]) for e in off_shift} == {("absent", worker.home)}


def test_demo_has_two_people_at_one_station_at_once(client):
    load(client)
    # The last two days: a timeline of three days or less is drawn from the events and names stations.
    window = get_ok(client, "/metrics/factory")["window"]
    since = format_instant(parse_instant(window["to"]) - 2 * 86_400_000)
    shown = {"from": since, "to": window["to"]}
    timeline = get_ok(client, "/metrics/timeline", shown)
    at_station = {}
    for worker in timeline["workers"]:
        for interval in worker["intervals"]:
            if interval["state"] in ("working", "idle"):
                at_station.setdefault(interval["workstation_id"], []).append(
                    (parse_instant(interval["from"]), parse_instant(interval["to"]), worker["worker_id"]))
    shared = [station for station, spans in at_station.items()
              if any(a[2] != b[2] and a[0] < b[1] and b[0] < a[1] for a in spans for b in spans)]
    assert shared
    # Their time together counts once: a station holds less than the sum of its workers' time.
    station = get_ok(client, f"/metrics/workstations/{shared[0]}", shown)["workstation"]
    together = sum(end - start for start, end, _ in at_station[shared[0]]) / 1000
    assert 0 < station["occupancy_seconds"] < together


def test_seed_if_empty_loads_once_and_never_over_data(make_client):
    client = make_client(SEED_IF_EMPTY=True)
    assert len(client.get("/workers").get_json()["workers"]) == 6
    kept = make_client(SEED_IF_EMPTY=False)
    post_events(kept, event("2026-01-15T08:00:00Z"), status=201)
    path = kept.application.config["DATABASE_PATH"]
    reopened = make_client(SEED_IF_EMPTY=True, DATABASE_PATH=path)
    assert reopened.get("/workers").get_json()["workers"] == [{"worker_id": "W1", "name": "W1"}]


def test_seed_replaces_everything_with_the_demo_floor(client):
    post_events(client, event("2026-01-10T08:00:00Z", worker_id="stray"), status=201)
    response = client.post("/seed?replace=all")
    assert response.status_code == 200
    body = response.get_json()
    assert body["seeded"] is True and body["workers"] == 6 and body["workstations"] == 6
    workers = client.get("/workers").get_json()["workers"]
    assert len(workers) == 6 and "stray" not in {w["worker_id"] for w in workers}
    assert len(client.get("/workstations").get_json()["workstations"]) == 6


# --------------------------------------------------------------------------------------------
# §6 Guards: the admin token, ALLOW_SEED, and the ingest token on POST /events
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("admin_token, allow_seed, header, status", [
    (None, True, None, 200),
    ("s3cret", True, None, 401),
    ("s3cret", True, "Bearer wrong", 403),
    ("s3cret", True, "Bearer s3cret", 200),
    ("s3cret", True, "Bearer ", 401),
    (None, False, None, 403),
    ("s3cret", False, "Bearer s3cret", 403),
])
def test_seed_authorization(config, admin_token, allow_seed, header, status):
    from backend.app import create_app

    config["ADMIN_TOKEN"] = admin_token
    config["ALLOW_SEED"] = allow_seed
    config["PUBLIC_READ"] = True  # the test reads what is stored without a token
    client = create_app(config).test_client()
    post_events(client, event(at("10:00"), "MINE"), status=201)
    headers = {"Authorization": header} if header else {}
    response = client.post("/seed?replace=all", headers=headers)
    if status == 200:
        assert response.status_code == 200
        workers, stations = registered(client)
        assert len(workers) == 6 and len(stations) == 6
        assert "MINE" not in workers  # seeding clears what was there
    else:
        assert_problem(response, status)
        assert registered(client) == (["MINE"], ["S1"])  # nothing was cleared


@pytest.mark.parametrize("header, status", [
    (None, 401), ("Bearer nope", 403), ("Bearer in-key", 201), ("Basic in-key", 401),
])
def test_ingest_token_guards_post_events(config, header, status):
    from backend.app import create_app

    config["INGEST_TOKEN"] = "in-key"
    config["PUBLIC_READ"] = True  # the test reads what is stored without a token
    client = create_app(config).test_client()
    headers = {"Authorization": header} if header else {}
    response = client.post("/events", json=event(at("10:00")), headers=headers)
    if status == 201:
        assert response.status_code == 201
        assert len(stored_events(client)) == 1
    else:
        assert_problem(response, status)
        assert stored_events(client) == []
        assert registered(client) == ([], [])


class TestSeedGuards:
    @pytest.fixture
    def config(self, config):
        config["ADMIN_TOKEN"] = "admin-secret"
        return config

    def test_without_token_is_401(self, client):
        assert_problem(client.post("/seed"), 401)

    def test_wrong_token_is_403(self, client):
        assert_problem(client.post("/seed", headers={"Authorization": "Bearer wrong"}), 403)

    def test_right_token_seeds(self, client):
        assert client.post("/seed", headers={"Authorization": "Bearer admin-secret"}).status_code == 200

    def test_ingest_needs_no_admin_token(self, client):
        post_events(client, event("2026-01-15T08:00:00Z"), status=201)


@pytest.mark.parametrize("tokens", [
    {"INGEST_TOKEN": "edge-key"},
    {"INGEST_TOKENS": "cam-a, cam-b"},
    {"VIEW_TOKENS": "screen-key"},
])
def test_seed_is_refused_outright_when_tokens_are_set_but_no_admin_token(make_client, tokens):
    client = make_client(**tokens)
    for headers in ({}, {"Authorization": "Bearer edge-key"}, {"Authorization": "Bearer anything"}):
        body = assert_problem(client.post("/seed?replace=all", headers=headers), 403)
        assert "ADMIN_TOKEN" in body["detail"]
    assert client.get("/health").get_json()["events"] == 0
    assert client.get("/settings").get_json()["seed"] == {"allowed": False, "needs_token": True}


def test_seed_with_only_an_ingest_token_set_no_longer_wipes_the_plant(make_client):
    # What was seen: `curl -X POST :5000/seed` with no token answered 200 and deleted a plant's
    # events, also when INGEST_TOKEN was set.
    client = make_client(INGEST_TOKEN="edge-key")
    edge = {"Authorization": "Bearer edge-key"}
    post_events(client, event(at("10:00"), "MINE"), headers=edge, status=201)
    for headers in ({}, edge):
        assert_problem(client.post("/seed", headers=headers), 403)
        assert_problem(client.post("/seed?replace=all", headers=headers), 403)
    events = client.get("/events", headers=edge).get_json()["events"]
    assert [e["worker_id"] for e in events] == ["MINE"]


def test_seed_with_an_admin_token_set_needs_it(make_client):
    client = make_client(INGEST_TOKEN="edge-key", ADMIN_TOKEN="admin-key")
    edge = {"Authorization": "Bearer edge-key"}
    post_events(client, event(at("10:00"), "MINE"), headers=edge, status=201)
    assert_problem(client.post("/seed?replace=all"), 401)
    assert_problem(client.post("/seed?replace=all", headers=edge), 403)
    assert client.post("/seed?replace=all", headers={"Authorization": "Bearer admin-key"}).status_code == 200


# --------------------------------------------------------------------------------------------
# §6 Events the demo did not load: 409 unless ?replace=all
# --------------------------------------------------------------------------------------------

def test_seed_refuses_to_delete_events_the_demo_did_not_load(client):
    post_events(client, event(at("10:00"), "MINE"), event(at("10:05"), "MINE"), status=201)
    response = client.post("/seed")
    body = assert_problem(response, 409)
    assert body["other_events"] == 2
    assert "replace=all" in body["detail"] and "delete" in body["detail"]
    assert registered(client) == (["MINE"], ["S1"])
    assert len(stored_events(client)) == 2


def test_replace_all_loads_the_demo_over_other_events(client):
    post_events(client, event(at("10:00"), "MINE"), status=201)
    assert client.post("/seed?replace=all").status_code == 200
    workers, _ = registered(client)
    assert len(workers) == 6 and "MINE" not in workers


def test_the_demo_reloads_over_itself_but_not_over_an_event_stored_after_it(client):
    assert client.post("/seed").status_code == 200
    assert client.post("/seed").status_code == 200  # only the demo's own events would go
    post_events(client, event(at("15:00"), "LATE"), status=201)
    assert assert_problem(client.post("/seed"), 409)["other_events"] == 1
    assert "LATE" in registered(client)[0]


def test_a_demo_loaded_at_start_up_can_be_reloaded(make_client):
    client = make_client(SEED_IF_EMPTY=True)
    assert client.post("/seed").status_code == 200


def test_an_event_sent_again_as_a_duplicate_of_the_demo_does_not_block_a_reload(client):
    client.post("/seed")
    demo_event = stored_events(client)[0]
    body = {key: demo_event[key] for key in ("timestamp", "worker_id", "workstation_id", "event_type", "count",
                                             "confidence", "event_id", "model_version", "site_id")}
    assert post_events(client, body)["duplicates"] == 1
    assert client.post("/seed").status_code == 200


@pytest.mark.parametrize("query", ["replace=yes", "replace=ALL", "replace=" + "a" * 100])
def test_replace_takes_only_all(client, query):
    post_events(client, event(at("10:00"), "MINE"), status=201)
    body = assert_problem(client.post(f"/seed?{query}"), 422)
    assert [error["field"] for error in body["errors"]] == ["replace"]
    assert registered(client) == (["MINE"], ["S1"])


@pytest.mark.sqlite_only
def test_the_check_and_the_load_share_one_write_transaction(client, app, monkeypatch):
    # An event stored by another process after the check but before the load would be lost; the
    # check holds the write lock from the start, so another writer waits for the load to end.
    import sqlite3

    from backend import seed

    client.post("/seed")
    calls = []
    original = seed.other_events

    def watching(conn):
        calls.append(conn.in_transaction)
        other = sqlite3.connect(app.config["DATABASE_PATH"], timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer, right between check and load
        except sqlite3.OperationalError as failure:
            calls.append(str(failure))
        finally:
            other.close()
        return original(conn)

    monkeypatch.setattr(seed, "other_events", watching)
    assert client.post("/seed").status_code == 200
    assert calls == [True, "database is locked"]


def test_seed_can_be_turned_off(make_client):
    client = make_client(ALLOW_SEED=False)
    assert_problem(client.post("/seed"), 403)
    assert client.get("/workers").get_json()["workers"] == []
