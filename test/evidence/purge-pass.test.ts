// The purge pass after months of work: thousands of recordings erased before, more erased now. It
// reads the recordings a page at a time, says how far it got, and removes the media of what it
// erases only (before, after each erasure it asked the media store to remove the file of every
// recording ever erased, and read every tombstone: a pass cost erasures × everything erased).
import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTestDb } from "../helpers/postgres.js";
import { countingDb } from "../helpers/counting-db.js";
import { migrate } from "../../gateway/store/schema.js";
import { ALL_MIGRATIONS } from "../../gateway/gateway.js";
import { AuditLog } from "../../gateway/audit/log.js";
import { StationIdentity } from "../../gateway/evidence/identity.js";
import { TransparencyLog } from "../../gateway/evidence/tlog.js";
import { Retention } from "../../gateway/evidence/retention.js";
import { MediaStore } from "../../gateway/store/media.js";

const DAY = 86400e3;
const DEV = "BWC-PP";
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

describe("purge pass over a store with many erased recordings", () => {
  it("reads a page at a time, says how far it got, and removes only the media it erases", async () => {
    const dir = mkdtempSync(join(tmpdir(), "evrec-purgepass-"));
    const db = await openTestDb(join(dir, "gateway.db"));
    const media = new MediaStore(join(dir, "media"));
    cleanups.push(async () => { await media.close(); await db.close(); rmSync(dir, { recursive: true, force: true }); });
    await migrate(db, ALL_MIGRATIONS);
    const audit = await AuditLog.open(db, dir);
    const { identity } = StationIdentity.loadOrCreate(dir, "", null);
    const now = Date.now();
    const tlog = new TransparencyLog(db, identity, () => now);
    await db.run("INSERT INTO devices (id, state, root_enc, created_at) VALUES (?, 'active', ?, ?)", [DEV, Buffer.alloc(48), now]);
    mkdirSync(join(dir, "media", DEV), { recursive: true });
    const path = (r: number) => `${DEV}/${String(r).padStart(6, "0")}.media`;
    // 1..5 erased a year ago (their deletions logged), 6..9 marked and past their undelete window,
    // 10..12 kept but past their 180 days: oldest first in that order.
    for (let r = 1; r <= 12; r++) {
      const state = r <= 5 ? "purged" : r <= 9 ? "pending" : "kept";
      const received = now - (r <= 5 ? 400 : r <= 9 ? 200 : 190) * DAY + r;
      await db.run(`INSERT INTO recordings (device_id, recording_id, total_bytes, verdict, final, media_path, first_received, last_received, purge_state, purge_due_at)
        VALUES (?, ?, 100, 'ok', 1, ?, ?, ?, ?, ?)`, [DEV, r, path(r), received, received, state, state === "pending" ? now - DAY : null]);
      if (r <= 5) await db.run("INSERT INTO tombstones (device_id, recording_id, seal_value, category, retain_until, marked_at, deleted_at, recording_leaf, deletion_leaf, bytes) VALUES (?, ?, NULL, 'routine', ?, ?, ?, -1, ?, 100)", [DEV, r, received, received, received, r]);
      else writeFileSync(join(dir, "media", path(r)), Buffer.alloc(100));
    }
    const removed: string[] = [];
    const watched = Object.assign(Object.create(media) as MediaStore, { remove: (rel: string) => { removed.push(rel); return media.remove(rel); } });
    const c = countingDb(db);
    const retention = new Retention(c.db, watched, tlog, audit, { days: 180, undeleteDays: 7 }, { now: () => now, page: 3 });
    const progress: [number, number][] = [];
    const r = await retention.purge({ progress: (done, total) => { progress.push([done, total]); } });
    expect(r.erased.map((t) => t.recording_id)).toEqual([6, 7, 8, 9]);
    expect(r.erased.every((t) => t.deletion_leaf !== null)).toBe(true);
    expect(r.marked.map((p) => p.recording)).toEqual([10, 11, 12]);
    expect(removed).toEqual([6, 7, 8, 9].map(path));
    for (const n of [6, 7, 8, 9]) expect(existsSync(join(dir, "media", path(n)))).toBe(false);
    expect(progress).toEqual([[3, 7], [6, 7], [7, 7]]);
    expect(c.largest()).toBeLessThanOrEqual(3);
  });
});
