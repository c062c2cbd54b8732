// What the simulator's runner, its scenarios and its attacks share: the run's options and report,
// the context a scenario sees, the seeded choices and clip schedule, and the checks most scenarios
// make. Kept apart so that run.ts → scenarios.ts → attacks.ts import one way, with no circle.
import { mix32 } from "./imitation/rand.js";
import type { Rand } from "./imitation/rand.js";
import type { FaultProxy } from "./proxy.js";
import type { DeviceInfo, DeviceSpec, SimDevice } from "./types.js";
import type { AdminApi, RecordingRow } from "../client/admin-api.js";
import type { GatewayProcess } from "../client/gateway-process.js";

export interface SimOptions {
  devices: number;
  durationMs: number;
  scenario: string;
  seed: number;
  engine: "node" | "espruino";
  /**
   * mqtt://host:port of an outside gateway, or a region's NATS nodes' MQTT listeners as a
   * comma-separated list (each device starts at one, in turn); none: the simulator starts its own.
   */
  gateway?: string;
  /** Its admin API, or the region's office's (default http://<first gateway host>:8080), and admin token. */
  api?: string;
  token?: string;
  /** Media this many times faster than real time. */
  speed: number;
  chunk: number;
  /** Where the devices keep their upload queue: "sd" (default, an SD card through fs) or "flash"
   * (a board without one: Storage, 256 KiB shared with the code). */
  store?: "sd" | "flash";
  /** The firmware bundle (default dist/recorder.min.js, built when missing). */
  bundle: string;
  espruinoBin?: string;
  /** Working directory for the devices' flash and SD cards (default a temporary one, removed). */
  dir?: string;
  /** Test fault for the simulator's own gateway: every group commit waits this long (a starved gateway). */
  commitDelayMs?: number;
  onProgress?: (p: Progress) => void;
  log?: (line: string) => void;
}

export interface Progress {
  phase: string;
  elapsedMs: number;
  connected: number;
  devices: number;
  recordings: number;
  chunksSent: number;
  chunksAcked: number;
  rejected: number;
}

export interface RecordingResult extends RecordingRow {
  officer: string | null;
  cases: string | null;
}

export interface Report {
  scenario: string;
  engine: string;
  seed: number;
  devices: number;
  durationMs: number;
  wallMs: number;
  recordings: number;
  verdicts: Record<string, number>;
  interrupted: number;
  linked: number;
  chunks: number;
  bytes: number;
  lostChunks: number;
  /** The devices' connections lost, by the reason each device's console gave ("disconnected: CLOSED"), over its last 500 lines. */
  disconnects: Record<string, number>;
  alarms: string[];
  failures: string[];
  /** Per device; `console` is the tail of its console, kept only for a device that ended with an error or holding records. */
  perDevice: { id: string; recordings: number; queueDepth: number; storeFree: number; lastError: string; console?: string[] }[];
  resources: { rssMb: number; cpuS: number };
  ok: boolean;
}

/** What a scenario's schedule and checks see. */
export interface Ctx {
  opts: SimOptions;
  rand: Rand;
  devices: SimDevice[];
  specs: DeviceSpec[];
  proxies: FaultProxy[];
  caseNumbers: string[];
  /** Per device, the recording ids the scenario expects to see sealed as interrupted. */
  interrupted: Set<number>[];
  /** The simulator's own gateway (a child process), or null against an outside one. */
  gateway: GatewayProcess | null;
  api: AdminApi;
  sleep(ms: number): Promise<void>;
  /** Restart the embedded gateway on the same data directory and ports. */
  restartGateway(): Promise<void>;
  log(line: string): void;
  /** Attack outcomes the scenario records, checked by its expect(). */
  notes: Record<string, unknown>;
}

export interface Scenario {
  description: string;
  /** Restarts the gateway: only with the simulator's own. */
  needsEmbeddedGateway?: boolean;
  /** Per-device changes to the default spec (config, storage size). */
  setup?(spec: DeviceSpec, i: number, rand: Rand): Partial<DeviceSpec>;
  run(ctx: Ctx): Promise<void>;
  expect(ctx: Ctx, recs: RecordingResult[], infos: (DeviceInfo | null)[], alarms: string[]): string[];
}

/** Uniform in [0, 1) from the run's seeded stream (call it in a fixed order: not from concurrent tasks). */
export function uniform(r: Rand): number {
  return (r.next() >>> 0) / 4294967296;
}

/** Uniform in [0, 1) for device i and a purpose: the same seed gives the same choice, in any order. */
export function pick(ctx: Ctx, i: number, salt: number): number {
  return (mix32(mix32(ctx.opts.seed, i), salt) >>> 0) / 4294967296;
}

/**
 * Each device records clips until `endMs` (from now): record `onMs`, pause `offMs`, with a seeded
 * start offset so devices don't move in lockstep. `during(i, k)` runs in the middle of clip k.
 */
export async function clips(ctx: Ctx, endMs: number, onMs: number, offMs: number, during?: (i: number, k: number) => Promise<void>): Promise<void> {
  const end = Date.now() + endMs;
  const offsets = ctx.devices.map(() => Math.floor(uniform(ctx.rand) * offMs));
  await Promise.all(ctx.devices.map(async (d, i) => {
    await ctx.sleep(offsets[i]);
    for (let k = 0; Date.now() + onMs <= end; k++) {
      await d.press("record");
      if (during) {
        await ctx.sleep(onMs / 2);
        await during(i, k);
        await ctx.sleep(onMs / 2);
      } else await ctx.sleep(onMs);
      const info = await d.info().catch(() => null);
      if (info && info.state === "recording") await d.press("record");
      await ctx.sleep(offMs);
    }
  }));
}

/** A recording's reasons (JSON from the gateway) as " (CODE seq N: detail; ...)", or "". */
export function reasonText(json: unknown): string {
  if (!json) return "";
  let list: { code: string; seq?: number; detail?: string }[];
  if (Array.isArray(json)) list = json;
  else try { list = JSON.parse(String(json)); } catch { return ` (${String(json)})`; }
  if (!Array.isArray(list) || !list.length) return "";
  return ` (${list.map((x) => `${x.code}${x.seq !== undefined ? ` seq ${x.seq}` : ""}${x.detail ? `: ${x.detail}` : ""}`).join("; ")})`;
}

/**
 * The checks most scenarios share: each device powered on with nothing left to upload, as many
 * recordings at the gateway as it sealed (less those `deleted` on it: device indexes, one entry per
 * recording), each verified, interrupted exactly where expected, linked to an officer and a case.
 * `attacked` recordings ("<device>/<recording>") are left to an attack scenario's own checks.
 */
export function lossless(ctx: Ctx, recs: RecordingResult[], infos: (DeviceInfo | null)[], opts: { attacked?: string[]; deleted?: number[] } = {}): string[] {
  const f: string[] = [];
  const attacked = new Set(opts.attacked || []);
  ctx.devices.forEach((d, i) => {
    const info = infos[i];
    if (!info) { f.push(`${d.id}: powered off at the end`); return; }
    // Every record the device holds counts (starts and seals too): one holding only a seal has not drained.
    if (info.queueDepth !== 0) f.push(`${d.id}: ${info.queueDepth} records (starts, chunks, seals) still held, never acknowledged`);
    const mine = recs.filter((r) => r.device === d.id);
    const sealed = (info as unknown as { lastSealed: number }).lastSealed;
    const gone = (opts.deleted || []).filter((x) => x === i).length;
    if (mine.length !== sealed - gone) f.push(`${d.id}: device sealed ${sealed} recordings${gone ? ` (${gone} then deleted on it)` : ""}, gateway has ${mine.length}`);
    for (const r of mine) {
      const where = `${d.id}/${r.recording}`;
      if (attacked.has(where)) continue;
      if (r.verdict !== "verified") f.push(`${where}: verdict ${r.verdict}${reasonText(r.reasons)}`);
      const expectInt = ctx.interrupted[i].has(r.recording);
      if (!!r.interrupted !== expectInt) f.push(`${where}: interrupted=${r.interrupted}, expected ${expectInt ? 1 : 0}`);
      if (!r.officer) f.push(`${where}: not linked to an officer`);
      if (!(Array.isArray(r.cases) ? r.cases.length : r.cases)) f.push(`${where}: not linked to a case`);
    }
  });
  return f;
}
