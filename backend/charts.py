"""The dashboard's charts, answered at the resolution they are drawn at, and the dashboard's one
answer that holds every part of the page for one window.

A chart says how many pixels wide it is drawn (`width`). The state timeline then holds at most a
few intervals per pixel: an interval shorter than one pixel's time is merged with its short
neighbours into a `mixed` band that says how its time splits by state, so every second still
counts once and the totals stay exact. A long window is read from the roll-ups instead and its
strips answered as a table: each worker's seconds per state in each slot of whole hours or days.
Buckets (hourly, models) are at most one per pixel.

State events are read from a cursor and turned into intervals as they come (`intervals`), so a
chart over a long history holds its answer in memory, never the history.
"""

import hashlib
from bisect import bisect_right
from dataclasses import replace

from werkzeug.datastructures import MultiDict

from . import drift, limits, metrics, params, queries, reports, sweep
from .errors import ApiError, field_error
from .timeutil import format_instant

HOUR_MS = metrics.MS_PER_HOUR
DAY_MS = 24 * HOUR_MS
AUTO_BUCKETS_MS = (HOUR_MS, DAY_MS, 7 * DAY_MS, 28 * DAY_MS, 364 * DAY_MS)
# Hours only up to a week: longer windows read better by the day.
HOURS_UP_TO_MS = 7 * DAY_MS
MIXED = "mixed"
# A version of the alerts for ETags: a new alert raises the largest id, a closed one the count.
ALERTS_VERSION_SQL = "SELECT COALESCE(MAX(id), 0), COUNT(closed_at_ms) FROM alerts"


# --- Reading intervals as a stream ---------------------------------------------------------------

def intervals(conn, query, window, worker_ids, setup=None):
    """Yield `(worker_id, metrics.Interval)`: the workers' timelines in the window (SPEC §5.2-5.4,
    and with `planned_only` only their planned parts, from `setup`, a `reports.FloorSetup`, when
    given), each worker's in time order.

    Workers are interleaved as their events come from the time index. A worker's events that
    only confirm its state (heartbeats, `metrics.confirms`) make one run, whose intervals are
    yielded once an event that ends it is read: only each worker's run under way is held.
    """
    if not worker_ids:
        return
    wanted = set(worker_ids)
    floor = reports.floor_setup(conn, query, window, setup) if query.planned_only else None
    gap_ms = query.max_gap_ms
    runs = {}  # worker id -> [its run's first state event, the run's latest instant] (`metrics.confirms`)

    def pieces(worker_id, run, until_ms):
        found = metrics.state_pieces(run[0], until_ms, window, gap_ms, run[1])
        if floor is None:
            return [(worker_id, piece) for piece in found]
        return [(worker_id, part) for piece in found
                for part in _planned_parts(piece, floor.plan(piece.workstation_id))]

    def follow(rows):
        """The intervals of the runs that the state events `rows` end (`(worker_id, ts_ms, state,
        workstation_id)` in time order); an event that confirms its worker's run extends it."""
        # The request's limit is checked between rows: a long run of heartbeats yields nothing.
        for worker_id, ts_ms, state, station_id in limits.checked(rows, CHECK_EVERY):
            run = runs.get(worker_id)
            event = (ts_ms, state, station_id)
            if run is not None and metrics.confirms(run[0], run[1], event, gap_ms):
                run[1] = ts_ms
            elif worker_id in wanted:
                runs[worker_id] = [event, ts_ms]
                if run is not None:
                    yield from pieces(worker_id, run, ts_ms)

    # The state carried in: for all workers, from the roll-up of the hour before when it is kept.
    if query.site_id is None and query.min_confidence is None and len(wanted) > 1 and sweep.stored_horizon(conn):
        carried = sweep.state_before(conn, window.start_ms)
        runs.update((worker_id, [event, event[0]]) for worker_id, event in carried.items() if worker_id in wanted)
        first_ms = window.start_ms
    else:  # with the events at the start instant itself
        yield from follow((worker_id, *event) for worker_id, events in queries.state_events(
            conn, query.scope, list(worker_ids), window.start_ms, window.start_ms).items() for event in events)
        first_ms = window.start_ms + 1
    if window.end_ms >= first_ms:
        cursor = queries.plain(conn)
        bound = {**query.scope, "start_ms": first_ms, "end_ms": window.end_ms}
        if len(wanted) == 1:
            (only,) = wanted
            yield from follow((only, *row) for row in cursor.execute(queries.WINDOW_STATES_SQL,
                                                                     {**bound, "worker_id": only}))
        else:
            yield from follow(cursor.execute(queries.WINDOW_ALL_STATES_SQL, bound))
    for worker_id, run in runs.items():
        yield from pieces(worker_id, run, window.end_ms)


def _planned_parts(interval, plan):
    """The parts of one interval that lie in `plan` (sorted, disjoint `(start_ms, end_ms)`)."""
    index = max(0, bisect_right(plan, (interval.start_ms, interval.start_ms)) - 1)
    parts = []
    while index < len(plan) and plan[index][0] < interval.end_ms:
        start_ms, end_ms = max(interval.start_ms, plan[index][0]), min(interval.end_ms, plan[index][1])
        if end_ms > start_ms:
            parts.append(interval if end_ms - start_ms == interval.end_ms - interval.start_ms
                         else metrics.Interval(start_ms, end_ms, interval.state, interval.workstation_id))
        index += 1
    return parts


# --- The timeline at a resolution ---------------------------------------------------------------

def resolution_ms(window, width):
    """One pixel's time: the window's length over the chart's width, at least a millisecond."""
    return max(1, -(-window.length_ms // width))


class Strip:
    """One worker's strip at a resolution, built one interval at a time (in time order).

    Back-to-back intervals of one state at one station (a heartbeat repeats the state) are one
    spell. A spell at least `resolution_ms` long is kept as it is; shorter ones are gathered into
    a band, closed once it spans a pixel's time, when a long spell follows, or at a gap of a
    pixel or more. A band of a single spell is that spell. So the strip holds at most about two
    items per pixel of the window.
    """

    def __init__(self, resolution_ms):
        self.resolution_ms = resolution_ms
        self.items = []
        self.spell = None  # [start_ms, end_ms, state, workstation_id], still growing
        self.band = None  # _Band, still gathering

    def add(self, interval):
        """Take the next interval (`metrics.Interval`, after those already taken)."""
        spell = self.spell
        if (spell is not None and spell[1] == interval.start_ms and spell[2] == interval.state
                and spell[3] == interval.workstation_id):
            spell[1] = interval.end_ms
            return
        self._settle()
        self.spell = [interval.start_ms, interval.end_ms, interval.state, interval.workstation_id]

    def json(self):
        """The strip's items as the API shows them (after the last interval was taken)."""
        self._settle()
        self._close_band()
        return self.items

    def _settle(self):
        spell, self.spell = self.spell, None
        if spell is None:
            return
        if spell[1] - spell[0] >= self.resolution_ms:
            self._close_band()
            self.items.append(_interval_json(*spell))
            return
        if self.band is not None and spell[0] - self.band.end_ms >= self.resolution_ms:
            self._close_band()
        if self.band is None:
            self.band = _Band(spell[0])
        self.band.add(spell)
        if self.band.end_ms - self.band.start_ms >= self.resolution_ms:
            self._close_band()

    def _close_band(self):
        band, self.band = self.band, None
        if band is not None:
            self.items.append(band.json())


class _Band:
    def __init__(self, start_ms):
        self.start_ms = self.end_ms = start_ms
        self.split_ms = {}
        self.stations = set()
        self.spells = []  # kept while there is one, so a band of one spell is shown as that spell

    def add(self, spell):
        start_ms, end_ms, state, station_id = spell
        self.end_ms = end_ms
        self.split_ms[state] = self.split_ms.get(state, 0) + end_ms - start_ms
        self.stations.add(station_id)
        if len(self.spells) < 2:
            self.spells.append(spell)

    def json(self):
        if len(self.spells) == 1:
            return _interval_json(*self.spells[0])
        station_id = next(iter(self.stations)) if len(self.stations) == 1 else None
        return _mixed_json(self.start_ms, self.end_ms, self.split_ms, station_id)


def _interval_json(start_ms, end_ms, state, station_id):
    return {"from": format_instant(start_ms), "to": format_instant(end_ms), "state": state,
            "workstation_id": station_id, "seconds": (end_ms - start_ms) / 1000}


def _mixed_json(start_ms, end_ms, split_ms, station_id):
    return {
        "from": format_instant(start_ms),
        "to": format_instant(end_ms),
        "state": MIXED,
        "workstation_id": station_id,
        "seconds": sum(split_ms.values()) / 1000,
        "split": {state: split_ms[state] / 1000 for state in metrics.TIME_STATES if split_ms.get(state)},
    }


# --- Long windows from the hourly roll-ups ---------------------------------------------------------

# Slot sizes of a timeline read from the roll-ups: a few hours, then whole days (read from the
# daily roll-ups: a pixel of more than 6 hours draws a day or more of a long window).
SLOT_HOURS = (1, 2, 3, 4, 6)
# Windows up to this long are drawn from their events at the resolution of a pixel; longer ones
# from the roll-ups, in slots of an hour at least (a week on a laptop's screen: hour by hour).
FINE_UP_TO_MS = 3 * DAY_MS
# At most this many slots a strip read from the roll-ups (a year: day by day), whatever the width:
# the answer, and the memory it takes, stay bounded.
MAX_SLOTS = 1000


def slot_size_ms(resolution_ms, window_ms):
    """The slot a timeline at this resolution over a window this long is read in from the
    roll-ups: the smallest of `SLOT_HOURS` at least one pixel and a `MAX_SLOTS`th of the window
    long, else whole days; `None` (drawn from the events) when a pixel is under an hour and the
    window at most `FINE_UP_TO_MS`."""
    if resolution_ms < HOUR_MS and window_ms <= FINE_UP_TO_MS:
        return None
    resolution_ms = max(resolution_ms, -(-window_ms // MAX_SLOTS))
    hours = next((hours for hours in SLOT_HOURS if hours * HOUR_MS >= resolution_ms), None)
    return hours * HOUR_MS if hours else -(-resolution_ms // DAY_MS) * DAY_MS


def slot_range(window, slot_ms):
    """The numbers of the slots a window is read in: from the one holding its start to the one
    holding its last instant."""
    return range(window.start_ms // slot_ms, max(window.start_ms, window.end_ms - 1) // slot_ms + 1)


def slot_rows(slots, worker_ids, window, slot_ms):
    """The workers' strips from slot tallies (`sweep.slot_tallies`): `{worker_id: rows}`, a row
    per slot of the window with the worker's seconds in each of `metrics.TIME_STATES` (rounded
    to whole seconds; a slot without the worker's time is all zeros)."""
    rows = {worker_id: [] for worker_id in worker_ids}
    for slot in slot_range(window, slot_ms):
        tally = slots.get(slot)
        state_ms = tally.state_ms if tally is not None else {}
        for worker_id, strip in rows.items():
            split = state_ms.get(worker_id)
            strip.append([(split.get(state, 0) + 500) // 1000 for state in metrics.TIME_STATES] if split
                         else [0] * len(metrics.TIME_STATES))
    return rows


# --- The chart endpoints -------------------------------------------------------------------------

def _chart_scope(conn, query, now_ms):
    """Window, workers and workstations of a chart; the workers narrowed to its `worker_id`, and
    a 404 `ApiError` for a `worker_id` or `workstation_id` not in scope."""
    window, workers, workstations = reports.resolve(conn, query, now_ms)
    worker_id, station_id = query.extra["worker_id"], query.extra["workstation_id"]
    if worker_id is not None:
        workers = [row for row in workers if row[0] == worker_id]
        if not workers:
            raise ApiError(404, "Not Found", f"No worker with id {worker_id!r} in this scope.")
    if station_id is not None and station_id not in {row[0] for row in workstations}:
        raise ApiError(404, "Not Found", f"No workstation with id {station_id!r} in this scope.")
    return window, workers, workstations


class _Charts:
    """The chart parts of one window, filled by one pass over its intervals."""

    def __init__(self, query, window, workers, width, bucket_ms, rules=None, timeline=True):
        self.station_id = query.extra.get("workstation_id")
        self.narrowed = {worker_id for worker_id, _name in workers}
        self.resolution_ms = resolution_ms(window, width)
        self.strips = {worker_id: Strip(self.resolution_ms) for worker_id in self.narrowed} if timeline else {}
        self.buckets = metrics.BucketTally(window, bucket_ms) if bucket_ms else None
        self.presences = {} if rules else None
        self.rules, self.window = rules, window
        self.bucket_units = None  # `(slot, units)` rows of the buckets, when read from the roll-ups
        self.slot_ms = None  # the timeline's slot, when read from the roll-ups, and its rows per worker
        self.slot_rows = {}

    def take(self, worker_id, interval):
        if self.presences is not None:
            presence = self.presences.get(worker_id)
            if presence is None:
                presence = self.presences[worker_id] = drift.Presence(self.window, self.rules)
            presence.add(interval)
        if worker_id not in self.narrowed or (self.station_id is not None
                                              and interval.workstation_id != self.station_id):
            return
        if self.strips:
            self.strips[worker_id].add(interval)
        if self.buckets is not None:
            self.buckets.add(interval)

    def from_rollups(self, conn, query):
        """Fill every part from the roll-ups when each can be: the timeline is read in slots
        (`slot_size_ms`), buckets are whole hours, no workstation narrows them and the roll-ups
        answer the query (`sweep.slot_tallies`). Returns whether it did."""
        slot_ms = slot_size_ms(self.resolution_ms, self.window.length_ms) if self.strips else None
        bucket_ms = self.buckets.bucket_ms if self.buckets is not None else None
        if (self.station_id is not None or (self.strips and slot_ms is None)
                or (bucket_ms is not None and bucket_ms % HOUR_MS)):
            return False
        slots = sweep.slot_tallies(conn, query, self.window, slot_ms or bucket_ms)
        if slots is None:
            return False
        if self.strips:
            self.slot_ms = slot_ms
            self.slot_rows = slot_rows(slots, self.strips, self.window, slot_ms)
        if bucket_ms is not None:
            size = slot_ms or bucket_ms
            if bucket_ms % size:
                slots, size = sweep.slot_tallies(conn, query, self.window, bucket_ms), bucket_ms
            last = len(self.buckets.totals) - 1
            units = [0] * len(self.buckets.totals)
            for slot, tally in slots.items():
                # The slot of the window's end instant holds no time, only its events: the last bucket's.
                index = min(last, slot * size // bucket_ms - self.buckets.first_slot)
                totals = self.buckets.totals[index]
                for worker_id in self.narrowed & tally.state_ms.keys():
                    for state, ms in tally.state_ms[worker_id].items():
                        totals[state] += ms
                units[index] += sum(tally.worker_units[worker] for worker in self.narrowed & tally.worker_units.keys())
            self.bucket_units = [(self.buckets.first_slot + index, count) for index, count in enumerate(units)]
        if self.presences is not None:
            whole = metrics.Tally()
            for tally in slots.values():
                whole.add(tally)
            recent = drift.split_window(self.window, self.rules.recent_ms)[1]
            recent_ms = sweep.window_tally(conn, query, recent, None).state_ms
            for worker_id, totals in whole.state_ms.items():
                self.presences[worker_id] = drift.Presence.from_time(self.window, self.rules, totals,
                                                                     recent_ms.get(worker_id, {}))
        return True


# How many state events the charts read between two looks at the request's limit (`limits`).
CHECK_EVERY = 1000


def _fill(conn, query, window, worker_ids, charts, setup=None):
    if charts.from_rollups(conn, query):
        return charts
    for worker_id, interval in intervals(conn, query, window, worker_ids, setup):
        charts.take(worker_id, interval)
    return charts


def timeline_report(conn, query, now_ms):
    """Each worker's state intervals in the window at the chart's resolution (`width`)."""
    window, workers, _stations = _chart_scope(conn, query, now_ms)
    return _timeline_json(conn, query, window, workers)


def _timeline_json(conn, query, window, workers, charts=None):
    if window is None:
        return {"window": metrics.window_json(None), "resolution_seconds": 0, "slots": None,
                "workers": [{"worker_id": w, "name": n, "intervals": [], "slots": None} for w, n in workers]}
    width = query.extra["width"]
    if charts is None:
        charts = _fill(conn, query, window, [w for w, _n in workers], _Charts(query, window, workers, width, None))
    slot_ms = charts.slot_ms
    return {
        "window": metrics.window_json(window),
        "resolution_seconds": resolution_ms(window, width) / 1000,
        "slots": slot_ms and {"from": format_instant(slot_range(window, slot_ms)[0] * slot_ms),
                              "seconds": slot_ms // 1000, "states": list(metrics.TIME_STATES)},
        "workers": [{"worker_id": worker_id, "name": name,
                     "intervals": [] if slot_ms else charts.strips[worker_id].json(),
                     "slots": charts.slot_rows.get(worker_id)}
                    for worker_id, name in workers],
    }


def buckets_report(conn, query, now_ms):
    """Time in each state and units per bucket (an hour, or longer over long windows: at most
    one per pixel of `width`).

    With `worker_id` only that worker counts; with `workstation_id` only time and units at that
    station. The buckets add up to the window's totals.
    """
    window, workers, _stations = _chart_scope(conn, query, now_ms)
    bucket_ms = bucket_size_ms(query, window)
    if window is None:
        return {"window": metrics.window_json(None), "bucket_seconds": bucket_ms // 1000, "buckets": []}
    charts = _fill(conn, query, window, [w for w, _n in workers],
                   _Charts(query, window, workers, query.extra["width"], bucket_ms, timeline=False))
    return _buckets_json(conn, query, window, charts)


def _buckets_json(conn, query, window, charts, setup=None):
    tally = charts.buckets
    worker_id, station_id = query.extra["worker_id"], query.extra["workstation_id"]
    if charts.bucket_units is not None:
        units = charts.bucket_units
    elif query.planned_only:
        rows = queries.window_unit_instants(conn, query.scope, window.start_ms, window.end_ms, worker_id, station_id)
        floor = reports.floor_setup(conn, query, window, setup)
        units = metrics.units_by_slot(metrics.planned_units(rows, floor), tally.bucket_ms)
    else:
        units = queries.window_units_by_slot(conn, query.scope, window.start_ms, window.end_ms, tally.bucket_ms,
                                             worker_id, station_id)
    return {"window": metrics.window_json(window), "bucket_seconds": tally.bucket_ms // 1000,
            "buckets": tally.json(units)}


def bucket_size_ms(query, window):
    """The bucket size asked for (`bucket_seconds`; more than `MAX_BUCKETS` is a 422), or the first
    of hours (up to a week), days, weeks, four weeks and years that gives at most one bucket per
    pixel of `width` and at most `MAX_BUCKETS`."""
    requested = query.extra.get("bucket_seconds")
    if requested is None:
        if window is None:
            return HOUR_MS
        most = min(params.MAX_BUCKETS, query.extra["width"])
        sizes = AUTO_BUCKETS_MS if window.length_ms <= HOURS_UP_TO_MS else AUTO_BUCKETS_MS[1:]
        return next((size for size in sizes if metrics.bucket_bounds(window, size)[1] <= most), AUTO_BUCKETS_MS[-1])
    bucket_ms = requested * 1000
    if window is not None and metrics.bucket_bounds(window, bucket_ms)[1] > params.MAX_BUCKETS:
        raise params.invalid_query([field_error(
            "bucket_seconds", f"gives more than {params.MAX_BUCKETS} buckets over this window; choose larger buckets")])
    return bucket_ms


def models_report(conn, query, now_ms, low_threshold):
    """Per model version: events, confidence figures, first and last seen, and a confidence series."""
    window = reports.resolve_window(conn, query, now_ms)
    threshold = _given(query.extra["low_confidence"], low_threshold)
    bucket_ms = bucket_size_ms(query, window)
    body = {"window": metrics.window_json(window), "low_confidence_threshold": threshold,
            "bucket_seconds": bucket_ms // 1000, "models": [], "series": []}
    if window is not None:
        groups = queries.model_groups(conn, query.scope, window.start_ms, window.end_ms, bucket_ms)
        body["models"] = drift.confidence_stats(groups, threshold)
        body["series"] = drift.confidence_series(groups, window, bucket_ms)
    return body


def drift_rules(extra, defaults):
    """The drift rules of a query: its own thresholds, else the server's `defaults`."""
    return drift.DriftRules(
        recent_ms=round(_given(extra.get("recent_seconds"), defaults.recent_ms / 1000) * 1000),
        confidence_drop=_given(extra.get("confidence_drop"), defaults.confidence_drop),
        mix_shift=_given(extra.get("mix_shift"), defaults.mix_shift),
        min_events=_given(extra.get("min_events"), defaults.min_events),
        min_present_ms=defaults.min_present_ms,
    )


def drift_report(conn, query, now_ms, default_rules):
    """Both drift rules over the window: model confidence and each worker's working/idle mix."""
    window, workers, _stations = reports.resolve(conn, query, now_ms)
    rules = drift_rules(query.extra, default_rules)
    presences = None
    if window is not None:
        charts = _Charts(query, window, [], 1, None, rules)
        presences = _fill(conn, query, window, [w for w, _n in workers], charts).presences
    return _drift_json(conn, query, window, workers, rules, presences)


def _drift_json(conn, query, window, workers, rules, presences):
    body = {"window": metrics.window_json(window), "rules": rules.json(), "models": [], "workers": []}
    if window is not None:
        # Events at the cut belong to the recent part.
        cut_ms = drift.split_window(window, rules.recent_ms)[1].start_ms
        baseline = queries.model_groups(conn, query.scope, window.start_ms, cut_ms - 1)
        recent = queries.model_groups(conn, query.scope, cut_ms, window.end_ms)
        body["models"] = drift.confidence_drift(baseline, recent, window, rules)
        body["workers"] = drift.mix_verdicts(workers, presences, window, rules)
    body["flagged"] = sum(item["flagged"] for item in body["models"] + body["workers"])
    return body


def _given(value, default):
    return default if value is None else value


# --- The dashboard: every part of the page for one window ----------------------------------------

def dashboard_report(conn, query, now_ms, config):
    """Everything the page shows for one window, computed from one resolved window so its parts
    agree: the metrics (window, factory, workers, workstations), the timeline and hourly charts
    (narrowed to `worker_id`/`workstation_id`; `null` when that worker or workstation is not in
    scope), models, drift, the shift report of the window (as of its end) and the live feed.
    The caller adds the open alerts.

    One pass over the window's intervals fills the timeline, the buckets and the drift mix.
    `sections=floor` gives only the figures of the floor now; the other parts are `null`.
    """
    window = reports.resolve_window(conn, query, now_ms)
    if window is not None:  # every part below resolves exactly this window, whatever arrives meanwhile
        query = replace(query, from_ms=window.start_ms, to_ms=window.end_ms)
    setup = reports.FloorSetup(conn)
    report = reports.metrics_report(conn, query, now_ms, setup)
    workers = [(item["worker_id"], item["name"]) for item in report["workers"]]
    full = query.extra["sections"] == "all"
    narrowed = _narrowed(query, workers, report["workstations"])
    body = {
        "window": report["window"], "factory": report["factory"], "workers": report["workers"],
        "workstations": report["workstations"], "timeline": None, "hourly": None, "models": None, "drift": None,
        "shift_report": None, "shift_report_error": None, "feed": None,
    }
    rules = drift_rules({}, config["DRIFT_RULES"])
    charts_query = query if narrowed is not None else _replace_extra(query, worker_id=None, workstation_id=None)
    bucket_query = _replace_extra(charts_query, bucket_seconds=None)
    bucket_ms = bucket_size_ms(bucket_query, window) if full else None
    charts = None
    if window is not None:
        charts = _Charts(charts_query, window, narrowed or [], query.extra["width"], bucket_ms,
                         rules if full else None)
        _fill(conn, query, window, [worker_id for worker_id, _name in workers], charts, setup)
    if narrowed is not None:
        body["timeline"] = _timeline_json(conn, charts_query, window, narrowed, charts)
        if full:
            body["hourly"] = (_buckets_json(conn, bucket_query, window, charts, setup) if window is not None else
                              {"window": metrics.window_json(None), "bucket_seconds": bucket_ms // 1000,
                               "buckets": []})
    if full:
        models_query = _replace_extra(query, low_confidence=None, bucket_seconds=None)
        body["models"] = models_report(conn, models_query, now_ms, config["LOW_CONFIDENCE"])
        body["drift"] = _drift_json(conn, query, window, workers, rules, charts.presences if charts else None)
        body["shift_report"], body["shift_report_error"] = _window_shifts(conn, query, window, config, setup)
        body["feed"] = _feed(conn, query)
    return body


def _narrowed(query, workers, stations):
    """The workers the charts show, or `None` when the chosen worker or workstation is not in scope."""
    worker_id, station_id = query.extra["worker_id"], query.extra["workstation_id"]
    if station_id is not None and station_id not in {item["workstation_id"] for item in stations}:
        return None
    if worker_id is None:
        return workers
    chosen = [row for row in workers if row[0] == worker_id]
    return chosen or None


def _replace_extra(query, **values):
    return replace(query, extra={**query.extra, **values})


def _window_shifts(conn, query, window, config, setup):
    """`(shift report of the window, None)`, `(None, None)` without one, or `(None, why)` when the
    window holds more shift instances than are reported at once.

    The report is as of the window's end, as every other part: a shift running then counts up
    to that instant and is `running`, so the answer depends on the window, never on the clock.
    """
    if window is None:
        return None, None
    args = MultiDict({"from": format_instant(window.start_ms), "to": format_instant(window.end_ms),
                      "site_id": query.site_id or ""})
    try:
        report = reports.shifts_report(conn, args, window.end_ms, config["STATE_MAX_GAP_SECONDS"],
                                       config["FACTORY_TZ"], setup)
        return report, None
    except ApiError as problem:
        if problem.status == 404:
            return None, None
        messages = [error["message"] for error in problem.errors or ()]
        return None, "; ".join(messages) or problem.detail


def _feed(conn, query):
    limit = query.extra["feed_limit"]
    rows = queries.recent_events(conn, {
        "from_ms": None, "to_ms": None, "limit": limit + 1, "worker_id": query.extra["worker_id"],
        "workstation_id": query.extra["workstation_id"], "event_type": None,
        **queries.scope_params(query.site_id, None)})
    return {"events": rows[:limit], "limit": limit, "has_more": len(rows) > limit}


def dashboard_key(conn, _query, _now_ms, _config):
    """What the dashboard's ETag adds to the metrics one: the alerts' version (the open alerts
    are part of the answer; every other part follows the data and the window)."""
    version = tuple(conn.execute(ALERTS_VERSION_SQL).fetchone())
    return hashlib.sha256(str(version).encode()).hexdigest()[:16]
