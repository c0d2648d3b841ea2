"""The OpenAPI document: it names every route, it is valid OpenAPI, and a live server keeps to it.

The last part runs schemathesis (pinned in requirements-dev.txt) against real gunicorn servers on
127.0.0.1: for every operation, boundary and negative cases (its coverage phase) and generated
ones (its fuzzing phase), each answer checked for a 5xx, an undocumented status, a wrong content
type, missing documented headers and a body that does not match the document.
"""

import os
import re
import shutil

import pytest
import schemathesis
from schemathesis import checks as st_checks
from schemathesis.specs.openapi import checks as openapi_checks

from backend import openapi, params
from tests.helpers import assert_problem
from tests.servers import Server

# The dashboard's static files are not part of the API.
UNDOCUMENTED_ENDPOINTS = {"dashboard.index", "dashboard.asset"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}

CHECKS = [
    st_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    # A request the document calls invalid (a value out of range, a missing field) must be refused.
    openapi_checks.negative_data_rejection,
]

# Bounded and repeatable: fixed seed, no example database, at most this many generated cases per
# operation (the coverage phase adds its own boundary and negative cases). `FUZZ_EXAMPLES=500`
# searches deeper, for a run by hand.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
FUZZ_CONFIG = {
    "seed": 20260115,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none", "mode": "all"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
               "stateful": {"enabled": False}},
    # 413 is how a batch over `MAX_BATCH` is refused (SPEC §4); 401/403 on the server that wants tokens.
    "checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 413, 422]}},
}


def openapi_path(rule):
    """A Flask rule (`/metrics/workers/<id:worker_id>`) as an OpenAPI path (`/metrics/workers/{worker_id}`)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def routes(app):
    """Every `(path, method)` the app answers, in OpenAPI spelling, without the dashboard's files."""
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in UNDOCUMENTED_ENDPOINTS
        for method in rule.methods - IGNORED_METHODS
    }


def documented(document):
    methods = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
    return {(path, method) for path, item in document["paths"].items() for method in item if method in methods}


def test_every_route_is_documented_and_every_documented_route_exists(app):
    document = openapi.build_document()
    assert routes(app) - documented(document) == set(), "routes missing from backend/openapi.py"
    assert documented(document) - routes(app) == set(), "documented operations the app does not have"


def test_openapi_json_serves_the_document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == openapi.build_document()


def test_document_is_valid_openapi():
    # schemathesis validates against the official OpenAPI 3.0 meta-schema.
    schemathesis.openapi.from_dict(openapi.build_document()).validate()


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves_and_every_component_is_used():
    document = openapi.build_document()
    components = document["components"]
    used = set()
    for ref in _refs(document):
        section, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in components.get(section, {}), f"dangling {ref}"
        used.add((section, name))
    defined = {(section, name) for section, items in components.items() if section != "securitySchemes"
               for name in items}
    assert defined - used == set(), "components nobody refers to"


def test_every_path_parameter_is_declared():
    for path, item in openapi.build_document()["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{([^}]+)}", path)), (method, path)


def _bounded_parameters(document):
    """`(method, path, name, schema)` of every documented query parameter but the instants (whose
    rules are the time model's); each schema is made by `params.Param` from the parameter's definition."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["schema"].get("format") != "date-time":
                    yield method, path, parameter["name"], parameter["schema"]


def _edges(schema):
    """`(values the server must take, values it must refuse)` at the edges of a parameter's schema."""
    if "enum" in schema:
        return schema["enum"], ["-".join(map(str, schema["enum"])) + "-"]
    if schema["type"] == "boolean":
        return ["true", "false"], ["yes", "1"]
    if schema["type"] == "string":
        return ["x" * schema["maxLength"]], ["x" * (schema["maxLength"] + 1)]
    step = 1 if schema["type"] == "integer" else 0.001
    return [schema["minimum"], schema["maximum"]], [schema["minimum"] - step, schema["maximum"] + step]


@pytest.mark.parametrize("method, path, name, schema", list(_bounded_parameters(openapi.build_document())),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_every_parameter_takes_the_values_its_definition_allows_and_no_other(client, method, path, name, schema):
    url = path.format(worker_id="W-01", workstation_id="WS-02", site_id="plant-north")
    send = getattr(client, method)
    inside, outside = _edges(schema)
    for value in inside:
        body = send(url, query_string={name: value}).get_json()
        assert name not in {error["field"] for error in body.get("errors", [])}, (value, body)
    for value in outside:
        body = assert_problem(send(url, query_string={name: value}), 422)
        assert name in {error["field"] for error in body["errors"]}, (value, body)


# schemathesis 4.32.5 cannot take its schema from a fixture under pytest 9.2 (`from_fixture` reads
# `Node._nodeid`, which pytest 9.2 removed), so the schema is loaded here, at collection, from the
# builder the server serves; the live tests first check that the served `/openapi.json` is it.
SCHEMA = schemathesis.openapi.from_dict(openapi.build_document(), config=schemathesis.Config.from_dict(FUZZ_CONFIG))


# --- every documented status, answered as documented ---------------------------------------------

METRICS_PATHS = ["/metrics/factory", "/metrics/workers", "/metrics/workers/{worker_id}", "/metrics/workstations",
                 "/metrics/workstations/{workstation_id}", "/metrics/timeline", "/metrics/hourly",
                 "/metrics/models", "/metrics/drift", "/metrics/dashboard"]
DEMO_IDS = {"worker_id": "W-01", "workstation_id": "WS-02", "site_id": "plant-north"}
TOKENS = {"INGEST_TOKEN": "edge-token", "ADMIN_TOKEN": "admin-token"}
EVENT = {"timestamp": "2026-01-15T10:00:00Z", "worker_id": "W1", "workstation_id": "S1", "event_type": "working"}


def _path_parameters(path, value=None):
    return {name: value or DEMO_IDS[name] for name in re.findall(r"{([^}]+)}", path)}


def _seed(client):
    assert client.post("/seed").status_code == 200


def _drop_database(client):
    """Take the database away (its folder deleted) before any request opened it."""
    shutil.rmtree(os.path.dirname(client.application.config["DATABASE_PATH"]))


def _metrics_cases(path):
    def ok(client):
        _seed(client)
        return {"path_parameters": _path_parameters(path)}

    def not_modified(client):
        _seed(client)
        url = path.format(**_path_parameters(path))
        return {"path_parameters": _path_parameters(path),
                "headers": {"If-None-Match": client.get(url).headers["ETag"]}}

    cases = {
        200: ({}, ok),
        304: ({}, not_modified),
        422: ({}, lambda client: {"path_parameters": _path_parameters(path), "query": {"min_confidence": "many"}}),
        503: ({}, lambda client: _drop_database(client) or {"path_parameters": _path_parameters(path)}),
    }
    if "{" in path:
        cases[404] = ({}, lambda client: {"path_parameters": _path_parameters(path, "nobody")})
    if path in ("/metrics/timeline", "/metrics/hourly"):
        cases[404] = ({}, lambda client: {"query": {"worker_id": "nobody"}})
    return {("GET", path, status): case for status, case in cases.items()}


CALENDAR = {"time_zone": "Europe/Berlin", "shifts": [
    {"name": "Early", "start": "06:00", "end": "14:00", "breaks": [{"start": "09:00", "end": "09:15"}]}]}
SETUP_WRITES = {
    "/calendar": CALENDAR,
    "/sites/{site_id}": {"name": "North", "time_zone": "America/New_York"},
    "/workstations/{workstation_id}": {"name": "Press 2", "target_units_per_hour": 12},
    "/workers/{worker_id}": {"name": "Ada"},
    "/alerts/rules": {"rules": [{"id": "idle-long", "kind": "worker_idle", "minutes": 10}], "webhooks": []},
}
INVALID_SETUP_WRITES = {
    "/calendar": {"time_zone": "Mars/Base", "shifts": [{"name": "", "start": "25:00", "end": "14:00"}]},
    "/sites/{site_id}": {"name": " ", "shifts": "all day"},
    "/workstations/{workstation_id}": {"target_units_per_hour": -1, "site_id": "nowhere"},
    "/workers/{worker_id}": {"name": 7},
    "/alerts/rules": {"rules": [{"id": "", "kind": "dancing"}]},
}


def _put_ok(client, url, body):
    """PUT `body` to `url`, demand 200, and ask for nothing more of the case (`{}`)."""
    assert client.put(url, json=body).status_code == 200
    return {}


def _setup_write_cases(path):
    def write(body):
        def prepare(client):
            _seed(client)
            _put_ok(client, "/sites/plant-north", {"name": "North"})
            return {"path_parameters": _path_parameters(path), "body": body}
        return prepare

    def broken_json(client):
        _seed(client)
        return ({"path_parameters": _path_parameters(path)},
                client.put(path.format(**_path_parameters(path)), data=b'{"name": ', content_type="application/json"))

    def too_large(client):
        return ({"path_parameters": _path_parameters(path)},
                client.put(path.format(**_path_parameters(path)), json={"name": "x" * 200}))

    def unprepared(headers):
        return lambda client: {"path_parameters": _path_parameters(path), "body": SETUP_WRITES[path],
                               "headers": headers}

    cases = {
        200: ({}, write(SETUP_WRITES[path])),
        400: ({}, broken_json),
        401: (TOKENS, unprepared({})),
        403: (TOKENS, unprepared({"Authorization": "Bearer nope"})),
        413: ({"MAX_CONTENT_LENGTH": 100}, too_large),
        422: ({}, write(INVALID_SETUP_WRITES[path])),
        503: ({}, lambda client: _drop_database(client) or {"path_parameters": _path_parameters(path),
                                                           "body": SETUP_WRITES[path]}),
    }
    if path in ("/workstations/{workstation_id}", "/workers/{worker_id}"):
        cases[404] = ({}, lambda client: {"path_parameters": _path_parameters(path, "nobody"),
                                          "body": SETUP_WRITES[path]})
    return {("PUT", path, status): case for status, case in cases.items()}


def _shifts_cases(path):
    return {
        ("GET", path, 200): ({}, lambda client: _seed(client) or {}),
        ("GET", path, 404): ({}, lambda client: {"query": {"site_id": "nowhere"}}),
        ("GET", path, 422): ({}, lambda client: _put_ok(client, "/calendar", {"shifts": [  # 48 a day
            {"name": f"S{n}", "start": f"{n // 2:02d}:{n % 2 * 30:02d}", "end": f"{n // 2:02d}:{n % 2 * 30 + 29:02d}"}
            for n in range(48)]})),
        ("GET", path, 503): ({}, lambda client: _drop_database(client) or {}),
    }


def _post_twice(client):
    client.post("/events", json=EVENT)
    return {"body": EVENT}


# (method, path, status) -> (settings of the app, prepare(client) -> the request as `Case` arguments,
# or the response itself when the request is one a `Case` cannot make, such as broken JSON, or both)
STATUS_CASES = {
    ("GET", "/health", 200): ({}, lambda client: {}),
    ("GET", "/health", 503): ({}, lambda client: _drop_database(client) or {}),
    ("POST", "/events", 201): ({}, lambda client: {"body": [EVENT]}),
    ("POST", "/events", 200): ({}, _post_twice),
    ("POST", "/events", 400): ({}, lambda client: client.post("/events", data=b'{"timestamp": ',
                                                             content_type="application/json")),
    ("POST", "/events", 401): (TOKENS, lambda client: {"body": EVENT}),
    ("POST", "/events", 403): (TOKENS, lambda client: {"body": EVENT, "headers": {"Authorization": "Bearer nope"}}),
    ("POST", "/events", 413): ({"MAX_BATCH": 2}, lambda client: {"body": [EVENT] * 3}),
    ("POST", "/events", 422): ({}, lambda client: {"body": [{**EVENT, "event_type": "dancing"}]}),
    ("POST", "/events", 503): ({}, lambda client: _drop_database(client) or {"body": EVENT}),
    ("GET", "/events", 200): ({}, lambda client: _seed(client) or {"query": {"limit": 5}}),
    ("GET", "/events", 422): ({}, lambda client: {"query": {"limit": params.LIMIT.maximum + 1}}),
    ("GET", "/events", 503): ({}, lambda client: _drop_database(client) or {}),
    ("GET", "/workers", 200): ({}, lambda client: _seed(client) or {}),
    ("GET", "/workers", 503): ({}, lambda client: _drop_database(client) or {}),
    ("GET", "/workstations", 200): ({}, lambda client: _seed(client) or {}),
    ("GET", "/workstations", 503): ({}, lambda client: _drop_database(client) or {}),
    ("GET", "/sites", 200): ({}, lambda client: _seed(client) or {}),
    ("GET", "/sites", 503): ({}, lambda client: _drop_database(client) or {}),
    ("GET", "/sites/{site_id}", 200): ({}, lambda client: _put_ok(client, "/sites/plant-north", {"name": "North"}) or {
        "path_parameters": {"site_id": "plant-north"}}),
    ("GET", "/sites/{site_id}", 404): ({}, lambda client: {"path_parameters": {"site_id": "nowhere"}}),
    ("GET", "/sites/{site_id}", 503): ({}, lambda client: _drop_database(client) or {
        "path_parameters": {"site_id": "plant-north"}}),
    ("GET", "/calendar", 200): ({}, lambda client: _put_ok(client, "/calendar", CALENDAR)),
    ("GET", "/calendar", 503): ({}, lambda client: _drop_database(client) or {}),
    ("GET", "/alerts/rules", 200): ({}, lambda client: {}),
    ("GET", "/alerts/rules", 401): (TOKENS, lambda client: {}),
    ("GET", "/alerts/rules", 403): (TOKENS, lambda client: {"headers": {"Authorization": "Bearer nope"}}),
    ("GET", "/alerts/rules", 503): ({}, lambda client: _drop_database(client) or {}),
    ("GET", "/alerts", 200): ({}, lambda client: {"query": {"state": "open", "limit": 5}}),
    ("GET", "/alerts", 422): ({}, lambda client: {"query": {"state": "sometimes"}}),
    ("GET", "/alerts", 503): ({}, lambda client: _drop_database(client) or {}),
    **{key: case for path in SETUP_WRITES for key, case in _setup_write_cases(path).items()},
    **{key: case for path in ("/metrics/shifts", "/metrics/shifts.csv") for key, case in _shifts_cases(path).items()},
    **{("GET", path, 304): ({}, lambda client, path=path: _seed(client) or {
        "headers": {"If-None-Match": client.get(f"{path}?to=2026-01-15T12:00:00Z").headers["ETag"]},
        "query": {"to": "2026-01-15T12:00:00Z"}}) for path in ("/metrics/shifts", "/metrics/shifts.csv")},
    ("GET", "/settings", 200): (TOKENS, lambda client: {}),
    ("GET", "/openapi.json", 200): ({}, lambda client: {}),
    ("POST", "/seed", 200): ({}, lambda client: {}),
    ("POST", "/seed", 401): (TOKENS, lambda client: {}),
    ("POST", "/seed", 403): ({"ALLOW_SEED": False}, lambda client: {}),
    ("POST", "/seed", 503): ({}, lambda client: _drop_database(client) or {}),
    ("POST", "/seed", 409): ({}, lambda client: client.post("/events", json=EVENT) and {}),
    ("POST", "/seed", 422): ({}, lambda client: {"query": {"replace": "some"}}),
    **{key: case for path in METRICS_PATHS for key, case in _metrics_cases(path).items()},
}


def documented_statuses(document):
    return {(method.upper(), path, int(status))
            for path, item in document["paths"].items()
            for method, operation in item.items()
            for status in operation["responses"]}


def test_every_documented_status_has_a_case_below():
    assert set(STATUS_CASES) == documented_statuses(openapi.build_document())


@pytest.mark.parametrize("key", sorted(STATUS_CASES), ids=lambda key: f"{key[0]} {key[1]} {key[2]}")
def test_every_documented_status_is_answered_as_documented(make_client, key):
    method, path, status = key
    settings, prepare = STATUS_CASES[key]
    client = make_client(**settings)
    request = prepare(client)
    operation = SCHEMA[path][method]
    if isinstance(request, dict):
        case = operation.Case(**request)
        # The in-process transport does not undo gzip (backend/compress.py), as a client over HTTP does.
        response = case.call(app=client.application, headers={"Accept-Encoding": "identity"})
    elif isinstance(request, tuple):  # the `Case` arguments, and the response to a request a `Case` cannot make
        case, response = operation.Case(**request[0]), request[1]
    else:
        case, response = operation.Case(), request
    assert response.status_code == status, response.text if hasattr(response, "text") else response.data
    # Here a 503 is the point (the live runs below allow no 5xx); everything else is checked.
    checks = [check for check in CHECKS if status < 500 or check is not st_checks.not_a_server_error]
    case.validate_response(response, checks=checks)


@pytest.mark.parametrize("url, status", [
    ("/metrics/workers/nobody", 404),
    ("/metrics/timeline?worker_id=nobody", 404),
    (f"/metrics/hourly?bucket_seconds={params.BUCKET.minimum - 1}", 422),
    ("/metrics/drift?min_events=some", 422),
])
def test_if_none_match_star_hides_no_error(client, url, status):
    _seed(client)
    assert client.get(url).status_code == status
    assert client.get(url, headers={"If-None-Match": "*"}).status_code == status


# --- schemathesis against live servers ------------------------------------------------------------

def _odd_events(shift_end):
    """Events that stress the answers' shapes: ids with `/`, spaces and accents, an integer id, the
    largest count, confidences at both ends and none, no model version or site, one out of order."""
    at = shift_end.replace("T14:00:00Z", "T13:{:02d}:00Z")
    return [
        {"timestamp": at.format(50), "worker_id": "W/7 ü", "workstation_id": "S 9", "event_type": "working",
         "confidence": 0},
        {"timestamp": at.format(51), "worker_id": "W/7 ü", "workstation_id": "S 9", "event_type": "product_count",
         "count": 1_000_000_000, "confidence": 1},
        {"timestamp": at.format(52), "worker_id": 42, "workstation_id": "S 9", "event_type": "idle",
         "confidence": None, "model_version": "floorcam-9", "site_id": "plant-east"},
        {"timestamp": at.format(5), "worker_id": 42, "workstation_id": "S/10", "event_type": "absent"},
    ]


def _live_server(folder, **settings):
    """A gunicorn server with the demo floor and a few odd events, serving this very document."""
    server = Server(folder, **settings).start()
    status, document = server.request("GET", "/openapi.json")
    assert status == 200 and document == openapi.build_document()
    def bearer(name):
        return {"Authorization": f"Bearer {settings[name]}"} if name in settings else {}

    seeded = server.post("/seed", headers=bearer("ADMIN_TOKEN"))
    assert server.post("/events", _odd_events(seeded["to"]), headers=bearer("INGEST_TOKEN"))["accepted"] == 4
    return server


@pytest.fixture(scope="module")
def read_server(tmp_path_factory):
    """A server nothing writes to while the read operations are fuzzed."""
    server = _live_server(tmp_path_factory.mktemp("openapi-read"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def write_server(tmp_path_factory):
    """A server of its own for the operations that change data (`POST /events`, `POST /seed`)."""
    server = _live_server(tmp_path_factory.mktemp("openapi-write"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory):
    """A server that wants tokens, which the fuzzer does not have."""
    server = _live_server(tmp_path_factory.mktemp("openapi-guarded"), **TOKENS)
    yield server
    server.stop()


WRITES = ["POST", "PUT"]


@SCHEMA.exclude(method=WRITES).parametrize()
def test_live_reads_match_the_document(case, read_server):
    case.call_and_validate(base_url=read_server.base, checks=CHECKS)


@SCHEMA.include(method=WRITES).parametrize()
def test_live_writes_match_the_document(case, write_server):
    case.call_and_validate(base_url=write_server.base, checks=CHECKS)


@SCHEMA.include(method=WRITES).parametrize()
def test_live_writes_without_a_token_are_refused_as_documented(case, guarded_server):
    response = case.call_and_validate(base_url=guarded_server.base, checks=CHECKS)
    if case.method.upper() == case.operation.method.upper():  # not one of the coverage phase's wrong methods
        assert response.status_code in (401, 403)
