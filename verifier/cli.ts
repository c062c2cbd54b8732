// `npm run verify -- FILE [--station-key KEY] [--witness KEY ...] [--lang en|zh] [--json]`,
// and the same as the single file `node dist/evrec-verify.mjs ...` (npm run build:verifier):
// checks an export bundle offline, prints PASS or FAIL per check and a summary, exits 1 on any
// FAIL (2 on bad usage).
import { existsSync } from "node:fs";
import { CHECKS, verifyBundle } from "./verify.js";
import { LANG_FLAG, checkName, columns, padColumns, pickLang, statusWord, summary } from "./i18n.js";
import { argPath } from "../protocol/shell-path.js";

const USAGE = {
  en: `Usage: verify FILE [--station-key KEY] [--witness KEY ...] [--lang en|zh] [--json] [--c2pa-full]

Checks an evidence export bundle offline: file hashes, chain, device tags, media against headers,
seal, genesis links between recordings, manifest signature, checkpoint signature (and the named
witnesses' cosignatures), log inclusion, custody order, C2PA. KEY is a note verifier key
(name+keyid+base64), from the station's admin (npm run admin -- station-key) or the witness.
C2PA: c2pa-rs checks each manifest's signature, its certificate chain to the station's anchor and its
assertions; the media's data hash is checked natively (--c2pa-full: by c2pa-rs too, slower).
Exit status: 0 all checks pass, 1 a check failed, 2 bad usage.`,
  "zh-CN": `用法: verify 文件 [--station-key 公钥] [--witness 公钥 ...] [--lang en|zh] [--json] [--c2pa-full]

离线核验证据导出包: 文件哈希、哈希链、设备标签、媒体与块头、封存、音像记录之间的起始链接、清单签名、
检查点签名 (及所指定见证方的联署)、透明日志包含证明、监管链顺序、C2PA。公钥为验证公钥
(名称+密钥编号+base64), 向执法记录站管理员 (npm run admin -- station-key) 或见证方索取。
C2PA: 由 c2pa-rs 核验每个清单的签名、到本站信任锚的证书链及其断言; 媒体的数据哈希由本程序直接核验
(--c2pa-full: 也交由 c2pa-rs 核验, 较慢)。时间按包内记录的执法记录站时区显示, 并注明与 UTC 的时差。
退出码: 0 全部通过, 1 有核验项失败, 2 用法错误。`,
};

/** What the command line says when it is wrong, in both languages. */
const USAGE_ERRORS = {
  needsValue: ["%0 needs a value", "%0 需要一个值"],
  oneFile: ["name one bundle file", "请指定一个导出包文件"],
  lang: ["--lang is en or zh (zh-CN), got %0", "--lang 为 en 或 zh (zh-CN), 而不是 %0"],
} as const;

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = argv.slice();
  // The language of what is said before --lang is read: the flag as written, else the locale.
  const li = args.indexOf("--lang");
  const L0 = pickLang(li >= 0 && LANG_FLAG.test(args[li + 1] ?? "") ? args[li + 1] : undefined, env);
  const usageError = (key: keyof typeof USAGE_ERRORS, arg = "") => {
    console.error(`verify: USAGE: ${USAGE_ERRORS[key][L0 === "en" ? 0 : 1].replace("%0", arg)}\n${USAGE[L0]}`);
    return 2;
  };
  const take = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) throw Object.assign(new Error(name), { usage: name });
    args.splice(i, 2);
    return v;
  };
  let stationKey: string | undefined, lang: string | undefined;
  const witnesses: string[] = [];
  const json = args.includes("--json");
  const c2paFull = args.includes("--c2pa-full");
  try {
    stationKey = take("--station-key");
    lang = take("--lang");
    for (let w = take("--witness"); w !== undefined; w = take("--witness")) witnesses.push(w);
  } catch (e) {
    return usageError("needsValue", (e as { usage: string }).usage);
  }
  const rest = args.filter((a) => a !== "--json" && a !== "--c2pa-full");
  if (rest.includes("--help") || rest.includes("-h")) { console.log(USAGE[L0]); return 0; }
  if (lang && !LANG_FLAG.test(lang)) return usageError("lang", JSON.stringify(lang));
  if (rest.length !== 1 || rest[0].startsWith("--")) return usageError("oneFile");
  // The bundle as named, where the command was typed (npm runs it in the project's directory).
  const file = rest[0];
  const path = argPath(file, env);
  if (!existsSync(path)) { console.error(`verify: FILE_NOT_FOUND: ${L0 === "en" ? "no such file" : "没有此文件"}: ${path}`); return 2; }
  const L = pickLang(lang, env);
  const t0 = Date.now();
  let lastShown = 0;
  const r = await verifyBundle(path, { stationKey, witnesses, c2paFull, onProgress: json ? undefined : (done, total, item) => {
    if (total > 3 && Date.now() - lastShown > 1000 && item) { lastShown = Date.now(); process.stderr.write(`verify: ${done}/${total} ${item}\n`); }
  } });
  if (json) { console.log(JSON.stringify({ file, ...r }, null, 1)); return r.ok ? 0 : 1; }
  const width = Math.max(...CHECKS.map((c) => columns(checkName(c, L)))) + 2;
  console.log(L === "en" ? `Verifying ${file}` : `核验 ${file}`);
  for (const c of r.checks) {
    const fails = r.findings.filter((f) => f.check === c.id && f.status === "FAIL");
    const first = fails[0] ?? r.findings.find((f) => f.check === c.id);
    console.log(`  ${padColumns(statusWord(c.status, L), L === "en" ? 5 : 9)} ${padColumns(checkName(c.id, L), width)}${first ? `${first.code}: ${first.item}${fails.length > 1 ? ` (+${fails.length - 1})` : ""}` : L === "en" ? `${c.count} checked` : `已核 ${c.count} 项`}`);
  }
  console.log("");
  for (const line of summary(r, L, file)) console.log(line);
  const mib = r.bytes / 1048576;
  const s = (Date.now() - t0) / 1000;
  console.log(L === "en" ? `(${mib.toFixed(1)} MiB in ${s.toFixed(1)} s)` : `（${mib.toFixed(1)} MiB，用时 ${s.toFixed(1)} 秒）`);
  return r.ok ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2), process.env);
