// The SQLite connection's own thread (sqlite.ts starts it): better-sqlite3, which is synchronous,
// runs every statement here, so a statement never waits for the gateway's busy event loop between
// its steps, and a batch of statements (one message) runs from BEGIN's successor to its last
// without the main thread. Plain JavaScript, not TypeScript: it is loaded as a file by a Worker,
// whatever loader (tsx, vitest) runs the process that starts it.
//
// Messages in: { id, op, stmts: [{ sql, params, blobs }], data, begin }. op is "run", "get", "all"
// or "exec" (on the one statement), "batch" (the statements in order, inside the transaction the
// main thread opened), "tx" (a whole transaction: `begin`, the statements, COMMIT; ROLLBACK if one
// fails) or "close". Bytes travel packed: each statement's `blobs` lists triples (parameter index,
// offset, length) into `data`, one buffer per message, and the parameter itself is null (sqlite.ts
// says why). Messages out: { id, ok: true, value } or { id, ok: false, message, code }.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

let db;
try {
  db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
} catch (e) {
  parentPort.postMessage({ id: 0, ok: false, message: String(e && e.message), code: e && e.code });
  parentPort.close();
}

/** Prepared statements by their text, most recently used last; the oldest go beyond CACHE. */
const cache = new Map();
const CACHE = 200;

function prepared(sql) {
  let s = cache.get(sql);
  if (s) {
    cache.delete(sql);
    cache.set(sql, s);
    return s;
  }
  s = db.prepare(sql);
  cache.set(sql, s);
  if (cache.size > CACHE) cache.delete(cache.keys().next().value);
  return s;
}

/**
 * A statement's parameters bound as the store means them: an integer as a 64-bit integer
 * (better-sqlite3 binds every number as a double), a boolean as 1 or 0, undefined as NULL, bytes
 * from the packed buffer.
 */
function bind(st, data) {
  const params = st.params;
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    if (typeof v === "number") { if (Number.isSafeInteger(v)) params[i] = BigInt(v); }
    else if (typeof v === "boolean") params[i] = v ? 1n : 0n;
    else if (v === undefined) params[i] = null;
  }
  const blobs = st.blobs;
  if (blobs) for (let i = 0; i < blobs.length; i += 3) params[blobs[i]] = Buffer.from(data.buffer, data.byteOffset + blobs[i + 1], blobs[i + 2]);
  return params;
}

/** A statement run for its effect (one that returns rows, an INSERT ... RETURNING, too). */
function run(st, data) {
  const s = prepared(st.sql);
  const p = bind(st, data);
  return { changes: s.reader ? s.all(p).length : s.run(p).changes };
}

/** A statement's rows: the first (get) or all; none from one that returns no rows. */
function rows(st, data, first) {
  const s = prepared(st.sql);
  const p = bind(st, data);
  if (!s.reader) { s.run(p); return first ? undefined : []; }
  return first ? s.get(p) : s.all(p);
}

function step(m) {
  const st = m.stmts[0];
  switch (m.op) {
    case "run": return run(st, m.data);
    case "get": return rows(st, m.data, true);
    case "all": return rows(st, m.data, false);
    case "exec": db.exec(st.sql); return undefined;
    case "batch": for (const x of m.stmts) run(x, m.data); return undefined;
    case "tx":
      db.exec(m.begin);
      try {
        for (const x of m.stmts) run(x, m.data);
        db.exec("COMMIT");
      } catch (e) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw e;
      }
      return undefined;
    case "close": db.close(); return undefined;
    default: throw new Error("unknown operation " + m.op);
  }
}

if (db) parentPort.on("message", (m) => {
  let reply;
  try {
    reply = { id: m.id, ok: true, value: step(m) };
  } catch (e) {
    reply = { id: m.id, ok: false, message: String(e && e.message), code: e && e.code };
  }
  parentPort.postMessage(reply);
  if (m.op === "close" && reply.ok) parentPort.close();
});
if (db) parentPort.postMessage({ id: 0, ok: true, value: "ready" });
