// Boot and recovery: the device files (rec.cfg read once, rec.key written at each recording's start
// and seal), and the close of a recording a reboot left open (SPEC.md R-FS, R-SEAL-4). Runs at boot
// and at a recording's edges, never per chunk. Espruino subset.
//
// At boot: a recording open in rec.key is closed with a seal flagged INTERRUPTED over the last chunk
// the queue holds (a seal already in the queue is adopted instead), and its Z is what the next
// genesis binds. A start missing from the queue (power cut right after rec.key) is put back from
// the genesis kept in rec.key.
import { copyBytes, fromHex, toHex, wipe, getU64 } from "../../protocol/bytes.js";
import { deviceIdBytes, parseHeader } from "../../protocol/blocks.js";
import { ChainWriter } from "../../protocol/writer.js";
import { decode, encode } from "../../protocol/codec.js";
import type { Obj } from "../../protocol/codec.js";
import { END_REBOOT, FLAG_INTERRUPTED, HASH_LEN, NONCE_LEN, SCHEMA_VERSION } from "../../protocol/constants.js";
import { CONFIG_FILE, KEY_FILE, checkConfig, checkKeys, withDefaults } from "../../protocol/device-files.js";
import type { KeyState } from "../../protocol/device-files.js";
import { KIND_CHUNK, KIND_SEAL, KIND_START } from "./queue.js";
import type { Recorder } from "./recorder.js";

/** Ack-record note: chain value, byte total and end time (u64 each) at the last chunk, and its beacon. */
export const NOTE_LEN = HASH_LEN + 16 + NONCE_LEN;

/** The case tag a recording's start carried (the genesis binds it; a Command may change `case` later). */
function startCaseTag(op: { case: string }): string {
  const sc = (op as { sc?: string }).sc;
  return sc !== undefined ? sc : op.case;
}

/** Read rec.cfg and rec.key into the recorder. Returns "" or why not (a CONFIG_* or KEYS_* code). */
export function loadConfig(rec: Recorder): string {
  const kv = rec.hw.kv;
  let c: unknown = null;
  let k: unknown = null;
  try { c = JSON.parse(kv.read(CONFIG_FILE) || "null"); } catch (e) { return "CONFIG_JSON"; }
  const why = checkConfig(c);
  if (why) return why;
  try { k = JSON.parse(kv.read(KEY_FILE) || "null"); } catch (e) { return "KEYS_JSON"; }
  const kwhy = checkKeys(k);
  if (kwhy) return kwhy;
  const cfg = withDefaults(c as { [k: string]: unknown });
  rec.cfg = cfg;
  rec.keys = k as KeyState;
  rec.dev = deviceIdBytes(cfg.id);
  rec.nextTag = cfg.case;
  rec.chunkLen = cfg.chunk;
  rec.preS = cfg.pre;
  rec.statusS = cfg.status;
  return "";
}

/** Write rec.key, then compact so the previous key leaves the flash (R-FS-1, R-FS-2). */
export function saveKeys(rec: Recorder, k: KeyState, compact: boolean): boolean {
  const kv = rec.hw.kv;
  const text = JSON.stringify(k);
  // A write that does not fit erases the old file and fails (Espruino's Storage): make room first.
  if (kv.free() < text.length + 512) kv.compact();
  if (!kv.write(KEY_FILE, text)) {
    rec.fail("KEYS_WRITE", "could not write " + KEY_FILE);
    return false;
  }
  if (compact) kv.compact();
  rec.keys = k;
  return true;
}

/** rec.key once recording r is sealed with value z: nothing open, r the last sealed. */
export function closeKeys(rec: Recorder, r: number, z: Uint8Array): void {
  const k = rec.keys as KeyState;
  saveKeys(rec, { v: k.v, j: k.j, s: k.s, next: k.next, ls: r, lz: toHex(z), open: null }, true);
}

/** Close a recording left open by a reboot (R-SEAL-4); see the top of the file. */
export function recover(rec: Recorder): void {
  const k = rec.keys as KeyState;
  const op = k.open;
  if (!op) return;
  const r = op.r;
  const held = rec.queue.heldRange(r);
  if (held && held.sealed) {
    // The seal was stored before the power cut; only rec.key was not updated.
    const z = storedSealValue(rec, r);
    if (z) {
      closeKeys(rec, r, z);
      rec.log("recovery: recording " + r + " was sealed");
      return;
    }
  }
  if (!held) {
    const start = encode("Uplink", { schema: SCHEMA_VERSION, start: { genesis: fromHex(op.g), caseTag: startCaseTag(op) } });
    const res = rec.queue.put(r, 0, KIND_START, [start]);
    if (res) rec.fail("RECOVERY_START", res);
  }
  const t = tail(rec, r);
  const k1 = fromHex(op.k1);
  const w = new ChainWriter(rec.sha, rec.dev, r, k1, t.seq, t.chain, t.total);
  wipe(k1);
  rec.writer = w;
  // The seal carries the last beacon the recording had (the one in its last chunk): R-TIME-2.
  const ok = rec.sealOpen(FLAG_INTERRUPTED, t.end, t.beacon, END_REBOOT);
  rec.log("recovery: recording " + r + " sealed as interrupted after chunk " + t.seq + (ok ? "" : " FAILED"));
}

/** The seal value of recording r's seal in the queue, or null when it holds none. */
function storedSealValue(rec: Recorder, r: number): Uint8Array | null {
  const p = rec.queue.pending(r);
  for (let i = 0; i < p.length; i++) {
    if (p[i].kind !== KIND_SEAL) continue;
    const b = rec.queue.load(p[i]);
    if (!b) return null;
    const s = decode("Uplink", b).seal as Obj;
    return rec.cc.sealValue(s.block as Uint8Array);
  }
  return null;
}

/**
 * Last chunk the queue holds of the open recording r: its seq, chain value, the byte total through
 * it and its end time. Chunks already freed are covered by the note of the newest ack record.
 */
function tail(rec: Recorder, r: number): { seq: number; chain: Uint8Array; total: number; end: number; beacon: Uint8Array } {
  const op = (rec.keys as KeyState).open as { c0: string; t0: number; g: string };
  const q = rec.queue;
  const n = q.note(r);
  let seq = 0, total = 0, end = op.t0;
  let chain = fromHex(op.c0);
  // The genesis block's beacon field (R-GEN-1: bytes 72..88).
  let beacon = fromHex(op.g.substr(144, 32));
  if (n && n.note.length >= NOTE_LEN) {
    seq = n.seq;
    chain = copyBytes(n.note.subarray(0, HASH_LEN));
    const dv = new DataView(n.note.buffer, n.note.byteOffset + HASH_LEN, 16);
    total = getU64(dv, 0);
    end = getU64(dv, 8);
    beacon = copyBytes(n.note.subarray(HASH_LEN + 16, NOTE_LEN));
  }
  const p = q.pending(r, 0, seq);
  let last = null;
  for (let i = 0; i < p.length; i++) {
    if (p[i].kind !== KIND_CHUNK || p[i].seq <= seq) continue;
    total += p[i].payloadLength;
    last = p[i];
  }
  if (last) {
    const b = q.load(last);
    if (b) {
      const c = decode("Uplink", b).chunk as Obj;
      const hd = c.header as Uint8Array;
      chain = rec.cc.chunkValue(hd);
      const f = parseHeader(hd);
      end = f.timeMs + f.durationMs;
      beacon = copyBytes(f.beacon);
      seq = last.seq;
    }
  }
  return { seq: seq, chain: chain, total: total, end: end, beacon: beacon };
}
