// The SQLite driver (the default): a promise layer over sqlite3 with WAL, synchronous=FULL so a
// commit is on the disk when it returns (R-ACK-1), and one write transaction at a time.
import sqlite3 from "sqlite3";
import { QueuedDb } from "./db.js";
import type { Params } from "./db.js";

export class SqliteDb extends QueuedDb {
  readonly dialect = "sqlite" as const;
  // BEGIN IMMEDIATE takes the write lock at once: another process (the admin CLI) waits its turn
  // instead of failing halfway through a transaction.
  protected readonly beginSql = "BEGIN IMMEDIATE";
  protected readonly readsWait = false;
  private constructor(private db: sqlite3.Database) {
    super();
  }

  static async open(file: string): Promise<SqliteDb> {
    const raw = await new Promise<sqlite3.Database>((resolve, reject) => {
      const d = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(d)));
    });
    const db = new SqliteDb(raw);
    await db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;");
    return db;
  }

  protected runNow(sql: string, params: Params): Promise<{ changes: number }> {
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ changes: this.changes });
      });
    });
  }

  protected getNow<T>(sql: string, params: Params): Promise<T | undefined> {
    return new Promise((resolve, reject) => this.db.get(sql, params, (err, row) => (err ? reject(err) : resolve(row as T | undefined))));
  }

  protected allNow<T>(sql: string, params: Params): Promise<T[]> {
    return new Promise((resolve, reject) => this.db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
  }

  protected execNow(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  /** The migrations are written in SQLite's DDL. */
  ddl(sql: string): string {
    return sql;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
