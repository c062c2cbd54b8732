// Disk full (R-ACK-6): with the free-space threshold above what the disk has, nothing is stored
// or acknowledged, an alarm is raised, reads go on; when space returns, the device's resent
// chunks are ingested and the recording ends verified.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startGateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "./fake-device.js";
import { connect } from "node:net";

const dir = mkdtempSync(join(tmpdir(), "evrec-disk-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("disk below its threshold", () => {
  it("acknowledges nothing, raises an alarm, keeps serving reads, and resumes when space returns", async () => {
    const gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1e12, beaconIntervalS: 0 }, createLogger("silent"));
    try {
      const root = randomBytes(32);
      await gw.registry.add("BWC-1001", { root });
      const d = new FakeDevice("BWC-1001", root);
      await d.connect(gw.mqttPort);
      await d.hello();
      const rec = d.recording(1, [randomBytes(2000), randomBytes(2000)]);
      await d.publish(rec.start);
      for (const c of rec.chunks) await d.publish(c);
      await new Promise((r) => setTimeout(r, 300));
      expect(d.received.filter((m) => m.kind === "ack")).toEqual([]);
      expect(await gw.db.get("SELECT 1 FROM recordings WHERE device_id = 'BWC-1001'")).toBeUndefined();
      expect(gw.broker.refusals.counts.DISK_LOW).toBeGreaterThanOrEqual(3);
      expect((await gw.alarms.list({ open: true })).map((a) => a.kind)).toContain("DISK_LOW");
      const health = await fetch(`http://127.0.0.1:${gw.httpPort}/api/health`, { headers: { authorization: `Bearer ${readFileSync(gw.adminTokenFile!, "utf8").trim()}` } });
      expect(await health.json()).toMatchObject({ ok: true, disk: { low: true } });

      gw.config.diskMinFreeMb = 1;
      await gw.checkDisk();
      expect((await gw.alarms.list({ open: true })).map((a) => a.kind)).not.toContain("DISK_LOW");
      await d.publish(rec.start);
      for (const c of rec.chunks) await d.publish(c);
      await d.publish(rec.seal);
      await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { state: number; cumulative: number }).state === 1 && (m.body.ack as { cumulative: number }).cumulative === 2);
      const row = await gw.db.get<{ verdict: string }>("SELECT verdict FROM recordings WHERE device_id = 'BWC-1001'");
      expect(row!.verdict).toBe("verified");
      await d.end();
    } finally {
      await gw.close();
    }
  });
});

describe("periodic checks", () => {
  it("raise CERT_EXPIRED for a device checked out to an officer whose certificate has expired", async () => {
    const dir2 = mkdtempSync(join(tmpdir(), "evrec-cert-"));
    const gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir2, diskMinFreeMb: 1, beaconIntervalS: 0 }, createLogger("silent"));
    try {
      await gw.registry.add("BWC-1101", { root: randomBytes(32) });
      const u = await gw.model.addUnit("Brigade", "agency");
      await gw.model.addOfficer({ badge: "E-1", name: "Wang Fang", unitId: u.id, role: "enforcement", certNo: "ZF-9", certValidFrom: "2020-01-01", certValidTo: "2020-12-31" });
      // Checked out while the certificate was valid; it has expired since.
      await gw.model.checkOut("BWC-1101", { badge: "E-1" }, Date.parse("2020-06-01T02:00:00Z"));
      await gw.checkDisk();
      const a = (await gw.alarms.list({ open: true })).find((x) => x.kind === "CERT_EXPIRED");
      expect(a).toMatchObject({ subject: "BWC-1101" });
      expect(a!.detail).toContain("2020-12-31");
    } finally {
      await gw.close();
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  it("refuse a client above the client limit with TOO_MANY_CLIENTS", async () => {
    const dir3 = mkdtempSync(join(tmpdir(), "evrec-limit-"));
    const gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir3, diskMinFreeMb: 1, beaconIntervalS: 0, maxClients: 1 }, createLogger("silent"));
    try {
      const roots = [randomBytes(32), randomBytes(32)];
      await gw.registry.add("LIM-1", { root: roots[0] });
      await gw.registry.add("LIM-2", { root: roots[1] });
      const first = new FakeDevice("LIM-1", roots[0]);
      await first.connect(gw.mqttPort);
      // The second connection is closed at once, before any MQTT is read from it.
      const sock = connect(gw.mqttPort, "127.0.0.1");
      await new Promise<void>((r) => sock.once("close", () => r()));
      expect(gw.broker.refusals.counts.TOO_MANY_CLIENTS).toBe(1);
      await first.hello();
      await first.waitFor((m) => m.kind === "beacon");
      await first.end();
    } finally {
      await gw.close();
      rmSync(dir3, { recursive: true, force: true });
    }
  });
});
