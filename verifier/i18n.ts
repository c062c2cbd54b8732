// What the offline verifier prints, in English and in Chinese (zh-CN): check names and the
// plain-language summary, with every finding in the reader's language (messages.ts) and every
// time in the station's own time zone, its offset written out. Chosen by --lang, else the locale
// (LC_ALL, LC_MESSAGES, LANG).
import type { CheckId, VerifyReport } from "./verify.js";
import { render } from "./messages.js";
import type { Lang, Reader } from "./messages.js";
import { formatTime, knownZone, offsetText, zoneOffsetMs } from "../protocol/time.js";
import { columns } from "../protocol/columns.js";

export { columns };

export type { Lang };

/** What --lang takes: en, or zh (zh-CN, zh-Hans, as the admin CLI takes zh). */
export const LANG_FLAG = /^(en|zh|zh-CN|zh-Hans)$/i;

export function pickLang(flag: string | undefined, env: NodeJS.ProcessEnv): Lang {
  const v = flag ?? (env.LC_ALL || env.LC_MESSAGES || env.LANG || "");
  return /^zh/i.test(v) ? "zh-CN" : "en";
}

/** `s` padded with spaces to `n` columns. */
export function padColumns(s: string, n: number): string {
  return s + " ".repeat(Math.max(0, n - columns(s)));
}

/** How the bundle's reader reads its times: the zone its manifest names, else UTC. */
export function readerOf(r: VerifyReport, lang: Lang): Reader {
  const z = r.bundle?.station.timeZone;
  return { lang, timeZone: knownZone(z) ? z : null };
}

/** The line that says in which zone the times are (`named`: the zone the manifest names, if any). */
export function zoneLine(rd: Reader, at: number, named?: unknown): string {
  if (!rd.timeZone && named !== undefined) return rd.lang === "en" ? `Times are UTC (UTC+00:00): the station's time zone the bundle names, ${JSON.stringify(named)}, is not one this computer knows.` : `时间均为协调世界时（UTC+00:00）：本包所记的执法记录站时区 ${JSON.stringify(named)} 无法识别。`;
  if (!rd.timeZone) return rd.lang === "en" ? "Times are UTC (UTC+00:00): the bundle does not record the station's time zone." : "时间均为协调世界时（UTC+00:00）：本包未记录执法记录站的时区。";
  const off = offsetText(zoneOffsetMs(rd.timeZone, at));
  return rd.lang === "en" ? `Times are the station's local time (${rd.timeZone}, UTC${off}).` : `时间均为执法记录站当地时间（${rd.timeZone}，UTC${off}）。`;
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
  "genesis-links": ["genesis links", "音像记录之间的起始链接"],
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

const ROLES: Record<string, string> = { admin: "管理员", supervisor: "主管", legal_reviewer: "法制审核人员", officer: "执法人员" };
const role = (r: string, lang: Lang) => (lang === "en" ? r : ROLES[r] ? `${ROLES[r]} ${r}` : r);

/** The summary a person reads after the list of checks. */
export function summary(r: VerifyReport, lang: Lang, file: string): string[] {
  const b = r.bundle;
  const rd = readerOf(r, lang);
  const at = (ms: number) => formatTime(ms, rd.timeZone);
  const fails = r.findings.filter((f) => f.status === "FAIL");
  const warns = r.findings.filter((f) => f.status === "WARN");
  const items = r.recordings.map((x) => x.item + (x.excerpt ? (lang === "en" ? ` (excerpt, chunks ${x.excerpt[0]}-${x.excerpt[1]})` : `（片段，第 ${x.excerpt[0]}-${x.excerpt[1]} 块）`) : ""));
  const keyGiven = !warns.some((w) => w.code === "KEY_FROM_BUNDLE");
  const passed = (id: CheckId) => r.checks.some((c) => c.id === id && c.status !== "FAIL");
  // What the station itself judged failed (its signed manifest leaf says so): the
  // bundle can be intact and still hold a recording the station saw tampered with (an
  // equivocation's other copy is not in it), so the result says so first, not in a warning.
  const judged = r.recordings.filter((x) => x.station === "failed");
  const findings = (out: string[]) => {
    const [f, more, w] = lang === "en" ? ["  FAIL", (n: number) => `  ... and ${n} more`, "  WARN"] : ["  失败：", (n: number) => `  ……另有 ${n} 项`, "  注意："];
    const line = (head: string, x: (typeof fails)[number]) => lang === "en" ? `${head} ${checkName(x.check, lang)} (${x.item}) ${x.code}: ${render(x.message, rd)}` : `${head}${checkName(x.check, lang)}（${x.item}）${x.code}：${render(x.message, rd)}`;
    for (const x of fails.slice(0, 20)) out.push(line(f, x));
    if (fails.length > 20) out.push(more(fails.length - 20));
    for (const x of warns) out.push(line(w, x));
    return out;
  };
  if (lang === "zh-CN") {
    if (!b) return findings([`结论：${file} 不是可读的证据导出包，核验失败。`]);
    const out: string[] = [];
    if (!r.ok) out.push(`结论：核验失败，共 ${fails.length} 项问题。本包的内容不能作为未经改动的证据采信，请联系导出单位。`);
    else if (judged.length) out.push(`结论：本包自导出以来完整，但执法记录站判定其中 ${judged.length} 段音像记录未通过核验（${judged.map((j) => j.item).join("，")}，原因见下）。站方的判定表示它看到了本包无法显示的问题（如设备发送的同一块的另一版本），这些音像记录不能作为未经改动的证据采信。`);
    else out.push(`结论：核验通过。本包中的 ${r.recordings.length} 段音像记录自设备录制以来未被改动，` + (keyGiven ? `由执法记录站 ${b.station.name} 导出并签名。` : `但未提供本站公钥（--station-key），只能证明包内一致，不能证明由谁导出。`));
    out.push(`${passed("manifest-signature") ? "" : "（清单签名未通过，以下为清单所称内容）"}导出：${b.export.by}（${role(b.export.role, lang)}），${at(b.createdAt)}，事由：${b.export.reason}；${b.case ? `案件 ${b.case.number}` : `音像记录 ${b.export.target}`}。`);
    out.push(`音像记录：${items.join("，")}。`);
    out.push(...timeLines(r, rd));
    out.push(passed("checkpoint") ? `透明日志检查点：第 ${b.checkpoint.size} 条为止，由本站签名${r.ok ? "，证明这些音像记录的清单及本次导出已登记在公开日志中" : ""}。` : `透明日志检查点：清单称第 ${b.checkpoint.size} 条为止，但其签名未通过核验（见下）。`);
    return findings(out);
  }
  if (!b) return findings([`Result: ${file} is not a readable evidence bundle: verification FAILED.`]);
  const out: string[] = [];
  if (!r.ok) out.push(`Result: FAIL, ${fails.length} problem(s). The content can't be relied on as unaltered evidence; contact the exporting station.`);
  else if (judged.length) out.push(`Result: the bundle is intact, but the station judged ${judged.length} of its recording(s) FAILED (${judged.map((j) => j.item).join(", ")}; reasons below). The station saw what this bundle can't show (such as another copy of a chunk the device sent): those recordings can't be relied on as unaltered evidence.`);
  else out.push(`Result: PASS. The ${r.recordings.length} recording(s) in this bundle are unchanged since the recorder made them, ` + (keyGiven ? `exported and signed by station ${b.station.name}.` : `but no --station-key was given: this shows the bundle is consistent, not who made it.`));
  out.push(`${passed("manifest-signature") ? "Exported" : "The manifest, whose signature did not verify, says: exported"} by ${b.export.by} (${b.export.role}) at ${at(b.createdAt)}, reason: ${b.export.reason}; ${b.case ? `case ${b.case.number}` : `recording ${b.export.target}`}.`);
  out.push(`Recordings: ${items.join(", ")}.`);
  out.push(...timeLines(r, rd));
  out.push(passed("checkpoint") ? `Transparency log checkpoint of size ${b.checkpoint.size}, signed by the station${r.ok ? ": the recordings' manifests and this export are in the public log" : ""}.` : `Transparency log checkpoint: the manifest names one of size ${b.checkpoint.size}, but its signature did not verify (below).`);
  return findings(out);
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** When each recording was made, in the station's time, with the bounds the station vouches for; then the zone. */
function timeLines(r: VerifyReport, rd: Reader): string[] {
  const out: string[] = [];
  const at = (ms: number) => formatTime(ms, rd.timeZone);
  for (const x of r.recordings) {
    const t = x.times;
    if (!t || !Number.isFinite(t.stationStartMs) || !Number.isFinite(t.notAfterMs)) continue;
    const long = t.deviceEndMs - t.deviceStartMs;
    const bounded = t.notBeforeMs !== null && Number.isFinite(t.notBeforeMs);
    out.push(rd.lang === "en"
      ? `  ${x.item}: started ${at(t.stationStartMs)} (station time), ${seconds(long)} s; the station vouches it started ${bounded ? `no earlier than ${at(t.notBeforeMs!)} and ` : ""}no later than ${at(t.notAfterMs)}${bounded && t.errorMs !== null ? ` (within ${seconds(t.errorMs)} s)` : " (no lower bound: its start carries no time beacon the station knows)"}${t.flag ? `; the station doubted the device's clock: ${t.flag}` : ""}.`
      : `  ${x.item}：开始于 ${at(t.stationStartMs)}（按站方时间校正），时长 ${seconds(long)} 秒；站方可担保其开始时间${bounded ? `不早于 ${at(t.notBeforeMs!)}、` : ""}不晚于 ${at(t.notAfterMs)}${bounded && t.errorMs !== null ? `（误差不超过 ${seconds(t.errorMs)} 秒）` : "（无下限：其起始块未携带站方已知的校时信标）"}${t.flag ? `；站方曾怀疑设备时钟（${t.flag}）` : ""}。`);
  }
  out.push(zoneLine(rd, r.bundle?.createdAt ?? 0, r.bundle?.station.timeZone));
  return out;
}
