// Media files: one per recording, payloads in seq order at known offsets. Writes go to fixed
// offsets, so replaying a batch after a crash rewrites the same bytes; a tail beyond what the
// database records is cut off when the recording is opened again.
import { constants, mkdirSync } from "node:fs";
import { open, rm, truncate, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import type { FileHandle } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { GatewayError } from "../errors.js";
import { MediaJournal, writeAll } from "./media-journal.js";

export { MIN_JOURNAL_BYTES } from "./media-journal.js";

/**
 * What the rest of the gateway reads of media (scrub, export, downloads) and erases (retention),
 * through the store: never a file opened elsewhere. Nothing here creates a recording's media. A
 * store that can't be asked now says so with MediaUnavailableError (below), never as missing bytes.
 */
export interface MediaReader {
  /** How many bytes `rel` holds; null if it has none (never written, or erased). */
  size(rel: string): Promise<number | null>;
  /** `length` bytes of `rel` from `offset`; null if it ends before them (or has none). */
  readRange(rel: string, offset: number, length: number): Promise<Buffer | null>;
  /** The first `length` bytes of `rel` as a stream (a download: never more than the database vouches for). */
  readStream(rel: string, length: number): Readable;
  /** Erase `rel` (retention); one already gone is fine. */
  remove(rel: string): Promise<void>;
}

/**
 * Where ingest keeps media: positional writes per recording, made durable by sync(). The station
 * keeps files (MediaStore, below); a cluster worker keeps a replicated JetStream stream (media-nats.ts).
 */
export interface Media extends MediaReader {
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

/**
 * The media store can't be asked now: JetStream unanswered or the connection to it lost, or this
 * host out of file handles or memory. Nothing is known of the bytes, so it is never a finding
 * about the evidence (the scrub stops its pass, marking nothing; the API answers 503). Asked again
 * later, the same read may well succeed.
 */
export class MediaUnavailableError extends GatewayError {
  constructor(message: string, options?: ErrorOptions) {
    super("MEDIA_UNAVAILABLE", message, options);
    this.name = "MediaUnavailableError";
  }
}

/** Errors of this host or process, not of a file's bytes (EIO is the disk's: the bytes can't be had). */
const HOST_ERRORS = new Set(["EMFILE", "ENFILE", "ENOMEM", "EAGAIN", "EBUSY", "EINTR", "ETIMEDOUT", "ESTALE", "ENOTCONN", "EACCES", "EPERM"]);

/** A file store's read error as the rest of the gateway should take it. */
function readError(e: unknown, rel: string): unknown {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code && HOST_ERRORS.has(code) ? new MediaUnavailableError(`the media of ${rel} can't be read now: ${code}`, { cause: e }) : e;
}

/**
 * Without the media journal (journal(), below), media files are opened O_DSYNC where the system
 * has it (Linux, the BSDs, macOS): each write returns once its bytes, and the size that reads
 * them, are on the disk (as fdatasync would make them), so a batch's durable write is one system
 * call per file, one trip through libuv's threads and one turn of the event loop, not a write and
 * then an fsync, each waiting for a turn of a loaded loop before the next could start. At half the maximum rate at 4 KiB, the gateway's commit
 * latency p99 went from 61–87 ms to 55–62 ms in five rounds of six (docs/SCALE.md, "Commit
 * latency"). Where the system has no O_DSYNC, sync() fsyncs the file.
 */
const DSYNC: number = constants.O_DSYNC || 0;

/**
 * The largest write of a file (a recording's share of a batch) the journal takes. A larger one is
 * made durable in place, by a datasync of its file: written twice, its bytes cost the disk's rate
 * more than its one metadata commit costs. At this machine's maximum rates a batch holds 16 chunks
 * of each recording (256 KiB a file at 16 KiB, 1 MiB at 64), and with every byte journalled the
 * gateway committed a fifth less at those sizes (7,069 and 2,736 chunks/s against 9,225 and 3,486;
 * the disk took 298 and 316 MB/s of fsync'd appends in that run); at half the rate a batch holds
 * one or two of each (docs/SCALE.md, "The media journal").
 */
export const JOURNAL_WRITE_MAX = 64 * 1024;

export class MediaStore implements Media {
  /** Open handles by relative path; the promise, so two first writes of a file open it once. */
  private open = new Map<string, Promise<FileHandle>>();
  /**
   * Directories with entries made here and not yet synced, each with how many were made in it (so
   * a sync clears only the entries it covered). fsync of a file does not make its name durable
   * (POSIX; ext4 happens to, others need not), and a row naming a file a power cut took away is
   * evidence lost: sync() syncs these too, once, so a batch pays it only for a recording's first share.
   */
  private dirty = new Map<string, number>();
  /**
   * The media journal, once journal() has opened it (the ingesting gateway's store): a batch's
   * media is then durable by one write of the journal (media-journal.ts), its files written
   * through the page cache and made durable by the journal's checkpoints; without it (the admin
   * CLI's store, or --media-journal-mb 0) each file is opened O_DSYNC.
   */
  private journalled: MediaJournal | null = null;
  /** The largest write the journal takes (JOURNAL_WRITE_MAX unless journal() was told otherwise). */
  private journalMax = JOURNAL_WRITE_MAX;
  /** Opened files' flags: O_DSYNC unless the journal makes them durable. */
  private dsync = DSYNC;
  /**
   * Journalled, per file: its last write through the page cache, when its last record is durable,
   * how many writes it has had (numbered from 1) and how many of them a datasync has covered.
   */
  private writing = new Map<string, Promise<unknown>>();
  private durable = new Map<string, Promise<void>>();
  private writes = new Map<string, number>();
  private synced = new Map<string, number>();
  /**
   * Files written since their last datasync, oldest first: the trickle (below) syncs them one at a
   * time in the background, so a checkpoint finds little left to write. Without it every file's
   * bytes since the last checkpoint reached the disk at once when the journal turned (64 MiB in a
   * burst at half the maximum rate), and the journal's own writes waited behind them: the commit
   * path alone's p99 went from 30 to 43 ms where its p50 went from 10 to 4.
   */
  private toTrickle = new Set<string>();
  private trickling = false;
  /** Files the journal's replay (at opening, or a rewrite after a refused sync) opened: no one had them open. */
  private reopened = new Set<string>();
  /** Datasyncs of journalled files since start, and the records the journal's opening wrote again. */
  private fileSyncs = 0;
  private replayed = 0;
  constructor(private dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  /**
   * Make the media durable through a journal of `capacity` bytes a file (two files): what a crash
   * left in the journal and not in its files is written to them first. Once, before any write.
   */
  async journal(capacity: number, opts: { idleTurnMs?: number; maxWrite?: number } = {}): Promise<{ records: number; bytes: number; files: number }> {
    if (this.journalled) throw new Error("the media journal is open already");
    // Handles opened before were O_DSYNC: closed, and opened again without it.
    await this.close();
    this.dsync = 0;
    const { journal, replayed } = await MediaJournal.open(this.dir, capacity, { syncFiles: (files) => this.syncFiles(files) }, async (r) => {
      const n = this.nextWrite(r.rel);
      // A file no one had open (at this opening, every file; later, at a checkpoint writing records
      // again after a refused sync, one ingest had let go): let go once synced (syncFiles()).
      if (!this.open.has(r.rel)) this.reopened.add(r.rel);
      await this.writeFile(r.rel, r.offset, [r.data]);
      return n;
    }, opts.idleTurnMs);
    this.journalled = journal;
    this.journalMax = opts.maxWrite ?? JOURNAL_WRITE_MAX;
    this.replayed = replayed.records;
    return replayed;
  }

  /**
   * Journal statistics (metrics, tests), with the datasyncs of journalled files made since start
   * and the records the last start wrote again; null without a journal.
   */
  get journalStats(): (MediaJournal["stats"] & { fileSyncs: number; replayed: number }) | null {
    return this.journalled ? { ...this.journalled.stats, fileSyncs: this.fileSyncs, replayed: this.replayed } : null;
  }

  private nextWrite(rel: string): number {
    const n = (this.writes.get(rel) || 0) + 1;
    this.writes.set(rel, n);
    return n;
  }

  /** A checkpoint: each file's bytes as far as write `upTo` made durable (unless the trickle has), then the new directory entries. */
  private async syncFiles(files: Map<string, number>): Promise<void> {
    // One file at a time: each datasync holds one of libuv's four threads until the disk is done,
    // and a batch's writes (the journal's included) queue behind whatever holds them all.
    for (const [rel, upTo] of files) if ((this.synced.get(rel) || 0) < upTo) await this.syncFile(rel);
    await this.syncDirs([...this.dirty.keys()]);
    // Files the replay opened, synced now: let go unless ingest has written to one since (its
    // writev leaves a `writing` entry, which only release() removes; ingest lets the file go when
    // it is done with it, and a write's durability is never forgotten under it).
    for (const rel of this.reopened) {
      this.reopened.delete(rel);
      if (!this.writing.has(rel)) await this.release(rel);
    }
  }

  /** Every write of `rel` started so far on the disk (fdatasync). */
  private async syncFile(rel: string): Promise<void> {
    const upTo = this.writes.get(rel) || 0;
    await this.writing.get(rel)?.catch(() => undefined);
    const h = this.open.get(rel);
    if (h) {
      await this.datasync(await h);
    } else {
      let fh: FileHandle;
      try {
        fh = await open(join(this.dir, rel), constants.O_RDONLY);
      } catch (e) {
        // Removed since (remove() checkpoints first, so only by another process): nothing to keep.
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
        throw e;
      }
      try {
        await this.datasync(fh);
      } finally {
        await fh.close();
      }
    }
    this.fileSyncs++;
    if (upTo > (this.synced.get(rel) || 0)) this.synced.set(rel, upTo);
    this.forget(rel);
  }

  /** A journalled file's fdatasync; one that fails is the journal's to know (media-journal.ts, "A sync that fails"). */
  private async datasync(fh: FileHandle): Promise<void> {
    try {
      await fh.datasync();
    } catch (e) {
      this.journalled?.syncFailed();
      throw e;
    }
  }

  /**
   * A file released and synced as far as it was written: its numbers are forgotten, so a store that
   * runs for months keeps none per recording it ever wrote. A checkpoint that then finds no number
   * for it syncs it again, never skips it.
   */
  private forget(rel: string): void {
    if (!this.open.has(rel) && (this.synced.get(rel) || 0) >= (this.writes.get(rel) || 0)) {
      this.writes.delete(rel);
      this.synced.delete(rel);
    }
  }

  /** The files written since their last datasync, synced one after another while there are any. */
  private async trickle(): Promise<void> {
    if (this.trickling) return;
    this.trickling = true;
    try {
      while (this.journalled && this.toTrickle.size) {
        const rel = this.toTrickle.values().next().value as string;
        this.toTrickle.delete(rel);
        // A failure is the checkpoint's to report: told of it (datasync(), below), it writes the
        // journal's records to the file again, then syncs it.
        await this.syncFile(rel).catch(() => undefined);
      }
    } finally {
      this.trickling = false;
    }
  }

  /** Path of a recording's media file, relative to the media directory. */
  pathFor(device: string, recording: number): string {
    return join(device, `${String(recording).padStart(6, "0")}.media`);
  }
  private handle(rel: string): Promise<FileHandle> {
    let h = this.open.get(rel);
    if (!h) {
      const full = join(this.dir, rel);
      const parent = dirname(full);
      const made = mkdirSync(parent, { recursive: true, mode: 0o700 });
      // Each directory made here is a new entry in the one above it.
      if (made) for (let d = parent; ; d = dirname(d)) {
        this.touch(dirname(d));
        if (d === made || d === dirname(d)) break;
      }
      // Read-write, created if missing, never O_APPEND: a positional write lands at its offset
      // (on Linux, O_APPEND sends every write to the end whatever offset it names).
      const opening = open(full, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | this.dsync, 0o600).then((fh) => {
        this.touch(parent);
        return fh;
      }, (e: NodeJS.ErrnoException) => {
        if (e.code !== "EEXIST") throw e;
        return open(full, constants.O_RDWR | this.dsync, 0o600);
      });
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
    this.writing.delete(rel);
    this.durable.delete(rel);
    // Journalled, a file not yet synced stays with the trickle, which syncs it by its name and then
    // forgets its numbers (forget(), below); not synced here: the recordings of a round that ends
    // together are released together, and their syncs held every thread the next round's batches
    // needed (a first second's p99 of 557 ms at 16 KiB).
    this.forget(rel);
    await (await h).close();
  }
  async write(rel: string, offset: number, bytes: Uint8Array): Promise<void> {
    await this.writev(rel, offset, [bytes]);
  }
  /**
   * Buffers written back to back from `offset`, in as few system calls as the kernel allows.
   * Journalled, the record is taken first, before anything waits, so every write a batch starts
   * together goes to the journal in one write.
   */
  async writev(rel: string, offset: number, parts: Uint8Array[]): Promise<void> {
    if (this.journalled) {
      let size = 0;
      for (const p of parts) size += p.length;
      const n = this.nextWrite(rel);
      const viaJournal = size <= this.journalMax;
      if (viaJournal) this.durable.set(rel, this.journalled.add(rel, offset, parts, n));
      const w = this.writeFile(rel, offset, parts);
      this.writing.set(rel, w);
      await w;
      if (viaJournal) {
        this.toTrickle.delete(rel);
        this.toTrickle.add(rel);
        void this.trickle();
      } else {
        // Too large to be worth writing twice: made durable in place, names and all, for sync().
        const d = this.syncFile(rel).then(() => this.syncNames(rel));
        d.catch(() => undefined);
        this.durable.set(rel, d);
      }
      return;
    }
    return this.writeFile(rel, offset, parts);
  }

  private async writeFile(rel: string, offset: number, parts: Uint8Array[]): Promise<void> {
    await writeAll(await this.handle(rel), parts, offset);
  }
  /**
   * Journalled: once the journal holds the file's last write (or, for one too large for it, once
   * the file is synced in place). Otherwise the file's bytes (written O_DSYNC: durable already),
   * then the new entries of the directories that lead to it (`dirty`).
   */
  async sync(rel: string): Promise<void> {
    if (this.journalled) {
      // Durable once its records are: the file and its directory entry are the checkpoint's (a
      // crash before it writes them again from the journal, making the file if it must).
      const d = this.durable.get(rel);
      this.journalled.flush();
      if (d) await d;
      return;
    }
    // Opened O_DSYNC, its bytes are on the disk already; what is left is the names that lead to it.
    if (!DSYNC) await (await this.handle(rel)).sync();
    await this.syncNames(rel);
  }
  /** The new entries of the directories that lead to `rel`, synced. */
  private async syncNames(rel: string): Promise<void> {
    // The common case in a batch: no entry made since the last sync, nothing to look up.
    if (!this.dirty.size) return;
    // From the media directory down to the file's own.
    const dirs = [this.dir];
    for (const part of dirname(rel).split(sep)) if (part && part !== ".") dirs.push(join(dirs[dirs.length - 1], part));
    await this.syncDirs(dirs);
  }
  /** The directories of `dirs` with entries not yet synced, synced, parents first. */
  private async syncDirs(dirs: string[]): Promise<void> {
    for (const d of dirs) {
      const made = this.dirty.get(d);
      if (made === undefined) continue;
      const h = await open(d, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        await h.sync();
      } catch (e) {
        // A storage fault the journal counts with the files' (the admin's alarm); its entries stay
        // dirty, synced again by the next try.
        this.journalled?.syncFailed();
        throw e;
      } finally {
        await h.close();
      }
      // Entries made while it synced wait for the next sync; one that failed is tried again by it.
      if (this.dirty.get(d) === made) this.dirty.delete(d);
    }
  }
  /** A new entry in `dir` (a file or a directory made here), not yet synced. */
  private touch(dir: string): void {
    this.dirty.set(dir, (this.dirty.get(dir) || 0) + 1);
  }
  async size(rel: string): Promise<number | null> {
    const s = await stat(join(this.dir, rel)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return null;
      throw readError(e, rel);
    });
    return s ? s.size : null;
  }
  /** Its own read-only handle: a read never creates a file, nor keeps one open. */
  async readRange(rel: string, offset: number, length: number): Promise<Buffer | null> {
    let fh: FileHandle;
    try {
      fh = await open(join(this.dir, rel), "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw readError(e, rel);
    }
    try {
      const b = Buffer.allocUnsafe(length);
      for (let got = 0; got < length;) {
        const r = await fh.read(b, got, length - got, offset + got);
        if (r.bytesRead === 0) return null;
        got += r.bytesRead;
      }
      return b;
    } finally {
      await fh.close();
    }
  }
  /**
   * Lazy: the file is opened when the stream is first read, so an error (said as MEDIA_MISSING, or
   * MEDIA_UNAVAILABLE when the host can't open it now) reaches whoever reads it, never an emitter
   * nobody listens to yet. Its own handle, 1 MiB a read; a file shorter than `length` ends early.
   */
  readStream(rel: string, length: number): Readable {
    const full = join(this.dir, rel);
    return Readable.from((async function* () {
      if (length <= 0) return;
      let fh: FileHandle;
      try {
        fh = await open(full, "r");
      } catch (e) {
        throw (e as NodeJS.ErrnoException).code === "ENOENT" ? new GatewayError("MEDIA_MISSING", `the media of ${rel} is missing`, { cause: e }) : readError(e, rel);
      }
      try {
        for (let at = 0; at < length;) {
          const b = Buffer.allocUnsafe(Math.min(1 << 20, length - at));
          const { bytesRead } = await fh.read(b, 0, b.length, at);
          if (!bytesRead) return;
          at += bytesRead;
          yield b.subarray(0, bytesRead);
        }
      } finally {
        await fh.close();
      }
    })(), { objectMode: false });
  }
  async remove(rel: string): Promise<void> {
    // No record of it left to write it again after a crash.
    if (this.journalled) await this.journalled.checkpointAll();
    await this.release(rel);
    await rm(join(this.dir, rel), { force: true });
  }
  /** Cut a file back to the length the database vouches for. Returns the bytes removed. */
  async trimTo(rel: string, length: number): Promise<number> {
    const full = join(this.dir, rel);
    const s = await stat(full).catch(() => null);
    if (!s || s.size <= length) return 0;
    if (this.journalled) await this.journalled.checkpointAll();
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
    // Its checkpoint needs the files' handles: first.
    if (this.journalled) await this.journalled.close();
    this.journalled = null;
    const all = [...this.open.values()];
    this.open.clear();
    for (const h of await Promise.allSettled(all)) if (h.status === "fulfilled") await h.value.close();
  }
}
