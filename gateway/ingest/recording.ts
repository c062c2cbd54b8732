// One recording's ingest state: its verifier, what is durable, and the chain values the
// verifier may ask about when a chunk comes again (R-VER-6).
import { RecordingVerifier } from "../../protocol/verify.js";
import type { ChainHistory } from "../../protocol/verify.js";
import { recordingKey, stateAt } from "../../protocol/chain.js";
import { wipe } from "../../protocol/bytes.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import type { Db } from "../store/db.js";
import type { MediaStore } from "../store/media.js";
import type { Device } from "../devices.js";

/** Chain values of chunks linked but not yet committed, plus one fetched from the database. */
export class IngestHistory implements ChainHistory {
  inflight = new Map<number, Uint8Array>();
  fetched: { seq: number; chain: Uint8Array } | null = null;
  get(seq: number): Uint8Array | undefined {
    return this.inflight.get(seq) || (this.fetched && this.fetched.seq === seq ? this.fetched.chain : undefined);
  }
  put(seq: number, chain: Uint8Array): void {
    this.inflight.set(seq, chain);
  }
}

export interface LinkRef { payload: Uint8Array; header: Uint8Array; tag: Uint8Array; flags: number; timeMs: number; durationMs: number }

interface Row {
  genesis: Buffer | null; c0: Buffer | null; case_tag: string | null; linked_seq: number; last_chain: Buffer | null;
  total_bytes: number; last_time_ms: number; seal_block: Buffer | null; seal_tag: Buffer | null; seal_case_tag: string | null;
  media_path: string;
}

export class RecordingIngest {
  verifier: RecordingVerifier<LinkRef>;
  history = new IngestHistory();
  /** Bytes of media handed to the committer: the next chunk's offset. */
  offset: number;
  /** Highest seq whose commit has completed, and whether start and seal are durable. */
  durableSeq: number;
  startDurable: boolean;
  sealDurable: boolean;
  known: boolean;

  private constructor(public device: string, public recording: number, public mediaPath: string, v: RecordingVerifier<LinkRef>, row: Row | undefined) {
    this.verifier = v;
    this.offset = row ? row.total_bytes : 0;
    this.durableSeq = row ? row.linked_seq : 0;
    this.startDurable = !!(row && row.genesis);
    this.sealDurable = !!(row && row.seal_block);
    this.known = !!row;
  }

  /** Load a recording's state from the database, or start a fresh one. */
  static async load(db: Db, media: MediaStore, dev: Device, recording: number): Promise<RecordingIngest> {
    const row = await db.get<Row>("SELECT genesis, c0, case_tag, linked_seq, last_chain, total_bytes, last_time_ms, seal_block, seal_tag, seal_case_tag, media_path FROM recordings WHERE device_id = ? AND recording_id = ?", [dev.id, recording]);
    const prev = await db.get<{ seal_value: Buffer | null }>("SELECT seal_value FROM recordings WHERE device_id = ? AND recording_id = ?", [dev.id, recording - 1]);
    const s = stateAt(sha, dev.keys.stateKey0, recording - 1);
    const k1 = recordingKey(sha, s, recording);
    wipe(s);
    const history = new IngestHistory();
    const prevSeal = recording === 1 ? new Uint8Array(32) : prev && prev.seal_value ? new Uint8Array(prev.seal_value) : undefined;
    const resume = row && row.c0 ? { c0: row.c0, linkedSeq: row.linked_seq, lastChain: row.last_chain || row.c0, totalBytes: row.total_bytes, lastTimeMs: row.last_time_ms } : undefined;
    const v = new RecordingVerifier<LinkRef>({ sha, deviceId: dev.id, recordingId: recording, k1, prevSeal, history, resume });
    wipe(k1);
    const mediaPath = row ? row.media_path : media.pathFor(dev.id, recording);
    const r = new RecordingIngest(dev.id, recording, mediaPath, v, row);
    r.history = history;
    if (row) {
      // Bytes written before a crash but never committed are not evidence of anything.
      await media.trimTo(mediaPath, row.total_bytes);
      if (row.seal_block && row.seal_tag) v.seal({ block: row.seal_block, tag: row.seal_tag, caseTag: row.seal_case_tag || "" });
    }
    return r;
  }
}
