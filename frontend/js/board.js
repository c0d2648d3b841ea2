// The wall-screen board (`?view=board`): one tile per station with its state colour, who is
// there and for how long, units this shift against target with a pace mark, and open alerts on
// top. It lays itself out to fill the screen without scrolling and refreshes by itself.

import { el, replaceChildren, drawIfChanged, setText } from "./dom.js";
import * as fmt from "./format.js";
import { clock, hourMinute, isValidTimeZone } from "./time.js";
import { loadShifts, loadFloor, optional } from "./live.js";
import { zoneOf, siteName } from "./shifts.js";
import { ALERT_KINDS, alertText } from "./attention.js";

// The shape a tile is laid out for (width over height); the grid picks the column count whose
// tiles of this shape come out largest.
const TILE_ASPECT = 1.55;
// A tile has room for this many lines of people; more are one person and "+N more".
const PEOPLE_LINES = 2;
// A station's name too long for its tile keeps its last word when that tells stations apart: a
// number or a code of a letter or two ("Packaging 12", "Robot B", "Cell 3A"), not a word ("check").
const TELLS_APART = /^(?=.*\d).+$|^.{1,2}$/u;

/** Columns and rows for `count` tiles in a `width` x `height` area: the largest tiles of the set shape. */
export function boardGrid(count, width, height) {
  let best = { cols: 1, rows: Math.max(1, count), size: 0 };
  for (let cols = 1; cols <= Math.max(1, count); cols += 1) {
    const rows = Math.ceil(count / cols);
    const w = width / cols;
    const h = height / rows;
    const size = Math.min(w, h * TILE_ASPECT); // the width of the largest tile of that shape that fits
    if (size > best.size) best = { cols, rows, size };
  }
  return best;
}

/**
 * `name` shortened to fit `width` px as `measure(text)` draws it, keeping its last word when that
 * tells stations apart (`TELLS_APART`): "Packaging & pall… 12". `null` when it fits whole, or
 * when its last word is a plain word or there is too little room for it (the tile then ends it
 * in "…" as any text).
 */
export function keepLastWord(name, width, measure) {
  if (measure(name) <= width) return null;
  const space = name.trimEnd().lastIndexOf(" ");
  const word = name.slice(space + 1).trim();
  if (space <= 0 || !TELLS_APART.test(word)) return null;
  const shortened = (length) => `${name.slice(0, length).trimEnd()}… ${word}`;
  let low = 0;
  let high = space;
  while (low < high) { // the longest start of the name that fits with the word
    const middle = Math.ceil((low + high) / 2);
    if (measure(shortened(middle)) <= width) low = middle;
    else high = middle - 1;
  }
  return low ? shortened(low) : null;
}

let measuring = null;

/** Shrink each tile's units line in `grid` (`--fit`) until its count and pace mark show whole. */
function fitUnits(grid) {
  const cut = (node) => node.scrollWidth > node.clientWidth + 0.5;
  for (const row of grid.querySelectorAll(".tile-units")) {
    const parts = [row, ...row.querySelectorAll(".tile-count, .pace-text")];
    row.style.removeProperty("--fit");
    for (let fit = 9; fit >= 5 && parts.some(cut); fit -= 1) row.style.setProperty("--fit", String(fit / 10));
  }
}

/** Fit the tiles' names in `grid` to their tiles (`keepLastWord`); the whole name stays their title. */
function fitNames(grid) {
  const nodes = [...grid.querySelectorAll(".tile-name")];
  for (const node of nodes) node.textContent = node.title; // whole, so each takes all the room it has
  if (!measuring) measuring = document.createElement("canvas").getContext("2d");
  const fits = nodes.map((node) => {
    measuring.font = getComputedStyle(node).font;
    return keepLastWord(node.title, node.clientWidth - 1, (text) => measuring.measureText(text).width);
  });
  nodes.forEach((node, index) => { if (fits[index]) node.textContent = fits[index]; });
}

/** Fit the tiles' names and units lines to their tiles, after each layout and each new drawing. */
function fitTiles(grid) {
  fitNames(grid);
  fitUnits(grid);
}

/** What a tile without people says: `[what, for how long]` (the time is never cut short). */
function stateText(station) {
  switch (station.state) {
    case "unstaffed":
      return ["Nobody here for", fmt.since(station.emptyMs / 1000)];
    case "off":
      return [station.inBreak ? "Break" : "Not planned now", ""];
    case "empty":
      return ["Nobody here", ""];
    default:
      return ["", ""];
  }
}

/** A person at the station and how long in their state (the state named when it is not the tile's). */
function personLine(person, tileState, now) {
  const what = person.state === tileState ? "" : `${fmt.stateLabel(person.state).toLowerCase()} `;
  return el("li", { class: `tile-person person-${person.state}`, dataset: { workerId: person.worker_id, state: person.state } },
    el("span", { class: "person-name", text: person.name }),
    el("span", { class: "person-time", text: `${what}${fmt.since((now - person.since) / 1000)}` }));
}

function tile(station, names, now, timeZone) {
  const label = station.state === "off" && station.inBreak ? "Break" : fmt.stateLabel(station.state);
  const children = [];
  if (station.alerts.length) {
    // The tile names its station already: an alert about it says only its kind, one about a
    // worker there names the worker.
    const first = station.alerts[0];
    const title = first.subject === station.workstation_id
      ? ALERT_KINDS[first.kind] || first.kind : alertText(first, names, now, timeZone).title;
    children.push(el("p", { class: "tile-alert" }, el("span", { class: "tile-alert-icon", "aria-hidden": "true", text: "!" }),
      el("span", { class: "tile-alert-text", text: station.alerts.length > 1 ? `${title} (+${station.alerts.length - 1})` : title })));
  }
  children.push(el("div", { class: "tile-head" },
    el("h2", { class: "tile-name", text: station.name, title: station.name }),
    el("span", { class: "tile-state", text: label })));
  if (station.people.length) {
    const named = station.people.length > PEOPLE_LINES ? PEOPLE_LINES - 1 : station.people.length;
    const shown = station.people.slice(0, named).map((p) => personLine(p, station.state, now));
    if (station.people.length > named) shown.push(el("li", { class: "tile-person more", text: `+${station.people.length - named} more` }));
    children.push(el("ul", { class: "tile-people" }, shown));
  } else {
    const [what, since] = stateText(station);
    children.push(el("p", { class: "tile-empty" }, el("span", { class: "empty-what", text: what }),
      since ? el("span", { class: "person-time", text: since }) : null));
  }
  // A target of 0 (nothing planned yet, or off shift) is no target to show units against.
  const target = station.target ? Math.round(station.target) : null;
  children.push(el("div", { class: "tile-units" },
    el("p", { class: "tile-count" },
      el("span", { class: "tile-actual", text: fmt.integer(station.units) }),
      el("span", { class: "tile-target", text: target !== null ? ` / ${fmt.integer(target)}` : " units" })),
    el("p", { class: `tile-pace pace-${station.pace.mark || "none"}`, dataset: { pace: station.pace.mark || "none" } },
      el("span", { class: "pace-icon", "aria-hidden": "true" }),
      el("span", { class: "pace-text", text: station.pace.short }))));
  return el("article", {
    class: `tile state-${station.state}${station.alerts.length ? " has-alert" : ""}`,
    dataset: { workstationId: station.workstation_id, state: station.state, pace: station.pace.mark || "none", alerts: station.alerts.length },
    "aria-label": `${station.name}: ${label}`,
  }, el("div", { class: "tile-body" }, children));
}

/** Start the board in `root` (the #board element) with the API client `api`; it polls by itself. */
export function startBoard(root, { api, pollSeconds, site }) {
  const grid = root.querySelector("[data-board-grid]");
  const alertsNode = root.querySelector("[data-board-alerts]");
  const title = root.querySelector("[data-board-title]");
  const shiftNode = root.querySelector("[data-board-shift]");
  const totalNode = root.querySelector("[data-board-total]");
  const clockNode = root.querySelector("[data-board-clock]");
  const statusNode = root.querySelector("[data-board-status]");
  let settings = null;
  let setup = null; // the workstation list, sites and calendar: read once, again when a station is new
  let timer = 0;
  let controller = null;
  let lastGood = 0;
  let lastZone = null; // the zone the figures on screen were drawn in
  let count = 0;

  const layout = () => {
    const n = grid.children.length || 1;
    const box = grid.getBoundingClientRect();
    const { cols, rows } = boardGrid(n, box.width, box.height);
    grid.style.setProperty("--cols", String(cols));
    grid.style.setProperty("--rows", String(rows));
    fitTiles(grid);
  };
  new ResizeObserver(layout).observe(grid);

  const timeZone = (shifts) => {
    if (shifts) return zoneOf(shifts.calendars, site || null);
    return settings && isValidTimeZone(settings.factory_tz) ? settings.factory_tz : "UTC";
  };

  async function loadSetup(signal) {
    const [stationList, sites, calendar] = await Promise.all([
      api.workstationList(signal), optional(api.sites(signal)), optional(api.calendar(signal)),
    ]);
    return { stationList, sites, calendar };
  }

  async function refresh() {
    clearTimeout(timer);
    if (controller) controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    try {
      if (!settings) settings = (await optional(api.settings(signal))) || {};
      if (!setup) setup = await loadSetup(signal);
      const now = Date.now();
      const shifts = await loadShifts(api, {
        site, now, signal, settingsZone: settings.factory_tz, sites: setup.sites, calendar: setup.calendar,
      });
      let live = await loadFloor(api, { shifts, site, now, signal, stationList: setup.stationList });
      const known = new Set(setup.stationList.workstations.map((s) => s.workstation_id));
      if (live.workstations.workstations.some((s) => !known.has(s.workstation_id))) {
        // A station the list does not hold yet: read the setup again for its name and site.
        setup = await loadSetup(signal);
        live = await loadFloor(api, { shifts, site, now, signal, stationList: setup.stationList });
      }
      const { stationList } = setup;
      const zone = timeZone(shifts);
      draw({ shifts, live, stationList, now, zone });
      lastGood = now;
      lastZone = zone;
      count += 1;
      root.dataset.state = "live";
      setText(statusNode, "");
      document.body.dataset.renderCount = String(count);
      document.body.dataset.ready = "1";
    } catch (error) {
      if (error.aborted) return;
      root.dataset.state = "down";
      setText(statusNode, lastGood ? `Offline · figures from ${hourMinute(lastGood, lastZone)}` : `Can’t load: ${error.message}`);
    } finally {
      const seconds = Number(settings && settings.poll_seconds);
      timer = setTimeout(refresh, (pollSeconds || (Number.isFinite(seconds) && seconds > 0 ? seconds : 5)) * 1000);
    }
  }

  function draw({ shifts, live, stationList, now, zone }) {
    const { floor } = live;
    const names = new Map([
      ...((stationList && stationList.workstations) || []).map((s) => [s.workstation_id, s.name || s.workstation_id]),
      ...live.workers.workers.map((w) => [w.worker_id, w.name || w.worker_id]),
    ]);
    setText(title, site ? `Floor board · ${siteName(shifts.calendars, site)}` : "Floor board");
    const running = shifts.running;
    // One piece per running shift, each kept on one line.
    const where = (i) => (i.site_id && !site ? `${siteName(shifts.calendars, i.site_id)}: ` : "");
    let pieces = ["Last 8 hours"];
    if (running.length) {
      pieces = running.map((i) => `${where(i)}${i.shift}, ${fmt.since((Date.parse(i.end) - now) / 1000)} to go`);
    } else if (shifts.offered) {
      // Between shifts the tiles hold the last 8 hours; the next shift says when the board turns live.
      const next = shifts.next;
      pieces = ["No shift running: last 8 hours",
        ...(next ? [`next ${where(next)}${next.shift} at ${hourMinute(Date.parse(next.start), zone)}`] : [])];
    }
    drawIfChanged(shiftNode, JSON.stringify(pieces), () => replaceChildren(shiftNode,
      pieces.flatMap((text, index) => [index ? " · " : null, el("span", { class: "board-shift-part", text })])));
    const withTarget = floor.stations.filter((s) => s.target !== null);
    const units = withTarget.reduce((n, s) => n + s.units, 0);
    const target = withTarget.reduce((n, s) => n + s.target, 0);
    const total = withTarget.length ? fmt.pace(units, target) : null;
    drawIfChanged(totalNode, JSON.stringify([units, target, total]), () => replaceChildren(totalNode, total && total.mark
      ? [el("span", { class: "board-total-label", text: "Units / target so far" }),
        el("span", { class: "board-total-count", text: `${fmt.integer(units)} / ${fmt.integer(Math.round(target))}` }),
        el("span", { class: `tile-pace pace-${total.mark}`, dataset: { pace: total.mark } }, el("span", { class: "pace-icon", "aria-hidden": "true" }), total.text)]
      : [el("span", { class: "board-total-count", text: `${fmt.integer(floor.stations.reduce((n, s) => n + s.units, 0))} units` })]));
    setText(clockNode, clock(now, zone).slice(0, 5));

    const alerts = floor.alerts || [];
    alertsNode.hidden = !alerts.length;
    drawIfChanged(alertsNode, JSON.stringify([alerts, Math.floor(now / 60_000)]), () => replaceChildren(alertsNode,
      el("span", { class: "board-alerts-count", text: `${alerts.length} open alert${alerts.length === 1 ? "" : "s"}` }),
      el("ul", {}, alerts.map((a) => {
        const text = alertText(a, names, now, zone);
        return el("li", { dataset: { alertId: a.id, subject: a.subject } }, `${text.title} · ${fmt.since((now - Date.parse(a.opened_at)) / 1000)}`);
      }))));

    const before = grid.children.length;
    const drawn = drawIfChanged(grid, JSON.stringify([floor.stations, Math.floor(now / 60_000), zone]), () => {
      replaceChildren(grid, floor.stations.length
        ? floor.stations.map((s) => tile(s, names, now, zone))
        : [el("p", { class: "board-empty", text: "No stations in this scope yet." })]);
    });
    if (grid.children.length !== before) layout();
    else if (drawn) fitTiles(grid);
  }

  root.hidden = false;
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
  refresh();
}
