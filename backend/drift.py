"""Model lifecycle figures as pure functions: confidence per model version, and drift.

Two drift rules, both comparing the recent part of the window (a trailing stretch of
`recent_ms`) with the part before it (the baseline):

- a model version's mean confidence fell by more than `confidence_drop`;
- a worker's working share of present time (working / (working + idle)) moved by more than
  `mix_shift`, either way.

A comparison needs enough evidence on both sides (`min_events` confidences for a model, and
`min_present_ms` of working or idle time for a worker); without it nothing is flagged.
"""

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

from .metrics import OCCUPYING_STATES, Window
from .timeutil import format_instant


@dataclass(frozen=True)
class DriftRules:
    """The thresholds of both drift rules."""

    recent_ms: int = 3_600_000
    confidence_drop: float = 0.05
    mix_shift: float = 0.2
    min_events: int = 20
    min_present_ms: int = 600_000

    def json(self):
        return {
            "recent_seconds": self.recent_ms / 1000,
            "confidence_drop": self.confidence_drop,
            "mix_shift": self.mix_shift,
            "min_events": self.min_events,
            "min_present_seconds": self.min_present_ms / 1000,
        }


def confidence_stats(groups, low_threshold):
    """Per model version: event count, mean and 10th-percentile confidence, low share, first and
    last seen, from model groups `(model_version, slot, confidence, events, first_ms, last_ms)` as
    `queries.model_groups` reads them (the slot plays no part; a confidence of `None` counts as an
    event, left out of the confidence figures). The 10th percentile is the nearest-rank one: the
    smallest confidence with at least 10 % of the confidences at or below it. Memory grows with
    the groups, not with the events."""
    versions = {}
    for version, _slot, confidence, count, first_ms, last_ms in groups:
        group = versions.get(version)
        if group is None:
            group = versions[version] = {"count": 0, "first": first_ms, "last": last_ms, "confidences": {}}
        group["count"] += count
        group["first"] = min(group["first"], first_ms)
        group["last"] = max(group["last"], last_ms)
        if confidence is not None:
            group["confidences"][confidence] = group["confidences"].get(confidence, 0) + count
    return [_version_json(version, versions[version], low_threshold)
            for version in sorted(versions, key=lambda v: (v is None, v or ""))]


def _version_json(version, group, low_threshold):
    counted = sorted(group["confidences"].items())
    rated = sum(count for _confidence, count in counted)
    low = sum(count for confidence, count in counted if confidence < low_threshold)
    return {
        "model_version": version,
        "event_count": group["count"],
        "confidence_count": rated,
        "mean_confidence": _round(_mean(sum(_scaled(c) * n for c, n in counted), rated)),
        "p10_confidence": _round(_nearest_rank(counted, math.ceil(0.1 * rated))) if rated else None,
        "low_confidence_share": _round(Fraction(low, rated)) if rated else 0,
        "first_seen": format_instant(group["first"]),
        "last_seen": format_instant(group["last"]),
    }


# A mean is that of the decimals the cameras sent, exactly, so it does not depend on the order
# events are added in (nor on whether they were added by day first) and reads as on paper: a
# confidence (a double in [0, 1]) is taken as its shortest decimal form, which has at most
# SCALE_DIGITS places, and summed as a whole number of 10**-SCALE_DIGITS.
SCALE_DIGITS = 342
_POWERS_OF_TEN = [10 ** k for k in range(SCALE_DIGITS + 1)]


@functools.lru_cache(maxsize=4096)
def _scaled(confidence):
    """A confidence's shortest decimal form (`repr`: "0.87", "1e-05") times 10**SCALE_DIGITS,
    a whole number."""
    mantissa, _, power = repr(confidence).partition("e")
    whole, _, fraction = mantissa.partition(".")
    return int(whole + fraction) * _POWERS_OF_TEN[SCALE_DIGITS + (int(power) if power else 0) - len(fraction)]


def _mean(scaled_total, count):
    """The exact mean (a `Fraction`) of `count` confidences whose scaled sum is `scaled_total`,
    `None` for none."""
    return Fraction(scaled_total, count * _POWERS_OF_TEN[SCALE_DIGITS]) if count else None


def _exact(number):
    """A setting's number (a threshold) as the decimal it was written as."""
    return Fraction(repr(number))


def _nearest_rank(counted, rank):
    """The `rank`-th smallest value of sorted `(value, count)` pairs (1-based)."""
    seen = 0
    for value, count in counted:
        seen += count
        if seen >= rank:
            return value
    return counted[-1][0]


def split_window(window, recent_ms):
    """`(baseline, recent)` windows: the last `recent_ms` of the window and the time before it."""
    cut_ms = max(window.start_ms, window.end_ms - recent_ms)
    return Window(window.start_ms, cut_ms), Window(cut_ms, window.end_ms)


def confidence_drift(baseline_groups, recent_groups, window, rules):
    """The confidence rule for each model version with rated events in the window.

    `baseline_groups` and `recent_groups` are the model groups (as `confidence_stats` takes them) of the events
    before the cut and of those from the cut on (see `split_window`).
    """
    baseline_window, recent_window = split_window(window, rules.recent_ms)
    sides = {}
    for side, groups in enumerate((baseline_groups, recent_groups)):
        for version, _slot, confidence, count, _first_ms, _last_ms in groups:
            if confidence is not None:
                sums = sides.setdefault(version, [[0, 0], [0, 0]])[side]
                sums[0] += count
                sums[1] += _scaled(confidence) * count
    results = []
    for version in sorted(sides, key=lambda v: (v is None, v or "")):
        baseline, recent = ((count, _mean(total, count)) for count, total in sides[version])
        enough = min(baseline[0], recent[0]) >= rules.min_events
        drop = baseline[1] - recent[1] if enough else None
        exceeded = drop - _exact(rules.confidence_drop) if drop is not None else None
        flagged = exceeded is not None and exceeded > 0
        results.append({
            "model_version": version,
            "baseline": {**_window_bounds(baseline_window), "events": baseline[0],
                         "mean_confidence": _round(baseline[1])},
            "recent": {**_window_bounds(recent_window), "events": recent[0], "mean_confidence": _round(recent[1])},
            "confidence_drop": _round(drop),
            "threshold": rules.confidence_drop,
            "flagged": flagged,
            "exceeded_by": _round(exceeded) if flagged else None,
            "reason": _confidence_reason(enough, flagged, drop, exceeded, rules),
        })
    return results


def _confidence_reason(enough, flagged, drop, exceeded, rules):
    if not enough:
        return f"fewer than {rules.min_events} rated events on one side: not compared"
    if flagged:
        return (f"mean confidence fell by {_places(drop, 3)}, more than the {rules.confidence_drop:g} allowed "
                f"(by {_places(exceeded, 3)})")
    return None


class Presence:
    """A worker's working and present (working or idle) time on each side of the cut, taken in
    one interval at a time, so a long history never has to be held at once."""

    def __init__(self, window, rules):
        self.sides = split_window(window, rules.recent_ms)
        self.working = [0, 0]
        self.present = [0, 0]

    def add(self, interval):
        """Count one interval (`metrics.Interval`, inside the window); away and no-signal time
        are neither working nor idle."""
        if interval.state not in OCCUPYING_STATES:
            return
        cut_ms = self.sides[1].start_ms
        before = max(0, min(interval.end_ms, cut_ms) - interval.start_ms)
        after = max(0, interval.end_ms - max(interval.start_ms, cut_ms))
        self.present[0] += before
        self.present[1] += after
        if interval.state == "working":
            self.working[0] += before
            self.working[1] += after

    @classmethod
    def from_time(cls, window, rules, whole_ms, recent_ms):
        """The presence of a worker with time per state `whole_ms` over the window, `recent_ms` of
        it in the recent part."""
        presence = cls(window, rules)
        for side, split in enumerate(({state: ms - recent_ms.get(state, 0) for state, ms in whole_ms.items()},
                                      recent_ms)):
            presence.working[side] = split.get("working", 0)
            presence.present[side] = sum(split.get(state, 0) for state in OCCUPYING_STATES)
        return presence

    def share(self, side):
        """`(working share (exact) or None, present ms)` of one side (0: baseline, 1: recent)."""
        present = self.present[side]
        return (Fraction(self.working[side], present) if present else None), present


def mix_shift(workers, timelines, window, rules):
    """The working/idle mix rule for each worker.

    `timelines` maps worker id to that worker's `metrics.Timeline` over the whole window.
    """
    presences = {}
    for worker_id, timeline in timelines.items():
        presence = presences[worker_id] = Presence(window, rules)
        for interval in timeline.intervals:
            presence.add(interval)
    return mix_verdicts(workers, presences, window, rules)


def mix_verdicts(workers, presences, window, rules):
    """The working/idle mix rule for each worker from its `Presence` (none: no time at all)."""
    baseline_window, recent_window = split_window(window, rules.recent_ms)
    empty = Presence(window, rules)
    results = []
    for worker_id, name in workers:
        presence = presences.get(worker_id, empty)
        baseline, recent = presence.share(0), presence.share(1)
        enough = min(baseline[1], recent[1]) >= rules.min_present_ms
        shift = recent[0] - baseline[0] if enough else None
        exceeded = abs(shift) - _exact(rules.mix_shift) if shift is not None else None
        flagged = exceeded is not None and exceeded > 0
        results.append({
            "worker_id": worker_id,
            "name": name,
            "baseline": {**_window_bounds(baseline_window), "working_share": _round(baseline[0]),
                         "present_seconds": baseline[1] / 1000},
            "recent": {**_window_bounds(recent_window), "working_share": _round(recent[0]),
                       "present_seconds": recent[1] / 1000},
            "shift": _round(shift),
            "threshold": rules.mix_shift,
            "flagged": flagged,
            "exceeded_by": _round(exceeded) if flagged else None,
            "reason": _mix_reason(enough, flagged, shift, exceeded, rules),
        })
    return results


def _mix_reason(enough, flagged, shift, exceeded, rules):
    if not enough:
        return f"less than {rules.min_present_ms // 60000} minutes working or idle on one side: not compared"
    if flagged:
        direction = "rose" if shift > 0 else "fell"
        return (f"working share {direction} by {_places(abs(shift), 3)}, more than the {rules.mix_shift:g} allowed "
                f"(by {_places(exceeded, 3)})")
    return None


def _window_bounds(window):
    return {"from": format_instant(window.start_ms), "to": format_instant(window.end_ms)}


def _round(value, places=4):
    """`places` decimals, half away from zero, of an exact value (a `Fraction`) or of a float's
    shortest decimal form: 0.61625 reads 0.6163, as on paper."""
    if value is None:
        return None
    exact = value if isinstance(value, Fraction) else Fraction(repr(value))
    whole = math.floor(abs(exact) * 10 ** places + Fraction(1, 2))
    return (whole if exact >= 0 else -whole) / 10 ** places


def _places(value, places):
    """`value` rounded as `_round` does, written with exactly `places` decimals, for a reason."""
    return f"{_round(value, places):.{places}f}"


def confidence_series(groups, window, bucket_ms):
    """Mean confidence per model version and bucket, for a chart over the window.

    `groups` are model groups (as `confidence_stats` takes them) with `slot = ts_ms // bucket_ms`.
    Buckets are cut to the window; events at the window's very end belong to the last bucket
    rather than to one of no length.
    """
    last_slot = max(window.start_ms // bucket_ms, (window.end_ms - 1) // bucket_ms)
    merged = {}
    for version, slot, confidence, count, _first_ms, _last_ms in groups:
        key = (version, min(slot, last_slot))
        sums = merged.get(key)
        if sums is None:
            sums = merged[key] = [0, 0, 0]
        sums[0] += count
        if confidence is not None:
            sums[1] += count
            sums[2] += _scaled(confidence) * count
    points = []
    by_version_then_slot = sorted(merged.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or "", kv[0][1]))
    for (version, slot), (events, rated, total) in by_version_then_slot:
        start_ms = max(slot * bucket_ms, window.start_ms)
        end_ms = max(start_ms, min((slot + 1) * bucket_ms, window.end_ms))
        points.append({"model_version": version, "from": format_instant(start_ms), "to": format_instant(end_ms),
                       "events": events, "mean_confidence": _round(_mean(total, rated))})
    return points
