// Attack scenarios: what an adversary does with a seized device or on the station network while
// the rest of the fleet records honestly, and the verdicts the gateway must reach (SPEC.md R-FS-3,
// R-VER-6, R-VER-9, R-VER-10, R-TOP-2). Each attack drives its victim devices itself (the others
// record clips as in `steady`), does its damage with the protocol's own code, writes what it did
// and what the gateway answered into `ctx.notes`, and its expect() compares that with what the
// gateway reports through its API. An empty expect() means the gateway caught the attack and
// nothing else was disturbed; a successful attack makes it non-empty.
//
// The adversary's tools, all outside the firmware:
//   - readFlash: a seized device's Storage (`espruino.flash`), every entry, erased copies not yet
//     compacted away included: rec.cfg (login, downlink and control keys) and rec.key (S_j, and
//     K_1 of a recording open at the time).
//   - storedQueue / capture: its upload queue, read with the queue's record layout
//     (protocol/queue-records.ts): the exact bytes of every message not yet acknowledged, and the
//     Held list its Hello would carry. A copy taken while the device was out of range (partitioned)
//     holds a whole recording: start, chunks and seal, byte for byte as they were later uploaded.
//     The queue is where the device's firmware keeps it: on its SD card, or in its Storage on a
//     board without one (`--store flash`); where its card and flash file are is the engine's
//     layout (SimDevice.media), on either engine. deleteQueue cuts it there, the device powered off.
//   - Intruder: an MQTT client (mqtt.js) logged in with the extracted credentials under a client id
//     of its own, so the honest device's session is not taken over.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { nodeSha256 as sha } from "../protocol/sha256-node.js";
import { fromHex } from "../protocol/bytes.js";
import { H_PAYLOAD_HASH, deviceIdBytes, parseAckBlock } from "../protocol/blocks.js";
import { ChainCrypto, recordingKey, stateAt } from "../protocol/chain.js";
import { ChainWriter, genesisFor } from "../protocol/writer.js";
import { DownlinkGuard, tagControl } from "../protocol/downlink.js";
import { decode, encode, which } from "../protocol/codec.js";
import { AckState } from "../protocol/schema.js";
import { CONTROL_HELLO, MEDIA_PCM_8K_S16LE, NONCE_LEN, SCHEMA_VERSION } from "../protocol/constants.js";
import { CONFIG_FILE, KEY_FILE, checkConfig, checkKeys } from "../protocol/device-files.js";
import type { KeyState } from "../protocol/device-files.js";
import { KIND_CHUNK, KIND_SEAL, KIND_START, heldOf, isSegmentName, pendingOf, readSegment, segmentName } from "../protocol/queue-records.js";
import type { QueueRecord, HeldRange } from "../protocol/queue-records.js";
import { FLASH_BYTES, Flash, espruinoParse } from "./imitation/flash.js";
import { Life } from "./imitation/runtime.js";
import { Rand } from "./imitation/rand.js";
import { clips, lossless, pick } from "./scenario-kit.js";
import type { Ctx, RecordingResult, Scenario } from "./scenario-kit.js";
import type { RecordingRow } from "../client/admin-api.js";
import type { DeviceInfo, DeviceMedia } from "./types.js";

// Salts of the seeded choices (pick): which device is the victim, which chunk is forged.
const SALT = { seq: 101, replay: 201, spoofA: 301, spoofB: 302, equivocation: 401, tail: 501, whole: 502, bogus: 303 };

// ---------------------------------------------------------------------------------------------
// A seized device: its flash, and its upload queue (on its SD card, or in its flash without one)
// ---------------------------------------------------------------------------------------------

/** What a seized device's flash gives up (SPEC.md R-FS-3). */
export interface Extracted {
  id: string;
  /** MQTT password: hex of the login key L (rec.cfg). */
  login: string;
  /** Downlink and control keys (rec.cfg): static for the device's life. */
  dl: Uint8Array;
  ctl: Uint8Array;
  /** rec.key as the device last wrote it: S_j, and K_1 of the open recording if one is open. */
  keys: KeyState;
  /** Every chain state in the flash, the live rec.key and any erased copy still readable. */
  states: KeyState[];
}

/** A seized device as the thief holds it: its id, and where its flash and card are (its engine's layout). */
interface Seized { id: string; media: DeviceMedia }

/**
 * The device's Storage, every entry in flash order, live or erased. A running interpreter writes
 * its flash file in place (a chunk's piece, a compaction), so the image counts only when the file
 * reads the same before and after it was loaded.
 */
function openFlash(d: Seized): Flash {
  const image = () => existsSync(d.media.flash) ? readFileSync(d.media.flash) : Buffer.alloc(0);
  for (let tries = 1; ; tries++) {
    const before = image();
    const flash = new Flash(d.media.flash, FLASH_BYTES, new Life(d.id + " (seized)", 10, false));
    if (before.equals(image()) || tries >= 10) return flash;
  }
}

/**
 * Read a device's flash as a thief with a programmer would: every Storage entry, live or erased
 * (Espruino's Storage only appends, so an overwritten rec.key stays readable until compaction).
 */
export function readFlash(d: Seized): Extracted {
  const flash = openFlash(d);
  const parse = (data: string): unknown => { try { return espruinoParse(data); } catch { return null; } };
  const cfgEntry = flash.find(CONFIG_FILE), keyEntry = flash.find(KEY_FILE);
  const cfg = cfgEntry ? parse(cfgEntry.data) : null;
  const keys = keyEntry ? parse(keyEntry.data) : null;
  if (checkConfig(cfg) || checkKeys(keys)) throw new Error(`${d.id}: no readable ${CONFIG_FILE} and ${KEY_FILE} in its flash (${d.media.flash})`);
  const states: KeyState[] = [];
  for (const e of flash.entries) {
    const k = parse(e.data);
    if (k && !checkKeys(k)) states.push(k as KeyState);
  }
  const c = cfg as { id: string; login: string; dl: string; ctl: string };
  return { id: c.id, login: c.login, dl: fromHex(c.dl), ctl: fromHex(c.ctl), keys: keys as KeyState, states };
}

/**
 * A queue file in Storage (firmware/hosts/espruino.ts, storageStore): a file can't grow there, so
 * each append to segment `n` is a Storage file `n~k` of its own, k = 0, 1, ...; the segment's bytes
 * are its pieces end to end.
 */
const STORAGE_PIECE = /^(.+)~(\d+)$/;

/** Where a device's queue is, for messages: "card <dir>" or "Storage <flash file>". */
const queueWhere = (d: Seized): string => d.media.queue === "card" ? `card ${d.media.card}` : `Storage ${d.media.flash}`;

/** The segment files of a device's queue, by name, with the stored files each is made of (never written to). */
function queueSegments(d: Seized): Map<string, { bytes: Uint8Array; files: string[] }> {
  const out = new Map<string, { bytes: Uint8Array; files: string[] }>();
  if (d.media.queue === "card") {
    const card = d.media.card;
    if (existsSync(card)) for (const n of readdirSync(card).filter(isSegmentName)) out.set(n, { bytes: new Uint8Array(readFileSync(join(card, n))), files: [n] });
    return out;
  }
  const pieces = new Map<string, { k: number; name: string; data: string }[]>();
  for (const e of openFlash(d).entries) {
    const m = e.live ? STORAGE_PIECE.exec(e.name) : null;
    if (!m || !isSegmentName(m[1])) continue;
    const list = pieces.get(m[1]) || [];
    list.push({ k: Number(m[2]), name: e.name, data: e.data });
    pieces.set(m[1], list);
  }
  for (const [n, list] of pieces) {
    list.sort((a, b) => a.k - b.k);
    out.set(n, { bytes: new Uint8Array(Buffer.from(list.map((p) => p.data).join(""), "latin1")), files: list.map((p) => p.name) });
  }
  return out;
}

/**
 * A device's upload queue as the queue's record layout reads it (protocol/queue-records.ts), from
 * its card or its Storage, never written to: every whole record of every segment, in name order.
 */
function storedQueue(d: Seized): { records: QueueRecord[]; held(): HeldRange[] } {
  const segments = queueSegments(d);
  const records: QueueRecord[] = [];
  for (const n of [...segments.keys()].sort()) records.push(...readSegment(sha, n, segments.get(n)!.bytes));
  return { records, held: () => heldOf(records) };
}

/** A recording's messages as the device stored them before publishing: the bytes it uploaded. */
interface Captured {
  recording: number;
  start: Uint8Array;
  chunks: Uint8Array[];
  seal: Uint8Array;
}

/** Recording r from the device's stored queue, or null unless its start, chunks 1..n and seal are all there. */
function capture(d: Seized, r: number): Captured | null {
  const q = storedQueue(d);
  let start: Uint8Array | null = null, seal: Uint8Array | null = null;
  const chunks: Uint8Array[] = [];
  for (const p of pendingOf(q.records, r)) {
    const b = p.body;
    if (p.kind === KIND_START) start = b;
    else if (p.kind === KIND_SEAL) seal = b;
    else if (p.kind === KIND_CHUNK) {
      if (p.seq !== chunks.length + 1) return null;
      chunks.push(b);
    }
  }
  return start && seal && chunks.length ? { recording: r, start, chunks, seal } : null;
}

/**
 * Delete every queue file of recording r (`q<r>.<segment>`) from a powered-off device's card, or
 * from its Storage (each piece erased, last first, as the firmware removes them); returns the
 * names of the files deleted.
 */
function deleteQueue(d: Seized, r: number): string[] {
  const prefix = segmentName(r, 0).slice(0, 9); // "q", 7 hex digits, "."
  const files = [...queueSegments(d)].filter(([n]) => n.startsWith(prefix)).sort(([a], [b]) => a < b ? -1 : 1).flatMap(([, seg]) => seg.files);
  if (d.media.queue === "card") {
    for (const n of files) rmSync(join(d.media.card, n));
  } else {
    const flash = openFlash(d);
    for (const n of files.slice().reverse()) flash.erase(n);
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// The intruder's MQTT client
// ---------------------------------------------------------------------------------------------

interface AckMsg { recording: number; state: number; cumulative: number }

/** Where the gateway's broker is: the outside one given, or the simulator's own. */
function brokerUrl(ctx: Ctx): string {
  if (ctx.opts.gateway) return ctx.opts.gateway;
  if (ctx.gateway) return ctx.gateway.mqttUrl;
  throw new Error("no gateway to connect to");
}

/** mqtt.js logged in with a seized device's credentials; keeps the Acks MAC'd for its own session. */
class Intruder {
  acks: AckMsg[] = [];
  closed = false;
  private guard: DownlinkGuard;
  private dev: Uint8Array;
  private waiters: (() => void)[] = [];

  private constructor(readonly client: MqttClient, readonly x: Extracted) {
    this.dev = deviceIdBytes(x.id);
    this.guard = new DownlinkGuard(sha, x.dl, this.dev);
    client.on("message", (_topic, payload) => this.downlink(payload));
    client.on("close", () => { this.closed = true; this.wake(); });
  }

  /** Log in as the device, under client id `<id>-<tag>`: the honest device's session stays up. */
  static async connect(url: string, x: Extracted, tag: string): Promise<Intruder> {
    // `false`: a connection closed before its CONNACK rejects; with no reconnect, mqtt.js would wait for ever.
    const client = await mqtt.connectAsync(url, { username: x.id, password: x.login, clientId: `${x.id}/${tag}`, reconnectPeriod: 0, connectTimeout: 5000 }, false);
    return new Intruder(client, x);
  }

  private downlink(payload: Uint8Array): void {
    try {
      const d = decode("Downlink", payload);
      // The honest device's downlinks arrive on the same topic, MAC'd for its session: not ours.
      if (this.guard.check(d.counter as number, d.body as Uint8Array, d.mac as Uint8Array)) return;
      const body = decode("DownBody", d.body as Uint8Array);
      // Schema 2 Acks come as a fixed-layout block (R-ACKB-1), schema 1 as the protobuf Ack.
      const a = (body.ackBlock ? parseAckBlock(body.ackBlock as Uint8Array) : which(body, "DownBody") === "ack" ? body.ack : null) as { recording: number; state: number; cumulative: number } | null;
      if (a) {
        this.acks.push({ recording: a.recording, state: a.state, cumulative: a.cumulative });
      }
    } catch { /* not a message of this protocol: ignored */ }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Subscribe to the device's own downlink topic (allowed: it is logged in as that device). */
  async listen(): Promise<void> {
    await this.client.subscribeAsync(`rec/${this.x.id}/down`, { qos: 1 });
  }

  /** A Hello such as the device itself would send: its chain state and the Held list of its stored queue. */
  async hello(held: HeldRange[]): Promise<void> {
    const nonce = new Uint8Array(randomBytes(NONCE_LEN));
    this.guard.open(nonce);
    const k = this.x.keys;
    const body = encode("Hello", {
      nonce, held, lastSealed: k.ls, lastSealValue: k.ls ? fromHex(k.lz) : new Uint8Array(0), nextRecording: k.next,
      firmware: "seized", deviceTimeMs: Date.now(),
    });
    const tag = tagControl(sha, this.x.ctl, CONTROL_HELLO, this.dev, body);
    await this.publish(encode("Uplink", { schema: SCHEMA_VERSION, hello: { body, tag } }));
  }

  /**
   * Publish at QoS 1. "puback": the broker took it (which never means stored: R-TOP-4);
   * "closed": the broker dropped the connection instead (how aedes refuses a publish).
   */
  publish(bytes: Uint8Array, topic = `rec/${this.x.id}/up`, ms = 5000): Promise<"puback" | "closed" | "timeout"> {
    if (this.closed) return Promise.resolve("closed");
    return new Promise((resolve) => {
      const timer = setTimeout(() => done("timeout"), ms);
      const onClose = () => done("closed");
      const done = (r: "puback" | "closed" | "timeout") => {
        clearTimeout(timer);
        this.client.off("close", onClose);
        resolve(r);
      };
      this.client.once("close", onClose);
      this.client.publish(topic, Buffer.from(bytes), { qos: 1 }, (err) => done(err ? "closed" : "puback"));
    });
  }

  /** Wait until `n` Acks satisfy `pred` (or the connection closes, or `ms` pass). */
  async waitAcks(pred: (a: AckMsg) => boolean, n: number, ms: number): Promise<AckMsg[]> {
    const end = Date.now() + ms;
    for (;;) {
      const hits = this.acks.filter(pred);
      if (hits.length >= n || this.closed || Date.now() > end) return hits;
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 100); });
    }
  }

  async end(): Promise<void> {
    await this.client.endAsync(true).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Forgeries
// ---------------------------------------------------------------------------------------------

/**
 * The seized keys' best shot at chunk `s` of recording `e`, sealed before the seizure: the genuine
 * header with a redacted payload's hash (so only the tag can give the forgery away), tagged with
 * K_s derived from the oldest chain state the flash still holds. Only key material the firmware
 * should have erased gives the right key: an S_j with j < e (R-FS-1) or K_1 of e itself (R-FS-2).
 * Without it the forger takes K_1 = H(D_REC_KEY ‖ S_j ‖ e), which is not e's key (R-FS-3).
 */
function forgeSealedChunk(x: Extracted, e: number, s: number, genuine: Uint8Array): { bytes: Uint8Array; keyFrom: string; rightKey: boolean } {
  const c = decode("Uplink", genuine).chunk as { header: Uint8Array; payload: Uint8Array; tag: Uint8Array };
  // Silence the middle half of the chunk: the redaction an insider would want.
  const payload = Uint8Array.from(c.payload);
  payload.fill(0, payload.length >> 2, payload.length - (payload.length >> 2));
  if (Buffer.from(payload).equals(Buffer.from(c.payload))) payload[0] ^= 0xff;
  const header = Uint8Array.from(c.header);
  header.set(sha(payload), H_PAYLOAD_HASH);
  let k1: Uint8Array, keyFrom: string, rightKey = true;
  const open = x.states.find((k) => k.open && k.open.r === e);
  const older = x.states.filter((k) => k.j <= e - 1).sort((a, b) => a.j - b.j)[0];
  if (open && open.open) {
    k1 = fromHex(open.open.k1);
    keyFrom = `K_1 of recording ${e}, still in rec.key`;
  } else if (older) {
    k1 = recordingKey(sha, stateAt(sha, fromHex(older.s), e - 1 - older.j), e);
    keyFrom = `S_${older.j} from a rec.key copy` + (older.j < e - 1 ? `, stepped to S_${e - 1}` : "");
  } else {
    const oldest = x.states.slice().sort((a, b) => a.j - b.j)[0];
    k1 = recordingKey(sha, fromHex(oldest.s), e);
    keyFrom = `S_${oldest.j}, the oldest state in the flash (S_${e - 1} is needed and can't be computed from it)`;
    rightKey = false;
  }
  const cc = new ChainCrypto(sha);
  const tag = cc.tag(cc.keyAt(k1, s), cc.chunkValue(header));
  return { bytes: encode("Uplink", { schema: SCHEMA_VERSION, chunk: { header, payload, tag } }), keyFrom, rightKey };
}

/**
 * A second chunk 1 for the open recording, validly tagged: K_1 and C_0 are in rec.key while a
 * recording is open (R-FS-2), so the holder of the flash signs what the device never recorded.
 */
function forgeOpenChunk(x: Extracted, payload: Uint8Array): { r: number; bytes: Uint8Array } {
  const op = x.keys.open;
  if (!op) throw new Error(`${x.id}: no recording open in rec.key at the seizure`);
  const w = new ChainWriter(sha, deviceIdBytes(x.id), op.r, fromHex(op.k1), 0, fromHex(op.c0), 0);
  const o = w.chunk(payload, 0, MEDIA_PCM_8K_S16LE, op.t0, Math.round(payload.length / 16), 1, new Uint8Array(NONCE_LEN));
  return { r: op.r, bytes: encode("Uplink", { schema: SCHEMA_VERSION, chunk: { header: o.header, payload, tag: o.tag } }) };
}

/** Seeded bytes (a forger's "recording"): the same seed, the same bytes. */
function seededBytes(seed: number, salt: number, n: number): Uint8Array {
  const rand = new Rand(seed, salt);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = rand.next();
    for (let j = 0; j < 4 && i + j < n; j++) b[i + j] = (v >>> (8 * j)) & 255;
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// What the gateway says (its API; the database only as a byte-level cross-check when it is ours)
// ---------------------------------------------------------------------------------------------

interface Reason { code: string; seq?: number; detail?: string }
interface Detail { verdict: string; final: number; reasons: Reason[]; chunks: number; bytes: number; interrupted: number }
interface Health { ingest: { duplicates: number; failed: number; refused: number }; refusals: Record<string, number> }

const WHY = encodeURIComponent("simulator attack scenario: checking the verdict");

/** One recording with its reasons (GET /api/recordings/:device/:recording: audited, needs a reason). */
function detail(ctx: Ctx, device: string, r: number): Promise<Detail | null> {
  return ctx.api.call<Detail>("GET", `/api/recordings/${encodeURIComponent(device)}/${r}?reason=${WHY}`).catch(() => null);
}

async function row(ctx: Ctx, device: string, r: number): Promise<RecordingRow | null> {
  const rows = await ctx.api.recordings(device).catch(() => [] as RecordingRow[]);
  return rows.find((x) => x.recording === r) || null;
}

function health(ctx: Ctx): Promise<Health> {
  return ctx.api.call<Health>("GET", "/api/health");
}

/**
 * Digest of what the gateway stores of a recording, as the API serves it to an auditor: the
 * recording's chunk count, bytes and verdict, and its media, retrieved with a reason (audited).
 */
async function storedChunks(ctx: Ctx, device: string, r: number): Promise<string | null> {
  const d = await detail(ctx, device, r);
  if (!d) return null;
  const h = createHash("sha256");
  h.update(`${d.chunks}/${d.bytes}/${d.verdict}/`);
  const media = await ctx.api.media(device, r, "simulator attack scenario: checking the stored media").catch(() => Buffer.alloc(0));
  h.update(media);
  return `${d.chunks} chunks, ${h.digest("hex").slice(0, 16)}`;
}

/** Poll until `probe` gives something truthy; a timeout is an error (the attack could not be set up). */
async function until<T>(ctx: Ctx, what: string, ms: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await ctx.sleep(150);
  }
}

/** Poll until `done` holds or `ms` pass, and return the last answer either way (expect() judges it). */
async function settle<T>(ctx: Ctx, ms: number, probe: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (done(v) || Date.now() > end) return v;
    await ctx.sleep(150);
  }
}

// ---------------------------------------------------------------------------------------------
// Victims and the honest fleet
// ---------------------------------------------------------------------------------------------

/** A seeded victim among the devices not in `not`. */
function victim(ctx: Ctx, salt: number, not: number[] = []): number {
  const free = ctx.devices.map((_, i) => i).filter((i) => !not.includes(i));
  if (!free.length) throw new Error("not enough devices for this attack");
  return free[Math.floor(pick(ctx, not.length, salt) * free.length)];
}

/** Everyone but the victims records clips through the run, as in `steady`. */
function honestClips(ctx: Ctx, victims: number[]): Promise<void> {
  const rest: Ctx = { ...ctx, devices: ctx.devices.filter((_, i) => !victims.includes(i)) };
  const on = Math.max(1500, Math.floor(ctx.opts.durationMs / 5));
  return clips(rest, ctx.opts.durationMs, on, Math.floor(on / 2));
}

/** Press record and wait until the device has written `n` chunks of the new recording; its id. */
async function recordChunks(ctx: Ctx, i: number, n: number): Promise<number> {
  const d = ctx.devices[i];
  const before = (await d.info()).chunks;
  await d.press("record");
  const info = await d.info();
  if (info.state !== "recording") throw new Error(`${d.id} did not start recording (${info.lastError})`);
  await until(ctx, `${d.id} to write ${n} chunks`, 20000, async () => (await d.info()).chunks >= before + n);
  return info.recording;
}

/** Wait while the device records until it has written `n` more chunks. */
async function moreChunks(ctx: Ctx, i: number, n: number): Promise<void> {
  const d = ctx.devices[i];
  const at = (await d.info()).chunks;
  await until(ctx, `${d.id} to write ${n} more chunks`, 20000, async () => (await d.info()).chunks >= at + n);
}

/** Stop the device's recording and wait for its seal. */
async function stopRecording(ctx: Ctx, i: number): Promise<void> {
  const d = ctx.devices[i];
  if ((await d.info()).state === "recording") await d.press("record");
  await until(ctx, `${d.id} to seal`, 5000, async () => (await d.info()).state !== "recording");
}

/** Wait until the gateway has recording r verified and the device has nothing left to upload. */
function uploaded(ctx: Ctx, i: number, r: number): Promise<RecordingRow> {
  const d = ctx.devices[i];
  return until(ctx, `${d.id}/${r} to upload and verify`, 30000, async () => {
    const x = await row(ctx, d.id, r);
    return x && x.verdict === "verified" && (await d.info()).queueDepth === 0 ? x : null;
  });
}

/**
 * Run an attack on `victims`; a failure to set it up is noted for expect(), never thrown (the run
 * still settles and reports). Victims end healed and powered, whatever happened.
 */
async function attack(ctx: Ctx, victims: number[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const msg = (e as Error).message || String(e);
    ctx.notes.error = msg;
    ctx.log(`attack: ${msg}`);
  } finally {
    for (const i of victims) {
      ctx.proxies[i].partition(false);
      const on = await ctx.devices[i].info().then(() => true, () => false);
      if (!on) await ctx.devices[i].boot();
    }
  }
}

const TAMPER_ALARMS = ["EQUIVOCATION", "FAILED_VERDICT", "RECORDING_MISSING", "FORGED_MESSAGE"];

/**
 * Everything the attack was not aimed at: lossless() (run.ts) over every recording but the
 * `attacked` ones, with the `deleted` ones discounted; and no tamper alarm but the `allowed` ones.
 */
function untouched(ctx: Ctx, recs: RecordingResult[], infos: (DeviceInfo | null)[], alarms: string[],
  o: { attacked?: string[]; deleted?: number[]; allowed?: string[] } = {}): string[] {
  const f: string[] = [];
  if (ctx.notes.error) f.push(`the attack did not complete: ${String(ctx.notes.error)}`);
  f.push(...lossless(ctx, recs, infos, { attacked: o.attacked, deleted: o.deleted }));
  for (const a of alarms) if (TAMPER_ALARMS.includes(a.split(" ")[0]) && !(o.allowed || []).includes(a)) f.push(`unexpected alarm: ${a}`);
  return f;
}

/** The codes the gateway gave for one seq of a recording. */
const codesAt = (reasons: Reason[] | undefined, seq: number) => (reasons || []).filter((r) => r.seq === seq).map((r) => r.code);

// ---------------------------------------------------------------------------------------------
// Notes each attack leaves for its expect()
// ---------------------------------------------------------------------------------------------

interface SeizedNote {
  device: string; recording: number; seq: number; epoch: number; keyFrom: string; rightKey: boolean; sent: string;
  before: { chunks: number; bytes: number; stored: string | null }; stored: string | null; reasons: Reason[]; verdict: string; acked: number;
}
interface ReplayNote {
  device: string; recording: number; chunks: number; sent: string[]; acks: AckMsg[]; duplicates: number;
  before: { chunks: number; bytes: number; stored: string | null }; stored: string | null;
}
interface SpoofNote { from: string; to: string; bogus: number; subscribe: number; sent: string[]; aclRefusals: number }
interface EquivocationNote { device: string; recording: number; sent: string; reasons: Reason[] }
interface TruncationNote {
  tail?: { device: string; recording: number; deleted: string[]; reasons: Reason[]; verdict: string; final: number };
  whole?: { device: string; index: number; recording: number; deleted: string[] };
}

// ---------------------------------------------------------------------------------------------
// The attacks
// ---------------------------------------------------------------------------------------------

export const ATTACKS: Record<string, Scenario> = {
  "attack-seized-key": {
    description: "device 0 is seized mid-recording after sealing one: from its flash (S_r, login, control key) and a copy of its stored queue (its card, or its flash on a board without one) the thief re-tags a chunk of the sealed recording; the gateway refuses it as forged (its tag does not verify: FORGED_MESSAGE), keeps the stored chunks unchanged, and the recording stays verified; everything else verified",
    run: async (ctx) => {
      const v = 0;
      const d = ctx.devices[v];
      await Promise.all([honestClips(ctx, [v]), attack(ctx, [v], async () => {
        // 1. Recording e, uploaded only after its queue was copied (the partition keeps it there).
        ctx.proxies[v].partition(true);
        const e = await recordChunks(ctx, v, 2);
        await stopRecording(ctx, v);
        const genuine = capture(d, e);
        ctx.proxies[v].partition(false);
        if (!genuine) throw new Error(`${d.id}/${e}: not whole in its queue (${queueWhere(d)})`);
        const up = await uploaded(ctx, v, e);
        const before = { chunks: up.chunks, bytes: up.bytes, stored: await storedChunks(ctx, d.id, e) };
        // 2. The next recording is uploading when the device is taken: power gone, flash read.
        const later = await recordChunks(ctx, v, 1);
        await until(ctx, `${d.id}/${later} to reach the gateway`, 15000, async () => ((await row(ctx, d.id, later))?.chunks ?? 0) >= 1);
        ctx.interrupted[v].add(later);
        await d.powerCut();
        const x = readFlash(d);
        ctx.log(`seized ${d.id}: rec.key at epoch ${x.keys.j} (next ${x.keys.next}, open ${x.keys.open ? x.keys.open.r : "none"}), ${x.states.length} chain state(s) in flash`);
        // 3. Log in as the device and send the forgery of chunk s of recording e.
        const s = 1 + Math.floor(pick(ctx, v, SALT.seq) * genuine.chunks.length);
        const forged = forgeSealedChunk(x, e, s, genuine.chunks[s - 1]);
        const intruder = await Intruder.connect(brokerUrl(ctx), x, "seized");
        try {
          await intruder.listen();
          await intruder.hello(storedQueue(d).held());
          const sent = await intruder.publish(forged.bytes);
          // Refused as forged (R-VER-0): the alarm is what shows it; the recording's reasons must not.
          const forgedAlarm = () => ctx.api.alarms().then((a) => a.some((x) => x.kind === "FORGED_MESSAGE" && x.subject === `${d.id}/${e}`), () => false);
          await settle(ctx, 10000, forgedAlarm, (y) => y);
          const dt = await detail(ctx, d.id, e);
          ctx.notes.seized = {
            device: d.id, recording: e, seq: s, epoch: x.keys.j, keyFrom: forged.keyFrom, rightKey: forged.rightKey, sent, before,
            stored: await storedChunks(ctx, d.id, e), reasons: dt ? dt.reasons : [], verdict: dt ? dt.verdict : "(none)",
            acked: intruder.acks.filter((a) => a.recording === e).length,
          } satisfies SeizedNote;
          ctx.log(`forged ${d.id}/${e} chunk ${s} with ${forged.keyFrom}: ${dt ? dt.verdict : "?"} (${codesAt(dt?.reasons, s).join(",")})`);
        } finally {
          await intruder.end();
        }
        // 4. The device is recovered and boots: it seals the recording it was taken in as interrupted.
        await d.boot();
      })]);
    },
    expect: (ctx, recs, infos, alarms) => {
      const n = ctx.notes.seized as SeizedNote | undefined;
      if (!n) return untouched(ctx, recs, infos, alarms).concat("the forgery was never sent");
      const where = `${n.device}/${n.recording}`;
      const f: string[] = [];
      // The flash must not have held a key that signs recording e (R-FS-1, R-FS-2).
      if (n.rightKey) f.push(`${where}: the seized flash (epoch ${n.epoch}) still held ${n.keyFrom}: forward security broken`);
      const codes = codesAt(n.reasons, n.seq);
      if (codes.length) f.push(`${where}: the forged chunk ${n.seq} changed the recording's reasons (${codes.join(",")}; publish ${n.sent}): a forgery must change no verdict`);
      if (codes.includes("EQUIVOCATION")) f.push(`${where}: the forged chunk ${n.seq} carried a valid tag (EQUIVOCATION): the seized keys signed a sealed recording`);
      if (n.acked) f.push(`${where}: the gateway acknowledged ${n.acked} time(s) to the intruder for the attacked recording`);
      const r = recs.find((x) => x.device === n.device && x.recording === n.recording);
      if (!r) f.push(`${where}: gone from the gateway`);
      else {
        if (r.verdict !== "verified") f.push(`${where}: verdict ${r.verdict} after a forged chunk; expected verified (the forgery refused)`);
        if (r.chunks !== n.before.chunks || r.bytes !== n.before.bytes) f.push(`${where}: ${r.chunks} chunks / ${r.bytes} B stored, ${n.before.chunks} / ${n.before.bytes} before the forgery`);
      }
      if (n.before.stored !== n.stored) f.push(`${where}: the stored chunks changed: ${n.before.stored} before the forgery, ${n.stored} after`);
      const alarm = `FORGED_MESSAGE ${where}`;
      if (!alarms.includes(alarm)) f.push(`${where}: no ${alarm.split(" ")[0]} alarm`);
      return f.concat(untouched(ctx, recs, infos, alarms, { allowed: [alarm] }));
    },
  },

  "attack-replay": {
    description: "a device's uploaded recording (start, chunks, seal) is published again, byte for byte, with its credentials: every message a DUPLICATE, re-acknowledged, nothing stored twice, still verified",
    run: async (ctx) => {
      const v = victim(ctx, SALT.replay);
      const d = ctx.devices[v];
      await Promise.all([honestClips(ctx, [v]), attack(ctx, [v], async () => {
        // The bytes: a queue copied while the device was out of range holds the whole recording.
        ctx.proxies[v].partition(true);
        const r = await recordChunks(ctx, v, 2);
        await stopRecording(ctx, v);
        const captured = capture(d, r);
        ctx.proxies[v].partition(false);
        if (!captured) throw new Error(`${d.id}/${r}: not whole in its queue (${queueWhere(d)})`);
        const up = await uploaded(ctx, v, r);
        const before = { chunks: up.chunks, bytes: up.bytes, stored: await storedChunks(ctx, d.id, r) };
        const h0 = await health(ctx);
        // Replay it all on a connection of the intruder's, logged in with the device's credentials.
        const x = readFlash(d);
        const intruder = await Intruder.connect(brokerUrl(ctx), x, "replay");
        try {
          await intruder.listen();
          await intruder.hello(storedQueue(d).held());
          const sent: string[] = [];
          for (const m of [captured.start, ...captured.chunks, captured.seal]) sent.push(await intruder.publish(m));
          // One Ack per duplicate: start, each chunk, seal (ingest handles a session's messages in order).
          const n = captured.chunks.length;
          const acks = await intruder.waitAcks((a) => a.recording === r, n + 2, 10000);
          const h1 = await health(ctx);
          ctx.notes.replay = {
            device: d.id, recording: r, chunks: n, sent, acks, duplicates: h1.ingest.duplicates - h0.ingest.duplicates,
            before, stored: await storedChunks(ctx, d.id, r),
          } satisfies ReplayNote;
          ctx.log(`replayed ${d.id}/${r} (${n} chunks): ${acks.length} acks, ${h1.ingest.duplicates - h0.ingest.duplicates} duplicates counted`);
        } finally {
          await intruder.end();
        }
        // The device goes on: its next recording chains to the replayed one's seal as usual.
        await recordChunks(ctx, v, 2);
        await stopRecording(ctx, v);
      })]);
    },
    expect: (ctx, recs, infos, alarms) => {
      const n = ctx.notes.replay as ReplayNote | undefined;
      if (!n) return untouched(ctx, recs, infos, alarms).concat("the replay was never sent");
      const where = `${n.device}/${n.recording}`;
      const f: string[] = [];
      const r = recs.find((x) => x.device === n.device && x.recording === n.recording);
      if (r && (r.chunks !== n.before.chunks || r.bytes !== n.before.bytes)) f.push(`${where}: ${r.chunks} chunks / ${r.bytes} B after the replay, ${n.before.chunks} / ${n.before.bytes} before`);
      if (n.before.stored !== n.stored) f.push(`${where}: the stored chunks changed with the replay: ${n.before.stored} before, ${n.stored} after`);
      // The gateway answers a duplicate with the Ack it already gave (R-VER-6): sealed, all chunks.
      const sealedAcks = n.acks.filter((a) => a.state === AckState.ACK_SEALED && a.cumulative === n.chunks).length;
      if (sealedAcks < n.chunks + 2) f.push(`${where}: ${sealedAcks} sealed Acks for the ${n.chunks + 2} replayed messages (acks: ${JSON.stringify(n.acks)}; publishes: ${n.sent.join(",")})`);
      if (n.duplicates < n.chunks) f.push(`${where}: the gateway counted ${n.duplicates} duplicate chunks, ${n.chunks} were replayed`);
      // Verified with the rest, no tamper alarm: a replay is not evidence of anything.
      return f.concat(untouched(ctx, recs, infos, alarms));
    },
  },

  "attack-spoofed-topic": {
    description: "device A's credentials used on device B's topics: B's downlink subscription and uplink publishes refused with ACL_TOPIC at admission; nothing stored for B; everything verified",
    run: async (ctx) => {
      if (ctx.devices.length < 2) { ctx.notes.error = "needs at least 2 devices"; return; }
      const a = victim(ctx, SALT.spoofA);
      const b = victim(ctx, SALT.spoofB, [a]);
      // Both keep recording honestly; the intruder strikes mid-shift, while B is uploading.
      await Promise.all([honestClips(ctx, []), attack(ctx, [], async () => {
        await ctx.sleep(Math.floor(ctx.opts.durationMs * 0.3));
        const x = readFlash(ctx.devices[a]);
        const to = ctx.devices[b].id;
        // Messages for a recording of B's that never existed; if one reached ingest as B's, the
        // gateway would hold a row for it (a start is not tagged by itself: R-MSG-3).
        const bogus = 5000 + Math.floor(pick(ctx, b, SALT.bogus) * 1000);
        const cc = new ChainCrypto(sha);
        const g = genesisFor(cc, deviceIdBytes(to), { recordingId: bogus, startMs: Date.now(), preEventMs: 0, uptimeMs: 1, media: MEDIA_PCM_8K_S16LE, caseTag: "", beacon: new Uint8Array(NONCE_LEN), prevSeal: new Uint8Array(32) });
        const w = new ChainWriter(sha, deviceIdBytes(to), bogus, recordingKey(sha, fromHex(x.keys.s), bogus), 0, g.c0, 0);
        const payload = seededBytes(ctx.opts.seed, SALT.bogus, 4096);
        const c = w.chunk(payload, 0, MEDIA_PCM_8K_S16LE, Date.now(), 256, 1, new Uint8Array(NONCE_LEN));
        const messages = [
          encode("Uplink", { schema: SCHEMA_VERSION, start: { genesis: g.block, caseTag: "" } }),
          encode("Uplink", { schema: SCHEMA_VERSION, chunk: { header: c.header, payload, tag: c.tag } }),
        ];
        const h0 = await health(ctx);
        const sent: string[] = [];
        let subscribe = -1;
        // The broker drops a connection whose publish it refuses: a fresh login for each try.
        for (let k = 0; k <= messages.length; k++) {
          const intruder = await Intruder.connect(brokerUrl(ctx), x, `spoof${k}`);
          try {
            if (k === 0) {
              const granted = await intruder.client.subscribeAsync(`rec/${to}/down`, { qos: 1 }).catch(() => [{ qos: 128 }]);
              subscribe = granted[0].qos;
            } else sent.push(await intruder.publish(messages[k - 1], `rec/${to}/up`));
          } finally {
            await intruder.end();
          }
        }
        const h1 = await health(ctx);
        ctx.notes.spoof = {
          from: x.id, to, bogus, subscribe, sent, aclRefusals: (h1.refusals.ACL_TOPIC || 0) - (h0.refusals.ACL_TOPIC || 0),
        } satisfies SpoofNote;
        ctx.log(`${x.id} on ${to}'s topics: subscribe granted ${subscribe}, publishes ${sent.join(",")}, ${(h1.refusals.ACL_TOPIC || 0) - (h0.refusals.ACL_TOPIC || 0)} ACL_TOPIC refusals`);
      })]);
    },
    expect: (ctx, recs, infos, alarms) => {
      const n = ctx.notes.spoof as SpoofNote | undefined;
      if (!n) return untouched(ctx, recs, infos, alarms).concat("the spoofed messages were never sent");
      const f: string[] = [];
      if (n.subscribe !== 128) f.push(`${n.from} subscribed to rec/${n.to}/down: granted QoS ${n.subscribe}, expected refused (128)`);
      n.sent.forEach((s, k) => { if (s === "puback") f.push(`${n.from}'s publish ${k + 1} on rec/${n.to}/up was accepted by the broker (PUBACK)`); });
      if (n.aclRefusals < 1 + n.sent.length) f.push(`the gateway counted ${n.aclRefusals} ACL_TOPIC refusals for ${1 + n.sent.length} attempts`);
      if (recs.some((r) => r.device === n.to && r.recording === n.bogus)) f.push(`${n.to}/${n.bogus}: stored from ${n.from}'s publishes`);
      return f.concat(untouched(ctx, recs, infos, alarms));
    },
  },

  "attack-equivocation": {
    description: "while a device records, its flash gives up the open recording's K_1 (R-FS-2); a second, validly tagged chunk 1 is published with its credentials: verdict failed with EQUIVOCATION and an EQUIVOCATION alarm",
    run: async (ctx) => {
      const v = victim(ctx, SALT.equivocation);
      const d = ctx.devices[v];
      await Promise.all([honestClips(ctx, [v]), attack(ctx, [v], async () => {
        const r = await recordChunks(ctx, v, 1);
        await until(ctx, `${d.id}/${r} chunk 1 at the gateway`, 15000, async () => ((await row(ctx, d.id, r))?.chunks ?? 0) >= 1);
        const x = readFlash(d);
        const forged = forgeOpenChunk(x, seededBytes(ctx.opts.seed, SALT.equivocation, 4096));
        if (forged.r !== r) throw new Error(`${d.id}: rec.key has recording ${forged.r} open, the device records ${r}`);
        const intruder = await Intruder.connect(brokerUrl(ctx), x, "equivocate");
        try {
          await intruder.listen();
          // Held as its stored queue says, so the gateway doesn't take the open recording for lost.
          await intruder.hello(storedQueue(d).held());
          const sent = await intruder.publish(forged.bytes);
          const dt = await settle(ctx, 10000, () => detail(ctx, d.id, r), (y) => !!y && codesAt(y.reasons, 1).includes("EQUIVOCATION"));
          ctx.notes.equivocation = { device: d.id, recording: r, sent, reasons: dt ? dt.reasons : [] } satisfies EquivocationNote;
          ctx.log(`second chunk 1 for ${d.id}/${r}: ${dt ? dt.verdict : "?"} (${codesAt(dt?.reasons, 1).join(",")})`);
        } finally {
          await intruder.end();
        }
        // The device, unaware, records on and seals.
        await moreChunks(ctx, v, 1);
        await stopRecording(ctx, v);
      })]);
    },
    expect: (ctx, recs, infos, alarms) => {
      const n = ctx.notes.equivocation as EquivocationNote | undefined;
      if (!n) return untouched(ctx, recs, infos, alarms).concat("the second chunk was never sent");
      const where = `${n.device}/${n.recording}`;
      const f: string[] = [];
      if (!codesAt(n.reasons, 1).includes("EQUIVOCATION")) f.push(`${where}: a second validly tagged chunk 1 not flagged EQUIVOCATION (reasons at seq 1: ${codesAt(n.reasons, 1).join(",") || "none"}; publish ${n.sent})`);
      const r = recs.find((x) => x.device === n.device && x.recording === n.recording);
      if (!r) f.push(`${where}: not at the gateway`);
      else if (r.verdict !== "failed") f.push(`${where}: verdict ${r.verdict}; expected failed (EQUIVOCATION)`);
      const alarm = `EQUIVOCATION ${where}`;
      if (!alarms.includes(alarm)) f.push(`${where}: no EQUIVOCATION alarm`);
      // The device's own seal, arriving after the equivocation, is refiled as a failure too
      // (FAILED_VERDICT "seq -1" with no reason code): tolerated here, it names the same recording.
      return f.concat(untouched(ctx, recs, infos, alarms, { attacked: [where], allowed: [alarm, `FAILED_VERDICT ${where}`] }));
    },
  },

  "attack-truncated": {
    description: "recordings cut on the device while out of range: one loses its tail and seal (incomplete, MISSING_SEAL + LOST_ON_DEVICE, final), another is deleted whole (RECORDING_MISSING alarm); neither verified, everything else verified",
    run: async (ctx) => {
      const t1 = victim(ctx, SALT.tail);
      const t2 = ctx.devices.length > 1 ? victim(ctx, SALT.whole, [t1]) : -1;
      const victims = t2 >= 0 ? [t1, t2] : [t1];
      const note: TruncationNote = {};
      ctx.notes.truncated = note;
      // Power cut, queue files deleted from its card (or erased from its flash), boot: the device itself no longer knows the data.
      const cutAndWipe = async (i: number, r: number): Promise<string[]> => {
        await ctx.devices[i].powerCut();
        const deleted = deleteQueue(ctx.devices[i], r);
        if (!deleted.length) throw new Error(`${ctx.devices[i].id}/${r}: nothing of it in its queue to delete (${queueWhere(ctx.devices[i])})`);
        ctx.proxies[i].partition(false);
        await ctx.devices[i].boot();
        return deleted;
      };
      const tail = async () => {
        const d = ctx.devices[t1];
        // Its start and first chunks reach the gateway; then it goes out of range and records on.
        const r = await recordChunks(ctx, t1, 1);
        await until(ctx, `${d.id}/${r} chunk 1 at the gateway`, 15000, async () => ((await row(ctx, d.id, r))?.chunks ?? 0) >= 1);
        ctx.proxies[t1].partition(true);
        await moreChunks(ctx, t1, 2);
        await stopRecording(ctx, t1);
        const deleted = await cutAndWipe(t1, r);
        // Its Hello no longer holds the recording: the gateway's incomplete verdict becomes final.
        const dt = await settle(ctx, 15000, () => detail(ctx, d.id, r), (x) => !!x && x.final === 1);
        note.tail = { device: d.id, recording: r, deleted, reasons: dt ? dt.reasons : [], verdict: dt ? dt.verdict : "(none)", final: dt ? dt.final : 0 };
        ctx.log(`${d.id}/${r}: tail deleted (${deleted.join(" ")}): ${note.tail.verdict}, final ${note.tail.final}`);
        // The device records on: its history continues past the truncated recording.
        await recordChunks(ctx, t1, 2);
        await stopRecording(ctx, t1);
      };
      const whole = async () => {
        const d = ctx.devices[t2];
        // Recorded and sealed out of range, deleted before it ever uploaded.
        ctx.proxies[t2].partition(true);
        const r = await recordChunks(ctx, t2, 2);
        await stopRecording(ctx, t2);
        const deleted = await cutAndWipe(t2, r);
        await settle(ctx, 15000, () => ctx.api.alarms().catch(() => []), (l) => l.some((a) => a.kind === "RECORDING_MISSING" && a.subject === d.id));
        note.whole = { device: d.id, index: t2, recording: r, deleted };
        ctx.log(`${d.id}/${r}: deleted whole (${deleted.join(" ")})`);
        await recordChunks(ctx, t2, 2);
        await stopRecording(ctx, t2);
      };
      await Promise.all([honestClips(ctx, victims), attack(ctx, victims, async () => { await Promise.all(t2 >= 0 ? [tail(), whole()] : [tail()]); })]);
    },
    expect: (ctx, recs, infos, alarms) => {
      const n = (ctx.notes.truncated || {}) as TruncationNote;
      const f: string[] = [];
      const attacked: string[] = [], deleted: number[] = [], allowed: string[] = [];
      if (!n.tail) f.push("no recording was truncated");
      else {
        const where = `${n.tail.device}/${n.tail.recording}`;
        attacked.push(where);
        const r = recs.find((x) => x.device === n.tail!.device && x.recording === n.tail!.recording);
        if (!r) f.push(`${where}: its start and first chunks never reached the gateway`);
        else if (r.verdict !== "incomplete" || !r.final) f.push(`${where}: verdict ${r.verdict} (final ${r.final}) after its tail was deleted on the device; expected incomplete, final`);
        const codes = n.tail.reasons.map((x) => x.code);
        for (const c of ["MISSING_SEAL", "LOST_ON_DEVICE"]) if (!codes.includes(c)) f.push(`${where}: no ${c} among the reasons (${codes.join(",") || "none"})`);
      }
      if (ctx.devices.length > 1) {
        if (!n.whole) f.push("no recording was deleted whole");
        else {
          const where = `${n.whole.device}/${n.whole.recording}`;
          deleted.push(n.whole.index);
          const alarm = `RECORDING_MISSING ${n.whole.device}`;
          allowed.push(alarm);
          if (recs.some((x) => x.device === n.whole!.device && x.recording === n.whole!.recording)) f.push(`${where}: deleted on the device before upload, yet at the gateway`);
          if (!alarms.includes(alarm)) f.push(`${where}: deleted on the device, no RECORDING_MISSING alarm for ${n.whole.device}`);
        }
      }
      return f.concat(untouched(ctx, recs, infos, alarms, { attacked, deleted, allowed }));
    },
  },
};
