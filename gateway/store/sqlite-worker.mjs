// The SQLite connection's own thread (sqlite.ts starts it): better-sqlite3, which is synchronous,
// runs every statement here, so a statement never waits for the gateway's busy event loop between
// its steps, and a batch of statements (one message) runs from BEGIN's successor to its last
// without the main thread. Plain JavaScript, not TypeScript: it is loaded as a file by a Worker,
// whatever loader (tsx, vitest) runs the process that starts it.
//
// Messages in: { id, op, sql, params, blobs, data } with op "run" | "get" | "all" | "exec", or
// { id, op: "batch", stmts: [{ sql, params, blobs }], data } (statements in order, inside the
// transaction the main thread opened), { id, op: "tx", begin, stmts, data } (a whole transaction:
// `begin`, the statements, COMMIT; ROLLBACK if one fails), or { id, op: "close" }.
// Bytes travel packed: each statement's `blobs` lists triples (parameter index, offset, length)
// into `data`, one buffer per message, and the parameter itself is null (sqlite.ts says why).
// Messages out: { id, ok: true, value } or { id, ok: false, message, code }.
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
 * The parameters bound as the store means them: an integer as a 64-bit integer (better-sqlite3 binds
 * every number as a double), a boolean as 1 or 0, undefined as NULL, bytes from the packed buffer.
 */
function bind(params, blobs, data) {
  for (let i = 0; i < params.length; i++) {
    const v = params[i];
    if (typeof v === "number") { if (Number.isSafeInteger(v)) params[i] = BigInt(v); }
    else if (typeof v === "boolean") params[i] = v ? 1n : 0n;
    else if (v === undefined) params[i] = null;
  }
  if (blobs) for (let i = 0; i < blobs.length; i += 3) params[blobs[i]] = Buffer.from(data.buffer, data.byteOffset + blobs[i + 1], blobs[i + 2]);
  return params;
}

function run(sql, params) {
  const s = prepared(sql);
  // A statement that returns rows (INSERT ... RETURNING) run for its effect.
  if (s.reader) return { changes: s.all(params).length };
  return { changes: s.run(params).changes };
}

function step(m) {
  switch (m.op) {
    case "run": return run(m.sql, bind(m.params, m.blobs, m.data));
    case "get": {
      const s = prepared(m.sql);
      const p = bind(m.params, m.blobs, m.data);
      if (!s.reader) { s.run(p); return undefined; }
      return s.get(p);
    }
    case "all": {
      const s = prepared(m.sql);
      const p = bind(m.params, m.blobs, m.data);
      if (!s.reader) { s.run(p); return []; }
      return s.all(p);
    }
    case "exec": db.exec(m.sql); return undefined;
    case "batch": {
      let changes = 0;
      for (const st of m.stmts) changes += run(st.sql, bind(st.params, st.blobs, m.data)).changes;
      return { changes };
    }
    case "tx": {
      db.exec(m.begin);
      try {
        for (const st of m.stmts) run(st.sql, bind(st.params, st.blobs, m.data));
        db.exec("COMMIT");
      } catch (e) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw e;
      }
      return undefined;
    }
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
