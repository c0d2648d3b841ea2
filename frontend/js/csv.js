// CSV text (RFC 4180) of table rows, safe to open in a spreadsheet.

// A cell a spreadsheet would read as a formula (or a command, for a leading tab or CR).
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV field: numbers raw, text quoted when needed and kept from being read as a formula. */
export function csvField(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  let text = String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  if (/[",\r\n]/.test(text) || text !== text.trim()) return `"${text.replaceAll('"', '""')}"`;
  return text;
}

/** CSV text: a header row of `columns[].key`, then one line per row of `row[key]`. */
export function toCsv(columns, rows) {
  const lines = [columns.map((column) => csvField(column.key)).join(",")];
  for (const row of rows) lines.push(columns.map((column) => csvField(row[column.key])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

/** A file name part from an instant or label: "2026-01-15T0600Z". */
export function fileStamp(text) {
  return String(text || "").replace(/:\d\d(\.\d+)?Z$/, "Z").replace(/[^0-9A-Za-z_-]+/g, "");
}

/** Offer `text` as a download named `name`, with a byte-order mark so spreadsheets read UTF-8. */
export function saveCsv(name, text) {
  const url = URL.createObjectURL(new Blob(["\ufeff", text], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
