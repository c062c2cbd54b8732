// The group commit's two ways of writing a batch: many recordings' shares together in a few
// statements, and, when anything in that fails, each item in its own savepoint so only the bad one
// is refused. On SQLite here, and on PostgreSQL in the project "postgres".
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Db } from "../../gateway/store/db.js";
import { openTestDb } from "../helpers/postgres.js";
import { INGEST_MIGRATIONS, migrate } from "../../gateway/store/schema.js";
import { MediaStore } from "../../gateway/store/media.js";
import { GroupCommitter, SupersededError } from "../../gateway/ingest/commit.js";
import type { Work } from "../../gateway/ingest/commit.js";
import { commitRecording, recordingsTogether } from "../../gateway/store/ingest.js";
import type { RecordingCommit } from "../../gateway/store/ingest.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), "evrec-commit-"));
  const db = await openTestDb(join(dir, "gateway.db"));
  const media = new MediaStore(join(dir, "media"));
  cleanups.push(async () => {
    await media.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await migrate(db, [INGEST_MIGRATIONS]);
  const device = (id: string) => db.run("INSERT INTO devices (id, state, root_enc, created_at) VALUES (?, 'active', ?, ?)", [id, Buffer.alloc(60), Date.now()]);
  for (let i = 0; i < 40; i++) await device(`DEV-${i}`);
  for (const id of ["GOOD-1", "BAD", "GOOD-2"]) await device(id);
  // Statements the store sends, counted.
  const sent = { n: 0 };
  const run = db.run.bind(db);
  db.run = ((sql: string, params?: unknown[]) => { sent.n++; return run(sql, params as never); }) as typeof db.run;
  const runAll = db.runAll.bind(db);
  db.runAll = ((stmts: { sql: string; params: unknown[] }[]) => { sent.n += stmts.length; return runAll(stmts as never); }) as typeof db.runAll;
  const writeBatch = db.writeBatch.bind(db);
  db.writeBatch = ((stmts: { sql: string; params: unknown[] }[]) => { sent.n += stmts.length; return writeBatch(stmts as never); }) as typeof db.writeBatch;
  return { dir, db, media, sent };
}

/** Recording `r` of `device`: chunks `from`..`to`, its row made if `create`. */
function share(device: string, r: number, from: number, to: number, create: boolean): RecordingCommit {
  const at = Date.now();
  const chunks = [];
  for (let seq = from; seq <= to; seq++) chunks.push({ seq, header: randomBytes(128), tag: randomBytes(32), chain: randomBytes(32), flags: 0, timeMs: at + seq * 512, durationMs: 512, length: 64, offset: (seq - 1) * 64 });
  return {
    device, recording: r, mediaPath: `${device}/${r}.media`, at, deviceLost: false, create,
    start: create ? { genesis: randomBytes(96), c0: randomBytes(32), caseTag: "", startMs: at, preEventMs: 0, clipAtMs: at, beaconSentMs: null } : undefined,
    chunks,
    state: { linkedSeq: to, lastChain: chunks[chunks.length - 1].chain, totalBytes: to * 64, lastTimeMs: at + to * 512, mediaMs: to * 512, endMs: -1, verdict: "incomplete", final: false, reasons: [], lost: [], prevChecked: true },
  };
}

const work = (c: RecordingCommit, bytes?: Buffer): Work => ({
  media: bytes ? [{ path: c.mediaPath, offset: (c.chunks[0].seq - 1) * 64, bytes }] : undefined,
  sql: (db) => commitRecording(db, c),
  together: { statements: recordingsTogether, item: c },
});

async function rows(db: Db, device: string) {
  const rec = await db.get<{ linked_seq: number; total_bytes: number; last_time_ms: number; start_ms: number | null }>("SELECT linked_seq, total_bytes, last_time_ms, start_ms FROM recordings WHERE device_id = ?", [device]);
  const n = await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM chunks WHERE device_id = ?", [device]);
  return { rec, chunks: n!.n };
}

describe("group commit", () => {
  it("writes many recordings' shares in a few statements, with the rows each would have alone", async () => {
    const { dir, db, media, sent } = await setup();
    const c = new GroupCommitter(db, media, 5, 1000);
    // First the rows with their starts, then 40 recordings' next 30 chunks each, in one batch.
    await Promise.all(Array.from({ length: 40 }, (_, i) => c.submit(work(share(`DEV-${i}`, 1, 1, 2, true)))));
    sent.n = 0;
    const bytes = randomBytes(30 * 64);
    await Promise.all(Array.from({ length: 40 }, (_, i) => c.submit(work(share(`DEV-${i}`, 1, 3, 32, false), bytes))));
    // One at a time this is 160 statements (a savepoint, the chunks, the state and a release each).
    expect(sent.n).toBeGreaterThan(0);
    expect(sent.n).toBeLessThanOrEqual(4);
    for (let i = 0; i < 40; i++) {
      const { rec, chunks } = await rows(db, `DEV-${i}`);
      expect(chunks).toBe(32);
      expect(rec).toMatchObject({ linked_seq: 32, total_bytes: 32 * 64 });
      expect(rec!.start_ms).toBeGreaterThan(0); // the start's columns, written by its own UPDATE, kept
      expect(readFileSync(join(dir, "media", `DEV-${i}/1.media`)).subarray(2 * 64)).toEqual(bytes);
    }
  });

  it("refuses only the item whose rows can't be written when a batch written together fails", async () => {
    const { db, media } = await setup();
    const c = new GroupCommitter(db, media, 5, 1000);
    await Promise.all(["GOOD-1", "BAD", "GOOD-2"].map((d) => c.submit(work(share(d, 1, 1, 1, true)))));
    const bad = share("BAD", 1, 2, 3, false);
    (bad.chunks[1] as { header: Uint8Array | null }).header = null; // NOT NULL: this item's statements fail
    const results = await Promise.allSettled([work(share("GOOD-1", 1, 2, 3, false)), work(bad), work(share("GOOD-2", 1, 2, 3, false))].map((w) => c.submit(w)));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(await rows(db, "GOOD-1")).toMatchObject({ chunks: 3, rec: { linked_seq: 3 } });
    expect(await rows(db, "GOOD-2")).toMatchObject({ chunks: 3, rec: { linked_seq: 3 } });
    // Nothing of the bad item: not its good chunk, not its state.
    expect(await rows(db, "BAD")).toMatchObject({ chunks: 1, rec: { linked_seq: 1 } });
  });

  it("refuses what was built on an item that failed, even when its media went to the disk during that item's transaction", async () => {
    const { db, media } = await setup();
    const c = new GroupCommitter(db, media, 5, 1000);
    await c.submit(work(share("BAD", 1, 1, 1, true)));
    const owner = { dead: false };
    const first = share("BAD", 1, 2, 2, false);
    (first.chunks[0] as { header: Uint8Array | null }).header = null;
    // The next item of the recording arrives while the first is in its transaction (its batch
    // writes its media meanwhile).
    let later: Promise<void> | null = null;
    const runAll = db.runAll.bind(db);
    db.runAll = ((stmts: { sql: string; params: unknown[] }[]) => {
      if (!later && stmts.some((s) => s.sql.startsWith("INSERT INTO chunks"))) {
        later = c.submit({ ...work(share("BAD", 1, 3, 3, false), randomBytes(64)), owner });
        return new Promise((r) => setTimeout(r, 100)).then(() => runAll(stmts as never));
      }
      return runAll(stmts as never);
    }) as typeof db.runAll;
    await expect(c.submit({ ...work(first), owner })).rejects.toThrow();
    await expect(later).rejects.toBeInstanceOf(SupersededError);
    expect(await rows(db, "BAD")).toMatchObject({ chunks: 1, rec: { linked_seq: 1 } });
  });

  it("fails only the items of a file whose write or fsync failed; the others' files are synced and their rows committed", async () => {
    const { db, media } = await setup();
    const synced: string[] = [];
    // The disk refuses BAD's write and GOOD-2's file's fsync; GOOD-1's goes through.
    const faulty = Object.assign(Object.create(media) as MediaStore, {
      writev: (rel: string, offset: number, parts: Uint8Array[]) => rel.startsWith("BAD/") ? Promise.reject(Object.assign(new Error("EIO: write"), { code: "EIO" })) : media.writev(rel, offset, parts),
      sync: (rel: string) => { if (rel.startsWith("GOOD-2/")) return Promise.reject(Object.assign(new Error("EIO: fsync"), { code: "EIO" })); synced.push(rel); return media.sync(rel); },
    });
    const c = new GroupCommitter(db, faulty, 2, 256);
    const results = await Promise.allSettled(["GOOD-1", "BAD", "GOOD-2"].map((d) => c.submit(work(share(d, 1, 1, 2, true), randomBytes(128)))));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected"]);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe("EIO: write");
    expect((results[2] as PromiseRejectedResult).reason.message).toBe("EIO: fsync");
    expect(synced).toEqual(["GOOD-1/1.media"]);
    expect([(await rows(db, "GOOD-1")).chunks, (await rows(db, "BAD")).chunks, (await rows(db, "GOOD-2")).chunks]).toEqual([2, 0, 0]);
  });
});
