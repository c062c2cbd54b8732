// Accounts and their API tokens (only the tokens' SHA-256 is kept).
import type { Db } from "./db.js";

export interface AccountRow { name: string; role: string; officer_badge: string | null; created_at: number; disabled_at: number | null }

export async function accountExists(db: Db, name: string): Promise<boolean> {
  return !!(await db.get("SELECT 1 FROM accounts WHERE name = ?", [name]));
}

export function getAccount(db: Db, name: string): Promise<AccountRow | undefined> {
  return db.get<AccountRow>("SELECT name, role, officer_badge, created_at, disabled_at FROM accounts WHERE name = ?", [name]);
}

export async function insertAccount(db: Db, name: string, role: string, badge: string | null, at: number): Promise<void> {
  await db.run("INSERT INTO accounts (name, role, officer_badge, created_at) VALUES (?, ?, ?, ?)", [name, role, badge, at]);
}

export async function setAccountDisabled(db: Db, name: string, at: number | null): Promise<void> {
  await db.run("UPDATE accounts SET disabled_at = ? WHERE name = ?", [at, name]);
}

export async function anyAdmin(db: Db): Promise<boolean> {
  return !!(await db.get("SELECT 1 FROM accounts WHERE role = 'admin'"));
}

export async function insertToken(db: Db, hash: string, account: string, at: number): Promise<void> {
  await db.run("INSERT INTO tokens (hash, account, created_at) VALUES (?, ?, ?)", [hash, account, at]);
}

/** Revoke every live token of an account; returns how many. */
export async function revokeTokens(db: Db, account: string, at: number): Promise<number> {
  return (await db.run("UPDATE tokens SET revoked_at = ? WHERE account = ? AND revoked_at IS NULL", [at, account])).changes;
}

/** Revoke one token by its hash (an account's own, or any for an admin); returns whether it was live. */
export async function revokeToken(db: Db, hash: string, at: number): Promise<boolean> {
  return (await db.run("UPDATE tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL", [at, hash])).changes > 0;
}

/** The live account a token hash belongs to. */
export function accountByTokenHash(db: Db, hash: string): Promise<{ name: string; role: string; officer_badge: string | null } | undefined> {
  return db.get("SELECT a.name, a.role, a.officer_badge FROM tokens t JOIN accounts a ON a.name = t.account WHERE t.hash = ? AND t.revoked_at IS NULL AND a.disabled_at IS NULL", [hash]);
}

export function listAccounts(db: Db): Promise<AccountRow[]> {
  return db.all<AccountRow>("SELECT name, role, officer_badge, created_at, disabled_at FROM accounts ORDER BY name");
}

/** Live tokens per account. */
export function liveTokenCounts(db: Db): Promise<{ account: string; n: number }[]> {
  return db.all("SELECT account, COUNT(*) AS n FROM tokens WHERE revoked_at IS NULL GROUP BY account");
}

/** An account's password hash (null: none set, so it can't sign in to the console). */
export async function passwordHash(db: Db, name: string): Promise<{ password_hash: string | null; role: string; officer_badge: string | null; disabled_at: number | null } | undefined> {
  return db.get("SELECT password_hash, role, officer_badge, disabled_at FROM accounts WHERE name = ?", [name]);
}

export async function setPasswordHash(db: Db, name: string, hash: string): Promise<void> {
  await db.run("UPDATE accounts SET password_hash = ? WHERE name = ?", [hash, name]);
}

export async function insertSession(db: Db, hash: string, account: string, csrf: string, at: number): Promise<void> {
  await db.run("INSERT INTO sessions (hash, account, csrf, created_at, last_used) VALUES (?, ?, ?, ?, ?)", [hash, account, csrf, at, at]);
}

/** A live session by its hash, with its account (none when ended or the account is disabled). */
export function sessionByHash(db: Db, hash: string): Promise<{ account: string; role: string; officer_badge: string | null; csrf: string; created_at: number; last_used: number } | undefined> {
  return db.get("SELECT s.account, a.role, a.officer_badge, s.csrf, s.created_at, s.last_used FROM sessions s JOIN accounts a ON a.name = s.account WHERE s.hash = ? AND s.ended_at IS NULL AND a.disabled_at IS NULL", [hash]);
}

export async function touchSession(db: Db, hash: string, at: number): Promise<void> {
  await db.run("UPDATE sessions SET last_used = ? WHERE hash = ?", [at, hash]);
}

/** End one session; returns whether it was live. */
export async function endSession(db: Db, hash: string, at: number): Promise<boolean> {
  return (await db.run("UPDATE sessions SET ended_at = ? WHERE hash = ? AND ended_at IS NULL", [at, hash])).changes > 0;
}

/** End every live session of an account (a new password, a disabled account); returns how many. */
export async function endSessions(db: Db, account: string, at: number): Promise<number> {
  return (await db.run("UPDATE sessions SET ended_at = ? WHERE account = ? AND ended_at IS NULL", [at, account])).changes;
}
