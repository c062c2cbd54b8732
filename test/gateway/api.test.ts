// The HTTP API: first-start admin token, token auth, roles, device registration as the
// provisioning tool does it, recordings with their verdicts; errors carry a reason code.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "./fake-device.js";

let gw: Gateway;
let dir: string;
let admin: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "evrec-api-"));
  gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 0 }, createLogger("silent"));
  admin = readFileSync(gw.adminTokenFile!, "utf8").trim();
});
afterAll(async () => {
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = async (method: string, path: string, token?: string, body?: unknown) => {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}${path}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, body: await r.json() as Record<string, unknown> & unknown[] };
};

describe("HTTP API", () => {
  it("writes the admin token on first start, readable only by its owner", () => {
    expect(statSync(gw.adminTokenFile!).mode & 0o777).toBe(0o600);
    expect(admin).toMatch(/^evr_/);
  });

  it("refuses requests without a token, with a bad token, or from a role that may not", async () => {
    expect((await call("GET", "/api/devices")).body.error).toBe("AUTH_REQUIRED");
    expect((await call("GET", "/api/devices", "evr_nope")).body.error).toBe("AUTH_BAD_TOKEN");
    await gw.accounts.create("reviewer1", "legal_reviewer");
    const t = await gw.accounts.issueToken("reviewer1");
    const r = await call("POST", "/api/devices", t, { id: "X-1", root: "00".repeat(32) });
    expect(r.status).toBe(403);
    expect(r.body.error).toBe("ROLE_FORBIDDEN");
    expect((await call("GET", "/api/me", t)).body).toMatchObject({ name: "reviewer1", role: "legal_reviewer" });
  });

  it("registers a device as the provisioning tool does, which can then stream a verified recording", async () => {
    const root = randomBytes(32);
    const r = await call("POST", "/api/devices", admin, { id: "BWC-0501", root: root.toString("hex"), kind: "body" });
    expect(r.status).toBe(201);
    expect((await call("POST", "/api/devices", admin, { id: "BWC-0501", root: root.toString("hex") })).body.error).toBe("DEVICE_EXISTS");
    expect((await call("POST", "/api/devices", admin, { id: "BWC-0502", root: "zz" })).body.error).toBe("BAD_REQUEST");
    const d = new FakeDevice("BWC-0501", root);
    await d.connect(gw.mqttPort);
    await d.hello();
    const rec = d.recording(1, [randomBytes(1000), randomBytes(1000)]);
    await d.publish(rec.start);
    for (const c of rec.chunks) await d.publish(c);
    await d.publish(rec.seal);
    await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { state: number }).state === 1);
    await d.end();
    const one = await call("GET", "/api/recordings/BWC-0501/1", admin);
    expect(one.body).toMatchObject({ device: "BWC-0501", recording: 1, verdict: "verified", chunks: 2, bytes: 2000, reasons: [] });
    const devs = await call("GET", "/api/devices", admin);
    expect((devs.body as unknown as { id: string; state: string }[]).find((x) => x.id === "BWC-0501")).toMatchObject({ state: "active" });
    expect((await call("GET", "/api/recordings/BWC-0501/9", admin)).body.error).toBe("UNKNOWN_RECORDING");
  });

  it("revokes a device with a reason; the device is then answered with an authenticated Revoke", async () => {
    const root = randomBytes(32);
    await call("POST", "/api/devices", admin, { id: "BWC-0503", root: root.toString("hex") });
    expect((await call("POST", "/api/devices/BWC-0503/state", admin, { state: "revoked" })).body.error).toBe("BAD_REQUEST");
    expect((await call("POST", "/api/devices/BWC-0503/state", admin, { state: "revoked", reason: "reported stolen" })).status).toBe(200);
    const d = new FakeDevice("BWC-0503", root);
    await d.connect(gw.mqttPort);
    await d.hello();
    const rv = await d.waitFor((m) => m.kind === "revoke");
    expect(rv.ok).toBe("");
    await new Promise<void>((r) => d.client.once("close", () => r()));
    d.client.end(true);
  });
});
