// Whether every partition is served, as the region's office sees it. A partition no worker holds
// takes its devices' messages into JetStream and acknowledges none of them: the devices keep their
// recordings and resend, until their storage fills. The office reads each partition's lease every
// fleet check; one without a holder for longer than a takeover takes (twice the lease) raises
// PARTITION_UNSERVED, cleared by the office once a worker holds it again.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Alarms } from "../alarms.js";
import { SYSTEM_ACTOR } from "../alarms.js";
import type { Logger } from "../log.js";
import { leaseHolder, liveWorkers, partitionLease } from "./leases.js";

export const PARTITION_UNSERVED = "PARTITION_UNSERVED";

export interface PartitionView { partition: number; holder: string | null; since: number }
/** A worker alive (its heartbeat within the lease time) and the partitions it holds: none, a standby. */
export interface WorkerView { name: string; partitions: number[] }

export class PartitionWatch {
  /** Each partition's holder as last read, and since when it has been so. */
  private seen = new Map<number, PartitionView>();
  private raised = new Set<number>();
  /** The workers alive as last read; null until read. */
  private alive: string[] | null = null;
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
    const names = new Set(this.alive);
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
        await this.o.alarms.raise(PARTITION_UNSERVED, subject, `no worker has held partition ${n} since ${new Date(since).toISOString()}: its devices' messages wait in JetStream, none acknowledged; start a worker (npm start -- --cluster FILE)`);
      } else if (holder !== null && this.raised.has(n)) {
        this.raised.delete(n);
        this.o.log.info({ partition: n, holder }, "partition served again");
        await this.o.alarms.clear(PARTITION_UNSERVED, subject, SYSTEM_ACTOR, `served again by worker ${holder}`);
      }
    }
    try {
      this.alive = await liveWorkers(this.jsm, this.o.stream);
    } catch (e) {
      this.o.log.warn({ err: String(e) }, "workers' heartbeats not readable now: checked again at the next round");
    }
  }
}
