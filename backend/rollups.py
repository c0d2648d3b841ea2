"""Keeping the hourly and daily roll-ups that `sweep` reads: the figures of the hours and days
that hold events, kept so long windows cost those hours and days, not their events.

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
figure before its own instant. The hours of the last day (`MARK_HOURS`) also keep, once
computed, their figures from the hour's start to every `sweep.MARK_MS` (`rollup_hour_marks`).
"""

import json
import logging
import math
import os
import threading
import time

from . import metrics, queries
from .db import Error, connect, transaction
from .sweep import DAY_MS, DAYS, HOUR_MS, HOURS, MARK_MS, Sweep, events_tally, reading, state_before, stored_horizon

log = logging.getLogger(__name__)

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
MARK_HOURS = 24
_FOREVER = 2 ** 62


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
    with reading(conn):
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
        _compute_hour(conn, hour, state_before(conn, start_ms), horizon[0], until_ms)
    return 1


def behind(conn, now_ms):
    """Whether a stale hour or day before the current ones waits to be computed (a read)."""
    with reading(conn):
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
            last = state_before(conn, hour * HOUR_MS)
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
            last = events_tally(conn, last, mark_ms - MARK_MS, mark_ms, False, horizon_ms, tally=tally)[1]
            if mark_ms < start_ms + HOUR_MS:
                _save_mark(conn, hour, mark_ms, tally)
        conn.execute(queries.FORGET_OLD_MARKS_SQL, (hour - MARK_HOURS + 1,))
    else:
        sweep = Sweep(conn, horizon_ms, None)
        last = sweep.edge(last, start_ms, until_ms or start_ms + HOUR_MS, closed=False)
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
    sweep = Sweep(conn, horizon_ms, None)  # the day is stale: the sweep reads its hours
    sweep.stretch(state_before(conn, day * DAY_MS), day * DAY_MS, (day + 1) * DAY_MS, closed=False)
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
