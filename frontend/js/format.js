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

/** "working" → "Working". */
export function stateLabel(state) {
  if (!state) return "—";
  if (state === "product_count") return "Units";
  return state.charAt(0).toUpperCase() + state.slice(1);
}
