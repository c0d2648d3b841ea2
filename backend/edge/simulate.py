"""Play a floor of cameras through the edge client, at a chosen speed, for demos and load.

    python -m backend.edge.simulate --url http://127.0.0.1:5000 --cameras 12 --speed 60

Each camera watches one worker for an 8-hour shift (breaks, idle spells, station changes,
product counts, two sites, two model versions). The shift ends now unless `--start` says
otherwise; `--speed 60` plays a minute a second, `--speed 0` as fast as the server takes it.
Events go through the outbox, so the simulator can be stopped and started again with the same
`--outbox` and resumes where it was, sending nothing twice.
"""

import argparse
import json
import logging
import random
import sys
import time

from .. import seed
from ..timeutil import format_instant, parse_instant
from .client import EdgeClient
from .outbox import Outbox

MINUTE_MS = 60_000
SITES = ("plant-north", "plant-south")


def floor_events(cameras, start_ms, run_seed=1, minutes=480):
    """The events `cameras` cameras see in a shift from `start_ms`, oldest first (pure)."""
    site_of = {f"SIM-S{n:03d}": SITES[n % 2] for n in range(cameras)}
    events = []
    for n in range(cameras):
        rng = random.Random(run_seed * 100_003 + n)
        home = f"SIM-S{n:03d}"
        neighbour = f"SIM-S{(n + 2) % cameras:03d}" if cameras > 2 else home
        moves = [(rng.randint(250, 400), neighbour)] if rng.random() < 0.3 else []
        away_at = rng.randint(60, 420)
        interruptions = [(away_at, away_at + rng.randint(15, 45), "absent")] if rng.random() < 0.3 else []
        shift = seed.worker_shift(rng, f"SIM-W{n:03d}", home, moves, interruptions, start_ms, site_of)
        for k, event in enumerate(sorted(shift, key=lambda e: e["ts_ms"])):
            event["event_id"] = f"sim{run_seed}-{n:03d}-{k:05d}"
            events.append(event)
    end_ms = start_ms + minutes * MINUTE_MS
    events = [e for e in events if e["ts_ms"] <= end_ms]
    events.sort(key=lambda e: (e["ts_ms"], e["event_id"]))
    for event in events:
        event["timestamp"] = format_instant(event.pop("ts_ms"))
        if event["count"] is None:
            del event["count"]
    return events


def run(args, now_ms=None, monotonic=time.monotonic, sleep=time.sleep):
    """Play the floor; returns the summary printed at the end."""
    outbox = Outbox(args.outbox, device_id=f"sim{args.seed}")
    client = EdgeClient(args.url, outbox, token=args.token, batch_size=args.batch_size,
                        backoff_max=args.backoff_max, rng=random.Random(args.seed), sleep=sleep)
    now_ms = now_ms or time.time_ns() // 1_000_000
    start_ms = _start(outbox, args, now_ms)
    events = floor_events(args.cameras, start_ms, args.seed, args.minutes)
    # Everything at or before `progress_ms` is already in the outbox.
    progress_ms = int(outbox.get_meta("sim_progress_ms") or start_ms - 1)
    remaining = [e for e in events if parse_instant(e["timestamp"]) > progress_ms]
    wall_start = monotonic()
    deadline = wall_start + args.max_seconds
    while monotonic() < deadline:
        played = progress_ms + (monotonic() - wall_start) * args.speed * 1000 if args.speed else float("inf")
        sim_now = min(played, time.time_ns() // 1_000_000)  # never ahead of the real clock
        due = [e for e in remaining if parse_instant(e["timestamp"]) <= sim_now]
        if due:
            client.send(due)
            remaining = remaining[len(due):]
            outbox.set_meta("sim_progress_ms", parse_instant(due[-1]["timestamp"]))
        result = client.flush(max_failures=1)
        if not remaining and result.pending == 0:
            break
        if result.failures:
            logging.warning("edge: %s; %d events wait in the outbox", result.last_error, result.pending)
            sleep(client.backoff_delay())
        elif remaining and not due:
            next_ms = parse_instant(remaining[0]["timestamp"])
            sleep(min(1.0, max(0.01, (next_ms - played) / 1000 / args.speed)))
    summary = {"generated": len(events), **outbox.counts(), "done": not remaining and outbox.counts()["pending"] == 0}
    outbox.close()
    return summary


def _start(outbox, args, now_ms):
    """The shift start: given, or kept in the outbox from an earlier run, or so it ends now."""
    if args.start:
        start_ms = parse_instant(args.start)
    else:
        kept = outbox.get_meta("sim_start_ms")
        start_ms = int(kept) if kept else now_ms - args.minutes * MINUTE_MS
    outbox.set_meta("sim_start_ms", start_ms)
    return start_ms


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m backend.edge.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="the API's base URL")
    parser.add_argument("--cameras", type=int, default=6, help="cameras, one worker each")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second; 0 = no waiting")
    parser.add_argument("--minutes", type=int, default=480, help="how much of the shift to play")
    parser.add_argument("--start", help="shift start (ISO-8601); default: the shift ends now")
    parser.add_argument("--outbox", default="data/edge-outbox.db", help="the client's SQLite outbox")
    parser.add_argument("--token", help="INGEST_TOKEN of the server")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1, help="which floor: the same seed plays the same events")
    parser.add_argument("--backoff-max", type=float, default=30.0, help="longest wait between retries (s)")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop after this long in any case")
    return parser.parse_args(argv)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    summary = run(args)
    print(json.dumps(summary), flush=True)
    return 0 if summary["done"] else 2


if __name__ == "__main__":
    sys.exit(main())
