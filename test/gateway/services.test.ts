// The service layer owns the rules and the audit: every change a person can make writes exactly
// one audit entry, naming them, in the same transaction as the change; a change whose audit write
// fails is not made at all.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { provision, streamSealed, testGateway } from "./harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import type { Caller } from "../../gateway/services/index.js";
import { GatewayError } from "../../gateway/errors.js";

let gw: Gateway;
let close: () => Promise<void>;
const admin: Caller = { name: "admin", role: "admin", officerBadge: null };
beforeAll(async () => ({ gw, close } = await testGateway()));
afterAll(() => close());

const count = async () => (await gw.audit.head()).count;

describe("service layer", () => {
  it("writes exactly one audit entry, naming the caller, for every change", async () => {
    const s = gw.services;
    const day = Date.now();
    const changes: [string, () => Promise<unknown>][] = [
      ["unit.add", () => s.model.addUnit(admin, "City bureau", "city")],
      ["unit.add", () => s.model.addUnit(admin, "Agency A", "agency", 1)],
      ["officer.add", () => s.model.addOfficer(admin, { badge: "A1", name: "Li Wei", unitId: 2, role: "enforcement", certNo: "ZF-1", certValidFrom: "2020-01-01", certValidTo: "2035-12-31" })],
      ["officer.add", () => s.model.addOfficer(admin, { badge: "S1", name: "Wang Fang", unitId: 1, role: "supervisor" })],
      ["officer.edit", () => s.model.editOfficer(admin, "A1", { name: "Li Wei (2)" }, "name corrected")],
      ["officer.transfer", () => s.model.transferOfficer(admin, "A1", 1, "moved to the bureau")],
      ["officer.transfer", () => s.model.transferOfficer(admin, "A1", 2, "back to the agency")],
      ["officer.deactivate", () => s.model.setOfficerActive(admin, "S1", false, "on leave")],
      ["officer.reactivate", () => s.model.setOfficerActive(admin, "S1", true, "back from leave")],
      ["account.add", () => s.accounts.add(admin, "wang", "supervisor", "S1")],
      ["token.issue", () => s.accounts.issueToken(admin, "wang")],
      ["token.revoke", () => s.accounts.revokeTokens(admin, "wang", "token left on a shared desk")],
      ["account.disable", () => s.accounts.setDisabled(admin, "wang", true, "left the unit")],
      ["account.enable", () => s.accounts.setDisabled(admin, "wang", false, "came back")],
      ["device.add", () => s.devices.add(admin, { id: "BWC-9001", root: randomBytes(32), unit: 2 })],
      ["device.unit", () => s.devices.setUnit(admin, "BWC-9001", 1, "reissued to the bureau")],
      ["device.state", () => s.devices.setState(admin, "BWC-9001", "active", "checked on the bench")],
      ["case.add", () => s.model.addCase(admin, { number: "K-1", unitId: 2, category: "inspection", activityKind: "hearing", windowStart: day - 3600e3, windowEnd: day + 3600e3 })],
      ["device.checkout", () => s.model.checkOut(admin, "BWC-9001", { badge: "A1" })],
      ["device.return", () => s.model.returnDevice(admin, "BWC-9001")],
      ["device.state", () => s.devices.setState(admin, "BWC-9001", "revoked", "reported stolen")],
      ["unit.ratio", () => s.model.setUnitRatio(admin, 2, 3, "busy unit")],
      ["alarm.clear", async () => {
        await gw.alarms.raise("DISK_LOW", "/data", "test");
        return s.alarms.clear(admin, "DISK_LOW", "/data", "space freed");
      }],
    ];
    for (const [action, run] of changes) {
      const before = await count();
      await run();
      expect(await count(), action).toBe(before + 1);
      const [last] = await gw.audit.list({ limit: 1 });
      expect(last.action).toBe(action);
      expect(last.actor).toBe("admin");
    }
    expect((await gw.audit.verify()).ok).toBe(true);
  });

  it("refuses to disable a disabled account, or enable an enabled one, keeping the date it was disabled", async () => {
    const s = gw.services;
    await s.accounts.setDisabled(admin, "wang", true, "left the unit");
    const since = (await s.accounts.list(admin)).find((a) => a.name === "wang")!.disabledAt;
    const before = await count();
    await expect(s.accounts.setDisabled(admin, "wang", true, "left the unit, again")).rejects.toMatchObject({ code: "NO_CHANGE", message: expect.stringMatching(/^account wang is already disabled \(since /) });
    expect((await s.accounts.list(admin)).find((a) => a.name === "wang")!.disabledAt).toBe(since);
    await s.accounts.setDisabled(admin, "wang", false, "came back");
    await expect(s.accounts.setDisabled(admin, "wang", false, "came back, again")).rejects.toMatchObject({ code: "NO_CHANGE", message: "account wang is already enabled" });
    // The one change wrote one entry; the refused ones none.
    expect(await count()).toBe(before + 1);
  });

  it("refuses a unit ratio or a device's unit set to what is already in force, auditing nothing", async () => {
    const s = gw.services;
    const before = await count();
    await expect(s.model.setUnitRatio(admin, 2, 3, "busy unit, again")).rejects.toMatchObject({ code: "NO_CHANGE", message: "unit 2's ratio is already 1:3" });
    await expect(s.devices.setUnit(admin, "BWC-9001", 1, "reissued again")).rejects.toMatchObject({ code: "NO_CHANGE", message: "device BWC-9001 is already issued to unit 1" });
    expect(await count()).toBe(before);
  });

  it("links and unlinks a clip with one audit entry each, beside its custody event", async () => {
    const d = await provision(gw, "BWC-9101");
    const rec = d.recording(1, [randomBytes(1000)]);
    await streamSealed(d, rec);
    await d.end();
    for (const unlink of [false, true]) {
      const before = await count();
      await gw.services.model.link(admin, "BWC-9101", 1, "K-1", unlink ? "not part of the case" : "seen on the clip", unlink);
      expect(await count()).toBe(before + 1);
      expect((await gw.audit.list({ limit: 1 }))[0]).toMatchObject({ action: unlink ? "clip.unlink" : "clip.link", target: "BWC-9101/1" });
    }
    expect((await gw.model.custodyEvents("BWC-9101", 1)).map((e) => e.action)).toEqual(["link", "unlink"]);
  });

  it("lists the clips newest first, in pages that add up to the whole listing, one device's too, ties on a time in the key's order, and refuses a cursor it did not give", async () => {
    for (const id of ["BWC-9201", "BWC-9202"]) {
      const d = await provision(gw, id);
      for (const n of [1, 2, 3]) await streamSealed(d, d.recording(n, [randomBytes(500)]));
      await d.end();
    }
    // The clips' times in the station's clock, set apart so that their order is not their keys' order;
    // 9201/2 and 9202/2 at the same time (the newer key first among them).
    const t = Date.now() + 3600e3;
    const times: [string, number, number][] = [["BWC-9201", 1, t + 2000], ["BWC-9201", 2, t], ["BWC-9201", 3, t + 1000], ["BWC-9202", 1, t + 3000], ["BWC-9202", 2, t], ["BWC-9202", 3, t - 5000]];
    for (const [device, recording, at] of times) await gw.db.run("UPDATE recordings SET clip_at_ms = ? WHERE device_id = ? AND recording_id = ?", [at, device, recording]);
    const key = (r: { device: string; recording: number }) => `${r.device}/${r.recording}`;
    const walk = async (q: { device?: string }) => {
      const seen: string[] = [];
      for (let cursor: string | null | undefined; cursor !== null;) {
        const page = await gw.services.recordings.page(admin, { ...q, limit: 2, cursor: cursor ?? undefined });
        expect(page.recordings.length).toBeLessThanOrEqual(2);
        seen.push(...page.recordings.map(key));
        cursor = page.next;
        expect(seen.length).toBeLessThan(100);
      }
      return seen;
    };
    const listed = await gw.services.recordings.list(admin);
    const all = listed.map(key);
    expect(all.slice(0, 6)).toEqual(["BWC-9202/1", "BWC-9201/1", "BWC-9201/3", "BWC-9202/2", "BWC-9201/2", "BWC-9202/3"]);
    const ats = listed.map((r) => r.at ?? -1);
    expect(ats).toEqual([...ats].sort((a, b) => b - a));
    expect(await walk({})).toEqual(all);
    expect(await walk({ device: "BWC-9202" })).toEqual(["BWC-9202/1", "BWC-9202/2", "BWC-9202/3"]);
    await expect(gw.services.recordings.page(admin, { cursor: "bm9wZQ" })).rejects.toMatchObject({ code: "BAD_CURSOR", status: 400 });
    await expect(gw.services.recordings.page(admin, { afterClip: "BWC-9299/1" })).rejects.toMatchObject({ code: "BAD_CURSOR", status: 400 });
    await expect(gw.services.recordings.page(admin, { limit: 0 })).rejects.toMatchObject({ code: "BAD_INPUT" });
  });

  it("makes no change when its audit entry can't be written, and says so", async () => {
    const s = gw.services;
    const units = (await s.model.listUnits(admin)).length;
    const before = await count();
    const real = gw.audit.appendInTransaction.bind(gw.audit);
    gw.audit.appendInTransaction = async () => { throw new Error("disk full while writing the audit entry"); };
    try {
      await expect(s.model.addUnit(admin, "Agency B", "agency", 1)).rejects.toThrow("disk full");
      await expect(s.devices.add(admin, { id: "BWC-9002", root: randomBytes(32) })).rejects.toThrow("disk full");
    } finally {
      gw.audit.appendInTransaction = real;
    }
    expect((await s.model.listUnits(admin)).length).toBe(units);
    expect(await gw.registry.get("BWC-9002")).toBeUndefined();
    expect(await count()).toBe(before);
  });

  it("refuses bad input with a reason code and writes nothing", async () => {
    const before = await count();
    const e = await gw.services.model.addOfficer(admin, null).catch((x) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe("BAD_INPUT");
    expect(await count()).toBe(before);
  });
});
