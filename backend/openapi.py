"""The OpenAPI 3.0 document of the HTTP API, built in one place and served at `/openapi.json`.

Every route of `api.py` is described here with every status it can answer; its query parameters
come from the definitions in `params.py`. `tests/test_openapi.py` fails when a route is added
without being documented, and runs schemathesis against a live server to hold every answer to
this document.
"""

from . import alerts, calendars, params, reports
from .ingest import EVENT_TYPES, MAX_COUNT, MAX_EVENT_ID_LENGTH, MAX_ID_LENGTH, STATE_TYPES
from .metrics import TIME_STATES
from .timeutil import MAX_INSTANT_LENGTH

OPENAPI_VERSION = "3.0.3"
API_VERSION = "1.0.0"

PROBLEM_JSON = "application/problem+json"


# Small builders, so each schema below reads as its rule.

def _ref(name, section="schemas"):
    return {"$ref": f"#/components/{section}/{name}"}


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


def _maybe(name, description):
    """A reference to the schema `name`, or `null` (a `$ref` takes no siblings in OpenAPI 3.0)."""
    return {"allOf": [_ref(name)], "nullable": True, "description": description}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(status, description, schema=None, retry=False):
    """A problem-details answer whose `status` member is `status`; `retry` adds `Retry-After`."""
    body = {"allOf": [schema or _ref("Problem"), {"type": "object", "properties": {"status": {"enum": [status]}}}]}
    response = {"description": description, "content": {PROBLEM_JSON: {"schema": body}}}
    if retry:
        response["headers"] = {"Retry-After": _ref("RetryAfter", "headers")}
    return response


def _query(param):
    """The parameter object of a `params.Param`; an empty value (`?to=`) counts as not given."""
    parameter = {"name": param.name, "in": "query", "required": False, "allowEmptyValue": True,
                 "schema": param.schema(), "description": param.description}
    if param.example is not None:
        parameter["example"] = param.example
    return parameter


STRING = {"type": "string"}
INSTANT = {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$",
           "description": "ISO-8601 UTC ending in `Z`, with milliseconds when there are any."}
SECONDS = {"type": "number", "minimum": 0}
PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
COUNT = {"type": "integer", "minimum": 0}
RATE = {"type": "number", "minimum": 0}
SHARE = {"type": "number", "minimum": 0, "maximum": 1}
IDENTIFIER = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
STATE = {"type": "string", "enum": list(STATE_TYPES)}
CONFIDENCE = _nullable(SHARE)
MODEL_VERSION = _nullable({"type": "string", "description": "`null` for events without a model version."})
BUCKET_SECONDS = {"type": "integer", "minimum": params.BUCKET.minimum}
TIME_STATE = {"type": "string", "enum": list(TIME_STATES), "description": "`unknown`: past the signal horizon."}
STATE_SECONDS = dict.fromkeys(["active_seconds", "idle_seconds", "absent_seconds", "unknown_seconds"], SECONDS)
TARGET = _nullable({"type": "number", "minimum": 0, "maximum": reports.MAX_TARGET_UNITS_PER_HOUR,
                    "description": "Units an hour of planned time; `null`: no target."})
ATTAINMENT = _nullable({"type": "number", "minimum": 0,
                        "description": "100 × units / target_units (over 100 when ahead); `null` without a target."})
TARGET_UNITS = _nullable({"type": "number", "minimum": 0,
                          "description": "Target units per hour × planned hours; `null` without a target."})


def _named(kind):
    """The id and name members of a worker or workstation."""
    return {f"{kind}_id": STRING, "name": STRING}


def _event_schemas():
    timestamp_rule = (
        f"ISO-8601 date-time (at most {MAX_INSTANT_LENGTH} characters); an offset (`Z`, `+02:00`) is honoured, "
        "a time without one is UTC. It must lie between 1970-01-01 and 9999-12-31 UTC and at most "
        "`CLOCK_SKEW_SECONDS` (default 300) in the future, or the event is rejected."
    )
    optional_text = {**IDENTIFIER, "nullable": True}
    identifier = {"oneOf": [{**IDENTIFIER, "pattern": r"\S"}, {"type": "integer"}]}
    event_common = {
        "timestamp": {"type": "string", "format": "date-time", "maxLength": MAX_INSTANT_LENGTH,
                      "description": timestamp_rule},
        "worker_id": {**identifier, "description": f"1-{MAX_ID_LENGTH} characters, not only blanks; an integer "
                                                   "is taken as its decimal string. A new id is registered with "
                                                   "the id as its name."},
        "workstation_id": {**identifier, "description": "As `worker_id`."},
        "confidence": {**SHARE, "nullable": True},
        "event_id": {"type": "string", "minLength": 1, "maxLength": MAX_EVENT_ID_LENGTH, "nullable": True,
                     "description": "The sender's idempotency key: an event with a known `event_id` is a duplicate."},
        "model_version": optional_text,
        "site_id": optional_text,
    }
    required = ["timestamp", "worker_id", "workstation_id", "event_type"]
    result = {"oneOf": [
        _object({"index": COUNT, "status": {"type": "string", "enum": ["accepted", "duplicate"]},
                 "id": {"type": "integer", "minimum": 1,
                        "description": "The stored row (for a duplicate: the row it repeats)."}}),
        _object({"index": COUNT, "status": {"type": "string", "enum": ["rejected"]},
                 "errors": _array(_ref("FieldError"), minItems=1)}),
    ]}
    ingest_counts = {"accepted": COUNT, "duplicates": COUNT, "rejected": COUNT,
                     "results": _array(result, "One entry per event of the request, in order.")}
    return {
        "StateEvent": _object({
            **event_common,
            "event_type": STATE,
            "count": {"type": "integer", "nullable": True, "enum": [None], "description": "Absent or `null`."},
        }, required=required, description="A `working`, `idle` or `absent` event. Other members are ignored."),
        "ProductCountEvent": _object({
            **event_common,
            "event_type": {"type": "string", "enum": ["product_count"]},
            "count": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT,
                      "description": "Units made; `3.0` is 3, `true` is not a number."},
        }, required=[*required, "count"], description="A `product_count` event. Other members are ignored."),
        "Event": {"oneOf": [_ref("StateEvent"), _ref("ProductCountEvent")]},
        "EventBatch": _array(_ref("Event"), "At most `MAX_BATCH` (default 5000) events; more is `413`.",
                             minItems=1, maxItems=5000),
        "IngestResult": _object(ingest_counts),
        "IngestProblem": {"allOf": [_ref("Problem"), _object(ingest_counts, required=[])],
                          "description": "A problem; when every event was rejected it also carries the "
                                         "per-event `results` and the counts."},
        "StoredEvent": _object({
            "id": {"type": "integer", "minimum": 1},
            "event_id": _nullable(STRING),
            "timestamp": INSTANT,
            "worker_id": STRING,
            "workstation_id": STRING,
            "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
            "confidence": CONFIDENCE,
            "count": _nullable({"type": "integer", "minimum": 1, "maximum": MAX_COUNT}),
            "model_version": _nullable(STRING),
            "site_id": _nullable(STRING),
            "received_at": INSTANT,
        }),
        "EventFeed": _object({
            "events": _array(_ref("StoredEvent"), "Newest first.", maxItems=params.LIMIT.maximum),
            "limit": {"type": "integer", "minimum": params.LIMIT.minimum, "maximum": params.LIMIT.maximum},
            "has_more": {"type": "boolean", "description": "Whether more events match than `limit`."},
        }),
    }


def _figure_schemas():
    def with_window(**members):
        return _object({"window": _ref("Window"), **members})

    span = {"from": INSTANT, "to": INSTANT}
    verdict = {
        "threshold": {"type": "number"},
        "flagged": {"type": "boolean"},
        "exceeded_by": _nullable({"type": "number", "minimum": 0}),
        "reason": _nullable(STRING),
    }
    confidence_side = _object({**span, "events": COUNT, "mean_confidence": CONFIDENCE})
    share_side = _object({**span, "working_share": _nullable(SHARE), "present_seconds": SECONDS})
    return {
        "Window": _object({"from": _nullable(INSTANT), "to": _nullable(INSTANT), "seconds": SECONDS},
                          description="The window `[S, E]` of SPEC §5; `from`/`to` are `null` (and `seconds` 0) "
                                      "when it is empty."),
        "WorkerFigures": _object({
            **_named("worker"),
            **STATE_SECONDS,
            "utilization_pct": {**PERCENT, "description": "100 × active / (active + idle); 0 without either."},
            "units": COUNT,
            "units_per_hour": {**RATE, "description": "units / active hours; 0 without active time."},
            "last_state": _nullable(STATE),
            "state_at_end": _nullable(TIME_STATE),
            "last_seen": _nullable(INSTANT),
            "current_workstation_id": _nullable(STRING),
        }),
        "WorkstationFigures": _object({
            **_named("workstation"),
            "occupancy_seconds": {**SECONDS, "description": "The union of all workers' working and idle time there."},
            "utilization_pct": {**PERCENT, "description": "100 × occupancy / window length; with "
                                                          "`planned_only`, / `planned_seconds`."},
            "units": COUNT,
            "throughput_per_hour": {**RATE, "description": "units / occupied hours."},
            "planned_seconds": {**SECONDS, "description": "The planned time of the station's site inside the window."},
            "target_units_per_hour": TARGET,
            "target_units": TARGET_UNITS,
            "attainment_pct": ATTAINMENT,
        }),
        "FactoryFigures": _object({
            **dict.fromkeys(["total_active_seconds", "total_idle_seconds", "total_unknown_seconds"], SECONDS),
            "total_units": COUNT,
            "average_production_rate": RATE, "average_utilization_pct": PERCENT,
            **dict.fromkeys(["worker_count", "workstation_count", "event_count"], COUNT),
            "target_units": {**TARGET_UNITS, "description": "The sum over workstations with a target; `null` if none "
                                                            "has one."},
            "attainment_pct": {**ATTAINMENT, "description": "Their units over that sum; `null` if no workstation "
                                                            "has a target."},
        }),
        "ShiftFigures": _object({
            "site_id": _nullable({**STRING, "description": "`null` for the factory calendar's shifts."}),
            "shift": STRING,
            "date": {"type": "string", "format": "date", "description": "The local date the instance starts on."},
            "start": INSTANT,
            "end": INSTANT,
            "planned_seconds": {**SECONDS, "description": "The whole instance minus its breaks."},
            "status": {"type": "string", "enum": ["done", "running", "planned"]},
            "window": _ref("Window"),
            "factory": _ref("FactoryFigures"),
            "workstations": _array(_ref("WorkstationFigures")),
            "workers": _array(_ref("WorkerFigures")),
        }, description="One shift instance: its figures are the metrics endpoints' for `from=start`, `to=end`, "
                       "`planned_only=true` (and `site_id` for a site's own calendar)."),
        "Shifts": _object({
            "from": INSTANT,
            "to": INSTANT,
            "shifts": _array(_ref("ShiftFigures"), "Oldest first.", maxItems=params.MAX_SHIFT_INSTANCES),
        }),
        "FactoryMetrics": with_window(factory=_ref("FactoryFigures")),
        "WorkersMetrics": with_window(workers=_array(_ref("WorkerFigures"))),
        "WorkerMetrics": with_window(worker=_ref("WorkerFigures")),
        "WorkstationsMetrics": with_window(workstations=_array(_ref("WorkstationFigures"))),
        "WorkstationMetrics": with_window(workstation=_ref("WorkstationFigures")),
        "StateInterval": _object({**span, "state": TIME_STATE, "workstation_id": _nullable(STRING),
                                  "seconds": SECONDS}),
        "StateBand": _object({
            **span,
            "state": {"type": "string", "enum": ["mixed"]},
            "workstation_id": _nullable({**STRING, "description": "The station when all its spells were at one; "
                                                                 "else `null`."}),
            "seconds": {**SECONDS, "description": "Time in its spells: the sum of `split` (less than `to` − `from` "
                                                  "when planned time pauses inside it)."},
            "split": _object({state: SECONDS for state in TIME_STATES}, required=[],
                             description="Seconds in each state; states with none are left out."),
        }, description="Spells shorter than one pixel's time, merged: how the band's time splits by state."),
        "TimelineSlots": _object({
            "from": {**INSTANT, "description": "Start of the first slot (at or before the window's start)."},
            "seconds": {**COUNT, "description": "Length of a slot: whole hours (1, 2, 3, 4 or 6) or days."},
            "states": _array(TIME_STATE, "The states of each row's columns, in this order."),
        }, description="The slots the strips are read in: row k of a worker's `slots` covers "
                       "[`from` + k × `seconds`, `from` + (k + 1) × `seconds`) within the window."),
        "Timeline": with_window(
            resolution_seconds={**SECONDS, "description": "One pixel's time (window / `width`): spells shorter "
                                                          "than it are merged into `mixed` bands."},
            slots=_maybe("TimelineSlots",
                         "`null` when the strips are drawn from the events, as `intervals`: a window of at "
                         "most 3 days with a pixel under an hour, or with a `workstation_id`, site or "
                         "confidence filter, another horizon or `planned_only`. Otherwise the strips are "
                         "read from the roll-ups in slots aligned to UTC, the smallest of 1, 2, 3, 4 or 6 "
                         "hours, else whole days, at least a pixel and a 1,000th of the window long."),
            workers=_array(_object({
                **_named("worker"),
                "intervals": _array(
                    {"oneOf": [_ref("StateInterval"), _ref("StateBand")]},
                    "In time order; empty when the strips are in `slots`. Back-to-back spells of one state at "
                    "one station are one interval; the intervals' and bands' seconds add up to the worker's "
                    "figures."),
                "slots": _nullable(_array(_array(COUNT, minItems=4, maxItems=4), (
                    "One row per slot of the window: the worker's seconds in each of the `states` (whole "
                    "seconds, rounded; the worker's exact figures are those of the metrics). A worker has no "
                    "time before its first state event: a slot's time without it lies at the slot's start."))),
            }))),
        "Bucket": _object({**span, **STATE_SECONDS, "utilization_pct": PERCENT, "units": COUNT}),
        "Buckets": with_window(
            bucket_seconds=BUCKET_SECONDS,
            buckets=_array(_ref("Bucket"), "Empty when the window is; they add up to the window's totals."),
        ),
        "ModelFigures": _object({
            "model_version": MODEL_VERSION,
            "event_count": COUNT,
            "confidence_count": {**COUNT, "description": "Events that carry a confidence."},
            "mean_confidence": CONFIDENCE,
            "p10_confidence": {**CONFIDENCE, "description": "Nearest-rank 10th percentile."},
            "low_confidence_share": SHARE,
            "first_seen": INSTANT,
            "last_seen": INSTANT,
        }),
        "ConfidencePoint": _object({"model_version": MODEL_VERSION, **span, "events": COUNT,
                                    "mean_confidence": CONFIDENCE}),
        "Models": with_window(
            low_confidence_threshold=SHARE,
            bucket_seconds=BUCKET_SECONDS,
            models=_array(_ref("ModelFigures")),
            series=_array(_ref("ConfidencePoint")),
        ),
        "Dashboard": with_window(
            factory=_ref("FactoryFigures"),
            workers=_array(_ref("WorkerFigures")),
            workstations=_array(_ref("WorkstationFigures")),
            timeline=_maybe("Timeline", "`null` when the chosen worker or workstation is not in scope."),
            hourly=_maybe("Buckets", "`null` as `timeline`, or with `sections=floor`."),
            models=_maybe("Models", "`null` with `sections=floor`."),
            drift=_maybe("Drift", "`null` with `sections=floor`."),
            shift_report=_maybe("Shifts", "Every shift instance overlapping the window; `null` with an empty "
                                          "window, an unknown site, over the limit, or with `sections=floor`."),
            shift_report_error=_nullable({**STRING, "description": "Why the window's shift report is left out "
                                                                   "(more instances than are listed at once)."}),
            feed=_maybe("EventFeed", "The newest events in scope (`feed_limit`); `null` with `sections=floor`."),
            alerts=_ref("Alerts"),
        ),
        "DriftRules": _object({"recent_seconds": SECONDS, "confidence_drop": {"type": "number"},
                               "mix_shift": {"type": "number"}, "min_events": {"type": "integer"},
                               "min_present_seconds": SECONDS}),
        "ModelDrift": _object({
            "model_version": MODEL_VERSION,
            "baseline": confidence_side,
            "recent": confidence_side,
            "confidence_drop": _nullable({"type": "number", "minimum": -1, "maximum": 1,
                                          "description": "Baseline minus recent mean; `null` when not compared."}),
            **verdict,
        }),
        "WorkerDrift": _object({
            **_named("worker"),
            "baseline": share_side,
            "recent": share_side,
            "shift": _nullable({"type": "number", "minimum": -1, "maximum": 1,
                                "description": "Recent minus baseline working share; `null` when not compared."}),
            **verdict,
        }),
        "Drift": with_window(
            rules=_ref("DriftRules"),
            models=_array(_ref("ModelDrift")),
            workers=_array(_ref("WorkerDrift")),
            flagged={**COUNT, "description": "How many models and workers are flagged."},
        ),
    }


NAME = {"type": "string", "minLength": 1, "maxLength": calendars.MAX_NAME_LENGTH, "pattern": r"\S",
        "description": f"Not blank, at most {calendars.MAX_NAME_LENGTH} characters; kept without surrounding spaces."}


def _calendar_schemas():
    clock = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
             "description": "Wall-clock time `HH:MM` of the calendar's zone."}
    zone = {"type": "string", "minLength": 1, "description": "An IANA time zone name, such as `Europe/Berlin`."}

    def closed(schema):
        return {**schema, "additionalProperties": False}

    shift = closed(_object({
        "name": NAME,
        "start": clock,
        "end": {**clock, "description": "At or before `start`: the next day (`start == end`: 24 hours)."},
        "days": _array({"type": "string", "enum": list(calendars.DAYS)}, "Default: every day.", minItems=1,
                       maxItems=len(calendars.DAYS), uniqueItems=True),
        "breaks": _array(closed(_object({"start": clock, "end": clock})),
                         "Inside the shift; a time before its start is on the next day.",
                         maxItems=calendars.MAX_BREAKS),
    }, required=["name", "start", "end"]))
    shifts = _array(_ref("Shift"), "No two with the same name.", maxItems=calendars.MAX_SHIFTS)
    return {
        "Shift": shift,
        "Calendar": _object({"time_zone": zone, "shifts": shifts}),
        "CalendarInput": closed(_object({"time_zone": _nullable({**zone, "description": "Default `FACTORY_TZ`."}),
                                         "shifts": _nullable(shifts)}, required=[])),
        "Site": _object({
            "site_id": STRING,
            "name": STRING,
            "time_zone": _nullable({**zone, "description": "`null`: the factory's zone."}),
            "shifts": _nullable({**shifts, "description": "`null`: the factory's shifts (in this site's zone)."}),
        }),
        "SiteInput": closed(_object({
            "site_id": {**STRING, "description": "Optional; when given, the id in the path."},
            "name": NAME,
            "time_zone": _nullable({**zone, "description": "`null` or left out: the factory's zone."}),
            "shifts": _nullable({**shifts, "description": "`null` or left out: the factory's shifts."}),
        }, required=["name"])),
        "Sites": _object({"sites": _array(_ref("Site"), "Configured sites and those seen in the events (named "
                                                         "by their id), by id.")}),
    }


def _alert_schemas():
    kind = {"type": "string", "enum": list(alerts.KINDS)}

    def number(name, kinds):
        low, high = alerts.BOUNDS[name]
        return {"type": "number", "minimum": low, "maximum": high,
                "description": f"Required by {kinds}, and taken by no other kind."}

    rule = {**_object({
        "id": {"type": "string", "minLength": 1, "maxLength": alerts.MAX_RULE_ID_LENGTH,
               "description": "Unique among the rules; printable, without surrounding spaces."},
        "kind": kind,
        "minutes": number("minutes", "`worker_idle`, `station_unstaffed` and `no_signal`"),
        "percent": number("percent", "`pace_below`"),
    }, required=["id", "kind"], description=(
        "`worker_idle`: a worker's current idle spell, counted in planned time, is longer than `minutes`. "
        "`station_unstaffed`: in planned time, nobody has been working or idle at a station for `minutes` of "
        "planned time. `no_signal`: a worker seen in the last 24 h has sent no state event for `minutes`. "
        "`pace_below`: a station's units over its latest hour of planned time are below `percent` of its "
        "target, judged in planned time. `drift`: `/metrics/drift` over the last 7 days flags a model version "
        "or a worker.")), "additionalProperties": False}
    return {
        "AlertRule": rule,
        "Webhook": _object({"url": STRING}, description="A webhook as stored: its secret is never shown."),
        "WebhookInput": {**_object({
            "url": {"type": "string", "minLength": 1, "maxLength": alerts.MAX_URL_LENGTH,
                    "description": "An http or https URL; unique among the webhooks."},
            "secret": {"type": "string", "minLength": 1, "maxLength": alerts.MAX_SECRET_LENGTH,
                       "description": "Signs each body (`X-Signature`). Left out: the secret stored for this "
                                      "URL stays; a new URL needs one."},
        }, required=["url"]), "additionalProperties": False},
        "AlertRules": _object({"rules": _array(_ref("AlertRule")), "webhooks": _array(_ref("Webhook"))}),
        "AlertRulesInput": {**_object({
            "rules": _array(_ref("AlertRule"), maxItems=alerts.MAX_RULES),
            "webhooks": _array(_ref("WebhookInput"), maxItems=alerts.MAX_WEBHOOKS),
        }, description="The whole set: it replaces the rules and webhooks stored."), "additionalProperties": False},
        "Alert": _object({
            "id": {"type": "integer", "minimum": 1},
            "rule_id": STRING,
            "kind": kind,
            "subject": {**STRING, "description": "The worker, workstation or model version the condition holds for."},
            "opened_at": INSTANT,
            "closed_at": _nullable({**INSTANT, "description": "`null` while the alert is open."}),
            "detail": {"type": "object", "description": "What the condition found when the alert opened; "
                                                        "`subject_kind` names what `subject` is."},
        }),
        "Alerts": _object({
            "alerts": _array(_ref("Alert"), "Newest first.", maxItems=params.ALERTS[1].maximum),
            "limit": {"type": "integer", "minimum": params.ALERTS[1].minimum, "maximum": params.ALERTS[1].maximum},
            "has_more": {"type": "boolean", "description": "Whether more alerts match than `limit`."},
        }),
    }


def _alert_paths():
    rules = {
        **_get("getAlertRules", "alerts", "The alert rules and webhooks (admin token when one is set).", "AlertRules",
               "The rules, and the webhooks without their secrets."),
        **_put("putAlertRules", "Replace the alert rules and webhooks.", "AlertRulesInput", "AlertRules"),
    }
    rules["get"]["security"] = [{}, {"adminToken": []}]
    rules["get"]["responses"]["401"] = UNAUTHORIZED
    rules["get"]["responses"]["403"] = _problem(403, "The token is not `ADMIN_TOKEN`.")
    rules["put"]["tags"] = ["alerts"]
    return {
        "/alerts/rules": rules,
        "/alerts": _get("listAlerts", "alerts", "Alerts, open and closed: one per spell of a rule's condition for one "
                        "subject.", "Alerts", "Newest first.", params.ALERTS),
    }


def _schemas():
    return {
        "Problem": _object({
            "type": {"type": "string", "description": "Always `about:blank`: the status says it all."},
            "title": {"type": "string", "minLength": 1},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "minLength": 1},
            "errors": _array(_ref("FieldError"), "Every problem, where there are several.", minItems=1),
        }, required=["type", "title", "status", "detail"],
            description="RFC 9457 problem details; never a stack trace."),
        "FieldError": _object({
            "field": _nullable({"type": "string",
                                "description": "The field (or `events[i].field`); `null` for the whole event."}),
            "message": STRING,
        }),
        **_event_schemas(),
        **_figure_schemas(),
        "Workers": _object({"workers": _array(_ref("Worker"))}),
        "Worker": _object(_named("worker")),
        "Workstations": _object({"workstations": _array(_ref("Workstation"))}),
        "Workstation": _object({
            **_named("workstation"),
            "site_id": _nullable({**STRING, "description": "Its site (that of the first event that registered it, "
                                                           "or as set); `null`: the factory calendar."}),
            "target_units_per_hour": TARGET,
        }),
        "WorkstationChange": {**_object({
            "name": _nullable({**NAME, "description": "`null`: the id again."}),
            "site_id": _nullable({**IDENTIFIER, "description": "A site configured or seen in the events; `null`: "
                                                               "the factory calendar."}),
            "target_units_per_hour": TARGET,
        }, required=[], description="Members left out stay as they are."), "additionalProperties": False},
        "WorkerChange": {**_object({"name": _nullable({**NAME, "description": "`null`: the id again."})}),
                         "additionalProperties": False},
        **_calendar_schemas(),
        **_alert_schemas(),
        "Settings": _object({
            "factory_tz": {"type": "string", "description": "IANA time zone name (`FACTORY_TZ`)."},
            "poll_seconds": {"type": "number"},
            "seed": _object({"allowed": {"type": "boolean"}, "needs_token": {"type": "boolean"}}),
            "reads_need_token": {"type": "boolean", "description": "Whether reads of plant data need a viewer, "
                                                                   "ingest or admin token."},
        }),
        "HealthDegraded": _object({
            "status": {"type": "string", "enum": ["degraded"]},
            "database": STRING,
            "cause": {"type": "string", "description": "`disk_full`, `read_only`, `corrupt`, `unreachable`, or "
                                                       "`busy`."},
            "detail": STRING,
        }),
        "Health": _object({
            "status": {"type": "string", "enum": ["ok"]},
            "database": {"type": "string", "enum": ["ok"]},
            "events": {**COUNT, "description": "How many events are stored."},
        }),
        "Seeded": _object({"seeded": {"type": "boolean", "enum": [True]}, "workers": COUNT, "workstations": COUNT,
                           "events": COUNT, "from": INSTANT, "to": INSTANT}),
        "OpenAPIDocument": _object({"openapi": STRING, "info": {"type": "object"}, "paths": {"type": "object"}}),
    }


CACHE_HEADERS = {"ETag": _ref("ETag", "headers"), "Cache-Control": _ref("CacheControl", "headers")}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": STRING,
                 "description": "An `ETag` of an earlier answer: `304` when the answer is unchanged."}
UNAUTHORIZED = {**_problem(401, "A token is configured and the request carries no `Authorization: Bearer` header."),
                "headers": {"WWW-Authenticate": _ref("WWWAuthenticate", "headers")}}


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


def _responses():
    return {
        "InvalidQuery": _problem(422, "A query parameter does not parse or is out of range, or `from` is "
                                      "later than `to`; `errors` names each."),
        "NotModified": {"description": "The client's `If-None-Match` names this answer's ETag: no body.",
                        "headers": CACHE_HEADERS},
        "NotFound": _problem(404, "No such worker or workstation in this scope."),
        "InvalidBody": _problem(422, "The body is not valid; `errors` names every problem."),
        "Unavailable": _problem(503, "The request could not be answered in time: the database was locked by a "
                                     "writer, or the request (its queries, the work after them, or its wait "
                                     "for a turn among the metrics reads of its server process) ran past "
                                     "`QUERY_TIMEOUT_SECONDS`; nothing was changed. Retry shortly.",
                                retry=True),
    }


def _get(operation_id, tag, summary, schema, description="The list.", query=(), reads_database=True):
    """A read: `200` with `schema`; `422` when it takes query parameters, `503` when it reads the database."""
    responses = {"200": _json(_ref(schema), description)}
    operation = {"operationId": operation_id, "tags": [tag], "summary": summary, "responses": responses}
    if query:
        operation["parameters"] = [_query(param) for param in query]
        responses["422"] = _ref("InvalidQuery", "responses")
    if reads_database:
        responses["503"] = _ref("Unavailable", "responses")
    return {"get": operation}


def _metrics(operation_id, summary, schema, extra=(), not_found=False):
    """A metrics read: `params.METRICS` and `extra`, an ETag, and `304` when the client has the answer."""
    operation = _revalidated(_get(operation_id, "metrics", summary, schema, "The figures.",
                                  (*params.METRICS, *extra)))
    get = operation["get"]
    if not_found:
        get["responses"]["404"] = _ref("NotFound", "responses")
    return operation


def _item(operation_id, kind, schema, example):
    """A metrics read of one worker or workstation, named in the path."""
    operation = _metrics(operation_id, f"One {kind}: exactly the list's item for the same query.", schema,
                         not_found=True)
    operation["get"]["parameters"].insert(0, {"name": f"{kind}_id", "in": "path", "required": True,
                                              "schema": {"type": "string", "minLength": 1},
                                              "description": f"The {kind}'s id (it may hold `/`).", "example": example})
    return operation


def _with_path_parameter(operation, path_parameter, not_found=None):
    """Add the path parameter `(name, example)` to each operation, and a `404` when `not_found` says why."""
    name, example = path_parameter
    for method in operation.values():
        method.setdefault("parameters", []).insert(0, {
            "name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": f"The {name.removesuffix('_id')}'s id (it may hold `/`).", "example": example})
        if not_found:
            method["responses"]["404"] = _problem(404, not_found)
    return operation


def _put(operation_id, summary, body_schema, schema, path_parameter=None, not_found=None):
    """A write of the floor's setup: admin token when one is set, every problem of the body listed."""
    operation = {"put": {
        "operationId": operation_id, "tags": ["registry"], "summary": summary,
        "security": [{}, {"adminToken": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(body_schema)}}},
        "responses": {
            "200": _json(_ref(schema), "As stored."),
            "400": _problem(400, "The body is not valid JSON."),
            "401": UNAUTHORIZED,
            "403": _problem(403, "The token is not `ADMIN_TOKEN`."),
            "413": _problem(413, "The body is over `MAX_BODY_BYTES`."),
            "422": _ref("InvalidBody", "responses"),
            "503": _ref("Unavailable", "responses"),
        },
    }}
    if path_parameter:
        _with_path_parameter(operation, path_parameter, not_found)
    return operation


def _shifts(operation_id, answer):
    """The shift report, as JSON or CSV."""
    operation = _get(operation_id, "metrics", "Every shift instance overlapping the range, oldest first, with the "
                     "figures of the metrics endpoints for its time and `planned_only=true`.", "Shifts",
                     query=params.SHIFTS)
    get = operation["get"]
    get["responses"]["200"] = answer
    get["responses"]["404"] = _problem(404, "No site with this `site_id` is configured or seen.")
    get["responses"]["422"] = _problem(422, "A query parameter does not parse, `from` is later than `to`, or the range "
                                            f"holds more than {params.MAX_SHIFT_INSTANCES} shift instances.")
    return operation


def _revalidated(operation):
    """An answer that carries an ETag (of its own body) and answers `304` when the client has it."""
    get = operation["get"]
    get["parameters"].append(IF_NONE_MATCH)
    get["responses"]["200"]["headers"] = CACHE_HEADERS
    get["responses"]["304"] = _ref("NotModified", "responses")
    return operation


def _paths():
    return {
        "/health": {"get": {
            "operationId": "health", "tags": ["operations"], "summary": "Whether the database answers.",
            "responses": {
                "200": _json(_ref("Health"), "The database answers."),
                "503": _json(_ref("HealthDegraded"), "The database cannot be read or written (`cause` says why)."),
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
                    "example": {"timestamp": "2026-01-15T10:00:00+02:00", "worker_id": "W-01",
                                "workstation_id": "WS-01", "event_type": "product_count", "count": 3,
                                "confidence": 0.93, "event_id": "cam7-000123", "model_version": "floorcam-2.4.0",
                                "site_id": "plant-north"},
                }}},
                "responses": {
                    "200": _json(_ref("IngestResult"), "Nothing accepted and nothing rejected: all duplicates."),
                    "201": _json(_ref("IngestResult"), "At least one event was accepted."),
                    "400": _problem(400, "The body is not valid JSON."),
                    "401": UNAUTHORIZED,
                    "403": _problem(403, "The token is not one of `INGEST_TOKEN`'s."),
                    "413": _problem(413, "More than `MAX_BATCH` events, or a body over `MAX_BODY_BYTES`."),
                    "422": _problem(422, "No event was accepted and at least one rejected (then `results` says "
                                         "why for each), or the body is not an event, an array of events or "
                                         "`{\"events\": [...]}`, or the batch is empty.", _ref("IngestProblem")),
                    "503": _problem(503, "The database could not store the batch; nothing of it was kept, "
                                         "send it again.", retry=True),
                },
            },
            **_get("listEvents", "events", "The newest events (the live feed).", "EventFeed", "Newest first.",
                   params.FEED),
        },
        "/workers": _get("listWorkers", "registry", "Every registered worker.", "Workers"),
        "/workers/{worker_id}": _put("putWorker", "Rename a worker.", "WorkerChange", "Worker",
                                     path_parameter=("worker_id", "W-01"), not_found="No worker with this id."),
        "/workstations": _get("listWorkstations", "registry", "Every registered workstation.", "Workstations"),
        "/workstations/{workstation_id}": _put(
            "putWorkstation", "Change a workstation's name, site and target.", "WorkstationChange", "Workstation",
            path_parameter=("workstation_id", "WS-02"), not_found="No workstation with this id."),
        "/sites": _get("listSites", "registry", "Every site: configured, or seen in the events.", "Sites"),
        "/sites/{site_id}": {
            **_with_path_parameter(_get("getSite", "registry", "One site.", "Site", "The site."),
                                   ("site_id", "plant-north"), "No site with this id is configured or seen."),
            **_put("putSite", "Create or replace a site: its name, own zone and own shifts.", "SiteInput", "Site",
                   path_parameter=("site_id", "plant-north")),
        },
        "/calendar": {
            **_get("getCalendar", "registry", "The factory calendar.", "Calendar", "The calendar."),
            **_put("putCalendar", "Replace the factory calendar.", "CalendarInput", "Calendar"),
        },
        "/settings": _get("settings", "operations", "What the dashboard needs to know.", "Settings",
                          "The settings.", reads_database=False),
        "/metrics/factory": _metrics("factoryMetrics", "The whole floor's figures.", "FactoryMetrics"),
        "/metrics/workers": _metrics("workersMetrics", "Every worker's figures.", "WorkersMetrics"),
        "/metrics/workers/{worker_id}": _item("workerMetrics", "worker", "WorkerMetrics", "W-01"),
        "/metrics/workstations": _metrics("workstationsMetrics", "Every workstation's figures.",
                                          "WorkstationsMetrics"),
        "/metrics/workstations/{workstation_id}": _item("workstationMetrics", "workstation",
                                                        "WorkstationMetrics", "WS-02"),
        "/metrics/shifts": _revalidated(_shifts("shiftsMetrics", _json(_ref("Shifts"),
                                                                       "Every shift instance with its figures."))),
        "/metrics/shifts.csv": _revalidated(_shifts("shiftsCsv", {
            "description": "One row per shift instance and workstation: " + ", ".join(
                f"`{column}`" for column in reports.SHIFT_CSV_COLUMNS) + ". Empty cells for `null`.",
            "content": {"text/csv": {"schema": {"type": "string"}}}})),
        "/metrics/timeline": _metrics("timelineMetrics", "Each worker's state intervals in the window, at the "
                                      "chart's resolution.", "Timeline", params.CHART, not_found=True),
        "/metrics/dashboard": _metrics("dashboardMetrics", "Everything the dashboard shows for one window, in one "
                                       "answer: the metrics, the timeline and hourly charts (narrowed by "
                                       "`worker_id` and `workstation_id`), models, drift, the window's shift "
                                       "report, the live feed and the open alerts.", "Dashboard",
                                       params.DASHBOARD),
        "/metrics/hourly": _metrics("hourlyMetrics", "Time in each state and units per bucket.", "Buckets",
                                    params.BUCKETS, not_found=True),
        "/metrics/models": _metrics("modelsMetrics", "Figures per model version and a confidence series.", "Models",
                                    params.MODELS),
        "/metrics/drift": _metrics("driftMetrics", "Confidence drift per model version and working/idle mix shift "
                                   "per worker.", "Drift", params.DRIFT),
        "/seed": {"post": {
            "operationId": "seed", "tags": ["operations"],
            "summary": "Replace all events, workers and workstations with the demo floor.",
            "security": [{}, {"adminToken": []}],
            "parameters": [_query(param) for param in params.SEED],
            "responses": {
                "200": _json(_ref("Seeded"), "What was loaded."),
                "401": UNAUTHORIZED,
                "403": _problem(403, "Seeding is turned off (`ALLOW_SEED=0`), the token is not `ADMIN_TOKEN`, or "
                                     "tokens are set but no admin token is."),
                "409": _problem(409, "The database holds events the demo did not load (`other_events` says how "
                                     "many); `?replace=all` deletes them and loads the demo.",
                                {"allOf": [_ref("Problem"), _object({"other_events": {**COUNT, "minimum": 1}})]}),
                "422": _ref("InvalidQuery", "responses"),
                "503": _ref("Unavailable", "responses"),
            },
        }},
        **_alert_paths(),
        "/openapi.json": _get("openapi", "operations", "This document.", "OpenAPIDocument", "The OpenAPI document.",
                              reads_database=False),
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
        "tags": [{"name": name} for name in ("ingestion", "events", "metrics", "registry", "alerts", "operations")],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
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
