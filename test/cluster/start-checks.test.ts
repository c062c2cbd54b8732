// What stops a worker's start, each in one line with its reason code and the exit code that says
// whether it may pass by itself (1) or must be mended first (2), as a region's operator meets them:
// - no station key in its data directory: STATION_KEY_MISSING, exit 2, and none made (a worker
//   made its own before, read no device's secret, and its devices were refused at connect); the
//   office makes the region's key (its first start), which is what a worker's key is copied from;
// - a key that opens no device's secret (another region's): STATION_KEY_MISMATCH, exit 2; and a
//   worker that started on an empty registry says so once when devices come, not the cipher's
//   "Unsupported state or unable to authenticate data" every authorization sync;
// - PostgreSQL not up: DB_UNREACHABLE, exit 1, as NATS_UNREACHABLE (it was 2);
// - its metrics port taken: PORT_IN_USE naming cluster.metricsPort, exit 2 (a stack trace, exit 1, before).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { randomBytes } from "node:crypto";
import { freePort, NATS_BIN, NatsCluster } from "./nats-cluster.js";
import { killWorker, startWorker, until, WORKER } from "./workers.js";
import type { Proc } from "./workers.js";
import { openMetadata } from "../../gateway/cluster/store.js";
import { configFrom } from "../../gateway/config.js";
import { Db } from "../../gateway/store/db.js";
import { DeviceRegistry } from "../../gateway/devices.js";
import { StationKey } from "../../gateway/secrets.js";
import { exitCodeFor } from "../../gateway/cluster/main.js";

const BIN = join(import.meta.dirname, "../../bin/evrec-gateway");
const dir = mkdtempSync(join(tmpdir(), "evrec-start-checks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run the gateway with a cluster file made of `body`; its exit code and stderr. */
async function run(name: string, body: unknown, ...extra: string[]): Promise<{ status: number | null; stderr: string }> {
  const f = join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(body));
  return new Promise((done) => {
    const p = spawn(BIN, ["--cluster", f, ...extra], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => p.kill("SIGKILL"), 45000);
    p.on("exit", (status) => { clearTimeout(t); done({ status, stderr }); });
  });
}

/** A data directory holding a station key (as copied from the office's); returns it. */
const withKey = (name: string): string => {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true, mode: 0o700 });
  StationKey.loadOrCreate(join(d, "station.key"));
  return d;
};

describe("what stops a worker's start", () => {
  it("exit codes: 1 for what may pass by itself, 2 for what must be mended", () => {
    for (const c of ["NATS_UNREACHABLE", "JETSTREAM_UNAVAILABLE", "DB_UNREACHABLE"]) expect(exitCodeFor(c)).toBe(1);
    for (const c of ["NATS_LOGIN_REFUSED", "DB_REFUSED", "STATION_KEY_MISSING", "STATION_KEY_MISMATCH", "PARTITIONS_DIFFER", "PORT_IN_USE", "CONFIG", undefined]) expect(exitCodeFor(c)).toBe(2);
  });

  it("a worker without the region's station key refuses to start and makes none; the office makes it", async () => {
    const data = join(dir, "nokey-data");
    const port = await freePort();
    const r = await run("nokey", { cluster: { natsServers: `127.0.0.1:${port}` }, gateway: { dataDir: data } });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`gateway: STATION_KEY_MISSING: no station key at ${join(data, "station.key")}: a worker never makes one (it would open no device's secret). The office makes the region's at its first start (npm start -- --cluster FILE --office); copy station.key from the office's data directory to ${data} (mode 0600), then start the worker again\n`);
    expect(existsSync(join(data, "station.key"))).toBe(false);
    // The office makes it at its first start (here it then finds no NATS: exit 1, the key made).
    const office = join(dir, "office-data");
    const o = await run("office", { cluster: { natsServers: `127.0.0.1:${port}` }, gateway: { dataDir: office, httpPort: 0 } }, "--office");
    expect(o.status).toBe(1);
    expect(o.stderr).toMatch(/^gateway: NATS_UNREACHABLE: /);
    expect(readFileSync(join(office, "station.key")).length).toBe(32);
  }, 60000);

  it("a worker whose station key opens no device's secret refuses to start", async () => {
    const data = join(dir, "otherkey-data");
    const { db, registry } = await openMetadata(configFrom({ dataDir: data }, "test"));
    await registry.add("ok1");
    await registry.add("ok2");
    await db.close();
    // Another region's key (or one a worker made for itself) in its place.
    writeFileSync(join(data, "station.key"), randomBytes(32), { mode: 0o600 });
    const r = await run("otherkey", { cluster: { natsServers: `127.0.0.1:${await freePort()}` }, gateway: { dataDir: data } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^gateway: STATION_KEY_MISMATCH: the station key ${join(data, "station.key").replace(/[.]/g, "\\.")} opens no device's secret in the registry \\(tried ok[12], ok[12]\\): it is not this region's key .*Copy station\\.key from the office's data directory`));
    expect(r.stderr.split("\n").length).toBe(2);
  }, 60000);

  it("PostgreSQL not up at a worker's or the office's start: DB_UNREACHABLE, exit 1 (it may pass by itself)", async () => {
    const port = await freePort();
    for (const extra of [[], ["--office"]]) {
      const r = await run(`nodb${extra.length}`, { cluster: { natsServers: `127.0.0.1:${await freePort()}` }, gateway: { dataDir: withKey(`nodb-data${extra.length}`), db: `postgres://evrec@127.0.0.1:${port}/evrec`, httpPort: 0 } }, ...extra);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^gateway: DB_UNREACHABLE: PostgreSQL at .*127\\.0\\.0\\.1:${port}.* can't be reached`));
      expect(r.stderr.split("\n").length).toBe(2);
    }
  }, 60000);
});

describe.skipIf(!existsSync(NATS_BIN))("what stops a worker's start, with NATS there", () => {
  let nats: NatsCluster;
  const setup = () => ({ dir: join(dir, "n"), nats, partitions: 2, db: "" });
  const workers: Proc[] = [];
  let taken: Server | null = null;
  beforeAll(async () => {
    nats = new NatsCluster(join(dir, "n", "nats"), 2, WORKER);
    await nats.start(1);
  }, 60000);
  afterAll(async () => {
    for (const w of workers) await killWorker(w);
    taken?.close();
    await nats?.stop();
  });

  it("its metrics port taken: PORT_IN_USE naming cluster.metricsPort, exit 2", async () => {
    taken = createServer();
    await new Promise<void>((r) => taken!.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as { port: number }).port;
    const r = await run("port", { cluster: { worker: "port", natsServers: nats.servers, natsUser: WORKER.user, natsPass: WORKER.pass, replicas: 1, partitions: 2, metricsHost: "127.0.0.1", metricsPort: port }, gateway: { dataDir: withKey("port-data") } });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`gateway: PORT_IN_USE: 127.0.0.1:${port} is in use (another worker on this machine?): choose another cluster.metricsPort (0: any free port, written to cluster.portsFile)\n`);
  }, 60000);

  it("devices provisioned under another key after the worker started: STATION_KEY_MISMATCH said once, not the cipher's error every sync", async () => {
    // The worker starts on an empty registry with a key of its own...
    const w = await startWorker(setup(), "lonely", {}, { replicas: 1 });
    workers.push(w);
    // ...then the office provisions devices under the region's key, into the same database.
    const db = await Db.open(join(setup().dir, "data", "gateway.db"));
    const region = StationKey.loadOrCreate(join(dir, "region.key")).key;
    const registry = new DeviceRegistry(db, region);
    await registry.add("late1");
    await registry.add("late2");
    await db.close();
    await until("the worker to say its key is not the region's", () => readFileSync(w.out, "utf8").includes("STATION_KEY_MISMATCH"), 10000, () => readFileSync(w.out, "utf8").slice(-2000));
    // Four more syncs (authSyncMs 500).
    await new Promise((r) => setTimeout(r, 2000));
    const out = readFileSync(w.out, "utf8");
    expect(out.match(/STATION_KEY_MISMATCH/g)?.length).toBe(1);
    expect(out).not.toMatch(/unable to authenticate data|authorization sync failed/);
    // The authorization file was left as it was: no device of a key this worker can't open.
    expect(readFileSync(nats.authFile, "utf8")).not.toMatch(/late1/);
  }, 60000);
});
