// Reports for supervisors: the fleet and reviewer ratios, coverage, integrity and statistics, each
// with the audit head (P6), at the station's policy.
import type { Caller, ServiceContext } from "./context.js";
import { intOf, requireRole } from "./context.js";
import { parseEnd, parseTime } from "./time.js";
import { GatewayError } from "../errors.js";
import { fleetReport } from "../reports/ratios.js";
import type { FleetReport } from "../reports/ratios.js";
import { coverageReport, integritySummary, statistics } from "../reports/coverage.js";
import type { CaseCoverage, IntegritySummary, StatisticsRow } from "../reports/coverage.js";
import type { AuditHead } from "../audit/log.js";

const READ = ["admin", "supervisor", "legal_reviewer"] as const;

export class ReportService {
  constructor(private ctx: ServiceContext) {}

  private head(): Promise<AuditHead> {
    return this.ctx.deps.audit.head();
  }

  /**
   * Recorders and legal reviewers per unit, own and rolled up: the station's tree for an admin; for a
   * supervisor or legal reviewer their unit's subtree (another unit is OUTSIDE_UNIT), as the
   * statistics and the rosters they are counted from.
   */
  async fleet(caller: Caller, unitIn?: unknown): Promise<FleetReport & { auditHead: AuditHead }> {
    requireRole(caller, READ, "the fleet report");
    let unitId = unitIn === undefined || unitIn === null || unitIn === "" ? undefined : intOf(unitIn, "unit");
    if (unitId !== undefined) await this.ctx.model.unit(unitId);
    const scope = await this.ctx.scope(caller);
    if (scope && unitId !== undefined && !scope.has(unitId)) throw new GatewayError("OUTSIDE_UNIT", `unit ${unitId} is outside your unit's subtree`);
    if (scope && unitId === undefined) unitId = (await this.ctx.model.officer(caller.officerBadge!)).unitId;
    const r = await fleetReport(this.ctx.db, { ratio: this.ctx.policy.fleetRatio, unitId });
    // Devices issued to no unit are in no one's subtree: the station's to count, not a unit's.
    return { ...r, unassignedDevices: scope ? null : r.unassignedDevices, auditHead: await this.head() };
  }

  /**
   * Coverage of the cases the caller may list: those of their unit's subtree (an admin: every one),
   * a level 3 (secret) case never to a legal reviewer, as the case listing.
   */
  async coverage(caller: Caller): Promise<{ cases: CaseCoverage[]; auditHead: AuditHead }> {
    requireRole(caller, READ, "the coverage report");
    const scope = await this.ctx.scope(caller);
    const secret = new Set((await this.ctx.model.listCases()).filter((c) => c.confidentiality >= 3).map((c) => c.number));
    const all = await coverageReport(this.ctx.db, { gapToleranceMs: this.ctx.policy.gapToleranceMs });
    const cases = all.filter((c) => (!scope || scope.has(c.unitId)) && (caller.role !== "legal_reviewer" || !secret.has(c.caseNumber)));
    return { cases, auditHead: await this.head() };
  }

  async integrity(caller: Caller): Promise<IntegritySummary & { auditHead: AuditHead }> {
    requireRole(caller, READ, "the integrity report");
    // A supervisor's or legal reviewer's are the recordings of their unit's subtree, as they list them.
    const scope = await this.ctx.scope(caller);
    return { ...(await integritySummary(this.ctx.db, scope ? [...scope] : undefined)), auditHead: await this.head() };
  }

  /**
   * Statistics per unit or officer over a period (a date alone for `to` is the end of that day), the
   * rows of the caller's scope (an admin: every one).
   */
  async statistics(caller: Caller, q: { from?: unknown; to?: unknown; by?: unknown }): Promise<{ from: number; to: number; by: "unit" | "officer"; rows: StatisticsRow[]; auditHead: AuditHead }> {
    requireRole(caller, READ, "statistics");
    const tz = this.ctx.policy.timeZone;
    const from = parseTime(q.from, "from", tz), to = parseEnd(q.to, "to", tz);
    if (!(to > from)) throw new GatewayError("BAD_WINDOW", "the period must end after it starts");
    const by = q.by === undefined || q.by === "" ? "unit" : q.by;
    if (by !== "unit" && by !== "officer") throw new GatewayError("BAD_INPUT", `by is unit or officer, got ${JSON.stringify(q.by)}`);
    const rows = await statistics(this.ctx.db, { from, to, by, gapToleranceMs: this.ctx.policy.gapToleranceMs });
    // The rows of the caller's scope: units of their subtree, officers on those units' rosters (an admin: every row).
    const scope = await this.ctx.scope(caller);
    if (!scope) return { from, to, by, rows, auditHead: await this.head() };
    const unitOf = new Map((await this.ctx.model.listOfficers()).map((o) => [o.badge, o.unitId]));
    const mine = rows.filter((r) => r.key !== null && scope.has(by === "unit" ? (r.key as number) : unitOf.get(r.key as string) ?? -1));
    return { from, to, by, rows: mine, auditHead: await this.head() };
  }
}
