// The view lives in the query string, so a URL can be shared, bookmarked and reloaded.
//   ?range=prevshift|today|last8h|last7d|custom|all (absent: this shift)
//   &from=&to= (custom; wall-clock times in the site's zone, else the factory's)
//   &worker=&workstation=&site=  &wsort=-utilization_pct&ssort=name (table sorts)
//   &poll=N (seconds between refreshes)  &api=http://host:port (another API origin)
//   &view=board (the wall-screen board instead of the page)

export const RANGES = ["shift", "prevshift", "today", "last8h", "last7d", "custom", "all"];
export const DEFAULT_RANGE = "shift";

const FILTER_KEYS = ["range", "from", "to", "worker", "workstation", "site", "wsort", "ssort"];

/** The view described by a query string. Unknown values fall back to the defaults. */
export function readView(search) {
  const params = new URLSearchParams(search);
  const text = (name) => (params.get(name) || "").trim();
  const range = RANGES.includes(text("range")) ? text("range") : DEFAULT_RANGE;
  return {
    range,
    from: range === "custom" ? text("from") : "",
    to: range === "custom" ? text("to") : "",
    worker: text("worker"),
    workstation: text("workstation"),
    site: text("site"),
    wsort: readSort(text("wsort")),
    ssort: readSort(text("ssort")),
  };
}

/** The query string for `view`, keeping any parameter this module does not own (poll, api…). */
export function writeView(view, currentSearch) {
  const params = new URLSearchParams(currentSearch);
  for (const key of FILTER_KEYS) params.delete(key);
  if (view.range !== DEFAULT_RANGE) params.set("range", view.range);
  if (view.range === "custom") {
    if (view.from) params.set("from", view.from);
    if (view.to) params.set("to", view.to);
  }
  if (view.worker) params.set("worker", view.worker);
  if (view.workstation) params.set("workstation", view.workstation);
  if (view.site) params.set("site", view.site);
  if (view.wsort) params.set("wsort", writeSort(view.wsort));
  if (view.ssort) params.set("ssort", writeSort(view.ssort));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** "-units" → {key: "units", dir: "desc"}; "" → null. */
function readSort(text) {
  const match = /^(-?)([a-z_]{1,40})$/.exec(text);
  if (!match) return null;
  return { key: match[2], dir: match[1] ? "desc" : "asc" };
}

function writeSort(sort) {
  return (sort.dir === "desc" ? "-" : "") + sort.key;
}

/** Whether the URL asks for the wall-screen board (`?view=board`). */
export function readBoard(search) {
  return new URLSearchParams(search).get("view") === "board";
}

/** Seconds between refreshes from `?poll=N` (0.5 to 3600), or null when not given or not a number. */
export function readPollSeconds(search) {
  const value = Number(new URLSearchParams(search).get("poll"));
  if (!Number.isFinite(value) || value <= 0) return null;
  return Math.min(Math.max(value, 0.5), 3600);
}

/** The API origin from `?api=` (http or https only), or "" for the page's own origin. */
export function readApiBase(search) {
  const raw = new URLSearchParams(search).get("api");
  if (!raw) return "";
  try {
    const url = new URL(raw);
    if (url.protocol !== "http:" && url.protocol !== "https:") return "";
    return url.href.replace(/\/+$/, "");
  } catch {
    return "";
  }
}
