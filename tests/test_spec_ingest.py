"""SPEC §4 Taking events in: `POST /events`.

Body shapes, per-item results and the status rules, duplicates and retries, batch limits, keys
named twice, bodies over the size limit, one transaction per request, and late events counting in
later metrics.
"""

import json

import pytest

from tests.helpers import (
    DAY,
    assert_figures,
    assert_nothing_stored,
    assert_problem,
    at,
    event,
    factory,
    post_chunked,
    post_events,
    post_raw,
    registered,
    stored_events,
    window,
    workers_by_id,
)

# --------------------------------------------------------------------------------------------
# §4 Ingestion: body shapes, per-item results, status rules
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["object", "array", "wrapped"])
def test_the_three_body_shapes_are_accepted(client, shape):
    one = event(at("10:00"))
    body = {"object": one, "array": [one], "wrapped": {"events": [one]}}[shape]
    response = client.post("/events", json=body)
    assert response.status_code == 201
    assert response.get_json() == {"accepted": 1, "duplicates": 0, "rejected": 0,
                                   "results": [{"index": 0, "status": "accepted", "id": 1}]}
    assert len(stored_events(client)) == 1


def test_per_item_results_carry_index_status_id_and_errors(client):
    first = post_events(client, event(at("09:00"), "W0"), status=201)
    original_id = first["results"][0]["id"]
    body = post_events(client,
                       event(at("10:00"), "W1"),
                       event(at("10:00"), "W2", "sleeping"),
                       event(at("09:00"), "W0"),
                       event(at("10:00"), "W1"),
                       status=201)
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 2, 1)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == ["accepted", "rejected", "duplicate", "duplicate"]
    assert set(results[0]) == {"index", "status", "id"} and isinstance(results[0]["id"], int)
    assert set(results[1]) == {"index", "status", "errors"}
    assert [e["field"] for e in results[1]["errors"]] == ["event_type"]
    assert all(set(e) == {"field", "message"} and e["message"] for e in results[1]["errors"])
    assert set(results[2]) == {"index", "status", "id"} and results[2]["id"] == original_id
    assert set(results[3]) == {"index", "status", "id"} and results[3]["id"] == results[0]["id"]
    ids = {e["id"] for e in stored_events(client)}
    assert ids == {original_id, results[0]["id"]}


VALID = event(at("10:00"), "W1")
INVALID = event("not a time", "W1")


@pytest.mark.parametrize("batch, status, counts", [
    ([VALID], 201, (1, 0, 0)),
    ([VALID, INVALID], 201, (1, 0, 1)),
    ([INVALID, VALID], 201, (1, 0, 1)),
    ([VALID, VALID], 201, (1, 1, 0)),
    ([INVALID], 422, (0, 0, 1)),
    ([INVALID, INVALID], 422, (0, 0, 2)),
])
def test_status_follows_accepted_and_rejected_counts(client, batch, status, counts):
    response = client.post("/events", json=batch)
    assert response.status_code == status
    body = assert_problem(response, 422) if status == 422 else response.get_json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == counts
    assert len(body["results"]) == len(batch)


@pytest.mark.parametrize("retry, status, counts", [
    ([VALID], 200, (0, 1, 0)),
    ([VALID, VALID], 200, (0, 2, 0)),
    ([VALID, INVALID], 422, (0, 1, 1)),
    ([VALID, event(at("11:00"))], 201, (1, 1, 0)),
])
def test_status_when_retrying_with_duplicates(client, retry, status, counts):
    post_events(client, VALID, status=201)
    response = client.post("/events", json=retry)
    assert response.status_code == status
    body = assert_problem(response, 422) if status == 422 else response.get_json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == counts


def test_single_object_response_has_the_batch_shape(client):
    response = client.post("/events", json=INVALID)
    body = assert_problem(response, 422)
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (0, 0, 1)
    assert body["results"][0]["status"] == "rejected"
    assert body["results"][0]["index"] == 0
    assert "id" not in body["results"][0]
    assert [e["field"] for e in body["results"][0]["errors"]] == ["timestamp"]


# --------------------------------------------------------------------------------------------
# §4 Duplicates
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("first, second", [
    ("2026-01-15T10:00:00Z", "2026-01-15T12:00:00+02:00"),
    ("2026-01-15T10:00:00Z", "2026-01-15T05:00:00-05:00"),
    ("2026-01-15T10:00:00Z", "2026-01-15T10:00:00"),  # no offset: UTC
    ("2026-01-15T10:00:00Z", "2026-01-15T10:00:00.000Z"),
    ("2026-01-15T10:00:00+00:00", "2026-01-16T00:00:00+14:00"),
    ("2026-01-15T12:00:00+02:00", "2026-01-15T10:00:00Z"),
])
@pytest.mark.parametrize("same_batch", [False, True])
def test_same_instant_in_another_timezone_is_a_duplicate(client, first, second, same_batch):
    if same_batch:
        body = post_events(client, event(first), event(second), status=201)
        assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]
        assert body["results"][1]["id"] == body["results"][0]["id"]
    else:
        original = post_events(client, event(first), status=201)["results"][0]["id"]
        body = post_events(client, event(second), status=200)
        assert body["results"] == [{"index": 0, "status": "duplicate", "id": original}]
    assert [e["timestamp"] for e in stored_events(client)] == [at("10:00")]


@pytest.mark.parametrize("change", [
    {"timestamp": at("10:00:01")},
    {"worker_id": "W2"},
    {"workstation_id": "S2"},
    {"event_type": "idle"},
    {"count": 3},
])
def test_events_differing_in_a_key_field_are_both_kept(client, change):
    base = event(at("10:00"), event_type="product_count", count=2) if "count" in change else event(at("10:00"))
    body = post_events(client, base, {**base, **change}, status=201)
    assert body["accepted"] == 2
    assert len(stored_events(client)) == 2


@pytest.mark.parametrize("change", [
    {"confidence": 0.42}, {"model_version": "v9"}, {"site_id": "other"}, {"ignored_field": [1, 2]},
])
def test_events_differing_only_outside_the_key_are_duplicates(client, change):
    base = event(at("10:00"), confidence=0.9, model_version="v1", site_id="A")
    post_events(client, base, status=201)
    body = post_events(client, {**base, **change}, status=200)
    assert body["duplicates"] == 1
    (stored,) = stored_events(client)
    assert (stored["confidence"], stored["model_version"], stored["site_id"]) == (0.9, "v1", "A")


def test_retries_never_store_twice(client):
    batch = [event(at("10:00")), event(at("10:30"), event_type="product_count", count=4),
             event(at("11:00"), event_type="idle")]
    first = post_events(client, *batch, status=201)
    ids = [r["id"] for r in first["results"]]
    for _ in range(3):
        again = post_events(client, *batch, status=200)
        assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 3, 0)
        assert [r["id"] for r in again["results"]] == ids
    assert len(stored_events(client)) == 3
    assert_figures(workers_by_id(client)["W1"], active_seconds=3600, units=4)


@pytest.mark.parametrize("same_batch", [False, True])
def test_an_event_id_reused_for_another_event_is_rejected_and_nothing_is_overwritten(client, same_batch):
    first = event(at("10:00"), "W1", "working", event_id="cam-1#1")
    second = event(at("11:00"), "W2", "product_count", "S2", count=9, event_id="cam-1#1")
    if same_batch:
        body = post_events(client, first, second, status=201)
        original = body["results"][0]["id"]
        rejected = body["results"][1]
    else:
        original = post_events(client, first, status=201)["results"][0]["id"]
        body = post_events(client, second, status=422)
        rejected = body["results"][0]
    assert rejected["status"] == "rejected"
    assert [e["field"] for e in rejected["errors"]] == ["event_id"]
    assert f"row {original}" in rejected["errors"][0]["message"]
    (stored,) = stored_events(client)
    assert (stored["worker_id"], stored["event_type"], stored["timestamp"]) == ("W1", "working", at("10:00"))
    assert factory(client)["total_units"] == 0


def test_event_without_event_id_duplicates_a_stored_event_that_has_one(client):
    original = post_events(client, event(at("10:00"), event_id="e-1"), status=201)["results"][0]["id"]
    body = post_events(client, event("2026-01-15T11:00:00+01:00"), status=200)
    assert body["results"] == [{"index": 0, "status": "duplicate", "id": original}]


@pytest.mark.parametrize("stored_event_id", ["e-1", None])
def test_event_with_a_new_event_id_is_not_matched_on_its_fields(client, stored_event_id):
    # "when the new one has none": an event that carries an event_id is matched on it alone.
    extra = {"event_id": stored_event_id} if stored_event_id else {}
    post_events(client, event(at("10:00"), **extra), status=201)
    body = post_events(client, event(at("10:00"), event_id="e-2"), status=201)
    assert body["accepted"] == 1
    assert len(stored_events(client)) == 2


def test_later_event_without_id_in_batch_duplicates_earlier_one_with_id(client):
    body = post_events(client, event(at("10:00"), event_id="e-1"), event(at("10:00")), status=201)
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]
    assert body["results"][1]["id"] == body["results"][0]["id"]


def test_instants_are_kept_to_the_millisecond(client):
    # Instants are stored as epoch milliseconds (README: "Instants keep milliseconds").
    body = post_events(client, event("2026-01-15T10:00:00Z"), event("2026-01-15T10:00:00.000400Z"),
                       event("2026-01-15T10:00:00.001Z"), status=201)
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate", "accepted"]


# --------------------------------------------------------------------------------------------
# §4 Batches: each event checked on its own, limits, nothing stored on rejection
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("item", [None, 5, "event", [event(at("10:00"))], True])
def test_non_object_items_are_rejected_without_crashing(client, item):
    body = client.post("/events", json=[event(at("10:00")), item]).get_json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["results"][1]["status"] == "rejected"


@pytest.mark.parametrize("size, wrapped, status", [
    (3, False, 201), (4, False, 413), (3, True, 201), (4, True, 413), (50, False, 413),
])
def test_max_batch_setting_limits_events_per_request(config, size, wrapped, status):
    from backend.app import create_app

    config["MAX_BATCH"] = 3
    client = create_app(config).test_client()
    events = [event(f"{DAY}T10:{i:02d}:00Z") for i in range(size)]
    response = client.post("/events", json={"events": events} if wrapped else events)
    assert response.status_code == status
    if status == 413:
        assert_problem(response, 413)
        assert stored_events(client) == []
        assert registered(client) == ([], [])
    else:
        assert response.get_json()["accepted"] == size


@pytest.mark.parametrize("body", [[], {"events": []}])
def test_empty_batch_is_422(client, body):
    assert_problem(client.post("/events", json=body), 422)


@pytest.mark.parametrize("extra", ["x", 3, None, {"n": 1}])
def test_an_event_with_a_member_named_events_is_an_event(client, extra):
    # Anything else in the object is ignored (SPEC §3), a member named `events` too.
    body = post_events(client, {**event(at("10:00")), "events": extra}, status=201)
    assert body["accepted"] == 1 and len(stored_events(client)) == 1


def test_an_object_both_an_event_and_a_batch_is_422(client):
    both = {**event(at("10:00")), "events": [event(at("10:01"), "W2")]}
    problem = assert_problem(client.post("/events", json=both), 422)
    assert [error["field"] for error in problem["errors"]] == ["events"]
    assert stored_events(client) == []


@pytest.mark.parametrize("kwargs, status", [
    ({"json": [event("bad"), event(at("10:00"), "W2", "sleeping")]}, 422),
    ({"json": []}, 422),
    ({"json": {"events": "nope"}}, 422),
    ({"json": "nope"}, 422),
    ({"data": json.dumps([event(at("10:00"))])[:-3], "content_type": "application/json"}, 400),
    ({"data": json.dumps([event(at("10:00"))])[:-2] + ', "confidence": NaN}]', "content_type": "application/json"},
     400),
])
def test_nothing_is_stored_when_a_request_is_rejected(client, kwargs, status):
    response = client.post("/events", **kwargs)
    assert_problem(response, status)
    assert stored_events(client) == []
    assert registered(client) == ([], [])
    assert window(client) == {"from": None, "to": None, "seconds": 0}


def test_late_event_counts_in_later_metrics(client):
    post_events(client, event(at("10:00"), event_type="working"), event(at("12:00"), event_type="absent"),
                status=201)
    assert workers_by_id(client)["W1"]["active_seconds"] == 7200
    post_events(client, event(at("11:00"), event_type="idle"), status=201)
    assert_figures(workers_by_id(client)["W1"], active_seconds=3600, idle_seconds=3600)


# --------------------------------------------------------------------------------------------
# §4 Keys named twice: the event is rejected, or the whole request when the wrapper names one
# --------------------------------------------------------------------------------------------

def _event_text(worker_id, extra=""):
    """An event as JSON text, with `extra` members written in as they are."""
    return json.dumps(event(at("10:00"), worker_id))[:-1] + extra + "}"


def test_a_key_named_twice_rejects_only_its_event_and_the_others_are_stored(client):
    twice = _event_text("W2", ', "worker_id": "W3"')
    text = f'[{_event_text("W1")}, {twice}, {_event_text("W4")}]'
    body = post_raw(client, text).get_json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    assert body["results"][1]["errors"] == [{"field": "worker_id", "message": "appears more than once"}]
    assert registered(client) == (["W1", "W4"], ["S1"])


@pytest.mark.parametrize("text, field", [
    (f'{{"events": [{_event_text("W1")}], "events": [{_event_text("W2")}]}}', "events"),
    (f'{{"events": [{_event_text("W1")}], "source": "a", "source": "b"}}', "source"),
])
def test_a_key_named_twice_in_the_wrapper_refuses_the_whole_request(client, text, field):
    body = assert_problem(post_raw(client, text), 422)
    assert body["errors"] == [{"field": field, "message": "appears more than once"}]
    assert "results" not in body
    assert_nothing_stored(client)


def test_a_key_named_twice_deeper_inside_an_ignored_field_changes_nothing(client):
    # Only the body and each event object are read key by key; what an ignored field holds is not.
    text = "[" + _event_text("W1", ', "camera": {"lens": 1, "lens": 2, "tags": [{"a": 1, "a": 1}]}') + "]"
    assert post_raw(client, text).status_code == 201


# --------------------------------------------------------------------------------------------
# §4/§7 Body too large: 413 however the body is sent
# --------------------------------------------------------------------------------------------

def _batch_text(count):
    return json.dumps([event(f"{DAY}T10:00:{i % 60:02d}Z", f"W{i}") for i in range(count)]).encode()


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_size_limit_is_413_however_it_is_sent(make_client, chunked):
    client = make_client(MAX_CONTENT_LENGTH=2000)
    text = _batch_text(40)
    assert len(text) > 2000
    response = post_chunked(client, text) if chunked else post_raw(client, text)
    body = assert_problem(response, 413)
    assert "2000 bytes" in body["detail"] and "MAX_BODY_BYTES" in body["detail"]
    assert_nothing_stored(client)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_exactly_at_the_size_limit_is_read(make_client, chunked):
    text = _batch_text(10)
    client = make_client(MAX_CONTENT_LENGTH=len(text))
    response = post_chunked(client, text) if chunked else post_raw(client, text)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["accepted"] == 10
