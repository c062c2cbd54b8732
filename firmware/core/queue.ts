// The recorder's durable upload queue (DESIGN.md section 4, SPEC.md R-ACK). Espruino subset.
//
// A message (start, chunk, seal) is appended to storage, durably, before it is published, and is
// freed only when an authenticated Ack covers it (checking the Ack is the caller's job: this file
// frees on whatever `ack` it is given, never above its `cumulative`). The bytes stored are the
// encoded message exactly as published, so a resend after a timeout or a reboot sends identical bytes.
//
// Layout: per recording r, segment files of records (8.3 names, for a FAT SD card), each file only
// ever appended to and removed whole. The record layout is in protocol/queue-records.ts, the
// contract with the tools that read a card; this file says why it is so.
//
// Why parts: a chunk is published as prefix ‖ payload ‖ suffix (codec.ts chunkFrame) so the
// payload is never copied; the queue stores those same parts and hashes each one natively, which
// costs one hash over the payload plus three small ones, with no concatenation and no per-byte loop
// (DESIGN.md section 7). A CRC would need a per-byte JavaScript loop: 350 times slower on a board.
//
// Why these rules (they are what makes recovery simple):
//   - Appends only. "Durable" is the store's promise that an append that returned is on the
//     medium; only the append in progress at power loss can be torn, and it is at the end of its
//     file. So recovery checks every record's structure, verifies the check of each file's LAST
//     record (the only one that can be torn: hashing a whole backlog at boot would be slow on a
//     board), drops a torn tail, and never appends to that file again: after open, every recording
//     writes to a fresh segment. A torn tail is never truncated in place (Espruino's fs has no
//     truncate, and rewriting a file is not atomic); its bytes go when its segment is freed.
//   - A start record gets a segment of its own: a start is freed only on ACK_SEALED, and a segment
//     is removed whole, so chunks beside it would be kept until the seal.
//   - An Ack is persisted as an ack record in the current segment before anything is removed, so
//     acknowledged chunks stay freed after a reboot even when their segment is only partly freed.
//     A segment is removed when it is not the current one, holds no start or seal, and all its
//     chunks are acknowledged: the newest ack record is always in the current segment or in one
//     that still holds unacknowledged chunks.
//   - Storage full of unacknowledged evidence: `put` refuses (STORAGE_FULL) and never overwrites.
//     Chunks and starts must leave `reserve` bytes free, a seal only ACK_SPACE, and ack records
//     need none of it: so after STORAGE_FULL the recorder can still seal and still be acknowledged.
import type { Sha256 } from "../../protocol/bytes.js";
import { KIND_ACK, KIND_CHUNK, KIND_SEAL, KIND_START, MAX_BODY, MAX_PARTS, RECORD_HEADER, SEGMENT_PREFIX, segmentName } from "../../protocol/queue-records.js";
import type { HeldRange } from "../../protocol/queue-records.js";

/**
 * The storage the queue runs on, injected by the host.
 *
 * `append` is the durable write: it returns true only after the bytes are on the medium as far as
 * the platform can tell. On a board with `fs` (the SD card): the write calls returned and the file
 * was closed. On Node: after fsync of the file (and of the directory when the file is new). It
 * returns false when the write failed (the file may then hold a partial record: the queue stops
 * appending to it). The parts are written back to back, in order.
 */
export interface QueueStore {
  append(name: string, parts: Uint8Array[]): boolean;
  /** `length` bytes at `offset`, or null if the file is missing or shorter. */
  read(name: string, offset: number, length: number): Uint8Array | null;
  /** Byte size of the file, 0 if missing. */
  size(name: string): number;
  /** Remove the file (durably, as append); no error if missing. */
  remove(name: string): void;
  /** Names of the files whose name starts with `prefix`, any order. */
  list(prefix: string): string[];
  /** Bytes that can still be written. */
  free(): number;
}

// The layout is a contract with tools that read a card (protocol/queue-records.ts).
export { KIND_START, KIND_CHUNK, KIND_SEAL, KIND_ACK, RECORD_HEADER, MAX_BODY, segmentName };
export type { HeldRange };
/** What a seal record may still take after STORAGE_FULL (a Seal envelope is about 200 bytes). */
export const ACK_SPACE = 1024;

const PREFIX = SEGMENT_PREFIX;

/** `put` results: "" stored durably, else why not. */
export type PutResult = "" | "STORAGE_FULL" | "SEQ" | "SEALED" | "WRITE_FAILED" | "TOO_LARGE";

export interface Dropped {
  file: string;
  offset: number;
  reason: string;
}

/** Where one stored message is; `QueueStore.read` or `Queue.load` fetches its bytes. */
export interface PendingRecord {
  recording: number;
  seq: number;
  kind: number;
  file: string;
  offset: number;
  length: number;
  /** Length of part 1 (a chunk's payload, as the recorder stores it). */
  payloadLength: number;
}

export interface QueueOptions {
  /** A segment is closed for appends once it reaches this size (default 256 KiB). */
  segmentBytes: number;
  /** Bytes a chunk or start must leave free (default 8 KiB), so seals and acks still fit. */
  reserve: number;
  /** Verify the check of every record at open, not only the last of each file (tests). */
  verifyAll: boolean;
}

interface Segment {
  idx: number;
  name: string;
  size: number; // bytes in the file
  end: number; // end of its last valid record: nothing after it is read
  /** Lowest and highest chunk seq in the file; 0 when none. */
  minSeq: number;
  maxSeq: number;
  pinned: boolean; // holds a start or a seal: freed only on ACK_SEALED
  torn: boolean; // never appended to again
}

interface Rec {
  id: number;
  acked: number; // cumulative: every chunk seq <= acked is freed
  top: number; // highest chunk seq written
  hasStart: boolean;
  sealSeq: number; // -1: no seal held
  segs: Segment[]; // ascending idx
  cur: Segment | null; // the segment appends go to
  rollNext: boolean; // the next append opens a new segment
  note: Uint8Array | null; // the caller's note in the newest ack record (see ack)
  noteSeq: number; // the top that ack record was written at
}

/** What a start, chunk or seal record tells its recording and segment: shared by recovery and put. */
function track(r: Rec, seg: Segment, kind: number, seq: number): void {
  if (kind === KIND_CHUNK) {
    if (!seg.minSeq) seg.minSeq = seq;
    seg.maxSeq = seq;
    if (seq > r.top) r.top = seq;
  } else if (kind === KIND_START) {
    r.hasStart = true;
    seg.pinned = true;
  } else {
    r.sealSeq = seq;
    seg.pinned = true;
  }
}

/** Ours: `q`, 7 hex digits, `.`, 3 hex digits (no RegExp: keep the board's code small). */
const isSegmentName = function (n: string): boolean {
  if (n.length !== 12 || n.charAt(0) !== PREFIX || n.charAt(8) !== ".") return false;
  const digits = n.substr(1, 7) + n.substr(9, 3);
  for (let i = 0; i < digits.length; i++) if ("0123456789abcdef".indexOf(digits.charAt(i)) < 0) return false;
  return true;
};

const getU32 = function (b: Uint8Array, p: number): number {
  return ((b[p] << 24) >>> 0) + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3];
};

export class Queue {
  store: QueueStore;
  sha: Sha256;
  opts: QueueOptions;
  recs: { [id: string]: Rec };
  /** What the last `open` dropped. */
  dropped: Dropped[];
  hdr: Uint8Array; // reused header buffer
  hdv: DataView; // its view: native big-endian writes, no helper call per field
  chk: Uint8Array; // reused check input: header 0..24 and three part hashes

  constructor(store: QueueStore, sha: Sha256, opts?: Partial<QueueOptions>) {
    this.store = store;
    this.sha = sha;
    this.opts = {
      segmentBytes: opts && opts.segmentBytes ? opts.segmentBytes : 262144,
      reserve: opts && opts.reserve !== undefined ? opts.reserve : 8192,
      verifyAll: !!(opts && opts.verifyAll),
    };
    this.recs = {};
    this.dropped = [];
    this.hdr = new Uint8Array(RECORD_HEADER);
    this.hdv = new DataView(this.hdr.buffer);
    this.chk = new Uint8Array(24 + 32 * MAX_PARTS);
  }

  /**
   * The 8-byte check of a header (bytes 0..24 filled) over its parts. `hashes[i]`, when given, is
   * SHA-256 of parts[i] already computed by the caller (the recorder passes the payload hash the
   * chunk header holds), so the payload is hashed once per chunk, not twice.
   */
  check(hdr: Uint8Array, parts: Uint8Array[], hashes?: (Uint8Array | null)[]): Uint8Array {
    const c = this.chk;
    c.fill(0);
    c.set(hdr.subarray(0, 24), 0);
    for (let i = 0; i < parts.length; i++) c.set(hashes && hashes[i] ? hashes[i] as Uint8Array : this.sha(parts[i]), 24 + 32 * i);
    return this.sha(c).subarray(0, 8);
  }

  /**
   * Recovery: scan every segment, rebuild the index, drop torn tails (reported in the result and
   * in `dropped`), remove files that hold no valid record. Call once, before anything else.
   */
  open(): { dropped: Dropped[] } {
    this.recs = {};
    this.dropped = [];
    const names = this.store.list(PREFIX).filter(isSegmentName);
    names.sort(); // fixed-width hex: lexical order is (recording, segment) order
    for (let i = 0; i < names.length; i++) this.scan(names[i]);
    return { dropped: this.dropped };
  }

  rec(id: number, create: boolean): Rec | null {
    let r = this.recs[id];
    if (!r && create) {
      r = { id: id, acked: 0, top: 0, hasStart: false, sealSeq: -1, segs: [], cur: null, rollNext: false, note: null, noteSeq: 0 };
      this.recs[id] = r;
    }
    return r || null;
  }

  scan(name: string): void {
    const id = parseInt(name.substr(1, 7), 16);
    const seg: Segment = { idx: parseInt(name.substr(9, 3), 16), name: name, size: this.store.size(name), end: 0, minSeq: 0, maxSeq: 0, pinned: false, torn: false };
    let off = 0;
    let valid = 0;
    let reason = "";
    const r = this.rec(id, true) as Rec;
    while (off < seg.size) {
      const h = this.store.read(name, off, RECORD_HEADER);
      if (!h || seg.size - off < RECORD_HEADER) { reason = "short header"; break; }
      const kind = h[2], np = h[3];
      const lens = [getU32(h, 12), getU32(h, 16), getU32(h, 20)];
      const len = lens[0] + lens[1] + lens[2];
      if (h[0] !== 0x51 || h[1] !== 0x52 || kind < KIND_START || kind > KIND_ACK || np > MAX_PARTS || getU32(h, 4) !== id || len > MAX_BODY) { reason = "bad header"; break; }
      const end = off + RECORD_HEADER + len;
      if (end > seg.size) { reason = "short body"; break; }
      if (end === seg.size || this.opts.verifyAll) {
        const body = len ? this.store.read(name, off + RECORD_HEADER, len) : new Uint8Array(0);
        if (!body) { reason = "short body"; break; }
        const parts: Uint8Array[] = [];
        let p = 0;
        for (let i = 0; i < np; i++) { parts.push(body.subarray(p, p + lens[i])); p += lens[i]; }
        const c = this.check(h, parts);
        let same = true;
        for (let i = 0; i < 8; i++) if (c[i] !== h[24 + i]) same = false;
        if (!same) { reason = "check"; break; }
      }
      const seq = getU32(h, 8);
      if (kind !== KIND_ACK) track(r, seg, kind, seq);
      else {
        // An ack record: seq = cumulative, body = the top seq when it was written (so a recording
        // whose chunk segments are all freed still knows how far it got), then the caller's note.
        if (seq > r.acked) r.acked = seq;
        if (len >= 4) {
          const b = this.store.read(name, off + RECORD_HEADER, len) as Uint8Array;
          const last = getU32(b, 0);
          if (last > r.top) r.top = last;
          if (len > 4 && last >= r.noteSeq) {
            r.note = b.subarray(4);
            r.noteSeq = last;
          }
        }
      }
      valid++;
      off = end;
    }
    seg.end = off;
    if (reason) {
      seg.torn = true;
      this.dropped.push({ file: name, offset: off, reason: reason });
    }
    if (!valid) {
      // Nothing in it was ever a completed append: it is the torn first write of a new file.
      this.store.remove(name);
      if (!r.segs.length && !r.hasStart && r.sealSeq < 0 && !r.acked && !r.top) delete this.recs[id];
      return;
    }
    r.segs.push(seg);
  }

  /**
   * Store one message durably before it is published. `parts` are the bytes exactly as they will
   * be published (for a chunk, chunkFrame's prefix, the payload and the suffix). A chunk's seq
   * must follow the recording's last; a seal's seq is its last seq n and must equal that.
   */
  put(recording: number, seq: number, kind: number, parts: Uint8Array[], hashes?: (Uint8Array | null)[]): PutResult {
    let len = 0;
    for (let i = 0; i < parts.length; i++) len += parts[i].length;
    if (parts.length > MAX_PARTS || len > MAX_BODY) return "TOO_LARGE";
    const existing = this.rec(recording, false);
    if (existing && existing.sealSeq >= 0) return "SEALED";
    if (kind === KIND_START ? existing !== null && (existing.hasStart || existing.top > 0)
      : kind === KIND_CHUNK ? seq !== (existing ? existing.top : 0) + 1
      : kind === KIND_SEAL ? seq !== (existing ? existing.top : 0)
      : true) return "SEQ";
    const need = RECORD_HEADER + len + (kind === KIND_SEAL ? ACK_SPACE : this.opts.reserve);
    if (this.store.free() < need) return "STORAGE_FULL";
    const r = this.rec(recording, true) as Rec;
    // A start gets a segment of its own (see the top of the file).
    if (kind === KIND_START) r.rollNext = true;
    const seg = this.target(r);
    if (kind === KIND_START) r.rollNext = true;
    if (!this.write(seg, kind, recording, seq, parts, hashes)) return "WRITE_FAILED";
    track(r, seg, kind, seq);
    return "";
  }

  /** The segment the next append of `r` goes to, opening a new one when needed. */
  target(r: Rec): Segment {
    const c = r.cur;
    if (c && !c.torn && !r.rollNext && c.size < this.opts.segmentBytes) return c;
    const last = r.segs.length ? r.segs[r.segs.length - 1].idx : -1;
    const seg: Segment = { idx: last + 1, name: segmentName(r.id, last + 1), size: 0, end: 0, minSeq: 0, maxSeq: 0, pinned: false, torn: false };
    r.segs.push(seg);
    r.cur = seg;
    r.rollNext = false;
    return seg;
  }

  /** Append one record; on failure the file may hold a partial record: never append to it again. */
  write(seg: Segment, kind: number, recording: number, seq: number, parts: Uint8Array[], hashes?: (Uint8Array | null)[]): boolean {
    const h = this.hdr;
    h.fill(0);
    h[0] = 0x51;
    h[1] = 0x52;
    h[2] = kind;
    h[3] = parts.length;
    const dv = this.hdv;
    dv.setUint32(4, recording);
    dv.setUint32(8, seq);
    let len = 0;
    for (let i = 0; i < parts.length; i++) { dv.setUint32(12 + 4 * i, parts[i].length); len += parts[i].length; }
    h.set(this.check(h, parts, hashes), 24);
    const all = [h];
    for (let i = 0; i < parts.length; i++) all.push(parts[i]);
    let ok = false;
    try {
      ok = this.store.append(seg.name, all);
    } finally {
      // Thrown (power loss in tests) or refused: the file's tail is unknown from here on.
      if (!ok) seg.torn = true;
    }
    if (ok) {
      seg.size += RECORD_HEADER + len;
      seg.end = seg.size;
    }
    return ok;
  }

  /**
   * Apply an authenticated Ack: frees chunks with seq <= cumulative (never above it), and, when
   * `sealed` (ACK_SEALED) covers the seal's last seq, the whole recording with its start and seal.
   * Returns the number of chunks newly freed. The Ack is made durable (an ack record) before any
   * file is removed. `note` (optional, small) is stored in that record and given back by `note()`
   * after a reboot: the recorder keeps there what it needs to seal a recording whose chunks are
   * all freed (chain value and byte total at the last chunk written).
   */
  ack(recording: number, cumulative: number, sealed: boolean, note?: Uint8Array): number {
    const r = this.rec(recording, false);
    if (!r) return 0;
    const upTo = cumulative < r.top ? cumulative : r.top; // nothing above what was written
    if (sealed && r.sealSeq >= 0 && upTo >= r.top) {
      // The gateway holds the seal and every chunk: the recording goes, start and seal included.
      // (Without a seal held here, ACK_SEALED frees chunks only: the recorder seals after a reboot.)
      const freed = r.top - r.acked;
      for (let i = 0; i < r.segs.length; i++) this.store.remove(r.segs[i].name);
      delete this.recs[recording];
      return freed;
    }
    if (upTo <= r.acked) return 0;
    const body = new Uint8Array(4 + (note ? note.length : 0));
    new DataView(body.buffer).setUint32(0, r.top);
    if (note) {
      body.set(note, 4);
      r.note = body.subarray(4);
      r.noteSeq = r.top;
    }
    const seg = this.target(r);
    // Not durable: free nothing; the gateway acks again (R-ACK-3 on the next Hello).
    if (!this.write(seg, KIND_ACK, recording, upTo, [body])) return 0;
    const freed = upTo - r.acked;
    r.acked = upTo;
    const keep: Segment[] = [];
    for (let i = 0; i < r.segs.length; i++) {
      const s = r.segs[i];
      if (s !== r.cur && !s.pinned && s.maxSeq <= upTo) this.store.remove(s.name);
      else keep.push(s);
    }
    r.segs = keep;
    return freed;
  }

  /**
   * Unacknowledged messages of a recording in the order to (re)send them: start, chunks by seq,
   * seal. Reads only record headers; `max` bounds the list (a board keeps a small window).
   */
  pending(recording: number, max?: number, after?: number): PendingRecord[] {
    const out: PendingRecord[] = [];
    const r = this.rec(recording, false);
    if (!r) return out;
    const limit = max || 1e9;
    // Chunks at or below `after` are left out (already sent on this connection): segments holding
    // only those are not even read, so a long backlog costs one read per window, not per segment.
    const skip = after && after > r.acked ? after : r.acked;
    let seal: PendingRecord | null = null;
    for (let i = 0; i < r.segs.length && out.length < limit; i++) {
      const s = r.segs[i];
      if (!s.pinned && s.maxSeq <= skip) continue;
      let off = 0;
      while (off + RECORD_HEADER <= s.end && out.length < limit) {
        const h = this.store.read(s.name, off, RECORD_HEADER);
        if (!h) break;
        const len = getU32(h, 12) + getU32(h, 16) + getU32(h, 20);
        const kind = h[2], seq = getU32(h, 8);
        const p: PendingRecord = { recording: recording, seq: seq, kind: kind, file: s.name, offset: off + RECORD_HEADER, length: len, payloadLength: getU32(h, 16) };
        if (kind === KIND_START) out.unshift(p);
        else if (kind === KIND_CHUNK && seq > skip) out.push(p);
        else if (kind === KIND_SEAL) seal = p;
        off += RECORD_HEADER + len;
      }
    }
    if (seal && out.length < limit) out.push(seal);
    return out;
  }

  /** The note of the newest ack record of a recording (see ack) and the top seq it was written at. */
  note(recording: number): { seq: number; note: Uint8Array } | null {
    const r = this.rec(recording, false);
    return r && r.note ? { seq: r.noteSeq, note: r.note } : null;
  }

  /** The stored message bytes of a pending record, exactly as first published. */
  load(p: PendingRecord): Uint8Array | null {
    return this.store.read(p.file, p.offset, p.length);
  }

  /** One Held per recording the queue holds anything of (SPEC R-MSG-2), by recording id. */
  held(): HeldRange[] {
    const out: HeldRange[] = [];
    const ids = Object.keys(this.recs);
    for (let i = 0; i < ids.length; i++) {
      const r = this.recs[ids[i]];
      const sealed = r.sealSeq >= 0;
      out.push({ recording: r.id, firstSeq: r.acked < r.top ? r.acked + 1 : 0, lastSeq: r.top, sealed: sealed, open: !sealed });
    }
    out.sort(function (a, b) { return a.recording - b.recording; });
    return out;
  }

  /** What the queue holds of recording `r`, or null when nothing. */
  heldRange(r: number): HeldRange | null {
    const h = this.held();
    for (let i = 0; i < h.length; i++) if (h[i].recording === r) return h[i];
    return null;
  }

  /**
   * Records still held, over all recordings (Status queue depth, SPEC R-MSG-7): every chunk not yet
   * acknowledged, and every start and seal, which only ACK_SEALED frees. A device holding only a
   * seal has not drained: the gateway may not have it.
   */
  depth(): number {
    let n = 0;
    const ids = Object.keys(this.recs);
    for (let i = 0; i < ids.length; i++) {
      const r = this.recs[ids[i]];
      n += r.top - r.acked + (r.hasStart ? 1 : 0) + (r.sealSeq >= 0 ? 1 : 0);
    }
    return n;
  }

  /** Bytes the queue's files occupy, torn tails and freed-but-not-yet-removed records included. */
  bytes(): number {
    let n = 0;
    const ids = Object.keys(this.recs);
    for (let i = 0; i < ids.length; i++) {
      const segs = this.recs[ids[i]].segs;
      for (let j = 0; j < segs.length; j++) n += segs[j].size;
    }
    return n;
  }
}
