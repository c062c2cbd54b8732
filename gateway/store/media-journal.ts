// The media journal: where a batch's media becomes durable in one write, before the recordings'
// own files have it on the disk.
//
// Why. Written straight to their files, a batch's media is one durable write per recording (41 on
// average in a loaded batch at half the maximum rate), and each write that makes a file longer
// changes its size, so ext4 commits its own journal for every one: the batch's media took 5 to 7
// ms on an idle machine's disk for 50 files of 4 KiB and 11 ms at p50, 43 at p99, inside a loaded
// gateway, the largest part of a chunk's commit latency (docs/SCALE.md, "The media journal"). Here
// the batch's bytes go to one file in one write, opened O_DSYNC, over space the journal wrote
// before (from its second pass on, a write that changes no size and needs no filesystem journal):
// 1.0 to 1.3 ms for the same 50 files. The recordings' files are written as well, through the page
// cache (readers see the bytes at once), and made durable later, many writes at a time, by a
// checkpoint. A large write (media.ts, JOURNAL_WRITE_MAX) is not journalled: written twice it would
// cost the disk's rate more than its own sync costs.
//
// The format. Two files, `.journal-0` and `.journal-1` in the media directory, used in turn; each
// grows as it is written up to its capacity, then the other takes over. Each begins with a
// 4,096-byte header, then records back to back:
//
//   header:  u32 magic "EVJH" (0x484a5645) | u32 clean epoch | u32 CRC-32 of the first 8 bytes
//   record:  u32 magic "EVJ1" (0x314a5645) | u32 epoch | u32 record length (all of it) |
//            u32 data length | f64 file offset | u16 path length | u16 0 |
//            u32 CRC-32 of the 28 bytes before it, the path and the data | path (UTF-8) | data
//
// All little-endian. A file's records since it was last taken over carry one epoch, one more than
// the epoch before; the records of an earlier pass that follow them carry an older one, so a scan
// stops there, as it stops at a record whose CRC fails (a write the power cut tore: never
// acknowledged, since its write had not returned). The header's clean epoch says the records of
// that epoch and every earlier one are in their files on the disk (checkpointed): not replayed.
//
// The order. A record is durable before its batch's transaction (store/media.ts's sync() waits for
// it), as the file's own durable write was: a committed row never names bytes the disk lacks. A
// checkpoint of a journal's epoch fdatasyncs every file it wrote, and the directories with entries
// made meanwhile, then marks the epoch clean in the header; only then may that journal be taken
// over again. On opening, records not marked clean are written to their files again (older epoch
// first; read and written one at a time, so a journal of any size replays in the memory of one
// record), the files made durable, and both journals marked clean. Before a file is cut or removed
// every journal is checkpointed, so no later replay writes into it again.
//
// A sync that fails. When fdatasync reports an error, Linux may have dropped the file's dirty
// pages, and a later fdatasync of the same file succeeds without them on the disk. So after any
// sync of a journalled file has failed (syncFailed()), a checkpoint first writes every record of
// the journal's epoch to its file again, read back from the journal, and only then syncs and marks
// it clean (again, if one fails while it runs); until then those records stay in the journal,
// replayed on the next opening. A directory's fsync that fails is counted the same way (its new
// entries stay to be synced by the next try, the records written again meanwhile).
//
// Written by hand: this is the store's own write-ahead log for its files, on node:fs alone; a
// general-purpose log library would bring its own file layout, and know nothing of the files.
import { constants } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { crc32 } from "node:zlib";
import { GatewayError } from "../errors.js";

const HEADER = 4096;
const REC = 32;
const HMAGIC = 0x484a5645;
const RMAGIC = 0x314a5645;
/** A write's bytes go in records of at most this much data: a record never needs a journal of its own. */
const MAX_RECORD_DATA = 4 << 20;
/** A journal holding records is checkpointed at least this often, however little it holds. */
export const IDLE_TURN_MS = 30000;
/** The least capacity a journal may have: twice the largest record and its header. */
export const MIN_JOURNAL_BYTES = 2 * (MAX_RECORD_DATA + HEADER + REC + 4096);

/** One record found on opening: its file, where, and the bytes. */
export interface Replayed { rel: string; offset: number; data: Uint8Array }

/**
 * What the journal needs of the media store, a checkpoint: each file's bytes durable as far as its
 * write numbered `upTo` (the store numbers each file's writes; one synced since is enough).
 */
export interface JournalFiles {
  syncFiles(files: Map<string, number>): Promise<void>;
}

/** A write taken and not yet in the journal (split so no entry holds more than MAX_RECORD_DATA). */
interface Entry { rel: string; offset: number; parts: Uint8Array[]; length: number; write: number }
interface Deferred { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void }

function deferred(): Deferred {
  let resolve!: () => void, reject!: (e: Error) => void;
  const promise = new Promise<void>((a, b) => { resolve = a; reject = b; });
  // A batch whose media no one waits for (its item failed) must not become an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function headerBytes(cleanEpoch: number): Buffer {
  const b = Buffer.alloc(HEADER);
  b.writeUInt32LE(HMAGIC, 0);
  b.writeUInt32LE(cleanEpoch >>> 0, 4);
  b.writeUInt32LE(crc32(b.subarray(0, 8)), 8);
  return b;
}

/** What a scan of one journal found: its records' epoch and clean epoch, and how many records and bytes. */
interface Scanned { epoch: number; clean: number; records: number; bytes: number }

/**
 * The records of one journal not yet checkpointed, in order, each handed to `each` (and awaited)
 * before the next is read: one record in memory at a time, its data in one buffer read into again
 * for the next, so a journal of any size replays in the memory of its largest record (a record's
 * data is `each`'s only until its promise settles). Without `each`, only counted. It stops after
 * `most` records (the first is enough to learn a journal's epoch).
 */
async function scan(fh: FileHandle, each?: (r: Replayed) => Promise<void>, most = Infinity): Promise<Scanned> {
  const size = (await fh.stat()).size;
  const h = Buffer.alloc(12);
  let clean = -1;
  if (size >= HEADER && (await fh.read(h, 0, 12, 0)).bytesRead === 12 && h.readUInt32LE(0) === HMAGIC && h.readUInt32LE(8) === crc32(h.subarray(0, 8))) clean = h.readUInt32LE(4);
  let at = HEADER;
  let epoch = -1, records = 0, bytes = 0;
  const head = Buffer.alloc(REC);
  let body = Buffer.alloc(0);
  while (at + REC <= size && records < most) {
    if ((await fh.read(head, 0, REC, at)).bytesRead < REC || head.readUInt32LE(0) !== RMAGIC) break;
    const e = head.readUInt32LE(4), len = head.readUInt32LE(8), dataLen = head.readUInt32LE(12), pathLen = head.readUInt16LE(24);
    // The first record is the latest pass's: at or below the clean epoch, that pass was
    // checkpointed, and nothing after it needs reading (a clean stop's journal is not read through).
    if (epoch < 0 && e <= clean) return { epoch: e, clean, records: 0, bytes: 0 };
    // A record of another epoch is an earlier pass's, left behind the newer ones: this pass ends.
    if ((epoch >= 0 && e !== epoch) || len !== REC + pathLen + dataLen || at + len > size || dataLen > MAX_RECORD_DATA) break;
    if (body.length < pathLen + dataLen) body = Buffer.alloc(pathLen + dataLen);
    const view = body.subarray(0, pathLen + dataLen);
    if ((await fh.read(view, 0, view.length, at + REC)).bytesRead < view.length) break;
    if (crc32(view, crc32(head.subarray(0, 28))) !== head.readUInt32LE(28)) break;
    const rel = view.subarray(0, pathLen).toString("utf8"), offset = head.readDoubleLE(16);
    // Only a file inside the media directory, at an offset a file can have: anything else was not
    // written by this store, and nothing after it is trusted either.
    if (!rel || isAbsolute(rel) || rel.split(/[\\/]/).includes("..") || rel.includes("\0") || !Number.isSafeInteger(offset) || offset < 0) break;
    epoch = e;
    records++;
    bytes += dataLen;
    if (each) await each({ rel, offset, data: view.subarray(pathLen) });
    at += len;
  }
  return { epoch, clean, records, bytes };
}

export class MediaJournal {
  private active = 0;
  private pos = HEADER;
  /** The epoch each journal's records carry now (the active one's is the newest). */
  private epochs: [number, number];
  /** Files with records in each journal's epoch, not yet checkpointed, each with its last write's number. */
  private dirty: [Map<string, number>, Map<string, number>] = [new Map(), new Map()];
  /** Each journal's last checkpoint: the journal may be taken over once it settles. */
  private cleaned: [Promise<void>, Promise<void>] = [Promise.resolve(), Promise.resolve()];
  private pending: Entry[] = [];
  /** Settled when the records pending now are on the disk. */
  private next: Deferred | null = null;
  /**
   * The journal's one writer at a time: a flush, or a checkpoint's turn (checkpointAll). Records
   * go only to the journal in use, and a turn changes which, so neither may run beside the other.
   */
  private busy: Promise<void> | null = null;
  private closed = false;
  /** When the journal last turned, and the timer that turns it if that was long ago. */
  private turnedAt = Date.now();
  private timer: NodeJS.Timeout;
  /** Records and bytes journalled, checkpoints made, syncs of journalled files that failed and records written to their files again after one (metrics and tests). */
  stats = { records: 0, bytes: 0, writes: 0, checkpoints: 0, rewritten: 0, syncFailures: 0 };
  /**
   * Syncs that failed (syncFailed(), or a checkpoint's), and how many had when each journal was last
   * checkpointed: one failed since, and its next checkpoint writes its records again first.
   */
  private failures = 0;
  private failuresAtClean: [number, number] = [0, 0];
  /** A journal whose last checkpoint failed, and when one was last begun: tried again when idle, or before a cut. */
  private unclean: [boolean, boolean] = [false, false];
  private triedAt = 0;

  private constructor(private fhs: [FileHandle, FileHandle], private capacity: number, private files: JournalFiles, private replay: (r: Replayed) => Promise<number>, epoch: number, idleTurnMs: number) {
    this.epochs = [epoch, epoch - 1];
    // A quiet station fills a journal file in days: its records would wait that long for their
    // checkpoint, and a crash would write them again even into a file erased since by another
    // process (the admin CLI). So a journal holding records turns at least every idleTurnMs.
    // One whose checkpoint failed is tried again as often, new records or not.
    this.timer = setInterval(() => {
      const now = Date.now();
      if ((this.pos > HEADER && now - this.turnedAt >= idleTurnMs) || ((this.unclean[0] || this.unclean[1]) && now - this.triedAt >= idleTurnMs)) void this.checkpointAll().catch(() => undefined);
    }, idleTurnMs / 6);
    this.timer.unref();
  }

  /**
   * Open the media directory's journals (made if missing): the records not checkpointed are handed
   * to `replay`, oldest first, their files then made durable by `files`, and the journals marked
   * clean. Returns the journal, ready for records, and what was replayed.
   */
  static async open(dir: string, capacity: number, files: JournalFiles, replay: (r: Replayed) => Promise<number>, idleTurnMs = IDLE_TURN_MS): Promise<{ journal: MediaJournal; replayed: { records: number; bytes: number; files: number } }> {
    if (!(capacity >= MIN_JOURNAL_BYTES)) throw new GatewayError("BAD_CONFIG", `the media journal needs at least ${MIN_JOURNAL_BYTES} bytes a file; got ${capacity}`);
    const fhs: FileHandle[] = [];
    try {
      for (const i of [0, 1]) fhs.push(await open(join(dir, `.journal-${i}`), constants.O_RDWR | constants.O_CREAT | (constants.O_DSYNC || 0), 0o600));
      // Their names durable before anything relies on them (made the first time).
      const d = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        await d.sync();
      } finally {
        await d.close();
      }
      // Each journal's first record read to learn its epoch, then each read through, the older
      // first, each record written to its file as it is read.
      const found = [await scan(fhs[0], undefined, 1), await scan(fhs[1], undefined, 1)];
      const order = [0, 1].filter((i) => found[i].records).sort((a, b) => found[a].epoch - found[b].epoch);
      const rels = new Map<string, number>();
      let bytes = 0, records = 0;
      for (const i of order) {
        const read = await scan(fhs[i], async (r) => { rels.set(r.rel, await replay(r)); });
        bytes += read.bytes;
        records += read.records;
      }
      if (rels.size) await files.syncFiles(rels);
      // Both clean at the newest epoch either knew; the next pass takes the one after it.
      const top = Math.max(found[0].epoch, found[0].clean, found[1].epoch, found[1].clean, 0);
      // Not cut back: a pass over space written before changes no file's size (above, "Why").
      for (const i of [0, 1]) await fhs[i].write(headerBytes(top), 0, HEADER, 0);
      if (!constants.O_DSYNC) for (const fh of fhs) await fh.sync();
      return { journal: new MediaJournal(fhs as [FileHandle, FileHandle], capacity, files, replay, top + 1, idleTurnMs), replayed: { records, bytes, files: rels.size } };
    } catch (e) {
      for (const fh of fhs) await fh.close().catch(() => undefined);
      throw e;
    }
  }

  /**
   * Journal `parts` as written to `rel` from `offset`. Taken at once (in order with every other
   * record); on the disk when the promise resolves, which it does at the next flush (flush()). The
   * records added in one run of the caller (a batch starts every file's write together) are
   * flushed as soon as that run ends: ahead of their files' own writes in libuv's queue, not after
   * the first of those has come back and the event loop has turned (docs/SCALE.md, "A batch's
   * journal write starts with its files' writes").
   */
  add(rel: string, offset: number, parts: Uint8Array[], write: number): Promise<void> {
    if (this.closed) return Promise.reject(new GatewayError("MEDIA_CLOSED", "the media journal is closed"));
    // Records of at most MAX_RECORD_DATA each, back to back; a part that crosses a record's end is cut.
    let rec: Entry | null = null;
    for (const p of parts) for (let at = 0; at < p.length;) {
      if (!rec || rec.length === MAX_RECORD_DATA) {
        const from: number = rec ? rec.offset + rec.length : offset;
        if (rec) this.pending.push(rec);
        rec = { rel, offset: from, parts: [], length: 0, write };
      }
      const n = Math.min(p.length - at, MAX_RECORD_DATA - rec.length);
      rec.parts.push(n === p.length ? p : p.subarray(at, at + n));
      rec.length += n;
      at += n;
    }
    if (rec) this.pending.push(rec);
    if (!this.next) {
      this.next = deferred();
      queueMicrotask(() => this.flush());
    }
    return this.next.promise;
  }

  /** Write what is pending, if no write is under way (one that is writes it when it ends). */
  flush(): void {
    if (this.busy || !this.pending.length || this.closed) return;
    this.busy = this.writePending().finally(() => {
      this.busy = null;
      this.flush();
    });
  }

  /** The records pending now, written; their promise settled with the outcome (never rejects itself). */
  private writePending(): Promise<void> {
    const recs = this.pending;
    const done = this.next;
    this.pending = [];
    this.next = null;
    if (!recs.length || !done) return Promise.resolve();
    return this.write(recs).then(done.resolve, done.reject);
  }

  /** `f` as the journal's only writer (no flush beside it), then what waited flushed. */
  private async exclusive(f: () => Promise<void>): Promise<void> {
    while (this.busy) await this.busy;
    let release!: () => void;
    this.busy = new Promise<void>((r) => { release = r; });
    try {
      await f();
    } finally {
      this.busy = null;
      release();
      this.flush();
    }
  }

  private async write(recs: Entry[]): Promise<void> {
    // In as few writes as the journal's room allows: a batch that does not fit is continued in the other.
    for (let i = 0; i < recs.length;) {
      const bufs: Uint8Array[] = [];
      let size = 0;
      const start = this.pos;
      const j = this.active;
      for (; i < recs.length; i++) {
        const r = recs[i];
        const path = Buffer.from(r.rel, "utf8");
        const len = REC + path.length + r.length;
        if (start + size + len > this.capacity) break;
        const head = Buffer.alloc(REC);
        head.writeUInt32LE(RMAGIC, 0);
        head.writeUInt32LE(this.epochs[j] >>> 0, 4);
        head.writeUInt32LE(len, 8);
        head.writeUInt32LE(r.length, 12);
        head.writeDoubleLE(r.offset, 16);
        head.writeUInt16LE(path.length, 24);
        let c = crc32(path, crc32(head.subarray(0, 28)));
        for (const p of r.parts) c = crc32(p, c);
        head.writeUInt32LE(c, 28);
        bufs.push(head, path, ...r.parts);
        size += len;
        this.dirty[j].set(r.rel, r.write);
        this.stats.records++;
        this.stats.bytes += r.length;
      }
      if (size) {
        this.pos = start + size;
        await writeAll(this.fhs[j], bufs, start);
        if (!constants.O_DSYNC) await this.fhs[j].datasync();
        this.stats.writes++;
      }
      if (i < recs.length) await this.turn();
    }
  }

  /** The active journal is full: the other takes over once its last checkpoint is done, and this one is checkpointed. */
  private async turn(): Promise<void> {
    const old = this.active, other = 1 - old;
    // The other is taken only once clean. Its last checkpoint failed (the disk refused a sync):
    // tried again, its records written to their files again first; failing again, this batch
    // fails, nothing has changed, and the next tries again.
    try {
      await this.cleaned[other];
    } catch {
      await this.begin(other);
    }
    // From here on nothing more is written to the old one: its checkpoint covers all it holds.
    this.turnedAt = Date.now();
    // Its failure is the next turn's (above), or the next checkpointAll's, to meet.
    void this.begin(old).catch(() => undefined);
    this.active = other;
    this.epochs[other] = this.epochs[old] + 1;
    this.pos = HEADER;
  }

  /** Journal `j`'s checkpoint begun, as cleaned[j]; if it fails, the journal is marked for another try. */
  private begin(j: number): Promise<void> {
    this.unclean[j] = false;
    this.triedAt = Date.now();
    const p = this.checkpoint(j);
    this.cleaned[j] = p;
    p.catch(() => { if (this.cleaned[j] === p) this.unclean[j] = true; });
    return p;
  }

  /**
   * A sync of a journalled file failed (the media store's, in the background or at a checkpoint):
   * the kernel may have dropped bytes both journals hold, so each journal's next checkpoint writes
   * its records to their files again before it marks them clean (above, "A sync that fails").
   */
  syncFailed(): void {
    this.failures++;
    this.stats.syncFailures++;
  }

  /** Every file journal `j` wrote made durable, then its epoch marked clean. */
  private async checkpoint(j: number): Promise<void> {
    const files = this.dirty[j];
    this.dirty[j] = new Map();
    let failures = this.failures;
    try {
      for (let rewrite = failures !== this.failuresAtClean[j]; ; rewrite = true) {
        if (rewrite) {
          // Read back from the journal, not taken from memory: what was journalled is what is owed.
          await scan(this.fhs[j], async (r) => {
            files.set(r.rel, await this.replay(r));
            this.stats.rewritten++;
          });
        }
        if (files.size) await this.files.syncFiles(files);
        // A sync refused meanwhile (in the background) may have dropped bytes this journal holds
        // and a sync above has since passed over: written again, and synced again.
        if (this.failures === failures) break;
        failures = this.failures;
      }
      await this.fhs[j].write(headerBytes(this.epochs[j]), 0, HEADER, 0);
      if (!constants.O_DSYNC) await this.fhs[j].datasync();
    } catch (e) {
      // Not clean: the next try (a turn to it) writes its records again, then syncs them.
      this.failures++;
      for (const [rel, n] of files) if (!this.dirty[j].has(rel)) this.dirty[j].set(rel, n);
      throw e;
    }
    this.failuresAtClean[j] = failures;
    this.stats.checkpoints++;
  }

  /**
   * Every record so far checkpointed (before a file is cut or removed, or when the store is idle):
   * the journal in use is left for the other, one whose last checkpoint failed is tried again, and
   * both are clean when this resolves.
   */
  async checkpointAll(): Promise<void> {
    await this.exclusive(async () => {
      await this.writePending();
      // The other journal's last checkpoint failed: tried again (its records written again first).
      const other = 1 - this.active;
      if (this.unclean[other]) void this.begin(other).catch(() => undefined);
      if (this.dirty[this.active].size || this.pos > HEADER) await this.turn();
    });
    await Promise.all(this.cleaned);
  }

  /** Anything not yet in a file's own durable bytes waits in the journal, replayed at the next opening. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    await this.checkpointAll().catch(() => undefined);
    this.closed = true;
    for (const fh of this.fhs) await fh.close();
  }
}

/** `bufs` written back to back from `at`, in as few system calls as the kernel allows. */
export async function writeAll(fh: FileHandle, bufs: Uint8Array[], at: number): Promise<void> {
  let rest = bufs;
  while (rest.length) {
    let n = (await fh.writev(rest, at)).bytesWritten;
    at += n;
    // A short write: drop what went out and go on from there.
    let i = 0;
    while (i < rest.length && n >= rest[i].length) n -= rest[i++].length;
    rest = rest.slice(i);
    if (n > 0) rest = [rest[0].subarray(n), ...rest.slice(1)];
  }
}
