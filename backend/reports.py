"""Metric reports: parse a metrics query, read its rows through `queries`, compute with `metrics`."""

import hashlib
from dataclasses import dataclass, field

from . import drift, metrics, params, queries, rollups
from .errors import ApiError, field_error
from .params import MAX_BUCKETS


@dataclass(frozen=True)
class MetricsQuery:
    """The query parameters every metrics endpoint takes (SPEC §5)."""

    from_ms: int | None = None
    to_ms: int | None = None
    site_id: str | None = None
    min_confidence: float | None = None
    max_gap_ms: int | None = None
    extra: dict = field(default_factory=dict)  # an endpoint's own parameters, parsed alike

    @classmethod
    def from_args(cls, args, default_max_gap_seconds=None, extra=None):
        """Read `params.METRICS` from query args; a 422 `ApiError` lists every bad one.

        `max_gap_seconds` falls back to `default_max_gap_seconds` (the server's setting); `0` or
        `None` means no signal horizon.
        `extra` holds the `Param`s of one endpoint's own parameters; their values land in `extra`.
        """
        extra = extra or ()
        values, errors = params.parse_args(args, (*params.METRICS, *extra))
        if values["from"] is not None and values["to"] is not None and values["from"] > values["to"]:
            errors.append(field_error("from", "must not be later than `to`"))
        if errors:
            raise params.invalid_query(errors)
        gap_seconds = values["max_gap_seconds"]
        if gap_seconds is None:
            gap_seconds = default_max_gap_seconds
        return cls(
            from_ms=values["from"],
            to_ms=values["to"],
            site_id=values["site_id"],
            min_confidence=values["min_confidence"],
            max_gap_ms=round(gap_seconds * 1000) if gap_seconds else None,
            extra={param.name: values[param.name] for param in extra},
        )

    @property
    def scope(self):
        """Named parameters of the scope clause in `queries`."""
        return queries.scope_params(self.site_id, self.min_confidence)


def fingerprint(conn, query, now_ms, request_key):
    """An ETag for a metrics answer: it changes when the stored data or the resolved window does.

    `request_key` names everything else the answer depends on (path and query string).
    """
    window = _window(conn, query, now_ms)
    bounds = (window.start_ms, window.end_ms) if window else None
    text = f"{queries.generation(conn)}|{bounds}|{request_key}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _window(conn, query, now_ms):
    earliest_ms, latest_ms = queries.window_bounds(conn, query.scope)
    return metrics.resolve_window(query.from_ms, query.to_ms, earliest_ms, latest_ms, now_ms)


def _resolve(conn, query, now_ms):
    """The window of a query (`None` when empty) and the workers and workstations it lists."""
    window = _window(conn, query, now_ms)
    return window, queries.list_workers(conn, query.site_id), queries.list_workstations(conn, query.site_id)


def _state_events(conn, query, window, workers):
    return queries.state_events(conn, query.scope, [worker_id for worker_id, _name in workers],
                                window.start_ms, window.end_ms)


def metrics_report(conn, query, now_ms):
    """The full report for a query: window, every worker, every workstation, the factory."""
    window, workers, workstations = _resolve(conn, query, now_ms)
    if window is None:
        return metrics.build_report(None, workers, workstations, {}, [], 0)
    if rollups.usable(query):
        tally = rollups.window_tally(conn, window, workers)
        if tally is not None:
            return metrics.report_from_tally(window, workers, workstations, tally)
    return events_report(conn, query, window, workers, workstations)


def events_report(conn, query, window, workers, workstations):
    """The report worked out from the events alone, whatever the query's filters."""
    state_events = _state_events(conn, query, window, workers)
    units = queries.window_units(conn, query.scope, window.start_ms, window.end_ms)
    event_count = queries.window_event_count(conn, query.scope, window.start_ms, window.end_ms)
    return metrics.build_report(window, workers, workstations, state_events, units, event_count, query.max_gap_ms)


# The names api.py's views pass to `MetricsQuery.from_args`.
CHART_PARAMS, BUCKET_PARAMS, MODEL_PARAMS, DRIFT_PARAMS = params.CHART, params.BUCKETS, params.MODELS, params.DRIFT
HOUR_MS = metrics.MS_PER_HOUR
DAY_MS = 24 * HOUR_MS


def _timelines(conn, query, window, workers):
    state_events = _state_events(conn, query, window, workers)
    return {worker_id: metrics.worker_timeline(state_events[worker_id], window, query.max_gap_ms)
            for worker_id, _name in workers}


def _chart_scope(conn, query, now_ms):
    """Window and the workers of a chart, honouring its `worker_id` and `workstation_id`."""
    window, workers, workstations = _resolve(conn, query, now_ms)
    worker_id, station_id = query.extra["worker_id"], query.extra["workstation_id"]
    if worker_id is not None:
        workers = [row for row in workers if row[0] == worker_id]
        if not workers:
            raise ApiError(404, "Not Found", f"No worker with id {worker_id!r} in this scope.")
    if station_id is not None and station_id not in {row[0] for row in workstations}:
        raise ApiError(404, "Not Found", f"No workstation with id {station_id!r} in this scope.")
    timelines = _timelines(conn, query, window, workers) if window else {}
    return window, workers, timelines


def timeline_report(conn, query, now_ms):
    """Each worker's state intervals in the window (for the dashboard's state strips)."""
    window, workers, timelines = _chart_scope(conn, query, now_ms)
    station_id = query.extra["workstation_id"]
    return {
        "window": metrics.window_json(window),
        "workers": [
            metrics.timeline_json(worker_id, name, timelines.get(worker_id, metrics.Timeline()), station_id)
            for worker_id, name in workers
        ],
    }


def buckets_report(conn, query, now_ms):
    """Time in each state and units per bucket (an hour, or a day over long windows).

    With `worker_id` only that worker counts; with `workstation_id` only time and units at that
    station. The buckets add up to the window's totals.
    """
    window, _workers, timelines = _chart_scope(conn, query, now_ms)
    bucket_ms = _bucket_ms(query, window)
    if window is None:
        return {"window": metrics.window_json(None), "bucket_seconds": bucket_ms // 1000, "buckets": []}
    station_id = query.extra["workstation_id"]
    if station_id is not None:
        timelines = {
            worker_id: metrics.Timeline([i for i in timeline.intervals if i.workstation_id == station_id])
            for worker_id, timeline in timelines.items()
        }
    units = queries.window_units_by_slot(conn, query.scope, window.start_ms, window.end_ms, bucket_ms,
                                         query.extra["worker_id"], station_id)
    return {
        "window": metrics.window_json(window),
        "bucket_seconds": bucket_ms // 1000,
        "buckets": metrics.time_buckets(window, bucket_ms, timelines.values(), units),
    }


AUTO_BUCKETS_MS = (DAY_MS, 7 * DAY_MS, 28 * DAY_MS, 364 * DAY_MS)


def _bucket_ms(query, window):
    """The bucket size asked for, or hours up to a week and then the first size giving at most
    `MAX_BUCKETS` buckets: days, weeks, four weeks, years."""
    requested = query.extra.get("bucket_seconds")
    if requested is None:
        if window is None or window.length_ms <= 7 * DAY_MS:
            return HOUR_MS
        return next((size for size in AUTO_BUCKETS_MS if metrics.bucket_bounds(window, size)[1] <= MAX_BUCKETS),
                    AUTO_BUCKETS_MS[-1])
    bucket_ms = requested * 1000
    if window is not None and metrics.bucket_bounds(window, bucket_ms)[1] > MAX_BUCKETS:
        raise params.invalid_query([field_error(
            "bucket_seconds", f"gives more than {MAX_BUCKETS} buckets over this window; choose larger buckets")])
    return bucket_ms


def single_item(report, kind, item_id):
    """`{"window", <kind>}` for one item of a report's list, or a 404 `ApiError`."""
    id_field = f"{kind}_id"
    for item in report[f"{kind}s"]:
        if item[id_field] == item_id:
            return {"window": report["window"], kind: item}
    raise ApiError(404, "Not Found", f"No {kind} with id {item_id!r} in this scope.")


def models_report(conn, query, now_ms, low_threshold):
    """Per model version: events, confidence figures, first and last seen, and a confidence series."""
    window, _workers, _stations = _resolve(conn, query, now_ms)
    threshold = _given(query.extra["low_confidence"], low_threshold)
    bucket_ms = _bucket_ms(query, window)
    body = {"window": metrics.window_json(window), "low_confidence_threshold": threshold,
            "bucket_seconds": bucket_ms // 1000, "models": [], "series": []}
    if window is not None:
        body["models"] = drift.model_stats(queries.model_rows(conn, query.scope, window.start_ms, window.end_ms),
                                           threshold)
        series = queries.model_series(conn, query.scope, window.start_ms, window.end_ms, bucket_ms)
        body["series"] = drift.confidence_series(series, window, bucket_ms)
    return body


def drift_report(conn, query, now_ms, default_rules):
    """Both drift rules over the window: model confidence and each worker's working/idle mix."""
    extra = query.extra
    rules = drift.DriftRules(
        recent_ms=round(_given(extra["recent_seconds"], default_rules.recent_ms / 1000) * 1000),
        confidence_drop=_given(extra["confidence_drop"], default_rules.confidence_drop),
        mix_shift=_given(extra["mix_shift"], default_rules.mix_shift),
        min_events=_given(extra["min_events"], default_rules.min_events),
        min_present_ms=default_rules.min_present_ms,
    )
    window, workers, _stations = _resolve(conn, query, now_ms)
    body = {"window": metrics.window_json(window), "rules": rules.json(), "models": [], "workers": []}
    if window is not None:
        rows = queries.model_rows(conn, query.scope, window.start_ms, window.end_ms)
        body["models"] = drift.confidence_drift(rows, window, rules)
        body["workers"] = drift.mix_shift(workers, _timelines(conn, query, window, workers), window, rules)
    body["flagged"] = sum(item["flagged"] for item in body["models"] + body["workers"])
    return body


def _given(value, default):
    return default if value is None else value
