// The node engine's EspruinoEnv (firmware/hosts/env.ts): one simulated device's imitation of the
// Espruino interpreter's modules and globals, for running the firmware bundle unmodified, many
// devices in one Node process and one JS context. createEnv gives the env the bundle's factory is
// called with, and a DeviceHandle through which a test or the fleet plays the world around it:
// power cuts, buttons, clock trouble, network faults.
//
// Fidelity: behaviour was measured on the Linux interpreter (2v29) and is reproduced where a
// firmware could depend on it (each part's header lists what). Where the Linux interpreter and a
// board differ, the imitation follows the board and says so: net.connect reports a refused
// connection as an event (the Linux build throws), setTime sets the clock (a no-op on the Linux
// build), E.hwRand gives any 32-bit signed value (the Linux build gives 0..2^31-1, from rand()).
// Anything the firmware reaches beyond the imitated API fails loudly (strict.ts).
//
// Layout of a device directory: `espruino.flash` (Storage, the interpreter's own format) and `sd/`
// (what fs and E.openFile see). A new env on the same directory is the same device after a reboot.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { EspCrypto, EspE, EspruinoEnv } from "../../firmware/hosts/env.js";
import { binaryOf, bytesOf, dataBytes, ownBytes } from "./binary.js";
import { FLASH_BYTES, FLASH_FILE, Flash, storageModule } from "./flash.js";
import { SyntheticMedia, type SyntheticMediaOptions } from "./media.js";
import { SimNet, netModule } from "./net.js";
import { Rand, STREAM_HWRAND } from "./rand.js";
import { type ClockOptions, DeviceClock, Life, type Scheduler, Timers, nodeScheduler } from "./runtime.js";
import { type Faults, SdCard, fsModule, openFileOn } from "./sdcard.js";
import { strict } from "./strict.js";

export type { Faults } from "./sdcard.js";
export type { ClockOptions, Scheduler } from "./runtime.js";
export { PowerLoss } from "./runtime.js";

/** Where createEnv keeps a device's Storage and SD card in its directory (the node engine's layout). */
export function envLayout(dir: string): { flash: string; card: string } {
  return { flash: path.join(dir, FLASH_FILE), card: path.join(dir, "sd") };
}

export interface EnvOptions {
  /** The device's directory (created if missing). */
  dir: string;
  /** Seeds E.hwRand and the synthetic media: the same seed repeats the same run. */
  seed: number;
  /** Label in log lines (default: the directory's name). */
  name?: string;
  faults?: Faults;
  clock?: ClockOptions;
  /** Where timers run (default Node's); a virtual-time scheduler can be injected. */
  scheduler?: Scheduler;
  /** The synthetic microphone as env.board.media (default: on, real time); false for none. */
  media?: SyntheticMediaOptions | false;
  /** No SD card: env.fs is null and E.openFile refuses, as on a board without one. */
  noSd?: boolean;
  /** Storage capacity in bytes (default 256 KiB, the Linux interpreter's). */
  storageBytes?: number;
  /** Log ring size per device (default 200 lines) and whether to print lines as they come. */
  log?: { lines?: number; echo?: boolean };
  /** Battery at start, percent (default 100). */
  batteryPct?: number;
}

/** The world's side of one simulated device. */
export interface DeviceHandle {
  readonly name: string;
  readonly dir: string;
  readonly dead: boolean;
  /** Mutable: arm a fault at any time (`device.faults.tearNextWrite = 10`). */
  faults: Faults;
  /**
   * Power loss: applies the faults (dropUnsynced), clears every timer, ends every socket (silent:
   * the peer is told nothing, as when a board browns out) and makes every API throw PowerLoss.
   */
  powerCut(opts?: { silent?: boolean }): void;
  /** The process dies but the OS survives: as powerCut without losing unsynced writes. */
  kill(): void;
  clock: {
    /** Device time in ms since 1970. */
    nowMs(): number;
    skew(ms: number): void;
    reset(toMs: number): void;
    drift(ppm: number): void;
  };
  net: {
    partition(on: boolean): void;
    dropAll(): void;
    delay(ms: number): void;
    /** Connections not closed yet. */
    readonly open: number;
    readonly txBytes: number;
    readonly rxBytes: number;
  };
  /** Presses a button; false when nothing is watching the buttons or the device is dead. */
  press(button: "record" | "marker"): boolean;
  /** The latest LED pattern ("" before any), and the recent ones. */
  readonly led: string;
  readonly ledHistory: string[];
  battery: { read(): { mv: number; pct: number }; set(pct: number): void };
  /** The synthetic microphone (env.board.media), or null. */
  media: SyntheticMedia | null;
  /** The device's recent log lines. */
  logs(): string[];
  /** Exceptions that escaped the firmware's callbacks ("Uncaught" on Espruino). */
  readonly errors: unknown[];
  /** Timers pending. */
  timers(): number;
}

/**
 * A simple, deterministic battery: 4.2 V full to 3.3 V empty, linear; drains 1.5 %/h idle, 10 %/h
 * more while the microphone runs, and 0.5 % per MB sent. It reads true time (the clock's source),
 * not the device clock, which may be skewed.
 */
class Battery {
  now: () => number;
  startPct: number;
  since: number;
  activeMs: number;
  activeSince: number;
  txBytes: () => number;
  txAtStart: number;

  constructor(now: () => number, pct: number, txBytes: () => number) {
    this.now = now;
    this.txBytes = txBytes;
    this.startPct = pct;
    this.since = now();
    this.activeMs = 0;
    this.activeSince = -1;
    this.txAtStart = txBytes();
  }

  active(on: boolean): void {
    if (on && this.activeSince < 0) this.activeSince = this.now();
    if (!on && this.activeSince >= 0) { this.activeMs += this.now() - this.activeSince; this.activeSince = -1; }
  }

  read(): { mv: number; pct: number } {
    const t = this.now();
    const hours = (t - this.since) / 3600000;
    const activeHours = (this.activeMs + (this.activeSince >= 0 ? t - this.activeSince : 0)) / 3600000;
    const mb = (this.txBytes() - this.txAtStart) / 1e6;
    const pct = Math.max(0, Math.min(100, this.startPct - 1.5 * hours - 10 * activeHours - 0.5 * mb));
    return { mv: Math.round(3300 + 9 * pct), pct: Math.round(pct) };
  }

  set(pct: number): void {
    this.startPct = pct;
    this.since = this.now();
    this.activeMs = 0;
    if (this.activeSince >= 0) this.activeSince = this.now();
    this.txAtStart = this.txBytes();
  }
}

/** E.toString's arguments: strings, bytes, numbers (one byte) and arrays of those, concatenated. */
function eToString(args: unknown[]): string {
  let out = "";
  for (const a of args) {
    if (typeof a === "string") out += a;
    else if (typeof a === "number") out += String.fromCharCode(a & 255);
    else if (Array.isArray(a)) out += eToString(a);
    else out += binaryOf(dataBytes("E.toString", a));
  }
  return out;
}

const E_UNIMPLEMENTED = [
  "CRC32", "FFT", "HSBtoRGB", "asUTF8", "asm", "clip", "compiledC", "connectSDCard", "convolve", "decodeUTF8", "defrag",
  "dumpFragmentation", "dumpFreeList", "dumpLockedVars", "dumpStr", "dumpVariables", "enableWatchdog", "fromUTF8",
  "getAddressOf", "getAnalogVRef", "getClock", "getConsole", "getErrorFlags", "getFlags", "getPowerUsage", "getSizeOf",
  "getTemperature", "internal", "isUTF8", "kickWatchdog", "lockConsole", "lookupNoCase", "mapInPlace", "memoryArea",
  "memoryMap", "nativeCall", "pipe", "reboot", "reverseByte", "setBootCode", "setClock", "setConsole", "setDST", "setFlags",
  "setPassword", "setTimeZone", "srand", "stopEventPropagation", "sum", "toFlatString", "toJS",
  "unmountSD", "variance",
];

function hash(alg: string, d: unknown): ArrayBuffer {
  const h = createHash(alg).update(dataBytes("crypto." + alg.toUpperCase(), d)).digest();
  return h.buffer.slice(h.byteOffset, h.byteOffset + h.length) as ArrayBuffer;
}

/** Builds one simulated device: its EspruinoEnv and its handle. */
export function createEnv(opts: EnvOptions): { env: EspruinoEnv; device: DeviceHandle } {
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true });
  const name = opts.name || path.basename(dir);
  const faults: Faults = Object.assign({}, opts.faults);
  const life = new Life(name, opts.log && opts.log.lines ? opts.log.lines : 200, !!(opts.log && opts.log.echo));
  const sched = opts.scheduler || nodeScheduler;
  const clock = new DeviceClock(opts.clock);
  const timers = new Timers(life, sched);
  const layout = envLayout(dir);
  const flash = new Flash(layout.flash, opts.storageBytes || FLASH_BYTES, life);
  const net = new SimNet(life, sched, clock.trueNow);
  const battery = new Battery(clock.trueNow, opts.batteryPct === undefined ? 100 : opts.batteryPct, () => net.tx);
  const rand = new Rand(opts.seed, STREAM_HWRAND);

  const cut = (dropUnsynced: boolean, silent: boolean): void => {
    if (life.dead) return;
    life.dead = true; // first: nothing the cut triggers may run firmware code
    timers.clearAll();
    if (media) media.stop();
    if (card) card.cut(dropUnsynced);
    net.cut(silent);
  };
  const card = opts.noSd ? null : new SdCard(layout.card, life, faults, () => cut(!!faults.dropUnsynced, true));

  const media = opts.media === false ? null : new SyntheticMedia(
    Object.assign({ seed: opts.seed }, opts.media || {}),
    {
      setTimeout: (fn, ms) => timers.set(fn, ms),
      clearTimeout: (h) => timers.clear(h, 1),
      now: clock.trueNow,
    },
    (on) => battery.active(on),
  );

  let button: ((name: string) => void) | null = null;
  let led = "";
  const ledHistory: string[] = [];

  const E: EspE = strict("E", {
    toString(...args: unknown[]): string | undefined {
      life.check();
      return eToString(args);
    },
    toUint8Array(...args: unknown[]): Uint8Array {
      life.check();
      const parts = args.map((a) => (typeof a === "string" ? bytesOf(a) : typeof a === "number" ? Buffer.from([a & 255]) : Array.isArray(a) ? Buffer.from(a.map((x) => Number(x) & 255)) : dataBytes("E.toUint8Array", a)));
      return ownBytes(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    },
    // Espruino gives the string's own bytes (no copy); a JavaScript string can't change, so a copy
    // here behaves the same to a reader. Not a string: undefined, as on the interpreter.
    toArrayBuffer(s: unknown): ArrayBuffer {
      life.check();
      return (typeof s === "string" ? ownBytes(bytesOf(s)).buffer : undefined) as ArrayBuffer;
    },
    openFile: card ? openFileOn(card) : (): undefined => {
      life.check();
      throw new Error("Could not open file : UNKNOWN"); // no card mounted
    },
    hwRand(): number {
      life.check();
      return rand.next();
    },
  }, { unimplemented: E_UNIMPLEMENTED });

  const crypto: EspCrypto = strict("crypto", {
    SHA1: (d: unknown) => { life.check(); return hash("sha1", d); },
    SHA224: (d: unknown) => { life.check(); return hash("sha224", d); },
    SHA256: (d: unknown) => { life.check(); return hash("sha256", d); },
    SHA384: (d: unknown) => { life.check(); return hash("sha384", d); },
    SHA512: (d: unknown) => { life.check(); return hash("sha512", d); },
  }, { unimplemented: ["AES", "PBKDF2"] });

  const env: EspruinoEnv = {
    Storage: storageModule(flash),
    fs: card ? fsModule(card) : null,
    net: netModule(net),
    crypto,
    E,
    getTime: () => { life.check(); return clock.nowMs() / 1000; },
    setTime: (s: number) => { life.check(); clock.reset(s * 1000); },
    setTimeout: (fn: () => void, ms: number) => { life.check(); return timers.set(fn, ms); },
    // A function, not an arrow: clearTimeout() with no argument (clear all) differs from clearTimeout(undefined).
    clearTimeout: function (h?: unknown) { life.check(); timers.clear(h, arguments.length); },
    // A Node process cannot tell one device's heap from another's: count variables on the
    // real-interpreter lane (process.memory().usage) instead.
    memory: () => 0,
    // No variable store to run out of: the low-memory path is exercised on the board-sized interpreter.
    memInfo: () => ({ free: 1e9, total: 1e9 }),
    log: (line: string) => { if (!life.dead) life.log(String(line)); },
    board: {
      watchButtons: (fn: (name: string) => void) => { life.check(); button = fn; },
      led: (pattern: string) => {
        life.check();
        led = pattern;
        if (ledHistory.length >= 64) ledHistory.shift();
        ledHistory.push(pattern);
      },
      battery: () => { life.check(); return battery.read(); },
      network: (_wifi: { ssid: string; pass: string } | null, done: (err: string) => void) => {
        life.check();
        timers.set(() => done(net.partitioned ? "no network (partitioned)" : ""), 10);
      },
    },
  };
  if (media) env.board.media = media;

  const device: DeviceHandle = {
    name,
    dir,
    get dead() { return life.dead; },
    faults,
    powerCut: (o?: { silent?: boolean }) => cut(!!faults.dropUnsynced, !!(o && o.silent)),
    kill: () => cut(false, false),
    clock: {
      nowMs: () => clock.nowMs(),
      skew: (ms: number) => clock.skew(ms),
      reset: (toMs: number) => clock.reset(toMs),
      drift: (ppm: number) => clock.drift(ppm),
    },
    net: {
      partition: (on: boolean) => net.partition(on),
      dropAll: () => net.dropAll(),
      delay: (ms: number) => net.delay(ms),
      get open() { return net.sockets.size; },
      get txBytes() { return net.tx; },
      get rxBytes() { return net.rx; },
    },
    press: (b: "record" | "marker") => {
      const fn = button;
      if (life.dead || !fn) return false;
      life.run(() => fn(b));
      return true;
    },
    get led() { return led; },
    ledHistory,
    battery: { read: () => battery.read(), set: (pct: number) => battery.set(pct) },
    media,
    logs: () => life.lines.slice(),
    errors: life.errors,
    timers: () => timers.count,
  };
  return { env, device };
}
