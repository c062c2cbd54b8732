// A worker told to stop (SIGTERM, as a service manager does) stops within about a lease's time
// even when no NATS node answers any more: before, its last lease round and the release of its
// leases each waited out their requests' timeouts, and it took half a minute (29 s with leases of
// 3 s), where a service manager may give up and kill it. With the cluster up it stops at once and
// hands its partitions over: a second worker started after it serves them all without waiting for
// the leases to lapse.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsCluster, NATS_BIN } from "./nats-cluster.js";
import { counter, killWorker, metrics, startWorker, until, WORKER } from "./workers.js";
import type { Proc } from "./workers.js";

const PARTITIONS = 2, LEASE_MS = 3000;
/** The first test's leases: long enough that a lease left to lapse could not pass for one released. */
const LONG_LEASE_MS = 20000;

/** Send SIGTERM; resolves with the exit code and how long it took. */
const stopWorker = (w: Proc) => new Promise<{ code: number | null; ms: number }>((r) => {
  const t0 = Date.now();
  w.proc.once("exit", (code) => r({ code, ms: Date.now() - t0 }));
  w.proc.kill("SIGTERM");
});

describe.skipIf(!existsSync(NATS_BIN))("a worker told to stop", () => {
  let dir: string;
  let nats: NatsCluster;
  const workers: Proc[] = [];
  const setup = () => ({ dir, nats, partitions: PARTITIONS, db: "" });
  const serving = async (w: Proc, n: number) => counter(await metrics(w), "evrec_cluster_partitions") === n;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-shutdown-"));
    nats = new NatsCluster(join(dir, "nats"), PARTITIONS, WORKER);
    await nats.start();
  }, 90000);
  afterAll(async () => {
    for (const w of workers) await killWorker(w);
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("hands its partitions over at once while the cluster is up", async () => {
    const a = await startWorker(setup(), "a", {}, { leaseMs: LONG_LEASE_MS });
    workers.push(a);
    await until("a to serve every partition", () => serving(a, PARTITIONS), 30000);
    const stopped = await stopWorker(a);
    expect(stopped.code).toBe(0);
    // Released, and its heartbeat withdrawn: the next worker serves both partitions from its first
    // lease round, long before a's leases (20 s) could have lapsed.
    const b = await startWorker(setup(), "b", {}, { leaseMs: LONG_LEASE_MS });
    workers.push(b);
    const t0 = Date.now();
    await until("b to serve every partition", () => serving(b, PARTITIONS), 30000);
    expect(Date.now() - t0).toBeLessThan(LONG_LEASE_MS / 2);
    expect((await stopWorker(b)).code).toBe(0);
  }, 90000);

  it("stops within about a lease's time when no NATS node answers", async () => {
    const c = await startWorker(setup(), "c", {}, { leaseMs: LEASE_MS });
    workers.push(c);
    await until("c to serve every partition", () => serving(c, PARTITIONS), 30000);
    for (let i = 0; i < 3; i++) nats.kill(i);
    await new Promise((r) => setTimeout(r, 1000));
    const stopped = await stopWorker(c);
    expect(stopped.code).toBe(0); // through its close(), which ends in exit 0: not killed
    expect(stopped.ms).toBeLessThan(LEASE_MS * 2 + 4000);
  }, 90000);
});
