// Clip-to-case links and their custody trail (links and unlinks, each with who and why).
import type { Db } from "./db.js";

export interface LinkRow { id: number; device_id: string; recording_id: number; case_id: number; number: string; linked_by: string; reason: string; at: number; unlinked_at: number | null }
const LINK_COLS = "l.id, l.device_id, l.recording_id, l.case_id, c.number, l.linked_by, l.reason, l.at, l.unlinked_at";

/** Add a link; a second open link of the clip to the case fails on a constraint (isConstraintError). */
export async function insertLink(db: Db, deviceId: string, recordingId: number, caseId: number, by: string, reason: string, at: number): Promise<number> {
  return (await db.get<{ id: number }>("INSERT INTO clip_links (device_id, recording_id, case_id, linked_by, reason, at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id", [deviceId, recordingId, caseId, by, reason, at]))!.id;
}

export async function insertCustodyEvent(db: Db, e: { at: number; actor: string; action: "link" | "unlink"; deviceId: string; recordingId: number; caseId: number; reason: string }): Promise<void> {
  await db.run("INSERT INTO custody_events (at, actor, action, device_id, recording_id, case_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
    [e.at, e.actor, e.action, e.deviceId, e.recordingId, e.caseId, e.reason]);
}

/** The clip's link in force to the case, if any. */
export function openLink(db: Db, deviceId: string, recordingId: number, caseId: number): Promise<LinkRow | undefined> {
  return db.get<LinkRow>(`SELECT ${LINK_COLS} FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = ? AND l.recording_id = ? AND l.case_id = ? AND l.unlinked_at IS NULL`, [deviceId, recordingId, caseId]);
}

export async function markUnlinked(db: Db, id: number, at: number): Promise<void> {
  await db.run("UPDATE clip_links SET unlinked_at = ? WHERE id = ?", [at, id]);
}

/** A clip's links in force, or every link ever made, oldest first. */
export function clipLinks(db: Db, deviceId: string, recordingId: number, history: boolean): Promise<LinkRow[]> {
  return db.all<LinkRow>(`SELECT ${LINK_COLS} FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = ? AND l.recording_id = ?${history ? "" : " AND l.unlinked_at IS NULL"} ORDER BY l.at, l.id`, [deviceId, recordingId]);
}

export function custodyEvents(db: Db, deviceId: string, recordingId: number): Promise<{ id: number; at: number; actor: string; action: "link" | "unlink"; device_id: string; recording_id: number; number: string; reason: string }[]> {
  return db.all(
    `SELECT e.id, e.at, e.actor, e.action, e.device_id, e.recording_id, c.number, e.reason FROM custody_events e JOIN cases c ON c.id = e.case_id
     WHERE e.device_id = ? AND e.recording_id = ? ORDER BY e.id`, [deviceId, recordingId]);
}

/** The highest confidentiality of the cases a clip is linked to, 0 if none. */
export async function clipConfidentiality(db: Db, deviceId: string, recordingId: number): Promise<number> {
  const r = await db.get<{ level: number | null }>(
    "SELECT MAX(c.confidentiality) AS level FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = ? AND l.recording_id = ? AND l.unlinked_at IS NULL", [deviceId, recordingId]);
  return (r && r.level) || 0;
}
