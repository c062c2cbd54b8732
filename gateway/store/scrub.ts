// What the scrub reads and writes (gateway/evidence/scrub.ts): a recording's stored blocks,
// chunk headers and chain values; its storage state (a column on recordings, so listings,
// downloads and exports say so); the findings, one row per damaged value; and the repair of a
// derived value (a chain value, C_0, the last chain value, a seal value) from the block the
// device tagged. Nothing here touches a verdict: a storage fault is never the device's.
import type { Db } from "./db.js";
import type { MigrationSet } from "./schema.js";

export const SCRUB_MIGRATIONS: MigrationSet = {
  name: "scrub",
  steps: [
    `ALTER TABLE recordings ADD COLUMN storage_state TEXT NOT NULL DEFAULT 'ok' CHECK (storage_state IN ('ok', 'repaired', 'corrupt'));
     ALTER TABLE recordings ADD COLUMN storage_checked_at INTEGER;
     CREATE TABLE storage_findings (
       id INTEGER PRIMARY KEY,
       device_id TEXT NOT NULL,
       recording_id INTEGER NOT NULL,
       seq INTEGER,
       what TEXT NOT NULL,
       detail TEXT NOT NULL,
       repaired INTEGER NOT NULL DEFAULT 0,
       found_at INTEGER NOT NULL
     );
     CREATE INDEX storage_findings_recording ON storage_findings (device_id, recording_id);`,
  ],
};

export type StorageState = "ok" | "repaired" | "corrupt";

export interface ScrubRecordingRow {
  device_id: string;
  recording_id: number;
  genesis: Buffer | null;
  c0: Buffer | null;
  case_tag: string | null;
  linked_seq: number;
  last_chain: Buffer | null;
  total_bytes: number;
  seal_block: Buffer | null;
  seal_tag: Buffer | null;
  seal_case_tag: string | null;
  seal_value: Buffer | null;
  reasons: string;
  media_path: string;
  last_received: number;
  storage_state: StorageState;
}

export interface ScrubChunkRow {
  seq: number;
  header: Buffer;
  tag: Buffer;
  chain: Buffer;
  length: number;
  media_offset: number;
}

const REC_COLS = "device_id, recording_id, genesis, c0, case_tag, linked_seq, last_chain, total_bytes, seal_block, seal_tag, seal_case_tag, seal_value, reasons, media_path, last_received, storage_state";

/** Recordings with a start, in (device, recording) order after the given key, at most `limit`. */
export async function recordingsAfter(db: Db, after: { device: string; recording: number } | null, limit: number, only?: { device?: string; recording?: number }): Promise<{ device_id: string; recording_id: number; total_bytes: number }[]> {
  // An erased recording (retention) has no media left to check: its tombstone is what remains.
  const where = ["genesis IS NOT NULL", "purge_state <> 'purged'"];
  const params: (string | number)[] = [];
  if (after) { where.push("(device_id > ? OR (device_id = ? AND recording_id > ?))"); params.push(after.device, after.device, after.recording); }
  if (only?.device !== undefined) { where.push("device_id = ?"); params.push(only.device); }
  if (only?.recording !== undefined) { where.push("recording_id = ?"); params.push(only.recording); }
  params.push(limit);
  return db.all(`SELECT device_id, recording_id, total_bytes FROM recordings WHERE ${where.join(" AND ")} ORDER BY device_id, recording_id LIMIT ?`, params);
}

/** How many recordings a scrub of these goes through (those recordingsAfter pages through). */
export async function recordingsToScrub(db: Db, only?: { device?: string; recording?: number }): Promise<number> {
  const where = ["genesis IS NOT NULL", "purge_state <> 'purged'"];
  const params: (string | number)[] = [];
  if (only?.device !== undefined) { where.push("device_id = ?"); params.push(only.device); }
  if (only?.recording !== undefined) { where.push("recording_id = ?"); params.push(only.recording); }
  return (await db.get<{ n: number }>(`SELECT count(*) AS n FROM recordings WHERE ${where.join(" AND ")}`, params))!.n;
}

/** A recording's stored row and its chunks' headers, read at one moment (one transaction). */
export async function readForScrub(db: Db, device: string, recording: number): Promise<{ rec: ScrubRecordingRow; chunks: ScrubChunkRow[] } | null> {
  return db.transaction(async () => {
    const rec = await db.get<ScrubRecordingRow>(`SELECT ${REC_COLS} FROM recordings WHERE device_id = ? AND recording_id = ?`, [device, recording]);
    if (!rec) return null;
    const chunks = await db.all<ScrubChunkRow>("SELECT seq, header, tag, chain, length, media_offset FROM chunks WHERE device_id = ? AND recording_id = ? ORDER BY seq", [device, recording]);
    return { rec, chunks };
  });
}

/** A recording's seal block, seal tag and stored seal value. */
export async function sealOf(db: Db, device: string, recording: number): Promise<{ seal_block: Buffer | null; seal_tag: Buffer | null; seal_value: Buffer | null } | undefined> {
  return db.get("SELECT seal_block, seal_tag, seal_value FROM recordings WHERE device_id = ? AND recording_id = ?", [device, recording]);
}

export interface Finding {
  /** 0: the genesis; -1: the seal; null: the recording as a whole; else a chunk's seq. */
  seq: number | null;
  /** MEDIA (payload bytes), MEDIA_MISSING, HEADER, TAG, GENESIS, SEAL, and the derived CHAIN_VALUE, C0, LAST_CHAIN, SEAL_VALUE. */
  what: string;
  detail: string;
  repaired: boolean;
}

/** Open findings already recorded for a recording (not repaired), to raise each once. */
export async function openFindings(db: Db, device: string, recording: number): Promise<{ seq: number | null; what: string }[]> {
  return db.all("SELECT seq, what FROM storage_findings WHERE device_id = ? AND recording_id = ? AND repaired = 0", [device, recording]);
}

/** Every finding of a recording, oldest first. */
export async function findingsOf(db: Db, device: string, recording: number): Promise<(Finding & { found_at: number })[]> {
  const rows = await db.all<{ seq: number | null; what: string; detail: string; repaired: number; found_at: number }>(
    "SELECT seq, what, detail, repaired, found_at FROM storage_findings WHERE device_id = ? AND recording_id = ? ORDER BY id", [device, recording]);
  return rows.map((r) => ({ seq: r.seq, what: r.what, detail: r.detail, repaired: r.repaired === 1, found_at: r.found_at }));
}

/**
 * Record a scrub's outcome in one transaction: new findings, repairs of derived values, and
 * the recording's storage state. Call inside no other transaction.
 */
export async function recordScrub(db: Db, device: string, recording: number, o: {
  findings: Finding[];
  repairs: { chain?: { seq: number; value: Uint8Array }[]; c0?: Uint8Array; lastChain?: Uint8Array; sealValue?: Uint8Array };
  state: StorageState | null;
  at: number;
}): Promise<void> {
  await db.transaction(async () => {
    for (const f of o.findings) {
      await db.run("INSERT INTO storage_findings (device_id, recording_id, seq, what, detail, repaired, found_at) VALUES (?, ?, ?, ?, ?, ?, ?)", [device, recording, f.seq, f.what, f.detail, f.repaired ? 1 : 0, o.at]);
    }
    for (const c of o.repairs.chain ?? []) await db.run("UPDATE chunks SET chain = ? WHERE device_id = ? AND recording_id = ? AND seq = ?", [c.value, device, recording, c.seq]);
    if (o.repairs.c0) await db.run("UPDATE recordings SET c0 = ? WHERE device_id = ? AND recording_id = ?", [o.repairs.c0, device, recording]);
    if (o.repairs.lastChain) await db.run("UPDATE recordings SET last_chain = ? WHERE device_id = ? AND recording_id = ?", [o.repairs.lastChain, device, recording]);
    if (o.repairs.sealValue) await db.run("UPDATE recordings SET seal_value = ? WHERE device_id = ? AND recording_id = ?", [o.repairs.sealValue, device, recording]);
    if (o.state) await db.run("UPDATE recordings SET storage_state = ?, storage_checked_at = ? WHERE device_id = ? AND recording_id = ?", [o.state, o.at, device, recording]);
    else await db.run("UPDATE recordings SET storage_checked_at = ? WHERE device_id = ? AND recording_id = ?", [o.at, device, recording]);
  });
}

/** A recording's storage state and what the scrub found, for listings and the download route. */
export async function storageState(db: Db, device: string, recording: number): Promise<{ state: StorageState; findings: string[] } | null> {
  const r = await db.get<{ storage_state: StorageState }>("SELECT storage_state FROM recordings WHERE device_id = ? AND recording_id = ?", [device, recording]);
  if (!r) return null;
  const f = await db.all<{ seq: number | null; what: string; repaired: number }>("SELECT seq, what, repaired FROM storage_findings WHERE device_id = ? AND recording_id = ? ORDER BY id", [device, recording]);
  return { state: r.storage_state, findings: f.map((x) => `${x.seq === null ? "recording" : x.seq === 0 ? "genesis" : x.seq === -1 ? "seal" : `chunk ${x.seq}`}: ${x.what}${x.repaired ? " (repaired)" : ""}`) };
}
