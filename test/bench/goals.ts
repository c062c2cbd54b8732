// The ingest goals (docs/SCALE.md), judged on one run of `npm run bench`: each goal met or not,
// with the figure it was judged on, so that a run says for itself where it stands. The figures are
// the run's own medians; nothing here is measured. Memory under overload is printed, not judged:
// "flat" has no threshold of its own.

/** What one chunk size of a run gives the goals (a part of the bench's JSON row). */
export interface GoalInputs {
  sizeKiB: number;
  /** The gateway's maximum over mosquitto's delivered rate; NaN when mosquitto was not run. */
  ratio: number;
  latencyAtHalf: { gatewayP99ms: number; gatewaySteadyP99ms?: number };
  overload: { shareOfMax: number; peakRssMb: number; rssBeforeMb: number };
  overloadDevices: { shareOfMax: number; peakRssMb: number; rssBeforeMb: number };
}

/** One goal at one size: met, not met, or not measured in this run (met: null). */
export interface Verdict {
  goal: string;
  sizeKiB: number;
  met: boolean | null;
  /** The figure it was judged on, as printed. */
  value: string;
}

export const RATIO_GOALS: Record<number, number> = { 4: 0.5, 16: 0.8 };
export const P99_GOAL_MS = 50;
export const OVERLOAD_GOAL = 0.9;

// One decimal: 89.6 % is not met, and printed as "90 %" it would read as if it were.
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

export function verdicts(rows: GoalInputs[]): Verdict[] {
  const out: Verdict[] = [];
  for (const [kib, want] of Object.entries(RATIO_GOALS)) {
    const r = rows.find((x) => x.sizeKiB === Number(kib));
    const goal = `${want} × mosquitto at ${kib} KiB`;
    if (!r || !Number.isFinite(r.ratio)) out.push({ goal, sizeKiB: Number(kib), met: null, value: r ? "mosquitto not run" : "size not run" });
    else out.push({ goal, sizeKiB: r.sizeKiB, met: r.ratio >= want, value: r.ratio.toFixed(3) });
  }
  for (const r of rows) {
    const l = r.latencyAtHalf;
    const steady = l.gatewaySteadyP99ms !== undefined && Number.isFinite(l.gatewaySteadyP99ms) ? `; ${l.gatewaySteadyP99ms} after the first second` : "";
    out.push({ goal: `commit p99 ≤ ${P99_GOAL_MS} ms at half the maximum, ${r.sizeKiB} KiB`, sizeKiB: r.sizeKiB, met: l.gatewayP99ms <= P99_GOAL_MS, value: `${l.gatewayP99ms} ms${steady}` });
  }
  for (const r of rows) {
    const both = [r.overloadDevices.shareOfMax, r.overload.shareOfMax];
    out.push({
      goal: `≥ ${Math.round(OVERLOAD_GOAL * 100)} % of the maximum at twice it, ${r.sizeKiB} KiB`, sizeKiB: r.sizeKiB, met: both.every((x) => x >= OVERLOAD_GOAL),
      value: `${pct(both[0])} by twice the devices, ${pct(both[1])} by eight times the window; peak RSS ${Math.round(r.overloadDevices.peakRssMb)} and ${Math.round(r.overload.peakRssMb)} MiB against ${Math.round(r.overloadDevices.rssBeforeMb)} and ${Math.round(r.overload.rssBeforeMb)} before`,
    });
  }
  return out;
}

/** The verdicts as the bench prints them: one line each. */
export function verdictLines(vs: Verdict[]): string[] {
  const word = (m: boolean | null) => (m === null ? "not measured" : m ? "met" : "NOT met");
  return vs.map((v) => `  ${v.goal}: ${word(v.met)} (${v.value})`);
}
