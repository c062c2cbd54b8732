// Recordings as the people who retrieve them see them: listings, one recording's detail, where
// its media is. (Ingest's own reads and writes of the same table are in ingest.ts.)
import type { Db } from "./db.js";
import { assignmentInForceSql } from "./assignments.js";

export interface ClipRow { device_id: string; recording_id: number; start_ms: number | null; end_ms: number | null; last_time_ms: number; case_tag: string | null; seal_case_tag: string | null; clip_at_ms: number | null }

export function clipRow(db: Db, deviceId: string, recordingId: number): Promise<ClipRow | undefined> {
  return db.get<ClipRow>("SELECT device_id, recording_id, start_ms, end_ms, last_time_ms, case_tag, seal_case_tag, clip_at_ms FROM recordings WHERE device_id = ? AND recording_id = ?", [deviceId, recordingId]);
}

export interface RecordingListRow {
  device: string; recording: number; verdict: string; final: number; chunks: number; bytes: number; interrupted: number; deviceLost: number;
  caseTag: string | null; startMs: number | null; endMs: number | null; reasons: string; storageState: string | null; purgeState: string | null;
  firstReceived: number; lastReceived: number; clipAtMs: number | null; unitId: number | null; officer: string | null;
  /** The numbers of the cases it is linked to now, comma-separated; null if none. */
  cases: string | null;
  /** The seal block (its byte 3 says why the recording ended, R-SEAL-5); null while unsealed. */
  sealBlock: Uint8Array | null;
}

/** The officer badge in force at a time expression of `r` (start, else first receipt). */
const officerAt = (t: string) => `(SELECT o.badge FROM assignments a JOIN officers o ON o.id = a.officer_id WHERE a.device_id = r.device_id AND ${assignmentInForceSql("a", t)} ORDER BY a.checked_out_at DESC LIMIT 1)`;
const unitAt = (t: string) => `(SELECT o.unit_id FROM assignments a JOIN officers o ON o.id = a.officer_id WHERE a.device_id = r.device_id AND ${assignmentInForceSql("a", t)} ORDER BY a.checked_out_at DESC LIMIT 1)`;
const CLIP_AT = "COALESCE(r.clip_at_ms, r.start_ms)";
/**
 * The listing's time key: the clip's time (CLIP_AT), -1 for a recording whose start is not yet
 * stored (last, after every dated clip, on both engines). Written as the index
 * recordings_listing's first column is, so the listing's order and its keyset walk that index.
 */
const LIST_AT = "COALESCE(r.clip_at_ms, r.start_ms, -1)";

/** A clip's place in the listing: its time key (LIST_AT), device and recording. */
export interface ListingKey { at: number; device: string; recording: number }

/** A listed row's time key, as LIST_AT reads it. */
export function listingAt(r: { clipAtMs: number | null; startMs: number | null }): number {
  return r.clipAtMs ?? r.startMs ?? -1;
}
/** A recording's unit, as listings and scopes take it: its officer's at the clip's time, else its device's (`d`). */
export const RECORDING_UNIT = `COALESCE(${unitAt(CLIP_AT)}, d.unit_id)`;

/**
 * SQL: the devices issued to one of `n` units or ever held by an officer of one (bind the units
 * twice): those of every recording whose unit (RECORDING_UNIT) is one of them, and a few more.
 */
export function devicesOfUnitsSql(n: number): string {
  const list = Array.from({ length: n }, () => "?").join(", ") || "NULL";
  return `SELECT id FROM devices WHERE unit_id IN (${list}) UNION SELECT a.device_id FROM assignments a JOIN officers o ON o.id = a.officer_id WHERE o.unit_id IN (${list})`;
}

/**
 * Recordings with what scoping needs: the officer who wore the device at the clip's start and the
 * clip's unit (that officer's, else the device's). Filters: one device; only one officer's clips;
 * only clips of devices an officer ever held (`heldBy`: every clip a listing could name that
 * officer on, and others); only clips of devices issued to one of `units` or ever held by an
 * officer of one (every clip whose unit is one of them, and others); clips whose time (station
 * time at its start, as the officer's is found) is in [from, to). These filters read only the
 * recordings of the devices they name.
 *
 * The listing's order is newest first: the clip's time (LIST_AT) descending, then device and
 * recording descending among clips of the same time. In pages: at most `limit` rows, those after
 * `after` in that order: a walk of the index recordings_listing from that point, never a count
 * of the rows before it.
 */
export function listRecordings(db: Db, q: { device?: string; officerBadge?: string; heldBy?: string; units?: number[]; from?: number; to?: number; after?: ListingKey; limit?: number } = {}): Promise<RecordingListRow[]> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (q.after !== undefined) {
    // (time, device, recording) < the cursor's, written out so both engines take the time as the index's range.
    where.push(`${LIST_AT} <= ? AND (${LIST_AT} < ? OR (r.device_id, r.recording_id) < (?, ?))`);
    params.push(q.after.at, q.after.at, q.after.device, q.after.recording);
  }
  if (q.device !== undefined) { where.push("r.device_id = ?"); params.push(q.device); }
  for (const badge of new Set([q.officerBadge, q.heldBy])) {
    if (badge === undefined) continue;
    where.push("r.device_id IN (SELECT a.device_id FROM assignments a JOIN officers o ON o.id = a.officer_id WHERE o.badge = ?)");
    params.push(badge);
  }
  if (q.units !== undefined) {
    where.push(`r.device_id IN (${devicesOfUnitsSql(q.units.length)})`);
    params.push(...q.units, ...q.units);
  }
  if (q.from !== undefined) { where.push(`${CLIP_AT} >= ?`); params.push(q.from); }
  if (q.to !== undefined) { where.push(`${CLIP_AT} < ?`); params.push(q.to); }
  if (q.officerBadge !== undefined) {
    where.push(`EXISTS (SELECT 1 FROM assignments a JOIN officers o ON o.id = a.officer_id WHERE a.device_id = r.device_id AND o.badge = ? AND ${assignmentInForceSql("a", CLIP_AT)})`);
    params.push(q.officerBadge);
  }
  return db.all<RecordingListRow>(
    `SELECT r.device_id AS device, r.recording_id AS recording, r.verdict, r.final, r.linked_seq AS chunks, r.total_bytes AS bytes, r.interrupted,
       r.device_lost AS "deviceLost", r.case_tag AS "caseTag", r.start_ms AS "startMs", r.end_ms AS "endMs", r.reasons, r.storage_state AS "storageState",
       r.purge_state AS "purgeState", r.first_received AS "firstReceived", r.last_received AS "lastReceived", r.clip_at_ms AS "clipAtMs", r.seal_block AS "sealBlock",
       ${RECORDING_UNIT} AS "unitId", COALESCE(${officerAt(CLIP_AT)}, ${officerAt("r.first_received")}) AS officer,
       (SELECT string_agg(c.number, ',') FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = r.device_id AND l.recording_id = r.recording_id AND l.unlinked_at IS NULL) AS cases
     FROM recordings r JOIN devices d ON d.id = r.device_id${where.length ? " WHERE " + where.join(" AND ") : ""} ORDER BY ${LIST_AT} DESC, r.device_id DESC, r.recording_id DESC${q.limit !== undefined ? " LIMIT ?" : ""}`, q.limit !== undefined ? [...params, q.limit] : params);
}

/** The numbers of the cases one recording is linked to now. */
export async function linkedCasesOf(db: Db, deviceId: string, recordingId: number): Promise<string[]> {
  const rows = await db.all<{ number: string }>(
    "SELECT c.number FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = ? AND l.recording_id = ? AND l.unlinked_at IS NULL ORDER BY l.at, l.id", [deviceId, recordingId]);
  return rows.map((r) => r.number);
}

export interface RecordingDetailRow {
  device: string; recording: number; verdict: string; final: number; reasons: string; chunks: number; bytes: number; interrupted: number;
  caseTag: string | null; sealCaseTag: string | null; startMs: number | null; endMs: number | null; storageState: string | null;
  mediaPath: string; firstReceived: number; lastReceived: number; sealBlock: Uint8Array | null; clipAtMs: number | null;
}

export function recordingDetail(db: Db, deviceId: string, recordingId: number): Promise<RecordingDetailRow | undefined> {
  return db.get<RecordingDetailRow>(
    `SELECT device_id AS device, recording_id AS recording, verdict, final, reasons, linked_seq AS chunks, total_bytes AS bytes, interrupted,
       case_tag AS "caseTag", seal_case_tag AS "sealCaseTag", start_ms AS "startMs", end_ms AS "endMs", storage_state AS "storageState", media_path AS "mediaPath",
       first_received AS "firstReceived", last_received AS "lastReceived", seal_block AS "sealBlock", clip_at_ms AS "clipAtMs"
     FROM recordings WHERE device_id = ? AND recording_id = ?`, [deviceId, recordingId]);
}

/** A recording's stored chunk rows in order (what a scrub or a digest of the store reads). */
export function storedChunkRows(db: Db, deviceId: string, recordingId: number): Promise<{ seq: number; header: Buffer; tag: Buffer; chain: Buffer; length: number; media_offset: number }[]> {
  return db.all("SELECT seq, header, tag, chain, length, media_offset FROM chunks WHERE device_id = ? AND recording_id = ? ORDER BY seq", [deviceId, recordingId]);
}

/**
 * Recordings not wholly uploaded whose end (the seal's end, else the last chunk's time, else the
 * start, in device time corrected by the clock offset found at the start) is before the cutoff.
 */
export function overdueRecordings(db: Db, cutoff: number): Promise<{ device_id: string; recording_id: number; ended: number; linked_seq: number; sealed: number }[]> {
  return db.all(
    `SELECT device_id, recording_id, ended, linked_seq, sealed FROM (
       SELECT device_id, recording_id, linked_seq, seal_block IS NOT NULL AS sealed,
         COALESCE(end_ms, NULLIF(last_time_ms, -1), start_ms) + COALESCE(clip_at_ms - start_ms, 0) AS ended
       FROM recordings WHERE verdict = 'incomplete' AND final = 0) AS pending
     WHERE ended IS NOT NULL AND ended < ? ORDER BY device_id, recording_id`, [cutoff]);
}

/** A recording's chunks as a timeline: seq, device time, duration, flags (pre-event, marker), bytes; at most `limit`. */
export function chunkTimeline(db: Db, deviceId: string, recordingId: number, limit = 20000): Promise<{ seq: number; timeMs: number; durationMs: number; flags: number; length: number }[]> {
  return db.all(`SELECT seq, time_ms AS "timeMs", duration_ms AS "durationMs", flags, length FROM chunks WHERE device_id = ? AND recording_id = ? ORDER BY seq LIMIT ?`, [deviceId, recordingId, limit]);
}
