// Assembles the station gateway: data directory, station key, SQLite, media, broker, ingest.
// main.ts runs it as a process; tests start it in-process on ephemeral ports.
import { freeBytes, lockDataDir, prepareDataDir, tightenDataDir } from "./datadir.js";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { GatewayError } from "./errors.js";
import type { GatewayConfig } from "./config.js";
import { createLogger } from "./log.js";
import type { Logger } from "./log.js";
import { Db } from "./store/db.js";
import { ACCOUNT_MIGRATIONS, ALARM_MIGRATIONS, AUDIT_MIGRATIONS, INGEST_MIGRATIONS, MODEL_MIGRATIONS, migrate } from "./store/schema.js";
import type { MigrationSet } from "./store/schema.js";
import { Accounts } from "./api/accounts.js";
import { Model } from "./model/model.js";
import { AuditLog } from "./audit/log.js";
import { Alarms } from "./alarms.js";
import type { FastifyInstance } from "fastify";
import { MediaStore } from "./store/media.js";
import { StationKey } from "./secrets.js";
import { DeviceRegistry, checkStationKey } from "./devices.js";
import { deviceCount } from "./store/devices.js";
import { Broker } from "./broker/server.js";
import { Refusals } from "./broker/admission.js";
import { GroupCommitter } from "./ingest/commit.js";
import { tlsMaterial } from "./broker/tls.js";
import { Ingest } from "./ingest/pipeline.js";
import { Metrics } from "./metrics.js";
import { ingestOptions } from "./ingest-hooks.js";
import { StationIdentity } from "./evidence/identity.js";
import { ensureStationChain } from "./evidence/x509.js";
import { TLOG_MIGRATIONS, latestCheckpoint } from "./store/tlog.js";
import { SCRUB_MIGRATIONS } from "./store/scrub.js";
import { RETENTION_MIGRATIONS } from "./store/retention.js";
import { APPROVAL_MIGRATIONS } from "./store/approvals.js";
import { EXPORT_MIGRATIONS } from "./store/export.js";
import { Evidence } from "./evidence/service.js";
import { parseWitnesses } from "./evidence/witness-client.js";
import { Approvals } from "./services/approvals.js";
import { Services } from "./services/index.js";
import { makePolicy } from "./policy.js";
import { officeCore, serveOffice, writePorts } from "./office.js";
import { LiveBus } from "./live.js";
import type { Policy } from "./policy.js";

/** Every migration set, in order: each part of the gateway owns one. */
export const ALL_MIGRATIONS: MigrationSet[] = [INGEST_MIGRATIONS, ACCOUNT_MIGRATIONS, MODEL_MIGRATIONS, AUDIT_MIGRATIONS, ALARM_MIGRATIONS, TLOG_MIGRATIONS, SCRUB_MIGRATIONS, RETENTION_MIGRATIONS, APPROVAL_MIGRATIONS, EXPORT_MIGRATIONS];

export interface Gateway {
  config: GatewayConfig;
  /** https when the API speaks HTTPS. */
  apiScheme: "http" | "https";
  /** The service layer: every change and every read of records goes through it. */
  services: Services;
  policy: Policy;
  mqttPort: number;
  httpPort: number;
  api: FastifyInstance;
  accounts: Accounts;
  model: Model;
  audit: AuditLog;
  alarms: Alarms;
  /** Signing, the transparency log and its witnesses, the scrub. */
  evidence: Evidence;
  /** Requests, grants and release approvers (exports and views beyond one's scope). */
  approvals: Approvals;
  /** Check the data disk's free space now (it is also checked every 5 s). */
  checkDisk(): Promise<void>;
  /** What changed, as it happens: the console's live pages read it. */
  bus: LiveBus;
  /** Set on the first start: where the admin token was written. */
  adminTokenFile: string | null;
  db: Db;
  media: MediaStore;
  registry: DeviceRegistry;
  broker: Broker;
  ingest: Ingest;
  committer: GroupCommitter;
  log: Logger;
  close(): Promise<void>;
}

/** What a station whose station key is not the one its devices' secrets were sealed under is told to do. */
const STATION_KEY_REMEDY = "it is not this station's key (its own lost, or the database another station's). Restore this station's station.key from its backup (mode 0600), replacing this one, or give the data directory that belongs to this database (--data-dir, --db)";

/** Open the data directory and its database (also used by the admin CLI, without the broker). */
export async function openStore(config: GatewayConfig) {
  const dir = resolve(config.dataDir);
  prepareDataDir(dir, { create: true });
  // The metadata: SQLite in the data directory, or the PostgreSQL server --db names. Opened
  // before the keys: each key in the data directory is checked against what the database holds,
  // and one that is missing is made only for a database that needs none yet (a lost key made
  // again would open no device's secret, or sign the station's log as another station).
  const db = await Db.open(config.db || join(dir, "gateway.db"));
  try {
    await migrate(db, ALL_MIGRATIONS);
    const keyFile = join(dir, "station.key");
    if (!existsSync(keyFile)) {
      const n = await deviceCount(db);
      if (n) throw new GatewayError("STATION_KEY_MISSING", `no station key at ${keyFile}, but the database's registry holds ${n} device${n === 1 ? "" : "s"} whose secrets only the station's own key opens. Restore this station's station.key from its backup (mode 0600), or give the data directory that belongs to this database (--data-dir, --db); a new key would open none of them`);
    }
    const station = StationKey.loadOrCreate(keyFile);
    const registry = new DeviceRegistry(db, station.key);
    await checkStationKey(registry, keyFile, STATION_KEY_REMEDY);
    // The station's Ed25519 signing identity (log checkpoints, manifests, C2PA), made at first start.
    const { identity } = StationIdentity.loadOrCreate(dir, config.stationName, (await latestCheckpoint(db)) ?? null);
    const policy = makePolicy(config);
    const audit = await AuditLog.open(db, dir);
    const accounts = new Accounts(db);
    // First start (gateway or CLI): the admin account, its token in a 0600 file in the data directory.
    const tokenFile = join(dir, "admin.token");
    const adminTokenFile = (await accounts.bootstrap(tokenFile)) ? tokenFile : null;
    // A first start's files (its database) as every start leaves them: readable by the station's account only.
    if (adminTokenFile) tightenDataDir(dir);
    return {
      adminTokenFile,
      dir, db, station: station.key, audit, identity,
      registry,
      accounts,
      policy,
      // Recordings' media: files under the data directory.
      media: new MediaStore(join(dir, "media")),
      model: new Model(db, { timeZone: policy.timeZone, fleetRatio: policy.fleetRatio, gapToleranceMs: policy.gapToleranceMs }),
    };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}

export async function startGateway(config: GatewayConfig, log: Logger = createLogger(config.logLevel)): Promise<Gateway> {
  // Checked before anything listens: a bad witness entry stops the start with its reason.
  const witnesses = parseWitnesses(config.witnesses);
  // One gateway per data directory; what is in it readable only by the station's account.
  const dataDir = resolve(config.dataDir);
  prepareDataDir(dataDir, { create: true });
  const unlock = lockDataDir(dataDir);
  try {
    return await start(config, log, witnesses, unlock);
  } catch (e) {
    unlock();
    throw e;
  }
}

async function start(config: GatewayConfig, log: Logger, witnesses: ReturnType<typeof parseWitnesses>, unlock: () => void): Promise<Gateway> {
  // Files an earlier version left readable are tightened and reported; what this start creates
  // (a first start's database) is tightened quietly after it is opened.
  const fixed = tightenDataDir(resolve(config.dataDir));
  const store = await openStore(config);
  const { dir, db, registry, accounts, model, audit, identity, policy, adminTokenFile, media } = store;
  tightenDataDir(dir);
  if (fixed.length) log.warn({ fixed: fixed.length, first: fixed.slice(0, 5) }, "data directory: modes tightened to 0700 (directories) and 0600 (files)");
  // The C2PA chain (station CA, signing certificate) made once; without openssl, export's C2PA waits for it.
  try {
    if (ensureStationChain(dir, identity).created) log.info({ station: identity.name }, "made the station CA and C2PA signing certificate");
  } catch (e) {
    log.error({ err: (e as Error).message }, "could not make the station's X.509 chain");
  }
  // The ingesting gateway's media through the journal; what a crash left in it is written first.
  const journalled = config.mediaJournalMb > 0 && media instanceof MediaStore ? media : null;
  if (journalled) {
    const replayed = await journalled.journal(config.mediaJournalMb * 1048576, { maxWrite: config.mediaJournalMaxWriteKib * 1024 });
    if (replayed.records) log.warn(replayed, "media journal: records a stop left out of their files written to them again");
  }
  const core = officeCore(config, log, witnesses, store, media);
  const { bus, alarms, evidence, approvals } = core;
  const committer = new GroupCommitter(db, media, config.commitDelayMs, config.commitMaxBatch, { delayMs: config.faultCommitDelayMs, failNext: config.faultCommitFail },
    (items, mediaS, syncS, sqlS) => metrics.batch(items, mediaS, syncS, sqlS));
  if (config.faultCommitDelayMs || config.faultCommitFail) log.warn({ delayMs: config.faultCommitDelayMs, fail: config.faultCommitFail }, "commit faults injected: for tests only");
  // Refusals and commits are counted into `metrics`, made once ingest exists (below); nothing is
  // refused or committed before the broker listens, after that.
  const refusals = new Refusals(log, (code) => metrics.refusals.inc({ code }));
  // One direction: the broker hands messages to ingest through the callbacks it is built with;
  // ingest answers through the Downlink it is built with (publish, disconnect, and pause and
  // resume reading a connection's socket for backpressure), nothing more.
  const downlink = {
    send: (id: string, b: Uint8Array) => broker.send(id, b), disconnect: (conn: string) => broker.disconnect(conn),
    pause: (conn: string) => broker.pause(conn), resume: (conn: string) => broker.resume(conn),
  };
  const ingest: Ingest = new Ingest(db, media, registry, committer, downlink, log, {
    ...ingestOptions(config, { refusals, alarms, model, log, metrics: () => metrics }),
    // A sealed recording's manifest goes into the transparency log soon after its commit.
    sealed: (device, recording) => evidence.recordingSealed(device, recording),
    live: (ev) => bus.publish(ev),
  });
  // Gauges are read at scrape time from the parts that own them.
  const metrics: Metrics = new Metrics({
    sessions: () => ingest.sessionLoad(),
    ingest: () => ingest.held,
    diskFreeBytes: () => freeBytes(dir),
    scrub: () => evidence.scrubber.progress,
    mediaJournal: journalled ? () => journalled.journalStats : undefined,
  });
  const broker = new Broker(registry, refusals, log, { message: (conn, id, p) => ingest.message(conn, id, p), disconnected: (conn) => ingest.disconnected(conn) });
  // A revoke reaches the live connection at once: an authenticated Revoke, then the connection closed.
  const live = {
    online: (id: string) => ingest.online(id),
    deviceRevoked: async (id: string, reason: string) => {
      const told = await ingest.revoked(id, reason);
      setTimeout(() => broker.disconnectDevice(id), told ? 200 : 0).unref();
      log.warn({ device: id, sessions: told, reason }, "device revoked while connected: told and disconnected");
    },
  };
  const tls = config.tlsPort ? tlsMaterial(dir, config.tlsCert, config.tlsKey) : null;
  if (tls && tls.generated) log.info({ cert: tls.certFile }, "generated a self-signed TLS certificate");
  const mqttPort = await broker.listen({ host: config.host, port: config.mqttPort, tls: tls ? { port: config.tlsPort, cert: tls.cert, key: tls.key } : undefined, maxPacket: config.maxPacket, maxClients: config.maxClients, connectTimeoutMs: config.mqttConnectTimeoutMs, ratePerSecond: config.ratePerSecond, rateBurst: config.rateBurst, maxPendingClients: config.maxPendingClients, maxSessionsPerDevice: config.maxSessionsPerDevice });
  const office = await serveOffice(config, log, store, media, core, { live, metrics, gateway: { kind: "station", state: () => {
    const load = ingest.sessionLoad();
    return { mqttPort, sessions: { connections: load.connections, paused: load.paused, backlogBytes: load.backlogBytes }, ingest: { ...ingest.stats }, refusals: { ...refusals.counts },
      disk: { freeBytes: freeBytes(dir), minFreeBytes: config.diskMinFreeMb * 1048576, low: ingest.diskLow } };
  } } });
  // R-ACK-6: below the free-space threshold nothing is acknowledged; checked every few seconds,
  // with the office's checks on the fleet (one timer, one pass every 5 s).
  let closed = false;
  let syncFailuresSeen = 0;
  const checkDisk = async () => {
    if (closed) return;
    const freeMb = freeBytes(dir) / 1048576;
    const low = freeMb < config.diskMinFreeMb;
    if (low !== ingest.diskLow) {
      log[low ? "error" : "info"]({ code: low ? "DISK_LOW" : undefined, freeMb: Math.round(freeMb) }, low ? "disk low: acknowledgements stopped" : "disk space back: acknowledging");
      ingest.diskLow = low;
      if (low) await alarms.raise("DISK_LOW", dir, { key: "diskLow", args: { free: Math.round(freeMb), min: config.diskMinFreeMb } });
      else await alarms.clear("DISK_LOW", dir, "gateway", "free space back above the threshold");
    }
    // A media file's sync the disk refused since the last check: a storage fault an admin must see
    // (the journal writes its records to their files again before it lets them go; nothing is lost
    // while the journal's own disk writes hold).
    const refused = journalled?.journalStats?.syncFailures || 0;
    if (refused > syncFailuresSeen) {
      log.error({ code: "MEDIA_SYNC_FAILED", failures: refused - syncFailuresSeen }, "the disk refused to sync media files: their journal records are written to them again before they are let go; check the disk");
      await alarms.raise("MEDIA_SYNC_FAILED", dir, { key: "mediaSyncFailed", args: { n: refused - syncFailuresSeen } });
      syncFailuresSeen = refused;
    }
    await office.checkFleet();
  };
  const check = () => void checkDisk().catch((e) => log.error({ err: String(e) }, "disk check failed"));
  await checkDisk();
  const diskTimer = setInterval(check, 5000);
  diskTimer.unref();
  // Genesis links an earlier run left unchecked (the process killed between a seal's commit and
  // the check of the next recording's link to it) are checked now; a broken one fails its recording.
  void ingest.checkUncheckedLinks().then((n) => { if (n) log.warn({ recordings: n }, "genesis links an earlier run left unchecked: checked now"); },
    (e) => { if (!closed) log.error({ err: String(e) }, "genesis links an earlier run left unchecked: not checked now; checked again at the next start"); });
  // And case links by tag it left unmade (killed between a clip's commit and its link).
  void ingest.resumeTagLinks().then((n) => { if (n) log.warn({ recordings: n }, "case links by tag an earlier run left unmade: asked again"); },
    (e) => { if (!closed) log.error({ err: String(e) }, "case links by tag an earlier run left unmade: not asked now; asked again at the next start or the device's next Hello"); });
  const { services, api, httpPort, apiScheme } = office;
  writePorts(config.portsFile, { mqtt: mqttPort, http: httpPort, tls: broker.tlsPort || null, https: apiScheme === "https" });
  return {
    config, apiScheme, services, bus, policy, mqttPort, httpPort, api, accounts, model, audit, alarms, evidence, approvals, adminTokenFile, checkDisk, db, media, registry, broker, ingest, committer, log,
    async close() {
      closed = true;
      clearInterval(diskTimer);
      await api.close();
      await broker.close();
      await ingest.close();
      await office.close();
      await media.close();
      await db.close();
      unlock();
    },
  };
}
