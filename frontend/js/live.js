// Loading what the page and the board need about the shifts and the floor right now. Every call
// goes through the API client (api.js); a route this server does not offer gives null, so the
// panels that need it hide instead of failing the page.

import { readCalendars, scopeInstances, runningInstances, previousOfEach, nextInstance, shiftRange, zoneOf } from "./shifts.js";
import { floorNow } from "./floor.js";
import { HOUR_MS, DAY_MS, iso } from "./time.js";

// How far around now the shift list is asked for: the running shift, the one before, the next.
const NEAR_BACK_MS = 30 * HOUR_MS;
const NEAR_AHEAD_MS = 18 * HOUR_MS;
// Looked further back only when a calendar had no shift end in the near range (a weekend, say),
// at most this often.
const FAR_BACK_MS = 8 * DAY_MS;
const FAR_REFRESH_MS = 10 * 60 * 1000;
// Without a running shift, "now" figures cover this much time up to now.
const NOW_WINDOW_MS = 8 * HOUR_MS;
// The floor's timeline is read for when each spell began, not drawn: asked at the finest resolution.
const FLOOR_WIDTH = 10_000;


/** Await `promise`; a 404 (the server does not offer this) gives null. */
export async function optional(promise) {
  try {
    return await promise;
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

const farCache = new Map(); // site → {at, instances}

/**
 * The calendars and the shift instances around `now` for `site` ("" = every site):
 * {calendars, offered (the server has GET /metrics/shifts), instances, running, previous (each
 * calendar's instance that ended last), next}.
 * `sites` and `calendar` are the bodies of GET /sites and GET /calendar when the caller has them
 * already (else they are fetched). The range asked for runs from hour to hour, so polls within an
 * hour ask the same question and an unchanged answer comes back as a 304.
 */
export async function loadShifts(api, { site, now, signal, settingsZone, sites, calendar }) {
  const from = Math.floor((now - NEAR_BACK_MS) / HOUR_MS) * HOUR_MS;
  const to = Math.ceil((now + NEAR_AHEAD_MS) / HOUR_MS) * HOUR_MS;
  const [calendarBody, siteList, near] = await Promise.all([
    calendar === undefined ? optional(api.calendar(signal)) : calendar,
    sites === undefined ? optional(api.sites(signal)) : sites,
    optional(api.shifts({ from: iso(from), to: iso(to), site_id: site }, signal)),
  ]);
  const calendars = readCalendars(calendarBody, siteList, settingsZone);
  if (!near) return { calendars, offered: false, planned: false, instances: [], running: [], previous: [], next: null };
  let instances = scopeInstances(near.shifts || [], site);
  let previous = previousOfEach(instances, now);
  if (!previous.length || previous.length < calendarsAround(instances, calendars, site).size) {
    const cached = farCache.get(site);
    if (!cached || now - cached.at > FAR_REFRESH_MS) {
      const far = await optional(api.shifts({ from: iso(now - FAR_BACK_MS), to: iso(now - NEAR_BACK_MS), site_id: site }, signal));
      farCache.set(site, { at: now, instances: scopeInstances((far && far.shifts) || [], site) });
    }
    instances = [...farCache.get(site).instances, ...instances];
    previous = previousOfEach(instances, now);
  }
  // Whether any calendar plans time at all: without one, nothing is "planned" or "unstaffed".
  const planned = calendars.factoryShifts.length > 0 || [...calendars.sites.values()].some((s) => s.shifts && s.shifts.length);
  return {
    calendars, offered: true, planned, instances,
    running: runningInstances(instances, now), previous, next: nextInstance(instances, now),
  };
}

/**
 * The calendars (by `site_id`, null for the factory's) whose last finished shift is looked for:
 * those with an instance near now, and, over every site, each site with a calendar of its own
 * (shifts or a zone other than the factory's, as GET /metrics/shifts lists them apart), though
 * none of its shifts lies near now.
 */
function calendarsAround(instances, calendars, site) {
  const keys = new Set(instances.map((i) => i.site_id ?? null));
  if (!site) {
    const factory = JSON.stringify([calendars.factoryZone, calendars.factoryShifts]);
    for (const [siteId, info] of calendars.sites) {
      const own = info.shifts ?? calendars.factoryShifts;
      if (own.length && JSON.stringify([zoneOf(calendars, siteId), own]) !== factory) keys.add(siteId);
    }
  }
  return keys;
}

/**
 * The metrics query of a resolved range (`{from, to, planned, shift}`, epoch ms) at `site`: the
 * page's figures and the floor now are asked alike, so one answer can serve both.
 */
export function rangeQuery(bounds, site) {
  const params = { from: iso(bounds.from), to: iso(bounds.to), site_id: site };
  if (bounds.planned) params.planned_only = "true";
  if (bounds.shift) params.shift = bounds.shift;
  return params;
}

/**
 * The query of the "now" figures: "this shift" while a shift runs (`shifts.shiftRange`), else the
 * last eight hours.
 */
export function nowQuery(shifts, site, now) {
  const bounds = shifts.running.length ? shiftRange("shift", shifts.instances, now) : { from: now - NOW_WINDOW_MS, to: now };
  return rangeQuery(bounds, site);
}

/** Whether two metrics queries ask for the same figures. */
export function sameQuery(a, b) {
  const clean = (q) => JSON.stringify(Object.entries(q || {}).filter(([, v]) => v !== "" && v !== null && v !== undefined).sort());
  return clean(a) === clean(b);
}

/**
 * The floor now (see floor.js) with the figures it was made from, in one request (GET
 * /metrics/dashboard with `sections=floor`). `reuse` is {query, body}: a dashboard answer the
 * caller has for a metrics query already, used when it is the same as the floor's.
 * `stationList` is the body of GET /workstations (for each station's site).
 */
export async function loadFloor(api, { shifts, site, now, signal, reuse, stationList }) {
  const query = nowQuery(shifts, site, now);
  const body = reuse && reuse.body && sameQuery(reuse.query, query)
    ? reuse.body
    : await api.dashboard({ ...query, sections: "floor", width: FLOOR_WIDTH }, signal);
  const workers = { window: body.window, workers: body.workers };
  const workstations = { window: body.window, workstations: body.workstations };
  const { timeline, alerts } = body;
  const stationSites = new Map(((stationList && stationList.workstations) || []).map((s) => [s.workstation_id, s.site_id ?? null]));
  const floor = floorNow({
    now,
    windowFrom: Date.parse(query.from),
    workers: workers.workers,
    timeline,
    stations: workstations.workstations,
    stationSites,
    running: shifts.planned ? shifts.running : null,
    calendars: shifts.calendars,
    alerts: alerts ? alerts.alerts.filter((a) => !a.closed_at) : null,
  });
  return { query, workers, workstations, timeline, alerts, floor };
}
