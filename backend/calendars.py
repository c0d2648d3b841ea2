"""The floor's calendar (SPEC §5, "Sites, shifts and planned time"): shifts to planned time.

Pure functions: no Flask, no SQL. Instants are integer UTC epoch milliseconds; an interval is a
half-open tuple `(start_ms, end_ms)`; a list of intervals is sorted by start.

A calendar is `{"time_zone": <IANA name>, "shifts": [shift, ...]}`; a shift is
`{"name": "Early", "start": "06:00", "end": "14:00", "days": ["mon", ..., "sun"], "breaks":
[{"start": "09:00", "end": "09:15"}]}`. Times are wall-clock times of the calendar's zone:

- `end` at or before `start` ends the next day (so `start == end` is a 24-hour shift);
- an instance belongs to the local date it starts on and runs only on its `days` (default all);
- a break time earlier than the shift's start lies on the next day;
- a wall-clock time becomes an instant with the UTC offset in force before any transition at
  that time: a time in a spring-forward gap, or in the repeated hour of a fall-back, takes the
  earlier offset (`fold=0` in `zoneinfo` terms, which means exactly that for both cases).

Planned time is the union of the shift instances minus their breaks.
"""

import itertools
import re
from bisect import bisect_right
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SHIFTS = 50
MAX_BREAKS = 20
MAX_NAME_LENGTH = 100

CALENDAR_FIELDS = ("time_zone", "shifts")
SHIFT_FIELDS = ("name", "start", "end", "days", "breaks")
BREAK_FIELDS = ("start", "end")
SITE_FIELDS = ("name", "time_zone", "shifts")

MINUTES_PER_DAY = 1440
DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_LAST_ORDINAL = date.max.toordinal()
_MS = timedelta(milliseconds=1)
_MINUTE_MS = 60_000
_INF = float("inf")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")
# Names that load on this host but mean "whatever this machine is set to", not a place.
_HOST_ZONES = frozenset({"localtime", "posixrules"})


class Break(NamedTuple):
    """A break inside a shift: wall-clock `start` and `end` as `HH:MM` text."""

    start: str
    end: str


class Shift(NamedTuple):
    """A shift: `name`, wall-clock `start`/`end` (`HH:MM`), `days` in week order, `breaks`."""

    name: str
    start: str
    end: str
    days: tuple = DAYS
    breaks: tuple = ()


class Calendar(NamedTuple):
    """An IANA `time_zone` and the `shifts` (a tuple of `Shift`) planned in it."""

    time_zone: str
    shifts: tuple = ()


class Site(NamedTuple):
    """A site: `name`, own `time_zone` (or `None`) and own `shifts` (or `None`: the factory's)."""

    name: str
    time_zone: str | None = None
    shifts: tuple | None = None


class ShiftInstance(NamedTuple):
    """One occurrence of a shift: local `date` it starts on (ISO text), its instants and breaks.

    `breaks` and `planned` are sorted, disjoint intervals inside `[start_ms, end_ms)`;
    `planned` is the instance minus its breaks.
    """

    name: str
    date: str
    start_ms: int
    end_ms: int
    breaks: list
    planned: list


# --- reading a calendar ---------------------------------------------------------------------------

def parse_calendar(obj, default_time_zone):
    """Validate a calendar JSON object; return `(Calendar, [])` or `(None, errors)`.

    `time_zone` may be left out (or `null`): `default_time_zone` is used. `shifts` may be left
    out (or `null`): no shift, so no planned time. Every problem is listed, each as
    `{"field": "shifts[1].breaks[0].end", "message": ...}` (`field` is `None` for the object
    itself). The rules:

    - the object and each shift and break are JSON objects without unknown members (a typo such
      as `"break"` would otherwise silently drop the breaks);
    - `time_zone` is an IANA zone name known to this server;
    - `shifts` is an array of at most `MAX_SHIFTS` shifts;
    - a shift's `name` is a string, not blank, at most `MAX_NAME_LENGTH` characters, and no two
      shifts share a name (compared without surrounding spaces and case); the name is stored
      without surrounding spaces;
    - `start`, `end` and every break time are `HH:MM` from `00:00` to `23:59`; `start == end`
      is a 24-hour shift (SPEC: `end` at or before `start` ends the next day), so no shift is
      empty;
    - `days` (default all) is a non-empty array of `mon` ... `sun`, each at most once; it is
      stored in week order;
    - `breaks` is an array of at most `MAX_BREAKS` breaks; each lies inside its shift (a time
      before the shift's start is on the next day; a break end equal to the shift's start is
      the end of a 24-hour shift), ends after it starts, and overlaps no other break of the
      shift (touching is fine); breaks are stored in the order they happen.
    """
    errors = []
    if not isinstance(obj, dict):
        return None, [_error(None, "a calendar must be a JSON object")]
    _unknown_fields(obj, CALENDAR_FIELDS, "", errors)
    time_zone = obj.get("time_zone")
    if time_zone is None:
        time_zone = default_time_zone
    else:
        _check_zone(time_zone, "time_zone", errors)
    shifts = _parse_shifts(obj.get("shifts"), "shifts", errors)
    if errors:
        return None, errors
    return Calendar(time_zone, shifts), []


def parse_site(obj, site_id=None):
    """Validate a site JSON object (`name`, optional `time_zone`, optional `shifts`).

    Returns `(Site, [])` or `(None, errors)`, every problem listed as in `parse_calendar`.
    `name` is required: a string, not blank, at most `MAX_NAME_LENGTH` characters (stored
    without surrounding spaces). `time_zone` left out or `null`: the site keeps the factory's
    zone. `shifts` left out or `null`: the site uses the factory's shifts; an array (even an
    empty one) is the site's own list, checked like a calendar's. A `site_id` member is
    accepted when it equals `site_id`, so a site as read can be written back unchanged.
    """
    errors = []
    if not isinstance(obj, dict):
        return None, [_error(None, "a site must be a JSON object")]
    known = SITE_FIELDS + ("site_id",) if site_id is not None else SITE_FIELDS
    _unknown_fields(obj, known, "", errors)
    if site_id is not None and "site_id" in obj and obj["site_id"] != site_id:
        errors.append(_error("site_id", f"must be {site_id!r}, the site being written, or left out"))
    name = _parse_name(obj.get("name"), "name", errors)
    time_zone = obj.get("time_zone")
    if time_zone is not None:
        _check_zone(time_zone, "time_zone", errors)
    shifts = obj.get("shifts")
    if shifts is not None:
        shifts = _parse_shifts(shifts, "shifts", errors)
    if errors:
        return None, errors
    return Site(name, time_zone, shifts), []


def site_calendar(site, factory_calendar):
    """The calendar a site runs on: its own shifts, else the factory's, in its zone if it has one.

    `site` may be `None` (a workstation without a site): the factory calendar.
    """
    if site is None:
        return factory_calendar
    return Calendar(site.time_zone or factory_calendar.time_zone,
                    factory_calendar.shifts if site.shifts is None else site.shifts)


def calendar_json(calendar):
    """A `Calendar` as the JSON object `parse_calendar` reads back into an equal value."""
    return {"time_zone": calendar.time_zone, "shifts": [_shift_json(s) for s in calendar.shifts]}


def site_json(site):
    """A `Site` as the JSON object `parse_site` reads back; absent zone or shifts are `null`."""
    return {"name": site.name, "time_zone": site.time_zone,
            "shifts": None if site.shifts is None else [_shift_json(s) for s in site.shifts]}


def _shift_json(shift):
    return {"name": shift.name, "start": shift.start, "end": shift.end, "days": list(shift.days),
            "breaks": [{"start": b.start, "end": b.end} for b in shift.breaks]}


def _error(field, message):
    return {"field": field, "message": message}


def _unknown_fields(obj, known, prefix, errors):
    for key in obj:
        if key not in known:
            errors.append(_error(f"{prefix}{key}", f"is not a known field (known: {', '.join(known)})"))


def _check_zone(value, field, errors):
    if not isinstance(value, str) or not value:
        errors.append(_error(field, "must be an IANA time zone name such as \"Europe/Berlin\""))
        return
    try:
        if value in _HOST_ZONES:
            raise ValueError(value)
        ZoneInfo(value)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        errors.append(_error(field, f"is not a known IANA time zone: {value!r}"))


def _parse_name(value, field, errors):
    if not isinstance(value, str):
        errors.append(_error(field, "must be a string" if value is not None else "is required"))
        return None
    name = value.strip()
    if not name:
        errors.append(_error(field, "must not be blank"))
    elif len(name) > MAX_NAME_LENGTH:
        errors.append(_error(field, f"must be at most {MAX_NAME_LENGTH} characters"))
    return name


def _parse_time(value, field, errors):
    """`HH:MM` text to minutes after midnight, or `None` after recording the problem."""
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        shown = "is required" if value is None else f"is {value!r}"
        errors.append(_error(field, f"must be a time HH:MM from 00:00 to 23:59; it {shown}"))
        return None
    return int(match[1]) * 60 + int(match[2])


def _parse_shifts(value, field, errors):
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.append(_error(field, "must be an array of shifts"))
        return ()
    if len(value) > MAX_SHIFTS:
        errors.append(_error(field, f"must hold at most {MAX_SHIFTS} shifts"))
        return ()
    shifts = []
    seen = {}
    for index, item in enumerate(value):
        path = f"{field}[{index}]"
        shift = _parse_shift(item, path, errors)
        if shift is None:
            continue
        key = shift.name.casefold()
        if key and key in seen:
            errors.append(_error(f"{path}.name", f"repeats the name of {field}[{seen[key]}]: {shift.name!r}"))
        seen.setdefault(key, index)
        shifts.append(shift)
    return tuple(shifts)


def _parse_shift(obj, path, errors):
    if not isinstance(obj, dict):
        errors.append(_error(path, "a shift must be a JSON object"))
        return None
    _unknown_fields(obj, SHIFT_FIELDS, f"{path}.", errors)
    name = _parse_name(obj.get("name"), f"{path}.name", errors)
    start = _parse_time(obj.get("start"), f"{path}.start", errors)
    end = _parse_time(obj.get("end"), f"{path}.end", errors)
    days = _parse_days(obj.get("days"), f"{path}.days", errors)
    length = None if start is None or end is None else _span(start, end)
    breaks = _parse_breaks(obj.get("breaks"), f"{path}.breaks", start, length, errors)
    if name is None or start is None or end is None:
        return None
    return Shift(name, _hhmm(start), _hhmm(end), days, breaks)


def _parse_days(value, field, errors):
    if value is None:
        return DAYS
    if not isinstance(value, list):
        errors.append(_error(field, "must be an array of days: " + ", ".join(DAYS)))
        return DAYS
    if not value:
        errors.append(_error(field, "must name at least one day (leave it out for every day)"))
    seen = set()
    for index, day in enumerate(value):
        if day not in DAYS:  # also every non-string
            errors.append(_error(f"{field}[{index}]", f"must be one of {', '.join(DAYS)}; it is {day!r}"))
        elif day in seen:
            errors.append(_error(f"{field}[{index}]", f"repeats {day!r}"))
        else:
            seen.add(day)
    return tuple(day for day in DAYS if day in seen)


def _parse_breaks(value, field, shift_start, shift_length, errors):
    """Breaks as `Break` values in the order they happen; checks them against the shift if known."""
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.append(_error(field, "must be an array of breaks"))
        return ()
    if len(value) > MAX_BREAKS:
        errors.append(_error(field, f"must hold at most {MAX_BREAKS} breaks"))
        return ()
    placed = []  # (offset of start, offset of end, index) in minutes from the shift's start
    for index, obj in enumerate(value):
        path = f"{field}[{index}]"
        if not isinstance(obj, dict):
            errors.append(_error(path, "a break must be a JSON object"))
            continue
        _unknown_fields(obj, BREAK_FIELDS, f"{path}.", errors)
        start = _parse_time(obj.get("start"), f"{path}.start", errors)
        end = _parse_time(obj.get("end"), f"{path}.end", errors)
        if start is None or end is None or shift_start is None or shift_length is None:
            continue
        start_offset, end_offset = _break_offsets(shift_start, start, end)
        shift_text = f"{_hhmm(shift_start)}-{_hhmm((shift_start + shift_length) % MINUTES_PER_DAY)}"
        outside = False
        if start_offset >= shift_length:
            outside = True
            errors.append(_error(f"{path}.start", f"{_hhmm(start)} lies outside the shift {shift_text} "
                                                  "(a time before the shift's start is on the next day)"))
        if end_offset > shift_length:
            outside = True
            errors.append(_error(f"{path}.end", f"{_hhmm(end)} lies outside the shift {shift_text} "
                                                "(a time before the shift's start is on the next day)"))
        if outside:
            continue
        if end_offset <= start_offset:
            errors.append(_error(f"{path}.end", f"must be after the break's start {_hhmm(start)}"))
            continue
        placed.append((start_offset, end_offset, index))
    placed.sort()
    for (_, earlier_end, earlier), (later_start, _, later) in zip(placed, placed[1:], strict=False):
        if later_start < earlier_end:
            errors.append(_error(f"{field}[{later}]", f"overlaps {field}[{earlier}]"))
    return tuple(Break(_hhmm((shift_start + s) % MINUTES_PER_DAY), _hhmm((shift_start + e) % MINUTES_PER_DAY))
                 for s, e, _ in placed)


def _span(start, end):
    """Wall-clock minutes from `start` to `end`; `end` at or before `start` is the next day."""
    return (end - start) % MINUTES_PER_DAY or MINUTES_PER_DAY


def _break_offsets(shift_start, start, end):
    """A break's start and end as minutes after the shift's start (times before it: next day).

    A break end equal to the shift's start can only close a break at the end of a 24-hour shift.
    """
    return (start - shift_start) % MINUTES_PER_DAY, (end - shift_start) % MINUTES_PER_DAY or MINUTES_PER_DAY


def _hhmm(minutes):
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- shift instances and planned time ------------------------------------------------------------

class _Plan(NamedTuple):
    name: str
    weekdays: frozenset
    start: int  # minutes after local midnight
    end: int  # minutes after local midnight of the start date (up to 2880)
    breaks: tuple  # ((start, end), ...) minutes after local midnight of the start date


def _plans(calendar):
    plans = []
    for shift in calendar.shifts:
        start = _minutes(shift.start)
        end = start + _span(start, _minutes(shift.end))
        breaks = tuple((start + s, start + e)
                       for s, e in (_break_offsets(start, _minutes(b.start), _minutes(b.end)) for b in shift.breaks))
        plans.append(_Plan(shift.name, frozenset(DAYS.index(d) for d in shift.days), start, end, breaks))
    return plans


def _minutes(hhmm):
    return int(hhmm[:2]) * 60 + int(hhmm[3:5])


def _day_clock(offset_of, ordinal):
    """A function from wall-clock minutes after local midnight of day `ordinal` to instants.

    The minutes may run into the next day (up to 2 x 1440). A naive time asked of the zone
    (`offset_of` is its `utcoffset`) has `fold=0`, which gives the offset in force before any
    transition at that wall-clock time, for a time in a gap as well as for a repeated one.
    """
    days = (date.fromordinal(ordinal), date.fromordinal(ordinal + 1))
    midnight_ms = (ordinal - _EPOCH_ORDINAL) * DAY_MS

    def instant_ms(minute):
        day = days[minute >= MINUTES_PER_DAY]
        hour, minute_of_hour = divmod(minute % MINUTES_PER_DAY, 60)
        offset = offset_of(datetime(day.year, day.month, day.day, hour, minute_of_hour))
        return midnight_ms + minute * _MINUTE_MS - offset // _MS

    return instant_ms


def _instances(calendar, start_ms, end_ms):
    """Yield `(start, end, name, ordinal, breaks)` for every instance overlapping the range."""
    if end_ms <= start_ms or not calendar.shifts:
        return
    offset_of = ZoneInfo(calendar.time_zone).utcoffset
    plans = _plans(calendar)
    # A local date is within a day of the UTC date, and an instance lasts at most a day of wall
    # clock; the margins cover both, and the overlap test below drops what lies outside.
    first = max(1, _EPOCH_ORDINAL + start_ms // DAY_MS - 2)
    last = min(_LAST_ORDINAL - 1, _EPOCH_ORDINAL + end_ms // DAY_MS + 1)
    for ordinal in range(first, last + 1):
        weekday = (ordinal - 1) % 7  # day 1 (0001-01-01) is a Monday
        wall = None
        for plan in plans:
            if weekday not in plan.weekdays:
                continue
            wall = wall or _day_clock(offset_of, ordinal)
            start = wall(plan.start)
            if start >= end_ms:
                continue
            end = wall(plan.end)
            # Only a start inside a spring-forward gap can map past the end: the instance is empty.
            if end <= start_ms or end <= start:
                continue
            breaks = []
            for break_start, break_end in plan.breaks:
                # Across a transition a break may reach past its shift; it counts only inside it.
                s = max(start, wall(break_start))
                e = min(end, wall(break_end))
                if e > s:
                    breaks.append((s, e))
            yield start, end, plan.name, ordinal, _merge(sorted(breaks)) if len(breaks) > 1 else breaks


def shift_instances(calendar, start_ms, end_ms, limit=None):
    """Every shift instance overlapping `[start_ms, end_ms)`, oldest first, as `ShiftInstance`s;
    with `limit`, no more than that many, those of the range's first days (a range of centuries
    holds millions).

    Instances are whole (not cut to the range). Ties in start are ordered by end, then by the
    order of the shifts in the calendar. An instance whose start lies in a spring-forward gap and
    whose end lies just after it maps to no time at all and is left out.
    """
    found = []
    listed = itertools.islice(_instances(calendar, start_ms, end_ms), limit)
    for position, (start, end, name, ordinal, breaks) in enumerate(listed):
        found.append((start, end, position, ShiftInstance(
            name, date.fromordinal(ordinal).isoformat(), start, end, breaks, _subtract(start, end, breaks))))
    found.sort()
    return [item[3] for item in found]


def planned_of_shift(calendar, which, instant_ms, start_ms, end_ms):
    """Planned time inside `[start_ms, end_ms)` of one shift, minus its breaks, sorted and merged:
    with `which` `"current"`, the instances under way at `instant_ms` (at the millisecond before
    it); with `"previous"`, those that ended last at or before it among the instances overlapping
    `[start_ms, end_ms)`. None when there is no such shift."""
    if which == "current":
        chosen = shift_instances(calendar, instant_ms - 1, instant_ms)
    else:
        ended = [i for i in shift_instances(calendar, start_ms, end_ms) if i.end_ms <= instant_ms]
        last_ms = max((i.end_ms for i in ended), default=None)
        chosen = [i for i in ended if i.end_ms == last_ms]
    return _within((piece for instance in chosen for piece in instance.planned), start_ms, end_ms)


def planned_intervals(calendar, start_ms, end_ms):
    """Planned time inside `[start_ms, end_ms)`: shift instances minus breaks, sorted and merged.

    Overlapping or touching instances become one interval, so time planned twice counts once.
    """
    return _within((piece for start, end, _, _, breaks in _instances(calendar, start_ms, end_ms)
                    for piece in _subtract(start, end, breaks)), start_ms, end_ms)


def _within(pieces, start_ms, end_ms):
    """The parts of `(start, end)` pieces inside `[start_ms, end_ms)`, sorted and merged."""
    return _merge(sorted((max(s, start_ms), min(e, end_ms)) for s, e in pieces if min(e, end_ms) > max(s, start_ms)))


def _subtract(start, end, holes):
    """`[start, end)` minus sorted, disjoint `holes` that lie inside it."""
    out = []
    for hole_start, hole_end in holes:
        if hole_start > start:
            out.append((start, hole_start))
        start = max(start, hole_end)
    if end > start:
        out.append((start, end))
    return out


def _merge(intervals):
    """Merge sorted intervals that overlap or touch."""
    merged = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


# --- intervals against planned time -------------------------------------------------------------

def clip(intervals, planned):
    """The parts of `intervals` that lie in `planned`, in one pass over both lists.

    `intervals`: tuples `(start_ms, end_ms, *extra)` sorted by start (they may overlap one
    another); `planned`: sorted, disjoint `(start_ms, end_ms)` intervals, as `planned_intervals`
    gives. Each piece keeps the extra members of its interval, so `(s, e, "working")` clips to
    `(s', e', "working")` pieces. Empty pieces are left out. Runs in time linear in the inputs
    and the output.
    """
    out = []
    count = len(planned)
    first = 0
    for item in intervals:
        start, end, extra = item[0], item[1], tuple(item[2:])
        # Starts never decrease, so planned time ending at or before this start is done with.
        while first < count and planned[first][1] <= start:
            first += 1
        index = first
        while index < count and planned[index][0] < end:
            piece_start = max(start, planned[index][0])
            piece_end = min(end, planned[index][1])
            if piece_end > piece_start:
                out.append((piece_start, piece_end) + extra)
            index += 1
    return out


def overlap_ms(start_ms, end_ms, planned):
    """Milliseconds of `[start_ms, end_ms)` that lie in `planned` (sorted, disjoint intervals)."""
    total = 0
    # The first planned interval that could reach past start_ms.
    index = max(0, bisect_right(planned, (start_ms, start_ms)) - 1)
    while index < len(planned) and planned[index][0] < end_ms:
        piece = min(end_ms, planned[index][1]) - max(start_ms, planned[index][0])
        if piece > 0:
            total += piece
        index += 1
    return total


def contains(planned, ts_ms):
    """Whether instant `ts_ms` lies in `planned` (sorted, disjoint), both ends included.

    Ends are included because SPEC counts a product count whose timestamp lies in planned time,
    ends included: a count stamped at the end of a shift still belongs to it.
    """
    index = bisect_right(planned, (ts_ms, _INF)) - 1
    return index >= 0 and planned[index][0] <= ts_ms <= planned[index][1]
