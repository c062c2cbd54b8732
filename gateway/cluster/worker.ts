// A gateway worker on a NATS cluster (docs/SCALE.md). Devices speak MQTT to nats-server; a subject
// mapping puts device X's uplink on part.<p>.rec.X.up, p a hash of X; a replicated work-queue stream
// keeps those messages, with one durable consumer per partition. A worker holds a lease on each
// partition it serves, feeds its messages, in stream order per device, to the station's own ingest
// pipeline, and acknowledges a message to JetStream only once what it caused is committed: a worker
// killed at any point leaves its uncommitted messages to be delivered again to the worker that takes
// its partitions over, and its devices resend whatever they were not Acked. Acks and other downlinks
// go out on rec.<id>.down, which nats-server delivers to the device's MQTT subscription.
//
// A device's downlink session (its Hello's nonce, R-DL) outlives the worker that began it: the
// nonce is kept in a replicated stream with a block of downlink counters reserved ahead, so the
// worker that takes the partition over continues above every counter the dead one could have used,
// and the device, still connected to NATS, accepts its Acks without reconnecting.
//
// A worker that stalls past its lease (GC, SIGSTOP, a slow disk) may wake with a commit under way
// while another worker serves its partition. Each commit's transaction checks that the worker still
// holds the fencing token of every partition it writes for (store/fences.ts): a stale one rolls back
// whole (FENCED), nothing of it is Acked to a device or to JetStream, and the worker stops the
// partition, whose messages go to the new holder. An alarm about a device is raised behind the same
// check (alarms.ts), so the new holder's raise, of the same messages, is the one counted.
import { writePorts } from "../office.js";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { resolve } from "node:path";
import { connectCluster, JS_WAIT_MS, LIVE_SUBJECT } from "./nats.js";
import type { LiveEvent } from "../live.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { Gauge } from "prom-client";
import { listOption } from "./config.js";
import type { ClusterConfig } from "./config.js";
import { WORKER_KEY_REMEDY, openMetadata } from "./store.js";
import { Leases, partitionLease } from "./leases.js";
import type { Heartbeat } from "./leases.js";
import { authorizationText, natsSafeId, readAuthorization, syncAuthorization } from "./auth.js";
import { NatsMediaStore } from "../store/media-nats.js";
import { unanswered, untilAnswered } from "../store/nats-retry.js";
import { GatewayError } from "../errors.js";
import { GroupCommitter } from "../ingest/commit.js";
import type { Work } from "../ingest/commit.js";
import { Ingest } from "../ingest/pipeline.js";
import { Refusals } from "../broker/admission.js";
import { Alarms } from "../alarms.js";
import { Model } from "../model/model.js";
import { makePolicy } from "../policy.js";
import { Metrics } from "../metrics.js";
import { ingestOptions } from "../ingest-hooks.js";
import { freeBytes } from "../datadir.js";
import { HeldInOrder } from "./held.js";
import type { Logger } from "../log.js";
import type { Db } from "../store/db.js";
import { FencedError, checkFences, raiseFence } from "../store/fences.js";
import { checkStationKey, keyMismatchText, keyRefused } from "../devices.js";
import type { DeviceRegistry } from "../devices.js";
import { decode } from "../../protocol/codec.js";
import { decodeAs } from "../../protocol/messages.js";
import { checkControl } from "../../protocol/downlink.js";
import { deviceIdBytes } from "../../protocol/blocks.js";
import { CONTROL_HELLO, NONCE_LEN } from "../../protocol/constants.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";

/** Downlink counters reserved ahead per session: one stream write per this many downlinks. */
const RESERVE = 1024;
/** A message that could not be fed is fed again after this many ms, doubling up to the most. */
const FEED_RETRY_MS = 200;
const FEED_RETRY_MAX_MS = 1000;
/** The store not answering the look for what a partition's holder before left undone: looked again after this many ms. */
const RESUME_RETRY_MS = 10000;
/**
 * At start, how long JetStream is waited for while a stream has no leader yet (a cluster just
 * formed, the streams just made by this worker or another): then JETSTREAM_UNAVAILABLE.
 */
const START_WAIT_MS = 3 * JS_WAIT_MS;

/**
 * Whether this worker's partition count agrees with the live workers' (their heartbeats, leases.ts).
 * Workers that divide the devices into different counts leave partitions unserved: each takes its
 * share of its own count, and a partition one of them counts and the other does not is handed over
 * by one and never taken by the other. So of two that disagree, the one that started later (by
 * name, if at the same ms) takes nothing (`yieldTo`: the older ones it yields to) until the older
 * one is gone; a worker that yields says so in its heartbeat and is not counted by the others, and
 * neither is a worker of another count in a worker's share (`workers`). A heartbeat with no count
 * (a worker of a version before counts were said) is taken to agree.
 */
export function partitionAgreement(me: { name: string; partitions: number; since: number }, live: Heartbeat[]): { workers: number; yieldTo: Heartbeat[] } {
  const others = live.filter((h) => h.name !== me.name && !h.yielding);
  const agree = others.filter((h) => h.partitions === null || h.partitions === me.partitions);
  const older = (h: Heartbeat) => h.since === null || h.since < me.since || (h.since === me.since && h.name < me.name);
  const yieldTo = others.filter((h) => h.partitions !== null && h.partitions !== me.partitions && older(h));
  return { workers: 1 + agree.length, yieldTo };
}

/** What a disagreement on the partition count is, said in one line: both counts and where each came from. */
function differText(mine: number, from: { says: string; where: string }[]): string {
  return `this worker's cluster.partitions is ${mine}, but ${from.map((f) => `${f.where} says ${f.says}`).join("; ")}. Every worker's cluster.partitions must be the N of the NATS mapping's partition(N,1) (each node's config): set them alike and start the one that differs again`;
}

/**
 * The partition of `n` a device's uplink subject is mapped to by nats-server's `partition(n, 1)`
 * (the subject mapping of docs/SCALE.md): FNV-1a (32 bits) of the device id's bytes, modulo n, as
 * nats-server computes it (test/cluster/partition-of.test.ts asks a real one). Written here: it is
 * four lines, and what must match is that server's choice of hash, not a library's.
 */
export function partitionFor(id: string, n: number): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(id, "utf8")) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h % n;
}

/**
 * A promise that settles once every promise added before it has, and holds nothing of what they
 * settled with. (The tail was `Promise.allSettled([tail, p])`, whose value holds the tail's value
 * before it: every commit a worker ever made, kept as a nested list, two objects and an array
 * for each, about 200 bytes; a worker streaming 50 devices grew by 6.6 MB in 8 minutes.)
 */
export class SettledTail {
  private tail: Promise<void> = Promise.resolve();
  add(p: Promise<unknown>): void {
    this.tail = Promise.allSettled([this.tail, p]).then(() => undefined);
  }
  get settled(): Promise<void> {
    return this.tail;
  }
}

/** A committer that can say when everything submitted so far has settled (then JetStream is acked). */
class TrackedCommitter extends GroupCommitter {
  private tail = new SettledTail();
  /** Items handed to the group commit and not yet committed or failed. */
  pending = 0;
  override submit(w: Work): Promise<void> {
    const p = super.submit(w);
    this.pending++;
    const settled = () => { this.pending--; };
    p.then(settled, settled);
    this.tail.add(p);
    return p;
  }
  /** Resolves once every item submitted before the call has committed or failed. */
  barrier(): Promise<void> {
    return this.tail.settled;
  }
}

/**
 * A device's session as kept in the session stream: the nonce and schema of the Hello that began it,
 * that Hello's place in the stream of device messages (its sequence number, and when the stream
 * stored it, in ns since 1970 as a decimal string; records written before the time was kept have
 * none), the downlink counters reserved, and the partition the Hello came on (records written before
 * it was kept have none).
 */
interface SessionRecord { nonce: string; schema: number; helloSeq: number; helloAt?: string; reserved: number; part?: number }

/** A stream the worker made sure of at its start, not known to the node asked: a cluster just formed, not settled yet. */
const streamNotKnownYet = (e: unknown): boolean => e instanceof Error && e.name === "StreamNotFoundError";

/**
 * When the region received a device's message: when JetStream stored it (its server's clock). A
 * message may wait there long before a worker takes it (its partition unserved, a worker's death),
 * and the device's clock and its clips' times are judged against its receipt, not its handling.
 */
function reachedAt(m: JsMsg): number {
  return Number(m.timestampNanos / 1000000n);
}

/**
 * Where a Hello stands against the one that began the device's session. Sequence numbers order a
 * stream's messages only while the stream lasts: one kept in memory (upStorage) starts again from 1
 * when every node restarts, so a Hello numbered below the session's but stored after it is new.
 */
export function helloPlace(seq: number, at: bigint, rec: Pick<SessionRecord, "helloSeq" | "helloAt">): "older" | "same" | "newer" {
  const began = rec.helloAt === undefined ? undefined : BigInt(rec.helloAt);
  if (seq === rec.helloSeq && (began === undefined || at === began)) return "same";
  if (seq < rec.helloSeq && (began === undefined || at <= began)) return "older";
  return "newer";
}

/** What the worker knows of a device of a partition it serves. */
interface DeviceState {
  /** When its last message was taken (ms): a silent device's session is released. */
  at: number;
  chain: Promise<void>;
  conn: string | null;
  rec: SessionRecord | null;
  /** Counters up to this are covered by a durable reservation. */
  durable: number;
  bumping: Promise<void> | null;
}

/** A device of a partition not heard from yet. */
const newDevice = (): DeviceState => ({ at: 0, chain: Promise.resolve(), conn: null, rec: null, durable: 0, bumping: null });

interface Partition {
  n: number;
  /** The fencing token of the take that gave this worker the partition's lease (leases.ts). */
  token: number;
  messages: ConsumerMessages | null;
  /** What comes while the lease may be another's waits here, in order (held.ts). */
  gate: HeldInOrder<JsMsg>;
  pending: Set<Promise<unknown>>;
  /** Being stopped: resolves once it is. */
  stopped: Promise<void> | null;
  /**
   * The lease is no longer this worker's (a renewal failed, or a commit found another worker's
   * token): nothing more of the partition commits here, and nothing taken here is acknowledged to
   * JetStream: its messages are delivered again, to the holder.
   */
  lost: boolean;
}

export interface Worker {
  name: string;
  metricsPort: number;
  ingest: Ingest;
  committer: GroupCommitter;
  /** Partitions this worker serves now. */
  partitions(): number[];
  stats: { received: number; acked: number; takeovers: number; adopted: number; feedRetries: number };
  close(): Promise<void>;
}

export async function startWorker(cfg: ClusterConfig, log: Logger): Promise<Worker> {
  const o = cfg.cluster;
  const g = cfg.gateway;
  // The region's station key, never made here (store.ts): STATION_KEY_MISSING, STATION_KEY_MISMATCH.
  const { db, registry, station } = await openMetadata(g, { worker: true });
  // What is opened, closed again if a later step fails (the process may be one of many, a test's).
  let nc: NatsConnection | null = null;
  let media: NatsMediaStore | null = null;
  let w: ClusterWorker | null = null;
  try {
    nc = await connectCluster(o, "worker");
    // JetStream calls wait out a stream's leader election (a node lost) rather than fail at once.
    const js = jetstream(nc, { timeout: JS_WAIT_MS });
    const jsm = await untilAnswered(() => jetstreamManager(nc!, { timeout: JS_WAIT_MS }), { withinMs: START_WAIT_MS, what: "JetStream API", log });
    // A work queue: a message leaves the stream once a worker has acknowledged it (committed). Its
    // consumers are made by the workers as they take partitions (ClusterWorker.consumerFor).
    // Kept in memory (upStorage), a restart of every node loses the messages not yet committed:
    // none of them was Acked, so their devices hold them and send them again.
    const up = await ensureStream(jsm, { name: o.upStream, subjects: ["part.*.rec.*.up"], retention: "workqueue", num_replicas: o.replicas, storage: o.upStorage, discard: "old" }, log);
    if (up.storage !== o.upStorage) log.warn({ code: "UP_STORAGE", stream: o.upStream, storage: up.storage, configured: o.upStorage }, `${o.upStream} was made with ${up.storage} storage and stays so (upStorage applies when the stream is made)`);
    const sessions = (await ensureStream(jsm, { name: o.sessionStream, subjects: ["evrec.session.>"], num_replicas: o.replicas, storage: "file", max_msgs_per_subject: 1, allow_direct: true }, log)).name;
    media = await NatsMediaStore.open(nc, { stream: o.mediaStream, replicas: o.replicas, timeoutMs: JS_WAIT_MS, log });
    const leases = await Leases.open(nc, { stream: o.leaseStream, replicas: o.replicas, leaseMs: o.leaseMs, worker: o.worker, partitions: o.partitions, waitMs: START_WAIT_MS, log });
    w = new ClusterWorker(cfg, log, db, registry, nc, js, jsm, sessions, media, leases, station.derive("evrec nats login digest"));
    await w.start();
    return w;
  } catch (e) {
    // Closed as a stop closes it: whatever was taken is handed back.
    if (w) await w.close().catch(() => undefined);
    else {
      await media?.close().catch(() => undefined);
      await nc?.close().catch(() => undefined);
      await db.close().catch(() => undefined);
    }
    throw startFailure(e, o);
  }
}

/**
 * What stops a worker's start, said with a reason code (cluster/main.ts prints it in one line):
 * JetStream still without a stream leader after START_WAIT_MS (JETSTREAM_UNAVAILABLE: it may pass
 * by itself); anything else as it is (the metrics port taken is said where it is listened on).
 */
function startFailure(e: unknown, o: ClusterConfig["cluster"]): unknown {
  if (e instanceof GatewayError) return e;
  if (unanswered(e)) {
    return new GatewayError("JETSTREAM_UNAVAILABLE", `JetStream at ${o.natsServers} did not answer within ${START_WAIT_MS / 1000} s (${(e as Error).message}): a stream without a leader yet (a cluster just formed, or a node lost), or JetStream not enabled on the nodes (jetstream { ... } in each node's config)`, { cause: e });
  }
  return e;
}

/** The metrics port refused (PORT_IN_USE, naming cluster.metricsPort); any other error of its listen as it is. */
function metricsPortRefused(e: unknown, o: ClusterConfig["cluster"]): unknown {
  const err = e as NodeJS.ErrnoException;
  if (!err || (err.code !== "EADDRINUSE" && err.code !== "EACCES")) return e;
  return new GatewayError("PORT_IN_USE", `${o.metricsHost}:${o.metricsPort} is ${err.code === "EACCES" ? "not allowed" : "in use (another worker on this machine?)"}: choose another cluster.metricsPort (0: any free port, written to cluster.portsFile)`, { cause: e });
}

/**
 * The stream as it is: made with `cfg` unless it was already (by another worker, or before). A
 * stream just made may have no leader yet: asked again while unanswered, for START_WAIT_MS.
 */
async function ensureStream(jsm: JetStreamManager, cfg: Record<string, unknown>, log: Logger): Promise<{ name: string; storage: string }> {
  const name = cfg.name as string;
  // null: there is no such stream (any other failure is not "none").
  const found = () => untilAnswered(async () => (await jsm.streams.info(name).catch((e) => {
    if (/not found/i.test(String(e))) return null;
    throw e;
  }))?.config ?? null, { withinMs: START_WAIT_MS, what: `stream ${name}`, log });
  const made = (await found()) ?? (await jsm.streams.add(cfg as never).then((i) => i.config, async (e) => {
    const other = await found();
    if (!other) throw e;
    return other;
  }));
  return { name, storage: String(made.storage) };
}

class ClusterWorker implements Worker {
  name: string;
  metricsPort = 0;
  ingest: Ingest;
  committer: TrackedCommitter;
  stats = { received: 0, acked: 0, takeovers: 0, adopted: 0, feedRetries: 0 };
  /** Test fault: feeds still to fail (faultFeedFail). */
  private feedFaults: number;
  private devices = new Map<string, DeviceState>();
  /** The partition each device's messages come on, as their subjects say (fixed while the partition count is). */
  private partitionOf = new Map<string, number>();
  private parts = new Map<number, Partition>();
  /** Partitions begun whose devices' undone work is still to be looked for, and the look under way (resume). */
  private toResume = new Set<Partition>();
  private resuming: Promise<void> | null = null;
  private mismatchSaid = false;
  /** The disagreement on the partition count last said (PARTITIONS_DIFFER), while this worker yields. */
  private differSaid: string | null = null;
  /** The station key opened none of the registry's secrets at the last authorization sync (STATION_KEY_MISMATCH, said once). */
  private keyMismatch = false;
  /** Devices whose secret the key did not open while it opened others', said once each. */
  private unreadableSaid = new Set<string>();
  /** Partitions stopped here whose taken messages, commits or recordings are still settling: not taken again until they have. */
  private settling = new Map<number, Promise<void>>();
  private refusals: Refusals;
  private metrics: Metrics;
  private http: Server | null = null;
  private timer: NodeJS.Timeout | null = null;
  private authTimer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> = Promise.resolve();
  private authSyncing: Promise<void> | null = null;
  private closed = false;
  private connSeq = 0;
  /** When the last lease round that renewed began: a worker that can't renew stops feeding before its leases can lapse. */
  private renewedAt = Date.now();

  constructor(private cfg: ClusterConfig, private log: Logger, private db: Db, private registry: DeviceRegistry, private nc: NatsConnection,
    private js: JetStreamClient, private jsm: JetStreamManager, private sessionStream: string, private media: NatsMediaStore, private leases: Leases,
    /** Keys the digests that let the authorization file keep its bcrypt hashes (auth.ts). */
    private loginDigestKey: Uint8Array) {
    const g = cfg.gateway;
    this.name = cfg.cluster.worker;
    this.feedFaults = cfg.cluster.faultFeedFail;
    if (this.feedFaults) log.warn({ feeds: this.feedFaults }, "feed faults injected: for tests only");
    const policy = makePolicy(g);
    const model = new Model(db, { timeZone: policy.timeZone, fleetRatio: policy.fleetRatio, gapToleranceMs: policy.gapToleranceMs });
    // What changes here goes to the office's console pages (cluster/nats.ts LIVE_SUBJECT).
    // Nothing waits on it: a connection closing or away drops the event, never the message being fed.
    const live = (ev: LiveEvent) => {
      try { if (!this.closed && !this.nc.isClosed()) this.nc.publish(LIVE_SUBJECT, JSON.stringify(ev)); } catch { /* a console page misses it, as if closed */ }
    };
    const alarms = new Alarms(db, log, { changed: (kind, subject) => live({ type: "alarm", kind, subject, at: Date.now() }), fence: (tx, device) => this.fence(tx, [device]) });
    this.refusals = new Refusals(log, (code) => this.metrics.refusals.inc({ code }));
    this.committer = new TrackedCommitter(db, media, g.commitDelayMs, g.commitMaxBatch, { delayMs: g.faultCommitDelayMs }, (items, mediaS, syncS, sqlS) => this.metrics.batch(items, mediaS, syncS, sqlS),
      (tx, devices) => this.fence(tx, devices));
    if (g.faultCommitDelayMs) log.warn({ delayMs: g.faultCommitDelayMs }, "commit faults injected: for tests only");
    this.ingest = new Ingest(db, media, registry, this.committer, {
      send: (id, b) => this.send(id, b),
      // nats-server 2.9 gives a client no way to close another's connection: a revoked device's
      // connection is closed by the authorization reload (auth.ts).
      disconnect: () => undefined,
    }, log, { ...ingestOptions(g, { refusals: this.refusals, alarms, model, log, metrics: () => this.metrics }), live });
    const dir = resolve(g.dataDir);
    this.metrics = new Metrics({
      sessions: () => this.ingest.sessionLoad(),
      ingest: () => this.ingest.held,
      diskFreeBytes: () => freeBytes(dir),
      scrub: () => ({ running: false, passes: 0, recordings: 0, bytes: 0, damaged: 0 }),
    });
    // Every series says which worker it came from.
    this.metrics.registry.setDefaultLabels({ worker: this.name });
    const r = [this.metrics.registry];
    const self = this;
    new Gauge({ name: "evrec_cluster_partitions", help: "Partitions this worker serves", registers: r, collect() { this.set(self.served()); } });
    new Gauge({ name: "evrec_cluster_messages_in_flight", help: "Device messages taken from JetStream and not yet acknowledged (committed)", registers: r, collect() { let n = 0; for (const p of self.parts.values()) n += p.pending.size + p.gate.size; this.set(n); } });
    new Gauge({ name: "evrec_cluster_sessions_adopted", help: "Device sessions this worker continued after another worker (a partition taken over)", registers: r, collect() { this.set(self.stats.adopted); } });
    new Gauge({ name: "evrec_cluster_partitions_taken", help: "Partitions this worker began serving since it started", registers: r, collect() { this.set(self.stats.takeovers); } });
    new Gauge({ name: "evrec_cluster_feed_retries", help: "Device messages fed again after feeding failed (a session record or the registry unanswered in time)", registers: r, collect() { this.set(self.stats.feedRetries); } });
    new Gauge({ name: "evrec_cluster_commit_items_pending", help: "Items handed to the group commit and not yet committed or failed", registers: r, collect() { this.set(self.committer.pending); } });
    new Gauge({ name: "evrec_cluster_devices", help: "Devices of this worker's partitions it has heard from", registers: r, collect() { this.set(self.devices.size); } });
  }

  partitions(): number[] {
    return [...this.parts.keys()].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    const o = this.cfg.cluster;
    this.http = createServer((req, res) => {
      if (req.url !== "/metrics") { res.writeHead(404).end(); return; }
      this.metrics.text().then((t) => res.writeHead(200, { "content-type": this.metrics.registry.contentType }).end(t), (e) => res.writeHead(500).end(String(e)));
    });
    // A port taken is said as PORT_IN_USE, naming cluster.metricsPort (exit 2).
    await new Promise<void>((ok, fail) => { this.http!.once("error", fail); this.http!.listen(o.metricsPort, o.metricsHost, () => ok()); })
      .catch((e) => { throw metricsPortRefused(e, o); });
    this.metricsPort = (this.http.address() as { port: number }).port;
    // Before anything is taken: a worker whose count differs from the region's stops here (exit 2).
    await this.checkPartitionCount();
    await this.tick(true);
    this.timer = setInterval(() => { this.ticking = this.ticking.then(() => this.tick()).catch((e) => this.log.error({ err: String(e) }, "lease round failed")); }, Math.max(200, Math.floor(o.leaseMs / 3)));
    if (o.authFile) {
      await this.syncAuthOnce();
      this.authTimer = setInterval(() => void this.syncAuthOnce().catch((e) => this.log.error({ err: String(e) }, "authorization sync failed")), o.authSyncMs);
    }
    writePorts(o.portsFile, { metrics: this.metricsPort, worker: this.name });
    this.log.info({ worker: this.name, metrics: this.metricsPort, partitions: this.partitions() }, "cluster worker running");
  }

  /**
   * Before the first lease round: the partition count of the live workers (their heartbeats), of
   * the leases held now and of the device messages waiting in the stream, against this worker's.
   * A worker whose count differs would take its share of its own count and leave partitions
   * unserved (or serve ones the mapping never fills): it stops with PARTITIONS_DIFFER, naming both
   * counts and where each came from. Each read waits out a stream without a leader (START_WAIT_MS).
   */
  private async checkPartitionCount(): Promise<void> {
    const o = this.cfg.cluster;
    const asked = (what: string) => ({ withinMs: START_WAIT_MS, what, log: this.log });
    const differ: { says: string; where: string }[] = [];
    for (const h of await untilAnswered(() => this.leases.others(), asked(`${o.leaseStream}: the workers' heartbeats`))) {
      if (h.partitions !== null && !h.yielding && h.partitions !== o.partitions) differ.push({ says: String(h.partitions), where: `worker ${h.name}'s heartbeat in ${o.leaseStream} (running since ${new Date(h.since ?? 0).toISOString()})` });
    }
    // A partition at or past this worker's count held by another worker, or with device messages
    // waiting in the stream: the mapping's count is more than this worker's.
    const beyond = new Map<number, string>();
    for (const l of await untilAnswered(() => this.leases.partitionsHeld(), asked(`${o.leaseStream}: the partitions' leases`))) {
      if (l.partition >= o.partitions && l.holder !== null && l.holder !== this.name) beyond.set(l.partition, `partition ${l.partition}'s lease in ${o.leaseStream}, held by worker ${l.holder}`);
    }
    const waiting = await untilAnswered(() => this.jsm.streams.info(o.upStream, { subjects_filter: "part.*.rec.*.up" }), asked(`${o.upStream}: the partitions waiting`));
    const counts = new Map<number, number>();
    for (const [subject, n] of Object.entries(waiting.state.subjects || {})) {
      const p = Number(subject.split(".")[1]);
      if (Number.isInteger(p) && p >= o.partitions) counts.set(p, (counts.get(p) ?? 0) + n);
    }
    for (const [p, n] of counts) if (!beyond.has(p)) beyond.set(p, `${o.upStream}, holding ${n} device message(s) on partition ${p} (subjects part.${p}.rec.*.up)`);
    if (beyond.size) {
      const top = Math.max(...beyond.keys());
      differ.push({ says: `at least ${top + 1}`, where: beyond.get(top)! });
    }
    if (differ.length) throw new GatewayError("PARTITIONS_DIFFER", differText(o.partitions, differ));
  }

  /**
   * The first round's heartbeat: on a cluster just formed the lease stream may have no leader yet
   * ("no responders"), so it is asked again, with a growing pause, for START_WAIT_MS at most (said
   * once in the log); then its error stops the start (JETSTREAM_UNAVAILABLE, startWorker).
   */
  private firstHeartbeat(): Promise<Heartbeat[]> {
    const o = this.cfg.cluster;
    let said = false;
    return untilAnswered(async () => {
      try {
        return await this.leases.heartbeat();
      } catch (e) {
        if (unanswered(e) && !said) {
          said = true;
          this.log.warn({ stream: o.leaseStream, err: String(e), waitMs: START_WAIT_MS }, "the lease stream has no leader yet (a cluster just formed?): the first heartbeat is tried again");
        }
        throw e;
      }
    }, { withinMs: START_WAIT_MS, what: `${o.leaseStream}: this worker's first heartbeat`, log: this.log });
  }

  /**
   * An older worker's partition count differs from this one's: nothing is served here (every
   * partition handed back), said once (PARTITIONS_DIFFER) for as long as the same workers differ.
   */
  private async yieldPartitions(to: Heartbeat[]): Promise<void> {
    const o = this.cfg.cluster;
    this.leases.yielding = true;
    const key = to.map((h) => `${h.name}:${h.partitions}`).join(",");
    if (this.differSaid !== key) {
      this.differSaid = key;
      this.log.error({ code: "PARTITIONS_DIFFER", partitions: o.partitions, workers: to.map((h) => ({ name: h.name, partitions: h.partitions })) },
        `${differText(o.partitions, to.map((h) => ({ says: String(h.partitions), where: `worker ${h.name}'s heartbeat in ${o.leaseStream} (running since ${new Date(h.since ?? 0).toISOString()})` })))}. This worker started after it, so it takes no partitions meanwhile`);
    }
    const held = [...this.parts.keys()];
    await Promise.all(held.map((p) => this.stopPartition(p)));
    for (const p of held) await this.leases.release(partitionLease(p));
    if (held.length) this.log.warn({ partitions: held }, "partitions handed back: this worker's partition count differs");
  }

  /** One lease round: renew, then take or give partitions so each live worker serves its share. */
  private async tick(start = false): Promise<void> {
    if (this.closed) return;
    const o = this.cfg.cluster;
    const renewing = Date.now();
    const { lost, unanswered } = await this.leases.renew();
    if (!unanswered.length) {
      this.renewedAt = renewing;
      // Renewed: what came while the renewal was overdue is fed now, in the order it came.
      for (const part of this.parts.values()) if (!part.stopped && !part.lost) part.gate.release();
    } else if (renewing - this.renewedAt < o.leaseMs) {
      // Kept while they may still be this worker's (nothing is fed past two thirds of a lease since
      // the last renewal, take()), and renewed by a later round if nobody took them meanwhile.
      this.log.warn({ leases: unanswered, sinceRenewalMs: renewing - this.renewedAt }, "lease renewal unanswered (a stream electing its leader): tried again next round");
    } else {
      // A lease's time without a renewal: lapsed. Forgotten, not released: another worker may hold it.
      for (const name of unanswered) {
        this.leases.forget(name);
        lost.push(name);
      }
    }
    for (const name of lost) {
      const p = partOf(name);
      if (p !== null) {
        this.log.warn({ partition: p }, "partition lease lost: handing it over");
        const part = this.parts.get(p);
        if (part) part.lost = true;
        await this.stopPartition(p);
      }
    }
    this.releaseIdle(Date.now() - o.sessionIdleMs);
    const live = start ? await this.firstHeartbeat() : await this.leases.heartbeat();
    // Closing meanwhile (close() waits for a round a lease's time at most): nothing more is taken.
    if (this.closed) return;
    // Workers of another count are not counted in the share; an older one of another count makes this one yield.
    const { workers, yieldTo } = partitionAgreement({ name: this.name, partitions: o.partitions, since: this.leases.since }, live);
    if (yieldTo.length) {
      await this.yieldPartitions(yieldTo);
      return;
    }
    if (this.leases.yielding) {
      this.leases.yielding = false;
      this.differSaid = null;
      this.log.warn({ partitions: o.partitions }, "no older worker's partition count differs now: taking partitions");
    }
    const share = Math.ceil(o.partitions / workers);
    if (this.parts.size > share) {
      const p = Math.max(...this.parts.keys());
      await this.stopPartition(p);
      await this.leases.release(partitionLease(p));
      this.log.info({ partition: p, workers }, "partition handed to another worker");
      return;
    }
    for (let p = 0; p < o.partitions && this.parts.size < share; p++) {
      if (this.parts.has(p) || this.settling.has(p)) continue;
      const token = await this.leases.take(partitionLease(p));
      if (token !== null && this.closed) await this.leases.release(partitionLease(p));
      else if (token !== null) this.startPartition(p, token);
    }
  }

  /**
   * Sessions of devices silent since `before` leave memory (nats-server 2.9 tells a client nothing
   * of another's disconnect). Their record stays in the session stream: a message from one later
   * takes it up again, as a worker taking a partition over does.
   */
  private releaseIdle(before: number): void {
    for (const [id, d] of this.devices) {
      if (d.at >= before) continue;
      const part = this.parts.get(this.partitionOf.get(id)!);
      if (part && part.pending.size) continue; // still committing what it sent
      // Silent this long, nothing of it is being fed: released at once, before anything new of it.
      this.devices.delete(id);
      if (d.conn) this.ingest.disconnected(d.conn);
    }
  }

  /**
   * Serve a partition whose lease was just taken: its token stored first, then its consumer
   * started. Not waited for by the lease round (the store may be slow: renewals must go on).
   */
  private startPartition(n: number, token: number): void {
    const part: Partition = { n, token, messages: null, pending: new Set(), stopped: null, lost: false, gate: new HeldInOrder((m) => this.feedMessage(part, m), (m) => m.nak()) };
    this.parts.set(n, part);
    void this.begin(part);
  }

  private async begin(part: Partition): Promise<void> {
    const n = part.n;
    try {
      // From here on, a commit of this partition's messages by any earlier holder fails (FENCED).
      if (!(await raiseFence(this.db, this.name, { part: n, token: part.token }, Date.now()))) {
        // A later take is recorded: the lease is not this worker's after all. It is left to lapse, not purged.
        this.log.warn({ code: "FENCED", partition: n, token: part.token }, "partition not served: a later holder's token is in the store");
        this.leases.forget(partitionLease(n));
        await this.stopPartition(n);
        return;
      }
      if (part.stopped) return;
      const name = await this.consumerFor(part);
      // Handed over while its consumer was being made (consumerFor left the next holder's alone).
      if (name === null) return;
      const consumer = await untilAnswered(() => this.js.consumers.get(this.cfg.cluster.upStream, name), { withinMs: JS_WAIT_MS, what: `partition ${n}: its consumer`, log: this.log, alsoRetry: streamNotKnownYet });
      // A pull waits at the consumer's leader. When the node holding it is lost, the pull is lost
      // with it and nothing says so but the missing heartbeats: after two, the client asks the new
      // leader again. Heartbeats a quarter of a lease apart (the client's default is 15 s, so a
      // partition stalled 30 s or more after a node's loss) keep that within about half a lease.
      const leaseMs = this.cfg.cluster.leaseMs;
      part.messages = await consumer.consume({ max_messages: 256, expires: Math.max(1000, leaseMs), idle_heartbeat: Math.max(500, Math.floor(leaseMs / 4)) });
    } catch (e) {
      // Stopped meanwhile (handed over, lost, closing): whatever stopped it gives the lease up, or not.
      if (part.stopped) {
        this.log.info({ partition: n, err: String(e) }, "partition stopped before its consumer started");
        return;
      }
      // Not served after all: the lease goes back, and a later round tries again.
      this.log.error({ partition: n, err: String(e) }, "partition not started");
      await this.stopPartition(n);
      await this.leases.release(partitionLease(n));
      return;
    }
    if (part.stopped) {
      part.messages.stop();
      return;
    }
    this.stats.takeovers++;
    this.log.info({ partition: n, token: part.token }, "serving partition");
    this.resume(part);
    void (async () => {
      for await (const m of part.messages!) this.take(part, m);
    })().catch((e) => this.log.error({ partition: n, err: String(e) }, "partition consumer failed")).then(async () => {
      if (part.stopped || this.closed) return;
      // The consumer ended by itself (deleted by a later holder, a lasting error): stopped here, and
      // its lease left to lapse, not purged (a later holder's would be), then taken again by whoever.
      this.log.warn({ partition: n }, "partition consumer ended: the partition is stopped here and its lease left to lapse");
      this.leases.forget(partitionLease(n));
      await this.stopPartition(n);
    });
  }

  /**
   * What the holder before left undone for a partition's devices after their commits (killed
   * between a commit and what follows it: a genesis link unchecked, a case link by tag unmade) is
   * made here, each device's behind its messages. A device that sends again has it made when its
   * session is adopted too; this is for one silent since (off, or retired), which a station would
   * have made at its start. Partitions begun together share one look at the store; while the store
   * can't be asked, it is asked again every RESUME_RETRY_MS for those still served here.
   */
  private resume(part: Partition): void {
    this.toResume.add(part);
    if (this.resuming) return;
    this.resuming = (async () => {
      while (this.toResume.size && !this.closed) {
        const parts = [...this.toResume].filter((p) => !p.stopped && !p.lost);
        this.toResume.clear();
        if (!parts.length) continue;
        // Each device with work waiting, in the partition its last Hello came on, as its session
        // record says; one with no record, where nats-server's mapping places it (partitionFor: the
        // two agree unless the mapping's count and `partitions` differ, PARTITIONS_MISMATCH).
        const placed: { id: string; n: number }[] = [];
        try {
          for (const id of await this.ingest.undoneDevices()) {
            const kept = await this.loadSession(id);
            placed.push({ id, n: kept && kept.part !== undefined ? kept.part : partitionFor(id, this.cfg.cluster.partitions) });
          }
        } catch (e) {
          this.log.error({ partitions: parts.map((p) => p.n), err: String(e), retryMs: RESUME_RETRY_MS }, "what the partitions' holder before left undone not looked for: looked for again later");
          setTimeout(() => { for (const p of parts) if (!this.closed) this.resume(p); }, RESUME_RETRY_MS).unref();
          continue;
        }
        const served = new Map(parts.map((p) => [p.n, p]));
        const found: string[] = [];
        for (const { id, n } of placed) {
          const p = served.get(n);
          if (!p || p.stopped || p.lost) continue;
          found.push(id);
          this.partitionOf.set(id, p.n);
          let d = this.devices.get(id);
          if (!d) this.devices.set(id, (d = newDevice()));
          d.at = Date.now();
          d.chain = d.chain.then(() => (p.stopped || p.lost ? undefined : this.ingest.resumeDevice(id)))
            .catch((e) => this.log.error({ device: id, partition: p.n, err: String(e) }, "what the partition's holder before left undone for the device not made: made at its next Hello"));
        }
        if (found.length) this.log.warn({ partitions: parts.map((p) => p.n), devices: found }, "what the partitions' holder before left undone for their devices: being made");
      }
    })().finally(() => { this.resuming = null; });
  }

  /**
   * Partitions whose messages this worker is taking now (the gauge `evrec_cluster_partitions`): its
   * consumer running, not being stopped, its lease not lost. One whose start failed (its consumer
   * refused while JetStream was still starting, say) is not counted while a later round tries again.
   */
  private served(): number {
    let n = 0;
    for (const part of this.parts.values()) if (part.messages && !part.stopped && !part.lost) n++;
    return n;
  }

  /** Stop taking a partition's messages, let what was taken commit and be acknowledged, forget its sessions. */
  private stopPartition(n: number): Promise<void> {
    const part = this.parts.get(n);
    if (!part) return Promise.resolve();
    if (!part.stopped) part.stopped = this.stop(part);
    return part.stopped;
  }

  private async stop(part: Partition): Promise<void> {
    const n = part.n;
    // A consumer still being started is stopped as it starts (begin()).
    part.messages?.stop();
    // What waited for a renewal goes back, for whoever holds the partition next.
    part.gate.drop();
    // Waited for a lease's time at most: the lease rounds must go on (a message left unacknowledged
    // is delivered again to whoever serves the partition next).
    const limit = this.cfg.cluster.leaseMs;
    const pending = Promise.allSettled([...part.pending]);
    const left: Promise<unknown>[] = [pending];
    await within(pending, limit);
    for (const [id, d] of this.devices) {
      if (this.partitionOf.get(id) !== n) continue;
      left.push(d.chain);
      await within(d.chain, limit);
      if (d.conn) this.ingest.disconnected(d.conn);
      this.devices.delete(id);
      // The next worker changes its recordings: if the partition comes back, they are read afresh.
      const forgetting = this.ingest.forget(id);
      left.push(forgetting);
      await within(forgetting, limit);
    }
    if (this.parts.get(n) === part) this.parts.delete(n);
    // Until what outlasted the limits has settled, the partition is not taken again here: a commit
    // built in this tenure is never checked against the next tenure's token, nor its recordings reused.
    const settled: Promise<void> = Promise.allSettled(left).then(() => { if (this.settling.get(n) === settled) this.settling.delete(n); });
    this.settling.set(n, settled);
  }

  /**
   * The committer's fence, run first in every commit's transaction: each device's partition still
   * served here, its lease not lost, and its token still the one stored (store/fences.ts). A
   * partition found fenced is stopped, its lease forgotten.
   */
  private async fence(tx: Db, devices: string[]): Promise<void> {
    const held = new Map<number, number>();
    const gone: string[] = [];
    for (const id of devices) {
      const n = this.partitionOf.get(id);
      const part = n === undefined ? undefined : this.parts.get(n);
      if (part && !part.lost) held.set(part.n, part.token);
      else gone.push(id);
    }
    try {
      if (gone.length) throw new FencedError([], `not committed: ${this.name} no longer serves the partition of ${gone.join(", ")}`);
      await checkFences(tx, this.name, [...held].map(([part, token]) => ({ part, token })));
    } catch (e) {
      if (e instanceof FencedError) this.fenced(e);
      throw e;
    }
  }

  /** Partitions a commit found held by another worker: their messages are left to it, and they stop here. */
  private fenced(e: FencedError): void {
    for (const n of e.parts) {
      const part = this.parts.get(n);
      if (!part || part.lost) continue;
      part.lost = true;
      this.log.warn({ code: "FENCED", partition: n, err: e.message }, "commit fenced: another worker holds the partition; stopping it here");
      // Not this worker's any more: forgotten, never released (that would purge the new holder's lease).
      this.leases.forget(partitionLease(n));
      void this.stopPartition(n);
    }
  }

  /**
   * The partition's consumer for this tenure, made afresh: the consumers of earlier holders are
   * deleted first (a work queue allows one consumer per subject), and the new one hands out every
   * message still in the stream, that is every message not committed, from the first, in stream
   * order. A durable consumer kept across holders would hand the new holder the messages nobody
   * had taken at once, and those the dead holder had taken only after `ackWaitMs`: a device's
   * later messages before its earlier ones (a chunk before the Hello that began its session, so
   * refused HELLO_REQUIRED, or Acked in the session before it). Its name carries the fencing
   * token, so a stalled earlier holder, pulling by the old name, gets nothing more.
   */
  private async consumerFor(part: Partition): Promise<string | null> {
    const o = this.cfg.cluster;
    const name = `part-${part.n}-t${part.token}`;
    const filter = `part.${part.n}.rec.*.up`;
    // Each call is safe to make again, and is, while the stream elects a leader (nats-retry.ts), and
    // while a node does not know the stream yet: the worker made sure of it at start, so its absence
    // is a cluster just formed not settled yet (two workers started together met it), not a loss.
    const retry = <T>(what: string, call: () => Promise<T>) => untilAnswered(call, { withinMs: JS_WAIT_MS, what: `partition ${part.n}: ${what}`, log: this.log, alsoRetry: streamNotKnownYet });
    // An earlier holder still starting its own (handing the partition over as it took it, or
    // stalled) may make its consumer between this list and this add: a work queue then refuses
    // the add ("filtered consumer not unique"), and the earlier one is looked for again.
    for (let attempt = 1; ; attempt++) {
      const earlier = await retry("its consumers listed", async () => {
        const found: string[] = [];
        for await (const c of await this.jsm.consumers.list(o.upStream)) if (c.name !== name && c.config.filter_subject === filter) found.push(c.name);
        return found;
      });
      // Stopped meanwhile (handed over as it was being started): the consumers there may be the
      // next holder's, which this worker must not delete, nor make one beside.
      if (part.stopped) return null;
      for (const c of earlier) {
        await retry("an earlier holder's consumer deleted", () => this.jsm.consumers.delete(o.upStream, c).catch((e) => {
          if (!(e instanceof Error && e.name === "ConsumerNotFoundError")) throw e; // deleted already (by a holder before)
        }));
        this.log.info({ partition: part.n, consumer: c }, "an earlier holder's consumer deleted");
      }
      // Its own consumer not there yet: null (the stream not known yet is another thing: asked again).
      const made = await retry("its consumer looked up", () => this.jsm.consumers.info(o.upStream, name).catch((e) => {
        if (e instanceof Error && e.name === "ConsumerNotFoundError") return null;
        throw e;
      }));
      if (made) break;
      if (part.stopped) return null;
      try {
        await retry("its consumer made", () => this.jsm.consumers.add(o.upStream, {
          durable_name: name, filter_subject: filter, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
          ack_wait: o.ackWaitMs * 1e6, max_ack_pending: o.maxAckPending, max_deliver: -1,
        }));
        break;
      } catch (e) {
        if (part.stopped) return null;
        if (attempt >= 3 || !/not unique/i.test(String(e))) throw e;
        this.log.info({ partition: part.n, err: String(e) }, "an earlier holder's consumer was made meanwhile: looked for again");
      }
    }
    return name;
  }

  private take(part: Partition, m: JsMsg): void {
    this.stats.received++;
    if (part.stopped) {
      m.nak(this.cfg.cluster.leaseMs);
      return;
    }
    // Fenced by the clock: past two thirds of a lease since the last renewal, another worker may
    // soon hold this partition, so nothing more is fed here until a renewal lands (held in order).
    part.gate.offer(m, Date.now() - this.renewedAt <= (this.cfg.cluster.leaseMs * 2) / 3);
  }

  /** Feed one message of a partition to ingest, behind the device's messages before it. */
  private feedMessage(part: Partition, m: JsMsg): void {
    const t = m.subject.split(".");
    if (t.length !== 5 || t[2] !== "rec" || t[4] !== "up" || !natsSafeId(t[3])) {
      this.refusals.note("NATS_SUBJECT", { subject: m.subject });
      m.term();
      return;
    }
    const id = t[3];
    this.partitionOf.set(id, part.n);
    let d = this.devices.get(id);
    if (!d) {
      this.devices.set(id, (d = newDevice()));
      // The partition this worker would place the device in (resume) must be the mapping's: said once if not.
      const mine = partitionFor(id, this.cfg.cluster.partitions);
      if (mine !== part.n && !this.mismatchSaid) {
        this.mismatchSaid = true;
        this.log.error({ code: "PARTITIONS_MISMATCH", device: id, subject: m.subject, partitions: this.cfg.cluster.partitions, expected: mine }, "the subject mapping's partition count is not this worker's `partitions`: set both alike");
      }
    }
    const dev = d;
    dev.at = Date.now();
    // A message is acknowledged to JetStream once everything it caused is committed (or failed: the
    // device was not Acked and resends it). Once the partition's lease is lost, nothing of it is:
    // its messages are delivered again, to the worker that holds it now (a duplicate is re-Acked).
    const done = new Promise<unknown>((settle) => {
      const ack = () => {
        if (part.lost) m.nak();
        else {
          m.ack();
          this.stats.acked++;
        }
        settle(undefined);
      };
      // Fed in order; the next message of the device is fed while this one commits. A message that
      // can't be fed (its session record unread within the wait, the registry unanswered) is fed
      // again here, the device's later messages behind it: handed back to JetStream instead, it
      // would come again after them, and a chunk fed before the Hello it follows is refused.
      dev.chain = dev.chain.then(async () => {
        for (let wait = FEED_RETRY_MS;; wait = Math.min(wait * 2, FEED_RETRY_MAX_MS)) {
          // The partition is another's now: the message goes back, for its holder, in order.
          if (part.lost || part.stopped) {
            m.nak();
            settle(undefined);
            return;
          }
          try {
            const { handled } = await this.feed(dev, id, m);
            void handled.then(() => this.committer.barrier()).then(ack, ack);
            return;
          } catch (e) {
            this.stats.feedRetries++;
            this.log.error({ device: id, partition: part.n, err: String(e), retryMs: wait }, "cluster ingest error: the message is fed again, the device's later messages behind it");
            // Not delivered again meanwhile (JetStream's redelivery time starts over).
            m.working();
            await new Promise((r) => setTimeout(r, wait));
          }
        }
      }).catch((e) => {
        // Telling JetStream failed (the connection is closing): the chain goes on for the messages
        // behind it, and this one is delivered again after `ackWaitMs`.
        this.log.error({ device: id, err: String(e) }, "cluster ingest error: the message is left to be delivered again");
        settle(undefined);
      });
    });
    part.pending.add(done);
    void done.then(() => part.pending.delete(done));
  }

  /**
   * Hand one message to ingest, in order: a verified Hello begins a session (its nonce kept first);
   * the first message of a device whose session another worker began adopts that session.
   * Returns ingest's promise for the message, without waiting for it (the next one queues behind it).
   */
  private async feed(d: DeviceState, id: string, m: JsMsg): Promise<{ handled: Promise<void> }> {
    if (this.feedFaults > 0) {
      this.feedFaults--;
      throw new Error("test fault: the message could not be fed");
    }
    if (!d.conn) {
      // The device's first message on this worker: a session another worker began is adopted.
      const rec = await this.loadSession(id);
      if (rec) {
        // Above every counter the worker before could have used, reserved before anything is sent.
        const from = rec.reserved;
        d.rec = { ...rec, reserved: from + RESERVE };
        await this.saveSession(id, d.rec);
        d.durable = d.rec.reserved;
        // Its own connection id: a session released here earlier may still be closing under the old one.
        d.conn = `nats:${id}#${rec.helloSeq}.${++this.connSeq}`;
        this.ingest.adopt(d.conn, id, rec.schema, Buffer.from(rec.nonce, "hex"), from);
        this.stats.adopted++;
      }
    }
    const hello = this.helloOf(m.data);
    if (hello) {
      const place = d.rec ? helloPlace(m.seq, m.timestampNanos, d.rec) : "newer";
      // An older Hello delivered again: the session it began is over.
      if (place === "older") return { handled: Promise.resolve() };
      // The Hello that began the session this worker continues, delivered again: the worker before
      // stored the session but did not commit what the Hello says (or died before answering it).
      // Handled again in that session, its counters going on: answered, and what it says of the
      // device's recordings (those it no longer holds made final, R-VER-10) acted on.
      if (place === "same" && d.conn) return { handled: this.ingest.message(d.conn, id, m.data, reachedAt(m)) };
      const device = await this.registry.get(id);
      const ok = device && hello.nonce.length === NONCE_LEN && checkControl(sha, device.keys.controlKey, CONTROL_HELLO, deviceIdBytes(id), hello.body, hello.tag);
      if (ok) {
        const rec = { nonce: Buffer.from(hello.nonce).toString("hex"), schema: hello.schema, helloSeq: m.seq, helloAt: String(m.timestampNanos), reserved: RESERVE, part: this.partitionOf.get(id) };
        await this.saveSession(id, rec);
        d.rec = rec;
        d.durable = RESERVE;
        if (d.conn) this.ingest.disconnected(d.conn);
        // Its own connection id: a stream started again may number this Hello as an earlier one was.
        d.conn = `nats:${id}#${m.seq}.${++this.connSeq}`;
      }
    }
    if (!d.conn) d.conn = `nats:${id}#0`;
    return { handled: this.ingest.message(d.conn, id, m.data, reachedAt(m)) };
  }

  private helloOf(data: Uint8Array): { schema: number; body: Uint8Array; tag: Uint8Array; nonce: Uint8Array } | null {
    try {
      const up = decodeAs("Uplink", data);
      if (!up.hello) return null;
      const h = decodeAs("Hello", up.hello.body);
      return { schema: up.schema, body: up.hello.body, tag: up.hello.tag, nonce: h.nonce };
    } catch {
      return null; // ingest refuses it with its reason
    }
  }

  /** The device's session record (one message per subject: the same record written twice is one). */
  private async saveSession(id: string, rec: SessionRecord): Promise<void> {
    await untilAnswered(() => this.js.publish(`evrec.session.${id}`, JSON.stringify(rec)), { withinMs: JS_WAIT_MS, what: `session ${id}`, log: this.log });
  }

  /**
   * The device's session record; null only if it has none. An unanswered read is not "none": the
   * device would be taken for one that never said Hello, and its messages refused (HELLO_REQUIRED)
   * until it fell silent. Asked of the stream's leader, which holds every record acknowledged: a
   * direct get may be served by a replica still catching up, which answers with an older record or
   * none, or not at all.
   */
  private async loadSession(id: string): Promise<SessionRecord | null> {
    const m = await untilAnswered(() => this.jsm.streams.getMessage(this.sessionStream, { last_by_subj: `evrec.session.${id}` }), { withinMs: JS_WAIT_MS, what: `session ${id}`, log: this.log });
    return m ? m.json<SessionRecord>() : null;
  }

  /** A downlink to a device; a counter beyond what is reserved waits for the next reservation. */
  private send(id: string, bytes: Uint8Array): void {
    const d = this.devices.get(id);
    const out = () => this.nc.publish(`rec.${id}.down`, bytes);
    if (!d || !d.rec) return out();
    let counter = 0;
    try { counter = Number(decode("Downlink", bytes).counter) || 0; } catch { /* sent as it is */ }
    if (counter > d.durable - RESERVE / 2 && !d.bumping) {
      const rec = { ...d.rec, reserved: d.durable + RESERVE };
      d.bumping = this.saveSession(id, rec).then(() => { d.rec = rec; d.durable = rec.reserved; }, (e) => this.log.error({ device: id, err: String(e) }, "downlink counters not reserved")).finally(() => { d.bumping = null; });
    }
    if (counter <= d.durable) return out();
    // Beyond what is reserved: sent once a reservation covers it. If the reservation failed it is
    // not sent at all (a counter a restarted worker could hand out again); the device resends what
    // it was not Acked for, and the duplicate is Acked again.
    const after = d.bumping || Promise.resolve();
    void after.then(() => {
      if (counter <= d.durable) out();
      else this.log.warn({ device: id, counter, reserved: d.durable }, "downlink not sent: its counter is not reserved");
    });
  }

  /** One authorization sync at a time: one that hashes many new secrets may outlast the interval. */
  private syncAuthOnce(): Promise<void> {
    if (!this.authSyncing) this.authSyncing = this.syncAuth().finally(() => { this.authSyncing = null; });
    return this.authSyncing;
  }

  /** The worker holding the "auth" lease writes the NATS authorization from the registry; every worker tells live sessions of revokes. */
  private async syncAuth(): Promise<void> {
    const o = this.cfg.cluster;
    for (const id of await this.registry.revokedSinceCached()) await this.ingest.revoked(id, "device revoked by the station");
    const keyFile = resolve(this.cfg.gateway.dataDir, "station.key");
    if (this.keyMismatch) {
      // Said already: the file is left to a worker with the region's key until this one's opens a secret.
      try {
        await checkStationKey(this.registry, keyFile, WORKER_KEY_REMEDY);
      } catch (e) {
        if (e instanceof GatewayError && e.code === "STATION_KEY_MISMATCH") return;
        throw e;
      }
      this.keyMismatch = false;
    }
    if (!(await this.leases.take("auth"))) return;
    const logins = [];
    const refused: string[] = [];
    for (const d of await this.registry.list()) {
      if (d.state === "revoked" || d.state === "retired") continue;
      if (!natsSafeId(d.id)) { this.refusals.note("NATS_DEVICE_ID", { device: d.id, detail: "a device id with '.' can't be a NATS subject token: not admitted to the cluster" }); continue; }
      let full;
      try {
        full = await this.registry.get(d.id);
      } catch (e) {
        if (!keyRefused(e)) throw e;
        refused.push(d.id);
        continue;
      }
      if (full) logins.push({ user: d.id, password: full.password });
    }
    if (refused.length && !logins.length) {
      // The station key opens no device's secret: not the region's (provisioned after this worker
      // started with a key of its own). Said once, not the cipher's words every authSyncMs; the
      // authorization file is left as it is, and its lease to a worker with the region's key.
      this.keyMismatch = true;
      this.log.error({ code: "STATION_KEY_MISMATCH", file: keyFile, devices: refused.slice(0, 3) }, `${keyMismatchText(keyFile, refused.slice(0, 3), WORKER_KEY_REMEDY)}. Until then this worker writes no NATS authorization, and its devices' messages can't be verified here`);
      await this.leases.release("auth");
      return;
    }
    for (const id of refused) {
      if (this.unreadableSaid.has(id)) continue;
      this.unreadableSaid.add(id);
      this.log.error({ code: "DEVICE_SECRET_UNREADABLE", device: id }, "the station key opens other devices' secrets but not this one's (its stored secret damaged?): left out of the NATS authorization");
    }
    const text = await authorizationText({ user: o.natsUser, password: o.natsPass }, logins, readAuthorization(o.authFile), this.loginDigestKey);
    const pids = listOption(o.natsPidFiles);
    if (syncAuthorization(o.authFile, text, pids, this.log)) this.log.info({ devices: logins.length, file: o.authFile }, "NATS authorization written, servers told to reload");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.authTimer) clearInterval(this.authTimer);
    // What needs NATS is waited for a lease's time at most, all of it together: with no node
    // answering (the cluster down, or this worker cut off from it) a lease round and the leases'
    // release each waited out their requests' timeouts, and the worker took half a minute to stop.
    // Leases not released lapse by themselves after a lease's time, and messages not acknowledged
    // are delivered again; the partitions' own commits are waited for as before (stop()).
    const deadline = Date.now() + this.cfg.cluster.leaseMs;
    const left = () => Math.max(0, deadline - Date.now());
    await within(this.ticking, left());
    await within(this.authSyncing?.catch(() => undefined) ?? Promise.resolve(), left());
    await Promise.all([...this.parts.keys()].map((n) => this.stopPartition(n)));
    await within(this.leases.close(), left());
    await this.ingest.close();
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    await within(this.nc.drain().catch(() => undefined), left());
    await this.nc.close().catch(() => undefined);
    await this.media.close();
    await this.db.close();
  }
}

/** `p`, or nothing more after `ms`. */
const within = (p: Promise<unknown>, ms: number): Promise<unknown> => new Promise((done) => {
  const t = setTimeout(done, ms);
  void p.finally(() => { clearTimeout(t); done(undefined); });
});

const partOf = (lease: string): number | null => (/^part-\d+$/.test(lease) ? Number(lease.slice(5)) : null);
