"""Query-string parameters: each read by a named parser, every bad value reported at once."""

import math

from .errors import ApiError, field_error
from .timeutil import parse_instant

MAX_TEXT_LENGTH = 64


def read_args(args, parsers):
    """Parse `args` (a request's query args) with `{name: parser}`; absent or empty gives `None`.

    Raises a 422 `ApiError` listing every parameter that does not parse.
    """
    values, errors = parse_args(args, parsers)
    if errors:
        raise invalid_query(errors)
    return values


def parse_args(args, parsers):
    """Like `read_args`, but return `(values, errors)` so callers can add checks of their own."""
    values, errors = {}, []
    for name, parse in parsers.items():
        text = args.get(name, "")
        values[name] = None
        if text == "":
            continue
        try:
            values[name] = parse(text)
        except ValueError as problem:
            errors.append(field_error(name, str(problem)))
    return values, errors


def invalid_query(errors):
    """The 422 error for query parameters that are wrong."""
    return ApiError(422, "Unprocessable Content", "The query has invalid parameters.", errors)


def instant(text):
    """An ISO-8601 date-time, as epoch milliseconds."""
    return parse_instant(text)


def text(value):
    """A short identifier such as a site or worker id."""
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"must be at most {MAX_TEXT_LENGTH} characters")
    return value


def number_between(low, high):
    """A parser for a finite number in `[low, high]`."""
    def parse(value):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"must be a number, not {value[:40]!r}") from None
        if not math.isfinite(number) or not low <= number <= high:
            raise ValueError(f"must be a number in [{low:g}, {high:g}]")
        return number
    return parse


def integer_between(low, high):
    """A parser for an integer in `[low, high]`."""
    def parse(value):
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"must be an integer, not {value[:40]!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return number
    return parse


def one_of(*choices):
    """A parser for one of a fixed set of words."""
    def parse(value):
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value
    return parse
