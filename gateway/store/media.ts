// Media files: one per recording, payloads in seq order at known offsets. Writes go to fixed
// offsets, so replaying a batch after a crash rewrites the same bytes; a tail beyond what the
// database records is cut off when the recording is opened again.
import { constants, mkdirSync } from "node:fs";
import { open, truncate, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";

/**
 * Where ingest keeps media: positional writes per recording, made durable by sync(). The station
 * keeps files (MediaStore, below); a cluster worker keeps a replicated JetStream stream (media-nats.ts).
 */
export interface Media {
  /** Where a recording's media lives, as the database records it. */
  pathFor(device: string, recording: number): string;
  /** Buffers written back to back from `offset`. */
  writev(rel: string, offset: number, parts: Uint8Array[]): Promise<void>;
  /** What was written to `rel` survives a crash once this resolves. */
  sync(rel: string): Promise<void>;
  /**
   * Ingest is done with `rel` for now (its recording left memory, nothing of it in flight): a file
   * store closes its handle, so a station that runs for months holds a handle per recording in
   * memory, not one per recording ever written. A later write opens it again.
   */
  release(rel: string): Promise<void>;
  /** Cut a recording back to the length the database vouches for. Returns the bytes removed. */
  trimTo(rel: string, length: number): Promise<number>;
  read(rel: string): Promise<Buffer>;
  close(): Promise<void>;
}

export class MediaStore implements Media {
  /** Open handles by relative path; the promise, so two first writes of a file open it once. */
  private open = new Map<string, Promise<FileHandle>>();
  constructor(private dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  /** Path of a recording's media file, relative to the media directory. */
  pathFor(device: string, recording: number): string {
    return join(device, `${String(recording).padStart(6, "0")}.media`);
  }
  private handle(rel: string): Promise<FileHandle> {
    let h = this.open.get(rel);
    if (!h) {
      const full = join(this.dir, rel);
      mkdirSync(join(full, ".."), { recursive: true, mode: 0o700 });
      // Read-write, created if missing, never O_APPEND: a positional write lands at its offset
      // (on Linux, O_APPEND sends every write to the end whatever offset it names).
      const opening = open(full, constants.O_RDWR | constants.O_CREAT, 0o600);
      this.open.set(rel, (h = opening));
      // A file that could not be opened is tried again by the next write, not remembered as failed.
      opening.catch(() => { if (this.open.get(rel) === opening) this.open.delete(rel); });
    }
    return h;
  }

  /** Handles open now (tests). */
  get openHandles(): number {
    return this.open.size;
  }

  async release(rel: string): Promise<void> {
    const h = this.open.get(rel);
    if (!h) return;
    this.open.delete(rel);
    await (await h).close();
  }
  async write(rel: string, offset: number, bytes: Uint8Array): Promise<void> {
    await this.writev(rel, offset, [bytes]);
  }
  /** Buffers written back to back from `offset`, in as few system calls as the kernel allows. */
  async writev(rel: string, offset: number, parts: Uint8Array[]): Promise<void> {
    const h = await this.handle(rel);
    let at = offset;
    let rest = parts;
    while (rest.length) {
      let n = (await h.writev(rest, at)).bytesWritten;
      at += n;
      // A short write: drop what went out and go on from there.
      let i = 0;
      while (i < rest.length && n >= rest[i].length) n -= rest[i++].length;
      rest = rest.slice(i);
      if (n > 0) rest = [rest[0].subarray(n), ...rest.slice(1)];
    }
  }
  async sync(rel: string): Promise<void> {
    await (await this.handle(rel)).sync();
  }
  /** Cut a file back to the length the database vouches for. Returns the bytes removed. */
  async trimTo(rel: string, length: number): Promise<number> {
    const full = join(this.dir, rel);
    const s = await stat(full).catch(() => null);
    if (!s || s.size <= length) return 0;
    await truncate(full, length);
    return s.size - length;
  }
  async read(rel: string): Promise<Buffer> {
    const h = await this.handle(rel);
    const s = await h.stat();
    const b = Buffer.alloc(s.size);
    await h.read(b, 0, s.size, 0);
    return b;
  }
  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    for (const h of await Promise.allSettled(all)) if (h.status === "fulfilled") await h.value.close();
  }
}
