// The HTTP JSON API (fastify): a thin client of the service layer. It authenticates the caller by
// token, hands the request to a service (which checks roles, scope and input and writes the
// audit), and maps the service's reason code to an HTTP status with {error, message}.
import { once } from "node:events";
import { createRequire } from "node:module";
import Fastify from "fastify";
import swagger from "@fastify/swagger";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Services, Caller } from "../services/index.js";
import { GatewayError } from "../errors.js";
import { withIsoTimes } from "../services/time.js";
import { MAX_PAGE_SIZE, PAGE_SIZE } from "../services/recordings.js";
import { fromHex } from "../../protocol/bytes.js";
import { modelRoutes } from "./model-routes.js";
import { SAFE_METHODS, checkForgery, sessionCookie, securityHeaders } from "./session.js";

export interface ApiOptions {
  services: Services;
  /** HTTPS: a certificate and key (PEM); none: plain HTTP. */
  https?: { cert: Buffer; key: Buffer };
}

declare module "fastify" {
  interface FastifyRequest { caller: Caller | null }
  interface FastifyContextConfig { open?: boolean }
}

/** The caller of a request that passed authentication. */
export const callerOf = (req: FastifyRequest): Caller => req.caller!;

const errorBody = { type: "object", properties: { error: { type: "string" }, message: { type: "string" } } } as const;
/** The error answers every route may give. */
export const ERRORS = { 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody, 409: errorBody, 410: errorBody, 413: errorBody, 415: errorBody, 429: errorBody } as const;

/**
 * A reason a person gives. Required where a route takes one, but no body schema lists it as
 * required: the service checks it (missing or too short: REASON_REQUIRED), one rule in one place.
 */
export const REASON = { type: "string", description: "why, at least 3 characters (or 2 Chinese ones): required (REASON_REQUIRED when missing or too short)" } as const;

/** A JSON body's schema: an object of these fields and no others (UNKNOWN_FIELD names one it does not take). */
export const bodySchema = (properties: Record<string, unknown>, required: string[] = [], type: string | string[] = "object") => ({ type, properties, required, additionalProperties: false });

/** The largest request body the API takes. */
export const BODY_LIMIT = 1 << 20;

/** `Authorization: Bearer <token>`'s token: the scheme in any case (RFC 7235 §2.1), then one or more spaces. */
export const bearerToken = (h: string | undefined): string | null => /^bearer +(\S+)$/i.exec(h || "")?.[1] ?? null;

// The validators: fastify's own Ajv compiler (resolved from fastify, as fastify loads it), twice.
// A JSON body is taken as sent: a field the route does not name is refused (not dropped), and a
// value of the wrong type is refused (not converted: "5" is not 5, ["city"] is not "city"). A
// query string or path is text, so there numbers and booleans are parsed from it.
const fastifyAjv = createRequire(createRequire(import.meta.url).resolve("fastify"))("@fastify/ajv-compiler") as () => (external: unknown, options: { customOptions?: object }) => (route: { httpPart?: string }) => unknown;
const bodyValidators = fastifyAjv();
const textValidators = fastifyAjv();
/** The API's validator compiler for fastify's schemaController: a route's body by one Ajv, its query string, path and headers by the other. */
export function buildValidator(external: unknown, options: { customOptions?: object } = {}) {
  const custom = { ...options.customOptions, allowUnionTypes: true, removeAdditional: false };
  const body = bodyValidators(external, { ...options, customOptions: { ...custom, coerceTypes: false } });
  const text = textValidators(external, { ...options, customOptions: { ...custom, coerceTypes: "array" } });
  return (route: { httpPart?: string }) => (route.httpPart === "body" ? body : text)(route);
}

interface AjvError { keyword: string; instancePath: string; schemaPath: string; params: Record<string, unknown>; message?: string }

/** The schema an Ajv error's keyword sits in (its schemaPath, "#/properties/items/items/additionalProperties", less the keyword). */
function schemaAt(root: unknown, schemaPath: string): Record<string, unknown> | undefined {
  let at = root;
  for (const step of schemaPath.replace(/^#\/?/, "").split("/").slice(0, -1)) {
    at = at && typeof at === "object" ? (at as Record<string, unknown>)[step.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
  }
  return at && typeof at === "object" ? at as Record<string, unknown> : undefined;
}

/** A request fastify refused before its route ran (a body or query that breaks its schema, too big, not JSON), as the error with its reason code. */
function requestError(err: Error & { statusCode?: number; validation?: AjvError[]; validationContext?: string; code?: string }, req: FastifyRequest): GatewayError | null {
  const first = err.validation?.[0];
  if (first?.keyword === "additionalProperties") {
    const field = String(first.params.additionalProperty);
    const where = `${err.validationContext ?? "body"}${first.instancePath}`;
    const schema = schemaAt((req.routeOptions.schema as Record<string, unknown> | undefined)?.[err.validationContext ?? "body"], first.schemaPath);
    const known = schema?.properties ? Object.keys(schema.properties) : [];
    return new GatewayError("UNKNOWN_FIELD", `${where} has no field ${JSON.stringify(field)}${known.length ? `; it takes ${known.join(", ")}` : ""}`);
  }
  if (err.statusCode === 413) return new GatewayError("BODY_TOO_LARGE", `a request body is at most ${BODY_LIMIT} bytes (1 MiB)`);
  if (err.statusCode === 415) {
    const got = req.headers["content-type"];
    return new GatewayError("UNSUPPORTED_MEDIA_TYPE", `a request body is JSON: send Content-Type: application/json${got ? ` (got ${got})` : ""}`);
  }
  return null;
}

/** Build the API; `logger` is the gateway's pino logger (fastify 5 takes it as loggerInstance). */
export async function buildApi(o: ApiOptions, logger?: object): Promise<FastifyInstance> {
  const s = o.services;
  const opts = { bodyLimit: BODY_LIMIT, schemaController: { compilersFactory: { buildValidator } }, ...(logger ? { loggerInstance: logger as never } : {}), ...(o.https ? { https: { cert: o.https.cert, key: o.https.key } } : {}) };
  const app = Fastify(opts as never) as unknown as FastifyInstance;
  app.decorateRequest("caller", null);
  // The API described as OpenAPI from the routes' own schemas, served at /api/docs.
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "Evidence recorder station gateway", version: "1", description: "Every route but /api/health, /api/docs and /log/ takes Authorization: Bearer <token>. Errors are {error: REASON_CODE, message}. Times are ms since the epoch with an ISO 8601 twin (…Iso) in the station's offset." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });

  // Every route authenticates, except those marked open (health, the log's tiles, the docs).
  // A tool sends its token; the console's page has a session cookie instead, and every request of
  // it that changes something carries the session's anti-forgery token and comes from this origin.
  app.addHook("onRequest", async (req: FastifyRequest) => {
    if (req.routeOptions.config.open || !req.routeOptions.url) return;
    const token = bearerToken(req.headers.authorization);
    if (token) {
      req.caller = await s.accounts.authenticate(token);
      return;
    }
    const cookie = sessionCookie(req);
    if (!cookie) throw new GatewayError("AUTH_REQUIRED", "send Authorization: Bearer <token>, or sign in to the console");
    const session = await s.sessions.session(cookie);
    if (!SAFE_METHODS.has(req.method)) checkForgery(req, session.csrf);
    req.caller = session.caller;
  });

  // Every answer: no sniffing, no framing, no referrer; the console's pages also get their CSP.
  app.addHook("onSend", async (_req: FastifyRequest, reply: FastifyReply) => { securityHeaders(reply); });

  // Times as ISO 8601 with the station's offset beside the milliseconds, in every JSON answer.
  app.addHook("preSerialization", async (_req: FastifyRequest, _reply: FastifyReply, payload: unknown) => withIsoTimes(payload, s.ctx.policy.timeZone));

  app.setErrorHandler((e: Error & { statusCode?: number; validation?: AjvError[]; validationContext?: string; code?: string }, req: FastifyRequest, reply: FastifyReply) => {
    // Bad input is refused with its reason and logged; it is never a 500.
    const err = requestError(e, req) ?? e;
    if (err instanceof GatewayError) {
      // Not the caller's fault (the database down, or a conflict it ended): logged as the gateway's, asked to try again.
      if (err.status >= 500) {
        req.log.error({ code: err.code, caller: req.caller?.name, url: req.url, err: err.message }, "could not serve");
        if (err.status === 503) reply.header("retry-after", "5");
      } else req.log.warn({ code: err.code, caller: req.caller?.name, url: req.url }, "refused");
      return reply.status(err.status).send({ error: err.code, message: err.message });
    }
    if (e.validation || (e.statusCode && e.statusCode < 500)) {
      req.log.warn({ code: "BAD_REQUEST", url: req.url, err: e.message }, "refused");
      return reply.status(e.statusCode && e.statusCode !== 500 ? e.statusCode : 400).send({ error: "BAD_REQUEST", message: e.message });
    }
    req.log.error({ err: e }, "api error");
    return reply.status(500).send({ error: "INTERNAL", message: "internal error; see the gateway log" });
  });
  app.setNotFoundHandler((req, reply) => {
    req.log.warn({ code: "NOT_FOUND", url: req.url }, "refused");
    return reply.status(404).send({ error: "NOT_FOUND", message: `no route ${req.method} ${req.url.split("?")[0]}` });
  });

  // Up or down, and which gateway answers (a station's or a region office's: the console's sign-in
  // page is titled by it), to anyone; the gateway's state (as GET /api/system) only to an admin's
  // token. Which kind of gateway this is tells a caller nothing its console's page would not.
  app.get("/api/health", { config: { open: true }, schema: { description: "up or down, and which gateway (station or region); with an admin token, the gateway's state (as /api/system)", response: { 200: { type: "object", additionalProperties: true, properties: { ok: { type: "boolean" }, gateway: { type: ["string", "null"] } } } } } }, async (req) => {
    const open = { ok: true, gateway: s.system.kind };
    const token = bearerToken(req.headers.authorization);
    if (!token) return open;
    const c = await s.accounts.authenticate(token).catch(() => null);
    return c && c.role === "admin" ? { ...open, ...s.system.state(c) } : open;
  });

  app.get("/api/system", { schema: { description: "the gateway's state (admin): a station's ingest and refusals by reason code, a region office's NATS servers and each partition's worker, the scrub's progress" } },
    async (req) => s.system.state(callerOf(req)));

  app.get("/api/docs", { config: { open: true }, schema: { description: "this API as an OpenAPI 3 document", hide: true } }, async () => app.swagger());

  app.get("/api/me", { schema: { description: "the account this token proves", response: { 200: { type: "object", properties: { name: { type: "string" }, role: { type: "string" }, officer_badge: { type: ["string", "null"] } } }, ...ERRORS } } },
    async (req) => ({ name: callerOf(req).name, role: callerOf(req).role, officer_badge: callerOf(req).officerBadge }));

  app.get("/api/devices", { schema: { description: "devices in the caller's scope" } }, async (req) => s.devices.list(callerOf(req)));

  // `unit` (optional) issues the device to a unit (the fleet it counts in).
  app.post<{ Body: { id: string; root: string; kind?: "body" | "fixed"; chipSerial?: string; unit?: number } }>("/api/devices", {
    schema: { description: "register a device with its root secret", body: bodySchema({
      id: { type: "string" }, root: { type: "string", pattern: "^[0-9a-f]{64}$" }, kind: { enum: ["body", "fixed"] }, chipSerial: { type: "string", maxLength: 64 },
      unit: { type: "integer" } }, ["id", "root"]), response: { 201: { type: "object", properties: { id: { type: "string" }, state: { type: "string" } } }, ...ERRORS } },
  }, async (req, reply) => {
    const root = fromHex(req.body.root);
    const d = await s.devices.add(callerOf(req), { id: req.body.id, root, kind: req.body.kind, chipSerial: req.body.chipSerial, unit: req.body.unit });
    root.fill(0);
    return reply.status(201).send({ id: d.id, state: d.state });
  });

  // Re-provisioning (the provisioning tool's --force): a new root for an existing id.
  app.post<{ Params: { id: string }; Body: { root: string; chipSerial?: string; unit?: number; reason: string } }>("/api/devices/:id/rekey", {
    schema: { description: "re-provision a device under a new root", body: bodySchema({
      root: { type: "string", pattern: "^[0-9a-f]{64}$" }, chipSerial: { type: "string", maxLength: 64 }, unit: { type: "integer" },
      reason: REASON }, ["root"]), response: { 200: { type: "object", properties: { id: { type: "string" }, state: { type: "string" } } }, ...ERRORS } },
  }, async (req) => {
    const root = fromHex(req.body.root);
    try {
      return await s.devices.rekey(callerOf(req), req.params.id, root, req.body);
    } finally {
      root.fill(0);
    }
  });

  app.post<{ Params: { id: string }; Body: { state: string; reason: string } }>("/api/devices/:id/state", {
    schema: { description: "change a device's state along the allowed transitions, with a reason", body: bodySchema({ state: { type: "string" }, reason: REASON }, ["state"]),
      response: { 200: { type: "object", properties: { id: { type: "string" }, state: { type: "string" }, from: { type: "string" } } }, ...ERRORS } },
  }, async (req) => s.devices.setState(callerOf(req), req.params.id, req.body.state, req.body.reason));

  app.post<{ Params: { id: string }; Body: { unit: number | null; reason: string } }>("/api/devices/:id/unit", {
    schema: { description: "issue a device to a unit (the fleet it counts in)", body: bodySchema({ unit: { type: ["integer", "null"] }, reason: REASON }, ["unit"]), response: ERRORS },
  }, async (req) => s.devices.setUnit(callerOf(req), req.params.id, req.body.unit, req.body.reason));

  // Metadata only (content needs a reason, below), scoped to the caller and audited.
  // In pages, newest first (keyset: the clip's time, then device and recording, descending): the next page's cursor is the x-next-cursor header,
  // absent after the last page; the body is the page's clips.
  app.get<{ Querystring: { device?: string; officer?: string; from?: string; to?: string; limit?: string; cursor?: string } }>("/api/recordings", {
    schema: { description: `recordings in the caller's scope, newest first (the clip's time, then device and recording, descending), a page at a time (limit: ${PAGE_SIZE} unless asked, at most ${MAX_PAGE_SIZE}; the header x-next-cursor, on a page with more after it, is the cursor to ask the next with, the same filters given again; a cursor it did not give is BAD_CURSOR); filters: device, officer (a badge of the caller's scope), from and to (the clip's time; ISO 8601, or a station-local date: to takes in its whole day)`,
      querystring: { type: "object", properties: { device: { type: "string" }, officer: { type: "string" }, from: { type: "string" }, to: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" } } } },
  }, async (req, reply) => {
    const page = await s.recordings.page(callerOf(req), req.query);
    if (page.next !== null) reply.header("x-next-cursor", page.next);
    return page.recordings;
  });

  app.get<{ Params: { device: string; recording: string }; Querystring: { reason?: string; allowCorrupt?: string } }>("/api/recordings/:device/:recording/media", {
    schema: { description: "a recording's media, with a reason (audited)", querystring: { type: "object", properties: { reason: { type: "string" }, allowCorrupt: { type: "string" } } } },
  }, async (req, reply) => {
    const d = await s.recordings.download(callerOf(req), req.params.device, req.params.recording, req.query.reason, req.query.allowCorrupt === "1");
    if (d.storageState !== "ok") reply.header("x-storage-state", d.storageState);
    // Its first bytes (or its end) before the status is sent: media that can't be had is an error
    // with its reason (MEDIA_MISSING, MEDIA_UNAVAILABLE), not a 200 whose body breaks off.
    await once(d.body, "readable");
    return reply.header("content-type", "application/octet-stream").header("content-length", String(d.bytes))
      .header("x-audit-head", `${d.auditHead.count}:${d.auditHead.hash}`).send(d.body);
  });

  app.get<{ Params: { device: string; recording: string }; Querystring: { reason?: string } }>("/api/recordings/:device/:recording/custody", {
    schema: { description: "one recording's custody report (links, accesses, denials, exports, approvals), with a reason (audited)", querystring: { type: "object", properties: { reason: { type: "string" } } } },
  }, async (req) => s.recordings.custody(callerOf(req), req.params.device, req.params.recording, req.query.reason));

  app.get<{ Params: { device: string; recording: string }; Querystring: { reason?: string } }>("/api/recordings/:device/:recording", {
    schema: { description: "one recording's metadata, verdict and reasons, with a reason (audited)", querystring: { type: "object", properties: { reason: { type: "string" } } } },
  }, async (req) => s.recordings.view(callerOf(req), req.params.device, req.params.recording, req.query.reason));

  modelRoutes(app, s);
  return app;
}
