"""Metric reports: parse a metrics query, read its rows through `queries`, compute with `metrics`."""

from dataclasses import dataclass

from . import metrics, params, queries
from .errors import ApiError, field_error


TEN_YEARS_SECONDS = 10 * 365 * 86_400

METRICS_PARAMS = {
    "from": params.instant,
    "to": params.instant,
    "site_id": params.text,
    "min_confidence": params.number_between(0, 1),
    "max_gap_seconds": params.number_between(0, TEN_YEARS_SECONDS, low_inclusive=False),
}


@dataclass(frozen=True)
class MetricsQuery:
    """The query parameters every metrics endpoint takes (SPEC §5)."""

    from_ms: int | None = None
    to_ms: int | None = None
    site_id: str | None = None
    min_confidence: float | None = None
    max_gap_ms: int | None = None

    @classmethod
    def from_args(cls, args, default_max_gap_seconds=None):
        """Read the metrics parameters from query args; a 422 `ApiError` lists every bad one.

        `max_gap_seconds` falls back to `default_max_gap_seconds` (the server's setting).
        """
        values, errors = params.parse_args(args, METRICS_PARAMS)
        if values["from"] is not None and values["to"] is not None and values["from"] > values["to"]:
            errors.append(field_error("from", "must not be later than `to`"))
        if errors:
            raise params.invalid_query(errors)
        gap_seconds = values["max_gap_seconds"] or default_max_gap_seconds
        return cls(
            from_ms=values["from"],
            to_ms=values["to"],
            site_id=values["site_id"],
            min_confidence=values["min_confidence"],
            max_gap_ms=None if gap_seconds is None else round(float(gap_seconds) * 1000),
        )

    @property
    def scope(self):
        """Named parameters of the scope clause in `queries`."""
        return queries.scope_params(self.site_id, self.min_confidence)


def metrics_report(conn, query, now_ms):
    """The full report for a query: window, every worker, every workstation, the factory."""
    scope = query.scope
    earliest_ms, latest_ms = queries.window_bounds(conn, scope)
    window = metrics.resolve_window(query.from_ms, query.to_ms, earliest_ms, latest_ms, now_ms)
    workers = queries.list_workers(conn, query.site_id)
    workstations = queries.list_workstations(conn, query.site_id)
    if window is None:
        return metrics.build_report(None, workers, workstations, {}, [], 0)
    state_events = {
        worker_id: queries.worker_state_events(conn, scope, worker_id, window.start_ms, window.end_ms)
        for worker_id, _name in workers
    }
    units = queries.window_units(conn, scope, window.start_ms, window.end_ms)
    event_count = queries.window_event_count(conn, scope, window.start_ms, window.end_ms)
    return metrics.build_report(window, workers, workstations, state_events, units, event_count, query.max_gap_ms)


def single_item(report, kind, item_id):
    """`{"window", <kind>}` for one item of a report's list, or a 404 `ApiError`."""
    id_field = f"{kind}_id"
    for item in report[f"{kind}s"]:
        if item[id_field] == item_id:
            return {"window": report["window"], kind: item}
    raise ApiError(404, "Not Found", f"No {kind} with id {item_id!r} in this scope.")
