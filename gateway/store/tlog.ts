// The transparency log's tables and every statement on them (SPEC.md section 14): leaves in
// order, the hashes of full 256^L subtrees that tiles of level L ≥ 1 serve, signed checkpoints,
// witness cosignatures, and how far each source of leaves has been read. Leaves, subtree
// hashes and checkpoints are append-only: triggers keep the gateway's own code from editing
// them (against someone with the file, the checkpoints held by witnesses are the defence).
import type { Db } from "./db.js";
import type { MigrationSet } from "./schema.js";

export const TLOG_MIGRATIONS: MigrationSet = {
  name: "tlog",
  steps: [
    `CREATE TABLE tlog_leaves (
       idx INTEGER PRIMARY KEY,
       ref TEXT NOT NULL UNIQUE,
       kind TEXT NOT NULL,
       data BLOB NOT NULL,
       hash BLOB NOT NULL,
       note TEXT,
       at INTEGER NOT NULL
     );
     CREATE INDEX tlog_leaves_kind ON tlog_leaves (kind, idx);
     CREATE TABLE tlog_hashes (
       level INTEGER NOT NULL,
       idx INTEGER NOT NULL,
       hash BLOB NOT NULL,
       PRIMARY KEY (level, idx)
     );
     CREATE TABLE tlog_checkpoints (
       size INTEGER PRIMARY KEY,
       root BLOB NOT NULL,
       note TEXT NOT NULL,
       at INTEGER NOT NULL
     );
     CREATE TABLE tlog_cosignatures (
       size INTEGER NOT NULL,
       witness TEXT NOT NULL,
       line TEXT NOT NULL,
       at INTEGER NOT NULL,
       PRIMARY KEY (size, witness)
     );
     CREATE TABLE tlog_witness_state (
       witness TEXT PRIMARY KEY,
       size INTEGER NOT NULL,
       at INTEGER NOT NULL
     );
     CREATE TABLE tlog_progress (
       source TEXT PRIMARY KEY,
       last INTEGER NOT NULL
     );
     CREATE TRIGGER tlog_leaves_no_update BEFORE UPDATE ON tlog_leaves BEGIN SELECT RAISE(ABORT, 'tlog_leaves is append-only'); END;
     CREATE TRIGGER tlog_leaves_no_delete BEFORE DELETE ON tlog_leaves BEGIN SELECT RAISE(ABORT, 'tlog_leaves is append-only'); END;
     CREATE TRIGGER tlog_hashes_no_update BEFORE UPDATE ON tlog_hashes BEGIN SELECT RAISE(ABORT, 'tlog_hashes is append-only'); END;
     CREATE TRIGGER tlog_hashes_no_delete BEFORE DELETE ON tlog_hashes BEGIN SELECT RAISE(ABORT, 'tlog_hashes is append-only'); END;
     CREATE TRIGGER tlog_checkpoints_no_update BEFORE UPDATE ON tlog_checkpoints BEGIN SELECT RAISE(ABORT, 'tlog_checkpoints is append-only'); END;
     CREATE TRIGGER tlog_checkpoints_no_delete BEFORE DELETE ON tlog_checkpoints BEGIN SELECT RAISE(ABORT, 'tlog_checkpoints is append-only'); END;`,
    // A recording's manifest leaf, by index, kept on the recording when the leaf is appended (in
    // the same transaction), so the log's source pass (after each seal) finds the few sealed
    // recordings not yet logged by an index holding only them, not by looking through every
    // sealed recording for one without a leaf (docs/SCALE.md, "The station after 180 days"). Its
    // key is the recording's, which no commit changes (last_received, which each chunk's commit
    // moves, would make every such update write the index, and PostgreSQL's no longer in place).
    `ALTER TABLE recordings ADD COLUMN tlog_idx INTEGER;
     UPDATE recordings SET tlog_idx = (SELECT l.idx FROM tlog_leaves l WHERE l.ref = 'recording:' || recordings.device_id || '/' || recordings.recording_id) WHERE seal_block IS NOT NULL;
     CREATE INDEX recordings_unlogged ON recordings (device_id, recording_id) WHERE tlog_idx IS NULL AND seal_block IS NOT NULL;`,
  ],
};

export interface NewLeaf {
  /** What the leaf records, unique in the log: recording:DEV/N, custody:audit:SEQ, custody:link:ID, audit:COUNT, deletion:DEV/N. */
  ref: string;
  kind: string;
  data: Uint8Array;
  hash: Uint8Array;
  /** The station's signed note over the leaf, for recording manifests. */
  note: string | null;
  at: number;
}

export interface LeafRow {
  idx: number;
  ref: string;
  kind: string;
  data: Buffer;
  hash: Buffer;
  note: string | null;
  at: number;
}

export interface CheckpointRow {
  size: number;
  root: Buffer;
  note: string;
  at: number;
}

/**
 * Leaves in the log: one past the last index (leaves are appended at 0, 1, 2, ... and never
 * removed). Read from the primary key's end, not counted: a count reads every leaf, 14 ms at a
 * million, and every pass of the log (after each sealed recording) asks.
 */
export async function leafCount(db: Db): Promise<number> {
  return (await db.get<{ n: number }>("SELECT COALESCE(max(idx) + 1, 0) AS n FROM tlog_leaves"))!.n;
}

/** Append leaves at indexes from `first` on (call inside the transaction that read the count). */
export async function insertLeaves(db: Db, first: number, leaves: NewLeaf[]): Promise<void> {
  let i = first;
  for (const l of leaves) {
    const idx = i++;
    await db.run("INSERT INTO tlog_leaves (idx, ref, kind, data, hash, note, at) VALUES (?, ?, ?, ?, ?, ?, ?)", [idx, l.ref, l.kind, l.data, l.hash, l.note, l.at]);
    // A recording's manifest: its recording marked logged (recordings_unlogged no longer holds it).
    const r = l.kind === "recording" ? /^recording:(.+)\/(\d+)$/.exec(l.ref) : null;
    if (r) await db.run("UPDATE recordings SET tlog_idx = ? WHERE device_id = ? AND recording_id = ?", [idx, r[1], Number(r[2])]);
  }
}

/** Which of these refs are already leaves. */
export async function existingRefs(db: Db, refs: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < refs.length; i += 500) {
    const part = refs.slice(i, i + 500);
    const rows = await db.all<{ ref: string }>(`SELECT ref FROM tlog_leaves WHERE ref IN (${part.map(() => "?").join(",")})`, part);
    for (const r of rows) out.add(r.ref);
  }
  return out;
}

/** Leaf hashes of [from, to), in order. */
export async function leafHashes(db: Db, from: number, to: number): Promise<Buffer[]> {
  return (await db.all<{ hash: Buffer }>("SELECT hash FROM tlog_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", [from, to])).map((r) => r.hash);
}

/** Leaf entries of [from, to), in order. */
export async function leafEntries(db: Db, from: number, to: number): Promise<Buffer[]> {
  return (await db.all<{ data: Buffer }>("SELECT data FROM tlog_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", [from, to])).map((r) => r.data);
}

/** One leaf by index or by ref. */
export async function leafAt(db: Db, idx: number): Promise<LeafRow | undefined> {
  return db.get<LeafRow>("SELECT idx, ref, kind, data, hash, note, at FROM tlog_leaves WHERE idx = ?", [idx]);
}
export async function leafByRef(db: Db, ref: string): Promise<LeafRow | undefined> {
  return db.get<LeafRow>("SELECT idx, ref, kind, data, hash, note, at FROM tlog_leaves WHERE ref = ?", [ref]);
}

/** Leaves of one kind, oldest first, from index `after` + 1, at most `limit`. */
export async function leavesOfKind(db: Db, kind: string, after = -1, limit = 1000): Promise<LeafRow[]> {
  return db.all<LeafRow>("SELECT idx, ref, kind, data, hash, note, at FROM tlog_leaves WHERE kind = ? AND idx > ? ORDER BY idx LIMIT ?", [kind, after, limit]);
}

/** Hashes of full subtrees at tile level `level` (≥ 1), indexes [from, to). */
export async function subtreeHashes(db: Db, level: number, from: number, to: number): Promise<Buffer[]> {
  return (await db.all<{ hash: Buffer }>("SELECT hash FROM tlog_hashes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx", [level, from, to])).map((r) => r.hash);
}

export async function insertSubtreeHash(db: Db, level: number, idx: number, hash: Uint8Array): Promise<void> {
  await db.run("INSERT INTO tlog_hashes (level, idx, hash) VALUES (?, ?, ?)", [level, idx, hash]);
}

export async function latestCheckpoint(db: Db): Promise<CheckpointRow | undefined> {
  return db.get<CheckpointRow>("SELECT size, root, note, at FROM tlog_checkpoints ORDER BY size DESC LIMIT 1");
}

export async function checkpointAt(db: Db, size: number): Promise<CheckpointRow | undefined> {
  return db.get<CheckpointRow>("SELECT size, root, note, at FROM tlog_checkpoints WHERE size = ?", [size]);
}

/** Signed checkpoints of sizes above `after`, in size order, at most `limit` (a page of them). */
export async function checkpointsAfter(db: Db, after: number, limit: number): Promise<CheckpointRow[]> {
  return db.all<CheckpointRow>("SELECT size, root, note, at FROM tlog_checkpoints WHERE size > ? ORDER BY size LIMIT ?", [after, limit]);
}

export async function checkpointCount(db: Db): Promise<number> {
  return (await db.get<{ n: number }>("SELECT count(*) AS n FROM tlog_checkpoints"))!.n;
}

export async function insertCheckpoint(db: Db, c: { size: number; root: Uint8Array; note: string; at: number }): Promise<void> {
  await db.run("INSERT INTO tlog_checkpoints (size, root, note, at) VALUES (?, ?, ?, ?)", [c.size, c.root, c.note, c.at]);
}

/** Cosignature lines on the checkpoint of `size`, in the order they came. */
export async function cosignatures(db: Db, size: number): Promise<{ witness: string; line: string; at: number }[]> {
  return db.all("SELECT witness, line, at FROM tlog_cosignatures WHERE size = ? ORDER BY at, witness", [size]);
}

export async function putCosignature(db: Db, size: number, witness: string, line: string, at: number): Promise<void> {
  await db.run("INSERT INTO tlog_cosignatures (size, witness, line, at) VALUES (?, ?, ?, ?) ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, at = excluded.at", [size, witness, line, at]);
}

/** The tree size a witness last cosigned, as far as the station knows (0: none). */
export async function witnessSize(db: Db, witness: string): Promise<number> {
  return (await db.get<{ size: number }>("SELECT size FROM tlog_witness_state WHERE witness = ?", [witness]))?.size ?? 0;
}

export async function setWitnessSize(db: Db, witness: string, size: number, at: number): Promise<void> {
  await db.run("INSERT INTO tlog_witness_state (witness, size, at) VALUES (?, ?, ?) ON CONFLICT (witness) DO UPDATE SET size = excluded.size, at = excluded.at", [witness, size, at]);
}

/** How far a source of leaves has been read (an audit seq, a custody event id); 0 at first. */
export async function progress(db: Db, source: string): Promise<number> {
  return (await db.get<{ last: number }>("SELECT last FROM tlog_progress WHERE source = ?", [source]))?.last ?? 0;
}

export async function setProgress(db: Db, source: string, last: number): Promise<void> {
  await db.run("INSERT INTO tlog_progress (source, last) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET last = excluded.last", [source, last]);
}

// ---- the sources of leaves: read-only views of other parts' tables ----

export interface SealedRecordingRow {
  device_id: string;
  recording_id: number;
  genesis: Buffer;
  seal_block: Buffer;
  verdict: string;
  reasons: string;
  first_received: number;
  last_received: number;
}

/**
 * Sealed recordings whose verdict is settled (not an incomplete one still waiting for chunks)
 * and that have no leaf yet, oldest first: found by recordings_unlogged, which holds only the
 * sealed recordings not yet logged (the leaf's own ref is still checked, as before the mark).
 */
export async function unloggedSealedRecordings(db: Db, limit: number): Promise<SealedRecordingRow[]> {
  return db.all<SealedRecordingRow>(
    `SELECT r.device_id, r.recording_id, r.genesis, r.seal_block, r.verdict, r.reasons, r.first_received, r.last_received
     FROM recordings r
     WHERE r.tlog_idx IS NULL AND r.seal_block IS NOT NULL AND r.genesis IS NOT NULL AND (r.verdict <> 'incomplete' OR r.final = 1)
       AND NOT EXISTS (SELECT 1 FROM tlog_leaves l WHERE l.ref = 'recording:' || r.device_id || '/' || r.recording_id)
     ORDER BY r.last_received, r.device_id, r.recording_id LIMIT ?`, [limit]);
}

export interface LinkEventRow { id: number; at: number; actor: string; action: string; device_id: string; recording_id: number; case_number: string; reason: string }

/** Links and unlinks from the custody trail after event `after`. */
export async function linkEventsAfter(db: Db, after: number, limit: number): Promise<LinkEventRow[]> {
  return db.all<LinkEventRow>(
    `SELECT e.id, e.at, e.actor, e.action, e.device_id, e.recording_id, c.number AS case_number, e.reason
     FROM custody_events e JOIN cases c ON c.id = e.case_id WHERE e.id > ? ORDER BY e.id LIMIT ?`, [after, limit]);
}

export interface AuditAccessRow { seq: number; at: number; action: string; target: string; hash: string }

/** Audit entries after `after` whose action is one of `actions` (accesses to recordings), oldest first. */
export async function auditEntriesAfter(db: Db, after: number, actions: string[], limit: number): Promise<AuditAccessRow[]> {
  return db.all<AuditAccessRow>(
    `SELECT seq, at, action, target, hash FROM audit_log WHERE seq > ? AND action IN (${actions.map(() => "?").join(",")}) ORDER BY seq LIMIT ?`,
    [after, ...actions, limit]);
}

/** The audit log's last seq (0 when empty). */
export async function auditMaxSeq(db: Db): Promise<number> {
  return (await db.get<{ n: number | null }>("SELECT max(seq) AS n FROM audit_log"))?.n ?? 0;
}

/** A recording's stored chain values, as the log's manifest and its checks need them. */
export async function recordingSealValue(db: Db, device: string, recording: number): Promise<Buffer | null> {
  return (await db.get<{ seal_value: Buffer | null }>("SELECT seal_value FROM recordings WHERE device_id = ? AND recording_id = ?", [device, recording]))?.seal_value ?? null;
}

// ---- what `admin log verify` rechecks ----

/** Leaves after index `after`, in order, at most `limit`. */
export async function leavesAfter(db: Db, after: number, limit: number): Promise<LeafRow[]> {
  return db.all<LeafRow>("SELECT idx, ref, kind, data, hash, note, at FROM tlog_leaves WHERE idx > ? ORDER BY idx LIMIT ?", [after, limit]);
}

/** Stored full-subtree hashes after (level, idx), by level and index, at most `limit` (a page of them). */
export async function subtreeHashesAfter(db: Db, after: { level: number; idx: number }, limit: number): Promise<{ level: number; idx: number; hash: Buffer }[]> {
  return db.all("SELECT level, idx, hash FROM tlog_hashes WHERE (level, idx) > (?, ?) ORDER BY level, idx LIMIT ?", [after.level, after.idx, limit]);
}

/** The audit log's entry hashes at these seqs (those it has), a few statements for a page of leaves. */
export async function auditHashesAt(db: Db, seqs: number[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (let i = 0; i < seqs.length; i += 500) {
    const part = seqs.slice(i, i + 500);
    for (const r of await db.all<{ seq: number; hash: string }>(`SELECT seq, hash FROM audit_log WHERE seq IN (${part.map(() => "?").join(",")})`, part)) out.set(r.seq, r.hash);
  }
  return out;
}

/** A recording's stored seal block. */
export async function sealBlockOf(db: Db, device: string, recording: number): Promise<Buffer | null | undefined> {
  const r = await db.get<{ seal_block: Buffer | null }>("SELECT seal_block FROM recordings WHERE device_id = ? AND recording_id = ?", [device, recording]);
  return r ? r.seal_block : undefined;
}

/** One event of the custody trail, with its case number. */
export async function linkEvent(db: Db, id: number): Promise<LinkEventRow | undefined> {
  return db.get<LinkEventRow>(
    `SELECT e.id, e.at, e.actor, e.action, e.device_id, e.recording_id, c.number AS case_number, e.reason
     FROM custody_events e JOIN cases c ON c.id = e.case_id WHERE e.id = ?`, [id]);
}
