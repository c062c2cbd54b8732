// What bcrypt hashes in nats-server's authorization file cost (gateway/cluster/auth.ts), at each
// cost: the worker's time to hash one device's login, and nats-server's CPU per device connect
// (a storm of MQTT connects with the device logins, as after a node restart), against logins in
// clear. One nats-server with JetStream and MQTT, its authorization reloaded for each cost; rounds
// alternate the costs. `npm run bench:nats-auth [-- OPTIONS]` (`--help` lists them)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import { hash } from "bcryptjs";
import { NatsCluster, NATS_BIN } from "../cluster/nats-cluster.js";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";

const opts = benchArgs("bench:nats-auth", "npm run bench:nats-auth [-- OPTIONS]", "What bcrypt hashes in nats-server's authorization file cost at each cost: the worker's time to hash\na login, nats-server's CPU a device connect, against logins in clear (test/bench/nats-auth.bench.ts).", {
  devices: { kind: "number", default: 200, integer: true, min: 1, help: "devices connecting in each storm" },
  rounds: { kind: "number", default: 2, integer: true, min: 1, help: "alternating rounds of the costs" },
  costs: { kind: "numbers", default: [4, 6, 8, 10], help: "bcrypt costs measured" },
});
const DEVICES = opts.devices, ROUNDS = opts.rounds;
const COSTS = opts.costs;
const CONCURRENCY = 16;
const WORKER = { user: "evrec-worker", pass: "bench-secret" };
const TICK = 100; // clock ticks per second (Linux USER_HZ)

/** CPU seconds a process has used (user + system). */
const cpu = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / TICK;
};

/** The worker's CPU per bcrypt hash of a device login at `cost`, in ms. */
async function hashMs(cost: number, n: number): Promise<number> {
  const secret = randomBytes(32).toString("hex");
  const t = process.cpuUsage();
  for (let i = 0; i < n; i++) await hash(secret, cost);
  const u = process.cpuUsage(t);
  return (u.user + u.system) / 1000 / n;
}

/** nats-server's CPU per MQTT connect (and disconnect) of every device, in ms, with passwords as `cost` made them (0: in clear). */
async function storm(nats: NatsCluster, devices: { user: string; password: string }[], cost: number): Promise<{ cpuMs: number; wallMs: number }> {
  const node = nats.nodes[0];
  const users = [`    { user: ${JSON.stringify(WORKER.user)}, password: ${JSON.stringify(WORKER.pass)} }`];
  for (const d of devices) users.push(`    { user: ${JSON.stringify(d.user)}, password: ${JSON.stringify(cost ? await hash(d.password, cost) : d.password)} }`);
  writeFileSync(nats.authFile, `authorization {\n  users = [\n${users.join("\n")}\n  ]\n}\n`, { mode: 0o600 });
  const pid = Number(readFileSync(node.pidFile, "utf8").trim());
  process.kill(pid, "SIGHUP");
  await new Promise((r) => setTimeout(r, 1500));
  const connect = async (d: { user: string; password: string }) => {
    // `false`: a connection closed before its CONNACK rejects; with no reconnect, mqtt.js would wait for ever.
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.mqtt}`, { username: d.user, password: d.password, clientId: d.user, reconnectPeriod: 0, clean: true, connectTimeout: 30000 }, false);
    await c.endAsync(true);
  };
  await connect(devices[0]); // the MQTT account's streams made before the clock starts
  const c0 = cpu(pid), t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < devices.length) await connect(devices[next++]);
  }));
  return { cpuMs: ((cpu(pid) - c0) * 1000) / devices.length, wallMs: performance.now() - t0 };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "evrec-nats-auth-bench-"));
  const nats = new NatsCluster(join(dir, "nats"), 4, WORKER);
  const devices = Array.from({ length: DEVICES }, (_, i) => ({ user: `bench${i}`, password: randomBytes(32).toString("hex") }));
  const rows: Record<string, { hash: number[]; connect: number[]; wall: number[] }> = {};
  const stop = async () => {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const forget = onInterrupt(stop);
  try {
    await nats.start(1);
    for (let r = 0; r < ROUNDS; r++) {
      for (const cost of [0, ...COSTS]) {
        const k = cost ? `bcrypt ${cost}` : "clear";
        const row = (rows[k] ||= { hash: [], connect: [], wall: [] });
        if (cost) row.hash.push(await hashMs(cost, Math.max(3, Math.round(400 / 2 ** (cost - 4)))));
        const s = await storm(nats, devices, cost);
        row.connect.push(s.cpuMs);
        row.wall.push(s.wallMs);
        console.log(`round ${r + 1}, ${k}: worker ${cost ? row.hash[row.hash.length - 1].toFixed(2) + " ms CPU per hash" : "-"}; nats-server ${s.cpuMs.toFixed(2)} ms CPU per connect (${devices.length} connects in ${(s.wallMs / 1000).toFixed(1)} s)`);
      }
    }
  } finally {
    forget();
    await stop();
  }
  const span = (xs: number[]) => (xs.length ? `${Math.min(...xs).toFixed(2)} to ${Math.max(...xs).toFixed(2)}` : "-");
  const clear = rows.clear.connect;
  console.log(`\n${NATS_BIN}, ${DEVICES} devices, ${CONCURRENCY} connecting at a time, ${ROUNDS} rounds`);
  console.log("| passwords | worker: CPU per hash (ms) | nats-server: CPU per connect (ms) | of which bcrypt (ms, over clear's mean) |");
  console.log("|---|---|---|---|");
  const mean = clear.reduce((a, b) => a + b, 0) / clear.length;
  for (const [k, v] of Object.entries(rows)) console.log(`| ${k} | ${span(v.hash)} | ${span(v.connect)} | ${k === "clear" ? "-" : span(v.connect.map((x) => x - mean))} |`);
}

await main();
