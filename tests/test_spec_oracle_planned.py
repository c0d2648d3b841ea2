"""SPEC §5 "Sites, shifts and planned time", differentially: random floors against an oracle.

The oracle below is written from SPEC.md (and the README's stated choices where SPEC is silent)
alone, with `zoneinfo`; it shares no code with the backend. Each seeded floor has a factory
calendar and two configured sites in zones among Europe/Berlin, America/New_York, Asia/Kolkata
and UTC, over a day and a half around a DST change; shifts cross midnight, run on some `days`
only, and have breaks (also after midnight of a night shift); workers change stations; some
stations are moved to another site with `PUT /workstations/<id>`; targets include 0 and `null`.
Every figure of `/metrics/workers`, `/metrics/workstations` and `/metrics/factory`, with
`planned_only` false and true over several windows, and every instance of `GET /metrics/shifts`,
is compared with the oracle: seconds to 1e-6, rounded ratios exactly (either side of an exact
tie), everything else exactly.

The signal horizon is on at its default (900 s), as in production; the clock is pinned and moved
forward only, as events arrive.

Readings of the oracle where SPEC leaves room (each stated where it is used):
- A site with its own `shifts` but no `time_zone` reads them in the factory calendar's zone.
- A planned piece is closed: a product count at a shift's start or end, or at a break's start
  or end, lies in planned time ("ends included").
- The shift report lists an instance when it has time in the closed range `[from, to]` or
  starts at its end: one that ends where the range starts is not listed (README);
  `status` is `done` when `end <= now`, `running` when `start <= now < end`, else `planned`.
- "A site's own calendar" (listed with its `site_id` in the shift report, whose figures then take
  that `site_id`) is a configured site whose calendar plans differently from the factory
  calendar: another zone or other shifts. One with the factory's zone and shifts is read with the
  factory calendar's instances (README).
- `target_units` (neither seconds nor a ratio in SPEC) is compared rounded to 2 decimals, as the
  service gives it.

The tests at the end pin those two readings at their smallest.
"""

import bisect
import datetime as dt
import math
import random
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import get_ok

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
STATES = ("working", "idle", "absent")
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]
HORIZON_MS = 900_000
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

# (a zone with a clock change, the instant of that change)
SCENARIOS = [
    ("Europe/Berlin", "2026-03-29T01:00:00Z"),  # 02:00 CET -> 03:00 CEST
    ("America/New_York", "2026-03-08T07:00:00Z"),  # 02:00 EST -> 03:00 EDT
    ("America/New_York", "2026-11-01T06:00:00Z"),  # 02:00 EDT -> 01:00 EST
    ("Europe/Berlin", "2026-10-25T01:00:00Z"),  # 03:00 CEST -> 02:00 CET
]


@pytest.fixture
def config(config):
    """The production default signal horizon (conftest runs without one)."""
    return {**config, "STATE_MAX_GAP_SECONDS": 900}


# --------------------------------------------------------------------------------------------
# Instants
# --------------------------------------------------------------------------------------------

def ms_of(text):
    """Epoch milliseconds of an ISO-8601 instant."""
    return (dt.datetime.fromisoformat(text.replace("Z", "+00:00")) - EPOCH) // dt.timedelta(milliseconds=1)


def iso_of(ms):
    """UTC ISO-8601 text ending in `Z`; milliseconds only when there are any."""
    moment = EPOCH + dt.timedelta(milliseconds=ms)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += ".%03d" % (ms % 1000)
    return text + "Z"


def minutes_of(hhmm):
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def hhmm_of(minutes):
    minutes %= 1440
    return "%02d:%02d" % (minutes // 60, minutes % 60)


def wall_to_ms(date, minutes, zone):
    """A wall-clock time of `zone` on `date` as an instant: the UTC offset in force before any
    transition at that time (`fold=0`: a time in a gap or in a repeated hour takes the earlier offset)."""
    local = dt.datetime.combine(date, dt.time(minutes // 60, minutes % 60), tzinfo=zone)  # fold=0
    return (local - EPOCH) // dt.timedelta(milliseconds=1)


# --------------------------------------------------------------------------------------------
# Calendars: shift instances and planned time
# --------------------------------------------------------------------------------------------

def shift_instances(time_zone, shifts, lo_ms, hi_ms):
    """Every instance of `shifts` whose local start date lies around `[lo_ms, hi_ms]`:
    dicts with name, date, start, end (ms) and breaks [(start, end)] (ms), by start."""
    zone = ZoneInfo(time_zone)
    first = (EPOCH + dt.timedelta(milliseconds=lo_ms)).astimezone(zone).date() - dt.timedelta(days=2)
    last = (EPOCH + dt.timedelta(milliseconds=hi_ms)).astimezone(zone).date() + dt.timedelta(days=1)
    found = []
    date = first
    while date <= last:
        for shift in shifts:
            days = shift.get("days") or DAY_NAMES
            if DAY_NAMES[date.weekday()] not in days:
                continue
            start_min, end_min = minutes_of(shift["start"]), minutes_of(shift["end"])
            end_date = date + dt.timedelta(days=1) if end_min <= start_min else date
            breaks = []
            for pause in shift.get("breaks") or []:
                times = []
                for key in ("start", "end"):
                    minute = minutes_of(pause[key])
                    on = date + dt.timedelta(days=1) if minute < start_min else date
                    times.append(wall_to_ms(on, minute, zone))
                breaks.append(tuple(times))
            found.append({"name": shift["name"], "date": date.isoformat(),
                          "start": wall_to_ms(date, start_min, zone), "end": wall_to_ms(end_date, end_min, zone),
                          "breaks": sorted(breaks)})
        date += dt.timedelta(days=1)
    found.sort(key=lambda instance: instance["start"])
    return found


def instance_pieces(instance):
    """The instance minus its breaks: closed pieces [lo, hi]."""
    pieces, cursor = [], instance["start"]
    for start, end in instance["breaks"]:
        if start > cursor:
            pieces.append((cursor, start))
        cursor = max(cursor, end)
    if instance["end"] > cursor:
        pieces.append((cursor, instance["end"]))
    return pieces


def merge(pieces):
    """The union of closed pieces, touching ones joined, sorted."""
    merged = []
    for lo, hi in sorted(pieces):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def measure_within(pieces, lo, hi):
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in pieces)


def cut_to(pieces, lo, hi):
    """The parts of [lo, hi] inside `pieces` (sorted, disjoint), as intervals of positive length."""
    return [(max(a, lo), min(b, hi)) for a, b in pieces if min(b, hi) > max(a, lo)]


def inside(pieces, t):
    """`t` lies in one of the closed pieces (ends included)."""
    at = bisect.bisect_right(pieces, (t, math.inf))
    return at > 0 and pieces[at - 1][0] <= t <= pieces[at - 1][1]


def union_length(intervals):
    return sum(hi - lo for lo, hi in merge(intervals))


# --------------------------------------------------------------------------------------------
# The oracle: a floor and its figures
# --------------------------------------------------------------------------------------------

def _normal(shifts):
    """Shifts as compared for sameness: each one's times, days (all when not given) and breaks."""
    return sorted((shift["name"], shift["start"], shift["end"], tuple(shift.get("days") or DAY_NAMES),
                   tuple((b["start"], b["end"]) for b in shift.get("breaks", ()))) for shift in shifts or ())


class Floor:
    """What the service was told, and the figures SPEC §5 derives from it."""

    def __init__(self, factory_tz, lo_ms, hi_ms):
        self.events = []
        self.keys = set()
        self.workers = {}  # id -> name
        self.stations = {}  # id -> {"name", "site", "target"}
        self.calendar = {"time_zone": factory_tz, "shifts": []}
        self.sites = {}  # configured sites: id -> {"time_zone", "shifts"}
        self.seen_sites = set()
        self.lo, self.hi = lo_ms, hi_ms  # every planned piece that matters lies in here
        self._planned = {}

    # what the service is told

    def store(self, body):
        """An accepted event (a duplicate is not stored, and registers nothing)."""
        ts = ms_of(body["timestamp"])
        key = (ts, body["worker_id"], body["workstation_id"], body["event_type"], body.get("count"))
        if key in self.keys:
            return False
        self.keys.add(key)
        self.events.append({"id": len(self.events), "ts": ts, "worker": body["worker_id"],
                            "ws": body["workstation_id"], "type": body["event_type"], "count": body.get("count"),
                            "site": body.get("site_id")})
        self.workers.setdefault(body["worker_id"], body["worker_id"])
        self.stations.setdefault(body["workstation_id"], {"name": body["workstation_id"],
                                                          "site": body.get("site_id"), "target": None})
        if body.get("site_id") is not None:
            self.seen_sites.add(body["site_id"])
        return True

    def put_calendar(self, body):
        self.calendar = {"time_zone": body.get("time_zone") or self.calendar["time_zone"], "shifts": body["shifts"]}
        self._planned.clear()

    def put_site(self, site_id, body):
        self.sites[site_id] = {"time_zone": body.get("time_zone"), "shifts": body.get("shifts")}
        self._planned.clear()

    # calendars

    def own_calendar(self, site):
        """Whether `site` plans with a calendar of its own: another zone or other shifts than the
        factory calendar's."""
        if self.sites.get(site) is None:
            return False
        zone, shifts = self.calendar_of(site)
        return zone != self.calendar["time_zone"] or _normal(shifts) != _normal(self.calendar["shifts"])

    def calendar_of(self, site):
        """(time zone, shifts) a site plans with: its own shifts, else the factory's, in the site's
        zone when it has one (reading: own shifts without a zone use the factory calendar's zone)."""
        conf = self.sites.get(site) if site is not None else None
        if conf is None:
            return self.calendar["time_zone"], self.calendar["shifts"]
        zone = conf["time_zone"] or self.calendar["time_zone"]
        shifts = conf["shifts"] if conf["shifts"] is not None else self.calendar["shifts"]
        return zone, shifts

    def planned(self, site):
        """The planned time of `site`: the union of its instances minus each one's breaks."""
        if site not in self._planned:
            zone, shifts = self.calendar_of(site)
            pieces = [piece for instance in shift_instances(zone, shifts, self.lo, self.hi)
                      for piece in instance_pieces(instance)]
            self._planned[site] = merge(pieces)
        return self._planned[site]

    def site_of(self, station):
        return self.stations[station]["site"]

    # figures

    def metrics(self, now, frm=None, to=None, site_id=None, planned_only=False, max_gap=None):
        """`{"window", "workers": {id: item}, "workstations": {id: item}, "factory"}` (unrounded)."""
        gap = HORIZON_MS if max_gap is None else round(max_gap * 1000)
        scope = [e for e in self.events if site_id is None or e["site"] == site_id]
        if site_id is None:
            worker_ids, station_ids = list(self.workers), list(self.stations)
        else:
            worker_ids = list(dict.fromkeys(e["worker"] for e in scope))
            station_ids = list(dict.fromkeys(e["ws"] for e in scope))
        empty = not scope and (frm is None or to is None)
        if empty:
            S = E = None
            length = 0
        else:
            E = to if to is not None else max(e["ts"] for e in scope)
            E = min(E, now)
            S = frm if frm is not None else min(e["ts"] for e in scope)
            length = max(0, E - S)

        def planned_cut(lo, hi, station):
            if lo >= hi:
                return []
            if not planned_only:
                return [(lo, hi)]
            return cut_to(self.planned(self.site_of(station)), lo, hi)

        workers, occupied = {}, {station: [] for station in station_ids}
        units_at = dict.fromkeys(station_ids, 0)
        for worker in worker_ids:
            seconds = dict.fromkeys(("working", "idle", "absent", "unknown"), 0)
            states = sorted((e for e in scope if e["worker"] == worker and e["type"] in STATES),
                            key=lambda e: (e["ts"], e["id"]))
            last = None
            if not empty:
                for i, e in enumerate(states):
                    end = states[i + 1]["ts"] if i + 1 < len(states) else E
                    known_end = min(end, e["ts"] + gap) if gap else end
                    parts = planned_cut(max(e["ts"], S), min(known_end, E), e["ws"])
                    seconds[e["type"]] += sum(hi - lo for lo, hi in parts)
                    if e["type"] in ("working", "idle") and e["ws"] in occupied:
                        occupied[e["ws"]].extend(parts)
                    if gap and e["ts"] + gap < end:
                        parts = planned_cut(max(e["ts"] + gap, S), min(end, E), e["ws"])
                        seconds["unknown"] += sum(hi - lo for lo, hi in parts)
                    if e["ts"] <= E:
                        last = e
            units = 0
            if not empty:
                for e in scope:
                    if e["worker"] != worker or e["type"] != "product_count" or not S <= e["ts"] <= E:
                        continue
                    if planned_only and not inside(self.planned(self.site_of(e["ws"])), e["ts"]):
                        continue
                    units += e["count"]
                    units_at[e["ws"]] += e["count"]
            active, idle = seconds["working"], seconds["idle"]
            workers[worker] = {
                "worker_id": worker, "name": self.workers[worker],
                "active_seconds": active / 1000, "idle_seconds": idle / 1000,
                "absent_seconds": seconds["absent"] / 1000, "unknown_seconds": seconds["unknown"] / 1000,
                "utilization_pct": ratio(100 * active, active + idle),
                "units": units, "units_per_hour": ratio(units * HOUR, active),
                "last_state": last and last["type"], "last_seen": last and last["ts"],
                "current_workstation_id": last and last["ws"],
                "state_at_end": None if last is None else (
                    "unknown" if gap and last["ts"] + gap < E else last["type"]),
            }
        stations = {}
        for station in station_ids:
            info = self.stations[station]
            occupancy = union_length(occupied[station])
            planned = 0 if empty else measure_within(self.planned(info["site"]), S, E)
            target = info["target"]
            target_units = None if target is None else target * planned / HOUR
            stations[station] = {
                "workstation_id": station, "name": info["name"],
                "occupancy_seconds": occupancy / 1000,
                "utilization_pct": ratio(100 * occupancy, planned if planned_only else length),
                "units": units_at[station], "throughput_per_hour": ratio(units_at[station] * HOUR, occupancy),
                "planned_seconds": planned / 1000, "target_units_per_hour": target, "target_units": target_units,
                "attainment_pct": None if target is None else ratio(100 * units_at[station], target_units),
            }
        total = {key: sum(w[key] for w in workers.values())
                 for key in ("active_seconds", "idle_seconds", "unknown_seconds", "units")}
        busy = [w["utilization_pct"] for w in workers.values() if w["active_seconds"] + w["idle_seconds"] > 0]
        with_target = [s for s in stations.values() if s["target_units"] is not None]
        target_sum = sum(s["target_units"] for s in with_target) if with_target else None
        factory = {
            "total_active_seconds": total["active_seconds"], "total_idle_seconds": total["idle_seconds"],
            "total_unknown_seconds": total["unknown_seconds"], "total_units": total["units"],
            "average_production_rate": ratio(total["units"] * 3600, total["active_seconds"]),
            "average_utilization_pct": sum(busy) / len(busy) if busy else 0,
            "worker_count": len(workers), "workstation_count": len(stations),
            "event_count": 0 if empty else sum(1 for e in scope if S <= e["ts"] <= E),
            "target_units": target_sum,
            "attainment_pct": None if target_sum is None else ratio(100 * sum(s["units"] for s in with_target),
                                                                    target_sum),
        }
        return {"window": {"from": S, "to": E, "seconds": length / 1000},
                "workers": workers, "workstations": stations, "factory": factory}

    def shift_report(self, now, frm, to, site_id=None):
        """The instances overlapping [frm, to] (a shared point is enough), oldest first."""
        calendars = [None] + sorted(site for site in self.sites if self.own_calendar(site))
        if site_id is not None:
            calendars = [site_id]
        rows = []
        for site in calendars:
            zone, shifts = self.calendar_of(site)
            for instance in shift_instances(zone, shifts, frm, to):
                if not (instance["start"] <= to and instance["end"] > frm):
                    continue
                status = ("done" if instance["end"] <= now else
                          "running" if instance["start"] <= now else "planned")
                planned = sum(hi - lo for lo, hi in instance_pieces(instance))
                figures = self.metrics(now, instance["start"], instance["end"], site_id=site, planned_only=True)
                rows.append({"site_id": site, "shift": instance["name"], "date": instance["date"],
                             "start": instance["start"], "end": instance["end"], "planned_seconds": planned / 1000,
                             "status": status, **figures})
        rows.sort(key=lambda row: row["start"])
        return rows


def ratio(numerator, denominator):
    """A ratio, 0 when the denominator is 0 (rounded only when compared)."""
    return numerator / denominator if denominator else 0


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------

SECONDS = {"active_seconds", "idle_seconds", "absent_seconds", "unknown_seconds", "occupancy_seconds",
           "planned_seconds", "total_active_seconds", "total_idle_seconds", "total_unknown_seconds", "seconds",
           "target_units_per_hour"}
# `target_units` is neither seconds nor a ratio in SPEC; the service rounds it to 2 decimals like a rate.
RATIOS = {"target_units", "utilization_pct", "units_per_hour", "throughput_per_hour", "attainment_pct",
          "average_production_rate", "average_utilization_pct"}
INSTANTS = {"last_seen", "from", "to", "start", "end"}


def rounds_to(api, exact):
    """`api` is `exact` rounded to 2 decimals (either neighbour when `exact` is within 1e-6 of a tie)."""
    scaled = exact * 100
    low, high = math.floor(scaled), math.ceil(scaled)
    if abs(scaled - low - 0.5) < 1e-6:
        return any(abs(api * 100 - n) < 1e-6 for n in (low, high))
    return abs(api - round(exact, 2)) < 1e-9


def differences(where, api, expected, problems):
    """Adds to `problems` each figure of `expected` that `api` does not give."""
    for key, want in expected.items():
        if key not in api:
            problems.append(f"{where}: no {key!r} (want {want!r})")
            continue
        got = api[key]
        if want is None or got is None:
            same = want is None and got is None
        elif key in INSTANTS:
            same = isinstance(got, str) and ms_of(got) == want
            want = iso_of(want)
        elif key in SECONDS:
            same = isinstance(got, (int, float)) and abs(got - want) <= 1e-6
        elif key in RATIOS:
            same = isinstance(got, (int, float)) and rounds_to(got, want)
        else:
            same = got == want
        if not same:
            problems.append(f"{where}: {key} api={got!r} oracle={want!r}")


def compare_metrics(where, api, expected, problems):
    """`api`: the three bodies' parts (`window`, `workers` list, `workstations` list, `factory`)."""
    differences(f"{where} window", api["window"], expected["window"], problems)
    differences(f"{where} factory", api["factory"], expected["factory"], problems)
    for kind, key in (("workers", "worker_id"), ("workstations", "workstation_id")):
        got = {item[key]: item for item in api[kind]}
        if set(got) != set(expected[kind]):
            problems.append(f"{where} {kind}: api lists {sorted(got)}, oracle {sorted(expected[kind])}")
        for ident in sorted(set(got) & set(expected[kind])):
            differences(f"{where} {kind}[{ident}]", got[ident], expected[kind][ident], problems)


def query_of(frm=None, to=None, site_id=None, planned_only=False, max_gap=None):
    query = {"planned_only": "true" if planned_only else "false"}
    if frm is not None:
        query["from"] = iso_of(frm)
    if to is not None:
        query["to"] = iso_of(to)
    if site_id is not None:
        query["site_id"] = site_id
    if max_gap is not None:
        query["max_gap_seconds"] = str(max_gap)
    return query


def api_metrics(client, query):
    workers = get_ok(client, "/metrics/workers", query)
    stations = get_ok(client, "/metrics/workstations", query)
    fac = get_ok(client, "/metrics/factory", query)
    assert workers["window"] == stations["window"] == fac["window"]
    return {"window": fac["window"], "workers": workers["workers"], "workstations": stations["workstations"],
            "factory": fac["factory"]}


def compare_query(client, floor, now, problems, **query):
    api = api_metrics(client, query_of(**query))
    compare_metrics(f"metrics {query_of(**query)}", api, floor.metrics(now, **query), problems)
    return api


def compare_report(client, floor, now, frm, to, problems, site_id=None):
    query = {"from": iso_of(frm), "to": iso_of(to)}
    if site_id is not None:
        query["site_id"] = site_id
    body = get_ok(client, "/metrics/shifts", query)
    expected = floor.shift_report(now, frm, to, site_id)
    order = lambda row: (ms_of(row["start"]) if isinstance(row["start"], str) else row["start"],  # noqa: E731
                         row["site_id"] or "", row["shift"])
    api_rows, oracle_rows = sorted(body["shifts"], key=order), sorted(expected, key=order)
    starts = [ms_of(row["start"]) for row in body["shifts"]]
    if starts != sorted(starts):
        problems.append(f"shifts {query}: not oldest first")
    api_keys = [(r["site_id"], r["shift"], r["date"]) for r in api_rows]
    oracle_keys = [(r["site_id"], r["shift"], r["date"]) for r in oracle_rows]
    if api_keys != oracle_keys:
        problems.append(f"shifts {query}: api lists {api_keys}, oracle {oracle_keys}")
    oracle_by_key = dict(zip(oracle_keys, oracle_rows, strict=True))
    for key, row in zip(api_keys, api_rows, strict=True):
        if key not in oracle_by_key:
            continue
        want = oracle_by_key[key]
        where = f"shift {key}"
        differences(where, row, {name: want[name] for name in ("start", "end", "planned_seconds", "status")},
                    problems)
        compare_metrics(where, row, want, problems)
    return len(api_rows)


# --------------------------------------------------------------------------------------------
# Random floors
# --------------------------------------------------------------------------------------------

SHIFT_NAMES = ["Early", "Late", "Night", "Swing"]


def random_shifts(rng, count=None):
    shifts = []
    for name in SHIFT_NAMES[:count if count is not None else rng.randint(1, 3)]:
        if rng.random() < 0.35:
            start = rng.choice([0, 60, 90, 120, 150, 180, 1320, 1380])  # near the night's clock changes
        else:
            start = rng.randrange(0, 1440, 30)
        length = rng.choice([120, 240, 360, 480, 480, 600, 720, 1440]) + rng.choice([0, 0, 15, 45])
        length = min(length, 1440)
        shift = {"name": name, "start": hhmm_of(start), "end": hhmm_of(start + length)}
        if rng.random() < 0.5:
            shift["days"] = [day for day in DAY_NAMES if rng.random() < 0.6] or [rng.choice(DAY_NAMES)]
        breaks, cursor = [], 15
        for _ in range(rng.randint(0, 2)):
            begin = cursor + rng.randrange(0, max(1, length - cursor - 60), 15)
            end = begin + rng.choice([15, 30, 45])
            if end > length - 15:
                break
            breaks.append({"start": hhmm_of(start + begin), "end": hhmm_of(start + end)})
            cursor = end + 15
        if breaks or rng.random() < 0.5:
            shift["breaks"] = breaks
        shifts.append(shift)
    if rng.random() < 0.5:
        # A shift through the hours where clocks change (01:00-03:00 local), a break in them.
        start = rng.choice([1260, 1320, 1380, 30, 90, 120, 150])
        length = rng.choice([360, 420, 480, 540])
        pause = rng.choice([60, 90, 120, 135, 150]) - start % 1440 + (1440 if start > 600 else 0)
        shift = {"name": "Graveyard", "start": hhmm_of(start), "end": hhmm_of(start + length)}
        if 15 <= pause and pause + 60 <= length:
            shift["breaks"] = [{"start": hhmm_of(start + pause), "end": hhmm_of(start + pause + rng.choice([15, 30]))}]
        shifts.append(shift)
    return shifts


def sane(time_zone, shifts, lo, hi):
    """No instance near the floor whose real-time ends are out of order (a shift or break that
    starts in a spring-forward gap and ends just after it): SPEC gives such a thing no length."""
    for instance in shift_instances(time_zone, shifts, lo, hi):
        if instance["end"] <= instance["start"]:
            return False
        cursor = instance["start"]
        for start, end in instance["breaks"]:
            if not cursor < start < end < instance["end"]:
                return False
            cursor = end
    return True


def sane_shifts(rng, time_zone, lo, hi, count=None):
    while True:
        shifts = random_shifts(rng, count)
        if sane(time_zone, shifts, lo, hi):
            return shifts


def build_floor(rng, make_client, clock, scenario):
    """A random floor on a new app around the clock change of `SCENARIOS[scenario]`:
    `(client, floor, facts)`."""
    primary, change = SCENARIOS[scenario]
    change = ms_of(change)
    span_lo = change - rng.randint(14, 22) * HOUR + rng.randrange(0, 60) * MINUTE
    span_hi = change + rng.randint(10, 16) * HOUR + rng.randrange(0, 60) * MINUTE
    lo, hi = span_lo - 3 * 24 * HOUR, span_hi + 4 * 24 * HOUR

    factory_tz = primary if rng.random() < 0.6 else rng.choice(ZONES)
    default_tz = rng.choice([factory_tz, "UTC", "Asia/Kolkata"])  # FACTORY_TZ
    clock.set(iso_of(span_lo - HOUR))
    client = make_client(FACTORY_TZ=default_tz)
    floor = Floor(default_tz, lo, hi)

    # The factory calendar; its zone given, or left to FACTORY_TZ.
    calendar = {"shifts": sane_shifts(rng, factory_tz, lo, hi)}
    if factory_tz != default_tz or rng.random() < 0.5:
        calendar["time_zone"] = factory_tz
    response = client.put("/calendar", json=calendar)
    assert response.status_code == 200, (calendar, response.get_json())
    floor.put_calendar(calendar)

    # north: own shifts, in its own zone or (sometimes) the factory calendar's.
    north_tz = rng.choice([primary, primary, rng.choice(ZONES), None])
    north = {"name": "North", "shifts": sane_shifts(rng, north_tz or factory_tz, lo, hi)}
    if north_tz is not None or rng.random() < 0.5:
        north["time_zone"] = north_tz
    # south: the factory's shifts in its zone, its own, none at all, or just a name.
    variant = rng.choice(["zone", "zone", "own", "nothing", "name"])
    # A site in the factory calendar's own zone without shifts of its own plans exactly as the
    # factory does and is read with it (test_a_site_planning_as_the_factory_does_is_read_with_it):
    # the zone-only site gets another zone, so it is listed on its own.
    south_tz = rng.choice([z for z in ZONES + [primary] if variant != "zone" or z != factory_tz])
    south = {"name": "South"}
    if variant in ("zone", "own", "nothing"):
        south["time_zone"] = south_tz
    if variant == "own":
        south["shifts"] = sane_shifts(rng, south_tz, lo, hi)
    if variant == "nothing":
        south["shifts"] = []
    for site, body in (("north", north), ("south", south)):
        response = client.put(f"/sites/{site}", json=body)
        assert response.status_code == 200, (site, body, response.get_json())
        floor.put_site(site, body)
    if variant == "zone" and not sane(south_tz, floor.calendar["shifts"], lo, hi):
        floor.put_site("south", {"name": "South"})  # fall back to the factory calendar
        assert client.put("/sites/south", json={"name": "South", "time_zone": None}).status_code == 200

    # Now: after the data; mostly exactly where an instance starts or ends (its status).
    bounds = [t for site in (None, "north", "south")
              for instance in shift_instances(*floor.calendar_of(site), span_hi, span_hi + 3 * HOUR)
              for t in (instance["start"], instance["end"]) if span_hi <= t <= span_hi + 3 * HOUR]
    now = rng.choice(bounds) if bounds and rng.random() < 0.7 else span_hi + rng.randrange(0, 120) * MINUTE

    # Instants worth hitting: every planned piece's ends of every calendar in play.
    marks = sorted({t for site in (None, "north", "south") for piece in floor.planned(site) for t in piece
                    if span_lo <= t <= now})

    workers = ["W%d" % n for n in range(1, rng.randint(2, 4) + 1)]
    stations = ["S%d" % n for n in range(1, rng.randint(3, 4) + 1)]
    homes = {station: rng.choice(["north", "south", "c", None]) for station in stations}
    total = rng.randint(20, 60)
    bodies, keys = [], set()

    def add(ts, worker, station, kind, count=None):
        key = (ts, worker, station, kind, count)
        if key in keys or ts > now + 250 * SECOND or len(bodies) >= total:
            return
        keys.add(key)
        site = homes[station] if rng.random() < 0.8 else rng.choice(["north", "south", "c", None])
        body = {"timestamp": iso_of(ts), "worker_id": worker, "workstation_id": station, "event_type": kind}
        if count is not None:
            body["count"] = count
        if site is not None:
            body["site_id"] = site
        bodies.append(body)

    def some_time(lo_ms, hi_ms):
        if marks and rng.random() < 0.35:
            t = rng.choice(marks) + rng.choice([0, 0, 0, -SECOND, SECOND, -MINUTE, MINUTE])
        else:
            t = rng.randrange(lo_ms, hi_ms, SECOND)
        if rng.random() < 0.1:
            t += rng.randrange(1, 1000)
        return t

    for number, worker in enumerate(workers):
        budget = (total - 2) * (number + 1) // len(workers)  # all bodies so far, this worker's included
        begin = rng.randrange(span_lo, span_hi - 8 * HOUR, MINUTE)
        finish = min(begin + rng.randint(8, 20) * HOUR, now)
        times = sorted(some_time(begin, finish) for _ in range(budget))
        station, state = rng.choice(stations), "working"
        for t in times:
            if len(bodies) >= budget:
                break
            if rng.random() < 0.3:
                add(t, worker, station, "product_count", rng.randint(1, 20))
                continue
            if rng.random() < 0.25:
                station = rng.choice(stations)
            state = rng.choice(["working", "working", "idle", "absent"])
            add(t, worker, station, state)
            if rng.random() < 0.1:  # another state event at the same instant: arrival decides
                add(t, worker, station, rng.choice([s for s in STATES if s != state]))
            for n in range(rng.choice([0, 0, 1, 2, 3])):  # heartbeats
                add(t + (n + 1) * rng.randint(200, 880) * SECOND, worker, station, state)
    # Two events a little past `now` (within the clock skew allowed).
    total += 2
    for worker in workers[:2]:
        add(now + rng.randint(1, 240) * SECOND, worker, rng.choice(stations), rng.choice(["working", "idle"]))

    # They arrive as they happen, some late; the clock only moves forward.
    arrivals = []
    for body in bodies:
        ts = ms_of(body["timestamp"])
        delay = rng.randint(0, 60) * SECOND if rng.random() < 0.85 else rng.randint(1, 6) * HOUR
        arrivals.append((min(ts + delay, now), rng.random(), body))
    arrivals.sort(key=lambda item: item[:2])
    accepted = 0
    while arrivals:
        size = rng.randint(1, 12)
        batch, arrivals = arrivals[:size], arrivals[size:]
        clock_ms = max(clock.ms, max(item[0] for item in batch))
        clock.set(iso_of(clock_ms))
        rng.shuffle(batch)
        batch_bodies = [item[2] for item in batch]
        response = client.post("/events", json=batch_bodies)
        assert response.status_code in (200, 201), response.get_json()
        results = response.get_json()["results"]
        for body, result in zip(batch_bodies, results, strict=True):
            stored = floor.store(body)
            assert result["status"] == ("accepted" if stored else "duplicate"), (body, result)
            accepted += stored
    clock.set(iso_of(now))

    # Stations moved, targets (0 and null among them), names.
    known_sites = ["north", "south", None] + sorted(floor.seen_sites - {"north", "south"})
    for station in sorted(floor.stations):
        body = {}
        if rng.random() < 0.4:
            body["site_id"] = rng.choice(known_sites)
        if rng.random() < 0.8:
            body["target_units_per_hour"] = rng.choice([None, 0, 5, 7.25, 12.5, 30])
        if rng.random() < 0.2:
            body["name"] = f"Station {station}"
        if body:
            response = client.put(f"/workstations/{station}", json=body)
            assert response.status_code == 200, (body, response.get_json())
            info = floor.stations[station]
            info["site"] = body.get("site_id", info["site"])
            info["target"] = body.get("target_units_per_hour", info["target"])
            info["name"] = body.get("name", info["name"])
    for worker in sorted(floor.workers):
        if rng.random() < 0.3:
            assert client.put(f"/workers/{worker}", json={"name": f"Worker {worker}"}).status_code == 200
            floor.workers[worker] = f"Worker {worker}"
    facts = {"span": (span_lo, span_hi), "now": now, "change": change, "marks": marks, "accepted": accepted}
    return client, floor, facts


SEEDS = list(range(1, 13))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_floor_matches_the_oracle(make_client, clock, seed):
    rng = random.Random(seed)
    client, floor, facts = build_floor(rng, make_client, clock, seed % len(SCENARIOS))
    now, (span_lo, span_hi), change = facts["now"], facts["span"], facts["change"]
    problems = []
    ts = sorted(e["ts"] for e in floor.events)
    inner_lo = rng.randrange(span_lo, change, MINUTE)
    windows = [
        {},  # the whole data
        {"frm": inner_lo, "to": rng.randrange(inner_lo, span_hi, MINUTE)},  # inside
        {"frm": span_lo - 3 * HOUR, "to": change + 2 * HOUR},  # straddling the first event and the clock change
        {"frm": now - 10 * HOUR, "to": now + 5 * HOUR},  # past now: E = now
        {"frm": rng.choice(ts)},  # from only
        {"to": rng.choice(ts)},  # to only
        {"frm": (t := rng.choice(ts)), "to": t},  # a point
    ]
    if facts["marks"]:
        a, b = sorted(rng.sample(facts["marks"], 2)) if len(facts["marks"]) > 1 else (facts["marks"][0],) * 2
        windows.append({"frm": a, "to": b})  # planned-piece ends as the window's ends
    windows.append({**windows[1], "site_id": rng.choice(["north", "south"])})
    windows.append({**windows[2], "max_gap": rng.choice([0, 300])})
    for window in windows:
        for planned_only in (False, True):
            compare_query(client, floor, now, problems, planned_only=planned_only, **window)
    # One item endpoint each: exactly the list's item.
    query = query_of(frm=windows[1]["frm"], to=windows[1]["to"], planned_only=True)
    worker, station = sorted(floor.workers)[0], sorted(floor.stations)[0]
    assert get_ok(client, f"/metrics/workers/{worker}", query)["worker"] == next(
        w for w in get_ok(client, "/metrics/workers", query)["workers"] if w["worker_id"] == worker)
    assert get_ok(client, f"/metrics/workstations/{station}", query)["workstation"] == next(
        s for s in get_ok(client, "/metrics/workstations", query)["workstations"] if s["workstation_id"] == station)

    instances = compare_report(client, floor, now, span_lo - 2 * HOUR, now + 10 * HOUR, problems)
    if floor.own_calendar("north"):
        instances += compare_report(client, floor, now, inner_lo, now, problems, site_id="north")
    # A range whose ends are instants where planned pieces begin or end.
    starts = facts["marks"]
    if starts:
        a = rng.choice(starts)
        b = rng.choice([mark for mark in facts["marks"] if mark >= a])
        instances += compare_report(client, floor, now, a, b, problems)
    assert instances > 0
    assert not problems, f"seed {seed}: {len(problems)} differences\n" + "\n".join(problems[:40])


# --------------------------------------------------------------------------------------------
# The shift report's readings where SPEC leaves room, at their smallest (README, "The shift report")
# --------------------------------------------------------------------------------------------

EARLY = {"name": "Early", "start": "06:00", "end": "14:00"}
FACTORY_CALENDAR = {"time_zone": "UTC", "shifts": [EARLY]}
NOW = "2026-01-15T18:00:00Z"  # the pinned clock


def report_keys(client, frm, to):
    body = get_ok(client, "/metrics/shifts", {"from": frm, "to": to})
    return [(row["site_id"], row["shift"], row["date"]) for row in body["shifts"]]


@pytest.mark.parametrize("site, listed", [
    ({"name": "East", "shifts": [EARLY]}, False),  # its own shifts, the factory's: read with the factory calendar
    ({"name": "East", "time_zone": "UTC"}, False),  # the factory's shifts in the factory calendar's zone
    ({"name": "East", "time_zone": "Europe/London"}, True),  # the same offset in January, but another zone
    ({"name": "East", "shifts": [{**EARLY, "start": "07:00"}]}, True),
])
def test_a_site_planning_as_the_factory_does_is_read_with_it(client, site, listed):
    assert client.put("/calendar", json=FACTORY_CALENDAR).status_code == 200
    assert client.put("/sites/east", json=site).status_code == 200
    floor = Floor("UTC", ms_of("2026-01-10T00:00:00Z"), ms_of("2026-01-20T00:00:00Z"))
    floor.put_calendar(FACTORY_CALENDAR)
    floor.put_site("east", site)
    frm, to = "2026-01-15T00:00:00Z", "2026-01-15T23:00:00Z"
    expected = [(row["site_id"], row["shift"], row["date"])
                for row in floor.shift_report(ms_of(NOW), ms_of(frm), ms_of(to))]
    assert expected == [(None, "Early", "2026-01-15")] + [("east", "Early", "2026-01-15")] * listed
    assert report_keys(client, frm, to) == expected
    # Asked for by its id, the site's instances are listed with its own figures either way.
    body = get_ok(client, "/metrics/shifts", {"from": frm, "to": to, "site_id": "east"})
    assert [(row["site_id"], row["shift"]) for row in body["shifts"]] == [("east", "Early")]


def test_an_instance_that_ends_where_the_range_starts_is_not_listed(client):
    assert client.put("/calendar", json=FACTORY_CALENDAR).status_code == 200
    floor = Floor("UTC", ms_of("2026-01-10T00:00:00Z"), ms_of("2026-01-20T00:00:00Z"))
    floor.put_calendar(FACTORY_CALENDAR)
    for frm, to, listed in [("2026-01-15T00:00:00Z", "2026-01-15T06:00:00Z", True),  # Early starts at `to`
                            ("2026-01-15T14:00:00Z", "2026-01-15T17:00:00Z", False)]:  # Early ends at `from`
        expected = [(row["site_id"], row["shift"], row["date"])
                    for row in floor.shift_report(ms_of(NOW), ms_of(frm), ms_of(to))]
        assert expected == [(None, "Early", "2026-01-15")] * listed
        assert report_keys(client, frm, to) == expected, (frm, to)
