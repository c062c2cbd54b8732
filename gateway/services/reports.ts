// Reports for supervisors: the fleet and reviewer ratios, coverage, integrity and statistics, each
// with the audit head (P6), at the station's policy.
import type { Caller, ServiceContext } from "./context.js";
import { intOf, requireRole } from "./context.js";
import { parseTime } from "./time.js";
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

  /** The fleet and reviewer report, for the station or one unit's subtree. */
  async fleet(caller: Caller, unitIn?: unknown): Promise<FleetReport & { auditHead: AuditHead }> {
    requireRole(caller, READ, "the fleet report");
    const unitId = unitIn === undefined || unitIn === null || unitIn === "" ? undefined : intOf(unitIn, "unit");
    if (unitId !== undefined) await this.ctx.model.unit(unitId);
    const r = await fleetReport(this.ctx.db, { ratio: this.ctx.policy.fleetRatio, unitId });
    return { ...r, auditHead: await this.head() };
  }

  async coverage(caller: Caller): Promise<{ cases: CaseCoverage[]; auditHead: AuditHead }> {
    requireRole(caller, READ, "the coverage report");
    return { cases: await coverageReport(this.ctx.db, { gapToleranceMs: this.ctx.policy.gapToleranceMs }), auditHead: await this.head() };
  }

  async integrity(caller: Caller): Promise<IntegritySummary & { auditHead: AuditHead }> {
    requireRole(caller, READ, "the integrity report");
    return { ...(await integritySummary(this.ctx.db)), auditHead: await this.head() };
  }

  async statistics(caller: Caller, q: { from?: unknown; to?: unknown; by?: unknown }): Promise<{ from: number; to: number; by: "unit" | "officer"; rows: StatisticsRow[]; auditHead: AuditHead }> {
    requireRole(caller, READ, "statistics");
    const tz = this.ctx.policy.timeZone;
    const from = parseTime(q.from, "from", tz), to = parseTime(q.to, "to", tz);
    if (!(to > from)) throw new GatewayError("BAD_WINDOW", "the period must end after it starts");
    const by = q.by === undefined || q.by === "" ? "unit" : q.by;
    if (by !== "unit" && by !== "officer") throw new GatewayError("BAD_INPUT", `by is unit or officer, got ${JSON.stringify(q.by)}`);
    return { from, to, by, rows: await statistics(this.ctx.db, { from, to, by, gapToleranceMs: this.ctx.policy.gapToleranceMs }), auditHead: await this.head() };
  }
}
