// A region whose workers run in the test file's own process (so that a test can spy on them): a
// 3-node NATS cluster and the region's SQLite file in a temporary directory, made before the
// file's tests and removed after them with the workers they started.
import { afterAll, beforeAll } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsCluster } from "./nats-cluster.js";
import { WORKER, regionKey, workerFile } from "./workers.js";
import { startWorker } from "../../gateway/cluster/worker.js";
import type { Worker } from "../../gateway/cluster/worker.js";
import { loadClusterConfig } from "../../gateway/cluster/config.js";
import { configFrom } from "../../gateway/config.js";
import { openStore } from "../../gateway/gateway.js";
import { createLogger } from "../../gateway/log.js";

export interface InProcessRegion {
  dir: string;
  nats: NatsCluster;
  /** Start a worker of this name (its file written as workers.ts writes one); closed after the file's tests. */
  start(name: string): Promise<Worker>;
  /** The region's store, as the admin CLI opens it: the caller closes its database. */
  store(): ReturnType<typeof openStore>;
}

export function regionInProcess(prefix: string, partitions: number): InProcessRegion {
  const workers: Worker[] = [];
  const r: InProcessRegion = {
    dir: "",
    nats: null as unknown as NatsCluster,
    async start(name) {
      const w = await startWorker(loadClusterConfig(workerFile({ dir: r.dir, nats: r.nats, partitions, db: "" }, name)), createLogger("silent"));
      workers.push(w);
      return w;
    },
    store: () => openStore(configFrom({ dataDir: join(r.dir, "data") }, "test")),
  };
  beforeAll(async () => {
    r.dir = mkdtempSync(join(tmpdir(), `evrec-${prefix}-`));
    r.nats = new NatsCluster(join(r.dir, "nats"), partitions, WORKER);
    await r.nats.start();
    // The region's key, as its office makes it: a worker never does.
    regionKey({ dir: r.dir, nats: r.nats, partitions, db: "" });
  }, 90000);
  afterAll(async () => {
    for (const w of workers) await w.close().catch(() => undefined);
    if (r.nats) await r.nats.stop();
    if (r.dir) rmSync(r.dir, { recursive: true, force: true });
  }, 60000);
  return r;
}
