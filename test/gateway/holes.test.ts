// The holes a review found, each tried again as a user or an attacker would, each answered with
// its reason code (issue: gateway in order).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { testGateway, provision } from "./harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import { startGateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { createLogger } from "../../gateway/log.js";
import { MediaStore } from "../../gateway/store/media.js";
import { loginPassword } from "../../protocol/chain.js";
import { FakeDevice } from "./fake-device.js";

let gw: Gateway;
let dir: string;
let close: () => Promise<void>;
let admin: string;
const tokens: Record<string, string> = {};
beforeAll(async () => {
  ({ gw, dir, close } = await testGateway({ mqttConnectTimeoutMs: 300 }));
  admin = readFileSync(gw.adminTokenFile!, "utf8").trim();
});
afterAll(() => close());

const call = async (method: string, path: string, token?: string, body?: unknown, raw?: string) => {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}${path}`, {
    method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined || raw !== undefined ? { "content-type": "application/json" } : {}) },
    body: raw !== undefined ? raw : body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let json: any;
  try { json = JSON.parse(text); } catch { json = { text } as never; }
  return { status: r.status, body: json };
};
const refusals = () => gw.broker.refusals.counts;
const until = async (what: string, probe: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never happened: ${what}`);
};

describe("1: one device's credentials can't drop another device's session", () => {
  it("refuses a client id that is not the device's own, logged as AUTH_CLIENT_ID, and the other device stays connected", async () => {
    const other = await provision(gw, "BWC-H101");
    const mine = await provision(gw, "BWC-H102", { connect: false });
    const before = refusals().AUTH_CLIENT_ID || 0;
    await expect(mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqttPort}`, { clientId: other.client.options.clientId, username: "BWC-H102", password: loginPassword(mine.keys.login), reconnectPeriod: 0 })).rejects.toThrow();
    expect(refusals().AUTH_CLIENT_ID).toBe(before + 1);
    expect(other.client.connected).toBe(true);
    await other.end();
  });
});

describe("2: a revoke reaches the live connection", () => {
  it("sends the connected device an authenticated Revoke and disconnects it at once", async () => {
    const d = await provision(gw, "BWC-H201");
    const r = await call("POST", "/api/devices/BWC-H201/state", admin, { state: "revoked", reason: "reported stolen" });
    expect(r.status).toBe(200);
    const m = await d.waitFor((x) => x.kind === "revoke");
    expect(m.ok).toBe("");
    await until("the connection closed", () => !d.client.connected);
    expect(refusals().REVOKED).toBeGreaterThan(0);
  });

  it("a device revoked by another process (the CLI) before its first Hello stays revoked: its Hello is answered with a Revoke, never made active", async () => {
    const d = await provision(gw, "BWC-H202", { connect: false });
    // Connected: the gateway has read the device (provisioned) and keeps it.
    await d.connect(gw.mqttPort);
    // Revoked straight in the database, as the admin CLI in another process does.
    await gw.db.run("UPDATE devices SET state = 'revoked' WHERE id = ?", [d.id]);
    const before = refusals().REVOKED || 0;
    await d.hello();
    const m = await d.waitFor((x) => x.kind === "revoke");
    expect(m.ok).toBe("");
    expect((await gw.db.get<{ state: string }>("SELECT state FROM devices WHERE id = ?", [d.id]))!.state).toBe("revoked");
    expect(refusals().REVOKED).toBe(before + 1);
    await until("the connection closed", () => !d.client.connected);
  });
});

describe("4, 5: accounts, tokens, officers; listings scoped and audited", () => {
  it("revokes a token, disables an account, edits, transfers and deactivates an officer and renews a certificate, each audited", async () => {
    const u1 = (await call("POST", "/api/units", admin, { name: "City bureau", level: "city" })).body as { id: number };
    const u2 = (await call("POST", "/api/units", admin, { name: "Agency A", level: "agency", parentId: u1.id })).body as { id: number };
    const u3 = (await call("POST", "/api/units", admin, { name: "Agency B", level: "agency", parentId: u1.id })).body as { id: number };
    const cert = { certNo: "ZF-1", certValidFrom: "2020-01-01", certValidTo: "2026-01-01" };
    expect((await call("POST", "/api/officers", admin, { badge: "S2", name: "Sup A", unitId: u2.id, role: "supervisor", ...cert })).status).toBe(201);
    expect((await call("POST", "/api/officers", admin, { badge: "E2", name: "Off A", unitId: u2.id, role: "enforcement", ...cert })).status).toBe(201);
    expect((await call("POST", "/api/officers", admin, { badge: "E3", name: "Off B", unitId: u3.id, role: "enforcement", ...cert })).status).toBe(201);
    // A supervisor without a unit could list nothing it may retrieve: refused at creation.
    expect((await call("POST", "/api/accounts", admin, { name: "lee", role: "supervisor" })).body.error).toBe("BADGE_REQUIRED");
    expect((await call("POST", "/api/accounts", admin, { name: "lee", role: "supervisor", badge: "S2" })).status).toBe(201);
    tokens.lee = ((await call("POST", "/api/accounts/lee/tokens", admin)).body as { token: string }).token;
    // Listings: scoped to the supervisor's subtree, and audited.
    const officers = (await call("GET", "/api/officers", tokens.lee)).body as { badge: string }[];
    expect(officers.map((o) => o.badge).sort()).toEqual(["E2", "S2"]);
    expect((await gw.audit.list({ actor: "lee", action: "officer.list" })).length).toBe(1);
    expect((await call("GET", "/api/reports/fleet", tokens.lee)).status).toBe(200);
    // Edit and renew, transfer, deactivate: each its own audit entry with its reason.
    expect((await call("POST", "/api/officers/E2/edit", admin, { certValidTo: "2029-12-31", reason: "certificate renewed" })).body).toMatchObject({ certValidTo: "2029-12-31" });
    expect((await call("POST", "/api/officers/E2/transfer", admin, { unit: u3.id, reason: "posted to agency B" })).body).toMatchObject({ unitId: u3.id });
    expect((await call("POST", "/api/officers/E3/deactivate", admin, { reason: "retired" })).body).toMatchObject({ active: false });
    const actions = (await gw.audit.list({ actor: "admin", limit: 3 })).map((e) => [e.action, e.reason]);
    expect(actions).toEqual([["officer.deactivate", "retired"], ["officer.transfer", "posted to agency B"], ["officer.edit", "certificate renewed"]]);
    // Token revoke, account disable: the token stops working.
    expect((await call("POST", "/api/accounts/lee/tokens/revoke", admin, { reason: "token left on a shared desk" })).body).toMatchObject({ revoked: 1 });
    expect((await call("GET", "/api/me", tokens.lee)).body.error).toBe("AUTH_BAD_TOKEN");
    tokens.lee = ((await call("POST", "/api/accounts/lee/tokens", admin)).body as { token: string }).token;
    expect((await call("POST", "/api/accounts/lee/disable", admin, { reason: "left the station" })).status).toBe(200);
    expect((await call("GET", "/api/me", tokens.lee)).body.error).toBe("AUTH_BAD_TOKEN");
    expect((await call("POST", "/api/accounts/admin/disable", admin, { reason: "testing the last admin" })).body.error).toBe("LAST_ADMIN");
  });
});

describe("6: device states change only along allowed transitions", () => {
  it("refuses retired → active with BAD_TRANSITION, and the fleet count does not move", async () => {
    await provision(gw, "BWC-H601", { connect: false });
    expect((await call("POST", "/api/devices/BWC-H601/state", admin, { state: "retired", reason: "broken strap" })).status).toBe(200);
    const r = await call("POST", "/api/devices/BWC-H601/state", admin, { state: "active", reason: "make the numbers work" });
    expect(r.status).toBe(409);
    expect(r.body.error).toBe("BAD_TRANSITION");
    expect(((await call("GET", "/api/devices", admin)).body as { id: string; state: string }[]).find((d) => d.id === "BWC-H601")!.state).toBe("retired");
  });
});

describe("7: activity kinds and times are checked", () => {
  it("refuses a typo in an activity kind with BAD_ACTIVITY naming the kinds, and 'tomorrow' with BAD_TIME asking for ISO 8601", async () => {
    const base = { number: "K-H7", unitId: 1, category: "compulsion", windowStart: "2026-03-01T09:00+08:00", windowEnd: "2026-03-01T12:00+08:00" };
    const typo = await call("POST", "/api/cases", admin, { ...base, activityKind: "siezure" });
    expect(typo.body.error).toBe("BAD_ACTIVITY");
    expect(String(typo.body.message)).toContain("seizure");
    const tomorrow = await call("POST", "/api/cases", admin, { ...base, activityKind: "seizure", windowStart: "tomorrow" });
    expect(tomorrow.body.error).toBe("BAD_TIME");
    expect(String(tomorrow.body.message)).toContain("ISO 8601");
    const ok = await call("POST", "/api/cases", admin, { ...base, activityKind: "seizure" });
    expect(ok.body).toMatchObject({ policy: "FULL", windowStart: Date.parse("2026-03-01T01:00:00Z") });
  });
});

describe("8: an empty recording", () => {
  it("is empty, not verified, counts for nothing, and its download is refused with EMPTY_RECORDING and audited as a denial", async () => {
    const d = await provision(gw, "BWC-H801");
    const rec = d.recording(1, []);
    await d.publish(rec.start);
    await d.publish(rec.seal);
    await d.waitFor((m) => m.kind === "ack" && (m.body.ack as { state?: number }).state === 1);
    await d.end();
    const list = (await call("GET", "/api/recordings?device=BWC-H801", admin)).body as { verdict: string }[];
    expect(list.map((r) => r.verdict)).toEqual(["empty"]);
    const integrity = (await call("GET", "/api/reports/integrity", admin)).body as { verified: number; empty: number };
    expect(integrity.empty).toBe(1);
    const r = await call("GET", "/api/recordings/BWC-H801/1/media?reason=case%20review", admin);
    expect(r.status).toBe(409);
    expect(r.body.error).toBe("EMPTY_RECORDING");
    const [last] = await gw.audit.list({ target: "BWC-H801/1", limit: 1 });
    expect(last.action).toBe("recording.denied");
  });
});

describe("9, 10: bad input is a 4xx with a reason code, never a 500", () => {
  it("answers a bad unit, a missing or null body, and an unknown route with 4xx and a reason code", async () => {
    expect(await call("GET", "/api/reports/fleet?unit=999", admin)).toMatchObject({ status: 404, body: { error: "UNIT_NOT_FOUND" } });
    expect(await call("GET", "/api/reports/fleet?unit=abc", admin)).toMatchObject({ status: 400, body: { error: "BAD_INPUT" } });
    for (const path of ["/api/officers", "/api/cases"]) {
      expect((await call("POST", path, admin, undefined, "null")).status).toBe(400);
      expect((await call("POST", path, admin)).status).toBe(400);
      expect((await call("POST", path, admin, undefined, "{")).status).toBe(400);
    }
    expect((await call("GET", "/api/nothing-here", admin)).status).toBe(404);
  });

  it("refuses recording ids written as 0x1, 1e0 or ' 1 ' with BAD_RECORDING_ID, so the log names each recording one way", async () => {
    for (const id of ["0x1", "1e0", "%201%20", "01", "-1", "4294967296"]) {
      const r = await call("GET", `/api/recordings/BWC-H801/${id}?reason=looking`, admin);
      expect(r.status, id).toBe(400);
      expect(r.body.error, id).toBe("BAD_RECORDING_ID");
    }
  });
});

describe("11: the data directory", () => {
  it("refuses a second gateway on the same directory with DATA_DIR_LOCKED", async () => {
    await expect(startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1 }, createLogger("silent"))).rejects.toMatchObject({ code: "DATA_DIR_LOCKED" });
  });

  it("tightens an existing directory to 0700 and its files to 0600 at start", async () => {
    const d2 = mkdtempSync(join(tmpdir(), "evrec-modes-"));
    try {
      mkdirSync(join(d2, "media"), { mode: 0o755 });
      writeFileSync(join(d2, "media", "old.media"), "x", { mode: 0o644 });
      chmodSync(d2, 0o755);
      const g = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: d2, diskMinFreeMb: 1 }, createLogger("silent"));
      try {
        expect(statSync(d2).mode & 0o777).toBe(0o700);
        expect(statSync(join(d2, "media")).mode & 0o777).toBe(0o700);
        expect(statSync(join(d2, "media", "old.media")).mode & 0o777).toBe(0o600);
        expect(statSync(join(d2, "gateway.db")).mode & 0o777).toBe(0o600);
        expect(statSync(join(d2, "audit.anchor")).mode & 0o777).toBe(0o600);
      } finally {
        await g.close();
      }
    } finally {
      rmSync(d2, { recursive: true, force: true });
    }
  });

  it("refuses a device id that would leave media/, such as '..', with BAD_DEVICE_ID", async () => {
    for (const id of ["..", ".", "-x", "a/b"]) {
      const r = await call("POST", "/api/devices", admin, { id, root: "00".repeat(32) });
      expect(r.body.error, id).toBe("BAD_DEVICE_ID");
    }
  });
});

describe("12: every refusal is logged with its reason code", () => {
  it("counts and logs an MQTT 5 connect, raw garbage, and a socket that never sends CONNECT", async () => {
    const before = { ...refusals() };
    const v5 = await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqttPort}`, { protocolVersion: 5, clientId: "BWC-H101", username: "BWC-H101", password: "x", reconnectPeriod: 0, connectTimeout: 2000 }).catch((e) => e);
    expect(v5).toBeInstanceOf(Error);
    await until("MQTT_VERSION", () => (refusals().MQTT_VERSION || 0) > (before.MQTT_VERSION || 0));
    const garbage = connect(gw.mqttPort, "127.0.0.1");
    garbage.write(Buffer.from("GET / HTTP/1.1\r\n\r\n"));
    await until("MQTT_MALFORMED", () => (refusals().MQTT_MALFORMED || 0) > (before.MQTT_MALFORMED || 0));
    garbage.destroy();
    const idle = connect(gw.mqttPort, "127.0.0.1");
    await until("CONNECT_TIMEOUT", () => (refusals().CONNECT_TIMEOUT || 0) > (before.CONNECT_TIMEOUT || 0));
    idle.destroy();
  });
});

describe("13: health without a token", () => {
  it("says only up or down and which gateway; the counters need an admin's token", async () => {
    expect((await call("GET", "/api/health")).body).toEqual({ ok: true, gateway: "station" });
    expect((await call("GET", "/api/health", admin)).body).toHaveProperty("refusals");
  });
});

describe("14: media written at their offsets", () => {
  it("puts bytes written out of order where they belong", async () => {
    const d2 = mkdtempSync(join(tmpdir(), "evrec-media-"));
    const m = new MediaStore(d2);
    try {
      await m.write("X/000001.media", 4, Buffer.from("EFGH"));
      await m.write("X/000001.media", 0, Buffer.from("ABCD"));
      expect((await m.read("X/000001.media")).toString()).toBe("ABCDEFGH");
    } finally {
      await m.close();
      rmSync(d2, { recursive: true, force: true });
    }
  });
});

describe("16: HTTPS", () => {
  it("serves the API over HTTPS with a self-signed certificate made once in the data directory", async () => {
    const d2 = mkdtempSync(join(tmpdir(), "evrec-https-"));
    try {
      const g = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: d2, diskMinFreeMb: 1, https: 1 }, createLogger("silent"));
      try {
        expect(g.apiScheme).toBe("https");
        const ca = readFileSync(join(d2, "tls", "gateway.crt"));
        const { request } = await import("node:https");
        const body = await new Promise<string>((res, rej) => request({ host: "127.0.0.1", port: g.httpPort, path: "/api/health", ca }, (r) => {
          let s = "";
          r.on("data", (c) => (s += c)).on("end", () => res(s));
        }).on("error", rej).end());
        expect(JSON.parse(body)).toEqual({ ok: true, gateway: "station" });
      } finally {
        await g.close();
      }
    } finally {
      rmSync(d2, { recursive: true, force: true });
    }
  });
});

void FakeDevice;
