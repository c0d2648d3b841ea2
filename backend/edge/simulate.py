"""Play a floor of cameras through the edge client, from now on, for demos and load.

    python -m backend.edge.simulate --url http://127.0.0.1:5000 --cameras 12
    python -m backend.edge.simulate --url http://127.0.0.1:5000 --cameras 12 --speed 60
    python -m backend.edge.simulate --mqtt 127.0.0.1:1883 --cameras 12 --speed 60

Each camera watches one worker through a shift of `--minutes` (default 480) that starts when the
simulator starts: arrival, spells of work and idle time, breaks, absences, a hand at a
neighbour's station, product counts, two sites, two model versions. Every event is stamped with
the real time at which it is played: `--speed 1` (the default) plays the floor in real time,
`--speed 60` a minute of it a second, `--speed 0` all at once. The edge client sends each
worker's state again every `--heartbeat-seconds` (default `$HEARTBEAT_SECONDS` or 120), so the
server never takes a steady camera for a silent one. `--max-seconds` ends the run early, with
exit status 0; what was not sent yet stays in the outbox.

Events go through the outbox, so the simulator can be stopped and started again with the same
`--outbox`: the floor goes on from where it was, from the moment it starts again, sending
nothing twice.
"""

import argparse
import json
import logging
import os
import random
import sys
import time

from .. import calendars, seed
from ..timeutil import format_instant
from .client import HEARTBEAT_SECONDS, EdgeClient
from .outbox import Outbox

MINUTE_MS = 60_000
SITES = ("plant-north", "plant-south")
# Planned breaks: (minute into the shift, minutes long).
BREAKS = ((120, 15), (240, 30), (360, 15))
# Everyone has left this long before the floor's end.
CLOSING_MS = 10 * MINUTE_MS
# The rhythm of work at every simulated station (see `seed.Station`).
RHYTHM = seed.Station("SIM", "Simulated station", None, None, (150, 420), 0.5, (2, 7))


def floor_events(cameras, run_seed=1, minutes=480):
    """What `cameras` cameras see in a shift of `minutes`, as `(offset_ms, event)` pairs, oldest
    first (pure).

    `offset_ms` is floor time from the shift's start; `run` stamps each event with the real time
    it is played at. Only changes are planned (of state, of station, product counts): the edge
    client repeats a steady state as its heartbeat. The same `run_seed` plans the same events,
    with the same `event_id`s.
    """
    length_ms = minutes * MINUTE_MS
    end_ms = max(MINUTE_MS, length_ms - CLOSING_MS)
    breaks = [(at * MINUTE_MS, (at + span) * MINUTE_MS) for at, span in BREAKS if (at + span) * MINUTE_MS < end_ms]
    shift = calendars.ShiftInstance("Simulated", "", 0, end_ms, breaks, [])
    planned = []
    for n in range(cameras):
        rng = random.Random(run_seed * 100_003 + n)
        home = f"SIM-S{n:03d}"
        neighbour = f"SIM-S{(n + 2) % cameras:03d}" if cameras > 2 else home
        states, stations = seed.Timeline("absent"), seed.Timeline(home)
        seed.plan_shift(rng, shift, RHYTHM, neighbour, home, states, stations)
        seen = []
        for start_ms, stop_ms, state, station in seed.segments(states, stations, 0, length_ms):
            seen.append((start_ms, _event(rng, n, station, state)))
            if state == "working":
                for at_ms, count in seed.unit_counts(rng, start_ms, stop_ms, RHYTHM.cycle_s):
                    seen.append((at_ms, {**_event(rng, n, station, "product_count"), "count": count}))
        seen.sort(key=lambda pair: pair[0])
        for k, (offset_ms, event) in enumerate(seen):
            event["event_id"] = f"sim{run_seed}-{n:03d}-{k:05d}"
            planned.append((offset_ms, event))
    planned.sort(key=lambda pair: (pair[0], pair[1]["event_id"]))
    return planned


def _event(rng, n, station, event_type):
    site = SITES[n % 2]
    confidence = rng.uniform(0.4, 0.6) if rng.random() < 0.04 else rng.uniform(0.75, 0.98)
    return {"worker_id": f"SIM-W{n:03d}", "workstation_id": station, "event_type": event_type,
            "confidence": round(confidence, 2), "site_id": site,
            "model_version": seed.NEW_MODEL if site == "plant-north" else seed.OLD_MODEL}


def run(args, clock=None, monotonic=time.monotonic, sleep=time.sleep):
    """Play the floor from now on; returns the summary printed at the end.

    `clock` (epoch milliseconds, default the wall clock) stamps the events and times the
    heartbeats; `monotonic` and `sleep` pace the play.
    """
    clock = clock or _wall_clock_ms
    outbox = Outbox(args.outbox, device_id=f"sim{args.seed}")
    client = EdgeClient(args.url, outbox, token=args.token, batch_size=args.batch_size,
                        backoff_max=args.backoff_max, rng=random.Random(args.seed), sleep=sleep,
                        heartbeat_seconds=args.heartbeat_seconds, clock=clock, mqtt_url=args.mqtt)
    planned = floor_events(args.cameras, args.seed, args.minutes)
    # Floor time up to `played_ms` was handed to the outbox by an earlier run.
    played_ms = int(outbox.get_meta("sim_progress_ms") or -1)
    remaining = [(offset_ms, event) for offset_ms, event in planned if offset_ms > played_ms]
    resume_ms = max(played_ms, 0)  # floor time that plays at `began_ms`, real time
    began_ms, started = clock(), monotonic()
    if played_ms >= 0:
        # Back after a stop: the cameras say at once what they see, as a heartbeat would.
        client.send([{**event, "timestamp": format_instant(began_ms)}
                     for event in _states_at([pair for pair in planned if pair[0] <= played_ms])])

    def stamp(offset_ms):
        if not args.speed:
            return clock()
        return min(clock(), began_ms + round((offset_ms - resume_ms) / args.speed))

    stopped = False
    while True:
        elapsed = monotonic() - started
        if args.max_seconds is not None and elapsed >= args.max_seconds:
            stopped = True
            break
        floor_ms = resume_ms + elapsed * 1000 * args.speed if args.speed else float("inf")
        due = 0
        while due < len(remaining) and remaining[due][0] <= floor_ms:
            due += 1
        if due:
            client.send([{**event, "timestamp": format_instant(stamp(offset_ms))}
                         for offset_ms, event in remaining[:due]])
            outbox.set_meta("sim_progress_ms", remaining[due - 1][0])
            remaining = remaining[due:]
        client.heartbeat()
        result = client.flush(max_failures=1)
        if not remaining and result.pending == 0:
            break
        if result.failures:
            logging.warning("edge: %s; %d events wait in the outbox", result.last_error, result.pending)
            sleep(client.backoff_delay())
        else:
            sleep(_pause(remaining, floor_ms, args, client, clock(), elapsed))
    counts = outbox.counts()
    summary = {"generated": len(planned), "left_to_play": len(remaining), **counts,
               "done": not remaining and counts["pending"] == 0, "stopped_at_max_seconds": stopped}
    client.close()
    outbox.close()
    return summary


def _pause(remaining, floor_ms, args, client, now_ms, elapsed):
    """Seconds to wait: until the next event is due, the next heartbeat, or the end, at most 1 s."""
    waits = [1.0]
    if remaining and args.speed:
        waits.append((remaining[0][0] - floor_ms) / 1000 / args.speed)
    heartbeat_ms = client.next_heartbeat_ms()
    if heartbeat_ms is not None:
        waits.append((heartbeat_ms - now_ms) / 1000)
    if args.max_seconds is not None:
        waits.append(args.max_seconds - elapsed)
    return max(0.01, min(waits))


def _states_at(played):
    """Each worker's latest state event among `played` (`(offset_ms, event)` pairs, in order),
    without its `event_id`."""
    latest = {}
    for _offset_ms, event in played:
        if event["event_type"] != "product_count":
            latest[event["worker_id"]] = {key: value for key, value in event.items() if key != "event_id"}
    return list(latest.values())


def _wall_clock_ms():
    return time.time_ns() // 1_000_000


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m backend.edge.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="the API's base URL")
    parser.add_argument("--cameras", type=int, default=6, help="cameras, one worker each")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="floor seconds played per real second (1 = real time); 0 = no waiting")
    parser.add_argument("--minutes", type=int, default=480, help="how long the shift lasts, in floor minutes")
    parser.add_argument("--outbox", default="data/edge-outbox.db", help="the client's SQLite outbox")
    parser.add_argument("--token", help="INGEST_TOKEN of the server")
    parser.add_argument("--mqtt", default=os.environ.get("EDGE_MQTT_URL") or None, metavar="HOST:PORT",
                        help="publish to this MQTT broker (mqtt://user:password@host:port, mqtts:// for TLS) "
                             "instead of posting to --url; default $EDGE_MQTT_URL")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1, help="which floor: the same seed plays the same events")
    parser.add_argument("--backoff-max", type=float, default=30.0, help="longest wait between retries (s)")
    parser.add_argument("--heartbeat-seconds", type=float,
                        # A string default is read as if given here: a bad $HEARTBEAT_SECONDS is a usage error.
                        default=os.environ.get("HEARTBEAT_SECONDS") or HEARTBEAT_SECONDS,
                        help="send each worker's state again after this long without a new one; 0 = never "
                             "(default $HEARTBEAT_SECONDS or %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop after this long (real seconds), with exit status 0; "
                             "default: when the shift is played")
    return parser.parse_args(argv)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    summary = run(args)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
