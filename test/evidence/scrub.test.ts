// The scrub, as an admin meets a failing disk: one byte changed in a stored media file, or in a
// chunk's chain value, a header's payload hash or a recording's seal value in the database, is
// caught and named (STORAGE_CORRUPT, recording and chunk); the recording is marked in the
// listing and its download refused unless asked for as stored; no verdict changes and nothing
// is alarmed against the device, whose next recording still verifies.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { execFile } from "node:child_process";
import { openSync, readSync, writeSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { testGateway, provision, streamSealed } from "../gateway/harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import type { FakeDevice } from "../gateway/fake-device.js";
import { Scrubber } from "../../gateway/evidence/scrub.js";
import { Evidence } from "../../gateway/evidence/service.js";
import type { StationIdentity } from "../../gateway/evidence/identity.js";
import type { Db } from "../../gateway/store/db.js";
import type { Logger } from "../../gateway/log.js";
import { GatewayError } from "../../gateway/errors.js";
import { MediaUnavailableError } from "../../gateway/store/media.js";
import type { MediaReader } from "../../gateway/store/media.js";
import { encode } from "../../protocol/codec.js";
import { tagControl } from "../../protocol/downlink.js";
import { CONTROL_HELLO } from "../../protocol/constants.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";

const run = promisify(execFile);
let gw: Gateway;
let dir: string;
let db: string;
let close: () => Promise<void>;
let d: FakeDevice;
let base: string;
let token: string;
const seals: Uint8Array[] = [];
const DEV = "BWC-SCR";

async function flipMediaByte(rec: number, offset: number) {
  const fd = openSync(join(dir, "media", DEV, `${String(rec).padStart(6, "0")}.media`), "r+");
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, offset);
  b[0] ^= 0x01;
  writeSync(fd, b, 0, 1, offset);
  closeSync(fd);
}

async function flipColumn(sql: string, select: string, params: (string | number)[], at = 5) {
  const row = await gw.db.get<{ v: Buffer }>(select, params);
  const v = Buffer.from(row!.v);
  v[at] ^= 0x80;
  await gw.db.run(sql, [v, ...params]);
}

const api = (path: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
const deviceAlarms = async () => (await gw.alarms.list({ open: true })).filter((a) => a.kind !== "STORAGE_CORRUPT");

beforeAll(async () => {
  const t = await testGateway({ logIntervalMs: 0, scrubMibPerS: 0 });
  gw = t.gw; dir = t.dir; db = t.db; close = t.close;
  base = `http://127.0.0.1:${gw.httpPort}`;
  token = readFileSync(join(dir, "admin.token"), "utf8").trim();
  d = await provision(gw, DEV);
  // Distinct chunk counts, so each recording's sealed Ack is told apart.
  const sizes = [[3000, 3000, 3000], [2000, 2000], [1000, 1000, 1000, 1000], [500, 500, 500, 500, 500]];
  let prev: Uint8Array | undefined;
  for (let r = 1; r <= sizes.length; r++) {
    const rec = d.recording(r, sizes[r - 1].map((n) => randomBytes(n)), { prevSeal: prev });
    await streamSealed(d, rec);
    seals.push(rec.sealValue);
    prev = rec.sealValue;
  }
}, 60000);

afterAll(async () => {
  d?.client.end(true);
  await close?.();
});

describe("scrub", () => {
  it("finds nothing to say about what is stored as the devices signed it", async () => {
    const progress: [number, number][] = [];
    const r = await gw.evidence.scrubber.run({ progress: (done, total) => { progress.push([done, total]); } });
    expect(r).toMatchObject({ recordings: 4, chunks: 14, damaged: [] });
    expect(r.bytes).toBe(9000 + 4000 + 4000 + 2500);
    // What `admin scrub` shows on stderr as it goes: recordings gone through, of how many.
    expect(progress).toEqual([[4, 4]]);
  });

  it("refuses a device or a recording the station does not hold, saying so: a typo is not a clean scrub", async () => {
    const cli = (...args: string[]) => run(process.execPath, ["--import", "tsx", "gateway/cli.ts", "scrub", ...args, "--data-dir", dir, ...(db ? ["--db", db] : [])]).then((x) => ({ code: 0, out: x.stdout, err: x.stderr }), (e) => ({ code: e.code as number, out: e.stdout as string, err: e.stderr as string }));
    const typo = await cli("--device", "BWC-SRC");
    expect(typo).toMatchObject({ code: 1, out: "" });
    expect(typo.err).toContain("admin: UNKNOWN_DEVICE: no device BWC-SRC at this station");
    const missing = await cli("--device", DEV, "--recording", "40");
    expect(missing).toMatchObject({ code: 1, out: "" });
    expect(missing.err).toContain(`admin: UNKNOWN_RECORDING: no recording ${DEV}/40 at this station`);
    // What it holds is scrubbed as before.
    expect(await gw.evidence.scrubber.run({ device: DEV, recording: 2 })).toMatchObject({ recordings: 1, chunks: 2, damaged: [] });
  });

  it("stops, marking nothing, when the media can't be reached (MEDIA_UNAVAILABLE): an outage is not damage", async () => {
    const state = async () => ((await (await api("/api/recordings")).json()) as { device: string; recording: number; storageState: string }[]).find((r) => r.device === DEV && r.recording === 2)?.storageState;
    const corruptions = async () => (await gw.audit.list({ action: "storage.corrupt", limit: 1000 })).length;
    const before = { state: await state(), audit: await corruptions() };
    // The store out of reach when asked the file's size (as JetStream unanswered, or no file handle left).
    const away: MediaReader = {
      size: async () => { throw new MediaUnavailableError("the media store did not answer"); },
      readRange: (r, o, l) => gw.media.readRange(r, o, l), readStream: (r, l) => gw.media.readStream(r, l), remove: (r) => gw.media.remove(r),
    };
    await expect(new Scrubber(gw.db, away, gw.registry, { alarms: gw.alarms, audit: gw.audit }).run({ device: DEV, recording: 2 })).rejects.toMatchObject({ code: "MEDIA_UNAVAILABLE" });
    expect(await state()).toBe(before.state);
    expect((await gw.alarms.list({ open: true })).filter((a) => a.kind === "STORAGE_CORRUPT")).toEqual([]);
    expect(await corruptions()).toBe(before.audit);
    // Reached again, the same recording is found whole.
    expect(await new Scrubber(gw.db, gw.media, gw.registry).run({ device: DEV, recording: 2 })).toMatchObject({ recordings: 1, damaged: [] });
  });

  it("makes a timed scrub or purge pass the store stopped (its database away) again after 10 minutes, not a day", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    // A database that can't be reached: every statement fails as the PostgreSQL driver's do.
    const down = async () => { throw new GatewayError("DB_UNREACHABLE", "PostgreSQL at 127.0.0.1:1/station can't be reached: connect ECONNREFUSED"); };
    const away = { dialect: "sqlite", all: down, get: down, run: down, transaction: down } as unknown as Db;
    const failed: string[] = [];
    const log = { error: (f: { code?: string; retryInS?: number }, msg: string) => { failed.push(`${msg}: ${f.code}, again in ${f.retryInS} s`); }, info: () => {}, warn: () => {} } as unknown as Logger;
    const service = new Evidence({ db: away, identity: {} as StationIdentity, audit: gw.audit, registry: gw.registry, media: gw.media, scrubMibPerS: 1, scrubIntervalH: 24, purgeIntervalH: 24, log });
    try {
      service.start();
      // The first scrub a minute after start, the first purge five.
      await vi.advanceTimersByTimeAsync(300_000);
      expect(failed).toEqual(["scrub pass failed: DB_UNREACHABLE, again in 600 s", "purge pass failed: DB_UNREACHABLE, again in 600 s"]);
      await vi.advanceTimersByTimeAsync(600_000);
      expect(failed.length).toBe(4);
    } finally {
      await service.close();
      vi.useRealTimers();
    }
  });

  it("catches a flipped media byte, names recording and chunk, marks the listing and refuses the download unless asked for as stored", async () => {
    await flipMediaByte(1, 3000 + 1234);
    const r = await gw.evidence.scrubber.run({ device: DEV, recording: 1 });
    expect(r.damaged).toHaveLength(1);
    expect(r.damaged[0]).toMatchObject({ device: DEV, recording: 1, state: "corrupt" });
    expect(r.damaged[0].findings).toEqual([expect.objectContaining({ seq: 2, what: "MEDIA", repaired: false })]);
    const alarm = (await gw.alarms.list({ open: true })).find((a) => a.kind === "STORAGE_CORRUPT" && a.subject === `${DEV}/1`)!;
    expect(alarm.detail).toMatch(/^chunk 2: the stored media bytes no longer hash to the payload hash in the stored header/);
    const list = (await (await api("/api/recordings")).json()) as { recording: number; verdict: string; storageState: string }[];
    expect(list.find((x) => x.recording === 1)).toMatchObject({ verdict: "verified", storageState: "corrupt" });
    const refused = await api(`/api/recordings/${DEV}/1/media?reason=${encodeURIComponent("court request 17")}`);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: string; message: string })).toMatchObject({ error: "STORAGE_CORRUPT", message: expect.stringContaining("chunk 2: MEDIA") });
    const asStored = await api(`/api/recordings/${DEV}/1/media?reason=${encodeURIComponent("court request 17")}&allowCorrupt=1`);
    expect(asStored.status).toBe(200);
    expect(asStored.headers.get("x-storage-state")).toBe("corrupt");
    await asStored.arrayBuffer();
    expect((await gw.audit.list({ action: "storage.corrupt" }))[0]).toMatchObject({ actor: "scrub", target: `${DEV}/1` });
    // The same damage is not raised again by the next pass, and is still reported.
    const again = await gw.evidence.scrubber.run({ device: DEV, recording: 1 });
    expect(again.damaged[0]).toMatchObject({ state: "corrupt", fresh: [] });
    expect((await gw.alarms.list({ open: true })).find((a) => a.subject === `${DEV}/1`)!.count).toBe(1);
  });

  it("catches a flipped chain value in the database and restores it from the header the device's tag vouches for", async () => {
    const q = "FROM chunks WHERE device_id = ? AND recording_id = 2 AND seq = 1";
    const before = (await gw.db.get<{ v: Buffer }>(`SELECT chain AS v ${q}`, [DEV]))!.v;
    await flipColumn(`UPDATE chunks SET chain = ? WHERE device_id = ? AND recording_id = 2 AND seq = 1`, `SELECT chain AS v ${q}`, [DEV]);
    const r = await gw.evidence.scrubber.run({ device: DEV, recording: 2 });
    expect(r.damaged[0]).toMatchObject({ recording: 2, state: "repaired" });
    expect(r.damaged[0].findings).toEqual([expect.objectContaining({ seq: 1, what: "CHAIN_VALUE", repaired: true })]);
    expect((await gw.db.get<{ v: Buffer }>(`SELECT chain AS v ${q}`, [DEV]))!.v.equals(before)).toBe(true);
    expect((await gw.alarms.list({ open: true })).find((a) => a.subject === `${DEV}/2`)!.detail).toMatch(/^chunk 1: the stored chain value differs/);
  });

  it("catches a flipped payload hash in a stored header", async () => {
    const q = "FROM chunks WHERE device_id = ? AND recording_id = 3 AND seq = 3";
    await flipColumn(`UPDATE chunks SET header = ? WHERE device_id = ? AND recording_id = 3 AND seq = 3`, `SELECT header AS v ${q}`, [DEV], 48 + 7);
    const r = await gw.evidence.scrubber.run({ device: DEV, recording: 3 });
    expect(r.damaged[0]).toMatchObject({ recording: 3, state: "corrupt" });
    expect(r.damaged[0].findings).toEqual([expect.objectContaining({ seq: 3, what: "HEADER", repaired: false })]);
  });

  it("catches a flipped seal value, restores it from the seal block, and the device's next recording verifies with no alarm against it", async () => {
    await flipColumn("UPDATE recordings SET seal_value = ? WHERE device_id = ? AND recording_id = 4", "SELECT seal_value AS v FROM recordings WHERE device_id = ? AND recording_id = 4", [DEV]);
    // The admin's CLI, on the running station's data directory.
    const cli = await run(process.execPath, ["--import", "tsx", "gateway/cli.ts", "scrub", "--data-dir", dir, ...(db ? ["--db", db] : [])]).then((x) => ({ code: 0, out: x.stdout }), (e) => ({ code: e.code as number, out: e.stdout as string }));
    expect(cli.code).toBe(1);
    expect(cli.out).toMatch(/^scrub: 4 recordings, 14 chunks/);
    expect(cli.out).toContain(`${DEV}/4: repaired\n  seal: the stored seal value differs from the seal block's; restored from the block`);
    expect(cli.out).toContain(`${DEV}/1: corrupt\n  chunk 2: the stored media bytes no longer hash`);
    expect(cli.out).toContain("(reported before)");
    const stored = (await gw.db.get<{ v: Buffer }>("SELECT seal_value AS v FROM recordings WHERE device_id = ? AND recording_id = 4", [DEV]))!.v;
    expect(Buffer.from(seals[3]).equals(stored)).toBe(true);

    // The device comes back: its Hello names its last seal, then it records again, bound to it.
    d.client.end(true);
    await d.connect(gw.mqttPort);
    const nonce = randomBytes(16);
    d.guard.open(nonce);
    const seen = d.received.length;
    const body = encode("Hello", { nonce, held: [], lastSealed: 4, lastSealValue: seals[3], nextRecording: 5, firmware: "test", deviceTimeMs: Date.now() });
    await d.publish(encode("Uplink", { schema: 1, hello: { body, tag: tagControl(sha, d.keys.controlKey, CONTROL_HELLO, d.dev, body) } }));
    await d.waitFor((m) => m.kind === "beacon" && d.received.indexOf(m) >= seen);
    await streamSealed(d, d.recording(5, [randomBytes(100), randomBytes(100), randomBytes(100), randomBytes(100), randomBytes(100), randomBytes(100)], { prevSeal: seals[3] }));
    const recs = (await (await api("/api/recordings")).json()) as { recording: number; verdict: string; reasons: string; storageState: string }[];
    // By recording: the listing is newest first, and clips started within a second may come either way round.
    expect(recs.map((x) => [x.recording, x.verdict, x.storageState]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([[1, "verified", "corrupt"], [2, "verified", "repaired"], [3, "verified", "corrupt"], [4, "verified", "repaired"], [5, "verified", "ok"]]);
    // Nothing in the alarms blames the device: no equivocation, no failed verdict, nothing on its id.
    expect(await deviceAlarms()).toEqual([]);
    expect((await gw.alarms.list({ open: true })).every((a) => a.kind === "STORAGE_CORRUPT" && a.subject.startsWith(`${DEV}/`))).toBe(true);
  });

  it("answers a download whose media file is gone with MEDIA_MISSING (409), not a 200 whose body breaks off", async () => {
    const file = join(dir, "media", DEV, "000005.media");
    const kept = readFileSync(file);
    const ok = await api(`/api/recordings/${DEV}/5/media?reason=${encodeURIComponent("court request 18")}`);
    expect([ok.status, ok.headers.get("content-length")]).toEqual([200, String(kept.length)]);
    expect(Buffer.from(await ok.arrayBuffer()).equals(kept)).toBe(true);
    rmSync(file);
    try {
      const gone = await api(`/api/recordings/${DEV}/5/media?reason=${encodeURIComponent("court request 18")}`);
      expect([gone.status, ((await gone.json()) as { error: string }).error]).toEqual([409, "MEDIA_MISSING"]);
    } finally {
      writeFileSync(file, kept);
    }
  });
});
