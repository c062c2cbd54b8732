// npm run bench:protocol [-- OPTIONS] — incremental verification throughput against raw node:crypto SHA-256
// over the same payload bytes, for 1, 4, 16 and 64 KiB chunks. Every payload byte is hashed once
// by both, so the ratio's ceiling is 1.0; the rest is the chain, tag and key step per chunk.
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { deviceIdBytes } from "../../protocol/blocks.js";
import { ChainCrypto, deriveDeviceKeys, recordingKey } from "../../protocol/chain.js";
import { ChainWriter, genesisFor } from "../../protocol/writer.js";
import { RecordingVerifier } from "../../protocol/verify.js";
import { MEDIA_PCM_8K_S16LE } from "../../protocol/constants.js";
import { randomBytes } from "node:crypto";
import { benchArgs } from "./args.js";

const sha = nodeSha256;
const DEVICE = "BENCH-01";
const opts = benchArgs("bench:protocol", "npm run bench:protocol [-- OPTIONS]", "Incremental verification against raw node:crypto SHA-256 over the same payload bytes, 1 to 64 KiB\nchunks (test/bench/protocol.bench.ts says how).", {
  mib: { kind: "number", default: 64, min: 1, help: "MiB of chunks verified a round" },
  rounds: { kind: "number", default: 9, integer: true, min: 1, help: "rounds at each size (the median is printed)" },
});
const TOTAL = opts.mib * 1024 * 1024;
const ROUNDS = opts.rounds;

function makeRecording(size: number) {
  const keys = deriveDeviceKeys(sha, new Uint8Array(32).fill(7));
  const k1 = recordingKey(sha, keys.stateKey0, 1);
  const dev = deviceIdBytes(DEVICE);
  const g = genesisFor(new ChainCrypto(sha), dev, { recordingId: 1, startMs: Date.now(), preEventMs: 0, uptimeMs: 0, media: MEDIA_PCM_8K_S16LE, caseTag: "", beacon: new Uint8Array(16), prevSeal: new Uint8Array(32) });
  const w = new ChainWriter(sha, dev, 1, k1, 0, g.c0, 0);
  const n = Math.max(64, Math.floor(TOTAL / size));
  const base = randomBytes(size * 8);
  const chunks = [];
  for (let i = 0; i < n; i++) {
    const payload = base.subarray((i % 8) * size, (i % 8 + 1) * size);
    const o = w.chunk(payload, 0, MEDIA_PCM_8K_S16LE, 1e12 + i * 1000, 1000, i * 1000, new Uint8Array(16));
    chunks.push({ header: o.header.slice(), payload, tag: o.tag });
  }
  return { k1, genesis: g.block, chunks };
}

// Best of the rounds on both sides: on a shared VM the slow rounds measure the neighbours,
// not the code. Raw and verify rounds alternate, so both see the same machine.
function best(xs: number[]): number {
  return Math.min(...xs);
}

console.log(`node ${process.version}, ${TOTAL / 1048576} MiB per size, best of ${ROUNDS} alternating rounds`);
console.log("chunk    chunks  raw SHA-256 MB/s  verify MB/s  ratio  µs/chunk overhead");
for (const kib of [1, 4, 16, 64]) {
  const size = kib * 1024;
  const rec = makeRecording(size);
  const bytes = rec.chunks.length * size;
  const raw: number[] = [];
  const ver: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t = process.hrtime.bigint();
    for (const c of rec.chunks) sha(c.payload);
    raw.push(Number(process.hrtime.bigint() - t) / 1e9);
    t = process.hrtime.bigint();
    const v = new RecordingVerifier<number>({ sha, deviceId: DEVICE, recordingId: 1, k1: rec.k1, prevSeal: new Uint8Array(32) });
    v.start({ genesis: rec.genesis, caseTag: "" });
    let linked = 0;
    for (let i = 0; i < rec.chunks.length; i++) linked += v.chunk(rec.chunks[i], i).linked.length;
    ver.push(Number(process.hrtime.bigint() - t) / 1e9);
    if (linked !== rec.chunks.length) throw new Error(`bench: only ${linked} of ${rec.chunks.length} chunks verified`);
  }
  const rawMBs = bytes / best(raw) / 1e6;
  const verMBs = bytes / best(ver) / 1e6;
  const over = ((best(ver) - best(raw)) / rec.chunks.length) * 1e6;
  console.log(`${String(kib).padStart(2)} KiB  ${String(rec.chunks.length).padStart(6)}  ${rawMBs.toFixed(0).padStart(16)}  ${verMBs.toFixed(0).padStart(11)}  ${(verMBs / rawMBs).toFixed(3)}  ${over.toFixed(2).padStart(8)}`);
}
