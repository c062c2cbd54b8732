// The offline verifier's words in Chinese: every message a finding can carry has its Chinese,
// with nothing of it left in English but the values it is given and the names of formats; the
// verifier takes --lang zh as the admin CLI does, and helps in Chinese; times always carry their offset.
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { MESSAGES, render } from "../../verifier/messages.js";
import type { MessageKey } from "../../verifier/messages.js";
import { formatTime } from "../../protocol/time.js";

const run = promisify(execFile);

describe("the verifier's messages", () => {
  it("each reads in Chinese, its values aside", () => {
    for (const key of Object.keys(MESSAGES) as MessageKey[]) {
      const zh = render({ key, args: {} }, { lang: "zh-CN", timeZone: "Asia/Shanghai" });
      const words = zh.replace(/--[\w-]+/g, "").replace(/\b(SHA-256|ZIP|WAV|JPEG|C2PA|RFC|UTC|data|base64|bundle\.json|c2pa\.created)\b/g, "").match(/[A-Za-z]{3,}/g) ?? [];
      expect(words, `${key}: ${zh}`).toEqual([]);
    }
  });

  it("says a time in the station's zone with its offset, or in UTC with +00:00 when no zone is known", () => {
    const t = Date.UTC(2026, 2, 1, 1, 30, 0);
    expect(formatTime(t, "Asia/Shanghai")).toBe("2026-03-01 09:30:00 UTC+08:00");
    // Summer time in New York: the offset of that instant, not of the zone's winter.
    expect(formatTime(Date.UTC(2026, 6, 1, 16, 0, 0), "America/New_York")).toBe("2026-07-01 12:00:00 UTC-04:00");
    expect(formatTime(t, null)).toBe("2026-03-01 01:30:00 UTC+00:00");
    expect(formatTime(t, "Mars/Olympus")).toBe("2026-03-01 01:30:00 UTC+00:00");
  });
});

describe("verify --lang", () => {
  const verify = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, ["--import", "tsx", "verifier/cli.ts", ...args]);
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  };

  it("takes zh as the admin CLI does, and refuses a language it does not speak with a reason", async () => {
    const zh = await verify("no-such-bundle.zip", "--lang", "zh");
    expect(zh.err).toMatch(/^verify: FILE_NOT_FOUND: /m);
    const fr = await verify("no-such-bundle.zip", "--lang", "fr");
    expect(fr).toMatchObject({ code: 2, err: expect.stringMatching(/^verify: USAGE: --lang is en or zh \(zh-CN\), got "fr"/m) });
  });

  it("helps and refuses bad usage in Chinese for a Chinese reader", async () => {
    const help = await verify("--help", "--lang", "zh");
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^用法: verify 文件/);
    expect(help.out).toMatch(/退出码/);
    const none = await verify("--lang", "zh");
    expect(none).toMatchObject({ code: 2, err: expect.stringMatching(/^verify: USAGE: 请指定一个导出包文件\n用法/) });
  });
});
