// The recorder: records, cuts media into chunks, chains and tags them (protocol/writer.ts), keeps
// everything in the durable queue until an authenticated Ack, and uploads over MQTT (SPEC.md).
// Espruino subset. Everything it touches comes from its Host (core/host.ts).
//
// This file holds the device's state and the recording state machine (start, chunk, seal); each
// other job has its own room in core/:
//   recovery.ts   rec.cfg and rec.key, and the close of a recording a reboot left open (boot)
//   pre-event.ts  the ring of chunk files kept while idle, poured into the chain at a start
//   uplink.ts     Hello and its wait, the one publish path, the pump, resends, the Status heartbeat
//   downlink.ts   every downlink message checked, then Ack (block fast path), beacon, config,
//                 command, revoke
//   memory.ts     LOW_MEMORY: the variables a message needs before it is built or sent
//   console.ts    info() and selftest() at the REPL
//   queue.ts      the durable upload queue;  mqtt.ts  the MQTT 3.1.1 client
//
// A chunk's way, each step a file and none calling back into the one before:
//   host media → onMedia → takeChunk (here): chain step (protocol/writer.ts) → frame
//   (protocol/codec.ts chunkFrame) → Queue.put (queue.ts, durable) → Uplink.offer (uplink.ts, with
//   memOk of memory.ts) → MqttClient.publishParts (mqtt.ts) → gateway ... its Ack → downlink()
//   (downlink.ts: checked, then onAck) → Queue.ack frees it → Uplink.ackIn → pump sends
//   what waits.
//
// Order of durable steps, and what a reboot between any two of them finds (R-FS, R-SEAL-4):
//   start:  rec.key (S_r, open = {r, K_1, genesis}) + compaction → start record in the queue → chunks
//   chunk:  chain step → queue (durable) → publish. A chunk is published only once stored.
//   seal:   seal record in the queue → rec.key (open = null, last sealed = r, Z) + compaction.
// What boot does with each is in recovery.ts.
import type { Sha256 } from "../../protocol/bytes.js";
import { fromHex, toHex, wipe } from "../../protocol/bytes.js";
import { H_PAYLOAD_HASH } from "../../protocol/blocks.js";
import { ChainCrypto, recordingKey, stateStep } from "../../protocol/chain.js";
import { ChainWriter, genesisFor } from "../../protocol/writer.js";
import { DownlinkGuard } from "../../protocol/downlink.js";
import { Hmac } from "../../protocol/hmac.js";
import { chunkFrame, encode } from "../../protocol/codec.js";
import { downTopic, upTopic } from "../../protocol/topics.js";
import { REC_IDLE, REC_NO_CONFIG, REC_RECORDING, REC_REVOKED, REC_STOPPED_FULL } from "../../protocol/schema.js";
import { END_BATTERY_LOW, END_STOPPED, END_STORAGE_FULL, FLAG_INTERRUPTED, FLAG_MARKER, HASH_LEN, NONCE_LEN, SCHEMA_VERSION } from "../../protocol/constants.js";
import type { KeyState, RecorderConfig } from "../../protocol/device-files.js";
import type { Host } from "./host.js";
import { MqttClient } from "./mqtt.js";
import { KIND_CHUNK, KIND_SEAL, KIND_START, Queue } from "./queue.js";
import { closeKeys, loadConfig, recover, saveKeys } from "./recovery.js";
import { preKeep, preMs, prePour } from "./pre-event.js";
import type { PreChunk } from "./pre-event.js";
import { FIRMWARE_VERSION, Uplink } from "./uplink.js";
import { downlink, helloAgain, setCaseTag } from "./downlink.js";
import { MEM_STORE, lowMemory, memoryCheck } from "./memory.js";
import { info, selftest, stateName } from "./console.js";

export { FIRMWARE_VERSION };

/** Recorder states (Status.state, recorder.proto RecState). */
export const IDLE = REC_IDLE, RECORDING = REC_RECORDING, FULL = REC_STOPPED_FULL,
  NO_CONFIG = REC_NO_CONFIG, REVOKED = REC_REVOKED;

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

const ZERO16 = new Uint8Array(NONCE_LEN);
/** At or below this battery charge (percent) a recording is sealed with END_BATTERY_LOW (a reading of 0 mV: no battery gauge). */
const BATTERY_STOP_PCT = 3;
const ZERO32 = new Uint8Array(HASH_LEN);

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
  up: Uplink;
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
  ring: PreChunk[]; // the pre-event ring (pre-event.ts)
  ringNext: number;
  timer: unknown;
  lastEnd: number; // end time and beacon of the last chunk written (for the ack note)
  lastBeacon: Uint8Array;
  low: boolean; // LOW_MEMORY: sending paused or one message at a time, pre-event capture off
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
    this.up = new Uplink(this);
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
    this.timer = null;
    this.low = false;
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
    const why = loadConfig(this);
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
    recover(this);
    this.state = IDLE;
    h.led("idle");
    const up = this.up;
    up.topic = upTopic(cfg.id);
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
    m.onSuback = function () { up.subscribed(); };
    m.onMessage = function (topic: string, payload: Uint8Array) { downlink(self, payload); };
    // A PUBACK freed a slot, or a chunk went out whole: the next may (one big publish at a time
    // beside the socket's slice). Both come once or more per chunk, and mostly nothing waits: the
    // pump is called only when something does (what its own first lines check), one call less.
    m.onPuback = m.onDrain = function () { if (up.behind || up.statusDue) up.pump(); };
    m.onClose = function (reason: string) { up.closed(reason); };
    this.mqtt = m;
    m.subscribe(downTopic(cfg.id));
    m.connect();
    this.armTick();
    if (this.preS > 0) this.mediaStart();
    this.log("ready: " + cfg.id + ", chunk " + this.chunkLen + " B, pre-event " + this.preS + " s, broker " + cfg.host + ":" + cfg.port);
    return "";
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
      this.fail(why, "cannot record in state " + stateName(this.state));
      return why;
    }
    const h = this.hw;
    const k = this.keys as KeyState;
    if (h.store.free() < this.o.reserve + 4 * this.chunkLen) {
      this.full();
      return "STORAGE_FULL";
    }
    const bat = h.battery();
    if (bat && bat.mv > 0 && bat.pct <= BATTERY_STOP_PCT) {
      this.fail("BATTERY_LOW", "battery at " + bat.pct + "%: recording refused");
      return "BATTERY_LOW";
    }
    const tag = caseTag || this.nextTag;
    const r = k.next;
    const s = fromHex(k.s);
    const k1 = recordingKey(this.sha, s, r);
    const s2 = stateStep(this.sha, s);
    wipe(s);
    const t0 = h.now();
    const g = genesisFor(this.cc, this.dev, {
      recordingId: r, startMs: t0, preEventMs: preMs(this), uptimeMs: h.uptime(), media: h.media.media, caseTag: tag,
      beacon: this.bnonce, prevSeal: k.ls ? fromHex(k.lz) : ZERO32,
    });
    const nk: KeyState = {
      v: k.v, j: r, s: toHex(s2), next: r + 1, ls: k.ls, lz: k.lz,
      open: { r: r, k1: toHex(k1), g: toHex(g.block), c0: toHex(g.c0), case: tag, sc: tag, t0: t0 },
    };
    wipe(s2);
    if (!saveKeys(this, nk, true)) {
      wipe(k1);
      return "KEYS_WRITE";
    }
    const start = encode("Uplink", { schema: SCHEMA_VERSION, start: { genesis: g.block, caseTag: tag } });
    const res = this.queue.put(r, 0, KIND_START, [start]);
    this.writer = new ChainWriter(this.sha, this.dev, r, k1, 0, g.c0, 0);
    wipe(k1);
    this.state = RECORDING;
    h.led("recording");
    const n = this.ring.length;
    this.log("recording " + r + " started" + (tag ? " (case " + tag + ")" : "") + (n ? ", " + n + " pre-event chunks" : ""));
    if (res) {
      // Kept in rec.key: the next boot puts the start back and seals the recording.
      this.fail("START_" + res, "recording " + r);
      this.stopMedia();
      this.state = res === "STORAGE_FULL" ? FULL : IDLE;
      return res;
    }
    this.up.offer(r, KIND_START, 0, [start], h.memFree());
    // The pre-event ring enters the chain first, flagged (DESIGN.md section 4).
    prePour(this);
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
    closeKeys(this, r, s.value);
    this.log("recording " + r + " sealed after chunk " + last + (flags & FLAG_INTERRUPTED ? " (interrupted)" : ""));
    this.up.offer(r, KIND_SEAL, last, [msg], this.hw.memFree());
    return true;
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
      lowMemory(this, free);
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
    // Sent only with the memory for it: else it stays queued, and goes when memory is back (pump).
    this.up.offer(w.recordingId, KIND_CHUNK, seq, parts, free);
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
    this.up.heartbeat();
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
    else if (this.preS > 0 && this.state === IDLE) preKeep(this, payload, durationMs);
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
    const up = this.up;
    // A battery about to give out: seal now, saying so, rather than leave the recording to a reboot.
    if (this.state === RECORDING) {
      const b = this.hw.battery();
      if (b && b.mv > 0 && b.pct <= BATTERY_STOP_PCT) {
        this.log("battery at " + b.pct + "%: recording stopped");
        this.stop(END_BATTERY_LOW);
      }
    }
    memoryCheck(this);
    // A Hello again that waited out helloWaitMs (R-DL-6).
    if (up.macRow % 4 === 3) helloAgain(this);
    if (up.ready && this.hw.uptime() - up.lastStatus >= this.statusS * 1000) up.heartbeat();
    up.resend(this.hw.now());
  }

  /** Stop timers and the connection (tests, revoke); the queue and keys stay as they are. */
  halt(): void {
    const up = this.up;
    if (this.timer !== null) this.hw.transport.cancel(this.timer);
    this.timer = null;
    up.stopWait();
    this.stopMedia();
    if (this.mqtt) {
      const m = this.mqtt;
      this.mqtt = null;
      m.end();
    }
    up.online = false;
    up.ready = false;
  }

  // ---- console (console.ts) ----

  /** What an admin sees with info() at the REPL. No key material. */
  info(): { [k: string]: unknown } {
    return info(this);
  }

  /** Checks an admin runs at the REPL: hashing, config, keys, storage, media. Returns "PASS" or the failures. */
  selftest(): string {
    return selftest(this);
  }

  /** Case tag for the open recording's seal and for later recordings (R-MSG-10); also a Command's. */
  setCaseTag(tag: string): void {
    setCaseTag(this, tag);
  }
}
