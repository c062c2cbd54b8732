// npm run bench:store [-- OPTIONS] (`--help` lists them with their defaults)
//
// The store's commit path on each driver, in one run with alternating rounds: the group commit's
// work without the network or the media files. Each batch is one transaction, written as
// gateway/ingest/commit.ts writes it (store/ingest.ts's commitRecordings: each recording's items
// merged, the whole batch in a few statements) and as its fallback does (commitRecording, each
// item in a savepoint: its chunk rows in multi-row INSERTs, one UPDATE of the recording). SQLite in
// a temporary file (WAL, synchronous=FULL); PostgreSQL 15 started for the run (fsync on). Prints
// chunk rows committed per second and the time per batch, medians of the rounds.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Db } from "../../gateway/store/db.js";
import { migrate } from "../../gateway/store/schema.js";
import { ALL_MIGRATIONS } from "../../gateway/gateway.js";
import { commitRecording, commitRecordings, mergeCommits } from "../../gateway/store/ingest.js";
import type { RecordingCommit } from "../../gateway/store/ingest.js";
import { postgresMissing, startPostgres } from "../helpers/postgres.js";
import type { PostgresServer } from "../helpers/postgres.js";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";

const opts = benchArgs("bench:store", "npm run bench:store [-- OPTIONS]", "The store's commit path on SQLite and on PostgreSQL 15, alternating rounds: chunk rows committed\na second and the time a batch (test/bench/store.bench.ts says how).", {
  recordings: { kind: "number", default: 50, integer: true, min: 1, help: "recordings written at once" },
  chunks: { kind: "number", default: 200, integer: true, min: 1, help: "chunks of each recording a round" },
  batch: { kind: "number", default: 256, integer: true, min: 1, help: "commit items a batch (the gateway's commitMaxBatch)" },
  rounds: { kind: "number", default: 3, integer: true, min: 1, help: "alternating rounds on each driver" },
});
const RECORDINGS = opts.recordings;
const CHUNKS = opts.chunks;
/** Commit items per batch (the gateway's commitMaxBatch); each item is one chunk of one recording. */
const BATCH = opts.batch;
const ROUNDS = opts.rounds;

const median = (xs: number[]) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

/** One recording's commit of one chunk, as ingest builds it. */
function item(device: string, recording: number, seq: number, at: number): RecordingCommit {
  return {
    device, recording, mediaPath: `${device}/${recording}.media`, at, deviceLost: false, create: seq === 1,
    start: seq === 1 ? { genesis: randomBytes(96), c0: randomBytes(32), caseTag: "", startMs: at, preEventMs: 0, clipAtMs: at, beaconSentMs: null } : undefined,
    chunks: [{ seq, header: randomBytes(128), tag: randomBytes(32), chain: randomBytes(32), flags: 0, timeMs: at + seq * 1000, durationMs: 1000, length: 16384, offset: (seq - 1) * 16384 }],
    state: { linkedSeq: seq, lastChain: randomBytes(32), totalBytes: seq * 16384, lastTimeMs: at + seq * 1000, mediaMs: seq * 1000, endMs: -1, verdict: "incomplete", final: false, reasons: [], lost: [], prevChecked: true },
  };
}

/** Commit RECORDINGS × CHUNKS chunks, interleaved as devices send them; returns chunks/s and ms per batch. */
async function round(db: Db, prefix: string, together: boolean): Promise<{ perS: number; msPerBatch: number }> {
  const at = Date.now();
  for (let r = 0; r < RECORDINGS; r++) {
    await db.run("INSERT INTO devices (id, root_enc, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [`${prefix}-${r}`, randomBytes(48), at]);
  }
  const items: RecordingCommit[] = [];
  for (let s = 1; s <= CHUNKS; s++) for (let r = 0; r < RECORDINGS; r++) items.push(item(`${prefix}-${r}`, 1, s, at));
  const t0 = performance.now();
  let batches = 0;
  for (let i = 0; i < items.length; i += BATCH) {
    const batch = items.slice(i, i + BATCH);
    await db.transaction(async () => {
      if (!together) {
        for (const c of batch) await db.savepoint(() => commitRecording(db, c));
        return;
      }
      // As the committer writes a batch: each recording's items merged, then all of them together.
      const byRec = new Map<string, RecordingCommit>();
      for (const c of batch) {
        const into = byRec.get(c.device);
        if (into) mergeCommits(into, c);
        else byRec.set(c.device, c);
      }
      await commitRecordings(db, [...byRec.values()]);
    });
    batches++;
  }
  const s = (performance.now() - t0) / 1000;
  const n = (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE device_id LIKE ?", [`${prefix}-%`]))!.n;
  if (n !== items.length) throw new Error(`${prefix}: ${n} chunk rows stored, ${items.length} committed`);
  return { perS: items.length / s, msPerBatch: (s * 1000) / batches };
}

async function main() {
  const missing = postgresMissing();
  const dir = mkdtempSync(join(tmpdir(), "evrec-store-bench-"));
  let pg: PostgresServer | null = null;
  const stop = async () => {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const forget = onInterrupt(stop);
  try {
    pg = missing ? null : await startPostgres(onInterrupt);
    const engines: [string, Db][] = [["SQLite", await Db.open(join(dir, "gateway.db"))]];
    if (pg) engines.push(["PostgreSQL", await Db.open(await pg.createDatabase())]);
    else console.log(`bench: PostgreSQL skipped: ${missing}`);
    for (const [, db] of engines) await migrate(db, ALL_MIGRATIONS);
    console.log(`bench: ${RECORDINGS} recordings × ${CHUNKS} chunks per round, batches of ${BATCH} items, ${ROUNDS} alternating rounds; node ${process.version}`);
    console.log("  together: the committer's way (each recording's items merged, the batch in a few statements); one by one: a savepoint per item (its fallback)");
    const ways: [string, boolean][] = [["together", true], ["one by one", false]];
    const res = new Map<string, { perS: number; msPerBatch: number }[]>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, db] of engines) {
        for (const [way, together] of ways) {
          const x = await round(db, `R${r}${together ? "T" : "S"}`, together);
          const key = `${name}, ${way}`;
          res.set(key, [...(res.get(key) || []), x]);
          console.log(`  round ${r + 1} ${key}: ${fmt(x.perS)} chunks/s, ${fmt(x.msPerBatch, 1)} ms per batch`);
        }
      }
    }
    console.log("");
    console.log("store                    chunks/s   ms per batch of " + BATCH);
    for (const [key, xs] of res) {
      console.log(`${key.padEnd(22)} ${fmt(median(xs.map((x) => x.perS))).padStart(10)}   ${fmt(median(xs.map((x) => x.msPerBatch)), 1).padStart(8)}`);
    }
    for (const [, db] of engines) await db.close();
  } finally {
    forget();
    await stop();
  }
}

await main();
