// What the HTTP API does with input it can't take: a body field a route does not name, a value of
// the wrong type, a missing reason, a body too big or not JSON: each refused with its own reason
// code (never dropped or converted), and logged with that code and the path, like any refusal;
// the bearer scheme in any case; the OpenAPI document saying what the API does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { startGateway } from "../../gateway/gateway.js";
import type { Gateway } from "../../gateway/gateway.js";
import { DEFAULTS } from "../../gateway/config.js";
import { buildValidator } from "../../gateway/api/server.js";

/** Every line the gateway logs, parsed. */
const lines: Record<string, unknown>[] = [];
const log = pino({ level: "info" }, new Writable({
  write(chunk, _enc, cb) {
    for (const l of String(chunk).split("\n")) if (l.trim()) lines.push(JSON.parse(l));
    cb();
  },
}));

let gw: Gateway;
let dir: string;
let admin: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "evrec-api-input-"));
  gw = await startGateway({ ...DEFAULTS, host: "127.0.0.1", mqttPort: 0, httpPort: 0, dataDir: dir, diskMinFreeMb: 1, beaconIntervalS: 0 }, log);
  admin = readFileSync(gw.adminTokenFile!, "utf8").trim();
});
afterAll(async () => {
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
});

type Answer = { status: number; body: Record<string, unknown> & { error?: string; message?: string } };
/** A request with the admin's token; `body` sent as JSON, or a string as it is. */
const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
  const r = await fetch(`http://127.0.0.1:${gw.httpPort}${path}`, {
    method, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
  });
  return { status: r.status, body: await r.json() as Answer["body"] };
};
const hex = () => randomBytes(32).toString("hex");
/** The API's log lines that refused a request with this code. */
const refusals = (code: string) => lines.filter((l) => l.code === code && l.msg === "refused");

describe("a JSON body is taken as sent", () => {
  it("refuses a field the route does not take, naming it and the fields it does take, and makes nothing", async () => {
    const typo = await call("POST", "/api/devices", { id: "OK2", root: hex(), unitId: 1 });
    expect(typo.status).toBe(400);
    expect(typo.body.error).toBe("UNKNOWN_FIELD");
    expect(typo.body.message).toMatch(/"unitId"/);
    expect(typo.body.message).toMatch(/\bunit\b/);
    expect((await call("GET", "/api/devices")).body as unknown as { id: string }[]).not.toContainEqual(expect.objectContaining({ id: "OK2" }));

    // A route whose schema said nothing of other fields, and one nested in an array's items.
    const units = (await call("GET", "/api/units")).body as unknown as unknown[];
    const extra = await call("POST", "/api/units", { name: "East", level: "agency", parent: 1 });
    expect([extra.status, extra.body.error]).toEqual([400, "UNKNOWN_FIELD"]);
    expect(extra.body.message).toMatch(/"parent".*parentId/);
    expect((await call("GET", "/api/units")).body).toHaveLength(units.length);
    const hourz = await call("POST", "/api/approvals", { kind: "view", items: [{ device: "BWC-1", recording: 1 }], reason: "case 2026-17 review", hourz: 1 });
    expect([hourz.status, hourz.body.error]).toEqual([400, "UNKNOWN_FIELD"]);
    expect(hourz.body.message).toMatch(/"hourz"/);
    const nested = await call("POST", "/api/approvals", { kind: "view", items: [{ device: "BWC-1", recording: 1, clip: 2 }], reason: "case 2026-17 review" });
    expect([nested.status, nested.body.error]).toEqual([400, "UNKNOWN_FIELD"]);
    expect(nested.body.message).toMatch(/body\/items\/0 has no field "clip"; it takes device, recording/);
    expect((await call("GET", "/api/approvals")).body).toEqual([]);
    expect(refusals("UNKNOWN_FIELD").map((l) => [l.level, l.url])).toContainEqual([40, "/api/devices"]);
  });

  it("refuses a value of the wrong type instead of converting it", async () => {
    const before = ((await call("GET", "/api/units")).body as unknown as unknown[]).length;
    const bad = await call("POST", "/api/units", { name: 5, level: ["city"] });
    expect([bad.status, bad.body.error]).toEqual([400, "BAD_REQUEST"]);
    expect(bad.body.message).toMatch(/body\/name must be string/);
    expect((await call("GET", "/api/units")).body).toHaveLength(before);

    const unit = await call("POST", "/api/units", { name: "Ratio bureau", level: "city" });
    expect(unit.status).toBe(201);
    const ratio = await call("POST", `/api/units/${unit.body.id}/ratio`, { ratio: "4", reason: ["because it is"] });
    expect([ratio.status, ratio.body.error]).toEqual([400, "BAD_REQUEST"]);
    expect((await call("POST", `/api/units/${unit.body.id}/ratio`, { ratio: 4, reason: ["because it is"] })).body.error).toBe("BAD_REQUEST");
    expect((await call("POST", `/api/units/${unit.body.id}/ratio`, { ratio: 4, reason: "because it is" })).status).toBe(200);
  });

  it("parses a query string's and a path's numbers, and no body's", () => {
    const v = buildValidator({}, { customOptions: {} });
    const schema = { type: "object", properties: { n: { type: "integer" }, on: { type: "boolean" } } };
    const query = v({ schema, httpPart: "querystring" } as never) as ((d: unknown) => boolean) & { errors?: unknown };
    const q = { n: "5", on: "true" };
    expect(query(q)).toBe(true);
    expect(q).toEqual({ n: 5, on: true });
    const params = v({ schema, httpPart: "params" } as never) as (d: unknown) => boolean;
    expect(params({ n: "7" })).toBe(true);
    const body = v({ schema, httpPart: "body" } as never) as (d: unknown) => boolean;
    const b = { n: "5" };
    expect(body(b)).toBe(false);
    expect(b).toEqual({ n: "5" });
  });
});

describe("a reason", () => {
  it("missing, is answered REASON_REQUIRED (as a short one is), on every kind of route", async () => {
    await call("POST", "/api/devices", { id: "RSN-1", root: hex() });
    const state = await call("POST", "/api/devices/RSN-1/state", { state: "revoked" });
    expect([state.status, state.body.error]).toEqual([400, "REASON_REQUIRED"]);
    expect((await call("POST", "/api/devices/RSN-1/state", { state: "revoked", reason: "x" })).body.error).toBe("REASON_REQUIRED");
    expect((await call("POST", "/api/approvals", { kind: "view", items: [{ device: "RSN-1", recording: 1 }] })).body.error).toBe("REASON_REQUIRED");
    expect((await call("POST", "/api/approvals/1/approve", {})).body.error).toBe("REASON_REQUIRED");
    expect((await call("POST", "/api/alarms/clear", { kind: "EQUIVOCATION", subject: "RSN-1/1" })).body.error).toBe("REASON_REQUIRED");
    expect((await call("POST", "/api/exports", { recording: { device: "RSN-1", recording: 1 } })).body.error).toBe("REASON_REQUIRED");
    expect((await call("POST", "/api/accounts/admin/disable", {})).body.error).toBe("REASON_REQUIRED");
    // Refused and logged, the approvals' and exports' routes too.
    expect(refusals("REASON_REQUIRED").map((l) => l.url)).toEqual(expect.arrayContaining(["/api/devices/RSN-1/state", "/api/approvals", "/api/approvals/1/approve", "/api/exports"]));
    // And the document says it is required, and with which code.
    const doc = (await call("GET", "/api/docs")).body as { paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: { properties: { reason: { description: string } } } }> } }>> };
    expect(doc.paths["/api/devices/{id}/state"].post.requestBody.content["application/json"].schema.properties.reason.description).toMatch(/REASON_REQUIRED/);
  });
});

describe("a reason in Chinese", () => {
  it("is enough in two characters (复核), where two Latin ones are not, on the services' routes and the approvals' alike", async () => {
    await call("POST", "/api/devices", { id: "RSN-2", root: hex() });
    expect((await call("POST", "/api/devices/RSN-2/state", { state: "revoked", reason: "ok" })).body.error).toBe("REASON_REQUIRED");
    expect((await call("POST", "/api/devices/RSN-2/state", { state: "revoked", reason: "复" })).body.error).toBe("REASON_REQUIRED");
    const done = await call("POST", "/api/devices/RSN-2/state", { state: "revoked", reason: "复核" });
    expect([done.status, done.body.error]).toEqual([200, undefined]);
    const asked = await call("POST", "/api/approvals", { kind: "view", items: [{ device: "RSN-2", recording: 1 }], reason: "调阅" });
    expect(asked.body.error).not.toBe("REASON_REQUIRED");
  });
});

describe("a body the API does not take at all", () => {
  it("too big: 413 BODY_TOO_LARGE saying the limit; not JSON: 415 UNSUPPORTED_MEDIA_TYPE saying what to send", async () => {
    const big = await call("POST", "/api/units", { name: "x".repeat(1 << 20), level: "city" });
    expect([big.status, big.body.error]).toEqual([413, "BODY_TOO_LARGE"]);
    expect(big.body.message).toMatch(/1048576 bytes/);
    const xml = await call("POST", "/api/units", "<unit/>", { "content-type": "application/xml" });
    expect([xml.status, xml.body.error]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
    expect(xml.body.message).toMatch(/application\/json \(got application\/xml\)/);
    expect(refusals("BODY_TOO_LARGE")).toHaveLength(1);
    expect(refusals("UNSUPPORTED_MEDIA_TYPE")).toHaveLength(1);
  });
});

describe("the bearer scheme", () => {
  it("is taken in any case (RFC 7235 §2.1)", async () => {
    for (const scheme of ["bearer", "BEARER", "Bearer"]) {
      const me = await call("GET", "/api/me", undefined, { authorization: `${scheme} ${admin}` });
      expect([scheme, me.status, me.body.name]).toEqual([scheme, 200, "admin"]);
      expect((await call("GET", "/api/health", undefined, { authorization: `${scheme} ${admin}` })).body).toMatchObject({ ok: true, kind: "station" });
    }
    expect((await call("GET", "/api/me", undefined, { authorization: `Basic ${admin}` })).body.error).toBe("AUTH_REQUIRED");
  });
});

describe("the OpenAPI document", () => {
  it("says how /api/audit takes since and until, and it takes them so", async () => {
    const doc = (await call("GET", "/api/docs")).body as { paths: Record<string, { get: { description: string } }> };
    const said = doc.paths["/api/audit"].get.description;
    const ms = await call("GET", "/api/audit?since=1796673870000");
    // Milliseconds work exactly when the document says they do (else: BAD_TIME, asking for ISO 8601).
    expect(/\bms\b/.test(said)).toBe(ms.status === 200);
    if (ms.status !== 200) expect(ms.body.error).toBe("BAD_TIME");
    expect((await call("GET", "/api/audit?since=2026-03-01T09:30%2B08:00&until=2099-01-01")).status).toBe(200);
    expect(said).toMatch(/ISO 8601/);
  });
});

describe("refusals before any route", () => {
  it("logs an unknown route and a tile path that climbs out, with the code and the path", async () => {
    const nope = await call("GET", "/api/nope");
    expect([nope.status, nope.body.error]).toEqual([404, "NOT_FOUND"]);
    const tile = await fetch(`http://127.0.0.1:${gw.httpPort}/log/tile/..%2F..%2Fetc%2Fpasswd`);
    expect(tile.status).toBe(400);
    expect(((await tile.json()) as { error: string }).error).toBe("TILE_PATH");
    await new Promise((r) => setTimeout(r, 50));
    expect(refusals("NOT_FOUND").map((l) => [l.level, l.url])).toContainEqual([40, "/api/nope"]);
    expect(refusals("TILE_PATH").map((l) => [l.level, l.url])).toContainEqual([40, "/log/tile/..%2F..%2Fetc%2Fpasswd"]);
  });
});
