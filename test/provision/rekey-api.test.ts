// The gateway side of re-provisioning: POST /api/devices/:id/rekey, and issuing a device to a unit
// when it is registered. No interpreter needed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { testGateway, streamSealed } from "../gateway/harness.js";
import { FakeDevice } from "../gateway/fake-device.js";

let g: Awaited<ReturnType<typeof testGateway>>;
let admin: string;
beforeAll(async () => {
  g = await testGateway();
  admin = readFileSync(g.gw.adminTokenFile!, "utf8").trim();
});
afterAll(async () => {
  await g.close();
});

const call = async (method: string, path: string, token: string, body?: unknown) => {
  const r = await fetch(`http://127.0.0.1:${g.gw.httpPort}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, body: await r.json() as Record<string, unknown> };
};

describe("re-keying a device (POST /api/devices/:id/rekey)", () => {
  it("gives an id a new root: the old keys no longer log in, the new ones do; audited with its reason", async () => {
    const old = randomBytes(32);
    await g.gw.registry.add("RK-1", { root: old });
    const d0 = new FakeDevice("RK-1", old);
    await d0.connect(g.gw.mqttPort);
    await d0.hello();
    await d0.waitFor((m) => m.kind === "beacon");
    await d0.end();
    expect((await g.gw.registry.get("RK-1"))!.state).toBe("active");

    const root = randomBytes(32);
    const r = await call("POST", "/api/devices/RK-1/rekey", admin, { root: root.toString("hex"), chipSerial: "chip-9", reason: "flash replaced" });
    expect(r).toEqual({ status: 200, body: { id: "RK-1", state: "provisioned" } });
    await expect(new FakeDevice("RK-1", old).connect(g.gw.mqttPort)).rejects.toThrow();
    const d1 = new FakeDevice("RK-1", root);
    await d1.connect(g.gw.mqttPort);
    await d1.hello();
    await d1.waitFor((m) => m.kind === "beacon" && m.ok === ""); // "": its MAC checks out under the new downlink key
    await d1.end();
    const row = await g.gw.db.get<{ chip_serial: string }>("SELECT chip_serial FROM devices WHERE id = 'RK-1'");
    expect(row!.chip_serial).toBe("chip-9");
    expect((await g.gw.audit.list({ action: "device.rekey" })).find((a) => a.target === "RK-1")).toMatchObject({ actor: "admin", reason: "flash replaced", details: { from: "active" } });
  });

  it("is refused for an unknown id, without a reason, for a revoked device, for a device with recordings, and for a non-admin", async () => {
    const hex = randomBytes(32).toString("hex");
    expect((await call("POST", "/api/devices/NOPE/rekey", admin, { root: hex, reason: "test" })).body.error).toBe("UNKNOWN_DEVICE");
    await g.gw.registry.add("RK-2", { root: randomBytes(32) });
    expect((await call("POST", "/api/devices/RK-2/rekey", admin, { root: hex })).body.error).toBe("REASON_REQUIRED");
    await g.gw.registry.setState("RK-2", "revoked");
    expect((await call("POST", "/api/devices/RK-2/rekey", admin, { root: hex, reason: "test" })).body.error).toBe("DEVICE_REVOKED");

    const root = randomBytes(32);
    await g.gw.registry.add("RK-3", { root });
    const d = new FakeDevice("RK-3", root);
    await d.connect(g.gw.mqttPort);
    await d.hello();
    await streamSealed(d, d.recording(1, [randomBytes(64)]));
    await d.end();
    const before = await g.gw.db.get<{ root_enc: Buffer }>("SELECT root_enc FROM devices WHERE id = 'RK-3'");
    const r = await call("POST", "/api/devices/RK-3/rekey", admin, { root: hex, reason: "test" });
    expect(r.body.error).toBe("REKEY_HAS_RECORDINGS");
    expect((await g.gw.db.get<{ root_enc: Buffer }>("SELECT root_enc FROM devices WHERE id = 'RK-3'"))!.root_enc.equals(before!.root_enc)).toBe(true);

    await g.gw.accounts.create("sup-rk", "supervisor");
    const sup = await g.gw.accounts.issueToken("sup-rk");
    expect((await call("POST", "/api/devices/RK-1/rekey", sup, { root: hex, reason: "test" })).status).toBe(403);
  });

  it("registration with a unit issues the device to it; an unknown unit adds nothing", async () => {
    const u = await g.gw.model.addUnit("Traffic Police Brigade", "agency");
    const hex = randomBytes(32).toString("hex");
    expect((await call("POST", "/api/devices", admin, { id: "RK-4", root: hex, unit: u.id })).status).toBe(201);
    expect((await g.gw.db.get<{ unit_id: number }>("SELECT unit_id FROM devices WHERE id = 'RK-4'"))!.unit_id).toBe(u.id);
    const bad = await call("POST", "/api/devices", admin, { id: "RK-5", root: hex, unit: 9999 });
    expect(bad).toMatchObject({ status: 404, body: { error: "UNIT_NOT_FOUND" } });
    expect(await g.gw.registry.get("RK-5")).toBeUndefined();
  });
});
