// The PostgreSQL driver: the same calls as SQLite's over one connection (node-postgres), for a
// station whose metadata lives in a PostgreSQL server (15 or later). What it translates, and
// only this (README.md says why):
// - placeholders: `?` becomes `$n`, typed by the JavaScript value bound to it (an integer int8, any
//   other number float8, bytes bytea; a string or null takes its type from where it stands),
//   because PostgreSQL can't infer a type for `? >= 0` or `SELECT ?` and would take 1.7e12 ms for
//   an int4;
// - results: int8 and numeric come back as JavaScript numbers (counts, sums and ms timestamps are
//   far below 2^53), booleans as 1 and 0 as SQLite gives them, bytea as Buffers;
// - migrations (ddl()): INTEGER becomes BIGINT, an INTEGER PRIMARY KEY an identity column, BLOB
//   BYTEA, REAL DOUBLE PRECISION, and SQLite's RAISE(ABORT) triggers a trigger function.
// A write transaction also takes a database-wide advisory lock, as SQLite's BEGIN IMMEDIATE takes
// its write lock: reading the audit log's tail and appending after it can't race another process.
// A cluster worker's group commits don't (Db.transaction's `rowsOnly`): their rows are their own
// partitions', guarded by row locks and the fence, so workers commit side by side.
import pg from "pg";
import { QueuedDb, dbLabel } from "./db.js";
import type { Params } from "./db.js";
import { GatewayError } from "../errors.js";

/** The advisory lock every write transaction holds ("evre"): one writer at a time, as in SQLite. */
const WRITE_LOCK = 0x65767265;
/** Named (server-side prepared) statements kept per connection at most; others are parsed each time. */
const MAX_PREPARED = 2000;
/** Parameters of a statement worth preparing at most: larger ones are multi-row writes of varying size. */
const MAX_PREPARED_PARAMS = 200;

export class PostgresDb extends QueuedDb {
  readonly dialect = "postgres" as const;
  protected readonly beginSql = `BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK})`;
  protected override get beginRowsSql(): string {
    return "BEGIN";
  }
  protected readonly readsWait = true;
  private client: pg.Client;
  /** Why the connection is unusable (lost, closed), or null. */
  private broken: Error | null = null;
  private reconnecting: Promise<pg.Client> | null = null;
  private closed = false;
  private names = new Map<string, string>();
  /** The statement sent last: the next waits for it (one at a time on the connection, in call order). */
  private pending: Promise<unknown> = Promise.resolve();

  private constructor(private url: string, client: pg.Client) {
    super();
    this.client = client;
  }

  /** Connect, or fail with DB_UNREACHABLE (no answer) or DB_REFUSED (the server said no), naming the server. */
  static async open(url: string): Promise<PostgresDb> {
    const db = new PostgresDb(url, await connect(url));
    db.watch(db.client);
    return db;
  }

  private watch(c: pg.Client): void {
    // An idle connection the server dropped emits 'error'; without a listener it would end the process.
    c.on("error", (e) => { if (this.client === c) this.broken = e; });
    c.on("end", () => { if (this.client === c && !this.broken && !this.closed) this.broken = new GatewayError("DB_CONNECTION_LOST", `the connection to PostgreSQL at ${where(this.url)} ended`); });
  }

  /** The connection; a lost one is replaced, except inside a transaction (whose work is lost with it). */
  private conn(): pg.Client | Promise<pg.Client> {
    if (this.closed) throw new GatewayError("DB_CLOSED", "the database is closed");
    if (!this.broken) return this.client;
    if (this.inTransaction) throw new GatewayError("DB_CONNECTION_LOST", this.broken instanceof GatewayError ? this.broken.message : `the connection to PostgreSQL at ${where(this.url)} was lost: ${this.broken.message}`);
    if (!this.reconnecting) {
      this.reconnecting = connect(this.url).then((c) => {
        this.client = c;
        this.broken = null;
        this.watch(c);
        return c;
      }).finally(() => { this.reconnecting = null; });
    }
    return this.reconnecting;
  }

  /** Send statements after those already sent, as SQLite's one connection runs them. */
  private send<R>(f: (c: pg.Client) => Promise<R>): Promise<R> {
    const p = this.pending.then(async () => {
      const c = await this.conn();
      try {
        return await f(c);
      } catch (e) {
        // The connection itself failed (the server ended it, the socket broke): said as
        // DB_CONNECTION_LOST (the store unavailable, not the statement wrong), and the next
        // statement outside a transaction opens a new one, without waiting for the client's 'end'.
        if (!connectionLost(e)) throw conflict(e) ?? e;
        const lost = new GatewayError("DB_CONNECTION_LOST", `the connection to PostgreSQL at ${where(this.url)} was lost: ${(e as Error).message || String(e)}`, { cause: e });
        if (this.client === c) this.broken = lost;
        throw lost;
      }
    });
    this.pending = p.catch(() => undefined);
    return p;
  }

  private query(sql: string, params: Params): Promise<pg.QueryResult> {
    const { text, values } = toPostgres(sql, params);
    let name = this.names.get(text);
    // A multi-row statement (a batch's chunks) is parsed each time: its text changes with its row count.
    if (name === undefined && this.names.size < MAX_PREPARED && values.length <= MAX_PREPARED_PARAMS) this.names.set(text, (name = "s" + this.names.size));
    return this.send((c) => c.query({ name, text, values }));
  }

  protected async runNow(sql: string, params: Params): Promise<{ changes: number }> {
    return { changes: (await this.query(sql, params)).rowCount ?? 0 };
  }

  protected async getNow<T>(sql: string, params: Params): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  protected async allNow<T>(sql: string, params: Params): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  protected async execNow(sql: string): Promise<void> {
    await this.send((c) => c.query(sql));
  }

  ddl(sql: string): string {
    return postgresDdl(sql);
  }

  async close(): Promise<void> {
    await this.pending;
    this.closed = true;
    await this.client.end();
  }
}

const where = (url: string) => dbLabel(url).replace(/^postgres:\/\//, "");

/** An error of the connection rather than of the statement: SQLSTATE class 08, 57P01-57P03, or none (the socket). */
function connectionLost(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code !== "string" || /^(08|57P0[123])/.test(code) || !/^[0-9A-Z]{5}$/.test(code);
}

/**
 * A transaction PostgreSQL ended to let another go on: a deadlock (40P01: an admin's change and a
 * cluster worker's commit locking the same rows in opposite orders) or a serialization failure
 * (40001). Nothing of it is kept (its transaction rolls back, or, in a savepoint, that item: a
 * batch written item by item fails only that item, and its device sends it again). Said as
 * DB_CONFLICT, which the API answers 503 with Retry-After: the same request is expected to succeed.
 */
function conflict(e: unknown): GatewayError | null {
  const code = (e as { code?: unknown } | null)?.code;
  if (code !== "40P01" && code !== "40001") return null;
  return new GatewayError("DB_CONFLICT", `PostgreSQL ended this change to let another go on (${code === "40P01" ? "a deadlock" : "a serialization failure"}): nothing of it was kept; try again`, { cause: e });
}

const parseInt8 = (s: string) => Number(s);
const parseBool = (s: string) => (s === "t" ? 1 : 0);

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10000, keepAlive: true, application_name: "evrec-gateway" });
  c.setTypeParser(pg.types.builtins.INT8, "text", parseInt8);
  c.setTypeParser(pg.types.builtins.NUMERIC, "text", parseInt8);
  c.setTypeParser(pg.types.builtins.BOOL, "text", parseBool);
  try {
    await c.connect();
  } catch (e) {
    const err = e as Error & { code?: string };
    await c.end().catch(() => undefined);
    // A SQLSTATE (28P01 bad password, 3D000 no such database, ...) means the server answered.
    if (err.code && /^[0-9A-Z]{5}$/.test(err.code)) throw new GatewayError("DB_REFUSED", `PostgreSQL at ${where(url)} refused the connection: ${err.message} (${err.code})`, { cause: e });
    throw new GatewayError("DB_UNREACHABLE", `PostgreSQL at ${where(url)} can't be reached: ${err.message || err.code || String(e)}`, { cause: e });
  }
  return c;
}

// ---- placeholders ----

/** SQL split at its `?` placeholders (outside quotes and comments), by statement text. */
const splits = new Map<string, string[]>();

function splitAtPlaceholders(sql: string): string[] {
  let parts = splits.get(sql);
  if (parts) return parts;
  parts = [];
  let start = 0;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'" || ch === '"') {
      // Quoted text or identifier; a doubled quote inside is the quote itself.
      for (i++; i < sql.length; i++) if (sql[i] === ch) { if (sql[i + 1] === ch) i++; else break; }
    } else if (ch === "-" && sql[i + 1] === "-") {
      while (i < sql.length && sql[i] !== "\n") i++;
    } else if (ch === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 1;
    } else if (ch === "?") {
      parts.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(sql.slice(start));
  if (splits.size < 5000) splits.set(sql, parts);
  return parts;
}

/** `?` → `$n` with a cast from the value's JavaScript type; bytes as Buffers. */
export function toPostgres(sql: string, params: Params): { text: string; values: unknown[] } {
  const parts = splitAtPlaceholders(sql);
  if (parts.length - 1 !== params.length) throw new RangeError(`the statement has ${parts.length - 1} placeholders but ${params.length} values were given`);
  let text = parts[0];
  const values: unknown[] = new Array(params.length);
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    let cast = "";
    if (typeof v === "number") cast = Number.isInteger(v) ? "::int8" : "::float8";
    else if (typeof v === "bigint") cast = "::int8";
    else if (v instanceof Uint8Array) cast = "::bytea";
    values[i] = v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : typeof v === "bigint" ? v.toString() : v;
    text += "$" + (i + 1) + cast + parts[i + 1];
  }
  return { text, values };
}

// ---- schema ----

/** The function behind every append-only trigger: refuses the change with the trigger's message, as a constraint error. */
const REFUSE_FUNCTION = `CREATE OR REPLACE FUNCTION evrec_refuse() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation'; END $fn$;`;

const TRIGGER = /CREATE TRIGGER (\w+) BEFORE (UPDATE|DELETE|INSERT) ON (\w+)\s+BEGIN SELECT RAISE\(ABORT, ('(?:[^']|'')*')\); END;/g;

/** A migration step written in SQLite's DDL, as PostgreSQL spells it. */
export function postgresDdl(sql: string): string {
  let triggers = false;
  const out = sql
    .replace(TRIGGER, (_m, name: string, op: string, table: string, message: string) => {
      triggers = true;
      return `CREATE TRIGGER ${name} BEFORE ${op} ON ${table} FOR EACH ROW EXECUTE FUNCTION evrec_refuse(${message});`;
    })
    .replace(/\bINTEGER PRIMARY KEY\b/g, "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    .replace(/\bINTEGER\b/g, "BIGINT")
    .replace(/\bBLOB\b/g, "BYTEA")
    .replace(/\bREAL\b/g, "DOUBLE PRECISION");
  // A step using what this translation does not know fails here, by name, not halfway through.
  const unknown = /\b(RAISE\s*\(|AUTOINCREMENT|PRAGMA|WITHOUT\s+ROWID|CREATE\s+TRIGGER(?![^;]*EXECUTE FUNCTION))/i.exec(out);
  if (unknown) throw new GatewayError("SCHEMA_DIALECT", `a migration step uses ${unknown[1]}, which the PostgreSQL driver does not translate: ${sql.trim().slice(0, 80)}`);
  return triggers ? REFUSE_FUNCTION + "\n" + out : out;
}
