// The frame and axes every chart shares: an SVG sized to its container, round value ticks, and
// time ticks at round wall-clock times whose labels never overlap, from an hour to years.
// Colours and sizes come from CSS custom properties (see dashboard.css, "Charts").

import { svg, el, replaceChildren } from "./dom.js";
import { zonedParts, wallToInstant, offsetMs, hourMinute, MINUTE_MS, HOUR_MS, DAY_MS } from "./time.js";

const LOCALE = "en-GB";
const FALLBACK_FONT = "system-ui, sans-serif";
// Space between two time labels, the least distance between ticks (so an axis does not look
// crowded even where short labels would fit), and the narrowest a chart is drawn.
const LABEL_GAP_PX = 12;
const MIN_TICK_SPACING_PX = 64;
const MIN_WIDTH_PX = 280;

/** A number from a CSS custom property of `node` (or the page), e.g. "11px" → 11; `fallback` if unset. */
export function cssNumber(name, fallback, node = document.documentElement) {
  const value = parseFloat(getComputedStyle(node).getPropertyValue(name));
  return Number.isFinite(value) ? value : fallback;
}

/** The text size of chart labels in px (`--chart-text`). */
export function chartTextSize() {
  return cssNumber("--chart-text", 11);
}

let measureContext = null;

/** How wide `text` is drawn in px at `size` px and `weight`, in the charts' font. */
export function textWidth(text, size = chartTextSize(), weight = 400) {
  if (!measureContext) measureContext = document.createElement("canvas").getContext("2d");
  const family = getComputedStyle(document.documentElement).getPropertyValue("--font").trim() || FALLBACK_FONT;
  measureContext.font = `${weight} ${size}px ${family}`;
  // Digits are tabular in the charts; measuring plain text is a hair narrower, so pad by 2 %.
  return measureContext.measureText(String(text)).width * 1.02;
}

/** The width a chart in `container` is drawn at. */
export function widthOf(container) {
  return Math.max(MIN_WIDTH_PX, Math.floor(container.clientWidth || 640));
}

/** A message in place of a chart (no data, or not offered by this server). */
export function placeholder(container, text) {
  replaceChildren(container, el("p", { class: "chart-empty", text }));
}

/**
 * An empty chart: an `<svg role="img">` of `width` x `height` whose text alternative is `title`.
 * `className` is added to `chart-svg`.
 */
export function frame({ width, height, title, className = "" }) {
  return svg("svg", {
    width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title,
    class: `chart-svg ${className}`.trim(),
  }, svg("title", { text: title }));
}

/** `text` cut to fit `maxPx` at `size`, with an ellipsis when cut. */
export function fitText(text, maxPx, size = chartTextSize(), weight = 400) {
  const value = String(text ?? "");
  if (textWidth(value, size, weight) <= maxPx) return value;
  let cut = value.length;
  while (cut > 1 && textWidth(`${value.slice(0, cut)}…`, size, weight) > maxPx) cut -= 1;
  return `${value.slice(0, cut)}…`;
}

// ---------------------------------------------------------------- value ticks

/** The round step (1, 2 or 5 times a power of ten) nearest above `rough`; at least `minStep`. */
export function niceStep(rough, minStep = 0) {
  if (!(rough > 0)) return Math.max(minStep, 1);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].find((s) => s * power >= rough - 1e-12) * power;
  return Math.max(step, minStep);
}

/**
 * Round ticks from 0 to at least `max`, at most about `maxCount` intervals: {ticks, max, step}.
 * `integer` keeps the step a whole number (counts of units). 0 → 0, 10, 20 ..., never 0, 13, 25.
 */
export function niceTicks(max, maxCount = 5, { integer = false } = {}) {
  const top = max > 0 ? max : integer ? 1 : 1;
  const count = Math.max(1, Math.floor(maxCount));
  const step = niceStep(top / count, integer ? 1 : 0);
  const end = Math.ceil(top / step - 1e-9) * step;
  const ticks = [];
  for (let value = 0, i = 0; value <= end + step / 1e6 && i <= count * 2 + 2; i += 1, value = i * step) {
    ticks.push(Number(value.toPrecision(12)));
  }
  return { ticks, max: end, step };
}

/** A tick value as a label: 1000 → "1,000", 0.5 → "0.5". */
export function tickLabel(value, suffix = "") {
  return `${new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 }).format(value)}${suffix}`;
}

// ---------------------------------------------------------------- time ticks

// Candidate steps from the finest up; `ms` is a typical length, used only to skip hopeless ones.
const TIME_STEPS = [
  ...[1, 2, 5, 10, 15, 30].map((n) => ({ unit: "minute", n, ms: n * MINUTE_MS })),
  ...[1, 2, 3, 6, 12].map((n) => ({ unit: "hour", n, ms: n * HOUR_MS })),
  ...[1, 2].map((n) => ({ unit: "day", n, ms: n * DAY_MS })),
  { unit: "week", n: 1, ms: 7 * DAY_MS },
  { unit: "week", n: 2, ms: 14 * DAY_MS },
  ...[1, 2, 3, 6].map((n) => ({ unit: "month", n, ms: n * 30.44 * DAY_MS })),
  ...[1, 2, 5, 10, 20, 50, 100].map((n) => ({ unit: "year", n, ms: n * 365.25 * DAY_MS })),
];

const monthName = (ms, timeZone) => new Intl.DateTimeFormat(LOCALE, { timeZone, month: "short" }).format(ms);
const dayMonth = (ms, timeZone) => new Intl.DateTimeFormat(LOCALE, { timeZone, day: "numeric", month: "short" }).format(ms);

/** The instants of one candidate step between `from` and `to` (at most `limit` of them). */
function stepInstants(step, from, to, timeZone, limit) {
  const out = [];
  if (step.unit === "minute" || step.unit === "hour") {
    // Count in wall-clock milliseconds so ticks stay on round local times across DST changes.
    const stepMs = step.ms;
    let wall = Math.ceil((from + offsetMs(from, timeZone)) / stepMs) * stepMs;
    for (let guard = 0; out.length < limit && guard < limit * 3 + 6; guard += 1, wall += stepMs) {
      const d = new Date(wall);
      const ms = wallToInstant({
        year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(),
        hour: d.getUTCHours(), minute: d.getUTCMinutes(),
      }, timeZone);
      if (ms > to) break;
      if (ms >= from && (!out.length || ms > out.at(-1))) out.push(ms);
    }
    return out;
  }
  const p = zonedParts(from, timeZone);
  if (step.unit === "day" || step.unit === "week") {
    // Local midnights: every n-th day counted from 1970-01-01, or Mondays for weeks.
    let day = Date.UTC(p.year, p.month - 1, p.day);
    for (let guard = 0; out.length < limit && guard < limit * 15 + 20; guard += 1, day += DAY_MS) {
      const d = new Date(day);
      const index = Math.round(day / DAY_MS);
      const keep = step.unit === "day" ? index % step.n === 0 : d.getUTCDay() === 1 && Math.floor((index - 4) / 7) % step.n === 0;
      if (!keep) continue;
      const ms = wallToInstant({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() }, timeZone);
      if (ms > to) break;
      if (ms >= from) out.push(ms);
    }
    return out;
  }
  const months = step.unit === "month" ? step.n : step.n * 12;
  let index = p.year * 12 + (p.month - 1);
  index = Math.floor(index / months) * months;
  for (let guard = 0; out.length < limit && guard < limit * 2 + 4; guard += 1, index += months) {
    const ms = wallToInstant({ year: Math.floor(index / 12), month: (index % 12) + 1, day: 1 }, timeZone);
    if (ms > to) break;
    if (ms >= from) out.push(ms);
  }
  return out;
}

/** The label of a tick of `step` at `ms`; `first` is the leftmost tick; `major` a change of day/month/year. */
function timeLabel(step, ms, timeZone, span, previous) {
  const p = zonedParts(ms, timeZone);
  const midnight = p.hour === 0 && p.minute === 0;
  const yearChanged = previous !== null && zonedParts(previous, timeZone).year !== p.year;
  switch (step.unit) {
    case "minute":
    case "hour":
      if (midnight && span > DAY_MS / 2) return { label: dayMonth(ms, timeZone), major: true };
      return { label: hourMinute(ms, timeZone), major: midnight };
    case "day":
    case "week":
      return { label: yearChanged ? `${dayMonth(ms, timeZone)} ${p.year}` : dayMonth(ms, timeZone), major: p.day === 1 };
    case "month":
      return p.month === 1 || previous === null
        ? { label: `${monthName(ms, timeZone)} ${p.year}`, major: p.month === 1 }
        : { label: monthName(ms, timeZone), major: false };
    default:
      return { label: String(p.year), major: true };
  }
}

/**
 * Ticks for a time axis from `from` to `to` (epoch ms) drawn by `x(ms)` (px) inside
 * [`minX`, `maxX`]: `[{ms, x, labelX, label, major, width}]`. The finest round step whose labels,
 * measured in the charts' font, keep at least a small gap between them is chosen; `labelX` is
 * moved inwards where a label would leave [`minX`, `maxX`]. Labels never overlap.
 */
export function timeTicks({ from, to, timeZone, x, minX, maxX, size = chartTextSize() }) {
  const span = to - from;
  const plot = Math.max(1, x(to) - x(from));
  if (!(span > 0)) return [];
  const limit = Math.max(2, Math.floor(plot / 18) + 2);
  for (const step of TIME_STEPS) {
    if (span / step.ms > limit) continue;
    const instants = stepInstants(step, from, to, timeZone, limit + 1);
    if (instants.length > limit) continue;
    const ticks = [];
    let previous = null;
    for (const ms of instants) {
      const { label, major } = timeLabel(step, ms, timeZone, span, previous);
      const width = textWidth(label, size, major ? 600 : 400);
      const tx = x(ms);
      const labelX = Math.min(Math.max(tx, minX + width / 2), maxX - width / 2);
      ticks.push({ ms, x: tx, labelX, label, major, width });
      previous = ms;
    }
    if (labelsApart(ticks, Math.min(MIN_TICK_SPACING_PX, plot / 3))) return ticks;
  }
  // Narrower than any step allows (or a span of centuries): keep what fits, left to right.
  const fallback = [];
  for (const ms of stepInstants(TIME_STEPS.at(-1), from, to, timeZone, limit)) {
    const { label, major } = timeLabel(TIME_STEPS.at(-1), ms, timeZone, span, fallback.length ? fallback.at(-1).ms : null);
    const width = textWidth(label, size, major ? 600 : 400);
    const tx = x(ms);
    const tick = { ms, x: tx, labelX: Math.min(Math.max(tx, minX + width / 2), maxX - width / 2), label, major, width };
    if (!fallback.length || labelsApart([fallback.at(-1), tick])) fallback.push(tick);
  }
  return fallback;
}

function labelsApart(ticks, spacing = 0) {
  for (let i = 1; i < ticks.length; i += 1) {
    const a = ticks[i - 1];
    const b = ticks[i];
    if (a.labelX + a.width / 2 + LABEL_GAP_PX > b.labelX - b.width / 2) return false;
    if (b.x - a.x < spacing) return false;
  }
  return true;
}

/**
 * Draw time ticks into `group`: labels at `labelY`, and grid lines from `gridTop` to `gridBottom`
 * (or short tick marks when `marks` is set).
 */
export function drawTimeAxis(group, ticks, { labelY, gridTop, gridBottom, marks = false }) {
  for (const tick of ticks) {
    group.append(
      marks
        ? svg("line", { x1: tick.x, x2: tick.x, y1: gridBottom, y2: gridBottom + 4, class: "axis-mark" })
        : svg("line", { x1: tick.x, x2: tick.x, y1: gridTop, y2: gridBottom, class: tick.major ? "grid-line is-major" : "grid-line" }),
      svg("text", {
        x: tick.labelX, y: labelY, "text-anchor": "middle",
        class: tick.major ? "tick-label time-tick is-major" : "tick-label time-tick", text: tick.label,
      }));
  }
}

/**
 * Draw a value axis into `group`: a grid line per tick of `scale.ticks` across [`left`, `right`]
 * at `y(value)`, labelled at `labelX` with `anchor`; `grid: false` draws labels only.
 */
export function drawValueAxis(group, scale, { y, left, right, labelX, anchor = "end", suffix = "", grid = true, className = "" }) {
  for (const value of scale.ticks) {
    const gy = y(value);
    if (grid) group.append(svg("line", { x1: left, x2: right, y1: gy, y2: gy, class: value === 0 ? "grid-line is-base" : "grid-line" }));
    group.append(svg("text", {
      x: labelX, y: gy + chartTextSize() * 0.36, "text-anchor": anchor,
      class: `tick-label value-tick ${className}`.trim(), text: tickLabel(value, suffix),
    }));
  }
}
