// A Node host for the recorder core in tests: real TCP (test/firmware/node-net.ts), the queue on a
// directory with fsync (NodeStore, optionally wrapped in FaultyStore), Storage as a map that counts
// compactions, media that a test emits by hand, buttons a test presses.
import { mkdtempSync, rmSync } from "node:fs";
import { afterAll } from "vitest";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { deriveDeviceKeys } from "../../protocol/chain.js";
import { toHex } from "../../protocol/bytes.js";
import { MEDIA_PCM_8K_S16LE } from "../../protocol/constants.js";
import type { Host, KeyValue, MediaSource } from "../../firmware/core/host.js";
import { CONFIG_FILE, KEY_FILE, initialKeys } from "../../protocol/device-files.js";
import { FaultyStore, NodeStore } from "../../simulator/imitation/node-store.js";
import { nodeNet } from "./node-net.js";
import type { NodeTransport } from "./node-net.js";

/** Storage as a map; survives a "reboot" when the same object is handed to the next host. */
export class MemKv implements KeyValue {
  files = new Map<string, string>();
  compactions = 0;
  /** Set to make the next write fail (returns false). */
  failWrite = false;
  read(name: string): string | undefined { return this.files.get(name); }
  write(name: string, text: string): boolean {
    if (this.failWrite) { this.failWrite = false; return false; }
    this.files.set(name, text);
    return true;
  }
  erase(name: string): void { this.files.delete(name); }
  compact(): void { this.compactions++; }
  free(): number { return 200000; }
}

/** Media a test emits: chunk i is `bytes` bytes, every byte (i & 255), 1 s long. */
export class ManualMedia implements MediaSource {
  media = MEDIA_PCM_8K_S16LE;
  bytes = 0;
  running = false;
  emitted = 0;
  private cb: ((p: Uint8Array, d: number) => void) | null = null;
  start(bytes: number, cb: (p: Uint8Array, d: number) => void): void { this.bytes = bytes; this.cb = cb; this.running = true; }
  stop(): void { this.running = false; this.cb = null; }
  /** Emit one given payload (if running). */
  push(p: Uint8Array, durationMs: number): boolean {
    if (!this.running || !this.cb) return false;
    this.cb(p, durationMs);
    return true;
  }
  /** Emit `n` chunks (if running); returns how many went to the recorder. */
  emit(n = 1): number {
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (!this.running || !this.cb) break;
      const p = new Uint8Array(this.bytes).fill(++this.emitted & 255);
      this.cb(p, 1000);
      k++;
    }
    return k;
  }
}

export interface FakeHost {
  host: Host;
  kv: MemKv;
  store: FaultyStore;
  media: ManualMedia;
  net: NodeTransport;
  leds: string[];
  logs: string[];
  press(name: string): void;
  /** `fixed`/`up`, when set, are what now() and uptime() return (tests that need exact times). */
  clock: { offset: number; fixed: number | null; up: number | null };
}

// The SD-card directories made here are removed when the test file ends (each file imports its
// own copy of this module).
const madeDirs: string[] = [];
const made = (d: string): string => { madeDirs.push(d); return d; };
afterAll(() => { for (const d of madeDirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

/** A host over `dir` (the SD card) and `kv` (the flash); pass both again to "reboot". */
export function fakeHost(opts: { dir?: string; kv?: MemKv; capacity?: number } = {}): FakeHost {
  const dir = opts.dir || made(mkdtempSync(join(tmpdir(), "evrec-dev-")));
  const kv = opts.kv || new MemKv();
  const store = new FaultyStore(new NodeStore(dir, opts.capacity));
  const media = new ManualMedia();
  const net = nodeNet();
  const leds: string[] = [];
  const logs: string[] = [];
  const clock: FakeHost["clock"] = { offset: 0, fixed: null, up: null };
  const boot = Date.now();
  let onButton: (n: string) => void = () => {};
  const host: Host = {
    sha: nodeSha256,
    random: (n) => new Uint8Array(randomBytes(n)),
    now: () => clock.fixed !== null ? clock.fixed : Date.now() + clock.offset,
    setClock: (ms) => { clock.offset = ms - Date.now(); },
    uptime: () => clock.up !== null ? clock.up : Date.now() - boot,
    transport: net,
    kv,
    store,
    media,
    onButton: (fn) => { onButton = fn; },
    led: (p) => { leds.push(p); },
    battery: () => ({ mv: 3900, pct: 80 }),
    memory: () => 0,
    memFree: () => 1e9,
    memPeak: () => 0,
    log: (l) => { logs.push(l); if (process.env.REC_LOG) console.log(l); },
  };
  return { host, kv, store, media, net, leds, logs, press: (n) => onButton(n), clock };
}

/** Write rec.cfg and rec.key as provisioning would, for device `id` with `root`. */
export function provisionKv(kv: MemKv, id: string, root: Uint8Array, port: number, over: Record<string, unknown> = {}): void {
  const k = deriveDeviceKeys(nodeSha256, root);
  kv.write(CONFIG_FILE, JSON.stringify({ v: 1, id, host: "127.0.0.1", port, login: toHex(k.login), dl: toHex(k.downlinkKey), ctl: toHex(k.controlKey), chunk: 4096, pre: 0, status: 60, ...over }));
  kv.write(KEY_FILE, JSON.stringify(initialKeys(toHex(k.stateKey0))));
}

/** Wait until `pred` holds (polling), or throw with `what`. */
export async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}
