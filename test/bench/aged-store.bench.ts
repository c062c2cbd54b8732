// npm run bench:aged [-- OPTIONS] (`--help` lists them with their defaults)
//
// A station after its retention period: does what its people read every day stay fast? The bench
// fills a store with an aged station (by default 100 recorders, 180 days, 8 recordings of 15
// minutes a recorder a day: 144,000 recordings; their chunk rows, 30 a recording here, 4.3 million;
// a check-out and a return a recorder a day; cases with linked clips and their custody events;
// 400 audit entries a day, hash-chained; alarms), written straight into its tables in big
// transactions, with no media files. Then it starts the gateway on it, as `npm start` would, and
// times every everyday read through the service layer the API, the console and the CLI call: the
// clips page (all, one officer's, a week), a clip's page and its custody report, the reports, the
// audit listing, alarms, devices, cases; each a few times, printing p50 and max and the rows it
// gave. None of these reads touches a media file (a download and an export do; they are not timed
// here). `--plans` prints the store's query plan of every statement each read sent, and flags
// the full scans of big tables.
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { openStore, startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import type { GatewayConfig } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { fillAgedStation, everydayReads } from "../helpers/aged-station.js";
import { postgresMissing, startPostgres } from "../helpers/postgres.js";
import type { PostgresServer } from "../helpers/postgres.js";
import { fullScans, partialIndexes, planOf, readsOf } from "../helpers/statements.js";
import { unloggedSealedRecordings } from "../../gateway/store/tlog.js";
import { benchArgs } from "./args.js";
import { onInterrupt } from "./interrupt.js";

const opts = benchArgs("bench:aged", "npm run bench:aged [-- OPTIONS]", "A station's store after its retention period, filled in bulk; then the gateway's start on it and\nevery everyday read, timed through the service layer (test/bench/aged-store.bench.ts says how).", {
  devices: { kind: "number", default: 100, integer: true, min: 1, help: "recorders (body-worn), 4 officers on the roster for each" },
  days: { kind: "number", default: 180, integer: true, min: 1, help: "days of history (the retention period)" },
  "per-day": { kind: "number", default: 8, integer: true, min: 1, help: "recordings of 15 minutes a recorder a day" },
  chunks: { kind: "number", default: 30, integer: true, min: 1, help: "chunk rows a recording (900 is 1 s chunks; the chunk's duration is 15 min / this)" },
  "audit-per-day": { kind: "number", default: 400, integer: true, min: 0, help: "audit entries a day" },
  "cases-per-day": { kind: "number", default: 10, integer: true, min: 0, help: "cases a day, 2 clips linked to each" },
  repeats: { kind: "number", default: 5, integer: true, min: 1, help: "times each read is timed" },
  writes: { kind: "number", default: 3, min: 0, help: "seconds of writes timed alone, then as many beside the log's source pass (0: none)" },
  db: { kind: "string", default: "sqlite", choices: ["sqlite", "postgres"], help: "the store: SQLite in the data directory, or PostgreSQL 15 started for the run" },
  reads: { kind: "string", default: "", help: "time only the reads whose names contain one of these words (comma-separated), e.g. clips,audit" },
  plans: { kind: "flag", help: "print each read's statements' query plans, flagging full scans of big tables" },
  json: { kind: "string", default: "", help: "also write the figures to this file as JSON" },
});

const BIG = ["chunks", "recordings", "audit_log", "custody_events", "clip_links", "assignments", "alarms"];
const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const quantile = (xs: number[], q: number) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

interface ReadFigure { read: string; rows: number; p50Ms: number; maxMs: number; statements: number; fullScans: string[] }

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "evrec-aged-"));
  let pg: PostgresServer | null = null;
  let gw: Gateway | null = null;
  const stop = async () => {
    await gw?.close().catch(() => undefined);
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const forget = onInterrupt(stop);
  try {
    let dbUrl = "";
    if (opts.db === "postgres") {
      const missing = postgresMissing();
      if (missing) throw new Error(`bench:aged: PostgreSQL: ${missing}`);
      pg = await startPostgres(onInterrupt);
      dbUrl = await pg.createDatabase();
    }
    // No timed passes during the reads: no scrub, no purge, no log updates, no time beacons.
    const config: GatewayConfig = { ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, db: dbUrl, diskMinFreeMb: 1, beaconIntervalS: 0, scrubMibPerS: 0, purgeIntervalH: 0, logIntervalMs: 0 };
    const now = Date.now();
    console.log(`bench: ${opts.devices} recorders, ${opts.days} days, ${opts["per-day"]} recordings a recorder a day of ${opts.chunks} chunks, ${opts["audit-per-day"]} audit entries and ${opts["cases-per-day"]} cases a day; ${opts.db === "sqlite" ? "SQLite" : "PostgreSQL 15"}; node ${process.version}`);
    const t0 = performance.now();
    const store = await openStore(config);
    const seed = await fillAgedStation(store.db, store.registry, now, { devices: opts.devices, days: opts.days, perDay: opts["per-day"], chunks: opts.chunks, auditPerDay: opts["audit-per-day"], casesPerDay: opts["cases-per-day"] });
    await store.db.close();
    const fillS = (performance.now() - t0) / 1000;
    const f = seed.filled;
    const bytes = opts.db === "sqlite" ? ["gateway.db", "gateway.db-wal"].reduce((n, f) => n + (existsSync(join(dir, f)) ? statSync(join(dir, f)).size : 0), 0) : null;
    console.log(`filled in ${fmt(fillS, 1)} s${bytes === null ? "" : ` (${fmt(bytes / 1048576)} MiB of SQLite)`}: ${fmt(f.recordings)} recordings (${fmt(f.leaves)} logged), ${fmt(f.chunks)} chunk rows, ${fmt(f.assignments)} check-outs, ${fmt(f.cases)} cases, ${fmt(f.links)} links and custody events, ${fmt(f.audit)} audit entries, ${fmt(f.alarms)} alarms, ${fmt(f.officers)} officers`);

    // The start, as `npm start` makes it (migrations, key checks, the audit log, the first fleet
    // check), then its resume passes (links left unchecked, tag links left unmade, alarms left
    // unraised), which the gateway runs in the background.
    const s0 = performance.now();
    const o = await openStore(config);
    const openMs = performance.now() - s0;
    await o.db.close();
    const s1 = performance.now();
    gw = await startGateway(config, createLogger("silent"));
    const startMs = performance.now() - s1;
    const s2 = performance.now();
    await gw.ingest.checkUncheckedLinks();
    await gw.ingest.resumeTagLinks();
    await gw.alarms.raiseUnraised();
    const resumeMs = performance.now() - s2;
    const s3 = performance.now();
    await gw.checkDisk();
    const fleetMs = performance.now() - s3;
    console.log(`start: openStore (the CLI's) ${fmt(openMs)} ms; the gateway's start ${fmt(startMs)} ms; resume passes ${fmt(resumeMs)} ms; a fleet check (every 5 s) ${fmt(fleetMs)} ms`);

    // The passes the gateway runs on its own, beside ingest's commits on the same connection:
    // each statement's time is time ingest waits (p50 and max of --repeats, cache warm).
    const passes: [string, () => Promise<unknown>][] = [
      ["log source pass (after each seal)", () => unloggedSealedRecordings(gw!.db, 100)],
      ["silent devices (every 5 s)", () => gw!.alarms.checkSilentDevices(now, config.silentAfterS * 1000)],
      ["upload deadline (every minute)", () => gw!.alarms.checkUploadDeadline(now, 24 * 3600e3)],
      ["expired certificates (every 5 s)", () => gw!.model.checkoutsWithExpiredCert(now)],
      ["unraised alarms (hourly)", () => gw!.alarms.raiseUnraised()],
    ];
    const passFigures: { pass: string; p50Ms: number; maxMs: number }[] = [];
    for (const [name, run] of passes) {
      const times: number[] = [];
      for (let i = 0; i < opts.repeats; i++) {
        const t = performance.now();
        await run();
        times.push(performance.now() - t);
      }
      passFigures.push({ pass: name, p50Ms: quantile(times, 0.5), maxMs: Math.max(...times) });
    }
    console.log(`timed passes, p50 / max ms: ${passFigures.map((p) => `${p.pass} ${fmt(p.p50Ms, 2)} / ${fmt(p.maxMs, 2)}`).join("; ")}`);
    // What a pass costs ingest: a one-row write (a device's last_seen, committed and synced as
    // ingest's are) every 10 ms for --writes seconds, alone, then with the log's source pass beside it as a
    // busy station runs it (after each seal, at most every 50 ms).
    const writes = async (beside: boolean): Promise<number[]> => {
      let stop = false;
      const passLoop = (async () => {
        while (beside && !stop) {
          await unloggedSealedRecordings(gw!.db, 100);
          await sleep(50);
        }
      })();
      const lat: number[] = [];
      for (const end = performance.now() + opts.writes * 1000; performance.now() < end;) {
        const t = performance.now();
        await gw!.db.run("UPDATE devices SET last_seen = ? WHERE id = ?", [Date.now(), seed.clip.device]);
        lat.push(performance.now() - t);
        await sleep(10);
      }
      stop = true;
      await passLoop;
      return lat;
    };
    const said = (l: number[]) => `${fmt(quantile(l, 0.5), 1)} / ${fmt(quantile(l, 0.99), 1)} / ${fmt(Math.max(...l), 1)}`;
    const alone = await writes(false), beside = await writes(true);
    if (alone.length && beside.length) console.log(`a write every 10 ms, p50 / p99 / max ms: alone ${said(alone)}; beside the log's source pass every 50 ms ${said(beside)}`);

    const only = opts.reads.split(",").map((w) => w.trim()).filter(Boolean);
    const reads = everydayReads(gw.services, seed).filter(([name]) => !only.length || only.some((w) => name.includes(w)));
    const figures: ReadFigure[] = [];
    const partial = await partialIndexes(gw.db);
    console.log("");
    console.log("read                                          rows     p50 ms    max ms");
    for (const [name, run] of reads) {
      const times: number[] = [];
      let rows = 0;
      // Timed alone, then once more with its statements caught for their plans.
      for (let i = 0; i < opts.repeats; i++) {
        const t = performance.now();
        const out = await run();
        times.push(performance.now() - t);
        rows = countOf(out);
      }
      const c = await readsOf(gw.db, run);
      const scans: string[] = [];
      for (const st of c.caught) {
        const plan = await planOf(gw.db, st);
        const found = fullScans(st, plan, BIG, partial);
        scans.push(...found);
        if (opts.plans) {
          console.log(`  ${st.sql.replace(/\s+/g, " ").slice(0, 160)}`);
          for (const step of plan) console.log(`      ${found.includes(step) ? "FULL " : "     "}${step}`);
        }
      }
      const fig = { read: name, rows, p50Ms: quantile(times, 0.5), maxMs: Math.max(...times), statements: c.caught.length, fullScans: [...new Set(scans)] };
      figures.push(fig);
      console.log(`${name.padEnd(42)} ${fmt(rows).padStart(7)} ${fmt(fig.p50Ms, 1).padStart(10)} ${fmt(fig.maxMs, 1).padStart(9)}${fig.fullScans.length ? "   full scan: " + fig.fullScans.join("; ") : ""}`);
    }
    if (opts.json) {
      writeFileSync(opts.json, JSON.stringify({ db: opts.db, options: opts, filled: f, fillS, storeBytes: bytes, start: { openStoreMs: openMs, startMs, resumeMs, fleetCheckMs: fleetMs }, passes: passFigures, writesMs: alone.length && beside.length ? { alone: { p50: quantile(alone, 0.5), p99: quantile(alone, 0.99), max: Math.max(...alone) }, besideLogPass: { p50: quantile(beside, 0.5), p99: quantile(beside, 0.99), max: Math.max(...beside) } } : null, reads: figures }, null, 2));
      console.log(`\nfigures written to ${opts.json}`);
    }
  } finally {
    forget();
    await stop();
  }
}

/** How many rows a read gave: a list's length, a report's rows or cases, a page's recordings, else 1. */
function countOf(out: unknown): number {
  if (Array.isArray(out)) return out.length;
  if (out && typeof out === "object") {
    for (const k of ["rows", "cases", "units", "recordings"]) {
      const v = (out as Record<string, unknown>)[k];
      if (Array.isArray(v)) return v.length;
    }
  }
  return 1;
}

await main();
