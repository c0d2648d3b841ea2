"""Alerts (SPEC §9): the rules, the conditions they watch, and the alerts those conditions open and close.

The pure part takes plain values and returns plain values, like `metrics.py`:

- `parse_rules` checks a rules document (`PUT /alerts/rules`) and lists every problem;
- `conditions(rules, floor_state, now_ms)` gives the conditions that hold at `now_ms`, each for one
  subject (a worker, a workstation or a model version), from a `FloorState`: stored events, the
  planned time of each workstation's site, targets and the drift report. Nothing else, so an alert
  depends only on those and `now`;
- `changes` compares the open alerts with the conditions that hold: which close, which open.

Beside it, thin reads and writes through `queries`, as `reports.py` has them: `read_floor`,
`record` (one write transaction per evaluation), and what the API's views call.

An alert is one spell of one rule's condition for one subject: it opens at the first evaluation
that finds the condition holding and closes at the first that finds it no longer holding. Its
`detail` is the condition's detail when it opened.
"""

import json
import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple
from urllib.parse import urlsplit

from werkzeug.datastructures import MultiDict

from . import alert_store, calendars, charts, metrics, params, queries, reports
from .db import transaction
from .errors import field_error
from .timeutil import format_instant

KINDS = ("worker_idle", "station_unstaffed", "no_signal", "pace_below", "drift")
# The one number each kind takes (`None`: none), and the bounds of each number, ends included.
KIND_PARAMETER = {"worker_idle": "minutes", "station_unstaffed": "minutes", "no_signal": "minutes",
                  "pace_below": "percent", "drift": None}
BOUNDS = {"minutes": (1, 1440), "percent": (1, 100)}
MAX_RULES = 100
MAX_WEBHOOKS = 20
MAX_RULE_ID_LENGTH = 64
MAX_URL_LENGTH = 2000
MAX_SECRET_LENGTH = 1000
RULE_FIELDS = ("id", "kind", "minutes", "percent")
WEBHOOK_FIELDS = ("url", "secret")
BODY_FIELDS = ("rules", "webhooks")
CHANGES = ("opened", "closed")

MINUTE_MS = 60_000
# How far back the conditions look: a spell longer than this is seen as this long, and a worker
# is "seen in the last 24 h" when a state event of theirs lies in it. The largest `minutes` is this.
LOOKBACK_MS = 24 * 60 * MINUTE_MS
# `pace_below` judges a station's latest hour of planned time.
PACE_STRETCH_MS = 60 * MINUTE_MS
# `drift` reads `/metrics/drift` over the last 7 days: the whole history would cost more each
# evaluation the longer the service runs.
DRIFT_LOOKBACK_MS = 7 * LOOKBACK_MS
# The subject of a drift alert on events that name no model version.
NO_MODEL_VERSION = "(none)"

WORKER_KINDS = frozenset({"worker_idle", "station_unstaffed", "no_signal"})


class Rule(NamedTuple):
    """One rule: its `id`, `kind` and `threshold` (the `minutes` or `percent` its kind takes, else `None`)."""

    id: str
    kind: str
    threshold: float | None = None


class Condition(NamedTuple):
    """A condition that holds: rule, kind, subject, and what was found (`detail`, plain JSON values)."""

    rule_id: str
    kind: str
    subject: str
    detail: dict


# --- the rules document ---------------------------------------------------------------------------

def parse_rules(body, stored_secrets=None):
    """Check a rules document; `((rules, webhooks), [])` or `(None, errors)` listing every problem.

    `rules` is a list of `Rule`; `webhooks` of `(url, secret)`. A webhook given without `secret`
    keeps the one stored for its URL (`stored_secrets`: url -> secret), so a document read with
    `GET`, which never shows secrets, can be changed and sent back; a new URL needs one.
    """
    stored_secrets = stored_secrets or {}
    if not isinstance(body, dict):
        return None, [field_error(None, "the body must be a JSON object with `rules` and `webhooks`")]
    errors = reports._repeated_keys(body)
    errors += [field_error(key, f"is not a known field (known: {', '.join(BODY_FIELDS)})")
               for key in body if key not in BODY_FIELDS]
    rules = []
    for index, item in _items(body, "rules", MAX_RULES, errors):
        rule = _parse_rule(item, f"rules[{index}]", errors)
        if rule is not None:
            rules.append(rule)
    webhooks = []
    for index, item in _items(body, "webhooks", MAX_WEBHOOKS, errors):
        hook = _parse_webhook(item, f"webhooks[{index}]", stored_secrets, errors)
        if hook is not None:
            webhooks.append(hook)
    errors += _repeated_values(body.get("rules"), "rules", "id", "the id of an earlier rule; ids must be unique")
    errors += _repeated_values(body.get("webhooks"), "webhooks", "url", "the URL of an earlier webhook")
    return (None, errors) if errors else ((rules, webhooks), [])


def _repeated_values(items, name, key, message):
    """Field errors for each item of `items` whose `key` repeats an earlier item's."""
    errors, seen = [], set()
    for index, item in enumerate(items if isinstance(items, list) else ()):
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, str):
            if value in seen:
                errors.append(field_error(f"{name}[{index}].{key}", f"{value[:100]!r} is {message}"))
            seen.add(value)
    return errors


def _items(body, name, most, errors):
    if name not in body:
        errors.append(field_error(name, "is required (an array; [] for none)"))
        return []
    value = body[name]
    if not isinstance(value, list):
        errors.append(field_error(name, "must be an array"))
        return []
    if len(value) > most:
        errors.append(field_error(name, f"holds {len(value)} items; at most {most} are taken"))
        return []
    return enumerate(value)


def _parse_rule(item, path, errors):
    if not isinstance(item, dict):
        errors.append(field_error(path, "must be an object with `id` and `kind`"))
        return None
    count = len(errors)
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        errors.append(field_error(f"{path}.id", "is required: a non-empty string"))
    elif len(rule_id) > MAX_RULE_ID_LENGTH:
        errors.append(field_error(f"{path}.id", f"must be at most {MAX_RULE_ID_LENGTH} characters"))
    elif rule_id != rule_id.strip() or not rule_id.isprintable():
        errors.append(field_error(f"{path}.id", "must be printable, without surrounding spaces"))
    kind = item.get("kind")
    if kind not in KINDS:
        errors.append(field_error(f"{path}.kind", f"must be one of {', '.join(KINDS)}"))
        known = RULE_FIELDS
    else:
        parameter = KIND_PARAMETER[kind]
        known = ("id", "kind") + ((parameter,) if parameter else ())
    errors += [field_error(f"{path}.{key}", f"is not a field of this kind of rule (known: {', '.join(known)})")
               for key in item if key not in known]
    threshold = None
    if kind in KINDS and KIND_PARAMETER[kind]:
        threshold = _number(item, KIND_PARAMETER[kind], path, errors)
    return Rule(rule_id, kind, threshold) if len(errors) == count else None


def _number(item, name, path, errors):
    low, high = BOUNDS[name]
    value = item.get(name)
    if name not in item:
        errors.append(field_error(f"{path}.{name}", f"is required for this kind: a number from {low} to {high}"))
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
        errors.append(field_error(f"{path}.{name}", f"must be a number from {low} to {high}"))
    else:
        return float(value)
    return None


def _parse_webhook(item, path, stored_secrets, errors):
    if not isinstance(item, dict):
        errors.append(field_error(path, "must be an object with `url` and `secret`"))
        return None
    count = len(errors)
    errors += [field_error(f"{path}.{key}", f"is not a known field (known: {', '.join(WEBHOOK_FIELDS)})")
               for key in item if key not in WEBHOOK_FIELDS]
    url = item.get("url")
    problem = _url_problem(url)
    if problem:
        errors.append(field_error(f"{path}.url", problem))
    secret = stored_secrets.get(url) if not problem else None
    if "secret" in item:
        secret = item["secret"]
        if not isinstance(secret, str) or not secret.strip():
            errors.append(field_error(f"{path}.secret", "must be a non-empty string"))
        elif len(secret) > MAX_SECRET_LENGTH:
            errors.append(field_error(f"{path}.secret", f"must be at most {MAX_SECRET_LENGTH} characters"))
    elif not problem and secret is None:
        errors.append(field_error(f"{path}.secret", "is required for a new webhook (left out, it keeps the "
                                                    "secret stored for this URL)"))
    return (url, secret) if len(errors) == count else None


def _url_problem(url):
    """What is wrong with a webhook URL, or `None`: an absolute `http` or `https` URL with a host,
    without a fragment or credentials."""
    if not isinstance(url, str) or not url:
        return "is required: an http or https URL"
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if not url.isprintable() or any(char.isspace() for char in url):
        return "must not hold spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError as problem:
        return f"is not a URL ({problem})"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an http or https URL with a host, such as https://example.com/hooks/floor"
    if parts.fragment:
        return "must not have a #fragment (it is never sent)"
    if parts.username is not None:
        return "must not hold a user name or password (they are never sent; the receiver checks X-Signature)"
    return None


def rule_json(rule):
    """A rule as the API shows it: `id`, `kind`, and `minutes` or `percent` when its kind takes one."""
    body = {"id": rule.id, "kind": rule.kind}
    parameter = KIND_PARAMETER.get(rule.kind)
    if parameter:
        threshold = rule.threshold
        body[parameter] = int(threshold) if threshold == int(threshold) else threshold
    return body


# --- conditions: what holds at an instant ---------------------------------------------------------

@dataclass(frozen=True)
class FloorState:
    """What the conditions look at, read for one instant `now` (see `read_floor`).

    - `workers`, `workstations`: `(id, name)` of every registered one;
    - `state_events`: worker id -> that worker's state events `(ts_ms, state, workstation_id)`
      from `now - LOOKBACK_MS` to `now`, after the one carried in, as `metrics.worker_timeline` takes them;
    - `unit_rows`: `(worker_id, workstation_id, count, ts_ms)` of the product counts in that stretch;
    - `floor`: the `metrics.Floor` of that stretch: each workstation's planned time and target;
    - `max_gap_ms`: the signal horizon (`None`: none);
    - `drift`: the `/metrics/drift` answer, or `None` when no rule asks for it.
    """

    workers: tuple = ()
    workstations: tuple = ()
    state_events: dict = field(default_factory=dict)
    unit_rows: tuple = ()
    floor: metrics.Floor = metrics.Floor()
    max_gap_ms: int | None = None
    drift: dict | None = None


def lookback(now_ms):
    """The stretch of time the conditions at `now_ms` look at."""
    return metrics.Window(now_ms - LOOKBACK_MS, now_ms)


def conditions(rules, floor_state, now_ms):
    """The conditions that hold at `now_ms`: `{(rule_id, subject): Condition}`, in rule order.

    - `worker_idle`: the worker is idle at `now` (within the signal horizon), `now` lies in the
      planned time of its workstation, and the planned time of its current idle spell (its
      unbroken idle time up to now, in the planned time of the site of each interval's
      workstation) is longer than `minutes`; so, as a station is never unstaffed during a break,
      nobody is idle too long during one, nor once the shift has ended;
    - `station_unstaffed`: `now` lies in the station's planned time, and the planned time since
      anyone was last working or idle there (in the last 24 h) is at least `minutes`; a break is
      not planned time, so a station is never unstaffed during one;
    - `no_signal`: the worker's latest state event lies in the last 24 h and at least `minutes` ago;
    - `pace_below`: the station has a target, `now` lies in its planned time, and its units over
      its latest hour of planned time (found in the last 24 h; none: not judged) are below
      `percent` of its target for an hour;
    - `drift`: a model version or a worker the drift report flags.
    """
    window = lookback(now_ms)
    timelines = None
    found = {}
    for rule in rules:
        if rule.kind in WORKER_KINDS and timelines is None:
            timelines = {worker_id: metrics.worker_timeline(floor_state.state_events.get(worker_id, ()), window,
                                                            floor_state.max_gap_ms)
                         for worker_id, _name in floor_state.workers}
        for condition in _EVALUATORS[rule.kind](rule, floor_state, window, timelines):
            found.setdefault((rule.id, condition.subject), condition)
    return found


def _worker_idle(rule, state, window, timelines):
    for worker_id, name in state.workers:
        timeline = timelines[worker_id]
        if (metrics.state_at_end(timeline.last_event, window, state.max_gap_ms) != "idle"
                or not _planned_now(state.floor.plan(timeline.last_event[2]), window.end_ms)):
            continue
        spell = _current_spell(timeline.intervals, "idle", window.end_ms)
        planned_ms = sum(calendars.overlap_ms(interval.start_ms, interval.end_ms,
                                              state.floor.plan(interval.workstation_id)) for interval in spell)
        if spell and planned_ms > rule.threshold * MINUTE_MS:
            yield Condition(rule.id, rule.kind, worker_id, {
                "subject_kind": "worker", "name": name, "workstation_id": timeline.last_event[2],
                "idle_since": format_instant(spell[0].start_ms), "idle_planned_seconds": planned_ms / 1000,
                "minutes": rule.threshold})


def _current_spell(intervals, wanted, end_ms):
    """The unbroken run of `wanted` intervals that ends at `end_ms`, oldest first."""
    spell = []
    for interval in reversed(intervals):
        if interval.state != wanted or interval.end_ms != end_ms:
            break
        spell.append(interval)
        end_ms = interval.start_ms
    return spell[::-1]


def _station_unstaffed(rule, state, window, timelines):
    last_staffed = {}
    for timeline in timelines.values():
        for interval in timeline.intervals:
            if interval.state in metrics.OCCUPYING_STATES:
                station_id = interval.workstation_id
                last_staffed[station_id] = max(last_staffed.get(station_id, interval.end_ms), interval.end_ms)
    for station_id, name in state.workstations:
        plan = state.floor.plan(station_id)
        if not _planned_now(plan, window.end_ms):
            continue
        since_ms = last_staffed.get(station_id)
        planned_ms = calendars.overlap_ms(window.start_ms if since_ms is None else since_ms, window.end_ms, plan)
        if planned_ms >= rule.threshold * MINUTE_MS:
            yield Condition(rule.id, rule.kind, station_id, {
                "subject_kind": "workstation", "name": name,
                "unstaffed_since": None if since_ms is None else format_instant(since_ms),
                "unstaffed_planned_seconds": planned_ms / 1000, "minutes": rule.threshold})


def _planned_now(plan, now_ms):
    """Whether the instant just before `now_ms` is planned: planned time is under way."""
    return calendars.overlap_ms(now_ms - 1, now_ms, plan) > 0


def _no_signal(rule, state, window, timelines):
    for worker_id, name in state.workers:
        last = timelines[worker_id].last_event
        if last is None or last[0] < window.start_ms:
            continue
        silent_ms = window.end_ms - last[0]
        if silent_ms >= rule.threshold * MINUTE_MS:
            yield Condition(rule.id, rule.kind, worker_id, {
                "subject_kind": "worker", "name": name, "last_seen": format_instant(last[0]),
                "last_state": last[1], "workstation_id": last[2], "silent_seconds": silent_ms / 1000,
                "minutes": rule.threshold})


def _pace_below(rule, state, window, _timelines):
    units_at = {}
    for _worker, station_id, count, ts_ms in state.unit_rows:
        units_at.setdefault(station_id, []).append((ts_ms, count))
    for station_id, name in state.workstations:
        target = state.floor.targets.get(station_id)
        plan = state.floor.plan(station_id)
        if not target or not _planned_now(plan, window.end_ms):
            continue
        stretch = _latest_planned(plan, window, PACE_STRETCH_MS)
        if stretch is None:
            continue
        units = sum(count for ts_ms, count in units_at.get(station_id, ()) if calendars.contains(stretch, ts_ms))
        expected = target * PACE_STRETCH_MS / metrics.MS_PER_HOUR
        if 100 * units < rule.threshold * expected:
            yield Condition(rule.id, rule.kind, station_id, {
                "subject_kind": "workstation", "name": name, "since": format_instant(stretch[0][0]),
                "units": units, "target_units": round(expected, 2), "pace_pct": round(100 * units / expected, 2),
                "percent": rule.threshold})


def _latest_planned(plan, window, length_ms):
    """The latest `length_ms` of planned time inside the window, as sorted intervals; `None` when
    the window holds less."""
    pieces = []
    needed = length_ms
    for start_ms, end_ms in reversed(plan):
        start_ms, end_ms = max(start_ms, window.start_ms), min(end_ms, window.end_ms)
        if end_ms <= start_ms:
            continue
        start_ms = max(start_ms, end_ms - needed)
        pieces.append((start_ms, end_ms))
        needed -= end_ms - start_ms
        if needed == 0:
            return pieces[::-1]
    return None


def _drift(rule, state, _window, _timelines):
    report = state.drift or {}
    for item in report.get("models", ()):
        if item["flagged"]:
            subject = NO_MODEL_VERSION if item["model_version"] is None else item["model_version"]
            yield Condition(rule.id, rule.kind, subject, {
                "subject_kind": "model_version", "reason": item["reason"], "exceeded_by": item["exceeded_by"]})
    for item in report.get("workers", ()):
        if item["flagged"]:
            yield Condition(rule.id, rule.kind, item["worker_id"], {
                "subject_kind": "worker", "name": item["name"], "reason": item["reason"],
                "exceeded_by": item["exceeded_by"]})


_EVALUATORS = {"worker_idle": _worker_idle, "station_unstaffed": _station_unstaffed, "no_signal": _no_signal,
               "pace_below": _pace_below, "drift": _drift}


def changes(open_alerts, found):
    """`(ids to close, conditions to open)`: open alerts (mappings with `id`, `rule_id`, `kind`,
    `subject`) whose condition no longer holds, and conditions that hold with no open alert.

    A rule whose kind changed under the same id closes its alerts and opens new ones.
    """
    to_close, kept = [], set()
    for alert in open_alerts:
        key = (alert["rule_id"], alert["subject"])
        condition = found.get(key)
        if condition is None or condition.kind != alert["kind"]:
            to_close.append(alert["id"])
        else:
            kept.add(key)
    return to_close, [condition for key, condition in found.items() if key not in kept]


def alert_json(row):
    """An alert as the API and the webhooks show it."""
    return {
        "id": row["id"],
        "rule_id": row["rule_id"],
        "kind": row["kind"],
        "subject": row["subject"],
        "opened_at": format_instant(row["opened_at_ms"]),
        "closed_at": None if row["closed_at_ms"] is None else format_instant(row["closed_at_ms"]),
        "detail": json.loads(row["detail"]),
    }


def change_body(change, alert):
    """The exact bytes every receiver gets for one change: `{"change", "alert"}` as compact UTF-8 JSON."""
    return json.dumps({"change": change, "alert": alert}, separators=(",", ":"), ensure_ascii=False).encode()


# --- reads and writes -----------------------------------------------------------------------------

def load_rules(conn):
    """The configured rules, as `Rule`s in their order."""
    return [Rule(*row) for row in alert_store.alert_rules(conn)]


def read_floor(conn, now_ms, max_gap_seconds, factory_tz, drift_rules, kinds=KINDS):
    """The `FloorState` at `now_ms`, read through the same queries and reports as the metrics API.

    Only what the rule kinds in `kinds` look at is read: the drift report costs the most.
    """
    window = lookback(now_ms)
    query = reports.MetricsQuery.from_args(MultiDict(), max_gap_seconds, params.DRIFT, factory_tz)
    workers = tuple(queries.list_workers(conn))
    state_events = {}
    if WORKER_KINDS & set(kinds):
        state_events = queries.state_events(conn, query.scope, [worker_id for worker_id, _name in workers],
                                            window.start_ms, window.end_ms)
    unit_rows = ()
    if "pace_below" in kinds:
        unit_rows = tuple(queries.window_unit_instants(conn, query.scope, window.start_ms, window.end_ms))
    drift = None
    if "drift" in kinds:
        drift = charts.drift_report(conn, replace(query, from_ms=now_ms - DRIFT_LOOKBACK_MS), now_ms, drift_rules)
    return FloorState(workers, tuple(queries.list_workstations(conn)), state_events, unit_rows,
                      reports.floor_setup(conn, query, window), query.max_gap_ms, drift)


def record(conn, found, now_ms, extra_receivers=()):
    """Store one evaluation at `now_ms` in one write transaction: close the open alerts whose
    condition ended, open those whose condition began, and queue each change for every webhook
    and each of `extra_receivers`.

    Returns the changes as `(change_id, "opened"|"closed", alert)`, oldest first; `None` when an
    evaluation at `now_ms` or later is stored already (another notifier got there first), in
    which case nothing is written. Under the write lock each notifier sees the others' committed
    alerts, so two notifiers record each opening and closing once.
    """
    with transaction(conn):
        last = alert_store.alerts_evaluated_at(conn)
        if last is not None and now_ms <= last:
            return None
        alert_store.set_alerts_evaluated_at(conn, now_ms)
        to_close, to_open = changes(alert_store.open_alerts(conn), found)
        receivers = [url for url, _secret in alert_store.alert_webhooks(conn)] + list(extra_receivers)
        recorded = []
        for alert_id in to_close:
            alert_store.close_alert(conn, alert_id, now_ms)
            recorded.append(_queue(conn, alert_id, "closed", receivers))
        for condition in to_open:
            alert_id = alert_store.insert_alert(conn, condition.rule_id, condition.kind, condition.subject, now_ms,
                                            json.dumps(condition.detail))
            recorded.append(_queue(conn, alert_id, "opened", receivers))
        return recorded


def _queue(conn, alert_id, change, receivers):
    alert = alert_json(alert_store.get_alert(conn, alert_id))
    change_id = alert_store.queue_alert_change(conn, alert_id, change, change_body(change, alert).decode(), receivers)
    return change_id, change, alert


def rules_json(conn):
    """`GET /alerts/rules`: the rules, and the webhooks by URL only: secrets never leave the server."""
    return {"rules": [rule_json(rule) for rule in load_rules(conn)],
            "webhooks": [{"url": url} for url, _secret in alert_store.alert_webhooks(conn)]}


def put_rules(conn, body):
    """`PUT /alerts/rules`: check and store the whole document; a 422 `ApiError` lists every problem.

    Changes still queued for a webhook that is left out are dropped with it.
    """
    with transaction(conn):
        parsed, errors = parse_rules(body, dict(alert_store.alert_webhooks(conn)))
        if errors:
            raise reports.invalid_body(errors, "set of alert rules")
        rules, webhooks = parsed
        alert_store.save_alert_rules(conn, [tuple(rule) for rule in rules], webhooks)
    return rules_json(conn)


def list_alerts(conn, state, limit):
    """`GET /alerts`: alerts in `state` (`open`, `closed`, `all`), newest first, at most `limit`."""
    rows = alert_store.list_alerts(conn, state, limit + 1)
    return {"alerts": [alert_json(row) for row in rows[:limit]], "limit": limit, "has_more": len(rows) > limit}
