// npm run bench:ingest — chunks per second through the whole gateway path (MQTT in, verify,
// group commit with fsync, MAC'd Ack out) with several mqtt.js devices streaming 4 KiB chunks,
// each keeping a window of chunks in flight as a recorder does.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startGateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "../gateway/fake-device.js";

const DEVICES = Number(process.env.BENCH_DEVICES || 8);
const CHUNKS = Number(process.env.BENCH_CHUNKS || 500);
const SIZE = Number(process.env.BENCH_SIZE || 4096);
const WINDOW = Number(process.env.BENCH_WINDOW || 16);

const dir = mkdtempSync(join(tmpdir(), "evrec-bench-"));
const gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 0, ratePerSecond: 1e6, rateBurst: 1e6 }, createLogger("warn"));
const devices = await Promise.all(Array.from({ length: DEVICES }, async (_, i) => {
  const root = randomBytes(32);
  const id = `BENCH-${i}`;
  await gw.registry.add(id, { root });
  const d = new FakeDevice(id, root);
  await d.connect(gw.mqttPort);
  await d.hello();
  return d;
}));
const recs = devices.map((d) => d.recording(1, Array.from({ length: CHUNKS }, () => randomBytes(SIZE))));

const cum = (d: FakeDevice) => Math.max(0, ...d.received.filter((m) => m.kind === "ack").map((m) => (m.body.ack as { cumulative: number }).cumulative));
const t0 = process.hrtime.bigint();
await Promise.all(devices.map(async (d, i) => {
  await d.publish(recs[i].start);
  let sent = 0;
  while (cum(d) < CHUNKS) {
    while (sent < CHUNKS && sent - cum(d) < WINDOW) void d.publish(recs[i].chunks[sent++]);
    // Wait for progress: an Ack beyond what is already acknowledged.
    const before = cum(d);
    await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { cumulative: number }).cumulative > before, 30000);
    d.received = d.received.filter((m) => m.kind === "ack").slice(-1);
  }
}));
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const total = DEVICES * CHUNKS;
console.log(`node ${process.version}: ${DEVICES} devices x ${CHUNKS} chunks of ${SIZE} B, window ${WINDOW}`);
console.log(`${total} chunks verified, stored and acknowledged in ${secs.toFixed(2)} s: ${(total / secs).toFixed(0)} chunks/s, ${((total * SIZE) / secs / 1e6).toFixed(1)} MB/s`);
console.log(`group commit: ${gw.committer.batches} batches for ${gw.committer.items} items (${(gw.committer.items / gw.committer.batches).toFixed(1)} per fsync round)`);
for (const d of devices) await d.end();
await gw.close();
rmSync(dir, { recursive: true, force: true });
