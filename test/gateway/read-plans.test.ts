// A station's everyday reads stay fast as its store grows: each read that asks for a few clips,
// a period or one record finds its rows through an index, never by reading every recording,
// chunk, link, check-out or audit entry. Checked on the store's own query plans (SQLite's
// EXPLAIN QUERY PLAN; the gateway never runs ANALYZE, so a small store's plans are a big one's) of
// the statements each read sends, caught on their way, so no SQL is written twice. The figures
// on a big store: npm run bench:aged, docs/SCALE.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { DAY, everydayReads, fillAgedStation } from "../helpers/aged-station.js";
import type { AgedStation } from "../helpers/aged-station.js";
import { fullScans, partialIndexes, planOf, readsOf } from "../helpers/statements.js";
import { unloggedSealedRecordings } from "../../gateway/store/tlog.js";

const BIG = ["chunks", "recordings", "audit_log", "custody_events", "clip_links", "assignments", "alarms"];
// What these reads answer is a part of the store: a few clips, a period, one record, one person's.
// (The station's whole clips listing unpaged (the CLI's), its integrity counts and the lists of cases or alarms answer with, or
// count, every row: they read every row.)
const FOUND_BY_INDEX = [
  "clips page, admin, first page", "clips page, admin, a page deep in", "clips page, supervisor, first page",
  "clips page, supervisor, all of the subtree", "clips page, supervisor, one officer", "clips page, supervisor, one week", "clips page, officer, own", "clips page, one device",
  "clip page (view)", "clip custody report", "clip link suggestions",
  "integrity report, supervisor", "statistics, a month by unit", "statistics, a month by officer",
  "audit list (latest 50)", "audit list, one actor", "audit list, one target", "audit list, a day", "account's custody entries",
];
const AUDIT_PER_DAY = 4000;

let dir = "";
let gw: Gateway | null = null;
let station: AgedStation;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "evrec-plans-"));
  const config = { ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 0, scrubMibPerS: 0, purgeIntervalH: 0, logIntervalMs: 0 };
  const store = await openStore(config);
  try {
    // More audit entries after the middle day than the 10,000 a listing may ask for.
    station = await fillAgedStation(store.db, store.registry, Date.now(), { devices: 5, days: 8, perDay: 2, chunks: 3, auditPerDay: AUDIT_PER_DAY, casesPerDay: 2 });
  } finally {
    await store.db.close();
  }
  gw = await startGateway(config, createLogger("silent"));
});

afterAll(async () => {
  try {
    await gw?.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The passes the gateway runs on its own while ingest commits on the same connection: each waits
// for the few rows it looks for (a recording sealed and not yet logged, one not wholly uploaded,
// a checkout in force now), found by index, not by reading everything the station keeps.
const TIMED_PASSES: [string, () => Promise<unknown>][] = [
  ["the log's source pass (after each seal)", () => unloggedSealedRecordings(gw!.db, 100)],
  ["the fleet check's silent devices (every 5 s)", () => gw!.alarms.checkSilentDevices(station.now, DEFAULTS.silentAfterS * 1000)],
  ["the fleet check's upload deadline (every minute)", () => gw!.alarms.checkUploadDeadline(station.now, 24 * 3600e3)],
  ["the fleet check's expired certificates (every 5 s)", () => gw!.model.checkoutsWithExpiredCert(station.now)],
  ["the alarms a run left unraised (hourly)", () => gw!.alarms.raiseUnraised()],
];

async function scansOf(run: () => Promise<unknown>): Promise<string[]> {
  const { caught } = await readsOf(gw!.db, run);
  expect(caught.length).toBeGreaterThan(0);
  const partial = await partialIndexes(gw!.db);
  const scans: string[] = [];
  for (const st of caught) {
    for (const step of fullScans(st, await planOf(gw!.db, st), BIG, partial)) scans.push(`${step} in: ${st.sql.replace(/\s+/g, " ")}`);
  }
  return scans;
}

describe("the gateway's timed passes on a store grown old", () => {
  it.each(TIMED_PASSES)("%s reads no big table whole", async (_name, run) => {
    expect(await scansOf(run)).toEqual([]);
  });
});

describe("a station's everyday reads on a store grown old", () => {
  it.each(FOUND_BY_INDEX)("%s reads no big table whole", async (name) => {
    const read = everydayReads(gw!.services, station).find(([n]) => n === name)!;
    expect(read, name).toBeDefined();
    const { caught } = await readsOf(gw!.db, read[1]);
    expect(caught.length).toBeGreaterThan(0);
    const scans: string[] = [];
    for (const st of caught) {
      for (const step of fullScans(st, await planOf(gw!.db, st), BIG)) scans.push(`${step} in: ${st.sql.replace(/\s+/g, " ")}`);
    }
    expect(scans).toEqual([]);
  });

  it("pages the station's clips newest first by the listing index: the first page stops after its rows, a later one starts where the last ended", async () => {
    const read = everydayReads(gw!.services, station).find(([n]) => n === "clips page, admin, first page")!;
    const { caught } = await readsOf(gw!.db, read[1]);
    const listing = caught.filter((st) => /FROM recordings r JOIN devices d/.test(st.sql));
    expect(listing.length).toBe(1);
    const plan = await planOf(gw!.db, listing[0]);
    // The recordings walked in the listing's order, newest first, in its index (no sort of them all), LIMIT rows of them.
    expect(plan.some((p) => /^SCAN r USING INDEX recordings_listing\b/.test(p))).toBe(true);
    expect(plan.filter((p) => /TEMP B-TREE/.test(p))).toEqual([]);
    expect(listing[0].sql).toMatch(/LIMIT \?$/);
    // A page deep in starts in that index where its cursor's time is, not at its top.
    const deep = everydayReads(gw!.services, station).find(([n]) => n === "clips page, admin, a page deep in")!;
    const deepListing = (await readsOf(gw!.db, deep[1])).caught.filter((st) => /FROM recordings r JOIN devices d/.test(st.sql));
    const deepPlan = await planOf(gw!.db, deepListing[0]);
    expect(deepPlan.filter((p) => /^SEARCH r USING INDEX recordings_listing \(<expr><\?\)/.test(p)), deepPlan.join("\n")).toHaveLength(1);
    expect(deepPlan.filter((p) => /TEMP B-TREE/.test(p))).toEqual([]);
  });

  it("gives the clips listing in pages over the API that add up to the whole, filters kept, a bad cursor refused", async () => {
    const admin = await gw!.accounts.issueToken("admin");
    const sup = await gw!.accounts.issueToken("sup0");
    const get = async (token: string, query: string) => {
      const r = await gw!.api.inject({ method: "GET", url: `/api/recordings${query}`, headers: { authorization: `Bearer ${token}` } });
      return { status: r.statusCode, body: r.json(), next: r.headers["x-next-cursor"] as string | undefined };
    };
    const key = (r: { device: string; recording: number }) => `${r.device}/${r.recording}`;
    const walk = async (token: string, filters: string, limit: number) => {
      const seen: string[] = [];
      let pages = 0;
      for (let cursor: string | undefined = ""; cursor !== undefined; pages++) {
        const r = await get(token, `?limit=${limit}${filters}${cursor ? "&cursor=" + cursor : ""}`);
        expect(r.status).toBe(200);
        expect(r.body.length).toBeLessThanOrEqual(limit);
        seen.push(...r.body.map(key));
        cursor = r.next;
        expect(pages).toBeLessThan(1000);
      }
      return { seen, pages };
    };
    const all = (await gw!.services.recordings.list({ name: "admin", role: "admin", officerBadge: null })).map(key);
    expect(all.length).toBeGreaterThan(30);
    const paged = await walk(admin, "", 7);
    expect(paged.seen).toEqual(all);
    expect(paged.pages).toBe(Math.ceil(all.length / 7));
    // Without a limit: the default page, whole when the station has fewer clips.
    const first = await get(admin, "");
    expect(first.body.map(key)).toEqual(all.slice(0, 200));
    // A supervisor's scope and a period, kept across the pages.
    const day = station.now - Math.floor(station.days / 2) * DAY;
    const period = `&from=${new Date(day).toISOString()}&to=${new Date(day + 3 * DAY).toISOString()}`;
    const scoped = (await gw!.services.recordings.list(station.supervisor, { from: new Date(day).toISOString(), to: new Date(day + 3 * DAY).toISOString() })).map(key);
    expect(scoped.length).toBeGreaterThan(3);
    expect((await walk(sup, period, 3)).seen).toEqual(scoped);
    for (const bad of ["nonsense!", "bm9wZQ", Buffer.from(JSON.stringify(["../x", 1])).toString("base64url")]) {
      const r = await get(admin, `?cursor=${encodeURIComponent(bad)}`);
      expect([r.status, r.body.error]).toEqual([400, "BAD_CURSOR"]);
    }
    expect((await get(admin, "?limit=100000")).body.error).toBe("BAD_INPUT");
  });

  it("lists a past day's audit entries however many came after it", async () => {
    const day = station.now - Math.floor(station.days / 2) * DAY;
    const rows = await gw!.services.audit.list({ name: "admin", role: "admin", officerBadge: null }, { since: new Date(day).toISOString(), until: new Date(day + DAY).toISOString(), limit: 10000 });
    expect(rows.length).toBe(AUDIT_PER_DAY);
    expect(rows.every((e) => e.at >= day && e.at < day + DAY)).toBe(true);
  });

  it("lists one officer's clips with their cases, as the whole listing names them", async () => {
    const supervisor = station.supervisor;
    const all = await gw!.services.recordings.list(supervisor);
    const mine = await gw!.services.recordings.list(supervisor, { officer: station.badge });
    expect(mine.length).toBeGreaterThan(0);
    expect(mine).toEqual(all.filter((r) => r.officer === station.badge));
    expect(all.some((r) => r.cases.length > 0)).toBe(true);
  });

  it("suggests every case's clips in a few statements, however many cases and clips, as each clip's own suggestions name them", async () => {
    const admin = { name: "admin", role: "admin" as const, officerBadge: null };
    const services = gw!.services;
    // Cases over days of clips, in the clip's unit and the one above it (the fill's cases hold only their linked clips).
    const clip = (await services.recordings.list(admin, { device: station.clip.device })).find((r) => r.recording === station.clip.recording)!;
    const above = (await services.model.listUnits(admin)).find((u) => u.id === clip.unit)!.parentId!;
    for (const [number, unitId] of [["S-own", clip.unit!], ["S-above", above]] as const) {
      await services.model.addCase(admin, { number, unitId, category: "inspection", activityKind: "on_site_inspection", windowStart: clip.startMs! - 2 * DAY, windowEnd: clip.startMs! + 2 * DAY });
    }
    const { result, caught } = await readsOf(gw!.db, () => services.model.caseSuggestions(admin));
    // (it sent some ten statements for each clip it weighed, for every case: 137 s at 180 days)
    expect(caught.length).toBeLessThanOrEqual(6);
    expect(result.length).toBeGreaterThan(0);
    // The same answer as weighing each clip: a clip is offered for a case when the case is among
    // the clip's own suggestions, with the same reasons.
    const fromClips = new Map<string, string[]>();
    for (const clip of await services.recordings.list(admin)) {
      for (const s of await services.model.suggestions(admin, clip.device, clip.recording)) {
        const line = `${clip.device}/${clip.recording} tag ${s.tagMatch} room ${s.roomMatch} overlap ${s.overlapMs} distance ${s.unitDistance}`;
        fromClips.set(s.case.number, [...(fromClips.get(s.case.number) ?? []), line]);
      }
    }
    const fromCases = new Map(result.map((x) => [x.case, x.clips.map((c) => `${c.device}/${c.recording} tag ${c.tagMatch} room ${c.roomMatch} overlap ${c.overlapMs} distance ${c.unitDistance}`).sort()]));
    expect(fromCases).toEqual(new Map([...fromClips].map(([k, v]) => [k, v.sort()])));
  });
});
