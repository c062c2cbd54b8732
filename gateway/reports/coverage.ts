// Coverage of cases by verified clips, integrity counts and per-officer / per-unit statistics.
// Times: a chunk covers [time_ms, time_ms + duration_ms] in device time; adding the device's
// clock offset (gateway − device, R-TIME-1) puts clips of different devices on one clock before
// they are merged (RULES.md §3).
import type { Db } from "../store/db.js";
import * as q from "../store/reports.js";
import { POLICY_DEFAULTS } from "../policy.js";
import { endReasonOf } from "../../protocol/blocks.js";

/** Largest hole between clips that still counts as covered, when none is configured. */
export const DEFAULT_GAP_TOLERANCE_MS = POLICY_DEFAULTS.gapToleranceMs;

/** A device's clock offset in ms (gateway time − device time). */
export type ClockOffset = (deviceId: string) => number;

const noOffset: ClockOffset = () => 0;

export interface CoverageOptions {
  gapToleranceMs?: number;
  offsetMs?: ClockOffset;
}

export interface CaseCoverage {
  caseNumber: string;
  /** The unit the case belongs to. */
  unitId: number;
  policy: "FULL" | "KEY_STEPS" | "OPTIONAL";
  windowStart: number;
  windowEnd: number;
  /** Verified clips linked to the case. */
  verifiedClips: number;
  /** FULL: no gap above the tolerance; KEY_STEPS: a verified clip is linked; OPTIONAL: always. */
  satisfied: boolean;
  /** FULL only: share of the window covered, holes within the tolerance counting as covered. */
  percent: number | null;
  coveredMs: number | null;
  /** FULL only: holes above the tolerance, [from, to) in gateway time. */
  gaps: [number, number][];
  /**
   * FULL only: the cause of each gap, by position: why the recording that ended where the gap begins
   * ended, from its seal (R-SEAL-5: STOPPED, COMMAND, BATTERY_LOW, STORAGE_FULL, REBOOT, FAULT,
   * UNSTATED), or NO_RECORDING where no clip of the case ends there (the window opened unrecorded).
   */
  gapCauses: string[];
}

/**
 * Merge intervals over a window: holes no longer than toleranceMs (between clips or at either
 * edge of the window) are bridged; longer ones are returned as gaps.
 */
export function mergeCoverage(windowStart: number, windowEnd: number, intervals: [number, number][], toleranceMs: number): { coveredMs: number; gaps: [number, number][] } {
  const clipped: [number, number][] = [];
  for (const [s, e] of intervals) {
    const a = Math.max(s, windowStart);
    const b = Math.min(e, windowEnd);
    if (b > a) clipped.push([a, b]);
  }
  clipped.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const gaps: [number, number][] = [];
  let cursor = windowStart;
  for (const [s, e] of clipped) {
    if (s - cursor > toleranceMs) gaps.push([cursor, s]);
    if (e > cursor) cursor = e;
  }
  if (windowEnd - cursor > toleranceMs) gaps.push([cursor, windowEnd]);
  const missing = gaps.reduce((n, [a, b]) => n + (b - a), 0);
  return { coveredMs: windowEnd - windowStart - missing, gaps };
}

interface CaseRow { id: number; number: string; policy: "FULL" | "KEY_STEPS" | "OPTIONAL"; window_start: number; window_end: number; unit_id: number }

async function coverageOf(db: Db, c: CaseRow, tolerance: number, offset: ClockOffset): Promise<CaseCoverage> {
  const verifiedClips = await q.verifiedClipCount(db, c.id);
  const base = { caseNumber: c.number, unitId: c.unit_id, policy: c.policy, windowStart: c.window_start, windowEnd: c.window_end, verifiedClips };
  if (c.policy !== "FULL") return { ...base, satisfied: c.policy === "OPTIONAL" || verifiedClips > 0, percent: null, coveredMs: null, gaps: [], gapCauses: [] };
  const chunks = await q.verifiedChunksOfCase(db, c.id);
  const offsets = new Map<string, number>();
  const intervals: [number, number][] = chunks.map((k) => {
    let o = offsets.get(k.device_id);
    if (o === undefined) offsets.set(k.device_id, (o = offset(k.device_id)));
    return [k.time_ms + o, k.time_ms + o + k.duration_ms];
  });
  const m = mergeCoverage(c.window_start, c.window_end, intervals, tolerance);
  const percent = (m.coveredMs / (c.window_end - c.window_start)) * 100;
  // Each recording's end on the gateway's clock, and why it ended: a gap starts where one ended.
  const ends = new Map<string, { end: number; cause: string }>();
  chunks.forEach((k, i) => {
    const key = `${k.device_id}/${k.recording_id}`;
    const e = ends.get(key);
    if (!e || intervals[i][1] > e.end) ends.set(key, { end: intervals[i][1], cause: endReasonOf(k.seal_block) || "UNSTATED" });
  });
  const gapCauses = m.gaps.map(([from]) => {
    let best: { end: number; cause: string } | null = null;
    for (const e of ends.values()) if (Math.min(e.end, c.window_end) === from && (!best || e.end > best.end)) best = e;
    return best ? best.cause : "NO_RECORDING";
  });
  return { ...base, satisfied: m.gaps.length === 0, percent, coveredMs: m.coveredMs, gaps: m.gaps, gapCauses };
}

function tolerance(opts: CoverageOptions): number {
  const t = opts.gapToleranceMs ?? DEFAULT_GAP_TOLERANCE_MS;
  if (!(Number.isFinite(t) && t >= 0)) throw new RangeError(`gapToleranceMs must be a non-negative number, got ${t}`);
  return t;
}

/** Coverage of one case by its linked verified clips; undefined if there is no such case. */
export async function caseCoverage(db: Db, caseNumber: string, opts: CoverageOptions = {}): Promise<CaseCoverage | undefined> {
  const c = await q.coverageCase(db, caseNumber);
  return c ? coverageOf(db, c, tolerance(opts), opts.offsetMs || noOffset) : undefined;
}

/** Coverage of every FULL and KEY_STEPS case whose window overlaps [from, to), by window start. */
export async function coverageReport(db: Db, opts: CoverageOptions & { from?: number; to?: number } = {}): Promise<CaseCoverage[]> {
  const t = tolerance(opts);
  const cases = await q.coverageCases(db, opts.from ?? 0, opts.to ?? Number.MAX_SAFE_INTEGER);
  const out: CaseCoverage[] = [];
  for (const c of cases) out.push(await coverageOf(db, c, t, opts.offsetMs || noOffset));
  return out;
}

export interface IntegritySummary {
  total: number;
  verified: number;
  incomplete: number;
  failed: number;
  /** Sealed with no chunk: nothing recorded, counted apart from verified. */
  empty: number;
  /** Incomplete for good: the device no longer holds what is missing. */
  finalIncomplete: number;
  /** Sealed as interrupted (power loss, storage full...). */
  interrupted: number;
}

/** Counts of recordings by integrity verdict. */
/** Recordings by verdict: the station's, or those of `units` (a caller's scope). */
export async function integritySummary(db: Db, units?: number[]): Promise<IntegritySummary> {
  const r = await q.verdictCounts(db, units);
  return {
    total: r ? r.total : 0, verified: r?.verified || 0, incomplete: r?.incomplete || 0, failed: r?.failed || 0, empty: r?.empty || 0,
    finalIncomplete: r?.final_incomplete || 0, interrupted: r?.interrupted || 0,
  };
}

export interface StatisticsRow {
  /** Officer badge or unit id; null for clips no officer (or unit) can be found for. */
  key: string | number | null;
  label: string;
  recordings: number;
  /** Recorded media, from the chunks' durations. */
  hours: number;
  verdicts: { verified: number; incomplete: number; failed: number };
  /** Median of last receipt − corrected end time, over clips that have an end. */
  medianUploadDelayMs: number | null;
  /**
   * FULL-policy cases whose window overlaps the period: of the unit (by unit), or that link a clip
   * the officer recorded (by officer); and the share of those windows covered by verified clips
   * (covered time over window time, summed over the cases; null when there is no such case).
   */
  fullCases: number;
  fullCoveragePercent: number | null;
}

export interface StatisticsOptions {
  /** Clips starting in [from, to), ms. */
  from: number;
  to: number;
  by: "officer" | "unit";
  offsetMs?: ClockOffset;
  /** For the FULL coverage figures (the station's gap tolerance). */
  gapToleranceMs?: number;
}

/**
 * Recordings, hours, verdicts, upload delay and FULL-case coverage per officer or per unit. A clip
 * belongs to the officer who held the device when it started; its unit is that officer's unit
 * (today's roster), else the unit the device is issued to. A FULL case counts for its own unit, and
 * for each officer who recorded a clip linked to it; its coverage is the coverage report's.
 */
export async function statistics(db: Db, opts: StatisticsOptions): Promise<StatisticsRow[]> {
  if (opts.by !== "officer" && opts.by !== "unit") throw new RangeError(`by must be officer or unit, got ${JSON.stringify(opts.by)}`);
  if (!(opts.to > opts.from)) throw new RangeError("statistics period must end after it starts");
  const offset = opts.offsetMs || noOffset;
  const rows = await q.statisticsRows(db, opts.from, opts.to);
  const groups = new Map<string | number | null, { row: StatisticsRow; ms: number; delays: number[]; covered: number; window: number }>();
  const group = (key: string | number | null, label: () => string) => {
    let g = groups.get(key);
    if (!g) {
      g = { row: { key, label: key === null ? "(unassigned)" : label(), recordings: 0, hours: 0, verdicts: { verified: 0, incomplete: 0, failed: 0 }, medianUploadDelayMs: null, fullCases: 0, fullCoveragePercent: null }, ms: 0, delays: [], covered: 0, window: 0 };
      groups.set(key, g);
    }
    return g;
  };
  for (const r of rows) {
    const g = group(opts.by === "officer" ? r.badge : r.unit_id, () => (opts.by === "officer" ? `${r.badge} ${r.officer_name}` : (r.unit_name as string)));
    g.row.recordings++;
    g.ms += r.media_ms;
    if (r.verdict === "verified" || r.verdict === "incomplete" || r.verdict === "failed") g.row.verdicts[r.verdict]++;
    if (r.end_ms !== null) g.delays.push(r.last_received - (r.end_ms + offset(r.device_id)));
  }
  // FULL cases of the period, as the coverage report sees them.
  const full = (await coverageReport(db, { from: opts.from, to: opts.to, gapToleranceMs: opts.gapToleranceMs, offsetMs: opts.offsetMs })).filter((c) => c.policy === "FULL");
  if (full.length) {
    const units = new Map((await q.unitNames(db)).map((u) => [u.id, u.name]));
    for (const c of full) {
      const owners: [string | number, string][] = [];
      if (opts.by === "unit") owners.push([c.unitId, units.get(c.unitId) ?? String(c.unitId)]);
      else {
        const row = await q.coverageCase(db, c.caseNumber);
        for (const o of row ? await q.caseOfficers(db, row.id) : []) owners.push([o.badge, `${o.badge} ${o.name}`]);
      }
      for (const [key, label] of owners) {
        const g = group(key, () => label);
        g.row.fullCases++;
        g.covered += c.coveredMs ?? 0;
        g.window += c.windowEnd - c.windowStart;
      }
    }
  }
  const out: StatisticsRow[] = [];
  for (const g of groups.values()) {
    g.row.hours = g.ms / 3600000;
    g.row.medianUploadDelayMs = median(g.delays);
    g.row.fullCoveragePercent = g.window > 0 ? (g.covered / g.window) * 100 : null;
    out.push(g.row);
  }
  return out.sort((a, b) => (a.key === null ? 1 : 0) - (b.key === null ? 1 : 0) || a.label.localeCompare(b.label));
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
