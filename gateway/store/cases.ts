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
 * The longest a clip has run (start to end, or to its last chunk while open), ms, 0 if none: how
 * far before a window a clip overlapping it can have started. One pass over the recordings.
 */
export async function longestClipMs(db: Db): Promise<number> {
  const r = await db.get<{ d: number | null }>("SELECT MAX(COALESCE(end_ms, last_time_ms) - start_ms) AS d FROM recordings WHERE start_ms IS NOT NULL");
  return Math.max(0, Number(r?.d ?? 0));
}

/** A case and a clip whose time overlaps its window, with what weighing the clip for it needs. */
export interface CaseClipRow {
  case_id: number; device_id: string; recording_id: number; start_ms: number; end_ms: number | null; last_time_ms: number;
  clip_at_ms: number | null; case_tag: string | null; seal_case_tag: string | null; kind: string; device_room: string | null;
  /** The check-out in force when the clip started: its room and its officer's badge. */
  assigned_room: string | null; badge: string | null;
  /** Steps up the unit tree from the clip's unit to the case's. */
  distance: number;
}

/**
 * For the cases of some units (all, or one case), the clips not linked to them whose time (start
 * to end, or to the last chunk while open) overlaps their window and whose unit (the officer's who
 * wore a body-worn device when it started, else the device's) is the case's unit or below it,
 * with the check-out in force when the clip started; by case (window start, number), then clip
 * start. One statement: each case's clips are found by `recordings_start`, from `longestMs`
 * before its window (longestClipMs) to its end, and each clip's check-out as the device's latest
 * before its start (check-outs of a device never overlap).
 */
export function clipsAroundCases(db: Db, which: { unitIds?: number[]; caseId?: number }, longestMs: number): Promise<CaseClipRow[]> {
  const at = "COALESCE(r.clip_at_ms, r.start_ms)";
  const where: string[] = [];
  const params: (number | string)[] = [longestMs];
  if (which.caseId !== undefined) { where.push("c.id = ?"); params.push(which.caseId); }
  if (which.unitIds !== undefined) {
    if (!which.unitIds.length) return Promise.resolve([]);
    where.push(`c.unit_id IN (${which.unitIds.map(() => "?").join(", ")})`);
    params.push(...which.unitIds);
  }
  // The check-out's id is found first, then joined as a plain value: PostgreSQL reads a join on a
  // correlated subquery by scanning every check-out for each clip.
  return db.all<CaseClipRow>(
    `WITH RECURSIVE up(unit_id, above, distance) AS (SELECT id, id, 0 FROM units UNION ALL SELECT up.unit_id, u.parent_id, up.distance + 1 FROM up JOIN units u ON u.id = up.above WHERE u.parent_id IS NOT NULL),
     found AS MATERIALIZED (
       SELECT c.id AS case_id, c.unit_id AS case_unit, c.window_start, c.number, r.device_id, r.recording_id, r.start_ms, r.end_ms, r.last_time_ms, r.clip_at_ms, r.case_tag, r.seal_case_tag,
         (SELECT l.id FROM assignments l WHERE l.device_id = r.device_id AND l.checked_out_at <= ${at} ORDER BY l.checked_out_at DESC, l.id DESC LIMIT 1) AS checkout
       FROM cases c
       JOIN recordings r ON r.start_ms >= c.window_start - ? AND r.start_ms <= c.window_end
         AND (r.start_ms >= c.window_start OR COALESCE(r.end_ms, r.last_time_ms) >= c.window_start)
       WHERE ${where.length ? where.join(" AND ") + " AND " : ""}NOT EXISTS (SELECT 1 FROM clip_links l WHERE l.case_id = c.id AND l.device_id = r.device_id AND l.recording_id = r.recording_id AND l.unlinked_at IS NULL))
     SELECT f.case_id, f.device_id, f.recording_id, f.start_ms, f.end_ms, f.last_time_ms, f.clip_at_ms, f.case_tag, f.seal_case_tag,
            d.kind, d.room AS device_room, a.room AS assigned_room, o.badge, up.distance
     FROM found f
     JOIN devices d ON d.id = f.device_id
     LEFT JOIN assignments a ON a.id = f.checkout AND (a.returned_at IS NULL OR a.returned_at > COALESCE(f.clip_at_ms, f.start_ms))
     LEFT JOIN officers o ON o.id = a.officer_id
     JOIN up ON up.unit_id = CASE WHEN d.kind = 'body' THEN COALESCE(o.unit_id, d.unit_id) ELSE d.unit_id END AND up.above = f.case_unit
     ORDER BY f.window_start, f.number, f.start_ms, f.device_id, f.recording_id`, params);
}
