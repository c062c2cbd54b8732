// Gateway workers for cluster tests: each a child process started as an operator would
// (`npm start -- --cluster FILE`), its output kept in a log file beside its config, its metrics
// read over HTTP.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsCluster } from "./nats-cluster.js";
import { until } from "../helpers/wait.js";
import { StationKey } from "../../gateway/secrets.js";

const ROOT = join(import.meta.dirname, "..", "..");

/** The workers' own NATS login (every test cluster's authorization file lists it). */
export const WORKER = { user: "evrec-worker", pass: "worker-secret-for-tests" };

export interface Proc { name: string; proc: ChildProcess; ports: string; out: string; metrics?: number }

export { until };

export interface WorkerSetup {
  /** The directory of the test: the worker's config, ports file and log go there, the data under data/. */
  dir: string;
  nats: NatsCluster;
  partitions: number;
  /** The metadata database's URL ("" for the SQLite file in the data directory). */
  db: string;
}

/** A worker's or an office's ports file, as its cluster file names it. */
const portsFile = (s: WorkerSetup, name: string) => join(s.dir, `${name}.ports.json`);

/** Write a worker's cluster file (the test's defaults, `cluster` and `gateway` over them); returns its path. */
export function workerFile(s: WorkerSetup, name: string, gateway: Record<string, unknown> = {}, cluster: Record<string, unknown> = {}): string {
  const file = join(s.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({
    cluster: { worker: name, natsServers: s.nats.servers, natsUser: WORKER.user, natsPass: WORKER.pass, partitions: s.partitions, replicas: 3, leaseMs: 3000, ackWaitMs: 5000, metricsHost: "127.0.0.1", metricsPort: 0, authFile: s.nats.authFile, natsPidFiles: s.nats.pidFiles, authSyncMs: 500, sessionIdleMs: 4000, portsFile: portsFile(s, name), ...cluster },
    gateway: { dataDir: join(s.dir, "data"), ...(s.db ? { db: s.db } : {}), logLevel: "warn", ackIntervalMs: 100, beaconIntervalS: 0, ...gateway },
  }));
  return file;
}

/**
 * The region's station key in the test's shared data directory, made if it is not there yet: what
 * the office makes at its first start and an operator copies to each worker (a worker never makes
 * one, docs/SCALE.md). Returns its path.
 */
export function regionKey(s: WorkerSetup): string {
  const dir = join(s.dir, "data");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, "station.key");
  StationKey.loadOrCreate(file);
  return file;
}

/**
 * Start a worker and wait until it runs (its ports file written); `cluster` and `gateway` override
 * the test's defaults. On the shared data directory, the region's key is put there first if no
 * office or provisioning has made it yet (regionKey).
 */
export async function startWorker(s: WorkerSetup, name: string, gateway: Record<string, unknown> = {}, cluster: Record<string, unknown> = {}): Promise<Proc> {
  const ports = portsFile(s, name);
  if (gateway.dataDir === undefined) regionKey(s);
  const file = workerFile(s, name, gateway, cluster);
  const out = join(s.dir, `${name}.log`);
  const proc = spawn(join(ROOT, "bin/evrec-gateway"), ["--cluster", file], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const chunks: Buffer[] = [];
  proc.stdout!.on("data", (b: Buffer) => chunks.push(b));
  proc.stderr!.on("data", (b: Buffer) => chunks.push(b));
  proc.stdout!.on("data", () => writeFileSync(out, Buffer.concat(chunks)));
  proc.stderr!.on("data", () => writeFileSync(out, Buffer.concat(chunks)));
  const w: Proc = { name, proc, ports, out };
  // One that never comes up is not left running past its test (its cluster stopped under it).
  await until(`worker ${name} to run`, () => existsSync(ports) || proc.exitCode !== null, 30000).catch((e) => { proc.kill("SIGKILL"); throw e; });
  if (proc.exitCode !== null) throw new Error(`worker ${name} exited: ${Buffer.concat(chunks).toString()}`);
  w.metrics = JSON.parse(readFileSync(ports, "utf8")).metrics;
  return w;
}

/**
 * Start a region's office (`--cluster FILE --office`) on the workers' data directory and wait
 * until its API listens; `http` is its port.
 */
export async function startOffice(s: WorkerSetup, name: string, gateway: Record<string, unknown> = {}, cluster: Record<string, unknown> = {}): Promise<Proc & { http: number }> {
  const ports = portsFile(s, name);
  const file = join(s.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({
    cluster: { worker: name, natsServers: s.nats.servers, natsUser: WORKER.user, natsPass: WORKER.pass, partitions: s.partitions, replicas: 3, leaseMs: 3000, ...cluster },
    gateway: { dataDir: join(s.dir, "data"), ...(s.db ? { db: s.db } : {}), logLevel: "warn", host: "127.0.0.1", httpPort: 0, portsFile: ports, scrubMibPerS: 0, ...gateway },
  }));
  const out = join(s.dir, `${name}.log`);
  const proc = spawn(join(ROOT, "bin/evrec-gateway"), ["--cluster", file, "--office"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const chunks: Buffer[] = [];
  const keep = (b: Buffer) => { chunks.push(b); writeFileSync(out, Buffer.concat(chunks)); };
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  await until(`office ${name} to listen`, () => existsSync(ports) || proc.exitCode !== null, 60000);
  if (proc.exitCode !== null) throw new Error(`office ${name} exited: ${Buffer.concat(chunks).toString()}`);
  return { name, proc, ports, out, http: JSON.parse(readFileSync(ports, "utf8")).http };
}

/** Kill a worker (SIGKILL) and wait for it to be gone. */
export function killWorker(w: Proc): Promise<void> {
  return new Promise<void>((r) => {
    if (w.proc.exitCode !== null || w.proc.signalCode) return r();
    w.proc.once("exit", () => r());
    w.proc.kill("SIGKILL");
  });
}

/** A worker's metrics text; a worker that does not answer in 10 s (stopped, or wedged) fails the read, not the test's clock. */
export const metrics = async (w: Proc): Promise<string> => (await fetch(`http://127.0.0.1:${w.metrics}/metrics`, { signal: AbortSignal.timeout(10000) })).text();

/** A series' value in a metrics text (the first with any labels). */
export const counter = (text: string, name: string): number => {
  const m = text.match(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m"));
  return m ? Number(m[1]) : 0;
};
