"""The dashboard's chart endpoints: state intervals and time buckets, by the same time model,
at the resolution they are drawn at."""

from datetime import datetime

import pytest

from backend.metrics import BucketTally, Interval, Window
from tests.helpers import assert_problem, event, post_events, strip_seconds

HOUR = 3_600_000
BASE = 1_768_464_000_000  # 2026-01-15T08:00:00Z, on an hour boundary


def time_buckets(window, bucket_ms, intervals, unit_rows):
    """The buckets of `intervals` with units from `(slot, units)` rows, as the API shows them."""
    tally = BucketTally(window, bucket_ms)
    for interval in intervals:
        tally.add(interval)
    return tally.json(unit_rows)


def test_buckets_split_intervals_at_hour_boundaries():
    window = Window(BASE + HOUR // 2, BASE + 2 * HOUR)  # 08:30-10:00
    intervals = [Interval(BASE + HOUR // 2, BASE + 90 * 60_000, "working", "S1"),
                 Interval(BASE + 90 * 60_000, BASE + 2 * HOUR, "idle", "S1")]
    units = [((BASE + HOUR // 2) // HOUR, 2), ((BASE + 2 * HOUR) // HOUR, 5)]  # the last one at 10:00 exactly
    buckets = time_buckets(window, HOUR, intervals, units)
    assert [(b["from"], b["to"]) for b in buckets] == [
        ("2026-01-15T08:30:00Z", "2026-01-15T09:00:00Z"), ("2026-01-15T09:00:00Z", "2026-01-15T10:00:00Z")]
    assert [(b["active_seconds"], b["idle_seconds"], b["units"]) for b in buckets] == [(1800, 0, 2), (1800, 1800, 5)]
    assert buckets[1]["utilization_pct"] == 50


def test_zero_length_window_has_one_bucket_for_its_units():
    buckets = time_buckets(Window(BASE, BASE), HOUR, [], [(BASE // HOUR, 3)])
    assert len(buckets) == 1 and buckets[0]["units"] == 3


QUERIES = ["", "?from=2026-01-15T07:10:00Z&to=2026-01-15T11:50:00Z", "?site_id=plant-north",
           "?min_confidence=0.6&max_gap_seconds=1500"]


@pytest.mark.parametrize("query", QUERIES)
def test_bucket_sums_equal_the_window_totals(demo_floor, query):
    hourly = demo_floor.get(f"/metrics/hourly{query}").get_json()
    factory = demo_floor.get(f"/metrics/factory{query}").get_json()
    assert hourly["window"] == factory["window"]

    def total(key):
        return round(sum(bucket[key] for bucket in hourly["buckets"]), 3)

    assert total("active_seconds") == factory["factory"]["total_active_seconds"]
    assert total("idle_seconds") == factory["factory"]["total_idle_seconds"]
    assert total("units") == factory["factory"]["total_units"]


@pytest.mark.parametrize("query", QUERIES)
def test_buckets_of_one_worker_and_one_station_add_up_to_their_figures(demo_floor, query):
    joiner = "&" if query else "?"
    workers = demo_floor.get(f"/metrics/workers{query}").get_json()["workers"]
    for worker in workers:
        buckets = demo_floor.get(f"/metrics/hourly{query}{joiner}worker_id={worker['worker_id']}").get_json()["buckets"]
        assert round(sum(b["active_seconds"] for b in buckets), 3) == worker["active_seconds"]
        assert round(sum(b["absent_seconds"] for b in buckets), 3) == worker["absent_seconds"]
        assert sum(b["units"] for b in buckets) == worker["units"]
    for station in demo_floor.get(f"/metrics/workstations{query}").get_json()["workstations"]:
        url = f"/metrics/hourly{query}{joiner}workstation_id={station['workstation_id']}"
        buckets = demo_floor.get(url).get_json()["buckets"]
        assert sum(b["units"] for b in buckets) == station["units"]
        present = sum(b["active_seconds"] + b["idle_seconds"] for b in buckets)
        assert present >= station["occupancy_seconds"]  # two people at once count twice here, once there


STATE_FIGURES = (("working", "active_seconds"), ("idle", "idle_seconds"), ("absent", "absent_seconds"),
                 ("unknown", "unknown_seconds"))


@pytest.mark.parametrize("width", ["", "&width=50", "&width=400", "&width=10000"])
@pytest.mark.parametrize("query", [*QUERIES, "?planned_only=true"])
def test_timeline_adds_up_to_the_worker_figures_at_any_width(demo_floor, query, width):
    joiner = "&" if query else "?"
    timeline = demo_floor.get(f"/metrics/timeline{query}{joiner}{width[1:]}").get_json()
    workers = {w["worker_id"]: w for w in demo_floor.get(f"/metrics/workers{query}").get_json()["workers"]}
    assert [w["worker_id"] for w in timeline["workers"]] == list(workers)
    pixels = int(width[7:] or 2000)
    start, end = (datetime.fromisoformat(timeline["window"][k]).timestamp() for k in ("from", "to"))
    assert timeline["resolution_seconds"] == pytest.approx(-(-round((end - start) * 1000) // pixels) / 1000)
    slots = timeline["slots"] and len(timeline["workers"][0]["slots"])
    for row in timeline["workers"]:
        for state, key in STATE_FIGURES:
            if slots:  # rounded to whole seconds in each slot
                assert strip_seconds(timeline, row, state) == pytest.approx(workers[row["worker_id"]][key],
                                                                            abs=slots / 2)
            else:
                assert round(strip_seconds(timeline, row, state), 3) == workers[row["worker_id"]][key]
        starts = [i["from"] for i in row["intervals"]]
        assert starts == sorted(starts)
        assert len(row["intervals"]) <= 2 * pixels + 1  # at most a few items per pixel
        for band in (i for i in row["intervals"] if i["state"] == "mixed"):
            assert len(band["split"]) >= 1 and band["seconds"] == pytest.approx(sum(band["split"].values()))


def test_short_spells_merge_into_a_band_and_long_ones_stay(client):
    # Each minute a different state for 20 minutes, then 80 minutes of work: over 100 pixels of
    # the 100-minute window a pixel is one minute, so the short spells are kept as they are; over
    # 50 pixels (2 minutes each) they become bands, and the long spell of work stays one interval.
    states = ["working", "idle", "absent"]
    events = [event(f"2026-01-15T08:{m:02d}:00Z", event_type=states[m % 3]) for m in range(20)]
    events.append(event("2026-01-15T08:20:00Z"))
    events.append(event("2026-01-15T09:40:00Z", event_type="absent"))
    post_events(client, *events, status=201)
    fine = client.get("/metrics/timeline?width=100&max_gap_seconds=0").get_json()["workers"][0]["intervals"]
    assert len(fine) == 21 and all(i["state"] != "mixed" for i in fine)
    coarse = client.get("/metrics/timeline?width=50&max_gap_seconds=0").get_json()["workers"][0]["intervals"]
    bands = [i for i in coarse if i["state"] == "mixed"]
    assert len(bands) == 10 and all(i["state"] == "mixed" for i in coarse[:-1])
    assert coarse[-1] == {"from": "2026-01-15T08:20:00Z", "to": "2026-01-15T09:40:00Z", "state": "working",
                          "workstation_id": "S1", "seconds": 4800.0}
    assert bands[0]["from"] == "2026-01-15T08:00:00Z" and bands[-1]["to"] == "2026-01-15T08:20:00Z"
    assert sum(b["split"].get("working", 0) for b in bands) == 7 * 60  # minutes 0, 3, ... 18
    assert sum(b["split"].get("idle", 0) for b in bands) == 7 * 60
    assert sum(b["split"].get("absent", 0) for b in bands) == 6 * 60
    assert all(b["workstation_id"] == "S1" for b in bands)


def test_heartbeats_are_one_spell(client):
    post_events(client, *[event(f"2026-01-15T08:{m:02d}:00Z") for m in range(0, 60, 5)],
                event("2026-01-15T09:00:00Z", event_type="absent"), status=201)
    intervals = client.get("/metrics/timeline").get_json()["workers"][0]["intervals"]
    assert intervals == [{"from": "2026-01-15T08:00:00Z", "to": "2026-01-15T09:00:00Z", "state": "working",
                          "workstation_id": "S1", "seconds": 3600.0}]


@pytest.mark.parametrize("start", ["08:00", "08:20"])
@pytest.mark.parametrize("query", ["", "worker_id=W1&", "min_confidence=0&", "workstation_id=S1&"])
def test_a_run_of_heartbeats_holds_until_the_horizon_after_the_last_of_them(client, query, start):
    # W1 confirms its work every 5 minutes until 08:55, then says nothing until 09:30: with a
    # horizon of 15 minutes the work holds until 09:10, and the 20 minutes after are unknown. W2
    # said it was working at 08:00 only: its work holds until 08:15. From 08:20 the run of W1 is
    # carried in (from the roll-ups of the whole floor, or from the events when filtered).
    post_events(client, *[event(f"2026-01-15T08:{m:02d}:00Z") for m in range(0, 60, 5)],
                event("2026-01-15T09:30:00Z", event_type="absent"),
                event("2026-01-15T08:00:00Z", worker_id="W2"), event("2026-01-15T09:30:00Z", worker_id="W2"),
                status=201)
    query += f"from=2026-01-15T{start}:00Z&max_gap_seconds=900"
    intervals = client.get(f"/metrics/timeline?{query}&width=90").get_json()["workers"][0]["intervals"]
    assert [(i["from"], i["to"], i["state"]) for i in intervals] == [
        (f"2026-01-15T{start}:00Z", "2026-01-15T09:10:00Z", "working"),
        ("2026-01-15T09:10:00Z", "2026-01-15T09:30:00Z", "unknown")]
    hourly = client.get(f"/metrics/hourly?{query}").get_json()["buckets"]
    late = 1200 if start == "08:20" else 0  # the part of the first hour before the window
    if "worker_id" in query:
        w2 = [(0, 0), (0, 0)]
    else:  # W2's work ran out at 08:15, before a window from 08:20
        w2 = [(0, 2400), (0, 1800)] if late else [(900, 2700), (0, 1800)]
    assert [(b["active_seconds"], b["unknown_seconds"]) for b in hourly] == [
        (3600 - late + w2[0][0], w2[0][1]), (600 + w2[1][0], 1200 + w2[1][1])]


def test_timeline_filters_to_one_worker_and_one_station(demo_floor):
    body = demo_floor.get("/metrics/timeline?worker_id=W-02&workstation_id=WS-03").get_json()
    assert [w["worker_id"] for w in body["workers"]] == ["W-02"]
    intervals = body["workers"][0]["intervals"]
    assert intervals and all(i["workstation_id"] == "WS-03" for i in intervals)


def test_long_windows_fall_back_to_day_buckets(client):
    post_events(client, event("2026-01-01T08:00:00Z"), event("2026-01-15T08:00:00Z", event_type="absent"), status=201)
    body = client.get("/metrics/hourly").get_json()
    assert body["bucket_seconds"] == 86_400 and len(body["buckets"]) == 15  # 1 Jan 08:00 to 15 Jan 08:00, by UTC day
    assert client.get("/metrics/hourly?bucket_seconds=3600").get_json()["bucket_seconds"] == 3600


@pytest.mark.parametrize("path, status", [
    ("/metrics/timeline?worker_id=nobody", 404),
    ("/metrics/hourly?workstation_id=nowhere", 404),
    ("/metrics/hourly?bucket_seconds=60&from=2020-01-01T00:00:00Z", 422),
    ("/metrics/timeline?from=soon", 422),
])
def test_chart_queries_fail_clearly(demo_floor, path, status):
    assert_problem(demo_floor.get(path), status)


def test_empty_database_charts_are_empty(client):
    assert client.get("/metrics/hourly").get_json()["buckets"] == []
    assert client.get("/metrics/timeline").get_json() == {"window": {"from": None, "to": None, "seconds": 0},
                                                          "resolution_seconds": 0, "slots": None, "workers": []}


def test_sites_and_settings(demo_floor, make_client):
    sites = demo_floor.get("/sites").get_json()["sites"]
    assert [site["site_id"] for site in sites] == ["plant-north", "plant-south"]
    assert all(set(site) == {"site_id", "name", "time_zone", "shifts"} for site in sites)
    assert demo_floor.get("/settings").get_json() == {"factory_tz": "UTC", "poll_seconds": 5,
                                                  "seed": {"allowed": True, "needs_token": False},
                                                  "reads_need_token": False}
    guarded = make_client(ADMIN_TOKEN="t", FACTORY_TZ="Europe/Berlin", ALLOW_SEED=False)
    assert guarded.get("/settings").get_json()["seed"] == {"allowed": False, "needs_token": True}
    assert guarded.get("/settings").get_json()["factory_tz"] == "Europe/Berlin"
    assert guarded.get("/settings").get_json()["reads_need_token"] is True
    public = make_client(ADMIN_TOKEN="t", PUBLIC_READ=True)
    assert public.get("/settings").get_json()["reads_need_token"] is False


def test_unknown_factory_time_zone_stops_start_up(make_client):
    from backend.errors import StartupError

    with pytest.raises(StartupError, match="Mars/Olympus"):
        make_client(FACTORY_TZ="Mars/Olympus")
