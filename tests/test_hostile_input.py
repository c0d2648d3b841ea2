"""Hostile and strange input to `POST /events` (SPEC §3, §4, §7): every case is refused clearly.

One table: each row is a body as a sender (or an attacker) might write it, the status it gets,
and the fields its problem names. Every answer must be an RFC 9457 problem, and nothing of the
request may be stored. A second table holds odd input that is valid and how it is stored. The
clock is pinned (conftest `NOW`); the limits are set small so oversize bodies stay small.
"""

import http.client
import json
import socket
from dataclasses import dataclass

import pytest

from tests.helpers import (
    assert_nothing_stored,
    assert_problem,
    event,
    get_ok,
    post_chunked,
    post_raw,
    registered,
    stored_events,
)
from tests.servers import Server

MAX_BODY = 64 * 1024
MAX_BATCH = 50
GOOD = event("2026-01-15T10:00:00Z")


class Raw(str):
    """JSON text put into a body as it is: what `json.dumps` would never write."""


def dumps(value):
    """JSON text of `value`; `Raw` text, and `(key, value)` pair lists as objects, kept as written."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, PairList):
        return "{" + ", ".join(f"{json.dumps(key)}: {dumps(item)}" for key, item in value) + "}"
    if isinstance(value, dict):
        return dumps(PairList(value.items()))
    if isinstance(value, list):
        return "[" + ", ".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


class PairList(list):
    """An object written key by key, so that a key can come twice."""


DROP = object()


def with_fields(**changes):
    """A valid event with fields changed (`DROP` leaves one out), as an object."""
    pairs = [(key, changes.pop(key, value)) for key, value in GOOD.items()]
    pairs += list(changes.items())
    return PairList((key, value) for key, value in pairs if value is not DROP)


def batch(*events):
    """The body text of an array of events."""
    return dumps(list(events))


@dataclass
class Case:
    """A body, the status it must get, and the fields its problem's `errors` must name, in order."""

    name: str
    body: object  # str or bytes: the body as sent
    status: int
    fields: tuple = ()
    says: str = ""  # found in the problem's detail or its first error's message
    chunked: bool = False


def field(name, value, says="", status=422):
    """A case: one event whose `name` is `value`, rejected with an error on that field."""
    return Case(f"{name}={dumps(value) if value is not DROP else 'missing'}"[:60],
                batch(with_fields(**{name: value})), status, (f"events[0].{name}",), says)


def stamp(text, says):
    """A case: one event whose timestamp is `text`, rejected saying `says`."""
    return Case(f"timestamp {text!r}"[:60], batch(with_fields(timestamp=text)), 422, ("events[0].timestamp",), says)


DEEP = 5000
CASES = [
    # The body as a whole.
    Case("body over the size limit", batch(*[GOOD] * 1000), 413, says=f"{MAX_BODY} bytes"),
    Case("chunked body over the size limit", batch(*[GOOD] * 1000), 413, says=f"{MAX_BODY} bytes", chunked=True),
    Case("too many events", batch(*[GOOD] * (MAX_BATCH + 1)), 413, says=f"at most {MAX_BATCH}"),
    Case("too many events, wrapped", dumps({"events": [GOOD] * (MAX_BATCH + 1)}), 413, says=f"at most {MAX_BATCH}"),
    Case("arrays nested deeply", "[" * DEEP + "]" * DEEP, 400, says="nested too deeply"),
    Case("objects nested deeply in an event", batch(with_fields(extra=Raw('{"a": ' * DEEP + "1" + "}" * DEEP))),
         400, says="nested too deeply"),
    Case("empty array", "[]", 422, ("events",)),
    Case("empty wrapper", '{"events": []}', 422, ("events",)),
    Case("events not an array", '{"events": {"a": 1}}', 422, ("events",)),
    Case("body a string", '"events"', 422),
    Case("body a number", "42", 422),
    Case("body null", "null", 422),
    Case("truncated JSON", batch(GOOD)[:-5], 400, says="not valid JSON"),
    Case("empty body", "", 400, says="not valid JSON"),
    Case("not UTF-8", b'[{"worker_id": "\xff\xfe"}]', 400, says="not valid JSON"),
    Case("trailing data", batch(GOOD) + " []", 400, says="not valid JSON"),
    Case("single quotes", "[{'timestamp': 1}]", 400, says="not valid JSON"),
    Case("NaN", batch(with_fields(confidence=Raw("NaN"))), 400, says="NaN is not a JSON number"),
    Case("Infinity", batch(with_fields(confidence=Raw("Infinity"))), 400, says="Infinity is not a JSON number"),
    Case("-Infinity", batch(with_fields(confidence=Raw("-Infinity"))), 400, says="-Infinity is not a JSON number"),
    Case("integer beyond Python's digit limit", batch(with_fields(count=Raw("9" * 5000))), 400,
         says="not valid JSON"),
    # Keys named twice.
    Case("`events` twice", dumps(PairList([("events", [GOOD]), ("events", [GOOD])])), 422, ("events",),
         says="more than once"),
    Case("wrapper key twice", dumps(PairList([("events", [GOOD]), ("a", 1), ("a", 1)])), 422, ("a",)),
    Case("single event, key twice", dumps(PairList([*GOOD.items(), ("worker_id", "W2")])), 422,
         ("events[0].worker_id",), says="appears more than once"),
    Case("event key twice, same value", batch(PairList([*GOOD.items(), ("event_type", "working")])), 422,
         ("events[0].event_type",)),
    Case("timestamp twice", batch(PairList([*GOOD.items(), ("timestamp", "2026-01-15T11:00:00Z")])), 422,
         ("events[0].timestamp",)),
    Case("ignored key twice", batch(PairList([*GOOD.items(), ("note", 1), ("note", 2)])), 422,
         ("events[0].note",)),
    Case("two keys twice", batch(PairList([*GOOD.items(), ("worker_id", "W2"), ("count", 1), ("count", 2)])),
         422, ("events[0].worker_id", "events[0].count")),
    # Items that are not event objects.
    Case("item a number", "[5]", 422, ("events[0]",), says="must be a JSON object"),
    Case("item null", "[null]", 422, ("events[0]",)),
    Case("item a string", '["event"]', 422, ("events[0]",)),
    Case("item an array", batch([GOOD]), 422, ("events[0]",)),
    Case("item true", "[true]", 422, ("events[0]",)),
    # Every wrong type per field.
    field("timestamp", DROP, "is required"),
    field("timestamp", None, "is required"),
    field("timestamp", 1768471200, "must be an RFC 3339 date-time string"),
    field("timestamp", True, "must be an RFC 3339 date-time string"),
    field("timestamp", ["2026-01-15T10:00:00Z"], "must be an RFC 3339 date-time string"),
    field("timestamp", {"at": "2026-01-15T10:00:00Z"}, "must be an RFC 3339 date-time string"),
    field("timestamp", "", "at most 64 characters"),
    field("timestamp", "2026-01-15T10:00:00." + "0" * 60 + "Z", "at most 64 characters"),
    field("worker_id", DROP, "is required"),
    field("worker_id", None, "is required"),
    field("worker_id", True, "must be a string (or an integer)"),
    field("worker_id", False, "must be a string (or an integer)"),
    field("worker_id", 1.5, "must be a string (or an integer)"),
    field("worker_id", ["W1"], "must be a string (or an integer)"),
    field("worker_id", {"id": "W1"}, "must be a string (or an integer)"),
    field("worker_id", "", "must not be empty"),
    field("worker_id", Raw("1" + "0" * 70), "at most 64 characters"),  # a huge integer is a long id
    field("workstation_id", DROP, "is required"),
    field("workstation_id", 2.0, "must be a string (or an integer)"),
    field("workstation_id", [], "must be a string (or an integer)"),
    field("workstation_id", "   ", "must not be empty"),
    field("event_type", DROP, "is required"),
    field("event_type", 1, "must be one of"),
    field("event_type", "Working", "must be one of"),
    field("event_type", ["working"], "must be one of"),
    field("event_type", {"working": True}, "must be one of"),
    field("confidence", "0.5", "must be a number"),
    field("confidence", True, "must be a number"),
    field("confidence", False, "must be a number"),
    field("confidence", [0.5], "must be a number"),
    field("confidence", 1.5, "between 0 and 1"),
    field("confidence", -0.1, "between 0 and 1"),
    field("confidence", Raw("1e999"), "between 0 and 1"),
    field("confidence", Raw("1" + "0" * 400), "between 0 and 1"),
    field("count", 1, "only allowed on product_count"),
    Case("count missing", batch(with_fields(event_type="product_count")), 422, ("events[0].count",), "is required"),
    *[Case(f"count={dumps(value)}", batch(with_fields(event_type="product_count", count=value)), 422,
           ("events[0].count",), says)
      for value, says in [(True, "must be an integer"), (False, "must be an integer"), ("3", "must be an integer"),
                          (2.5, "must be an integer"), (0, "between 1 and"), (-1, "between 1 and"),
                          (Raw("1" + "0" * 30), "between 1 and"), (Raw("1e999"), "must be an integer"),
                          ([1], "must be an integer")]],
    field("event_id", 12, "must be a string"),
    field("event_id", True, "must be a string"),
    field("event_id", "", "must not be empty"),
    field("event_id", "e" * 129, "at most 128 characters"),
    field("model_version", 1.0, "must be a string"),
    field("model_version", "m" * 65, "at most 64 characters"),
    field("site_id", ["north"], "must be a string"),
    field("site_id", "", "must not be empty"),
    # Timestamps that are not RFC 3339, or not in time.
    stamp("2026-11-27", "a date alone"),
    stamp("2026-W48-5T10:00:00Z", "week dates"),
    stamp("2026-W03-4", "week dates"),
    stamp("2026-331T10:00:00Z", "ordinal dates"),
    stamp("2026-015", "ordinal dates"),
    stamp("2026-01-15T24:00:00Z", "has 24:00"),
    stamp("2026-01-15T24:00:00", "has 24:00"),
    stamp("2016-12-31T23:59:60Z", "leap second"),
    stamp("2026-01-15T10:00Z", "seconds are missing"),
    stamp("2026-01-15T10Z", "not an RFC 3339 date-time"),
    stamp("2026-01-15T10:00:00,5Z", "after a `.`"),
    stamp("2026-01-15T10:00:00.Z", "not an RFC 3339 date-time"),
    stamp("2026-01-15T10:00:00+2:00", "`+HH:MM`"),
    stamp("2026-01-15T10:00:00+0200", "`+HH:MM`"),
    stamp("2026-01-15T10:00:00+02", "`+HH:MM`"),
    stamp("2026-01-15T10:00:00+24:00", "offset beyond"),
    stamp("2026-01-15T10:00:00-23:60", "offset beyond"),
    stamp("20260115T100000Z", "basic form"),
    stamp("2026-01-15T10:00:00Zjunk", "not an RFC 3339 date-time"),
    stamp("2026-01-15T10:00:00Z ", "not an RFC 3339 date-time"),
    stamp(" 2026-01-15T10:00:00Z", "not an RFC 3339 date-time"),
    stamp("2026-01-15T10:00:00Z\n", "not an RFC 3339 date-time"),
    stamp("2026-01-15T10:00:00 Z", "not an RFC 3339 date-time"),
    stamp("2026-01-15  10:00:00Z", "not an RFC 3339 date-time"),
    stamp("2026-01-15_10:00:00Z", "not an RFC 3339 date-time"),
    stamp("\u0662\u0660\u0662\u0666-01-15T10:00:00Z", "not an RFC 3339 date-time"),  # Arabic-Indic digits
    stamp("+2026-01-15T10:00:00Z", "not an RFC 3339 date-time"),
    stamp("10:00:00Z", "not an RFC 3339 date-time"),
    stamp("2026-02-29T10:00:00Z", "not a calendar date"),
    stamp("2026-13-01T10:00:00Z", "not a calendar date"),
    stamp("2026-01-15T25:00:00Z", "not a time of day"),
    stamp("2026-01-15T10:60:00Z", "not a time of day"),
    stamp("0000-01-01T00:00:00Z", "between 1970-01-01 and 9999-12-31"),
    stamp("1969-12-31T23:59:59Z", "between 1970-01-01 and 9999-12-31"),
    stamp("1970-01-01T00:00:00Z", "400 days in the past (a camera clock reset?)"),
    stamp("2024-12-11T17:59:59Z", "400 days in the past"),
    stamp("2026-01-15T18:05:01Z", "300 seconds in the future"),
    stamp("9999-12-31T23:59:59Z", "300 seconds in the future"),
    # Odd Unicode in ids and labels.
    field("worker_id", "W\u200b1", "U+200B ZERO WIDTH SPACE"),
    field("worker_id", "\u202e1W", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    field("worker_id", "W\u202d1", "U+202D LEFT-TO-RIGHT OVERRIDE"),
    field("worker_id", "W1\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    field("worker_id", "W\x001", "U+0000, a control character"),
    field("worker_id", "W\ud8001", "U+D800, an unpaired surrogate"),
    field("worker_id", "\ufeffW1", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    field("worker_id", "W\u00ad1", "U+00AD SOFT HYPHEN"),
    field("worker_id", "W\u20281", "U+2028 LINE SEPARATOR"),
    field("worker_id", "W\u20291", "U+2029 PARAGRAPH SEPARATOR"),
    field("worker_id", "W\x7f", "U+007F, a control character"),
    field("worker_id", "W\x85", "U+0085, a control character"),
    field("worker_id", "W\ue000", "U+E000, a private-use character"),
    field("worker_id", "W\uffff", "U+FFFF, a noncharacter"),
    field("worker_id", "\U0001f469\u200d\U0001f527", "U+200D ZERO WIDTH JOINER"),  # an emoji sequence
    field("worker_id", "W 1\n", "U+000A, a control character"),
    field("worker_id", " W1", "must not begin or end with whitespace"),
    field("worker_id", "W1\u00a0", "must not begin or end with whitespace"),
    field("worker_id", "\u3000W1", "must not begin or end with whitespace"),
    field("worker_id", "e\u0301" * 65, "at most 64 characters"),  # 130 code points sent, 65 after NFC
    field("worker_id", "\u0958" * 33, "at most 64 characters"),  # 33 sent, 66 after NFC
    field("workstation_id", "S\u200b1", "U+200B"),
    field("workstation_id", "S1\x00", "U+0000"),
    field("site_id", "north\u202e", "U+202E"),
    field("site_id", "\udc00", "U+DC00"),
    field("model_version", "v1\u200b", "U+200B"),
    field("event_id", "cam-1\x00#1", "U+0000"),
    field("event_id", "cam-1\ufeff", "U+FEFF"),
]


@pytest.fixture
def config(config):
    config.update(MAX_CONTENT_LENGTH=MAX_BODY, MAX_BATCH=MAX_BATCH)
    return config


def send(client, case):
    data = case.body.encode() if isinstance(case.body, str) else case.body
    return post_chunked(client, data) if case.chunked else post_raw(client, data)


def test_the_table_is_large_and_its_names_are_unique():
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_is_refused_clearly_and_stores_nothing(client, case):
    response = send(client, case)
    problem = assert_problem(response, case.status)
    assert tuple(error["field"] for error in problem.get("errors", [])) == case.fields
    if case.says:
        assert case.says in problem["detail"] + " ".join(e["message"] for e in problem.get("errors", []))
    if "results" in problem:  # events were read: each one is rejected, none stored
        assert problem["accepted"] == problem["duplicates"] == 0
        assert all(result["status"] == "rejected" for result in problem["results"])
    assert_nothing_stored(client)
    assert get_ok(client, "/metrics/factory")["window"] == {"from": None, "to": None, "seconds": 0}


# Odd input that is valid: what it is stored as.
NFD_E = "e\u0301"
VALID = [
    ("lower-case t and z", with_fields(timestamp="2026-01-15t10:00:00z"), "timestamp", "2026-01-15T10:00:00Z"),
    ("a space for the T", with_fields(timestamp="2026-01-15 10:00:00Z"), "timestamp", "2026-01-15T10:00:00Z"),
    ("no offset is UTC", with_fields(timestamp="2026-01-15T10:00:00"), "timestamp", "2026-01-15T10:00:00Z"),
    ("offset -00:00", with_fields(timestamp="2026-01-15T10:00:00-00:00"), "timestamp", "2026-01-15T10:00:00Z"),
    ("nine fraction digits", with_fields(timestamp="2026-01-15T10:00:00.987654321Z"), "timestamp",
     "2026-01-15T10:00:00.987Z"),
    ("400 days old exactly", with_fields(timestamp="2024-12-11T18:00:00Z"), "timestamp", "2024-12-11T18:00:00Z"),
    ("NFD id stored as NFC", with_fields(worker_id=f"Ren{NFD_E}"), "worker_id", "Ren\u00e9"),
    ("64 characters after NFC", with_fields(worker_id=NFD_E * 64), "worker_id", "\u00e9" * 64),
    ("emoji", with_fields(worker_id="\U0001f477\U0001f3fd"), "worker_id", "\U0001f477\U0001f3fd"),
    ("emoji with a variation selector", with_fields(worker_id="\u2699\ufe0f"), "worker_id", "\u2699\ufe0f"),
    ("inner spaces", with_fields(workstation_id="Weld\u00a0bay 2"), "workstation_id", "Weld\u00a0bay 2"),
    ("other scripts", with_fields(worker_id="\u738b\u82b3"), "worker_id", "\u738b\u82b3"),
    ("huge integer id", with_fields(worker_id=Raw("1" + "0" * 30)), "worker_id", "1" + "0" * 30),
    ("key twice deeper down", with_fields(camera=Raw('{"lens": 1, "lens": 2}')), "worker_id", "W1"),
    ("NFD site", with_fields(site_id=f"Caf{NFD_E}"), "site_id", "Caf\u00e9"),
]


@pytest.mark.parametrize("raw, name, stored", [case[1:] for case in VALID], ids=[case[0] for case in VALID])
def test_odd_but_valid_input_is_stored_in_its_normal_form(client, raw, name, stored):
    response = send(client, Case("", batch(raw), 201))
    assert response.status_code == 201, response.get_json()
    (row,) = stored_events(client)
    assert row[name] == stored


def test_an_id_sent_as_nfd_and_as_nfc_is_one_worker(client):
    send(client, Case("", batch(with_fields(worker_id=f"Ren{NFD_E}")), 201))
    send(client, Case("", batch(with_fields(worker_id="Ren\u00e9", timestamp="2026-01-15T11:00:00Z")), 201))
    assert registered(client) == (["Ren\u00e9"], ["S1"])


@pytest.mark.parametrize("value", ["2026-01-15", "2026-W03-4T10:00:00Z", "2026-01-15T24:00:00Z"])
@pytest.mark.parametrize("param", ["from", "to"])
def test_query_instants_follow_the_same_rule(client, param, value):
    problem = assert_problem(client.get("/metrics/factory", query_string={param: value}), 422)
    assert [error["field"] for error in problem["errors"]] == [param]
    assert "RFC 3339" in problem["errors"][0]["message"] or "24:00" in problem["errors"][0]["message"]


@pytest.mark.parametrize("path", ["/metrics/factory", "/events", "/metrics/shifts"])
def test_a_range_that_ends_before_it_starts_is_422_wherever_a_range_is_taken(client, path):
    problem = assert_problem(client.get(path, query_string={"from": "2026-01-15T10:00:00Z",
                                                            "to": "2026-01-15T09:00:00Z"}), 422)
    assert problem["errors"] == [{"field": "from", "message": "must not be later than `to`"}]


@pytest.mark.parametrize("path, query, field", [
    ("/metrics/factory", "from=2026-01-15T10:00:00Z&from=zzz", "from"),
    ("/events", "limit=5&limit=7", "limit"),
    ("/alerts", "state=open&state=closed", "state"),
])
def test_a_parameter_given_twice_is_422_not_its_first_value(client, path, query, field):
    problem = assert_problem(client.get(f"{path}?{query}"), 422)
    assert problem["errors"] == [{"field": field, "message": "is given 2 times; give it once"}]


@pytest.mark.parametrize("param, value", [
    ("limit", "1_0"), ("limit", "\u0663"), ("limit", " 5"), ("limit", "5 "), ("limit", "0x10"),
    ("min_confidence", "1_0"), ("min_confidence", " 1"), ("min_confidence", "nan"), ("min_confidence", "\u0660.5"),
])
def test_numbers_in_a_query_are_ascii_digits(client, param, value):
    problem = assert_problem(client.get("/events", query_string={param: value}), 422)
    assert [error["field"] for error in problem["errors"]] == [param]
    assert problem["errors"][0]["message"].startswith(("must be an integer, not", "must be a number, not"))


@pytest.mark.parametrize("param, value", [("limit", "+5"), ("limit", "007"), ("min_confidence", ".5"),
                                          ("min_confidence", "5e-1"), ("min_confidence", "-0")])
def test_numbers_written_as_people_and_programs_write_them_are_taken(client, param, value):
    assert client.get("/events", query_string={param: value}).status_code == 200


def test_an_offset_whose_plus_arrived_as_a_space_is_named(client):
    problem = assert_problem(client.get("/metrics/factory?from=2026-01-15T10:00:00+02:00"), 422)
    assert "write an offset's `+` as `%2B`" in problem["errors"][0]["message"]
    assert client.get("/metrics/factory?from=2026-01-15T10:00:00%2B02:00").status_code == 200


def test_a_shift_with_planned_only_false_is_422(client):
    problem = assert_problem(client.get("/metrics/factory", query_string={"shift": "current",
                                                                          "planned_only": "false"}), 422)
    assert [error["field"] for error in problem["errors"]] == ["planned_only"]
    assert client.get("/metrics/factory", query_string={"shift": "current", "planned_only": "true"}).status_code == 200


# A real server: the body reaches gunicorn chunked, and the answer must come back, not a reset.

@pytest.fixture
def server(tmp_path):
    started = Server(tmp_path / "server", MAX_BODY_BYTES="2000", MAX_EVENT_AGE_DAYS="100000").start()
    yield started
    started.stop()


def post_chunks(server, data, chunk_size):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        chunks = (data[start:start + chunk_size] for start in range(0, len(data), chunk_size))
        connection.request("POST", "/events", body=chunks, encode_chunked=True,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("events, chunk_size", [(40, 100), (40, 4096), (400, 8192)])
def test_a_real_server_answers_a_chunked_body_over_the_limit_with_413(server, events, chunk_size):
    data = batch(*[with_fields(event_id=f"e{i}") for i in range(events)]).encode()
    assert len(data) > 2000
    status, content_type, body = post_chunks(server, data, chunk_size)
    assert (status, content_type, body["status"]) == (413, "application/problem+json", 413)
    assert "2000 bytes" in body["detail"]
    assert server.get("/events")["events"] == []
    # Under the limit, the same way of sending is read and stored.
    status, _, body = post_chunks(server, batch(with_fields(event_id="small")).encode(), 100)
    assert (status, body["accepted"]) == (201, 1)


@pytest.mark.parametrize("path, method", [("/events", "POST"), ("/calendar", "PUT")])
def test_a_real_server_answers_a_malformed_chunked_body_with_400_and_closes(server, path, method):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "zz\r\n{}\r\n0\r\n\r\n".encode())
        answer = b""
        while chunk := connection.recv(65536):  # the server closes the connection after its answer
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 400 BAD REQUEST", head
    problem = json.loads(body)
    assert problem["status"] == 400 and "could not be read as sent" in problem["detail"]
    assert server.get("/events")["events"] == []
