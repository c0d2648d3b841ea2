"""SPEC §9, alerts: the rules (`GET`/`PUT /alerts/rules`), the conditions they watch, and the
alerts (`GET /alerts`).

The conditions are pure (`alerts.conditions`): they are driven here with hand-built floors, a
calendar and an injected `now`. One test reads the floor from a real database through the API's
own queries; recording an evaluation uses a real SQLite file too.
"""

import json
import sqlite3

import pytest

from backend import alert_store, alerts, calendars, db, metrics
from backend.alerts import Condition, FloorState, Rule
from backend.timeutil import parse_instant
from tests.helpers import assert_problem, at, event, get_ok, post_events

MINUTE = 60_000
# The test day's calendar: one shift, 06:00-14:00 UTC, with a break 09:00-09:15.
DAY_SHIFT = calendars.Calendar("UTC", (calendars.Shift("Day", "06:00", "14:00",
                                                       breaks=(calendars.Break("09:00", "09:15"),)),))
# The same shift on the test day (a Thursday) only: no planned time the day before.
TODAY_ONLY = DAY_SHIFT._replace(shifts=(DAY_SHIFT.shifts[0]._replace(days=("thu",)),))
SPEC_RULES = {
    "rules": [{"id": "idle-long", "kind": "worker_idle", "minutes": 10},
              {"id": "empty", "kind": "station_unstaffed", "minutes": 15},
              {"id": "silent", "kind": "no_signal", "minutes": 15},
              {"id": "slow", "kind": "pace_below", "percent": 80},
              {"id": "drift", "kind": "drift"}],
    "webhooks": [{"url": "https://hooks.example.com/floor", "secret": "s3cret"}],
}


def ms(clock_time):
    """`"06:00"` on the test day as epoch milliseconds."""
    return parse_instant(at(clock_time))


def floor_at(now, events=None, units=(), targets=None, calendar=DAY_SHIFT, max_gap_ms=None, drift=None,
             stations=("S1",)):
    """A `FloorState` for `now`: worker W1 ("Ana") with `events` (`(clock time, state, station)`),
    the stations on `calendar`, unit rows `(clock time, count, station)`."""
    window = alerts.lookback(now)
    floor = metrics.plan_floor(window, calendar, {}, dict.fromkeys(stations), targets or {})
    return FloorState(
        workers=(("W1", "Ana"),),
        workstations=tuple((station, f"Station {station}") for station in stations),
        state_events={"W1": [(ms(t), state, station) for t, state, station in events or ()]},
        unit_rows=tuple(("W1", station, count, ms(t)) for t, count, station in units),
        floor=floor, max_gap_ms=max_gap_ms, drift=drift)


def holding(rule, state, now):
    """`{subject: detail}` of the conditions `rule` finds at `now`."""
    return {key[1]: condition.detail for key, condition in alerts.conditions([rule], state, now).items()}


# --- worker_idle -----------------------------------------------------------------------------------

IDLE_10 = Rule("idle-long", "worker_idle", 10)


@pytest.mark.parametrize("now, expected", [("06:09", None), ("06:10", None), ("06:11", 660)])
def test_an_idle_spell_counts_only_its_planned_time(now, expected):
    # Idle since 05:50, before the shift: at 06:09 that is 19 minutes, but 9 in planned time.
    state = floor_at(ms(now), [("05:50", "idle", "S1")])
    found = holding(IDLE_10, state, ms(now))
    if expected is None:
        assert found == {}
    else:
        assert found["W1"]["idle_planned_seconds"] == expected
        assert found["W1"]["idle_since"] == at("05:50")
        assert found["W1"]["workstation_id"] == "S1"


def test_idle_outside_planned_time_raises_nothing():
    state = floor_at(ms("16:00"), [("14:00", "idle", "S1")])
    assert holding(IDLE_10, state, ms("16:00")) == {}


@pytest.mark.parametrize("now, holds", [("09:14", False), ("09:20", False), ("09:21", True)])
def test_an_idle_spell_over_a_break_counts_the_planned_time_on_either_side(now, holds):
    # Idle from 08:55: 5 planned minutes before the break, then planned time again from 09:15.
    state = floor_at(ms(now), [("08:55", "idle", "S1")])
    assert bool(holding(IDLE_10, state, ms(now))) is holds


@pytest.mark.parametrize("now, holds", [("09:05", False), ("09:20", True), ("13:59", True), ("14:01", False),
                                        ("16:00", False)])
def test_an_idle_alert_holds_only_while_planned_time_is_under_way(now, holds):
    # Idle from 08:30 on: 30 planned minutes by the break, which is no planned time; after the
    # shift ends at 14:00 nobody is kept waiting for help, however long the spell was.
    state = floor_at(ms(now), [("08:30", "idle", "S1")])
    assert bool(holding(IDLE_10, state, ms(now))) is holds


def test_working_ends_an_idle_spell():
    state = floor_at(ms("06:44"), [("06:00", "idle", "S1"), ("06:30", "working", "S1"), ("06:35", "idle", "S1")])
    assert holding(IDLE_10, state, ms("06:44")) == {}


def test_idle_heartbeats_make_one_spell_and_idle_past_the_signal_horizon_is_no_idle():
    heartbeats = [("06:00", "idle", "S1"), ("06:05", "idle", "S1"), ("06:10", "idle", "S1")]
    state = floor_at(ms("06:12"), heartbeats, max_gap_ms=15 * MINUTE)
    assert holding(IDLE_10, state, ms("06:12"))["W1"]["idle_since"] == at("06:00")
    # No heartbeat since 06:10: past 06:25 the state is unknown, so the worker is not idle.
    state = floor_at(ms("06:26"), heartbeats, max_gap_ms=15 * MINUTE)
    assert holding(IDLE_10, state, ms("06:26")) == {}


# --- station_unstaffed -----------------------------------------------------------------------------

EMPTY_15 = Rule("empty", "station_unstaffed", 15)
LEFT_BEFORE_THE_BREAK = [("08:00", "working", "S1"), ("08:50", "absent", "S1")]


@pytest.mark.parametrize("now, holds", [("09:05", False), ("09:14", False), ("09:19", False), ("09:20", True)])
def test_a_station_is_not_unstaffed_during_a_break(now, holds):
    # Empty from 08:50: 10 planned minutes before the break, none during it, 5 more by 09:20.
    state = floor_at(ms(now), LEFT_BEFORE_THE_BREAK)
    found = holding(EMPTY_15, state, ms(now))
    assert bool(found) is holds
    if holds:
        assert found["S1"] == {"subject_kind": "workstation", "name": "Station S1", "unstaffed_since": at("08:50"),
                               "unstaffed_planned_seconds": 900.0, "minutes": 15}


def test_an_idle_worker_staffs_the_station():
    state = floor_at(ms("11:00"), [("08:00", "idle", "S1")])
    assert holding(EMPTY_15, state, ms("11:00")) == {}


def test_a_station_nobody_came_to_is_unstaffed_once_planned_time_has_run_that_long():
    state = floor_at(ms("06:15"), [("06:00", "working", "S1")], stations=("S1", "S2"), calendar=TODAY_ONLY)
    found = holding(EMPTY_15, state, ms("06:15"))
    assert set(found) == {"S2"} and found["S2"]["unstaffed_since"] is None
    assert holding(EMPTY_15, floor_at(ms("06:14"), stations=("S2",), calendar=TODAY_ONLY), ms("06:14")) == {}
    # Planned every day, yesterday's shift counts too, from 24 h back (06:01 to 14:00, less its break).
    assert holding(EMPTY_15, floor_at(ms("06:01"), stations=("S2",)), ms("06:01"))["S2"][
        "unstaffed_planned_seconds"] == (7 * 3600 + 59 * 60) - 15 * 60 + 60


def test_outside_planned_time_no_station_is_unstaffed():
    assert holding(EMPTY_15, floor_at(ms("15:00"), LEFT_BEFORE_THE_BREAK), ms("15:00")) == {}


# --- no_signal -------------------------------------------------------------------------------------

SILENT_15 = Rule("silent", "no_signal", 15)


@pytest.mark.parametrize("now, holds", [("10:14:59", False), ("10:15", True), ("16:00", True)])
def test_no_signal_once_a_worker_has_sent_no_state_for_the_minutes(now, holds):
    state = floor_at(ms(now), [("10:00", "working", "S1")])
    found = holding(SILENT_15, state, ms(now))
    assert bool(found) is holds
    if now == "10:15":
        assert found["W1"] == {"subject_kind": "worker", "name": "Ana", "last_seen": at("10:00"),
                               "last_state": "working", "workstation_id": "S1", "silent_seconds": 900.0,
                               "minutes": 15}


def test_a_worker_not_seen_in_the_last_24_hours_has_no_signal_alert():
    now = ms("10:00") + alerts.LOOKBACK_MS + 1
    assert holding(SILENT_15, floor_at(now, [("10:00", "working", "S1")]), now) == {}


# --- pace_below ------------------------------------------------------------------------------------

SLOW_80 = Rule("slow", "pace_below", 80)


@pytest.mark.parametrize("count, holds", [(40, True), (47, True), (48, False), (60, False)])
def test_pace_below_compares_the_last_hour_of_planned_time_with_the_target(count, holds):
    # Target 60 an hour: 80 % of it is 48 units in the hour 10:00-11:00.
    units = [("09:59", 100, "S1"), ("10:30", count, "S1")]
    state = floor_at(ms("11:00"), units=units, targets={"S1": 60})
    found = holding(SLOW_80, state, ms("11:00"))
    assert bool(found) is holds
    if count == 40:
        assert found["S1"] == {"subject_kind": "workstation", "name": "Station S1", "since": at("10:00"),
                               "units": 40, "target_units": 60, "pace_pct": 66.67, "percent": 80}


def test_the_last_hour_of_planned_time_leaves_out_the_break():
    # At 09:45 the last planned hour is 08:30-09:00 and 09:15-09:45; units stamped in the break don't count.
    units = [("08:29", 100, "S1"), ("08:40", 20, "S1"), ("09:05", 30, "S1"), ("09:30", 25, "S1")]
    found = holding(SLOW_80, floor_at(ms("09:45"), units=units, targets={"S1": 60}), ms("09:45"))
    assert found["S1"]["since"] == at("08:30") and found["S1"]["units"] == 45


@pytest.mark.parametrize("now, targets", [
    ("11:00", {}),  # no target
    ("11:00", {"S1": 0}),  # nothing expected
    ("15:00", {"S1": 60}),  # not in planned time
])
def test_pace_is_judged_only_with_a_target_in_planned_time(now, targets):
    assert holding(SLOW_80, floor_at(ms(now), targets=targets), ms(now)) == {}


def test_pace_is_judged_once_the_last_24_hours_hold_an_hour_of_planned_time():
    assert holding(SLOW_80, floor_at(ms("06:59"), targets={"S1": 60}, calendar=TODAY_ONLY), ms("06:59")) == {}
    assert set(holding(SLOW_80, floor_at(ms("07:00"), targets={"S1": 60}, calendar=TODAY_ONLY), ms("07:00"))) == {"S1"}
    # Planned every day, the latest planned hour at 06:30 is yesterday's last half hour and today's first.
    found = holding(SLOW_80, floor_at(ms("06:30"), targets={"S1": 60}), ms("06:30"))
    assert found["S1"]["since"] == "2026-01-14T13:30:00Z"


# --- drift -----------------------------------------------------------------------------------------

def test_drift_raises_one_condition_per_flagged_model_version_and_worker():
    report = {
        "models": [{"model_version": "cam-2.3", "flagged": True, "reason": "mean confidence fell", "exceeded_by": 0.1},
                   {"model_version": "cam-2.4", "flagged": False, "reason": None, "exceeded_by": None},
                   {"model_version": None, "flagged": True, "reason": "fell too", "exceeded_by": 0.2}],
        "workers": [{"worker_id": "W1", "name": "Ana", "flagged": True, "reason": "working share fell",
                     "exceeded_by": 0.05}],
    }
    found = holding(Rule("drift", "drift"), floor_at(ms("11:00"), drift=report), ms("11:00"))
    assert found == {
        "cam-2.3": {"subject_kind": "model_version", "reason": "mean confidence fell", "exceeded_by": 0.1},
        alerts.NO_MODEL_VERSION: {"subject_kind": "model_version", "reason": "fell too", "exceeded_by": 0.2},
        "W1": {"subject_kind": "worker", "name": "Ana", "reason": "working share fell", "exceeded_by": 0.05},
    }


# --- from conditions to alerts ---------------------------------------------------------------------

def test_changes_close_what_ended_and_open_what_began():
    open_alerts = [{"id": 1, "rule_id": "idle-long", "kind": "worker_idle", "subject": "W1"},
                   {"id": 2, "rule_id": "idle-long", "kind": "worker_idle", "subject": "W2"},
                   {"id": 3, "rule_id": "x", "kind": "no_signal", "subject": "W1"}]
    found = {("idle-long", "W1"): Condition("idle-long", "worker_idle", "W1", {}),
             ("idle-long", "W3"): Condition("idle-long", "worker_idle", "W3", {}),
             ("x", "W1"): Condition("x", "worker_idle", "W1", {})}  # the rule's kind changed
    to_close, to_open = alerts.changes(open_alerts, found)
    assert to_close == [2, 3]
    assert [(c.rule_id, c.subject) for c in to_open] == [("idle-long", "W3"), ("x", "W1")]


@pytest.fixture
def conn(app):
    connection = db.connect(app.config["DATABASE_PATH"])
    yield connection
    connection.close()


def spell(subject="W1", rule_id="silent"):
    return {(rule_id, subject): Condition(rule_id, "no_signal", subject, {"subject_kind": "worker"})}


def test_one_spell_of_a_condition_is_one_alert(conn):
    assert alerts.record(conn, {}, ms("10:00")) == []
    opened = alerts.record(conn, spell(), ms("10:01"))
    assert [(change, alert["subject"], alert["closed_at"]) for _id, change, alert in opened] == [
        ("opened", "W1", None)]
    assert alerts.record(conn, spell(), ms("10:02")) == []  # still the same spell
    closed = alerts.record(conn, {}, ms("10:03"))
    assert [(change, alert["id"], alert["closed_at"]) for _id, change, alert in closed] == [
        ("closed", opened[0][2]["id"], at("10:03"))]
    reopened = alerts.record(conn, spell(), ms("10:04"))  # a new spell: a new alert
    assert reopened[0][2]["id"] != opened[0][2]["id"]
    assert [row["closed_at_ms"] for row in alert_store.list_alerts(conn, "all", 10)] == [None, ms("10:03")]


def test_an_evaluation_older_than_a_stored_one_changes_nothing(conn):
    alerts.record(conn, spell(), ms("10:05"))
    assert alerts.record(conn, {}, ms("10:04")) is None
    assert alerts.record(conn, {}, ms("10:05")) is None
    assert len(alert_store.open_alerts(conn)) == 1


def test_the_unique_open_alert_index_refuses_a_second_open_alert_for_a_rule_and_subject(conn):
    alerts.record(conn, spell(), ms("10:00"))
    with pytest.raises(sqlite3.IntegrityError):
        alert_store.insert_alert(conn, "silent", "no_signal", "W1", ms("10:01"), "{}")


def test_each_change_is_queued_once_for_every_webhook(client, conn):
    body = {"rules": [], "webhooks": [{"url": "http://127.0.0.1:9/a", "secret": "a"},
                                      {"url": "http://127.0.0.1:9/b", "secret": "b"}]}
    assert client.put("/alerts/rules", json=body).status_code == 200
    alerts.record(conn, spell(), ms("10:00"))
    alerts.record(conn, {}, ms("10:01"))
    rows = conn.execute("SELECT receiver, change_id FROM alert_deliveries ORDER BY receiver, change_id").fetchall()
    assert [tuple(row) for row in rows] == [("http://127.0.0.1:9/a", 1), ("http://127.0.0.1:9/a", 2),
                                            ("http://127.0.0.1:9/b", 1), ("http://127.0.0.1:9/b", 2)]
    bodies = [json.loads(row[0]) for row in conn.execute("SELECT body FROM alert_changes ORDER BY id")]
    assert [(b["change"], b["alert"]["closed_at"]) for b in bodies] == [("opened", None), ("closed", at("10:01"))]
    # A webhook taken out of the rules takes its queue with it.
    assert client.put("/alerts/rules", json={"rules": [], "webhooks": body["webhooks"][:1]}).status_code == 200
    assert {row[0] for row in conn.execute("SELECT receiver FROM alert_deliveries")} == {"http://127.0.0.1:9/a"}


# --- the floor read from the database -------------------------------------------------------------

def test_read_floor_sees_what_the_api_stored(client, conn, app):
    assert client.put("/calendar", json={"time_zone": "UTC", "shifts": [
        {"name": "Day", "start": "06:00", "end": "14:00", "breaks": [{"start": "09:00", "end": "09:15"}]}]}
    ).status_code == 200
    post_events(client, event(at("10:00"), "W1", "idle", "S1"), event(at("10:00"), "W2", "working", "S2"),
                event(at("10:10"), "W2", "product_count", "S2", count=5), status=201)
    assert client.put("/workstations/S2", json={"target_units_per_hour": 60}).status_code == 200
    now = ms("11:01")
    config = app.config
    rules = [Rule(item["id"], item["kind"], item.get("minutes", item.get("percent")))
             for item in SPEC_RULES["rules"]]
    state = alerts.read_floor(conn, now, config["STATE_MAX_GAP_SECONDS"], config["FACTORY_TZ"],
                              config["DRIFT_RULES"])
    found = alerts.conditions(rules, state, now)
    # W1 idle at S1 staffs it; W2's product count is no state event, so W2 is silent too.
    assert sorted(found) == [("idle-long", "W1"), ("silent", "W1"), ("silent", "W2"), ("slow", "S2")]
    assert found[("slow", "S2")].detail["units"] == 5


# --- the API ---------------------------------------------------------------------------------------

def test_rules_are_stored_and_read_back_without_their_secrets(client, conn):
    response = client.put("/alerts/rules", json=SPEC_RULES)
    assert response.status_code == 200
    shown = {**SPEC_RULES, "webhooks": [{"url": "https://hooks.example.com/floor"}]}
    assert response.get_json() == shown
    assert get_ok(client, "/alerts/rules") == shown
    assert "s3cret" not in client.get("/alerts/rules").get_data(as_text=True)
    # What GET shows can be sent back as it is: a webhook without `secret` keeps its own.
    assert client.put("/alerts/rules", json=shown).status_code == 200
    assert alert_store.alert_webhooks(conn) == [("https://hooks.example.com/floor", "s3cret")]


def test_invalid_rules_are_refused_with_every_problem(client):
    body = {
        "rules": [{"id": "a", "kind": "worker_idle", "minutes": 0},
                  {"id": "a", "kind": "sleeping"},
                  {"id": " b", "kind": "pace_below", "percent": 101, "minutes": 5},
                  {"kind": "drift", "minutes": 5},
                  {"id": "c", "kind": "no_signal", "minutes": True},
                  {"id": "d", "kind": "station_unstaffed"}],
        "webhooks": [{"url": "ftp://hooks.example.com/x", "secret": "s"},
                     {"url": "https://hooks.example.com/y", "secret": " "},
                     {"url": "https://hooks.example.com/y"},
                     {"url": "https://hooks.example.com/z", "secret": "s", "token": "t"},
                     {"url": "https://user:pw@hooks.example.com/w", "secret": "s"}],
        "extra": 1,
    }
    errors = assert_problem(client.put("/alerts/rules", json=body), 422)["errors"]
    assert {error["field"] for error in errors} == {
        "extra", "rules[0].minutes", "rules[1].id", "rules[1].kind", "rules[2].id", "rules[2].percent",
        "rules[2].minutes", "rules[3].id", "rules[3].minutes", "rules[4].minutes", "rules[5].minutes",
        "webhooks[0].url", "webhooks[1].secret", "webhooks[2].secret", "webhooks[2].url", "webhooks[3].token",
        "webhooks[4].url"}
    assert get_ok(client, "/alerts/rules") == {"rules": [], "webhooks": []}


@pytest.mark.parametrize("body", [[], "null", {"rules": []}, {"rules": {}, "webhooks": []},
                                  {"rules": [{"id": f"r{n}", "kind": "drift"} for n in range(101)], "webhooks": []}])
def test_a_body_of_the_wrong_shape_is_refused(client, body):
    data = body if isinstance(body, str) else json.dumps(body)
    assert_problem(client.put("/alerts/rules", data=data, content_type="application/json"), 422)


@pytest.mark.parametrize("method", ["get", "put"])
def test_rules_need_the_admin_token_when_one_is_set(make_client, method):
    client = make_client(ADMIN_TOKEN="admin-token", VIEW_TOKENS="viewer-token")
    send = getattr(client, method)
    body = {"json": SPEC_RULES} if method == "put" else {}
    assert_problem(send("/alerts/rules", **body), 401)
    assert_problem(send("/alerts/rules", headers={"Authorization": "Bearer viewer-token"}, **body), 403)
    assert send("/alerts/rules", headers={"Authorization": "Bearer admin-token"}, **body).status_code == 200
    assert client.get("/alerts", headers={"Authorization": "Bearer viewer-token"}).status_code == 200


def test_alerts_are_listed_newest_first_by_state_and_limit(client, conn):
    alerts.record(conn, spell("W1"), ms("10:00"))
    alerts.record(conn, {**spell("W1"), **spell("W2")}, ms("10:01"))
    alerts.record(conn, spell("W2"), ms("10:02"))  # W1's spell ends
    listed = get_ok(client, "/alerts")
    assert [(a["subject"], a["opened_at"], a["closed_at"]) for a in listed["alerts"]] == [
        ("W2", at("10:01"), None), ("W1", at("10:00"), at("10:02"))]
    assert listed["alerts"][0] == {"id": 2, "rule_id": "silent", "kind": "no_signal", "subject": "W2",
                                   "opened_at": at("10:01"), "closed_at": None,
                                   "detail": {"subject_kind": "worker"}}
    assert [a["subject"] for a in get_ok(client, "/alerts", {"state": "open"})["alerts"]] == ["W2"]
    assert [a["subject"] for a in get_ok(client, "/alerts", {"state": "closed"})["alerts"]] == ["W1"]
    first = get_ok(client, "/alerts", {"limit": 1})
    assert [a["subject"] for a in first["alerts"]] == ["W2"] and first["has_more"] is True
    errors = assert_problem(client.get("/alerts", query_string={"state": "shut", "limit": 0}), 422)["errors"]
    assert {error["field"] for error in errors} == {"state", "limit"}
