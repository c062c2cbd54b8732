// Export → verify, as a court's expert meets it: a bundle of one recording, and of a case with
// two devices and two officers, verifies offline with the station's key and c2pa-rs says its
// audio is Trusted under the station's anchor; an export needs a grant, which ends; every
// export is audited and in the transparency log.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { station, exportTo, grant, readZip } from "./helpers.js";
import { provision } from "../gateway/harness.js";
import { until } from "../helpers/wait.js";
import type { Station } from "./helpers.js";
import { verifyBundle } from "../../verifier/verify.js";
import { validateC2pa } from "../../verifier/c2pa.js";
import { Approvals } from "../../gateway/services/approvals.js";
import { C2PA_ASSERTION } from "../../protocol/bundle.js";
import type { Bundle } from "../../protocol/bundle.js";
import { custodyLines, custodyRows } from "../../gateway/evidence/custody-report.js";
import { columns } from "../../protocol/columns.js";

const run = promisify(execFile);
let s: Station;
let tmp: string;
let key: string;

beforeAll(async () => {
  s = await station();
  tmp = mkdtempSync(join(tmpdir(), "evrec-export-"));
  key = s.gw.evidence.identity.verifierKey;
}, 60000);

afterAll(async () => {
  await s?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("the custody report's PDF", () => {
  it("labels its facts and events in Chinese and English where it can draw Chinese, in English alone where it can't", () => {
    const rows = custodyRows([{ kind: "link", at: Date.UTC(2026, 2, 1, 1, 30), actor: "admin", action: "link", reason: "现场查封", event: { case: "C-1" }, leaf: { index: 3, entry: "", proof: [] } }], "Asia/Shanghai");
    const facts: [string, string, string][] = [["记录", "Recording", "BWC-1/1"], ["案件", "Case", "C-1"]];
    const zh = custodyLines(facts, rows, true);
    expect(zh.head).toEqual(["记录 Recording: BWC-1/1", "案件 Case: C-1"]);
    expect(zh.note).toMatch(/^共 1 个事件，按时间先后排列；时间为站方当地时间/);
    expect(zh.events[0]).toMatchObject({ head: "2026-03-01T09:30:00.000+08:00  link  账户 by admin  (log leaf 3)", reason: "事由 reason: 现场查封" });
    const en = custodyLines(facts, rows, false);
    // Without a Chinese font only the record's own words (the reason) hold Chinese, which custody.json keeps exactly.
    expect([...en.head, en.note, en.events[0].head].join("\n")).not.toMatch(/[\u4e00-\u9fff]/);
    expect(en.events[0].reason).toBe("reason: 现场查封");
    expect(en.head).toEqual(["Recording: BWC-1/1", "Case: C-1"]);
  });
});

describe("export", () => {
  it("is refused without a grant, audited as a denial, and nothing is written", async () => {
    await expect(exportTo(s, join(tmp, "none.zip"), { recording: { device: "BWC-E1", recording: 1 } })).rejects.toMatchObject({ code: "NO_GRANT" });
    const denied = await s.gw.audit.list({ action: "recording.denied", target: "BWC-E1/1" });
    expect(denied[0]).toMatchObject({ actor: "reviewer", details: { code: "NO_GRANT", export: true } });
    expect(await s.gw.audit.list({ action: "recording.export" })).toEqual([]);
  });

  it("works with a grant until the grant expires", async () => {
    const id = await grant(s, { items: [{ device: "BWC-E2", recording: 1 }] }, 1);
    const later = new Approvals(s.gw.db, s.gw.audit, s.gw.model, () => Date.now() + 2 * 3600e3);
    await expect(exportTo(s, join(tmp, "late.zip"), { recording: { device: "BWC-E2", recording: 1 } }, later)).rejects.toMatchObject({ code: "GRANT_EXPIRED" });
    const b = await exportTo(s, join(tmp, "e2.zip"), { recording: { device: "BWC-E2", recording: 1 } });
    expect(b.export).toMatchObject({ by: "reviewer", grant: id, scope: "recording", target: "BWC-E2/1" });
    // The grant is for its items only.
    await expect(exportTo(s, join(tmp, "other.zip"), { recording: { device: "BWC-E1", recording: 2 } })).rejects.toMatchObject({ code: "GRANT_SCOPE" });
  });

  it("of one recording verifies offline: every check passes, and c2pa-rs trusts its WAV under the station's anchor", async () => {
    await grant(s, { items: [{ device: "BWC-E1", recording: 1 }] });
    const file = join(tmp, "one.zip");
    const b = await exportTo(s, file, { recording: { device: "BWC-E1", recording: 1 } });
    const r = await verifyBundle(file, { stationKey: key });
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checks.map((c) => [c.id, c.status])).toEqual(expect.arrayContaining([["files", "PASS"], ["chain", "PASS"], ["device-tags", "PASS"], ["seal", "PASS"], ["manifest-signature", "PASS"], ["checkpoint", "PASS"], ["log-inclusion", "PASS"], ["custody-order", "PASS"], ["c2pa", "PASS"]]));
    const entries = await readZip(file);
    const wav = entries.find((e) => e.name === "recordings/BWC-E1/1/media.wav")!.data;
    const anchor = entries.find((e) => e.name === "station/c2pa-anchor.pem")!.data.toString();
    expect(anchor).toBe(readFileSync(join(s.dir, "x509", "station-ca.crt"), "utf8"));
    const v = await validateC2pa("audio/wav", wav, anchor, C2PA_ASSERTION);
    expect(v.state).toBe("Trusted");
    expect(v.actions).toContain("c2pa.created");
    expect(v.assertion).toMatchObject({ device: "BWC-E1", recording: 1, logIndex: b.recordings[0].leaf.index, sealValue: JSON.parse(b.recordings[0].leaf.entry).sealValue });
    const flipped = Buffer.from(wav);
    flipped[44 + 5000] ^= 0x01;
    const bad = await validateC2pa("audio/wav", flipped, anchor, C2PA_ASSERTION);
    expect(bad.failures).toContain("assertion.dataHash.mismatch");
    // The WAV plays: 8 kHz mono 16-bit, the recording's 22,000 bytes of samples.
    expect(wav.subarray(0, 4).toString()).toBe("RIFF");
    expect(wav.readUInt32LE(24)).toBe(8000);
    expect(wav.readUInt32LE(40)).toBe(22000);
    // The export is audited and proven in the bundle's own checkpoint.
    const custody = b.recordings[0].custody;
    expect(custody.find((e) => e.action === "recording.export" && e.leaf)).toBeTruthy();
    expect(custody.find((e) => e.action === "link" && e.leaf)).toMatchObject({ actor: "admin", reason: "recorded at the seizure" });
    expect(custody.find((e) => e.kind === "approval")).toMatchObject({ actor: "approver", action: "approval.approve" });
    expect(entries.map((e) => e.name)).toEqual(expect.arrayContaining(["README.txt", "bundle.json", "bundle.sig", "log/checkpoint", "recordings/BWC-E1/1/chunks.bin", "recordings/BWC-E1/1/custody.json", "recordings/BWC-E1/1/custody.pdf"]));
    expect(entries.find((e) => e.name === "recordings/BWC-E1/1/custody.pdf")!.data.subarray(0, 5).toString()).toBe("%PDF-");
    const readme = entries.find((e) => e.name === "README.txt")!.data.toString();
    expect(readme).toMatch(/如何核验[\s\S]*How to verify/);
    // Its time in the station's zone, with the offset and the zone named.
    const local = new Intl.DateTimeFormat("sv-SE", { timeZone: s.gw.model.opts.timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(b.createdAt);
    expect(readme).toContain(`导出时间 Exported: ${local} UTC+08:00 (${s.gw.model.opts.timeZone})`);
  });

  it("of a case with two devices and two officers verifies, and names its case and officers", async () => {
    await grant(s, { caseNumber: "C-2025-001" });
    const file = join(tmp, "case.zip");
    const b: Bundle = await exportTo(s, file, { caseNumber: "C-2025-001" });
    expect(b.recordings.map((r) => `${r.device}/${r.recording}`)).toEqual(["BWC-E1/1", "BWC-E1/2", "BWC-E2/1"]);
    expect(b.case).toMatchObject({ number: "C-2025-001", policy: "FULL", unit: "Road Transport Agency" });
    expect(b.recordings.map((r) => r.officer?.name)).toEqual(["Li Wei", "Li Wei", "王芳"]);
    const r = await verifyBundle(file, { stationKey: key });
    expect(r.findings).toEqual([]);
    expect(r.checks.find((c) => c.id === "genesis-links")).toMatchObject({ status: "PASS", count: 1 });
    // The npm run verify command says the same, in Chinese when asked.
    const out = await run(process.execPath, ["--import", "tsx", "verifier/cli.ts", file, "--station-key", key, "--lang", "zh-CN"]);
    expect(out.stdout).toMatch(/结论：核验通过/);
    expect(out.stdout).toMatch(/通过 PASS\s+C2PA/);
    // Its check lines line up on screen: each one's count starts at the same column, Chinese taking two.
    const starts = out.stdout.split("\n").filter((l) => /^  通过 PASS /.test(l)).map((l) => columns(l.slice(0, l.indexOf("已核"))));
    expect(starts.length).toBeGreaterThan(5);
    expect(new Set(starts).size).toBe(1);
  });

  it("verifies with the single-file verifier from npm run build:verifier, run where nothing is installed", async () => {
    await grant(s, { items: [{ device: "BWC-E2", recording: 1 }] });
    const file = join(tmp, "single.zip");
    await exportTo(s, file, { recording: { device: "BWC-E2", recording: 1 } });
    const alone = mkdtempSync(join(tmpdir(), "evrec-expert-"));
    try {
      await run(process.execPath, ["scripts/build-verifier.mjs", "--out", join(alone, "evrec-verify.mjs")]);
      const ok = await run(process.execPath, [join(alone, "evrec-verify.mjs"), file, "--station-key", key, "--lang", "en"], { cwd: alone });
      expect(ok.stdout).toMatch(/Result: PASS/);
      // Another station's key: the signatures are not that station's, and it says so with exit 1.
      const other = "other.example/station+350b54bc+AelUwFxJqftVfEvfihHbnovhImKb3nu1X27p1gOiWxYN";
      const bad = await run(process.execPath, [join(alone, "evrec-verify.mjs"), file, "--station-key", other], { cwd: alone }).catch((e) => e);
      expect(bad.code).toBe(1);
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  }, 60000);

  it("of a recording the station judged failed says so first, though the bundle itself is intact", async () => {
    // A recorder that sends two different chunk 1s, each under a valid tag: an equivocation. The
    // bundle holds the copy the station stored; the other is only in the station's evidence.
    const unit = (await s.gw.db.get<{ unit_id: number }>("SELECT unit_id FROM devices WHERE id = 'BWC-E1'"))!.unit_id;
    const d = await provision(s.gw, "BWC-Q1");
    await s.gw.model.setDeviceUnit("BWC-Q1", unit);
    const startMs = Date.now() - 60e3;
    const a = d.recording(1, [randomBytes(2000)], { startMs });
    const b = d.recording(1, [randomBytes(2000)], { startMs });
    for (const m of [a.start, a.chunks[0], b.chunks[0], a.seal]) await d.publish(m);
    const verdict = () => s.gw.db.get<{ verdict: string; reasons: string }>("SELECT verdict, reasons FROM recordings WHERE device_id = 'BWC-Q1' AND recording_id = 1");
    await until("the recording failed", async () => (await verdict())?.verdict === "failed", 10000);
    expect((await verdict())!.reasons).toMatch(/EQUIVOCATION/);
    await s.gw.evidence.sync();
    await grant(s, { items: [{ device: "BWC-Q1", recording: 1 }] });
    const file = join(tmp, "failed.zip");
    await exportTo(s, file, { recording: { device: "BWC-Q1", recording: 1 } });
    const r = await verifyBundle(file, { stationKey: key });
    expect(r.recordings.map((x) => [x.item, x.verdict, x.station])).toEqual([["BWC-Q1/1", "verified", "failed"]]);
    expect(r.findings.map((f) => [f.status, f.code])).toEqual([["WARN", "STATION_VERDICT"]]);
    for (const [lang, headline] of [["en", /^Result: the bundle is intact, but the station judged 1 of its recording\(s\) FAILED \(BWC-Q1\/1; reasons below\)/m], ["zh-CN", /^结论：本包自导出以来完整，但执法记录站判定其中 1 段音像记录未通过核验（BWC-Q1\/1/m]] as const) {
      const out = await run(process.execPath, ["--import", "tsx", "verifier/cli.ts", file, "--station-key", key, "--lang", lang]);
      expect(out.stdout).toMatch(headline);
      expect(out.stdout).not.toMatch(/Result: PASS|核验通过/);
      expect(out.stdout).toMatch(/STATION_VERDICT.*EQUIVOCATION/);
      // The station's verdict in the reader's words.
      expect(out.stdout).toMatch(lang === "en" ? /STATION_VERDICT: the station judged it failed/ : /STATION_VERDICT：执法记录站判定其为“未通过”/);
    }
    await d.end();
  }, 60000);

  it("is refused for a record beyond the exporter's confidentiality, whatever the grant", async () => {
    await s.gw.model.addCase({ number: "C-SECRET", unitId: 1, category: "inspection", activityKind: "on_site_inspection", windowStart: 1, windowEnd: 2, confidentiality: 3 });
    await s.gw.model.link("BWC-E1", 2, "C-SECRET", "admin", "state secret case");
    await grant(s, { items: [{ device: "BWC-E1", recording: 2 }] });
    await expect(exportTo(s, join(tmp, "secret.zip"), { recording: { device: "BWC-E1", recording: 2 } })).rejects.toMatchObject({ code: "CONFIDENTIALITY" });
    await s.gw.model.unlink("BWC-E1", 2, "C-SECRET", "admin", "linked by mistake");
  });
});
