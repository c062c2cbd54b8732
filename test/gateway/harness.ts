// What the gateway tests share: a gateway on ephemeral ports in a temporary data directory,
// provisioned devices, and a recording streamed to its sealed Ack.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import type { GatewayConfig } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "./fake-device.js";
import { testDb } from "../helpers/postgres.js";

/** A quiet gateway on 127.0.0.1 with ephemeral ports; `db` is its --db ("" for SQLite); close() also removes its data directory (and its PostgreSQL database). */
export async function testGateway(over: Partial<GatewayConfig> = {}): Promise<{ gw: Gateway; dir: string; db: string; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "evrec-gw-"));
  // SQLite in the data directory, or on the PostgreSQL run a database of its own.
  const store = await testDb();
  const gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, db: store.db, diskMinFreeMb: 1, beaconIntervalS: 0, ...over }, createLogger("silent"));
  // The data directory goes even when closing fails (a test that closed the gateway itself and
  // restarted it on the same directory), and before the database is dropped: dropping the schema
  // waits on any session still holding its tables (a CLI that a timed-out test started), maybe past
  // the hook's limit.
  return { gw, dir, db: store.db, close: async () => {
    try {
      await gw.close();
    } finally {
      try { rmSync(dir, { recursive: true, force: true }); } finally { await store.drop(); }
    }
  } };
}

/** Register a device with a fresh root secret; connected and said Hello unless told not to. */
export async function provision(gw: Gateway, id: string, opts: { connect?: boolean } = {}): Promise<FakeDevice> {
  const root = randomBytes(32);
  await gw.registry.add(id, { root });
  const d = new FakeDevice(id, root);
  if (opts.connect !== false) {
    await d.connect(gw.mqttPort);
    await d.hello();
    // As a recorder does: it streams once its Hello is answered (the answer ends with a beacon).
    await d.waitFor((m) => m.kind === "beacon");
  }
  return d;
}

/** Send a recording's start, chunks and seal, and wait for the Ack that says it is sealed. */
export async function streamSealed(d: FakeDevice, rec: { recording: number; start: Uint8Array; chunks: Uint8Array[]; seal: Uint8Array }): Promise<void> {
  await d.publish(rec.start);
  for (const c of rec.chunks) await d.publish(c);
  await d.publish(rec.seal);
  await d.waitFor((m) => {
    const a = m.body.ack as { recording: number; state?: number; cumulative?: number } | undefined;
    return m.kind === "ack" && !!a && a.recording === rec.recording && a.state === 1 && (a.cumulative || 0) === rec.chunks.length;
  });
}
