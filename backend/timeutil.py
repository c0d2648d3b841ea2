"""Instants: RFC 3339 text in, integer UTC epoch milliseconds inside, ISO-8601 `Z` text out."""

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

MAX_INSTANT_LENGTH = 64
EXAMPLE = "2026-01-15T10:00:00Z"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAIVE_EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)
# Instants from 1970 to the end of 9999 UTC: every one of them can be written back out.
LATEST_US = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // MICROSECOND
OUT_OF_RANGE = "must lie between 1970-01-01 and 9999-12-31 UTC: {!r}"

# RFC 3339 §5.6 `date-time`, each time field in its range, with the offset optional (none means
# UTC) and one space allowed for the `T`, as §5.6 permits. `T` and `Z` may be lower case (§5.6
# NOTE). `[0-9]`, not `\d`, which would take other scripts' digits. Text that matches is read by
# `datetime.fromisoformat` (Python 3.11+), which checks the calendar date.
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)
# The same shape with any two digits in each field: a text of this shape that is not RFC 3339 has
# a field out of range.
SHAPE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))?"
)

# Why a common text that is not RFC 3339 is refused, so a sender learns what to change.
NOT_RFC3339 = [
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "a date alone has no time of day"),
    (re.compile(r"[0-9]{4}-?[Ww][0-9]{2}.*"), "week dates are not taken"),
    (re.compile(r"[0-9]{4}-?[0-9]{3}(?:[Tt ].*)?"), "ordinal dates are not taken"),
    (re.compile(r"[0-9]{8}(?:[Tt ].*)?"), "the basic form without dashes and colons is not taken"),
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?:[^:0-9].*)?"), "the seconds are missing"),
    (re.compile(r".*[0-9]{2}:[0-9]{2}:[0-9]{2},[0-9].*"), "a fraction of a second is written after a `.`"),
    (re.compile(r".*[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?[+-](?:[0-9]{1,2}|[0-9]{3,4}|[0-9]:[0-9]{2})"),
     "an offset is written `+HH:MM`"),
]


def parse_instant(text):
    """Parse an RFC 3339 date-time string into UTC epoch milliseconds (finer digits are dropped).

    Takes date, `T` (or one space), `HH:MM:SS`, an optional fraction and an optional offset
    (`Z`, `+02:00`); a time without an offset is UTC. Raises `ValueError` with a message fit for
    a client for anything else (a date alone, week or ordinal dates, `24:00`, leap seconds, the
    basic form) and for instants outside 1970-9999 UTC.
    """
    return parse_instant_us(text) // 1000


def parse_instant_us(text):
    """Like `parse_instant`, in epoch microseconds: for comparisons that must see every digit."""
    if not isinstance(text, str):
        raise ValueError(f"must be an RFC 3339 date-time string, such as {EXAMPLE}")
    if not text or len(text) > MAX_INSTANT_LENGTH:
        raise ValueError(f"must be an RFC 3339 date-time string of at most {MAX_INSTANT_LENGTH} characters")
    if RFC3339.fullmatch(text) is None:
        raise ValueError(_why_not(text))
    try:
        moment = datetime.fromisoformat(text.upper())  # it reads `T` and `Z` in upper case only
    except ValueError:
        raise ValueError(OUT_OF_RANGE.format(text) if text < "0001" else f"is not a calendar date: {text!r}") from None
    # Digits beyond the microsecond are dropped (`fromisoformat` does so), which floors the instant.
    micros = (moment - (NAIVE_EPOCH if moment.tzinfo is None else EPOCH)) // MICROSECOND
    if not 0 <= micros <= LATEST_US:
        raise ValueError(OUT_OF_RANGE.format(text))
    return micros


def _why_not(text):
    shape = SHAPE.fullmatch(text)
    if shape:
        hour, minute, second, offset_hour, offset_minute = shape.groups()  # two digits each: compared as text
        if hour == "24":
            return f"has 24:00, which is not a time of day (write 00:00 of the next day): {text!r}"
        if second == "60":
            return f"has a leap second (:60), which is not taken: {text!r}"
        if hour > "23" or minute > "59" or second > "59":
            return f"is not a time of day (00:00:00 to 23:59:59): {text!r}"
        return f"has an offset beyond ±23:59: {text!r}"
    for pattern, reason in NOT_RFC3339:
        if pattern.fullmatch(text):
            return f"is not an RFC 3339 date-time ({reason}): {text!r}"
    return f"is not an RFC 3339 date-time (such as {EXAMPLE}): {text!r}"


# Charts name the same slot and bucket boundaries for every worker: remembered, they are rendered once.
@lru_cache(maxsize=4096)
def format_instant(ms):
    """Render epoch milliseconds as ISO-8601 UTC text ending in `Z` (`None` stays `None`)."""
    if ms is None:
        return None
    seconds, millis = divmod(int(ms), 1000)
    text = (NAIVE_EPOCH + timedelta(seconds=seconds)).isoformat()  # whole seconds: no fraction
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"
