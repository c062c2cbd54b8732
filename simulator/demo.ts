// npm run demo: a gateway with sample units, officers and cases, and a small simulated fleet
// recording against it; verified clips are printed as they arrive. [--devices N] [--duration 60s]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { ensureBundle } from "../firmware/build/build.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startGateway } from "../gateway/gateway.js";
import { DEFAULTS } from "../gateway/config.js";
import { createLogger } from "../gateway/log.js";
import { GatewayApi } from "./api.js";
import { runSimulation } from "./run.js";
import { summary } from "./report.js";

const argv = process.argv.slice(2);
const opt = (name: string, d: string) => { const i = argv.indexOf("--" + name); return i >= 0 && argv[i + 1] ? argv[i + 1] : d; };
const devices = Number(opt("devices", "5"));
const duration = Number(opt("duration", "60s").replace(/s$/, "")) * 1000;

const bundle = await ensureBundle();

const dir = mkdtempSync(join(tmpdir(), "evrec-demo-"));
const gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 15 }, createLogger("warn"));
const token = readFileSync(join(dir, "admin.token"), "utf8").trim();
const api = new GatewayApi(`http://127.0.0.1:${gw.httpPort}`, token);
console.log(`demo: gateway up: MQTT on 127.0.0.1:${gw.mqttPort}, admin API on http://127.0.0.1:${gw.httpPort} (token in ${join(dir, "admin.token")})`);
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
    gateway: `mqtt://127.0.0.1:${gw.mqttPort}`, api: `http://127.0.0.1:${gw.httpPort}`, token,
  });
  await new Promise((r) => setTimeout(r, 1500));
  console.log("\n" + summary(report));
  process.exitCode = report.ok ? 0 : 1;
} finally {
  clearInterval(poll);
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
}
