// The state timeline: one strip per worker, a band per working / idle / absent / no-signal
// spell, on a time axis in the site's zone. Short stops keep a minimum drawn width.

import { svg, el, replaceChildren } from "./dom.js";
import * as fmt from "./format.js";
import { hourMinute, dayTime, sameDay } from "./time.js";
import { frame, placeholder, widthOf, timeTicks, drawTimeAxis, cssNumber, fitText } from "./axis.js";

/** The states a strip shows, in legend order. `unknown` is time past the signal horizon. */
export const STATES = ["working", "idle", "absent", "unknown"];
// Drawn after the rest, so a short stop inside a long working spell stays visible on top of it.
const ON_TOP = new Set(["idle", "unknown"]);
// Spells shorter than one pixel, merged by the server into a band with the time of each state.
const MIXED = "mixed";

/** A `mixed` band's split as "62 % working, 38 % idle", largest share first. */
function splitText(split) {
  const total = Object.values(split || {}).reduce((sum, seconds) => sum + seconds, 0);
  if (!total) return "";
  return Object.entries(split).sort((a, b) => b[1] - a[1])
    .map(([state, seconds]) => `${Math.round((100 * seconds) / total)} % ${fmt.stateLabel(state).toLowerCase()}`).join(", ");
}

/** Pattern definitions for the states (ids start with `prefix`); colours come from CSS classes. */
export function stateDefs(prefix) {
  return svg("defs", {},
    svg("pattern", { id: `${prefix}-idle`, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      svg("rect", { width: 6, height: 6, class: "pat-idle-bg" }),
      svg("rect", { width: 2, height: 6, class: "pat-idle-mark" })),
    svg("pattern", { id: `${prefix}-absent`, width: 5, height: 5, patternUnits: "userSpaceOnUse" },
      svg("rect", { width: 5, height: 5, class: "pat-absent-bg" }),
      svg("circle", { cx: 2.5, cy: 2.5, r: 0.9, class: "pat-absent-mark" })),
    svg("pattern", { id: `${prefix}-unknown`, width: 8, height: 8, patternUnits: "userSpaceOnUse" },
      svg("rect", { width: 8, height: 8, class: "pat-unknown-bg" }),
      svg("path", { d: "M0 8 8 0M-2 2 2-2M6 10 10 6M0 0 8 8", class: "pat-unknown-mark" })));
}

/** The fill of a band in `state` (a pattern reference for all but working). */
export function stateFill(state, prefix) {
  return state === "working" ? null : `url(#${prefix}-${STATES.includes(state) ? state : "absent"})`;
}

/** The legend: a swatch with the same fill and pattern per state. */
export function drawStateLegend(container) {
  replaceChildren(container, STATES.map((state) => {
    const prefix = `legend-${state}`;
    const swatch = svg("svg", { width: 28, height: 14, viewBox: "0 0 28 14", "aria-hidden": "true", focusable: "false", class: "chart-svg" },
      stateDefs(prefix),
      svg("rect", { x: 0.5, y: 0.5, width: 27, height: 13, rx: 2, fill: stateFill(state, prefix), class: `band band-${state}` }));
    return el("li", { dataset: { state } }, swatch, fmt.stateLabel(state));
  }));
}

/**
 * Join back-to-back intervals of the same state at the same station (a heartbeat repeats the
 * state) so the strip shows one band for one spell. Seconds add up exactly. A `mixed` band
 * (spells shorter than a pixel, merged by the server) is never joined: it carries its own split.
 */
export function mergeIntervals(intervals) {
  const merged = [];
  for (const interval of intervals) {
    const last = merged.at(-1);
    if (last && interval.state !== MIXED && last.state === interval.state && last.workstation_id === interval.workstation_id && last.to === interval.from) {
      merged[merged.length - 1] = { ...last, to: interval.to, seconds: (last.seconds || 0) + (interval.seconds || 0) };
    } else {
      merged.push(interval);
    }
  }
  return merged;
}

/**
 * A strip read in slots (a long window: the server answers each worker's seconds per state per
 * slot, `slots` = {from, seconds, states}) as the intervals and `mixed` bands the strip draws: a
 * slot in one state is an interval of it, any other a band. The worker's time in a slot lies at
 * its end (before its first event a worker has none). Back-to-back slots of one state join up
 * in `mergeIntervals`.
 */
export function slotIntervals(slots, rows, windowTo) {
  const first = Date.parse(slots.from);
  const length = slots.seconds * 1000;
  const end = Date.parse(windowTo);
  const items = [];
  rows.forEach((row, index) => {
    const held = row.reduce((sum, seconds) => sum + seconds, 0);
    if (!held) return;
    const to = Math.min(end, first + (index + 1) * length);
    const base = { from: new Date(to - held * 1000).toISOString(), to: new Date(to).toISOString(), workstation_id: null, seconds: held };
    const states = slots.states.filter((_, at) => row[at]);
    items.push(states.length === 1 ? { ...base, state: states[0] }
      : { ...base, state: MIXED, split: Object.fromEntries(slots.states.map((state, at) => [state, row[at]]).filter(([, seconds]) => seconds)) });
  });
  return items;
}

const RIGHT_MARGIN = 18;

/** The width of the name column of a timeline `width` pixels wide. */
function labelWidth(width) {
  return width < 560 ? 88 : Math.min(180, Math.max(120, Math.round(width * 0.16)));
}

/** How many pixels of a timeline `width` pixels wide the strips take: the resolution to ask the API for. */
export function plotWidth(width) {
  return width - labelWidth(width) - RIGHT_MARGIN;
}

/**
 * Draw the timeline into `container`.
 * `data`: {window: {from, to}, workers: [{worker_id, name, intervals: [{from, to, state, workstation_id, seconds}], slots}],
 * slots, timeZone, now, planned}: a timeline body of the API (its strips as intervals, or in
 * `slots`); `planned` when the window counts planned time only (an empty strip says so).
 */
export function drawTimeline(container, data) {
  const { window: win, workers, slots, timeZone, now, planned = false } = data;
  if (!win || !win.from || !win.to || !workers) {
    placeholder(container, "No events in this window, so there is no timeline to draw.");
    return;
  }
  if (workers.length === 0) {
    placeholder(container, "No workers in this scope.");
    return;
  }
  const start = Date.parse(win.from);
  const end = Date.parse(win.to);
  const width = widthOf(container);
  const narrow = width < 560;
  const nameSize = cssNumber("--chart-name-text", 12.5);
  const labelW = labelWidth(width);
  const right = RIGHT_MARGIN;
  const axisH = 26;
  const rowH = narrow ? 30 : 34;
  const bandH = narrow ? 18 : 20;
  const height = axisH + workers.length * rowH + 6;
  const plotW = width - labelW - right;
  const span = Math.max(1, end - start);
  const x = (ms) => labelW + ((Math.min(Math.max(ms, start), end) - start) / span) * plotW;
  const minBand = cssNumber("--band-min-width", 3);
  const prefix = "tl";
  const oneDay = sameDay(start, end, timeZone);
  const at = (ms) => (oneDay ? hourMinute(ms, timeZone) : dayTime(ms, timeZone));

  const title = `State timeline of ${workers.length} worker${workers.length === 1 ? "" : "s"} from ${dayTime(start, timeZone)} to ${oneDay ? hourMinute(end, timeZone) : dayTime(end, timeZone)}: working (solid green), idle (hatched amber), absent (dotted grey) and no signal (cross-hatched violet: the camera stopped confirming a state) across the window.`;
  const chart = frame({ width, height, title, className: "timeline-svg" });
  chart.append(stateDefs(prefix));

  const axis = svg("g", { class: "time-axis", "aria-hidden": "true" });
  drawTimeAxis(axis, timeTicks({ from: start, to: end, timeZone, x, minX: labelW - 24, maxX: width - 2 }),
    { labelY: axisH - 10, gridTop: axisH - 4, gridBottom: height - 4 });
  chart.append(axis);

  workers.forEach((worker, index) => {
    const top = axisH + index * rowH;
    const bandY = top + (rowH - bandH) / 2;
    const name = worker.name || worker.worker_id;
    const row = svg("g", { class: "timeline-row", "data-worker-id": worker.worker_id });
    row.append(
      svg("rect", { x: labelW, y: bandY, width: plotW, height: bandH, class: "strip" }),
      svg("text", { x: labelW - 10, y: bandY + bandH / 2 + nameSize * 0.36, "text-anchor": "end", class: "row-label" },
        fitText(name, labelW - 14, nameSize, 500),
        svg("title", { text: `${name} (${worker.worker_id})` })));
    const items = slots && worker.slots ? slotIntervals(slots, worker.slots, win.to) : worker.intervals || [];
    const bands = mergeIntervals(items).filter((i) => Date.parse(i.to) > Date.parse(i.from));
    const below = [];
    const above = [];
    let lastLabelled = null;
    for (const interval of bands) {
      const from = Date.parse(interval.from);
      const to = Date.parse(interval.to);
      const bx = x(from);
      const drawn = x(to) - bx;
      const bw = Math.max(drawn, ON_TOP.has(interval.state) ? minBand : 1);
      const station = interval.workstation_id;
      if (interval.state === MIXED) {
        // Stacked from the bottom in legend order, each state as tall as its share of the band's time.
        const tip = `${name}: ${at(from)}–${at(to)}: ${splitText(interval.split)}${station ? ` at ${station}` : ""}`;
        const total = STATES.reduce((sum, state) => sum + ((interval.split || {})[state] || 0), 0);
        const group = svg("g", { class: "band band-mixed", "data-from": interval.from, "data-to": interval.to }, svg("title", { text: tip }));
        let y = bandY + bandH;
        for (const state of STATES) {
          const share = total ? ((interval.split || {})[state] || 0) / total : 0;
          if (!share) continue;
          y -= share * bandH;
          group.append(svg("rect", {
            x: bx, y, width: Math.max(drawn, 1), height: share * bandH, fill: stateFill(state, prefix), class: `band-part band-${state}`,
          }));
        }
        below.push(group);
        continue;
      }
      const tip = `${name}: ${fmt.stateLabel(interval.state)} ${at(from)}–${at(to)} (${fmt.duration(interval.seconds ?? (to - from) / 1000)})${station ? ` at ${station}` : ""}`;
      // A band widened to the minimum is centred on its spell, and kept inside the plot.
      const left = Math.min(Math.max(bx - (bw - drawn) / 2, labelW), labelW + plotW - bw);
      const band = svg("rect", {
        x: left, y: bandY, width: bw, height: bandH, fill: stateFill(interval.state, prefix),
        class: `band band-${interval.state}${bw > 2 ? "" : " is-thin"}`, "data-from": interval.from, "data-to": interval.to,
      }, svg("title", { text: tip }));
      (ON_TOP.has(interval.state) ? above : below).push(band);
      // Name the station on working bands that have room, whenever it changes along the strip.
      if (interval.state === "working" && station && drawn >= 46 && station !== lastLabelled) {
        below.push(svg("text", {
          x: bx + 5, y: bandY + bandH / 2 + 4, class: "band-label", "pointer-events": "none", "aria-hidden": "true",
          text: fitText(station, drawn - 10, 10.5, 600),
        }));
        lastLabelled = station;
      }
    }
    if (!bands.length) {
      // An empty strip says why, so it does not read as missing data.
      row.append(svg("text", { x: labelW + 8, y: bandY + bandH / 2 + 4, class: "strip-note", text: planned
        ? "Nothing in planned time" : "No state known in this window" }));
    }
    row.append(...below, ...above);
    chart.append(row);
  });

  if (now > start && now < end) {
    const nx = x(now);
    chart.append(svg("g", { class: "now-mark", "aria-hidden": "true" },
      svg("line", { x1: nx, x2: nx, y1: axisH - 4, y2: height - 4 }),
      svg("text", { x: nx + 4, y: height - 8, text: "now" })));
  }
  replaceChildren(container, chart);
}
