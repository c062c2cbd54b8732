// The one interface every statement in store/ is written against, and the two drivers behind it:
// SQLite (sqlite.ts, the default: a file in the data directory) and PostgreSQL (postgres.ts, when
// the gateway is given a connection string). SQL is written once, in SQLite's spelling with `?`
// placeholders and portable constructs; the PostgreSQL driver translates placeholders and, for
// migrations only, column types (see README.md). Both run one transaction at a time on one
// connection, and a call made inside a transaction joins it.
import { AsyncLocalStorage } from "node:async_hooks";
import { GatewayError } from "../errors.js";

export type Params = (string | number | bigint | Buffer | Uint8Array | null)[];

/** Which engine a Db talks to (for the few places whose SQL differs; see README.md). */
export type Dialect = "sqlite" | "postgres";

/** The store's database: SQLite or PostgreSQL behind the same calls. */
export interface Db {
  readonly dialect: Dialect;
  /** A statement that returns no rows; `changes` is how many rows it wrote. */
  run(sql: string, params?: Params): Promise<{ changes: number }>;
  /**
   * Statements that return no rows, run in order, as one unit of work for the driver: the SQLite
   * driver hands them to its thread in one message. Inside a transaction, as a batch's writes are.
   */
  runAll(stmts: { sql: string; params: Params }[]): Promise<void>;
  /**
   * One write transaction of these statements and nothing else, queued as any transaction is.
   * Nothing runs inside it but `stmts`, so the SQLite driver's thread runs it whole, from BEGIN to
   * COMMIT, from one message. A failed statement rolls it all back and rejects.
   */
  writeBatch(stmts: { sql: string; params: Params }[]): Promise<void>;
  /** The first row, if any (also an INSERT ... RETURNING). */
  get<T>(sql: string, params?: Params): Promise<T | undefined>;
  all<T>(sql: string, params?: Params): Promise<T[]>;
  /** Statements without parameters, several at once. */
  exec(sql: string): Promise<void>;
  /**
   * A schema statement written in SQLite's DDL, as this engine spells it (migrations only):
   * unchanged on SQLite; on PostgreSQL with its types (BIGINT, BYTEA, identity keys, triggers).
   */
  ddl(sql: string): string;
  /**
   * Run `fn` in one write transaction. Transactions are queued so that statements of two never
   * interleave on the one connection. Called again from inside `fn` (a service wrapping a model
   * change and its audit entry), the inner call joins the outer transaction: both commit or roll
   * back together.
   *
   * `rowsOnly`: on PostgreSQL the transaction does not take the database-wide write lock every
   * other write transaction takes (SQLite has only that one lock, and takes it): the rows it
   * writes are guarded by their own row locks. Only for writes that never read a shared tail to
   * append after it (the audit log, the transparency log) and whose rows no other process writes
   * meanwhile: a cluster worker's group commits, of its own partitions' devices, behind its fence
   * (store/fences.ts), whose row lock orders them against a successor taking the partition.
   */
  transaction<T>(fn: () => Promise<T>, opts?: { rowsOnly?: boolean }): Promise<T>;
  /** Is the caller inside a transaction of this database? */
  readonly inTransaction: boolean;
  /**
   * Inside a transaction: run `fn` in a savepoint; if it throws, only its writes are undone and the
   * transaction goes on (on PostgreSQL, the one way a failed statement leaves a transaction usable).
   */
  savepoint<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Open a database: a postgres:// (or postgresql://) connection string, else a SQLite file path. */
async function open(target: string): Promise<Db> {
  if (isPostgresUrl(target)) return (await import("./postgres.js")).PostgresDb.open(target);
  return (await import("./sqlite.js")).SqliteDb.open(target);
}

/** Db.open(target): the driver the target names. */
export const Db = { open };

export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

/** What a log line may say of a database target: a file path, or a server's host:port/database without the password. */
export function dbLabel(target: string): string {
  if (!isPostgresUrl(target)) return target;
  try {
    const u = new URL(target);
    return `postgres://${u.hostname || "localhost"}:${u.port || 5432}${u.pathname}`;
  } catch {
    return "postgres://(unparsable)";
  }
}

/** Did a statement fail on a constraint (unique, foreign key, check, not null), on either engine? */
export function isConstraintError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  // SQLite: SQLITE_CONSTRAINT; PostgreSQL: SQLSTATE class 23 (integrity constraint violation).
  // (SQLite's extended codes too: SQLITE_CONSTRAINT_UNIQUE, _FOREIGNKEY, _CHECK, _NOTNULL, _TRIGGER.)
  return typeof code === "string" && (code === "SQLITE_CONSTRAINT" || code.startsWith("SQLITE_CONSTRAINT_") || /^23[0-9A-Z]{3}$/.test(code));
}

/**
 * Could the store not be asked at all (its database down, unreached or its connection lost, its
 * media store unanswered), rather than answer? Asked again later, the same may well succeed: the
 * API answers these 503, ingest refuses the message STORE_FAILED and its device sends it again.
 */
export function storeUnavailable(e: unknown): boolean {
  return e instanceof GatewayError && e.status === 503;
}

/** A statement that only reads (the store writes no data-modifying WITH). */
const READ = /^\s*(SELECT|WITH)\b/i;

/**
 * What both drivers share: the queue of transactions, how a call inside one joins it, and
 * savepoints. A driver supplies the statements (on its one connection, in call order) and how a
 * write transaction begins.
 *
 * A write made outside any transaction while one is open waits for it to end: on the one
 * connection it would otherwise run inside that transaction and be rolled back with it (a device
 * registered while a case link failed would vanish). On PostgreSQL reads wait too: a statement sent
 * after a failed one in a transaction is refused until the rollback. On SQLite a read goes at once
 * (it can only see the open transaction's writes early), so ingest's reads don't wait for a batch.
 */
export abstract class QueuedDb implements Db {
  abstract readonly dialect: Dialect;
  abstract ddl(sql: string): string;
  abstract close(): Promise<void>;
  /** The statement(s) that open a write transaction. */
  protected abstract readonly beginSql: string;
  /** …and one guarded by its rows' locks only (`rowsOnly`): the same where the engine has no other. */
  protected get beginRowsSql(): string {
    return this.beginSql;
  }
  /** Do reads outside a transaction wait for the open one (see above)? */
  protected abstract readonly readsWait: boolean;
  protected abstract runNow(sql: string, params: Params): Promise<{ changes: number }>;
  protected abstract getNow<T>(sql: string, params: Params): Promise<T | undefined>;
  protected abstract allNow<T>(sql: string, params: Params): Promise<T[]>;
  protected abstract execNow(sql: string): Promise<void>;

  private tail: Promise<unknown> = Promise.resolve();
  /** Transactions queued or running. */
  private queued = 0;
  // Marks the async context of the transaction in progress, so a call made inside it joins it.
  private inTx = new AsyncLocalStorage<{ open: boolean }>();

  run(sql: string, params: Params = []): Promise<{ changes: number }> {
    return this.outside(() => this.runNow(sql, params));
  }

  runAll(stmts: { sql: string; params: Params }[]): Promise<void> {
    return this.outside(() => this.runAllNow(stmts));
  }

  /** Each statement after the one before; a driver that can send them together does. */
  protected async runAllNow(stmts: { sql: string; params: Params }[]): Promise<void> {
    for (const s of stmts) await this.runNow(s.sql, s.params);
  }

  get<T>(sql: string, params: Params = []): Promise<T | undefined> {
    // An INSERT ... RETURNING is a write.
    return this.readsWait || !READ.test(sql) ? this.outside(() => this.getNow<T>(sql, params)) : this.getNow<T>(sql, params);
  }

  all<T>(sql: string, params: Params = []): Promise<T[]> {
    return this.readsWait || !READ.test(sql) ? this.outside(() => this.allNow<T>(sql, params)) : this.allNow<T>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.outside(() => this.execNow(sql));
  }

  /** A statement: at once inside a transaction or when none is queued, else after the queued ones. */
  private outside<T>(f: () => Promise<T>): Promise<T> {
    if (this.queued === 0 || this.inTx.getStore()?.open) return f();
    const p = this.tail.then(f, f);
    this.tail = p.catch(() => undefined);
    return p;
  }

  writeBatch(stmts: { sql: string; params: Params }[]): Promise<void> {
    return this.transaction(() => this.runAllNow(stmts));
  }

  /**
   * Run `run` when the transactions queued before it have ended: the queue every transaction
   * waits in. `run` owns the connection until it settles.
   */
  protected enqueue<T>(run: () => Promise<T>): Promise<T> {
    const settle = () => {
      this.queued--;
      // No transaction open or queued: nothing is inside one, so the context that marks the inside
      // can stop. While it is enabled every promise of the process pays Node's async hooks (a
      // twentieth of a loaded gateway's main thread); the next transaction enables it again.
      if (this.queued === 0) this.inTx.disable();
    };
    const go = async () => {
      try {
        return await run();
      } finally {
        settle();
      }
    };
    this.queued++;
    const p = this.tail.then(go, go);
    this.tail = p.catch(() => undefined);
    return p;
  }

  transaction<T>(fn: () => Promise<T>, opts: { rowsOnly?: boolean } = {}): Promise<T> {
    if (this.inTx.getStore()?.open) return fn();
    return this.enqueue(async () => {
      await this.execNow(opts.rowsOnly ? this.beginRowsSql : this.beginSql);
      // Work started inside but still running after the commit (a callback not awaited) must not
      // think it is inside: it queues a transaction of its own.
      const mark = { open: true };
      try {
        const r = await this.inTx.run(mark, fn);
        mark.open = false;
        await this.execNow("COMMIT");
        return r;
      } catch (e) {
        mark.open = false;
        await this.execNow("ROLLBACK").catch(() => undefined);
        throw e;
      }
    });
  }

  get inTransaction(): boolean {
    return this.inTx.getStore()?.open === true;
  }

  async savepoint<T>(fn: () => Promise<T>): Promise<T> {
    await this.execNow("SAVEPOINT item");
    try {
      const r = await fn();
      await this.execNow("RELEASE item");
      return r;
    } catch (e) {
      await this.execNow("ROLLBACK TO item; RELEASE item");
      throw e;
    }
  }
}
