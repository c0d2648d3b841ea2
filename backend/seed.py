"""Demo data (SPEC §6): a living floor of six workers on two sites, the last 7 days up to now.

Each site has its own calendar: the north plant (Europe/Berlin) an early and a late shift on
weekdays, the south plant (America/New_York) a day shift on weekdays and a Saturday morning.
Each worker belongs to one crew and works its shifts; every shift instance is planned from its
own `random.Random`, seeded with the worker, the local date and the shift, so a worker's day is
the same whenever the demo is loaded. `now` says where the floor ends and what
"the last 7 days" are, and places the two things that happen just before it: one camera that
fell silent `SILENT_FOR_MS` ago, and a worker waiting for material (when her shift is running).
Loading twice at the same `now` gives identical events, so identical metric values.

What the cameras send, as a real system would: a worker's state at their station whenever it
changes, and the same state again every `HEARTBEAT_MS` while it lasts, so the signal horizon
never runs out while a camera is on; a `product_count` every few minutes of work. Cameras run
around the clock, so a worker who has left (a break, an absence, the end of the shift, the
night, the weekend) is reported `absent` at their home station until they come back. Planned
time (`planned_only=true`) leaves the nights out; the silent camera sends nothing at all.
"""

import random
from bisect import bisect_right, insort
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from . import calendars, ingest, queries
from .calendars import Break, Calendar, Shift, Site
from .db import transaction
from .errors import ApiError
from .timeutil import format_instant

SECOND_MS = 1000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

DEMO_MS = 7 * DAY_MS
LEAD_MS = 30 * MINUTE_MS  # on record before the first shift: time enough for an early arrival
HEARTBEAT_MS = 5 * MINUTE_MS
SILENT_WORKER = "W-02"
SILENT_FOR_MS = 47 * MINUTE_MS
WAITING_WORKER = "W-04"
WAITING_MS = 40 * MINUTE_MS

OLD_MODEL = "floorcam-2.3.1"
NEW_MODEL = "floorcam-2.4.0"
# The north plant's cameras took the new model at local midnight this many days before today.
UPGRADE_DAYS_AGO = 3
UPGRADED_SITE = "plant-north"
# The old model loses confidence on the south line over the last day and a half (new packaging it
# was not trained on): its mean falls by up to DRIFT_DROP, which the drift rule flags.
DRIFT_SITE = "plant-south"
DRIFT_MS = 36 * HOUR_MS
DRIFT_DROP = 0.16

WEEKDAYS = calendars.DAYS[:5]
# Each site plans its own shifts, so the shift report lists each site's shifts with that site's
# figures; the factory calendar only gives the zone a workstation without a site is read in.
FACTORY_CALENDAR = Calendar("Europe/Berlin", ())
SITES = {
    "plant-north": Site("North plant", "Europe/Berlin", (
        Shift("Early", "06:00", "14:00", WEEKDAYS, (Break("09:00", "09:15"), Break("11:30", "12:00"))),
        Shift("Late", "14:00", "22:00", WEEKDAYS, (Break("17:00", "17:15"), Break("19:30", "20:00"))),
    )),
    "plant-south": Site("South plant", "America/New_York", (
        Shift("Day", "07:00", "15:30", WEEKDAYS, (Break("09:30", "09:45"), Break("12:00", "12:30"))),
        Shift("Saturday", "07:00", "12:00", ("sat",), (Break("09:30", "09:45"),)),
    )),
}


class Station(NamedTuple):
    """A demo workstation and how work goes there."""

    workstation_id: str
    name: str
    site_id: str
    target_units_per_hour: float | None
    cycle_s: tuple  # seconds between two product counts: (shortest, longest)
    idle_odds: float  # chance of an idle spell after each spell of work
    idle_minutes: tuple  # length of an idle spell: (shortest, longest)


class Worker(NamedTuple):
    """A demo worker: crew (the shifts worked), home station, and the station helped at."""

    worker_id: str
    name: str
    site_id: str
    shifts: tuple
    home: str
    helps_at: str


# Two production stations a site, each staffed in every shift, and a side station (quality check,
# rework) without a target that workers visit. Painting is the station that runs behind: long
# drying waits, and a target set for a booth that does not wait.
WORKSTATIONS = (
    Station("WS-01", "Cutting", "plant-north", 16, (150, 330), 0.6, (3, 8)),
    Station("WS-02", "Welding", "plant-north", 10, (240, 480), 0.5, (2, 7)),
    Station("WS-03", "Quality check", "plant-north", None, (90, 240), 0.3, (2, 5)),
    Station("WS-04", "Assembly", "plant-south", 15, (180, 360), 0.4, (2, 6)),
    Station("WS-05", "Painting", "plant-south", 9, (360, 660), 0.7, (4, 9)),
    Station("WS-06", "Rework", "plant-south", None, (240, 600), 0.3, (2, 5)),
)
STATIONS = {station.workstation_id: station for station in WORKSTATIONS}
ZONES = {site_id: ZoneInfo(site.time_zone) for site_id, site in SITES.items()}
SIDE_STATION = {"plant-north": "WS-03", "plant-south": "WS-06"}

WORKERS = (
    Worker("W-01", "Ana Silva", "plant-north", ("Early",), "WS-01", "WS-02"),
    Worker("W-02", "Ben Okafor", "plant-north", ("Early",), "WS-02", "WS-01"),
    Worker("W-03", "Chen Wei", "plant-north", ("Late",), "WS-01", "WS-02"),
    Worker("W-04", "Dana Kowalski", "plant-north", ("Late",), "WS-02", "WS-01"),
    Worker("W-05", "Eli Haddad", "plant-south", ("Day", "Saturday"), "WS-04", "WS-05"),
    Worker("W-06", "Farah Nasser", "plant-south", ("Day", "Saturday"), "WS-05", "WS-04"),
)


# The demo's events are the only ones after a load: the largest row id is the last of them.
RECORD_DEMO_SQL = """
INSERT INTO demo_load (id, last_event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events WHERE true
ON CONFLICT (id) DO UPDATE SET last_event_id = excluded.last_event_id
"""
OTHER_EVENTS_SQL = "SELECT COUNT(*) FROM events WHERE id > COALESCE((SELECT last_event_id FROM demo_load), 0)"


# --- the floor as events (pure) ------------------------------------------------------------------

def site_calendar(site_id):
    """The calendar a demo site runs on."""
    return calendars.site_calendar(SITES[site_id], FACTORY_CALENDAR)


def demo_start_ms(now_ms):
    """Where the demo's events begin: `DEMO_MS` before `now_ms`, or earlier, at the start of a
    shift running then, so no shift of the last 7 days is only partly on record."""
    start_ms = now_ms - DEMO_MS
    for site_id in SITES:
        for instance in calendars.shift_instances(site_calendar(site_id), start_ms, start_ms + 1):
            start_ms = min(start_ms, instance.start_ms - LEAD_MS)
    return start_ms


def demo_events(now_ms):
    """Every event of the demo floor from `demo_start_ms(now_ms)` to `now_ms`, as event dicts
    sorted by time, each with its own `event_id` (pure)."""
    start_ms = demo_start_ms(now_ms)
    upgrade_ms = _local_midnight_ms(now_ms, SITES[UPGRADED_SITE].time_zone, -UPGRADE_DAYS_AGO)
    events = []
    for worker in WORKERS:
        end_ms = now_ms - SILENT_FOR_MS if worker.worker_id == SILENT_WORKER else now_ms
        states, stations = worker_plan(worker, start_ms, now_ms)
        events.extend(worker_events(worker, states, stations, start_ms, end_ms, now_ms, upgrade_ms))
    events.sort(key=lambda e: (e["ts_ms"], e["worker_id"], e["event_type"] == "product_count"))
    for number, event in enumerate(events, start=1):
        event["event_id"] = f"demo-{number:06d}"
    return events


def crew_instances(worker, start_ms, end_ms):
    """The shift instances a worker works that overlap `[start_ms, end_ms)`, whole."""
    return [instance for instance in calendars.shift_instances(site_calendar(worker.site_id), start_ms, end_ms)
            if instance.name in worker.shifts]


def worker_plan(worker, start_ms, now_ms):
    """A worker's state and station over `[start_ms, now_ms]` as two `Timeline`s (pure).

    Each shift instance of the worker's crew is planned on its own (`plan_shift`); outside them
    the worker is absent at their home station.
    """
    states = Timeline("absent")
    stations = Timeline(worker.home)
    for instance in crew_instances(worker, start_ms - DAY_MS, now_ms + DAY_MS):
        rng = random.Random(f"{worker.worker_id}/{instance.date}/{instance.name}")
        plan_shift(rng, instance, STATIONS[worker.home], worker.helps_at, SIDE_STATION[worker.site_id],
                   states, stations)
    if worker.worker_id == WAITING_WORKER and any(i.start_ms < now_ms < i.end_ms
                                                  for i in crew_instances(worker, now_ms, now_ms + 1)):
        # Out of material: at the station, not working, for the last stretch before now.
        states.replace(now_ms - WAITING_MS, now_ms + 1, "working", "idle")
    return states, stations


def plan_shift(rng, instance, home, helps_at, side_station, states, stations):
    """Paint one shift instance (`calendars.ShiftInstance`) of a worker onto their `states` and
    `stations` timelines: arrival, spells of work and idle time in the rhythm of their `home`
    station (a `Station`), the breaks, and now and then a late start, an absence, a hand at the
    station `helps_at` or a visit to `side_station`, and leaving (pure, given `rng`)."""
    if rng.random() < 0.03:
        return  # off sick: absent all shift
    arrive = instance.start_ms + rng.randint(-6, 5) * MINUTE_MS
    if rng.random() < 0.08:
        arrive += rng.randint(25, 70) * MINUTE_MS  # late
    leave = instance.end_ms + rng.randint(-5, 6) * MINUTE_MS
    if rng.random() < 0.05:
        leave -= rng.randint(40, 90) * MINUTE_MS  # leaves early
    at = arrive
    while at < leave:
        spell_end = min(leave, at + rng.randint(20, 60) * MINUTE_MS + rng.randint(0, 59) * SECOND_MS)
        states.paint(at, spell_end, "working")
        at = spell_end
        if at < leave and rng.random() < home.idle_odds:
            idle_end = min(leave, at + rng.randint(*home.idle_minutes) * MINUTE_MS + rng.randint(0, 59) * SECOND_MS)
            states.paint(at, idle_end, "idle")
            at = idle_end
    for break_start, break_end in instance.breaks:
        states.paint(break_start + rng.randint(-2, 3) * MINUTE_MS, break_end + rng.randint(0, 4) * MINUTE_MS,
                     "absent")
    if rng.random() < 0.2:
        away = _instant(rng, arrive + HOUR_MS, leave - 2 * HOUR_MS)
        states.paint(away, away + rng.randint(15, 40) * MINUTE_MS, "absent")  # called away
    if rng.random() < 0.6:
        helping = _instant(rng, arrive + HOUR_MS, leave - 2 * HOUR_MS)
        stations.paint(helping, helping + rng.randint(25, 50) * MINUTE_MS, helps_at)
    if rng.random() < 0.4:
        visit = _instant(rng, arrive + HOUR_MS, leave - HOUR_MS)
        stations.paint(visit, visit + rng.randint(10, 30) * MINUTE_MS, side_station)


def _instant(rng, earliest_ms, latest_ms):
    """A whole second from `earliest_ms` to `latest_ms` (just `earliest_ms` when that is later)."""
    return rng.randint(earliest_ms // SECOND_MS, max(earliest_ms, latest_ms) // SECOND_MS) * SECOND_MS


def worker_events(worker, states, stations, start_ms, end_ms, now_ms, upgrade_ms):
    """One worker's events in `[start_ms, end_ms]`: a state event at every change of state or
    station, the state again every `HEARTBEAT_MS`, and product counts while working (pure)."""
    rngs = {}
    events = []
    for segment_start, segment_end, state, station_id in segments(states, stations, start_ms, end_ms):
        station = STATIONS[station_id]
        events.append(_event(rngs, worker, segment_start, station, state, now_ms, upgrade_ms))
        for at in range(segment_start + HEARTBEAT_MS, segment_end, HEARTBEAT_MS):
            events.append(_event(rngs, worker, at, station, state, now_ms, upgrade_ms))
        if state == "working":
            rng = _day_rng(rngs, "units", worker, station, segment_start)
            for at, count in unit_counts(rng, segment_start, segment_end, station.cycle_s):
                event = _event(rngs, worker, at, station, "product_count", now_ms, upgrade_ms)
                event["count"] = count
                events.append(event)
    return events


def unit_counts(rng, start_ms, end_ms, cycle_s):
    """`(at_ms, count)` of the product counts of a spell of work in `[start_ms, end_ms)`: one every
    `cycle_s` seconds (shortest, longest), mostly of one unit."""
    at = start_ms + rng.randint(*cycle_s) * SECOND_MS
    while at < end_ms:
        yield at, rng.choice((1, 1, 1, 2))
        at += rng.randint(*cycle_s) * SECOND_MS


def segments(states, stations, start_ms, end_ms):
    """`(start, end, state, station)` stretches over `[start_ms, end_ms]` in which neither the
    state nor the station changes; the last ends at `end_ms`."""
    changes = sorted({at for at in states.changes() + stations.changes() if start_ms < at <= end_ms})
    found = []
    for at in [start_ms, *changes]:
        state, station = states.at(at), stations.at(at)
        if found and found[-1][2:] == (state, station):
            continue
        if found:
            found[-1][1] = at
        found.append([at, end_ms, state, station])
    return [tuple(segment) for segment in found]


def _day_rng(rngs, purpose, worker, station, at_ms):
    """One `random.Random` per worker, purpose and local date of the station's site."""
    day = datetime.fromtimestamp(at_ms / 1000, ZONES[station.site_id]).date()
    key = (purpose, day)
    if key not in rngs:
        rngs[key] = random.Random(f"{worker.worker_id}/{day.isoformat()}/{purpose}")
    return rngs[key]


def _event(rngs, worker, at_ms, station, event_type, now_ms, upgrade_ms):
    rng = _day_rng(rngs, "camera", worker, station, at_ms)
    model = NEW_MODEL if station.site_id == UPGRADED_SITE and at_ms >= upgrade_ms else OLD_MODEL
    if rng.random() < 0.03:
        confidence = rng.uniform(0.4, 0.6)  # a hard frame: occlusion, glare
    elif model == NEW_MODEL:
        confidence = rng.uniform(0.84, 0.98)
    else:
        confidence = rng.uniform(0.76, 0.95)
        if station.site_id == DRIFT_SITE:
            confidence -= DRIFT_DROP * min(1, max(0, (at_ms - (now_ms - DRIFT_MS)) / DRIFT_MS))
    return {
        "ts_ms": at_ms,
        "worker_id": worker.worker_id,
        "workstation_id": station.workstation_id,
        "event_type": event_type,
        "confidence": round(confidence, 2),
        "count": None,
        "model_version": model,
        "site_id": station.site_id,
    }


def _local_midnight_ms(at_ms, time_zone, days):
    """Local midnight of the date `days` after that of `at_ms` in `time_zone`, as epoch ms."""
    zone = ZoneInfo(time_zone)
    day = datetime.fromtimestamp(at_ms / 1000, zone).date().toordinal() + days
    midnight = datetime.fromordinal(day).replace(tzinfo=zone)
    return int(midnight.timestamp() * 1000)


class Timeline:
    """A value that changes at instants: `at(t)` is the value of the latest change at or before
    `t`, `first` before any. `paint` sets one value over a stretch and keeps what follows it."""

    def __init__(self, first):
        self.points = [(float("-inf"), first)]

    def at(self, at_ms):
        """The value in force at `at_ms`."""
        return self.points[bisect_right(self.points, (at_ms, chr(0x10FFFF))) - 1][1]

    def changes(self):
        """The instants at which a value starts."""
        return [at for at, _ in self.points[1:]]

    def paint(self, start_ms, end_ms, value):
        """`value` over `[start_ms, end_ms)`; from `end_ms` on, what was there before."""
        if end_ms <= start_ms:
            return
        after = self.at(end_ms)
        self.points = [point for point in self.points if not start_ms <= point[0] <= end_ms]
        insort(self.points, (start_ms, value))
        insort(self.points, (end_ms, after))

    def replace(self, start_ms, end_ms, old, new):
        """`new` wherever `old` holds inside `[start_ms, end_ms)`."""
        edges = [start_ms] + [at for at in self.changes() if start_ms < at < end_ms] + [end_ms]
        for begin, end in zip(edges, edges[1:], strict=False):
            if self.at(begin) == old:
                self.paint(begin, end, new)


# --- loading -------------------------------------------------------------------------------------

def load_demo(conn, now_ms, replace_all=False):
    """Clear every event, worker and workstation and load the demo floor, in one transaction.

    Refused (`409`) while the database holds an event the demo did not load, unless
    `replace_all`; the check and the load share the transaction, so no event stored in between
    is lost. Returns what was loaded: counts, the time range and the sites.
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
    """Load the demo floor when the database holds no event; `True` when it did.

    Check and load share one transaction, so several server processes starting at once on one
    empty file load it once.
    """
    with transaction(conn):
        if queries.count_events(conn):
            return False
        _replace_all(conn, now_ms)
    return True


def _replace_all(conn, now_ms):
    events = demo_events(now_ms)
    for statement in queries.CLEAR_ALL_SQL:
        conn.execute(statement)
    ingest.store_events(conn, [ingest.NewEvent(**event) for event in events], now_ms)
    queries.save_calendar(conn, FACTORY_CALENDAR)
    for site_id, site in SITES.items():
        queries.save_site(conn, site_id, site)
    for station in WORKSTATIONS:
        queries.set_workstation(conn, station.workstation_id, name=station.name, site_id=station.site_id,
                                target_units_per_hour=station.target_units_per_hour)
    for worker in WORKERS:
        queries.set_worker_name(conn, worker.worker_id, worker.name)
    conn.execute(RECORD_DEMO_SQL)
    return {
        "workers": len(WORKERS),
        "workstations": len(WORKSTATIONS),
        "events": len(events),
        "units": sum(event["count"] or 0 for event in events),
        "from": format_instant(events[0]["ts_ms"]),
        "to": format_instant(max(event["ts_ms"] for event in events)),
        "sites": [{"site_id": site_id, "name": site.name, "time_zone": site_calendar(site_id).time_zone,
                   "shifts": [shift.name for shift in site_calendar(site_id).shifts]}
                  for site_id, site in SITES.items()],
    }
