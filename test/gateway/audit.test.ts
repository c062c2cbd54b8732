// The audit log is tamper-evident (P6): each test plays someone with write access to the
// database (and, where said, the anchor file) and checks that verify() names what they did.
import { afterEach, describe, expect, it } from "vitest";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Db } from "../../gateway/store/db.js";
import { countingDb } from "../helpers/counting-db.js";
import { onPostgres, openTestDb } from "../helpers/postgres.js";
import { ALARM_MIGRATIONS, AUDIT_MIGRATIONS, INGEST_MIGRATIONS, migrate } from "../../gateway/store/schema.js";
import { AuditError, AuditLog, GENESIS_PREV, canonicalJson, hashRow } from "../../gateway/audit/log.js";
import type { AuditRow, VerifyResult } from "../../gateway/audit/log.js";
import { formatVerify } from "../../gateway/audit/cli-verify.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: { checkpointEvery?: number; entries?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "evrec-audit-"));
  const db = await openTestDb(join(dir, "gateway.db"));
  cleanups.push(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await migrate(db, [INGEST_MIGRATIONS, AUDIT_MIGRATIONS, ALARM_MIGRATIONS]);
  let t = 1_700_000_000_000;
  const log = await AuditLog.open(db, dir, { checkpointEvery: opts.checkpointEvery, now: () => (t += 1000) });
  for (let i = 1; i <= (opts.entries ?? 0); i++) {
    await log.append({ actor: i % 2 ? "admin.li" : "sup.wang", action: i % 3 ? "view" : "device.revoke", target: `clip:BWC-01/${i}`, reason: `case 2024-${i}`, details: { i } });
  }
  return { dir, db, log };
}

// The triggers only keep the gateway's own code honest; someone with the file drops them first.
async function asAttacker(db: Db, sql: string, params: (string | number)[] = []) {
  await db.exec(db.dialect === "postgres" ? "ALTER TABLE audit_log DISABLE TRIGGER USER" : "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;");
  await db.run(sql, params);
}

const codes = (r: VerifyResult) => r.problems.map((p) => p.code);

describe("audit log", () => {
  it("verifies an untouched log, with the head equal to the last entry's hash", async () => {
    const { log } = await setup({ entries: 8 });
    const last = (await log.list({ limit: 1 }))[0];
    const r = await log.verify();
    expect(r).toMatchObject({ ok: true, count: 8, head: last.hash, checkpoint: { count: 8, hash: last.hash }, problems: [] });
    expect(await log.head()).toEqual({ count: 8, hash: last.hash });
    expect(formatVerify(r)).toEqual([`audit log OK: 8 entries, head ${last.hash} (last checkpoint at entry 8)`]);
  });

  it("links every entry to the one before, starting from the genesis value", async () => {
    const { log } = await setup({ entries: 3 });
    const [e1, e2, e3] = (await log.list()).reverse();
    expect(e1.prev).toBe(GENESIS_PREV);
    expect(e2.prev).toBe(e1.hash);
    expect(e3.prev).toBe(e2.hash);
    expect(e3).toMatchObject({ seq: 3, actor: "admin.li", action: "device.revoke", target: "clip:BWC-01/3", reason: "case 2024-3", details: { i: 3 } });
  });

  it("refuses a view, download or export without a reason and records nothing", async () => {
    const { log } = await setup();
    for (const action of ["view", "download", "export", "clip.view"]) {
      await expect(log.append({ actor: "sup.wang", action, target: "clip:BWC-01/1" })).rejects.toMatchObject({ code: "REASON_REQUIRED" });
      await expect(log.append({ actor: "sup.wang", action, target: "clip:BWC-01/1", reason: "   " })).rejects.toBeInstanceOf(AuditError);
    }
    expect(await log.head()).toEqual({ count: 0, hash: GENESIS_PREV });
    const e = await log.append({ actor: "sup.wang", action: "view", target: "clip:BWC-01/1", reason: "review of case 2024-17" });
    expect(e.seq).toBe(1);
    await expect(log.append({ actor: "", action: "device.add" })).rejects.toMatchObject({ code: "ACTOR_REQUIRED" });
  });

  it("gives concurrent appends distinct consecutive seqs and an intact chain", async () => {
    const { log } = await setup();
    const entries = await Promise.all(Array.from({ length: 25 }, (_, i) => log.append({ actor: "admin.li", action: "account.add", target: `acct:${i}` })));
    expect(entries.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const r = await log.verify();
    expect(r.ok).toBe(true);
    expect(r.checkpoint!.count).toBe(25);
    const lines = readFileSync(log.anchorFile, "utf8").trim().split("\n");
    expect(lines.map((l) => Number(l.split(" ")[0]))).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it("hashes details by content, whatever the key order", async () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}');
    const { log, db } = await setup();
    await log.append({ actor: "admin.li", action: "case.link", details: { z: 1, a: 2 } });
    const row = await db.get<{ details: string }>("SELECT details FROM audit_log WHERE seq = 1");
    expect(row!.details).toBe('{"a":2,"z":1}');
  });

  it("reports HASH_MISMATCH at the row whose reason was edited in the database", async () => {
    const { log, db } = await setup({ entries: 6 });
    await asAttacker(db, "UPDATE audit_log SET reason = 'routine check' WHERE seq = 4");
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ code: "HASH_MISMATCH", seq: 4 })]);
    const text = formatVerify(r);
    expect(text[0]).toMatch(/^audit log FAILED: 1 problem in 6 entries/);
    expect(text[1]).toMatch(/^ {2}HASH_MISMATCH at entry 4: /);
  });

  // SQLite stores any value in any column; PostgreSQL refuses a text in a BIGINT, so there is nothing to report.
  it.skipIf(onPostgres)("reports a row whose column was given another type, without crashing", async () => {
    const { log, db } = await setup({ entries: 3 });
    await asAttacker(db, "UPDATE audit_log SET at = 'yesterday' WHERE seq = 2");
    const r = await log.verify();
    expect(r.problems).toEqual([expect.objectContaining({ code: "HASH_MISMATCH", seq: 2 })]);
  });

  it("reports SEQ_GAP and CHAIN_BROKEN when a middle row is deleted", async () => {
    const { log, db } = await setup({ entries: 6 });
    await asAttacker(db, "DELETE FROM audit_log WHERE seq = 3");
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ code: "SEQ_GAP", seq: 4 }));
    expect(r.problems).toContainEqual(expect.objectContaining({ code: "CHAIN_BROKEN", seq: 4 }));
    expect(codes(r)).not.toContain("TRUNCATED");
  });

  it("reports rows swapped in order", async () => {
    const { log, db } = await setup({ entries: 4 });
    await asAttacker(db, "UPDATE audit_log SET seq = -seq WHERE seq IN (2, 3)");
    await asAttacker(db, "UPDATE audit_log SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq < 0");
    const r = await log.verify();
    expect(codes(r)).toContain("HASH_MISMATCH");
    expect(codes(r)).toContain("CHAIN_BROKEN");
  });

  it("reports TRUNCATED when the last three rows are deleted", async () => {
    const { log, db } = await setup({ entries: 10 });
    await asAttacker(db, "DELETE FROM audit_log WHERE seq > 7");
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.count).toBe(7);
    expect(r.problems).toEqual([expect.objectContaining({ code: "TRUNCATED", seq: 10 })]);
  });

  it("still reports TRUNCATED when the attacker rewrites a consistent chain for the shortened log", async () => {
    const { log, db } = await setup({ entries: 10 });
    await asAttacker(db, "DELETE FROM audit_log WHERE seq > 7");
    await asAttacker(db, "UPDATE audit_log SET reason = 'routine check', target = 'clip:BWC-99/1' WHERE seq = 5");
    // Recompute every hash from the edited row on, exactly as the gateway would.
    const rows = await db.all<AuditRow & { hash: string }>("SELECT * FROM audit_log ORDER BY seq");
    let prev = GENESIS_PREV;
    for (const r of rows) {
      const hash = hashRow({ ...r, prev });
      await asAttacker(db, "UPDATE audit_log SET prev = ?, hash = ? WHERE seq = ?", [prev, hash, r.seq]);
      prev = hash;
    }
    const r = await log.verify();
    expect(codes(r)).not.toContain("HASH_MISMATCH");
    expect(codes(r)).not.toContain("CHAIN_BROKEN");
    expect(codes(r)).not.toContain("SEQ_GAP");
    expect(r.problems).toContainEqual(expect.objectContaining({ code: "TRUNCATED", seq: 10 }));
    // The earlier checkpoints pin the rows before the cut too.
    expect(r.problems).toContainEqual(expect.objectContaining({ code: "CHECKPOINT_MISMATCH", seq: 5 }));
  });

  it("reports TRUNCATED when the attacker cuts the log and appends forged entries up to the old count", async () => {
    const { log, db } = await setup({ entries: 6 });
    await asAttacker(db, "DELETE FROM audit_log WHERE seq > 4");
    const reopened = await AuditLog.open(db, dirname(log.anchorFile), { checkpointEvery: 1000 });
    await reopened.append({ actor: "admin.li", action: "device.add", target: "BWC-77" });
    await reopened.append({ actor: "admin.li", action: "device.add", target: "BWC-78" });
    const r = await reopened.verify();
    expect(r.problems).toContainEqual(expect.objectContaining({ code: "TRUNCATED", seq: 6 }));
    expect(r.problems).toContainEqual(expect.objectContaining({ code: "CHECKPOINT_MISMATCH", seq: 5 }));
  });

  it("keeps reporting a cut-and-refilled log after the gateway has checkpointed past it", async () => {
    const { log, db } = await setup({ entries: 6 });
    await asAttacker(db, "DELETE FROM audit_log WHERE seq > 4");
    const reopened = await AuditLog.open(db, dirname(log.anchorFile));
    for (const t of ["BWC-77", "BWC-78", "BWC-79"]) await reopened.append({ actor: "admin.li", action: "device.add", target: t });
    const r = await reopened.verify();
    expect(r.checkpoint!.count).toBe(7);
    expect(r.problems.map((p) => [p.code, p.seq])).toEqual([["CHECKPOINT_MISMATCH", 5], ["CHECKPOINT_MISMATCH", 6]]);
  });

  it("reports CHECKPOINT_MAC when an anchor line is edited", async () => {
    const { log, dir } = await setup({ entries: 5 });
    const file = join(dir, "audit.anchor");
    const lines = readFileSync(file, "utf8").split("\n");
    const [count, head, mac] = lines[2].split(" ");
    lines[2] = [count, head.replace(/^./, head[0] === "0" ? "1" : "0"), mac].join(" ");
    writeFileSync(file, lines.join("\n"));
    const r = await log.verify();
    expect(r.problems).toEqual([expect.objectContaining({ code: "CHECKPOINT_MAC", seq: 3 })]);
  });

  it("reports CHECKPOINT_MAC when the anchor's count is raised to hide appended forgeries", async () => {
    const { log, dir } = await setup({ entries: 3 });
    const file = join(dir, "audit.anchor");
    writeFileSync(file, readFileSync(file, "utf8").replace(/^3 /m, "9 "));
    expect(codes(await log.verify())).toEqual(["CHECKPOINT_MAC"]);
  });

  it("reports ANCHOR_MISSING when the anchor or the key file is deleted, and does not recreate them", async () => {
    const { log, dir, db } = await setup({ entries: 3 });
    unlinkSync(join(dir, "audit.anchor"));
    expect((await log.verify()).problems).toEqual([expect.objectContaining({ code: "ANCHOR_MISSING" })]);
    await expect(log.append({ actor: "admin.li", action: "device.add" })).rejects.toMatchObject({ code: "CHECKPOINT_FAILED" });

    unlinkSync(join(dir, "audit.key"));
    const reopened = await AuditLog.open(db, dir);
    expect(reopened.anchored).toBe(false);
    await reopened.append({ actor: "admin.li", action: "device.add" });
    const r = await reopened.verify();
    expect(codes(r)).toEqual(["ANCHOR_MISSING", "ANCHOR_MISSING"]);
    expect(() => statSync(join(dir, "audit.anchor"))).toThrow();
  });

  it("reports TRUNCATED when the whole database is replaced by an empty one", async () => {
    const { dir } = await setup({ entries: 3 });
    const db2 = await openTestDb(join(dir, "fresh.db"));
    cleanups.push(() => db2.close());
    await migrate(db2, [INGEST_MIGRATIONS, AUDIT_MIGRATIONS, ALARM_MIGRATIONS]);
    const log2 = await AuditLog.open(db2, dir);
    expect((await log2.verify()).problems).toEqual([expect.objectContaining({ code: "TRUNCATED", seq: 3 })]);
  });

  it("catches truncation back to the last checkpoint when checkpoints are sparse", async () => {
    const { log, db, dir } = await setup({ entries: 12, checkpointEvery: 5 });
    expect(readFileSync(join(dir, "audit.anchor"), "utf8").trim().split("\n").map((l) => l.split(" ")[0])).toEqual(["5", "10"]);
    // Entries after the last checkpoint are the documented window.
    await asAttacker(db, "DELETE FROM audit_log WHERE seq > 10");
    expect((await log.verify()).ok).toBe(true);
    await asAttacker(db, "DELETE FROM audit_log WHERE seq > 9");
    expect(codes(await log.verify())).toEqual(["TRUNCATED"]);
  });

  it("continues the chain and the checkpoints after a restart, and drops a torn checkpoint line", async () => {
    const { log, db, dir } = await setup({ entries: 4 });
    const file = join(dir, "audit.anchor");
    writeFileSync(file, readFileSync(file, "utf8") + "5 0123");
    const reopened = await AuditLog.open(db, dir);
    const e = await reopened.append({ actor: "admin.li", action: "config.set", details: { ratio: 4 } });
    expect(e.seq).toBe(5);
    expect(e.prev).toBe((await log.list({ limit: 2 }))[1].hash);
    expect(await reopened.verify()).toMatchObject({ ok: true, count: 5, head: e.hash });
  });

  it("keeps the checkpoint key in a 0600 file outside the database", async () => {
    const { dir } = await setup();
    const key = statSync(join(dir, "audit.key"));
    expect(key.mode & 0o777).toBe(0o600);
    expect(key.size).toBe(32);
  });

  it("refuses updates and deletes from the gateway's own code", async () => {
    const { db } = await setup({ entries: 2 });
    await expect(db.run("UPDATE audit_log SET reason = 'x' WHERE seq = 1")).rejects.toThrow(/append-only/);
    await expect(db.run("DELETE FROM audit_log")).rejects.toThrow(/append-only/);
  });

  it("commits an entry with the change it records, or neither", async () => {
    const { log, db } = await setup({ entries: 1 });
    await expect(db.transaction(async () => {
      await log.appendInTransaction({ actor: "admin.li", action: "device.revoke", target: "BWC-01" });
      throw new Error("the change failed");
    })).rejects.toThrow("the change failed");
    expect((await log.head()).count).toBe(1);
    await db.transaction(() => log.appendInTransaction({ actor: "admin.li", action: "device.revoke", target: "BWC-01" }));
    expect(await log.checkpoint()).toMatchObject({ count: 2 });
    expect(await log.verify()).toMatchObject({ ok: true, checkpoint: { count: 2 } });
  });

  it("lists entries by actor, action, target and time, newest first", async () => {
    const { log } = await setup({ entries: 9 });
    expect((await log.list({ actor: "sup.wang" })).map((e) => e.seq)).toEqual([8, 6, 4, 2]);
    expect((await log.list({ action: "device.revoke" })).map((e) => e.seq)).toEqual([9, 6, 3]);
    expect((await log.list({ target: "clip:BWC-01/5" })).map((e) => e.seq)).toEqual([5]);
    const at7 = (await log.list({ target: "clip:BWC-01/7" }))[0].at;
    expect((await log.list({ since: at7 })).map((e) => e.seq)).toEqual([9, 8, 7]);
    expect((await log.list({ actor: "admin.li", limit: 2 })).map((e) => e.seq)).toEqual([9, 7]);
  });
});

// After months the log has millions of entries and the anchor a checkpoint line for each (the
// gateway's default): a start reads the anchor's end only, and verify reads log and anchor a page
// at a time, holding no lock, so appends go on meanwhile.
describe("audit log, grown large", () => {

  it("opens, and verify names the cut, when the anchor holds more checkpoints than one call can spread (130 000)", async () => {
    const { db, dir } = await setup({ entries: 1 });
    const key = readFileSync(join(dir, "audit.key"));
    const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
    const head = "ab".repeat(32);
    const lines: string[] = [];
    for (let n = 2; n <= 130_000; n++) lines.push(`${n} ${head} ${createHmac("sha256", key).update("audit-checkpoint").update(u64(n)).update(Buffer.from(head, "hex")).digest("hex")}\n`);
    appendFileSync(join(dir, "audit.anchor"), lines.join(""));
    const reopened = await AuditLog.open(db, dir);
    expect(reopened.anchored).toBe(true);
    const r = await reopened.verify();
    expect(r.checkpoint).toEqual({ count: 130_000, hash: head });
    expect(codes(r)).toEqual(["TRUNCATED"]);
  });

  it("checks a log larger than a page a page at a time, says how far it got, and still finds a row edited on a later page", async () => {
    const { log, db, dir } = await setup({ entries: 35 });
    await asAttacker(db, "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 27");
    const c = countingDb(db);
    const paged = await AuditLog.open(c.db, dir);
    const progress: [number, number][] = [];
    const r = await paged.verify({ page: 10, progress: (done, total) => { progress.push([done, total]); } });
    expect(r).toMatchObject({ ok: false, count: 35, checkpoint: { count: 35 } });
    expect(r.problems).toEqual([expect.objectContaining({ code: "HASH_MISMATCH", seq: 27 })]);
    expect(progress).toEqual([[10, 35], [20, 35], [30, 35], [35, 35]]);
    expect(c.largest()).toBeLessThanOrEqual(10);
    expect(await log.verify()).toMatchObject({ count: 35, problems: [expect.objectContaining({ seq: 27 })] });
  });

  it("lets appends commit while it runs, and checks the log as it stood when it began", async () => {
    const { log } = await setup({ entries: 25 });
    let appended = 0;
    const r = await log.verify({
      page: 10,
      // Waited for by the pass: before, the whole pass held the write lock and this waited for it.
      progress: async (done) => { if (done === 10) appended = (await log.append({ actor: "admin.li", action: "account.add", target: "acct:late" })).seq; },
    });
    expect(appended).toBe(26);
    expect(r).toMatchObject({ ok: true, count: 25, checkpoint: { count: 25 } });
    expect(await log.verify()).toMatchObject({ ok: true, count: 26, checkpoint: { count: 26 } });
  });
});
