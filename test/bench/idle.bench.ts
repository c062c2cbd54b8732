// `npm run bench:idle [-- OPTIONS]` (`--help` lists them): how much a gateway holds per connected, idle
// device. A gateway child process (its public command, with a file-descriptor limit raised for it by
// `prlimit`), N registered devices, K loader processes that each log in their share over MQTT,
// subscribe to their downlink and say Hello as a recorder does, then stay idle. Printed: the
// gateway's resident memory before and after, per device, and how long logging in took.
//
// The loaders write MQTT by hand (CONNECT, SUBSCRIBE, one PUBLISH) on plain sockets: an mqtt.js
// client object with its stores and timers per connection would make the load generator, not the
// gateway, the thing that runs out of memory at 20,000 devices.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { deriveDeviceKeys, loginPassword } from "../../protocol/chain.js";
import { deviceIdBytes } from "../../protocol/blocks.js";
import { tagControl } from "../../protocol/downlink.js";
import { encode } from "../../protocol/codec.js";
import { CONTROL_HELLO, SCHEMA_VERSION } from "../../protocol/constants.js";
import { downTopic, upTopic } from "../../protocol/topics.js";
import { AdminApi } from "../../client/admin-api.js";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";

const ROOT = join(import.meta.dirname, "..", "..");

// ---- a loader: `--loader PORT FROM TO SEED` logs in devices FROM..TO-1 and idles ----

const id = (i: number) => `IDLE-${String(i).padStart(5, "0")}`;
/** Every device's root comes from the run's seed and its index: the loaders need no list. */
const rootOf = (seed: string, i: number) => sha(new TextEncoder().encode(`${seed}/${i}`));

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}
const str = (s: string | Uint8Array) => {
  const b = typeof s === "string" ? Buffer.from(s) : Buffer.from(s);
  return [b.length >> 8, b.length & 0xff, ...b];
};
const packet = (first: number, body: number[]) => Buffer.from([first, ...varint(body.length), ...body]);

function mqttConnect(clientId: string, user: string, pass: string): Buffer {
  // MQTT 3.1.1: protocol name, level 4, flags (user, password, clean session), keepalive 1,200 s.
  return packet(0x10, [...str("MQTT"), 4, 0xc2, 0x04, 0xb0, ...str(clientId), ...str(user), ...str(pass)]);
}

async function loader(port: number, from: number, to: number, seed: string): Promise<void> {
  const socks: unknown[] = [];
  let ok = 0, failed = 0;
  const one = (i: number) => new Promise<void>((res) => {
    const dev = id(i);
    const keys = deriveDeviceKeys(sha, rootOf(seed, i));
    const s = connect(port, "127.0.0.1");
    let done = false;
    const finish = (good: boolean) => {
      if (done) return;
      done = true;
      if (good) ok++;
      else failed++;
      res();
    };
    s.on("error", () => finish(false));
    s.on("close", () => finish(false));
    s.once("connect", () => {
      s.write(mqttConnect(`${dev}/idle`, dev, loginPassword(keys.login)));
      s.write(packet(0x82, [0, 1, ...str(downTopic(dev)), 1]));
      const body = encode("Hello", { nonce: randomBytes(16), held: [], firmware: "idle-bench", deviceTimeMs: Date.now() });
      const up = encode("Uplink", { schema: SCHEMA_VERSION, hello: { body, tag: tagControl(sha, keys.controlKey, CONTROL_HELLO, deviceIdBytes(dev), body) } });
      s.write(packet(0x32, [...str(upTopic(dev)), 0, 2, ...up]));
    });
    // CONNACK (0x20) with return code 0, then whatever the gateway sends (SUBACK, PUBACK, the
    // Hello's answer) is read and dropped: an idle device.
    let first = true;
    s.on("data", (b) => {
      if (first) {
        first = false;
        finish(b[0] === 0x20 && b[3] === 0);
      }
    });
    socks.push(s);
  });
  for (let i = from; i < to; i += 100) await Promise.all(Array.from({ length: Math.min(100, to - i) }, (_, k) => one(i + k)));
  process.stdout.write(JSON.stringify({ ok, failed }) + "\n");
  // Idle until told to go.
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
}

// ---- the run ----

function rssMib(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const opts = benchArgs("bench:idle", "npm run bench:idle [-- OPTIONS]", "How much a gateway holds per connected, idle device (test/bench/idle.bench.ts says how).", {
    devices: { kind: "number", default: 20000, integer: true, min: 1, help: "devices logged in, then idle" },
    loaders: { kind: "number", integer: true, min: 1, help: "loader processes logging them in (default: one for each 9,000 devices)" },
  });
  let n = opts.devices;
  // One descriptor per connection: prlimit raises the limit for the gateway alone where this user
  // may; where not, the run is held below the hard limit and says so.
  const limit = String(Math.max(65536, n * 2));
  const raised = spawnSync("prlimit", [`--nofile=${limit}:${limit}`, "true"]).status === 0;
  if (!raised) {
    const hard = Number(spawnSync("sh", ["-c", "ulimit -Hn"]).stdout.toString().trim()) || 1024;
    if (n > hard - 300) {
      console.log(`idle: this user can't raise the open-file limit above ${hard} (prlimit refused): ${hard - 300} devices instead of ${n}`);
      n = hard - 300;
    }
  }
  const k = opts.loaders ?? Math.max(1, Math.ceil(n / 9000));
  const dir = mkdtempSync(join(tmpdir(), "evrec-idle-"));
  const seed = randomBytes(8).toString("hex");
  const portsFile = join(dir, "ports.json");
  const gwArgs = ["--data-dir", join(dir, "gw"), "--host", "127.0.0.1", "--mqtt-port", "0", "--http-port", "0",
    "--ports-file", portsFile, "--log-level", "error", "--max-clients", String(n + 100),
    // Every login may be on its way at once: none is taken for an idle socket.
    "--max-pending-clients", String(n + 100)];
  const gw = raised ? spawn("prlimit", [`--nofile=${limit}:${limit}`, join(ROOT, "bin", "evrec-gateway"), ...gwArgs], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] })
    : spawn(join(ROOT, "bin", "evrec-gateway"), gwArgs, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  const loaders: ReturnType<typeof spawn>[] = [];
  const forget = onInterrupt(() => {
    for (const c of [...loaders, gw]) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    while (!existsSync(portsFile)) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 200));
    const ports = JSON.parse(readFileSync(portsFile, "utf8")) as { mqtt: number; http: number; pid: number };
    const api = new AdminApi(`http://127.0.0.1:${ports.http}`, readFileSync(join(dir, "gw", "admin.token"), "utf8").trim());
    let t = Date.now();
    for (let i = 0; i < n; i += 32) {
      await Promise.all(Array.from({ length: Math.min(32, n - i) }, (_, j) => api.registerDevice(id(i + j), Buffer.from(rootOf(seed, i + j)).toString("hex"))));
      if ((i / 32) % 100 === 0) process.stderr.write(`idle: registered ${i} of ${n}\r`);
    }
    console.log(`idle: ${n} devices registered in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 2000));
    const before = rssMib(ports.pid);
    t = Date.now();
    const per = Math.ceil(n / k);
    const results = await Promise.all(Array.from({ length: k }, (_, j) => new Promise<{ ok: number; failed: number }>((res, rej) => {
      const from = j * per, to = Math.min(n, from + per);
      const c = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test", "bench", "idle.bench.ts"), "--loader", String(ports.mqtt), String(from), String(to), seed], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
      loaders.push(c);
      c.stdout!.once("data", (b: Buffer) => res(JSON.parse(b.toString())));
      c.once("exit", (code) => rej(new Error(`loader exited ${code}`)));
    })));
    const ok = results.reduce((a, r) => a + r.ok, 0), failed = results.reduce((a, r) => a + r.failed, 0);
    const loginS = (Date.now() - t) / 1000;
    // Settled: every Hello answered and nothing left in flight.
    await new Promise((r) => setTimeout(r, 5000));
    const after = rssMib(ports.pid);
    console.log(`idle: ${ok} devices logged in and said Hello (${failed} failed) in ${loginS.toFixed(1)} s with ${k} loader processes`);
    // A few devices move RSS less than its own noise; the goal is judged at its own count.
    const perDevice = after > before ? `${(((after - before) * 1024) / Math.max(1, ok)).toFixed(1)} KiB per idle device` : "no growth RSS shows at this count";
    const goal = ok >= 20000 ? `goal: 20,000 under 1 GB in all: ${after < 1024 ? "met" : "not met"}` : "the goal, 20,000 under 1 GB in all, is judged with 20,000 devices";
    console.log(`idle: gateway RSS ${before.toFixed(0)} MiB before, ${after.toFixed(0)} MiB with them connected: ${perDevice} (${goal})`);
  } finally {
    forget();
    for (const c of loaders) c.kill("SIGKILL");
    gw.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 1000));
    gw.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--loader") await loader(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), process.argv[6]);
else await main();
