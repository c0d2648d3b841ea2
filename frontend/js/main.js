// Wiring: the view (from the URL), polling the API, and redrawing everything from state.

import { createApi } from "./api.js";
import * as render from "./render.js";
import * as charts from "./charts.js";
import { drawIfChanged, setText } from "./dom.js";
import { readView, writeView, readPollSeconds, readApiBase, readBoard, DEFAULT_RANGE } from "./url-state.js";
import { rangeBounds, RANGE_LABELS, isValidTimeZone, parseLocalInput, toLocalInput, HOUR_MS, iso } from "./time.js";
import { toCsv, fileStamp, saveCsv } from "./csv.js";
import { loadShifts, loadFloor, rangeQuery, optional } from "./live.js";
import { shiftRange, zoneOf, siteName } from "./shifts.js";
import { renderAttention } from "./attention.js";
import { renderShiftNow } from "./shift-now.js";
import { renderShiftReport, shiftCsv, unitsAtTargets } from "./shift-report.js";
import { startBoard } from "./board.js";
import { askToken, wireSeedDialog } from "./dialogs.js";

const $ = (id) => document.getElementById(id);

const DEFAULT_SETTINGS = { factory_tz: "UTC", poll_seconds: 5, seed: { allowed: true, needs_token: false } };
// Utilization below this share is drawn as low in the charts, unless the server sets its own.
const UTILIZATION_THRESHOLD_PCT = 75;
// The `width` the API takes (params.py WIDTH): the charts ask at their drawn width within it.
const CHART_WIDTH = { min: 50, max: 10_000 };

const api = createApi(readApiBase(window.location.search), {
  askToken: (reason) => askToken(reason, { base: api.base, say: setMessage }),
});

const state = {
  settings: null, // from GET /settings, or the defaults when the server has no such route
  view: readView(window.location.search),
  data: null, // the last complete set of answers; kept on screen while the API is down
  down: null, // {message} while the API cannot be reached
  lastGood: 0, // when `data` arrived (epoch ms)
  message: "", // the status line: loading, errors, results of actions
  renders: 0, // refreshes that brought figures (body data-render-count)
  draws: 0, // times the page was drawn, also with the API away (body data-draw-count)
  seenEvents: new Set(),
  announce: false, // say what is shown once the next refresh completes (after a view change)
  shown: { workers: [], workstations: [], shifts: [] }, // the rows on screen, in screen order (for CSV)
  shifts: null, // the calendars and the shift instances around now (live.js loadShifts)
  live: null, // the floor now (live.js loadFloor)
  setup: null, // sites, calendar, worker and workstation lists (loadSetup): read at load, not every poll
};

let requestId = 0; // the newest refresh; answers to older ones are dropped
let inflight = null; // AbortController of the newest refresh
let pollTimer = 0;

/** The zone the page reads and writes times in: the chosen site's own, else the factory's. */
function timeZone() {
  if (state.shifts) return zoneOf(state.shifts.calendars, state.view.site || null);
  const tz = state.settings && state.settings.factory_tz;
  return isValidTimeZone(tz) ? tz : "UTC";
}

function utilizationThreshold() {
  const fromServer = state.settings && Number(state.settings.utilization_threshold_pct);
  return Number.isFinite(fromServer) && fromServer > 0 ? fromServer : UTILIZATION_THRESHOLD_PCT;
}

function pollSeconds() {
  const fromUrl = readPollSeconds(window.location.search);
  if (fromUrl) return fromUrl;
  const fromServer = state.settings && Number(state.settings.poll_seconds);
  return Number.isFinite(fromServer) && fromServer > 0 ? Math.max(fromServer, 1) : DEFAULT_SETTINGS.poll_seconds;
}

function seedSettings() {
  return { ...DEFAULT_SETTINGS.seed, ...((state.settings && state.settings.seed) || {}) };
}

/**
 * The window of the view at `now`: the shift presets from the calendar (planned time only), the
 * others by the clock in the site's zone. Without a shift to show, "this shift" falls back to the
 * whole data and says so. `{from, to, planned, note}` or `{error}` for a custom range that is wrong.
 */
function resolveRange(now) {
  const { view } = state;
  if (view.range === "shift" || view.range === "prevshift") {
    const found = state.shifts && state.shifts.offered ? shiftRange(view.range, state.shifts.instances, now) : null;
    if (found) return found;
    const why = state.shifts && state.shifts.offered ? "The calendar has no shift in the last days" : "This server has no shift calendar";
    return { from: null, to: null, planned: false, note: `${why}: the whole data instead.` };
  }
  return { ...rangeBounds(view.range, now, timeZone(), view.from, view.to), planned: false, note: "" };
}

/**
 * The query every metrics call of this refresh shares and the range it resolves (`{from, to,
 * planned, shift, note, instances}`), or `{error}` for a custom range that is wrong.
 */
function metricsQuery(now) {
  const { view } = state;
  const bounds = resolveRange(now);
  if (bounds.error) return { error: bounds.error };
  return { params: rangeQuery(bounds, view.site), bounds };
}

async function loadSettings(signal) {
  const settings = await optional(api.settings(signal));
  return settings && typeof settings === "object" ? settings : { ...DEFAULT_SETTINGS };
}

/**
 * What changes only when the floor's setup does: the sites, the factory calendar, and the
 * worker and workstation lists. Read once at load, and again when a refresh shows an id they
 * do not hold (see `showsSomethingNew`), never on every poll.
 */
async function loadSetup(signal) {
  const [sites, calendar, workerList, stationList] = await Promise.all([
    optional(api.sites(signal)),
    optional(api.calendar(signal)),
    api.workerList(signal),
    api.workstationList(signal),
  ]);
  return { sites, calendar, workerList, stationList };
}

/** Whether a dashboard answer names a worker or workstation the setup's lists do not hold. */
function showsSomethingNew(answer, setup) {
  const workers = new Set(setup.workerList.workers.map((w) => w.worker_id));
  const stations = new Set(setup.stationList.workstations.map((s) => s.workstation_id));
  return answer.workers.some((w) => !workers.has(w.worker_id))
    || answer.workstations.some((s) => !stations.has(s.workstation_id));
}

/** How many pixels wide the charts are drawn (the timeline's strips), within what the API takes. */
function chartWidth() {
  const width = charts.plotWidth($("timeline-chart").clientWidth);
  return width > 0 ? Math.min(Math.max(Math.round(width), CHART_WIDTH.min), CHART_WIDTH.max) : "";
}

/** Fetch everything for the current view, then redraw; an older refresh still running is dropped. */
async function refresh() {
  const id = ++requestId;
  if (inflight) inflight.abort();
  const controller = new AbortController();
  inflight = controller;
  clearTimeout(pollTimer);
  const { signal } = controller;
  const { view } = state;
  if (!state.data) setMessage("Loading figures…");
  try {
    if (!state.settings) {
      const settings = await loadSettings(signal);
      if (id !== requestId) return;
      state.settings = settings;
      applySettings();
    }
    if (!state.setup) {
      const setup = await loadSetup(signal);
      if (id !== requestId) return;
      state.setup = setup;
    }
    const now = Date.now();
    const { setup } = state;
    state.shifts = await loadShifts(api, {
      site: view.site, now, signal, settingsZone: state.settings.factory_tz, sites: setup.sites, calendar: setup.calendar,
    });
    if (id !== requestId) return;
    const query = metricsQuery(now);
    if (query.error) {
      setMessage(query.error);
      drawAll();
      return;
    }
    const metrics = query.params;
    const narrowed = { ...metrics, worker_id: view.worker, workstation_id: view.workstation, width: chartWidth() };
    const answer = await api.dashboard(narrowed, signal);
    if (id !== requestId) return;
    const live = await loadFloor(api, {
      shifts: state.shifts, site: view.site, now, signal, stationList: setup.stationList,
      reuse: { query: metrics, body: view.worker || view.workstation ? undefined : answer },
    });
    if (id !== requestId) return;
    if (showsSomethingNew(answer, setup)) {
      // A worker or workstation the lists do not know yet: read the floor's setup again.
      const fresh = await loadSetup(signal);
      if (id !== requestId) return;
      state.setup = fresh;
    }
    const { workerList, stationList, sites } = state.setup;
    const { window: win } = answer;
    const factory = { window: win, factory: answer.factory };
    const workers = { window: win, workers: answer.workers };
    const workstations = { window: win, workstations: answer.workstations };
    const { timeline, hourly, feed, models, drift } = answer;
    const report = { body: answer.shift_report, error: answer.shift_report_error };
    state.live = live;
    $("token-open").hidden = true;
    const wasDown = Boolean(state.down);
    // The figures keep the range they were asked for: while the API is away, a range picked since
    // does not relabel them.
    state.data = {
      factory, workers, workstations, timeline, hourly, feed, workerList, stationList, sites, models, drift, report, now,
      query: metrics, range: query.bounds, rangeKey: view.range,
    };
    state.down = null;
    state.lastGood = now;
    drawAll();
    if (wasDown) setMessage("The API answers again; the figures are up to date.");
    else if (state.announce) setMessage(viewSummary());
    else if (state.message === "Loading figures…") setMessage("");
    state.announce = false;
    state.renders += 1;
    document.body.dataset.query = new URLSearchParams(Object.entries(metrics).filter(([, v]) => v)).toString();
    document.body.dataset.renderCount = String(state.renders);
    document.body.dataset.ready = "1";
  } catch (error) {
    if (id !== requestId || error.aborted) return;
    $("token-open").hidden = !error.needsToken;
    if (error.down) {
      // The banner (role="alert") says it; the status line stays quiet so it is not said twice.
      state.down = { message: error.message };
      setMessage("");
    } else {
      state.down = null;
      setMessage(error.message);
    }
    drawAll();
  } finally {
    if (id === requestId) {
      inflight = null;
      schedulePoll();
    }
  }
}

/** What the figures on screen cover, for the status line after the view changes. */
function viewSummary() {
  const workers = state.shown.workers.length;
  const stations = state.shown.workstations.length;
  const site = state.view.site ? ` at ${state.view.site}` : "";
  return `${RANGE_LABELS[state.view.range]}${site}: ${workers} worker${workers === 1 ? "" : "s"} and ${stations} workstation${stations === 1 ? "" : "s"} shown.`;
}

function schedulePoll() {
  clearTimeout(pollTimer);
  if (document.visibilityState === "hidden") return;
  pollTimer = setTimeout(refresh, pollSeconds() * 1000);
}

function setMessage(text) {
  state.message = text;
  setText($("status"), text);
}

function applySettings() {
  const seed = seedSettings();
  const button = $("reload-demo");
  button.hidden = seed.allowed === false;
  button.disabled = seed.allowed === false;
  $("seed-token-field").hidden = !seed.needs_token;
}

/** Redraw every part of the page from state. */
function drawAll() {
  state.draws += 1;
  document.body.dataset.drawCount = String(state.draws);
  drawFilters();
  drawLive();
  const data = state.data;
  if (!data) {
    render.renderCardsEmpty($("summary-cards"));
    render.renderDriftSummary($("drift-summary"), null);
    return;
  }
  const tz = timeZone();
  const { view } = state;
  const win = data.factory.window;
  const allWorkers = data.workers.workers;
  const workerNames = new Map(data.workerList.workers.map((w) => [w.worker_id, w.name]));
  const stationNames = new Map(data.stationList.workstations.map((s) => [s.workstation_id, s.name]));
  const windowEnd = win && win.to ? Date.parse(win.to) : null;
  const context = { timeZone: tz, windowEnd, stationNames, plannedOnly: Boolean(data.query.planned_only) };

  const names = new Map([
    ...data.stationList.workstations.map((s) => [s.workstation_id, s.name || s.workstation_id]),
    ...data.workerList.workers.map((w) => [w.worker_id, w.name || w.worker_id]),
  ]);
  renderAttention($("attention"), { floor: state.live && state.live.floor, names, timeZone: tz, now: data.now });
  renderShiftNow($("shift-now"), { shifts: state.shifts, floor: state.live && state.live.floor, now: data.now });
  const chosen = view.worker ? allWorkers.find((w) => w.worker_id === view.worker) || null : null;
  const station = view.workstation
    ? data.workstations.workstations.find((s) => s.workstation_id === view.workstation) || { workstation_id: view.workstation }
    : null;
  // Whom the cards count: the chosen worker, those at the chosen station at the window's end, or all.
  let counted = allWorkers;
  if (view.worker) counted = chosen ? [chosen] : [];
  else if (station) counted = allWorkers.filter((w) => w.current_workstation_id === view.workstation);
  render.renderCards($("summary-cards"), {
    factory: data.factory.factory,
    targetedUnits: unitsAtTargets(data.workstations.workstations),
    plannedOnly: context.plannedOnly,
    worker: view.worker ? chosen || { worker_id: view.worker } : null,
    station,
    // "Working now" counts only workers whose state at the window's end is working: a camera
    // that went silent is no signal, never working.
    activeNow: counted.filter((w) => w.state_at_end === "working").length,
    workerCount: view.worker ? 1 : counted.length,
    window: win,
    timeZone: tz,
    now: data.now,
  });
  const range = data.range || {};
  render.renderWindowCaption($("window-caption"), {
    window: win, timeZone: tz, rangeLabel: RANGE_LABELS[data.rangeKey],
    note: [range.note, range.planned ? "planned time only" : ""].filter(Boolean).join(" "),
  });
  state.shown.shifts = renderShiftReport($("shift-report"), {
    body: data.report.body, error: data.report.error, calendars: state.shifts ? state.shifts.calendars : null,
  });

  const workerRows = allWorkers.filter((w) => !view.worker || w.worker_id === view.worker);
  state.shown.workers = render.renderTable($("worker-table"), {
    columns: render.WORKER_COLUMNS, rows: workerRows, sort: view.wsort, idKey: "worker_id", idAttr: "data-worker-id",
    emptyText: view.worker ? "This worker has no figures in this scope." : "No workers in this scope yet.",
    context, onSort: (key) => sortBy("wsort", key, render.WORKER_COLUMNS),
  });
  const stationRows = data.workstations.workstations.filter((s) => !view.workstation || s.workstation_id === view.workstation);
  state.shown.workstations = render.renderTable($("workstation-table"), {
    columns: render.WORKSTATION_COLUMNS, rows: stationRows, sort: view.ssort, idKey: "workstation_id", idAttr: "data-workstation-id",
    emptyText: view.workstation ? "This workstation has no figures in this scope." : "No workstations in this scope yet.",
    context, onSort: (key) => sortBy("ssort", key, render.WORKSTATION_COLUMNS),
  });
  setText($("workers-sub"), `${state.shown.workers.length} of ${allWorkers.length} shown · sort by any column`);
  setText($("stations-sub"), `${state.shown.workstations.length} of ${data.workstations.workstations.length} shown · sort by any column`);

  render.renderFeed($("event-feed"), {
    events: data.feed.events, workerNames, stationNames, timeZone: tz, now: Date.now(), seen: state.seenEvents,
  });
  drawModels(context);
  drawCharts();
}

/** The versions of the camera model in this scope, in the API's order, with what the drift check says of each. */
function modelVersions() {
  const data = state.data;
  const models = data && data.models ? data.models.models : [];
  const checks = new Map((data && data.drift ? data.drift.models : []).map((m) => [m.model_version ?? "", m]));
  return models.map((model, index) => {
    const check = checks.get(model.model_version ?? "");
    let drift = null;
    if (check) drift = check.flagged ? "flagged" : check.confidence_drop === null ? "unchecked" : "steady";
    return { ...model, series: index, drift, drift_reason: check ? check.reason : null };
  });
}

/** The camera models panel's table and drift checks, and the drift badge at the top. */
function drawModels(context) {
  const data = state.data;
  const tz = context.timeZone;
  const models = data.models;
  const rows = modelVersions();
  render.renderTable($("models-table"), {
    columns: render.MODEL_COLUMNS, rows, sort: null, idKey: "model_version", idAttr: "data-model-version",
    emptyText: models ? "No camera events in this scope." : "This server gives no model figures.",
    context: { ...context, windowEnd: models && models.window && models.window.to ? Date.parse(models.window.to) : context.windowEnd },
    rowClass: (row) => (row.drift === "flagged" ? "is-flagged" : null),
  });
  const threshold = models ? models.low_confidence_threshold : null;
  setText($("models-note"), `Mean and P10 (10th percentile) of the confidence the cameras gave, on its 0–1 scale. Low conf. = share of rated events below ${Number.isFinite(threshold) ? threshold : "the low-confidence threshold"}.${rows.length ? ` ${rows.length} model version${rows.length === 1 ? "" : "s"} in this scope.` : ""}`);
  render.renderDriftSummary($("drift-summary"), data.drift);
  render.renderDriftRules($("drift-sub"), { drift: data.drift, timeZone: tz });
  render.renderDriftList($("drift-list"), { drift: data.drift, worker: state.view.worker, timeZone: tz });
}

/** The part of the window the drift check calls recent, or null. */
function recentStretch(drift) {
  if (!drift || !drift.window || !drift.window.from || !drift.window.to || !drift.rules) return null;
  const from = Date.parse(drift.window.from);
  const to = Date.parse(drift.window.to);
  return { from: iso(Math.max(from, to - drift.rules.recent_seconds * 1000)), to: iso(to) };
}

function drawCharts() {
  const data = state.data;
  if (!data) return;
  const tz = timeZone();
  const now = Date.now();
  const minute = Math.floor(now / 60_000);
  // Occupied over the whole window is low by nature (nights, weekends): stations are judged
  // against the threshold only over planned time.
  const planned = Boolean(data.query.planned_only);
  const timelineNode = $("timeline-chart");
  const timeline = data.timeline;
  drawIfChanged(timelineNode, JSON.stringify([timeline, timelineNode.clientWidth, tz, minute, planned]), () => {
    if (!timeline) {
      timelineNode.replaceChildren(emptyNote("The server gives no timeline for this selection."));
      return;
    }
    charts.drawTimeline(timelineNode, {
      window: timeline.window, workers: timeline.workers, slots: timeline.slots, timeZone: tz, now, planned,
    });
  });
  const hourlyNode = $("hourly-chart");
  const hourly = data.hourly;
  const daily = hourly && hourly.bucket_seconds >= 86_400;
  setText($("hourly-title"), daily ? "Output and utilization by day" : "Output and utilization by hour");
  setText($("hourly-sub"), `Units made each ${daily ? "day" : "hour"}, and the share of staffed time spent working`);
  drawIfChanged(hourlyNode, JSON.stringify([hourly, hourlyNode.clientWidth, tz, utilizationThreshold()]), () => {
    if (!hourly) {
      hourlyNode.replaceChildren(emptyNote("The server gives no hourly figures for this selection."));
      return;
    }
    charts.drawHourly(hourlyNode, { buckets: hourly.buckets, bucketSeconds: hourly.bucket_seconds, window: hourly.window, timeZone: tz, threshold: utilizationThreshold() });
  });
  const confidenceNode = $("confidence-chart");
  const models = data.models;
  const versions = modelVersions().map((m) => ({ key: m.model_version ?? "", label: m.model_version ?? "No version given", flagged: m.drift === "flagged" }));
  drawIfChanged($("models-legend"), JSON.stringify(versions), () => charts.drawModelLegend($("models-legend"), versions));
  const recent = recentStretch(data.drift);
  drawIfChanged(confidenceNode, JSON.stringify([models, versions, recent, confidenceNode.clientWidth, tz]), () => {
    if (!models) {
      confidenceNode.replaceChildren(emptyNote("The server gives no model figures for this selection."));
      return;
    }
    charts.drawConfidence(confidenceNode, {
      versions, series: models.series, window: models.window, bucketSeconds: models.bucket_seconds,
      threshold: models.low_confidence_threshold, recent, timeZone: tz,
    });
  });
  const context = { plannedOnly: planned };
  const workerItems = state.shown.workers.map((w) => ({
    id: w.worker_id, label: w.name || w.worker_id, value: w.utilization_pct,
    none: render.noFigure(render.WORKER_COLUMNS, "utilization_pct", w, context),
  }));
  const workerNode = $("worker-util-chart");
  drawIfChanged(workerNode, JSON.stringify([workerItems, workerNode.clientWidth, utilizationThreshold()]), () => {
    charts.drawUtilizationBars(workerNode, { items: workerItems, what: "worker", threshold: utilizationThreshold() });
  });
  const stationItems = state.shown.workstations.map((s) => ({
    id: s.workstation_id, label: s.name || s.workstation_id, value: s.utilization_pct,
    none: render.noFigure(render.WORKSTATION_COLUMNS, "utilization_pct", s, context),
  }));
  const stationNode = $("station-util-chart");
  const stationThreshold = planned ? utilizationThreshold() : null;
  setText($("station-util-sub"), planned ? "Occupied ÷ planned time" : "Occupied ÷ window length");
  drawIfChanged(stationNode, JSON.stringify([stationItems, stationNode.clientWidth, stationThreshold]), () => {
    charts.drawUtilizationBars(stationNode, { items: stationItems, what: "workstation", threshold: stationThreshold });
  });
}

function emptyNote(text) {
  const note = document.createElement("p");
  note.className = "chart-empty";
  note.textContent = text;
  return note;
}

function drawFilters() {
  const { view, data } = state;
  const workers = data ? data.workerList.workers.map((w) => ({ value: w.worker_id, label: w.name && w.name !== w.worker_id ? `${w.name} (${w.worker_id})` : w.worker_id })) : [];
  const stations = data ? data.stationList.workstations.map((s) => ({ value: s.workstation_id, label: s.name && s.name !== s.workstation_id ? `${s.name} (${s.workstation_id})` : s.workstation_id })) : [];
  const sites = data && data.sites ? data.sites.sites.map((s) => ({ value: s.site_id, label: s.name && s.name !== s.site_id ? `${s.name} (${s.site_id})` : s.site_id })) : [];
  render.renderOptions($("filter-worker"), workers, view.worker, "All workers");
  render.renderOptions($("filter-workstation"), stations, view.workstation, "All workstations");
  render.renderOptions($("filter-site"), sites, view.site, "All sites");
  $("filter-site").closest(".field").hidden = Boolean(data && !data.sites && !view.site);
  $("filter-range").value = view.range;
  const custom = view.range === "custom";
  $("custom-range").hidden = !custom;
  $("custom-range-to").hidden = !custom;
  if (document.activeElement !== $("filter-from")) $("filter-from").value = view.from;
  if (document.activeElement !== $("filter-to")) $("filter-to").value = view.to;
  $("filter-clear").hidden = !(view.worker || view.workstation || view.site || view.range !== DEFAULT_RANGE);
  $("open-board").href = boardHref();
}

function drawLive() {
  const tz = timeZone();
  const indicator = $("live-indicator");
  const down = Boolean(state.down);
  indicator.dataset.state = down ? "down" : state.data ? "live" : "connecting";
  setText($("live-label"), down ? "Offline" : state.data ? "Live" : "Connecting");
  render.renderUpdatedAt($("updated-at"), state.lastGood, tz);
  render.renderBanner($("api-down-banner"), state.down, { timeZone: tz, lastGood: state.lastGood, pollSeconds: pollSeconds() });
}

/** The board's address for this page: the same site, API and refresh setting. */
function boardHref() {
  const here = new URLSearchParams(window.location.search);
  const params = new URLSearchParams({ view: "board" });
  for (const key of ["site", "api", "poll"]) if (here.get(key)) params.set(key, here.get(key));
  return `${window.location.pathname}?${params}`;
}

/** Change the view, record it in the URL (a new history entry), and fetch for it. */
function changeView(patch) {
  state.view = { ...state.view, ...patch };
  state.seenEvents.clear(); // another selection: its events are not "new"
  state.announce = true;
  const search = writeView(state.view, window.location.search);
  if (search !== window.location.search) {
    window.history.pushState(null, "", `${window.location.pathname}${search}${window.location.hash}`);
  }
  setMessage("Loading figures…");
  drawFilters();
  refresh();
}

/** Sort a table by `key` (same key again flips the direction); kept in the URL without a fetch. */
function sortBy(param, key, columns) {
  const column = columns.find((c) => c.key === key);
  const current = state.view[param];
  let dir = render.isNumeric(column) ? "desc" : "asc";
  if (current && current.key === key) dir = current.dir === "asc" ? "desc" : "asc";
  state.view = { ...state.view, [param]: { key, dir } };
  const search = writeView(state.view, window.location.search);
  window.history.replaceState(null, "", `${window.location.pathname}${search}${window.location.hash}`);
  drawAll();
}

/**
 * A custom range's ends as the same instants in the time zone of `site`, when it differs from the
 * one they are written in: changing the site keeps the window on screen, not its wall-clock times.
 */
function customRangeAt(site) {
  const { view } = state;
  const zone = timeZone();
  const next = state.shifts ? zoneOf(state.shifts.calendars, site || null) : zone;
  if (view.range !== "custom" || next === zone) return {};
  const move = (text) => {
    const instant = parseLocalInput(text, zone);
    return instant === null ? text : toLocalInput(instant, next);
  };
  return { from: move(view.from), to: move(view.to) };
}

function wireFilters() {
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  for (const [id, key] of [["filter-worker", "worker"], ["filter-workstation", "workstation"]]) {
    $(id).addEventListener("change", (event) => changeView({ [key]: event.target.value }));
  }
  $("filter-site").addEventListener("change", (event) => changeView({ site: event.target.value, ...customRangeAt(event.target.value) }));
  $("filter-range").addEventListener("change", (event) => {
    const range = event.target.value;
    const patch = { range, from: "", to: "" };
    if (range === "custom") {
      // Start from the window on screen, so the user only nudges the ends.
      const tz = timeZone();
      const win = state.data && state.data.factory.window;
      const now = Date.now();
      const from = win && win.from ? Date.parse(win.from) : now - 8 * HOUR_MS;
      const to = win && win.to ? Date.parse(win.to) : now;
      patch.from = state.view.from || toLocalInput(from, tz);
      patch.to = state.view.to || toLocalInput(to, tz);
    }
    changeView(patch);
  });
  for (const [id, key] of [["filter-from", "from"], ["filter-to", "to"]]) {
    $(id).addEventListener("change", (event) => changeView({ range: "custom", [key]: event.target.value }));
  }
  $("filter-clear").addEventListener("click", () => {
    changeView({ range: DEFAULT_RANGE, from: "", to: "", worker: "", workstation: "", site: "" });
    $("filter-range").focus();
  });
  window.addEventListener("popstate", () => {
    state.view = readView(window.location.search);
    state.seenEvents.clear();
    state.announce = true;
    drawFilters();
    refresh();
  });
}

function downloadCsv(kind) {
  const data = state.data;
  if (!data) return;
  const columns = kind === "workers"
    ? [{ key: "worker_id" }, ...render.WORKER_COLUMNS]
    : [{ key: "workstation_id" }, ...render.WORKSTATION_COLUMNS];
  const text = toCsv(columns, state.shown[kind]);
  const win = data.factory.window;
  const parts = [kind];
  if (state.view.site) parts.push(state.view.site);
  if (kind === "workers" && state.view.worker) parts.push(state.view.worker);
  if (kind === "workstations" && state.view.workstation) parts.push(state.view.workstation);
  parts.push(win && win.from ? `${fileStamp(win.from)}_${fileStamp(win.to)}` : "no-window");
  const name = `${parts.map(fileStamp).filter(Boolean).join("_")}.csv`;
  saveCsv(name, text);
  setMessage(`Exported ${state.shown[kind].length} ${kind === "workers" ? "worker" : "workstation"} row${state.shown[kind].length === 1 ? "" : "s"} to ${name}.`);
}

function downloadShiftCsv() {
  if (!state.data) return;
  const { columns, rows } = shiftCsv(state.shown.shifts);
  const win = state.data.factory.window;
  const parts = ["shifts", state.view.site, win && win.from ? `${fileStamp(win.from)}_${fileStamp(win.to)}` : ""];
  const name = `${parts.map(fileStamp).filter(Boolean).join("_")}.csv`;
  saveCsv(name, toCsv(columns, rows));
  setMessage(`Exported ${rows.length} shift and station row${rows.length === 1 ? "" : "s"} to ${name}.`);
}

function wireExports() {
  $("export-workers").addEventListener("click", () => downloadCsv("workers"));
  $("export-workstations").addEventListener("click", () => downloadCsv("workstations"));
  $("export-shifts").addEventListener("click", downloadShiftCsv);
}

function wireTokenDialog() {
  $("token-cancel").addEventListener("click", () => $("token-dialog").close());
  $("token-open").addEventListener("click", () => {
    api.askAgain();
    refresh();
  });
}

function wireDriftSummary() {
  // Move to the panel without a fragment navigation: that would count as a history step and
  // make the page fetch and announce its figures again.
  $("drift-summary").addEventListener("click", (event) => {
    event.preventDefault();
    const panel = $("models-panel");
    panel.scrollIntoView({ block: "start" });
    panel.focus({ preventScroll: true });
  });
}

function wireLifecycle() {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
    else clearTimeout(pollTimer);
  });
  // Charts are drawn at their container's width; redraw them when the layout width changes.
  let lastWidth = document.documentElement.clientWidth;
  let frame = 0;
  new ResizeObserver(() => {
    const width = document.documentElement.clientWidth;
    if (width === lastWidth) return;
    lastWidth = width;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(drawCharts);
  }).observe(document.documentElement);
}

function start() {
  if (readBoard(window.location.search)) {
    document.body.classList.add("is-board");
    startBoard($("board"), { api, pollSeconds: readPollSeconds(window.location.search), site: state.view.site });
    return;
  }
  charts.drawStateLegend($("timeline-legend"));
  if (api.base) setText($("footer-api"), `API: ${api.base}`);
  wireFilters();
  wireExports();
  wireSeedDialog({
    api,
    needsToken: () => seedSettings().needs_token,
    say: setMessage,
    loaded: () => {
      state.seenEvents.clear();
      refresh();
    },
  });
  wireTokenDialog();
  wireDriftSummary();
  wireLifecycle();
  drawAll();
  refresh();
}

start();
