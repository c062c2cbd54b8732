// The pre-event ring: while idle, the last `pre` seconds of media kept as chunk files on the store
// (the SD card, or Storage without one), not in RAM (DESIGN.md section 4: one second of 8 kHz audio
// is about 1,000 variables). At a recording's start they enter its chain first, flagged pre-event.
// Functions of the recorder, whose `ring` and `ringNext` they keep: a class of its own would cost
// variables from boot on (firmware/README.md, overlays). Espruino subset.
import { FLAG_PRE_EVENT } from "../../protocol/constants.js";
import { REC_RECORDING } from "../../protocol/schema.js";
import type { Recorder } from "./recorder.js";
import { MEM_STORE, lowMemory, varsFor } from "./memory.js";

/** One chunk of the ring (its payload is a file on the store). */
export interface PreChunk {
  name: string;
  durationMs: number;
  timeMs: number;
  uptimeMs: number;
  length: number;
}

/** Keep a chunk of media in the ring, and drop the oldest beyond `preS` seconds. */
export function preKeep(rec: Recorder, payload: Uint8Array, durationMs: number): void {
  const h = rec.hw;
  const name = "pre" + rec.ringNext + ".bin";
  rec.ringNext = (rec.ringNext + 1) % 100;
  h.store.remove(name);
  if (!h.store.append(name, [payload])) return;
  const ring = rec.ring;
  ring.push({ name: name, durationMs: durationMs, timeMs: h.now(), uptimeMs: h.uptime(), length: payload.length });
  let ms = preMs(rec);
  while (ring.length > 1 && ms - ring[0].durationMs >= rec.preS * 1000) {
    const old = ring.shift() as PreChunk;
    ms -= old.durationMs;
    h.store.remove(old.name);
  }
}

/** Media time the ring holds, ms (the genesis states it). */
export function preMs(rec: Recorder): number {
  let ms = 0;
  for (let i = 0; i < rec.ring.length; i++) ms += rec.ring[i].durationMs;
  return ms;
}

/**
 * The ring into the open recording's chain, oldest first, flagged pre-event, each file removed once
 * read. A chunk is read only with room for it and its way into the chain; else the rest of the ring
 * is given up (LOW_MEMORY).
 */
export function prePour(rec: Recorder): void {
  const h = rec.hw;
  const ring = rec.ring;
  rec.ring = [];
  for (let i = 0; i < ring.length && rec.state === REC_RECORDING; i++) {
    const e = ring[i];
    const free = h.memFree();
    const p = free >= varsFor(e.length) + MEM_STORE ? h.store.read(e.name, 0, e.length) : null;
    if (!p && free < varsFor(e.length) + MEM_STORE) lowMemory(rec, free);
    h.store.remove(e.name);
    if (p) rec.takeChunk(p, e.durationMs, FLAG_PRE_EVENT, e.timeMs, e.uptimeMs);
  }
}
