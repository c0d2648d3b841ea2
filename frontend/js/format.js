// Numbers to text for people. The API's raw values stay in data-value attributes and in CSV.

const NBSP = "\u00a0";
const LOCALE = "en-GB";

const integerFormat = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const decimalFormat = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });

/** Seconds as hours and minutes: "5 h 48 min", "48 min", "0 min"; "< 1 min" for a few seconds. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds > 0 && seconds < 30) return `<${NBSP}1${NBSP}min`;
  const minutes = Math.round(seconds / 60);
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours === 0) return `${rest}${NBSP}min`;
  return `${integerFormat.format(hours)}${NBSP}h ${rest}${NBSP}min`;
}

/** A count of things: "1,234". */
export function integer(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return integerFormat.format(value);
}

/** A rate or ratio as the API rounded it (at most two decimals): "13.85". */
export function decimal(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return decimalFormat.format(value);
}

/** A percentage the API already computed: "85.82 %". */
export function percent(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${decimalFormat.format(value)}${NBSP}%`;
}

/** Units per hour: "16.33 units/h". */
export function perHour(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${decimalFormat.format(value)}${NBSP}units/h`;
}

/** A camera confidence in [0, 1] as a percentage: "93 %"; none given: "—". */
export function confidence(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${Math.round(value * 100)}${NBSP}%`;
}

const scoreFormat = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 3, maximumFractionDigits: 3 });
const shareFormat = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });

/** A mean or percentile of camera confidence on its own 0-1 scale, as the drift rule states it: "0.812". */
export function score(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return scoreFormat.format(value);
}

/** A share in [0, 1] as a percentage with at most one decimal: 0.0225 → "2.3 %". */
export function share(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${shareFormat.format(value * 100)}${NBSP}%`;
}

/** A change of a share in percentage points, signed: -0.5649 → "−56.5 pts". */
export function points(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const text = shareFormat.format(Math.abs(value) * 100);
  const sign = text === "0" ? "" : value < 0 ? "−" : "+";
  return `${sign}${text}${NBSP}pts`;
}

/** A stretch of time in round words: 3600 → "1 h", 5400 → "90 min", 86400 → "24 h". */
export function span(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const minutes = Math.round(seconds / 60);
  if (minutes >= 60 && minutes % 60 === 0) return `${integerFormat.format(minutes / 60)}${NBSP}h`;
  return `${integerFormat.format(minutes)}${NBSP}min`;
}

const STATE_LABELS = {
  working: "Working", idle: "Idle", absent: "Absent", unknown: "No signal",
  unstaffed: "Unstaffed", off: "Off shift", empty: "Nobody here", product_count: "Units",
};

/** "working" → "Working"; "unknown" (the camera stopped confirming a state) → "No signal". */
export function stateLabel(state) {
  if (!state) return "—";
  return STATE_LABELS[state] || state.charAt(0).toUpperCase() + state.slice(1);
}

/** A time since something began, short: 40 → "< 1 min", 840 → "14 min", 5400 → "1 h 30 min". */
export function since(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "—";
  if (seconds < 60) return `<${NBSP}1${NBSP}min`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}${NBSP}min`;
  const hours = Math.floor(minutes / 60);
  return `${integerFormat.format(hours)}${NBSP}h ${minutes % 60}${NBSP}min`;
}

// Why a station with a target of 0 has no attainment (nor pace).
export const NOTHING_ASKED = "No units asked for in this window";

// "On pace" is within this share of the target (and at least one unit) either side.
const PACE_TOLERANCE = 0.05;

/**
 * Units against a target: {mark: "ahead"|"on"|"behind"|null, diff, text, short}. `diff` is units
 * minus target, rounded to whole units; within 5 % of the target (at least 1 unit) is on pace. No
 * target (null), or one of 0 (not planned yet): mark null, no pace to keep. `short` says it in
 * fewer words, for a board tile: "6 behind".
 */
export function pace(units, target) {
  if (target === null || target === undefined || !Number.isFinite(target) || !Number.isFinite(units)) {
    return { mark: null, diff: null, text: "No target", short: "No target" };
  }
  if (target === 0) return { mark: null, diff: null, text: "Nothing due", short: "Nothing due" };
  const diff = Math.round(units - target);
  const tolerance = Math.max(1, target * PACE_TOLERANCE);
  const number = (n) => integerFormat.format(Math.abs(n));
  const count = (n) => `${number(n)}${NBSP}unit${Math.abs(n) === 1 ? "" : "s"}`;
  if (units - target <= -tolerance) return { mark: "behind", diff, text: `Behind by ${count(diff)}`, short: `${number(diff)} behind` };
  if (units - target >= tolerance) return { mark: "ahead", diff, text: `Ahead by ${count(diff)}`, short: `${number(diff)} ahead` };
  return { mark: "on", diff, text: diff === 0 ? "On pace" : `On pace (${diff > 0 ? "+" : "−"}${count(diff)})`, short: "On pace" };
}
