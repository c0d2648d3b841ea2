"""Model versions and drift: confidence figures per version, the two drift rules, their thresholds."""

import pytest

from backend.drift import DriftRules, confidence_drift, confidence_series, confidence_stats, mix_shift
from backend.metrics import Interval, Timeline, Window
from tests.helpers import assert_problem, event, post_events

MIN = 60_000
BASE = 1_768_464_000_000  # 2026-01-15T08:00:00Z


def model_stats(rows, low_threshold):
    """`confidence_stats` of `(model_version, ts_ms, confidence)` rows: one model group per event."""
    return confidence_stats([(version, 0, confidence, 1, ts_ms, ts_ms) for version, ts_ms, confidence in rows],
                            low_threshold)


def test_model_stats_per_version():
    confidences = [0.9, 0.8, 0.4, 0.7, None, 0.6, 0.95, 0.85, 0.3, 0.75, 0.65]
    rows = [("v1", BASE + i * MIN, c) for i, c in enumerate(confidences)]
    rows.append(("v2", BASE, 0.99))
    rows.append((None, BASE + 5 * MIN, None))
    v1, v2, unknown = model_stats(rows, low_threshold=0.5)
    assert v1["event_count"] == 11 and v1["confidence_count"] == 10
    assert v1["mean_confidence"] == round(6.9 / 10, 4)
    assert v1["p10_confidence"] == 0.3  # nearest rank: the 1st of 10 sorted
    assert v1["low_confidence_share"] == 0.2  # 0.4 and 0.3 lie below 0.5
    assert (v1["first_seen"], v1["last_seen"]) == ("2026-01-15T08:00:00Z", "2026-01-15T08:10:00Z")
    assert v2["p10_confidence"] == 0.99 and v2["low_confidence_share"] == 0
    assert unknown["model_version"] is None and unknown["mean_confidence"] is None


@pytest.mark.parametrize("values, expected", [
    ([0.5] * 9 + [0.1], 0.1),
    ([i / 20 for i in range(20)], 0.05),  # 10 % of 20 is the 2nd value
    ([0.7], 0.7),
])
def test_p10_is_the_nearest_rank(values, expected):
    assert model_stats([("v", BASE, v) for v in values], 0.5)[0]["p10_confidence"] == expected


@pytest.mark.parametrize("confidences, mean", [
    # 0.53875 in decimal: added up in floating point, one order gave 0.5388 and the other 0.5387.
    ([0.18, 0.04, 0.92, 0.2, 0.57, 0.9, 0.64, 0.86], 0.5388),
    # 0.61625 and 0.10625 in decimal, whose nearest doubles lie below and above them.
    ([0.6125, 0.62], 0.6163),
    ([0.1, 0.1125], 0.1063),
])
def test_means_are_of_the_decimals_sent_half_up_in_any_order(confidences, mean):
    window = Window(BASE, BASE + 60 * MIN)
    for order in (confidences, confidences[::-1]):
        rows = [("v", BASE + i * MIN, c) for i, c in enumerate(order)]
        assert model_stats(rows, 0.5)[0]["mean_confidence"] == mean
        (point,) = confidence_series([(v, t // (60 * MIN), c, 1, t, t) for v, t, c in rows], window, 60 * MIN)
        assert point["mean_confidence"] == mean
        (verdict,) = drift_of(rows, window, DriftRules(recent_ms=60 * MIN))
        assert verdict["recent"]["mean_confidence"] == mean


def confidence_rows(version, start_min, end_min, confidence):
    return [(version, BASE + m * MIN, confidence) for m in range(start_min, end_min)]


def drift_of(rows, window, rules):
    """`confidence_drift` of `(model_version, ts_ms, confidence)` rows, split at the cut as the
    service reads them: one model group per event."""
    cut_ms = window.end_ms - rules.recent_ms
    sides = [[(v, 0, c, 1, t, t) for v, t, c in rows if (t >= cut_ms) == recent] for recent in (False, True)]
    return confidence_drift(*sides, window, rules)


def test_confidence_drop_beyond_the_threshold_is_flagged():
    window = Window(BASE, BASE + 120 * MIN)
    rules = DriftRules(recent_ms=60 * MIN, confidence_drop=0.05, min_events=20)
    rows = (confidence_rows("v1", 0, 60, 0.9) + confidence_rows("v1", 60, 120, 0.8)
            + confidence_rows("v2", 0, 60, 0.9) + confidence_rows("v2", 60, 120, 0.87))
    v1, v2 = drift_of(rows, window, rules)
    assert v1["flagged"] and v1["confidence_drop"] == 0.1 and v1["exceeded_by"] == 0.05
    assert v1["baseline"]["to"] == v1["recent"]["from"] == "2026-01-15T09:00:00Z"
    assert (v1["baseline"]["events"], v1["recent"]["events"]) == (60, 60)
    assert "fell by 0.100" in v1["reason"]
    assert not v2["flagged"] and v2["confidence_drop"] == 0.03 and v2["reason"] is None


def test_a_move_of_exactly_the_allowed_amount_is_not_flagged():
    # 0.4 - 0.3 and 0.8 - 0.6 are a little over 0.1 and 0.2 in binary floating point; as written
    # they are the allowed amounts exactly, which is not more than allowed.
    window = Window(BASE, BASE + 120 * MIN)
    rows = confidence_rows("v1", 0, 60, 0.4) + confidence_rows("v1", 60, 120, 0.3)
    (v1,) = drift_of(rows, window, DriftRules(recent_ms=60 * MIN, confidence_drop=0.1, min_events=20))
    assert v1["confidence_drop"] == 0.1 and not v1["flagged"] and v1["exceeded_by"] is None
    # Working 30 of 50 present minutes, then 40 of 50: the share rises by 0.2 exactly.
    timelines = {"W1": Timeline([Interval(BASE, BASE + 30 * MIN, "working", "S1"),
                                 Interval(BASE + 30 * MIN, BASE + 50 * MIN, "idle", "S1"),
                                 Interval(BASE + 60 * MIN, BASE + 100 * MIN, "working", "S1"),
                                 Interval(BASE + 100 * MIN, BASE + 110 * MIN, "idle", "S1")])}
    (w1,) = mix_shift([("W1", "A")], timelines, window, DriftRules(recent_ms=60 * MIN, mix_shift=0.2))
    assert (w1["baseline"]["working_share"], w1["recent"]["working_share"], w1["shift"]) == (0.6, 0.8, 0.2)
    assert not w1["flagged"] and w1["reason"] is None


def test_the_low_confidence_share_rounds_half_up_from_its_exact_ratio():
    # 1 of 16 rated events below the threshold: 0.0625, four decimals exactly; 1 of 32: 0.03125.
    assert model_stats([("v", BASE + m * MIN, 0.2 if m == 0 else 0.9) for m in range(32)], 0.5)[0][
        "low_confidence_share"] == 0.0313


def test_time_without_signal_is_no_working_share():
    # Working throughout; the camera falls silent for the recent hour: nothing to compare, no drift.
    window = Window(BASE, BASE + 120 * MIN)
    timelines = {"W1": Timeline([Interval(BASE, BASE + 60 * MIN, "working", "S1"),
                                 Interval(BASE + 60 * MIN, BASE + 120 * MIN, "unknown", "S1")])}
    (w1,) = mix_shift([("W1", "A")], timelines, window, DriftRules(recent_ms=60 * MIN, mix_shift=0.2))
    assert not w1["flagged"] and w1["shift"] is None
    assert w1["recent"]["working_share"] is None


def test_too_few_events_are_not_compared():
    window = Window(BASE, BASE + 120 * MIN)
    rows = confidence_rows("v1", 0, 60, 0.9) + confidence_rows("v1", 60, 65, 0.1)
    (v1,) = drift_of(rows, window, DriftRules(recent_ms=60 * MIN, min_events=20))
    assert not v1["flagged"] and v1["confidence_drop"] is None
    assert "not compared" in v1["reason"]


def test_working_share_shift_either_way_is_flagged():
    window = Window(BASE, BASE + 120 * MIN)
    timelines = {
        # all working, then half idle: the share falls by 0.5
        "W1": Timeline([Interval(BASE, BASE + 90 * MIN, "working", "S1"),
                        Interval(BASE + 90 * MIN, BASE + 120 * MIN, "idle", "S1")]),
        # idle a quarter of the time throughout: no shift
        "W2": Timeline([Interval(BASE + m * MIN, BASE + (m + 15) * MIN, "working" if m % 20 == 0 else "idle", "S1")
                        for m in range(0, 120, 15)]),
        # absent before: nothing to compare
        "W3": Timeline([Interval(BASE, BASE + 60 * MIN, "absent", "S1"),
                        Interval(BASE + 60 * MIN, BASE + 120 * MIN, "working", "S1")]),
    }
    rules = DriftRules(recent_ms=60 * MIN, mix_shift=0.2)
    w1, w2, w3 = mix_shift([("W1", "A"), ("W2", "B"), ("W3", "C")], timelines, window, rules)
    assert w1["flagged"] and w1["shift"] == -0.5 and w1["exceeded_by"] == 0.3
    assert w1["baseline"]["working_share"] == 1 and w1["recent"]["working_share"] == 0.5
    assert "fell by 0.500" in w1["reason"]
    assert not w2["flagged"]
    assert not w3["flagged"] and w3["shift"] is None


@pytest.fixture
def seeded(client):
    client.post("/seed")
    return client


def test_models_endpoint_reports_both_demo_versions(seeded):
    body = seeded.get("/metrics/models").get_json()
    versions = {m["model_version"]: m for m in body["models"]}
    assert set(versions) == {"floorcam-2.3.1", "floorcam-2.4.0"}
    total = seeded.get("/metrics/factory").get_json()["factory"]["event_count"]
    assert sum(m["event_count"] for m in body["models"]) == total
    assert body["low_confidence_threshold"] == 0.5
    assert sum(p["events"] for p in body["series"]) == total
    assert all(p["from"] < p["to"] for p in body["series"])  # events at the very end join the last hour
    # The north plant's cameras took the new model at local midnight three days before today
    # (Monday 2026-01-12 00:00 in Berlin); every camera reports within one heartbeat.
    assert "2026-01-11T23:00:00Z" <= versions["floorcam-2.4.0"]["first_seen"] < "2026-01-11T23:05:00Z"


def test_models_follow_the_window_and_site(seeded):
    body = seeded.get("/metrics/models?site_id=plant-south").get_json()
    assert [m["model_version"] for m in body["models"]] == ["floorcam-2.3.1"]
    early = seeded.get("/metrics/models?to=2026-01-11T12:00:00Z").get_json()  # before the upgrade
    assert [m["model_version"] for m in early["models"]] == ["floorcam-2.3.1"]
    strict = seeded.get("/metrics/models?low_confidence=0.99").get_json()
    assert all(m["low_confidence_share"] > 0.9 for m in strict["models"])


def test_demo_shows_a_confidence_drift_and_a_mix_shift(seeded):
    body = seeded.get("/metrics/drift").get_json()
    flagged_models = [m["model_version"] for m in body["models"] if m["flagged"]]
    flagged_workers = [w["worker_id"] for w in body["workers"] if w["flagged"]]
    assert flagged_models == ["floorcam-2.3.1"]  # the south line's old model, losing confidence
    assert "W-04" in flagged_workers  # waiting for material for the last 40 minutes
    assert body["flagged"] == len(flagged_models) + len(flagged_workers)
    assert body["rules"] == {"recent_seconds": 3600, "confidence_drop": 0.05, "mix_shift": 0.2,
                             "min_events": 20, "min_present_seconds": 600}


def test_drift_thresholds_come_from_the_query_or_the_settings(seeded, make_client):
    loose = seeded.get("/metrics/drift?confidence_drop=0.5&mix_shift=0.9").get_json()
    assert loose["flagged"] == 0
    strict = make_client(DRIFT_RULES=DriftRules(confidence_drop=0.001, mix_shift=0.01))
    strict.post("/seed")
    assert strict.get("/metrics/drift").get_json()["flagged"] >= 4


@pytest.mark.parametrize("path", ["/metrics/drift?mix_shift=x", "/metrics/models?from=never"])
def test_bad_model_queries_are_422(seeded, path):
    assert_problem(seeded.get(path), 422)


def test_models_and_drift_on_an_empty_database(client):
    assert client.get("/metrics/models").get_json()["models"] == []
    body = client.get("/metrics/drift").get_json()
    assert body["models"] == [] and body["workers"] == [] and body["flagged"] == 0


def test_events_keep_their_model_version(client):
    post_events(client, event("2026-01-15T08:00:00Z", model_version="floorcam-3.0"), status=201)
    assert client.get("/events").get_json()["events"][0]["model_version"] == "floorcam-3.0"
    assert client.get("/metrics/models").get_json()["models"][0]["model_version"] == "floorcam-3.0"
