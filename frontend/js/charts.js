// Charts as inline SVG built node by node. Each one is redrawn from the data it is given, fits
// its container's width, and carries a text alternative (role="img" + aria-label + <title>).

import { svg, el, replaceChildren } from "./dom.js";
import * as fmt from "./format.js";
import { timeTicks, hourMinute, dayTime, sameDay, shortDay } from "./time.js";

// The state colours; idle and absent also carry a pattern so the chart does not rely on colour.
const STATE_STYLE = {
  working: { fill: "#2b7a5a", stroke: "#1f5c43" },
  idle: { fill: "#f2d49b", stroke: "#9c6512", stripe: "#9c6512" },
  absent: { fill: "#e3e7ec", stroke: "#7b8794", dot: "#6b7785" },
};
const AXIS = "#52606d";
const GRID = "#e4e7eb";
const UNITS_FILL = "#3d6fb6";
const UTIL_LINE = "#b4461b";
const BAR_FILL = "#2f6fba";
const TRACK = "#edf1f5";

const STATES = ["working", "idle", "absent"];

/** Pattern definitions for the states, with ids starting with `prefix`. */
function stateDefs(prefix) {
  const idle = STATE_STYLE.idle;
  const absent = STATE_STYLE.absent;
  return svg("defs", {},
    svg("pattern", { id: `${prefix}-idle`, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      svg("rect", { width: 6, height: 6, fill: idle.fill }),
      svg("rect", { width: 2, height: 6, fill: idle.stripe })),
    svg("pattern", { id: `${prefix}-absent`, width: 5, height: 5, patternUnits: "userSpaceOnUse" },
      svg("rect", { width: 5, height: 5, fill: absent.fill }),
      svg("circle", { cx: 2.5, cy: 2.5, r: 0.9, fill: absent.dot })));
}

function stateFill(state, prefix) {
  if (state === "working") return STATE_STYLE.working.fill;
  if (state === "idle") return `url(#${prefix}-idle)`;
  return `url(#${prefix}-absent)`;
}

function stroke(state) {
  return (STATE_STYLE[state] || STATE_STYLE.absent).stroke;
}

/**
 * Join back-to-back intervals of the same state at the same station (a repeated "working"
 * event, say) so the strip shows one band for one spell. Seconds add up exactly.
 */
function mergeIntervals(intervals) {
  const merged = [];
  for (const interval of intervals) {
    const last = merged.at(-1);
    if (last && last.state === interval.state && last.workstation_id === interval.workstation_id && last.to === interval.from) {
      merged[merged.length - 1] = { ...last, to: interval.to, seconds: (last.seconds || 0) + (interval.seconds || 0) };
    } else {
      merged.push(interval);
    }
  }
  return merged;
}

/** A message in place of a chart (no data, or not offered by this server). */
function placeholder(container, text) {
  replaceChildren(container, el("p", { class: "chart-empty", text }));
}

function widthOf(container) {
  return Math.max(280, Math.floor(container.clientWidth || 640));
}

function shorten(text, maxChars) {
  const value = String(text ?? "");
  return value.length > maxChars ? `${value.slice(0, Math.max(1, maxChars - 1))}…` : value;
}

/** The legend of the state timeline: a swatch with the same fill and pattern per state. */
export function drawStateLegend(container) {
  const items = STATES.map((state) => {
    const prefix = `legend-${state}`;
    const swatch = svg("svg", { width: 28, height: 14, viewBox: "0 0 28 14", "aria-hidden": "true", focusable: "false" },
      stateDefs(prefix),
      svg("rect", { x: 0.5, y: 0.5, width: 27, height: 13, rx: 2, fill: stateFill(state, prefix), stroke: stroke(state) }));
    return el("li", {}, swatch, fmt.stateLabel(state));
  });
  replaceChildren(container, items);
}

/**
 * The state timeline: one strip per worker across the window, a band per working / idle /
 * absent interval, a time axis in the factory's zone, and a marker for now.
 * `data`: {window: {from, to}, workers: [{worker_id, name, intervals: [{from, to, state, workstation_id, seconds}]}], timeZone, now}
 */
export function drawTimeline(container, data) {
  const { window: win, workers, timeZone, now } = data;
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
  const labelW = narrow ? 92 : Math.min(180, Math.max(120, Math.round(width * 0.16)));
  const right = 22;
  const axisH = 26;
  const rowH = narrow ? 30 : 34;
  const bandH = narrow ? 18 : 20;
  const height = axisH + workers.length * rowH + 6;
  const plotW = width - labelW - right;
  const span = Math.max(1, end - start);
  const x = (ms) => labelW + ((Math.min(Math.max(ms, start), end) - start) / span) * plotW;
  const prefix = "tl";

  const title = `State timeline of ${workers.length} worker${workers.length === 1 ? "" : "s"} from ${dayTime(start, timeZone)} to ${sameDay(start, end, timeZone) ? hourMinute(end, timeZone) : dayTime(end, timeZone)}: working (solid green), idle (hatched amber) and absent (dotted grey) spells across the window.`;
  const chart = svg("svg", {
    width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart-svg",
  }, svg("title", { text: title }), stateDefs(prefix));

  // Axis and grid.
  const ticks = timeTicks(start, end, timeZone, Math.max(2, Math.floor(plotW / (narrow ? 64 : 84))));
  const grid = svg("g", { class: "grid", "aria-hidden": "true" });
  for (const tick of ticks) {
    const tx = x(tick.ms);
    grid.append(
      svg("line", { x1: tx, x2: tx, y1: axisH - 4, y2: height - 4, stroke: tick.major ? "#c9d1d9" : GRID, "stroke-width": 1 }),
      svg("text", { x: tx, y: axisH - 10, "text-anchor": "middle", fill: AXIS, "font-size": 11, text: tick.label }));
  }
  chart.append(grid);

  // One strip per worker.
  workers.forEach((worker, index) => {
    const top = axisH + index * rowH;
    const bandY = top + (rowH - bandH) / 2;
    const name = worker.name || worker.worker_id;
    const row = svg("g", { class: "timeline-row", "data-worker-id": worker.worker_id });
    row.append(
      svg("rect", { x: labelW, y: bandY, width: plotW, height: bandH, fill: "#f7f9fb", stroke: GRID }),
      svg("text", { x: labelW - 10, y: bandY + bandH / 2 + 4, "text-anchor": "end", fill: "#1f2933", "font-size": narrow ? 11 : 12.5, "font-weight": 500 },
        shorten(name, Math.floor((labelW - 12) / (narrow ? 6.2 : 7))),
        svg("title", { text: `${name} (${worker.worker_id})` })));
    let lastLabelled = null;
    for (const interval of mergeIntervals(worker.intervals || [])) {
      const from = Date.parse(interval.from);
      const to = Date.parse(interval.to);
      if (!(to > from)) continue;
      const bx = x(from);
      const bw = Math.max(1, x(to) - bx);
      const station = interval.workstation_id;
      const tip = `${name}: ${fmt.stateLabel(interval.state)} ${hourMinute(from, timeZone)}–${hourMinute(to, timeZone)} (${fmt.duration(interval.seconds ?? (to - from) / 1000)})${station ? ` at ${station}` : ""}`;
      row.append(svg("rect", {
        x: bx, y: bandY, width: bw, height: bandH, fill: stateFill(interval.state, prefix),
        stroke: stroke(interval.state), "stroke-width": bw > 2 ? 0.75 : 0, class: `band band-${interval.state}`,
      }, svg("title", { text: tip })));
      // Name the station on working bands that have room, whenever it changes along the strip.
      if (interval.state === "working" && station && bw >= 46 && station !== lastLabelled) {
        row.append(svg("text", {
          x: bx + 5, y: bandY + bandH / 2 + 4, fill: "#ffffff", "font-size": 10.5, "font-weight": 600,
          "pointer-events": "none", "aria-hidden": "true", text: shorten(station, Math.floor((bw - 8) / 6.5)),
        }));
        lastLabelled = station;
      }
    }
    chart.append(row);
  });

  // Now, when it lies inside the window.
  if (now > start && now < end) {
    const nx = x(now);
    chart.append(svg("g", { "aria-hidden": "true" },
      svg("line", { x1: nx, x2: nx, y1: axisH - 4, y2: height - 4, stroke: "#b4461b", "stroke-width": 1.5, "stroke-dasharray": "4 3" }),
      svg("text", { x: nx + 4, y: height - 8, fill: "#b4461b", "font-size": 10.5, "font-weight": 600, text: "now" })));
  }
  replaceChildren(container, chart);
}

/** A round number at or above `value`, for an axis maximum. */
function niceCeil(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((s) => s * power >= value);
  return step * power;
}

/**
 * Units (bars, left axis) and utilization (line, right axis) per hour across the window.
 * `data`: {buckets: [{from, to, active_seconds, idle_seconds, units, utilization_pct}], window, timeZone}
 */
export function drawHourly(container, data) {
  const { buckets, window: win, timeZone } = data;
  if (!buckets || buckets.length === 0 || !win || !win.from) {
    placeholder(container, "No hours to show in this window.");
    return;
  }
  const start = Date.parse(buckets[0].from);
  const end = Date.parse(buckets.at(-1).to);
  const width = widthOf(container);
  const narrow = width < 560;
  const margin = { left: 46, right: 50, top: 30, bottom: 30 };
  const daily = (data.bucketSeconds || 3600) >= 86_400;
  const per = daily ? "day" : "hour";
  const slot = (from, to) => (daily ? shortDay(from, timeZone) : `${hourMinute(from, timeZone)}–${hourMinute(to, timeZone)}`);
  const height = narrow ? 220 : 260;
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const span = Math.max(1, end - start);
  const x = (ms) => margin.left + ((ms - start) / span) * plotW;
  const maxUnits = niceCeil(Math.max(...buckets.map((b) => b.units || 0), 4));
  const yUnits = (v) => margin.top + plotH - (v / maxUnits) * plotH;
  const yPct = (v) => margin.top + plotH - (Math.min(Math.max(v, 0), 100) / 100) * plotH;

  const totalUnits = buckets.reduce((sum, b) => sum + (b.units || 0), 0);
  const peak = buckets.reduce((best, b) => ((b.units || 0) > (best.units || 0) ? b : best), buckets[0]);
  const staffed = buckets.filter((b) => (b.active_seconds || 0) + (b.idle_seconds || 0) > 0);
  let title = `Units and utilization per ${per}, ${buckets.length} ${per}${buckets.length === 1 ? "" : "s"} from ${dayTime(start, timeZone)} to ${dayTime(end, timeZone)}.`;
  if (totalUnits > 0) title += ` Most units in one ${per}: ${fmt.integer(peak.units)}, ${slot(Date.parse(peak.from), Date.parse(peak.to))}.`;
  if (staffed.length) {
    const low = staffed.reduce((a, b) => (b.utilization_pct < a.utilization_pct ? b : a));
    title += ` Lowest utilization: ${fmt.percent(low.utilization_pct)}, ${slot(Date.parse(low.from), Date.parse(low.to))}.`;
  }

  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart-svg" },
    svg("title", { text: title }));

  // Horizontal grid with both axes' labels.
  const grid = svg("g", { "aria-hidden": "true" });
  for (let i = 0; i <= 4; i += 1) {
    const y = margin.top + plotH - (i / 4) * plotH;
    grid.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: y, y2: y, stroke: i === 0 ? "#c9d1d9" : GRID }),
      svg("text", { x: margin.left - 8, y: y + 4, "text-anchor": "end", fill: UNITS_FILL, "font-size": 11, text: fmt.integer((maxUnits * i) / 4) }),
      svg("text", { x: width - margin.right + 8, y: y + 4, "text-anchor": "start", fill: UTIL_LINE, "font-size": 11, text: `${i * 25}%` }));
  }
  grid.append(
    svg("text", { x: margin.left - 30, y: 12, "text-anchor": "start", fill: UNITS_FILL, "font-size": 11, "font-weight": 600, text: `Units per ${per}` }),
    svg("text", { x: width - margin.right + 34, y: 12, "text-anchor": "end", fill: UTIL_LINE, "font-size": 11, "font-weight": 600, text: "Utilization" }));
  for (const tick of timeTicks(start, end, timeZone, Math.max(2, Math.floor(plotW / 70)))) {
    const tx = x(tick.ms);
    grid.append(
      svg("line", { x1: tx, x2: tx, y1: margin.top + plotH, y2: margin.top + plotH + 4, stroke: AXIS }),
      svg("text", { x: tx, y: height - 10, "text-anchor": "middle", fill: AXIS, "font-size": 11, text: tick.label }));
  }
  chart.append(grid);

  // Bars for units, each with its hour's figures as a tooltip.
  const bars = svg("g", {});
  for (const bucket of buckets) {
    const from = Date.parse(bucket.from);
    const to = Date.parse(bucket.to);
    const bx = x(from);
    const full = Math.max(1, x(to) - bx);
    const gap = full > 8 ? Math.min(6, full * 0.18) : 0;
    const units = bucket.units || 0;
    const tip = `${slot(from, to)}: ${fmt.integer(units)} units, utilization ${fmt.percent(bucket.utilization_pct)}, active ${fmt.duration(bucket.active_seconds)}, idle ${fmt.duration(bucket.idle_seconds)}`;
    const group = svg("g", {}, svg("title", { text: tip }),
      svg("rect", { x: bx, y: margin.top, width: full, height: plotH, fill: "transparent" }));
    if (units > 0) {
      group.append(svg("rect", {
        x: bx + gap / 2, y: yUnits(units), width: Math.max(1, full - gap), height: Math.max(1, margin.top + plotH - yUnits(units)),
        fill: UNITS_FILL, rx: full > 10 ? 2 : 0, class: "hour-bar",
      }));
    }
    bars.append(group);
  }
  chart.append(bars);

  // The utilization line, broken over hours nobody was on the floor (no active or idle time).
  const line = svg("g", { "aria-hidden": "true", "pointer-events": "none" });
  let segment = [];
  const flush = () => {
    if (segment.length > 1) {
      line.append(svg("polyline", { points: segment.map((p) => p.join(",")).join(" "), fill: "none", stroke: UTIL_LINE, "stroke-width": 2.25, "stroke-linejoin": "round" }));
    }
    segment = [];
  };
  for (const bucket of buckets) {
    const mid = (Date.parse(bucket.from) + Date.parse(bucket.to)) / 2;
    if ((bucket.active_seconds || 0) + (bucket.idle_seconds || 0) > 0) {
      const point = [x(mid), yPct(bucket.utilization_pct || 0)];
      segment.push(point);
      if (buckets.length <= 72) {
        line.append(svg("circle", { cx: point[0], cy: point[1], r: 3.5, fill: "#ffffff", stroke: UTIL_LINE, "stroke-width": 2 }));
      }
    } else {
      flush();
    }
  }
  flush();
  // Points above the polyline so they are not cut by it.
  for (const circle of [...line.querySelectorAll("circle")]) line.append(circle);
  chart.append(line);
  replaceChildren(container, chart);
}

/**
 * Horizontal utilization bars on a 0-100 % scale.
 * `data`: {items: [{id, label, value}], what: "worker" | "workstation"}
 */
export function drawUtilizationBars(container, data) {
  const { items, what } = data;
  if (!items || items.length === 0) {
    placeholder(container, `No ${what}s in this scope.`);
    return;
  }
  const width = widthOf(container);
  const labelW = Math.min(170, Math.max(96, Math.round(width * 0.32)));
  const valueW = 64;
  const rowH = 30;
  const barH = 14;
  const top = 6;
  const height = top + items.length * rowH + 22;
  const trackW = width - labelW - valueW;
  const title = `Utilization by ${what}: ${items.map((item) => `${item.label} ${fmt.percent(item.value)}`).join(", ")}.`;
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart-svg" },
    svg("title", { text: title }));

  const scale = svg("g", { "aria-hidden": "true" });
  for (const pct of [0, 50, 100]) {
    const sx = labelW + (pct / 100) * trackW;
    scale.append(
      svg("line", { x1: sx, x2: sx, y1: top, y2: height - 20, stroke: pct === 0 ? "#c9d1d9" : GRID }),
      svg("text", { x: sx, y: height - 6, "text-anchor": pct === 0 ? "start" : pct === 100 ? "end" : "middle", fill: AXIS, "font-size": 10.5, text: `${pct}%` }));
  }
  chart.append(scale);

  items.forEach((item, index) => {
    const y = top + index * rowH;
    const barY = y + (rowH - barH) / 2;
    const value = Number.isFinite(item.value) ? Math.min(Math.max(item.value, 0), 100) : 0;
    chart.append(svg("g", { "data-id": item.id },
      svg("title", { text: `${item.label}: ${fmt.percent(item.value)}` }),
      svg("text", { x: labelW - 10, y: barY + barH / 2 + 4, "text-anchor": "end", fill: "#1f2933", "font-size": 12.5 },
        shorten(item.label, Math.floor((labelW - 12) / 7))),
      svg("rect", { x: labelW, y: barY, width: trackW, height: barH, rx: 3, fill: TRACK }),
      svg("rect", { x: labelW, y: barY, width: Math.max(value > 0 ? 2 : 0, (value / 100) * trackW), height: barH, rx: 3, fill: BAR_FILL }),
      svg("text", { x: width - 4, y: barY + barH / 2 + 4, "text-anchor": "end", fill: "#1f2933", "font-size": 12.5, "font-weight": 600, class: "num" },
        fmt.percent(item.value))));
  });
  replaceChildren(container, chart);
}

// Model versions: each has a colour, a marker and a dash, so two lines differ without colour too.
const SERIES_COLORS = ["#1d5fb8", "#c2410c", "#7c3aed", "#0f766e", "#a16207", "#be185d"];
const SERIES_MARKERS = ["circle", "square", "triangle", "diamond"];
const SERIES_DASHES = [null, "7 4", "2 3", "10 3 2 3"];
const RECENT_FILL = "#fdf3e1";
const RECENT_INK = "#8a5a0e";
const LOW_LINE = "#a61b1b";

/** The look of the `index`-th model version: {color, marker, dash}. */
export function seriesStyle(index) {
  return {
    color: SERIES_COLORS[index % SERIES_COLORS.length],
    marker: SERIES_MARKERS[index % SERIES_MARKERS.length],
    dash: SERIES_DASHES[index % SERIES_DASHES.length],
  };
}

function marker(style, cx, cy, r) {
  const common = { fill: "#ffffff", stroke: style.color, "stroke-width": 2, class: "series-point" };
  switch (style.marker) {
    case "square":
      return svg("rect", { ...common, x: cx - r * 0.9, y: cy - r * 0.9, width: r * 1.8, height: r * 1.8 });
    case "triangle":
      return svg("polygon", { ...common, points: `${cx},${cy - r * 1.15} ${cx + r * 1.1},${cy + r * 0.8} ${cx - r * 1.1},${cy + r * 0.8}` });
    case "diamond":
      return svg("polygon", { ...common, points: `${cx},${cy - r * 1.25} ${cx + r * 1.1},${cy} ${cx},${cy + r * 1.25} ${cx - r * 1.1},${cy}` });
    default:
      return svg("circle", { ...common, cx, cy, r });
  }
}

/** A small key for the `index`-th model version: its line, dash and marker. */
export function seriesSwatch(index) {
  const style = seriesStyle(index);
  return svg("svg", { width: 30, height: 14, viewBox: "0 0 30 14", "aria-hidden": "true", focusable: "false", class: "series-key" },
    svg("line", { x1: 1, x2: 29, y1: 7, y2: 7, stroke: style.color, "stroke-width": 2.25, "stroke-dasharray": style.dash }),
    marker(style, 15, 7, 3.5));
}

/** The legend of the confidence chart: one key per model version; a flagged one says so. */
export function drawModelLegend(container, versions) {
  replaceChildren(container, versions.map((version, index) => el("li", { dataset: { modelVersion: version.label } },
    seriesSwatch(index),
    el("span", { text: version.label }),
    version.flagged ? el("span", { class: "legend-flag", text: "drift" }) : null)));
}

function perBucket(bucketSeconds) {
  if (bucketSeconds === 3600) return "hour";
  if (bucketSeconds === 86_400) return "day";
  return `${fmt.span(bucketSeconds).replace("\u00a0", " ")} bucket`;
}

/**
 * Mean camera confidence over time, one line per model version (the index in `versions` picks
 * its look), on a 0-1 scale cut to the range the data and the low-confidence threshold need.
 * The recent stretch the drift rule compares with the time before it is shaded.
 * `data`: {versions: [{key, label, flagged}], series: [{model_version, from, to, events, mean_confidence}],
 *          window, bucketSeconds, threshold, recent: {from, to} | null, timeZone}
 */
export function drawConfidence(container, data) {
  const { versions, series, window: win, threshold, recent, timeZone } = data;
  const rated = (series || []).filter((p) => Number.isFinite(p.mean_confidence));
  if (!win || !win.from || !win.to || rated.length === 0) {
    placeholder(container, "No rated camera events in this window, so there is no confidence to draw.");
    return;
  }
  const start = Date.parse(win.from);
  const end = Date.parse(win.to);
  const width = widthOf(container);
  const narrow = width < 560;
  const margin = { left: 46, right: 18, top: 30, bottom: 34 };
  const height = narrow ? 220 : 260;
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const spanMs = Math.max(1, end - start);
  const x = (ms) => margin.left + ((Math.min(Math.max(ms, start), end) - start) / spanMs) * plotW;
  const lowest = Math.min(...rated.map((p) => p.mean_confidence), Number.isFinite(threshold) ? threshold : 1);
  const yMin = Math.max(0, Math.floor((lowest - 0.02) * 10) / 10);
  const y = (v) => margin.top + plotH - ((Math.min(Math.max(v, yMin), 1) - yMin) / (1 - yMin)) * plotH;
  const per = perBucket(data.bucketSeconds);
  const slot = (from, to) => (from === to ? `at ${hourMinute(from, timeZone)}` : `${hourMinute(from, timeZone)}–${hourMinute(to, timeZone)}`);

  // One list of points per version, in the order of `versions`.
  const byVersion = new Map(versions.map((v) => [v.key, []]));
  for (const point of rated) {
    const key = point.model_version ?? "";
    if (!byVersion.has(key)) continue;
    byVersion.get(key).push({ ...point, fromMs: Date.parse(point.from), toMs: Date.parse(point.to) });
  }

  let title = `Mean camera confidence per ${per} and model version, ${dayTime(start, timeZone)} to ${sameDay(start, end, timeZone) ? hourMinute(end, timeZone) : dayTime(end, timeZone)}.`;
  for (const version of versions) {
    const points = byVersion.get(version.key);
    if (!points.length) continue;
    const values = points.map((p) => p.mean_confidence);
    const last = points.at(-1);
    title += ` ${version.label}: ${points.length} ${per}${points.length === 1 ? "" : "s"}, between ${fmt.score(Math.min(...values))} and ${fmt.score(Math.max(...values))}, last ${fmt.score(last.mean_confidence)} (${slot(last.fromMs, last.toMs)})${version.flagged ? ", flagged for confidence drift" : ""}.`;
  }
  const recentFrom = recent ? Date.parse(recent.from) : NaN;
  const recentTo = recent ? Date.parse(recent.to) : NaN;
  const showRecent = Number.isFinite(recentFrom) && recentTo > recentFrom && recentFrom > start;
  if (showRecent) title += ` Shaded: the last ${fmt.span((recentTo - recentFrom) / 1000).replace("\u00a0", " ")}, which the drift check compares with the time before it.`;

  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart-svg" },
    svg("title", { text: title }));

  const back = svg("g", { "aria-hidden": "true" });
  if (showRecent) {
    const rx = x(recentFrom);
    back.append(
      svg("rect", { x: rx, y: margin.top, width: Math.max(1, x(recentTo) - rx), height: plotH, fill: RECENT_FILL, class: "recent-band" }),
      svg("line", { x1: rx, x2: rx, y1: margin.top - 6, y2: margin.top + plotH, stroke: RECENT_INK, "stroke-width": 1, "stroke-dasharray": "3 3" }),
      svg("text", { x: rx - 5, y: margin.top - 10, "text-anchor": "end", fill: AXIS, "font-size": 10.5, text: "baseline" }),
      svg("text", { x: rx + 5, y: margin.top - 10, "text-anchor": "start", fill: RECENT_INK, "font-size": 10.5, "font-weight": 600, text: narrow ? "recent" : `recent ${fmt.span((recentTo - recentFrom) / 1000)}` }));
  }
  // Horizontal grid every 0.1 (0.2 over a wider range) with the confidence scale.
  const step = 1 - yMin > 0.6 ? 0.2 : 0.1;
  for (let v = 1; v >= yMin - 1e-9; v -= step) {
    const gy = y(v);
    back.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: gy, y2: gy, stroke: Math.abs(v - yMin) < 1e-9 ? "#c9d1d9" : GRID }),
      svg("text", { x: margin.left - 8, y: gy + 4, "text-anchor": "end", fill: AXIS, "font-size": 11, text: v.toFixed(1) }));
  }
  if (Math.abs(yMin - Math.round(yMin / step) * step) > 1e-9) {
    back.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(yMin), y2: y(yMin), stroke: "#c9d1d9" }));
  }
  if (Number.isFinite(threshold) && threshold >= yMin && threshold <= 1) {
    const ty = y(threshold);
    back.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: ty, y2: ty, stroke: LOW_LINE, "stroke-width": 1.25, "stroke-dasharray": "5 4" }),
      svg("text", { x: margin.left + 6, y: ty - 5, fill: LOW_LINE, "font-size": 10.5, "font-weight": 600, text: `low confidence (below ${fmt.decimal(threshold)})` }));
  }
  back.append(svg("text", { x: margin.left - 38, y: 12, "text-anchor": "start", fill: AXIS, "font-size": 11, "font-weight": 600, text: "Mean confidence" }));
  for (const tick of timeTicks(start, end, timeZone, Math.max(2, Math.floor(plotW / 70)))) {
    const tx = x(tick.ms);
    back.append(
      svg("line", { x1: tx, x2: tx, y1: margin.top + plotH, y2: margin.top + plotH + 4, stroke: AXIS }),
      svg("text", { x: tx, y: margin.top + plotH + 17, "text-anchor": "middle", fill: AXIS, "font-size": 11, text: tick.label }));
  }
  back.append(svg("text", { x: width - margin.right, y: height - 3, "text-anchor": "end", fill: AXIS, "font-size": 10.5, text: `Time (${timeZone})` }));
  chart.append(back);

  // The lines, broken where a version has no rated events in a bucket; points carry the figures.
  const lines = svg("g", { "aria-hidden": "true", "pointer-events": "none" });
  const points = svg("g", {});
  versions.forEach((version, index) => {
    const style = seriesStyle(index);
    const list = byVersion.get(version.key);
    if (!list.length) return;
    const group = svg("g", { class: "series-line", "data-model-version": version.label });
    let segment = [];
    const flush = () => {
      if (segment.length > 1) {
        group.append(svg("polyline", {
          points: segment.map((p) => p.join(",")).join(" "), fill: "none", stroke: style.color,
          "stroke-width": 2.25, "stroke-linejoin": "round", "stroke-linecap": "round", "stroke-dasharray": style.dash,
        }));
      }
      segment = [];
    };
    let previousTo = null;
    for (const point of list) {
      if (previousTo !== null && point.fromMs !== previousTo) flush();
      segment.push([x((point.fromMs + point.toMs) / 2), y(point.mean_confidence)]);
      previousTo = point.toMs;
    }
    flush();
    lines.append(group);
    const r = list.length > 72 ? 2.5 : 3.5;
    for (const point of list) {
      const cx = x((point.fromMs + point.toMs) / 2);
      const cy = y(point.mean_confidence);
      const tip = `${version.label}, ${slot(point.fromMs, point.toMs)}: mean confidence ${fmt.score(point.mean_confidence)} from ${fmt.integer(point.events)} event${point.events === 1 ? "" : "s"}`;
      points.append(svg("g", { "data-model-version": version.label }, svg("title", { text: tip }),
        svg("circle", { cx, cy, r: 9, fill: "transparent" }),
        marker(style, cx, cy, r)));
    }
  });
  chart.append(lines, points);
  replaceChildren(container, chart);
}
