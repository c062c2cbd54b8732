// The cluster's throughput with one gateway worker and with two, in alternating rounds on a fresh
// 3-node NATS cluster each (JetStream with three replicas, MQTT on every node): a fleet streams
// 4 KiB chunks through the MQTT listeners until every recording is sealed and Acked. Printed per
// round: verified chunks/s and MB/s, and CPU per chunk of the workers and of the NATS nodes (what
// would scale with more cores). `npm run bench:cluster [-- OPTIONS]` (`--help` lists them);
// `--db postgres`: the workers' metadata in a throwaway PostgreSQL 15 (a database per round), as a
// region runs them, rather than one SQLite file; `--up-storage both`: the device messages' stream
// in files and in memory, alternating; `--nats-profile DIR` and `--worker-profile DIR`: where the
// nodes' and the workers' CPU goes (docs/SCALE.md, "Where the NATS nodes' CPU goes").
import type { ChildProcess } from "node:child_process";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  "nats-profile": { kind: "string", help: "a directory: each round's NATS nodes' CPU profiles (Go pprof) are written there, and summed up at the end when `go` is on the PATH" },
  "worker-profile": { kind: "string", help: "a directory: each worker's V8 CPU profiles are written there (the workers stopped with SIGTERM at each round's end), and their main threads' time while the fleet streams summed up at the end" },
  "up-storage": { kind: "string", default: "file", choices: ["file", "memory", "both"], help: "where the nodes keep the device messages' stream (the workers' upStorage); both: alternating rounds of each" },
});
const DEVICES = opts.devices, RECORDINGS = 2, CHUNKS = opts.chunks, BYTES = 4096, ROUNDS = opts.rounds;
const jsonOut = opts.json ?? "";
const onPostgres = opts.db === "postgres";
const profileDir = opts["nats-profile"] ?? "";
if (profileDir) mkdirSync(profileDir, { recursive: true });
const workerProfileDir = opts["worker-profile"] ?? "";
if (workerProfileDir) mkdirSync(workerProfileDir, { recursive: true });
/** The chunks each kind of round streamed while profiled, and when (this machine's monotonic clock, µs: a V8 profile's timestamps). */
const profiledRuns: { kind: string; dir: string; from: number; to: number; chunks: number }[] = [];
const STORAGES = opts["up-storage"] === "both" ? ["file", "memory"] : [opts["up-storage"]];
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

async function round(workers: number, upStorage: string): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), "evrec-cluster-bench-"));
  const nats = new NatsCluster(join(dir, "nats"), 4, WORKER, !!profileDir);
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
        cluster: { worker: `w${w}`, natsServers: nats.servers, natsUser: WORKER.user, natsPass: WORKER.pass, partitions: 4, replicas: 3, upStorage, leaseMs: 3000, metricsHost: "127.0.0.1", metricsPort: 0, authFile: nats.authFile, natsPidFiles: nats.pidFiles, authSyncMs: 500, portsFile: ports },
        gateway: { dataDir: join(dir, "data"), ...meta, logLevel: "error", ackIntervalMs: 50, beaconIntervalS: 0 },
      }));
      const profile = workerProfileDir ? { EVREC_NODE_ARGS: `--cpu-prof --cpu-prof-dir=${join(workerProfileDir, `${workers}w-${upStorage}-r${results.length}-w${w}`)}` } : {};
      procs.push(spawn(join(ROOT, "bin/evrec-gateway"), ["--cluster", file], { cwd: ROOT, stdio: "ignore", env: { ...process.env, ...profile } }));
      while (!existsSync(ports)) await new Promise((r) => setTimeout(r, 100));
    }
    while (!readFileSync(nats.authFile, "utf8").includes(`"b${DEVICES - 1}"`)) await new Promise((r) => setTimeout(r, 100));
    // The partitions shared out before the clock starts (a lease round is a second).
    await new Promise((r) => setTimeout(r, workers > 1 ? 4000 : 1500));
    const ports = nats.nodes.map((x) => x.mqtt);
    for (let i = 0; i < DEVICES; i++) fleet.push(new StreamDevice(`b${i}`, roots[i], ports, RECORDINGS, CHUNKS, BYTES, i, 16, 3000));
    const natsPids = nats.nodes.map((x) => x.proc!.pid!);
    const cpu0 = { w: procs.reduce((a, p) => a + cpu(p.pid!), 0), n: natsPids.reduce((a, p) => a + cpu(p), 0) };
    const t0 = performance.now(), from = Number(process.hrtime.bigint() / 1000n);
    await Promise.all(fleet.map((d) => d.start()));
    const profiled = profileDir ? profileNodes(nats, `${workers}w-${upStorage}-r${results.length}`) : Promise.resolve();
    while (!fleet.every((d) => d.done)) await new Promise((r) => setTimeout(r, 50));
    const s = (performance.now() - t0) / 1000, to = Number(process.hrtime.bigint() / 1000n);
    await profiled;
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
    if (workerProfileDir) {
      // A V8 profile is written as its process exits of itself: stopped as a service manager would.
      await Promise.all(procs.map((p) => new Promise<void>((r) => {
        if (p.exitCode !== null) return r();
        const t = setTimeout(() => r(), 30000);
        p.once("exit", () => { clearTimeout(t); r(); });
        p.kill("SIGTERM");
      })));
      profiledRuns.push({ kind: `${workers}w-${upStorage}`, dir: `${workers}w-${upStorage}-r${results.length}`, from, to, chunks });
    }
    return {
      workers, upStorage, chunks, seconds: +s.toFixed(2), chunksPerS: Math.round(chunks / s), mbPerS: +((chunks * BYTES) / s / 1048576).toFixed(2),
      workerCpuUsPerChunk: Math.round((wCpu / chunks) * 1e6), natsCpuUsPerChunk: Math.round((nCpu / chunks) * 1e6),
      resends: fleet.reduce((a, d) => a + d.resends, 0),
      batches: phase.batches, mediaMsPerBatch: +((phase.media / Math.max(1, phase.batches)) * 1000).toFixed(1), transactionMsPerBatch: +((phase.transaction / Math.max(1, phase.batches)) * 1000).toFixed(1),
    };
  } finally {
    forget();
    await stopRound();
  }
}

/** PROFILE_S seconds of each node's CPU profile, from a second into the run, written as DIR/<round>-<node>.pb.gz. */
const PROFILE_S = 4;
async function profileNodes(nats: NatsCluster, label: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000));
  await Promise.all(nats.nodes.map(async (x) => {
    try {
      const res = await fetch(`http://127.0.0.1:${x.prof}/debug/pprof/profile?seconds=${PROFILE_S}`, { signal: AbortSignal.timeout((PROFILE_S + 10) * 1000) });
      writeFileSync(join(profileDir, `${label}-${x.name}.pb.gz`), Buffer.from(await res.arrayBuffer()));
    } catch (e) {
      console.warn(`  no profile of ${x.name}: ${(e as Error).message}`);
    }
  }));
}

/** Where nats-server's goroutines begin, by what they do: each is its own work, so their shares add up. */
const NATS_AREAS: [string, RegExp][] = [
  ["replication (raft: proposals, its log, followers)", /\(\*raft\)\.run$/],
  ["streams storing what was agreed", /\(\*jetStream\)\.monitorStream$/],
  ["consumers' acknowledgements, agreed and applied", /\(\*jetStream\)\.monitorConsumer$/],
  ["a stream's intake of published messages", /\(\*stream\)\.internalLoop$/],
  ["routes between nodes, reading", /\(\*Server\)\.createRoute\.func1$/],
  ["routes between nodes, writing", /\(\*Server\)\.createRoute\.func2$/],
  ["MQTT devices, reading", /\(\*Server\)\.createMQTTClient\.func1$/],
  ["MQTT devices, writing", /\(\*Server\)\.createMQTTClient\.func2$/],
  ["NATS clients (the workers)", /\(\*Server\)\.createClient\.func1$/],
  ["the server's own messages (API replies, advisories)", /\(\*sendq\)\.internalLoop$/],
  ["garbage collection", /runtime\.gcBgMarkWorker$/],
];

/** What the NATS nodes spent their CPU on, each kind of round's profiles taken together (`go tool pprof`), by area, in µs a chunk. */
function summarizeProfiles(): void {
  const files = (kind: string) => readdirSync(profileDir).filter((f) => f.startsWith(kind + "-") && f.endsWith(".pb.gz")).map((f) => join(profileDir, f));
  for (const w of [1, 2]) {
    for (const st of STORAGES) {
      const fs = files(`${w}w-${st}`);
      if (!fs.length) continue;
      let top: string;
      try {
        top = execFileSync("go", ["tool", "pprof", "-top", "-cum", "-nodecount=1000", ...fs], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      } catch {
        console.log(`profiles in ${profileDir}: \`go tool pprof -top FILE\` reads them (no \`go\` here to sum them up)`);
        return;
      }
      // "flat flat% sum% cum cum% name": the share of the samples in each area's goroutines.
      const share = (re: RegExp) => top.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 6 && re.test(f[f.length - 1])).reduce((a, f) => a + parseFloat(f[4]), 0);
      const perChunk = median(w, st, "natsCpuUsPerChunk");
      console.log(`NATS nodes' CPU, ${w} worker${w > 1 ? "s" : ""}, device messages in ${st} (${fs.length} profiles of ${PROFILE_S} s; ${perChunk} µs a chunk in all):`);
      let counted = 0;
      for (const [what, re] of NATS_AREAS) {
        const pc = share(re);
        counted += pc;
        console.log(`  ${pc.toFixed(1).padStart(5)} %  ${String(Math.round((pc / 100) * perChunk)).padStart(4)} µs  ${what}`);
      }
      console.log(`  ${(100 - counted).toFixed(1).padStart(5)} %  ${String(Math.round(((100 - counted) / 100) * perChunk)).padStart(4)} µs  the rest`);
    }
  }
}

/** What a main-thread sample's time is spent on: the project's file, a package, Node's module, or V8's own (GC, natives). */
function areaOf(f: { functionName: string; url: string }): string {
  if (!f.url) return f.functionName || "(anonymous native)";
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(f.url);
  if (pkg) return pkg[1];
  if (f.url.startsWith("node:")) return f.url.replace(/^node:(internal\/)?/, "node:").replace(/\/.*/, "");
  return f.url.replace(/^file:\/\//, "").replace(ROOT + "/", "");
}

/** The workers' main threads while the fleet streamed, each kind of round's profiles taken together: where their time went. */
function summarizeWorkerProfiles(): void {
  for (const kind of [...new Set(profiledRuns.map((r) => r.kind))]) {
    const busy = new Map<string, number>();
    let total = 0, chunks = 0, files = 0;
    for (const run of profiledRuns.filter((r) => r.kind === kind)) {
      chunks += run.chunks;
      for (const w of readdirSync(workerProfileDir).filter((d) => d.startsWith(run.dir + "-w"))) {
        // CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile: thread 0 is the main thread.
        for (const f of readdirSync(join(workerProfileDir, w)).filter((f) => /\.0\.\d+\.cpuprofile$/.test(f))) {
          const p = JSON.parse(readFileSync(join(workerProfileDir, w, f), "utf8")) as { nodes: { id: number; callFrame: { functionName: string; url: string } }[]; samples: number[]; timeDeltas: number[]; startTime: number };
          files++;
          const node = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
          let t = p.startTime;
          for (let i = 0; i < p.samples.length; i++) {
            t += p.timeDeltas[i];
            const fr = node.get(p.samples[i])!;
            if (t < run.from || t > run.to || fr.functionName === "(idle)") continue;
            const us = p.timeDeltas[i + 1] ?? 0;
            busy.set(areaOf(fr), (busy.get(areaOf(fr)) ?? 0) + us);
            total += us;
          }
        }
      }
    }
    if (!total) {
      console.log(`workers' profiles, ${kind}: no samples while the fleet streamed (${files} profiles)`);
      continue;
    }
    // V8 samples by the clock: a thread waiting for a core is sampled too, so shares, not µs.
    console.log(`workers' main threads, ${kind} (${files} profiles, ${chunks} chunks): shares of their samples while the fleet streamed, heaviest first:`);
    for (const [area, us] of [...busy].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${((100 * us) / total).toFixed(1).padStart(5)} %  ${area}`);
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
console.log(`cluster bench: ${DEVICES} devices × ${RECORDINGS} recordings × ${CHUNKS} chunks of ${BYTES} B, 3 NATS nodes (R3), ${ROUNDS} alternating rounds; metadata in ${pg ? "PostgreSQL" : "one SQLite file"}; device messages kept in ${STORAGES.join(" and in ")}`);
const results: Record<string, number | string>[] = [];
const kinds = [1, 2].flatMap((w) => STORAGES.map((st) => ({ w, st })));
for (let r = 0; r < ROUNDS; r++) {
  for (const { w, st } of r % 2 ? [...kinds].reverse() : kinds) {
    const x = await round(w, st);
    results.push(x);
    console.log(`  ${w} worker${w > 1 ? "s" : " "}${STORAGES.length > 1 ? `, ${st.padEnd(6)}` : ""}: ${x.chunksPerS} chunks/s, ${x.mbPerS} MB/s (${x.seconds} s); CPU per chunk: workers ${x.workerCpuUsPerChunk} µs, NATS nodes ${x.natsCpuUsPerChunk} µs; resends ${x.resends}; ${x.batches} commits, each media ${x.mediaMsPerBatch} ms, transaction ${x.transactionMsPerBatch} ms`);
  }
}
const median = (w: number, st: string, k = "chunksPerS") => {
  const v = results.filter((x) => x.workers === w && x.upStorage === st).map((x) => Number(x[k])).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
for (const st of STORAGES) {
  console.log(`median${STORAGES.length > 1 ? ` (${st})` : ""}: 1 worker ${median(1, st)} chunks/s, 2 workers ${median(2, st)} chunks/s: ${(median(2, st) / median(1, st)).toFixed(2)} × (goal with a core each: 1.6 ×); NATS nodes ${median(1, st, "natsCpuUsPerChunk")} and ${median(2, st, "natsCpuUsPerChunk")} µs a chunk`);
}
if (profileDir) summarizeProfiles();
if (workerProfileDir) summarizeWorkerProfiles();
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ devices: DEVICES, recordings: RECORDINGS, chunks: CHUNKS, bytes: BYTES, db: pg ? "postgres" : "sqlite", results }, null, 2) + "\n");
if (pg) await pg.stop();
