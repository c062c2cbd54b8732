// Group commit (R-ACK-1): work queued within a few milliseconds is made durable together,
// media fsync'd once per file, then one SQLite transaction, and only then are the waiting
// acknowledgements released. Throughput doesn't pay one fsync per chunk. While a batch writes its
// media, what arrives waits and becomes the next batch as a whole (which writes its media while
// the one before is in its transaction): a slow disk makes batches larger, not more numerous, so
// latency stays about two commit times however far behind the disk falls.
//
// The durability order, per batch:
//   1. every item's media is written at its offset; an item whose write fails fails alone;
//   2. every file written is made durable (Media.sync), each as soon as its own writes are done
//      (not after every file's: the syncs of some files overlap the writes of others); a sync that
//      fails fails the items that wrote that file. The station's media are journalled: every
//      write of the batch is taken by the media journal as it starts, and the first sync writes
//      them all in one write of the journal, which the others wait for (store/media-journal.ts);
//      without the journal the files are opened O_DSYNC and sync() is left only new directory
//      entries (store/media.ts);
//   3. one transaction. First every item's statements together (`together`: a few large
//      statements for the whole batch, not several per item, since each statement is a round trip
//      through a loaded event loop); if anything in it fails, it is rolled back and the batch is
//      written again with each item inside its own savepoint, so an item whose statements fail is
//      rolled back alone and the others commit (one device's bad row never fails another's);
//      a cluster worker's fence runs first in either, and failing, rolls back the whole batch;
//   4. after COMMIT returns, each item's promise settles: resolved only if its rows are committed.
// Batches commit one after another, in submission order, so a later item never commits before an
// earlier one of the same recording; a batch's media phase overlaps the transaction of the one
// before. An item whose `owner` died (an earlier item of the same recording failed, so the
// in-memory state it was built from is no longer what the disk holds)
// is skipped and rejected: nothing built on a failed commit is ever committed or acknowledged.
import type { Db, Params } from "../store/db.js";
import type { Media } from "../store/media.js";

/** Media of an item: bytes at their offset in a file of the media store. */
export type MediaWrite = { path: string; offset: number; bytes: Uint8Array };

export interface Work {
  /** The device whose messages the item writes (a cluster worker's fence finds its partition by it). */
  device?: string;
  /** The in-memory state the item was built from; set dead by the caller when one of its items fails. */
  owner?: { dead: boolean };
  media?: MediaWrite[];
  /** Statements to run inside the batch's transaction (in the item's own savepoint). */
  sql: (db: Db) => Promise<void>;
  /**
   * Fold a later item of the same owner into this one while both wait for a batch: one savepoint
   * and one set of statements for a recording's whole share of a batch, not one per message.
   */
  merge?: (later: Work) => void;
  /**
   * The same writes as `sql`, for many items at once: items of a batch whose
   * `together.statements` is the same function are written by the statements of one call, a few
   * large ones.
   */
  together?: Together;
}

/** Items written together: `statements` takes every `item` of the batch that names it. */
export interface Together {
  statements(items: unknown[]): { sql: string; params: Params }[];
  item: unknown;
}

/** Why an item was not committed: its owner died before the item's turn. */
export class SupersededError extends Error {
  constructor() { super("an earlier commit of the same recording failed: not committed"); }
}

/**
 * Faults for tests, never on by default: slow every batch (a starved gateway), hold batches until
 * released, or fail the next items whose statements run.
 */
export interface CommitFaults {
  delayMs: number;
  failNext: number;
}

interface Queued { w: Work; waiters: { resolve: () => void; reject: (e: Error) => void }[]; err: Error | null }

export class GroupCommitter {
  private queue: Queued[] = [];
  /** Items still waiting for a batch, by owner: a later item of the same owner merges into it. */
  private waiting = new Map<object, Queued>();
  private timer: NodeJS.Timeout | null = null;
  /** The last batch taken, settled once its transaction has: the next batch's transaction waits for it. */
  private sqlTail: Promise<void> = Promise.resolve();
  private busy = false;
  private held: Promise<void> | null = null;
  private releaseHeld: (() => void) | null = null;
  batches = 0;
  items = 0;
  failures = 0;
  readonly faults: CommitFaults;
  constructor(private db: Db, private media: Media, private delayMs: number, private maxBatch: number, faults: Partial<CommitFaults> = {},
    /** Each batch's size and how long its media writes, fsyncs and transaction took, in seconds (metrics). */
    private onBatch?: (items: number, mediaS: number, syncS: number, sqlS: number) => void,
    /**
     * Run first inside every batch's transaction, with the devices the batch writes for: a cluster
     * worker checks there that it still holds their partitions (store/fences.ts). If it throws, the
     * whole transaction rolls back and every item of the batch fails with its error. The station
     * gives none: nothing is checked.
     */
    private fence?: (db: Db, devices: string[]) => Promise<void>) {
    this.faults = { delayMs: faults.delayMs || 0, failNext: faults.failNext || 0 };
  }

  /**
   * A fenced committer (a cluster worker) writes only its own partitions' rows, its fence's row
   * lock ordering it against a successor: on PostgreSQL its transactions skip the database-wide
   * write lock, so workers commit side by side (store/db.ts, `rowsOnly`).
   */
  private get txOptions(): { rowsOnly: boolean } {
    return { rowsOnly: !!this.fence };
  }

  /** Resolves once `w` is on the disk; rejects if it is not (nothing of it may be acknowledged). */
  submit(w: Work): Promise<void> {
    return new Promise((resolve, reject) => {
      const same = w.owner && w.merge ? this.waiting.get(w.owner) : undefined;
      if (same && same.w.merge) {
        same.w.merge(w);
        same.waiters.push({ resolve, reject });
        return;
      }
      const q: Queued = { w, waiters: [{ resolve, reject }], err: null };
      this.queue.push(q);
      if (w.owner && w.merge) this.waiting.set(w.owner, q);
      if (this.busy) return; // taken as the next batch when the one committing ends
      if (this.queue.length >= this.maxBatch) this.kick();
      else if (!this.timer) this.timer = setTimeout(() => this.kick(), this.delayMs);
    });
  }

  /** Tests: commit nothing until release() (work keeps queueing). */
  hold(): void {
    if (this.held) return;
    this.held = new Promise((r) => { this.releaseHeld = r; });
  }

  release(): void {
    const r = this.releaseHeld;
    this.held = null;
    this.releaseHeld = null;
    if (r) r();
  }

  private kick(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.busy || !this.queue.length) return;
    const batch = this.queue.splice(0, this.maxBatch);
    for (const q of batch) if (q.w.owner && this.waiting.get(q.w.owner) === q) this.waiting.delete(q.w.owner);
    this.busy = true;
    // commit() settles every item itself; a batch never stops the ones after it.
    this.sqlTail = this.commit(batch, this.sqlTail).catch(() => undefined);
  }

  /**
   * One batch: its media written and fsync'd, then, once the batch before it has committed, its
   * transaction. While it is in its transaction the next batch writes its media (the order per
   * item is unchanged: its media on the disk before its rows; batches commit one after another).
   */
  private async commit(batch: Queued[], before: Promise<void>): Promise<void> {
    if (this.held) await this.held;
    if (this.faults.delayMs) await new Promise((r) => setTimeout(r, this.faults.delayMs));
    const t0 = performance.now();
    // Each file's writes (its items' contiguous parts as one vectored write each), then its fsync
    // at once: a file's sync does not wait for the other files' writes.
    const files = new Map<string, { qs: Set<Queued>; writes: { q: Queued; offset: number; parts: Uint8Array[] }[] }>();
    for (const q of batch) {
      if (q.w.owner && q.w.owner.dead) { q.err = new SupersededError(); continue; }
      const media = q.w.media || [];
      for (let i = 0; i < media.length;) {
        let j = i + 1;
        let end = media[i].offset + media[i].bytes.length;
        while (j < media.length && media[j].path === media[i].path && media[j].offset === end) end += media[j++].bytes.length;
        let f = files.get(media[i].path);
        if (!f) files.set(media[i].path, (f = { qs: new Set(), writes: [] }));
        f.qs.add(q);
        f.writes.push({ q, offset: media[i].offset, parts: media.slice(i, j).map((m) => m.bytes) });
        i = j;
      }
    }
    let t1 = t0;
    const fail = (q: Queued, e: Error) => {
      q.err = q.err || e;
      if (q.w.owner) q.w.owner.dead = true;
    };
    await Promise.all([...files.entries()].map(async ([path, f]) => {
      let written = false;
      for (const w of f.writes) {
        if (w.q.err) continue;
        try {
          await this.media.writev(path, w.offset, w.parts);
          written = true;
        } catch (e) {
          fail(w.q, e as Error);
        }
      }
      const done = performance.now();
      if (done > t1) t1 = done;
      // Nothing of it to keep, nothing to sync.
      if (written) await this.media.sync(path).catch((e: Error) => { for (const q of f.qs) fail(q, e); });
    }));
    const t2w = performance.now();
    await before;
    // In its transaction now: the next batch's media may go to the disk meanwhile.
    this.busy = false;
    this.kick();
    const t2 = performance.now();
    if (!(await this.together(batch))) await this.oneByOne(batch);
    this.batches++;
    if (this.onBatch) this.onBatch(batch.length, (t1 - t0) / 1000, (t2w - t1) / 1000, (performance.now() - t2) / 1000);
    for (const q of batch) {
      if (q.err) {
        this.failures++;
        if (q.w.owner) q.w.owner.dead = true;
        for (const w of q.waiters) w.reject(q.err);
      } else {
        this.items += q.waiters.length;
        for (const w of q.waiters) w.resolve();
      }
    }
  }

  /**
   * The batch's live items in one transaction with no savepoints, those naming the same `together`
   * in one call. False if anything failed (rolled back, nothing of it written).
   */
  private async together(batch: Queued[]): Promise<boolean> {
    // An injected failure is an item's own: the savepoints find it.
    if (this.faults.failNext > 0) return false;
    // Built on an item that failed since its media was written: refused, never written.
    for (const q of batch) if (!q.err && q.w.owner && q.w.owner.dead) q.err = new SupersededError();
    const live = batch.filter((q) => !q.err);
    if (!live.length) return true;
    const groups = new Map<Together["statements"], unknown[]>();
    for (const q of live) {
      const t = q.w.together;
      if (!t) continue;
      const items = groups.get(t.statements);
      if (items) items.push(t.item);
      else groups.set(t.statements, [t.item]);
    }
    const stmts = () => [...groups].flatMap(([statements, items]) => statements(items));
    try {
      // Nothing but statements (no fence, every item written together): the transaction is one
      // unit for the driver, which the SQLite driver's thread runs from BEGIN to COMMIT at once.
      if (!this.fence && live.every((q) => q.w.together)) {
        await this.db.writeBatch(stmts());
        return true;
      }
      await this.db.transaction(async () => {
        await this.checkFence(live);
        for (const q of live) if (!q.w.together) await q.w.sql(this.db);
        await this.db.runAll(stmts());
      }, this.txOptions);
      return true;
    } catch {
      return false;
    }
  }

  /** The cluster's fence for the devices of `items` (none on a station). */
  private async checkFence(items: Queued[]): Promise<void> {
    if (this.fence) await this.fence(this.db, [...new Set(items.filter((q) => !q.err && q.w.device).map((q) => q.w.device!))]);
  }

  /** Each live item in its own savepoint: one whose statements fail is rolled back alone. */
  private async oneByOne(batch: Queued[]): Promise<void> {
    try {
      await this.db.transaction(async () => {
        await this.checkFence(batch);
        for (const q of batch) {
          if (q.err) continue;
          if (q.w.owner && q.w.owner.dead) { q.err = new SupersededError(); continue; }
          try {
            await this.db.savepoint(async () => {
              if (this.faults.failNext > 0) {
                this.faults.failNext--;
                throw new Error("injected commit failure (test fault)");
              }
              await q.w.sql(this.db);
            });
          } catch (e) {
            q.err = e as Error;
            // What comes after it in this batch was built on it: skipped at its turn.
            if (q.w.owner) q.w.owner.dead = true;
          }
        }
      }, this.txOptions);
    } catch (e) {
      for (const q of batch) q.err = q.err || (e as Error);
    }
  }

  /** Commit what is queued and wait for it. */
  async flush(): Promise<void> {
    this.kick();
    while (this.busy || this.queue.length) {
      await this.sqlTail;
      this.kick();
    }
    await this.sqlTail;
  }
}
