// A region's office beside its cluster workers (`npm start -- --cluster FILE --office`): the
// recordings a worker stored are listed by its API, downloaded from JetStream with the bytes the
// devices sent, entered into the transparency log by its timed pass, exported (released by an
// approver) in a bundle that verifies offline; and the scrub, reading the
// same JetStream media, finds them whole, then (the admin CLI given the office's file) finds a byte
// changed there, which the office then refuses to hand out as if whole. Its console's System page
// (in Chromium) shows which worker holds each partition, and none when the only worker dies.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { NatsCluster, NATS_BIN } from "./nats-cluster.js";
import { StreamDevice } from "./stream-device.js";
import { counter, killWorker, metrics, startOffice, startWorker, until, WORKER } from "./workers.js";
import type { Proc } from "./workers.js";
import { openMetadata } from "../../gateway/cluster/store.js";
import { configFrom } from "../../gateway/config.js";
import { leafByRef } from "../../gateway/store/tlog.js";
import { NatsMediaStore } from "../../gateway/store/media-nats.js";
import { Scrubber } from "../../gateway/evidence/scrub.js";
import { openStore } from "../../gateway/gateway.js";
import { Approvals } from "../../gateway/services/approvals.js";
import { verifyBundle } from "../../verifier/verify.js";
import type { Browser } from "playwright-core";
import { browserOrSkip, builtConsole, launch, shot, signIn } from "../console/browser.js";
import { testDb } from "../helpers/postgres.js";
import { FakeDevice } from "../gateway/fake-device.js";
// Inside page.waitForFunction callbacks, which run in the page (this program has no DOM types).
declare const document: any;

const PARTITIONS = 2, DEVICES = 2, CHUNKS = 5;
const tokens: Record<string, string> = {};

describe.skipIf(!existsSync(NATS_BIN))("a region's office beside its cluster workers", () => {
  let dir: string;
  let nats: NatsCluster;
  const procs: Proc[] = [];
  const fleet: StreamDevice[] = [];
  const roots = new Map<string, Uint8Array>();
  // The region's database: PostgreSQL in the vitest project "postgres" (where this file runs when
  // Debian's PostgreSQL is installed), otherwise one SQLite file in the shared data directory.
  let meta: { db: string; drop: () => Promise<void> } = { db: "", drop: async () => undefined };
  const config = () => configFrom({ dataDir: join(dir, "data"), ...(meta.db ? { db: meta.db } : {}) }, "test");
  const setup = () => ({ dir, nats, partitions: PARTITIONS, db: meta.db });
  let office: Proc & { http: number };
  // The console the office serves, built as npm start builds it (where there is a Chromium to drive it).
  const HAVE_BROWSER = browserOrSkip();
  let built: Awaited<ReturnType<typeof builtConsole>> | null = null;
  let browser: Browser | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "evrec-office-"));
    meta = await testDb();
    if (HAVE_BROWSER) built = await builtConsole();
    nats = new NatsCluster(join(dir, "nats"), PARTITIONS, WORKER);
    await nats.start();
    const { db, registry } = await openMetadata(config());
    for (let i = 0; i < DEVICES; i++) roots.set(`of${i}`, await registry.add(`of${i}`));
    await db.close();
    // The region's people, as its admin would set them up: a unit, each device checked out to an
    // officer, a legal reviewer who exports, and a supervisor designated to approve releases.
    const s = await openStore(config());
    try {
      const unit = await s.model.addUnit("Region Transport Agency", "agency");
      const people = [["T101", "Li Wei", "enforcement"], ["T102", "王芳", "enforcement"], ["R101", "Zhao Min", "legal_reviewer"], ["S101", "Chen Jie", "supervisor"]] as const;
      for (const [badge, name, role] of people) await s.model.addOfficer({ badge, name, unitId: unit.id, role, certNo: "ZF-" + badge, certValidFrom: "2020-01-01", certValidTo: "2099-12-31" });
      for (let i = 0; i < DEVICES; i++) {
        await s.model.setDeviceUnit(`of${i}`, unit.id);
        await s.model.checkOut(`of${i}`, { badge: `T10${i + 1}` }, Date.now() - 30e3);
      }
      await s.accounts.create("reviewer", "legal_reviewer", "R101");
      await s.accounts.create("approver", "supervisor", "S101");
      await new Approvals(s.db, s.audit, s.model).addReleaseApprover({ name: "admin", role: "admin", officer_badge: null }, "approver", "designated by the region");
      tokens.reviewer = await s.accounts.issueToken("reviewer");
      tokens.approver = await s.accounts.issueToken("approver");
    } finally {
      await s.db.close();
    }
  }, 90000);

  afterAll(async () => {
    await Promise.all(fleet.map((d) => d.stop()));
    await Promise.all(procs.map(killWorker));
    if (nats) await nats.stop();
    await meta.drop();
    if (browser) await browser.close();
    built?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30000);

  it("lists, hands out, logs, exports and scrubs what the workers stored, its media read from JetStream", async () => {
    const worker = await startWorker(setup(), "ow");
    procs.push(worker);
    await until("the worker to serve every partition", async () => counter(await metrics(worker), "evrec_cluster_partitions") === PARTITIONS, 30000);
    await until("the authorization file to list the devices", () => readFileSync(nats.authFile, "utf8").includes(`user: "of${DEVICES - 1}"`), 20000);
    for (let i = 0; i < DEVICES; i++) fleet.push(new StreamDevice(`of${i}`, roots.get(`of${i}`)!, nats.nodes.map((x) => x.mqtt), 1, CHUNKS, 3000, i, CHUNKS + 4));
    await Promise.all(fleet.map((d) => d.start()));
    await until("every recording sealed and Acked", () => fleet.every((d) => d.recs[0].sealed && d.recs[0].cumulative === CHUNKS), 90000,
      () => readFileSync(worker.out, "utf8").slice(-2000));

    // The office on the workers' data directory: a log pass every 300 ms.
    // It reads which devices are connected from the nodes' monitoring ports, every 300 ms.
    office = await startOffice(setup(), "office", { logIntervalMs: 300, ...(built ? { consoleDir: built.dir } : {}) }, { natsMonitor: nats.monitors, presenceMs: 300 });
    procs.push(office);
    tokens.admin = readFileSync(join(dir, "data", "admin.token"), "utf8").trim();
    const call = (who: string, path: string, body?: unknown) => fetch(`http://127.0.0.1:${office.http}${path}`, {
      method: body === undefined ? "GET" : "POST", body: body === undefined ? undefined : JSON.stringify(body),
      headers: { authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    });
    const api = (path: string) => call("admin", path);

    const listed = (await (await api("/api/recordings")).json()) as { device: string; recording: number; verdict: string; chunks: number }[];
    expect(listed.map((r) => [r.device, r.recording, r.verdict, r.chunks]).sort()).toEqual(fleet.map((d) => [d.id, 1, "verified", CHUNKS]).sort());
    for (const d of fleet) {
      const res = await api(`/api/recordings/${d.id}/1/media?reason=${encodeURIComponent("checked by the region's office test")}`);
      expect(res.status).toBe(200);
      expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), Buffer.concat(d.recs[0].payloads))).toBe(0);
    }

    // The office's timed pass enters each sealed recording into the transparency log.
    const { db, registry } = await openMetadata(config());
    const nc = await connect({ servers: nats.servers.split(","), user: WORKER.user, pass: WORKER.pass });
    try {
      await until("the office's log pass to enter every recording", async () => (await Promise.all(fleet.map((d) => leafByRef(db, `recording:${d.id}/1`)))).every(Boolean), 30000,
        () => readFileSync(office.out, "utf8").slice(-2000));
      const checkpoint = await (await api("/log/checkpoint")).text();
      expect(Number(checkpoint.split("\n")[1])).toBeGreaterThanOrEqual(DEVICES);

      // An export, released by the designated approver, streamed by the office from JetStream's
      // media, verifies offline under the region's key.
      const reason = "court order 2026-88";
      const asked = (await (await call("reviewer", "/api/approvals", { kind: "export", items: [{ device: fleet[1].id, recording: 1 }], reason, hours: 4 })).json()) as { id: number };
      expect(await (await call("approver", `/api/approvals/${asked.id}/approve`, { reason: "release to the court" })).json()).toMatchObject({ state: "approved" });
      const res = await call("reviewer", "/api/exports", { recording: { device: fleet[1].id, recording: 1 }, reason });
      expect(res.status).toBe(200);
      const bundle = join(dir, "export.zip");
      writeFileSync(bundle, Buffer.from(await res.arrayBuffer()));
      const key = (await (await api("/log/key")).text()).trim();
      const verified = await verifyBundle(bundle, { stationKey: key });
      expect(verified.findings).toEqual([]);
      expect(verified.ok).toBe(true);

      // The scrub reads the JetStream media the workers wrote: whole (the office's own scrubber).
      const media = await NatsMediaStore.open(nc, { stream: "EVREC_MEDIA", replicas: 3 });
      const whole = await new Scrubber(db, media, registry).run();
      expect({ recordings: whole.recordings, damaged: whole.damaged.length }).toEqual({ recordings: DEVICES, damaged: 0 });
      // One byte changes there; the admin CLI, given the office's file, scrubs the region and finds it.
      const first = fleet[0].recs[0].payloads[0];
      await media.writev(media.pathFor(fleet[0].id, 1), 10, [Buffer.from([first[10] ^ 0xff])]);
      const cli = spawnSync(process.execPath, ["--import", "tsx", "gateway/cli.ts", "scrub", "--json", "--cluster", join(dir, "office.json")], { cwd: join(import.meta.dirname, "..", ".."), encoding: "utf8", timeout: 60000 });
      expect(cli.status, cli.stderr).toBe(1);
      const found = JSON.parse(cli.stdout) as { recordings: number; damaged: { device: string; recording: number; state: string }[] };
      expect({ recordings: found.recordings, damaged: found.damaged.map((x) => [x.device, x.recording, x.state]) }).toEqual({ recordings: DEVICES, damaged: [[fleet[0].id, 1, "corrupt"]] });
      // A token file that can't be read: said, and the CLI exits (its JetStream connection held it open for good).
      const lost = spawnSync(process.execPath, ["--import", "tsx", "gateway/cli.ts", "device", "list", "--cluster", join(dir, "office.json"), "--token-file", join(dir, "no.token")], { cwd: join(import.meta.dirname, "..", ".."), encoding: "utf8", timeout: 30000 });
      expect({ status: lost.status, err: lost.stderr }).toMatchObject({ status: 1, err: expect.stringMatching(/^admin: TOKEN_FILE: .*no\.token .*office's data directory/m) });
      // The office hands out the damaged copy only when asked for it as stored.
      const refused = await api(`/api/recordings/${fleet[0].id}/1/media?reason=${encodeURIComponent("checked by the region's office test")}`);
      expect({ status: refused.status, code: ((await refused.json()) as { error: string }).error }).toEqual({ status: 409, code: "STORAGE_CORRUPT" });
    } finally {
      await nc.close();
      await db.close();
    }
  }, 240000);

  it("shows the devices connected to NATS as online, and what the workers see as it happens", async () => {
    const call = (path: string) => fetch(`http://127.0.0.1:${office.http}${path}`, { headers: { authorization: `Bearer ${tokens.admin}` } });
    const devices = async () => new Map(((await (await call("/api/devices")).json()) as { id: string; online: boolean; lastStatus: { batteryPct?: number } | null }[]).map((d) => [d.id, d]));
    // Both recorders are still connected to NATS (each to a node of its own).
    await until("both devices shown online", async () => { const d = await devices(); return fleet.every((f) => d.get(f.id)?.online === true); }, 20000);

    const live = await eventStream(`http://127.0.0.1:${office.http}/api/events`, tokens.admin);
    try {
      // One disconnects: the office says so, live and in its listing; the other stays online.
      await fleet[0].stop();
      await until("of0 gone on the live stream", () => live.events.some((e) => e.type === "device" && e.id === "of0" && e.online === false), 20000);
      const after = await devices();
      expect([after.get("of0")?.online, after.get("of1")?.online]).toEqual([false, true]);

      // It comes back and reports an alarm in its Status: a worker takes both in (over NATS, as any
      // device message), and the office's console hears of the device, its status and the alarm.
      const dev = new FakeDevice("of0", roots.get("of0")!);
      await dev.connect(nats.nodes[2].mqtt);
      try {
        await dev.hello();
        await dev.status({ batteryPct: 77, alarm: true, lastError: "storage full" });
        await until("the worker's status and alarm on the office's live stream", () =>
          live.events.some((e) => e.type === "device" && e.id === "of0" && (e.status as { batteryPct?: number } | undefined)?.batteryPct === 77) &&
          live.events.some((e) => e.type === "alarm" && e.kind === "DEVICE_ALARM" && e.subject === "of0"), 20000, () => readFileSync(office.out, "utf8").slice(-2000));
        await until("of0 online again with its status", async () => { const d = (await devices()).get("of0"); return d?.online === true && d.lastStatus?.batteryPct === 77; }, 20000);
        expect(live.events.some((e) => e.type === "device" && e.id === "of0" && e.online === true)).toBe(true);
      } finally {
        await dev.client.endAsync(true).catch(() => undefined);
      }
    } finally {
      live.close();
    }
  }, 90000);

  it("raises PARTITION_UNSERVED when no worker holds a partition, and clears it once one does", async () => {
    const call = (path: string) => fetch(`http://127.0.0.1:${office.http}${path}`, { headers: { authorization: `Bearer ${tokens.admin}` } });
    const unserved = async () => ((await (await call("/api/alarms")).json()) as { kind: string; subject: string }[]).filter((a) => a.kind === "PARTITION_UNSERVED").map((a) => a.subject).sort();
    const holders = async () => ((await (await call("/api/health")).json()) as { cluster: { partitions: { holder: string | null }[] } }).cluster.partitions.map((x) => x.holder);
    const workers = async () => ((await (await call("/api/system")).json()) as { cluster: { workers: { name: string; partitions: number[] }[] | null } }).cluster.workers;
    const every = Array.from({ length: PARTITIONS }, (_, n) => n);
    await until("the office to see the worker holding every partition", async () => (await holders()).join() === Array(PARTITIONS).fill("ow").join(), 20000);
    expect(await unserved()).toEqual([]);
    await until("the office to see the worker alive", async () => JSON.stringify(await workers()) === JSON.stringify([{ name: "ow", partitions: every }]), 20000);
    // The region's admin watches the console's System page (it reads the office's state every 5 s).
    const page = HAVE_BROWSER ? await (async () => {
      const pw = "region desk 2026";
      const set = await fetch(`http://127.0.0.1:${office.http}/api/accounts/admin/password`, { method: "POST", body: JSON.stringify({ password: pw }), headers: { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json" } });
      expect(set.status).toBe(200);
      browser = await launch();
      const p = await (await browser.newContext({ locale: "en", viewport: { width: 1360, height: 860 } })).newPage();
      // Before anyone signs in, the page says whose it is: the region's, not a station's.
      await p.goto(`http://127.0.0.1:${office.http}/`);
      // The heading, and then the window's title (set once the page has drawn it).
      const region = /^(执法记录区域控制台|Region console)$/;
      await p.waitForFunction((re: string) => new RegExp(re).test(document.getElementById("h-signin")?.textContent ?? "") && new RegExp(re).test(document.title), region.source, { timeout: 10000 });
      expect(await p.locator("#h-signin").textContent()).toMatch(region);
      await signIn(p, `http://127.0.0.1:${office.http}`, "admin", pw);
      await p.goto(`http://127.0.0.1:${office.http}/#/system`);
      return p;
    })() : null;
    /** The partitions as the page shows them: each one's worker, or "" for none. */
    const shown = (want: string[]) => page!.waitForFunction((w: string[]) => {
      const rows = [...document.querySelectorAll("#partitions-table tbody tr")];
      return rows.length === w.length && rows.every((r: any, i: number) => (r.querySelector("td code")?.textContent ?? "") === w[i]);
    }, want, { timeout: 45000 });
    if (page) {
      await shown(Array(PARTITIONS).fill("ow"));
      await expect(page.locator("main").textContent()).resolves.toMatch(/区域办公节点|Region office/);
      await expect(page.locator("header .brand").textContent()).resolves.toMatch(/^(执法记录区域控制台|Region console)$/);
      expect(await page.locator("#sys-served .badge.good").count()).toBe(1);
    }
    // The region's only worker dies: its leases lapse (3 s), and no one takes them.
    await killWorker(procs.find((x) => x.name === "ow")!);
    await until("both partitions alarmed unserved", async () => (await unserved()).length === PARTITIONS, 40000, () => readFileSync(office.out, "utf8").slice(-2000));
    expect(await unserved()).toEqual(Array.from({ length: PARTITIONS }, (_, n) => `partition ${n}`));
    expect(await holders()).toEqual(Array(PARTITIONS).fill(null));
    // Its heartbeat lapsed with its leases: no worker alive.
    await until("no worker alive", async () => JSON.stringify(await workers()) === "[]", 20000);
    if (page) {
      // Each partition marked as served by none, and the page says how many.
      await shown(Array(PARTITIONS).fill(""));
      expect(await page.locator("#partitions-table tbody tr .badge.bad").count()).toBe(PARTITIONS);
      expect(await page.locator("#sys-served .badge.bad").count()).toBe(1);
      await page.waitForFunction(() => document.querySelector("#sys-workers .badge.bad") !== null);
      await shot(page, "region-system-unserved");
    }
    // A worker is started: it takes them, and the office clears the alarms.
    const again = await startWorker(setup(), "ow2");
    procs.push(again);
    await until("the alarms cleared once a worker holds the partitions again", async () => (await unserved()).length === 0, 40000, () => readFileSync(office.out, "utf8").slice(-2000));
    expect(await holders()).toEqual(Array(PARTITIONS).fill("ow2"));
    await until("the new worker alive with every partition", async () => JSON.stringify(await workers()) === JSON.stringify([{ name: "ow2", partitions: every }]), 20000);
    if (page) {
      await shown(Array(PARTITIONS).fill("ow2"));
      await page.waitForFunction(() => /ow2 \((分区|partitions) 0 1\)/.test(document.querySelector("#sys-workers")?.textContent ?? ""));
    }
  }, 120000);
});

/** The events of a Server-Sent Events stream, as they arrive (each message a JSON array). */
async function eventStream(url: string, token: string): Promise<{ events: Record<string, unknown>[]; close(): void }> {
  const stop = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: stop.signal });
  expect(res.status).toBe(200);
  const events: Record<string, unknown>[] = [];
  const reader = res.body!.getReader();
  void (async () => {
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += Buffer.from(value).toString("utf8");
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        for (const line of buf.slice(0, i).split("\n")) if (line.startsWith("data: ")) events.push(...(JSON.parse(line.slice(6)) as Record<string, unknown>[]));
        buf = buf.slice(i + 2);
      }
    }
  })().catch(() => undefined);
  return { events, close: () => stop.abort() };
}
