// Group commit (R-ACK-1): work queued within a few milliseconds is made durable together,
// media fsync'd once per file, then one SQLite transaction, and only then are the waiting
// acknowledgements released. Throughput doesn't pay one fsync per chunk.
import type { Db } from "../store/db.js";
import type { MediaStore } from "../store/media.js";

export interface Work {
  media?: { path: string; offset: number; bytes: Uint8Array }[];
  /** Statements to run inside the batch's transaction. */
  sql: (db: Db) => Promise<void>;
}

interface Queued { w: Work; resolve: () => void; reject: (e: Error) => void }

export class GroupCommitter {
  private queue: Queued[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  batches = 0;
  items = 0;
  constructor(private db: Db, private media: MediaStore, private delayMs: number, private maxBatch: number) {}

  /** Resolves once `w` is on the disk. */
  submit(w: Work): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ w, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.kick();
      else if (!this.timer) this.timer = setTimeout(() => this.kick(), this.delayMs);
    });
  }

  private kick(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const batch = this.queue.splice(0, this.queue.length);
    if (!batch.length) return;
    this.running = this.running.then(() => this.commit(batch));
  }

  private async commit(batch: Queued[]): Promise<void> {
    try {
      const touched = new Set<string>();
      for (const q of batch) for (const m of q.w.media || []) {
        await this.media.write(m.path, m.offset, m.bytes);
        touched.add(m.path);
      }
      for (const p of touched) await this.media.sync(p);
      await this.db.transaction(async () => {
        for (const q of batch) await q.w.sql(this.db);
      });
      this.batches++;
      this.items += batch.length;
      for (const q of batch) q.resolve();
    } catch (e) {
      for (const q of batch) q.reject(e as Error);
    }
  }

  /** Commit what is queued and wait for it. */
  async flush(): Promise<void> {
    this.kick();
    await this.running;
  }
}
