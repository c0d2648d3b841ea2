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
    response = client.post("/seed?replace=all")
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
