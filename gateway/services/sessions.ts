// The console's sign-in: passwords kept as scrypt hashes, sessions proved by a cookie whose value is
// kept only as its SHA-256, a token against cross-site forgery per session, and failed sign-ins
// counted per account name and per address, refused for a while past a limit, and audited.
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import type { Caller, ServiceContext } from "./context.js";
import { requireRole } from "./context.js";
import { GatewayError } from "../errors.js";
import type { Role } from "../api/accounts.js";
import * as store from "../store/accounts.js";

/** scrypt's cost: N = 2^15, r = 8, p = 1 (about 32 MiB and tens of milliseconds a try). */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 };
/** A session ends after this long unused, and after this long whatever happens. */
export const SESSION_IDLE_MS = 30 * 60e3;
export const SESSION_MAX_MS = 12 * 3600e3;
/** Failed sign-ins within the window before further tries are refused: per account name, per address. */
export const SIGNIN_WINDOW_MS = 15 * 60e3;
export const SIGNIN_MAX_PER_NAME = 5;
export const SIGNIN_MAX_PER_ADDRESS = 20;
/** Who the audit log names for a sign-in that proved no account. */
export const ANONYMOUS = "(sign-in)";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

function scryptAsync(password: string, salt: Buffer, p: { N: number; r: number; p: number; keylen: number }): Promise<Buffer> {
  return new Promise((res, rej) => scrypt(password.normalize("NFC"), salt, p.keylen, { N: p.N, r: p.r, p: p.p, maxmem: SCRYPT.maxmem }, (e, k) => (e ? rej(e) : res(k))));
}

/** A password as stored: `scrypt$N$r$p$salt$hash` (base64url), so the cost can rise later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const k = await scryptAsync(password, salt, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64url")}$${k.toString("base64url")}`;
}

/** Does `password` match a stored hash? Compared in constant time; false for a malformed one. */
export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (!m) return false;
  const want = Buffer.from(m[5], "base64url");
  const got = await scryptAsync(password, Buffer.from(m[4], "base64url"), { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]), keylen: want.length });
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A password a person chooses: 10 to 200 characters, not all one character, not the account's name. */
export function passwordOf(v: unknown, name: string): string {
  if (typeof v !== "string" || v.length < 10) throw new GatewayError("WEAK_PASSWORD", "a password is at least 10 characters");
  if (v.length > 200) throw new GatewayError("WEAK_PASSWORD", "a password is at most 200 characters");
  if (new Set(v).size < 4 || v.toLowerCase().includes(name.toLowerCase())) throw new GatewayError("WEAK_PASSWORD", "a password needs at least 4 different characters and must not contain the account's name");
  return v;
}

export interface Session { caller: Caller; csrf: string }

/** Sign-in failures in the window, by key. */
class Failures {
  private m = new Map<string, number[]>();
  count(key: string, now: number): number {
    const t = (this.m.get(key) ?? []).filter((x) => now - x < SIGNIN_WINDOW_MS);
    if (t.length) this.m.set(key, t);
    else this.m.delete(key);
    return t.length;
  }
  /** When the oldest failure in the window leaves it. */
  freeAt(key: string): number {
    return (this.m.get(key) ?? [0])[0] + SIGNIN_WINDOW_MS;
  }
  add(key: string, now: number): void {
    const t = this.m.get(key) ?? [];
    t.push(now);
    this.m.set(key, t);
    // Bounded: a flood of made-up names can't grow this without end.
    if (this.m.size > 10000) this.m.delete(this.m.keys().next().value!);
  }
  clear(key: string): void { this.m.delete(key); }
}

export class SessionService {
  private failures = new Failures();
  /** Locks already audited (one entry per lock, not one per refused try). */
  private lockNoted = new Set<string>();
  /** A hash to check against when the account does not exist, so both take the same time. */
  private dummy: Promise<string> | null = null;

  constructor(private ctx: ServiceContext) {}

  /** Set an account's password (admin, or the account itself); every session it had ends. Audited, the password never. */
  async setPassword(caller: Caller, nameIn: unknown, passwordIn: unknown): Promise<{ name: string; sessionsEnded: number }> {
    const name = String(nameIn ?? "");
    if (name !== caller.name) requireRole(caller, ["admin"], "setting another account's password");
    const password = passwordOf(passwordIn, name);
    const hash = await hashPassword(password);
    return this.ctx.change(caller, async () => {
      const acc = await store.getAccount(this.ctx.db, name);
      if (!acc) throw new GatewayError("UNKNOWN_ACCOUNT", `no account ${name}`);
      await store.setPasswordHash(this.ctx.db, name, hash);
      const ended = await store.endSessions(this.ctx.db, name, this.ctx.now());
      return { result: { name, sessionsEnded: ended }, audit: { action: "account.password", target: name, details: { sessionsEnded: ended } } };
    });
  }

  /**
   * Sign in with a name and a password from `address`: a new session (its cookie value, shown once,
   * and its anti-forgery token), or SIGNIN_FAILED (the same for an unknown name, a wrong password, a
   * disabled account or one with no password), or SIGNIN_LOCKED past the limits. Each is audited.
   */
  async signIn(nameIn: unknown, passwordIn: unknown, address: string): Promise<{ cookie: string; session: Session }> {
    const now = this.ctx.now();
    const name = typeof nameIn === "string" ? nameIn.trim().slice(0, 40) : "";
    const password = typeof passwordIn === "string" ? passwordIn.slice(0, 200) : "";
    if (!name || !password) throw new GatewayError("SIGNIN_FAILED", "give an account name and its password");
    const byName = `n:${name.toLowerCase()}`, byAddr = `a:${address}`;
    if (this.failures.count(byName, now) >= SIGNIN_MAX_PER_NAME || this.failures.count(byAddr, now) >= SIGNIN_MAX_PER_ADDRESS) {
      const key = this.failures.count(byName, now) >= SIGNIN_MAX_PER_NAME ? byName : byAddr;
      const wait = Math.max(1, Math.ceil((this.failures.freeAt(key) - now) / 60e3));
      if (!this.lockNoted.has(key)) {
        this.lockNoted.add(key);
        await this.ctx.deps.audit.append({ actor: ANONYMOUS, action: "signin.locked", target: name, details: { address, by: key.startsWith("n:") ? "name" : "address" } });
      }
      throw new GatewayError("SIGNIN_LOCKED", `too many failed sign-ins: try again in ${wait} minute${wait === 1 ? "" : "s"}`);
    }
    const acc = await store.passwordHash(this.ctx.db, name);
    const stored = acc?.password_hash ?? (await (this.dummy ??= hashPassword(randomBytes(16).toString("hex"))));
    const ok = (await checkPassword(password, stored)) && !!acc && acc.password_hash !== null && acc.disabled_at === null;
    if (!ok || !acc) {
      this.failures.add(byName, now);
      this.failures.add(byAddr, now);
      await this.ctx.deps.audit.append({ actor: ANONYMOUS, action: "signin.failed", target: name, details: { address } });
      throw new GatewayError("SIGNIN_FAILED", "wrong account name or password (or the account is disabled, or has no password: ask an admin)");
    }
    this.failures.clear(byName);
    this.lockNoted.delete(byName);
    const cookie = randomBytes(32).toString("base64url");
    const csrf = randomBytes(24).toString("base64url");
    const caller: Caller = { name, role: acc.role as Role, officerBadge: acc.officer_badge };
    await this.ctx.change(caller, async () => {
      await store.insertSession(this.ctx.db, sha256(cookie), name, csrf, now);
      return { result: null, audit: { action: "signin", target: name, details: { address } } };
    });
    return { cookie, session: { caller, csrf } };
  }

  /** The session a cookie value proves, or SESSION_ENDED (unknown, signed out, idle too long, too old, account disabled). */
  async session(cookie: string): Promise<Session> {
    const now = this.ctx.now();
    const h = sha256(cookie);
    const s = await store.sessionByHash(this.ctx.db, h);
    if (!s) throw new GatewayError("SESSION_ENDED", "not signed in, or the session has ended: sign in again");
    if (now - s.last_used > SESSION_IDLE_MS || now - s.created_at > SESSION_MAX_MS) {
      await store.endSession(this.ctx.db, h, now);
      throw new GatewayError("SESSION_ENDED", "the session has ended (unused too long, or too old): sign in again");
    }
    // Written at most once a minute: a page's many requests don't each write.
    if (now - s.last_used > 60e3) await store.touchSession(this.ctx.db, h, now);
    return { caller: { name: s.account, role: s.role as Role, officerBadge: s.officer_badge }, csrf: s.csrf };
  }

  /** Sign out: the session ends at once. Audited. */
  async signOut(caller: Caller, cookie: string): Promise<void> {
    await this.ctx.change(caller, async () => {
      await store.endSession(this.ctx.db, sha256(cookie), this.ctx.now());
      return { result: null, audit: { action: "signout", target: caller.name } };
    });
  }
}
