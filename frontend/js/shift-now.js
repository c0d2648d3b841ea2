// The "this shift against target" panel: units so far against what the target asks by now, in
// total and per station (worst first), with a pace mark; or, between shifts, how the last one
// ended and when the next begins.

import { el, replaceChildren, drawIfChanged } from "./dom.js";
import * as fmt from "./format.js";
import { hourMinute } from "./time.js";
import { instanceLabel, zoneOf, siteName } from "./shifts.js";
import { instanceResult } from "./shift-report.js";

const PACE_ORDER = { behind: 0, on: 1, ahead: 2 };

/** A station's full-shift target: its hourly target over the planned hours of its shift. */
function shiftTarget(station) {
  const instance = station.instance;
  if (!instance || station.targetPerHour === null || !Number.isFinite(instance.planned_seconds)) return null;
  return (station.targetPerHour * instance.planned_seconds) / 3600;
}

function paceNode(p, className = "pace") {
  return el("span", { class: `${className} pace-${p.mark || "none"}`, dataset: { pace: p.mark || "none" } },
    el("span", { class: "pace-icon", "aria-hidden": "true" }), p.text);
}

/** One station's row: name, a bar of units over its shift target with a mark where it should be now. */
function stationRow(station) {
  const full = shiftTarget(station);
  const scale = Math.max(full ?? 0, station.target ?? 0, station.units, 1);
  const fill = el("span", { class: `progress-fill pace-${station.pace.mark || "none"}` });
  fill.style.width = `${(100 * station.units) / scale}%`;
  const bar = el("span", { class: "progress", "aria-hidden": "true" }, fill);
  if (station.target !== null) {
    const mark = el("span", { class: "progress-expected" });
    mark.style.left = `${(100 * station.target) / scale}%`;
    bar.append(mark);
  }
  const figures = station.target === null
    ? `${fmt.integer(station.units)} units · no target`
    : `${fmt.integer(station.units)} of ${fmt.integer(Math.round(station.target))} by now${full !== null ? ` · shift ${fmt.integer(Math.round(full))}` : ""}`;
  return el("li", { class: "shift-station", dataset: { workstationId: station.workstation_id, pace: station.pace.mark || "none" } },
    el("div", { class: "shift-station-line" },
      el("span", { class: "shift-station-name", text: station.name }),
      paceNode(station.pace)),
    bar,
    el("p", { class: "shift-station-figures", text: figures }));
}

function totals(stations) {
  const withTarget = stations.filter((s) => s.target !== null);
  const units = stations.reduce((sum, s) => sum + s.units, 0);
  if (!withTarget.length) return { units, target: null, full: null, pace: fmt.pace(units, null) };
  const targetUnits = withTarget.reduce((sum, s) => sum + s.units, 0);
  const target = withTarget.reduce((sum, s) => sum + s.target, 0);
  const fulls = withTarget.map(shiftTarget);
  const full = fulls.every((f) => f !== null) ? fulls.reduce((a, b) => a + b, 0) : null;
  return { units, targetUnits, target, full, pace: fmt.pace(targetUnits, target) };
}

/**
 * Draw the panel. `shifts` is live.js's loadShifts answer, `floor` floor.js's floorNow; the
 * panel is hidden when the server has no shift calendar.
 */
export function renderShiftNow(root, { shifts, floor, now }) {
  const body = root.querySelector("[data-shift-body]");
  const sub = root.querySelector("[data-shift-sub]");
  if (!shifts || !shifts.offered || !floor) {
    root.hidden = Boolean(shifts && !shifts.offered);
    return;
  }
  root.hidden = false;
  const { calendars, running, previous, next } = shifts;
  const label = (instance) => {
    const zone = zoneOf(calendars, instance.site_id);
    const site = instance.site_id ? `${siteName(calendars, instance.site_id)}: ` : "";
    return `${site}${instanceLabel(instance, zone)}`;
  };
  const signature = JSON.stringify([running.map((i) => i.start + i.site_id), previous.map((i) => i.start + i.site_id), next && next.start,
    floor.stations.map((s) => [s.workstation_id, s.units, s.target, s.pace]), Math.floor(now / 60_000)]);
  drawIfChanged(body, signature, () => {
    if (!running.length) {
      root.dataset.state = "between";
      sub.textContent = "No shift is running now.";
      // How the last shift of each site ended.
      const parts = previous.map((instance) => {
        const result = instanceResult(instance);
        return el("div", { class: "shift-total", dataset: { pace: result.pace.mark || "none", siteId: instance.site_id ?? "" } },
          el("p", { class: "shift-total-label", text: `Previous shift · ${label(instance)}` }),
          el("p", { class: "shift-total-figure" }, el("span", { class: "big", text: fmt.integer(result.figure) }), result.rest),
          paceNode(result.pace));
      });
      if (next) {
        const zone = zoneOf(calendars, next.site_id);
        parts.push(el("p", { class: "shift-next", text: `Next: ${label(next)} (starts at ${hourMinute(Date.parse(next.start), zone)})` }));
      }
      if (!parts.length) parts.push(el("p", { class: "shift-next", text: "The calendar has no shift in the last days or the next hours." }));
      replaceChildren(body, parts);
      return;
    }
    root.dataset.state = "running";
    const start = Math.min(...running.map((i) => Date.parse(i.start)));
    const end = Math.max(...running.map((i) => Date.parse(i.end)));
    sub.textContent = `${running.map(label).join(" · ")} · ${fmt.since((now - start) / 1000)} in, ${fmt.since((end - now) / 1000)} to go`;
    const stations = floor.stations.filter((s) => s.instance);
    const total = totals(stations);
    const sorted = stations.slice().sort((a, b) => {
      const pa = a.pace.mark === null ? 3 : PACE_ORDER[a.pace.mark];
      const pb = b.pace.mark === null ? 3 : PACE_ORDER[b.pace.mark];
      return pa - pb || (a.pace.diff ?? 0) - (b.pace.diff ?? 0) || a.name.localeCompare(b.name);
    });
    replaceChildren(body,
      el("div", { class: "shift-total", dataset: { pace: total.pace.mark || "none" } },
        el("p", { class: "shift-total-label", text: total.target !== null && total.targetUnits !== total.units ? "Units so far at stations with a target" : "Units so far" }),
        el("p", { class: "shift-total-figure" },
          el("span", { class: "big", text: fmt.integer(total.target !== null ? total.targetUnits : total.units) }),
          total.target !== null ? ` of ${fmt.integer(Math.round(total.target))} expected by now` : " units (no targets set)",
          total.full !== null ? ` · shift target ${fmt.integer(Math.round(total.full))}` : ""),
        total.target !== null ? paceNode(total.pace) : null),
      stations.length
        ? el("ul", { class: "shift-stations" }, sorted.map(stationRow))
        : el("p", { class: "shift-next", text: "No station is planned in this shift." }));
  });
}
