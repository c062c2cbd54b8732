// The Espruino host: the recorder's Host (core/host.ts) built from an EspruinoEnv (hosts/env.ts),
// that is from the interpreter's native APIs: Storage for config and keys, fs / E.openFile (the SD
// card) or Storage files for the queue and media, crypto.SHA256, net, timers. Runs the same on a
// board, on the Linux interpreter and in the simulator's node engine. Board-only peripherals
// (pins, LEDs, buttons, Waveform, Wi-Fi) come in env.board (hosts/board.ts on hardware).
// Espruino subset.
import type { Host, KeyValue, MediaSource } from "../core/host.js";
import type { QueueStore } from "../core/queue.js";
import { MEDIA_OPAQUE, MEDIA_PCM_8K_S16LE } from "../../protocol/constants.js";
import { espruinoNet } from "./espruino-net.js";
import type { EspruinoEnv } from "./env.js";

/** Bytes the SD store may use when the platform can't say how much is free (the Linux build can't). */
export const DEFAULT_SD_BYTES = 64 * 1024 * 1024;

/**
 * The queue's store on `fs` (the SD card). Durable = the write calls returned and the file was closed
 * (DESIGN.md section 4). Espruino files take binary strings: E.toString converts natively. Free space:
 * fs.getFree where the build has it, else a budget (`sdBytes`) minus what our files use, counted
 * once at start and then kept up to date on append and remove (no directory scan per chunk).
 */
export function fsStore(env: EspruinoEnv, sdBytes: number): QueueStore {
  const fs = env.fs as NonNullable<EspruinoEnv["fs"]>;
  const E = env.E;
  const sizeOf = function (name: string): number {
    const st = fs.statSync(name);
    return st ? st.size : 0;
  };
  let used = 0;
  // No local holds the listing: the closures below keep this scope, and with it any local, for as
  // long as the recorder runs (a card's listing can be long).
  (fs.readdirSync(".") || []).forEach(function (n) { if (n.charAt(0) === "q" || n.substr(0, 3) === "pre") used += sizeOf(n); });
  const native = (fs as unknown as { getFree?: () => { freeSectors: number; sectorSize: number } }).getFree;
  return {
    append: function (name: string, parts: Uint8Array[]): boolean {
      const f = E.openFile(name, "a");
      if (!f) return false;
      let n = 0;
      for (let i = 0; i < parts.length; i++) {
        if (!parts[i].length) continue;
        const s = E.toString(parts[i]);
        if (s === undefined) { f.close(); return false; }
        f.write(s);
        n += parts[i].length;
      }
      f.close();
      used += n;
      return true;
    },
    read: function (name: string, offset: number, length: number): Uint8Array | null {
      const f = E.openFile(name, "r");
      if (!f) return null;
      if (offset) f.skip(offset);
      const s = length ? f.read(length) : "";
      f.close();
      if (s === undefined || s.length !== length) return null;
      // The string read is ours alone: its bytes, not a copy (E.toUint8Array copies byte by byte:
      // 170 to 300 µs per 8 KiB on the Linux interpreter, against about 1).
      return new Uint8Array(E.toArrayBuffer(s));
    },
    size: sizeOf,
    remove: function (name: string): void {
      // Only a file that is there: unlinkSync of a missing file throws, and the exception (its stack
      // trace read from flash) cost 60 to 170 ms on the Linux build, for every pre-event chunk.
      const st = fs.statSync(name);
      if (!st) return;
      try { fs.unlinkSync(name); } catch (e) { return; }
      used -= st.size;
    },
    list: function (prefix: string): string[] {
      const names = fs.readdirSync(".") || [];
      return names.filter(function (n) { return n.indexOf(prefix) === 0; });
    },
    free: function (): number {
      if (native) {
        const g = native();
        return g.freeSectors * g.sectorSize;
      }
      return sdBytes - used;
    },
  };
}

/**
 * The queue's store on `Storage`, for a board without an SD card (its internal flash, shared with
 * the code and config: 256 KiB on the Linux build). A Storage file can't grow once written, so each
 * append is a file of its own, `<name>~<k>` (k = 0, 1, ...), created at its full size by its first
 * part and filled part by part (`Storage.write(name, data, offset, size)`: the chunk is never
 * copied). Power loss between parts leaves the rest 0xFF, which the queue's record check finds as a
 * torn tail. Erased files count as free: a write that needs their space compacts first (Espruino
 * does). The pieces' sizes are kept in RAM, read from `Storage.list()` at start.
 */
export function storageStore(env: EspruinoEnv): QueueStore {
  const S = env.Storage;
  const ix: { [name: string]: number[] } = {};
  // Pieces are removed last first (below), so those left are always 0..k, without a hole.
  S.list().forEach(function (f) {
    const t = f.lastIndexOf("~");
    if (t < 1) return;
    const n = f.substr(0, t);
    (ix[n] = ix[n] || [])[parseInt(f.substr(t + 1), 10)] = (S.read(f) as string).length;
  });
  const size = function (name: string): number {
    const p = ix[name];
    let n = 0;
    if (p) for (let k = 0; k < p.length; k++) n += p[k];
    return n;
  };
  return {
    append: function (name: string, parts: Uint8Array[]): boolean {
      let len = 0, o = 0;
      for (let i = 0; i < parts.length; i++) len += parts[i].length;
      if (!len) return true;
      const p = ix[name] || [];
      const f = name + "~" + p.length;
      try {
        for (let i = 0; i < parts.length; i++) {
          if (parts[i].length) S.write(f, parts[i], o, len);
          o += parts[i].length;
        }
      } catch (e) {
        // Full, or the flash refused: nothing of this append may stay behind.
        S.erase(f);
        return false;
      }
      p.push(len);
      ix[name] = p;
      return true;
    },
    // A record is one piece: the queue never reads across two. Copied (E.toUint8Array), unlike
    // fsStore's reads: on a board Storage.read gives a string over the flash itself, whose bytes
    // move when a compaction runs.
    read: function (name: string, offset: number, length: number): Uint8Array | null {
      const p = ix[name] || [];
      let k = 0;
      while (k < p.length && offset >= p[k]) offset -= p[k++];
      return k < p.length && offset + length <= p[k] ? env.E.toUint8Array(S.read(name + "~" + k, offset, length) as string) : null;
    },
    size: size,
    remove: function (name: string): void {
      const p = ix[name];
      if (!p) return;
      // Last piece first: a power cut here leaves a shorter file, never one with a hole.
      for (let k = p.length - 1; k >= 0; k--) S.erase(name + "~" + k);
      delete ix[name];
    },
    list: function (prefix: string): string[] {
      const out: string[] = [];
      for (const n in ix) if (n.indexOf(prefix) === 0) out.push(n);
      return out;
    },
    free: function (): number {
      const st = S.getStats ? S.getStats() : null;
      return st ? st.freeBytes + st.trashBytes : S.getFree();
    },
  };
}

/** Storage as KeyValue: config and chain state. */
export function storageKv(env: EspruinoEnv): KeyValue {
  const S = env.Storage;
  return {
    read: function (name: string) { return S.read(name); },
    // Storage.write throws when the flash is full (measured), having already erased the old file:
    // the recorder compacts before rewriting its key file when space is short (Recorder.saveKeys).
    write: function (name: string, text: string) {
      try { return S.write(name, text); } catch (e) { return false; }
    },
    erase: function (name: string) { S.erase(name); },
    compact: function () { S.compact(); },
    free: function () { return S.getFree(); },
  };
}

/**
 * Media from a file on the SD card, played in chunks on a timer: what the Linux interpreter lane
 * and a board without a microphone use. `speed` > 1 plays faster than real time (tests). PCM at
 * 8 kHz 16-bit: a chunk of n bytes lasts n / 16 ms. Loops at the end of the file. A file can wait:
 * with too little memory free to read a chunk (the read string takes about n / 12 variables), the
 * read is tried again a chunk later from the same place, rather than running out of memory.
 */
export function fileMedia(env: EspruinoEnv, name: string, speed: number): MediaSource {
  let timer: unknown = null;
  let pos = 0;
  const src: MediaSource = {
    media: MEDIA_PCM_8K_S16LE,
    start: function (bytes: number, onChunk: (p: Uint8Array, d: number) => void) {
      if (timer !== null) return;
      const n = bytes - (bytes % 2);
      const ms = n / 16;
      const next = function () {
        timer = env.setTimeout(next, ms / speed);
        if (env.memInfo().free < n / 12 + 300) return;
        const f = env.E.openFile(name, "r");
        if (!f) return;
        if (pos) f.skip(pos);
        let s = f.read(n);
        f.close();
        if (s === undefined || s.length < n) {
          pos = 0; // loop
          if (s === undefined || !s.length) return;
        } else pos += n;
        onChunk(new Uint8Array(env.E.toArrayBuffer(s)), s.length / 16); // the string's bytes, no copy (fsStore.read)
        s = "";
      };
      timer = env.setTimeout(next, ms / speed);
    },
    stop: function () {
      if (timer !== null) env.clearTimeout(timer);
      timer = null;
    },
  };
  return src;
}

/** No media source configured or present: the recorder says so when asked to record. */
function noMedia(env: EspruinoEnv): MediaSource {
  return {
    media: MEDIA_OPAQUE,
    start: function () { env.log("[rec] no media source (rec.cfg \"media\")"); },
    stop: function () {},
  };
}

function readConfigField(env: EspruinoEnv, field: string): unknown {
  const c = env.Storage.readJSON("rec.cfg", true) as { [k: string]: unknown } | undefined;
  return c ? c[field] : undefined;
}

/** The Host a recorder runs on, from the interpreter's own modules. */
export function espruinoHost(env: EspruinoEnv): Host {
  // Uptime from the wall clock's forward steps only: getTime() is the one clock there is, and it
  // jumps when the clock is set or reset (a clock reset must not make uptime negative).
  let lastT = env.getTime();
  let up = 0;
  const sd = readConfigField(env, "sd");
  const media = readConfigField(env, "media");
  let src: MediaSource;
  if (env.board.media) src = env.board.media;
  else if (typeof media === "string" && media.indexOf("file:") === 0) {
    const p = media.substr(5).split(":");
    src = fileMedia(env, p[0], p.length > 1 ? parseFloat(p[1]) || 1 : 1);
  } else src = noMedia(env);
  let peak = 0;
  const memFree = function (gc?: boolean): number {
    const m = env.memInfo(gc);
    if (m.total - m.free > peak) peak = m.total - m.free;
    return m.free;
  };
  return {
    sha: function (d: Uint8Array) { return new Uint8Array(env.crypto.SHA256(d)); },
    random: function (n: number) {
      const b = new Uint8Array(n);
      // Three bytes per call: some builds return only 31 random bits.
      for (let i = 0; i < n; i += 3) {
        const v = env.E.hwRand();
        for (let j = 0; j < 3 && i + j < n; j++) b[i + j] = (v >>> (8 * j)) & 255;
      }
      return b;
    },
    now: function () { return Math.floor(env.getTime() * 1000); },
    setClock: env.setTime ? function (ms: number) {
      const t = env.getTime();
      if (t > lastT) up += t - lastT;
      (env.setTime as (s: number) => void)(ms / 1000);
      lastT = env.getTime(); // the step the clock just took is not uptime
    } : undefined,
    uptime: function () {
      const t = env.getTime();
      if (t > lastT) up += t - lastT;
      lastT = t;
      return Math.round(up * 1000);
    },
    transport: espruinoNet(env.net, { E: env.E, setTimeout: env.setTimeout, clearTimeout: env.clearTimeout, getTime: env.getTime, probe: env.probe ? memFree : undefined }),
    kv: storageKv(env),
    // "sd": 0 in rec.cfg, or no fs: a board without an SD card keeps its queue in Storage.
    store: env.fs && sd !== 0 ? fsStore(env, typeof sd === "number" && sd > 0 ? sd : DEFAULT_SD_BYTES) : storageStore(env),
    media: src,
    onButton: function (fn: (name: string) => void) { if (env.board.watchButtons) env.board.watchButtons(fn); },
    led: function (p: string) { if (env.board.led) env.board.led(p); },
    battery: function () { return env.board.battery ? env.board.battery() : undefined; },
    memory: env.memory,
    memFree: memFree,
    memPeak: function () { const u = env.memory(); if (u > peak) peak = u; return peak; },
    log: env.log,
  };
}
