"""Taking events in (SPEC §3-4): shapes, validation, statuses, duplicates, tokens."""

import json

import pytest

from tests.helpers import assert_problem, event, post_events


def stored_events(client):
    return client.get("/events?limit=1000").get_json()["events"]


@pytest.mark.parametrize("body", [
    event("2026-01-15T10:00:00Z"),
    [event("2026-01-15T10:00:00Z")],
    {"events": [event("2026-01-15T10:00:00Z")]},
])
def test_every_body_shape_is_taken(client, body):
    response = client.post("/events", json=body)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 0, 0)
    assert body["results"] == [{"index": 0, "status": "accepted", "id": body["results"][0]["id"]}]
    assert isinstance(body["results"][0]["id"], int)


def test_mixed_batch_reports_each_event_and_stores_the_valid_ones(client):
    body = post_events(client,
                       event("2026-01-15T10:00:00Z"),
                       event("not a time"),
                       event("2026-01-15T10:05:00Z", event_type="product_count", count=3),
                       status=201)
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 1)
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    assert body["results"][1]["errors"] == [
        {"field": "timestamp", "message": "is not an RFC 3339 date-time (such as 2026-01-15T10:00:00Z): 'not a time'"}]
    assert "id" not in body["results"][1] and "errors" not in body["results"][0]
    assert len(stored_events(client)) == 2


def test_only_duplicates_answer_200(client):
    post_events(client, event("2026-01-15T10:00:00Z"), status=201)
    body = post_events(client, event("2026-01-15T10:00:00Z"), status=200)
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (0, 1, 0)


def test_all_rejected_answers_422_problem_with_every_reason(client):
    response = client.post("/events", json=[{"worker_id": "", "event_type": "dancing", "count": 0}, 7])
    body = assert_problem(response, 422)
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (0, 0, 2)
    first = {e["field"] for e in body["results"][0]["errors"]}
    assert first == {"timestamp", "worker_id", "workstation_id", "event_type"}
    assert body["results"][1]["errors"] == [{"field": None, "message": "an event must be a JSON object"}]
    assert {"field": "events[1]", "message": "an event must be a JSON object"} in body["errors"]
    assert stored_events(client) == []


@pytest.mark.parametrize("fields, field, message", [
    ({"timestamp": 1700000000}, "timestamp", "must be an RFC 3339 date-time string, such as 2026-01-15T10:00:00Z"),
    ({"timestamp": "2026-13-45T10:00:00Z"}, "timestamp", "is not a calendar date: '2026-13-45T10:00:00Z'"),
    ({"timestamp": "2026-01-15"}, "timestamp", "is not an RFC 3339 date-time (a date alone has no time of day): "
                                               "'2026-01-15'"),
    ({"timestamp": "2024-11-10T10:00:00Z"}, "timestamp",
     "lies more than 400 days in the past (a camera clock reset?)"),
    ({"worker_id": None}, "worker_id", "is required"),
    ({"worker_id": "   "}, "worker_id", "must not be empty"),
    ({"worker_id": "w" * 65}, "worker_id", "must be at most 64 characters"),
    ({"worker_id": True}, "worker_id", "must be a string (or an integer)"),
    ({"workstation_id": ["S1"]}, "workstation_id", "must be a string (or an integer)"),
    ({"event_type": "Working"}, "event_type", "must be one of working, idle, absent, product_count"),
    ({"event_type": "product_count"}, "count", "is required for product_count events"),
    ({"event_type": "product_count", "count": 0}, "count", "must be between 1 and 1000000000"),
    ({"event_type": "product_count", "count": 2.5}, "count", "must be an integer"),
    ({"event_type": "product_count", "count": True}, "count", "must be an integer"),
    ({"event_type": "product_count", "count": "3"}, "count", "must be an integer"),
    ({"event_type": "product_count", "count": 10**30}, "count", "must be between 1 and 1000000000"),
    ({"count": 1}, "count", "is only allowed on product_count events"),
    ({"confidence": 1.5}, "confidence", "must be between 0 and 1"),
    ({"confidence": -0.1}, "confidence", "must be between 0 and 1"),
    ({"confidence": "high"}, "confidence", "must be a number between 0 and 1"),
    ({"confidence": False}, "confidence", "must be a number between 0 and 1"),
    ({"event_id": 12}, "event_id", "must be a string"),
    ({"event_id": "e" * 129}, "event_id", "must be at most 128 characters"),
    ({"model_version": "m" * 65}, "model_version", "must be at most 64 characters"),
    ({"site_id": ""}, "site_id", "must not be empty (leave it out instead)"),
    ({"worker_id": "W\ud800"}, "worker_id", "must not hold U+D800, an unpaired surrogate, which is not Unicode text"),
    ({"event_id": "e-\udfff"}, "event_id", "must not hold U+DFFF, an unpaired surrogate, which is not Unicode text"),
    ({"site_id": "\ud83d"}, "site_id", "must not hold U+D83D, an unpaired surrogate, which is not Unicode text"),
    ({"worker_id": "W\u200b1"}, "worker_id", "must not hold U+200B ZERO WIDTH SPACE, an invisible format character"),
    ({"workstation_id": "S\x001"}, "workstation_id", "must not hold U+0000, a control character"),
    ({"worker_id": " W1"}, "worker_id", "must not begin or end with whitespace"),
    ({"model_version": "v1\u2028"}, "model_version", "must not hold U+2028 LINE SEPARATOR, a line separator"),
])
def test_invalid_field_is_rejected_with_its_reason(client, fields, field, message):
    body = {**event("2026-01-15T10:00:00Z"), **fields}
    response = client.post("/events", json=body)
    assert_problem(response, 422)
    assert response.get_json()["results"][0]["errors"] == [{"field": field, "message": message}]


@pytest.mark.parametrize("fields, stored", [
    ({"worker_id": 17, "workstation_id": 3}, {"worker_id": "17", "workstation_id": "3"}),
    ({"event_type": "product_count", "count": 4.0}, {"count": 4}),
    ({"confidence": 1}, {"confidence": 1.0}),
    ({"confidence": None, "count": None}, {"confidence": None, "count": None}),
    ({"timestamp": "2026-01-15T10:00:00"}, {"timestamp": "2026-01-15T10:00:00Z"}),
    ({"timestamp": "2026-01-15T12:00:00.250+02:00"}, {"timestamp": "2026-01-15T10:00:00.250Z"}),
    ({"unknown_field": "ignored"}, {}),
])
def test_valid_values_are_normalised_when_stored(client, fields, stored):
    post_events(client, {**event("2026-01-15T10:00:00Z"), **fields}, status=201)
    row = stored_events(client)[0]
    for key, value in stored.items():
        assert row[key] == value
    assert "unknown_field" not in row


def test_timestamp_beyond_the_clock_skew_is_rejected(client, clock):
    clock.set("2026-01-15T18:00:00Z")
    body = post_events(client,
                       event("2026-01-15T18:05:00Z"),  # exactly the 300 s allowed
                       event("2026-01-15T18:05:00.001Z"),
                       status=201)
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected"]
    assert body["results"][1]["errors"][0] == {"field": "timestamp",
                                               "message": "lies more than 300 seconds in the future"}


def test_duplicate_across_timezones_is_one_event(client):
    first = post_events(client, event("2026-01-15T10:00:00Z"), status=201)
    again = post_events(client, event("2026-01-15T12:00:00+02:00"), status=200)
    assert again["results"][0] == {"index": 0, "status": "duplicate", "id": first["results"][0]["id"]}
    assert len(stored_events(client)) == 1


def test_duplicate_inside_one_batch_points_at_the_first(client):
    body = post_events(client,
                       event("2026-01-15T10:00:00Z"),
                       event("2026-01-15T05:00:00-05:00"),
                       event("2026-01-15T10:00:00Z", event_type="idle"),
                       status=201)
    first, second, third = body["results"]
    assert second == {"index": 1, "status": "duplicate", "id": first["id"]}
    assert third["status"] == "accepted"
    assert (body["accepted"], body["duplicates"]) == (2, 1)


def test_duplicate_retry_is_not_counted_twice(client):
    batch = [event("2026-01-15T10:00:00Z"), event("2026-01-15T10:10:00Z", event_type="product_count", count=2)]
    for _ in range(3):
        client.post("/events", json=batch)
    worker = client.get("/metrics/workers/W1").get_json()["worker"]
    assert worker["units"] == 2
    assert len(stored_events(client)) == 2


def test_same_event_id_for_the_same_event_is_a_duplicate_whatever_else_it_carries(client):
    first = post_events(client, event("2026-01-15T10:00:00Z", event_id="cam7-001", confidence=0.9), status=201)
    body = post_events(client, event("2026-01-15T10:00:00Z", event_id="cam7-001", confidence=0.5,
                                     model_version="m2"), status=200)
    assert body["results"][0] == {"index": 0, "status": "duplicate", "id": first["results"][0]["id"]}


@pytest.mark.parametrize("change", [
    {"timestamp": "2026-01-15T11:00:00Z"}, {"worker_id": "W2"}, {"workstation_id": "S2"},
    {"event_type": "idle"}, {"event_type": "product_count", "count": 1},
])
def test_event_id_reused_for_another_event_is_rejected_naming_the_stored_row(client, change):
    first = post_events(client, event("2026-01-15T10:00:00Z", event_id="cam7-001"), status=201)
    body = post_events(client, event("2026-01-15T10:00:00Z", event_id="cam7-001") | change, status=422)
    row = first["results"][0]["id"]
    assert body["results"] == [{"index": 0, "status": "rejected", "errors": [
        {"field": "event_id", "message": f"is stored already for another event (row {row}): "
                                         "an event_id must name one event"}]}]
    assert [e["event_type"] for e in stored_events(client)] == ["working"]


def test_event_id_reused_inside_one_batch_for_another_event_rejects_only_that_event(client):
    body = post_events(client, event("2026-01-15T10:00:00Z", event_id="x"),
                       event("2026-01-15T10:05:00Z", event_id="x"), status=201)
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected"]
    assert "row 1" in body["results"][1]["errors"][0]["message"]


def test_different_event_ids_at_one_instant_are_two_events(client):
    body = post_events(client,
                       event("2026-01-15T10:00:00Z", event_id="a"),
                       event("2026-01-15T10:00:00Z", event_id="b"),
                       status=201)
    assert body["accepted"] == 2


def test_event_without_id_matching_a_stored_event_with_id_is_a_duplicate(client):
    first = post_events(client, event("2026-01-15T10:00:00Z", event_id="a"), status=201)
    body = post_events(client, event("2026-01-15T10:00:00Z"), status=200)
    assert body["results"][0]["id"] == first["results"][0]["id"]


def test_count_is_part_of_the_natural_key(client):
    body = post_events(client,
                       event("2026-01-15T10:00:00Z", event_type="product_count", count=1),
                       event("2026-01-15T10:00:00Z", event_type="product_count", count=2),
                       status=201)
    assert body["accepted"] == 2


def test_unknown_workers_and_stations_are_registered_on_first_sight(client):
    post_events(client, event("2026-01-15T10:00:00Z", worker_id="W9", workstation_id="Press 4"), status=201)
    assert client.get("/workers").get_json() == {"workers": [{"worker_id": "W9", "name": "W9"}]}
    stations = client.get("/workstations").get_json()["workstations"]
    assert [(s["workstation_id"], s["name"]) for s in stations] == [("Press 4", "Press 4")]


def test_rejected_events_register_nobody(client):
    client.post("/events", json=event("bad", worker_id="ghost"))
    assert client.get("/workers").get_json() == {"workers": []}


def test_empty_batch_is_422(client):
    for body in ([], {"events": []}):
        assert_problem(client.post("/events", json=body), 422)


@pytest.mark.parametrize("body", ['"just text"', "42", "null", '{"events": {"a": 1}}'])
def test_body_of_the_wrong_shape_is_422(client, body):
    assert_problem(client.post("/events", data=body), 422)


def test_huge_number_is_rejected_not_crashed_on(client):
    body = '{"timestamp": "2026-01-15T10:00:00Z", "worker_id": "W1", "workstation_id": "S1", ' \
           '"event_type": "working", "confidence": 1e400}'
    response = client.post("/events", data=body, content_type="application/json")
    assert_problem(response, 422)
    assert response.get_json()["results"][0]["errors"] == [
        {"field": "confidence", "message": "must be between 0 and 1"}]


def test_batch_over_the_limit_is_413_and_stores_nothing(make_client):
    client = make_client(MAX_BATCH=3)
    batch = [event(f"2026-01-15T10:0{i}:00Z") for i in range(4)]
    assert_problem(client.post("/events", json=batch), 413)
    assert stored_events(client) == []
    assert client.post("/events", json=batch[:3]).status_code == 201


def test_late_and_out_of_order_events_count(client):
    post_events(client, event("2026-01-15T10:30:00Z", event_type="idle"),
                event("2026-01-15T11:00:00Z", event_type="absent"), status=201)
    post_events(client, event("2026-01-15T10:00:00Z"), status=201)  # arrives late
    worker = client.get("/metrics/workers/W1").get_json()["worker"]
    assert (worker["active_seconds"], worker["idle_seconds"]) == (1800, 1800)


class TestIngestToken:
    @pytest.fixture
    def config(self, config):
        config["INGEST_TOKEN"] = "edge-secret"
        return config

    def test_missing_token_is_401(self, client):
        response = client.post("/events", json=event("2026-01-15T10:00:00Z"))
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"

    def test_wrong_token_is_403(self, client):
        response = client.post("/events", json=event("2026-01-15T10:00:00Z"),
                               headers={"Authorization": "Bearer nope"})
        assert_problem(response, 403)
        # Reading needs a token too once one is set (SPEC §7); the ingest token is one.
        feed = client.get("/events", headers={"Authorization": "Bearer edge-secret"}).get_json()
        assert feed["events"] == []

    def test_right_token_is_accepted(self, client):
        response = client.post("/events", json=event("2026-01-15T10:00:00Z"),
                               headers={"Authorization": "Bearer edge-secret"})
        assert response.status_code == 201


def test_a_batch_of_new_event_ids_is_numbered_in_order_with_its_own_repeats(client):
    post_events(client, event("2026-01-15T09:00:00Z", event_id="before"), status=201)
    body = post_events(client,
                       event("2026-01-15T10:00:00Z", event_id="e1"),
                       event("2026-01-15T10:01:00Z", worker_id="W2", workstation_id="S2", event_id="e2"),
                       event("2026-01-15T10:00:00Z", event_id="e1"),
                       event("2026-01-15T10:02:00Z", event_type="product_count", count=2, event_id="e3",
                             site_id="north"),
                       status=201)
    first = body["results"][0]["id"]
    assert [(r["status"], r["id"] - first) for r in body["results"]] == [
        ("accepted", 0), ("accepted", 1), ("duplicate", 0), ("accepted", 2)]
    assert (body["accepted"], body["duplicates"]) == (3, 1)
    stored = {e["event_id"]: e["id"] for e in stored_events(client)}
    assert stored == {"before": first - 1, "e1": first, "e2": first + 1, "e3": first + 2}
    assert [w["worker_id"] for w in client.get("/workers").get_json()["workers"]] == ["W1", "W2"]
    assert [site["site_id"] for site in client.get("/sites").get_json()["sites"]] == ["north"]


def test_a_stored_event_id_late_in_a_batch_keeps_the_new_ones_before_it_once(client):
    original = post_events(client, event("2026-01-15T09:00:00Z", event_id="e1"), status=201)["results"][0]["id"]
    body = post_events(client,
                       event("2026-01-15T10:00:00Z", event_id="e2"),
                       event("2026-01-15T10:01:00Z", worker_id="W2", workstation_id="S2", event_id="e3"),
                       event("2026-01-15T09:00:00Z", event_id="e1"),
                       event("2026-01-15T10:02:00Z", event_type="idle", event_id="e4"),
                       status=201)
    assert [(r["status"], r["id"]) for r in body["results"]] == [
        ("accepted", original + 1), ("accepted", original + 2), ("duplicate", original), ("accepted", original + 3)]
    assert {e["event_id"]: e["id"] for e in stored_events(client)} == {
        "e1": original, "e2": original + 1, "e3": original + 2, "e4": original + 3}


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_are_read_exactly(client, number):
    # An integer id is taken as its decimal string, however long; a count that large is named as too large.
    body = json.dumps([event("2026-01-15T10:00:00Z", worker_id=number),
                       {**event("2026-01-15T10:00:00Z", event_type="product_count"), "count": number}])
    response = client.post("/events", data=body, content_type="application/json")
    assert response.status_code == 201
    accepted, rejected = response.get_json()["results"]
    assert accepted["status"] == "accepted"
    assert [e["worker_id"] for e in stored_events(client)] == [str(number)]
    assert [error["field"] for error in rejected["errors"]] == ["count"]
    assert rejected["errors"][0]["message"] == "must be between 1 and 1000000000"


def test_what_the_fast_json_reader_refuses_the_standard_library_decides(client):
    # A lone surrogate is valid JSON to the standard library: validation names it.
    body = json.dumps(event("2026-01-15T10:00:00Z", worker_id="W\ud800"))
    problem = assert_problem(client.post("/events", data=body, content_type="application/json"), 422)
    assert [error["field"] for error in problem["errors"]] == ["events[0].worker_id"]
    # NaN is not JSON to either.
    body = json.dumps(event("2026-01-15T10:00:00Z", confidence=float("nan")))
    assert "NaN is not a JSON number" in assert_problem(
        client.post("/events", data=body, content_type="application/json"), 400)["detail"]


def test_a_confidence_too_large_for_a_float_is_rejected_not_an_error(client):
    body = json.dumps({**event("2026-01-15T10:00:00Z"), "confidence": 10**400})
    problem = assert_problem(client.post("/events", data=body, content_type="application/json"), 422)
    assert problem["errors"] == [{"field": "events[0].confidence", "message": "must be between 0 and 1"}]


# The registers ingestion writes, and the columns of each that these tests look at.
NAME_TABLES = {"workers": "worker_id, name", "workstations": "workstation_id, name", "site_members": "*",
               "worker_state_days": "*"}


def registered(conn):
    """Every worker, station, site member and state day the database holds."""
    return {table: {tuple(row) for row in conn.execute(f"SELECT {columns} FROM {table}")}
            for table, columns in NAME_TABLES.items()}


def test_a_connection_registers_names_again_once_another_cleared_everything(tmp_path):
    from backend import db, ingest, seed

    path = str(tmp_path / "clear.db")
    db.init_db(path)
    writer, other = db.connect(path), db.connect(path)
    now_ms = 1_800_000_000_000
    first = event("2026-01-15T10:00:00Z", event_id="e1", site_id="north")
    ingest.ingest(writer, [first], now_ms, 0)
    names = registered(writer)
    seed.load_demo(other, now_ms, replace_all=True)  # another process clears everything and loads the demo
    assert ("W1", "W1") not in registered(writer)["workers"]
    # The writer registered W1, S1, north and the day before; after the clear it must again.
    ingest.ingest(writer, [event("2026-01-15T10:00:00Z", event_id="e2", site_id="north")], now_ms, 0)
    after = registered(writer)
    for table, rows in names.items():
        assert rows <= after[table], table
    writer.close()
    other.close()


def test_names_of_a_batch_that_was_undone_are_registered_by_the_next_one(tmp_path):
    import sqlite3

    from backend import db, ingest

    path = str(tmp_path / "undone.db")
    db.init_db(path)
    conn = db.connect(path)
    now_ms = 1_800_000_000_000
    # The batch fails (the checked way registers its names, then inserts) and is undone.
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.worker_id = 'W9' "
                 "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.IntegrityError):
        ingest.ingest(conn, [event("2026-01-15T10:00:00Z", event_id="e1", worker_id="W9", site_id="north")],
                      now_ms, 0)
    assert registered(conn) == {"workers": set(), "workstations": set(), "site_members": set(),
                                "worker_state_days": set()}
    conn.execute("DROP TRIGGER refuse")
    ingest.ingest(conn, [event("2026-01-15T10:05:00Z", event_id="e2", worker_id="W9", site_id="north")], now_ms, 0)
    day = 1768471500000 // ingest.queries.DAY_MS  # 2026-01-15T10:05:00Z
    assert registered(conn) == {"workers": {("W9", "W9")}, "workstations": {("S1", "S1")},
                                "site_members": {("north", "W9", "S1")}, "worker_state_days": {("W9", day)}}
    conn.close()
