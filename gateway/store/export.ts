// What an export reads (gateway/evidence/export.ts): a recording's stored blocks, its chunks in
// pages, the recordings a case links, its custody events and audit entries, the case and the
// clip's officer. Read-only: an export changes nothing but the audit log and the approvals.
import type { Db } from "./db.js";
import { assignmentInForceSql } from "./assignments.js";

export interface ExportRecordingRow {
  device_id: string;
  recording_id: number;
  genesis: Buffer | null;
  case_tag: string | null;
  seal_block: Buffer | null;
  seal_tag: Buffer | null;
  seal_case_tag: string | null;
  seal_value: Buffer | null;
  verdict: string;
  final: number;
  media_path: string;
  total_bytes: number;
  linked_seq: number;
  start_ms: number | null;
  end_ms: number | null;
  clip_at_ms: number | null;
  time_flag: string | null;
  beacon_sent_ms: number | null;
  first_received: number;
  last_received: number;
  storage_state: string;
  purge_state: string;
}

export async function recordingForExport(db: Db, device: string, recording: number): Promise<ExportRecordingRow | undefined> {
  return db.get<ExportRecordingRow>(
    `SELECT device_id, recording_id, genesis, case_tag, seal_block, seal_tag, seal_case_tag, seal_value, verdict, final, media_path, total_bytes,
            linked_seq, start_ms, end_ms, clip_at_ms, time_flag, beacon_sent_ms, first_received, last_received, storage_state, purge_state
     FROM recordings WHERE device_id = ? AND recording_id = ?`, [device, recording]);
}

export interface ExportChunkRow { seq: number; header: Buffer; tag: Buffer; length: number; media_offset: number; time_ms: number; duration_ms: number; received_at: number }

/** Chunks after `afterSeq`, in seq order, at most `limit`. */
export async function chunkPage(db: Db, device: string, recording: number, afterSeq: number, limit: number): Promise<ExportChunkRow[]> {
  return db.all<ExportChunkRow>(
    "SELECT seq, header, tag, length, media_offset, time_ms, duration_ms, received_at FROM chunks WHERE device_id = ? AND recording_id = ? AND seq > ? ORDER BY seq LIMIT ?",
    [device, recording, afterSeq, limit]);
}

/** Seq range of the chunks whose corrected times overlap [fromMs, toMs) (device time + offset). */
export async function seqRangeForTimes(db: Db, device: string, recording: number, fromDeviceMs: number, toDeviceMs: number): Promise<{ lo: number | null; hi: number | null }> {
  const r = await db.get<{ lo: number | null; hi: number | null }>(
    "SELECT min(seq) AS lo, max(seq) AS hi FROM chunks WHERE device_id = ? AND recording_id = ? AND time_ms < ? AND time_ms + duration_ms > ?",
    [device, recording, toDeviceMs, fromDeviceMs]);
  return r ?? { lo: null, hi: null };
}

/** The recordings a case links now, in (device, recording) order. */
export async function caseRecordings(db: Db, caseNumber: string): Promise<{ device_id: string; recording_id: number }[]> {
  return db.all(
    `SELECT DISTINCT l.device_id, l.recording_id FROM clip_links l JOIN cases c ON c.id = l.case_id
     WHERE c.number = ? AND l.unlinked_at IS NULL ORDER BY l.device_id, l.recording_id`, [caseNumber]);
}

export interface AuditRowFull { seq: number; at: number; actor: string; action: string; target: string | null; reason: string | null; details: string | null; prev: string; hash: string }

/** Audit entries about one target with one of `actions`, oldest first. */
export async function auditEntriesFor(db: Db, target: string, actions: string[]): Promise<AuditRowFull[]> {
  return db.all<AuditRowFull>(
    `SELECT seq, at, actor, action, target, reason, details, prev, hash FROM audit_log WHERE target = ? AND action IN (${actions.map(() => "?").join(",")}) ORDER BY seq`,
    [target, ...actions]);
}

/** Audit entries an account made, oldest first (its custody report). */
export async function auditEntriesBy(db: Db, actor: string, actions: string[]): Promise<AuditRowFull[]> {
  return db.all<AuditRowFull>(
    `SELECT seq, at, actor, action, target, reason, details, prev, hash FROM audit_log WHERE actor = ? AND action IN (${actions.map(() => "?").join(",")}) ORDER BY seq`,
    [actor, ...actions]);
}

/** The clip's officer (the assignment in force at its corrected start) with the unit's name. */
export async function clipOfficer(db: Db, device: string, atMs: number): Promise<{ badge: string; name: string; unit: string } | undefined> {
  return db.get(
    `SELECT o.badge, o.name, u.name AS unit FROM assignments a JOIN officers o ON o.id = a.officer_id JOIN units u ON u.id = o.unit_id
     WHERE a.device_id = ? AND ${assignmentInForceSql("a", "?")}`, [device, atMs, atMs]);
}

/** A unit's name. */
export async function unitName(db: Db, id: number): Promise<string | undefined> {
  return (await db.get<{ name: string }>("SELECT name FROM units WHERE id = ?", [id]))?.name;
}

/** The account a name belongs to (the CLI acts as one), with its role. */
export async function accountByName(db: Db, name: string): Promise<{ name: string; role: string; officer_badge: string | null } | undefined> {
  return db.get("SELECT name, role, officer_badge FROM accounts WHERE name = ? AND disabled_at IS NULL", [name]);
}

/** The device's last Status clock offset (gateway − device, ms), when it reported one. */
export async function lastStatus(db: Db, device: string): Promise<string | null> {
  return (await db.get<{ last_status: string | null }>("SELECT last_status FROM devices WHERE id = ?", [device]))?.last_status ?? null;
}
