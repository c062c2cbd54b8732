// The bench's verdict on its goals (test/bench/goals.ts): what a run says for itself.
import { describe, expect, it } from "vitest";
import { verdictLines, verdicts } from "./goals.js";
import type { GoalInputs } from "./goals.js";

const row = (sizeKiB: number, ratio: number, p99: number, devices: number, window: number): GoalInputs => ({
  sizeKiB, ratio, latencyAtHalf: { gatewayP99ms: p99, gatewaySteadyP99ms: p99 - 10 },
  overloadDevices: { shareOfMax: devices, peakRssMb: 401.2, rssBeforeMb: 331.9 }, overload: { shareOfMax: window, peakRssMb: 430, rssBeforeMb: 401 },
});

describe("the bench's goals, judged on its own figures", () => {
  it("judges each goal at its threshold, the threshold itself met", () => {
    const v = verdicts([row(4, 0.5, 50, 0.9, 0.9), row(16, 0.799, 51, 1.01, 0.899)]);
    expect(v.map((x) => [x.goal, x.met])).toEqual([
      ["0.5 × mosquitto at 4 KiB", true],
      ["0.8 × mosquitto at 16 KiB", false],
      ["commit p99 ≤ 50 ms at half the maximum, 4 KiB", true],
      ["commit p99 ≤ 50 ms at half the maximum, 16 KiB", false],
      ["≥ 90 % of the maximum at twice it, 4 KiB", true],
      ["≥ 90 % of the maximum at twice it, 16 KiB", false],
    ]);
  });

  it("says what it could not judge rather than judging it", () => {
    const v = verdicts([row(4, NaN, 40, 1, 1), row(64, 0.3, 40, 1, 1)]);
    expect(v.slice(0, 2)).toEqual([
      { goal: "0.5 × mosquitto at 4 KiB", sizeKiB: 4, met: null, value: "mosquitto not run" },
      { goal: "0.8 × mosquitto at 16 KiB", sizeKiB: 16, met: null, value: "size not run" },
    ]);
  });

  it("prints each with the figures it was judged on", () => {
    expect(verdictLines(verdicts([row(4, 0.365, 64, 0.94, 0.86)]))).toEqual([
      "  0.5 × mosquitto at 4 KiB: NOT met (0.365)",
      "  0.8 × mosquitto at 16 KiB: not measured (size not run)",
      "  commit p99 ≤ 50 ms at half the maximum, 4 KiB: NOT met (64 ms; 54 after the first second)",
      "  ≥ 90 % of the maximum at twice it, 4 KiB: NOT met (94.0 % by twice the devices, 86.0 % by eight times the window; peak RSS 401 and 430 MiB against 332 and 401 before)",
    ]);
  });
});
