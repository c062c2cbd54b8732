// The statements a piece of the gateway sends to its store, caught on their way (the Db's own
// object, so every part holding it is caught), and their query plans: what the aged-store bench
// prints and the plan test holds, with no copy of the store's SQL.
import { AsyncLocalStorage } from "node:async_hooks";
import type { Db, Params } from "../../gateway/store/db.js";

export interface Caught { sql: string; params: Params }

/**
 * Run `fn` and catch the reads (`get`, `all`) it sends to `db`, and only its: what the gateway's
 * timers send meanwhile (its fleet checks) is not caught.
 */
export async function readsOf<T>(db: Db, fn: () => Promise<T>): Promise<{ result: T; caught: Caught[] }> {
  const caught: Caught[] = [];
  const mine = new AsyncLocalStorage<Caught[]>();
  const target = db as unknown as Record<string, unknown>;
  const originals: [string, unknown, boolean][] = [];
  for (const name of ["get", "all"] as const) {
    const own = Object.prototype.hasOwnProperty.call(target, name);
    const send = (db[name] as (sql: string, params?: Params) => Promise<unknown>).bind(db);
    originals.push([name, target[name], own]);
    target[name] = (sql: string, params: Params = []) => {
      if (mine.getStore() === caught && /^\s*(SELECT|WITH)\b/i.test(sql)) caught.push({ sql, params });
      return send(sql, params);
    };
  }
  try {
    return { result: await mine.run(caught, fn), caught };
  } finally {
    for (const [name, was, own] of originals) {
      if (own) target[name] = was;
      else delete target[name];
    }
  }
}

/** One statement's plan, a line per step (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN). */
export async function planOf(db: Db, s: Caught): Promise<string[]> {
  if (db.dialect === "sqlite") {
    const rows = await db.all<{ detail: string }>("EXPLAIN QUERY PLAN " + s.sql, s.params);
    return rows.map((r) => r.detail);
  }
  const rows = await db.all<{ "QUERY PLAN": string }>("EXPLAIN " + s.sql, s.params);
  return rows.map((r) => r["QUERY PLAN"].trim());
}

/**
 * The store's partial indexes (those with a WHERE): scanning one reads only the few rows it holds
 * (the recordings not yet logged, those not wholly uploaded), not the table.
 */
export async function partialIndexes(db: Db): Promise<Set<string>> {
  const rows = db.dialect === "sqlite"
    ? await db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'")
    : await db.all<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '% WHERE %'");
  return new Set(rows.map((r) => r.name));
}

const KEYWORDS = new Set(["WHERE", "JOIN", "LEFT", "INNER", "ON", "GROUP", "ORDER", "LIMIT", "USING", "CROSS", "NATURAL", "UNION", "AS"]);

/** The tables a statement names after FROM and JOIN, by the name the plan shows (its alias, else its own). */
export function tablesOf(sql: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of sql.matchAll(/\b(?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?/gi)) {
    const alias = m[2] && !KEYWORDS.has(m[2].toUpperCase()) ? m[2] : m[1];
    out.set(alias, m[1]);
  }
  return out;
}

/**
 * The steps of a plan that read the whole of one of `tables`: SQLite's `SCAN t` (shown by the
 * alias the statement gives it, if any) and PostgreSQL's `Seq Scan on t`. A statement with no
 * WHERE (but in its subqueries) that takes the first rows of a table in the order it is stored or
 * indexed (an audit log's newest entries, a page of clips) reads only those: not counted; nor is a
 * scan of a partial index (`partial`), which holds only the rows it is for.
 */
export function fullScans(s: Caught, plan: string[], tables: string[], partial: Set<string> = new Set()): string[] {
  const names = new Set(tables);
  const byAlias = tablesOf(s.sql);
  // The first rows of a table in its own order (the audit log's newest entries, a page of clips by
  // their key), with no filter outside the subqueries each row's columns ask: the scan stops after
  // LIMIT rows. The subqueries' own steps are still looked at.
  let outer = s.sql;
  for (let was = ""; was !== outer;) { was = outer; outer = outer.replace(/\([^()]*\)/g, "_"); }
  const stopped = !/\bWHERE\b/i.test(outer) && /\bLIMIT\b/i.test(outer) && !plan.some((p) => /TEMP B-TREE|Sort/.test(p)) ? tablesOf(outer) : new Map<string, string>();
  return plan.filter((step) => {
    const m = /^SCAN (\w+)/.exec(step) ?? /Seq Scan on (\w+)/.exec(step);
    const index = /USING (?:COVERING )?INDEX (\w+)/.exec(step)?.[1];
    if (index && partial.has(index)) return false;
    return !!m && !stopped.has(m[1]) && names.has(byAlias.get(m[1]) ?? m[1]);
  });
}
