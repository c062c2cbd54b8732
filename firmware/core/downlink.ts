// The downlink: every message the gateway sends this device (SPEC.md R-DL), checked with the
// downlink key, the Hello's nonce and the counter before anything is freed or obeyed. Then the Ack
// (its fixed-layout block read in place: the fast path), the TimeBeacon, Config, Command and
// Revoke. Espruino subset.
import { copyBytes, setU64 } from "../../protocol/bytes.js";
import { parseAckBlock } from "../../protocol/blocks.js";
import type { DownlinkGuard } from "../../protocol/downlink.js";
import { decode, readDownlink } from "../../protocol/codec.js";
import type { Obj } from "../../protocol/codec.js";
import { ACK_SEALED, ACK_UNKNOWN, CMD_SET_CASE_TAG, CMD_START, CMD_STOP, REC_IDLE, REC_RECORDING, REC_REVOKED, REC_STOPPED_FULL } from "../../protocol/schema.js";
import { END_COMMAND, HASH_LEN, MAX_PAYLOAD, NONCE_LEN } from "../../protocol/constants.js";
import { CONFIG_FILE, KEY_FILE, MIN_CHUNK } from "../../protocol/device-files.js";
import type { KeyState } from "../../protocol/device-files.js";
import type { Recorder } from "./recorder.js";
import { NOTE_LEN, saveKeys } from "./recovery.js";

/** DownBody's ack_block key byte: field 6, wire type 2 (recorder.proto). */
const ACK_BLOCK_KEY = 0x32;

/** A downlink message arrived on the device's topic: check it (R-DL), then act on its body. */
export function downlink(rec: Recorder, payload: Uint8Array): void {
  const g = rec.guard as DownlinkGuard;
  let d: Obj, body: Obj;
  try {
    // The canonical shape in a few statements; anything else through the decoder.
    d = (readDownlink(payload) as Obj | null) || decode("Downlink", payload);
  } catch (e) {
    g.rejected++;
    rec.fail("DOWNLINK_DECODE", (e as { code?: string }).code || "");
    return;
  }
  const why = g.check((d.counter as number) || 0, (d.body as Uint8Array) || new Uint8Array(0), (d.mac as Uint8Array) || new Uint8Array(0));
  const up = rec.up;
  if (why) {
    rec.stats.rejected++;
    rec.fail(why, "downlink ignored");
    if (why === "DOWNLINK_MAC") {
      if (up.macRow % 4 < 3) up.macRow++;
      helloAgain(rec);
    }
    return;
  }
  up.macRow -= up.macRow % 4; // accepted: the row of refusals ends (R-DL-6)
  const bb = d.body as Uint8Array;
  // The common case, an Ack block (R-ACKB-1): DownBody's field 6 with a one-byte length, read in
  // place with a few DataView calls, where the protobuf Ack cost a nested decode in JavaScript.
  if (bb.length > 2 && bb[0] === ACK_BLOCK_KEY && bb[1] === bb.length - 2) {
    const a = parseAckBlock(bb.subarray(2));
    if (a) onAck(rec, a as unknown as Obj);
    else rec.fail("DOWNLINK_DECODE", "ack block");
    return;
  }
  try {
    body = decode("DownBody", bb);
  } catch (e) {
    rec.fail("DOWNLINK_DECODE", (e as { code?: string }).code || "");
    return;
  }
  // DownBody is a oneof: decode leaves at most one member set (what which() would name, without
  // parsing the schema once more per Ack).
  if (body.ackBlock) {
    const a = parseAckBlock(body.ackBlock as Uint8Array);
    if (a) onAck(rec, a as unknown as Obj);
    else rec.fail("DOWNLINK_DECODE", "ack block");
  } else if (body.ack) onAck(rec, body.ack as Obj);
  else if (body.beacon) timeBeacon(rec, body.beacon as Obj);
  else if (body.config) onConfig(rec, body.config as Obj);
  else if (body.command) onCommand(rec, body.command as Obj);
  else if (body.revoke) onRevoke(rec, body.revoke as Obj);
}

/**
 * R-DL-6: the third downlink message in a row refused with DOWNLINK_MAC on this connection (none
 * accepted between them) says Hello again with a fresh nonce: the gateway may never have had this
 * connection's Hello. At most once per helloWaitMs after the last Hello, so a forger can't make the
 * device loop; the Hello frees and obeys nothing. It also waits for a free slot in the publish window
 * (a Hello the client can't take would be lost, its nonce opened all the same); one held back goes at
 * the next refusal or housekeeping tick. The count and the last Hello's uptime are `up.macRow`
 * (uplink.ts).
 */
export function helloAgain(rec: Recorder): void {
  const up = rec.up;
  const m = rec.mqtt;
  const n = up.macRow % 4;
  if (n < 3 || !up.online || !m || !m.canPublish() || rec.hw.uptime() - (up.macRow - n) / 4 < rec.o.helloWaitMs) return;
  rec.log("hello again: 3 downlinks in a row refused (DOWNLINK_MAC)");
  up.sayHello();
}

/**
 * An authenticated Ack: the queue frees what it covers (persisting the note a reboot needs to seal
 * the open recording), the uplink learns where the gateway stands, storage full may end.
 */
export function onAck(rec: Recorder, a: Obj): void {
  const r = (a.recording as number) || 0;
  const state = (a.state as number) || 0;
  // What the gateway stores, or recorded as lost on the device (R-ACK-2): all of it may go.
  const cum = Math.max((a.cumulative as number) || 0, (a.settled as number) || 0);
  const up = rec.up;
  rec.stats.acked++;
  if (state !== ACK_UNKNOWN) {
    const w = rec.writer;
    let note: Uint8Array | undefined;
    if (w && w.recordingId === r) {
      // What a reboot needs to seal this recording once its chunks are freed (recovery.ts tail()).
      note = new Uint8Array(NOTE_LEN);
      note.set(w.prev);
      const dv = new DataView(note.buffer, HASH_LEN, 16);
      setU64(dv, 0, w.total);
      setU64(dv, 8, rec.lastEnd);
      note.set(rec.lastBeacon, HASH_LEN + 16);
    }
    rec.stats.freed += rec.queue.ack(r, cum, state === ACK_SEALED, note);
  }
  up.ackIn(r, state, cum);
  if (state !== ACK_UNKNOWN && rec.state === REC_STOPPED_FULL && rec.hw.store.free() >= rec.o.reserve + 8 * rec.chunkLen) {
    rec.state = REC_IDLE;
    rec.alarm = rec.low;
    rec.hw.led("idle");
    rec.log("storage free again");
    if (rec.preS > 0) rec.mediaStart();
  }
  // Ready once every held recording has an answer; then what waits goes.
  if (!up.ready && up.awaiting <= 0) up.becomeReady();
  else up.pump();
}

/** TimeBeacon (R-TIME-2): its nonce enters every later header, genesis and seal. */
function timeBeacon(rec: Recorder, b: Obj): void {
  const n = b.nonce as Uint8Array;
  if (!n || n.length !== NONCE_LEN) return;
  const t = (b.timeMs as number) || 0;
  const h = rec.hw;
  // A board without a kept clock boots in 1970: take the station's time (the offset then says so).
  if (h.setClock && h.now() < 1500000000000 && t > 1500000000000) {
    h.setClock(t);
    rec.log("clock set from beacon");
  }
  rec.bnonce = copyBytes(n);
  rec.clockOffset = t - h.now();
}

function onConfig(rec: Recorder, c: Obj): void {
  // 0 means unchanged (R-MSG-10). Applies until reboot; rec.cfg keeps the provisioned values.
  const s = (c.statusIntervalS as number) || 0;
  const pre = c.preEventS as number;
  const cb = (c.chunkBytes as number) || 0;
  if (s) rec.statusS = s;
  if (pre && pre <= 600) rec.preS = pre;
  if (cb >= MIN_CHUNK && cb <= MAX_PAYLOAD && rec.state !== REC_RECORDING) {
    rec.chunkLen = cb;
    if (rec.mediaOn) { rec.stopMedia(); rec.mediaStart(); }
  }
  if (rec.preS > 0 && rec.state === REC_IDLE) rec.mediaStart();
  rec.log("config: status " + rec.statusS + " s, pre-event " + rec.preS + " s, chunk " + rec.chunkLen + " B");
}

/** Command (R-MSG-10): start, stop (the seal says COMMAND) or a new case tag. */
export function onCommand(rec: Recorder, c: Obj): void {
  const a = (c.action as number) || 0;
  const tag = (c.caseTag as string) || "";
  if (a === CMD_START) rec.record(tag);
  else if (a === CMD_STOP) rec.stop(END_COMMAND);
  else if (a === CMD_SET_CASE_TAG) setCaseTag(rec, tag);
}

/** Case tag for the open recording's seal and for later recordings (R-MSG-10). */
export function setCaseTag(rec: Recorder, tag: string): void {
  rec.nextTag = tag;
  const k = rec.keys as KeyState;
  if (k.open) {
    const op = k.open as unknown as { [f: string]: unknown };
    const nop: { [f: string]: unknown } = {};
    const f = Object.keys(op);
    for (let i = 0; i < f.length; i++) nop[f[i]] = op[f[i]];
    if (nop.sc === undefined) nop.sc = op.case;
    nop.case = tag;
    // The same keys as before: no compaction needed.
    saveKeys(rec, { v: k.v, j: k.j, s: k.s, next: k.next, ls: k.ls, lz: k.lz, open: nop as unknown as KeyState["open"] }, false);
  }
  rec.log("case tag set" + (k.open ? " for recording " + k.open.r + " and later" : " for the next recording"));
}

/** Authenticated Revoke (R-REV-1): wipe the keys, stop recording, say so. */
function onRevoke(rec: Recorder, v: Obj): void {
  const h = rec.hw;
  rec.stopMedia();
  if (rec.writer) rec.writer.destroy();
  rec.writer = null;
  h.kv.erase(KEY_FILE);
  h.kv.erase(CONFIG_FILE);
  h.kv.compact();
  rec.keys = null;
  rec.state = REC_REVOKED;
  h.led("revoked");
  rec.fail("REVOKED", "revoked by the station: " + ((v.reason as string) || "") + "; keys wiped");
  rec.halt();
}
