// npm run demo: a gateway with sample units, officers and cases, and a small simulated fleet
// recording against it; verified clips are printed as they arrive. [--devices N] [--duration 60s]
import { mkdtempSync, rmSync } from "node:fs";
import { ensureBundle } from "../firmware/build/build.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GatewayProcess } from "../client/gateway-process.js";
import { AdminApi } from "../client/admin-api.js";
import { runSimulation } from "./run.js";
import { summary } from "./report.js";

const argv = process.argv.slice(2);
const opt = (name: string, d: string) => { const i = argv.indexOf("--" + name); return i >= 0 && argv[i + 1] ? argv[i + 1] : d; };
const devices = Number(opt("devices", "5"));
const duration = Number(opt("duration", "60s").replace(/s$/, "")) * 1000;

const bundle = await ensureBundle();

const dir = mkdtempSync(join(tmpdir(), "evrec-demo-"));
// The gateway as any outside tool starts it: its public command, as a child process.
const gw = await GatewayProcess.start({ dataDir: dir, logLevel: "warn", options: { mqttPort: 0, httpPort: 0, diskMinFreeMb: 1, beaconIntervalS: 15 } });
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
