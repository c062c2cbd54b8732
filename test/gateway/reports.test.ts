// The reports a supervisor reads: equipment and legal-reviewer ratios per unit and rolled up the
// tree, coverage of FULL cases by verified clips, integrity counts and per-officer statistics.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Db } from "../../gateway/store/db.js";
import { openTestDb } from "../helpers/postgres.js";
import { INGEST_MIGRATIONS, MODEL_MIGRATIONS, migrate } from "../../gateway/store/schema.js";
import { Model } from "../../gateway/model/model.js";
import type { Unit } from "../../gateway/model/model.js";
import { fleetReport, requiredReviewers } from "../../gateway/reports/ratios.js";
import type { UnitFleet } from "../../gateway/reports/ratios.js";
import { caseCoverage, coverageReport, integritySummary, mergeCoverage, statistics } from "../../gateway/reports/coverage.js";
import { END_BATTERY_LOW, END_REBOOT, END_STOPPED } from "../../protocol/constants.js";

let dir: string;
let db: Db;
let model: Model;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "evrec-reports-"));
  db = await openTestDb(join(dir, "gateway.db"));
  await migrate(db, [INGEST_MIGRATIONS, MODEL_MIGRATIONS]);
  model = new Model(db);
});
afterEach(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

const cert = { certNo: "ZF-1", certValidFrom: "2025-01-01", certValidTo: "2030-12-31" };
let badge = 0;

async function officers(unit: Unit, n: number, role: "enforcement" | "legal_reviewer" | "supervisor" = "enforcement"): Promise<void> {
  for (let i = 0; i < n; i++) await model.addOfficer({ badge: String(++badge), name: `Officer ${badge}`, unitId: unit.id, role, ...cert });
}

/** A case's coverage at the model's gap tolerance. */
async function cover(number: string, offsetMs?: (d: string) => number) {
  const c = await caseCoverage(db, number, { gapToleranceMs: model.opts.gapToleranceMs, offsetMs });
  if (!c) throw new Error(`no case ${number}`);
  return c;
}

let deviceNo = 0;
async function devices(unit: Unit | null, n: number, state = "active", kind: "body" | "fixed" = "body"): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `DEV-${++deviceNo}`;
    await db.run("INSERT INTO devices (id, kind, state, root_enc, created_at, unit_id) VALUES (?, ?, ?, ?, ?, ?)", [id, kind, state, Buffer.alloc(48), 0, unit ? unit.id : null]);
    ids.push(id);
  }
  return ids;
}

const row = (r: { units: UnitFleet[] }, u: Unit) => r.units.find((x) => x.unitId === u.id)!;

describe("fleet ratio", () => {
  it("finds a unit of 5 officers with 1 active recorder short by 1 at 1 per 4", async () => {
    const u = await model.addUnit("Brigade 1", "agency");
    await officers(u, 5);
    await devices(u, 1);
    // none of these count: never connected, lost, retired, revoked, or fixed in a room
    for (const s of ["provisioned", "lost", "retired", "revoked"]) await devices(u, 1, s);
    await devices(u, 1, "active", "fixed");
    const r = row(await fleetReport(db, { ratio: model.opts.fleetRatio }), u);
    expect(r.own.devices).toEqual({ officers: 5, required: 2, counted: 1, shortfall: 1 });
    expect(r.compliant).toBe(false);
  });

  it("requires nothing of a unit with no enforcement officers, and 1 of a unit with fewer than 4", async () => {
    const empty = await model.addUnit("Office", "agency");
    await officers(empty, 2, "supervisor");
    const small = await model.addUnit("Post", "agency");
    await officers(small, 1);
    const r = await fleetReport(db, { ratio: model.opts.fleetRatio });
    expect(row(r, empty).own.devices).toMatchObject({ officers: 0, required: 0, shortfall: 0 });
    expect(row(r, empty).own.reviewers.required).toBe(0);
    expect(row(r, empty).compliant).toBe(true);
    expect(row(r, small).own.devices).toMatchObject({ required: 1, shortfall: 1 });
  });

  it("doesn't let a parent's spare recorders cover a child's shortfall", async () => {
    const county = await model.addUnit("County bureau", "county");
    const brigade = await model.addUnit("Brigade", "agency", county.id);
    await officers(county, 4);
    await devices(county, 3);
    await officers(brigade, 5);
    await devices(brigade, 1);
    const r = await fleetReport(db, { ratio: model.opts.fleetRatio });
    expect(row(r, county).own.devices).toEqual({ officers: 4, required: 1, counted: 3, shortfall: 0 });
    // subtree totals would say 9 officers, 4 sets, 3 needed: compliant. The sum of shortfalls says otherwise.
    expect(row(r, county).rollup.devices).toEqual({ officers: 9, required: 3, counted: 4, shortfall: 1 });
    expect(row(r, county).compliant).toBe(false);
    expect(r.units.map((u) => [u.name, u.depth])).toEqual([["County bureau", 0], ["Brigade", 1]]);
  });

  it("applies the configured ratio, since other regions equip 1 per 2", async () => {
    const u = await model.addUnit("Brigade", "agency");
    await officers(u, 5);
    await devices(u, 2);
    expect(row(await fleetReport(db, { ratio: 2 }), u).own.devices.shortfall).toBe(1);
    expect(row(await fleetReport(db, { ratio: 1 }), u).own.devices.required).toBe(5);
    await expect(fleetReport(db, { ratio: 0 })).rejects.toThrow(RangeError);
  });

  it("needs 2 legal reviewers for 21 officers and 1 for 19, summed up the tree", async () => {
    const city = await model.addUnit("City bureau", "city");
    const big = await model.addUnit("Big brigade", "agency", city.id);
    const mid = await model.addUnit("Mid brigade", "agency", city.id);
    await officers(big, 21);
    await officers(big, 1, "legal_reviewer");
    await officers(mid, 19);
    await officers(mid, 1, "legal_reviewer");
    const r = await fleetReport(db, { ratio: model.opts.fleetRatio });
    expect(row(r, big).own.reviewers).toEqual({ staff: 21, required: 2, counted: 1, shortfall: 1 });
    expect(row(r, mid).own.reviewers).toEqual({ staff: 19, required: 1, counted: 1, shortfall: 0 });
    expect(row(r, city).rollup.reviewers).toEqual({ staff: 40, required: 3, counted: 2, shortfall: 1 });
    expect(row(r, city).reviewersCompliant).toBe(false);
    // at exact multiples of 20 the 5 % is met exactly, with no extra reviewer
    expect([20, 40, 60, 100].map(requiredReviewers)).toEqual([1, 2, 3, 5]);
  });

  it("doesn't count officers taken off the roster", async () => {
    const u = await model.addUnit("Brigade", "agency");
    await officers(u, 5);
    await model.updateOfficer(String(badge), { active: false });
    expect(row(await fleetReport(db, { ratio: model.opts.fleetRatio }), u).own.devices).toMatchObject({ officers: 4, required: 1 });
  });
});

const W = Date.parse("2026-03-10T01:00:00Z");
const S = 1000;

/** A recording made of 10 s chunks covering [from, to) in device time. */
async function clip(deviceId: string, recordingId: number, from: number, to: number, verdict = "verified", endReason?: number): Promise<void> {
  // A seal block whose byte 3 says why the recording ended (R-SEAL-5); the rest does not matter here.
  const seal = endReason === undefined ? null : Buffer.alloc(128);
  if (seal) seal[3] = endReason!;
  await db.run(
    "INSERT INTO recordings (device_id, recording_id, start_ms, end_ms, verdict, final, interrupted, media_path, first_received, last_received, seal_block) VALUES (?, ?, ?, ?, ?, 1, 0, ?, ?, ?, ?)",
    [deviceId, recordingId, from, to, verdict, `${deviceId}/${recordingId}`, to, to + 30 * S, seal]);
  let seq = 1;
  // A stored recording says how many chunks it holds (a sealed one with none is empty, not verified).
  // and its media time, the sum of its chunks' durations, which ingest's commit keeps with the row
  await db.run("UPDATE recordings SET linked_seq = ?, media_ms = ? WHERE device_id = ? AND recording_id = ?", [Math.ceil((to - from) / (10 * S)), to - from, deviceId, recordingId]);
  for (let t = from; t < to; t += 10 * S) {
    await db.run("INSERT INTO chunks (device_id, recording_id, seq, header, tag, chain, flags, time_ms, duration_ms, length, media_offset, received_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 0, 0, ?)",
      [deviceId, recordingId, seq++, Buffer.alloc(1), Buffer.alloc(1), Buffer.alloc(1), t, Math.min(10 * S, to - t), to]);
  }
}

async function fullCase(number = "HS-2026-001", policy: "FULL" | "KEY_STEPS" = "FULL"): Promise<Unit> {
  const u = await model.addUnit("Brigade", "agency");
  await model.addCase({ number, unitId: u.id, category: "compulsion", activityKind: policy === "FULL" ? "forced_demolition" : "hearing", windowStart: W, windowEnd: W + 60 * S });
  return u;
}

const link = (d: string, r: number, c = "HS-2026-001") => model.link(d, r, c, "supervisor:zhang", "recorded the demolition");

describe("coverage of cases", () => {
  it("reports a 5 s gap between two verified clips of a FULL case", async () => {
    await fullCase();
    const [a, b] = await devices(null, 2);
    await clip(a, 1, W, W + 30 * S);
    await clip(b, 1, W + 35 * S, W + 60 * S);
    await link(a, 1);
    await link(b, 1);
    const c = await cover("HS-2026-001");
    expect(c.gaps).toEqual([[W + 30 * S, W + 35 * S]]);
    expect(c.satisfied).toBe(false);
    expect(c.percent).toBeCloseTo((55 / 60) * 100, 6);
    expect(c.verifiedClips).toBe(2);
  });

  it("names the cause of each gap: why the recording before it ended (its seal's end reason), or NO_RECORDING where the window opened unrecorded", async () => {
    await fullCase();
    const [a, b, c] = await devices(null, 3);
    await clip(a, 1, W + 5 * S, W + 20 * S, "verified", END_REBOOT);
    await clip(b, 1, W + 25 * S, W + 40 * S, "verified", END_BATTERY_LOW);
    await clip(c, 1, W + 45 * S, W + 60 * S, "verified", END_STOPPED);
    for (const d of [a, b, c]) await link(d, 1);
    const cov = await cover("HS-2026-001");
    expect(cov.gaps).toEqual([[W, W + 5 * S], [W + 20 * S, W + 25 * S], [W + 40 * S, W + 45 * S]]);
    expect(cov.gapCauses).toEqual(["NO_RECORDING", "REBOOT", "BATTERY_LOW"]);
  });

  it("reports 100 % when the only gap is 1 s, under the 2 s tolerance", async () => {
    await fullCase();
    const [a, b] = await devices(null, 2);
    await clip(a, 1, W, W + 30 * S);
    await clip(b, 1, W + 31 * S, W + 60 * S);
    await link(a, 1);
    await link(b, 1);
    const c = await cover("HS-2026-001");
    expect(c.percent).toBe(100);
    expect(c.gaps).toEqual([]);
    expect(c.satisfied).toBe(true);
    // a station that tolerates nothing sees the second
    expect((await caseCoverage(db, "HS-2026-001", { gapToleranceMs: 0 }))!.gaps).toEqual([[W + 30 * S, W + 31 * S]]);
  });

  it("doesn't count an unverified clip, even one that fills the gap", async () => {
    await fullCase();
    const [a, b, c] = await devices(null, 3);
    await clip(a, 1, W, W + 30 * S);
    await clip(b, 1, W + 35 * S, W + 60 * S);
    await clip(c, 1, W + 25 * S, W + 40 * S, "incomplete");
    for (const d of [a, b, c]) await link(d, 1);
    const cov = await cover("HS-2026-001");
    expect(cov.gaps).toEqual([[W + 30 * S, W + 35 * S]]);
    expect(cov.verifiedClips).toBe(2);
  });

  it("doesn't count a clip once it is unlinked, and reports an uncovered window end", async () => {
    await fullCase();
    const [a, b] = await devices(null, 2);
    await clip(a, 1, W, W + 30 * S);
    await clip(b, 1, W + 30 * S, W + 60 * S);
    await link(a, 1);
    await link(b, 1);
    await model.unlink(b, 1, "HS-2026-001", "legal:chen", "wrong address");
    expect((await cover("HS-2026-001")).gaps).toEqual([[W + 30 * S, W + 60 * S]]);
  });

  it("puts clips on the gateway's clock with each device's offset before merging", async () => {
    await fullCase();
    const [a, b] = await devices(null, 2);
    await clip(a, 1, W, W + 30 * S);
    // b's clock runs 4 s behind: its clip really starts at W + 31 s
    await clip(b, 1, W + 27 * S, W + 56 * S);
    await link(a, 1);
    await link(b, 1);
    expect((await cover("HS-2026-001")).gaps).toEqual([[W + 56 * S, W + 60 * S]]);
    const corrected = await cover("HS-2026-001", (d) => (d === b ? 4 * S : 0));
    expect(corrected.percent).toBe(100);
    const wrong = await cover("HS-2026-001", (d) => (d === b ? 10 * S : 0));
    expect(wrong.gaps).toEqual([[W + 30 * S, W + 37 * S]]);
  });

  it("holds a KEY_STEPS case satisfied once one verified clip is linked", async () => {
    await fullCase("HS-2026-002", "KEY_STEPS");
    const [a, b] = await devices(null, 2);
    await clip(a, 1, W, W + 10 * S, "incomplete");
    await clip(b, 1, W + 20 * S, W + 30 * S);
    await link(a, 1, "HS-2026-002");
    expect((await cover("HS-2026-002")).satisfied).toBe(false);
    await link(b, 1, "HS-2026-002");
    const c = await cover("HS-2026-002");
    expect(c).toMatchObject({ policy: "KEY_STEPS", satisfied: true, verifiedClips: 1, percent: null });
    expect((await coverageReport(db)).map((x) => x.caseNumber)).toEqual(["HS-2026-002"]);
  });

  it("bridges holes at the window's edges within the tolerance, and not beyond", () => {
    expect(mergeCoverage(0, 100, [[1, 99]], 2)).toEqual({ coveredMs: 100, gaps: [] });
    expect(mergeCoverage(0, 100, [[5, 50], [40, 60], [-10, 3]], 2)).toEqual({ coveredMs: 60, gaps: [[60, 100]] });
    expect(mergeCoverage(0, 100, [], 2)).toEqual({ coveredMs: 0, gaps: [[0, 100]] });
  });
});

describe("integrity and statistics", () => {
  it("counts recordings by verdict, final incompletes and interrupted ones", async () => {
    const [a] = await devices(null, 1);
    await clip(a, 1, W, W + 10 * S);
    await clip(a, 2, W, W + 10 * S, "incomplete");
    await clip(a, 3, W, W + 10 * S, "failed");
    await db.run("UPDATE recordings SET final = 0 WHERE recording_id = 2");
    await clip(a, 4, W, W + 10 * S, "incomplete");
    await db.run("UPDATE recordings SET interrupted = 1 WHERE recording_id = 1");
    expect(await integritySummary(db)).toEqual({ total: 4, verified: 1, incomplete: 2, failed: 1, empty: 0, finalIncomplete: 1, interrupted: 1 });
  });

  it("counts a unit's recordings alone for a scope: its devices', and those its officers wore", async () => {
    const mine = await model.addUnit("Scoped Brigade", "agency");
    const theirs = await model.addUnit("Other Brigade", "agency");
    const [a] = await devices(mine, 1);
    const [b] = await devices(theirs, 1);
    await clip(a, 1, W, W + 10 * S);
    await clip(b, 1, W, W + 10 * S, "failed");
    await clip(b, 2, W, W + 10 * S, "incomplete");
    expect(await integritySummary(db, [mine.id])).toMatchObject({ total: 1, verified: 1, failed: 0, incomplete: 0 });
    expect(await integritySummary(db, [theirs.id])).toMatchObject({ total: 2, verified: 0, failed: 1, incomplete: 1 });
    expect(await integritySummary(db, [])).toMatchObject({ total: 0 });
  });

  it("gives recordings, hours, verdicts and median upload delay per officer and per unit", async () => {
    const u = await model.addUnit("Brigade", "agency");
    await officers(u, 1);
    const officerBadge = String(badge);
    const [a, spare] = await devices(u, 2);
    await model.checkOut(a, { badge: officerBadge }, W - 3600 * S);
    await clip(a, 1, W, W + 30 * S);
    await clip(a, 2, W + 100 * S, W + 160 * S, "incomplete");
    await clip(a, 3, W + 200 * S, W + 230 * S);
    await db.run("UPDATE recordings SET last_received = end_ms + 90000 WHERE device_id = ? AND recording_id = 3", [a]);
    await clip(spare, 1, W, W + 60 * S);
    const byOfficer = await statistics(db, { from: W, to: W + 3600 * S, by: "officer" });
    expect(byOfficer).toEqual([
      { key: officerBadge, label: `${officerBadge} Officer ${officerBadge}`, recordings: 3, hours: 120 / 3600, verdicts: { verified: 2, incomplete: 1, failed: 0 }, medianUploadDelayMs: 30 * S, fullCases: 0, fullCoveragePercent: null },
      { key: null, label: "(unassigned)", recordings: 1, hours: 60 / 3600, verdicts: { verified: 1, incomplete: 0, failed: 0 }, medianUploadDelayMs: 30 * S, fullCases: 0, fullCoveragePercent: null },
    ]);
    const byUnit = await statistics(db, { from: W, to: W + 3600 * S, by: "unit" });
    expect(byUnit).toMatchObject([{ key: u.id, label: "Brigade", recordings: 4, hours: 180 / 3600 }]);
    expect(await statistics(db, { from: W + 1, to: W + 100 * S, by: "unit" })).toEqual([]);
  });

  it("counts a clip stored before its media time was kept with it as the sum of the chunks it holds, a lost one left out", async () => {
    // A store at the step before the media time was kept, holding a clip of 10 s chunks whose third never came.
    await db.close();
    db = await openTestDb(join(dir, "older.db"));
    const before = INGEST_MIGRATIONS.steps.findIndex((s) => s.includes("ADD COLUMN media_ms"));
    expect(before).toBeGreaterThan(0);
    await migrate(db, [{ ...INGEST_MIGRATIONS, steps: INGEST_MIGRATIONS.steps.slice(0, before) }, MODEL_MIGRATIONS]);
    model = new Model(db);
    const u = await model.addUnit("Brigade", "agency");
    const [a] = await devices(u, 1);
    await db.run("INSERT INTO recordings (device_id, recording_id, start_ms, end_ms, verdict, final, interrupted, media_path, first_received, last_received, linked_seq) VALUES (?, 1, ?, ?, 'incomplete', 1, 0, ?, ?, ?, 4)",
      [a, W, W + 40 * S, `${a}/1`, W, W + 40 * S]);
    for (const seq of [1, 2, 4]) {
      await db.run("INSERT INTO chunks (device_id, recording_id, seq, header, tag, chain, flags, time_ms, duration_ms, length, media_offset, received_at) VALUES (?, 1, ?, ?, ?, ?, 0, ?, ?, 0, 0, ?)",
        [a, seq, Buffer.alloc(1), Buffer.alloc(1), Buffer.alloc(1), W + (seq - 1) * 10 * S, 10 * S, W + 40 * S]);
    }
    await migrate(db, [INGEST_MIGRATIONS, MODEL_MIGRATIONS]);
    expect(await statistics(db, { from: W, to: W + 3600 * S, by: "unit" })).toMatchObject([{ key: u.id, recordings: 1, hours: 30 / 3600 }]);
  });

  it("gives the FULL cases' coverage per unit and per officer: covered time over window time, a unit with an unrecorded case at 0 %", async () => {
    const u = await fullCase();
    const quiet = await model.addUnit("Night Shift", "agency", u.id);
    await model.addCase({ number: "HS-2026-003", unitId: quiet.id, category: "compulsion", activityKind: "forced_demolition", windowStart: W + 600 * S, windowEnd: W + 630 * S });
    // A KEY_STEPS case counts for nothing here.
    await model.addCase({ number: "HS-2026-004", unitId: u.id, category: "inspection", activityKind: "hearing", windowStart: W, windowEnd: W + 60 * S });
    await officers(u, 2);
    const [b1, b2] = [String(badge - 1), String(badge)];
    const [a, b] = await devices(u, 2);
    await model.checkOut(a, { badge: b1 }, W - 3600 * S);
    await model.checkOut(b, { badge: b2 }, W - 3600 * S);
    // HS-2026-001 (60 s): a covers 0–30 s, b 40–60 s: 50 of 60 s covered, one 10 s gap.
    await clip(a, 1, W, W + 30 * S);
    await clip(b, 1, W + 40 * S, W + 60 * S);
    await link(a, 1);
    await link(b, 1);
    expect((await cover("HS-2026-001")).coveredMs).toBe(50 * S);
    const byUnit = await statistics(db, { from: W, to: W + 3600 * S, by: "unit", gapToleranceMs: 2 * S });
    expect(byUnit.map((r) => [r.label, r.recordings, r.fullCases, r.fullCoveragePercent])).toEqual([
      ["Brigade", 2, 1, (50 / 60) * 100],
      ["Night Shift", 0, 1, 0],
    ]);
    const byOfficer = await statistics(db, { from: W, to: W + 3600 * S, by: "officer", gapToleranceMs: 2 * S });
    expect(byOfficer.map((r) => [r.key, r.fullCases, r.fullCoveragePercent])).toEqual([[b1, 1, (50 / 60) * 100], [b2, 1, (50 / 60) * 100]]);
    // A period the cases' windows miss has no FULL figure.
    const later = await statistics(db, { from: W + 3600 * S, to: W + 7200 * S, by: "unit" });
    expect(later).toEqual([]);
    // Both cases in one unit's row: (50 + 0) of (60 + 30) s.
    await db.run("UPDATE cases SET unit_id = ? WHERE number = 'HS-2026-003'", [u.id]);
    const merged = await statistics(db, { from: W, to: W + 3600 * S, by: "unit", gapToleranceMs: 2 * S });
    expect(merged.map((r) => [r.label, r.fullCases, r.fullCoveragePercent])).toEqual([["Brigade", 2, (50 / 90) * 100]]);
  });
});

describe("the ratio report against a hand-computed table", () => {
  // officers, active body-worn devices → required, shortfall, reviewers required (ratio 4, 5 %)
  const TABLE: [number, number, number, number, number][] = [
    [0, 0, 0, 0, 0],
    [1, 0, 1, 1, 1],
    [3, 1, 1, 0, 1],
    [4, 1, 1, 0, 1],
    [5, 1, 2, 1, 1],
    [19, 3, 5, 2, 1],
    [20, 5, 5, 0, 1],
    [21, 7, 6, 0, 2],
  ];
  it("matches per unit and sums up a nested tree; lost, retired and revoked devices don't count", async () => {
    const region = await model.addUnit("Region", "region");
    const city = await model.addUnit("City", "city", region.id);
    const units: Unit[] = [];
    for (const [n, active] of TABLE) {
      const u = await model.addUnit(`Unit of ${n}`, "agency", city.id);
      await officers(u, n);
      await devices(u, active);
      await devices(u, 1, "lost");
      await devices(u, 1, "retired");
      await devices(u, 1, "revoked");
      units.push(u);
    }
    const r = await fleetReport(db, { ratio: 4 });
    TABLE.forEach(([n, active, required, shortfall, reviewers], i) => {
      const own = row(r, units[i]).own;
      expect([n, own.devices.counted, own.devices.required, own.devices.shortfall, own.reviewers.required], `unit of ${n}`).toEqual([n, active, required, shortfall, reviewers]);
    });
    const sum = (k: 2 | 3 | 4) => TABLE.reduce((a, t) => a + t[k], 0);
    for (const top of [city, region]) {
      const up = row(r, top).rollup;
      expect([up.devices.required, up.devices.shortfall, up.reviewers.required]).toEqual([sum(2), sum(3), sum(4)]);
    }
  });
});

describe("a FULL case with two gaps", () => {
  it("lists both gaps and the coverage between them", async () => {
    await fullCase();
    const [a, b, c] = await devices(null, 3);
    await clip(a, 1, W, W + 20 * S);
    await clip(b, 1, W + 25 * S, W + 40 * S);
    await clip(c, 1, W + 50 * S, W + 60 * S);
    for (const d of [a, b, c]) await link(d, 1);
    const cov = await cover("HS-2026-001");
    expect(cov.gaps).toEqual([[W + 20 * S, W + 25 * S], [W + 40 * S, W + 50 * S]]);
    expect(cov.percent).toBeCloseTo((45 / 60) * 100, 6);
  });
});
