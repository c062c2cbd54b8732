// A Status's battery as the checkout rule, the CLI's device list and the console's fleet page read it
// (protocol/status.ts): a device that reports no battery (no sensor: its Status leaves both battery
// fields out, read as 0 mV and 0 %) has none, never 0 %.
import { describe, expect, it } from "vitest";
import { statusBatteryPct as batteryOf } from "../../protocol/status.js";

describe("a Status's battery", () => {
  it("is unknown for a Status without a battery reading, and the percent otherwise, a flat one included", () => {
    expect(batteryOf({})).toBeNull();
    expect(batteryOf({ batteryMv: 0, batteryPct: 0 })).toBeNull();
    expect(batteryOf({ batteryPct: 0 })).toBeNull();
    expect(batteryOf({ batteryMv: 3300, batteryPct: 0 })).toBe(0);
    expect(batteryOf({ batteryMv: 3390, batteryPct: 10 })).toBe(10);
    expect(batteryOf({ batteryPct: 88 })).toBe(88);
  });
});
