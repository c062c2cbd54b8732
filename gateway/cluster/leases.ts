// Partition leases on a replicated JetStream stream: one subject per lease, at most one message
// each, that message expiring with the stream's max_age. A worker takes a free lease by publishing
// on condition that the subject is empty, and renews it on condition that its own message is still
// the last: a worker that stopped renewing (killed, paused) loses its leases after leaseMs, and
// another takes them. Workers also publish a heartbeat, so each knows how many share the work.
//
// A take's sequence in the stream is the lease's fencing token: stream sequences only grow, so
// each take of a lease has a higher one than every take before it (a renewal gets a new sequence
// too, but the token stays the take's). The worker stores it with its partition (store/fences.ts).
//
// A heartbeat also says how many partitions its worker divides the devices into (`partitions`) and
// since when it runs: workers that disagree on the count leave partitions unserved (each takes its
// share of its own count), so a worker checks the others' before it takes any (worker.ts), and the
// office names the disagreement in its PARTITION_UNSERVED alarm (partitions.ts).
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { unanswered, untilAnswered } from "../store/nats-retry.js";
import type { Logger } from "../log.js";

const PREFIX = "evrec.lease";

/** The lease of partition `n`, by name. */
export const partitionLease = (n: number) => `part-${n}`;

/** Who holds a lease now (null: no one), read without taking part (the office asks it of each partition); throws if JetStream can't be asked. */
export async function leaseHolder(jsm: JetStreamManager, stream: string, name: string): Promise<string | null> {
  const m = await jsm.direct.getMessage(stream, { last_by_subj: `${PREFIX}.${name}` });
  return m ? m.string() : null;
}

/** The workers whose heartbeat is within the lease time (a stopped one's expires), by name; throws if JetStream can't be asked. */
export async function liveWorkers(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: `${PREFIX}.worker.>` });
  return Object.keys(info.state.subjects || {}).map((s) => s.slice(`${PREFIX}.worker.`.length)).sort();
}

/**
 * A live worker's heartbeat: its partition count and since when it runs (ms), null where its
 * heartbeat does not say (a worker of a version before they were said: its count is unknown), and
 * whether it takes no partitions because its count differs from an older worker's (worker.ts).
 */
export interface Heartbeat { name: string; partitions: number | null; since: number | null; yielding: boolean }

/** What a heartbeat message says. */
function heartbeatOf(name: string, text: string): Heartbeat {
  try {
    const v = JSON.parse(text) as { partitions?: unknown; since?: unknown; yielding?: unknown };
    const whole = (x: unknown) => (typeof x === "number" && Number.isInteger(x) && x > 0 ? x : null);
    if (v && typeof v === "object") return { name, partitions: whole(v.partitions), since: whole(v.since), yielding: v.yielding === true };
  } catch { /* a bare time: said before counts were */ }
  return { name, partitions: null, since: null, yielding: false };
}

/** The live workers' heartbeats, by name (one that lapsed between the two reads says nothing more); throws if JetStream can't be asked. */
export async function workerHeartbeats(jsm: JetStreamManager, stream: string): Promise<Heartbeat[]> {
  const out: Heartbeat[] = [];
  for (const name of await liveWorkers(jsm, stream)) {
    const m = await jsm.direct.getMessage(stream, { last_by_subj: `${PREFIX}.worker.${name}` });
    out.push(heartbeatOf(name, m ? m.string() : ""));
  }
  return out;
}

/** The partitions whose lease someone holds now, with the holder; throws if JetStream can't be asked. */
async function heldPartitions(jsm: JetStreamManager, stream: string): Promise<{ partition: number; holder: string | null }[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: `${PREFIX}.part-*` });
  const out: { partition: number; holder: string | null }[] = [];
  for (const s of Object.keys(info.state.subjects || {})) {
    const m = /\.part-(\d+)$/.exec(s);
    if (m) out.push({ partition: Number(m[1]), holder: await leaseHolder(jsm, stream, partitionLease(Number(m[1]))) });
  }
  return out.sort((a, b) => a.partition - b.partition);
}

export class Leases {
  /** Lease name → the sequence of this worker's message holding it, and of the one that took it (the token). */
  private held = new Map<string, { seq: number; token: number }>();
  /** When this worker started (its heartbeat says it: of two that disagree on the count, the later one yields). */
  readonly since = Date.now();
  /** This worker takes no partitions: its count differs from an older worker's (its heartbeat says so, and the others do not count it). */
  yielding = false;
  private constructor(private js: JetStreamClient, private jsm: JetStreamManager, private stream: string, readonly worker: string, private partitions: number) {}

  /**
   * The lease stream, made if it is not there. On a cluster just formed (another worker made the
   * stream a moment ago) it may have no leader yet: each call is asked again while unanswered, for
   * `waitMs` at most, then its last error is thrown.
   */
  static async open(nc: NatsConnection, o: { stream: string; replicas: number; leaseMs: number; worker: string; partitions: number; waitMs?: number; log?: Logger }): Promise<Leases> {
    const asked = { withinMs: o.waitMs ?? 30000, what: `stream ${o.stream}`, log: o.log };
    const jsm = await untilAnswered(() => jetstreamManager(nc), asked);
    const cfg = { name: o.stream, subjects: [PREFIX + ".>"], num_replicas: o.replicas, storage: "file", max_msgs_per_subject: 1, max_age: o.leaseMs * 1e6, allow_direct: true, allow_rollup_hdrs: true };
    // null: there is no such stream (any other failure is not "none").
    const info = () => untilAnswered(() => jsm.streams.info(o.stream).catch((e) => {
      if (/not found/i.test(String(e))) return null;
      throw e;
    }), asked);
    if (!(await info())) {
      await jsm.streams.add(cfg as never).catch(async (e) => {
        // Another worker made it in between.
        if (!(await info())) throw e;
      });
    }
    return new Leases(jetstream(nc), jsm, o.stream, o.worker, o.partitions);
  }

  /** The leases this worker holds. */
  get names(): string[] {
    return [...this.held.keys()];
  }

  holds(name: string): boolean {
    return this.held.has(name);
  }

  /** Take a lease no one holds. Its fencing token if it is now this worker's (one already held keeps its own), else null. */
  async take(name: string): Promise<number | null> {
    const had = this.held.get(name);
    if (had) return had.token;
    try {
      const ack = await this.js.publish(`${PREFIX}.${name}`, this.worker, { expect: { lastSubjectSequence: 0 } });
      this.held.set(name, { seq: ack.seq, token: ack.seq });
      return ack.seq;
    } catch {
      return null;
    }
  }

  /**
   * Renew every lease held. Returns the ones lost (another worker holds them now, or they expired),
   * and the ones whose renewal no one answered (the stream electing a leader after a node's loss):
   * those are still held, and renewed by a later round if their message is still the last then.
   */
  async renew(): Promise<{ lost: string[]; unanswered: string[] }> {
    const lost: string[] = [];
    const left: string[] = [];
    await Promise.all([...this.held].map(async ([name, { seq, token }]) => {
      try {
        const ack = await this.js.publish(`${PREFIX}.${name}`, this.worker, { expect: { lastSubjectSequence: seq } });
        this.held.set(name, { seq: ack.seq, token });
      } catch (e) {
        if (unanswered(e)) {
          left.push(name);
          return;
        }
        this.held.delete(name);
        lost.push(name);
      }
    }));
    return { lost, unanswered: left };
  }

  /** Give a lease up at once (its work was handed back first). */
  async release(name: string): Promise<void> {
    if (!this.held.delete(name)) return;
    await this.jsm.streams.purge(this.stream, { filter: `${PREFIX}.${name}` }).catch(() => undefined);
  }

  /**
   * Stop counting a lease as held, without touching the stream: for one a later holder's token has
   * fenced off (it is that holder's now; purging the subject would delete its lease).
   */
  forget(name: string): void {
    this.held.delete(name);
  }

  /**
   * Say this worker is alive, with its partition count; returns the heartbeats of every worker that
   * said so within the lease time (this one's included).
   */
  async heartbeat(): Promise<Heartbeat[]> {
    await this.js.publish(`${PREFIX}.worker.${this.worker}`, JSON.stringify({ at: Date.now(), partitions: this.partitions, since: this.since, yielding: this.yielding }));
    return workerHeartbeats(this.jsm, this.stream);
  }

  /** The other live workers' heartbeats, without saying this one's (the check before a worker's first round). */
  async others(): Promise<Heartbeat[]> {
    return (await workerHeartbeats(this.jsm, this.stream)).filter((h) => h.name !== this.worker);
  }

  /** The partitions whose lease is held now, and by whom. */
  partitionsHeld(): Promise<{ partition: number; holder: string | null }[]> {
    return heldPartitions(this.jsm, this.stream);
  }

  /** Who holds a lease now, if anyone. */
  holder(name: string): Promise<string | null> {
    return leaseHolder(this.jsm, this.stream, name).catch(() => null);
  }

  /** Stop: every lease given up, the heartbeat withdrawn (a clean stop hands work over at once). */
  async close(): Promise<void> {
    await Promise.all([...this.held.keys()].map((name) => this.release(name)));
    await this.jsm.streams.purge(this.stream, { filter: `${PREFIX}.worker.${this.worker}` }).catch(() => undefined);
  }
}
