// The audit log (RULES.md §1 P6, §2 retrieval supervision): every admin change and every access to
// a record, append-only and hash-chained in SQLite. A chain alone can't show that its tail was
// cut off, so keyed checkpoints (count, head) also go to an anchor file outside the database:
// truncation is caught back to the last checkpoint, and the head printed in every report and
// export bounds what even someone holding the key (it sits next to the anchor) can rewrite.
import { GatewayError } from "../errors.js";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { closeSync, constants, existsSync, fsyncSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, chmodSync } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { join } from "node:path";
import type { Db } from "../store/db.js";
import * as store from "../store/audit.js";
import { auditEntryHash } from "../../protocol/audit-entry.js";
import type { AuditEntryFields } from "../../protocol/audit-entry.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { anchorEnd, anchorLines } from "./anchor.js";
import type { AnchorLine } from "./anchor.js";


/** Actions that retrieve record content: each must name a reason (RULES.md §2, retrieval supervision). */
export const READS_NEED_REASON: ReadonlySet<string> = new Set(["view", "download", "export"]);

/** The `prev` of the first entry. */
export const GENESIS_PREV = "0".repeat(64);

const CHECKPOINT_DOMAIN = Buffer.from("audit-checkpoint");
const KEY_LEN = 32;
const HEX64 = /^[0-9a-f]{64}$/;
const VERIFY_PAGE = 1000;

export class AuditError extends GatewayError {
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "AuditError";
  }
}

export interface AuditInput {
  actor: string;
  action: string;
  target?: string | null;
  reason?: string | null;
  details?: Record<string, unknown> | null;
}

export interface AuditEntry {
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  details: Record<string, unknown> | null;
  prev: string;
  hash: string;
}

/** A row as stored: `details` is the canonical JSON text that was hashed. */
export type AuditRow = AuditEntryFields;

export interface AuditHead {
  count: number;
  hash: string;
}

export type AuditProblemCode =
  | "HASH_MISMATCH"
  | "CHAIN_BROKEN"
  | "SEQ_GAP"
  | "TRUNCATED"
  | "CHECKPOINT_MAC"
  | "CHECKPOINT_ORDER"
  | "CHECKPOINT_MISMATCH"
  | "ANCHOR_MISSING";

export interface AuditProblem {
  code: AuditProblemCode;
  seq?: number;
  detail: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Rows present in the database. */
  count: number;
  /** Hash of the last row present (GENESIS_PREV when empty). */
  head: string;
  /** The last checkpoint in the anchor file whose MAC is valid. */
  checkpoint: AuditHead | null;
  problems: AuditProblem[];
}

export interface AuditListQuery {
  actor?: string;
  action?: string;
  target?: string;
  /** Entries at or after this time (ms since the epoch). */
  since?: number;
  /** Entries before this time (ms since the epoch). */
  until?: number;
  limit?: number;
}

export interface AuditOpenOptions {
  /** Write a checkpoint after every n-th entry (default 1). */
  checkpointEvery?: number;
  /** Clock for `at` (ms since the epoch); injected so tests need no real time. */
  now?: () => number;
}

/** JSON with object keys sorted at every depth, so equal details always hash equally. */
export function canonicalJson(value: unknown): string {
  let plain: unknown;
  try {
    plain = JSON.parse(JSON.stringify(value));
  } catch (e) {
    throw new AuditError("BAD_DETAILS", `details must be JSON-serialisable: ${(e as Error).message}`, { cause: e });
  }
  return JSON.stringify(sortKeys(plain));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== "object") return v;
  // A null-prototype object, so a "__proto__" key from JSON stays an ordinary key.
  const out: Record<string, unknown> = Object.create(null);
  for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
  return out;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
const isOptStr = (s: unknown): s is string | null => s === null || typeof s === "string";

/** Why a stored row can't be hashed as it stands (someone wrote odd types into it), or null. */
function malformed(r: AuditRow): string | null {
  if (!isCount(r.seq) || r.seq < 1) return "seq is not a positive integer";
  if (!isCount(r.at)) return "at is not a non-negative integer";
  if (typeof r.actor !== "string" || typeof r.action !== "string") return "actor or action is not text";
  if (!isOptStr(r.target) || !isOptStr(r.reason) || !isOptStr(r.details)) return "target, reason or details is not text";
  if (typeof r.prev !== "string" || !HEX64.test(r.prev)) return "prev is not 32 bytes of hex";
  return null;
}

/**
 * The entry hash: SHA-256 over a length-prefixed encoding of every field, written once, in
 * protocol/audit-entry.ts, where an offline verifier recomputes it from an export; the algorithm
 * is no secret, the anchor's key is. A row someone wrote odd types into is refused first.
 */
export function hashRow(r: AuditRow): string {
  const why = malformed(r);
  if (why) throw new AuditError("MALFORMED_ROW", `audit row ${String(r.seq)}: ${why}`);
  return auditEntryHash(nodeSha256, r);
}

// Fixed-length fields after a fixed domain string: no two (count, head) pairs share an input.
function checkpointMac(key: Buffer, count: number, head: string): Buffer {
  return createHmac("sha256", key).update(CHECKPOINT_DOMAIN).update(u64(count)).update(Buffer.from(head, "hex")).digest();
}

function needsReason(action: string): boolean {
  // "clip.view" is as much a read as "view": match the last dotted segment too.
  return READS_NEED_REASON.has(action) || READS_NEED_REASON.has(action.slice(action.lastIndexOf(".") + 1));
}

function macOk(key: Buffer, l: AnchorLine): boolean {
  return timingSafeEqual(checkpointMac(key, l.count, l.head), Buffer.from(l.mac, "hex"));
}

// A new file is durable only once its directory entry is.
function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function toEntry(r: AuditRow & { hash: string }): AuditEntry {
  return { seq: r.seq, at: r.at, actor: r.actor, action: r.action, target: r.target, reason: r.reason, details: r.details === null ? null : JSON.parse(r.details), prev: r.prev, hash: r.hash };
}


export class AuditLog {
  private anchorTail: Promise<unknown> = Promise.resolve();

  private constructor(
    private db: Db,
    /** Path of the checkpoint key file. */
    readonly keyFile: string,
    /** Path of the anchor file. */
    readonly anchorFile: string,
    private key: Buffer | null,
    private every: number,
    private now: () => number,
    private lastCheckpoint: number,
  ) {}

  /**
   * False when the log has entries but its key or anchor file is gone: appends still work (no
   * access goes unrecorded) but write no checkpoints, and verify() reports ANCHOR_MISSING.
   */
  get anchored(): boolean {
    return this.key !== null;
  }

  /** Open the log over a migrated database; on first start create the key (0600) and the anchor in dataDir. */
  static async open(db: Db, dataDir: string, opts: AuditOpenOptions = {}): Promise<AuditLog> {
    const every = opts.checkpointEvery ?? 1;
    if (!Number.isSafeInteger(every) || every < 1) throw new RangeError(`checkpointEvery must be a positive integer, got ${every}`);
    const keyFile = join(dataDir, "audit.key");
    const anchorFile = join(dataDir, "audit.anchor");
    // Whether the log has entries: its last one, from the key's end (a count would read them all).
    const n = (await store.auditTail(db))?.seq ?? 0;

    let key: Buffer | null = null;
    if (existsSync(keyFile)) {
      key = readFileSync(keyFile);
      if (key.length !== KEY_LEN) throw new AuditError("BAD_KEY", `audit key ${keyFile} is ${key.length} bytes, expected ${KEY_LEN}: refusing to start`);
    }
    // The anchor is read from its end only: it holds a line per checkpoint, by default one per entry.
    let anchored = existsSync(anchorFile);
    // Files are made only for a log with no history: recreating a lost key or anchor would
    // make a deleted anchor, and any truncation it was hiding, look clean.
    if (n === 0) {
      if (!key && !(anchored && anchorEnd(anchorFile, () => true).last)) {
        key = randomBytes(KEY_LEN);
        writeFileSync(keyFile, key, { mode: 0o600, flag: "wx" });
        chmodSync(keyFile, 0o600);
        fsyncDir(dataDir);
      }
      if (!anchored) {
        // 0600 like everything in the data directory; reports and exports print the head anyway.
        writeFileSync(anchorFile, "", { mode: 0o600, flag: "wx" });
        fsyncDir(dataDir);
        anchored = true;
      }
    }
    if (!key || !anchored) return new AuditLog(db, keyFile, anchorFile, null, every, opts.now ?? Date.now, 0);

    // Checkpoints are written in count order, so the last line with a good MAC is the highest.
    const end = anchorEnd(anchorFile, (l) => macOk(key, l));
    if (end.whole < statSync(anchorFile).size) {
      // Drop a torn checkpoint so the next one starts on its own line.
      truncateSync(anchorFile, end.whole);
      const fd = openSync(anchorFile, "r+");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    const last = end.last ? end.last.count : 0;
    return new AuditLog(db, keyFile, anchorFile, key, every, opts.now ?? Date.now, last);
  }

  /**
   * Append one entry in its own transaction, then checkpoint when due. Don't call it inside
   * db.transaction() (it would wait for itself): use appendInTransaction() there.
   */
  async append(input: AuditInput): Promise<AuditEntry> {
    const row = this.prepare(input);
    const entry = await this.db.transaction(() => this.insert(row));
    if (this.key && entry.seq % this.every === 0) await this.writeCheckpoint(entry.seq, entry.hash);
    return entry;
  }

  /**
   * Append inside a transaction the caller already holds, so the entry commits or rolls back
   * with the change it records. Call checkpoint() after the commit.
   */
  async appendInTransaction(input: AuditInput): Promise<AuditEntry> {
    return this.insert(this.prepare(input));
  }

  /** Write a checkpoint of the committed head now (after appendInTransaction, or at shutdown). */
  async checkpoint(): Promise<AuditHead> {
    const h = await this.head();
    if (this.key && h.count > 0) await this.writeCheckpoint(h.count, h.hash);
    return h;
  }

  /** The last entry's seq and hash: what reports and exports print. */
  async head(): Promise<AuditHead> {
    // In a transaction, so a head is never read from another caller's uncommitted append.
    const r = await this.db.transaction(() => store.auditTail(this.db));
    return r ? { count: r.seq, hash: r.hash } : { count: 0, hash: GENESIS_PREV };
  }

  /** Entries matching every given filter, newest first. */
  async list(q: AuditListQuery = {}): Promise<AuditEntry[]> {
    if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 0)) throw new RangeError(`limit must be a non-negative integer, got ${q.limit}`);
    const rows = await store.auditQuery(this.db, q);
    return rows.map(toEntry);
  }

  /**
   * Recheck every row, every link and the anchor's checkpoints; list what was tampered with. The
   * log and the anchor are read a page at a time side by side (memory does not grow with the log),
   * and no lock is held: appends go on meanwhile, and the pass checks the log as it stood when it
   * began (every checkpoint then in the anchor was written after its entry's commit). `progress`
   * hears after each page how many entries of the total are checked; the pass waits for what it
   * returns.
   */
  async verify(opts: { progress?: (done: number, total: number) => void | Promise<void>; page?: number } = {}): Promise<VerifyResult> {
    const page = opts.page ?? VERIFY_PAGE;
    const anchorProblems: AuditProblem[] = [];
    const rowProblems: AuditProblem[] = [];
    const checkpointProblems: AuditProblem[] = [];
    const haveKey = existsSync(this.keyFile) && this.key !== null;
    if (!haveKey) anchorProblems.push({ code: "ANCHOR_MISSING", detail: `checkpoint key ${this.keyFile} is missing: checkpoints can't be checked, truncation can't be detected` });
    let anchorSize: number | null = null;
    try {
      anchorSize = statSync(this.anchorFile).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      anchorProblems.push({ code: "ANCHOR_MISSING", detail: `anchor file ${this.anchorFile} is missing: truncation can't be detected` });
    }
    // The end of the pass, read after the anchor's size: every checkpoint in those bytes is of an
    // entry at or before it. Read in a transaction, so never another caller's uncommitted append.
    const end = (await this.head()).count;
    const checkpoints = anchorSize !== null && this.key ? this.checkpoints(anchorSize, anchorProblems) : null;
    let next = checkpoints ? (await checkpoints.next()).value ?? null : null;
    // The latest checkpoint met, judged once it is known whether another follows it (the last one
    // tells a cut-off tail; an earlier one, rewritten history).
    let held: { c: AnchorLine; h: string | undefined } | null = null;
    const judge = (c: AnchorLine, h: string | undefined) => {
      if (held && held.h !== undefined && held.h !== held.c.head) checkpointProblems.push({ code: "CHECKPOINT_MISMATCH", seq: held.c.count, detail: `checkpointed head ${held.c.head}, the log has ${held.h}: history before this point was rewritten` });
      held = { c, h };
    };

    let count = 0;
    let expectSeq = 1;
    let prevHash = GENESIS_PREV;
    let lastSeq = 0;
    try {
      for (let more = true; more;) {
        const rows = await store.auditPage(this.db, lastSeq, page);
        more = rows.length === page;
        for (const r of rows) {
          if (r.seq > end) { more = false; break; }
          count++;
          if (r.seq !== expectSeq) rowProblems.push({ code: "SEQ_GAP", seq: r.seq, detail: r.seq > expectSeq ? `entries ${expectSeq}..${r.seq - 1} are missing` : `expected seq ${expectSeq}` });
          if (r.prev !== prevHash) rowProblems.push({ code: "CHAIN_BROKEN", seq: r.seq, detail: `prev ${String(r.prev)} does not match the preceding entry's hash ${prevHash}` });
          const why = malformed(r);
          if (why) rowProblems.push({ code: "HASH_MISMATCH", seq: r.seq, detail: why });
          else if (hashRow(r) !== r.hash) rowProblems.push({ code: "HASH_MISMATCH", seq: r.seq, detail: "the stored entry does not hash to its recorded hash" });
          while (next && next.count <= r.seq) {
            judge(next, next.count === r.seq ? r.hash : undefined);
            next = (await checkpoints!.next()).value ?? null;
          }
          expectSeq = r.seq + 1;
          prevHash = r.hash;
          lastSeq = r.seq;
        }
        await opts.progress?.(count, end);
      }
      for (; next; next = (await checkpoints!.next()).value ?? null) judge(next, undefined);
    } finally {
      // A pass stopped by an error closes the anchor file it was reading.
      await checkpoints?.return(undefined);
    }

    // Assigned in judge(), which the compiler does not follow.
    const last = held as { c: AnchorLine; h: string | undefined } | null;
    if (last && last.h !== last.c.head) {
      const c = last.c;
      checkpointProblems.push({
        code: "TRUNCATED",
        seq: c.count,
        detail: last.h === undefined
          ? `the anchor's last checkpoint is entry ${c.count} (head ${c.head}) but the log ends at ${lastSeq}: entries were cut off`
          : `the anchor's last checkpoint is entry ${c.count} with head ${c.head}, the log has ${last.h} there: the log was cut and rewritten`,
      });
    }
    const problems = [...anchorProblems, ...rowProblems, ...checkpointProblems];
    return { ok: problems.length === 0, count, head: prevHash, checkpoint: last ? { count: last.c.count, hash: last.c.head } : null, problems };
  }

  // The valid checkpoints of the anchor's first `size` bytes, in file order; forged, malformed or
  // out-of-order lines become problems (malformed ones first, as a whole file's check lists them).
  private async *checkpoints(size: number, problems: AuditProblem[]): AsyncGenerator<AnchorLine> {
    const key = this.key!;
    const malformedLines: AuditProblem[] = [];
    const others: AuditProblem[] = [];
    let before: AnchorLine | null = null;
    try {
      for await (const l of anchorLines(this.anchorFile, size)) {
        if (typeof l === "number") { malformedLines.push({ code: "CHECKPOINT_MAC", detail: `anchor line ${l} is malformed` }); continue; }
        if (!macOk(key, l)) {
          others.push({ code: "CHECKPOINT_MAC", seq: l.count, detail: `anchor line ${l.line} (count ${l.count}) has a bad MAC: forged or edited` });
          continue;
        }
        if (before && l.count <= before.count) {
          others.push({ code: "CHECKPOINT_ORDER", seq: l.count, detail: `anchor line ${l.line} (count ${l.count}) does not follow count ${before.count}` });
          continue;
        }
        before = l;
        yield l;
      }
    } finally {
      problems.push(...malformedLines, ...others);
    }
  }

  private prepare(input: AuditInput): AuditRow {
    const { actor, action } = input;
    if (typeof actor !== "string" || !actor.trim()) throw new AuditError("ACTOR_REQUIRED", "an audit entry names the account that acted");
    if (typeof action !== "string" || !action.trim()) throw new AuditError("ACTION_REQUIRED", "an audit entry names its action");
    const reason = input.reason ?? null;
    if (reason !== null && typeof reason !== "string") throw new TypeError("reason must be a string");
    if (needsReason(action) && !reason?.trim()) throw new AuditError("REASON_REQUIRED", `${action} retrieves a record: a reason is required`);
    const target = input.target ?? null;
    if (target !== null && typeof target !== "string") throw new TypeError("target must be a string");
    const details = input.details == null ? null : canonicalJson(input.details);
    const at = this.now();
    if (!isCount(at)) throw new RangeError(`the clock gave ${at}, not a non-negative integer of ms`);
    return { seq: 0, at, actor, action, target, reason, details, prev: GENESIS_PREV };
  }

  // Runs inside a transaction (BEGIN IMMEDIATE): reading the tail and inserting after it can't
  // interleave with another append, and the primary key refuses a second row at one seq anyway.
  private async insert(prepared: AuditRow): Promise<AuditEntry> {
    const last = await store.auditTail(this.db);
    const row: AuditRow = { ...prepared, seq: (last?.seq ?? 0) + 1, prev: last?.hash ?? GENESIS_PREV };
    const hash = hashRow(row);
    await store.insertAuditRow(this.db, { ...row, hash });
    return toEntry({ ...row, hash });
  }

  // Written after the commit: a crash in between leaves the anchor behind the log (weaker, but
  // true), never ahead of it (which would look like truncation). Queued so lines stay in order.
  private writeCheckpoint(count: number, head: string): Promise<void> {
    const key = this.key!;
    const write = async () => {
      if (count <= this.lastCheckpoint) return;
      const line = `${count} ${head} ${checkpointMac(key, count, head).toString("hex")}\n`;
      let fh;
      try {
        // No O_CREAT: an anchor deleted while running must stay missing, not restart clean.
        fh = await openFile(this.anchorFile, constants.O_WRONLY | constants.O_APPEND);
        await fh.write(line);
        await fh.sync();
      } catch (e) {
        throw new AuditError("CHECKPOINT_FAILED", `entry ${count} is logged but its checkpoint could not be written to ${this.anchorFile}: ${(e as Error).message}`, { cause: e });
      } finally {
        await fh?.close();
      }
      this.lastCheckpoint = count;
    };
    const p = this.anchorTail.then(write, write);
    this.anchorTail = p.catch(() => undefined);
    return p;
  }
}
