"""A window's figures read from the hourly and daily roll-ups that `rollups` keeps: the sweep.

Every hour that holds an event has a row in `rollup_hours` and, once computed, each worker's
time per state (unknown time included) and units in it, with the worker's latest state event at
the hour's end, and each station's occupancy and units, all for the unfiltered scope at the
signal horizon stored beside them. An hour without events needs no row: every worker's state
runs on from its latest event, so its time there (known up to the horizon, unknown after it)
and each station's occupancy are worked out arithmetically. Every day that holds an event has a
row in `rollup_days` and, once computed from its hours, the same sums over the whole day.

A window is swept in time order: its whole days from their roll-ups (unless planned time is
asked for: shifts cut days), the hours at its ends likewise from theirs; its partial edge hours,
and hours whose roll-up is stale (or, with `planned_only`, only partly planned), are worked out
from their own events, carrying the state in from the roll-up before; the empty stretches
arithmetically. A window that ends in a stale hour whose first part is computed (the current
hour's, `until_ms`) reads the part and works out only the events after it; one that starts
inside a recent hour with marks (`MARK_MS`) counts the hour whole, less its figures up to the
next mark, and works out only the events before that mark; one that ends inside such an hour
counts its figures up to the mark before its end and works out only the events after it. Each
figure is a sum over disjoint stretches of time (occupancy too: a union of intervals cut
anywhere is the sum of the pieces' unions), so the answer is exactly the one worked out from the
events alone; tests hold them equal. A sweep can also count into slots of whole hours or days:
the charts of long windows. A query with another horizon than the stored one, or with a site or
confidence filter, is answered from the events.
"""

import json
from contextlib import contextmanager
from dataclasses import dataclass

from . import calendars, limits, metrics, queries, rollup_sql

HOUR_MS = metrics.MS_PER_HOUR
DAY_MS = 24 * HOUR_MS
# Recent computed hours keep their figures from their start to every `MARK_MS` in them.
MARK_MS = 5 * 60_000
# The slot of a sweep that tallies a window as one: whole days, and longer than any window.
_ONE_SLOT_MS = 2 ** 40 * DAY_MS


@dataclass(frozen=True)
class _Unit:
    name: str  # as in the roll-up tables' names
    ms: int


HOURS, DAYS = _Unit("hour", HOUR_MS), _Unit("day", DAY_MS)


def stored_horizon(conn):
    """`(max_gap_ms,)` the stored roll-ups hold (`(None,)`: no horizon), or `None` before any."""
    row = conn.execute(rollup_sql.ROLLUP_HORIZON_SQL).fetchone()
    return None if row is None else (row[0],)


def usable(query, horizon):
    """Whether roll-ups holding `horizon` (as `stored_horizon` gives it) can answer this query:
    they hold the unfiltered scope at one signal horizon; planned time is worked out from them."""
    return (query.site_id is None and query.min_confidence is None and horizon is not None
            and query.max_gap_ms == horizon[0])


def window_tally(conn, query, window, floor):
    """The tally of the window from roll-ups, the events of its edges and of stale hours, or
    `None` when the roll-ups cannot answer this query (`usable`). `floor` gives planned time
    when `query.planned_only`.

    Reads run in one transaction, so roll-ups and events are seen as of one moment.
    """
    with reading(conn):
        if not usable(query, stored_horizon(conn)):
            return None
        return Sweep(conn, query.max_gap_ms, floor if query.planned_only else None).tally(window)


def slot_tallies(conn, query, window, slot_ms):
    """`{slot: Tally}` of the window cut into slots of `slot_ms` (a whole number of hours), slot
    `n` being `[n * slot_ms, (n + 1) * slot_ms)` cut to the window, or `None` when the roll-ups
    cannot answer this query (`usable`, and not `planned_only`). A slot without time or events
    may be missing. The slots add up to `window_tally`; charts over long windows read these."""
    with reading(conn):
        if query.planned_only or not usable(query, stored_horizon(conn)):
            return None
        sweep = Sweep(conn, query.max_gap_ms, None, slot_ms)
        sweep.count(window)
        return sweep.slots


@contextmanager
def reading(conn):
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


class Sweep:
    """One pass over a window in time order, carrying each worker's latest state event along.

    Its figures go to slots of `slot_ms` (a whole number of hours; `None`: one slot for all).
    Whole days are read from the daily roll-ups when slots are whole days and no planned time is
    asked for; the rest from the hourly ones, and the edges and stale hours from the events. The
    computed units are summed once the window is counted, each run of adjacent ones (the current
    hour's part with the hours before it) in one statement."""

    def __init__(self, conn, max_gap_ms, floor, slot_ms=None):
        self.conn, self.max_gap_ms, self.floor = conn, max_gap_ms, floor
        self.plans = {} if floor is None else {id(plan): plan for plan in (*floor.plans.values(), floor.default_plan)}
        self.slot_ms = slot_ms or _ONE_SLOT_MS
        self.slots = {}
        self.runs = []  # [unit, first, end] of computed units counted but not yet summed

    def tally(self, window):
        """The window's tally (its slots are in `slots`)."""
        last = self.count(window)
        return _finish(self.total(), last)

    def count(self, window):
        """Count the window into `slots`; returns each worker's latest state event at its end."""
        if window.end_ms < window.start_ms:  # `now` before `from`: no time, only the state at the end
            return state_before(self.conn, window.end_ms + 1)
        last = self.stretch(state_before(self.conn, window.start_ms), window.start_ms, window.end_ms, closed=True)
        self._sum_runs()
        return last

    def total(self):
        """The sum of the slots counted so far (the one slot itself, when there is one)."""
        self._sum_runs()
        if len(self.slots) == 1:
            return next(iter(self.slots.values()))
        total = metrics.Tally()
        for slot in sorted(self.slots):
            total.add(self.slots[slot])
        return total

    def stretch(self, last, start_ms, end_ms, closed):
        """Count `[start_ms, end_ms)` (and the events at `end_ms` if `closed`), each worker's state
        carried in from `last`; returns the state at its end."""
        first_day, end_day = -(-start_ms // DAY_MS), end_ms // DAY_MS
        if self.floor is None and self.slot_ms % DAY_MS == 0 and first_day < end_day:
            last = self._hours(last, start_ms, first_day * DAY_MS, closed=False)
            last = self._units(DAYS, last, first_day, end_day)
            return self._hours(last, end_day * DAY_MS, end_ms, closed)
        return self._hours(last, start_ms, end_ms, closed)

    def _hours(self, last, start_ms, end_ms, closed):
        """`stretch` from the hourly roll-ups, the edges from the events."""
        first, end = -(-start_ms // HOUR_MS), end_ms // HOUR_MS
        if end <= first:
            if start_ms < first * HOUR_MS < end_ms:  # across one hour's start, no whole hour: a part in each
                last = self.edge(last, start_ms, first * HOUR_MS, closed=False)
                return self.edge(last, first * HOUR_MS, end_ms, closed)
            return self.edge(last, start_ms, end_ms, closed)
        if self._before_mark(last, start_ms):
            first -= 1  # the hour `start_ms` lies in counts whole, less its figures up to the mark
        else:
            last = self._events(last, start_ms, first * HOUR_MS, closed=False)
        part = self._part(end * HOUR_MS, end_ms)
        mark = None if part is not None else self._mark(end * HOUR_MS, end_ms)
        last = self._units(HOURS, last, first, end, needed=part is None and mark is None)
        if mark is not None:
            return self._after_mark(mark, end_ms, closed)
        return self._edge(part, last, end * HOUR_MS, end_ms, closed)

    def _mark(self, start_ms, end_ms):
        """`(mark_ms, row of HOUR_MARK_SQL)` of the last mark at or before `end_ms` in the computed
        hour `start_ms` begins, when the hour counts all; else `None`."""
        mark_ms = end_ms // MARK_MS * MARK_MS
        if start_ms % HOUR_MS or mark_ms <= start_ms:
            return None
        row = self._mark_row(start_ms // HOUR_MS, mark_ms)
        return None if row is None else (mark_ms, row)

    def _mark_row(self, hour, mark_ms):
        """The row of `HOUR_MARK_SQL` of computed `hour` at `mark_ms`, when the hour counts all;
        else `None`."""
        row = self.conn.execute(rollup_sql.HOUR_MARK_SQL, (hour, mark_ms)).fetchone()
        if row is None or self._planned_kind(hour * HOUR_MS, (hour + 1) * HOUR_MS) != "all":
            return None
        return row

    def _after_mark(self, mark, end_ms, closed):
        """Count the hour up to `mark` (`_mark`) from its figures there, then the events up to
        `end_ms`, each worker's state at the mark carried in; returns the state at `end_ms`."""
        mark_ms, row = mark
        _add_mark(self._slot(mark_ms - 1), row, 1)
        return self._events(state_before(self.conn, mark_ms), mark_ms, end_ms, closed)

    def _before_mark(self, last, start_ms):
        """When the hour that `start_ms` lies inside is computed, counts all and has a mark
        after `start_ms` (`MARK_MS`): count `[start_ms, mark)` from the events, each worker's
        state carried in from `last`, less the hour's figures up to the mark, and return True;
        the caller counts the whole hour. Otherwise count nothing and return False."""
        hour, mark_ms = start_ms // HOUR_MS, -(-start_ms // MARK_MS) * MARK_MS
        if start_ms % HOUR_MS == 0 or mark_ms % HOUR_MS == 0:
            return False
        row = self._mark_row(hour, mark_ms)
        if row is None:
            return False
        self._events(last, start_ms, mark_ms, closed=False)
        _add_mark(self._slot(start_ms), row, -1)
        return True

    def edge(self, last, start_ms, end_ms, closed):
        """`_events`, but a stretch that begins with a stale hour whose first part is computed
        (`HOUR_PART_SQL`: the current hour's, kept by the keeper) and reaches past that part
        counts the part from its roll-up, and only the events after it."""
        return self._edge(self._part(start_ms, end_ms), last, start_ms, end_ms, closed)

    def _part(self, start_ms, end_ms):
        """`(until_ms, events, kind)` of the computed first part of the hour `start_ms` begins,
        when `[start_ms, end_ms]` reaches past it and its planned kind is known; else `None`."""
        if start_ms % HOUR_MS:
            return None
        part = self.conn.execute(rollup_sql.HOUR_PART_SQL, (start_ms // HOUR_MS,)).fetchone()
        kind = part and start_ms < part[0] <= end_ms and self._planned_kind(start_ms, part[0])
        return (*part, kind) if kind else None

    def _edge(self, part, last, start_ms, end_ms, closed):
        """`edge` with its `part` looked up; `last` is not read when there is one."""
        if part is not None:
            until_ms, events, kind = part
            hour = start_ms // HOUR_MS
            self._slot(start_ms).event_count += events
            if kind == "all":
                self._summed(HOURS, hour, hour + 1)
            last, start_ms = hour_last_states(self.conn, hour), until_ms
        return self._events(last, start_ms, end_ms, closed)

    def _units(self, unit, last, first, end, needed=True):
        """Count the whole hours or days `[first, end)`: those without events arithmetically,
        stale ones (and, with `planned_only`, hours planned in part) from what lies below them,
        the others summed from their roll-ups. Returns the state at the end, or `None` when it
        is not `needed` (the caller reads it elsewhere)."""
        position, pending = first * unit.ms, None
        run_end = None  # the end of the units summed last, when only empty units lie after them
        rows = self.conn.execute(rollup_sql.EVENT_UNITS_SQL[unit.name], (first, end)).fetchall()
        for number, stale, events in limits.checked(rows):
            start_ms = number * unit.ms
            if position < start_ms:
                last, pending = self._resolve(unit, last, pending), None
                self._gap(last, position, start_ms)
            kind = None if stale else self._planned_kind(start_ms, start_ms + unit.ms)
            if kind is None:
                last, pending = self._resolve(unit, last, pending), None
                if unit is HOURS:
                    last = self.edge(last, start_ms, start_ms + unit.ms, closed=False)
                else:
                    last = self._hours(last, start_ms, start_ms + unit.ms, closed=False)
            else:
                self._slot(start_ms).event_count += events
                if kind == "all":  # with the run before when only empty units (no rows) lie between
                    self._summed(unit, number if run_end is None else run_end, number + 1)
                pending = number
            position = start_ms + unit.ms
            run_end = number + 1 if kind == "all" else None
        if position < end * unit.ms:
            last, pending = self._resolve(unit, last, pending), None
            self._gap(last, position, end * unit.ms)
        return self._resolve(unit, last, pending) if needed else None

    def _resolve(self, unit, last, pending):
        """The latest state events at the end of computed unit `pending`: those of the last hour
        with events in it; `last` when none is pending."""
        if pending is None:
            return last
        if unit is DAYS:
            pending = self.conn.execute(rollup_sql.PREVIOUS_EVENT_HOUR_SQL, ((pending + 1) * 24,)).fetchone()[0]
        return hour_last_states(self.conn, pending)

    def _slot(self, instant_ms):
        """The tally of the slot that holds `instant_ms`."""
        slot = instant_ms // self.slot_ms
        tally = self.slots.get(slot)
        if tally is None:
            tally = self.slots[slot] = metrics.Tally()
        return tally

    def _planned_kind(self, start_ms, end_ms):
        """How much of a computed hour counts: `"all"`, `"none"` (with `planned_only`, planned
        nowhere on the floor), or `None`: planned in part, so worked out from its events."""
        if self.floor is None:
            return "all"
        kinds = set()
        for plan in self.plans.values():
            overlap = calendars.overlap_ms(start_ms, end_ms, plan)
            if overlap == end_ms - start_ms:
                kinds.add("all")
            elif overlap == 0 and not calendars.contains(plan, start_ms):
                kinds.add("none")
            else:
                return None
        return kinds.pop() if len(kinds) == 1 else None

    def _gap(self, last, start_ms, end_ms):
        """Count `[start_ms, end_ms)`, in which no event happened, slot by slot."""
        while start_ms < end_ms:
            until = min(end_ms, (start_ms // self.slot_ms + 1) * self.slot_ms)
            slot = self._slot(start_ms)
            for station_id, reach_ms in _add_still(slot, last, start_ms, until, self.max_gap_ms, self.floor).items():
                slot.occupancy_ms[station_id] = (slot.occupancy_ms.get(station_id, 0)
                                                 + _measure(self.floor, start_ms, reach_ms, station_id))
            start_ms = until

    def _events(self, last, start_ms, end_ms, closed):
        """Count a stretch within one hour from its events, with each worker's state carried in
        from `last`; events at its end count only if `closed`. Returns the state at its end."""
        return events_tally(self.conn, last, start_ms, end_ms, closed, self.max_gap_ms, self.floor,
                            self._slot(start_ms))[1]

    def _summed(self, unit, first, end):
        """Count the computed units `[first, end)` from their roll-ups: kept in `runs` and
        summed by `_sum_runs`, each run of adjacent ones in one statement."""
        if self.runs and self.runs[-1][0] is unit and self.runs[-1][2] == first:
            self.runs[-1][2] = end
        else:
            self.runs.append([unit, first, end])

    def _sum_runs(self):
        """Add the runs of computed units counted so far to their slots."""
        cursor = queries.plain(self.conn)
        slotted = self.slot_ms != _ONE_SLOT_MS
        for unit, first, end in self.runs:
            origin_slot = first * unit.ms // self.slot_ms
            bounds = {"first": first, "end": end}
            if slotted:
                bounds.update(origin=origin_slot * self.slot_ms // unit.ms, slot_units=self.slot_ms // unit.ms)
            workers = cursor.execute(rollup_sql.SUM_WORKER_SQL[unit.name, slotted], bounds)
            for slot, worker_id, *state_ms, units in workers:
                self._slot((origin_slot + slot) * self.slot_ms).add_worker(worker_id, state_ms, units)
            for slot, station_id, occupancy, units in cursor.execute(rollup_sql.SUM_STATION_SQL[unit.name, slotted],
                                                                     bounds):
                self._slot((origin_slot + slot) * self.slot_ms).add_station(station_id, occupancy, units)
        self.runs = []


def _add_still(tally, last, start_ms, end_ms, max_gap_ms, floor, moved=()):
    """Add to `tally` the time in `[start_ms, end_ms)` of the workers in `last` but not in
    `moved`, without a state event in it: each one's latest state (`last`) runs on up to its
    horizon, then it is unknown. Returns the reach of each station: the end of the longest
    occupying state there (occupancy is `[start_ms, reach)`), for the caller to count once with
    the occupancy of others there."""
    reach = {}
    state_ms = tally.state_ms
    for worker_id, (ts_ms, state, station_id) in last.items():
        if worker_id in moved:
            continue
        known_end = end_ms if max_gap_ms is None else min(end_ms, max(start_ms, ts_ms + max_gap_ms))
        totals = state_ms.get(worker_id)
        if totals is None:
            totals = state_ms[worker_id] = dict.fromkeys(metrics.TIME_STATES, 0)
        totals[state] += _measure(floor, start_ms, known_end, station_id)
        totals[metrics.UNKNOWN] += _measure(floor, known_end, end_ms, station_id)
        if state in metrics.OCCUPYING_STATES and known_end > start_ms:
            reach[station_id] = max(reach.get(station_id, start_ms), known_end)
    return reach


def _measure(floor, start_ms, end_ms, station_id):
    """The length of `[start_ms, end_ms)`; with a floor (`planned_only`), its planned part at the station."""
    if end_ms <= start_ms:
        return 0
    if floor is None:
        return end_ms - start_ms
    return calendars.overlap_ms(start_ms, end_ms, floor.plan(station_id))


# The key the occupying time of workers without events in a stretch is tallied under, so it
# counts once with that of the others at the same station.
_STILL = object()


def events_tally(conn, last, start_ms, end_ms, closed, max_gap_ms, floor=None, tally=None):
    """`(tally, last)` of a stretch from its events, each worker's state carried in from `last`
    (its latest state events at the stretch's start), added to `tally` when given; events at its
    end count only if `closed`. Workers with no state event in it are worked out as in an empty
    stretch, all at once."""
    tally = metrics.Tally() if tally is None else tally
    window = metrics.Window(start_ms, end_ms)
    if end_ms < start_ms or (end_ms == start_ms and not closed):
        return tally, last
    last_ms = end_ms if closed else end_ms - 1
    scope = queries.scope_params(start_ms=start_ms, end_ms=last_ms)
    moved = {}  # worker id -> its state events: the one carried in, then those of the stretch
    for row in limits.checked(queries.plain(conn).execute(queries.WINDOW_ALL_STATES_SQL, scope)):
        events = moved.get(row[0])
        if events is None:
            events = moved[row[0]] = [last[row[0]]] if row[0] in last else []
        events.append(row[1:])
    timelines = {worker_id: metrics.worker_timeline(events, window, max_gap_ms) for worker_id, events in moved.items()}
    units = queries.window_unit_instants(conn, queries.scope_params(), start_ms, last_ms)
    if floor is not None:
        timelines = {worker_id: metrics.clip_to_plan(timeline, floor) for worker_id, timeline in timelines.items()}
        units = metrics.planned_units(units, floor)
    reach = _add_still(tally, last, start_ms, end_ms, max_gap_ms, floor, moved)
    if reach:
        spans = metrics.Timeline([metrics.Interval(start_ms, until, "working", station_id)
                                  for station_id, until in reach.items()])
        timelines[_STILL] = spans if floor is None else metrics.clip_to_plan(spans, floor)
    count = queries.window_event_count(conn, queries.scope_params(), start_ms, last_ms)
    moved_tally = metrics.tally_timelines(timelines, units, count)
    if reach:
        del timelines[_STILL], moved_tally.state_ms[_STILL], moved_tally.last_events[_STILL]
    tally.add(moved_tally)
    last = dict(last)
    last.update({worker_id: timeline.last_event for worker_id, timeline in timelines.items()})
    return tally, last


def _finish(tally, last):
    tally.last_events = dict(last)
    return tally


def hour_last_states(conn, hour):
    """Each worker's latest state event `(ts_ms, state, workstation_id)` at the end of a computed hour."""
    return {row[0]: row[1:] for row in queries.plain(conn).execute(rollup_sql.HOUR_LAST_STATES_SQL, (hour,))}


def _add_mark(slot, row, sign):
    """Add an hour's figures up to a mark (a row of `HOUR_MARK_SQL`) to `slot`, times `sign`."""
    slot.event_count += sign * row[0]
    for worker_id, *state_ms, units in json.loads(row[1]):
        slot.add_worker(worker_id, [sign * ms for ms in state_ms], sign * units)
    for station_id, occupancy_ms, units in json.loads(row[2]):
        slot.add_station(station_id, sign * occupancy_ms, sign * units)


def state_before(conn, instant_ms):
    """Each worker's latest state event before `instant_ms`: from the roll-up of the last hour
    with events before that instant's hour and the events since; from the events alone when
    that roll-up is stale."""
    hour_start = instant_ms // HOUR_MS * HOUR_MS
    previous = conn.execute(rollup_sql.PREVIOUS_EVENT_HOUR_SQL, (instant_ms // HOUR_MS,)).fetchone()
    if previous is not None and previous[1]:
        workers = [worker_id for worker_id, _name in queries.list_workers(conn)]
        found = queries.state_events(conn, queries.scope_params(), workers, instant_ms, instant_ms - 1)
        return {worker_id: events[-1] for worker_id, events in found.items() if events}
    last = {} if previous is None else hour_last_states(conn, previous[0])
    if instant_ms > hour_start:
        last.update((row[0], row[1:]) for row in queries.plain(conn).execute(
            rollup_sql.LATEST_STATES_IN_HOUR_SQL, {"hour": instant_ms // HOUR_MS, "instant_ms": instant_ms}))
    return last
