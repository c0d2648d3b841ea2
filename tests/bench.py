"""The benchmark of issue 13: a factory floor's real camera load, measured against its targets.

    make bench                          # 1,000,000 events of history, a few minutes
    BENCH_EVENTS=100000 make bench      # a quick run

It starts the real server on 127.0.0.1 with the command `make run` uses (`tests/servers.py`), on
a free port and a fresh temporary database, and measures in this order:

1. Batch ingestion: a month of history for 100 workers at 30 workstations, ending now, posted
   as batches of 1,000 events by 4 client processes at once, each batch on a new connection.
   Every event has an id as the edge client makes it (the camera's name, the time and random
   bits); with `BENCH_IDS=random` the camera's name and a random UUID, as a third-party camera
   may send.
   Every answer must be `201` with all 1,000 events accepted.
2. The same batches stored into a fresh plain SQLite file by one process: each batch decoded
   from its JSON and written by an `executemany` INSERT into a table without indexes, one
   transaction per batch, with the server's pragmas (WAL, `synchronous = FULL`). This is the
   reference the service's batch rate is divided by. Then, for 2 s, transactions of one event
   each into the same kind of file: how many commits a second the disk allows, the reference
   for the cameras.
3. Metrics: each metrics endpoint over the whole history and over its last 8 hours, the median
   of 5 runs after a warm-up.
4. Cameras: 200 cameras each posting one event every 200 ms (1,000 events/s in all) for 20 s,
   on a fixed schedule that does not wait for answers. Each event is its own request on a new
   connection, as the edge client (`backend/edge/client.py`, urllib) sends it. Latency counts
   from the scheduled send, so a server that stalls shows as latency rather than as fewer
   requests. The clients are 4 processes on non-blocking sockets; their own CPU is reported.
5. Memory: the peak RSS (VmHWM) of the largest server process.
6. A floor twenty times as wide: 2,000 workers at 600 workstations, their last two days with as
   many events a worker and day as the history above, loaded into a server of its own; each
   metrics endpoint over the last 8 hours, as in 3, once the server's keepers have computed what
   the load left stale (its last hours and the current hour's first part), as on a floor that
   has run a while.

Each figure is printed beside its target. Everything started is stopped at the end, also on an
error, Ctrl-C or a kill. Standard library only.

Settings (environment variables):

| variable | default | meaning |
|---|---|---|
| `BENCH_EVENTS` | 1000000 | events of history |
| `BENCH_JSON` | unset | also write the results as JSON to this path |
| `BENCH_IDS` | `edge` | `edge`: ids as the edge client makes them; `random`: the camera's name and a random UUID |
"""

import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import selectors
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import types
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from backend.db import connect  # noqa: E402
from backend.edge.outbox import new_event_id  # noqa: E402
from tests.servers import GUNICORN as SERVER_COMMAND  # noqa: E402  (needs the path above)
from tests.servers import Server  # noqa: E402

# The floor of the history: 100 workers at 30 workstations on two sites, 30 days of 8-hour shifts.
WORKERS = 100
STATIONS = 30
DAYS = 30
# A floor twenty times as wide, for the 8-hour window: 2,000 workers at 600 workstations, its last
# two days, as many events a worker and day as the history above.
WIDE_WORKERS = 2000
WIDE_STATIONS = 600
WIDE_DAYS = 2
SITES = ("plant-north", "plant-south")
MODELS = ("floorcam-2.3.1", "floorcam-2.4.0")
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
SHIFT_MS = 8 * HOUR_MS
# How far into its shift the floor is at the end of the history, whatever the hour of the run, so
# "this shift" always holds most of a shift of events.
SHIFT_UNDER_WAY_MS = 7 * HOUR_MS
# What a camera reports next, given the state it last reported: (event, weight) pairs.
NEXT_EVENT = {
    "working": (("product_count", 40), ("working", 35), ("idle", 20), ("absent", 5)),
    "idle": (("idle", 40), ("working", 50), ("absent", 5), ("product_count", 5)),
    "absent": (("absent", 30), ("working", 70)),
}
BATCH_SIZE = 1000
BATCH_CLIENTS = 4
CAMERAS = 200
CAMERA_PERIOD_S = 0.2
CAMERA_SECONDS = 20
CAMERA_CLIENTS = 4
METRICS_PATHS = ("/metrics/workers", "/metrics/workstations", "/metrics/factory")
METRICS_RUNS = 5
# Client processes start, prepare, then begin together this long after: none of that is timed.
START_DELAY_S = 1.0
REQUEST_TIMEOUT_S = 60
# How long the wide floor's metrics wait at most for the keepers to catch up with its load.
SETTLE_S = 60
# Sends later than this (p99) mean the clients fell behind: the latency is not the server's alone.
SEND_LAG_LIMIT_S = 0.010

# The event ids the events carry (`BENCH_IDS`), and how the report names them.
IDS = os.environ.get("BENCH_IDS") or "edge"
ID_KINDS = {"edge": "ids as the edge client makes them", "random": "random ids (name and UUID)"}

TARGET_CAMERA_P99_S = 0.050
TARGET_BATCH_EVENTS_PER_S = 50_000
TARGET_WHOLE_WINDOW_S = 0.5
TARGET_WINDOW_8H_S = 0.025
TARGET_RSS_MB = 200

REFERENCE_FIELDS = ("event_id", "timestamp", "worker_id", "workstation_id", "event_type",
                    "confidence", "count", "model_version", "site_id")
REFERENCE_TABLE_SQL = f"CREATE TABLE events (id INTEGER PRIMARY KEY, {', '.join(REFERENCE_FIELDS)})"
REFERENCE_INSERT_SQL = (f"INSERT INTO events ({', '.join(REFERENCE_FIELDS)}) "
                        f"VALUES ({', '.join('?' * len(REFERENCE_FIELDS))})")


# --- the history -----------------------------------------------------------------------------

def iso(epoch_ms):
    """Epoch milliseconds as ISO-8601 UTC text, e.g. `2026-01-15T10:00:00.123Z`."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def event(ts_ms, worker, station, kind, rng, model, stations=STATIONS):
    """One event as a camera sends it, without its `event_id` (`stations`: the floor's number)."""
    body = {"timestamp": iso(ts_ms), "worker_id": f"W-{worker + 1:03d}",
            "workstation_id": f"S-{station + 1:02d}", "event_type": kind,
            "confidence": round(rng.uniform(0.30, 0.99), 2), "model_version": model,
            "site_id": SITES[station * len(SITES) // stations]}
    if kind == "product_count":
        body["count"] = rng.randint(1, 3)
    return body


def shift_under_way_ms(now_ms):
    """When the shift under way at `now_ms` began: `SHIFT_UNDER_WAY_MS` before, on a whole minute."""
    return (now_ms - SHIFT_UNDER_WAY_MS) // MINUTE_MS * MINUTE_MS


def shift_starts_ms(now_ms):
    """The floor's three shift starts within a UTC day, on whole minutes, 8 hours apart, one of
    them that of the shift under way (`shift_under_way_ms`)."""
    first = shift_under_way_ms(now_ms) % SHIFT_MS
    return tuple(first + number * SHIFT_MS for number in range(3))


def shifts(now_ms, days=DAYS, workers=WORKERS, stations=STATIONS):
    """Every `(start_ms, end_ms, worker)` shift of the last `days` days, in order of start.

    Workers 0-29 work the first shift of the day (`shift_starts_ms`) at stations 1-30, 30-59 the
    second, 60-89 the third and 90-99 the first again (on a wider floor, so on by `stations`);
    everyone has two days off a week, staggered. Shifts under way now end now.
    """
    first_day_ms = now_ms - now_ms % DAY_MS - days * DAY_MS
    starts = shift_starts_ms(now_ms)
    found = []
    for day in range(days + 1):
        for worker in range(workers):
            start = first_day_ms + day * DAY_MS + starts[worker // stations % 3]
            end = min(start + SHIFT_MS, now_ms)
            if (day + worker) % 7 > 1 and now_ms - days * DAY_MS <= start and end - start >= HOUR_MS:
                found.append((start, end, worker))
    return sorted(found)


def shift_events(rng, start_ms, end_ms, worker, count, upgrade_ms, stations=STATIONS):
    """`count` `(ts_ms, event)` pairs of one worker's shift, oldest first: arrival, work, leaving."""
    times = sorted(rng.randrange(start_ms, end_ms) for _ in range(count))
    events, state = [], "absent"
    for index, ts in enumerate(times):
        if index == 0:
            kind = "working"
        elif index == count - 1 and end_ms == start_ms + SHIFT_MS:
            kind = "absent"  # the shift is over: the worker leaves
        else:
            kinds, weights = zip(*NEXT_EVENT[state], strict=True)
            kind = rng.choices(kinds, weights)[0]
        events.append((ts, event(ts, worker, worker % stations, kind, rng, MODELS[ts >= upgrade_ms], stations)))
        state = state if kind == "product_count" else kind
    return events


def ids_known():
    """Whether `BENCH_IDS` names a kind of id (`ID_KINDS`); when not, says what it must be."""
    if IDS not in ID_KINDS:
        say(f"BENCH_IDS is {' or '.join(ID_KINDS)}, not {IDS!r}")
    return IDS in ID_KINDS


def camera_event_id(device, ts_ms):
    """The `event_id` of an event `device` took at `ts_ms`: as the edge client gives it then
    (`new_event_id`), or with `BENCH_IDS=random` a random UUID, as a third-party camera may."""
    if IDS == "random":
        return f"{device}-{uuid.uuid4().hex}"
    return new_event_id(device, ts_ms * 1_000_000)


def history_batches(total, now_ms, days=DAYS, workers=WORKERS, stations=STATIONS):
    """The floor's last `days` days up to `now_ms`, `total` events, as JSON bodies of
    `BATCH_SIZE` events in time order (as a gateway forwarding the floor would send them).

    Returns `(bodies, latest_ms)`. Every event carries an `event_id` (`camera_event_id`); each
    shift gets events in proportion to its length.
    """
    rng = random.Random(1)
    all_shifts = shifts(now_ms, days, workers, stations)
    ends = list(itertools.accumulate(end - start for start, end, _ in all_shifts))
    bounds = [0] + [total * upto // ends[-1] for upto in ends]
    upgrade_ms = now_ms - days * DAY_MS // 2
    by_day = {}
    for (start, end, worker), (low, high) in zip(all_shifts, itertools.pairwise(bounds), strict=True):
        by_day.setdefault(start // DAY_MS, []).append((start, end, worker, high - low))
    bodies, pending, latest_ms = [], [], 0
    for day in sorted(by_day):  # shifts starting on one day overlap only each other
        events = [pair for start, end, worker, count in by_day[day]
                  for pair in shift_events(rng, start, end, worker, count, upgrade_ms, stations)]
        events.sort(key=lambda pair: pair[0])
        for ts, item in events:
            item["event_id"] = camera_event_id(f"cam-{item['workstation_id']}", ts)
            pending.append(item)
            latest_ms = max(latest_ms, ts)
            if len(pending) == BATCH_SIZE:
                bodies.append(json.dumps({"events": pending}).encode())
                pending = []
    if pending:
        bodies.append(json.dumps({"events": pending}).encode())
    return bodies, latest_ms


# --- client processes and the server's processes ---------------------------------------------

def in_processes(function, tasks):
    """`function(*task)` for every task, each in its own forked process, all at once; the results
    in the order of `tasks`.

    Forked processes share the parent's request bodies without copying them. On Ctrl-C, a kill
    or an error here the parent ends them; they ignore Ctrl-C themselves.
    """
    context = multiprocessing.get_context("fork")
    processes, pipes = [], []
    try:
        for task in tasks:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(sender, function, task), daemon=True)
            process.start()
            sender.close()
            processes.append(process)
            pipes.append(receiver)
        try:
            return [receiver.recv() for receiver in pipes]
        except EOFError:
            raise RuntimeError("a client process ended without an answer") from None
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


def _child(sender, function, task):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sender.send(function(*task))
    sender.close()


def cpu_seconds():
    """CPU time (user and system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_processes(server):
    """`(pid, /proc/<pid>/stat fields after the name)` of every process of the server's group."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or one that ended meanwhile
        if fields[2] == str(server.process.pid):  # its process group: the server started it
            found.append((int(name), fields))
    return found


def server_cpu_seconds(server):
    """CPU time (user and system) the server's processes have used so far."""
    ticks = sum(int(fields[11]) + int(fields[12]) for _, fields in server_processes(server))
    return ticks / os.sysconf("SC_CLK_TCK")


def largest_peak_rss_mb(server):
    """The largest peak RSS (`VmHWM`) among the server's processes, in MB."""
    peaks = [0]
    for pid, _ in server_processes(server):
        try:
            with open(f"/proc/{pid}/status") as status:
                peaks += [int(line.split()[1]) for line in status if line.startswith("VmHWM:")]
        except OSError:
            pass
    return max(peaks) / 1024


def reset_peak_rss(server):
    """Start the count of peak RSS again in every server process (Linux's `clear_refs`)."""
    for pid, _ in server_processes(server):
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as refs:
                refs.write("5")
        except OSError:
            pass  # it ended meanwhile


def wait_until(instant):
    """Sleep until the monotonic `instant` (one clock for every process of the machine)."""
    time.sleep(max(0.0, instant - time.monotonic()))


# --- batch ingestion and its reference -------------------------------------------------------

def post_batches(url, bodies, first, step, start):
    """Client process: from `start`, post every `step`-th body from `first`, each on a new
    connection as urllib makes it; every event must be accepted. Returns the errors and a few
    examples, its CPU seconds, the instant each of its bodies was answered and the instant it
    finished."""
    wait_until(start)
    cpu, errors, examples, answered = cpu_seconds(), 0, [], []
    for body in bodies[first::step]:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                status, answer = response.status, response.read()
            counts = json.loads(answer)
            ok = status == 201 and counts["duplicates"] == counts["rejected"] == 0
        except (OSError, ValueError, KeyError) as problem:  # HTTPError is an OSError
            ok, answer = False, repr(problem).encode()
        answered.append(time.monotonic())
        if not ok:
            errors += 1
            examples.append(answer[:200].decode(errors="replace"))
    return {"errors": errors, "examples": examples[:3], "cpu_seconds": cpu_seconds() - cpu,
            "answered": answered, "finished": time.monotonic()}


def measure_batches(server, bodies, events):
    """Post every batch (`events` in all) with `BATCH_CLIENTS` processes at once. Besides the
    whole load's time: events per second over each tenth of the bodies in the order they were
    answered, which tell whether ingestion slows as the stored history grows."""
    start = time.monotonic() + START_DELAY_S
    server_cpu = server_cpu_seconds(server)
    answers = in_processes(post_batches, [(server.base + "/events", bodies, first, BATCH_CLIENTS, start)
                                          for first in range(BATCH_CLIENTS)])
    server_cpu = server_cpu_seconds(server) - server_cpu
    answered = sorted(instant for answer in answers for instant in answer["answered"])
    per_body = events / len(bodies)
    counts = [len(answered) * part // 10 for part in range(11)]  # answers by the end of each tenth
    instants = [start] + [answered[max(count, 1) - 1] for count in counts[1:]]
    return {"events": events, "seconds": max(answer["finished"] for answer in answers) - start,
            "tenths_per_s": [(high - low) * per_body / max(end - begin, 1e-9) for (low, high), (begin, end)
                             in zip(itertools.pairwise(counts), itertools.pairwise(instants), strict=True)],
            "errors": sum(answer["errors"] for answer in answers),
            "examples": [example for answer in answers for example in answer["examples"]][:3],
            "client_cpu_seconds": sum(answer["cpu_seconds"] for answer in answers),
            "server_cpu_seconds": server_cpu}


def raw_sqlite(path):
    """A fresh plain SQLite file with the server's pragmas (WAL, `synchronous = FULL`) and an
    events table without indexes."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(REFERENCE_TABLE_SQL)
    return conn


def measure_raw_sqlite(path, bodies):
    """Store the same batches into plain SQLite, one transaction each: the reference for batch
    ingestion. Decoding each body's JSON is part of the work, as it is for the server."""
    conn = raw_sqlite(path)
    try:
        started = time.perf_counter()
        for body in bodies:
            rows = [tuple(item.get(name) for name in REFERENCE_FIELDS) for item in json.loads(body)["events"]]
            conn.execute("BEGIN")
            conn.executemany(REFERENCE_INSERT_SQL, rows)
            conn.execute("COMMIT")
        seconds = time.perf_counter() - started
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()
    return {"events": events, "seconds": seconds}


def measure_raw_commits(path, seconds=2.0):
    """Transactions of one event each into plain SQLite for `seconds`, as one per camera request
    would be: commits per second. With `synchronous = FULL` each commit waits for the disk."""
    conn = raw_sqlite(path)
    row = ("raw", iso(time.time_ns() // 1_000_000), "W-001", "S-01", "working", 0.9, None, MODELS[1], SITES[0])
    commits, started = 0, time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            conn.execute("BEGIN")
            conn.execute(REFERENCE_INSERT_SQL, row)
            conn.execute("COMMIT")
            commits += 1
    finally:
        conn.close()
    return commits / (time.perf_counter() - started)


# --- metrics ---------------------------------------------------------------------------------

def get(url):
    """`(status, body)` of a GET on a new connection."""
    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def time_get(url):
    """Median seconds of `METRICS_RUNS` GETs of `url` after a warm-up, and the warm-up's body;
    `None` for the seconds when any answer is not `200`."""
    status, answer = get(url)
    times = []
    while status == 200 and len(times) < METRICS_RUNS:
        started = time.perf_counter()
        status, _ = get(url)
        times.append(time.perf_counter() - started)
    return (statistics.median(times) if status == 200 else None), answer


def measure_metrics(server, latest_ms, windows=("whole window", "8-hour window")):
    """Each metrics endpoint over the whole history and over its last 8 hours (`windows`): the
    median seconds (`None` on a failure) by `(path, window)`, and the factory's whole-window event
    count."""
    medians, event_count = {}, None
    queries = {"whole window": "", "8-hour window": f"?from={iso(latest_ms - SHIFT_MS)}&to={iso(latest_ms)}"}
    for window in windows:
        for path in METRICS_PATHS:
            medians[path, window], answer = time_get(server.base + path + queries[window])
            if path == "/metrics/factory" and window == "whole window" and medians[path, window] is not None:
                event_count = json.loads(answer)["factory"]["event_count"]
    return medians, event_count


def wide_floor_events(events):
    """The events of the wide floor's history beside `events` of the main one."""
    return events * WIDE_WORKERS * WIDE_DAYS // (WORKERS * DAYS)


def measure_wide_floor(directory, events):
    """The 8-hour window of the wide floor (`WIDE_WORKERS`), loaded into a server of its own with
    as many events a worker and day as the `events` of the main history: the medians by
    `(path, window)`, as `measure_metrics` gives them."""
    wide_events = wide_floor_events(events)
    say(f"{WIDE_WORKERS:,} workers: generating and loading {wide_events:,} events ...")
    bodies, latest_ms = history_batches(wide_events, time.time_ns() // 1_000_000, WIDE_DAYS, WIDE_WORKERS,
                                        WIDE_STATIONS)
    server = Server(os.path.join(directory, "wide"), command=SERVER_COMMAND)
    try:
        server.start()
        loaded = measure_batches(server, bodies, wide_events)
        if loaded["errors"]:
            raise RuntimeError(f"loading the wide floor failed: {loaded['examples']}")
        del bodies[:]
        settled = rollups_settled(server)
        say(f"{WIDE_WORKERS:,} workers: metrics (roll-ups {settled_words(settled)}) ...")
        medians, _ = measure_metrics(server, latest_ms, ("8-hour window",))
    finally:
        server.stop()
    return {(path, f"8-hour window, {WIDE_WORKERS:,} workers"): seconds for (path, _), seconds in medians.items()}


def settled_words(settled_s):
    """How `rollups_settled` went, in words."""
    return f"caught up in {settled_s:.1f} s" if settled_s is not None else f"still behind after {SETTLE_S} s"


def rollups_settled(server):
    """Wait until no hour before the current one is stale in `server`'s database (its SQLite
    file or PostgreSQL database) and the current hour's first part is computed (when it has
    events): the seconds that took, or `None` after `SETTLE_S`."""
    started = time.monotonic()
    conn = connect(server.env.get("DATABASE_URL") or server.database_path, create=False)
    try:
        while time.monotonic() - started < SETTLE_S:
            waiting = conn.execute(
                "SELECT COUNT(*) FROM rollup_hours WHERE stale = 1 AND (hour < ? OR until_ms IS NULL)",
                (time.time_ns() // 1_000_000 // HOUR_MS,)).fetchone()[0]
            if not waiting:
                return time.monotonic() - started
            time.sleep(0.2)
    finally:
        conn.close()
    return None


# --- cameras ---------------------------------------------------------------------------------

def camera_requests(port, cameras, start, floor=(CAMERAS, CAMERA_PERIOD_S, CAMERA_SECONDS)):
    """Every request `cameras` send from the monotonic instant `start`, built before the clock
    starts: `(scheduled instant, request bytes)` pairs in the order they go out.

    `floor` is `(cameras on the floor, seconds between one camera's events, seconds in all)`.
    Camera `c` of `n` sends its `k`-th event at `start + (c / n + k) * period`, so the floor's
    sends are spread evenly; the event's timestamp is that instant on the wall clock.
    Each request is one event as the edge client posts it (`{"events": [event]}`) with urllib's
    `Connection: close`: the server closes the connection after its answer.
    """
    count, period_s, seconds = floor
    rng = random.Random(cameras[0])
    wall_ms = time.time_ns() // 1_000_000 - round(time.monotonic() * 1000)
    sends = sorted((start + (camera / count + number) * period_s, camera, number)
                   for camera in cameras for number in range(round(seconds / period_s)))
    requests = []
    for scheduled, camera, _ in sends:
        kind = rng.choice(("working", "idle", "absent", "product_count"))
        item_ms = wall_ms + round(scheduled * 1000)
        item = event(item_ms, camera % WORKERS, camera % STATIONS, kind, rng, MODELS[1])
        item["event_id"] = camera_event_id(f"camera-{camera:03d}", item_ms)
        body = json.dumps({"events": [item]}).encode()
        requests.append((scheduled, b"POST /events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%b" % (port, len(body), body)))
    return requests


def camera_client(port, cameras, start, floor=(CAMERAS, CAMERA_PERIOD_S, CAMERA_SECONDS)):
    """Client process: send the requests of `cameras` each at its scheduled instant, each on a
    new non-blocking connection, never waiting for earlier answers.

    Returns the latencies of the accepted events, from the scheduled send to the answer's end;
    the errors and a few examples; the send lags, how late the client itself was; its CPU
    seconds; and the instant it finished.
    """
    requests = camera_requests(port, cameras, start, floor)
    cpu = cpu_seconds()
    selector = selectors.DefaultSelector()
    latencies, lags, problems = [], [], []
    upcoming = iter(requests)
    scheduled, request = next(upcoming)
    deadline = requests[-1][0] + REQUEST_TIMEOUT_S
    while (request or selector.get_map()) and time.monotonic() < deadline:
        while request and scheduled <= time.monotonic():
            lags.append(time.monotonic() - scheduled)
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))  # done, or failed, once the socket is writable
            exchange = types.SimpleNamespace(scheduled=scheduled, unsent=request, answer=[])
            selector.register(sock, selectors.EVENT_WRITE, exchange)
            scheduled, request = next(upcoming, (None, None))
        wait = (scheduled if request else deadline) - time.monotonic()
        for key, _ in selector.select(max(0.0, wait)):
            sock, exchange = key.fileobj, key.data
            try:
                if exchange.unsent:
                    exchange.unsent = exchange.unsent[sock.send(exchange.unsent):]
                    if not exchange.unsent:
                        selector.modify(sock, selectors.EVENT_READ, exchange)
                    continue
                chunk = sock.recv(65536)
                if chunk:
                    exchange.answer.append(chunk)
                    continue
                head, _, body = b"".join(exchange.answer).partition(b"\r\n\r\n")
                if head.startswith(b"HTTP/1.1 201 ") and json.loads(body)["accepted"] == 1:
                    latencies.append(time.monotonic() - exchange.scheduled)
                else:
                    status_line = head.partition(b"\r\n")[0]
                    problems.append((status_line + b": " + body)[:200].decode(errors="replace"))
            except (OSError, ValueError, KeyError) as problem:
                problems.append(repr(problem))
            selector.unregister(sock)
            sock.close()
    problems += [f"no answer within {REQUEST_TIMEOUT_S} s"] * len(selector.get_map())
    problems += ["not sent: the client fell too far behind"] * (len(requests) - len(lags))
    return {"latencies": latencies, "errors": len(problems), "examples": problems[:3], "lags": lags,
            "cpu_seconds": cpu_seconds() - cpu, "finished": time.monotonic()}


def measure_cameras(server):
    """Play `CAMERAS` cameras from `CAMERA_CLIENTS` processes for `CAMERA_SECONDS`."""
    start = time.monotonic() + START_DELAY_S
    server_cpu = server_cpu_seconds(server)
    answers = in_processes(camera_client, [(server.port, range(first, CAMERAS, CAMERA_CLIENTS), start)
                                           for first in range(CAMERA_CLIENTS)])
    server_cpu = server_cpu_seconds(server) - server_cpu
    latencies = sorted(latency for answer in answers for latency in answer["latencies"])
    lags = sorted(lag for answer in answers for lag in answer["lags"])
    return {"scheduled": CAMERAS * round(CAMERA_SECONDS / CAMERA_PERIOD_S), "answered": len(latencies),
            "seconds": max(answer["finished"] for answer in answers) - start,
            "errors": sum(answer["errors"] for answer in answers),
            "examples": [example for answer in answers for example in answer["examples"]][:3],
            "p50_s": percentile(latencies, 0.50), "p99_s": percentile(latencies, 0.99),
            "max_s": latencies[-1] if latencies else None, "send_lag_p99_s": percentile(lags, 0.99),
            "client_cpu_seconds": sum(answer["cpu_seconds"] for answer in answers),
            "server_cpu_seconds": server_cpu}


def percentile(ordered, fraction):
    """The nearest-rank percentile of an ordered list; `None` for an empty one."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# --- the report ------------------------------------------------------------------------------

def ms(seconds):
    """Seconds as milliseconds text, e.g. `12.3 ms`; `failed` for `None`."""
    return "failed" if seconds is None else f"{seconds * 1000:.1f} ms"


def results_table(events, batches, raw, raw_commits, medians, cameras, rss_mb):
    """Every figure beside its target: `(figure, target, result, meets target)` rows."""
    rate = events / batches["seconds"]
    raw_rate = raw["events"] / raw["seconds"]
    camera_rate = cameras["answered"] / cameras["seconds"]
    offered = CAMERAS / CAMERA_PERIOD_S
    rows = [
        (f"{CAMERAS} cameras at {offered:,.0f} events/s, latency from the scheduled send",
         f"p99 <= {ms(TARGET_CAMERA_P99_S)}",
         f"p50 {ms(cameras['p50_s'])}, p99 {ms(cameras['p99_s'])}, max {ms(cameras['max_s'])}",
         cameras["p99_s"] is not None and cameras["p99_s"] <= TARGET_CAMERA_P99_S),
        (f"{CAMERAS} cameras, errors", "0", f"{cameras['errors']} of {cameras['scheduled']:,}", cameras["errors"] == 0),
        (f"{CAMERAS} cameras, achieved rate", f">= {0.99 * offered:,.0f} events/s (99%)",
         f"{camera_rate:,.0f} events/s", camera_rate >= 0.99 * offered),
        ("one-event transactions into plain SQLite (WAL, synchronous=FULL)", "reference",
         f"{raw_commits:,.0f} commits/s", None),
        (f"batch ingestion, {BATCH_SIZE:,} events a request, {BATCH_CLIENTS} clients",
         f">= {TARGET_BATCH_EVENTS_PER_S:,} events/s", f"{rate:,.0f} events/s, {batches['errors']} errors",
         rate >= TARGET_BATCH_EVENTS_PER_S and batches["errors"] == 0),
        ("same batches into plain SQLite (executemany, WAL, synchronous=FULL)", "reference",
         f"{raw_rate:,.0f} events/s; service/raw SQLite {rate / raw_rate:.2f}", None),
    ]
    for (path, window), seconds in medians.items():
        target = TARGET_WHOLE_WINDOW_S if window == "whole window" else TARGET_WINDOW_8H_S
        rows.append((f"{path}, {window}", f"<= {ms(target)}", ms(seconds), seconds is not None and seconds <= target))
    rows.append(("peak RSS, largest server process", f"< {TARGET_RSS_MB} MB", f"{rss_mb:.0f} MB",
                 rss_mb < TARGET_RSS_MB))
    return [{"figure": figure, "target": target, "result": result,
             "meets_target": "-" if meets is None else "yes" if meets else "no"}
            for figure, target, result, meets in rows]


def print_table(rows):
    """The rows as a Markdown table, ready for the README."""
    keys = ("figure", "target", "result", "meets_target")
    titles = dict(zip(keys, ("figure", "target", "result", "meets target"), strict=True))
    widths = {key: max(len(titles[key]), *(len(row[key]) for row in rows)) for key in keys}
    for values in (titles, {key: "-" * widths[key] for key in keys}, *rows):
        print("| " + " | ".join(values[key].ljust(widths[key]) for key in keys) + " |")


def print_report(report):
    """What ran where, the table, the clients' and the server's CPU, and any problem seen."""
    about, cameras, batches = report["about"], report["cameras"], report["batches"]
    print(f"run {about['date']}; {about['cores']} cores ({about['cpu']}), load average {about['load_average']} "
          f"at the start, {about['load_average_end']} at the end; Python {about['python']}, SQLite {about['sqlite']}")
    print(f"server: {' '.join(about['server'])}")
    print(f"history: {about['events']:,} events, {WORKERS} workers, {STATIONS} workstations, {DAYS} days "
          f"up to {about['history_end']}, {ID_KINDS[about['ids']]}; metrics: median of {METRICS_RUNS} runs "
          "after a warm-up")
    print(f"wide floor: {wide_floor_events(about['events']):,} events, {WIDE_WORKERS:,} workers, {WIDE_STATIONS} "
          f"workstations, {WIDE_DAYS} days, in a server of its own")
    print()
    print_table(report["results"])
    print()
    # The server's CPU per request and per 1,000 events: how far the machine's cores can carry each load.
    print(f"cameras: {CAMERA_CLIENTS} client processes, {CAMERA_SECONDS} s; client CPU "
          f"{100 * cameras['client_cpu_seconds'] / cameras['seconds']:.0f}% of one core, server CPU "
          f"{100 * cameras['server_cpu_seconds'] / cameras['seconds']:.0f}% of one core "
          f"({1000 * cameras['server_cpu_seconds'] / max(1, cameras['answered']):.2f} ms a request); "
          f"sends p99 {ms(cameras['send_lag_p99_s'])} behind schedule")
    print(f"batches: {BATCH_CLIENTS} client processes, {batches['seconds']:.1f} s; client CPU "
          f"{100 * batches['client_cpu_seconds'] / batches['seconds']:.0f}% of one core, server CPU "
          f"{100 * batches['server_cpu_seconds'] / batches['seconds']:.0f}% of one core "
          f"({1_000_000 * batches['server_cpu_seconds'] / batches['events']:.0f} ms per 1,000 events)")
    for problem in report["problems"]:
        print(f"problem: {problem}")


def say(text):
    """Progress on stderr, so stdout holds the results alone."""
    print(text, file=sys.stderr, flush=True)


# --- the run ---------------------------------------------------------------------------------

def run(events, directory):
    """Generate the history, start the server, measure every figure; the report as a dict."""
    about = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cores": os.cpu_count(),
             "cpu": cpu_model(), "load_average": round(os.getloadavg()[0], 2),
             "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
             "server": SERVER_COMMAND, "events": events, "ids": IDS}
    say(f"generating {events:,} events ...")
    bodies, latest_ms = history_batches(events, time.time_ns() // 1_000_000)
    about["history_end"] = iso(latest_ms)
    server = Server(os.path.join(directory, "server"), command=SERVER_COMMAND)
    try:
        server.start()
        say(f"batch ingestion on 127.0.0.1:{server.port} ...")
        batches = measure_batches(server, bodies, events)
        say("plain SQLite: the same batches, then one-event transactions ...")
        raw = measure_raw_sqlite(os.path.join(directory, "raw.db"), bodies)
        raw_commits = measure_raw_commits(os.path.join(directory, "raw-commits.db"))
        del bodies[:]  # a few hundred MB nothing else needs
        say("metrics ...")
        medians, event_count = measure_metrics(server, latest_ms)
        say(f"{CAMERAS} cameras for {CAMERA_SECONDS} s ...")
        cameras = measure_cameras(server)
        rss_mb = largest_peak_rss_mb(server)
    finally:
        server.stop()
    medians.update(measure_wide_floor(directory, events))
    problems = [f"batch ingestion: {e}" for e in batches["examples"]] + \
               [f"cameras: {e}" for e in cameras["examples"]]
    if cameras["send_lag_p99_s"] > SEND_LAG_LIMIT_S:
        problems.append(f"cameras: sends p99 {ms(cameras['send_lag_p99_s'])} behind schedule; the clients fell "
                        f"behind (a busy machine), so the latency is not the server's alone")
    about["load_average_end"] = round(os.getloadavg()[0], 2)
    if event_count != events:
        problems.append(f"/metrics/factory counts {event_count} events in the whole window, {events} were posted")
    rows = results_table(events, batches, raw, raw_commits, medians, cameras, rss_mb)
    return {"about": about, "results": rows, "batches": batches, "raw_sqlite": raw,
            "raw_sqlite_commits_per_s": raw_commits, "cameras": cameras, "peak_rss_mb": rss_mb,
            "problems": problems}


def cpu_model():
    """The CPU's model name, as Linux tells it."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def main():
    """Run the benchmark; print the report and write it as JSON when `BENCH_JSON` says where."""
    events = int(os.environ.get("BENCH_EVENTS") or 1_000_000)
    json_path = os.environ.get("BENCH_JSON")
    if not ids_known():
        return 2
    # A kill stops everything the benchmark started, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # The benchmark measures an open server on loopback, whatever access settings this shell holds.
    for name in ("ADMIN_TOKEN", "INGEST_TOKEN", "INGEST_TOKENS", "VIEW_TOKENS", "ALLOWED_HOSTS"):
        os.environ.pop(name, None)
    try:
        with tempfile.TemporaryDirectory(prefix="factory-bench-") as directory:
            report = run(events, directory)
    except KeyboardInterrupt:
        say("interrupted; everything started is stopped")
        return 130
    except (RuntimeError, AssertionError) as failure:  # Server.start fails with AssertionError
        say(f"benchmark failed: {failure}")
        return 1
    print_report(report)
    if json_path:
        with open(json_path, "w") as out:
            json.dump(report, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
