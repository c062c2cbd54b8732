// The cluster worker's file: every option documented with its default, and a bad file stopped with
// its reason before anything connects.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { CLUSTER_DEFAULTS, clusterHelpText, loadClusterConfig } from "../../gateway/cluster/config.js";
import { DEFAULTS } from "../../gateway/config.js";

const dir = mkdtempSync(join(tmpdir(), "evrec-cluster-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
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
    expect(() => loadClusterConfig(file("gw.json", { gateway: { dataDirectory: "x" } }))).toThrow(/gateway: unknown option dataDirectory/);
  });

  it("stops `--cluster` with a bad file before connecting, exit code 2 and the reason", () => {
    const r = spawnSync(join(import.meta.dirname, "../../bin/evrec-gateway"), ["--cluster", file("exit.json", { cluster: { replicas: -1 } })], { encoding: "utf8", timeout: 20000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/gateway: cluster file .*replicas must be a non-negative number/);
  });
});
