"""Metric reports: parse a metrics query, read its rows through `queries`, compute with `metrics`;
the shift report; and the floor's setup the reports depend on (calendars, sites, targets, names):
bodies checked here, stored through `queries`."""

import csv
import hashlib
import io
import math
import unicodedata
from dataclasses import dataclass, field, replace

from . import calendars, limits, metrics, params, queries, sweep
from .db import transaction
from .errors import ApiError, field_error
from .ingest import MAX_ID_LENGTH
from .timeutil import format_instant


@dataclass(frozen=True)
class MetricsQuery:
    """The query parameters every metrics endpoint takes (SPEC §5)."""

    from_ms: int | None = None
    to_ms: int | None = None
    site_id: str | None = None
    min_confidence: float | None = None
    max_gap_ms: int | None = None
    planned_only: bool = False
    shift: str | None = None  # `current` or `previous`: only that shift of each site counts (`params.SHIFT`)
    extra: dict = field(default_factory=dict)  # an endpoint's own parameters, parsed alike
    # The factory calendar's zone before a calendar is stored (a server setting).
    factory_tz: str = "UTC"

    @classmethod
    def from_args(cls, args, default_max_gap_seconds=None, extra=None, factory_tz="UTC"):
        """Read `params.METRICS` from query args; a 422 `ApiError` lists every bad one.

        `max_gap_seconds` falls back to `default_max_gap_seconds` (the server's setting); `0` or
        `None` means no signal horizon.
        `extra` holds the `Param`s of one endpoint's own parameters; their values land in `extra`.
        `factory_tz` is the server's `FACTORY_TZ`.
        """
        extra = extra or ()
        values, errors = params.parse_args(args, (*params.METRICS, *extra))
        if values["shift"] and args.get("planned_only", "") != "" and values["planned_only"] is False:
            errors.append(field_error("planned_only", "must be true or left out with `shift`: a shift counts "
                                                      "its planned time only"))
        gap_seconds = values["max_gap_seconds"]
        if gap_seconds and gap_seconds < params.MIN_GAP_SECONDS:
            errors.append(field_error("max_gap_seconds",
                                      f"must be 0 (no horizon) or at least {params.MIN_GAP_SECONDS}"))
        if errors:
            raise params.invalid_query(errors)
        if gap_seconds is None:
            gap_seconds = default_max_gap_seconds
        return cls(
            from_ms=values["from"],
            to_ms=values["to"],
            site_id=values["site_id"],
            min_confidence=values["min_confidence"],
            max_gap_ms=gap_ms(gap_seconds),
            planned_only=values["planned_only"] or values["shift"] is not None,
            shift=values["shift"],
            extra={param.name: values[param.name] for param in extra},
            factory_tz=factory_tz,
        )

    @property
    def scope(self):
        """Named parameters of the scope clause in `queries`."""
        return queries.scope_params(self.site_id, self.min_confidence)


def gap_ms(seconds):
    """A signal horizon in whole milliseconds, as instants are (rounded half up); `0` or `None`
    seconds: none."""
    return math.floor(seconds * 1000 + 0.5) if seconds else None


def fingerprint(conn, query, now_ms, request_key):
    """An ETag for a metrics answer: it changes when the stored data or the resolved window does.

    `request_key` names everything else the answer depends on (path and query string).
    """
    window = resolve_window(conn, query, now_ms)
    bounds = (window.start_ms, window.end_ms) if window else None
    text = f"{queries.generation(conn)}|{bounds}|{request_key}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def resolve_window(conn, query, now_ms):
    """The window of a query at `now_ms` (SPEC §5.1), or `None` when it is empty."""
    if query.from_ms is not None and query.to_ms is not None:  # the events' span is not needed
        return metrics.resolve_window(query.from_ms, query.to_ms, None, None, now_ms)
    earliest_ms, latest_ms = queries.window_bounds(conn, query.scope)
    return metrics.resolve_window(query.from_ms, query.to_ms, earliest_ms, latest_ms, now_ms)


class FloorSetup:
    """The floor's setup a report reads besides the events: the registered workers and
    workstations, the workstations' sites and targets, the calendars. Each is read once however
    many windows one report works out (the shift report's instances), not once per window."""

    def __init__(self, conn):
        self.conn = conn
        self._read = {}

    def _once(self, read, *args):
        key = (read, *args)
        if key not in self._read:
            self._read[key] = read(self.conn, *args)
        return self._read[key]

    def workers(self, site_id):
        return self._once(queries.list_workers, site_id)

    def workstations(self, site_id):
        return self._once(queries.list_workstations, site_id)

    def stations(self):
        return self._once(queries.workstation_setup)

    def calendar(self, factory_tz):
        return self._once(queries.load_calendar, factory_tz)

    def sites(self):
        return self._once(queries.list_sites)


def resolve(conn, query, now_ms, setup=None):
    """The window of a query (`None` when empty) and the workers and workstations it lists."""
    setup = setup or FloorSetup(conn)
    return resolve_window(conn, query, now_ms), setup.workers(query.site_id), setup.workstations(query.site_id)


def _state_events(conn, query, window, workers):
    return queries.state_events(conn, query.scope, [worker_id for worker_id, _name in workers],
                                window.start_ms, window.end_ms)


def floor_setup(conn, query, window, setup=None):
    """The `metrics.Floor` of a window: each workstation's planned time (its site's calendar) and target."""
    setup = setup or FloorSetup(conn)
    stations = setup.stations()
    return metrics.plan_floor(window, setup.calendar(query.factory_tz), setup.sites(),
                              {station_id: site_id for station_id, (_name, site_id, _target) in stations.items()},
                              {station_id: target for station_id, (_name, _site, target) in stations.items()},
                              query.planned_only, query.shift)


def metrics_report(conn, query, now_ms, setup=None, parts=metrics.REPORT_PARTS):
    """The report for a query: window, every worker, every workstation, the factory (of these
    only the `parts` asked for).

    Roll-ups answer what they hold (see `sweep.usable`), planned time included; other
    queries are worked out from the events. `setup`: a `FloorSetup` read already.
    """
    window, workers, workstations = resolve(conn, query, now_ms, setup)
    floor = floor_setup(conn, query, window, setup)
    if window is None:
        return metrics.build_report(None, workers, workstations, {}, [], 0, query.max_gap_ms, floor, parts)
    tally = sweep.window_tally(conn, query, window, floor)
    if tally is not None:
        return metrics.report_from_tally(window, workers, workstations, tally, query.max_gap_ms, floor, parts)
    return events_report(conn, query, window, workers, workstations, floor, parts)


def events_report(conn, query, window, workers, workstations, floor=None, parts=metrics.REPORT_PARTS):
    """The report worked out from the events alone, whatever the query's filters."""
    floor = floor or floor_setup(conn, query, window)
    state_events = {worker_id: limits.checked(events)
                    for worker_id, events in _state_events(conn, query, window, workers).items()}
    units = _units(conn, query, window)
    event_count = queries.window_event_count(conn, query.scope, window.start_ms, window.end_ms)
    return metrics.build_report(window, workers, workstations, state_events, units, event_count, query.max_gap_ms,
                                floor, parts)


def _units(conn, query, window):
    """The window's unit rows: summed per worker and station, or with `planned_only` each with its instant."""
    if query.planned_only:
        return queries.window_unit_instants(conn, query.scope, window.start_ms, window.end_ms)
    return queries.window_units(conn, query.scope, window.start_ms, window.end_ms)


HOUR_MS = metrics.MS_PER_HOUR
DAY_MS = 24 * HOUR_MS


def single_item(report, kind, item_id):
    """`{"window", <kind>}` for one item of a report's list, or a 404 `ApiError`."""
    id_field = f"{kind}_id"
    for item in report[f"{kind}s"]:
        if item[id_field] == item_id:
            return {"window": report["window"], kind: item}
    raise ApiError(404, "Not Found", f"No {kind} with id {item_id!r} in this scope.")


# --- The floor's setup: calendars, sites, workstations and workers (SPEC §5) ---------------------

MAX_TARGET_UNITS_PER_HOUR = 1_000_000
WORKSTATION_FIELDS = ("name", "site_id", "target_units_per_hour")
WORKER_FIELDS = ("name",)


def invalid_body(errors, what):
    """The 422 error for a body that is not a valid `what`, listing every problem."""
    return ApiError(422, "Unprocessable Content", f"The body is not a valid {what}; `errors` names every problem.",
                    errors)


def _repeated_keys(value, path=""):
    """Field errors for every object in `value` that names a key twice (the JSON is ambiguous)."""
    errors = []
    if isinstance(value, dict):
        errors += [field_error(f"{path}{key}", "appears more than once") for key in getattr(value, "repeated", ())]
        for key, item in value.items():
            errors += _repeated_keys(item, f"{path}{key}.")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors += _repeated_keys(item, f"{path[:-1]}[{index}].")
    return errors


def calendar_json(conn, factory_tz):
    """`GET /calendar`: the factory calendar."""
    return calendars.calendar_json(queries.load_calendar(conn, factory_tz))


def put_calendar(conn, body, factory_tz):
    """Validate and store the factory calendar (`PUT /calendar`); a 422 `ApiError` lists every problem."""
    calendar, errors = calendars.parse_calendar(body, factory_tz)
    errors = _repeated_keys(body) + errors
    if errors:
        raise invalid_body(errors, "calendar")
    with transaction(conn):
        queries.save_calendar(conn, calendar)
    return calendars.calendar_json(calendar)


def site_json(site_id, site):
    """A site as `GET /sites` lists it: its id, `name`, own `time_zone` and own `shifts` (`null`: the factory's)."""
    return {"site_id": site_id, **calendars.site_json(site)}


def sites_json(conn):
    """`GET /sites`: every configured site and every site seen in the events."""
    return [site_json(site_id, site) for site_id, site in queries.list_sites(conn).items()]


def get_site_json(conn, site_id):
    """`GET /sites/<site_id>`, or a 404 `ApiError`."""
    site = queries.get_site(conn, site_id)
    if site is None:
        raise ApiError(404, "Not Found", f"No site with id {site_id!r}: none is configured and no event names it.")
    return site_json(site_id, site)


def put_site(conn, site_id, body):
    """Validate and store a site (`PUT /sites/<site_id>`), created or replaced whole."""
    id_problem = _id_problem(site_id)
    if id_problem:
        raise ApiError(422, "Unprocessable Content", f"The site id {id_problem}.", [field_error("site_id", id_problem)])
    site, errors = calendars.parse_site(body, site_id)
    errors = _repeated_keys(body) + errors
    if errors:
        raise invalid_body(errors, "site")
    with transaction(conn):
        queries.save_site(conn, site_id, site)
    return site_json(site_id, site)


def put_workstation(conn, workstation_id, body):
    """Change a workstation's `name`, `site_id` and `target_units_per_hour` (`PUT /workstations/<id>`).

    Members left out stay as they are; `name: null` gives the station its id as name again,
    `site_id: null` the factory calendar, `target_units_per_hour: null` no target. A `site_id`
    must name a site that is configured or seen in the events. Unknown workstation: `404`.
    """
    with transaction(conn):
        if queries.get_workstation(conn, workstation_id) is None:
            raise ApiError(404, "Not Found", f"No workstation with id {workstation_id!r}.")
        errors = _object_problems(body, WORKSTATION_FIELDS)
        changes = {}
        if isinstance(body, dict):
            if "name" in body:
                changes["name"] = _name(body["name"], workstation_id, errors)
            if "site_id" in body:
                changes["site_id"] = _site_reference(conn, body["site_id"], errors)
            if "target_units_per_hour" in body:
                changes["target_units_per_hour"] = _target(body["target_units_per_hour"], errors)
        if errors:
            raise invalid_body(errors, "workstation")
        return queries.set_workstation(conn, workstation_id, **changes)


def put_worker(conn, worker_id, body):
    """Change a worker's `name` (`PUT /workers/<id>`; `null`: the id again). Unknown worker: `404`."""
    with transaction(conn):
        if not queries.worker_known(conn, worker_id):
            raise ApiError(404, "Not Found", f"No worker with id {worker_id!r}.")
        errors = _object_problems(body, WORKER_FIELDS)
        name = None
        if isinstance(body, dict):
            if "name" not in body:
                errors.append(field_error("name", "is required (null gives the worker its id as name)"))
            name = _name(body.get("name"), worker_id, errors)
        if errors:
            raise invalid_body(errors, "worker")
        return queries.set_worker_name(conn, worker_id, name)


def _object_problems(body, fields):
    if not isinstance(body, dict):
        return [field_error(None, "the body must be a JSON object")]
    errors = _repeated_keys(body)
    errors += [field_error(key, f"is not a known field (known: {', '.join(fields)})") for key in body
               if key not in fields]
    return errors


def _name(value, default, errors):
    """A display name: a string, not blank, at most `calendars.MAX_NAME_LENGTH` characters, kept
    without surrounding spaces; `None` gives `default` (the id)."""
    if value is None:
        return default
    if not isinstance(value, str):
        errors.append(field_error("name", "must be a string or null"))
        return None
    name = value.strip()
    if not name:
        errors.append(field_error("name", "must not be blank (null gives the id as name)"))
    elif len(name) > calendars.MAX_NAME_LENGTH:
        errors.append(field_error("name", f"must be at most {calendars.MAX_NAME_LENGTH} characters"))
    elif not name.isprintable():
        errors.append(field_error("name", "must not hold control or invisible characters"))
    return name


def _id_problem(value):
    """What is wrong with a site id (as events carry them), or `None`."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    if value != value.strip() or not value.isprintable() or unicodedata.normalize("NFC", value) != value:
        return "must be printable NFC text without surrounding whitespace, as events carry it"
    return None


def _site_reference(conn, value, errors):
    if value is None:
        return None
    problem = _id_problem(value)
    if problem is None and not queries.site_known(conn, value):
        problem = f"names no known site ({value!r}); create it with PUT /sites/<site_id> first"
    if problem:
        errors.append(field_error("site_id", problem))
    return value


def _target(value, errors):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        errors.append(field_error("target_units_per_hour", "must be a number or null"))
        return None
    if not 0 <= value <= MAX_TARGET_UNITS_PER_HOUR:
        errors.append(field_error("target_units_per_hour",
                                  f"must be from 0 to {MAX_TARGET_UNITS_PER_HOUR} (null: no target)"))
    return float(value)


# --- The shift report (SPEC §5, "Shift report") ---------------------------------------------------

SHIFT_CSV_COLUMNS = ("site_id", "shift", "date", "start", "end", "status", "workstation_id", "workstation_name",
                     "planned_seconds", "target_units_per_hour", "target_units", "units", "attainment_pct",
                     "occupancy_seconds", "utilization_pct")


def shifts_report(conn, args, now_ms, default_max_gap_seconds, factory_tz, setup=None):
    """Every shift instance overlapping the range, oldest first, each with the figures the
    metrics endpoints give for `from=start`, `to=end`, `planned_only=true` (and `site_id` for a
    site's own calendar): the same `metrics_report` works them out, so they are equal by
    construction.

    Without `site_id`: the factory calendar's instances (`site_id` null, the whole floor) and
    those of every site whose calendar differs from it (its own zone or shifts; that site's
    events only). With `site_id`: that site's instances only. More than
    `params.MAX_SHIFT_INSTANCES` instances: `422`. `setup`: a `FloorSetup` read already.
    """
    values, errors = params.parse_args(args, params.SHIFTS)
    to_ms = values["to"] if values["to"] is not None else now_ms
    from_ms = values["from"] if values["from"] is not None else to_ms - params.SHIFT_RANGE_DAYS * DAY_MS
    if from_ms > to_ms and values["to"] is None:  # both given: `parse_args` checked them
        errors.append(field_error("from", "must not be later than now, the default `to`"))
    if errors:
        raise params.invalid_query(errors)
    setup = setup or FloorSetup(conn)
    # One instance more than reported at once is enough to refuse the range, however long it is.
    instances = shift_instances_in(setup, values["site_id"], from_ms, to_ms, factory_tz,
                                   limit=params.MAX_SHIFT_INSTANCES + 1)
    if len(instances) > params.MAX_SHIFT_INSTANCES:
        raise params.invalid_query([field_error(
            "from", f"the range holds more than {params.MAX_SHIFT_INSTANCES} shift instances, the most reported "
                    "at once: choose a shorter range")])
    base = MetricsQuery(planned_only=True, max_gap_ms=gap_ms(default_max_gap_seconds), factory_tz=factory_tz)
    shifts = []
    for site_id, instance in instances:
        query = replace(base, from_ms=instance.start_ms, to_ms=instance.end_ms, site_id=site_id)
        report = metrics_report(conn, query, now_ms, setup)
        shifts.append({
            "site_id": site_id,
            "shift": instance.name,
            "date": instance.date,
            "start": format_instant(instance.start_ms),
            "end": format_instant(instance.end_ms),
            "planned_seconds": sum(end - start for start, end in instance.planned) / 1000,
            "status": _status(instance, now_ms),
            **report,
        })
    return {"from": format_instant(from_ms), "to": format_instant(to_ms), "shifts": shifts}


def shift_instances_in(setup, site_id, from_ms, to_ms, factory_tz, limit=None):
    """`(site_id, ShiftInstance)` of each calendar's instances overlapping `[from_ms, to_ms]`, oldest
    first (the calendars from `setup`, a `FloorSetup`): the factory calendar's and those of sites
    with their own, or with `site_id` that site's only (a 404 `ApiError` when no such site is
    configured or seen). With `limit`, at most that many of each calendar (`calendars.shift_instances`)."""
    factory, sites = setup.calendar(factory_tz), setup.sites()
    if site_id is not None:
        if site_id not in sites:
            raise ApiError(404, "Not Found", f"No site with id {site_id!r}: none is configured and no event names it.")
        listed = [(site_id, calendars.site_calendar(sites[site_id], factory))]
    else:
        listed = [(None, factory)] + [
            (sid, calendar) for sid, calendar in ((sid, calendars.site_calendar(site, factory))
                                                  for sid, site in sites.items())
            if calendar != factory]
    found = []
    for order, (sid, calendar) in enumerate(listed):
        # The range is closed, as a metrics window is: an instance starting at its end overlaps it.
        for instance in calendars.shift_instances(calendar, from_ms, to_ms + 1, limit):
            found.append((instance.start_ms, instance.end_ms, order, sid, instance))
    found.sort(key=lambda item: item[:3])
    return [(sid, instance) for _start, _end, _order, sid, instance in found]


def _status(instance, now_ms):
    if now_ms < instance.start_ms:
        return "planned"
    return "running" if now_ms < instance.end_ms else "done"


def shifts_csv(report):
    """The shift report as CSV: one row per shift instance and workstation, with its target,
    actual units and attainment. Text that a spreadsheet would run as a formula is quoted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SHIFT_CSV_COLUMNS)
    for shift in report["shifts"]:
        for station in shift["workstations"]:
            row = {**{key: shift[key] for key in ("site_id", "shift", "date", "start", "end", "status")},
                   **station, "workstation_name": station["name"]}
            writer.writerow([_cell(row[column]) for column in SHIFT_CSV_COLUMNS])
    return out.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
