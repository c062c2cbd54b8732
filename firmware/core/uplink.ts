// The uplink window: what goes out on this connection, in order, and what the gateway last said of it
// (SPEC.md R-ACK). Hello after SUBACK and the wait for its answers, the one publish path for a
// start, a chunk or a seal, the pump that sends what the queue holds and this connection has not
// sent, resends with backoff, and the Status heartbeat. Espruino subset.
//
// A message is published only once the queue holds it (recorder.ts stores it first); everything not
// sent at once stays queued, and `behind` tells the pump to look.
import { fromHex } from "../../protocol/bytes.js";
import { controlTag } from "../../protocol/downlink.js";
import type { DownlinkGuard } from "../../protocol/downlink.js";
import type { Hmac } from "../../protocol/hmac.js";
import { encode } from "../../protocol/codec.js";
import { ACK_SEALED, ACK_UNKNOWN, REC_RECORDING } from "../../protocol/schema.js";
import { CONTROL_HELLO, CONTROL_STATUS, NONCE_LEN, SCHEMA_VERSION } from "../../protocol/constants.js";
import type { KeyState } from "../../protocol/device-files.js";
import { KIND_SEAL, KIND_START } from "./queue.js";
import type { MqttClient } from "./mqtt.js";
import type { Recorder } from "./recorder.js";
import { MEM_STORE, memOk } from "./memory.js";

export const FIRMWARE_VERSION = "er-fw 0.1.0";

/** Per recording, what went out on this connection and what the gateway last said. */
export interface Tx {
  start: boolean; // start published (or the gateway has it)
  seq: number; // highest chunk seq published on this connection, or acknowledged
  seal: boolean;
  gw: number; // last Ack state, -1 before any Ack
  acked: number; // gateway's cumulative
  since: number; // when `acked` last moved, or when the first unacked publish went out
  // Listed in this connection's Hello and not answered yet: nothing of it goes out until the gateway
  // says where it stands (a slow gateway answers late; sending all again meanwhile breeds resends).
  asked: boolean;
  tries: number; // resends in a row without Ack progress: the next waits resendMs times this (at most 4)
}

/** The uplink of one recorder: its window per recording and the connection's state. */
export class Uplink {
  rec: Recorder;
  tx: { [r: string]: Tx };
  topic: string;
  online: boolean; // MQTT connected and subscribed, Hello sent
  ready: boolean; // Acks for the Hello's held recordings are in (or helloWait passed)
  awaiting: number;
  helloTimer: unknown;
  lastStatus: number;
  statusDue: boolean;
  behind: boolean; // the queue may hold what this connection has not sent (pump reads it)
  // R-DL-6 in one number (one variable): the uptime (ms) of this connection's last Hello times 4,
  // plus the downlink messages refused with DOWNLINK_MAC in a row since it (0..3, the low two bits).
  macRow: number;

  constructor(rec: Recorder) {
    this.rec = rec;
    this.tx = {};
    this.topic = "";
    this.online = false;
    this.ready = false;
    this.awaiting = 0;
    this.helloTimer = null;
    this.lastStatus = 0;
    this.statusDue = false;
    this.behind = true;
    this.macRow = 0;
  }

  txOf(r: number): Tx {
    let t = this.tx[r];
    if (!t) {
      t = { start: false, seq: 0, seal: false, gw: -1, acked: 0, since: 0, asked: false, tries: 1 };
      this.tx[r] = t;
    }
    return t;
  }

  /** Published and not yet acknowledged by the gateway: a start, chunks, or a seal. */
  outstanding(t: Tx): boolean {
    return t.seq > t.acked || (t.start && t.gw < 0) || (t.seal && t.gw !== ACK_SEALED);
  }

  /** Whether message `kind` of `t` (`seq`: the chunk's, or the seal's last chunk) is next: a start first, chunks in order, the seal after the last. */
  turn(t: Tx, kind: number, seq: number): boolean {
    return kind === KIND_START ? !t.start : t.start && (kind === KIND_SEAL ? !t.seal && t.seq === seq : t.seq === seq - 1);
  }

  /**
   * Whether one more message may go out now, `free` the variables free as last read: the window
   * has room, the transport has written the last one out (one big message in RAM beside the
   * socket's slice) and the memory is there (memory.ts).
   */
  room(free: number): boolean {
    const m = this.rec.mqtt;
    return this.ready && !!m && m.canPublish() && m.writable() && memOk(this.rec, free);
  }

  /**
   * A start, chunk or seal of recording `r` the queue now holds (`parts` its bytes): it goes at once
   * when it is its turn and there is room, else it stays queued for the pump. True when sent.
   */
  offer(r: number, kind: number, seq: number, parts: Uint8Array[], free: number): boolean {
    const t = this.txOf(r);
    if (!this.turn(t, kind, seq) || !this.room(free)) {
      this.behind = true;
      return false;
    }
    this.dispatch(t, kind, seq, parts);
    return true;
  }

  /** The one publish path of a start, chunk or seal: the parts go out as one QoS 1 PUBLISH, uncopied. */
  dispatch(t: Tx, kind: number, seq: number, parts: Uint8Array[]): void {
    (this.rec.mqtt as MqttClient).publishParts(this.topic, parts, 1);
    if (!this.outstanding(t)) t.since = this.rec.hw.now();
    if (kind === KIND_START) t.start = true;
    else if (kind === KIND_SEAL) t.seal = true;
    else {
      t.seq = seq;
      this.rec.stats.published++;
    }
  }

  /**
   * Send what the queue holds and this connection has not sent, oldest recording first, in seq
   * order, while the window has room and the transport has written the last one out (one loaded
   * record in RAM at a time): start (unless the gateway has it), chunks, seal. It runs on every
   * PUBACK and drain, so when nothing waits (`behind` false: the last pass sent everything) it reads
   * nothing. Whatever stores a message it does not send, a new connection, a resend, and every
   * housekeeping tick (the safety net) set `behind`.
   */
  pump(): void {
    const rec = this.rec;
    if (!this.ready || !rec.mqtt) return;
    if (this.statusDue) this.heartbeat();
    if (!this.behind) return;
    let done = true;
    const q = rec.queue;
    const held = q.held();
    for (let i = 0; i < held.length && done; i++) {
      const r = held[i].recording;
      const t = this.txOf(r);
      if (t.asked || (t.gw === ACK_SEALED && held[i].sealed && t.acked >= held[i].lastSeq)) continue;
      // Everything of it already went out on this connection: no file reads.
      if (t.start && t.seq >= held[i].lastSeq && (t.seal || !held[i].sealed)) continue;
      const max = rec.o.window + 2;
      const list = q.pending(r, max, t.seq);
      if (list.length >= max) done = false; // there may be more after these
      for (let j = 0; j < list.length; j++) {
        const p = list[j];
        if (p.kind === KIND_START ? t.start : p.kind === KIND_SEAL ? t.seal : p.seq <= t.seq) continue; // sent already
        // Not its turn yet (a seal before its last chunk went, chunks before the start): a later pass.
        if (!this.turn(t, p.kind, p.seq)) {
          done = false;
          break;
        }
        if (!this.room(rec.hw.memFree())) return;
        const b = q.load(p);
        if (!b) {
          rec.fail("QUEUE_READ", p.file + "@" + p.offset);
          return;
        }
        this.dispatch(t, p.kind, p.seq, [b]);
      }
    }
    if (done) this.behind = false;
  }

  /** Send a Status heartbeat now, or as soon as the window has room (statusDue). */
  heartbeat(): void {
    const rec = this.rec;
    const m = rec.mqtt;
    const h = rec.hw;
    this.statusDue = true;
    if (!this.ready || !m || !m.canPublish() || h.memFree() < MEM_STORE) return;
    this.statusDue = false;
    const b = h.battery();
    const body = encode("Status", {
      firmware: FIRMWARE_VERSION, batteryMv: b && b.mv, batteryPct: b && b.pct, storageFree: h.store.free(), queueDepth: rec.queue.depth(),
      state: rec.state, recording: rec.state === REC_RECORDING && rec.writer ? rec.writer.recordingId : 0,
      clockOffsetMs: rec.clockOffset, lastError: rec.lastError, downlinkRejected: rec.guard ? rec.guard.rejected : 0,
      deviceTimeMs: h.now(), alarm: rec.alarm,
    });
    const tag = controlTag(rec.ctl as Hmac, CONTROL_STATUS, rec.dev, body);
    m.publish(this.topic, encode("Uplink", { schema: SCHEMA_VERSION, status: { body: body, tag: tag } }), 1);
    this.lastStatus = h.uptime();
  }

  subscribed(): void {
    const m = this.rec.mqtt;
    if (this.online || !m || !m.connected) return;
    this.online = true;
    this.sayHello();
  }

  closed(reason: string): void {
    const rec = this.rec;
    this.online = false;
    this.ready = false;
    if (rec.guard) rec.guard.close();
    // Everything unacknowledged goes again from the queue after the next Hello (R-ACK-4).
    if (rec.mqtt) rec.mqtt.discard();
    this.tx = {};
    this.stopWait();
    rec.log("disconnected: " + reason);
  }

  stopWait(): void {
    if (this.helloTimer !== null) this.rec.hw.transport.cancel(this.helloTimer);
    this.helloTimer = null;
  }

  /**
   * Hello on every connection (R-MSG-1): a fresh nonce for the downlink's MACs, the recordings held
   * with their seq ranges, the last seal. Nothing of a held recording goes out until the gateway says
   * where it stands (its Ack), or helloWaitMs passes. Said again on the same connection when the
   * downlink keeps failing its MAC (R-DL-6, downlink.ts helloAgain).
   */
  sayHello(): void {
    const rec = this.rec;
    const h = rec.hw;
    const k = rec.keys as KeyState;
    const nonce = h.random(NONCE_LEN);
    (rec.guard as DownlinkGuard).open(nonce);
    this.stopWait(); // a Hello said again: the last one's wait ends here
    this.macRow = Math.floor(h.uptime()) * 4;
    const held = rec.queue.held();
    const body = encode("Hello", {
      nonce: nonce, held: held, lastSealed: k.ls, lastSealValue: k.ls ? fromHex(k.lz) : new Uint8Array(0),
      nextRecording: k.next, firmware: FIRMWARE_VERSION, deviceTimeMs: h.now(), uptimeMs: h.uptime() % 4294967296,
    });
    const tag = controlTag(rec.ctl as Hmac, CONTROL_HELLO, rec.dev, body);
    (rec.mqtt as MqttClient).publish(this.topic, encode("Uplink", { schema: SCHEMA_VERSION, hello: { body: body, tag: tag } }), 1);
    this.awaiting = held.length;
    this.behind = true; // a new connection: everything held goes again (once the gateway answers)
    const now = h.now();
    for (let i = 0; i < held.length; i++) {
      const t = this.txOf(held[i].recording);
      t.asked = true;
      t.since = now;
    }
    const self = this;
    this.ready = false;
    if (!held.length) this.becomeReady();
    else this.helloTimer = h.transport.after(function () { self.helloTimer = null; self.becomeReady(); }, rec.o.helloWaitMs);
    rec.log("hello, held: " + held.length);
  }

  becomeReady(): void {
    if (this.ready || !this.online) return;
    this.stopWait();
    this.ready = true;
    this.heartbeat();
    this.pump();
  }

  /**
   * The gateway's Ack of recording `r` moved what this connection knows: where it stands (`state`,
   * an ACK_* value) and its cumulative `cum`. Called by the downlink once the queue has freed.
   */
  ackIn(r: number, state: number, cum: number): void {
    const t = this.txOf(r);
    if (t.asked) {
      // The gateway said where it stands: what it lacks may go now.
      t.asked = false;
      this.behind = true;
    }
    if (t.gw < 0 && this.awaiting > 0) this.awaiting--;
    t.gw = state;
    if (state === ACK_UNKNOWN) {
      // The gateway has no start: send it again, then every chunk held (R-ACK-2).
      t.start = false;
      t.seq = 0;
      t.seal = false;
      this.behind = true;
      return;
    }
    t.start = true;
    if (cum > t.acked) {
      t.acked = cum;
      t.since = this.rec.hw.now();
      t.tries = 1;
    }
    if (cum > t.seq) t.seq = cum;
    if (state === ACK_SEALED) {
      t.seal = true;
      if (!this.rec.queue.heldRange(r)) delete this.tx[r];
    }
  }

  /**
   * Housekeeping: a Hello left unanswered, or chunks out with no Ack progress for a while, go again
   * from the gateway's cumulative (R-ACK-4), then the pump runs as a safety net.
   */
  resend(now: number): void {
    const ids = Object.keys(this.tx);
    const wait = this.rec.o.resendMs;
    let again = false;
    for (let i = 0; i < ids.length; i++) {
      const t = this.tx[ids[i]];
      if (t.asked && now - t.since > wait) {
        // No answer to the Hello for it: send what it holds anyway.
        t.asked = false;
        again = true;
      // The wait doubles with each resend that brought no progress: a gateway slower than resendMs
      // (a loaded disk, coalesced Acks) otherwise gets the whole window again every resendMs, and a
      // seal, sent only after the chunks before it, may never get its turn.
      } else if (this.ready && this.outstanding(t) && now - t.since > wait * t.tries) {
        // The gateway refused or lost them (BUFFER_FULL, DISK_LOW...): the same bytes again.
        t.seq = t.acked;
        if (t.gw < 0 || t.gw === ACK_UNKNOWN) t.start = false;
        if (t.gw !== ACK_SEALED) t.seal = false;
        t.since = now;
        if (t.tries < 4) t.tries *= 2;
        again = true;
      }
    }
    // The safety net of `behind`: whatever a slip left unsent goes within a tick.
    this.behind = true;
    if (again || this.ready) this.pump();
  }
}
