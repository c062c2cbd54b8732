// The console's sign-in as an attacker would try it: passwords stored only as scrypt hashes, a
// session cookie a script can't read and another site can't send, changes refused without the
// session's anti-forgery token or from another origin, guessing slowed and audited, sign-out final.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { testGateway } from "../gateway/harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import type { Caller } from "../../gateway/services/index.js";
import { checkPassword, hashPassword } from "../../gateway/services/sessions.js";

let gw: Gateway, close: () => Promise<void>, dir: string, base: string;
const admin: Caller = { name: "admin", role: "admin", officerBadge: null };

beforeAll(async () => {
  ({ gw, close, dir } = await testGateway());
  base = `http://127.0.0.1:${gw.httpPort}`;
  await gw.services.sessions.setPassword(admin, "admin", "correct horse battery");
});
afterAll(() => close());

const signIn = (name: string, password: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/api/session`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ name, password }) });
// Answers whose shape the test itself asserts.
const json = async (r: Response) => (await r.json()) as Record<string, any>;
const cookieOf = (r: Response) => (r.headers.get("set-cookie") ?? "").split(";")[0];

describe("console sign-in", () => {
  it("stores a password as a salted scrypt hash that checks only the right password", async () => {
    const h = await hashPassword("a long pass phrase");
    expect(h).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(h).not.toBe(await hashPassword("a long pass phrase"));
    expect(await checkPassword("a long pass phrase", h)).toBe(true);
    expect(await checkPassword("a long pass phrasf", h)).toBe(false);
  });

  it("refuses a weak password with WEAK_PASSWORD, and another account's password to a non-admin", async () => {
    await expect(gw.services.sessions.setPassword(admin, "admin", "short")).rejects.toMatchObject({ code: "WEAK_PASSWORD" });
    await expect(gw.services.sessions.setPassword(admin, "admin", "aaaaaaaaaaaa")).rejects.toMatchObject({ code: "WEAK_PASSWORD" });
    await expect(gw.services.sessions.setPassword({ name: "x", role: "supervisor", officerBadge: "B1" }, "admin", "correct horse battery")).rejects.toMatchObject({ code: "ROLE_FORBIDDEN" });
  });

  it("gives an HttpOnly, SameSite=Strict session cookie that works for reads, and audits the sign-in", async () => {
    const r = await signIn("admin", "correct horse battery");
    expect(r.status).toBe(200);
    const sc = r.headers.get("set-cookie")!;
    expect(sc).toMatch(/^evrec_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const body = await json(r);
    expect(body).toMatchObject({ name: "admin", role: "admin", timeZone: "Asia/Shanghai", gateway: "station" });
    expect(body.csrf).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const me = await fetch(`${base}/api/me`, { headers: { cookie: cookieOf(r) } });
    expect(await json(me)).toMatchObject({ name: "admin", role: "admin" });
    const audit = await gw.services.audit.list(admin, { action: "signin" });
    expect(audit[0]).toMatchObject({ actor: "admin", action: "signin", target: "admin" });
  });

  it("refuses a change made with the cookie but without the session's token, or from another origin (CSRF)", async () => {
    const r = await signIn("admin", "correct horse battery");
    const cookie = cookieOf(r);
    const { csrf } = await json(r);
    const change = (headers: Record<string, string>) => fetch(`${base}/api/units`, { method: "POST", headers: { "content-type": "application/json", cookie, ...headers }, body: JSON.stringify({ name: "Bureau", level: "city" }) });
    let x = await change({});
    expect(x.status).toBe(403);
    expect((await json(x)).error).toBe("CSRF");
    x = await change({ "x-csrf-token": csrf, origin: "https://evil.example" });
    expect((await json(x)).error).toBe("CSRF");
    x = await change({ "x-csrf-token": csrf, "sec-fetch-site": "cross-site" });
    expect((await json(x)).error).toBe("CSRF");
    x = await change({ "x-csrf-token": csrf, origin: base });
    expect(x.status).toBe(201);
    // A sign-in posted from another site is refused too.
    expect((await json(await signIn("admin", "correct horse battery", { origin: "https://evil.example" }))).error).toBe("CSRF");
  });

  it("answers every page and API call with a strict Content-Security-Policy", async () => {
    const r = await fetch(`${base}/api/health`);
    const csp = r.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(r.headers.get("x-frame-options")).toBe("DENY");
  });

  it("says the same for an unknown name and a wrong password, audits each failure, and locks a name after 5 in 15 minutes", async () => {
    await gw.services.sessions.setPassword(admin, "admin", "correct horse battery");
    const a = await signIn("nobody", "whatever it is");
    const b = await signIn("admin", "wrong horse battery");
    expect(a.status).toBe(401);
    const ja = await json(a), jb = await json(b);
    expect(ja.error).toBe("SIGNIN_FAILED");
    expect(jb).toEqual({ ...ja });
    for (let i = 0; i < 4; i++) expect((await signIn("admin", "wrong horse battery")).status).toBe(401);
    const locked = await signIn("admin", "correct horse battery");
    expect(locked.status).toBe(429);
    expect((await json(locked)).error).toBe("SIGNIN_LOCKED");
    const failed = await gw.services.audit.list(admin, { action: "signin.failed", limit: 100 });
    expect(failed.filter((e) => e.target === "admin").length).toBe(5);
    expect(failed[0].actor).toBe("(sign-in)");
    expect((await gw.services.audit.list(admin, { action: "signin.locked" })).length).toBe(1);
  });

  it("ends the session at sign-out: the same cookie is refused afterwards", async () => {
    // A fresh gateway's limiter would be clean; here the name is locked, so sign in as another admin.
    await gw.services.accounts.add(admin, "chen", "admin");
    await gw.services.sessions.setPassword(admin, "chen", "another good phrase");
    const r = await signIn("chen", "another good phrase");
    const cookie = cookieOf(r);
    const { csrf } = await json(r);
    const out = await fetch(`${base}/api/session`, { method: "DELETE", headers: { cookie, "x-csrf-token": csrf } });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    const after = await fetch(`${base}/api/me`, { headers: { cookie } });
    expect(after.status).toBe(401);
    expect((await json(after)).error).toBe("SESSION_ENDED");
    expect((await gw.services.audit.list(admin, { action: "signout" }))[0]).toMatchObject({ actor: "chen" });
  });

  it("sets a password from the CLI, read from standard input and audited without it", async () => {
    await gw.services.accounts.add(admin, "wang", "admin");
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const p = execFile(process.execPath, ["--import", "tsx", "gateway/cli.ts", "account", "password", "wang", "--data-dir", dir], (e, stdout, stderr) => resolve({ code: e ? (e as { code: number }).code : 0, stdout, stderr }));
      p.stdin!.end("the third phrase\n");
    });
    // The gateway holds the data directory's lock; the CLI works beside it as it does for a station.
    expect(out.stderr + out.stdout).toContain("wang");
    expect(out.code).toBe(0);
    expect((await signIn("wang", "the third phrase")).status).toBe(200);
    const e = (await gw.services.audit.list(admin, { action: "account.password", target: "wang" }))[0];
    expect(e.actor).toBe("admin");
    expect(JSON.stringify(e)).not.toContain("third phrase");
  });
});
