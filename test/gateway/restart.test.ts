// A gateway restart in the middle of an upload loses nothing: the recording resumes from the
// chain state in the database and ends verified (P4).
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "./fake-device.js";
import { testDb } from "../helpers/postgres.js";

const dir = mkdtempSync(join(tmpdir(), "evrec-restart-"));
// SQLite in the data directory, or on the PostgreSQL run a database of its own.
const store = await testDb();
const start = (port = 0) => startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: port, httpPort: 0, dataDir: dir, db: store.db, diskMinFreeMb: 1, beaconIntervalS: 0 }, createLogger("silent"));
let gw: Gateway;
afterAll(async () => {
  await gw.close().catch(() => undefined);
  await store.drop();
  rmSync(dir, { recursive: true, force: true });
});

const acked = (d: FakeDevice, r: number, state: number, cum: number) => d.waitFor((m) => {
  const a = m.body.ack as { recording: number; state: number; cumulative: number } | undefined;
  return m.kind === "ack" && m.ok === "" && !!a && a.recording === r && a.state === state && a.cumulative === cum;
});

describe("gateway restart mid-upload", () => {
  it("resumes the chain from the database and verifies the whole recording", async () => {
    gw = await start();
    const root = randomBytes(32);
    await gw.registry.add("BWC-0201", { root });
    const d = new FakeDevice("BWC-0201", root);
    const payloads = Array.from({ length: 6 }, () => randomBytes(3000));
    const rec = d.recording(1, payloads);
    await d.connect(gw.mqttPort);
    await d.hello();
    await d.publish(rec.start);
    for (const c of rec.chunks.slice(0, 3)) await d.publish(c);
    await acked(d, 1, 0, 3);
    await d.end();
    const port = gw.mqttPort;
    await gw.close();

    gw = await start(port);
    d.received = [];
    await d.connect(gw.mqttPort);
    await d.hello([{ recording: 1, firstSeq: 1, lastSeq: 6, sealed: true, open: false }]);
    await acked(d, 1, 0, 3);
    for (const c of rec.chunks.slice(3)) await d.publish(c);
    await d.publish(rec.seal);
    await acked(d, 1, 1, 6);
    const row = await gw.db.get<{ verdict: string; media_path: string }>("SELECT verdict, media_path FROM recordings WHERE device_id = 'BWC-0201'");
    expect(row!.verdict).toBe("verified");
    expect(readFileSync(join(dir, "media", row!.media_path)).equals(Buffer.concat(payloads))).toBe(true);
    await d.end();
  });
});
