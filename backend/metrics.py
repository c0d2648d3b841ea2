"""The time model of SPEC §5 as pure functions over plain rows.

Nothing here touches Flask or SQLite: callers hand in rows (tuples), these functions hand back
plain dicts, and tests drive them with hand-built timelines.

Instants are integer UTC epoch milliseconds throughout; seconds appear only in the output.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

from . import calendars
from .timeutil import format_instant

STATE_TYPES = ("working", "idle", "absent")
# Time past a state event's signal horizon: the camera stopped confirming the state (SPEC §5.4).
UNKNOWN = "unknown"
TIME_STATES = (*STATE_TYPES, UNKNOWN)
OCCUPYING_STATES = ("working", "idle")
MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class Window:
    """The closed window `[start_ms, end_ms]`; its length is never negative."""

    start_ms: int
    end_ms: int

    @property
    def length_ms(self):
        return max(0, self.end_ms - self.start_ms)


class Interval(NamedTuple):
    """A span of one state at one workstation, already cut to the window."""

    start_ms: int
    end_ms: int
    state: str
    workstation_id: str


@dataclass
class Timeline:
    """One worker's intervals in the window and the latest state event at or before its end."""

    intervals: list = field(default_factory=list)
    last_event: tuple | None = None  # (ts_ms, state, workstation_id)


@dataclass(frozen=True)
class Floor:
    """What the floor's setup adds to a report: each workstation's planned time and target.

    `plans`: workstation id -> sorted, disjoint planned intervals of its site covering the
    window (and a millisecond either side, so an instant at either end of the window is
    known to be planned or not); stations not in it run on `default_plan`. `targets`:
    workstation id -> target units per hour (absent or `None`: no target). With
    `planned_only` only planned time and units count (SPEC §5, `planned_only=true`).
    """

    plans: dict = field(default_factory=dict)
    default_plan: tuple = ()
    targets: dict = field(default_factory=dict)
    planned_only: bool = False

    def plan(self, workstation_id):
        """The planned intervals of a workstation's site."""
        return self.plans.get(workstation_id, self.default_plan)

    def planned_ms(self, workstation_id, window):
        """A workstation's planned time inside the window."""
        return calendars.overlap_ms(window.start_ms, window.end_ms, self.plan(workstation_id))


def plan_floor(window, factory_calendar, sites, station_sites, targets=None, planned_only=False, shift=None):
    """The `Floor` of a window: each workstation's planned time from its site's calendar.

    `sites`: site id -> `calendars.Site`; `station_sites`: workstation id -> site id or `None`
    (a site id not in `sites`, or `None`, runs on the factory calendar). Planned time is worked
    out once per distinct calendar, over the whole hours the window touches: the roll-ups of an
    edge hour whose every instant is planned then count for it (`sweep`). With `shift`
    (`"current"` or `"previous"`), only that of one shift of each calendar: the one under way at
    the window's end, or the one that ended last by then (`calendars.planned_of_shift`).
    """
    if window is None:
        return Floor(targets=dict(targets or {}), planned_only=planned_only)
    by_calendar = {}
    start_ms = (window.start_ms - 1) // MS_PER_HOUR * MS_PER_HOUR
    end_ms = -(-(window.end_ms + 1) // MS_PER_HOUR) * MS_PER_HOUR

    def plan(calendar):
        if calendar not in by_calendar:
            by_calendar[calendar] = tuple(
                calendars.planned_of_shift(calendar, shift, window.end_ms, start_ms, end_ms) if shift
                else calendars.planned_intervals(calendar, start_ms, end_ms))
        return by_calendar[calendar]

    plans = {station_id: plan(calendars.site_calendar(sites.get(site_id) if site_id is not None else None,
                                                      factory_calendar))
             for station_id, site_id in station_sites.items()}
    return Floor(plans, plan(factory_calendar), dict(targets or {}), planned_only)


def clip_to_plan(timeline, floor):
    """A timeline with only the parts of its intervals that lie in planned time.

    Each interval takes the planned time of the site of its workstation (that of the event
    that started it), unknown time alike; `last_event` is kept as it is.
    """
    groups = {}  # planned intervals (by identity: shared per site) -> (plan, intervals in order)
    for interval in timeline.intervals:
        plan = floor.plan(interval.workstation_id)
        groups.setdefault(id(plan), (plan, []))[1].append(
            (interval.start_ms, interval.end_ms, interval.state, interval.workstation_id))
    pieces = []
    for plan, intervals in groups.values():
        pieces.extend(calendars.clip(intervals, plan))
    pieces.sort()
    return Timeline([Interval(*piece) for piece in pieces], timeline.last_event)


def planned_units(unit_rows, floor):
    """The unit rows `(worker_id, workstation_id, count, ts_ms)` whose instant lies in the
    planned time of their workstation's site, ends included."""
    return [row for row in unit_rows if calendars.contains(floor.plan(row[1]), row[3])]


def units_by_slot(unit_rows, bucket_ms):
    """`(slot, units)` of unit rows `(worker_id, workstation_id, count, ts_ms)`, `slot = ts_ms // bucket_ms`."""
    return [(ts_ms // bucket_ms, count) for _worker, _station, count, ts_ms in unit_rows]


def resolve_window(from_ms, to_ms, earliest_ms, latest_ms, now_ms):
    """Work out the window (SPEC §5.1), or `None` when it is empty.

    `earliest_ms`/`latest_ms` are the first and last timestamps of the events in scope (`None`
    when there are none). The end never lies after `now_ms`.
    """
    if earliest_ms is None and (from_ms is None or to_ms is None):
        return None
    end = to_ms if to_ms is not None else latest_ms
    start = from_ms if from_ms is not None else earliest_ms
    return Window(start, min(end, now_ms))


def worker_timeline(state_events, window, max_gap_ms=None):
    """Turn one worker's state events into intervals cut to the window (SPEC §5.2-5.4).

    `state_events` yields `(ts_ms, state, workstation_id)` ordered by timestamp and, for equal
    timestamps, by arrival. It must include the worker's latest state event before the window
    start (the state carried in); earlier ones are harmless. Each event holds until the next
    one, the last until the window end; with the signal horizon `max_gap_ms` a state holds at
    most that long past its event, and the rest is `unknown` time. Events that only confirm the
    state (heartbeats, `confirms`) make one interval with the event they confirm.
    """
    timeline = Timeline()
    intervals, start_ms, end_ms = timeline.intervals, window.start_ms, window.end_ms
    previous = heard_ms = None  # the first state event of the run under way, and when it was last confirmed
    for event in state_events:
        if event[0] <= end_ms:
            timeline.last_event = event
        if previous is not None:
            if confirms(previous, heard_ms, event, max_gap_ms):
                heard_ms = event[0]
                continue
            _add_pieces(intervals, previous, event[0], start_ms, end_ms, max_gap_ms, heard_ms)
        previous = event
        heard_ms = event[0]
    if previous is not None:
        _add_pieces(intervals, previous, end_ms, start_ms, end_ms, max_gap_ms, heard_ms)
    return timeline


def confirms(run, heard_ms, event, max_gap_ms):
    """Whether `event` only confirms the state of a run of events that began with `run` and was
    last heard at `heard_ms`: the same state at the same workstation, within the signal horizon
    (a heartbeat). The state then holds on without a break, and the run is one interval."""
    return (event[1] == run[1] and event[2] == run[2]
            and (max_gap_ms is None or event[0] - heard_ms <= max_gap_ms))


def state_pieces(event, until_ms, window, max_gap_ms, heard_ms):
    """The intervals of one state event held until `until_ms` (the worker's next state event or
    the window end), cut to the window: its state up to the signal horizon `max_gap_ms` after it
    was last heard (`heard_ms`: the event's own instant, or that of the last heartbeat that
    confirmed it, `confirms`), then `unknown` time."""
    pieces = []
    _add_pieces(pieces, event, until_ms, window.start_ms, window.end_ms, max_gap_ms, heard_ms)
    return pieces


def _add_pieces(pieces, event, until_ms, window_start_ms, window_end_ms, max_gap_ms, heard_ms):
    """Append `state_pieces` of `event` to `pieces` (the window given by its ends)."""
    start_ms, state, workstation_id = event
    if max_gap_ms is not None and until_ms - heard_ms > max_gap_ms:
        horizon_ms = heard_ms + max_gap_ms
        low, high = max(start_ms, window_start_ms), min(horizon_ms, window_end_ms)
        if high > low:
            pieces.append(Interval(low, high, state, workstation_id))
        start_ms, state = horizon_ms, UNKNOWN
    low, high = max(start_ms, window_start_ms), min(until_ms, window_end_ms)
    if high > low:
        pieces.append(Interval(low, high, state, workstation_id))


def state_at_end(last_event, window, max_gap_ms):
    """The state in force at the window end (SPEC §5): the latest state event's, `unknown` once
    its horizon ran out before the end, `None` without a state event at or before the end."""
    if last_event is None:
        return None
    if max_gap_ms is not None and last_event[0] + max_gap_ms < window.end_ms:
        return UNKNOWN
    return last_event[1]


def union_length_ms(spans):
    """Total length covered by `(start_ms, end_ms)` spans, counting overlaps once."""
    total = 0
    current_start = current_end = None
    for start_ms, end_ms in sorted(spans):
        if current_end is None or start_ms > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start_ms, end_ms
        else:
            current_end = max(current_end, end_ms)
    if current_end is not None:
        total += current_end - current_start
    return total


@dataclass
class Tally:
    """The additive figures of one stretch of time; tallies of disjoint stretches add up.

    `last_events` holds each worker's latest state event at or before the stretch's end.
    """

    state_ms: dict = field(default_factory=dict)  # worker id -> {state: ms}
    occupancy_ms: dict = field(default_factory=dict)  # workstation id -> ms
    worker_units: dict = field(default_factory=dict)
    station_units: dict = field(default_factory=dict)
    event_count: int = 0
    last_events: dict = field(default_factory=dict)

    def add(self, later):
        """Add the tally of a later, disjoint stretch to this one."""
        for worker_id, totals in later.state_ms.items():
            mine = self.state_ms.get(worker_id)
            if mine is None:
                self.state_ms[worker_id] = {state: totals.get(state, 0) for state in TIME_STATES}
            else:
                for state, ms in totals.items():
                    mine[state] += ms
        for mine, theirs in ((self.occupancy_ms, later.occupancy_ms), (self.worker_units, later.worker_units),
                             (self.station_units, later.station_units)):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        self.event_count += later.event_count
        self.last_events.update({k: v for k, v in later.last_events.items() if v is not None})
        return self

    def add_worker(self, worker_id, state_ms, units):
        """Add a worker's milliseconds in each of `TIME_STATES` (in that order) and its units."""
        mine = self.state_ms.get(worker_id)
        if mine is None:
            self.state_ms[worker_id] = dict(zip(TIME_STATES, state_ms, strict=True))
        else:
            for state, ms in zip(TIME_STATES, state_ms, strict=True):
                mine[state] += ms
        self.worker_units[worker_id] = self.worker_units.get(worker_id, 0) + units

    def add_station(self, station_id, occupancy_ms, units):
        """Add a station's occupied milliseconds and its units."""
        self.occupancy_ms[station_id] = self.occupancy_ms.get(station_id, 0) + occupancy_ms
        self.station_units[station_id] = self.station_units.get(station_id, 0) + units


def tally_timelines(timelines, unit_rows, event_count):
    """The tally of a stretch from its workers' timelines (cut to the stretch) and unit rows."""
    tally = Tally(event_count=event_count)
    for worker_id, timeline in timelines.items():
        tally.state_ms[worker_id] = _state_totals_ms(timeline)
        tally.last_events[worker_id] = timeline.last_event
    tally.occupancy_ms = _station_occupancy(timelines.values())
    tally.worker_units, tally.station_units = _sum_units(unit_rows)
    return tally


# The parts of a report besides its window (`build_report`).
REPORT_PARTS = ("workers", "workstations", "factory")


def build_report(window, workers, workstations, state_events_by_worker, unit_rows, event_count, max_gap_ms=None,
                 floor=None, parts=REPORT_PARTS):
    """Every figure of SPEC §5 for one scope and window.

    - `workers`, `workstations`: `(id, name)` rows, the lists to report on.
    - `state_events_by_worker`: worker id -> that worker's state events, as `worker_timeline`
      takes them. Workers missing from it had no state event in scope.
    - `unit_rows`: `(worker_id, workstation_id, count)` rows of product counts inside the window
      (single events or sums per pair, alike); with `floor.planned_only`, `(worker_id,
      workstation_id, count, ts_ms)` rows, so each count's instant can be held against planned time.
    - `event_count`: events in scope with a timestamp inside the window.
    - `floor`: each workstation's planned time and target (`plan_floor`); none: nothing planned.

    Returns `{"window", "workers", "workstations", "factory"}`, of those only the `parts` asked
    for; the lists follow the input order.
    """
    floor = floor or Floor()
    if window is None:
        return report_from_tally(None, workers, workstations, Tally(), max_gap_ms, floor, parts)
    timelines = {
        worker_id: worker_timeline(state_events_by_worker.get(worker_id, ()), window, max_gap_ms)
        for worker_id, _name in workers
    }
    if floor.planned_only:
        timelines = {worker_id: clip_to_plan(timeline, floor) for worker_id, timeline in timelines.items()}
        unit_rows = planned_units(unit_rows, floor)
    return report_from_tally(window, workers, workstations, tally_timelines(timelines, unit_rows, event_count),
                             max_gap_ms, floor, parts)


def report_from_tally(window, workers, workstations, tally, max_gap_ms=None, floor=None, parts=REPORT_PARTS):
    """The report of SPEC §5 from the tally of the whole window (`max_gap_ms`: its horizon;
    `floor`: planned time and targets; `parts`: as for `build_report`)."""
    floor = floor or Floor()
    empty = dict.fromkeys(TIME_STATES, 0)
    report = {"window": window_json(window)}
    if "workers" in parts:
        report["workers"] = [
            _worker_item(worker_id, name, tally.state_ms.get(worker_id, empty), tally.last_events.get(worker_id),
                         tally.worker_units.get(worker_id, 0),
                         window and state_at_end(tally.last_events.get(worker_id), window, max_gap_ms))
            for worker_id, name in workers
        ]
    stations = [
        _Station(station_id, name, tally.occupancy_ms.get(station_id, 0), tally.station_units.get(station_id, 0),
                 floor.planned_ms(station_id, window) if window else 0, floor.targets.get(station_id))
        for station_id, name in workstations
    ] if "workstations" in parts or "factory" in parts else []
    if "workstations" in parts:
        length_ms = window.length_ms if window else 0
        report["workstations"] = [_workstation_item(station, length_ms, floor.planned_only) for station in stations]
    if "factory" in parts:
        report["factory"] = {
            **_factory_item([tally.state_ms.get(worker_id, empty) for worker_id, _name in workers],
                            sum(tally.worker_units.get(worker_id, 0) for worker_id, _name in workers),
                            len(workstations), tally.event_count if window else 0),
            **_factory_targets(stations)}
    return report


def split_at_buckets(interval, bucket_ms):
    """Yield `(slot, start_ms, end_ms)`: the interval cut at multiples of `bucket_ms`."""
    start_ms = interval.start_ms
    while start_ms < interval.end_ms:
        slot = start_ms // bucket_ms
        end_ms = min(interval.end_ms, (slot + 1) * bucket_ms)
        yield slot, start_ms, end_ms
        start_ms = end_ms


def window_json(window):
    """The `window` member every metrics response carries."""
    if window is None:
        return {"from": None, "to": None, "seconds": 0}
    return {
        "from": format_instant(window.start_ms),
        "to": format_instant(window.end_ms),
        "seconds": _seconds(window.length_ms),
    }


def _sum_units(unit_rows):
    worker_units, station_units = {}, {}
    for worker_id, station_id, count, *_instant in unit_rows:
        worker_units[worker_id] = worker_units.get(worker_id, 0) + count
        station_units[station_id] = station_units.get(station_id, 0) + count
    return worker_units, station_units


def _state_totals_ms(timeline):
    totals = dict.fromkeys(TIME_STATES, 0)
    for interval in timeline.intervals:
        totals[interval.state] += interval.end_ms - interval.start_ms
    return totals


def _worker_item(worker_id, name, totals, last_event, units, end_state):
    active, idle = totals["working"], totals["idle"]
    return {
        "worker_id": worker_id,
        "name": name,
        "active_seconds": _seconds(active),
        "idle_seconds": _seconds(idle),
        "absent_seconds": _seconds(totals["absent"]),
        "unknown_seconds": _seconds(totals[UNKNOWN]),
        "utilization_pct": _ratio(100 * active, active + idle),
        "units": units,
        "units_per_hour": _ratio(units * MS_PER_HOUR, active),
        "last_state": last_event[1] if last_event else None,
        "last_seen": format_instant(last_event[0]) if last_event else None,
        "current_workstation_id": last_event[2] if last_event else None,
        "state_at_end": end_state,
    }


def _station_occupancy(timelines):
    spans = {}
    for timeline in timelines:
        for interval in timeline.intervals:
            if interval.state in OCCUPYING_STATES:
                spans.setdefault(interval.workstation_id, []).append((interval.start_ms, interval.end_ms))
    return {station_id: union_length_ms(station_spans) for station_id, station_spans in spans.items()}


@dataclass(frozen=True)
class _Station:
    workstation_id: str
    name: str
    occupancy_ms: int
    units: int
    planned_ms: int
    target_per_hour: float | None

    @property
    def target_units(self):
        """The exact target over the planned time (`None` without a target)."""
        if self.target_per_hour is None:
            return None
        return self.target_per_hour * self.planned_ms / MS_PER_HOUR


def _workstation_item(station, window_ms, planned_only):
    target_units = station.target_units
    return {
        "workstation_id": station.workstation_id,
        "name": station.name,
        "occupancy_seconds": _seconds(station.occupancy_ms),
        "utilization_pct": _ratio(100 * station.occupancy_ms, station.planned_ms if planned_only else window_ms),
        "units": station.units,
        "throughput_per_hour": _ratio(station.units * MS_PER_HOUR, station.occupancy_ms),
        "planned_seconds": _seconds(station.planned_ms),
        "target_units_per_hour": station.target_per_hour,
        "target_units": None if target_units is None else round(target_units, 2),
        "attainment_pct": None if target_units is None else _ratio(100 * station.units, target_units),
    }


def _factory_targets(stations):
    """Factory `target_units` (over workstations with a target) and `attainment_pct` (their
    units over it); both `null` when no workstation has a target. Rounded once, from exact sums."""
    targeted = [station for station in stations if station.target_per_hour is not None]
    if not targeted:
        return {"target_units": None, "attainment_pct": None}
    target_units = sum(station.target_units for station in targeted)
    return {"target_units": round(target_units, 2),
            "attainment_pct": _ratio(100 * sum(station.units for station in targeted), target_units)}


def _factory_item(worker_totals, total_units, workstation_count, event_count):
    total_active = sum(totals["working"] for totals in worker_totals)
    total_idle = sum(totals["idle"] for totals in worker_totals)
    total_unknown = sum(totals[UNKNOWN] for totals in worker_totals)
    # The mean of the exact ratios, rounded once, over workers with any time on the floor.
    utilizations = [100 * t["working"] / (t["working"] + t["idle"]) for t in worker_totals if t["working"] + t["idle"]]
    return {
        "total_active_seconds": _seconds(total_active),
        "total_idle_seconds": _seconds(total_idle),
        "total_unknown_seconds": _seconds(total_unknown),
        "total_units": total_units,
        "average_production_rate": _ratio(total_units * MS_PER_HOUR, total_active),
        "average_utilization_pct": _ratio(sum(utilizations), len(utilizations)),
        "worker_count": len(worker_totals),
        "workstation_count": workstation_count,
        "event_count": event_count,
    }


def _seconds(ms):
    return ms / 1000


def _ratio(numerator, denominator):
    """Rounded to 2 decimals, half up; 0 when the denominator is 0 (SPEC §5). A ratio of whole
    numbers (milliseconds, units) is rounded from its exact value, so 60.535 % reads 60.54 as on
    paper, not 60.53 as its nearest binary fraction would."""
    if not denominator:
        return 0
    if isinstance(numerator, int) and isinstance(denominator, int):
        return (200 * numerator + denominator) // (2 * denominator) / 100
    return round(numerator / denominator, 2)


def bucket_bounds(window, bucket_ms):
    """`(first_slot, count)`: the buckets covering the window, aligned to multiples of `bucket_ms`.

    A zero-length window still has one bucket, so units at its single instant have a home.
    """
    first_slot = window.start_ms // bucket_ms
    last_slot = max(first_slot, (window.end_ms - 1) // bucket_ms)
    return first_slot, last_slot - first_slot + 1


class BucketTally:
    """Time in each state per bucket across a window, taken in one interval at a time, so the
    intervals never have to be held at once."""

    def __init__(self, window, bucket_ms):
        self.window = window
        self.bucket_ms = bucket_ms
        self.first_slot, count = bucket_bounds(window, bucket_ms)
        self.totals = [dict.fromkeys(TIME_STATES, 0) for _ in range(count)]

    def add(self, interval):
        """Count one interval (inside the window), split at bucket boundaries."""
        slot = interval.start_ms // self.bucket_ms
        if interval.start_ms < interval.end_ms <= (slot + 1) * self.bucket_ms:  # most lie inside one bucket
            self.totals[slot - self.first_slot][interval.state] += interval.end_ms - interval.start_ms
            return
        for slot, start_ms, end_ms in split_at_buckets(interval, self.bucket_ms):
            self.totals[slot - self.first_slot][interval.state] += end_ms - start_ms

    def json(self, unit_rows):
        """The buckets as the API shows them, with units from `(slot, units)` rows."""
        window, bucket_ms, first_slot, count = self.window, self.bucket_ms, self.first_slot, len(self.totals)
        units = [0] * count
        for slot, slot_units in unit_rows:
            # A count at the window end on a bucket boundary belongs to the last bucket.
            units[min(max(slot - first_slot, 0), count - 1)] += slot_units
        buckets = []
        for index, totals in enumerate(self.totals):
            slot_start = (first_slot + index) * bucket_ms
            active, idle = totals["working"], totals["idle"]
            buckets.append({
                "from": format_instant(max(slot_start, window.start_ms)),
                "to": format_instant(min(slot_start + bucket_ms, window.end_ms)),
                "active_seconds": _seconds(active),
                "idle_seconds": _seconds(idle),
                "absent_seconds": _seconds(totals["absent"]),
                "unknown_seconds": _seconds(totals[UNKNOWN]),
                "utilization_pct": _ratio(100 * active, active + idle),
                "units": units[index],
            })
        return buckets
