// Fencing tokens of cluster workers (docs/SCALE.md). A partition's lease moves from one worker to
// another by the clock, so a worker that stalls (a GC pause, SIGSTOP, a slow disk) can still be
// committing when its successor has begun. Each take of a lease has a token that only grows (the
// JetStream sequence of the message that took it); the worker raises the stored token as it starts
// the partition, and each commit transaction of a partition's messages checks, inside itself, that
// the stored token is still the one it holds. One that finds another rolls back whole (FENCED).
import type { Db } from "./db.js";
import { GatewayError } from "../errors.js";

/** A partition as a worker holds it: the token of the take that gave it the lease. */
export interface HeldPartition {
  part: number;
  token: number;
}

/** A commit refused: a partition it writes for is no longer the worker's. `parts` names them. */
export class FencedError extends GatewayError {
  constructor(readonly parts: number[], message: string) {
    super("FENCED", message);
    this.name = "FencedError";
  }
}

/**
 * `holder` took partition `p.part`'s lease with `p.token`: stored, in a transaction of its own, if
 * the token is higher than the one stored. False when the stored one is as high or higher (a later
 * take is recorded): the partition is not the holder's to serve.
 */
export async function raiseFence(db: Db, holder: string, p: HeldPartition, at: number): Promise<boolean> {
  return db.transaction(async () => {
    const r = await db.run(
      `INSERT INTO partition_fences (part, holder, token, since) VALUES (?, ?, ?, ?)
       ON CONFLICT (part) DO UPDATE SET holder = excluded.holder, token = excluded.token, since = excluded.since WHERE partition_fences.token < excluded.token`,
      [p.part, holder, p.token, at]);
    return r.changes === 1;
  });
}

/**
 * Inside a commit's transaction: is every partition in `held` still `holder`'s, with the token it
 * holds? If not, FencedError, which rolls the transaction back. The check is an UPDATE that
 * changes nothing rather than a SELECT: it locks the rows it matches until the commit ends, so a
 * successor's raiseFence waits for this commit and never slips in before it (on PostgreSQL this
 * holds whatever else the transactions lock; SQLite has one writer anyway), and it matches
 * nothing once a successor's token is stored.
 */
export async function checkFences(db: Db, holder: string, held: HeldPartition[]): Promise<void> {
  const parts = new Map(held.map((h) => [h.part, h.token]));
  if (!parts.size) return;
  const r = await db.run(`UPDATE partition_fences SET token = token WHERE holder = ? AND (${[...parts].map(() => "(part = ? AND token = ?)").join(" OR ")})`,
    [holder, ...[...parts].flat()]);
  if (r.changes === parts.size) return;
  const rows = await db.all<{ part: number; holder: string; token: number }>(`SELECT part, holder, token FROM partition_fences WHERE part IN (${[...parts].map(() => "?").join(", ")})`, [...parts.keys()]);
  const lost = [...parts].filter(([part, token]) => !rows.some((x) => x.part === part && x.holder === holder && x.token === token));
  const said = lost.map(([part, token]) => {
    const x = rows.find((y) => y.part === part);
    return `partition ${part} (token ${token} here; the store's: ${x ? `${x.token}, ${x.holder}` : "none"})`;
  });
  throw new FencedError(lost.map(([part]) => part), `not committed: ${holder} no longer holds ${said.join(", ")}`);
}

/** The stored token of each partition, by partition (tests, diagnostics). */
export async function fences(db: Db): Promise<{ part: number; holder: string; token: number; since: number }[]> {
  return db.all("SELECT part, holder, token, since FROM partition_fences ORDER BY part");
}
