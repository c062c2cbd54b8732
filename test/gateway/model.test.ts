// The enforcement model as a station admin and a supervisor meet it: units and rosters,
// certificate-checked checkouts in the station's time zone, clips attributed to the officer who
// wore the device, and case links that always leave a custody trail.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Db } from "../../gateway/store/db.js";
import { openTestDb } from "../helpers/postgres.js";
import { INGEST_MIGRATIONS, MODEL_MIGRATIONS, migrate } from "../../gateway/store/schema.js";
import { Model, ModelError } from "../../gateway/model/model.js";
import type { Unit } from "../../gateway/model/model.js";

let dir: string;
let db: Db;
let model: Model;
let clock: number;

beforeEach(async () => {
  clock = Date.parse("2026-03-10T02:00:00Z");
  dir = mkdtempSync(join(tmpdir(), "evrec-model-"));
  db = await openTestDb(join(dir, "gateway.db"));
  await migrate(db, [INGEST_MIGRATIONS, MODEL_MIGRATIONS]);
  model = new Model(db, { now: () => clock });
});
afterEach(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

const T = (iso: string) => Date.parse(iso);

async function device(id: string, kind: "body" | "fixed" = "body", state = "active"): Promise<void> {
  await db.run("INSERT INTO devices (id, kind, state, root_enc, created_at) VALUES (?, ?, ?, ?, ?)", [id, kind, state, Buffer.alloc(48), 0]);
}

async function recording(deviceId: string, recordingId: number, startMs: number, endMs: number, tags: { start?: string; seal?: string } = {}): Promise<void> {
  await db.run(
    "INSERT INTO recordings (device_id, recording_id, case_tag, seal_case_tag, start_ms, end_ms, verdict, final, media_path, first_received, last_received) VALUES (?, ?, ?, ?, ?, ?, 'verified', 1, ?, ?, ?)",
    [deviceId, recordingId, tags.start ?? "", tags.seal ?? null, startMs, endMs, `${deviceId}/${recordingId}`, endMs, endMs]);
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ModelError) return e.code;
    throw e;
  }
  return "resolved";
}

async function station(): Promise<{ city: Unit; county: Unit; agency: Unit; other: Unit }> {
  const city = await model.addUnit("Wuhan Market Regulation", "city");
  const county = await model.addUnit("Hongshan District", "county", city.id);
  const agency = await model.addUnit("Hongshan Enforcement Brigade", "agency", county.id);
  const other = await model.addUnit("Jiangxia District", "county", city.id);
  return { city, county, agency, other };
}

const cert = { certNo: "ZF-4201-0001", certValidFrom: "2025-03-02", certValidTo: "2026-03-01" };

describe("units and rosters", () => {
  it("keeps the unit tree and lists a subtree from its root down", async () => {
    const { city, county, agency, other } = await station();
    expect((await model.subtree(county.id)).map((u) => u.id)).toEqual([county.id, agency.id]);
    expect((await model.subtree(city.id)).map((u) => u.id).sort()).toEqual([city.id, county.id, agency.id, other.id].sort());
    expect(await code(model.addUnit("A city under a county", "city", county.id))).toBe("BAD_LEVEL");
    expect(await code(model.addUnit("Orphan", "agency", 999))).toBe("UNIT_NOT_FOUND");
  });

  it("refuses a second officer with the same badge and a certificate date that isn't a day", async () => {
    const { agency } = await station();
    await model.addOfficer({ badge: "420101", name: "Li Wei", unitId: agency.id, role: "enforcement", ...cert });
    expect(await code(model.addOfficer({ badge: "420101", name: "Wang Fang", unitId: agency.id, role: "enforcement", ...cert }))).toBe("DUPLICATE_BADGE");
    expect(await code(model.addOfficer({ badge: "420102", name: "Wang Fang", unitId: agency.id, role: "enforcement", ...cert, certValidTo: "2026-02-30" }))).toBe("BAD_DATE");
    expect(await code(model.addOfficer({ badge: "420103", name: "Zhao Lei", unitId: agency.id, role: "enforcement", ...cert, certValidFrom: "2027-01-01" }))).toBe("BAD_CERT");
    expect(await code(model.addOfficer({ badge: "420104", name: "Zhao Lei", unitId: agency.id, role: "chief" as never }))).toBe("BAD_ROLE");
    const updated = await model.updateOfficer("420101", { certValidTo: "2027-03-01", active: false });
    expect(updated).toMatchObject({ certValidFrom: "2025-03-02", certValidTo: "2027-03-01", active: false });
    expect((await model.listOfficers(agency.id)).map((o) => o.badge)).toEqual(["420101"]);
  });

  it("refuses a case policy weaker than its activity kind requires", async () => {
    const { agency } = await station();
    const base = { unitId: agency.id, category: "compulsion" as const, windowStart: T("2026-03-10T01:00:00Z"), windowEnd: T("2026-03-10T02:00:00Z") };
    expect((await model.addCase({ ...base, number: "HS-2026-001", activityKind: "seizure" })).policy).toBe("FULL");
    expect(await code(model.addCase({ ...base, number: "HS-2026-002", activityKind: "seizure", policy: "KEY_STEPS" }))).toBe("POLICY_TOO_WEAK");
    expect(await code(model.addCase({ ...base, number: "HS-2026-001", activityKind: "hearing" }))).toBe("DUPLICATE_CASE");
    expect(await code(model.addCase({ ...base, number: "HS-2026-003", activityKind: "hearing", windowEnd: base.windowStart }))).toBe("BAD_WINDOW");
    expect(await code(model.addCase({ ...base, number: "HS-2026-004", activityKind: "hearing", confidentiality: 4 }))).toBe("BAD_CONFIDENTIALITY");
  });
});

describe("checkout", () => {
  it("refuses a device to an officer whose certificate has expired on that date", async () => {
    const { agency } = await station();
    await device("BWC-01");
    await model.addOfficer({ badge: "420101", name: "Li Wei", unitId: agency.id, role: "enforcement", ...cert });
    expect(await code(model.checkOut("BWC-01", { badge: "420101" }, T("2026-03-05T01:00:00Z")))).toBe("CERT_INVALID");
    expect(await code(model.checkOut("BWC-01", { badge: "420101" }, T("2025-03-01T01:00:00Z")))).toBe("CERT_INVALID");
    expect(await model.assignmentAt("BWC-01", T("2026-03-05T01:00:00Z"))).toBeNull();
  });

  it("judges the certificate on the local date in Asia/Shanghai, not the UTC date", async () => {
    const { agency } = await station();
    await device("BWC-01");
    await model.addOfficer({ badge: "420101", name: "Li Wei", unitId: agency.id, role: "enforcement", ...cert });
    // 16:30Z on 1 March is 00:30 on 2 March in Shanghai: the certificate has ended
    expect(await code(model.checkOut("BWC-01", { badge: "420101" }, T("2026-03-01T16:30:00Z")))).toBe("CERT_INVALID");
    // 15:59Z is still 23:59 on 1 March, the certificate's last day
    const a = await model.checkOut("BWC-01", { badge: "420101" }, T("2026-03-01T15:59:00Z"));
    expect(a.badge).toBe("420101");
    await model.returnDevice("BWC-01", T("2026-03-01T15:59:30Z"));
    // the same instant in a UTC station is still 1 March
    const utc = new Model(db, { timeZone: "UTC" });
    expect((await utc.checkOut("BWC-01", { badge: "420101" }, T("2026-03-01T16:30:00Z"))).badge).toBe("420101");
  });

  it("refuses a device already out, a fixed device to an officer and a body-worn one to a room", async () => {
    const { agency } = await station();
    await device("BWC-01");
    await device("CAM-R1", "fixed");
    await device("BWC-09", "body", "lost");
    await model.addOfficer({ badge: "420101", name: "Li Wei", unitId: agency.id, role: "enforcement", ...cert });
    await model.addOfficer({ badge: "420102", name: "Wang Fang", unitId: agency.id, role: "enforcement", ...cert });
    const t = T("2026-01-05T01:00:00Z");
    await model.checkOut("BWC-01", { badge: "420101" }, t);
    expect(await code(model.checkOut("BWC-01", { badge: "420102" }, t + 1000))).toBe("DEVICE_BUSY");
    expect(await code(model.checkOut("CAM-R1", { badge: "420102" }, t))).toBe("NOT_BODY_WORN");
    expect(await code(model.checkOut("BWC-09", { badge: "420102" }, t))).toBe("DEVICE_NOT_USABLE");
    expect(await code(model.checkOut("BWC-01", { room: "Interview 1" }, t))).toBe("NOT_FIXED");
    expect(await code(model.checkOut("BWC-02", { badge: "420102" }, t))).toBe("UNKNOWN_DEVICE");
    expect(await code(model.returnDevice("BWC-01", t - 1))).toBe("BAD_TIME");
    await model.returnDevice("BWC-01", t + 60000);
    expect(await code(model.returnDevice("BWC-01", t + 70000))).toBe("NOT_CHECKED_OUT");
    // entered after the fact, a checkout inside a period already on record would give a clip two wearers
    expect(await code(model.checkOut("BWC-01", { badge: "420102" }, t + 30000))).toBe("ASSIGNMENT_OVERLAP");
    expect((await model.checkOut("CAM-R1", { room: "Interview 1" }, t)).room).toBe("Interview 1");
  });

  it("lists checkouts that outlive their officer's certificate and certificates about to end", async () => {
    const { agency } = await station();
    await device("BWC-01");
    await model.addOfficer({ badge: "420101", name: "Li Wei", unitId: agency.id, role: "enforcement", ...cert });
    await model.addOfficer({ badge: "420102", name: "Wang Fang", unitId: agency.id, role: "enforcement", certNo: "ZF-2", certValidFrom: "2025-01-01", certValidTo: "2027-01-01" });
    await model.checkOut("BWC-01", { badge: "420101" }, T("2026-03-01T08:00:00Z"));
    expect(await model.checkoutsWithExpiredCert(T("2026-03-01T15:00:00Z"))).toEqual([]);
    expect(await model.checkoutsWithExpiredCert(T("2026-03-01T16:30:00Z"))).toMatchObject([{ deviceId: "BWC-01", badge: "420101", certValidTo: "2026-03-01" }]);
    expect(await model.expiringCertificates("2026-02-20")).toMatchObject([{ badge: "420101", daysLeft: 9, expired: false }]);
    expect(await model.expiringCertificates("2026-03-02")).toMatchObject([{ badge: "420101", daysLeft: -1, expired: true }]);
    expect(await code(model.expiringCertificates("2026-13-01"))).toBe("BAD_DATE");
  });
});

describe("clips and cases", () => {
  it("attributes a clip to the officer who held the device when it started, across a return and a re-checkout", async () => {
    const { agency } = await station();
    await device("BWC-01");
    await device("CAM-R1", "fixed");
    await model.addOfficer({ badge: "420101", name: "Li Wei", unitId: agency.id, role: "enforcement", ...cert });
    await model.addOfficer({ badge: "420102", name: "Wang Fang", unitId: agency.id, role: "enforcement", ...cert });
    const day = T("2026-01-05T00:00:00Z");
    const h = 3600000;
    await model.checkOut("BWC-01", { badge: "420101" }, day + 1 * h);
    await model.returnDevice("BWC-01", day + 4 * h);
    await model.checkOut("BWC-01", { badge: "420102" }, day + 5 * h);
    await recording("BWC-01", 1, day + 2 * h, day + 2.5 * h);
    await recording("BWC-01", 2, day + 4.5 * h, day + 4.6 * h);
    await recording("BWC-01", 3, day + 6 * h, day + 6.5 * h);
    await recording("CAM-R1", 1, day + 2 * h, day + 3 * h);
    expect((await model.clipOfficer("BWC-01", 1))?.badge).toBe("420101");
    expect(await model.clipOfficer("BWC-01", 2)).toBeNull();
    expect((await model.clipOfficer("BWC-01", 3))?.badge).toBe("420102");
    expect(await model.clipOfficer("CAM-R1", 1)).toBeNull();
    expect(await code(model.clipOfficer("BWC-01", 4))).toBe("UNKNOWN_RECORDING");
  });

  it("hands a device over cleanly when it is returned and checked out again in the same instant", async () => {
    const { agency } = await station();
    await device("BWC-01");
    await model.addOfficer({ badge: "420101", name: "Li Wei", unitId: agency.id, role: "enforcement", ...cert });
    await model.addOfficer({ badge: "420102", name: "Wang Fang", unitId: agency.id, role: "enforcement", ...cert });
    const t = T("2026-01-05T08:00:00Z");
    await model.checkOut("BWC-01", { badge: "420101" }, t - 3600000);
    await model.returnDevice("BWC-01", t);
    await model.checkOut("BWC-01", { badge: "420102" }, t);
    await recording("BWC-01", 1, t, t + 60000);
    expect((await model.clipOfficer("BWC-01", 1))?.badge).toBe("420102");
  });

  it("links and unlinks only with a reason, and writes a custody event for each", async () => {
    const { agency } = await station();
    await device("BWC-01");
    const w = T("2026-03-10T01:00:00Z");
    await model.addCase({ number: "HS-2026-001", unitId: agency.id, category: "compulsion", activityKind: "seizure", windowStart: w, windowEnd: w + 3600000, confidentiality: 2 });
    await recording("BWC-01", 1, w, w + 600000);
    expect(await code(model.link("BWC-01", 1, "HS-2026-001", "supervisor:zhang", ""))).toBe("REASON_REQUIRED");
    expect(await code(model.link("BWC-01", 1, "HS-2026-001", "supervisor:zhang", "   "))).toBe("REASON_REQUIRED");
    expect(await code(model.link("BWC-01", 1, "HS-2026-001", "", "seizure on site"))).toBe("ACTOR_REQUIRED");
    expect(await code(model.link("BWC-01", 1, "HS-2026-999", "supervisor:zhang", "seizure on site"))).toBe("CASE_NOT_FOUND");
    expect(await model.custodyEvents("BWC-01", 1)).toEqual([]);

    const l = await model.link("BWC-01", 1, "HS-2026-001", "supervisor:zhang", "seizure on site");
    expect(l).toMatchObject({ caseNumber: "HS-2026-001", linkedBy: "supervisor:zhang", reason: "seizure on site", at: clock, unlinkedAt: null });
    expect(await code(model.link("BWC-01", 1, "HS-2026-001", "supervisor:zhang", "again"))).toBe("ALREADY_LINKED");
    expect(await model.clipConfidentiality("BWC-01", 1)).toBe(2);

    expect(await code(model.unlink("BWC-01", 1, "HS-2026-001", "supervisor:zhang", ""))).toBe("REASON_REQUIRED");
    clock += 60000;
    await model.unlink("BWC-01", 1, "HS-2026-001", "legal:chen", "clip belongs to the neighbouring shop's case");
    expect(await code(model.unlink("BWC-01", 1, "HS-2026-001", "legal:chen", "twice"))).toBe("NOT_LINKED");
    expect(await model.clipLinks("BWC-01", 1)).toEqual([]);
    expect((await model.clipLinks("BWC-01", 1, { history: true }))[0].unlinkedAt).toBe(clock);
    expect(await model.clipConfidentiality("BWC-01", 1)).toBe(0);
    expect((await model.custodyEvents("BWC-01", 1)).map((e) => [e.action, e.actor, e.caseNumber, e.reason])).toEqual([
      ["link", "supervisor:zhang", "HS-2026-001", "seizure on site"],
      ["unlink", "legal:chen", "HS-2026-001", "clip belongs to the neighbouring shop's case"],
    ]);
  });

  it("links a clip to the case its seal's case tag names, as a custody event of the system, only within the clip's units", async () => {
    const { county, agency, other } = await station();
    await device("BWC-01");
    await model.setDeviceUnit("BWC-01", county.id);
    const w = T("2026-03-10T01:00:00Z");
    await model.addCase({ number: "HS-2026-001", unitId: agency.id, category: "penalty", activityKind: "on_site_enforcement", windowStart: w, windowEnd: w + 3600000 });
    await model.addCase({ number: "HS-2026-002", unitId: agency.id, category: "penalty", activityKind: "on_site_enforcement", windowStart: w, windowEnd: w + 3600000 });
    await model.addCase({ number: "JX-2026-009", unitId: other.id, category: "penalty", activityKind: "on_site_enforcement", windowStart: w, windowEnd: w + 3600000 });
    await recording("BWC-01", 1, w, w + 60000, { start: "HS-2026-001", seal: "HS-2026-002" });
    await recording("BWC-01", 2, w, w + 60000, { start: "HS-2026-777" });
    await recording("BWC-01", 3, w, w + 60000, { start: "JX-2026-009" });
    const l = await model.linkByTag("BWC-01", 1);
    expect("caseNumber" in l && l.caseNumber).toBe("HS-2026-002");
    const again = await model.linkByTag("BWC-01", 1);
    expect("id" in again && "id" in l && again.id === l.id).toBe(true);
    expect(await model.linkByTag("BWC-01", 2)).toMatchObject({ refused: "NO_CASE" });
    // A case of a neighbouring district: the device's tag never links the clip there.
    expect(await model.linkByTag("BWC-01", 3)).toMatchObject({ refused: "CASE_OUT_OF_SCOPE", tag: "JX-2026-009" });
    expect(await model.clipLinks("BWC-01", 3)).toEqual([]);
    expect((await model.custodyEvents("BWC-01", 1)).map((e) => e.actor)).toEqual(["system:case-tag"]);
  });

  it("suggests cases overlapping the clip from the officer's unit and the units above it, best first", async () => {
    const { city, county, agency, other } = await station();
    await device("BWC-01");
    await model.addOfficer({ badge: "420101", name: "Li Wei", unitId: agency.id, role: "enforcement", ...cert });
    const t = T("2026-01-05T02:00:00Z");
    const m = 60000;
    await model.checkOut("BWC-01", { badge: "420101" }, t - 60 * m);
    await recording("BWC-01", 1, t, t + 30 * m);
    const base = { category: "inspection" as const, activityKind: "on_site_enforcement" };
    await model.addCase({ ...base, number: "A-own-short", unitId: agency.id, windowStart: t + 20 * m, windowEnd: t + 90 * m });
    await model.addCase({ ...base, number: "B-own-long", unitId: agency.id, windowStart: t - 10 * m, windowEnd: t + 90 * m });
    await model.addCase({ ...base, number: "C-county", unitId: county.id, windowStart: t - 10 * m, windowEnd: t + 90 * m });
    await model.addCase({ ...base, number: "D-city", unitId: city.id, windowStart: t, windowEnd: t + 5 * m });
    await model.addCase({ ...base, number: "E-other-county", unitId: other.id, windowStart: t - 10 * m, windowEnd: t + 90 * m });
    await model.addCase({ ...base, number: "F-own-later", unitId: agency.id, windowStart: t + 40 * m, windowEnd: t + 90 * m });
    expect((await model.suggestions("BWC-01", 1)).map((s) => s.case.number)).toEqual(["B-own-long", "C-county", "A-own-short", "D-city"]);
    await model.link("BWC-01", 1, "B-own-long", "supervisor:zhang", "on site together");
    expect((await model.suggestions("BWC-01", 1)).map((s) => s.case.number)).toEqual(["C-county", "A-own-short", "D-city"]);
    // And the other way, a case's clips: one that started before the window and ran into it, not one
    // that started after it ended, nor one already linked.
    await recording("BWC-01", 2, t + 100 * m, t + 110 * m);
    expect((await model.clipsForCase("A-own-short")).map((c) => c.recording)).toEqual([1]);
    expect(await model.clipsForCase("B-own-long")).toEqual([]);
  });

  it("suggests cases for a fixed device by its unit and room", async () => {
    const { county, agency } = await station();
    await device("CAM-R1", "fixed");
    await model.setDeviceUnit("CAM-R1", agency.id);
    await model.setDeviceRoom("CAM-R1", "Hearing room 2");
    const t = T("2026-01-05T02:00:00Z");
    const m = 60000;
    await recording("CAM-R1", 1, t, t + 30 * m);
    const base = { category: "penalty" as const, activityKind: "hearing", windowStart: t - 10 * m, windowEnd: t + 60 * m };
    await model.addCase({ ...base, number: "H-elsewhere", unitId: agency.id, room: "Interview 1" });
    await model.addCase({ ...base, number: "H-here", unitId: county.id, room: "Hearing room 2" });
    expect(await model.clipRoom("CAM-R1", 1)).toBe("Hearing room 2");
    const s = await model.suggestions("CAM-R1", 1);
    expect(s.map((x) => [x.case.number, x.roomMatch])).toEqual([["H-here", true], ["H-elsewhere", false]]);
    await model.setDeviceKind("CAM-R1", "body");
    expect(await code(model.setDeviceRoom("CAM-R1", "Interview 1"))).toBe("NOT_FIXED");
  });
});
