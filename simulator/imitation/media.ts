// Media for simulated devices: a synthetic microphone and a player of files on the SD card.
//
// The synthetic audio is 8 kHz 16-bit little-endian mono PCM (MEDIA_PCM_8K_S16LE) whose time can be
// read by ear from an exported WAV: every second a 40 ms beep at 1 kHz, every tenth second a
// 150 ms one, at each full minute a 400 ms beep at 2 kHz, over a low noise floor (-60 dBFS). Sample n
// depends only on (seed, n): the same seed gives the same bytes however the stream is chunked, and
// tones come from integer tables (no Math.sin), so every platform agrees.
//
// Image frames (MEDIA_JPEG) are not generated: nothing needs them yet.
import { writeFileSync } from "node:fs";
import type { MediaSource } from "../../firmware/core/host.js";
import type { EspruinoEnv } from "../../firmware/hosts/env.js";
import { MEDIA_PCM_8K_S16LE } from "../../protocol/constants.js";
import { STREAM_MEDIA, mix32 } from "./rand.js";

export const SAMPLE_RATE = 8000;
const SECOND = SAMPLE_RATE;

// One period of each tone at 8 kHz, amplitude 8000 (-12 dBFS); 5657 = 8000 / sqrt(2), rounded.
const TONE_1K = [0, 5657, 8000, 5657, 0, -5657, -8000, -5657];
const TONE_2K = [0, 8000, 0, -8000];
/** Samples of fade at each end of a beep (2 ms), so beeps do not click. */
const RAMP = 16;

/** Sample `n` (n >= 0) of the synthetic audio for `seed`, a signed 16-bit value. */
export function sampleAt(seed: number, n: number): number {
  const noise = mix32(seed ^ STREAM_MEDIA, n) >> 26; // -32..31
  const s = Math.floor(n / SECOND);
  const t = n - s * SECOND;
  const inMinute = s % 60;
  let len: number, table: number[];
  if (inMinute === 0) { len = 3200; table = TONE_2K; }
  else if (inMinute % 10 === 0) { len = 1200; table = TONE_1K; }
  else { len = 320; table = TONE_1K; }
  if (t >= len) return noise;
  const ramp = Math.min(RAMP, t, len - 1 - t);
  return noise + ((table[t % table.length] * ramp) >> 4);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `count` samples from sample `first`, as little-endian bytes. */
export function pcm(seed: number, first: number, count: number): Uint8Array {
  const out = new Uint8Array(count * 2);
  if (LITTLE_ENDIAN) {
    const v = new Int16Array(out.buffer);
    for (let i = 0; i < count; i++) v[i] = sampleAt(seed, first + i);
  } else {
    const dv = new DataView(out.buffer);
    for (let i = 0; i < count; i++) dv.setInt16(i * 2, sampleAt(seed, first + i), true);
  }
  return out;
}

/** Writes `seconds` of the synthetic audio to a file (for fileMedia and the interpreter lane). */
export function writeSyntheticPcm(file: string, seed: number, seconds: number): void {
  writeFileSync(file, pcm(seed, 0, Math.round(seconds * SAMPLE_RATE)));
}

/** Timers the media runs on: the device's, so a power cut stops it. */
export interface MediaTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
  /** True time in ms, for drift-free pacing. */
  now(): number;
}

export interface SyntheticMediaOptions {
  /** Seed of the audio (default: the device's seed). */
  seed?: number;
  /** Chunks come this many times faster than real time (default 1); durations stay media time. */
  speed?: number;
  /** No timers: the test calls tick() for each chunk. */
  manual?: boolean;
  /** The first sample (default 0: the stream starts at second 0 of minute 0). */
  startSample?: number;
}

/** A MediaSource you can also drive by hand (tick) and inspect. */
export interface SimMedia extends MediaSource {
  /** Emit the next chunk now; false when not started (or, for a file, nothing to play). */
  tick(): boolean;
  readonly running: boolean;
}

/**
 * The synthetic microphone. A chunk of `bytes` (rounded down to whole samples) lasts samples / 8 ms
 * and is emitted when that much time has passed (divided by `speed`), paced from the start so timer
 * lateness does not accumulate. The stream is a continuous tape: stop() then start() goes on from
 * the next sample.
 */
export class SyntheticMedia implements SimMedia {
  media: number;
  seed: number;
  speed: number;
  manual: boolean;
  /** Next sample to emit. */
  position: number;
  timers: MediaTimers;
  onActive: (on: boolean) => void;
  chunkSamples: number;
  onChunk: ((payload: Uint8Array, durationMs: number) => void) | null;
  timer: unknown;

  constructor(opts: SyntheticMediaOptions & { seed: number }, timers: MediaTimers, onActive?: (on: boolean) => void) {
    this.media = MEDIA_PCM_8K_S16LE;
    this.seed = opts.seed;
    this.speed = opts.speed && opts.speed > 0 ? opts.speed : 1;
    this.manual = !!opts.manual;
    this.position = opts.startSample || 0;
    this.timers = timers;
    this.onActive = onActive || (() => {});
    this.chunkSamples = 0;
    this.onChunk = null;
    this.timer = null;
  }

  get running(): boolean {
    return this.onChunk !== null;
  }

  start(bytes: number, onChunk: (payload: Uint8Array, durationMs: number) => void): void {
    if (this.onChunk) throw new Error("media: start() while started (stop() first)");
    const samples = Math.floor(bytes / 2);
    if (!(samples >= 1)) throw new RangeError("media: chunk of " + bytes + " bytes holds no sample");
    this.chunkSamples = samples;
    this.onChunk = onChunk;
    this.onActive(true);
    if (!this.manual) this.pace(this.timers.now(), 1);
  }

  /** Schedules chunk k of a run that started at t0. */
  pace(t0: number, k: number): void {
    const period = this.chunkSamples / 8 / this.speed;
    const wait = Math.max(0, t0 + k * period - this.timers.now());
    this.timer = this.timers.setTimeout(() => {
      this.pace(t0, k + 1); // first, so a throwing consumer does not stop the microphone
      this.emit();
    }, wait);
  }

  emit(): void {
    const fn = this.onChunk;
    if (!fn) return;
    const payload = pcm(this.seed, this.position, this.chunkSamples);
    this.position += this.chunkSamples;
    fn(payload, this.chunkSamples / 8);
  }

  tick(): boolean {
    if (!this.onChunk) return false;
    this.emit();
    return true;
  }

  stop(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    if (this.onChunk) this.onActive(false);
    this.onChunk = null;
  }
}

export interface FileMediaOptions {
  /** MEDIA_* of the file's content (default PCM 8 kHz 16-bit: a chunk of n bytes lasts n / 16 ms). */
  media?: number;
  speed?: number;
  manual?: boolean;
  /** Start again at the end of the file (default true, as the firmware's own file player does). */
  loop?: boolean;
  /** Chunk duration in ms when the media is not PCM (default 1000). */
  chunkMs?: number;
}

/**
 * A MediaSource that plays a file from the device's SD card through the env's own E.openFile and
 * timers (so it behaves as on the interpreter, where the same file would be played), in chunks of
 * `bytes` rounded down to whole samples. Each chunk opens, skips, reads and closes the file.
 */
export function fileMedia(env: EspruinoEnv, name: string, opts?: FileMediaOptions): SimMedia {
  const o = opts || {};
  const media = o.media === undefined ? MEDIA_PCM_8K_S16LE : o.media;
  const speed = o.speed && o.speed > 0 ? o.speed : 1;
  const loop = o.loop === undefined ? true : o.loop;
  let pos = 0;
  let timer: unknown = null;
  let onChunk: ((payload: Uint8Array, durationMs: number) => void) | null = null;
  let n = 0;
  const durationOf = (len: number): number => (media === MEDIA_PCM_8K_S16LE ? len / 16 : o.chunkMs || 1000);
  const next = (): boolean => {
    const fn = onChunk;
    if (!fn) return false;
    const f = env.E.openFile(name, "r");
    if (!f) return false;
    if (pos) f.skip(pos);
    let s = f.read(n);
    f.close();
    if ((s === undefined || s.length < n) && loop) {
      pos = 0; // a short tail is played, then the file starts over
      if (s === undefined) return false;
    }
    if (s === undefined) return false;
    if (media === MEDIA_PCM_8K_S16LE) s = s.substr(0, s.length - (s.length % 2));
    pos += s.length;
    fn(env.E.toUint8Array(s), durationOf(s.length));
    return true;
  };
  const schedule = (): void => {
    timer = env.setTimeout(() => {
      schedule();
      next();
    }, durationOf(n) / speed);
  };
  return {
    media,
    get running() { return onChunk !== null; },
    start(bytes: number, fn: (payload: Uint8Array, durationMs: number) => void): void {
      if (onChunk) throw new Error("media: start() while started (stop() first)");
      n = media === MEDIA_PCM_8K_S16LE ? bytes - (bytes % 2) : bytes;
      if (!(n >= 1)) throw new RangeError("media: chunk of " + bytes + " bytes");
      onChunk = fn;
      if (!o.manual) schedule();
    },
    stop(): void {
      if (timer !== null) env.clearTimeout(timer);
      timer = null;
      onChunk = null;
    },
    tick: next,
  };
}
