// The console's session on the wire: the cookie (HttpOnly, SameSite=Strict, Secure over HTTPS),
// the checks against cross-site forgery, and the headers every answer carries, the console's
// Content-Security-Policy among them.
import { timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { GatewayError } from "../errors.js";
import { SESSION_MAX_MS } from "../services/sessions.js";

export const COOKIE = "evrec_session";
export const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Only the console's own files: its script and style from this origin, no inline script or style,
 * no eval (WebAssembly compiled for the in-browser verifier's C2PA check is allowed), no plugins,
 * no framing, requests to this origin only, forms posting nowhere else.
 */
export const CSP = [
  "default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
  "media-src 'self' blob:", "connect-src 'self'", "font-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
].join("; ");

/** The session cookie's value, if the request has one. */
export function sessionCookie(req: FastifyRequest): string | null {
  const h = req.headers.cookie;
  if (!h) return null;
  for (const part of h.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === COOKIE) {
      const v = part.slice(i + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(v) ? v : null;
    }
  }
  return null;
}

/** Set-Cookie for a new session, or (value null) one that ends it. */
export function cookieHeader(value: string | null, secure: boolean): string {
  const attrs = `Path=/; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
  return value === null ? `${COOKIE}=; ${attrs}; Max-Age=0` : `${COOKIE}=${value}; ${attrs}; Max-Age=${SESSION_MAX_MS / 1000}`;
}

/** Does the request come from this origin? A browser says so in Origin and Sec-Fetch-Site; a tool may say nothing. */
export function checkOrigin(req: FastifyRequest): void {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") throw new GatewayError("CSRF", `a request from another site (${String(site)}) can't act in the console`);
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try { host = new URL(origin).host; } catch { host = ""; }
  if (host !== req.headers.host) throw new GatewayError("CSRF", "a request from another origin can't act in the console");
}

/** A change made with a session cookie: from this origin, with the session's anti-forgery token (x-csrf-token). */
export function checkForgery(req: FastifyRequest, csrf: string): void {
  checkOrigin(req);
  const got = Buffer.from(String(req.headers["x-csrf-token"] ?? ""));
  const want = Buffer.from(csrf);
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new GatewayError("CSRF", "a change made from the console carries its session's token (x-csrf-token): reload the page");
}

export function securityHeaders(reply: FastifyReply): void {
  reply.header("x-content-type-options", "nosniff");
  reply.header("x-frame-options", "DENY");
  reply.header("referrer-policy", "no-referrer");
  reply.header("content-security-policy", CSP);
  reply.header("cross-origin-opener-policy", "same-origin");
}
