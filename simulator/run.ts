// One simulation run: a gateway (embedded, or an outside one through its admin API), a fleet of
// devices on an engine, a scenario's schedule of recordings and faults, then the checks: the
// verdicts of DESIGN.md section 6 per recording, against what the scenario says the gateway must
// end up reporting.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toHex } from "../protocol/bytes.js";
import { makeDir } from "../protocol/make-dir.js";
import { GatewayProcess } from "../client/gateway-process.js";
import { AdminApi } from "../client/admin-api.js";
import type { RecordingRow } from "../client/admin-api.js";
import { FaultProxy } from "./proxy.js";
import type { Upstream } from "./proxy.js";
import { Rand } from "./imitation/rand.js";
import { NodeEngine } from "./engines/node.js";
import { SCENARIOS } from "./scenarios.js";
import type { Ctx, RecordingResult, Report, Scenario, SimOptions } from "./scenario-kit.js";

export type { Progress, Report, SimOptions } from "./scenario-kit.js";
export { lossless, reasonText } from "./scenario-kit.js";
import type { DeviceInfo, DeviceSpec, Engine, SimDevice } from "./types.js";

/** Console lines kept in the report for a device that ended with an error. */
const CONSOLE_TAIL = 30;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Device ids: unique per run (an outside gateway keeps earlier runs' devices), 16 chars at most. */
function runTag(seed: number): string {
  return "S" + (Date.now() % 1679616).toString(36).padStart(4, "0") + (seed % 36).toString(36);
}

/** `--gateway`: one mqtt://host:port, or a region's NATS MQTT listeners as a comma-separated list of them. */
export function mqttUpstreams(list: string): Upstream[] {
  return list.split(",").map((one) => {
    let u: URL | null = null;
    try { u = new URL(one.trim()); } catch { /* said below */ }
    if (!u || u.protocol !== "mqtt:" || !u.hostname) throw new Error(`SIM_USAGE: --gateway: ${JSON.stringify(one.trim())} is not mqtt://host:port (a region's nodes: mqtt://a:1883,mqtt://b:1883)`);
    return { host: u.hostname, port: Number(u.port || 1883) };
  });
}

export async function runSimulation(o: SimOptions): Promise<Report> {
  const scenario: Scenario | undefined = SCENARIOS[o.scenario];
  if (!scenario) throw new Error(`SIM_SCENARIO: unknown scenario ${JSON.stringify(o.scenario)}; one of ${Object.keys(SCENARIOS).join(", ")}`);
  if (scenario.needsEmbeddedGateway && o.gateway) throw new Error(`SIM_SCENARIO: ${o.scenario} restarts the gateway, so it runs against the simulator's own (leave out --gateway)`);
  const log = o.log || (() => {});
  const started = Date.now();
  const cpu0 = process.cpuUsage();
  const work = o.dir || mkdtempSync(join(tmpdir(), "evrec-sim-"));
  // A --keep directory made at once (a refusal said now, not a hang in a device's first mkdir below it).
  if (o.dir) {
    try { makeDir(o.dir, 0o700); } catch (e) { throw new Error(`SIM_KEEP_DIR: --keep ${o.dir} can't be made: ${(e as Error).message}`); }
  }
  const cleanups: (() => Promise<void> | void)[] = [];

  // ---- gateway ----
  let gateway: GatewayProcess | null = null;
  // Where the devices' proxies connect: the gateway's MQTT listener, or a region's NATS nodes'.
  let upstreams: Upstream[] = [], apiBase = o.api || "", token = o.token || "";
  const gwDir = join(work, "gateway");
  const startOwn = async (ports?: { mqtt: number; http: number }) => {
    // Like any outside tool: the gateway's public command, as a child process; its log with EVREC_SIM_GATEWAY_LOG.
    makeDir(gwDir, 0o700);
    gateway = await GatewayProcess.start({
      dataDir: gwDir, logLevel: process.env.EVREC_SIM_GATEWAY_LOG || "silent",
      options: { mqttPort: ports ? ports.mqtt : 0, httpPort: ports ? ports.http : 0, diskMinFreeMb: 1, beaconIntervalS: 30, maxClients: Math.max(2000, o.devices * 2 + 10), ratePerSecond: 1000, rateBurst: 2000, faultCommitDelayMs: o.commitDelayMs || 0 },
    });
    upstreams = [{ host: "127.0.0.1", port: gateway.ports.mqtt }];
    apiBase = gateway.apiUrl;
  };
  if (o.gateway) {
    upstreams = mqttUpstreams(o.gateway);
    apiBase = apiBase || `http://${upstreams[0].host}:8080`;
    if (!token) throw new Error("SIM_TOKEN: an outside gateway needs an admin token: --token or --token-file (a fresh `npm start` writes data/admin.token)");
  } else {
    await startOwn();
    token = readFileSync(join(gwDir, "admin.token"), "utf8").trim();
    cleanups.push(async () => { if (gateway) await gateway.stop(); });
  }
  const api = new AdminApi(apiBase, token, { codes: { down: "SIM_GATEWAY_DOWN", auth: "SIM_GATEWAY_AUTH", refused: "SIM_GATEWAY" } });

  // ---- seed the station: a unit, an officer per device, cases; register and check out ----
  const rand = new Rand(o.seed, 7);
  const tag = runTag(o.seed);
  const unitName = `Simulated unit ${tag}`;
  const unit = await api.addUnit(unitName, "agency");
  const caseNumbers: string[] = [];
  const nCases = Math.max(1, Math.min(20, Math.ceil(o.devices / 5)));
  for (let i = 0; i < nCases; i++) {
    const number = `${tag}-C${i + 1}`;
    await api.addCase({ number, unitId: unit.id, category: "inspection", activityKind: "on_site_inspection", windowStart: Date.now() - 86400000, windowEnd: Date.now() + 7 * 86400000 });
    caseNumbers.push(number);
  }
  const specs: DeviceSpec[] = [];
  for (let i = 0; i < o.devices; i++) {
    const id = `${tag}-${i}`;
    const root = new Uint8Array(32);
    for (let j = 0; j < 32; j += 4) { const v = rand.next(); root[j] = v & 255; root[j + 1] = (v >>> 8) & 255; root[j + 2] = (v >>> 16) & 255; root[j + 3] = v >>> 24; }
    await api.registerDevice(id, toHex(root));
    await api.addOfficer({ badge: `${tag}-B${i}`, name: `Officer ${i + 1}`, unitId: unit.id, role: "enforcement", certNo: `SIM${i}`, certValidFrom: "2020-01-01", certValidTo: "2099-12-31" });
    await api.checkOut(id, `${tag}-B${i}`);
    specs.push({ id, root, host: "127.0.0.1", port: 0, chunk: o.chunk, pre: 0, caseTag: caseNumbers[i % nCases], sdBytes: o.store === "flash" ? -1 : 0, seed: (o.seed * 1000003 + i) >>> 0, speed: o.speed, dir: join(work, "dev", id) });
  }
  log(`seeded unit ${unitName}, ${o.devices} officers and devices, ${nCases} cases`);

  // ---- per-device proxies, engine, devices ----
  const proxies: FaultProxy[] = [];
  for (const [i, s] of specs.entries()) {
    // Device i starts at upstream i (of a region's nodes, each its share), then the next in turn.
    const ring = upstreams.map((_, k) => upstreams[(i + k) % upstreams.length]);
    const p = new FaultProxy(ring[0].host, ring[0].port, ring.slice(1));
    s.port = await p.listen();
    proxies.push(p);
  }
  cleanups.push(async () => { for (const p of proxies) await p.close(); });
  for (let i = 0; i < specs.length; i++) if (scenario.setup) Object.assign(specs[i], scenario.setup(specs[i], i, rand));

  const bundle = readFileSync(o.bundle, "utf8");
  let engine: Engine;
  const options = { resendMs: 5000, helloWaitMs: 1000 };
  if (o.engine === "espruino") {
    if (!o.espruinoBin) throw new Error("SIM_ENGINE: --engine espruino needs an interpreter: set ESPRUINO_BIN or put espruino-linux on the PATH");
    // Loaded only for this engine (it spawns interpreter processes).
    const where = "./engines/espruino.js";
    const mod = (await import(where)) as { EspruinoEngine: new (o: { bin: string; bundle: string }) => Engine };
    engine = new mod.EspruinoEngine({ bin: o.espruinoBin, bundle });
  } else engine = new NodeEngine(bundle, options);
  cleanups.push(() => engine.close());

  const devices: SimDevice[] = [];
  let gwRef: () => GatewayProcess | null = () => gateway;
  const ctx: Ctx = {
    opts: o, rand, devices, specs, proxies, caseNumbers, interrupted: specs.map(() => new Set<number>()),
    get gateway() { return gwRef(); }, api, sleep, log, notes: {},
    restartGateway: async () => {
      if (!gateway) throw new Error("restartGateway: not the simulator's own gateway");
      const ports = { mqtt: gateway.ports.mqtt, http: gateway.ports.http };
      await gateway.stop();
      gateway = null;
      await sleep(500);
      await startOwn(ports);
    },
  } as Ctx;

  let last: DeviceInfo[] = [];
  let polling = false;
  const progress = async (phase: string) => {
    // One poll at a time: with 1,000 devices a poll can take longer than the period.
    if (!o.onProgress || polling) return;
    polling = true;
    try { await poll(phase); } finally { polling = false; }
  };
  const poll = async (phase: string) => {
    if (!o.onProgress) return;
    const infos = await Promise.all(devices.map((d) => d.info().catch(() => null)));
    last = infos.filter((x): x is DeviceInfo => !!x);
    const rows = await api.recordings().catch(() => [] as RecordingRow[]);
    const mine = rows.filter((r) => r.device.startsWith(tag + "-"));
    o.onProgress({
      phase, elapsedMs: Date.now() - started, devices: devices.length, connected: last.filter((i) => i.link === "up").length,
      recordings: mine.length, chunksSent: last.reduce((a, i) => a + (i.published || 0), 0), chunksAcked: mine.reduce((a, r) => a + r.chunks, 0),
      rejected: last.reduce((a, i) => a + (i.downlinkRejected || 0), 0),
    });
  };

  try {
    // Devices come up in batches, so 1,000 of them don't all connect in the same millisecond.
    for (let i = 0; i < specs.length; i++) {
      devices.push(await engine.create(specs[i]));
      if (i % 50 === 49) await sleep(50);
    }
    log(`${devices.length} devices on the ${engine.name} engine`);
    const ticker = setInterval(() => { void progress("running"); }, o.devices > 200 ? 5000 : 1000);
    try {
      await scenario.run(ctx);
      // Settle: stop what records, heal the network, wait until every device's queue is empty.
      for (const p of proxies) { p.partition(false); p.delayMs = 0; }
      await Promise.all(devices.map(async (d) => { const i = await d.info().catch(() => null); if (i && i.state === "recording") await d.press("record"); }));
      const deadline = Date.now() + Math.max(60000, o.devices * 100);
      for (;;) {
        const infos = await Promise.all(devices.map((d) => d.info().catch(() => null)));
        if (infos.every((i) => i && i.queueDepth === 0 && i.state !== "recording")) break;
        if (Date.now() > deadline) { log("settle: timed out with chunks still queued on devices"); break; }
        await sleep(500);
      }
      await sleep(500);
    } finally {
      clearInterval(ticker);
    }
    await progress("done");

    // ---- results ----
    const infos = await Promise.all(devices.map((d) => d.info().catch(() => null)));
    const rows = (await api.recordings()).filter((r) => r.device.startsWith(tag + "-"));
    const links = await api.call<{ device: string; recording: number; officer: string | null; cases: string | null }[]>("GET", "/api/recordings/links");
    const linkOf = new Map(links.map((l) => [`${l.device}/${l.recording}`, l]));
    const recs: RecordingResult[] = rows.map((r) => ({ ...r, officer: linkOf.get(`${r.device}/${r.recording}`)?.officer ?? null, cases: linkOf.get(`${r.device}/${r.recording}`)?.cases ?? null }));
    const alarms = (await api.alarms()).filter((a) => a.subject.startsWith(tag + "-")).map((a) => `${a.kind} ${a.subject}`);
    const failures = scenario.expect(ctx, recs, infos, alarms);
    const verdicts: Record<string, number> = {};
    for (const r of recs) verdicts[r.verdict] = (verdicts[r.verdict] || 0) + 1;
    const lost = infos.reduce((a, i) => a + (i ? i.queueDepth : 0), 0);
    const disconnects: Record<string, number> = {};
    for (const d of devices) {
      for (const line of d.logs()) {
        const m = /disconnected: (\S+)/.exec(line);
        if (m) disconnects[m[1]] = (disconnects[m[1]] || 0) + 1;
      }
    }
    const cpu = process.cpuUsage(cpu0);
    const report: Report = {
      scenario: o.scenario, engine: engine.name, seed: o.seed, devices: o.devices, durationMs: o.durationMs, wallMs: Date.now() - started,
      recordings: recs.length, verdicts, interrupted: recs.filter((r) => r.interrupted).length,
      linked: recs.filter((r) => r.officer && r.cases).length, chunks: recs.reduce((a, r) => a + r.chunks, 0), bytes: recs.reduce((a, r) => a + r.bytes, 0),
      lostChunks: lost, disconnects, alarms, failures,
      perDevice: devices.map((d, i) => {
        const lastError = infos[i] ? infos[i]!.lastError : "powered off";
        const queueDepth = infos[i] ? infos[i]!.queueDepth : -1;
        // The console tail of a device that ended with an error, or still holding what it recorded.
        return { id: d.id, recordings: recs.filter((r) => r.device === d.id).length, queueDepth, storeFree: infos[i] ? infos[i]!.storeFree : -1, lastError,
          ...(lastError || queueDepth !== 0 ? { console: d.logs().slice(-CONSOLE_TAIL) } : {}) };
      }),
      resources: { rssMb: Math.round(process.memoryUsage().rss / 1048576), cpuS: Math.round((cpu.user + cpu.system) / 1e5) / 10 },
      ok: failures.length === 0,
    };
    return report;
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    if (!o.dir) rmSync(work, { recursive: true, force: true });
    gwRef = () => null;
  }
}
