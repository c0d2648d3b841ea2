"""Every error is an RFC 9457 problem, Flask's own included, and client input never causes a 500."""

import pytest

from tests.helpers import assert_problem


@pytest.mark.parametrize("method, path, body, status", [
    ("post", "/events", "{not json", 400),
    ("post", "/events", "", 400),
    ("post", "/events", '{"timestamp": NaN}', 400),
    ("post", "/events", "[Infinity]", 400),
    ("post", "/events", "[" * 100_000, 400),
    ("post", "/events", b"\xff\xfe\x00garbage", 400),
    ("post", "/events", "[" + "1" * 5000 + "]", 400),
    ("post", "/events", '"an event"', 422),
    ("get", "/no/such/route", None, 404),
    ("delete", "/events", None, 405),
    ("put", "/metrics/factory", None, 405),
    ("post", "/nowhere", "{}", 404),
])
def test_bad_request_gets_a_problem(client, method, path, body, status):
    response = getattr(client, method)(path, data=body, content_type="application/json")
    assert_problem(response, status)


def test_method_not_allowed_names_the_allowed_methods(client):
    response = client.delete("/events")
    assert "POST" in response.headers["Allow"]


def test_body_over_the_size_limit_is_413(make_client):
    client = make_client(MAX_CONTENT_LENGTH=1024)
    response = client.post("/events", data="[" + " " * 2048 + "]", content_type="application/json")
    assert_problem(response, 413)


def test_unexpected_failure_is_a_problem_without_internals(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert body["title"] == "Internal Server Error"


@pytest.mark.parametrize("value", [
    '"2026-01-15T10:00:00Z"', "true", "1e999", "-1", '"' + "x" * 100_000 + '"',
    '{"nested": {"deep": [1, 2, 3]}}', "[]", "null",
])
@pytest.mark.parametrize("field", ["timestamp", "worker_id", "workstation_id", "event_type", "count",
                                   "confidence", "event_id", "model_version", "site_id"])
def test_any_value_in_any_field_is_a_clear_answer(client, field, value):
    base = {"timestamp": '"2026-01-15T10:00:00Z"', "worker_id": '"W1"', "workstation_id": '"S1"',
            "event_type": '"product_count"', "count": "1"}
    base[field] = value
    body = "{" + ", ".join(f'"{k}": {v}' for k, v in base.items()) + "}"
    response = client.post("/events", data=body, content_type="application/json")
    assert response.status_code in (200, 201, 422), response.get_data(as_text=True)
    if response.status_code == 422:
        assert_problem(response, 422)


def test_health_reports_the_database_and_its_events(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "events": 0}
    client.post("/seed")
    assert client.get("/health").get_json()["events"] > 400


def test_health_is_503_when_the_database_does_not_answer(app, client, monkeypatch):
    from backend import queries

    monkeypatch.setattr(queries, "COUNT_EVENTS_SQL", "SELECT COUNT(*) FROM no_such_table")
    body = assert_problem(client.get("/health"), 503)
    assert "database" in body["detail"]


def test_slow_query_is_stopped_with_503(make_client):
    client = make_client(QUERY_TIMEOUT_SECONDS=0)
    client.post("/seed")
    response = client.get("/metrics/workers")
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1" and "nothing was changed" in body["detail"]


@pytest.mark.parametrize("query, field", [
    ("limit=1001", "limit"), ("limit=0", "limit"), ("limit=ten", "limit"),
    ("event_type=dancing", "event_type"), ("from=tomorrow", "from"), ("min_confidence=2", "min_confidence"),
])
def test_event_feed_limits_are_enforced(client, query, field):
    body = assert_problem(client.get(f"/events?{query}"), 422)
    assert [error["field"] for error in body["errors"]] == [field]


def test_event_feed_takes_up_to_its_ceiling(client):
    client.post("/seed")
    total = client.get("/health").get_json()["events"]
    everything = client.get("/events?limit=1000").get_json()
    assert (len(everything["events"]), everything["has_more"]) == (total, False)
    first = client.get("/events?limit=10").get_json()
    assert (len(first["events"]), first["has_more"]) == (10, True)
