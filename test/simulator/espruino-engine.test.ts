// The espruino engine (simulator/engines/espruino.ts): simulated devices that are real Espruino
// interpreter processes running the minified firmware bundle from their Storage, against a real test
// gateway. Two devices record and upload; a power cut mid-recording is sealed as interrupted after
// the boot; info(), clock() and a dead interpreter's error. Prints each process's RSS and CPU while
// idle and while recording and uploading. Skipped, saying so, where no interpreter is installed.
import { afterAll, beforeAll, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eachBuild } from "../espruino/builds.js";
import { buildFirmware } from "../../firmware/build/build.js";
import { EspruinoEngine, EspruinoSimDevice } from "../../simulator/engines/espruino.js";
import type { ProcessResources } from "../../simulator/engines/espruino.js";
import type { DeviceSpec } from "../../simulator/types.js";
import { testGateway } from "../gateway/harness.js";


const SPEED = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let gw: Awaited<ReturnType<typeof testGateway>>;
let engine: EspruinoEngine;
const dirs: string[] = [];
const devices: EspruinoSimDevice[] = [];

interface Row { recording_id: number; verdict: string; linked_seq: number; interrupted: number; reasons: string }
async function recordings(id: string): Promise<Row[]> {
  return gw.gw.db.all<Row>(
    "SELECT recording_id, verdict, linked_seq, interrupted, reasons FROM recordings WHERE device_id = ? ORDER BY recording_id", [id]);
}

async function until<T>(get: () => Promise<T> | T, ok: (v: T) => boolean, what: string, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

async function device(id: string, seed: number, pre: number): Promise<EspruinoSimDevice> {
  const root = new Uint8Array(randomBytes(32));
  await gw.gw.registry.add(id, { root });
  const dir = mkdtempSync(join(tmpdir(), "evrec-espsim-"));
  dirs.push(dir);
  const spec: DeviceSpec = { id, root, host: "127.0.0.1", port: gw.gw.mqttPort, chunk: 8192, pre, caseTag: "", sdBytes: 0, seed, speed: SPEED, dir };
  const d = (await engine.create(spec)) as EspruinoSimDevice;
  devices.push(d);
  return d;
}

/** CPU share (of one core) and RSS of each device's process over `ms` of whatever it is doing. */
async function measure(ds: EspruinoSimDevice[], ms: number): Promise<{ id: string; rssKb: number; cpuPct: number }[]> {
  const t0 = Date.now();
  const a = ds.map((d) => d.resources() as ProcessResources);
  await sleep(ms);
  const wall = Date.now() - t0;
  return ds.map((d, i) => {
    const b = d.resources() as ProcessResources;
    return { id: d.id, rssKb: b.rssKb, cpuPct: (100 * (b.cpuMs - a[i].cpuMs)) / wall };
  });
}

const show = (m: { id: string; rssKb: number; cpuPct: number }[]) =>
  m.map((x) => `${x.id} RSS ${(x.rssKb / 1024).toFixed(1)} MB, CPU ${x.cpuPct.toFixed(0)} % of a core`).join("; ");

eachBuild("espruino engine: the firmware bundle in real Espruino interpreter processes", (build) => {
  const bin = build.bin;
  let a: EspruinoSimDevice;
  let b: EspruinoSimDevice;

  beforeAll(async () => {
    const bundle = (await buildFirmware()).min;
    gw = await testGateway();
    engine = new EspruinoEngine({ bin, bundle, nice: 10 });
  });

  afterAll(async () => {
    if (engine) await engine.close();
    if (gw) await gw.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("create() provisions Storage and boots; info() answers; idle figures", async () => {
    a = await device("ESPSIM-A", 1, 0);
    b = await device("ESPSIM-B", 2, 2); // with a pre-event ring: its media runs while idle
    for (const d of [a, b]) await until(() => d.info(), (i) => i.link === "up", `${d.id} link up`);
    const i = await a.info();
    expect(i).toMatchObject({ state: "idle", recording: 0, chunks: 0, queueDepth: 0, alarm: false, lastError: "" });
    expect(typeof i.memory).toBe("number");
    // Its peak is never below what it uses as it answers (it was: the peak sampled only at memory checks).
    expect(i.memoryPeak).toBeGreaterThanOrEqual(i.memory);
    // The console is the device's log, without the interpreter's banner or prompts.
    expect(a.logs().some((l) => l.startsWith("[rec] ready: ESPSIM-A"))).toBe(true);
    expect(a.logs().join("\n")).not.toMatch(/espruino\.com|^>/m);
    console.log(`espruino engine: idle, link up (B keeps a 2 s pre-event ring at speed ${SPEED}): ${show(await measure([a, b], 2000))}; variables A ${i.memory}`);
  });

  it("the record button, twice: each recording arrives verified with as many chunks as info() says", async () => {
    await Promise.all([a.press("record"), b.press("record")]);
    expect((await a.info()).state).toBe("recording");
    const active = await measure([a, b], 3000);
    await Promise.all([a.press("record"), b.press("record")]);
    const info = await Promise.all([a.info(), b.info()]);
    console.log(`espruino engine: recording and uploading at speed ${SPEED}: ${show(active)}; chunks A ${info[0].chunks}, B ${info[1].chunks}; variables A ${info[0].memory}, B ${info[1].memory}`);
    for (const [k, d] of [a, b].entries()) {
      expect(info[k].state).toBe("idle");
      expect(info[k].chunks).toBeGreaterThanOrEqual(10);
      // Long waits: on a loaded machine (each connected interpreter also spins a core) uploads crawl.
      const rows = await until(() => recordings(d.id), (r) => r[0]?.verdict === "verified", `${d.id} recording 1 verified`, 60000);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ recording_id: 1, linked_seq: info[k].chunks, interrupted: 0 });
      await until(() => d.info(), (i) => i.queueDepth === 0, `${d.id} queue emptied by Acks`, 60000);
    }
    for (const d of [a, b]) expect(d.logs().join("\n")).not.toMatch(/Uncaught|ASSERT/);
  }, 180000); // two interpreters recording and uploading: on a loaded machine this took over 30 s

  it("a power cut mid-recording, then boot on the same flash and SD card: sealed as interrupted, verified", async () => {
    await a.press("record");
    const before = await until(() => recordings(a.id), (r) => (r[1]?.linked_seq || 0) >= 3, "3 chunks of recording 2 at the gateway");
    await a.powerCut();
    expect(a.resources()).toBeNull();
    await expect(a.info()).rejects.toThrow(/powered off/);
    await a.press("record"); // a dead board's button does nothing
    await a.boot();
    const line = await until(() => a.logs().find((l) => /recording 2 sealed as interrupted after chunk \d+/.test(l)), (l) => !!l, "the recovery line");
    const held = Number(/after chunk (\d+)/.exec(line as string)![1]);
    expect(held).toBeGreaterThanOrEqual(before[1].linked_seq);
    const rows = await until(() => recordings(a.id), (r) => r[1]?.verdict === "verified", "interrupted recording verified");
    expect(rows[1]).toMatchObject({ recording_id: 2, linked_seq: held, interrupted: 1 });
    const i = await until(() => a.info(), (x) => x.link === "up", "link up again");
    expect(i).toMatchObject({ state: "idle", lastError: "" });
  });

  it("clock() moves the device clock (timers keep true time); a boot starts from true time again", async () => {
    const deviceSeconds = async (d: EspruinoSimDevice) => (await d.evaluate("getTime()")) as number;
    await a.clock(3600 * 1000);
    expect(Math.abs((await deviceSeconds(a)) - (Date.now() / 1000 + 3600))).toBeLessThan(2);
    await a.clock(0, 1e12);
    expect(Math.abs((await deviceSeconds(a)) - 1e9)).toBeLessThan(2);
    // The media timer runs on: chunks keep coming at the usual rate while the clock reads 2001.
    const c0 = (await a.info()).chunks;
    await a.press("record");
    await sleep(1000);
    await a.press("record");
    expect((await a.info()).chunks - c0).toBeGreaterThanOrEqual(5);
    await a.powerCut();
    await a.boot();
    expect(Math.abs((await deviceSeconds(a)) - Date.now() / 1000)).toBeLessThan(2);
  });

  it("an interpreter that dies by itself: calls fail saying so, with its last lines; boot() brings it back", async () => {
    const r = b.resources() as ProcessResources;
    process.kill(r.pid, "SIGKILL");
    const err = await until(() => b.info().then(() => null, (e: Error) => e), (e) => e !== null, "the death noticed", 5000);
    expect(err!.message).toMatch(/ESPSIM-B: the Espruino interpreter exited unexpectedly \(signal SIGKILL\); last lines of its console:\n/);
    expect(err!.message).toMatch(/\[rec\] ready: ESPSIM-B/);
    await expect(b.press("marker")).rejects.toThrow(/exited unexpectedly/);
    await b.boot();
    expect((await b.info()).state).toBe("idle");
  });
});
