// Accounts and tokens: who may act, proved by a token; made, disabled and revoked by an admin.
import { createHash } from "node:crypto";
import type { Caller, ServiceContext } from "./context.js";
import { reasonOf, requireRole } from "./context.js";
import { GatewayError } from "../errors.js";
import { ROLES } from "../api/accounts.js";
import type { Role } from "../api/accounts.js";
import * as store from "../store/accounts.js";
import { isoLocal } from "./time.js";

const hashToken = (t: string) => createHash("sha256").update(t).digest("hex");

export class AccountService {
  constructor(private ctx: ServiceContext) {}

  /** The caller a token proves, or AUTH_BAD_TOKEN (unknown, revoked, or its account disabled). */
  async authenticate(token: unknown): Promise<Caller> {
    if (typeof token !== "string" || !token.trim()) throw new GatewayError("AUTH_REQUIRED", "send a token: Authorization: Bearer <token> (the CLI reads the admin token file, or --token-file)");
    const a = await store.accountByTokenHash(this.ctx.db, hashToken(token.trim()));
    if (!a) throw new GatewayError("AUTH_BAD_TOKEN", "unknown or revoked token, or its account is disabled");
    return { name: a.name, role: a.role as Role, officerBadge: a.officer_badge };
  }

  /**
   * Make an account (admin). Every role but admin is tied to an officer record, whose unit is the
   * account's scope: an account with no unit could list nothing it may retrieve.
   */
  async add(caller: Caller, nameIn: unknown, roleIn: unknown, badgeIn?: unknown): Promise<{ name: string; role: Role; officerBadge: string | null }> {
    requireRole(caller, ["admin"], "making an account");
    const name = typeof nameIn === "string" ? nameIn : "";
    if (!/^[a-z0-9._-]{2,40}$/i.test(name)) throw new GatewayError("BAD_ACCOUNT_NAME", "account names are 2-40 characters of letters, digits . _ -");
    const role = roleIn as Role;
    if (!ROLES.includes(role)) throw new GatewayError("BAD_ROLE", `role must be one of ${ROLES.join(", ")}, got ${JSON.stringify(roleIn)}`);
    const badge = badgeIn === undefined || badgeIn === null || badgeIn === "" ? null : String(badgeIn);
    if (role !== "admin" && !badge) throw new GatewayError("BADGE_REQUIRED", `a ${role} account is tied to an officer's badge (--badge), whose unit is its scope`);
    return this.ctx.change(caller, async () => {
      if (badge) await this.ctx.model.officer(badge);
      if (await store.accountExists(this.ctx.db, name)) throw new GatewayError("ACCOUNT_EXISTS", `account ${name} exists`);
      await store.insertAccount(this.ctx.db, name, role, badge, this.ctx.now());
      return { result: { name, role, officerBadge: badge }, audit: { action: "account.add", target: name, details: { role, badge } } };
    });
  }

  async list(caller: Caller): Promise<{ name: string; role: string; officerBadge: string | null; createdAt: number; disabledAt: number | null; liveTokens: number }[]> {
    requireRole(caller, ["admin"], "listing accounts");
    const live = new Map((await store.liveTokenCounts(this.ctx.db)).map((r) => [r.account, r.n]));
    return (await store.listAccounts(this.ctx.db)).map((a) => ({ name: a.name, role: a.role, officerBadge: a.officer_badge, createdAt: a.created_at, disabledAt: a.disabled_at, liveTokens: live.get(a.name) ?? 0 }));
  }

  /** A new token for an account (admin, or the account itself); shown once, only its hash kept. */
  async issueToken(caller: Caller, nameIn: unknown): Promise<string> {
    const name = String(nameIn ?? "");
    if (name !== caller.name) requireRole(caller, ["admin"], "issuing a token for another account");
    return this.ctx.change(caller, async () => {
      const acc = await store.getAccount(this.ctx.db, name);
      if (!acc) throw new GatewayError("UNKNOWN_ACCOUNT", `no account ${name}`);
      if (acc.disabled_at !== null) throw new GatewayError("ACCOUNT_DISABLED", `account ${name} is disabled`);
      const token = "evr_" + (await import("node:crypto")).randomBytes(24).toString("base64url");
      await store.insertToken(this.ctx.db, hashToken(token), name, this.ctx.now());
      return { result: token, audit: { action: "token.issue", target: name } };
    });
  }

  /** Revoke every token of an account (admin, or the account itself), with a reason. */
  async revokeTokens(caller: Caller, nameIn: unknown, reasonIn: unknown): Promise<{ name: string; revoked: number }> {
    const name = String(nameIn ?? "");
    if (name !== caller.name) requireRole(caller, ["admin"], "revoking another account's tokens");
    const reason = reasonOf(reasonIn, "revoking tokens");
    return this.ctx.change(caller, async () => {
      if (!(await store.accountExists(this.ctx.db, name))) throw new GatewayError("UNKNOWN_ACCOUNT", `no account ${name}`);
      const n = await store.revokeTokens(this.ctx.db, name, this.ctx.now());
      return { result: { name, revoked: n }, audit: { action: "token.revoke", target: name, reason, details: { revoked: n } } };
    });
  }

  /** Disable (or enable again) an account (admin): its tokens stop working while it is disabled. The last admin stays. */
  async setDisabled(caller: Caller, nameIn: unknown, disabled: boolean, reasonIn: unknown): Promise<{ name: string; disabled: boolean }> {
    requireRole(caller, ["admin"], disabled ? "disabling an account" : "enabling an account");
    const name = String(nameIn ?? "");
    const reason = reasonOf(reasonIn, disabled ? "disabling an account" : "enabling an account");
    return this.ctx.change(caller, async () => {
      const acc = await store.getAccount(this.ctx.db, name);
      if (!acc) throw new GatewayError("UNKNOWN_ACCOUNT", `no account ${name}`);
      // Nothing to change: a second disable would write over the date it was disabled.
      if (disabled === (acc.disabled_at !== null)) throw new GatewayError("NO_CHANGE", `account ${name} is already ${disabled ? `disabled (since ${isoLocal(acc.disabled_at!, this.ctx.policy.timeZone)})` : "enabled"}`);
      if (disabled && acc.role === "admin") {
        const admins = (await store.listAccounts(this.ctx.db)).filter((a) => a.role === "admin" && a.disabled_at === null);
        if (admins.length <= 1) throw new GatewayError("LAST_ADMIN", `${name} is the last enabled admin account: make another first`);
      }
      await store.setAccountDisabled(this.ctx.db, name, disabled ? this.ctx.now() : null);
      return { result: { name, disabled }, audit: { action: disabled ? "account.disable" : "account.enable", target: name, reason } };
    });
  }
}
