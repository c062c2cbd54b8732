// What the offline verifier prints, in English and in Chinese (zh-CN): check names and the
// plain-language summary. Chosen by --lang, else the locale (LC_ALL, LC_MESSAGES, LANG).
import type { CheckId, VerifyReport } from "./verify.js";

export type Lang = "en" | "zh-CN";

export function pickLang(flag: string | undefined, env: NodeJS.ProcessEnv): Lang {
  const v = flag ?? env.LC_ALL ?? env.LC_MESSAGES ?? env.LANG ?? "";
  return /^zh/i.test(v) ? "zh-CN" : "en";
}

const NAMES: Record<CheckId, [string, string]> = {
  bundle: ["bundle format", "包格式"],
  "station-key": ["station key", "执法记录站公钥"],
  "manifest-signature": ["manifest signature", "清单签名"],
  files: ["file hashes", "文件哈希"],
  checkpoint: ["checkpoint signature", "检查点签名"],
  "log-inclusion": ["log inclusion", "透明日志包含证明"],
  chain: ["chain", "哈希链"],
  "device-tags": ["device tags", "设备标签"],
  media: ["media against headers", "媒体与块头"],
  seal: ["seal", "封存"],
  "genesis-links": ["genesis links", "录音之间的起始链接"],
  "custody-order": ["custody order", "监管链顺序"],
  c2pa: ["C2PA", "C2PA"],
};

export function checkName(id: CheckId, lang: Lang): string {
  return NAMES[id][lang === "en" ? 0 : 1];
}

export function statusWord(s: string, lang: Lang): string {
  if (lang === "en") return s;
  return s === "PASS" ? "通过 PASS" : s === "FAIL" ? "失败 FAIL" : "注意 WARN";
}

const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

/** The summary a person reads after the list of checks. */
export function summary(r: VerifyReport, lang: Lang, file: string): string[] {
  const b = r.bundle;
  const fails = r.findings.filter((f) => f.status === "FAIL");
  const warns = r.findings.filter((f) => f.status === "WARN");
  const items = r.recordings.map((x) => x.item + (x.excerpt ? (lang === "en" ? ` (excerpt, chunks ${x.excerpt[0]}-${x.excerpt[1]})` : `（片段，第 ${x.excerpt[0]}-${x.excerpt[1]} 块）`) : ""));
  const keyGiven = !warns.some((w) => w.code === "KEY_FROM_BUNDLE");
  if (lang === "zh-CN") {
    const out: string[] = [];
    if (!b) return [`结论：${file} 不是可读的证据导出包，核验失败。`];
    out.push(r.ok ? `结论：核验通过。本包中的 ${r.recordings.length} 段录音自设备录制以来未被改动，` + (keyGiven ? `由执法记录站 ${b.station.name} 导出并签名。` : `但未提供本站公钥（--station-key），只能证明包内一致，不能证明由谁导出。`)
      : `结论：核验失败，共 ${fails.length} 项问题。本包的内容不能作为未经改动的证据采信，请联系导出单位。`);
    out.push(`导出：${b.export.by}（${b.export.role}），${iso(b.createdAt)}，事由：${b.export.reason}；${b.case ? `案件 ${b.case.number}` : `录音 ${b.export.target}`}。`);
    out.push(`录音：${items.join("，")}。`);
    out.push(`透明日志检查点：第 ${b.checkpoint.size} 条为止，由本站签名${r.ok ? "，证明这些录音的清单及本次导出已登记在公开日志中" : ""}。`);
    for (const f of fails.slice(0, 20)) out.push(`  失败：${checkName(f.check, lang)}（${f.item}）${f.code}：${f.detail}`);
    if (fails.length > 20) out.push(`  ……另有 ${fails.length - 20} 项`);
    for (const w of warns) out.push(`  注意：${checkName(w.check, lang)}（${w.item}）${w.code}：${w.detail}`);
    return out;
  }
  const out: string[] = [];
  if (!b) return [`Result: ${file} is not a readable evidence bundle: verification FAILED.`];
  out.push(r.ok ? `Result: PASS. The ${r.recordings.length} recording(s) in this bundle are unchanged since the recorder made them, ` + (keyGiven ? `exported and signed by station ${b.station.name}.` : `but no --station-key was given: this shows the bundle is consistent, not who made it.`)
    : `Result: FAIL, ${fails.length} problem(s). The content can't be relied on as unaltered evidence; contact the exporting station.`);
  out.push(`Exported by ${b.export.by} (${b.export.role}) at ${iso(b.createdAt)}, reason: ${b.export.reason}; ${b.case ? `case ${b.case.number}` : `recording ${b.export.target}`}.`);
  out.push(`Recordings: ${items.join(", ")}.`);
  out.push(`Transparency log checkpoint of size ${b.checkpoint.size}, signed by the station${r.ok ? ": the recordings' manifests and this export are in the public log" : ""}.`);
  for (const f of fails.slice(0, 20)) out.push(`  FAIL ${checkName(f.check, lang)} (${f.item}) ${f.code}: ${f.detail}`);
  if (fails.length > 20) out.push(`  ... and ${fails.length - 20} more`);
  for (const w of warns) out.push(`  WARN ${checkName(w.check, lang)} (${w.item}) ${w.code}: ${w.detail}`);
  return out;
}
