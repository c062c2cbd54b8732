// Alarms: one open per (kind, subject), a counter for repeats, cleared with who and why.
import type { Db } from "./db.js";
import type { Alarm } from "../../protocol/gateway-api.js";

/** A row of `alarms`: the API sends it as it is (protocol/gateway-api.ts). */
export type AlarmRow = Alarm;
const COLUMNS = "id, kind, subject, detail, count, first_at, last_at, cleared_at, cleared_by, clear_reason";

/** Raise, or bump the open alarm of this kind and subject (the partial unique index makes it one). */
/** Raise (kind, subject) `times` times: a new open alarm, or the open one's count and detail moved on. */
export async function upsertAlarm(db: Db, kind: string, subject: string, detail: string, at: number, times = 1): Promise<AlarmRow> {
  return (await db.get<AlarmRow>(
    `INSERT INTO alarms (kind, subject, detail, count, first_at, last_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (kind, subject) WHERE cleared_at IS NULL
     DO UPDATE SET detail = excluded.detail, last_at = excluded.last_at, count = alarms.count + excluded.count
     RETURNING ${COLUMNS}`, [kind, subject, detail, times, at, at]))!;
}

export async function closeAlarm(db: Db, kind: string, subject: string, actor: string, reason: string, at: number): Promise<AlarmRow | null> {
  return (await db.get<AlarmRow>(`UPDATE alarms SET cleared_at = ?, cleared_by = ?, clear_reason = ? WHERE kind = ? AND subject = ? AND cleared_at IS NULL RETURNING ${COLUMNS}`,
    [at, actor, reason, kind, subject])) ?? null;
}

/** Alarms, most recent first: open ones, cleared ones, or all. */
export function listAlarms(db: Db, open?: boolean): Promise<AlarmRow[]> {
  const where = open === undefined ? "" : open ? " WHERE cleared_at IS NULL" : " WHERE cleared_at IS NOT NULL";
  return db.all<AlarmRow>(`SELECT ${COLUMNS} FROM alarms${where} ORDER BY last_at DESC, id DESC`);
}

/** Subjects of the open alarms of a kind. */
export async function openSubjects(db: Db, kind: string): Promise<Set<string>> {
  return new Set((await db.all<{ subject: string }>("SELECT subject FROM alarms WHERE kind = ? AND cleared_at IS NULL", [kind])).map((r) => r.subject));
}

/**
 * Recordings whose verdict failed though no alarm of a tampering kind was ever raised about them
 * (open or cleared): a raise the store could not keep, waiting to be made again when the process
 * ended. At most `limit`, in order, with their reasons (JSON).
 */
export function failedUnalarmed(db: Db, limit: number): Promise<{ device_id: string; recording_id: number; reasons: string }[]> {
  return db.all(
    `SELECT r.device_id, r.recording_id, r.reasons FROM recordings r
      WHERE r.verdict = 'failed' AND NOT EXISTS (
        SELECT 1 FROM alarms a WHERE a.kind IN ('FAILED_VERDICT', 'EQUIVOCATION') AND a.subject = r.device_id || '/' || r.recording_id)
      ORDER BY r.device_id, r.recording_id LIMIT ?`, [limit]);
}
