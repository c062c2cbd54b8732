// Recordings as people retrieve them: listings scoped to the caller and audited; a view or a
// download names a reason, is checked against the confidentiality rules and audited, whether it
// is granted or denied (RULES.md §2, retrieval supervision).
import type { Readable } from "node:stream";
import type { Caller, ServiceContext } from "./context.js";
import { badgeOf, deviceIdOf, recordingIdOf, reasonOf } from "./context.js";
import { GatewayError } from "../errors.js";
import * as store from "../store/recordings.js";
import { storageState } from "../store/scrub.js";
import { deviceExists } from "../store/devices.js";
import { purgeStateOf } from "../store/retention.js";
import { clipConfidentiality } from "../store/links.js";
import { endReasonOf, validDeviceId } from "../../protocol/blocks.js";
import type { Db } from "../store/db.js";
import type { Model } from "../model/model.js";
import { parseEnd, parseTime } from "./time.js";
import { custodyOfRecording } from "../evidence/custody.js";
import type { CustodyRow } from "../evidence/custody-report.js";

/** What the station says of a recording: a sealed one with no chunk is `empty`, never `verified`. */
export function verdictOf(r: { verdict: string; chunks: number }): string {
  return r.verdict === "verified" && r.chunks === 0 ? "empty" : r.verdict;
}

/**
 * Why `caller` may not retrieve the content of `device/recording`, or null (RULES.md §2,
 * confidentiality and access): levels 0 open, 1 internal, 2 restricted, 3 secret. An officer sees
 * their own clips up to level 2; supervisors and legal reviewers their unit's subtree up to level
 * 2, and level 3 only a supervisor; an admin retrieves content only up to level 1. Retrieval and
 * export both ask here.
 */
export async function retrievalRefusal(db: Db, model: Model, caller: Caller, device: string, recording: number): Promise<GatewayError | null> {
  const level = await clipConfidentiality(db, device, recording);
  const deny = (code: string, message: string) => new GatewayError(code, message);
  if (caller.role === "admin") return level <= 1 ? null : deny("CONFIDENTIALITY", `level ${level} record: an admin retrieves content only up to level 1`);
  if (caller.role === "officer") {
    const o = await model.clipOfficer(device, recording);
    if (!o || o.badge !== caller.officerBadge) return deny("NOT_YOUR_CLIP", "an officer retrieves only clips recorded while wearing the device");
    return level <= 2 ? null : deny("CONFIDENTIALITY", `level ${level} record: officers retrieve up to level 2`);
  }
  if (level >= 3 && caller.role !== "supervisor") return deny("CONFIDENTIALITY", "a level 3 (secret) record: only a supervisor may retrieve it");
  if (!caller.officerBadge) return deny("NO_UNIT_SCOPE", `account ${caller.name} is tied to no officer, so to no unit`);
  const me = await model.officer(caller.officerBadge);
  const scope = new Set((await model.subtree(me.unitId)).map((u) => u.id));
  const unit = await model.clipUnit(device, recording);
  if (unit === null || !scope.has(unit)) return deny("OUTSIDE_UNIT", "the record belongs to no unit in your unit's subtree");
  return null;
}

export interface RecordingListing {
  device: string; recording: number; verdict: string; final: boolean; chunks: number; bytes: number; interrupted: boolean; deviceLost: boolean;
  caseTag: string | null; startMs: number | null; endMs: number | null; reasons: string[]; storageState: string; purgeState: string;
  lastReceived: number; officer: string | null; unit: number | null; cases: string[];
  /**
   * Start and end in the station's time: the device's times moved by its clock's offset at the
   * recording's start (the time the officer, the case and the period filter are judged at).
   * `startMs` and `endMs` are the device's own clock, which may be wrong.
   */
  at: number | null; endAt: number | null;
  /** Why it ended, from its seal (R-SEAL-5): STOPPED, COMMAND, BATTERY_LOW, STORAGE_FULL, REBOOT, FAULT, UNSTATED; null while unsealed. */
  endReason: string | null;
}

/** A clip's start and end in the station's time (RecordingListing.at): its placed start, and its end moved by the same offset. */
function stationTimes(r: { startMs: number | null; endMs: number | null; clipAtMs: number | null }): { at: number | null; endAt: number | null } {
  const at = r.clipAtMs ?? r.startMs;
  return { at, endAt: at !== null && r.startMs !== null && r.endMs !== null ? at + (r.endMs - r.startMs) : null };
}

/** The filters of a listing of clips (RecordingService.list), as a request gives them. */
export interface ListFilters { device?: unknown; officer?: unknown; from?: unknown; to?: unknown }

/** A page of the clips listing, and the cursor of the next page (null: this was the last). */
export interface RecordingPage { recordings: RecordingListing[]; next: string | null }

/** Clips in a page unless a request asks for another number, and the most it may ask for. */
export const PAGE_SIZE = 200;
export const MAX_PAGE_SIZE = 1000;

/** The cursor after a clip: its place in the listing (time, device, recording), in a form a client passes back and does not read. */
export function cursorOf(r: { at: number | null; device: string; recording: number }): string {
  return Buffer.from(JSON.stringify([r.at ?? -1, r.device, r.recording])).toString("base64url");
}

/** The listing's key a cursor names, or BAD_CURSOR. */
function cursorKey(v: unknown): store.ListingKey {
  const bad = () => new GatewayError("BAD_CURSOR", `not a cursor this listing gave: ${JSON.stringify(v).slice(0, 80)} (ask for the first page again)`);
  if (typeof v !== "string" || v.length > 200 || !/^[A-Za-z0-9_-]+$/.test(v)) throw bad();
  let key: unknown;
  try { key = JSON.parse(Buffer.from(v, "base64url").toString("utf8")); } catch { throw bad(); }
  if (!Array.isArray(key) || key.length !== 3 || !Number.isSafeInteger(key[0]) || key[0] < -1 || typeof key[1] !== "string" || !validDeviceId(key[1]) || !Number.isSafeInteger(key[2]) || key[2] < 0) throw bad();
  return { at: key[0], device: key[1], recording: key[2] };
}

export class RecordingService {
  constructor(private ctx: ServiceContext) {}

  /**
   * Recordings the caller may see: an officer their own clips, a supervisor or legal reviewer those
   * of their unit's subtree, an admin all; a clip of a secret (level 3) case only to a supervisor.
   * Filters: one device; one officer (the officer each row names); a period of the clip's time
   * (`from` inclusive, `to` exclusive; a date alone for `to` is the end of that day). A scoped
   * caller names only an officer of their unit's subtree, or one whose clips in it they see
   * (OUTSIDE_UNIT otherwise, for an unknown badge too: a listing says nothing of other units'
   * rosters). The listing is audited with what it asked and how many it saw. All of them, in
   * the listing's order (newest first: the clip's time, then device and recording, descending);
   * `page` gives them a page at a time.
   */
  async list(caller: Caller, q: ListFilters = {}): Promise<RecordingListing[]> {
    return (await this.listed(caller, q, undefined, undefined)).recordings;
  }

  /**
   * One page of `list`: at most `limit` (PAGE_SIZE unless asked, at most MAX_PAGE_SIZE) clips
   * after `cursor` (none: the first page), and the cursor of the next page, null after the last.
   * The cursor is where the page ended, so the next page is found by the recordings' key from
   * there, however deep; the filters are asked again with it. A cursor this listing did not give
   * is BAD_CURSOR. No total: counting the clips a caller may see reads every one of them, the
   * whole read a page spares; whether there is more is found by reading one clip more.
   * `afterClip` ("DEVICE/RECORDING", as the CLI names a clip) is the cursor after that clip.
   */
  async page(caller: Caller, q: ListFilters & { limit?: unknown; cursor?: unknown; afterClip?: string } = {}): Promise<RecordingPage> {
    const limit = q.limit === undefined || q.limit === "" ? PAGE_SIZE : Number(q.limit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new GatewayError("BAD_INPUT", `limit is 1 to ${MAX_PAGE_SIZE}, got ${JSON.stringify(q.limit)}`);
    let after = q.cursor === undefined || q.cursor === "" ? undefined : cursorKey(q.cursor);
    if (q.afterClip !== undefined) {
      const key = /^(.+)\/(\d+)$/.exec(q.afterClip);
      const row = key && validDeviceId(key[1]) ? await store.clipRow(this.ctx.db, key[1], Number(key[2])) : undefined;
      if (!row) throw new GatewayError("BAD_CURSOR", `not a clip of this station, as DEVICE/RECORDING: ${JSON.stringify(q.afterClip).slice(0, 80)}`);
      after = { at: row.clip_at_ms ?? row.start_ms ?? -1, device: row.device_id, recording: row.recording_id };
    }
    return this.listed(caller, q, after, limit);
  }

  private async listed(caller: Caller, q: ListFilters, after: store.ListingKey | undefined, limit: number | undefined): Promise<RecordingPage> {
    const device = q.device === undefined || q.device === "" ? undefined : deviceIdOf(q.device);
    const officer = q.officer === undefined || q.officer === "" ? undefined : badgeOf(q.officer);
    const tz = this.ctx.policy.timeZone;
    const from = q.from === undefined || q.from === "" ? undefined : parseTime(q.from, "from", tz);
    const to = q.to === undefined || q.to === "" ? undefined : parseEnd(q.to, "to", tz);
    if (from !== undefined && to !== undefined && !(to > from)) throw new GatewayError("BAD_WINDOW", "the period must end after it starts");
    const scope = caller.role === "officer" ? null : await this.ctx.scope(caller);
    if (caller.role === "officer" && !caller.officerBadge) throw new GatewayError("NO_UNIT_SCOPE", `account ${caller.name} is tied to no officer`);
    if (caller.role === "officer" && officer !== undefined && officer !== caller.officerBadge) throw new GatewayError("NOT_YOUR_CLIP", "an officer lists only their own clips");
    if (caller.role === "admin" && officer !== undefined) await this.ctx.model.officer(officer);
    const filters = { device, officerBadge: caller.role === "officer" ? caller.officerBadge! : undefined, heldBy: officer, units: scope ? [...scope] : undefined, from, to };
    const out: RecordingListing[] = [];
    let seenInScope = false;
    let read = 0;
    const keys: store.ListingKey[] = [];
    // A page and one more (to know there is more), read in batches of that size from where the last
    // batch ended: rows out of scope or too secret for the caller are passed over, not counted.
    const want = limit === undefined ? undefined : limit + 1;
    for (let at = after; ;) {
      const rows = await store.listRecordings(this.ctx.db, { ...filters, after: at, limit: want });
      read += rows.length;
      for (const r of rows) {
        if (want !== undefined && out.length === want) break;
        if (scope && (r.unitId === null || !scope.has(r.unitId))) continue;
        if (officer !== undefined && r.officer !== officer) continue;
        seenInScope = true;
        if (caller.role !== "supervisor" && caller.role !== "admin" && (await clipConfidentiality(this.ctx.db, r.device, r.recording)) >= 3) continue;
        keys.push({ at: store.listingAt(r), device: r.device, recording: r.recording });
        out.push({
          device: r.device, recording: r.recording, verdict: verdictOf(r), final: r.final === 1, chunks: r.chunks, bytes: r.bytes, interrupted: r.interrupted === 1,
          deviceLost: r.deviceLost === 1, caseTag: r.caseTag, startMs: r.startMs, endMs: r.endMs, reasons: JSON.parse(r.reasons), storageState: r.storageState ?? "ok",
          purgeState: r.purgeState ?? "kept", lastReceived: r.lastReceived, officer: r.officer, unit: r.unitId, cases: (r.cases ?? "").split(",").filter(Boolean),
          ...stationTimes(r),
          endReason: endReasonOf(r.sealBlock),
        });
      }
      if (want === undefined || out.length === want || rows.length < want) break;
      const last = rows[rows.length - 1];
      at = { at: store.listingAt(last), device: last.device, recording: last.recording };
    }
    // A device the station never knew is a typo, not a device with nothing to show.
    if (device !== undefined && read === 0 && after === undefined && !(await deviceExists(this.ctx.db, device))) throw new GatewayError("UNKNOWN_DEVICE", `no device ${device} at this station (device list shows the station's devices)`);
    // (Asked on the first page only: a later one may hold none of the officer's clips that the first did.)
    if (scope && officer !== undefined && !seenInScope && after === undefined) {
      const o = await this.ctx.model.officer(officer).catch(() => null);
      if (!o || !scope.has(o.unitId)) throw new GatewayError("OUTSIDE_UNIT", `no officer ${officer} in your unit's subtree`);
    }
    const more = limit !== undefined && out.length > limit;
    if (more) { out.length = limit; keys.length = limit; }
    const asked = officer !== undefined || from !== undefined || to !== undefined ? { officer: officer ?? null, from: from ?? null, to: to ?? null } : undefined;
    const paged = limit === undefined ? {} : { page: { after: after ? `${after.device}/${after.recording}@${after.at}` : null, limit, more } };
    await this.ctx.noteRead(caller, { action: "recording.list", target: device ?? null, details: { count: out.length, scope: caller.role === "officer" ? { officer: caller.officerBadge } : scope ? [...scope] : "station", ...(asked ? { asked } : {}), ...paged } });
    return { recordings: out, next: more ? cursorOf(keys[keys.length - 1]) : null };
  }

  /** May the caller retrieve this record's content? Throws the reason when not (the denial is audited). */
  private async retrieval(caller: Caller, deviceIn: unknown, recordingIn: unknown, reasonIn: unknown, action: string): Promise<{ device: string; recording: number; reason: string; row: store.RecordingDetailRow }> {
    const device = deviceIdOf(deviceIn);
    const recording = recordingIdOf(recordingIn);
    const reason = reasonOf(reasonIn, "retrieving a record (say why: reason)");
    const row = await store.recordingDetail(this.ctx.db, device, recording);
    if (!row) throw new GatewayError("UNKNOWN_RECORDING", `no recording ${device}/${recording}`);
    let d = await this.decide(caller, device, recording);
    if (d && ["OUTSIDE_UNIT", "NOT_YOUR_CLIP", "NO_UNIT_SCOPE"].includes(d.code)) d = await this.granted(caller, device, recording, d);
    if (d) {
      await this.ctx.noteRead(caller, { action: "recording.denied", target: `${device}/${recording}`, reason, details: { code: d.code, asked: action } });
      throw d;
    }
    return { device, recording, reason, row };
  }

  /**
   * Beyond one's scope (never beyond one's confidentiality level), a supervisor's view grant lets
   * one view: the denial stands unless a grant in force names this record.
   */
  private async granted(caller: Caller, device: string, recording: number, denial: GatewayError): Promise<GatewayError | null> {
    const approvals = this.ctx.deps.approvals;
    if (!approvals) return denial;
    const g = await approvals.grantFor({ name: caller.name, role: caller.role, officer_badge: caller.officerBadge }, "view", [{ device, recording }]).catch(() => null);
    if (!g) return denial;
    const level = await clipConfidentiality(this.ctx.db, device, recording);
    // The confidentiality rule still holds: an admin up to level 1, level 3 a supervisor only, others up to 2.
    const top = caller.role === "admin" ? 1 : caller.role === "supervisor" ? 3 : 2;
    return level <= top ? null : new GatewayError("CONFIDENTIALITY", `level ${level} record: beyond what a ${caller.role} may see, whatever the grant`);
  }

  /** Why the caller may not retrieve a clip, or null (RULES.md §2, confidentiality and access). */
  private decide(caller: Caller, device: string, recording: number): Promise<GatewayError | null> {
    return retrievalRefusal(this.ctx.db, this.ctx.model, caller, device, recording);
  }

  /** One recording's metadata, verdict and reasons, with a reason; audited. */
  async view(caller: Caller, deviceIn: unknown, recordingIn: unknown, reasonIn: unknown): Promise<Record<string, unknown>> {
    const { device, recording, reason, row } = await this.retrieval(caller, deviceIn, recordingIn, reasonIn, "view");
    await this.ctx.noteRead(caller, { action: "recording.view", target: `${device}/${recording}`, reason });
    const { mediaPath: _m, sealBlock, clipAtMs: _c, ...rest } = row;
    // The chunk timeline (pre-event and marker flags per chunk) and who and what the clip is linked to.
    const timeline = await store.chunkTimeline(this.ctx.db, device, recording);
    const officer = await this.ctx.model.clipOfficer(device, recording);
    const cases = await store.linkedCasesOf(this.ctx.db, device, recording);
    return { ...rest, endReason: endReasonOf(sealBlock), verdict: verdictOf(row), final: row.final === 1, interrupted: row.interrupted === 1, reasons: JSON.parse(row.reasons), storageState: row.storageState ?? "ok", timeline, officer: officer ? officer.badge : null, officerName: officer ? officer.name : null, cases, ...stationTimes(row) };
  }

  /**
   * A recording's custody report: every link and unlink, access, denial, export and approval that
   * names it, oldest first. Asked like a view (a reason; the same rules) and audited.
   */
  async custody(caller: Caller, deviceIn: unknown, recordingIn: unknown, reasonIn: unknown): Promise<CustodyRow[]> {
    const { device, recording, reason } = await this.retrieval(caller, deviceIn, recordingIn, reasonIn, "custody");
    const approvals = this.ctx.deps.approvals;
    const rows = approvals ? await custodyOfRecording(this.ctx.db, this.ctx.model, approvals, { device, recording }) : [];
    await this.ctx.noteRead(caller, { action: "recording.custody", target: `${device}/${recording}`, reason, details: { count: rows.length } });
    return rows;
  }

  /**
   * What a download serves: the media file and how many bytes of it the database vouches for. Only
   * a download that will be served is audited as one; a refused one is audited as a denial.
   */
  async download(caller: Caller, deviceIn: unknown, recordingIn: unknown, reasonIn: unknown, allowCorrupt = false): Promise<{ body: Readable; bytes: number; storageState: string; auditHead: { count: number; hash: string } }> {
    const { device, recording, reason, row } = await this.retrieval(caller, deviceIn, recordingIn, reasonIn, "download");
    const refuse = async (e: GatewayError) => {
      await this.ctx.noteRead(caller, { action: "recording.denied", target: `${device}/${recording}`, reason, details: { code: e.code, asked: "download" } });
      return e;
    };
    if ((await purgeStateOf(this.ctx.db, device, recording)) === "purged") throw await refuse(new GatewayError("PURGED", "this recording's media was erased when its retention ended; its tombstone and log entries remain"));
    if (row.chunks === 0 || row.bytes === 0) throw await refuse(new GatewayError("EMPTY_RECORDING", `recording ${device}/${recording} holds no media (no chunk was stored)`));
    const storage = await storageState(this.ctx.db, device, recording);
    if (storage?.state === "corrupt" && !allowCorrupt) {
      throw await refuse(new GatewayError("STORAGE_CORRUPT", `the stored copy of this recording is damaged (${storage.findings.join("; ")}); add allowCorrupt=1 to download it as stored`));
    }
    await this.ctx.noteRead(caller, { action: "recording.download", target: `${device}/${recording}`, reason });
    // Only the bytes the database vouches for: never an uncommitted tail.
    return { body: this.ctx.deps.media.readStream(row.mediaPath, row.bytes), bytes: row.bytes, storageState: storage ? storage.state : "ok", auditHead: await this.ctx.deps.audit.head() };
  }
}
