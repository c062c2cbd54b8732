// bin/evrec-gateway, the command `npm start` runs and every tool here starts a gateway with: its
// process is the gateway's own (a kill reaches the gateway, not a wrapper that would leave it
// running; so does a SIGTERM to npm start), EVREC_V8_POOL_SIZE sets V8's helper threads (0: one
// for each core beyond the first; unset, Node's four), and a bad thread count is refused with its
// reason before anything starts.
import { afterAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { GatewayProcess } from "../../client/gateway-process.js";
import { until } from "../helpers/wait.js";

const ROOT = join(import.meta.dirname, "..", "..");
const dirs: string[] = [];
const running: GatewayProcess[] = [];
afterAll(async () => {
  for (const g of running) await g.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
/** A data directory of its own, removed after the tests. */
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "evrec-launch-"));
  dirs.push(d);
  return d;
};

async function start(env: Record<string, string> = {}): Promise<GatewayProcess> {
  const dataDir = tempDir();
  const g = await GatewayProcess.start({ dataDir, options: { mqttPort: 0, httpPort: 0, scrubMibPerS: 0 }, env });
  running.push(g);
  return g;
}

/** The threads of a process, as the kernel lists them. */
const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).length;
/** Whether a process runs (a zombie waiting to be reaped does not). */
const runs = (pid: number) => {
  try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8")); } catch { return false; }
};

describe("bin/evrec-gateway", () => {
  it("starts Node itself as the gateway, with V8's helper threads as EVREC_V8_POOL_SIZE says", async () => {
    const ours = await start({ EVREC_V8_POOL_SIZE: "0" });
    const nodeDefault = await start(); // Node's own default, four
    // The process started is the one that wrote the ports file: the gateway, not a shell around it.
    expect(ours.pid).toBe(ours.ports.pid);
    const helpers = Math.max(1, availableParallelism() - 1);
    // Both did the same start (the same libuv pool, the same SQLite thread): they differ only in
    // V8's helpers.
    expect(threads(nodeDefault.ports.pid) - threads(ours.ports.pid)).toBe(4 - helpers);
    expect((await fetch(`${ours.apiUrl}/api/health`)).ok).toBe(true);
    await ours.stop();
    // Stopped through the process it started: nothing of it is left.
    expect(() => readdirSync(`/proc/${ours.ports.pid}/task`)).toThrow();
  }, 90000);

  it("stops the gateway itself when npm start is told to stop (SIGTERM to npm, as a service manager sends it); its paths are where npm start was typed", async () => {
    // `EVREC_DATA_DIR=station npm start -- --ports-file ports.json` typed in the station's own
    // folder: the variable's path and the option's relative to it, not to the project.
    const folder = tempDir();
    const dataDir = join(folder, "station");
    const portsFile = join(folder, "ports.json");
    const npm = spawn("npm", ["--prefix", ROOT, "start", "--", "--host", "127.0.0.1", "--mqtt-port", "0", "--http-port", "0", "--ports-file", "ports.json", "--scrub-mib-per-s", "0"], { cwd: folder, env: { ...process.env, EVREC_DATA_DIR: "station" }, stdio: ["ignore", "pipe", "pipe"] });
    let said = "";
    npm.stdout!.on("data", (b: Buffer) => (said += b.toString()));
    npm.stderr!.on("data", (b: Buffer) => (said += b.toString()));
    const exited = new Promise((r) => npm.once("exit", r));
    // The pipe closes when its last writer, the gateway, is gone: all it said has been read then.
    const allSaid = new Promise((r) => npm.stdout!.once("close", r));
    let gateway = 0;
    try {
      await until("ports file", () => existsSync(portsFile) || npm.exitCode !== null, 60000);
      expect(npm.exitCode, said).toBeNull();
      gateway = (JSON.parse(readFileSync(portsFile, "utf8")) as { pid: number }).pid;
      expect(existsSync(join(dataDir, "gateway.db"))).toBe(true);
      expect(said).toContain(`data in ${dataDir}`);
      npm.kill("SIGTERM");
      await exited;
      // The signal reached the gateway, which shut down as it does on its own SIGTERM; a shell
      // left between npm and Node would have died alone and left the gateway running.
      await until("end of the gateway", () => !runs(gateway), 20000);
      await allSaid;
      expect(said).toContain("shutting down");
    } finally {
      if (npm.exitCode === null) npm.kill("SIGKILL");
      if (gateway && runs(gateway)) process.kill(gateway, "SIGKILL"); // what failed, cleaned up
    }
  }, 90000);

  it("refuses a thread count that is not a whole number, saying why, before anything starts", () => {
    const dataDir = tempDir();
    const r = spawnSync(join(ROOT, "bin", "evrec-gateway"), ["--data-dir", dataDir], { cwd: ROOT, encoding: "utf8", env: { ...process.env, EVREC_V8_POOL_SIZE: "four" } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/BAD_V8_POOL_SIZE: EVREC_V8_POOL_SIZE must be a whole number of threads .* not 'four'/);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it("refuses at once a data directory that can't be made, where Node's own mkdir would loop for ever", () => {
    const r = spawnSync(join(ROOT, "bin", "evrec-gateway"), ["--data-dir", "/proc/evrec-station"], { cwd: ROOT, encoding: "utf8", timeout: 30000 });
    expect(r.stderr).toBe("gateway: DATA_DIR_UNWRITABLE: data directory /proc/evrec-station can't be made: ENOENT: /proc takes no new directory (a special file system?), mkdir '/proc/evrec-station'\n");
    expect(r.status).toBe(2);
  });

  it("refuses an option it does not know with its reason code, before anything starts", () => {
    const dataDir = tempDir();
    const r = spawnSync(join(ROOT, "bin", "evrec-gateway"), ["--data-dir", dataDir, "--mqtt-prot", "1883"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("gateway: CONFIG: unknown option --mqtt-prot (see --help)\n");
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it("takes --cluster=FILE as --cluster FILE, as every option takes its value", () => {
    const dataDir = tempDir();
    const file = join(dataDir, "region.json");
    const r = spawnSync(join(ROOT, "bin", "evrec-gateway"), [`--cluster=${file}`], { cwd: ROOT, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^gateway: CONFIG: cluster file ${file}: ENOENT`));
  });

  it("refuses a log level it does not know, and a packet limit below a chunk's largest message, in one line each, before anything starts", () => {
    const dataDir = tempDir();
    const start = (...args: string[]) => spawnSync(join(ROOT, "bin", "evrec-gateway"), ["--data-dir", dataDir, ...args], { cwd: ROOT, encoding: "utf8" });
    const level = start("--log-level", "infoo");
    expect({ status: level.status, err: level.stderr }).toEqual({ status: 2, err: "gateway: CONFIG: --log-level: logLevel is one of fatal, error, warn, info, debug, trace, silent, got \"infoo\"\n" });
    const packet = start("--max-packet", "10");
    expect({ status: packet.status, err: packet.stderr }).toEqual({ status: 2, err: "gateway: CONFIG: maxPacket must be at least 69632 bytes (a chunk's largest message), got 10\n" });
    expect(readdirSync(dataDir)).toEqual([]);
  });
});
