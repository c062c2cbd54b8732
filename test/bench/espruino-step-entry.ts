// Runs ON the Espruino interpreter (bundled by test/bench/espruino-step.ts with the gate's options).
// Per payload size, microseconds per operation (median of REPEATS runs of ITER iterations, getTime()):
//   hash   one native SHA-256 of the payload: the floor any integrity scheme pays;
//   step   ChainWriter.chunk: payload hash + header + chain value + keyed-hash tag + key step;
//   hmac   the same step with the tag as HMAC-SHA256 under the evolving key (a fresh Hmac per chunk,
//          since K_i changes every chunk): what the keyed hash saves;
//   append the chunk (header ‖ payload ‖ tag) appended to a file as a binary string (E.toString).
// Prints `VERSION v`, then `ROW size hash step hmac append memUsage` per size, then `MEMINFO ...`.
import { ChainWriter } from "../../protocol/writer.js";
import { Hmac } from "../../protocol/hmac.js";
import { HASH_LEN, MEDIA_PCM_8K_S16LE, NONCE_LEN } from "../../protocol/constants.js";

declare function getTime(): number;
declare const E: { toString(...args: unknown[]): string };

type Memory = { usage: number; total: number; blocksize: number };
const memory = function (): Memory { return (process as unknown as { memory(): Memory }).memory(); };

var sha = function (d: Uint8Array): Uint8Array { return new Uint8Array(require("crypto").SHA256(d)); };
const fs = require("fs");

const SIZES = [4096, 16384, 65536];
const ITER = 50;
const REPEATS = 3;
const FILE = "bench-chunks.bin";

const deviceId = new Uint8Array(16);
deviceId.set([66, 87, 67, 45, 48, 48, 52, 50]); // "BWC-0042"
const k1 = new Uint8Array(HASH_LEN).fill(7);
const c0 = new Uint8Array(HASH_LEN).fill(9);
const beacon = new Uint8Array(NONCE_LEN);

/** Median over REPEATS runs of the per-iteration time of `run`, in microseconds. */
function time(run: (i: number) => void): number {
  const per: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t = getTime();
    for (let i = 0; i < ITER; i++) run(i);
    per.push((getTime() - t) * 1e6 / ITER);
  }
  per.sort(function (a, b) { return a - b; });
  return per[(per.length - 1) >> 1];
}

const hmacTag = function (k: Uint8Array, c: Uint8Array): Uint8Array {
  const h = new Hmac(sha, k);
  const t = h.mac([c]);
  h.destroy();
  return t;
};

console.log("VERSION " + process.version);
for (let s = 0; s < SIZES.length; s++) {
  const payload = new Uint8Array(SIZES[s]);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + s) & 255;

  const hashUs = time(function () { sha(payload); });

  const w = new ChainWriter(sha, deviceId, 1, k1, 0, c0, 0);
  const stepUs = time(function (i) { w.chunk(payload, 0, MEDIA_PCM_8K_S16LE, 1764043200000 + i * 1000, 1000, i * 1000, beacon); });

  // Same writer code; only the tag primitive is swapped (instance property shadows the method).
  const hw = new ChainWriter(sha, deviceId, 1, k1, 0, c0, 0);
  hw.cc.tag = hmacTag;
  const hmacUs = time(function (i) { hw.chunk(payload, 0, MEDIA_PCM_8K_S16LE, 1764043200000 + i * 1000, 1000, i * 1000, beacon); });

  const o = w.chunk(payload, 0, MEDIA_PCM_8K_S16LE, 1764043200000, 1000, 0, beacon);
  fs.writeFileSync(FILE, "");
  const appendUs = time(function () { fs.appendFileSync(FILE, E.toString(o.header, payload, o.tag)); });
  fs.unlinkSync(FILE);

  w.destroy();
  hw.destroy();
  console.log("ROW " + SIZES[s] + " " + hashUs.toFixed(1) + " " + stepUs.toFixed(1) + " " + hmacUs.toFixed(1) + " " + appendUs.toFixed(1) + " " + memory().usage);
}
const m = memory();
console.log("MEMINFO " + m.usage + " " + m.total + " " + m.blocksize);
