// The station's policy: the figures the rules are applied with, built once from the configuration
// and handed to every part that needs them (model, reports, services, alarms). One place, so a
// default is never repeated and a ratio never applied three ways.

export interface Policy {
  /** IANA zone whose calendar dates certificates are valid on and reports are printed in. */
  timeZone: string;
  /** Enforcement officers per recorder set, the regulation's 1:4 unless the region's policy differs; a unit may set its own. */
  fleetRatio: number;
  /** Gaps in a FULL case's coverage up to this long count as covered, ms. */
  gapToleranceMs: number;
  /** Days every recording is kept after it was last received. */
  retentionDays: number;
  /** Days a purged recording can still be undeleted. */
  undeleteDays: number;
  /** Hours after a recording ended by which it must be wholly uploaded (the rules' upload deadline). */
  uploadDeadlineH: number;
  /** The pre-duty device check at checkout (refuse below / beyond the first figure, warn at the second). */
  checkout: {
    minBatteryPct: number; warnBatteryPct: number;
    minFreeMb: number; warnFreeMb: number;
    maxClockMs: number; warnClockMs: number;
    /** A Status older than this is only a warning: the check is done by hand. */
    statusMaxAgeH: number;
    /** The firmware version the station expects; empty: not checked. */
    firmware: string;
  };
}

/** The defaults, which config.ts's DEFAULTS repeat by reference. */
export const POLICY_DEFAULTS: Policy = {
  timeZone: "Asia/Shanghai",
  fleetRatio: 4,
  gapToleranceMs: 2000,
  retentionDays: 180,
  undeleteDays: 7,
  uploadDeadlineH: 24,
  checkout: { minBatteryPct: 20, warnBatteryPct: 50, minFreeMb: 1, warnFreeMb: 16, maxClockMs: 60000, warnClockMs: 2000, statusMaxAgeH: 24, firmware: "" },
};

export class PolicyError extends Error {
  constructor(public code: string, message: string) {
    super(message);
  }
}

/** Build and check the policy from a configuration (or parts of one). */
export function makePolicy(c: Partial<Policy> & { expectedFirmware?: string }): Policy {
  const p: Policy = { ...POLICY_DEFAULTS, checkout: { ...POLICY_DEFAULTS.checkout, ...(c.checkout ?? {}) } };
  for (const k of Object.keys(POLICY_DEFAULTS) as (keyof Policy)[]) if (k !== "checkout" && c[k] !== undefined) (p as unknown as Record<string, unknown>)[k] = c[k];
  if (c.expectedFirmware) p.checkout.firmware = c.expectedFirmware;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: p.timeZone });
  } catch {
    throw new PolicyError("BAD_OPTION", `timeZone is not a known IANA zone: ${JSON.stringify(p.timeZone)}`);
  }
  if (!(Number.isFinite(p.fleetRatio) && p.fleetRatio > 0)) throw new PolicyError("BAD_OPTION", `fleetRatio must be a positive number, got ${p.fleetRatio}`);
  if (!(Number.isFinite(p.gapToleranceMs) && p.gapToleranceMs >= 0)) throw new PolicyError("BAD_OPTION", `gapToleranceMs must be a non-negative number, got ${p.gapToleranceMs}`);
  return Object.freeze(p);
}
