// What the reports read: rosters, fleets, clips linked to cases and their chunks, statistics rows.
import type { Db } from "./db.js";
import { RECORDING_UNIT, devicesOfUnitsSql } from "./recordings.js";
import { assignmentInForceSql } from "./assignments.js";

export function unitsForReport(db: Db): Promise<{ id: number; parent_id: number | null; name: string; level: string; fleet_ratio: number | null }[]> {
  return db.all("SELECT id, parent_id, name, level, fleet_ratio FROM units ORDER BY id");
}

/** Active staff per unit and role. */
export function staffCounts(db: Db): Promise<{ unit_id: number; role: string; n: number }[]> {
  return db.all("SELECT unit_id, role, COUNT(*) AS n FROM officers WHERE active = 1 GROUP BY unit_id, role");
}

/** Active body-worn devices per unit (null: issued to none). */
export function activeBodyDevices(db: Db): Promise<{ unit_id: number | null; n: number }[]> {
  return db.all("SELECT unit_id, COUNT(*) AS n FROM devices WHERE kind = 'body' AND state = 'active' GROUP BY unit_id");
}

export interface CoverageCaseRow { id: number; number: string; policy: "FULL" | "KEY_STEPS" | "OPTIONAL"; window_start: number; window_end: number; unit_id: number }

export function coverageCase(db: Db, number: string): Promise<CoverageCaseRow | undefined> {
  return db.get<CoverageCaseRow>("SELECT id, number, policy, window_start, window_end, unit_id FROM cases WHERE number = ?", [number]);
}

/** FULL and KEY_STEPS cases whose window overlaps [from, to), by window start. */
export function coverageCases(db: Db, from: number, to: number): Promise<CoverageCaseRow[]> {
  return db.all<CoverageCaseRow>(
    "SELECT id, number, policy, window_start, window_end, unit_id FROM cases WHERE policy IN ('FULL', 'KEY_STEPS') AND window_end > ? AND window_start < ? ORDER BY window_start, number", [from, to]);
}

/** Verified clips linked to a case now (an empty one, sealed with no chunk, counts for nothing). */
export async function verifiedClipCount(db: Db, caseId: number): Promise<number> {
  const r = await db.get<{ n: number }>(
    `SELECT COUNT(*) AS n FROM clip_links l JOIN recordings r ON r.device_id = l.device_id AND r.recording_id = l.recording_id
     WHERE l.case_id = ? AND l.unlinked_at IS NULL AND r.verdict = 'verified' AND r.linked_seq > 0`, [caseId]);
  return r ? r.n : 0;
}

/** The chunks of the verified clips linked to a case: device, time and duration. */
export function verifiedChunksOfCase(db: Db, caseId: number): Promise<{ device_id: string; recording_id: number; time_ms: number; duration_ms: number; seal_block: Uint8Array | null }[]> {
  return db.all(
    `SELECT k.device_id, k.recording_id, k.time_ms, k.duration_ms, r.seal_block FROM clip_links l
     JOIN recordings r ON r.device_id = l.device_id AND r.recording_id = l.recording_id
     JOIN chunks k ON k.device_id = l.device_id AND k.recording_id = l.recording_id
     WHERE l.case_id = ? AND l.unlinked_at IS NULL AND r.verdict = 'verified' AND r.linked_seq > 0`, [caseId]);
}

/**
 * Recordings counted by verdict: the station's, or (`units`) those whose unit, as a listing gives
 * it, is one of these (read among the recordings of those units' devices only).
 */
export function verdictCounts(db: Db, units?: number[]): Promise<{ total: number; verified: number | null; incomplete: number | null; failed: number | null; empty: number | null; final_incomplete: number | null; interrupted: number | null } | undefined> {
  const scoped = units === undefined ? ""
    : ` JOIN devices d ON d.id = r.device_id WHERE r.device_id IN (${devicesOfUnitsSql(units.length)}) AND ${RECORDING_UNIT} IN (${units.map(() => "?").join(", ") || "NULL"})`;
  return db.get(
    `SELECT COUNT(*) AS total,
       SUM(CASE WHEN verdict = 'verified' AND linked_seq > 0 THEN 1 ELSE 0 END) AS verified, SUM(CASE WHEN verdict = 'incomplete' THEN 1 ELSE 0 END) AS incomplete,
       SUM(CASE WHEN verdict = 'failed' THEN 1 ELSE 0 END) AS failed, SUM(CASE WHEN verdict = 'verified' AND linked_seq = 0 THEN 1 ELSE 0 END) AS empty,
       SUM(CASE WHEN verdict = 'incomplete' AND final = 1 THEN 1 ELSE 0 END) AS final_incomplete, SUM(CASE WHEN interrupted = 1 THEN 1 ELSE 0 END) AS interrupted
     FROM recordings r${scoped}`, units ? [...units, ...units, ...units] : []);
}

export interface StatisticsSourceRow {
  device_id: string; verdict: string; end_ms: number | null; last_received: number; media_ms: number;
  badge: string | null; officer_name: string | null; unit_id: number | null; unit_name: string | null;
}

/** Clips starting in [from, to) with their media time (the sum of their chunks' durations, kept with the row), officer at the start and unit. */
export function statisticsRows(db: Db, from: number, to: number): Promise<StatisticsSourceRow[]> {
  return db.all<StatisticsSourceRow>(
    `SELECT r.device_id, CASE WHEN r.verdict = 'verified' AND r.linked_seq = 0 THEN 'empty' ELSE r.verdict END AS verdict, r.end_ms, r.last_received,
       r.media_ms,
       o.badge, o.name AS officer_name, u.id AS unit_id, u.name AS unit_name
     FROM recordings r JOIN devices d ON d.id = r.device_id
     LEFT JOIN assignments a ON a.device_id = r.device_id AND a.officer_id IS NOT NULL AND ${assignmentInForceSql("a", "r.start_ms")}
     LEFT JOIN officers o ON o.id = a.officer_id
     LEFT JOIN units u ON u.id = COALESCE(o.unit_id, d.unit_id)
     WHERE r.start_ms >= ? AND r.start_ms < ?`, [from, to]);
}

/** Officers (with their unit) who held the device when a clip linked to the case started. */
export function caseOfficers(db: Db, caseId: number): Promise<{ badge: string; name: string; unit_id: number }[]> {
  return db.all(
    `SELECT DISTINCT o.badge, o.name, o.unit_id FROM clip_links l JOIN recordings r ON r.device_id = l.device_id AND r.recording_id = l.recording_id
     JOIN assignments a ON a.device_id = r.device_id AND a.officer_id IS NOT NULL AND ${assignmentInForceSql("a", "r.start_ms")}
     JOIN officers o ON o.id = a.officer_id
     WHERE l.case_id = ? AND l.unlinked_at IS NULL ORDER BY o.badge`, [caseId]);
}

/** Unit names by id. */
export function unitNames(db: Db): Promise<{ id: number; name: string }[]> {
  return db.all("SELECT id, name FROM units ORDER BY id");
}
