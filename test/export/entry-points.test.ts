// Approvals and exports through the API and the admin CLI, as station staff use them: a request,
// an approval by the designated approver (not by the requester, nor by someone not designated),
// the bundle streamed from the API verifies; the CLI writes a bundle only with a grant and prints
// custody per recording and per account, as CSV too. The verifier's audit entry hash is the
// audit log's own.
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { execFile, spawn } from "node:child_process";
import { request } from "node:http";
import type { IncomingMessage } from "node:http";
import { promisify } from "node:util";
import { createHash, randomBytes } from "node:crypto";
import { grant, readZip, station } from "./helpers.js";
import { isoLocal } from "../../protocol/time.js";
import { provision, streamSealed } from "../gateway/harness.js";
import { until } from "../helpers/wait.js";
import { INTERRUPTED_AFTER_MS } from "../../gateway/services/exports.js";
import type { Station } from "./helpers.js";
import { verifyBundle } from "../../verifier/verify.js";
import { auditEntryHash } from "../../protocol/audit-entry.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");
let s: Station;
let tmp: string;
let base: string;
const tokens: Record<string, string> = {};
let lastExport: { id: string; bytes: Buffer; grant: number } | null = null;

const api = (who: string, path: string, body?: unknown) => fetch(base + path, {
  method: body === undefined ? "GET" : "POST",
  headers: { authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
  body: body === undefined ? undefined : JSON.stringify(body),
});
const admin = (...args: string[]) => run(process.execPath, ["--import", "tsx", "gateway/cli.ts", ...args, "--data-dir", s.dir]).then((r) => ({ code: 0, ...r }), (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }));

beforeAll(async () => {
  s = await station();
  tmp = mkdtempSync(join(tmpdir(), "evrec-entry-"));
  base = `http://127.0.0.1:${s.gw.httpPort}`;
  tokens.admin = readFileSync(join(s.dir, "admin.token"), "utf8").trim();
  tokens.reviewer = await s.gw.accounts.issueToken("reviewer");
  tokens.approver = await s.gw.accounts.issueToken("approver");
}, 60000);

afterAll(async () => {
  await s?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("the API", () => {
  it("takes a request, refuses a decision by the requester or by an account not designated, and streams a bundle that verifies once approved", async () => {
    const noGrant = await api("reviewer", "/api/exports", { recording: { device: "BWC-E2", recording: 1 }, reason: "court order 2025-17" });
    expect(noGrant.status).toBe(403);
    expect(await noGrant.json()).toMatchObject({ error: "NO_GRANT" });
    const req = await api("reviewer", "/api/approvals", { kind: "export", items: [{ device: "BWC-E2", recording: 1 }], reason: "court order 2025-17", hours: 4 });
    expect(req.status).toBe(201);
    const { id } = await req.json() as { id: number };
    expect((await api("reviewer", `/api/approvals/${id}/approve`, { reason: "self" })).status).toBe(403);
    expect(await (await api("admin", `/api/approvals/${id}/approve`, { reason: "not designated" })).json()).toMatchObject({ error: "NOT_RELEASE_APPROVER" });
    const queue = await (await api("approver", "/api/approvals?state=pending")).json() as { id: number }[];
    expect(queue.map((q) => q.id)).toContain(id);
    const ok = await api("approver", `/api/approvals/${id}/approve`, { reason: "release to the court" });
    expect(await ok.json()).toMatchObject({ state: "approved", decidedBy: "approver" });
    const res = await api("reviewer", "/api/exports", { recording: { device: "BWC-E2", recording: 1 }, reason: "court order 2025-17" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    const exportId = res.headers.get("x-export-id")!;
    const file = join(tmp, "api.zip");
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const r = await verifyBundle(file, { stationKey: s.gw.evidence.identity.verifierKey });
    expect(r.findings).toEqual([]);
    expect(r.bundle?.id).toBe(exportId);
    const progress = await (await api("reviewer", `/api/exports/${exportId}/progress`)).json();
    expect(progress).toMatchObject({ state: "done", recordings: 1, done: 1 });
    lastExport = { id: exportId, bytes: readFileSync(file), grant: id };
  });

  it("lists the exports made, and hands the same bundle again only to the one who made it, with a reason, while its grant is in force; audited per recording", async () => {
    const { id, bytes, grant } = lastExport!;
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    type Made = { id: string; by: string; target: string; state: string; bytes: number; sha256: string; kept: boolean; grantValidUntil: number };
    const mine = await (await api("reviewer", "/api/exports")).json() as Made[];
    expect(mine.find((m) => m.id === id)).toMatchObject({ by: "reviewer", target: "BWC-E2/1", state: "done", bytes: bytes.length, sha256, kept: true });
    // An admin sees every export made; another account none of the reviewer's.
    expect((await (await api("admin", "/api/exports")).json() as Made[]).map((m) => m.id)).toContain(id);
    expect((await (await api("approver", "/api/exports")).json() as Made[]).map((m) => m.id)).not.toContain(id);
    expect(await (await api("reviewer", `/api/exports/${id}/bundle`)).json()).toMatchObject({ error: "REASON_REQUIRED" });
    const again = await api("reviewer", `/api/exports/${id}/bundle?reason=${encodeURIComponent("the court lost its copy")}`);
    expect(again.status).toBe(200);
    expect(again.headers.get("x-bundle-sha256")).toBe(sha256);
    expect(Buffer.from(await again.arrayBuffer()).equals(bytes)).toBe(true);
    const other = await api("approver", `/api/exports/${id}/bundle?reason=${encodeURIComponent("curious")}`);
    expect(other.status).toBe(403);
    expect(await other.json()).toMatchObject({ error: "NOT_YOUR_EXPORT" });
    const audit = await s.gw.services.audit.list({ name: "admin", role: "admin", officerBadge: null }, { target: "BWC-E2/1", limit: 50 });
    expect(audit.filter((e) => e.action === "recording.download" && e.actor === "reviewer").map((e) => e.reason)).toEqual(["the court lost its copy"]);
    expect((await s.gw.services.audit.list({ name: "admin", role: "admin", officerBadge: null }, { action: "export.denied" })).map((e) => `${e.actor} ${(e.details as { code: string }).code}`)).toEqual(["approver NOT_YOUR_EXPORT"]);
    // A kept bundle that changed on disk is not handed out.
    const kept = join(s.dir, "exports", `${id}.zip`);
    const good = readFileSync(kept);
    const bad = Buffer.from(good);
    bad[bad.length - 40] ^= 1;
    writeFileSync(kept, bad);
    expect(await (await api("reviewer", `/api/exports/${id}/bundle?reason=again`)).json()).toMatchObject({ error: "EXPORT_DAMAGED" });
    writeFileSync(kept, good);
    // Once the grant has ended, a download again is a release without one.
    const validUntil = (await s.gw.approvals.get(grant)).validUntil;
    await s.gw.db.run("UPDATE approvals SET valid_until = ? WHERE id = ?", [Date.now() - 1000, grant]);
    const late = await api("reviewer", `/api/exports/${id}/bundle?reason=${encodeURIComponent("one more copy")}`);
    expect(late.status).toBe(403);
    expect(await late.json()).toMatchObject({ error: "GRANT_EXPIRED" });
    // And the station deletes the kept copy: no copy of the media outlives its release.
    expect(await s.gw.services.exports.dropExpired()).toContain(id);
    expect(existsSync(kept)).toBe(false);
    expect((await (await api("reviewer", "/api/exports")).json() as Made[]).find((m) => m.id === id)).toMatchObject({ kept: false, sha256 });
    expect(await (await api("reviewer", `/api/exports/${id}/bundle?reason=again`)).json()).toMatchObject({ error: "EXPORT_NOT_KEPT" });
    // The grant as it was, for the tests after this one.
    await s.gw.db.run("UPDATE approvals SET valid_until = ? WHERE id = ?", [validUntil, grant]);
  });
});

describe("a view beyond one's scope", () => {
  it("is refused, then allowed with a grant a supervisor of the unit gave, and audited", async () => {
    await s.gw.model.addUnit("Other Agency", "agency");
    await s.gw.model.addOfficer({ badge: "X001", name: "Outsider", unitId: 2, role: "legal_reviewer" });
    await s.gw.accounts.create("outsider", "legal_reviewer", "X001");
    tokens.outsider = await s.gw.accounts.issueToken("outsider");
    const path = "/api/recordings/BWC-E1/1?reason=" + encodeURIComponent("cross-unit review");
    const before = await api("outsider", path);
    expect(before.status).toBe(403);
    expect(await before.json()).toMatchObject({ error: "OUTSIDE_UNIT" });
    const req = await (await api("outsider", "/api/approvals", { kind: "view", items: [{ device: "BWC-E1", recording: 1 }], reason: "cross-unit review", hours: 2 })).json() as { id: number };
    // The designated release approver is a supervisor of the clip's unit too.
    expect(await (await api("approver", `/api/approvals/${req.id}/approve`, { reason: "review approved" })).json()).toMatchObject({ state: "approved" });
    const after = await api("outsider", path);
    expect(after.status).toBe(200);
    expect((await s.gw.audit.list({ action: "recording.view", target: "BWC-E1/1" }))[0]).toMatchObject({ actor: "outsider", reason: "cross-unit review" });
  });
});

describe("the admin CLI", () => {
  it("exports only with a grant, as the account its token proves, and prints custody per recording and per account, as CSV too", async () => {
    const out = join(tmp, "cli.zip");
    const tokenFile = (who: string, token = tokens[who]) => {
      const f = join(tmp, `${who}.token`);
      writeFileSync(f, token + "\n", { mode: 0o600 });
      return f;
    };
    const reviewer = tokenFile("reviewer"), approver = tokenFile("approver");
    const refused = await admin("export", "--recording", "BWC-E1/2", "--reason", "audit by the procuratorate", "--out", out, "--token-file", reviewer);
    expect(refused.code).toBe(1);
    // The reviewer holds a grant, for BWC-E2/1 only.
    expect(refused.stderr).toMatch(/admin: GRANT_SCOPE: no live grant of reviewer covers BWC-E1\/2/);
    expect(existsSync(out)).toBe(false);
    const req = await admin("approval", "request", "--export", "--recording", "BWC-E1/2", "--reason", "audit by the procuratorate", "--token-file", reviewer);
    const id = /approval request (\d+)/.exec(req.stdout)![1];
    expect((await admin("approval", "approve", id, "--reason", "approved", "--token-file", approver)).stdout).toMatch(/approved until/);
    const done = await admin("export", "--recording", "BWC-E1/2", "--reason", "audit by the procuratorate", "--out", out, "--token-file", reviewer);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/1 recording\(s\)/);
    expect(done.stderr).toMatch(/export: 1\/1 recordings/);
    const v = await run(process.execPath, ["--import", "tsx", "verifier/cli.ts", out, "--station-key", s.gw.evidence.identity.verifierKey, "--lang", "en"]);
    expect(v.stdout).toMatch(/PASS\s+file hashes/);
    expect(v.stdout).toMatch(/Result: PASS/);
    const csv = (await admin("custody", "--recording", "BWC-E1/2", "--reason", "custody review", "--csv")).stdout;
    expect(csv.split("\r\n")[0]).toBe("item,at,account,action,reason,detail,proof");
    expect(csv).toMatch(/BWC-E1\/2,[^,]+,reviewer,recording.export,audit by the procuratorate/);
    expect(csv).toMatch(/,admin,link,recorded at the seizure,case C-2025-001,log leaf \d+\r\n/);
    // Where each event is proven, as the bundle's own custody report says.
    const report = JSON.parse((await readZip(out)).find((e) => e.name === "recordings/BWC-E1/2/custody.json")!.data.toString()) as { events: { action: string; proof: string }[] };
    const proofs = (rows: { action: string; proof: string }[]) => rows.filter((r) => r.action === "link" || r.action === "recording.export").map((r) => `${r.action} ${r.proof}`);
    const printed = csv.trim().split("\r\n").slice(1).map((l) => { const c = l.split(","); return { action: c[3], proof: c[c.length - 1] }; });
    expect(proofs(printed)).toEqual(proofs(report.events));
    expect(proofs(printed).every((p) => /log leaf \d+$/.test(p))).toBe(true);
    // Its times, in the bundle's report and on the CLI, the station's (Asia/Shanghai by default) with their offset, never UTC's Z.
    const zoned = (t: string) => t.endsWith(isoLocal(0, s.gw.model.opts.timeZone).slice(-6)) && !/Z$/.test(t);
    const inReport = JSON.parse((await readZip(out)).find((e) => e.name === "recordings/BWC-E1/2/custody.json")!.data.toString()) as { generatedAt: string; events: { at: string; atMs: number; detail: string }[] };
    expect([inReport.generatedAt, ...inReport.events.map((e) => e.at)].every(zoned)).toBe(true);
    for (const e of inReport.events) expect(e.at).toBe(isoLocal(e.atMs, "Asia/Shanghai"));
    expect(inReport.events.map((e) => e.detail).join(" ")).not.toMatch(/\d\dZ\b/);
    expect(printed.length).toBeGreaterThan(0);
    for (const l of csv.trim().split("\r\n").slice(1)) expect(zoned(l.split(",")[1]), l).toBe(true);
    const mine = (await admin("custody", "--account", "reviewer", "--csv")).stdout;
    expect(mine).toMatch(/approval:\d+,[^,]+,reviewer,approval.request/);
    const nobody = await admin("export", "--recording", "BWC-E1/2", "--reason", "x y z", "--out", join(tmp, "n.zip"), "--token-file", tokenFile("nobody", "not-a-token"));
    expect(nobody.stderr).toMatch(/AUTH_BAD_TOKEN/);
    expect(existsSync(join(tmp, "n.zip"))).toBe(false);
  }, 60000);
});

describe("the admin CLI in Chinese", () => {
  it("names every column of its tables in Chinese, and says its times are the station's", async () => {
    // A grant, so that approval list and custody have rows.
    await grant(s, { items: [{ device: "BWC-E2", recording: 1 }] });
    for (const cmd of [["approval", "list"], ["approval", "approvers"], ["custody", "--recording", "BWC-E1/1", "--reason", "核对保管记录"], ["integrity"], ["recording", "list"], ["retention"], ["stats", "--from", "2020-01-01", "--to", "2099-01-01"], ["ratios"], ["account", "list"]]) {
      const r = await admin(...cmd, "--lang", "zh");
      expect(r.code, `${cmd.join(" ")}: ${r.stderr}`).toBe(0);
      const lines = r.stdout.split("\n");
      // The header is the line above the rule of dashes.
      const rule = lines.findIndex((l) => /^-+( +-+)*$/.test(l));
      expect(rule, `${cmd.join(" ")} prints a table`).toBeGreaterThan(0);
      expect(lines[rule - 1].match(/[A-Za-z]{3,}/g) ?? [], `${cmd.join(" ")}: ${lines[rule - 1]}`).toEqual([]);
      for (const l of lines.slice(rule + 1)) expect(l, cmd.join(" ")).not.toMatch(/^\(times in |^audit head /);
    }
    // A yes or no in Chinese too (an officer on duty).
    const officers = (await admin("officer", "list", "--lang", "zh")).stdout;
    expect(officers).toMatch(/^T001 .* 是$/m);
    expect(officers).not.toMatch(/ yes$/m);
    // A legal reviewer's release, asked, approved and exported in Chinese, told in Chinese.
    const file = (who: string) => { const f = join(tmp, `${who}-zh.token`); writeFileSync(f, tokens[who] + "\n", { mode: 0o600 }); return f; };
    const req = await admin("approval", "request", "--export", "--recording", "BWC-E1/1", "--reason", "法院调取证据", "--token-file", file("reviewer"), "--lang", "zh");
    expect(req.stdout).toMatch(/^审批申请 (\d+) \(export\), 对象 BWC-E1\/1: 待审批; 审批人执行: npm run admin -- approval approve \1 --reason/m);
    const id = /^审批申请 (\d+)/m.exec(req.stdout)![1];
    expect((await admin("approval", "approve", id, "--reason", "同意对外提供", "--token-file", file("approver"), "--lang", "zh")).stdout).toMatch(new RegExp(`^审批 ${id}: 已批准, 有效至 \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\(Asia/Shanghai\\)`, "m"));
    const zip = join(tmp, "zh.zip");
    const done = await admin("export", "--recording", "BWC-E1/1", "--reason", "法院调取证据", "--out", zip, "--token-file", file("reviewer"), "--lang", "zh");
    expect(done.stdout).toMatch(/^导出 [0-9a-f]+: 1 段记录, [\d.]+ MiB, 用时 [\d.]+ 秒, 已写入 .*zh\.zip; 核验: npm run verify -- .*zh\.zip --station-key ".+" --lang zh$/m);
    expect((await admin("audit", "verify", "--lang", "zh")).stdout).toMatch(/^审计日志完好 OK: 共 \d+ 条, 日志头 [0-9a-f]{64} \(最后检查点在第 \d+ 条\)$/m);
    // An alarm's kind in words, beside the code alarm clear takes.
    await s.gw.alarms.raise("UPLOAD_OVERDUE", "BWC-E2/1", "not wholly uploaded in time", "BWC-E2");
    // Its words in Chinese where the station kept them as a key and values; an alarm raised with words only, in those.
    await s.gw.alarms.raise("CERT_EXPIRED", "BWC-E2", { key: "certExpired", args: { name: "Li Wei", badge: "T001", device: "BWC-E2", validTo: "2026-01-31" } });
    const listed = (await admin("alarm", "list", "--lang", "zh")).stdout;
    expect(listed).toMatch(/^上传超时 UPLOAD_OVERDUE +BWC-E2\/1 +not wholly uploaded in time /m);
    expect(listed).toMatch(/ BWC-E2 +Li Wei（T001）持有 BWC-E2；执法证有效期至 2026-01-31 /m);
    await s.gw.alarms.clear("UPLOAD_OVERDUE", "BWC-E2/1", "admin", "raised to be listed");
    await s.gw.alarms.clear("CERT_EXPIRED", "BWC-E2", "admin", "raised to be listed");
    // zh-CN as the verifier takes it; a language it does not speak refused with a reason, not ignored.
    expect((await admin("integrity", "--lang", "zh-CN")).stdout).toMatch(/^合计/);
    expect(await admin("integrity", "--lang", "fr")).toMatchObject({ code: 2, stderr: expect.stringMatching(/^admin: USAGE: --lang is zh or en, not "fr"/m) });
  }, 60000);
});

describe("the admin CLI's custody", () => {
  it("reads a recording's custody as a retrieval (a reason, the caller's scope, audited) and an account's only for an admin", async () => {
    const tokenOf = (who: string) => {
      const f = join(tmp, `${who}-custody.token`);
      writeFileSync(f, tokens[who] + "\n", { mode: 0o600 });
      return ["--token-file", f];
    };
    const mine = await admin("custody", "--recording", "BWC-E1/2", "--reason", "checking the trail", ...tokenOf("reviewer"));
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stdout).toContain("recording.export");
    const [read] = await s.gw.audit.list({ action: "recording.custody", target: "BWC-E1/2", limit: 1 });
    expect(read).toMatchObject({ actor: "reviewer", reason: "checking the trail" });
    expect((await admin("custody", "--recording", "BWC-E1/2", ...tokenOf("reviewer"))).stderr).toMatch(/admin: REASON_REQUIRED: /);
    // Another unit's reviewer, with no grant for this recording, sees nothing of it; the denial is audited.
    expect((await admin("custody", "--recording", "BWC-E1/2", "--reason", "curious", ...tokenOf("outsider"))).stderr).toMatch(/admin: OUTSIDE_UNIT: /);
    expect((await s.gw.audit.list({ action: "recording.denied", target: "BWC-E1/2", limit: 1 }))[0]).toMatchObject({ actor: "outsider", reason: "curious" });
    // An account's trail is its audit entries: the admin's to read.
    expect((await admin("custody", "--account", "approver", ...tokenOf("reviewer"))).stderr).toMatch(/admin: ROLE_FORBIDDEN: /);
  }, 60000);
});

describe("the admin CLI and the verifier run through npm", () => {
  it("take the paths typed on the command line from the folder they were typed in, not the project's", async () => {
    // The reviewer works in a case folder outside the project: its token file there, the bundle written there, verified there.
    const folder = join(tmp, "case-folder");
    mkdirSync(folder);
    writeFileSync(join(folder, "reviewer.token"), tokens.reviewer + "\n", { mode: 0o600 });
    const npm = (...args: string[]) => run("npm", ["--prefix", ROOT, "run", "-s", ...args], { cwd: folder }).then((r) => ({ code: 0, ...r }), (e) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }));
    const made = await npm("admin", "--", "export", "--recording", "BWC-E2/1", "--reason", "court order 2025-17", "--out", "case.zip", "--token-file", "reviewer.token", "--data-dir", relative(folder, s.dir));
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toContain(`written to ${join(folder, "case.zip")}`);
    expect(existsSync(join(folder, "case.zip"))).toBe(true);
    expect(existsSync(join(ROOT, "case.zip"))).toBe(false);
    const v = await npm("verify", "--", "case.zip", "--station-key", s.gw.evidence.identity.verifierKey, "--lang", "en");
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/Result: PASS/);
  }, 60000);
});

describe("the audit entry hash an offline verifier recomputes", () => {
  it("is the audit log's own", async () => {
    for (const e of await s.gw.audit.list({ limit: 20 })) {
      const row = { seq: e.seq, at: e.at, actor: e.actor, action: e.action, target: e.target, reason: e.reason, details: e.details === null ? null : JSON.stringify(e.details), prev: e.prev };
      const stored = await s.gw.db.get<{ details: string | null }>("SELECT details FROM audit_log WHERE seq = ?", [e.seq]);
      row.details = stored!.details;
      expect(auditEntryHash(sha, row)).toBe(e.hash);
    }
  });
});

describe("a kept bundle", () => {
  it("is kept for an export the CLI made too, and deleted once a record in it is erased", async () => {
    type Made = { id: string; target: string; state: string; sha256: string; kept: boolean };
    const made = (await (await api("reviewer", "/api/exports")).json() as Made[]).find((m) => m.target === "BWC-E1/2")!;
    expect(made).toMatchObject({ state: "done", kept: true });
    const kept = join(s.dir, "exports", `${made.id}.zip`);
    expect(createHash("sha256").update(readFileSync(kept)).digest("hex")).toBe(made.sha256);
    await s.gw.db.run("UPDATE recordings SET purge_state = 'purged' WHERE device_id = 'BWC-E1' AND recording_id = 2");
    try {
      expect(await (await api("reviewer", `/api/exports/${made.id}/bundle?reason=${encodeURIComponent("a copy for the file")}`)).json()).toMatchObject({ error: "PURGED" });
      expect(await s.gw.services.exports.dropExpired()).toEqual([made.id]);
      expect(existsSync(kept)).toBe(false);
      const dropped = await s.gw.services.audit.list({ name: "admin", role: "admin", officerBadge: null }, { action: "export.dropped", target: `export:${made.id}` });
      expect(dropped.map((e) => e.actor)).toEqual(["station"]);
    } finally {
      await s.gw.db.run("UPDATE recordings SET purge_state = 'kept' WHERE device_id = 'BWC-E1' AND recording_id = 2");
    }
  });
});

describe("an export whose writer stops mid-bundle", () => {
  type Made = { id: string; state: string; kept: boolean; sha256: string | null };
  const listed = async (id: string) => (await (await api("reviewer", "/api/exports")).json() as Made[]).find((m) => m.id === id)!;
  let exportsDir: string;
  const parts = () => readdirSync(exportsDir).filter((f) => f.endsWith(".zip.partial"));
  const interrupted = (id: string) => s.gw.services.audit.list({ name: "admin", role: "admin", officerBadge: null }, { action: "export.interrupted", target: `export:${id}` });

  beforeAll(async () => {
    // A recording of 6 MiB, so its bundle takes a while to write, and a grant to export it.
    const d = await provision(s.gw, "BWC-E3");
    const unit = (await s.gw.db.get<{ unit_id: number }>("SELECT unit_id FROM devices WHERE id = 'BWC-E1'"))!.unit_id;
    await s.gw.model.setDeviceUnit("BWC-E3", unit);
    await streamSealed(d, d.recording(1, Array.from({ length: 96 }, () => randomBytes(65536))));
    await d.end();
    const grant = await s.gw.approvals.request(s.reviewer, { kind: "export", items: [{ device: "BWC-E3", recording: 1 }], reason: "court order 2025-31", hours: 4 });
    await s.gw.approvals.approve(s.approver, grant.id, "release to the court");
    writeFileSync(join(tmp, "reviewer-kill.token"), tokens.reviewer + "\n", { mode: 0o600 });
    exportsDir = join(s.dir, "exports");
    mkdirSync(exportsDir, { recursive: true, mode: 0o700 });
  }, 60000);

  /** The admin CLI exporting the recording, killed with SIGKILL as soon as its kept copy's part appears: the export's id and its part. */
  let killed = 0;
  async function killedExport(): Promise<{ id: string; part: string; out: string }> {
    const before = new Set(readdirSync(exportsDir));
    // A file of its own: the one a killed CLI was writing stays where it was.
    const out = join(tmp, `killed-${++killed}.zip`);
    const seen = new Promise<void>((resolve) => {
      const w = watch(exportsDir, () => {
        if (parts().some((f) => !before.has(f))) { w.close(); resolve(); }
      });
    });
    const cli = spawn(process.execPath, ["--import", "tsx", "gateway/cli.ts", "export", "--recording", "BWC-E3/1", "--reason", "court order 2025-31", "--out", out, "--token-file", join(tmp, "reviewer-kill.token"), "--data-dir", s.dir], { stdio: "ignore" });
    const exited = new Promise<string | null>((resolve) => cli.once("exit", (_code, signal) => resolve(signal)));
    await Promise.race([seen, exited]);
    cli.kill("SIGKILL");
    expect(await exited, "the CLI killed while it wrote the bundle, not after").toBe("SIGKILL");
    const part = parts().filter((f) => !before.has(f));
    expect(part).toHaveLength(1);
    const id = part[0].slice(0, 32);
    expect(await listed(id)).toMatchObject({ state: "writing", kept: false });
    return { id, part: join(exportsDir, part[0]), out };
  }

  it("is marked failed as soon as its writer is known gone (the admin CLI killed), and the part of the bundle it left is deleted", async () => {
    const { id, part, out } = await killedExport();
    // The same export again to the same file, its part still there: refused before anything is
    // audited or recorded, saying what to do.
    const made = async () => [(await s.gw.db.all("SELECT id FROM exports")).length, (await s.gw.audit.list({ action: "recording.export", target: "BWC-E3/1" })).length];
    const before = await made();
    const again = await run(process.execPath, ["--import", "tsx", "gateway/cli.ts", "export", "--recording", "BWC-E3/1", "--reason", "court order 2025-31", "--out", out, "--token-file", join(tmp, "reviewer-kill.token"), "--data-dir", s.dir]).catch((e: { code: number; stderr: string }) => e);
    expect(again).toMatchObject({ code: 1, stderr: expect.stringMatching(/OUT_BUSY: .*killed-\d+\.zip\.partial exists: another export to .* is running, or one was cut short/) });
    expect(await made()).toEqual(before);
    const custody = async () => (await run(process.execPath, ["--import", "tsx", "gateway/cli.ts", "custody", "--recording", "BWC-E3/1", "--reason", "custody review", "--csv", "--data-dir", s.dir])).stdout;
    expect(await custody()).toMatch(new RegExp(`${id}[^\r\n]*\\(this export is being written\\)`));
    expect(await s.gw.services.exports.dropInterrupted()).toEqual([id]);
    expect(existsSync(part)).toBe(false);
    expect(await listed(id)).toMatchObject({ state: "failed", kept: false });
    // The recording's custody says the export it lists was not written whole.
    expect(await custody()).toMatch(new RegExp(`${id}[^\r\n]*\\(this export failed: its bundle was not written whole\\)`));
    const noted = await interrupted(id);
    expect(noted.map((e) => e.actor)).toEqual(["station"]);
    expect(noted[0].reason).toMatch(/not written to the end/);
  }, 60000);

  it("written by a process this one can't see (on another host), is marked failed once its part has not grown for a while", async () => {
    const { id, part } = await killedExport();
    await s.gw.db.run("UPDATE exports SET writer = ? WHERE id = ?", [JSON.stringify({ host: "another-station-host", pid: 4242, start: "1" }), id]);
    // Just stopped: its writer may still be at it.
    expect(await s.gw.services.exports.dropInterrupted()).toEqual([]);
    expect(existsSync(part)).toBe(true);
    // Untouched for longer than a live writer ever pauses: its writer is gone.
    const then = (Date.now() - INTERRUPTED_AFTER_MS - 60e3) / 1000;
    utimesSync(part, then, then);
    expect(await s.gw.services.exports.dropInterrupted()).toEqual([id]);
    expect(existsSync(part)).toBe(false);
    expect(await listed(id)).toMatchObject({ state: "failed", kept: false });
    expect((await interrupted(id)).map((e) => e.actor)).toEqual(["station"]);
  }, 60000);

  it("is left to its writer while that runs, however long its reader pauses: the bundle whole once read on", async () => {
    const before = new Set(readdirSync(exportsDir));
    // A reader that takes the first bytes and pauses (a node:http response, paused: the body of a fetch reads ahead).
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(base + "/api/exports", { method: "POST", headers: { authorization: `Bearer ${tokens.reviewer}`, "content-type": "application/json" } }, resolve);
      req.once("error", reject);
      req.end(JSON.stringify({ recording: { device: "BWC-E3", recording: 1 }, reason: "court order 2025-31" }));
    });
    onTestFinished(() => { res.destroy(); });
    expect(res.statusCode).toBe(200);
    const id = String(res.headers["x-export-id"]);
    const got: Buffer[] = [];
    await new Promise<void>((resolve) => res.once("data", (c: Buffer) => { got.push(c); res.pause(); resolve(); }));
    // The reader pauses; its writer (this gateway) writes the kept copy as far as it can and waits
    // for it, the part untouched for 16 minutes as far as its time says.
    await until("the kept copy's part", () => parts().some((f) => !before.has(f)), 10000);
    const part = join(exportsDir, `${id}.zip.partial`);
    let size = -1;
    await until("the part to stop growing", async () => {
      const was = size;
      await new Promise((r) => setTimeout(r, 300));
      size = statSync(part).size;
      return size === was;
    }, 20000);
    expect(await listed(id)).toMatchObject({ state: "writing" });
    const then = (Date.now() - INTERRUPTED_AFTER_MS - 60e3) / 1000;
    utimesSync(part, then, then);
    expect(await s.gw.services.exports.dropInterrupted()).toEqual([]);
    expect(existsSync(part)).toBe(true);
    res.on("data", (c: Buffer) => got.push(c));
    await new Promise<void>((resolve, reject) => { res.once("end", resolve); res.once("error", reject); res.resume(); });
    const sha256 = createHash("sha256").update(Buffer.concat(got)).digest("hex");
    await until("the export done", async () => (await listed(id)).state === "done", 10000);
    expect(await listed(id)).toMatchObject({ state: "done", kept: true, sha256 });
    expect(await interrupted(id)).toEqual([]);
  }, 60000);
});
