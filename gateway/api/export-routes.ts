// Approvals and exports over the API: request, approve, deny and list grants; export a recording
// or a case as an evidence bundle, streamed as it is written (application/zip); a running
// export's progress. The rules live in the approvals service and the exporter; these routes only
// translate (roles: any account with a token may ask; what it may do is checked there).
import type { FastifyInstance, FastifyReply } from "fastify";
import { PassThrough } from "node:stream";
import { REASON, bodySchema, callerOf } from "./server.js";
import type { FastifyRequest } from "fastify";
import { Approvals, ApprovalError } from "../services/approvals.js";
import type { Item } from "../services/approvals.js";
import { createReadStream } from "node:fs";
import { ExportError, prepareExport, writeAndKeep } from "../evidence/export.js";
import type { Services } from "../services/index.js";
import type { ExportDeps, ExportProgress } from "../evidence/export.js";
import { ModelError } from "../model/model.js";

/** The approvals and the exporter name the caller as an Actor. */
const actorOf = (req: FastifyRequest) => {
  const c = callerOf(req);
  return { name: c.name, role: c.role, officer_badge: c.officerBadge };
};
const ITEM = { type: "object", required: ["device", "recording"], additionalProperties: false, properties: { device: { type: "string", pattern: "^[A-Za-z0-9._-]{1,16}$" }, recording: { type: "integer", minimum: 1 } } };

function fail(reply: FastifyReply, e: unknown): FastifyReply {
  const refuse = (status: number, code: string, message: string) => {
    // Logged like every other refusal (server.ts's error handler), with its code and path.
    reply.request.log.warn({ code, caller: reply.request.caller?.name, url: reply.request.url }, "refused");
    return reply.status(status).send({ error: code, message });
  };
  if (e instanceof ApprovalError) {
    const status = e.code === "UNKNOWN_APPROVAL" || e.code === "UNKNOWN_RECORDING" ? 404 : e.code === "NOT_PENDING" ? 409 : ["NO_GRANT", "GRANT_EXPIRED", "GRANT_SCOPE", "SELF_APPROVAL", "NOT_RELEASE_APPROVER", "NOT_SUPERVISOR", "OUTSIDE_UNIT", "ROLE_FORBIDDEN"].includes(e.code) ? 403 : 400;
    return refuse(status, e.code, e.message);
  }
  if (e instanceof ExportError) return refuse(e.status, e.code, e.message);
  if (e instanceof ModelError) return refuse(e.code.endsWith("NOT_FOUND") ? 404 : 400, e.code, e.message);
  throw e;
}

export function exportRoutes(app: FastifyInstance, deps: ExportDeps, s: Services): void {
  const approvals: Approvals = deps.approvals;
  const running = new Map<string, ExportProgress & { by: string; state: string; error?: string }>();

  app.post<{ Body: { kind: "export" | "view"; items?: Item[]; case?: string; reason: string; hours?: number } }>("/api/approvals", {
    schema: { description: "ask for a grant: a release outside (export) or a view beyond one's scope", body: bodySchema({
      kind: { enum: ["export", "view"] }, items: { type: "array", items: ITEM, maxItems: 10000 }, case: { type: "string" }, reason: REASON, hours: { type: "integer" } }, ["kind"]) },
  }, async (req, reply) => {
    try {
      return reply.status(201).send(await approvals.request(actorOf(req), { kind: req.body.kind, items: req.body.items, caseNumber: req.body.case, reason: req.body.reason, hours: req.body.hours }));
    } catch (e) { return fail(reply, e); }
  });

  app.get<{ Querystring: { state?: "pending" | "approved" | "denied" } }>("/api/approvals", {
    schema: { description: "approval requests: an admin's every one; anyone else's own and those they may decide", querystring: { type: "object", properties: { state: { enum: ["pending", "approved", "denied"] } } } },
  }, async (req) => approvals.listFor(actorOf(req), { state: req.query.state }));

  for (const verb of ["approve", "deny"] as const) {
    app.post<{ Params: { id: string }; Body: { reason: string; hours?: number } }>(`/api/approvals/:id/${verb}`, {
        schema: { description: `${verb} a pending request, with a reason`, params: { type: "object", properties: { id: { type: "string", pattern: "^[1-9][0-9]{0,12}$" } } },
        body: bodySchema({ reason: REASON, hours: { type: "integer" } }) },
    }, async (req, reply) => {
      try {
        const id = Number(req.params.id);
        return verb === "approve" ? await approvals.approve(actorOf(req), id, req.body.reason, req.body.hours) : await approvals.deny(actorOf(req), id, req.body.reason);
      } catch (e) { return fail(reply, e); }
    });
  }

  // The bundle streams as it is written; every check (grant, access, audit, log) is made first,
  // so a refusal is a JSON error and never half a ZIP. x-export-id names it for the progress route.
  app.post<{ Body: { recording?: Item; case?: string; from?: string; to?: string; reason: string; grant?: number } }>("/api/exports", {
    schema: { description: "export a recording (or an excerpt) or a case as an evidence bundle (ZIP), streamed", body: bodySchema({
      recording: ITEM, case: { type: "string" }, from: { type: "string", format: "date-time" }, to: { type: "string", format: "date-time" }, reason: REASON, grant: { type: "integer", minimum: 1 } }) },
  }, async (req, reply) => {
    let prepared;
    try {
      prepared = await prepareExport(deps, actorOf(req), { recording: req.body.recording, caseNumber: req.body.case, fromMs: req.body.from ? Date.parse(req.body.from) : undefined, toMs: req.body.to ? Date.parse(req.body.to) : undefined, reason: req.body.reason, grant: req.body.grant });
    } catch (e) { return fail(reply, e); }
    const state = { recordings: prepared.items.length, done: 0, bytes: 0, current: null as string | null, by: actorOf(req).name, state: "writing" };
    running.set(prepared.id, state);
    const body = new PassThrough();
    // The station keeps the bundle as it streams (a download again hands out the same bytes).
    writeAndKeep(prepared, body, (p) => Object.assign(state, p)).then(() => { state.state = "done"; }, (e: Error) => {
      Object.assign(state, { state: "failed", error: e.message });
      req.log.error({ err: e.message, export: prepared.id }, "export failed while streaming");
      body.destroy(e);
    }).finally(() => setTimeout(() => running.delete(prepared.id), 3600e3).unref());
    return reply.header("content-type", "application/zip").header("content-disposition", `attachment; filename="evidence-${prepared.id}.zip"`)
      .header("x-export-id", prepared.id).header("x-export-recordings", String(prepared.items.length)).send(body);
  });

  app.get("/api/exports", { schema: { description: "exports made: one's own (an admin: every one), newest first, with each bundle's size and SHA-256 and whether it can be downloaded again (audited)" } },
    async (req) => s.exports.list(callerOf(req)));

  // A made export's bundle again: the kept bytes, to the one who made it, with a reason, while a grant is in force (the service checks and audits).
  app.get<{ Params: { id: string }; Querystring: { reason?: string } }>("/api/exports/:id/bundle", {
    schema: { description: "download a made export's bundle again (the same bytes; the one who made it, a reason, a grant in force; audited per recording)", querystring: { type: "object", properties: { reason: { type: "string" } } } },
  }, async (req, reply) => {
    const b = await s.exports.again(callerOf(req), req.params.id, req.query.reason);
    return reply.header("content-type", "application/zip").header("content-disposition", `attachment; filename="evidence-${b.id}.zip"`)
      .header("x-export-id", b.id).header("x-bundle-sha256", b.sha256).header("content-length", String(b.bytes)).send(createReadStream(b.file));
  });

  app.get<{ Params: { id: string } }>("/api/exports/:id/progress", { schema: { description: "a running or recently finished export's progress" } }, async (req, reply) => {
    const s = running.get(req.params.id);
    if (!s || (s.by !== actorOf(req).name && actorOf(req).role !== "admin")) return reply.status(404).send({ error: "UNKNOWN_EXPORT", message: "no export of that id running or recently finished" });
    return { id: req.params.id, state: s.state, recordings: s.recordings, done: s.done, bytes: s.bytes, current: s.current, error: s.error };
  });
}
