// A small promise layer over sqlite3 (the chosen driver): WAL, synchronous=FULL so a commit is
// on the disk when it returns (R-ACK-1), and one write transaction at a time.
import sqlite3 from "sqlite3";

export type Params = (string | number | bigint | Buffer | Uint8Array | null)[];

export class Db {
  private db: sqlite3.Database;
  private tail: Promise<unknown> = Promise.resolve();
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
   * two transactions never interleave on the one connection.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    const run = async () => {
      await this.exec("BEGIN IMMEDIATE");
      try {
        const r = await fn();
        await this.exec("COMMIT");
        return r;
      } catch (e) {
        await this.exec("ROLLBACK").catch(() => undefined);
        throw e;
      }
    };
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
