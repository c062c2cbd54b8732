// The device side of the chain: genesis, one call per chunk, seal (SPEC.md R-GEN, R-CHN, R-TAG, R-SEAL).
// Espruino subset. The per-chunk path is a dozen statements and four native hashes: the
// header is written in place after its domain string, nothing is allocated but the hashes' output.
import type { Sha256 } from "./bytes.js";
import { copyBytes, wipe } from "./bytes.js";
import { ChainCrypto } from "./chain.js";
import { fillHeader, fillHeaderConstants, encodeGenesis, encodeSeal, H_BEACON, H_PAYLOAD_HASH, H_PREV } from "./blocks.js";
import { ALG_SHA256, HEADER_LEN, LAYOUT_VERSION, MAX_PAYLOAD, HASH_LEN, NONCE_LEN } from "./constants.js";

/** What one chunk step yields. `header` is a view that the next step overwrites: persist it first. */
export interface ChunkOut {
  seq: number;
  header: Uint8Array;
  tag: Uint8Array;
  chain: Uint8Array;
}

/** What a seal yields (R-SEAL). */
export interface SealOut {
  block: Uint8Array;
  tag: Uint8Array;
  value: Uint8Array;
}

/** Start data of a recording (R-GEN-1). */
export interface StartFields {
  recordingId: number;
  startMs: number;
  preEventMs: number;
  uptimeMs: number;
  media: number;
  caseTag: string;
  beacon: Uint8Array;
  prevSeal: Uint8Array;
}

/** Chains and tags one recording's chunks; holds K_i in RAM only (R-FS-2). */
export class ChainWriter {
  cc: ChainCrypto;
  dv: DataView;
  deviceId: Uint8Array;
  recordingId: number;
  seq: number;
  key: Uint8Array;
  prev: Uint8Array;
  total: number;
  /**
   * A writer positioned after chunk `lastSeq` (0 for a new recording, whose `lastChain` is C_0).
   * `k1` is copied; the caller keeps or wipes its own copy.
   */
  constructor(sha: Sha256, deviceId: Uint8Array, recordingId: number, k1: Uint8Array, lastSeq: number,
    lastChain: Uint8Array, totalBytes: number) {
    this.cc = new ChainCrypto(sha);
    const h = this.cc.header;
    this.dv = new DataView(h.buffer, h.byteOffset, HEADER_LEN);
    fillHeaderConstants(h, deviceId, recordingId);
    this.deviceId = deviceId;
    this.recordingId = recordingId;
    this.seq = lastSeq;
    this.key = this.cc.keyAt(k1, lastSeq + 1);
    this.prev = copyBytes(lastChain);
    this.total = totalBytes;
  }
  /** Hash, chain and tag the next chunk (R-CHN-2, R-TAG-1, R-TAG-2). */
  chunk(payload: Uint8Array, flags: number, media: number, timeMs: number, durationMs: number,
    uptimeMs: number, beacon: Uint8Array): ChunkOut {
    if (payload.length > MAX_PAYLOAD) throw new Error("chunk payload " + payload.length + " > " + MAX_PAYLOAD);
    const cc = this.cc;
    const h = cc.header;
    const seq = this.seq + 1;
    fillHeader(this.dv, flags, media, seq, timeMs, durationMs, uptimeMs, payload.length);
    h.set(cc.sha(payload), H_PAYLOAD_HASH);
    h.set(beacon, H_BEACON);
    h.set(this.prev, H_PREV);
    const c = cc.chunkValue(h);
    const tag = cc.tag(this.key, c);
    // K_i is overwritten in place by K_{i+1} (R-KEY-7): cheaper on a board than a fill.
    this.key.set(cc.keyStep(this.key));
    this.prev = c;
    this.seq = seq;
    this.total += payload.length;
    return { seq: seq, header: h, tag: tag, chain: c };
  }
  /** Close the recording: seal block over the last chain value, tagged with K_{n+1} (R-SEAL-1..3), saying why it ended (R-SEAL-5). */
  seal(flags: number, endMs: number, uptimeMs: number, caseTagHash: Uint8Array, beacon: Uint8Array, endReason: number): SealOut {
    const block = encodeSeal({
      version: LAYOUT_VERSION, alg: ALG_SHA256, flags: flags, endReason: endReason, deviceId: null, recordingId: this.recordingId,
      lastSeq: this.seq, endMs: endMs, uptimeMs: uptimeMs, totalBytes: this.total, caseTagHash: caseTagHash,
      lastChain: this.prev, beacon: beacon,
    }, this.deviceId);
    const value = this.cc.sealValue(block);
    const tag = this.cc.sealTag(this.key, value);
    return { block: block, tag: tag, value: value };
  }
  /** Wipe the current key and the chain buffers (R-KEY-7). */
  destroy(): void {
    wipe(this.key);
    this.cc.destroy();
  }
}

/** Build a recording's genesis block and C_0 (R-GEN-1, R-GEN-2). */
export function genesisFor(cc: ChainCrypto, deviceId: Uint8Array, f: StartFields): { block: Uint8Array; c0: Uint8Array } {
  if (f.beacon.length !== NONCE_LEN || f.prevSeal.length !== HASH_LEN) throw new Error("genesis: beacon 16 B, prevSeal 32 B");
  const block = encodeGenesis({
    version: LAYOUT_VERSION, alg: ALG_SHA256, flags: 0, media: f.media, deviceId: null, recordingId: f.recordingId,
    startMs: f.startMs, preEventMs: f.preEventMs, uptimeMs: f.uptimeMs, caseTagHash: cc.caseTagHash(f.caseTag),
    beacon: f.beacon, prevSeal: f.prevSeal,
  }, deviceId);
  return { block: block, c0: cc.genesisValue(block) };
}
