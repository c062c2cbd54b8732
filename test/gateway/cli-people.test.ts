// The admin CLI as station staff meet it: it acts as the account its token proves, roles enforced
// as in the API; unknown commands and bad input answered with a reason; output people can read,
// in Chinese or English, and CSV or JSON for programs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "evrec-cli2-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const exec = async (file: string, args: string[], env: Record<string, string> = {}) => {
  try {
    const r = await run(process.execPath, ["--import", "tsx", file, ...args], { env: { ...process.env, LANG: "C.UTF-8", LC_ALL: "", ...env } });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
};
const admin = (...args: string[]) => exec("gateway/cli.ts", [...args, "--data-dir", dir]);

beforeAll(async () => {
  expect((await admin("unit", "add", "Agency A", "agency")).code).toBe(0);
  expect((await admin("officer", "add", "E1", "Zhang San", "--unit", "1", "--role", "enforcement", "--cert", "ZF-1", "--valid-from", "2024-01-01", "--valid-to", "2030-12-31")).code).toBe(0);
  expect((await admin("account", "add", "off1", "officer", "--badge", "E1")).code).toBe(0);
  writeFileSync(join(dir, "off1.token"), (await admin("token", "issue", "off1")).out.trim() + "\n", { mode: 0o600 });
  expect((await admin("device", "add", "BWC-C001", "--root-out", join(dir, "c001.root"))).code).toBe(0);
});

describe("3: the CLI acts as a real account", () => {
  it("refuses --as, and an officer's token can't revoke a device (ROLE_FORBIDDEN), as in the API", async () => {
    const as = await admin("--as", "nobody", "device", "list");
    expect(as.code).toBe(2);
    expect(as.err).toContain("--as");
    const r = await admin("device", "revoke", "BWC-C001", "--reason", "just because", "--token-file", join(dir, "off1.token"));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^admin: ROLE_FORBIDDEN: /m);
    // In Chinese: the meaning the console gives the code, the gateway's own words beside it.
    const zh = await admin("device", "revoke", "BWC-C001", "--reason", "just because", "--token-file", join(dir, "off1.token"), "--lang", "zh");
    expect(zh.err).toBe(`admin: ROLE_FORBIDDEN: 您的角色无权进行此操作 (${r.err.replace(/^admin: ROLE_FORBIDDEN: /, "").trim()})\n`);
    const bad = await admin("device", "list", "--token-file", join(dir, "c001.root"));
    expect(bad.err).toMatch(/^admin: AUTH_BAD_TOKEN: /m);
  });
});

describe("7, 9: help, unknown commands, bad input", () => {
  it("lists activity kinds and categories in the help, in English and in Chinese", async () => {
    const en = await admin("--help");
    expect(en.code).toBe(0);
    for (const w of ["seizure (FULL)", "hearing (KEY_STEPS)", "compulsion", "--policy", "--room", "ISO 8601"]) expect(en.out).toContain(w);
    const zh = await exec("gateway/cli.ts", ["--help"], { LANG: "zh_CN.UTF-8" });
    expect(zh.out).toContain("用法");
    expect(zh.out).toContain("seizure (FULL)");
    expect((await admin("--help", "--lang", "zh")).out).toContain("命令");
  });

  it("exits 2 with the usage on an unknown command", async () => {
    const r = await admin("frobnicate");
    expect(r.code).toBe(2);
    expect(r.err).toContain("Usage: npm run admin");
  });

  it("answers --from tomorrow with BAD_TIME asking for ISO 8601, and siezure with BAD_ACTIVITY", async () => {
    const t = await admin("case", "add", "K-1", "--unit", "1", "--category", "compulsion", "--activity", "seizure", "--from", "tomorrow", "--to", "2026-03-02");
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/^admin: BAD_TIME: .*ISO 8601/m);
    const k = await admin("case", "add", "K-1", "--unit", "1", "--category", "compulsion", "--activity", "siezure", "--from", "2026-03-01T09:00", "--to", "2026-03-01T12:00");
    expect(k.err).toMatch(/^admin: BAD_ACTIVITY: /m);
  });

  it("refuses an option the help names nowhere, and a data directory that is not a station's, before touching anything", async () => {
    // A typo'd option would take the next word, here --data-dir, as its value.
    const typo = await exec("gateway/cli.ts", ["unit", "list", "--bogus", "--data-dir", dir]);
    expect(typo).toMatchObject({ code: 2, err: expect.stringMatching(/^admin: USAGE: unknown option --bogus \(see --help\)/m) });
    const nowhere = join(dir, "no-such-station");
    const missing = await exec("gateway/cli.ts", ["unit", "list", "--data-dir", nowhere]);
    expect(missing).toMatchObject({ code: 1, err: expect.stringMatching(/^admin: DATA_DIR_MISSING: no data directory .*no-such-station: give the --data-dir the gateway runs with/m) });
    expect(existsSync(nowhere)).toBe(false);
    const file = await exec("gateway/cli.ts", ["unit", "list", "--data-dir", join(dir, "c001.root")]);
    expect(file).toMatchObject({ code: 1, err: expect.stringMatching(/^admin: DATA_DIR_NOT_DIR: /m) });
    for (const r of [typo, missing, file]) expect(r.err).not.toContain("    at ");
  });

  it("refuses a name holding a control character, and writes a name a spreadsheet would run as a formula as text in CSV", async () => {
    const esc = await admin("unit", "add", "Red\u001b[31m unit", "agency");
    expect(esc).toMatchObject({ code: 1, err: expect.stringMatching(/^admin: BAD_INPUT: unit name holds a control character \(U\+001B\)/m) });
    expect((await admin("unit", "add", "Two\nlines", "agency")).err).toMatch(/U\+000A/);
    expect((await admin("unit", "add", '=HYPERLINK("http://x.example","open")', "agency")).code).toBe(0);
    const csv = (await admin("unit", "list", "--csv")).out;
    expect(csv).toContain(`"'=HYPERLINK(""http://x.example"",""open"")"`);
    expect(csv).not.toMatch(/(^|,)=HYPERLINK/m);
    expect((await admin("unit", "list")).out).not.toContain("\u001b");
  });

  it("registers no device whose root secret it can't write, and writes none over a file", async () => {
    writeFileSync(join(dir, "taken.root"), "old\n");
    const taken = await admin("device", "add", "BWC-C002", "--root-out", join(dir, "taken.root"));
    expect(taken).toMatchObject({ code: 1, err: expect.stringMatching(/^admin: ROOT_OUT_EXISTS: .*taken\.root exists/m) });
    expect(readFileSync(join(dir, "taken.root"), "utf8")).toBe("old\n");
    const nodir = await admin("device", "add", "BWC-C002", "--root-out", join(dir, "no-dir", "x.root"));
    expect(nodir).toMatchObject({ code: 1, err: expect.stringMatching(/^admin: ROOT_OUT_UNWRITABLE: /m) });
    expect((await admin("device", "list", "--json")).out).not.toContain("BWC-C002");
    // A device refused by the registry leaves no empty secret file behind.
    const dup = await admin("device", "add", "BWC-C001", "--root-out", join(dir, "dup.root"));
    expect(dup.code).toBe(1);
    expect(existsSync(join(dir, "dup.root"))).toBe(false);
    expect((await admin("device", "add", "BWC-C002", "--root-out", join(dir, "c002.root"))).code).toBe(0);
    expect(readFileSync(join(dir, "c002.root"), "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
  });

  it("says a taken port in one line with PORT_IN_USE, not a stack trace", async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    const port = (busy.address() as { port: number }).port;
    const d2 = mkdtempSync(join(tmpdir(), "evrec-port-"));
    try {
      // As an operator starts it (npm start runs bin/evrec-gateway).
      const r = await run("bin/evrec-gateway", ["--data-dir", d2, "--host", "127.0.0.1", "--mqtt-port", String(port), "--http-port", "0", "--log-level", "silent"])
        .then(() => ({ code: 0, err: "" }), (e: { code: number; stderr: string }) => ({ code: e.code, err: e.stderr }));
      expect(r.code).toBe(2);
      expect(r.err.trim()).toMatch(/^gateway: PORT_IN_USE: 127\.0\.0\.1:\d+ is in use/);
      expect(r.err).not.toContain("    at ");
    } finally {
      busy.close();
      rmSync(d2, { recursive: true, force: true });
    }
  });
});

describe("15: output people can read, and machines", () => {
  it("prints a case's window in the station's local time with its duration, no index column; CSV and JSON for programs", async () => {
    expect((await admin("case", "add", "K-2", "--unit", "1", "--category", "compulsion", "--activity", "seizure", "--from", "2026-03-01T09:00", "--to", "2026-03-01T11:30")).code).toBe(0);
    const t = await admin("case", "list");
    expect(t.out).toContain("2026-03-01 09:00:00 → 2026-03-01 11:30:00");
    expect(t.out).toContain("2 h 30 min");
    expect(t.out).not.toContain("(index)");
    expect(t.out).toContain("Asia/Shanghai");
    const csv = (await admin("case", "list", "--csv")).out.split("\r\n");
    expect(csv[0].split(",")).toEqual(expect.arrayContaining(["number", "windowStart", "windowStartIso"]));
    expect(csv[1]).toContain("2026-03-01T09:00:00.000+08:00");
    const json = JSON.parse((await admin("case", "list", "--json")).out);
    expect(json[0]).toMatchObject({ number: "K-2", windowStart: Date.parse("2026-03-01T01:00:00Z"), windowStartIso: "2026-03-01T09:00:00.000+08:00" });
    const zh = await admin("case", "list", "--lang", "zh");
    expect(zh.out).toContain("案号");
  });

  it("rolls the fleet ratio up with the unit's own ratio, and coverage with percentages to one decimal", async () => {
    expect((await admin("unit", "ratio", "1", "3", "--reason", "busy unit")).code).toBe(0);
    const r = await admin("ratios");
    expect(r.out).toContain("1:3");
    const cov = await admin("coverage");
    expect(cov.out).toMatch(/0\.0 %/);
    expect(cov.out).not.toMatch(/\d\.\d{2,} %/);
  });
});
