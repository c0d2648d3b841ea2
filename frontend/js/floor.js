// The floor at this moment, from the API's figures for a window that ends now: what each worker
// is doing and since when, what each station is (working, idle, no signal, unstaffed in planned
// time, off shift), its units against target, and the open alerts. Pure: `now` is passed in.
// The "needs attention" list and the board both read it.

import { pace } from "./format.js";
import { governingInstance, breakAt, plannedMs } from "./shifts.js";
import { mergeIntervals } from "./timeline.js";
import { MINUTE_MS } from "./time.js";

// Open alerts by what needs someone first (SPEC §8: idle for long, no signal, a station
// unstaffed), then the rest; the newest first within a kind.
const URGENCY = ["worker_idle", "no_signal", "station_unstaffed", "pace_below", "drift"];
const urgency = (alert) => {
  const rank = URGENCY.indexOf(alert.kind);
  return rank < 0 ? URGENCY.length : rank;
};

// A worker silent for longer than this is gone for the day, not a camera to look at.
const SILENT_FOR_LONG_MS = 24 * 60 * 60 * 1000;
const PRESENT = new Set(["working", "idle", "unknown"]);

/** Whether someone was working or idle in an interval, or in part of a `mixed` band. */
function staffedIn(interval) {
  if (interval.state === "mixed") return Boolean(interval.split && (interval.split.working || interval.split.idle));
  return interval.state === "working" || interval.state === "idle";
}

/** When the spell in `state` that ends the worker's timeline began (epoch ms), or null. */
function spellStart(intervals, state) {
  let since = null;
  const merged = mergeIntervals(intervals || []);
  for (let i = merged.length - 1; i >= 0; i -= 1) {
    const interval = merged[i];
    if (interval.state !== state) break;
    if (since !== null && Date.parse(interval.to) !== since) break; // a gap: planned time paused
    since = Date.parse(interval.from);
  }
  return since;
}

/**
 * The floor now.
 * `input`: {now, windowFrom (epoch ms: where the figures start), workers (metrics items with
 * state_at_end), timeline (GET /metrics/timeline body or null), stations (metrics items: the
 * stations in scope), stationSites (Map id → site_id), running (running shift instances, or null
 * when the server has no shift calendar), calendars, alerts (open alerts, or null)}.
 * Returns {workers: [...], stations: [...], alerts, calendarKnown}.
 */
export function floorNow(input) {
  const { now, windowFrom, workers, timeline, stations, stationSites, running, calendars, alerts } = input;
  const intervals = new Map(((timeline && timeline.workers) || []).map((w) => [w.worker_id, w.intervals || []]));
  const calendarKnown = Array.isArray(running);

  const people = (workers || []).filter((w) => w.state_at_end).map((w) => {
    const state = w.state_at_end;
    const lastSeen = w.last_seen ? Date.parse(w.last_seen) : null;
    const since = state === "unknown" ? lastSeen : spellStart(intervals.get(w.worker_id), state);
    return {
      worker_id: w.worker_id, name: w.name || w.worker_id, state, station: w.current_workstation_id,
      since: since ?? windowFrom, lastSeen, lastState: w.last_state,
    };
  });

  // When someone was last working or idle at each station, across the window.
  const lastStaffed = new Map();
  for (const list of intervals.values()) {
    for (const interval of list) {
      if (!staffedIn(interval)) continue;
      const to = Date.parse(interval.to);
      if (!(lastStaffed.get(interval.workstation_id) >= to)) lastStaffed.set(interval.workstation_id, to);
    }
  }

  // An alert about a station or a worker of another site is not this scope's; model versions
  // belong to every site. The alert's detail says what its subject is (SPEC §9).
  const inScope = new Set((stations || []).map((s) => s.workstation_id));
  const workersInScope = new Set((workers || []).map((w) => w.worker_id));
  const ours = (alert) => {
    const kind = alert.detail && alert.detail.subject_kind;
    if (kind === "worker") return workersInScope.has(alert.subject);
    if (kind === "workstation") return inScope.has(alert.subject);
    return kind === "model_version" || inScope.has(alert.subject) || !stationSites.has(alert.subject);
  };
  const openAlerts = (alerts || []).filter(ours)
    .sort((a, b) => urgency(a) - urgency(b)); // stable: the API's newest first within a kind
  const stationOfWorker = new Map(people.map((p) => [p.worker_id, p.station]));
  const floorStations = (stations || []).map((item) => {
    const id = item.workstation_id;
    const site = stationSites.get(id) ?? item.site_id ?? null;
    // At the station: working, idle, or silent since; not one seen leaving (absent) before the
    // camera fell silent.
    const here = people.filter((p) => p.station === id && PRESENT.has(p.state) && !(p.state === "unknown" && p.lastState === "absent"));
    const instance = calendarKnown ? governingInstance(running, site, calendars) : null;
    const pause = instance ? breakAt(instance, calendars, now) : null;
    const planned = calendarKnown ? Boolean(instance) && !pause : null;
    let state;
    if (here.some((p) => p.state === "working")) state = "working";
    else if (here.some((p) => p.state === "idle")) state = "idle";
    else if (here.length) state = "unknown";
    else state = planned === true ? "unstaffed" : planned === false ? "off" : "empty";
    const figures = (instance && (instance.workstations || []).find((s) => s.workstation_id === id)) || item;
    // Empty since someone last was here, or since its shift (or the window) began.
    const began = instance ? Math.max(Date.parse(instance.start), windowFrom) : windowFrom;
    const staffed = lastStaffed.get(id);
    const staffedUntil = staffed !== undefined && staffed > began ? staffed : undefined;
    // Nobody here since someone last was, or since the window began.
    const emptySince = here.length ? null : staffedUntil ?? began;
    return {
      workstation_id: id, name: item.name || id, site_id: site, state, planned, inBreak: Boolean(pause),
      breakEnd: pause ? pause.to : null,
      people: here.sort((a, b) => a.since - b.since),
      emptySince,
      emptySinceStart: !here.length && staffedUntil === undefined,
      // How long nobody has been here: in planned time when a shift governs the station (its
      // breaks left out), else since `emptySince`; to the minute, as it is shown, so a poll
      // within the same minute draws nothing new.
      emptyMs: emptySince === null ? null
        : Math.round((instance ? plannedMs(instance, calendars, emptySince, now) : now - emptySince) / MINUTE_MS) * MINUTE_MS,
      // Nobody here since before the break under way: still unstaffed when work resumes.
      emptyIntoBreak: Boolean(pause) && emptySince !== null && emptySince < pause.from,
      instance,
      units: figures.units ?? 0,
      target: figures.target_units ?? null,
      targetPerHour: figures.target_units_per_hour ?? null,
      attainment: figures.attainment_pct ?? null,
      pace: pace(figures.units ?? 0, figures.target_units ?? null),
      alerts: openAlerts.filter((a) => a.subject === id || stationOfWorker.get(a.subject) === id),
    };
  });
  // Stations in a shift under way, in a break of it too: a camera that falls silent there is one to look at.
  const shiftStations = new Set(floorStations.filter((s) => s.planned || s.inBreak).map((s) => s.workstation_id));

  return {
    now,
    calendarKnown,
    alerts: alerts ? openAlerts : null,
    workers: people,
    stations: floorStations,
    /**
     * Whether a silent camera matters now: the worker's station is in a shift under way (in its
     * planned time or a break); without a calendar, the worker was heard from lately and was not
     * last seen leaving (absent).
     */
    matters: (worker) => (calendarKnown
      ? shiftStations.has(worker.station)
      : worker.lastSeen !== null && now - worker.lastSeen < SILENT_FOR_LONG_MS && worker.lastState !== "absent"),
  };
}

/**
 * What needs someone now, most urgent kind first: open alerts, workers idle (longest first),
 * workers whose camera went silent, stations unstaffed in planned time (longest in planned time
 * first; in a break, those nobody was at before it).
 */
export function attentionItems(floor) {
  const stationName = new Map(floor.stations.map((s) => [s.workstation_id, s.name]));
  const items = [];
  for (const alert of floor.alerts || []) items.push({ kind: "alert", alert, since: Date.parse(alert.opened_at) });
  for (const worker of floor.workers.filter((w) => w.state === "idle").sort((a, b) => a.since - b.since)) {
    items.push({ kind: "idle", worker, stationName: stationName.get(worker.station) || worker.station, since: worker.since });
  }
  for (const worker of floor.workers.filter((w) => w.state === "unknown" && floor.matters(w)).sort((a, b) => a.since - b.since)) {
    items.push({ kind: "unknown", worker, stationName: stationName.get(worker.station) || worker.station, since: worker.since });
  }
  const unstaffed = floor.stations.filter((s) => s.state === "unstaffed" || s.emptyIntoBreak);
  for (const station of unstaffed.sort((a, b) => b.emptyMs - a.emptyMs || a.emptySince - b.emptySince)) {
    items.push({ kind: "unstaffed", station, since: station.emptySince });
  }
  return items;
}
