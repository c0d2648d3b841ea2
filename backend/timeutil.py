"""Instants: ISO-8601 text in, integer UTC epoch milliseconds inside, ISO-8601 `Z` text out."""

from datetime import datetime, timezone

from dateutil.parser import isoparse

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_INSTANT_LENGTH = 64


def parse_instant(text):
    """Parse an ISO-8601 string into UTC epoch milliseconds.

    An explicit offset (`Z`, `+02:00`) is honoured; a time without one is UTC. Raises
    `ValueError` with a message fit for a client when the value is not an ISO-8601 string.
    """
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
        delta = moment - EPOCH
    except OverflowError:
        raise ValueError(f"is out of range: {text!r}") from None
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_instant(ms):
    """Render epoch milliseconds as ISO-8601 UTC text ending in `Z` (`None` stays `None`)."""
    if ms is None:
        return None
    seconds, millis = divmod(int(ms), 1000)
    text = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"
