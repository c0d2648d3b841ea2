// Mean camera confidence over time per model version, with its legend and swatches.

import { svg, el, replaceChildren } from "./dom.js";
import * as fmt from "./format.js";
import { hourMinute, dayTime, sameDay } from "./time.js";
import { frame, placeholder, widthOf, timeTicks, drawTimeAxis, chartTextSize } from "./axis.js";

// Model versions: each has a colour, a marker and a dash, so two lines differ without colour too.
// Colours are CSS custom properties --series-0 ... --series-5, applied through classes.
const SERIES_COUNT = 6;
const SERIES_MARKERS = ["circle", "square", "triangle", "diamond"];
const SERIES_DASHES = [null, "7 4", "2 3", "10 3 2 3"];

/** The look of the `index`-th model version: {color (a CSS class), marker, dash}. */
export function seriesStyle(index) {
  return {
    color: `series-${index % SERIES_COUNT}`,
    marker: SERIES_MARKERS[index % SERIES_MARKERS.length],
    dash: SERIES_DASHES[index % SERIES_DASHES.length],
  };
}

function marker(style, cx, cy, r) {
  const common = { class: `series-point ${style.color}` };
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
    svg("line", { x1: 1, x2: 29, y1: 7, y2: 7, class: `series-stroke ${style.color}`, "stroke-dasharray": style.dash }),
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

  const chart = frame({ width, height, title, className: "confidence-svg" });

  const back = svg("g", { "aria-hidden": "true" });
  if (showRecent) {
    const rx = x(recentFrom);
    back.append(
      svg("rect", { x: rx, y: margin.top, width: Math.max(1, x(recentTo) - rx), height: plotH, class: "recent-band" }),
      svg("line", { x1: rx, x2: rx, y1: margin.top - 6, y2: margin.top + plotH, class: "recent-edge" }),
      svg("text", { x: rx - 5, y: margin.top - 10, "text-anchor": "end", class: "tick-label", text: "baseline" }),
      svg("text", { x: rx + 5, y: margin.top - 10, "text-anchor": "start", class: "recent-label", text: narrow ? "recent" : `recent ${fmt.span((recentTo - recentFrom) / 1000)}` }));
  }
  // Horizontal grid every 0.1 (0.2 over a wider range) with the confidence scale.
  const step = 1 - yMin > 0.6 ? 0.2 : 0.1;
  for (let v = 1; v >= yMin - 1e-9; v -= step) {
    const gy = y(v);
    back.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: gy, y2: gy, class: Math.abs(v - yMin) < 1e-9 ? "grid-line is-base" : "grid-line" }),
      svg("text", { x: margin.left - 8, y: gy + chartTextSize() * 0.36, "text-anchor": "end", class: "tick-label value-tick", text: v.toFixed(1) }));
  }
  if (Math.abs(yMin - Math.round(yMin / step) * step) > 1e-9) {
    back.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(yMin), y2: y(yMin), class: "grid-line is-base" }));
  }
  if (Number.isFinite(threshold) && threshold >= yMin && threshold <= 1) {
    const ty = y(threshold);
    back.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: ty, y2: ty, class: "low-line" }),
      svg("text", { x: margin.left + 6, y: ty - 5, class: "low-label", text: `low confidence (below ${fmt.decimal(threshold)})` }));
  }
  back.append(svg("text", { x: 2, y: 12, "text-anchor": "start", class: "axis-title", text: "Mean confidence" }));
  drawTimeAxis(back, timeTicks({ from: start, to: end, timeZone, x, minX: 0, maxX: width }),
    { labelY: margin.top + plotH + 17, gridTop: margin.top, gridBottom: margin.top + plotH, marks: true });
  back.append(svg("text", { x: width - margin.right, y: height - 1, "text-anchor": "end", class: "axis-note", text: `Time (${timeZone})` }));
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
          points: segment.map((p) => p.join(",")).join(" "), class: `series-stroke ${style.color}`, "stroke-dasharray": style.dash,
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
