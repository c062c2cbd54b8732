// Low memory (SPEC.md R-MSG-7 LOW_MEMORY): how many variables a message needs before it is built or
// sent, and the mode the recorder enters when they are not there. A board's socket send buffer can
// cut a packet short silently, so nothing goes out without its memory. Espruino subset.
import type { Recorder } from "./recorder.js";
import type { MqttClient } from "./mqtt.js";
import { REC_IDLE, REC_STOPPED_FULL } from "../../protocol/schema.js";

/**
 * Variables a buffer of `n` bytes may take: a string that found no contiguous run of free variables
 * (a fragmented store) holds about 13 bytes a variable on a board-sized build, a flat one 17.
 */
export function varsFor(n: number): number {
  return Math.ceil(n / 12) + 2;
}
/** Below this many free variables nothing is stored: a store running out mid-append would tear the queue. */
export const MEM_STORE = 250;
/**
 * Free variables kept, beyond a chunk's own, before anything is sent: the MQTT header and window
 * entry, the transport's slice and the socket's copy of it, an Ack decoded meanwhile. Below it the
 * recorder stops sending (LOW_MEMORY) rather than let the interpreter cut a packet short.
 */
export const MEM_RESERVE = 800;

/**
 * Whether one more message may go out with `free` variables free (just read): a chunk's worth and
 * MEM_RESERVE. Short of it: LOW_MEMORY. While low, one message at a time; the mode ends once a
 * chunk's worth more is free again.
 */
export function memOk(rec: Recorder, free: number): boolean {
  const need = varsFor(rec.chunkLen) + MEM_RESERVE;
  // Garbage that only a collection frees (cycles) counts as used until then: collect before giving up.
  if (free < need) free = rec.hw.memFree(true);
  if (free < need) {
    lowMemory(rec, free);
    return false;
  }
  if (rec.low && free >= need + varsFor(rec.chunkLen)) memoryBack(rec);
  return !rec.low || (rec.mqtt as MqttClient).queue.length === 0;
}

/**
 * Low memory: nothing more is sent until there is room (what is stored stays queued), the footprint
 * shrinks (one message in flight, no pre-event capture while idle), and a Status with the alarm
 * tells the gateway.
 */
export function lowMemory(rec: Recorder, free: number): void {
  if (rec.low) return;
  rec.low = true;
  rec.alarm = true;
  rec.fail("LOW_MEMORY", free + " variables free: sending paused, chunks stay queued");
  if (rec.state === REC_IDLE) rec.stopMedia();
  rec.up.heartbeat();
}

/** Memory is back: sending again, the alarm down unless storage is full, pre-event capture again. */
export function memoryBack(rec: Recorder): void {
  rec.low = false;
  rec.alarm = rec.state === REC_STOPPED_FULL;
  rec.log("memory back: sending again");
  rec.up.statusDue = true;
  rec.up.behind = true;
  if (rec.preS > 0 && rec.state === REC_IDLE) rec.mediaStart();
}

/** In housekeeping: sending paused for memory, and nothing else wakes it (no chunk, no Ack): look again. */
export function memoryCheck(rec: Recorder): void {
  if (rec.low && rec.up.ready && rec.hw.memFree(true) >= 2 * varsFor(rec.chunkLen) + MEM_RESERVE) {
    memoryBack(rec);
    rec.up.pump();
  }
}
