// The partition a worker places a device in (partitionFor, used as it takes a partition over to find
// the devices whose undone work is its own) must be the one nats-server's subject mapping sends the
// device's messages to. Asked of a real nats-server: one node, the mapping of docs/SCALE.md with 7
// partitions, one publish per device id on its uplink subject, and the subject each arrived on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { freePort, NATS_BIN } from "./nats-cluster.js";
import { until } from "./workers.js";
import { partitionFor } from "../../gateway/cluster/worker.js";

const N = 7;

describe.skipIf(!existsSync(NATS_BIN))("a device's partition, as the worker computes it", () => {
  let dir: string;
  let server: ChildProcess | null = null;
  let nc: NatsConnection | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-partition-of-"));
    const port = await freePort();
    const conf = join(dir, "nats.conf");
    writeFileSync(conf, `listen: 127.0.0.1:${port}\nmappings { "rec.*.up": "part.{{partition(${N},1)}}.rec.{{wildcard(1)}}.up" }\n`);
    server = spawn(NATS_BIN, ["-c", conf], { stdio: "ignore" });
    await until("nats-server to listen", async () => (nc = await connect({ servers: `127.0.0.1:${port}` }).catch(() => null)) !== null, 10000);
  });

  afterAll(async () => {
    await nc?.close();
    server?.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("is the partition nats-server's mapping sends its messages to, for every kind of id", async () => {
    // Ids as stations name their recorders, and ids of every length and script the registry takes.
    const ids = [...Array.from({ length: 300 }, (_, i) => `BWC-${String(i).padStart(4, "0")}`), "a", "tk0", "of12", "Srdv01-3", "执法仪-0001", "x".repeat(64)];
    const arrived = new Map<string, number>();
    nc!.subscribe("part.>", { callback: (_e, m) => {
      const t = m.subject.split(".");
      arrived.set(t[3], Number(t[1]));
    } });
    for (const id of ids) nc!.publish(`rec.${id}.up`, "x");
    await until("every publish to arrive", () => arrived.size === ids.length, 10000);
    expect(ids.filter((id) => arrived.get(id) !== partitionFor(id, N))).toEqual([]);
    // Spread over every partition, not all in one.
    expect(new Set(arrived.values()).size).toBe(N);
  });
});
