"""Query-string parameters, each defined once: the views parse with it, `openapi.py` describes it,
the tests probe its bounds."""

import math
import re
import unicodedata
from dataclasses import dataclass

from .errors import ApiError, field_error
from .ingest import EVENT_TYPES
from .timeutil import MAX_INSTANT_LENGTH, parse_instant

MAX_TEXT_LENGTH = 64
BOOLEANS = {"true": True, "false": False}
MAX_BUCKETS = 5000
DAY_SECONDS = 86_400
# Numbers as people and programs write them: ASCII digits, an optional sign, fraction and exponent
# (Python's own `int` and `float` would also take `1_0`, spaces and other scripts' digits).
_INTEGER = re.compile(r"[-+]?[0-9]+")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class Param:
    """One query parameter: its parser and its OpenAPI schema both come from these fields.

    `type` is `"date-time"` (an ISO-8601 instant, read as epoch milliseconds), `"string"` (one of
    `choices`, or an id: at most `MAX_TEXT_LENGTH` characters, read in Unicode NFC), `"boolean"`
    (`true` or `false`), `"number"` or `"integer"` (from `minimum` to `maximum`, both included).
    `default` is the value when the parameter is absent or empty.
    """

    name: str
    type: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    default: object = None
    example: str | None = None

    def parse(self, text):
        """The value of `text`; a `ValueError` worded for the client when it is not one."""
        if self.type == "date-time":
            try:
                return parse_instant(text)
            except ValueError as problem:
                if " " not in text:
                    raise
                # `+02:00` sent as it is arrives as ` 02:00`: a `+` in a query string is a space.
                raise ValueError(f"{problem}; in a URL, write an offset's `+` as `%2B`") from None
        if self.type == "boolean":
            if text not in BOOLEANS:
                raise ValueError("must be true or false")
            return BOOLEANS[text]
        if self.choices and text not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}")
        if self.type == "string":
            if len(text) > MAX_TEXT_LENGTH:
                raise ValueError(f"must be at most {MAX_TEXT_LENGTH} characters")
            return unicodedata.normalize("NFC", text)  # an id, compared as stored (SPEC §3)
        low, high, integer = self.minimum, self.maximum, self.type == "integer"
        if not (_INTEGER if integer else _NUMBER).fullmatch(text):
            raise ValueError(f"must be {'an integer' if integer else 'a number'}, not {text[:40]!r}")
        number = int(text) if integer else float(text)
        if not ((integer or math.isfinite(number)) and low <= number <= high):
            raise ValueError(f"must be an integer from {low} to {high}" if integer
                             else f"must be a number in [{low:g}, {high:g}]")
        return number

    def schema(self):
        """The OpenAPI schema of the values `parse` takes."""
        if self.type == "date-time":
            return {"type": "string", "format": "date-time", "maxLength": MAX_INSTANT_LENGTH}
        if self.type == "boolean":
            return {"type": "boolean", "default": self.default}
        if self.choices:
            return {"type": "string", "enum": list(self.choices)}
        if self.type == "string":
            return {"type": "string", "maxLength": MAX_TEXT_LENGTH}
        schema = {"type": self.type, "minimum": self.minimum, "maximum": self.maximum}
        if self.default is not None:
            schema["default"] = self.default
        return schema


FROM = Param("from", "date-time", "Window start (ISO-8601; between 1970 and 9999 UTC). An empty value "
                                  "counts as not given; `from` later than `to` is `422`.")
TO = Param("to", "date-time", "Window end (ISO-8601; between 1970 and 9999 UTC); never later than now.")
SITE = Param("site_id", "string", "Only this site's events count.", example="plant-north")
MIN_CONFIDENCE = Param("min_confidence", "number", "Events below it do not count; an event without a "
                                                   "confidence always does.", 0, 1)
# The shortest signal horizon: instants are whole milliseconds (`0` is none at all).
MIN_GAP_SECONDS = 0.001
MAX_GAP = Param("max_gap_seconds", "number", "Signal horizon: how long a state holds past its event before "
                                             f"the time is unknown; `0` means none, else at least {MIN_GAP_SECONDS}, "
                                             "taken to the millisecond (overrides `STATE_MAX_GAP_SECONDS`).",
                0, 10 * 365 * DAY_SECONDS)
PLANNED_ONLY = Param("planned_only", "boolean", "Only planned time counts: state time (unknown time too) where it "
                                                "overlaps the planned time of its workstation's site, units "
                                                "stamped in it (ends included). Event counts are unchanged.",
                     default=False)
SHIFT = Param("shift", "string", "Only the planned time of one shift of each workstation's site counts "
                                "(`planned_only` then holds): `current`, the shift under way at the window's end; "
                                "`previous`, the one that ended last by then. Another shift of that site in the "
                                "window does not count, nor does a site with no such shift.",
              choices=("current", "previous"))
BUCKET = Param("bucket_seconds", "integer", "Bucket size; default an hour (a UTC day over windows longer "
                                            f"than a week). More than {MAX_BUCKETS} buckets over the window "
                                            "is `422`.", 60, 31 * DAY_SECONDS)
LIMIT = Param("limit", "integer", "How many events at most.", 1, 1000, default=50)
# A chart is drawn so many pixels wide; its answer holds at most a few intervals or buckets per pixel.
WIDTH = Param("width", "integer", "How many pixels wide the chart is drawn. A timeline interval shorter than "
                                  "one pixel's time (window / width) is merged with its short neighbours into a "
                                  "`mixed` band that splits its time by state; automatic buckets are at most one "
                                  "per pixel.", 50, 10_000, default=2000)

# What each endpoint takes. Every metrics endpoint takes METRICS; the others add their own.
METRICS = (FROM, TO, SITE, MIN_CONFIDENCE, MAX_GAP, PLANNED_ONLY, SHIFT)
CHART = (
    Param("worker_id", "string", "Only this worker (`404` when not in scope).", example="W-02"),
    Param("workstation_id", "string", "Only time and units at this workstation (`404` when not in scope).",
          example="WS-02"),
    WIDTH,
)
BUCKETS = (*CHART, BUCKET)
LOW_CONFIDENCE = Param("low_confidence", "number", "Below this an event counts as low-confidence (default "
                                                   "`LOW_CONFIDENCE`).", 0, 1)
MODELS = (LOW_CONFIDENCE, BUCKET, WIDTH)
DRIFT = (
    Param("recent_seconds", "number", "Length of the recent stretch (default `DRIFT_RECENT_SECONDS`).",
          60, 366 * DAY_SECONDS),
    Param("confidence_drop", "number", "Allowed fall of mean confidence (default `DRIFT_CONFIDENCE_DROP`).",
          0, 1),
    Param("mix_shift", "number", "Allowed move of the working share (default `DRIFT_MIX_SHIFT`).", 0, 1),
    Param("min_events", "integer", "Rated events each side needs to be compared (default `DRIFT_MIN_EVENTS`).",
          1, 1_000_000),
)
# `GET /metrics/dashboard`: everything the page shows for one window, in one answer.
DASHBOARD = (
    Param("worker_id", "string", "Only this worker in the charts and the feed; the figures stay the scope's. "
                                 "When it is not in scope, `timeline` and `hourly` are `null`.", example="W-02"),
    Param("workstation_id", "string", "Only time and units at this workstation in the charts, and its events "
                                      "in the feed; the figures stay the scope's. When it is not in scope, "
                                      "`timeline` and `hourly` are `null`.", example="WS-02"),
    WIDTH,
    Param("sections", "string", "`all`: every part the page shows; `floor`: only the figures of the floor now "
                                "(factory, workers, workstations, timeline, open alerts), the others `null`.",
          choices=("all", "floor"), default="all"),
    Param("feed_limit", "integer", "How many of the newest events in scope the live feed holds.", 1, 1000,
          default=20),
)
# `POST /seed?replace=all`: load the demo even over events it did not load, deleting them.
SEED = (Param("replace", "string", "`all` deletes every event, the demo's or not, and loads the demo.",
              choices=("all",)),)

# The shift report: every shift instance overlapping a range, each with its figures.
MAX_SHIFT_INSTANCES = 200
SHIFT_RANGE_DAYS = 7
SHIFTS = (
    Param("from", "date-time", f"Range start (ISO-8601); default {SHIFT_RANGE_DAYS} days before `to`, or before "
                               "now. Every shift instance overlapping the range is listed, at most "
                               f"{MAX_SHIFT_INSTANCES}; more is `422`."),
    Param("to", "date-time", "Range end (ISO-8601); default now. It may lie in the future: shifts not yet "
                             "begun are listed as `planned`."),
    Param("site_id", "string", "Only this site's shift instances (its own calendar, or the factory's in its "
                               "zone), with only its events counting.", example="plant-north"),
)
FEED = (
    Param("worker_id", "string", "Only this worker's events."),
    Param("workstation_id", "string", "Only this workstation's events."),
    SITE,
    Param("event_type", "string", "Only events of this type.", choices=EVENT_TYPES),
    FROM, TO, MIN_CONFIDENCE, LIMIT,
)

# `GET /alerts`: which alerts, newest first.
ALERTS = (
    Param("state", "string", "`open` (closed_at null), `closed`, or `all` (default).",
          choices=("open", "closed", "all"), default="all"),
    Param("limit", "integer", "How many alerts at most.", 1, 1000, default=50),
)


def read_args(args, group):
    """Parse `args` (a request's query args) with the `Param`s of `group`.

    Raises a 422 `ApiError` listing every parameter that does not parse.
    """
    values, errors = parse_args(args, group)
    if errors:
        raise invalid_query(errors)
    return values


def parse_args(args, group):
    """Like `read_args`, but return `(values, errors)` so callers can add checks of their own."""
    values, errors = {}, []
    for param in group:
        given = args.getlist(param.name)
        text = given[0] if given else ""
        values[param.name] = param.default
        if len(given) > 1:
            errors.append(field_error(param.name, f"is given {len(given)} times; give it once"))
            continue
        if text == "":
            continue
        try:
            values[param.name] = param.parse(text)
        except ValueError as problem:
            errors.append(field_error(param.name, str(problem)))
    if values.get("from") is not None and values.get("to") is not None and values["from"] > values["to"]:
        errors.append(field_error("from", "must not be later than `to`"))
    return values, errors


def invalid_query(errors):
    """The 422 error for query parameters that are wrong."""
    return ApiError(422, "Unprocessable Content", "The query has invalid parameters.", errors)
