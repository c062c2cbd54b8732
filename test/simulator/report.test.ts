// The summary a simulator run prints: what a tester reads first when a run fails.
import { describe, expect, it } from "vitest";
import { summary } from "../../simulator/report.js";
import type { Report } from "../../simulator/run.js";

const base: Report = {
  scenario: "flaky", engine: "espruino", seed: 7, devices: 2, durationMs: 30000, wallMs: 41000, recordings: 3,
  verdicts: { verified: 2, incomplete: 1 }, interrupted: 0, linked: 3, chunks: 40, bytes: 327680, lostChunks: 0, disconnects: { CLOSED: 3, SUBACK_REFUSED: 1 }, alarms: [],
  failures: ["S1-0: recording 2 incomplete (MISSING_SEAL)"],
  perDevice: [
    { id: "S1-0", recordings: 2, queueDepth: 0, storeFree: 200000, lastError: "CHUNK_ERROR",
      console: ["[rec] recording 2 started (case C1)", "[rec] error CHUNK_ERROR: recording 2 chunk 3 not stored: ERROR Error: no memory"] },
    { id: "S1-1", recordings: 1, queueDepth: 0, storeFree: 200000, lastError: "" },
  ],
  resources: { rssMb: 120, cpuS: 30 }, ok: false,
};

describe("the run summary", () => {
  it("a failing run names each failure and shows the console of the device that ended with an error", () => {
    const text = summary(base);
    expect(text).toMatch(/FAIL: 1 expectation\(s\) not met/);
    expect(text).toContain("- S1-0: recording 2 incomplete (MISSING_SEAL)");
    expect(text).toContain("S1-0 (last error CHUNK_ERROR), its console:");
    expect(text).toContain("| [rec] error CHUNK_ERROR: recording 2 chunk 3 not stored: ERROR Error: no memory");
    expect(text).not.toContain("S1-1 (last error"); // no error, no console
  });

  it("a passing run prints no consoles", () => {
    const text = summary({ ...base, failures: [], ok: true });
    expect(text).toMatch(/PASS/);
    expect(text).not.toContain("its console");
  });

  it("says how many connections the devices lost, and why", () => {
    expect(summary(base)).toMatch(/connections lost +CLOSED 3, SUBACK_REFUSED 1\n/);
    expect(summary({ ...base, disconnects: {} })).toMatch(/connections lost +none\n/);
  });
});
