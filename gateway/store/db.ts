// A small promise layer over sqlite3 (the chosen driver): WAL, synchronous=FULL so a commit is
// on the disk when it returns (R-ACK-1), and one write transaction at a time.
import sqlite3 from "sqlite3";
import { AsyncLocalStorage } from "node:async_hooks";

export type Params = (string | number | bigint | Buffer | Uint8Array | null)[];

export class Db {
  private db: sqlite3.Database;
  private tail: Promise<unknown> = Promise.resolve();
  // Marks the async context of the transaction in progress, so a call made inside it joins it.
  private inTx = new AsyncLocalStorage<{ open: boolean }>();
  private constructor(db: sqlite3.Database) {
    this.db = db;
  }

  static async open(file: string): Promise<Db> {
    const raw = await new Promise<sqlite3.Database>((resolve, reject) => {
      const d = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(d)));
    });
    const db = new Db(raw);
    await db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;");
    return db;
  }

  run(sql: string, params: Params = []): Promise<{ lastID: number; changes: number }> {
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ lastID: this.lastID, changes: this.changes });
      });
    });
  }

  get<T>(sql: string, params: Params = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => this.db.get(sql, params, (err, row) => (err ? reject(err) : resolve(row as T | undefined))));
  }

  all<T>(sql: string, params: Params = []): Promise<T[]> {
    return new Promise((resolve, reject) => this.db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Run `fn` inside BEGIN IMMEDIATE ... COMMIT. Transactions are queued so that statements of
   * two transactions never interleave on the one connection. Called again from inside `fn` (a
   * service wrapping a model change and its audit entry), the inner call joins the outer
   * transaction: both commit or roll back together.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTx.getStore()?.open) return fn();
    const run = async () => {
      await this.exec("BEGIN IMMEDIATE");
      // Work started inside but still running after the commit (a callback not awaited) must not
      // think it is inside: it queues a transaction of its own.
      const mark = { open: true };
      try {
        const r = await this.inTx.run(mark, fn);
        mark.open = false;
        await this.exec("COMMIT");
        return r;
      } catch (e) {
        mark.open = false;
        await this.exec("ROLLBACK").catch(() => undefined);
        throw e;
      }
    };
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Is the caller inside a transaction of this database? */
  get inTransaction(): boolean {
    return this.inTx.getStore()?.open === true;
  }

  /** Inside a transaction: run `fn` in a savepoint; if it throws, only its writes are undone. */
  async savepoint<T>(fn: () => Promise<T>): Promise<T> {
    await this.exec("SAVEPOINT item");
    try {
      const r = await fn();
      await this.exec("RELEASE item");
      return r;
    } catch (e) {
      await this.exec("ROLLBACK TO item; RELEASE item");
      throw e;
    }
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
