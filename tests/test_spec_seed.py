"""SPEC §6 Demo data: `POST /seed`, a realistic, deterministic floor behind its guards.

Also the last rule of §6: when `INGEST_TOKEN` is set, `POST /events` needs it the same way.
"""

import pytest

from backend import seed
from tests.helpers import (METRICS_LIST_PATHS, assert_problem, at, event, get_ok, post_events, registered,
                           stored_events)


METRICS = METRICS_LIST_PATHS


# --------------------------------------------------------------------------------------------
# §6 The demo floor: current, realistic, deterministic
# --------------------------------------------------------------------------------------------

def test_seeding_twice_gives_identical_metrics(client):
    assert client.post("/seed").status_code == 200
    first = [get_ok(client, path) for path in METRICS_LIST_PATHS]
    assert client.post("/seed").status_code == 200
    second = [get_ok(client, path) for path in METRICS_LIST_PATHS]
    assert first == second
    assert first[0]["factory"]["total_units"] > 0


def test_seed_replaces_everything_with_the_demo_floor(client):
    post_events(client, event("2026-01-10T08:00:00Z", worker_id="stray"), status=201)
    response = client.post("/seed")
    assert response.status_code == 200
    body = response.get_json()
    assert body["seeded"] is True and body["workers"] == 6 and body["workstations"] == 6
    assert (body["from"], body["to"]) == ("2026-01-15T06:00:00Z", "2026-01-15T14:00:00Z")
    workers = client.get("/workers").get_json()["workers"]
    assert len(workers) == 6 and "stray" not in {w["worker_id"] for w in workers}
    assert len(client.get("/workstations").get_json()["workstations"]) == 6


def test_seeding_again_gives_the_same_metrics(client):
    client.post("/seed")
    first = [client.get(path).get_json() for path in METRICS]
    client.post("/seed")
    assert [client.get(path).get_json() for path in METRICS] == first


def test_demo_floor_looks_like_a_real_shift(client):
    client.post("/seed")
    body = client.get("/metrics/workers").get_json()
    assert body["window"]["seconds"] == 8 * 3600
    for worker in body["workers"]:
        assert worker["active_seconds"] > 4 * 3600, worker
        assert worker["idle_seconds"] > 0 and worker["absent_seconds"] > 0 and worker["units"] > 0
        assert 50 < worker["utilization_pct"] < 100
    stations = client.get("/metrics/workstations").get_json()["workstations"]
    assert all(0 < s["utilization_pct"] <= 100 and s["units"] > 0 for s in stations)


def test_demo_events_cover_what_a_floor_produces():
    events = seed.demo_events(0)
    assert {e["event_type"] for e in events} == {"working", "idle", "absent", "product_count"}
    assert {e["model_version"] for e in events} == {seed.OLD_MODEL, seed.NEW_MODEL}
    assert {e["site_id"] for e in events} == {"plant-north", "plant-south"}
    confidences = [e["confidence"] for e in events]
    assert min(confidences) < 0.6 and max(confidences) > 0.95
    stations_per_worker = {}
    for e in events:
        stations_per_worker.setdefault(e["worker_id"], set()).add(e["workstation_id"])
    assert any(len(stations) > 1 for stations in stations_per_worker.values())  # station changes
    assert len({e["event_id"] for e in events}) == len(events)


def test_demo_has_two_people_at_one_station_at_once(client):
    client.post("/seed")
    window = "from=2026-01-15T07:30:00Z&to=2026-01-15T07:50:00Z"
    welding = client.get(f"/metrics/workstations/WS-02?{window}").get_json()["workstation"]
    present = 0
    for worker_id in ("W-02", "W-03"):  # both at welding throughout this window
        worker = client.get(f"/metrics/workers/{worker_id}?{window}").get_json()["worker"]
        assert worker["current_workstation_id"] == "WS-02"
        present += worker["active_seconds"] + worker["idle_seconds"]
    # Their time together counts once: the station holds less than the sum of their time.
    assert 0 < welding["occupancy_seconds"] < present
    assert welding["utilization_pct"] <= 100


@pytest.mark.parametrize("now, start", [
    ("2026-01-15T18:00:00Z", "2026-01-15T06:00:00Z"),
    ("2026-01-15T14:00:00Z", "2026-01-15T06:00:00Z"),
    ("2026-01-15T13:59:59Z", "2026-01-14T06:00:00Z"),
    ("2026-01-15T02:00:00Z", "2026-01-14T06:00:00Z"),
])
def test_demo_shift_is_the_latest_that_has_ended(now, start):
    from backend.timeutil import format_instant, parse_instant

    assert format_instant(seed.shift_start_ms(parse_instant(now))) == start


def test_seed_if_empty_loads_once_and_never_over_data(make_client):
    client = make_client(SEED_IF_EMPTY=True)
    assert len(client.get("/workers").get_json()["workers"]) == 6
    kept = make_client(SEED_IF_EMPTY=False)
    post_events(kept, event("2026-01-15T08:00:00Z"), status=201)
    path = kept.application.config["DATABASE_PATH"]
    reopened = make_client(SEED_IF_EMPTY=True, DATABASE_PATH=path)
    assert reopened.get("/workers").get_json()["workers"] == [{"worker_id": "W1", "name": "W1"}]


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
    client = create_app(config).test_client()
    post_events(client, event(at("10:00"), "MINE"), status=201)
    headers = {"Authorization": header} if header else {}
    response = client.post("/seed", headers=headers)
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


def test_seed_can_be_turned_off(make_client):
    client = make_client(ALLOW_SEED=False)
    assert_problem(client.post("/seed"), 403)
    assert client.get("/workers").get_json()["workers"] == []
