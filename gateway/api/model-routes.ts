// API routes over the enforcement model, reports, accounts, alarms and the audit log: each a
// call to a service with the authenticated caller.
import type { FastifyInstance } from "fastify";
import type { Services } from "../services/index.js";
import { ERRORS, REASON, bodySchema as body, callerOf } from "./server.js";

/** A query string's schema (its fields are text; unknown ones are let be). */
const query = (properties: Record<string, unknown>) => ({ type: "object", properties });
const str = { type: "string" };
const int = { type: "integer" };

export function modelRoutes(app: FastifyInstance, s: Services): void {
  // Here, not at the top: server.ts (which defines body and REASON) imports this module.
  const reasonBody = body({ reason: REASON });
  app.get("/api/units", { schema: { description: "the unit tree" } }, async (req) => s.model.listUnits(callerOf(req)));
  app.post<{ Body: { name: string; level: string; parentId?: number } }>("/api/units", {
    schema: { description: "add a unit", body: body({ name: str, level: str, parentId: int }, ["name", "level"]), response: ERRORS },
  }, async (req, reply) => reply.status(201).send(await s.model.addUnit(callerOf(req), req.body.name, req.body.level, req.body.parentId)));

  app.post<{ Params: { id: string }; Body: { ratio: number | null; reason: string } }>("/api/units/:id/ratio", {
    schema: { description: "a unit's own fleet ratio (officers per recorder set), null for the station's", body: body({ ratio: { type: ["number", "null"] }, reason: REASON }, ["ratio"]), response: ERRORS },
  }, async (req) => s.model.setUnitRatio(callerOf(req), req.params.id, req.body.ratio, req.body.reason));

  app.get("/api/officers", { schema: { description: "officers in the caller's scope (audited)" } }, async (req) => s.model.listOfficers(callerOf(req)));
  app.post<{ Body: unknown }>("/api/officers", {
    schema: { description: "put an officer on a roster", body: body({ badge: str, name: str, unitId: int, role: str, certNo: str, certValidFrom: str, certValidTo: str }, [], ["object", "null"]), response: ERRORS },
  }, async (req, reply) => reply.status(201).send(await s.model.addOfficer(callerOf(req), req.body)));
  app.post<{ Params: { badge: string }; Body: { reason: string; name?: string; role?: string; certNo?: string; certValidFrom?: string; certValidTo?: string } }>("/api/officers/:badge/edit", {
    schema: { description: "change an officer's name, role or certificate", body: body({ reason: REASON, name: str, role: str, certNo: str, certValidFrom: str, certValidTo: str }), response: ERRORS },
  }, async (req) => {
    const { reason, ...patch } = req.body;
    return s.model.editOfficer(callerOf(req), req.params.badge, patch, reason);
  });
  app.post<{ Params: { badge: string }; Body: { unit: number; reason: string } }>("/api/officers/:badge/transfer", {
    schema: { description: "move an officer to another unit", body: body({ unit: int, reason: REASON }, ["unit"]), response: ERRORS },
  }, async (req) => s.model.transferOfficer(callerOf(req), req.params.badge, req.body.unit, req.body.reason));
  app.post<{ Params: { badge: string }; Body: { reason: string } }>("/api/officers/:badge/deactivate", { schema: { description: "take an officer off duty", body: reasonBody, response: ERRORS } },
    async (req) => s.model.setOfficerActive(callerOf(req), req.params.badge, false, req.body.reason));
  app.post<{ Params: { badge: string }; Body: { reason: string } }>("/api/officers/:badge/reactivate", { schema: { description: "put an officer back on duty", body: reasonBody, response: ERRORS } },
    async (req) => s.model.setOfficerActive(callerOf(req), req.params.badge, true, req.body.reason));

  app.get("/api/cases/suggestions", { schema: { description: "for each case in the caller's scope, the clips it could link (same unit or below, time overlapping its window; audited)" } }, async (req) => s.model.caseSuggestions(callerOf(req)));
  app.get("/api/cases", { schema: { description: "cases in the caller's scope (audited)" } }, async (req) => s.model.listCases(callerOf(req)));
  app.post<{ Body: unknown }>("/api/cases", {
    schema: { description: "open a case; windowStart/windowEnd as ISO 8601 or ms", body: body({ number: str, unitId: int, category: str, activityKind: str, policy: str, windowStart: { type: ["string", "integer"] }, windowEnd: { type: ["string", "integer"] }, confidentiality: int, room: str }, [], ["object", "null"]), response: ERRORS },
  }, async (req, reply) => reply.status(201).send(await s.model.addCase(callerOf(req), req.body)));

  app.post<{ Body: { device: string; badge?: string; room?: string; at?: number | string; force?: boolean; reason?: string } }>("/api/assignments", {
    schema: { description: "check a device out to an officer or a room, after the pre-duty check of its last Status (force with a reason: admin)", body: body({ device: str, badge: str, room: str, at: { type: ["string", "integer"] }, force: { type: "boolean" }, reason: REASON }, ["device"]), response: ERRORS },
  }, async (req, reply) => {
    const to = req.body.badge ? { badge: req.body.badge } : { room: String(req.body.room ?? "") };
    return reply.status(201).send(await s.model.checkOut(callerOf(req), req.body.device, to, req.body.at, { force: req.body.force, reason: req.body.reason }));
  });
  app.post<{ Params: { device: string }; Body: { at?: number | string } | null }>("/api/assignments/:device/return", {
    schema: { description: "take a device back", body: body({ at: { type: ["string", "integer"] } }, [], ["object", "null"]), response: ERRORS },
  }, async (req) => s.model.returnDevice(callerOf(req), req.params.device, req.body ? req.body.at : undefined));

  app.post<{ Body: { device: string; recording: number | string; case: string; reason: string; unlink?: boolean } }>("/api/links", {
    schema: { description: "link a clip to a case (or unlink it), with a reason: a custody event", body: body({ device: str, recording: { type: ["integer", "string"] }, case: str, reason: REASON, unlink: { type: "boolean" } }, ["device", "recording", "case"]), response: ERRORS },
  }, async (req) => s.model.link(callerOf(req), req.body.device, req.body.recording, req.body.case, req.body.reason, !!req.body.unlink));
  // Who and what each clip is linked to, for tools that check custody (the simulator): scoped and audited like the listing it is.
  app.get<{ Querystring: { device?: string } }>("/api/recordings/links", { schema: { description: "each clip's officer and linked cases", querystring: query({ device: str }) } }, async (req) =>
    (await s.recordings.list(callerOf(req), { device: req.query.device })).map((r) => ({ device: r.device, recording: r.recording, officer: r.officer, cases: r.cases.length ? r.cases.join(",") : null })));
  app.get<{ Params: { device: string; recording: string } }>("/api/recordings/:device/:recording/suggestions", { schema: { description: "cases a clip could belong to" } }, async (req) =>
    s.model.suggestions(callerOf(req), req.params.device, req.params.recording));

  app.get<{ Querystring: { unit?: string } }>("/api/reports/fleet", { schema: { description: "fleet and reviewer ratios", querystring: query({ unit: str }) } }, async (req) => s.reports.fleet(callerOf(req), req.query.unit));
  app.get("/api/reports/coverage", { schema: { description: "coverage of FULL and KEY_STEPS cases" } }, async (req) => s.reports.coverage(callerOf(req)));
  app.get("/api/reports/integrity", { schema: { description: "recordings by verdict" } }, async (req) => s.reports.integrity(callerOf(req)));
  app.get<{ Querystring: { from?: string; to?: string; by?: string } }>("/api/reports/statistics", { schema: { description: "recordings, hours, verdicts, upload delay and FULL-case coverage per unit or officer", querystring: query({ from: str, to: str, by: str }) } },
    async (req) => s.reports.statistics(callerOf(req), req.query));

  app.get("/api/accounts", { schema: { description: "accounts (admin)" } }, async (req) => s.accounts.list(callerOf(req)));
  app.post<{ Body: { name: string; role: string; badge?: string } }>("/api/accounts", { schema: { description: "make an account", body: body({ name: str, role: str, badge: str }, ["name", "role"]), response: ERRORS } },
    async (req, reply) => reply.status(201).send(await s.accounts.add(callerOf(req), req.body.name, req.body.role, req.body.badge)));
  app.post<{ Params: { name: string } }>("/api/accounts/:name/tokens", { schema: { description: "issue a token (shown once)", response: ERRORS } },
    async (req, reply) => reply.status(201).send({ token: await s.accounts.issueToken(callerOf(req), req.params.name) }));
  app.post<{ Params: { name: string }; Body: { reason: string } }>("/api/accounts/:name/tokens/revoke", { schema: { description: "revoke every token of an account", body: reasonBody, response: ERRORS } },
    async (req) => s.accounts.revokeTokens(callerOf(req), req.params.name, req.body.reason));
  app.post<{ Params: { name: string }; Body: { reason: string } }>("/api/accounts/:name/disable", { schema: { description: "disable an account", body: reasonBody, response: ERRORS } },
    async (req) => s.accounts.setDisabled(callerOf(req), req.params.name, true, req.body.reason));
  app.post<{ Params: { name: string }; Body: { reason: string } }>("/api/accounts/:name/enable", { schema: { description: "enable an account again", body: reasonBody, response: ERRORS } },
    async (req) => s.accounts.setDisabled(callerOf(req), req.params.name, false, req.body.reason));

  app.get("/api/alarms", { schema: { description: "open alarms" } }, async (req) => s.alarms.list(callerOf(req)));
  app.post<{ Body: { kind: string; subject: string; reason: string } }>("/api/alarms/clear", {
    schema: { description: "clear an open alarm, with a reason", body: body({ kind: str, subject: str, reason: REASON }, ["kind", "subject"]), response: ERRORS },
  }, async (req) => s.alarms.clear(callerOf(req), req.body.kind, req.body.subject, req.body.reason));
  app.get<{ Querystring: { actor?: string; action?: string; target?: string; since?: string; until?: string; limit?: string } }>("/api/audit", { schema: { description: "audit entries, newest first; since and until (ISO 8601: 2026-03-01T09:30+08:00, or a station-local date, 2026-03-01: since from its start, until to its end) bound the period", querystring: query({ actor: str, action: str, target: str, since: str, until: str, limit: str }) } },
    async (req) => s.audit.list(callerOf(req), req.query));
  app.get("/api/audit/verify", { schema: { description: "check the audit log's chain and checkpoints" } }, async (req) => s.audit.verify(callerOf(req)));
}
