// Retention as the rules set it (DESIGN §2, the 2016 on-site recording rule as the model):
// every recording is kept at least `days` (default 180) after the station last received it; a
// recording linked to a case is kept while the link stands, and `days` after an unlink; an
// admin hold (with a reason) keeps it until released; the longest wins. A purge pass marks what
// has run out (audited), leaves it `undeleteDays` (default 7) to be undeleted, then erases its
// media and chunks, keeping a tombstone (ids, seal value, log indexes) and the recording's row,
// so the device's history check still knows it existed; every erasure is a leaf of the
// transparency log with its category and expiry (SPEC.md R-LOG-6).
import { reasonProblem } from "../../protocol/text.js";
import type { Db } from "../store/db.js";
import type { MediaReader } from "../store/media.js";
import * as store from "../store/retention.js";
import type { RetentionRow, Tombstone } from "../store/retention.js";
import type { AuditLog } from "../audit/log.js";
import type { Alarms } from "../alarms.js";
import { ALARM_KINDS } from "../alarms.js";
import type { Logger } from "../log.js";
import type { TransparencyLog } from "./tlog.js";
import { encodeLeaf } from "../../protocol/leaves.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { toHex } from "../../protocol/bytes.js";

const DAY = 86400e3;

/** Who the purge's audit entries name. */
export const RETENTION_ACTOR = "retention";

export class RetentionError extends Error {
  constructor(public code: string, message: string) {
    super(message);
    this.name = "RetentionError";
  }
}

export interface RetentionPolicy {
  /** Days every recording is kept after it was last received (and after an unlink). */
  days: number;
  /** Days a purged recording can still be undeleted before it is erased. */
  undeleteDays: number;
}

export type Category = "hold" | "case" | "case-released" | "routine" | "open";

export interface Placement {
  device: string;
  recording: number;
  category: Category;
  /** When its retention ends; null while a hold, a case link or an open recording keeps it. */
  retainUntil: number | null;
  state: store.PurgeState;
  /** For a recording marked for purge: when it is erased unless undeleted. */
  eraseAt: number | null;
  bytes: number;
}

export interface PurgeResult {
  marked: Placement[];
  erased: Tombstone[];
  /** Pending recordings that a hold or a link took back before their erasure. */
  spared: Placement[];
}

const iso = (t: number) => new Date(t).toISOString();

export class Retention {
  private now: () => number;

  constructor(
    private db: Db,
    private media: MediaReader,
    private tlog: TransparencyLog,
    private audit: AuditLog,
    readonly policy: RetentionPolicy,
    /** sync: brings the transparency log up to date (a recording's manifest is logged before it is erased); page: recordings a pass reads at a time (1000). */
    private o: { alarms?: Alarms; log?: Logger; now?: () => number; sync?: () => Promise<unknown>; page?: number } = {},
  ) {
    if (!(policy.days >= 0) || !(policy.undeleteDays >= 0)) throw new RangeError("retention days must be non-negative");
    this.now = o.now ?? Date.now;
  }

  /** A recording's category and end of retention: the longest rule that applies wins. */
  place(r: RetentionRow): Placement {
    const base = { device: r.device_id, recording: r.recording_id, state: r.purge_state, eraseAt: r.purge_state === "pending" ? r.purge_due_at : null, bytes: r.total_bytes };
    if (r.held) return { ...base, category: "hold", retainUntil: null };
    if (r.linked) return { ...base, category: "case", retainUntil: null };
    // Only a recording whose verdict is settled runs out: one still arriving is kept.
    if (!(r.sealed || r.final || r.verdict === "failed")) return { ...base, category: "open", retainUntil: null };
    const routine = r.last_received + this.policy.days * DAY;
    if (r.last_unlinked !== null) {
      const released = r.last_unlinked + this.policy.days * DAY;
      if (released > routine) return { ...base, category: "case-released", retainUntil: released };
    }
    return { ...base, category: "routine", retainUntil: routine };
  }

  /** Every recording not yet erased, with its category and end of retention. */
  async list(): Promise<Placement[]> {
    return (await store.retentionRows(this.db)).map((r) => this.place(r));
  }

  /** The recordings not yet erased, oldest first, a page at a time (what a pass goes through without holding them all). */
  private async *pages(): AsyncGenerator<Placement[]> {
    const page = this.o.page ?? 1000;
    for (let after: store.AgeKey | null = null; ;) {
      const rows = await store.retentionPage(this.db, after, page);
      if (rows.length) yield rows.map((r) => this.place(r));
      if (rows.length < page) return;
      after = rows[rows.length - 1];
    }
  }

  private async row(device: string, recording: number): Promise<RetentionRow> {
    const r = await store.retentionRow(this.db, device, recording);
    if (!r) throw new RetentionError("UNKNOWN_RECORDING", `no recording ${device}/${recording}`);
    if (r.purge_state === "purged") throw new RetentionError("PURGED", `${device}/${recording} was erased: only its tombstone remains`);
    return r;
  }

  private reasonOf(reason: string, what: string): string {
    const p = reasonProblem(reason);
    if (p) throw new RetentionError(p.code, `${what} ${p.why}`);
    return reason.trim();
  }

  /** Hold a recording (an admin hold keeps it whatever its category); a pending purge is called off. Audited. */
  async hold(device: string, recording: number, actor: string, reason: string): Promise<void> {
    const why = this.reasonOf(reason, "a hold");
    await this.db.transaction(async () => {
      const r = await this.row(device, recording);
      if (await store.openHold(this.db, device, recording)) throw new RetentionError("ALREADY_HELD", `${device}/${recording} is already held`);
      await store.insertHold(this.db, device, recording, actor, why, this.now());
      if (r.purge_state === "pending") await store.setPurgeState(this.db, device, recording, "kept", null);
      await this.audit.appendInTransaction({ actor, action: "recording.hold", target: `${device}/${recording}`, reason: why, details: { wasPending: r.purge_state === "pending" } });
    });
    await this.audit.checkpoint();
  }

  /** Release an admin hold; the recording's other rules apply again. Audited. */
  async release(device: string, recording: number, actor: string, reason: string): Promise<void> {
    const why = this.reasonOf(reason, "a release");
    await this.db.transaction(async () => {
      await this.row(device, recording);
      const h = await store.openHold(this.db, device, recording);
      if (!h) throw new RetentionError("NOT_HELD", `${device}/${recording} is not held`);
      await store.releaseHold(this.db, h.id, actor, why, this.now());
      await this.audit.appendInTransaction({ actor, action: "recording.release", target: `${device}/${recording}`, reason: why, details: { hold: h.id, heldBy: h.held_by, heldSince: h.held_at } });
    });
    await this.audit.checkpoint();
  }

  /**
   * Take back a recording marked for purge, within its undelete window: it is kept, and held
   * with the undelete's reason (else the next pass would mark it again). Audited.
   */
  async undelete(device: string, recording: number, actor: string, reason: string): Promise<void> {
    const why = this.reasonOf(reason, "an undelete");
    await this.db.transaction(async () => {
      const r = await this.row(device, recording);
      if (r.purge_state !== "pending") throw new RetentionError("NOT_PENDING", `${device}/${recording} is not marked for purge`);
      await store.setPurgeState(this.db, device, recording, "kept", null);
      if (!(await store.openHold(this.db, device, recording))) await store.insertHold(this.db, device, recording, actor, `undeleted: ${why}`, this.now());
      await this.audit.appendInTransaction({ actor, action: "recording.undelete", target: `${device}/${recording}`, reason: why, details: { eraseAt: r.purge_due_at } });
    });
    await this.audit.checkpoint();
  }

  /**
   * The purge pass: erase what was marked and whose undelete window has passed; mark what has
   * run out of retention. Never touches a held or linked recording (checked again in each
   * change's transaction). With dryRun, says what it would do and changes nothing. `by`: the
   * account that asked for the pass (the admin CLI's), audited as the actor of each change it
   * makes; the timed pass is the station's own rule, RETENTION_ACTOR.
   */
  async purge(opts: { dryRun?: boolean; by?: string; progress?: (done: number, total: number) => void } = {}): Promise<PurgeResult> {
    const actor = opts.by ?? RETENTION_ACTOR;
    const now = this.now();
    const out: PurgeResult = { marked: [], erased: [], spared: [] };
    if (!opts.dryRun) await this.logTombstones();
    const total = opts.progress ? await store.retentionCount(this.db) : 0;
    let done = 0;
    for await (const list of this.pages()) {
      for (const p of list) {
        if (p.state === "pending") {
          if (p.category === "hold" || p.category === "case" || p.category === "open") {
            out.spared.push(p);
            if (!opts.dryRun) await this.db.transaction(() => store.setPurgeState(this.db, p.device, p.recording, "kept", null));
            continue;
          }
          if (p.eraseAt !== null && p.eraseAt <= now) {
            if (opts.dryRun) { out.erased.push(this.tombstoneOf(p, now, -1)); continue; }
            const t = await this.erase(p, now, actor);
            if (t) out.erased.push(t);
          }
          continue;
        }
        if (p.retainUntil === null || p.retainUntil > now) continue;
        const eraseAt = now + this.policy.undeleteDays * DAY;
        if (opts.dryRun) { out.marked.push({ ...p, state: "pending", eraseAt }); continue; }
        const marked = await this.db.transaction(async () => {
          const r = await store.retentionRow(this.db, p.device, p.recording);
          if (!r || r.purge_state !== "kept") return false;
          const again = this.place(r);
          if (again.retainUntil === null || again.retainUntil > now) return false;
          await store.setPurgeState(this.db, p.device, p.recording, "pending", eraseAt);
          await this.audit.appendInTransaction({ actor, action: "recording.purge", target: `${p.device}/${p.recording}`,
            reason: `${again.category} retention ended ${iso(again.retainUntil)}`, details: { category: again.category, retainUntil: again.retainUntil, eraseAt } });
          return true;
        });
        if (marked) out.marked.push({ ...p, state: "pending", eraseAt });
      }
      done += list.length;
      opts.progress?.(Math.min(done, total), total);
    }
    if (!opts.dryRun && (out.marked.length || out.erased.length)) await this.audit.checkpoint();
    return out;
  }

  private tombstoneOf(p: Placement, now: number, leaf: number, seal: Buffer | null = null): Tombstone {
    return { device_id: p.device, recording_id: p.recording, seal_value: seal, category: p.category, retain_until: p.retainUntil ?? now, marked_at: (p.eraseAt ?? now) - this.policy.undeleteDays * DAY, deleted_at: now, recording_leaf: leaf, deletion_leaf: null, bytes: p.bytes };
  }

  // Erase one recording: chunk rows and tombstone in one transaction with its audit entry, then
  // the media file, then the deletion's leaf in the log.
  private async erase(p: Placement, now: number, actor: string): Promise<Tombstone | null> {
    let leaf = await this.tlog.leafByRef(`recording:${p.device}/${p.recording}`);
    if (!leaf && this.o.sync) {
      // Its manifest enters the log first, so the deletion can point at it.
      await this.o.sync();
      leaf = await this.tlog.leafByRef(`recording:${p.device}/${p.recording}`);
    }
    const done = await this.db.transaction(async () => {
      const r = await store.retentionRow(this.db, p.device, p.recording);
      if (!r || r.purge_state !== "pending" || r.held || r.linked) return null;
      const t = this.tombstoneOf(p, now, leaf ? leaf.idx : -1, r.seal_value);
      const chunks = await store.deleteChunks(this.db, p.device, p.recording);
      await store.insertTombstone(this.db, t);
      await store.setPurgeState(this.db, p.device, p.recording, "purged", r.purge_due_at);
      await this.audit.appendInTransaction({ actor, action: "recording.erase", target: `${p.device}/${p.recording}`,
        reason: `${t.category} retention ended ${iso(t.retain_until)}; undelete window passed`, details: { category: t.category, retainUntil: t.retain_until, bytes: t.bytes, chunks, sealValue: r.seal_value ? toHex(r.seal_value) : null, recordingLeaf: t.recording_leaf } });
      return { t, media: r.media_path };
    });
    if (!done) return null;
    await this.logDeletion(done.t, done.media);
    return (await store.tombstoneOf(this.db, p.device, p.recording)) ?? done.t;
  }

  // Deletions not yet in the transparency log: one a crash (or a failure) cut short between its
  // commit and its log leaf, whose media may still be there too. Only those: a pass costs what it
  // erases, not every recording erased since the station began.
  private async logTombstones(): Promise<void> {
    for (const t of await store.unloggedTombstones(this.db)) await this.logDeletion(t, await store.mediaPathOf(this.db, t.device_id, t.recording_id));
  }

  // An erased recording's media file goes, then its deletion enters the log; the tombstone says
  // where (a tombstone without its leaf is one whose media may remain: logTombstones).
  private async logDeletion(t: Tombstone, media: string | undefined): Promise<void> {
    if (media !== undefined) await this.media.remove(media);
    const ref = `deletion:${t.device_id}/${t.recording_id}`;
    const data = encodeLeaf(sha, { type: "deletion", v: 1, device: t.device_id, recording: t.recording_id, sealValue: t.seal_value ? toHex(t.seal_value) : "", recordingLeaf: t.recording_leaf, category: t.category, retainUntil: t.retain_until, deletedAt: t.deleted_at });
    await this.tlog.append([{ ref, kind: "deletion", data }]);
    const l = await this.tlog.leafByRef(ref);
    if (l) await this.db.transaction(() => store.setTombstoneLeaf(this.db, t.device_id, t.recording_id, l.idx));
  }

  /** What is due to go within `days`: recordings whose retention ends, and those awaiting erasure. */
  async due(days = 7): Promise<{ ending: Placement[]; pending: Placement[] }> {
    const until = this.now() + days * DAY;
    const out: { ending: Placement[]; pending: Placement[] } = { ending: [], pending: [] };
    for await (const list of this.pages()) {
      for (const p of list) {
        if (p.state === "kept" && p.retainUntil !== null && p.retainUntil <= until) out.ending.push(p);
        else if (p.state === "pending") out.pending.push(p);
      }
    }
    return out;
  }

  /** The weekly summary: raised as a PURGE_DUE notice when anything is due, and returned. */
  async summary(days = 7): Promise<string | null> {
    const d = await this.due(days);
    if (!d.ending.length && !d.pending.length) return null;
    const name = (p: Placement) => `${p.device}/${p.recording}`;
    const text = `${d.ending.length} recording(s) reach the end of their retention within ${days} days${d.ending.length ? ` (${d.ending.slice(0, 20).map(name).join(", ")}${d.ending.length > 20 ? ", ..." : ""})` : ""}; ` +
      `${d.pending.length} marked for purge can be undeleted until erased${d.pending.length ? ` (${d.pending.slice(0, 20).map((p) => `${name(p)} until ${iso(p.eraseAt!)}`).join(", ")})` : ""}`;
    this.o.log?.info({ code: ALARM_KINDS.PURGE_DUE, ending: d.ending.length, pending: d.pending.length }, text);
    await this.o.alarms?.raise(ALARM_KINDS.PURGE_DUE, "retention", text);
    return text;
  }
}
