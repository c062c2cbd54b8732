// npm run sim -- --devices N --duration 60s --scenario NAME --seed S --engine node|espruino
//               [--gateway mqtt://host:port --api http://host:port --token T | --token-file F]
//               [--speed X] [--chunk BYTES] [--store sd|flash] [--report file.json] [--keep DIR]
//               [--commit-delay MS]
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { espruinoBin } from "../scripts/espruino-gate.mjs";
import { ensureBundle } from "../firmware/build/build.js";
import { runSimulation } from "./run.js";
import type { Progress } from "./run.js";
import { summary } from "./report.js";
import { SCENARIOS } from "./scenarios.js";
import { argPath } from "../protocol/shell-path.js";

const HELP = `npm run sim -- [options]

A fleet of simulated recorders running the firmware bundle against a gateway, with a scenario's
faults and attacks; exits non-zero when the gateway's verdicts are not what the scenario expects.

  --devices N          devices (default 10)
  --duration T         scenario length: 30s, 2m, 1500ms (default 30s)
  --scenario NAME      ${Object.keys(SCENARIOS).join(", ")} (default steady)
  --seed S             same seed, same media, fault schedule and expected verdicts (default 1)
  --engine E           node (default: the bundle in this process) or espruino (one real
                       interpreter per device: ESPRUINO_BIN or espruino-linux on the PATH)
  --gateway URL        mqtt://host:port of a running gateway (default: start one here); a region's
                       NATS nodes as mqtt://a:1883,mqtt://b:1883,...: each device starts at one,
                       in turn, and connects to the next when that one refuses
  --api URL            its admin API, or the region's office's (default http://<gateway host>:8080)
  --token T            admin token; or --token-file F (default data/admin.token when --gateway is given)
  --speed X            media X times faster than real time (default 1)
  --chunk BYTES        chunk size (default 8192)
  --store sd|flash     where devices queue uploads: an SD card (default) or, as on a board
                       without one, Storage (internal flash, 256 KiB shared with the code)
  --report FILE        write the summary as JSON
  --keep DIR           keep the devices' flash and SD cards (and the embedded gateway's data) in DIR
  --commit-delay MS    slow every group commit of the simulator's own gateway by MS (a starved
                       gateway; a test fault, never set in service)
  --quiet              no progress bar
`;

function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new Error(`SIM_USAGE: --duration ${JSON.stringify(s)}: give e.g. 30s, 2m, 1500ms`);
  const n = Number(m[1]);
  return Math.round(n * ({ ms: 1, s: 1000, m: 60000, h: 3600000 } as Record<string, number>)[m[2] || "s"]);
}

function args(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`SIM_USAGE: unexpected ${JSON.stringify(a)} (see --help)`);
    const eq = a.indexOf("=");
    if (eq > 0) { out[a.slice(2, eq)] = a.slice(eq + 1); continue; }
    const k = a.slice(2);
    if (k === "help" || k === "quiet") { out[k] = "1"; continue; }
    if (i + 1 >= argv.length) throw new Error(`SIM_USAGE: --${k} needs a value`);
    out[k] = argv[++i];
  }
  const known = ["devices", "duration", "scenario", "seed", "engine", "gateway", "api", "token", "token-file", "speed", "chunk", "store", "report", "keep", "help", "quiet", "commit-delay"];
  for (const k of Object.keys(out)) if (!known.includes(k)) throw new Error(`SIM_USAGE: unknown option --${k} (see --help)`);
  return out;
}

function bar(p: Progress, total: number): string {
  const frac = Math.min(1, p.elapsedMs / total);
  const w = 24;
  const fill = Math.round(frac * w);
  return `[${"#".repeat(fill)}${".".repeat(w - fill)}] ${String(Math.round(p.elapsedMs / 1000)).padStart(4)}s ${p.phase.padEnd(7)} connected ${p.connected}/${p.devices}  recordings ${p.recordings}  chunks sent ${p.chunksSent} acked ${p.chunksAcked}  rejected ${p.rejected}`;
}

async function main(): Promise<number> {
  const a = args(process.argv.slice(2));
  if (a.help) { process.stdout.write(HELP); return 0; }
  const engine = (a.engine || "node") as "node" | "espruino";
  if (engine !== "node" && engine !== "espruino") throw new Error(`SIM_USAGE: --engine node or espruino, not ${JSON.stringify(a.engine)}`);
  const devices = Number(a.devices || 10);
  if (!Number.isInteger(devices) || devices < 1 || devices > 5000) throw new Error("SIM_USAGE: --devices must be 1..5000");
  let token = a.token;
  if (!token && a.gateway) {
    const f = a["token-file"] ? argPath(a["token-file"]) : "data/admin.token";
    if (!existsSync(f)) throw new Error(`SIM_TOKEN: no token file ${f}; a fresh \`npm start\` writes one in its data directory, or pass --token`);
    token = readFileSync(f, "utf8").trim();
  }
  const store = a.store || "sd";
  if (store !== "sd" && store !== "flash") throw new Error(`SIM_USAGE: --store sd or flash, not ${JSON.stringify(a.store)}`);
  const bundle = await ensureBundle(); // dist/recorder.min.js, built when missing
  const durationMs = parseDuration(a.duration || "30s");
  const commitDelayMs = Number(a["commit-delay"] || 0);
  if (!Number.isInteger(commitDelayMs) || commitDelayMs < 0) throw new Error("SIM_USAGE: --commit-delay must be a whole number of ms");
  if (commitDelayMs && a.gateway) throw new Error("SIM_USAGE: --commit-delay slows the simulator's own gateway; start an outside one with --fault-commit-delay-ms instead");
  const tty = process.stderr.isTTY && !a.quiet;
  let lastLine = 0;
  const report = await runSimulation({
    devices, durationMs, scenario: a.scenario || "steady", seed: Number(a.seed || 1), engine,
    gateway: a.gateway, api: a.api, token, speed: Number(a.speed || 1), chunk: Number(a.chunk || 8192), store, bundle,
    espruinoBin: espruinoBin(true), dir: a.keep ? argPath(a.keep) : undefined, commitDelayMs,
    onProgress: a.quiet ? undefined : (p) => {
      if (tty) process.stderr.write("\r" + bar(p, durationMs) + "\x1b[K");
      else if (Date.now() - lastLine > 5000 || p.phase === "done") { lastLine = Date.now(); console.error(bar(p, durationMs)); }
    },
    log: (l) => { if (tty) process.stderr.write("\r\x1b[K"); console.error("sim: " + l); },
  });
  if (tty) process.stderr.write("\n");
  console.log(summary(report));
  if (a.report) writeFileSync(argPath(a.report), JSON.stringify(report, null, 2));
  return report.ok ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  console.error(String((e as Error).message || e));
  process.exit(2);
});
