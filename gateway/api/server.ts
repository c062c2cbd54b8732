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
import { endReasonOf } from "../../protocol/blocks.js";
import type { Model } from "../model/model.js";
import { ModelError } from "../model/model.js";
import type { AuditLog } from "../audit/log.js";
import { AuditError } from "../audit/log.js";
import type { Alarms } from "../alarms.js";
import { AlarmError } from "../alarms.js";
import { modelRoutes } from "./model-routes.js";
import { mayRetrieve } from "./access.js";
import { assignmentInForceSql } from "../model/schema.js";
import { createReadStream } from "node:fs";
import { join } from "node:path";

/** A recording row with its seal's end reason by name (R-SEAL-5) in place of the seal block; null while unsealed. */
function withEndReason(row: Record<string, unknown>): Record<string, unknown> {
  const { sealBlock, ...rest } = row;
  return { ...rest, endReason: endReasonOf(sealBlock as Uint8Array | null) };
}

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
    const cols = "r.device_id AS device, r.recording_id AS recording, r.verdict, r.final, r.linked_seq AS chunks, r.total_bytes AS bytes, r.interrupted, r.device_lost AS deviceLost, r.case_tag AS caseTag, r.start_ms AS startMs, r.end_ms AS endMs, r.reasons, r.seal_block AS sealBlock";
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (req.query.device) { where.push("r.device_id = ?"); params.push(req.query.device); }
    if (req.account!.role === "officer") {
      where.push(`EXISTS (SELECT 1 FROM assignments a JOIN officers o ON o.id = a.officer_id WHERE a.device_id = r.device_id AND o.badge = ? AND ${assignmentInForceSql("a", "r.start_ms")})`);
      params.push(String(req.account!.officer_badge));
    }
    const rows = await s.db.all<Record<string, unknown>>(`SELECT ${cols} FROM recordings r${where.length ? " WHERE " + where.join(" AND ") : ""} ORDER BY r.device_id, r.recording_id`, params);
    return rows.map(withEndReason);
  });

  // Every retrieval names a reason and is audited (RULES.md §2, retrieval supervision).
  /** The reason a retrieval gives, and whether this account may see this record at all. */
  const retrieval = async (req: FastifyRequest<{ Params: { device: string; recording: string }; Querystring: { reason?: string } }>) => {
    if (!req.query.reason || req.query.reason.trim().length < 3) throw new ApiError(400, "REASON_REQUIRED", "say why: ?reason=...");
    const exists = await s.db.get("SELECT 1 FROM recordings WHERE device_id = ? AND recording_id = ?", [req.params.device, Number(req.params.recording)]);
    if (!exists) throw new ApiError(404, "UNKNOWN_RECORDING", `no recording ${req.params.device}/${req.params.recording}`);
    const d = await mayRetrieve(s.model, s.db, req.account!, req.params.device, Number(req.params.recording));
    if (!d.ok) {
      await s.audit.append({ actor: req.account!.name, action: "recording.denied", target: `${req.params.device}/${req.params.recording}`, reason: req.query.reason, details: { code: d.code } });
      throw new ApiError(403, d.code, d.message);
    }
    return req.query.reason;
  };

  app.get<{ Params: { device: string; recording: string }; Querystring: { reason?: string } }>("/api/recordings/:device/:recording/media", { config: { roles: [...ROLES] } }, async (req, reply) => {
    const reason = await retrieval(req);
    const row = await s.db.get<{ media_path: string; total_bytes: number }>("SELECT media_path, total_bytes FROM recordings WHERE device_id = ? AND recording_id = ?", [req.params.device, Number(req.params.recording)]);
    await s.audit.append({ actor: req.account!.name, action: "recording.download", target: `${req.params.device}/${req.params.recording}`, reason });
    const head = await s.audit.head();
    // Only the bytes the database vouches for: never an uncommitted tail.
    return reply.header("content-type", "application/octet-stream").header("x-audit-head", `${head.count}:${head.hash}`)
      .send(createReadStream(join(s.mediaDir, row!.media_path), { start: 0, end: Math.max(0, row!.total_bytes - 1) }));
  });

  app.get<{ Params: { device: string; recording: string }; Querystring: { reason?: string } }>("/api/recordings/:device/:recording", { config: { roles: [...ROLES] } }, async (req) => {
    const reason = await retrieval(req);
    const row = await s.db.get<Record<string, unknown>>(
      "SELECT device_id AS device, recording_id AS recording, verdict, final, reasons, linked_seq AS chunks, total_bytes AS bytes, interrupted, case_tag AS caseTag, seal_case_tag AS sealCaseTag, start_ms AS startMs, end_ms AS endMs, seal_block AS sealBlock FROM recordings WHERE device_id = ? AND recording_id = ?",
      [req.params.device, Number(req.params.recording)]);
    await s.audit.append({ actor: req.account!.name, action: "recording.view", target: `${req.params.device}/${req.params.recording}`, reason });
    return { ...withEndReason(row!), reasons: JSON.parse(String(row!.reasons)) };
  });

  modelRoutes(app, s);
  return app;
}
