// The load generator of `npm run bench`, a process of its own: N MQTT clients publishing chunk
// messages at QoS 1, each keeping a window of publishes not yet PUBACKed (as a recorder does), for
// a fixed time or at a fixed rate, against the gateway (each client a provisioned device: Hello,
// start, a chain of validly tagged chunks, counting the gateway's Acks) or against any broker (the
// same bytes on the same topics; a counting subscriber in mode "subscribe" says what was delivered,
// and with `echo` answers each message at once, for a round trip through a pipe that stores nothing).
// One JSON line on stdout at the end (before it, a line as the load begins).
// Usage: node --import tsx test/bench/loadgen.ts CONFIG.json
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { deviceIdBytes } from "../../protocol/blocks.js";
import { ChainCrypto, deriveDeviceKeys, loginPassword, recordingKey, stateAt } from "../../protocol/chain.js";
import { ChainWriter, genesisFor } from "../../protocol/writer.js";
import { tagControl } from "../../protocol/downlink.js";
import { chunkFrame, decode, encode } from "../../protocol/codec.js";
import { CONTROL_HELLO, HEADER_LEN, MEDIA_PCM_8K_S16LE, TAG_LEN } from "../../protocol/constants.js";

export interface LoadConfig {
  mode: "gateway" | "broker" | "subscribe";
  url: string;
  /** Devices (gateway mode: provisioned ids with their root secrets in hex; broker mode: ids only). */
  devices: { id: string; root?: string }[];
  size: number;
  window: number;
  durationMs: number;
  /** Chunks per second over all clients; 0: as fast as the windows allow. */
  rate: number;
  /** Recording id to use (a fresh one per round, gateway mode). */
  recording: number;
  /** How long to wait after the last publish for the last Acks (or deliveries). */
  drainMs: number;
  /**
   * Gateway mode: chunks chained per device before the load (1500 if not given). Enough for the
   * whole load and none is chained during it, so the generator spends its CPU on the load alone,
   * as with a broker's prebuilt frames; the bench sizes it from the rate it expects.
   */
  ahead?: number;
  /**
   * Broker and subscribe modes: a round trip as the gateway's Acks make one. Each message carries
   * its number (ECHO_BYTES at echoOffset(size), in its payload); the subscriber answers each at once
   * on the device's downlink topic with those bytes, and the publisher times publish to answer.
   */
  echo?: boolean;
  /** Subscribe mode: stop after this many messages, or after idleMs without one. */
  expect?: number;
  idleMs?: number;
}

export interface LoadResult {
  mode: string;
  published: number;
  /** Gateway: chunks covered by the gateway's Acks (verified and committed); subscribe: messages delivered. */
  done: number;
  bytes: number;
  /** From the first publish to the last Ack (or delivery) counted. */
  seconds: number;
  /**
   * Publish to the Ack that covers it, ms (gateway mode; broker mode with `echo`, publish to the
   * subscriber's answer): over every chunk, and `steady` over
   * those sent after the first second (the start's burst: every device's RecordingStart and first
   * window at once, a gateway not yet warm), with `firstSecondP99` beside it.
   */
  latency: { p50: number; p99: number; n: number; steady?: { p50: number; p99: number; n: number }; firstSecondP99?: number; puback?: { p50: number; p99: number; n: number } };
  /** The load generator's own event-loop delay over the load, ms: what of a latency is its own waiting to run. */
  loopDelay?: { p50: number; p99: number; max: number };
  /** This process's own CPU (user and kernel) over the load (after its devices are ready), seconds: its share of the machine. */
  cpuS?: number;
  /** Gateway mode: chunks chained during the load, past those chained ahead of it (its CPU counted in the load's). */
  chainedLive?: number;
}

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8")) as LoadConfig;
/**
 * Every connection of the load sends each message at once (TCP_NODELAY). On loopback the MSS is
 * about 64 KiB, so every message is a segment smaller than it, and Nagle's algorithm holds each
 * next one until the receiver ACKs the last: the server's delayed ACK, or its PUBACK. A chunk then
 * waited about 9 ms (p50) and 37 ms (p90) in the sender before the server could read it, measured
 * with a trace of both ends. On a link with a 1,460-byte MSS a message is many full segments, the
 * receiver ACKs every second one, and nothing waits like that. The same for every server the bench
 * runs against.
 */
async function connect(url: string, opts: mqtt.IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, opts, false); // a close before the CONNACK rejects, not hangs
  (c.stream as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
  return c;
}

/** With `echo`, the bytes of a message's number (big-endian), and the answer's whole body. */
const ECHO_BYTES = 4;
/** Where a message's number is in a broker-mode message of `size` bytes of payload: its payload's start. */
function echoOffset(size: number): number {
  const payload = new Uint8Array(randomBytes(size));
  const frame = Buffer.from(encode("Uplink", { schema: 1, chunk: { header: new Uint8Array(128), payload, tag: new Uint8Array(32) } }));
  return frame.indexOf(Buffer.from(payload.subarray(0, 16)));
}
const echoAt = cfg.echo ? echoOffset(cfg.size) : 0;

const quantile = (xs: number[], q: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] : 0);

async function subscribe(): Promise<LoadResult> {
  const c = await connect(cfg.url, { clientId: "bench-counter", clean: true, reconnectPeriod: 0 });
  let n = 0, bytes = 0, first = 0, last = 0;
  c.on("message", (t, p) => {
    if (!first) first = Date.now();
    last = Date.now();
    n++;
    bytes += p.length;
    // The answer a subscriber that stores nothing gives at once: the message's number, to its device.
    if (cfg.echo) c.publish(`rec/${t.split("/")[1]}/down`, p.subarray(echoAt, echoAt + ECHO_BYTES), { qos: 1 });
  });
  await c.subscribeAsync("rec/+/up", { qos: 1 });
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  const idle = cfg.idleMs || 3000;
  const started = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    if (cfg.expect && n >= cfg.expect) break;
    if (first && Date.now() - last > idle) break;
    if (!first && Date.now() - started > cfg.durationMs + cfg.drainMs) break;
  }
  await c.endAsync();
  return { mode: "subscribe", published: 0, done: n, bytes, seconds: (last - first) / 1000, latency: { p50: 0, p99: 0, n: 0 } };
}

/**
 * A device of the load. `ready`: the headers and tags of the chunks chained ahead, back to back in
 * one buffer (HEADER_LEN + TAG_LEN bytes each), not an object per chunk: a few hundred thousand
 * small objects made the generator's collector work through the run.
 */
interface Dev { id: string; c: MqttClient; w?: ChainWriter; frame?: Uint8Array; ready: Uint8Array; readyCount: number; sent: number; acked: number; sentAt: number[]; payload: Uint8Array }
const READY = HEADER_LEN + TAG_LEN;

/** Chunks chained ahead of the timed run, per device: the generator spends its CPU before, not during. */
const AHEAD = cfg.ahead || 1500;
/** Chunks chained during the run (none, when AHEAD covers it). */
let chainedLive = 0;

async function device(d: LoadConfig["devices"][number]): Promise<Dev> {
  const payload = new Uint8Array(randomBytes(cfg.size));
  if (cfg.mode === "broker") {
    const c = await connect(cfg.url, { clientId: d.id, reconnectPeriod: 0 });
    const frame = encode("Uplink", { schema: 1, chunk: { header: new Uint8Array(128), payload, tag: new Uint8Array(32) } });
    const x: Dev = { id: d.id, c, frame, ready: new Uint8Array(0), readyCount: 0, sent: 0, acked: 0, sentAt: [], payload };
    if (cfg.echo) {
      await c.subscribeAsync(`rec/${d.id}/down`, { qos: 1 });
      c.on("message", (_t, m) => {
        const seq = m.length === ECHO_BYTES ? m.readUInt32BE(0) : 0;
        if (!x.sentAt[seq]) return;
        const now = Date.now();
        answered(x.sentAt[seq], now);
        x.sentAt[seq] = 0;
        x.acked++;
        lastAck = now;
      });
    }
    return x;
  }
  const keys = deriveDeviceKeys(sha, Buffer.from(d.root!, "hex"));
  const dev = deviceIdBytes(d.id);
  const c = await connect(cfg.url, { clientId: d.id, username: d.id, password: loginPassword(keys.login), reconnectPeriod: 0 });
  await c.subscribeAsync(`rec/${d.id}/down`, { qos: 1 });
  const nonce = randomBytes(16);
  const body = encode("Hello", { nonce, held: [], firmware: "bench", deviceTimeMs: Date.now() });
  await c.publishAsync(`rec/${d.id}/up`, Buffer.from(encode("Uplink", { schema: 1, hello: { body, tag: tagControl(sha, keys.controlKey, CONTROL_HELLO, dev, body) } })), { qos: 1 });
  const cc = new ChainCrypto(sha);
  const r = cfg.recording;
  const k1 = recordingKey(sha, stateAt(sha, keys.stateKey0, r - 1), r);
  const t = Date.now();
  const g = genesisFor(cc, dev, { recordingId: r, startMs: t - (AHEAD + 1) * 512, preEventMs: 0, uptimeMs: 1, media: MEDIA_PCM_8K_S16LE, caseTag: "", beacon: new Uint8Array(16), prevSeal: new Uint8Array(32) });
  const w = new ChainWriter(sha, dev, r, k1, 0, g.c0, 0);
  const x: Dev = { id: d.id, c, w, ready: new Uint8Array(AHEAD * READY), readyCount: AHEAD, sent: 0, acked: 0, sentAt: [], payload };
  for (let i = 1; i <= AHEAD; i++) {
    const o = w.chunk(payload, 0, MEDIA_PCM_8K_S16LE, t - (AHEAD - i) * 512, 512, i, new Uint8Array(16)); // a backlog: times past, as a recorder's
    x.ready.set(o.header, (i - 1) * READY);
    x.ready.set(o.tag, (i - 1) * READY + HEADER_LEN);
  }
  c.on("message", (_t, m) => {
    // The Ack's MAC is the device's business; the bench counts what the gateway says it stored.
    const down = decode("Downlink", m);
    const b = decode("DownBody", down.body as Uint8Array) as { ack?: { recording?: number; cumulative?: number } };
    if (!b.ack || (b.ack.recording || 0) !== r) return;
    const cum = b.ack.cumulative || 0;
    const now = Date.now();
    for (let s = x.acked + 1; s <= cum; s++) if (x.sentAt[s]) answered(x.sentAt[s], now);
    if (cum > x.acked) { x.acked = cum; lastAck = now; }
  });
  await c.publishAsync(`rec/${d.id}/up`, Buffer.from(encode("Uplink", { schema: 1, start: { genesis: g.block, caseTag: "" } })), { qos: 1 });
  return x;
}

const latencies: number[] = [];
/** The same latencies split by when the chunk was sent: in the load's first second, or after. */
const firstSecond: number[] = [];
const steady: number[] = [];
/** From sending a chunk to its PUBACK, for chunks sent after the first second: the server's MQTT layer and the network, both ways. */
const pubacks: number[] = [];
let loadStart = Date.now();
/** A message sent at `sent` was answered (Acked, or echoed) at `now`. */
function answered(sent: number, now: number): void {
  latencies.push(now - sent);
  (sent - loadStart < 1000 ? firstSecond : steady).push(now - sent);
}
let cpuAtStart = process.cpuUsage();
let lastAck = 0;

async function publishLoop(x: Dev, until: number, perDeviceRate: number): Promise<void> {
  let inflight = 0;
  let wake: (() => void) | null = null;
  const topic = `rec/${x.id}/up`;
  const start = Date.now();
  while (Date.now() < until) {
    if (perDeviceRate > 0) {
      const due = start + (x.sent / perDeviceRate) * 1000;
      if (due > Date.now()) { await new Promise((r) => setTimeout(r, due - Date.now())); continue; }
    }
    if (inflight >= cfg.window) { await new Promise<void>((r) => { wake = r; }); continue; }
    let bytes: Buffer;
    const seq = x.sent + 1;
    if (x.w) {
      let o: { header: Uint8Array; tag: Uint8Array };
      if (seq <= x.readyCount) {
        const at = (seq - 1) * READY;
        o = { header: x.ready.subarray(at, at + HEADER_LEN), tag: x.ready.subarray(at + HEADER_LEN, at + READY) };
      } else {
        chainedLive++;
        o = x.w.chunk(x.payload, 0, MEDIA_PCM_8K_S16LE, Date.now(), 512, seq, new Uint8Array(16));
      }
      // The frame around the payload, as a recorder sends it (codec.chunkFrame): one copy of the
      // payload per message, as little of the generator's CPU as a broker's prebuilt frame costs.
      const f = chunkFrame(o.header, x.payload.length, o.tag);
      bytes = Buffer.concat([f.prefix, x.payload, f.suffix]);
    } else {
      bytes = Buffer.from(x.frame!); // the same size as a chunk message, copied as a chunk's is: a broker only forwards it
      if (cfg.echo) bytes.writeUInt32BE(seq, echoAt);
    }
    x.sent = seq;
    x.sentAt[seq] = Date.now();
    inflight++;
    const at = x.sentAt[seq];
    x.c.publish(topic, bytes, { qos: 1 }, () => {
      if (at - loadStart >= 1000) pubacks.push(Date.now() - at);
      inflight--;
      if (wake) { const w = wake; wake = null; w(); }
    });
  }
  while (inflight > 0) await new Promise<void>((r) => { wake = r; });
}

async function main(): Promise<LoadResult> {
  if (cfg.mode === "subscribe") return subscribe();
  const devs = await Promise.all(cfg.devices.map(device));
  cpuAtStart = process.cpuUsage(); // the load's own CPU, not the chains made ahead of it
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const t0 = Date.now();
  loadStart = t0;
  // The load begins: whoever started this process may read the server's own figures one second
  // in, to split them as the latencies here are split.
  process.stdout.write(JSON.stringify({ loading: t0 }) + "\n");
  const until = t0 + cfg.durationMs;
  const perDevice = cfg.rate > 0 ? cfg.rate / devs.length : 0;
  await Promise.all(devs.map((x) => publishLoop(x, until, perDevice)));
  const published = devs.reduce((a, x) => a + x.sent, 0);
  if (cfg.mode === "gateway" || cfg.echo) {
    const end = Date.now() + cfg.drainMs;
    while (Date.now() < end && devs.some((x) => x.acked < x.sent)) await new Promise((r) => setTimeout(r, 50));
  }
  const done = cfg.mode === "gateway" || cfg.echo ? devs.reduce((a, x) => a + x.acked, 0) : published;
  loop.disable();
  await Promise.all(devs.map((x) => x.c.endAsync()));
  latencies.sort((a, b) => a - b);
  steady.sort((a, b) => a - b);
  firstSecond.sort((a, b) => a - b);
  pubacks.sort((a, b) => a - b);
  const last = cfg.mode === "gateway" || cfg.echo ? lastAck || Date.now() : Date.now();
  return { mode: cfg.mode, published, done, bytes: done * cfg.size, seconds: (last - t0) / 1000, latency: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), n: latencies.length,
    steady: { p50: quantile(steady, 0.5), p99: quantile(steady, 0.99), n: steady.length }, firstSecondP99: quantile(firstSecond, 0.99),
      puback: { p50: quantile(pubacks, 0.5), p99: quantile(pubacks, 0.99), n: pubacks.length } },
    loopDelay: { p50: Math.round(loop.percentile(50) / 1e5) / 10, p99: Math.round(loop.percentile(99) / 1e5) / 10, max: Math.round(loop.max / 1e5) / 10 }, chainedLive };
}

const result = await main();
const cpu = process.cpuUsage(cpuAtStart);
process.stdout.write(JSON.stringify({ ...result, cpuS: (cpu.user + cpu.system) / 1e6 }) + "\n");
process.exit(0);
