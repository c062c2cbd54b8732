// The gateway's commit path alone, at a set rate: what its commit latency would be with no network,
// no MQTT and no verification in front of it, on this disk, now.
//
// npm run bench:commit -- --rate 7600 [OPTIONS] (`--help` lists them with their defaults)
//
// The group committer (gateway/ingest/commit.ts) with the station's own stores (SQLite in WAL with
// synchronous=FULL in its thread, media files fsync'd) and the gateway's defaults (a batch waits
// at most 5 ms, at most 256 items), fed as ingest feeds it: each chunk of each recording one
// item, with its media and its rows built as ingest builds them (a later item of a recording
// still waiting joins the earlier one), the recordings' chunks arriving evenly at the set rate
// as the bench's devices send them. Each chunk's latency is from its arrival to its commit, as
// the gateway's `evrec_commit_latency_seconds` measures it. The bench runs it beside its
// half-rate run (compare.bench.ts): what the gateway adds above it is everything but the disk.
//
// Prints one line of JSON: latency p50/p99/max (ms) of the chunks sent after the first second,
// the batches' phases (means and p99, ms) and the least a chunk can wait, its own batch's
// whole cycle (media, fsync, transaction) at p50 and p99.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Db } from "../../gateway/store/db.js";
import { migrate } from "../../gateway/store/schema.js";
import { MediaStore } from "../../gateway/store/media.js";
import { ALL_MIGRATIONS } from "../../gateway/gateway.js";
import { GroupCommitter } from "../../gateway/ingest/commit.js";
import type { Work } from "../../gateway/ingest/commit.js";
import { RecordingWork } from "../../gateway/ingest/recording.js";
import type { RecordingCommit } from "../../gateway/store/ingest.js";
import { DEFAULTS } from "../../gateway/config.js";
import { benchArgs, benchDefaults } from "./args.js";
import { onInterrupt } from "./interrupt.js";
import type { BenchOption } from "./args.js";

const SPEC = {
  rate: { kind: "number", min: 1, required: true, help: "chunks a second" },
  size: { kind: "number", default: 4, min: 0.001, help: "chunk size, KiB" },
  recordings: { kind: "number", default: 50, integer: true, min: 1, help: "recordings written at once, their chunks arriving evenly" },
  seconds: { kind: "number", default: 6, min: 1, help: "seconds measured" },
  warmup: { kind: "number", default: 3, min: 0, help: "seconds of the same load before, on recordings of their own" },
  tmp: { kind: "string", default: tmpdir(), help: "where its temporary directory is made (the disk measured)" },
  "media-journal-mb": { kind: "number", default: DEFAULTS.mediaJournalMb, min: 0, help: "the media journal as the gateway keeps it (--media-journal-mb; 0: none)" },
} satisfies Record<string, BenchOption>;
const MAIN = !!process.argv[1] && /commit-alone\.ts$/.test(process.argv[1]);
// Imported, it takes the defaults: the command line is its importer's.
const opts = MAIN
  ? benchArgs("bench:commit", "npm run bench:commit -- --rate N [OPTIONS]", "The gateway's group committer with SQLite and media files, fed in-process at a set rate: commit\nlatency with nothing in front of it (test/bench/commit-alone.ts says how). Prints one line of JSON.", SPEC)
  : benchDefaults(SPEC);
const SIZE = opts.size * 1024;
const RECORDINGS = opts.recordings;
const SECONDS = opts.seconds;
const WARMUP_S = opts.warmup;
const TMP = opts.tmp;
const JOURNAL_MB = opts["media-journal-mb"];

export interface CommitAlone {
  rate: number;
  size: number;
  committed: number;
  latency: { p50: number; p99: number; max: number; n: number };
  batches: { n: number; items: number; mediaMs: number; syncMs: number; sqlMs: number; cycleP50: number; cycleP99: number };
}

const q = (xs: number[], p: number) => (xs.length ? Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] * 10) / 10 : 0);

interface Rec { device: string; recording: number; seq: number; offset: number; owner: { dead: boolean } }

function commitOf(r: Rec, payload: Uint8Array, at: number): Work {
  const seq = ++r.seq;
  const c: RecordingCommit = {
    device: r.device, recording: r.recording, mediaPath: `${r.device}/${r.recording}.media`, at, deviceLost: false, create: seq === 1,
    start: seq === 1 ? { genesis: randomBytes(96), c0: randomBytes(32), caseTag: "", startMs: at, preEventMs: 0, clipAtMs: at, beaconSentMs: null } : undefined,
    chunks: [{ seq, header: randomBytes(128), tag: randomBytes(32), chain: randomBytes(32), flags: 0, timeMs: at, durationMs: 1000, length: payload.length, offset: r.offset }],
    state: { linkedSeq: seq, lastChain: randomBytes(32), totalBytes: r.offset + payload.length, lastTimeMs: at, mediaMs: seq * 1000, endMs: -1, verdict: "incomplete", final: false, reasons: [], lost: [], prevChecked: true },
  };
  const media = [{ path: c.mediaPath, offset: r.offset, bytes: payload }];
  r.offset += payload.length;
  return new RecordingWork(r.device, r.owner, c, media);
}

/** Chunks of every recording, evenly, at `rate` a second for `ms`; the latencies of those sent after `measureFrom` ms. */
async function load(committer: GroupCommitter, recs: Rec[], rate: number, ms: number, measureFrom: number, out: number[]): Promise<number> {
  const payload = randomBytes(SIZE);
  const t0 = performance.now();
  let sent = 0;
  const pending: Promise<void>[] = [];
  let next = 0;
  while (performance.now() - t0 < ms) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; sent < due; sent++) {
      const r = recs[next];
      next = (next + 1) % recs.length;
      const at = performance.now();
      const measured = at - t0 >= measureFrom;
      pending.push(committer.submit(commitOf(r, payload, Date.now())).then(() => { if (measured) out.push(performance.now() - at); }));
    }
    // The loop waits for the next millisecond's chunks; what completes meanwhile (the commits'
    // writes and transactions) wakes it at once, as nothing else keeps it busy.
    await new Promise((res) => setTimeout(res, 1));
  }
  await Promise.all(pending);
  return sent;
}

export async function commitAlone(rate: number): Promise<CommitAlone> {
  const dir = mkdtempSync(join(TMP, "evrec-commit-alone-"));
  const db = await Db.open(join(dir, "gateway.db"));
  const media = new MediaStore(join(dir, "media"));
  const forget = onInterrupt(() => rmSync(dir, { recursive: true, force: true }));
  try {
    await migrate(db, ALL_MIGRATIONS);
    if (JOURNAL_MB > 0) await media.journal(JOURNAL_MB * 1048576);
    const batches: { items: number; media: number; sync: number; sql: number }[] = [];
    let record = false;
    const committer = new GroupCommitter(db, media, DEFAULTS.commitDelayMs, DEFAULTS.commitMaxBatch, {}, (items, m, s, t) => {
      if (record) batches.push({ items, media: m * 1000, sync: s * 1000, sql: t * 1000 });
    });
    const at = Date.now();
    const recs: Rec[] = [];
    for (let i = 0; i < RECORDINGS * 2; i++) {
      const device = `alone-${i}`;
      await db.run("INSERT INTO devices (id, root_enc, created_at) VALUES (?, ?, ?)", [device, randomBytes(48), at]);
      recs.push({ device, recording: 1, seq: 0, offset: 0, owner: { dead: false } });
    }
    // Warm-up on recordings of their own, as the bench warms the gateway; then the measured load.
    await load(committer, recs.slice(RECORDINGS), rate, WARMUP_S * 1000, Infinity, []);
    record = true;
    const lat: number[] = [];
    const sent = await load(committer, recs.slice(0, RECORDINGS), rate, SECONDS * 1000, 1000, lat);
    await committer.flush();
    lat.sort((a, b) => a - b);
    const cycles = batches.map((b) => b.media + b.sync + b.sql).sort((a, b) => a - b);
    const mean = (f: (b: (typeof batches)[number]) => number) => Math.round((batches.reduce((a, b) => a + f(b), 0) / Math.max(1, batches.length)) * 10) / 10;
    return {
      rate, size: SIZE, committed: sent,
      latency: { p50: q(lat, 0.5), p99: q(lat, 0.99), max: q(lat, 1), n: lat.length },
      batches: { n: batches.length, items: mean((b) => b.items), mediaMs: mean((b) => b.media), syncMs: mean((b) => b.sync), sqlMs: mean((b) => b.sql), cycleP50: q(cycles, 0.5), cycleP99: q(cycles, 0.99) },
    };
  } finally {
    forget();
    await media.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (MAIN) {
  // --rate is required: benchArgs refused a run without it.
  process.stdout.write(JSON.stringify(await commitAlone(opts.rate as number)) + "\n");
}
