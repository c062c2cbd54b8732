// The firmware itself through a region: the simulator's fleet (the node engine, running the bundle
// that goes onto boards) streams through a 3-node NATS cluster's MQTT listeners to two gateway
// workers, registered through the region's office as any outside tool would, and one NATS node is
// killed (SIGKILL) mid-run, then started again 10 s later as a service manager would. The devices
// on it connect to another node (the simulator's proxy stands
// for a device's one address in service, a name with every node behind it). Every recording must
// verify and nothing be left on a device. While a stream elects its leader after the node's loss,
// nats-server refuses subscriptions (SUBACK 0x80) and closes connections before their CONNACK: a
// firmware that took a refused subscription for granted said Hello where no Ack could reach it, and
// such a device held its recordings for as long as that connection lasted (a run with that firmware:
// 2 recordings incomplete, 84 chunks left on devices).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import mqtt from "mqtt";
import { NatsCluster, NATS_BIN } from "./nats-cluster.js";
import { counter, killWorker, metrics, startOffice, startWorker, until, WORKER } from "./workers.js";
import type { Proc } from "./workers.js";
import { testDb } from "../helpers/postgres.js";
import { ensureBundle } from "../../firmware/build/build.js";
import { runSimulation } from "../../simulator/run.js";
import type { Progress } from "../../simulator/scenario-kit.js";

const PARTITIONS = 4, DEVICES = 8;
const BUNDLE = resolve(import.meta.dirname, "..", "..", "dist", "recorder.min.js");

describe.skipIf(!existsSync(NATS_BIN))("the firmware through a region's NATS nodes", () => {
  let dir: string;
  let nats: NatsCluster;
  const procs: Proc[] = [];
  let office: Proc & { http: number };
  let meta: { db: string; drop: () => Promise<void> } = { db: "", drop: async () => undefined };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-fleet-"));
    meta = await testDb();
    await ensureBundle();
    nats = new NatsCluster(join(dir, "nats"), PARTITIONS, WORKER);
    await nats.start();
    const setup = { dir, nats, partitions: PARTITIONS, db: meta.db };
    office = await startOffice(setup, "office");
    const workers = [await startWorker(setup, "wa"), await startWorker(setup, "wb")];
    procs.push(office, ...workers);
    // A region in service, not one starting: every partition served, and every node's MQTT
    // sessions working. A node sets up its MQTT sessions at its first MQTT connection; made by
    // several devices at once on a cluster just formed, that set-up can fail and leave the node
    // unable to store any session ("unable to persist session ... timeout" in its log, every
    // device sent there closed before its CONNACK for the rest of the run; seen in about one run
    // in five). SCALE.md says so, and that a node is opened to devices after one connection.
    await until("every partition served by the two workers", async () => {
      const n = await Promise.all(workers.map(async (w) => counter(await metrics(w), "evrec_cluster_partitions")));
      return n.every((x) => x > 0) && n[0] + n[1] === PARTITIONS;
    }, 60000);
    for (const [i, node] of nats.nodes.entries()) {
      const first = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.mqtt}`, { username: WORKER.user, password: WORKER.pass, clientId: `fleet-test-first-${i}`, reconnectPeriod: 0, connectTimeout: 30000 }, false);
      await first.endAsync(true);
    }
  }, 150000);

  afterAll(async () => {
    await Promise.all(procs.map(killWorker));
    if (nats) await nats.stop();
    await meta.drop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30000);

  it("verifies every recording and leaves nothing on a device through a NATS node's kill -9", async () => {
    let last: Progress | null = null;
    let ackedAtKill = -1, killedAtMs = 0;
    const run = runSimulation({
      // Its devices' flash and cards in the test's directory: removed with it even if the test fails mid-run.
      dir: join(dir, "sim"),
      devices: DEVICES, durationMs: 40000, scenario: "steady", seed: 3, engine: "node", speed: 1, chunk: 8192, bundle: BUNDLE,
      gateway: nats.nodes.map((n) => `mqtt://127.0.0.1:${n.mqtt}`).join(","),
      api: `http://127.0.0.1:${office.http}`, token: readFileSync(join(dir, "data", "admin.token"), "utf8").trim(),
      onProgress: (p) => { last = p; },
    });
    // The node that devices 0, 3 and 6 connect to first, once every device streams through the region.
    await until("every device connected and chunks Acked", () => !!last && last.connected === DEVICES && last.chunksAcked >= 2 * DEVICES, 60000, () => `${JSON.stringify(last)}\n${nats.nodes.map((x) => readFileSync(x.log, "utf8").split("\n").filter((l) => /\[ERR\]/.test(l) && !/route/.test(l)).slice(-10).join("\n")).join("\n")}`);
    await new Promise((r) => setTimeout(r, 3000));
    ackedAtKill = last!.chunksAcked;
    killedAtMs = last!.elapsedMs;
    nats.kill(0);
    // Its service manager starts it again. Until then, nats-server 2.9 may be unable to make again a
    // device's MQTT subscription whose consumer the lost node led: each try times out ("Unable to add
    // JetStream consumer ... timeout" in a node's log) and the device's SUBACK says refused (seen
    // for over a minute in one run in six); SCALE.md says so.
    await new Promise((r) => setTimeout(r, 10000));
    nats.restart(0);
    const r = await run;
    const bad = r.perDevice.filter((d) => d.console).map((d) => `${d.id}: queue ${d.queueDepth}, last error ${d.lastError || "-"}\n    | ${d.console!.join("\n    | ")}`);
    // What the nodes said of it, to tell a device's fault from a node's.
    if (bad.length || r.failures.length) for (const x of nats.nodes) console.log(`${x.name}'s errors and warnings:\n${readFileSync(x.log, "utf8").split("\n").filter((l) => /\[(ERR|WRN)\]/.test(l) && !/route|Route/.test(l)).slice(-30).join("\n")}`);
    // Every device drained, none with an error but a downlink refused: an Ack signed in a device's
    // session before its reconnect, or under the nonce of a Hello a stream without a leader never
    // stored (DOWNLINK_MAC: the device says Hello again, R-DL-6), or one arriving before its new
    // Hello (DOWNLINK_NO_SESSION), is refused by the device, which goes on.
    const drained = r.perDevice.map((d) => ({ id: d.id, queue: d.queueDepth, error: /^DOWNLINK_(MAC|NO_SESSION)$/.test(d.lastError) ? "" : d.lastError }));
    expect({ failures: r.failures, devices: drained }, bad.join("\n")).toEqual({ failures: [], devices: r.perDevice.map((d) => ({ id: d.id, queue: 0, error: "" })) });
    expect(r.verdicts).toEqual({ verified: r.recordings });
    expect(r.recordings).toBeGreaterThanOrEqual(DEVICES * 2);
    expect(r.lostChunks).toBe(0);
    // The kill came mid-run and cost the devices on that node their connections.
    expect(r.chunks).toBeGreaterThan(ackedAtKill);
    expect(r.disconnects.CLOSED ?? 0).toBeGreaterThanOrEqual(1);
    console.log(`fleet through a region: ${DEVICES} devices of the firmware bundle, node 0 killed at ${(killedAtMs / 1000).toFixed(0)} s with ${ackedAtKill} chunks Acked; ${r.recordings} recordings verified, ${r.chunks} chunks, nothing left on a device, ${(r.wallMs / 1000).toFixed(0)} s; connections lost ${JSON.stringify(r.disconnects)}; devices that refused a downlink ${r.perDevice.filter((d) => d.lastError).length}`);
  }, 180000);
});
