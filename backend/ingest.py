"""Taking events in (SPEC §3-4): validate each event on its own, then store the new ones at once."""

import json
import math
import unicodedata
from collections import Counter
from typing import NamedTuple

from . import metrics, queries, rollups
from .db import OperationalError, write_together
from .errors import ApiError, field_error
from .timeutil import parse_instant_us

STATE_TYPES = metrics.STATE_TYPES
EVENT_TYPES = (*STATE_TYPES, "product_count")
# The fields every event names (SPEC §3): an object with any of them is an event, not a wrapper.
REQUIRED_FIELDS = ("timestamp", "worker_id", "workstation_id", "event_type")
MAX_ID_LENGTH = 64
MAX_EVENT_ID_LENGTH = 128
# A single camera event counting more units than this is a fault, and sums must stay in 64 bits.
MAX_COUNT = 1_000_000_000
REPEATED = "appears more than once"
# Characters ids and labels must not hold, by Unicode category: invisible, or not text at all, so
# two ids that look the same would be two workers. Unassigned code points (`Cn`) are let through,
# as a newer Unicode may have assigned them; its noncharacters are not.
FORBIDDEN_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "an unpaired surrogate, which is not Unicode text",  # JSON can carry "\ud800"; UTF-8 cannot
    "Co": "a private-use character",
}


class NewEvent(NamedTuple):
    """An event that passed validation, in storage units (epoch milliseconds).

    The fields are in the order of the events table's columns, so a stored row is the event
    between its id and its arrival time.
    """

    event_id: str | None
    ts_ms: int
    worker_id: str
    workstation_id: str
    event_type: str
    confidence: float | None
    count: int | None
    model_version: str | None
    site_id: str | None

    @property
    def natural_key(self):
        """What makes two events without an `event_id` the same event."""
        return (self.worker_id, self.ts_ms, self.workstation_id, self.event_type, self.count)


class RepeatedKeys(dict):
    """A JSON object that named some key more than once; `repeated` lists those keys in order."""

    def __init__(self, pairs):
        super().__init__(pairs)
        self.repeated = [key for key, times in Counter(key for key, _ in pairs).items() if times > 1]


def read_json(data):
    """Parse a body of events (bytes or text) with Python's own `json`, for every way in.

    `NaN` and `Infinity` are not JSON and raise `ValueError`, as malformed JSON does; integers of
    any size are read exactly. An object that names a key twice comes back as `RepeatedKeys`:
    such JSON is ambiguous (readers differ on which value wins), so it is refused, never read
    as the last value.
    """
    return json.loads(data, parse_constant=_reject_constant, object_pairs_hook=_json_object)


def parse_body(data):
    """A body of events (bytes) as JSON, read by `read_json`; a 400 `ApiError` when it is not JSON."""
    try:
        return read_json(data)
    except RecursionError:
        raise ApiError(400, "Bad Request", "The JSON body is nested too deeply.") from None
    except ValueError as problem:  # also UnicodeDecodeError and json.JSONDecodeError
        raise ApiError(400, "Bad Request", f"The body is not valid JSON: {problem}") from None


def ingest_body(conn, data, config, now_ms):
    """Take in the events of one body (bytes), as `POST /events` and the MQTT bridge both do:
    parse, unwrap, check each event against the configured limits, store the new ones."""
    raw_events = events_from_body(parse_body(data), config["MAX_BATCH"])
    return ingest(conn, raw_events, now_ms, config["CLOCK_SKEW_SECONDS"] * 1000,
                  config["MAX_EVENT_AGE_DAYS"] * queries.DAY_MS)


def _json_object(pairs):
    obj = dict(pairs)
    return obj if len(obj) == len(pairs) else RepeatedKeys(pairs)


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def events_from_body(body, max_batch):
    """The list of raw events in a request body: one object, an array, or `{"events": [...]}`.

    An object that names an event's own fields is an event, whose other members are ignored
    (an `events` member too), unless its `events` is an array: both an event and a batch, it is a
    `422`. A repeated key in the `{"events": [...]}` wrapper is a `422` for the whole request; one
    inside an event object rejects that event alone (`validate_event`).
    """
    if isinstance(body, dict) and "events" in body and any(name in body for name in REQUIRED_FIELDS):
        if isinstance(body["events"], list):
            raise ApiError(422, "Unprocessable Content",
                           "The body is both an event and a batch: `events` beside an event's own fields "
                           f"({', '.join(name for name in REQUIRED_FIELDS if name in body)}).",
                           [field_error("events", "must not be an array beside an event's own fields")])
        events = [body]
    elif isinstance(body, dict) and "events" in body:
        if isinstance(body, RepeatedKeys):
            raise ApiError(422, "Unprocessable Content",
                           "The body names a key more than once, so it is ambiguous: "
                           f"{', '.join(map(repr, body.repeated))}.",
                           [field_error(key, REPEATED) for key in body.repeated])
        events = body["events"]
        if not isinstance(events, list):
            raise ApiError(422, "Unprocessable Content", "`events` must be an array of event objects.",
                           [field_error("events", "must be an array")])
    elif isinstance(body, dict):
        events = [body]
    elif isinstance(body, list):
        events = body
    else:
        raise ApiError(422, "Unprocessable Content",
                       'The body must be an event object, an array of events, or {"events": [...]}.')
    if not events:
        raise ApiError(422, "Unprocessable Content", "The batch holds no events.",
                       [field_error("events", "must hold at least one event")])
    if len(events) > max_batch:
        raise ApiError(413, "Content Too Large",
                       f"The batch holds {len(events)} events; at most {max_batch} are taken per request.")
    return events


def validate_event(raw, now_ms, skew_ms, max_age_ms=None):
    """Check one raw event; return `(NewEvent, [])` or `(None, errors)` listing every problem.

    `skew_ms` and `max_age_ms` bound how far after and before `now_ms` its timestamp may lie
    (`max_age_ms=None`: no bound but 1970). A key the object names twice is an error on that
    field, whatever the field; objects nested deeper are not looked into.
    """
    if not isinstance(raw, dict):
        return None, [field_error(None, "an event must be a JSON object")]
    repeated = getattr(raw, "repeated", [])
    errors = [field_error(name, REPEATED) for name in repeated]

    def check(name, checker, *args):
        if name in repeated:
            return None
        try:
            return checker(raw.get(name), *args)
        except ValueError as problem:
            errors.append(field_error(name, str(problem)))
            return None

    ts_ms = check("timestamp", _timestamp, now_ms, skew_ms, max_age_ms)
    worker_id = check("worker_id", _identifier)
    workstation_id = check("workstation_id", _identifier)
    event_type = check("event_type", _event_type)
    count = check("count", _count, event_type) if event_type is not None else None
    confidence = check("confidence", _confidence)
    event_id = check("event_id", _optional_text, MAX_EVENT_ID_LENGTH)
    model_version = check("model_version", _optional_text, MAX_ID_LENGTH)
    site_id = check("site_id", _optional_text, MAX_ID_LENGTH)
    if errors:
        return None, errors
    return NewEvent(event_id, ts_ms, worker_id, workstation_id, event_type,
                    confidence, count, model_version, site_id), []


def _timestamp(value, now_ms, skew_ms, max_age_ms):
    if value is None:
        raise ValueError("is required")
    ts_us = parse_instant_us(value)
    if ts_us > (now_ms + skew_ms) * 1000:
        raise ValueError(f"lies more than {skew_ms // 1000} seconds in the future")
    if max_age_ms is not None and ts_us < (now_ms - max_age_ms) * 1000:
        raise ValueError(f"lies more than {max_age_ms / queries.DAY_MS:g} days in the past (a camera clock reset?)")
    return ts_us // 1000


def _identifier(value):
    if value is None:
        raise ValueError("is required")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("must be a string (or an integer)")
    return _text(value, MAX_ID_LENGTH, "must not be empty")


def _event_type(value):
    if value is None:
        raise ValueError("is required")
    if value not in EVENT_TYPES:
        raise ValueError(f"must be one of {', '.join(EVENT_TYPES)}")
    return value


def _count(value, event_type):
    if event_type != "product_count":
        if value is not None:
            raise ValueError("is only allowed on product_count events")
        return None
    if value is None:
        raise ValueError("is required for product_count events")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 3.0 is the integer 3, as in JSON Schema
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("must be an integer")
    if not 1 <= value <= MAX_COUNT:
        raise ValueError(f"must be between 1 and {MAX_COUNT}")
    return value


def _confidence(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number between 0 and 1")
    if not 0 <= value <= 1 or not math.isfinite(value):  # in range first: a huge integer is no float
        raise ValueError("must be between 0 and 1")
    return float(value)


def _optional_text(value, max_length):
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return _text(value, max_length, "must not be empty (leave it out instead)")


def _text(value, max_length, empty_message):
    """The rule of every id and label: Unicode NFC, no invisible characters, no whitespace at
    either end, at most `max_length` characters once normalised. Case is kept: `W1` is not `w1`."""
    value = unicodedata.normalize("NFC", value)
    if not value.strip():
        raise ValueError(empty_message)
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    if not value.isprintable():  # printable: no category C or Z character but the space
        for char in value:
            kind = FORBIDDEN_CATEGORIES.get(unicodedata.category(char)) or _noncharacter(char)
            if kind:
                name = unicodedata.name(char, "")
                raise ValueError(f"must not hold U+{ord(char):04X}{' ' + name if name else ''}, {kind}")
    if value != value.strip():
        raise ValueError("must not begin or end with whitespace")
    return value


def _noncharacter(char):
    code = ord(char)
    return "a noncharacter" if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE else None


def ingest(conn, raw_events, now_ms, skew_ms, max_age_ms=None):
    """Validate and store a batch; return the summary and per-event results of SPEC §4.

    Every valid event is stored in one transaction with the others, or the request fails as a
    whole (`503`, nothing kept). `skew_ms` and `max_age_ms` are as for `validate_event`.
    """
    results = []
    valid = []  # (event, its result) of each valid event
    for index, raw in enumerate(raw_events):
        event, errors = validate_event(raw, now_ms, skew_ms, max_age_ms)
        result = {"index": index, "status": "rejected", "errors": errors}
        results.append(result)
        if event is not None:
            valid.append((event, result))
    if valid:
        try:
            events = [event for event, _ in valid]
            outcomes = write_together(conn, (events, now_ms), _store_requests)
        except OperationalError as failure:
            raise ApiError(503, "Service Unavailable",
                           f"The events could not be stored ({failure}); none of this request was kept. "
                           "Retry the request.", headers={"Retry-After": "1"}) from failure
        for (_, result), outcome in zip(valid, outcomes, strict=True):
            del result["errors"]
            result.update(outcome)
    statuses = [result["status"] for result in results]
    return {
        "accepted": statuses.count("accepted"),
        "duplicates": statuses.count("duplicate"),
        "rejected": statuses.count("rejected"),
        "results": results,
    }


def store_events(conn, events, now_ms, received=None):
    """Store the new ones of `events` (`NewEvent`s) inside the caller's write transaction, each
    received at `now_ms` or at its instant in `received`.

    The one writer of events and of what is derived from them: the workers, workstations, site
    members and state days they name, the data version, the roll-up hours they change and the
    model days they add to. Returns one outcome per event: `{"status": "accepted"|"duplicate",
    "id": row id}`, or `{"status": "rejected", "errors": [...]}` for an `event_id` stored already
    for another event.
    """
    # Ids are handed out here, inside the write transaction, so a duplicate later in the batch
    # can name the id of the event it repeats before anything is inserted. (Asked for before the
    # lookup and read after it: one round trip to a database server for both.)
    next_id_cursor = conn.execute(queries.NEXT_EVENT_ID_SQL)
    by_event_id = _stored_by_event_ids(conn, {event.event_id for event in events if event.event_id is not None})
    next_id = next_id_cursor.fetchone()[0]
    by_natural_key = {}  # natural key -> id of the first event of this batch stored with it
    outcomes, rows, stored = [], [], []
    for event, received_ms in zip(events, received or [now_ms] * len(events), strict=True):
        if event.event_id is not None:
            original = by_event_id.get(event.event_id)
            if original is not None and original[1] != event.natural_key:
                outcomes.append({"status": "rejected", "errors": [field_error(
                    "event_id", f"is stored already for another event (row {original[0]}): "
                                "an event_id must name one event")]})
                continue
            original_id = original and original[0]
        else:
            original_id = _stored_id_by_natural_key(conn, event.natural_key) or by_natural_key.get(event.natural_key)
        if original_id is not None:
            outcomes.append({"status": "duplicate", "id": original_id})
            continue
        outcomes.append({"status": "accepted", "id": next_id})
        rows.append((next_id, *event, received_ms))
        stored.append(event)
        if event.event_id is not None:
            by_event_id[event.event_id] = (next_id, event.natural_key)
        by_natural_key.setdefault(event.natural_key, next_id)
        next_id += 1
    if stored:
        conn.execute(queries.BUMP_GENERATION_SQL)
        _register(conn, stored)
        queries.insert_rows(conn, queries.INSERT_EVENT_SQL, rows)
        for add_model_units_sql in queries.ADD_MODEL_UNITS_SQL.values():
            conn.execute(add_model_units_sql, {"first_id": rows[0][0], "end_id": next_id})
        rollups.forget_changed_hours(conn, rollups.changes(stored))
    return outcomes


def _store_requests(conn, requests):
    """Store the events of several requests (`(events, now_ms)` pairs) in one round of
    statements, as `store_events` would one after the other; their outcomes, request by request."""
    events = [event for request_events, _ in requests for event in request_events]
    received = [now_ms for request_events, now_ms in requests for _ in request_events]
    outcomes = iter(store_events(conn, events, max(now_ms for _, now_ms in requests), received))
    return [[next(outcomes) for _ in request_events] for request_events, _ in requests]


def _register(conn, events):
    """Register the workers, workstations (with their site), site members and state days that `events` name."""
    queries.insert_rows(conn, queries.REGISTER_WORKER_SQL, {(e.worker_id, e.worker_id) for e in events})
    # A new workstation takes the site of its first event in the batch (INSERT OR IGNORE keeps a
    # registered one's site): the first event that registered it decides it.
    first_sites = {}
    for e in events:
        first_sites.setdefault(e.workstation_id, e.site_id)
    queries.insert_rows(conn, queries.REGISTER_WORKSTATION_SQL,
                        [(station_id, station_id, site_id) for station_id, site_id in first_sites.items()])
    queries.insert_rows(conn, queries.REGISTER_SITE_MEMBER_SQL,
                        {(e.site_id, e.worker_id, e.workstation_id) for e in events if e.site_id is not None})
    queries.insert_rows(conn, queries.REGISTER_STATE_DAY_SQL,
                        {(e.worker_id, e.ts_ms // queries.DAY_MS) for e in events if e.event_type in STATE_TYPES})


def _stored_by_event_ids(conn, event_ids):
    """`{event_id: (id, natural key)}` of the given idempotency keys that are stored already."""
    found = {}
    keys = list(event_ids)
    for start in range(0, len(keys), queries.MAX_IN_PARAMS):
        chunk = keys[start:start + queries.MAX_IN_PARAMS]
        for event_id, row_id, *natural_key in conn.execute(queries.find_by_event_ids_sql(len(chunk)), chunk):
            found[event_id] = (row_id, tuple(natural_key))
    return found


def _stored_id_by_natural_key(conn, natural_key):
    row = conn.execute(queries.FIND_BY_NATURAL_KEY_SQL, natural_key).fetchone()
    return row[0] if row else None


def rejection_errors(summary):
    """Every rejected event's problems, as one flat `errors` list naming the event by index."""
    return [
        {"field": f"events[{result['index']}]" + (f".{error['field']}" if error["field"] else ""),
         "message": error["message"]}
        for result in summary["results"] if result["status"] == "rejected"
        for error in result["errors"]
    ]
