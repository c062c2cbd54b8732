// A partition taken over from a killed worker is served from its first message not committed, in
// the order the devices sent them. The first worker takes every message and commits none of it (its
// commits held for minutes), and is killed with SIGKILL; the devices, which never resend, must each
// end sealed and verified through the second worker, long before JetStream's redelivery time
// (set to ten minutes here) would hand it the messages the dead worker had taken; and each
// device's Hello, which the first worker had taken but never answered, is answered by the second.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsCluster, NATS_BIN } from "./nats-cluster.js";
import { StreamDevice } from "./stream-device.js";
import { counter, killWorker, metrics, startWorker, until, WORKER } from "./workers.js";
import type { Proc } from "./workers.js";
import { openMetadata } from "../../gateway/cluster/store.js";
import { configFrom } from "../../gateway/config.js";
import { recordingDetail } from "../../gateway/store/recordings.js";

const PARTITIONS = 2, DEVICES = 4, CHUNKS = 6;
/** JetStream's redelivery time for these workers: far beyond the test's own time. */
const ACK_WAIT_MS = 600000;

describe.skipIf(!existsSync(NATS_BIN))("a partition taken over after a worker's kill -9", () => {
  let dir: string;
  let nats: NatsCluster;
  const workers: Proc[] = [];
  const fleet: StreamDevice[] = [];
  const roots = new Map<string, Uint8Array>();
  const setup = () => ({ dir, nats, partitions: PARTITIONS, db: "" });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-takeover-"));
    nats = new NatsCluster(join(dir, "nats"), PARTITIONS, WORKER);
    await nats.start();
    const { db, registry } = await openMetadata(configFrom({ dataDir: join(dir, "data") }, "test"));
    // The first test's devices, then the second's.
    for (let i = 0; i < 2 * DEVICES; i++) roots.set(`tk${i}`, await registry.add(`tk${i}`));
    await db.close();
  }, 90000);

  afterAll(async () => {
    await Promise.all(fleet.map((d) => d.stop()));
    await Promise.all(workers.map(killWorker));
    if (nats) await nats.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30000);

  it("serves the partitions from the first message not committed, in order: every device sealed and verified without resending", async () => {
    // The first worker: every commit held ten minutes, so it takes messages and commits none.
    const first = await startWorker(setup(), "ta", { faultCommitDelayMs: ACK_WAIT_MS }, { ackWaitMs: ACK_WAIT_MS });
    workers.push(first);
    await until("the first worker to serve every partition", async () => counter(await metrics(first), "evrec_cluster_partitions") === PARTITIONS, 30000);
    await until("the authorization file to list the devices", () => readFileSync(nats.authFile, "utf8").includes(`user: "tk${2 * DEVICES - 1}"`), 20000);
    // Each device sends its Hello, its start, its chunks and its seal at once (a window wider than
    // the recording), and never sends any of them again.
    for (let i = 0; i < DEVICES; i++) fleet.push(new StreamDevice(`tk${i}`, roots.get(`tk${i}`)!, nats.nodes.map((x) => x.mqtt), 1, CHUNKS, 2048, i, CHUNKS + 4, ACK_WAIT_MS));
    // Connected (a fresh cluster makes its MQTT streams on the first connects: seconds under load).
    const started = Promise.all(fleet.map((d) => d.start()));
    await until("every device connected", () => fleet.every((d) => d.connects > 0), 90000, () => readFileSync(first.out, "utf8").slice(-2000));
    await started;
    // Every device's Hello, start, chunks and seal; one more Hello from a device that connected twice
    // (below): at least that many.
    const messages = DEVICES * (CHUNKS + 3);
    let inFlight = 0;
    await until("the first worker to have taken every message", async () => (inFlight = counter(await metrics(first), "evrec_cluster_messages_in_flight")) >= messages, 30000,
      () => `${inFlight} of ${messages} in flight; connects ${fleet.map((d) => d.connects).join(", ")}\n${readFileSync(first.out, "utf8").slice(-2000)}`);
    // Nothing of it committed, so nothing answered: not even the Hellos.
    expect(fleet.map((d) => [d.acks, d.beacons])).toEqual(fleet.map(() => [0, 0]));
    await killWorker(first);

    const second = await startWorker(setup(), "tb", {}, { ackWaitMs: ACK_WAIT_MS });
    workers.push(second);
    const progress = () => JSON.stringify(fleet.map((d) => ({ id: d.id, cumulative: d.recs[0].cumulative, sealed: d.recs[0].sealed, resends: d.resends, refused: d.refusals })));
    await until("every device sealed through the second worker", () => fleet.every((d) => d.recs[0].sealed && d.recs[0].cumulative === CHUNKS), 60000,
      () => `${progress()}\n${readFileSync(second.out, "utf8").slice(-3000)}`);
    console.log(`takeover: ${DEVICES} devices sealed through the second worker, none resending; ${counter(await metrics(second), "evrec_cluster_sessions_adopted")} sessions adopted; reconnects ${fleet.reduce((a, d) => a + d.connects - 1, 0)}`);
    expect(fleet.map((d) => d.resends)).toEqual(fleet.map(() => 0));
    // Each device's Hello, whose session the first worker had stored but never answered, is
    // answered by the second in that session (its counters going on, so the device accepts it).
    // A device whose first connection was slow to be made (a fresh cluster makes its MQTT streams
    // on the first connects, seconds under load) may have connected twice under its client id, lost
    // one, and said Hello again: a downlink of its first session then reaches it after its second
    // Hello and is refused (DOWNLINK_MAC, as docs/SCALE.md says). None else is refused.
    expect(fleet.map((d) => ({ id: d.id, answered: d.beacons > 0, refused: d.refusals.filter((r) => d.connects === 1 || r !== "DOWNLINK_MAC") })))
      .toEqual(fleet.map((d) => ({ id: d.id, answered: true, refused: [] })));
    // Nothing refused for want of a Hello: each device's messages came in the order it sent them.
    expect(readFileSync(second.out, "utf8")).not.toContain("HELLO_REQUIRED");
    await expectVerified(fleet);
  }, 300000);

  it("feeds again in place a message that could not be fed, the device's later messages behind it: none refused for want of its Hello", async () => {
    // The worker before (the first test's second) is killed; the next one fails to feed the first
    // two messages it is given, as if their devices' session records could not be read in time.
    // The first of them is a device's Hello: handed back to JetStream, it would come again after
    // the device's chunks, each refused HELLO_REQUIRED, and the device (which never resends here)
    // would never be sealed.
    await killWorker(workers[workers.length - 1]);
    const third = await startWorker(setup(), "tc", {}, { ackWaitMs: ACK_WAIT_MS, faultFeedFail: 2 });
    workers.push(third);
    const devices: StreamDevice[] = [];
    for (let i = DEVICES; i < 2 * DEVICES; i++) devices.push(new StreamDevice(`tk${i}`, roots.get(`tk${i}`)!, nats.nodes.map((x) => x.mqtt), 1, CHUNKS, 2048, i, CHUNKS + 4, ACK_WAIT_MS));
    fleet.push(...devices);
    await Promise.all(devices.map((d) => d.start()));
    const progress = () => JSON.stringify(devices.map((d) => ({ id: d.id, cumulative: d.recs[0].cumulative, sealed: d.recs[0].sealed, refused: d.refusals })));
    await until("every device sealed through the third worker", () => devices.every((d) => d.recs[0].sealed && d.recs[0].cumulative === CHUNKS), 60000,
      () => `${progress()}\n${readFileSync(third.out, "utf8").slice(-3000)}`);
    const retries = counter(await metrics(third), "evrec_cluster_feed_retries");
    console.log(`feed retries: ${retries} messages fed again in place; ${devices.length} devices sealed, none resending`);
    expect(retries).toBe(2);
    expect(devices.map((d) => d.resends)).toEqual(devices.map(() => 0));
    expect(readFileSync(third.out, "utf8")).not.toContain("HELLO_REQUIRED");
    await expectVerified(devices);
  }, 120000);

  /** Each device's recording is stored whole and verified. */
  async function expectVerified(devices: StreamDevice[]): Promise<void> {
    const { db } = await openMetadata(configFrom({ dataDir: join(dir, "data") }, "test"));
    try {
      for (const d of devices) {
        const row = await recordingDetail(db, d.id, 1);
        expect({ id: d.id, verdict: row?.verdict, chunks: row?.chunks }).toEqual({ id: d.id, verdict: "verified", chunks: CHUNKS });
      }
    } finally {
      await db.close();
    }
  }
});
