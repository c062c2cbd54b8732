// The node engine: every simulated device is the firmware bundle's recorder (Recorder.start), all in
// this one process and one JavaScript context, each on its own imitation of the Espruino APIs
// (simulator/imitation/espruino-env.ts): Storage in a flash file, fs on a directory as SD card, real
// TCP, its own timers and clock. The bundle is evaluated once; a context per device would cost
// gigabytes at 1,000 devices.
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { toHex } from "../../protocol/bytes.js";
import { deriveDeviceKeys } from "../../protocol/chain.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { CONFIG_FILE, KEY_FILE, initialKeys } from "../../protocol/device-files.js";
import type { RecorderApi, RecorderConsole } from "../../firmware/api.js";
import { createEnv, envLayout } from "../imitation/espruino-env.js";
import type { DeviceHandle } from "../imitation/espruino-env.js";
import type { DeviceInfo, DeviceMedia, DeviceSpec, Engine, SimDevice } from "../types.js";

/** The bundle's API and its recorder: the names the build's minifier keeps (firmware/api.ts, types only). */
type BundleApi = RecorderApi;
type BundleRecorder = RecorderConsole;

/** Evaluate the bundle text once, without booting, and return its `Recorder` global. */
export function loadBundle(code: string): BundleApi {
  const g = globalThis as unknown as { Recorder?: BundleApi };
  const before = g.Recorder;
  // The bundle sets `global.Recorder`; Node's `global` is globalThis. It is read back and the
  // global restored, so two engines (two bundles) can live in one process.
  new Function("RECORDER_NO_BOOT", "RECORDER_TEXT", code)(1, code);
  const api = g.Recorder as BundleApi;
  g.Recorder = before;
  if (!api || typeof api.start !== "function") throw new Error("the firmware bundle did not define Recorder.start");
  return api;
}

/**
 * Where a spec's firmware keeps its upload queue, whatever the engine: `sdBytes` -1 is `"sd": 0` in
 * rec.cfg (configFiles), a board without an SD card, whose queue is in Storage.
 */
export function queueStoreOf(spec: DeviceSpec): DeviceMedia["queue"] {
  return spec.sdBytes < 0 ? "storage" : "card";
}

/** rec.cfg and rec.key for a spec, as provisioning writes them. */
export function configFiles(spec: DeviceSpec, media: string): { cfg: string; key: string } {
  const k = deriveDeviceKeys(nodeSha256, spec.root);
  const cfg: Record<string, unknown> = {
    v: 1, id: spec.id, host: spec.host, port: spec.port, login: toHex(k.login), dl: toHex(k.downlinkKey), ctl: toHex(k.controlKey),
    chunk: spec.chunk, pre: spec.pre, status: 30, case: spec.caseTag, media,
  };
  if (spec.sdBytes) cfg.sd = queueStoreOf(spec) === "storage" ? 0 : spec.sdBytes; // 0: no SD card, the queue in Storage
  return { cfg: JSON.stringify(cfg), key: JSON.stringify(initialKeys(toHex(k.stateKey0))) };
}

class NodeDevice implements SimDevice {
  handle: DeviceHandle | null = null;
  rec: BundleRecorder | null = null;
  private past: string[] = [];
  /** createEnv's layout: `espruino.flash` and `sd/` in the device's directory. */
  readonly media: DeviceMedia;
  constructor(private api: BundleApi, private spec: DeviceSpec, private options: Record<string, number>) {
    this.media = { ...envLayout(resolve(spec.dir)), queue: queueStoreOf(spec) };
  }
  get id(): string { return this.spec.id; }

  async boot(): Promise<void> {
    const { env, device } = createEnv({ dir: this.spec.dir, seed: this.spec.seed, name: this.spec.id, media: { speed: this.spec.speed } });
    this.handle = device;
    this.rec = this.api.start(env, this.options);
  }
  async press(name: "record" | "marker"): Promise<void> {
    if (this.handle) this.handle.press(name);
  }
  async info(): Promise<DeviceInfo> {
    if (!this.rec || !this.handle || this.handle.dead) throw new Error(`${this.spec.id} is powered off`);
    return this.rec.info() as unknown as DeviceInfo;
  }
  async powerCut(): Promise<void> {
    if (!this.handle) return;
    this.past.push(...this.handle.logs());
    this.handle.powerCut({ silent: true });
    this.handle = null;
    this.rec = null;
  }
  async clock(skewMs: number, toMs?: number): Promise<void> {
    if (!this.handle) return;
    if (toMs !== undefined) this.handle.clock.reset(toMs);
    else this.handle.clock.skew(skewMs);
  }
  logs(): string[] {
    return this.past.concat(this.handle ? this.handle.logs() : []).slice(-500);
  }
  async close(): Promise<void> {
    if (this.handle && !this.handle.dead) {
      if (this.rec) this.rec.halt();
      this.handle.kill();
    }
    this.handle = null;
    this.rec = null;
  }
}

export class NodeEngine implements Engine {
  readonly name = "node";
  private api: BundleApi;
  private devices: NodeDevice[] = [];
  constructor(bundle: string, private options: Record<string, number> = {}) {
    this.api = loadBundle(bundle);
  }
  async create(spec: DeviceSpec): Promise<SimDevice> {
    mkdirSync(spec.dir, { recursive: true });
    // First power-up: write the provisioning files into the device's flash.
    const { env, device } = createEnv({ dir: spec.dir, seed: spec.seed, name: spec.id, media: false });
    const f = configFiles(spec, "mic");
    if (!env.Storage.read(CONFIG_FILE)) {
      env.Storage.write(CONFIG_FILE, f.cfg);
      env.Storage.write(KEY_FILE, f.key);
    }
    device.kill();
    const d = new NodeDevice(this.api, spec, this.options);
    await d.boot();
    this.devices.push(d);
    return d;
  }
  async close(): Promise<void> {
    for (const d of this.devices) await d.close();
    this.devices = [];
  }
}
