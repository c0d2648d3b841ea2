// Shifts as the API gives them (GET /metrics/shifts, /calendar, /sites): which one is running,
// which came before, the windows of the "this shift" and "previous shift" presets, and whether
// a running shift is in a break. Pure functions: the current time is passed in.

import { wallToInstant, dayLabel, hourMinute, sameDay, isValidTimeZone, DAY_MS } from "./time.js";

/**
 * The calendars the page knows: `{factoryZone, factoryShifts, sites: Map(site_id → {name,
 * time_zone, shifts})}` from GET /calendar and GET /sites (either may be null) and the
 * factory zone of GET /settings.
 */
export function readCalendars(calendar, sites, settingsZone) {
  const factoryZone = [calendar && calendar.time_zone, settingsZone].find(isValidTimeZone) || "UTC";
  const map = new Map();
  for (const site of (sites && sites.sites) || []) map.set(site.site_id, site);
  return { factoryZone, factoryShifts: (calendar && calendar.shifts) || [], sites: map };
}

/** The zone of `siteId` (its own, else the factory's); no site: the factory's. */
export function zoneOf(calendars, siteId) {
  const site = siteId ? calendars.sites.get(siteId) : null;
  return site && isValidTimeZone(site.time_zone) ? site.time_zone : calendars.factoryZone;
}

/** A site's name for people: its `name`, else its id. */
export function siteName(calendars, siteId) {
  const site = calendars.sites.get(siteId);
  return (site && site.name) || siteId;
}

/**
 * The instances that speak for `site`: with a site chosen, that site's own instances (or, when it
 * has none, the factory calendar's); otherwise all of them.
 */
export function scopeInstances(instances, site) {
  if (!instances) return [];
  if (!site) return instances;
  const own = instances.filter((i) => i.site_id === site);
  return own.length ? own : instances.filter((i) => i.site_id === null || i.site_id === undefined);
}

const startOf = (instance) => Date.parse(instance.start);
const endOf = (instance) => Date.parse(instance.end);

/** Whether `instance` runs at `now` (the API's status, or its start and end when it gives none). */
export function isRunning(instance, now) {
  if (instance.status) return instance.status === "running";
  return startOf(instance) <= now && now < endOf(instance);
}

function isDone(instance, now) {
  if (instance.status) return instance.status === "done";
  return endOf(instance) <= now;
}

/** The running instances, earliest start first. */
export function runningInstances(instances, now) {
  return instances.filter((i) => isRunning(i, now)).sort((a, b) => startOf(a) - startOf(b));
}

/** Of each calendar's done instances (one calendar per `site_id`), the one that ended last, earliest start first. */
export function previousOfEach(instances, now) {
  const last = new Map();
  for (const instance of instances) {
    const best = last.get(instance.site_id ?? null);
    if (isDone(instance, now) && (!best || endOf(instance) > endOf(best))) last.set(instance.site_id ?? null, instance);
  }
  return [...last.values()].sort((a, b) => startOf(a) - startOf(b));
}

/** The planned instance that starts next, or null. */
export function nextInstance(instances, now) {
  let best = null;
  for (const instance of instances) {
    if (!isRunning(instance, now) && !isDone(instance, now) && startOf(instance) > now && (!best || startOf(instance) < startOf(best))) best = instance;
  }
  return best;
}

/** "Early, Fri 27 Nov 06:00–14:00" in `timeZone`. */
export function instanceLabel(instance, timeZone) {
  const start = startOf(instance);
  const end = endOf(instance);
  const to = sameDay(start, end - 1, timeZone) ? hourMinute(end, timeZone) : `${dayLabel(end, timeZone)} ${hourMinute(end, timeZone)}`;
  return `${instance.shift}, ${dayLabel(start, timeZone)} ${hourMinute(start, timeZone)}–${to}`;
}

/**
 * The window of a shift preset at `now`: `{from, to, planned: true, shift, instances, note}`, or
 * null when the calendar gives no shift to show. Each station counts only its own site's shift
 * (`shift`, the API's parameter). "shift" is every running instance, from the earliest start up
 * to now (`current`; the previous shift when none runs, saying so); "prevshift" the instance that
 * ended last of each calendar, from the earliest of their starts to the last of their ends
 * (`previous`).
 */
export function shiftRange(range, instances, now) {
  const running = runningInstances(instances, now);
  if (range === "shift" && running.length) {
    return { from: Math.min(...running.map(startOf)), to: now, planned: true, shift: "current", instances: running, note: "" };
  }
  const previous = previousOfEach(instances, now);
  if (!previous.length) return null;
  const note = range === "shift" ? "No shift is running now: the previous shift." : "";
  return {
    from: Math.min(...previous.map(startOf)), to: Math.max(...previous.map(endOf)), planned: true, shift: "previous",
    instances: previous, note,
  };
}

function minutesOf(text) {
  const match = /^(\d{2}):(\d{2})$/.exec(text || "");
  return match ? Number(match[1]) * 60 + Number(match[2]) : null;
}

/** The wall-clock time `text` on the instance's date (or the next day) as an instant in `timeZone`. */
function onDate(date, text, nextDay, timeZone) {
  const [year, month, day] = date.split("-").map(Number);
  const minutes = minutesOf(text);
  const base = new Date(Date.UTC(year, month - 1, day) + (nextDay ? DAY_MS : 0));
  return wallToInstant({
    year: base.getUTCFullYear(), month: base.getUTCMonth() + 1, day: base.getUTCDate(),
    hour: Math.floor(minutes / 60), minute: minutes % 60,
  }, timeZone);
}

/** The definition of `instance`'s shift in the calendars, with its zone: {shift, timeZone} or null. */
function shiftDefinition(instance, calendars) {
  const site = instance.site_id ? calendars.sites.get(instance.site_id) : null;
  const shifts = site && site.shifts && site.shifts.length ? site.shifts : calendars.factoryShifts;
  const shift = (shifts || []).find((s) => s.name === instance.shift);
  return shift ? { shift, timeZone: zoneOf(calendars, instance.site_id) } : null;
}

/**
 * The break of `instance` in progress at `now` as `{from, to}` (epoch ms), or null. A break time
 * earlier than the shift's start lies on the next day, as the calendar defines it.
 */
export function breakAt(instance, calendars, now) {
  return breaksOf(instance, calendars).find((pause) => pause.from <= now && now < pause.to) || null;
}

/** The breaks of a shift instance, `{from, to}` in epoch ms. */
function breaksOf(instance, calendars) {
  const found = shiftDefinition(instance, calendars);
  if (!found || !instance.date) return [];
  const { shift, timeZone } = found;
  const start = minutesOf(shift.start);
  const pauses = [];
  for (const pause of shift.breaks || []) {
    const from = minutesOf(pause.start);
    const to = minutesOf(pause.end);
    if (from === null || to === null || start === null) continue;
    pauses.push({ from: onDate(instance.date, pause.start, from < start, timeZone), to: onDate(instance.date, pause.end, to < start, timeZone) });
  }
  return pauses;
}

/** The planned milliseconds of `[from, to)` in a shift instance: inside it, outside its breaks. */
export function plannedMs(instance, calendars, from, to) {
  const start = Math.max(from, Date.parse(instance.start));
  const end = Math.min(to, Date.parse(instance.end));
  let ms = Math.max(0, end - start);
  for (const pause of breaksOf(instance, calendars)) ms -= Math.max(0, Math.min(end, pause.to) - Math.max(start, pause.from));
  return ms;
}

/**
 * The running instance that governs a station of `siteId` at `now`: the site's own when the site
 * has its own shifts, else the factory calendar's; null when no shift runs for it.
 */
export function governingInstance(running, siteId, calendars) {
  const site = siteId ? calendars.sites.get(siteId) : null;
  const own = siteId ? running.find((i) => i.site_id === siteId) : null;
  if (own || (site && site.shifts && site.shifts.length)) return own || null;
  return running.find((i) => i.site_id === null || i.site_id === undefined) || (siteId ? null : running[0] || null);
}
