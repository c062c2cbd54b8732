// Gateway configuration: one defaults object, then a JSON file, then environment, then flags.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { MAX_PACKET } from "../protocol/constants.js";
import { POLICY_DEFAULTS } from "./policy.js";
import { isPostgresUrl } from "./store/db.js";
import { JOURNAL_WRITE_MAX } from "./store/media.js";
import { argPath } from "../protocol/shell-path.js";

export interface GatewayConfig {
  /** Address the MQTT and HTTP listeners bind to. */
  host: string;
  mqttPort: number;
  /** MQTT over TLS; 0: no TLS listener. */
  tlsPort: number;
  /** PEM certificate and key for TLS; empty: a self-signed pair is generated in the data directory. */
  tlsCert: string;
  tlsKey: string;
  httpPort: number;
  /** HTTPS for the API: 1 with a self-signed certificate made once in the data directory (as for MQTT over TLS), or give httpsCert and httpsKey. */
  https: number;
  httpsCert: string;
  httpsKey: string;
  /** A file the gateway writes its chosen ports to, as JSON, once it listens (for tools that start it with port 0). */
  portsFile: string;
  /** A socket that sends no MQTT CONNECT within this many ms is closed and logged. */
  mqttConnectTimeoutMs: number;
  /** SQLite database, media files, station key, admin token. */
  dataDir: string;
  /** A PostgreSQL connection string for the metadata (postgres://user:password@host:port/database); empty: SQLite in dataDir. */
  db: string;
  /** The built console (npm run build:console); empty: dist/console of this checkout. */
  consoleDir: string;
  /** Largest MQTT packet accepted (R-TOP-4); at least the protocol's largest chunk message (checked). */
  maxPacket: number;
  maxClients: number;
  /** Sockets that have not sent their CONNECT yet, at once (0: a quarter of maxClients); past it the oldest of the address holding the most is closed. */
  maxPendingClients: number;
  /** MQTT sessions one device's login holds at once; more are refused TOO_MANY_SESSIONS. */
  maxSessionsPerDevice: number;
  /** Messages per second a device may send, and the burst it may save up (R-ADM-3). */
  ratePerSecond: number;
  rateBurst: number;
  /** Group commit: longest wait before a batch is committed, and largest batch (R-ACK-1). */
  commitDelayMs: number;
  commitMaxBatch: number;
  /** MiB of each of the two media journal files; 0: none, each media file durable by its own writes. */
  mediaJournalMb: number;
  /** KiB: a file's larger writes (a recording's share of a batch) are synced in place, not journalled. */
  mediaJournalMaxWriteKib: number;
  /** Below this much free space on the data disk, nothing is acknowledged (R-ACK-6). */
  diskMinFreeMb: number;
  /** Seconds between TimeBeacons to each connected device (R-TIME-1). */
  beaconIntervalS: number;
  /** An open recording's Acks on one connection: at most one per this many ms (0: one per message). */
  ackIntervalMs: number;
  /** Station time zone: certificate validity and reports use its local dates. */
  timeZone: string;
  /** Officers per recorder set, the regulation's 1:4 unless the region's policy differs. */
  fleetRatio: number;
  /** Gaps in a FULL case's coverage up to this long count as covered. */
  gapToleranceMs: number;
  /** A device not heard from for this long raises a DEVICE_SILENT alarm. */
  silentAfterS: number;
  /** Recordings ingest holds in memory at most; idle ones are released first. */
  ingestMaxRecordings: number;
  /** MiB of chunks held out of order over all recordings at most (R-ACK-5). */
  ingestBufferMb: number;
  /** MiB of devices' messages not yet handled or committed, over all connections, at most (backpressure). */
  ingestBacklogMb: number;
  /** A recording untouched this long is released from memory (chunks it buffered out of order dropped). */
  ingestIdleMs: number;
  /** Test fault: every group commit waits this long first (a starved gateway). Never set in service. */
  faultCommitDelayMs: number;
  /** Test fault: the next this many commit items fail. Never set in service. */
  faultCommitFail: number;
  /** The station's name: its signing key's name and its transparency log's origin; empty: derived from the key at first start. */
  stationName: string;
  /** How often new leaves enter the transparency log and a checkpoint is signed, in ms (0: only on demand). */
  logIntervalMs: number;
  /** Witnesses that cosign the log's checkpoints: comma-separated `URL VERIFIER-KEY` pairs. */
  witnesses: string;
  /** Background scrub pace in MiB/s of stored media (0: no background scrub). */
  scrubMibPerS: number;
  /** Hours from the start of one background scrub pass to the next. */
  scrubIntervalH: number;
  /** Days every recording is kept after it was last received (and after a case unlink); the rule's six months. */
  retentionDays: number;
  /** Days a recording marked for purge can still be undeleted before it is erased. */
  undeleteDays: number;
  /** Hours between scheduled purge passes (0: none; admin purge still works). */
  purgeIntervalH: number;
  /** Hours after a recording ended by which it must be wholly uploaded; later, an UPLOAD_OVERDUE alarm (the rules' 24 h). */
  uploadDeadlineH: number;
  logLevel: string;
}

/** Every option with its default; `--help` prints them. */
export const DEFAULTS: GatewayConfig = {
  host: "0.0.0.0",
  mqttPort: 1883,
  tlsPort: 0,
  tlsCert: "",
  tlsKey: "",
  httpPort: 8080,
  https: 0,
  httpsCert: "",
  httpsKey: "",
  portsFile: "",
  mqttConnectTimeoutMs: 10000,
  dataDir: "./data",
  db: "",
  consoleDir: "",
  maxPacket: MAX_PACKET,
  maxClients: 2000,
  maxPendingClients: 0,
  maxSessionsPerDevice: 4,
  ratePerSecond: 200,
  rateBurst: 400,
  commitDelayMs: 5,
  commitMaxBatch: 256,
  mediaJournalMb: 64,
  mediaJournalMaxWriteKib: JOURNAL_WRITE_MAX / 1024,
  diskMinFreeMb: 512,
  beaconIntervalS: 60,
  ackIntervalMs: 1000,
  timeZone: POLICY_DEFAULTS.timeZone,
  fleetRatio: POLICY_DEFAULTS.fleetRatio,
  gapToleranceMs: POLICY_DEFAULTS.gapToleranceMs,
  silentAfterS: 3600,
  ingestMaxRecordings: 10000,
  ingestBufferMb: 256,
  ingestBacklogMb: 128,
  ingestIdleMs: 60000,
  faultCommitDelayMs: 0,
  faultCommitFail: 0,
  stationName: "",
  logIntervalMs: 5000,
  witnesses: "",
  scrubMibPerS: 16,
  scrubIntervalH: 24,
  retentionDays: POLICY_DEFAULTS.retentionDays,
  undeleteDays: POLICY_DEFAULTS.undeleteDays,
  purgeIntervalH: 24,
  uploadDeadlineH: POLICY_DEFAULTS.uploadDeadlineH,
  logLevel: "info",
};

const HELP: { [k in keyof GatewayConfig]: string } = {
  host: "address to listen on",
  mqttPort: "MQTT port (devices)",
  tlsPort: "MQTT over TLS port, 0 for none (8883 is usual)",
  tlsCert: "TLS certificate (PEM); none: a self-signed one is generated in the data directory",
  tlsKey: "TLS private key (PEM) for --tls-cert",
  httpPort: "HTTP API port",
  https: "1: the API over HTTPS, with a self-signed certificate made once in the data directory unless --https-cert/--https-key are given",
  httpsCert: "HTTPS certificate (PEM) for the API (turns HTTPS on)",
  httpsKey: "HTTPS private key (PEM) for --https-cert",
  portsFile: "write the chosen ports as JSON to this file once listening (for tools that start the gateway with port 0)",
  mqttConnectTimeoutMs: "ms a new MQTT socket has to send CONNECT before it is closed",
  dataDir: "data directory: database, media, station key, admin token",
  db: "PostgreSQL for the metadata instead of SQLite in the data directory: postgres://USER:PASSWORD@HOST:PORT/DATABASE (create the database with LC_COLLATE 'C'; media stay in the data directory)",
  consoleDir: "directory of the built web console (npm run build:console); empty: dist/console of this checkout",
  maxPacket: `largest MQTT packet in bytes (at least ${MAX_PACKET})`,
  maxClients: "most MQTT clients at once, logged in or not (TOO_MANY_CLIENTS; its log line says how the slots are held)",
  maxPendingClients: "most MQTT sockets at once that have not sent their CONNECT yet; past it the oldest such socket of the address with the most is closed to make room (TOO_MANY_PENDING); 0: a quarter of --max-clients",
  maxSessionsPerDevice: "most MQTT sessions one device's login holds at once (the recorder's own client id, and DEVICE/SUFFIX ones for tools); more are refused at CONNECT with TOO_MANY_SESSIONS",
  ratePerSecond: "messages per second per device",
  rateBurst: "burst of messages a device may send at once",
  commitDelayMs: "group commit: longest wait in ms before committing a batch",
  commitMaxBatch: "group commit: largest batch",
  mediaJournalMb: "MiB of each of the two media journal files, where a batch's media is made durable in one write before the recordings' files are (0, or 16 and more); 0: no journal, every file durable by its own writes",
  mediaJournalMaxWriteKib: "largest write of a recording's file in one batch, in KiB, that goes through the media journal; a larger one is synced in place (written twice, it would cost the disk's rate more than its sync costs)",
  diskMinFreeMb: "stop acknowledging below this much free disk, in MiB",
  beaconIntervalS: "seconds between time beacons",
  ackIntervalMs: "an open recording's Acks to a device: at most one per this many ms, 0 for one per commit (what one group commit settles, in one cumulative Ack)",
  timeZone: "station time zone for local dates (certificates, reports)",
  fleetRatio: "officers per recorder set (regulation: 4)",
  gapToleranceMs: "gaps up to this many ms count as covered in FULL cases",
  silentAfterS: "seconds without contact before a device is reported silent",
  ingestMaxRecordings: "recordings held in memory by ingest at most (idle ones released first)",
  ingestBufferMb: "MiB of out-of-order chunks held over all recordings at most",
  ingestBacklogMb: "MiB of devices' messages received but not yet committed, over all connections, at most; past it, the sending connections are not read until half has drained",
  ingestIdleMs: "ms after which an untouched recording is released from memory",
  faultCommitDelayMs: "TESTS ONLY: delay every group commit by this many ms",
  faultCommitFail: "TESTS ONLY: fail the next this many commit items",
  stationName: "station name (log origin and signing key name, e.g. zfj.example.gov.cn/station-1); set once, at first start",
  logIntervalMs: "ms between transparency log updates (new leaves, a signed checkpoint, witness cosignatures); 0: on demand only",
  witnesses: "witnesses to cosign checkpoints: comma-separated 'URL VERIFIER-KEY' pairs",
  scrubMibPerS: "background scrub pace in MiB/s of stored media; 0: none (admin scrub still works)",
  scrubIntervalH: "hours between the starts of background scrub passes",
  retentionDays: "days every recording is kept after it was received, and after a case unlink (rule: at least 180)",
  undeleteDays: "days a purged recording can be undeleted before its media is erased",
  purgeIntervalH: "hours between scheduled purge passes (mark what ran out, erase what passed its undelete window); 0: none",
  uploadDeadlineH: "hours after a recording ended by which it must be wholly uploaded (rule: 24); later an UPLOAD_OVERDUE alarm",
  logLevel: "log level: fatal, error, warn, info, debug, trace, silent",
};

const flag = (k: string) => "--" + k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const envName = (k: string) => "EVREC_" + k.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase();

/** The --help text, with every option, its flag, environment variable and default. */
export function helpText(): string {
  const rows = (Object.keys(DEFAULTS) as (keyof GatewayConfig)[]).map((k) => `  ${(flag(k) + " <value>").padEnd(28)} ${HELP[k]} (env ${envName(k)}, default ${DEFAULTS[k]})`);
  return ["Usage: npm start -- [options]", "", "Starts the station gateway: embedded MQTT broker, verified ingest, SQLite (or PostgreSQL, --db) store.", "", "Options:", "  --config <file>              JSON file with any of the options below (its relative paths from the file's directory)", "  --cluster <file>             run as a cluster worker on NATS instead (see --cluster-help)", ...rows, "  --help                       this text", ""].join("\n");
}

/** A bad option, file or value, said before anything starts; the reason code the CLI prints with it. */
export class ConfigError extends Error {
  code: string = "CONFIG";
}

function coerce(k: keyof GatewayConfig, v: unknown, from: string): string | number {
  if (typeof DEFAULTS[k] === "number") {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${from}: ${k} must be a non-negative number, got ${JSON.stringify(v)}`);
    return n;
  }
  if (typeof v !== "string" || !v) throw new ConfigError(`${from}: ${k} must be a non-empty string`);
  if (k === "logLevel" && !LOG_LEVELS.includes(v)) throw new ConfigError(`${from}: logLevel is one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(v)}`);
  return v;
}

/** The log levels pino knows, and `silent`. */
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** What a value's type can't say: a packet limit below a chunk's largest message would refuse every full chunk; a device's login needs its own session. */
function checked(c: GatewayConfig, from: string): GatewayConfig {
  if (c.maxSessionsPerDevice < 1) throw new ConfigError(`${from ? from + ": " : ""}maxSessionsPerDevice must be at least 1 (the recorder's own session), got ${c.maxSessionsPerDevice}`);
  if (c.maxPacket < MAX_PACKET) throw new ConfigError(`${from ? from + ": " : ""}maxPacket must be at least ${MAX_PACKET} bytes (a chunk's largest message), got ${c.maxPacket}`);
  return c;
}

/** A path a config file gives, relative to the file's own directory (as a path on a command line is to where it was typed). */
function fromFile(k: keyof GatewayConfig, v: unknown, dir: string): unknown {
  return PATHS.has(k) && typeof v === "string" && v !== "" ? resolve(dir, v) : v;
}

/**
 * Defaults overlaid with an object's options (a cluster worker's file), each checked as a file's
 * would be; `dir`, the file's directory, is what its relative paths are taken from.
 */
export function configFrom(obj: Record<string, unknown>, from: string, dir: string = process.cwd()): GatewayConfig {
  const out: Record<string, unknown> = { ...DEFAULTS };
  const keys = Object.keys(DEFAULTS) as (keyof GatewayConfig)[];
  for (const [k, v] of Object.entries(obj)) {
    if (!keys.includes(k as keyof GatewayConfig)) throw new ConfigError(`${from}: unknown option ${k}`);
    out[k] = coerce(k as keyof GatewayConfig, fromFile(k as keyof GatewayConfig, v, dir), from);
  }
  return checked(out as unknown as GatewayConfig, from);
}

/** Options that name a file or a directory: given on the command line or in the environment, relative to where it was typed (argPath). */
const PATHS: ReadonlySet<keyof GatewayConfig> = new Set(["tlsCert", "tlsKey", "httpsCert", "httpsKey", "portsFile", "dataDir", "consoleDir"]);

/** Merge defaults, file, environment and argv. Throws ConfigError with a readable reason. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): { config: GatewayConfig; help: boolean } {
  const out: Record<string, unknown> = { ...DEFAULTS };
  const keys = Object.keys(DEFAULTS) as (keyof GatewayConfig)[];
  let help = false;
  const flags: [keyof GatewayConfig, string][] = [];
  // Paths in the environment are typed in the same shell as the command line's: the same rule.
  let file = env.EVREC_CONFIG ? argPath(env.EVREC_CONFIG, env) : undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") { help = true; continue; }
    const [name, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = inline !== undefined ? inline : argv[++i];
    if (name === "--config") {
      if (value === undefined) throw new ConfigError(`${name} needs a value`);
      file = argPath(value, env);
      continue;
    }
    const k = keys.find((x) => flag(x) === name);
    if (!k) throw new ConfigError(`unknown option ${name} (see --help)`);
    if (value === undefined) throw new ConfigError(`${name} needs a value`);
    flags.push([k, PATHS.has(k) && value ? argPath(value, env) : value]);
  }
  if (file) {
    let parsed: Record<string, unknown>;
    try { parsed = JSON.parse(readFileSync(file, "utf8")); } catch (e) { throw new ConfigError(`config file ${file}: ${(e as Error).message}`); }
    for (const [k, v] of Object.entries(parsed)) {
      if (!keys.includes(k as keyof GatewayConfig)) throw new ConfigError(`config file ${file}: unknown option ${k}`);
      out[k] = coerce(k as keyof GatewayConfig, fromFile(k as keyof GatewayConfig, v, dirname(file)), "config file " + file);
    }
  }
  for (const k of keys) {
    const v = env[envName(k)];
    if (v !== undefined) out[k] = coerce(k, PATHS.has(k) && v ? argPath(v, env) : v, envName(k));
  }
  for (const [k, v] of flags) out[k] = coerce(k, v, flag(k));
  const c = out as unknown as GatewayConfig;
  if (c.db && !isPostgresUrl(c.db)) throw new ConfigError(`db must be a PostgreSQL connection string (postgres://USER:PASSWORD@HOST:PORT/DATABASE), got one starting ${JSON.stringify(c.db.slice(0, Math.max(0, c.db.indexOf(":")) || 12))}; leave it empty for SQLite in the data directory`);
  if (c.mediaJournalMb > 0 && c.mediaJournalMb < 16) throw new ConfigError(`mediaJournalMb must be 0 (no journal) or at least 16, got ${c.mediaJournalMb}`);
  return { config: checked(c, ""), help };
}
