"""The OpenAPI 3.0 document of the HTTP API, built in one place and served at `/openapi.json`.

Every route of `api.py` is described here with every status it can answer; `tests/test_openapi.py`
fails when a route is added without being documented, and runs schemathesis against a live
server to hold every answer to this document.
"""

from .ingest import EVENT_TYPES, MAX_COUNT, MAX_EVENT_ID_LENGTH, MAX_ID_LENGTH, STATE_TYPES
from .params import MAX_TEXT_LENGTH
from .reports import TEN_YEARS_SECONDS
from .timeutil import MAX_INSTANT_LENGTH

OPENAPI_VERSION = "3.0.3"
API_VERSION = "1.0.0"
FEED_LIMIT_MAX = 1000  # api.FEED_LIMIT_MAX; a test holds the two equal
FEED_LIMIT_DEFAULT = 50
MAX_BUCKET_SECONDS = 31 * 86_400
MAX_RECENT_SECONDS = 366 * 86_400

PROBLEM_JSON = "application/problem+json"


# Small builders, so each schema below reads as its rule.

def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name):
    return {"$ref": f"#/components/parameters/{name}"}


def _response(name):
    return {"$ref": f"#/components/responses/{name}"}


def _header(name):
    return {"$ref": f"#/components/headers/{name}"}


def _object(properties, required=None, description=None):
    required = list(properties) if required is None else required
    schema = {"type": "object", "properties": properties}
    if required:  # OpenAPI 3.0 forbids an empty `required`
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def _array(items, description=None, **limits):
    schema = {"type": "array", "items": items, **limits}
    if description:
        schema["description"] = description
    return schema


def _nullable(schema):
    """`schema` or `null` (OpenAPI 3.0 spelling; an enum must then list `null` as well)."""
    schema = {**schema, "nullable": True}
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _json(schema, description, headers=None):
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _problem(status, description, schema=None, headers=None):
    """A problem-details answer whose `status` member is `status`."""
    body = {"allOf": [schema or _ref("Problem"), {"type": "object", "properties": {"status": {"enum": [status]}}}]}
    response = {"description": description, "content": {PROBLEM_JSON: {"schema": body}}}
    if headers:
        response["headers"] = headers
    return response


def _query(name, schema, description, example=None):
    # An empty value (`?to=`) counts as not given, so it is allowed everywhere.
    parameter = {"name": name, "in": "query", "required": False, "allowEmptyValue": True, "schema": schema,
                 "description": description}
    if example is not None:
        parameter["example"] = example
    return parameter


INSTANT = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$",
           "description": "ISO-8601 UTC ending in `Z`, with milliseconds when there are any."}
SECONDS = {"type": "number", "minimum": 0}
PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
COUNT = {"type": "integer", "minimum": 0}
RATE = {"type": "number", "minimum": 0}
SHARE = {"type": "number", "minimum": 0, "maximum": 1}
IDENTIFIER = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
STATE = {"type": "string", "enum": list(STATE_TYPES)}


def _schemas():
    field_error = _object({
        "field": _nullable({"type": "string", "description": "The field (or `events[i].field`); `null` for the whole event."}),
        "message": {"type": "string"},
    })
    problem = _object({
        "type": {"type": "string", "description": "Always `about:blank`: the status says it all."},
        "title": {"type": "string", "minLength": 1},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "minLength": 1},
        "errors": _array(_ref("FieldError"), "Every problem, where there are several.", minItems=1),
    }, required=["type", "title", "status", "detail"],
        description="RFC 9457 problem details; never a stack trace.")

    timestamp_rule = (
        "ISO-8601 date-time (at most 64 characters); an offset (`Z`, `+02:00`) is honoured, a time "
        "without one is UTC. It must lie between 1970-01-01 and 9999-12-31 UTC and at most "
        "`CLOCK_SKEW_SECONDS` (default 300) in the future, or the event is rejected."
    )
    optional_text = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "nullable": True}
    event_common = {
        "timestamp": {"type": "string", "format": "date-time", "maxLength": MAX_INSTANT_LENGTH,
                      "description": timestamp_rule},
        "worker_id": {"oneOf": [{**IDENTIFIER, "pattern": r"\S"}, {"type": "integer"}],
                      "description": "1-64 characters, not only blanks; an integer is taken as its decimal "
                                     "string. A new id is registered with the id as its name."},
        "workstation_id": {"oneOf": [{**IDENTIFIER, "pattern": r"\S"}, {"type": "integer"}],
                           "description": "As `worker_id`."},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
        "event_id": {"type": "string", "minLength": 1, "maxLength": MAX_EVENT_ID_LENGTH, "nullable": True,
                     "description": "The sender's idempotency key: an event with a known `event_id` is a duplicate."},
        "model_version": optional_text,
        "site_id": optional_text,
    }
    required = ["timestamp", "worker_id", "workstation_id", "event_type"]
    state_event = _object({
        **event_common,
        "event_type": STATE,
        "count": {"type": "integer", "nullable": True, "enum": [None], "description": "Absent or `null`."},
    }, required=required, description="A `working`, `idle` or `absent` event. Other members are ignored.")
    count_event = _object({
        **event_common,
        "event_type": {"type": "string", "enum": ["product_count"]},
        "count": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT,
                  "description": "Units made; `3.0` is 3, `true` is not a number."},
    }, required=[*required, "count"], description="A `product_count` event. Other members are ignored.")

    result = {
        "oneOf": [
            _object({"index": COUNT, "status": {"type": "string", "enum": ["accepted", "duplicate"]},
                     "id": {"type": "integer", "minimum": 1,
                            "description": "The stored row (for a duplicate: the row it repeats)."}}),
            _object({"index": COUNT, "status": {"type": "string", "enum": ["rejected"]},
                     "errors": _array(_ref("FieldError"), minItems=1)}),
        ],
    }
    ingest_counts = {
        "accepted": COUNT,
        "duplicates": COUNT,
        "rejected": COUNT,
        "results": _array(result, "One entry per event of the request, in order."),
    }

    window = _object({
        "from": _nullable(INSTANT),
        "to": _nullable(INSTANT),
        "seconds": SECONDS,
    }, description="The window `[S, E]` of SPEC §5; `from`/`to` are `null` (and `seconds` 0) when it is empty.")

    worker_figures = _object({
        "worker_id": {"type": "string"},
        "name": {"type": "string"},
        "active_seconds": SECONDS,
        "idle_seconds": SECONDS,
        "absent_seconds": SECONDS,
        "utilization_pct": {**PERCENT, "description": "100 × active / (active + idle); 0 without either."},
        "units": COUNT,
        "units_per_hour": {**RATE, "description": "units / active hours; 0 without active time."},
        "last_state": _nullable(STATE),
        "last_seen": _nullable(INSTANT),
        "current_workstation_id": _nullable({"type": "string"}),
    })
    workstation_figures = _object({
        "workstation_id": {"type": "string"},
        "name": {"type": "string"},
        "occupancy_seconds": {**SECONDS, "description": "The union of all workers' working and idle time there."},
        "utilization_pct": {**PERCENT, "description": "100 × occupancy / window length."},
        "units": COUNT,
        "throughput_per_hour": {**RATE, "description": "units / occupied hours."},
    })
    factory_figures = _object({
        "total_active_seconds": SECONDS,
        "total_idle_seconds": SECONDS,
        "total_units": COUNT,
        "average_production_rate": RATE,
        "average_utilization_pct": PERCENT,
        "worker_count": COUNT,
        "workstation_count": COUNT,
        "event_count": COUNT,
    })

    interval = _object({
        "from": INSTANT,
        "to": INSTANT,
        "state": STATE,
        "workstation_id": {"type": "string"},
        "seconds": SECONDS,
    })
    bucket = _object({
        "from": INSTANT,
        "to": INSTANT,
        "active_seconds": SECONDS,
        "idle_seconds": SECONDS,
        "absent_seconds": SECONDS,
        "utilization_pct": PERCENT,
        "units": COUNT,
    })

    model_version = _nullable({"type": "string", "description": "`null` for events without a model version."})
    confidence = _nullable(SHARE)
    model_figures = _object({
        "model_version": model_version,
        "event_count": COUNT,
        "confidence_count": {**COUNT, "description": "Events that carry a confidence."},
        "mean_confidence": confidence,
        "p10_confidence": {**confidence, "description": "Nearest-rank 10th percentile."},
        "low_confidence_share": SHARE,
        "first_seen": INSTANT,
        "last_seen": INSTANT,
    })
    confidence_point = _object({
        "model_version": model_version,
        "from": INSTANT,
        "to": INSTANT,
        "events": COUNT,
        "mean_confidence": confidence,
    })
    drift_rules = _object({
        "recent_seconds": SECONDS,
        "confidence_drop": {"type": "number"},
        "mix_shift": {"type": "number"},
        "min_events": {"type": "integer"},
        "min_present_seconds": SECONDS,
    })
    verdict = {
        "threshold": {"type": "number"},
        "flagged": {"type": "boolean"},
        "exceeded_by": _nullable({"type": "number", "minimum": 0}),
        "reason": _nullable({"type": "string"}),
    }
    model_drift = _object({
        "model_version": model_version,
        "baseline": _object({"from": INSTANT, "to": INSTANT, "events": COUNT, "mean_confidence": confidence}),
        "recent": _object({"from": INSTANT, "to": INSTANT, "events": COUNT, "mean_confidence": confidence}),
        "confidence_drop": _nullable({"type": "number", "minimum": -1, "maximum": 1,
                                      "description": "Baseline minus recent mean; `null` when not compared."}),
        **verdict,
    })
    side = _object({"from": INSTANT, "to": INSTANT, "working_share": _nullable(SHARE), "present_seconds": SECONDS})
    worker_drift = _object({
        "worker_id": {"type": "string"},
        "name": {"type": "string"},
        "baseline": side,
        "recent": side,
        "shift": _nullable({"type": "number", "minimum": -1, "maximum": 1,
                            "description": "Recent minus baseline working share; `null` when not compared."}),
        **verdict,
    })

    stored_event = _object({
        "id": {"type": "integer", "minimum": 1},
        "event_id": _nullable({"type": "string"}),
        "timestamp": INSTANT,
        "worker_id": {"type": "string"},
        "workstation_id": {"type": "string"},
        "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
        "confidence": confidence,
        "count": _nullable({"type": "integer", "minimum": 1, "maximum": MAX_COUNT}),
        "model_version": _nullable({"type": "string"}),
        "site_id": _nullable({"type": "string"}),
        "received_at": INSTANT,
    })

    return {
        "Problem": problem,
        "FieldError": field_error,
        "StateEvent": state_event,
        "ProductCountEvent": count_event,
        "Event": {"oneOf": [_ref("StateEvent"), _ref("ProductCountEvent")]},
        "EventBatch": _array(_ref("Event"), "At most `MAX_BATCH` (default 5000) events; more is `413`.",
                             minItems=1, maxItems=5000),
        "IngestResult": _object(ingest_counts),
        "IngestProblem": {"allOf": [_ref("Problem"), _object(ingest_counts, required=[])],
                          "description": "A problem; when every event was rejected it also carries the "
                                         "per-event `results` and the counts."},
        "Window": window,
        "WorkerFigures": worker_figures,
        "WorkstationFigures": workstation_figures,
        "FactoryFigures": factory_figures,
        "FactoryMetrics": _object({"window": _ref("Window"), "factory": _ref("FactoryFigures")}),
        "WorkersMetrics": _object({"window": _ref("Window"), "workers": _array(_ref("WorkerFigures"))}),
        "WorkerMetrics": _object({"window": _ref("Window"), "worker": _ref("WorkerFigures")}),
        "WorkstationsMetrics": _object({"window": _ref("Window"),
                                        "workstations": _array(_ref("WorkstationFigures"))}),
        "WorkstationMetrics": _object({"window": _ref("Window"), "workstation": _ref("WorkstationFigures")}),
        "StateInterval": interval,
        "Timeline": _object({
            "window": _ref("Window"),
            "workers": _array(_object({"worker_id": {"type": "string"}, "name": {"type": "string"},
                                       "intervals": _array(_ref("StateInterval"))})),
        }),
        "Bucket": bucket,
        "Buckets": _object({
            "window": _ref("Window"),
            "bucket_seconds": {"type": "integer", "minimum": 60},
            "buckets": _array(_ref("Bucket"), "Empty when the window is; they add up to the window's totals."),
        }),
        "ModelFigures": model_figures,
        "ConfidencePoint": confidence_point,
        "Models": _object({
            "window": _ref("Window"),
            "low_confidence_threshold": SHARE,
            "bucket_seconds": {"type": "integer", "minimum": 60},
            "models": _array(_ref("ModelFigures")),
            "series": _array(_ref("ConfidencePoint")),
        }),
        "DriftRules": drift_rules,
        "ModelDrift": model_drift,
        "WorkerDrift": worker_drift,
        "Drift": _object({
            "window": _ref("Window"),
            "rules": _ref("DriftRules"),
            "models": _array(_ref("ModelDrift")),
            "workers": _array(_ref("WorkerDrift")),
            "flagged": {**COUNT, "description": "How many models and workers are flagged."},
        }),
        "StoredEvent": stored_event,
        "EventFeed": _object({
            "events": _array(_ref("StoredEvent"), "Newest first.", maxItems=FEED_LIMIT_MAX),
            "limit": {"type": "integer", "minimum": 1, "maximum": FEED_LIMIT_MAX},
            "has_more": {"type": "boolean", "description": "Whether more events match than `limit`."},
        }),
        "Workers": _object({"workers": _array(_object({"worker_id": {"type": "string"},
                                                       "name": {"type": "string"}}))}),
        "Workstations": _object({"workstations": _array(_object({"workstation_id": {"type": "string"},
                                                                 "name": {"type": "string"}}))}),
        "Sites": _object({"sites": _array(_object({"site_id": {"type": "string"}}))}),
        "Settings": _object({
            "factory_tz": {"type": "string", "description": "IANA time zone name (`FACTORY_TZ`)."},
            "poll_seconds": {"type": "number"},
            "seed": _object({"allowed": {"type": "boolean"}, "needs_token": {"type": "boolean"}}),
        }),
        "Health": _object({
            "status": {"type": "string", "enum": ["ok"]},
            "database": {"type": "string", "enum": ["ok"]},
            "events": {**COUNT, "description": "How many events are stored."},
        }),
        "Seeded": _object({
            "seeded": {"type": "boolean", "enum": [True]},
            "workers": COUNT,
            "workstations": COUNT,
            "events": COUNT,
            "from": INSTANT,
            "to": INSTANT,
        }),
        "OpenAPIDocument": _object({"openapi": {"type": "string"}, "info": {"type": "object"},
                                    "paths": {"type": "object"}}),
    }


def _parameters():
    text = {"type": "string", "maxLength": MAX_TEXT_LENGTH}
    instant = {"type": "string", "format": "date-time", "maxLength": MAX_INSTANT_LENGTH}
    return {
        "From": _query("from", instant, "Window start (ISO-8601; between 1970 and 9999 UTC). An empty value "
                                        "counts as not given; `from` later than `to` is `422`."),
        "To": _query("to", instant, "Window end (ISO-8601; between 1970 and 9999 UTC); never later than now."),
        "SiteId": _query("site_id", text, "Only this site's events count.", "plant-north"),
        "MinConfidence": _query("min_confidence", {"type": "number", "minimum": 0, "maximum": 1},
                                "Events below it do not count; an event without a confidence always does."),
        "MaxGapSeconds": _query("max_gap_seconds",
                                {"type": "number", "minimum": 0.001, "maximum": TEN_YEARS_SECONDS},
                                "Cap on one state interval for this query (overrides `STATE_MAX_GAP_SECONDS`)."),
        "IfNoneMatch": {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                        "description": "An `ETag` of an earlier answer: `304` when the answer is unchanged."},
        "WorkerFilter": _query("worker_id", text, "Only this worker (`404` when not in scope).", "W-02"),
        "WorkstationFilter": _query("workstation_id", text, "Only time and units at this workstation "
                                                            "(`404` when not in scope).", "WS-02"),
        "BucketSeconds": _query("bucket_seconds", {"type": "integer", "minimum": 60, "maximum": MAX_BUCKET_SECONDS},
                                "Bucket size; default an hour (a UTC day over windows longer than a week). "
                                "More than 5000 buckets over the window is `422`."),
    }


def _responses():
    return {
        "InvalidQuery": _problem(422, "A query parameter does not parse or is out of range, or `from` is "
                                      "later than `to`; `errors` names each."),
        "NotModified": {"description": "The client's `If-None-Match` names this answer's ETag: no body.",
                        "headers": {"ETag": _header("ETag"), "Cache-Control": _header("CacheControl")}},
        "NotFound": _problem(404, "No such worker or workstation in this scope."),
        "Unavailable": _problem(503, "The database could not answer in time (locked by a writer, or the query "
                                     "ran past `QUERY_TIMEOUT_SECONDS`); nothing was changed. Retry shortly.",
                                headers={"Retry-After": _header("RetryAfter")}),
    }


def _headers():
    return {
        "ETag": {"required": True, "schema": {"type": "string", "minLength": 3},
                 "description": "Changes when the stored data or the resolved window does."},
        "CacheControl": {"required": True, "schema": {"type": "string", "enum": ["no-cache"]},
                         "description": "Revalidate on every poll."},
        "RetryAfter": {"required": True, "schema": {"type": "integer", "minimum": 0},
                       "description": "Seconds to wait before sending the same request again."},
        "WWWAuthenticate": {"required": True, "schema": {"type": "string", "enum": ["Bearer"]}},
    }


METRICS_PARAMETERS = ["From", "To", "SiteId", "MinConfidence", "MaxGapSeconds", "IfNoneMatch"]


def _metrics_get(operation_id, summary, body_schema, extra_parameters=(), extra_responses=None):
    return {"get": {
        "operationId": operation_id,
        "tags": ["metrics"],
        "summary": summary,
        "parameters": [_param(name) for name in [*METRICS_PARAMETERS, *extra_parameters]],
        "responses": {
            "200": _json(_ref(body_schema), "The figures.",
                         headers={"ETag": _header("ETag"), "Cache-Control": _header("CacheControl")}),
            "304": _response("NotModified"),
            **(extra_responses or {}),
            "422": _response("InvalidQuery"),
            "503": _response("Unavailable"),
        },
    }}


def _single_item(operation_id, kind, body_schema, example):
    path_parameter = {"name": f"{kind}_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
                      "description": f"The {kind}'s id (it may hold `/`).", "example": example}
    operation = _metrics_get(operation_id, f"One {kind}: exactly the list's item for the same query.",
                             body_schema, extra_responses={"404": _response("NotFound")})
    operation["get"]["parameters"].insert(0, path_parameter)
    return operation


def _simple_get(operation_id, tag, summary, body_schema, description="The list.", reads_database=True):
    responses = {"200": _json(_ref(body_schema), description)}
    if reads_database:
        responses["503"] = _response("Unavailable")
    return {"get": {"operationId": operation_id, "tags": [tag], "summary": summary, "responses": responses}}


def _paths():
    unauthorized = _problem(401, "A token is configured and the request carries no `Authorization: Bearer` header.",
                            headers={"WWW-Authenticate": _header("WWWAuthenticate")})
    feed_parameters = [
        _query("worker_id", {"type": "string", "maxLength": MAX_TEXT_LENGTH}, "Only this worker's events."),
        _query("workstation_id", {"type": "string", "maxLength": MAX_TEXT_LENGTH}, "Only this workstation's events."),
        _param("SiteId"),
        _query("event_type", {"type": "string", "enum": list(EVENT_TYPES)}, "Only events of this type."),
        _param("From"),
        _param("To"),
        _param("MinConfidence"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": FEED_LIMIT_MAX, "default": FEED_LIMIT_DEFAULT},
               "How many events at most."),
    ]
    return {
        "/health": {"get": {
            "operationId": "health", "tags": ["operations"], "summary": "Whether the database answers.",
            "responses": {
                "200": _json(_ref("Health"), "The database answers."),
                "503": _problem(503, "The database does not answer (`detail` says why)."),
            },
        }},
        "/events": {
            "post": {
                "operationId": "postEvents", "tags": ["ingestion"],
                "summary": "Take in one event, an array of events, or `{\"events\": [...]}`.",
                "description": "Each event is checked on its own; all valid new events of a request are "
                               "stored in one transaction. Duplicates (same `event_id`, or without one the "
                               "same instant, worker, workstation, type and count) are not stored again.",
                "security": [{}, {"ingestToken": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"anyOf": [_ref("Event"), _ref("EventBatch"), _object({"events": _ref("EventBatch")})]},
                    "example": {"timestamp": "2026-01-15T10:00:00+02:00", "worker_id": "W-01", "workstation_id": "WS-01",
                                "event_type": "product_count", "count": 3, "confidence": 0.93,
                                "event_id": "cam7-000123", "model_version": "floorcam-2.4.0",
                                "site_id": "plant-north"},
                }}},
                "responses": {
                    "200": _json(_ref("IngestResult"), "Nothing accepted and nothing rejected: all duplicates."),
                    "201": _json(_ref("IngestResult"), "At least one event was accepted."),
                    "400": _problem(400, "The body is not valid JSON."),
                    "401": unauthorized,
                    "403": _problem(403, "The token is not one of `INGEST_TOKEN`'s."),
                    "413": _problem(413, "More than `MAX_BATCH` events, or a body over `MAX_BODY_BYTES`."),
                    "422": _problem(422, "No event was accepted and at least one rejected (then `results` says "
                                         "why for each), or the body is not an event, an array of events or "
                                         "`{\"events\": [...]}`, or the batch is empty.", _ref("IngestProblem")),
                    "503": _problem(503, "The database could not store the batch; nothing of it was kept, "
                                         "send it again.", headers={"Retry-After": _header("RetryAfter")}),
                },
            },
            "get": {
                "operationId": "listEvents", "tags": ["events"], "summary": "The newest events (the live feed).",
                "parameters": feed_parameters,
                "responses": {
                    "200": _json(_ref("EventFeed"), "Newest first."),
                    "422": _response("InvalidQuery"),
                    "503": _response("Unavailable"),
                },
            },
        },
        "/workers": _simple_get("listWorkers", "registry", "Every registered worker.", "Workers"),
        "/workstations": _simple_get("listWorkstations", "registry", "Every registered workstation.",
                                     "Workstations"),
        "/sites": _simple_get("listSites", "registry", "The site ids seen in the events.", "Sites"),
        "/settings": _simple_get("settings", "operations", "What the dashboard needs to know.", "Settings",
                                 "The settings.", reads_database=False),
        "/metrics/factory": _metrics_get("factoryMetrics", "The whole floor's figures.", "FactoryMetrics"),
        "/metrics/workers": _metrics_get("workersMetrics", "Every worker's figures.", "WorkersMetrics"),
        "/metrics/workers/{worker_id}": _single_item("workerMetrics", "worker", "WorkerMetrics", "W-01"),
        "/metrics/workstations": _metrics_get("workstationsMetrics", "Every workstation's figures.",
                                              "WorkstationsMetrics"),
        "/metrics/workstations/{workstation_id}": _single_item("workstationMetrics", "workstation",
                                                               "WorkstationMetrics", "WS-02"),
        "/metrics/timeline": _metrics_get(
            "timelineMetrics", "Each worker's state intervals in the window.", "Timeline",
            ["WorkerFilter", "WorkstationFilter"], {"404": _response("NotFound")}),
        "/metrics/hourly": _metrics_get(
            "hourlyMetrics", "Time in each state and units per bucket.", "Buckets",
            ["WorkerFilter", "WorkstationFilter", "BucketSeconds"], {"404": _response("NotFound")}),
        "/metrics/models": _metrics_get(
            "modelsMetrics", "Figures per model version and a confidence series.", "Models",
            ["LowConfidence", "BucketSeconds"]),
        "/metrics/drift": _metrics_get(
            "driftMetrics", "Confidence drift per model version and working/idle mix shift per worker.", "Drift",
            ["RecentSeconds", "ConfidenceDrop", "MixShift", "MinEvents"]),
        "/seed": {"post": {
            "operationId": "seed", "tags": ["operations"],
            "summary": "Replace all events, workers and workstations with the demo shift.",
            "security": [{}, {"adminToken": []}],
            "responses": {
                "200": _json(_ref("Seeded"), "What was loaded."),
                "401": unauthorized,
                "403": _problem(403, "Seeding is turned off (`ALLOW_SEED=0`) or the token is not `ADMIN_TOKEN`."),
                "503": _response("Unavailable"),
            },
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "tags": ["operations"], "summary": "This document.",
            "responses": {"200": _json(_ref("OpenAPIDocument"), "The OpenAPI document.")},
        }},
    }


def _endpoint_parameters():
    """Parameters only `/metrics/models` and `/metrics/drift` take."""
    return {
        "LowConfidence": _query("low_confidence", {"type": "number", "minimum": 0, "maximum": 1},
                                "Below this an event counts as low-confidence (default `LOW_CONFIDENCE`)."),
        "RecentSeconds": _query("recent_seconds", {"type": "number", "minimum": 60, "maximum": MAX_RECENT_SECONDS},
                                "Length of the recent stretch (default `DRIFT_RECENT_SECONDS`)."),
        "ConfidenceDrop": _query("confidence_drop", {"type": "number", "minimum": 0, "maximum": 1},
                                 "Allowed fall of mean confidence (default `DRIFT_CONFIDENCE_DROP`)."),
        "MixShift": _query("mix_shift", {"type": "number", "minimum": 0, "maximum": 1},
                           "Allowed move of the working share (default `DRIFT_MIX_SHIFT`)."),
        "MinEvents": _query("min_events", {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                            "Rated events each side needs to be compared (default `DRIFT_MIN_EVENTS`)."),
    }


def build_document():
    """The OpenAPI document as a fresh dict."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Factory floor productivity",
            "version": API_VERSION,
            "description": "Events from AI cameras in, productivity metrics out (see README.md). Every "
                           "error is an RFC 9457 problem (`application/problem+json`): malformed JSON "
                           "`400`, wrong shape or values `422`, unknown route `404`, wrong method `405` "
                           "(with `Allow`), body or batch too large `413`. Times go out as ISO-8601 UTC "
                           "ending in `Z`.",
        },
        "tags": [{"name": name} for name in ("ingestion", "events", "metrics", "registry", "operations")],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "parameters": {**_parameters(), **_endpoint_parameters()},
            "responses": _responses(),
            "headers": _headers(),
            "securitySchemes": {
                "ingestToken": {"type": "http", "scheme": "bearer",
                                "description": "An `INGEST_TOKEN`; needed by `POST /events` only when one is set."},
                "adminToken": {"type": "http", "scheme": "bearer",
                               "description": "`ADMIN_TOKEN`; needed by `POST /seed` only when it is set."},
            },
        },
    }


# Built once at import: the document depends on nothing but this module's rules.
DOCUMENT = build_document()
