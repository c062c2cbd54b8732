// The fence between two cluster workers of one partition (store/fences.ts), on one store (SQLite,
// or PostgreSQL in the vitest project "postgres"): worker A takes the partition with token 5,
// worker B takes it over with token 6, and A, stalled while B took over, wakes and commits. Its
// commit must roll back whole (FENCED), leaving the store as it was and the device un-Acked, and B
// must commit what the device sends it again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { openMetadata } from "../../gateway/cluster/store.js";
import { configFrom } from "../../gateway/config.js";
import { GroupCommitter } from "../../gateway/ingest/commit.js";
import { Ingest } from "../../gateway/ingest/pipeline.js";
import { MediaStore } from "../../gateway/store/media.js";
import { FencedError, checkFences, fences, raiseFence } from "../../gateway/store/fences.js";
import { commitRecording, insertEvidence, loadRecording } from "../../gateway/store/ingest.js";
import { recordingDetail, storedChunkRows } from "../../gateway/store/recordings.js";
import type { Db } from "../../gateway/store/db.js";
import type { DeviceRegistry } from "../../gateway/devices.js";
import { createLogger } from "../../gateway/log.js";
import { Alarms } from "../../gateway/alarms.js";
import { FakeDevice } from "../gateway/fake-device.js";
import { testDb } from "../helpers/postgres.js";

const PART = 0;

describe("fencing tokens between two workers of one partition", () => {
  let dir: string;
  let store: Awaited<ReturnType<typeof testDb>>;
  let a: { db: Db; registry: DeviceRegistry };
  let b: { db: Db; registry: DeviceRegistry };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-fence-"));
    store = await testDb();
    // Two workers, each with its own connection to the one store, as two processes have.
    const cfg = configFrom({ dataDir: join(dir, "data"), ...(store.db ? { db: store.db } : {}) }, "test");
    a = await openMetadata(cfg);
    b = await openMetadata(cfg);
  });

  /** Media stores made by the tests, closed at the end (their files' handles with them). */
  const opened: MediaStore[] = [];
  const mediaAt = (name: string) => {
    const m = new MediaStore(join(dir, name));
    opened.push(m);
    return m;
  };

  afterAll(async () => {
    for (const m of opened) await m.close();
    await a?.db.close();
    await b?.db.close();
    await store?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A recording's state after one 4-byte chunk, and the commit item a worker's ingest would submit for it. */
  const row = (device: string, recording: number, seq: number) => ({
    device, recording, mediaPath: `${device}/${recording}.media`, at: Date.now(), deviceLost: false, create: true,
    chunks: [{ seq, header: randomBytes(64), tag: randomBytes(16), chain: randomBytes(32), flags: 0, timeMs: seq * 1000, durationMs: 1000, length: 4, offset: (seq - 1) * 4 }],
    state: { linkedSeq: seq, lastChain: null, totalBytes: seq * 4, lastTimeMs: seq * 1000, mediaMs: seq * 1000, endMs: seq * 1000, verdict: "incomplete", final: false, reasons: [], lost: [], prevChecked: false },
  });
  const work = (device: string, recording: number, seq: number) => {
    const c = row(device, recording, seq);
    return { device, media: [{ path: c.mediaPath, offset: c.chunks[0].offset, bytes: new Uint8Array(4) }], sql: (db: Db) => commitRecording(db, c) };
  };

  it("rolls back the whole commit of a worker whose token was superseded, and commits its successor's", async () => {
    await a.registry.add("fence-1");
    await a.registry.add("fence-2");
    const media = mediaAt("media-1");
    const committer = (db: Db, holder: string, token: number) => new GroupCommitter(db, media, 1, 256, {}, undefined, (tx) => checkFences(tx, holder, [{ part: PART, token }]));

    expect(await raiseFence(a.db, "wa", { part: PART, token: 5 }, Date.now())).toBe(true);
    const ca = committer(a.db, "wa", 5);
    // A holds the partition: its commit lands.
    await ca.submit(work("fence-1", 1, 1));
    expect((await storedChunkRows(a.db, "fence-1", 1)).map((r) => r.seq)).toEqual([1]);

    // B takes the lease over with a later take's token; A's token can't be put back.
    expect(await raiseFence(b.db, "wb", { part: PART, token: 6 }, Date.now())).toBe(true);
    expect(await raiseFence(a.db, "wa", { part: PART, token: 5 }, Date.now())).toBe(false);
    expect((await fences(b.db)).map((f) => ({ part: f.part, holder: f.holder, token: f.token }))).toEqual([{ part: PART, holder: "wb", token: 6 }]);

    // A wakes with a batch of three items: a recording's next chunk, another device's new
    // recording, and a piece of evidence. Every one fails with FENCED; nothing of them is written.
    const results = await Promise.allSettled([
      ca.submit(work("fence-1", 1, 2)),
      ca.submit(work("fence-2", 1, 1)),
      ca.submit({ device: "fence-2", sql: (db) => insertEvidence(db, { device: "fence-2", recording: 1, seq: 1, reason: "TEST", message: new Uint8Array(1), at: Date.now() }) }),
    ]);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      const e = (r as PromiseRejectedResult).reason;
      expect(e).toBeInstanceOf(FencedError);
      expect(e).toMatchObject({ code: "FENCED", parts: [PART] });
      expect(String(e.message)).toMatch(/wa no longer holds partition 0 \(token 5 here; the store's: 6, wb\)/);
    }
    expect((await storedChunkRows(b.db, "fence-1", 1)).map((r) => r.seq)).toEqual([1]);
    expect((await loadRecording(b.db, "fence-1", 1))!.linked_seq).toBe(1);
    expect(await loadRecording(b.db, "fence-2", 1)).toBeUndefined();

    // B's commit of the same work lands.
    const cb = committer(b.db, "wb", 6);
    await cb.submit(work("fence-1", 1, 2));
    await cb.submit(work("fence-2", 1, 1));
    expect((await storedChunkRows(a.db, "fence-1", 1)).map((r) => r.seq)).toEqual([1, 2]);
    expect((await storedChunkRows(a.db, "fence-2", 1)).map((r) => r.seq)).toEqual([1]);
  });

  it("sends the stalled worker's device no Ack for what it could not commit; the successor stores the recording whole and verified", async () => {
    const root = randomBytes(32);
    await a.registry.add("fence-3", { root });
    const dev = new FakeDevice("fence-3", root);
    const log = createLogger("silent");
    // Each worker as cluster/worker.ts builds it: its own Ingest and committer, the partition's token checked in every commit.
    const worker = (meta: { db: Db; registry: DeviceRegistry }, holder: string, token: number) => {
      const refused: string[] = [];
      const media = mediaAt("media-2");
      const committer = new GroupCommitter(meta.db, media, 1, 256, {}, undefined, (tx) => checkFences(tx, holder, [{ part: PART + 1, token }]));
      const ingest = new Ingest(meta.db, media, meta.registry, committer, { send: (_id, bytes) => dev.receive(bytes), disconnect: () => undefined }, log,
        { beaconIntervalS: 0, refuse: (code) => refused.push(code) });
      return { ingest, refused };
    };
    const acked = () => dev.received.filter((m) => m.kind === "ack" && m.ok === "").map((m) => m.body.ack as { recording: number; state: number; cumulative: number });
    const cumulative = () => Math.max(0, ...acked().map((x) => x.cumulative));
    const rec = dev.recording(1, Array.from({ length: 8 }, () => randomBytes(1000)));

    expect(await raiseFence(a.db, "wa", { part: PART + 1, token: 5 }, Date.now())).toBe(true);
    const wa = worker(a, "wa", 5);
    await wa.ingest.message("a1", dev.id, dev.helloMessage());
    await wa.ingest.message("a1", dev.id, rec.start);
    for (const c of rec.chunks.slice(0, 4)) await wa.ingest.message("a1", dev.id, c);
    await dev.waitFor(() => cumulative() === 4);

    // B takes the partition over while A stalls; then A goes on with what it had been sent.
    expect(await raiseFence(b.db, "wb", { part: PART + 1, token: 6 }, Date.now())).toBe(true);
    for (const c of rec.chunks.slice(4)) await wa.ingest.message("a1", dev.id, c);
    await wa.ingest.message("a1", dev.id, rec.seal);
    await wa.ingest.close();
    expect(wa.refused).toContain("FENCED");
    expect(wa.refused).not.toContain("STORE_FAILED");
    expect(cumulative()).toBe(4);
    expect(acked().some((x) => x.state === 1)).toBe(false);
    expect((await storedChunkRows(b.db, dev.id, 1)).map((r) => r.seq)).toEqual([1, 2, 3, 4]);

    // The device, never Acked beyond 4, says Hello to B and sends the rest again.
    const wb = worker(b, "wb", 6);
    await wb.ingest.message("b1", dev.id, dev.helloMessage([{ recording: 1, firstSeq: 5, lastSeq: 8, sealed: false, open: true }]));
    for (const c of rec.chunks.slice(4)) await wb.ingest.message("b1", dev.id, c);
    await wb.ingest.message("b1", dev.id, rec.seal);
    await dev.waitFor(() => acked().some((x) => x.recording === 1 && x.state === 1 && x.cumulative === 8));
    await wb.ingest.close();
    expect(wb.refused).toEqual([]);
    const detail = await recordingDetail(b.db, dev.id, 1);
    expect({ verdict: detail!.verdict, chunks: detail!.chunks, bytes: detail!.bytes }).toEqual({ verdict: "verified", chunks: 8, bytes: 8000 });
  });

  it("keeps nothing a superseded worker hears from a device about itself: its Hello is not answered, its Status not stored", async () => {
    const root = randomBytes(32);
    await a.registry.add("fence-4", { root });
    const dev = new FakeDevice("fence-4", root);
    const worker = (meta: { db: Db; registry: DeviceRegistry }, holder: string, token: number) => {
      const refused: string[] = [];
      const media = mediaAt("media-3");
      const committer = new GroupCommitter(meta.db, media, 1, 256, {}, undefined, (tx) => checkFences(tx, holder, [{ part: PART + 2, token }]));
      const ingest = new Ingest(meta.db, media, meta.registry, committer, { send: (_id, bytes) => dev.receive(bytes), disconnect: () => undefined }, createLogger("silent"),
        { beaconIntervalS: 0, refuse: (code) => refused.push(code) });
      return { ingest, committer, refused };
    };
    const row = async () => (await b.db.get<{ last_status: string | null; last_hello: string | null }>("SELECT last_status, last_hello FROM devices WHERE id = ?", [dev.id]))!;
    const beacons = () => dev.received.filter((m) => m.kind === "beacon").length;

    expect(await raiseFence(a.db, "wa", { part: PART + 2, token: 5 }, Date.now())).toBe(true);
    const wa = worker(a, "wa", 5);
    await wa.ingest.message("a1", dev.id, dev.helloMessage());
    await wa.ingest.message("a1", dev.id, dev.statusMessage({ batteryPct: 50 }));
    await wa.committer.flush();
    expect(beacons()).toBe(1);
    expect(JSON.parse((await row()).last_status!).batteryPct).toBe(50);

    // B takes the partition over; the device, on B now, reports itself.
    expect(await raiseFence(b.db, "wb", { part: PART + 2, token: 6 }, Date.now())).toBe(true);
    const wb = worker(b, "wb", 6);
    await wb.ingest.message("b1", dev.id, dev.helloMessage());
    await wb.ingest.message("b1", dev.id, dev.statusMessage({ batteryPct: 40 }));
    await wb.committer.flush();
    const afterB = await row();
    expect(JSON.parse(afterB.last_status!).batteryPct).toBe(40);
    expect(beacons()).toBe(2);

    // A wakes and goes on with what it had been sent: none of it overwrites B's, and its Hello is not answered.
    await wa.ingest.message("a1", dev.id, dev.statusMessage({ batteryPct: 90 }));
    await wa.ingest.message("a1", dev.id, dev.helloMessage());
    await wa.ingest.close();
    await wb.ingest.close();
    expect(wa.refused.filter((c) => c === "FENCED")).toHaveLength(2);
    expect(await row()).toEqual(afterB);
    expect(beacons()).toBe(2);
    expect(wb.refused).toEqual([]);
  });

  it("counts an alarm about a device once: a superseded worker's raise is not written, its successor's is", async () => {
    const root = randomBytes(32);
    await a.registry.add("fence-8", { root });
    const dev = new FakeDevice("fence-8", root);
    const part = PART + 3;
    // Each worker's alarms behind its fence, as cluster/worker.ts gives them (alarms.ts, AlarmOptions.fence).
    const worker = (meta: { db: Db; registry: DeviceRegistry }, holder: string, token: number) => {
      const fence = (tx: Db) => checkFences(tx, holder, [{ part, token }]);
      const alarms = new Alarms(meta.db, undefined, { fence });
      const left: string[] = [];
      const media = mediaAt("media-8");
      const committer = new GroupCommitter(meta.db, media, 1, 256, {}, undefined, fence);
      const ingest = new Ingest(meta.db, media, meta.registry, committer, { send: (_id, bytes) => dev.receive(bytes), disconnect: () => undefined }, createLogger("silent"),
        { beaconIntervalS: 0, refuse: () => undefined, alarm: (kind, subject, detail, device) => alarms.raise(kind, subject, detail, device).then(() => undefined, (e) => { left.push(`${kind} ${(e as FencedError).code}`); }) });
      return { ingest, alarms, left };
    };
    const forged = () => b.db.all<{ count: number }>("SELECT count FROM alarms WHERE kind = 'FORGED_MESSAGE' AND subject = 'fence-8/1'");
    const rec = dev.recording(1, [randomBytes(400), randomBytes(400)]);
    const junk = Uint8Array.from(rec.chunks[1]);
    junk[junk.length - 60] ^= 0x40; // a payload byte: the tag no longer vouches for it

    expect(await raiseFence(a.db, "wa", { part, token: 5 }, Date.now())).toBe(true);
    const wa = worker(a, "wa", 5);
    await wa.ingest.message("a1", dev.id, dev.helloMessage());
    await wa.ingest.message("a1", dev.id, rec.start);
    await wa.ingest.message("a1", dev.id, rec.chunks[0]);

    // B takes the partition over; A, stalled meanwhile, is fed the forged chunk, and so is B.
    expect(await raiseFence(b.db, "wb", { part, token: 6 }, Date.now())).toBe(true);
    await wa.ingest.message("a1", dev.id, junk);
    await wa.ingest.close();
    expect(wa.left).toEqual(["FORGED_MESSAGE FENCED"]);
    expect(await forged()).toEqual([]);
    // A raise about no device (the disk, a partition) is not fenced: the station's alarms stay the station's.
    expect((await wa.alarms.raise("DISK_LOW", "/data", "test")).count).toBe(1);

    const wb = worker(b, "wb", 6);
    await wb.ingest.message("b1", dev.id, dev.helloMessage([{ recording: 1, firstSeq: 1, lastSeq: 2, sealed: false, open: true }]));
    await wb.ingest.message("b1", dev.id, rec.start);
    await wb.ingest.message("b1", dev.id, junk);
    await wb.ingest.close();
    expect(wb.left).toEqual([]);
    expect(await forged()).toEqual([{ count: 1 }]);
  });

  // On PostgreSQL, workers' commits don't take the database-wide write lock (Db.transaction's
  // `rowsOnly`): each worker's rows are its own partitions', and the fence's row lock orders a
  // commit against a successor's raise. SQLite has one write lock and nothing finer: there, one
  // worker's open transaction holds every other writer, as it always has.
  const pgOnly = () => a.db.dialect !== "postgres";
  /** A worker's committer whose fence, once checked, waits for `gate` inside the transaction (a worker stalled mid-commit). */
  const gated = (db: Db, holder: string, part: number, token: number, media: string) => {
    let open: () => void = () => undefined;
    let inside: () => void = () => undefined;
    const gate = new Promise<void>((r) => { open = r; });
    const entered = new Promise<void>((r) => { inside = r; });
    let first = true;
    const committer = new GroupCommitter(db, mediaAt(media), 1, 256, {}, undefined, async (tx) => {
      await checkFences(tx, holder, [{ part, token }]);
      if (first) { first = false; inside(); await gate; }
    });
    return { committer, open, entered };
  };
  const settledWithin = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

  it("commits two workers' batches side by side on PostgreSQL: one worker's open transaction does not hold the other's", async (ctx) => {
    if (pgOnly()) return ctx.skip();
    await a.registry.add("fence-5");
    await a.registry.add("fence-6");
    expect(await raiseFence(a.db, "wa", { part: 10, token: 1 }, Date.now())).toBe(true);
    expect(await raiseFence(b.db, "wb", { part: 11, token: 1 }, Date.now())).toBe(true);
    const wa = gated(a.db, "wa", 10, 1, "media-5");
    const wb = gated(b.db, "wb", 11, 1, "media-6");
    wb.open();
    const aCommit = wa.committer.submit(work("fence-5", 1, 1));
    await wa.entered;
    // A's transaction is open, its rows written or about to be: B commits its own meanwhile.
    const bCommit = wb.committer.submit(work("fence-6", 1, 1));
    const bDone = await settledWithin(bCommit, 15000);
    wa.open();
    await aCommit;
    expect(bDone, "B's commit waited for A's transaction to end").toBe(true);
    await bCommit;
    expect((await storedChunkRows(a.db, "fence-5", 1)).map((r) => r.seq)).toEqual([1]);
    expect((await storedChunkRows(a.db, "fence-6", 1)).map((r) => r.seq)).toEqual([1]);
  });

  it("makes a successor's take wait for the holder's open commit, which lands whole; the holder's next is fenced (PostgreSQL row locks)", async (ctx) => {
    if (pgOnly()) return ctx.skip();
    await a.registry.add("fence-7");
    expect(await raiseFence(a.db, "wa", { part: 12, token: 1 }, Date.now())).toBe(true);
    const wa = gated(a.db, "wa", 12, 1, "media-7");
    const first = wa.committer.submit(work("fence-7", 1, 1));
    await wa.entered;
    // B takes the partition while A is inside its commit, past its fence: the take waits for it.
    const take = raiseFence(b.db, "wb", { part: 12, token: 2 }, Date.now());
    expect(await settledWithin(take, 1000), "the take went ahead of A's open commit").toBe(false);
    wa.open();
    await first;
    expect(await take).toBe(true);
    expect((await storedChunkRows(b.db, "fence-7", 1)).map((r) => r.seq)).toEqual([1]);
    // A's next commit finds B's token.
    await expect(wa.committer.submit(work("fence-7", 1, 2))).rejects.toBeInstanceOf(FencedError);
    expect((await storedChunkRows(b.db, "fence-7", 1)).map((r) => r.seq)).toEqual([1]);
  });
});
