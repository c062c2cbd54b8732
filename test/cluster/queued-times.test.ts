// A device's messages that wait in JetStream (its partition unserved a while: no worker yet, or
// one dead) are judged by when the region received them, not by when a worker took them: its clock
// offset from its Hello, and its clip's station time with it, are not moved by the wait, and no
// CLIP_TIME_SUSPECT is raised for it.
// One worker in this process, on a real 3-node NATS cluster and the region's SQLite file.
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { NATS_BIN } from "./nats-cluster.js";
import { StreamDevice } from "./stream-device.js";
import { until } from "./workers.js";
import { regionInProcess } from "./in-process.js";

const PARTITIONS = 2;
const ID = "qt0";
const WAIT_MS = 9000;

describe.skipIf(!existsSync(NATS_BIN))("a device's messages that waited in JetStream for a worker", () => {
  const region = regionInProcess("queued", PARTITIONS);
  let device: StreamDevice | null = null;
  afterAll(async () => { await device?.stop(); });

  it("are timed by their receipt: the clip's station time is the device's, no time flag", async () => {
    const s = await region.store();
    let root: Uint8Array;
    try {
      root = await s.registry.add(ID);
    } finally {
      await s.db.close();
    }
    // A worker makes the streams and lets the device log in to NATS, then goes: no partition is served.
    const first = await region.start("qa");
    await until("the first worker to serve every partition", () => first.partitions().length === PARTITIONS, 30000);
    await until("the authorization file to list the device", () => readFileSync(region.nats.authFile, "utf8").includes(`user: "${ID}"`), 20000);
    await first.close();

    // The device says Hello (and streams what it may) while no worker is there; a worker comes later.
    device = new StreamDevice(ID, root!, region.nats.nodes.map((x) => x.mqtt), 1, 3, 1024, 0);
    await device.start();
    await new Promise((r) => setTimeout(r, WAIT_MS));
    await region.start("qb");
    await until("the device's recording sealed and Acked", () => device!.done, 60000);

    const t = await region.store();
    try {
      const row = (await t.db.get<{ start_ms: number; clip_at_ms: number; time_flag: string | null; verdict: string }>("SELECT start_ms, clip_at_ms, time_flag, verdict FROM recordings WHERE device_id = ? AND recording_id = 1", [ID]))!;
      expect(row.verdict).toBe("verified");
      expect(row.time_flag).toBeNull();
      // Its start in station time is the device's (its clock is the test's), not moved by the wait.
      expect(Math.abs(row.clip_at_ms - row.start_ms)).toBeLessThan(2000);
    } finally {
      await t.db.close();
    }
  }, 180000);
});
