// Exports made: who may see which, and a made export downloaded again. The station keeps each
// bundle it wrote (evidence/export.ts writeAndKeep), so a download again hands out the very bytes
// released the first time, with the SHA-256 recorded then: a bundle rebuilt later would carry a
// newer custody trail, a fresh C2PA signature and, once a recording is purged or its device
// retired, could not be rebuilt at all. A download again is a release like the first: the one who
// made the export, with a reason, while the grant it was made under is in force, each record
// still within what the caller may retrieve; it is audited per record. Once that grant has ended
// the kept bundle is deleted (dropExpired, hourly): no copy of the media outlives its release.
// Nor does the part of one a process killed while writing it left behind (dropInterrupted).
import { createReadStream, existsSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { createHash } from "node:crypto";
import type { Caller, ServiceContext } from "./context.js";
import { reasonOf } from "./context.js";
import { GatewayError } from "../errors.js";
import * as xs from "../store/export.js";
import { purgeStateOf } from "../store/retention.js";
import { retrievalRefusal } from "./recordings.js";
import { ApprovalError } from "./approvals.js";
import { keptBundleFile } from "../evidence/export.js";
import { stampAlive } from "../datadir.js";

export interface ExportMade {
  id: string;
  createdAt: number;
  by: string;
  reason: string;
  grant: number;
  scope: "recording" | "case";
  target: string;
  items: { device: string; recording: number }[];
  excerpt: { fromMs: number; toMs: number } | null;
  state: "writing" | "done" | "failed";
  bytes: number | null;
  sha256: string | null;
  /** The station keeps its bundle: the one who made it may download it again (while a grant is in force). */
  kept: boolean;
  /** When the grant it was made under ends (a download again needs a grant in force). */
  grantValidUntil: number | null;
}

const toMade = (r: xs.ExportMadeRow, validUntil: number | null): ExportMade => ({
  id: r.id, createdAt: r.created_at, by: r.actor, reason: r.reason, grant: r.grant_id, scope: r.scope, target: r.target,
  items: JSON.parse(r.items), excerpt: r.excerpt ? JSON.parse(r.excerpt) : null, state: r.state, bytes: r.bytes, sha256: r.sha256, kept: r.kept !== null, grantValidUntil: validUntil,
});

export class ExportService {
  constructor(private ctx: ServiceContext) {}

  /**
   * Exports made: an admin sees every one (who released what, when and why: the station's record,
   * never the content); anyone else their own. Audited as a listing.
   */
  async list(caller: Caller): Promise<ExportMade[]> {
    const rows = await xs.listExports(this.ctx.db, caller.role === "admin" ? undefined : caller.name);
    const approvals = this.ctx.deps.approvals;
    const until = new Map<number, number | null>();
    for (const r of rows) {
      if (until.has(r.grant_id) || !approvals) continue;
      until.set(r.grant_id, await approvals.get(r.grant_id).then((a) => a.validUntil, () => null));
    }
    await this.ctx.noteRead(caller, { action: "export.list", details: { count: rows.length, scope: caller.role === "admin" ? "station" : { account: caller.name } } });
    return rows.map((r) => toMade(r, until.get(r.grant_id) ?? null));
  }

  /**
   * A made export's bundle again, to the one who made it: the kept file, checked against the
   * SHA-256 recorded when it was written. Refusals are audited as denials, with their reason code.
   */
  async again(caller: Caller, idIn: unknown, reasonIn: unknown): Promise<{ file: string; bytes: number; sha256: string; id: string }> {
    const reason = reasonOf(reasonIn, "downloading an export again");
    const id = typeof idIn === "string" && /^[0-9a-f]{32}$/.test(idIn) ? idIn : null;
    const row = id ? await xs.exportById(this.ctx.db, id) : undefined;
    if (!row) throw new GatewayError("UNKNOWN_EXPORT", `no export ${JSON.stringify(idIn)}`);
    const deny = async (code: string, message: string): Promise<never> => {
      await this.ctx.noteRead(caller, { action: "export.denied", target: `export:${row.id}`, reason, details: { code } });
      throw new GatewayError(code, message);
    };
    if (row.actor !== caller.name) await deny("NOT_YOUR_EXPORT", `export ${row.id} was made by another account: only the one it was released to downloads it again`);
    const dataDir = this.ctx.deps.dataDir;
    const file = dataDir && row.kept ? keptBundleFile(dataDir, row.id) : null;
    if (row.state !== "done" || !file || !existsSync(file)) await deny("EXPORT_NOT_KEPT", `export ${row.id} ${row.state === "done" ? "is no longer kept by the station" : row.state === "failed" ? "failed while it was written" : "is still being written"}`);
    const items: { device: string; recording: number }[] = JSON.parse(row.items);
    for (const i of items) {
      if ((await purgeStateOf(this.ctx.db, i.device, i.recording)) === "purged") await deny("PURGED", `${i.device}/${i.recording} was erased when its retention ended: its export is not released again`);
      const d = await retrievalRefusal(this.ctx.db, this.ctx.model, caller, i.device, i.recording);
      // As for the export itself: a confidentiality refusal stands whatever the grant; a unit-scope one is what the grant is for.
      if (d && d.code === "CONFIDENTIALITY") await deny(d.code, `${i.device}/${i.recording}: ${d.message}`);
    }
    const approvals = this.ctx.deps.approvals;
    if (!approvals) await deny("NO_GRANT", "this station keeps no approvals: nothing is released");
    try {
      await approvals!.grantFor({ name: caller.name, role: caller.role, officer_badge: caller.officerBadge }, "export", items, row.grant_id);
    } catch (e) {
      if (e instanceof ApprovalError) await deny(e.code, `downloading export ${row.id} again is a release: ${e.message}`);
      throw e;
    }
    const sha256 = await fileSha256(file!);
    if (sha256 !== row.sha256) await deny("EXPORT_DAMAGED", `the kept bundle of export ${row.id} no longer matches the SHA-256 recorded when it was written (${row.sha256}): it is not handed out`);
    for (const i of items) {
      await this.ctx.noteRead(caller, { action: "recording.download", target: `${i.device}/${i.recording}`, reason, details: { export: row.id, again: true, sha256 } });
    }
    return { file: file!, bytes: row.bytes ?? 0, sha256, id: row.id };
  }

  /** Delete the kept bundles whose grant has ended (the gateway runs it hourly). */
  dropExpired(): Promise<string[]> {
    return dropExpired(this.ctx);
  }

  /** Fail the exports whose writer stopped mid-bundle, deleting what it wrote (the gateway runs it hourly). */
  dropInterrupted(): Promise<string[]> {
    return dropInterrupted(this.ctx);
  }
}

/**
 * An export still being written whose writer can't be told alive or gone (another host's, no /proc)
 * has lost it once its kept copy has not grown for this long: a live writer writes as its reader
 * takes the bundle, and no reader waits this long between two reads.
 */
export const INTERRUPTED_AFTER_MS = 15 * 60e3;

/**
 * Exports whose writing stopped with its process (state `writing`, its writer gone: the gateway or
 * the admin CLI killed mid-export): marked failed, and the kept copy's part deleted, each noted in
 * the audit log. A part of a bundle is a copy of the media its release did not complete. A writer
 * still running is left to write, however slowly its reader reads; one this process can't see is
 * judged by its part's age (INTERRUPTED_AFTER_MS). Returns the ids.
 */
export async function dropInterrupted(ctx: ServiceContext): Promise<string[]> {
  const dataDir = ctx.deps.dataDir;
  if (!dataDir) return [];
  const out: string[] = [];
  const now = ctx.now();
  for (const w of await xs.writingExports(ctx.db)) {
    const writer = stampAlive(w.writer);
    if (writer === true) continue;
    const part = keptBundleFile(dataDir, w.id) + ".partial";
    const st = await stat(part).catch(() => null);
    if (writer === null && now - (st ? st.mtimeMs : w.created_at) < INTERRUPTED_AFTER_MS) continue;
    await rm(part, { force: true });
    await xs.finishExport(ctx.db, w.id, { state: "failed", bytes: null, sha256: null, kept: null, at: now });
    await ctx.deps.audit.append({ actor: "station", action: "export.interrupted", target: `export:${w.id}`, reason: `its bundle was not written to the end (its writer stopped${st ? `, ${st.size} bytes in` : " before its first byte"}): the export failed, and what was written is deleted` });
    out.push(w.id);
  }
  return out;
}

/**
 * Delete the kept bundles whose grant has ended, or that hold a record erased since (neither can be
 * downloaded again), each noted in the audit log. Returns the ids dropped.
 */
export async function dropExpired(ctx: ServiceContext): Promise<string[]> {
  const approvals = ctx.deps.approvals;
  const dataDir = ctx.deps.dataDir;
  if (!approvals || !dataDir) return [];
  const out: string[] = [];
  const now = ctx.now();
  for (const k of await xs.keptExports(ctx.db)) {
    const until = await approvals.get(k.grant_id).then((a) => a.validUntil ?? 0, () => 0);
    let erased = false;
    for (const i of JSON.parse(k.items) as { device: string; recording: number }[]) if ((await purgeStateOf(ctx.db, i.device, i.recording)) === "purged") erased = true;
    if (until > now && !erased) continue;
    await rm(keptBundleFile(dataDir, k.id), { force: true });
    await xs.forgetKept(ctx.db, k.id);
    await ctx.deps.audit.append({ actor: "station", action: "export.dropped", target: `export:${k.id}`, reason: erased ? "a record in it was erased when its retention ended: the kept bundle is deleted" : "its grant has ended: the kept bundle is deleted", details: { grant: k.grant_id } });
    out.push(k.id);
  }
  return out;
}

function fileSha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(file).on("data", (c) => h.update(c)).on("end", () => resolve(h.digest("hex"))).on("error", reject);
  });
}
