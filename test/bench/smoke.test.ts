// The benches still run: each at its smallest, to its figures, leaving nothing behind. Their
// figures are not judged here (they are benchmarks, not timed tests); what is, is that a bench an
// operator runs does not fail on code that moved under it (bench:scrub did, once the media journal
// put its files beside the devices' directories).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NATS_BIN } from "../cluster/nats-cluster.js";

// The benches' own temporary directory (TMPDIR), apart from every other test's: what they leave
// in it is theirs.
const tmp = mkdtempSync(join(tmpdir(), "evrec-smoke-"));
// Open to all as /tmp is: run as root, the PostgreSQL helper makes its server's directory in it as
// the postgres user (initdb refuses to run as root).
chmodSync(tmp, 0o1777);
const out = mkdtempSync(join(tmpdir(), "evrec-smoke-out-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});

const bench = (file: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, ["--import", "tsx", `test/bench/${file}`, ...args], { encoding: "utf8", timeout: 240000, env: { ...process.env, TMPDIR: tmp } });
  if (r.status !== 0) throw new Error(`${file} ${args.join(" ")} ended with ${r.status ?? r.signal}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r.stdout;
};

// One after another (a file's tests run in turn): the cluster's bench starts three nats-servers.
describe("the benches, each at its smallest", { timeout: 300000 }, () => {
  it("npm run bench: a gateway round, its latency round and its overload, with figures in JSON", () => {
    const json = join(out, "bench.json");
    const text = bench("compare.bench.ts", "--gateway-only", "--sizes", "4", "--rounds", "1", "--seconds", "1", "--warmup", "0", "--json", json);
    expect(text).toMatch(/^ 4 KiB +[\d,]+ /m);
    // Its verdict on the goals: the ratios not measured without mosquitto, the others judged.
    expect(text).toMatch(/^goals in this run .*\n  0\.5 × mosquitto at 4 KiB: not measured \(mosquitto not run\)\n/m);
    expect(text).toMatch(/^  commit p99 ≤ 50 ms at half the maximum, 4 KiB: (met|NOT met) \(\d+ ms/m);
    const figures = JSON.parse(readFileSync(json, "utf8"));
    expect(figures.goals.filter((g: { met: boolean | null }) => g.met !== null).length).toBe(2);
    const r = figures.results[0];
    expect(r.sizeKiB).toBe(4);
    expect(r.gateway.chunksPerS).toBeGreaterThan(0);
    expect(r.latencyAtHalf.samples).toBeGreaterThan(0);
    expect(r.latencyAtHalf.commitAlone.committed).toBeGreaterThan(0);
  });

  it("npm run bench:commit: the commit path alone at a set rate", () => {
    const r = JSON.parse(bench("commit-alone.ts", "--rate", "500", "--seconds", "1", "--warmup", "0").trim().split("\n").pop()!);
    expect(r.committed).toBeGreaterThan(400);
    expect(r.batches.n).toBeGreaterThan(0);
  });

  it("npm run bench:aged: an aged store filled, the gateway started on it, every everyday read timed, in JSON", () => {
    const json = join(out, "aged.json");
    const text = bench("aged-store.bench.ts", "--devices", "2", "--days", "2", "--per-day", "2", "--chunks", "2", "--audit-per-day", "10", "--repeats", "1", "--writes", "0.2", "--json", json);
    expect(text).toMatch(/^filled in [\d.]+ s \([\d,]+ MiB of SQLite\): 8 recordings \([\d,]+ logged\), 16 chunk rows/m);
    expect(text).toMatch(/^timed passes, p50 \/ max ms: log source pass/m);
    expect(text).toMatch(/^a write every 10 ms, p50 \/ p99 \/ max ms: alone [\d.]+ \/ [\d.]+ \/ [\d.]+; beside the log's source pass/m);
    expect(text).toMatch(/^clips page, admin, all +8 /m);
    const figures = JSON.parse(readFileSync(json, "utf8"));
    expect(figures.start.startMs).toBeGreaterThan(0);
    expect(figures.passes.length).toBe(5);
    expect(figures.reads.length).toBeGreaterThan(20);
  });

  it("npm run bench:scrub: the scrub against sha256sum over stored media", () => {
    expect(bench("scrub.bench.ts", "--mib", "1", "--devices", "2")).toMatch(/scrub \/ sha256sum: [\d.]+/);
  });

  it("npm run bench:passes: a whole-store pass as the admin CLI and one in the gateway's process, to their verdicts", () => {
    // One pass as the CLI (a process each: the others are the same path), one in the bench's process.
    const text = bench("passes.bench.ts", "--audit", "300", "--recordings", "20", "--purged", "10", "--due", "3", "--chunks", "2", "--only", "audit,log-gw");
    expect(text).toMatch(/admin audit verify +[\d.]+ s +\d+ MiB +exit 0 +audit log OK: 300 entries/);
    expect(text).toMatch(/log verify in the gateway +[\d.]+ s +event loop held at most \d+ ms; \d+ writes meanwhile/);
  });

  it("npm run bench:protocol: verification against raw SHA-256 at each size", () => {
    const rows = bench("protocol.bench.ts", "--mib", "1", "--rounds", "1").split("\n").filter((l) => /^\s*\d+ KiB /.test(l));
    expect(rows.length).toBe(4);
  });

  it("npm run bench:store: the group commit's store work on each driver", () => {
    expect(bench("store.bench.ts", "--rounds", "1", "--chunks", "5")).toMatch(/^SQLite, together +[\d,]+ /m);
  });

  it("npm run bench:verify: a case exported and verified offline, against sha256sum", () => {
    expect(bench("verify.bench.ts", "--mib", "1", "--devices", "1", "--chunks-per-recording", "8")).toMatch(/verify \/ sha256sum: [\d.]+/);
  });

  it("npm run bench:idle: a gateway's memory with idle devices logged in", () => {
    expect(bench("idle.bench.ts", "--devices", "20")).toMatch(/idle: 20 devices logged in and said Hello \(0 failed\)/);
  });

  it.skipIf(!existsSync(NATS_BIN))("npm run bench:cluster: one worker against two on a 3-node NATS cluster, device messages in files and in memory, the nodes and the workers profiled", () => {
    const profiles = join(out, "nats-profiles"), workerProfiles = join(out, "worker-profiles");
    const text = bench("cluster.bench.ts", "--devices", "2", "--chunks", "5", "--rounds", "1", "--up-storage", "both", "--nats-profile", profiles, "--worker-profile", workerProfiles);
    for (const st of ["file", "memory"]) expect(text).toMatch(new RegExp(`^median \\(${st}\\): 1 worker [\\d,]+ chunks/s, 2 workers [\\d,]+ chunks/s`, "m"));
    // A profile of each node in each of the four rounds, summed up by area where Go's pprof is at hand.
    expect(readdirSync(profiles).filter((f) => f.endsWith(".pb.gz")).length).toBe(12);
    // Each worker of the four rounds (six) wrote its V8 profile on its way out, and they were summed up.
    const workerDirs = readdirSync(workerProfiles);
    expect(workerDirs.length).toBe(6);
    for (const d of workerDirs) expect(readdirSync(join(workerProfiles, d)).some((f) => /\.0\.\d+\.cpuprofile$/.test(f))).toBe(true);
    expect(text).toMatch(/^workers' (main threads|profiles), 2w-memory/m);
    if (spawnSync("go", ["version"]).status === 0) expect(text).toMatch(/^NATS nodes' CPU, 2 workers, device messages in memory \(3 profiles of 4 s; \d+ µs a chunk in all\):\n +[\d.]+ % +\d+ µs  replication/m);
  });

  it.skipIf(!existsSync(NATS_BIN))("npm run bench:nats-auth: what bcrypt logins cost nats-server", () => {
    expect(bench("nats-auth.bench.ts", "--devices", "4", "--rounds", "1", "--costs", "4")).toMatch(/^\| bcrypt 4 \|/m);
  });

  it("leaves none of their temporary directories behind", () => {
    expect(readdirSync(tmp).filter((f) => !f.startsWith("tsx-"))).toEqual([]); // tsx keeps its compile cache there
  });
});
