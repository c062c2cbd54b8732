// `npm run admin -- <command>`: the station admin's CLI. It opens the gateway's data directory
// directly (stop the gateway first if it runs on another machine's disk).
import { writeFileSync } from "node:fs";
import { ConfigError, loadConfig } from "./config.js";
import { openStore } from "./gateway.js";
import { DeviceError } from "./devices.js";
import { AccountError } from "./api/accounts.js";
import { ModelError } from "./model/model.js";
import { AuditError } from "./audit/log.js";
import { formatVerify } from "./audit/cli-verify.js";
import { Alarms } from "./alarms.js";
import { fleetReport } from "./reports/ratios.js";
import { coverageReport, statistics } from "./reports/coverage.js";
import type { Role } from "./api/accounts.js";
import { toHex } from "../protocol/bytes.js";
import { endReasonOf } from "../protocol/blocks.js";

const USAGE = `Usage: npm run admin -- <command> [--data-dir DIR] [--json]

Commands:
  device add <ID> --root-out <FILE> [--kind body|fixed]
                         register a device; its root secret goes to FILE (mode 0600), never to the screen
  device list            devices with state and last contact
  device revoke <ID> --reason R   revoke a device (it may only say Hello, and is answered with Revoke)
  device lost <ID> --reason R     mark a device lost (still admitted; its uploads are flagged)
  recording list [ID]    recordings with their verdicts
  account add <NAME> <ROLE> [--badge B]   ROLE: admin, supervisor, legal_reviewer, officer (officers need --badge)
  account list
  token issue <NAME>     a new API token for an account, shown once (only its hash is kept)
  unit add <NAME> <LEVEL> [--parent ID]     LEVEL: region, city, county, agency
  unit list
  officer add <BADGE> <NAME> --unit ID --role enforcement|legal_reviewer|supervisor [--cert NO --valid-from YYYY-MM-DD --valid-to YYYY-MM-DD]
  officer list
  case add <NUMBER> --unit ID --category C --activity KIND --from ISO --to ISO [--confidentiality 0-3]
  case list
  assign <DEVICE> (--badge B | --room R)    check a device out
  return <DEVICE>                           check it back in
  link <DEVICE> <RECORDING> <CASE> --reason R      (unlink: the same, with unlink)
  ratios                 fleet and legal-reviewer ratios per unit, rolled up the tree
  stats --from ISO --to ISO [--by unit|officer]   recordings, hours, verdicts, upload delay
  coverage               FULL and KEY_STEPS cases: coverage by verified clips, with gaps
  alarm list             open alarms
  alarm clear <KIND> <SUBJECT> --reason R
  audit verify           check the audit log's hash chain and its keyed checkpoints
  audit list

Changes are made as the account named by --as (default: admin); the audit log records it.
`;

async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const take = (name: string) => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    argv.splice(i, 2);
    return v;
  };
  const rootOut = take("--root-out");
  const kind = take("--kind");
  const dataDir = take("--data-dir");
  const badge = take("--badge");
  const opt = {
    as: take("--as") || "admin", parent: take("--parent"), unit: take("--unit"), role: take("--role"), cert: take("--cert"),
    from: take("--valid-from"), to: take("--valid-to"), category: take("--category"), activity: take("--activity"),
    wfrom: take("--from"), wto: take("--to"), by: take("--by"), conf: take("--confidentiality"), room: take("--room"), reason: take("--reason"),
  };
  const args = argv.filter((a) => a !== "--json");
  if (!args.length || args[0] === "--help" || args[0] === "help") { console.log(USAGE); return args.length ? 0 : 2; }
  const { config } = loadConfig(dataDir ? ["--data-dir", dataDir] : [], process.env);
  const store = await openStore(config);
  const audited = (action: string, target: string, details: Record<string, unknown>) => store.audit.append({ actor: opt.as, action, target, details });
  const out = (rows: object[]) => {
    if (json) console.log(JSON.stringify(rows, null, 1));
    else if (!rows.length) console.log("(none)");
    else console.table(rows);
  };
  try {
    const [noun, verb, id] = args;
    if (noun === "device" && verb === "add") {
      if (!id || !rootOut) throw new DeviceError("USAGE", "device add needs <ID> and --root-out <FILE>");
      if (kind && kind !== "body" && kind !== "fixed") throw new DeviceError("USAGE", "--kind is body or fixed");
      const root = await store.registry.add(id, { kind: (kind as "body" | "fixed") || "body" });
      await audited("device.add", id, { kind: kind || "body" });
      writeFileSync(rootOut, toHex(root) + "\n", { mode: 0o600, flag: "wx" });
      root.fill(0);
      console.log(`device ${id} registered; root secret written to ${rootOut} (mode 0600). MQTT username: ${id}`);
    } else if (noun === "device" && verb === "list") out(await store.registry.list());
    else if (noun === "device" && (verb === "revoke" || verb === "lost")) {
      if (!id) throw new DeviceError("USAGE", `device ${verb} needs <ID>`);
      if (!opt.reason) throw new DeviceError("REASON_REQUIRED", `device ${verb} needs --reason`);
      await store.registry.setState(id, verb === "revoke" ? "revoked" : "lost");
      await store.audit.append({ actor: opt.as, action: "device.state", target: id, reason: opt.reason, details: { state: verb === "revoke" ? "revoked" : "lost" } });
      console.log(`device ${id}: ${verb === "revoke" ? "revoked" : "lost"}`);
    } else if (noun === "account" && verb === "add") {
      if (!id || !args[3]) throw new DeviceError("USAGE", "account add needs <NAME> <ROLE>");
      await store.accounts.create(id, args[3] as Role, badge);
      await audited("account.add", id, { role: args[3], badge: badge || null });
      console.log(`account ${id} (${args[3]}) created; issue its token with: npm run admin -- token issue ${id}`);
    } else if (noun === "account" && verb === "list") out(await store.accounts.list());
    else if (noun === "token" && verb === "issue") {
      if (!id) throw new DeviceError("USAGE", "token issue needs <NAME>");
      const token = await store.accounts.issueToken(id);
      await audited("token.issue", id, {});
      console.log(token);
      console.error("(shown once: store it now)");
    } else if (noun === "unit" && verb === "add") {
      const u = await store.model.addUnit(id, args[3] as never, opt.parent ? Number(opt.parent) : undefined);
      await audited("unit.add", String(u.id), { name: id, level: args[3] });
      console.log(`unit ${u.id} ${id} (${args[3]})`);
    } else if (noun === "unit" && verb === "list") out(await store.model.listUnits());
    else if (noun === "officer" && verb === "add") {
      await store.model.addOfficer({ badge: id, name: args[3], unitId: Number(opt.unit), role: opt.role as never, certNo: opt.cert, certValidFrom: opt.from, certValidTo: opt.to });
      await audited("officer.add", id, { unit: opt.unit, role: opt.role });
      console.log(`officer ${id} added`);
    } else if (noun === "officer" && verb === "list") out(await store.model.listOfficers());
    else if (noun === "case" && verb === "add") {
      await store.model.addCase({ number: id, unitId: Number(opt.unit), category: opt.category as never, activityKind: String(opt.activity), windowStart: Date.parse(String(opt.wfrom)), windowEnd: Date.parse(String(opt.wto)), confidentiality: opt.conf ? Number(opt.conf) : undefined });
      await audited("case.add", id, { unit: opt.unit });
      console.log(`case ${id} added`);
    } else if (noun === "case" && verb === "list") out(await store.model.listCases());
    else if (noun === "assign") {
      await store.model.checkOut(verb, (badge ? { badge } : { room: String(opt.room) }) as never, Date.now());
      await audited("device.checkout", verb, badge ? { badge } : { room: opt.room });
      console.log(`device ${verb} checked out`);
    } else if (noun === "return") {
      await store.model.returnDevice(verb, Date.now());
      await audited("device.return", verb, {});
      console.log(`device ${verb} returned`);
    } else if (noun === "link" || noun === "unlink") {
      if (!opt.reason) throw new DeviceError("REASON_REQUIRED", `${noun} needs --reason`);
      const rec = Number(id);
      if (noun === "link") await store.model.link(verb, rec, args[3], opt.as, opt.reason);
      else await store.model.unlink(verb, rec, args[3], opt.as, opt.reason);
      await store.audit.append({ actor: opt.as, action: "clip." + noun, target: `${verb}/${rec}`, reason: opt.reason, details: { case: args[3] } });
      console.log(`${verb}/${rec} ${noun}ed ${noun === "link" ? "to" : "from"} case ${args[3]}`);
    } else if (noun === "ratios") {
      const r = await fleetReport(store.db, { ratio: config.fleetRatio });
      if (json) console.log(JSON.stringify({ ...r, auditHead: await store.audit.head() }, null, 1));
      else {
        out(r.units.map((u) => ({ unit: "  ".repeat(u.depth) + u.name, officers: u.rollup.devices.officers, required: u.rollup.devices.required, devices: u.rollup.devices.counted, shortfall: u.rollup.devices.shortfall, reviewersRequired: u.rollup.reviewers.required, reviewers: u.rollup.reviewers.counted, compliant: u.compliant && u.reviewersCompliant })));
        console.log(`ratio 1:${r.ratio}; audit head ${JSON.stringify(await store.audit.head())}`);
      }
    } else if (noun === "stats") {
      const from = Date.parse(String(opt.wfrom)), to = Date.parse(String(opt.wto));
      if (!Number.isFinite(from) || !Number.isFinite(to)) throw new DeviceError("USAGE", "stats needs --from ISO --to ISO");
      out(await statistics(store.db, { from, to, by: (opt.by as "unit" | "officer") || "unit" }));
    } else if (noun === "coverage") {
      const c = await coverageReport(store.db, { gapToleranceMs: config.gapToleranceMs });
      if (json) console.log(JSON.stringify({ cases: c, auditHead: await store.audit.head() }, null, 1));
      else out(c.map((x) => ({ ...x, gaps: JSON.stringify((x as { gaps?: unknown }).gaps || []) })));
    } else if (noun === "alarm" && verb === "list") out(await new Alarms(store.db).list({ open: true }));
    else if (noun === "alarm" && verb === "clear") {
      if (!opt.reason) throw new DeviceError("REASON_REQUIRED", "alarm clear needs --reason");
      const a = await new Alarms(store.db, undefined, { audit: store.audit }).clear(id as never, args[3], opt.as, opt.reason);
      console.log(a ? `alarm ${id} ${args[3]} cleared` : `no open alarm ${id} ${args[3]}`);
    }
    else if (noun === "audit" && verb === "verify") {
      const r = await store.audit.verify();
      if (json) console.log(JSON.stringify(r, null, 1));
      else for (const line of formatVerify(r)) console.log(line);
      return r.ok ? 0 : 1;
    } else if (noun === "audit" && verb === "list") out(await store.audit.list({ limit: 50 }));
    else if (noun === "recording" && verb === "list") {
      const rows = await store.db.all<Record<string, unknown>>("SELECT device_id AS device, recording_id AS recording, verdict, final, linked_seq AS chunks, total_bytes AS bytes, interrupted, case_tag, seal_block FROM recordings" + (id ? " WHERE device_id = ?" : "") + " ORDER BY device_id, recording_id", id ? [id] : []);
      // Why each recording ended, from its seal (R-SEAL-5), in place of the block.
      out(rows.map(({ seal_block, ...r }) => ({ ...r, end_reason: endReasonOf(seal_block as Uint8Array | null) })));
    } else {
      console.error(USAGE);
      return 2;
    }
    return 0;
  } catch (e) {
    if (e instanceof DeviceError || e instanceof ConfigError || e instanceof AccountError || e instanceof ModelError || e instanceof AuditError) {
      console.error(`admin: ${(e as DeviceError).code ? (e as DeviceError).code + ": " : ""}${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    await store.db.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
