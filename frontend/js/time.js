// Time in the site's or factory's own time zone: wall-clock conversions and range presets.
// Everything here is pure (the current time is passed in), so it reads the same in every browser.

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

const LOCALE = "en-GB";
const formatters = new Map();

function formatter(timeZone, options) {
  const key = timeZone + JSON.stringify(options);
  let made = formatters.get(key);
  if (!made) {
    made = new Intl.DateTimeFormat(LOCALE, { timeZone, ...options });
    formatters.set(key, made);
  }
  return made;
}

/** Whether the browser knows the IANA zone name `timeZone`. */
export function isValidTimeZone(timeZone) {
  if (typeof timeZone !== "string" || timeZone === "") return false;
  try {
    new Intl.DateTimeFormat(LOCALE, { timeZone });
    return true;
  } catch {
    return false;
  }
}

const PARTS = {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
};

/** The wall-clock fields of instant `ms` in `timeZone`, as numbers (month 1-12). */
export function zonedParts(ms, timeZone) {
  const parts = {};
  for (const { type, value } of formatter(timeZone, PARTS).formatToParts(ms)) {
    if (type !== "literal") parts[type] = Number(value);
  }
  if (parts.hour === 24) parts.hour = 0;
  return parts;
}

/** How far `timeZone` is ahead of UTC at instant `ms`, in milliseconds. */
export function offsetMs(ms, timeZone) {
  const p = zonedParts(ms, timeZone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - (ms - (((ms % 1000) + 1000) % 1000));
}

/** The instant at which the wall clock in `timeZone` shows the given fields. */
export function wallToInstant({ year, month, day, hour = 0, minute = 0, second = 0 }, timeZone) {
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  // The offsets in force a day before and a day after: they differ around a daylight-saving change.
  const before = offsetMs(asUtc - DAY_MS, timeZone);
  const after = offsetMs(asUtc + DAY_MS, timeZone);
  const fits = [before, after].map((offset) => asUtc - offset).filter((ms) => ms + offsetMs(ms, timeZone) === asUtc);
  // A wall time that happens twice (clocks going back) is its first, one that never happens
  // (clocks going forward) is read with the offset before the change: as shift times are (SPEC).
  return fits.length ? Math.min(...fits) : asUtc - before;
}

const LOCAL_INPUT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/** A `datetime-local` value ("2026-01-15T06:00") read in `timeZone`, as epoch ms; null if blank or bad. */
export function parseLocalInput(text, timeZone) {
  const match = LOCAL_INPUT.exec(text || "");
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1).map((v) => Number(v || 0));
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return null;
  return wallToInstant({ year, month, day, hour, minute, second }, timeZone);
}

const pad = (n) => String(n).padStart(2, "0");

/** Instant `ms` as a `datetime-local` value in `timeZone`: "2026-01-15T06:00". */
export function toLocalInput(ms, timeZone) {
  const p = zonedParts(ms, timeZone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}`;
}

/** "HH:MM:SS" in `timeZone`. */
export function clock(ms, timeZone) {
  const p = zonedParts(ms, timeZone);
  return `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

/** "HH:MM" in `timeZone`. */
export function hourMinute(ms, timeZone) {
  const p = zonedParts(ms, timeZone);
  return `${pad(p.hour)}:${pad(p.minute)}`;
}

/** "Thu 15 Jan" in `timeZone`. */
export function dayLabel(ms, timeZone) {
  return formatter(timeZone, { weekday: "short", day: "numeric", month: "short" }).format(ms);
}

/** "15 Jan" in `timeZone`. */
export function shortDay(ms, timeZone) {
  return formatter(timeZone, { day: "numeric", month: "short" }).format(ms);
}

/** "Thu 15 Jan, 06:00" in `timeZone`. */
export function dayTime(ms, timeZone) {
  return `${dayLabel(ms, timeZone)}, ${hourMinute(ms, timeZone)}`;
}

/** Whether two instants fall on the same calendar day in `timeZone`. */
export function sameDay(a, b, timeZone) {
  const x = zonedParts(a, timeZone);
  const y = zonedParts(b, timeZone);
  return x.year === y.year && x.month === y.month && x.day === y.day;
}

/** Local midnight (in `timeZone`) of the day that contains `ms`. */
export function startOfDay(ms, timeZone) {
  const p = zonedParts(ms, timeZone);
  return wallToInstant({ year: p.year, month: p.month, day: p.day }, timeZone);
}

/** The time-range presets, as the range picker names them. */
/** An instant (epoch ms) as the API takes it; "" for none (a parameter left out). */
export function iso(ms) {
  return ms === null || ms === undefined ? "" : new Date(ms).toISOString();
}

export const RANGE_LABELS = {
  shift: "This shift",
  prevshift: "Previous shift",
  today: "Today",
  last8h: "Last 8 hours",
  last7d: "Last 7 days",
  custom: "Custom",
  all: "Whole data",
};

/**
 * The `{from, to}` instants (epoch ms, null = open end) of a clock preset at time `now` (the
 * shift presets come from the calendar: see shifts.js).
 * `custom` reads `fromText`/`toText` as wall-clock times in `timeZone`. `error` explains a bad range.
 */
export function rangeBounds(range, now, timeZone, fromText = "", toText = "") {
  switch (range) {
    case "today":
      return { from: startOfDay(now, timeZone), to: now };
    case "last8h":
      return { from: now - 8 * HOUR_MS, to: now };
    case "last7d":
      return { from: now - 7 * DAY_MS, to: now };
    case "custom": {
      const from = parseLocalInput(fromText, timeZone);
      const to = parseLocalInput(toText, timeZone);
      if (fromText && from === null) return { from, to, error: "The start of the custom range is not a valid date and time." };
      if (toText && to === null) return { from, to, error: "The end of the custom range is not a valid date and time." };
      if (from !== null && to !== null && from > to) return { from, to, error: "The custom range starts after it ends." };
      return { from, to };
    }
    default:
      return { from: null, to: null };
  }
}
