"""Taking events in (SPEC §3-4): validate each event on its own, then store the new ones at once."""

import json
import math
import sqlite3
from datetime import datetime
from itertools import compress, repeat
from typing import NamedTuple

from . import metrics, queries, rollups
from .db import transaction
from .errors import ApiError, field_error
from .timeutil import EPOCH, LATEST_US, MAX_INSTANT_LENGTH, MICROSECOND, parse_instant_us

STATE_TYPES = metrics.STATE_TYPES  # a tuple: any JSON value can be tested against it
EVENT_TYPES = (*STATE_TYPES, "product_count")
MAX_ID_LENGTH = 64
MAX_EVENT_ID_LENGTH = 128
# A single camera event counting more units than this is a fault, and sums must stay in 64 bits.
MAX_COUNT = 1_000_000_000
NOT_STORABLE = "must be valid Unicode text (it holds an unpaired surrogate)"


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


def events_from_body(body, max_batch):
    """The list of raw events in a request body: one object, an array, or `{"events": [...]}`."""
    if isinstance(body, dict) and "events" in body:
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


def validate_event(raw, now_ms, skew_ms):
    """Check one raw event; return `(NewEvent, [])` or `(None, errors)` listing every problem."""
    event = _plainly_valid(raw, min((now_ms + skew_ms) * 1000, LATEST_US)) if type(raw) is dict else None
    if event is not None:
        return event, []
    return _checked(raw, now_ms, skew_ms)


def _checked(raw, now_ms, skew_ms):
    """`full_check` of anything a batch may hold, a non-object included."""
    if not isinstance(raw, dict):
        return None, [field_error(None, "an event must be a JSON object")]
    return full_check(raw, now_ms, skew_ms)


def _plainly_valid(raw, latest_us):
    """The event when every field is plainly valid, else `None`.

    Most events of a healthy device are; this path takes them in a fraction of the time. Anything
    unusual (an integer id, `3.0` as a count, a problem) goes to `full_check`, which applies the
    same rules and says what is wrong; a test holds the two paths to the same answers.
    """
    get = raw.get
    worker_id, station_id, event_type = get("worker_id"), get("workstation_id"), get("event_type")
    if not (type(worker_id) is str and 0 < len(worker_id) <= MAX_ID_LENGTH and not worker_id.isspace()
            and type(station_id) is str and 0 < len(station_id) <= MAX_ID_LENGTH and not station_id.isspace()):
        return None
    count = get("count")
    if event_type == "product_count":
        if not (type(count) is int and 1 <= count <= MAX_COUNT):
            return None
    elif count is not None or event_type not in STATE_TYPES:
        return None
    confidence = get("confidence")
    if confidence is not None:
        if type(confidence) is not float:
            if not (type(confidence) is int and 0 <= confidence <= 1):
                return None
            confidence = float(confidence)
        if not 0 <= confidence <= 1:
            return None
    event_id, model_version, site_id = get("event_id"), get("model_version"), get("site_id")
    if not ((event_id is None or (type(event_id) is str and 0 < len(event_id) <= MAX_EVENT_ID_LENGTH))
            and (model_version is None or (type(model_version) is str and 0 < len(model_version) <= MAX_ID_LENGTH))
            and (site_id is None or (type(site_id) is str and 0 < len(site_id) <= MAX_ID_LENGTH))):
        return None
    # Text that is all ASCII is storable; anything else is looked at closely.
    if not (worker_id.isascii() and station_id.isascii() and (event_id is None or event_id.isascii())
            and (model_version is None or model_version.isascii()) and (site_id is None or site_id.isascii())):
        if not all(text is None or _storable(text) for text in (worker_id, station_id, event_id, model_version, site_id)):
            return None
    # An instant with an offset that `fromisoformat` reads; other forms take the full check.
    timestamp = get("timestamp")
    if type(timestamp) is not str or len(timestamp) > MAX_INSTANT_LENGTH:
        return None
    try:
        moment = _from_iso(timestamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    ts_us = (moment - EPOCH) // MICROSECOND
    if not 0 <= ts_us <= latest_us:
        return None
    return _new_tuple(NewEvent, (event_id, ts_us // 1000, worker_id, station_id, event_type, confidence, count,
                                 model_version, site_id))


_from_iso = datetime.fromisoformat
_new_tuple = tuple.__new__  # a `NewEvent` without the Python-level `__new__` of a NamedTuple


def _storable(text):
    """Whether text can be stored: JSON may carry a lone surrogate (`"\\ud800"`), UTF-8 cannot."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def full_check(raw, now_ms, skew_ms):
    """Check every field of one event object and collect every problem; `(NewEvent|None, errors)`."""
    errors = []

    def check(name, checker, *args):
        try:
            return checker(raw.get(name), *args)
        except ValueError as problem:
            errors.append(field_error(name, str(problem)))
            return None

    ts_ms = check("timestamp", _timestamp, now_ms, skew_ms)
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


def _timestamp(value, now_ms, skew_ms):
    if value is None:
        raise ValueError("is required")
    ts_us = parse_instant_us(value)
    if ts_us > (now_ms + skew_ms) * 1000:
        raise ValueError(f"lies more than {skew_ms // 1000} seconds in the future")
    return ts_us // 1000


def _identifier(value):
    if value is None:
        raise ValueError("is required")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("must be a string (or an integer)")
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"must be at most {MAX_ID_LENGTH} characters")
    if not _storable(value):
        raise ValueError(NOT_STORABLE)
    return value


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
    if not value:
        raise ValueError("must not be empty (leave it out instead)")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    if not _storable(value):
        raise ValueError(NOT_STORABLE)
    return value


def ingest(conn, raw_events, now_ms, skew_ms):
    """Validate and store a batch; return the summary and per-event results of SPEC §4.

    All new valid events are stored in one transaction. Duplicates (same `event_id`, or without
    one the same instant, worker, workstation, type and count) resolve to the stored row's id,
    whether the original came in an earlier request or earlier in this one.
    """
    results = []
    valid = []
    latest_us = min((now_ms + skew_ms) * 1000, LATEST_US)
    for index, raw in enumerate(raw_events):
        event = _plainly_valid(raw, latest_us) if type(raw) is dict else None
        if event is None:
            event, errors = _checked(raw, now_ms, skew_ms)
            if event is None:
                results.append({"index": index, "status": "rejected", "errors": errors})
                continue
        result = {"index": index, "status": "accepted", "id": None}
        results.append(result)
        valid.append((event, result))
    duplicates = 0
    if valid:
        prepared = _prepare(valid, now_ms)
        try:
            duplicates = _store(conn, valid, now_ms, prepared)
        except sqlite3.OperationalError as failure:
            raise ApiError(503, "Service Unavailable",
                           f"The events could not be stored ({failure}); none of this request was kept. "
                           "Retry the request.", headers={"Retry-After": "1"}) from failure
    return {
        "accepted": len(valid) - duplicates,
        "duplicates": duplicates,
        "rejected": len(results) - len(valid),
        "results": results,
    }


class _Prepared(NamedTuple):
    """A batch of new events made ready to store before the write transaction begins."""

    new: list  # (event, result) of each event to store, in order
    repeats: list  # (result, position in `new` of the event it repeats) of the batch's own repeats
    inserts: list  # (sql, values) inserting `new`
    names: "_Names"  # who and what they name
    changes: rollups.Changes


def _prepare(valid, now_ms):
    """Prepare a batch whose events all carry an `event_id`, as if none of them were stored yet.

    This is a device's everyday batch, and all the work it needs outside the write lock is done
    here, while other server processes write: the write transaction then only inserts. Returns
    `None` for a batch with events without `event_id`, which `_store_checked` handles inside the
    transaction. When one of the `event_id`s is stored already (a retry, or another request
    stored it a moment ago), the unique index refuses the insert and the batch goes the checked
    way after all; looking every `event_id` up first would cost every batch what only a retry needs.
    """
    event_ids = {event.event_id for event, _ in valid}
    if None in event_ids:
        return None
    new, repeats = (valid, []) if len(event_ids) == len(valid) else _without_repeats(valid)
    events = [event for event, _ in new]
    inserts = queries.rows_statements(queries.INSERT_NEW_EVENT_SQL, map(tuple.__add__, events, repeat((now_ms,))))
    return _Prepared(new, repeats, inserts, _names(events), rollups.changes(events))


def _without_repeats(valid):
    """`(new, repeats)`: the `(event, result)` of each first `event_id`, and the `(result, position
    in new)` of each later event repeating one."""
    first = {}  # event_id -> position in `new`
    new, repeats = [], []
    for event, result in valid:
        position = first.get(event.event_id)
        if position is None:
            first[event.event_id] = len(new)
            new.append((event, result))
        else:
            repeats.append((result, position))
    return new, repeats


class _Names(NamedTuple):
    """Who and what stored events name; each is registered in the transaction that stores them."""

    workers: set
    stations: set
    members: set  # (site_id, worker_id, workstation_id) of the events with a site
    state_days: set  # (worker_id, day) of the state events

    @classmethod
    def none(cls):
        return cls(set(), set(), set(), set())


def _names(events):
    if not events:
        return _Names.none()
    # Column by column: a thousand events cost a few passes in C rather than four in Python.
    _, times, workers, stations, types, _, _, _, sites = zip(*events)
    states = list(map(STATE_TYPES.__contains__, types))
    return _Names(set(workers), set(stations),
                  {member for member in set(zip(sites, workers, stations)) if member[0] is not None},
                  queries.state_days(zip(compress(workers, states), compress(times, states))))


class _Registered:
    """The names a connection's committed writes registered since everything stored was last
    cleared (`clears` times before): registering them again would change nothing.

    Kept on the connection, so by one thread of one server process; another process clearing
    the events moves `clears` on, and the next write then starts afresh.
    """

    MAX_NAMES = 100_000  # beyond this, start afresh rather than grow without end

    def __init__(self, clears):
        self.clears = clears
        self.names = _Names.none()

    def note(self, names):
        for known, new in zip(self.names, names):
            known |= new


def _register(conn, names):
    """Register `names` inside the write transaction, but for those the connection's writes
    registered already since the events were last cleared."""
    clears = conn.execute(queries.CLEARS_SQL).fetchone()[0]  # in the transaction: no clear slips in
    known = conn.registered
    if known is None or known.clears != clears or sum(map(len, known.names)) > _Registered.MAX_NAMES:
        known = conn.registered = _Registered(clears)
    workers, stations, members, days = (new - old for new, old in zip(names, known.names))
    for sql, values in (queries.rows_statements(queries.REGISTER_WORKER_SQL, [(name, name) for name in workers])
                        + queries.rows_statements(queries.REGISTER_WORKSTATION_SQL, [(name, name) for name in stations])
                        + queries.rows_statements(queries.REGISTER_SITE_MEMBER_SQL, members)
                        + queries.rows_statements(queries.REGISTER_STATE_DAY_SQL, days)):
        conn.execute(sql, values)


def _remember(conn, names):
    """After the commit: the connection need not register `names` again."""
    if conn.registered is not None:
        conn.registered.note(names)


def _store(conn, valid, now_ms, prepared):
    """Store the new events of `valid` in one write transaction; returns how many were duplicates."""
    if prepared is not None:
        try:
            with transaction(conn):
                duplicates = _store_prepared(conn, prepared)
        except sqlite3.IntegrityError:
            pass  # undone: one of its event_ids is stored already, and the checked way finds which
        else:
            _remember(conn, prepared.names)
            return duplicates
    with transaction(conn):
        duplicates, names = _store_checked(conn, valid, now_ms)
    _remember(conn, names)
    return duplicates


def _store_prepared(conn, prepared):
    # One row's id is the insert's own; several rows are numbered on from the largest id, and
    # should SQLite ever not do so (ids exhausted), the checked way, which numbers them itself,
    # takes over.
    first_id = conn.execute(queries.NEXT_EVENT_ID_SQL).fetchone()[0] if len(prepared.new) > 1 else None
    for sql, values in prepared.inserts:
        last_id = conn.execute(sql, values).lastrowid
    if first_id is None:
        first_id = last_id
    elif last_id != first_id + len(prepared.new) - 1:
        raise sqlite3.IntegrityError("new events were not numbered in sequence")
    conn.execute(queries.BUMP_GENERATION_SQL)
    _register(conn, prepared.names)
    rollups.forget_changed_hours(conn, prepared.changes)
    for position, (_event, result) in enumerate(prepared.new):
        result["id"] = first_id + position
    for result, position in prepared.repeats:
        result["status"] = "duplicate"
        result["id"] = first_id + position
    return len(prepared.repeats)


def _store_checked(conn, valid, now_ms):
    """Store a batch looking up every duplicate inside the transaction; returns how many were
    duplicates, and the names of the events stored."""
    # Ids are handed out here, inside the write transaction, so a duplicate later in the batch
    # can name the id of the event it repeats before anything is inserted.
    next_id = conn.execute(queries.NEXT_EVENT_ID_SQL).fetchone()[0]
    by_event_id = _stored_ids(conn, {event.event_id for event, _ in valid if event.event_id is not None})
    # Natural keys matter only to events without an `event_id`.
    keyed = any(event.event_id is None for event, _ in valid)
    by_natural_key = {}  # natural key -> id of the first event of this batch stored with it
    rows = []
    stored = []
    for event, result in valid:
        if event.event_id is not None:
            original = by_event_id.get(event.event_id)
        else:
            original = _stored_id_by_natural_key(conn, event.natural_key) or by_natural_key.get(event.natural_key)
        if original is not None:
            result["status"] = "duplicate"
            result["id"] = original
            continue
        result["id"] = next_id
        rows.append((next_id, *event, now_ms))
        stored.append(event)
        if event.event_id is not None:
            by_event_id[event.event_id] = next_id
        if keyed:
            by_natural_key.setdefault(event.natural_key, next_id)
        next_id += 1
    names = _names(stored)
    if stored:
        conn.execute(queries.BUMP_GENERATION_SQL)
        _register(conn, names)
        queries.insert_rows(conn, queries.INSERT_EVENT_SQL, rows)
        rollups.forget_changed_hours(conn, rollups.changes(stored))
    return len(valid) - len(stored), names


def _stored_ids(conn, event_ids):
    """`{event_id: id}` of the given idempotency keys that are stored already."""
    found = {}
    keys = list(event_ids)
    for start in range(0, len(keys), queries.MAX_IN_PARAMS):
        chunk = keys[start:start + queries.MAX_IN_PARAMS]
        found.update(conn.execute(queries.find_by_event_ids_sql(len(chunk)), chunk).fetchall())
    return found


def _stored_id_by_natural_key(conn, natural_key):
    row = conn.execute(queries.FIND_BY_NATURAL_KEY_SQL, natural_key).fetchone()
    return row[0] if row else None


def summary_json(summary):
    """The summary of `ingest` as compact JSON text.

    A batch of a thousand events answers with a thousand results; written out directly, the
    accepted and duplicate ones (numbers and a fixed word) cost a third of what the general
    encoder takes. Rejected ones, with their messages, go through the encoder.
    """
    results = ",".join([
        _encode(result) if "errors" in result
        else f'{{"index":{result["index"]},"status":"{result["status"]}","id":{result["id"]}}}'
        for result in summary["results"]
    ])
    return (f'{{"accepted":{summary["accepted"]},"duplicates":{summary["duplicates"]},'
            f'"rejected":{summary["rejected"]},"results":[{results}]}}')


_encode = json.JSONEncoder(separators=(",", ":")).encode


def rejection_errors(summary):
    """Every rejected event's problems, as one flat `errors` list naming the event by index."""
    return [
        {"field": f"events[{result['index']}]" + (f".{error['field']}" if error["field"] else ""),
         "message": error["message"]}
        for result in summary["results"] if result["status"] == "rejected"
        for error in result["errors"]
    ]
