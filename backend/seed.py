"""Demo data (SPEC §6): one deterministic day shift on a two-site floor of six workers.

The shift is the latest 06:00-14:00 UTC shift that has ended, so the demo looks recent, while
every duration, count and confidence comes from fixed random seeds: seeding twice gives
identical metric values.
"""

import random

from . import ingest, queries
from .db import transaction
from .errors import ApiError
from .timeutil import format_instant

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
SHIFT_START_MS = 6 * HOUR_MS  # into the UTC day
SHIFT_MS = 8 * HOUR_MS

OLD_MODEL = "floorcam-2.3.1"
NEW_MODEL = "floorcam-2.4.0"

WORKSTATIONS = [
    ("WS-01", "Cutting", "plant-north"),
    ("WS-02", "Welding", "plant-north"),
    ("WS-03", "Assembly A", "plant-north"),
    ("WS-04", "Assembly B", "plant-south"),
    ("WS-05", "Painting", "plant-south"),
    ("WS-06", "Packing", "plant-south"),
]
SITE_OF = {station_id: site for station_id, _name, site in WORKSTATIONS}

# (worker_id, name, home station, [(minute into shift, station)] moves,
#  [(from minute, to minute, state)] interruptions of the usual rhythm)
WORKERS = [
    ("W-01", "Ana Silva", "WS-01", [], []),
    ("W-02", "Ben Okafor", "WS-02", [(270, "WS-03")], []),
    # Helps at welding for a while, beside W-02: two people at one station.
    ("W-03", "Chen Wei", "WS-03", [(85, "WS-02"), (130, "WS-03")], []),
    # An unplanned absence, and late in the shift a long wait for material: the mix shifts.
    ("W-04", "Dana Kowalski", "WS-04", [], [(305, 350, "absent"), (418, 462, "idle")]),
    ("W-05", "Eli Haddad", "WS-05", [(390, "WS-06")], []),
    ("W-06", "Farah Nasser", "WS-06", [], [(0, 75, "absent")]),  # arrives late
]

# Planned breaks: (minute into shift, length in minutes).
BREAKS = [(120, 15), (240, 30), (360, 15)]


# The demo's events are the only ones after a load: the largest row id is the last of them.
RECORD_DEMO_SQL = "INSERT OR REPLACE INTO demo_load (id, last_event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events"
OTHER_EVENTS_SQL = "SELECT COUNT(*) FROM events WHERE id > COALESCE((SELECT last_event_id FROM demo_load), 0)"


def shift_start_ms(now_ms):
    """Start of the latest 06:00-14:00 UTC shift that has ended by `now_ms`."""
    day_ms = now_ms - now_ms % DAY_MS
    start = day_ms + SHIFT_START_MS
    return start if now_ms >= start + SHIFT_MS else start - DAY_MS


def demo_events(start_ms):
    """The demo shift starting at `start_ms`, as event dicts sorted by time (pure)."""
    events = []
    for number, (worker_id, _name, home, moves, interruptions) in enumerate(WORKERS):
        rng = random.Random(1000 + number)
        events.extend(worker_shift(rng, worker_id, home, moves, interruptions, start_ms, SITE_OF))
    events.sort(key=lambda e: (e["ts_ms"], e["worker_id"], e["event_type"] == "product_count"))
    for number, event in enumerate(events, start=1):
        event["event_id"] = f"seed-{number:05d}"
    return events


def worker_shift(rng, worker_id, home, moves, interruptions, start_ms, site_of):
    """One worker's 8-hour shift from `start_ms`: state events, then product counts (pure).

    `moves` are `(minute, station)` changes of station, `interruptions` `(from minute, to minute,
    state)` breaks in the usual rhythm, and `site_of` maps each station to its site.
    """
    plan = _state_plan(rng, start_ms, interruptions)
    for move_minute, _station in moves:
        # The camera at the new station reports the worker there as soon as they arrive.
        move_ms = start_ms + move_minute * MINUTE_MS
        plan = sorted(plan + [(move_ms, _state_at(plan, move_ms))])
    states = []
    for at_ms, state in plan:
        station = _station_at(home, moves, (at_ms - start_ms) // MINUTE_MS)
        states.append(_event(rng, at_ms, worker_id, station, site_of[station], state, start_ms))
    return states + _product_counts(rng, worker_id, home, moves, states, start_ms, site_of)


def _state_plan(rng, start_ms, interruptions):
    """`(ts_ms, state)` for one worker: arrive, work in spells with idle gaps, take breaks."""
    plan = [(start_ms, "absent")]
    cursor = start_ms + rng.randint(2, 12) * MINUTE_MS
    for break_minute, break_length in BREAKS + [(SHIFT_MS // MINUTE_MS, None)]:
        stop = start_ms + (break_minute + rng.randint(-6, 6) * (break_length is not None)) * MINUTE_MS
        while cursor < stop:
            plan.append((cursor, "working"))
            cursor += rng.randint(18, 55) * MINUTE_MS
            if cursor < stop and rng.random() < 0.6:
                plan.append((cursor, "idle"))
                cursor += rng.randint(3, 16) * MINUTE_MS
        plan.append((stop, "absent"))
        if break_length is not None:
            cursor = stop + (break_length + rng.randint(0, 4)) * MINUTE_MS
    for first, last, state in interruptions:
        plan = _with_interruption(plan, start_ms + first * MINUTE_MS, start_ms + last * MINUTE_MS, state)
    return plan


def _with_interruption(plan, begin_ms, end_ms, state):
    """Replace whatever was planned in `[begin_ms, end_ms)` with one state, then resume."""
    resumed = _state_at(plan, end_ms)
    kept = [(at, planned) for at, planned in plan if not begin_ms <= at <= end_ms]
    kept += [(begin_ms, state), (end_ms, resumed)]
    return sorted(kept)


def _state_at(plan, at_ms):
    return next((state for at, state in reversed(plan) if at <= at_ms), "absent")


def _station_at(home, moves, minute):
    station = home
    for move_minute, destination in moves:
        if minute >= move_minute:
            station = destination
    return station


def _product_counts(rng, worker_id, home, moves, states, start_ms, site_of):
    """Units made during each working spell of this worker, every few minutes."""
    counts = []
    for current, following in zip(states, states[1:]):
        if current["event_type"] != "working":
            continue
        at_ms = current["ts_ms"] + rng.randint(3, 8) * MINUTE_MS
        while at_ms < following["ts_ms"]:
            station = _station_at(home, moves, (at_ms - start_ms) // MINUTE_MS)
            event = _event(rng, at_ms, worker_id, station, site_of[station], "product_count", start_ms)
            event["count"] = rng.choice((1, 1, 1, 2, 2, 3))
            counts.append(event)
            at_ms += rng.randint(3, 8) * MINUTE_MS
    return counts


def _event(rng, at_ms, worker_id, station, site, event_type, start_ms):
    # The north site's cameras were upgraded at lunch; the south still runs the older model.
    upgraded = site == "plant-north" and at_ms >= start_ms + 4 * HOUR_MS
    if rng.random() < 0.05:
        confidence = rng.uniform(0.35, 0.6)  # a hard frame: occlusion, glare
    elif site == "plant-south" and at_ms >= start_ms + 7 * HOUR_MS:
        confidence = rng.uniform(0.5, 0.85)  # afternoon sun on the south line's cameras: drift
    else:
        confidence = rng.uniform(0.8, 0.99) if upgraded else rng.uniform(0.7, 0.97)
    return {
        "ts_ms": at_ms,
        "worker_id": worker_id,
        "workstation_id": station,
        "event_type": event_type,
        "confidence": round(confidence, 2),
        "count": None,
        "model_version": NEW_MODEL if upgraded else OLD_MODEL,
        "site_id": site,
    }


def load_demo(conn, now_ms, replace_all=False):
    """Clear every event, worker and workstation and load the demo shift, in one transaction.

    Refused (`409`) while the database holds an event the demo did not load, unless
    `replace_all`; the check and the load share the transaction, so no event stored in between
    is lost. Returns what was loaded: counts and the shift's bounds.
    """
    with transaction(conn):
        if not replace_all:
            _refuse_over_other_events(conn)
        return _replace_all(conn, now_ms)


def other_events(conn):
    """How many stored events the demo did not load.

    Events are numbered upwards inside the write transaction that stores them and none is ever
    deleted alone, so every event numbered above the last the demo loaded came from elsewhere
    (and every event, when no demo was loaded).
    """
    return conn.execute(OTHER_EVENTS_SQL).fetchone()[0]


def _refuse_over_other_events(conn):
    count = other_events(conn)
    if count:
        raise ApiError(409, "Conflict", f"The database holds {count} event{'s' if count != 1 else ''} the demo did "
                                        "not load; reloading the demo would delete them. To delete every event "
                                        "and load the demo anyway, send POST /seed?replace=all.",
                       other_events=count)


def seed_if_empty(conn, now_ms):
    """Load the demo shift when the database holds no event; `True` when it did.

    Check and load share one transaction, so several server processes starting at once on one
    empty file load it once.
    """
    with transaction(conn):
        if queries.count_events(conn):
            return False
        _replace_all(conn, now_ms)
    return True


def _replace_all(conn, now_ms):
    start_ms = shift_start_ms(now_ms)
    events = [ingest.NewEvent(**event) for event in demo_events(start_ms)]
    for statement in queries.CLEAR_ALL_SQL:
        conn.execute(statement)
    ingest.store_events(conn, events, now_ms)
    conn.executemany(queries.NAME_WORKER_SQL, [(name, worker_id) for worker_id, name, *_ in WORKERS])
    conn.executemany(queries.NAME_WORKSTATION_SQL, [(name, station_id) for station_id, name, _ in WORKSTATIONS])
    conn.execute(RECORD_DEMO_SQL)
    return {
        "workers": len(WORKERS),
        "workstations": len(WORKSTATIONS),
        "events": len(events),
        "from": format_instant(start_ms),
        "to": format_instant(start_ms + SHIFT_MS),
    }
