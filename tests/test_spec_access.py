"""SPEC §7 Everything else a user reaches: health, lists, access, errors.

`GET /health` and the event feed; errors as RFC 9457 problems, never a stack trace and never a
500 for anything a client sent; who gets in (tokens, origins, safe headers, logs that never hold a
token).
"""

import json
import logging

import pytest

from backend.app import create_app
from backend.logs import JsonFormatter
from tests.helpers import DAY, METRICS_LIST_PATHS, assert_problem, at, event, get_ok, post_events, stored_events

# --------------------------------------------------------------------------------------------
# §7 Health and the event feed
# --------------------------------------------------------------------------------------------

def test_health_answers_ok(client):
    assert get_ok(client, "/health")["status"] == "ok"


def test_event_feed_is_newest_first_with_a_limit(client):
    for hour in range(10, 15):
        post_events(client, event(f"{DAY}T{hour}:00:00Z"), status=201)
    feed = get_ok(client, "/events", {"limit": 3})["events"]
    assert [e["timestamp"] for e in feed] == [at("14:00"), at("13:00"), at("12:00")]
    feed = get_ok(client, "/events")["events"]
    assert [e["timestamp"] for e in feed] == [at(f"{h}:00") for h in range(14, 9, -1)]


def test_event_feed_shows_times_in_utc_with_z(client):
    post_events(client, event("2026-01-15T12:00:00+02:00", confidence=0.75, event_id="x1"), status=201)
    (stored,) = stored_events(client)
    assert stored["timestamp"] == at("10:00")
    assert (stored["worker_id"], stored["workstation_id"], stored["event_type"]) == ("W1", "S1", "working")
    assert (stored["confidence"], stored["event_id"]) == (0.75, "x1")


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"limit": "-1"}, {"from": "nope"},
                                    {"min_confidence": "7"}])
def test_event_feed_bad_query_is_422(client, params):
    assert_problem(client.get("/events", query_string=params), 422)


def test_health_reports_the_database_and_its_events(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "events": 0}
    client.post("/seed")
    assert client.get("/health").get_json()["events"] > 400


def test_health_is_503_when_the_database_does_not_answer(app, client, monkeypatch):
    from backend import queries

    monkeypatch.setattr(queries, "COUNT_EVENTS_SQL", "SELECT COUNT(*) FROM no_such_table")
    response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded" and "no_such_table" in body["detail"]


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
    from backend import params

    ceiling = params.LIMIT.maximum
    post_events(client, *[event(f"2026-01-15T10:{n // 60:02d}:{n % 60:02d}Z", event_id=f"e{n}")
                          for n in range(ceiling + 1)], status=201)
    at_ceiling = client.get(f"/events?limit={ceiling}").get_json()
    assert (len(at_ceiling["events"]), at_ceiling["has_more"]) == (ceiling, True)
    assert client.get(f"/events?limit={ceiling + 1}").status_code == 422
    first = client.get("/events?limit=10").get_json()
    assert (len(first["events"]), first["has_more"]) == (10, True)


# --------------------------------------------------------------------------------------------
# §7 Errors: problem details, never a 500 for anything a client sent
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, status", [
    ("get", "/nope", 404),
    ("get", "/metrics", 404),
    ("get", "/metrics/nope", 404),
    ("get", "/events/1/extra", 404),
    ("delete", "/events", 405),
    ("put", "/events", 405),
    ("post", "/metrics/factory", 405),
    ("post", "/metrics/workers", 405),
    ("delete", "/metrics/workers/W1", 405),
    ("get", "/seed", 405),
    ("post", "/health", 405),
    ("post", "/workers", 405),
    ("patch", "/workstations", 405),
])
def test_unknown_routes_and_wrong_methods_are_problems(client, method, path, status):
    post_events(client, event(at("10:00")), status=201)
    assert_problem(getattr(client, method)(path), status)


@pytest.mark.parametrize("data", [
    "{not json",
    "",
    "[1, 2",
    '{"timestamp": "x",}',
    b"\xff\xfe\xfd",
    "NaN",
    '[{"confidence": Infinity}]',
    '[{"confidence": -Infinity}]',
    "'single quotes'",
])
def test_malformed_json_is_400(client, data):
    response = client.post("/events", data=data, content_type="application/json")
    assert_problem(response, 400)


@pytest.mark.parametrize("body", ['"a string"', "42", "null", "true", '{"events": "x"}', '{"events": {}}',
                                  '{"events": null}', "{}"])
def test_wrong_shape_is_422(client, body):
    response = client.post("/events", data=body, content_type="application/json")
    assert_problem(response, 422)


def test_body_larger_than_max_content_length_is_413(config):
    from backend.app import create_app

    config["MAX_CONTENT_LENGTH"] = 1024
    client = create_app(config).test_client()
    events = [event(f"{DAY}T10:{i:02d}:00Z", "W" * 60) for i in range(20)]
    data = json.dumps(events)
    assert len(data) > 1024
    assert_problem(client.post("/events", data=data, content_type="application/json"), 413)
    assert stored_events(client) == []
    small = json.dumps(events[:1])
    assert client.post("/events", data=small, content_type="application/json").status_code == 201


@pytest.mark.parametrize("data", [
    "[" * 100_000 + "]" * 100_000,
    '{"events": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "[" * 100_000,
    '[{"timestamp": ' + "[" * 500 + "]" * 500 + ', "worker_id": "W1"}]',
    '[{"timestamp": "%s", "worker_id": "W1", "workstation_id": "S1", "event_type": "product_count", '
    '"count": %s}]' % (at("10:00"), "9" * 5000),
    '[{"timestamp": "%s", "worker_id": "W1", "workstation_id": "S1", "event_type": "product_count", '
    '"count": %s}]' % (at("10:00"), "9" * 30),
    '[{"timestamp": "%s", "worker_id": "W1", "workstation_id": "S1", "event_type": "product_count", '
    '"count": 1e400}]' % at("10:00"),
    '[{"timestamp": "%s", "worker_id": %s, "workstation_id": "S1", "event_type": "working"}]'
    % (at("10:00"), "1" * 100),
    '[{"timestamp": "%s", "worker_id": "W1", "workstation_id": "S1", "event_type": "working", '
    '"confidence": 1e308}]' % at("10:00"),
])
def test_hostile_bodies_are_problems_never_500(client, data):
    response = client.post("/events", data=data, content_type="application/json")
    assert response.status_code in (400, 413, 422), response.get_data(as_text=True)[:300]
    assert_problem(response, response.status_code)
    assert stored_events(client) == []


@pytest.mark.parametrize("params", [
    {"from": "9" * 5000},
    {"min_confidence": "1" * 5000},
    {"max_gap_seconds": "1e999"},
    {"max_gap_seconds": "9" * 400},
    {"site_id": "s" * 10_000},
    {"from": "2026-01-15T10:00:00+99:00"},
])
def test_hostile_metric_queries_are_problems_never_500(client, params):
    post_events(client, event(at("10:00")), status=201)
    for path in METRICS_LIST_PATHS + ["/metrics/workers/W1"]:
        response = client.get(path, query_string=params)
        assert response.status_code in (200, 422), (path, response.get_data(as_text=True)[:300])
        if response.status_code == 422:
            assert_problem(response, 422)


def test_extreme_but_parseable_event_timestamp_never_breaks_later_reads(client):
    response = client.post("/events", json=[event("0001-01-01T00:30:00+01:00")])
    assert response.status_code in (201, 422)
    for path in METRICS_LIST_PATHS + ["/events"]:
        assert client.get(path).status_code == 200, path


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


# --------------------------------------------------------------------------------------------
# §7 Access: tokens, origins, safe headers, logs that never hold a token
# --------------------------------------------------------------------------------------------

def post(client, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/events", json=event("2026-01-15T08:00:00Z"), headers=headers)


def test_each_of_several_device_tokens_is_taken_and_a_revoked_one_is_not(make_client):
    client = make_client(INGEST_TOKEN=None, INGEST_TOKENS="cam-a-secret, cam-b-secret")
    assert post(client, "cam-a-secret").status_code == 201
    assert post(client, "cam-b-secret").status_code == 200  # the same event again: a duplicate
    revoked = make_client(INGEST_TOKENS="cam-b-secret")  # cam-a taken off the list
    assert_problem(post(revoked, "cam-a-secret"), 403)
    assert_problem(post(revoked), 401)


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "bearer  ", "token"])
def test_malformed_authorization_is_401(make_client, header):
    client = make_client(INGEST_TOKEN="s3cret")
    assert_problem(client.post("/events", json=event("2026-01-15T08:00:00Z"), headers={"Authorization": header}), 401)


def test_a_token_prefix_is_not_enough(make_client):
    client = make_client(INGEST_TOKEN="s3cret")
    assert_problem(post(client, "s3cre"), 403)
    assert_problem(post(client, "s3cret-and-more"), 403)


def test_tokens_never_reach_the_logs(make_client, caplog):
    client = make_client(INGEST_TOKEN="edge-s3cret", ADMIN_TOKEN="admin-s3cret")
    with caplog.at_level(logging.DEBUG):
        post(client, "edge-s3cret")
        post(client, "wrong-guess")
        client.post("/seed", headers={"Authorization": "Bearer admin-s3cret"})
        client.get("/metrics/workers?token=edge-s3cret")
    formatted = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "s3cret" not in formatted and "wrong-guess" not in formatted
    assert '"path": "/events"' in formatted and '"status": 201' in formatted


def test_access_lines_are_json_with_status_and_duration(client, caplog):
    with caplog.at_level(logging.INFO, logger="factory.access"):
        client.get("/metrics/factory")
    line = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert line["logger"] == "factory.access" and line["method"] == "GET"
    assert line["path"] == "/metrics/factory" and line["status"] == 200
    assert line["duration_ms"] >= 0


def test_cors_allows_only_named_origins(make_client):
    origin = {"Origin": "http://dashboard.example"}
    default = make_client()
    assert "Access-Control-Allow-Origin" not in default.get("/health", headers=origin).headers
    named = make_client(INGEST_TOKEN="t", CORS_ORIGINS="http://dashboard.example")
    assert named.get("/health", headers=origin).headers["Access-Control-Allow-Origin"] == "http://dashboard.example"
    assert "Access-Control-Allow-Origin" not in named.get("/health", headers={"Origin": "http://evil.example"}).headers
    anyone = make_client(CORS_ORIGINS="*")
    assert anyone.get("/health", headers=origin).headers["Access-Control-Allow-Origin"] == "http://dashboard.example"


@pytest.mark.parametrize("path, body", [("/seed", None), ("/events", event("2026-01-15T08:00:00Z"))])
def test_a_page_on_another_site_cannot_write_through_a_browser(make_client, path, body):
    client = make_client()
    hostile = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    data = None if body is None else json.dumps(body)
    assert_problem(client.post(path, data=data, headers=hostile), 403)
    assert client.get("/health").get_json()["events"] == 0
    same_site = {"Origin": "http://localhost"}  # the test client's own host
    assert client.post(path, data=data, headers=same_site).status_code in (200, 201)
    allowed = make_client(CORS_ORIGINS="https://evil.example")
    assert allowed.post(path, data=data, headers=hostile).status_code in (200, 201)


def test_cors_star_with_tokens_refuses_to_start(config):
    with pytest.raises(RuntimeError, match="CORS_ORIGINS"):
        create_app({**config, "ADMIN_TOKEN": "t", "CORS_ORIGINS": "*"})


def test_dashboard_forbids_inline_script_and_framing(client):
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy and "connect-src 'self';" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    html = response.get_data(as_text=True)
    assert "<script>" not in html and " on" + "click=" not in html  # no inline script to allow


def test_api_answers_carry_the_safe_headers_too(client):
    for response in (client.get("/metrics/factory"), client.get("/nowhere")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_other_api_origins_for_the_dashboard_are_named_in_its_policy(make_client):
    client = make_client(DASHBOARD_CONNECT_SRC="https://api.plant.example")
    assert "connect-src 'self' https://api.plant.example;" in client.get("/").headers["Content-Security-Policy"]


# --------------------------------------------------------------------------------------------
# §7 Readers need a key once any token is configured
# --------------------------------------------------------------------------------------------

READ_PATHS = ["/metrics/factory", "/metrics/workers", "/metrics/workers/W1", "/metrics/workstations",
              "/metrics/workstations/S1", "/metrics/timeline", "/metrics/hourly", "/metrics/models",
              "/metrics/drift", "/events", "/workers", "/workstations", "/sites"]
OPEN_PATHS = ["/health", "/settings", "/openapi.json", "/", "/js/main.js", "/css/dashboard.css"]
TOKENS = {"VIEW_TOKENS": "screen-1, screen-2", "INGEST_TOKEN": "edge-key", "INGEST_TOKENS": "cam-a",
          "ADMIN_TOKEN": "admin-key"}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("setting", sorted(TOKENS))
def test_with_any_token_set_every_read_needs_a_token(make_client, setting):
    # What was seen: with tokens set, every metric and event was still readable by anyone.
    client = make_client(**{setting: TOKENS[setting]})
    token = TOKENS[setting].split(",")[-1].strip()
    if setting.startswith("INGEST"):
        post_events(client, event(at("10:00")), headers=bearer(token), status=201)
    else:
        post_events(client, event(at("10:00")), status=201)
    for path in READ_PATHS:
        response = client.get(path)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "W1" not in response.get_data(as_text=True)
        assert_problem(client.get(path, headers=bearer("guess")), 403)
        assert client.get(path, headers=bearer(token)).status_code == 200, path


def test_viewer_ingest_and_admin_tokens_all_read_and_only_the_right_ones_write(make_client):
    client = make_client(**TOKENS)
    for token in ("screen-1", "screen-2", "edge-key", "cam-a", "admin-key"):
        assert client.get("/metrics/workers", headers=bearer(token)).status_code == 200, token
    assert_problem(client.post("/events", json=[event(at("10:00"))], headers=bearer("screen-1")), 403)
    assert_problem(client.post("/seed", headers=bearer("screen-1")), 403)
    assert_problem(client.post("/seed", headers=bearer("edge-key")), 403)
    assert client.post("/seed", headers=bearer("admin-key")).status_code == 200


ADMIN_REQUESTS = [
    ("put", "/workers/W1", {"name": "Someone"}),
    ("put", "/workstations/S1", {"target_units_per_hour": 99}),
    ("put", "/sites/north", {"name": "North"}),
    ("put", "/calendar", {"time_zone": "UTC", "shifts": []}),
    ("get", "/alerts/rules", None),
    ("put", "/alerts/rules", {"rules": [], "webhooks": [{"url": "https://collector.example/hook"}]}),
    ("post", "/seed?replace=all", None),
]


@pytest.mark.parametrize("tokens, reader", [
    ({"INGEST_TOKEN": "edge-key"}, "edge-key"),
    ({"VIEW_TOKENS": "screen-key"}, "screen-key"),
])
def test_with_tokens_but_no_admin_token_every_admin_route_is_refused(make_client, tokens, reader):
    # What was seen: with only viewer or device tokens set, anyone could change names, targets and
    # calendars, or add a webhook for the alerts, though they could not read a figure.
    client = make_client(**tokens)
    post_events(client, event(at("10:00")), headers=bearer(reader), status=201)
    for method, path, body in ADMIN_REQUESTS:
        # A read without a reader's token is refused before that (401, 403), as every read is.
        for headers in ((bearer(reader),) if method == "get" else ({}, bearer(reader), bearer("anything"))):
            answer = assert_problem(getattr(client, method)(path, json=body, headers=headers), 403)
            assert "ADMIN_TOKEN" in answer["detail"], (method, path)
    assert client.get("/workers", headers=bearer(reader)).get_json()["workers"] == [{"worker_id": "W1", "name": "W1"}]
    station = client.get("/workstations", headers=bearer(reader)).get_json()["workstations"][0]
    assert station["target_units_per_hour"] is None
    assert client.get("/sites", headers=bearer(reader)).get_json()["sites"] == []


def test_health_settings_api_document_and_dashboard_files_stay_open(make_client):
    client = make_client(**TOKENS)
    for path in OPEN_PATHS:
        assert client.get(path).status_code == 200, path
    assert "W-01" not in client.get("/settings").get_data(as_text=True)


def test_public_read_opens_the_reads_but_not_the_writes(make_client):
    client = make_client(INGEST_TOKEN="edge-key", ADMIN_TOKEN="admin-key", PUBLIC_READ=True)
    for path in READ_PATHS[:3] + ["/events", "/workers"]:
        assert client.get(path).status_code in (200, 404), path
    assert_problem(client.post("/events", json=[event(at("10:00"))]), 401)
    assert_problem(client.post("/seed"), 401)


def test_without_any_token_everything_is_open(client):
    post_events(client, event(at("10:00")), status=201)
    for path in READ_PATHS:
        assert client.get(path).status_code == 200, path


# --------------------------------------------------------------------------------------------
# §7 ALLOWED_HOSTS: a page reaching the API under another name (DNS rebinding) is refused
# --------------------------------------------------------------------------------------------

REBINDING = {"Host": "evil.example", "Origin": "http://evil.example", "Content-Type": "text/plain"}


@pytest.mark.parametrize("method, path", [("post", "/events"), ("post", "/seed"), ("get", "/metrics/workers"),
                                          ("get", "/events"), ("get", "/")])
def test_dns_rebinding_page_can_neither_write_nor_read(make_client, method, path):
    # What was seen: Host and Origin both evil.example passed the cross-site check.
    client = make_client()
    data = json.dumps([event(at("10:00"))]) if path == "/events" and method == "post" else None
    response = getattr(client, method)(path, data=data, headers=REBINDING)
    body = assert_problem(response, 400)
    assert "ALLOWED_HOSTS" in body["detail"] and "evil.example" in body["detail"]
    assert client.get("/health").get_json()["events"] == 0


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:8080", "[::1]:5000", "LOCALHOST.",
                                  "127.0.0.1"])
def test_loopback_names_are_allowed_by_default_on_any_port(make_client, host):
    client = make_client()
    assert client.post("/events", json=[event(at("10:00"))], headers={"Host": host}).status_code == 201


@pytest.mark.parametrize("settings, host, allowed", [
    ({"ALLOWED_HOSTS": "factory.example, dash.example"}, "factory.example:8443", True),
    ({"ALLOWED_HOSTS": "factory.example, dash.example"}, "Dash.Example", True),
    ({"ALLOWED_HOSTS": "factory.example"}, "localhost", False),
    ({"ALLOWED_HOSTS": "factory.example"}, "evil.factory.example", False),
    ({"ALLOWED_HOSTS": "*"}, "evil.example", True),
    ({"HOST": "10.0.0.5"}, "10.0.0.5:5000", True),
    ({"HOST": "10.0.0.5"}, "localhost:5000", True),
    ({"HOST": "0.0.0.0"}, "10.0.0.5:5000", False),
    ({"HOST": "::"}, "[::2]:5000", False),
    ({"HOST": "::1"}, "[::1]", True),
])
def test_allowed_hosts_setting(make_client, settings, host, allowed):
    client = make_client(**settings)
    response = client.get("/metrics/factory", headers={"Host": host})
    assert response.status_code == (200 if allowed else 400), response.get_json()


def test_health_answers_whatever_the_host(make_client):
    # Load balancers and orchestrators call a machine by its address.
    client = make_client(ALLOWED_HOSTS="factory.example")
    assert client.get("/health", headers={"Host": "10.1.2.3:5000"}).status_code == 200


# --------------------------------------------------------------------------------------------
# §7 A blank token setting stops start-up with a clear message
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ADMIN_TOKEN", "INGEST_TOKEN", "INGEST_TOKENS", "VIEW_TOKENS"])
@pytest.mark.parametrize("value", [" ", ",", " , ", "", "\t", ",,,"])
def test_blank_token_setting_stops_start_up_naming_it(config, monkeypatch, name, value):
    # What was seen: INGEST_TOKEN=" " or ADMIN_TOKEN="," silently meant no token.
    from backend.app import TOKEN_SETTINGS
    from backend.errors import StartupError

    settings = {key: value for key, value in config.items() if key not in TOKEN_SETTINGS}
    for other in TOKEN_SETTINGS:
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(StartupError) as refused:
        create_app(settings)
    message = str(refused.value)
    assert message.startswith(f"{name} is set but holds no token") and "\n" not in message


@pytest.mark.parametrize("name", ["PUBLIC_READ", "ALLOW_SEED"])
@pytest.mark.parametrize("value", ["disabled", "n", "nope", "2"])
def test_a_yes_no_setting_that_is_neither_stops_start_up(monkeypatch, name, value):
    # What was seen: PUBLIC_READ=disabled opened every read, since only 0/false/no/off meant no.
    from backend.app import default_config
    from backend.errors import StartupError

    monkeypatch.setenv(name, value)
    with pytest.raises(StartupError, match=f"^{name}='{value}' is not one of 1, true, yes, on"):
        default_config()


@pytest.mark.parametrize("value, taken", [("1", True), ("Yes", True), ("ON", True), ("off", False), (" 0 ", False)])
def test_a_yes_no_setting_takes_the_usual_words(monkeypatch, value, taken):
    from backend.app import default_config

    monkeypatch.setenv("PUBLIC_READ", value)
    assert default_config()["PUBLIC_READ"] is taken


@pytest.mark.parametrize("name, value, says", [
    ("QUERY_TIMEOUT_SECONDS", "0", "above 0"),
    ("MAX_BATCH", "0", "at least 1"),
    ("MAX_BODY_BYTES", "-1", "at least 1"),
    ("POLL_SECONDS", "0", "at least 1"),
    ("LOW_CONFIDENCE", "7", "from 0 to 1"),
    ("DRIFT_MIN_EVENTS", "-3", "from 1 to 1,000,000"),
    ("DRIFT_MIX_SHIFT", "2", "from 0 to 1"),
])
def test_a_setting_out_of_its_range_stops_start_up_naming_it(monkeypatch, name, value, says):
    # What was seen: QUERY_TIMEOUT_SECONDS=0 started a server whose every read answered 503.
    from backend.app import default_config
    from backend.errors import StartupError

    monkeypatch.setenv(name, value)
    with pytest.raises(StartupError, match=f"^{name}='{value}' must be a number {says}$"):
        default_config()


@pytest.mark.parametrize("name, value", [("STATE_MAX_GAP_SECONDS", "nan"), ("STATE_MAX_GAP_SECONDS", "inf"),
                                         ("DRIFT_MIX_SHIFT", "nan")])
def test_a_setting_that_is_no_finite_number_stops_start_up_naming_it(monkeypatch, name, value):
    from backend.app import default_config
    from backend.errors import StartupError

    monkeypatch.setenv(name, value)
    with pytest.raises(StartupError, match=f"^{name}='{value}' must be a finite number$"):
        default_config()


def test_the_mqtt_settings_are_read_as_strictly(monkeypatch):
    # A typo in MQTT_TLS must not send the broker's password in clear.
    from backend.errors import StartupError
    from backend.mqtt import settings

    assert settings({"MQTT_TLS": "yes", "MQTT_PORT": "8883"})["tls"] is True
    with pytest.raises(StartupError, match="^MQTT_TLS='ture' is not one of"):
        settings({"MQTT_TLS": "ture"})
    with pytest.raises(StartupError, match="^MQTT_PORT='abc' is not an integer$"):
        settings({"MQTT_PORT": "abc"})
    with pytest.raises(StartupError, match="^MQTT_KEEPALIVE_SECONDS='0' must be a number at least 1$"):
        settings({"MQTT_KEEPALIVE_SECONDS": "0"})


def test_a_token_list_with_a_stray_comma_is_taken(make_client):
    client = make_client(INGEST_TOKENS="cam-a,, cam-b,")
    assert post(client, "cam-b").status_code == 201


def test_blank_token_in_the_server_process_is_one_line(tmp_path):
    import subprocess

    from tests.servers import GUNICORN, REPO_ROOT, Server

    server = Server(tmp_path / "server", GUNICORN, ADMIN_TOKEN=",")
    finished = subprocess.run(server.command, cwd=REPO_ROOT, env=server.env, capture_output=True, text=True,
                              timeout=60)
    lines = [line for line in (finished.stdout + finished.stderr).splitlines() if line.strip()]
    assert finished.returncode == 1 and len(lines) == 1 and "ADMIN_TOKEN" in lines[0], lines
