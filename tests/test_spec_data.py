"""SPEC §3 Data: the rules for an event as posted, field by field.

Each field's rule from the table of §3 "An event, as posted" through `POST /events`: ids, types,
counts, confidences, the timestamp and its clock-skew limit, and who gets registered.
"""

import pytest

from tests.helpers import (assert_problem, at, event, get_ok, post_events, registered, stations_by_id,
                           stored_events, workers_by_id)


# --------------------------------------------------------------------------------------------
# §3 Field rules
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("event_type, count, accepted", [
    ("product_count", 1, True),
    ("product_count", 250, True),
    ("product_count", True, False),
    ("product_count", False, False),
    ("product_count", 0, False),
    ("product_count", -3, False),
    ("product_count", "3", False),
    ("product_count", 2.5, False),
    ("product_count", None, False),
    ("product_count", [1], False),
    ("working", None, True),
    ("working", 1, False),
    ("idle", 0, False),
    ("absent", False, False),
    ("absent", "1", False),
])
def test_count_rules(client, event_type, count, accepted):
    body = client.post("/events", json=[event(at("10:00"), event_type=event_type, count=count)]).get_json()
    assert body["accepted"] == int(accepted)
    if not accepted:
        assert [e["field"] for e in body["results"][0]["errors"]] == ["count"]


@pytest.mark.parametrize("event_type", ["working", "product_count"])
def test_count_missing_is_required_only_for_product_count(client, event_type):
    raw = event(at("10:00"), event_type=event_type)
    body = client.post("/events", json=raw).get_json()
    assert body["accepted"] == (event_type == "working")


@pytest.mark.parametrize("confidence, accepted", [
    (0, True), (1, True), (0.5, True), (None, True), (1.0, True),
    (-0.01, False), (1.01, False), (2, False), ("0.5", False), ("NaN", False), ("nan", False),
    ("Infinity", False), (True, False), (False, False), ([0.5], False), ({}, False),
])
def test_confidence_rules(client, confidence, accepted):
    body = client.post("/events", json=[event(at("10:00"), confidence=confidence)]).get_json()
    assert body["accepted"] == int(accepted)
    if not accepted:
        assert [e["field"] for e in body["results"][0]["errors"]] == ["confidence"]


@pytest.mark.parametrize("raw_number", ["1e999", "-1e999", "1e-999999"])
def test_confidence_as_an_extreme_json_number_is_checked_not_crashed(client, raw_number):
    text = ('[{"timestamp": "%s", "worker_id": "W1", "workstation_id": "S1", "event_type": "working", '
            '"confidence": %s}]' % (at("10:00"), raw_number))
    response = client.post("/events", data=text, content_type="application/json")
    if raw_number == "1e-999999":  # underflows to 0.0, which is in range
        assert response.status_code == 201
    else:
        assert_problem(response, 422)


@pytest.mark.parametrize("field, value, accepted", [
    ("worker_id", "", False),
    ("worker_id", "x" * 64, True),
    ("worker_id", "x" * 65, False),
    ("worker_id", None, False),
    ("worker_id", True, False),
    ("worker_id", ["W1"], False),
    ("worker_id", {"id": "W1"}, False),
    ("worker_id", 0, True),
    ("workstation_id", "", False),
    ("workstation_id", "s" * 65, False),
    ("workstation_id", 99, True),
    ("event_type", "Working", False),
    ("event_type", "break", False),
    ("event_type", "", False),
    ("event_type", None, False),
    ("event_id", "e" * 128, True),
    ("event_id", "e" * 129, False),
    ("model_version", "m" * 64, True),
    ("model_version", "m" * 65, False),
    ("site_id", "s" * 64, True),
    ("site_id", "s" * 65, False),
    ("site_id", None, True),
    ("timestamp", "", False),
    ("timestamp", "yesterday", False),
    ("timestamp", "2026-13-01T00:00:00Z", False),
    ("timestamp", "2026-01-15T25:00:00Z", False),
    ("timestamp", 1768471200, False),
    ("timestamp", None, False),
    ("timestamp", "99999-01-01T00:00:00Z", False),
    ("timestamp", "2026-01-15T10:00:00.123456+05:30", True),
])
def test_field_rules(client, field, value, accepted):
    raw = event(at("10:00"))
    raw[field] = value
    body = client.post("/events", json=[raw]).get_json()
    assert body["accepted"] == int(accepted), body
    if not accepted:
        assert [e["field"] for e in body["results"][0]["errors"]] == [field]


@pytest.mark.parametrize("field", ["timestamp", "worker_id", "workstation_id", "event_type"])
def test_required_fields_missing_are_rejected(client, field):
    raw = event(at("10:00"))
    del raw[field]
    body = client.post("/events", json=raw).get_json()
    assert body["rejected"] == 1
    assert field in [e["field"] for e in body["results"][0]["errors"]]


def test_every_problem_of_an_event_is_reported(client):
    body = assert_problem(client.post("/events", json=[{}]), 422)
    fields = {e["field"] for e in body["results"][0]["errors"]}
    assert {"timestamp", "worker_id", "workstation_id", "event_type"} <= fields


def test_other_fields_are_ignored(client):
    body = post_events(client, event(at("10:00"), colour="blue", nested={"a": [1, {"b": None}]}), status=201)
    assert body["accepted"] == 1


# --------------------------------------------------------------------------------------------
# §3 Clock skew
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("skew, timestamp, accepted", [
    (None, "2026-01-15T18:05:00Z", True),  # exactly at the limit
    (None, "2026-01-15T18:05:00.001Z", False),
    (None, "2026-01-15T18:05:01Z", False),
    (None, "2026-01-15T20:05:00+02:00", True),
    (None, "2026-01-15T20:05:01+02:00", False),
    (None, "2026-01-15T18:05:00", True),  # no offset: UTC
    (None, "2026-01-15T18:05:01", False),
    (None, "2026-01-16T00:00:00Z", False),
    (None, "2020-01-01T00:00:00Z", True),  # late events are fine
    (0, "2026-01-15T18:00:00Z", True),
    (0, "2026-01-15T18:00:01Z", False),
    (3600, "2026-01-15T19:00:00Z", True),
    (3600, "2026-01-15T19:00:01Z", False),
])
def test_timestamps_too_far_in_the_future_are_rejected(config, skew, timestamp, accepted):
    from backend.app import create_app

    if skew is not None:
        config["CLOCK_SKEW_SECONDS"] = skew
    client = create_app(config).test_client()
    body = client.post("/events", json=[event(timestamp)]).get_json()
    assert body["accepted"] == int(accepted)
    if not accepted:
        assert [e["field"] for e in body["results"][0]["errors"]] == ["timestamp"]
        assert stored_events(client) == []


def test_skew_limit_follows_the_clock(client, clock):
    post_events(client, event("2026-01-15T18:10:00Z"), status=422)
    clock.set("2026-01-15T18:05:00Z")
    post_events(client, event("2026-01-15T18:10:00Z"), status=201)


def test_timestamp_a_fraction_of_a_millisecond_beyond_the_skew_is_rejected(client):
    body = client.post("/events", json=[event("2026-01-15T18:05:00.000500Z")]).get_json()
    assert body["rejected"] == 1


# --------------------------------------------------------------------------------------------
# §3 Ids: integers are their decimal string; new ids are registered
# --------------------------------------------------------------------------------------------

def test_integer_worker_ids_become_strings(client):
    body = post_events(client, event(at("10:00"), 7, workstation_id=12), status=201)
    assert body["accepted"] == 1
    assert registered(client) == (["7"], ["12"])
    assert get_ok(client, "/workers")["workers"] == [{"worker_id": "7", "name": "7"}]
    (stored,) = stored_events(client)
    assert (stored["worker_id"], stored["workstation_id"]) == ("7", "12")
    # The integer and its decimal string are the same worker, hence the same event.
    post_events(client, event(at("10:00"), "7", workstation_id="12"), status=200)
    assert get_ok(client, "/metrics/workers/7")["worker"]["worker_id"] == "7"


def test_unknown_workers_and_stations_are_registered_with_their_id_as_name(client):
    assert get_ok(client, "/workers") == {"workers": []}
    assert get_ok(client, "/workstations") == {"workstations": []}
    post_events(client, event(at("10:00"), "Ana-7", workstation_id="Weld 2"),
                event(at("10:05"), "Ben", event_type="product_count", workstation_id="Pack", count=1),
                status=201)
    assert sorted(get_ok(client, "/workers")["workers"], key=lambda w: w["worker_id"]) == [
        {"worker_id": "Ana-7", "name": "Ana-7"}, {"worker_id": "Ben", "name": "Ben"}]
    assert sorted(get_ok(client, "/workstations")["workstations"], key=lambda s: s["workstation_id"]) == [
        {"workstation_id": "Pack", "name": "Pack"}, {"workstation_id": "Weld 2", "name": "Weld 2"}]
    assert workers_by_id(client)["Ana-7"]["name"] == "Ana-7"
    assert stations_by_id(client)["Weld 2"]["name"] == "Weld 2"


def test_rejected_events_register_nobody(client):
    post_events(client, event(at("10:00"), "W1"), event("bad", "GHOST", workstation_id="NOWHERE"), status=201)
    assert registered(client) == (["W1"], ["S1"])
