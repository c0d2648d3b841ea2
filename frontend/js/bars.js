// Horizontal utilization bars on a 0-100 % scale, each coloured against the threshold.

import { svg, replaceChildren } from "./dom.js";
import * as fmt from "./format.js";
import { frame, placeholder, widthOf, niceTicks, chartTextSize, cssNumber, fitText, tickLabel, textWidth } from "./axis.js";

/**
 * Draw the bars into `container`.
 * `data`: {items: [{id, label, value, none}], what: "worker" | "workstation", threshold (utilization %)}
 * An item with `none` (why it has no figure, as the tables give it) is drawn as "—", no bar, and
 * is not held against the threshold.
 */
export function drawUtilizationBars(container, data) {
  const { items, what, threshold } = data;
  if (!items || items.length === 0) {
    placeholder(container, `No ${what}s in this scope.`);
    return;
  }
  const width = widthOf(container);
  const text = chartTextSize();
  const nameSize = cssNumber("--chart-name-text", 12.5);
  const labelW = Math.min(170, Math.max(96, Math.round(width * 0.32)));
  const valueW = Math.ceil(textWidth("100.00 %", nameSize, 600)) + 10;
  const rowH = 30;
  const barH = 14;
  const top = 6;
  const height = top + items.length * rowH + 22;
  const trackW = width - labelW - valueW;
  const hasThreshold = Number.isFinite(threshold) && threshold > 0 && threshold < 100;
  const shown = (item) => (item.none ? "—" : fmt.percent(item.value));
  const judged = items.filter((item) => !item.none && Number.isFinite(item.value));
  let title = `Utilization by ${what}: ${items.map((item) => `${item.label} ${item.none ? item.none.toLowerCase() : shown(item)}`).join(", ")}.`;
  if (hasThreshold) {
    const under = judged.filter((item) => item.value < threshold).length;
    title += ` ${under} of ${judged.length} below ${fmt.percent(threshold)}.`;
  }
  const chart = frame({ width, height, title, className: "bars-svg" });

  // A scale with as many round steps as fit: 0/50/100 on a phone, 0/20/.../100 when wide.
  const scale = niceTicks(100, Math.max(2, Math.min(10, Math.floor(trackW / (textWidth("100%", text) + 24)))));
  const axis = svg("g", { "aria-hidden": "true" });
  for (const pct of scale.ticks) {
    const sx = labelW + (pct / 100) * trackW;
    axis.append(
      svg("line", { x1: sx, x2: sx, y1: top, y2: height - 20, class: pct === 0 ? "grid-line is-base" : "grid-line" }),
      svg("text", { x: sx, y: height - 6, "text-anchor": pct === 0 ? "start" : pct === 100 ? "end" : "middle", class: "tick-label value-tick", text: tickLabel(pct, "%") }));
  }
  if (hasThreshold) {
    const tx = labelW + (threshold / 100) * trackW;
    axis.append(svg("line", { x1: tx, x2: tx, y1: top - 2, y2: height - 20, class: "threshold-line" }));
  }
  chart.append(axis);

  items.forEach((item, index) => {
    const y = top + index * rowH;
    const barY = y + (rowH - barH) / 2;
    const value = !item.none && Number.isFinite(item.value) ? Math.min(Math.max(item.value, 0), 100) : 0;
    const low = hasThreshold && judged.includes(item) && item.value < threshold;
    const look = item.none ? "is-none" : !hasThreshold ? "is-plain" : low ? "is-low" : "is-ok";
    const verdict = item.none ? `, ${item.none.toLowerCase()}` : !hasThreshold ? ""
      : low ? `, below ${fmt.percent(threshold)}` : `, at or above ${fmt.percent(threshold)}`;
    chart.append(svg("g", { "data-id": item.id, class: `util-bar ${look}` },
      svg("title", { text: `${item.label}: ${shown(item)}${verdict}` }),
      svg("text", { x: labelW - 10, y: barY + barH / 2 + nameSize * 0.36, "text-anchor": "end", class: "row-label" },
        fitText(item.label, labelW - 14, nameSize)),
      svg("rect", { x: labelW, y: barY, width: trackW, height: barH, rx: 3, class: "track" }),
      svg("rect", { x: labelW, y: barY, width: Math.max(value > 0 ? 2 : 0, (value / 100) * trackW), height: barH, rx: 3, class: "bar" }),
      svg("text", { x: width - 4, y: barY + barH / 2 + nameSize * 0.36, "text-anchor": "end", class: "row-value num" },
        shown(item))));
  });
  replaceChildren(container, chart);
}
