// Units (bars, left axis) and utilization (line, right axis) per hour or day across the window.
// Utilization points are coloured against the threshold, which is drawn as a dashed line.

import { svg, replaceChildren } from "./dom.js";
import * as fmt from "./format.js";
import { hourMinute, dayTime, shortDay } from "./time.js";
import { frame, placeholder, widthOf, niceTicks, timeTicks, drawTimeAxis, drawValueAxis, chartTextSize, textWidth, tickLabel } from "./axis.js";

/**
 * Draw the chart into `container`.
 * `data`: {buckets: [{from, to, active_seconds, idle_seconds, unknown_seconds, units, utilization_pct}],
 *          bucketSeconds, window, timeZone, threshold (utilization %, the line the points are judged by)}
 */
export function drawHourly(container, data) {
  const { buckets, window: win, timeZone, threshold } = data;
  if (!buckets || buckets.length === 0 || !win || !win.from) {
    placeholder(container, "No hours to show in this window.");
    return;
  }
  const start = Date.parse(buckets[0].from);
  const end = Date.parse(buckets.at(-1).to);
  const width = widthOf(container);
  const narrow = width < 560;
  const text = chartTextSize();
  const height = narrow ? 220 : 260;
  const daily = (data.bucketSeconds || 3600) >= 86_400;
  const per = daily ? "day" : "hour";
  const slot = (from, to) => (daily ? shortDay(from, timeZone) : `${hourMinute(from, timeZone)}–${hourMinute(to, timeZone)}`);
  const top = 30;
  const bottom = 30;
  const plotH = height - top - bottom;
  const units = niceTicks(Math.max(...buckets.map((b) => b.units || 0)), Math.max(2, Math.floor(plotH / 42)), { integer: true });
  const pct = niceTicks(100, Math.max(2, Math.floor(plotH / 42)));
  const leftW = Math.ceil(Math.max(...units.ticks.map((v) => textWidth(tickLabel(v), text)))) + 14;
  const rightW = Math.ceil(textWidth("100%", text)) + 16;
  const margin = { left: Math.max(leftW, 34), right: rightW, top, bottom };
  const plotW = width - margin.left - margin.right;
  const span = Math.max(1, end - start);
  const x = (ms) => margin.left + ((ms - start) / span) * plotW;
  const yUnits = (v) => margin.top + plotH - (v / units.max) * plotH;
  const yPct = (v) => margin.top + plotH - (Math.min(Math.max(v, 0), 100) / 100) * plotH;

  const totalUnits = buckets.reduce((sum, b) => sum + (b.units || 0), 0);
  const peak = buckets.reduce((best, b) => ((b.units || 0) > (best.units || 0) ? b : best), buckets[0]);
  const staffed = buckets.filter((b) => (b.active_seconds || 0) + (b.idle_seconds || 0) > 0);
  let title = `Units and utilization per ${per}, ${buckets.length} ${per}${buckets.length === 1 ? "" : "s"} from ${dayTime(start, timeZone)} to ${dayTime(end, timeZone)}.`;
  if (totalUnits > 0) title += ` Most units in one ${per}: ${fmt.integer(peak.units)}, ${slot(Date.parse(peak.from), Date.parse(peak.to))}.`;
  if (staffed.length) {
    const low = staffed.reduce((a, b) => (b.utilization_pct < a.utilization_pct ? b : a));
    title += ` Lowest utilization: ${fmt.percent(low.utilization_pct)}, ${slot(Date.parse(low.from), Date.parse(low.to))}.`;
    if (Number.isFinite(threshold)) {
      const under = staffed.filter((b) => b.utilization_pct < threshold).length;
      title += ` ${under} of ${staffed.length} staffed ${per}s below ${fmt.percent(threshold)}.`;
    }
  }
  const chart = frame({ width, height, title, className: "hourly-svg" });

  const grid = svg("g", { "aria-hidden": "true" });
  drawValueAxis(grid, units, { y: yUnits, left: margin.left, right: width - margin.right, labelX: margin.left - 8, className: "units-tick" });
  drawValueAxis(grid, pct, { y: yPct, left: margin.left, right: width - margin.right, labelX: width - margin.right + 8, anchor: "start", suffix: "%", grid: false, className: "util-tick" });
  grid.append(
    svg("text", { x: 2, y: 12, "text-anchor": "start", class: "axis-title units-tick", text: `Units per ${per}` }),
    svg("text", { x: width - 2, y: 12, "text-anchor": "end", class: "axis-title util-tick", text: "Utilization" }));
  drawTimeAxis(grid, timeTicks({ from: start, to: end, timeZone, x, minX: 0, maxX: width }),
    { labelY: height - 10, gridTop: margin.top, gridBottom: margin.top + plotH, marks: true });
  chart.append(grid);

  const bars = svg("g", {});
  for (const bucket of buckets) {
    const from = Date.parse(bucket.from);
    const to = Date.parse(bucket.to);
    const bx = x(from);
    const full = Math.max(1, x(to) - bx);
    const gap = full > 8 ? Math.min(6, full * 0.18) : 0;
    const count = bucket.units || 0;
    const staffed = (bucket.active_seconds || 0) + (bucket.idle_seconds || 0) > 0;
    let tip = `${slot(from, to)}: ${fmt.integer(count)} units, utilization ${staffed ? fmt.percent(bucket.utilization_pct) : "— (nobody at work)"}, active ${fmt.duration(bucket.active_seconds)}, idle ${fmt.duration(bucket.idle_seconds)}`;
    if (bucket.unknown_seconds) tip += `, no signal ${fmt.duration(bucket.unknown_seconds)}`;
    const group = svg("g", {}, svg("title", { text: tip }),
      svg("rect", { x: bx, y: margin.top, width: full, height: plotH, fill: "transparent" }));
    if (count > 0) {
      group.append(svg("rect", {
        x: bx + gap / 2, y: yUnits(count), width: Math.max(1, full - gap), height: Math.max(1, margin.top + plotH - yUnits(count)),
        rx: full > 10 ? 2 : 0, class: "hour-bar",
      }));
    }
    bars.append(group);
  }
  chart.append(bars);

  // Over the bars, its label haloed, so a tall bar never hides it.
  if (Number.isFinite(threshold) && threshold > 0 && threshold < 100) {
    const ty = yPct(threshold);
    chart.append(svg("g", { class: "threshold", "aria-hidden": "true", "pointer-events": "none" },
      svg("line", { x1: margin.left, x2: width - margin.right, y1: ty, y2: ty }),
      svg("text", { x: width - margin.right - 4, y: ty - 5, "text-anchor": "end", text: `utilization threshold ${fmt.percent(threshold)}` })));
  }

  // The utilization line, broken over buckets nobody was on the floor (no active or idle time).
  const line = svg("g", { "aria-hidden": "true", "pointer-events": "none" });
  const points = [];
  let segment = [];
  const flush = () => {
    if (segment.length > 1) line.append(svg("polyline", { points: segment.map((p) => p.join(",")).join(" "), class: "util-line" }));
    segment = [];
  };
  for (const bucket of buckets) {
    const mid = (Date.parse(bucket.from) + Date.parse(bucket.to)) / 2;
    if ((bucket.active_seconds || 0) + (bucket.idle_seconds || 0) > 0) {
      const point = [x(mid), yPct(bucket.utilization_pct || 0)];
      segment.push(point);
      const low = Number.isFinite(threshold) && bucket.utilization_pct < threshold;
      points.push(svg("circle", { cx: point[0], cy: point[1], r: buckets.length <= 72 ? 3.5 : 2.25, class: `util-point ${low ? "is-low" : "is-ok"}` }));
    } else {
      flush();
    }
  }
  flush();
  line.append(...points);
  chart.append(line);
  replaceChildren(container, chart);
}
