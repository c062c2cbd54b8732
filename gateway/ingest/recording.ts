// One recording's ingest state: its verifier, what is durable, and what is on its way to the disk.
//
// Two views of a recording live here, and Acks only ever speak from the first:
//   - committed: what the database and media files hold (`stored`, `settled`, `startStored`,
//     `sealStored`), moved forward only when a commit of this recording has completed;
//   - verified: what the verifier has accepted, which runs ahead while commits are in flight.
// Every commit of a recording is built from the verifier's state at that moment, and commits
// complete in submission order. If one fails, the instance is dead: the commits after it are
// skipped (commit.ts), and the next message loads the recording again from what the disk holds.
import { RecordingVerifier } from "../../protocol/verify.js";
import type { ChainHistory, VerdictReport } from "../../protocol/verify.js";
import { wipe } from "../../protocol/bytes.js";
import { severityOf } from "../../protocol/reasons.js";
import type { Reason } from "../../protocol/reasons.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import type { RecordingCommit, RecordingRow } from "../store/ingest.js";
import { commitRecording, mergeCommits, recordingsTogether } from "../store/ingest.js";
import type { MediaWrite, Together, Work } from "./commit.js";
import type { Db } from "../store/db.js";

/** Chain values of chunks verified but not yet committed; committed ones are read from the database. */
export class InflightHistory implements ChainHistory {
  private m = new Map<number, Uint8Array>();
  get(seq: number): Uint8Array | undefined {
    return this.m.get(seq);
  }
  put(seq: number, chain: Uint8Array): void {
    this.m.set(seq, chain);
  }
  committed(upTo: number): void {
    for (const k of this.m.keys()) if (k <= upTo) this.m.delete(k);
  }
}

export interface LinkRef {
  payload: Uint8Array; header: Uint8Array; tag: Uint8Array; flags: number; timeMs: number; durationMs: number;
  /** When the message reached ingest, before it waited behind its connection's earlier ones (commit latency). */
  receivedAt: number;
  /** When the station received it (a region's: when JetStream stored it), what its device time is checked against. */
  reachedAt: number;
}

// Reasons the verifier derives afresh in every report; the others are restored on resume.
const DERIVED = new Set(["GAP", "MISSING_SEAL", "MISSING_START", "LOST_ON_DEVICE"]);

export class RecordingIngest {
  readonly verifier: RecordingVerifier<LinkRef>;
  readonly history: InflightHistory;
  /** Bytes of media handed to the committer: the next chunk's offset. */
  offset: number;
  /** The durations of the chunks handed to the committer, summed: the recording's media time (its row's media_ms). */
  mediaMs: number;
  /** Committed: every seq 1..stored is on the disk. */
  stored: number;
  /** Committed: every seq 1..settled is on the disk or recorded as lost on the device (R-VER-10). */
  settled: number;
  startStored: boolean;
  sealStored: boolean;
  /** The row exists on the disk, or a commit that creates it is in flight. */
  rowSubmitted: boolean;
  /** When the station received the start its verifier holds, until it is committed (its time is checked against it). */
  startReached?: number;
  /** Commits submitted and not yet settled, and whether one of them carries the start or the seal. */
  inflight = 0;
  startInflight = false;
  sealInflight = false;
  /** The last commit submitted: a reload waits for it, so no old write lands after it. */
  tail: Promise<void> = Promise.resolve();
  /** An earlier commit failed: this state is no longer what the disk holds (commit.ts). */
  dead = false;
  lastUsed = Date.now();
  /** Forged messages kept as evidence for this recording (bounded: an insider can't fill the disk). */
  forgedKept = 0;
  /** CLIP_TIME_SUSPECT raised for this recording already: later flags are kept on their rows, not raised again. */
  timeAlarmed = false;

  constructor(readonly device: string, readonly recording: number, readonly mediaPath: string, k1: Uint8Array, row: RecordingRow | undefined, prevSeal: Uint8Array | undefined) {
    this.history = new InflightHistory();
    const lost: [number, number][] = row ? JSON.parse(row.lost || "[]") : [];
    const resume = row ? {
      c0: row.c0 ? new Uint8Array(row.c0) : null,
      genesis: row.genesis ? new Uint8Array(row.genesis) : null,
      linkedSeq: row.linked_seq,
      lastChain: row.last_chain ? new Uint8Array(row.last_chain) : null,
      totalBytes: row.total_bytes,
      lastTimeMs: row.last_time_ms,
      lost,
      reasons: (JSON.parse(row.reasons || "[]") as Reason[]).filter((r) => !DERIVED.has(r.code) && !(r.code === "DUPLICATE" && /further reasons/.test(r.detail || ""))),
      final: row.final === 1,
      prevChecked: row.prev_checked === 1,
    } : undefined;
    this.verifier = new RecordingVerifier<LinkRef>({ sha, deviceId: device, recordingId: recording, k1, prevSeal: resume ? undefined : prevSeal, history: this.history, resume });
    wipe(k1);
    this.offset = row ? row.total_bytes : 0;
    this.mediaMs = row ? row.media_ms : 0;
    this.settled = row ? row.linked_seq : 0;
    this.stored = storedBelow(this.settled, lost);
    this.startStored = !!(row && row.genesis);
    this.sealStored = !!(row && row.seal_block);
    this.rowSubmitted = !!row;
    if (row && row.seal_block && row.seal_tag) this.verifier.seal({ block: new Uint8Array(row.seal_block), tag: new Uint8Array(row.seal_tag), caseTag: row.seal_case_tag || "" });
  }

  /** The committed state after a commit built from `rep` completed (commits complete in order). */
  committed(rep: VerdictReport, start: boolean, seal: boolean): void {
    if (rep.linkedSeq > this.settled) this.settled = rep.linkedSeq;
    this.stored = storedBelow(this.settled, rep.lost);
    this.history.committed(this.settled);
    if (start) this.startStored = true;
    if (seal) this.sealStored = true;
  }

  /** Whether anything about this recording is on its way to the disk. */
  busy(): boolean {
    return this.inflight > 0;
  }
}

/** The highest seq s with every seq 1..s stored: below the first loss. */
function storedBelow(settled: number, lost: [number, number][]): number {
  let s = settled;
  for (const [lo] of lost) if (lo - 1 < s) s = lo - 1;
  return s;
}

/** Is a reason one that makes a verdict `failed`? */
export function isFailure(r: Reason): boolean {
  return severityOf(r.code) === "fail";
}

/**
 * A recording's commit as the group committer takes it: its rows written with the batch's other
 * recordings' (`together`), and a later commit of the same recording, while both wait for a
 * batch, folded into it (its chunks and its media), so a recording's share of a batch is one set
 * of rows however many messages brought it. A class, not an object of closures: ingest makes one
 * for every chunk.
 */
export class RecordingWork implements Work {
  readonly together: Together;
  constructor(readonly device: string, readonly owner: { dead: boolean }, readonly c: RecordingCommit, readonly media: MediaWrite[]) {
    this.together = { statements: recordingsTogether, item: c };
  }
  sql(db: Db): Promise<void> {
    return commitRecording(db, this.c);
  }
  merge(later: Work): void {
    mergeCommits(this.c, (later as RecordingWork).c);
    for (const m of later.media || []) this.media.push(m);
  }
}
