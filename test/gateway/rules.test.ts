// Rules the enforcement regulations add: a unit's own fleet ratio, the pre-duty device check at
// checkout, and the upload deadline; and the API described as OpenAPI, every route with a schema.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { testGateway, provision } from "./harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import type { Caller } from "../../gateway/services/index.js";
import { GatewayError } from "../../gateway/errors.js";
import * as devices from "../../gateway/store/devices.js";
import { noteDevice } from "../../gateway/store/ingest.js";

let gw: Gateway;
let close: () => Promise<void>;
let token: string;
const admin: Caller = { name: "admin", role: "admin", officerBadge: null };
beforeAll(async () => {
  ({ gw, close } = await testGateway());
  token = readFileSync(gw.adminTokenFile!, "utf8").trim();
  const s = gw.services.model;
  await s.addUnit(admin, "Busy agency", "agency");
  await s.addUnit(admin, "Quiet agency", "agency");
  for (let i = 0; i < 9; i++) await s.addOfficer(admin, { badge: `B${i}`, name: `Officer ${i}`, unitId: 1, role: "enforcement", certNo: `ZF-${i}`, certValidFrom: "2020-01-01", certValidTo: "2035-12-31" });
  for (let i = 0; i < 9; i++) await s.addOfficer(admin, { badge: `Q${i}`, name: `Officer ${i}`, unitId: 2, role: "enforcement" });
});
afterAll(() => close());

describe("a unit's own fleet ratio", () => {
  it("requires 3 sets for 9 officers at 1:3 and 2 at 1:5, overriding the station's 1:4, audited with its reason", async () => {
    await gw.services.model.setUnitRatio(admin, 1, 3, "busy unit");
    await gw.services.model.setUnitRatio(admin, 2, "5", "quiet unit");
    const r = await gw.services.reports.fleet(admin);
    expect(r.units.map((u) => [u.name, u.ratio, u.own.devices.required])).toEqual([["Busy agency", 3, 3], ["Quiet agency", 5, 2]]);
    expect((await gw.audit.list({ action: "unit.ratio", limit: 1 }))[0]).toMatchObject({ target: "2", reason: "quiet unit" });
    await expect(gw.services.model.setUnitRatio(admin, 2, "0", "no devices at all")).rejects.toMatchObject({ code: "BAD_RATIO" });
  });
});

describe("the pre-duty check at checkout", () => {
  it("refuses a device whose last Status shows a flat battery (CHECKOUT_BATTERY), warns of a clock a few seconds off, and lets an admin force it with a reason", async () => {
    const d = await provision(gw, "BWC-R001", { connect: false });
    void d;
    await noteDevice(gw.db, { device: "BWC-R001", at: Date.now(), status: { firmware: "1.0", batteryPct: 9, storageFree: 512 * 1048576, clockOffsetMs: 3500, receivedAt: Date.now() } });
    const e = await gw.services.model.checkOut(admin, "BWC-R001", { badge: "B1" }).catch((x) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe("CHECKOUT_BATTERY");
    expect((e as GatewayError).message).toContain("battery 9 %");
    const forced = await gw.services.model.checkOut(admin, "BWC-R001", { badge: "B1" }, undefined, { force: true, reason: "spare battery pack fitted" });
    expect(forced.warnings.join(" ")).toContain("CLOCK_OFF");
    const [entry] = await gw.audit.list({ action: "device.checkout", limit: 1 });
    expect(entry).toMatchObject({ reason: "spare battery pack fitted", details: { overridden: ["CHECKOUT_BATTERY"] } });
  });

  it("checks out a device whose last Status has no battery (no sensor: 0 mV and 0 % as proto3 reads the fields it left out), saying so, and still refuses one at 10 %", async () => {
    await provision(gw, "BWC-R004", { connect: false });
    await provision(gw, "BWC-R005", { connect: false });
    const status = { firmware: "1.0", storageFree: 512 * 1048576, clockOffsetMs: 0, state: 0, alarm: false, receivedAt: Date.now() };
    await noteDevice(gw.db, { device: "BWC-R004", at: Date.now(), status: { ...status, batteryMv: 0, batteryPct: 0 } });
    await noteDevice(gw.db, { device: "BWC-R005", at: Date.now(), status: { ...status, batteryMv: 3390, batteryPct: 10 } });
    const a = await gw.services.model.checkOut(admin, "BWC-R004", { badge: "B4" });
    expect(a.warnings).toEqual([expect.stringMatching(/^BATTERY_UNKNOWN: .*no battery reading/)]);
    const [entry] = await gw.audit.list({ action: "device.checkout", target: "BWC-R004", limit: 1 });
    expect(entry).toMatchObject({ reason: null, details: { badge: "B4", warnings: [expect.stringContaining("BATTERY_UNKNOWN")] } });
    const e = await gw.services.model.checkOut(admin, "BWC-R005", { badge: "B5" }).catch((x) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe("CHECKOUT_BATTERY");
    expect((e as GatewayError).message).toContain("battery 10 %, below 20 %");
  });

  it("refuses over the API with 409 and the reason code", async () => {
    await provision(gw, "BWC-R002", { connect: false });
    await noteDevice(gw.db, { device: "BWC-R002", at: Date.now(), status: { batteryPct: 80, storageFree: 100, clockOffsetMs: 0, receivedAt: Date.now() } });
    const r = await fetch(`http://127.0.0.1:${gw.httpPort}/api/assignments`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ device: "BWC-R002", badge: "B2" }) });
    expect(r.status).toBe(409);
    expect(await r.json()).toMatchObject({ error: "CHECKOUT_STORAGE" });
    expect(await devices.lastStatus(gw.db, "BWC-R002")).toBeTruthy();
  });
});

describe("the upload deadline", () => {
  it("raises UPLOAD_OVERDUE for a recording not wholly uploaded 24 h after it ended, once", async () => {
    const d = await provision(gw, "BWC-R003");
    const dayAgo = Date.now() - 25 * 3600e3;
    const rec = d.recording(1, [Buffer.alloc(2000, 1), Buffer.alloc(2000, 2)], { startMs: dayAgo });
    await d.publish(rec.start);
    await d.publish(rec.chunks[0]);
    await d.waitFor((m) => m.kind === "ack" && ((m.body.ack as { cumulative?: number }).cumulative || 0) >= 1);
    await d.end();
    const raised = await gw.alarms.checkUploadDeadline(Date.now(), 24 * 3600e3);
    expect(raised).toContain("BWC-R003/1");
    expect(await gw.alarms.checkUploadDeadline(Date.now(), 24 * 3600e3)).not.toContain("BWC-R003/1");
    const a = (await gw.alarms.list({ open: true })).find((x) => x.kind === "UPLOAD_OVERDUE" && x.subject === "BWC-R003/1");
    expect(a?.detail).toContain("not wholly uploaded within 24 h");
  });
});

describe("the API as OpenAPI", () => {
  it("serves an OpenAPI 3 document at /api/docs without a token, with every route described by its schema", async () => {
    const r = await fetch(`http://127.0.0.1:${gw.httpPort}/api/docs`);
    expect(r.status).toBe(200);
    const doc = (await r.json()) as { openapi: string; paths: Record<string, Record<string, { description?: string }>> };
    expect(doc.openapi).toMatch(/^3\./);
    const ops = Object.entries(doc.paths).flatMap(([p, ms]) => Object.entries(ms).map(([m, o]) => [`${m.toUpperCase()} ${p}`, o.description] as const));
    expect(ops.length).toBeGreaterThan(35);
    expect(ops.filter(([, d]) => !d).map(([k]) => k)).toEqual([]);
    expect(doc.paths["/api/recordings/{device}/{recording}/media"]).toBeTruthy();
  });
});
