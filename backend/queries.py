"""SQL, as named constants, and the thin reads built on it.

Metric reads share one scope clause: an optional `site_id` and an optional `min_confidence`
(an event without a confidence always counts). Values are always bound as parameters.
"""

import functools
import json
from itertools import chain

from . import calendars
from .metrics import MS_PER_HOUR
from .rollup_sql import TAKE_KEEPER_TURN_SQL
from .timeutil import format_instant

DAY_MS = 24 * MS_PER_HOUR

SCOPE = """
    (:site_id IS NULL OR site_id = :site_id)
    AND (:min_confidence IS NULL OR confidence IS NULL OR confidence >= :min_confidence)
"""

EARLIEST_IN_SCOPE_SQL = f"SELECT ts_ms FROM events WHERE {SCOPE} ORDER BY ts_ms ASC LIMIT 1"
LATEST_IN_SCOPE_SQL = f"SELECT ts_ms FROM events WHERE {SCOPE} ORDER BY ts_ms DESC LIMIT 1"

ALL_WORKERS_SQL = "SELECT worker_id, name FROM workers ORDER BY worker_id"
SITE_WORKERS_SQL = """
SELECT worker_id, name FROM workers
WHERE worker_id IN (SELECT worker_id FROM site_members WHERE site_id = :site_id)
ORDER BY worker_id
"""
ALL_WORKSTATIONS_SQL = "SELECT workstation_id, name FROM workstations ORDER BY workstation_id"
SITE_WORKSTATIONS_SQL = """
SELECT workstation_id, name FROM workstations
WHERE workstation_id IN (SELECT workstation_id FROM site_members WHERE site_id = :site_id)
ORDER BY workstation_id
"""

# A worker's state events are indexed by hour, then worker, then time (`events_worker_hour_states`),
# so each read of one worker's state events names the hours to look in: one seek per hour.
# `worker_state_days` lists the days on which a worker has any, so hours on other days are never
# looked at. Every read writes the indexed expression the same way: `ts_ms / 3600000`.
DAY_HOURS_CTE = "day_hours (n) AS (VALUES " + ", ".join(f"({n})" for n in range(24)) + ")"


def _latest_state_on(day, worker_id):
    """SQL: the id of `worker_id`'s latest state event in scope before the start on `day`: the
    day's hours joined to the index one by one, a seek each. (Asked as `hour IN (the hours)`,
    PostgreSQL merged the hours with the index read backwards from its newest hour, a cost that
    grew with every event after the start.)"""
    return f"""(
    SELECT events.id FROM day_hours JOIN events ON events.ts_ms / 3600000 = {day} * 24 + day_hours.n
    WHERE {day} * 24 + day_hours.n <= (:start_ms - 1) / 3600000
        AND events.worker_id = {worker_id} AND events.ts_ms < :start_ms AND events.event_type != 'product_count'
        AND {SCOPE}
    ORDER BY day_hours.n DESC, events.ts_ms DESC, events.id DESC
    LIMIT 1
)"""


# The state in force at the window start, for several workers (`{workers}`: `(:w0), (:w1), ...`):
# per worker, the latest state event in scope before the start on the latest day it has state
# events, found by seeking that day's hours from the last backwards; when that day holds none
# before the start (a worker who arrived after it), on the latest day before the start's day.
# A worker with no such day is left out; one whose days hold none in scope comes back with
# `NULL`s (see `_carried_in`). The ids are found in a step of their own and then joined by id: a
# join on the lookups themselves PostgreSQL may plan (prepared) as a hash join over every event.
CARRY_IN_STATES_SQL = f"""
WITH {DAY_HOURS_CTE},
asked (worker_id) AS (VALUES {{workers}}),
latest (worker_id, day, earlier_day) AS MATERIALIZED (
    SELECT worker_id, (
        SELECT MAX(day) FROM worker_state_days AS days
        WHERE days.worker_id = asked.worker_id AND day <= (:start_ms - 1) / 86400000
    ), (
        SELECT MAX(day) FROM worker_state_days AS days
        WHERE days.worker_id = asked.worker_id AND day < (:start_ms - 1) / 86400000
    ) FROM asked
),
found (worker_id, id) AS MATERIALIZED (
    SELECT worker_id, COALESCE({_latest_state_on("latest.day", "latest.worker_id")},
                               {_latest_state_on("latest.earlier_day", "latest.worker_id")})
    FROM latest WHERE latest.day IS NOT NULL
)
SELECT found.worker_id, carried.ts_ms, carried.event_type, carried.workstation_id FROM found
LEFT JOIN events AS carried ON carried.id = found.id
"""
# The same for one worker on a given day, and the days, latest first, to try in turn.
CARRY_IN_STATE_SQL = f"""
WITH {DAY_HOURS_CTE}
SELECT ts_ms, event_type, workstation_id FROM events WHERE id = {_latest_state_on(":day", ":worker_id")}
"""
STATE_DAYS_BEFORE_SQL = """
SELECT day FROM worker_state_days WHERE worker_id = :worker_id AND day <= (:start_ms - 1) / 86400000
ORDER BY day DESC
"""
# One worker's state events in a window: a seek per hour of the days it has any.
WINDOW_STATES_SQL = f"""
WITH {DAY_HOURS_CTE}
SELECT ts_ms, event_type, workstation_id FROM events
WHERE ts_ms / 3600000 IN (
        SELECT day * 24 + n FROM worker_state_days, day_hours
        WHERE worker_id = :worker_id AND day BETWEEN :start_ms / 86400000 AND :end_ms / 86400000
            AND day * 24 + n BETWEEN :start_ms / 3600000 AND :end_ms / 3600000)
    AND worker_id = :worker_id AND ts_ms BETWEEN :start_ms AND :end_ms
    AND event_type != 'product_count' AND {SCOPE}
ORDER BY ts_ms / 3600000, ts_ms, id
"""
# Every worker's state events in a window, in order: one range of the time index.
WINDOW_ALL_STATES_SQL = f"""
SELECT worker_id, ts_ms, event_type, workstation_id FROM events
WHERE ts_ms BETWEEN :start_ms AND :end_ms AND event_type != 'product_count' AND {SCOPE}
ORDER BY ts_ms, id
"""
WINDOW_UNITS_SQL = f"""
SELECT worker_id, workstation_id, SUM(count) FROM events
WHERE ts_ms BETWEEN :start_ms AND :end_ms AND event_type = 'product_count' AND {SCOPE}
GROUP BY worker_id, workstation_id
"""
# Product counts with their instants, for holding each against planned time.
WINDOW_UNIT_INSTANTS_SQL = f"""
SELECT worker_id, workstation_id, count, ts_ms FROM events
WHERE ts_ms BETWEEN :start_ms AND :end_ms AND event_type = 'product_count' AND {SCOPE}
    AND (:worker_id IS NULL OR worker_id = :worker_id)
    AND (:workstation_id IS NULL OR workstation_id = :workstation_id)
"""
WINDOW_UNITS_BY_SLOT_SQL = f"""
SELECT ts_ms / :bucket_ms AS slot, SUM(count) FROM events
WHERE ts_ms BETWEEN :start_ms AND :end_ms AND event_type = 'product_count' AND {SCOPE}
    AND (:worker_id IS NULL OR worker_id = :worker_id)
    AND (:workstation_id IS NULL OR workstation_id = :workstation_id)
GROUP BY slot
"""
# Events per model version, slot and distinct confidence, with their first and last instant: from
# the events of a window (`slot = ts_ms / :bucket_ms`), and from the day or hour roll-up for whole
# UTC days or hours (`slot = day / :units`, the bucket being `:units` whole days; likewise hours).
# The scope clause reads a roll-up as it reads the events: site and confidence are columns of its key.
MODEL_EVENTS_SQL = f"""
SELECT model_version, ts_ms / :bucket_ms AS slot, confidence, COUNT(*), MIN(ts_ms), MAX(ts_ms) FROM events
WHERE ts_ms BETWEEN :start_ms AND :end_ms AND {SCOPE}
GROUP BY model_version, slot, confidence
"""
# The model roll-ups, largest unit first, with their unit's milliseconds.
MODEL_UNITS = (("day", DAY_MS), ("hour", MS_PER_HOUR))
MODEL_UNITS_SQL = {unit: f"""
SELECT model_version, {unit} / :units AS slot, confidence, SUM(events), MIN(first_ms), MAX(last_ms)
FROM rollup_model_{unit}s
WHERE {unit} BETWEEN :first AND :last AND {SCOPE}
GROUP BY model_version, slot, confidence
""" for unit, _ms in MODEL_UNITS}
# Adds the events stored with row ids `[:first_id, :end_id)` (one write's) to their days or hours.
ADD_MODEL_UNITS_SQL = {unit: f"""
INSERT INTO rollup_model_{unit}s ({unit}, site_id, model_version, confidence, events, first_ms, last_ms)
SELECT ts_ms / {unit_ms}, site_id, model_version, confidence, COUNT(*), MIN(ts_ms), MAX(ts_ms)
FROM events WHERE id >= :first_id AND id < :end_id
GROUP BY 1, 2, 3, 4
ON CONFLICT ({unit}, COALESCE(site_id, ''), COALESCE(model_version, ''), COALESCE(confidence, -1)) DO UPDATE SET
    events = rollup_model_{unit}s.events + excluded.events,
    first_ms = CASE WHEN excluded.first_ms < rollup_model_{unit}s.first_ms
                    THEN excluded.first_ms ELSE rollup_model_{unit}s.first_ms END,
    last_ms = CASE WHEN excluded.last_ms > rollup_model_{unit}s.last_ms
                   THEN excluded.last_ms ELSE rollup_model_{unit}s.last_ms END
""" for unit, unit_ms in MODEL_UNITS}
# A bucket of whole days longer than any instant since 1970: one slot, 0, for a whole window.
WHOLE_WINDOW_MS = DAY_MS << 30
WINDOW_EVENT_COUNT_SQL = f"SELECT COUNT(*) FROM events WHERE ts_ms BETWEEN :start_ms AND :end_ms AND {SCOPE}"

# Inserts of many rows, run by `insert_rows` with the rows' values in place of `{rows}`.
REGISTER_WORKER_SQL = "INSERT INTO workers (worker_id, name) VALUES {rows} ON CONFLICT DO NOTHING"
# A workstation's site is that of the first event that registers it: later events never change it.
REGISTER_WORKSTATION_SQL = ("INSERT INTO workstations (workstation_id, name, site_id) VALUES {rows} "
                            "ON CONFLICT DO NOTHING")
REGISTER_SITE_MEMBER_SQL = ("INSERT INTO site_members (site_id, worker_id, workstation_id) VALUES {rows} "
                            "ON CONFLICT DO NOTHING")
REGISTER_STATE_DAY_SQL = "INSERT INTO worker_state_days (worker_id, day) VALUES {rows} ON CONFLICT DO NOTHING"
NAME_WORKER_SQL = "UPDATE workers SET name = ? WHERE worker_id = ?"
INSERT_EVENT_SQL = """
INSERT INTO events (
    id, event_id, ts_ms, worker_id, workstation_id, event_type,
    confidence, count, model_version, site_id, received_at_ms
) VALUES {rows}
"""
# SQLite binds up to 32766 values per statement (from 3.32; the service needs 3.35 for
# RETURNING), PostgreSQL 65535. A batch's rows go in as few statements as that allows: under
# load, each statement of the writer's transaction is a point where its thread waits for
# Python's lock again while others parse and check the next batches, and the store's write
# lock is held meanwhile.
MAX_BOUND_VALUES = 32766
NEXT_EVENT_ID_SQL = "SELECT COALESCE(MAX(id), 0) + 1 FROM events"
# Lookups by a list of values go in chunks of this many: a batch of the default `MAX_BATCH` in one.
MAX_IN_PARAMS = 5000


def find_by_event_ids_sql(count):
    """`(event_id, id, natural key...)` of stored events among `count` bound idempotency keys."""
    return ("SELECT event_id, id, worker_id, ts_ms, workstation_id, event_type, count FROM events "
            f"WHERE event_id IN ({', '.join('?' * count)})")


FIND_BY_NATURAL_KEY_SQL = """
SELECT id FROM events
WHERE worker_id = ? AND ts_ms = ? AND workstation_id = ? AND event_type = ? AND count IS NOT DISTINCT FROM ?
ORDER BY id
LIMIT 1
"""

CLEAR_ALL_SQL = ("DELETE FROM events", "DELETE FROM workers", "DELETE FROM workstations", "DELETE FROM site_members",
                 "DELETE FROM worker_state_days", *(f"DELETE FROM rollup_{table}" for table in (
                     "hours", "worker_hours", "station_hours", "hour_marks", "days", "worker_days", "station_days",
                     "model_days", "model_hours")))

# Each worker's first day after a day on which it has state events (`{pairs}`: `(?, ?), ...` of
# worker id and day), NULL when none.
NEXT_STATE_DAYS_SQL = """
WITH asked (worker_id, after_day) AS (VALUES {pairs})
SELECT worker_id, (SELECT MIN(day) FROM worker_state_days
                   WHERE worker_state_days.worker_id = asked.worker_id AND day > asked.after_day)
FROM asked
"""
# Each worker's first state event after an instant (`{pairs}`: `(?, ?), ...`), looked for by a
# seek in each hour from the instant's to `{hours} - 1` hours later or the latest event's hour.
NEXT_STATES_AFTER_SQL = """
WITH RECURSIVE asked (worker_id, after_ms, hour, last_hour) AS (
    SELECT column1, column2, column2 / 3600000,
           CASE WHEN column2 / 3600000 + {hours} - 1 < latest.hour THEN column2 / 3600000 + {hours} - 1
                ELSE latest.hour END
    FROM (VALUES {pairs}) AS pairs, (SELECT MAX(ts_ms) / 3600000 AS hour FROM events) AS latest
    UNION ALL
    SELECT worker_id, after_ms, hour + 1, last_hour FROM asked WHERE hour < last_hour
)
SELECT worker_id, MIN((
    SELECT ts_ms FROM events
    WHERE ts_ms / 3600000 = asked.hour AND events.worker_id = asked.worker_id AND ts_ms > asked.after_ms
        AND event_type != 'product_count'
    ORDER BY ts_ms
    LIMIT 1
)) FROM asked
GROUP BY worker_id
"""
COUNT_EVENTS_SQL = "SELECT COUNT(*) FROM events"
BUMP_GENERATION_SQL = "UPDATE data_version SET generation = generation + 1"
GENERATION_SQL = "SELECT generation FROM data_version"
SITES_SQL = "SELECT DISTINCT site_id FROM site_members ORDER BY site_id"

# The floor's setup (SPEC §5, "Sites, shifts and planned time"): the factory calendar, sites,
# each workstation's site and target. Shifts are stored as the JSON `calendars` reads back.
FACTORY_CALENDAR_SQL = "SELECT time_zone, shifts FROM factory_calendar WHERE id = 1"
SAVE_FACTORY_CALENDAR_SQL = """
INSERT INTO factory_calendar (id, time_zone, shifts) VALUES (1, ?, ?)
ON CONFLICT (id) DO UPDATE SET time_zone = excluded.time_zone, shifts = excluded.shifts
"""
CONFIGURED_SITES_SQL = "SELECT site_id, name, time_zone, shifts FROM sites ORDER BY site_id"
SITE_SQL = "SELECT site_id, name, time_zone, shifts FROM sites WHERE site_id = ?"
SAVE_SITE_SQL = """
INSERT INTO sites (site_id, name, time_zone, shifts) VALUES (?, ?, ?, ?)
ON CONFLICT (site_id) DO UPDATE SET name = excluded.name, time_zone = excluded.time_zone, shifts = excluded.shifts
"""
KNOWN_SITE_SQL = """
SELECT 1 FROM sites WHERE site_id = :site_id
UNION ALL SELECT 1 FROM site_members WHERE site_id = :site_id
LIMIT 1
"""
WORKSTATION_SETUP_SQL = """
SELECT workstation_id, name, site_id, target_units_per_hour FROM workstations ORDER BY workstation_id
"""
ONE_WORKSTATION_SQL = """
SELECT workstation_id, name, site_id, target_units_per_hour FROM workstations WHERE workstation_id = ?
"""
SET_WORKSTATION_SQL = """
UPDATE workstations SET name = ?, site_id = ?, target_units_per_hour = ? WHERE workstation_id = ?
"""
ONE_WORKER_SQL = "SELECT worker_id, name FROM workers WHERE worker_id = ?"

EVENT_COLUMNS = """
id, event_id, ts_ms, worker_id, workstation_id, event_type,
confidence, count, model_version, site_id, received_at_ms
"""
RECENT_EVENTS_SQL = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE (:worker_id IS NULL OR worker_id = :worker_id)
    AND (:workstation_id IS NULL OR workstation_id = :workstation_id)
    AND (:event_type IS NULL OR event_type = :event_type)
    AND (:from_ms IS NULL OR ts_ms >= :from_ms)
    AND (:to_ms IS NULL OR ts_ms <= :to_ms)
    AND {SCOPE}
ORDER BY ts_ms DESC, id DESC
LIMIT :limit
"""


def insert_rows(conn, insert_sql, rows):
    """Run `insert_sql` (its rows' values in place of `{rows}`) for every row (tuples of one width), as many rows
    per statement as fit: most of a row's cost through `executemany` is the round trip from
    Python, not SQLite's work."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    width = len(first)
    values = [*first, *chain.from_iterable(rows)]
    per_statement = (MAX_BOUND_VALUES // width) * width
    for start in range(0, len(values), per_statement):
        chunk = values[start:start + per_statement]
        conn.execute(_rows_sql(insert_sql, width, len(chunk) // width), chunk)


@functools.lru_cache(maxsize=32)
def _rows_sql(insert_sql, width, count):
    row = "(" + ", ".join("?" * width) + ")"
    return insert_sql.replace("{rows}", ", ".join([row] * count))


def next_state_days(conn, pairs):
    """Ask for each worker's first day after the day paired with it on which it has state
    events (`NEXT_STATE_DAYS_SQL`); the cursors, to be read once the caller has asked what else it
    needs (one round trip to a database server for all)."""
    per_statement = MAX_BOUND_VALUES // 2
    return [conn.execute(NEXT_STATE_DAYS_SQL.format(pairs=", ".join(["(?, ?)"] * len(chunk))),
                         list(chain.from_iterable(chunk)))
            for chunk in (pairs[start:start + per_statement] for start in range(0, len(pairs), per_statement))]


def next_states_after(conn, pairs, hours=24):
    """`{worker_id: ts_ms}` of each worker's first state event after the instant paired with it,
    looked for in the instant's hour and the `hours - 1` after it; workers with none there are
    left out, whether or not they have one later."""
    found = {}
    per_statement = MAX_BOUND_VALUES // 2
    for start in range(0, len(pairs), per_statement):
        chunk = pairs[start:start + per_statement]
        sql = NEXT_STATES_AFTER_SQL.format(hours=int(hours), pairs=", ".join(["(?, ?)"] * len(chunk)))
        for worker_id, ts_ms in conn.execute(sql, list(chain.from_iterable(chunk))):
            if ts_ms is not None and ts_ms < found.get(worker_id, ts_ms + 1):
                found[worker_id] = ts_ms
    return found


def scope_params(site_id=None, min_confidence=None, **more):
    """Named parameters for a query that uses the scope clause."""
    return {"site_id": site_id, "min_confidence": min_confidence, **more}


def window_bounds(conn, scope):
    """`(earliest_ms, latest_ms)` of the events in scope, or `(None, None)`."""
    earliest = conn.execute(EARLIEST_IN_SCOPE_SQL, scope).fetchone()
    latest = conn.execute(LATEST_IN_SCOPE_SQL, scope).fetchone()
    return (earliest[0], latest[0]) if earliest else (None, None)


def plain(conn):
    """A cursor whose rows are tuples, read by position: on SQLite no `sqlite3.Row` is made per
    row (reads of thousands of rows); PostgreSQL's rows are tuples already."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor


def list_workers(conn, site_id=None):
    """`(worker_id, name)` of every registered worker, or of those seen at one site."""
    if site_id is None:
        return plain(conn).execute(ALL_WORKERS_SQL).fetchall()
    return plain(conn).execute(SITE_WORKERS_SQL, {"site_id": site_id}).fetchall()


def list_workstations(conn, site_id=None):
    """`(workstation_id, name)` of every registered workstation, or of those at one site."""
    if site_id is None:
        return plain(conn).execute(ALL_WORKSTATIONS_SQL).fetchall()
    return plain(conn).execute(SITE_WORKSTATIONS_SQL, {"site_id": site_id}).fetchall()


def state_events(conn, scope, worker_ids, start_ms, end_ms):
    """`{worker_id: [(ts_ms, state, workstation_id)]}` for the time model: each worker's state
    event carried in, then those of the window.

    The carried-in event is the latest before the start, or at or before the end when the
    window ends before it starts, so the latest state at the end is always known. One worker's
    window is read by its hours; several workers' by one range of the time index.
    """
    params = {**scope, "start_ms": start_ms, "end_ms": end_ms}
    found = _carried_in(conn, {**params, "start_ms": min(start_ms, end_ms + 1)}, worker_ids)
    if not found:
        return found
    cursor = plain(conn)
    if len(found) == 1:
        ((worker_id, events),) = found.items()
        events.extend(cursor.execute(WINDOW_STATES_SQL, {**params, "worker_id": worker_id}))
    else:
        for worker_id, *event in cursor.execute(WINDOW_ALL_STATES_SQL, params):
            events = found.get(worker_id)
            if events is not None:
                events.append(tuple(event))
    return found


def _carried_in(conn, params, worker_ids):
    """`{worker_id: [carried-in state event]}`, the list empty for a worker with none before `start_ms`.

    Mostly it lies on the latest day the worker has state events; a filter may pass it over
    there, and then the days before are looked at in turn.
    """
    found = {worker_id: [] for worker_id in worker_ids}
    names = list(found)
    for start in range(0, len(names), MAX_IN_PARAMS):
        chunk = names[start:start + MAX_IN_PARAMS]
        sql = CARRY_IN_STATES_SQL.format(workers=", ".join(f"(:w{number})" for number in range(len(chunk))))
        bound = {**params, **{f"w{number}": worker_id for number, worker_id in enumerate(chunk)}}
        for worker_id, ts_ms, state, station_id in conn.execute(sql, bound):
            if ts_ms is not None:
                found[worker_id].append((ts_ms, state, station_id))
            else:
                found[worker_id].extend(_carried_in_days_before(conn, {**params, "worker_id": worker_id}))
    return found


def _carried_in_days_before(conn, params):
    """`[(ts_ms, state, workstation_id)]` of one worker's latest state event in scope before
    `start_ms`, looked for day by day, or `[]`."""
    days = conn.execute(STATE_DAYS_BEFORE_SQL, params)
    try:
        for (day,) in days:
            row = conn.execute(CARRY_IN_STATE_SQL, {**params, "day": day}).fetchone()
            if row is not None:
                return [tuple(row)]
    finally:
        days.close()
    return []


def window_units(conn, scope, start_ms, end_ms):
    """`(worker_id, workstation_id, units)` summed over the window's product counts."""
    params = {**scope, "start_ms": start_ms, "end_ms": end_ms}
    return plain(conn).execute(WINDOW_UNITS_SQL, params).fetchall()


def window_unit_instants(conn, scope, start_ms, end_ms, worker_id=None, workstation_id=None):
    """`(worker_id, workstation_id, units, ts_ms)` of each of the window's product counts."""
    params = {**scope, "start_ms": start_ms, "end_ms": end_ms, "worker_id": worker_id,
              "workstation_id": workstation_id}
    return plain(conn).execute(WINDOW_UNIT_INSTANTS_SQL, params).fetchall()


def window_units_by_slot(conn, scope, start_ms, end_ms, bucket_ms, worker_id=None, workstation_id=None):
    """`(slot, units)` of the window's product counts, `slot = ts_ms // bucket_ms`."""
    params = {**scope, "start_ms": start_ms, "end_ms": end_ms, "bucket_ms": bucket_ms,
              "worker_id": worker_id, "workstation_id": workstation_id}
    return plain(conn).execute(WINDOW_UNITS_BY_SLOT_SQL, params).fetchall()


def model_groups(conn, scope, start_ms, end_ms, bucket_ms=None):
    """`(model_version, slot, confidence, events, first_ms, last_ms)` of the events in scope from
    `start_ms` to `end_ms` (both included), per model version, slot `ts_ms // bucket_ms` (`None`:
    one slot, 0) and distinct confidence (`None`: events without one). A key may come more than
    once: its rows add up.

    The window's whole UTC days come from the day roll-up when each day lies inside one slot
    (`bucket_ms` a whole number of days), its whole hours from the hour roll-up when each hour
    does (all of them when days do not fit the slots, else those left at either end), and only
    what is left from the events: the cost follows the days, the hours and the edges.
    """
    return _model_groups(conn, scope, start_ms, end_ms, bucket_ms or WHOLE_WINDOW_MS, MODEL_UNITS)


def _model_groups(conn, scope, start_ms, end_ms, bucket_ms, units):
    for position, (unit, unit_ms) in enumerate(units):
        first, last = -(-start_ms // unit_ms), (end_ms + 1) // unit_ms - 1
        if bucket_ms % unit_ms or first > last:
            continue
        rows = plain(conn).execute(MODEL_UNITS_SQL[unit], {**scope, "units": bucket_ms // unit_ms, "first": first,
                                                            "last": last}).fetchall()
        smaller = units[position + 1:]
        return (_model_groups(conn, scope, start_ms, first * unit_ms - 1, bucket_ms, smaller) + rows
                + _model_groups(conn, scope, (last + 1) * unit_ms, end_ms, bucket_ms, smaller))
    return _model_events(conn, scope, start_ms, end_ms, bucket_ms)


def _model_events(conn, scope, start_ms, end_ms, bucket_ms):
    if start_ms > end_ms:
        return []
    params = {**scope, "start_ms": start_ms, "end_ms": end_ms, "bucket_ms": bucket_ms}
    return plain(conn).execute(MODEL_EVENTS_SQL, params).fetchall()


def list_sites(conn):
    """Every site: `{site_id: Site}` of those configured and those that appear in the events,
    sorted by id. A site known only from events is named by its id and runs on the factory's
    calendar (no zone, no shifts of its own)."""
    found = {row[0]: calendars.Site(row[0]) for row in conn.execute(SITES_SQL)}
    for site_id, name, time_zone, shifts in conn.execute(CONFIGURED_SITES_SQL):
        found[site_id] = _site(name, time_zone, shifts)
    return dict(sorted(found.items()))


def get_site(conn, site_id):
    """The `Site` with this id: configured, or known from the events (named by its id); `None` if neither."""
    row = conn.execute(SITE_SQL, (site_id,)).fetchone()
    if row is not None:
        return _site(row[1], row[2], row[3])
    return calendars.Site(site_id) if site_known(conn, site_id) else None


def site_known(conn, site_id):
    """Whether a site is configured or appears in the events."""
    return conn.execute(KNOWN_SITE_SQL, {"site_id": site_id}).fetchone() is not None


def save_site(conn, site_id, site):
    """Store a site (a `calendars.Site`), replacing any earlier one with this id.

    Runs inside the caller's write transaction and moves the data version on, so every
    metrics ETag changes (a site's calendar changes planned time).
    """
    shifts = None if site.shifts is None else json.dumps(calendars.site_json(site)["shifts"])
    conn.execute(SAVE_SITE_SQL, (site_id, site.name, site.time_zone, shifts))
    conn.execute(BUMP_GENERATION_SQL)


def load_calendar(conn, default_time_zone):
    """The factory calendar (`calendars.Calendar`); before any is stored: `default_time_zone`
    and no shifts, so nothing is planned."""
    row = conn.execute(FACTORY_CALENDAR_SQL).fetchone()
    if row is None:
        return calendars.Calendar(default_time_zone, ())
    return calendars.Calendar(row[0], _shifts(row[1]))


def save_calendar(conn, calendar):
    """Store the factory calendar (a `calendars.Calendar`) inside the caller's write transaction,
    and move the data version on."""
    stored = calendars.calendar_json(calendar)
    conn.execute(SAVE_FACTORY_CALENDAR_SQL, (stored["time_zone"], json.dumps(stored["shifts"])))
    conn.execute(BUMP_GENERATION_SQL)


def _site(name, time_zone, shifts):
    return calendars.Site(name, time_zone, None if shifts is None else _shifts(shifts))


def _shifts(text):
    """Stored shifts (JSON written by `save_calendar` or `save_site`) as a tuple of `Shift`s."""
    calendar, errors = calendars.parse_calendar({"time_zone": "UTC", "shifts": json.loads(text)}, "UTC")
    if errors:  # only a hand-edited database gets here; its shifts are not to be guessed at
        raise ValueError(f"stored shifts are not valid: {errors}")
    return calendar.shifts


def workstation_setup(conn):
    """`{workstation_id: (name, site_id, target_units_per_hour)}` of every registered workstation."""
    return {row[0]: (row[1], row[2], row[3]) for row in conn.execute(WORKSTATION_SETUP_SQL)}


def get_workstation(conn, workstation_id):
    """`{"workstation_id", "name", "site_id", "target_units_per_hour"}`, or `None` when not registered."""
    row = conn.execute(ONE_WORKSTATION_SQL, (workstation_id,)).fetchone()
    return None if row is None else workstation_json(*row)


def workstation_json(workstation_id, name, site_id, target_units_per_hour):
    """A workstation as `GET /workstations` lists it."""
    return {"workstation_id": workstation_id, "name": name, "site_id": site_id,
            "target_units_per_hour": target_units_per_hour}


KEEP = object()  # `set_workstation`: leave this member as it is


def set_workstation(conn, workstation_id, name=KEEP, site_id=KEEP, target_units_per_hour=KEEP):
    """Change a registered workstation's `name`, `site_id` (`None`: the factory calendar) and
    `target_units_per_hour` (`None`: no target); members left at `KEEP` stay as they are.

    Runs inside the caller's write transaction and moves the data version on. Returns the
    workstation as `get_workstation` gives it, or `None` (nothing changed) when it is not registered.
    """
    current = get_workstation(conn, workstation_id)
    if current is None:
        return None
    changed = {**current, **{key: value for key, value in (
        ("name", name), ("site_id", site_id), ("target_units_per_hour", target_units_per_hour)) if value is not KEEP}}
    conn.execute(SET_WORKSTATION_SQL, (changed["name"], changed["site_id"], changed["target_units_per_hour"],
                                       workstation_id))
    conn.execute(BUMP_GENERATION_SQL)
    return changed


def worker_known(conn, worker_id):
    """Whether a worker is registered."""
    return conn.execute(ONE_WORKER_SQL, (worker_id,)).fetchone() is not None


def set_worker_name(conn, worker_id, name):
    """Rename a registered worker inside the caller's write transaction and move the data version
    on. Returns `{"worker_id", "name"}`, or `None` (nothing changed) when it is not registered."""
    if not worker_known(conn, worker_id):
        return None
    conn.execute(NAME_WORKER_SQL, (name, worker_id))
    conn.execute(BUMP_GENERATION_SQL)
    return {"worker_id": worker_id, "name": name}


def window_event_count(conn, scope, start_ms, end_ms):
    """How many events in scope lie inside the window."""
    params = {**scope, "start_ms": start_ms, "end_ms": end_ms}
    return conn.execute(WINDOW_EVENT_COUNT_SQL, params).fetchone()[0]


def generation(conn):
    """The data version: it moves on with every change of the stored events."""
    return conn.execute(GENERATION_SQL).fetchone()[0]


def take_keeper_turn(conn, holder, now_ms, until_ms):
    """Take or renew the keepers' turn for `holder` until `until_ms`; whether it is `holder`'s."""
    return conn.execute(TAKE_KEEPER_TURN_SQL, {"holder": holder, "now_ms": now_ms, "until_ms": until_ms}).rowcount == 1


def count_events(conn):
    """All stored events."""
    return conn.execute(COUNT_EVENTS_SQL).fetchone()[0]


def recent_events(conn, params):
    """Newest events first, as API dicts; `params` binds every name of `RECENT_EVENTS_SQL`."""
    return [event_json(row) for row in conn.execute(RECENT_EVENTS_SQL, params)]


def event_json(row):
    """A stored event as the API shows it."""
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "timestamp": format_instant(row["ts_ms"]),
        "worker_id": row["worker_id"],
        "workstation_id": row["workstation_id"],
        "event_type": row["event_type"],
        "confidence": row["confidence"],
        "count": row["count"],
        "model_version": row["model_version"],
        "site_id": row["site_id"],
        "received_at": format_instant(row["received_at_ms"]),
    }
