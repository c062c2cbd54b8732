// The cluster's throughput with one gateway worker and with two, in alternating rounds on a fresh
// 3-node NATS cluster each (JetStream with three replicas, MQTT on every node): a fleet streams
// 4 KiB chunks through the MQTT listeners until every recording is sealed and Acked. Printed per
// round: verified chunks/s and MB/s, and CPU per chunk of the workers and of the NATS nodes (what
// would scale with more cores). `npm run bench:cluster [-- OPTIONS]` (`--help` lists them);
// `--db postgres`: the workers' metadata in a throwaway PostgreSQL 15 (a database per round), as a
// region runs them, rather than one SQLite file.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsCluster, NATS_BIN } from "../cluster/nats-cluster.js";
import { StreamDevice } from "../cluster/stream-device.js";
import { openMetadata } from "../../gateway/cluster/store.js";
import { configFrom } from "../../gateway/config.js";
import { startPostgres } from "../helpers/postgres.js";
import type { PostgresServer } from "../helpers/postgres.js";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";

const ROOT = join(import.meta.dirname, "..", "..");
const opts = benchArgs("bench:cluster", "npm run bench:cluster [-- OPTIONS]", "The cluster's throughput with one gateway worker and with two, alternating rounds on a fresh\n3-node NATS cluster each (test/bench/cluster.bench.ts says how).", {
  devices: { kind: "number", default: 40, integer: true, min: 1, help: "devices in the fleet" },
  chunks: { kind: "number", default: 100, integer: true, min: 1, help: "chunks of 4 KiB in each of a device's two recordings" },
  rounds: { kind: "number", default: 2, integer: true, min: 1, help: "alternating rounds of one and of two workers" },
  json: { kind: "string", help: "where the figures are written as JSON (none if unset)" },
  db: { kind: "string", default: "sqlite", choices: ["sqlite", "postgres"], help: "the workers' metadata: one SQLite file, or a throwaway PostgreSQL 15" },
});
const DEVICES = opts.devices, RECORDINGS = 2, CHUNKS = opts.chunks, BYTES = 4096, ROUNDS = opts.rounds;
const jsonOut = opts.json ?? "";
const onPostgres = opts.db === "postgres";
let pg: PostgresServer | null = null;
const WORKER = { user: "evrec-worker", pass: "bench-secret" };
const TICK = 100; // clock ticks per second (Linux USER_HZ)

/** CPU seconds a process has used (user + system). */
const cpu = (pid: number): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch { return 0; }
};

async function round(workers: number): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), "evrec-cluster-bench-"));
  const nats = new NatsCluster(join(dir, "nats"), 4, WORKER);
  const procs: ChildProcess[] = [];
  const fleet: StreamDevice[] = [];
  const stopRound = async () => {
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    await Promise.all(fleet.map((d) => d.stop()));
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const forget = onInterrupt(stopRound);
  try {
    await nats.start();
    const meta = pg ? { db: await pg.createDatabase() } : {};
    const { db, registry } = await openMetadata(configFrom({ dataDir: join(dir, "data"), ...meta }, "bench"));
    const roots: Uint8Array[] = [];
    for (let i = 0; i < DEVICES; i++) roots.push(await registry.add(`b${i}`));
    await db.close();
    for (let w = 0; w < workers; w++) {
      const file = join(dir, `w${w}.json`), ports = join(dir, `w${w}.ports`);
      writeFileSync(file, JSON.stringify({
        cluster: { worker: `w${w}`, natsServers: nats.servers, natsUser: WORKER.user, natsPass: WORKER.pass, partitions: 4, replicas: 3, leaseMs: 3000, metricsHost: "127.0.0.1", metricsPort: 0, authFile: nats.authFile, natsPidFiles: nats.pidFiles, authSyncMs: 500, portsFile: ports },
        gateway: { dataDir: join(dir, "data"), ...meta, logLevel: "error", ackIntervalMs: 50, beaconIntervalS: 0 },
      }));
      procs.push(spawn(join(ROOT, "bin/evrec-gateway"), ["--cluster", file], { cwd: ROOT, stdio: "ignore" }));
      while (!existsSync(ports)) await new Promise((r) => setTimeout(r, 100));
    }
    while (!readFileSync(nats.authFile, "utf8").includes(`"b${DEVICES - 1}"`)) await new Promise((r) => setTimeout(r, 100));
    // The partitions shared out before the clock starts (a lease round is a second).
    await new Promise((r) => setTimeout(r, workers > 1 ? 4000 : 1500));
    const ports = nats.nodes.map((x) => x.mqtt);
    for (let i = 0; i < DEVICES; i++) fleet.push(new StreamDevice(`b${i}`, roots[i], ports, RECORDINGS, CHUNKS, BYTES, i, 16, 3000));
    const natsPids = nats.nodes.map((x) => x.proc!.pid!);
    const cpu0 = { w: procs.reduce((a, p) => a + cpu(p.pid!), 0), n: natsPids.reduce((a, p) => a + cpu(p), 0) };
    const t0 = performance.now();
    await Promise.all(fleet.map((d) => d.start()));
    while (!fleet.every((d) => d.done)) await new Promise((r) => setTimeout(r, 50));
    const s = (performance.now() - t0) / 1000;
    // Where each worker's commits spent their time: media (JetStream PubAcks) and the transaction.
    const phase = { media: 0, transaction: 0, batches: 0 };
    for (let w = 0; w < workers; w++) {
      const port = JSON.parse(readFileSync(join(dir, `w${w}.ports`), "utf8")).metrics;
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const sum = (ph: string) => Number((text.match(new RegExp(`^evrec_commit_phase_seconds_sum\\{[^}]*phase="${ph}"[^}]*\\} (\\S+)$`, "m")) || [])[1] || 0);
      phase.media += sum("media");
      phase.transaction += sum("transaction");
      phase.batches += Number((text.match(/^evrec_commit_batch_items_count\{[^}]*\} (\S+)$/m) || [])[1] || 0);
    }
    const chunks = DEVICES * RECORDINGS * CHUNKS;
    const wCpu = procs.reduce((a, p) => a + cpu(p.pid!), 0) - cpu0.w, nCpu = natsPids.reduce((a, p) => a + cpu(p), 0) - cpu0.n;
    return {
      workers, chunks, seconds: +s.toFixed(2), chunksPerS: Math.round(chunks / s), mbPerS: +((chunks * BYTES) / s / 1048576).toFixed(2),
      workerCpuUsPerChunk: Math.round((wCpu / chunks) * 1e6), natsCpuUsPerChunk: Math.round((nCpu / chunks) * 1e6),
      resends: fleet.reduce((a, d) => a + d.resends, 0),
      batches: phase.batches, mediaMsPerBatch: +((phase.media / Math.max(1, phase.batches)) * 1000).toFixed(1), transactionMsPerBatch: +((phase.transaction / Math.max(1, phase.batches)) * 1000).toFixed(1),
    };
  } finally {
    forget();
    await stopRound();
  }
}

if (!existsSync(NATS_BIN)) {
  console.error(`bench:cluster: no nats-server at ${NATS_BIN} (apt-get install nats-server, or set NATS_SERVER_BIN)`);
  process.exit(2);
}
if (onPostgres) {
  pg = await startPostgres(onInterrupt);
  onInterrupt(() => pg!.stop());
}
console.log(`cluster bench: ${DEVICES} devices × ${RECORDINGS} recordings × ${CHUNKS} chunks of ${BYTES} B, 3 NATS nodes (R3), ${ROUNDS} alternating rounds; metadata in ${pg ? "PostgreSQL" : "one SQLite file"}`);
const results: Record<string, number>[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const w of r % 2 ? [2, 1] : [1, 2]) {
    const x = await round(w);
    results.push(x);
    console.log(`  ${w} worker${w > 1 ? "s" : " "}: ${x.chunksPerS} chunks/s, ${x.mbPerS} MB/s (${x.seconds} s); CPU per chunk: workers ${x.workerCpuUsPerChunk} µs, NATS nodes ${x.natsCpuUsPerChunk} µs; resends ${x.resends}; ${x.batches} commits, each media ${x.mediaMsPerBatch} ms, transaction ${x.transactionMsPerBatch} ms`);
  }
}
const median = (w: number) => {
  const v = results.filter((x) => x.workers === w).map((x) => x.chunksPerS).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
console.log(`median: 1 worker ${median(1)} chunks/s, 2 workers ${median(2)} chunks/s: ${(median(2) / median(1)).toFixed(2)} × (goal with a core each: 1.6 ×)`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ devices: DEVICES, recordings: RECORDINGS, chunks: CHUNKS, bytes: BYTES, db: pg ? "postgres" : "sqlite", results }, null, 2) + "\n");
if (pg) await pg.stop();
