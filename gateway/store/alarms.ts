// Alarms: one open per (kind, subject), a counter for repeats, cleared with who and why.
import type { Db } from "./db.js";
import type { Alarm } from "../../protocol/gateway-api.js";
import { isAlarmSaid } from "../../protocol/alarm-details.js";

/** A row of `alarms`: the API sends it as it is (protocol/gateway-api.ts). */
export type AlarmRow = Alarm;
const COLUMNS = "id, kind, subject, detail, said, count, first_at, last_at, cleared_at, cleared_by, clear_reason";

/** A row as stored: its key and values as JSON text. */
type Stored = Omit<AlarmRow, "said"> & { said: string | null };

/** A row as read, its key and values parsed (null where there are none, or none this catalogue knows). */
function row(r: Stored): AlarmRow {
  let said: unknown = null;
  try { said = r.said === null ? null : JSON.parse(r.said); } catch { /* unreadable: the words alone */ }
  return { ...r, said: isAlarmSaid(said) ? said : null };
}

/** Raise, or bump the open alarm of this kind and subject (the partial unique index makes it one). */
/** Raise (kind, subject) `times` times: a new open alarm, or the open one's count and detail moved on. */
export async function upsertAlarm(db: Db, kind: string, subject: string, detail: string, said: string | null, at: number, times = 1): Promise<AlarmRow> {
  return row((await db.get<Stored>(
    `INSERT INTO alarms (kind, subject, detail, said, count, first_at, last_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (kind, subject) WHERE cleared_at IS NULL
     DO UPDATE SET detail = excluded.detail, said = excluded.said, last_at = excluded.last_at, count = alarms.count + excluded.count
     RETURNING ${COLUMNS}`, [kind, subject, detail, said, times, at, at]))!);
}

export async function closeAlarm(db: Db, kind: string, subject: string, actor: string, reason: string, at: number): Promise<AlarmRow | null> {
  const r = await db.get<Stored>(`UPDATE alarms SET cleared_at = ?, cleared_by = ?, clear_reason = ? WHERE kind = ? AND subject = ? AND cleared_at IS NULL RETURNING ${COLUMNS}`,
    [at, actor, reason, kind, subject]);
  return r ? row(r) : null;
}

/** Alarms, most recent first: open ones, cleared ones, or all. */
export async function listAlarms(db: Db, open?: boolean): Promise<AlarmRow[]> {
  const where = open === undefined ? "" : open ? " WHERE cleared_at IS NULL" : " WHERE cleared_at IS NOT NULL";
  return (await db.all<Stored>(`SELECT ${COLUMNS} FROM alarms${where} ORDER BY last_at DESC, id DESC`)).map(row);
}

/** Subjects of the open alarms of a kind. */
export async function openSubjects(db: Db, kind: string): Promise<Set<string>> {
  return new Set((await db.all<{ subject: string }>("SELECT subject FROM alarms WHERE kind = ? AND cleared_at IS NULL", [kind])).map((r) => r.subject));
}

/** A recording's fact that ingest raises an alarm of `kind` for, with no such alarm ever raised (unraised). */
export interface Unraised { kind: "FAILED_VERDICT" | "CLIP_TIME_SUSPECT" | "FORGED_MESSAGE"; device_id: string; recording_id: number; fact: string }

const NONE_RAISED = (kinds: string) => `NOT EXISTS (SELECT 1 FROM alarms a WHERE a.kind IN (${kinds}) AND a.subject = x.device_id || '/' || x.recording_id)`;

/**
 * What ingest stored and raises an alarm about, for which no alarm was ever raised (open or
 * cleared): a raise the store could not keep, waiting to be made again when the process ended, or
 * one the process's end cut short after the commit. A recording whose verdict failed (`fact`: its
 * reasons, JSON), one whose times are flagged (the flag), a message kept as forged (its reason).
 * At most `limit` of each, in order.
 */
export async function unraised(db: Db, limit: number): Promise<Unraised[]> {
  const failed = await db.all<Unraised>(
    `SELECT 'FAILED_VERDICT' AS kind, x.device_id, x.recording_id, x.reasons AS fact FROM recordings x
      WHERE x.verdict = 'failed' AND ${NONE_RAISED("'FAILED_VERDICT', 'EQUIVOCATION'")} ORDER BY x.device_id, x.recording_id LIMIT ?`, [limit]);
  const time = await db.all<Unraised>(
    `SELECT 'CLIP_TIME_SUSPECT' AS kind, x.device_id, x.recording_id, x.time_flag AS fact FROM recordings x
      WHERE x.time_flag IS NOT NULL AND ${NONE_RAISED("'CLIP_TIME_SUSPECT'")} ORDER BY x.device_id, x.recording_id LIMIT ?`, [limit]);
  const forged = await db.all<Unraised>(
    `SELECT 'FORGED_MESSAGE' AS kind, x.device_id, x.recording_id, MIN(x.reason) AS fact FROM evidence x
      WHERE x.reason LIKE 'FORGED:%' AND x.recording_id IS NOT NULL AND ${NONE_RAISED("'FORGED_MESSAGE'")} GROUP BY x.device_id, x.recording_id ORDER BY x.device_id, x.recording_id LIMIT ?`, [limit]);
  return [...failed, ...time, ...forged];
}
