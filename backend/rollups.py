"""Hourly and daily roll-ups: the figures of the hours and days that hold events, kept so long
windows cost those hours and days, not their events, and never the time in which nothing happened.

Every hour that holds an event has a row in `rollup_hours` (ingestion adds it) and, once
computed, each worker's time per state (unknown time included) and units in it, with the
worker's latest state event at the hour's end, and each station's occupancy and units, all for
the unfiltered scope at the signal horizon stored beside them. An hour without events needs no
row: every worker's state runs on from its latest event, so its time there (known up to the
horizon, unknown after it) and each station's occupancy are worked out arithmetically. Every
day that holds an event has a row in `rollup_days` and, once computed from its hours (when none
of them is stale), the same sums over the whole day.

A window is swept in time order: its whole days from their roll-ups (unless planned time is
asked for: shifts cut days), the hours at its ends likewise from theirs; its partial edge hours,
and hours whose roll-up is stale (or, with `planned_only`, only partly planned), are worked out
from their own events, carrying the state in from the roll-up before; the empty stretches
arithmetically. Each figure is a sum over disjoint stretches of time (occupancy too: a union of
intervals cut at hour boundaries is the sum of the per-hour unions), so the answer is exactly
the one worked out from the events alone; tests hold them equal. A sweep can also count into
slots of whole hours or days: the charts of long windows.

Ingestion marks the hours a new event changes stale: a product count its own hour, a state event
every hour from its own to the hour of the worker's next state event (all later hours when it is
the worker's latest), and the days those lie in. It then computes stale hours before the current
one, oldest first, but those of its own events, which a later batch fills on, and the stale days
no stale hour is left in, in proportion to its events (`UPKEEP_EVENTS`): a backfill pays for
about the roll-ups it leaves stale, and a camera's single event for none, even just after a
backfill of months. Server start-up computes every stale hour before the current one, and stale
days with no stale hour left, and so does each server process's keeper (`Keeper`) every
`KEEP_EVERY_S` seconds while writes leave some, for up to `KEEP_SECONDS`, in write transactions
of about `BUILD_SECONDS` each, so a writer waits for one short transaction at most and readers
find them computed. The current hour changes with every batch: the keeper computes its first
part, up to its latest event (or `PART_LAG_MS` before now), from the part before and the events
since (`keep_current_hour`); the hour's row is stale, with `until_ms` where the part ends. An
event before that instant clears the part, one after leaves it, since a new event changes no
figure before its own instant. A window that ends in the hour (or a stale whole hour) reads the
part and works out only the events after it. The hours of the last day also keep, once computed,
their figures from the hour's start to every `MARK_MS` (`rollup_hour_marks`): a window starting
inside one counts the hour whole, less its figures up to the next mark, and works out only the
events before that mark. A query with another horizon than the stored one, or with a site or
confidence filter, is answered from the events.
"""

import json
import logging
import math
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from . import calendars, limits, metrics, queries
from .db import Error, connect, transaction

log = logging.getLogger(__name__)

HOUR_MS = metrics.MS_PER_HOUR
DAY_MS = 24 * HOUR_MS
# A batch computes one stale hour and one stale day for each this many events it stores, in its
# own transaction: a backfill's batch of 1,000 ten of each, which keeps up with history of 100
# events an hour and more; what it leaves, the keeper computes.
UPKEEP_EVENTS = 100
# How long one write transaction of start-up or of the keeper computes stale hours and days (at
# least one): writers wait for it, so it is short; each transaction's commit is its overhead.
BUILD_SECONDS = 0.02
# The pause between two such transactions, in which a writer waiting for the lock takes it: a
# SQLite writer looks every half millisecond (`db.BEGIN_RETRY_S`), and without a pause the next
# transaction would begin first, again and again.
BUILD_PAUSE_SECONDS = 0.002
# Stale hours or days looked up at once by such a transaction.
_STALE_AT_ONCE = 64
# How often a server process's keeper looks for stale roll-ups that writes left behind.
KEEP_EVERY_S = 2.0
# How long one look of a keeper computes at most (and one transaction more): a tenth of its
# time. While a backfill streams in, the hours and the day at its front are stale again with
# every batch; a keeper that ran until nothing was stale would compute them over and over and
# hold the writers' lock most of the time (the batches compute their share, `UPKEEP_EVENTS`).
KEEP_SECONDS = 0.2
# How far before now the computed first part of the current hour ends at the latest: events arrive
# a little late, and out of order across cameras; one before the part's end would clear it.
PART_LAG_MS = 10_000
# The `MARK_HOURS` hours before the current one also keep their figures up to every `MARK_MS` in
# them once computed (`rollup_hour_marks`): a window starting inside such an hour works out the
# events up to the next mark only, not up to the hour's end. Older hours' marks are dropped.
MARK_MS = 5 * 60_000
MARK_HOURS = 24
_FOREVER = 2 ** 62
# The slot of a sweep that tallies a window as one: whole days, and longer than any window.
_ONE_SLOT_MS = 2 ** 40 * DAY_MS


@dataclass(frozen=True)
class _Unit:
    name: str  # as in the roll-up tables' names
    ms: int


HOURS, DAYS = _Unit("hour", HOUR_MS), _Unit("day", DAY_MS)


def stored_horizon(conn):
    """`(max_gap_ms,)` the stored roll-ups hold (`(None,)`: no horizon), or `None` before any."""
    row = conn.execute(queries.ROLLUP_HORIZON_SQL).fetchone()
    return None if row is None else (row[0],)


def usable(query, horizon):
    """Whether roll-ups holding `horizon` (as `stored_horizon` gives it) can answer this query:
    they hold the unfiltered scope at one signal horizon; planned time is worked out from them."""
    return (query.site_id is None and query.min_confidence is None and horizon is not None
            and query.max_gap_ms == horizon[0])


def prepare(path, horizon_ms, now_ms):
    """At server start-up: make the roll-ups hold the signal horizon `horizon_ms` (all stale when
    it changed) and compute every stale hour and day before the current ones (`now_ms`,
    `catch_up`) and the current hour's first part, so no reader has to. Server processes forked
    after this find them ready."""
    conn = connect(path)
    try:
        with transaction(conn):
            if stored_horizon(conn) != (horizon_ms,):
                for unit in queries.UNITS:
                    conn.execute(queries.MARK_ALL_STALE_SQL[unit])
                conn.execute(queries.SET_ROLLUP_HORIZON_SQL, (horizon_ms,))
        catch_up(conn, now_ms)
        keep_current_hour(conn, now_ms)
    finally:
        conn.close()


def catch_up(conn, now_ms, seconds=math.inf):
    """Compute every stale hour and day before the current ones (`now_ms`), in write transactions
    of about `BUILD_SECONDS` each with a pause between them, so a writer waits for one short
    transaction at most; after `seconds` (and one transaction at least) leave the rest. Returns
    how many transactions computed something."""
    transactions, stop = 0, time.monotonic() + seconds
    while True:
        with transaction(conn):
            if not bring_up_to_date(conn, now_ms, stored_horizon(conn), time.monotonic() + BUILD_SECONDS):
                return transactions
        transactions += 1
        if time.monotonic() >= stop:
            return transactions
        time.sleep(BUILD_PAUSE_SECONDS)


def keep_current_hour(conn, now_ms):
    """Compute the first part of the current hour (that of `now_ms`) up to its latest event, or
    up to `PART_LAG_MS` before now if that is earlier, in one write transaction, from the part
    computed before and the events after it. A window that ends in this hour then works out only
    the events after the part. Returns 1 when it computed it, else 0."""
    hour = now_ms // HOUR_MS
    start_ms = hour * HOUR_MS
    with _reading(conn):
        latest_ms = conn.execute(queries.LATEST_IN_HOUR_SQL, (start_ms, start_ms + HOUR_MS)).fetchone()[0]
        part = conn.execute(queries.HOUR_PART_SQL, (hour,)).fetchone()
    if latest_ms is None or min(now_ms - PART_LAG_MS, latest_ms) <= (part[0] if part else start_ms):
        return 0
    with transaction(conn):
        horizon = stored_horizon(conn)
        row = conn.execute(queries.EVENT_UNITS_SQL["hour"], (hour, hour + 1)).fetchone()
        if horizon is None or row is None or not row[1]:  # no roll-ups yet, or the hour is whole
            return 0
        latest_ms = conn.execute(queries.LATEST_IN_HOUR_SQL, (start_ms, start_ms + HOUR_MS)).fetchone()[0]
        until_ms = min(now_ms - PART_LAG_MS, latest_ms)
        if until_ms <= start_ms:
            return 0
        _compute_hour(conn, hour, _state_before(conn, start_ms), horizon[0], until_ms)
    return 1


def behind(conn, now_ms):
    """Whether a stale hour or day before the current ones waits to be computed (a read)."""
    with _reading(conn):
        return bool(conn.execute(queries.STALE_HOURS_SQL, (now_ms // HOUR_MS, 1)).fetchall()
                    or conn.execute(queries.STALE_DAYS_SQL, (now_ms // DAY_MS, 1)).fetchall())


class Keeper:
    """Brings the roll-ups writes left stale up to date, in a thread of a server process that
    looks every `KEEP_EVERY_S` seconds (`keep`), so readers do not work them out from the events
    meanwhile. Started by the process's first request (`start`): a process forked after start-up
    has threads of its own."""

    def __init__(self, path, clock, busy_timeout_ms):
        self.path, self.clock, self.busy_timeout_ms = path, clock, busy_timeout_ms
        self.pid = None
        self.lock = threading.Lock()

    def start(self):
        """Start this process's thread, unless it runs already."""
        if self.pid == os.getpid():
            return
        with self.lock:
            if self.pid != os.getpid():
                threading.Thread(target=self._run, name="rollup-keeper", daemon=True).start()
                self.pid = os.getpid()

    def keep(self, conn):
        """One look: compute what is stale for up to `KEEP_SECONDS`, then the current hour's
        first part (`keep_current_hour`); returns how many write transactions that took."""
        now_ms = self.clock()
        transactions = catch_up(conn, now_ms, KEEP_SECONDS) if behind(conn, now_ms) else 0
        return transactions + keep_current_hour(conn, now_ms)

    def _run(self):
        conn = None
        while True:
            time.sleep(KEEP_EVERY_S)
            try:
                conn = conn or connect(self.path, self.busy_timeout_ms, create=False)
                self.keep(conn)
            except Exception as error:  # the requests meet a fault of the store and report it; look again later
                log.warning("roll-ups were not brought up to date: %s", error, exc_info=not isinstance(error, Error))
                if conn is not None:
                    conn.close()
                conn = None


def window_tally(conn, query, window, floor):
    """The tally of the window from roll-ups, the events of its edges and of stale hours, or
    `None` when the roll-ups cannot answer this query (`usable`). `floor` gives planned time
    when `query.planned_only`.

    Reads run in one transaction, so roll-ups and events are seen as of one moment.
    """
    with _reading(conn):
        if not usable(query, stored_horizon(conn)):
            return None
        return _Sweep(conn, query.max_gap_ms, floor if query.planned_only else None).tally(window)


def slot_tallies(conn, query, window, slot_ms):
    """`{slot: Tally}` of the window cut into slots of `slot_ms` (a whole number of hours), slot
    `n` being `[n * slot_ms, (n + 1) * slot_ms)` cut to the window, or `None` when the roll-ups
    cannot answer this query (`usable`, and not `planned_only`). A slot without time or events
    may be missing. The slots add up to `window_tally`; charts over long windows read these."""
    with _reading(conn):
        if query.planned_only or not usable(query, stored_horizon(conn)):
            return None
        sweep = _Sweep(conn, query.max_gap_ms, None, slot_ms)
        sweep.count(window)
        return sweep.slots


@contextmanager
def _reading(conn):
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


class _Sweep:
    """One pass over a window in time order, carrying each worker's latest state event along.

    Its figures go to slots of `slot_ms` (a whole number of hours; `None`: one slot for all).
    Whole days are read from the daily roll-ups when slots are whole days and no planned time is
    asked for; the rest from the hourly ones, and the edges and stale hours from the events."""

    def __init__(self, conn, max_gap_ms, floor, slot_ms=None):
        self.conn, self.max_gap_ms, self.floor = conn, max_gap_ms, floor
        self.plans = {} if floor is None else {id(plan): plan for plan in (*floor.plans.values(), floor.default_plan)}
        self.slot_ms = slot_ms or _ONE_SLOT_MS
        self.slots = {}

    def tally(self, window):
        """The window's tally (its slots are in `slots`)."""
        last = self.count(window)
        return _finish(self.total(), last)

    def count(self, window):
        """Count the window into `slots`; returns each worker's latest state event at its end."""
        if window.end_ms < window.start_ms:  # `now` before `from`: no time, only the state at the end
            return _state_before(self.conn, window.end_ms + 1)
        return self.stretch(_state_before(self.conn, window.start_ms), window.start_ms, window.end_ms, closed=True)

    def total(self):
        """The sum of the slots counted so far (the one slot itself, when there is one)."""
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
            return self._edge(last, start_ms, end_ms, closed)
        if self._before_mark(last, start_ms):
            first -= 1  # the hour `start_ms` lies in counts whole, less its figures up to the mark
        else:
            last = self._events(last, start_ms, first * HOUR_MS, closed=False)
        last = self._units(HOURS, last, first, end)
        return self._edge(last, end * HOUR_MS, end_ms, closed)

    def _before_mark(self, last, start_ms):
        """When the hour that `start_ms` lies inside is computed, counts all and has a mark
        after `start_ms` (`MARK_MS`): count `[start_ms, mark)` from the events, each worker's
        state carried in from `last`, less the hour's figures up to the mark, and return True;
        the caller counts the whole hour. Otherwise count nothing and return False."""
        hour, mark_ms = start_ms // HOUR_MS, -(-start_ms // MARK_MS) * MARK_MS
        if start_ms % HOUR_MS == 0 or mark_ms % HOUR_MS == 0:
            return False
        row = self.conn.execute(queries.HOUR_MARK_SQL, (hour, mark_ms)).fetchone()
        if row is None or self._planned_kind(hour * HOUR_MS, (hour + 1) * HOUR_MS) != "all":
            return False
        self._events(last, start_ms, mark_ms, closed=False)
        slot = self._slot(start_ms)
        slot.event_count -= row[0]
        for worker_id, *state_ms, units in json.loads(row[1]):
            slot.add_worker(worker_id, [-ms for ms in state_ms], -units)
        for station_id, occupancy_ms, units in json.loads(row[2]):
            slot.add_station(station_id, -occupancy_ms, -units)
        return True

    def _edge(self, last, start_ms, end_ms, closed):
        """`_events`, but a stretch that begins with a stale hour whose first part is computed
        (`HOUR_PART_SQL`: the current hour's, kept by the keeper) and reaches past that part
        counts the part from its roll-up, and only the events after it."""
        if start_ms % HOUR_MS == 0:
            hour = start_ms // HOUR_MS
            part = self.conn.execute(queries.HOUR_PART_SQL, (hour,)).fetchone()
            kind = part and start_ms < part[0] <= end_ms and self._planned_kind(start_ms, part[0])
            if kind:
                self._slot(start_ms).event_count += part[1]
                if kind == "all":
                    self._summed(HOURS, hour, hour, hour + 1)
                last, start_ms = _hour_last_states(self.conn, hour), part[0]
        return self._events(last, start_ms, end_ms, closed)

    def _units(self, unit, last, first, end):
        """Count the whole hours or days `[first, end)`: those without events arithmetically,
        stale ones (and, with `planned_only`, hours planned in part) from what lies below them,
        the others summed from their roll-ups."""
        position, pending, runs, previous_end = first * unit.ms, None, [], None
        rows = self.conn.execute(queries.EVENT_UNITS_SQL[unit.name], (first, end)).fetchall()
        for number, stale, events in limits.checked(rows):
            start_ms = number * unit.ms
            if position < start_ms:
                last, pending = self._resolve(unit, last, pending), None
                self._gap(last, position, start_ms)
            kind = None if stale else self._planned_kind(start_ms, start_ms + unit.ms)
            if kind is None:
                last, pending = self._resolve(unit, last, pending), None
                if unit is HOURS:
                    last = self._edge(last, start_ms, start_ms + unit.ms, closed=False)
                else:
                    last = self._hours(last, start_ms, start_ms + unit.ms, closed=False)
            else:
                self._slot(start_ms).event_count += events
                if kind == "all":
                    # Summed with the run before unless a unit worked out otherwise lies between.
                    if runs and runs[-1][1] == previous_end:
                        runs[-1][1] = number + 1
                    else:
                        runs.append([number, number + 1])
                pending = number
            position = start_ms + unit.ms
            previous_end = number + 1 if kind == "all" else None
        last = self._resolve(unit, last, pending)
        if position < end * unit.ms:
            self._gap(last, position, end * unit.ms)
        for run_first, run_end in runs:
            self._summed(unit, first, run_first, run_end)
        return last

    def _resolve(self, unit, last, pending):
        """The latest state events at the end of computed unit `pending`: those of the last hour
        with events in it; `last` when none is pending."""
        if pending is None:
            return last
        if unit is DAYS:
            pending = self.conn.execute(queries.PREVIOUS_EVENT_HOUR_SQL, ((pending + 1) * 24,)).fetchone()[0]
        return _hour_last_states(self.conn, pending)

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
            self._slot(start_ms).add(_still_tally(last, start_ms, until, self.max_gap_ms, self.floor)[0])
            start_ms = until

    def _events(self, last, start_ms, end_ms, closed):
        """Count a stretch within one hour from its events, with each worker's state carried in
        from `last`; events at its end count only if `closed`. Returns the state at its end."""
        tally, last = _events_tally(self.conn, last, start_ms, end_ms, closed, self.max_gap_ms, self.floor)
        self._slot(start_ms).add(tally)
        return last

    def _summed(self, unit, origin, first, end):
        """Count the run of computed units `[first, end)` from their roll-ups, in slots counted
        from the one that holds unit `origin`."""
        origin_slot = origin * unit.ms // self.slot_ms
        bounds = {"origin": origin_slot * self.slot_ms // unit.ms, "slot_units": self.slot_ms // unit.ms,
                  "first": first, "end": end}
        for slot, worker_id, *state_ms, units in self.conn.execute(queries.SUM_WORKER_SQL[unit.name], bounds):
            self._slot((origin_slot + slot) * self.slot_ms).add_worker(worker_id, state_ms, units)
        for slot, station_id, occupancy, units in self.conn.execute(queries.SUM_STATION_SQL[unit.name], bounds):
            self._slot((origin_slot + slot) * self.slot_ms).add_station(station_id, occupancy, units)


def _still_tally(last, start_ms, end_ms, max_gap_ms, floor):
    """`(tally, reach)` of `[start_ms, end_ms)` for workers without a state event in it: each
    one's latest state (`last`) runs on up to its horizon, then it is unknown. `reach`: station
    -> the end of the longest occupying state there (occupancy is `[start_ms, reach)`)."""
    tally = metrics.Tally()
    reach = {}
    for worker_id, (ts_ms, state, station_id) in last.items():
        known_end = end_ms if max_gap_ms is None else min(end_ms, max(start_ms, ts_ms + max_gap_ms))
        totals = dict.fromkeys(metrics.TIME_STATES, 0)
        totals[state] += _measure(floor, start_ms, known_end, station_id)
        totals[metrics.UNKNOWN] += _measure(floor, known_end, end_ms, station_id)
        tally.state_ms[worker_id] = totals
        if state in metrics.OCCUPYING_STATES and known_end > start_ms:
            reach[station_id] = max(reach.get(station_id, start_ms), known_end)
    tally.occupancy_ms = {station_id: _measure(floor, start_ms, until, station_id)
                          for station_id, until in reach.items()}
    return tally, reach


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


def _events_tally(conn, last, start_ms, end_ms, closed, max_gap_ms, floor=None):
    """`(tally, last)` of a stretch from its events, each worker's state carried in from `last`
    (its latest state events at the stretch's start); events at its end count only if `closed`.
    Workers with no state event in it are worked out as in an empty stretch, all at once."""
    window = metrics.Window(start_ms, end_ms)
    if end_ms < start_ms or (end_ms == start_ms and not closed):
        return metrics.Tally(), last
    last_ms = end_ms if closed else end_ms - 1
    scope = queries.scope_params(start_ms=start_ms, end_ms=last_ms)
    moved = {}
    for worker_id, *event in limits.checked(conn.execute(queries.WINDOW_ALL_STATES_SQL, scope)):
        events = moved.get(worker_id)
        if events is None:
            events = moved[worker_id] = [last[worker_id]] if worker_id in last else []
        events.append(tuple(event))
    still = {worker_id: event for worker_id, event in last.items() if worker_id not in moved}
    timelines = {worker_id: metrics.worker_timeline(events, window, max_gap_ms) for worker_id, events in moved.items()}
    units = queries.window_unit_instants(conn, queries.scope_params(), start_ms, last_ms)
    if floor is not None:
        timelines = {worker_id: metrics.clip_to_plan(timeline, floor) for worker_id, timeline in timelines.items()}
        units = metrics.planned_units(units, floor)
    still_tally, reach = _still_tally(still, start_ms, end_ms, max_gap_ms, floor)
    if reach:
        spans = metrics.Timeline([metrics.Interval(start_ms, until, "working", station_id)
                                  for station_id, until in reach.items()])
        timelines[_STILL] = spans if floor is None else metrics.clip_to_plan(spans, floor)
    count = queries.window_event_count(conn, queries.scope_params(), start_ms, last_ms)
    tally = metrics.tally_timelines(timelines, units, count)
    if reach:
        del timelines[_STILL], tally.state_ms[_STILL], tally.last_events[_STILL]
    tally.state_ms.update(still_tally.state_ms)
    return tally, {**still, **{worker_id: timeline.last_event for worker_id, timeline in timelines.items()}}


def _finish(tally, last):
    tally.last_events = dict(last)
    return tally


def _resolve(conn, last, pending):
    """The latest state events at the end of hour `pending` (from its roll-up), or `last` when
    none is pending."""
    if pending is None:
        return last
    return _hour_last_states(conn, pending)


def _hour_last_states(conn, hour):
    return {worker_id: (ts_ms, state, station_id)
            for worker_id, ts_ms, state, station_id in conn.execute(queries.HOUR_LAST_STATES_SQL, (hour,))}


def _state_before(conn, instant_ms):
    """Each worker's latest state event before `instant_ms`: from the roll-up of the last hour
    with events before that instant's hour and the events since; from the events alone when
    that roll-up is stale."""
    hour_start = instant_ms // HOUR_MS * HOUR_MS
    previous = conn.execute(queries.PREVIOUS_EVENT_HOUR_SQL, (instant_ms // HOUR_MS,)).fetchone()
    if previous is not None and previous[1]:
        workers = [worker_id for worker_id, _name in queries.list_workers(conn)]
        found = queries.state_events(conn, queries.scope_params(), workers, instant_ms, instant_ms - 1)
        return {worker_id: events[-1] for worker_id, events in found.items() if events}
    last = {} if previous is None else _hour_last_states(conn, previous[0])
    if instant_ms > hour_start:
        for worker_id, *event in conn.execute(queries.LATEST_STATES_IN_HOUR_SQL,
                                              {"hour": instant_ms // HOUR_MS, "instant_ms": instant_ms}):
            last[worker_id] = tuple(event)
    return last


def bring_up_to_date(conn, now_ms, horizon, deadline=math.inf, limit=_STALE_AT_ONCE, skip=frozenset()):
    """Compute stale hours before the current one (that of `now_ms`) and not in `skip`, oldest
    first, then stale days before the current one none of whose hours is stale, at the stored
    `horizon` (`stored_horizon`; inside a write transaction), until `time.monotonic()` passes
    `deadline` (at least one, when any is stale) or `limit` hours and `limit` days are computed.
    Returns how many it computed."""
    if horizon is None or limit <= 0:
        return 0
    hours = 0
    done = None  # (hour, latest state events at its end) of the hour computed last
    rows = conn.execute(queries.STALE_HOURS_SQL, (now_ms // HOUR_MS, min(limit, _STALE_AT_ONCE) + len(skip)))
    for hour in [hour for (hour,) in rows.fetchall() if hour not in skip]:
        if hours >= limit or hours and time.monotonic() > deadline:
            return hours
        previous = conn.execute(queries.PREVIOUS_EVENT_HOUR_SQL, (hour,)).fetchone()
        if done is not None and previous is not None and done[0] == previous[0]:
            last = done[1]
        else:  # from the roll-up before, or from the events when that one is stale (skipped)
            last = _state_before(conn, hour * HOUR_MS)
        done = (hour, _compute_hour(conn, hour, last, horizon[0], marks=hour >= now_ms // HOUR_MS - MARK_HOURS))
        hours += 1
    days = 0
    for (day,) in conn.execute(queries.STALE_DAYS_SQL, (now_ms // DAY_MS, min(limit, _STALE_AT_ONCE))).fetchall():
        if days >= limit or hours + days and time.monotonic() > deadline:
            break
        _compute_day(conn, day, horizon[0])
        days += 1
    return hours + days


def _compute_hour(conn, hour, last, horizon_ms, until_ms=None, marks=False):
    """Store the roll-up of one hour, or of its first part up to `until_ms`, the state carried
    in from `last`, and with `marks` its figures up to each mark in it; returns the latest state
    events at its end."""
    start_ms = hour * HOUR_MS
    conn.execute(queries.FORGET_MARKS_SQL, (hour,))
    if marks:
        tally = metrics.Tally()
        for mark_ms in range(start_ms + MARK_MS, start_ms + HOUR_MS + 1, MARK_MS):
            stretch, last = _events_tally(conn, last, mark_ms - MARK_MS, mark_ms, False, horizon_ms)
            last = {worker_id: event for worker_id, event in last.items() if event is not None}
            tally.add(stretch)
            if mark_ms < start_ms + HOUR_MS:
                _save_mark(conn, hour, mark_ms, tally)
        conn.execute(queries.FORGET_OLD_MARKS_SQL, (hour - MARK_HOURS + 1,))
    else:
        sweep = _Sweep(conn, horizon_ms, None)
        last = sweep._edge(last, start_ms, until_ms or start_ms + HOUR_MS, closed=False)
        tally = sweep.total()
    _save(conn, HOURS, hour, tally, lambda worker_id: last.get(worker_id) or (None, None, None), until_ms)
    return {worker_id: event for worker_id, event in last.items() if event is not None}


def _save_mark(conn, hour, mark_ms, tally):
    """Store an hour's figures from its start up to `mark_ms` (`tally`)."""
    workers, stations = _rows(tally)
    conn.execute(queries.SAVE_MARK_SQL, (hour, mark_ms, tally.event_count, json.dumps(workers, separators=(",", ":")),
                                         json.dumps(stations, separators=(",", ":"))))


def _rows(tally):
    """The rows of a tally: `(worker_id, *ms in each of TIME_STATES, units)` and
    `(workstation_id, occupancy_ms, units)`, each by id."""
    empty = dict.fromkeys(metrics.TIME_STATES, 0)
    workers = [(worker_id, *(tally.state_ms.get(worker_id, empty)[state] for state in metrics.TIME_STATES),
                tally.worker_units.get(worker_id, 0)) for worker_id in sorted({*tally.state_ms, *tally.worker_units})]
    stations = [(station_id, tally.occupancy_ms.get(station_id, 0), tally.station_units.get(station_id, 0))
                for station_id in sorted({*tally.occupancy_ms, *tally.station_units})]
    return workers, stations


def _compute_day(conn, day, horizon_ms):
    """Store the roll-up of one day, summed from its hours' roll-ups (none of them stale) and
    its empty hours."""
    sweep = _Sweep(conn, horizon_ms, None)  # the day is stale: the sweep reads its hours
    sweep.stretch(_state_before(conn, day * DAY_MS), day * DAY_MS, (day + 1) * DAY_MS, closed=False)
    _save(conn, DAYS, day, sweep.total(), lambda _worker_id: ())


def _save(conn, unit, number, tally, more, until_ms=None):
    """Replace the stored roll-up of one hour or day from `tally` (each worker's row ending in
    `more(worker_id)`: an hour's rows hold the worker's latest state event) and mark it computed,
    or an hour's first part up to `until_ms`."""
    forget_workers_sql, forget_stations_sql = queries.FORGET_SQL[unit.name]
    conn.execute(forget_workers_sql, (number,))
    conn.execute(forget_stations_sql, (number,))
    workers, stations = _rows(tally)
    conn.executemany(queries.SAVE_WORKER_SQL[unit.name], [(number, *row, *more(row[0])) for row in workers])
    conn.executemany(queries.SAVE_STATION_SQL[unit.name], [(number, *row) for row in stations])
    if until_ms is None:
        conn.execute(queries.COMPUTED_SQL[unit.name], (tally.event_count, number))
    else:
        conn.execute(queries.PART_COMPUTED_SQL, (tally.event_count, until_ms, number))


class Changes:
    """What a batch of new events changes, worked out before its transaction: how many events it
    stores, the instant of the earliest, the hours of its events, and per worker the instant of
    its earliest state event and its latest state event `(ts_ms, state, workstation_id)`."""

    def __init__(self, events, first_ms, hours, state_ranges):
        self.events, self.first_ms, self.hours, self.state_ranges = events, first_ms, hours, state_ranges


def changes(events):
    """The `Changes` of newly stored `NewEvent`s."""
    hours = {event.ts_ms // HOUR_MS for event in events}
    # In time order (arrival order among equal instants), a worker's last state event is its
    # latest and, read backwards, its first the earliest.
    states = sorted([(event.ts_ms, number, event) for number, event in enumerate(events)
                     if event.event_type != "product_count"])
    latest = {event.worker_id: (ts_ms, event.event_type, event.workstation_id) for ts_ms, _n, event in states}
    earliest = {event.worker_id: ts_ms for ts_ms, _n, event in reversed(states)}
    return Changes(len(events), min(event.ts_ms for event in events), hours,
                   {worker_id: (earliest[worker_id], high) for worker_id, high in latest.items()})


def forget_changed_hours(conn, changed, now_ms):
    """Mark stale every hour and day whose figures the `Changes` of new events alter, then
    compute one stale hour and one stale day before the current ones, but those of its own
    events, for every `UPKEEP_EVENTS` of them (inside the batch's transaction; start-up and the
    keeper compute the rest).

    A product count alters its own hour. A state event alters a worker's time from its own
    instant to the worker's next state event (or on and on when it is the worker's latest); with
    a signal horizon only up to the new latest event's horizon, since both before and after it
    the worker's time past that is unknown. In the hours beyond, only the worker's latest state
    event changes, written straight into their rows; the hour of the next event is marked too
    (a worker with no state before had no time there until now).
    """
    # Why nothing changes before a new state event's own instant: the horizon is measured from
    # the event that starts an interval, and a new event never moves that one; it only ends the
    # interval before it (and that interval's unknown tail) at its own instant.
    conn.executemany(queries.MARK_SQL["hour"], [(hour,) for hour in sorted(changed.hours)])
    conn.executemany(queries.MARK_SQL["day"], [(day,) for day in sorted({hour // 24 for hour in changed.hours})])
    horizon = stored_horizon(conn)
    following = _next_states(conn, [(worker_id, high[0]) for worker_id, (_low, high) in changed.state_ranges.items()])
    ranges, settled, days = [], [], []
    for worker_id, (low, high) in changed.state_ranges.items():
        next_ms = following.get(worker_id)
        next_hour = _FOREVER if next_ms is None else next_ms // HOUR_MS
        # A day changes with any of its hours, also its empty ones, whose time follows the state
        # carried in: every day from the earliest new state event's to that of the next one.
        days.append((low // DAY_MS, -(-(next_hour + 1) // 24)))
        unknown_from = next_hour
        if horizon not in (None, (None,)):  # the first hour wholly past the new latest event's horizon
            unknown_from = min(next_hour, -(-(high[0] + horizon[0]) // HOUR_MS))
        ranges.append((low // HOUR_MS, unknown_from))
        if next_ms is not None:
            ranges.append((next_hour, next_hour + 1))
        if unknown_from < next_hour:
            settled.append({"worker_id": worker_id, "ts_ms": high[0], "state": high[1], "workstation_id": high[2],
                            "first": unknown_from, "end": next_hour, "hour_ms": HOUR_MS})
    conn.executemany(queries.MARK_STALE_SQL["hour"], _merged(ranges))
    conn.executemany(queries.SETTLE_UNKNOWN_HOURS_SQL, settled)
    conn.executemany(queries.MARK_STALE_SQL["day"], _merged(days))
    conn.execute(queries.FORGET_PARTS_SQL, (changed.first_ms,))
    # The hours of this batch's own events are left for a later batch or the keeper: a load of
    # history in time order fills one hour over many batches, and would compute it again with each.
    bring_up_to_date(conn, now_ms, horizon, limit=changed.events // UPKEEP_EVENTS, skip=changed.hours)


def _next_states(conn, pairs):
    """`{worker_id: ts_ms}` of each worker's first state event after the instant paired with it
    (left out when it has none): looked for in the next day first, then on the first later day
    the worker has state events, however far."""
    # Every worker's next day is asked for with the first look, in the same round trip.
    next_days = [(worker_id, high, conn.execute(queries.NEXT_STATE_DAY_SQL, (worker_id, high // DAY_MS)))
                 for worker_id, high in pairs]
    found = queries.next_states_after(conn, pairs)
    later = [(worker_id, max(high, day * DAY_MS - 1)) for worker_id, high, cursor in next_days
             if worker_id not in found and (day := cursor.fetchone()[0]) is not None]
    if later:
        found.update(queries.next_states_after(conn, later, hours=25))
    return found


def _merged(ranges):
    """Half-open `(first, end)` ranges with overlapping and touching ones joined."""
    merged = []
    for first, end in sorted(ranges):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([first, end])
    return merged
