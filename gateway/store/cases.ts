// Cases with their recording policy and confidentiality.
import type { Db } from "./db.js";

export interface CaseRow {
  id: number; number: string; unit_id: number; category: string; activity_kind: string; policy: string;
  window_start: number; window_end: number; confidentiality: number; room: string | null;
}
const CASE_COLS = "id, number, unit_id, category, activity_kind, policy, window_start, window_end, confidentiality, room";
const SUBTREE = "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT u.id FROM units u JOIN sub ON u.parent_id = sub.id)";

export interface CaseValues { number: string; unitId: number; category: string; activityKind: string; policy: string; windowStart: number; windowEnd: number; confidentiality: number; room: string | null }

/** Open a case; a duplicate number fails on a constraint (isConstraintError). */
export async function insertCase(db: Db, c: CaseValues): Promise<number> {
  return (await db.get<{ id: number }>("INSERT INTO cases (number, unit_id, category, activity_kind, policy, window_start, window_end, confidentiality, room) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    [c.number, c.unitId, c.category, c.activityKind, c.policy, c.windowStart, c.windowEnd, c.confidentiality, c.room]))!.id;
}

export function caseByNumber(db: Db, number: string): Promise<CaseRow | undefined> {
  return db.get<CaseRow>(`SELECT ${CASE_COLS} FROM cases WHERE number = ?`, [number]);
}

/** Every case, or those of a unit's subtree, by window start. */
export function listCases(db: Db, unitId?: number): Promise<CaseRow[]> {
  if (unitId === undefined) return db.all<CaseRow>(`SELECT ${CASE_COLS} FROM cases ORDER BY window_start, number`);
  return db.all<CaseRow>(`${SUBTREE} SELECT ${CASE_COLS} FROM cases WHERE unit_id IN (SELECT id FROM sub) ORDER BY window_start, number`, [unitId]);
}

/**
 * Cases of a unit or a unit above it whose window overlaps [start, end], with the steps up the
 * tree from the unit, leaving out those the clip is already linked to.
 */
export function casesAround(db: Db, unitId: number, start: number, end: number, deviceId: string, recordingId: number): Promise<(CaseRow & { distance: number })[]> {
  return db.all<CaseRow & { distance: number }>(
    `WITH RECURSIVE up(id, distance) AS (SELECT ?, 0 UNION ALL SELECT u.parent_id, up.distance + 1 FROM units u JOIN up ON u.id = up.id WHERE u.parent_id IS NOT NULL)
     SELECT ${CASE_COLS.split(", ").map((k) => "c." + k).join(", ")}, up.distance FROM cases c JOIN up ON up.id = c.unit_id
     WHERE c.window_start <= ? AND c.window_end >= ?
       AND NOT EXISTS (SELECT 1 FROM clip_links l WHERE l.case_id = c.id AND l.device_id = ? AND l.recording_id = ? AND l.unlinked_at IS NULL)`,
    [unitId, end, start, deviceId, recordingId]);
}

/**
 * Recordings whose time (start to end, or to the last chunk while open) overlaps [start, end] and
 * that are not linked to the case: the clips that could be suggested for it, by start.
 */
export function clipsOverlapping(db: Db, caseId: number, start: number, end: number): Promise<{ device_id: string; recording_id: number }[]> {
  return db.all(
    `SELECT r.device_id, r.recording_id FROM recordings r
     WHERE r.start_ms IS NOT NULL AND r.start_ms <= ? AND (r.start_ms >= ? OR COALESCE(r.end_ms, r.last_time_ms) >= ?)
       AND NOT EXISTS (SELECT 1 FROM clip_links l WHERE l.case_id = ? AND l.device_id = r.device_id AND l.recording_id = r.recording_id AND l.unlinked_at IS NULL)
     ORDER BY r.start_ms, r.device_id, r.recording_id`, [end, start, start, caseId]);
}
