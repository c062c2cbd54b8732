// The gateway with real mqtt.js clients: admission, verified ingest, durable storage, MAC'd Acks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until as waitUntil } from "../helpers/wait.js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import { startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "./fake-device.js";
import { testDb } from "../helpers/postgres.js";

let gw: Gateway;
let dir: string;
let store: Awaited<ReturnType<typeof testDb>>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "evrec-gw-"));
  store = await testDb();
  gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, db: store.db, diskMinFreeMb: 1, beaconIntervalS: 0 }, createLogger("silent"));
});
afterAll(async () => {
  await gw.close();
  await store.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function until(ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function provisioned(id: string): Promise<FakeDevice> {
  const root = randomBytes(32);
  await gw.registry.add(id, { root });
  return new FakeDevice(id, root);
}

const ackFor = (r: number, state: number, cum: number) => (m: { kind: string; body: Record<string, unknown> }) => {
  const a = m.body.ack as { recording: number; state: number; cumulative: number } | undefined;
  return m.kind === "ack" && !!a && a.recording === r && a.state === state && a.cumulative === cum;
};

describe("gateway ingest over MQTT", () => {
  it("coalesces an open recording's Acks to one a second, and acknowledges a seal at once", async () => {
    const d = await provisioned("BWC-0140");
    await d.connect(gw.mqttPort);
    await d.hello();
    const rec = d.recording(1, Array.from({ length: 8 }, () => randomBytes(2000)));
    await d.publish(rec.start);
    for (const c of rec.chunks) await d.publish(c);
    await d.waitFor(ackFor(1, 0, 8), 5000);
    const open = d.received.filter((m) => m.kind === "ack" && (m.body.ack as { state: number }).state === 0);
    expect(open.length).toBeLessThanOrEqual(4); // 8 chunks: the first Ack at once, the rest folded into the next ones
    expect(d.received.every((m) => m.ok === "")).toBe(true);
    const t0 = Date.now();
    await d.publish(rec.seal);
    await d.waitFor(ackFor(1, 1, 8), 5000);
    expect(Date.now() - t0).toBeLessThan(800); // not held for the interval: the state changed
    await d.end();
  });

  it("sends each MQTT packet in one TCP write: a PUBACK or an Ack reaches the device in one read", async () => {
    const d = await provisioned("BWC-0141");
    await d.connect(gw.mqttPort);
    // Count what the device's socket reads and the packets mqtt.js parses out of it. Every read a
    // board takes costs it a call into its interpreter; a packet split over reads costs two or three.
    const sock = (d.client as unknown as { stream: import("node:net").Socket }).stream;
    let reads = 0, packets = 0;
    sock.on("data", () => reads++);
    d.client.on("packetreceive", () => packets++);
    await d.hello();
    const rec = d.recording(1, Array.from({ length: 6 }, () => randomBytes(1000)));
    await d.publish(rec.start);
    for (const c of rec.chunks) await d.publish(c);
    await d.publish(rec.seal);
    await d.waitFor(ackFor(1, 1, 6), 5000);
    expect(packets).toBeGreaterThanOrEqual(9); // PUBACKs of start, 6 chunks and seal, and Acks
    expect(reads).toBeLessThanOrEqual(packets); // each packet whole in one read (loopback may join two)
    await d.end();
  });

  it("publishes a heartbeat's live event only once it is stored: a console reading the fleet on the event reads the new status", async () => {
    const d = await provisioned("BWC-0143");
    await d.connect(gw.mqttPort);
    await d.hello();
    // On each live event of the device, the store is read at once, as a console whose live stream
    // has just opened reads the fleet list: what it reads must not be older than the event.
    const read: { battery: unknown; stored: unknown }[] = [];
    const off = gw.bus.subscribe((ev) => {
      if (ev.type !== "device" || ev.id !== "BWC-0143" || !ev.status) return;
      const battery = ev.status.batteryPct;
      void gw.db.get<{ last_status: string | null }>("SELECT last_status FROM devices WHERE id = ?", ["BWC-0143"])
        .then((row) => read.push({ battery, stored: row && row.last_status ? JSON.parse(row.last_status).batteryPct : null }));
    });
    try {
      for (const battery of [71, 52, 33]) {
        await d.status({ batteryPct: battery, storageFree: 900 * 1048576, queueDepth: 0, clockOffsetMs: 0, state: 0 });
        await until(() => read.some((r) => r.battery === battery), 5000);
      }
      expect(read).toEqual([{ battery: 71, stored: 71 }, { battery: 52, stored: 52 }, { battery: 33, stored: 33 }]);
    } finally {
      off();
      await d.end();
    }
  });

  it("never shows a device online again after it said its last heartbeat and went", async () => {
    const d = await provisioned("BWC-0144");
    await d.connect(gw.mqttPort);
    await d.hello();
    const seen: { online: boolean; status: boolean }[] = [];
    const off = gw.bus.subscribe((ev) => { if (ev.type === "device" && ev.id === "BWC-0144") seen.push({ online: ev.online, status: !!ev.status }); });
    try {
      await d.status({ batteryPct: 9, storageFree: 900 * 1048576, queueDepth: 0, clockOffsetMs: 0, state: 0 });
      await d.end();
      // Both are heard of: the heartbeat (once stored) and the disconnect, in either order.
      await until(() => seen.some((e) => e.status) && seen.some((e) => !e.online), 5000);
      expect(seen[seen.length - 1].online).toBe(false);
    } finally {
      off();
    }
  });

  it("stores a streamed recording verified, byte for byte, acknowledges it with authenticated Acks, and links officer and case", async () => {
    const d = await provisioned("BWC-0101");
    const unit = await gw.model.addUnit("Market Supervision Agency", "agency");
    await gw.model.addOfficer({ badge: "M-017", name: "Zhang Min", unitId: unit.id, role: "enforcement", certNo: "ZF-017", certValidFrom: "2024-01-01", certValidTo: "2030-12-31" });
    await gw.model.checkOut("BWC-0101", { badge: "M-017" }, Date.now() - 60000);
    await gw.model.addCase({ number: "2026-PEN-0117", unitId: unit.id, category: "penalty", activityKind: "seizure", windowStart: Date.now() - 3600e3, windowEnd: Date.now() + 3600e3 });
    await d.connect(gw.mqttPort);
    await d.hello();
    await d.waitFor((m) => m.kind === "beacon");
    const payloads = [randomBytes(16384), randomBytes(16384), randomBytes(5000)];
    const rec = d.recording(1, payloads, { caseTag: "2026-PEN-0117" });
    await d.publish(rec.start);
    for (const c of rec.chunks) await d.publish(c);
    await d.publish(rec.seal);
    const last = await d.waitFor(ackFor(1, 1, 3));
    expect(last.ok).toBe("");
    expect(d.received.every((m) => m.ok === "")).toBe(true);
    const row = await gw.db.get<{ verdict: string; total_bytes: number; media_path: string; case_tag: string }>("SELECT verdict, total_bytes, media_path, case_tag FROM recordings WHERE device_id = ? AND recording_id = 1", ["BWC-0101"]);
    expect(row).toMatchObject({ verdict: "verified", total_bytes: 37768, case_tag: "2026-PEN-0117" });
    expect(readFileSync(join(dir, "media", row!.media_path)).equals(Buffer.concat(payloads))).toBe(true);
    const dev = await gw.db.get<{ state: string }>("SELECT state FROM devices WHERE id = ?", ["BWC-0101"]);
    expect(dev!.state).toBe("active");
    expect((await gw.model.clipOfficer("BWC-0101", 1))!.badge).toBe("M-017");
    // The tag's link is made just after the commit that carried it.
    await waitUntil("the case tag's link", async () => (await gw.model.clipLinks("BWC-0101", 1)).length > 0, 5000);
    const links = await gw.model.clipLinks("BWC-0101", 1);
    expect(links.map((l) => l.caseNumber)).toEqual(["2026-PEN-0117"]);
    await d.end();
  });

  it("re-acknowledges a resent chunk, stores it once, and answers Hello with where each recording stands", async () => {
    const d = await provisioned("BWC-0102");
    await d.connect(gw.mqttPort);
    await d.hello();
    const rec = d.recording(1, [randomBytes(1000), randomBytes(1000)]);
    await d.publish(rec.start);
    await d.publish(rec.chunks[0]);
    await d.waitFor(ackFor(1, 0, 1));
    await d.end();
    // Reconnect: the device still holds chunks 1..2; the gateway says it has 1; the device resends 1 and 2.
    await d.connect(gw.mqttPort);
    await d.hello([{ recording: 1, firstSeq: 1, lastSeq: 2, sealed: true, open: false }]);
    await d.waitFor(ackFor(1, 0, 1));
    await d.publish(rec.chunks[0]);
    await d.publish(rec.chunks[1]);
    await d.publish(rec.seal);
    await d.waitFor(ackFor(1, 1, 2));
    const n = await gw.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE device_id = ?", ["BWC-0102"]);
    expect(n!.n).toBe(2);
    expect(gw.ingest.stats.duplicates).toBeGreaterThanOrEqual(1);
    // Its media time (what the statistics count) is its two chunks' durations, the resent one once,
    // across the reconnection.
    const times = await gw.db.get<{ media_ms: number; summed: number }>(
      "SELECT r.media_ms, (SELECT SUM(k.duration_ms) FROM chunks k WHERE k.device_id = r.device_id AND k.recording_id = r.recording_id) AS summed FROM recordings r WHERE r.device_id = ? AND r.recording_id = 1", ["BWC-0102"]);
    expect(Number(times!.summed)).toBeGreaterThan(0);
    expect(Number(times!.media_ms)).toBe(Number(times!.summed));
    await d.end();
  });

  it("takes a second Hello on one connection as a new session (R-DL-6): its nonce, the counter from 1, each Held answered at once", async () => {
    const d = await provisioned("BWC-0142");
    await d.connect(gw.mqttPort);
    await d.hello();
    const rec = d.recording(1, [randomBytes(1000), randomBytes(1000), randomBytes(1000)]);
    await d.publish(rec.start);
    for (const c of rec.chunks) await d.publish(c);
    await d.waitFor(ackFor(1, 0, 3));
    // The same connection says Hello again, as a device whose downlink kept failing its MAC does.
    const n = d.received.length;
    const t0 = Date.now();
    await d.hello([{ recording: 1, firstSeq: 1, lastSeq: 3, sealed: false, open: true }]);
    const answer = await d.waitFor((m) => d.received.indexOf(m) >= n && m.kind === "ack");
    // Not folded into the last Ack's interval (ackIntervalMs, 1 s): the device waits on it.
    expect(Date.now() - t0).toBeLessThan(800);
    expect(answer).toMatchObject({ ok: "", counter: 1 });
    expect(answer.body.ack).toMatchObject({ recording: 1, state: 0, cumulative: 3 });
    await d.publish(rec.seal);
    await d.waitFor((m) => d.received.indexOf(m) >= n && ackFor(1, 1, 3)(m));
    const after = d.received.slice(n);
    // Everything after the second Hello is MAC'd under its nonce, counted from 1.
    expect(after.map((m) => m.ok)).toEqual(after.map(() => ""));
    expect(after.map((m) => m.counter)).toEqual(after.map((_, i) => i + 1));
    await d.end();
  });

  it("refuses a tampered chunk as forged: kept as evidence and alarmed, never acknowledged, and the recording is not failed by it", async () => {
    const d = await provisioned("BWC-0103");
    await d.connect(gw.mqttPort);
    await d.hello();
    const rec = d.recording(1, [randomBytes(2000), randomBytes(2000)]);
    await d.publish(rec.start);
    await d.publish(rec.chunks[0]);
    const bad = Uint8Array.from(rec.chunks[1]);
    bad[bad.length - 100] ^= 1; // a payload byte: no longer what the tagged header hashes
    await d.publish(bad);
    await d.waitFor(ackFor(1, 0, 1));
    // The forged chunk is refused after it is kept as evidence and alarmed.
    await waitUntil("the forged chunk's alarm", async () => (await gw.alarms.list()).some((a) => a.kind === "FORGED_MESSAGE" && a.subject === "BWC-0103/1"), 5000);
    const row = await gw.db.get<{ verdict: string; reasons: string }>("SELECT verdict, reasons FROM recordings WHERE device_id = ?", ["BWC-0103"]);
    expect(row!.verdict).toBe("incomplete");
    expect(row!.reasons).not.toContain("PAYLOAD_HASH");
    const ev = await gw.db.get<{ reason: string }>("SELECT reason FROM evidence WHERE device_id = ?", ["BWC-0103"]);
    expect(ev!.reason).toBe("FORGED:PAYLOAD_HASH");
    expect((await gw.alarms.list()).some((a) => a.kind === "FORGED_MESSAGE" && a.subject === "BWC-0103/1")).toBe(true);
    expect(d.received.some(ackFor(1, 0, 2))).toBe(false);
    // The genuine chunk 2 and the seal still make the recording whole.
    await d.publish(rec.chunks[1]);
    await d.publish(rec.seal);
    await d.waitFor(ackFor(1, 1, 2));
    expect((await gw.db.get<{ verdict: string }>("SELECT verdict FROM recordings WHERE device_id = ?", ["BWC-0103"]))!.verdict).toBe("verified");
    await d.end();
  });

  it("refuses unknown devices, wrong passwords and other devices' topics, with reason codes", async () => {
    await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqttPort}`, { username: "NOBODY", password: "x", reconnectPeriod: 0 })).rejects.toThrow();
    const d = await provisioned("BWC-0104");
    await expect(d.connect(gw.mqttPort, "0".repeat(64))).rejects.toThrow();
    expect(gw.broker.refusals.counts.AUTH_UNKNOWN_DEVICE).toBeGreaterThanOrEqual(1);
    expect(gw.broker.refusals.counts.AUTH_BAD_CREDENTIAL).toBeGreaterThanOrEqual(1);
    await d.connect(gw.mqttPort);
    await d.hello();
    const rec = d.recording(1, [randomBytes(100)]);
    const closed = new Promise<void>((r) => d.client.once("close", () => r()));
    void d.publish(rec.start, "rec/BWC-0101/up").catch(() => undefined);
    await closed;
    expect(gw.broker.refusals.counts.ACL_TOPIC).toBeGreaterThanOrEqual(1);
    const stolen = await gw.db.get("SELECT 1 FROM recordings WHERE device_id = 'BWC-0101' AND recording_id = 1 AND genesis = ?", [Buffer.from(rec.start)]);
    expect(stolen).toBeUndefined();
    d.client.end(true);
  });

  it("cuts a connection whose packet is over the size limit before buffering it", async () => {
    const d = await provisioned("BWC-0105");
    await d.connect(gw.mqttPort);
    const closed = new Promise<void>((r) => d.client.once("close", () => r()));
    void d.publish(randomBytes(gw.config.maxPacket + 10)).catch(() => undefined);
    await closed;
    expect(gw.broker.refusals.counts.PACKET_TOO_LARGE).toBe(1);
    d.client.end(true);
  });
});
