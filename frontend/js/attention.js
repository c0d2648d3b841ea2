// The "needs attention now" panel: open alerts, who is idle (longest first), whose camera went
// silent, which stations stand empty in planned time; and a line of how the floor stands.

import { el, replaceChildren, drawIfChanged, setText } from "./dom.js";
import * as fmt from "./format.js";
import { hourMinute, dayTime, sameDay } from "./time.js";
import { attentionItems } from "./floor.js";

/** How an alert's rule kind reads (SPEC §9). */
export const ALERT_KINDS = {
  worker_idle: "Idle too long",
  station_unstaffed: "Station unstaffed",
  no_signal: "No signal",
  pace_below: "Below pace",
  drift: "Camera drift",
};

const at = (ms, now, timeZone) => (sameDay(ms, now, timeZone) ? hourMinute(ms, timeZone) : dayTime(ms, timeZone));

/** What an alert's `detail` (SPEC §9, an object by rule kind) adds to its title, or "". */
function detailText(alert) {
  const detail = alert.detail;
  if (typeof detail === "string") return detail;
  if (!detail || typeof detail !== "object") return "";
  if (alert.kind === "pace_below" && Number.isFinite(detail.units) && Number.isFinite(detail.target_units)) {
    return `${fmt.integer(detail.units)} of ${fmt.integer(Math.round(detail.target_units))} units in the last hour of planned time`;
  }
  return typeof detail.reason === "string" ? detail.reason : "";
}

/** One alert as `{title, detail}` text, naming its subject when the floor or the alert knows it. */
export function alertText(alert, names, now, timeZone) {
  const detail = alert.detail && typeof alert.detail === "object" ? alert.detail : {};
  // Drift about a worker is their working/idle mix moving, not the camera model's confidence.
  const kind = alert.kind === "drift" && detail.subject_kind === "worker"
    ? "Working mix shifted" : ALERT_KINDS[alert.kind] || alert.kind || "Alert";
  const named = detail.name;
  const subject = names.get(alert.subject) || named || alert.subject || "";
  const opened = Date.parse(alert.opened_at);
  const parts = [`open since ${at(opened, now, timeZone)} (${fmt.since((now - opened) / 1000)})`];
  const more = detailText(alert);
  if (more) parts.push(more);
  return { title: subject ? `${kind}: ${subject}` : kind, detail: parts.join(" · ") };
}

function itemNode(item, names, now, timeZone) {
  const minutes = (ms) => fmt.since((now - ms) / 1000);
  let title;
  let detail;
  let subject;
  switch (item.kind) {
    case "alert": {
      ({ title, detail } = alertText(item.alert, names, now, timeZone));
      subject = item.alert.subject;
      break;
    }
    case "idle":
      title = `${item.worker.name} idle for ${minutes(item.since)}`;
      detail = `at ${item.stationName || "an unknown station"} · since ${at(item.since, now, timeZone)}`;
      subject = item.worker.worker_id;
      break;
    case "unknown":
      title = `${item.worker.name}: no signal for ${minutes(item.since)}`;
      detail = `camera last heard ${item.since ? at(item.since, now, timeZone) : "—"}${item.stationName ? ` at ${item.stationName}` : ""}`;
      subject = item.worker.worker_id;
      break;
    default: {
      const { station } = item;
      title = `${station.name} unstaffed for ${fmt.since(station.emptyMs / 1000)}`;
      detail = station.emptySinceStart
        ? `in planned time · nobody there since ${station.instance ? "the shift began" : "the window began"} (${at(item.since, now, timeZone)})`
        : `in planned time · nobody working or idle there since ${at(item.since, now, timeZone)}`;
      if (station.inBreak) detail += ` · break until ${hourMinute(station.breakEnd, timeZone)}`;
      subject = station.workstation_id;
    }
  }
  return el("li", { class: `attention-item kind-${item.kind}`, dataset: { kind: item.kind, subject } },
    el("span", { class: "attention-mark", "aria-hidden": "true" }),
    el("div", { class: "attention-body" },
      el("p", { class: "attention-title", text: title }),
      el("p", { class: "attention-detail", text: detail })));
}

/** The counts line: how many work, idle, are silent; stations unstaffed. */
function tally(floor) {
  const count = (state) => floor.workers.filter((w) => w.state === state).length;
  const present = floor.workers.filter((w) => w.state !== "absent").length;
  const parts = [
    { state: "working", text: `${count("working")} working` },
    { state: "idle", text: `${count("idle")} idle` },
    { state: "unknown", text: `${count("unknown")} no signal` },
  ];
  if (floor.calendarKnown) {
    parts.push({ state: "unstaffed", text: `${floor.stations.filter((s) => s.state === "unstaffed").length} station${floor.stations.filter((s) => s.state === "unstaffed").length === 1 ? "" : "s"} unstaffed` });
  }
  return { parts, present };
}

/**
 * What "all clear" means on this floor. A silent camera the list leaves out (its station is not
 * in planned time; without a calendar, its worker left or it has been silent for a day) is
 * still counted above, so the note says so rather than that every camera was heard from.
 */
function clearNote(floor) {
  const silent = floor.workers.filter((w) => w.state === "unknown").length;
  let cameras = "every camera heard from";
  if (silent) {
    const where = floor.calendarKnown ? "where no work is planned now" : "where nobody was at work lately";
    cameras = `${silent} camera${silent === 1 ? "" : "s"} silent ${where}`;
  }
  return floor.calendarKnown
    ? `All clear: nobody idle, ${cameras}, every station staffed in planned time.`
    : `All clear: nobody idle, ${cameras}. (No shift calendar on this server, so empty stations are not checked.)`;
}

/**
 * Draw the panel. `floor` is floor.js's floorNow (or null: nothing loaded yet). `names` maps
 * worker and station ids to names (for alert subjects).
 */
export function renderAttention(root, { floor, names, timeZone, now }) {
  const list = root.querySelector("[data-attention-list]");
  const summary = root.querySelector("[data-attention-summary]");
  const asOf = root.querySelector("[data-attention-asof]");
  if (!floor) {
    setText(asOf, "");
    replaceChildren(summary);
    replaceChildren(list, el("li", { class: "attention-empty", text: "Loading the floor…" }));
    return;
  }
  const items = attentionItems(floor);
  setText(asOf, `as of ${hourMinute(now, timeZone)}`);
  root.dataset.count = String(items.length);
  const { parts } = tally(floor);
  drawIfChanged(summary, JSON.stringify(parts), () => replaceChildren(summary,
    parts.map((p) => el("li", { class: `tally tally-${p.state}`, dataset: { state: p.state } }, el("span", { class: "tally-dot", "aria-hidden": "true" }), p.text))));
  const signature = JSON.stringify([items, items.length ? "" : clearNote(floor), Math.floor(now / 60_000), timeZone, [...names]]);
  drawIfChanged(list, signature, () => {
    if (!items.length) {
      replaceChildren(list, el("li", { class: "attention-empty is-clear", text: clearNote(floor) }));
      return;
    }
    replaceChildren(list, items.map((item) => itemNode(item, names, now, timeZone)));
  });
}
