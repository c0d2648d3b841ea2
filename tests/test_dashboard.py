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
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlencode, urlparse
from zoneinfo import ZoneInfo

import pytest

from backend import notify
from backend.app import create_app
from tests.browser import (
    cards,
    chromium_path,
    decimal_text,
    duration_text,
    launch_chromium,
    open_dashboard,
    page_query,
    percent_text,
    render_count,
    table_rows,
    wait_for_query,
    wait_for_render_after,
    wait_until_ready,
)
from tests.servers import REPO_ROOT, Server

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
if chromium_path() is None:
    pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does it)", allow_module_level=True)

FRONTEND = pathlib.Path(REPO_ROOT) / "frontend"
QUIET = "?poll=3600"  # no refresh of its own during a test
XSS_NAME = "<img src=x onerror=alert(1)>"
FORMULA_NAME = "=HYPERLINK(\"http://x\",\"y\")"

WORKER_NUMBERS = ["active_seconds", "idle_seconds", "absent_seconds", "unknown_seconds", "utilization_pct", "units",
                  "units_per_hour"]
STATION_NUMBERS = ["occupancy_seconds", "utilization_pct", "units", "throughput_per_hour"]
# The sizes the layout is held to: a phone, a laptop, a desktop and a 4K wall screen.
VIEWPORTS = [(320, 568), (390, 844), (1366, 768), (1920, 1080), (3840, 2160)]
BOARD_VIEWPORTS = [(1280, 720), (1366, 768), (1920, 1080), (3840, 2160)]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A server holding the demo floor; tests against it only read."""
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
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2, hours=6)
    server.post("/events", old_shift_events(start))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A server whose events carry markup and a spreadsheet formula as ids."""
    server = Server(tmp_path_factory.mktemp("hostile")).start()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
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
def page(browser, server_factory):
    """A fresh page at 1440x900. A JavaScript error or any alert/confirm/prompt fails the test.

    It closes before the servers the test started stop (`server_factory` is set up first, so
    torn down last): a server asked to stop waits a while for a browser's idle connections to
    close, and a closed page has none.

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
        for field in ("active_seconds", "idle_seconds", "absent_seconds", "unknown_seconds"):
            assert cells[field]["text"] == duration_text(expected[field])
        # A ratio without a denominator (no time at work) is shown as a dash, not as 0.
        no_time = expected["active_seconds"] + expected["idle_seconds"] == 0
        assert cells["utilization_pct"]["text"] == ("—" if no_time else percent_text(expected["utilization_pct"]))
        assert cells["units_per_hour"]["text"] == ("—" if expected["active_seconds"] == 0
                                                   else decimal_text(expected["units_per_hour"]))
        assert cells["name"]["value"] == expected["name"]
        assert cells["state_at_end"]["value"] == expected["state_at_end"]
        assert cells["state_at_end"]["text"] == STATE_TEXT.get(expected["state_at_end"], "—")
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
        assert cells["target_units"]["value"] == (None if expected.get("target_units") is None
                                                  else str(expected["target_units"]).removesuffix(".0"))

    shown_cards = cards(page)
    if worker:
        # The worker filter narrows the cards to that worker's figures.
        one = workers[0] if workers else None
        expected_cards = {
            "active": one["active_seconds"], "idle": one["idle_seconds"], "unknown": one["unknown_seconds"],
            "units": one["units"], "rate": one["units_per_hour"], "utilization": one["utilization_pct"],
            "active-now": 1 if one["state_at_end"] == "working" else 0,
        } if one else {"active-now": 0}
    elif workstation:
        # The workstation filter narrows them to that station's figures; it has no idle or
        # no-signal time of its own, so those cards are not shown.
        one = stations[0]
        expected_cards = {
            "active": one["occupancy_seconds"], "units": one["units"], "rate": one["throughput_per_hour"],
            "utilization": one["utilization_pct"],
            "active-now": sum(1 for w in all_workers if w["current_workstation_id"] == workstation
                              and w["state_at_end"] == "working"),
        }
        assert shown_cards["active"]["text"] == duration_text(one["occupancy_seconds"])
        assert page.locator("#summary-cards [data-card='idle']").is_hidden()
        assert page.locator("#summary-cards [data-card='unknown']").is_hidden()
    else:
        expected_cards = {
            "active": factory["total_active_seconds"],
            "idle": factory["total_idle_seconds"],
            "unknown": factory["total_unknown_seconds"],
            "units": factory["total_units"],
            "rate": factory["average_production_rate"],
            "utilization": factory["average_utilization_pct"],
            # Only a worker whose state at the window's end is working counts; no signal never does.
            "active-now": sum(1 for w in all_workers if w["state_at_end"] == "working"),
        }
    for name, value in expected_cards.items():
        assert float(shown_cards[name]["value"]) == value, name
    if "idle" in expected_cards:
        assert shown_cards["active"]["text"] == duration_text(expected_cards["active"])
        assert shown_cards["idle"]["text"] == duration_text(expected_cards["idle"])
        assert shown_cards["unknown"]["text"] == duration_text(expected_cards["unknown"])
        # As in the tables, a ratio with nothing to divide by is a dash.
        no_time = expected_cards["active"] + expected_cards["idle"] == 0
        assert shown_cards["utilization"]["text"] == ("—" if no_time else percent_text(expected_cards["utilization"]))
        assert shown_cards["rate"]["text"] == ("—" if expected_cards["active"] == 0
                                               else f"{decimal_text(expected_cards['rate'])} units/h")
    return factory


def url_params(page):
    return {key: values[0] for key, values in parse_qs(urlparse(page.url).query).items()}


STATE_TEXT = {"working": "Working", "idle": "Idle", "absent": "Absent", "unknown": "No signal"}


def worker_count(server):
    return len(server.get("/workers")["workers"])


def station_count(server):
    return len(server.get("/workstations")["workstations"])


def site_ids(server):
    return [s["site_id"] for s in server.get("/sites")["sites"]]


def factory_zone(server):
    """The zone the page writes times in without a site chosen: the calendar's, else the setting's."""
    status, calendar = server.request("GET", "/calendar")
    if status == 200 and calendar.get("time_zone"):
        return ZoneInfo(calendar["time_zone"])
    return ZoneInfo(server.get("/settings")["factory_tz"])


def offers(server, path):
    """Whether the server has the route `path` (GET answers anything but 404)."""
    return server.request("GET", path)[0] != 404


def parse_instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def shift_instances(server, start, end, site=None):
    """GET /metrics/shifts for [start, end] (datetimes), oldest first."""
    query = {"from": iso(start), "to": iso(end)}
    if site:
        query["site_id"] = site
    return server.get(f"/metrics/shifts?{urlencode(query)}")["shifts"]


def default_window(server, now):
    """The window the page opens on, as SPEC §8 and the README have it: `(from, to, planned)` of the
    running shifts (to = None: up to now) or else of each calendar's shift that ended last, looked
    for further back when a calendar near now or a site with shifts of its own has none lately;
    None (whole data) when the server has no shift calendar or no shift at all."""
    if not offers(server, "/metrics/shifts"):
        return None
    near = shift_instances(server, now - timedelta(hours=30), now + timedelta(hours=18))
    running = [i for i in near if i["status"] == "running"]
    if running:
        return min(parse_instant(i["start"]) for i in running), None, True
    calendars = {i["site_id"] for i in near} | {s["site_id"] for s in server.get("/sites")["sites"] if s.get("shifts")}
    previous = last_of_each_calendar(near)
    if not previous or len(previous) < len(calendars):
        previous = last_of_each_calendar(shift_instances(server, now - timedelta(days=8), now - timedelta(hours=30))
                                         + near)
    if not previous:
        return None
    return (min(parse_instant(i["start"]) for i in previous), max(parse_instant(i["end"]) for i in previous), True)


def last_of_each_calendar(instances):
    """Of each calendar's (each `site_id`'s) finished instances, the one that ended last."""
    last = {}
    for instance in sorted((i for i in instances if i["status"] == "done"), key=lambda i: parse_instant(i["end"])):
        last[instance["site_id"]] = instance
    return list(last.values())


def assert_default_view(page, server):
    """The page shows this shift (or the previous one when none runs), in planned time only."""
    query = page_query(page)
    expected = default_window(server, datetime.now(UTC))
    if expected is None:
        assert query == {}, query  # no shift calendar: the whole data
        expect(page.locator("#window-caption")).to_contain_text("the whole data instead")
        return
    start, end, _planned = expected
    assert query["planned_only"] == "true"
    assert parse_instant(query["from"]) == start
    if end is None:
        assert abs(parse_instant(query["to"]) - datetime.now(UTC)) < timedelta(minutes=2)
    else:
        assert parse_instant(query["to"]) == end


# ---------------------------------------------------------------- the seeded page

def test_seeded_page_opens_on_this_shift_with_the_numbers_the_api_gives(page, seeded):
    open_dashboard(page, seeded.base, QUIET)
    assert_default_view(page, seeded)
    expect(page.locator("#filter-range")).to_have_value("shift")
    assert "range" not in url_params(page)  # this shift is the default
    workers = seeded.get(f"/metrics/workers{api_query(page)}")["workers"]
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(len(workers))
    expect(page.locator("#workstation-table tbody tr[data-workstation-id]")).to_have_count(
        len(seeded.get(f"/metrics/workstations{api_query(page)}")["workstations"]))
    assert_figures_match_api(page, seeded)

    names = page.locator("#worker-table td[data-col='name'] .cell-name").all_inner_texts()
    assert names == [w["name"] for w in workers]
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
    timeline = seeded.get(f"/metrics/timeline{api_query(page)}")
    expect(page.locator("#timeline-chart .timeline-row")).to_have_count(len(timeline["workers"]))
    states = {i["state"] for w in timeline["workers"] for i in w["intervals"] if i["from"] != i["to"]}
    assert states
    for state in ("working", "idle", "absent", "unknown"):
        assert (page.locator(f"#timeline-chart .band-{state}").count() > 0) == (state in states), state
    expect(page.locator("#timeline-legend li")).to_have_text(["Working", "Idle", "Absent", "No signal"])
    buckets = seeded.get(f"/metrics/hourly{api_query(page)}")["buckets"]
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
    names = page.locator("#workstation-table td[data-col='name']").evaluate_all(
        "tds => tds.map(td => td.dataset.value)")
    assert names == sorted(names, key=str.lower)


# ---------------------------------------------------------------- filters and the URL

def worker_and_second_station(server):
    """A worker and a station it worked at besides its main one (or its only one), from the API:
    the timeline of the last two days, drawn from the events, names the stations."""
    since = iso(datetime.now(UTC) - timedelta(days=2))
    timeline = server.get(f"/metrics/timeline?from={since}")
    best = None
    for worker in timeline["workers"]:
        seconds = {}
        for interval in worker["intervals"]:
            if interval["state"] in ("working", "idle") and interval["workstation_id"]:
                seconds[interval["workstation_id"]] = seconds.get(interval["workstation_id"], 0) + interval["seconds"]
        if not seconds:
            continue
        ranked = sorted(seconds, key=seconds.get, reverse=True)
        if len(ranked) > 1:
            return worker["worker_id"], ranked[1], True
        best = best or (worker["worker_id"], ranked[0], False)
    return best


def test_worker_workstation_and_site_filters_change_the_figures_and_the_url(page, seeded):
    open_dashboard(page, seeded.base, QUIET + "&range=all")
    worker, station, elsewhere = worker_and_second_station(seeded)
    everyone = worker_count(seeded)

    page.select_option("#filter-worker", worker)
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(1)
    expect(page.locator("#worker-table tbody tr")).to_have_attribute("data-worker-id", worker)
    assert url_params(page)["worker"] == worker
    expect(page.locator("#timeline-chart .timeline-row")).to_have_count(1)
    expect(page.locator("#timeline-chart .timeline-row")).to_have_attribute("data-worker-id", worker)
    feed_workers = page.locator("#event-feed li[data-event-id]").evaluate_all("els => els.map(e => e.dataset.workerId)")
    assert feed_workers and set(feed_workers) == {worker}
    assert_figures_match_api(page, seeded, worker=worker)
    expect(page.locator("#summary-cards")).to_have_attribute("data-scope", "worker")

    all_bands = page.locator("#timeline-chart .band").count()
    page.select_option("#filter-workstation", station)  # where the worker helped for a while
    expect(page.locator("#workstation-table tbody tr[data-workstation-id]")).to_have_count(1)
    expect(page.locator("#event-feed li[data-event-id]").first).to_have_attribute("data-workstation-id", station)
    feed_stations = page.locator("#event-feed li[data-event-id]").evaluate_all(
        "els => els.map(e => e.dataset.workstationId)")
    assert set(feed_stations) == {station}
    bands = page.locator("#timeline-chart .band").count()
    assert 0 < bands < all_bands if elsewhere else 0 < bands <= all_bands
    assert url_params(page) == {"poll": "3600", "range": "all", "worker": worker, "workstation": station}

    # The workstation alone: the cards are the station's.
    page.select_option("#filter-worker", "")
    expect(page.locator("#summary-cards")).to_have_attribute("data-scope", "workstation")
    expect(page.locator("[data-card='active'] [data-label]")).to_have_text("Occupied time")
    assert_figures_match_api(page, seeded, workstation=station)

    page.locator("#filter-clear").click()
    expect(page.locator("#filter-range")).to_have_value("shift")
    page.wait_for_function("!new URLSearchParams(location.search).has('worker')")
    expect(page.locator("#summary-cards")).to_have_attribute("data-scope", "factory")
    expect(page.locator("[data-card='idle']")).to_be_visible()
    assert "worker" not in url_params(page) and "range" not in url_params(page)

    page.select_option("#filter-range", "all")
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(everyone)
    sites = {site: {w["worker_id"] for w in seeded.get(f"/metrics/workers?site_id={site}")["workers"]}
             for site in site_ids(seeded)}
    site = min(sites, key=lambda name: len(sites[name]))
    assert sites[site] and len(sites[site]) < everyone
    page.select_option("#filter-site", site)
    wait_for_query(page, site_id=site)
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(len(sites[site]))
    assert url_params(page)["site"] == site
    assert_figures_match_api(page, seeded)

    # The URL alone brings the same view back.
    page.reload()
    wait_until_ready(page)
    expect(page.locator("#filter-site")).to_have_value(site)
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(len(sites[site]))
    assert_figures_match_api(page, seeded)

    # Back goes to the view before.
    page.go_back()
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(everyone)
    expect(page.locator("#filter-site")).to_have_value("")


def test_custom_range_is_read_in_the_factory_time_zone_and_survives_a_reload(page, seeded):
    open_dashboard(page, seeded.base, QUIET + "&range=all")
    zone = factory_zone(seeded)
    window = seeded.get("/metrics/factory")["window"]
    start = parse_instant(window["from"]).replace(second=0)
    before = cards(page)
    first, last = start + timedelta(hours=2), start + timedelta(hours=4)
    local = lambda moment: moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")  # noqa: E731

    page.select_option("#filter-range", "custom")
    expect(page.locator("#filter-from")).to_be_visible()
    count = render_count(page)
    page.fill("#filter-from", local(first))
    wait_for_render_after(page, count)
    count = render_count(page)
    page.fill("#filter-to", local(last))
    wait_for_render_after(page, count)
    expected_from = first.strftime("%Y-%m-%dT%H:%M:00.000Z")
    expected_to = last.strftime("%Y-%m-%dT%H:%M:00.000Z")
    wait_for_query(page, **{"from": expected_from, "to": expected_to})
    factory = assert_figures_match_api(page, seeded)
    assert factory["total_active_seconds"] < float(before["active"]["value"])
    params = url_params(page)
    assert params["range"] == "custom"
    assert params["from"] == local(first)

    page.reload()
    wait_until_ready(page)
    expect(page.locator("#filter-range")).to_have_value("custom")
    expect(page.locator("#filter-from")).to_have_value(local(first))
    assert page_query(page) == {"from": expected_from, "to": expected_to}
    assert_figures_match_api(page, seeded)


def test_choosing_a_site_in_another_zone_keeps_a_custom_range_on_the_same_instants(page, seeded):
    zone = factory_zone(seeded)
    site = next(s for s in seeded.get("/sites")["sites"] if ZoneInfo(s["time_zone"]).key != zone.key)
    there = ZoneInfo(site["time_zone"])
    first = parse_instant(seeded.get("/metrics/factory")["window"]["from"]).replace(second=0) + timedelta(hours=2)
    last = first + timedelta(hours=3)
    local = lambda moment, tz: moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")  # noqa: E731
    view = urlencode({"range": "custom", "from": local(first, zone), "to": local(last, zone)})
    open_dashboard(page, seeded.base, f"{QUIET}&{view}")
    instants = {"from": first.strftime("%Y-%m-%dT%H:%M:00.000Z"), "to": last.strftime("%Y-%m-%dT%H:%M:00.000Z")}
    wait_for_query(page, **instants)

    page.select_option("#filter-site", site["site_id"])
    wait_for_query(page, **instants, site_id=site["site_id"])
    expect(page.locator("#filter-from")).to_have_value(local(first, there))
    expect(page.locator("#filter-to")).to_have_value(local(last, there))
    assert url_params(page)["from"] == local(first, there)


def test_today_and_last_8_hours_on_old_data_show_zeros(page, old_floor):
    open_dashboard(page, old_floor.base, QUIET)
    whole = cards(page)
    assert float(whole["units"]["value"]) > 0 and float(whole["active"]["value"]) > 0

    page.select_option("#filter-range", "last8h")
    expect(page.locator("[data-card='units'] .value")).to_have_attribute("data-value", "0")
    expect(page.locator("[data-card='active'] .value")).to_have_text(re.compile(r"^0\s*min$"))
    # Nobody at work in the window: no utilization, rather than 0 %.
    expect(page.locator("[data-card='utilization'] .value")).to_have_text("—")
    expect(page.locator("[data-card='utilization'] .card-note")).to_have_text("No working or idle time in this window")
    assert url_params(page)["range"] == "last8h"
    query = page_query(page)
    span = parse_instant(query["to"]) - parse_instant(query["from"])
    assert span == timedelta(hours=8)
    assert_figures_match_api(page, old_floor)
    assert all(float(row["cells"]["active_seconds"]["value"]) == 0
               for row in table_rows(page, "#worker-table", "data-worker-id"))

    page.select_option("#filter-range", "today")
    page.wait_for_function(
        "(new URLSearchParams(document.body.dataset.query).get('from') || '').endsWith('T00:00:00.000Z')")
    expect(page.locator("[data-card='units'] .value")).to_have_attribute("data-value", "0")
    assert url_params(page)["range"] == "today"
    assert page_query(page)["from"].endswith("T00:00:00.000Z")  # midnight in the factory's zone, UTC here

    page.select_option("#filter-range", "all")
    expect(page.locator("[data-card='units'] .value")).to_have_attribute("data-value", whole["units"]["value"])
    assert url_params(page)["range"] == "all"

    page.select_option("#filter-range", "last7d")
    page.wait_for_function("""(() => { const q = new URLSearchParams(document.body.dataset.query || '');
        return q.get('from') && Date.parse(q.get('to')) - Date.parse(q.get('from')) === 7 * 86400000; })()""")
    query = page_query(page)
    assert parse_instant(query["to"]) - parse_instant(query["from"]) == timedelta(days=7)
    assert_figures_match_api(page, old_floor)
    assert float(cards(page)["units"]["value"]) == float(whole["units"]["value"])  # two days ago is in the week

    # Without a shift calendar, the shift presets show the whole data and say why.
    page.select_option("#filter-range", "prevshift")
    expect(page.locator("#window-caption")).to_contain_text("the whole data instead")
    expect(page.locator("[data-card='units'] .value")).to_have_attribute("data-value", whole["units"]["value"])


def test_presets_follow_the_factory_time_zone(page, server_factory):
    server = server_factory(FACTORY_TZ="Asia/Kolkata")  # UTC+05:30, no daylight saving
    start = datetime.now(UTC).replace(microsecond=0, second=0) - timedelta(days=2)
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
    page.select_option("#filter-worker", remote.get("/workers")["workers"][0]["worker_id"])
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(1)
    assert url_params(page)["api"] == remote.base  # kept while the view changes
    page.locator("#reload-demo").click()
    expect(page.locator("#seed-token-hint")).to_contain_text(f"The token is sent to {remote.base}")
    page.locator("#seed-cancel").click()


# ---------------------------------------------------------------- live

def test_api_down_banner_appears_keeps_figures_and_clears_when_the_api_is_back(page, server_factory):
    server = server_factory()
    server.post("/seed")
    open_dashboard(page, server.base, "?poll=1&range=all")  # a window that does not move with the clock
    # It polls on its own.
    page.wait_for_function("Number(document.body.dataset.renderCount) >= 2")
    before = cards(page)
    banner = page.locator("#api-down-banner")
    expect(banner).to_be_hidden()

    server.stop()
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_have_attribute("role", "alert")
    expect(page.locator("#live-label")).to_have_text("Offline")
    # The last figures stay on screen while the API is away, named by the range they are of,
    # even when another range is picked meanwhile.
    assert cards(page) == before
    expect(page.locator("#worker-table tbody tr[data-worker-id]")).to_have_count(6)
    caption = page.locator("#window-caption")
    expect(caption).to_contain_text("Whole data")
    # Pick another range, noting how often the page had been drawn at that moment: the next draw
    # is that of the range picked, after its refresh failed.
    drawn = page.evaluate("""() => {
        const drawn = Number(document.body.dataset.drawCount);
        const select = document.getElementById('filter-range');
        select.value = 'last7d';
        select.dispatchEvent(new Event('change', {bubbles: true}));
        return drawn;
    }""")
    page.wait_for_function(f"Number(document.body.dataset.drawCount) > {drawn}")
    expect(caption).to_contain_text("Whole data")
    expect(caption).not_to_contain_text("Last 7 days")
    assert cards(page) == before
    count = render_count(page)

    server.start()  # the same port and database
    expect(banner).to_be_hidden(timeout=15_000)
    wait_for_render_after(page, count)
    expect(page.locator("#live-label")).to_have_text("Live")
    expect(caption).to_contain_text("Last 7 days")  # the range picked meanwhile, now with its figures


def test_board_offline_keeps_its_figures_and_says_from_when_in_the_zone_of_its_clock(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    server.post("/events", board_events(4, now))
    # The floor's calendar in a zone half an hour off any whole-hour one; the server's own is UTC.
    server.put("/calendar", {"time_zone": "Asia/Kolkata",
                             "shifts": [{"name": "Day", "start": "00:00", "end": "23:59"}]})
    open_dashboard(page, server.base, "?poll=1&view=board")
    server.stop()
    expect(page.locator("#board")).to_have_attribute("data-state", "down", timeout=15_000)
    # The clock and the tiles stay as the last figures drew them; the status names that instant
    # in the clock's zone.
    clock = page.locator("[data-board-clock]").inner_text()
    assert re.fullmatch(r"\d\d:\d\d", clock)
    expect(page.locator("[data-board-status]")).to_have_text(f"Offline · figures from {clock}")
    expect(page.locator("#board .tile")).to_have_count(4)


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
    server.post("/events", [{"timestamp": iso(datetime.now(UTC) - timedelta(hours=1)), "worker_id": "REAL-1",
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
    site = site_ids(seeded)[-1]
    open_dashboard(page, seeded.base, f"{QUIET}&range=all&site={site}")
    shown = table_rows(page, "#worker-table", "data-worker-id")
    assert 0 < len(shown) < worker_count(seeded)
    with page.expect_download() as info:
        page.locator("#export-workers").click()
    assert info.value.suggested_filename.startswith(f"workers_{site}_")
    assert info.value.suggested_filename.endswith(".csv")
    rows = read_download(info.value)
    assert [r["worker_id"] for r in rows] == [r["id"] for r in shown]
    assert list(rows[0]) == ["worker_id", "name", "state_at_end", "current_workstation_id", "active_seconds",
                             "idle_seconds", "absent_seconds", "unknown_seconds", "utilization_pct", "units",
                             "units_per_hour", "last_seen"]
    for row, screen in zip(rows, shown, strict=True):
        for field, cell in screen["cells"].items():
            assert row[field] == (cell["value"] or ""), field

    page.locator("#workstation-table th[data-col='units'] button").click()
    stations = table_rows(page, "#workstation-table", "data-workstation-id")
    with page.expect_download() as info:
        page.locator("#export-workstations").click()
    rows = read_download(info.value)
    assert [r["workstation_id"] for r in rows] == [s["id"] for s in stations]
    assert list(rows[0]) == ["workstation_id", "name", "occupancy_seconds", "utilization_pct", "units",
                             "throughput_per_hour", "target_units", "attainment_pct"]
    api = {s["workstation_id"]: s for s in seeded.get(f"/metrics/workstations?site_id={site}")["workstations"]}
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
    const attention = await import('/js/attention.js');
    const board = await import('/js/board.js');
    const plain = (text) => text.replace(/\\u00a0/g, ' ');
    const at = (text, zone) => new Date(time.parseLocalInput(text, zone)).toISOString();
    return {
        durations: [0, 10, 29, 30, 89, 90, 3569, 3570, 20880, 360000].map((s) => plain(fmt.duration(s))),
        percents: [0, 85.8, 100, 1234.5].map((v) => plain(fmt.percent(v))),
        fields: ['=1+2', '+1', '-1', '@SUM(A1)', '\\tx', 'a,b', 'say "hi"', 'plain', -5, 12.5, null].map(csv.csvField),
        berlinSummer: at('2026-07-01T08:00', 'Europe/Berlin'),
        berlinWinter: at('2026-01-15T08:00', 'Europe/Berlin'),
        // Clocks going back (02:30 happens twice) and forward (02:30 never happens), east and west of UTC.
        berlinTwice: at('2026-10-25T02:30', 'Europe/Berlin'),
        berlinNever: at('2026-03-29T02:30', 'Europe/Berlin'),
        newYorkTwice: at('2026-11-01T01:30', 'America/New_York'),
        newYorkNever: at('2026-03-08T02:30', 'America/New_York'),
        berlinDstMidnight: new Date(time.startOfDay(Date.parse('2026-03-29T12:00:00Z'), 'Europe/Berlin')).toISOString(),
        kolkataInput: time.toLocalInput(Date.parse('2026-01-15T06:00:00Z'), 'Asia/Kolkata'),
        badInput: time.parseLocalInput('2026-13-01T08:00', 'UTC'),
        reversed: time.rangeBounds('custom', 0, 'UTC', '2026-01-15T10:00', '2026-01-15T08:00').error || null,
        paces: [[100, 100], [97, 100], [94, 100], [106, 100], [0, 0.5], [5, null], [3, 0]].map(([u, t]) => {
            const p = fmt.pace(u, t);
            return [p.mark, p.diff, plain(p.text), plain(p.short)];
        }),
        states: ['working', 'idle', 'absent', 'unknown'].map(fmt.stateLabel),
        validZone: [time.isValidTimeZone('Europe/Berlin'), time.isValidTimeZone('Mars/Olympus')],
        alerts: [
            {kind: 'drift', subject: 'W-7', detail: {subject_kind: 'worker', name: 'Ana', reason: 'share fell'}},
            {kind: 'drift', subject: 'cam-2.4', detail: {subject_kind: 'model_version', reason: 'mean fell'}},
            {kind: 'pace_below', subject: 'S-1', detail: {subject_kind: 'workstation', name: 'Press', units: 3,
                                                          target_units: 20.4, pace_pct: 14.71}},
        ].map((a) => {
            const text = attention.alertText({...a, opened_at: '2026-01-15T10:00:00Z'}, new Map(),
                                             Date.parse('2026-01-15T10:30:00Z'), 'UTC');
            return [text.title, plain(text.detail)];
        }),
        // One unit of width a character: a last word that tells stations apart is kept.
        names: [['Packaging & palletising 12', 30], ['Packaging & palletising 12', 12], ['Robot B', 7],
                ['Spot welding robot B', 9], ['Quality check', 8], ['Cutting cell 3A', 9], ['Packaging 12', 4],
                ['Mouldingline', 5]].map(([name, width]) => board.keepLastWord(name, width, (t) => t.length)),
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
    # A wall time the clocks pass twice is the first; one they skip takes the offset before the
    # change, as shift times do (SPEC §5, calendars).
    assert [result[key] for key in ("berlinTwice", "berlinNever", "newYorkTwice", "newYorkNever")] == [
        "2026-10-25T00:30:00.000Z", "2026-03-29T01:30:00.000Z", "2026-11-01T05:30:00.000Z", "2026-03-08T07:30:00.000Z"]
    assert result["berlinDstMidnight"] == "2026-03-28T23:00:00.000Z"  # the night the clocks go forward
    assert result["kolkataInput"] == "2026-01-15T11:30"
    assert result["badInput"] is None
    assert result["reversed"]
    # Within 5 % of the target (at least one unit) is on pace; beyond it, ahead or behind by whole
    # units; a target of 0 (nothing planned yet) sets no pace.
    assert result["paces"] == [["on", 0, "On pace", "On pace"], ["on", -3, "On pace (−3 units)", "On pace"],
                               ["behind", -6, "Behind by 6 units", "6 behind"],
                               ["ahead", 6, "Ahead by 6 units", "6 ahead"],
                               ["on", 0, "On pace", "On pace"], [None, None, "No target", "No target"],
                               [None, None, "Nothing due", "Nothing due"]]
    assert result["states"] == ["Working", "Idle", "Absent", "No signal"]
    assert result["validZone"] == [True, False]
    # An alert names its subject (by the alert's own name when the page does not know it) and what
    # it found; drift about a worker is their working mix, not the camera's.
    assert result["alerts"] == [
        ["Working mix shifted: Ana", "open since 10:00 (30 min) · share fell"],
        ["Camera drift: cam-2.4", "open since 10:00 (30 min) · mean fell"],
        ["Below pace: Press", "open since 10:00 (30 min) · 3 of 20 units in the last hour of planned time"]]
    # A station name too long for its tile keeps a last word that tells stations apart (a number,
    # a code of a letter or two); a name that fits, one that ends in a plain word, or a tile too
    # narrow for it is left to "…".
    assert result["names"] == [None, "Packagin… 12", None, "Spot w… B", None, "Cutti… 3A", None, None]


AXIS_JS = """async () => {
    const axis = await import('/js/axis.js');
    const HOUR = 3600e3, DAY = 24 * HOUR;
    const start = Date.parse('2026-03-20T05:17:00Z');  // across the spring-forward night in Berlin
    const spans = [HOUR, 3 * HOUR, 8 * HOUR, DAY, 2 * DAY, 7 * DAY, 31 * DAY, 92 * DAY, 365 * DAY, 3 * 365 * DAY];
    const problems = [];
    let checked = 0;
    for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) {
        for (const span of spans) {
            for (const plot of [180, 260, 400, 640, 900, 1400, 2400, 3600]) {
                const x = (ms) => 40 + ((ms - start) / span) * plot;
                const ticks = axis.timeTicks({ from: start, to: start + span, timeZone: zone, x, minX: 0,
                                               maxX: plot + 60 });
                const where = [zone, span / HOUR, plot];
                checked += 1;
                if (ticks.length < (plot >= 260 ? 2 : 1)) problems.push(['too few', ...where, ticks.length]);
                for (let i = 1; i < ticks.length; i += 1) {
                    const a = ticks[i - 1], b = ticks[i];
                    const touching = a.labelX + a.width / 2 > b.labelX - b.width / 2;
                    if (touching) problems.push(['overlap', ...where, a.label, b.label]);
                    if (!(b.ms > a.ms)) problems.push(['order', ...where, a.label, b.label]);
                }
                for (const t of ticks) {
                    const left = t.labelX - t.width / 2, right = t.labelX + t.width / 2;
                    if (left < -0.5 || right > plot + 60.5) problems.push(['outside', ...where, t.label]);
                }
            }
        }
    }
    const day = Date.parse('2026-01-15T06:00:00Z');
    const hourly = axis.timeTicks({ from: day, to: day + 8 * HOUR, timeZone: 'UTC', x: (ms) => (ms - day) / 36e3,
                                    minX: 0, maxX: 800 }).map((t) => t.label);
    const jan = Date.parse('2026-01-01T00:00:00Z');
    const year = axis.timeTicks({ from: jan, to: jan + 365 * DAY, timeZone: 'UTC',
                                  x: (ms) => (ms - jan) / (365 * DAY) * 1200, minX: 0, maxX: 1200 });
    const nice = [38, 92, 7, 1, 0, 1234, 100].map((max) => axis.niceTicks(max, 5, { integer: true }).ticks);
    return { problems, checked, hourly, year, nice };
}"""


def test_time_axis_labels_never_overlap_from_an_hour_to_years_and_value_ticks_are_round(page, seeded):
    page.goto(f"{seeded.base}/{QUIET}")
    result = page.evaluate(AXIS_JS)
    assert result["checked"] == 4 * 10 * 8
    assert result["problems"] == []
    assert result["hourly"] == [f"{h:02d}:00" for h in range(6, 15)]
    year = [tick["label"] for tick in result["year"]]
    assert year[0] == "Jan 2026" and "Jul" in year and year[-1] == "Jan 2027"
    assert result["nice"] == [[0, 10, 20, 30, 40], [0, 20, 40, 60, 80, 100], [0, 2, 4, 6, 8], [0, 1], [0, 1],
                              [0, 500, 1000, 1500], [0, 20, 40, 60, 80, 100]]


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
            document.addEventListener('securitypolicyviolation',
                (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));""")
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


LAYOUT_JS = """() => {
    const root = document.documentElement;
    const boxes = (selector) => [...document.querySelectorAll(selector)].map((el) => el.getBoundingClientRect());
    const overlaps = [];
    for (const chart of document.querySelectorAll('.chart svg')) {
        const labels = [...chart.querySelectorAll('.tick-label')]
            .map((el) => ({ text: el.textContent, box: el.getBoundingClientRect() }));
        for (let i = 0; i < labels.length; i += 1) {
            for (let j = i + 1; j < labels.length; j += 1) {
                const a = labels[i].box, b = labels[j].box;
                const apart = a.right - 0.5 <= b.left || b.right - 0.5 <= a.left
                    || a.bottom - 0.5 <= b.top || b.bottom - 0.5 <= a.top;
                if (!apart) {
                    overlaps.push([chart.closest('.chart').id, labels[i].text, labels[j].text]);
                }
            }
        }
    }
    const parts = '.card, .panel, .toolbar, .attention-item, .shift-station, .data-table tbody tr';
    const widest = Math.max(...boxes(parts).map((b) => b.right));
    return {
        scroll: [root.scrollWidth, root.clientWidth, document.body.scrollWidth],
        widest,
        overlaps,
        labels: document.querySelectorAll('.chart svg .tick-label').length,
        tableScroll: [...document.querySelectorAll('.table-scroll')].map((box) => [box.scrollWidth, box.clientWidth]),
        rowsAsLists: [...document.querySelectorAll('#worker-table tbody tr')].map((tr) => getComputedStyle(tr).display),
        // A state badge drawn past its cell (its words run out of the pill).
        spilledBadges: [...document.querySelectorAll('.data-table td .badge')]
            .filter((badge) => badge.scrollWidth > badge.clientWidth + 0.5
                || badge.getBoundingClientRect().right > badge.closest('td').getBoundingClientRect().right + 0.5)
            .map((badge) => badge.textContent),
    };
}"""


@pytest.mark.parametrize("width,height", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
def test_page_fits_the_width_and_axis_labels_never_overlap(browser, seeded, width, height):
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=width < 600,
                                  has_touch=width < 600, bypass_csp=True)
    page = context.new_page()
    try:
        for query in ("", "&range=last7d", "&range=last8h"):
            open_dashboard(page, seeded.base, QUIET + query)
            expect(page.locator("#timeline-chart svg")).to_be_visible()
            layout = page.evaluate(LAYOUT_JS)
            assert layout["scroll"][0] <= layout["scroll"][1], (query, layout["scroll"])  # no sideways scroll
            assert layout["scroll"][2] <= layout["scroll"][1], (query, layout["scroll"])
            assert layout["widest"] <= width, (query, layout["widest"])
            assert layout["labels"] > 0
            assert layout["overlaps"] == [], query
            if width < 600:
                # Tables are lists: every row a block of labelled figures, nothing to scroll sideways.
                assert set(layout["rowsAsLists"]) == {"grid"}, layout["rowsAsLists"]
                assert all(scroll <= client for scroll, client in layout["tableScroll"]), layout["tableScroll"]
            assert layout["spilledBadges"] == [], (query, layout["spilledBadges"])
        # Needs attention comes first, then this shift, then the rest.
        order = page.evaluate("""[...document.querySelectorAll(
                '#attention, #shift-now, .toolbar, #summary-cards, #timeline-chart')]
            .map((el) => [el.id || el.className, el.getBoundingClientRect().top])""")
        tops = [top for _name, top in order]
        assert tops[0] == min(tops), order
    finally:
        context.close()


def board_events(stations, now):
    """`stations` workers each at their own station, heartbeats every 2 minutes for an hour up to
    `now`: most working, one idle for 20 minutes, one camera silent for 40 minutes."""
    events = []
    for number in range(stations):
        worker, station = f"W-{number + 1:02d}", f"WS-{number + 1:02d}"
        for minute in range(60, -1, -2):
            at = now - timedelta(minutes=minute)
            if number == 1 and minute < 40:
                break  # the camera went silent
            state = "idle" if number == 2 and minute <= 20 else "working"
            events.append({"timestamp": iso(at), "worker_id": worker, "workstation_id": station,
                           "event_type": state, "site_id": "hall-1", "event_id": f"b-{worker}-{minute}"})
            if state == "working" and minute % 6 == 0:
                events.append({"timestamp": iso(at), "worker_id": worker, "workstation_id": station,
                               "event_type": "product_count", "count": 1, "site_id": "hall-1",
                               "event_id": f"b-{worker}-u{minute}"})
    return events


# Names as a real floor has them: some long, some not Latin, one person more at a few stations.
BOARD_STATION_NAMES = ["Final assembly cell 3 (left)", "Packaging & palletising 12", "Injection moulding 2",
                       "Spot welding robot B", "Powder coating booth", "End-of-line audit", "Label & ship"]
BOARD_WORKER_NAMES = ["Anna-Lena Schmidt-Hoffmann", "Maria José García Fernández", "Guðrún Jónsdóttir",
                      "Oleksandr Shevchenko", "Nguyễn Văn An", "Zoë Van der Berg"]


@pytest.fixture(scope="module")
def floor_of_30(tmp_path_factory):
    """A server with 30 stations staffed for the last hour, up to the moment it starts, as a
    crowded board shows them: long names, targets, a shift under way, a station left empty, two
    or four people at some stations and the open alerts of the rules of SPEC §9."""
    server = Server(tmp_path_factory.mktemp("thirty")).start()
    now = datetime.now(UTC).replace(microsecond=0)
    events = board_events(30, now)
    for number, station in ((40, "WS-05"), (41, "WS-11"), (42, "WS-07"), (43, "WS-07"), (44, "WS-07")):
        events += [{"timestamp": iso(now - timedelta(minutes=minute)), "worker_id": f"W-{number}",
                    "workstation_id": station, "event_type": "working", "site_id": "hall-1"}
                   for minute in range(30, -1, -3)]
    left = iso(now - timedelta(minutes=50))  # W-04 left WS-04 50 minutes ago
    events = [e for e in events if e["worker_id"] != "W-04" or e["timestamp"] < left]
    events += [{"timestamp": left, "worker_id": "W-04", "workstation_id": "WS-04", "event_type": "absent",
                "site_id": "hall-1"}]
    for first in range(0, len(events), 500):
        server.post("/events", events[first:first + 500])
    for number in range(1, 31):
        name = BOARD_STATION_NAMES[number % len(BOARD_STATION_NAMES)] + f" {number}"
        server.put(f"/workstations/WS-{number:02d}",
            {"name": name, "site_id": "hall-1", "target_units_per_hour": None if number % 6 == 0 else 40})
    for number in (*range(1, 31), 40, 41, 42, 43, 44):
        server.put(f"/workers/W-{number:02d}", {"name": BOARD_WORKER_NAMES[number % len(BOARD_WORKER_NAMES)]})
    server.put("/calendar", calendar_around(now)[0])
    open_alerts(server, [{"id": "idle-long", "kind": "worker_idle", "minutes": 10},
                         {"id": "empty", "kind": "station_unstaffed", "minutes": 15},
                         {"id": "silent", "kind": "no_signal", "minutes": 15},
                         {"id": "slow", "kind": "pace_below", "percent": 80}])
    yield server
    server.stop()


def open_alerts(server, rules):
    """Set the alert `rules` and evaluate them once, as the notifier does, on the server's database:
    the alerts whose conditions hold now open."""
    server.put("/alerts/rules", {"rules": rules, "webhooks": []})
    app = create_app({"DATABASE_PATH": server.database_path, "ROLLUP_KEEPER": False})
    notifier = notify.Notifier(app.config, notify.settings())
    try:
        assert notifier.evaluate()
    finally:
        notifier.close()


BOARD_JS = """() => {
    const root = document.documentElement;
    // Text wider than its box that does not end in an ellipsis (drawn only by a block box).
    const cutShort = (node) => {
        const style = getComputedStyle(node);
        return node.scrollWidth > node.clientWidth + 0.5
            && !(style.textOverflow === 'ellipsis' && ['block', 'list-item'].includes(style.display));
    };
    const tiles = [...document.querySelectorAll('#board .tile')];
    const outside = [];
    const spilled = [];
    for (const tile of tiles) {
        const box = tile.getBoundingClientRect();
        const id = tile.dataset.workstationId;
        const inside = box.left >= 0 && box.top >= 0
            && box.right <= innerWidth + 0.5 && box.bottom <= innerHeight + 0.5;
        if (!inside) outside.push(id);
        const parts = '.tile-head, .tile-person, .tile-empty, .tile-count, .tile-pace, .tile-alert';
        for (const part of tile.querySelectorAll(parts)) {
            const inner = part.getBoundingClientRect();
            const out = inner.right > box.right + 0.5 || inner.bottom > box.bottom + 0.5 || inner.left < box.left - 0.5;
            // Squeezed: a part shorter than its own line of type.
            const squeezed = inner.height < 0.9 * parseFloat(getComputedStyle(part).fontSize);
            if (out || squeezed) spilled.push([id, part.className, Math.round(inner.height)]);
        }
        // Text cut short ends in an ellipsis, never mid-word; figures are never cut short at all.
        const texts = '.tile-name, .person-name, .tile-alert-text, .empty-what';
        for (const text of tile.querySelectorAll(texts)) {
            if (cutShort(text)) spilled.push([id, text.className, 'cut']);
        }
        for (const figure of tile.querySelectorAll('.tile-count, .pace-text, .person-time')) {
            if (figure.scrollWidth > figure.clientWidth + 0.5) spilled.push([id, figure.className, 'figure cut']);
        }
    }
    // The alert bar's line, too.
    const bar = document.querySelector('[data-board-alerts] ul');
    if (bar && cutShort(bar)) spilled.push(['alerts', 'board-alerts', 'cut']);
    const size = (tile, part) => parseFloat(getComputedStyle(tile.querySelector(part)).fontSize);
    const sizes = tiles.map((t) => size(t, '.tile-actual'));
    return {
        scroll: [root.scrollWidth, root.clientWidth, root.scrollHeight, root.clientHeight],
        tiles: tiles.length, outside, spilled,
        smallestFigure: Math.min(...sizes),
        smallestName: Math.min(...tiles.map((t) => size(t, '.tile-name'))),
        names: tiles.map((t) => {
            const name = t.querySelector('.tile-name');
            return [name.title, name.textContent, name.scrollWidth <= name.clientWidth + 0.5];
        }),
        states: Object.fromEntries(tiles.map((t) => [t.dataset.workstationId, t.dataset.state])),
        controls: document.querySelectorAll('#board button, #board select, #board input').length,
    };
}"""


@contextmanager
def board_page(browser, server, width, height, tiles):
    """`server`'s board on a `width` x `height` screen once its `tiles` are drawn: `(page, what
    BOARD_JS finds there)`."""
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    try:
        page = context.new_page()
        open_dashboard(page, server.base, QUIET + "&view=board")
        expect(page.locator("#board .tile")).to_have_count(tiles)
        yield page, page.evaluate(BOARD_JS)
    finally:
        context.close()


@pytest.mark.parametrize("width,height", BOARD_VIEWPORTS, ids=[f"{w}x{h}" for w, h in BOARD_VIEWPORTS])
def test_board_shows_30_stations_without_scrolling(browser, floor_of_30, width, height):
    with board_page(browser, floor_of_30, width, height, 30) as (page, board):
        expect(page.locator("#main")).to_be_hidden()
        assert board["scroll"][0] <= board["scroll"][1] and board["scroll"][2] <= board["scroll"][3], board["scroll"]
        assert board["outside"] == [] and board["spilled"] == [], board
        # The crowded parts are there: alerts on tiles, two people, four people as one and "+3 more".
        assert page.locator("#board .tile.has-alert").count() >= 3
        expect(page.locator("#board .tile[data-workstation-id='WS-05'] .tile-person")).to_have_count(2)
        crowded = page.locator("#board .tile[data-workstation-id='WS-07'] .tile-person")
        expect(crowded).to_have_count(2)
        expect(crowded.nth(1)).to_have_text("+3 more")
        empty = page.locator("#board .tile[data-workstation-id='WS-04']")
        expect(empty).to_have_attribute("data-state", "unstaffed")
        # Of its three alerts (the worker gone silent, the station unstaffed, below pace) the tile
        # names the most urgent.
        expect(empty.locator(".tile-alert-text")).to_have_text(re.compile(r"^No signal: .+ \(\+2\)$"))
        expect(empty.locator(".tile-empty")).to_have_text(re.compile(r"^Nobody here for\s*5[01]\s*min$"))
        assert board["controls"] == 0  # nothing to press on a wall screen
        # Type scales with the screen: the units figure is at least 2.4 % of the screen's height.
        assert board["smallestFigure"] >= 0.024 * height, board["smallestFigure"]
        assert board["smallestName"] >= 0.014 * height, board["smallestName"]
        # Every station can be told apart: its name is shown whole or keeps its number at the end.
        for whole, shown, fits in board["names"]:
            start, _, number = shown.rpartition("… ")
            kept = shown == whole or (whole.startswith(start) and whole.endswith(f" {number}"))
            assert fits and kept, (whole, shown)
        workers = {w["worker_id"]: w for w in floor_of_30.get("/metrics/workers")["workers"]}
        assert workers["W-02"]["state_at_end"] == "unknown" and workers["W-03"]["state_at_end"] == "idle"
        assert board["states"]["WS-01"] == "working"
        assert board["states"]["WS-02"] == "unknown"  # no signal, never working
        assert board["states"]["WS-03"] == "idle"
        expect(page.locator("#board .tile[data-workstation-id='WS-02'] .tile-state")).to_have_text("No signal")
        idle = page.locator("#board .tile[data-workstation-id='WS-03'] .person-time")
        expect(idle).to_have_text(re.compile(r"^2\d\s*min$"))


@pytest.fixture(scope="module")
def six_stations(tmp_path_factory):
    """A server with six stations in a running shift, whose tiles hold long lines at large type:
    one station empty for nearly three hours, one with hundreds of units far behind its target."""
    server = Server(tmp_path_factory.mktemp("six")).start()
    now = datetime.now(UTC).replace(microsecond=0)
    events = [e for e in board_events(6, now) if e["worker_id"] != "W-04"]
    events.append({"timestamp": iso(now - timedelta(hours=3)), "worker_id": "W-04", "workstation_id": "WS-04",
                   "event_type": "absent", "site_id": "hall-1"})
    events += [{"timestamp": iso(now - timedelta(minutes=minute, seconds=30)), "worker_id": "W-05",
                "workstation_id": "WS-05", "event_type": "product_count", "count": 3, "site_id": "hall-1"}
               for minute in range(120)]
    server.post("/events", events)
    begin = now - timedelta(hours=2, minutes=47)  # the shift began 2 h 47 min ago, nobody at WS-04 since
    server.put("/calendar", {"time_zone": "UTC", "shifts": [
        {"name": "Now", "start": f"{begin:%H:%M}", "end": f"{now + timedelta(hours=5):%H:%M}"}]})
    for number in range(1, 7):
        server.put(f"/workstations/WS-{number:02d}", {"name": f"Station {number}", "site_id": "hall-1",
                                                      "target_units_per_hour": 400 if number == 5 else 40})
    yield server
    server.stop()


@pytest.mark.parametrize("width,height", BOARD_VIEWPORTS, ids=[f"{w}x{h}" for w, h in BOARD_VIEWPORTS])
def test_board_figures_are_never_cut_short_at_large_type(browser, six_stations, width, height):
    with board_page(browser, six_stations, width, height, 6) as (page, board):
        assert board["outside"] == [] and board["spilled"] == [], board
        expect(page.locator("#board .tile[data-workstation-id='WS-04'] .tile-empty .person-time")).to_have_text(
            re.compile(r"^2\s*h\s*4[6-8]\s*min$"))
        expect(page.locator("#board .tile[data-workstation-id='WS-05'] .pace-text")).to_have_text(
            re.compile(r"^\d{3}\s*behind$"))


def test_a_sites_board_shows_its_own_alerts_and_the_page_what_an_alert_found(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for site, worker, station in (("north", "W-N", "S-N"), ("south", "W-S", "S-S")):
        events += [{"timestamp": iso(now - timedelta(minutes=minute)), "worker_id": worker, "workstation_id": station,
                    "event_type": "idle", "site_id": site} for minute in range(40, -1, -4)]
    server.post("/events", events)
    server.put("/calendar", calendar_around(now)[0])
    server.put("/workstations/S-N", {"name": "Press N", "site_id": "north", "target_units_per_hour": 60})
    open_alerts(server, [{"id": "idle-long", "kind": "worker_idle", "minutes": 10},
                         {"id": "slow", "kind": "pace_below", "percent": 80}])
    assert {(a["kind"], a["subject"]) for a in server.get("/alerts")["alerts"]} == {
        ("worker_idle", "W-N"), ("worker_idle", "W-S"), ("pace_below", "S-N")}

    open_dashboard(page, server.base, "?view=board&site=north")
    bar = page.locator("[data-board-alerts] li")
    expect(bar).to_have_count(2)  # the south worker's alert is not this board's
    assert sorted(bar.evaluate_all("els => els.map(e => e.dataset.subject)")) == ["S-N", "W-N"]
    expect(bar.first).to_have_attribute("data-subject", "W-N")  # idle before pace

    open_dashboard(page, server.base, QUIET)
    pace = page.locator("#attention .attention-item[data-kind='alert'][data-subject='S-N'] .attention-detail")
    expect(pace).to_contain_text("0 of 60 units in the last hour of planned time")


def test_board_refreshes_by_itself(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    server.post("/events", board_events(4, now))
    open_dashboard(page, server.base, "?poll=1&view=board")
    expect(page.locator("#board .tile")).to_have_count(4)
    server.post("/events", [{"timestamp": iso(datetime.now(UTC)), "worker_id": "W-09", "workstation_id": "WS-09",
                             "event_type": "working", "site_id": "hall-1"}])
    expect(page.locator("#board .tile")).to_have_count(5)  # a new station appears with no one touching the page
    expect(page.locator("#board .tile[data-workstation-id='WS-09']")).to_have_attribute("data-state", "working")


def open_beside_a_silent_camera(page, server_factory, silent_worker, silent_events):
    """A floor of W-LIVE working at S-1 every 5 minutes up to now and `silent_worker` at S-2, whose
    camera sent only `(minutes ago, state)` events; the page open on the last 8 hours. Returns the
    server and the workers' figures by id."""
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    events = [{"timestamp": iso(now - timedelta(minutes=m)), "worker_id": "W-LIVE", "workstation_id": "S-1",
               "event_type": "working", "site_id": "hall-1"} for m in range(90, -1, -5)]
    events += [{"timestamp": iso(now - timedelta(minutes=m)), "worker_id": silent_worker, "workstation_id": "S-2",
                "event_type": state, "site_id": "hall-1"} for m, state in silent_events]
    server.post("/events", events)
    open_dashboard(page, server.base, QUIET + "&range=last8h")
    return server, {w["worker_id"]: w for w in server.get(f"/metrics/workers{api_query(page)}")["workers"]}


def test_no_signal_is_shown_as_such_never_as_working(page, server_factory):
    # A camera that sent "working" an hour ago and nothing since: past the 15-minute horizon.
    server, workers = open_beside_a_silent_camera(page, server_factory, "W-GONE",
                                                  [(m, "working") for m in (90, 80, 70, 60)])
    assert workers["W-GONE"]["state_at_end"] == "unknown" and workers["W-GONE"]["last_state"] == "working"
    assert workers["W-GONE"]["unknown_seconds"] > 0

    expect(page.locator("[data-card='active-now'] .value")).to_have_attribute("data-value", "1")
    gone = page.locator("#worker-table tr[data-worker-id='W-GONE'] td[data-col='state_at_end']")
    expect(gone).to_have_text("No signal")
    assert page.locator("#timeline-chart .timeline-row[data-worker-id='W-GONE'] .band-unknown").count() >= 1
    assert page.locator("#timeline-chart .timeline-row[data-worker-id='W-LIVE'] .band-unknown").count() == 0
    factory = server.get(f"/metrics/factory{api_query(page)}")["factory"]
    assert float(cards(page)["unknown"]["value"]) == factory["total_unknown_seconds"]
    item = page.locator("#attention .attention-item[data-kind='unknown']")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-subject", "W-GONE")
    expect(item).to_contain_text("no signal for")
    expect(page.locator("#attention [data-state='working']")).to_have_text("1 working")
    expect(page.locator("#attention [data-state='unknown']")).to_have_text("1 no signal")
    assert_figures_match_api(page, server)

    page.goto(f"{server.base}/{QUIET}&view=board")
    wait_until_ready(page)
    expect(page.locator("#board .tile[data-workstation-id='S-2']")).to_have_attribute("data-state", "unknown")
    expect(page.locator("#board .tile[data-workstation-id='S-1']")).to_have_attribute("data-state", "working")


def test_all_clear_still_counts_a_silent_camera_it_leaves_off_the_list(page, server_factory):
    # Seen leaving an hour ago, and the camera silent since: no signal, but nobody to look for.
    server, workers = open_beside_a_silent_camera(page, server_factory, "W-LEFT", [(90, "working"), (60, "absent")])
    assert workers["W-LEFT"]["state_at_end"] == "unknown" and workers["W-LEFT"]["last_state"] == "absent"

    expect(page.locator("#attention [data-state='unknown']")).to_have_text("1 no signal")
    expect(page.locator("#attention .attention-item")).to_have_count(0)
    clear = page.locator("#attention .attention-empty.is-clear")
    expect(clear).to_contain_text("1 camera silent where nobody was at work lately")
    expect(clear).not_to_contain_text("every camera heard from")
    # On the board the station stands empty: its worker was seen leaving, not there unheard.
    page.goto(f"{server.base}/{QUIET}&view=board")
    wait_until_ready(page)
    left = page.locator("#board .tile[data-workstation-id='S-2']")
    expect(left).to_have_attribute("data-state", "empty")
    expect(left.locator(".tile-person")).to_have_count(0)


def test_attention_lists_the_idle_longest_first(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for worker, station, idle_since in (("W-1", "S-1", 12), ("W-2", "S-2", 35), ("W-3", "S-3", None)):
        for minute in range(60, -1, -3):
            state = "idle" if idle_since is not None and minute <= idle_since else "working"
            events.append({"timestamp": iso(now - timedelta(minutes=minute)), "worker_id": worker,
                           "workstation_id": station, "event_type": state, "site_id": "hall-1"})
    server.post("/events", events)
    open_dashboard(page, server.base, QUIET + "&range=last8h")
    items = page.locator("#attention .attention-item")
    expect(items).to_have_count(2)
    shown = items.evaluate_all("els => els.map(e => [e.dataset.kind, e.dataset.subject])")
    assert shown == [["idle", "W-2"], ["idle", "W-1"]]
    expect(items.first).to_contain_text(re.compile(r"W-2 idle for 3\d\s*min"))
    expect(page.locator("#attention")).to_have_attribute("data-count", "2")


def test_in_a_break_the_attention_list_keeps_a_silent_camera_and_a_station_empty_before_it(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    calendar, begin = calendar_around(now)
    pause = now.replace(second=0) - timedelta(minutes=5)  # a break under way, 20 minutes long
    calendar["shifts"][0]["breaks"] = [{"start": pause.strftime("%H:%M"),
                                        "end": (pause + timedelta(minutes=20)).strftime("%H:%M")}]
    put_or_skip(server, "/calendar", calendar)
    events = [{"timestamp": iso(now - timedelta(hours=3)), "worker_id": "W-2", "workstation_id": "S-2",
               "event_type": "product_count", "count": 1, "site_id": "hall-1"}]  # nobody at S-2 all shift
    for minute in range(60, 39, -3):  # W-3's camera fell silent 40 minutes ago
        events.append({"timestamp": iso(now - timedelta(minutes=minute)), "worker_id": "W-3",
                       "workstation_id": "S-3", "event_type": "working", "site_id": "hall-1"})
    for minute in range(60, -1, -3):  # W-1 worked up to the break, then went on it
        state = "working" if now - timedelta(minutes=minute) < pause else "absent"
        events.append({"timestamp": iso(now - timedelta(minutes=minute)), "worker_id": "W-1",
                       "workstation_id": "S-1", "event_type": state, "site_id": "hall-1"})
    server.post("/events", events)
    open_dashboard(page, server.base, QUIET)
    items = page.locator("#attention .attention-item")
    expect(items).to_have_count(2)
    assert items.evaluate_all("els => els.map(e => [e.dataset.kind, e.dataset.subject])") == [
        ["unknown", "W-3"], ["unstaffed", "S-2"]]
    # Unstaffed for the planned time of the shift so far: its break is not counted.
    planned = duration_text((pause - begin).total_seconds())
    title = re.compile(rf"^S-2 unstaffed for {planned}$".replace(" ", r"\s"))
    expect(items.nth(1).locator(".attention-title")).to_have_text(title)
    resumes = pause + timedelta(minutes=20)
    expect(items.nth(1).locator(".attention-detail")).to_contain_text(f"break until {resumes:%H:%M}")


def test_short_stops_stay_visible_over_a_week(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0, second=0)
    start = now - timedelta(days=6)
    events = [{"timestamp": iso(start + timedelta(minutes=m)), "worker_id": "W-1", "workstation_id": "S-1",
               "event_type": "working", "site_id": "hall-1"} for m in range(0, 6 * 24 * 60, 10)]
    # Idle for at most 10 minutes (up to the next working event), in six days: 3 minutes past a UTC
    # noon, so the spell lies in one of the chart's slots whatever their size (whole hours
    # dividing 12, aligned to UTC), never split across two of them.
    idle_at = (now - timedelta(days=3)).replace(hour=12, minute=3)
    events.append({"timestamp": iso(idle_at), "worker_id": "W-1", "workstation_id": "S-1",
                   "event_type": "idle", "site_id": "hall-1"})
    server.post("/events", events)
    open_dashboard(page, server.base, QUIET + "&range=last7d")
    band = page.locator("#timeline-chart .band-idle")
    expect(band).to_have_count(1)
    minimum = page.evaluate(
        "parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--band-min-width'))")
    assert minimum >= 2
    assert float(band.get_attribute("width")) >= minimum  # 7 minutes of a week is under a pixel, drawn wider


def put_or_skip(server, path, body):
    """PUT `body` to `path`; skip the test when the server has no such route yet."""
    status, answer = server.request("PUT", path, body)
    if status in (404, 405):
        pytest.skip(f"the server has no PUT {path}")
    assert status == 200, (path, status, answer)
    return answer


def calendar_around(now):
    """A factory calendar in UTC with a shift running now (begun 2 h ago) and one before it."""
    begin = (now - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    end = begin + timedelta(hours=8)
    previous = begin - timedelta(hours=8)
    hhmm = lambda moment: moment.strftime("%H:%M")  # noqa: E731
    return {"time_zone": "UTC", "shifts": [
        {"name": "Now", "start": hhmm(begin), "end": hhmm(end)},
        {"name": "Before", "start": hhmm(previous), "end": hhmm(begin)},
    ]}, begin


@pytest.fixture
def shift_floor(server_factory):
    """Two stations in a running shift with targets: S-FAST keeps pace, S-SLOW makes nothing."""
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    calendar, begin = calendar_around(now)
    put_or_skip(server, "/calendar", calendar)
    events = []
    minute = 0
    while begin + timedelta(minutes=minute) < now:
        at = begin + timedelta(minutes=minute)
        for worker, station in (("W-FAST", "S-FAST"), ("W-SLOW", "S-SLOW")):
            events.append({"timestamp": iso(at), "worker_id": worker, "workstation_id": station,
                           "event_type": "working" if station == "S-FAST" else "idle", "site_id": "hall-1"})
        events.append({"timestamp": iso(at), "worker_id": "W-FAST", "workstation_id": "S-FAST",
                       "event_type": "product_count", "count": 1, "site_id": "hall-1"})
        minute += 2
    server.post("/events", events)
    put_or_skip(server, "/workstations/S-FAST", {"target_units_per_hour": 30})
    put_or_skip(server, "/workstations/S-SLOW", {"target_units_per_hour": 30})
    return server


def test_this_shift_and_previous_shift_presets_come_from_the_calendar(page, shift_floor):
    server = shift_floor
    now = datetime.now(UTC)
    open_dashboard(page, server.base, QUIET)
    near = shift_instances(server, now - timedelta(hours=30), now + timedelta(hours=18))
    running = [i for i in near if i["status"] == "running"]
    assert [i["shift"] for i in running] == ["Now"]
    query = page_query(page)
    assert query["planned_only"] == "true" and parse_instant(query["from"]) == parse_instant(running[0]["start"])
    assert query["shift"] == "current"  # each station counts only its own site's running shift
    assert_figures_match_api(page, server)
    # The floor now is this shift: one answer serves the figures and the floor.
    assert [entry["path"] for entry in one_refresh(page, server)].count("/metrics/dashboard") == 1
    working = page.locator("[data-card='active-now'] [data-label]")
    expect(working).to_have_text("Working now")
    expect(page.locator("#shift-now")).to_be_visible()
    expect(page.locator("#shift-now [data-shift-sub]")).to_contain_text("Now,")

    page.select_option("#filter-range", "prevshift")
    page.wait_for_function("new URLSearchParams(location.search).get('range') === 'prevshift'")
    previous = [i for i in shift_instances(server, now - timedelta(hours=30), now) if i["status"] == "done"][-1]
    stamp = lambda text: parse_instant(text).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    wait_for_query(page, **{"from": stamp(previous["start"]), "to": stamp(previous["end"]), "planned_only": "true",
                            "shift": "previous"})
    assert_figures_match_api(page, server)
    expect(working).to_have_text("Working at the end")  # who worked as that shift ended, not now
    page.reload()
    wait_until_ready(page)
    expect(page.locator("#filter-range")).to_have_value("prevshift")


def test_shift_report_marks_a_station_behind_target_and_exports_it(page, shift_floor):
    server = shift_floor
    open_dashboard(page, server.base, QUIET)
    running = page.locator("#shift-report details.status-running")
    expect(running).to_have_count(1)
    slow = running.locator("tr[data-workstation-id='S-SLOW']")
    fast = running.locator("tr[data-workstation-id='S-FAST']")
    expect(slow).to_have_class(re.compile(r"\bis-behind\b"))
    expect(slow.locator("td[data-col='pace']")).to_contain_text("Behind by")
    expect(fast).not_to_have_class(re.compile(r"\bis-behind\b"))
    query = page_query(page)
    report = server.get(f"/metrics/shifts?{urlencode({'from': query['from'], 'to': query['to']})}")
    now_running = next(i for i in report["shifts"] if i["status"] == "running")
    api = {s["workstation_id"]: s for s in now_running["workstations"]}
    for station in ("S-SLOW", "S-FAST"):
        row = running.locator(f"tr[data-workstation-id='{station}']")
        expect(row.locator("td[data-col='units']")).to_have_attribute("data-value", str(api[station]["units"]))
        # The target so far grows with the clock (30 an hour): the page asked a moment before.
        target = row.locator("td[data-col='target_units']").get_attribute("data-value")
        assert 0 <= api[station]["target_units"] - float(target) < 0.5
    # This shift against target puts the station behind first.
    expect(page.locator("#shift-now .shift-station").first).to_have_attribute("data-workstation-id", "S-SLOW")
    expect(page.locator("#shift-now .shift-station").first).to_have_attribute("data-pace", "behind")
    # The board marks it too.
    with page.expect_download() as info:
        page.locator("#export-shifts").click()
    rows = read_download(info.value)
    slow_row = next(r for r in rows if r["workstation_id"] == "S-SLOW" and r["status"] == "running")
    assert slow_row["pace"] == "behind" and int(slow_row["units_against_target"]) < 0
    page.goto(f"{server.base}/{QUIET}&view=board")
    wait_until_ready(page)
    expect(page.locator("#board .tile[data-workstation-id='S-SLOW']")).to_have_attribute("data-pace", "behind")
    expect(page.locator("#board .tile[data-workstation-id='S-SLOW']")).to_have_attribute("data-state", "idle")


def test_a_shift_result_sets_the_units_of_stations_with_a_target_against_their_target(page, shift_floor):
    server = shift_floor
    now = datetime.now(UTC).replace(microsecond=0)
    # A station without a target makes 40 units in the running shift: they are not the targeted
    # stations' units, so they neither count against the target nor hide a station behind it.
    server.post("/events", [{"timestamp": iso(now - timedelta(minutes=m)), "worker_id": "W-FREE",
                             "workstation_id": "S-FREE", "event_type": "product_count", "count": 10,
                             "site_id": "hall-1"} for m in (40, 30, 20, 10)])
    open_dashboard(page, server.base, QUIET)
    query = page_query(page)
    report = server.get(f"/metrics/shifts?{urlencode({'from': query['from'], 'to': query['to']})}")
    running = next(i for i in report["shifts"] if i["status"] == "running")
    targeted = sum(s["units"] for s in running["workstations"] if s["target_units"] is not None)
    assert running["factory"]["total_units"] == targeted + 40
    result = page.locator("#shift-report details.status-running .shift-result")
    expect(result).to_contain_text(re.compile(rf"^{targeted} of \d+ target \("))
    expect(result).to_contain_text(f" · {targeted + 40} units in all")
    stations = server.get(f"/metrics/workstations{api_query(page)}")["workstations"]
    at_targets = sum(s["units"] for s in stations if s["target_units"] is not None)
    expect(page.locator("[data-card='units'] .card-note")).to_contain_text(f"({at_targets} at stations with a target)")
    # The panel between shifts reads the same helper: a finished shift's figures, by hand.
    shown = page.evaluate("""async () => {
        const report = await import('/js/shift-report.js');
        const r = report.instanceResult({factory: {total_units: 90, target_units: 114, attainment_pct: 73.68},
            workstations: [{units: 60, target_units: 71.25}, {units: 24, target_units: 42.75},
                           {units: 6, target_units: null}]});
        return [r.units, r.targetUnits, r.pace.mark, r.pace.diff, r.figure, r.rest.replace(/\\u00a0/g, ' ')];
    }""")
    assert shown == [90, 84, "behind", -30, 84, " of 114 target (73.68 %) · 90 units in all"]


def test_between_shifts_the_last_shift_is_read_as_it_ended(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    begin = (now - timedelta(hours=5)).replace(minute=0, second=0)
    end = begin + timedelta(hours=3)  # ended two to three hours ago; none runs now
    put_or_skip(server, "/calendar", {"time_zone": "UTC", "shifts": [
        {"name": "Past", "start": begin.strftime("%H:%M"), "end": end.strftime("%H:%M")}]})
    events = []
    for minute in range(0, 180, 10):
        at = iso(begin + timedelta(minutes=minute))
        events += [{"timestamp": at, "worker_id": "W-T", "workstation_id": "S-T", "event_type": "working",
                    "site_id": "hall-1"},
                   {"timestamp": at, "worker_id": "W-T", "workstation_id": "S-T", "event_type": "product_count",
                    "count": 1, "site_id": "hall-1"}]
    # Units at a station without a target, by a worker with no state events (no time at work).
    events += [{"timestamp": iso(begin + timedelta(minutes=m)), "worker_id": "W-F", "workstation_id": "S-F",
                "event_type": "product_count", "count": 5, "site_id": "hall-1"} for m in (15, 45, 75, 105)]
    server.post("/events", events)
    put_or_skip(server, "/workstations/S-T", {"target_units_per_hour": 30})
    open_dashboard(page, server.base, QUIET)

    previous = next(i for i in shift_instances(server, now - timedelta(hours=30), now)
                    if i["status"] == "done" and parse_instant(i["start"]) == begin)
    targeted = sum(s["units"] for s in previous["workstations"] if s["target_units"] is not None)
    assert targeted == 18 and previous["factory"]["total_units"] == 38
    figure = page.locator("#shift-now .shift-total-figure")
    expect(figure).to_contain_text(f"{targeted} of {round(previous['factory']['target_units'])} target")
    expect(figure).to_contain_text("· 38 units in all")
    expect(page.locator("#shift-now .shift-total")).to_have_attribute("data-pace", "behind")
    # W-T's camera is silent now, at a station with no work planned now: all clear, and said so.
    expect(page.locator("#attention [data-state='unknown']")).to_have_text("1 no signal")
    expect(page.locator("#attention .attention-empty.is-clear")).to_contain_text(
        "1 camera silent where no work is planned now")
    # The threshold is drawn over the hourly bars.
    assert page.evaluate("""() => { const chart = document.querySelector('#hourly-chart svg');
        const bar = chart.querySelector('.hour-bar'), line = chart.querySelector('.threshold');
        return Boolean(bar && line && (bar.compareDocumentPosition(line) & Node.DOCUMENT_POSITION_FOLLOWING)); }""")

    # A worker with no time at work in the shift has no utilization nor rate on the cards.
    page.goto(f"{server.base}/{QUIET}&worker=W-F")
    wait_until_ready(page)
    expect(page.locator("[data-card='utilization'] .value")).to_have_text("—")
    expect(page.locator("[data-card='utilization'] .card-note")).to_have_text("No working or idle time in planned time")
    expect(page.locator("[data-card='rate'] .value")).to_have_text("—")
    # Over the last 8 hours (all time, not only planned) its strip is empty for want of any state.
    page.goto(f"{server.base}/{QUIET}&range=last8h")
    wait_until_ready(page)
    expect(page.locator("#timeline-chart .timeline-row[data-worker-id='W-F'] .strip-note")).to_have_text(
        "No state known in this window")


SCREENSHOTS = pathlib.Path(REPO_ROOT) / "docs"


def test_a_ratio_without_a_denominator_is_shown_as_a_dash_with_its_reason(page, shift_floor):
    server = shift_floor
    now = datetime.now(UTC).replace(microsecond=0)
    # A hall whose one shift falls on another weekday: its station is not planned in this shift.
    other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(now.weekday() + 3) % 7]
    status, answer = server.request("PUT", "/sites/hall-2", {"name": "Hall 2", "time_zone": "UTC", "shifts": [
        {"name": "Other day", "start": "06:00", "end": "07:00", "days": [other_day]}]})
    assert status == 200, answer
    server.post("/events", [{"timestamp": iso(now - timedelta(minutes=m)), "worker_id": "W-OFF",
                             "workstation_id": "S-OFF", "event_type": "working", "site_id": "hall-2"}
                            for m in (30, 20, 10)])
    put_or_skip(server, "/workstations/S-OFF", {"target_units_per_hour": 30})
    open_dashboard(page, server.base, QUIET)
    assert page_query(page)["planned_only"] == "true"
    stations = {s["workstation_id"]: s for s in server.get(f"/metrics/workstations{api_query(page)}")["workstations"]}
    assert stations["S-OFF"]["planned_seconds"] == 0 and stations["S-OFF"]["utilization_pct"] == 0
    assert stations["S-OFF"]["target_units"] == 0 and stations["S-OFF"]["attainment_pct"] == 0
    assert stations["S-SLOW"]["planned_seconds"] > 0 and stations["S-SLOW"]["utilization_pct"] > 0

    def cell(table, id_attr, row_id, column):
        return page.locator(f"#{table} tr[{id_attr}='{row_id}'] td[data-col='{column}']")

    off = cell("workstation-table", "data-workstation-id", "S-OFF", "utilization_pct")
    expect(off).to_have_text("—")
    expect(off).to_have_attribute("title", "Not planned in this window")
    expect(off).to_have_attribute("data-value", "0")  # the API's figure, kept for tests and the CSV
    expect(off).to_have_attribute("aria-label", "— (Not planned in this window)")
    # Sorted by utilization either way, a station without a figure comes last, not as the lowest.
    header = page.locator("#workstation-table th[data-col='utilization_pct']")
    for direction in ("descending", "ascending"):
        header.locator("button").click()
        expect(header).to_have_attribute("aria-sort", direction)  # the body is redrawn with the header
        expect(page.locator("#workstation-table tbody tr").last).to_have_attribute("data-workstation-id", "S-OFF")
    expect(cell("workstation-table", "data-workstation-id", "S-SLOW", "utilization_pct")).to_have_text(
        percent_text(stations["S-SLOW"]["utilization_pct"]))
    expect(cell("workstation-table", "data-workstation-id", "S-OFF", "attainment_pct")).to_have_attribute(
        "title", "No units asked for in this window")
    expect(cell("workstation-table", "data-workstation-id", "S-SLOW", "attainment_pct")).to_have_text(
        percent_text(stations["S-SLOW"]["attainment_pct"]))
    # Its worker had no planned time at work either; the idle one has a utilization of 0 %.
    expect(cell("worker-table", "data-worker-id", "W-OFF", "utilization_pct")).to_have_attribute(
        "title", "No working or idle time in planned time")
    expect(cell("worker-table", "data-worker-id", "W-SLOW", "utilization_pct")).to_have_text(percent_text(0))

    # Its worker's strip is empty, and says why.
    expect(page.locator("#timeline-chart .timeline-row[data-worker-id='W-OFF'] .strip-note")).to_have_text(
        "Nothing in planned time")
    expect(page.locator("#timeline-chart .timeline-row[data-worker-id='W-SLOW'] .strip-note")).to_have_count(0)

    bar = page.locator("#station-util-chart .util-bar[data-id='S-OFF']")
    expect(bar).to_have_class(re.compile(r"\bis-none\b"))
    expect(bar.locator(".row-value")).to_have_text("—")
    expect(page.locator("#worker-util-chart .util-bar[data-id='W-SLOW']")).to_have_class(re.compile(r"\bis-low\b"))
    # The chart's summary holds only the stations with a figure (both busy) against the threshold.
    assert re.search(r"\b0 of 2 below", page.locator("#station-util-chart svg title").first.text_content())
    assert_figures_match_api(page, server)

    # On the board, a station with nothing due yet keeps no pace; one behind its target does.
    page.goto(f"{server.base}/{QUIET}&view=board")
    wait_until_ready(page)
    off_tile = page.locator("#board .tile[data-workstation-id='S-OFF']")
    expect(off_tile).to_have_attribute("data-pace", "none")
    expect(off_tile.locator(".tile-pace")).to_have_text("Nothing due")
    expect(off_tile.locator(".tile-target")).to_have_text(" units")  # not "/ 0"
    expect(page.locator("#board .tile[data-workstation-id='S-SLOW']")).to_have_attribute("data-pace", "behind")


def two_working_hours(site, begin):
    """A worker of `site` working at its station for two hours from `begin`, heard every 10 minutes."""
    return [{"timestamp": iso(begin + timedelta(minutes=minute)), "worker_id": f"W-{site}",
             "workstation_id": f"S-{site}", "event_type": "working", "site_id": site}
            for minute in range(0, 120, 10)]


def shift_panel_labels(page, server, count):
    """Open the page; once the shift panel holds `count` shift totals, the name of each."""
    open_dashboard(page, server.base, QUIET)
    totals = page.locator("#shift-now .shift-total")
    expect(totals).to_have_count(count)
    return [label.split(":")[0] for label in totals.locator(".shift-total-label").all_text_contents()]


def test_between_shifts_the_panel_shows_how_each_sites_last_shift_ended(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    ends = {"north": now - timedelta(hours=2), "south": now - timedelta(hours=4)}  # none runs now
    events = []
    for site, end in ends.items():
        begin = (end - timedelta(hours=3)).replace(minute=0, second=0)
        put_or_skip(server, f"/sites/{site}", {"name": f"Hall {site}", "time_zone": "UTC", "shifts": [
            {"name": f"Shift {site}", "start": begin.strftime("%H:%M"), "end": end.strftime("%H:%M")}]})
        events += two_working_hours(site, begin)
    server.post("/events", events)
    assert shift_panel_labels(page, server, 2) == ["Previous shift · Hall south", "Previous shift · Hall north"]


def test_between_shifts_a_site_whose_last_shift_was_days_ago_is_shown_too(page, server_factory):
    """Monday morning: North's shift ended two hours ago, South's last one on Friday. South's last
    shift lies beyond the near range the page asks for first; it is looked up further back."""
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    north_end = now - timedelta(hours=2)
    north_begin = (north_end - timedelta(hours=3)).replace(minute=0, second=0)
    south_next = (now + timedelta(hours=10)).replace(minute=0, second=0)  # within the near range ahead
    south_last = south_next - timedelta(days=3)  # its instance before: days behind the near range
    day = lambda moment: moment.strftime("%a").lower()  # noqa: E731
    put_or_skip(server, "/sites/north", {"name": "Hall north", "time_zone": "UTC", "shifts": [
        {"name": "Shift north", "start": north_begin.strftime("%H:%M"), "end": north_end.strftime("%H:%M")}]})
    put_or_skip(server, "/sites/south", {"name": "Hall south", "time_zone": "UTC", "shifts": [
        {"name": "Shift south", "start": south_next.strftime("%H:%M"),
         "end": (south_next + timedelta(hours=3)).strftime("%H:%M"), "days": [day(south_last), day(south_next)]}]})
    server.post("/events", two_working_hours("north", north_begin) + two_working_hours("south", south_last))
    assert shift_panel_labels(page, server, 2) == ["Previous shift · Hall south", "Previous shift · Hall north"]


def test_a_site_on_the_factory_calendar_sends_the_page_looking_for_no_older_shifts(page, server_factory):
    """A site whose shifts and zone are the factory's is no calendar of its own (the shift report
    lists the factory's instances only): its having no instance is no reason to look 8 days back."""
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0)
    end = now - timedelta(hours=2)
    begin = (end - timedelta(hours=3)).replace(minute=0, second=0)
    shifts = [{"name": "Day", "start": begin.strftime("%H:%M"), "end": end.strftime("%H:%M")}]
    put_or_skip(server, "/calendar", {"time_zone": "UTC", "shifts": shifts})
    put_or_skip(server, "/sites/north", {"name": "Hall north", "time_zone": "UTC", "shifts": shifts})
    server.post("/events", two_working_hours("north", begin))
    shift_panel_labels(page, server, 1)
    asked = [entry["query"] for entry in access_log(server) if entry["path"] == "/metrics/shifts"]
    assert asked and all(parse_instant(query["to"]) > now - timedelta(hours=29) for query in asked), asked


def test_the_board_between_shifts_says_what_its_tiles_hold_and_when_the_next_shift_starts(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    server.post("/events", board_events(3, now))
    start = now + timedelta(hours=2)
    server.put("/calendar", {"time_zone": "UTC", "shifts": [
        {"name": "Late", "start": start.strftime("%H:%M"), "end": (start + timedelta(hours=8)).strftime("%H:%M")}]})
    server.put("/workstations/WS-01", {"target_units_per_hour": 30})
    open_dashboard(page, server.base, "?view=board")
    expect(page.locator("[data-board-shift]")).to_have_text(
        f"No shift running: last 8 hours · next Late at {start.strftime('%H:%M')}")
    tile = page.locator("#board .tile[data-workstation-id='WS-01']")
    expect(tile).to_have_attribute("data-state", "working")
    expect(tile.locator(".tile-target")).to_have_text(" units")  # nothing was due in the last 8 hours


@pytest.mark.skipif(os.environ.get("UPDATE_SCREENSHOT") != "1",
                    reason="set UPDATE_SCREENSHOT=1 to rewrite docs/dashboard.png, docs/board.png and docs/phone.png")
def test_update_screenshots(browser, seeded):
    SCREENSHOTS.mkdir(exist_ok=True)
    shots = [("dashboard.png", 1440, 900, "", True), ("board.png", 1920, 1080, "&view=board", False),
             ("phone.png", 390, 844, "", False)]
    for name, width, height, query, full in shots:
        context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=width < 600)
        page = context.new_page()
        try:
            open_dashboard(page, seeded.base, QUIET + query)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            page.screenshot(path=str(SCREENSHOTS / name), full_page=full)
        finally:
            context.close()


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


def instant_text(instant, window_end, zone):
    """An instant as the models table writes it: "HH:MM" on the window's last day, else "Thu 26 Nov, 14:00"."""
    moment = parse_instant(instant).astimezone(zone)
    end = parse_instant(window_end).astimezone(zone)
    if moment.date() == end.date():
        return moment.strftime("%H:%M")
    return f"{moment.strftime('%a')} {moment.day} {moment.strftime('%b')}, {moment.strftime('%H:%M')}"


def page_zone(page, server):
    """The zone the page writes times in: the chosen site's own, else the factory's."""
    site = url_params(page).get("site")
    if site:
        own = server.get(f"/sites/{site}").get("time_zone")
        if own:
            return ZoneInfo(own)
    return factory_zone(server)


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
    zone = page_zone(page, server)
    for row, expected in zip(rows, models["models"], strict=True):
        cells = row["cells"]
        for field in MODEL_NUMBERS:
            assert float(cells[field]["value"]) == expected[field], (expected["model_version"], field)
        assert cells["event_count"]["text"] == f"{expected['event_count']:,}"
        assert cells["mean_confidence"]["text"] == score_text(expected["mean_confidence"])
        assert cells["p10_confidence"]["text"] == score_text(expected["p10_confidence"])
        assert cells["low_confidence_share"]["text"] == share_text(expected["low_confidence_share"])
        for field in ("first_seen", "last_seen"):
            assert cells[field]["value"] == expected[field]
            assert cells[field]["text"] == instant_text(expected[field], models["window"]["to"], zone)
        check = checks[expected["model_version"]]
        status = "flagged" if check["flagged"] else "unchecked" if check["confidence_drop"] is None else "steady"
        assert cells["drift"]["value"] == status
    return models, drift


def test_models_panel_shows_each_model_version_with_the_numbers_the_api_gives(page, seeded):
    open_dashboard(page, seeded.base, QUIET + "&range=all")
    models, _drift = assert_models_match_api(page, seeded)
    versions = [m["model_version"] for m in models["models"]]
    assert len(versions) >= 2  # the demo runs two model versions
    expect(page.locator("#models-table tbody tr[data-model-version]")).to_have_count(len(versions))
    assert page.locator("#models-table th button").count() == 0  # a plain header: nothing to sort

    figure = page.locator("#confidence-chart svg[role='img']")
    expect(figure).to_have_count(1)
    label = figure.get_attribute("aria-label")
    assert "Mean camera confidence" in label and all(v in label for v in versions)
    expect(page.locator("#confidence-chart svg > title")).to_have_count(1)
    lines = page.locator("#confidence-chart .series-line")
    rated_versions = {p["model_version"] for p in models["series"] if p["mean_confidence"] is not None}
    drawn = [v for v in versions if v in rated_versions]
    assert lines.evaluate_all("els => els.map(e => e.dataset.modelVersion)") == drawn
    # Each line differs in dash and marker as well as colour.
    looks = lines.evaluate_all("""els => els.map(g => {
        const line = g.querySelector('polyline');
        const version = g.dataset.modelVersion;
        const point = document.querySelector(`#confidence-chart g[data-model-version="${version}"] .series-point`);
        return [getComputedStyle(line).stroke, line.getAttribute('stroke-dasharray') || 'solid', point.tagName];
    })""")
    assert all(len({look[i] for look in looks}) == len(looks) for i in range(3)), looks
    rated = [p for p in models["series"] if p["mean_confidence"] is not None]
    expect(page.locator("#confidence-chart .series-point")).to_have_count(len(rated))
    expect(page.locator("#models-legend li")).to_have_count(len(versions))
    legend = page.locator("#models-legend li").all_inner_texts()
    assert [text.split()[0] for text in legend] == versions


def test_drift_summary_and_list_show_the_flags_the_api_gives(page, seeded):
    drift = seeded.get("/metrics/drift")
    assert drift["flagged"] >= 1  # the demo has a drifting model version
    open_dashboard(page, seeded.base, QUIET + "&range=all")
    summary = page.locator("#drift-summary")
    expect(summary).to_be_visible()
    flagged = drift["flagged"]
    expect(summary).to_have_attribute("data-flagged", str(flagged))
    expect(summary).to_have_text(f"{flagged} drift flag{'s' if flagged != 1 else ''}")

    assert drift_items(page, flagged=True) == expected_drift_items(drift, True)
    reasons = {m["model_version"]: m["reason"] for m in drift["models"]}
    reasons.update({w["worker_id"]: w["reason"] for w in drift["workers"]})
    for kind, item_id in drift_items(page, flagged=True):
        item = page.locator(f"#drift-list [data-drift-kind='{kind}'][data-drift-id='{item_id}']")
        expect(item).to_be_visible()
        expect(item.locator(".drift-reason")).to_have_text(reasons[item_id])
    # Working share before → after, as the API measured it.
    for worker in drift["workers"]:
        if worker["baseline"]["working_share"] is None or worker["recent"]["working_share"] is None:
            continue
        expect(page.locator(f"#drift-list [data-drift-id='{worker['worker_id']}'] .drift-figures")).to_contain_text(
            f"{share_text(worker['baseline']['working_share'])} → {share_text(worker['recent']['working_share'])}")

    # Flagged versions' rows are marked; the rest are folded away until asked for.
    for model in drift["models"]:
        row = page.locator(f"#models-table tr[data-model-version='{model['model_version']}']")
        if model["flagged"]:
            expect(row).to_have_class(re.compile(r"\bis-flagged\b"))
        else:
            expect(row).not_to_have_class(re.compile(r"\bis-flagged\b"))
    unflagged = drift_items(page, flagged=False)
    assert unflagged == expected_drift_items(drift, False)
    assert len(unflagged) == len(drift["models"]) + len(drift["workers"]) - flagged
    workers_unflagged = [w["worker_id"] for w in drift["workers"] if not w["flagged"]]
    if workers_unflagged:
        expect(page.locator("#drift-list [data-drift-kind='worker'][data-flagged='false']").first).to_be_hidden()
        page.locator("#drift-list details[data-drift-group='worker'] summary").click()
        expect(page.locator("#drift-list [data-drift-kind='worker'][data-flagged='false']").first).to_be_visible()

    # The worker filter narrows the worker list; the count stays the server's, and says what is hidden.
    worker = (workers_unflagged or [drift["workers"][0]["worker_id"]])[0]
    others = sum(1 for w in drift["workers"] if w["flagged"] and w["worker_id"] != worker)
    page.select_option("#filter-worker", worker)
    expect(page.locator("#drift-list [data-drift-kind='worker']")).to_have_count(1)
    assert drift_items(page) == expected_drift_items(drift, True, worker) + expected_drift_items(drift, False, worker)
    expect(page.locator(f"#drift-list [data-drift-id='{worker}']")).to_be_visible()  # the open fold stayed open
    if others:
        expect(page.locator("#drift-list")).to_contain_text(
            f"{others} other flagged worker{' is' if others == 1 else 's are'} hidden by the worker filter")
    expect(summary).to_have_attribute("data-flagged", str(flagged))

    before = render_count(page)
    page.locator("#filter-clear").click()
    page.select_option("#filter-range", "all")
    # The render of "all" itself, not that of the default range the cleared filters asked for first.
    page.wait_for_function("n => Number(document.body.dataset.renderCount || 0) > n && !document.body.dataset.query",
                           arg=before)
    expect(page.locator("#drift-list [data-drift-kind='worker']")).to_have_count(len(drift["workers"]))
    count = render_count(page)
    summary.click()
    expect(page.locator("#models-panel")).to_be_focused()
    expect(page.locator("#models-panel")).to_be_in_viewport()
    assert render_count(page) == count and urlparse(page.url).fragment == ""  # no history step, no refetch


def test_site_filter_changes_the_models_panel_and_the_drift_flags(page, seeded):
    open_dashboard(page, seeded.base, QUIET + "&range=all")
    everywhere = {row["id"]: row["cells"]["event_count"]["value"]
                  for row in table_rows(page, "#models-table", "data-model-version")}
    for site in site_ids(seeded):
        page.select_option("#filter-site", site)
        wait_for_query(page, site_id=site)
        models, drift = assert_models_match_api(page, seeded)
        here = {m["model_version"]: str(m["event_count"]) for m in models["models"]}
        assert here and here != everywhere  # fewer events at one site
        expect(page.locator("#models-table tbody tr[data-model-version]")).to_have_count(len(models["models"]))
        expect(page.locator("#drift-summary")).to_have_attribute("data-flagged", str(drift["flagged"]))
        expect(page.locator("#drift-summary")).to_have_text(
            "No drift" if drift["flagged"] == 0 else re.compile(r"drift flag"))
        assert drift_items(page, flagged=True) == expected_drift_items(drift, True)
        assert drift_items(page, flagged=False) == expected_drift_items(drift, False)


def test_model_versions_from_events_are_shown_as_text(page, server_factory):
    server = server_factory()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
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


def access_log(server):
    """The server's access log so far: one dict per request (`path`, `query`, `status`, ...)."""
    with open(server.log_path) as log:
        return [json.loads(line) for line in log if '"factory.access"' in line]


def one_refresh(page, server):
    """Make the page refresh once (it does so when it becomes visible) and return the server's
    log entries of that refresh's requests."""
    seen = []

    def finished(request):
        seen.append(request.url)

    page.on("requestfinished", finished)
    logged = len(access_log(server))
    count = render_count(page)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    wait_for_render_after(page, count)
    page.remove_listener("requestfinished", finished)
    # The server logs a request just after answering it: wait, with a deadline, for every one.
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while len(access_log(server)) - logged < len(seen) and datetime.now(UTC) < deadline:
        page.wait_for_timeout(20)
    entries = access_log(server)[logged:]
    assert len(entries) == len(seen), (entries, seen)
    return entries


def test_a_refresh_costs_at_most_4_requests_and_304s_when_nothing_changed(page, server_factory):
    server = server_factory()
    server.post("/events", old_shift_events(datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)))
    # The page's clock stands still, so every window it asks for stays where it was: nothing changes.
    page.clock.set_fixed_time(datetime.now(UTC).replace(microsecond=0))
    open_dashboard(page, server.base, QUIET + "&range=all")
    first = one_refresh(page, server)
    assert 1 <= len(first) <= 4, first
    assert {entry["path"] for entry in first} <= {"/metrics/dashboard", "/metrics/shifts"}, first
    again = one_refresh(page, server)
    assert len(again) == len(first) and all(entry["status"] == 304 for entry in again), again
    # A new event changes the view's answer; the page shows it.
    server.post("/events", [{"timestamp": iso(datetime.now(UTC) - timedelta(hours=1)), "worker_id": "W-A",
                             "workstation_id": "S-1", "event_type": "product_count", "count": 5,
                             "site_id": "north"}])
    changed = one_refresh(page, server)
    assert len(changed) <= 4 and any(e["status"] == 200 and e["path"] == "/metrics/dashboard" for e in changed)


def test_a_new_worker_reads_the_lists_again(page, server_factory):
    server = server_factory()
    server.post("/events", old_shift_events(datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)))
    open_dashboard(page, server.base, QUIET + "&range=all")
    assert not any(entry["path"] == "/workers" for entry in one_refresh(page, server))
    server.post("/events", [{"timestamp": iso(datetime.now(UTC) - timedelta(hours=1)), "worker_id": "W-new",
                             "workstation_id": "S-1", "event_type": "working", "site_id": "north"}])
    assert any(entry["path"] == "/workers" for entry in one_refresh(page, server))
    expect(page.locator("#filter-worker option[value='W-new']")).to_have_count(1)


def test_spells_shorter_than_a_pixel_are_drawn_as_bands_split_by_state(page, server_factory):
    server = server_factory()
    now = datetime.now(UTC).replace(microsecond=0, second=0)
    start = now - timedelta(days=6)
    # An hour of one-minute spells, working and idle in turn, shown in three days (longer windows
    # are drawn hour by hour from the roll-ups): a pixel is minutes long.
    events = [{"timestamp": iso(start + timedelta(days=3, minutes=m)), "worker_id": "W-1", "workstation_id": "S-1",
               "event_type": "working" if m % 2 else "idle", "site_id": "hall-1"} for m in range(60)]
    events += [{"timestamp": iso(start + timedelta(minutes=m)), "worker_id": "W-1", "workstation_id": "S-1",
                "event_type": "absent", "site_id": "hall-1"} for m in (0, 6 * 24 * 60 - 10)]
    server.post("/events", events)
    shown = [(start + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M") for days in (2, 5)]
    open_dashboard(page, server.base, QUIET + f"&range=custom&from={shown[0]}&to={shown[1]}")
    bands = page.locator("#timeline-chart .band-mixed")
    expect(bands.first).to_be_visible()
    assert bands.count() <= 60
    tip = bands.first.locator("title").text_content()
    assert "% working" in tip and "% idle" in tip
    # Each band stacks its states, each as tall as its share of the band's time.
    parts = bands.first.locator(".band-part")
    assert sorted(parts.evaluate_all("els => els.map(e => e.classList[1])")) == ["band-idle", "band-working"]


def test_a_long_window_is_drawn_from_its_slots(page, server_factory):
    server = server_factory()
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=6)
    # A morning of spells at one station, then silence: past the signal horizon the time is
    # unknown, slot after slot, to the window's end.
    events = [{"timestamp": iso(day + timedelta(hours=8, minutes=minutes)), "worker_id": "W-1", "workstation_id": "S-1",
               "event_type": kind, "site_id": "hall-1"}
              for minutes, kind in ((0, "working"), (30, "idle"), (60, "working"), (120, "absent"))]
    server.post("/events", events)
    shown = [(day - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"), (day + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")]
    with page.expect_response(lambda response: "/metrics/dashboard" in response.url) as answer:
        open_dashboard(page, server.base, QUIET + f"&range=custom&from={shown[0]}&to={shown[1]}")
    slots = answer.value.json()["timeline"]["slots"]
    assert slots["seconds"] % 3600 == 0 and answer.value.json()["timeline"]["workers"][0]["intervals"] == []
    mixed = page.locator("#timeline-chart .band-mixed")
    expect(mixed.first).to_be_visible()
    tip = mixed.first.locator("title").text_content()
    assert "% working" in tip and "% idle" in tip
    # The slots in one state after the spells are one band, days long.
    unknown = page.locator("#timeline-chart .band.band-unknown")
    assert unknown.count() == 1
    spans = unknown.evaluate("e => Date.parse(e.dataset.to) - Date.parse(e.dataset.from)")
    assert spans >= 4 * 24 * 3600 * 1000
