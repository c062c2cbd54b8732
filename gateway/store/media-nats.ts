// Media in a replicated JetStream stream, for cluster workers: what MediaStore keeps in files.
// Each write is a message on the recording's subject carrying its offset; a trim is a message too.
// A recording is read back by replaying its messages in stream order, so a write replayed after a
// crash lands on the same bytes, and a tail cut off at reopening stays cut off. A write returns
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

/** Largest message written; NATS' default max_payload is 1 MiB. */
const PART = 512 * 1024;
const OFFSET = "Evrec-Offset";
const TRIM = "Evrec-Trim";
/** How long a recording read back whole serves the reads of ranges after it (latest()). */
const READ_KEPT_MS = 2000;

export class NatsMediaStore implements Media {
  private constructor(private js: JetStreamClient, private jsm: JetStreamManager, readonly stream: string, readonly prefix: string,
    /** How long a write goes on being made while no stream leader answers; a read, three times this. */
    private waitMs: number, private log?: Logger) {}

  /** The stream is made (or its replicas checked) once, by whichever worker comes first. */
  static async open(nc: NatsConnection, o: { stream: string; replicas: number; prefix?: string; timeoutMs?: number; log?: Logger }): Promise<NatsMediaStore> {
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
    return new NatsMediaStore(jetstream(nc, { timeout }), jsm, o.stream, prefix, timeout, o.log);
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
    const size = (await this.read(rel)).length;
    if (size <= length) return 0;
    const h = headers();
    h.set(TRIM, String(length));
    const subject = this.subjectOf(rel);
    await untilAnswered(() => this.js.publish(subject, new Uint8Array(0), { headers: h }), { withinMs: this.waitMs, what: `media cut ${subject}`, log: this.log });
    return size - length;
  }

  async read(rel: string): Promise<Buffer> {
    return (await this.replay(rel)) ?? Buffer.alloc(0);
  }

  /** The recording's messages replayed in stream order; null if it has none. JetStream out of reach: MediaUnavailableError. */
  private async replay(rel: string): Promise<Buffer | null> {
    try {
      return await this.replayOnce(rel);
    } catch (e) {
      throw this.unavailable(e, `read ${rel}`);
    }
  }

  /** A call that found no JetStream to answer it, said so; any other error as it is. */
  private unavailable(e: unknown, what: string): unknown {
    return unreachable(e) ? new MediaUnavailableError(`the region's media (JetStream stream ${this.stream}) did not answer (${what}): ${(e as Error).message}`, { cause: e }) : e;
  }

  private async replayOnce(rel: string): Promise<Buffer | null> {
    const subject = this.subjectOf(rel);
    let out = Buffer.alloc(0);
    let size = 0;
    let seq = 1;
    for (;;) {
      const m = await this.next(subject, seq);
      if (!m) {
        if (seq === 1) return null;
        break;
      }
      seq = m.seq + 1;
      const trim = m.header?.get(TRIM);
      if (trim) {
        size = Math.min(size, Number(trim));
        out.fill(0, size); // what a later write leaves unwritten past the cut reads as zeros, as in a file
        continue;
      }
      const at = Number(m.header?.get(OFFSET));
      const end = at + m.data.length;
      if (end > out.length) {
        const grown = Buffer.alloc(Math.max(end, out.length * 2));
        out.copy(grown, 0, 0, size);
        out = grown;
      }
      out.set(m.data, at);
      if (end > size) size = end;
    }
    return out.subarray(0, size);
  }

  async size(rel: string): Promise<number | null> {
    const b = await this.latest(rel);
    return b ? b.length : null;
  }
  async readRange(rel: string, offset: number, length: number): Promise<Buffer | null> {
    const b = await this.latest(rel);
    return b && offset + length <= b.length ? Buffer.from(b.subarray(offset, offset + length)) : null;
  }
  readStream(rel: string, length: number): Readable {
    return Readable.from((async function* (self: NatsMediaStore) {
      const b = await self.read(rel);
      if (b.length < length) throw new Error(`media ${rel} holds ${b.length} bytes, ${length} expected`);
      yield b.subarray(0, length);
    })(this));
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
  }
  /**
   * A recording read back whole, kept a moment: a reader's ranges (a scrub's windows, an export's
   * chunks) come one after another from one replay, not one replay each. A read made more than
   * READ_KEPT_MS after it replays again, and so does one after this store wrote to the recording;
   * ingest's own reads (read(), trimTo) never use it.
   */
  private last: { rel: string; at: number; bytes: Buffer | null } | null = null;
  private async latest(rel: string): Promise<Buffer | null> {
    if (this.last && this.last.rel === rel && Date.now() - this.last.at < READ_KEPT_MS) return this.last.bytes;
    const bytes = await this.replay(rel);
    this.last = { rel, at: Date.now(), bytes };
    return bytes;
  }

  /** The recording's next message from `seq`; asked again while no replica answers (one catching up after a node was lost, or none there). */
  private next(subject: string, seq: number) {
    return untilAnswered(() => this.jsm.direct.getMessage(this.stream, { seq, next_by_subj: subject }), { withinMs: 3 * this.waitMs, what: `media read ${subject}`, log: this.log });
  }

  async close(): Promise<void> {}
}
