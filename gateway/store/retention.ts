// Retention's tables and statements (gateway/evidence/retention.ts): admin holds, each
// recording's purge state, and tombstones. A purged recording keeps its row (genesis, seal
// block, seal value): the device's history check still knows it existed; its chunks and media
// go, and a tombstone says what was deleted, when, under which rule, and where the log has it.
import type { Db } from "./db.js";
import type { MigrationSet } from "./schema.js";

export const RETENTION_MIGRATIONS: MigrationSet = {
  name: "retention",
  steps: [
    `ALTER TABLE recordings ADD COLUMN purge_state TEXT NOT NULL DEFAULT 'kept' CHECK (purge_state IN ('kept', 'pending', 'purged'));
     ALTER TABLE recordings ADD COLUMN purge_due_at INTEGER;
     CREATE TABLE retention_holds (
       id INTEGER PRIMARY KEY,
       device_id TEXT NOT NULL,
       recording_id INTEGER NOT NULL,
       reason TEXT NOT NULL,
       held_by TEXT NOT NULL,
       held_at INTEGER NOT NULL,
       released_by TEXT,
       released_at INTEGER,
       release_reason TEXT
     );
     CREATE UNIQUE INDEX retention_holds_open ON retention_holds (device_id, recording_id) WHERE released_at IS NULL;
     CREATE TABLE tombstones (
       device_id TEXT NOT NULL,
       recording_id INTEGER NOT NULL,
       seal_value BLOB,
       category TEXT NOT NULL,
       retain_until INTEGER NOT NULL,
       marked_at INTEGER NOT NULL,
       deleted_at INTEGER NOT NULL,
       recording_leaf INTEGER NOT NULL,
       deletion_leaf INTEGER,
       bytes INTEGER NOT NULL,
       PRIMARY KEY (device_id, recording_id)
     );
     CREATE TRIGGER tombstones_no_delete BEFORE DELETE ON tombstones BEGIN SELECT RAISE(ABORT, 'tombstones are kept'); END;`,
  ],
};

export type PurgeState = "kept" | "pending" | "purged";

/** What retention needs to know of a recording to place it in its category. */
export interface RetentionRow {
  device_id: string;
  recording_id: number;
  last_received: number;
  total_bytes: number;
  verdict: string;
  final: number;
  sealed: number;
  purge_state: PurgeState;
  purge_due_at: number | null;
  held: number;
  linked: number;
  last_unlinked: number | null;
  seal_value: Buffer | null;
  media_path: string;
}

const ROW = `SELECT r.device_id, r.recording_id, r.last_received, r.total_bytes, r.verdict, r.final,
    (r.seal_block IS NOT NULL) AS sealed, r.purge_state, r.purge_due_at, r.seal_value, r.media_path,
    EXISTS (SELECT 1 FROM retention_holds h WHERE h.device_id = r.device_id AND h.recording_id = r.recording_id AND h.released_at IS NULL) AS held,
    EXISTS (SELECT 1 FROM clip_links l WHERE l.device_id = r.device_id AND l.recording_id = r.recording_id AND l.unlinked_at IS NULL) AS linked,
    (SELECT max(l.unlinked_at) FROM clip_links l WHERE l.device_id = r.device_id AND l.recording_id = r.recording_id) AS last_unlinked
  FROM recordings r`;

/** Every recording not yet purged, oldest first. */
export async function retentionRows(db: Db): Promise<RetentionRow[]> {
  return db.all<RetentionRow>(`${ROW} WHERE r.purge_state <> 'purged' ORDER BY r.last_received, r.device_id, r.recording_id`);
}

/** Where a paged read of recordings by age resumes: after this one. */
export interface AgeKey { last_received: number; device_id: string; recording_id: number }

/** Recordings not yet purged, oldest first, after `after` (keyset), at most `limit`: a page of retentionRows. */
export async function retentionPage(db: Db, after: AgeKey | null, limit: number): Promise<RetentionRow[]> {
  const where = after ? " AND (r.last_received, r.device_id, r.recording_id) > (?, ?, ?)" : "";
  const params = after ? [after.last_received, after.device_id, after.recording_id, limit] : [limit];
  return db.all<RetentionRow>(`${ROW} WHERE r.purge_state <> 'purged'${where} ORDER BY r.last_received, r.device_id, r.recording_id LIMIT ?`, params);
}

/** How many recordings are not yet purged (what a purge pass goes through). */
export async function retentionCount(db: Db): Promise<number> {
  return (await db.get<{ n: number }>("SELECT count(*) AS n FROM recordings WHERE purge_state <> 'purged'"))!.n;
}

/** One recording's retention facts. */
export async function retentionRow(db: Db, device: string, recording: number): Promise<RetentionRow | undefined> {
  return db.get<RetentionRow>(`${ROW} WHERE r.device_id = ? AND r.recording_id = ?`, [device, recording]);
}

export async function openHold(db: Db, device: string, recording: number): Promise<{ id: number; reason: string; held_by: string; held_at: number } | undefined> {
  return db.get("SELECT id, reason, held_by, held_at FROM retention_holds WHERE device_id = ? AND recording_id = ? AND released_at IS NULL", [device, recording]);
}

export async function insertHold(db: Db, device: string, recording: number, by: string, reason: string, at: number): Promise<void> {
  await db.run("INSERT INTO retention_holds (device_id, recording_id, reason, held_by, held_at) VALUES (?, ?, ?, ?, ?)", [device, recording, reason, by, at]);
}

export async function releaseHold(db: Db, id: number, by: string, reason: string, at: number): Promise<void> {
  await db.run("UPDATE retention_holds SET released_by = ?, released_at = ?, release_reason = ? WHERE id = ?", [by, at, reason, id]);
}

export async function setPurgeState(db: Db, device: string, recording: number, state: PurgeState, dueAt: number | null): Promise<void> {
  await db.run("UPDATE recordings SET purge_state = ?, purge_due_at = ? WHERE device_id = ? AND recording_id = ?", [state, dueAt, device, recording]);
}

/**
 * Remove a recording's chunk rows (its media file is removed by the caller after the commit), and
 * the media time they summed to: none is stored any more.
 */
export async function deleteChunks(db: Db, device: string, recording: number): Promise<number> {
  const n = (await db.run("DELETE FROM chunks WHERE device_id = ? AND recording_id = ?", [device, recording])).changes;
  await db.run("UPDATE recordings SET media_ms = 0 WHERE device_id = ? AND recording_id = ?", [device, recording]);
  return n;
}

export interface Tombstone {
  device_id: string;
  recording_id: number;
  seal_value: Buffer | null;
  category: string;
  retain_until: number;
  marked_at: number;
  deleted_at: number;
  recording_leaf: number;
  deletion_leaf: number | null;
  bytes: number;
}

export async function insertTombstone(db: Db, t: Tombstone): Promise<void> {
  await db.run("INSERT INTO tombstones (device_id, recording_id, seal_value, category, retain_until, marked_at, deleted_at, recording_leaf, deletion_leaf, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [t.device_id, t.recording_id, t.seal_value, t.category, t.retain_until, t.marked_at, t.deleted_at, t.recording_leaf, t.deletion_leaf, t.bytes]);
}

export async function setTombstoneLeaf(db: Db, device: string, recording: number, leaf: number): Promise<void> {
  await db.run("UPDATE tombstones SET deletion_leaf = ? WHERE device_id = ? AND recording_id = ?", [leaf, device, recording]);
}

export async function tombstones(db: Db): Promise<Tombstone[]> {
  return db.all<Tombstone>("SELECT device_id, recording_id, seal_value, category, retain_until, marked_at, deleted_at, recording_leaf, deletion_leaf, bytes FROM tombstones ORDER BY deleted_at, device_id, recording_id");
}

/** Tombstones whose deletion is not in the transparency log yet (a crash between the two). */
export async function unloggedTombstones(db: Db): Promise<Tombstone[]> {
  return db.all<Tombstone>("SELECT device_id, recording_id, seal_value, category, retain_until, marked_at, deleted_at, recording_leaf, deletion_leaf, bytes FROM tombstones WHERE deletion_leaf IS NULL ORDER BY deleted_at");
}

/** A recording's purge state, or undefined if there is no such recording. */
export async function purgeStateOf(db: Db, device: string, recording: number): Promise<PurgeState | undefined> {
  return (await db.get<{ purge_state: PurgeState }>("SELECT purge_state FROM recordings WHERE device_id = ? AND recording_id = ?", [device, recording]))?.purge_state;
}

/** One recording's tombstone. */
export async function tombstoneOf(db: Db, device: string, recording: number): Promise<Tombstone | undefined> {
  return db.get<Tombstone>("SELECT device_id, recording_id, seal_value, category, retain_until, marked_at, deleted_at, recording_leaf, deletion_leaf, bytes FROM tombstones WHERE device_id = ? AND recording_id = ?", [device, recording]);
}

/** A recording's media path, or undefined if there is no such recording. */
export async function mediaPathOf(db: Db, device: string, recording: number): Promise<string | undefined> {
  return (await db.get<{ media_path: string }>("SELECT media_path FROM recordings WHERE device_id = ? AND recording_id = ?", [device, recording]))?.media_path;
}
