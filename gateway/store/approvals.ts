// Approvals' tables and every statement on them (gateway/services/approvals.ts): requests to
// view beyond one's scope or to release records outside the station, their decisions, and the
// accounts designated to approve releases.
import type { Db } from "./db.js";
import type { ApprovalKind, ApprovalState } from "../../protocol/gateway-api.js";
import type { MigrationSet } from "./schema.js";

export const APPROVAL_MIGRATIONS: MigrationSet = {
  name: "approvals",
  steps: [
    `CREATE TABLE approvals (
       id INTEGER PRIMARY KEY,
       kind TEXT NOT NULL CHECK (kind IN ('export', 'view')),
       requester TEXT NOT NULL,
       reason TEXT NOT NULL,
       case_number TEXT,
       items TEXT NOT NULL,
       hours INTEGER NOT NULL CHECK (hours > 0),
       requested_at INTEGER NOT NULL,
       state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied')),
       decided_by TEXT,
       decided_at INTEGER,
       decision_reason TEXT,
       valid_until INTEGER
     );
     CREATE INDEX approvals_requester ON approvals (requester, state);
     CREATE INDEX approvals_state ON approvals (state, id);
     CREATE TABLE release_approvers (
       account TEXT PRIMARY KEY,
       added_by TEXT NOT NULL,
       added_at INTEGER NOT NULL
     );`,
  ],
};

export type { ApprovalKind, ApprovalState };

export interface ApprovalRow {
  id: number;
  kind: ApprovalKind;
  requester: string;
  reason: string;
  case_number: string | null;
  /** JSON: [["DEVICE", N], ...] in (device, recording) order. */
  items: string;
  hours: number;
  requested_at: number;
  state: ApprovalState;
  decided_by: string | null;
  decided_at: number | null;
  decision_reason: string | null;
  valid_until: number | null;
}

const COLS = "id, kind, requester, reason, case_number, items, hours, requested_at, state, decided_by, decided_at, decision_reason, valid_until";

export async function insertRequest(db: Db, r: { kind: ApprovalKind; requester: string; reason: string; caseNumber: string | null; items: string; hours: number; at: number }): Promise<number> {
  return (await db.get<{ id: number }>("INSERT INTO approvals (kind, requester, reason, case_number, items, hours, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    [r.kind, r.requester, r.reason, r.caseNumber, r.items, r.hours, r.at]))!.id;
}

export async function approval(db: Db, id: number): Promise<ApprovalRow | undefined> {
  return db.get<ApprovalRow>(`SELECT ${COLS} FROM approvals WHERE id = ?`, [id]);
}

/** Decide a pending request; false when it was no longer pending. */
export async function decide(db: Db, id: number, d: { state: "approved" | "denied"; by: string; at: number; reason: string; validUntil: number | null }): Promise<boolean> {
  const r = await db.run("UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, decision_reason = ?, valid_until = ? WHERE id = ? AND state = 'pending'",
    [d.state, d.by, d.at, d.reason, d.validUntil, id]);
  return r.changes === 1;
}

export async function listApprovals(db: Db, f: { state?: ApprovalState; requester?: string; limit?: number } = {}): Promise<ApprovalRow[]> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (f.state) { where.push("state = ?"); params.push(f.state); }
  if (f.requester) { where.push("requester = ?"); params.push(f.requester); }
  params.push(f.limit ?? 500);
  return db.all<ApprovalRow>(`SELECT ${COLS} FROM approvals${where.length ? " WHERE " + where.join(" AND ") : ""} ORDER BY id DESC LIMIT ?`, params);
}

/** Approved grants of an account for one kind, newest first. */
export async function grantsOf(db: Db, requester: string, kind: ApprovalKind): Promise<ApprovalRow[]> {
  return db.all<ApprovalRow>(`SELECT ${COLS} FROM approvals WHERE requester = ? AND kind = ? AND state = 'approved' ORDER BY id DESC`, [requester, kind]);
}

/** Approvals naming one item, oldest first (its custody report). */
export async function approvalsFor(db: Db, device: string, recording: number): Promise<ApprovalRow[]> {
  const needle = `%${JSON.stringify([device, recording])}%`;
  return db.all<ApprovalRow>(`SELECT ${COLS} FROM approvals WHERE items LIKE ? ORDER BY id`, [needle]);
}

export async function isReleaseApprover(db: Db, account: string): Promise<boolean> {
  return !!(await db.get("SELECT 1 FROM release_approvers WHERE account = ?", [account]));
}

export async function addReleaseApprover(db: Db, account: string, by: string, at: number): Promise<boolean> {
  return (await db.run("INSERT INTO release_approvers (account, added_by, added_at) VALUES (?, ?, ?) ON CONFLICT (account) DO NOTHING", [account, by, at])).changes === 1;
}

export async function removeReleaseApprover(db: Db, account: string): Promise<boolean> {
  return (await db.run("DELETE FROM release_approvers WHERE account = ?", [account])).changes === 1;
}

export async function releaseApprovers(db: Db): Promise<{ account: string; added_by: string; added_at: number }[]> {
  return db.all("SELECT account, added_by, added_at FROM release_approvers ORDER BY account");
}
