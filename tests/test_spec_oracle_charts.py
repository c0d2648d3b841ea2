"""The chart endpoints (README "The API", "Model versions and drift"), checked against an
independent reference.

The reference below (`Model`) is written from SPEC.md §5, the README ("How the figures are
worked out", the table of "Everything else", "Model versions and drift") and the OpenAPI
document alone, without reading the service's chart, sweep, metrics, report or query code. It
is the time model of SPEC §5 cut into the pieces a chart shows:

- `/metrics/timeline`: each worker's spells (back-to-back pieces of one state at one station
  are one spell) in the window. Drawn from the events (`slots` null), every item is compared
  with the reference over its own span: an interval holds one state (and one station) and
  exactly its seconds; a `mixed` band's `split` is exactly the reference's seconds in each
  state over the band's span. Items lie inside the window, in order and disjoint; every spell
  at least a pixel long is an interval of its own, exactly; two intervals shorter than a pixel
  are not left side by side (R7); two touching intervals of one state at one station do not
  occur; a band names its station when all its time was at one; at most about two items per
  pixel; and the per-state totals equal the worker's figures, from the reference
  and from `/metrics/workers` for the same query. Drawn from the roll-ups (`slots` given),
  the slot size and start follow the README's rule, and each cell is the reference's seconds
  in that slot rounded to whole seconds.
- `/metrics/hourly`: bucket size (automatic from `width`, or `bucket_seconds`), bucket edges
  (aligned to UTC, cut to the window), seconds per state, utilization and units per bucket,
  also for one worker and one workstation; the buckets add up to the window's totals.
- `/metrics/models`: per model version the counts, the mean (exact, to 4 decimals), the
  nearest-rank 10th percentile, the low-confidence share, first and last seen, and the
  confidence series per bucket.
- `/metrics/drift`: recent stretch and baseline, the compared means and working shares, the
  verdicts.
- `/metrics/dashboard`: each part equals the endpoint it stands for, for the same query.

Random small floors (seeded) are posted in shuffled batches through `POST /events`: a few
workers and stations, spells from seconds to hours, heartbeats, equal instants, product counts,
late and duplicate events, two sites with calendars of their own (fixed-offset zones), model
versions and confidences. Queries: whole data, windows inside, across, before and after the
data, starting and ending mid-hour, longer than three days, site and confidence filters,
another horizon, `planned_only`, widths from 50 to 10000 pixels, one worker, one workstation.
Checked after half the batches (roll-ups kept up), after the late rest (their hours stale),
once the roll-ups are kept up again, and once now has moved on. `ORACLE_SEEDS=100-300` runs
more floors.

Readings of the reference where the contract leaves room, each named where it is used:
- (R1) a zero-length piece (a state event followed by another at the same instant) is no
  spell, so the pieces around it can be one spell;
- (R2) unknown time belongs to the station of the event whose horizon ran out (as planned time
  does, SPEC §5 "Sites, shifts and planned time"): with `workstation_id` it counts there, and
  an unknown interval names that station;
- (R3) a bucket holds the units stamped in `[from, to)`, the last one those at the window's end
  too;
- (R4) with `planned_only`, a spell's time outside planned time is no time: a timeline item
  never says more seconds than the planned part of its span;
- (R5) the drift split instant `P = max(S, E - recent_seconds)` belongs to the recent stretch;
- (R6) drift lists the model versions with a rated event in the window, and each side's `events`
  counts its rated events; a point of the models' `series` exists for each version and bucket
  with events, and its `events` counts all of them;
- (R7) a spell shorter than a pixel is merged "with its short neighbours" (OpenAPI, `width`): one
  left without any (between long spells, or after a band that filled its pixel) may stay an
  interval, but two short intervals side by side may not;
- a pixel is window / width, exact or taken up to the millisecond (`resolution_seconds`); the
  rules that compare with it (slots or intervals, slot size) may read either;
- weeks and longer buckets are aligned as the service chooses (only their sums and edges are
  checked); a mean confidence at an exact tie of the fourth decimal may take either neighbour;
  drops, shifts, shares and `low_confidence_share` are compared to half the fourth decimal.

A floor's mismatches are collected and reported together (the first eight), so one fault does
not hide another.
"""

import contextlib
import math
import os
import random
import warnings
from fractions import Fraction

import pytest

from backend.app import create_app
from tests.helpers import get_ok, keep_up
from tests.test_spec_oracle_metrics import (
    Mismatch,
    check_equal,
    check_instant,
    check_rounded,
    check_seconds,
    ms_of,
    random_text,
    shuffled_batches,
    text_of,
)
from tests.test_spec_oracle_planned import cut_to, inside, instance_pieces, merge, shift_instances

NOW = "2026-01-15T18:00:00Z"
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
STATES = ("working", "idle", "absent")
TIME_STATES = ("working", "idle", "absent", "unknown")
FIGURE_OF = {"working": "active_seconds", "idle": "idle_seconds", "absent": "absent_seconds",
             "unknown": "unknown_seconds"}
TOLERANCE_MS = Fraction(1, 1000)  # 1e-6 s
DEFAULT_WIDTH = 2000
LOW_CONFIDENCE = 0.5
MIN_PRESENT_MS = 10 * MINUTE


# --------------------------------------------------------------------------------------------
# What the service was told: events (SPEC §4 duplicates), stations' sites, calendars
# --------------------------------------------------------------------------------------------

class Event:
    __slots__ = ("arrival", "ms", "worker", "station", "type", "count", "confidence", "site", "model", "event_id",
                 "conf_text")

    def __init__(self, arrival, body):
        self.arrival = arrival
        self.ms = ms_of(body["timestamp"])
        self.worker = body["worker_id"]
        self.station = body["workstation_id"]
        self.type = body["event_type"]
        self.count = body.get("count")
        self.confidence = body.get("confidence")
        self.site = body.get("site_id")
        self.model = body.get("model_version")
        self.event_id = body.get("event_id")

    def key(self):
        return (self.ms, self.worker, self.station, self.type, self.count)


class Floor:
    """The stored events (the first of duplicates wins), workers and stations in registration
    order, each station's site (that of the event that registered it), and the calendars."""

    def __init__(self):
        self.events = []
        self.keys = set()
        self.ids = {}
        self.workers = {}
        self.stations = {}
        self.calendar = {"time_zone": "UTC", "shifts": []}
        self.sites = {}

    def ingest(self, body):
        new = Event(len(self.events), body)
        if new.event_id is not None:
            if new.event_id in self.ids:
                return "duplicate" if self.ids[new.event_id].key() == new.key() else "rejected"
        elif new.key() in self.keys:
            return "duplicate"
        self.events.append(new)
        self.keys.add(new.key())
        if new.event_id is not None:
            self.ids[new.event_id] = new
        self.workers.setdefault(new.worker, None)
        self.stations.setdefault(new.station, new.site)
        return "accepted"


class Planner:
    """Planned time of each site (SPEC §5): its own shifts, else the factory's, in its zone when it
    has one; the union of the instances minus their breaks, as closed pieces."""

    def __init__(self, floor, lo_ms, hi_ms):
        self.floor = floor
        self.lo, self.hi = lo_ms, hi_ms
        self.cache = {}

    def planned(self, site):
        if site not in self.cache:
            conf = self.floor.sites.get(site) if site is not None else None
            zone, shifts = self.floor.calendar["time_zone"], self.floor.calendar["shifts"]
            if conf is not None:
                zone = conf.get("time_zone") or zone
                shifts = conf["shifts"] if conf.get("shifts") is not None else shifts
            pieces = [piece for instance in shift_instances(zone, shifts, self.lo, self.hi)
                      for piece in instance_pieces(instance)]
            self.cache[site] = merge(pieces)
        return self.cache[site]


# --------------------------------------------------------------------------------------------
# The reference: SPEC §5's time model, as pieces
# --------------------------------------------------------------------------------------------

def overlap(a, b, lo, hi):
    return max(0, min(b, hi) - max(a, lo))


class Model:
    """The window, the scope and each worker's pieces `(from, to, state, station)` for one query."""

    def __init__(self, floor, planner, query, now_ms, default_gap):
        self.floor, self.planner, self.query = floor, planner, query
        site = query.get("site_id")
        min_conf = float(query["min_confidence"]) if "min_confidence" in query else None
        self.scope = [e for e in floor.events
                      if (site is None or e.site == site)
                      and (min_conf is None or e.confidence is None or e.confidence >= min_conf)]
        gap = Fraction(query["max_gap_seconds"]) if "max_gap_seconds" in query else Fraction(default_gap)
        self.horizon = round(gap * 1000) or None
        self.planned_only = query.get("planned_only") == "true"
        if site is None:
            self.worker_ids = list(floor.workers)
            self.station_ids = list(floor.stations)
        else:
            self.worker_ids = list(dict.fromkeys(e.worker for e in floor.events if e.site == site))
            self.station_ids = list(dict.fromkeys(e.station for e in floor.events if e.site == site))
        start = ms_of(query["from"]) if "from" in query else None
        end = ms_of(query["to"]) if "to" in query else None
        self.empty = not self.scope and (start is None or end is None)
        self._pieces = {}
        if self.empty:
            self.S = self.E = None
            self.L = 0
            return
        E = end if end is not None else max(e.ms for e in self.scope)
        self.E = min(E, now_ms)
        self.S = start if start is not None else min(e.ms for e in self.scope)
        self.L = max(0, self.E - self.S)

    def cut(self, a, b, station):
        """[a, b] cut to the window, and to planned time with `planned_only`."""
        lo, hi = max(a, self.S), min(b, self.E)
        if hi <= lo:
            return []
        if not self.planned_only:
            return [(lo, hi)]
        return cut_to(self.planner.planned(self.floor.stations[station]), lo, hi)

    def pieces(self, worker):
        """The worker's pieces of positive length, in time order (R1: zero-length ones dropped)."""
        if worker in self._pieces:
            return self._pieces[worker]
        found = []
        if not self.empty:
            states = sorted((e for e in self.scope if e.worker == worker and e.type in STATES),
                            key=lambda e: (e.ms, e.arrival))
            for i, e in enumerate(states):
                until = states[i + 1].ms if i + 1 < len(states) else self.E
                held = until if self.horizon is None else min(until, e.ms + self.horizon)
                found += [(lo, hi, e.type, e.station) for lo, hi in self.cut(e.ms, held, e.station)]
                if held < until:
                    found += [(lo, hi, "unknown", e.station) for lo, hi in self.cut(held, until, e.station)]
        self._pieces[worker] = found
        return found

    def spells(self, worker, station=None):
        """Back-to-back pieces of one state at one station joined: `[from, to, state, station]`."""
        joined = []
        for lo, hi, state, where in self.pieces(worker):
            if station is not None and where != station:
                continue
            if joined and joined[-1][1] == lo and joined[-1][2] == state and joined[-1][3] == where:
                joined[-1][1] = hi
            else:
                joined.append([lo, hi, state, where])
        return joined

    def seconds(self, worker, lo=None, hi=None, station=None):
        """ms per state of the worker inside [lo, hi] (the window when not given)."""
        lo = self.S if lo is None else lo
        hi = self.E if hi is None else hi
        totals = dict.fromkeys(TIME_STATES, 0)
        for a, b, state, where in self.pieces(worker):
            if station is None or where == station:
                totals[state] += overlap(a, b, lo, hi)
        return totals

    def units(self, worker=None, station=None):
        """`(ms, count)` of the product counts that count (SPEC §5.5, planned time)."""
        if self.empty:
            return []
        found = []
        for e in self.scope:
            if e.type != "product_count" or not self.S <= e.ms <= self.E:
                continue
            if worker is not None and e.worker != worker or station is not None and e.station != station:
                continue
            if self.planned_only and not inside(self.planner.planned(self.floor.stations[e.station]), e.ms):
                continue
            found.append((e.ms, e.count))
        return found

    def window_events(self):
        return [] if self.empty else [e for e in self.scope if self.S <= e.ms <= self.E]


def check_window(where, model, window):
    check_instant(f"{where} window.from", model.S, window["from"])
    check_instant(f"{where} window.to", model.E, window["to"])
    check_seconds(f"{where} window.seconds", model.L, window["seconds"])


def close_ms(expected_ms, actual_seconds):
    return isinstance(actual_seconds, (int, float)) and abs(Fraction(actual_seconds) * 1000 - expected_ms) <= (
        TOLERANCE_MS * 1000)


# --------------------------------------------------------------------------------------------
# /metrics/timeline
# --------------------------------------------------------------------------------------------

def pixels(length, width):
    """One pixel's time, window / width, in ms: exact, and taken up to the whole millisecond (as
    the service gives `resolution_seconds`); a rule on the pixel may read either."""
    exact = Fraction(length, width)
    return {exact, Fraction(math.ceil(exact))}


def slot_sizes(length, width):
    """README: slots of 1, 2, 3, 4 or 6 hours, else whole days, at least a pixel and a 1,000th of
    the window long: the smallest such (for either reading of the pixel)."""
    sizes = set()
    for pixel in pixels(length, width):
        need = max(pixel, Fraction(length, 1000))
        for hours in (1, 2, 3, 4, 6):
            if hours * HOUR >= need:
                sizes.add(hours * HOUR)
                break
        else:
            sizes.add(max(1, math.ceil(need / DAY)) * DAY)
    return sizes


def slot_form(model, query, width, default_gap):
    """`True`: read in slots; `False`: drawn from the events; `None`: either (README leaves it open)."""
    if model.empty:
        return False
    long = {model.L > 3 * DAY or pixel >= HOUR for pixel in pixels(model.L, width)}
    if long == {False}:
        return False
    if any(name in query for name in ("workstation_id", "site_id", "min_confidence")) or model.planned_only:
        return False
    if "max_gap_seconds" in query:
        if Fraction(query["max_gap_seconds"]) != Fraction(default_gap):
            return False
        return None  # the stored horizon, named: "another horizon" or not
    return True if long == {True} else None


def item_split(item):
    if item["state"] == "mixed":
        return {state: Fraction(s) * 1000 for state, s in item["split"].items()}
    return {item["state"]: Fraction(item["seconds"]) * 1000}


def check_strip(where, model, row, width, resolution_ms, station):
    """One worker's intervals and bands (drawn from the events) against the reference."""
    worker = row["worker_id"]
    items = row["intervals"]
    pieces = [p for p in model.pieces(worker) if station is None or p[3] == station]
    spells = model.spells(worker, station)
    if len(items) > 2 * width + 2:
        raise Mismatch(f"{where}: {len(items)} items over {width} pixels")
    previous, previous_short = None, False
    for k, item in enumerate(items):
        at = f"{where} item {k} {item}"
        mixed = item["state"] == "mixed"
        keys = {"from", "to", "state", "workstation_id", "seconds"} | ({"split"} if mixed else set())
        check_equal(f"{at} keys", sorted(keys), sorted(item))
        a, b = ms_of(item["from"]), ms_of(item["to"])
        if not (model.S <= a < b <= model.E):
            raise Mismatch(f"{at}: outside the window [{text_of(model.S)}, {text_of(model.E)}] or empty")
        if previous is not None:
            if ms_of(previous["to"]) > a:
                raise Mismatch(f"{at}: overlaps the item before, {previous}")
            if (not mixed and previous["state"] == item["state"] and ms_of(previous["to"]) == a
                    and previous["workstation_id"] == item["workstation_id"]):
                raise Mismatch(f"{at}: touches an interval of the same state and station, {previous}")
        touching = previous is not None and ms_of(previous["to"]) == a
        previous = item
        short = False
        expected = {state: 0 for state in TIME_STATES}
        stations = set()
        for lo, hi, state, where_ in pieces:
            part = overlap(lo, hi, a, b)
            if part:
                expected[state] += part
                stations.add(where_)
        expected = {state: ms for state, ms in expected.items() if ms}
        actual = item_split(item)
        if sorted(actual) != sorted(expected) or any(abs(actual[s] - expected[s]) > TOLERANCE_MS * 1000
                                                     for s in expected):
            raise Mismatch(f"{at}: seconds by state {fmt(actual)}, reference {fmt(expected)} over its span")
        total = sum(expected.values())
        if not close_ms(total, item["seconds"]):
            raise Mismatch(f"{at}: seconds {item['seconds']}, reference {float(total / 1000)}")
        if not model.planned_only and (station is None or not mixed) and total != b - a:
            raise Mismatch(f"{at}: holds {float(total / 1000)} s of a {(b - a) / 1000} s span")
        if mixed:
            # The station when all its spells were at one (R2: unknown time at its event's), else null.
            expected_station = next(iter(stations)) if len(stations) == 1 else None
            if item["workstation_id"] != expected_station:
                raise Mismatch(f"{at}: workstation_id {item['workstation_id']!r}, reference {expected_station!r} "
                               f"(stations {sorted(stations)})")
        else:
            if len(stations) != 1 or item["workstation_id"] not in stations:
                raise Mismatch(f"{at}: workstation_id {item['workstation_id']!r}, reference stations {stations}")
            # A spell shorter than a pixel is merged with its short neighbours (OpenAPI `width`):
            # one without any stays as it is, but two short intervals side by side are not left.
            short = b - a < resolution_ms
            if short and previous_short and touching:
                raise Mismatch(f"{at}: two intervals shorter than a pixel ({float(resolution_ms) / 1000} s) "
                               f"side by side, not merged into a band")
        previous_short = not mixed and short
    # Every spell at least a pixel long is an interval of its own, exactly (README: "long ones stay").
    if not model.planned_only:
        shown = {(ms_of(i["from"]), ms_of(i["to"]), i["state"]) for i in items if i["state"] != "mixed"}
        for lo, hi, state, _ in spells:
            if hi - lo >= resolution_ms + 1 and (lo, hi, state) not in shown:
                raise Mismatch(f"{where}: the {state} spell {text_of(lo)}-{text_of(hi)} ({(hi - lo) / 1000} s, "
                               f"a pixel is {float(resolution_ms) / 1000} s) is not an interval of its own")


def fmt(split):
    return {state: float(ms / 1000) for state, ms in split.items()}


def check_slots(where, model, body, width):
    """The strips read in slots against the reference."""
    slots = body["slots"]
    size = slots["seconds"] * 1000
    if size not in slot_sizes(model.L, width):
        raise Mismatch(f"{where} slots.seconds: API {slots['seconds']}, reference one of "
                       f"{sorted(s // 1000 for s in slot_sizes(model.L, width))}")
    check_equal(f"{where} slots.states", list(TIME_STATES), slots["states"])
    first = model.S // size * size
    check_instant(f"{where} slots.from", first, slots["from"])
    count = max(1, -(-(model.E - first) // size))
    for row in body["workers"]:
        at = f"{where} worker {row['worker_id']}"
        check_equal(f"{at} intervals", [], row["intervals"])
        check_equal(f"{at} rows", count, len(row["slots"]))
        for k, cells in enumerate(row["slots"]):
            lo, hi = first + k * size, first + (k + 1) * size
            expected = model.seconds(row["worker_id"], max(lo, model.S), min(hi, model.E))
            for state, cell in zip(TIME_STATES, cells, strict=True):
                exact = Fraction(expected[state], 1000)
                if not isinstance(cell, int) or abs(cell - exact) > Fraction(1, 2):
                    raise Mismatch(f"{at} slot {k} ({text_of(lo)}) {state}: API {cell!r}, reference "
                                   f"{float(exact)} s")


def check_timeline(where, model, body, query, width, default_gap, listed):
    """A `/metrics/timeline` answer against the reference; `listed` is `/metrics/workers` for the
    same query, keyed by id, in its order."""
    check_window(where, model, body["window"])
    worker, station = query.get("worker_id"), query.get("workstation_id")
    resolution = Fraction(model.L, width)
    # window / width, taken to the millisecond (up, and at least 1 ms when the window is not empty
    # or even when it is: a zero-length window's pixel of 0.001 s is let pass).
    if round(body["resolution_seconds"] * 1000) not in {math.floor(resolution), math.ceil(resolution),
                                                         max(1, math.ceil(resolution))}:
        raise Mismatch(f"{where} resolution_seconds: API {body['resolution_seconds']}, reference "
                       f"{float(resolution / 1000)} (window / width)")
    ids = [worker] if worker is not None else list(listed)
    if model.empty:
        check_equal(f"{where} worker ids", [] if model.S is None and not listed else ids,
                    [row["worker_id"] for row in body["workers"]])
        check_equal(f"{where} slots", None, body["slots"])
        for row in body["workers"]:
            check_equal(f"{where} worker {row['worker_id']} intervals of an empty window", [], row["intervals"])
        return
    check_equal(f"{where} worker ids", ids, [row["worker_id"] for row in body["workers"]])
    form = slot_form(model, query, width, default_gap)
    in_slots = body["slots"] is not None
    if form is not None and form != in_slots:
        raise Mismatch(f"{where}: {'slots' if in_slots else 'intervals'}, reference "
                       f"{'slots' if form else 'intervals'} (window {model.L / 1000} s, width {width})")
    for row in body["workers"]:
        check_equal(f"{where} worker {row['worker_id']} keys", ["intervals", "name", "slots", "worker_id"],
                    sorted(row))
        check_equal(f"{where} worker {row['worker_id']} name", row["worker_id"], row["name"])
    if in_slots:
        check_slots(where, model, body, width)
        for row in body["workers"]:
            figures = listed[row["worker_id"]]
            for k, state in enumerate(TIME_STATES):
                total = sum(cells[k] for cells in row["slots"])
                if abs(total - figures[FIGURE_OF[state]]) > len(row["slots"]) / 2 + 1e-6:
                    raise Mismatch(f"{where} worker {row['worker_id']} {state}: slots add up to {total}, "
                                   f"/metrics/workers says {figures[FIGURE_OF[state]]}")
        return
    resolution_ms = round(body["resolution_seconds"] * 1000)
    for row in body["workers"]:
        at = f"{where} worker {row['worker_id']}"
        check_equal(f"{at} slots", None, row["slots"])
        check_strip(at, model, row, width, resolution_ms, station)
        expected = model.seconds(row["worker_id"], station=station)
        for state in TIME_STATES:
            shown = sum(item_split(item).get(state, 0) for item in row["intervals"])
            if abs(shown - expected[state]) > TOLERANCE_MS * 1000 * max(1, len(row["intervals"])):
                raise Mismatch(f"{at} {state}: the strip holds {float(shown / 1000)} s, reference "
                               f"{expected[state] / 1000}")
            if station is None and abs(shown - Fraction(listed[row["worker_id"]][FIGURE_OF[state]]) * 1000) > 1:
                raise Mismatch(f"{at} {state}: the strip holds {float(shown / 1000)} s, /metrics/workers says "
                               f"{listed[row['worker_id']][FIGURE_OF[state]]}")


# --------------------------------------------------------------------------------------------
# /metrics/hourly (and the buckets of the models' series)
# --------------------------------------------------------------------------------------------

def aligned_count(model, size):
    first = model.S // size * size
    return max(1, -(-(model.E - first) // size))


def auto_bucket_sizes(model, width):
    """README: hours up to a week, then days, weeks, four weeks or years, at most one bucket per
    pixel. Whether a bucket per pixel counts the aligned buckets or the window over the size is
    left open: the sizes either reading gives."""
    sizes = set()
    for count in (lambda size: aligned_count(model, size), lambda size: -(-model.L // size)):
        for size in ([HOUR] if model.L <= WEEK else []) + [DAY, WEEK, 4 * WEEK]:
            if count(size) <= width:
                sizes.add(size)
                break
        else:
            sizes.add(None)  # years
    return sizes


def bucket_edges(model, size):
    first = model.S // size * size
    edges = []
    for k in range(aligned_count(model, size)):
        lo, hi = first + k * size, first + (k + 1) * size
        edges.append((max(lo, model.S), min(hi, model.E)))
    return edges


def units_in(units, lo, hi, last):
    """R3: units stamped in [lo, hi), the last bucket's at its end too."""
    return sum(count for ms, count in units if lo <= ms < hi or last and ms == hi)


def check_hourly(where, model, body, query, width, totals):
    """A `/metrics/hourly` answer against the reference; `totals` are the factory figures (or
    the worker's) for the same query, as the API gives them."""
    check_window(where, model, body["window"])
    buckets = body["buckets"]
    if model.empty:
        check_equal(f"{where} buckets", [], buckets)
        return
    size = body["bucket_seconds"] * 1000
    if "bucket_seconds" in query:
        check_equal(f"{where} bucket_seconds", int(query["bucket_seconds"]), body["bucket_seconds"])
    else:
        sizes = auto_bucket_sizes(model, width)
        if size not in sizes and not (None in sizes and size > 4 * WEEK):
            raise Mismatch(f"{where} bucket_seconds: API {body['bucket_seconds']}, reference one of "
                           f"{sorted(s // 1000 for s in sizes if s)} (window {model.L / 1000} s, width {width})")
    worker, station = query.get("worker_id"), query.get("workstation_id")
    workers = [worker] if worker is not None else model.worker_ids
    units = model.units(worker, station)
    check_sums(where, buckets, totals)
    if size > DAY or size > HOUR and DAY % size:  # weeks and longer: alignment left open
        check_contiguous(where, model, buckets)
        return
    edges = bucket_edges(model, size)
    check_equal(f"{where} bucket count", len(edges), len(buckets))
    for k, ((lo, hi), bucket) in enumerate(zip(edges, buckets, strict=True)):
        at = f"{where} bucket {k}"
        check_equal(f"{at} keys", sorted(["from", "to", "units", "utilization_pct", *FIGURE_OF.values()]),
                    sorted(bucket))
        check_instant(f"{at}.from", lo, bucket["from"])
        check_instant(f"{at}.to", hi, bucket["to"])
        seconds = dict.fromkeys(TIME_STATES, 0)
        for w in workers:
            for state, ms in model.seconds(w, lo, hi, station).items():
                seconds[state] += ms
        for state in TIME_STATES:
            check_seconds(f"{at}.{FIGURE_OF[state]}", seconds[state], bucket[FIGURE_OF[state]])
        active, idle = seconds["working"], seconds["idle"]
        check_rounded(f"{at}.utilization_pct", Fraction(100 * active, active + idle) if active + idle else
                      Fraction(0), bucket["utilization_pct"])
        check_equal(f"{at}.units", units_in(units, lo, hi, k == len(edges) - 1), bucket["units"])


def check_contiguous(where, model, buckets):
    if not buckets:
        raise Mismatch(f"{where}: no bucket for a window")
    check_instant(f"{where} first bucket from", model.S, buckets[0]["from"])
    check_instant(f"{where} last bucket to", model.E, buckets[-1]["to"])
    for before, after in zip(buckets, buckets[1:], strict=False):
        if before["to"] != after["from"] or ms_of(before["from"]) >= ms_of(before["to"]):
            raise Mismatch(f"{where}: buckets {before} and {after} are not back to back")


def check_sums(where, buckets, totals):
    """README: the buckets add up to the window's totals."""
    for state, figure in FIGURE_OF.items():
        total = sum(Fraction(b[figure]) for b in buckets)
        if abs(total - Fraction(totals[figure])) > Fraction(1, 1000) * max(1, len(buckets)) / 1000 + Fraction(1,
                                                                                                            10**6):
            raise Mismatch(f"{where} {state}: buckets add up to {float(total)}, the figures say {totals[figure]}")
    check_equal(f"{where} units: buckets against the figures", totals["units"], sum(b["units"] for b in buckets))


# --------------------------------------------------------------------------------------------
# /metrics/models and /metrics/drift
# --------------------------------------------------------------------------------------------

def conf_fraction(value):
    """A confidence as the exact decimal it was sent as."""
    return Fraction(str(value))


def check_mean(where, confidences, actual):
    if not confidences:
        check_equal(where, None, actual)
        return
    exact = sum(map(conf_fraction, confidences), Fraction(0)) / len(confidences)
    scaled = exact * 10_000
    low = scaled.numerator // scaled.denominator
    allowed = {Fraction(low + (scaled - low > Fraction(1, 2)), 10_000)}
    if scaled - low == Fraction(1, 2):  # the README names no rule for a tie here: either neighbour
        allowed = {Fraction(low, 10_000), Fraction(low + 1, 10_000)}
    if actual is None or float(actual) not in {float(v) for v in allowed}:
        raise Mismatch(f"{where}: API {actual!r}, reference {sorted(float(v) for v in allowed)} (exact {float(exact)})")


def nearest_rank(values, share):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def check_models(where, model, body, query, width, low_threshold):
    check_window(where, model, body["window"])
    check_equal(f"{where} low_confidence_threshold", low_threshold, body["low_confidence_threshold"])
    events = model.window_events()
    by_version = {}
    for e in events:
        by_version.setdefault(e.model, []).append(e)
    items = {item["model_version"]: item for item in body["models"]}
    check_equal(f"{where} model versions", sorted(by_version, key=str), sorted(items, key=str))
    check_equal(f"{where} models listed once", len(items), len(body["models"]))
    for version, group in by_version.items():
        at = f"{where} model {version}"
        item = items[version]
        rated = [e.confidence for e in group if e.confidence is not None]
        check_equal(f"{at}.event_count", len(group), item["event_count"])
        check_equal(f"{at}.confidence_count", len(rated), item["confidence_count"])
        check_mean(f"{at}.mean_confidence", rated, item["mean_confidence"])
        check_equal(f"{at}.p10_confidence", nearest_rank(rated, Fraction(1, 10)) if rated else None,
                    item["p10_confidence"])
        share = Fraction(sum(1 for c in rated if c < low_threshold), len(rated)) if rated else Fraction(0)
        if abs(Fraction(item["low_confidence_share"]) - share) > Fraction(1, 20_000):
            raise Mismatch(f"{at}.low_confidence_share: API {item['low_confidence_share']}, reference {float(share)}")
        check_instant(f"{at}.first_seen", min(e.ms for e in group), item["first_seen"])
        check_instant(f"{at}.last_seen", max(e.ms for e in group), item["last_seen"])
    # The series: the mean confidence per version and bucket, the buckets as /metrics/hourly's.
    if model.empty:
        check_equal(f"{where} series", [], body["series"])
        return
    size = body["bucket_seconds"] * 1000
    if "bucket_seconds" in query:
        check_equal(f"{where} bucket_seconds", int(query["bucket_seconds"]), body["bucket_seconds"])
    elif size not in auto_bucket_sizes(model, width):
        raise Mismatch(f"{where} bucket_seconds {body['bucket_seconds']}, reference one of "
                       f"{auto_bucket_sizes(model, width)}")
    if size > DAY or size > HOUR and DAY % size:
        return
    edges = bucket_edges(model, size)
    expected = {}
    for k, (lo, hi) in enumerate(edges):
        last = k == len(edges) - 1
        for e in events:
            if lo <= e.ms < hi or last and e.ms == hi:
                expected.setdefault((e.model, lo), (lo, hi, []))[2].append(e)
    points = {}
    for point in body["series"]:
        points[(point["model_version"], ms_of(point["from"]))] = point
    check_equal(f"{where} series points listed once", len(points), len(body["series"]))
    check_equal(f"{where} series points (version, bucket with its events)", sorted(expected, key=str),
                sorted(points, key=str))
    for key, (lo, hi, group) in expected.items():
        at = f"{where} series {key[0]} at {text_of(lo)}"
        point = points[key]
        check_instant(f"{at}.to", hi, point["to"])
        rated = [e.confidence for e in group if e.confidence is not None]
        check_equal(f"{at}.events (R6: every event of the version in the bucket)", len(group), point["events"])
        check_mean(f"{at}.mean_confidence", rated, point["mean_confidence"])


DRIFT_DEFAULTS = {"recent_seconds": "3600", "confidence_drop": "0.05", "mix_shift": "0.2", "min_events": "20"}


def check_drift(where, model, body, query):
    check_window(where, model, body["window"])
    rules = {name: Fraction(query.get(name, DRIFT_DEFAULTS[name])) for name in DRIFT_DEFAULTS}
    for name, value in rules.items():
        if abs(Fraction(body["rules"][name]) - value) > Fraction(1, 10**6):
            raise Mismatch(f"{where} rules.{name}: API {body['rules'][name]}, reference {float(value)}")
    check_seconds(f"{where} rules.min_present_seconds", MIN_PRESENT_MS, body["rules"]["min_present_seconds"])
    if model.empty:
        check_equal(f"{where} models", [], body["models"])
        check_equal(f"{where} flagged", 0, body["flagged"])
        return
    recent_ms = round(rules["recent_seconds"] * 1000)
    split = max(model.S, model.E - recent_ms)
    flagged = 0
    # Confidence drift per model version.
    events = model.window_events()
    versions = {e.model for e in events}
    rated = {e.model for e in events if e.confidence is not None}
    items = {item["model_version"]: item for item in body["models"]}
    # R6: the versions with a rated event in the window.
    if rated != set(items):
        raise Mismatch(f"{where} drift model versions: API {sorted(items, key=str)}, reference those rated "
                       f"{sorted(rated, key=str)} of {sorted(versions, key=str)}")
    check_equal(f"{where} drift models listed once", len(items), len(body["models"]))
    for version in items:
        at = f"{where} drift model {version}"
        item = items[version]
        group = [e for e in events if e.model == version and e.confidence is not None]
        base = [e.confidence for e in group if e.ms < split]  # R5: the split instant is recent
        recent = [e.confidence for e in group if e.ms >= split]
        check_model_drift(at, item, base, recent, rules, model, split)
        flagged += item["flagged"]
    # Working/idle mix shift per worker.
    workers = {item["worker_id"]: item for item in body["workers"]}
    check_equal(f"{where} drift workers", sorted(model.worker_ids), sorted(workers))
    for worker in model.worker_ids:
        at = f"{where} drift worker {worker}"
        item = workers[worker]
        check_equal(f"{at}.name", worker, item["name"])
        sides = {"baseline": model.seconds(worker, model.S, split), "recent": model.seconds(worker, split, model.E)}
        shares = {}
        for side, seconds in sides.items():
            present = seconds["working"] + seconds["idle"]
            check_instant(f"{at}.{side}.from", model.S if side == "baseline" else split, item[side]["from"])
            check_instant(f"{at}.{side}.to", split if side == "baseline" else model.E, item[side]["to"])
            check_seconds(f"{at}.{side}.present_seconds", present, item[side]["present_seconds"])
            shares[side] = Fraction(seconds["working"], present) if present else None
            check_close(f"{at}.{side}.working_share", shares[side], item[side]["working_share"])
        compared = all(s["working"] + s["idle"] >= MIN_PRESENT_MS for s in sides.values())
        shift = shares["recent"] - shares["baseline"] if compared else None
        check_verdict(at, item, "shift", shift, shift is not None and abs(shift) > rules["mix_shift"],
                      rules["mix_shift"])
        flagged += item["flagged"]
    check_equal(f"{where} flagged", flagged, body["flagged"])


def check_model_drift(at, item, base, recent, rules, model, split):
    for side, values, lo, hi in (("baseline", base, model.S, split), ("recent", recent, split, model.E)):
        check_instant(f"{at}.{side}.from", lo, item[side]["from"])
        check_instant(f"{at}.{side}.to", hi, item[side]["to"])
        check_equal(f"{at}.{side}.events", len(values), item[side]["events"])
        check_mean(f"{at}.{side}.mean_confidence", values, item[side]["mean_confidence"])
    compared = len(base) >= rules["min_events"] and len(recent) >= rules["min_events"]
    drop = None
    if compared:
        drop = (sum(map(conf_fraction, base), Fraction(0)) / len(base)
                - sum(map(conf_fraction, recent), Fraction(0)) / len(recent))
    check_verdict(at, item, "confidence_drop", drop, drop is not None and drop > rules["confidence_drop"],
                  rules["confidence_drop"])


def check_close(where, expected, actual, tolerance=Fraction(1, 20_000) + Fraction(1, 10**9)):
    """Within half of the fourth decimal: the README names no rounding for drops, shifts, shares."""
    if expected is None or actual is None:
        check_equal(where, expected, actual)
    elif abs(Fraction(actual) - expected) > tolerance:
        raise Mismatch(f"{where}: API {actual!r}, reference {float(expected)}")


def check_verdict(at, item, name, value, flagged, threshold):
    check_close(f"{at}.{name}", value, item[name])
    if abs(Fraction(item["threshold"]) - threshold) > Fraction(1, 10**6):
        raise Mismatch(f"{at}.threshold: API {item['threshold']}, reference {float(threshold)}")
    if value is not None and abs(abs(value) - threshold) < Fraction(1, 10**6):
        warnings.warn(f"{at}: {name} {float(value)} at its threshold", stacklevel=2)
        return
    check_equal(f"{at}.flagged", flagged, item["flagged"])
    if flagged:
        check_close(f"{at}.exceeded_by", abs(value) - threshold, item["exceeded_by"])
        if not item["reason"]:
            raise Mismatch(f"{at}.reason: a flag without a reason")
    elif item["exceeded_by"] not in (None, 0):
        raise Mismatch(f"{at}.exceeded_by: API {item['exceeded_by']!r} without a flag")


# --------------------------------------------------------------------------------------------
# One query against every chart endpoint
# --------------------------------------------------------------------------------------------

class Run:
    """A floor being posted to one app, and the comparisons made on it."""

    def __init__(self, app, floor, planner, default_gap):
        self.app, self.floor, self.planner, self.default_gap = app, floor, planner, default_gap
        self.client = app.test_client()
        self.compared = 0
        self.problems = []

    @contextlib.contextmanager
    def checking(self):
        """Collect a mismatch and go on, so one answer's fault does not hide another's."""
        try:
            yield
        except Mismatch as problem:
            self.problems.append(str(problem))

    def verdict(self):
        if self.problems:
            shown = "\n".join(self.problems[:8])
            raise Mismatch(f"{len(self.problems)} mismatches, the first ones:\n{shown}")

    def post(self, batch):
        body = self.client.post("/events", json=batch).get_json()
        statuses = [self.floor.ingest(b) for b in batch]
        assert [r["status"] for r in body["results"]] == statuses, (batch, body)

    def now(self):
        return self.app.config["CLOCK"]()

    def model(self, query):
        return Model(self.floor, self.planner, query, self.now(), self.default_gap)

    def compare(self, query, width=None, worker=None, station=None, models=False, drift=None, dashboard=False):
        """Every chart endpoint for `query` (the metrics parameters) against the reference; mismatches
        are collected (`verdict` raises them)."""
        model = self.model(query)
        where = f"query {query}"
        listed = {w["worker_id"]: w for w in get_ok(self.client, "/metrics/workers", query)["workers"]}
        with self.checking():
            check_equal(f"{where} /metrics/workers ids (the metrics oracle's ground)", sorted(model.worker_ids),
                        sorted(listed))
        chart = dict(query)
        if width is not None:
            chart["width"] = str(width)
        pixels = width or DEFAULT_WIDTH
        stations = {s["workstation_id"] for s in get_ok(self.client, "/metrics/workstations", query)["workstations"]}
        narrows = [{}, *([{"worker_id": worker}] if worker else []),
                   *([{"workstation_id": station}] if station else [])]
        for narrow in narrows:
            params = {**chart, **narrow}
            at = f"{where} {narrow or ''} width {pixels}"
            missing = (narrow.get("worker_id", "") not in listed if "worker_id" in narrow
                       else "workstation_id" in narrow and narrow["workstation_id"] not in stations)
            timeline = self.client.get("/metrics/timeline", query_string=params)
            hourly = self.client.get("/metrics/hourly", query_string=params)
            if missing:
                with self.checking():
                    check_equal(f"{at} /metrics/timeline status (not in scope)", 404, timeline.status_code)
                with self.checking():
                    check_equal(f"{at} /metrics/hourly status (not in scope)", 404, hourly.status_code)
                continue
            assert timeline.status_code == 200, (at, timeline.get_data(as_text=True))
            assert hourly.status_code == 200, (at, hourly.get_data(as_text=True))
            with self.checking():
                shown = listed if "worker_id" not in narrow else {narrow["worker_id"]: listed[narrow["worker_id"]]}
                check_timeline(f"{at} /metrics/timeline", model, timeline.get_json(), params, pixels,
                               self.default_gap, shown)
            if "worker_id" in narrow:
                totals = listed[narrow["worker_id"]]
            elif "workstation_id" in narrow:
                seconds = dict.fromkeys(TIME_STATES, 0)
                for w in model.worker_ids:
                    for state, ms in model.seconds(w, station=narrow["workstation_id"]).items():
                        seconds[state] += ms
                totals = {FIGURE_OF[s]: float(Fraction(ms, 1000)) for s, ms in seconds.items()}
                totals["units"] = sum(c for _, c in model.units(station=narrow["workstation_id"]))
            else:
                fac = get_ok(self.client, "/metrics/factory", query)["factory"]
                totals = {"active_seconds": fac["total_active_seconds"], "idle_seconds": fac["total_idle_seconds"],
                          "unknown_seconds": fac["total_unknown_seconds"], "units": fac["total_units"],
                          "absent_seconds": sum(w["absent_seconds"] for w in listed.values())}
            with self.checking():
                check_hourly(f"{at} /metrics/hourly", model, hourly.get_json(), params, pixels, totals)
            self.compared += 1
        if models:
            params = {k: v for k, v in chart.items() if k != "planned_only"}
            if models is not True:
                params.update(models)
            body = get_ok(self.client, "/metrics/models", params)
            low = float(params.get("low_confidence", LOW_CONFIDENCE))
            with self.checking():
                check_models(f"{where} /metrics/models {params}", self.model(params), body, params, pixels, low)
        if drift is not None:
            self.compare_drift(query, drift)
        if dashboard:
            with self.checking():
                self.compare_dashboard(query, chart, worker, station)

    def compare_drift(self, query, drift):
        params = {**query, **drift}
        body = get_ok(self.client, "/metrics/drift", params)
        with self.checking():
            check_drift(f"query {query} /metrics/drift {drift}", self.model(query), body, params)

    def compare_dashboard(self, query, chart, worker, station):
        """README: everything the dashboard shows for one window, worked out on one resolved window:
        each part as its own endpoint gives it for the same query."""
        params = {k: v for k, v in chart.items() if k != "bucket_seconds"}
        query = {k: v for k, v in query.items() if k != "bucket_seconds"}
        chart = dict(params)
        if worker:
            params["worker_id"] = worker
        if station:
            params["workstation_id"] = station
        where = f"query {params} /metrics/dashboard"
        body = get_ok(self.client, "/metrics/dashboard", params)
        check_equal(f"{where} window", get_ok(self.client, "/metrics/factory", query)["window"], body["window"])
        for part, path in (("factory", "/metrics/factory"), ("workers", "/metrics/workers"),
                           ("workstations", "/metrics/workstations")):
            check_equal(f"{where} {part}", get_ok(self.client, path, query)[part], body[part])
        for part, path, keys in (("timeline", "/metrics/timeline", params), ("hourly", "/metrics/hourly", params),
                                 ("models", "/metrics/models", chart), ("drift", "/metrics/drift", query)):
            response = self.client.get(path, query_string=keys)
            expected = response.get_json() if response.status_code == 200 else None
            check_equal(f"{where} {part} (against {path})", expected, body[part])
        floor = get_ok(self.client, "/metrics/dashboard", {**params, "sections": "floor"})
        for part in ("window", "factory", "workers", "workstations", "timeline"):
            check_equal(f"{where} sections=floor {part}", body[part], floor[part])
        for part in ("hourly", "models", "drift", "shift_report", "feed"):
            check_equal(f"{where} sections=floor {part}", None, floor[part])


# --------------------------------------------------------------------------------------------
# Random floors and queries
# --------------------------------------------------------------------------------------------

CONFIDENCES = [None, None, 0.0, 0.35, 0.5, 0.62, 0.8, 0.91, 0.97, 1.0]
SITES = [None, "north", "north", "south"]
MODELS = [None, "m-1", "m-2", "m-2"]


def random_shift(rng, name):
    start = rng.randrange(0, 24 * 60, 15)
    length = rng.choice([240, 360, 480, 600, 720])
    breaks = []
    offset = 30
    for _ in range(rng.randint(0, 2)):
        lo = offset + rng.randrange(0, max(1, (length - offset - 60) // 2), 5)
        hi = lo + rng.choice([10, 15, 30])
        if hi >= length - 15:
            break
        breaks.append({"start": clock_text(start + lo), "end": clock_text(start + hi)})
        offset = hi + 15
    shift = {"name": name, "start": clock_text(start), "end": clock_text(start + length), "breaks": breaks}
    if rng.random() < 0.3:
        shift["days"] = sorted(rng.sample(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], 5),
                               key=["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index)
    return shift


def clock_text(minutes):
    minutes %= 1440
    return "%02d:%02d" % divmod(minutes, 60)


def random_calendars(rng):
    """The factory calendar (UTC) and two sites: `south` with shifts of its own in Asia/Kolkata,
    `north` with the factory's shifts in Asia/Tokyo (zones without clock changes)."""
    factory = {"time_zone": "UTC", "shifts": [random_shift(rng, "A")]}
    if rng.random() < 0.5:
        factory["shifts"].append(random_shift(rng, "B"))
    sites = {"south": {"name": "South", "time_zone": "Asia/Kolkata", "shifts": [random_shift(rng, "Day")]}}
    if rng.random() < 0.7:
        sites["north"] = {"name": "North", "time_zone": "Asia/Tokyo"}
    return factory, sites


def random_floor(rng, now_ms):
    """Event bodies to post, in batches: spells from a second to hours, heartbeats, equal instants,
    product counts, events just after now (within the clock skew), a state long before the rest,
    and duplicates of every kind."""
    workers = rng.sample(["W1", "W2", "w1", "W3", "W-4"], rng.randint(2, 4))
    stations = rng.sample(["S1", "S2", "S3"], rng.randint(2, 3))
    station_site = {s: rng.choice(SITES) for s in stations}
    station_model = {s: rng.choice(MODELS) for s in stations}
    span = rng.choice([3, 8, 30, 100, 200]) * HOUR
    first = now_ms - span
    ids = iter(range(1, 10**6))
    events, instants = [], []

    def body(ms, worker, station, kind, count=None):
        b = {"timestamp": ms, "worker_id": worker, "workstation_id": station, "event_type": kind}
        if count is not None:
            b["count"] = count
        confidence = rng.choice(CONFIDENCES)
        if confidence is not None or rng.random() < 0.3:
            b["confidence"] = confidence
        site = station_site[station] if rng.random() < 0.85 else rng.choice(SITES)
        if site is not None:
            b["site_id"] = site
        version = station_model[station] if rng.random() < 0.8 else rng.choice(MODELS)
        if version is not None:
            b["model_version"] = version
        if rng.random() < 0.5:
            b["event_id"] = f"ev-{next(ids)}"
        events.append(b)
        instants.append(ms)

    for worker in workers:
        n = rng.randint(6, 24)
        t = first + rng.randint(0, span // 4)
        state, station = rng.choice(STATES), rng.choice(stations)
        for _ in range(n):
            if t > now_ms + 290 * SECOND:
                break
            ms = rng.choice(instants) if instants and rng.random() < 0.1 else t
            body(ms, worker, station, state)
            roll = rng.random()
            if roll < 0.3:  # a short spell
                t += rng.randint(1, 120) * SECOND + rng.randint(0, 999)
                state, station = rng.choice(STATES), rng.choice(stations) if rng.random() < 0.4 else station
            elif roll < 0.6:  # a heartbeat: the same state again
                t += rng.choice([1, 2, 5, 6]) * MINUTE
            else:
                t += rng.randint(1, 2 * span // n)
                if rng.random() < 0.3:
                    t = t // MINUTE * MINUTE  # on the minute
                state, station = rng.choice(STATES), rng.choice(stations) if rng.random() < 0.4 else station
        for _ in range(rng.randint(1, 6)):
            ms = rng.choice(instants) if rng.random() < 0.2 else first + rng.randint(0, span)
            body(ms, worker, rng.choice(stations), "product_count", rng.randint(1, 9))
    if rng.random() < 0.4:  # a state long before the rest, carried into every later window
        body(first - rng.randint(1, 60) * DAY - rng.randint(0, DAY), workers[0], stations[0], rng.choice(STATES))
    for _ in range(rng.randint(0, 3)):  # within the clock skew, after now
        body(now_ms + rng.randint(1, 290) * SECOND, rng.choice(workers), rng.choice(stations),
             rng.choice(STATES + ("product_count",)))
        if events[-1]["event_type"] == "product_count":
            events[-1]["count"] = 1

    extra = []
    for original in rng.sample(events, min(len(events), rng.randint(3, 8))):
        copy = dict(original)
        roll = rng.random()
        if roll < 0.3 and "event_id" in original:
            copy["confidence"] = rng.choice(CONFIDENCES)  # a retry: outside the key may differ
        elif roll < 0.6:
            copy.pop("event_id", None)  # the same event without an id
            copy["confidence"] = rng.choice(CONFIDENCES)
        elif roll < 0.75 and "event_id" in original:
            copy["timestamp"] = original["timestamp"] + 1000  # the id again for another event: rejected
        elif roll < 0.9:
            copy["event_id"] = f"ev-{next(ids)}"  # the same key under a new id: a new event
        else:
            continue
        extra.append(copy)
    events += extra
    return shuffled_batches(rng, events)


WIDTHS = [None, 50, 73, 200, 500, 2000, 10_000]


def random_query(rng, floor, now_ms):
    """Metrics parameters: windows of every shape, mid-hour edges, filters, horizons, planned time."""
    times = sorted(e.ms for e in floor.events)
    lo, hi = times[0], times[-1]
    shape = rng.choice(["whole", "inside", "inside", "across", "from", "to", "exact", "long", "days", "before",
                        "future", "hour"])
    q = {}
    if shape == "inside":
        a, b = sorted(rng.randint(lo, hi) for _ in range(2))
        q = {"from": a, "to": b}
    elif shape == "across":
        q = {"from": lo - rng.randint(0, 3 * HOUR), "to": hi + rng.randint(0, 3 * HOUR)}
    elif shape == "from":
        q = {"from": rng.randint(max(lo, now_ms - 10 * DAY), hi)}
    elif shape == "to":
        q = {"to": rng.randint(lo, hi + HOUR)}
    elif shape == "exact":
        a, b = sorted(rng.choice(times) for _ in range(2))
        q = {"from": a, "to": b}
    elif shape == "long":  # longer than three days (or exactly)
        length = rng.choice([3 * DAY, 3 * DAY + 1, rng.randint(3 * DAY, 12 * DAY)])
        end = rng.randint(now_ms - DAY, now_ms)
        q = {"from": end - length, "to": end}
    elif shape == "days":
        q = {"from": now_ms - rng.randint(1, 9) * DAY - rng.randint(0, DAY)}
    elif shape == "before":
        q = {"from": lo - rng.randint(2, 10) * HOUR, "to": lo - rng.randint(0, HOUR)}
    elif shape == "future":
        q = {"from": rng.randint(max(lo, now_ms - DAY), now_ms), "to": now_ms + rng.randint(1, DAY)}
    width = None
    if shape == "hour":  # a pixel of an hour or more, at the edge
        width = rng.choice([50, 73])
        length = width * HOUR + rng.choice([-1, 0, 1, 7 * MINUTE])
        q = {"from": now_ms - length, "to": now_ms}
    same = "from" in q and q.get("from") == q.get("to")
    for name in ("from", "to"):
        if name in q:
            q[name] = random_text(rng, q[name])
    if same:
        q["to"] = q["from"]
    if rng.random() < 0.2:
        q["site_id"] = rng.choice(["north", "south", "nowhere"])
    if rng.random() < 0.2:
        q["min_confidence"] = rng.choice(["0.3", "0.5", "0.9"])
    if rng.random() < 0.3:
        q["max_gap_seconds"] = rng.choice(["0", "60", "300", "900", "450.5", "7200"])
    if rng.random() < 0.25:
        q["planned_only"] = "true"
    return q, shape, width


def query_round(rng, run, count):
    floor = run.floor
    workers, stations = list(floor.workers), list(floor.stations)
    for _ in range(count):
        query, shape, width = random_query(rng, floor, run.now())
        if width is None:
            width = rng.choice(WIDTHS)
        worker = rng.choice(workers + ["nobody"]) if rng.random() < 0.5 else None
        station = rng.choice(stations + ["nowhere"]) if rng.random() < 0.4 else None
        if rng.random() < 0.25:
            query["bucket_seconds"] = rng.choice(["600", "900", "1800", "3600", "7200", "21600", "86400"])
            model = run.model(query)
            if not model.empty and aligned_count(model, int(query["bucket_seconds"]) * 1000) > 5000:
                response = run.client.get("/metrics/hourly", query_string=query)
                with run.checking():
                    check_equal(f"query {query}: more than 5000 buckets", 422, response.status_code)
                del query["bucket_seconds"]
        models = None
        if rng.random() < 0.35:
            models = {"low_confidence": rng.choice(["0.5", "0.62", "0.9"])} if rng.random() < 0.5 else True
        drift = None
        if rng.random() < 0.3:
            drift = {"recent_seconds": rng.choice(["600", "3600", "5400.5", "14400", "86400"]),
                     "min_events": rng.choice(["1", "2", "3", "20"]),
                     "mix_shift": rng.choice(["0.05", "0.2"]), "confidence_drop": rng.choice(["0", "0.05", "0.2"])}
        drift_query = {k: v for k, v in query.items() if k != "bucket_seconds"}
        run.compare(query, width, worker, station, models=models, dashboard=rng.random() < 0.12)
        if drift is not None:
            run.compare_drift(drift_query, drift)


def make_run(config, clock, default_gap):
    """An app on the test's database with its signal horizon set (`STATE_MAX_GAP_SECONDS`), its
    clock at `NOW`, and an empty floor."""
    config["STATE_MAX_GAP_SECONDS"] = default_gap
    clock.set(NOW)
    app = create_app(config)
    floor = Floor()
    now_ms = ms_of(NOW)
    planner = Planner(floor, now_ms - 80 * DAY, now_ms + 10 * DAY)
    return Run(app, floor, planner, default_gap)


def put_calendars(run, factory, sites):
    client = run.client
    assert client.put("/calendar", json=factory).status_code == 200
    run.floor.calendar = factory
    for site, conf in sites.items():
        assert client.put(f"/sites/{site}", json=conf).status_code == 200
        run.floor.sites[site] = conf
    run.planner.cache.clear()


def run_floor(config, clock, seed, rounds=(6, 8, 6, 5)):
    rng = random.Random(seed)
    default_gap = rng.choice([0, 900, 600])
    run = make_run(config, clock, default_gap)
    put_calendars(run, *random_calendars(rng))
    batches = random_floor(rng, ms_of(NOW))
    half = len(batches) // 2
    for batch in batches[:half]:
        run.post(batch)
    keep_up(run.app)
    if run.floor.events:
        query_round(rng, run, rounds[0])
    for batch in batches[half:]:  # late and out of order, after the roll-ups of the first half
        run.post(batch)
    query_round(rng, run, rounds[1])
    keep_up(run.app)
    query_round(rng, run, rounds[2])
    clock.set(text_of(ms_of(NOW) + rng.randint(1, 48) * 10 * MINUTE))
    keep_up(run.app)
    query_round(rng, run, rounds[3])
    run.verdict()
    return run.compared


def seeds():
    """Seeds 1-16, or `ORACLE_SEEDS=first-last` (inclusive) to explore more floors."""
    spec = os.environ.get("ORACLE_SEEDS")
    if not spec:
        return list(range(1, 17))
    first, _, last = spec.partition("-")
    return list(range(int(first), int(last or first) + 1))


@pytest.mark.parametrize("seed", seeds())
def test_random_floor_charts_match_reference(config, clock, seed, store):
    run_floor(config, clock, seed)


# --------------------------------------------------------------------------------------------
# Hand-made floors for edges random floors seldom hit, through the same comparison
# --------------------------------------------------------------------------------------------

def ev(timestamp, worker_id="W1", event_type="working", workstation_id="S1", **fields):
    return {"timestamp": timestamp, "worker_id": worker_id, "workstation_id": workstation_id,
            "event_type": event_type, **fields}


def at(clock_time, day="2026-01-15"):
    """`"10:00"` or `"10:00:30.5"` on the test day, UTC."""
    return f"{day}T{clock_time}{':00' if len(clock_time) == 5 else ''}Z"


def case_run(config, clock, batches, default_gap=0, calendars=None):
    run = make_run(config, clock, default_gap)
    if calendars:
        put_calendars(run, *calendars)
    for batch in batches:
        run.post(batch)
    return run


def test_short_spells_merge_into_bands_and_long_ones_stay(config, clock, store):
    # A burst of one-minute spells at two stations between long spells, a heartbeat run, equal instants.
    burst = [ev(at(f"08:{m:02d}:00"), event_type=STATES[m % 3], workstation_id="S1" if m % 4 else "S2")
             for m in range(20)]
    run = case_run(config, clock, [burst + [
        ev(at("08:20:00")), ev(at("08:25:00")), ev(at("08:30:00")),  # heartbeats: one spell
        ev(at("09:40:00"), event_type="idle"), ev(at("09:40:00"), event_type="working"),  # R1: idle holds 0
        ev(at("10:00:00"), event_type="absent"), ev(at("10:00:30"), event_type="idle", workstation_id="S2"),
        ev(at("10:01:00"), event_type="working", workstation_id="S2"), ev(at("11:00:00"), event_type="absent"),
        ev(at("08:10:00"), "W2", "idle", "S2"), ev(at("10:59:59.999"), "W2", "working", "S2")]])
    for width in (50, 100, 133, 3000, 10_000):
        for query in ({}, {"from": at("08:00:30"), "to": at("10:30:00")}, {"max_gap_seconds": "300"}):
            run.compare(query, width, worker="W1", station="S2")
    run.verdict()


def test_a_band_across_two_stations_names_none(config, clock, store):
    run = case_run(config, clock, [[ev(at("08:00:00")), ev(at("08:00:10"), workstation_id="S2"),
                                    ev(at("08:00:20"), event_type="idle"), ev(at("09:00:00"), event_type="absent")]])
    body = get_ok(run.client, "/metrics/timeline", {"width": "50"})
    first = body["workers"][0]["intervals"][0]
    assert first["state"] == "mixed" and first["workstation_id"] is None, first
    run.compare({}, 50)
    run.verdict()


@pytest.mark.parametrize("length, width", [(3 * DAY, 2000), (3 * DAY + 1, 2000), (50 * HOUR, 50),
                                           (50 * HOUR - 1, 50), (12 * DAY + 7 * MINUTE, 100), (20 * DAY, 50),
                                           (70 * DAY + 5 * HOUR, 50), (70 * DAY, 2000)])
def test_long_windows_are_read_in_slots(config, clock, store, length, width):
    now = ms_of(NOW)
    events = [ev(text_of(now - 13 * DAY + k * 7 * HOUR + k * 61_001), f"W{k % 3}", STATES[k % 3], f"S{k % 2}")
              for k in range(45)]
    events += [ev(text_of(now - 71 * DAY + 1234), "W1", "idle", "S1"),
               ev(text_of(now - 60 * DAY), "W2", "product_count", "S0", count=3)]
    run = case_run(config, clock, [events], default_gap=900)
    keep_up(run.app)
    query = {"from": text_of(now - 37 * MINUTE - length), "to": text_of(now - 37 * MINUTE)}
    run.compare(query, width, worker="W1", station="S1", models=True)
    run.compare({**query, "max_gap_seconds": "900"}, width)
    run.compare({**query, "max_gap_seconds": "1800"}, width)
    run.verdict()


def test_a_window_across_one_hour_boundary_has_its_time_in_both_buckets(config, clock, store):
    # 13:10-14:40: buckets 13:10-14:00 and 14:00-14:40. W1 is idle from 13:00 and works from
    # 14:30 (a unit at 14:30): 3000 s idle in the first; 1200 s idle, 600 s working and the unit
    # in the second.
    run = case_run(config, clock, [[ev(at("13:00"), event_type="idle"), ev(at("14:30")),
                                    ev(at("14:30"), event_type="product_count", count=2),
                                    ev(at("14:50"), event_type="absent")]])
    keep_up(run.app)
    body = get_ok(run.client, "/metrics/hourly", {"from": at("13:10"), "to": at("14:40")})
    assert [(b["from"], b["to"], b["active_seconds"], b["idle_seconds"], b["units"]) for b in body["buckets"]] == [
        (at("13:10"), at("14:00"), 0, 3000, 0), (at("14:00"), at("14:40"), 600, 1800, 2)], body["buckets"]


def test_buckets_cut_at_mid_hour_edges_and_units_at_the_edges(config, clock, store):
    run = case_run(config, clock, [[
        ev(at("08:10:00")), ev(at("09:00:00"), event_type="product_count", count=2),
        ev(at("09:30:00"), event_type="idle"), ev(at("10:00:00"), event_type="product_count", count=3),
        ev(at("10:45:00"), event_type="product_count", count=4), ev(at("10:45:00"), event_type="absent"),
        ev(at("08:45:00"), "W2", "product_count", "S2", count=5), ev(at("08:05:00"), "W2", "idle", "S2")]])
    for query in ({}, {"from": at("08:30:00"), "to": at("10:00:00")}, {"from": at("09:00:00"), "to": at("10:45:00")},
                  {"from": at("10:00:00"), "to": at("10:00:00")}, {"from": at("08:20:00"), "to": at("09:20:00"),
                                                                   "bucket_seconds": "600"},
                  {"bucket_seconds": "86400"}, {"bucket_seconds": "7200", "to": at("10:44:59.999")}):
        run.compare(query, 200, worker="W1", station="S2")
    run.verdict()


def test_planned_only_cuts_spells_at_breaks(config, clock, store):
    # README's worked example: one shift with a break; W1's work runs through the break.
    calendars = ({"time_zone": "UTC", "shifts": [{"name": "Early", "start": "06:00", "end": "08:00",
                                                  "breaks": [{"start": "07:00", "end": "07:15"}]}]}, {})
    run = case_run(config, clock, [[
        ev(at("05:50")), ev(at("06:05")), ev(at("06:20")), ev(at("06:30"), event_type="product_count", count=10),
        ev(at("06:35"), event_type="idle"), ev(at("06:45")), ev(at("07:00")), ev(at("07:10")),
        ev(at("07:05"), event_type="product_count", count=5), ev(at("07:50")),
        ev(at("07:55"), event_type="product_count", count=15), ev(at("08:00"), event_type="product_count", count=2),
        ev(at("08:00"), event_type="absent")]], default_gap=900, calendars=calendars)
    query = {"from": at("06:00"), "to": at("08:00"), "planned_only": "true"}
    for width in (50, 120, 2000):
        run.compare(query, width, worker="W1", station="S1", drift={"recent_seconds": "1800"})
    run.compare({"planned_only": "true"}, 500)
    run.verdict()


def test_models_figures_by_hand(config, clock, store):
    # m-1: confidences 0.2, 0.4, 0.9, 1.0 and one without: mean 0.625, p10 0.2, below 0.5: 2 of 4.
    run = case_run(config, clock, [[
        ev(at("08:00"), confidence=0.2, model_version="m-1"), ev(at("08:30"), confidence=0.4, model_version="m-1"),
        ev(at("09:10"), confidence=0.9, model_version="m-1"), ev(at("09:20"), model_version="m-1"),
        ev(at("09:59:59.999"), confidence=1.0, model_version="m-1", event_type="product_count", count=1),
        ev(at("10:00"), "W2", confidence=0.3333), ev(at("10:00:00.001"), "W2", confidence=0.3334, event_type="idle"),
        ev(at("10:30"), "W2", confidence=0.3334, event_type="absent")]])
    body = get_ok(run.client, "/metrics/models")
    (m1,) = [m for m in body["models"] if m["model_version"] == "m-1"]
    assert (m1["event_count"], m1["confidence_count"], m1["mean_confidence"], m1["p10_confidence"],
            m1["low_confidence_share"]) == (5, 4, 0.625, 0.2, 0.5), m1
    for query, models, width in (({}, True, None), ({}, {"bucket_seconds": "1800"}, None),
                                 ({}, {"low_confidence": "0.3334"}, 50), ({"to": at("09:30")}, True, 50)):
        run.compare(query, width, models=models)
    run.verdict()


def test_drift_by_hand(config, clock, store):
    # W1 works 2 h then is idle 40 min: working share 1.0 before the last hour, 1/3 in it.
    events = [ev(at("08:00")), ev(at("10:00"), event_type="idle"), ev(at("10:40"), event_type="absent")]
    events += [ev(at(f"08:{m:02d}"), "W2", "product_count", "S2", count=1, confidence=0.9, model_version="m-1")
               for m in range(0, 50, 2)]
    events += [ev(at(f"10:{m:02d}"), "W2", "product_count", "S2", count=1, confidence=0.7, model_version="m-1")
               for m in range(0, 40, 2)]
    run = case_run(config, clock, [events])
    body = get_ok(run.client, "/metrics/drift", {"min_events": "5"})
    (w1,) = [w for w in body["workers"] if w["worker_id"] == "W1"]
    assert w1["flagged"] and w1["shift"] == pytest.approx(1 / 3 - 1, abs=5e-5), w1
    (m1,) = body["models"]
    assert m1["flagged"] and m1["confidence_drop"] == pytest.approx(0.2, abs=5e-5), m1
    run.compare_drift({}, {"min_events": "5"})
    run.compare_drift({}, {"recent_seconds": "2400", "min_events": "5"})
    run.verdict()


def test_empty_and_filtered_windows(config, clock, store):
    run = case_run(config, clock, [[ev(at("08:00"), site_id="north", confidence=0.4),
                                    ev(at("09:00"), "W2", "idle", "S2", site_id="south", confidence=0.9)]])
    for query in ({"site_id": "nowhere"}, {"min_confidence": "0.95"},
                  {"min_confidence": "0.95", "from": at("07:00"), "to": at("10:00")}, {"site_id": "north"},
                  {"site_id": "south", "from": at("08:30")}):
        run.compare(query, 100, worker="W2", station="S1", models=True, dashboard=True)
    run.verdict()
