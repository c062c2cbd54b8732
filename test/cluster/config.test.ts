// The cluster worker's file: every option documented with its default, and a bad file stopped with
// its reason before anything connects.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { CLUSTER_DEFAULTS, clusterHelpText, loadClusterConfig } from "../../gateway/cluster/config.js";
import { DEFAULTS, loadConfig } from "../../gateway/config.js";
import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort, NATS_BIN, NatsCluster } from "./nats-cluster.js";
import { killWorker, startWorker, until, WORKER } from "./workers.js";
import { StationKey } from "../../gateway/secrets.js";
import { mkdirSync } from "node:fs";

const dir = mkdtempSync(join(tmpdir(), "evrec-cluster-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** A worker's data directory with the region's station key in it (copied from the office's, docs/SCALE.md). */
const keyed = (name: string) => {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true, mode: 0o700 });
  StationKey.loadOrCreate(join(d, "station.key"));
  return d;
};
const file = (name: string, body: unknown) => {
  const f = join(dir, name);
  writeFileSync(f, typeof body === "string" ? body : JSON.stringify(body));
  return f;
};

describe("a cluster worker's configuration file", () => {
  it("documents every cluster option with its default", () => {
    const text = clusterHelpText();
    for (const [k, v] of Object.entries(CLUSTER_DEFAULTS)) expect(text).toMatch(new RegExp(`^    ${k} .*\\(default ${JSON.stringify(v).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\)$`, "m"));
  });

  it("takes cluster options and station options from their sections, the rest from the defaults", () => {
    const c = loadClusterConfig(file("ok.json", { cluster: { worker: "w-1", partitions: 8, natsServers: "10.0.0.1:4222,10.0.0.2:4222" }, gateway: { dataDir: "/srv/evrec", commitDelayMs: 3 } }));
    expect(c.cluster).toMatchObject({ worker: "w-1", partitions: 8, natsServers: "10.0.0.1:4222,10.0.0.2:4222", leaseMs: CLUSTER_DEFAULTS.leaseMs });
    expect(c.gateway).toMatchObject({ dataDir: "/srv/evrec", commitDelayMs: 3, commitMaxBatch: DEFAULTS.commitMaxBatch });
  });

  it("takes the relative paths it names from its own directory, not from wherever the process was started", () => {
    const sub = join(dir, "region");
    mkdirSync(sub, { recursive: true });
    const c = loadClusterConfig(file("region/rel.json", { cluster: { authFile: "auth.conf", portsFile: "run/ports.json", natsPidFiles: "a.pid, /run/b.pid" }, gateway: { dataDir: "data", tlsCert: "/etc/evrec/cert.pem" } }));
    expect(c.cluster).toMatchObject({ authFile: join(sub, "auth.conf"), portsFile: join(sub, "run/ports.json"), natsPidFiles: `${join(sub, "a.pid")},/run/b.pid` });
    expect(c.gateway).toMatchObject({ dataDir: join(sub, "data"), tlsCert: "/etc/evrec/cert.pem" });
    // A station's --config file alike.
    const station = loadConfig(["--config", file("region/station.json", { dataDir: "station", portsFile: "ports.json" })], {}).config;
    expect(station).toMatchObject({ dataDir: join(sub, "station"), portsFile: join(sub, "ports.json") });
  });

  it("takes the relative paths in EVREC_* variables from where npm was typed, as it takes the command line's", () => {
    // `EVREC_CONFIG=station.json EVREC_TLS_CERT=tls.crt npm start`, typed in the region folder: npm runs it in the project's.
    const typed = join(dir, "region");
    mkdirSync(typed, { recursive: true });
    file("region/env.json", { portsFile: "ports.json" });
    const npm = { INIT_CWD: typed, npm_package_json: join(process.cwd(), "package.json"), EVREC_CONFIG: "env.json", EVREC_TLS_CERT: "tls.crt", EVREC_DATA_DIR: "station" };
    const c = loadConfig([], npm).config;
    expect(c).toMatchObject({ portsFile: join(typed, "ports.json"), tlsCert: join(typed, "tls.crt"), dataDir: join(typed, "station") });
  });

  it("refuses a file it can't use, saying why", () => {
    expect(() => loadClusterConfig(file("bad.json", "{ not json"))).toThrow(/cluster file .*bad\.json/);
    expect(() => loadClusterConfig(file("sect.json", { nats: {} }))).toThrow(/unknown section nats/);
    expect(() => loadClusterConfig(file("opt.json", { cluster: { partition: 4 } }))).toThrow(/unknown cluster option partition/);
    expect(() => loadClusterConfig(file("num.json", { cluster: { partitions: "four" } }))).toThrow(/partitions must be a non-negative number/);
    expect(() => loadClusterConfig(file("zero.json", { cluster: { partitions: 0 } }))).toThrow(/partitions must be a whole number of at least 1/);
    expect(() => loadClusterConfig(file("name.json", { cluster: { worker: "a.b" } }))).toThrow(/worker must be letters/);
    expect(() => loadClusterConfig(file("lease.json", { cluster: { leaseMs: 100 } }))).toThrow(/leaseMs must be at least 1000/);
    expect(() => loadClusterConfig(file("mon.json", { cluster: { natsMonitor: "http://127.0.0.1:8222, 127.0.0.1:8223" } }))).toThrow(/natsMonitor: "127\.0\.0\.1:8223" is not an http:\/\/ or https:\/\/ URL/);
    expect(() => loadClusterConfig(file("pres.json", { cluster: { presenceMs: 100 } }))).toThrow(/presenceMs must be at least 250/);
    expect(() => loadClusterConfig(file("store.json", { cluster: { upStorage: "disk" } }))).toThrow(/upStorage must be "file" or "memory", got "disk"/);
    expect(() => loadClusterConfig(file("gw.json", { gateway: { dataDirectory: "x" } }))).toThrow(/gateway: unknown option dataDirectory/);
  });

  it("stops `--cluster` with a bad file before connecting, exit code 2 and the reason", () => {
    const r = spawnSync(join(import.meta.dirname, "../../bin/evrec-gateway"), ["--cluster", file("exit.json", { cluster: { replicas: -1 } })], { encoding: "utf8", timeout: 20000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^gateway: CONFIG: cluster file .*replicas must be a non-negative number/);
  });

  const gateway = (...args: string[]) => spawnSync(join(import.meta.dirname, "../../bin/evrec-gateway"), args, { encoding: "utf8", timeout: 30000 });

  it("says what is missing when --cluster has no file, and refuses an option given beside the file", () => {
    for (const args of [["--cluster"], ["--cluster", "--office"]]) {
      const r = gateway(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe("gateway: CONFIG: --cluster needs the cluster's file: npm start -- --cluster FILE (see --cluster-help)\n");
    }
    // A station option on the command line would be ignored by a worker: refused, it goes in the file.
    const r = gateway("--cluster", file("beside.json", { cluster: { natsServers: "127.0.0.1:1" } }), "--mqtt-port", "1999");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^gateway: CONFIG: --mqtt-port 1999: with --cluster, options go in the cluster's file/);
  });

  it("stops a worker and an office that reach no NATS server in one line with its reason, exit code 1", async () => {
    const port = await freePort();
    for (const extra of [[], ["--office"]]) {
      const f = file(`unreachable${extra.length}.json`, { cluster: { natsServers: `127.0.0.1:${port}` }, gateway: { dataDir: keyed(`unreachable-data${extra.length}`), httpPort: 0 } });
      const r = gateway("--cluster", f, ...extra);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`gateway: NATS_UNREACHABLE: no NATS server answered at 127.0.0.1:${port} (connection refused): is nats-server running there, and are those its client addresses (cluster.natsServers)?\n`);
    }
  });

  it.skipIf(!existsSync(NATS_BIN))("stops a worker whose NATS login is refused, saying so", async () => {
    const nats = new NatsCluster(join(dir, "nats"), 4, { user: "evrec-worker", pass: "the-right-one" });
    try {
      await nats.start(1);
      const f = file("login.json", { cluster: { natsServers: `127.0.0.1:${nats.nodes[0].client}`, natsUser: "evrec-worker", natsPass: "a-wrong-one" }, gateway: { dataDir: keyed("login-data") } });
      const r = await new Promise<{ status: number | null; stderr: string }>((done) => {
        const p = spawn(join(import.meta.dirname, "../../bin/evrec-gateway"), ["--cluster", f], { stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        p.stderr.on("data", (d) => (stderr += d));
        const t = setTimeout(() => p.kill("SIGKILL"), 30000);
        p.on("exit", (status) => { clearTimeout(t); done({ status, stderr }); });
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^gateway: NATS_LOGIN_REFUSED: NATS at 127\.0\.0\.1:\d+ refused the worker's login \(cluster\.natsUser "evrec-worker"\): .*Authorization Violation/i);
    } finally {
      await nats.stop();
    }
  });

  it.skipIf(!existsSync(NATS_BIN))("makes the device messages' stream with upStorage, keeps one made before as it is, and says so", async () => {
    const nats = new NatsCluster(join(dir, "storage-nats"), 4, WORKER);
    const setup = { dir: mkdtempSync(join(dir, "storage-")), nats, partitions: 4, db: "" };
    try {
      await nats.start(1);
      // The stream's storage, asked until JetStream answers: on a loaded machine its API may not
      // answer a new connection for a while ("no responders") as its leaders settle, which a
      // worker's own start waits out the same way (a CI run met it right after the first start).
      const storage = async () => {
        for (let tries = 0; ; tries++) {
          const nc = await connect({ servers: nats.servers, user: WORKER.user, pass: WORKER.pass });
          try {
            return (await (await jetstreamManager(nc)).streams.info("EVREC_UP")).config.storage;
          } catch (e) {
            if (tries >= 100) throw e;
          } finally {
            await nc.close();
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      const first = await startWorker(setup, "first", {}, { replicas: 1, upStorage: "memory" });
      expect(await storage()).toBe("memory");
      await killWorker(first);
      const second = await startWorker(setup, "second", {}, { replicas: 1, upStorage: "file" });
      try {
        await until("the second worker's warning", () => readFileSync(second.out, "utf8").includes("UP_STORAGE"), 10000);
        expect(readFileSync(second.out, "utf8")).toMatch(/"code":"UP_STORAGE".*EVREC_UP was made with memory storage and stays so/);
        expect(await storage()).toBe("memory");
      } finally {
        await killWorker(second);
      }
    } finally {
      await nats.stop();
    }
  });
});
