"""The floor's calendar (SPEC §5, "Sites, shifts and planned time") on hand-built calendars."""

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.calendars import (
    MAX_BREAKS,
    MAX_SHIFTS,
    Break,
    Calendar,
    Shift,
    Site,
    calendar_json,
    clip,
    contains,
    overlap_ms,
    parse_calendar,
    parse_site,
    planned_intervals,
    shift_instances,
    site_calendar,
    site_json,
)
from backend.timeutil import format_instant, parse_instant

MIN = 60_000
HOUR = 60 * MIN


def utc(text):
    """Epoch milliseconds of an ISO-8601 instant."""
    return parse_instant(text)


def calendar(time_zone, *shifts):
    """A calendar from shift objects as a client sends them; it must be valid."""
    parsed, errors = parse_calendar({"time_zone": time_zone, "shifts": list(shifts)}, "UTC")
    assert errors == []
    return parsed


def shift(name, start, end, days=None, breaks=()):
    obj = {"name": name, "start": start, "end": end, "breaks": [{"start": s, "end": e} for s, e in breaks]}
    if days is not None:
        obj["days"] = days
    return obj


def local_day(time_zone, day):
    """`[start, end)` of a local date, as epoch milliseconds."""
    zone = ZoneInfo(time_zone)
    start = datetime.fromisoformat(day).replace(tzinfo=zone)
    end = (datetime.fromisoformat(day) + timedelta(days=1)).replace(tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def instance_on(cal, day):
    """The one instance that starts on local date `day` (the range also meets the night before)."""
    [instance] = [i for i in shift_instances(cal, *local_day(cal.time_zone, day)) if i.date == day]
    return instance


def texts(intervals):
    """Intervals as ISO text, for readable comparisons."""
    return [(format_instant(s), format_instant(e)) for s, e in intervals]


def total(intervals):
    return sum(e - s for s, e in intervals)


# --- shift instances ---------------------------------------------------------------------------

def test_day_shift_with_breaks_is_planned_except_for_its_breaks():
    cal = calendar("Europe/Berlin", shift("Early", "06:00", "14:00", breaks=[("12:00", "12:30"), ("09:00", "09:15")]))
    [instance] = shift_instances(cal, *local_day("Europe/Berlin", "2026-01-15"))
    assert (instance.name, instance.date) == ("Early", "2026-01-15")
    assert texts([(instance.start_ms, instance.end_ms)]) == [("2026-01-15T05:00:00Z", "2026-01-15T13:00:00Z")]
    assert texts(instance.breaks) == [("2026-01-15T08:00:00Z", "2026-01-15T08:15:00Z"),
                                      ("2026-01-15T11:00:00Z", "2026-01-15T11:30:00Z")]
    assert texts(instance.planned) == [("2026-01-15T05:00:00Z", "2026-01-15T08:00:00Z"),
                                       ("2026-01-15T08:15:00Z", "2026-01-15T11:00:00Z"),
                                       ("2026-01-15T11:30:00Z", "2026-01-15T13:00:00Z")]
    assert total(instance.planned) == 7 * HOUR + 15 * MIN


def test_night_shift_crosses_midnight_and_its_break_after_midnight_is_on_the_next_day():
    cal = calendar("Europe/Berlin", shift("Night", "22:00", "06:00", breaks=[("02:00", "02:30")]))
    instances = shift_instances(cal, utc("2026-01-15T12:00:00Z"), utc("2026-01-16T12:00:00Z"))
    assert [(i.name, i.date) for i in instances] == [("Night", "2026-01-15")]
    [night] = instances
    assert texts([(night.start_ms, night.end_ms)]) == [("2026-01-15T21:00:00Z", "2026-01-16T05:00:00Z")]
    assert texts(night.breaks) == [("2026-01-16T01:00:00Z", "2026-01-16T01:30:00Z")]
    assert total(night.planned) == 7 * HOUR + 30 * MIN


def test_an_instance_belongs_to_the_local_date_it_starts_on_not_the_utc_date():
    cal = calendar("Europe/Berlin", shift("Small hours", "00:30", "04:00"))
    [instance] = shift_instances(cal, *local_day("Europe/Berlin", "2026-01-15"))
    assert instance.date == "2026-01-15"
    assert format_instant(instance.start_ms) == "2026-01-14T23:30:00Z"


@pytest.mark.parametrize("time_zone, start, end, breaks, day, hours", [
    # Europe/Berlin: spring forward 2026-03-29 02:00 -> 03:00, fall back 2026-10-25 03:00 -> 02:00.
    ("Europe/Berlin", "22:00", "06:00", [], "2026-03-27", 8),
    ("Europe/Berlin", "22:00", "06:00", [], "2026-03-28", 7),
    ("Europe/Berlin", "22:00", "06:00", [], "2026-10-24", 9),
    ("Europe/Berlin", "22:00", "06:00", [], "2026-10-25", 8),
    ("Europe/Berlin", "00:00", "12:00", [], "2026-03-29", 11),
    ("Europe/Berlin", "00:00", "12:00", [], "2026-10-25", 13),
    ("Europe/Berlin", "00:00", "00:00", [], "2026-03-29", 23),
    ("Europe/Berlin", "00:00", "00:00", [], "2026-10-25", 25),
    ("Europe/Berlin", "22:00", "06:00", [("04:00", "04:30")], "2026-10-24", 8.5),
    # A break over the whole changed hour: in autumn 02:00 (the first, summer one) to 03:00
    # (winter) is two real hours; in spring 02:00 takes winter time and meets 03:00 summer time.
    ("Europe/Berlin", "22:00", "06:00", [("02:00", "03:00")], "2026-10-24", 7),
    ("Europe/Berlin", "22:00", "06:00", [("02:00", "03:00")], "2026-03-28", 7),
    # America/New_York: spring forward 2026-03-08 02:00 -> 03:00, fall back 2026-11-01 02:00 -> 01:00.
    ("America/New_York", "22:00", "06:00", [], "2026-03-07", 7),
    ("America/New_York", "22:00", "06:00", [], "2026-10-31", 9),
    ("America/New_York", "22:00", "06:00", [("01:00", "01:30")], "2026-10-31", 8.5),
    ("America/New_York", "06:00", "14:00", [], "2026-03-08", 8),
    ("America/New_York", "00:00", "12:00", [], "2026-11-01", 13),
])
def test_shifts_across_a_dst_change_last_the_real_time_between_their_wall_clock_ends(
        time_zone, start, end, breaks, day, hours):
    cal = calendar(time_zone, shift("S", start, end, breaks=breaks))
    instance = instance_on(cal, day)
    assert total(instance.planned) == hours * HOUR
    assert total(planned_intervals(cal, instance.start_ms, instance.end_ms)) == hours * HOUR


@pytest.mark.parametrize("time_zone, day, wall, expected", [
    # In a spring-forward gap the offset before the change applies (the earlier one).
    ("Europe/Berlin", "2026-03-29", "01:59", "2026-03-29T00:59:00Z"),
    ("Europe/Berlin", "2026-03-29", "02:00", "2026-03-29T01:00:00Z"),
    ("Europe/Berlin", "2026-03-29", "02:30", "2026-03-29T01:30:00Z"),
    ("Europe/Berlin", "2026-03-29", "03:00", "2026-03-29T01:00:00Z"),
    ("America/New_York", "2026-03-08", "02:30", "2026-03-08T07:30:00Z"),
    ("America/New_York", "2026-03-08", "03:00", "2026-03-08T07:00:00Z"),
    # A time that happens twice takes its first occurrence (the earlier offset).
    ("Europe/Berlin", "2026-10-25", "01:59", "2026-10-24T23:59:00Z"),
    ("Europe/Berlin", "2026-10-25", "02:00", "2026-10-25T00:00:00Z"),
    ("Europe/Berlin", "2026-10-25", "02:30", "2026-10-25T00:30:00Z"),
    ("Europe/Berlin", "2026-10-25", "03:00", "2026-10-25T02:00:00Z"),
    ("America/New_York", "2026-11-01", "01:00", "2026-11-01T05:00:00Z"),
    ("America/New_York", "2026-11-01", "01:30", "2026-11-01T05:30:00Z"),
    ("America/New_York", "2026-11-01", "02:00", "2026-11-01T07:00:00Z"),
])
def test_a_wall_clock_time_takes_the_offset_in_force_before_any_change_at_that_time(time_zone, day, wall, expected):
    cal = calendar(time_zone, shift("S", wall, "12:00"))
    assert format_instant(instance_on(cal, day).start_ms) == expected


@pytest.mark.parametrize("time_zone, day", [
    ("Europe/Berlin", "2026-03-29"), ("Europe/Berlin", "2026-10-25"),
    ("America/New_York", "2026-03-08"), ("America/New_York", "2026-11-01"),
])
def test_every_minute_of_a_change_day_maps_as_an_aware_time_with_fold_zero(time_zone, day):
    zone = ZoneInfo(time_zone)
    year, month, dom = map(int, day.split("-"))
    for minute in range(0, 1440):
        wall = f"{minute // 60:02d}:{minute % 60:02d}"
        end = f"{(minute // 60 + 12) % 24:02d}:{minute % 60:02d}"
        cal = calendar(time_zone, shift("S", wall, end))
        expected = datetime(year, month, dom, minute // 60, minute % 60, tzinfo=zone, fold=0)
        assert instance_on(cal, day).start_ms == int(expected.timestamp()) * 1000, wall


def test_a_shift_from_inside_a_spring_gap_to_its_end_maps_to_no_time_and_is_left_out():
    # 02:30 takes winter time (01:30Z), 03:00 is summer time (01:00Z): nothing is planned.
    cal = calendar("Europe/Berlin", shift("Gap", "02:30", "03:00"))
    week = (utc("2026-03-26T00:00:00Z"), utc("2026-04-02T00:00:00Z"))
    assert [i.date for i in shift_instances(cal, *week)] == [
        "2026-03-26", "2026-03-27", "2026-03-28", "2026-03-30", "2026-03-31", "2026-04-01"]
    assert total(planned_intervals(cal, *week)) == 6 * 30 * MIN


def test_a_calendar_planned_round_the_clock_covers_a_whole_year_as_one_interval():
    cal = calendar("Europe/Berlin", shift("All day", "00:00", "00:00"))
    year = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
    assert planned_intervals(cal, *year) == [year]
    assert len(shift_instances(cal, *year)) == 366  # Dec 31 2025 local reaches into 2026 UTC


def test_overlapping_shifts_count_once_and_each_break_only_pauses_its_own_shift():
    cal = calendar("UTC",
                   shift("A", "06:00", "14:00", breaks=[("11:00", "11:30"), ("07:00", "07:30")]),
                   shift("B", "10:00", "18:00", breaks=[("16:00", "16:15")]))
    day = (utc("2026-01-15T00:00:00Z"), utc("2026-01-16T00:00:00Z"))
    assert [(i.name, total(i.planned)) for i in shift_instances(cal, *day)] == [
        ("A", 7 * HOUR), ("B", 7 * HOUR + 45 * MIN)]
    # A's break at 11:00 lies inside B, so it stays planned; B's at 16:00 does not.
    assert texts(planned_intervals(cal, *day)) == [
        ("2026-01-15T06:00:00Z", "2026-01-15T07:00:00Z"),
        ("2026-01-15T07:30:00Z", "2026-01-15T16:00:00Z"),
        ("2026-01-15T16:15:00Z", "2026-01-15T18:00:00Z")]


def test_shifts_that_follow_one_another_merge_into_one_planned_interval():
    cal = calendar("UTC", shift("Early", "06:00", "14:00"), shift("Late", "14:00", "22:00"))
    day = (utc("2026-01-15T00:00:00Z"), utc("2026-01-16T00:00:00Z"))
    assert texts(planned_intervals(cal, *day)) == [("2026-01-15T06:00:00Z", "2026-01-15T22:00:00Z")]
    assert [i.name for i in shift_instances(cal, *day)] == ["Early", "Late"]


def test_days_restrict_instances_and_a_sunday_night_belongs_to_sunday():
    cal = calendar("Europe/Berlin",
                   shift("Weekday", "08:00", "16:00", days=["fri", "mon", "tue", "wed", "thu"]),
                   shift("Sunday night", "22:00", "06:00", days=["sun"]))
    # 2026-01-12 is a Monday; the range (UTC) starts at 01:00 local on that Monday, inside the
    # Sunday night shift, and ends at 01:00 local on the next Monday.
    week = (utc("2026-01-12T00:00:00Z"), utc("2026-01-19T00:00:00Z"))
    assert [(i.name, i.date, date.fromisoformat(i.date).strftime("%a")) for i in shift_instances(cal, *week)] == [
        ("Sunday night", "2026-01-11", "Sun"),
        ("Weekday", "2026-01-12", "Mon"), ("Weekday", "2026-01-13", "Tue"), ("Weekday", "2026-01-14", "Wed"),
        ("Weekday", "2026-01-15", "Thu"), ("Weekday", "2026-01-16", "Fri"),
        ("Sunday night", "2026-01-18", "Sun")]
    assert total(planned_intervals(cal, *week)) == 5 * HOUR + 5 * 8 * HOUR + 3 * HOUR


def test_instances_overlapping_the_range_are_whole_and_planned_time_is_cut_to_it():
    cal = calendar("UTC", shift("Early", "06:00", "14:00"), shift("Late", "14:00", "22:00"))
    # Early ends where the range starts (half-open: not overlapping); Late is cut at 16:00.
    instances = shift_instances(cal, utc("2026-01-15T14:00:00Z"), utc("2026-01-15T16:00:00Z"))
    assert [(i.name, texts([(i.start_ms, i.end_ms)])) for i in instances] == [
        ("Late", [("2026-01-15T14:00:00Z", "2026-01-15T22:00:00Z")])]
    assert texts(planned_intervals(cal, utc("2026-01-15T14:00:00Z"), utc("2026-01-15T16:00:00Z"))) == [
        ("2026-01-15T14:00:00Z", "2026-01-15T16:00:00Z")]
    # An instance starting where the range ends is not in it either.
    assert shift_instances(cal, utc("2026-01-15T05:00:00Z"), utc("2026-01-15T06:00:00Z")) == []
    assert shift_instances(cal, utc("2026-01-15T10:00:00Z"), utc("2026-01-15T10:00:00Z")) == []


def test_instances_come_oldest_first_across_days_and_shifts():
    cal = calendar("UTC", shift("Late", "14:00", "22:00"), shift("Night", "22:00", "06:00"),
                   shift("Early", "06:00", "14:00"))
    instances = shift_instances(cal, utc("2026-01-15T00:00:00Z"), utc("2026-01-16T12:00:00Z"))
    assert [(i.name, i.date) for i in instances] == [
        ("Night", "2026-01-14"), ("Early", "2026-01-15"), ("Late", "2026-01-15"), ("Night", "2026-01-15"),
        ("Early", "2026-01-16")]
    starts = [i.start_ms for i in instances]
    assert starts == sorted(starts)


def test_an_empty_calendar_plans_nothing():
    cal, errors = parse_calendar({}, "Europe/Berlin")
    assert (cal, errors) == (Calendar("Europe/Berlin", ()), [])
    year = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
    assert shift_instances(cal, *year) == [] and planned_intervals(cal, *year) == []


# --- clip, overlap, contains --------------------------------------------------------------------

PLANNED = [(10, 20), (30, 40), (50, 60)]


@pytest.mark.parametrize("intervals, expected", [
    ([], []),
    ([(0, 5)], []),
    ([(0, 10)], []),  # touching a planned start is not overlapping it
    ([(20, 30)], []),
    ([(12, 18)], [(12, 18)]),
    ([(5, 15)], [(10, 15)]),
    ([(15, 35)], [(15, 20), (30, 35)]),
    ([(0, 100)], PLANNED),
    ([(10, 20), (20, 30), (30, 45)], [(10, 20), (30, 40)]),
    ([(15, 15)], []),  # an empty interval gives nothing
    ([(0, 35, "working"), (35, 55, "idle")], [(10, 20, "working"), (30, 35, "working"), (35, 40, "idle"),
                                              (50, 55, "idle")]),
    # Intervals sorted by start may overlap one another (two workers): each is clipped.
    ([(0, 35, "w1"), (12, 52, "w2")], [(10, 20, "w1"), (30, 35, "w1"), (12, 20, "w2"), (30, 40, "w2"),
                                       (50, 52, "w2")]),
])
def test_clip_keeps_the_parts_inside_planned_time_with_their_labels(intervals, expected):
    assert clip(intervals, PLANNED) == expected


def test_clip_against_nothing_planned_is_empty():
    assert clip([(0, 10), (10, 20)], []) == []


def test_clip_agrees_with_a_minute_by_minute_count_on_random_timelines():
    rng = random.Random(15)
    for _ in range(200):
        planned = sorted_disjoint(rng, 8)
        bounds = sorted(rng.sample(range(0, 200), rng.randint(0, 12)))
        intervals = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if a < b]
        clipped = clip(intervals, planned)
        expected = {m for a, b in intervals for m in range(a, b) if any(s <= m < e for s, e in planned)}
        assert {m for a, b in clipped for m in range(a, b)} == expected
        assert total(clipped) == len(expected)
        for start, end in intervals:
            assert overlap_ms(start, end, planned) == sum(1 for m in range(start, end) if m in expected)


def sorted_disjoint(rng, count):
    """Sorted, disjoint, non-touching intervals within 0..200, as planned_intervals gives."""
    points = sorted(rng.sample(range(0, 200), 2 * rng.randint(0, count)))
    return [(a, b) for a, b in zip(points[::2], points[1::2], strict=True)]


@pytest.mark.parametrize("start, end, expected", [
    (0, 100, 30), (0, 10, 0), (20, 30, 0), (15, 35, 10), (10, 20, 10), (55, 70, 5), (70, 90, 0), (15, 15, 0),
    (40, 10, 0),
])
def test_overlap_ms_counts_planned_time_inside_a_range(start, end, expected):
    assert overlap_ms(start, end, PLANNED) == expected


@pytest.mark.parametrize("ts, expected", [
    (9, False), (10, True), (15, True), (20, True), (21, False), (29, False), (30, True), (40, True),
    (45, False), (60, True), (61, False),
])
def test_contains_includes_both_ends_of_planned_time(ts, expected):
    assert contains(PLANNED, ts) is expected


def test_nothing_is_contained_in_nothing():
    assert contains([], 0) is False


# --- reading and writing calendars ----------------------------------------------------------------

def test_a_calendar_reads_back_from_its_json_with_days_in_week_order_and_breaks_in_time_order():
    obj = {"time_zone": "America/New_York", "shifts": [
        {"name": "  Night ", "start": "22:00", "end": "06:00", "days": ["sun", "mon"],
         "breaks": [{"start": "03:00", "end": "03:15"}, {"start": "23:30", "end": "00:00"}]},
        {"name": "Early", "start": "06:00", "end": "14:00"}]}
    cal, errors = parse_calendar(obj, "UTC")
    assert errors == []
    assert cal == Calendar("America/New_York", (
        Shift("Night", "22:00", "06:00", ("mon", "sun"), (Break("23:30", "00:00"), Break("03:00", "03:15"))),
        Shift("Early", "06:00", "14:00", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ())))
    assert calendar_json(cal) == {"time_zone": "America/New_York", "shifts": [
        {"name": "Night", "start": "22:00", "end": "06:00", "days": ["mon", "sun"],
         "breaks": [{"start": "23:30", "end": "00:00"}, {"start": "03:00", "end": "03:15"}]},
        {"name": "Early", "start": "06:00", "end": "14:00", "days": list(("mon", "tue", "wed", "thu", "fri", "sat",
                                                                          "sun")), "breaks": []}]}
    assert parse_calendar(calendar_json(cal), "UTC") == (cal, [])


@pytest.mark.parametrize("obj, default, expected_zone", [
    ({"shifts": []}, "Europe/Berlin", "Europe/Berlin"),
    ({"time_zone": None}, "Europe/Berlin", "Europe/Berlin"),
    ({"time_zone": "Asia/Kolkata"}, "Europe/Berlin", "Asia/Kolkata"),
])
def test_a_calendar_without_a_zone_takes_the_default(obj, default, expected_zone):
    cal, errors = parse_calendar(obj, default)
    assert errors == [] and cal.time_zone == expected_zone


def test_a_break_ending_where_a_24_hour_shift_starts_closes_the_shift():
    cal = calendar("UTC", shift("All day", "06:00", "06:00", breaks=[("05:30", "06:00")]))
    [instance] = shift_instances(cal, utc("2026-01-15T06:00:00Z"), utc("2026-01-15T07:00:00Z"))
    assert texts(instance.breaks) == [("2026-01-16T05:30:00Z", "2026-01-16T06:00:00Z")]


def good_shift(**changes):
    obj = {"name": "Early", "start": "06:00", "end": "14:00"}
    obj.update(changes)
    return obj


@pytest.mark.parametrize("obj, expected", [
    ([], [(None, "a calendar must be a JSON object")]),
    ({"time_zone": "Mars/Olympus"}, [("time_zone", "is not a known IANA time zone: 'Mars/Olympus'")]),
    ({"time_zone": "../etc/passwd"}, [("time_zone", "is not a known IANA time zone: '../etc/passwd'")]),
    ({"time_zone": "America"}, [("time_zone", "is not a known IANA time zone: 'America'")]),
    ({"time_zone": "localtime"}, [("time_zone", "is not a known IANA time zone: 'localtime'")]),
    ({"time_zone": 1}, [("time_zone", 'must be an IANA time zone name such as "Europe/Berlin"')]),
    ({"timezone": "UTC"}, [("timezone", "is not a known field (known: time_zone, shifts)")]),
    ({"shifts": {}}, [("shifts", "must be an array of shifts")]),
    ({"shifts": [good_shift()] * (MAX_SHIFTS + 1)}, [("shifts", f"must hold at most {MAX_SHIFTS} shifts")]),
    ({"shifts": ["Early"]}, [("shifts[0]", "a shift must be a JSON object")]),
    ({"shifts": [good_shift(name="  ")]}, [("shifts[0].name", "must not be blank")]),
    ({"shifts": [good_shift(name=7)]}, [("shifts[0].name", "must be a string")]),
    ({"shifts": [good_shift(name="x" * 101)]}, [("shifts[0].name", "must be at most 100 characters")]),
    ({"shifts": [{"start": "06:00", "end": "14:00"}]}, [("shifts[0].name", "is required")]),
    ({"shifts": [good_shift(), good_shift(name="early ")]},
     [("shifts[1].name", "repeats the name of shifts[0]: 'early'")]),
    ({"shifts": [good_shift(start="6:00")]},
     [("shifts[0].start", "must be a time HH:MM from 00:00 to 23:59; it is '6:00'")]),
    ({"shifts": [good_shift(end="24:00")]},
     [("shifts[0].end", "must be a time HH:MM from 00:00 to 23:59; it is '24:00'")]),
    ({"shifts": [good_shift(end="12:60")]},
     [("shifts[0].end", "must be a time HH:MM from 00:00 to 23:59; it is '12:60'")]),
    ({"shifts": [good_shift(end=1400)]},
     [("shifts[0].end", "must be a time HH:MM from 00:00 to 23:59; it is 1400")]),
    ({"shifts": [{"name": "Early", "end": "14:00"}]},
     [("shifts[0].start", "must be a time HH:MM from 00:00 to 23:59; it is required")]),
    ({"shifts": [good_shift(days="mon")]},
     [("shifts[0].days", "must be an array of days: mon, tue, wed, thu, fri, sat, sun")]),
    ({"shifts": [good_shift(days=[])]},
     [("shifts[0].days", "must name at least one day (leave it out for every day)")]),
    ({"shifts": [good_shift(days=["mon", "Tue", "funday", 3])]},
     [("shifts[0].days[1]", "must be one of mon, tue, wed, thu, fri, sat, sun; it is 'Tue'"),
      ("shifts[0].days[2]", "must be one of mon, tue, wed, thu, fri, sat, sun; it is 'funday'"),
      ("shifts[0].days[3]", "must be one of mon, tue, wed, thu, fri, sat, sun; it is 3")]),
    ({"shifts": [good_shift(days=["mon", "tue", "mon"])]}, [("shifts[0].days[2]", "repeats 'mon'")]),
    ({"shifts": [good_shift(breaks={"start": "09:00"})]}, [("shifts[0].breaks", "must be an array of breaks")]),
    ({"shifts": [good_shift(breaks=[{"start": "09:00", "end": "09:05"}] * (MAX_BREAKS + 1))]},
     [("shifts[0].breaks", f"must hold at most {MAX_BREAKS} breaks")]),
    ({"shifts": [good_shift(breaks=[None])]}, [("shifts[0].breaks[0]", "a break must be a JSON object")]),
    ({"shifts": [good_shift(breaks=[{"start": "09:00", "end": "09:15", "paid": True}])]},
     [("shifts[0].breaks[0].paid", "is not a known field (known: start, end)")]),
    ({"shifts": [good_shift(breaks=[{"start": "13:45", "end": "14:15"}])]},
     [("shifts[0].breaks[0].end", "14:15 lies outside the shift 06:00-14:00 "
                                  "(a time before the shift's start is on the next day)")]),
    ({"shifts": [good_shift(breaks=[{"start": "05:45", "end": "06:15"}])]},
     [("shifts[0].breaks[0].start", "05:45 lies outside the shift 06:00-14:00 "
                                    "(a time before the shift's start is on the next day)")]),
    ({"shifts": [good_shift(breaks=[{"start": "14:00", "end": "14:30"}])]},
     [("shifts[0].breaks[0].start", "14:00 lies outside the shift 06:00-14:00 "
                                    "(a time before the shift's start is on the next day)"),
      ("shifts[0].breaks[0].end", "14:30 lies outside the shift 06:00-14:00 "
                                  "(a time before the shift's start is on the next day)")]),
    ({"shifts": [good_shift(breaks=[{"start": "10:00", "end": "09:00"}])]},
     [("shifts[0].breaks[0].end", "must be after the break's start 10:00")]),
    ({"shifts": [good_shift(breaks=[{"start": "09:00", "end": "09:00"}])]},
     [("shifts[0].breaks[0].end", "must be after the break's start 09:00")]),
    ({"shifts": [good_shift(breaks=[{"start": "09:00", "end": "09:30"}, {"start": "09:15", "end": "09:45"}])]},
     [("shifts[0].breaks[1]", "overlaps shifts[0].breaks[0]")]),
    ({"shifts": [good_shift(breaks=[{"start": "09:15", "end": "09:45"}, {"start": "09:00", "end": "09:30"}])]},
     [("shifts[0].breaks[0]", "overlaps shifts[0].breaks[1]")]),
])
def test_each_kind_of_invalid_calendar_is_named(obj, expected):
    cal, errors = parse_calendar(obj, "UTC")
    assert cal is None
    assert [(e["field"], e["message"]) for e in errors] == expected


def test_an_invalid_calendar_lists_every_problem_at_once():
    obj = {"time_zone": "Europe/Berln", "extra": 1, "shifts": [
        {"name": "Early", "start": "06:00", "end": "14:00", "days": ["mon", "mon"],
         "breaks": [{"start": "13:00", "end": "15:00"}]},
        {"name": "", "start": "25:00", "end": "06:00", "breaks": [{"start": "x", "end": "02:00"}]},
        {"name": "Early", "start": "14:00", "end": "22:00", "brakes": []},
    ]}
    cal, errors = parse_calendar(obj, "UTC")
    assert cal is None
    assert [e["field"] for e in errors] == [
        "extra", "time_zone",
        "shifts[0].days[1]", "shifts[0].breaks[0].end",
        "shifts[1].name", "shifts[1].start", "shifts[1].breaks[0].start",
        "shifts[2].brakes", "shifts[2].name",
    ]


# --- sites ---------------------------------------------------------------------------------------

FACTORY = Calendar("Europe/Berlin", (Shift("Early", "06:00", "14:00"),))


@pytest.mark.parametrize("obj, site, zone, shift_names", [
    ({"name": " Plant B "}, Site("Plant B"), "Europe/Berlin", ["Early"]),
    ({"name": "Plant B", "time_zone": "America/New_York", "shifts": None},
     Site("Plant B", "America/New_York"), "America/New_York", ["Early"]),
    ({"name": "Plant B", "shifts": [good_shift(name="Day", start="07:00", end="15:00")]},
     Site("Plant B", None, (Shift("Day", "07:00", "15:00"),)), "Europe/Berlin", ["Day"]),
    ({"name": "Closed", "shifts": []}, Site("Closed", None, ()), "Europe/Berlin", []),
])
def test_a_site_uses_its_own_zone_and_shifts_else_the_factorys(obj, site, zone, shift_names):
    parsed, errors = parse_site(obj)
    assert (parsed, errors) == (site, [])
    cal = site_calendar(parsed, FACTORY)
    assert cal.time_zone == zone
    assert [s.name for s in cal.shifts] == shift_names
    assert parse_site(site_json(parsed)) == (parsed, [])


def test_a_workstation_without_a_site_uses_the_factory_calendar():
    assert site_calendar(None, FACTORY) is FACTORY


def test_a_site_as_read_with_its_id_can_be_written_back():
    assert parse_site({"site_id": "plant-b", "name": "Plant B"}, "plant-b") == (Site("Plant B"), [])


@pytest.mark.parametrize("obj, site_id, expected", [
    ("Plant B", None, [(None, "a site must be a JSON object")]),
    ({}, None, [("name", "is required")]),
    ({"name": "Plant B", "site_id": "plant-b"}, None,
     [("site_id", "is not a known field (known: name, time_zone, shifts)")]),
    ({"name": "Plant B", "site_id": "plant-c"}, "plant-b",
     [("site_id", "must be 'plant-b', the site being written, or left out")]),
    ({"name": "", "time_zone": "Nowhere", "shifts": [{"name": "Day"}]}, None,
     [("name", "must not be blank"), ("time_zone", "is not a known IANA time zone: 'Nowhere'"),
      ("shifts[0].start", "must be a time HH:MM from 00:00 to 23:59; it is required"),
      ("shifts[0].end", "must be a time HH:MM from 00:00 to 23:59; it is required")]),
])
def test_an_invalid_site_lists_every_problem(obj, site_id, expected):
    site, errors = parse_site(obj, site_id)
    assert site is None
    assert [(e["field"], e["message"]) for e in errors] == expected


def test_instants_are_whole_milliseconds_in_utc():
    cal = calendar("Asia/Kathmandu", shift("Day", "09:00", "17:00"))
    [instance] = shift_instances(cal, *local_day("Asia/Kathmandu", "2026-01-15"))
    assert isinstance(instance.start_ms, int)
    expected = datetime(2026, 1, 15, 3, 15, tzinfo=UTC)  # UTC+05:45
    assert instance.start_ms == int(expected.timestamp()) * 1000
