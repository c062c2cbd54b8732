// Retention as the rules set it, on a station clock moved forward: expired routine recordings
// are marked and then erased, held and case-linked ones stay, the undelete window works,
// tombstones remain, the device's history still knows an erased recording, and every step is
// in the audit log and every erasure in the transparency log.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { testGateway, provision, streamSealed } from "../gateway/harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import type { FakeDevice } from "../gateway/fake-device.js";
import { Retention } from "../../gateway/evidence/retention.js";
import { decodeEntryBundle } from "../../protocol/merkle.js";
import { decodeLeaf } from "../../protocol/leaves.js";
import type { DeletionLeaf } from "../../protocol/leaves.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { toHex } from "../../protocol/bytes.js";
import { encode } from "../../protocol/codec.js";
import { tagControl } from "../../protocol/downlink.js";
import { CONTROL_HELLO } from "../../protocol/constants.js";

const run = promisify(execFile);
const DAY = 86400e3;
let cliEnv: Record<string, string> = {};
const DEV = "BWC-RET";
let gw: Gateway;
let dir: string;
let db: string;
let close: () => Promise<void>;
let d: FakeDevice;
let clock = Date.now();
let retention: Retention;
const seals: Uint8Array[] = [];
const media = (r: number) => join(dir, "media", DEV, `${String(r).padStart(6, "0")}.media`);
const admin = (...args: string[]) => run(process.execPath, ["--import", "tsx", "gateway/cli.ts", ...args, "--data-dir", dir, ...(db ? ["--db", db] : [])], { env: { ...process.env, ...cliEnv } }).then((x) => ({ code: 0, out: x.stdout }), (e) => ({ code: e.code as number, out: `${e.stdout}${e.stderr}` }));

beforeAll(async () => {
  const t = await testGateway({ logIntervalMs: 0, purgeIntervalH: 0, scrubMibPerS: 0 });
  gw = t.gw; dir = t.dir; db = t.db; close = t.close;
  d = await provision(gw, DEV);
  let prev: Uint8Array | undefined;
  // Recordings 1..5, with distinct chunk counts so each one's sealed Ack is told apart.
  for (let r = 1; r <= 5; r++) {
    const rec = d.recording(r, Array.from({ length: r }, () => randomBytes(700)), { prevSeal: prev });
    await streamSealed(d, rec);
    seals.push(rec.sealValue);
    prev = rec.sealValue;
  }
  d.client.end(true);
  const unit = await gw.model.addUnit("Road Transport Agency", "agency");
  await gw.model.addCase({ number: "2026-RET-1", unitId: unit.id, category: "penalty", activityKind: "seizure", windowStart: Date.now() - 3600e3, windowEnd: Date.now() + 3600e3 });
  await gw.model.link(DEV, 2, "2026-RET-1", "admin", "evidence of the seizure");
  retention = new Retention(gw.db, gw.media, gw.evidence.tlog, gw.audit, { days: 180, undeleteDays: 7 }, { alarms: gw.alarms, now: () => clock, sync: () => gw.evidence.sync() });
}, 60000);

afterAll(async () => { await close?.(); });

describe("retention", () => {
  it("keeps everything for 180 days, and says which rule keeps what", async () => {
    await retention.hold(DEV, 3, "admin", "complaint under review");
    clock = Date.now() + 179 * DAY;
    expect((await retention.purge()).marked).toEqual([]);
    const cats = Object.fromEntries((await retention.list()).map((p) => [p.recording, p.category]));
    expect(cats).toEqual({ 1: "routine", 2: "case", 3: "hold", 4: "routine", 5: "routine" });
    // The weekly summary names what is due within 7 days.
    const summary = await retention.summary(7);
    expect(summary).toMatch(/^3 recording\(s\) reach the end of their retention within 7 days \(BWC-RET\/1, BWC-RET\/4, BWC-RET\/5\)/);
    expect((await gw.alarms.list({ open: true })).find((a) => a.kind === "PURGE_DUE")).toBeTruthy();
  });

  it("marks expired unheld recordings for purge, never a held or case-linked one, and lets one be undeleted in the window", async () => {
    clock = Date.now() + 181 * DAY;
    const r = await retention.purge();
    expect(r.marked.map((p) => p.recording).sort()).toEqual([1, 4, 5]);
    expect(r.erased).toEqual([]);
    expect(existsSync(media(1))).toBe(true);
    await retention.undelete(DEV, 4, "sup.wang", "found relevant to a complaint");
    // An admin hold placed during the window takes one back too.
    await retention.hold(DEV, 5, "admin", "requested by the legal office");
    const purges = await gw.audit.list({ action: "recording.purge" });
    expect(purges.map((e) => e.target).sort()).toEqual([`${DEV}/1`, `${DEV}/4`, `${DEV}/5`]);
    expect(purges[0]).toMatchObject({ actor: "retention", reason: expect.stringMatching(/^routine retention ended /) });
    expect((await gw.audit.list({ action: "recording.undelete" }))[0]).toMatchObject({ actor: "sup.wang", target: `${DEV}/4` });
    await expect(retention.undelete(DEV, 1, "x", "")).rejects.toThrow(/needs a reason/);
  });

  it("erases after the undelete window: media and chunks go, the tombstone, the row and the log's record stay", async () => {
    clock = Date.now() + 189 * DAY;
    const r = await retention.purge();
    expect(r.erased.map((t) => t.recording_id)).toEqual([1]);
    expect(existsSync(media(1))).toBe(false);
    expect(existsSync(media(4))).toBe(true);
    const t = r.erased[0];
    expect(t).toMatchObject({ device_id: DEV, category: "routine", bytes: 700 });
    expect(toHex(t.seal_value!)).toBe(toHex(seals[0]));
    expect(t.deletion_leaf).not.toBeNull();
    expect(t.recording_leaf).toBe((await gw.evidence.tlog.leafByRef(`${DEV}/1`.replace(/^/, "recording:")))!.idx);
    await expect(retention.undelete(DEV, 1, "admin", "too late")).rejects.toThrow(/PURGED|erased/);
    expect((await gw.audit.list({ action: "recording.erase" }))[0]).toMatchObject({ actor: "retention", target: `${DEV}/1`, details: expect.objectContaining({ category: "routine", sealValue: toHex(seals[0]) }) });

    // The deletion is a leaf of the public log, with its category and expiry.
    await gw.evidence.sync();
    const cp = await gw.evidence.tlog.checkpoint();
    const bundle = new Uint8Array(await (await fetch(`http://127.0.0.1:${gw.httpPort}/log/tile/entries/000.p/${cp.size}`)).arrayBuffer());
    const leaves = decodeEntryBundle(bundle).map((e) => decodeLeaf(sha, e));
    const del = leaves.find((l): l is DeletionLeaf => l.type === "deletion")!;
    expect(del).toMatchObject({ device: DEV, recording: 1, sealValue: toHex(seals[0]), category: "routine", recordingLeaf: t.recording_leaf });
    expect(del.retainUntil).toBe(t.retain_until);
    expect(leaves.indexOf(del)).toBe(t.deletion_leaf);
    // The purge and the undelete are custody events of the log too.
    expect(leaves.filter((l) => l.type === "custody").map((l) => (l as { action: string }).action)).toEqual(expect.arrayContaining(["recording.purge", "recording.undelete", "recording.hold"]));
  });

  it("answers a download of an erased recording with 410, lists it as purged, and the device's history still knows it", async () => {
    const token = readFileSync(join(dir, "admin.token"), "utf8").trim();
    const base = `http://127.0.0.1:${gw.httpPort}`;
    const dl = await fetch(`${base}/api/recordings/${DEV}/1/media?reason=${encodeURIComponent("audit of deletions")}`, { headers: { authorization: `Bearer ${token}` } });
    expect(dl.status).toBe(410);
    expect(((await dl.json()) as { error: string }).error).toBe("PURGED");
    // By recording: the listing is newest first, and clips started within a second may come either way round.
    const list = (await (await fetch(`${base}/api/recordings`, { headers: { authorization: `Bearer ${token}` } })).json()) as { recording: number; purgeState: string }[];
    expect(list.map((x) => [x.recording, x.purgeState]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([[1, "purged"], [2, "kept"], [3, "kept"], [4, "kept"], [5, "kept"]]);
    // The device says its last sealed recording is 5 and holds nothing: nothing is missing.
    await d.connect(gw.mqttPort);
    const nonce = randomBytes(16);
    d.guard.open(nonce);
    const seen = d.received.length;
    const body = encode("Hello", { nonce, held: [], lastSealed: 5, lastSealValue: seals[4], nextRecording: 6, firmware: "test", deviceTimeMs: Date.now() });
    await d.publish(encode("Uplink", { schema: 1, hello: { body, tag: tagControl(sha, d.keys.controlKey, CONTROL_HELLO, d.dev, body) } }));
    await d.waitFor((m) => m.kind === "beacon" && d.received.indexOf(m) >= seen);
    d.client.end(true);
    expect((await gw.alarms.list({ open: true })).filter((a) => a.kind === "RECORDING_MISSING" || a.kind === "EQUIVOCATION")).toEqual([]);
  });

  it("is run by the admin CLI: retention, hold, release, purge --dry-run, tombstones", async () => {
    const list = await admin("retention", "--json");
    expect(list.code).toBe(0);
    expect(JSON.parse(list.out).map((x: { recording: string; category: string }) => [x.recording, x.category])).toEqual([[`${DEV}/2`, "case"], [`${DEV}/3`, "hold"], [`${DEV}/4`, "hold"], [`${DEV}/5`, "hold"]]);
    expect((await admin("release", `${DEV}/5`)).out).toContain("REASON_REQUIRED");
    expect((await admin("release", `${DEV}/5`, "--reason", "legal office done")).code).toBe(0);
    // The CLI runs on the real clock: a station whose rule is 0 days shows what a purge would take.
    cliEnv = { EVREC_RETENTION_DAYS: "0" };
    const dry = await admin("purge", "--dry-run");
    cliEnv = {};
    expect(dry.out).toMatch(/^purge \(dry run\): 1 would be marked for purge/);
    expect(dry.out).toContain(`marked  ${DEV}/5  routine retention ended`);
    // A dry run changes nothing.
    expect(JSON.parse((await admin("retention", "--json")).out).find((x: { recording: string }) => x.recording === `${DEV}/5`).state).toBe("kept");
    const tomb = JSON.parse((await admin("tombstones", "--json")).out);
    expect(tomb).toEqual([expect.objectContaining({ recording: `${DEV}/1`, sealValue: toHex(seals[0]), category: "routine" })]);
    expect((await admin("hold", "nonsense", "--reason", "x y z")).out).toContain("USAGE");
    // A reason held to the rule every other reason is: printable, not an escape sequence for the admin's terminal.
    await expect(retention.hold(DEV, 5, "admin", "keep \u001b[2J this")).rejects.toMatchObject({ code: "BAD_INPUT" });
    // Seven CLI processes, each a Node start that compiles the CLI's TypeScript: about 1 s each in
    // CI, over 4 s each beside the rest of the suite and one busy process (the 30 s default ran out).
  }, 120000);
  it("gives the admin CLI's retention dates in the station's time zone, as its other tables", async () => {
    const p = (await retention.list()).find((x) => x.device === DEV && x.recording === 5)!;
    expect(p.category).toBe("routine");
    // A zone whose date differs from UTC's at that moment of the day: a UTC date would show.
    const zone = new Date(p.retainUntil!).getUTCHours() >= 10 ? "Pacific/Kiritimati" : "Etc/GMT+12";
    const local = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(p.retainUntil!);
    expect(local).not.toBe(new Date(p.retainUntil!).toISOString().slice(0, 10));
    cliEnv = { EVREC_TIME_ZONE: zone };
    const list = await admin("retention", "--json");
    cliEnv = {};
    expect(JSON.parse(list.out).find((x: { recording: string }) => x.recording === `${DEV}/5`)).toMatchObject({ category: "routine", keepUntil: local });
  }, 60000);
  it("audits a purge the admin CLI runs under the account that ran it, the timed pass under the station's rule", async () => {
    cliEnv = { EVREC_RETENTION_DAYS: "0" };
    const r = await admin("purge");
    cliEnv = {};
    expect(r.out).toMatch(/^purge: 1 marked for purge/);
    const [mark] = await gw.audit.list({ action: "recording.purge", target: `${DEV}/5`, limit: 1 });
    expect(mark).toMatchObject({ actor: "admin", reason: expect.stringMatching(/^routine retention ended /) });
  }, 60000);
});
