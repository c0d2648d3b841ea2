// Data to DOM: cards, tables, the feed, filters and messages. Every function redraws its part
// completely from what it is given; none of them fetch or keep state of their own.

import { el, replaceChildren, setText, drawIfChanged } from "./dom.js";
import * as fmt from "./format.js";
import { clock, dayTime, hourMinute, sameDay } from "./time.js";
import { seriesSwatch } from "./charts.js";

// Where the time was looked at: the planned time of a shift window, else the whole window.
const within = (context) => (context.plannedOnly ? "in planned time" : "in this window");

/**
 * Worker table columns, in order; `key` is the API field shown (and the cell's data-col). A
 * ratio the API gives as 0 for want of a denominator (SPEC §5) is shown as "—" where `none(row,
 * context)` gives the reason: a worker with no time at work has no utilization, a station not
 * planned in a planned-time window none either, rather than a figure of 0 % that reads as failure.
 */
export const WORKER_COLUMNS = [
  { key: "name", label: "Worker", kind: "name", idKey: "worker_id" },
  { key: "state_at_end", label: "State", kind: "state" },
  { key: "current_workstation_id", label: "Station", kind: "station" },
  { key: "active_seconds", label: "Active", kind: "duration" },
  { key: "idle_seconds", label: "Idle", kind: "duration" },
  { key: "absent_seconds", label: "Absent", kind: "duration" },
  { key: "unknown_seconds", label: "No signal", kind: "duration" },
  { key: "utilization_pct", label: "Utilization", kind: "percent",
    none: (w, context) => w.active_seconds + w.idle_seconds === 0 && `No working or idle time ${within(context)}` },
  { key: "units", label: "Units", kind: "integer" },
  { key: "units_per_hour", label: "Units / h", kind: "decimal",
    none: (w, context) => w.active_seconds === 0 && `No working time ${within(context)}` },
  { key: "last_seen", label: "Last seen", kind: "instant" },
];

/** Workstation table columns. */
export const WORKSTATION_COLUMNS = [
  { key: "name", label: "Workstation", kind: "name", idKey: "workstation_id" },
  { key: "occupancy_seconds", label: "Occupied", kind: "duration" },
  { key: "utilization_pct", label: "Utilization", kind: "percent",
    none: (s, context) => context.plannedOnly && s.planned_seconds === 0 && "Not planned in this window" },
  { key: "units", label: "Units", kind: "integer" },
  { key: "throughput_per_hour", label: "Units / h", kind: "decimal",
    none: (s, context) => s.occupancy_seconds === 0 && `Nobody at it ${within(context)}` },
  { key: "target_units", label: "Target", kind: "target" },
  { key: "attainment_pct", label: "Attainment", kind: "percent", none: (s) => s.target_units === 0 && fmt.NOTHING_ASKED },
];

/**
 * Model version columns. Rows are the API's models, each with `drift` ("flagged", "steady" or
 * "unchecked", from GET /metrics/drift), `drift_reason` and `series` (its line's index in the chart).
 */
export const MODEL_COLUMNS = [
  { key: "model_version", label: "Model version", kind: "version" },
  { key: "drift", label: "Drift", kind: "drift" },
  { key: "event_count", label: "Events", kind: "integer" },
  { key: "mean_confidence", label: "Mean", kind: "score" },
  { key: "p10_confidence", label: "P10", kind: "score" },
  { key: "low_confidence_share", label: "Low conf.", kind: "share" },
  { key: "first_seen", label: "First seen", kind: "instant" },
  { key: "last_seen", label: "Last seen", kind: "instant" },
];

const DRIFT_BADGES = {
  flagged: { text: "Drift", className: "badge-drift" },
  steady: { text: "Steady", className: "badge-steady" },
  unchecked: { text: "Not compared", className: "badge-unchecked" },
};

const NUMERIC_KINDS = new Set(["duration", "percent", "integer", "decimal", "score", "share", "target"]);

/** Whether a column holds numbers (right-aligned, sorted high to low first). */
export function isNumeric(column) {
  return NUMERIC_KINDS.has(column.kind);
}

/**
 * Rows sorted by `sort` ({key, dir}); missing values, and those with no figure (a column's
 * `none` in `context`), last; ties keep the API's order.
 */
export function sortRows(rows, sort, columns, context = {}) {
  const column = sort && columns.find((c) => c.key === sort.key);
  if (!column) return rows.slice();
  const sign = sort.dir === "desc" ? -1 : 1;
  const value = (row) => (column.none && column.none(row, context) ? null : row[sort.key]);
  return rows
    .map((row, index) => ({ row, index }))
    .sort((a, b) => {
      const x = value(a.row);
      const y = value(b.row);
      const xMissing = x === null || x === undefined;
      const yMissing = y === null || y === undefined;
      if (xMissing || yMissing) return xMissing === yMissing ? a.index - b.index : xMissing ? 1 : -1;
      const order = typeof x === "number" && typeof y === "number"
        ? x - y
        : String(x).localeCompare(String(y), undefined, { numeric: true, sensitivity: "base" });
      return order !== 0 ? sign * order : a.index - b.index;
    })
    .map(({ row }) => row);
}

function cellText(column, value, context) {
  switch (column.kind) {
    case "duration": return fmt.duration(value);
    case "percent": return fmt.percent(value);
    case "integer": return fmt.integer(value);
    case "target": return value === null || value === undefined ? "—" : fmt.integer(Math.round(value));
    case "decimal": return fmt.decimal(value);
    case "score": return fmt.score(value);
    case "share": return fmt.share(value);
    case "instant": {
      if (!value) return "—";
      const ms = Date.parse(value);
      return context.windowEnd && sameDay(ms, context.windowEnd, context.timeZone)
        ? hourMinute(ms, context.timeZone) : dayTime(ms, context.timeZone);
    }
    default: return value === null || value === undefined || value === "" ? "—" : String(value);
  }
}

/** Show "—" in the table cell `td` that has no figure, its `reason` on hover and as its name. */
export function showNoFigure(td, reason) {
  td.title = reason;
  td.setAttribute("aria-label", `— (${reason})`);
  td.textContent = "—";
}

/** Why `row` has no figure in the column `key` of `columns` (its `none`), or "" when it has one. */
export function noFigure(columns, key, row, context) {
  const column = columns.find((c) => c.key === key);
  return (column && column.none && column.none(row, context)) || "";
}

function cell(column, row, context) {
  const value = row[column.key];
  // data-label names the column where a narrow screen shows each row as a list.
  const td = el("td", { dataset: { col: column.key, label: column.label }, class: isNumeric(column) ? "num" : null });
  if (value !== null && value !== undefined) td.dataset.value = String(value);
  const none = column.none && column.none(row, context);
  if (none) {
    showNoFigure(td, none);
  } else if (column.kind === "name") {
    const id = row[column.idKey];
    td.append(el("span", { class: "cell-name", text: value ?? id }));
    if (id !== value) td.append(el("span", { class: "cell-sub", text: id }));
  } else if (column.kind === "version") {
    td.append(el("span", { class: "cell-version" },
      Number.isInteger(row.series) ? seriesSwatch(row.series) : null,
      el("span", { class: "cell-name", text: value ?? "No version given" })));
  } else if (column.kind === "drift") {
    const badge = DRIFT_BADGES[value];
    td.append(badge ? el("span", { class: `badge ${badge.className}`, title: row.drift_reason || null, text: badge.text }) : "—");
  } else if (column.kind === "state") {
    td.append(value ? el("span", { class: `badge badge-${value}`, text: fmt.stateLabel(value) }) : "—");
  } else if (column.kind === "station") {
    td.append(el("span", { text: cellText(column, value, context) }));
    const name = value ? context.stationNames.get(value) : null;
    if (name && name !== value) td.append(el("span", { class: "cell-sub", text: name }));
  } else if (column.kind === "instant" && value) {
    td.append(el("time", { datetime: value, text: cellText(column, value, context) }));
  } else {
    td.textContent = cellText(column, value, context);
  }
  return td;
}

/**
 * Draw a sortable table. The header is built once (so keyboard focus on a sort button
 * survives every poll) and only its aria-sort is updated; the body is rebuilt when rows change.
 * `onSort(key)` is called when a header button is pressed; without it the header is plain text.
 * `rowClass(row)` may give a row a class (a flagged row, say).
 */
export function renderTable(table, { columns, rows, sort, idKey, idAttr, emptyText, context, onSort, rowClass }) {
  let head = table.tHead;
  if (!head || !head.rows.length) {
    head = table.tHead || table.createTHead();
    const tr = el("tr");
    for (const column of columns) {
      let label;
      if (onSort) {
        label = el("button", { type: "button", class: "sort-button", dataset: { key: column.key } },
          el("span", { text: column.label }),
          el("span", { class: "sort-icon", "aria-hidden": "true" }));
        label.addEventListener("click", () => onSort(column.key));
      } else {
        label = el("span", { class: "th-label", text: column.label });
      }
      tr.append(el("th", { scope: "col", dataset: { col: column.key }, class: isNumeric(column) ? "num" : null }, label));
    }
    head.append(tr);
  }
  for (const th of head.rows[0].cells) {
    const active = sort && sort.key === th.dataset.col;
    if (active) th.setAttribute("aria-sort", sort.dir === "desc" ? "descending" : "ascending");
    else th.removeAttribute("aria-sort");
  }
  const body = table.tBodies[0] || table.createTBody();
  const sorted = sortRows(rows, sort, columns, context);
  const signature = JSON.stringify([sorted, context.timeZone, context.windowEnd, context.plannedOnly, [...context.stationNames]]);
  drawIfChanged(body, signature, () => {
    if (sorted.length === 0) {
      replaceChildren(body, el("tr", { class: "empty-row" }, el("td", { colspan: columns.length, text: emptyText })));
      return;
    }
    replaceChildren(body, sorted.map((row) => {
      const tr = el("tr", { class: rowClass ? rowClass(row) : null });
      tr.setAttribute(idAttr, row[idKey] ?? "");
      for (const column of columns) tr.append(cell(column, row, context));
      return tr;
    }));
  });
  return sorted;
}

/** Put `text` in `node` with its numbers large and its units ("h", "min", "%") small. */
function setFigure(node, text) {
  drawIfChanged(node, text, () => {
    replaceChildren(node, text.split(/(\d[\d,.]*)/).filter(Boolean).map((part) => (
      /^\d/.test(part) ? part : el("span", { class: "unit", text: part })
    )));
  });
}

function card(root, name, value, text, note) {
  const node = root.querySelector(`[data-card="${name}"]`);
  const valueNode = node.querySelector(".value");
  setFigure(valueNode, text);
  if (value === null || value === undefined) delete valueNode.dataset.value;
  else valueNode.dataset.value = String(value);
  if (note !== undefined) setText(node.querySelector(".card-note"), note);
}

function cardLabel(root, name, text) {
  const label = root.querySelector(`[data-card="${name}"] [data-label]`);
  if (label) setText(label, text);
}

/** The units card's note: the target and attainment when there is a target, else where the figure comes from. */
function unitsNote(target, attainment, otherwise) {
  if (target === 0) return `Target 0: ${fmt.NOTHING_ASKED.toLowerCase()}`;
  if (target === null || target === undefined) return otherwise;
  return `Target ${fmt.integer(Math.round(target))} · attainment ${fmt.percent(attainment)}`;
}

/**
 * The summary cards: the factory's figures, one worker's when `worker` is given, or one
 * station's when `station` is (the worker and workstation filters narrow them too; a station has
 * no idle or no-signal time of its own, so those cards are hidden). `activeNow` counts the
 * workers whose state at the window's end is working (a silent camera counts as no signal, never
 * as working); `targetedUnits` are the units of the stations with a target, against which the
 * factory's attainment is reckoned; `plannedOnly` whether the window counts planned time only. A
 * ratio with nothing to divide by shows "—" with the reason as its note, as in the tables.
 */
export function renderCards(root, { factory, targetedUnits = null, plannedOnly = false, worker, station, activeNow,
  workerCount, window: win, timeZone, now }) {
  const f = factory;
  const w = worker;
  const plural = (n, word) => `${fmt.integer(n)} ${word}${n === 1 ? "" : "s"}`;
  const context = { plannedOnly };
  // A ratio card: its figure, or "—" with the reason it has none (`reason`) as its note.
  const ratioCard = (name, value, text, reason, note) => card(root, name, value, reason ? "—" : text, reason || note);
  const stationScope = Boolean(station && !w);
  for (const name of ["idle", "unknown"]) root.querySelector(`[data-card="${name}"]`).hidden = stationScope;
  cardLabel(root, "active", stationScope ? "Occupied time" : "Productive time");
  cardLabel(root, "rate", stationScope ? "Throughput" : "Production rate");
  if (stationScope) {
    const s = station;
    const name = s.name || s.workstation_id;
    const has = s.occupancy_seconds !== undefined;
    const missing = "No figures for this workstation in this scope";
    root.dataset.scope = "workstation";
    cardLabel(root, "utilization", "Utilization");
    card(root, "active", s.occupancy_seconds, fmt.duration(has ? s.occupancy_seconds : 0),
      `Someone working or idle at ${name}`);
    card(root, "units", s.units, fmt.integer(has ? s.units : 0), unitsNote(s.target_units, s.attainment_pct,
      `Made at ${name} in the window`));
    ratioCard("rate", s.throughput_per_hour, fmt.perHour(s.throughput_per_hour),
      has ? noFigure(WORKSTATION_COLUMNS, "throughput_per_hour", s, context) : missing, "Units per occupied hour");
    ratioCard("utilization", s.utilization_pct, fmt.percent(s.utilization_pct),
      has ? noFigure(WORKSTATION_COLUMNS, "utilization_pct", s, context) : missing,
      `Occupied ÷ ${plannedOnly ? "planned time" : "the window"}`);
  } else if (w) {
    const name = w.name || w.worker_id;
    const has = w.active_seconds !== undefined;
    root.dataset.scope = "worker";
    cardLabel(root, "utilization", "Utilization");
    card(root, "active", w.active_seconds, fmt.duration(has ? w.active_seconds : 0), `Time in “working” of ${name}`);
    card(root, "idle", w.idle_seconds, fmt.duration(has ? w.idle_seconds : 0), `${name} at a station, not working`);
    card(root, "unknown", w.unknown_seconds, fmt.duration(has ? w.unknown_seconds ?? 0 : 0), `${name}’s camera silent past the signal horizon`);
    card(root, "units", w.units, fmt.integer(has ? w.units : 0), `Made by ${name} in the window`);
    const missing = "No figures for this worker in this scope";
    const noRate = has ? noFigure(WORKER_COLUMNS, "units_per_hour", w, context) : missing;
    const noUtilization = has ? noFigure(WORKER_COLUMNS, "utilization_pct", w, context) : missing;
    ratioCard("rate", w.units_per_hour, fmt.perHour(w.units_per_hour), noRate, "Units per active hour");
    ratioCard("utilization", w.utilization_pct, fmt.percent(w.utilization_pct), noUtilization, "Active ÷ (active + idle)");
  } else {
    root.dataset.scope = "factory";
    cardLabel(root, "utilization", "Avg utilization");
    card(root, "active", f.total_active_seconds, fmt.duration(f.total_active_seconds),
      `Time in “working”, summed over ${plural(f.worker_count, "worker")}`);
    card(root, "idle", f.total_idle_seconds, fmt.duration(f.total_idle_seconds), "Time at a station, not working");
    card(root, "unknown", f.total_unknown_seconds ?? 0, fmt.duration(f.total_unknown_seconds ?? 0),
      "Cameras silent past the signal horizon: not counted as working");
    const target = f.target_units;
    // The attainment is of the stations with a target: their units, when not all, are named.
    const there = target && targetedUnits !== null && targetedUnits !== f.total_units
      ? ` (${fmt.integer(targetedUnits)} at stations with a target)` : "";
    card(root, "units", f.total_units, fmt.integer(f.total_units),
      unitsNote(target, f.attainment_pct, `From ${plural(f.event_count, "camera event")} in the window`) + there);
    const totals = { active_seconds: f.total_active_seconds, idle_seconds: f.total_idle_seconds };
    const noRate = noFigure(WORKER_COLUMNS, "units_per_hour", totals, context);
    const noUtilization = noFigure(WORKER_COLUMNS, "utilization_pct", totals, context);
    ratioCard("rate", f.average_production_rate, fmt.perHour(f.average_production_rate), noRate, "Units per active hour");
    ratioCard("utilization", f.average_utilization_pct, fmt.percent(f.average_utilization_pct), noUtilization,
      "Mean of workers’ active ÷ (active + idle)");
  }
  const end = win && win.to ? Date.parse(win.to) : null;
  let note = `of ${plural(workerCount, "worker")}`;
  // A window that ended a while ago (the previous shift, a custom range) counts who was working
  // at its end, not now: the card says so, and the attention list keeps the floor now.
  const past = end !== null && now - end > 2 * 60_000;
  if (past) note += `, as of ${sameDay(end, now, timeZone) ? hourMinute(end, timeZone) : dayTime(end, timeZone)}`;
  cardLabel(root, "active-now", past ? "Working at the end" : "Working now");
  card(root, "active-now", activeNow, fmt.integer(activeNow), note);
  const utilization = stationScope ? station.utilization_pct : w ? w.utilization_pct : f.average_utilization_pct;
  const bar = root.querySelector('[data-card="utilization"] .meter-fill');
  if (bar) bar.style.width = `${Math.min(Math.max(utilization || 0, 0), 100)}%`;
}

/** Blank every card (no data yet). */
export function renderCardsEmpty(root) {
  for (const node of root.querySelectorAll(".value")) setFigure(node, "—");
}

/**
 * Fill a <select> with `items` ([{value, label}]) after an "all" option. The current value is
 * kept even when the list does not hold it (a shared URL may name it before the list loads).
 */
export function renderOptions(select, items, current, allLabel) {
  const list = items.slice();
  if (current && !list.some((item) => item.value === current)) list.push({ value: current, label: current });
  drawIfChanged(select, JSON.stringify([list, allLabel]), () => {
    replaceChildren(select,
      el("option", { value: "", text: allLabel }),
      list.map((item) => el("option", { value: item.value, text: item.label })));
  });
  if (select.value !== current) select.value = current;
}

/** The live feed: newest events first; events not seen in the previous draw are marked new. */
export function renderFeed(list, { events, workerNames, stationNames, timeZone, now, seen }) {
  const signature = JSON.stringify([events.map((e) => e.id), [...workerNames], [...stationNames], timeZone]);
  drawIfChanged(list, signature, () => {
    if (events.length === 0) {
      replaceChildren(list, el("li", { class: "feed-empty", text: "No events yet for this selection." }));
      return;
    }
    const firstDraw = seen.size === 0;
    replaceChildren(list, events.map((event) => {
      const at = Date.parse(event.timestamp);
      const name = workerNames.get(event.worker_id) || event.worker_id;
      const station = stationNames.get(event.workstation_id);
      const isNew = !firstDraw && !seen.has(event.id);
      const what = event.event_type === "product_count"
        ? `+${fmt.integer(event.count)} unit${event.count === 1 ? "" : "s"}`
        : fmt.stateLabel(event.event_type);
      const timeText = sameDay(at, now, timeZone) ? clock(at, timeZone) : `${dayTime(at, timeZone)}`;
      return el("li", { class: `feed-item${isNew ? " is-new" : ""}`, dataset: { eventId: event.id, workerId: event.worker_id, workstationId: event.workstation_id } },
        el("span", { class: `feed-dot dot-${event.event_type}`, "aria-hidden": "true" }),
        el("div", { class: "feed-body" },
          el("div", { class: "feed-line" },
            el("span", { class: "feed-worker", text: name }),
            el("span", { class: `feed-type type-${event.event_type}`, text: what })),
          el("div", { class: "feed-meta" },
            el("span", { class: "feed-where" },
              el("time", { datetime: event.timestamp, text: timeText }),
              el("span", { class: "feed-station", text: station && station !== event.workstation_id ? `${event.workstation_id} ${station}` : event.workstation_id })),
            el("span", { class: "feed-conf", title: "Camera confidence", text: `conf. ${fmt.confidence(event.confidence)}` }))));
    }));
    for (const event of events) seen.add(event.id);
  });
}

/** "Updated at HH:MM:SS" in the factory's zone. */
export function renderUpdatedAt(node, ms, timeZone) {
  setText(node, ms ? `Updated at ${clock(ms, timeZone)}` : "Not updated yet");
  if (ms) node.setAttribute("datetime", new Date(ms).toISOString());
}

/** The API-down banner: shown with what is known, or hidden when the API answers. */
export function renderBanner(banner, down, { timeZone, lastGood, pollSeconds }) {
  if (!down) {
    banner.hidden = true;
    return;
  }
  const detail = banner.querySelector("[data-detail]");
  const kept = lastGood
    ? `The figures below are from ${clock(lastGood, timeZone)} and stay on screen until it answers again.`
    : "No figures could be loaded yet.";
  setText(detail, `${kept} Trying again every ${fmt.decimal(pollSeconds)} s. Last attempt: ${down.message}`);
  banner.hidden = false;
}

/** The line that says which window the figures cover; `note` adds what the range stands for. */
export function renderWindowCaption(node, { window: win, timeZone, rangeLabel, note = "" }) {
  const extra = note ? ` · ${note}` : "";
  if (!win || !win.from || !win.to) {
    setText(node, `${rangeLabel}: no events in this window.${extra}`);
    return;
  }
  const from = Date.parse(win.from);
  const to = Date.parse(win.to);
  const end = sameDay(from, to, timeZone) ? hourMinute(to, timeZone) : dayTime(to, timeZone);
  setText(node, `${rangeLabel}: ${dayTime(from, timeZone)} → ${end} (${fmt.duration(win.seconds)}), times in ${timeZone}${extra}`);
}

/** The drift badge at the top of the page: how many items the API flagged; hidden without figures. */
export function renderDriftSummary(node, drift) {
  if (!drift) {
    node.hidden = true;
    delete node.dataset.flagged;
    return;
  }
  const flagged = Number(drift.flagged) || 0;
  node.dataset.flagged = String(flagged);
  node.dataset.state = flagged ? "flagged" : "clear";
  setText(node.querySelector("[data-text]"), flagged ? `${fmt.integer(flagged)} drift flag${flagged === 1 ? "" : "s"}` : "No drift");
  node.title = flagged
    ? "Drift flagged by the server: see the Camera models panel for which and why"
    : "No model version or worker crossed a drift threshold in this window";
  node.hidden = false;
}

function driftItem(kind, id, flagged, title, figures, evidence, reason) {
  return el("li", { class: `drift-item${flagged ? " is-flagged" : ""}`, dataset: { driftKind: kind, driftId: id, flagged: String(flagged) } },
    el("div", { class: "drift-line" },
      el("span", { class: "drift-title" }, title),
      flagged ? el("span", { class: "badge badge-drift", text: kind === "model" ? "Confidence drop" : "Mix shift" }) : null),
    el("p", { class: "drift-figures", text: figures }),
    el("p", { class: "drift-evidence", text: evidence }),
    reason ? el("p", { class: "drift-reason", text: reason }) : null);
}

function modelDriftItem(model) {
  const name = model.model_version ?? "No version given";
  const { baseline, recent } = model;
  let figures = `Mean confidence ${fmt.score(baseline.mean_confidence)} → ${fmt.score(recent.mean_confidence)}`;
  if (model.confidence_drop !== null && model.confidence_drop !== undefined) {
    const sign = model.confidence_drop > 0 ? "−" : model.confidence_drop < 0 ? "+" : "";
    figures += ` (${sign}${fmt.score(Math.abs(model.confidence_drop))})`;
  }
  const evidence = `From ${fmt.integer(baseline.events)} rated events before and ${fmt.integer(recent.events)} recent`;
  return driftItem("model", model.model_version ?? "", model.flagged, el("span", { class: "drift-name", text: name }), figures, evidence, model.reason);
}

function workerDriftItem(worker) {
  const name = worker.name || worker.worker_id;
  const title = [el("span", { class: "drift-name", text: name })];
  if (name !== worker.worker_id) title.push(el("span", { class: "drift-id", text: worker.worker_id }));
  let figures = `Working share ${fmt.share(worker.baseline.working_share)} → ${fmt.share(worker.recent.working_share)}`;
  if (worker.shift !== null && worker.shift !== undefined) figures += ` (${fmt.points(worker.shift)})`;
  const evidence = `Working or idle ${fmt.duration(worker.baseline.present_seconds)} before, ${fmt.duration(worker.recent.present_seconds)} recent`;
  return driftItem("worker", worker.worker_id, worker.flagged, title, figures, evidence, worker.reason);
}

function driftGroup(kind, heading, items, { noun, calm, uncompared, note, open }) {
  const flagged = items.filter((item) => item.flagged);
  const others = items.filter((item) => !item.flagged);
  const measure = kind === "model" ? "confidence_drop" : "shift";
  const compared = items.some((item) => item[measure] !== null && item[measure] !== undefined);
  const group = el("section", { class: "drift-group", dataset: { driftGroup: kind } },
    el("h4", {},
      el("span", { text: heading }),
      el("span", { class: `drift-count${flagged.length ? " is-flagged" : ""}`, text: flagged.length ? `${flagged.length} flagged` : "none flagged" })));
  if (flagged.length) group.append(el("ul", { class: "drift-items" }, flagged.map((item) => (kind === "model" ? modelDriftItem(item) : workerDriftItem(item)))));
  else if (!items.length) group.append(el("p", { class: "drift-calm is-unknown", text: `No ${noun}s in this scope.` }));
  else if (!compared) group.append(el("p", { class: "drift-calm is-unknown", text: uncompared }));
  else group.append(el("p", { class: "drift-calm", text: calm }));
  if (note) group.append(el("p", { class: "drift-note", text: note }));
  if (others.length) {
    const plural = `${noun}${others.length === 1 ? "" : "s"}`;
    const details = el("details", { class: "drift-others", dataset: { driftGroup: kind } },
      el("summary", { text: flagged.length ? `${others.length} other ${plural}, not flagged` : `Show ${others.length === 1 ? "the" : `all ${others.length}`} ${plural} checked` }),
      el("ul", { class: "drift-items" }, others.map((item) => (kind === "model" ? modelDriftItem(item) : workerDriftItem(item)))));
    details.open = Boolean(open);
    group.append(details);
  }
  return group;
}

/**
 * The drift checks: flagged model versions and workers first, each with the API's reason; the
 * rest folded away (a fold the user opened stays open across redraws). `worker` narrows the
 * worker list to that worker, saying when a flagged worker is left out.
 */
export function renderDriftList(root, { drift, worker, timeZone }) {
  drawIfChanged(root, JSON.stringify([drift, worker, timeZone]), () => {
    if (!drift) {
      replaceChildren(root, el("p", { class: "drift-calm", text: "This server gives no drift checks." }));
      return;
    }
    const open = new Set([...root.querySelectorAll("details[open]")].map((d) => d.dataset.driftGroup));
    const workers = drift.workers.filter((w) => !worker || w.worker_id === worker);
    const hidden = drift.workers.filter((w) => w.flagged && worker && w.worker_id !== worker).length;
    replaceChildren(root,
      driftGroup("model", "Camera confidence", drift.models, {
        noun: "model version", calm: "No model version lost confidence.", open: open.has("model"),
        uncompared: `Too few rated events to compare (at least ${fmt.integer(drift.rules.min_events)} on each side).`,
      }),
      driftGroup("worker", "Working/idle mix", workers, {
        noun: "worker", calm: worker ? "This worker’s mix did not shift." : "No worker’s mix shifted.", open: open.has("worker"),
        uncompared: `Too little working or idle time to compare (at least ${fmt.duration(drift.rules.min_present_seconds)} on each side).`,
        note: hidden ? `${hidden} other flagged worker${hidden === 1 ? " is" : "s are"} hidden by the worker filter.` : null,
      }));
  });
}

/** The line under the drift heading: which stretches are compared, and the thresholds. */
export function renderDriftRules(node, { drift, timeZone }) {
  if (!drift || !drift.rules) {
    setText(node, "");
    return;
  }
  const rules = drift.rules;
  const win = drift.window;
  let text = `Last ${fmt.span(rules.recent_seconds)} against the time before it`;
  if (win && win.from && win.to) {
    const from = Date.parse(win.from);
    const to = Date.parse(win.to);
    const cut = Math.max(from, to - rules.recent_seconds * 1000);
    const at = (ms) => (sameDay(ms, to, timeZone) ? hourMinute(ms, timeZone) : dayTime(ms, timeZone));
    text += ` (${at(cut)}–${at(to)} vs ${at(from)}–${at(cut)})`;
  }
  text += `. Flags a mean-confidence drop of more than ${fmt.decimal(rules.confidence_drop)} and a working-share shift of more than ${fmt.points(rules.mix_shift).replace("+", "")}.`;
  setText(node, text);
}
