// npm run bench [-- OPTIONS]: `--help` lists them with their defaults (test/bench/args.ts). npm run
// bench:ingest: the gateway alone (--gateway-only), one size, quicker. --latency-rate N compares two
// runs at the same load; --db postgres puts the gateway's metadata in a throwaway PostgreSQL 15
// (test/helpers/postgres.ts).
//
// The gateway against a dumb pipe, in one run with alternating rounds: a load generator in its own
// process (test/bench/loadgen.ts) drives the gateway (a child process started as `npm start` does:
// every chunk verified, committed with fsync, acknowledged) and Debian's mosquitto (configured to
// drop nothing, one counting subscriber). Per chunk size: verified and durably committed chunks/s
// and MB/s against mosquitto's delivered rate, commit latency p50/p99 at half the gateway's maximum
// rate (Acks not coalesced, so the latency is the commit's), the rate committed with twice the
// maximum offered, server CPU per message (and, per round, how much of the run the gateway's main
// thread spent on a core, beside its other threads' CPU) and peak RSS; beside them the gateway's
// own MQTT layer alone (aedes taking the same load in, test/bench/aedes-pipe.ts: the ceiling of the
// gateway's ratio) and this machine's limits measured in the same run: SHA-256 throughput and the data
// disk's rate for appended, fsync'd writes. Beside the latency at half rate, the same load on the
// commit path alone (test/bench/commit-alone.ts: the group committer and the station's stores fed
// in-process): what the disk and the commit cost, apart from what the rest of the gateway adds;
// and, alternating with its rounds, the same rate's round trip through mosquitto with a subscriber
// that answers each message at once: what this machine itself adds to a device's latency.
// Medians of the rounds; ratios within the run.
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadConfig, LoadResult } from "./loadgen.js";
import type { CommitAlone } from "./commit-alone.js";
import { rowCpuUs, verifyHashesUs } from "./floor-probes.js";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";
import { verdictLines, verdicts } from "./goals.js";
import type { GoalInputs } from "./goals.js";
import { startPostgres } from "../helpers/postgres.js";
import type { PostgresServer } from "../helpers/postgres.js";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const opts = benchArgs("bench", "npm run bench [-- OPTIONS]", "The gateway against mosquitto and against its own MQTT layer alone, in alternating rounds at each\nchunk size: chunks/s, the ratio, commit latency at half the maximum, twice the maximum offered,\nCPU a chunk, peak RSS, and this machine's floor (test/bench/compare.bench.ts says how).", {
  sizes: { kind: "numbers", default: [4, 16, 64], help: "chunk sizes, KiB" },
  rounds: { kind: "number", default: 3, integer: true, min: 1, help: "alternating rounds at each size" },
  seconds: { kind: "number", default: 6, min: 1, help: "seconds a round" },
  devices: { kind: "number", default: 50, integer: true, min: 1, help: "devices (MQTT clients) of the load generator" },
  window: { kind: "number", default: 16, integer: true, min: 1, help: "chunks a device keeps in flight (QoS 1)" },
  json: { kind: "string", default: "dist/bench.json", help: "where the figures are written as JSON (relative to the project)" },
  "gateway-only": { kind: "flag", help: "the gateway's rounds alone (no mosquitto, no aedes alone)" },
  "latency-rate": { kind: "number", default: 0, min: 0, help: "chunks/s for the latency rounds (0: half the measured maximum)" },
  warmup: { kind: "number", default: 3, min: 0, help: "seconds of the latency rounds' load before they are measured" },
  db: { kind: "string", default: "", help: "the gateway's metadata: 'postgres' (a throwaway PostgreSQL 15) or a postgres:// URL; SQLite if unset" },
  ahead: { kind: "number", default: 0, integer: true, min: 0, help: "chunks chained per device before a gateway run (0: sized from the run)" },
  "warm-rounds": { kind: "number", default: 1, integer: true, min: 0, help: "rounds at each size before the measured ones, for every server, not counted" },
});
const SIZES = opts.sizes.map((k) => k * 1024);
const ROUNDS = opts.rounds;
const SECONDS = opts.seconds;
const DEVICES = opts.devices;
const WINDOW = opts.window;
const JSON_OUT = resolve(ROOT, opts.json);
const GATEWAY_ONLY = opts["gateway-only"];
const LATENCY_RATE = opts["latency-rate"];
const WARMUP_S = opts.warmup;
const DB = opts.db;
// Unmeasured rounds at each size before the measured ones, for each server alike. mosquitto's
// rate at 16 KiB comes in two modes: when its one subscriber falls behind, mosquitto queues for it,
// its memory growing by hundreds of MiB in seconds (45,000 new pages a second, the kernel 72 to 80 %
// of its CPU, read from /proc every half second), and gives that memory back when the queue drains,
// so the next build-up pays again: 15,000 messages/s at about 40 µs of its CPU a message against
// 22,000 to 28,000 at 17 to 20. Its first round at a size was a slow one in eight runs of nine;
// with one round before it, a measured round was slow in two of nine (three runs), the median of
// three a fast one in all three. Any round can still be slow: the round lines give mosquitto's
// kernel share and peak RSS to tell.
const WARM_ROUNDS = opts["warm-rounds"];
// V8's helper threads in each gateway, as bin/evrec-gateway takes them: Node's four, or
// EVREC_V8_POOL_SIZE's count (0: Node's rule, one for each core beyond the first).
const V8_POOL = process.env.EVREC_V8_POOL_SIZE ? `${process.env.EVREC_V8_POOL_SIZE} (EVREC_V8_POOL_SIZE)` : "4 (Node's default)";
// --ahead N: chunks the load generator chains per device before each gateway run; by default sized
// from the rate the run expects (aheadFor), so that it chains none during the run.
const AHEAD = opts.ahead;

/**
 * Chunks to chain per device before a gateway run of `seconds` at up to `rate` chunks/s over
 * `fleet` devices, with a margin: the load generator then spends no CPU chaining during the run
 * (the broker runs send prebuilt frames, which cost none). Chaining during a run took CPU from
 * the gateway on a machine the runs saturate: a fifth of the chunks of a 4 KiB maximum round, and
 * most of those of an overload round with eight times the window, were chained during it with
 * the earlier fixed 1,500.
 */
const aheadFor = (rate: number, fleet: number, seconds: number) => AHEAD || Math.max(1500, Math.ceil((rate * 1.25 * (seconds + 2)) / fleet));

const tmp = mkdtempSync(join(tmpdir(), "evrec-bench-"));
const children: ChildProcess[] = [];
// The PostgreSQL server this run started, if any (stopped at the end of main()).
let pgServer: PostgresServer | null = null;
let dbUrl = "";
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
};
process.on("exit", cleanup);
// Interrupted (test/bench/interrupt.ts): its PostgreSQL stopped too; the exit handler does the rest.
onInterrupt(() => pgServer?.stop());

/** What a gateway run's load generator chained during the run, said where it did. */
const chained = (r: LoadResult) => (r.chainedLive ? `, ${fmt(r.chainedLive)} chunks chained during the run` : "");
const median = (xs: number[]) => { const s = xs.slice().sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : 0; };
/** The median of what `f` gives of each of `xs`, over those that gave a number; undefined if none did. */
const medianOf = <T>(xs: T[], f: (x: T) => number | undefined) => { const v = xs.map(f).filter((x): x is number => typeof x === "number" && Number.isFinite(x)); return v.length ? median(v) : undefined; };
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "-");

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); });
  });
}

/**
 * A process's CPU seconds, utime + stime (all its threads; `main`, its main thread's alone), and
 * its peak RSS in MiB (Linux /proc). The main thread's CPU over a run's length is about the share
 * of the run it spent on a core (the run's drain adds a little): on a machine the run saturates, a
 * main thread with work waiting gets less than all of it (docs/SCALE.md).
 */
function usage(pid: number): { cpu: number; sys: number; main: number; peakMb: number } {
  const ticks = (path: string) => {
    const stat = readFileSync(path, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { all: Number(f[11]) + Number(f[12]), sys: Number(f[12]) };
  };
  const t = ticks(`/proc/${pid}/stat`);
  const hz = Number(spawnSync("getconf", ["CLK_TCK"]).stdout.toString().trim() || 100);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { cpu: t.all / hz, sys: t.sys / hz, main: ticks(`/proc/${pid}/task/${pid}/stat`).all / hz, peakMb: hwm ? Number(hwm[1]) / 1024 : 0 };
}

function waitLine(c: ChildProcess, re: RegExp, ms: number): Promise<string> {
  return new Promise((res, rej) => {
    let buf = "";
    const t = setTimeout(() => rej(new Error(`no line matching ${re} within ${ms} ms:\n${buf}`)), ms);
    const on = (d: Buffer) => {
      buf += d.toString();
      const m = buf.split("\n").find((l) => re.test(l));
      if (m) { clearTimeout(t); c.stdout!.off("data", on); res(m); }
    };
    c.stdout!.on("data", on);
    c.once("exit", (code) => { clearTimeout(t); rej(new Error(`exited ${code} before ${re}:\n${buf}`)); });
  });
}

async function startGateway(dir: string, mqttPort: number, httpPort: number, extra: string[] = []): Promise<ChildProcess> {
  // Started as an operator starts one (bin/evrec-gateway, which `npm start` runs): its environment's
  // EVREC_V8_POOL_SIZE and EVREC_NODE_ARGS (say, a profiler's flags) reach every gateway of the run.
  const c = spawn(join(ROOT, "bin", "evrec-gateway"), ["--data-dir", dir, "--host", "127.0.0.1", "--mqtt-port", String(mqttPort), "--http-port", String(httpPort),
    ...(dbUrl ? ["--db", dbUrl] : []), "--log-level", "warn", "--rate-per-second", "1000000", "--rate-burst", "1000000", "--max-clients", "10000", "--disk-min-free-mb", "1", "--log-interval-ms", "0", "--scrub-mib-per-s", "0", ...extra,
    // EVREC_BENCH_GATEWAY_ARGS: more flags for every gateway the bench starts (say, a commit delay to compare).
    ...(process.env.EVREC_BENCH_GATEWAY_ARGS || "").split(" ").filter(Boolean)],
  { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  children.push(c);
  await waitLine(c, /API on/, 60000);
  return c;
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  const done = new Promise((r) => c.once("exit", r));
  c.kill("SIGTERM");
  await Promise.race([done, new Promise((r) => setTimeout(r, 10000))]);
  if (c.exitCode === null) c.kill("SIGKILL");
}

function loadgen(cfg: LoadConfig, onLine?: (l: string) => void): Promise<LoadResult> {
  const f = join(tmp, `load-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(cfg));
  const c = spawn(process.execPath, ["--import", "tsx", "test/bench/loadgen.ts", f], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  children.push(c);
  return new Promise((res, rej) => {
    let out = "", told = 0;
    c.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      // Each whole line once, as it comes.
      const lines = out.split("\n");
      for (; told < lines.length - 1; told++) if (onLine) onLine(lines[told]);
    });
    c.on("exit", (code) => {
      const lines = out.trim().split("\n");
      try { res(JSON.parse(lines[lines.length - 1]) as LoadResult); } catch { rej(new Error(`loadgen exited ${code}: ${out}`)); }
    });
  });
}

/** The gateway's group-commit counters from its /metrics: batches, items, each phase's seconds, commit latencies. */
type Counters = { n: number; items: number; media: number; fsync: number; transaction: number; latencies: number; latency: [number, number][]; loopP99: number; buckets: Record<Phase, [number, number][]> };
type Phase = "media" | "fsync" | "transaction";
const PHASES: Phase[] = ["media", "fsync", "transaction"];
async function counters(httpPort: number, token: string): Promise<Counters> {
  const t = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const num = (re: RegExp) => Number(re.exec(t)?.[1] ?? NaN);
  const ph = (p: string) => num(new RegExp(`^evrec_commit_phase_seconds_sum\\{phase="${p}"\\} (\\S+)$`, "m"));
  // Each phase's cumulative histogram: [upper bound in seconds, batches at or under it].
  const buckets = (p: Phase): [number, number][] => [...t.matchAll(new RegExp(`^evrec_commit_phase_seconds_bucket\\{le="([^"]+)",phase="${p}"\\} (\\S+)$`, "gm"))]
    .map((m) => [m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);
  return { n: num(/^evrec_commit_batch_items_count (\S+)$/m), items: num(/^evrec_commit_batch_items_sum (\S+)$/m), media: ph("media"), fsync: ph("fsync"), transaction: ph("transaction"),
    latencies: num(/^evrec_commit_latency_seconds_count (\S+)$/m),
    latency: [...t.matchAll(/^evrec_commit_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)].map((m) => [m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]),
    // prom-client's event-loop delay, over the time since the metrics were last read.
    loopP99: num(/^evrec_nodejs_eventloop_lag_p99_seconds (\S+)$/m),
    buckets: Object.fromEntries(PHASES.map((p) => [p, buckets(p)])) as Counters["buckets"] };
}

/**
 * A quantile of what a cumulative histogram counted between two readings, read as Prometheus'
 * histogram_quantile reads it: linearly within the bucket it falls in (the highest finite bound if
 * it falls past them). Seconds.
 */
function quantileOf(after: [number, number][], before: [number, number][], q: number): number {
  const was = new Map(before);
  const counts = after.map(([le, c]) => [le, c - (was.get(le) ?? 0)] as [number, number]);
  const total = counts.length ? counts[counts.length - 1][1] : 0;
  if (!total) return NaN;
  let lower = 0, below = 0;
  for (const [le, c] of counts) {
    if (c >= q * total) return le === Infinity ? lower : lower + ((le - lower) * (q * total - below)) / Math.max(1, c - below);
    lower = le;
    below = c;
  }
  return lower;
}

/**
 * The group commits between two readings (`from` none: since the gateway started): how many,
 * items per batch, each phase's mean, and the gateway's own view of commit latency (a chunk's
 * arrival at ingest to its durable commit): its p50 and p99 from the gateway's histogram, and the
 * share within 25, 50 and 100 ms. What the devices measure beyond it is the network, the MQTT
 * layer and their own loops. With `steadyFrom`, a reading one second into the load, its p50 and
 * p99 after that second too; `loop` says the event loop's delay in place of the last reading's.
 */
async function commitPhases(httpPort: number, token: string, from?: Counters, { loop, steadyFrom }: { loop?: string; steadyFrom?: Counters } = {}): Promise<{ text: string; p50ms: number; p99ms: number; loopP99ms: number; steady?: { p50ms: number; p99ms: number; firstLoopP99ms: number } }> {
  const b = await counters(httpPort, token);
  const a = from || { n: 0, items: 0, media: 0, fsync: 0, transaction: 0, latencies: 0, latency: [], loopP99: 0, buckets: { media: [], fsync: [], transaction: [] } };
  const n = b.n - a.n, lat = b.latencies - a.latencies;
  const ms = (k: Phase) => fmt(((b[k] - a[k]) / n) * 1000, 1);
  // A phase's p99 as the histogram's bound that 99 % of this load's batches stayed within.
  const p99 = (k: Phase) => {
    const before = new Map(a.buckets[k]);
    const hit = b.buckets[k].find(([le, c]) => c - (before.get(le) ?? 0) >= 0.99 * n);
    return !hit ? "?" : hit[0] === Infinity ? "over 1 s" : `≤ ${fmt(hit[0] * 1000, 1)} ms`;
  };
  const was = new Map(a.latency);
  const within = (le: number) => fmt((((b.latency.find(([x]) => x === le)?.[1] ?? NaN) - (was.get(le) ?? 0)) / lat) * 100, 1);
  const p50ms = Math.round(quantileOf(b.latency, a.latency, 0.5) * 1000), p99ms = Math.round(quantileOf(b.latency, a.latency, 0.99) * 1000);
  // Read again one second into the load: the commits after it, as a device's latencies after its
  // first second (every device's start and first window at once, not the load's rate); the event
  // loop's delay then covers the time since that reading, and the first second's is the reading's.
  const steady = steadyFrom && {
    p50ms: Math.round(quantileOf(b.latency, steadyFrom.latency, 0.5) * 1000),
    p99ms: Math.round(quantileOf(b.latency, steadyFrom.latency, 0.99) * 1000),
    firstLoopP99ms: steadyFrom.loopP99 * 1000,
  };
  return {
    p50ms, p99ms, loopP99ms: b.loopP99 * 1000, steady,
    text: `${fmt(n)} commits, ${fmt((b.items - a.items) / n, 1)} items each, media ${ms("media")} ms, fsync ${ms("fsync")} ms, transaction ${ms("transaction")} ms (means ${from ? "of this load" : "since start"}; p99 ${PHASES.map((k) => `${k} ${p99(k)}`).join(", ")}); ` +
      `commit latency, arrival to commit, p50 ${p50ms} ms, p99 ${p99ms} ms (within 25 ms ${within(0.025)}%, within 50 ms ${within(0.05)}%, within 100 ms ${within(0.1)}%); ` +
      `its event loop's delay p99 ${loop ?? `${fmt(b.loopP99 * 1000, 1)} ms (since the reading before)`}`,
  };
}

/**
 * The least CPU of the machine a chunk can cost in a gateway run, from parts measured in this run:
 * the load generator publishing it (its cost in mosquitto's run, which publishes the same bytes),
 * aedes taking it in (the gateway's MQTT layer alone), the payload's SHA-256, the verification's
 * three other hashes (floor-probes.ts), its append with an fsync per 64 (this disk), and its row
 * with its recording's state as the store writes them (floor-probes.ts). What the gateway does
 * besides (decoding, the verifier's bookkeeping, the group commit's, its Acks) and the kernel's
 * writeback are left out, so the real floor is higher. Two runs that saturate the machine deliver
 * in the inverse ratio of their CPU per message: the best ratio this floor allows.
 */
function floorOf(size: number, limits: { shaMBps: number; diskCpuUs: number; hashesUs: number; rowUs: number }, publisherUs: number, aedesUs: number, mosquittoMachineUs: number) {
  const shaUs = size / limits.shaMBps; // MB/s is bytes per µs
  const machineUs = publisherUs + aedesUs + shaUs + limits.hashesUs + limits.diskCpuUs + limits.rowUs;
  return { publisherUs, aedesUs, shaUs, hashesUs: limits.hashesUs, diskUs: limits.diskCpuUs, rowUs: limits.rowUs, machineUs, mosquittoMachineUs, bestRatio: mosquittoMachineUs / machineUs };
}

/** SHA-256 of `size`-byte inputs, MB/s, over about a second. */
function shaRate(size: number): number {
  const b = randomBytes(size);
  let n = 0;
  const t0 = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - t0) < 1e9) { createHash("sha256").update(b).digest(); n++; }
  return (n * size) / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6;
}

/** The commit path alone at `rate` chunks/s of `kib` KiB (test/bench/commit-alone.ts), in a process of its own. */
function commitAlone(rate: number, kib: number): CommitAlone {
  const r = spawnSync(process.execPath, ["--import", "tsx", "test/bench/commit-alone.ts", "--rate", String(Math.round(rate)), "--size", String(kib), "--recordings", String(DEVICES), "--seconds", String(SECONDS), "--warmup", String(WARMUP_S), "--tmp", tmp], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`commit-alone failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as CommitAlone;
}

/** Appends of `size` bytes to a file on the data disk, fsync'd every 64 (a group commit's batch), MB/s. */
function diskRate(size: number): { MBps: number; cpuUs: number } {
  const f = join(tmp, "disk-probe");
  const fd = openSync(f, "a");
  const b = randomBytes(size);
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - t0) < 1.5e9) {
    writeSync(fd, b);
    if (++n % 64 === 0) fsyncSync(fd);
  }
  fsyncSync(fd);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  closeSync(fd);
  rmSync(f);
  // The CPU this process spent per write (the system calls; the kernel's writeback threads are not counted).
  return { MBps: (n * size) / s / 1e6, cpuUs: (c.user + c.system) / n };
}

/**
 * The floor of a group commit's fsync phase on this disk: a batch of 40 recordings' shares of 16
 * chunks of `size` bytes written to 40 files and each fsync'd (as the gateway does, on libuv's
 * threads), against the same bytes appended to one file and fsync'd once (what a per-batch media
 * journal would do). Milliseconds per batch, means of 20 batches.
 */
async function syncPhase(size: number): Promise<{ filesMs: number; oneFileMs: number }> {
  const dir = mkdtempSync(join(tmp, "sync-probe-"));
  const files = await Promise.all(Array.from({ length: 40 }, (_, i) => fsp.open(join(dir, `f${i}`), "w+")));
  const one = await fsp.open(join(dir, "journal"), "w+");
  const share = randomBytes(16 * size);
  let many = 0, single = 0;
  for (let r = 0; r < 20; r++) {
    let t0 = performance.now();
    await Promise.all(files.map((f) => f.write(share, 0, share.length, r * share.length)));
    await Promise.all(files.map((f) => f.sync()));
    many += performance.now() - t0;
    t0 = performance.now();
    await one.writev(files.map(() => share), r * files.length * share.length);
    await one.sync();
    single += performance.now() - t0;
  }
  for (const f of [...files, one]) await f.close();
  rmSync(dir, { recursive: true, force: true });
  return { filesMs: many / 20, oneFileMs: single / 20 };
}

async function main() {
  if (!GATEWAY_ONLY && spawnSync("sh", ["-c", "command -v mosquitto"]).status !== 0) {
    console.error("bench: mosquitto is not installed (apt-get install mosquitto); it is the dumb pipe the gateway is compared with");
    process.exit(2);
  }
  if (DB === "postgres") {
    pgServer = await startPostgres(onInterrupt);
    dbUrl = await pgServer.createDatabase();
  } else dbUrl = DB;
  console.log(`bench: ${DEVICES} clients, QoS 1, window ${WINDOW}, ${SECONDS} s per round, ${ROUNDS} alternating rounds per size${WARM_ROUNDS ? ` after ${WARM_ROUNDS} not counted (warm-up)` : ""}; node ${process.version}; metadata in ${dbUrl ? "PostgreSQL" : "SQLite"}; the gateway's V8 helper threads ${V8_POOL}`);
  // The gateway, with its devices registered through the admin API as any tool does.
  const gwDir = join(tmp, "gateway");
  const [gm, gh, mp] = [await freePort(), await freePort(), await freePort()];
  let gw = await startGateway(gwDir, gm, gh);
  const token = readFileSync(join(gwDir, "admin.token"), "utf8").trim();
  // Twice as many as the runs use: the second half offers twice the load in the overload runs.
  const allDevices = Array.from({ length: 2 * DEVICES }, (_, i) => ({ id: `BENCH-${String(i).padStart(4, "0")}`, root: randomBytes(32).toString("hex") }));
  const devices = allDevices.slice(0, DEVICES);
  for (const d of allDevices) {
    const r = await fetch(`http://127.0.0.1:${gh}/api/devices`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(d) });
    if (r.status !== 201) throw new Error(`registering ${d.id}: ${r.status} ${await r.text()}`);
  }
  // mosquitto, configured to drop nothing: no queue or in-flight limits, no persistence.
  const mconf = join(tmp, "mosquitto.conf");
  writeFileSync(mconf, [`listener ${mp} 127.0.0.1`, "allow_anonymous true", "persistence false", "max_queued_messages 0", "max_queued_bytes 0", "max_inflight_messages 0", "log_type error", ""].join("\n"));
  const mq = GATEWAY_ONLY ? null : spawn("mosquitto", ["-c", mconf], { stdio: ["ignore", "pipe", "inherit"] });
  if (mq) {
    children.push(mq);
    await new Promise((r) => setTimeout(r, 500));
    if (mq.exitCode !== null) throw new Error("mosquitto did not start");
  }

  // The gateway's own MQTT layer alone (test/bench/aedes-pipe.ts): the most the gateway could take in.
  const ap = await freePort();
  const ae = GATEWAY_ONLY ? null : spawn(process.execPath, ["--import", "tsx", "test/bench/aedes-pipe.ts", String(ap)], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  if (ae) {
    children.push(ae);
    await waitLine(ae, /aedes pipe on/, 30000);
  }

  /** One round through mosquitto: the same messages, counted as delivered to one subscriber. */
  const pipeRound = async (port: number, pid: number, size: number, name: string) => {
    const m0 = usage(pid);
    let ready: () => void = () => undefined;
    const isReady = new Promise<void>((r) => { ready = r; });
    const sub = loadgen({ mode: "subscribe", url: `mqtt://127.0.0.1:${port}`, devices: [], size, window: 0, durationMs: SECONDS * 1000, rate: 0, recording: 0, drainMs: 30000, idleMs: 3000 }, (l) => { if (l.includes("ready")) ready(); });
    await isReady;
    const pub = await loadgen({ mode: "broker", url: `mqtt://127.0.0.1:${port}`, devices: devices.map((d) => ({ id: d.id })), size, window: WINDOW, durationMs: SECONDS * 1000, rate: 0, recording: 0, drainMs: 0 });
    const sr = await sub;
    const m1 = usage(pid);
    if (sr.done < pub.published) console.log(`  (${name} delivered ${sr.done} of ${pub.published})`);
    const per = (cpuS = 0) => (cpuS / Math.max(1, sr.done)) * 1e6;
    // The machine's CPU a delivered message took: the broker's, the publisher's and the subscriber's.
    const broker = m1.cpu - m0.cpu, machineUs = per(broker + (pub.cpuS || 0) + (sr.cpuS || 0));
    return { rate: sr.done / sr.seconds, mbps: sr.bytes / sr.seconds / 1e6, cpuUs: per(broker), sysUs: per(m1.sys - m0.sys), machineUs, pubUs: per(pub.cpuS), subUs: per(sr.cpuS), rss: m1.peakMb };
  };

  /**
   * A round trip through mosquitto at `rate` chunks/s, each message answered at once by a subscriber
   * that stores nothing: what the device's Ack latency would be from a pipe alone on this machine,
   * with the same load generator beside it.
   */
  const echoRound = async (port: number, size: number, rate: number) => {
    let ready: () => void = () => undefined;
    const isReady = new Promise<void>((r) => { ready = r; });
    const sub = loadgen({ mode: "subscribe", echo: true, url: `mqtt://127.0.0.1:${port}`, devices: [], size, window: 0, durationMs: SECONDS * 1000, rate: 0, recording: 0, drainMs: 30000, idleMs: 3000 }, (l) => { if (l.includes("ready")) ready(); });
    await isReady;
    const pub = await loadgen({ mode: "broker", echo: true, url: `mqtt://127.0.0.1:${port}`, devices: devices.map((d) => ({ id: d.id })), size, window: WINDOW, durationMs: SECONDS * 1000, rate, recording: 0, drainMs: 10000 });
    await sub;
    return pub;
  };

  let recording = 1;
  const phases: string[] = [];
  const results: Record<string, unknown>[] = [];
  // The floor's parts that do not depend on the chunk's size (floor-probes.ts), once a run.
  const probes = { hashesUs: verifyHashesUs(), rowUs: await rowCpuUs(tmp, DEVICES, WINDOW) };
  for (const size of SIZES) {
    const kib = size / 1024;
    const disk = diskRate(size);
    const limits = { shaMBps: shaRate(size), diskMBps: disk.MBps, diskCpuUs: disk.cpuUs, ...probes, syncPhase: await syncPhase(size) };
    console.log(`  ${kib} KiB: this disk's fsync phase for a batch of 40 recordings' shares of 16 chunks: ${fmt(limits.syncPhase.filesMs, 1)} ms in 40 files, ${fmt(limits.syncPhase.oneFileMs, 1)} ms appended to one`);
    // machineUs: the CPU of every process of the run (server, load generator, subscriber) per message.
    // mainShare: the gateway's main thread's CPU over the run's length; othersCores: its other threads' CPU in cores.
    const g: { rate: number; mbps: number; cpuUs: number; sysUs: number; machineUs: number; mainShare: number; othersCores: number; rss: number }[] = [];
    const m: { rate: number; mbps: number; cpuUs: number; machineUs: number; pubUs: number; subUs: number; rss: number }[] = [];
    const a: { rate: number; mbps: number; cpuUs: number; rss: number }[] = [];
    // Every round's gateway rate, warm-up rounds' too: what the next round's chaining is sized from.
    const rates: number[] = [];
    // Rounds below 0 warm each server up at this size, not counted (WARM_ROUNDS, above).
    for (let round = -WARM_ROUNDS; round < ROUNDS; round++) {
      const warm = round < 0;
      const label = warm ? `warm-up round ${round + WARM_ROUNDS + 1} (not counted)` : `round ${round + 1}`;
      // The gateway: chunks acknowledged (verified, committed) per second.
      const u0 = usage(gw.pid!);
      // Before the first round, what this machine's loopback moves at most (about 100 MB/s); after, 1.5 × the best round.
      const bound = rates.length ? 1.5 * Math.max(...rates) : 100e6 / size;
      const gr = await loadgen({ mode: "gateway", url: `mqtt://127.0.0.1:${gm}`, devices, size, window: WINDOW, durationMs: SECONDS * 1000, rate: 0, recording: recording++, drainMs: 30000, ahead: aheadFor(bound, devices.length, SECONDS) });
      const u1 = usage(gw.pid!);
      phases.push((await commitPhases(gh, token)).text);
      const per = (cpuS: number) => (cpuS / Math.max(1, gr.done)) * 1e6;
      const gx = { rate: gr.done / gr.seconds, mbps: gr.bytes / gr.seconds / 1e6, cpuUs: per(u1.cpu - u0.cpu), sysUs: per(u1.sys - u0.sys), machineUs: per(u1.cpu - u0.cpu + (gr.cpuS || 0)),
        mainShare: (u1.main - u0.main) / gr.seconds, othersCores: (u1.cpu - u0.cpu - (u1.main - u0.main)) / gr.seconds, rss: u1.peakMb };
      rates.push(gx.rate);
      if (!warm) g.push(gx);
      const threads = `; its main thread on a core ${fmt(gx.mainShare * 100)} % of the run, its other threads ${fmt(gx.othersCores * 100)} % of a core`;
      if (!mq) {
        console.log(`  ${kib} KiB ${label}: gateway ${fmt(gx.rate)}/s, CPU ${fmt(gx.cpuUs)} µs a chunk (${fmt(gx.sysUs)} in the kernel; the machine's with the load generator ${fmt(gx.machineUs)}${chained(gr)}${threads}); ${phases[phases.length - 1]}`);
        continue;
      }
      const mx = await pipeRound(mp, mq.pid!, size, "mosquitto");
      if (!warm) m.push(mx);
      // aedes: what the gateway's MQTT layer takes in (received, parsed, PUBACKed, handed to the process).
      const a0 = usage(ae!.pid!);
      const ar = await loadgen({ mode: "broker", url: `mqtt://127.0.0.1:${ap}`, devices: devices.map((d) => ({ id: d.id })), size, window: WINDOW, durationMs: SECONDS * 1000, rate: 0, recording: 0, drainMs: 0 });
      const a1 = usage(ae!.pid!);
      const ax = { rate: ar.published / ar.seconds, mbps: (ar.published * size) / ar.seconds / 1e6, cpuUs: ((a1.cpu - a0.cpu) / Math.max(1, ar.published)) * 1e6, rss: a1.peakMb };
      if (!warm) a.push(ax);
      console.log(`  ${kib} KiB ${label}: gateway ${fmt(gx.rate)}/s (CPU ${fmt(gx.cpuUs)} µs a chunk, ${fmt(gx.sysUs)} in the kernel; the machine's ${fmt(gx.machineUs)}, the load generator's ${fmt(gx.machineUs - gx.cpuUs)}${chained(gr)}${threads}), mosquitto ${fmt(mx.rate)}/s (the machine's CPU ${fmt(mx.machineUs)} µs a message: mosquitto ${fmt(mx.cpuUs)}, ${fmt(mx.sysUs)} of it in the kernel, its peak RSS ${fmt(mx.rss)} MiB; publisher ${fmt(mx.pubUs)}, subscriber ${fmt(mx.subUs)}), aedes alone ${fmt(ax.rate)}/s; gateway ${phases[phases.length - 1]}`);
    }
    const gRate = median(g.map((x) => x.rate)), mRate = median(m.map((x) => x.rate)), aRate = median(a.map((x) => x.rate));
    const gCpuUs = median(g.map((x) => x.cpuUs)), gMachineUs = median(g.map((x) => x.machineUs));
    // Commit latency at half the maximum rate, Acks not coalesced (one per chunk as it commits).
    await stop(gw);
    gw = await startGateway(gwDir, gm, gh, ["--ack-interval-ms", "0"]);
    const latRate = LATENCY_RATE || gRate / 2;
    // A station's gateway runs for days: the latency is measured on a warm one. A freshly started
    // process spends its first seconds compiling its code and making its first files, and its
    // devices' first messages all wait on that; the warm-up is the same load for WARMUP_S seconds,
    // on recordings of its own. The first second after it (every device's RecordingStart and first
    // window at once, on new files) is still reported apart.
    await loadgen({ mode: "gateway", url: `mqtt://127.0.0.1:${gm}`, devices, size, window: WINDOW, durationMs: WARMUP_S * 1000, rate: latRate, recording: recording++, drainMs: 30000, ahead: aheadFor(latRate, devices.length, WARMUP_S) });
    const warm = await counters(gh, token);
    // As many latency rounds as throughput rounds, their medians reported: a round's p99 is its
    // worst hundredth, a fraction of a second of it, and one slow moment of a shared disk or one
    // long collection moves it by half.
    // Alternating with them, the same rate's round trip through mosquitto (echoRound): this
    // machine's own share of a device's latency, nothing verified or stored.
    const lats: { lat: Awaited<ReturnType<typeof loadgen>>; gw: Awaited<ReturnType<typeof commitPhases>> }[] = [];
    const pipes: Awaited<ReturnType<typeof loadgen>>[] = [];
    let since = warm;
    for (let round = 0; round < ROUNDS; round++) {
      // Read again after the pipe's round: the gateway's figures (its event loop's delay above all) cover its own round alone.
      if (round > 0) since = await counters(gh, token);
      let oneSecondIn: Promise<Counters> | undefined;
      const lat = await loadgen({ mode: "gateway", url: `mqtt://127.0.0.1:${gm}`, devices, size, window: WINDOW, durationMs: SECONDS * 1000, rate: latRate, recording: recording++, drainMs: 30000, ahead: aheadFor(latRate, devices.length, SECONDS) },
        (l) => { if (!oneSecondIn && l.includes('"loading"')) oneSecondIn = new Promise((r) => setTimeout(r, 1000)).then(() => counters(gh, token)); });
      const gw = await commitPhases(gh, token, since, { steadyFrom: await oneSecondIn });
      lats.push({ lat, gw });
      const pipe = mq ? await echoRound(mp, size, latRate) : null;
      if (pipe) pipes.push(pipe);
      if (ROUNDS > 1) console.log(`  ${kib} KiB latency round ${round + 1}: the gateway's p50 / p99 ${gw.p50ms} / ${gw.p99ms} ms, after the first second ${gw.steady?.p50ms} / ${gw.steady?.p99ms} ms (its event loop's delay p99 ${fmt(gw.steady?.firstLoopP99ms ?? NaN, 1)} ms in the first second, ${fmt(gw.loopP99ms, 1)} ms after); a device's after the first second ${lat.latency.steady?.p50} / ${lat.latency.steady?.p99} ms (the first second's p99 ${lat.latency.firstSecondP99} ms)${pipe ? `; through mosquitto, answered at once, after the first second ${pipe.latency.steady?.p50} / ${pipe.latency.steady?.p99} ms` : ""}`);
    }
    const pipeMid = (f: (x: (typeof pipes)[number]) => number | undefined) => medianOf(pipes, f);
    const pipeLat = pipes.length ? { p50ms: pipeMid((x) => x.latency.p50), p99ms: pipeMid((x) => x.latency.p99), steadyP50ms: pipeMid((x) => x.latency.steady?.p50), steadyP99ms: pipeMid((x) => x.latency.steady?.p99), answered: pipes.reduce((n, x) => n + x.done, 0), sent: pipes.reduce((n, x) => n + x.published, 0), loadLoopDelayP99ms: pipeMid((x) => x.loopDelay?.p99) } : null;
    const mid = (f: (x: (typeof lats)[number]) => number | undefined) => medianOf(lats, f);
    const lat = {
      latency: {
        p50: mid((x) => x.lat.latency.p50), p99: mid((x) => x.lat.latency.p99), n: lats.reduce((n, x) => n + (x.lat.latency.n || 0), 0),
        steady: { p50: mid((x) => x.lat.latency.steady?.p50), p99: mid((x) => x.lat.latency.steady?.p99) },
        firstSecondP99: mid((x) => x.lat.latency.firstSecondP99),
        puback: { p50: mid((x) => x.lat.latency.puback?.p50), p99: mid((x) => x.lat.latency.puback?.p99) },
      },
      loopDelay: { p50: mid((x) => x.lat.loopDelay?.p50), p99: mid((x) => x.lat.loopDelay?.p99) },
    };
    // The batches' phases over all the latency rounds; the quantiles, the rounds' medians.
    const pooled = await commitPhases(gh, token, warm, { loop: `by round, after its first second, ${lats.map((x) => fmt(x.gw.loopP99ms, 1)).join(", ")} ms` });
    const latGw = { p50ms: mid((x) => x.gw.p50ms)!, p99ms: mid((x) => x.gw.p99ms)!, steadyP50ms: mid((x) => x.gw.steady?.p50ms), steadyP99ms: mid((x) => x.gw.steady?.p99ms), text: pooled.text };
    if (pipeLat) console.log(`  ${kib} KiB at that rate through mosquitto, each message answered at once by a subscriber that stores nothing (this machine's floor for a device's round trip): p50 ${pipeLat.p50ms} ms, p99 ${pipeLat.p99ms} ms, after the first second p50 ${pipeLat.steadyP50ms} ms, p99 ${pipeLat.steadyP99ms} ms (${fmt(pipeLat.answered)} of ${fmt(pipeLat.sent)} answered); the load generator's event-loop delay p99 ${pipeLat.loadLoopDelayP99ms} ms`);
    console.log(`  ${kib} KiB at ${LATENCY_RATE ? "a set" : "half"} rate (${fmt(latRate)}/s offered${ROUNDS > 1 ? `; medians of ${ROUNDS} rounds of ${SECONDS} s` : ""}): the gateway's commit latency (a chunk's arrival at ingest to its durable commit) p50 ${latGw.p50ms} ms, p99 ${latGw.p99ms} ms, after the first second p50 ${latGw.steadyP50ms} ms, p99 ${latGw.steadyP99ms} ms; a device's, from sending a chunk to receiving its Ack, p50 ${lat.latency.p50} ms, p99 ${lat.latency.p99} ms, for those sent after the first second p50 ${lat.latency.steady.p50} ms, p99 ${lat.latency.steady.p99} ms (the first second's p99 ${lat.latency.firstSecondP99} ms), of which to the PUBACK p50 ${lat.latency.puback.p50} ms, p99 ${lat.latency.puback.p99} ms; the load generator's event-loop delay p50 ${lat.loopDelay.p50} ms, p99 ${lat.loopDelay.p99} ms${lats.map((x) => chained(x.lat)).join("")}; after ${WARMUP_S} s of warm-up; gateway ${latGw.text}`);
    await stop(gw);
    // The same load on the commit path alone (the group committer and the station's stores, fed
    // in-process): what the disk and the commit cost a chunk, the rest being what the gateway adds.
    const alone = dbUrl ? null : commitAlone(latRate, kib);
    if (alone) console.log(`  ${kib} KiB: the commit path alone at that rate (the group committer on SQLite and media files, fed in-process, nothing else: test/bench/commit-alone.ts): arrival to commit p50 ${alone.latency.p50} ms, p99 ${alone.latency.p99} ms; ${fmt(alone.batches.n)} batches of ${alone.batches.items} items, media ${alone.batches.mediaMs} ms, fsync ${alone.batches.syncMs} ms, transaction ${alone.batches.sqlMs} ms (means), a batch's whole cycle p50 ${alone.batches.cycleP50} ms, p99 ${alone.batches.cycleP99} ms`);
    gw = await startGateway(gwDir, gm, gh);
    // Overload: twice the maximum rate offered, two ways. More recorders than the gateway can
    // take (twice the devices, each with the window a recorder keeps), and the same devices each
    // with eight times the window in flight (a fleet that ignores its window). The gateway should
    // keep committing near its maximum, its memory flat (backpressure). As for latency, on a warm
    // gateway: WARMUP_S seconds at the maximum first, on recordings of their own.
    await loadgen({ mode: "gateway", url: `mqtt://127.0.0.1:${gm}`, devices, size, window: WINDOW, durationMs: WARMUP_S * 1000, rate: 0, recording: recording++, drainMs: 30000, ahead: aheadFor(1.5 * gRate, devices.length, WARMUP_S) });
    const overloadBy = async (how: string, fleet: typeof allDevices, window: number) => {
      const warmOver = await counters(gh, token);
      const o0 = usage(gw.pid!);
      const over = await loadgen({ mode: "gateway", url: `mqtt://127.0.0.1:${gm}`, devices: fleet, size, window, durationMs: SECONDS * 1000, rate: gRate * 2, recording: recording++, drainMs: 30000, ahead: aheadFor(gRate * 2, fleet.length, SECONDS) });
      const o1 = usage(gw.pid!);
      const overPer = (cpuS = 0) => (cpuS / Math.max(1, over.done)) * 1e6;
      const cpuUs = overPer(o1.cpu - o0.cpu);
      // CPU a committed chunk cost under overload, the gateway's and the load generator's: against
      // the maximum's, it says whether overload makes each chunk dearer or the machine is shared.
      const o = { devices: fleet.length, window, offered: gRate * 2, chunksPerS: over.done / over.seconds, shareOfMax: over.done / over.seconds / gRate, peakRssMb: o1.peakMb, rssBeforeMb: o0.peakMb, warmupS: WARMUP_S,
        cpuUsPerMsg: cpuUs, loadgenUsPerMsg: overPer(over.cpuS), machineUsPerMsg: overPer(o1.cpu - o0.cpu + (over.cpuS || 0)),
        // The share of its maximum the gateway's own CPU a chunk allows at twice the load: what it
        // would keep with cores of its own, the load generator's extra work elsewhere.
        ownCoresShare: gCpuUs / cpuUs };
      console.log(`  ${kib} KiB at twice the maximum offered (${fmt(o.offered)}/s) by ${how} (${o.devices} devices, window ${window}): committed ${fmt(o.chunksPerS)}/s, ${fmt(o.shareOfMax * 100)}% of the maximum; gateway CPU ${fmt(o.cpuUsPerMsg)} µs a chunk (at the maximum ${fmt(gCpuUs)}: with cores of its own it would keep ${fmt(o.ownCoresShare * 100)}%), the load generator's ${fmt(o.loadgenUsPerMsg)}${chained(over)} (the machine's ${fmt(o.machineUsPerMsg)} µs a chunk, at the maximum ${fmt(gMachineUs)}); peak RSS ${fmt(o.peakRssMb)} MiB (${fmt(o.rssBeforeMb)} before); gateway ${(await commitPhases(gh, token, warmOver)).text}`);
      return o;
    };
    const overloadDevices = await overloadBy("twice the devices", allDevices, WINDOW);
    const overload = await overloadBy("eight times the window", devices, WINDOW * 8);
    const row = {
      sizeKiB: kib,
      gateway: { chunksPerS: gRate, MBps: median(g.map((x) => x.mbps)), cpuUsPerMsg: gCpuUs, kernelUsPerMsg: median(g.map((x) => x.sysUs)), machineUsPerMsg: gMachineUs, mainThreadShare: median(g.map((x) => x.mainShare)), otherThreadsCores: median(g.map((x) => x.othersCores)), peakRssMb: Math.max(...g.map((x) => x.rss)) },
      mosquitto: { chunksPerS: mRate, MBps: median(m.map((x) => x.mbps)), cpuUsPerMsg: median(m.map((x) => x.cpuUs)), machineUsPerMsg: median(m.map((x) => x.machineUs)), peakRssMb: Math.max(...m.map((x) => x.rss)) },
      ratio: mRate ? gRate / mRate : NaN,
      // The gateway's MQTT layer alone: its ratio to mosquitto is the ceiling of the gateway's.
      aedesAlone: { chunksPerS: aRate, cpuUsPerMsg: median(a.map((x) => x.cpuUs)), ratio: mRate ? aRate / mRate : NaN },
      latencyAtHalf: { rate: latRate, warmupS: WARMUP_S, gatewayP50ms: latGw.p50ms, gatewayP99ms: latGw.p99ms, gatewaySteadyP50ms: latGw.steadyP50ms, gatewaySteadyP99ms: latGw.steadyP99ms, p50ms: lat.latency.p50, p99ms: lat.latency.p99, samples: lat.latency.n, steadyP50ms: lat.latency.steady.p50, steadyP99ms: lat.latency.steady.p99, firstSecondP99ms: lat.latency.firstSecondP99, pubackP50ms: lat.latency.puback.p50, pubackP99ms: lat.latency.puback.p99, loadLoopDelayP99ms: lat.loopDelay.p99, rounds: lats.map((x) => ({ gatewayP50ms: x.gw.p50ms, gatewayP99ms: x.gw.p99ms, gatewaySteadyP50ms: x.gw.steady?.p50ms, gatewaySteadyP99ms: x.gw.steady?.p99ms, loopP99ms: x.gw.loopP99ms, steadyP50ms: x.lat.latency.steady?.p50, steadyP99ms: x.lat.latency.steady?.p99 })), commitAlone: alone,
        pipe: pipeLat && { ...pipeLat, rounds: pipes.map((x) => ({ steadyP50ms: x.latency.steady?.p50, steadyP99ms: x.latency.steady?.p99 })) } },
      overload,
      overloadDevices,
      limits: { ...limits, gatewayShareOfSha: (median(g.map((x) => x.mbps)) / limits.shaMBps), gatewayShareOfDisk: (median(g.map((x) => x.mbps)) / limits.diskMBps) },
      floor: m.length ? floorOf(size, limits, median(m.map((x) => x.pubUs)), median(a.map((x) => x.cpuUs)), median(m.map((x) => x.machineUs))) : null,
    };
    if (row.floor) {
      const f = row.floor;
      console.log(`  ${kib} KiB floor: a gateway run needs at least ${fmt(f.publisherUs)} (the load generator publishing, as for mosquitto) + ${fmt(f.aedesUs)} (aedes taking a message in) + ${fmt(f.shaUs, 1)} (SHA-256 of the payload) + ${fmt(f.hashesUs, 1)} (its chain value, tag and key step) + ${fmt(f.diskUs, 1)} (appending and fsync'ing it) + ${fmt(f.rowUs, 1)} (its row and its recording's state, ${WINDOW} chunks of each of ${DEVICES} recordings a transaction) = ${fmt(f.machineUs)} µs of the machine a chunk, against ${fmt(f.mosquittoMachineUs)} for mosquitto's run: on a machine both runs saturate, at most ${fmt(f.bestRatio, 2)} × mosquitto's rate`);
    }
    results.push(row);
  }
  await stop(gw);
  if (mq) mq.kill("SIGKILL");
  if (ae) ae.kill("SIGKILL");
  if (pgServer) await pgServer.stop();

  console.log("");
  console.log("size    gateway chunks/s   MB/s   mosquitto/s   MB/s   ratio   aedes alone/s   ratio   commit p50/p99 @half: gateway (p99 after 1st s) / device after 1st s   CPU µs/msg gw / mq   machine µs/msg gw / mq   floor µs (best ratio)   peak RSS gw / mq   SHA-256 MB/s   disk MB/s   gw share sha / disk");
  for (const r of results as { sizeKiB: number; gateway: Record<string, number>; mosquitto: Record<string, number>; aedesAlone: Record<string, number>; ratio: number; latencyAtHalf: Record<string, number>; limits: Record<string, number>; floor: ReturnType<typeof floorOf> | null }[]) {
    console.log(`${String(r.sizeKiB).padStart(2)} KiB  ${fmt(r.gateway.chunksPerS).padStart(16)} ${fmt(r.gateway.MBps, 1).padStart(6)} ${fmt(r.mosquitto.chunksPerS).padStart(13)} ${fmt(r.mosquitto.MBps, 1).padStart(6)} ${fmt(r.ratio, 3).padStart(7)} ${fmt(r.aedesAlone.chunksPerS).padStart(15)} ${fmt(r.aedesAlone.ratio, 3).padStart(7)}   ${(fmt(r.latencyAtHalf.gatewayP50ms) + " / " + fmt(r.latencyAtHalf.gatewayP99ms) + " (" + fmt(r.latencyAtHalf.gatewaySteadyP99ms) + ") ms; " + fmt(r.latencyAtHalf.steadyP50ms) + " / " + fmt(r.latencyAtHalf.steadyP99ms) + " ms").padStart(66)}   ${(fmt(r.gateway.cpuUsPerMsg) + " / " + fmt(r.mosquitto.cpuUsPerMsg)).padStart(18)}   ${(fmt(r.gateway.machineUsPerMsg) + " / " + fmt(r.mosquitto.machineUsPerMsg)).padStart(22)}   ${(r.floor ? fmt(r.floor.machineUs) + " (" + fmt(r.floor.bestRatio, 2) + ")" : "-").padStart(21)}   ${(fmt(r.gateway.peakRssMb) + " / " + fmt(r.mosquitto.peakRssMb) + " MiB").padStart(16)}   ${fmt(r.limits.shaMBps).padStart(12)}   ${fmt(r.limits.diskMBps).padStart(9)}   ${(fmt(r.limits.gatewayShareOfSha * 100, 1) + "% / " + fmt(r.limits.gatewayShareOfDisk * 100, 1) + "%").padStart(18)}`);
  }
  for (const r of results as { sizeKiB: number; overload: Record<string, number>; overloadDevices: Record<string, number> }[]) {
    const o = (x: Record<string, number>) => `${fmt(x.shareOfMax * 100)}% (the gateway's own CPU allows ${fmt(x.ownCoresShare * 100)}%), peak RSS ${fmt(x.peakRssMb)} MiB (${fmt(x.rssBeforeMb)} before)`;
    console.log(`${String(r.sizeKiB).padStart(2)} KiB at twice the maximum: by twice the devices ${o(r.overloadDevices)}; by eight times the window ${o(r.overload)}`);
  }
  console.log("goals: ratio >= 0.5 at 4 KiB and >= 0.8 at 16 KiB; commit p99 <= 50 ms at half the maximum rate; at twice the maximum offered, >= 90% of the maximum committed, memory flat");
  const goals = verdicts(results as unknown as GoalInputs[]);
  console.log("goals in this run (the gateway's own p99, over whole rounds):");
  for (const l of verdictLines(goals)) console.log(l);
  console.log("floor: the least machine CPU a gateway run's chunk can cost, from parts measured in the run (publishing, aedes taking it in, its four hashes, the fsync'd append, its row), and the best ratio to mosquitto it allows");
  console.log("machine µs/msg: the CPU of every process of a run per message (the server's, the load generator's, and for mosquitto its subscriber's); on a machine the runs saturate, their ratio bounds the throughput ratio");
  console.log("aedes alone: the gateway's MQTT layer taking the same load in (parsed, PUBACKed, handed to the process), with nothing verified or stored; its ratio is the ceiling of the gateway's");
  mkdirSync(dirname(JSON_OUT), { recursive: true }); // dist/ is not in a fresh clone
  writeFileSync(JSON_OUT, JSON.stringify({ at: new Date().toISOString(), node: process.version, db: dbUrl ? "postgres" : "sqlite", v8PoolSize: V8_POOL, devices: DEVICES, window: WINDOW, secondsPerRound: SECONDS, rounds: ROUNDS, warmRounds: WARM_ROUNDS, results, goals }, null, 1) + "\n");
  console.log(`bench: figures written to ${JSON_OUT}`);
}

await main();
process.exit(0);
