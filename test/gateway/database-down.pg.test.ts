// The metadata database lost while a fleet streams: the firmware itself (the simulator's fleet,
// the bundle that goes onto boards) records through a station gateway whose metadata is in a
// PostgreSQL server of the test's own, and the server is killed (SIGKILL to it and every process of
// it, as a power cut or the OOM killer leaves it) and started again 5 s later. Meanwhile every
// commit fails (and every message that needs the database, refused STORE_FAILED), so nothing is
// Acked and the devices hold what they recorded, and the API answers 503; once the server is
// back the gateway's next statements open a new connection, and the devices' resends commit.
// Every recording must verify and nothing be left on a device.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { postgresMissing, startPostgres } from "../helpers/postgres.js";
import { until } from "../helpers/wait.js";
import { refused } from "../helpers/metrics.js";
import type { PostgresServer } from "../helpers/postgres.js";
import { GatewayProcess } from "../../client/gateway-process.js";
import { ensureBundle } from "../../firmware/build/build.js";
import { runSimulation } from "../../simulator/run.js";
import type { Progress } from "../../simulator/scenario-kit.js";

const DEVICES = 8;
const BUNDLE = resolve(import.meta.dirname, "..", "..", "dist", "recorder.min.js");

describe.skipIf(postgresMissing())("the metadata database killed while the firmware streams", () => {
  let dir: string;
  let server: PostgresServer | null = null;
  let gateway: GatewayProcess | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-dbdown-"));
    await ensureBundle();
  }, 60000);

  afterAll(async () => {
    await gateway?.stop();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30000);

  it("verifies every recording of a station's fleet and leaves nothing on a device", async () => {
    server = await startPostgres();
    const db = await server.createDatabase();
    gateway = await GatewayProcess.start({ dataDir: join(dir, "gateway"), logLevel: process.env.EVREC_TEST_GATEWAY_LOG || "silent",
      options: { mqttPort: 0, httpPort: 0, db, diskMinFreeMb: 1, maxClients: 100, ratePerSecond: 1000, rateBurst: 2000 } });
    let last: Progress | null = null;
    const run = runSimulation({
      dir: join(dir, "sim"), devices: DEVICES, durationMs: 40000, scenario: "steady", seed: 11, engine: "node", speed: 1, chunk: 8192, bundle: BUNDLE,
      gateway: gateway.mqttUrl, api: gateway.apiUrl, token: gateway.adminToken(), onProgress: (p) => { last = p; },
    });
    await until("every device connected and chunks Acked", () => !!last && last.connected === DEVICES && last.chunksAcked >= 2 * DEVICES, 60000, () => JSON.stringify(last));
    await new Promise((r) => setTimeout(r, 3000));
    const ackedAtKill = last!.chunksAcked;
    await server.crash();
    // Meanwhile an admin asking the API is told the database is away, and to ask again (not a 500).
    const asked = await fetch(`${gateway.apiUrl}/api/recordings`, { headers: { authorization: `Bearer ${gateway.adminToken()}` } });
    const body = await asked.json() as { error: string; message: string };
    await new Promise((r) => setTimeout(r, 5000));
    await server.restart();
    expect({ status: asked.status, retryAfter: asked.headers.get("retry-after"), error: body.error }).toEqual({ status: 503, retryAfter: "5", error: expect.stringMatching(/^DB_(CONNECTION_LOST|UNREACHABLE|REFUSED)$/) });
    const sim = await run;
    expect({ failures: sim.failures, devices: sim.perDevice.map((d) => ({ id: d.id, queue: d.queueDepth, error: d.lastError })) })
      .toEqual({ failures: [], devices: sim.perDevice.map((d) => ({ id: d.id, queue: 0, error: "" })) });
    expect(sim.verdicts).toEqual({ verified: sim.recordings });
    expect(sim.recordings).toBeGreaterThanOrEqual(DEVICES * 2);
    expect(sim.lostChunks).toBe(0);
    expect(sim.chunks).toBeGreaterThan(ackedAtKill);
    // The gateway lived through it, and its commits failed meanwhile.
    const text = await (await fetch(`${gateway.apiUrl}/metrics`, { headers: { authorization: `Bearer ${gateway.adminToken()}` } })).text();
    const failed = refused(text, "STORE_FAILED");
    expect(failed).toBeGreaterThan(0);
    console.log(`a station's metadata database killed: ${DEVICES} devices of the firmware bundle, PostgreSQL killed with ${ackedAtKill} chunks Acked and started again 5 s later (${failed} messages refused STORE_FAILED meanwhile); ${sim.recordings} recordings verified, ${sim.chunks} chunks, nothing left on a device, ${(sim.wallMs / 1000).toFixed(0)} s`);
  }, 240000);
});
