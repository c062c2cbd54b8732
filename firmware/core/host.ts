// What the recorder core receives from its host (the Espruino host on a board or on the Linux
// interpreter, the simulator's node engine, or a fake in tests). Types only. Espruino subset.
import type { Sha256 } from "../../protocol/bytes.js";
import type { Transport } from "./mqtt.js";
import type { QueueStore } from "./queue.js";

/** Storage for config and chain state: Espruino's `Storage` (journaling flash, 256 KiB on the Linux build). */
export interface KeyValue {
  /** The file's text, or undefined when it does not exist. */
  read(name: string): string | undefined;
  /** Replace the file; true when written. */
  write(name: string, text: string): boolean;
  erase(name: string): void;
  /** Rewrite the flash without erased and overwritten files: how an old key leaves the flash (R-FS-1). */
  compact(): void;
  free(): number;
}

/**
 * A media source: chunks of at most `bytes` bytes, in order, each a playable unit (a segment of
 * PCM, a camera segment). `onChunk` may be called from a timer; the payload is the callee's to keep.
 */
export interface MediaSource {
  /** MEDIA_* type of what it produces (protocol/constants.ts). */
  media: number;
  start(bytes: number, onChunk: (payload: Uint8Array, durationMs: number) => void): void;
  stop(): void;
}

/** Battery reading: millivolts and percent (0..100). */
export interface Battery {
  mv: number;
  pct: number;
}

export interface Host {
  sha: Sha256;
  /** `n` random bytes from the hardware generator (E.hwRand on a board). */
  random(n: number): Uint8Array;
  /** Device wall clock, ms since 1970 (may be wrong, may jump: R-TIME-3). */
  now(): number;
  /** Set the device clock (a board without a kept clock boots in 1970); optional. */
  setClock?: (ms: number) => void;
  /** ms since boot. */
  uptime(): number;
  /** TCP and timers for the MQTT client; the core uses its timers too. */
  transport: Transport;
  /** Config and chain state (`Storage`). */
  kv: KeyValue;
  /** Media, pre-event ring and upload queue (`fs` on the SD card, or `Storage` without one). */
  store: QueueStore;
  media: MediaSource;
  /** Buttons: the core registers one handler, the host calls it with "record" or "marker". */
  onButton(fn: (name: string) => void): void;
  /** LED pattern: "boot", "idle", "recording", "uploading", "full", "noconfig", "revoked", "error". */
  led(pattern: string): void;
  /** undefined when the board has no battery sensor (the Linux interpreter): no reading, never 0 %. */
  battery(): Battery | undefined;
  /** Variables in use (process.memory().usage on Espruino), for info() and the budgets. */
  memory(): number;
  /**
   * Variables free now, without a garbage collection (process.memory(false).free): read before a
   * chunk is stored and before anything is sent, so that low memory fails loudly instead of cutting a
   * packet short. With `gc`, after a garbage collection (slower: about 0.4 ms on the board-sized
   * build), which frees what only cycles held. Each read is also a sample of the peak (memPeak).
   */
  memFree(gc?: boolean): number;
  /** The most variables in use at any memFree() read (and, while probing, inside each socket write), or now: never below memory(). */
  memPeak(): number;
  log(line: string): void;
}
