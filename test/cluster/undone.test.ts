// What a worker left undone after a commit (killed between a clip's commit and its case link, or
// between a seal's commit and the check of the next recording's genesis link against it) is made by
// the worker that takes the partition over, though the device says nothing more: no Hello, no
// message, so no session of it is ever adopted. A station makes these at its start; a region's
// workers have no start of their own.
// Both workers run in this process, on a real 3-node NATS cluster and the region's SQLite file: the
// first one's case links never answer (the model's, spied on), as when the process dies just after
// the commits that ask for them.
import { afterAll, describe, expect, it, vi } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { NATS_BIN } from "./nats-cluster.js";
import { StreamDevice } from "./stream-device.js";
import { until, WORKER } from "./workers.js";
import { regionInProcess } from "./in-process.js";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { partitionFor } from "../../gateway/cluster/worker.js";
import { Model } from "../../gateway/model/model.js";

const PARTITIONS = 2;
const ID = "ud0";
const CASE = "RG-2026-0042";

describe.skipIf(!existsSync(NATS_BIN))("what a worker left undone after a commit, for a device silent since", () => {
  const region = regionInProcess("undone", PARTITIONS);
  let device: StreamDevice | null = null;
  afterAll(async () => {
    vi.restoreAllMocks();
    await device?.stop();
  });

  it("is made by the worker that takes the partition over: the clip linked to its case, the genesis link checked", async () => {
    // A unit with a case open now, and its recorder.
    const s = await region.store();
    let root: Uint8Array;
    try {
      const unit = await s.model.addUnit("Region Patrol Unit (undone)", "agency");
      await s.model.addCase({ number: CASE, unitId: unit.id, category: "penalty", activityKind: "seizure", windowStart: Date.now() - 3600e3, windowEnd: Date.now() + 3600e3 });
      root = await s.registry.add(ID);
      await s.model.setDeviceUnit(ID, unit.id);
    } finally {
      await s.db.close();
    }

    // The first worker's case links never answer: its process "dies" between the clips' commits and their links.
    let dead = true, asked = 0;
    const linkByTag = Model.prototype.linkByTag;
    vi.spyOn(Model.prototype, "linkByTag").mockImplementation(function (this: Model, d: string, r: number) {
      if (!dead) return linkByTag.call(this, d, r);
      asked++;
      return new Promise(() => undefined);
    });
    const first = await region.start("ua");
    await until("the first worker to serve every partition", () => first.partitions().length === PARTITIONS, 30000);
    await until("the authorization file to list the device", () => readFileSync(region.nats.authFile, "utf8").includes(`user: "${ID}"`), 20000);
    // Two recordings, each tagged with the case, sealed and Acked; then the device says nothing more.
    device = new StreamDevice(ID, root!, region.nats.nodes.map((x) => x.mqtt), 2, 2, 1024, 0, 8, 2000, { caseTag: CASE });
    await device.start();
    await until("the device's recordings sealed and Acked", () => device!.done, 60000);
    await device.stop();
    await until("both clips' links asked for", () => asked >= 2, 10000);
    // The device's session record says which partition its Hello came on: where the next worker looks for it.
    const nc = await connect({ servers: region.nats.servers.split(","), user: WORKER.user, pass: WORKER.pass });
    try {
      const rec = await (await jetstreamManager(nc)).streams.getMessage("EVREC_SESSIONS", { last_by_subj: `evrec.session.${ID}` });
      expect(rec!.json<{ part: number }>().part).toBe(partitionFor(ID, PARTITIONS));
    } finally {
      await nc.close();
    }
    await first.close();

    const t = await region.store();
    try {
      expect(await t.model.clipLinks(ID, 1)).toEqual([]);
      expect(await t.model.clipLinks(ID, 2)).toEqual([]);
      // And the check of recording 2's genesis link against recording 1's seal cut short the same way.
      await t.db.run("UPDATE recordings SET prev_checked = 0 WHERE device_id = ? AND recording_id = 2", [ID]);
    } finally {
      await t.db.close();
    }

    dead = false;
    const second = await region.start("ub");
    const u = await region.store();
    try {
      await until("both clips linked to their case", async () => (await u.model.clipLinks(ID, 1)).length > 0 && (await u.model.clipLinks(ID, 2)).length > 0, 30000);
      for (const r of [1, 2]) expect((await u.model.clipLinks(ID, r)).map((l) => [l.caseNumber, l.linkedBy])).toEqual([[CASE, "system:case-tag"]]);
      await until("recording 2's genesis link checked", async () => (await u.db.get<{ c: number }>("SELECT prev_checked AS c FROM recordings WHERE device_id = ? AND recording_id = 2", [ID]))!.c === 1, 10000);
      const rows = await u.db.all<{ verdict: string; pending: number | null }>("SELECT verdict, tag_link_pending AS pending FROM recordings WHERE device_id = ? ORDER BY recording_id", [ID]);
      expect(rows).toEqual([{ verdict: "verified", pending: null }, { verdict: "verified", pending: null }]);
    } finally {
      await u.db.close();
    }
    // Made by the partition's take: the device sent nothing, so no session of it was adopted.
    expect(second.stats.adopted).toBe(0);
    expect(second.stats.received).toBe(0);
  }, 180000);
});
