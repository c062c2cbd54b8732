// `npm run admin -- <command>`: the station admin's CLI, a thin client of the service layer. It
// acts as a real account, proved by a token like the API's (the admin token file in the data
// directory by default, --token-file for another), and calls the same service functions in
// process on the data directory, so roles, scope and the audit are exactly the API's.
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { prepareDataDir } from "./datadir.js";
import { ConfigError, loadConfig } from "./config.js";
import { openStore } from "./gateway.js";
import { Services } from "./services/index.js";
import { Approvals } from "./services/approvals.js";
import type { Caller } from "./services/index.js";
import { GatewayError } from "./errors.js";
import { IdentityError } from "./evidence/identity.js";
import { formatVerify } from "./audit/cli-verify.js";
import { progressReporter } from "./progress.js";
import { Alarms } from "./alarms.js";
import { toHex } from "../protocol/bytes.js";
import { EVIDENCE_COMMANDS, EVIDENCE_USAGE, UsageError, evidenceCommand } from "./evidence/cli.js";
import type { Store } from "./evidence/cli.js";
import { loadClusterConfig } from "./cluster/config.js";
import type { ClusterConfig } from "./cluster/config.js";
import { openRegionMedia } from "./cluster/office.js";
import { EXPORT_COMMANDS, EXPORT_USAGE, exportCommand } from "./evidence/export-cli.js";
import { LANG_FLAG, csv, duration, langOf, localTime, percent, size } from "./output.js";
import type { Lang } from "./output.js";
import { GLOBAL, COMMAND_OPTIONS, alarmKind, msg, optionsOf, peopleTable, usage, word } from "./cli-text.js";
import { PAGE_SIZE } from "./services/recordings.js";
import { isoLocal, withIsoTimes } from "./services/time.js";
import { statusBatteryPct } from "../protocol/status.js";
import { argPath } from "../protocol/shell-path.js";
import { refusalTextZh } from "../protocol/refusals-zh.js";
import { alarmText } from "../protocol/alarm-details.js";

/** Options a command may give more than once (approval request --recording A --recording B). */
const REPEATABLE = new Set(["--recording"]);

// --export, --view and --pending belong to the approval commands (evidence/export-cli.ts).
const BOOLEAN = new Set(["--json", "--csv", "--dry-run", "--force", "--help", "-h", "--export", "--view", "--pending"]);

/**
 * Split argv into positional words and --flags (each flag once; booleans take no value), and the
 * words as typed with each --flag=value as --flag value (`args`, for commands that read repeated flags).
 */
function parse(argv: string[]): { words: string[]; flags: Map<string, string>; args: string[] } {
  const words: string[] = [];
  const flags = new Map<string, string>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--") || a === "-h") {
      const eq = a.indexOf("=");
      const name = eq > 0 ? a.slice(0, eq) : a;
      if (BOOLEAN.has(name)) { flags.set(name, "1"); args.push(name); continue; }
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new GatewayError("USAGE", `${name} needs a value`);
      // Given twice, one value would go unheeded: only an approval request names several recordings.
      if (flags.has(name) && !REPEATABLE.has(name)) throw new GatewayError("USAGE", `${name} is given twice (${flags.get(name)}, ${v}): give it once`);
      flags.set(name, v);
      args.push(name, v);
    } else {
      words.push(a);
      args.push(a);
    }
  }
  return { words, flags, args };
}

interface Out {
  lang: Lang;
  tz: string;
  mode: "table" | "json" | "csv";
  /** Machine rows (ISO times) for --json/--csv; people rows for the table. */
  rows(machine: object[], people?: Record<string, unknown>[]): void;
  /** A line for people; with --json, `result` instead (a change's outcome), so a program reads what was done. */
  line(s: string, result?: unknown): void;
}

function output(lang: Lang, tz: string, mode: Out["mode"]): Out {
  return {
    lang, tz, mode,
    rows(machine, people) {
      if (mode === "json") return void console.log(JSON.stringify(machine, null, 1));
      if (mode === "csv") return void process.stdout.write(csv(machine as Record<string, unknown>[]));
      console.log(peopleTable(lang, people ?? machine));
    },
    line(s, result) {
      if (mode === "table") console.log(s);
      else if (mode === "json" && result !== undefined) console.log(JSON.stringify(result, null, 1));
    },
  };
}

/** Add an ISO 8601 twin (with the station's offset) beside every time field. */
function withIso<T extends object>(rows: T[], tz: string): T[] {
  return withIsoTimes(rows, tz);
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  const lang0 = langOf(undefined, process.env);
  try {
    parsed = parse(argv);
  } catch (e) {
    console.error(`admin: ${(e as GatewayError).code}: ${(e as Error).message}`);
    return 2;
  }
  const { words, flags } = parsed;
  const f = (k: string) => flags.get(k);
  const lang = langOf(f("--lang"), process.env) || lang0;
  const help = usage(lang, EVIDENCE_USAGE + EXPORT_USAGE);
  if (!words.length || f("--help") || f("-h") || words[0] === "help") {
    console.log(help);
    return words.length || f("--help") || f("-h") ? 0 : 2;
  }
  // An option no command takes is a typo, refused: it would otherwise take the next word as its
  // value (a --data-dir after it among them) and go unheeded.
  const known = new Set([...GLOBAL, ...Object.values(COMMAND_OPTIONS).flat(), "--as"]);
  const unknown = [...flags.keys()].filter((k) => !known.has(k));
  if (unknown.length) {
    console.error(`admin: USAGE: ${lang === "zh" ? `未知选项 ${unknown.join(", ")} (见 --help)` : `unknown option ${unknown.join(", ")} (see --help)`}`);
    return 2;
  }
  if (f("--lang") !== undefined && !LANG_FLAG.test(f("--lang")!)) {
    console.error(`admin: USAGE: ${lang === "zh" ? `--lang 为 zh 或 en, 而不是 ${JSON.stringify(f("--lang"))}` : `--lang is zh or en, not ${JSON.stringify(f("--lang"))}`}`);
    return 2;
  }
  if (f("--as") !== undefined) {
    console.error(`admin: USAGE: ${lang === "zh" ? "--as 已取消: 以令牌所属账户操作 (--token-file)" : "--as is gone: the CLI acts as the account its token proves (--token-file)"}`);
    return 2;
  }
  // An option of another command is refused too: recording list --device D would list every device's.
  const own = optionsOf(words[0], words[1]);
  const misplaced = own ? [...flags.keys()].filter((k) => !GLOBAL.includes(k) && !own.includes(k)) : [];
  if (misplaced.length) {
    const cmd = words.slice(0, optionsOf(words[0], undefined) ? 1 : 2).join(" ");
    const takes = own!.length ? own!.join(", ") : lang === "zh" ? "无" : "none";
    console.error(`admin: USAGE: ${lang === "zh" ? `${cmd} 不接受 ${misplaced.join(", ")} (它的选项: ${takes}; 见 --help)` : `${cmd} does not take ${misplaced.join(", ")} (its options: ${takes}; see --help)`}`);
    return 2;
  }
  let config;
  // --cluster FILE: a region's store, as its workers and office see it (their database, their media in JetStream).
  let cluster: ClusterConfig | null = null;
  try {
    if (f("--cluster")) {
      if (f("--data-dir") || f("--db")) throw new ConfigError("--cluster takes the data directory and database from its file's gateway section: give it without --data-dir and --db");
      cluster = loadClusterConfig(argPath(f("--cluster")!));
      config = cluster.gateway;
    } else config = loadConfig(["--data-dir", "--db", "--witnesses"].flatMap((k) => (f(k) ? [k, f(k)!] : [])), process.env).config;
  } catch (e) {
    if (e instanceof ConfigError) { console.error(`admin: ${e.code}: ${e.message}`); return 2; }
    throw e;
  }
  let store: Store;
  let region: { close(): Promise<void> } | null = null;
  try {
    // A station's data directory, never a new one: a mistyped path is refused, not set up.
    if (!cluster) prepareDataDir(resolve(config.dataDir), { create: false });
    store = await openStore(config);
  } catch (e) {
    // A PostgreSQL server that can't be reached or refuses: said in one line with its code.
    if (e instanceof GatewayError) { console.error(`admin: ${e.code}: ${lang === "zh" ? refusalTextZh(e.code, e.message) : e.message}`); return 1; }
    // Keys in the data directory that are not the database's station's (lost, or another's).
    if (e instanceof IdentityError) { console.error(`admin: ${e.code}: ${e.message}`); return 2; }
    throw e;
  }
  if (cluster) {
    try {
      const r = await openRegionMedia(cluster);
      region = r;
      store = { ...store, media: r.media };
    } catch (e) {
      if (e instanceof GatewayError) console.error(`admin: ${e.code}: the region's media in JetStream can't be read: ${e.message}`);
      else console.error(`admin: NATS: the region's media in JetStream can't be reached (${cluster.cluster.natsServers}): ${(e as Error).message}`);
      await store.db.close();
      return 1;
    }
  }
  if (store.adminTokenFile) console.error(lang === "zh" ? `首次使用: 已创建管理员账户, 令牌在 ${store.adminTokenFile} (权限 0600)` : `first start: admin account created, its token is in ${store.adminTokenFile} (mode 0600)`);
  const tokenFile = f("--token-file") !== undefined ? argPath(f("--token-file")!) : resolve(config.dataDir, "admin.token");
  let token: string;
  try {
    token = readFileSync(tokenFile, "utf8").trim();
  } catch (e) {
    console.error(`admin: TOKEN_FILE: ${lang === "zh" ? `无法读取令牌文件 ${tokenFile}` : `can't read the token file ${tokenFile}`} (${(e as NodeJS.ErrnoException).code})${cluster ? (lang === "zh" ? "; 区域的令牌在其办公室的数据目录中 (office 的 --cluster 文件)" : "; a region's tokens are in its office's data directory (give the office's --cluster file)") : ""}`);
    await store.db.close();
    // The region's JetStream connection too: left open, it held the process (it never exited).
    if (region) await region.close();
    return 1;
  }
  const alarms = new Alarms(store.db, undefined, { audit: store.audit });
  const s = new Services({ db: store.db, audit: store.audit, model: store.model, registry: store.registry, accounts: store.accounts, alarms, policy: store.policy, media: store.media, dataDir: store.dir, live: {},
    approvals: new Approvals(store.db, store.audit, store.model) });
  const out = output(lang, store.policy.timeZone, f("--json") ? "json" : f("--csv") ? "csv" : "table");
  try {
    const me = await s.accounts.authenticate(token);
    const code = await command(s, me, words, f, out, store, config, parsed.args);
    if (code === 2) console.error(help);
    return code;
  } catch (e) {
    if (e instanceof GatewayError || e instanceof UsageError) {
      // In Chinese, the code's meaning from the console's catalogue, the gateway's words beside it (they name what was refused).
      console.error(`admin: ${e.code}: ${lang === "zh" ? refusalTextZh(e.code, e.message) : e.message}`);
      return 1;
    }
    throw e;
  } finally {
    await store.db.close();
    if (region) await region.close();
  }
}

type Flag = (k: string) => string | undefined;

async function command(s: Services, me: Caller, words: string[], f: Flag, out: Out, store: Store, config: ReturnType<typeof loadConfig>["config"], argv: string[]): Promise<number> {
  const [noun, verb, a1, a2] = words;
  const L = out.lang, tz = out.tz;
  const reason = f("--reason");
  if (noun === "device") {
    if (verb === "add") {
      if (!a1 || !f("--root-out")) throw new GatewayError("USAGE", "device add needs <ID> and --root-out <FILE>");
      // The secret's file made first: a device is not registered where its secret can't be written
      // (a write failing after it, a full disk, is said with what to do).
      const rootOut = argPath(f("--root-out")!);
      let fd: number;
      try {
        fd = openSync(rootOut, "wx", 0o600);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new GatewayError(code === "EEXIST" ? "ROOT_OUT_EXISTS" : "ROOT_OUT_UNWRITABLE", code === "EEXIST" ? `${rootOut} exists: a root secret is never written over a file; choose another` : `${rootOut} can't be made: ${(e as Error).message}`);
      }
      let d;
      try {
        d = await s.devices.add(me, { id: a1, kind: f("--kind"), unit: f("--unit") });
      } catch (e) {
        closeSync(fd);
        rmSync(rootOut, { force: true });
        throw e;
      }
      try {
        writeSync(fd, toHex(d.root) + "\n");
        fsyncSync(fd);
      } catch (e) {
        rmSync(rootOut, { force: true });
        throw new GatewayError("ROOT_OUT_UNWRITABLE", `${d.id} is registered, but its root secret could not be written to ${rootOut} (${(e as Error).message}): give it a new one with a re-key (npm run provision -- --force, or POST /api/devices/${d.id}/rekey)`);
      } finally {
        closeSync(fd);
        d.root.fill(0);
      }
      out.line(msg(L, "registered", d.id, rootOut));
      if (out.mode === "json") console.log(JSON.stringify({ id: d.id, state: d.state }));
      return 0;
    }
    if (verb === "list") {
      const rows = await s.devices.list(me);
      out.rows(withIso(rows, tz), rows.map((d) => {
        const st = (d.lastStatus ?? {}) as { batteryMv?: number; batteryPct?: number; storageFree?: number; clockOffsetMs?: number; firmware?: string };
        const battery = statusBatteryPct(st);
        return { id: d.id, kind: d.kind, state: d.state, unit: d.unit, lastSeen: localTime(d.lastSeen, tz), battery: battery === null ? "-" : `${battery} %`, free: st.storageFree === undefined ? "-" : size(st.storageFree), clock: st.clockOffsetMs === undefined ? "-" : duration(st.clockOffsetMs), firmware: st.firmware ?? "-" };
      }));
      out.line(msg(L, "times", tz));
      return 0;
    }
    const states: Record<string, string> = { revoke: "revoked", lost: "lost", retire: "retired", activate: "active", provision: "provisioned" };
    if (verb && states[verb]) {
      if (!a1) throw new GatewayError("USAGE", `device ${verb} needs <ID>`);
      const r = await s.devices.setState(me, a1, states[verb], reason);
      out.line(msg(L, "state", r.id, r.state, r.from));
      if (out.mode === "json") console.log(JSON.stringify(r));
      return 0;
    }
    if (verb === "unit") {
      const r = await s.devices.setUnit(me, a1, a2 === "none" ? null : a2, reason);
      out.line(msg(L, "unitSet", r.id, String(r.unit)), r);
      return 0;
    }
    return 2;
  }
  if (noun === "recording" && verb === "list") {
    // Every clip unless --limit asks for a page: the first N, or the N after --after DEVICE/RECORDING
    // (the listing's order, newest first); the way on to the next page is said on stderr,
    // so --csv and --json stay the rows alone.
    let rows;
    if (f("--limit") === undefined && f("--after") === undefined) rows = await s.recordings.list(me, { device: a1 });
    else {
      const limit = f("--limit") ?? String(PAGE_SIZE);
      const page = await s.recordings.page(me, { device: a1, limit, afterClip: f("--after") });
      rows = page.recordings;
      const last = rows[rows.length - 1];
      if (page.next !== null && last) console.error(msg(L, "morePages", `${last.device}/${last.recording}`, `recording list${a1 ? " " + a1 : ""} --limit ${limit} --after ${last.device}/${last.recording}`));
    }
    out.rows(withIso(rows, tz), rows.map((r) => ({
      device: r.device, recording: r.recording, verdict: word(L, r.verdict) + (r.final && r.verdict === "incomplete" ? " (final)" : ""), chunks: r.chunks, size: size(r.bytes),
      start: localTime(r.startMs, tz), ended: r.endReason ?? "-", duration: r.startMs !== null && r.endMs !== null ? duration(r.endMs - r.startMs) : "-", officer: r.officer ?? "-", cases: r.cases.join(",") || "-",
      storage: r.storageState, retention: r.purgeState,
    })));
    out.line(msg(L, "times", tz));
    return 0;
  }
  if (noun === "account") {
    if (verb === "add") {
      if (!a1 || !a2) throw new GatewayError("USAGE", "account add needs <NAME> <ROLE>");
      const a = await s.accounts.add(me, a1, a2, f("--badge"));
      out.line(msg(L, "accountAdded", a.name, a.role), a);
      return 0;
    }
    if (verb === "list") {
      const rows = await s.accounts.list(me);
      out.rows(withIso(rows, tz), rows.map((a) => ({ name: a.name, role: a.role, badge: a.officerBadge, created: localTime(a.createdAt, tz), disabled: a.disabledAt ? localTime(a.disabledAt, tz) : "-", tokens: a.liveTokens })));
      return 0;
    }
    if (verb === "password") {
      if (!a1) throw new GatewayError("USAGE", "account password needs <NAME>");
      // Read from standard input, never from the command line (where ps and the shell's history see it).
      const r = await s.sessions.setPassword(me, a1, await readSecretLine(L === "zh" ? `${a1} 的新密码: ` : `new password for ${a1}: `));
      out.line(msg(L, "passwordSet", r.name, r.sessionsEnded), r);
      return 0;
    }
    if (verb === "disable" || verb === "enable") {
      const r = await s.accounts.setDisabled(me, a1, verb === "disable", reason);
      out.line(msg(L, r.disabled ? "accountDisabled" : "accountEnabled", r.name), r);
      return 0;
    }
    return 2;
  }
  if (noun === "token") {
    if (verb === "issue") {
      if (!a1) throw new GatewayError("USAGE", "token issue needs <NAME>");
      console.log(await s.accounts.issueToken(me, a1));
      console.error(msg(L, "shownOnce"));
      return 0;
    }
    if (verb === "revoke") {
      const r = await s.accounts.revokeTokens(me, a1, reason);
      out.line(msg(L, "tokensRevoked", r.name, r.revoked), r);
      return 0;
    }
    return 2;
  }
  if (noun === "unit") {
    if (verb === "add") {
      const u = await s.model.addUnit(me, a1, a2, f("--parent"));
      out.line(msg(L, "unitAdded", u.id, u.name, u.level));
      if (out.mode === "json") console.log(JSON.stringify(u));
      return 0;
    }
    if (verb === "list") {
      const rows = await s.model.listUnits(me);
      out.rows(rows, rows.map((u) => ({ id: u.id, name: u.name, level: u.level, parent: u.parentId, ratio: u.fleetRatio === null ? `1:${s.ctx.policy.fleetRatio} (${word(L, "station")})` : `1:${u.fleetRatio}` })));
      return 0;
    }
    if (verb === "ratio") {
      const u = await s.model.setUnitRatio(me, a1, a2, reason);
      out.line(msg(L, "ratioSet", u.id, u.fleetRatio === null ? `1:${s.ctx.policy.fleetRatio} (station)` : `1:${u.fleetRatio}`), u);
      return 0;
    }
    return 2;
  }
  if (noun === "officer") {
    if (verb === "add") {
      if (!a1 || !a2) throw new GatewayError("USAGE", "officer add needs <BADGE> <NAME>");
      const o = await s.model.addOfficer(me, { badge: a1, name: a2, unitId: f("--unit"), role: f("--role"), certNo: f("--cert"), certValidFrom: f("--valid-from"), certValidTo: f("--valid-to") });
      out.line(msg(L, "officerAdded", o.badge), o);
      return 0;
    }
    if (verb === "list") {
      const rows = await s.model.listOfficers(me);
      out.rows(rows, rows.map((o) => ({ badge: o.badge, name: o.name, unit: o.unitId, role: o.role, cert: o.certNo ?? "-", validTo: o.certValidTo ?? "-", active: o.active })));
      return 0;
    }
    if (verb === "edit") {
      const patch: Record<string, string> = {};
      for (const [flag, key] of [["--name", "name"], ["--role", "role"], ["--cert", "certNo"], ["--valid-from", "certValidFrom"], ["--valid-to", "certValidTo"]]) if (f(flag) !== undefined) patch[key] = f(flag)!;
      const o = await s.model.editOfficer(me, a1, patch, reason);
      out.line(msg(L, "officerChanged", o.badge, Object.keys(patch).join(", ")), o);
      return 0;
    }
    if (verb === "transfer") {
      const o = await s.model.transferOfficer(me, a1, f("--unit"), reason);
      out.line(msg(L, "officerChanged", o.badge, `unit ${o.unitId}`), o);
      return 0;
    }
    if (verb === "deactivate" || verb === "reactivate") {
      const o = await s.model.setOfficerActive(me, a1, verb === "reactivate", reason);
      out.line(msg(L, "officerChanged", o.badge, o.active ? "active" : "inactive"), o);
      return 0;
    }
    return 2;
  }
  if (noun === "case") {
    if (verb === "add") {
      const c = await s.model.addCase(me, { number: a1, unitId: f("--unit"), category: f("--category"), activityKind: f("--activity"), windowStart: f("--from"), windowEnd: f("--to"),
        confidentiality: f("--confidentiality"), policy: f("--policy"), room: f("--room") });
      out.line(msg(L, "caseAdded", c.number, c.policy), withIso([c], tz)[0]);
      return 0;
    }
    if (verb === "list") {
      const rows = await s.model.listCases(me);
      out.rows(withIso(rows, tz), rows.map((c) => ({ number: c.number, unit: c.unitId, category: c.category, activity: c.activityKind, policy: c.policy,
        window: `${localTime(c.windowStart, tz)} → ${localTime(c.windowEnd, tz)}`, duration: duration(c.windowEnd - c.windowStart), confidentiality: c.confidentiality })));
      out.line(msg(L, "times", tz));
      return 0;
    }
    return 2;
  }
  if (noun === "assign") {
    if (!verb) throw new GatewayError("USAGE", "assign needs <DEVICE> and --badge B or --room R");
    if (f("--badge") !== undefined && f("--room") !== undefined) throw new GatewayError("USAGE", "assign takes --badge B (an officer) or --room R (a fixed device's room), not both");
    const to = f("--badge") ? { badge: f("--badge")! } : f("--room") ? { room: f("--room")! } : null;
    if (!to) throw new GatewayError("USAGE", "assign needs --badge B or --room R");
    const a = await s.model.checkOut(me, verb, to, undefined, { force: !!f("--force"), reason });
    for (const w of a.warnings) console.error(msg(L, "warning", w));
    out.line(msg(L, "checkedOut", verb), withIso([a], tz)[0]);
    return 0;
  }
  if (noun === "return") {
    const back = await s.model.returnDevice(me, verb);
    out.line(msg(L, "returned", verb), withIso([back], tz)[0]);
    return 0;
  }
  if (noun === "link" || noun === "unlink") {
    const l = await s.model.link(me, verb, a1, a2, reason, noun === "unlink");
    out.line(msg(L, noun === "link" ? "linked" : "unlinked", `${l.deviceId}/${l.recordingId}`, l.caseNumber), withIso([l], tz)[0]);
    return 0;
  }
  if (noun === "ratios") {
    const r = await s.reports.fleet(me, f("--unit"));
    if (out.mode === "json") return void console.log(JSON.stringify(r, null, 1)), 0;
    out.rows(r.units.map((u) => ({ unit: u.unitId, name: u.name, officers: u.rollup.devices.officers, required: u.rollup.devices.required, devices: u.rollup.devices.counted, shortfall: u.rollup.devices.shortfall, reviewersRequired: u.rollup.reviewers.required, reviewers: u.rollup.reviewers.counted, compliant: u.compliant && u.reviewersCompliant })),
      r.units.map((u) => ({ unit: "  ".repeat(u.depth) + u.name, ratio: `1:${(u as { ratio?: number }).ratio ?? r.ratio}`, officers: u.rollup.devices.officers, required: u.rollup.devices.required, devices: u.rollup.devices.counted, shortfall: u.rollup.devices.shortfall, reviewersRequired: u.rollup.reviewers.required, reviewers: u.rollup.reviewers.counted, compliant: word(L, u.compliant && u.reviewersCompliant ? "yes" : "no") })));
    out.line(msg(L, "ratioLine", r.ratio, `${r.auditHead.count}:${r.auditHead.hash.slice(0, 16)}`));
    return 0;
  }
  if (noun === "stats") {
    const r = await s.reports.statistics(me, { from: f("--from"), to: f("--to"), by: f("--by") });
    if (out.mode === "json") return void console.log(JSON.stringify(r, null, 1)), 0;
    out.rows(r.rows.map((x) => ({ key: x.key, label: x.label, recordings: x.recordings, hours: Number(x.hours.toFixed(3)), verified: x.verdicts.verified, incomplete: x.verdicts.incomplete, failed: x.verdicts.failed, medianUploadDelayMs: x.medianUploadDelayMs, fullCases: x.fullCases, fullCoveragePercent: x.fullCoveragePercent === null ? null : Number(x.fullCoveragePercent.toFixed(1)) })),
      r.rows.map((x) => ({ [r.by]: x.label, recordings: x.recordings, hours: duration(x.hours * 3600000), [word(L, "verified")]: x.verdicts.verified, [word(L, "incomplete")]: x.verdicts.incomplete, [word(L, "failed")]: x.verdicts.failed, medianUploadDelay: duration(x.medianUploadDelayMs), fullCoverage: x.fullCases ? `${percent(x.fullCoveragePercent)} (${x.fullCases})` : "-" })));
    return 0;
  }
  if (noun === "coverage") {
    const r = await s.reports.coverage(me);
    if (out.mode === "json") return void console.log(JSON.stringify(r, null, 1)), 0;
    out.rows(withIso(r.cases.map((c) => ({ caseNumber: c.caseNumber, policy: c.policy, windowStartMs: c.windowStart, windowEndMs: c.windowEnd, verifiedClips: c.verifiedClips, satisfied: c.satisfied, percent: c.percent === null ? null : Number(c.percent.toFixed(1)), gaps: c.gaps.map(([a, b]) => `${isoLocal(a, tz)}/${isoLocal(b, tz)}`).join(" "), gapCauses: c.gapCauses.join(" ") })), tz),
      r.cases.map((c) => ({ number: c.caseNumber, policy: c.policy, window: `${localTime(c.windowStart, tz)} → ${localTime(c.windowEnd, tz)}`, verifiedClips: c.verifiedClips, covered: percent(c.percent), satisfied: word(L, c.satisfied ? "yes" : "no"),
        gaps: c.gaps.length ? c.gaps.map(([a, b], i) => `${localTime(a, tz).slice(11)}–${localTime(b, tz).slice(11)} (${duration(b - a)}, ${word(L, c.gapCauses[i] ?? "")})`).join("; ") : "-" })));
    out.line(msg(L, "times", tz));
    return 0;
  }
  if (noun === "integrity") {
    const r = await s.reports.integrity(me);
    if (out.mode === "json") return void console.log(JSON.stringify(r, null, 1)), 0;
    const { auditHead, ...counts } = r;
    out.rows([counts as Record<string, unknown>], [Object.fromEntries(Object.entries(counts).map(([k, v]) => [word(L, k), v]))]);
    out.line(msg(L, "auditHead", `${auditHead.count}:${auditHead.hash.slice(0, 16)}`));
    return 0;
  }
  if (noun === "alarm") {
    if (verb === "list") {
      const rows = await s.alarms.list(me);
      out.rows(withIso(rows, tz), rows.map((a) => ({ kind: alarmKind(L, a.kind), subject: a.subject, detail: a.said ? alarmText(a.said, L, (ms) => localTime(ms, tz)) : a.detail, count: a.count, first: localTime(a.first_at, tz), last: localTime(a.last_at, tz) })));
      return 0;
    }
    if (verb === "clear") {
      const cleared = await s.alarms.clear(me, a1, a2, reason);
      out.line(msg(L, "cleared", a1, a2), withIso([cleared], tz)[0]);
      return 0;
    }
    return 2;
  }
  if (noun === "audit") {
    if (verb === "verify") {
      const shown = progressReporter("audit verify", "entries");
      const r = await s.audit.verify(me, shown.tick);
      shown.end();
      if (out.mode === "json") console.log(JSON.stringify(r, null, 1));
      else for (const l of formatVerify(r, L)) console.log(l);
      return r.ok ? 0 : 1;
    }
    if (verb === "list") {
      const rows = await s.audit.list(me, { actor: f("--actor"), action: f("--action"), target: f("--target"), limit: f("--limit") });
      out.rows(withIso(rows, tz), rows.map((e) => ({ seq: e.seq, at: localTime(e.at, tz), actor: e.actor, action: e.action, target: e.target ?? "-", reason: e.reason ?? "-" })));
      return 0;
    }
    return 2;
  }
  if (EXPORT_COMMANDS.has(noun)) {
    // Export, approval and custody: open to every role, each command checks its own rights (a
    // grant, an approver, the scope); they read their own flags, some repeated (--recording), from
    // the words as typed, less the CLI's own.
    const own = new Set(["--data-dir", "--db", "--cluster", "--token-file", "--lang"]);
    const rest: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (own.has(a)) { i++; continue; }
      if (a !== "--json") rest.push(a);
    }
    return exportCommand(store, config, rest, out.mode === "json", { "--as": me.name }, {
      recording: (i, why) => s.recordings.custody(me, i.device, i.recording, why),
      account: (name) => s.audit.custodyOfAccount(me, name),
    }, out.lang);
  }
  if (EVIDENCE_COMMANDS.has(noun)) {
    if (me.role !== "admin") throw new GatewayError("ROLE_FORBIDDEN", `${noun} needs the admin role; ${me.name} is ${me.role}`);
    const taken: Record<string, string | undefined> = {};
    for (const k of ["--cert", "--reason", "--from", "--to", "--out", "--subject", "--anchor", "--key", "--device", "--recording", "--due"]) taken[k] = f(k);
    taken["--as"] = me.name;
    const rest = words.slice();
    for (const k of ["--dry-run", "--csv"]) if (f(k)) rest.push(k);
    return evidenceCommand(store, config, rest, out.mode === "json", taken, out.lang);
  }
  return 2;
}

process.exitCode = await main(process.argv.slice(2));

/** One line from standard input: typed at a terminal without echo, or piped. */
async function readSecretLine(prompt: string): Promise<string> {
  const input = process.stdin;
  if (input.isTTY) {
    process.stderr.write(prompt);
    input.setRawMode(true);
    let line = "";
    try {
      for await (const chunk of input) {
        for (const ch of String(chunk)) {
          if (ch === "\r" || ch === "\n") return line;
          if (ch === "\u0003") throw new GatewayError("USAGE", "cancelled");
          if (ch === "\u007f") line = line.slice(0, -1);
          else line += ch;
        }
      }
    } finally {
      input.setRawMode(false);
      input.pause();
      process.stderr.write("\n");
    }
    return line;
  }
  let all = "";
  for await (const chunk of input) {
    all += String(chunk);
    if (all.includes("\n")) break;
  }
  return all.split(/\r?\n/)[0];
}
