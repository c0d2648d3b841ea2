"""SPEC §3 Data: the rules for an event as posted, field by field.

Each field's rule from the table of §3 "An event, as posted" through `POST /events`: ids, types,
counts, confidences, the timestamp (RFC 3339, its clock-skew and age limits), the text rule of ids
(NFC, no invisible characters), keys named twice, and who gets registered.
"""

import json
from urllib.parse import quote

import pytest

from tests.helpers import (
    assert_figures,
    assert_problem,
    at,
    event,
    get_ok,
    post_events,
    registered,
    stations_by_id,
    stored_events,
    window,
    workers_by_id,
)

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
    text = f'[{json.dumps(event(at("10:00")))[:-1]}, "confidence": {raw_number}}}]'
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
    (None, "2025-01-15T00:00:00Z", True),  # late events are fine, up to MAX_EVENT_AGE_DAYS
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
    stations = get_ok(client, "/workstations")["workstations"]  # a station may carry more, such as its site
    assert sorted((s["workstation_id"], s["name"]) for s in stations) == [("Pack", "Pack"), ("Weld 2", "Weld 2")]
    assert workers_by_id(client)["Ana-7"]["name"] == "Ana-7"
    assert stations_by_id(client)["Weld 2"]["name"] == "Weld 2"


def test_rejected_events_register_nobody(client):
    post_events(client, event(at("10:00"), "W1"), event("bad", "GHOST", workstation_id="NOWHERE"), status=201)
    assert registered(client) == (["W1"], ["S1"])


# --------------------------------------------------------------------------------------------
# §3 Timestamps: RFC 3339 only, and not older than MAX_EVENT_AGE_DAYS
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("timestamp, stored", [
    ("2026-01-15T10:00:00Z", at("10:00")),
    ("2026-01-15 10:00:00Z", at("10:00")),  # one space for the `T`
    ("2026-01-15t10:00:00z", at("10:00")),  # RFC 3339 §5.6: `T` and `Z` may be lower case
    ("2026-01-15T10:00:00", at("10:00")),  # no offset: UTC
    ("2026-01-15T10:00:00-00:00", at("10:00")),
    ("2026-01-15T11:30:00+01:30", at("10:00")),
    ("2026-01-15T10:00:00.5Z", "2026-01-15T10:00:00.500Z"),
    ("2026-01-15T10:00:00.123456789Z", "2026-01-15T10:00:00.123Z"),  # finer digits are dropped
])
def test_rfc3339_date_times_are_taken(client, timestamp, stored):
    post_events(client, event(timestamp), status=201)
    assert [e["timestamp"] for e in stored_events(client)] == [stored]


@pytest.mark.parametrize("timestamp, reason", [
    ("2026-11-27", "a date alone has no time of day"),
    ("2026-W48-5T10:00:00Z", "week dates are not taken"),
    ("2026-W48-5", "week dates are not taken"),
    ("2026-331T10:00:00Z", "ordinal dates are not taken"),
    ("2026-01-15T24:00:00Z", "has 24:00"),
    ("2026-01-14T24:00:00", "has 24:00"),
    ("2026-12-31T23:59:60Z", "has a leap second (:60)"),
    ("20260115T100000Z", "the basic form without dashes and colons is not taken"),
    ("2026-01-15T10:00Z", "the seconds are missing"),
    ("2026-01-15T10:00:00,5Z", "a fraction of a second is written after a `.`"),
    ("2026-01-15T10:00:00+0200", "an offset is written `+HH:MM`"),
    ("2026-01-15T10:00:00+24:00", "has an offset beyond ±23:59"),
])
def test_iso8601_forms_beyond_rfc3339_are_rejected_saying_why(client, timestamp, reason):
    body = post_events(client, event(timestamp), status=422)
    (error,) = body["results"][0]["errors"]
    assert error["field"] == "timestamp"
    assert reason in error["message"] and repr(timestamp) in error["message"]
    assert stored_events(client) == []


def test_a_date_alone_is_not_taken_as_midnight(client, clock):
    # Seen: "2026-11-27" was stored as midnight and made a worker busy all night.
    clock.set("2026-11-27T18:00:00Z")
    body = post_events(client, event("2026-11-27"), event("2026-11-27T08:00:00Z", event_type="idle"), status=201)
    assert [r["status"] for r in body["results"]] == ["rejected", "accepted"]
    assert workers_by_id(client)["W1"]["active_seconds"] == 0


@pytest.mark.parametrize("timestamp", ["1970-01-01T00:00:00Z", "1970-01-01T00:00:01.5Z", "2000-01-01T00:00:00Z"])
def test_a_camera_clock_fallen_back_is_rejected_as_too_old(client, timestamp):
    body = post_events(client, event(timestamp), event(at("10:00")), status=201)
    assert body["results"][0]["errors"] == [
        {"field": "timestamp", "message": "lies more than 400 days in the past (a camera clock reset?)"}]
    assert [e["timestamp"] for e in stored_events(client)] == [at("10:00")]
    assert window(client)["from"] == at("10:00")


@pytest.mark.parametrize("max_age_days, timestamp, accepted", [
    (None, "2024-12-11T18:00:00Z", True),  # 400 days before the pinned clock, exactly
    (None, "2024-12-11T17:59:59.999Z", False),
    (1, "2026-01-14T18:00:00Z", True),
    (1, "2026-01-14T17:59:59Z", False),
    (20000, "1970-01-01T00:00:00Z", False),  # 20,000 days back is April 1971
    (36500, "1926-02-08T18:00:00Z", False),  # before 1970, which no setting allows
    (36500, "1990-01-01T00:00:00Z", True),
])
def test_max_event_age_days_setting_bounds_how_old_an_event_may_be(make_client, max_age_days, timestamp,
                                                                   accepted):
    client = make_client(**({} if max_age_days is None else {"MAX_EVENT_AGE_DAYS": max_age_days}))
    body = client.post("/events", json=[event(timestamp)]).get_json()
    assert body["accepted"] == int(accepted), body
    if not accepted:
        assert [e["field"] for e in body["results"][0]["errors"]] == ["timestamp"]


def test_too_new_and_too_old_say_which(client):
    body = post_events(client, event("2026-01-15T18:06:00Z"), event("2020-01-01T00:00:00Z"), status=422)
    assert [r["errors"][0]["message"] for r in body["results"]] == [
        "lies more than 300 seconds in the future",
        "lies more than 400 days in the past (a camera clock reset?)"]


# --------------------------------------------------------------------------------------------
# §3 Ids: NFC, no invisible characters, no whitespace at the ends, compared exactly
# --------------------------------------------------------------------------------------------

NFD_RENE = "Rene\u0301"  # "René" with the accent as a separate combining mark
NFC_RENE = "Ren\u00e9"


def test_ids_that_differ_only_by_nfc_and_nfd_are_one_worker(client):
    post_events(client, event(at("10:00"), NFD_RENE, workstation_id=f"Station {NFD_RENE}"),
                event(at("11:00"), NFC_RENE, "idle", workstation_id=f"Station {NFC_RENE}"), status=201)
    assert registered(client) == ([NFC_RENE], [f"Station {NFC_RENE}"])
    assert_figures(workers_by_id(client)[NFC_RENE], active_seconds=3600)
    # The same event sent once in each form is one event.
    post_events(client, event(at("10:00"), NFC_RENE, workstation_id=f"Station {NFD_RENE}"), status=200)


def test_an_id_in_a_path_or_a_query_is_read_in_nfc_as_well(client):
    # What was seen: the NFD spelling of a stored id found nothing in a path or a filter.
    post_events(client, event(at("10:00"), NFD_RENE, workstation_id=f"Station {NFD_RENE}", site_id=NFD_RENE),
                status=201)
    window = {"from": at("09:00"), "to": at("12:00")}
    for spelling in (NFD_RENE, NFC_RENE):
        worker = get_ok(client, f"/metrics/workers/{quote(spelling)}", window)["worker"]
        assert worker["worker_id"] == NFC_RENE
        station = get_ok(client, f"/metrics/workstations/{quote(f'Station {spelling}')}", window)["workstation"]
        assert station["workstation_id"] == f"Station {NFC_RENE}"
        listed = get_ok(client, "/metrics/workers", {"site_id": spelling, **window})["workers"]
        assert [w["worker_id"] for w in listed] == [NFC_RENE]
        assert [e["worker_id"] for e in get_ok(client, "/events", {"worker_id": spelling})["events"]] == [NFC_RENE]
        assert get_ok(client, f"/sites/{quote(spelling)}")["site_id"] == NFC_RENE
    assert client.put(f"/workers/{quote(NFD_RENE)}", json={"name": "Ren\u00e9 B."}).status_code == 200
    assert get_ok(client, "/workers")["workers"] == [{"worker_id": NFC_RENE, "name": "Ren\u00e9 B."}]


def test_ids_are_case_sensitive(client):
    post_events(client, event(at("10:00"), "W1"), event(at("10:00"), "w1"), status=201)
    assert registered(client)[0] == ["W1", "w1"]


@pytest.mark.parametrize("worker_id, code_point", [
    ("W\u200b1", "U+200B ZERO WIDTH SPACE"),
    ("\u202eW1", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("W1\x00", "U+0000"),
    ("\ufeffW1", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ("W\t1", "U+0009"),
    ("W\u20281", "U+2028 LINE SEPARATOR"),
    ("W\ud8001", "U+D800"),
    ("W\ue0001", "U+E000"),
    ("W\ufdd01", "U+FDD0"),
])
def test_invisible_characters_in_ids_are_rejected_naming_the_code_point(client, worker_id, code_point):
    body = post_events(client, event(at("10:00"), worker_id), status=422)
    (error,) = body["results"][0]["errors"]
    assert error["field"] == "worker_id"
    assert error["message"].startswith(f"must not hold {code_point},")
    assert registered(client) == ([], [])


@pytest.mark.parametrize("field", ["worker_id", "workstation_id", "site_id", "model_version", "event_id"])
@pytest.mark.parametrize("value", [" W1", "W1 ", "W1\u00a0", "\u3000W1"])
def test_whitespace_at_either_end_of_an_id_or_label_is_rejected(client, field, value):
    body = post_events(client, event(at("10:00"), **{field: value}), status=422)
    assert body["results"][0]["errors"] == [{"field": field, "message": "must not begin or end with whitespace"}]


@pytest.mark.parametrize("field", ["site_id", "model_version", "event_id"])
def test_labels_follow_the_id_text_rule(client, field):
    body = post_events(client, event(at("10:00"), **{field: "a\u200bb"}),
                       event(at("10:00"), **{field: NFD_RENE}), status=201)
    assert body["results"][0]["status"] == "rejected"
    assert [e[field] for e in stored_events(client)] == [NFC_RENE]


@pytest.mark.parametrize("text, accepted", [
    ("e\u0301" * 64, True),  # 128 code points as sent, 64 once normalised
    ("e\u0301" * 65, False),
    ("\u0958" * 32, True),  # NFC writes this letter as two code points
    ("\u0958" * 33, False),
    ("\U0001f600" * 64, True),  # emoji are text
])
def test_the_id_length_limit_applies_after_nfc(client, text, accepted):
    body = client.post("/events", json=[event(at("10:00"), text)]).get_json()
    assert body["accepted"] == int(accepted), body
    if not accepted:
        assert body["results"][0]["errors"] == [{"field": "worker_id", "message": "must be at most 64 characters"}]


# --------------------------------------------------------------------------------------------
# §3 An object that names one key twice
# --------------------------------------------------------------------------------------------

ONE_EVENT = json.dumps(event(at("10:00")))[1:-1]  # the members, without the braces


@pytest.mark.parametrize("extra, field", [
    (', "worker_id": "W2"', "worker_id"),
    (', "worker_id": "W1"', "worker_id"),  # the same value twice is still refused
    (f', "timestamp": "{at("11:00")}"', "timestamp"),
    (', "colour": 1, "colour": 2', "colour"),  # a field that is otherwise ignored
])
def test_an_event_that_names_a_key_twice_is_rejected(client, extra, field):
    response = client.post("/events", data=f"{{{ONE_EVENT}{extra}}}", content_type="application/json")
    body = assert_problem(response, 422)
    assert body["results"][0]["errors"] == [{"field": field, "message": "appears more than once"}]
    assert stored_events(client) == []


def test_every_instant_written_out_reads_back_as_itself():
    # What the service, the demo loader and the edge simulator write (`format_instant`) is RFC 3339.
    import random

    from backend.timeutil import LATEST_US, format_instant, parse_instant

    rng = random.Random(14)
    for ms in [0, 1, 999, LATEST_US // 1000, *(rng.randrange(LATEST_US // 1000) for _ in range(2000))]:
        assert parse_instant(format_instant(ms)) == ms
