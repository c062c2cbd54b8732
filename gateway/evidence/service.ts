// The evidence part of the gateway, assembled: the transparency log fed from its sources,
// checkpoints sent to witnesses, and (scrub.ts) the re-check of what is stored. One pass at a
// time; gateway.ts starts the timers, tests and the CLI call sync() directly.
import type { Db } from "../store/db.js";
import { storeUnavailable } from "../store/db.js";
import type { MediaReader } from "../store/media.js";
import { GatewayError } from "../errors.js";
import type { AuditLog } from "../audit/log.js";
import type { Alarms } from "../alarms.js";
import type { Logger } from "../log.js";
import type { StationIdentity } from "./identity.js";
import { TransparencyLog } from "./tlog.js";
import { syncSources } from "./sources.js";
import { requestCosignature } from "./witness-client.js";
import type { CosignOutcome, WitnessConfig } from "./witness-client.js";
import * as store from "../store/tlog.js";
import type { DeviceRegistry } from "../devices.js";
import { Scrubber } from "./scrub.js";
import { Retention } from "./retention.js";
import type { RetentionPolicy } from "./retention.js";
import type { ScrubReport } from "./scrub.js";

export interface EvidenceOptions {
  db: Db;
  identity: StationIdentity;
  audit: AuditLog;
  alarms?: Alarms;
  log?: Logger;
  witnesses?: WitnessConfig[];
  /** How often a pass runs by itself (0: only when asked). */
  logIntervalMs?: number;
  /** The scrub: device keys, the media (read, and erased by retention), its pace (MiB/s, 0: no background scrub) and interval. */
  registry: DeviceRegistry;
  media: MediaReader;
  scrubMibPerS?: number;
  scrubIntervalH?: number;
  /** Retention: the policy, and hours between scheduled purge passes (0: none). */
  retention?: RetentionPolicy;
  purgeIntervalH?: number;
  now?: () => number;
}

export interface SyncResult {
  /** Leaves added by this pass, and the log's size after it. */
  added: number;
  size: number;
  witnesses: CosignOutcome[];
}

/** A scrub or purge pass stopped because the store (its database or media) could not be asked is made again after this long. */
const RETRY_MS = 10 * 60e3;

export class Evidence {
  readonly tlog: TransparencyLog;
  /** The station's signing identity (its verifier key is what monitors and verifiers check against). */
  readonly identity: StationIdentity;
  /** Re-checks stored recordings (scrub.ts). */
  readonly scrubber: Scrubber;
  private scrubbing: Promise<unknown> = Promise.resolve();
  private scrubTimer: NodeJS.Timeout | null = null;
  /** Holds, undeletes and the purge (retention.ts). */
  readonly retention: Retention;
  private purgeTimer: NodeJS.Timeout | null = null;
  private purging: Promise<unknown> = Promise.resolve();
  private lastSummary = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private closed = false;
  private now: () => number;

  constructor(private o: EvidenceOptions) {
    this.now = o.now ?? Date.now;
    this.identity = o.identity;
    this.tlog = new TransparencyLog(o.db, o.identity, this.now);
    this.scrubber = new Scrubber(o.db, o.media, o.registry, { alarms: o.alarms, audit: o.audit, log: o.log });
    this.retention = new Retention(o.db, o.media, this.tlog, o.audit, o.retention ?? { days: 180, undeleteDays: 7 }, { alarms: o.alarms, log: o.log, now: this.now, sync: () => this.sync() });
  }

  /** One scheduled purge pass, and the weekly summary of what is due to go when a week has passed. */
  purge(): Promise<void> {
    const run = async () => {
      const r = await this.retention.purge();
      if (r.marked.length || r.erased.length) this.o.log?.info({ marked: r.marked.length, erased: r.erased.length }, "purge pass");
      if (this.now() - this.lastSummary >= 7 * 86400e3) {
        this.lastSummary = this.now();
        await this.retention.summary(7);
      }
    };
    const p = this.purging.then(run, run);
    this.purging = p.catch(() => undefined);
    return p;
  }

  /** One background-paced scrub pass over every stored recording (never two at once). */
  scrub(): Promise<ScrubReport> {
    const mib = this.o.scrubMibPerS ?? 0;
    const run = () => this.scrubber.run({ bytesPerSecond: mib * 1048576, skipRecentMs: 60000, stopped: () => this.closed });
    const p = this.scrubbing.then(run, run);
    this.scrubbing = p.catch(() => undefined);
    return p;
  }

  /**
   * One pass: every new leaf from every source into the log, a signed checkpoint of the new
   * size, and the checkpoint sent to each witness that has not cosigned it. Passes never overlap.
   */
  sync(): Promise<SyncResult> {
    const run = () => this.pass();
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async pass(): Promise<SyncResult> {
    const { added, size } = await syncSources(this.o.db, this.o.identity, this.o.audit, this.tlog, this.now);
    const cp = await this.tlog.checkpoint();
    const witnesses: CosignOutcome[] = [];
    for (const w of this.o.witnesses ?? []) {
      const have = await store.cosignatures(this.o.db, cp.size);
      if (have.some((c) => c.witness === w.key.name)) continue;
      const out = await requestCosignature(this.o.db, this.tlog, w, cp, this.now);
      witnesses.push(out);
      if (out.status === "refused") {
        this.o.log?.error({ witness: out.witness, code: out.code, detail: out.detail }, "witness refused the log's checkpoint");
        await this.o.alarms?.raise(out.code, out.witness, `checkpoint of size ${cp.size}: ${out.detail}`);
      } else if (out.status === "unreachable") this.o.log?.warn({ witness: out.witness, detail: out.detail }, "witness unreachable; retried next pass");
    }
    return { added, size, witnesses };
  }

  /**
   * Call when a recording's seal is committed: its manifest enters the log within moments
   * rather than at the next timed pass. Never throws; the timed pass catches anything missed.
   */
  recordingSealed(deviceId: string, recordingId: number): void {
    if (this.closed || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      this.sync().catch((e) => this.o.log?.error({ err: String(e), device: deviceId, recording: recordingId }, "transparency log pass failed"));
    }, 50);
    this.soon.unref();
  }

  /** Start the timed passes: the log (config logIntervalMs) and the background scrub (scrubMibPerS, scrubIntervalH). */
  start(): void {
    const ms = this.o.logIntervalMs ?? 0;
    if (ms > 0 && !this.timer) {
      this.timer = setInterval(() => void this.sync().catch((e) => this.o.log?.error({ err: String(e) }, "transparency log pass failed")), ms);
      this.timer.unref();
    }
    if ((this.o.scrubMibPerS ?? 0) > 0 && !this.scrubTimer) {
      const every = Math.max(1, this.o.scrubIntervalH ?? 24) * 3600e3;
      const pass = () => {
        this.scrubTimer = null;
        let next = every;
        this.scrub().then((r) => this.o.log?.info({ recordings: r.recordings, mib: Math.round(r.bytes / 1048576), damaged: r.damaged.length, ms: r.ms }, "scrub pass done"),
          (e) => {
            // The store out of reach (its database, JetStream, file handles): nothing was marked; the pass is made again soon, not a day later.
            if (storeUnavailable(e)) next = Math.min(every, RETRY_MS);
            this.o.log?.error({ code: e instanceof GatewayError ? e.code : undefined, err: String(e), retryInS: Math.round(next / 1000) }, "scrub pass failed");
          }).finally(() => {
          if (!this.closed) { this.scrubTimer = setTimeout(pass, next); this.scrubTimer.unref(); }
        });
      };
      // The first pass a minute after start: not in the way of devices reconnecting.
      this.scrubTimer = setTimeout(pass, 60000);
      this.scrubTimer.unref();
    }
    if ((this.o.purgeIntervalH ?? 0) > 0 && !this.purgeTimer) {
      const every = this.o.purgeIntervalH! * 3600e3;
      const pass = () => {
        this.purgeTimer = null;
        let next = every;
        this.purge().catch((e) => {
          // As the scrub's: a pass the store stopped is made again soon.
          if (storeUnavailable(e)) next = Math.min(every, RETRY_MS);
          this.o.log?.error({ code: e instanceof GatewayError ? e.code : undefined, err: String(e), retryInS: Math.round(next / 1000) }, "purge pass failed");
        }).finally(() => {
          if (!this.closed) { this.purgeTimer = setTimeout(pass, next); this.purgeTimer.unref(); }
        });
      };
      this.purgeTimer = setTimeout(pass, 5 * 60000);
      this.purgeTimer.unref();
    }
  }

  /** Stop the timers and wait for a pass under way. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    if (this.scrubTimer) clearTimeout(this.scrubTimer);
    if (this.purgeTimer) clearTimeout(this.purgeTimer);
    this.timer = this.soon = this.scrubTimer = this.purgeTimer = null;
    await this.chain.catch(() => undefined);
    await this.scrubbing.catch(() => undefined);
    await this.purging.catch(() => undefined);
  }
}
