// Alarms an admin relies on: one open alarm per condition however often it recurs, cleared only
// with a reason (and audited), and silent devices raised and cleared without anyone's help.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Db } from "../../gateway/store/db.js";
import { openTestDb } from "../helpers/postgres.js";
import { ALARM_MIGRATIONS, AUDIT_MIGRATIONS, INGEST_MIGRATIONS, migrate } from "../../gateway/store/schema.js";
import { AuditLog } from "../../gateway/audit/log.js";
import { ALARM_KINDS, AlarmError, Alarms, SYSTEM_ACTOR } from "../../gateway/alarms.js";
import { alarmText } from "../../protocol/alarm-details.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const T0 = 1_700_000_000_000;
const MIN = 60_000;

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), "evrec-alarms-"));
  const db = await openTestDb(join(dir, "gateway.db"));
  cleanups.push(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await migrate(db, [INGEST_MIGRATIONS, AUDIT_MIGRATIONS, ALARM_MIGRATIONS]);
  const audit = await AuditLog.open(db, dir);
  const logged: { level: string; obj: object }[] = [];
  const log = { warn: (obj: object) => logged.push({ level: "warn", obj }), error: (obj: object) => logged.push({ level: "error", obj }) };
  let t = T0;
  const alarms = new Alarms(db, log, { audit, now: () => (t += 1000) });
  return { db, audit, alarms, logged };
}

async function device(db: Db, id: string, state: string, lastSeen: number | null, createdAt = T0 - 60 * MIN) {
  await db.run("INSERT INTO devices (id, state, root_enc, created_at, last_seen) VALUES (?, ?, ?, ?, ?)", [id, state, Buffer.alloc(60), createdAt, lastSeen]);
}

describe("alarms", () => {
  it("keeps one open alarm with a count when the same condition is raised twice", async () => {
    const { alarms, logged } = await setup();
    await alarms.raise(ALARM_KINDS.EQUIVOCATION, "BWC-01/7", "seq 3 seen with two different payloads");
    const second = await alarms.raise(ALARM_KINDS.EQUIVOCATION, "BWC-01/7", "seq 4 seen with two different payloads");
    const open = await alarms.list({ open: true });
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ id: second.id, kind: "EQUIVOCATION", subject: "BWC-01/7", count: 2, detail: "seq 4 seen with two different payloads", cleared_at: null });
    expect(open[0].last_at).toBeGreaterThan(open[0].first_at);
    // Logged once, at error level: equivocation is evidence of tampering.
    expect(logged).toEqual([{ level: "error", obj: expect.objectContaining({ alarm: "EQUIVOCATION", subject: "BWC-01/7" }) }]);
  });

  it("counts every raise of a storm, in a few writes, and logs it once", async () => {
    const { db, alarms, logged } = await setup();
    // Count the store's writes of alarms: a flood of forged messages must not cost one each.
    let writes = 0;
    const get = db.get.bind(db);
    db.get = ((sql: string, params?: unknown[]) => {
      if (sql.includes("INSERT INTO alarms")) writes++;
      return get(sql, params as never);
    }) as typeof db.get;
    const all = await Promise.all(Array.from({ length: 300 }, (_, i) => alarms.raise("FORGED_MESSAGE", "BWC-09/2", `message ${i} refused`)));
    const open = await alarms.list({ open: true });
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ kind: "FORGED_MESSAGE", subject: "BWC-09/2", count: 300, detail: "message 299 refused" });
    expect(Math.max(...all.map((a) => a.count))).toBe(300);
    expect(writes).toBeLessThanOrEqual(3);
    expect(logged).toHaveLength(1);
    // Once the storm has passed, a raise is written on its own again.
    const next = await alarms.raise("FORGED_MESSAGE", "BWC-09/2", "message 300 refused");
    expect(next.count).toBe(301);
  });

  it("keeps alarms of other kinds or subjects apart, and accepts kinds beyond the known ones", async () => {
    const { alarms, logged } = await setup();
    await alarms.raise(ALARM_KINDS.DISK_LOW, "/var/lib/evrec", "212 MB free");
    await alarms.raise(ALARM_KINDS.CERT_EXPIRED, "officer:3301", "certificate expired 2024-06-01 during checkout");
    await alarms.raise("BROKER_DOWN", "mqtt", "listener closed");
    expect((await alarms.list({ open: true })).map((a) => a.kind).sort()).toEqual(["BROKER_DOWN", "CERT_EXPIRED", "DISK_LOW"]);
    expect(logged.every((l) => l.level === "warn")).toBe(true);
  });

  it("shows an alarm raised with words only, and one stored before alarms had keys, in the words it was stored with", async () => {
    const { db, alarms } = await setup();
    await alarms.raise("BROKER_DOWN", "mqtt", "listener closed");
    // A row of an older station (its said empty) and one whose key this catalogue does not know.
    await db.run("INSERT INTO alarms (kind, subject, detail, count, first_at, last_at) VALUES ('DISK_LOW', '/srv', '3 MiB free, threshold 500 MiB: not acknowledging', 1, ?, ?)", [T0, T0]);
    await db.run("INSERT INTO alarms (kind, subject, detail, said, count, first_at, last_at) VALUES ('X', 'y', 'as it was', '{\"key\":\"gone\",\"args\":{}}', 1, ?, ?)", [T0, T0]);
    const listed = await alarms.list();
    expect(listed.map((a) => [a.detail, a.said])).toEqual(expect.arrayContaining([["listener closed", null], ["3 MiB free, threshold 500 MiB: not acknowledging", null], ["as it was", null]]));
  });

  it("refuses to clear without a reason, and records who cleared and why in the alarm and the audit log", async () => {
    const { alarms, audit } = await setup();
    await alarms.raise(ALARM_KINDS.FAILED_VERDICT, "BWC-02/1", "tag mismatch at seq 5");
    await expect(alarms.clear(ALARM_KINDS.FAILED_VERDICT, "BWC-02/1", "admin.li", "")).rejects.toMatchObject({ code: "REASON_REQUIRED" });
    await expect(alarms.clear(ALARM_KINDS.FAILED_VERDICT, "BWC-02/1", "admin.li", "  ")).rejects.toBeInstanceOf(AlarmError);
    expect(await alarms.list({ open: true })).toHaveLength(1);

    const cleared = await alarms.clear(ALARM_KINDS.FAILED_VERDICT, "BWC-02/1", "admin.li", "device seized for forensic review, case 2024-88");
    expect(cleared).toMatchObject({ cleared_by: "admin.li", clear_reason: "device seized for forensic review, case 2024-88" });
    expect(await alarms.list({ open: true })).toEqual([]);
    expect(await alarms.list({ open: false })).toHaveLength(1);
    const [entry] = await audit.list({ action: "alarm.clear" });
    expect(entry).toMatchObject({ actor: "admin.li", target: "FAILED_VERDICT:BWC-02/1", reason: "device seized for forensic review, case 2024-88" });
    expect((await audit.verify()).ok).toBe(true);

    // Nothing open: nothing cleared, nothing audited.
    expect(await alarms.clear(ALARM_KINDS.FAILED_VERDICT, "BWC-02/1", "admin.li", "again")).toBeNull();
    expect(await audit.list({ action: "alarm.clear" })).toHaveLength(1);
  });

  it("opens a new alarm when a cleared condition comes back", async () => {
    const { alarms } = await setup();
    const first = await alarms.raise(ALARM_KINDS.DISK_LOW, "/data", "400 MB free");
    await alarms.clear(ALARM_KINDS.DISK_LOW, "/data", "admin.li", "old media archived to tape");
    const again = await alarms.raise(ALARM_KINDS.DISK_LOW, "/data", "380 MB free");
    expect(again.id).not.toBe(first.id);
    expect(again.count).toBe(1);
    expect(await alarms.list()).toHaveLength(2);
  });

  it("raises DEVICE_SILENT for silent active and lost devices only, and clears it when the device is seen again", async () => {
    const { db, alarms } = await setup();
    const now = T0 + 120 * MIN;
    await device(db, "BWC-A", "active", now - 90 * MIN);
    await device(db, "BWC-L", "lost", now - 45 * MIN);
    await device(db, "BWC-R", "active", now - 5 * MIN);
    await device(db, "BWC-N", "active", null, now - 31 * MIN);
    await device(db, "BWC-P", "provisioned", null);
    await device(db, "BWC-X", "retired", now - 500 * MIN);
    await device(db, "BWC-V", "revoked", now - 500 * MIN);

    expect(await alarms.checkSilentDevices(now, 30 * MIN)).toEqual({ raised: ["BWC-A", "BWC-L", "BWC-N"], cleared: [] });
    const open = await alarms.list({ open: true });
    expect(open.map((a) => a.subject).sort()).toEqual(["BWC-A", "BWC-L", "BWC-N"]);
    expect(open.find((a) => a.subject === "BWC-N")!.detail).toMatch(/never connected/);
    // Kept as a key and values too, which the CLI and the console say in the reader's language.
    const never = open.find((a) => a.subject === "BWC-N")!, lost = open.find((a) => a.subject === "BWC-L")!;
    expect(alarmText(never.said!, "en")).toBe(never.detail);
    expect(alarmText(never.said!, "zh")).toBe(`在用设备超过 1800 秒无联系：从未连接（登记于 ${new Date(now - 31 * MIN).toISOString()}）`);
    expect(alarmText(lost.said!, "zh", () => "2026-03-01 09:00:00")).toBe("遗失设备超过 1800 秒无联系：最后上线 2026-03-01 09:00:00");

    // A second check while nothing changed neither duplicates nor inflates the alarm.
    expect(await alarms.checkSilentDevices(now + MIN, 30 * MIN)).toEqual({ raised: [], cleared: [] });
    expect((await alarms.list({ open: true })).every((a) => a.count === 1)).toBe(true);

    await db.run("UPDATE devices SET last_seen = ? WHERE id = 'BWC-A'", [now + 2 * MIN]);
    await db.run("UPDATE devices SET state = 'retired' WHERE id = 'BWC-L'");
    expect(await alarms.checkSilentDevices(now + 3 * MIN, 30 * MIN)).toEqual({ raised: [], cleared: ["BWC-A", "BWC-L"] });
    expect((await alarms.list({ open: true })).map((a) => a.subject)).toEqual(["BWC-N"]);
    const cleared = await alarms.list({ open: false });
    expect(cleared.find((a) => a.subject === "BWC-A")).toMatchObject({ cleared_by: SYSTEM_ACTOR, clear_reason: "device heard from again" });
    expect(cleared.find((a) => a.subject === "BWC-L")).toMatchObject({ clear_reason: "device is now retired" });
  });
});
