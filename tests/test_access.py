"""Who gets in: several ingest tokens, an admin token, CORS, and logs that never hold a token."""

import json
import logging

import pytest

from backend.app import create_app
from backend.logs import JsonFormatter
from tests.helpers import assert_problem, event


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
