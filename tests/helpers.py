"""Helpers shared by the tests: event bodies, posting, the problem-details shape."""

import sqlite3

from backend import rollups
from backend.db import connect


def event(timestamp, worker_id="W1", event_type="working", workstation_id="S1", **fields):
    """An event body as a camera would post it."""
    body = {"timestamp": timestamp, "worker_id": worker_id, "workstation_id": workstation_id,
            "event_type": event_type}
    body.update(fields)
    return body


def post_events(client, *events, status=None, **kwargs):
    """POST a batch; check the status when given; return the JSON body."""
    response = client.post("/events", json=list(events), **kwargs)
    if status is not None:
        assert response.status_code == status, response.get_json()
    return response.get_json()


def assert_problem(response, status):
    """The response is an RFC 9457 problem with `status`; returns its body."""
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    for error in body.get("errors", []):
        assert set(error) == {"field", "message"}
    return body


# The SPEC-section test files share a test day, reads of the API and the metric paths.

DAY = "2026-01-15"
METRICS_LIST_PATHS = ["/metrics/factory", "/metrics/workers", "/metrics/workstations"]


def at(clock_time):
    """`"10:00"` or `"10:00:30"` on the test day, as UTC ISO-8601 text ending in `Z`."""
    if len(clock_time) == 5:
        clock_time += ":00"
    return f"{DAY}T{clock_time}Z"


def get_ok(client, path, params=None):
    """GET `path` with query `params`, demand 200, return the JSON body."""
    response = client.get(path, query_string=params or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def workers_by_id(client, params=None):
    """The worker metrics for `params`, keyed by worker id."""
    return {item["worker_id"]: item for item in get_ok(client, "/metrics/workers", params)["workers"]}


def stations_by_id(client, params=None):
    """The workstation metrics for `params`, keyed by workstation id."""
    return {item["workstation_id"]: item
            for item in get_ok(client, "/metrics/workstations", params)["workstations"]}


def factory(client, params=None):
    """The factory figures for `params`."""
    return get_ok(client, "/metrics/factory", params)["factory"]


def window(client, params=None):
    """The metrics window for `params`."""
    return get_ok(client, "/metrics/factory", params)["window"]


def stored_events(client):
    """Every stored event, newest first, from the event feed."""
    return get_ok(client, "/events", {"limit": 1000})["events"]


def registered(client):
    """The registered worker ids and workstation ids, each sorted."""
    workers = [w["worker_id"] for w in get_ok(client, "/workers")["workers"]]
    stations = [s["workstation_id"] for s in get_ok(client, "/workstations")["workstations"]]
    return sorted(workers), sorted(stations)


def assert_figures(item, **expected):
    """Each named figure of `item` equals its expected value (numbers compared exactly)."""
    actual = {name: item[name] for name in expected}
    assert actual == expected


# Hostile input: bodies written as raw JSON text, and the check that a refusal stored nothing.

def post_raw(client, text, **kwargs):
    """POST `text` (str or bytes, taken as is) to `/events` as JSON; return the response."""
    return client.post("/events", data=text, content_type="application/json", **kwargs)


def post_chunked(client, data, **kwargs):
    """POST `data` to `/events` with `Transfer-Encoding: chunked`, as a server hands it on.

    A WSGI server that reads chunked bodies itself says so with `wsgi.input_terminated`, and
    the `Content-Length` the test client would add does not count beside `chunked`.
    """
    import io

    return client.post("/events", input_stream=io.BytesIO(data), content_type="application/json",
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True}, **kwargs)


def assert_nothing_stored(client):
    """No event, worker or workstation is stored."""
    assert stored_events(client) == []
    assert registered(client) == ([], [])


def stored_count(path, sql="SELECT COUNT(*) FROM events"):
    """A count read straight from a database file (0 while it or its table is not there yet)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def strip_seconds(timeline, row, state):
    """Seconds in `state` over one worker's strip of a timeline body: its intervals and the split
    of its `mixed` bands, or its rows when the strip is read in `slots` (whole seconds)."""
    if timeline["slots"] is not None:
        column = timeline["slots"]["states"].index(state)
        return sum(slot[column] for slot in row["slots"])
    return sum(i["split"].get(state, 0) if i["state"] == "mixed" else i["seconds"] * (i["state"] == state)
               for i in row["intervals"])


def keep_up(app):
    """What the roll-up keepers' looks add up to once writes stop: every stale hour and day
    computed, and the current hour's first part (README "Hourly and daily roll-ups")."""
    conn = connect(app.config["DATABASE_PATH"])
    try:
        rollups.catch_up(conn, app.config["CLOCK"]())
        rollups.keep_current_hour(conn, app.config["CLOCK"]())
    finally:
        conn.close()
