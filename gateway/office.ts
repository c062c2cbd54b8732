// The office: what a gateway does besides taking devices in. The service layer (every change and
// read of records), evidence (the transparency log and its witnesses, the scrub, retention), the
// API, the console and exports, and the timed checks on the fleet. A station's gateway runs it
// beside its broker and ingest (gateway.ts); a region runs one beside its cluster workers, on their
// database, reading their media from JetStream (cluster/office.ts).
import { renameSync, writeFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { GatewayConfig } from "./config.js";
import type { Logger } from "./log.js";
import type { Db } from "./store/db.js";
import type { MediaReader } from "./store/media.js";
import type { AuditLog } from "./audit/log.js";
import type { Accounts } from "./api/accounts.js";
import type { Model } from "./model/model.js";
import type { DeviceRegistry } from "./devices.js";
import type { Policy } from "./policy.js";
import type { StationIdentity } from "./evidence/identity.js";
import type { WitnessConfig } from "./evidence/witness-client.js";
import type { Metrics } from "./metrics.js";
import { Alarms } from "./alarms.js";
import { Evidence } from "./evidence/service.js";
import { Approvals } from "./services/approvals.js";
import { Services } from "./services/index.js";
import type { GatewayFacts, GatewayState, LiveHooks } from "./services/index.js";
import { LiveBus } from "./live.js";
import { buildApi } from "./api/server.js";
import { logRoutes } from "./api/log-routes.js";
import { metricsRoutes } from "./api/metrics-routes.js";
import { consoleRoutes } from "./api/console-routes.js";
import { exportRoutes } from "./api/export-routes.js";
import { tlsMaterial } from "./broker/tls.js";

/** The opened store the office works on (gateway.ts openStore). */
export interface OfficeStore {
  dir: string;
  db: Db;
  audit: AuditLog;
  identity: StationIdentity;
  registry: DeviceRegistry;
  accounts: Accounts;
  policy: Policy;
  model: Model;
}

/** The office's parts that ingest uses too, made before anything listens. */
export interface OfficeCore {
  bus: LiveBus;
  alarms: Alarms;
  evidence: Evidence;
  approvals: Approvals;
}

export function officeCore(config: GatewayConfig, log: Logger, witnesses: WitnessConfig[], s: OfficeStore, media: MediaReader): OfficeCore {
  // What changed, as it happens (the console's live pages).
  const bus = new LiveBus();
  const alarms = new Alarms(s.db, log, { audit: s.audit, changed: (kind, subject) => bus.publish({ type: "alarm", kind, subject, at: Date.now() }) });
  const evidence = new Evidence({ db: s.db, identity: s.identity, audit: s.audit, alarms, log, witnesses, logIntervalMs: config.logIntervalMs,
    registry: s.registry, media, scrubMibPerS: config.scrubMibPerS, scrubIntervalH: config.scrubIntervalH,
    retention: { days: config.retentionDays, undeleteDays: config.undeleteDays }, purgeIntervalH: config.purgeIntervalH });
  const approvals = new Approvals(s.db, s.audit, s.model);
  return { bus, alarms, evidence, approvals };
}

export interface Office {
  services: Services;
  api: FastifyInstance;
  httpPort: number;
  apiScheme: "http" | "https";
  /** The timed checks on the fleet: silent devices, upload deadlines, revokes made elsewhere, expired certificates. */
  checkFleet(): Promise<void>;
  close(): Promise<void>;
}

export interface OfficeHooks {
  /** A device's live connection, where this process has them (a station), for revokes and presence. */
  live: Omit<LiveHooks, "bus">;
  /** What the gateway is and says of itself to its admin (services/system.ts), its scrub's progress added here. */
  gateway: { kind: GatewayFacts["kind"]; state: () => Omit<GatewayState, "kind" | "scrub"> };
  metrics: Metrics;
}

/** The service layer, the API (with the log, metrics, console and export routes), listening; evidence's timed passes started. */
export async function serveOffice(config: GatewayConfig, log: Logger, s: OfficeStore, media: MediaReader, core: OfficeCore, hooks: OfficeHooks): Promise<Office> {
  const { bus, alarms, evidence, approvals } = core;
  const live: LiveHooks = { ...hooks.live, bus };
  const gateway: GatewayFacts = { kind: hooks.gateway.kind, state: () => ({ ...hooks.gateway.state(), scrub: { ...evidence.scrubber.progress } }) };
  const services = new Services({ db: s.db, audit: s.audit, model: s.model, registry: s.registry, accounts: s.accounts, alarms, policy: s.policy, media, dataDir: s.dir, live, approvals, gateway });
  let lastDeadlineCheck = 0;
  const checkFleet = async () => {
    await alarms.checkSilentDevices(Date.now(), config.silentAfterS * 1000);
    // The upload deadline (RULES.md §2: upload within 24 h of the end of duty), checked once a minute.
    if (Date.now() - lastDeadlineCheck >= 60000) {
      lastDeadlineCheck = Date.now();
      await alarms.checkUploadDeadline(lastDeadlineCheck, s.policy.uploadDeadlineH * 3600e3);
    }
    // A revoke made by the CLI on this data directory (another process) reaches live connections here.
    for (const id of await s.registry.revokedSinceCached()) if (live.deviceRevoked) await live.deviceRevoked(id, "device revoked by the station");
    // A certificate that expired during a checkout (RULES.md §2) is raised per device.
    for (const x of await s.model.checkoutsWithExpiredCert(Date.now())) {
      await alarms.raise("CERT_EXPIRED", x.deviceId, { key: "certExpired", args: { name: x.name, badge: x.badge, device: x.deviceId, validTo: x.certValidTo ?? "—" } });
    }
  };
  // At start and hourly: kept export bundles whose grant has ended are deleted, and so are the
  // parts of bundles whose writer was killed mid-export, their exports marked failed
  // (services/exports.ts); what ingest stored and no admin was told of is raised (a station or a
  // region's worker killed while it waited to raise an alarm the database could not keep).
  const hourly = () => {
    void services.exports.dropExpired().catch((e) => log.error({ err: String(e) }, "dropping expired export bundles failed"));
    void services.exports.dropInterrupted().then((ids) => { if (ids.length) log.warn({ exports: ids }, "exports whose writing stopped with its process: failed, their parts deleted"); },
      (e) => log.error({ err: String(e) }, "dropping interrupted exports failed"));
    void alarms.raiseUnraised().then((n) => { if (n) log.warn({ alarms: n }, "alarms a run did not raise: raised now"); },
      (e) => log.error({ err: String(e) }, "alarms a run did not raise: not raised now; tried again in an hour"));
  };
  hourly();
  const hourlyTimer = setInterval(hourly, 3600e3);
  hourlyTimer.unref();
  const httpsOn = !!(config.https || config.httpsCert || config.httpsKey);
  const httpsMaterial = httpsOn ? tlsMaterial(s.dir, config.httpsCert, config.httpsKey) : null;
  if (httpsMaterial?.generated) log.info({ cert: httpsMaterial.certFile }, "generated a self-signed TLS certificate");
  const apiLog = log.level === "silent" ? log.child({ part: "api" }) : log.child({ part: "api" }, { level: "warn" });
  const api = await buildApi({ services, https: httpsMaterial ? { cert: httpsMaterial.cert, key: httpsMaterial.key } : undefined }, apiLog);
  logRoutes(api, evidence.tlog, s.identity.verifierKey);
  metricsRoutes(api, hooks.metrics);
  consoleRoutes(api, services, { consoleDir: config.consoleDir, secureCookie: httpsOn });
  exportRoutes(api, { db: s.db, audit: s.audit, model: s.model, registry: s.registry, identity: s.identity, approvals, tlog: evidence.tlog, dataDir: s.dir, media, sync: () => evidence.sync() }, services);
  await api.listen({ host: config.host, port: config.httpPort });
  evidence.start();
  const httpPort = (api.server.address() as { port: number }).port;
  return {
    services, api, httpPort, apiScheme: httpsOn ? "https" : "http", checkFleet,
    async close() {
      clearInterval(hourlyTimer);
      // A station closes its API first, before its broker and ingest (gateway.ts).
      if (api.server.listening) await api.close();
      await evidence.close();
    },
  };
}

/**
 * Where tools and tests find a running process's ports (config portsFile). Written beside it and
 * renamed into place, so whoever sees the file reads it whole.
 */
export function writePorts(file: string, ports: Record<string, unknown>): void {
  if (!file) return;
  writeFileSync(file + ".tmp", JSON.stringify({ ...ports, pid: process.pid }) + "\n", { mode: 0o600 });
  renameSync(file + ".tmp", file);
}
