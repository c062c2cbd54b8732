// `npm run verify -- FILE [--station-key KEY] [--witness KEY ...] [--lang en|zh] [--json]`,
// and the same as the single file `node dist/evrec-verify.mjs ...` (npm run build:verifier):
// checks an export bundle offline, prints PASS or FAIL per check and a summary, exits 1 on any
// FAIL (2 on bad usage).
import { existsSync } from "node:fs";
import { CHECKS, verifyBundle } from "./verify.js";
import { LANG_FLAG, checkName, columns, padColumns, pickLang, statusWord, summary } from "./i18n.js";

const USAGE = `Usage: verify FILE [--station-key KEY] [--witness KEY ...] [--lang en|zh] [--json] [--c2pa-full]

Checks an evidence export bundle offline: file hashes, chain, device tags, media against headers,
seal, genesis links between recordings, manifest signature, checkpoint signature (and the named
witnesses' cosignatures), log inclusion, custody order, C2PA. KEY is a note verifier key
(name+keyid+base64), from the station's admin (npm run admin -- station-key) or the witness.
C2PA: c2pa-rs checks each manifest's signature, its certificate chain to the station's anchor and its
assertions; the media's data hash is checked natively (--c2pa-full: by c2pa-rs too, slower).
Exit status: 0 all checks pass, 1 a check failed, 2 bad usage.`;

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = argv.slice();
  const take = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`${name} needs a value`);
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
    console.error(`verify: USAGE: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const rest = args.filter((a) => a !== "--json" && a !== "--c2pa-full");
  if (rest.includes("--help") || rest.includes("-h")) { console.log(USAGE); return 0; }
  if (rest.length !== 1 || rest[0].startsWith("--")) { console.error(`verify: USAGE: name one bundle file\n${USAGE}`); return 2; }
  if (lang && !LANG_FLAG.test(lang)) { console.error(`verify: USAGE: --lang is en or zh (zh-CN), got ${JSON.stringify(lang)}`); return 2; }
  const file = rest[0];
  if (!existsSync(file)) { console.error(`verify: FILE_NOT_FOUND: ${file}`); return 2; }
  const L = pickLang(lang, env);
  const t0 = Date.now();
  let lastShown = 0;
  const r = await verifyBundle(file, { stationKey, witnesses, c2paFull, onProgress: json ? undefined : (done, total, item) => {
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
