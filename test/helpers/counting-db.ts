// A store's database as a pass sees it, counting the rows each `all` answered: what a test of a
// paged pass asserts on (never more than a page at once), through the real store functions.
import type { Db } from "../../gateway/store/db.js";

export function countingDb(db: Db): { db: Db; largest: () => number; reads: () => number } {
  let largest = 0;
  let reads = 0;
  const all = async <T,>(sql: string, params?: Parameters<Db["all"]>[1]): Promise<T[]> => {
    const rows = await db.all<T>(sql, params);
    reads++;
    largest = Math.max(largest, rows.length);
    return rows;
  };
  // Everything else is the database's own, called on it (its queue and connection stay one).
  const wrapped = new Proxy(db, {
    get(target, key) {
      if (key === "all") return all;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { db: wrapped, largest: () => largest, reads: () => reads };
}
