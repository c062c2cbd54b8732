// A bench stopped part way (test/bench/interrupt.ts): what an operator who stops one with `kill`,
// `timeout` or Ctrl-C finds after it. Each bench runs in a TMPDIR of its own; once it is stopped,
// no process it started (named by a path under that TMPDIR) is left, and the TMPDIR is empty.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { espruinoBin } from "../../scripts/espruino-gate.mjs";

const ROOT = join(import.meta.dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "evrec-bench-stop-"));
chmodSync(tmp, 0o1777); // as /tmp is: the PostgreSQL helper, as root, makes its directory as postgres
afterAll(() => {
  for (const pid of startedUnder(tmp)) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
  rmSync(tmp, { recursive: true, force: true });
});

/** Every process whose command line names a path under `dir`. */
function startedUnder(dir: string): number[] {
  const found: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try { if (readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir)) found.push(Number(p)); } catch { /* gone meanwhile */ }
  }
  return found;
}

const until = async (what: string, ok: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 100))) if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
};

/** A path under `dir` two levels down whose last part matches `re`, if there is one yet. */
const findUnder = (dir: string, re: RegExp) => {
  for (const a of readdirSync(dir)) {
    if (re.test(a)) return join(dir, a);
    try { for (const b of readdirSync(join(dir, a))) if (re.test(b)) return join(dir, a, b); } catch { /* a file */ }
  }
  return null;
};

/**
 * Start a bench in its own TMPDIR, wait until it is under way (a file named as `ready.file` in its
 * TMPDIR, or a line of its output matching `ready.out`; and at least `ready.procs` processes
 * started under it, when a file is made before the process that uses it), stop it with `signal`.
 */
async function stopPartWay(name: string, script: string, args: string[], ready: { file?: RegExp; out?: RegExp; procs?: number }, signal: NodeJS.Signals) {
  const own = join(tmp, name);
  mkdirSync(own);
  chmodSync(own, 0o1777);
  const c = spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: ROOT, env: { ...process.env, TMPDIR: own }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "", out = "";
  c.stdout!.on("data", (b) => { out += String(b); });
  c.stderr!.on("data", (b) => { err += String(b); });
  const exited = new Promise<number | null>((r) => c.once("exit", (code) => r(code)));
  await until(`${name} under way`, () => (ready.file ? findUnder(own, ready.file) !== null : ready.out!.test(out)) && startedUnder(own).length >= (ready.procs || 0), 60000);
  const before = startedUnder(own).length;
  c.kill(signal);
  const code = await exited;
  // A server may take a moment to go once signalled; nothing may stay.
  await until(`${name}'s processes gone`, () => startedUnder(own).length === 0, 10000).catch(() => {});
  return { code, err, before, left: startedUnder(own), files: readdirSync(own).filter((f) => !f.startsWith("tsx-")) };
}

describe("a bench stopped part way", () => {
  it("npm run bench, stopped by SIGTERM during a gateway round: its gateway and load generator stopped, its directory gone", async () => {
    const r = await stopPartWay("compare", "test/bench/compare.bench.ts", ["--sizes", "4", "--rounds", "1", "--seconds", "60", "--gateway-only", "--warm-rounds", "0", "--json", join(tmp, "compare.json")], { file: /^load-.*\.json$/, procs: 2 }, "SIGTERM");
    expect(r.before).toBeGreaterThanOrEqual(2); // the gateway and the load generator were running
    expect(r.code).toBe(143);
    expect(r.err).toContain("bench: SIGTERM: stopping what it started");
    expect(r.left).toEqual([]);
    expect(r.files).toEqual([]);
  }, 120000);

  it("npm run bench:cluster, stopped by SIGTERM: its nats-server nodes and worker stopped, its directory gone", async () => {
    if (!existsSync("/usr/sbin/nats-server") && !process.env.NATS_SERVER_BIN) return; // .ci/run installs it
    const r = await stopPartWay("cluster", "test/bench/cluster.bench.ts", ["--devices", "2", "--chunks", "2000", "--rounds", "1"], { file: /^w0\.ports$/, procs: 4 }, "SIGTERM");
    expect(r.before).toBeGreaterThanOrEqual(4); // three nodes and a worker
    expect(r.code).toBe(143);
    expect(r.left).toEqual([]);
    expect(r.files).toEqual([]);
  }, 120000);

  it("npm run bench:espruino, stopped by SIGTERM while its interpreter runs: the interpreter stopped, its directory gone", async () => {
    if (!espruinoBin(true)) return; // the lanes say where no interpreter is installed
    // Its directory is made, and the bundle written into it, before the interpreter starts.
    const r = await stopPartWay("espruino", "test/bench/espruino-step.ts", [], { file: /^espruino-run-/, procs: 1 }, "SIGTERM");
    expect(r.before).toBe(1); // the interpreter, named by its runner's path
    expect(r.code).toBe(143);
    expect(r.left).toEqual([]);
    expect(r.files).toEqual([]);
  }, 120000);

  it("npm run bench:store, stopped by SIGINT: its PostgreSQL stopped, its directories gone", async () => {
    if (!existsSync("/usr/lib/postgresql/15/bin/postgres")) return; // .ci/run installs it
    const r = await stopPartWay("store", "test/bench/store.bench.ts", ["--rounds", "50"], { out: /^bench: .* per round/m }, "SIGINT");
    expect(r.code).toBe(130);
    expect(r.left).toEqual([]);
    expect(r.files).toEqual([]);
  }, 120000);

  it("npm run bench:store, stopped by SIGINT while its PostgreSQL is being made: nothing of it left", async () => {
    if (!existsSync("/usr/lib/postgresql/15/bin/postgres")) return; // .ci/run installs it
    // The cluster's directory exists from initdb's start, a second or two before the server accepts connections.
    const r = await stopPartWay("store-starting", "test/bench/store.bench.ts", ["--rounds", "50"], { file: /^data$/ }, "SIGINT");
    expect(r.code).toBe(130);
    expect(r.left).toEqual([]);
    expect(r.files).toEqual([]);
  }, 120000);
});
