// What `admin audit verify` prints: one verdict line an admin can paste into a report (the head is
// what an outsider compares against later), then one line per problem with its code. In English,
// or in Chinese for a Chinese run (the problems' details stay as the log's check gives them).
import type { VerifyResult } from "./log.js";
import type { Lang } from "../output.js";

/** The lines `audit verify` prints for a verify() result; the first says OK or FAILED. */
export function formatVerify(r: VerifyResult, lang: Lang = "en"): string[] {
  const n = r.problems.length;
  if (lang === "zh") {
    const anchor = r.checkpoint ? `最后检查点在第 ${r.checkpoint.count} 条` : "无检查点";
    if (r.ok) return [`审计日志完好 OK: 共 ${r.count} 条, 日志头 ${r.head} (${anchor})`];
    return [
      `审计日志核验失败 FAILED: ${r.count} 条中有 ${n} 个问题, 日志头 ${r.head} (${anchor})`,
      ...r.problems.map((p) => `  ${p.code}${p.seq !== undefined ? ` (第 ${p.seq} 条)` : ""}: ${p.detail}`),
    ];
  }
  const anchor = r.checkpoint ? `last checkpoint at entry ${r.checkpoint.count}` : "no checkpoint";
  if (r.ok) return [`audit log OK: ${r.count} entries, head ${r.head} (${anchor})`];
  return [
    `audit log FAILED: ${n} problem${n === 1 ? "" : "s"} in ${r.count} entries, head ${r.head} (${anchor})`,
    ...r.problems.map((p) => `  ${p.code}${p.seq !== undefined ? ` at entry ${p.seq}` : ""}: ${p.detail}`),
  ];
}
