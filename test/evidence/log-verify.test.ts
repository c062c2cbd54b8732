// `admin log verify` over a log larger than a page: the replay reads leaves, checkpoints and
// subtree hashes a page at a time (its memory does not grow with the log), says how far it got,
// and still names what was changed on a later page.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countingDb } from "../helpers/counting-db.js";
import { openTestDb } from "../helpers/postgres.js";
import { AUDIT_MIGRATIONS, INGEST_MIGRATIONS, migrate } from "../../gateway/store/schema.js";
import { TLOG_MIGRATIONS } from "../../gateway/store/tlog.js";
import { StationIdentity } from "../../gateway/evidence/identity.js";
import { TransparencyLog } from "../../gateway/evidence/tlog.js";
import { verifyLog } from "../../gateway/evidence/verify-log.js";
import { encodeLeaf } from "../../protocol/leaves.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

// A log of `n` deletion leaves, appended 50 at a time (a signed checkpoint after each append).
async function logOf(n: number) {
  const dir = mkdtempSync(join(tmpdir(), "evrec-logverify-"));
  const db = await openTestDb(join(dir, "gateway.db"));
  cleanups.push(async () => { await db.close(); rmSync(dir, { recursive: true, force: true }); });
  await migrate(db, [INGEST_MIGRATIONS, AUDIT_MIGRATIONS, TLOG_MIGRATIONS]);
  const { identity } = StationIdentity.loadOrCreate(dir, "", null);
  const tlog = new TransparencyLog(db, identity, () => 1_700_000_000_000);
  for (let i = 0; i < n; i += 50) {
    await tlog.append(Array.from({ length: Math.min(50, n - i) }, (_, j) => {
      const r = i + j + 1;
      return { ref: `deletion:BWC-LV/${r}`, kind: "deletion", data: encodeLeaf(sha, { type: "deletion", v: 1, device: "BWC-LV", recording: r, sealValue: "", recordingLeaf: -1, category: "routine", retainUntil: 1_600_000_000_000, deletedAt: 1_700_000_000_000 }) };
    }));
  }
  return { db, identity };
}


describe("log verify over a log larger than a page", () => {
  it("replays it a page at a time, says how far it got, and passes an untouched log", async () => {
    const { db, identity } = await logOf(600);
    const c = countingDb(db);
    const progress: [number, number][] = [];
    const r = await verifyLog(c.db, identity, { page: 100, progress: (done, total) => { progress.push([done, total]); } });
    expect(r).toEqual({ ok: true, size: 600, checkpoints: 12, problems: [] });
    expect(progress).toEqual([100, 200, 300, 400, 500, 600, 600].map((n) => [n, 600]));
    // No statement answered more than a page of rows.
    expect(c.largest()).toBeLessThanOrEqual(100);
  });

  it("names a leaf changed and a tile hash changed on later pages", async () => {
    const { db, identity } = await logOf(600);
    // The triggers only keep the gateway's own code honest; someone with the database drops them first.
    await db.exec(db.dialect === "postgres" ? "ALTER TABLE tlog_leaves DISABLE TRIGGER USER; ALTER TABLE tlog_hashes DISABLE TRIGGER USER" : "DROP TRIGGER tlog_leaves_no_update; DROP TRIGGER tlog_hashes_no_update");
    await db.run("UPDATE tlog_leaves SET data = ? WHERE idx = 450", [encodeLeaf(sha, { type: "deletion", v: 1, device: "BWC-LV", recording: 451, sealValue: "", recordingLeaf: -1, category: "case", retainUntil: 1_600_000_000_000, deletedAt: 1_700_000_000_000 })]);
    await db.run("UPDATE tlog_hashes SET hash = ? WHERE level = 1 AND idx = 1", [Buffer.alloc(32)]);
    const r = await verifyLog(db, identity, { page: 100 });
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => [p.code, p.index])).toEqual([["LEAF_HASH", 450], ["SUBTREE_HASH", 256]]);
  });
});
