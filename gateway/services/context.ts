// What every service shares: who is asking (a Caller, proved by a token), the parts it works on,
// and the two ways anything happens here. A change runs its checks, its store calls and exactly
// one audit entry in one transaction, so a change whose audit write fails is rolled back (P6).
// A read of records runs scoped to the caller and, where the rules say so, writes its entry too.
import type { GatewayFacts } from "./system.js";
import type { Db } from "../store/db.js";
import type { MediaReader } from "../store/media.js";
import type { AuditInput, AuditLog } from "../audit/log.js";
import type { Model } from "../model/model.js";
import { BADGE_MAX } from "../model/model.js";
import { controlIn, reasonProblem } from "../../protocol/text.js";
import type { DeviceRegistry } from "../devices.js";
import type { Accounts, Role } from "../api/accounts.js";
import type { Alarms } from "../alarms.js";
import type { Policy } from "../policy.js";
import type { Approvals } from "./approvals.js";
import type { LiveBus } from "../live.js";
import { GatewayError } from "../errors.js";
import { validDeviceId } from "../../protocol/blocks.js";
/** Recording ids are uint32 on the wire. */
const RECORDING_ID_MAX = 4294967295;

/** The account a request acts as, as its token proved it. */
export interface Caller {
  name: string;
  role: Role;
  /** The officer record the account is tied to (its unit is the account's scope), if any. */
  officerBadge: string | null;
}

/** What happens on the live side when a service changes something (the broker, for a revoke). */
export interface LiveHooks {
  /** A device was revoked (or lost its admission): tell its live connection and close it. */
  deviceRevoked?(deviceId: string, reason: string): void | Promise<void>;
  /** Is a device connected now? (Without a broker, as in the CLI: never.) */
  online?(deviceId: string): boolean;
  /** What changed, as it happens, for live pages (the console's event stream). */
  bus?: LiveBus;
}

export interface ServiceDeps {
  db: Db;
  audit: AuditLog;
  model: Model;
  registry: DeviceRegistry;
  accounts: Accounts;
  alarms: Alarms;
  policy: Policy;
  /** Recordings' media, read through the store (downloads). */
  media: MediaReader;
  /** The data directory (kept export bundles are in its exports/); without it, no download again. */
  dataDir?: string;
  live: LiveHooks;
  /** Grants to view beyond one's scope (approvals.ts); without it none applies. */
  approvals?: Approvals;
  /** What the gateway is and says of itself (services/system.ts); none where no gateway runs (the admin CLI). */
  gateway?: GatewayFacts;
  now?: () => number;
}

/** What a change records in the audit log (the actor is always the caller). */
export type AuditNote = Omit<AuditInput, "actor">;

export class ServiceContext {
  readonly now: () => number;
  constructor(readonly deps: ServiceDeps) {
    this.now = deps.now ?? Date.now;
  }
  get db(): Db { return this.deps.db; }
  get model(): Model { return this.deps.model; }
  get policy(): Policy { return this.deps.policy; }

  /**
   * Run a change: `fn` checks and writes, and returns its result with the one audit entry that
   * records it. Both commit in one transaction, or neither does.
   */
  async change<T>(caller: Caller, fn: () => Promise<{ result: T; audit: AuditNote }>): Promise<T> {
    const audit = this.deps.audit;
    const r = await this.db.transaction(async () => {
      const out = await fn();
      await audit.appendInTransaction({ ...out.audit, actor: caller.name });
      return out.result;
    });
    await audit.checkpoint();
    return r;
  }

  /** Write one audit entry for a read (a listing, a view) on its own. */
  async noteRead(caller: Caller, note: AuditNote): Promise<void> {
    await this.deps.audit.append({ ...note, actor: caller.name });
  }

  /** The units a caller's scope covers: null for the whole station (admin), else their unit's subtree. */
  async scope(caller: Caller): Promise<Set<number> | null> {
    if (caller.role === "admin") return null;
    if (!caller.officerBadge) throw new GatewayError("NO_UNIT_SCOPE", `account ${caller.name} is tied to no officer, so to no unit: give it one with account add --badge`);
    const me = await this.model.officer(caller.officerBadge);
    return new Set((await this.model.subtree(me.unitId)).map((u) => u.id));
  }
}

/** Refuse a caller whose role is not among `roles`. */
export function requireRole(caller: Caller, roles: readonly Role[], what: string): void {
  if (!roles.includes(caller.role)) throw new GatewayError("ROLE_FORBIDDEN", `${what} needs one of: ${roles.join(", ")}; ${caller.name} is ${caller.role}`);
}

/** A reason a person gives, trimmed, as protocol/text.ts says one must be. */
export function reasonOf(v: unknown, what: string): string {
  const p = reasonProblem(v);
  if (p) throw new GatewayError(p.code, `${what} ${p.why}`);
  return (v as string).trim();
}

/** A device id as SPEC R-ID-1 allows it, or BAD_DEVICE_ID. */
export function deviceIdOf(v: unknown): string {
  if (typeof v !== "string" || !validDeviceId(v)) throw new GatewayError("BAD_DEVICE_ID", `a device id is 1-16 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit (SPEC R-ID-1): ${JSON.stringify(v)}`);
  return v;
}

/** An officer's badge as a filter names it: printable characters, as a badge is made, or BAD_INPUT. */
export function badgeOf(v: unknown): string {
  if (typeof v !== "string" || v.trim() === "" || v.length > BADGE_MAX || controlIn(v, false)) throw new GatewayError("BAD_INPUT", `officer: a badge is 1-${BADGE_MAX} printable characters, got ${JSON.stringify(v)}`);
  return v.trim();
}

/**
 * A recording id written in one canonical form: decimal digits, no sign, no leading zero, no
 * spaces, at most 2^32-1. `0x1`, `1e0` and ` 1 ` are refused, so the audit log names each
 * recording one way only.
 */
export function recordingIdOf(v: unknown): number {
  const s = typeof v === "number" ? String(v) : v;
  if (typeof s !== "string" || !/^(0|[1-9][0-9]{0,9})$/.test(s) || Number(s) > RECORDING_ID_MAX) {
    throw new GatewayError("BAD_RECORDING_ID", `a recording id is a whole number 0 to ${RECORDING_ID_MAX} written in decimal digits: ${JSON.stringify(v)}`);
  }
  return Number(s);
}

/** A whole number id (units), or BAD_INPUT naming the field. */
export function intOf(v: unknown, field: string): number {
  const s = typeof v === "number" ? String(v) : v;
  if (typeof s !== "string" || !/^[1-9][0-9]{0,14}$/.test(s)) throw new GatewayError("BAD_INPUT", `${field} must be a positive whole number, got ${JSON.stringify(v)}`);
  return Number(s);
}

/** An object body, or BAD_INPUT (a missing body or `null` is bad input, never a crash). */
export function bodyOf(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new GatewayError("BAD_INPUT", `${what} needs a JSON object`);
  return v as Record<string, unknown>;
}
