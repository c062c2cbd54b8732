// The fixed-layout, big-endian blocks that the chain signs: chunk header (R-HDR),
// genesis block (R-GEN) and seal block (R-SEAL). Protobuf bytes are never signed (R-HDR-0).
// Espruino subset.
import {
  END_REASONS, ALG_SHA256, DEVICE_ID_LEN, GENESIS_LEN, HASH_LEN, HEADER_LEN, LAYOUT_VERSION, NONCE_LEN, SEAL_LEN,
} from "./constants.js";
import { getU64, setU64 } from "./bytes.js";

/** Device ids: 1 to 16 characters of [A-Za-z0-9._-], the first a letter or digit (R-ID-1): never `.` or `..`. */
export function validDeviceId(id: string): boolean {
  if (typeof id !== "string" || id.length < 1 || id.length > DEVICE_ID_LEN) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (i > 0 && (c === 45 || c === 46 || c === 95));
    if (!ok) return false;
  }
  return true;
}

/** The 16-byte, NUL-padded form of a device id (R-ID-2). */
export function deviceIdBytes(id: string): Uint8Array {
  if (!validDeviceId(id)) throw new Error("device id must be 1-16 characters of A-Z a-z 0-9 . _ -: " + JSON.stringify(id));
  const b = new Uint8Array(DEVICE_ID_LEN);
  for (let i = 0; i < id.length; i++) b[i] = id.charCodeAt(i);
  return b;
}

/** Read a NUL-padded device id field; returns null if it is not a valid padded id. */
export function readDeviceId(b: Uint8Array, off: number): string | null {
  let s = "";
  let end = false;
  for (let i = 0; i < DEVICE_ID_LEN; i++) {
    const c = b[off + i];
    if (c === 0) { end = true; continue; }
    if (end) return null;
    s += String.fromCharCode(c);
  }
  return validDeviceId(s) ? s : null;
}

/**
 * A new block with the 24 bytes every block starts with (R-HDR-3, R-GEN-1, R-SEAL-1): version,
 * algorithm, flags, media type (in a seal: its end reason), device id, recording id.
 */
function blockStart(len: number, version: number, alg: number, flags: number, media: number, deviceId: Uint8Array, recordingId: number): { b: Uint8Array; dv: DataView } {
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  b[0] = version; b[1] = alg; b[2] = flags; b[3] = media;
  b.set(deviceId, 4);
  dv.setUint32(20, recordingId);
  return { b: b, dv: dv };
}

/** Field offsets of the chunk header (R-HDR-3). */
export const H_VERSION = 0, H_ALG = 1, H_FLAGS = 2, H_MEDIA = 3, H_DEVICE = 4, H_RECORDING = 20,
  H_SEQ = 24, H_TIME = 28, H_DURATION = 36, H_UPTIME = 40, H_LENGTH = 44, H_PAYLOAD_HASH = 48,
  H_BEACON = 80, H_PREV = 96;

/**
 * Write the scalar fields of a chunk header that change per chunk. The constant fields
 * (version, alg, device, recording) and the three 32/16-byte fields are set by the caller.
 * Positional on purpose: no object per chunk on a board.
 */
export function fillHeader(dv: DataView, flags: number, media: number, seq: number, timeMs: number,
  durationMs: number, uptimeMs: number, length: number): void {
  dv.setUint8(H_FLAGS, flags);
  dv.setUint8(H_MEDIA, media);
  dv.setUint32(H_SEQ, seq);
  setU64(dv, H_TIME, timeMs);
  dv.setUint32(H_DURATION, durationMs);
  dv.setUint32(H_UPTIME, uptimeMs % 4294967296);
  dv.setUint32(H_LENGTH, length);
}

/** Write version, algorithm, device id and recording id: the header fields fixed for a recording. */
export function fillHeaderConstants(h: Uint8Array, deviceId: Uint8Array, recordingId: number): void {
  const dv = new DataView(h.buffer, h.byteOffset, HEADER_LEN);
  dv.setUint8(H_VERSION, LAYOUT_VERSION);
  dv.setUint8(H_ALG, ALG_SHA256);
  h.set(deviceId, H_DEVICE);
  dv.setUint32(H_RECORDING, recordingId);
}

/** A chunk header's fields. */
export interface ChunkHeader {
  version: number;
  alg: number;
  flags: number;
  media: number;
  deviceId: string | null;
  recordingId: number;
  seq: number;
  timeMs: number;
  durationMs: number;
  uptimeMs: number;
  length: number;
  payloadHash: Uint8Array;
  beacon: Uint8Array;
  prev: Uint8Array;
}

/** Encode a chunk header from its fields (the general path; a board writes in place). */
export function encodeHeader(f: ChunkHeader, deviceId: Uint8Array): Uint8Array {
  const h = new Uint8Array(HEADER_LEN);
  const dv = new DataView(h.buffer);
  fillHeaderConstants(h, deviceId, f.recordingId);
  dv.setUint8(H_VERSION, f.version);
  dv.setUint8(H_ALG, f.alg);
  fillHeader(dv, f.flags, f.media, f.seq, f.timeMs, f.durationMs, f.uptimeMs, f.length);
  h.set(f.payloadHash, H_PAYLOAD_HASH);
  h.set(f.beacon, H_BEACON);
  h.set(f.prev, H_PREV);
  return h;
}

/** Parse a chunk header; the caller has checked its length is HEADER_LEN. */
export function parseHeader(h: Uint8Array): ChunkHeader {
  const dv = new DataView(h.buffer, h.byteOffset, HEADER_LEN);
  return {
    version: h[H_VERSION],
    alg: h[H_ALG],
    flags: h[H_FLAGS],
    media: h[H_MEDIA],
    deviceId: readDeviceId(h, H_DEVICE),
    recordingId: dv.getUint32(H_RECORDING),
    seq: dv.getUint32(H_SEQ),
    timeMs: getU64(dv, H_TIME),
    durationMs: dv.getUint32(H_DURATION),
    uptimeMs: dv.getUint32(H_UPTIME),
    length: dv.getUint32(H_LENGTH),
    payloadHash: h.subarray(H_PAYLOAD_HASH, H_PAYLOAD_HASH + HASH_LEN),
    beacon: h.subarray(H_BEACON, H_BEACON + NONCE_LEN),
    prev: h.subarray(H_PREV, H_PREV + HASH_LEN),
  };
}

/** Genesis block fields (R-GEN-1). */
export interface Genesis {
  version: number;
  alg: number;
  flags: number;
  media: number;
  deviceId: string | null;
  recordingId: number;
  startMs: number;
  preEventMs: number;
  uptimeMs: number;
  caseTagHash: Uint8Array;
  beacon: Uint8Array;
  prevSeal: Uint8Array;
}

/** Encode a genesis block. */
export function encodeGenesis(g: Genesis, deviceId: Uint8Array): Uint8Array {
  const s = blockStart(GENESIS_LEN, g.version, g.alg, g.flags, g.media, deviceId, g.recordingId);
  const b = s.b, dv = s.dv;
  setU64(dv, 24, g.startMs);
  dv.setUint32(32, g.preEventMs);
  dv.setUint32(36, g.uptimeMs % 4294967296);
  b.set(g.caseTagHash, 40);
  b.set(g.beacon, 72);
  b.set(g.prevSeal, 88);
  return b;
}

/** Parse a genesis block of GENESIS_LEN bytes. */
export function parseGenesis(b: Uint8Array): Genesis {
  const dv = new DataView(b.buffer, b.byteOffset, GENESIS_LEN);
  return {
    version: b[0], alg: b[1], flags: b[2], media: b[3],
    deviceId: readDeviceId(b, 4),
    recordingId: dv.getUint32(20),
    startMs: getU64(dv, 24),
    preEventMs: dv.getUint32(32),
    uptimeMs: dv.getUint32(36),
    caseTagHash: b.subarray(40, 72),
    beacon: b.subarray(72, 88),
    prevSeal: b.subarray(88, 120),
  };
}

/** Seal block fields (R-SEAL-1). */
export interface SealBlock {
  version: number;
  alg: number;
  flags: number;
  /** Why the recording ended (R-SEAL-5: END_* in constants.ts). */
  endReason: number;
  deviceId: string | null;
  recordingId: number;
  lastSeq: number;
  endMs: number;
  uptimeMs: number;
  totalBytes: number;
  caseTagHash: Uint8Array;
  lastChain: Uint8Array;
  beacon: Uint8Array;
}

/** Encode a seal block. */
export function encodeSeal(s: SealBlock, deviceId: Uint8Array): Uint8Array {
  const st = blockStart(SEAL_LEN, s.version, s.alg, s.flags, s.endReason, deviceId, s.recordingId);
  const b = st.b, dv = st.dv;
  dv.setUint32(24, s.lastSeq);
  setU64(dv, 28, s.endMs);
  dv.setUint32(36, s.uptimeMs % 4294967296);
  setU64(dv, 40, s.totalBytes);
  b.set(s.caseTagHash, 48);
  b.set(s.lastChain, 80);
  b.set(s.beacon, 112);
  return b;
}

/** Parse a seal block of SEAL_LEN bytes. */
export function parseSeal(b: Uint8Array): SealBlock {
  const dv = new DataView(b.buffer, b.byteOffset, SEAL_LEN);
  return {
    version: b[0], alg: b[1], flags: b[2], endReason: b[3],
    deviceId: readDeviceId(b, 4),
    recordingId: dv.getUint32(20),
    lastSeq: dv.getUint32(24),
    endMs: getU64(dv, 28),
    uptimeMs: dv.getUint32(36),
    totalBytes: getU64(dv, 40),
    caseTagHash: b.subarray(48, 80),
    lastChain: b.subarray(80, 112),
    beacon: b.subarray(112, 128),
  };
}

/** Ack block (R-ACKB-1): layout version, and the length before the selective bitmap. */
export const ACK_BLOCK_VERSION = 1;
export const ACK_BLOCK_LEN = 16;
/** Largest selective bitmap an Ack carries (R-ACK-2, the Ack's `selective` limit in the schema). */
export const ACK_SELECTIVE_MAX = 512;

/** An Ack's fields (R-ACK-2), as the protobuf Ack and the Ack block carry them. */
export interface AckFields {
  recording: number;
  state: number;
  cumulative: number;
  selective: Uint8Array;
  /** Every seq 1..settled is stored or recorded as lost on the device (R-ACK-2); 0: no more than cumulative. */
  settled: number;
}

/** Encode an Ack block (R-ACKB-1): the gateway's side. */
export function encodeAckBlock(a: { recording: number; state: number; cumulative: number; selective?: Uint8Array; settled?: number }): Uint8Array {
  const sel = a.selective || new Uint8Array(0);
  if (sel.length > ACK_SELECTIVE_MAX) throw new Error("selective bitmap above " + ACK_SELECTIVE_MAX + " bytes");
  const b = new Uint8Array(ACK_BLOCK_LEN + sel.length);
  const dv = new DataView(b.buffer);
  b[0] = ACK_BLOCK_VERSION;
  b[1] = a.state;
  dv.setUint16(2, sel.length);
  dv.setUint32(4, a.recording);
  dv.setUint32(8, a.cumulative);
  dv.setUint32(12, a.settled || 0);
  b.set(sel, ACK_BLOCK_LEN);
  return b;
}

/**
 * Read an Ack block (R-ACKB-1) with a few DataView calls, in place (the bitmap is a view): the
 * device's side. null when it is not a version-1 block whose length matches its bitmap's.
 */
export function parseAckBlock(b: Uint8Array): AckFields | null {
  if (b.length < ACK_BLOCK_LEN || b[0] !== ACK_BLOCK_VERSION) return null;
  const dv = new DataView(b.buffer, b.byteOffset, ACK_BLOCK_LEN);
  const n = dv.getUint16(2);
  if (b.length !== ACK_BLOCK_LEN + n) return null;
  return { recording: dv.getUint32(4), state: b[1], cumulative: dv.getUint32(8), selective: b.subarray(ACK_BLOCK_LEN), settled: dv.getUint32(12) };
}

/** A seal block's end reason (R-SEAL-5) by name, "RESERVED_<n>" for a code not defined yet; null without a block. */
export function endReasonOf(sealBlock: Uint8Array | null | undefined): string | null {
  if (!sealBlock || sealBlock.length < 4) return null;
  return END_REASONS[sealBlock[3]] || "RESERVED_" + sealBlock[3];
}
