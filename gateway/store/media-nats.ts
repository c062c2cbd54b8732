// Media in a replicated JetStream stream, for cluster workers: what MediaStore keeps in files.
// Each write is a message on the recording's subject carrying its offset; a trim is a message too.
// A recording is read back by replaying its messages in stream order, so a write replayed after a
// crash lands on the same bytes, and a tail cut off at reopening stays cut off; the replay yields
// where each byte comes from (media-layout.ts), so a long recording is read, downloaded or
// scrubbed a message at a time, never held whole. A write returns
// once the stream's leader and a quorum of its replicas hold it (the PubAck). Every call is safe to
// make twice, so one that finds no stream leader (a NATS node lost) is made again until a new
// leader answers (nats-retry.ts).
import { Readable } from "node:stream";
import { headers } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { MediaUnavailableError } from "./media.js";
import type { Media } from "./media.js";
import type { Logger } from "../log.js";
import { unanswered, unreachable, untilAnswered } from "./nats-retry.js";
import { firstEndingAfter, piecesOf, sizeOf } from "./media-layout.js";
import type { Op, Piece } from "./media-layout.js";

/** Largest message written; NATS' default max_payload is 1 MiB. */
const PART = 512 * 1024;
const OFFSET = "Evrec-Offset";
const TRIM = "Evrec-Trim";
/** How long a recording's layout serves the reads of ranges after it (latest()). */
const READ_KEPT_MS = 2000;
/** A recording whose messages come to at most this is read in one pass, its bytes kept meanwhile. */
const HOLD_BYTES = 8 << 20;
/** Largest run of zeros a download sends at once (where no write reached, like a file's holes). */
const STREAM_PART = 1 << 20;

/** `n` zero bytes, in parts of at most STREAM_PART: what a download sends where no write reached. */
function* zeros(n: number): Generator<Buffer> {
  for (; n > 0; n -= STREAM_PART) yield Buffer.alloc(Math.min(n, STREAM_PART));
}

/** A recording as replay() found it: its length, where each of its bytes comes from, and how many messages it had. */
interface Layout { rel: string; subject: string; size: number; pieces: Piece[]; messages: number }

export class NatsMediaStore implements Media {
  private constructor(private js: JetStreamClient, private jsm: JetStreamManager, readonly stream: string, readonly prefix: string,
    /** How long a write goes on being made while no stream leader answers; a read, three times this. */
    private waitMs: number, private log?: Logger,
    /** A recording's bytes kept while it is replayed, at most (HOLD_BYTES; tests make it small). */
    private holdBytes = HOLD_BYTES) {}

  /** The stream is made (or its replicas checked) once, by whichever worker comes first. */
  static async open(nc: NatsConnection, o: { stream: string; replicas: number; prefix?: string; timeoutMs?: number; log?: Logger; holdBytes?: number }): Promise<NatsMediaStore> {
    // A stream electing a new leader (a node lost) answers after a few seconds: waited for, not failed.
    const timeout = o.timeoutMs || 10000;
    const asked = (what: string) => ({ withinMs: 3 * timeout, what, log: o.log });
    const jsm = await untilAnswered(() => jetstreamManager(nc, { timeout }), asked("JetStream API"));
    const prefix = o.prefix || "evrec.media";
    const cfg = { name: o.stream, subjects: [prefix + ".>"], num_replicas: o.replicas, storage: "file", allow_direct: true, discard: "new", max_msg_size: PART + 4096 };
    try {
      await untilAnswered(() => jsm.streams.info(o.stream), asked(`stream info ${o.stream}`));
    } catch (e) {
      if (unanswered(e)) throw e;
      await jsm.streams.add(cfg as never).catch(async (e) => {
        // Another worker made it in between.
        if (!(await jsm.streams.info(o.stream).catch(() => null))) throw e;
      });
    }
    return new NatsMediaStore(jetstream(nc, { timeout }), jsm, o.stream, prefix, timeout, o.log, o.holdBytes);
  }

  pathFor(device: string, recording: number): string {
    return `${device}/${String(recording).padStart(6, "0")}.media`;
  }

  /** `dev/000001.media` → `evrec.media.dev.000001` ("." in a device id, R-ID-1, becomes "~"). */
  subjectOf(rel: string): string {
    const [dev, file] = rel.split("/");
    if (!dev || !file || rel.split("/").length !== 2) throw new Error(`media path ${JSON.stringify(rel)} is not device/file`);
    return `${this.prefix}.${dev.replace(/\./g, "~")}.${file.replace(/\.media$/, "").replace(/\./g, "~")}`;
  }

  async writev(rel: string, offset: number, parts: Uint8Array[]): Promise<void> {
    const subject = this.subjectOf(rel);
    if (this.last && this.last.rel === rel) this.last = null;
    const total = parts.reduce((a, p) => a + p.length, 0);
    const all = parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
    const acks: Promise<unknown>[] = [];
    // Published together (one connection keeps their order), acknowledged together.
    for (let at = 0; at < total || (total === 0 && at === 0); at += PART) {
      const h = headers();
      h.set(OFFSET, String(offset + at));
      const part = all.subarray(at, Math.min(total, at + PART));
      // The same bytes at the same offset: a write that landed after all changes nothing.
      acks.push(untilAnswered(() => this.js.publish(subject, part, { headers: h }), { withinMs: this.waitMs, what: `media write ${subject}`, log: this.log }));
      if (total === 0) break;
    }
    await Promise.all(acks);
  }

  /** Every write was acknowledged by a quorum of replicas when it returned. */
  async sync(): Promise<void> {}
  /** Nothing is held per recording (a write is a message). */
  async release(): Promise<void> {}

  async trimTo(rel: string, length: number): Promise<number> {
    if (this.last && this.last.rel === rel) this.last = null;
    const l = await this.layoutOf(rel);
    const size = l ? l.size : 0;
    if (size <= length) return 0;
    const h = headers();
    h.set(TRIM, String(length));
    const subject = this.subjectOf(rel);
    await untilAnswered(() => this.js.publish(subject, new Uint8Array(0), { headers: h }), { withinMs: this.waitMs, what: `media cut ${subject}`, log: this.log });
    return size - length;
  }

  /** The recording whole (ingest's reads): its messages' bytes all kept from the one pass, not fetched again. */
  async read(rel: string): Promise<Buffer> {
    const l = await this.layoutOf(rel, Infinity);
    return l ? this.bytesOf(l, 0, l.size) : Buffer.alloc(0);
  }

  /** The recording's layout; null if it has no messages. JetStream out of reach: MediaUnavailableError. */
  private async layoutOf(rel: string, holdBytes = this.holdBytes): Promise<Layout | null> {
    try {
      return await this.replay(rel, holdBytes);
    } catch (e) {
      throw this.unavailable(e, `read ${rel}`);
    }
  }

  /** A call that found no JetStream to answer it, said so; any other error as it is. */
  private unavailable(e: unknown, what: string): unknown {
    return unreachable(e) ? new MediaUnavailableError(`the region's media (JetStream stream ${this.stream}) did not answer (${what}): ${(e as Error).message}`, { cause: e }) : e;
  }

  /**
   * The recording's messages replayed in stream order into where each of its bytes comes from:
   * every message is read once, and its bytes kept only while all kept come to at most `holdBytes`
   * (a recording that size is then read in this one pass). A larger one's bytes are fetched again,
   * message by message, as they are read (fetch()): reading it holds a message at a time, not the
   * recording.
   */
  private async replay(rel: string, holdBytes: number): Promise<Layout | null> {
    const subject = this.subjectOf(rel);
    const ops: Op[] = [];
    let held = 0;
    let keep = true;
    let seq = 1;
    for (;;) {
      const m = await this.next(subject, seq);
      if (!m) break;
      seq = m.seq + 1;
      const trim = m.header?.get(TRIM);
      if (trim) {
        ops.push({ seq: m.seq, trim: Number(trim) });
        continue;
      }
      const at = Number(m.header?.get(OFFSET));
      if (keep && held + m.data.length > holdBytes) {
        keep = false;
        for (const o of ops) delete o.data;
      }
      if (keep) held += m.data.length;
      ops.push({ seq: m.seq, at, length: m.data.length, data: keep ? m.data : undefined });
    }
    if (!ops.length) return null;
    return { rel, subject, size: sizeOf(ops), pieces: piecesOf(ops), messages: ops.length };
  }

  /** `length` bytes of the laid-out recording from `offset`, as one buffer. */
  private async bytesOf(l: Layout, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length); // bytes no write reached read as zeros, as in a file
    for await (const [at, b] of this.spans(l, offset, offset + length)) out.set(b, at - offset);
    return out;
  }

  /** The written spans of [from, to) in offset order, each with where it starts; gaps left out. */
  private async *spans(l: Layout, from: number, to: number): AsyncGenerator<[number, Uint8Array]> {
    let i = firstEndingAfter(l.pieces, from);
    for (; i < l.pieces.length && l.pieces[i].start < to; i++) {
      const p = l.pieces[i];
      let data = p.data;
      if (!data) {
        // An export reads a chunk at a time, several to a message: the message is fetched once.
        if (!this.fetched || this.fetched.seq !== p.seq) this.fetched = { seq: p.seq, data: await this.fetch(l, p.seq) };
        data = this.fetched.data;
      }
      const s = Math.max(p.start, from), e = Math.min(p.end, to);
      yield [s, data.subarray(p.from + s - p.start, p.from + e - p.start)];
    }
  }

  /** The message fetched last (a stream's messages never change; one erased is forgotten by remove()). */
  private fetched: { seq: number; data: Uint8Array } | null = null;

  /** One message's bytes again (a large recording's second pass). */
  private async fetch(l: Layout, seq: number): Promise<Uint8Array> {
    let m;
    try {
      m = await untilAnswered(() => this.jsm.direct.getMessage(this.stream, { seq }), { withinMs: 3 * this.waitMs, what: `media read ${l.subject}`, log: this.log });
    } catch (e) {
      throw this.unavailable(e, `read ${l.rel}`);
    }
    // Erased (retention) or cut while it was read: what was laid out is gone.
    if (!m || m.subject !== l.subject) throw new Error(`media ${l.rel} changed while it was read (message ${seq} gone)`);
    return m.data;
  }

  async size(rel: string): Promise<number | null> {
    const l = await this.latest(rel);
    return l ? l.size : null;
  }
  async readRange(rel: string, offset: number, length: number): Promise<Buffer | null> {
    const l = await this.latest(rel);
    return l && offset + length <= l.size ? this.bytesOf(l, offset, length) : null;
  }
  readStream(rel: string, length: number): Readable {
    return Readable.from((async function* (self: NatsMediaStore) {
      const l = await self.layoutOf(rel);
      const size = l ? l.size : 0;
      if (size < length) throw new Error(`media ${rel} holds ${size} bytes, ${length} expected`);
      if (!l) return; // none asked of a recording with none
      let at = 0;
      for await (const [start, b] of self.spans(l, 0, length)) {
        yield* zeros(start - at);
        yield b;
        at = start + b.length;
      }
      yield* zeros(length - at);
    })(this), { objectMode: false });
  }
  /** Every message of the recording purged from the stream. */
  async remove(rel: string): Promise<void> {
    const subject = this.subjectOf(rel);
    try {
      await untilAnswered(() => this.jsm.streams.purge(this.stream, { filter: subject }), { withinMs: this.waitMs, what: `media erase ${subject}`, log: this.log });
    } catch (e) {
      throw this.unavailable(e, `erase ${rel}`);
    }
    if (this.last && this.last.rel === rel) this.last = null;
    this.fetched = null;
  }
  /**
   * A recording's layout (and its bytes, if it is small), kept: a reader's ranges (a scrub's
   * windows, an export's chunks) come one after another from one replay, not one replay each. Past
   * READ_KEPT_MS it serves on only while the recording still has as many messages (asked of the
   * stream, one small request: its messages are only ever added, or all erased), else it is
   * replayed; so a scrub paced over minutes reads a long recording once, not once every few
   * seconds. A write by this store drops it; ingest's own reads (read(), trimTo) never use it.
   */
  private last: { rel: string; at: number; layout: Layout | null } | null = null;
  private async latest(rel: string): Promise<Layout | null> {
    const kept = this.last && this.last.rel === rel ? this.last : null;
    if (kept && Date.now() - kept.at < READ_KEPT_MS) return kept.layout;
    if (kept && kept.layout && (await this.messagesOf(kept.layout.subject)) === kept.layout.messages) {
      kept.at = Date.now();
      return kept.layout;
    }
    const layout = await this.layoutOf(rel);
    this.last = { rel, at: Date.now(), layout };
    return layout;
  }

  /** How many messages a recording's subject holds now. */
  private async messagesOf(subject: string): Promise<number> {
    try {
      const info = await untilAnswered(() => this.jsm.streams.info(this.stream, { subjects_filter: subject }), { withinMs: 3 * this.waitMs, what: `media count ${subject}`, log: this.log });
      return info.state.subjects?.[subject] ?? 0;
    } catch (e) {
      throw this.unavailable(e, `count ${subject}`);
    }
  }

  /** The recording's next message from `seq`; asked again while no replica answers (one catching up after a node was lost, or none there). */
  private next(subject: string, seq: number) {
    return untilAnswered(() => this.jsm.direct.getMessage(this.stream, { seq, next_by_subj: subject }), { withinMs: 3 * this.waitMs, what: `media read ${subject}`, log: this.log });
  }

  async close(): Promise<void> {}
}
