// A cluster worker's configuration: one JSON file (`npm start -- --cluster FILE`). Its `cluster`
// object holds the options below; its `gateway` object any option of the station gateway
// (config.ts: data directory, commit tuning, log level...), with the same defaults.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { ConfigError, configFrom } from "../config.js";
import type { GatewayConfig } from "../config.js";

export interface ClusterOptions {
  /** This worker's name in leases and metrics; empty: host name and process id. */
  worker: string;
  /** NATS servers, comma-separated host:port (any node of the cluster; the client finds the others). */
  natsServers: string;
  /** The nodes' monitoring URLs (nats-server's `http:`), comma-separated: the office reads which devices are connected there (empty: none shown online). */
  natsMonitor: string;
  /** How often the office asks them, in ms. */
  presenceMs: number;
  /** The workers' NATS login (a full-permission user in the authorization file). */
  natsUser: string;
  natsPass: string;
  /** Partitions devices are mapped into: the N of the subject mapping's partition(N, 1). */
  partitions: number;
  /** Replicas of every stream the workers make (device messages, media, leases, sessions). */
  replicas: number;
  /** The stream of device messages, over part.*.rec.*.up. */
  upStream: string;
  /** Where its nodes keep it: "file", or "memory" (faster; what a restart of every node loses, the devices send again: docs/SCALE.md). */
  upStorage: "file" | "memory";
  /** The stream of media (what a station keeps in files). */
  mediaStream: string;
  /** The stream of partition leases and worker heartbeats. */
  leaseStream: string;
  /** The stream of device sessions (last Hello's nonce, downlink counters reserved). */
  sessionStream: string;
  /** A partition's lease lasts this long unless renewed (renewed every third of it): a dead worker's partitions are taken over after about this long. */
  leaseMs: number;
  /** A device message handed to a worker and not acknowledged (committed) within this long is delivered again. */
  ackWaitMs: number;
  /** Messages of one partition handed out and not yet committed, at most (backpressure). */
  maxAckPending: number;
  /** Prometheus /metrics on this address and port (0: a free port, written to portsFile). */
  metricsHost: string;
  metricsPort: number;
  /** The NATS authorization file the workers write from the device registry (empty: none is written). */
  authFile: string;
  /** nats-server pid files, comma-separated: each is sent SIGHUP (reload) after authFile changes. */
  natsPidFiles: string;
  /** How often the registry is compared with authFile, and revokes looked for, in ms. */
  authSyncMs: number;
  /** A device not heard from for this long has its session released from memory (taken up again from the session stream when it is heard from). */
  sessionIdleMs: number;
  /** Where the worker writes its metrics port and pid as JSON once it runs (for tools and tests). */
  portsFile: string;
  /** Test fault: the next this many device messages fail to be fed (as if their session record could not be read). Never set in service. */
  faultFeedFail: number;
}

export const CLUSTER_DEFAULTS: ClusterOptions = {
  worker: "",
  natsServers: "127.0.0.1:4222",
  natsMonitor: "",
  presenceMs: 5000,
  natsUser: "",
  natsPass: "",
  partitions: 4,
  replicas: 3,
  upStream: "EVREC_UP",
  upStorage: "file",
  mediaStream: "EVREC_MEDIA",
  leaseStream: "EVREC_LEASES",
  sessionStream: "EVREC_SESSIONS",
  leaseMs: 6000,
  ackWaitMs: 30000,
  maxAckPending: 512,
  metricsHost: "0.0.0.0",
  metricsPort: 9464,
  authFile: "",
  natsPidFiles: "",
  authSyncMs: 2000,
  sessionIdleMs: 600000,
  portsFile: "",
  faultFeedFail: 0,
};

const HELP: { [k in keyof ClusterOptions]: string } = {
  worker: "this worker's name (leases, metrics); empty: host name and pid",
  natsServers: "NATS servers, comma-separated host:port",
  natsMonitor: "nats-server monitoring URLs (http://host:port, its `http:`), comma-separated: the office shows the devices connected there as online (empty: none); keep those ports private, /connz?auth=1 shows MQTT passwords",
  presenceMs: "ms between the office's reads of natsMonitor",
  natsUser: "the workers' NATS user",
  natsPass: "its password",
  partitions: "partitions in the subject mapping part.{{partition(N,1)}}.rec.{{wildcard(1)}}.up",
  replicas: "replicas of the streams the workers make (3 in a 3-node cluster)",
  upStream: "stream of device messages (subjects part.*.rec.*.up)",
  upStorage: "where the nodes keep upStream: file, or memory (less CPU a chunk; a restart of every node loses what it held, which the devices, holding every chunk until its Ack, send again); applies when the stream is made",
  mediaStream: "stream of media (subjects evrec.media.>)",
  leaseStream: "stream of partition leases and worker heartbeats",
  sessionStream: "stream of device sessions (Hello nonce and partition, downlink counters reserved)",
  leaseMs: "ms a partition lease lasts unless renewed; a dead worker's partitions move after about this long",
  ackWaitMs: "ms before a device message taken and not yet committed is delivered again to the same worker (a worker taking the partition over gets it at once)",
  maxAckPending: "device messages of one partition in flight at most (backpressure)",
  metricsHost: "address of the /metrics listener",
  metricsPort: "port of the /metrics listener (0: any free port)",
  authFile: "NATS authorization file written from the device registry (empty: not written)",
  natsPidFiles: "nats-server pid files, comma-separated, signalled to reload after authFile changes",
  authSyncMs: "ms between comparisons of the registry with authFile (provisioning and revokes)",
  sessionIdleMs: "ms after which a silent device's session is released from memory (taken up again when it is heard from)",
  portsFile: "write the metrics port and pid as JSON here once running",
  faultFeedFail: "TESTS ONLY: fail feeding the next this many device messages",
};

/** An option that lists values, comma-separated (natsServers, natsMonitor, natsPidFiles). */
export function listOption(s: string): string[] {
  return s.split(",").map((x) => x.trim()).filter(Boolean);
}

export interface ClusterConfig {
  cluster: ClusterOptions;
  gateway: GatewayConfig;
}

/** The --cluster help text: the file's shape and every cluster option with its default. */
export function clusterHelpText(): string {
  const rows = (Object.keys(CLUSTER_DEFAULTS) as (keyof ClusterOptions)[]).map((k) => `    ${k.padEnd(16)} ${HELP[k]} (default ${JSON.stringify(CLUSTER_DEFAULTS[k])})`);
  return [
    "Usage: npm start -- --cluster <file> [--office]",
    "",
    "Starts a gateway worker on a NATS cluster (see docs/SCALE.md) instead of the station gateway:",
    "devices connect to nats-server's MQTT listener; the worker takes its partitions' messages from",
    "JetStream, verifies and commits them as the station does, and answers on rec.<id>.down.",
    "",
    "With --office it starts the region's office instead: the station's API, console, exports,",
    "transparency log and witnesses, scrub and retention, on the workers' database, reading their",
    "media from JetStream; no broker, no ingest. One per region: its data directory holds the",
    "region's signing identity.",
    "",
    "The file is JSON: { \"cluster\": { ...options below }, \"gateway\": { ...any station option, see --help } }",
    "",
    "  cluster options:",
    ...rows,
    "",
  ].join("\n");
}

/** Read and check a cluster worker's file. Throws ConfigError with a readable reason. */
export function loadClusterConfig(file: string): ClusterConfig {
  let parsed: Record<string, unknown>;
  try { parsed = JSON.parse(readFileSync(file, "utf8")); } catch (e) { throw new ConfigError(`cluster file ${file}: ${(e as Error).message}`); }
  for (const k of Object.keys(parsed)) if (k !== "cluster" && k !== "gateway") throw new ConfigError(`cluster file ${file}: unknown section ${k} (cluster, gateway)`);
  const c: Record<string, unknown> = { ...CLUSTER_DEFAULTS };
  for (const [k, v] of Object.entries((parsed.cluster || {}) as Record<string, unknown>)) {
    if (!(k in CLUSTER_DEFAULTS)) throw new ConfigError(`cluster file ${file}: unknown cluster option ${k}`);
    const want = typeof CLUSTER_DEFAULTS[k as keyof ClusterOptions];
    if (want === "number" && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) throw new ConfigError(`cluster file ${file}: cluster.${k} must be a non-negative number, got ${JSON.stringify(v)}`);
    if (want === "string" && typeof v !== "string") throw new ConfigError(`cluster file ${file}: cluster.${k} must be a string`);
    c[k] = v;
  }
  const cluster = c as unknown as ClusterOptions;
  // Files the cluster section names, relative to the cluster file's own directory.
  const here = dirname(resolve(file));
  if (cluster.authFile) cluster.authFile = resolve(here, cluster.authFile);
  if (cluster.portsFile) cluster.portsFile = resolve(here, cluster.portsFile);
  if (cluster.natsPidFiles) cluster.natsPidFiles = listOption(cluster.natsPidFiles).map((f) => resolve(here, f)).join(",");
  if (!cluster.worker) cluster.worker = `${hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9_-]+$/.test(cluster.worker)) throw new ConfigError(`cluster file ${file}: cluster.worker must be letters, digits, _ and - (it is a NATS subject token)`);
  if (!Number.isInteger(cluster.partitions) || cluster.partitions < 1) throw new ConfigError(`cluster file ${file}: cluster.partitions must be a whole number of at least 1`);
  for (const u of listOption(cluster.natsMonitor)) {
    let ok = false;
    try { ok = /^https?:$/.test(new URL(u).protocol); } catch { ok = false; }
    if (!ok) throw new ConfigError(`cluster file ${file}: cluster.natsMonitor: ${JSON.stringify(u)} is not an http:// or https:// URL (a nats-server's monitoring port)`);
  }
  if (cluster.upStorage !== "file" && cluster.upStorage !== "memory") throw new ConfigError(`cluster file ${file}: cluster.upStorage must be "file" or "memory", got ${JSON.stringify(cluster.upStorage)}`);
  if (cluster.presenceMs < 250) throw new ConfigError(`cluster file ${file}: cluster.presenceMs must be at least 250`);
  // A lease renewed every third of its life: below a second, a busy machine loses leases it holds.
  if (cluster.leaseMs < 1000) throw new ConfigError(`cluster file ${file}: cluster.leaseMs must be at least 1000`);
  return { cluster, gateway: configFrom((parsed.gateway || {}) as Record<string, unknown>, `cluster file ${file}: gateway`, here) };
}
