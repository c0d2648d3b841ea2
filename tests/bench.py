"""The benchmark of issue 5: ingestion, metrics and memory at a hundred times the demo floor.

    make bench                                  # 1,000,000 events, a few minutes
    BENCH_EVENTS=100000 make bench              # a quick run

It starts the real server under gunicorn on 127.0.0.1 (a free port, a fresh temporary database),
generates a month of history for 100 workers at 30 stations, and measures, in this order:

1. batch ingestion: the whole history as `{"events": [...]}` batches of 1,000, posted by several
   client processes at once; every answer must be `201` with all 1,000 events accepted;
2. metrics over the whole history and over an 8-hour window at its end (median of several runs
   after a warm-up), while the server's memory is polled;
3. single-event POSTs: several client processes posting new events one per request.

The clients are separate processes (the Python client must not be the bottleneck), and every
request body of step 1 is serialised before the clock starts. The result is a table of each
figure beside its target; everything started is stopped at the end, also on errors and Ctrl-C.

Settings (environment variables):

| variable | default | meaning |
|---|---|---|
| `BENCH_EVENTS` | 1000000 | events of history |
| `BENCH_WORKERS` | 2 | gunicorn worker processes (`WEB_CONCURRENCY`) |
| `BENCH_CLIENTS` | 4 | client processes for the ingestion and single-event phases |
| `BENCH_SINGLE_SECONDS` | 10 | length of the single-event phase |
| `BENCH_RUNS` | 5 | timed runs per metrics request (after one warm-up) |
| `BENCH_SEED` | 1 | seed of the generated history |
| `BENCH_JSON` | unset | also write the results as JSON to this path |

`BENCH_WORKERS` defaults to 2: the project's own default, and the cores of the 2-core machine the
targets are set for. 4 workers were tried for the single-event POSTs; on that machine (shared with
other work) the gain was within the noise while batch ingestion tended to lose, so 2 stays, and
`BENCH_WORKERS=4 make bench` measures the other choice. Gunicorn's worker timeout is raised to
600 s (unless `WEB_TIMEOUT` is set) so that a slow answer is measured rather than cut off.

Standard library only (plus the project's own dependencies, which run the server).
"""

import http.client
import json
import multiprocessing
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import orjson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.servers import GUNICORN, REPO_ROOT, free_port  # noqa: E402  (needs the path above)

# The floor: 100 workers at 30 stations on two sites, over 30 days of 8-hour shifts.
FLOOR_WORKERS = 100
STATIONS = 30
DAYS = 30
BATCH_SIZE = 1000
SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
SHIFT_MS = 8 * HOUR_MS
SHIFT_STARTS_MS = (6 * HOUR_MS, 14 * HOUR_MS, 22 * HOUR_MS)  # early, late and night shift
MIN_SHIFT_MS = 30 * MINUTE_MS  # a shift that began less than this before the history's end is left out
HISTORY_END_MARGIN_MS = 15 * MINUTE_MS  # the history ends this long before the benchmark starts
SITES = ("plant-north", "plant-south")
MODELS = ("floorcam-2.3.1", "floorcam-2.4.0")

# What a camera reports next, given the state it last reported: (event, weight) pairs. Cameras
# repeat the current state now and then (a heartbeat), so states last several events.
NEXT_EVENT = {
    "working": (("product_count", 40), ("working", 35), ("idle", 20), ("absent", 5)),
    "idle": (("idle", 40), ("working", 50), ("absent", 5), ("product_count", 5)),
    "absent": (("absent", 30), ("working", 70)),
}

METRICS_PATHS = ("/metrics/workers", "/metrics/workstations", "/metrics/factory")
# The client processes are started first and begin together this long after: forking is not timed.
CLIENT_START_DELAY_S = 0.5

# The targets of issue 5.
TARGET_BATCH_EVENTS_PER_S = 150_000
TARGET_SINGLE_REQUESTS_PER_S = 2_000
TARGET_WHOLE_WINDOW_S = 0.5
TARGET_WINDOW_8H_S = 0.025
TARGET_RSS_MB = 200


# --- settings and machine --------------------------------------------------------------------

def settings():
    """The benchmark's sizes, from the environment."""
    def number(name, default):
        value = os.environ.get(name, "").strip()
        return int(value) if value else default

    return {
        "events": number("BENCH_EVENTS", 1_000_000),
        "server_workers": number("BENCH_WORKERS", 2),
        "clients": number("BENCH_CLIENTS", 4),
        "single_seconds": number("BENCH_SINGLE_SECONDS", 10),
        "runs": number("BENCH_RUNS", 5),
        "seed": number("BENCH_SEED", 1),
        "json_path": os.environ.get("BENCH_JSON") or None,
    }


def machine_info():
    """Cores, CPU model, Python and SQLite versions of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "system": platform.platform(),
            # Other work on the machine takes cores from the server: the load says how much.
            "load_average_1min": round(os.getloadavg()[0], 2)}


# --- the history -----------------------------------------------------------------------------

def iso(ms):
    """Epoch milliseconds as ISO-8601 UTC text, e.g. `2026-01-15T10:00:00.123Z`."""
    seconds, millis = divmod(ms, SECOND_MS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def station_of(worker):
    """A worker's home station (0-based): three workers share a station over the day."""
    return worker % STATIONS


def site_of(station):
    """The first half of the stations is on one site, the rest on the other."""
    return SITES[station * len(SITES) // STATIONS]


def shifts(history_end_ms):
    """Every `(start_ms, end_ms, worker)` shift of the last `DAYS` days, in order of start.

    Workers 0-29 work the early shift, 30-59 the late one, 60-89 nights and 90-99 the early one
    again (beside 0-9, so some stations have two people at once). Each worker has two days off
    a week, staggered across the floor. The shifts under way at `history_end_ms` end there.
    """
    first_day_ms = history_end_ms - history_end_ms % DAY_MS - DAYS * DAY_MS
    found = []
    for day in range(DAYS + 1):
        for worker in range(FLOOR_WORKERS):
            if (day + worker) % 7 in (0, 1):
                continue  # day off
            start = first_day_ms + day * DAY_MS + SHIFT_STARTS_MS[(worker // STATIONS) % 3]
            end = min(start + SHIFT_MS, history_end_ms)
            if history_end_ms - DAYS * DAY_MS <= start and end - start >= MIN_SHIFT_MS:
                found.append((start, end, worker))
    found.sort()
    return found


def events_per_shift(all_shifts, total):
    """How many events each shift gets: in proportion to its length, `total` in all."""
    lengths = [end - start for start, end, _ in all_shifts]
    whole = sum(lengths)
    counts, done, before = [], 0, 0
    for length in lengths:
        done += length
        upto = total * done // whole
        counts.append(upto - before)
        before = upto
    return counts


def upgrade_days(rng, history_end_ms):
    """The instant each station's camera moves from the old model version to the new one."""
    first_ms = history_end_ms - DAYS * DAY_MS
    return [first_ms + rng.randint(5, DAYS - 5) * DAY_MS for _ in range(STATIONS)]


def shift_events(rng, worker, start_ms, end_ms, count, upgrades):
    """`count` `(event, ts_ms)` pairs of one worker's shift, oldest first.

    The worker arrives (`working`) a few minutes after the shift starts and, when the shift is
    over, leaves (`absent`) just before `end_ms`; in between the camera reports state changes,
    heartbeats and product counts. A fifth of the shifts end at a neighbouring station of the
    same site.
    """
    home = station_of(worker)
    per_site = STATIONS // len(SITES)
    neighbour = home - home % per_site + (home + 1) % per_site
    moved = rng.random() < 0.2
    finished = end_ms == start_ms + SHIFT_MS
    arrival = start_ms + rng.randrange(10 * MINUTE_MS)
    leaving = end_ms - rng.randrange(5 * MINUTE_MS) if finished else end_ms
    middle = sorted(rng.randrange(arrival + 1, leaving) for _ in range(max(0, count - 2)))
    times = ([arrival] + middle + [leaving])[:count]
    events = []
    state = None
    for index, ts in enumerate(times):
        if index == 0:
            kind = "working"
        elif index == len(times) - 1 and finished:
            kind = "absent"
        else:
            kinds, weights = zip(*NEXT_EVENT[state])
            kind = rng.choices(kinds, weights)[0]
        station = neighbour if moved and ts >= start_ms + SHIFT_MS // 2 else home
        events.append(camera_event(rng, ts, worker, station, kind, upgrades))
        if kind != "product_count":
            state = kind
    return events


def camera_event(rng, ts, worker, station, kind, upgrades):
    """One event as a camera sends it (without its `event_id`), and its instant: `(event, ts_ms)`."""
    confidence = rng.uniform(0.30, 0.55) if rng.random() < 0.05 else rng.uniform(0.60, 0.99)
    event = {"timestamp": iso(ts), "worker_id": f"W-{worker + 1:03d}",
             "workstation_id": f"S-{station + 1:02d}", "event_type": kind}
    if kind == "product_count":
        event["count"] = rng.randint(1, 3)
    event["confidence"] = round(confidence, 2)
    event["model_version"] = MODELS[ts >= upgrades[station]]
    event["site_id"] = site_of(station)
    return event, ts


def history_batches(total, seed, history_end_ms):
    """The history as serialised request bodies of `BATCH_SIZE` events, and its latest instant.

    The events per shift are chosen so that the total is exactly `total`. Events go out in time
    order, as a gateway forwarding every camera of the floor would send them; each carries a
    unique `event_id`. Returns `(bodies, sizes, latest_ms)`.
    """
    rng = random.Random(seed)
    upgrades = upgrade_days(rng, history_end_ms)
    all_shifts = shifts(history_end_ms)
    counts = events_per_shift(all_shifts, total)
    bodies, sizes, pending = [], [], []
    sequence = 0
    latest_ms = 0

    def flush(events):
        bodies.append(json.dumps({"events": events}, separators=(",", ":")).encode())
        sizes.append(len(events))

    # Shifts are taken in groups starting on the same day: their events interleave in time.
    for day_start in sorted({start - start % DAY_MS for start, _, _ in all_shifts}):
        day = []
        for (start, end, worker), count in zip(all_shifts, counts):
            if start - start % DAY_MS == day_start:
                day.extend(shift_events(rng, worker, start, end, count, upgrades))
        day.sort(key=lambda pair: pair[1])
        for event, ts in day:
            sequence += 1
            event["event_id"] = f"bench-{sequence:08d}"
            pending.append(event)
            latest_ms = max(latest_ms, ts)
            if len(pending) == BATCH_SIZE:
                flush(pending)
                pending = []
    if pending:
        flush(pending)
    return bodies, sizes, latest_ms


# --- the server ------------------------------------------------------------------------------

class BenchServer:
    """The real server under gunicorn on a free port of 127.0.0.1, logging to a file.

    Like `tests.servers.Server`, but its output goes to a file rather than a pipe nobody reads
    (the access log of a benchmark would fill a pipe and stall the server).
    """

    def __init__(self, directory, workers):
        self.port = free_port()
        self.log_path = os.path.join(directory, "server.log")
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port),
                    "DATABASE_PATH": os.path.join(directory, "factory.db"), "SEED_IF_EMPTY": "0",
                    "INGEST_TOKEN": "", "WEB_CONCURRENCY": str(workers),
                    # A slow answer is measured rather than cut off by gunicorn's worker timeout.
                    "WEB_TIMEOUT": os.environ.get("WEB_TIMEOUT") or "600"}
        self.process = None

    def start(self, deadline_s=30):
        """Start gunicorn in its own process group and return once `/health` answers."""
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(GUNICORN, cwd=REPO_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if http_get(self.port, "/health", timeout=2)[0] == 200:
                    return self
            except OSError:
                time.sleep(0.05)  # not listening yet
        raise RuntimeError(f"server did not become healthy:\n{self.log_tail()}")

    def stop(self):
        """Stop gunicorn and its workers (the whole process group), killing them if they linger."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass

    def pids(self):
        """The gunicorn master and its worker processes."""
        master = self.process.pid
        return [master] + [pid for pid in _all_pids() if _parent_pid(pid) == master]

    def log_tail(self, lines=30):
        """The end of the server's log, for error messages."""
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""


def _all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent_pid(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # the process ended meanwhile


def memory_kb(pid, field):
    """`VmRSS` or `VmHWM` (peak RSS) of a process in kB; 0 when it has ended."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemoryMonitor(threading.Thread):
    """Polls the RSS of every server process until stopped; keeps the largest seen."""

    def __init__(self, server, interval_s=0.02):
        super().__init__(daemon=True)
        self.server = server
        self.interval_s = interval_s
        self.peak_process_kb = 0  # the largest single process
        self.peak_total_kb = 0  # all server processes together, at one instant
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            sizes = [memory_kb(pid, "VmRSS") for pid in self.server.pids()]
            self.peak_process_kb = max(self.peak_process_kb, *sizes)
            self.peak_total_kb = max(self.peak_total_kb, sum(sizes))
            self._done.wait(self.interval_s)

    def stop(self):
        self._done.set()
        self.join()


# --- HTTP clients ----------------------------------------------------------------------------

def http_get(port, path, timeout=600):
    """`(status, body bytes)` of a GET on 127.0.0.1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def quick_post(port, body):
    """`(status, body bytes)` of one `POST /events` on a new connection, with little client work.

    http.client costs about twice the client CPU per request, which on a small machine is taken
    from the server: here the request goes out in one send and the answer is read up to its
    `Content-Length` (or to the end of the connection when it has none).
    """
    request = (b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%b" % (len(body), body))
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the connection closed before the answer's headers")
            data += chunk
        head, _, answer = data.partition(b"\r\n\r\n")
        length = _content_length(head)
        while length is None or len(answer) < length:
            chunk = sock.recv(65536)
            if not chunk:
                if length is not None:
                    raise ConnectionError("the connection closed before the answer's body")
                break
            answer += chunk
    return int(head.split(None, 2)[1]), answer


def _content_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return None


class Outcome:
    """What clients saw from `started` to `ended` (monotonic instants): requests, errors (with a
    few examples) and answers saying 'database is locked'."""

    def __init__(self, started):
        self.requests = 0
        self.errors = 0
        self.locked = 0
        self.examples = []
        self.started = started
        self.ended = 0.0

    def record(self, ok, status, body):
        self.requests += 1
        if b"database is locked" in body:
            self.locked += 1
        if not ok:
            self.errors += 1
            if len(self.examples) < 3:
                self.examples.append(f"{status}: {body[:200].decode(errors='replace')}")

    def record_failure(self, problem):
        self.requests += 1
        self.errors += 1
        if len(self.examples) < 3:
            self.examples.append(repr(problem))

    def merge(self, other):
        self.requests += other.requests
        self.errors += other.errors
        self.locked += other.locked
        self.examples += other.examples[:3 - len(self.examples)]
        self.started = min(self.started, other.started)
        self.ended = max(self.ended, other.ended)


def wait_until(start):
    """Sleep until the monotonic instant `start` (the same clock in every process)."""
    while time.monotonic() < start:
        time.sleep(0.001)


def post_batches(port, bodies, sizes, first, step, start):
    """Client process: from `start`, post every `step`-th batch from `first`; each must be fully
    accepted (`201` and `accepted` equal to the batch's size)."""
    wait_until(start)
    outcome = Outcome(start)
    for index in range(first, len(bodies), step):
        try:
            status, body = quick_post(port, bodies[index])
        except (OSError, ValueError) as problem:
            outcome.record_failure(problem)
            continue
        ok = status == 201 and orjson.loads(body).get("accepted") == sizes[index]
        outcome.record(ok, status, body)
    outcome.ended = time.monotonic()
    return outcome


def post_singles(port, client, start, end):
    """Client process: from `start` until `end`, post new events one per request."""
    rng = random.Random(client)
    wait_until(start)
    outcome = Outcome(start)
    number = 0
    while time.monotonic() < end:
        number += 1
        worker = rng.randrange(FLOOR_WORKERS)
        station = station_of(worker)
        kind = rng.choice(("working", "idle", "absent", "product_count"))
        event = {"timestamp": iso(time.time_ns() // 1_000_000), "worker_id": f"W-{worker + 1:03d}",
                 "workstation_id": f"S-{station + 1:02d}", "event_type": kind,
                 "confidence": round(rng.uniform(0.6, 0.99), 2), "event_id": f"single-{client}-{number}",
                 "model_version": MODELS[1], "site_id": site_of(station)}
        if kind == "product_count":
            event["count"] = rng.randint(1, 3)
        try:
            status, body = quick_post(port, json.dumps(event).encode())
        except (OSError, ValueError) as problem:
            outcome.record_failure(problem)
            continue
        outcome.record(status == 201 and orjson.loads(body).get("accepted") == 1, status, body)
    outcome.ended = time.monotonic()
    return outcome


def run_clients(target, tasks):
    """Run `target(*task)` in one forked process per task at once; return their `Outcome`s merged.

    Forked, the processes share the parent's batches without copying them. They are plain
    processes, each answering through its own pipe, so that on Ctrl-C, a kill or a crash the
    parent simply terminates them: no pool machinery is left half-locked.
    """
    context = multiprocessing.get_context("fork")
    processes, pipes = [], []
    try:
        for task in tasks:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_client_main, args=(target, task, sender), daemon=True)
            process.start()
            sender.close()
            processes.append(process)
            pipes.append(receiver)
        total = Outcome(float("inf"))
        for receiver in pipes:
            try:
                total.merge(receiver.recv())
            except EOFError:
                raise RuntimeError("a client process ended without an answer") from None
        return total
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


def _client_main(target, task, sender):
    # Ctrl-C reaches the whole terminal's process group: the parent handles it and ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sender.send(target(*task))
    sender.close()


# --- the measurements ------------------------------------------------------------------------

def measure_ingestion(server, bodies, sizes, clients):
    """Post every batch with `clients` processes at once: `(events/s, seconds, Outcome)`."""
    start = time.monotonic() + CLIENT_START_DELAY_S
    outcome = run_clients(post_batches, [(server.port, bodies, sizes, first, clients, start)
                                         for first in range(clients)])
    seconds = outcome.ended - outcome.started
    return sum(sizes) / seconds, seconds, outcome


def measure_singles(server, clients, seconds):
    """Post single events from `clients` processes for `seconds`: `(requests/s, Outcome)`."""
    start = time.monotonic() + CLIENT_START_DELAY_S
    outcome = run_clients(post_singles, [(server.port, client, start, start + seconds)
                                         for client in range(clients)])
    return outcome.requests / (outcome.ended - outcome.started), outcome


def time_get(port, path, runs):
    """Median seconds of `runs` GETs of `path` after one warm-up, and the warm-up's JSON.

    A failing answer ends the runs: `(None, problem text)`.
    """
    times = []
    for run in range(runs + 1):
        started = time.perf_counter()
        try:
            status, body = http_get(port, path)
        except (OSError, http.client.HTTPException) as problem:
            return None, repr(problem)
        if status != 200:
            return None, f"{status}: {body[:200].decode(errors='replace')}"
        if run == 0:
            warm_up = json.loads(body)
        else:
            times.append(time.perf_counter() - started)
    return statistics.median(times), warm_up


def measure_metrics(server, latest_ms, runs):
    """Median time of each metrics request, whole window and the last 8 hours of the history.

    Returns `({(path, window): seconds or None}, {(path, window): warm-up JSON or problem})`.
    """
    window = f"?from={iso(latest_ms - SHIFT_MS)}&to={iso(latest_ms)}"
    medians, answers = {}, {}
    for label, query in (("whole", ""), ("8h", window)):
        for path in METRICS_PATHS:
            medians[path, label], answers[path, label] = time_get(server.port, path + query, runs)
    return medians, answers


# --- the report ------------------------------------------------------------------------------

def row(figure, target, result, meets):
    """One line of the results table."""
    return {"figure": figure, "target": target, "result": result, "meets_target": "yes" if meets else "no"}


def results_table(cfg, ingest, singles, metrics, memory):
    """Every figure of issue 5 beside its target."""
    rate, _seconds, batch = ingest
    single_rate, single = singles
    medians, answers = metrics
    peak_metrics_mb, peak_run_mb = memory
    rows = [row(f"batch ingestion, {BATCH_SIZE:,} events/request, {cfg['clients']} clients",
                f">= {TARGET_BATCH_EVENTS_PER_S:,} events/s",
                f"{rate:,.0f} events/s, {batch.errors} errors",
                rate >= TARGET_BATCH_EVENTS_PER_S and batch.errors == 0),
            row(f"single-event POSTs, {cfg['clients']} clients",
                f">= {TARGET_SINGLE_REQUESTS_PER_S:,} req/s, 0 errors",
                f"{single_rate:,.0f} req/s, {single.errors} errors, {single.locked} locked",
                single_rate >= TARGET_SINGLE_REQUESTS_PER_S and single.errors == 0 and single.locked == 0)]
    for label, name, target, unit in (("whole", "whole window", TARGET_WHOLE_WINDOW_S, "s"),
                                      ("8h", "8-hour window", TARGET_WINDOW_8H_S, "ms")):
        for path in METRICS_PATHS:
            seconds = medians[path, label]
            result = in_unit(seconds, unit) if seconds is not None else f"failed: {answers[path, label]}"
            rows.append(row(f"{path}, {name}", f"<= {target * UNITS[unit]:g} {unit}", result,
                            seconds is not None and seconds <= target))
    rows.append(row("server RSS while answering metrics (largest process)", f"< {TARGET_RSS_MB} MB",
                    f"{peak_metrics_mb:.0f} MB", peak_metrics_mb < TARGET_RSS_MB))
    rows.append(row("server peak RSS over the whole run (largest process, VmHWM)", f"< {TARGET_RSS_MB} MB",
                    f"{peak_run_mb:.0f} MB", peak_run_mb < TARGET_RSS_MB))
    return rows


UNITS = {"s": 1, "ms": 1000}


def in_unit(seconds, unit):
    """A duration in seconds (`0.412 s`) or milliseconds (`12.3 ms`)."""
    return f"{seconds:.3f} s" if unit == "s" else f"{seconds * 1000:.1f} ms"


def print_table(rows):
    """The table in Markdown, so it can be pasted into the README as it is."""
    headers = {"figure": "figure", "target": "target", "result": "result", "meets_target": "meets target"}
    widths = {key: max(len(headers[key]), *(len(r[key]) for r in rows)) for key in headers}

    def line(values):
        return "| " + " | ".join(values[key].ljust(widths[key]) for key in headers) + " |"

    print(line(headers))
    print("|" + "|".join("-" * (widths[key] + 2) for key in headers) + "|")
    for values in rows:
        print(line(values))


def say(text):
    """Progress on stderr, so stdout holds the results alone."""
    print(text, file=sys.stderr, flush=True)


# --- the run ---------------------------------------------------------------------------------

def run(cfg, directory):
    """Generate, start the server, measure every figure; return the report as a dict."""
    machine = machine_info()
    history_end_ms = time.time_ns() // 1_000_000 - HISTORY_END_MARGIN_MS
    say(f"generating {cfg['events']:,} events ...")
    started = time.monotonic()
    bodies, sizes, latest_ms = history_batches(cfg["events"], cfg["seed"], history_end_ms)
    say(f"  {len(bodies):,} batches, {sum(map(len, bodies)) / 1e6:.0f} MB of JSON, "
        f"{time.monotonic() - started:.1f} s; history ends {iso(latest_ms)}")

    server = BenchServer(directory, cfg["server_workers"])
    try:
        server.start()
        say(f"server: gunicorn, {cfg['server_workers']} workers, 127.0.0.1:{server.port}")

        say("batch ingestion ...")
        ingest = measure_ingestion(server, bodies, sizes, cfg["clients"])
        say(f"  {ingest[1]:.1f} s")
        del bodies[:]  # a few hundred MB the remaining phases do not need

        say("metrics ...")
        monitor = MemoryMonitor(server)
        monitor.start()
        try:
            metrics = measure_metrics(server, latest_ms, cfg["runs"])
        finally:
            monitor.stop()
        stored = check_stored(metrics[1], cfg["events"])

        say(f"single-event POSTs for {cfg['single_seconds']} s ...")
        singles = measure_singles(server, cfg["clients"], cfg["single_seconds"])
        peak_run_kb = max(memory_kb(pid, "VmHWM") for pid in server.pids())
    finally:
        server.stop()

    memory = (monitor.peak_process_kb / 1024, peak_run_kb / 1024)
    rows = results_table(cfg, ingest, singles, metrics, memory)
    problems = [f"batch ingestion: {e}" for e in ingest[2].examples] + \
               [f"single-event POSTs: {e}" for e in singles[1].examples] + stored
    return {"machine": machine,
            "sizes": {"events": cfg["events"], "workers": FLOOR_WORKERS, "workstations": STATIONS,
                      "days": DAYS, "batch_size": BATCH_SIZE, "batches": len(sizes),
                      "gunicorn_workers": cfg["server_workers"], "client_processes": cfg["clients"],
                      "single_event_seconds": cfg["single_seconds"], "metrics_runs": cfg["runs"],
                      "window_8h": [iso(latest_ms - SHIFT_MS), iso(latest_ms)]},
            "server_rss_all_processes_mb": round(monitor.peak_total_kb / 1024),
            "results": rows, "problems": problems}


def check_stored(answers, expected):
    """The factory's whole-window event count must be the number of events sent."""
    factory = answers.get(("/metrics/factory", "whole"))
    if not isinstance(factory, dict):
        return []
    count = factory.get("factory", {}).get("event_count")
    return [] if count == expected else [f"/metrics/factory counts {count} events, {expected} were sent"]


def print_report(report):
    """Machine, sizes, the table, and any problem seen."""
    machine, sizes = report["machine"], report["sizes"]
    print(f"machine: {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}, "
          f"SQLite {machine['sqlite']}, {machine['system']}; load average {machine['load_average_1min']} "
          f"at the start")
    print(f"history: {sizes['events']:,} events, {sizes['workers']} workers, {sizes['workstations']} "
          f"workstations, {sizes['days']} days, 2 sites, 2 model versions; {sizes['batches']:,} batches "
          f"of {sizes['batch_size']:,}")
    print(f"server: gunicorn with {sizes['gunicorn_workers']} workers; clients: "
          f"{sizes['client_processes']} processes; metrics: median of {sizes['metrics_runs']} runs "
          f"after a warm-up; 8-hour window {sizes['window_8h'][0]} to {sizes['window_8h'][1]}")
    print()
    print_table(report["results"])
    print()
    print(f"server RSS of all processes together, peak while answering metrics: "
          f"{report['server_rss_all_processes_mb']} MB")
    for problem in report["problems"]:
        print(f"problem: {problem}")


def main():
    cfg = settings()
    # A `kill` of the benchmark stops everything it started, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with tempfile.TemporaryDirectory(prefix="factory-bench-") as directory:
            report = run(cfg, directory)
    except KeyboardInterrupt:
        say("interrupted; the server is stopped")
        return 130
    except RuntimeError as failure:
        say(f"benchmark failed: {failure}")
        return 1
    print_report(report)
    if cfg["json_path"]:
        with open(cfg["json_path"], "w") as out:
            json.dump(report, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
