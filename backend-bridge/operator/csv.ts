/**
 * CSV as RFC 4180 writes it (CRLF line ends, a field with a comma, quote, CR or LF in double quotes, a quote doubled),
 * and safe to open in a spreadsheet: a text cell that begins with = + - @ (or a tab or CR) is prefixed with a single
 * quote, so that a product name someone typed as `=HYPERLINK(...)` stays text (OWASP's advice on CSV injection).
 * Numbers are written as they are.
 */

export type CsvCell = string | number | null;

const formulaStart = /^[=+\-@\t\r]/;

export function csvField(cell: CsvCell): string {
  if (cell === null) return "";
  if (typeof cell === "number") return String(cell);
  const text = formulaStart.test(cell) ? `'${cell}` : cell;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return [header, ...rows].map((row) => `${row.map(csvField).join(",")}\r\n`).join("");
}
