// CSV as the station writes it, from the admin CLI, its reports and its console alike: one cell
// of RFC 4180.

/**
 * One CSV cell. Text a spreadsheet would take for a formula (it starts with =, +, -, @, a tab or a
 * carriage return: a name like =HYPERLINK(...)) goes with a leading apostrophe, as OWASP advises;
 * numbers go as they are, given as numbers or as text (a formatted "-1.5").
 */
export function csvCell(v: unknown): string {
  let s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s) && !/^[+-]?[0-9]+(\.[0-9]+)?$/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
