// The shift report: every shift in the chosen window (newest first), each with its stations'
// planned time, target, actual units and attainment, and a mark on every station behind target.

import { el, replaceChildren, drawIfChanged, setText } from "./dom.js";
import * as fmt from "./format.js";
import { instanceLabel, zoneOf, siteName } from "./shifts.js";
import { showNoFigure } from "./render.js";

/** The report's columns, also the CSV's (after the shift's own fields). */
export const SHIFT_STATION_COLUMNS = [
  { key: "name", label: "Station" },
  { key: "planned_seconds", label: "Planned", kind: "duration" },
  { key: "target_units", label: "Target", kind: "units" },
  { key: "units", label: "Actual", kind: "units" },
  { key: "attainment_pct", label: "Attainment", kind: "percent", none: (s) => s.target_units === 0 && fmt.NOTHING_ASKED },
  { key: "pace", label: "Against target", kind: "pace" },
];

const SHIFT_FIELDS = ["site_id", "shift", "date", "start", "end", "status"];

/** The stations of an instance worth a row: planned there, or units made there. */
function rowsOf(instance) {
  return (instance.workstations || [])
    .filter((s) => (s.planned_seconds ?? 0) > 0 || (s.units ?? 0) > 0)
    .map((s) => ({ ...s, pace: fmt.pace(s.units ?? 0, s.target_units ?? null) }));
}

/** The instances the report shows: those that have begun, newest first. */
export function reportInstances(body) {
  return ((body && body.shifts) || []).filter((i) => i.status !== "planned").slice().reverse();
}

/** CSV rows: one per shift and station, with the shift's fields first. */
export function shiftCsv(instances) {
  const columns = [...SHIFT_FIELDS, "workstation_id", "name", "planned_seconds", "target_units_per_hour",
    "target_units", "units", "attainment_pct", "pace", "units_against_target"].map((key) => ({ key }));
  const rows = [];
  for (const instance of instances) {
    for (const row of rowsOf(instance)) {
      rows.push({
        ...Object.fromEntries(SHIFT_FIELDS.map((k) => [k, instance[k] ?? null])),
        workstation_id: row.workstation_id, name: row.name, planned_seconds: row.planned_seconds,
        target_units_per_hour: row.target_units_per_hour ?? null, target_units: row.target_units ?? null,
        units: row.units, attainment_pct: row.attainment_pct ?? null, pace: row.pace.mark, units_against_target: row.pace.diff,
      });
    }
  }
  return { columns, rows };
}

function cell(column, row) {
  const value = column.key === "pace" ? row.pace.mark : row[column.key];
  const td = el("td", { dataset: { col: column.key, label: column.label }, class: column.kind && column.kind !== "pace" ? "num" : null });
  if (value !== null && value !== undefined) td.dataset.value = String(value);
  const none = column.none && column.none(row);
  if (none) {
    showNoFigure(td, none);
    return td;
  }
  switch (column.kind) {
    case "duration": td.textContent = fmt.duration(value); break;
    case "units": td.textContent = value === null || value === undefined ? "—" : fmt.integer(Math.round(value)); break;
    case "percent": td.textContent = fmt.percent(value); break;
    case "pace":
      td.append(el("span", { class: `pace pace-${row.pace.mark || "none"}` }, el("span", { class: "pace-icon", "aria-hidden": "true" }), row.pace.text));
      break;
    default:
      td.append(el("span", { class: "cell-name", text: row.name || row.workstation_id }));
      if (row.name && row.name !== row.workstation_id) td.append(el("span", { class: "cell-sub", text: row.workstation_id }));
  }
  return td;
}

/** The units made at those of `stations` (metrics items) with a target. */
export function unitsAtTargets(stations) {
  return stations.filter((s) => s.target_units !== null && s.target_units !== undefined)
    .reduce((sum, s) => sum + (s.units ?? 0), 0);
}

/**
 * What a shift made against its target: `units` at all its stations; `target` (null: no station
 * has one), the API's `attainment` and the `pace` of the units at the stations with a target
 * (`targetUnits`), since the target and attainment are of those stations alone. In words, a
 * `figure` and the `rest` after it: "84" and " of 114 target (73.68 %) · 90 units in all"; with
 * no target, or one of 0 (nothing due), all the units: "90" and " units".
 */
export function instanceResult(instance) {
  const f = instance.factory || {};
  const units = f.total_units ?? 0;
  const target = f.target_units ?? null;
  const stations = instance.workstations;
  const targetUnits = target === null || !stations ? units : unitsAtTargets(stations);
  const attainment = f.attainment_pct ?? null;
  const result = { units, targetUnits, target, attainment, pace: fmt.pace(targetUnits, target), figure: units, rest: " units" };
  if (target) {
    const all = units !== targetUnits ? ` · ${fmt.integer(units)} units in all` : "";
    result.figure = targetUnits;
    result.rest = ` of ${fmt.integer(Math.round(target))} target (${fmt.percent(attainment)})${all}`;
  }
  return result;
}

function instanceNode(instance, calendars, open) {
  const zone = zoneOf(calendars, instance.site_id);
  const rows = rowsOf(instance);
  const behind = rows.filter((r) => r.pace.mark === "behind").length;
  const site = instance.site_id ? `${siteName(calendars, instance.site_id)} · ` : "";
  const { figure, rest } = instanceResult(instance);
  const result = `${fmt.integer(figure)}${rest}`;
  const details = el("details", { class: `shift-instance status-${instance.status}`, dataset: { shift: instance.shift, start: instance.start, siteId: instance.site_id ?? "" } },
    el("summary", {},
      el("span", { class: "shift-name", text: `${site}${instanceLabel(instance, zone)}` }),
      el("span", { class: `shift-status status-${instance.status}`, text: instance.status === "running" ? "running, target so far" : instance.status }),
      el("span", { class: "shift-result", text: result }),
      behind ? el("span", { class: "shift-behind", text: `${behind} behind target` }) : null),
    el("table", { class: "data-table shift-table" },
      el("caption", { class: "visually-hidden", text: `Stations in ${instanceLabel(instance, zone)}` }),
      el("thead", {}, el("tr", {}, SHIFT_STATION_COLUMNS.map((c) => el("th", { scope: "col", class: c.kind && c.kind !== "pace" ? "num" : null, dataset: { col: c.key } }, el("span", { class: "th-label", text: c.label }))))),
      el("tbody", {}, rows.length
        ? rows.map((row) => el("tr", { class: row.pace.mark === "behind" ? "is-behind" : null, dataset: { workstationId: row.workstation_id, pace: row.pace.mark || "none" } },
          SHIFT_STATION_COLUMNS.map((c) => cell(c, row))))
        : el("tr", { class: "empty-row" }, el("td", { colspan: SHIFT_STATION_COLUMNS.length, text: "No station planned or producing in this shift." })))));
  details.open = open;
  return details;
}

/**
 * Draw the report. `body` is GET /metrics/shifts for the window (null: the server has no shift
 * report, and the panel hides); `error` is a message when the request was refused (too many shifts).
 * A shift the user opened or closed keeps that across redraws.
 */
export function renderShiftReport(root, { body, error, calendars }) {
  const list = root.querySelector("[data-shift-list]");
  const sub = root.querySelector("[data-shift-report-sub]");
  root.hidden = body === null && !error;
  if (root.hidden) return [];
  if (error) {
    setText(sub, error);
    replaceChildren(list);
    list.__signature = null;
    return [];
  }
  const instances = reportInstances(body);
  const behind = instances.reduce((n, i) => n + rowsOf(i).filter((r) => r.pace.mark === "behind").length, 0);
  setText(sub, instances.length
    ? `${instances.length} shift${instances.length === 1 ? "" : "s"} in this window, newest first · ${behind} station-shift${behind === 1 ? "" : "s"} behind target. Target = hourly target × planned hours; behind = more than 5 % (at least one unit) short.`
    : "No shift in this window.");
  drawIfChanged(list, JSON.stringify([instances, [...calendars.sites]]), () => {
    const choice = new Map([...list.querySelectorAll("details")].map((d) => [`${d.dataset.siteId}|${d.dataset.start}`, d.open]));
    replaceChildren(list, instances.map((instance, index) => {
      const key = `${instance.site_id ?? ""}|${instance.start}`;
      return instanceNode(instance, calendars, choice.has(key) ? choice.get(key) : index === 0);
    }));
  });
  return instances;
}
