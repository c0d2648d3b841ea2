"""Keeping the hourly and daily roll-ups that `sweep` reads: the figures of the hours and days
that hold events, kept so long windows cost those hours and days, not their events.

Ingestion marks the hours a new event changes stale: a product count its own hour, a state event
every hour from its own to the hour of the worker's next state event (all later hours when it is
the worker's latest), and the days those lie in, each with the data generation of its write
(`marked`). Server start-up computes every stale hour before the current one, and stale days with
no stale hour left, and so does each server process's keeper (`Keeper`) every `KEEP_EVERY_S`
seconds, those no write has marked since its look before: a stream of batches in time order
fills the hours at its front over several batches, from several clients out of order, and they
would be computed again after each. Each round computes from a read snapshot, then stores in one
short write transaction those still as it read them (stale, marked at the same generation):
writers do not wait for the computing, and what a write changed meanwhile is computed again
later. The current hour changes with every batch: the keeper computes its first part, up to its
latest event (or `PART_LAG_MS` before now), from the part before and the events since
(`keep_current_hour`); the hour's row is stale, with `until_ms` where the part ends. An event
before that instant clears the part, one after leaves it, since a new event changes no figure
before its own instant. The hours of the last day (`MARK_HOURS`) also keep, once computed, their
figures from the hour's start to every `sweep.MARK_MS` (`rollup_hour_marks`).
"""

import json
import logging
import math
import operator
import os
import socket
import threading
import time

from . import metrics, queries, rollup_sql
from .db import Error, connect, transaction
from .sweep import DAY_MS, DAYS, HOUR_MS, HOURS, MARK_MS, Sweep, events_tally, reading, state_before, stored_horizon

log = logging.getLogger(__name__)

# How long one round of start-up or of a keeper computes stale hours and days (at least one),
# from a read snapshot, before it stores them in one short write transaction: writers wait for
# that transaction, not for the computing.
BUILD_SECONDS = 0.05
# Stale hours or days looked up at once by such a round.
_STALE_AT_ONCE = 64
# How often a server process's keeper looks for stale roll-ups that writes left behind.
KEEP_EVERY_S = 1.0
# How long a keeper's turn lasts once taken or renewed at a look: the keepers of the other server
# processes (and servers) sharing the database look and leave the work to it meanwhile, and take
# the turn when it ends (its process stopped, or is stuck).
KEEP_TURN_MS = 10_000
# How far before now the computed first part of the current hour ends at the latest: events arrive
# a little late, and out of order across cameras; one before the part's end would clear it.
PART_LAG_MS = 10_000
# The `MARK_HOURS` hours before the current one also keep their figures up to every `MARK_MS` in
# them once computed (`rollup_hour_marks`): a window starting inside such an hour works out the
# events up to the next mark only, not up to the hour's end, and one ending inside it those
# after the mark before its end only. Older hours' marks are dropped.
MARK_HOURS = 24
_FOREVER = 2 ** 62


def prepare(path, horizon_ms, now_ms):
    """At server start-up: make the roll-ups hold the signal horizon `horizon_ms` (all stale when
    it changed) and compute every stale hour and day before the current ones (`now_ms`,
    `catch_up`; those another server's writes mark meanwhile are left to the keepers) and the
    current hour's first part, so no reader has to. Server processes forked after this find
    them ready."""
    conn = connect(path)
    try:
        with transaction(conn):
            if stored_horizon(conn) != (horizon_ms,):
                conn.execute(queries.BUMP_GENERATION_SQL)
                generation = queries.generation(conn)
                for unit in rollup_sql.UNITS:
                    conn.execute(rollup_sql.MARK_ALL_STALE_SQL[unit], (generation,))
                conn.execute(rollup_sql.SET_ROLLUP_HORIZON_SQL, (horizon_ms,))
        catch_up(conn, now_ms)
        keep_current_hour(conn, now_ms)
    finally:
        conn.close()


def catch_up(conn, now_ms, marked_by=None):
    """Compute every stale hour and day before the current ones (`now_ms`) last marked at data
    generation `marked_by` or before (`None`: the generation its first round reads), in rounds
    of about `BUILD_SECONDS`, each stored in a short write transaction (`bring_up_to_date`); one
    a write marks meanwhile is left for a later call. Returns how many it stored."""
    stored = 0
    while True:
        computed, saved, marked_by = bring_up_to_date(conn, now_ms, time.monotonic() + BUILD_SECONDS, marked_by)
        stored += saved
        if not computed:
            return stored


def keep_current_hour(conn, now_ms):
    """Compute the first part of the current hour (that of `now_ms`) up to its latest event, or
    up to `PART_LAG_MS` before now if that is earlier, in one write transaction, from the part
    computed before and the events after it. A window that ends in this hour then works out only
    the events after the part. Returns 1 when it computed it, else 0."""
    hour = now_ms // HOUR_MS
    start_ms = hour * HOUR_MS
    with reading(conn):
        latest_ms = conn.execute(rollup_sql.LATEST_IN_HOUR_SQL, (start_ms, start_ms + HOUR_MS)).fetchone()[0]
        part = conn.execute(rollup_sql.HOUR_PART_SQL, (hour,)).fetchone()
    if latest_ms is None or min(now_ms - PART_LAG_MS, latest_ms) <= (part[0] if part else start_ms):
        return 0
    with transaction(conn):
        horizon = stored_horizon(conn)
        row = conn.execute(rollup_sql.EVENT_UNITS_SQL["hour"], (hour, hour + 1)).fetchone()
        if horizon is None or row is None or not row[1]:  # no roll-ups yet, or the hour is whole
            return 0
        latest_ms = conn.execute(rollup_sql.LATEST_IN_HOUR_SQL, (start_ms, start_ms + HOUR_MS)).fetchone()[0]
        until_ms = min(now_ms - PART_LAG_MS, latest_ms)
        if until_ms <= start_ms:
            return 0
        store, _last = _compute_hour(conn, hour, state_before(conn, start_ms), horizon[0], until_ms)
        store(conn)
    return 1


def behind(conn, now_ms, marked_by):
    """Whether a stale hour or day before the current ones, last marked at data generation
    `marked_by` or before, waits to be computed (a read)."""
    with reading(conn):
        return bool(conn.execute(rollup_sql.STALE_SQL["hour"], (now_ms // HOUR_MS, marked_by, 1)).fetchall()
                    or conn.execute(rollup_sql.STALE_SQL["day"], (now_ms // DAY_MS, marked_by, 1)).fetchall())


class Keeper:
    """Brings the roll-ups writes left stale up to date, in a thread of a server process that
    looks every `KEEP_EVERY_S` seconds (`keep`), so readers do not work them out from the events
    meanwhile; of the keepers sharing a database, the one whose turn it is (`KEEP_TURN_MS`).
    Started by the process's first request (`start`): a process forked after start-up has
    threads of its own."""

    def __init__(self, path, clock, busy_timeout_ms):
        self.path, self.clock, self.busy_timeout_ms = path, clock, busy_timeout_ms
        self.pid = None
        self.generation = 0  # the data generation at the look before
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
        """One look, when it is this keeper's turn (taken or renewed here): compute what is stale
        and no write marked since the look before (`catch_up`), then the current hour's first
        part (`keep_current_hour`); returns how many hours, days and parts it stored."""
        now_ms = self.clock()
        holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"  # made before the workers fork: one each
        with transaction(conn):
            if not queries.take_keeper_turn(conn, holder, now_ms, now_ms + KEEP_TURN_MS):
                return 0
        marked_by, self.generation = self.generation, queries.generation(conn)
        stored = catch_up(conn, now_ms, marked_by) if behind(conn, now_ms, marked_by) else 0
        return stored + keep_current_hour(conn, now_ms)

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


def bring_up_to_date(conn, now_ms, deadline=math.inf, marked_by=None):
    """One round: compute stale hours before the current one (that of `now_ms`) last marked at
    data generation `marked_by` or before (`None`: the generation it reads), oldest first, then
    such stale days before the current one none of whose hours is stale, from one read snapshot,
    until `time.monotonic()` passes `deadline` (at least one, when any is stale) or
    `_STALE_AT_ONCE` of each are computed; then store in one write transaction those still stale
    and marked as they were read. Returns how many it computed, how many it stored and the
    `marked_by` it used."""
    computed = []  # (unit, number, marked as read, store(conn))
    with reading(conn):
        if marked_by is None:
            marked_by = queries.generation(conn)
        horizon = stored_horizon(conn)
        if horizon is None:
            return 0, 0, marked_by
        done = None  # (hour, latest state events at its end) of the hour computed last
        for hour, marked in conn.execute(rollup_sql.STALE_SQL["hour"], (now_ms // HOUR_MS, marked_by,
                                                                       _STALE_AT_ONCE)).fetchall():
            if computed and time.monotonic() > deadline:
                break
            previous = conn.execute(rollup_sql.PREVIOUS_EVENT_HOUR_SQL, (hour,)).fetchone()
            if done is not None and previous is not None and done[0] == previous[0]:
                last = done[1]
            else:  # from the roll-up before, or from the events when that one is stale
                last = state_before(conn, hour * HOUR_MS)
            store, last = _compute_hour(conn, hour, last, horizon[0], marks=hour >= now_ms // HOUR_MS - MARK_HOURS)
            computed.append(("hour", hour, marked, store))
            done = (hour, last)
        for day, marked in conn.execute(rollup_sql.STALE_SQL["day"], (now_ms // DAY_MS, marked_by,
                                                                     _STALE_AT_ONCE)).fetchall():
            if computed and time.monotonic() > deadline:
                break
            computed.append(("day", day, marked, _compute_day(conn, day, horizon[0])))
    if not computed:
        return 0, 0, marked_by
    stored = 0
    with transaction(conn):
        for unit, number, marked, store in computed:
            if tuple(conn.execute(rollup_sql.MARKED_SQL[unit], (number,)).fetchone() or ()) == (1, marked):
                store(conn)
                stored += 1
    return len(computed), stored, marked_by


def _compute_hour(conn, hour, last, horizon_ms, until_ms=None, marks=False):
    """The roll-up of one hour, or of its first part up to `until_ms`, the state carried in from
    `last`, and with `marks` its figures up to each mark in it: a function that stores it with a
    connection, and the latest state events at the hour's end."""
    start_ms = hour * HOUR_MS
    saved_marks = []
    if marks:
        tally = metrics.Tally()
        for mark_ms in range(start_ms + MARK_MS, start_ms + HOUR_MS + 1, MARK_MS):
            last = events_tally(conn, last, mark_ms - MARK_MS, mark_ms, False, horizon_ms, tally=tally)[1]
            if mark_ms < start_ms + HOUR_MS:
                workers, stations = _rows(tally)
                saved_marks.append((hour, mark_ms, tally.event_count, json.dumps(workers, separators=(",", ":")),
                                    json.dumps(stations, separators=(",", ":"))))
    else:
        sweep = Sweep(conn, horizon_ms, None)
        last = sweep.edge(last, start_ms, until_ms or start_ms + HOUR_MS, closed=False)
        tally = sweep.total()
    rows = _rows(tally)

    def store(conn):
        conn.execute(rollup_sql.FORGET_MARKS_SQL, (hour,))
        if marks:
            conn.executemany(rollup_sql.SAVE_MARK_SQL, saved_marks)
            conn.execute(rollup_sql.FORGET_OLD_MARKS_SQL, (hour - MARK_HOURS + 1,))
        _save(conn, HOURS, hour, tally.event_count, rows,
              lambda worker_id: last.get(worker_id) or (None, None, None), until_ms)
    return store, {worker_id: event for worker_id, event in last.items() if event is not None}


# A worker's milliseconds in each of `TIME_STATES`, in that order, from its `{state: ms}`.
_STATE_MS = operator.itemgetter(*metrics.TIME_STATES)


def _rows(tally):
    """The rows of a tally: `(worker_id, *ms in each of TIME_STATES, units)` and
    `(workstation_id, occupancy_ms, units)`, each by id."""
    empty = dict.fromkeys(metrics.TIME_STATES, 0)
    workers = [(worker_id, *_STATE_MS(tally.state_ms.get(worker_id, empty)), tally.worker_units.get(worker_id, 0))
               for worker_id in sorted({*tally.state_ms, *tally.worker_units})]
    stations = [(station_id, tally.occupancy_ms.get(station_id, 0), tally.station_units.get(station_id, 0))
                for station_id in sorted({*tally.occupancy_ms, *tally.station_units})]
    return workers, stations


def _compute_day(conn, day, horizon_ms):
    """The roll-up of one day, summed from its hours' roll-ups (none of them stale) and its empty
    hours: a function that stores it with a connection."""
    sweep = Sweep(conn, horizon_ms, None)  # the day is stale: the sweep reads its hours
    sweep.stretch(state_before(conn, day * DAY_MS), day * DAY_MS, (day + 1) * DAY_MS, closed=False)
    tally = sweep.total()
    rows = _rows(tally)
    return lambda conn: _save(conn, DAYS, day, tally.event_count, rows, lambda _worker_id: ())


def _save(conn, unit, number, event_count, rows, more, until_ms=None):
    """Replace the stored roll-up of one hour or day by its `rows` (`_rows`; each worker's row
    ending in `more(worker_id)`: an hour's rows hold the worker's latest state event) and mark it
    computed, or an hour's first part up to `until_ms`."""
    forget_workers_sql, forget_stations_sql = rollup_sql.FORGET_SQL[unit.name]
    conn.execute(forget_workers_sql, (number,))
    conn.execute(forget_stations_sql, (number,))
    workers, stations = rows
    conn.executemany(rollup_sql.SAVE_WORKER_SQL[unit.name], [(number, *row, *more(row[0])) for row in workers])
    conn.executemany(rollup_sql.SAVE_STATION_SQL[unit.name], [(number, *row) for row in stations])
    if until_ms is None:
        conn.execute(rollup_sql.COMPUTED_SQL[unit.name], (event_count, number))
    else:
        conn.execute(rollup_sql.PART_COMPUTED_SQL, (event_count, until_ms, number))


class Changes:
    """What a batch of new events changes, worked out before its transaction: the instant of the
    earliest, the hours of its events, and per worker the instant of its earliest state event and
    its latest state event `(ts_ms, state, workstation_id)`."""

    def __init__(self, first_ms, hours, state_ranges):
        self.first_ms, self.hours, self.state_ranges = first_ms, hours, state_ranges


def changes(events):
    """The `Changes` of newly stored `NewEvent`s."""
    hours = {event.ts_ms // HOUR_MS for event in events}
    # In time order (arrival order among equal instants), a worker's last state event is its
    # latest and, read backwards, its first the earliest.
    states = sorted([(event.ts_ms, number, event) for number, event in enumerate(events)
                     if event.event_type != "product_count"])
    latest = {event.worker_id: (ts_ms, event.event_type, event.workstation_id) for ts_ms, _n, event in states}
    earliest = {event.worker_id: ts_ms for ts_ms, _n, event in reversed(states)}
    return Changes(min(event.ts_ms for event in events), hours,
                   {worker_id: (earliest[worker_id], high) for worker_id, high in latest.items()})


def forget_changed_hours(conn, changed):
    """Mark stale every hour and day whose figures the `Changes` of new events alter, at the data
    generation of the batch's transaction (inside it; start-up and the keepers compute them).

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
    generation = queries.generation(conn)
    conn.executemany(rollup_sql.MARK_SQL["hour"], [(hour, generation) for hour in sorted(changed.hours)])
    conn.executemany(rollup_sql.MARK_SQL["day"], [(day, generation) for day in sorted({hour // 24
                                                                                   for hour in changed.hours})])
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
    conn.executemany(rollup_sql.MARK_STALE_SQL["hour"], _marks(ranges, generation))
    # Rows settled in place: their hours are marked, so a roll-up computed meanwhile is not
    # stored, and their marks, which do not hold the worker's unknown time, are dropped.
    conn.executemany(rollup_sql.SETTLE_UNKNOWN_HOURS_SQL, settled)
    settled_ranges = _merged([(row["first"], row["end"]) for row in settled])
    conn.executemany(rollup_sql.TOUCH_HOURS_SQL, [(generation, *hours) for hours in settled_ranges])
    conn.executemany(rollup_sql.FORGET_MARKS_IN_SQL, settled_ranges)
    conn.executemany(rollup_sql.MARK_STALE_SQL["day"], _marks(days, generation))
    conn.execute(rollup_sql.FORGET_PARTS_SQL, (changed.first_ms,))


def _next_states(conn, pairs):
    """`{worker_id: ts_ms}` of each worker's first state event after the instant paired with it
    (left out when it has none): looked for in the next day first, then on the first later day
    the worker has state events, however far."""
    # Every worker's next day is asked for with the first look, in the same round trip.
    next_days = queries.next_state_days(conn, [(worker_id, high // DAY_MS) for worker_id, high in pairs])
    found = queries.next_states_after(conn, pairs)
    highs = dict(pairs)
    later = [(worker_id, max(highs[worker_id], day * DAY_MS - 1)) for cursor in next_days
             for worker_id, day in cursor.fetchall() if worker_id not in found and day is not None]
    if later:
        found.update(queries.next_states_after(conn, later, hours=25))
    return found


def _marks(ranges, generation):
    """The parameters that mark the `_merged` ranges at `generation`."""
    return [(generation, first, end) for first, end in _merged(ranges)]


def _merged(ranges):
    """Half-open `(first, end)` ranges with overlapping and touching ones joined."""
    merged = []
    for first, end in sorted(ranges):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([first, end])
    return merged
