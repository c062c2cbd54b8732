// The attack scenarios (simulator/attacks.ts) on the node engine: three devices run the firmware
// bundle against the simulator's own gateway while one attack is carried out with a seized
// device's flash and SD card or with its credentials on the network. Each run's own checks (the
// scenario's expect(): the verdicts the gateway must reach through its API) must pass, and a few
// facts of the attack are checked again here from the report.
import { describe, it, expect, beforeAll } from "vitest";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBundle } from "../../firmware/build/build.js";
import { runSimulation } from "../../simulator/run.js";
import type { Report } from "../../simulator/run.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BUNDLE = join(ROOT, "dist", "recorder.min.js");

beforeAll(async () => {
  await ensureBundle();
});

async function run(scenario: string): Promise<Report> {
  const r = await runSimulation({ devices: 3, durationMs: 8000, scenario, seed: 1, engine: "node", speed: 1, chunk: 8192, bundle: BUNDLE });
  if (!r.ok) console.log(`${scenario} failures:\n  ${r.failures.join("\n  ")}`);
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
