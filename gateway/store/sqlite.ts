// The SQLite driver (the default): WAL, synchronous=FULL so a commit is on the disk when it
// returns (R-ACK-1), and one write transaction at a time.
//
// The connection lives in a thread of its own (sqlite-worker.mjs) with better-sqlite3, a
// synchronous driver; this is the main thread's side, which only packs messages. README.md ("Why
// SQLite runs in a thread of its own") gives the measurements behind it.
//
// Bytes cross packed into one buffer per message, moved rather than copied: a Uint8Array sent as
// it is would carry its whole backing buffer along (a chunk's header is a view into the network
// packet that brought it).
import { Worker } from "node:worker_threads";
import { QueuedDb } from "./db.js";
import type { Params } from "./db.js";
import { GatewayError } from "../errors.js";

/** How long a statement waits for another process's write lock (the admin CLI) before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

interface Packed { sql: string; params: Params; blobs: number[] | null; bytes: Uint8Array[] | null }
interface Reply { id: number; ok: boolean; value?: unknown; message?: string; code?: string }

export class SqliteDb extends QueuedDb {
  readonly dialect = "sqlite" as const;
  // BEGIN IMMEDIATE takes the write lock at once: another process (the admin CLI) waits its turn
  // instead of failing halfway through a transaction.
  protected readonly beginSql = "BEGIN IMMEDIATE";
  protected readonly readsWait = false;
  private nextId = 1;
  private waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Why the thread is gone (it stopped, or close() ended it), or null. */
  private gone: Error | null = null;

  private constructor(private worker: Worker) {
    super();
    worker.on("message", (r: Reply) => this.settle(r));
    worker.on("error", (e) => this.stop(new GatewayError("DB_THREAD", `the SQLite thread failed: ${e.message}`)));
    worker.on("exit", (code) => this.stop(new GatewayError("DB_CLOSED", code === 0 ? "the database is closed" : `the SQLite thread exited with code ${code}`)));
  }

  static async open(file: string): Promise<SqliteDb> {
    const worker = new Worker(new URL("./sqlite-worker.mjs", import.meta.url), { workerData: { file, busyTimeoutMs: BUSY_TIMEOUT_MS } });
    // The thread says "ready" once the file is open with its pragmas, or why it could not open it.
    const db = await new Promise<SqliteDb>((resolve, reject) => {
      const first = (r: Reply) => {
        worker.off("error", failed);
        if (r.ok) resolve(new SqliteDb(worker));
        else { reject(sqliteError(r)); void worker.terminate(); }
      };
      const failed = (e: Error) => { worker.off("message", first); reject(e); };
      worker.once("message", first);
      worker.once("error", failed);
    });
    return db;
  }

  private settle(r: Reply): void {
    const w = this.waiting.get(r.id);
    if (!w) return;
    this.waiting.delete(r.id);
    if (r.ok) w.resolve(r.value);
    else w.reject(sqliteError(r));
  }

  private stop(e: Error): void {
    if (!this.gone) this.gone = e;
    for (const w of this.waiting.values()) w.reject(this.gone);
    this.waiting.clear();
  }

  /** One message to the thread: an operation on `stmts` (bytes packed); its reply settles the promise. */
  private send<T>(op: string, stmts: Packed[], begin?: string): Promise<T> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    const data = pack(stmts);
    // Each statement without its bytes (they travel in `data`).
    const wire = stmts.map((st) => ({ sql: st.sql, params: st.params, blobs: st.blobs }));
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, begin, stmts: wire, data }, data ? [data.buffer as ArrayBuffer] : []);
    });
  }

  protected runNow(sql: string, params: Params): Promise<{ changes: number }> {
    return this.send("run", [statement(sql, params)]);
  }

  protected async getNow<T>(sql: string, params: Params): Promise<T | undefined> {
    const row = await this.send<Record<string, unknown> | undefined>("get", [statement(sql, params)]);
    return row ? (buffers(row) as T) : undefined;
  }

  protected async allNow<T>(sql: string, params: Params): Promise<T[]> {
    const rows = await this.send<Record<string, unknown>[]>("all", [statement(sql, params)]);
    for (const r of rows) buffers(r);
    return rows as T[];
  }

  protected execNow(sql: string): Promise<void> {
    return this.send("exec", [statement(sql, [])]);
  }

  /** Every statement in one message: the thread runs them back to back. */
  protected override runAllNow(stmts: { sql: string; params: Params }[]): Promise<void> {
    return this.send("batch", stmts.map((st) => statement(st.sql, st.params)));
  }

  /** The whole transaction in one message: the thread runs BEGIN, every statement and COMMIT back to back. */
  override writeBatch(stmts: { sql: string; params: Params }[]): Promise<void> {
    if (this.inTransaction) return this.runAllNow(stmts);
    return this.enqueue(() => this.send("tx", stmts.map((st) => statement(st.sql, st.params)), this.beginSql));
  }

  /** The migrations are written in SQLite's DDL. */
  ddl(sql: string): string {
    return sql;
  }

  async close(): Promise<void> {
    if (this.gone) return;
    const exited = new Promise((r) => this.worker.once("exit", r));
    await this.send("close", []);
    await exited;
  }
}

/** A statement with its bytes taken out of its parameters (NULL in their place until the thread puts them back). */
function statement(sql: string, params: Params): Packed {
  let blobs: number[] | null = null;
  let bytes: Uint8Array[] | null = null;
  let out = params;
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    if (v instanceof Uint8Array) {
      if (!blobs) { blobs = []; bytes = []; out = params.slice(); }
      blobs.push(i, 0, v.length);
      bytes!.push(v);
      out[i] = null;
    }
  }
  return { sql, params: out, blobs, bytes };
}

/** The bytes of `stmts` in one buffer of their own (so it can be moved); each blob triple gets its offset. */
function pack(stmts: Packed[]): Uint8Array | null {
  let total = 0;
  let any = false;
  for (const s of stmts) if (s.bytes) { any = true; for (const b of s.bytes) total += b.length; }
  if (!any) return null;
  const data = new Uint8Array(total);
  let at = 0;
  for (const s of stmts) {
    if (!s.bytes) continue;
    for (let j = 0; j < s.bytes.length; j++) {
      data.set(s.bytes[j], at);
      s.blobs![3 * j + 1] = at;
      at += s.bytes[j].length;
    }
  }
  return data;
}

/** Bytes come back from the thread as Uint8Arrays: Buffers, as the store's callers expect. */
function buffers(row: Record<string, unknown>): Record<string, unknown> {
  for (const k in row) {
    const v = row[k];
    if (v instanceof Uint8Array && !Buffer.isBuffer(v)) row[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  return row;
}

/**
 * SQLite's error as the rest of the gateway takes it. Those that say the database can't be used
 * now, rather than that the statement is wrong, become reason codes answered 503 (the same request
 * may well succeed later): another process holding the write lock past the busy timeout (a shell
 * left inside a transaction), the disk full, or the disk failing. The rest keep SQLite's code
 * (SQLITE_CONSTRAINT and its kind are read by `isConstraintError`).
 */
function sqliteError(r: Reply): Error {
  const message = r.message || "SQLite error";
  const code = r.code || "";
  const cause = Object.assign(new Error(message), { code: r.code });
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) return new GatewayError("DB_LOCKED", `another process holds the database's lock (${code}: ${message}): a shell left inside a transaction, or an admin command writing`, { cause });
  if (code === "SQLITE_FULL") return new GatewayError("DB_FULL", `the database's disk is full (${code}: ${message})`, { cause });
  if (/^SQLITE_(IOERR|CANTOPEN|NOMEM)/.test(code)) return new GatewayError("DB_IO", `the database can't be read or written now (${code}: ${message})`, { cause });
  return cause;
}
