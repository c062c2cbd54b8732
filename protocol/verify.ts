// The sans-IO verifier (SPEC.md section 9): messages in, verdict out. No sockets, files or
// clocks. The gateway's ingest calls it chunk by chunk; the offline verifier calls it over a
// bundle. State is O(1) plus the bounded out-of-order buffer, the bounded list of unconfirmed
// starts, and a chain-value history that the caller may back with its own store.
//
// The rule that shapes every check here (R-VER-0): only a message whose tag verifies can change
// a recording's state or verdict. Anyone holding a device's MQTT login can send bytes naming any
// recording; such bytes are refused as `forged` (kept as evidence by the caller, never a verdict).
// So the tag is checked before anything a forger controls is held against the device, and a start,
// which carries no tag of its own, counts only once a tagged message confirms it (R-VER-1).
import type { Sha256 } from "./bytes.js";
import { copyBytes, ctEqual, wipe } from "./bytes.js";
import { ChainCrypto, recordingKey, stateStep } from "./chain.js";
import { parseGenesis, parseSeal, deviceIdBytes, H_ALG, H_DEVICE, H_DURATION, H_FLAGS, H_LENGTH, H_PAYLOAD_HASH, H_PREV, H_RECORDING, H_SEQ, H_TIME, H_VERSION } from "./blocks.js";
import {
  ALG_SHA256, CHUNK_FLAGS_MASK, FLAG_INTERRUPTED, GENESIS_LEN, HASH_LEN, HEADER_LEN, LAYOUT_VERSION, MAX_PAYLOAD,
  SEAL_LEN, TAG_LEN,
} from "./constants.js";
import type { Reason } from "./reasons.js";
import { severityOf } from "./reasons.js";

export type Verdict = "verified" | "incomplete" | "failed";

// The messages it takes, as recorder.proto defines them (messages.ts).
export type { StartMsg, ChunkMsg, SealMsg } from "./messages.js";
import type { StartMsg, ChunkMsg, SealMsg } from "./messages.js";

/**
 * Stands for a payload an excerpt does not disclose (R-EXP-6): the header and tag are checked as
 * always (the chain, the tag, the seal's byte total from the header's length), the payload hash
 * can't be, and the caller says which chunks it withheld.
 */
export const WITHHELD: Uint8Array = new Uint8Array(0);

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
  /** Seal value Z of the device's previous recording; zeros for recording 1; undefined if unknown (see linkPrevious). */
  prevSeal?: Uint8Array;
  /** Furthest a chunk's seq may run ahead of the verified chain (R-ACK-5). Default 1024. */
  window?: number;
  /** Largest number of chunks held out of order (R-ACK-5). Default 256. */
  maxPending?: number;
  history?: ChainHistory;
  /**
   * Resume after a restart: chain state of chunks 1..linkedSeq, already verified and stored, with
   * the seq ranges recorded as lost on the device (R-VER-10). c0 is null when the start was never
   * confirmed (chunk 1 lost, R-VER-1).
   */
  resume?: {
    c0: Uint8Array | null; genesis?: Uint8Array | null; linkedSeq: number; lastChain: Uint8Array | null; totalBytes: number; lastTimeMs: number;
    lost?: [number, number][];
    /** Reasons found before (the report's, without those it derives afresh), so a failure stays a failure. */
    reasons?: Reason[];
    final?: boolean;
    /** Whether the genesis link was checked; if not, the caller calls linkPrevious once it knows Z_{r−1}. */
    prevChecked?: boolean;
  };
}

/** A chunk whose chain link is verified: the caller may store and acknowledge it (R-ACK-1). */
export interface Linked<R> { seq: number; ref: R; chain: Uint8Array }

/**
 * What one message did. `forged`: the message can't be attributed to the device (its tag does not
 * verify, or its payload or case tag does not match what the tag covers): refused, to be kept as
 * evidence and alarmed by the caller; no verdict changes (R-VER-0).
 */
export type StepStatus = "linked" | "pending" | "duplicate" | "failed" | "equivocation" | "rejected" | "forged"
  | "candidate" | "started" | "sealed";

export interface StepResult<R> {
  status: StepStatus;
  seq: number;
  reasons: Reason[];
  /** Chunks linked by this call, in seq order (this one and any it released from the buffer). */
  linked: Linked<R>[];
  /** Buffered chunks that failed their link when their predecessor arrived. */
  dropped: { seq: number; ref: R; reason: Reason }[];
  /** The start a tagged message confirmed during this call: the recording's start from now on. */
  confirmed: StartMsg | null;
  /** Starts this call showed not to be the device's (another one was confirmed): evidence. */
  forgedStarts: { start: StartMsg; reason: Reason }[];
}

/** @deprecated name kept for callers that only look at chunks. */
export type ChunkResult<R> = StepResult<R>;
export type ChunkStatus = StepStatus;

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
  /** Seq ranges recorded as lost on the device (R-VER-10): part of the resume state. */
  lost: [number, number][];
  sealValue: Uint8Array | null;
  firstTimeMs: number;
  lastTimeMs: number;
  /** Messages refused as forged so far (R-VER-0); they change no verdict. */
  forged: number;
  /** Whether the genesis link to the previous recording's seal has been checked (R-VER-1). */
  prevChecked: boolean;
}

interface Pending<R> { prev: Uint8Array; chain: Uint8Array; length: number; timeMs: number; durationMs: number; ref: R }
interface Candidate { msg: StartMsg; c0: Uint8Array; prevSeal: Uint8Array; faults: Reason[] }

const MAX_REASONS = 200;
/** Different starts held for one recording until a tagged message picks the device's (R-VER-1). */
export const MAX_START_CANDIDATES = 4;

// Shared empty lists for a chunk's result: most chunks have no reason and drop nothing, so
// nothing is allocated for them. Code that adds to a result replaces these first (addTo).
const NO_REASONS: Reason[] = [];
const NO_DROPS: never[] = [];
const NO_FORGED_STARTS: never[] = [];

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

function result<R>(status: StepStatus, seq: number): StepResult<R> {
  return { status, seq, reasons: NO_REASONS, linked: [], dropped: NO_DROPS, confirmed: null, forgedStarts: NO_FORGED_STARTS };
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
  private candidates: Candidate[] = [];
  /** C_0 as a tagged message binds it (chunk 1's previous value, an empty recording's seal). */
  private boundC0: Uint8Array | null = null;
  private prevSeal: Uint8Array | null;
  private genesisPrev: Uint8Array | null = null;
  private linkChecked = false;
  private linkedSeq = 0;
  private lastChain: Uint8Array | null = null;
  private total = 0;
  private firstTime = -1;
  private lastTime = -1;
  private lastEnd = -1;
  private pending: { [seq: number]: Pending<R> } = {};
  private pendingCount = 0;
  private pendingBytesHeld = 0;
  private lost: [number, number][] = [];
  private segmented = false;
  /** The next chunk starts a segment after a declared loss: its link can't be checked. */
  private faith = false;
  private sealBlock: ReturnType<typeof parseSeal> | null = null;
  private sealZ: Uint8Array | null = null;
  private sealChecked = false;
  private found: Reason[] = [];
  private suppressed = 0;
  private forgedCount = 0;
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
    this.prevSeal = o.prevSeal ? copyBytes(o.prevSeal) : null;
    if (o.resume) {
      const r = o.resume;
      this.c0 = r.c0 ? copyBytes(r.c0) : null;
      this.linkedSeq = r.linkedSeq;
      this.lastChain = r.lastChain ? copyBytes(r.lastChain) : this.c0;
      this.total = r.totalBytes;
      this.lastTime = r.lastTimeMs;
      this.lost = r.lost ? r.lost.map(function (x): [number, number] { return [x[0], x[1]]; }) : [];
      this.segmented = this.lost.length > 0;
      // A loss recorded right below the chain's head: the next chunk starts a new segment.
      this.faith = this.segmented && this.lost[this.lost.length - 1][1] === r.linkedSeq;
      if (r.genesis && r.genesis.length === GENESIS_LEN) this.genesisPrev = copyBytes(parseGenesis(r.genesis).prevSeal);
      this.linkChecked = !!r.prevChecked;
      if (r.reasons) for (let i = 0; i < r.reasons.length; i++) this.note(r.reasons[i]);
      this.finalised = !!r.final;
      this.advanceKey(r.linkedSeq + 1);
    }
  }

  private note(r: Reason): Reason {
    if (severityOf(r.code) === "fail") this.failed = true;
    // A reason already listed is not listed twice (a resumed recording re-checks its seal).
    for (let i = 0; i < this.found.length; i++) {
      const f = this.found[i];
      if (f.code === r.code && f.seq === r.seq && f.detail === r.detail && r.code !== "DUPLICATE") return r;
    }
    if (this.found.length < MAX_REASONS) this.found.push(r);
    else this.suppressed++;
    return r;
  }

  private forged(out: StepResult<R>, code: string, detail?: string): StepResult<R> {
    this.forgedCount++;
    out.status = "forged";
    out.reasons = addTo(out.reasons, NO_REASONS, { code, recording: this.o.recordingId, seq: out.seq, detail });
    return out;
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

  /** Whether `tag` is this recording's tag on `header` as chunk `seq` (a caller checks what it stored). */
  vouches(seq: number, header: Uint8Array, tag: Uint8Array): boolean {
    if (seq < 1 || header.length !== HEADER_LEN || tag.length !== TAG_LEN) return false;
    return this.tagOk(seq, this.cc.chunkValue(header), tag);
  }

  /** Whether a tagged message has confirmed the recording's start (R-VER-1). */
  startConfirmed(): boolean {
    return this.c0 !== null;
  }

  /** The seq that would link now, or -1 while the chain can't move (no confirmed start). */
  nextSeq(): number {
    return this.lastChain || this.faith ? this.linkedSeq + 1 : -1;
  }

  /** Highest seq linked (or skipped as lost). */
  linkedUpTo(): number {
    return this.linkedSeq;
  }

  /** Bytes of chunk payloads held in the out-of-order buffer (a caller bounds its total). */
  pendingBytes(): number {
    return this.pendingBytesHeld;
  }

  /** Whether `seal` could be taken now: the start is confirmed, or this seal confirms one, or a loss made the start unknowable. */
  canSeal(block: Uint8Array): boolean {
    if (this.c0 || this.segmented) return true;
    if (!(block instanceof Uint8Array) || block.length !== SEAL_LEN) return true; // refused by seal() with its reason
    const s = parseSeal(block);
    return s.lastSeq === 0 && this.candidateFor(s.lastChain) !== null;
  }

  private candidateFor(c0: Uint8Array): Candidate | null {
    for (let i = 0; i < this.candidates.length; i++) if (ctEqual(this.candidates[i].c0, c0)) return this.candidates[i];
    return null;
  }

  /**
   * A tagged message binds C_0 (chunk 1 links to it, an empty recording's seal closes on it): the
   * start whose genesis hashes to it is the device's; any other start received is not (R-VER-1).
   */
  private bind(c0: Uint8Array, out: StepResult<R>): void {
    if (this.c0 || this.boundC0) return;
    this.boundC0 = copyBytes(c0);
    const cand = this.candidateFor(c0);
    if (cand) this.confirm(cand, out);
    else this.disown(out);
  }

  /** Every start held that the chain does not bind: evidence for the caller, gone from here. */
  private disown(out: StepResult<R>): void {
    for (let i = 0; i < this.candidates.length; i++) {
      this.forgedCount++;
      out.forgedStarts = addTo<StepResult<R>["forgedStarts"][number]>(out.forgedStarts, NO_FORGED_STARTS, { start: this.candidates[i].msg, reason: { code: "START_UNCONFIRMED", recording: this.o.recordingId, seq: 0, detail: "a start the device's chain does not bind" } });
    }
    this.candidates = [];
  }

  /**
   * A tagged message vouched for `cand`: it is the recording's start. Its own faults now count
   * against the device, and every other candidate was not the device's (R-VER-1).
   */
  private confirm(cand: Candidate, out: StepResult<R>): void {
    this.c0 = cand.c0;
    this.genesisPrev = cand.prevSeal;
    for (let i = 0; i < cand.faults.length; i++) out.reasons = addTo(out.reasons, NO_REASONS, this.note(cand.faults[i]));
    this.candidates.splice(this.candidates.indexOf(cand), 1);
    this.disown(out);
    out.confirmed = cand.msg;
    if (!this.segmented && this.linkedSeq === 0) this.lastChain = cand.c0;
    this.checkLink(out);
  }

  private checkLink(out: StepResult<R>): void {
    if (this.linkChecked || !this.c0 || !this.prevSeal || !this.genesisPrev) return;
    this.linkChecked = true;
    if (!ctEqual(this.prevSeal, this.genesisPrev)) out.reasons = addTo(out.reasons, NO_REASONS, this.note({ code: "GENESIS_LINK", recording: this.o.recordingId, seq: 0 }));
  }

  /**
   * The previous recording's seal value became known (it arrived after this recording's start):
   * the genesis link is checked now, whichever came first (R-VER-1).
   */
  linkPrevious(z: Uint8Array): Reason[] {
    if (this.linkChecked) return [];
    if (this.prevSeal) wipe(this.prevSeal);
    this.prevSeal = copyBytes(z);
    const out = result<R>("linked", 0);
    this.checkLink(out);
    return out.reasons === NO_REASONS ? [] : out.reasons;
  }

  /** RecordingStart (R-VER-1). It carries no tag: it is held until a tagged message confirms it. */
  start(m: StartMsg): StepResult<R> {
    const rec = this.o.recordingId;
    const out = result<R>("rejected", 0);
    if (!(m.genesis instanceof Uint8Array) || m.genesis.length !== GENESIS_LEN) { out.reasons = [{ code: "BLOCK_SIZE", recording: rec, detail: "genesis" }]; return out; }
    const g = parseGenesis(m.genesis);
    if (g.version !== LAYOUT_VERSION) { out.reasons = [{ code: "LAYOUT_VERSION", recording: rec }]; return out; }
    if (g.alg !== ALG_SHA256) { out.reasons = [{ code: "UNSUPPORTED_ALG", recording: rec }]; return out; }
    // The case tag travels beside the block, outside anything tagged: one that does not hash to
    // the block's field was changed on the way (R-GEN-3).
    let tagHash: Uint8Array | null = null;
    try { tagHash = this.cc.caseTagHash(m.caseTag || ""); } catch (e) { tagHash = null; }
    if (!tagHash || !ctEqual(tagHash, g.caseTagHash)) return this.forged(out, "CASE_TAG_MISMATCH", "start");
    const c0 = this.cc.genesisValue(m.genesis);
    if (this.c0) {
      if (ctEqual(c0, this.c0)) {
        out.status = "duplicate";
        out.reasons = [this.note({ code: "DUPLICATE", recording: rec, seq: 0, detail: "start" })];
        return out;
      }
      return this.forged(out, "START_UNCONFIRMED", "differs from the start the chain confirms");
    }
    if (this.candidateFor(c0)) {
      out.status = "duplicate";
      out.reasons = [this.note({ code: "DUPLICATE", recording: rec, seq: 0, detail: "start" })];
      return out;
    }
    if (this.boundC0 && !ctEqual(this.boundC0, c0)) return this.forged(out, "START_UNCONFIRMED", "the device's chain binds another start");
    if (this.candidates.length >= MAX_START_CANDIDATES) { out.reasons = [{ code: "BUFFER_FULL", recording: rec, seq: 0, detail: "unconfirmed starts" }]; return out; }
    const faults: Reason[] = [];
    if (g.deviceId !== this.o.deviceId || g.recordingId !== rec || g.flags !== 0) faults.push({ code: "GENESIS_FIELD", recording: rec, detail: "device, recording or flags" });
    const cand: Candidate = { msg: { genesis: copyBytes(m.genesis), caseTag: m.caseTag || "" }, c0, prevSeal: copyBytes(g.prevSeal), faults };
    this.candidates.push(cand);
    out.status = "candidate";
    // Chunk 1 was declared lost on the device: nothing can confirm a start any more, so the one
    // start received is taken as it is (R-VER-10).
    if (this.segmented && this.lost.length && this.lost[0][0] === 1 && this.candidates.length === 1) {
      this.confirm(cand, out);
      out.status = this.failed ? "failed" : "started";
      return out;
    }
    // Chunk 1 (or an empty recording's seal) may have come first: its tag vouches for this start.
    if (this.boundC0) {
      this.confirm(cand, out);
      this.drain(out);
      this.checkSeal();
      out.status = this.failed ? "failed" : "started";
    }
    return out;
  }

  /**
   * One Chunk (R-VER-2..6). `ref` is handed back when the chunk links. `stored` is the chain value
   * the caller keeps for this seq outside the verifier's history (a database), if any.
   */
  chunk(m: ChunkMsg, ref: R, stored?: Uint8Array | null): StepResult<R> {
    const out = result<R>("rejected", 0);
    const hb = m.header;
    if (!(hb instanceof Uint8Array) || hb.length !== HEADER_LEN) return this.rejectChunk(out, "BLOCK_SIZE", "header");
    if (!(m.tag instanceof Uint8Array) || m.tag.length !== TAG_LEN) return this.rejectChunk(out, "BLOCK_SIZE", "tag");
    if (!(m.payload instanceof Uint8Array)) return this.rejectChunk(out, "BLOCK_SIZE", "payload");
    const withheld = m.payload === WITHHELD;
    // Fields are read in place (R-HDR-3): no parsed object per chunk on the ingest path.
    const seq = u32At(hb, H_SEQ);
    out.seq = seq;
    const layoutOk = hb[H_VERSION] === LAYOUT_VERSION && hb[H_ALG] === ALG_SHA256;
    // Before the genesis is known, an unknown layout is only refused (a newer device, not tampering).
    if (!layoutOk && !this.c0) return this.rejectChunk(out, hb[H_VERSION] !== LAYOUT_VERSION ? "LAYOUT_VERSION" : "UNSUPPORTED_ALG");
    if (m.payload.length > MAX_PAYLOAD) return this.rejectChunk(out, "PAYLOAD_TOO_LARGE");
    // Work is bounded before any key is derived: seq 0 has no key, and a seq far ahead would cost
    // one hash per step to reach (R-ACK-5).
    if (seq === 0) return this.forged(out, "TAG", "seq 0");
    if (seq > this.linkedSeq + this.window) return this.rejectChunk(out, "SEQ_OUT_OF_WINDOW", "verified up to " + this.linkedSeq);
    const c = this.cc.chunkValue(hb);
    if (!this.tagOk(seq, c, m.tag)) return this.forged(out, "TAG");
    // From here the header is the device's: what contradicts the chain is its own signature on it.
    if (!layoutOk) return this.failChunk(out, "HEADER_FIELD", "failed", "layout " + hb[H_VERSION] + " / alg " + hb[H_ALG] + " in a version 1 recording");
    if (!bytesEqualAt(hb, H_DEVICE, this.dev) || u32At(hb, H_RECORDING) !== this.o.recordingId || (hb[H_FLAGS] & ~CHUNK_FLAGS_MASK) !== 0) return this.failChunk(out, "HEADER_FIELD", "failed");
    // The payload is not under the tag, only its hash is: a payload that does not match its
    // tagged header was put there by someone else.
    const length = u32At(hb, H_LENGTH);
    if (!withheld && m.payload.length !== length) return this.forged(out, "PAYLOAD_LENGTH");
    if (!withheld && !equalAt(this.cc.sha(m.payload), hb, H_PAYLOAD_HASH)) return this.forged(out, "PAYLOAD_HASH");
    const known = stored || (seq <= this.linkedSeq ? this.history.get(seq) : this.pending[seq] ? this.pending[seq].chain : undefined);
    if (known) {
      if (ctEqual(known, c)) {
        out.status = "duplicate";
        out.reasons = addTo(out.reasons, NO_REASONS, this.note({ code: "DUPLICATE", recording: this.o.recordingId, seq }));
        return out;
      }
      return this.failChunk(out, "EQUIVOCATION", "equivocation");
    }
    if (seq <= this.linkedSeq) {
      // Below the chain's head with no value on record: a seq inside a loss the device declared
      // (it can't be linked any more), or one whose value the caller did not give.
      if (this.inLost(seq)) return this.rejectChunk(out, "SEQ_OUT_OF_WINDOW", "seq " + seq + " was declared lost on the device");
      return this.failChunk(out, "EQUIVOCATION", "equivocation", "seq already verified, its chain value not on record");
    }
    if (this.sealBlock && seq > this.sealBlock.lastSeq) return this.failChunk(out, "SEQ_AFTER_SEAL", "failed");
    const timeMs = u32At(hb, H_TIME) * 4294967296 + u32At(hb, H_TIME + 4);
    const durationMs = u32At(hb, H_DURATION);
    // Chunk 1's previous value is C_0: its tag picks the device's start among those received.
    if (seq === 1 && !this.c0 && !this.faith) this.bind(hb.subarray(H_PREV, H_PREV + HASH_LEN), out);
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
    this.pendingBytesHeld += length;
    out.status = "pending";
    return out;
  }

  private inLost(seq: number): boolean {
    for (let i = 0; i < this.lost.length; i++) if (seq >= this.lost[i][0] && seq <= this.lost[i][1]) return true;
    return false;
  }

  // Methods, not closures made per call: the per-chunk path allocates as little as it can.
  private rejectChunk(out: StepResult<R>, code: string, detail?: string): StepResult<R> {
    out.status = "rejected";
    out.reasons = addTo(out.reasons, NO_REASONS, { code, recording: this.o.recordingId, seq: out.seq, detail });
    return out;
  }

  private failChunk(out: StepResult<R>, code: string, status: StepStatus, detail?: string): StepResult<R> {
    out.status = status;
    out.reasons = addTo(out.reasons, NO_REASONS, this.note({ code, recording: this.o.recordingId, seq: out.seq, detail }));
    return out;
  }

  private link(seq: number, c: Uint8Array, length: number, timeMs: number, durationMs: number, ref: R, out: StepResult<R>): void {
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

  private unbuffer(seq: number): Pending<R> {
    const p = this.pending[seq];
    delete this.pending[seq];
    this.pendingCount--;
    this.pendingBytesHeld -= p.length;
    return p;
  }

  private drain(out: StepResult<R>): void {
    for (;;) {
      if (!this.lastChain && !this.faith) return;
      const seq = this.linkedSeq + 1;
      if (!this.pending[seq]) return;
      const p = this.unbuffer(seq);
      if (!this.faith && !ctEqual(p.prev, this.lastChain!)) {
        out.dropped = addTo<StepResult<R>["dropped"][number]>(out.dropped, NO_DROPS, { seq, ref: p.ref, reason: this.note({ code: "CHAIN_LINK", recording: this.o.recordingId, seq }) });
        return;
      }
      this.link(seq, p.chain, p.length, p.timeMs, p.durationMs, p.ref, out);
    }
  }

  /**
   * Drop every buffered chunk (a caller's bound on memory: chunks of a recording whose start
   * never comes). They were never acknowledged: the device sends them again. Returns their seqs.
   */
  dropPending(): number[] {
    const seqs = Object.keys(this.pending).map(Number);
    for (let i = 0; i < seqs.length; i++) this.unbuffer(seqs[i]);
    return seqs;
  }

  private checkSeal(): void {
    const s = this.sealBlock;
    if (!s || this.sealChecked || !this.lastChain || this.linkedSeq !== s.lastSeq) return;
    this.sealChecked = true;
    // The chain's head was lost on the device: there is no C_n to compare the seal with.
    if (this.faith) return;
    const rec = this.o.recordingId;
    if (!ctEqual(s.lastChain, this.lastChain)) this.note({ code: "SEAL_LINK", recording: rec, seq: s.lastSeq });
    if (!this.segmented && s.totalBytes !== this.total) this.note({ code: "SEAL_BYTES", recording: rec, detail: "seal says " + s.totalBytes + ", chunks sum to " + this.total });
  }

  /** Seal (R-VER-7). */
  seal(m: SealMsg): StepResult<R> {
    const rec = this.o.recordingId;
    const out = result<R>("rejected", 0);
    if (!(m.block instanceof Uint8Array) || m.block.length !== SEAL_LEN || !(m.tag instanceof Uint8Array) || m.tag.length !== TAG_LEN) { out.reasons = [{ code: "BLOCK_SIZE", recording: rec, detail: "seal" }]; return out; }
    const s = parseSeal(m.block);
    out.seq = s.lastSeq;
    if (s.version !== LAYOUT_VERSION) { out.reasons = [{ code: "LAYOUT_VERSION", recording: rec }]; return out; }
    if (s.alg !== ALG_SHA256) { out.reasons = [{ code: "UNSUPPORTED_ALG", recording: rec }]; return out; }
    // The seal's key is K_{lastSeq+1}: a forged lastSeq of 2^32 would cost 2^32 key steps to
    // check, so a seal beyond the window is refused like a chunk beyond it (R-ACK-5).
    let top = this.linkedSeq;
    for (const key in this.pending) if (Number(key) > top) top = Number(key);
    if (s.lastSeq > top + this.window) { out.reasons = [{ code: "SEQ_OUT_OF_WINDOW", recording: rec, seq: s.lastSeq, detail: "seal" }]; return out; }
    const z = this.cc.sealValue(m.block);
    const k = this.keyFor(s.lastSeq + 1);
    const ok = ctEqual(this.cc.sealTag(k, z), m.tag);
    if (k !== this.kf) wipe(k);
    if (!ok) return this.forged(out, "SEAL_TAG");
    let tagHash: Uint8Array | null = null;
    try { tagHash = this.cc.caseTagHash(m.caseTag || ""); } catch (e) { tagHash = null; }
    if (!tagHash || !ctEqual(tagHash, s.caseTagHash)) return this.forged(out, "CASE_TAG_MISMATCH", "seal");
    // From here the block is the device's.
    if (s.deviceId !== this.o.deviceId || s.recordingId !== rec || (s.flags & ~FLAG_INTERRUPTED) !== 0) return this.failChunk(out, "SEAL_FIELD", "failed", "device, recording or flags");
    if (this.sealZ) {
      if (ctEqual(this.sealZ, z)) {
        out.status = "duplicate";
        out.reasons = [this.note({ code: "DUPLICATE", recording: rec, detail: "seal" })];
        return out;
      }
      return this.failChunk(out, "EQUIVOCATION", "equivocation", "two different seals");
    }
    // An empty recording's seal binds C_0 itself: it confirms the start.
    if (!this.c0 && s.lastSeq === 0) this.bind(s.lastChain, out);
    this.sealZ = z;
    this.sealBlock = s;
    if (s.flags & FLAG_INTERRUPTED) out.reasons = addTo(out.reasons, NO_REASONS, this.note({ code: "INTERRUPTED", recording: rec }));
    let beyond = this.linkedSeq > s.lastSeq;
    for (const key in this.pending) if (Number(key) > s.lastSeq) beyond = true;
    if (beyond) out.reasons = addTo(out.reasons, NO_REASONS, this.note({ code: "SEQ_AFTER_SEAL", recording: rec, seq: s.lastSeq }));
    this.checkSeal();
    out.status = "sealed";
    return out;
  }

  /**
   * The device no longer holds what is missing (its Hello says so, or an offline bundle is all
   * there is): the gaps are final, and buffered chunks after them are linked among themselves
   * so every check that can still be made is made (R-VER-10).
   */
  finish(): StepResult<R> {
    this.finalised = true;
    const out = result<R>("linked", 0);
    this.skipPending(Infinity, out);
    return out;
  }

  /**
   * The device's Hello says it holds nothing below `seq` any more: what is missing below it is
   * lost. Chunks buffered below it are kept (each starts a segment after a loss); then `seq`
   * starts one (R-VER-10).
   */
  lostBelow(seq: number): StepResult<R> {
    const out = result<R>("linked", seq);
    this.skipPending(seq, out);
    if (seq > this.linkedSeq + 1) this.merge(out, this.skipTo(seq));
    return out;
  }

  private skipPending(limit: number, out: StepResult<R>): void {
    for (;;) {
      let next = -1;
      for (const key in this.pending) {
        const s = Number(key);
        if (s < limit && (next < 0 || s < next)) next = s;
      }
      if (next < 0) return;
      this.merge(out, this.skipTo(next));
    }
  }

  private merge(out: StepResult<R>, r: StepResult<R>): void {
    for (const x of r.linked) out.linked.push(x);
    for (const x of r.dropped) out.dropped = addTo<StepResult<R>["dropped"][number]>(out.dropped, NO_DROPS, x);
    for (const x of r.forgedStarts) out.forgedStarts = addTo<StepResult<R>["forgedStarts"][number]>(out.forgedStarts, NO_FORGED_STARTS, x);
    for (const x of r.reasons) out.reasons = addTo(out.reasons, NO_REASONS, x);
    if (r.confirmed) out.confirmed = r.confirmed;
  }

  /**
   * The chunks below `seq` that are still missing are lost (the device's Hello no longer holds
   * them): chunk `seq` starts a new segment whose link to the one before can't be checked.
   * The gateway calls this incrementally; finish() calls it for every gap. When chunk 1 is among
   * the lost, nothing can confirm the start any more: a single start received is taken as it is.
   */
  skipTo(seq: number): StepResult<R> {
    const out = result<R>("linked", seq);
    if (seq <= this.linkedSeq + 1 && (this.lastChain || this.faith)) return out;
    if (seq > this.linkedSeq + 1) this.lost.push([this.linkedSeq + 1, seq - 1]);
    for (const key in this.pending) if (Number(key) < seq) this.unbuffer(Number(key));
    // Chunk 1 is among the lost and nothing else binds C_0: the one start received is taken as it is.
    if (!this.c0 && !this.boundC0 && this.linkedSeq === 0 && seq > 1 && this.candidates.length === 1) this.confirm(this.candidates[0], out);
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
    if (!this.c0) reasons.push({ code: "MISSING_START", recording: rec, detail: this.candidates.length ? "a start arrived but no tagged message confirms it" : undefined });
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
      lost: this.lost.slice(),
      sealValue: this.sealZ,
      firstTimeMs: this.firstTime,
      lastTimeMs: this.lastEnd,
      forged: this.forgedCount,
      prevChecked: this.linkChecked,
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
  /** Messages refused as forged, over all recordings, with why (an offline check fails on any). */
  forged: Reason[];
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
  const forged: Reason[] = [];
  const out: HistoryReport["recordings"] = [];
  let prevId = 0;
  let prevSeal: Uint8Array | undefined = new Uint8Array(HASH_LEN);
  // S_j moves forward with the recordings: one step per id, not r steps from S_0 per recording.
  let s = copyBytes(stateKey0);
  let sAt = 0;
  for (const r of sorted) {
    if (r.recordingId < 1) {
      forged.push({ code: "RECORDING_WINDOW", recording: r.recordingId, detail: "recording ids start at 1" });
      continue;
    }
    if (r.recordingId > prevId + 1) {
      reasons.push({ code: "RECORDING_MISSING", recording: prevId + 1, detail: prevId + 1 === r.recordingId - 1 ? String(prevId + 1) : prevId + 1 + "-" + (r.recordingId - 1) });
      prevSeal = undefined;
    }
    while (sAt < r.recordingId - 1) {
      const n = stateStep(sha, s);
      wipe(s);
      s = n;
      sAt++;
    }
    const k1 = recordingKey(sha, s, r.recordingId);
    const v: RecordingVerifier<undefined> = new RecordingVerifier<undefined>({ sha, deviceId, recordingId: r.recordingId, k1, prevSeal });
    wipe(k1);
    const collect = (x: StepResult<undefined>) => {
      if (x.status === "forged") for (const f of x.reasons) forged.push(f);
      for (const f of x.forgedStarts) forged.push(f.reason);
    };
    if (r.start) collect(v.start(r.start));
    for (const c of r.chunks) collect(v.chunk(c, undefined));
    if (r.seal) collect(v.seal(r.seal));
    collect(v.finish());
    const rep: VerdictReport = v.report();
    v.destroy();
    out.push({ recordingId: r.recordingId, report: rep });
    for (const x of rep.reasons) reasons.push(x);
    prevSeal = rep.sealValue || undefined;
    prevId = r.recordingId;
  }
  wipe(s);
  if (claimedLastSealed !== undefined && claimedLastSealed > prevId) {
    reasons.push({ code: "RECORDING_MISSING", recording: prevId + 1, detail: prevId + 1 === claimedLastSealed ? String(claimedLastSealed) : prevId + 1 + "-" + claimedLastSealed });
  }
  const failed = reasons.some((r) => severityOf(r.code) === "fail");
  const gap = reasons.some((r) => severityOf(r.code) === "gap");
  return { verdict: failed ? "failed" : gap ? "incomplete" : "verified", reasons, recordings: out, forged };
}
