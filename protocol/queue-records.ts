// The upload queue's record layout on a device's card, the contract between the firmware that writes
// it (firmware/core/queue.ts, which says why it is so) and the tools that read a card without the
// firmware's sources (the simulator's attacks read a seized device's card with it).
//
// Per recording r, segment files `q<r, 7 hex>.<segment, 3 hex>`, each a sequence of records:
//
//   offset size  field
//   0      2     magic "QR"
//   2      1     kind: 1 start, 2 chunk, 3 seal, 4 ack (a persisted Ack: seq = cumulative)
//   3      1     number of body parts (0..3)
//   4      4     recording id (big-endian, as every u32 here)
//   8      4     seq (0 for a start; the seal's last seq n for a seal)
//   12     12    byte lengths of parts 0..2 (0 for an absent part)
//   24     8     check: first 8 bytes of H(bytes 0..24 ‖ H(part 0) ‖ H(part 1) ‖ H(part 2)),
//                a zero hash for an absent part
//   32     ...   the parts, back to back: for a start, chunk or seal, the message exactly as
//                published; for an ack, the top seq when it was written (u32), then a note
//
// Espruino subset (the firmware takes the constants and segmentName from here); the reader below
// runs in tools.
import type { Sha256 } from "./bytes.js";

export const KIND_START = 1;
export const KIND_CHUNK = 2;
export const KIND_SEAL = 3;
export const KIND_ACK = 4;

export const RECORD_HEADER = 32;
/** Largest record body: a Chunk envelope with a 65,536-byte payload, header, tag and framing. */
export const MAX_BODY = 65536 + 1024;
export const MAX_PARTS = 3;
/** Segment files start with this letter. */
export const SEGMENT_PREFIX = "q";

const hex = function (v: number, digits: number): string {
  let s = v.toString(16);
  while (s.length < digits) s = "0" + s;
  return s;
};

/** The name of segment `idx` of recording `recording` (8.3, for a FAT SD card). */
export const segmentName = function (recording: number, idx: number): string {
  return SEGMENT_PREFIX + hex(recording, 7) + "." + hex(idx, 3);
};

/** What a device's Hello lists of one recording it holds (SPEC R-MSG-2). */
export interface HeldRange {
  recording: number;
  firstSeq: number;
  lastSeq: number;
  sealed: boolean;
  open: boolean;
}

/** One whole record of a segment file. */
export interface QueueRecord {
  file: string;
  /** Where its body starts in the file. */
  offset: number;
  kind: number;
  recording: number;
  seq: number;
  /** The parts back to back: for a start, chunk or seal, the message as published. */
  body: Uint8Array;
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) >>> 0) + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3];
}

/**
 * The whole records of segment file `name` (its bytes `b`), in order: reading stops at the first
 * record that is not whole (a torn tail) or whose check fails, as the firmware's recovery does.
 */
export function readSegment(sha: Sha256, name: string, b: Uint8Array): QueueRecord[] {
  const out: QueueRecord[] = [];
  const id = parseInt(name.slice(1, 8), 16);
  let off = 0;
  while (off + RECORD_HEADER <= b.length) {
    const h = b.subarray(off, off + RECORD_HEADER);
    const kind = h[2], np = h[3];
    const lens = [u32(h, 12), u32(h, 16), u32(h, 20)];
    const len = lens[0] + lens[1] + lens[2];
    if (h[0] !== 0x51 || h[1] !== 0x52 || kind < KIND_START || kind > KIND_ACK || np > MAX_PARTS || u32(h, 4) !== id || len > MAX_BODY) break;
    const end = off + RECORD_HEADER + len;
    if (end > b.length) break;
    const body = b.subarray(off + RECORD_HEADER, end);
    const c = new Uint8Array(24 + 32 * MAX_PARTS);
    c.set(h.subarray(0, 24));
    for (let i = 0, p = 0; i < np; p += lens[i], i++) c.set(sha(body.subarray(p, p + lens[i])), 24 + 32 * i);
    const check = sha(c);
    let same = true;
    for (let i = 0; i < 8; i++) if (check[i] !== h[24 + i]) same = false;
    if (!same) break;
    out.push({ file: name, offset: off + RECORD_HEADER, kind: kind, recording: id, seq: u32(h, 8), body: body });
    off = end;
  }
  return out;
}

/** Whether `n` names a segment file: `q`, 7 hex digits, `.`, 3 hex digits. */
export function isSegmentName(n: string): boolean {
  return /^q[0-9a-f]{7}\.[0-9a-f]{3}$/.test(n);
}

/** What the queue in `records` (of every segment, in name order) still holds: its Hello's list, by recording. */
export function heldOf(records: QueueRecord[]): HeldRange[] {
  const by: { [id: string]: { acked: number; top: number; sealed: boolean } } = {};
  const ids: number[] = [];
  for (let i = 0; i < records.length; i++) {
    const x = records[i];
    let r = by[x.recording];
    if (!r) {
      r = by[x.recording] = { acked: 0, top: 0, sealed: false };
      ids.push(x.recording);
    }
    if (x.kind === KIND_CHUNK) r.top = Math.max(r.top, x.seq);
    else if (x.kind === KIND_SEAL) r.sealed = true;
    else if (x.kind === KIND_ACK) {
      r.acked = Math.max(r.acked, x.seq);
      if (x.body.length >= 4) r.top = Math.max(r.top, u32(x.body, 0));
    }
  }
  ids.sort(function (a, b) { return a - b; });
  return ids.map(function (id) {
    const r = by[id];
    return { recording: id, firstSeq: r.acked < r.top ? r.acked + 1 : 0, lastSeq: r.top, sealed: r.sealed, open: !r.sealed };
  });
}

/** The messages of recording `r` not yet acknowledged, in sending order: start, chunks above the cumulative, seal. */
export function pendingOf(records: QueueRecord[], r: number): QueueRecord[] {
  const own = records.filter(function (x) { return x.recording === r; });
  let acked = 0;
  for (let i = 0; i < own.length; i++) if (own[i].kind === KIND_ACK && own[i].seq > acked) acked = own[i].seq;
  const seals = own.filter(function (x) { return x.kind === KIND_SEAL; });
  return own.filter(function (x) { return x.kind === KIND_START; })
    .concat(own.filter(function (x) { return x.kind === KIND_CHUNK && x.seq > acked; }))
    .concat(seals.slice(seals.length - 1));
}
