"""Instants: ISO-8601 text in, integer UTC epoch milliseconds inside, ISO-8601 `Z` text out."""

from datetime import datetime, timedelta, timezone

from dateutil.parser import isoparse

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
MAX_INSTANT_LENGTH = 64
# Instants from 1970 to the end of 9999 UTC: every one of them can be written back out.
LATEST_US = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc) - EPOCH) // MICROSECOND


def parse_instant(text):
    """Parse an ISO-8601 string into UTC epoch milliseconds (finer digits are dropped).

    An explicit offset (`Z`, `+02:00`) is honoured; a time without one is UTC. Raises
    `ValueError` with a message fit for a client when the value is not an ISO-8601 string
    or lies outside 1970-9999 UTC.
    """
    return parse_instant_us(text) // 1000


def parse_instant_us(text):
    """Like `parse_instant`, in epoch microseconds: for comparisons that must see every digit."""
    if not isinstance(text, str):
        raise ValueError("must be an ISO-8601 date-time string")
    if not text or len(text) > MAX_INSTANT_LENGTH:
        raise ValueError(f"must be an ISO-8601 date-time string of at most {MAX_INSTANT_LENGTH} characters")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        # fromisoformat covers the common forms; dateutil covers the rest of ISO-8601.
        try:
            moment = isoparse(text)
        except (ValueError, OverflowError):
            raise ValueError(f"is not an ISO-8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        micros = (moment - EPOCH) // MICROSECOND
    except OverflowError:
        micros = -1
    if not 0 <= micros <= LATEST_US:
        raise ValueError(f"must lie between 1970-01-01 and 9999-12-31 UTC: {text!r}")
    return micros


def format_instant(ms):
    """Render epoch milliseconds as ISO-8601 UTC text ending in `Z` (`None` stays `None`)."""
    if ms is None:
        return None
    seconds, millis = divmod(int(ms), 1000)
    text = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"
