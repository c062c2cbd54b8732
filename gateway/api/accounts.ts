// Accounts and API tokens (RULES.md §2, confidentiality and access): roles admin, supervisor,
// legal_reviewer, officer; tokens shown once and stored only as their SHA-256.
import { GatewayError } from "../errors.js";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import type { Db } from "../store/db.js";
import * as store from "../store/accounts.js";

export const ROLES = ["admin", "supervisor", "legal_reviewer", "officer"] as const;
export type Role = (typeof ROLES)[number];


export interface Account { name: string; role: Role; officer_badge: string | null }

export class AccountError extends GatewayError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = "AccountError";
  }
}

const hashToken = (t: string) => createHash("sha256").update(t).digest("hex");

export class Accounts {
  constructor(private db: Db) {}

  async create(name: string, role: Role, officerBadge?: string): Promise<void> {
    if (!/^[a-z0-9._-]{2,40}$/i.test(name)) throw new AccountError("BAD_ACCOUNT_NAME", "account names are 2-40 characters of letters, digits . _ -");
    if (!ROLES.includes(role)) throw new AccountError("BAD_ROLE", `role must be one of ${ROLES.join(", ")}`);
    if (role === "officer" && !officerBadge) throw new AccountError("BADGE_REQUIRED", "an officer account is tied to an officer's badge number");
    if (await store.accountExists(this.db, name)) throw new AccountError("ACCOUNT_EXISTS", `account ${name} exists`);
    await store.insertAccount(this.db, name, role, officerBadge || null, Date.now());
  }

  /** A new token for an account; the caller shows it once, only its hash is kept. */
  async issueToken(name: string): Promise<string> {
    const acc = await store.getAccount(this.db, name);
    if (!acc || acc.disabled_at !== null) throw new AccountError("UNKNOWN_ACCOUNT", `no active account ${name}`);
    const token = "evr_" + randomBytes(24).toString("base64url");
    await store.insertToken(this.db, hashToken(token), name, Date.now());
    return token;
  }

  /** The account a token belongs to, or null. */
  async byToken(token: string): Promise<Account | null> {
    const row = (await store.accountByTokenHash(this.db, hashToken(token))) as Account | undefined;
    return row || null;
  }

  async list(): Promise<(Account & { created_at: number })[]> {
    return (await store.listAccounts(this.db)).map((a) => ({ name: a.name, role: a.role as Role, officer_badge: a.officer_badge, created_at: a.created_at }));
  }

  /**
   * First start (RULES.md §3, bootstrap): create the admin account and write its token
   * to `tokenFile` (mode 0600). Returns true when it did.
   */
  async bootstrap(tokenFile: string): Promise<boolean> {
    const any = await store.anyAdmin(this.db);
    if (any) return false;
    if (existsSync(tokenFile)) throw new AccountError("TOKEN_FILE_EXISTS", `${tokenFile} exists but the database has no admin: refusing to overwrite it`);
    await this.create("admin", "admin");
    writeFileSync(tokenFile, (await this.issueToken("admin")) + "\n", { mode: 0o600, flag: "wx" });
    return true;
  }
}
