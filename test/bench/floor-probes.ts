// Two parts of the bench's floor (compare.bench.ts, floorOf) that every chunk of this design costs
// whatever the gateway around them does, measured in the bench's own process:
//
// - verifyHashesUs: the verification's hashes besides the payload's: a chunk's chain value, its
//   tag and the key step (R-CHN-2, R-TAG-1, R-TAG-2), through the primitives the gateway uses
//   (protocol/chain.ts on node:crypto), one call each per chunk;
// - rowCpuUs: a chunk's row and its recording's state written as the store writes them
//   (gateway/store/ingest.ts's statements, one transaction a batch through the SQLite thread,
//   WAL with synchronous=FULL), in batches shaped as the bench's maximum makes them: `per` chunks
//   of each of `recordings` recordings (a loaded gateway's batch holds about a window of each
//   device's chunks). The process's CPU (both threads) a chunk; the kernel's writeback threads are
//   not counted.
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { ChainCrypto } from "../../protocol/chain.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { HEADER_LEN } from "../../protocol/constants.js";
import { Db } from "../../gateway/store/db.js";
import { migrate } from "../../gateway/store/schema.js";
import { ALL_MIGRATIONS } from "../../gateway/gateway.js";
import { recordingStatements } from "../../gateway/store/ingest.js";
import { insertDevice } from "../../gateway/store/devices.js";
import type { RecordingCommit } from "../../gateway/store/ingest.js";

/** CPU µs a chunk of its chain value, tag and key step, over about `ms` milliseconds. */
export function verifyHashesUs(ms = 700): number {
  const cc = new ChainCrypto(nodeSha256);
  const header = randomBytes(HEADER_LEN);
  let k: Uint8Array = randomBytes(32);
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 200; i++) {
      const c = cc.chunkValue(header);
      cc.tag(k, c);
      k = cc.keyStep(k);
    }
    n += 200;
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

/** Batches that warm the statements' code up before the probe counts. */
const WARM = 5;

/** Process CPU µs a chunk for its row and its recording's state, in `batches` transactions of `per` chunks of each of `recordings` recordings. */
export async function rowCpuUs(tmp: string, recordings: number, per: number, batches = 40): Promise<number> {
  const dir = mkdtempSync(join(tmp, "row-probe-"));
  const db = await Db.open(join(dir, "gateway.db"));
  try {
    await migrate(db, ALL_MIGRATIONS);
    const at = Date.now();
    // A recording's share of a batch: chunks `from` to `from + n - 1`.
    const commit = (r: number, from: number, n: number): RecordingCommit => ({
      device: `dev-${r}`, recording: 1, mediaPath: `dev-${r}/1.media`, at, deviceLost: false, create: from === 1,
      start: from === 1 ? { genesis: randomBytes(96), c0: randomBytes(32), caseTag: "", startMs: at, preEventMs: 0, clipAtMs: at, beaconSentMs: null } : undefined,
      chunks: Array.from({ length: n }, (_, i) => ({ seq: from + i, header: randomBytes(HEADER_LEN), tag: randomBytes(32), chain: randomBytes(32), flags: 0, timeMs: at + (from + i) * 1000, durationMs: 1000, length: 4096, offset: (from + i - 1) * 4096 })),
      state: { linkedSeq: from + n - 1, lastChain: randomBytes(32), totalBytes: (from + n - 1) * 4096, lastTimeMs: at + (from + n - 1) * 1000, mediaMs: (from + n - 1) * 1000, endMs: -1, verdict: "incomplete", final: false, reasons: [], lost: [], prevChecked: true },
    });
    for (let r = 0; r < recordings; r++) await insertDevice(db, { id: `dev-${r}`, kind: "body", rootEnc: randomBytes(48), chipSerial: null, createdAt: at });
    // The recordings' rows exist first (their creation is a recording's, not a chunk's, cost).
    await db.writeBatch(recordingStatements(Array.from({ length: recordings }, (_, r) => commit(r, 1, 1))));
    // Every batch built before the clock starts: the probe times the statements and the writes only.
    const all = Array.from({ length: WARM + batches }, (_, b) => Array.from({ length: recordings }, (_, r) => commit(r, 2 + b * per, per)));
    for (const batch of all.splice(0, WARM)) await db.writeBatch(recordingStatements(batch));
    let chunks = 0;
    const c0 = process.cpuUsage();
    for (const batch of all) {
      await db.writeBatch(recordingStatements(batch));
      chunks += batch.length * per;
    }
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / chunks;
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
