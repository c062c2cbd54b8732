// The recorder core with a fake host (Node TCP, a directory as SD card, a map as Storage) against a
// real test gateway: what an officer and a station would notice if any of it broke.
import { describe, it, expect, afterEach } from "vitest";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { Aedes } from "aedes";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { deriveDeviceKeys } from "../../protocol/chain.js";
import { deviceIdBytes, encodeAckBlock, endReasonOf } from "../../protocol/blocks.js";
import { DownlinkSigner } from "../../protocol/downlink.js";
import { decode, encode } from "../../protocol/codec.js";
import { FLAG_MARKER, FLAG_PRE_EVENT } from "../../protocol/constants.js";
import { Recorder, RECORDING, IDLE, FULL } from "../../firmware/core/recorder.js";
import type { RecorderOptions } from "../../firmware/core/recorder.js";
import { downlink } from "../../firmware/core/downlink.js";
import { KEY_FILE } from "../../protocol/device-files.js";
import { PowerLoss } from "../../simulator/imitation/node-store.js";
import { testGateway } from "../gateway/harness.js";
import { fakeHost, provisionKv, until, MemKv } from "./fake-host.js";
import type { FakeHost } from "./fake-host.js";
import { lossless } from "../../simulator/scenario-kit.js";
import type { Ctx } from "../../simulator/scenario-kit.js";
import type { DeviceInfo } from "../../simulator/types.js";

const FAST: Partial<RecorderOptions> = { helloWaitMs: 300, tickMs: 100, resendMs: 1500, backoffMin: 100, backoffMax: 400, reserve: 4096 };

type Gw = Awaited<ReturnType<typeof testGateway>>;
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

async function gateway(): Promise<Gw> {
  const g = await testGateway();
  cleanup.push(() => g.close());
  return g;
}

async function device(g: Gw | null, id: string, over: Record<string, unknown> = {}, port = 0): Promise<{ root: Uint8Array; kv: MemKv }> {
  const root = new Uint8Array(randomBytes(32));
  if (g) await g.gw.registry.add(id, { root });
  const kv = new MemKv();
  provisionKv(kv, id, root, g ? g.gw.mqttPort : port, over);
  return { root, kv };
}

function boot(kv: MemKv, dir?: string, opts: Partial<RecorderOptions> = FAST, hostOpts: { capacity?: number } = {}): { rec: Recorder; h: FakeHost } {
  const h = fakeHost({ kv, dir, ...hostOpts });
  const rec = new Recorder(h.host, opts);
  expect(rec.start()).toBe("");
  cleanup.push(() => rec.halt());
  return { rec, h };
}

async function recordings(g: Gw, id: string) {
  return g.gw.db.all<{ recording_id: number; verdict: string; interrupted: number; linked_seq: number; reasons: string; final: number }>(
    "SELECT recording_id, verdict, interrupted, linked_seq, reasons, final FROM recordings WHERE device_id = ? ORDER BY recording_id", [id]);
}

/** Why each recording of a device ended, as its stored seal says (R-SEAL-5). */
async function endReasons(g: Gw, id: string): Promise<(string | null)[]> {
  const rows = await g.gw.db.all<{ seal_block: Uint8Array | null }>("SELECT seal_block FROM recordings WHERE device_id = ? ORDER BY recording_id", [id]);
  return rows.map((r) => endReasonOf(r.seal_block));
}

/**
 * A bare MQTT broker in place of a gateway: the device connects and publishes, nobody answers. It
 * keeps the nonce of every Hello the device says, in order, with the connection (counted from 1)
 * each came on. Its first `refuse` subscriptions are refused (SUBACK 0x80).
 */
async function silentBroker(id: string, refuse = 0): Promise<{ port: number; hellos: Uint8Array[]; helloOn: number[]; connections: () => number }> {
  let connections = 0;
  const broker = await Aedes.createBroker({ authorizeSubscribe: (_c, sub, done) => done(null, refuse-- > 0 ? null : sub) });
  broker.on("client", () => { connections++; });
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => new Promise<void>((r) => { server.close(() => r()); broker.close(); }));
  const hellos: Uint8Array[] = [];
  const helloOn: number[] = [];
  broker.on("publish", (packet, client) => {
    if (!client || packet.topic !== `rec/${id}/up`) return;
    const up = decode("Uplink", new Uint8Array(packet.payload as Buffer));
    if (!up.hello) return;
    hellos.push(decode("Hello", (up.hello as { body: Uint8Array }).body).nonce as Uint8Array);
    helloOn.push(connections);
  });
  return { port: (server.address() as AddressInfo).port, hellos, helloOn, connections: () => connections };
}

function qfiles(h: FakeHost): string[] {
  return readdirSync((h.store.inner as unknown as { dir: string }).dir).filter((n) => n.startsWith("q"));
}

describe("recorder core against a real gateway", () => {
  it("records, chains, stores, publishes, and frees each chunk only on its authenticated Ack", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-1");
    const { rec, h } = boot(kv);
    await until(() => rec.up.ready, "hello answered");
    h.press("record");
    expect(rec.state).toBe(RECORDING);
    expect(h.media.emit(6)).toBe(6);
    h.press("record");
    expect(rec.state).toBe(IDLE);
    await until(async () => (await recordings(g, "REC-1"))[0]?.verdict === "verified", "recording verified");
    await until(() => rec.queue.depth() === 0 && qfiles(h).length === 0, "queue freed");
    const [r] = await recordings(g, "REC-1");
    expect(r.linked_seq).toBe(6);
    expect(await endReasons(g, "REC-1")).toEqual(["STOPPED"]); // the officer's button
    expect(rec.stats.chunks).toBe(6);
    // Forward security: the key file moved on, and no K_1 is left once sealed.
    const k = JSON.parse(kv.read(KEY_FILE)!);
    expect(k).toMatchObject({ j: 1, next: 2, ls: 1, open: null });
    expect(kv.compactions).toBeGreaterThanOrEqual(3); // boot, start, seal
  });

  it("an Ack block frees as the protobuf Ack does: read in place with a one-byte length, through the decoder when its bitmap makes it longer (R-ACKB-1)", async () => {
    const { kv, root } = await device(null, "REC-13", {}, 1);
    const { rec, h } = boot(kv, undefined, { ...FAST, backoffMin: 60000, backoffMax: 60000 });
    h.press("record");
    h.media.emit(4);
    expect(rec.queue.depth()).toBe(1 + 4);
    const keys = deriveDeviceKeys(sha, root);
    const nonce = new Uint8Array(randomBytes(16));
    rec.guard!.open(nonce);
    const signer = new DownlinkSigner(sha, keys.downlinkKey, deviceIdBytes("REC-13"), nonce);
    const send = (body: Uint8Array) => { const m = signer.sign(body); downlink(rec, encode("Downlink", { schema: 2, counter: m.counter, body, mac: m.mac })); };
    send(encode("DownBody", { ackBlock: encodeAckBlock({ recording: 1, state: 0, cumulative: 2 }) })); // 14 bytes: the fast path
    expect(rec.queue.depth()).toBe(1 + 2);
    const long = encode("DownBody", { ackBlock: encodeAckBlock({ recording: 1, state: 0, cumulative: 3, selective: new Uint8Array(200) }) });
    expect(long[1]).toBeGreaterThanOrEqual(0x80); // a two-byte length: the decoder's way
    send(long);
    expect(rec.queue.depth()).toBe(1 + 1);
    send(encode("DownBody", { ackBlock: new Uint8Array([2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4]) })); // another layout version
    expect(rec.queue.depth()).toBe(1 + 1);
    expect(rec.lastError).toBe("DOWNLINK_DECODE");
    expect(rec.stats.acked).toBe(2);
  });

  it("a forged Ack, or one replayed from an earlier connection, frees nothing; the genuine one does", async () => {
    // No gateway: the device records offline, so 3 chunks are held and nothing acknowledges them.
    const { kv, root } = await device(null, "REC-2", {}, 1);
    const { rec, h } = boot(kv, undefined, { ...FAST, backoffMin: 60000, backoffMax: 60000 });
    h.press("record");
    h.media.emit(3);
    h.press("record");
    expect(rec.queue.depth()).toBe(1 + 3 + 1); // the start, the chunks, the seal
    const keys = deriveDeviceKeys(sha, root);
    const dev = deviceIdBytes("REC-2");
    const ackBody = encode("DownBody", { ack: { recording: 1, state: 1, cumulative: 3 } });
    const wrap = (m: { counter: number; mac: Uint8Array }) => encode("Downlink", { schema: 1, counter: m.counter, body: ackBody, mac: m.mac });
    // Two sessions, as two connections would open them with their Hello nonces.
    const earlier = new Uint8Array(randomBytes(16));
    const nonce = new Uint8Array(randomBytes(16));
    rec.guard!.open(earlier);
    rec.guard!.open(nonce);
    // 1. A MAC under a wrong key.
    const forger = new DownlinkSigner(sha, new Uint8Array(32).fill(7), dev, nonce);
    downlink(rec, wrap(forger.sign(ackBody)));
    // 2. A genuine MAC, for the earlier connection's nonce (a replay across connections).
    const replay = new DownlinkSigner(sha, keys.downlinkKey, dev, earlier);
    downlink(rec, wrap(replay.sign(ackBody)));
    // 3. Not even decodable.
    downlink(rec, new Uint8Array([0xff, 0xff, 0xff]));
    expect(rec.queue.depth()).toBe(5);
    expect(rec.guard!.rejected).toBe(3);
    expect(rec.lastError).toBe("DOWNLINK_DECODE");
    // 4. The genuine one for this session frees; the same bytes again are a replay and change nothing.
    const real = new DownlinkSigner(sha, keys.downlinkKey, dev, nonce);
    const m = wrap(real.sign(ackBody));
    downlink(rec, m);
    expect(rec.queue.depth()).toBe(0);
    expect(rec.queue.held()).toEqual([]);
    downlink(rec, m);
    expect(rec.lastError).toBe("DOWNLINK_REPLAY");
  });

  it("a reboot mid-recording loses nothing: sealed as interrupted, the next recording chains to it", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-3");
    const first = boot(kv);
    await until(() => first.rec.up.ready, "hello answered");
    first.h.press("record");
    first.h.media.emit(4);
    await until(async () => (await recordings(g, "REC-3"))[0]?.linked_seq === 4, "4 chunks stored");
    first.h.media.emit(2); // these two may or may not reach the gateway before the power cut
    // Power cut: no seal, no goodbye.
    first.rec.halt();
    for (const s of first.h.net.sockets) s.destroy();
    const dir = (first.h.store.inner as unknown as { dir: string }).dir;
    const second = boot(kv, dir);
    expect(second.h.logs.some((l) => /recording 1 sealed as interrupted after chunk 6/.test(l))).toBe(true);
    await until(() => second.rec.up.ready, "hello answered after reboot");
    second.h.press("record");
    second.h.media.emit(2);
    second.h.press("record");
    await until(async () => (await recordings(g, "REC-3")).filter((r) => r.verdict === "verified").length === 2, "both verified", 15000);
    const rs = await recordings(g, "REC-3");
    expect(rs.map((r) => [r.recording_id, r.linked_seq, r.interrupted])).toEqual([[1, 6, 1], [2, 2, 0]]);
    expect(await endReasons(g, "REC-3")).toEqual(["REBOOT", "STOPPED"]); // the seal says why each ended
    await until(() => second.rec.queue.depth() === 0, "queue empty");
  });

  it("a torn write at power loss: recovery names what it dropped, keeps what was acknowledged, seals the rest", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-4");
    const first = boot(kv);
    await until(() => first.rec.up.ready, "hello answered");
    first.h.press("record");
    first.h.media.emit(3);
    await until(async () => (await recordings(g, "REC-4"))[0]?.linked_seq === 3, "3 chunks stored");
    await until(() => first.rec.queue.depth() === 1, "3 acknowledged (the start is held until the seal is)");
    first.h.store.tearNextAfter(100); // chunk 4's record: header and part of its body, then the power goes
    expect(() => first.h.media.emit(1)).toThrow(PowerLoss);
    first.rec.halt();
    for (const s of first.h.net.sockets) s.destroy();
    const dir = (first.h.store.inner as unknown as { dir: string }).dir;
    const second = boot(kv, dir);
    expect(second.rec.stats.dropped.length).toBe(1);
    expect(second.h.logs.some((l) => /dropped torn record q0000001\.\d{3} at \d+ \(short body\)/.test(l))).toBe(true);
    // Chunks 1..3 were freed on the device: the seal comes from the ack record's note.
    expect(second.h.logs.some((l) => /recording 1 sealed as interrupted after chunk 3/.test(l))).toBe(true);
    await until(async () => (await recordings(g, "REC-4"))[0]?.verdict === "verified", "verified after reboot");
    expect((await recordings(g, "REC-4"))[0]).toMatchObject({ linked_seq: 3, interrupted: 1 });
  });

  it("a power cut between the key file and the start record: the start is put back and the recording sealed", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-5");
    const first = boot(kv);
    await until(() => first.rec.up.ready, "hello answered");
    first.h.store.tearNextAfter(10);
    expect(() => first.h.press("record")).toThrow(PowerLoss);
    first.rec.halt();
    for (const s of first.h.net.sockets) s.destroy();
    expect(JSON.parse(kv.read(KEY_FILE)!).open.r).toBe(1);
    const second = boot(kv, (first.h.store.inner as unknown as { dir: string }).dir);
    await until(async () => (await recordings(g, "REC-5"))[0]?.verdict === "verified", "empty interrupted recording verified");
    expect((await recordings(g, "REC-5"))[0]).toMatchObject({ linked_seq: 0, interrupted: 1 });
    expect(second.rec.keys!.open).toBe(null);
  });

  it("storage full of unacknowledged evidence: recording stops, the alarm goes up, nothing is overwritten", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-6");
    // The gateway refuses everything but Hello and Status while its disk is "low": nothing is acknowledged.
    g.gw.ingest.diskLow = true;
    const { rec, h } = boot(kv, undefined, FAST, { capacity: 64 * 1024 });
    await until(() => rec.up.ready, "hello answered");
    h.press("record");
    let n = 0;
    while (rec.state === RECORDING && n < 100) n += h.media.emit(1);
    expect(rec.state).toBe(FULL);
    expect(rec.alarm).toBe(true);
    expect(rec.lastError).toBe("STORAGE_FULL");
    expect(h.leds.at(-1)).toBe("full");
    const stored = rec.queue.depth() - 2; // the chunks held, beside the start and the seal
    expect(stored).toBeGreaterThan(5);
    expect(stored).toBeLessThan(n);
    // The button does nothing while full; the seal made it into the queue.
    h.press("record");
    expect(rec.state).toBe(FULL);
    expect(rec.queue.held()[0].sealed).toBe(true);
    await until(async () => !!(await g.gw.db.get<{ s: string }>("SELECT last_status AS s FROM devices WHERE id = 'REC-6'"))?.s?.includes('"alarm":true'), "status with alarm at the gateway");
    // Space comes back: the gateway acknowledges, the device frees and may record again.
    // Nothing was acknowledged, so after `resendMs` the device sends the same bytes again.
    g.gw.ingest.diskLow = false;
    // Usually about 2 s (a resend after resendMs, fsync'd commits, the Acks); over 15 s was seen while
    // the real-interpreter lane kept both cores busy.
    await until(() => rec.state === IDLE && !rec.alarm, "recording allowed again", 60000);
    await until(async () => (await recordings(g, "REC-6"))[0]?.verdict === "verified", "verified");
    expect((await recordings(g, "REC-6"))[0].linked_seq).toBe(stored);
    expect(await endReasons(g, "REC-6")).toEqual(["STORAGE_FULL"]);
  });

  it("a chunk that throws before it is stored (a board out of memory) is named in the log, and the chain goes on", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-9");
    const h = fakeHost({ kv });
    // A native hash that finds no memory: Espruino prints an error and returns undefined, and the
    // next statement throws. Here the n-th hash throws.
    const sha = h.host.sha;
    let calls = 0, failAt = -1;
    h.host.sha = (b) => { if (++calls === failAt) throw new Error("Not enough memory for result"); return sha(b); };
    const rec = new Recorder(h.host, FAST);
    expect(rec.start()).toBe("");
    cleanup.push(() => rec.halt());
    await until(() => rec.up.ready, "hello answered");
    h.press("record");
    h.media.emit(2);
    failAt = calls + 2; // in the chain step: the writer is half-way through chunk 3
    expect(() => h.media.emit(1)).toThrow(/Not enough memory/); // still thrown, as a board's console shows it
    expect(rec.lastError).toBe("CHUNK_ERROR");
    failAt = calls + 6; // in the queue's check: the writer has finished chunk 3, nothing is stored
    expect(() => h.media.emit(1)).toThrow(/Not enough memory/);
    h.media.emit(2);
    h.press("record");
    expect(h.logs.filter((l) => /chunk 3 not stored: ERROR .*Not enough memory/.test(l))).toHaveLength(2);
    expect(rec.stats.chunks).toBe(4);
    await until(async () => (await recordings(g, "REC-9"))[0]?.verdict === "verified", "recording verified");
    expect((await recordings(g, "REC-9"))[0].linked_seq).toBe(4);
    await until(() => rec.queue.depth() === 0, "queue freed");
  });

  it("a device that still holds only its start and seal (the gateway stopped acknowledging before the seal) is not drained: queue depth 2 in info() and Status, and the simulator's lossless() check names it", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-12");
    const { rec, h } = boot(kv);
    await until(() => rec.up.ready, "hello answered");
    h.press("record");
    h.media.emit(3);
    await until(() => rec.queue.depth() === 1, "3 chunks acknowledged (the start is held until the seal is)");
    g.gw.ingest.diskLow = true; // the seal goes out, and is not acknowledged
    h.press("record");
    await until(async () => (await recordings(g, "REC-12"))[0]?.linked_seq === 3, "3 chunks stored");
    await new Promise((r) => setTimeout(r, 300));
    const info = rec.info() as unknown as DeviceInfo;
    expect(info).toMatchObject({ state: "idle", queueDepth: 2 });
    expect(rec.queue.held()).toEqual([{ recording: 1, firstSeq: 0, lastSeq: 3, sealed: true, open: false }]);
    rec.up.heartbeat();
    await until(async () => !!(await g.gw.db.get<{ s: string }>("SELECT last_status AS s FROM devices WHERE id = 'REC-12'"))?.s?.includes('"queueDepth":2'), "a Status with queue depth 2");
    const ctx = { devices: [{ id: "REC-12" }], interrupted: [new Set<number>()] } as unknown as Ctx;
    expect(lossless(ctx, [], [info])).toContain("REC-12: 2 records (starts, chunks, seals) still held, never acknowledged");
    // Acknowledged at last: drained.
    g.gw.ingest.diskLow = false;
    await until(() => rec.queue.depth() === 0, "the seal acknowledged", 15000);
  });

  it("a battery about to give out seals the recording saying so (BATTERY_LOW), and a new one is refused until it is charged", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-14");
    const { rec, h } = boot(kv);
    await until(() => rec.up.ready, "hello answered");
    h.press("record");
    h.media.emit(2);
    h.host.battery = () => ({ mv: 3350, pct: 2 });
    await until(() => rec.state === IDLE, "stopped by the tick");
    expect(h.logs.some((l) => /battery at 2%: recording stopped/.test(l))).toBe(true);
    expect(rec.record("")).toBe("BATTERY_LOW");
    await until(async () => (await recordings(g, "REC-14"))[0]?.verdict === "verified", "verified");
    expect(await endReasons(g, "REC-14")).toEqual(["BATTERY_LOW"]);
  });

  it("a reconnect resumes from the gateway's cumulative Ack, not from the start", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-7");
    const { rec, h } = boot(kv);
    await until(() => rec.up.ready, "hello answered");
    h.press("record");
    h.media.emit(10);
    await until(async () => (await recordings(g, "REC-7"))[0]?.linked_seq === 10, "10 stored");
    await until(() => rec.queue.depth() === 1, "10 acknowledged (the start is held until the seal is)");
    for (const s of h.net.sockets) s.destroy();
    await until(() => !rec.up.online, "offline");
    h.media.emit(5); // recorded while offline
    await until(() => rec.up.ready, "reconnected", 5000);
    h.press("record");
    await until(async () => (await recordings(g, "REC-7"))[0]?.verdict === "verified", "verified");
    expect((await recordings(g, "REC-7"))[0].linked_seq).toBe(15);
    // 15 chunks, each published once: nothing acknowledged was sent again.
    expect(rec.stats.published).toBe(15);
    expect(g.gw.ingest.stats.duplicates).toBe(0);
  });

  it("after a reconnect, a recording the Hello lists waits for the gateway's answer: a slow commit breeds no resend", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-8");
    const { rec, h } = boot(kv);
    await until(() => rec.up.ready, "hello answered");
    g.gw.committer.hold(); // a starved gateway: the start and chunks wait to be committed
    h.press("record");
    h.media.emit(3);
    await until(() => rec.stats.published === 3, "3 published");
    // Every PUBACK in: the gateway has the start and the 3 chunks (verified, not yet committed).
    await until(() => (rec.mqtt as unknown as { queue: unknown[] }).queue.length === 0, "3 taken by the broker");
    for (const s of h.net.sockets) s.destroy();
    await until(() => !rec.up.online, "offline");
    await until(() => rec.up.online, "reconnected", 5000);
    // Well past helloWaitMs, the gateway has not answered (its commit is in flight): nothing goes again.
    await new Promise((r) => setTimeout(r, 900));
    expect(rec.stats.published).toBe(3);
    g.gw.committer.release();
    // The chunks acknowledged once committed; the start stays held until the seal is acknowledged.
    await until(() => rec.queue.depth() === 1, "acknowledged once committed", 5000);
    expect(rec.stats.published).toBe(3);
    expect(g.gw.ingest.stats.duplicates).toBe(0);
    h.press("record");
    await until(async () => (await recordings(g, "REC-8"))[0]?.verdict === "verified", "verified");
    await until(() => rec.queue.depth() === 0, "sealed and freed", 5000);
  });

  it("a lost Hello: 3 downlinks in a row MAC'd under another nonce make it say Hello again with a fresh one, and the Ack under that one frees (R-DL-6)", async () => {
    const id = "REC-15";
    const br = await silentBroker(id);
    const { kv, root } = await device(null, id, {}, br.port);
    const { rec, h } = boot(kv);
    h.clock.up = 10000; // uptime only moves when the test moves it
    await until(() => rec.up.ready && br.hellos.length === 1, "hello said (to a broker that stores it nowhere)");
    h.press("record");
    h.media.emit(3);
    h.press("record");
    expect(rec.queue.depth()).toBe(1 + 3 + 1);
    const keys = deriveDeviceKeys(sha, root);
    const dev = deviceIdBytes(id);
    const ack = encode("DownBody", { ack: { recording: 1, state: 1, cumulative: 3 } });
    const send = (s: DownlinkSigner, body = ack) => { const m = s.sign(body); downlink(rec, encode("Downlink", { schema: 1, counter: m.counter, body, mac: m.mac })); };
    // The gateway never got this connection's Hello: it signs under the nonce of an earlier one.
    const stale = new DownlinkSigner(sha, keys.downlinkKey, dev, new Uint8Array(randomBytes(16)));
    const current = new DownlinkSigner(sha, keys.downlinkKey, dev, br.hellos[0]);
    send(stale);
    send(stale);
    // One accepted message ends the row: two more refusals are not three in a row.
    send(current, encode("DownBody", { beacon: { timeMs: Date.now(), nonce: new Uint8Array(16).fill(1) } }));
    send(stale);
    send(stale);
    expect(rec.info().downlinkMacInRow).toBe(2);
    await new Promise((r) => setTimeout(r, 300)); // ticks pass: nothing said
    expect(br.hellos.length).toBe(1);
    // The third in a row, within helloWaitMs of the Hello: held back until the wait is over.
    h.clock.up += 100;
    send(stale);
    expect(rec.info().downlinkMacInRow).toBe(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(br.hellos.length).toBe(1);
    // The wait over, the next housekeeping tick says it.
    h.clock.up += 300;
    await until(() => br.hellos.length === 2, "hello said again");
    expect(Buffer.from(br.hellos[1]).equals(Buffer.from(br.hellos[0]))).toBe(false);
    expect(h.logs.filter((l) => /hello again: 3 downlinks in a row refused \(DOWNLINK_MAC\)/.test(l))).toHaveLength(1);
    expect(rec.info().downlinkMacInRow).toBe(0);
    // Nothing was freed by any refused message, nor by the Hello.
    expect(rec.queue.depth()).toBe(5);
    // The gateway answers the new Hello under its nonce, counter from 1: that Ack frees.
    send(new DownlinkSigner(sha, keys.downlinkKey, dev, br.hellos[1]));
    expect(rec.queue.depth()).toBe(0);
    expect(rec.guard!.rejected).toBe(5);
  });

  it("a refused subscription (nats-server refuses one while a stream elects its leader): no Hello on that connection, a new one after the backoff, and the Hello there", async () => {
    const id = "REC-19";
    const br = await silentBroker(id, 2);
    const { kv } = await device(null, id, {}, br.port);
    const { rec, h } = boot(kv);
    // Downlinks would never reach a device not subscribed: it says Hello only where the subscription was granted.
    await until(() => rec.up.online && br.hellos.length === 1, "hello said on the third connection");
    expect(br.connections()).toBe(3);
    expect(br.helloOn).toEqual([3]);
    expect(h.logs.filter((l) => l.endsWith("disconnected: SUBACK_REFUSED"))).toHaveLength(2);
  });

  it("a forger's bad MACs get at most one Hello per helloWaitMs and free nothing (R-DL-6)", async () => {
    const id = "REC-16";
    const br = await silentBroker(id);
    const { kv, root } = await device(null, id, {}, br.port);
    const { rec, h } = boot(kv);
    h.clock.up = 10000;
    await until(() => rec.up.ready && br.hellos.length === 1, "hello said");
    h.press("record");
    h.media.emit(2);
    h.press("record");
    expect(rec.queue.depth()).toBe(1 + 2 + 1);
    const dev = deviceIdBytes(id);
    const ack = encode("DownBody", { ack: { recording: 1, state: 1, cumulative: 1000 } });
    // Acks for everything, MAC'd with a key the forger made up, under the nonce it saw in the Hello.
    const flood = (n: number) => {
      const f = new DownlinkSigner(sha, new Uint8Array(32).fill(9), dev, br.hellos[br.hellos.length - 1]);
      for (let i = 0; i < n; i++) { const m = f.sign(ack); downlink(rec, encode("Downlink", { schema: 1, counter: m.counter, body: ack, mac: m.mac })); }
    };
    h.clock.up += 300; // helloWaitMs after the first Hello
    flood(50);
    await until(() => br.hellos.length === 2, "one hello again");
    for (let round = 0; round < 3; round++) {
      // Within helloWaitMs of the last Hello: however many, and however many ticks, no Hello.
      h.clock.up += 299;
      flood(50);
      await new Promise((r) => setTimeout(r, 300));
      expect(br.hellos.length).toBe(2 + round);
      // One ms later the wait is over: one Hello, and only one.
      h.clock.up += 1;
      flood(50);
      await until(() => br.hellos.length === 3 + round, "the next hello again");
      await new Promise((r) => setTimeout(r, 300));
      expect(br.hellos.length).toBe(3 + round);
    }
    expect(h.logs.filter((l) => /hello again/.test(l))).toHaveLength(4);
    expect(rec.guard!.rejected).toBe(50 * 7);
    expect(rec.queue.depth()).toBe(4);
    expect(rec.stats.acked).toBe(0);
    // The device still takes its gateway's Ack under its last Hello's nonce.
    const real = new DownlinkSigner(sha, deriveDeviceKeys(sha, root).downlinkKey, dev, br.hellos[br.hellos.length - 1]);
    const m = real.sign(encode("DownBody", { ack: { recording: 1, state: 1, cumulative: 2 } }));
    downlink(rec, encode("Downlink", { schema: 1, counter: m.counter, body: encode("DownBody", { ack: { recording: 1, state: 1, cumulative: 2 } }), mac: m.mac }));
    expect(rec.queue.depth()).toBe(0);
  });

  it("pre-event chunks and markers enter the chain flagged", async () => {
    const g = await gateway();
    const { kv } = await device(g, "REC-8", { pre: 2 });
    const { rec, h } = boot(kv);
    await until(() => rec.up.ready, "hello answered");
    expect(h.media.running).toBe(true); // the ring fills while idle
    h.media.emit(5); // 5 s idle: only the last 2 s are kept
    h.press("record");
    h.media.emit(1);
    h.press("marker");
    h.media.emit(2);
    h.press("record");
    await until(async () => (await recordings(g, "REC-8"))[0]?.verdict === "verified", "verified");
    const chunks = await g.gw.db.all<{ seq: number; flags: number }>("SELECT seq, flags FROM chunks WHERE device_id = 'REC-8' ORDER BY seq");
    expect(chunks.map((c) => c.flags)).toEqual([FLAG_PRE_EVENT, FLAG_PRE_EVENT, 0, FLAG_MARKER, 0]);
    expect(readdirSync((h.store.inner as unknown as { dir: string }).dir).filter((n) => n.startsWith("pre"))).toEqual([]);
  });

  it("refuses to record without a valid config, and says why", async () => {
    const kv = new MemKv();
    kv.write("rec.cfg", JSON.stringify({ v: 1, id: "bad id!", host: "x", port: 1 }));
    const h = fakeHost({ kv });
    const rec = new Recorder(h.host, FAST);
    expect(rec.start()).toBe("CONFIG_FIELD:id");
    expect(h.leds.at(-1)).toBe("noconfig");
    expect(h.logs.join("\n")).toMatch(/CONFIG_FIELD:id/);
    h.press("record");
    expect(rec.record("")).toBe("NO_CONFIG");
    expect(new Recorder(fakeHost({}).host, FAST).start()).toBe("CONFIG_MISSING");
  });
});
