// A throwaway PostgreSQL server started by the tests themselves: Debian's binaries, a data
// directory in a fresh temporary directory, the unix socket there too, TCP on loopback at a free
// port, fsync on (what a commit promises is the point). As root (CI), PostgreSQL refuses to run,
// so initdb and the server run as the `postgres` account. stop() kills the server by its pid and
// removes everything. Each gateway under test gets a schema of its own on it (testDb).
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { Db } from "../../gateway/store/db.js";

/** Where Debian's PostgreSQL 15 binaries are (EVREC_PG_BIN overrides). */
export const PG_BIN = process.env.EVREC_PG_BIN || "/usr/lib/postgresql/15/bin";

/** Why PostgreSQL tests can't run here, or null when they can. */
export function postgresMissing(): string | null {
  if (!existsSync(join(PG_BIN, "postgres")) || !existsSync(join(PG_BIN, "initdb"))) return `no PostgreSQL 15 binaries in ${PG_BIN} (apt-get install postgresql)`;
  if (isRoot() && !account()) return "running as root and there is no postgres account to run the server as (apt-get install postgresql makes one)";
  return null;
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

function account(): { uid: number; gid: number } | null {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === "postgres") return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/** A command line, as the postgres account when we are root. */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return isRoot() ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    }).on("error", reject);
  });
}

export interface PostgresServer {
  port: number;
  /** Connection string of a database on it (the maintenance database "postgres" by default). */
  url(database?: string): string;
  /** A new empty database; returns its connection string. */
  createDatabase(): Promise<string>;
  dropDatabase(url: string): Promise<void>;
  /**
   * A crash: SIGKILL to the server and every process of it at once (no shutdown, no checkpoint),
   * as a power cut or the kernel's OOM killer would leave it. Resolves once they are all gone.
   */
  crash(): Promise<void>;
  /** Start the server again on the same data and port (it recovers from its WAL); resolves once it accepts connections. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Start a server; resolves once it accepts connections. `whileStarting` is handed the stop of the
 * server being started and returns its undo, called once the start has ended either way: a bench
 * passes its interrupt handler's registration, so a Ctrl-C while PostgreSQL starts stops it too.
 */
export async function startPostgres(whileStarting?: (stop: () => Promise<void>) => () => void): Promise<PostgresServer> {
  const missing = postgresMissing();
  if (missing) throw new Error(missing);
  const root = mkdtempSync(join(tmpdir(), "evrec-pg-"));
  const data = join(root, "data");
  let server: ChildProcess | null = null;
  const stop = async () => {
    // The server's own pid (runuser forks it): a fast shutdown, then SIGKILL if it lingers.
    let pid = 0;
    try { pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]); } catch { /* never started */ }
    if (pid > 0) {
      try { process.kill(pid, "SIGINT"); } catch { /* already gone */ }
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      if (alive(pid)) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
    }
    if (server && server.exitCode === null) await new Promise((r) => { server!.once("exit", r); setTimeout(r, 2000); });
    rmSync(root, { recursive: true, force: true });
  };
  const started = whileStarting?.(stop);
  try {
    if (isRoot()) { const a = account()!; chownSync(root, a.uid, a.gid); }
    // --no-sync only skips flushing the fresh cluster's files at the end of initdb; the server runs with fsync on.
    execFileSync(...asServerUser(join(PG_BIN, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]), { stdio: "pipe" });
    const port = await freePort();
    let log = "";
    const run = async () => {
      log = "";
      server = spawn(...asServerUser(join(PG_BIN, "postgres"), ["-D", data, "-p", String(port), "-k", root, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=200", "-c", "logging_collector=off"]), { stdio: ["ignore", "ignore", "pipe"] });
      server.stderr!.on("data", (b) => { if (log.length < 20000) log += String(b); });
      await waitReady(url(), server, () => log);
    };
    const url = (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`;
    await run();
    const connectAdmin = async () => {
      const c = new pg.Client({ connectionString: url() });
      c.on("error", () => undefined); // the server crashed under it (crash()): replaced at restart()
      await c.connect();
      return c;
    };
    let admin = await connectAdmin();
    return {
      port,
      url,
      async createDatabase() {
        const name = "t_" + randomBytes(6).toString("hex");
        await admin.query(`CREATE DATABASE ${name}`);
        return url(name);
      },
      async dropDatabase(u: string) {
        const name = new URL(u).pathname.slice(1);
        if (/^t_[0-9a-f]+$/.test(name)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
      async crash() {
        const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
        const all = [pid, ...childrenOf(pid)];
        for (const p of all) try { process.kill(p, "SIGKILL"); } catch { /* gone */ }
        for (let i = 0; i < 200 && all.some(alive); i++) await new Promise((r) => setTimeout(r, 25));
        if (server && server.exitCode === null) await new Promise((r) => { server!.once("exit", r); setTimeout(r, 2000); });
        // Its lock file names a pid that is gone (the restart would see so too): removed, so that a
        // stop() without a restart signals no process that came to have that pid since.
        rmSync(join(data, "postmaster.pid"), { force: true });
      },
      async restart() {
        await run();
        admin = await connectAdmin();
      },
      async stop() {
        await admin.end().catch(() => undefined);
        await stop();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  } finally {
    started?.();
  }
}

/** The processes whose parent is `pid` (a PostgreSQL server's backends and helpers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // The parent is the fourth field, after the command in parentheses (which may hold spaces).
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(e));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function waitReady(url: string, server: ChildProcess, log: () => string): Promise<void> {
  const until = Date.now() + 30000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`postgres exited (${server.exitCode}): ${log().slice(-2000)}`);
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.end();
      return;
    } catch (e) {
      await c.end().catch(() => undefined);
      if (Date.now() > until) throw new Error(`postgres did not accept connections within 30 s: ${(e as Error).message}\n${log().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    /** The PostgreSQL project's server (its maintenance database), or why there is none. */
    postgres: { url: string } | { missing: string };
  }
}

/** Does this run test the store on PostgreSQL (the vitest project "postgres" sets GATEWAY_TEST_DB)? */
export const onPostgres = process.env.GATEWAY_TEST_DB === "postgres";

/** This test file's database on the run's server (made once per file: a CREATE DATABASE takes about half a second). */
let fileDatabase: Promise<string> | null = null;

/**
 * The `db` a gateway under test is configured with: "" (SQLite in its data directory), or on the
 * PostgreSQL run a fresh schema of its own in this test file's database (search_path in the
 * connection string); drop() removes the schema. A database per file keeps files that run side by
 * side from waiting on each other's write lock (advisory locks are per database); the server, and
 * with it the databases, is removed at the end of the run.
 */
export async function testDb(): Promise<{ db: string; drop: () => Promise<void> }> {
  if (!onPostgres) return { db: "", drop: async () => undefined };
  const { inject } = await import("vitest");
  const p = inject("postgres");
  if (!p || "missing" in p) throw new Error(`GATEWAY_TEST_DB=postgres but no server: ${p ? p.missing : "run through the vitest project \"postgres\""}`);
  const admin = async <T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try { return await f(c); } finally { await c.end(); }
  };
  fileDatabase ??= (async () => {
    const name = "t_" + randomBytes(6).toString("hex");
    await admin(p.url, (c) => c.query(`CREATE DATABASE ${name}`));
    const u = new URL(p.url);
    u.pathname = "/" + name;
    return u.toString();
  })();
  const base = await fileDatabase;
  const schema = "s_" + randomBytes(6).toString("hex");
  await admin(base, (c) => c.query(`CREATE SCHEMA ${schema}`));
  const u = new URL(base);
  u.searchParams.set("options", `-c search_path=${schema}`);
  return { db: u.toString(), drop: () => admin(base, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).then(() => undefined) };
}

/** A database for a store test: the SQLite file named, or on the PostgreSQL run a fresh database (dropped at close()). */
export async function openTestDb(file: string): Promise<Db> {
  const t = await testDb();
  const db = await Db.open(t.db || file);
  const close = db.close.bind(db);
  db.close = async () => { await close(); await t.drop(); };
  return db;
}
