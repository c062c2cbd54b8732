// Alarms the station admin must see (RULES.md §3): equivocation, failed verdicts, disk,
// expired certificates, silent devices. One open alarm per (kind, subject): a condition that
// keeps recurring bumps a counter instead of burying the list, and stays until someone clears it
// with a reason, or, for a silent device, until the device is heard from again.
import { GatewayError } from "./errors.js";
import type { Db } from "./store/db.js";
import * as store from "./store/alarms.js";
import type { Alarm } from "../protocol/gateway-api.js";
import { deviceState, silentDevices } from "./store/devices.js";
import { overdueRecordings } from "./store/recordings.js";
import type { AuditLog } from "./audit/log.js";
import { alarmText } from "../protocol/alarm-details.js";
import type { AlarmSaid } from "../protocol/alarm-details.js";


export const ALARM_KINDS = {
  EQUIVOCATION: "EQUIVOCATION",
  FAILED_VERDICT: "FAILED_VERDICT",
  DISK_LOW: "DISK_LOW",
  CERT_EXPIRED: "CERT_EXPIRED",
  DEVICE_SILENT: "DEVICE_SILENT",
  /** A device's Status says `alarm` (storage full of unacknowledged evidence). */
  DEVICE_ALARM: "DEVICE_ALARM",
  /** A recording not wholly uploaded within the upload deadline after it ended. */
  UPLOAD_OVERDUE: "UPLOAD_OVERDUE",
  /** The disk refused to sync a media file or its directory (fdatasync or fsync failed): a storage fault. */
  MEDIA_SYNC_FAILED: "MEDIA_SYNC_FAILED",
  /** Recordings whose retention ends soon or is over, the weekly summary (evidence/retention.ts). */
  PURGE_DUE: "PURGE_DUE",
  /** A region's partition no worker holds (cluster/partitions.ts). */
  PARTITION_UNSERVED: "PARTITION_UNSERVED",
} as const;

/**
 * Kinds about the station as a whole, never about a device, whatever their subject looks like (a
 * directory, "retention", a partition): an admin's to see and clear (services/alarms.ts).
 */
export const STATION_ALARM_KINDS: ReadonlySet<string> = new Set([ALARM_KINDS.DISK_LOW, ALARM_KINDS.MEDIA_SYNC_FAILED, ALARM_KINDS.PURGE_DUE, ALARM_KINDS.PARTITION_UNSERVED]);

/** A known kind, or any other string a part of the gateway needs. */
export type AlarmKind = keyof typeof ALARM_KINDS | (string & {});

/** Who clears an alarm that resolved itself. */
export const SYSTEM_ACTOR = "gateway";

// Kinds that are evidence of tampering, not of an operational problem: logged at error level.
const TAMPER_KINDS: ReadonlySet<string> = new Set([ALARM_KINDS.EQUIVOCATION, ALARM_KINDS.FAILED_VERDICT]);

export type { Alarm };

export class AlarmError extends GatewayError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = "AlarmError";
  }
}

/** The part of a pino logger alarms use. */
export interface AlarmLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface AlarmOptions {
  /** When given, every clear by a person is also an audit entry (an admin change, P6). */
  audit?: AuditLog;
  /** Clock (ms since the epoch), injected for tests. */
  now?: () => number;
  /** Told of every raise and clear (live pages). */
  changed?: (kind: string, subject: string) => void;
  /**
   * A cluster worker's fence (cluster/worker.ts): run in the transaction of every raise about a
   * device, it throws (FENCED) when the worker no longer serves the device's partition. The raise
   * is then not written: the partition's new holder, fed the same messages again, raises it, so an
   * alarm counts what happened once, as the evidence the same messages carry is stored once.
   */
  fence?: (tx: Db, device: string) => Promise<void>;
}


/** An alarm's words: the English text, and the key and values (JSON) when it was raised with them. */
interface Words { detail: string; said: string | null }
const wordsOf = (d: string | AlarmSaid): Words => (typeof d === "string" ? { detail: d, said: null } : { detail: alarmText(d, "en"), said: JSON.stringify(d) });

/** A raise waiting for the write of the same alarm on its way. */
interface Raise { words: Words; at: number; resolve: (a: Alarm) => void; reject: (e: Error) => void }

export class Alarms {
  private audit?: AuditLog;
  private now: () => number;
  private fence?: (tx: Db, device: string) => Promise<void>;
  /** Alarms with a write on its way, and the raises that came meanwhile. */
  private writing = new Map<string, Raise[]>();

  constructor(private db: Db, private log?: AlarmLogger, opts: AlarmOptions = {}) {
    this.audit = opts.audit;
    this.now = opts.now ?? Date.now;
    this.changed = opts.changed;
    this.fence = opts.fence;
  }
  /** Told of every raise and clear (live pages); set once at assembly. */
  changed?: (kind: string, subject: string) => void;

  /**
   * Raise an alarm, or bump the one already open for this kind and subject. `device`: the device it
   * is about, when it is about one (behind a cluster worker's fence, AlarmOptions.fence). `detail`:
   * words, or a key and values (protocol/alarm-details.ts) a reader gets in their language.
   */
  async raise(kind: AlarmKind, subject: string, detail: string | AlarmSaid, device?: string): Promise<Alarm> {
    return this.raiseAt(kind, subject, detail, this.now(), device);
  }

  /**
   * The alarms ingest raises about what it stores, for what was stored with none raised: a failed
   * verdict, a clip's times flagged, a message kept as forged (the raise the store could not keep
   * was waiting to be made again when the process ended, or the end came between the commit and
   * the raise: ingest's retries live in memory). Made at start and hourly (office.ts); returns how many.
   */
  async raiseUnraised(): Promise<number> {
    const rows = await store.unraised(this.db, 1000);
    for (const r of rows) {
      const fact = r.kind === "FAILED_VERDICT" ? (JSON.parse(r.fact) as { code: string }[]).map((x) => x.code).join(",") : r.fact;
      // As ingest names it: a failure that is an equivocation is raised as one.
      const kind = r.kind === "FAILED_VERDICT" && fact.includes("EQUIVOCATION") ? ALARM_KINDS.EQUIVOCATION : r.kind;
      await this.raise(kind, `${r.device_id}/${r.recording_id}`, `${fact} (stored, but its alarm was not raised then)`, r.device_id);
    }
    return rows.length;
  }

  /** Close the open alarm for this kind and subject; a reason is required. Returns it, or null if none was open. */
  async clear(kind: AlarmKind, subject: string, actor: string, reason: string): Promise<Alarm | null> {
    if (typeof actor !== "string" || !actor.trim()) throw new AlarmError("ACTOR_REQUIRED", "clearing an alarm names who clears it");
    if (typeof reason !== "string" || !reason.trim()) throw new AlarmError("REASON_REQUIRED", `clearing ${kind} ${subject} needs a reason`);
    const audit = this.audit;
    if (!audit) return this.close(kind, subject, actor, reason, this.now());
    // The audit entry and the clear commit together: no clear goes unrecorded, and no entry
    // records a clear that didn't happen.
    const cleared = await this.db.transaction(async () => {
      const a = await this.close(kind, subject, actor, reason, this.now());
      if (a) await audit.appendInTransaction({ actor, action: "alarm.clear", target: `${kind}:${subject}`, reason, details: { alarm: a.id, count: a.count } });
      return a;
    });
    if (cleared) await audit.checkpoint();
    return cleared;
  }

  /** Alarms, most recent first: only open ones, only cleared ones, or (no filter) all. */
  async list(q: { open?: boolean } = {}): Promise<Alarm[]> {
    return store.listAlarms(this.db, q.open);
  }

  /**
   * Raise DEVICE_SILENT for active or lost devices not heard from for silentAfterMs (never
   * connected: counted from registration), and clear it for devices heard from again or no
   * longer in service. Returns the device ids raised and cleared.
   */
  async checkSilentDevices(nowMs: number, silentAfterMs: number): Promise<{ raised: string[]; cleared: string[] }> {
    const cutoff = nowMs - silentAfterMs;
    const open = await store.openSubjects(this.db, ALARM_KINDS.DEVICE_SILENT);
    const silent = await silentDevices(this.db, cutoff);
    const raised: string[] = [];
    for (const d of silent) {
      // Already open: re-raising each check would only count checks, not silences.
      if (open.delete(d.id)) continue;
      const state = { word: d.state === "lost" ? "lost" : "active" } as const, seconds = Math.round(silentAfterMs / 1000);
      await this.raiseAt(ALARM_KINDS.DEVICE_SILENT, d.id, d.last_seen === null
        ? { key: "silentNever", args: { state, seconds, registered: { time: d.created_at } } }
        : { key: "silentSince", args: { state, seconds, seen: { time: d.last_seen } } }, nowMs);
      raised.push(d.id);
    }
    // What is left in `open` was silent and no longer is (or left service, or was deleted).
    const cleared: string[] = [];
    for (const id of open) {
      const d = await deviceState(this.db, id);
      const why = !d ? "device no longer registered" : d.state === "active" || d.state === "lost" ? "device heard from again" : `device is now ${d.state}`;
      if (await this.close(ALARM_KINDS.DEVICE_SILENT, id, SYSTEM_ACTOR, why, nowMs)) cleared.push(id);
    }
    return { raised, cleared };
  }

  /**
   * Raise UPLOAD_OVERDUE for each recording not wholly uploaded `deadlineMs` after it ended (the
   * rules' upload deadline), once per recording; it stays until cleared with a reason.
   */
  async checkUploadDeadline(nowMs: number, deadlineMs: number): Promise<string[]> {
    const open = await store.openSubjects(this.db, "UPLOAD_OVERDUE");
    const raised: string[] = [];
    for (const r of await overdueRecordings(this.db, nowMs - deadlineMs)) {
      const subject = `${r.device_id}/${r.recording_id}`;
      if (open.has(subject)) continue;
      const late = Math.round((nowMs - r.ended) / 3600e3);
      await this.raiseAt("UPLOAD_OVERDUE", subject, { key: "uploadOverdue", args: { ended: { time: r.ended }, hours: late, chunks: r.linked_seq, noSeal: { word: r.sealed ? "none" : "noSeal" }, deadline: Math.round(deadlineMs / 3600e3) } }, nowMs);
      raised.push(subject);
    }
    return raised;
  }

  private async raiseAt(kind: string, subject: string, detail: string | AlarmSaid, at: number, device?: string): Promise<Alarm> {
    if (typeof kind !== "string" || !kind) throw new AlarmError("KIND_REQUIRED", "an alarm has a kind");
    if (typeof subject !== "string") throw new TypeError("subject must be a string");
    // A storm (a flood of forged messages, a device whose every message is flagged) is one write
    // at a time per alarm: raises that come while one is on its way are folded into the next, with
    // their count. A write outside a transaction waits for the ingest's commit, so one write per
    // raise would queue a durable commit per message behind it.
    const key = `${kind}\n${subject}`;
    const waiting = this.writing.get(key);
    const words = wordsOf(typeof detail === "object" && detail !== null ? detail : String(detail));
    if (waiting) return new Promise<Alarm>((resolve, reject) => { waiting.push({ words, at, resolve, reject }); });
    const queue: Raise[] = [];
    this.writing.set(key, queue);
    const first = this.write(kind, subject, words, at, 1, device);
    void (async () => {
      await first.catch(() => undefined);
      while (queue.length) {
        const batch = queue.splice(0);
        const last = batch[batch.length - 1];
        await this.write(kind, subject, last.words, last.at, batch.length, device).then((a) => { for (const r of batch) r.resolve(a); }, (e: Error) => { for (const r of batch) r.reject(e); });
      }
      this.writing.delete(key);
    })();
    return first;
  }

  private async write(kind: string, subject: string, words: Words, at: number, times: number, device?: string): Promise<Alarm> {
    const fence = device === undefined ? undefined : this.fence;
    const a = fence
      ? await this.db.transaction(async () => { await fence(this.db, device!); return store.upsertAlarm(this.db, kind, subject, words.detail, words.said, at, times); })
      : await store.upsertAlarm(this.db, kind, subject, words.detail, words.said, at, times);
    if (this.changed) this.changed(kind, subject);
    // Only the raise that opened it is logged: a repeating condition must not flood the log.
    if (a.count === times && this.log) {
      const fields = { alarm: kind, subject, detail: a.detail };
      if (TAMPER_KINDS.has(kind)) this.log.error(fields, "alarm raised");
      else this.log.warn(fields, "alarm raised");
    }
    return a;
  }

  private async close(kind: string, subject: string, actor: string, reason: string, at: number): Promise<Alarm | null> {
    const a = await store.closeAlarm(this.db, kind, subject, actor, reason, at);
    if (a && this.changed) this.changed(kind, subject);
    return a;
  }
}
