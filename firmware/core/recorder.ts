// The recorder: records, cuts media into chunks, chains and tags them (protocol/writer.ts), keeps
// everything in the durable queue until an authenticated Ack, and uploads over MQTT (SPEC.md).
// Espruino subset. Everything it touches comes from its Host (core/host.ts).
//
// Order of durable steps, and what a reboot between any two of them finds (R-FS, R-SEAL-4):
//   start:  rec.key (S_r, open = {r, K_1, genesis}) + compaction → start record in the queue → chunks
//   chunk:  chain step → queue (durable) → publish. A chunk is published only once stored.
//   seal:   seal record in the queue → rec.key (open = null, last sealed = r, Z) + compaction.
// At boot: a recording open in rec.key is closed with a seal flagged INTERRUPTED over the last chunk
// the queue holds (a seal already in the queue is adopted instead), and its Z is what the next
// genesis binds. A start missing from the queue (power cut right after rec.key) is put back from
// the genesis kept in rec.key.
import type { Sha256 } from "../../protocol/bytes.js";
import { copyBytes, fromHex, toHex, wipe, setU64, getU64 } from "../../protocol/bytes.js";
import { deviceIdBytes, parseAckBlock, parseHeader, H_PAYLOAD_HASH } from "../../protocol/blocks.js";
import { ChainCrypto, recordingKey, stateStep } from "../../protocol/chain.js";
import { ChainWriter, genesisFor } from "../../protocol/writer.js";
import { DownlinkGuard, controlTag } from "../../protocol/downlink.js";
import { Hmac } from "../../protocol/hmac.js";
import { chunkFrame, decode, encode, readDownlink } from "../../protocol/codec.js";
import { downTopic, upTopic } from "../../protocol/topics.js";
import type { Obj } from "../../protocol/codec.js";
import { ACK_SEALED, ACK_UNKNOWN, CMD_SET_CASE_TAG, CMD_START, CMD_STOP, REC_IDLE, REC_NO_CONFIG, REC_RECORDING, REC_REVOKED, REC_STOPPED_FULL } from "../../protocol/schema.js";
import {
  CONTROL_HELLO, CONTROL_STATUS, END_BATTERY_LOW, END_COMMAND, END_REBOOT, END_STOPPED, END_STORAGE_FULL, FLAG_INTERRUPTED, FLAG_MARKER, FLAG_PRE_EVENT, HASH_LEN, MAX_PAYLOAD, NONCE_LEN,
  SCHEMA_VERSION,
} from "../../protocol/constants.js";
import type { Host } from "./host.js";
import { MqttClient } from "./mqtt.js";
import { KIND_CHUNK, KIND_SEAL, KIND_START, Queue } from "./queue.js";
import type { HeldRange } from "./queue.js";
import { CONFIG_FILE, KEY_FILE, MIN_CHUNK, checkConfig, checkKeys, withDefaults } from "../../protocol/device-files.js";
import type { KeyState, RecorderConfig } from "../../protocol/device-files.js";

export const FIRMWARE_VERSION = "er-fw 0.1.0";

/** Recorder states (Status.state, recorder.proto RecState). */
export const IDLE = REC_IDLE, RECORDING = REC_RECORDING, FULL = REC_STOPPED_FULL,
  NO_CONFIG = REC_NO_CONFIG, REVOKED = REC_REVOKED;

const STATE_NAMES = ["idle", "recording", "storage full", "no config", "revoked"];

/** Tunables a test or a simulator may change; defaults suit a board. */
export interface RecorderOptions {
  /** QoS 1 publishes in flight (each may hold a chunk in RAM: a 16 KiB chunk costs ~970 variables). */
  window: number;
  /** After Hello, wait this long for the gateway's Acks of held recordings before sending (ms). */
  helloWaitMs: number;
  /** No Ack progress for this long with chunks published and unacknowledged: resend them (R-ACK-4). */
  resendMs: number;
  /** Housekeeping period (status due, resend, storage-full recovery), ms. */
  tickMs: number;
  /** MQTT keepalive, s. */
  keepalive: number;
  /** Reconnect backoff bounds, ms. */
  backoffMin: number;
  backoffMax: number;
  /** Queue: bytes a chunk must leave free, and segment size. */
  reserve: number;
  segmentBytes: number;
  /** 1: also sample memory right after each frame is built (the lane's hot-path peak; a read costs about 0.1 ms). */
  probe: number;
}

const DEFAULTS: RecorderOptions = {
  window: 2, helloWaitMs: 1500, resendMs: 20000, tickMs: 5000, keepalive: 30, backoffMin: 1000, backoffMax: 60000,
  reserve: 8192, segmentBytes: 262144, probe: 0,
};

/**
 * Variables a buffer of `n` bytes may take: a string that found no contiguous run of free variables
 * (a fragmented store) holds about 13 bytes a variable on a board-sized build, a flat one 17.
 */
function varsFor(n: number): number {
  return Math.ceil(n / 12) + 2;
}
/** Below this many free variables nothing is stored: a store running out mid-append would tear the queue. */
const MEM_STORE = 250;
/**
 * Free variables kept, beyond a chunk's own, before anything is sent: the MQTT header and window
 * entry, the transport's slice and the socket's copy of it, an Ack decoded meanwhile. Below it the
 * recorder stops sending (LOW_MEMORY) rather than let the interpreter cut a packet short.
 */
const MEM_RESERVE = 800;

/** Per recording, what went out on this connection and what the gateway last said. */
interface Tx {
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

/** One chunk of the pre-event ring (its payload is a file on the store). */
interface PreChunk {
  name: string;
  durationMs: number;
  timeMs: number;
  uptimeMs: number;
  length: number;
}

const ZERO16 = new Uint8Array(NONCE_LEN);
/** At or below this battery charge (percent) a recording is sealed with END_BATTERY_LOW (a reading of 0 mV: no battery gauge). */
const BATTERY_STOP_PCT = 3;
/** DownBody's ack_block key byte: field 6, wire type 2 (recorder.proto). */
const ACK_BLOCK_KEY = 0x32;
/** Ack-record note: chain value, byte total and end time (u64 each) at the last chunk, and its beacon. */
const NOTE_LEN = HASH_LEN + 16 + NONCE_LEN;
const ZERO32 = new Uint8Array(HASH_LEN);

/** The case tag a recording's start carried (the genesis binds it; a Command may change `case` later). */
function startCaseTag(op: { case: string }): string {
  const sc = (op as { sc?: string }).sc;
  return sc !== undefined ? sc : op.case;
}

export class Recorder {
  hw: Host;
  sha: Sha256;
  o: RecorderOptions;
  cfg: RecorderConfig | null;
  keys: KeyState | null;
  dev: Uint8Array;
  cc: ChainCrypto;
  queue: Queue;
  mqtt: MqttClient | null;
  guard: DownlinkGuard | null;
  ctl: Hmac | null;
  state: number;
  alarm: boolean;
  lastError: string;
  bnonce: Uint8Array; // nonce of the last TimeBeacon accepted (R-TIME-2)
  clockOffset: number;
  writer: ChainWriter | null;
  mark: boolean;
  nextTag: string; // case tag for the next recording (config, or a Command)
  chunkLen: number;
  preS: number;
  statusS: number;
  mediaOn: boolean;
  ring: PreChunk[];
  ringNext: number;
  online: boolean; // MQTT connected and subscribed, Hello sent
  ready: boolean; // Acks for the Hello's held recordings are in (or helloWait passed)
  awaiting: number;
  tx: { [r: string]: Tx };
  upTopic: string;
  timer: unknown;
  helloTimer: unknown;
  lastStatus: number;
  lastEnd: number; // end time and beacon of the last chunk written (for the ack note)
  lastBeacon: Uint8Array;
  statusDue: boolean;
  low: boolean; // LOW_MEMORY: sending paused or one message at a time, pre-event capture off
  behind: boolean; // the queue may hold what this connection has not sent (pump reads it)
  stats: { chunks: number; published: number; acked: number; freed: number; rejected: number; dropped: string[] };

  constructor(host: Host, options?: Partial<RecorderOptions>) {
    this.hw = host;
    this.sha = host.sha;
    const o: RecorderOptions = { window: 0, helloWaitMs: 0, resendMs: 0, tickMs: 0, keepalive: 0, backoffMin: 0, backoffMax: 0, reserve: 0, segmentBytes: 0, probe: 0 };
    const keys = Object.keys(DEFAULTS);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as keyof RecorderOptions;
      o[k] = options && options[k] !== undefined ? options[k] as number : DEFAULTS[k];
    }
    this.o = o;
    this.cfg = null;
    this.keys = null;
    this.dev = new Uint8Array(16);
    this.cc = new ChainCrypto(host.sha);
    this.queue = new Queue(host.store, host.sha, { reserve: o.reserve, segmentBytes: o.segmentBytes });
    this.mqtt = null;
    this.guard = null;
    this.ctl = null;
    this.state = NO_CONFIG;
    this.alarm = false;
    this.lastError = "";
    this.bnonce = ZERO16;
    this.clockOffset = 0;
    this.writer = null;
    this.mark = false;
    this.nextTag = "";
    this.chunkLen = 0;
    this.preS = 0;
    this.statusS = 60;
    this.mediaOn = false;
    this.ring = [];
    this.ringNext = 0;
    this.online = false;
    this.ready = false;
    this.awaiting = 0;
    this.tx = {};
    this.upTopic = "";
    this.timer = null;
    this.helloTimer = null;
    this.lastStatus = 0;
    this.statusDue = false;
    this.low = false;
    this.behind = true;
    this.lastEnd = 0;
    this.lastBeacon = ZERO16;
    this.stats = { chunks: 0, published: 0, acked: 0, freed: 0, rejected: 0, dropped: [] };
  }

  log(s: string): void {
    this.hw.log("[rec] " + s);
  }

  fail(code: string, detail: string): void {
    this.lastError = code;
    this.log("error " + code + (detail ? ": " + detail : ""));
  }

  // ---- boot ----

  /** Read config and keys, recover the queue and any open recording, connect. Returns "" or why not. */
  start(): string {
    const h = this.hw;
    h.led("boot");
    const why = this.loadConfig();
    if (why) {
      this.state = NO_CONFIG;
      this.fail(why, "not provisioned: recording refused");
      h.led("noconfig");
      return why;
    }
    const cfg = this.cfg as RecorderConfig;
    // A power cut between a key write and its compaction leaves the old key readable: compact now (R-FS-3).
    h.kv.compact();
    const rep = this.queue.open();
    for (let i = 0; i < rep.dropped.length; i++) {
      const d = rep.dropped[i];
      this.stats.dropped.push(d.file + "@" + d.offset + " " + d.reason);
      this.log("dropped torn record " + d.file + " at " + d.offset + " (" + d.reason + ")");
    }
    this.recover();
    this.state = IDLE;
    h.led("idle");
    this.upTopic = upTopic(cfg.id);
    this.guard = new DownlinkGuard(this.sha, fromHex(cfg.dl), this.dev);
    this.ctl = new Hmac(this.sha, fromHex(cfg.ctl));
    const self = this;
    h.onButton(function (name: string) { self.button(name); });
    const m = new MqttClient(h.transport, {
      host: cfg.host, port: cfg.port, clientId: cfg.id, username: cfg.id, password: cfg.login, keepalive: this.o.keepalive,
      clean: true, maxInflight: this.o.window + 1, backoffMin: this.o.backoffMin, backoffMax: this.o.backoffMax, holdParts: false,
      random: function () { return h.random(1)[0] / 256; },
    });
    // Hello waits for the SUBACK, not the CONNACK: the gateway answers it with Acks, which must find us subscribed.
    m.onSuback = function () { self.subscribed(); };
    m.onMessage = function (topic: string, payload: Uint8Array) { self.downlink(topic, payload); };
    m.onPuback = function () { self.pump(); };
    // A chunk went out whole: the next may (one big publish at a time beside the socket's slice).
    m.onDrain = function () { self.pump(); };
    m.onClose = function (reason: string) { self.closed(reason); };
    this.mqtt = m;
    m.subscribe(downTopic(cfg.id));
    m.connect();
    this.armTick();
    if (this.preS > 0) this.mediaStart();
    this.log("ready: " + cfg.id + ", chunk " + this.chunkLen + " B, pre-event " + this.preS + " s, broker " + cfg.host + ":" + cfg.port);
    return "";
  }

  loadConfig(): string {
    const kv = this.hw.kv;
    let c: unknown = null;
    let k: unknown = null;
    try { c = JSON.parse(kv.read(CONFIG_FILE) || "null"); } catch (e) { return "CONFIG_JSON"; }
    const why = checkConfig(c);
    if (why) return why;
    try { k = JSON.parse(kv.read(KEY_FILE) || "null"); } catch (e) { return "KEYS_JSON"; }
    const kwhy = checkKeys(k);
    if (kwhy) return kwhy;
    const cfg = withDefaults(c as { [k: string]: unknown });
    this.cfg = cfg;
    this.keys = k as KeyState;
    this.dev = deviceIdBytes(cfg.id);
    this.nextTag = cfg.case;
    this.chunkLen = cfg.chunk;
    this.preS = cfg.pre;
    this.statusS = cfg.status;
    return "";
  }

  /** Write rec.key, then compact so the previous key leaves the flash (R-FS-1, R-FS-2). */
  saveKeys(k: KeyState, compact: boolean): boolean {
    const text = JSON.stringify(k);
    // A write that does not fit erases the old file and fails (Espruino's Storage): make room first.
    if (this.hw.kv.free() < text.length + 512) this.hw.kv.compact();
    if (!this.hw.kv.write(KEY_FILE, text)) {
      this.fail("KEYS_WRITE", "could not write " + KEY_FILE);
      return false;
    }
    if (compact) this.hw.kv.compact();
    this.keys = k;
    return true;
  }

  /** Close a recording left open by a reboot (R-SEAL-4); see the top of the file. */
  recover(): void {
    const k = this.keys as KeyState;
    const op = k.open;
    if (!op) return;
    const r = op.r;
    const held = this.heldOf(r);
    if (held && held.sealed) {
      // The seal was stored before the power cut; only rec.key was not updated.
      const z = this.storedSealValue(r);
      if (z) {
        this.closeKeys(r, z);
        this.log("recovery: recording " + r + " was sealed");
        return;
      }
    }
    if (!held) {
      const start = encode("Uplink", { schema: SCHEMA_VERSION, start: { genesis: fromHex(op.g), caseTag: startCaseTag(op) } });
      const res = this.queue.put(r, 0, KIND_START, [start]);
      if (res) this.fail("RECOVERY_START", res);
    }
    const t = this.tail(r);
    const k1 = fromHex(op.k1);
    const w = new ChainWriter(this.sha, this.dev, r, k1, t.seq, t.chain, t.total);
    wipe(k1);
    this.writer = w;
    // The seal carries the last beacon the recording had (the one in its last chunk): R-TIME-2.
    const ok = this.sealOpen(FLAG_INTERRUPTED, t.end, t.beacon, END_REBOOT);
    this.log("recovery: recording " + r + " sealed as interrupted after chunk " + t.seq + (ok ? "" : " FAILED"));
  }

  heldOf(r: number): HeldRange | null {
    const h = this.queue.held();
    for (let i = 0; i < h.length; i++) if (h[i].recording === r) return h[i];
    return null;
  }

  storedSealValue(r: number): Uint8Array | null {
    const p = this.queue.pending(r);
    for (let i = 0; i < p.length; i++) {
      if (p[i].kind !== KIND_SEAL) continue;
      const b = this.queue.load(p[i]);
      if (!b) return null;
      const s = decode("Uplink", b).seal as Obj;
      return this.cc.sealValue(s.block as Uint8Array);
    }
    return null;
  }

  /**
   * Last chunk the queue holds of the open recording r: its seq, chain value, the byte total through
   * it and its end time. Chunks already freed are covered by the note of the newest ack record.
   */
  tail(r: number): { seq: number; chain: Uint8Array; total: number; end: number; beacon: Uint8Array } {
    const op = (this.keys as KeyState).open as { c0: string; t0: number; g: string };
    const n = this.queue.note(r);
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
    const p = this.queue.pending(r, 0, seq);
    let last = null;
    for (let i = 0; i < p.length; i++) {
      if (p[i].kind !== KIND_CHUNK || p[i].seq <= seq) continue;
      total += p[i].payloadLength;
      last = p[i];
    }
    if (last) {
      const b = this.queue.load(last);
      if (b) {
        const c = decode("Uplink", b).chunk as Obj;
        const hd = c.header as Uint8Array;
        chain = this.cc.chunkValue(hd);
        const f = parseHeader(hd);
        end = f.timeMs + f.durationMs;
        beacon = copyBytes(f.beacon);
        seq = last.seq;
      }
    }
    return { seq: seq, chain: chain, total: total, end: end, beacon: beacon };
  }

  // ---- recording ----

  button(name: string): void {
    if (name === "record") {
      if (this.state === RECORDING) this.stop();
      else this.record("");
    } else if (name === "marker") {
      if (this.state === RECORDING) {
        this.mark = true;
        this.log("marker");
      } else this.log("marker ignored");
    }
  }

  /** Start a recording (button, Command, console). `caseTag` "" keeps the configured one. Returns "" or why not. */
  record(caseTag: string): string {
    if (this.state === RECORDING) return "RECORDING";
    if (this.state !== IDLE) {
      const why = this.state === FULL ? "STORAGE_FULL" : this.state === REVOKED ? "REVOKED" : "NO_CONFIG";
      this.fail(why, "cannot record in state " + STATE_NAMES[this.state]);
      return why;
    }
    const h = this.hw;
    const k = this.keys as KeyState;
    if (h.store.free() < this.o.reserve + 4 * this.chunkLen) {
      this.full();
      return "STORAGE_FULL";
    }
    const bat = h.battery();
    if (bat.mv > 0 && bat.pct <= BATTERY_STOP_PCT) {
      this.fail("BATTERY_LOW", "battery at " + bat.pct + "%: recording refused");
      return "BATTERY_LOW";
    }
    const tag = caseTag || this.nextTag;
    const r = k.next;
    const s = fromHex(k.s);
    const k1 = recordingKey(this.sha, s, r);
    const s2 = stateStep(this.sha, s);
    wipe(s);
    let preMs = 0;
    for (let i = 0; i < this.ring.length; i++) preMs += this.ring[i].durationMs;
    const t0 = h.now();
    const g = genesisFor(this.cc, this.dev, {
      recordingId: r, startMs: t0, preEventMs: preMs, uptimeMs: h.uptime(), media: h.media.media, caseTag: tag,
      beacon: this.bnonce, prevSeal: k.ls ? fromHex(k.lz) : ZERO32,
    });
    const nk: KeyState = {
      v: k.v, j: r, s: toHex(s2), next: r + 1, ls: k.ls, lz: k.lz,
      open: { r: r, k1: toHex(k1), g: toHex(g.block), c0: toHex(g.c0), case: tag, sc: tag, t0: t0 },
    };
    wipe(s2);
    if (!this.saveKeys(nk, true)) {
      wipe(k1);
      return "KEYS_WRITE";
    }
    const start = encode("Uplink", { schema: SCHEMA_VERSION, start: { genesis: g.block, caseTag: tag } });
    const res = this.queue.put(r, 0, KIND_START, [start]);
    this.writer = new ChainWriter(this.sha, this.dev, r, k1, 0, g.c0, 0);
    wipe(k1);
    this.state = RECORDING;
    h.led("recording");
    this.log("recording " + r + " started" + (tag ? " (case " + tag + ")" : "") + (this.ring.length ? ", " + this.ring.length + " pre-event chunks" : ""));
    if (res) {
      // Kept in rec.key: the next boot puts the start back and seals the recording.
      this.fail("START_" + res, "recording " + r);
      this.stopMedia();
      this.state = res === "STORAGE_FULL" ? FULL : IDLE;
      return res;
    }
    const tx = this.txOf(r);
    if (this.ready && this.mqtt && this.mqtt.canPublish()) {
      this.mqtt.publish(this.upTopic, start, 1);
      this.sent(tx, 0, KIND_START);
    } else this.behind = true;
    // The pre-event ring enters the chain first, flagged (DESIGN.md section 4).
    const ring = this.ring;
    this.ring = [];
    for (let i = 0; i < ring.length && this.state === RECORDING; i++) {
      const e = ring[i];
      // Read only with room for it and its way into the chain; else the rest of the ring is given up.
      const free = h.memFree();
      const p = free >= varsFor(e.length) + MEM_STORE ? h.store.read(e.name, 0, e.length) : null;
      if (!p && free < varsFor(e.length) + MEM_STORE) this.lowMemory(free);
      h.store.remove(e.name);
      if (p) this.takeChunk(p, e.durationMs, FLAG_PRE_EVENT, e.timeMs, e.uptimeMs);
    }
    if (this.state === RECORDING) this.mediaStart();
    return "";
  }

  /**
   * Stop and seal the open recording, saying why (R-SEAL-5): the officer (the button, the console:
   * no argument) unless `why` names another END_* reason. Returns "" or why not.
   */
  stop(why?: number): string {
    if (this.state !== RECORDING) return "NOT_RECORDING";
    if (!this.sealOpen(0, this.hw.now(), this.bnonce, why || END_STOPPED)) return this.lastError;
    this.state = IDLE;
    this.hw.led("idle");
    if (this.preS <= 0 || this.low) this.stopMedia();
    return "";
  }

  /**
   * Seal the open recording at the writer's last chunk: seal record, then rec.key, then compaction
   * (R-FS-2: K_1 leaves the flash). Publishes the seal when everything before it went out.
   */
  sealOpen(flags: number, endMs: number, beacon: Uint8Array, endReason: number): boolean {
    const w = this.writer as ChainWriter;
    const k = this.keys as KeyState;
    const op = k.open as { r: number; case: string };
    const r = op.r;
    const s = w.seal(flags, endMs, this.hw.uptime(), this.cc.caseTagHash(op.case), beacon, endReason);
    const msg = encode("Uplink", { schema: SCHEMA_VERSION, seal: { block: s.block, tag: s.tag, caseTag: op.case } });
    const res = this.queue.put(r, w.seq, KIND_SEAL, [msg]);
    if (res) {
      this.fail("SEAL_" + res, "recording " + r + " left open for the next boot");
      return false;
    }
    const last = w.seq;
    w.destroy();
    this.writer = null;
    this.closeKeys(r, s.value);
    this.log("recording " + r + " sealed after chunk " + last + (flags & FLAG_INTERRUPTED ? " (interrupted)" : ""));
    const tx = this.txOf(r);
    if (this.ready && this.mqtt && tx.start && tx.seq === last && this.mqtt.canPublish()) {
      this.mqtt.publish(this.upTopic, msg, 1);
      this.sent(tx, last, KIND_SEAL);
    } else this.behind = true;
    return true;
  }

  closeKeys(r: number, z: Uint8Array): void {
    const k = this.keys as KeyState;
    this.saveKeys({ v: k.v, j: k.j, s: k.s, next: k.next, ls: r, lz: toHex(z), open: null }, true);
  }

  /**
   * The hot path: one chunk into the chain, the queue and the socket. A handful of statements and
   * native operations: four hashes in the writer, three small ones in the queue's check (the
   * payload's hash is reused from the header), one file append, four socket writes.
   */
  takeChunk(payload: Uint8Array, durationMs: number, flags: number, timeMs: number, uptimeMs: number): void {
    const w = this.writer as ChainWriter;
    // One read of the free variables per chunk: whether it can be stored, and whether it can go out.
    let free = this.hw.memFree();
    if (free < MEM_STORE) free = this.hw.memFree(true);
    if (free < MEM_STORE) {
      // Nothing of it enters the chain: the recording has a gap in time, never a broken chain or queue.
      this.lowMemory(free);
      this.log("chunk not recorded: " + free + " variables free");
      return;
    }
    if (this.mark) flags |= FLAG_MARKER;
    const prev = w.prev, total = w.total, seq = w.seq + 1;
    let parts: Uint8Array[] = [], res: string, thrown;
    // Anything thrown before the chunk is stored (on a board: a native call that found no memory)
    // must not leave the writer one chunk ahead of the queue: every later chunk would be refused.
    try {
      const o = w.chunk(payload, flags, this.hw.media.media, timeMs, durationMs, uptimeMs, this.bnonce);
      const f = chunkFrame(o.header, payload.length, o.tag);
      parts = [f.prefix, payload, f.suffix];
      if (this.o.probe) this.hw.memFree(); // a peak sample with the frame built
      res = this.queue.put(w.recordingId, seq, KIND_CHUNK, parts, [null, o.header.subarray(H_PAYLOAD_HASH, H_PAYLOAD_HASH + HASH_LEN), null]);
    } catch (e) {
      res = "ERROR " + e;
      thrown = e;
    }
    if (res) {
      this.rewind(seq - 1, prev, total);
      if (res === "STORAGE_FULL") this.full();
      else this.fail("CHUNK_" + res.split(" ")[0], "recording " + w.recordingId + " chunk " + seq + " not stored: " + res);
      // Still thrown, once the writer is back: the console shows it, and a power cut in tests stays one.
      if (thrown) throw thrown;
      return;
    }
    this.mark = false;
    this.lastEnd = timeMs + durationMs;
    this.lastBeacon = this.bnonce;
    this.stats.chunks++;
    const tx = this.txOf(w.recordingId);
    // Sent only with the memory for it: else it stays queued, and goes when memory is back (pump).
    const m = this.mqtt as MqttClient;
    if (this.ready && tx.start && tx.seq === seq - 1 && m.canPublish() && m.writable() && this.memOk(free)) {
      m.publishParts(this.upTopic, parts, 1);
      this.sent(tx, seq, KIND_CHUNK);
    } else this.behind = true;
  }

  /**
   * Whether one more message may go out with `free` variables free (just read): a chunk's worth and
   * MEM_RESERVE. Short of it: LOW_MEMORY. While low, one message at a time; the mode ends once a
   * chunk's worth more is free again.
   */
  memOk(free: number): boolean {
    const need = varsFor(this.chunkLen) + MEM_RESERVE;
    // Garbage that only a collection frees (cycles) counts as used until then: collect before giving up.
    if (free < need) free = this.hw.memFree(true);
    if (free < need) {
      this.lowMemory(free);
      return false;
    }
    if (this.low && free >= need + varsFor(this.chunkLen)) this.memoryBack();
    return !this.low || (this.mqtt as MqttClient).queue.length === 0;
  }

  /**
   * Low memory (SPEC R-MSG-7 LOW_MEMORY): nothing more is sent until there is room (what is stored
   * stays queued), the footprint shrinks (one message in flight, no pre-event capture while idle),
   * and a Status with the alarm tells the gateway.
   */
  lowMemory(free: number): void {
    if (this.low) return;
    this.low = true;
    this.alarm = true;
    this.fail("LOW_MEMORY", free + " variables free: sending paused, chunks stay queued");
    if (this.state === IDLE) this.stopMedia();
    this.heartbeat();
  }

  memoryBack(): void {
    this.low = false;
    this.alarm = this.state === FULL;
    this.log("memory back: sending again");
    this.statusDue = true;
    this.behind = true;
    if (this.preS > 0 && this.state === IDLE) this.mediaStart();
  }

  /** A chunk was not stored: put the writer back after chunk `seq` (K_i re-derived from K_1 in rec.key). */
  rewind(seq: number, prev: Uint8Array, total: number): void {
    const w = this.writer as ChainWriter;
    const op = (this.keys as KeyState).open as { k1: string };
    const k1 = fromHex(op.k1);
    this.writer = new ChainWriter(this.sha, this.dev, w.recordingId, k1, seq, prev, total);
    wipe(k1);
    w.destroy();
  }

  /** Storage full of unacknowledged evidence: seal what is stored, stop, raise the alarm. Never overwrite. */
  full(): void {
    this.fail("STORAGE_FULL", "recording stopped; nothing overwritten");
    if (this.state === RECORDING) this.sealOpen(0, this.hw.now(), this.bnonce, END_STORAGE_FULL);
    this.stopMedia();
    this.state = FULL;
    this.alarm = true;
    this.hw.led("full");
    this.heartbeat();
  }

  // ---- media ----

  mediaStart(): void {
    if (this.mediaOn || (this.low && this.state !== RECORDING)) return;
    this.mediaOn = true;
    const self = this;
    this.hw.media.start(this.chunkLen, function (p: Uint8Array, d: number) { self.onMedia(p, d); });
  }

  stopMedia(): void {
    if (!this.mediaOn) return;
    this.mediaOn = false;
    this.hw.media.stop();
  }

  onMedia(payload: Uint8Array, durationMs: number): void {
    const h = this.hw;
    if (this.state === RECORDING) this.takeChunk(payload, durationMs, 0, h.now(), h.uptime());
    else if (this.preS > 0 && this.state === IDLE) this.preEvent(payload, durationMs);
  }

  /** Keep the last `pre` seconds in a ring of files on the store (not in RAM: DESIGN.md section 4). */
  preEvent(payload: Uint8Array, durationMs: number): void {
    const h = this.hw;
    const name = "pre" + this.ringNext + ".bin";
    this.ringNext = (this.ringNext + 1) % 100;
    h.store.remove(name);
    if (!h.store.append(name, [payload])) return;
    this.ring.push({ name: name, durationMs: durationMs, timeMs: h.now(), uptimeMs: h.uptime(), length: payload.length });
    let ms = 0;
    for (let i = 0; i < this.ring.length; i++) ms += this.ring[i].durationMs;
    while (this.ring.length > 1 && ms - this.ring[0].durationMs >= this.preS * 1000) {
      const old = this.ring.shift() as PreChunk;
      ms -= old.durationMs;
      h.store.remove(old.name);
    }
  }

  // ---- uplink ----

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

  sent(t: Tx, seq: number, kind: number): void {
    if (!this.outstanding(t)) t.since = this.hw.now();
    if (kind === KIND_START) t.start = true;
    else if (kind === KIND_SEAL) t.seal = true;
    else {
      t.seq = seq;
      this.stats.published++;
    }
  }

  subscribed(): void {
    if (this.online || !this.mqtt || !this.mqtt.connected) return;
    this.online = true;
    this.sayHello();
  }

  closed(reason: string): void {
    this.online = false;
    this.ready = false;
    if (this.guard) this.guard.close();
    // Everything unacknowledged goes again from the queue after the next Hello (R-ACK-4).
    if (this.mqtt) this.mqtt.discard();
    this.tx = {};
    if (this.helloTimer !== null) this.hw.transport.cancel(this.helloTimer);
    this.helloTimer = null;
    this.log("disconnected: " + reason);
  }

  sayHello(): void {
    const h = this.hw;
    const k = this.keys as KeyState;
    const nonce = h.random(NONCE_LEN);
    (this.guard as DownlinkGuard).open(nonce);
    const held = this.queue.held();
    const body = encode("Hello", {
      nonce: nonce, held: held, lastSealed: k.ls, lastSealValue: k.ls ? fromHex(k.lz) : new Uint8Array(0),
      nextRecording: k.next, firmware: FIRMWARE_VERSION, deviceTimeMs: h.now(), uptimeMs: h.uptime() % 4294967296,
    });
    const tag = controlTag(this.ctl as Hmac, CONTROL_HELLO, this.dev, body);
    (this.mqtt as MqttClient).publish(this.upTopic, encode("Uplink", { schema: SCHEMA_VERSION, hello: { body: body, tag: tag } }), 1);
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
    else this.helloTimer = h.transport.after(function () { self.helloTimer = null; self.becomeReady(); }, this.o.helloWaitMs);
    this.log("hello, held: " + held.length);
  }

  becomeReady(): void {
    if (this.ready || !this.online) return;
    if (this.helloTimer !== null) this.hw.transport.cancel(this.helloTimer);
    this.helloTimer = null;
    this.ready = true;
    this.heartbeat();
    this.pump();
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
    const m = this.mqtt;
    if (!this.ready || !m) return;
    if (this.statusDue) this.heartbeat();
    if (!this.behind) return;
    let done = true;
    const held = this.queue.held();
    for (let i = 0; i < held.length && done; i++) {
      const r = held[i].recording;
      const t = this.txOf(r);
      if (t.asked || (t.gw === ACK_SEALED && held[i].sealed && t.acked >= held[i].lastSeq)) continue;
      // Everything of it already went out on this connection: no file reads.
      if (t.start && t.seq >= held[i].lastSeq && (t.seal || !held[i].sealed)) continue;
      const max = this.o.window + 2;
      const list = this.queue.pending(r, max, t.seq);
      if (list.length >= max) done = false; // there may be more after these
      for (let j = 0; j < list.length; j++) {
        const p = list[j];
        if (p.kind === KIND_START ? t.start : p.kind === KIND_SEAL ? t.seal : p.seq <= t.seq) continue; // sent already
        // Not its turn yet (a seal before its last chunk went, chunks before the start): a later pass.
        if ((p.kind === KIND_SEAL && t.seq < p.seq) || (p.kind === KIND_CHUNK && p.seq !== t.seq + 1) || (p.kind !== KIND_START && !t.start)) {
          done = false;
          break;
        }
        if (!m.canPublish() || !m.writable() || !this.memOk(this.hw.memFree())) return;
        const b = this.queue.load(p);
        if (!b) {
          this.fail("QUEUE_READ", p.file + "@" + p.offset);
          return;
        }
        m.publish(this.upTopic, b, 1);
        this.sent(t, p.seq, p.kind);
      }
    }
    if (done) this.behind = false;
  }

  /** Send a Status heartbeat now, or as soon as the window has room (statusDue). */
  heartbeat(): void {
    const m = this.mqtt;
    this.statusDue = true;
    if (!this.ready || !m || !m.canPublish() || this.hw.memFree() < MEM_STORE) return;
    this.statusDue = false;
    const h = this.hw;
    const b = h.battery();
    const body = encode("Status", {
      firmware: FIRMWARE_VERSION, batteryMv: b.mv, batteryPct: b.pct, storageFree: h.store.free(), queueDepth: this.queue.depth(),
      state: this.state, recording: this.state === RECORDING && this.writer ? this.writer.recordingId : 0,
      clockOffsetMs: this.clockOffset, lastError: this.lastError, downlinkRejected: this.guard ? this.guard.rejected : 0,
      deviceTimeMs: h.now(), alarm: this.alarm,
    });
    const tag = controlTag(this.ctl as Hmac, CONTROL_STATUS, this.dev, body);
    m.publish(this.upTopic, encode("Uplink", { schema: SCHEMA_VERSION, status: { body: body, tag: tag } }), 1);
    this.lastStatus = h.uptime();
  }

  // ---- downlink ----

  /** Every downlink message is checked with the downlink key, session nonce and counter (R-DL) before anything. */
  downlink(topic: string, payload: Uint8Array): void {
    const g = this.guard as DownlinkGuard;
    let d: Obj, body: Obj;
    try {
      // The canonical shape in a few statements; anything else through the decoder.
      d = (readDownlink(payload) as Obj | null) || decode("Downlink", payload);
    } catch (e) {
      g.rejected++;
      this.fail("DOWNLINK_DECODE", (e as { code?: string }).code || "");
      return;
    }
    const why = g.check((d.counter as number) || 0, (d.body as Uint8Array) || new Uint8Array(0), (d.mac as Uint8Array) || new Uint8Array(0));
    if (why) {
      this.stats.rejected++;
      this.fail(why, "downlink ignored");
      return;
    }
    const bb = d.body as Uint8Array;
    // The common case, an Ack block (R-ACKB-1): DownBody's field 6 with a one-byte length, read in
    // place with a few DataView calls, where the protobuf Ack cost a nested decode in JavaScript.
    if (bb.length > 2 && bb[0] === ACK_BLOCK_KEY && bb[1] === bb.length - 2) {
      const a = parseAckBlock(bb.subarray(2));
      if (a) this.onAck(a as unknown as Obj);
      else this.fail("DOWNLINK_DECODE", "ack block");
      return;
    }
    try {
      body = decode("DownBody", bb);
    } catch (e) {
      this.fail("DOWNLINK_DECODE", (e as { code?: string }).code || "");
      return;
    }
    // DownBody is a oneof: decode leaves at most one member set (what which() would name, without
    // parsing the schema once more per Ack).
    if (body.ackBlock) {
      const a = parseAckBlock(body.ackBlock as Uint8Array);
      if (a) this.onAck(a as unknown as Obj);
      else this.fail("DOWNLINK_DECODE", "ack block");
    } else if (body.ack) this.onAck(body.ack as Obj);
    else if (body.beacon) this.timeBeacon(body.beacon as Obj);
    else if (body.config) this.onConfig(body.config as Obj);
    else if (body.command) this.onCommand(body.command as Obj);
    else if (body.revoke) this.onRevoke(body.revoke as Obj);
  }

  onAck(a: Obj): void {
    const r = (a.recording as number) || 0;
    const state = (a.state as number) || 0;
    // What the gateway stores, or recorded as lost on the device (R-ACK-2): all of it may go.
    const cum = Math.max((a.cumulative as number) || 0, (a.settled as number) || 0);
    const t = this.txOf(r);
    if (t.asked) {
      // The gateway said where it stands: what it lacks may go now.
      t.asked = false;
      this.behind = true;
    }
    this.stats.acked++;
    if (t.gw < 0 && this.awaiting > 0) this.awaiting--;
    t.gw = state;
    if (state === ACK_UNKNOWN) {
      // The gateway has no start: send it again, then every chunk held (R-ACK-2).
      t.start = false;
      t.seq = 0;
      t.seal = false;
      this.behind = true;
    } else {
      t.start = true;
      const w = this.writer;
      let note: Uint8Array | undefined;
      if (w && w.recordingId === r) {
        // What a reboot needs to seal this recording once its chunks are freed (see tail()).
        note = new Uint8Array(NOTE_LEN);
        note.set(w.prev);
        const dv = new DataView(note.buffer, HASH_LEN, 16);
        setU64(dv, 0, w.total);
        setU64(dv, 8, this.lastEnd);
        note.set(this.lastBeacon, HASH_LEN + 16);
      }
      const freed = this.queue.ack(r, cum, state === ACK_SEALED, note);
      this.stats.freed += freed;
      if (cum > t.acked) {
        t.acked = cum;
        t.since = this.hw.now();
        t.tries = 1;
      }
      if (cum > t.seq) t.seq = cum;
      if (state === ACK_SEALED) {
        t.seal = true;
        if (!this.heldOf(r)) delete this.tx[r];
      }
      if (this.state === FULL && this.hw.store.free() >= this.o.reserve + 8 * this.chunkLen) {
        this.state = IDLE;
        this.alarm = this.low;
        this.hw.led("idle");
        this.log("storage free again");
        if (this.preS > 0) this.mediaStart();
      }
    }
    if (!this.ready && this.awaiting <= 0) this.becomeReady();
    else this.pump();
  }

  timeBeacon(b: Obj): void {
    const n = b.nonce as Uint8Array;
    if (!n || n.length !== NONCE_LEN) return;
    const t = (b.timeMs as number) || 0;
    const h = this.hw;
    // A board without a kept clock boots in 1970: take the station's time (the offset then says so).
    if (h.setClock && h.now() < 1500000000000 && t > 1500000000000) {
      h.setClock(t);
      this.log("clock set from beacon");
    }
    this.bnonce = copyBytes(n);
    this.clockOffset = t - h.now();
  }

  onConfig(c: Obj): void {
    // 0 means unchanged (R-MSG-10). Applies until reboot; rec.cfg keeps the provisioned values.
    const s = (c.statusIntervalS as number) || 0;
    const pre = c.preEventS as number;
    const cb = (c.chunkBytes as number) || 0;
    if (s) this.statusS = s;
    if (pre && pre <= 600) this.preS = pre;
    if (cb >= MIN_CHUNK && cb <= MAX_PAYLOAD && this.state !== RECORDING) {
      this.chunkLen = cb;
      if (this.mediaOn) { this.stopMedia(); this.mediaStart(); }
    }
    if (this.preS > 0 && this.state === IDLE) this.mediaStart();
    this.log("config: status " + this.statusS + " s, pre-event " + this.preS + " s, chunk " + this.chunkLen + " B");
  }

  onCommand(c: Obj): void {
    const a = (c.action as number) || 0;
    const tag = (c.caseTag as string) || "";
    if (a === CMD_START) this.record(tag);
    else if (a === CMD_STOP) this.stop(END_COMMAND);
    else if (a === CMD_SET_CASE_TAG) this.setCaseTag(tag);
  }

  /** Case tag for the open recording's seal and for later recordings (R-MSG-10). */
  setCaseTag(tag: string): void {
    this.nextTag = tag;
    const k = this.keys as KeyState;
    if (k.open) {
      const op = k.open as unknown as { [f: string]: unknown };
      const nop: { [f: string]: unknown } = {};
      const f = Object.keys(op);
      for (let i = 0; i < f.length; i++) nop[f[i]] = op[f[i]];
      if (nop.sc === undefined) nop.sc = op.case;
      nop.case = tag;
      // The same keys as before: no compaction needed.
      this.saveKeys({ v: k.v, j: k.j, s: k.s, next: k.next, ls: k.ls, lz: k.lz, open: nop as unknown as KeyState["open"] }, false);
    }
    this.log("case tag set" + (k.open ? " for recording " + k.open.r + " and later" : " for the next recording"));
  }

  /** Authenticated Revoke (R-REV-1): wipe the keys, stop recording, say so. */
  onRevoke(v: Obj): void {
    const h = this.hw;
    this.stopMedia();
    if (this.writer) this.writer.destroy();
    this.writer = null;
    h.kv.erase(KEY_FILE);
    h.kv.erase(CONFIG_FILE);
    h.kv.compact();
    this.keys = null;
    this.state = REVOKED;
    h.led("revoked");
    this.fail("REVOKED", "revoked by the station: " + ((v.reason as string) || "") + "; keys wiped");
    this.halt();
  }

  // ---- housekeeping ----

  armTick(): void {
    const self = this;
    this.timer = this.hw.transport.after(function () {
      self.timer = null;
      self.tick();
      if (self.state !== REVOKED && self.mqtt) self.armTick();
    }, this.o.tickMs);
  }

  tick(): void {
    const now = this.hw.now();
    // A battery about to give out: seal now, saying so, rather than leave the recording to a reboot.
    if (this.state === RECORDING) {
      const b = this.hw.battery();
      if (b.mv > 0 && b.pct <= BATTERY_STOP_PCT) {
        this.log("battery at " + b.pct + "%: recording stopped");
        this.stop(END_BATTERY_LOW);
      }
    }
    // Sending paused for memory, and nothing else wakes it (no chunk, no Ack): look again.
    if (this.low && this.ready && this.hw.memFree(true) >= 2 * varsFor(this.chunkLen) + MEM_RESERVE) {
      this.memoryBack();
      this.pump();
    }
    if (this.ready && this.hw.uptime() - this.lastStatus >= this.statusS * 1000) this.heartbeat();
    // No Ack progress for a while with chunks out: resend from the gateway's cumulative (R-ACK-4).
    const ids = Object.keys(this.tx);
    let again = false;
    for (let i = 0; i < ids.length; i++) {
      const t = this.tx[ids[i]];
      if (t.asked && now - t.since > this.o.resendMs) {
        // No answer to the Hello for it: send what it holds anyway.
        t.asked = false;
        again = true;
      // The wait doubles with each resend that brought no progress: a gateway slower than resendMs
      // (a loaded disk, coalesced Acks) otherwise gets the whole window again every resendMs, and a
      // seal, sent only after the chunks before it, may never get its turn.
      } else if (this.ready && this.outstanding(t) && now - t.since > this.o.resendMs * t.tries) {
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

  /** Stop timers and the connection (tests, revoke); the queue and keys stay as they are. */
  halt(): void {
    if (this.timer !== null) this.hw.transport.cancel(this.timer);
    this.timer = null;
    if (this.helloTimer !== null) this.hw.transport.cancel(this.helloTimer);
    this.helloTimer = null;
    this.stopMedia();
    if (this.mqtt) {
      const m = this.mqtt;
      this.mqtt = null;
      m.end();
    }
    this.online = false;
    this.ready = false;
  }

  // ---- console ----

  /** What an admin sees with info() at the REPL. No key material. */
  info(): { [k: string]: unknown } {
    const h = this.hw;
    const k = this.keys;
    const b = h.battery();
    return {
      firmware: FIRMWARE_VERSION, device: this.cfg ? this.cfg.id : "(not provisioned)", state: STATE_NAMES[this.state],
      recording: this.writer ? this.writer.recordingId : 0, nextRecording: k ? k.next : 0, lastSealed: k ? k.ls : 0,
      broker: this.cfg ? this.cfg.host + ":" + this.cfg.port : "", link: this.online ? "up" : "down", queueDepth: this.queue.depth(),
      queueBytes: this.queue.bytes(), storeFree: h.store.free(), flashFree: h.kv.free(), chunkBytes: this.chunkLen,
      preEventS: this.preS, caseTag: this.nextTag, clockOffsetMs: this.clockOffset, battery: b.mv + " mV " + b.pct + "%",
      alarm: this.alarm, lastError: this.lastError, downlinkRejected: this.guard ? this.guard.rejected : 0,
      chunks: this.stats.chunks, published: this.stats.published, acks: this.stats.acked, memory: h.memory(), memoryPeak: h.memPeak(),
    };
  }

  /** Checks an admin runs at the REPL: hashing, config, keys, storage, media. Returns "PASS" or the failures. */
  selftest(): string {
    const h = this.hw;
    const bad: string[] = [];
    const abc = new Uint8Array([97, 98, 99]);
    if (toHex(h.sha(abc)).substr(0, 16) !== "ba7816bf8f01cfea") bad.push("SHA256");
    if (!this.cfg) bad.push(this.loadConfig() || "CONFIG");
    const probe = new Uint8Array([1, 2, 3, 4]);
    const tmp = "selftest.tmp";
    h.store.remove(tmp);
    const wrote = h.store.append(tmp, [probe]);
    const back = wrote ? h.store.read(tmp, 0, 4) : null;
    h.store.remove(tmp);
    if (!back || back[3] !== 4) bad.push("STORE_RW");
    if (h.store.free() < this.o.reserve + 4 * (this.chunkLen || MIN_CHUNK)) bad.push("STORE_FULL");
    if (h.kv.free() < 4096) bad.push("FLASH_LOW");
    if (h.media.media === undefined) bad.push("MEDIA");
    const out = bad.length ? "FAIL " + bad.join(" ") : "PASS";
    this.log("selftest: " + out);
    return out;
  }
}
