// The sans-IO verifier (SPEC.md section 9): messages in, verdict out. No sockets, files or
// clocks. The gateway's ingest calls it chunk by chunk; the offline verifier calls it over a
// bundle. State is O(1) plus the bounded out-of-order buffer plus a chain-value history that
// the caller may back with its own store.
import type { Sha256 } from "./bytes.js";
import { copyBytes, ctEqual, wipe } from "./bytes.js";
import { ChainCrypto, recordingKey, stateAt } from "./chain.js";
import { parseGenesis, parseSeal, deviceIdBytes, H_ALG, H_DEVICE, H_DURATION, H_FLAGS, H_LENGTH, H_PAYLOAD_HASH, H_PREV, H_RECORDING, H_SEQ, H_TIME, H_VERSION } from "./blocks.js";
import {
  ALG_SHA256, CHUNK_FLAGS_MASK, FLAG_INTERRUPTED, GENESIS_LEN, HASH_LEN, HEADER_LEN, LAYOUT_VERSION, MAX_PAYLOAD,
  SEAL_LEN, TAG_LEN,
} from "./constants.js";
import type { Reason } from "./reasons.js";
import { severityOf } from "./reasons.js";

export type Verdict = "verified" | "incomplete" | "failed";

export interface StartMsg { genesis: Uint8Array; caseTag: string }
export interface ChunkMsg { header: Uint8Array; payload: Uint8Array; tag: Uint8Array }
export interface SealMsg { block: Uint8Array; tag: Uint8Array; caseTag: string }

/** Chain values of linked chunks by seq, for duplicate and equivocation checks (R-VER-6). */
export interface ChainHistory {
  get(seq: number): Uint8Array | undefined;
  put(seq: number, chain: Uint8Array): void;
}

/** In-memory history: 32 bytes per chunk in one growing array. */
export class MemoryHistory implements ChainHistory {
  buf = new Uint8Array(32 * 64);
  max = 0;
  get(seq: number): Uint8Array | undefined {
    return seq >= 1 && seq <= this.max ? this.buf.subarray((seq - 1) * 32, seq * 32) : undefined;
  }
  put(seq: number, chain: Uint8Array): void {
    while (seq * 32 > this.buf.length) {
      const n = new Uint8Array(this.buf.length * 2);
      n.set(this.buf);
      this.buf = n;
    }
    this.buf.set(chain, (seq - 1) * 32);
    if (seq > this.max) this.max = seq;
  }
}

export interface VerifierOptions {
  sha: Sha256;
  deviceId: string;
  recordingId: number;
  /** K_1 of this recording (R-KEY-6): derived from S_0 by the gateway, disclosed in an export. */
  k1: Uint8Array;
  /** Seal value Z of the device's previous recording; zeros for recording 1; undefined if unknown. */
  prevSeal?: Uint8Array;
  /** Furthest a chunk's seq may run ahead of the verified chain (R-ACK-5). Default 1024. */
  window?: number;
  /** Largest number of chunks held out of order (R-ACK-5). Default 256. */
  maxPending?: number;
  history?: ChainHistory;
  /** Resume after a restart: chain state of chunks 1..linkedSeq, already verified and stored. */
  resume?: { c0: Uint8Array; linkedSeq: number; lastChain: Uint8Array; totalBytes: number; lastTimeMs: number };
}

/** A chunk whose chain link is verified: the caller may store and acknowledge it (R-ACK-1). */
export interface Linked<R> { seq: number; ref: R; chain: Uint8Array }

export type ChunkStatus = "linked" | "pending" | "duplicate" | "failed" | "equivocation" | "rejected";

export interface ChunkResult<R> {
  status: ChunkStatus;
  seq: number;
  reasons: Reason[];
  /** Chunks linked by this call, in seq order (this one and any it released from the buffer). */
  linked: Linked<R>[];
  /** Buffered chunks that failed their link when their predecessor arrived. */
  dropped: { seq: number; ref: R; reason: Reason }[];
}

export interface VerdictReport {
  verdict: Verdict;
  final: boolean;
  reasons: Reason[];
  started: boolean;
  sealed: boolean;
  interrupted: boolean;
  linkedSeq: number;
  lastSeq: number;
  totalBytes: number;
  missing: [number, number][];
  sealValue: Uint8Array | null;
  firstTimeMs: number;
  lastTimeMs: number;
}

interface Pending<R> { prev: Uint8Array; chain: Uint8Array; length: number; timeMs: number; durationMs: number; ref: R }

const MAX_REASONS = 200;

// Shared empty lists for a chunk's result: most chunks have no reason and drop nothing, so
// nothing is allocated for them. Code that adds to a result replaces these first (addTo).
const NO_REASONS: Reason[] = [];
const NO_DROPS: never[] = [];

function addTo<T>(list: T[], empty: T[], x: T): T[] {
  const l = list === empty ? [] : list;
  l.push(x);
  return l;
}

function u32At(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** a equals b[off .. off + a.length], in time that depends only on the length (R-CRY-6). */
function equalAt(a: Uint8Array, b: Uint8Array, off: number): boolean {
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[off + i];
  return d === 0;
}

function bytesEqualAt(b: Uint8Array, off: number, want: Uint8Array): boolean {
  for (let i = 0; i < want.length; i++) if (b[off + i] !== want[i]) return false;
  return true;
}

/** Verifies one recording, incrementally (R-VER). */
export class RecordingVerifier<R = undefined> {
  private cc: ChainCrypto;
  private o: VerifierOptions;
  private window: number;
  private maxPending: number;
  private history: ChainHistory;
  private k1: Uint8Array;
  private dev: Uint8Array;
  private kf: Uint8Array;
  private kfpos = 1;
  private c0: Uint8Array | null = null;
  private linkedSeq = 0;
  private lastChain: Uint8Array | null = null;
  private total = 0;
  private firstTime = -1;
  private lastTime = -1;
  private lastEnd = -1;
  private pending: { [seq: number]: Pending<R> } = {};
  private pendingCount = 0;
  private lost: [number, number][] = [];
  private segmented = false;
  /** The next chunk starts a segment after a declared loss: its link can't be checked. */
  private faith = false;
  private sealBlock: ReturnType<typeof parseSeal> | null = null;
  private sealZ: Uint8Array | null = null;
  private sealChecked = false;
  private found: Reason[] = [];
  private suppressed = 0;
  private failed = false;
  private finalised = false;

  constructor(o: VerifierOptions) {
    this.o = o;
    this.cc = new ChainCrypto(o.sha);
    this.window = o.window || 1024;
    this.maxPending = o.maxPending || 256;
    this.history = o.history || new MemoryHistory();
    this.k1 = copyBytes(o.k1);
    this.kf = copyBytes(o.k1);
    this.dev = deviceIdBytes(o.deviceId);
    if (o.resume) {
      this.c0 = copyBytes(o.resume.c0);
      this.linkedSeq = o.resume.linkedSeq;
      this.lastChain = copyBytes(o.resume.lastChain);
      this.total = o.resume.totalBytes;
      this.lastTime = o.resume.lastTimeMs;
      this.advanceKey(o.resume.linkedSeq + 1);
    }
  }

  private note(r: Reason): Reason {
    if (severityOf(r.code) === "fail") this.failed = true;
    if (this.found.length < MAX_REASONS) this.found.push(r);
    else this.suppressed++;
    return r;
  }

  /** A refused message worth keeping in the report (the offline verifier shows it). */
  private noteReject(r: Reason): Reason {
    if (this.found.length < MAX_REASONS) this.found.push(r);
    return r;
  }

  private advanceKey(pos: number): void {
    while (this.kfpos < pos) {
      const n = this.cc.keyStep(this.kf);
      wipe(this.kf);
      this.kf = n;
      this.kfpos++;
    }
  }

  /** K_seq without moving backwards through the frontier key (R-TAG-2). */
  private keyFor(seq: number): Uint8Array {
    if (seq === this.kfpos) return this.kf;
    if (seq > this.kfpos) {
      let k = copyBytes(this.kf);
      for (let i = this.kfpos; i < seq; i++) {
        const n = this.cc.keyStep(k);
        wipe(k);
        k = n;
      }
      return k;
    }
    return this.cc.keyAt(this.k1, seq);
  }

  private tagOk(seq: number, c: Uint8Array, tag: Uint8Array): boolean {
    const k = this.keyFor(seq);
    const ok = ctEqual(this.cc.tag(k, c), tag);
    if (k !== this.kf) wipe(k);
    return ok;
  }

  /** RecordingStart (R-VER-1). */
  start(m: StartMsg): { status: "started" | "duplicate" | "failed" | "rejected"; reasons: Reason[]; linked: Linked<R>[]; dropped: ChunkResult<R>["dropped"] } {
    const rec = this.o.recordingId;
    const none = { linked: [] as Linked<R>[], dropped: [] as ChunkResult<R>["dropped"] };
    if (!(m.genesis instanceof Uint8Array) || m.genesis.length !== GENESIS_LEN) return { status: "rejected", reasons: [{ code: "BLOCK_SIZE", recording: rec, detail: "genesis" }], ...none };
    const g = parseGenesis(m.genesis);
    if (g.version !== LAYOUT_VERSION) return { status: "rejected", reasons: [{ code: "LAYOUT_VERSION", recording: rec }], ...none };
    if (g.alg !== ALG_SHA256) return { status: "rejected", reasons: [{ code: "UNSUPPORTED_ALG", recording: rec }], ...none };
    const c0 = this.cc.genesisValue(m.genesis);
    if (this.c0) {
      if (ctEqual(c0, this.c0)) return { status: "duplicate", reasons: [this.note({ code: "DUPLICATE", recording: rec, seq: 0, detail: "start" })], ...none };
      return { status: "failed", reasons: [this.note({ code: "EQUIVOCATION", recording: rec, seq: 0, detail: "two different starts" })], ...none };
    }
    const reasons: Reason[] = [];
    if (g.deviceId !== this.o.deviceId || g.recordingId !== rec || g.flags !== 0) reasons.push(this.note({ code: "GENESIS_FIELD", recording: rec, detail: "device, recording or flags" }));
    else {
      let tagHash: Uint8Array | null = null;
      try { tagHash = this.cc.caseTagHash(m.caseTag || ""); } catch (e) { tagHash = null; }
      if (!tagHash || !ctEqual(tagHash, g.caseTagHash)) reasons.push(this.note({ code: "GENESIS_FIELD", recording: rec, detail: "case tag hash" }));
    }
    if (this.o.prevSeal && !ctEqual(this.o.prevSeal, g.prevSeal)) reasons.push(this.note({ code: "GENESIS_LINK", recording: rec }));
    // The chunks chain to the block that was sent, so they are checked against it even when the
    // block itself failed: the verdict then lists every fault, not only the first.
    this.c0 = c0;
    if (!this.segmented) this.lastChain = c0;
    const out: ChunkResult<R> = { status: "linked", seq: 0, reasons: [], linked: [], dropped: [] };
    this.drain(out);
    return { status: reasons.length ? "failed" : "started", reasons, linked: out.linked, dropped: out.dropped };
  }

  /** One Chunk (R-VER-2..6). `ref` is handed back when the chunk links. */
  chunk(m: ChunkMsg, ref: R): ChunkResult<R> {
    const out: ChunkResult<R> = { status: "rejected", seq: 0, reasons: NO_REASONS, linked: [], dropped: NO_DROPS };
    const hb = m.header;
    if (!(hb instanceof Uint8Array) || hb.length !== HEADER_LEN) return this.rejectChunk(out, "BLOCK_SIZE", "header");
    if (!(m.tag instanceof Uint8Array) || m.tag.length !== TAG_LEN) return this.rejectChunk(out, "BLOCK_SIZE", "tag");
    if (!(m.payload instanceof Uint8Array)) return this.rejectChunk(out, "BLOCK_SIZE", "payload");
    // Fields are read in place (R-HDR-3): no parsed object per chunk on the ingest path.
    const seq = u32At(hb, H_SEQ);
    out.seq = seq;
    // A recording keeps the layout and algorithm its genesis declared; before the genesis is
    // known, an unknown one is only refused (a newer device, not tampering).
    if (hb[H_VERSION] !== LAYOUT_VERSION || hb[H_ALG] !== ALG_SHA256) {
      if (this.c0) return this.failChunk(out, "HEADER_FIELD", "failed", "layout " + hb[H_VERSION] + " / alg " + hb[H_ALG] + " in a version 1 recording");
      return this.rejectChunk(out, hb[H_VERSION] !== LAYOUT_VERSION ? "LAYOUT_VERSION" : "UNSUPPORTED_ALG");
    }
    if (m.payload.length > MAX_PAYLOAD) return this.rejectChunk(out, "PAYLOAD_TOO_LARGE");
    if (seq > this.linkedSeq + this.window) return this.rejectChunk(out, "SEQ_OUT_OF_WINDOW", "verified up to " + this.linkedSeq);
    if (!bytesEqualAt(hb, H_DEVICE, this.dev) || u32At(hb, H_RECORDING) !== this.o.recordingId || seq === 0 || (hb[H_FLAGS] & ~CHUNK_FLAGS_MASK) !== 0) return this.failChunk(out, "HEADER_FIELD", "failed");
    const length = u32At(hb, H_LENGTH);
    const c = this.cc.chunkValue(hb);
    const known = seq <= this.linkedSeq ? this.history.get(seq) : this.pending[seq] ? this.pending[seq].chain : undefined;
    if (m.payload.length !== length) return this.failChunk(out, "PAYLOAD_LENGTH", "failed");
    if (!equalAt(this.cc.sha(m.payload), hb, H_PAYLOAD_HASH)) return this.failChunk(out, "PAYLOAD_HASH", "failed");
    if (!this.tagOk(seq, c, m.tag)) return this.failChunk(out, "TAG", "failed");
    // From here the chunk is authentic: the device's key made it.
    if (known) {
      if (ctEqual(known, c)) {
        out.status = "duplicate";
        out.reasons = addTo(out.reasons, NO_REASONS, this.note({ code: "DUPLICATE", recording: this.o.recordingId, seq }));
        return out;
      }
      return this.failChunk(out, "EQUIVOCATION", "equivocation");
    }
    if (seq <= this.linkedSeq) return this.failChunk(out, "EQUIVOCATION", "equivocation", "seq already verified, its chain value not on record");
    if (this.sealBlock && seq > this.sealBlock.lastSeq) return this.failChunk(out, "SEQ_AFTER_SEAL", "failed");
    const timeMs = u32At(hb, H_TIME) * 4294967296 + u32At(hb, H_TIME + 4);
    const durationMs = u32At(hb, H_DURATION);
    if ((this.lastChain || this.faith) && seq === this.linkedSeq + 1) {
      if (!this.faith && !equalAt(this.lastChain!, hb, H_PREV)) return this.failChunk(out, "CHAIN_LINK", "failed");
      out.status = "linked";
      this.link(seq, c, length, timeMs, durationMs, ref, out);
      this.drain(out);
      return out;
    }
    if (this.pendingCount >= this.maxPending) return this.rejectChunk(out, "BUFFER_FULL");
    this.pending[seq] = { prev: copyBytes(hb.subarray(H_PREV, H_PREV + HASH_LEN)), chain: c, length, timeMs, durationMs, ref };
    this.pendingCount++;
    out.status = "pending";
    return out;
  }

  // Methods, not closures made per call: the per-chunk path allocates as little as it can.
  private rejectChunk(out: ChunkResult<R>, code: string, detail?: string): ChunkResult<R> {
    out.reasons = addTo(out.reasons, NO_REASONS, { code, recording: this.o.recordingId, seq: out.seq, detail });
    return out;
  }

  private failChunk(out: ChunkResult<R>, code: string, status: ChunkStatus, detail?: string): ChunkResult<R> {
    out.status = status;
    out.reasons = addTo(out.reasons, NO_REASONS, this.note({ code, recording: this.o.recordingId, seq: out.seq, detail }));
    return out;
  }

  private link(seq: number, c: Uint8Array, length: number, timeMs: number, durationMs: number, ref: R, out: ChunkResult<R>): void {
    this.faith = false;
    this.linkedSeq = seq;
    this.lastChain = c;
    this.history.put(seq, c);
    this.total += length;
    if (this.firstTime < 0) this.firstTime = timeMs;
    if (this.lastTime >= 0 && timeMs < this.lastTime) this.note({ code: "TIME_REGRESSION", recording: this.o.recordingId, seq });
    this.lastTime = timeMs;
    this.lastEnd = timeMs + durationMs;
    this.advanceKey(seq + 1);
    out.linked.push({ seq, ref, chain: c });
    this.checkSeal();
  }

  private drain(out: ChunkResult<R>): void {
    for (;;) {
      if (!this.lastChain && !this.faith) return;
      const seq = this.linkedSeq + 1;
      const p = this.pending[seq];
      if (!p) return;
      delete this.pending[seq];
      this.pendingCount--;
      if (!this.faith && !ctEqual(p.prev, this.lastChain!)) {
        out.dropped = addTo<ChunkResult<R>["dropped"][number]>(out.dropped, NO_DROPS, { seq, ref: p.ref, reason: this.note({ code: "CHAIN_LINK", recording: this.o.recordingId, seq }) });
        return;
      }
      this.link(seq, p.chain, p.length, p.timeMs, p.durationMs, p.ref, out);
    }
  }

  private checkSeal(): void {
    const s = this.sealBlock;
    if (!s || this.sealChecked || !this.lastChain || this.linkedSeq !== s.lastSeq) return;
    this.sealChecked = true;
    const rec = this.o.recordingId;
    if (!ctEqual(s.lastChain, this.lastChain)) this.note({ code: "SEAL_LINK", recording: rec, seq: s.lastSeq });
    if (!this.segmented && s.totalBytes !== this.total) this.note({ code: "SEAL_BYTES", recording: rec, detail: "seal says " + s.totalBytes + ", chunks sum to " + this.total });
  }

  /** Seal (R-VER-7). */
  seal(m: SealMsg): { status: "sealed" | "duplicate" | "failed" | "equivocation" | "rejected"; reasons: Reason[] } {
    const rec = this.o.recordingId;
    if (!(m.block instanceof Uint8Array) || m.block.length !== SEAL_LEN || !(m.tag instanceof Uint8Array) || m.tag.length !== TAG_LEN) return { status: "rejected", reasons: [{ code: "BLOCK_SIZE", recording: rec, detail: "seal" }] };
    const s = parseSeal(m.block);
    if (s.version !== LAYOUT_VERSION) return { status: "rejected", reasons: [{ code: "LAYOUT_VERSION", recording: rec }] };
    if (s.alg !== ALG_SHA256) return { status: "rejected", reasons: [{ code: "UNSUPPORTED_ALG", recording: rec }] };
    const fail = (code: string, detail?: string, status?: "failed" | "equivocation") => ({ status: status || "failed" as const, reasons: [this.note({ code, recording: rec, seq: s.lastSeq, detail })] });
    if (s.deviceId !== this.o.deviceId || s.recordingId !== rec || (s.flags & ~FLAG_INTERRUPTED) !== 0) return fail("SEAL_FIELD", "device, recording or flags");
    let tagHash: Uint8Array | null = null;
    try { tagHash = this.cc.caseTagHash(m.caseTag || ""); } catch (e) { tagHash = null; }
    if (!tagHash || !ctEqual(tagHash, s.caseTagHash)) return fail("SEAL_FIELD", "case tag hash");
    // The seal's key is K_{lastSeq+1}: a forged lastSeq of 2^32 would cost 2^32 key steps to
    // check, so a seal beyond the window is refused like a chunk beyond it (R-ACK-5).
    let top = this.linkedSeq;
    for (const key in this.pending) if (Number(key) > top) top = Number(key);
    if (s.lastSeq > top + this.window) return { status: "rejected", reasons: [this.noteReject({ code: "SEQ_OUT_OF_WINDOW", recording: rec, seq: s.lastSeq, detail: "seal" })] };
    const z = this.cc.sealValue(m.block);
    const k = this.keyFor(s.lastSeq + 1);
    const ok = ctEqual(this.cc.sealTag(k, z), m.tag);
    if (k !== this.kf) wipe(k);
    if (!ok) return fail("SEAL_TAG");
    if (this.sealZ) {
      if (ctEqual(this.sealZ, z)) return { status: "duplicate", reasons: [this.note({ code: "DUPLICATE", recording: rec, detail: "seal" })] };
      return fail("EQUIVOCATION", "two different seals", "equivocation");
    }
    this.sealZ = z;
    this.sealBlock = s;
    const reasons: Reason[] = [];
    if (s.flags & FLAG_INTERRUPTED) reasons.push(this.note({ code: "INTERRUPTED", recording: rec }));
    let beyond = this.linkedSeq > s.lastSeq;
    for (const key in this.pending) if (Number(key) > s.lastSeq) beyond = true;
    if (beyond) reasons.push(this.note({ code: "SEQ_AFTER_SEAL", recording: rec, seq: s.lastSeq }));
    this.checkSeal();
    return { status: this.failed ? "failed" : "sealed", reasons };
  }

  /**
   * The device no longer holds what is missing (its Hello says so, or an offline bundle is all
   * there is): the gaps are final, and buffered chunks after them are linked among themselves
   * so every check that can still be made is made (R-VER-10).
   */
  finish(): ChunkResult<R> {
    const out: ChunkResult<R> = { status: "linked", seq: 0, reasons: [], linked: [], dropped: [] };
    this.finalised = true;
    for (;;) {
      let next = -1;
      for (const key in this.pending) {
        const s = Number(key);
        if (next < 0 || s < next) next = s;
      }
      if (next < 0) break;
      const r = this.skipTo(next);
      for (const x of r.linked) out.linked.push(x);
      for (const x of r.dropped) out.dropped.push(x);
    }
    return out;
  }

  /**
   * The chunks below `seq` that are still missing are lost (the device's Hello no longer holds
   * them): chunk `seq` starts a new segment whose link to the one before can't be checked.
   * The gateway calls this incrementally; finish() calls it for every gap.
   */
  skipTo(seq: number): ChunkResult<R> {
    const out: ChunkResult<R> = { status: "linked", seq, reasons: [], linked: [], dropped: [] };
    if (seq <= this.linkedSeq + 1 && (this.lastChain || this.faith)) return out;
    if (seq > this.linkedSeq + 1) this.lost.push([this.linkedSeq + 1, seq - 1]);
    for (const key in this.pending) {
      if (Number(key) < seq) {
        delete this.pending[Number(key)];
        this.pendingCount--;
      }
    }
    this.segmented = true;
    this.linkedSeq = seq - 1;
    this.advanceKey(seq);
    this.faith = true;
    this.drain(out);
    return out;
  }

  /** Where the recording stands (R-VER-8..10). */
  report(): VerdictReport {
    const rec = this.o.recordingId;
    const reasons = this.found.slice();
    if (this.suppressed) reasons.push({ code: "DUPLICATE", recording: rec, detail: this.suppressed + " further reasons not listed" });
    const missing: [number, number][] = this.lost.slice();
    const sealed = !!this.sealBlock;
    let top = sealed ? this.sealBlock!.lastSeq : this.linkedSeq;
    for (const key in this.pending) if (Number(key) > top) top = Number(key);
    let from = this.linkedSeq + 1;
    const pendingSeqs = Object.keys(this.pending).map(Number).sort((a, b) => a - b);
    for (const s of pendingSeqs) {
      if (s > from) missing.push([from, s - 1]);
      from = s + 1;
    }
    if (top >= from && sealed) missing.push([from, top]);
    if (missing.length) reasons.push({ code: "GAP", recording: rec, detail: missing.map((r) => (r[0] === r[1] ? String(r[0]) : r[0] + "-" + r[1])).join(",") });
    if (!sealed) reasons.push({ code: "MISSING_SEAL", recording: rec, detail: "last verified seq " + this.linkedSeq });
    if (!this.c0) reasons.push({ code: "MISSING_START", recording: rec });
    const incomplete = missing.length > 0 || !sealed || !this.c0;
    if (incomplete && this.finalised) reasons.push({ code: "LOST_ON_DEVICE", recording: rec });
    const verdict: Verdict = this.failed ? "failed" : incomplete ? "incomplete" : "verified";
    return {
      verdict,
      final: verdict !== "incomplete" || this.finalised,
      reasons,
      started: !!this.c0,
      sealed,
      interrupted: sealed && (this.sealBlock!.flags & FLAG_INTERRUPTED) !== 0,
      linkedSeq: this.linkedSeq,
      lastSeq: top,
      totalBytes: this.total,
      missing,
      sealValue: this.sealZ,
      firstTimeMs: this.firstTime,
      lastTimeMs: this.lastEnd,
    };
  }

  /** Wipe keys held (R-KEY-7). */
  destroy(): void {
    wipe(this.k1);
    wipe(this.kf);
    this.cc.destroy();
  }
}

/** A recording's messages, as a device history or an export bundle holds them. */
export interface RecordingMessages {
  recordingId: number;
  start?: StartMsg;
  chunks: ChunkMsg[];
  seal?: SealMsg;
}

export interface HistoryReport {
  verdict: Verdict;
  reasons: Reason[];
  recordings: { recordingId: number; report: VerdictReport }[];
}

/**
 * Verify a device's whole history from S_0 (R-VER-9): every recording, the genesis links
 * between them, and recording ids skipped. `claimedLastSealed` is what the device's Hello
 * says its last sealed recording is, so a deleted latest recording is noticed too.
 */
export function verifyHistory(sha: Sha256, deviceId: string, stateKey0: Uint8Array, recs: RecordingMessages[],
  claimedLastSealed?: number): HistoryReport {
  const sorted = recs.slice().sort((a, b) => a.recordingId - b.recordingId);
  const reasons: Reason[] = [];
  const out: HistoryReport["recordings"] = [];
  let prevId = 0;
  let prevSeal: Uint8Array | undefined = new Uint8Array(HASH_LEN);
  for (const r of sorted) {
    if (r.recordingId > prevId + 1) {
      reasons.push({ code: "RECORDING_MISSING", recording: prevId + 1, detail: prevId + 1 === r.recordingId - 1 ? String(prevId + 1) : prevId + 1 + "-" + (r.recordingId - 1) });
      prevSeal = undefined;
    }
    const s = stateAt(sha, stateKey0, r.recordingId - 1);
    const k1 = recordingKey(sha, s, r.recordingId);
    wipe(s);
    const v: RecordingVerifier<undefined> = new RecordingVerifier<undefined>({ sha, deviceId, recordingId: r.recordingId, k1, prevSeal });
    wipe(k1);
    if (r.start) v.start(r.start);
    for (const c of r.chunks) v.chunk(c, undefined);
    if (r.seal) v.seal(r.seal);
    v.finish();
    const rep: VerdictReport = v.report();
    v.destroy();
    out.push({ recordingId: r.recordingId, report: rep });
    for (const x of rep.reasons) reasons.push(x);
    prevSeal = rep.sealValue || undefined;
    prevId = r.recordingId;
  }
  if (claimedLastSealed !== undefined && claimedLastSealed > prevId) {
    reasons.push({ code: "RECORDING_MISSING", recording: prevId + 1, detail: prevId + 1 === claimedLastSealed ? String(claimedLastSealed) : prevId + 1 + "-" + claimedLastSealed });
  }
  const failed = reasons.some((r) => severityOf(r.code) === "fail");
  const gap = reasons.some((r) => severityOf(r.code) === "gap");
  return { verdict: failed ? "failed" : gap ? "incomplete" : "verified", reasons, recordings: out };
}
