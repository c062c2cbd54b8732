// What the region's office makes of the partitions' leases, with JetStream's answers given by the
// test: a partition no worker has held for twice the lease is alarmed PARTITION_UNSERVED, and
// cleared (an earlier office's alarm too) once one does; a lease that can't be read is unknown,
// not unserved; the workers alive are listed with the partitions each holds, or standing by.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import { openTestDb } from "../helpers/postgres.js";
import { ALARM_MIGRATIONS, AUDIT_MIGRATIONS, INGEST_MIGRATIONS, migrate } from "../../gateway/store/schema.js";
import { AuditLog } from "../../gateway/audit/log.js";
import { Alarms } from "../../gateway/alarms.js";
import { createLogger } from "../../gateway/log.js";
import { PARTITION_UNSERVED, PartitionWatch } from "../../gateway/cluster/partitions.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const LEASE_MS = 3000;

/** JetStream as the office asks it: each lease's holder, the workers' heartbeats; `down` makes every call fail. */
function fakeJetStream() {
  const js = { holders: new Map<string, string>(), alive: [] as string[], down: false };
  const jsm = {
    direct: {
      getMessage: async (_stream: string, q: { last_by_subj: string }) => {
        if (js.down) throw new Error("TIMEOUT");
        const holder = js.holders.get(q.last_by_subj.replace(/^evrec\.lease\./, ""));
        return holder ? { string: () => holder } : null;
      },
    },
    streams: {
      info: async () => {
        if (js.down) throw new Error("TIMEOUT");
        return { state: { subjects: Object.fromEntries(js.alive.map((w) => [`evrec.lease.worker.${w}`, 1])) } };
      },
    },
  };
  return { js, jsm: jsm as unknown as JetStreamManager };
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), "evrec-partitions-"));
  const db = await openTestDb(join(dir, "gateway.db"));
  cleanups.push(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await migrate(db, [INGEST_MIGRATIONS, AUDIT_MIGRATIONS, ALARM_MIGRATIONS]);
  const alarms = new Alarms(db, undefined, { audit: await AuditLog.open(db, dir) });
  const clock = { now: 1_700_000_000_000 };
  const { js, jsm } = fakeJetStream();
  const watch = () => new PartitionWatch(jsm, { stream: "EVREC_LEASES", partitions: 2, leaseMs: LEASE_MS, alarms, log: createLogger("silent"), now: () => clock.now });
  const unserved = async () => (await alarms.list({ open: true })).filter((a) => a.kind === PARTITION_UNSERVED).map((a) => a.subject).sort();
  return { alarms, clock, js, watch, unserved };
}

describe("the region's partitions as its office watches them", () => {
  it("alarms a partition no worker has held for twice the lease, and clears it once one does", async () => {
    const { clock, js, watch, unserved } = await setup();
    const w = watch();
    expect(w.workers).toBeNull(); // not read yet
    js.holders.set("part-0", "w1");
    js.alive = ["w1"];
    await w.check();
    expect(w.view.map((p) => p.holder)).toEqual(["w1", null]);
    // Partition 1 unheld: not alarmed within twice the lease (a takeover takes that long)...
    clock.now += 2 * LEASE_MS;
    await w.check();
    expect(await unserved()).toEqual([]);
    // ...alarmed once past it, once.
    clock.now += 1;
    await w.check();
    await w.check();
    expect(await unserved()).toEqual(["partition 1"]);
    // JetStream can't be asked: nothing changes (unknown is not unserved, nor served).
    js.down = true;
    clock.now += 10 * LEASE_MS;
    await w.check();
    expect(await unserved()).toEqual(["partition 1"]);
    expect(w.view.map((p) => p.holder)).toEqual(["w1", null]);
    // A second worker takes it: cleared.
    js.down = false;
    js.holders.set("part-1", "w2");
    js.alive = ["w1", "w2"];
    await w.check();
    expect(await unserved()).toEqual([]);
    expect(w.workers).toEqual([{ name: "w1", partitions: [0] }, { name: "w2", partitions: [1] }]);
  });

  it("lists a worker holding nothing as standing by, and clears an alarm an earlier office raised", async () => {
    const { alarms, js, watch, unserved } = await setup();
    await alarms.raise(PARTITION_UNSERVED, "partition 0", "raised by the office before this one");
    js.holders.set("part-0", "w1");
    js.holders.set("part-1", "w1");
    js.alive = ["w1", "w3"];
    const w = watch();
    await w.check();
    expect(await unserved()).toEqual([]);
    expect(w.workers).toEqual([{ name: "w1", partitions: [0, 1] }, { name: "w3", partitions: [] }]);
  });

  it("says in the alarm that the workers' partition counts differ, when their heartbeats show it, rather than to start a worker", async () => {
    const { alarms, clock, js, watch } = await setup();
    const detail = async (subject: string) => (await alarms.list({ open: true })).find((a) => a.kind === PARTITION_UNSERVED && a.subject === subject)?.detail;
    // The tester's region: w2 of this office's count holds partition 0 and hands partition 1 over
    // to w1, whose count is 8 and which never takes it (it serves partitions the mapping never fills).
    js.holders.set("part-0", "w2");
    js.holders.set("worker.w1", JSON.stringify({ at: clock.now, partitions: 8, since: clock.now - 1000 }));
    js.holders.set("worker.w2", JSON.stringify({ at: clock.now, partitions: 2, since: clock.now - 9000 }));
    js.alive = ["w1", "w2"];
    const w = watch();
    await w.check();
    clock.now += 2 * LEASE_MS + 1;
    await w.check();
    expect(await detail("partition 1")).toMatch(/^no worker has held partition 1 since .*: its devices' messages wait in JetStream, none acknowledged; the partition counts differ \(PARTITIONS_DIFFER\): worker w1 8, worker w2 2; this office's cluster\.partitions 2\. .*set cluster\.partitions alike in every worker's file/);
    expect(await detail("partition 1")).not.toMatch(/start a worker/);
    // Counts that agree (or are not said, by a worker of a version before): the advice to start one.
    const other = await setup();
    other.js.holders.set("worker.w2", JSON.stringify({ at: 1, partitions: 2, since: 1 }));
    other.js.alive = ["w2", "older-version"];
    const w2 = other.watch();
    await w2.check();
    other.clock.now += 2 * LEASE_MS + 1;
    await w2.check();
    const d = (await other.alarms.list({ open: true })).map((a) => a.detail);
    expect(d.length).toBe(2);
    for (const x of d) expect(x).toMatch(/start a worker \(npm start -- --cluster FILE\)$/);
  });
});
