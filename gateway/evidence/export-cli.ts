// The admin CLI's export, approval and custody commands (`npm run admin -- export | approval |
// custody ...`): cli.ts hands them the opened store and the arguments left after its own flags.
// The CLI hands over the account its token proved (as --as); the account must be active.
import { csv, localTime } from "../output.js";
import { isoLocal } from "../../protocol/time.js";
import type { Lang } from "../output.js";
import { msg, peopleTable, word } from "../cli-text.js";
import { closeSync, createWriteStream, existsSync, openSync, renameSync, rmSync } from "node:fs";
import type { GatewayConfig } from "../config.js";
import type { Store } from "./cli.js";
import { UsageError, takeFlag } from "./cli.js";
import { Alarms } from "../alarms.js";
import { Evidence } from "./service.js";
import { parseWitnesses } from "./witness-client.js";
import { Approvals, ApprovalError } from "../services/approvals.js";
import type { Actor, Approval, Item } from "../services/approvals.js";
import { ExportError, prepareExport, writeAndKeep } from "./export.js";
import { accountByName } from "../store/export.js";
import { custodyCsv } from "./custody-report.js";
import type { CustodyRow } from "./custody-report.js";
import { ModelError } from "../model/model.js";
import { argPath } from "../../protocol/shell-path.js";


export const EXPORT_USAGE = `  export (--recording DEVICE/N [--from ISO --to ISO] | --case NUMBER) --reason R --out FILE [--grant ID]
                         write an evidence bundle (ZIP) anyone can verify offline (npm run verify); needs a
                         grant (approval request --export ...); --from/--to: an excerpt of one recording
  approval request (--export | --view) (--recording DEVICE/N ... | --case NUMBER) --reason R [--hours H]
                         ask for a grant (default 72 hours) to release records outside, or to view beyond your scope
  approval list [--pending]       the queue, newest first
  approval approve <ID> --reason R [--hours H]   grant it (a designated release approver; a unit supervisor for views)
  approval deny <ID> --reason R
  approval approvers              the accounts designated to approve releases
  approval approver add|remove <ACCOUNT> --reason R   (admin)
  custody (--recording DEVICE/N --reason R | --account NAME) [--csv]   every link, access, approval and export,
                         with account, time and reason; a recording's as a retrieval (your scope, audited), an
                         account's from the audit log (admin)
`;

export const EXPORT_COMMANDS: ReadonlySet<string> = new Set(["export", "approval", "custody"]);

let taken: Record<string, string | undefined> = {};

const flag = (args: string[], name: string) => takeFlag(args, name, taken);

function flags(args: string[], name: string): string[] {
  const out: string[] = [];
  for (let v = flag(args, name); v !== undefined; v = args.includes(name) ? flag(args, name) : undefined) out.push(v);
  return out;
}

/** A command that names one recording refuses a second --recording (it would go unheeded), saying `why`. */
function oneRecording(args: string[], why: string): void {
  if (args.filter((a) => a === "--recording").length > 1) throw new UsageError("USAGE", why);
}

function item(s: string): Item {
  const m = /^([A-Za-z0-9._-]{1,16})\/([1-9][0-9]{0,9})$/.exec(s);
  if (!m) throw new UsageError("USAGE", `name a recording as DEVICE/N, e.g. BWC-0001/12 (got ${JSON.stringify(s)})`);
  return { device: m[1], recording: Number(m[2]) };
}

function time(s: string | undefined, name: string): number | undefined {
  if (s === undefined) return undefined;
  const t = /^\d{4}-\d{2}-\d{2}T/.test(s) ? Date.parse(s) : NaN;
  if (!Number.isFinite(t)) throw new UsageError("USAGE", `${name} is an ISO time such as 2025-06-01T09:30:00+08:00 (got ${JSON.stringify(s)})`);
  return t;
}

function hours(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (!/^[1-9][0-9]{0,3}$/.test(s)) throw new UsageError("USAGE", "--hours is a whole number of hours");
  return Number(s);
}

/** An approval as a table's row; its times in the station's zone (`tz`), as every table of the CLI. */
const show = (a: Approval, tz: string) => ({ id: a.id, kind: a.kind, requester: a.requester, items: a.caseNumber ? `case ${a.caseNumber} (${a.items.length})` : a.items.map((i) => `${i.device}/${i.recording}`).join(" "), reason: a.reason, state: a.state, decidedBy: a.decidedBy ?? "", validUntil: a.validUntil ? localTime(a.validUntil, tz) : "" });

/** Custody as the service layer gives it to the CLI's account: its rules, its scope and its audit entry. */
export interface CustodyReader {
  recording(item: Item, reason: string | undefined): Promise<CustodyRow[]>;
  account(name: string): Promise<(CustodyRow & { item: string })[]>;
}

/** Run one export, approval or custody command; returns the exit code. */
export async function exportCommand(store: Store, config: GatewayConfig, argv: string[], json: boolean, already: Record<string, string | undefined>, custody: CustodyReader, lang: Lang = "en"): Promise<number> {
  const args = argv.slice();
  taken = already;
  try {
    return await run(store, config, args, json, custody, lang);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ApprovalError || e instanceof ExportError || e instanceof ModelError) {
      console.error(`admin: ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

async function actorOf(store: Store, name: string): Promise<Actor> {
  const a = await accountByName(store.db, name);
  if (!a) throw new UsageError("UNKNOWN_ACCOUNT", `--as ${name}: no active account of that name`);
  return a;
}

async function run(store: Store, config: GatewayConfig, args: string[], json: boolean, custody: CustodyReader, lang: Lang): Promise<number> {
  const [noun, verb] = args;
  const actor = await actorOf(store, flag(args, "--as") || "admin");
  const approvals = new Approvals(store.db, store.audit, store.model);
  const tz = store.policy.timeZone;
  const times = msg(lang, "times", tz);
  if (noun === "export") {
    oneRecording(args, "export takes one --recording, or --case NUMBER for a case's recordings");
    const outGiven = flag(args, "--out");
    const rec = flag(args, "--recording");
    const kase = flag(args, "--case");
    const reason = flag(args, "--reason");
    const grant = flag(args, "--grant");
    if (!outGiven) throw new UsageError("USAGE", "export needs --out FILE");
    const out = argPath(outGiven);
    if (existsSync(out)) throw new UsageError("OUT_EXISTS", `${out} exists: choose another file (an export never overwrites one)`);
    if (grant !== undefined && !/^[1-9][0-9]*$/.test(grant)) throw new UsageError("USAGE", "--grant is an approval id");
    // The file it is written to is made first, before anything is audited: one already there is
    // another export's to the same file, running or cut short.
    const partial = out + ".partial";
    let fd: number;
    try {
      fd = openSync(partial, "wx", 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EEXIST") throw new UsageError("OUT_BUSY", `${partial} exists: another export to ${out} is running, or one was cut short (its export is marked failed at the gateway's next start); if none is running, remove ${partial}, or choose another file`);
      throw new UsageError("OUT_UNWRITABLE", `${partial} can't be made: ${(e as Error).message}`);
    }
    let prepared: Awaited<ReturnType<typeof prepareExport>>;
    try {
      const evidence = new Evidence({ db: store.db, identity: store.identity, audit: store.audit, alarms: new Alarms(store.db), witnesses: parseWitnesses(config.witnesses), registry: store.registry, media: store.media });
      prepared = await prepareExport({ db: store.db, audit: store.audit, model: store.model, registry: store.registry, identity: store.identity, approvals, tlog: evidence.tlog, dataDir: store.dir, media: store.media, sync: () => evidence.sync() },
        actor, { recording: rec ? item(rec) : undefined, caseNumber: kase, fromMs: time(flag(args, "--from"), "--from"), toMs: time(flag(args, "--to"), "--to"), reason: reason ?? "", grant: grant ? Number(grant) : undefined });
    } catch (e) {
      closeSync(fd);
      rmSync(partial, { force: true });
      throw e;
    }
    const file = createWriteStream(partial, { fd });
    // A write that fails (the disk full) ends the file early: the export is then not renamed into place.
    let failed: Error | null = null;
    file.on("error", (e) => { failed = e; });
    let last = 0;
    const t0 = Date.now();
    try {
      const { bundle } = await writeAndKeep(prepared, file, (p) => {
        if (Date.now() - last < 1000 && p.current !== null) return;
        last = Date.now();
        process.stderr.write(msg(lang, "exportProgress", p.done, p.recordings, (p.bytes / 1048576).toFixed(1), p.current ? msg(lang, "exportNow", p.current) : "") + "\n");
      });
      if (failed) throw new UsageError("OUT_UNWRITABLE", `${partial}: ${(failed as Error).message}: the bundle was not written whole (the station keeps its copy of export ${prepared.id}: its account can download it again while the grant lasts)`);
      renameSync(partial, out);
      const total = bundle.files.reduce((s, f) => s + f.size, 0);
      if (json) console.log(JSON.stringify({ out, id: bundle.id, recordings: bundle.recordings.length, bytes: total, checkpoint: bundle.checkpoint.size, grant: bundle.export.grant }, null, 1));
      else console.log(msg(lang, "exported", bundle.id, bundle.recordings.length, (total / 1048576).toFixed(1), ((Date.now() - t0) / 1000).toFixed(1), out, store.identity.verifierKey));
      return 0;
    } catch (e) {
      file.destroy();
      rmSync(partial, { force: true });
      throw e;
    }
  }
  if (noun === "approval") {
    if (verb === "request") {
      const kind = args.includes("--export") ? "export" : args.includes("--view") ? "view" : null;
      if (!kind) throw new UsageError("USAGE", "approval request --export (a release outside) or --view (beyond your scope)");
      const kase = flag(args, "--case");
      const items = flags(args, "--recording").map(item);
      const a = await approvals.request(actor, { kind, caseNumber: kase, items: kase ? undefined : items, reason: flag(args, "--reason") ?? "", hours: hours(flag(args, "--hours")) });
      if (json) console.log(JSON.stringify(a, null, 1));
      else console.log(msg(lang, "requested", a.id, a.kind, show(a, tz).items));
      return 0;
    }
    if (verb === "list") {
      const rows = await approvals.listFor(actor, args.includes("--pending") ? { state: "pending" } : {});
      if (json) console.log(JSON.stringify(rows, null, 1));
      else if (args.includes("--csv")) process.stdout.write(csv(rows.map((a) => ({ ...show(a, tz), validUntil: a.validUntil ? isoLocal(a.validUntil, tz) : "" }))));
      else if (!rows.length) console.log(word(lang, "none"));
      else console.log(`${peopleTable(lang, rows.map((a) => show(a, tz)))}\n${times}`);
      return 0;
    }
    if (verb === "approve" || verb === "deny") {
      const id = args[2];
      if (!id || !/^[1-9][0-9]*$/.test(id)) throw new UsageError("USAGE", `approval ${verb} <ID> --reason R`);
      const reason = flag(args, "--reason") ?? "";
      const a = verb === "approve" ? await approvals.approve(actor, Number(id), reason, hours(flag(args, "--hours"))) : await approvals.deny(actor, Number(id), reason);
      if (json) console.log(JSON.stringify(a, null, 1));
      else console.log(a.validUntil ? msg(lang, "decidedUntil", a.id, word(lang, a.state), localTime(a.validUntil, tz), tz) : msg(lang, "decided", a.id, word(lang, a.state)));
      return 0;
    }
    if (verb === "approvers") {
      const rows = await approvals.releaseApprovers();
      if (json) console.log(JSON.stringify(rows, null, 1));
      else if (args.includes("--csv")) process.stdout.write(csv(rows.map((r) => ({ account: r.account, addedBy: r.added_by, added: isoLocal(r.added_at, tz) }))));
      else if (!rows.length) console.log(msg(lang, "noApprovers"));
      else console.log(`${peopleTable(lang, rows.map((r) => ({ account: r.account, addedBy: r.added_by, added: localTime(r.added_at, tz) })))}\n${times}`);
      return 0;
    }
    if (verb === "approver" && (args[2] === "add" || args[2] === "remove") && args[3]) {
      const reason = flag(args, "--reason") ?? "";
      if (args[2] === "add") await approvals.addReleaseApprover(actor, args[3], reason);
      else if (!(await approvals.removeReleaseApprover(actor, args[3], reason))) throw new UsageError("NOT_AN_APPROVER", `${args[3]} is not a release approver`);
      console.log(msg(lang, args[2] === "add" ? "approverAdded" : "approverRemoved", args[3]));
      return 0;
    }
    throw new UsageError("USAGE", "approval request | list | approve | deny | approvers | approver add|remove");
  }
  if (noun === "custody") {
    oneRecording(args, "custody takes one --recording: one recording's trail at a time");
    const rec = flag(args, "--recording");
    const account = flag(args, "--account");
    if (!rec === !account) throw new UsageError("USAGE", "custody --recording DEVICE/N or --account NAME");
    const reason = flag(args, "--reason");
    if (account && reason !== undefined) throw new UsageError("USAGE", "custody --account NAME reads the audit log and takes no --reason; a recording's custody takes one");
    const rows = rec ? (await custody.recording(item(rec), reason)).map((r) => ({ item: rec, ...r })) : await custody.account(account!);
    if (args.includes("--csv")) process.stdout.write(custodyCsv(rows));
    else if (json) console.log(JSON.stringify(rows, null, 1));
    else if (!rows.length) console.log(word(lang, "none"));
    else console.log(`${peopleTable(lang, rows.map((r) => ({ item: r.item, at: localTime(r.atMs, tz), account: r.account, action: r.action, reason: r.reason, detail: r.detail, proof: r.proof })))}\n${times}`);
    return 0;
  }
  throw new UsageError("USAGE", `unknown command: ${args.join(" ")} (see --help)`);
}
