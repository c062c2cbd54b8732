// The store on PostgreSQL where it differs from SQLite: what the driver translates (placeholders,
// 64-bit times, bytes, the append-only triggers), a failed statement inside a savepoint that leaves
// the batch's transaction usable, and a server that can't be reached, said with its reason code.
// (The store's own tests run here too: the vitest project "postgres" in vitest.config.ts.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Db, isConstraintError, storeUnavailable } from "../../gateway/store/db.js";
import { ALL_MIGRATIONS } from "../../gateway/gateway.js";
import { migrate } from "../../gateway/store/schema.js";
import { postgresDdl, toPostgres } from "../../gateway/store/postgres.js";
import { loadConfig } from "../../gateway/config.js";
import type { GatewayError } from "../../gateway/errors.js";
import { freePort, postgresMissing, testDb } from "../helpers/postgres.js";
import { until } from "../helpers/wait.js";

const missing = postgresMissing();

describe.skipIf(!!missing)(`the store on PostgreSQL${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let db: Db;
  let url: string;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const t = await testDb();
    drop = t.drop;
    url = t.db;
    db = await Db.open(t.db);
    await migrate(db, ALL_MIGRATIONS);
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it("runs every migration of every part, and a second start changes nothing", async () => {
    expect(db.dialect).toBe("postgres");
    const before = await db.all<{ key: string; value: string }>("SELECT key, value FROM meta ORDER BY key");
    await migrate(db, ALL_MIGRATIONS);
    expect(await db.all("SELECT key, value FROM meta ORDER BY key")).toEqual(before);
    expect(before.map((r) => r.key)).toContain("schema:tlog");
  });

  it("keeps millisecond times beyond 2^31 and bytes exactly, and gives them back as numbers and Buffers", async () => {
    const at = 1_764_806_400_123;
    const root = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x27, 0x3f]);
    await db.run("INSERT INTO devices (id, root_enc, created_at) VALUES (?, ?, ?)", ["PG-0001", new Uint8Array(root), at]);
    const row = await db.get<{ root_enc: Buffer; created_at: number; n: number; late: number }>(
      "SELECT root_enc, created_at, (SELECT COUNT(*) FROM devices) AS n, CASE WHEN created_at >= ? THEN 1 ELSE 0 END AS late FROM devices WHERE id = ?", [at - 1, "PG-0001"]);
    expect(row).toEqual({ root_enc: root, created_at: at, n: 1, late: 1 });
  });

  it("leaves a ? inside quoted text alone and binds the rest in order", async () => {
    expect(await db.get("SELECT '?' AS q, 'it''s ?' AS s, ? AS a, ? AS b", ["x", 2])).toEqual({ q: "?", s: "it's ?", a: "x", b: 2 });
    await expect(db.get("SELECT ? AS a", [])).rejects.toThrow(/1 placeholders but 0 values/);
  });

  it("returns new ids from RETURNING, as lastID did on SQLite", async () => {
    const a = await db.get<{ id: number }>("INSERT INTO units (parent_id, name, level) VALUES (?, ?, ?) RETURNING id", [null, "Region", "region"]);
    const b = await db.get<{ id: number }>("INSERT INTO units (parent_id, name, level) VALUES (?, ?, ?) RETURNING id", [a!.id, "City", "city"]);
    expect(typeof a!.id).toBe("number");
    expect(b!.id).toBeGreaterThan(a!.id);
  });

  it("undoes only the failed item of a transaction in a savepoint, and commits the rest", async () => {
    await db.transaction(async () => {
      await db.savepoint(() => db.run("INSERT INTO devices (id, root_enc, created_at) VALUES ('PG-0002', ?, 1)", [Buffer.alloc(4)]));
      // A duplicate key inside a savepoint: PostgreSQL would abort the whole transaction without it.
      await expect(db.savepoint(async () => {
        await db.run("INSERT INTO devices (id, root_enc, created_at) VALUES ('PG-0003', ?, 1)", [Buffer.alloc(4)]);
        await db.run("INSERT INTO devices (id, root_enc, created_at) VALUES ('PG-0002', ?, 1)", [Buffer.alloc(4)]);
      })).rejects.toSatisfy(isConstraintError);
      await db.savepoint(() => db.run("INSERT INTO devices (id, root_enc, created_at) VALUES ('PG-0004', ?, 1)", [Buffer.alloc(4)]));
    });
    expect((await db.all<{ id: string }>("SELECT id FROM devices WHERE id IN ('PG-0002', 'PG-0003', 'PG-0004') ORDER BY id")).map((r) => r.id)).toEqual(["PG-0002", "PG-0004"]);
  });

  it("ends a deadlock of a worker's commit and an admin's change with DB_CONFLICT (503): one commits whole, the other keeps nothing", async () => {
    await db.run("INSERT INTO devices (id, root_enc, created_at) VALUES ('PG-0200', ?, 1), ('PG-0201', ?, 1)", [Buffer.alloc(4), Buffer.alloc(4)]);
    const admin = await Db.open(url);
    try {
      // Each takes its first row, then waits for the other's before asking for it: PostgreSQL finds the cycle.
      let aHas!: () => void, bHas!: () => void;
      const aLocked = new Promise<void>((r) => (aHas = r)), bLocked = new Promise<void>((r) => (bHas = r));
      const worker = db.transaction(async () => {
        await db.run("UPDATE devices SET last_seen = 7 WHERE id = 'PG-0200'");
        aHas();
        await bLocked;
        await db.run("UPDATE devices SET last_seen = 7 WHERE id = 'PG-0201'");
      }, { rowsOnly: true });
      const change = admin.transaction(async () => {
        await admin.run("UPDATE devices SET state = 'lost' WHERE id = 'PG-0201'");
        bHas();
        await aLocked;
        await admin.run("UPDATE devices SET state = 'lost' WHERE id = 'PG-0200'");
      });
      const [w, c] = await Promise.allSettled([worker, change]);
      const failed = [w, c].filter((x) => x.status === "rejected") as PromiseRejectedResult[];
      expect(failed.length).toBe(1);
      const e = failed[0].reason as GatewayError;
      expect([e.code, e.status, e.message]).toEqual(["DB_CONFLICT", 503, expect.stringMatching(/\(a deadlock\): nothing of it was kept; try again$/)]);
      const rows = await db.all<{ id: string; state: string; last_seen: number | null }>("SELECT id, state, last_seen FROM devices WHERE id IN ('PG-0200', 'PG-0201') ORDER BY id");
      // Whole or nothing: the winner's two rows, none of the loser's.
      expect(rows).toEqual(w.status === "fulfilled"
        ? [{ id: "PG-0200", state: "provisioned", last_seen: 7 }, { id: "PG-0201", state: "provisioned", last_seen: 7 }]
        : [{ id: "PG-0200", state: "lost", last_seen: null }, { id: "PG-0201", state: "lost", last_seen: null }]);
      // Both connections go on: the loser's next transaction commits.
      await (w.status === "rejected" ? db : admin).transaction(() => (w.status === "rejected" ? db : admin).run("UPDATE devices SET room = 'r' WHERE id = 'PG-0200'"));
      expect(await db.get("SELECT room FROM devices WHERE id = 'PG-0200'")).toEqual({ room: "r" });
    } finally {
      await admin.close();
    }
  });

  it("rolls a whole transaction back when it throws, including what a joined inner call wrote", async () => {
    await expect(db.transaction(async () => {
      await db.run("INSERT INTO devices (id, root_enc, created_at) VALUES ('PG-0005', ?, 1)", [Buffer.alloc(4)]);
      await db.transaction(() => db.run("INSERT INTO devices (id, root_enc, created_at) VALUES ('PG-0006', ?, 1)", [Buffer.alloc(4)]));
      throw new Error("changed my mind");
    })).rejects.toThrow("changed my mind");
    expect(await db.get("SELECT id FROM devices WHERE id IN ('PG-0005', 'PG-0006')")).toBeUndefined();
  });

  it("refuses edits of the audit log and the transparency log as constraint errors, as SQLite's triggers do", async () => {
    await db.run("INSERT INTO audit_log (seq, at, actor, action, prev, hash) VALUES (1, 1, 'a', 'x', 'p', 'h')");
    for (const sql of ["UPDATE audit_log SET actor = 'b'", "DELETE FROM audit_log"]) {
      const e = await db.run(sql).then(() => null, (x: unknown) => x);
      expect(String(e)).toMatch(/audit_log is append-only/);
      expect(isConstraintError(e)).toBe(true);
    }
    await db.run("INSERT INTO tlog_leaves (idx, ref, kind, data, hash, at) VALUES (0, 'r', 'k', ?, ?, 1)", [Buffer.from("d"), Buffer.alloc(32)]);
    await expect(db.run("DELETE FROM tlog_leaves")).rejects.toThrow(/tlog_leaves is append-only/);
  });

  it("replaces a connection the server dropped: the statement in flight fails DB_CONNECTION_LOST (503), the next transaction commits", async () => {
    const t = await testDb();
    const a = await Db.open(t.db);
    const b = await Db.open(t.db);
    try {
      await migrate(a, ALL_MIGRATIONS);
      const { pid } = (await a.get<{ pid: number }>("SELECT pg_backend_pid() AS pid"))!;
      const inFlight = a.get("SELECT pg_sleep(30) AS slept");
      await until("the statement running", async () => !!(await b.get("SELECT 1 AS one FROM pg_stat_activity WHERE pid = CAST(? AS INTEGER) AND query LIKE '%pg_sleep%' AND state = 'active'", [pid])), 10000);
      await b.get("SELECT pg_terminate_backend(CAST(? AS INTEGER)) AS ok", [pid]);
      const lost = await inFlight.then(() => null, (e: unknown) => e);
      expect(lost).toMatchObject({ code: "DB_CONNECTION_LOST", status: 503 });
      expect(String(lost)).toMatch(/the connection to PostgreSQL at \S+ was lost: /);
      expect(storeUnavailable(lost)).toBe(true);
      expect(await a.get("SELECT 1 AS one")).toEqual({ one: 1 });
      await a.transaction(() => a.run("INSERT INTO devices (id, root_enc, created_at) VALUES ('PG-0100', ?, 1)", [Buffer.alloc(4)]));
      expect(await b.get("SELECT id FROM devices WHERE id = 'PG-0100'")).toEqual({ id: "PG-0100" });
      expect((await a.get<{ pid: number }>("SELECT pg_backend_pid() AS pid"))!.pid).not.toBe(pid);
    } finally {
      await a.close();
      await b.close();
      await t.drop();
    }
  });
});

describe("what the PostgreSQL driver translates, without a server", () => {
  it("spells the migrations' types and append-only triggers for PostgreSQL, and refuses what it does not know by name", () => {
    const out = postgresDdl("CREATE TABLE t (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, data BLOB, ratio REAL);\nCREATE TRIGGER t_no_delete BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 't is kept'); END;");
    expect(out).toContain("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, data BYTEA, ratio DOUBLE PRECISION");
    expect(out).toContain("CREATE TRIGGER t_no_delete BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION evrec_refuse('t is kept');");
    expect(() => postgresDdl("CREATE TABLE u (id INTEGER PRIMARY KEY AUTOINCREMENT)")).toThrow(expect.objectContaining({ code: "SCHEMA_DIALECT" }));
    expect(() => postgresDdl("CREATE TRIGGER x AFTER INSERT ON t BEGIN UPDATE t SET at = 0; END;")).toThrow(/CREATE TRIGGER/);
  });

  it("numbers placeholders and types them by the value bound", () => {
    expect(toPostgres("SELECT a FROM t WHERE b = ? AND c > ? AND d = ? AND e = ? AND f = '?' AND g IS ?", [1_764_806_400_123, 2.5, Buffer.from("x"), "s", null])).toEqual({
      text: "SELECT a FROM t WHERE b = $1::int8 AND c > $2::float8 AND d = $3::bytea AND e = $4 AND f = '?' AND g IS $5",
      values: [1_764_806_400_123, 2.5, Buffer.from("x"), "s", null],
    });
  });

  it("takes --db only as a PostgreSQL connection string", () => {
    expect(loadConfig(["--db", "postgres://u:p@db.station:5432/evrec"], {}).config.db).toBe("postgres://u:p@db.station:5432/evrec");
    expect(loadConfig([], { EVREC_DB: "postgresql://db.station/evrec" }).config.db).toBe("postgresql://db.station/evrec");
    expect(loadConfig([], {}).config.db).toBe("");
    expect(() => loadConfig(["--db", "mysql://u:secret@h/db"], {})).toThrow(/db must be a PostgreSQL connection string .* got one starting "mysql"/);
    expect(() => loadConfig(["--db", "mysql://u:secret@h/db"], {})).not.toThrow(/secret/);
  });
});

describe("a PostgreSQL server that can't be reached", () => {
  it("stops the gateway's start with DB_UNREACHABLE and the server it tried, without the password", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "evrec-pgdown-"));
    try {
      await expect(Db.open(`postgres://evrec:secret@127.0.0.1:${port}/station`)).rejects.toMatchObject({ code: "DB_UNREACHABLE" });
      const c = spawn("bin/evrec-gateway", ["--data-dir", dir, "--mqtt-port", "0", "--http-port", "0", "--db", `postgres://evrec:secret@127.0.0.1:${port}/station`], { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      c.stderr!.on("data", (b) => (err += String(b)));
      const code = await new Promise((r) => c.once("exit", r));
      expect(code).toBe(2);
      expect(err).toMatch(new RegExp(`gateway: DB_UNREACHABLE: PostgreSQL at 127\\.0\\.0\\.1:${port}/station can't be reached`));
      expect(err).not.toContain("secret");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
