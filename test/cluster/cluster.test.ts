// Gateway workers on a real 3-node NATS cluster (Debian's nats-server: MQTT listeners, JetStream with
// three replicas, the partition mapping). Two workers run as child processes; a fleet streams through
// the MQTT listeners; one worker and then one NATS node are killed with SIGKILL mid-stream. Every
// recording must end verified, every chunk a device was Acked must be in the store with its media, and
// a revoked device must no longer get in. Then a third worker is stalled (SIGSTOP) past its lease
// while it streams, and resumed once another worker has taken its partitions: its commits are fenced
// off and every recording still verifies.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsCluster, NATS_BIN } from "./nats-cluster.js";
import { StreamDevice } from "./stream-device.js";
import { counter, killWorker, metrics, startWorker as spawnWorker, until, WORKER } from "./workers.js";
import type { Proc } from "./workers.js";
import { openMetadata } from "../../gateway/cluster/store.js";
import { configFrom } from "../../gateway/config.js";
import { recordingDetail, storedChunkRows } from "../../gateway/store/recordings.js";
import { fences } from "../../gateway/store/fences.js";
import { NatsMediaStore } from "../../gateway/store/media-nats.js";
import { loginPassword, deriveDeviceKeys } from "../../protocol/chain.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { testDb } from "../helpers/postgres.js";
import { refused } from "../helpers/metrics.js";

const PARTITIONS = 4;
const DEVICES = 8, RECORDINGS = 3, CHUNKS = 30, CHUNK_BYTES = 4096;
/** Devices streaming through the stalled worker's test (ids after the revoked device's). */
const STALL_DEVICES = 5, STALL_RECORDINGS = 2, STALL_CHUNKS = 20;
const have = existsSync(NATS_BIN);

describe.skipIf(!have)("gateway workers on a NATS cluster", () => {
  let dir: string;
  let nats: NatsCluster;
  const workers: Proc[] = [];
  const fleet: StreamDevice[] = [];
  const stallFleet: StreamDevice[] = [];
  const roots = new Map<string, Uint8Array>();
  let nc: NatsConnection | null = null;
  // The metadata the workers share: PostgreSQL in the vitest project "postgres" (where this file
  // runs when Debian's PostgreSQL is installed), otherwise one SQLite file.
  let meta: { db: string; drop: () => Promise<void> } = { db: "", drop: async () => undefined };
  const gatewayConfig = () => configFrom({ dataDir: join(dir, "data"), ...(meta.db ? { db: meta.db } : {}) }, "test");

  /** A worker's last log lines, without the clock warnings a test fleet's times cause. */
  const logTail = (name: string, lines: number) => readFileSync(join(dir, `${name}.log`), "utf8").split("\n").filter((l) => !l.includes("CLIP_TIME_SUSPECT")).slice(-lines).join("\n");

  /** The test's own NATS connection, to read media (not through node 0, which is killed): made by whichever test needs it first. */
  const natsClient = async () => nc ??= await connect({ servers: nats.servers.split(",").slice(1), user: WORKER.user, pass: WORKER.pass });

  /** Failed connection tries over a fleet, by reason. */
  const tally = (devices: StreamDevice[]) => {
    const all: Record<string, number> = {};
    for (const d of devices) for (const [why, n] of d.failedTries) all[why] = (all[why] || 0) + n;
    return all;
  };

  const setup = () => ({ dir, nats, partitions: PARTITIONS, db: meta.db });
  const startWorker = async (name: string, gateway: Record<string, unknown> = {}): Promise<Proc> => {
    const w = await spawnWorker(setup(), name, gateway);
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-cluster-"));
    meta = await testDb();
    nats = new NatsCluster(join(dir, "nats"), PARTITIONS, WORKER);
    await nats.start();
    // Devices provisioned in the shared store before the workers start, as the station's admin would.
    const { db, registry } = await openMetadata(gatewayConfig());
    for (let i = 0; i < DEVICES + 1 + STALL_DEVICES; i++) roots.set(`cl${i}`, await registry.add(`cl${i}`));
    await db.close();
    await startWorker("wa");
    await startWorker("wb");
    // The workers wrote every device into the NATS authorization and reloaded the servers.
    await until("the authorization file to list the devices", () => readFileSync(nats.authFile, "utf8").includes(`user: "cl${DEVICES + STALL_DEVICES}"`), 20000);
  }, 90000);

  afterAll(async () => {
    await Promise.all(fleet.map((d) => d.stop()));
    await Promise.all(stallFleet.map((d) => d.stop()));
    if (nc) await nc.close().catch(() => undefined);
    await Promise.all(workers.map(killWorker));
    if (nats) await nats.stop();
    await meta.drop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30000);

  it("keeps every Acked chunk and verifies every recording through a worker's and a NATS node's kill -9", async () => {
    const mqttPorts = nats.nodes.map((x) => x.mqtt);
    // Each worker serves its share of the partitions before the fleet starts.
    await until("both workers to serve partitions", async () => {
      const a = counter(await metrics(workers[0]), "evrec_cluster_partitions");
      const b = counter(await metrics(workers[1]), "evrec_cluster_partitions");
      return a > 0 && b > 0 && a + b === PARTITIONS;
    }, 30000);
    for (let i = 0; i < DEVICES; i++) fleet.push(new StreamDevice(`cl${i}`, roots.get(`cl${i}`)!, mqttPorts, RECORDINGS, CHUNKS, CHUNK_BYTES, i));
    await Promise.all(fleet.map((d) => d.start()));
    const total = DEVICES * RECORDINGS * CHUNKS;
    const acked = () => fleet.reduce((a, d) => a + d.acked, 0);
    const progress = () => `(${acked()} of ${total} chunks Acked; ${fleet.filter((d) => d.done).length} devices done; waiting: ${JSON.stringify(fleet.filter((d) => !d.done).map((d) => ({ id: d.id, recs: d.recs.map((r) => `${r.cumulative}${r.sealed ? "s" : ""}`).join(","), connects: d.connects, refused: d.rejectedDownlinks, resends: d.resends, connected: !!d.client })))})`;

    await until("a quarter of the chunks Acked", () => acked() >= total / 4, 60000, progress);
    // The kill must take sessions from the first worker: it serves a partition and has heard from
    // its devices. (On a loaded machine its leases may lapse to the second worker for a while, or a
    // partition's start fail and be tried again; a quarter can be Acked by the second alone.)
    await until("the first worker to serve devices", async () => {
      const t = await metrics(workers[0]);
      return counter(t, "evrec_cluster_partitions") > 0 && counter(t, "evrec_cluster_devices") > 0;
    }, 60000, () => `${progress()}\n${logTail("wa", 20)}`);
    // What each worker served at the kill, said if the survivor is found not to have continued any session.
    const gauges = (t: string) => t.split("\n").filter((l) => /^evrec_cluster_(partitions|devices|sessions_adopted)\{/.test(l)).join(", ");
    const survivorAtKill = await metrics(workers[1]);
    const atKill = `${gauges(await metrics(workers[0]))}; ${gauges(survivorAtKill)}`;
    const adoptedBefore = counter(survivorAtKill, "evrec_cluster_sessions_adopted");
    const killedAt = Date.now();
    workers[0].proc.kill("SIGKILL");
    const before = fleet.map((d) => d.acked);
    // The survivor takes the dead worker's partitions over once its leases lapse, and every device,
    // the dead worker's included, is Acked again.
    await until("every device Acked after the worker's death", () => fleet.every((d, i) => d.done || d.acked > before[i]), 60000, progress);
    const failoverMs = Date.now() - killedAt;

    await until("half the chunks Acked", () => acked() >= total / 2, 60000, progress);
    // The node the first devices are connected to.
    nats.kill(0);
    await until("every recording sealed and Acked", () => fleet.every((d) => d.done), 90000, () => progress() + "\n" + logTail("wb", 30));
    console.log(`cluster: ${total} chunks; every device Acked again ${failoverMs} ms after the worker's kill -9; reconnects ${fleet.reduce((a, d) => a + d.connects - 1, 0)}, resends ${fleet.reduce((a, d) => a + d.resends, 0)}, downlinks refused by devices ${fleet.reduce((a, d) => a + d.rejectedDownlinks, 0)}, Hellos said again ${fleet.reduce((a, d) => a + d.helloAgain, 0)}; connection tries failed ${JSON.stringify(tally(fleet))}`);

    // What the devices were Acked is what the store holds: rows, verdicts and media bytes. A device
    // never sends again what it was Acked, so a recording complete in the store lost nothing Acked.
    const { db } = await openMetadata(gatewayConfig());
    const media = await NatsMediaStore.open(await natsClient(), { stream: "EVREC_MEDIA", replicas: 3 });
    try {
      for (const d of fleet) {
        for (const r of d.recs) {
          const row = await recordingDetail(db, d.id, r.recording);
          if (row && row.chunks !== CHUNKS) {
            // What the store and the survivor say of it, to find out why.
            const rows = await storedChunkRows(db, d.id, r.recording);
            const log = readFileSync(join(dir, "wb.log"), "utf8").split("\n").filter((l) => l.includes(`"${d.id}"`) && !l.includes("CLIP_TIME_SUSPECT")).slice(-40).join("\n");
            console.log(`${d.id}/${r.recording}: row ${JSON.stringify({ ...row, sealBlock: undefined })}; chunk rows ${rows.map((x) => x.seq).join(",")}\n${log}`);
          }
          expect(row, `${d.id}/${r.recording}`).toBeDefined();
          expect({ rec: `${d.id}/${r.recording}`, verdict: row!.verdict === "verified" ? "verified" : `${row!.verdict}: ${row!.reasons}`, chunks: row!.chunks, bytes: row!.bytes }).toEqual({ rec: `${d.id}/${r.recording}`, verdict: "verified", chunks: CHUNKS, bytes: CHUNKS * CHUNK_BYTES });
          const stored = await media.read(row!.mediaPath);
          const want = createHash("sha256").update(Buffer.concat(r.payloads)).digest("hex");
          expect(createHash("sha256").update(stored).digest("hex"), `${d.id}/${r.recording} media`).toBe(want);
        }
      }
    } finally {
      await db.close();
    }
    // The survivor serves every partition: at once unless the node's loss cost it its leases (their
    // stream elected its leader after they lapsed), then once it has taken them again.
    await until("the survivor to serve every partition", async () => counter(await metrics(workers[1]), "evrec_cluster_partitions") === PARTITIONS, 30000);
    // The survivor's metrics say it committed, labelled with its name.
    const text = await metrics(workers[1]);
    expect(text).toMatch(/evrec_chunks_committed_total\{worker="wb"\} [1-9]/);
    expect(counter(text, "evrec_cluster_partitions")).toBe(PARTITIONS);
    // The devices of the dead worker's partitions kept their sessions: the survivor continued them.
    expect(counter(text, "evrec_cluster_sessions_adopted"), `sessions the survivor adopted (at the kill: ${atKill})\n${logTail("wb", 30)}`).toBeGreaterThan(adoptedBefore);
  }, 240000);

  it("releases a silent device's session and takes it up again, counters and all, when the device is heard from", async () => {
    const survivor = workers[1];
    await until("the silent devices' sessions released", async () => counter(await metrics(survivor), "evrec_cluster_devices") === 0, 30000);
    // A device whose last Hello was answered. One said as the node died may never have reached a
    // worker (nats-server acknowledges a publish while the uplink stream elects its leader, and
    // drops it: docs/SCALE.md); such a device learns it only from refused downlinks (R-DL-6), and
    // the session stored is its previous one: not what this test is about.
    const d = fleet.find((x) => x.answered);
    if (!d) throw new Error(`no device had its last Hello answered: ${JSON.stringify(fleet.map((x) => ({ id: x.id, connects: x.connects })))}`);
    await until("the device connected", () => !!d.client, 20000);
    const acks = d.acks, refused = d.refusals.length;
    // Sent again every 2 s until Acked, as a device resends what is not acknowledged.
    d.resendSeal(RECORDINGS);
    const again = setInterval(() => { if (d.client) d.resendSeal(RECORDINGS); }, 2000);
    try {
      await until("the seal Acked again", () => d.acks > acks, 30000, () => `(downlinks refused ${d.rejectedDownlinks - refused}, connected ${!!d.client}, ${readFileSync(join(dir, "wb.log"), "utf8").slice(-1500)})`);
    } finally {
      clearInterval(again);
    }
    expect(d.refusals.slice(refused), `downlinks ${d.id} refused`).toEqual([]);
    expect(d.recs[RECORDINGS - 1].sealed).toBe(true);
  }, 120000);

  it("admits a device by the bcrypt hash of its login, closes its connection once revoked and refuses its next one", async () => {
    const id = `cl${DEVICES}`;
    const keys = deriveDeviceKeys(sha, roots.get(id)!);
    const port = nats.nodes[1].mqtt;
    // The file nats-server checks it against holds a bcrypt hash of its login, not the login.
    const file = readFileSync(nats.authFile, "utf8");
    expect(file).not.toContain(loginPassword(keys.login));
    expect(file).not.toContain(WORKER.pass);
    expect(file).toMatch(new RegExp(`\\{ user: "${id}", password: "\\$2b\\$04\\$`));
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: id, password: loginPassword(keys.login), clientId: id, reconnectPeriod: 0 });
    const closed = new Promise<void>((r) => c.once("close", () => r()));
    const { db, registry } = await openMetadata(gatewayConfig());
    try {
      await registry.setState(id, "revoked");
    } finally {
      await db.close();
    }
    await until("the authorization file to drop the revoked device", () => !readFileSync(nats.authFile, "utf8").includes(`user: "${id}"`), 20000);
    await closed;
    await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: id, password: loginPassword(keys.login), clientId: id, reconnectPeriod: 0, connectTimeout: 5000 })).rejects.toThrow(/Not authorized/);
  }, 60000);
  it("fences off a worker stalled past its lease: nothing it commits after waking lands, and every recording verifies", async () => {
    // A third worker, each of its group commits held 1 s before it starts (so the test can stall it
    // with a batch waiting, not inside a transaction), takes its share of the partitions.
    const stalled = await startWorker("wc", { faultCommitDelayMs: 1000 });
    const survivor = workers[1];
    await until("the partitions shared by two workers", async () => {
      const b = counter(await metrics(survivor), "evrec_cluster_partitions");
      const c = counter(await metrics(stalled), "evrec_cluster_partitions");
      return b > 0 && c > 0 && b + c === PARTITIONS;
    }, 30000);
    const mqttPorts = nats.nodes.slice(1).map((x) => x.mqtt); // node 0 was killed
    for (let i = 0; i < STALL_DEVICES; i++) {
      const id = `cl${DEVICES + 1 + i}`;
      stallFleet.push(new StreamDevice(id, roots.get(id)!, mqttPorts, STALL_RECORDINGS, STALL_CHUNKS, CHUNK_BYTES, i));
    }
    // Looked at while the devices connect: after a node's loss nats-server may take several tries to
    // make a device's MQTT subscription (its JetStream consumer times out), and the stalled worker's
    // devices can finish streaming before the slowest device is connected.
    let connected = 0;
    const starting = Promise.all(stallFleet.map((d) => d.start())).then(() => { connected = Date.now(); });
    const acked = () => stallFleet.reduce((a, d) => a + d.acked, 0);
    const progress = () => `(${acked()} Acked; waiting: ${JSON.stringify(stallFleet.filter((d) => !d.done).map((d) => ({ id: d.id, recs: d.recs.map((r) => `${r.cumulative}${r.sealed ? "s" : ""}`).join(","), connects: d.connects, refused: d.rejectedDownlinks })))})`;
    const fenced = (text: string) => refused(text, "FENCED");

    // Stalled just after one of its batches committed, with items handed to the group commit for
    // the next, which waits its second before its transaction: what it has committed by then is all
    // it may ever commit of this tenure. When the batch count grew between two scrapes, the batch
    // ended after the first was asked for; stopped within 700 ms of that, the worker has no
    // transaction open. (Messages merely taken are not enough: taken but not yet fed, they are held
    // for a lease renewal, and the woken worker's lease round hands them back, no commit made.)
    let committedAtStall = -1, batches = -1, endedBy = 0, asked = 0, mostInFlight = 0;
    while (committedAtStall < 0) {
      const over = stallFleet.every((d) => d.done) ? "the fleet finished" : connected && Date.now() - connected > 30000 ? "timed out" : "";
      if (over) throw new Error(`${over} waiting for a batch of the worker's to commit with items handed to the group commit for the next (its batches ${batches}, at most ${mostInFlight} messages in flight) ${progress()}`);
      const before = asked;
      asked = Date.now();
      const t = await metrics(stalled);
      const n = counter(t, "evrec_commit_batch_items_count");
      const inFlight = counter(t, "evrec_cluster_messages_in_flight");
      mostInFlight = Math.max(mostInFlight, inFlight);
      if (batches >= 0 && n > batches) endedBy = before;
      batches = n;
      if (endedBy && Date.now() - endedBy < 700 && counter(t, "evrec_cluster_commit_items_pending") >= 1) {
        stalled.proc.kill("SIGSTOP");
        committedAtStall = counter(t, "evrec_chunks_committed_total");
      } else await new Promise((r) => setTimeout(r, 20));
    }
    await starting;
    try {
      // Its leases lapse; the survivor takes every partition and stores its tokens.
      await until("the survivor to take the stalled worker's partitions", async () => counter(await metrics(survivor), "evrec_cluster_partitions") === PARTITIONS, 20000);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      stalled.proc.kill("SIGCONT");
    }
    // Awake, it goes on with what it had taken: that commit finds the survivor's token and fails,
    // and nothing more of its has landed (it can take a partition again only after a hand-over).
    let woke = "";
    await until("the woken worker's commit fenced", async () => fenced(woke = await metrics(stalled)) > 0, 20000, () => readFileSync(stalled.out, "utf8").slice(-2000));
    expect(counter(woke, "evrec_chunks_committed_total")).toBe(committedAtStall);
    expect(readFileSync(stalled.out, "utf8")).toMatch(/"code":"FENCED"/);
    const fencedItems = fenced(woke);
    // Stopped cleanly (its commits are held a second each): the survivor finishes the fleet.
    await new Promise<void>((r) => { stalled.proc.once("exit", () => r()); stalled.proc.kill("SIGTERM"); });
    await until("every recording sealed and Acked", () => stallFleet.every((d) => d.done), 60000, progress);

    // Every partition's stored token is its holder's, and each recording is whole: rows, verdict, media.
    const { db } = await openMetadata(gatewayConfig());
    const media = await NatsMediaStore.open(await natsClient(), { stream: "EVREC_MEDIA", replicas: 3 });
    try {
      const stored = await fences(db);
      expect(stored.map((f) => f.part)).toEqual([...Array(PARTITIONS).keys()]);
      expect(stored.every((f) => f.holder === "wb" || f.holder === "wc")).toBe(true);
      for (const d of stallFleet) {
        for (const r of d.recs) {
          const row = await recordingDetail(db, d.id, r.recording);
          expect({ rec: `${d.id}/${r.recording}`, verdict: row?.verdict === "verified" ? "verified" : `${row?.verdict}: ${row?.reasons}`, chunks: row?.chunks, bytes: row?.bytes }).toEqual({ rec: `${d.id}/${r.recording}`, verdict: "verified", chunks: STALL_CHUNKS, bytes: STALL_CHUNKS * CHUNK_BYTES });
          const want = createHash("sha256").update(Buffer.concat(r.payloads)).digest("hex");
          expect(createHash("sha256").update(await media.read(row!.mediaPath)).digest("hex"), `${d.id}/${r.recording} media`).toBe(want);
        }
      }
    } finally {
      await db.close();
    }
    console.log(`cluster: stalled worker fenced; ${fencedItems} of its commit items refused FENCED after it woke; connection tries failed ${JSON.stringify(tally(stallFleet))}`);
  }, 120000);
});
