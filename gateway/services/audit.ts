// The audit log as an admin reads and checks it.
import type { Caller, ServiceContext } from "./context.js";
import { requireRole } from "./context.js";
import { GatewayError } from "../errors.js";
import { parseEnd, parseTime } from "./time.js";
import type { AuditEntry, AuditHead, VerifyResult } from "../audit/log.js";
import { custodyOfAccount } from "../evidence/custody.js";
import type { CustodyRow } from "../evidence/custody-report.js";

export class AuditService {
  constructor(private ctx: ServiceContext) {}

  /**
   * Entries, newest first, filtered by actor, action or target (targets as the services write them)
   * and a period (`until` given as a date alone is the end of that day).
   */
  async list(caller: Caller, q: { actor?: string; action?: string; target?: string; since?: unknown; until?: unknown; limit?: unknown } = {}): Promise<AuditEntry[]> {
    requireRole(caller, ["admin"], "reading the audit log");
    const limit = q.limit === undefined ? 50 : Number(q.limit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10000) throw new GatewayError("BAD_INPUT", `limit is 1 to 10000, got ${JSON.stringify(q.limit)}`);
    const tz = this.ctx.policy.timeZone;
    const since = q.since === undefined || q.since === "" ? undefined : parseTime(q.since, "since", tz);
    const until = q.until === undefined || q.until === "" ? undefined : parseEnd(q.until, "until", tz);
    if (since !== undefined && until !== undefined && !(until > since)) throw new GatewayError("BAD_WINDOW", "the period must end after it starts");
    return this.ctx.deps.audit.list({ actor: q.actor || undefined, action: q.action || undefined, target: q.target || undefined, since, until, limit });
  }

  /** What one account did to records (accesses, links, approvals, exports): entries of the audit log, so an admin's to read. */
  async custodyOfAccount(caller: Caller, account: string): Promise<(CustodyRow & { item: string })[]> {
    requireRole(caller, ["admin"], "reading an account's custody entries (the audit log)");
    return custodyOfAccount(this.ctx.db, account, this.ctx.policy.timeZone);
  }

  /** Recheck the whole log; `progress` hears how many entries of the total are checked, after each page. */
  async verify(caller: Caller, progress?: (done: number, total: number) => void): Promise<VerifyResult> {
    requireRole(caller, ["admin"], "verifying the audit log");
    return this.ctx.deps.audit.verify({ progress });
  }

  head(): Promise<AuditHead> {
    return this.ctx.deps.audit.head();
  }
}
