// The audit log's rows (audit/log.ts computes and checks the hash chain over them).
import type { Db } from "./db.js";
import type { AuditEntryFields } from "../../protocol/audit-entry.js";

export type AuditRowStored = AuditEntryFields & { hash: string };
const COLUMNS = "seq, at, actor, action, target, reason, details, prev, hash";

export function auditTail(db: Db): Promise<{ seq: number; hash: string } | undefined> {
  return db.get<{ seq: number; hash: string }>("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
}

export async function insertAuditRow(db: Db, r: AuditRowStored): Promise<void> {
  await db.run(`INSERT INTO audit_log (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [r.seq, r.at, r.actor, r.action, r.target, r.reason, r.details, r.prev, r.hash]);
}

/** Rows after seq, in order, a page at a time (verify). */
export function auditPage(db: Db, afterSeq: number, limit: number): Promise<AuditRowStored[]> {
  return db.all<AuditRowStored>(`SELECT ${COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, [afterSeq, limit]);
}

/** Rows matching every given filter, newest first. */
export function auditQuery(db: Db, q: { actor?: string; action?: string; target?: string; since?: number; until?: number; limit?: number }): Promise<AuditRowStored[]> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (q.actor !== undefined) { where.push("actor = ?"); params.push(q.actor); }
  if (q.action !== undefined) { where.push("action = ?"); params.push(q.action); }
  if (q.target !== undefined) { where.push("target = ?"); params.push(q.target); }
  if (q.since !== undefined) { where.push("at >= ?"); params.push(q.since); }
  if (q.until !== undefined) { where.push("at < ?"); params.push(q.until); }
  let sql = `SELECT ${COLUMNS} FROM audit_log` + (where.length ? " WHERE " + where.join(" AND ") : "") + " ORDER BY seq DESC";
  if (q.limit !== undefined) { sql += " LIMIT ?"; params.push(q.limit); }
  return db.all<AuditRowStored>(sql, params);
}
