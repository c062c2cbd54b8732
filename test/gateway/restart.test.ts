// A gateway restart in the middle of an upload loses nothing: the recording resumes from the
// chain state in the database and ends verified (P4). And what a run left undone is done at the
// next start: a recording's genesis link to the seal before it, never checked, is checked (P1), and
// a clip's case link by tag, never made, is made; an alarm about what was stored, never raised, is raised.
import { afterAll, describe, expect, it, vi } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import type { GatewayConfig } from "../../gateway/config.js";
import { GatewayError } from "../../gateway/errors.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "./fake-device.js";
import { testDb } from "../helpers/postgres.js";
import { until } from "../helpers/wait.js";

const dir = mkdtempSync(join(tmpdir(), "evrec-restart-"));
// SQLite in the data directory, or on the PostgreSQL run a database of its own.
const store = await testDb();
const start = (port = 0, over: Partial<GatewayConfig> = {}) => startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: port, httpPort: 0, dataDir: dir, db: store.db, diskMinFreeMb: 1, beaconIntervalS: 0, ...over }, createLogger("silent"));
let gw: Gateway;
afterAll(async () => {
  await gw.close().catch(() => undefined);
  await store.drop();
  rmSync(dir, { recursive: true, force: true });
});

const acked = (d: FakeDevice, r: number, state: number, cum: number) => d.waitFor((m) => {
  const a = m.body.ack as { recording: number; state: number; cumulative: number } | undefined;
  return m.kind === "ack" && m.ok === "" && !!a && a.recording === r && a.state === state && a.cumulative === cum;
});

describe("gateway restart mid-upload", () => {
  it("resumes the chain from the database and verifies the whole recording", async () => {
    gw = await start();
    const root = randomBytes(32);
    await gw.registry.add("BWC-0201", { root });
    const d = new FakeDevice("BWC-0201", root);
    const payloads = Array.from({ length: 6 }, () => randomBytes(3000));
    const rec = d.recording(1, payloads);
    await d.connect(gw.mqttPort);
    await d.hello();
    await d.publish(rec.start);
    for (const c of rec.chunks.slice(0, 3)) await d.publish(c);
    await acked(d, 1, 0, 3);
    await d.end();
    const port = gw.mqttPort;
    await gw.close();

    gw = await start(port);
    d.received = [];
    await d.connect(gw.mqttPort);
    await d.hello([{ recording: 1, firstSeq: 1, lastSeq: 6, sealed: true, open: false }]);
    await acked(d, 1, 0, 3);
    for (const c of rec.chunks.slice(3)) await d.publish(c);
    await d.publish(rec.seal);
    await acked(d, 1, 1, 6);
    const row = await gw.db.get<{ verdict: string; media_path: string }>("SELECT verdict, media_path FROM recordings WHERE device_id = 'BWC-0201'");
    expect(row!.verdict).toBe("verified");
    expect(readFileSync(join(dir, "media", row!.media_path)).equals(Buffer.concat(payloads))).toBe(true);
    await d.end();
  });

  it("checks at its next start a genesis link the run before left unchecked, and a broken one fails its recording", async () => {
    await gw?.close();
    // Recordings let go from memory after 1 s idle, so the check reads them from the database.
    gw = await start(0, { ingestIdleMs: 1000 });
    const root = randomBytes(32);
    await gw.registry.add("BWC-0202", { root });
    const d = new FakeDevice("BWC-0202", root);
    const r1 = d.recording(1, [randomBytes(300)]);
    const r2 = d.recording(2, [randomBytes(300)], { prevSeal: randomBytes(32) });
    await d.connect(gw.mqttPort);
    await d.hello([{ recording: 1, firstSeq: 1, lastSeq: 1, sealed: true, open: false }, { recording: 2, firstSeq: 1, lastSeq: 1, sealed: true, open: false }]);
    // Recording 2, its genesis bound to no seal of this device, stored whole before recording 1's seal.
    await d.publish(r1.start);
    await d.publish(r1.chunks[0]);
    await d.publish(r2.start);
    await d.publish(r2.chunks[0]);
    await d.publish(r2.seal);
    await acked(d, 2, 1, 1);
    await until("both recordings let go from memory", () => gw.ingest.held.recordings === 0, 10000);
    // The run ends before the check: its read of recording 2 never answers in time, as when the
    // process is killed just after recording 1's seal is committed.
    const get = gw.db.get.bind(gw.db);
    vi.spyOn(gw.db, "get").mockImplementation(((sql: string, params?: unknown[]) =>
      /prev_checked FROM recordings WHERE/.test(sql) && params && params[0] === "BWC-0202" && params[1] === 2
        ? Promise.reject(new GatewayError("DB_UNREACHABLE", "PostgreSQL at 127.0.0.1:1/station can't be reached: connect ECONNREFUSED"))
        : get(sql, params as never)) as typeof gw.db.get);
    await d.publish(r1.seal);
    await acked(d, 1, 1, 1);
    await d.end();
    const verdict = async () => (await gw.db.get<{ verdict: string; reasons: string; prev_checked: number }>("SELECT verdict, reasons, prev_checked FROM recordings WHERE device_id = 'BWC-0202' AND recording_id = 2"))!;
    expect(await verdict()).toMatchObject({ verdict: "verified", prev_checked: 0 });
    await gw.close();

    gw = await start();
    await until("recording 2's link checked", async () => (await verdict()).prev_checked === 1, 10000);
    expect(await verdict()).toMatchObject({ verdict: "failed", reasons: expect.stringContaining("GENESIS_LINK") });
    expect((await gw.alarms.list()).filter((a) => a.kind === "FAILED_VERDICT" && a.subject === "BWC-0202/2").length).toBe(1);
  });

  it("finds undone work of more devices than one read takes, page after page", async () => {
    await gw?.close();
    gw = await start(0, { ingestIdleMs: 1000 });
    const ids = ["BWC-0211", "BWC-0212", "BWC-0213", "BWC-0214", "BWC-0215"];
    for (const id of ids) {
      const root = randomBytes(32);
      await gw.registry.add(id, { root });
      const d = new FakeDevice(id, root);
      const r1 = d.recording(1, [randomBytes(300)]);
      const r2 = d.recording(2, [randomBytes(300)], { prevSeal: r1.sealValue });
      await d.connect(gw.mqttPort);
      await d.hello();
      for (const m of [r1.start, ...r1.chunks, r1.seal, r2.start, ...r2.chunks, r2.seal]) await d.publish(m);
      await acked(d, 2, 1, 1);
      await d.end();
    }
    await until("the recordings let go from memory", () => gw.ingest.held.recordings === 0, 10000);
    // Left undone as by a run killed after the commits: recording 2's link unchecked on four
    // devices, recording 1's case link unmade on two.
    const q = (sql: string, list: string[]) => gw.db.run(sql.replace("?", list.map(() => "?").join(", ")), list);
    await q("UPDATE recordings SET prev_checked = 0 WHERE recording_id = 2 AND device_id IN (?)", ["BWC-0211", "BWC-0212", "BWC-0213", "BWC-0215"]);
    await q("UPDATE recordings SET tag_link_pending = 1 WHERE recording_id = 1 AND device_id IN (?)", ["BWC-0214", "BWC-0215"]);
    expect((await gw.ingest.undoneDevices(2)).sort()).toEqual(ids);
    const asked: string[] = [];
    vi.spyOn(gw.ingest as unknown as { linkByTag(d: string, r: number): void }, "linkByTag").mockImplementation((d, r) => { asked.push(`${d}/${r}`); });
    expect(await gw.ingest.resumeTagLinks(1)).toBe(2);
    expect(asked.sort()).toEqual(["BWC-0214/1", "BWC-0215/1"]);
    expect(await gw.ingest.checkUncheckedLinks(2)).toBe(4);
    const rows = async () => (await gw.db.all<{ device_id: string; verdict: string; prev_checked: number }>("SELECT device_id, verdict, prev_checked FROM recordings WHERE recording_id = 2 ORDER BY device_id")).filter((r) => ids.includes(r.device_id));
    await until("every link checked", async () => (await rows()).every((r) => r.prev_checked === 1), 10000);
    expect(await rows()).toEqual(ids.map((device_id) => ({ device_id, verdict: "verified", prev_checked: 1 })));
    vi.restoreAllMocks();
  });

  it("raises at its next start the alarms of a failed recording, a clip's flagged times and a forged message that the run before could not keep", async () => {
    await gw?.close();
    gw = await start();
    const root = randomBytes(32), root2 = randomBytes(32);
    await gw.registry.add("BWC-0204", { root });
    await gw.registry.add("BWC-0205", { root: root2 });
    const d = new FakeDevice("BWC-0204", root);
    const r1 = d.recording(1, [randomBytes(300)]);
    const r2 = d.recording(2, [randomBytes(300)], { prevSeal: randomBytes(32) });
    // A clip said to start an hour after it reached the station: its times are flagged.
    const d2 = new FakeDevice("BWC-0205", root2);
    const later = d2.recording(1, [randomBytes(300)], { startMs: Date.now() + 3600e3 });
    // Every raise about these recordings fails as when the database is away; their commits, a
    // moment later, find it back. The raises wait to be made again when the run ends.
    const ours = new Set(["BWC-0204/2", "BWC-0205/1"]);
    const raise = gw.alarms.raise.bind(gw.alarms);
    let refused = 0;
    vi.spyOn(gw.alarms, "raise").mockImplementation((kind, subject, detail, device) => {
      if (!ours.has(subject)) return raise(kind, subject, detail, device);
      refused++;
      return Promise.reject(new GatewayError("DB_UNREACHABLE", "PostgreSQL at 127.0.0.1:1/station can't be reached: connect ECONNREFUSED"));
    });
    await d.connect(gw.mqttPort);
    await d.hello();
    for (const m of [r1.start, ...r1.chunks, r1.seal, r2.start, ...r2.chunks, r2.seal]) await d.publish(m);
    await acked(d, 2, 1, 1);
    await d.end();
    await d2.connect(gw.mqttPort);
    await d2.hello();
    for (const m of [later.start, ...later.chunks, later.seal]) await d2.publish(m);
    await acked(d2, 1, 1, 1);
    // And a chunk naming it whose payload its tag does not vouch for: kept as forged.
    const junk = Uint8Array.from(later.chunks[0]);
    junk[junk.length - 60] ^= 0x40;
    await d2.publish(junk);
    await d2.end();
    const row = async (id: string, r: number) => (await gw.db.get<{ verdict: string; time_flag: string | null }>("SELECT verdict, time_flag FROM recordings WHERE device_id = ? AND recording_id = ?", [id, r]))!;
    await until("recording 2 failed", async () => (await row("BWC-0204", 2)).verdict === "failed", 5000);
    expect((await row("BWC-0205", 1)).time_flag).toMatch(/after the start reached the station/);
    await until("every raise tried", () => refused >= 3, 5000);
    await until("the forged chunk kept", async () => (await gw.db.all("SELECT 1 FROM evidence WHERE device_id = 'BWC-0205'")).length > 0, 5000);
    const alarmed = async () => (await gw.alarms.list()).filter((a) => ours.has(a.subject)).map((a) => [a.kind, a.subject, a.count]).sort();
    expect(await alarmed()).toEqual([]);
    await gw.close();

    gw = await start();
    const raised = [["CLIP_TIME_SUSPECT", "BWC-0205/1", 1], ["FAILED_VERDICT", "BWC-0204/2", 1], ["FORGED_MESSAGE", "BWC-0205/1", 1]];
    await until("the alarms raised", async () => (await alarmed()).length === 3, 10000);
    expect(await alarmed()).toEqual(raised);
    expect((await gw.alarms.list()).find((a) => a.subject === "BWC-0204/2")!.detail).toMatch(/GENESIS_LINK/);
    // Raised once: a pass after this one finds nothing more to raise.
    expect(await gw.alarms.raiseUnraised()).toBe(0);
    expect(await alarmed()).toEqual(raised);
  });

  it("makes at its next start a case link by tag the run before left unmade", async () => {
    await gw?.close();
    gw = await start();
    const unit = await gw.model.addUnit("Wuchang Brigade (restart)", "agency");
    await gw.model.addCase({ number: "WC-2026-0311", unitId: unit.id, category: "penalty", activityKind: "seizure", windowStart: Date.now() - 3600e3, windowEnd: Date.now() + 3600e3 });
    const root = randomBytes(32);
    await gw.registry.add("BWC-0203", { root });
    await gw.model.setDeviceUnit("BWC-0203", unit.id);
    const d = new FakeDevice("BWC-0203", root);
    const rec = d.recording(1, [randomBytes(300)], { caseTag: "WC-2026-0311" });
    // The run ends between the clip's commits and its link: the link never answers, as when the
    // process is killed just after the start's and the seal's commits.
    let asked = 0;
    vi.spyOn(gw.model, "linkByTag").mockImplementation(() => { asked++; return new Promise(() => undefined); });
    await d.connect(gw.mqttPort);
    await d.hello();
    await d.publish(rec.start);
    await d.publish(rec.chunks[0]);
    await d.publish(rec.seal);
    await acked(d, 1, 1, 1);
    await d.end();
    await until("the link asked for", () => asked > 0, 5000);
    expect(await gw.model.clipLinks("BWC-0203", 1)).toEqual([]);
    await gw.close();

    gw = await start();
    await until("the clip linked to its case", async () => (await gw.model.clipLinks("BWC-0203", 1)).length > 0, 10000);
    expect((await gw.model.clipLinks("BWC-0203", 1)).map((l) => [l.caseNumber, l.linkedBy])).toEqual([["WC-2026-0311", "system:case-tag"]]);
    // Made once: the start after this one asks nothing again.
    expect((await gw.db.get<{ n: number | null }>("SELECT tag_link_pending AS n FROM recordings WHERE device_id = 'BWC-0203' AND recording_id = 1"))!.n).toBeNull();
  });
});
