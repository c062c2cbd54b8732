// npm run bench:passes — the passes that walk the whole store, on a store the size of months of
// work: `admin audit verify`, `admin log verify`, `admin purge`, and the start every admin command
// (and the gateway) makes, each run as the admin CLI in a process of its own, with its time and
// peak resident memory. The store is filled fast, by plain bulk inserts into its SQLite file (the
// rows as the gateway writes them: a hash-chained audit log with a checkpoint line per entry, as
// the gateway writes them, a transparency log of audit-head leaves with its subtree hashes and a
// signed checkpoint every 64 leaves, recordings with their chunk rows, erased recordings with their
// tombstones). Prints figures; passes or fails nothing. `-- --help` lists its options.
import { spawnSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openStore } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { StationIdentity } from "../../gateway/evidence/identity.js";
import { auditEntryHash } from "../../protocol/audit-entry.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { MerkleBuilder, leafHash, treeHash } from "../../protocol/merkle.js";
import { encodeLeaf } from "../../protocol/leaves.js";
import { formatCheckpoint } from "../../protocol/note.js";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { verifyLog } from "../../gateway/evidence/verify-log.js";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";

const opts = benchArgs("bench:passes", "npm run bench:passes [-- OPTIONS]", "Time and peak memory of the admin CLI's whole-store passes (audit verify, log verify, purge, and\nthe start every command makes) on a store filled by bulk inserts (test/bench/passes.bench.ts says how).", {
  audit: { kind: "number", default: 300000, integer: true, min: 1, help: "audit log entries (one anchor checkpoint line each) and transparency log leaves anchoring them" },
  recordings: { kind: "number", default: 50000, integer: true, min: 0, help: "recordings within their retention (kept), with their chunk rows" },
  purged: { kind: "number", default: 50000, integer: true, min: 0, help: "recordings already erased by retention (a tombstone each)" },
  due: { kind: "number", default: 300, integer: true, min: 0, help: "recordings marked for purge whose undelete window has passed (erased by the pass), and as many whose retention ended (marked by it)" },
  chunks: { kind: "number", default: 20, integer: true, min: 1, help: "chunk rows per recording" },
  only: { kind: "string", default: "", help: "run only these passes, comma-separated (start, audit, log, audit-gw, log-gw, purge)" },
  keep: { kind: "flag", help: "keep the data directory (its path is printed)" },
});

const DAY = 86400e3;
const dir = mkdtempSync(join(tmpdir(), "evrec-bench-passes-"));
const stopCleanup = onInterrupt(() => { if (!opts.keep) rmSync(dir, { recursive: true, force: true }); });
const config = { ...DEFAULTS, dataDir: dir };

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

try {
  // The first start: migrations, the keys, the admin account and its token; then the rows, written straight.
  const store = await openStore(config);
  for (let d = 0; d < 100; d++) await store.registry.add(`BENCH-P${d}`, { root: randomBytes(32) });
  await store.db.close();
  const t0 = Date.now();
  const db = new Database(join(dir, "gateway.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = OFF");

  // The audit log: a hash chain, and a keyed checkpoint line per entry in the anchor (the gateway's default).
  const key = readFileSync(join(dir, "audit.key"));
  const heads: string[] = [];
  {
    const ins = db.prepare("INSERT INTO audit_log (seq, at, actor, action, target, reason, details, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    let prev = "0".repeat(64);
    let anchor: string[] = [];
    const start = Date.now() - 180 * DAY;
    db.transaction(() => {
      for (let seq = 1; seq <= opts.audit; seq++) {
        const row = { seq, at: start + seq * 1000, actor: "admin", action: "device.update", target: `BENCH-P${seq % 100}`, reason: null, details: `{"n":${seq}}`, prev };
        const hash = auditEntryHash(sha, row);
        ins.run(row.seq, row.at, row.actor, row.action, row.target, row.reason, row.details, row.prev, hash);
        heads.push(hash);
        prev = hash;
        const mac = createHmac("sha256", key).update("audit-checkpoint").update(u64(seq)).update(Buffer.from(hash, "hex")).digest("hex");
        anchor.push(`${seq} ${hash} ${mac}\n`);
        if (anchor.length === 10000) { appendFileSync(join(dir, "audit.anchor"), anchor.join("")); anchor = []; }
      }
    })();
    appendFileSync(join(dir, "audit.anchor"), anchor.join(""));
  }

  // The transparency log: a leaf anchoring each audit head, subtree hashes, a signed checkpoint every 64 leaves.
  {
    const { identity } = StationIdentity.loadOrCreate(dir, config.stationName, null);
    const leaf = db.prepare("INSERT INTO tlog_leaves (idx, ref, kind, data, hash, note, at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    const sub = db.prepare("INSERT INTO tlog_hashes (level, idx, hash) VALUES (?, ?, ?)");
    const cp = db.prepare("INSERT INTO tlog_checkpoints (size, root, note, at) VALUES (?, ?, ?, ?)");
    const builder = new MerkleBuilder(sha);
    const level: Uint8Array[][] = [[], [], []];
    db.transaction(() => {
      for (let i = 0; i < opts.audit; i++) {
        const data = encodeLeaf(sha, { type: "audit", v: 1, count: i + 1, head: heads[i], at: t0 });
        const h = leafHash(sha, data);
        leaf.run(i, `audit:${i + 1}`, "audit", data, h, null, t0);
        builder.push(h);
        level[0].push(h);
        for (let l = 0; l < 2 && level[l].length === 256; l++) {
          const t = treeHash(sha, level[l]);
          level[l] = [];
          sub.run(l + 1, Math.floor(i / 256 ** (l + 1)), t);
          level[l + 1].push(t);
        }
        if (builder.size % 64 === 0 || builder.size === opts.audit) {
          const root = builder.root();
          cp.run(builder.size, root, identity.signNote(formatCheckpoint({ origin: identity.name, size: builder.size, root, extensions: [] })), t0);
        }
      }
      const prog = db.prepare("INSERT INTO tlog_progress (source, last) VALUES (?, ?)");
      prog.run("audit-head", opts.audit);
      prog.run("custody-audit", opts.audit);
    })();
  }

  // Recordings: kept ones inside their retention, ones whose retention ended, ones marked and past
  // their undelete window (each with its chunk rows), and erased ones with their tombstones.
  {
    const rec = db.prepare(`INSERT INTO recordings (device_id, recording_id, total_bytes, verdict, final, media_path, first_received, last_received, purge_state, purge_due_at)
      VALUES (?, ?, ?, 'ok', 1, ?, ?, ?, ?, ?)`);
    const chunk = db.prepare("INSERT INTO chunks (device_id, recording_id, seq, header, tag, chain, flags, time_ms, duration_ms, length, media_offset, received_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, 1000, 4096, ?, ?)");
    const tomb = db.prepare("INSERT INTO tombstones (device_id, recording_id, seal_value, category, retain_until, marked_at, deleted_at, recording_leaf, deletion_leaf, bytes) VALUES (?, ?, NULL, 'routine', ?, ?, ?, -1, ?, ?)");
    const header = Buffer.alloc(150, 1);
    const tag = Buffer.alloc(32, 2);
    let n = 0;
    const add = (state: "kept" | "pending" | "purged", received: number, dueAt: number | null, chunks: boolean) => {
      const d = `BENCH-P${n % 100}`;
      const r = Math.floor(n / 100) + 1;
      n++;
      rec.run(d, r, opts.chunks * 4096, `${d}/${String(r).padStart(6, "0")}.media`, received, received, state, dueAt);
      if (chunks) for (let s = 1; s <= opts.chunks; s++) chunk.run(d, r, s, header, tag, tag, received + s * 1000, (s - 1) * 4096, received);
      if (state === "purged") tomb.run(d, r, received + 180 * DAY, received + 180 * DAY, received + 187 * DAY, n, opts.chunks * 4096);
    };
    db.transaction(() => {
      const now = Date.now();
      for (let i = 0; i < opts.purged; i++) add("purged", now - 400 * DAY + i, null, false);
      for (let i = 0; i < opts.due; i++) add("pending", now - 200 * DAY + i, now - DAY, true);
      for (let i = 0; i < opts.due; i++) add("kept", now - 190 * DAY + i, null, true);
      for (let i = 0; i < opts.recordings; i++) add("kept", now - 170 * DAY + (i * 170 * DAY) / opts.recordings, null, true);
    })();
  }
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  const rows = opts.audit * 2 + (opts.recordings + 2 * opts.due) * (opts.chunks + 1) + opts.purged * 2;
  console.log(`bench:passes: ${opts.audit} audit entries (and anchor lines), ${opts.audit} log leaves with ${Math.floor(opts.audit / 64)} checkpoints, ` +
    `${opts.recordings + 2 * opts.due} recordings with ${(opts.recordings + 2 * opts.due) * opts.chunks} chunk rows, ${opts.purged} tombstones: ~${(rows / 1e6).toFixed(1)} M rows in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  // Each pass as the admin CLI, in a process of its own: its wall time and peak RSS.
  const only = opts.only ? new Set(opts.only.split(",")) : null;
  const pass = (name: string, what: string, args: string[]) => {
    if (only && !only.has(name)) return;
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ["--import", "tsx", "test/bench/rss-run.ts", "gateway/cli.ts", "--data-dir", dir, ...args], { encoding: "utf8", maxBuffer: 256 << 20 });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    const rss = /peak-rss-kib (\d+)/.exec(r.stderr);
    const first = (r.stdout.split("\n")[0] || r.stderr.split("\n").find((l) => l.startsWith("admin:")) || "").slice(0, 110);
    console.log(`  ${what.padEnd(34)} ${(ms / 1000).toFixed(1).padStart(6)} s  ${rss ? `${Math.round(Number(rss[1]) / 1024)} MiB`.padStart(9) : "        ?"}  exit ${r.status}  ${first}`);
  };
  console.log("  pass                                 time  peak RSS");
  pass("start", "start (open the store, station-key)", ["station-key"]);
  pass("audit", "admin audit verify", ["audit", "verify"]);
  pass("log", "admin log verify", ["log", "verify"]);
  // In the gateway's own process (the API's /api/audit/verify, a timed pass): how long its event
  // loop was held at most, and how long a write (an audit entry, as an admin's change or a
  // commit would queue) waited behind the pass, one tried every 100 ms while it ran.
  const inProcess = async (name: string, what: string, run: (s: Awaited<ReturnType<typeof openStore>>) => Promise<unknown>) => {
    if (only && !only.has(name)) return;
    const s = await openStore(config);
    try {
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      let running = true;
      let worst = 0;
      let writes = 0;
      const writer = (async () => {
        while (running) {
          const t = performance.now();
          await s.audit.append({ actor: "bench", action: "bench.write", target: `w${writes++}` });
          worst = Math.max(worst, performance.now() - t);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const t = performance.now();
      await run(s);
      const ms = performance.now() - t;
      running = false;
      await writer;
      loop.disable();
      console.log(`  ${what.padEnd(34)} ${(ms / 1000).toFixed(1).padStart(6)} s  event loop held at most ${(loop.max / 1e6).toFixed(0)} ms; ${writes} writes meanwhile, the slowest ${worst.toFixed(0)} ms`);
    } finally {
      await s.db.close();
    }
  };
  await inProcess("audit-gw", "audit verify in the gateway", (s) => s.audit.verify());
  await inProcess("log-gw", "log verify in the gateway", (s) => verifyLog(s.db, s.identity));
  pass("purge", "admin purge", ["purge"]);
  if (opts.keep) console.log(`bench:passes: data directory kept: ${dir}`);
} finally {
  stopCleanup();
  if (!opts.keep) rmSync(dir, { recursive: true, force: true });
}
