// Output for people and for machines: tables in the station's local time with durations,
// percentages to one decimal and verdict words; CSV; JSON. Used by the CLI.
import { isoLocal } from "./services/time.js";
import { csvCell } from "../protocol/csv.js";
import { columns } from "../protocol/columns.js";

export type Lang = "zh" | "en";

/** What --lang takes: en, or zh (zh-CN, zh-Hans, as the offline verifier takes them). */
export const LANG_FLAG = /^(en|zh|zh-CN|zh-Hans)$/i;

/** The language of the CLI: --lang, else LC_ALL / LC_MESSAGES / LANG (zh…: Chinese), else English. */
export function langOf(flag: string | undefined, env: NodeJS.ProcessEnv): Lang {
  if (flag !== undefined && LANG_FLAG.test(flag)) return /^zh/i.test(flag) ? "zh" : "en";
  const loc = env.LC_ALL || env.LC_MESSAGES || env.LANG || "";
  return /^zh/i.test(loc) ? "zh" : "en";
}

/** A station-local time, "2026-03-01 09:30:00" (the zone is printed once, under the table). */
export function localTime(ms: number | null | undefined, timeZone: string): string {
  if (ms === null || ms === undefined) return "-";
  return isoLocal(ms, timeZone).slice(0, 19).replace("T", " ");
}

/** A duration in words a person reads: 950 ms, 12.3 s, 4 min 05 s, 2 h 03 min, 3 d 4 h. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  const neg = ms < 0 ? "-" : "";
  const a = Math.abs(ms);
  if (a < 1000) return `${neg}${Math.round(a)} ms`;
  if (a < 60000) return `${neg}${(a / 1000).toFixed(1)} s`;
  const s = Math.round(a / 1000);
  if (s < 3600) return `${neg}${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  if (s < 86400) return `${neg}${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  return `${neg}${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** A percentage to one decimal. */
export function percent(p: number | null | undefined): string {
  return p === null || p === undefined || !Number.isFinite(p) ? "-" : `${p.toFixed(1)} %`;
}

/** A byte count a person reads. */
export function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(2)} GiB`;
}

const cell = (v: unknown): string => (v === null || v === undefined ? "-" : typeof v === "boolean" ? (v ? "yes" : "no") : typeof v === "object" ? JSON.stringify(v) : String(v));


/** A plain table: a header line, a rule, the rows; columns padded; no index column. */
export function table(rows: Record<string, unknown>[], headers?: Record<string, string>): string {
  if (!rows.length) return "";
  const cols = Object.keys(rows[0]);
  const head = cols.map((c) => (headers && headers[c]) || c);
  const body = rows.map((r) => cols.map((c) => cell(r[c])));
  const w = cols.map((_, i) => Math.max(columns(head[i]), ...body.map((b) => columns(b[i]))));
  const line = (xs: string[]) => xs.map((x, i) => x + " ".repeat(w[i] - columns(x))).join("  ").trimEnd();
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...body.map(line)].join("\n");
}

/** RFC 4180 CSV: a header row, then the rows; fields with a comma, quote or newline quoted. */
export function csv(rows: Record<string, unknown>[]): string {
  if (!rows.length) return "";
  const cols = Object.keys(rows[0]);
  return [cols.map(csvCell).join(","), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(","))].join("\r\n") + "\r\n";
}

/** Rows as a table people read (no index column), or "(none)". */
export function tableOrNone(rows: object[]): string {
  return rows.length ? table(rows as Record<string, unknown>[]) : "(none)";
}
