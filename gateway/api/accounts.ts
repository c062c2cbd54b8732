// Accounts and API tokens (RULES.md §2, confidentiality and access): roles admin, supervisor,
// legal_reviewer, officer; tokens shown once and stored only as their SHA-256.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import type { Db } from "../store/db.js";
import type { MigrationSet } from "../store/schema.js";

export const ROLES = ["admin", "supervisor", "legal_reviewer", "officer"] as const;
export type Role = (typeof ROLES)[number];

export const ACCOUNT_MIGRATIONS: MigrationSet = {
  name: "accounts",
  steps: [
    `CREATE TABLE accounts (
       name TEXT PRIMARY KEY,
       role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'legal_reviewer', 'officer')),
       officer_badge TEXT,
       created_at INTEGER NOT NULL,
       disabled_at INTEGER
     );
     CREATE TABLE tokens (
       hash TEXT PRIMARY KEY,
       account TEXT NOT NULL REFERENCES accounts(name),
       created_at INTEGER NOT NULL,
       revoked_at INTEGER
     );`,
  ],
};

export interface Account { name: string; role: Role; officer_badge: string | null }

export class AccountError extends Error {
  constructor(public code: string, message: string) {
    super(message);
  }
}

const hashToken = (t: string) => createHash("sha256").update(t).digest("hex");

export class Accounts {
  constructor(private db: Db) {}

  async create(name: string, role: Role, officerBadge?: string): Promise<void> {
    if (!/^[a-z0-9._-]{2,40}$/i.test(name)) throw new AccountError("BAD_ACCOUNT_NAME", "account names are 2-40 characters of letters, digits . _ -");
    if (!ROLES.includes(role)) throw new AccountError("BAD_ROLE", `role must be one of ${ROLES.join(", ")}`);
    if (role === "officer" && !officerBadge) throw new AccountError("BADGE_REQUIRED", "an officer account is tied to an officer's badge number");
    if (await this.db.get("SELECT 1 FROM accounts WHERE name = ?", [name])) throw new AccountError("ACCOUNT_EXISTS", `account ${name} exists`);
    await this.db.run("INSERT INTO accounts (name, role, officer_badge, created_at) VALUES (?, ?, ?, ?)", [name, role, officerBadge || null, Date.now()]);
  }

  /** A new token for an account; the caller shows it once, only its hash is kept. */
  async issueToken(name: string): Promise<string> {
    if (!(await this.db.get("SELECT 1 FROM accounts WHERE name = ? AND disabled_at IS NULL", [name]))) throw new AccountError("UNKNOWN_ACCOUNT", `no active account ${name}`);
    const token = "evr_" + randomBytes(24).toString("base64url");
    await this.db.run("INSERT INTO tokens (hash, account, created_at) VALUES (?, ?, ?)", [hashToken(token), name, Date.now()]);
    return token;
  }

  /** The account a token belongs to, or null. */
  async byToken(token: string): Promise<Account | null> {
    const row = await this.db.get<Account>(
      "SELECT a.name, a.role, a.officer_badge FROM tokens t JOIN accounts a ON a.name = t.account WHERE t.hash = ? AND t.revoked_at IS NULL AND a.disabled_at IS NULL",
      [hashToken(token)]);
    return row || null;
  }

  async list(): Promise<(Account & { created_at: number })[]> {
    return this.db.all("SELECT name, role, officer_badge, created_at FROM accounts ORDER BY name");
  }

  /**
   * First start (RULES.md §3, bootstrap): create the admin account and write its token
   * to `tokenFile` (mode 0600). Returns true when it did.
   */
  async bootstrap(tokenFile: string): Promise<boolean> {
    const any = await this.db.get("SELECT 1 FROM accounts WHERE role = 'admin'");
    if (any) return false;
    if (existsSync(tokenFile)) throw new AccountError("TOKEN_FILE_EXISTS", `${tokenFile} exists but the database has no admin: refusing to overwrite it`);
    await this.create("admin", "admin");
    writeFileSync(tokenFile, (await this.issueToken("admin")) + "\n", { mode: 0o600, flag: "wx" });
    return true;
  }
}
