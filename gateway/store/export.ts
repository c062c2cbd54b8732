// What an export reads (gateway/evidence/export.ts): a recording's stored blocks, its chunks in
// pages, the recordings a case links, its custody events and audit entries, the case and the
// clip's officer; and the record of exports made (the only table an export writes, besides the
// audit log and the approvals).
import type { Db } from "./db.js";
import type { MigrationSet } from "./schema.js";
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

// ---- exports made: one row per export, from the moment it passed its checks; the bundle's size,
// SHA-256 and the kept copy's file name once it is written.

export const EXPORT_MIGRATIONS: MigrationSet = {
  name: "exports",
  steps: [
    `CREATE TABLE exports (
       id TEXT PRIMARY KEY,
       created_at INTEGER NOT NULL,
       actor TEXT NOT NULL,
       role TEXT NOT NULL,
       reason TEXT NOT NULL,
       grant_id INTEGER NOT NULL,
       scope TEXT NOT NULL CHECK (scope IN ('recording', 'case')),
       target TEXT NOT NULL,
       items TEXT NOT NULL,
       excerpt TEXT,
       state TEXT NOT NULL DEFAULT 'writing' CHECK (state IN ('writing', 'done', 'failed')),
       bytes INTEGER,
       sha256 TEXT,
       kept TEXT,
       finished_at INTEGER
     );
     CREATE INDEX exports_actor ON exports (actor, created_at);
     CREATE INDEX exports_created ON exports (created_at);`,
    // The process writing the bundle (datadir.ts processStamp): one killed mid-bundle is told from
    // one still writing for a slow reader.
    `ALTER TABLE exports ADD COLUMN writer TEXT;`,
  ],
};

export interface ExportMadeRow {
  id: string; created_at: number; actor: string; role: string; reason: string; grant_id: number; scope: "recording" | "case"; target: string;
  items: string; excerpt: string | null; state: "writing" | "done" | "failed"; bytes: number | null; sha256: string | null; kept: string | null; finished_at: number | null;
}
const EXPORT_COLS = "id, created_at, actor, role, reason, grant_id, scope, target, items, excerpt, state, bytes, sha256, kept, finished_at";

/** Record an export that passed its checks (in the transaction of its audit entries). */
export async function insertExport(db: Db, e: { id: string; createdAt: number; actor: string; role: string; reason: string; grant: number; scope: "recording" | "case"; target: string; items: { device: string; recording: number }[]; excerpt: unknown; writer: string | null }): Promise<void> {
  await db.run(`INSERT INTO exports (id, created_at, actor, role, reason, grant_id, scope, target, items, excerpt, writer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [e.id, e.createdAt, e.actor, e.role, e.reason, e.grant, e.scope, e.target, JSON.stringify(e.items), e.excerpt ? JSON.stringify(e.excerpt) : null, e.writer]);
}

/** An export's bundle is written (with its size, hash and kept copy) or failed. */
export async function finishExport(db: Db, id: string, f: { state: "done" | "failed"; bytes: number | null; sha256: string | null; kept: string | null; at: number }): Promise<void> {
  await db.run("UPDATE exports SET state = ?, bytes = ?, sha256 = ?, kept = ?, finished_at = ? WHERE id = ?", [f.state, f.bytes, f.sha256, f.kept, f.at, id]);
}

/** Exports made, newest first: every one, or one account's. */
export function listExports(db: Db, actor?: string, limit = 500): Promise<ExportMadeRow[]> {
  if (actor === undefined) return db.all<ExportMadeRow>(`SELECT ${EXPORT_COLS} FROM exports ORDER BY created_at DESC, id LIMIT ?`, [limit]);
  return db.all<ExportMadeRow>(`SELECT ${EXPORT_COLS} FROM exports WHERE actor = ? ORDER BY created_at DESC, id LIMIT ?`, [actor, limit]);
}

export function exportById(db: Db, id: string): Promise<ExportMadeRow | undefined> {
  return db.get<ExportMadeRow>(`SELECT ${EXPORT_COLS} FROM exports WHERE id = ?`, [id]);
}


/** Exports whose bundle the station still keeps, with the grant each was made under. */
export function keptExports(db: Db): Promise<{ id: string; grant_id: number; kept: string; items: string }[]> {
  return db.all("SELECT id, grant_id, kept, items FROM exports WHERE kept IS NOT NULL ORDER BY created_at");
}

/** Exports whose bundle is being written, or was when its writer's process ended; with that process's stamp. */
export function writingExports(db: Db): Promise<{ id: string; created_at: number; writer: string | null }[]> {
  return db.all("SELECT id, created_at, writer FROM exports WHERE state = 'writing' ORDER BY created_at");
}

/** The kept bundle of an export was deleted. */
export async function forgetKept(db: Db, id: string): Promise<void> {
  await db.run("UPDATE exports SET kept = NULL WHERE id = ?", [id]);
}
