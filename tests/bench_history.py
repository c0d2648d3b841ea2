"""The benchmark of issue 17: what the dashboard costs as the history grows.

    make bench                                   # 1,000,000 and 10,000,000 events
    BENCH_HISTORY_EVENTS=100000 make bench       # a quick run
    BENCH_STORE=postgres make bench              # the same on PostgreSQL

For each history size it starts the real server on 127.0.0.1 with the command `make run` uses,
on a fresh store, and measures:

1. Loading: about a year of a floor (100 workers, 30 workstations, two sites, three 8-hour
   shifts), posted as batches of 1,000 events by 4 client processes, each event with an id as
   the edge client makes it. The calendar is set to the floor's shifts first, laid so that one
   began 7 hours before the history's end: "this shift" holds most of a shift of events whatever
   the hour of the run. The rate over the load's last tenth beside its first tells whether
   ingestion slows as the history grows; the rate of every tenth, printed under the table,
   shows where it does.
2. Once the keepers have computed the roll-ups the load left stale (how long after the load is
   printed under the table), one dashboard refresh on "whole data", "last 7 days" and "this
   shift": the requests the page makes for one refresh (`page_refresh`), one after another on
   new connections; the sum of their times (what the server spent on them, the client's share is
   small) and the bytes they moved. The median of 3 refreshes after a first one.
3. 20 cameras posting single events (one a second each) for 30 s while 5 dashboards poll every
   5 s with the ETags of their last answers, as the page does: the cameras' p99 latency.
4. The server is stopped and started again: the seconds from the start until the first refresh
   on "this shift" has answered, and whether any answer was not a `200`.
5. Peak memory (VmHWM) of the largest server process in each phase: loading, refreshes and
   cameras, a restart to its first refresh.

Each figure is printed beside its target, one table per history size. Standard library only
(and psycopg with `BENCH_STORE=postgres`, from requirements.txt).

| variable | default | meaning |
|---|---|---|
| `BENCH_HISTORY_EVENTS` | `1000000,10000000` | the history sizes, comma-separated |
| `BENCH_STORE` | `sqlite` | `sqlite`, or `postgres` for a throwaway PostgreSQL cluster |
| `BENCH_IDS` | `edge` | the events' ids, as in `tests/bench.py` |
| `BENCH_JSON` | unset | also write the results as JSON to this path |
"""

import json
import os
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import bench  # noqa: E402  (needs the path above)
from tests.servers import GUNICORN, Server  # noqa: E402

HISTORY_DAYS = 365
REFRESHES = 3
DASHBOARDS = 5
POLL_S = 5.0
FLOOR = (20, 1.0, 30.0)  # cameras, seconds between one camera's events, seconds in all
CAMERA_CLIENTS = 2
CHART_WIDTH_PX = 1200  # about what a chart spans on a laptop's screen
FLOOR_WIDTH_PX = 10_000  # the floor's timeline is read for when spells began, at the finest width

TARGET_REFRESH_S = 1.0
TARGET_REFRESH_BYTES = 500_000
TARGET_CAMERA_P99_S = 0.100
TARGET_FIRST_REFRESH_S = 5.0
TARGET_RSS_MB = 250
TARGET_LOAD_KEPT = 0.8  # events/s over the load's last tenth, as a share of its first tenth

def calendar(now_ms):
    """The floor's shifts (`bench.shift_starts_ms`), as the page reads them from GET /calendar
    for its "this shift" preset."""
    def clock(ms):
        return f"{ms % bench.DAY_MS // bench.HOUR_MS:02d}:{ms % bench.HOUR_MS // bench.MINUTE_MS:02d}"

    return {"time_zone": "UTC", "shifts": [
        {"name": f"Shift {number}", "start": clock(start), "end": clock(start + bench.SHIFT_MS)}
        for number, start in enumerate(bench.shift_starts_ms(now_ms), 1)]}


def windows(now_ms):
    """The page's three presets as query parameters: `(name, params)`. "This shift" counts the
    planned time of the shift under way only, as the page's preset does (`bench.shift_under_way_ms`)."""
    return [("whole data", {}),
            ("last 7 days", {"from": bench.iso(now_ms - 7 * bench.DAY_MS), "to": bench.iso(now_ms)}),
            ("this shift", {"from": bench.iso(bench.shift_under_way_ms(now_ms)), "to": bench.iso(now_ms),
                            "planned_only": "true", "shift": "current"})]


def page_refresh(window, now_ms):
    """The requests the dashboard makes for one refresh of `window` (frontend/js/main.js and
    live.js): `(path, params)` pairs. The shifts around now, asked from hour to hour; the
    dashboard's one answer for the window; and the floor now (the running shift up to now in
    planned time), unless that is the window itself."""
    near = {"from": bench.iso((now_ms - 30 * bench.HOUR_MS) // bench.HOUR_MS * bench.HOUR_MS),
            "to": bench.iso(-(-(now_ms + 18 * bench.HOUR_MS) // bench.HOUR_MS) * bench.HOUR_MS)}
    requests = [("/metrics/shifts", near), ("/metrics/dashboard", {**window, "width": CHART_WIDTH_PX})]
    floor = windows(now_ms)[2][1]
    if window != floor:
        requests.append(("/metrics/dashboard", {**floor, "sections": "floor", "width": FLOOR_WIDTH_PX}))
    return requests


def fetch(base, path, params, etag=None):
    """`(status, body bytes as sent, ETag, seconds)` of one GET on a new connection."""
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    headers = {"Accept-Encoding": "gzip", **({"If-None-Match": etag} if etag else {})}  # as a browser asks
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as response:
            status, body, tag = response.status, response.read(), response.headers.get("ETag")
    except urllib.error.HTTPError as error:
        status, body, tag = error.code, error.read(), error.headers.get("ETag")
    return status, body, tag, time.perf_counter() - started


def refresh(base, window, now_ms, etags=None):
    """One refresh at the page's clock `now_ms`: `{"seconds", "bytes", "statuses"}`; `etags`,
    when given, is sent and updated as the page keeps them."""
    seconds, size, statuses = 0.0, 0, []
    for path, params in page_refresh(window, now_ms):
        key = (path, tuple(sorted(params.items())))
        status, body, tag, took = fetch(base, path, params, None if etags is None else etags.get(key))
        seconds, size = seconds + took, size + len(body)
        statuses.append(status)
        if etags is not None and tag:
            etags[key] = tag
    return {"seconds": seconds, "bytes": size, "statuses": statuses}


def measure_refreshes(server, now_ms):
    """The median refresh of each preset, after one that warms up: `{name: refresh}`."""
    found = {}
    for name, window in windows(now_ms):
        refresh(server.base, window, now_ms)
        runs = sorted((refresh(server.base, window, now_ms) for _ in range(REFRESHES)),
                      key=lambda run: run["seconds"])
        found[name] = runs[len(runs) // 2]
    return found


def dashboard(base, window, now_ms, until):
    """Client process: refresh `window` every `POLL_S` seconds until the monotonic `until`, with
    the ETags of the last answers. Returns the statuses seen."""
    etags, statuses = {}, []
    while time.monotonic() < until:
        started = time.monotonic()
        statuses += refresh(base, window, now_ms, etags)["statuses"]
        bench.wait_until(min(until, started + POLL_S))
    return {"statuses": statuses}


def measure_load(server, now_ms):
    """`FLOOR` cameras posting single events while `DASHBOARDS` dashboards poll."""
    start = time.monotonic() + bench.START_DELAY_S
    until = start + FLOOR[2]
    presets = [window for _, window in windows(now_ms)]
    tasks = [("camera", (server.port, range(first, FLOOR[0], CAMERA_CLIENTS), start, FLOOR))
             for first in range(CAMERA_CLIENTS)]
    tasks += [("dashboard", (server.base, presets[number % len(presets)], now_ms, until))
              for number in range(DASHBOARDS)]
    answers = bench.in_processes(_load_task, tasks)
    cameras = [answer for (kind, _), answer in zip(tasks, answers, strict=True) if kind == "camera"]
    latencies = sorted(latency for answer in cameras for latency in answer["latencies"])
    polls = [status for (kind, _), answer in zip(tasks, answers, strict=True) if kind == "dashboard"
             for status in answer["statuses"]]
    return {"p99_s": bench.percentile(latencies, 0.99), "answered": len(latencies),
            "errors": sum(answer["errors"] for answer in cameras),
            "examples": [example for answer in cameras for example in answer["examples"]][:3],
            "polls": len(polls), "not_modified": polls.count(304),
            "poll_failures": sum(1 for status in polls if status not in (200, 304))}


def _load_task(kind, arguments):
    return bench.camera_client(*arguments) if kind == "camera" else dashboard(*arguments)


def measure_restart(server, now_ms):
    """Stop and start the server; seconds from the start until the first "this shift" refresh
    has answered, and the statuses of that refresh."""
    server.stop()
    started = time.monotonic()
    server.start(deadline_s=120)
    first = refresh(server.base, windows(now_ms)[2][1], now_ms)
    return {"seconds": time.monotonic() - started, "statuses": first["statuses"]}


def load_history(server, events, now_ms):
    """Set the calendar and post `events` events of history; the batch report."""
    status, _ = server.request("PUT", "/calendar", calendar(now_ms))
    if status != 200:
        raise RuntimeError(f"PUT /calendar answered {status}")
    bodies, latest_ms = bench.history_batches(events, now_ms, HISTORY_DAYS)
    report = bench.measure_batches(server, bodies, events)
    if report["errors"]:
        raise RuntimeError(f"loading the history failed: {report['examples']}")
    return report, latest_ms


def run_size(events, directory, store_env):
    """Every figure for one history size."""
    now_ms = time.time_ns() // 1_000_000
    bench.say(f"{events:,} events: generating and loading ...")
    server = Server(os.path.join(directory, f"server-{events}"), command=GUNICORN, **store_env)
    try:
        server.start()
        loaded, latest_ms = load_history(server, events, now_ms)
        rss_mb = {"loading the history": bench.largest_peak_rss_mb(server)}
        bench.reset_peak_rss(server)
        settled = bench.rollups_settled(server)
        bench.say(f"{events:,} events: dashboard refreshes (roll-ups {bench.settled_words(settled)}) ...")
        refreshes = measure_refreshes(server, now_ms)
        bench.say(f"{events:,} events: cameras beside polling dashboards ...")
        load = measure_load(server, now_ms)
        rss_mb["refreshes and cameras"] = bench.largest_peak_rss_mb(server)
        bench.say(f"{events:,} events: restart ...")
        restart = measure_restart(server, now_ms)  # new processes: a count of their own
        rss_mb["a restart to its first refresh"] = bench.largest_peak_rss_mb(server)
    finally:
        server.stop()
    return {"events": events, "load_seconds": loaded["seconds"], "history_end": bench.iso(latest_ms),
            "load_tenths_per_s": loaded["tenths_per_s"], "settled_s": settled,
            "refreshes": refreshes, "load": load, "restart": restart, "peak_rss_mb": rss_mb}


def results_table(size):
    """Every figure of one size beside its target: `(figure, target, result, meets)` rows."""
    rows = []
    for name, run in size["refreshes"].items():
        failed = [status for status in run["statuses"] if status != 200]
        result = bench.ms(run["seconds"]) + (f", failed {failed}" if failed else "")
        rows.append((f"one refresh, {name}: server time of its {len(run['statuses'])} requests",
                     f"<= {bench.ms(TARGET_REFRESH_S)}", result, run["seconds"] <= TARGET_REFRESH_S and not failed))
        rows.append((f"one refresh, {name}: bytes", f"<= {TARGET_REFRESH_BYTES // 1000} KB",
                     f"{run['bytes'] / 1000:,.0f} KB", run["bytes"] <= TARGET_REFRESH_BYTES))
    first, last = size["load_tenths_per_s"][0], size["load_tenths_per_s"][-1]
    rows.append(("loading: events/s over its last tenth against its first", f">= {TARGET_LOAD_KEPT:.0%} kept",
                 f"{last:,.0f} against {first:,.0f} ({last / first:.1%})", last >= TARGET_LOAD_KEPT * first))
    load = size["load"]
    rows.append((f"{FLOOR[0]} cameras' single POSTs while {DASHBOARDS} dashboards poll",
                 f"p99 <= {bench.ms(TARGET_CAMERA_P99_S)}, 0 errors",
                 f"p99 {bench.ms(load['p99_s'])}, {load['errors']} errors; polls {load['polls']}, "
                 f"{load['not_modified']} 304, {load['poll_failures']} failed",
                 load["p99_s"] is not None and load["p99_s"] <= TARGET_CAMERA_P99_S and load["errors"] == 0))
    restart = size["restart"]
    failed = [status for status in restart["statuses"] if status != 200]
    rows.append(("first refresh after a restart (from the start)", f"<= {TARGET_FIRST_REFRESH_S:.0f} s, no 503",
                 f"{restart['seconds']:.1f} s" + (f", failed {failed}" if failed else ""),
                 restart["seconds"] <= TARGET_FIRST_REFRESH_S and not failed))
    for phase, peak_mb in size["peak_rss_mb"].items():
        rows.append((f"peak RSS, largest server process: {phase}", f"< {TARGET_RSS_MB} MB", f"{peak_mb:.0f} MB",
                     peak_mb < TARGET_RSS_MB))
    return [{"figure": figure, "target": target, "result": result, "meets_target": "yes" if meets else "no"}
            for figure, target, result, meets in rows]


def store_settings(store, directory, stack):
    """`environment(events)`: the server's environment for one history size on `store`, each size
    in a database of its own (on SQLite a file in the size's own folder; for `postgres` a cluster
    is started once and holds one database per size)."""
    if store == "sqlite":
        return lambda events: {}
    if store == "postgres":
        from tests.pgcluster import Cluster  # only this store needs it
        cluster = stack.enter(Cluster(os.path.join(directory, "pg")))
        return lambda events: {"DATABASE_URL": cluster.create_database(f"bench_{events}")}
    raise RuntimeError(f"BENCH_STORE is sqlite or postgres, not {store!r}")


class Stack:
    """What the run started and must stop, in reverse order."""

    def __init__(self):
        self.started = []

    def enter(self, thing):
        self.started.append(thing.__enter__())
        return self.started[-1]

    def close(self):
        while self.started:
            self.started.pop().__exit__(None, None, None)


def main():
    """Run every size; print one table each and write JSON when `BENCH_JSON` says where."""
    sizes = [int(part) for part in (os.environ.get("BENCH_HISTORY_EVENTS") or "1000000,10000000").split(",")]
    store = os.environ.get("BENCH_STORE") or "sqlite"
    if not bench.ids_known():
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for name in ("ADMIN_TOKEN", "INGEST_TOKEN", "INGEST_TOKENS", "VIEW_TOKENS", "ALLOWED_HOSTS", "DATABASE_URL"):
        os.environ.pop(name, None)
    results, stack = [], Stack()
    try:
        with tempfile.TemporaryDirectory(prefix="factory-bench-history-") as directory:
            try:
                environment = store_settings(store, directory, stack)
                for events in sizes:
                    results.append(run_size(events, directory, environment(events)))
            finally:
                stack.close()
    except KeyboardInterrupt:
        bench.say("interrupted; everything started is stopped")
        return 130
    except (RuntimeError, AssertionError) as failure:
        bench.say(f"benchmark failed: {failure}")
        return 1
    print(f"store: {store}; history of {HISTORY_DAYS} days, {bench.WORKERS} workers, {bench.STATIONS} workstations, "
          f"{bench.ID_KINDS[bench.IDS]}; "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    for size in results:
        print(f"\n{size['events']:,} events (loaded in {size['load_seconds']:.0f} s, up to {size['history_end']}):\n")
        bench.print_table(results_table(size))
        print("\nloading, events/s in each tenth: " + ", ".join(f"{rate:,.0f}" for rate in size["load_tenths_per_s"]))
        settled = size["settled_s"]
        print("roll-ups up to date " + (f"{settled:.1f} s after the load" if settled is not None
                                        else f"still behind {bench.SETTLE_S} s after the load")
              + " (the refreshes are measured then)")
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = [last["refreshes"][name]["seconds"] / max(first["refreshes"][name]["seconds"], 1e-6)
                  for name in first["refreshes"]]
        print(f"\nrefresh time from {first['events']:,} to {last['events']:,} events: "
              + ", ".join(f"x{ratio:.2f}" for ratio in growth) + " (goal: at most x2)")
    if os.environ.get("BENCH_JSON"):
        with open(os.environ["BENCH_JSON"], "w") as out:
            json.dump(results, out, indent=2)
    print("\n" + "\n".join(f"problem: {example}" for size in results for example in size["load"]["examples"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
