// Whether every partition is served, as the region's office sees it. A partition no worker holds
// takes its devices' messages into JetStream and acknowledges none of them: the devices keep their
// recordings and resend, until their storage fills. The office reads each partition's lease every
// fleet check; one without a holder for longer than a takeover takes (twice the lease) raises
// PARTITION_UNSERVED, cleared by the office once a worker holds it again. Its detail says what to
// do: start a worker, or, when the workers' heartbeats show partition counts that differ (between
// workers, or from the office's own), make them agree: a worker of another count takes its share of
// its own count, and the partitions between are served by none (PARTITIONS_DIFFER).
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Alarms } from "../alarms.js";
import { ALARM_KINDS, SYSTEM_ACTOR } from "../alarms.js";
import type { Logger } from "../log.js";
import { leaseHolder, partitionLease, workerHeartbeats } from "./leases.js";
import type { Heartbeat } from "./leases.js";

export const PARTITION_UNSERVED = ALARM_KINDS.PARTITION_UNSERVED;

export interface PartitionView { partition: number; holder: string | null; since: number }
/** A worker alive (its heartbeat within the lease time) and the partitions it holds: none, a standby. */
export interface WorkerView { name: string; partitions: number[] }

export class PartitionWatch {
  /** Each partition's holder as last read, and since when it has been so. */
  private seen = new Map<number, PartitionView>();
  private raised = new Set<number>();
  /** The workers alive as last read (their heartbeats); null until read. */
  private alive: Heartbeat[] | null = null;
  private first = true;

  constructor(private jsm: JetStreamManager, private o: { stream: string; partitions: number; leaseMs: number; alarms: Alarms; log: Logger; now?: () => number }) {}

  /** The partitions as last read (the office's GET /api/system and System page, to an admin). */
  get view(): PartitionView[] {
    return [...this.seen.values()].sort((a, b) => a.partition - b.partition);
  }

  /** The workers alive as last read, each with the partitions it holds (a holder whose heartbeat lapsed too); null until read. */
  get workers(): WorkerView[] | null {
    if (!this.alive) return null;
    const view = this.view;
    const names = new Set(this.alive.map((h) => h.name));
    for (const p of view) if (p.holder !== null) names.add(p.holder);
    return [...names].sort().map((name) => ({ name, partitions: view.filter((p) => p.holder === name).map((p) => p.partition) }));
  }

  async check(): Promise<void> {
    const now = (this.o.now ?? Date.now)();
    const graceMs = 2 * this.o.leaseMs;
    if (this.first) {
      // Raised by an office before this one (restarted): cleared here once served.
      this.first = false;
      for (const a of await this.o.alarms.list({ open: true })) {
        const m = a.kind === PARTITION_UNSERVED ? /^partition (\d+)$/.exec(a.subject) : null;
        if (m) this.raised.add(Number(m[1]));
      }
    }
    // The workers first: their counts go into an alarm's detail.
    try {
      this.alive = await workerHeartbeats(this.jsm, this.o.stream);
    } catch (e) {
      this.o.log.warn({ err: String(e) }, "workers' heartbeats not readable now: checked again at the next round");
    }
    for (let n = 0; n < this.o.partitions; n++) {
      let holder: string | null;
      try {
        holder = await leaseHolder(this.jsm, this.o.stream, partitionLease(n));
      } catch (e) {
        // Unknown, not unserved: the office can't ask JetStream now (its own connection says so in the log).
        this.o.log.warn({ partition: n, err: String(e) }, "partition leases not readable now: checked again at the next round");
        return;
      }
      const before = this.seen.get(n);
      // At the office's start a partition with no holder is counted from then: it may be changing hands.
      if (!before || before.holder !== holder) this.seen.set(n, { partition: n, holder, since: now });
      const since = this.seen.get(n)!.since;
      const subject = `partition ${n}`;
      if (holder === null && now - since > graceMs && !this.raised.has(n)) {
        this.raised.add(n);
        this.o.log.error({ code: PARTITION_UNSERVED, partition: n, sinceMs: now - since }, "no worker serves a partition: its devices' messages wait unacknowledged");
        const differ = this.differing();
        if (differ) this.o.log.error({ code: "PARTITIONS_DIFFER", partition: n, workers: differ, office: this.o.partitions }, "the partition counts of the workers and the office differ");
        await this.o.alarms.raise(PARTITION_UNSERVED, subject, `no worker has held partition ${n} since ${new Date(since).toISOString()}: its devices' messages wait in JetStream, none acknowledged; ${differ
          ? `the partition counts differ (PARTITIONS_DIFFER): ${differ}; this office's cluster.partitions ${this.o.partitions}. A worker of another count takes its share of its own and leaves partitions to none: set cluster.partitions alike in every worker's file (and the office's), to the N of the NATS mapping's partition(N,1), and start the ones that differ again`
          : "start a worker (npm start -- --cluster FILE)"}`);
      } else if (holder !== null && this.raised.has(n)) {
        this.raised.delete(n);
        this.o.log.info({ partition: n, holder }, "partition served again");
        await this.o.alarms.clear(PARTITION_UNSERVED, subject, SYSTEM_ACTOR, `served again by worker ${holder}`);
      }
    }
  }

  /**
   * The live workers' partition counts, as "worker w1 8, worker w2 4", when they differ from each other or from
   * the office's own; null when they agree (a heartbeat without a count, from a worker of a version
   * before counts were said, is left out).
   */
  private differing(): string | null {
    const counted = (this.alive ?? []).filter((h) => h.partitions !== null);
    if (!counted.some((h) => h.partitions !== this.o.partitions)) return null;
    return counted.map((h) => `worker ${h.name} ${h.partitions}${h.yielding ? " (taking none: yields to an older worker's count)" : ""}`).join(", ");
  }
}
