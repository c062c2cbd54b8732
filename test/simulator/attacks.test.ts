// The attack scenarios (simulator/attacks.ts) on the node engine: three devices run the firmware
// bundle against the simulator's own gateway while one attack is carried out with a seized
// device's flash and SD card or with its credentials on the network. Each run's own checks (the
// scenario's expect(): the verdicts the gateway must reach through its API) must pass, and a few
// facts of the attack are checked again here from the report. Then the attacks that read or cut a
// device's stored queue, where the queue is elsewhere: in Storage on boards without an SD card
// (`--store flash`), and on the espruino engine, whose card is the interpreter's working directory
// (where one is installed).
import { describe, it, expect, beforeAll } from "vitest";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBundle } from "../../firmware/build/build.js";
import { runSimulation } from "../../simulator/run.js";
import type { Report, SimOptions } from "../../simulator/run.js";
import { BUILDS } from "../espruino/builds.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BUNDLE = join(ROOT, "dist", "recorder.min.js");

beforeAll(async () => {
  await ensureBundle();
});

async function run(scenario: string, o: Partial<SimOptions> = {}): Promise<Report> {
  const r = await runSimulation({ devices: 3, durationMs: 8000, scenario, seed: 1, engine: "node", speed: 1, chunk: 8192, bundle: BUNDLE, ...o });
  if (!r.ok) console.log(`${scenario} (${r.engine}, ${o.store || "sd"} store) failures:\n  ${r.failures.join("\n  ")}`);
  return r;
}

const kinds = (r: Report, kind: string) => r.alarms.filter((a) => a.startsWith(kind + " "));

describe("attacks while an honest fleet records (node engine)", () => {
  it("attack-seized-key: a chunk of an earlier recording re-tagged with the seized keys is refused as forged; stored chunks unchanged, every recording verified", async () => {
    const r = await run("attack-seized-key");
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    // The forgery fails nothing (R-VER-0): it is alarmed; the recording the device was seized in is sealed as interrupted.
    expect(r.verdicts).toEqual({ verified: r.recordings });
    expect(kinds(r, "FORGED_MESSAGE")).toHaveLength(1);
    expect(kinds(r, "FAILED_VERDICT")).toHaveLength(0);
    expect(r.interrupted).toBe(1);
  }, 60000);

  it("attack-replay: the same bytes again are duplicates; every recording still verified", async () => {
    const r = await run("attack-replay");
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.verdicts).toEqual({ verified: r.recordings });
  }, 60000);

  it("attack-spoofed-topic: another device's topics are refused; nothing stored, every recording verified", async () => {
    const r = await run("attack-spoofed-topic");
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.verdicts).toEqual({ verified: r.recordings });
    expect(r.alarms.filter((a) => /^(EQUIVOCATION|FAILED_VERDICT) /.test(a))).toEqual([]);
  }, 60000);

  it("attack-equivocation: a second validly tagged chunk 1 makes the recording failed, with an EQUIVOCATION alarm", async () => {
    const r = await run("attack-equivocation");
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.verdicts.failed).toBe(1);
    expect(kinds(r, "EQUIVOCATION")).toHaveLength(1);
  }, 60000);

  it("attack-truncated: a cut recording is incomplete and final, a deleted one raises RECORDING_MISSING", async () => {
    const r = await run("attack-truncated");
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.verdicts.incomplete).toBe(1);
    expect(r.verdicts.failed).toBeUndefined();
    expect(kinds(r, "RECORDING_MISSING")).toHaveLength(1);
  }, 60000);
});

// The store a board without an SD card has: the queue in Storage, as `<segment>~<k>` files. The
// thief reads it out of the flash with the keys, and the truncation erases its files there.
describe("attacks on devices without an SD card (node engine, --store flash)", () => {
  it("attack-seized-key: the sealed recording is copied out of the flash; the forgery refused, every recording verified", async () => {
    const r = await run("attack-seized-key", { store: "flash" });
    expect(r.failures).toEqual([]);
    expect(r.verdicts).toEqual({ verified: r.recordings });
    expect(kinds(r, "FORGED_MESSAGE")).toHaveLength(1);
    expect(r.interrupted).toBe(1);
    // The queue was in Storage: the report's storeFree is the flash's, far below an SD card's.
    for (const d of r.perDevice) expect(d.storeFree).toBeLessThan(262144);
  }, 60000);

  it("attack-truncated: the queue files erased from the flash: incomplete and final, RECORDING_MISSING", async () => {
    const r = await run("attack-truncated", { store: "flash" });
    expect(r.failures).toEqual([]);
    expect(r.verdicts.incomplete).toBe(1);
    expect(r.verdicts.failed).toBeUndefined();
    expect(kinds(r, "RECORDING_MISSING")).toHaveLength(1);
  }, 60000);
});

// A real interpreter per device: its card is its working directory, its flash `espruino.flash`
// there. Two devices, the shortest run the attacks fit in: each test takes 20 to 35 s, so on one
// build, the board's where it is installed (where a board's memory runs out), else the default.
const build = BUILDS.find((b) => b.name === "board") ?? BUILDS[0];
describe.skipIf(!build)(`attacks on the espruino engine [${build ? build.name : "no interpreter"} build]`, () => {
  const opts = { engine: "espruino", espruinoBin: build ? build.bin : "", devices: 2, durationMs: 8000 } as const;

  it("attack-seized-key (SD card): the sealed recording copied off the card, the forgery refused; every recording verified", async () => {
    const r = await run("attack-seized-key", opts);
    expect(r.failures).toEqual([]);
    expect(r.engine).toBe("espruino");
    expect(r.verdicts).toEqual({ verified: r.recordings });
    expect(kinds(r, "FORGED_MESSAGE")).toHaveLength(1);
    expect(r.interrupted).toBe(1);
  }, 90000);

  it("attack-truncated (--store flash): the queue files erased from the interpreter's own flash; it boots on it, incomplete and final, RECORDING_MISSING", async () => {
    const r = await run("attack-truncated", { ...opts, store: "flash" });
    expect(r.failures).toEqual([]);
    expect(r.engine).toBe("espruino");
    expect(r.verdicts.incomplete).toBe(1);
    expect(r.verdicts.failed).toBeUndefined();
    expect(kinds(r, "RECORDING_MISSING")).toHaveLength(1);
  }, 90000);
});
