// Workers that disagree on the partition count leave partitions unserved: each takes its share of
// its own count. A tester with the mapping at 4 restarted one of two workers with `partitions` 8:
// it served partitions 4 to 7, which the mapping never fills, the other handed 2 and 3 over to it,
// and nobody served them; nothing was logged, and the office's alarm said to start a worker. Now a
// worker that can tell at its start (another live worker's heartbeat, a partition past its count
// held or with device messages waiting) stops with PARTITIONS_DIFFER (exit 2), naming both counts
// and where each came from; two started together with different counts find out from each other's
// heartbeat, and the one that started later takes nothing (partitionAgreement).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsCluster, NATS_BIN } from "./nats-cluster.js";
import { counter, killWorker, metrics, regionKey, startWorker, until, WORKER, workerFile } from "./workers.js";
import type { Proc } from "./workers.js";
import { partitionAgreement, partitionFor } from "../../gateway/cluster/worker.js";
import type { Heartbeat } from "../../gateway/cluster/leases.js";

const ROOT = join(import.meta.dirname, "..", "..");
const MAPPING = 4;

const beat = (name: string, partitions: number | null, since: number | null, yielding = false): Heartbeat => ({ name, partitions, since, yielding });

describe("whether a worker's partition count agrees with the live workers'", () => {
  const me = { name: "w1", partitions: 4, since: 2000 };
  it("counts the workers of its own count (and those that say none) in its share", () => {
    expect(partitionAgreement(me, [beat("w1", 4, 2000)])).toEqual({ workers: 1, yieldTo: [] });
    expect(partitionAgreement(me, [beat("w1", 4, 2000), beat("w2", 4, 1000), beat("old", null, null)])).toEqual({ workers: 3, yieldTo: [] });
  });
  it("yields to an older worker of another count, not to a newer one, nor to one that yields itself", () => {
    expect(partitionAgreement(me, [beat("w1", 4, 2000), beat("w2", 8, 1000)])).toEqual({ workers: 1, yieldTo: [beat("w2", 8, 1000)] });
    // A newer one of another count is not counted in the share (it yields to this one).
    expect(partitionAgreement(me, [beat("w1", 4, 2000), beat("w2", 8, 3000)])).toEqual({ workers: 1, yieldTo: [] });
    expect(partitionAgreement(me, [beat("w1", 4, 2000), beat("w2", 8, 1000, true), beat("w3", 4, 3000)])).toEqual({ workers: 2, yieldTo: [] });
    // Started in the same ms: by name.
    expect(partitionAgreement(me, [beat("w0", 8, 2000)]).yieldTo.length).toBe(1);
    expect(partitionAgreement(me, [beat("w9", 8, 2000)]).yieldTo.length).toBe(0);
  });
});

describe.skipIf(!existsSync(NATS_BIN))("workers of different partition counts", () => {
  let dir: string;
  let nats: NatsCluster;
  const workers: Proc[] = [];
  const setup = () => ({ dir, nats, partitions: MAPPING, db: "" });
  const served = async (w: Proc) => counter(await metrics(w), "evrec_cluster_partitions");
  /** Each partition's lease holder now (null: none). */
  const holders = async (n: number): Promise<(string | null)[]> => {
    const nc = await connect({ servers: nats.servers, user: WORKER.user, pass: WORKER.pass });
    try {
      const jsm = await jetstreamManager(nc);
      const out: (string | null)[] = [];
      for (let p = 0; p < n; p++) out.push((await jsm.direct.getMessage("EVREC_LEASES", { last_by_subj: `evrec.lease.part-${p}` }))?.string() ?? null);
      return out;
    } finally {
      await nc.close();
    }
  };
  /** Start a worker that may refuse: resolves once it runs (its ports file) or has exited; `text()` is its output so far. */
  const launch = (name: string, partitions: number): Promise<{ w: Proc | null; code: number | null; text: () => string }> => new Promise((done) => {
    const file = workerFile(setup(), name, {}, { partitions, replicas: 1 });
    const proc = spawn(join(ROOT, "bin/evrec-gateway"), ["--cluster", file], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout.on("data", (b) => (out += b));
    proc.stderr.on("data", (b) => (out += b));
    const ports = join(dir, `${name}.ports.json`);
    const t = setInterval(() => {
      if (existsSync(ports)) {
        clearInterval(t);
        const w: Proc = { name, proc, ports, out: join(dir, `${name}.log`), metrics: JSON.parse(readFileSync(ports, "utf8")).metrics };
        workers.push(w);
        done({ w, code: null, text: () => out });
      }
    }, 100);
    proc.on("exit", (code) => { clearInterval(t); done({ w: null, code, text: () => out }); });
    setTimeout(() => { if (proc.exitCode === null && !existsSync(ports)) proc.kill("SIGKILL"); }, 45000);
  });
  const stop = (w: Proc) => new Promise<void>((r) => { if (w.proc.exitCode !== null) return r(); w.proc.once("exit", () => r()); w.proc.kill("SIGTERM"); });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-partition-count-"));
    nats = new NatsCluster(join(dir, "nats"), MAPPING, WORKER);
    await nats.start(1);
    regionKey(setup());
  }, 60000);
  afterAll(async () => {
    for (const w of workers) await killWorker(w);
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a worker started with a count other than a live worker's refuses to start, naming both; the other serves on", async () => {
    const w2 = await startWorker(setup(), "w2", {}, { replicas: 1 });
    workers.push(w2);
    await until("w2 to serve every partition", async () => (await served(w2)) === MAPPING, 20000);
    const w1 = await launch("w1", 8);
    expect(w1.code).toBe(2);
    expect(w1.text()).toMatch(/^gateway: PARTITIONS_DIFFER: this worker's cluster\.partitions is 8, but worker w2's heartbeat in EVREC_LEASES \(running since \d{4}-\d\d-\d\dT[\d:.]+Z\) says 4\. Every worker's cluster\.partitions must be the N of the NATS mapping's partition\(N,1\)/);
    // w2 keeps every partition (before, it handed 2 and 3 to w1, which never served them).
    await new Promise((r) => setTimeout(r, 2000));
    expect(await served(w2)).toBe(MAPPING);
    expect(await holders(MAPPING)).toEqual(["w2", "w2", "w2", "w2"]);
    await stop(w2);
  }, 60000);

  it("a worker of fewer partitions than the messages waiting in the stream refuses to start", async () => {
    // A device's message on partition 3 of the mapping, with no worker running.
    const id = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"].find((d) => partitionFor(d, MAPPING) === 3)!;
    const nc = await connect({ servers: nats.servers, user: WORKER.user, pass: WORKER.pass });
    try {
      await jetstream(nc).publish(`rec.${id}.up`, new Uint8Array([1, 2, 3]));
    } finally {
      await nc.close();
    }
    const w3 = await launch("w3", 2);
    expect(w3.code).toBe(2);
    expect(w3.text()).toMatch(/^gateway: PARTITIONS_DIFFER: this worker's cluster\.partitions is 2, but EVREC_UP, holding 1 device message\(s\) on partition 3 \(subjects part\.3\.rec\.\*\.up\) says at least 4\./);
  }, 60000);

  it("two started together with different counts: the later takes nothing, every partition of the earlier's count served", async () => {
    const [a, b] = await Promise.all([launch("wa", 4), launch("wb", 8)]);
    const running = [a, b].filter((x) => x.w).map((x) => x.w!);
    const text = (w: Proc) => [a, b].find((x) => x.w === w)!.text();
    const refused = [a, b].filter((x) => !x.w);
    for (const r of refused) {
      expect(r.code).toBe(2);
      expect(r.text()).toMatch(/PARTITIONS_DIFFER/);
    }
    expect(running.length).toBeGreaterThan(0);
    // Whichever way: the partitions of the mapping all held, by one worker; a second one running serves none.
    let now: (string | null)[] = [];
    await until("the mapping's partitions held by one worker", async () => {
      now = await holders(MAPPING);
      return now.every((h) => h !== null && h === now[0]);
    }, 20000, () => JSON.stringify(now));
    const holder = running.find((w) => w.name === now[0])!;
    expect(holder).toBeDefined();
    for (const w of running) if (w !== holder) {
      await until(`${w.name} to serve none`, async () => (await served(w)) === 0, 10000);
      await until(`${w.name} to say why`, () => text(w).includes("PARTITIONS_DIFFER"), 10000, () => text(w).slice(-1500));
      console.log(`partition count: ${holder.name} serves ${await served(holder)}, ${w.name} yields`);
    }
    if (refused.length) console.log(`partition count: ${holder.name} serves ${await served(holder)}, the other refused at start`);
    for (const w of running) await stop(w);
  }, 60000);

  it("a running worker yields to an older live worker of another count, and serves again once it is gone", async () => {
    const wc = await startWorker(setup(), "wc", {}, { replicas: 1 });
    workers.push(wc);
    await until("wc to serve every partition", async () => (await served(wc)) === MAPPING, 20000);
    // An older worker of count 8 heartbeats (as if started together with wc and passed its check).
    const nc = await connect({ servers: nats.servers, user: WORKER.user, pass: WORKER.pass });
    const js = jetstream(nc);
    const elder = () => js.publish("evrec.lease.worker.elder", JSON.stringify({ at: Date.now(), partitions: 8, since: 1 }));
    await elder();
    const beating = setInterval(() => void elder().catch(() => undefined), 500);
    try {
      await until("wc to hand every partition back", async () => (await served(wc)) === 0, 10000);
      const log = readFileSync(wc.out, "utf8");
      expect(log).toMatch(/"code":"PARTITIONS_DIFFER".*this worker's cluster\.partitions is 4, but worker elder's heartbeat in EVREC_LEASES \(running since 1970-01-01T00:00:00\.001Z\) says 8\..*This worker started after it, so it takes no partitions meanwhile/);
      await new Promise((r) => setTimeout(r, 2000));
      // Said once while the same worker differs.
      expect(readFileSync(wc.out, "utf8").match(/"code":"PARTITIONS_DIFFER"/g)?.length).toBe(1);
      expect(await served(wc)).toBe(0);
    } finally {
      clearInterval(beating);
      await nc.close();
    }
    // Its heartbeat lapses (leaseMs 3 s): wc takes the partitions again.
    await until("wc to serve every partition again", async () => (await served(wc)) === MAPPING, 20000);
    expect(readFileSync(wc.out, "utf8")).toMatch(/no older worker's partition count differs now: taking partitions/);
    await stop(wc);
  }, 60000);
});
