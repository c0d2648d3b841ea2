"""The dashboard in real headless Chromium against a real server on 127.0.0.1.

The page is never waited on with sleeps: Playwright's `expect` retries until its condition holds,
and the page marks `data-ready` and counts `data-render-count` after each completed refresh.
`?poll=3600` keeps a page from refreshing on its own where a test does not want it to.
"""

import csv
import io
import json
import os
import pathlib
import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from tests.browser import (cards, chromium_path, decimal_text, duration_text, launch_chromium, open_dashboard,
                           page_query, percent_text, render_count, table_rows, wait_for_query,
                           wait_for_render_after, wait_until_ready)
from tests.servers import REPO_ROOT, Server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
if chromium_path() is None:
    pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does it)", allow_module_level=True)

FRONTEND = pathlib.Path(REPO_ROOT) / "frontend"
QUIET = "?poll=3600"  # no refresh of its own during a test
XSS_NAME = "<img src=x onerror=alert(1)>"
FORMULA_NAME = "=HYPERLINK(\"http://x\",\"y\")"

WORKER_NUMBERS = ["active_seconds", "idle_seconds", "absent_seconds", "utilization_pct", "units", "units_per_hour"]
STATION_NUMBERS = ["occupancy_seconds", "utilization_pct", "units", "throughput_per_hour"]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A server holding the demo shift; tests against it only read."""
    server = Server(tmp_path_factory.mktemp("seeded")).start()
    server.post("/seed")
    yield server
    server.stop()


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def old_shift_events(start, prefix="old"):
    """Two workers, two sites: a 4-hour spell that ended (everyone absent) long before now."""
    events = []
    for number, (worker, station, site) in enumerate([("W-A", "S-1", "north"), ("W-B", "S-2", "south")]):
        at = start + timedelta(minutes=number * 10)
        plan = [(0, "working"), (60, "idle"), (75, "working"), (240, "absent")]
        for minute, state in plan:
            events.append({"timestamp": iso(at + timedelta(minutes=minute)), "worker_id": worker,
                           "workstation_id": station, "event_type": state, "site_id": site,
                           "confidence": 0.9, "event_id": f"{prefix}-{worker}-{minute}"})
        for minute in range(10, 240, 20):
            events.append({"timestamp": iso(at + timedelta(minutes=minute)), "worker_id": worker,
                           "workstation_id": station, "event_type": "product_count", "count": 2,
                           "site_id": site, "event_id": f"{prefix}-{worker}-u{minute}"})
    return events


@pytest.fixture(scope="module")
def old_floor(tmp_path_factory):
    """A server whose only events ended two days ago: "today" and "last 8 hours" hold nothing."""
    server = Server(tmp_path_factory.mktemp("old")).start()
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2, hours=6)
    server.post("/events", old_shift_events(start))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A server whose events carry markup and a spreadsheet formula as ids."""
    server = Server(tmp_path_factory.mktemp("hostile")).start()
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    rows = []
    for number, worker in enumerate([XSS_NAME, FORMULA_NAME, "W-plain"]):
        at = start + timedelta(minutes=number)
        rows += [
            {"timestamp": iso(at), "worker_id": worker, "workstation_id": "<b>S1</b>", "event_type": "working",
             "site_id": "<i>site</i>"},
            {"timestamp": iso(at + timedelta(minutes=30)), "worker_id": worker, "workstation_id": "<b>S1</b>",
             "event_type": "product_count", "count": 3, "site_id": "<i>site</i>"},
            {"timestamp": iso(at + timedelta(minutes=60)), "worker_id": worker, "workstation_id": "<b>S1</b>",
             "event_type": "idle", "site_id": "<i>site</i>"},
        ]
    server.post("/events", rows)
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    """A fresh page at 1440x900. A JavaScript error or any alert/confirm/prompt fails the test.

    The helpers wait on conditions written as JavaScript strings, which the dashboard's own
    Content-Security-Policy forbids; these pages bypass it, and
    `test_page_works_under_its_content_security_policy` checks the page under the real one.
    """
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True, bypass_csp=True)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def on_dialog(dialog):
        problems.append(f"unexpected {dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()
    assert not problems


@pytest.fixture
def server_factory(tmp_path):
    """Start servers of this test's own (each with its own database); stopped at the end."""
    started = []

    def make(name="server", **env):
        server = Server(str(tmp_path / name), **env).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def api_query(page):
    """The page's metrics query as a query string for the API."""
    query = page_query(page)
    return f"?{urlencode(query)}" if query else ""


def assert_figures_match_api(page, server, worker=None, workstation=None):
    """Cards and both tables show exactly what the API answers for the page's own query."""
    query = api_query(page)
    factory = server.get(f"/metrics/factory{query}")["factory"]
    all_workers = workers = server.get(f"/metrics/workers{query}")["workers"]
    stations = server.get(f"/metrics/workstations{query}")["workstations"]
    if worker:
        workers = [w for w in workers if w["worker_id"] == worker]
    if workstation:
        stations = [s for s in stations if s["workstation_id"] == workstation]

    shown = {row["id"]: row["cells"] for row in table_rows(page, "#worker-table", "data-worker-id")}
    assert set(shown) == {w["worker_id"] for w in workers}
    for expected in workers:
        cells = shown[expected["worker_id"]]
        for field in WORKER_NUMBERS:
            assert float(cells[field]["value"]) == expected[field], (expected["worker_id"], field)
        for field in ("active_seconds", "idle_seconds", "absent_seconds"):
            assert cells[field]["text"] == duration_text(expected[field])
        assert cells["utilization_pct"]["text"] == percent_text(expected["utilization_pct"])
        assert cells["units_per_hour"]["text"] == decimal_text(expected["units_per_hour"])
        assert cells["name"]["value"] == expected["name"]
        assert cells["last_state"]["value"] == expected["last_state"]
        assert cells["last_seen"]["value"] == expected["last_seen"]
        assert cells["current_workstation_id"]["value"] == expected["current_workstation_id"]

    shown = {row["id"]: row["cells"] for row in table_rows(page, "#workstation-table", "data-workstation-id")}
    assert set(shown) == {s["workstation_id"] for s in stations}
    for expected in stations:
        cells = shown[expected["workstation_id"]]
        for field in STATION_NUMBERS:
            assert float(cells[field]["value"]) == expected[field], (expected["workstation_id"], field)
        assert cells["occupancy_seconds"]["text"] == duration_text(expected["occupancy_seconds"])
        assert cells["name"]["value"] == expected["name"]

    shown_cards = cards(page)
    expected_cards = {
        "active": factory["total_active_seconds"],
        "idle": factory["total_idle_seconds"],
        "units": factory["total_units"],
        "rate": factory["average_production_rate"],
        "utilization": factory["average_utilization_pct"],
        "active-now": sum(1 for w in all_workers if w["last_state"] == "working"),
    }
    for name, value in expected_cards.items():
        assert float(shown_cards[name]["value"]) == value, name
    assert shown_cards["active"]["text"] == duration_text(factory["total_active_seconds"])
    assert shown_cards["idle"]["text"] == duration_text(factory["total_idle_seconds"])
    assert shown_cards["utilization"]["text"] == percent_text(factory["average_utilization_pct"])
    assert shown_cards["rate"]["text"] == f"{decimal_text(factory['average_production_rate'])} units/h"
    return factory


def url_params(page):
    return {key: values[0] for key, values in parse_qs(urlparse(page.url).query).items()}


# ---------------------------------------------------------------- the seeded page

def test_seeded_page_shows_every_worker_with_the_numbers_the_api_gives(page, seeded):
    open_dashboard(page, seeded.base, QUIET)
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    expect(page.locator("#workstation-table tbody tr[data-workstation-id]")).to_have_count(6)
    assert page_query(page) == {}  # whole data: no from, no to
    assert_figures_match_api(page, seeded)

    names = page.locator("#worker-table td[data-col='name'] .cell-name").all_inner_texts()
    assert names == [w["name"] for w in seeded.get("/metrics/workers")["workers"]]
    expect(page.locator("#updated-at")).to_have_text(re.compile(r"^Updated at \d\d:\d\d:\d\d$"))
    expect(page.locator("#status")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#api-down-banner")).to_be_hidden()


def test_charts_and_feed_are_drawn_with_text_alternatives(page, seeded):
    open_dashboard(page, seeded.base, QUIET)
    for chart in ("#timeline-chart", "#hourly-chart", "#worker-util-chart", "#station-util-chart"):
        figure = page.locator(f"{chart} svg[role='img']")
        expect(figure).to_have_count(1)
        assert figure.get_attribute("aria-label").strip()
        expect(page.locator(f"{chart} svg > title")).to_have_count(1)
    expect(page.locator("#timeline-chart .timeline-row")).to_have_count(6)
    for state in ("working", "idle", "absent"):
        assert page.locator(f"#timeline-chart .band-{state}").count() > 0
    expect(page.locator("#timeline-legend li")).to_have_text(["Working", "Idle", "Absent"])
    buckets = seeded.get("/metrics/hourly")["buckets"]
    assert page.locator("#hourly-chart .hour-bar").count() == sum(1 for b in buckets if b["units"] > 0)

    feed = seeded.get("/events?limit=20")["events"]
    items = page.locator("#event-feed li[data-event-id]")
    expect(items).to_have_count(20)
    assert [int(i) for i in items.evaluate_all("els => els.map(e => e.dataset.eventId)")] == [e["id"] for e in feed]


def test_sorting_by_a_column_works_from_the_keyboard(page, seeded):
    open_dashboard(page, seeded.base, QUIET)
    button = page.locator("#worker-table th[data-col='units'] button")
    button.focus()
    page.keyboard.press("Enter")
    header = page.locator("#worker-table th[data-col='units']")
    expect(header).to_have_attribute("aria-sort", "descending")
    units = [int(v) for v in page.locator("#worker-table td[data-col='units']").evaluate_all(
        "tds => tds.map(td => td.dataset.value)")]
    assert units == sorted(units, reverse=True)
    assert url_params(page)["wsort"] == "-units"

    page.keyboard.press("Space")  # focus stayed on the button through the redraw
    expect(header).to_have_attribute("aria-sort", "ascending")
    units = [int(v) for v in page.locator("#worker-table td[data-col='units']").evaluate_all(
        "tds => tds.map(td => td.dataset.value)")]
    assert units == sorted(units)
    assert page.locator("#worker-table th[aria-sort]").count() == 1

    page.locator("#workstation-table th[data-col='name'] button").click()
    expect(page.locator("#workstation-table th[data-col='name']")).to_have_attribute("aria-sort", "ascending")
    names = page.locator("#workstation-table td[data-col='name']").evaluate_all("tds => tds.map(td => td.dataset.value)")
    assert names == sorted(names, key=str.lower)


# ---------------------------------------------------------------- filters and the URL

def test_worker_workstation_and_site_filters_change_the_figures_and_the_url(page, seeded):
    open_dashboard(page, seeded.base, QUIET)

    page.select_option("#filter-worker", "W-03")
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(1)
    expect(page.locator("#worker-table tbody tr")).to_have_attribute("data-worker-id", "W-03")
    assert url_params(page)["worker"] == "W-03"
    expect(page.locator("#timeline-chart .timeline-row")).to_have_count(1)
    expect(page.locator("#timeline-chart .timeline-row")).to_have_attribute("data-worker-id", "W-03")
    feed_workers = page.locator("#event-feed li[data-event-id]").evaluate_all("els => els.map(e => e.dataset.workerId)")
    assert feed_workers and set(feed_workers) == {"W-03"}
    assert_figures_match_api(page, seeded, worker="W-03")

    all_bands = page.locator("#timeline-chart .band").count()
    page.select_option("#filter-workstation", "WS-02")  # where W-03 helped for a while
    expect(page.locator("#workstation-table tbody tr[data-workstation-id]")).to_have_count(1)
    expect(page.locator("#event-feed li[data-event-id]").first).to_have_attribute("data-workstation-id", "WS-02")
    feed_stations = page.locator("#event-feed li[data-event-id]").evaluate_all("els => els.map(e => e.dataset.workstationId)")
    assert set(feed_stations) == {"WS-02"}
    assert 0 < page.locator("#timeline-chart .band").count() < all_bands
    assert url_params(page) == {"poll": "3600", "worker": "W-03", "workstation": "WS-02"}

    page.locator("#filter-clear").click()
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    assert "worker" not in url_params(page)

    page.select_option("#filter-site", "plant-north")
    north = {w["worker_id"] for w in seeded.get("/metrics/workers?site_id=plant-north")["workers"]}
    assert north and len(north) < 6
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(len(north))
    wait_for_query(page, site_id="plant-north")
    assert url_params(page)["site"] == "plant-north"
    assert_figures_match_api(page, seeded)

    # The URL alone brings the same view back.
    page.reload()
    wait_until_ready(page)
    expect(page.locator("#filter-site")).to_have_value("plant-north")
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(len(north))
    assert_figures_match_api(page, seeded)

    # Back goes to the view before.
    page.go_back()
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    expect(page.locator("#filter-site")).to_have_value("")


def test_custom_range_is_read_in_the_factory_time_zone_and_survives_a_reload(page, seeded):
    open_dashboard(page, seeded.base, QUIET)
    window = seeded.get("/metrics/factory")["window"]
    start = datetime.fromisoformat(window["from"].replace("Z", "+00:00"))
    before = cards(page)

    page.select_option("#filter-range", "custom")
    expect(page.locator("#filter-from")).to_be_visible()
    count = render_count(page)
    page.fill("#filter-from", (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    wait_for_render_after(page, count)
    count = render_count(page)
    page.fill("#filter-to", (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"))
    wait_for_render_after(page, count)
    expected_from = (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:00.000Z")
    expected_to = (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:00.000Z")
    wait_for_query(page, **{"from": expected_from, "to": expected_to})
    factory = assert_figures_match_api(page, seeded)
    assert factory["total_active_seconds"] < float(before["active"]["value"])
    params = url_params(page)
    assert params["range"] == "custom"
    assert params["from"] == (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")

    page.reload()
    wait_until_ready(page)
    expect(page.locator("#filter-range")).to_have_value("custom")
    expect(page.locator("#filter-from")).to_have_value((start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    assert page_query(page) == {"from": expected_from, "to": expected_to}
    assert_figures_match_api(page, seeded)


def test_today_and_last_8_hours_on_old_data_show_zeros(page, old_floor):
    open_dashboard(page, old_floor.base, QUIET)
    whole = cards(page)
    assert float(whole["units"]["value"]) > 0 and float(whole["active"]["value"]) > 0

    page.select_option("#filter-range", "last8h")
    expect(page.locator("[data-card='units'] .value")).to_have_attribute("data-value", "0")
    expect(page.locator("[data-card='active'] .value")).to_have_text(re.compile(r"^0\s*min$"))
    assert url_params(page)["range"] == "last8h"
    query = page_query(page)
    span = datetime.fromisoformat(query["to"].replace("Z", "+00:00")) - datetime.fromisoformat(query["from"].replace("Z", "+00:00"))
    assert span == timedelta(hours=8)
    assert_figures_match_api(page, old_floor)
    assert all(float(row["cells"]["active_seconds"]["value"]) == 0
               for row in table_rows(page, "#worker-table", "data-worker-id"))

    page.select_option("#filter-range", "today")
    page.wait_for_function("(new URLSearchParams(document.body.dataset.query).get('from') || '').endsWith('T00:00:00.000Z')")
    expect(page.locator("[data-card='units'] .value")).to_have_attribute("data-value", "0")
    assert url_params(page)["range"] == "today"
    assert page_query(page)["from"].endswith("T00:00:00.000Z")  # midnight in the factory's zone, UTC here

    page.select_option("#filter-range", "all")
    expect(page.locator("[data-card='units'] .value")).to_have_attribute("data-value", whole["units"]["value"])
    assert "range" not in url_params(page)


def test_presets_follow_the_factory_time_zone(page, server_factory):
    server = server_factory(FACTORY_TZ="Asia/Kolkata")  # UTC+05:30, no daylight saving
    start = datetime.now(timezone.utc).replace(microsecond=0, second=0) - timedelta(days=2)
    server.post("/events", old_shift_events(start))
    open_dashboard(page, server.base, QUIET + "&range=today")
    assert page_query(page)["from"].endswith("T18:30:00.000Z")  # local midnight, 5:30 ahead of UTC

    page.goto(f"{server.base}/{QUIET}&range=custom&from=2026-01-15T11:30&to=2026-01-15T13:00")
    wait_until_ready(page)
    assert page_query(page) == {"from": "2026-01-15T06:00:00.000Z", "to": "2026-01-15T07:30:00.000Z"}
    expect(page.locator("#window-caption")).to_contain_text("Asia/Kolkata")


def test_a_worker_unknown_to_the_charts_still_shows_the_rest(page, seeded):
    open_dashboard(page, seeded.base, QUIET + "&worker=NOBODY")
    expect(page.locator("#filter-worker")).to_have_value("NOBODY")
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(0)
    expect(page.locator("#workstation-table tbody tr[data-workstation-id]")).to_have_count(6)
    expect(page.locator("#timeline-chart .chart-empty")).to_be_visible()


def test_api_parameter_points_the_page_at_another_origin(page, server_factory):
    remote = server_factory("remote", CORS_ORIGINS="*")  # an API that lets other origins read it
    remote.post("/seed")
    empty = server_factory("empty", DASHBOARD_CONNECT_SRC=remote.base)  # the page's CSP must allow it
    open_dashboard(page, empty.base, f"{QUIET}&api={remote.base}")
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    assert_figures_match_api(page, remote)
    page.select_option("#filter-worker", "W-01")
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(1)
    assert url_params(page)["api"] == remote.base  # kept while the view changes
    page.locator("#reload-demo").click()
    expect(page.locator("#seed-token-hint")).to_contain_text(f"The token is sent to {remote.base}")
    page.locator("#seed-cancel").click()


# ---------------------------------------------------------------- live

def test_api_down_banner_appears_keeps_figures_and_clears_when_the_api_is_back(page, server_factory):
    server = server_factory()
    server.post("/seed")
    open_dashboard(page, server.base, "?poll=1")
    # It polls on its own.
    page.wait_for_function("Number(document.body.dataset.renderCount) >= 2")
    before = cards(page)
    banner = page.locator("#api-down-banner")
    expect(banner).to_be_hidden()

    server.stop()
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_have_attribute("role", "alert")
    expect(page.locator("#live-label")).to_have_text("Offline")
    # The last figures stay on screen while the API is away.
    assert cards(page) == before
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    count = render_count(page)

    server.start()  # the same port and database
    expect(banner).to_be_hidden(timeout=15_000)
    wait_for_render_after(page, count)
    expect(page.locator("#live-label")).to_have_text("Live")
    assert cards(page) == before


# ---------------------------------------------------------------- reload demo data

def test_reload_button_loads_the_demo_into_an_empty_server(page, server_factory):
    server = server_factory()
    open_dashboard(page, server.base, QUIET)
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(0)

    page.locator("#reload-demo").click()
    dialog = page.locator("#seed-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#seed-token")).to_be_hidden()
    page.locator("#seed-confirm").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    expect(page.locator("#status")).to_contain_text("Demo data loaded")
    assert_figures_match_api(page, server)


def test_reload_button_asks_for_the_admin_token(page, server_factory):
    server = server_factory(ADMIN_TOKEN="s3cret-token", PUBLIC_READ="1")
    open_dashboard(page, server.base, QUIET)
    assert server.get("/settings")["seed"]["needs_token"] is True

    page.locator("#reload-demo").click()
    token = page.locator("#seed-token")
    expect(token).to_be_visible()  # the server said it needs one
    expect(token).to_have_attribute("type", "password")
    token.fill("wrong")
    page.locator("#seed-confirm").click()
    expect(page.locator("#seed-error")).to_have_text("That token was not accepted.")
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(0)

    token.fill("s3cret-token")
    page.locator("#seed-confirm").click()
    expect(page.locator("#seed-dialog")).to_be_hidden()
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)


def test_reload_button_asks_for_the_token_after_a_401(page, server_factory):
    server = server_factory(ADMIN_TOKEN="s3cret-token", PUBLIC_READ="1")
    # A server that does not say up front that it needs a token: the 401 is what asks.
    page.route("**/settings", lambda route: route.fulfill(json={
        "factory_tz": "UTC", "poll_seconds": 3600, "seed": {"allowed": True, "needs_token": False}}))
    open_dashboard(page, server.base, QUIET)
    page.locator("#reload-demo").click()
    expect(page.locator("#seed-token")).to_be_hidden()
    page.locator("#seed-confirm").click()
    expect(page.locator("#seed-token")).to_be_visible()
    expect(page.locator("#seed-error")).to_contain_text("needs the admin token")
    page.locator("#seed-token").fill("s3cret-token")
    page.keyboard.press("Enter")
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)


def test_reload_button_warns_before_deleting_events_the_demo_did_not_load(page, server_factory):
    server = server_factory()
    server.post("/events", [{"timestamp": iso(datetime.now(timezone.utc) - timedelta(hours=1)), "worker_id": "REAL-1",
                             "workstation_id": "S-1", "event_type": "working"}])
    open_dashboard(page, server.base, QUIET)
    page.locator("#reload-demo").click()
    confirm = page.locator("#seed-confirm")
    confirm.click()
    warning = page.locator("#seed-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("holds 1 event that the demo did not load")
    expect(warning).to_contain_text("cannot be brought back")
    expect(confirm).to_have_text("Delete everything and load demo")
    expect(page.locator("#seed-cancel")).to_be_focused()  # Enter does not delete
    assert [w["worker_id"] for w in server.get("/workers")["workers"]] == ["REAL-1"]  # nothing deleted yet

    page.locator("#seed-cancel").click()
    page.locator("#reload-demo").click()  # asked afresh: no warning until the server says so again
    expect(warning).to_be_hidden()
    expect(confirm).to_have_text("Reload demo data")
    confirm.click()
    expect(warning).to_be_visible()
    confirm.click()
    expect(page.locator("#seed-dialog")).to_be_hidden()
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    assert "REAL-1" not in {w["worker_id"] for w in server.get("/workers")["workers"]}


def test_page_asks_for_a_token_once_keeps_it_for_the_tab_and_asks_again_when_refused(page, server_factory):
    server = server_factory(VIEW_TOKENS="screen-key", ADMIN_TOKEN="admin-key")
    server.post("/seed", headers={"Authorization": "Bearer admin-key"})
    assert server.request("GET", "/metrics/workers")[0] == 401
    page.goto(f"{server.base}/{QUIET}")
    dialog = page.locator("#token-dialog")
    token = page.locator("#token-input")
    expect(dialog).to_be_visible()
    expect(token).to_have_attribute("type", "password")
    expect(token).to_be_focused()
    token.fill("wrong-key")
    page.locator("#token-confirm").click()
    expect(page.locator("#token-error")).to_have_text("That token was not accepted. Enter another.")
    expect(dialog).to_be_visible()
    token.fill("screen-key")
    page.keyboard.press("Enter")
    wait_until_ready(page)
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    expect(dialog).to_be_hidden()  # every read that was refused waited for the one answer
    assert page.evaluate("sessionStorage.getItem('factory-floor-token')") == "screen-key"
    assert page.evaluate("localStorage.length") == 0

    page.reload()
    wait_until_ready(page)  # the tab kept the token: no question
    expect(dialog).to_be_hidden()

    other = page.context.new_page()  # another tab asks for itself
    other.goto(f"{server.base}/{QUIET}")
    expect(other.locator("#token-dialog")).to_be_visible()
    other.locator("#token-cancel").click()
    expect(other.locator("#status")).to_contain_text("only with a token")
    expect(other.locator("#token-open")).to_be_visible()
    other.locator("#token-open").click()
    expect(other.locator("#token-dialog")).to_be_visible()
    other.locator("#token-input").fill("admin-key")  # an admin token reads too
    other.keyboard.press("Enter")
    expect(other.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    expect(other.locator("#token-open")).to_be_hidden()
    other.close()


def test_reload_button_is_hidden_when_seeding_is_off(page, server_factory):
    server = server_factory(ALLOW_SEED="0")
    open_dashboard(page, server.base, QUIET)
    expect(page.locator("#reload-demo")).to_be_hidden()


# ---------------------------------------------------------------- data is text

def test_names_from_events_are_shown_as_text_never_as_html(page, hostile):
    open_dashboard(page, hostile.base, QUIET)
    row = page.locator("#worker-table tbody tr").filter(has_text=XSS_NAME)
    expect(row).to_have_count(1)
    expect(row.locator("td[data-col='name']")).to_have_attribute("data-value", XSS_NAME)
    expect(page.locator("#workstation-table td[data-col='name'] .cell-name")).to_have_text(["<b>S1</b>"])
    expect(page.locator("#filter-worker option", has_text=XSS_NAME)).to_have_count(1)
    expect(page.locator("#filter-site option", has_text="<i>site</i>")).to_have_count(1)
    expect(page.locator("#event-feed .feed-worker", has_text=XSS_NAME).first).to_be_visible()
    expect(page.locator("#timeline-chart").get_by_text(XSS_NAME[:10], exact=False).first).to_be_attached()
    # No element was made from the data: no <img>, <b> or <i> anywhere on the page.
    assert page.evaluate("document.querySelectorAll('img, b, i').length") == 0

    page.select_option("#filter-worker", XSS_NAME)
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(1)
    assert url_params(page)["worker"] == XSS_NAME
    assert page.evaluate("document.querySelectorAll('img, b, i').length") == 0


# ---------------------------------------------------------------- CSV

def read_download(download):
    text = pathlib.Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_csv_export_downloads_the_rows_shown(page, seeded):
    open_dashboard(page, seeded.base, QUIET + "&site=plant-south")
    shown = table_rows(page, "#worker-table", "data-worker-id")
    assert 0 < len(shown) < 6
    with page.expect_download() as info:
        page.locator("#export-workers").click()
    assert info.value.suggested_filename.startswith("workers_plant-south_")
    assert info.value.suggested_filename.endswith(".csv")
    rows = read_download(info.value)
    assert [r["worker_id"] for r in rows] == [r["id"] for r in shown]
    assert list(rows[0]) == ["worker_id", "name", "last_state", "current_workstation_id", "active_seconds",
                             "idle_seconds", "absent_seconds", "utilization_pct", "units", "units_per_hour",
                             "last_seen"]
    for row, screen in zip(rows, shown):
        for field, cell in screen["cells"].items():
            assert row[field] == (cell["value"] or ""), field

    page.locator("#workstation-table th[data-col='units'] button").click()
    stations = table_rows(page, "#workstation-table", "data-workstation-id")
    with page.expect_download() as info:
        page.locator("#export-workstations").click()
    rows = read_download(info.value)
    assert [r["workstation_id"] for r in rows] == [s["id"] for s in stations]
    assert list(rows[0]) == ["workstation_id", "name", "occupancy_seconds", "utilization_pct", "units",
                             "throughput_per_hour"]
    api = {s["workstation_id"]: s for s in seeded.get("/metrics/workstations?site_id=plant-south")["workstations"]}
    for row in rows:
        assert float(row["occupancy_seconds"]) == api[row["workstation_id"]]["occupancy_seconds"]
        assert float(row["throughput_per_hour"]) == api[row["workstation_id"]]["throughput_per_hour"]


def test_csv_export_keeps_formulas_and_markup_inert(page, hostile):
    open_dashboard(page, hostile.base, QUIET)
    with page.expect_download() as info:
        page.locator("#export-workers").click()
    text = pathlib.Path(info.value.path()).read_text(encoding="utf-8")
    rows = {r["worker_id"]: r for r in csv.DictReader(io.StringIO(text[1:]))}
    assert f"'{FORMULA_NAME}" in rows  # quoted by the CSV, defused by the leading apostrophe
    assert rows[f"'{FORMULA_NAME}"]["name"] == f"'{FORMULA_NAME}"
    assert rows[XSS_NAME]["name"] == XSS_NAME
    assert '"\'=HYPERLINK(""http://x"",""y"")"' in text


# ---------------------------------------------------------------- the pure modules, in the browser

HELPERS_JS = """async () => {
    const fmt = await import('/js/format.js');
    const csv = await import('/js/csv.js');
    const time = await import('/js/time.js');
    const plain = (text) => text.replace(/\\u00a0/g, ' ');
    const at = (text, zone) => new Date(time.parseLocalInput(text, zone)).toISOString();
    return {
        durations: [0, 10, 29, 30, 89, 90, 3569, 3570, 20880, 360000].map((s) => plain(fmt.duration(s))),
        percents: [0, 85.8, 100, 1234.5].map((v) => plain(fmt.percent(v))),
        fields: ['=1+2', '+1', '-1', '@SUM(A1)', '\\tx', 'a,b', 'say "hi"', 'plain', -5, 12.5, null].map(csv.csvField),
        berlinSummer: at('2026-07-01T08:00', 'Europe/Berlin'),
        berlinWinter: at('2026-01-15T08:00', 'Europe/Berlin'),
        berlinDstMidnight: new Date(time.startOfDay(Date.parse('2026-03-29T12:00:00Z'), 'Europe/Berlin')).toISOString(),
        kolkataInput: time.toLocalInput(Date.parse('2026-01-15T06:00:00Z'), 'Asia/Kolkata'),
        badInput: time.parseLocalInput('2026-13-01T08:00', 'UTC'),
        reversed: time.rangeBounds('custom', 0, 'UTC', '2026-01-15T10:00', '2026-01-15T08:00').error || null,
        ticks: time.timeTicks(Date.parse('2026-01-15T06:00:00Z'), Date.parse('2026-01-15T14:00:00Z'), 'UTC', 10).map((t) => t.label),
        validZone: [time.isValidTimeZone('Europe/Berlin'), time.isValidTimeZone('Mars/Olympus')],
    };
}"""


def test_formatting_csv_and_time_zone_helpers(page, seeded):
    page.goto(f"{seeded.base}/{QUIET}")
    result = page.evaluate(HELPERS_JS)
    assert result["durations"] == ["0 min", "< 1 min", "< 1 min", "1 min", "1 min", "2 min", "59 min",
                                   "1 h 0 min", "5 h 48 min", "100 h 0 min"]
    assert result["durations"] == [duration_text(s) for s in (0, 10, 29, 30, 89, 90, 3569, 3570, 20880, 360000)]
    assert result["percents"] == ["0 %", "85.8 %", "100 %", "1,234.5 %"]
    assert result["fields"] == ["'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\tx", '"a,b"', '"say ""hi"""', "plain",
                                "-5", "12.5", ""]
    assert result["berlinSummer"] == "2026-07-01T06:00:00.000Z"
    assert result["berlinWinter"] == "2026-01-15T07:00:00.000Z"
    assert result["berlinDstMidnight"] == "2026-03-28T23:00:00.000Z"  # the night the clocks go forward
    assert result["kolkataInput"] == "2026-01-15T11:30"
    assert result["badInput"] is None
    assert result["reversed"]
    assert result["ticks"] == [f"{h:02d}:00" for h in range(6, 15)]
    assert result["validZone"] == [True, False]


# ---------------------------------------------------------------- code rules and layout

def test_front_end_never_parses_data_as_markup():
    scripts = sorted((FRONTEND / "js").glob("*.js"))
    assert scripts
    for script in scripts:
        source = script.read_text()
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert forbidden not in source, (script.name, forbidden)
        if script.name != "api.js":
            assert not re.search(r"\bfetch\s*\(", source), f"{script.name} calls fetch; only api.js may"
    html = (FRONTEND / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), "inline event handler"
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html), "external resource"


def test_page_works_under_its_content_security_policy(browser, seeded):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    try:
        page.add_init_script("""window.__violations = [];
            document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));""")
        response = page.goto(f"{seeded.base}/{QUIET}")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe" not in policy
        expect(page.locator("body")).to_have_attribute("data-ready", "1")
        expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
        page.locator("#worker-table th[data-col='units'] button").click()
        page.locator("#reload-demo").click()
        page.locator("#seed-cancel").click()
        assert page.evaluate("window.__violations") == []
    finally:
        context.close()


def test_phone_width_scrolls_tables_not_the_page(browser, seeded):
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        open_dashboard(page, seeded.base, QUIET)
        sizes = page.evaluate("""() => ({
            page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
            body: [document.body.scrollWidth, document.body.clientWidth],
            table: (() => { const box = document.querySelector('#worker-table').closest('.table-scroll');
                            return [box.scrollWidth, box.clientWidth, getComputedStyle(box).overflowX]; })(),
        })""")
        assert sizes["page"][0] <= sizes["page"][1], sizes
        assert sizes["body"][0] <= sizes["body"][1], sizes
        assert sizes["table"][0] > sizes["table"][1] and sizes["table"][2] == "auto", sizes
        # Every card and panel fits the screen.
        widest = page.evaluate("""Math.max(...[...document.querySelectorAll('.card, .panel, .toolbar')]
            .map(el => el.getBoundingClientRect().right))""")
        assert widest <= 375
    finally:
        context.close()


@pytest.mark.skipif(os.environ.get("UPDATE_SCREENSHOT") != "1", reason="set UPDATE_SCREENSHOT=1 to rewrite docs/dashboard.png")
def test_update_screenshot(page, seeded):
    open_dashboard(page, seeded.base, QUIET)
    expect(page.locator("#timeline-chart svg")).to_be_visible()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    target = pathlib.Path(REPO_ROOT) / "docs" / "dashboard.png"
    target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target), full_page=True)


# ---------------------------------------------------------------- camera models and drift

MODEL_NUMBERS = ["event_count", "mean_confidence", "p10_confidence", "low_confidence_share"]


def score_text(value):
    """A confidence as the models table writes it: three decimals, rounded half up from the number's
    shortest decimal form, as the browser's Intl.NumberFormat does (0.0265 * 100 is "2.65", so 2.7)."""
    return str(Decimal(repr(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def share_text(value):
    """A share in [0, 1] as the models table writes it: a percentage with at most one decimal."""
    text = str(Decimal(repr(value * 100)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return f"{text.removesuffix('.0')} %"


def clock_text(instant):
    """"HH:MM" of an API instant, in UTC (the seeded servers' factory time zone)."""
    return instant[11:16]


def drift_items(page, flagged=None):
    """The drift list's items as `(kind, id)`, in screen order; only flagged or unflagged ones when asked."""
    selector = "#drift-list [data-drift-kind]"
    if flagged is not None:
        selector += f"[data-flagged='{'true' if flagged else 'false'}']"
    return [tuple(pair) for pair in page.locator(selector).evaluate_all(
        "els => els.map(e => [e.dataset.driftKind, e.dataset.driftId])")]


def expected_drift_items(drift, flagged, worker=None):
    workers = [w for w in drift["workers"] if not worker or w["worker_id"] == worker]
    return ([("model", m["model_version"]) for m in drift["models"] if m["flagged"] == flagged]
            + [("worker", w["worker_id"]) for w in workers if w["flagged"] == flagged])


def assert_models_match_api(page, server):
    """The models table shows exactly the versions and figures the API gives for the page's own query."""
    query = api_query(page)
    models = server.get(f"/metrics/models{query}")
    drift = server.get(f"/metrics/drift{query}")
    rows = table_rows(page, "#models-table", "data-model-version")
    assert [row["id"] for row in rows] == [m["model_version"] for m in models["models"]]
    checks = {m["model_version"]: m for m in drift["models"]}
    for row, expected in zip(rows, models["models"]):
        cells = row["cells"]
        for field in MODEL_NUMBERS:
            assert float(cells[field]["value"]) == expected[field], (expected["model_version"], field)
        assert cells["event_count"]["text"] == f"{expected['event_count']:,}"
        assert cells["mean_confidence"]["text"] == score_text(expected["mean_confidence"])
        assert cells["p10_confidence"]["text"] == score_text(expected["p10_confidence"])
        assert cells["low_confidence_share"]["text"] == share_text(expected["low_confidence_share"])
        for field in ("first_seen", "last_seen"):
            assert cells[field]["value"] == expected[field]
            assert cells[field]["text"] == clock_text(expected[field])  # same day as the window's end
        check = checks[expected["model_version"]]
        status = "flagged" if check["flagged"] else "unchecked" if check["confidence_drop"] is None else "steady"
        assert cells["drift"]["value"] == status
    return models, drift


def test_models_panel_shows_each_model_version_with_the_numbers_the_api_gives(page, seeded):
    open_dashboard(page, seeded.base, QUIET)
    expect(page.locator("#models-table tbody tr[data-model-version]")).to_have_count(2)
    models, _drift = assert_models_match_api(page, seeded)
    versions = [m["model_version"] for m in models["models"]]
    assert versions == ["floorcam-2.3.1", "floorcam-2.4.0"]
    assert page.locator("#models-table th button").count() == 0  # a plain header: nothing to sort

    figure = page.locator("#confidence-chart svg[role='img']")
    expect(figure).to_have_count(1)
    label = figure.get_attribute("aria-label")
    assert "Mean camera confidence" in label and all(v in label for v in versions)
    expect(page.locator("#confidence-chart svg > title")).to_have_count(1)
    lines = page.locator("#confidence-chart .series-line")
    assert lines.evaluate_all("els => els.map(e => e.dataset.modelVersion)") == versions
    # Each line differs in dash and marker as well as colour.
    looks = lines.evaluate_all("""els => els.map(g => {
        const line = g.querySelector('polyline');
        const point = document.querySelector(`#confidence-chart g[data-model-version="${g.dataset.modelVersion}"] .series-point`);
        return [line.getAttribute('stroke'), line.getAttribute('stroke-dasharray') || 'solid', point.tagName];
    })""")
    assert all(len({look[i] for look in looks}) == len(looks) for i in range(3)), looks
    rated = [p for p in models["series"] if p["mean_confidence"] is not None]
    expect(page.locator("#confidence-chart .series-point")).to_have_count(len(rated))
    expect(page.locator("#models-legend li")).to_have_count(2)
    legend = page.locator("#models-legend li").all_inner_texts()
    assert [text.split()[0] for text in legend] == versions


def test_drift_summary_and_list_show_the_flags_the_api_gives(page, seeded):
    drift = seeded.get("/metrics/drift")
    assert drift["flagged"] == 2
    open_dashboard(page, seeded.base, QUIET)
    summary = page.locator("#drift-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_attribute("data-flagged", "2")
    expect(summary).to_have_text("2 drift flags")

    assert drift_items(page, flagged=True) == expected_drift_items(drift, True) == [
        ("model", "floorcam-2.3.1"), ("worker", "W-04")]
    reasons = {m["model_version"]: m["reason"] for m in drift["models"]}
    reasons.update({w["worker_id"]: w["reason"] for w in drift["workers"]})
    for kind, item_id in drift_items(page, flagged=True):
        item = page.locator(f"#drift-list [data-drift-kind='{kind}'][data-drift-id='{item_id}']")
        expect(item).to_be_visible()
        expect(item.locator(".drift-reason")).to_have_text(reasons[item_id])
    assert "by 0.080" in reasons["floorcam-2.3.1"] and "by 0.365" in reasons["W-04"]
    # Working share before → after, as the API measured it.
    w04 = next(w for w in drift["workers"] if w["worker_id"] == "W-04")
    expect(page.locator("#drift-list [data-drift-id='W-04'] .drift-figures")).to_contain_text(
        f"{share_text(w04['baseline']['working_share'])} → {share_text(w04['recent']['working_share'])}")

    # The flagged version's row is marked; the rest are folded away until asked for.
    expect(page.locator("#models-table tr[data-model-version='floorcam-2.3.1']")).to_have_class(re.compile(r"\bis-flagged\b"))
    expect(page.locator("#models-table tr[data-model-version='floorcam-2.4.0']")).not_to_have_class(re.compile(r"\bis-flagged\b"))
    unflagged = drift_items(page, flagged=False)
    assert unflagged == expected_drift_items(drift, False)
    assert len(unflagged) == len(drift["models"]) + len(drift["workers"]) - 2
    expect(page.locator("#drift-list [data-flagged='false']").first).to_be_hidden()
    page.locator("#drift-list details[data-drift-group='worker'] summary").click()
    expect(page.locator("#drift-list [data-drift-kind='worker'][data-flagged='false']").first).to_be_visible()

    # The worker filter narrows the worker list; the count stays the server's, and says what is hidden.
    page.select_option("#filter-worker", "W-01")
    expect(page.locator("#drift-list [data-drift-kind='worker']")).to_have_count(1)
    assert drift_items(page) == expected_drift_items(drift, True, "W-01") + expected_drift_items(drift, False, "W-01")
    expect(page.locator("#drift-list [data-drift-id='W-01']")).to_be_visible()  # the open fold stayed open
    expect(page.locator("#drift-list")).to_contain_text("1 other flagged worker is hidden by the worker filter")
    expect(summary).to_have_attribute("data-flagged", "2")

    page.locator("#filter-clear").click()
    expect(page.locator("#drift-list [data-drift-kind='worker']")).to_have_count(len(drift["workers"]))
    count = render_count(page)
    summary.click()
    expect(page.locator("#models-panel")).to_be_focused()
    expect(page.locator("#models-panel")).to_be_in_viewport()
    assert render_count(page) == count and urlparse(page.url).fragment == ""  # no history step, no refetch


def test_site_filter_changes_the_models_panel_and_the_drift_flags(page, seeded):
    open_dashboard(page, seeded.base, QUIET)
    expect(page.locator("#models-table tbody tr[data-model-version]")).to_have_count(2)
    everywhere = {row["id"]: row["cells"]["event_count"]["value"]
                  for row in table_rows(page, "#models-table", "data-model-version")}

    page.select_option("#filter-site", "plant-north")
    wait_for_query(page, site_id="plant-north")
    models, drift = assert_models_match_api(page, seeded)
    north = {m["model_version"]: str(m["event_count"]) for m in models["models"]}
    assert north and north != everywhere  # fewer events at one site
    expect(page.locator("#drift-summary")).to_have_attribute("data-flagged", str(drift["flagged"]))
    expect(page.locator("#drift-summary")).to_have_text("No drift" if drift["flagged"] == 0 else re.compile(r"drift flag"))
    assert drift_items(page, flagged=True) == expected_drift_items(drift, True)
    assert drift_items(page, flagged=False) == expected_drift_items(drift, False)
    # The south line's glare is not seen from the north: the older version is not compared there.
    expect(page.locator("#models-table tr[data-model-version='floorcam-2.3.1'] td[data-col='drift']")).to_have_attribute(
        "data-value", "unchecked")

    page.select_option("#filter-site", "plant-south")
    wait_for_query(page, site_id="plant-south")
    models, drift = assert_models_match_api(page, seeded)
    assert [m["model_version"] for m in models["models"]] == ["floorcam-2.3.1"]  # never upgraded
    expect(page.locator("#models-table tbody tr[data-model-version]")).to_have_count(1)
    expect(page.locator("#confidence-chart .series-line")).to_have_count(1)
    expect(page.locator("#drift-summary")).to_have_attribute("data-flagged", str(drift["flagged"]))
    assert drift_items(page, flagged=True) == expected_drift_items(drift, True)


def test_model_versions_from_events_are_shown_as_text(page, server_factory):
    server = server_factory()
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    server.post("/events", [
        {"timestamp": iso(start + timedelta(minutes=minute)), "worker_id": "W-1", "workstation_id": "S-1",
         "event_type": "working", "confidence": 0.9, "model_version": XSS_NAME if minute % 2 else None}
        for minute in range(0, 60, 5)])
    open_dashboard(page, server.base, QUIET)
    rows = page.locator("#models-table tbody tr[data-model-version]")
    expect(rows).to_have_count(2)
    assert rows.evaluate_all("els => els.map(e => e.getAttribute('data-model-version'))") == [XSS_NAME, ""]
    expect(page.locator("#models-table .cell-name")).to_have_text([XSS_NAME, "No version given"])
    expect(page.locator("#models-legend li")).to_have_count(2)
    assert page.evaluate("document.querySelectorAll('img, b, i').length") == 0


def test_polls_of_an_unchanged_view_are_answered_304(page, server_factory):
    server = server_factory()
    server.post("/seed")
    open_dashboard(page, server.base, "?poll=1")
    wait_for_render_after(page, render_count(page) + 1)  # two more refreshes of the same view
    with open(server.log_path) as log:
        answers = [json.loads(line) for line in log if '"factory.access"' in line]
    polled = [a["status"] for a in answers if a["path"] == "/metrics/workers"]
    assert polled[0] == 200 and 304 in polled[1:], polled
