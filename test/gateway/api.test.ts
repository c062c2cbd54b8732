// The HTTP API: first-start admin token, token auth, roles, device registration as the
// provisioning tool does it, recordings with their verdicts; errors carry a reason code.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers/wait.js";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { FakeDevice } from "./fake-device.js";
import Database from "better-sqlite3";

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
    expect((await call("GET", "/api/recordings/BWC-0501/1", admin)).body.error).toBe("REASON_REQUIRED");
    const one = await call("GET", "/api/recordings/BWC-0501/1?reason=case%20review%202026-PEN-0117", admin);
    expect(one.body).toMatchObject({ device: "BWC-0501", recording: 1, verdict: "verified", chunks: 2, bytes: 2000, reasons: [] });
    const devs = await call("GET", "/api/devices", admin);
    expect((devs.body as unknown as { id: string; state: string }[]).find((x) => x.id === "BWC-0501")).toMatchObject({ state: "active" });
    expect((await call("GET", "/api/recordings/BWC-0501/9?reason=check", admin)).body.error).toBe("UNKNOWN_RECORDING");
    const views = await gw.audit.list({ action: "recording.view" });
    expect(views[0]).toMatchObject({ actor: "admin", target: "BWC-0501/1", reason: "case review 2026-PEN-0117" });
  });

  it("tells its admin, and no one else, what it has taken in (GET /api/system)", async () => {
    const sys = await call("GET", "/api/system", admin);
    expect(sys.status).toBe(200);
    // The recording streamed above: its two chunks committed, its Acks sent; the disk fine.
    expect(sys.body).toMatchObject({ kind: "station", mqttPort: gw.mqttPort, scrub: { running: expect.any(Boolean), passes: expect.any(Number) },
      disk: { low: false, minFreeBytes: 1048576, freeBytes: expect.any(Number) }, sessions: { connections: expect.any(Number), paused: 0 } });
    expect((sys.body as unknown as { disk: { freeBytes: number } }).disk.freeBytes).toBeGreaterThan(1048576);
    const ingest = (sys.body as unknown as { ingest: Record<string, number> }).ingest;
    expect(ingest.chunks).toBeGreaterThanOrEqual(2);
    expect(ingest.acks).toBeGreaterThanOrEqual(1);
    expect(sys.body.cluster).toBeUndefined();
    // The same to an admin's token at /api/health; a supervisor is refused, with the reason code.
    expect((await call("GET", "/api/health", admin)).body).toMatchObject({ ok: true, kind: "station", ingest: { chunks: ingest.chunks } });
    await gw.accounts.create("super1", "supervisor");
    const sup = await gw.accounts.issueToken("super1");
    const refused = await call("GET", "/api/system", sup);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe("ROLE_FORBIDDEN");
    expect((await call("GET", "/api/health", sup)).body).toEqual({ ok: true, gateway: "station" });
  });

  it("revokes a device with a reason; the device is then answered with an authenticated Revoke", async () => {
    const root = randomBytes(32);
    await call("POST", "/api/devices", admin, { id: "BWC-0503", root: root.toString("hex") });
    expect((await call("POST", "/api/devices/BWC-0503/state", admin, { state: "revoked" })).body.error).toBe("REASON_REQUIRED");
    expect((await call("POST", "/api/devices/BWC-0503/state", admin, { state: "revoked", reason: "reported stolen" })).status).toBe(200);
    const d = new FakeDevice("BWC-0503", root);
    await d.connect(gw.mqttPort);
    await d.hello();
    const rv = await d.waitFor((m) => m.kind === "revoke");
    expect(rv.ok).toBe("");
    await new Promise<void>((r) => d.client.once("close", () => r()));
    d.client.end(true);
  });

  it("builds units, officers and assignments, reports the fleet ratio with the audit head, and the audit log verifies", async () => {
    const city = await call("POST", "/api/units", admin, { name: "City bureau", level: "city" });
    expect(city.status).toBe(201);
    const agency = await call("POST", "/api/units", admin, { name: "District team", level: "agency", parentId: city.body.id });
    for (let i = 0; i < 5; i++) {
      const r = await call("POST", "/api/officers", admin, { badge: `B${i}`, name: `Officer ${i}`, unitId: agency.body.id, role: "enforcement", certNo: `C${i}`, certValidFrom: "2020-01-01", certValidTo: "2030-12-31" });
      expect(r.status).toBe(201);
    }
    const fleet = await call("GET", "/api/reports/fleet", admin);
    const units = fleet.body.units as unknown as { unitId: number; own: { devices: Record<string, number>; reviewers: Record<string, number> }; rollup: { devices: Record<string, number> } }[];
    const team = units.find((u) => u.unitId === agency.body.id)!;
    expect(team.own.devices).toMatchObject({ required: 2, shortfall: 2 });
    expect(team.own.reviewers).toMatchObject({ required: 1, shortfall: 1 });
    expect(units.find((u) => u.unitId === city.body.id)!.rollup.devices).toMatchObject({ required: 2, shortfall: 2 });
    const head = fleet.body.auditHead as { count: number; hash: string };
    expect(head.count).toBeGreaterThanOrEqual(7);
    const v = await call("GET", "/api/audit/verify", admin);
    expect(v.body).toMatchObject({ ok: true, count: head.count });
  });

  it("raises an alarm when a recording fails verification, and another when a forged message names it", async () => {
    const root = randomBytes(32);
    await call("POST", "/api/devices", admin, { id: "BWC-0504", root: root.toString("hex") });
    const d = new FakeDevice("BWC-0504", root);
    await d.connect(gw.mqttPort);
    await d.hello();
    const rec = d.recording(1, [randomBytes(500)]);
    await d.publish(rec.start);
    await d.publish(rec.chunks[0]);
    // The device's own key signs a second, different chunk 1: its signature on a contradiction.
    const other = d.recording(1, [randomBytes(500)]);
    await d.publish(other.chunks[0]);
    // Bytes nobody's key vouches for: refused, alarmed, no verdict changed by them.
    const bad = Uint8Array.from(rec.chunks[0]);
    bad[bad.length - 40] ^= 1;
    await d.publish(bad);
    const listed = async () => (await call("GET", "/api/alarms", admin)).body as unknown as { kind: string; subject: string }[];
    await until("both alarms listed", async () => (await listed()).filter((a) => a.subject === "BWC-0504/1").length >= 2, 5000);
    const alarms = await listed();
    expect(alarms.some((a) => a.kind === "EQUIVOCATION" && a.subject === "BWC-0504/1")).toBe(true);
    expect(alarms.some((a) => a.kind === "FORGED_MESSAGE" && a.subject === "BWC-0504/1")).toBe(true);
    await d.end();
  });
});

describe("a database that fails under the API", () => {
  type Answer = { status: number; retryAfter: string | null; body: { error?: string; message?: string } };
  /** A gateway of the test's own, whose database the test breaks; asked by its admin token. */
  async function own(run: (g: Gateway, ask: (method: string, path: string, body?: unknown) => Promise<Answer>, dir: string) => Promise<void>) {
    const dir = mkdtempSync(join(tmpdir(), "evrec-api-db-"));
    const g = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 0 }, createLogger("silent"));
    try {
      const token = readFileSync(g.adminTokenFile!, "utf8").trim();
      await run(g, async (method, path, body) => {
        const r = await fetch(`http://127.0.0.1:${g.httpPort}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
        return { status: r.status, retryAfter: r.headers.get("retry-after"), body: await r.json() as { error?: string; message?: string } };
      }, dir);
    } finally {
      await g.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const unit = (name: string) => ({ name, level: "agency" });

  it("answers 503 with its reason and Retry-After, not 400 as if the request were bad", () => own(async (g, ask) => {
    expect((await ask("GET", "/api/devices")).status).toBe(200);
    await g.db.close();
    const r = await ask("GET", "/api/devices");
    expect([r.status, r.retryAfter, r.body.error]).toEqual([503, "5", "DB_CLOSED"]);
  }));

  it("answers a change 503 DB_LOCKED while another process holds the database's write lock, and makes it once the lock is let go", () => own(async (_g, ask, dir) => {
    // As a shell on the station left inside a transaction would.
    const other = new Database(join(dir, "gateway.db"));
    try {
      other.exec("BEGIN IMMEDIATE");
      const locked = await ask("POST", "/api/units", unit("Wuchang Brigade"));
      expect({ status: locked.status, retryAfter: locked.retryAfter, error: locked.body.error }).toEqual({ status: 503, retryAfter: "5", error: "DB_LOCKED" });
      expect(locked.body.message).toMatch(/another process holds the database's lock \(SQLITE_BUSY/);
      other.exec("ROLLBACK");
      expect((await ask("POST", "/api/units", unit("Wuchang Brigade"))).status).toBe(201);
    } finally {
      other.close();
    }
  }), 20000);

  it("answers a change 503 DB_FULL when the database can't grow, and makes it once it can", () => own(async (g, ask) => {
    // As a full disk would: the database may not grow past the pages it has now.
    const { pages } = (await g.db.get<{ pages: number }>("SELECT page_count AS pages FROM pragma_page_count()"))!;
    await g.db.exec(`PRAGMA max_page_count = ${pages}`);
    let full: Answer | null = null;
    for (let i = 0; i < 500 && !full; i++) {
      const r = await ask("POST", "/api/units", unit(`Brigade ${i} of the city bureau, ${"east".repeat(20)}`));
      if (r.status !== 201) full = r;
    }
    expect({ status: full?.status, retryAfter: full?.retryAfter, error: full?.body.error }).toEqual({ status: 503, retryAfter: "5", error: "DB_FULL" });
    expect(full!.body.message).toMatch(/the database's disk is full \(SQLITE_FULL/);
    await g.db.exec("PRAGMA max_page_count = 1073741823");
    expect((await ask("POST", "/api/units", unit("Hongshan Brigade"))).status).toBe(201);
  }));
});
