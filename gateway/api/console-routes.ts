// The station console over HTTP: its page and files at / (built by npm run build:console), sign-in
// and sign-out (a session cookie), passwords, and the live event stream (Server-Sent Events). Like
// every route, each is a call to the service layer, which checks roles and scope and audits.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ServerResponse } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Services } from "../services/index.js";
import { ERRORS, callerOf } from "./server.js";
import { GatewayError } from "../errors.js";
import { CSP, checkOrigin, cookieHeader, sessionCookie } from "./session.js";

/** The built console of this checkout. */
export const DEFAULT_CONSOLE_DIR = resolve(import.meta.dirname, "..", "..", "dist", "console");
const TYPES: Record<string, string> = { ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8", ".wasm": "application/wasm", ".svg": "image/svg+xml", ".json": "application/json" };
/** Live events wait at most this long to go out together (one message, a JSON array). */
const BATCH_MS = 40;
/** A heartbeat comment keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 20e3;

const sessionBody = { type: "object", properties: { name: { type: "string" }, role: { type: "string" }, officerBadge: { type: ["string", "null"] }, csrf: { type: ["string", "null"] }, timeZone: { type: "string" }, gateway: { type: ["string", "null"] } } } as const;

export function consoleRoutes(app: FastifyInstance, s: Services, o: { consoleDir?: string; secureCookie: boolean }): void {
  const dir = o.consoleDir ? resolve(o.consoleDir) : DEFAULT_CONSOLE_DIR;
  const tz = s.ctx.policy.timeZone;

  // The console's files: the page at /, its script, style and the verifier's worker under /console/.
  const serve = (name: string, reply: FastifyReply) => {
    const file = join(dir, name);
    if (!existsSync(file)) {
      if (name === "index.html") return reply.status(503).header("content-type", "text/plain; charset=utf-8").send("CONSOLE_NOT_BUILT: the web console is not built here: run npm run build:console (npm start builds it)\n");
      throw new GatewayError("NOT_FOUND", `no console file ${name}`);
    }
    const ext = name.slice(name.lastIndexOf("."));
    return reply.header("content-type", TYPES[ext] ?? "application/octet-stream").header("cache-control", "no-cache").send(readFileSync(file));
  };
  app.get("/", { config: { open: true }, schema: { description: "the station console (a web page; sign in with an account's name and password)", hide: true } }, async (_req, reply) => serve("index.html", reply));
  app.get<{ Params: { file: string } }>("/console/:file", { config: { open: true }, schema: { description: "the console's script, style and worker", hide: true, params: { type: "object", properties: { file: { type: "string", pattern: "^[a-z0-9-]+\\.(js|css|wasm|svg)$" } } } } },
    async (req, reply) => serve(req.params.file, reply));
  app.get("/favicon.ico", { config: { open: true }, schema: { description: "no icon", hide: true } }, async (_req, reply) => reply.status(204).send());

  app.post<{ Body: { name: string; password: string } }>("/api/session", {
    config: { open: true },
    schema: { description: "sign in to the console with an account's name and password: a session cookie (HttpOnly, SameSite=Strict) and its anti-forgery token; failed tries are limited and audited",
      body: { type: "object", required: ["name", "password"], additionalProperties: false, properties: { name: { type: "string", maxLength: 40 }, password: { type: "string", maxLength: 200 } } },
      response: { 200: sessionBody, ...ERRORS } },
  }, async (req, reply) => {
    checkOrigin(req);
    const r = await s.sessions.signIn(req.body.name, req.body.password, req.ip);
    reply.header("set-cookie", cookieHeader(r.cookie, o.secureCookie));
    const c = r.session.caller;
    return { name: c.name, role: c.role, officerBadge: c.officerBadge, csrf: r.session.csrf, timeZone: tz, gateway: s.system.kind };
  });

  app.get("/api/session", { schema: { description: "who is signed in (the session's account, its anti-forgery token and the station's time zone)", response: { 200: sessionBody, ...ERRORS } } }, async (req) => {
    const c = callerOf(req);
    const cookie = sessionCookie(req);
    const csrf = cookie && !req.headers.authorization ? (await s.sessions.session(cookie)).csrf : null;
    return { name: c.name, role: c.role, officerBadge: c.officerBadge, csrf, timeZone: tz, gateway: s.system.kind };
  });

  app.delete("/api/session", { schema: { description: "sign out: the session ends", response: { 204: { type: "null" }, ...ERRORS } } }, async (req, reply) => {
    const cookie = sessionCookie(req);
    if (!cookie) throw new GatewayError("SESSION_ENDED", "signing out needs a console session");
    await s.sessions.signOut(callerOf(req), cookie);
    return reply.status(204).header("set-cookie", cookieHeader(null, o.secureCookie)).send();
  });

  app.post<{ Params: { name: string }; Body: { password: string } }>("/api/accounts/:name/password", {
    schema: { description: "set an account's console password (admin, or the account itself); its sessions end", body: { type: "object", required: ["password"], additionalProperties: false, properties: { password: { type: "string" } } }, response: ERRORS },
  }, async (req) => s.sessions.setPassword(callerOf(req), req.params.name, req.body.password));

  // Live events, as Server-Sent Events, filtered to what the caller may see.
  const streams = new Set<ServerResponse>();
  // Before the server waits for its connections to end: the streams never would.
  app.addHook("preClose", async () => { for (const r of streams) r.end(); });
  app.get("/api/events", { schema: { description: "live events as Server-Sent Events, each message a JSON array of events: devices heard from or gone, recordings committed, alarms (filtered to the caller's scope)" } }, async (req: FastifyRequest, reply: FastifyReply) => {
    const raw = reply.raw;
    // Events are sent in batches, at most one message every BATCH_MS: a thousand devices' heartbeats
    // a second become a few dozen messages for the page to handle, not a thousand.
    let batch: unknown[] = [];
    let timer: NodeJS.Timeout | null = null;
    const flush = () => { timer = null; const b = batch; batch = []; if (b.length && !raw.destroyed) raw.write(`data: ${JSON.stringify(b)}\n\n`); };
    const stop = await s.events.subscribe(callerOf(req), (ev) => {
      batch.push(ev);
      if (!timer) timer = setTimeout(flush, BATCH_MS);
    });
    reply.hijack();
    raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", "x-content-type-options": "nosniff", "content-security-policy": CSP, connection: "keep-alive" });
    raw.write(": live\nretry: 3000\n\n");
    streams.add(raw);
    const beat = setInterval(() => raw.write(": beat\n\n"), HEARTBEAT_MS);
    beat.unref();
    const end = () => { clearInterval(beat); if (timer) clearTimeout(timer); stop(); streams.delete(raw); };
    raw.on("close", end);
    raw.on("error", end);
  });
}
