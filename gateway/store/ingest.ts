// What ingest reads and writes in the database: recordings, chunks, evidence, a device's last
// Hello and Status. Every statement of the ingest path is here, as a typed function; a
// recording's commit is one function that writes a whole batch of its changes.
import type { Db, Params } from "./db.js";
import type { Reason } from "../../protocol/reasons.js";

/** A recording's row as ingest resumes it after a restart. */
export interface RecordingRow {
  genesis: Buffer | null;
  c0: Buffer | null;
  linked_seq: number;
  last_chain: Buffer | null;
  total_bytes: number;
  last_time_ms: number;
  media_ms: number;
  seal_block: Buffer | null;
  seal_tag: Buffer | null;
  seal_case_tag: string | null;
  media_path: string;
  reasons: string;
  final: number;
  lost: string;
  prev_checked: number;
}

export async function loadRecording(db: Db, device: string, recording: number): Promise<RecordingRow | undefined> {
  return db.get<RecordingRow>(
    "SELECT genesis, c0, linked_seq, last_chain, total_bytes, last_time_ms, media_ms, seal_block, seal_tag, seal_case_tag, media_path, reasons, final, lost, prev_checked FROM recordings WHERE device_id = ? AND recording_id = ?",
    [device, recording]);
}

/** One stored chunk's header and tag, for duplicate and equivocation checks (R-VER-6). */
export async function storedChunk(db: Db, device: string, recording: number, seq: number): Promise<{ header: Uint8Array; tag: Uint8Array } | null> {
  const r = await db.get<{ header: Buffer; tag: Buffer }>("SELECT header, tag FROM chunks WHERE device_id = ? AND recording_id = ? AND seq = ?", [device, recording, seq]);
  return r ? { header: new Uint8Array(r.header), tag: new Uint8Array(r.tag) } : null;
}

/** A stored seal's block and tag, or null. */
export async function storedSeal(db: Db, device: string, recording: number): Promise<{ block: Uint8Array; tag: Uint8Array } | null> {
  const r = await db.get<{ seal_block: Buffer | null; seal_tag: Buffer | null }>("SELECT seal_block, seal_tag FROM recordings WHERE device_id = ? AND recording_id = ?", [device, recording]);
  return r && r.seal_block && r.seal_tag && r.seal_block.length === 128 ? { block: new Uint8Array(r.seal_block), tag: new Uint8Array(r.seal_tag) } : null;
}

/** A recording's key; also where a paged read of recordings resumes (after it, in key order). */
export interface RecordingKey { device_id: string; recording_id: number }

/** Of one device, after a key: the conditions and parameters a paged read of recordings adds. */
function page(col: string, o: { device?: string; after?: RecordingKey }): { sql: string; params: Params } {
  let sql = "";
  const params: Params = [];
  if (o.device !== undefined) { sql += ` AND ${col}device_id = ?`; params.push(o.device); }
  if (o.after) { sql += ` AND (${col}device_id, ${col}recording_id) > (?, ?)`; params.push(o.after.device_id, o.after.recording_id); }
  return { sql, params };
}

/**
 * Recordings whose start was stored before the seal of the recording before them, and whose link
 * to that seal was never checked though the seal is stored now: a check cut short (the process
 * killed between the seal's commit and the check's, the database away when it ran). Of one
 * device, or of all; at most `limit`, in key order, after `after` if given (a page of them).
 */
export async function uncheckedLinks(db: Db, limit: number, o: { device?: string; after?: RecordingKey } = {}): Promise<RecordingKey[]> {
  const w = page("r.", o);
  return db.all(
    `SELECT r.device_id, r.recording_id FROM recordings r
       JOIN recordings p ON p.device_id = r.device_id AND p.recording_id = r.recording_id - 1
      WHERE r.prev_checked = 0 AND r.genesis IS NOT NULL AND p.seal_block IS NOT NULL${w.sql}
      ORDER BY r.device_id, r.recording_id LIMIT ?`, [...w.params, limit]);
}

/**
 * Recordings whose case tag asked for a link not yet made (tag_link_pending): the link was cut
 * short by the process's end, or is being made now. Of one device, or of all; at most `limit`, in
 * key order, after `after` if given.
 */
export async function pendingTagLinks(db: Db, limit: number, o: { device?: string; after?: RecordingKey } = {}): Promise<RecordingKey[]> {
  const w = page("", o);
  return db.all(
    `SELECT device_id, recording_id FROM recordings WHERE tag_link_pending IS NOT NULL${w.sql}
      ORDER BY device_id, recording_id LIMIT ?`, [...w.params, limit]);
}

/** How many times a recording's case tag has asked for its link (null: none waiting). */
export async function tagLinkPending(db: Db, device: string, recording: number): Promise<number | null> {
  const r = await db.get<{ n: number | null }>("SELECT tag_link_pending AS n FROM recordings WHERE device_id = ? AND recording_id = ?", [device, recording]);
  return r ? r.n : null;
}

/**
 * The link `asked` asks were waiting for is made (or refused for good): no longer waiting, unless
 * a later commit asked again meanwhile (its own link, made after, clears it).
 */
export async function tagLinkDone(db: Db, device: string, recording: number, asked: number): Promise<void> {
  await db.run("UPDATE recordings SET tag_link_pending = NULL WHERE device_id = ? AND recording_id = ? AND tag_link_pending = ?", [device, recording, asked]);
}

/** The highest recording id stored for a device, 0 if none. */
export async function topRecording(db: Db, device: string): Promise<number> {
  const r = await db.get<{ top: number | null }>("SELECT MAX(recording_id) AS top FROM recordings WHERE device_id = ?", [device]);
  return (r && r.top) || 0;
}

/**
 * Ranges of recording ids missing below `upTo` (inclusive) among a device's stored recordings:
 * computed by the database, so the answer is as long as the number of gaps, never of ids.
 */
export async function recordingGaps(db: Db, device: string, upTo: number): Promise<[number, number][]> {
  const rows = await db.all<{ lo: number; hi: number }>(
    `SELECT prev + 1 AS lo, recording_id - 1 AS hi FROM (
       SELECT recording_id, LAG(recording_id, 1, 0) OVER (ORDER BY recording_id) AS prev FROM recordings WHERE device_id = ? AND recording_id <= ?
     ) AS ids WHERE recording_id > prev + 1
     UNION ALL
     SELECT COALESCE(MAX(recording_id), 0) + 1, ? FROM recordings WHERE device_id = ? AND recording_id <= ? HAVING COALESCE(MAX(recording_id), 0) < ?
     ORDER BY lo`,
    [device, upTo, upTo, device, upTo, upTo]);
  return rows.map((r) => [r.lo, r.hi]);
}

/** Recordings of a device still incomplete and not final (R-VER-10). */
export async function openIncomplete(db: Db, device: string): Promise<number[]> {
  return (await db.all<{ recording_id: number }>("SELECT recording_id FROM recordings WHERE device_id = ? AND verdict = 'incomplete' AND final = 0", [device])).map((r) => r.recording_id);
}

/**
 * What a device said of itself, kept on its row: the last Hello (firmware, last sealed, next
 * recording) or the last Status (the heartbeat), and when it was heard. Ingest writes these
 * through the group commit, so a cluster worker's fence covers them as it covers chunks: a worker
 * that lost the device's partition can't overwrite what its successor wrote.
 */
export type DeviceNote =
  | { device: string; at: number; hello: { firmware: unknown; lastSealed: unknown; nextRecording: unknown } }
  | { device: string; at: number; status: Record<string, unknown> };

/** The statements of `notes`, in order (a later note of the same device wins). */
export function deviceNoteStatements(notes: DeviceNote[]): Stmt[] {
  return notes.map((n) => "hello" in n
    ? { sql: "UPDATE devices SET last_seen = ?, last_hello = ? WHERE id = ?", params: [n.at, JSON.stringify(n.hello), n.device] }
    : { sql: "UPDATE devices SET last_seen = ?, last_status = ? WHERE id = ?", params: [n.at, JSON.stringify(n.status), n.device] });
}

/** deviceNoteStatements as the group commit's `together` takes it. */
export const deviceNotesTogether = (items: unknown[]): Stmt[] => deviceNoteStatements(items as DeviceNote[]);

export async function noteDevice(db: Db, n: DeviceNote): Promise<void> {
  await db.runAll(deviceNoteStatements([n]));
}

/** Where the recording stands after a batch: the verifier's report at the time it was built. */
export interface RecordingState {
  linkedSeq: number;
  lastChain: Uint8Array | null;
  totalBytes: number;
  lastTimeMs: number;
  /** The sum of the stored chunks' durations, these included (the statistics' media time). */
  mediaMs: number;
  endMs: number;
  verdict: string;
  final: boolean;
  reasons: Reason[];
  lost: [number, number][];
  prevChecked: boolean;
}

/** One recording's changes, committed together (gateway/ingest/commit.ts runs it in a savepoint). */
export interface RecordingCommit {
  device: string;
  recording: number;
  mediaPath: string;
  at: number;
  deviceLost: boolean;
  /** The row may not exist yet. */
  create: boolean;
  start?: { genesis: Uint8Array; c0: Uint8Array; caseTag: string; startMs: number; preEventMs: number; clipAtMs: number; beaconSentMs: number | null };
  /** What is wrong with the device's times, if anything (kept once found; times are stored as the device gave them). */
  timeFlag?: string;
  chunks: { seq: number; header: Uint8Array; tag: Uint8Array; chain: Uint8Array; flags: number; timeMs: number; durationMs: number; length: number; offset: number }[];
  seal?: { block: Uint8Array; tag: Uint8Array; caseTag: string; value: Uint8Array; interrupted: boolean };
  state: RecordingState;
}

/** A later commit of the same recording folded into an earlier one that has not run yet. */
export function mergeCommits(into: RecordingCommit, later: RecordingCommit): void {
  into.create = into.create || later.create;
  into.start = into.start || later.start;
  into.seal = later.seal || into.seal;
  into.timeFlag = into.timeFlag || later.timeFlag;
  for (const k of later.chunks) into.chunks.push(k);
  into.state = { ...later.state, lastChain: later.state.lastChain || into.state.lastChain, lastTimeMs: later.state.lastTimeMs >= 0 ? later.state.lastTimeMs : into.state.lastTimeMs };
  into.at = later.at;
  into.deviceLost = later.deviceLost;
}

const CHUNK_COLS = "(device_id, recording_id, seq, header, tag, chain, flags, time_ms, duration_ms, length, media_offset, received_at)";
/** Chunks per INSERT statement (12 parameters each, well below SQLite's limit). */
const CHUNKS_PER_STATEMENT = 128;

export type Stmt = { sql: string; params: Params };

/** A recording's share of a batch in three statements: its row, its chunks, its state. */
export async function commitRecording(db: Db, c: RecordingCommit): Promise<void> {
  const out: Stmt[] = [];
  if (c.create) createRows(out, [c]);
  insertChunks(out, [c], CHUNKS_PER_STATEMENT);
  updateState(out, c);
  await db.runAll(out);
}

/**
 * Many recordings' shares of a batch at once, in a few large statements: every new row in one,
 * every chunk in multi-row INSERTs of up to CHUNKS_TOGETHER rows, and the states of recordings
 * with neither start nor seal in one UPDATE ... FROM (VALUES ...); only a start or a seal has a
 * statement of its own. The same rows as commitRecording for each; a batch is written so when no
 * item of it fails (commit.ts). The statements go to the driver together (db.runAll): each one
 * awaited alone would be a round trip through the event loop, which a loaded gateway serves
 * slowly (40 recordings' shares cost about 160 statements one by one).
 */
export async function commitRecordings(db: Db, cs: RecordingCommit[]): Promise<void> {
  await db.runAll(recordingStatements(cs));
}

/** commitRecordings' statements, for a caller that runs them itself (the group commit's db.writeBatch). */
export function recordingStatements(cs: RecordingCommit[]): Stmt[] {
  const out: Stmt[] = [];
  const created = cs.filter((c) => c.create);
  for (let i = 0; i < created.length; i += ROWS_TOGETHER) createRows(out, created.slice(i, i + ROWS_TOGETHER));
  insertChunks(out, cs, CHUNKS_TOGETHER);
  // A state with a start or a seal, or with no chain yet (a null bytea has no type in a VALUES
  // list on PostgreSQL), is written on its own.
  const plain = cs.filter((c) => !c.start && !c.seal && c.state.lastChain);
  const own = new Set(cs);
  for (const c of plain) own.delete(c);
  for (const c of own) updateState(out, c);
  for (let i = 0; i < plain.length; i += ROWS_TOGETHER) {
    const part = plain.slice(i, i + ROWS_TOGETHER);
    const params: Params = [];
    for (const c of part) {
      const s = c.state;
      params.push(c.device, c.recording, s.linkedSeq, s.lastChain!, s.totalBytes, s.lastTimeMs, s.endMs, s.verdict, s.final ? 1 : 0, JSON.stringify(s.reasons), JSON.stringify(s.lost), s.prevChecked ? 1 : 0, c.at, c.timeFlag || null, s.mediaMs);
    }
    out.push({
      sql: `UPDATE recordings SET linked_seq = v.column3, last_chain = v.column4, total_bytes = v.column5,
         last_time_ms = CASE WHEN v.column6 >= 0 THEN v.column6 ELSE recordings.last_time_ms END,
         end_ms = CASE WHEN v.column7 >= 0 THEN v.column7 ELSE recordings.end_ms END,
         verdict = v.column8, final = v.column9, reasons = v.column10, lost = v.column11, prev_checked = v.column12, last_received = v.column13,
         time_flag = COALESCE(recordings.time_flag, v.column14), media_ms = v.column15
       FROM (VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}) AS v
       WHERE recordings.device_id = v.column1 AND recordings.recording_id = v.column2`,
      params,
    });
  }
  return out;
}

/** recordingStatements as the group commit's `together` takes it: one function for every recording's share. */
export const recordingsTogether = (items: unknown[]): Stmt[] => recordingStatements(items as RecordingCommit[]);

/** Rows per statement when recordings are written together (15 parameters each at most). */
const ROWS_TOGETHER = 200;
/** Chunk rows per INSERT when recordings are written together: 12,000 parameters, within both engines' limits. */
const CHUNKS_TOGETHER = 1000;

function createRows(out: Stmt[], cs: RecordingCommit[]): void {
  if (!cs.length) return;
  const params: Params = [];
  for (const c of cs) params.push(c.device, c.recording, c.mediaPath, c.at, c.at, c.deviceLost ? 1 : 0);
  out.push({
    sql: `INSERT INTO recordings (device_id, recording_id, media_path, first_received, last_received, device_lost) VALUES ${cs.map(() => "(?, ?, ?, ?, ?, ?)").join(", ")} ON CONFLICT (device_id, recording_id) DO NOTHING`,
    params,
  });
}

/** The chunks of `cs`, in order, `per` rows to a statement. */
function insertChunks(out: Stmt[], cs: RecordingCommit[], per: number): void {
  let params: Params = [];
  let rows = 0;
  const flush = () => {
    if (!rows) return;
    out.push({ sql: `INSERT INTO chunks ${CHUNK_COLS} VALUES ${"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ".repeat(rows - 1)}(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, params });
    params = [];
    rows = 0;
  };
  for (const c of cs) {
    for (const k of c.chunks) {
      params.push(c.device, c.recording, k.seq, k.header, k.tag, k.chain, k.flags, k.timeMs, k.durationMs, k.length, k.offset, c.at);
      if (++rows === per) flush();
    }
  }
  flush();
}

function updateState(out: Stmt[], c: RecordingCommit): void {
  const s = c.state, st = c.start, se = c.seal;
  out.push({
    sql: `UPDATE recordings SET linked_seq = ?, last_chain = COALESCE(?, last_chain), total_bytes = ?, last_time_ms = CASE WHEN ? >= 0 THEN ? ELSE last_time_ms END,
       end_ms = CASE WHEN ? >= 0 THEN ? ELSE end_ms END, verdict = ?, final = ?, reasons = ?, lost = ?, prev_checked = ?, last_received = ?,
       time_flag = COALESCE(time_flag, ?), media_ms = ?${st ? ", genesis = ?, c0 = ?, case_tag = ?, start_ms = ?, pre_event_ms = ?, clip_at_ms = ?, beacon_sent_ms = ?" : ""}${se ? ", seal_block = ?, seal_tag = ?, seal_case_tag = ?, seal_value = ?, interrupted = ?" : ""}${(st && st.caseTag) || (se && se.caseTag) ? ", tag_link_pending = COALESCE(tag_link_pending, 0) + 1" : ""}
     WHERE device_id = ? AND recording_id = ?`,
    params: [s.linkedSeq, s.lastChain, s.totalBytes, s.lastTimeMs, s.lastTimeMs, s.endMs, s.endMs, s.verdict, s.final ? 1 : 0, JSON.stringify(s.reasons), JSON.stringify(s.lost), s.prevChecked ? 1 : 0, c.at,
      c.timeFlag || null, s.mediaMs,
      ...(st ? [st.genesis, st.c0, st.caseTag, st.startMs, st.preEventMs, st.clipAtMs, st.beaconSentMs] : []),
      ...(se ? [se.block, se.tag, se.caseTag, se.value, se.interrupted ? 1 : 0] : []),
      c.device, c.recording],
  });
}

/** A recording's verdict after a check that changed it without new data (a genesis link, a finalised gap). */
export async function updateVerdict(db: Db, device: string, recording: number, s: Pick<RecordingState, "verdict" | "final" | "reasons" | "prevChecked">): Promise<void> {
  await db.run("UPDATE recordings SET verdict = ?, final = ?, reasons = ?, prev_checked = ? WHERE device_id = ? AND recording_id = ?",
    [s.verdict, s.final ? 1 : 0, JSON.stringify(s.reasons), s.prevChecked ? 1 : 0, device, recording]);
}

/** A message kept as evidence: one that failed a check, or one refused as forged (R-VER-0). */
export async function insertEvidence(db: Db, e: { device: string; recording: number; seq: number; reason: string; message: Uint8Array; at: number }): Promise<void> {
  await db.run("INSERT INTO evidence (device_id, recording_id, seq, reason, message, received_at) VALUES (?, ?, ?, ?, ?, ?)", [e.device, e.recording, e.seq, e.reason, e.message, e.at]);
}
