// API routes over the enforcement model, reports, audit log and alarms. Changes are made by a
// named account and audited; reports carry the audit head (RULES.md §1 P6).
import type { FastifyInstance } from "fastify";
import type { ApiServices } from "./server.js";
import { fleetReport } from "../reports/ratios.js";
import { coverageReport, integritySummary, statistics } from "../reports/coverage.js";
import { linkedCases, listRecordings } from "../store/recordings.js";

const READ: ("admin" | "supervisor" | "legal_reviewer")[] = ["admin", "supervisor", "legal_reviewer"];

export function modelRoutes(app: FastifyInstance, s: ApiServices): void {
  const who = (req: { account: { name: string } | null }) => req.account!.name;
  const withHead = async <T extends object>(report: T) => ({ ...report, auditHead: await s.audit.head() });

  app.get("/api/units", { config: { roles: READ } }, async () => s.model.listUnits());
  app.post<{ Body: { name: string; level: string; parentId?: number } }>("/api/units", {
    config: { roles: ["admin"] },
    schema: { body: { type: "object", required: ["name", "level"], properties: { name: { type: "string", minLength: 1 }, level: { type: "string" }, parentId: { type: "integer" } } } },
  }, async (req, reply) => {
    const u = await s.model.addUnit(req.body.name, req.body.level as never, req.body.parentId);
    await s.audit.append({ actor: who(req), action: "unit.add", target: String((u as { id: number }).id), details: req.body });
    return reply.status(201).send(u);
  });

  app.get("/api/officers", { config: { roles: READ } }, async () => s.model.listOfficers());
  app.post<{ Body: Record<string, unknown> }>("/api/officers", { config: { roles: ["admin"] } }, async (req, reply) => {
    const o = await s.model.addOfficer(req.body as never);
    await s.audit.append({ actor: who(req), action: "officer.add", target: String(req.body.badge), details: req.body });
    return reply.status(201).send(o);
  });

  app.get("/api/cases", { config: { roles: READ } }, async () => s.model.listCases());
  app.post<{ Body: Record<string, unknown> }>("/api/cases", { config: { roles: ["admin", "supervisor"] } }, async (req, reply) => {
    const c = await s.model.addCase(req.body as never);
    await s.audit.append({ actor: who(req), action: "case.add", target: String(req.body.number), details: req.body });
    return reply.status(201).send(c);
  });

  app.post<{ Body: { device: string; badge?: string; room?: string; at?: number } }>("/api/assignments", {
    config: { roles: ["admin", "supervisor"] },
    schema: { body: { type: "object", required: ["device"], properties: { device: { type: "string" }, badge: { type: "string" }, room: { type: "string" }, at: { type: "integer" } } } },
  }, async (req, reply) => {
    const to = req.body.badge ? { badge: req.body.badge } : { room: String(req.body.room) };
    const a = await s.model.checkOut(req.body.device, to as never, req.body.at || Date.now());
    await s.audit.append({ actor: who(req), action: "device.checkout", target: req.body.device, details: to });
    return reply.status(201).send(a);
  });
  app.post<{ Params: { device: string }; Body: { at?: number } }>("/api/assignments/:device/return", { config: { roles: ["admin", "supervisor"] } }, async (req) => {
    const a = await s.model.returnDevice(req.params.device, (req.body && req.body.at) || Date.now());
    await s.audit.append({ actor: who(req), action: "device.return", target: req.params.device });
    return a;
  });

  // Links are custody events (model) and audited admin actions.
  app.post<{ Body: { device: string; recording: number; case: string; reason: string; unlink?: boolean } }>("/api/links", {
    config: { roles: ["admin", "supervisor"] },
    schema: { body: { type: "object", required: ["device", "recording", "case", "reason"], properties: { device: { type: "string" }, recording: { type: "integer" }, case: { type: "string" }, reason: { type: "string", minLength: 3 }, unlink: { type: "boolean" } } } },
  }, async (req) => {
    const b = req.body;
    const r = b.unlink ? await s.model.unlink(b.device, b.recording, b.case, who(req), b.reason) : await s.model.link(b.device, b.recording, b.case, who(req), b.reason);
    await s.audit.append({ actor: who(req), action: b.unlink ? "clip.unlink" : "clip.link", target: `${b.device}/${b.recording}`, reason: b.reason, details: { case: b.case } });
    return r ?? { ok: true };
  });
  // Who and what each clip is linked to, for tools that check custody (the simulator): the officer
  // the device was checked out to when the clip started (by the device's start time, else by the
  // gateway's first receipt when the device clock was off), and the cases linked to it now.
  app.get<{ Querystring: { device?: string } }>("/api/recordings/links", { config: { roles: ["admin", "supervisor"] } }, async (req) => {
    const cases = await linkedCases(s.db);
    return (await listRecordings(s.db, { device: req.query.device })).map((r) => ({ device: r.device, recording: r.recording, officer: r.officer, cases: cases.get(`${r.device}/${r.recording}`) ?? null }));
  });
  app.get<{ Params: { device: string; recording: string } }>("/api/recordings/:device/:recording/suggestions", { config: { roles: ["admin", "supervisor"] } }, async (req) =>
    s.model.suggestions(req.params.device, Number(req.params.recording)));

  app.get<{ Querystring: { unit?: string } }>("/api/reports/fleet", { config: { roles: READ } }, async (req) =>
    withHead(await fleetReport(s.db, { ratio: s.model.opts.fleetRatio, unitId: req.query.unit ? Number(req.query.unit) : undefined })));
  app.get("/api/reports/coverage", { config: { roles: READ } }, async () => withHead({ cases: await coverageReport(s.db, { gapToleranceMs: s.model.opts.gapToleranceMs }) }));
  app.get("/api/reports/integrity", { config: { roles: READ } }, async () => withHead(await integritySummary(s.db)));

  app.get<{ Querystring: { from?: string; to?: string; by?: string } }>("/api/reports/statistics", { config: { roles: READ } }, async (req, reply) => {
    const from = Date.parse(String(req.query.from)), to = Date.parse(String(req.query.to));
    const by = req.query.by || "unit";
    if (!Number.isFinite(from) || !Number.isFinite(to) || !(to > from) || (by !== "unit" && by !== "officer")) {
      return reply.status(400).send({ error: "BAD_REQUEST", message: "give ?from=ISO&to=ISO (to after from) and by=unit|officer" });
    }
    return withHead({ from, to, by, rows: await statistics(s.db, { from, to, by }) });
  });

  app.get("/api/alarms", { config: { roles: ["admin", "supervisor"] } }, async () => s.alarms.list({ open: true }));
  app.post<{ Body: { kind: string; subject: string; reason: string } }>("/api/alarms/clear", {
    config: { roles: ["admin", "supervisor"] },
    schema: { body: { type: "object", required: ["kind", "subject", "reason"], properties: { kind: { type: "string" }, subject: { type: "string" }, reason: { type: "string", minLength: 3 } } } },
  }, async (req) => (await s.alarms.clear(req.body.kind as never, req.body.subject, who(req), req.body.reason)) ?? { cleared: false });
  app.get("/api/audit/verify", { config: { roles: ["admin"] } }, async () => s.audit.verify());
}
