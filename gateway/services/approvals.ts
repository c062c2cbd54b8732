// Approvals (DESIGN.md section 2: viewing beyond one's scope and every release outside the station
// need an approval by level). A request names what (items, or a case's recordings at the time of
// the request), why, and for how long; an account entitled to decide approves or denies it with a
// reason; an approval is a grant to the requester, limited to those items and until a time. The
// rules are checked here once, whoever asks (CLI or API), and each change commits with its audit
// entry in one transaction.
//
// Who decides: a release (kind "export") only an account the admin designated as a release
// approver; a view beyond one's scope (kind "view") a supervisor whose unit subtree holds every
// item. Never the requester.
import type { Db } from "../store/db.js";
import type { AuditLog } from "../audit/log.js";
import type { Model } from "../model/model.js";
import { reasonProblem } from "../../protocol/text.js";
import * as store from "../store/approvals.js";
import type { ApprovalKind, ApprovalRow } from "../store/approvals.js";
import type { Approval } from "../../protocol/gateway-api.js";
import { accountByName, caseRecordings, recordingForExport } from "../store/export.js";

export class ApprovalError extends Error {
  constructor(public code: string, message: string) {
    super(message);
    this.name = "ApprovalError";
  }
}

/** Who acts: an account with its role and, for supervisors, the officer record that gives its unit. */
export interface Actor { name: string; role: string; officer_badge: string | null }

/** A recording an approval names. */
export type Item = Approval["items"][number];

export type { Approval };

/** Longest a grant may last: a release is done within days, not kept open. */
export const MAX_GRANT_HOURS = 24 * 30;
export const DEFAULT_GRANT_HOURS = 72;

const toApproval = (r: ApprovalRow): Approval => ({
  id: r.id, kind: r.kind, requester: r.requester, reason: r.reason, caseNumber: r.case_number,
  items: (JSON.parse(r.items) as [string, number][]).map(([device, recording]) => ({ device, recording })),
  hours: r.hours, requestedAt: r.requested_at, state: r.state, decidedBy: r.decided_by, decidedAt: r.decided_at,
  decisionReason: r.decision_reason, validUntil: r.valid_until,
});

function reasonOf(r: unknown): string {
  const p = reasonProblem(r);
  if (p) throw new ApprovalError(p.code, `a request or decision ${p.why}`);
  return (r as string).trim();
}

function hoursOf(h: unknown): number {
  const n = h === undefined ? DEFAULT_GRANT_HOURS : h;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_GRANT_HOURS) throw new ApprovalError("BAD_HOURS", `a grant lasts 1 to ${MAX_GRANT_HOURS} hours, got ${String(h)}`);
  return n;
}

const key = (i: Item) => `${i.device}/${i.recording}`;

export class Approvals {
  constructor(private db: Db, private audit: AuditLog, private model: Model, private now: () => number = Date.now) {}

  private async inTx<T>(fn: () => Promise<T>): Promise<T> {
    const r = await this.db.transaction(fn);
    await this.audit.checkpoint();
    return r;
  }

  /** Ask for a grant: `items`, or the recordings `caseNumber` links now. */
  async request(by: Actor, r: { kind: ApprovalKind; items?: Item[]; caseNumber?: string; reason: string; hours?: number }): Promise<Approval> {
    if (r.kind !== "export" && r.kind !== "view") throw new ApprovalError("BAD_KIND", "an approval is for an export (a release outside) or a view beyond your scope");
    const reason = reasonOf(r.reason);
    const hours = hoursOf(r.hours);
    let items: Item[];
    if (r.caseNumber !== undefined) {
      await this.model.getCase(r.caseNumber);
      items = (await caseRecordings(this.db, r.caseNumber)).map((x) => ({ device: x.device_id, recording: x.recording_id }));
      if (!items.length) throw new ApprovalError("CASE_EMPTY", `case ${r.caseNumber} links no recording`);
    } else {
      items = r.items ?? [];
      if (!items.length) throw new ApprovalError("NO_ITEMS", "name the recordings (DEVICE/N) or a case");
      for (const i of items) if (!(await recordingForExport(this.db, i.device, i.recording))) throw new ApprovalError("UNKNOWN_RECORDING", `no recording ${key(i)}`);
    }
    const sorted = [...new Map(items.map((i) => [key(i), i])).values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.recording - b.recording));
    const at = this.now();
    const id = await this.inTx(async () => {
      const id = await store.insertRequest(this.db, { kind: r.kind, requester: by.name, reason, caseNumber: r.caseNumber ?? null, items: JSON.stringify(sorted.map((i) => [i.device, i.recording])), hours, at });
      await this.audit.appendInTransaction({ actor: by.name, action: "approval.request", target: `approval:${id}`, reason, details: { kind: r.kind, case: r.caseNumber ?? null, items: sorted.map(key), hours } });
      return id;
    });
    return this.get(id);
  }

  async get(id: number): Promise<Approval> {
    const r = await store.approval(this.db, id);
    if (!r) throw new ApprovalError("UNKNOWN_APPROVAL", `no approval request ${id}`);
    return toApproval(r);
  }

  /** The queue: pending requests (or all), newest first. */
  async list(f: { state?: store.ApprovalState; requester?: string } = {}): Promise<Approval[]> {
    return (await store.listApprovals(this.db, f)).map(toApproval);
  }

  /**
   * The requests `by` may see: an admin every one; anyone else their own and those they may decide
   * (a release approver the exports, a supervisor the views of their unit's subtree). Another
   * unit's requests, their records and reasons, are not theirs to read.
   */
  async listFor(by: Actor, f: { state?: store.ApprovalState } = {}): Promise<Approval[]> {
    const all = await this.list(f);
    if (by.role === "admin") return all;
    const mayDecide = await Promise.all(all.map((a) => a.requester === by.name || this.entitled(by, a).then(() => true, () => false)));
    return all.filter((_, i) => mayDecide[i]);
  }

  /** Whether `by` may decide `a`, and if not, why. */
  private async entitled(by: Actor, a: Approval): Promise<void> {
    if (by.name === a.requester) throw new ApprovalError("SELF_APPROVAL", "a request is decided by someone other than who asked");
    if (a.kind === "export") {
      if (!(await store.isReleaseApprover(this.db, by.name))) throw new ApprovalError("NOT_RELEASE_APPROVER", `${by.name} is not designated to approve releases (admin: approval approver add ${by.name})`);
      return;
    }
    if (by.role !== "supervisor" || !by.officer_badge) throw new ApprovalError("NOT_SUPERVISOR", "a view beyond one's scope is approved by a supervisor of the unit");
    const me = await this.model.officer(by.officer_badge);
    const scope = new Set((await this.model.subtree(me.unitId)).map((u) => u.id));
    for (const i of a.items) {
      const unit = await this.model.clipUnit(i.device, i.recording);
      if (unit === null || !scope.has(unit)) throw new ApprovalError("OUTSIDE_UNIT", `${key(i)} belongs to no unit under ${by.name}'s`);
    }
  }

  /** Approve a pending request: a grant until now + hours (the request's, or fewer). */
  async approve(by: Actor, id: number, reasonIn: string, hoursIn?: number): Promise<Approval> {
    const reason = reasonOf(reasonIn);
    const a = await this.get(id);
    if (a.state !== "pending") throw new ApprovalError("NOT_PENDING", `request ${id} was already ${a.state}`);
    await this.entitled(by, a);
    const hours = Math.min(a.hours, hoursIn === undefined ? a.hours : hoursOf(hoursIn));
    const at = this.now();
    const until = at + hours * 3600e3;
    await this.inTx(async () => {
      if (!(await store.decide(this.db, id, { state: "approved", by: by.name, at, reason, validUntil: until }))) throw new ApprovalError("NOT_PENDING", `request ${id} was decided meanwhile`);
      await this.audit.appendInTransaction({ actor: by.name, action: "approval.approve", target: `approval:${id}`, reason, details: { kind: a.kind, requester: a.requester, items: a.items.map(key), validUntil: until } });
    });
    return this.get(id);
  }

  async deny(by: Actor, id: number, reasonIn: string): Promise<Approval> {
    const reason = reasonOf(reasonIn);
    const a = await this.get(id);
    if (a.state !== "pending") throw new ApprovalError("NOT_PENDING", `request ${id} was already ${a.state}`);
    await this.entitled(by, a);
    const at = this.now();
    await this.inTx(async () => {
      if (!(await store.decide(this.db, id, { state: "denied", by: by.name, at, reason, validUntil: null }))) throw new ApprovalError("NOT_PENDING", `request ${id} was decided meanwhile`);
      await this.audit.appendInTransaction({ actor: by.name, action: "approval.deny", target: `approval:${id}`, reason, details: { kind: a.kind, requester: a.requester, items: a.items.map(key) } });
    });
    return this.get(id);
  }

  /**
   * The grant that lets `by` do `kind` to every one of `items` now: an approved request of theirs
   * (the one named, or any) that covers them all and has not expired. Throws NO_GRANT,
   * GRANT_EXPIRED or GRANT_SCOPE with what is missing.
   */
  async grantFor(by: Actor, kind: ApprovalKind, items: Item[], id?: number): Promise<Approval> {
    const now = this.now();
    const want = items.map(key);
    const all = (await store.grantsOf(this.db, by.name, kind)).map(toApproval).filter((g) => id === undefined || g.id === id);
    if (!all.length) {
      if (id !== undefined) {
        const a = await store.approval(this.db, id);
        if (!a || a.requester !== by.name || a.kind !== kind) throw new ApprovalError("NO_GRANT", `approval ${id} is not a grant to ${by.name} for ${kind === "export" ? "an export" : "a view"}`);
        throw new ApprovalError("NO_GRANT", `approval ${id} is ${a.state}, not approved`);
      }
      throw new ApprovalError("NO_GRANT", `${kind === "export" ? "an export" : "this view"} needs an approved request (approval request --${kind} ...); ${by.name} holds none`);
    }
    const live = all.filter((g) => (g.validUntil ?? 0) > now);
    if (!live.length) throw new ApprovalError("GRANT_EXPIRED", `${by.name}'s grant${all.length > 1 ? "s" : ""} ${all.map((g) => g.id).join(", ")} expired at ${all.map((g) => new Date(g.validUntil ?? 0).toISOString()).join(", ")}`);
    for (const g of live) {
      const have = new Set(g.items.map(key));
      if (want.every((w) => have.has(w))) return g;
    }
    const best = live[0];
    const missing = want.filter((w) => !best.items.some((i) => key(i) === w));
    throw new ApprovalError("GRANT_SCOPE", `no live grant of ${by.name} covers ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}`);
  }

  /** Approvals naming one recording (its custody report). */
  async about(device: string, recording: number): Promise<Approval[]> {
    return (await store.approvalsFor(this.db, device, recording)).map(toApproval).filter((a) => a.items.some((i) => i.device === device && i.recording === recording));
  }

  /** Designate an account to approve releases (admin only). */
  async addReleaseApprover(by: Actor, account: string, reasonIn: string): Promise<void> {
    if (by.role !== "admin") throw new ApprovalError("ROLE_FORBIDDEN", "only an admin designates release approvers");
    const reason = reasonOf(reasonIn);
    await this.inTx(async () => {
      if (!(await accountByName(this.db, account))) throw new ApprovalError("UNKNOWN_ACCOUNT", `no active account ${account}`);
      // Designated once: a second designation would audit a change that is none.
      if (!(await store.addReleaseApprover(this.db, account, by.name, this.now()))) throw new ApprovalError("ALREADY_APPROVER", `${account} is already a release approver`);
      await this.audit.appendInTransaction({ actor: by.name, action: "approver.add", target: account, reason });
    });
  }

  async removeReleaseApprover(by: Actor, account: string, reasonIn: string): Promise<boolean> {
    if (by.role !== "admin") throw new ApprovalError("ROLE_FORBIDDEN", "only an admin designates release approvers");
    const reason = reasonOf(reasonIn);
    return this.inTx(async () => {
      const gone = await store.removeReleaseApprover(this.db, account);
      if (gone) await this.audit.appendInTransaction({ actor: by.name, action: "approver.remove", target: account, reason });
      return gone;
    });
  }

  releaseApprovers(): ReturnType<typeof store.releaseApprovers> {
    return store.releaseApprovers(this.db);
  }
}
