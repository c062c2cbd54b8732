// npm run demo: a gateway with sample units, officers and cases, and a small simulated fleet
// recording against it; verified clips are printed as they arrive (--help: its options).
import { mkdtempSync, rmSync } from "node:fs";
import { ensureBundle } from "../firmware/build/build.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GatewayProcess } from "../client/gateway-process.js";
import { AdminApi } from "../client/admin-api.js";
import { runSimulation } from "./run.js";
import { summary } from "./report.js";

const USAGE = `Usage: npm run demo -- [--devices N] [--duration 60s] [--mqtt-port P] [--http-port P]

Starts a gateway with sample units, officers and cases in a temporary data directory, and N
simulated recorders (the firmware bundle on the node engine) recording against it for the
duration; prints each clip the gateway verified, then the simulation's summary, and removes the
data directory. Ports are free ones unless given (0: any free port).
  --devices N      recorders, 1 to 50 (default 5)
  --duration D     how long they record, in seconds: 60 or 60s (default 60s)
  --mqtt-port P    the gateway's MQTT port (default: a free one)
  --http-port P    its API and console port (default: a free one)`;

const argv = process.argv.slice(2);
const KNOWN = new Set(["--devices", "--duration", "--mqtt-port", "--http-port"]);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
const usage = (why: string): never => {
  console.error(`demo: USAGE: ${why}\n${USAGE}`);
  process.exit(2);
};
const given = new Map<string, string>();
for (let i = 0; i < argv.length; i += 2) {
  if (!KNOWN.has(argv[i])) usage(`unknown option ${argv[i]}`);
  if (argv[i + 1] === undefined) usage(`${argv[i]} needs a value`);
  given.set(argv[i], argv[i + 1]);
}
const int = (name: string, d: number, lo: number, hi: number): number => {
  const v = given.get(name);
  if (v === undefined) return d;
  if (!/^[0-9]+$/.test(v) || Number(v) < lo || Number(v) > hi) usage(`${name} is a whole number from ${lo} to ${hi}, got ${JSON.stringify(v)}`);
  return Number(v);
};
const devices = int("--devices", 5, 1, 50);
const durationS = given.has("--duration") ? (/^[0-9]+s?$/.test(given.get("--duration")!) ? Number(given.get("--duration")!.replace(/s$/, "")) : usage(`--duration is seconds, as 60 or 60s, got ${JSON.stringify(given.get("--duration"))}`)) : 60;
if (durationS < 1) usage("--duration is at least 1 s");
const duration = durationS * 1000;
const mqttPort = int("--mqtt-port", 0, 0, 65535);
const httpPort = int("--http-port", 0, 0, 65535);

const bundle = await ensureBundle();

const dir = mkdtempSync(join(tmpdir(), "evrec-demo-"));
// The gateway as any outside tool starts it: its public command, as a child process.
const gw = await GatewayProcess.start({ dataDir: dir, logLevel: "warn", options: { mqttPort, httpPort, diskMinFreeMb: 1, beaconIntervalS: 15 } });
const token = gw.adminToken();
const api = new AdminApi(gw.apiUrl, token);
console.log(`demo: gateway up (pid ${gw.ports.pid}): MQTT on 127.0.0.1:${gw.ports.mqtt}, admin API on ${gw.apiUrl} (token in ${join(dir, "admin.token")})`);
console.log(`demo: ${devices} simulated recorders (the firmware bundle on the node engine) record clips for ${duration / 1000} s; each line below is a clip the gateway verified\n`);

const seen = new Set<string>();
const poll = setInterval(async () => {
  try {
    const rows = await api.recordings();
    const links = await api.call<{ device: string; recording: number; officer: string | null; cases: string | null }[]>("GET", "/api/recordings/links");
    for (const r of rows) {
      const k = `${r.device}/${r.recording}`;
      if (r.verdict !== "verified" || seen.has(k)) continue;
      seen.add(k);
      const l = links.find((x) => x.device === r.device && x.recording === r.recording);
      console.log(`  verified  ${k.padEnd(14)} ${String(r.chunks).padStart(3)} chunks  ${(r.bytes / 1024).toFixed(0).padStart(5)} KiB  officer ${l?.officer || "-"}  case ${l?.cases || "-"}${r.interrupted ? "  (interrupted)" : ""}`);
    }
  } catch { /* the next poll tries again */ }
}, 1000);

try {
  const report = await runSimulation({
    devices, durationMs: duration, scenario: "steady", seed: 1, engine: "node", speed: 1, chunk: 8192, bundle,
    gateway: gw.mqttUrl, api: gw.apiUrl, token,
  });
  await new Promise((r) => setTimeout(r, 1500));
  console.log("\n" + summary(report));
  process.exitCode = report.ok ? 0 : 1;
} finally {
  clearInterval(poll);
  await gw.stop();
  rmSync(dir, { recursive: true, force: true });
}
