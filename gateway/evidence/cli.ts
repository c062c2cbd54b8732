// The admin CLI's evidence commands (`npm run admin -- station-key | x509 ...`): cli.ts hands
// them the opened store and the arguments left after its own flags.
import { csv, localTime } from "../output.js";
import { isoLocal } from "../../protocol/time.js";
import type { Lang } from "../output.js";
import { peopleTable, word } from "../cli-text.js";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GatewayConfig } from "../config.js";
import type { openStore } from "../gateway.js";
import type { Media } from "../store/media.js";
import { toBase64 } from "../../protocol/base64.js";
import { toHex } from "../../protocol/bytes.js";
import { IdentityError } from "./identity.js";
import { Alarms } from "../alarms.js";
import { Scrubber } from "./scrub.js";
import { Retention, RetentionError } from "./retention.js";
import type { Placement } from "./retention.js";
import { TransparencyLog } from "./tlog.js";
import { syncSources } from "./sources.js";
import { verifyLog } from "./verify-log.js";
import { progressReporter } from "../progress.js";
import { Evidence } from "./service.js";
import { parseWitnesses } from "./witness-client.js";
import { cosignatures, witnessSize } from "../store/tlog.js";
import { parseNote } from "../../protocol/note.js";
import { argPath } from "../../protocol/shell-path.js";
import { purgeStateOf, tombstones } from "../store/retention.js";
import { X509Error, describeCertificate, installCertificate, signingCredentials, stationCsr, uninstallCertificate, pemCertificates } from "./x509.js";


/** The opened store the CLI works on; its media the station's files, or (`--cluster FILE`) a region's JetStream. */
export type Store = Omit<Awaited<ReturnType<typeof openStore>>, "media"> & { media: Media };

/** Usage lines cli.ts prints with its own. */
export const EVIDENCE_USAGE = `  station-key            the station's Ed25519 public key, its note verifier key (for monitors, witnesses
                         and offline verifiers) and its C2PA signing certificate
  x509 show              the C2PA signing certificate chain in use and its trust anchor
  x509 csr --out FILE [--subject /C=CN/O=.../CN=...]   a certificate request for the station key, for an agency CA
  x509 install --cert FILE [--anchor FILE] [--key FILE]   use an agency-issued signing certificate (then intermediates)
                         for C2PA; without --key it must certify the station key; checked against the C2PA profile
  x509 uninstall         go back to the station's own certificate
  scrub [--device D] [--recording N]   re-hash stored media against the stored headers and recompute the chains
                         now (at full speed); what no longer matches raises STORAGE_CORRUPT; exit 1 if damage is found
  log status [--witnesses 'URL KEY,...']   the transparency log: origin, size, latest checkpoint, its
                         cosignatures, each witness
  log sync [--witnesses 'URL KEY,...']   bring the log up to date now and ask the witnesses to cosign (the
                         gateway's: EVREC_WITNESSES or --witnesses, given here as to npm start)
  log verify             replay the log against what the station holds: leaves, checkpoints and signatures,
                         tile hashes, and what leaves anchor (audit log heads, seal blocks, custody events);
                         exit 1 on any problem
  log proof <DEVICE/N>   the recording's manifest leaf, its inclusion proof and the checkpoint it is proved in
  retention [--due DAYS] each recording's retention: category (hold, case, case-released, routine, open) and
                         end; with --due, only what ends within DAYS, and what awaits erasure
  hold <DEVICE/N> --reason R      keep a recording whatever its category, until released (audited)
  release <DEVICE/N> --reason R   release an admin hold (audited)
  purge [--dry-run]      mark what has run out of retention for purge; erase what passed its undelete window
                         (media and chunks go; a tombstone, the recording's row and log leaves remain)
  undelete <DEVICE/N> --reason R  take back a recording marked for purge, within its window (it is then held)
  tombstones             what was erased: ids, seal value, category, retention end, log indexes
`;

/** Nouns this module answers. */
export const EVIDENCE_COMMANDS: ReadonlySet<string> = new Set(["station-key", "x509", "scrub", "log", "retention", "hold", "release", "purge", "undelete", "tombstones"]);

/** An error with a reason code that the CLI prints as `admin: CODE: message`. */
export class UsageError extends Error {
  constructor(public code: string, message: string) {
    super(message);
  }
}

// Flags cli.ts has already taken for its own commands (--cert, --reason, --as, --from, --to).
let taken: Record<string, string | undefined> = {};

/** Take `name`'s value out of `args`, else what cli.ts already took for it (`taken`). */
export function takeFlag(args: string[], name: string, taken: Record<string, string | undefined>): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return taken[name];
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) throw new UsageError("USAGE", `${name} needs a value`);
  args.splice(i, 2);
  return v;
}

const flag = (args: string[], name: string) => takeFlag(args, name, taken);

function readInput(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError("FILE_UNREADABLE", `${what} ${file}: ${(e as NodeJS.ErrnoException).code || (e as Error).message}`);
  }
}

/** Run one evidence command; returns the exit code. Errors with a code are printed, not thrown. */
export async function evidenceCommand(store: Store, config: GatewayConfig, argv: string[], json: boolean, already: Record<string, string | undefined> = {}, lang: Lang = "en"): Promise<number> {
  const args = argv.slice();
  taken = already;
  try {
    return await run(store, config, args, json, lang);
  } catch (e) {
    if (e instanceof UsageError || e instanceof IdentityError || e instanceof X509Error || e instanceof RetentionError || typeof (e as { code?: unknown }).code === "string") {
      console.error(`admin: ${(e as { code: string }).code}: ${(e as Error).message.replace(/^[A-Z_]+: /, "")}`);
      return 1;
    }
    throw e;
  }
}

function target(s: string | undefined): { device: string; recording: number } {
  const m = s ? /^([A-Za-z0-9._-]{1,16})\/([1-9][0-9]{0,9})$/.exec(s) : null;
  if (!m) throw new UsageError("USAGE", `name the recording as DEVICE/N, e.g. BWC-0001/12 (got ${JSON.stringify(s ?? "")})`);
  return { device: m[1], recording: Number(m[2]) };
}

/** A station-local date, as the CLI's other tables give it. */
const day = (t: number | null, tz: string) => (t === null ? "-" : localTime(t, tz).slice(0, 10));

function placementRows(list: Placement[], tz: string, lang: Lang) {
  return list.map((p) => ({ recording: `${p.device}/${p.recording}`, category: p.category, keepUntil: p.retainUntil === null ? word(lang, "while it applies") : day(p.retainUntil, tz), state: p.state, eraseAt: day(p.eraseAt, tz) }));
}

async function run(store: Store, config: GatewayConfig, args: string[], json: boolean, lang: Lang): Promise<number> {
  const [noun, verb] = args;
  const id = store.identity;
  if (noun === "station-key") {
    const cred = signingCredentials(store.dir, id);
    const cert = describeCertificate(pemCertificates(cred.chainPem)[0]);
    const out = {
      name: id.name,
      publicKey: toBase64(id.publicKey),
      publicKeyHex: toHex(id.publicKey),
      verifierKey: id.verifierKey,
      signingCertificate: { source: cred.source, ...cert },
      trustAnchor: cred.anchorPem ? describeCertificate(cred.anchorPem) : null,
      trustAnchorFile: cred.source === "station" ? join(store.dir, "x509", "station-ca.crt") : null,
    };
    if (json) console.log(JSON.stringify(out, null, 1));
    else {
      console.log(`station ${out.name}`);
      console.log(`  Ed25519 public key   ${out.publicKey}`);
      console.log(`  note verifier key    ${out.verifierKey}`);
      console.log(`  C2PA certificate     ${cert.subject} (issued by ${cert.issuer}, ${cred.source}), valid ${cert.validFrom} to ${cert.validTo}`);
      console.log(`                       SHA-256 ${cert.fingerprint}`);
      if (out.trustAnchor) console.log(`  trust anchor         ${out.trustAnchor.subject}, SHA-256 ${out.trustAnchor.fingerprint}${out.trustAnchorFile ? ` (${out.trustAnchorFile})` : ""}`);
    }
    return 0;
  }
  if (noun === "x509" && verb === "show") {
    const cred = signingCredentials(store.dir, id);
    const chain = pemCertificates(cred.chainPem).map(describeCertificate);
    if (json) console.log(JSON.stringify({ source: cred.source, chain, anchor: cred.anchorPem ? describeCertificate(cred.anchorPem) : null }, null, 1));
    else {
      chain.forEach((c, i) => console.log(`${i === 0 ? "signing" : "intermediate"}: ${c.subject} <- ${c.issuer}; valid to ${c.validTo}; SHA-256 ${c.fingerprint}`));
      if (cred.anchorPem) { const a = describeCertificate(cred.anchorPem); console.log(`anchor: ${a.subject}; SHA-256 ${a.fingerprint}`); }
      console.log(`(${cred.source === "station" ? "the station's own chain" : "installed by an admin"})`);
    }
    return 0;
  }
  if (noun === "x509" && verb === "csr") {
    const given = flag(args, "--out");
    const subject = flag(args, "--subject");
    if (!given) throw new UsageError("USAGE", "x509 csr needs --out FILE");
    const out = argPath(given);
    try {
      writeFileSync(out, stationCsr(id, subject), { flag: "wx" });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EEXIST") throw new UsageError("OUT_EXISTS", `${out} exists: choose another file (a request is never written over one)`);
      if (typeof code === "string") throw new UsageError("OUT_UNWRITABLE", `${out} can't be made: ${(e as Error).message}`);
      throw e;
    }
    console.log(`certificate request for the station key written to ${out}`);
    return 0;
  }
  if (noun === "x509" && verb === "install") {
    const cert = flag(args, "--cert");
    const anchor = flag(args, "--anchor");
    const key = flag(args, "--key");
    if (!cert) throw new UsageError("USAGE", "x509 install needs --cert FILE");
    const r = installCertificate(store.dir, id, { certPem: readInput(argPath(cert), "--cert"), anchorPem: anchor ? readInput(argPath(anchor), "--anchor") : undefined, keyPem: key ? readInput(argPath(key), "--key") : undefined });
    await store.audit.append({ actor: flag(args, "--as") || "admin", action: "x509.install", target: r.fingerprint, details: { subject: r.subject, issuer: r.issuer } });
    console.log(`installed: ${r.subject} (issued by ${r.issuer}), SHA-256 ${r.fingerprint}; C2PA signing uses it from now on`);
    return 0;
  }
  if (noun === "x509" && verb === "uninstall") {
    const removed = uninstallCertificate(store.dir);
    if (removed) await store.audit.append({ actor: flag(args, "--as") || "admin", action: "x509.uninstall", target: "installed" });
    console.log(removed ? "installed certificate removed: C2PA signing uses the station's own chain" : "no installed certificate");
    return 0;
  }
  if (noun === "scrub") {
    const device = flag(args, "--device");
    const recording = flag(args, "--recording");
    if (recording !== undefined && (!device || !/^[1-9][0-9]{0,9}$/.test(recording))) throw new UsageError("USAGE", "--recording N (a positive integer) goes with --device D");
    const scrubber = new Scrubber(store.db, store.media, store.registry, { alarms: new Alarms(store.db), audit: store.audit });
    const shown = progressReporter("scrub", "recordings");
    const r = await scrubber.run({ device, recording: recording === undefined ? undefined : Number(recording), progress: shown.tick });
    shown.end();
    const mib = r.bytes / 1048576;
    if (json) console.log(JSON.stringify(r, null, 1));
    else {
      console.log(`scrub: ${r.recordings} recordings, ${r.chunks} chunks, ${mib.toFixed(1)} MiB in ${(r.ms / 1000).toFixed(1)} s${r.ms ? ` (${(mib / (r.ms / 1000)).toFixed(0)} MiB/s)` : ""}`);
      if (!r.damaged.length) console.log("scrub: every stored value matches what the devices signed");
      for (const d of r.damaged) {
        console.log(`${d.device}/${d.recording}: ${d.state}`);
        for (const f of d.findings) console.log(`  ${f.seq === null ? "recording" : f.seq === 0 ? "genesis" : f.seq === -1 ? "seal" : `chunk ${f.seq}`}: ${f.detail}${d.fresh.includes(f) ? "" : " (reported before)"}`);
      }
    }
    return r.damaged.length ? 1 : 0;
  }
  if (noun === "log") {
    const evidence = new Evidence({ db: store.db, identity: id, audit: store.audit, alarms: new Alarms(store.db), witnesses: parseWitnesses(config.witnesses), registry: store.registry, media: store.media });
    if (verb === "sync") {
      const r = await evidence.sync();
      if (json) console.log(JSON.stringify(r, null, 1));
      else {
        console.log(`log: ${r.added} leaves added; size ${r.size}`);
        for (const w of r.witnesses) console.log(`  witness ${w.witness}: ${w.status}${w.status === "refused" ? ` ${w.code}: ${w.detail}` : w.status === "unreachable" ? `: ${w.detail}` : ""}`);
      }
      return r.witnesses.some((w) => w.status === "refused") ? 1 : 0;
    }
    if (verb === "status") {
      const cp = await evidence.tlog.checkpoint();
      const cos = await cosignatures(store.db, cp.size);
      const ws = await Promise.all(parseWitnesses(config.witnesses).map(async (w) => ({ witness: w.key.name, url: w.url, cosignedSize: await witnessSize(store.db, w.key.name) })));
      const out = { origin: id.name, verifierKey: id.verifierKey, size: cp.size, root: toBase64(cp.root), cosignedBy: cos.map((c) => c.witness), witnesses: ws, checkpoint: cp.note };
      if (json) console.log(JSON.stringify(out, null, 1));
      else {
        console.log(`log ${out.origin}: ${cp.size} leaves, root ${out.root}`);
        console.log(`  cosigned by: ${out.cosignedBy.length ? out.cosignedBy.join(", ") : "no witness"}`);
        for (const w of ws) console.log(`  witness ${w.witness} (${w.url}) last cosigned size ${w.cosignedSize}`);
        process.stdout.write(cp.note.replace(/^/gm, "  | "));
      }
      return 0;
    }
    if (verb === "verify") {
      const shown = progressReporter("log verify", "leaves");
      const r = await verifyLog(store.db, id, { progress: shown.tick });
      shown.end();
      if (json) console.log(JSON.stringify(r, null, 1));
      else if (r.ok) console.log(`log OK: ${r.size} leaves, ${r.checkpoints} checkpoints; every anchored audit head, seal block and custody event matches`);
      else {
        console.log(`log FAILED: ${r.problems.length} problem(s) in ${r.size} leaves`);
        for (const p of r.problems) console.log(`  ${p.code}: ${p.detail}`);
      }
      return r.ok ? 0 : 1;
    }
    if (verb === "proof") {
      const t = target(args[2]);
      const leaf = await evidence.tlog.leafByRef(`recording:${t.device}/${t.recording}`);
      if (!leaf && (await purgeStateOf(store.db, t.device, t.recording)) === undefined) throw new UsageError("UNKNOWN_RECORDING", `no recording ${t.device}/${t.recording} at this station (recording list ${t.device} shows its recordings)`);
      if (!leaf) throw new UsageError("NOT_LOGGED", `${t.device}/${t.recording} has no manifest in the log yet (sealed and settled recordings enter it within moments; admin log sync)`);
      const cp = await evidence.tlog.checkpoint();
      const proof = await evidence.tlog.inclusionProof(leaf.idx, cp.size);
      const out = { index: leaf.idx, size: cp.size, entry: Buffer.from(leaf.data).toString("utf8"), manifestNote: leaf.note, proof: proof.map(toBase64), checkpoint: cp.note };
      if (json) console.log(JSON.stringify(out, null, 1));
      else {
        console.log(`${t.device}/${t.recording}: leaf ${leaf.idx} of ${cp.size}`);
        console.log(`entry: ${out.entry}`);
        console.log(`inclusion proof:\n${out.proof.map((p) => "  " + p).join("\n")}`);
        console.log(`checkpoint (signed by ${parseNote(cp.note).signatures.map((s) => s.name).join(", ")}):`);
        process.stdout.write(cp.note);
      }
      return 0;
    }
    throw new UsageError("USAGE", "log status | sync | verify | proof DEVICE/N");
  }
  if (["retention", "hold", "release", "purge", "undelete", "tombstones"].includes(noun)) {
    const tlog = new TransparencyLog(store.db, id);
    const retention = new Retention(store.db, store.media, tlog, store.audit, { days: config.retentionDays, undeleteDays: config.undeleteDays },
      { alarms: new Alarms(store.db), sync: () => syncSources(store.db, id, store.audit, tlog, Date.now) });
    const actor = flag(args, "--as") || "admin";
    const show = (rows: object[]) => (json ? console.log(JSON.stringify(rows, null, 1)) : args.includes("--csv") ? process.stdout.write(csv(rows as Record<string, unknown>[])) : console.log(peopleTable(lang, rows)));
    if (noun === "retention") {
      const due = flag(args, "--due");
      if (due === undefined) show(placementRows(await retention.list(), store.policy.timeZone, lang));
      else {
        if (!/^[0-9]{1,5}$/.test(due)) throw new UsageError("USAGE", "--due DAYS is a whole number of days");
        const d = await retention.due(Number(due));
        show(placementRows([...d.ending, ...d.pending], store.policy.timeZone, lang));
      }
      return 0;
    }
    if (noun === "tombstones") {
      show((await tombstones(store.db)).map((t) => ({ recording: `${t.device_id}/${t.recording_id}`, sealValue: t.seal_value ? toHex(t.seal_value) : "", category: t.category, retainedUntil: day(t.retain_until, store.policy.timeZone), deleted: isoLocal(t.deleted_at, store.policy.timeZone), recordingLeaf: t.recording_leaf, deletionLeaf: t.deletion_leaf, bytes: t.bytes })));
      return 0;
    }
    if (noun === "purge") {
      const dry = args.includes("--dry-run");
      const shown = progressReporter(dry ? "purge (dry run)" : "purge", "recordings");
      const r = await retention.purge({ dryRun: dry, by: actor, progress: shown.tick });
      shown.end();
      if (json) console.log(JSON.stringify(r, null, 1));
      else {
        const verb = dry ? "would" : "";
        console.log(`purge${dry ? " (dry run)" : ""}: ${r.marked.length} ${verb ? "would be " : ""}marked for purge (undelete within ${config.undeleteDays} days), ${r.erased.length} ${verb ? "would be " : ""}erased, ${r.spared.length} taken back by a hold or a link`);
        for (const p of r.marked) console.log(`  marked  ${p.device}/${p.recording}  ${p.category} retention ended ${day(p.retainUntil, store.policy.timeZone)}; erased after ${day(p.eraseAt, store.policy.timeZone)}`);
        for (const t of r.erased) console.log(`  erased  ${t.device_id}/${t.recording_id}  ${t.category}, ${t.bytes} bytes; tombstone kept${t.deletion_leaf !== null ? `, log leaf ${t.deletion_leaf}` : ""}`);
      }
      return 0;
    }
    const t = target(args[1]);
    const reason = flag(args, "--reason");
    if (!reason) throw new UsageError("REASON_REQUIRED", `${noun} needs --reason`);
    if (noun === "hold") await retention.hold(t.device, t.recording, actor, reason);
    else if (noun === "release") await retention.release(t.device, t.recording, actor, reason);
    else await retention.undelete(t.device, t.recording, actor, reason);
    console.log(`${t.device}/${t.recording}: ${noun === "hold" ? "held" : noun === "release" ? "hold released" : "undeleted (and held)"}`);
    return 0;
  }
  throw new UsageError("USAGE", `unknown command: ${args.join(" ")} (see --help)`);
}
