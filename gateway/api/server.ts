// The HTTP JSON API (fastify): token auth, roles per route, errors with a reason code.
// It sees the gateway only through the narrow `ApiServices` interface, so the store or the
// broker behind it can change without touching the routes.
import Fastify from "fastify";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Account, Accounts, Role } from "./accounts.js";
import { AccountError, ROLES } from "./accounts.js";
import type { DeviceRegistry, DeviceState } from "../devices.js";
import { DeviceError } from "../devices.js";
import type { Db } from "../store/db.js";
import { fromHex } from "../../protocol/bytes.js";
import type { Model } from "../model/model.js";
import { ModelError } from "../model/model.js";
import type { AuditLog } from "../audit/log.js";
import { AuditError } from "../audit/log.js";
import type { Alarms } from "../alarms.js";
import { AlarmError } from "../alarms.js";
import { modelRoutes } from "./model-routes.js";
import { mayRetrieve } from "./access.js";
import { listRecordings, recordingDetail } from "../store/recordings.js";
import { storageState } from "../store/scrub.js";
import { purgeStateOf } from "../store/retention.js";
import { createReadStream } from "node:fs";
import { join } from "node:path";

export interface ApiServices {
  db: Db;
  /** Where media files live (the ingest's MediaStore directory). */
  mediaDir: string;
  accounts: Accounts;
  registry: DeviceRegistry;
  model: Model;
  audit: AuditLog;
  alarms: Alarms;
  stats: () => Record<string, unknown>;
}

declare module "fastify" {
  interface FastifyRequest { account: Account | null }
  interface FastifyContextConfig { roles?: Role[] }
}

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

const STATES: DeviceState[] = ["provisioned", "active", "lost", "retired", "revoked"];

/** Build the API; `logger` is the gateway's pino logger (fastify 5 takes it as loggerInstance). */
export async function buildApi(s: ApiServices, logger?: object): Promise<FastifyInstance> {
  const app = (logger ? Fastify({ loggerInstance: logger as never, bodyLimit: 1 << 20 }) : Fastify({ bodyLimit: 1 << 20 })) as unknown as FastifyInstance;
  app.decorateRequest("account", null);

  app.addHook("onRequest", async (req: FastifyRequest) => {
    const roles = req.routeOptions.config.roles;
    if (!roles) return;
    const h = req.headers.authorization || "";
    const m = /^Bearer (\S+)$/.exec(h);
    if (!m) throw new ApiError(401, "AUTH_REQUIRED", "send Authorization: Bearer <token>");
    const acc = await s.accounts.byToken(m[1]);
    if (!acc) throw new ApiError(401, "AUTH_BAD_TOKEN", "unknown or revoked token");
    if (!roles.includes(acc.role)) throw new ApiError(403, "ROLE_FORBIDDEN", `this needs one of: ${roles.join(", ")}; ${acc.name} is ${acc.role}`);
    req.account = acc;
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ApiError) return reply.status(err.status).send({ error: err.code, message: err.message });
    if (err instanceof DeviceError || err instanceof AccountError || err instanceof ModelError || err instanceof AuditError || err instanceof AlarmError) {
      const status = err.code.startsWith("UNKNOWN") || err.code.endsWith("NOT_FOUND") ? 404 : err.code.endsWith("EXISTS") || err.code.startsWith("DUPLICATE") ? 409 : 400;
      return reply.status(status).send({ error: err.code, message: err.message });
    }
    if (err.validation) return reply.status(400).send({ error: "BAD_REQUEST", message: err.message });
    if (err.statusCode && err.statusCode < 500) return reply.status(err.statusCode).send({ error: "BAD_REQUEST", message: err.message });
    req.log.error({ err }, "api error");
    return reply.status(500).send({ error: "INTERNAL", message: "internal error; see the gateway log" });
  });

  app.get("/api/health", async () => ({ ok: true, ...s.stats() }));

  app.get("/api/me", { config: { roles: [...ROLES] } }, async (req) => req.account);

  app.get("/api/devices", { config: { roles: ["admin", "supervisor"] } }, async () => s.registry.list());

  // `unit` (optional) issues the device to a unit (the fleet it counts in); it is checked before
  // the device is added, so a bad unit adds nothing.
  app.post<{ Body: { id: string; root: string; kind?: "body" | "fixed"; chipSerial?: string; unit?: number } }>("/api/devices", {
    config: { roles: ["admin"] },
    schema: { body: { type: "object", required: ["id", "root"], additionalProperties: false, properties: {
      id: { type: "string" }, root: { type: "string", pattern: "^[0-9a-f]{64}$" }, kind: { enum: ["body", "fixed"] }, chipSerial: { type: "string", maxLength: 64 },
      unit: { type: "integer" } } } },
  }, async (req, reply) => {
    if (req.body.unit !== undefined) await s.model.unit(req.body.unit);
    const root = fromHex(req.body.root);
    await s.registry.add(req.body.id, { root, kind: req.body.kind, chipSerial: req.body.chipSerial });
    root.fill(0);
    if (req.body.unit !== undefined) await s.model.setDeviceUnit(req.body.id, req.body.unit);
    await s.audit.append({ actor: req.account!.name, action: "device.add", target: req.body.id, details: { kind: req.body.kind || "body", ...(req.body.unit !== undefined ? { unit: req.body.unit } : {}) } });
    return reply.status(201).send({ id: req.body.id, state: "provisioned" });
  });

  // Re-provisioning (the provisioning tool's --force): a new root for an existing id. The registry
  // refuses revoked devices and devices with recordings (devices.ts rekey).
  app.post<{ Params: { id: string }; Body: { root: string; chipSerial?: string; unit?: number; reason: string } }>("/api/devices/:id/rekey", {
    config: { roles: ["admin"] },
    schema: { body: { type: "object", required: ["root", "reason"], additionalProperties: false, properties: {
      root: { type: "string", pattern: "^[0-9a-f]{64}$" }, chipSerial: { type: "string", maxLength: 64 }, unit: { type: "integer" },
      reason: { type: "string", minLength: 3 } } } },
  }, async (req) => {
    if (req.body.unit !== undefined) await s.model.unit(req.body.unit);
    const root = fromHex(req.body.root);
    const from = await s.registry.rekey(req.params.id, root, { chipSerial: req.body.chipSerial });
    root.fill(0);
    if (req.body.unit !== undefined) await s.model.setDeviceUnit(req.params.id, req.body.unit);
    await s.audit.append({ actor: req.account!.name, action: "device.rekey", target: req.params.id, reason: req.body.reason,
      details: { from, ...(req.body.unit !== undefined ? { unit: req.body.unit } : {}) } });
    return { id: req.params.id, state: "provisioned" };
  });

  app.post<{ Params: { id: string }; Body: { state: DeviceState; reason: string } }>("/api/devices/:id/state", {
    config: { roles: ["admin"] },
    schema: { body: { type: "object", required: ["state", "reason"], properties: { state: { enum: STATES }, reason: { type: "string", minLength: 3 } } } },
  }, async (req) => {
    await s.registry.setState(req.params.id, req.body.state);
    await s.audit.append({ actor: req.account!.name, action: "device.state", target: req.params.id, reason: req.body.reason, details: { state: req.body.state } });
    return { id: req.params.id, state: req.body.state };
  });

  // Metadata only (content needs a reason, below). An officer lists the clips recorded while
  // wearing a device: the assignment in force at the clip's start names them.
  app.get<{ Querystring: { device?: string } }>("/api/recordings", { config: { roles: [...ROLES] } }, async (req) => {
    const rows = await listRecordings(s.db, { device: req.query.device, officerBadge: req.account!.role === "officer" ? String(req.account!.officer_badge) : undefined });
    return rows.map(({ firstReceived: _f, lastReceived: _l, clipAtMs: _c, unitId: _u, officer: _o, ...r }) => r);
  });

  // Every retrieval names a reason and is audited (RULES.md §2, retrieval supervision).
  /** The reason a retrieval gives, and whether this account may see this record at all. */
  const retrieval = async (req: FastifyRequest<{ Params: { device: string; recording: string }; Querystring: { reason?: string } }>) => {
    if (!req.query.reason || req.query.reason.trim().length < 3) throw new ApiError(400, "REASON_REQUIRED", "say why: ?reason=...");
    const exists = await recordingDetail(s.db, req.params.device, Number(req.params.recording));
    if (!exists) throw new ApiError(404, "UNKNOWN_RECORDING", `no recording ${req.params.device}/${req.params.recording}`);
    const d = await mayRetrieve(s.model, s.db, req.account!, req.params.device, Number(req.params.recording));
    if (!d.ok) {
      await s.audit.append({ actor: req.account!.name, action: "recording.denied", target: `${req.params.device}/${req.params.recording}`, reason: req.query.reason, details: { code: d.code } });
      throw new ApiError(403, d.code, d.message);
    }
    return req.query.reason;
  };

  app.get<{ Params: { device: string; recording: string }; Querystring: { reason?: string; allowCorrupt?: string } }>("/api/recordings/:device/:recording/media", { config: { roles: [...ROLES] } }, async (req, reply) => {
    const reason = await retrieval(req);
    // The scrub found stored bytes that no longer match what the device signed: said, not served silently.
    if ((await purgeStateOf(s.db, req.params.device, Number(req.params.recording))) === "purged") {
      throw new ApiError(410, "PURGED", "this recording's media was erased when its retention ended; its tombstone and log entries remain");
    }
    const storage = await storageState(s.db, req.params.device, Number(req.params.recording));
    if (storage && storage.state !== "ok") reply.header("x-storage-state", storage.state);
    if (storage?.state === "corrupt" && req.query.allowCorrupt !== "1") {
      throw new ApiError(409, "STORAGE_CORRUPT", `the stored copy of this recording is damaged (${storage.findings.join("; ")}); add allowCorrupt=1 to download it as stored`);
    }
    const row = await recordingDetail(s.db, req.params.device, Number(req.params.recording));
    await s.audit.append({ actor: req.account!.name, action: "recording.download", target: `${req.params.device}/${req.params.recording}`, reason });
    const head = await s.audit.head();
    // Only the bytes the database vouches for: never an uncommitted tail.
    return reply.header("content-type", "application/octet-stream").header("x-audit-head", `${head.count}:${head.hash}`)
      .send(createReadStream(join(s.mediaDir, row!.mediaPath), { start: 0, end: Math.max(0, row!.bytes - 1) }));
  });

  app.get<{ Params: { device: string; recording: string }; Querystring: { reason?: string } }>("/api/recordings/:device/:recording", { config: { roles: [...ROLES] } }, async (req) => {
    const reason = await retrieval(req);
    const { mediaPath: _m, firstReceived: _f, lastReceived: _l, ...row } = (await recordingDetail(s.db, req.params.device, Number(req.params.recording)))!;
    await s.audit.append({ actor: req.account!.name, action: "recording.view", target: `${req.params.device}/${req.params.recording}`, reason });
    return { ...row!, reasons: JSON.parse(String(row!.reasons)) };
  });

  modelRoutes(app, s);
  return app;
}
