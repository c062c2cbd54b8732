// Every scenario on the node engine, short: the fleet runs the firmware bundle against the
// simulator's own gateway, and the run's checks (the gateway's verdicts per recording) must pass.
// On the espruino engine (a real interpreter per device), steady, flaky and reboot, where one is installed.
import { describe, it, expect, beforeAll } from "vitest";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBundle } from "../../firmware/build/build.js";
import { eachBuild } from "../espruino/builds.js";
import { runSimulation } from "../../simulator/run.js";
import type { Report } from "../../simulator/run.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BUNDLE = join(ROOT, "dist", "recorder.min.js");

beforeAll(async () => {
  await ensureBundle();
});

async function run(scenario: string, engine: "node" | "espruino", devices: number, durationMs: number, seed = 1, store: "sd" | "flash" = "sd", commitDelayMs = 0, bin = ""): Promise<Report> {
  const r = await runSimulation({ devices, durationMs, scenario, seed, engine, speed: 1, chunk: 8192, store, bundle: BUNDLE, espruinoBin: bin, commitDelayMs });
  if (!r.ok) console.log(`${scenario} (${engine}) failures:\n  ${r.failures.join("\n  ")}\nalarms:\n  ${r.alarms.join("\n  ")}\nper device:\n  ${r.perDevice.map((d) => `${d.id}: ${d.recordings} recordings, queue ${d.queueDepth}, last error ${d.lastError || "-"}${d.console ? `\n    | ${d.console.join("\n    | ")}` : ""}`).join("\n  ")}`);
  return r;
}

describe("scenarios on the node engine", () => {
  it("steady: every recording verified and linked to its officer and case, nothing lost", async () => {
    const r = await run("steady", "node", 5, 9000);
    expect(r.failures).toEqual([]);
    expect(r.recordings).toBeGreaterThanOrEqual(5);
    expect(r.verdicts).toEqual({ verified: r.recordings });
    expect(r.linked).toBe(r.recordings);
    expect(r.lostChunks).toBe(0);
  });

  it("flaky network: drops, delays, partitions; still all verified", async () => {
    const r = await run("flaky", "node", 5, 9000);
    expect(r.failures).toEqual([]);
    expect(r.verdicts).toEqual({ verified: r.recordings });
  });

  it("flaky network against a starved gateway (every commit 300 ms late), 20 devices: every recording verified with its seal, nothing left on a device", async () => {
    const r = await run("flaky", "node", 20, 12000, 1, "sd", 300);
    expect(r.failures).toEqual([]);
    expect(r.verdicts).toEqual({ verified: r.recordings });
    expect(r.perDevice.every((d) => d.queueDepth === 0)).toBe(true);
  }, 120000);

  it("gateway restart mid-upload: devices resume; all verified", async () => {
    const r = await run("gateway-restart", "node", 4, 9000);
    expect(r.failures).toEqual([]);
  });

  it("reboot mid-recording: interrupted seals, all verified", async () => {
    const r = await run("reboot", "node", 4, 9000);
    expect(r.failures).toEqual([]);
    expect(r.interrupted).toBeGreaterThanOrEqual(1);
  });

  it("flash full while offline: alarm at the gateway, then everything uploads", async () => {
    const r = await run("flash-full", "node", 3, 9000);
    expect(r.failures).toEqual([]);
    expect(r.alarms.filter((a) => a.startsWith("DEVICE_ALARM")).length).toBe(3);
  });

  it("boards without an SD card (--store flash): the queue in Storage; reboot mid-recording, all verified", async () => {
    const r = await run("reboot", "node", 3, 9000, 1, "flash");
    expect(r.failures).toEqual([]);
    // What the queue can still use is what Storage has left (256 KiB in all), not an SD card.
    for (const d of r.perDevice) {
      expect(d.storeFree).toBeGreaterThan(100000);
      expect(d.storeFree).toBeLessThanOrEqual(262144);
    }
    expect(r.interrupted).toBeGreaterThanOrEqual(1);
  });

  it("clock skew and reset: still verified", async () => {
    const r = await run("clock", "node", 3, 9000);
    expect(r.failures).toEqual([]);
  });

  it("a whole shift offline, then docking: everything uploads at once", async () => {
    const r = await run("offline", "node", 4, 9000);
    expect(r.failures).toEqual([]);
    expect(r.recordings).toBeGreaterThanOrEqual(8);
  });

  it("the same seed gives the same schedule and verdicts", async () => {
    const a = await run("reboot", "node", 3, 6000, 7);
    const b = await run("reboot", "node", 3, 6000, 7);
    expect([a.recordings, a.interrupted, a.verdicts]).toEqual([b.recordings, b.interrupted, b.verdicts]);
  });

  it("an unknown scenario is refused with a clear error", async () => {
    await expect(run("nope", "node", 1, 1000)).rejects.toThrow(/SIM_SCENARIO: unknown scenario "nope"; one of steady/);
  });
});

eachBuild("scenarios on the espruino engine (a real interpreter per device)", (build) => {
  // flaky with 20 interpreters, as the simulator issue asks; each connected Linux interpreter
  // spins a core (it never sleeps with a socket open), so this one takes a while on 2 cores.
  // flaky runs against a starved gateway: every group commit 300 ms late (ingest that holds). The
  // 20 interpreters run on the board-sized build; the default build runs 8, which keeps the whole
  // suite within CI's 30 minutes on 2 cores (20 took 80 to 120 s on each build).
  const flaky = build.board ? 20 : 8;
  for (const [s, n, ms, delay] of [["steady", 3, 9000, 0], ["flaky", flaky, 20000, 300], ["reboot", 3, 9000, 0]] as const) {
    it(`${s} (${n} devices${delay ? `, commits ${delay} ms late` : ""})`, async () => {
      const r = await run(s, "espruino", n, ms, 1, "sd", delay, build.bin);
      expect(r.failures).toEqual([]);
      expect(r.engine).toBe("espruino");
      expect(r.verdicts).toEqual({ verified: r.recordings });
    }, 240000);
  }
});
