// Equipment and legal-reviewer ratios per unit, rolled up the unit tree (RULES.md §2).
// The rollup sums each unit's own requirement and shortfall instead of comparing subtree
// totals: a device is issued to a unit, so a parent's spare sets don't equip a child's officers.
import type { Db } from "../store/db.js";
import { activeBodyDevices, staffCounts, unitsForReport } from "../store/reports.js";
import { POLICY_DEFAULTS } from "../policy.js";

/** Officers per recorder set when no policy is configured (the regulation's 1 per 4). */
export const DEFAULT_FLEET_RATIO = POLICY_DEFAULTS.fleetRatio;

/** Recorder sets a unit needs for n enforcement officers: none for none, else at least 1. */
export function requiredDevices(n: number, ratio: number = DEFAULT_FLEET_RATIO): number {
  if (!(Number.isFinite(ratio) && ratio > 0)) throw new RangeError(`ratio must be a positive number, got ${ratio}`);
  return n === 0 ? 0 : Math.max(1, Math.ceil(n / ratio));
}

/** Legal reviewers a unit needs for n enforcement officers: 5 %, at least 1 below 20 staff. */
export function requiredReviewers(n: number): number {
  if (n === 0) return 0;
  if (n < 20) return 1;
  return Math.ceil((n * 5) / 100);
}

export interface FleetLine {
  /** Active enforcement-role officers (own roster, or the subtree's in a rollup). */
  officers: number;
  required: number;
  /** Body-worn devices in state active. */
  counted: number;
  shortfall: number;
}

export interface ReviewerLine {
  /** Active enforcement-role officers the requirement is computed from. */
  staff: number;
  required: number;
  /** Active legal-reviewer-role staff. */
  counted: number;
  shortfall: number;
}

export interface UnitFleet {
  unitId: number;
  parentId: number | null;
  name: string;
  level: string;
  /** 0 for the report's roots. */
  depth: number;
  /** Officers per recorder set applied to this unit: its own ratio, else the station's. */
  ratio: number;
  own: { devices: FleetLine; reviewers: ReviewerLine };
  /** Sums over the subtree: required and shortfall are sums of each unit's own figures. */
  rollup: { devices: FleetLine; reviewers: ReviewerLine };
  compliant: boolean;
  reviewersCompliant: boolean;
}

export interface FleetReport {
  ratio: number;
  /** Units in tree order (each parent before its children). */
  units: UnitFleet[];
  /** Active body-worn devices not issued to any unit: they count nowhere (null to a caller scoped to a unit's subtree: they are the station's). */
  unassignedDevices: number | null;
}

interface UnitRow { id: number; parent_id: number | null; name: string; level: string; fleet_ratio?: number | null }

/** The fleet and reviewer report for every unit, or for the subtree of opts.unitId. */
export async function fleetReport(db: Db, opts: { ratio?: number; unitId?: number } = {}): Promise<FleetReport> {
  const ratio = opts.ratio ?? DEFAULT_FLEET_RATIO;
  if (!(Number.isFinite(ratio) && ratio > 0)) throw new RangeError(`ratio must be a positive number, got ${ratio}`);
  const units: UnitRow[] = await unitsForReport(db);
  const staff = await staffCounts(db);
  const devices = await activeBodyDevices(db);

  const enforcement = new Map<number, number>();
  const reviewers = new Map<number, number>();
  for (const s of staff) {
    if (s.role === "enforcement") enforcement.set(s.unit_id, s.n);
    else if (s.role === "legal_reviewer") reviewers.set(s.unit_id, s.n);
  }
  const counted = new Map<number, number>();
  let unassignedDevices = 0;
  for (const d of devices) {
    if (d.unit_id === null) unassignedDevices += d.n;
    else counted.set(d.unit_id, d.n);
  }

  const children = new Map<number | null, UnitRow[]>();
  const byId = new Map<number, UnitRow>();
  for (const u of units) {
    byId.set(u.id, u);
    const list = children.get(u.parent_id);
    if (list) list.push(u);
    else children.set(u.parent_id, [u]);
  }
  let roots: UnitRow[];
  if (opts.unitId === undefined) roots = children.get(null) || [];
  else {
    const root = byId.get(opts.unitId);
    if (!root) throw new RangeError(`no unit ${opts.unitId}`);
    roots = [root];
  }

  const out: UnitFleet[] = [];
  const visit = (u: UnitRow, depth: number): UnitFleet => {
    const n = enforcement.get(u.id) || 0;
    const dev = counted.get(u.id) || 0;
    // A unit may set its own ratio (busy units 1:3, others 1:5); else the station's applies.
    const own = u.fleet_ratio ?? ratio;
    const required = requiredDevices(n, own);
    const rev = reviewers.get(u.id) || 0;
    const revRequired = requiredReviewers(n);
    const mine = {
      devices: { officers: n, required, counted: dev, shortfall: Math.max(0, required - dev) },
      reviewers: { staff: n, required: revRequired, counted: rev, shortfall: Math.max(0, revRequired - rev) },
    };
    const row: UnitFleet = {
      unitId: u.id, parentId: u.parent_id, name: u.name, level: u.level, depth, ratio: own,
      own: mine, rollup: { devices: { ...mine.devices }, reviewers: { ...mine.reviewers } }, compliant: true, reviewersCompliant: true,
    };
    out.push(row);
    for (const c of children.get(u.id) || []) {
      const sub = visit(c, depth + 1).rollup;
      add(row.rollup.devices, sub.devices);
      add(row.rollup.reviewers, sub.reviewers);
    }
    row.compliant = row.rollup.devices.shortfall === 0;
    row.reviewersCompliant = row.rollup.reviewers.shortfall === 0;
    return row;
  };
  for (const r of roots) visit(r, 0);
  return { ratio, units: out, unassignedDevices };
}

function add<T extends FleetLine | ReviewerLine>(into: T, from: T): void {
  for (const k of Object.keys(from) as (keyof T)[]) (into[k] as number) += from[k] as number;
}
