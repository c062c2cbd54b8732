// Retrieval rules (docs/RULES.md §2): an officer gets their own clips, supervisors and legal
// reviewers their unit's subtree, level 3 only a supervisor, an admin content only up to level 1;
// every retrieval names a reason and is audited, refusals included.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "./fake-device.js";
import { until } from "../helpers/wait.js";

let gw: Gateway;
let dir: string;
const tokens: Record<string, string> = {};
const payloads = [randomBytes(3000), randomBytes(2000)];

/** A new device, checked out to `badge` a minute ago, that records recording 1 and has it sealed. */
async function wornRecording(id: string, badge: string): Promise<void> {
  const root = randomBytes(32);
  await gw.registry.add(id, { root });
  await gw.model.checkOut(id, { badge }, Date.now() - 60000);
  const d = new FakeDevice(id, root);
  await d.connect(gw.mqttPort);
  await d.hello();
  const rec = d.recording(1, payloads);
  await d.publish(rec.start);
  for (const c of rec.chunks) await d.publish(c);
  await d.publish(rec.seal);
  await d.waitFor((x) => x.kind === "ack" && (x.body.ack as { state: number }).state === 1);
  await d.end();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "evrec-access-"));
  gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 0 }, createLogger("silent"));
  const m = gw.model;
  const city = await m.addUnit("City bureau", "city");
  const a = await m.addUnit("Agency A", "agency", city.id);
  const b = await m.addUnit("Agency B", "agency", city.id);
  const cert = { certNo: "ZF", certValidFrom: "2020-01-01", certValidTo: "2035-12-31" };
  await m.addOfficer({ badge: "A1", name: "Officer A1", unitId: a.id, role: "enforcement", ...cert });
  await m.addOfficer({ badge: "A2", name: "Officer A2", unitId: a.id, role: "enforcement", ...cert });
  await m.addOfficer({ badge: "S1", name: "Supervisor", unitId: city.id, role: "supervisor", ...cert });
  await m.addOfficer({ badge: "R1", name: "Reviewer B", unitId: b.id, role: "legal_reviewer", ...cert });
  for (const [name, role, badge] of [["a1", "officer", "A1"], ["a2", "officer", "A2"], ["sup", "supervisor", "S1"], ["revb", "legal_reviewer", "R1"]] as const) {
    await gw.accounts.create(name, role, badge);
    tokens[name] = await gw.accounts.issueToken(name);
  }
  tokens.admin = await gw.accounts.issueToken("admin");
  await wornRecording("BWC-0701", "A1");
  const now = Date.now();
  await m.addCase({ number: "K-RESTRICTED", unitId: a.id, category: "inspection", activityKind: "on_site_enforcement", windowStart: now - 3600e3, windowEnd: now + 3600e3, confidentiality: 2 });
  await m.addCase({ number: "K-SECRET", unitId: a.id, category: "inspection", activityKind: "on_site_enforcement", windowStart: now - 3600e3, windowEnd: now + 3600e3, confidentiality: 3 });
  await m.link("BWC-0701", 1, "K-RESTRICTED", "sup", "case file");
});
afterAll(async () => {
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
});

const media = async (who: string, reason = "case review") => {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}/api/recordings/BWC-0701/1/media?reason=${encodeURIComponent(reason)}`, { headers: { authorization: `Bearer ${tokens[who]}` } });
  return { status: r.status, body: r.status === 200 ? Buffer.from(await r.arrayBuffer()) : await r.json() as { error: string }, head: r.headers.get("x-audit-head") };
};

describe("retrieving a level 2 (restricted) clip", () => {
  it("gives the wearing officer the media exactly as recorded, with the audit head", async () => {
    const r = await media("a1");
    expect(r.status).toBe(200);
    expect((r.body as Buffer).equals(Buffer.concat(payloads))).toBe(true);
    expect(r.head).toMatch(/^\d+:[0-9a-f]{64}$/);
  });
  it("refuses another officer, a reviewer of another unit, and an admin, naming why", async () => {
    expect((await media("a2")).body).toMatchObject({ error: "NOT_YOUR_CLIP" });
    expect((await media("revb")).body).toMatchObject({ error: "OUTSIDE_UNIT" });
    expect((await media("admin")).body).toMatchObject({ error: "CONFIDENTIALITY" });
    expect((await media("a1", "")).body).toMatchObject({ error: "REASON_REQUIRED" });
  });
  it("gives the supervisor of the parent unit access, and audits every attempt with its reason", async () => {
    expect((await media("sup", "supervision 2026-11")).status).toBe(200);
    const log = await gw.audit.list({ target: "BWC-0701/1" });
    expect(log.filter((e) => e.action === "recording.download").map((e) => [e.actor, e.reason])).toEqual(expect.arrayContaining([["a1", "case review"], ["sup", "supervision 2026-11"]]));
    expect(log.filter((e) => e.action === "recording.denied").map((e) => e.actor)).toEqual(expect.arrayContaining(["a2", "revb", "admin"]));
  });
});

describe("once the clip is linked to a level 3 (secret) case", () => {
  it("only a supervisor retrieves it", async () => {
    await gw.model.link("BWC-0701", 1, "K-SECRET", "sup", "merged into the secret case");
    expect((await media("a1")).body).toMatchObject({ error: "CONFIDENTIALITY" });
    expect((await media("sup")).status).toBe(200);
  });
});

describe("listing and statistics", () => {
  const get = async (who: string, path: string) => {
    const r = await fetch(`http://127.0.0.1:${gw.httpPort}${path}`, { headers: { authorization: `Bearer ${tokens[who]}` } });
    return { status: r.status, body: await r.json() as unknown };
  };
  it("lists an officer's own clips to them, none of them to another officer, and a secret case's clip only to a supervisor", async () => {
    const devices = async (who: string) => ((await get(who, "/api/recordings")).body as { device: string }[]).map((r) => r.device);
    expect(await devices("a1")).toEqual([]);
    expect(await devices("sup")).toEqual(["BWC-0701"]);
    await gw.model.unlink("BWC-0701", 1, "K-SECRET", "sup", "not part of the secret case after all");
    expect(await devices("a1")).toEqual(["BWC-0701"]);
    expect(await devices("a2")).toEqual([]);
    expect(await devices("revb")).toEqual([]);
  });
  it("counts recordings by verdict in the caller's scope: a reviewer of another unit none of agency A's", async () => {
    const integrity = async (who: string) => (await (await fetch(`http://127.0.0.1:${gw.httpPort}/api/reports/integrity`, { headers: { authorization: `Bearer ${tokens[who]}` } })).json()) as { total: number };
    const all = (await integrity("admin")).total;
    expect(all).toBeGreaterThanOrEqual(1);
    expect((await integrity("sup")).total).toBe(all);
    expect((await integrity("revb")).total).toBe(0);
  });

  it("gives statistics per officer for a period, with the audit head", async () => {
    const from = new Date(Date.now() - 86400e3).toISOString(), to = new Date(Date.now() + 86400e3).toISOString();
    const r = await get("sup", `/api/reports/statistics?from=${from}&to=${to}&by=officer`);
    expect(r.status).toBe(200);
    const body = r.body as { rows: { recordings: number }[]; auditHead: { count: number } };
    expect(body.rows.reduce((a, x) => a + x.recordings, 0)).toBe(1);
    expect(body.auditHead.count).toBeGreaterThan(0);
    expect((await get("sup", "/api/reports/statistics?from=x")).status).toBe(400);
  });
  it("suggests, for each case in scope, the clips of its unit (or below) that overlap its window and are not linked yet; never to a legal reviewer", async () => {
    const units = await gw.model.listUnits();
    const at = (n: string) => units.find((u) => u.name === n)!.id;
    const now = Date.now();
    await gw.model.addCase({ number: "K-SUGGEST-A", unitId: at("Agency A"), category: "inspection", activityKind: "on_site_enforcement", windowStart: now - 7200e3, windowEnd: now + 3600e3 });
    await gw.model.addCase({ number: "K-SUGGEST-B", unitId: at("Agency B"), category: "inspection", activityKind: "on_site_enforcement", windowStart: now - 7200e3, windowEnd: now + 3600e3 });
    await gw.model.addCase({ number: "K-SUGGEST-CITY", unitId: at("City bureau"), category: "inspection", activityKind: "on_site_enforcement", windowStart: now - 7200e3, windowEnd: now + 3600e3 });
    await gw.model.addCase({ number: "K-SUGGEST-LATER", unitId: at("Agency A"), category: "inspection", activityKind: "on_site_enforcement", windowStart: now + 3600e3, windowEnd: now + 7200e3 });
    type Sug = { case: string; clips: { device: string; recording: number; officer: string | null }[] }[];
    const r = await get("sup", "/api/cases/suggestions");
    expect(r.status).toBe(200);
    const of = (x: Sug, c: string) => x.find((s) => s.case === c)?.clips.map((k) => `${k.device}/${k.recording} ${k.officer}`) ?? [];
    // The clip was recorded by A1 of Agency A: its own unit's case and the city's above it, not Agency B's, not a later one.
    expect(of(r.body as Sug, "K-SUGGEST-A")).toEqual(["BWC-0701/1 A1"]);
    expect(of(r.body as Sug, "K-SUGGEST-CITY")).toEqual(["BWC-0701/1 A1"]);
    expect(of(r.body as Sug, "K-SUGGEST-B")).toEqual([]);
    expect(of(r.body as Sug, "K-SUGGEST-LATER")).toEqual([]);
    // Already linked: not suggested again.
    expect(of(r.body as Sug, "K-RESTRICTED")).toEqual([]);
    expect((await get("revb", "/api/cases/suggestions")).body).toMatchObject({ error: "ROLE_FORBIDDEN" });
    const audit = await gw.services.audit.list({ name: "admin", role: "admin", officerBadge: null }, { action: "case.suggestions", actor: "sup" });
    expect(audit.length).toBe(1);
  });
  it("gives the FULL cases' coverage per unit and per officer: the clip's time over the case's window", async () => {
    const [clip] = await gw.services.recordings.list({ name: "admin", role: "admin", officerBadge: null }, { device: "BWC-0701" });
    const unitA = (await gw.model.listUnits()).find((u) => u.name === "Agency A")!;
    // The window runs a minute past the clip's end: that minute is the gap.
    await gw.model.addCase({ number: "K-FULL", unitId: unitA.id, category: "compulsion", activityKind: "forced_demolition", windowStart: clip.startMs!, windowEnd: clip.endMs! + 60000 });
    await gw.model.link("BWC-0701", 1, "K-FULL", "sup", "recorded the demolition");
    const want = ((clip.endMs! - clip.startMs!) / (clip.endMs! - clip.startMs! + 60000)) * 100;
    expect(want).toBeGreaterThan(0);
    const from = new Date(Date.now() - 86400e3).toISOString(), to = new Date(Date.now() + 86400e3).toISOString();
    type Row = { key: string | number | null; label: string; fullCases: number; fullCoveragePercent: number | null };
    const byUnit = (await get("sup", `/api/reports/statistics?from=${from}&to=${to}&by=unit`)).body as { rows: Row[] };
    expect(byUnit.rows.find((r) => r.label === "Agency A")).toMatchObject({ fullCases: 1 });
    expect(byUnit.rows.find((r) => r.label === "Agency A")!.fullCoveragePercent).toBeCloseTo(want, 6);
    const byOfficer = (await get("sup", `/api/reports/statistics?from=${from}&to=${to}&by=officer`)).body as { rows: Row[] };
    expect(byOfficer.rows.find((r) => r.key === "A1")!.fullCoveragePercent).toBeCloseTo(want, 6);
    expect(byOfficer.rows.find((r) => r.key === "A2")).toBeUndefined();
    // A legal reviewer of Agency B sees neither Agency A's statistics nor its cases' coverage.
    const b = (await get("revb", `/api/reports/statistics?from=${from}&to=${to}&by=unit`)).body as { rows: Row[] };
    expect(b.rows.map((r) => r.label)).toEqual([]);
    expect(((await get("revb", `/api/reports/statistics?from=${from}&to=${to}&by=officer`)).body as { rows: Row[] }).rows).toEqual([]);
    const cov = (c: unknown) => (c as { cases: { caseNumber: string }[] }).cases.map((x) => x.caseNumber);
    expect(cov((await get("revb", "/api/reports/coverage")).body)).toEqual(["K-SUGGEST-B"]);
    expect(cov((await get("sup", "/api/reports/coverage")).body)).toContain("K-FULL");
  });
});

describe("alarms", () => {
  const call = async (who: string, method: string, path: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${gw.httpPort}${path}`, { method, headers: { authorization: `Bearer ${tokens[who]}`, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, body: await r.json() as unknown };
  };
  const subjects = async (who: string) => ((await call(who, "GET", "/api/alarms")).body as { subject: string }[]).map((a) => a.subject).filter((x) => /^BWC-07[2-3]|^\/srv|^retention$/.test(x)).sort();

  it("are a supervisor's only for devices of their unit's subtree (and their recordings), every one an admin's, live events alike", async () => {
    const m = gw.model;
    const agencyA = (await m.listUnits()).find((u) => u.name === "Agency A")!;
    const other = await m.addUnit("Other city", "city");
    await gw.registry.add("BWC-0721", { root: randomBytes(32) });
    await gw.registry.add("BWC-0731", { root: randomBytes(32) });
    await m.setDeviceUnit("BWC-0721", agencyA.id);
    await m.setDeviceUnit("BWC-0731", other.id);
    // A device whose id is the subject of a station-wide alarm: the alarm is still the admin's.
    await gw.registry.add("retention", { root: randomBytes(32) });
    await m.setDeviceUnit("retention", agencyA.id);
    const sup = { name: "sup", role: "supervisor" as const, officerBadge: "S1" };
    const live: string[] = [];
    const stop = await gw.services.events.subscribe(sup, (ev) => { if (ev.type === "alarm") live.push(ev.subject); });
    try {
      // Those the supervisor may not see first, theirs last: once theirs have come, the others had their turn.
      await gw.alarms.raise("FAILED_VERDICT", "BWC-0731/4", "TAG");
      await gw.alarms.raise("DISK_LOW", "/srv/evrec/media", "1 MiB free");
      await gw.alarms.raise("PURGE_DUE", "retention", "3 recordings due");
      await gw.alarms.raise("DEVICE_ALARM", "BWC-0721", "storage full");
      await gw.alarms.raise("FAILED_VERDICT", "BWC-0721/3", "TAG");
      await until("the supervisor's alarms sent live", () => live.length >= 2, 10000);
    } finally {
      stop();
    }
    expect(live.sort()).toEqual(["BWC-0721", "BWC-0721/3"]);
    expect(await subjects("sup")).toEqual(["BWC-0721", "BWC-0721/3"]);
    expect(await subjects("admin")).toEqual(["/srv/evrec/media", "BWC-0721", "BWC-0721/3", "BWC-0731/4", "retention"]);
    // Cleared by the supervisor only where they see it; the station's own alarm is the admin's.
    expect(await call("sup", "POST", "/api/alarms/clear", { kind: "FAILED_VERDICT", subject: "BWC-0731/4", reason: "checked" })).toMatchObject({ status: 403, body: { error: "OUTSIDE_UNIT" } });
    expect(await call("sup", "POST", "/api/alarms/clear", { kind: "DISK_LOW", subject: "/srv/evrec/media", reason: "checked" })).toMatchObject({ status: 403, body: { error: "OUTSIDE_UNIT", message: expect.stringMatching(/station as a whole: an admin clears it/) } });
    expect(await call("sup", "POST", "/api/alarms/clear", { kind: "FAILED_VERDICT", subject: "BWC-0721/3", reason: "checked the recorder" })).toMatchObject({ status: 200 });
    expect(await call("admin", "POST", "/api/alarms/clear", { kind: "FAILED_VERDICT", subject: "BWC-0731/4", reason: "checked" })).toMatchObject({ status: 200 });
    expect(await call("sup", "POST", "/api/alarms/clear", { kind: "PURGE_DUE", subject: "retention", reason: "checked" })).toMatchObject({ status: 403, body: { error: "OUTSIDE_UNIT", message: expect.stringMatching(/station as a whole/) } });
    expect(await subjects("admin")).toEqual(["/srv/evrec/media", "BWC-0721", "retention"]);
  });
});

describe("a clip's time", () => {
  it("is listed in the station's time beside the device's, the one its period is judged by, where the device's clock was wrong", async () => {
    await wornRecording("BWC-0741", "A2");
    // Its clock read three days early: the station placed the clip three days after the device's start.
    const late = 3 * 86400e3;
    await gw.db.run("UPDATE recordings SET clip_at_ms = start_ms + ? WHERE device_id = 'BWC-0741'", [late]);
    const sup = { name: "sup", role: "supervisor" as const, officerBadge: "S1" };
    const [r] = await gw.services.recordings.list(sup, { officer: "A2" });
    expect(r.at! - r.startMs!).toBe(late);
    expect(r.endAt! - r.at!).toBe(r.endMs! - r.startMs!);
    // A period of the station's dates finds it where its `at` says, not where the device's clock does.
    const day = (ms: number) => new Intl.DateTimeFormat("en-CA", { timeZone: gw.services.ctx.policy.timeZone }).format(ms);
    expect((await gw.services.recordings.list(sup, { officer: "A2", from: day(r.at!), to: day(r.at!) })).map((x) => x.device)).toEqual(["BWC-0741"]);
    expect(await gw.services.recordings.list(sup, { officer: "A2", from: day(r.startMs!), to: day(r.startMs!) })).toEqual([]);
    // The clip's own page gives the same times, and who wore the recorder by name.
    const v = await gw.services.recordings.view(sup, "BWC-0741", 1, "checking the clock");
    expect(v).toMatchObject({ at: r.at, endAt: r.endAt, startMs: r.startMs, officer: "A2", officerName: "Officer A2" });
  });
});
