// Partition leases on a replicated JetStream stream: one subject per lease, at most one message
// each, that message expiring with the stream's max_age. A worker takes a free lease by publishing
// on condition that the subject is empty, and renews it on condition that its own message is still
// the last: a worker that stopped renewing (killed, paused) loses its leases after leaseMs, and
// another takes them. Workers also publish a heartbeat, so each knows how many share the work.
//
// A take's sequence in the stream is the lease's fencing token: stream sequences only grow, so
// each take of a lease has a higher one than every take before it (a renewal gets a new sequence
// too, but the token stays the take's). The worker stores it with its partition (store/fences.ts).
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { unanswered } from "../store/nats-retry.js";

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

export class Leases {
  /** Lease name → the sequence of this worker's message holding it, and of the one that took it (the token). */
  private held = new Map<string, { seq: number; token: number }>();
  private constructor(private js: JetStreamClient, private jsm: JetStreamManager, private stream: string, readonly worker: string) {}

  static async open(nc: NatsConnection, o: { stream: string; replicas: number; leaseMs: number; worker: string }): Promise<Leases> {
    const jsm = await jetstreamManager(nc);
    const cfg = { name: o.stream, subjects: [PREFIX + ".>"], num_replicas: o.replicas, storage: "file", max_msgs_per_subject: 1, max_age: o.leaseMs * 1e6, allow_direct: true, allow_rollup_hdrs: true };
    if (!(await jsm.streams.info(o.stream).catch(() => null))) {
      await jsm.streams.add(cfg as never).catch(async (e) => {
        if (!(await jsm.streams.info(o.stream).catch(() => null))) throw e;
      });
    }
    return new Leases(jetstream(nc), jsm, o.stream, o.worker);
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

  /** Say this worker is alive; returns how many workers said so within the lease time. */
  async heartbeat(): Promise<number> {
    await this.js.publish(`${PREFIX}.worker.${this.worker}`, String(Date.now()));
    return Math.max(1, (await liveWorkers(this.jsm, this.stream)).length);
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
