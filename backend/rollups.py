"""Hourly roll-ups: the figures of whole hours, kept so long windows cost hours, not events.

For a query without filters, a window splits into a head `[S, first whole hour)`, whole hours,
and a tail `[last whole hour, E]`. Head and tail are worked out from the events, as always; the
whole hours are summed from roll-ups. Every figure is a sum over disjoint stretches of time
(occupancy too: a union of intervals cut at hour boundaries is the sum of the per-hour unions),
so the answer is exactly the one computed from the events alone; a test holds them equal.

An hour's roll-up holds each worker's time per state (unknown time included) and units, each
station's occupancy and units, and the hour's event count, all for the unfiltered scope at the
server's signal horizon (`STATE_MAX_GAP_SECONDS`). The horizon they were computed with is
stored beside them; when the setting changes they are all dropped and computed again. A query
with another horizon, a filter or `planned_only` is answered from the events.

An hour is computed when a query first needs it and forgotten by ingestion when a new event
changes that hour: a product count its own hour, a state event every hour from its own to the
worker's next state event (or all later hours, when it is the worker's latest or its next lies
beyond the following day: forgetting more than changed is always safe).
"""

from contextlib import contextmanager
from typing import NamedTuple

from . import metrics, queries
from .db import OperationalError, lock_timed_out, transaction

HOUR_MS = metrics.MS_PER_HOUR
# Hours computed in one write transaction: short enough not to hold writers up for long.
CHUNK_HOURS = 24
ATTEMPTS = 3
# How long a metrics read waits for the write lock to store roll-ups before doing without them.
LOCK_WAIT_MS = 50


def usable(query):
    """Whether roll-ups can answer this query: they hold the unfiltered scope, all of its time
    (not only planned time), at the server's signal horizon (`query.horizon_ms`)."""
    return (query.site_id is None and query.min_confidence is None and not query.planned_only
            and query.max_gap_ms == query.horizon_ms)


def whole_hours(window):
    """`(first, end)`: the whole hours inside the window, as a half-open range of hour numbers."""
    first = -(-window.start_ms // HOUR_MS)
    end = window.end_ms // HOUR_MS
    return first, max(first, end)


def window_tally(conn, window, workers, horizon_ms):
    """The tally of the window (unfiltered, at the signal horizon `horizon_ms`, `None`: none)
    from roll-ups plus the events at its edges.

    Returns `None` when the window holds no whole hour, when the database was too busy to store
    roll-ups, or when ingestion kept changing the hours it needs; the caller then works from the
    events alone.
    """
    first, end = whole_hours(window)
    # Only hours that hold events are worth keeping; before the first event nothing happens and
    # after the last one every worker's last state simply goes on, which the edges work out cheaply.
    earliest_ms, latest_ms = queries.window_bounds(conn, queries.scope_params())
    if earliest_ms is None:
        return None
    first = max(first, earliest_ms // HOUR_MS)
    end = max(first, min(end, latest_ms // HOUR_MS + 1))
    if end == first:
        return None
    if not _hold_horizon(conn, horizon_ms):
        return None
    for _ in range(ATTEMPTS):
        if not _compute_missing(conn, first, end, horizon_ms):
            return None
        conn.execute("BEGIN")  # one snapshot for the roll-ups and the edges alike
        try:
            if (_stored_horizon(conn) == (horizon_ms,)
                    and len(conn.execute(queries.COMPUTED_HOURS_SQL, (first, end)).fetchall()) == end - first):
                return _tally(conn, window, workers, first, end, horizon_ms)
        finally:
            conn.execute("COMMIT")
    return None


def _stored_horizon(conn):
    """`(max_gap_ms,)` of the stored roll-ups, or `None` before any horizon was recorded."""
    row = conn.execute(queries.ROLLUP_HORIZON_SQL).fetchone()
    return None if row is None else (row[0],)


def _hold_horizon(conn, horizon_ms):
    """Make the stored roll-ups hold `horizon_ms`: when they were computed with another (the
    setting changed), drop them all and record this one. `False` if the database was busy."""
    if _stored_horizon(conn) == (horizon_ms,):
        return True
    try:
        with _short_wait(conn), transaction(conn):
            if _stored_horizon(conn) != (horizon_ms,):
                for statement in queries.FORGET_ALL_ROLLUPS_SQL:
                    conn.execute(statement)
                conn.execute(queries.SET_ROLLUP_HORIZON_SQL, (horizon_ms,))
    except OperationalError as failure:
        if _busy(failure):
            return False
        raise
    return True


def _busy(failure):
    return lock_timed_out(failure)


def _tally(conn, window, workers, first, end, horizon_ms):
    tally = metrics.Tally()
    head = metrics.Window(window.start_ms, first * HOUR_MS)
    if head.length_ms:
        tally.add(_events_tally(conn, workers, head, horizon_ms, closed_end=False))
    tally.add(_summed_hours(conn, first, end))
    tail = metrics.Window(min(end * HOUR_MS, window.end_ms), window.end_ms)
    tally.add(_events_tally(conn, workers, tail, horizon_ms, closed_end=True))
    return tally


def _events_tally(conn, workers, window, horizon_ms, closed_end):
    """The tally of a stretch from its events; units and counts include its end only if closed."""
    scope = queries.scope_params()
    last_ms = window.end_ms if closed_end else window.end_ms - 1
    state_events = queries.state_events(conn, scope, [worker_id for worker_id, _name in workers],
                                        window.start_ms, window.end_ms)
    timelines = {worker_id: metrics.worker_timeline(events, window, horizon_ms)
                 for worker_id, events in state_events.items()}
    units = queries.window_units(conn, scope, window.start_ms, last_ms)
    count = queries.window_event_count(conn, scope, window.start_ms, last_ms)
    tally = metrics.tally_timelines(timelines, units, count)
    if not closed_end:
        tally.last_events = {}  # a later stretch knows the latest state
    return tally


def _summed_hours(conn, first, end):
    tally = metrics.Tally(event_count=conn.execute(queries.SUM_HOUR_EVENTS_SQL, (first, end)).fetchone()[0])
    for worker_id, working, idle, absent, unknown, units in conn.execute(queries.SUM_WORKER_HOURS_SQL,
                                                                         (first, end)):
        tally.state_ms[worker_id] = {"working": working, "idle": idle, "absent": absent, metrics.UNKNOWN: unknown}
        tally.worker_units[worker_id] = units
    for station_id, occupancy, units in conn.execute(queries.SUM_STATION_HOURS_SQL, (first, end)):
        tally.occupancy_ms[station_id] = occupancy
        tally.station_units[station_id] = units
    return tally


def _compute_missing(conn, first, end, horizon_ms):
    """Compute the hours of `[first, end)` not yet rolled up; `False` if the database was busy,
    or another process has since made the roll-ups hold another horizon.

    A reader must not wait long on writers: when another process holds the write lock, the
    query is answered from the events instead and the roll-ups are left for a calmer moment.
    """
    computed = {row[0] for row in conn.execute(queries.COMPUTED_HOURS_SQL, (first, end))}
    hour = first
    while hour < end:
        if hour in computed:
            hour += 1
            continue
        run_end = hour
        while run_end < end and run_end not in computed and run_end - hour < CHUNK_HOURS:
            run_end += 1
        try:
            with _short_wait(conn), transaction(conn):
                if _stored_horizon(conn) != (horizon_ms,):
                    return False
                _compute_hours(conn, hour, run_end, horizon_ms)
        except OperationalError as failure:
            if _busy(failure):
                return False
            raise
        hour = run_end
    return True


@contextmanager
def _short_wait(conn):
    previous = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(previous)}")


def _compute_hours(conn, first, end, horizon_ms):
    """Compute and store the roll-ups of hours `[first, end)` at the signal horizon `horizon_ms`
    (inside a write transaction).

    The workers are read here, inside the transaction: one registered a moment ago by a batch
    that also forgot these hours must be in them.
    """
    workers = queries.list_workers(conn)
    start_ms, end_ms = first * HOUR_MS, end * HOUR_MS
    window = metrics.Window(start_ms, end_ms)
    scope = queries.scope_params()
    state_events = queries.state_events(conn, scope, [worker_id for worker_id, _name in workers], start_ms, end_ms)
    timelines = {worker_id: metrics.worker_timeline(events, window, horizon_ms)
                 for worker_id, events in state_events.items()}
    per_hour = metrics.hourly_tallies(timelines, HOUR_MS)
    worker_rows, station_rows = {}, {}
    for hour, (states, occupancy) in per_hour.items():
        for worker_id, totals in states.items():
            worker_rows[hour, worker_id] = [*(totals[state] for state in metrics.TIME_STATES), 0]
        for station_id, ms in occupancy.items():
            station_rows[hour, station_id] = [ms, 0]
    for hour, worker_id, station_id, units in conn.execute(queries.HOUR_UNITS_SQL, (start_ms, end_ms)):
        worker_rows.setdefault((hour, worker_id), [0] * (len(metrics.TIME_STATES) + 1))[-1] += units
        station_rows.setdefault((hour, station_id), [0, 0])[1] += units
    counts = dict(conn.execute(queries.HOUR_EVENT_COUNTS_SQL, (start_ms, end_ms)).fetchall())
    for statement in (queries.FORGET_HOURS_SQL, queries.FORGET_WORKER_HOURS_SQL, queries.FORGET_STATION_HOURS_SQL):
        conn.execute(statement, (first, end))
    conn.executemany(queries.SAVE_WORKER_HOUR_SQL, [(h, w, *v) for (h, w), v in worker_rows.items()])
    conn.executemany(queries.SAVE_STATION_HOUR_SQL, [(h, s, *v) for (h, s), v in station_rows.items()])
    conn.executemany(queries.SAVE_HOUR_SQL, [(hour, counts.get(hour, 0)) for hour in range(first, end)])


class Changes(NamedTuple):
    """What a batch of new events changes, worked out before its transaction: the hours of its
    events, and per worker the first and last instant of its state events."""

    hours: set
    state_ranges: dict


def changes(events):
    """The `Changes` of newly stored `NewEvent`s."""
    hours = {event.ts_ms // HOUR_MS for event in events}
    # In time order, a worker's last state event is its latest and, read backwards, its first the earliest.
    states = sorted([(event.ts_ms, event.worker_id) for event in events if event.event_type != "product_count"])
    latest = {worker_id: ts_ms for ts_ms, worker_id in states}
    earliest = {worker_id: ts_ms for ts_ms, worker_id in reversed(states)}
    return Changes(hours, {worker_id: (earliest[worker_id], high) for worker_id, high in latest.items()})


def forget_changed_hours(conn, changed):
    """Forget the roll-ups of every hour the `Changes` of new events touch (inside their transaction).

    A product count changes its own hour; a state event every hour from its own to the hour of
    the worker's next state event, or every later hour when it is the worker's latest or its next
    is not within the following day (not looked for further: forgetting more is always safe).
    """
    # The signal horizon changes nothing before a new state event's own instant either. The
    # horizon is measured from the event that starts an interval, and a new event never moves
    # that one: it only ends the interval before it (and that interval's unknown tail) at its own
    # instant. So the earlier state's known part and horizon cut stay where they were up to the
    # new instant, and the new state's own time and unknown tail lie between it and the worker's
    # next state event: the range forgotten here.
    ranges = [(hour, hour + 1) for hour in changed.hours]
    pairs = [(worker_id, high) for worker_id, (_low, high) in changed.state_ranges.items()]
    following = queries.next_states_after(conn, pairs)
    for worker_id, (low, _high) in changed.state_ranges.items():
        next_ms = following.get(worker_id)
        ranges.append((low // HOUR_MS, _FOREVER if next_ms is None else next_ms // HOUR_MS + 1))
    conn.executemany(queries.FORGET_HOURS_SQL, _merged(ranges))


def _merged(ranges):
    """Half-open `(first, end)` ranges with overlapping and touching ones joined."""
    merged = []
    for first, end in sorted(ranges):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([first, end])
    return merged


_FOREVER = 2 ** 62
