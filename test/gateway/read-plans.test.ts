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
import { fullScans, planOf, readsOf } from "../helpers/statements.js";

const BIG = ["chunks", "recordings", "audit_log", "custody_events", "clip_links", "assignments"];
// What these reads answer is a part of the store: a few clips, a period, one record, one person's.
// (The station's whole clips page, its integrity counts and the lists of cases or alarms answer with, or
// count, every row: they read every row.)
const FOUND_BY_INDEX = [
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
});
