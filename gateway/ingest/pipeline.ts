// The ingest pipeline (RULES.md, protocol/SPEC.md section 9): identity → decode → schema → window →
// verify (protocol/) → durable commit → authenticated Ack. One queue per device connection, so a
// device's messages are handled in order and one device never waits on another's.
//
// What holds here (each has a test that tried to break it):
//   - An Ack speaks only of what is committed (R-ACK-1, R-ACK-2): `cumulative` is the first seq not
//     stored minus one, `settled` adds what the device declared lost, ACK_SEALED only once the seal
//     is committed. A commit that fails is never acknowledged, and nothing built on it commits.
//   - A start or seal whose commit is in flight is waited for, never answered ACK_UNKNOWN.
//   - Only a message whose tag verifies changes a verdict (R-VER-0); others are refused, kept as
//     evidence (a bounded number per recording) and alarmed as FORGED_MESSAGE.
//   - Work is bounded before any key is derived: recording ids outside the window (R-ACK-7) are
//     refused; state keys are cached (keys.ts); missing recordings are ranges; the recordings held
//     in memory, and the chunks buffered out of order, are bounded and released.
import type { LiveEvent } from "../live.js";
import { randomBytes } from "node:crypto";
import { encode } from "../../protocol/codec.js";
import { decodeAs, uplinkKind } from "../../protocol/messages.js";
import type { ChunkMsg, Control, Hello, Status, Uplink } from "../../protocol/messages.js";
import type { CodecError } from "../../protocol/codec.js";
import { DownlinkSigner, checkControl } from "../../protocol/downlink.js";
import { deviceIdBytes, encodeAckBlock, parseGenesis, parseHeader, parseSeal } from "../../protocol/blocks.js";
import { ctEqual, wipe } from "../../protocol/bytes.js";
import { ChainCrypto } from "../../protocol/chain.js";
import { CONTROL_HELLO, CONTROL_STATUS, GENESIS_LEN, HEADER_LEN, NONCE_LEN, RECORDING_WINDOW, SCHEMA_VERSION, SCHEMA_VERSION_1, SEAL_LEN } from "../../protocol/constants.js";
import { AckState } from "../../protocol/schema.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import type { Reason } from "../../protocol/reasons.js";
import type { AlarmSaid } from "../../protocol/alarm-details.js";
import { severityOf } from "../../protocol/reasons.js";
import type { StartMsg, StepResult, SealMsg } from "../../protocol/verify.js";
import type { Db } from "../store/db.js";
import { storeUnavailable } from "../store/db.js";
import type { Media } from "../store/media.js";
import * as store from "../store/ingest.js";
import { FencedError } from "../store/fences.js";
import type { DeviceRegistry, Device } from "../devices.js";
import type { Logger } from "../log.js";
import type { GroupCommitter, MediaWrite } from "./commit.js";
import { SupersededError } from "./commit.js";
import { RecordingIngest, RecordingWork } from "./recording.js";
import type { LinkRef } from "./recording.js";
import { StateKeys } from "./keys.js";
import { DeviceClocks } from "./clocks.js";

/**
 * How the pipeline talks back: publish on the device's downlink topic, drop the connection, or
 * stop and restart reading it (backpressure).
 */
export interface Downlink {
  send(deviceId: string, bytes: Uint8Array): void;
  disconnect(connId: string): void;
  pause?(connId: string): void;
  resume?(connId: string): void;
}

export interface IngestOptions {
  beaconIntervalS: number;
  ackIntervalMs?: number;
  refuse: (code: string, f: Record<string, unknown>) => void;
  /** Raise an alarm about `device` (a cluster worker writes it only while it serves the device's partition). */
  alarm?: (kind: string, subject: string, detail: string | AlarmSaid, device: string) => void | Promise<void>;
  linkByTag?: (device: string, recording: number) => Promise<unknown>;
  /** Recordings held in memory at most (the least recently used idle ones are released). */
  maxRecordings?: number;
  /** A recording not touched for this long is released from memory (its chunks buffered out of order dropped). */
  idleMs?: number;
  /** Bytes of chunks held out of order over all recordings at most (R-ACK-5); beyond, BUFFER_FULL. */
  maxBufferedBytes?: number;
  /** Forged messages kept as evidence per recording at most; the rest are counted and alarmed. */
  maxForgedKept?: number;
  /** A recording's seal was committed (the transparency log takes its manifest). */
  sealed?: (device: string, recording: number) => void;
  /**
   * Backpressure: a connection's messages not yet handled plus its commits not yet on the disk, at
   * most this many (and this many bytes); beyond, its socket is not read until half have drained.
   */
  maxSessionBacklog?: number;
  maxSessionBytes?: number;
  /**
   * Backpressure over all connections: their backlogs' bytes together at most this many; past it,
   * the connection a message came in on is not read until the total has fallen to half. A bound
   * per connection alone lets memory grow with the number of devices (2,000 of them at 8 MiB).
   */
  maxIngestBytes?: number;
  /** Chunks made durable, their bytes, and each one's time from arrival to commit in seconds (metrics). */
  committed?: (chunks: number, bytes: number, latenciesS: number[]) => void;
  /** What changed, for live pages: a device heard from or gone, a recording committed. */
  live?: (ev: LiveEvent) => void;
}

interface AckSent { at: number; state: number; timer: NodeJS.Timeout | null; soon: boolean; rec: RecordingIngest }

interface Session {
  connId: string;
  device: Device;
  closed: boolean;
  signer: DownlinkSigner | null;
  queue: Promise<void>;
  beaconTimer: NodeJS.Timeout | null;
  /**
   * The last Ack per recording on this connection: when it was decided, its state, a coalesced one
   * waiting (ackIntervalMs), and `soon` while it waits for the end of the work in hand (ack()).
   */
  acks: Map<number, AckSent>;
  /** The schema of this connection's Hello, which its downlink answers in (R-ENV-1); 0 before Hello. */
  schema?: number;
  /** Recordings this connection's Hello said the device holds. */
  held: Set<number>;
  /** Of those, the ones not answered yet: their answer waits for what is on its way to the disk. */
  unanswered: Set<number>;
  /** Backpressure: messages received and not yet handled, commits of them not yet done, their bytes. */
  backlog: number;
  backlogBytes: number;
  /** A session another process began, continued here once the device is looked up (adopt, attach). */
  adopting?: { schema: number; nonce: Uint8Array; counterAbove: number };
}

/** What a step of the verifier asks to make durable. */
interface Parts { start?: StartMsg | null; linked?: { seq: number; ref: LinkRef; chain: Uint8Array }[]; seal?: SealMsg }

/** Work that could not get at the store is tried again after this, doubling up to the most (tryAgainLater). */
/** How many recordings a read of undone work takes at a time (pages). */
const UNDONE_PAGE = 10000;
const RETRY_MS = 2000;
const RETRY_MAX_MS = 60000;

/** The reasons that fail a recording's verdict (not a gap, a loss or an interruption). */
const failing = (reasons: Reason[]) => (reasons.length ? reasons.filter((x) => severityOf(x.code) === "fail") : reasons);

const ranges = (rs: [number, number][]) => rs.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(", ");

/** Ranges minus a set of single ids (the recordings a Hello says the device still holds). */
function without(rs: [number, number][], ids: Set<number>): [number, number][] {
  const out: [number, number][] = [];
  const sorted = [...ids].sort((a, b) => a - b);
  for (const [lo, hi] of rs) {
    let from = lo;
    for (const id of sorted) {
      if (id < from || id > hi) continue;
      if (id > from) out.push([from, id - 1]);
      from = id + 1;
    }
    if (from <= hi) out.push([from, hi]);
  }
  return out;
}

export class Ingest {
  private sessions = new Map<string, Session>();
  private byDevice = new Map<string, Set<Session>>();
  private cc = new ChainCrypto(sha);
  /** Recordings in memory, least recently used first. */
  private recordings = new Map<string, RecordingIngest>();
  private loading = new Map<string, Promise<RecordingIngest>>();
  /** Released instances' last commits: a reload waits for them, so no old write lands after it. */
  private settling = new Map<string, Promise<void>>();
  /** Highest recording id per device that the gateway stores or is committing (R-ACK-7). */
  private tops = new Map<string, number>();
  private keys = new StateKeys();
  private clocks = new DeviceClocks();
  private buffered = 0;
  /** Every connection's backlog bytes together, and the connections not read for backpressure. */
  private backlogBytes = 0;
  private paused = new Set<Session>();
  private sweepTimer: NodeJS.Timeout;
  /** Counters for the API and tests. */
  stats = { chunks: 0, duplicates: 0, refused: 0, failed: 0, forged: 0, acks: 0, released: 0, paused: 0, peakBacklogBytes: 0, peakTotalBacklogBytes: 0 };
  /** Set while the disk is below its threshold: nothing is acknowledged (R-ACK-6). */
  diskLow = false;
  private closed = false;
  /** Work waiting to be tried again (tryAgainLater). */
  private retries = new Set<NodeJS.Timeout>();
  /** Recordings whose case link by tag this process is making, or will try again (linkByTag). */
  private readonly tagLinking = new Set<string>();
  /** The pass over links left unchecked, while it runs (checkUncheckedLinks). */
  private linkPass: Promise<void> = Promise.resolve();

  constructor(
    private db: Db,
    private media: Media,
    private registry: DeviceRegistry,
    private committer: GroupCommitter,
    private out: Downlink,
    private log: Logger,
    private opts: IngestOptions,
  ) {
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), Math.min(10000, Math.max(100, (opts.idleMs || 60000) / 4)));
    this.sweepTimer.unref();
  }

  /**
   * Connections with a session, those paused by backpressure, and their backlogs (metrics); and
   * the recordings whose last Ack the connections keep (at most those in memory, for each
   * connection of their device).
   */
  sessionLoad(): { connections: number; paused: number; backlogMax: number; backlogTotal: number; backlogBytes: number; acksKept: number } {
    let max = 0, total = 0, acks = 0;
    for (const s of this.sessions.values()) {
      if (s.backlog > max) max = s.backlog;
      total += s.backlog;
      acks += s.acks.size;
    }
    return { connections: this.sessions.size, paused: this.paused.size, backlogMax: max, backlogTotal: total, backlogBytes: this.backlogBytes, acksKept: acks };
  }

  /** Is the device connected now (a session that has said who it is)? */
  online(deviceId: string): boolean {
    return this.byDevice.has(deviceId);
  }

  /** Recordings held in memory now, bytes buffered out of order, state-key steps derived (tests and the API's statistics). */
  get held(): { recordings: number; bufferedBytes: number; keySteps: number } {
    return { recordings: this.recordings.size, bufferedBytes: this.buffered, keySteps: this.keys.steps };
  }

  /**
   * The session of a connection, made on its first message. Its queue starts with the device
   * lookup, so a client that publishes right after CONNACK loses nothing to the lookup.
   */
  private session(connId: string, deviceId: string): Session {
    let s = this.sessions.get(connId);
    if (!s) {
      const made: Session = { connId, device: null as unknown as Device, closed: false, signer: null, queue: Promise.resolve(), beaconTimer: null, acks: new Map(), held: new Set(), unanswered: new Set(), backlog: 0, backlogBytes: 0 };
      made.queue = this.attach(made, deviceId);
      this.sessions.set(connId, made);
      s = made;
    }
    return s;
  }

  /**
   * The session learns its device. A lookup that failed (the registry's database down) is tried
   * again by the session's next message, so one outage does not leave a connection without a device.
   */
  private async attach(s: Session, deviceId: string): Promise<void> {
    const d = await this.registry.get(deviceId);
    if (!d) throw new Error("device " + deviceId + " vanished from the registry");
    s.device = d;
    let set = this.byDevice.get(d.id);
    if (!set) this.byDevice.set(d.id, (set = new Set()));
    if (!s.closed) set.add(s);
    if (s.adopting) this.continueSession(s);
  }

  disconnected(connId: string): void {
    const s = this.sessions.get(connId);
    if (!s) return;
    s.closed = true;
    this.paused.delete(s);
    if (s.beaconTimer) clearInterval(s.beaconTimer);
    s.beaconTimer = null;
    dropAcks(s);
    this.sessions.delete(connId);
    if (s.device) {
      const set = this.byDevice.get(s.device.id);
      if (set) {
        set.delete(s);
        if (!set.size) {
          this.byDevice.delete(s.device.id);
          if (this.opts.live) this.opts.live({ type: "device", id: s.device.id, at: Date.now(), online: false, lastSeen: Date.now() });
        }
      }
    }
    // The signer is released once the messages already queued are handled.
    void s.queue.then(() => { if (s.signer) s.signer.destroy(); });
  }

  /**
   * A session another process began (a cluster worker that died): its downlink continues under the
   * nonce of the device's last Hello, with counters above any the other process may have used, so
   * the device accepts what this one sends without reconnecting (R-DL-4). Nothing of the Hello is
   * answered again: what the device holds was settled when it was said. A device that can't be
   * looked up now (the database away) is looked up again at its next message, which continues the
   * session then.
   */
  adopt(connId: string, deviceId: string, schema: number, nonce: Uint8Array, counterAbove: number): void {
    const s = this.session(connId, deviceId);
    s.adopting = { schema, nonce, counterAbove };
    s.queue = s.queue.then(async () => {
      if (s.closed) return;
      if (s.device) this.continueSession(s);
      else await this.attach(s, deviceId);
      // The worker before may have died between a commit and what follows it.
      await this.resumeUndone(s.device).catch((e) => this.log.error({ err: String(e), device: deviceId }, "what the worker before left undone not made now: made at the device's next Hello"));
    }).catch((e) => this.log.error({ err: String(e), device: deviceId }, storeUnavailable(e) ? "session not adopted yet: adopted at the device's next message" : "session not adopted"));
  }

  /**
   * What a process before this one left undone for a device after a commit, made when the device
   * says Hello or its session is adopted, and by a cluster worker as it takes the device's partition
   * (resumeDevice; a cluster worker has no start pass, and a worker that takes over after another's
   * death sees no Hello): its recordings' genesis links left unchecked (each recording loaded checks
   * its own), and its case links by tag left unmade.
   */
  private async resumeUndone(dev: Device): Promise<void> {
    const device = dev.id;
    for await (const x of pages((after, n) => store.uncheckedLinks(this.db, n, { device, after }))) await this.rec(dev, x.recording_id);
    if (this.opts.linkByTag) for await (const x of pages((after, n) => store.pendingTagLinks(this.db, n, { device, after }))) this.linkByTag(device, x.recording_id, true);
  }

  /**
   * Devices an earlier process left work undone for after a commit (resumeUndone), all of them,
   * read `page` recordings at a time. A cluster worker makes theirs as it takes their partitions: a
   * device silent since (off, or retired) says no Hello and is not taken over.
   */
  async undoneDevices(page = UNDONE_PAGE): Promise<string[]> {
    const ids = new Set<string>();
    for await (const x of pages((after, n) => store.uncheckedLinks(this.db, n, { after }), page)) ids.add(x.device_id);
    if (this.opts.linkByTag) for await (const x of pages((after, n) => store.pendingTagLinks(this.db, n, { after }), page)) ids.add(x.device_id);
    return [...ids];
  }

  /** What an earlier process left undone for one device (resumeUndone); nothing for one not registered. */
  async resumeDevice(id: string): Promise<void> {
    const dev = await this.registry.get(id);
    if (dev) await this.resumeUndone(dev);
  }

  /** The downlink of an adopted session goes on under its nonce, above its counters (adopt); once. */
  private continueSession(s: Session): void {
    const a = s.adopting;
    if (!a) return;
    s.adopting = undefined;
    if (s.signer) s.signer.destroy();
    s.signer = new DownlinkSigner(sha, s.device.keys.downlinkKey, deviceIdBytes(s.device.id), a.nonce);
    s.signer.counter = a.counterAbove;
    s.schema = a.schema;
  }

  /**
   * An uplink message from a connection; handled after the ones before it. Its arrival is now: a
   * chunk's commit latency counts from here, its wait behind the connection's earlier messages
   * included. `reachedAt`: when the station received it, if earlier (a region's worker gives the
   * time JetStream stored it, which may be long before a worker takes it): the device's clock and
   * its clips' times are judged against that, not against when it was handled.
   */
  message(connId: string, deviceId: string, payload: Uint8Array, reachedAt?: number): Promise<void> {
    const s = this.session(connId, deviceId);
    this.weigh(s, 1, payload.length);
    const handled = () => this.weigh(s, -1, -payload.length);
    const arrived = Date.now();
    const reached = reachedAt !== undefined && reachedAt < arrived ? reachedAt : arrived;
    // No extra promise per message on the hot path: the lookup is made again only where it failed.
    s.queue = s.queue.then(() => (s.device ? this.handle(s, payload, arrived, reached) : this.attach(s, deviceId).then(() => this.handle(s, payload, arrived, reached)))).then(handled, (e) => {
      // The store could not be asked (a recording to read again, the device to look up, while the
      // database is down): refused as a failed commit is, and not Acked; the device sends it again.
      if (storeUnavailable(e)) this.refuse(s, "STORE_FAILED", { device: deviceId, err: String(e) });
      else this.log.error({ err: String((e as Error).stack || e), device: s.device ? s.device.id : deviceId }, "ingest error");
      handled();
    });
    return s.queue;
  }

  /**
   * A connection's backlog moves: past its bound, or past the bound of all connections together,
   * its socket is no longer read (the device's window stops it), and it is read again once half of
   * its own has drained and the total is at most half of its bound. Whatever devices send, and
   * however many send it, what the gateway holds stays bounded, and a device that floods does
   * not slow the others.
   */
  private weigh(s: Session, n: number, bytes: number): void {
    s.backlog += n;
    s.backlogBytes += bytes;
    const before = this.backlogBytes;
    this.backlogBytes += bytes;
    if (s.backlogBytes > this.stats.peakBacklogBytes) this.stats.peakBacklogBytes = s.backlogBytes;
    if (this.backlogBytes > this.stats.peakTotalBacklogBytes) this.stats.peakTotalBacklogBytes = this.backlogBytes;
    const maxT = this.opts.maxIngestBytes || 128 * 1048576;
    if (n > 0) {
      if (!this.paused.has(s) && !s.closed && (this.over(s) || this.backlogBytes >= maxT)) {
        this.paused.add(s);
        this.stats.paused++;
        if (this.out.pause) this.out.pause(s.connId);
      }
      return;
    }
    if (this.backlogBytes > maxT / 2) return;
    // The total is low enough: this connection is read again if its own backlog is, and when the
    // total has just come down through half its bound, so is every other paused connection.
    if (before > maxT / 2) for (const p of [...this.paused]) this.readAgain(p);
    else if (this.paused.has(s)) this.readAgain(s);
  }

  /**
   * Is a connection's own backlog past its bound (or, `half`, past half of it)? 32 messages by
   * default: sixteen times a recorder's window (2) and twice the bench's devices' (16), so a device
   * that keeps its window is not stopped, while one that sends past it holds fewer chunks in
   * memory. With 64, 50 devices each sending eight times the window (twice the gateway's maximum
   * at 4 KiB) kept 78 to 95 % of the maximum committed (median 82 %, 72 µs of its CPU a chunk);
   * with 32, 83 to 98 % (median 92 %, 67 µs), in six alternating pairs of gateway-only runs, more
   * chunks a second committed in each pair: fewer chunks alive at each young-generation
   * collection, the likely reading (not traced).
   */
  private over(s: Session, half = false): boolean {
    const k = half ? 2 : 1;
    return s.backlog >= (this.opts.maxSessionBacklog || 32) / k || s.backlogBytes >= (this.opts.maxSessionBytes || 8 * 1048576) / k;
  }

  private readAgain(s: Session): void {
    if (this.over(s, true)) return;
    this.paused.delete(s);
    if (this.out.resume) this.out.resume(s.connId);
  }

  private refuse(s: Session, code: string, f: Record<string, unknown> = {}): void {
    this.stats.refused++;
    this.opts.refuse(code, { device: s.device ? s.device.id : undefined, ...f });
  }

  /** An alarm about `device`, whose subject is the device or one of its recordings (`device/recording`). */
  private alarm(kind: string, device: string, recording: number | undefined, detail: string | AlarmSaid): Promise<void> {
    const subject = recording === undefined ? device : `${device}/${recording}`;
    const raise = this.opts.alarm;
    if (!raise) return Promise.resolve();
    // Settled by the first try: one the store could not keep is raised again later, not waited for.
    const work = () => Promise.resolve(raise(kind, subject, detail, device));
    return work().catch((e) => this.tryAgainLater("alarm", { alarm: kind, subject }, work, e, RETRY_MS));
  }

  private async handle(s: Session, payload: Uint8Array, arrived: number, reached: number): Promise<void> {
    let up: Uplink;
    try {
      up = decodeAs("Uplink", payload);
    } catch (e) {
      return this.refuse(s, (e as CodecError).code || "DECODE_TRUNCATED", { detail: (e as Error).message });
    }
    if (up.schema !== SCHEMA_VERSION && up.schema !== SCHEMA_VERSION_1) return this.refuse(s, "SCHEMA_VERSION", { schema: up.schema });
    const kind = uplinkKind(up);
    if (!kind) return this.refuse(s, "DECODE_EMPTY");
    if (up.hello) return this.hello(s, up.hello, up.schema, reached);
    if (!s.signer) return this.refuse(s, "HELLO_REQUIRED", { kind });
    if (s.device.state === "revoked") return this.refuse(s, "REVOKED", { kind });
    if (up.status) return this.status(s, up.status, reached);
    // R-ACK-6: below the disk threshold media is neither verified nor stored nor acknowledged;
    // the device keeps it and sends it again once space returns.
    if (this.diskLow) return this.refuse(s, "DISK_LOW", { kind });
    if (up.start) return this.start(s, up.start, reached);
    if (up.chunk) return this.chunk(s, up.chunk, arrived, reached);
    if (up.seal) return this.seal(s, up.seal);
  }

  private sendDown(s: Session, body: Record<string, unknown>): void {
    if (!s.signer) return;
    const b = encode("DownBody", body);
    const m = s.signer.sign(b);
    this.out.send(s.device.id, encode("Downlink", { schema: s.schema || SCHEMA_VERSION, counter: m.counter, body: b, mac: m.mac }));
  }

  /**
   * A device was revoked while connected (R-REV-1): each live session that said Hello is told with
   * an authenticated Revoke after what is already queued on it; the caller then closes the
   * connections. Returns how many sessions were told.
   */
  revoked(deviceId: string, reason: string): Promise<number> {
    const told: Promise<void>[] = [];
    for (const s of this.sessions.values()) {
      if (s.closed || !s.device || s.device.id !== deviceId) continue;
      s.queue = s.queue.then(() => {
        if (!s.signer || s.closed) return;
        this.refuse(s, "REVOKED", { kind: "live", reason });
        this.sendDown(s, { revoke: { reason } });
      });
      told.push(s.queue);
    }
    return Promise.all(told).then(() => told.length);
  }

  /**
   * Send a Command or Config (R-MSG-10) to a device on every live session that has said Hello,
   * MAC'd like every downlink. Returns how many sessions it went to (0: the device is offline;
   * nothing is queued for later, an operator retries).
   */
  control(deviceId: string, body: { command?: Record<string, unknown>; config?: Record<string, unknown> }): number {
    let n = 0;
    for (const s of this.sessions.values()) {
      if (s.closed || !s.signer || !s.device || s.device.id !== deviceId) continue;
      // After the messages already queued on this session, so a Command never overtakes their Acks.
      s.queue = s.queue.then(() => this.sendDown(s, body));
      n++;
    }
    return n;
  }

  /**
   * Acknowledge what is committed of a recording (R-ACK-1, R-ACK-2). While a commit that would
   * create its start is in flight, nothing is said: that commit's completion answers (an
   * ACK_UNKNOWN then would make the device send everything again). While a recording is open, Acks
   * on one connection are coalesced: at most one per `ackIntervalMs`, the later ones folded into one
   * sent when the interval is up, with the cumulative seq of that moment. A board spends more on
   * each Ack than on the chunk it covers, and its window waits on PUBACKs, not on Acks. The first
   * Ack of a recording on a connection (the answer to Hello, R-ACK-3) and one that changes its
   * state go at once; with no interval, an open recording's Acks go one per turn of the event loop.
   */
  private ack(s: Session, r: RecordingIngest): void {
    if (this.diskLow || s.closed || !s.signer) return;
    const state = ackState(r);
    if (state < 0) return;
    // The answer to a Hello (R-ACK-3) tells the device where the gateway stands: it waits until what
    // is on its way to the disk has landed, or the device would send again what is about to be stored.
    let hello = false;
    if (s.unanswered.has(r.recording)) {
      if (r.busy()) return;
      s.unanswered.delete(r.recording);
      hello = true;
    }
    const last = s.acks.get(r.recording);
    // One Ack already leaves at the end of this turn: it will say the cumulative seq of then.
    if (last && last.soon && !hello && state === AckState.ACK_OPEN) { last.rec = r; return; }
    const now = Date.now();
    const gap = this.opts.ackIntervalMs || 0;
    if (last && state === AckState.ACK_OPEN && last.state === state && now - last.at < gap) {
      // The folded Ack speaks from the recording's state when it goes (the instance may be reloaded meanwhile).
      last.rec = r;
      if (!last.timer) last.timer = setTimeout(() => { last.timer = null; last.at = 0; this.ack(s, last.rec); }, gap - (now - last.at));
      return;
    }
    if (last && last.timer) clearTimeout(last.timer);
    if (last) last.soon = false;
    const a: AckSent = { at: now, state, timer: null, rec: r, soon: false };
    s.acks.set(r.recording, a);
    // An open recording's Ack is sent once the work in hand is done (process.nextTick: after every
    // promise reaction a group commit's settlement sets off): a group commit settles a recording's
    // chunks one after another, and one cumulative Ack answers them all (the device's work per
    // Ack, and the gateway's, is the same whatever it covers). Without it, a gateway with no Ack
    // interval signed and sent one Ack per chunk of every batch. Not at the end of the loop's
    // turn (setImmediate), as it was: a commit settles in the loop's poll phase, and an Ack
    // deferred to its check phase then met aedes deferring the delivery once more (setImmediate
    // within the check phase: the next turn), each turn 10 to 20 ms at half the maximum rate.
    // The answer to a Hello, and any Ack of another state (a seal, a duplicate of a sealed
    // recording, UNKNOWN), go at once, one each.
    if (hello || state !== AckState.ACK_OPEN) this.sendAck(s, a);
    else {
      a.soon = true;
      process.nextTick(() => {
        if (!a.soon) return;
        a.soon = false;
        this.sendAck(s, a);
      });
    }
  }

  private sendAck(s: Session, a: AckSent): void {
    const state = ackState(a.rec);
    if (this.diskLow || s.closed || !s.signer || state < 0 || s.acks.get(a.rec.recording) !== a) return;
    a.state = state;
    this.stats.acks++;
    const r = a.rec;
    this.log.debug({ device: r.device, recording: r.recording, conn: s.connId, state, cumulative: r.stored, settled: r.settled }, "ack");
    const body = { recording: r.recording, state, cumulative: r.stored, settled: r.settled };
    // Schema 2 reads the Ack as a fixed-layout block (R-ACKB-1); a schema-1 device as the protobuf Ack.
    this.sendDown(s, s.schema === SCHEMA_VERSION_1 ? { ack: body } : { ackBlock: encodeAckBlock(body) });
  }

  /** Acknowledge a recording on every live connection of its device (a commit may outlive the one that sent it). */
  private ackLive(r: RecordingIngest): void {
    const set = this.byDevice.get(r.device);
    if (set) for (const s of set) this.ack(s, r);
  }

  private beacon(s: Session): void {
    const nonce = randomBytes(NONCE_LEN);
    const now = Date.now();
    this.clocks.beaconSent(s.device.id, nonce, now);
    this.sendDown(s, { beacon: { timeMs: now, nonce } });
  }

  // ---- recordings in memory

  private async top(device: string): Promise<number> {
    let t = this.tops.get(device);
    if (t === undefined) {
      t = await store.topRecording(this.db, device);
      const now = this.tops.get(device);
      if (now !== undefined && now > t) t = now;
      this.tops.set(device, t);
    }
    return t;
  }

  /**
   * R-ACK-7: a recording id is at least 1 and at most RECORDING_WINDOW above the highest one the
   * gateway holds of the device. Checked before any key is derived, so a message naming recording
   * 2^32−1 costs nothing but this comparison.
   */
  private inWindow(s: Session, recording: number, what: string): boolean | Promise<boolean> {
    // Known once the device's highest recording has been read: answered without a promise (the
    // chunk path asks once per chunk).
    const known = this.tops.get(s.device.id);
    if (known === undefined) return this.top(s.device.id).then((top) => this.windowHolds(s, recording, what, top));
    return this.windowHolds(s, recording, what, known);
  }

  private windowHolds(s: Session, recording: number, what: string, top: number): boolean {
    if (recording >= 1 && recording <= top + RECORDING_WINDOW) return true;
    this.refuse(s, "RECORDING_WINDOW", { recording, field: what, window: RECORDING_WINDOW });
    return false;
  }

  /** The recording as ingest holds it in memory, marked as just used; undefined if it must be loaded. */
  private inMemory(dev: Device, recording: number): RecordingIngest | undefined {
    const key = `${dev.id}/${recording}`;
    const r = this.recordings.get(key);
    if (!r || r.dead) return undefined;
    r.lastUsed = Date.now();
    this.recordings.delete(key);
    this.recordings.set(key, r);
    return r;
  }

  private async rec(dev: Device, recording: number): Promise<RecordingIngest> {
    const live = this.inMemory(dev, recording);
    if (live) return live;
    const key = `${dev.id}/${recording}`;
    const r = this.recordings.get(key);
    if (r) this.release(key, r);
    let p = this.loading.get(key);
    if (!p) {
      p = this.load(dev, recording, key);
      this.loading.set(key, p);
      const clear = () => { if (this.loading.get(key) === p) this.loading.delete(key); };
      p.then(clear, clear);
    }
    return p;
  }

  private async load(dev: Device, recording: number, key: string): Promise<RecordingIngest> {
    const before = this.settling.get(key);
    if (before) {
      await before;
      if (this.settling.get(key) === before) this.settling.delete(key);
    }
    const row = await store.loadRecording(this.db, dev.id, recording);
    if (row) {
      // Derived values are recomputed from what they derive from, not read back: C_0 from the
      // genesis block, the chain's head from the last stored header (storage is checked, not trusted).
      row.c0 = row.genesis ? Buffer.from(this.cc.genesisValue(new Uint8Array(row.genesis))) : null;
      const last = row.linked_seq > 0 ? await store.storedChunk(this.db, dev.id, recording, row.linked_seq) : null;
      row.last_chain = last ? Buffer.from(this.cc.chunkValue(last.header)) : null;
    }
    const prevSeal = recording === 1 ? new Uint8Array(32) : (await this.trustedSeal(dev, recording - 1)) || undefined;
    const k1 = this.keys.k1(dev.id, dev.keys.stateKey0, recording);
    const r = new RecordingIngest(dev.id, recording, row ? row.media_path : this.media.pathFor(dev.id, recording), k1, row, prevSeal);
    // Bytes written before a crash (or a failed commit) but never committed are not evidence of anything.
    if (row) await this.media.trimTo(row.media_path, row.total_bytes);
    this.recordings.set(key, r);
    this.bound();
    // A start stored before the previous seal was known: its link is checked now (R-VER-1).
    if (row && row.genesis && !row.prev_checked && prevSeal) await this.linkFound(r, r.verifier.linkPrevious(prevSeal));
    return r;
  }

  /**
   * A stored seal's value Z, recomputed from the stored block and checked against its stored tag
   * under the device's key: what storage holds is not trusted (a corrupted value must not fail the
   * device's next genesis or raise EQUIVOCATION against it). Null if not stored; a stored seal its
   * tag does not vouch for is a storage fault, alarmed as such (R-SCRUB, docs/TRUST.md).
   */
  private async trustedSeal(dev: Device, recording: number): Promise<Uint8Array | null> {
    const row = await store.storedSeal(this.db, dev.id, recording);
    if (!row) return null;
    const k1 = this.keys.k1(dev.id, dev.keys.stateKey0, recording);
    const k = this.cc.keyAt(k1, parseSeal(row.block).lastSeq + 1);
    const z = this.cc.sealValue(row.block);
    const ok = ctEqual(this.cc.sealTag(k, z), row.tag);
    wipe(k1);
    wipe(k);
    if (ok) return z;
    await this.alarm("STORAGE_CORRUPT", dev.id, recording, { key: "storedSealCorrupt", args: {} });
    return null;
  }

  /** Let go of a recording's in-memory state; what it had buffered was never acknowledged. */
  private release(key: string, r: RecordingIngest): void {
    if (this.recordings.get(key) === r) this.recordings.delete(key);
    r.dead = true;
    // Its media file's handle is closed once nothing of it is in flight; a recording loaded again
    // for the same key waits for that (load, above), so it never writes through a closing handle.
    this.settling.set(key, r.tail.then(() => this.media.release(r.mediaPath)).catch((e) => {
      this.log.warn({ device: r.device, recording: r.recording, err: String(e) }, "media handle not closed");
    }));
    // Its last Ack on each of its device's connections holds it (its verifier, its chain state):
    // let go of those too, or a device connected for days would keep every recording it made on
    // that connection (about 6 KB each). An Ack for it later starts afresh, from the store.
    const live = this.byDevice.get(r.device);
    if (live) for (const s of live) {
      const a = s.acks.get(r.recording);
      if (a && a.rec === r) {
        if (a.timer) clearTimeout(a.timer);
        a.soon = false;
        s.acks.delete(r.recording);
      }
    }
    const dropped = r.verifier.dropPending();
    this.buffered -= this.bufferedOf(r);
    if (dropped.length) this.log.warn({ code: "UNSTARTED_DROPPED", device: r.device, recording: r.recording, seqs: dropped.length }, "released buffered chunks of a recording that could not link; the device sends them again");
    r.verifier.destroy();
    this.stats.released++;
    this.log.debug({ device: r.device, recording: r.recording, busy: r.busy() }, "recording released from memory");
  }

  private bufferedBytes = new WeakMap<RecordingIngest, number>();
  private bufferedOf(r: RecordingIngest): number {
    const b = this.bufferedBytes.get(r) || 0;
    this.bufferedBytes.delete(r);
    return b;
  }
  /** Keep the total of bytes buffered out of order in step with a recording's verifier. */
  private account(r: RecordingIngest): void {
    const now = r.verifier.pendingBytes();
    const was = this.bufferedBytes.get(r) || 0;
    if (now !== was) {
      this.buffered += now - was;
      this.bufferedBytes.set(r, now);
    }
  }

  /** Over the bound: release the least recently used recordings that have nothing in flight. */
  private bound(): void {
    const max = this.opts.maxRecordings || 10000;
    if (this.recordings.size <= max) return;
    for (const [key, r] of this.recordings) {
      if (this.recordings.size <= max) break;
      if (!r.busy()) this.release(key, r);
    }
  }

  /** Release recordings idle for longer than idleMs (honest traffic leaves nothing behind). */
  /**
   * Another process handles this device's messages now (a cluster partition handed over): once what
   * is in flight for its recordings has settled, they are released, so if the device comes back here
   * they are read again from the store, never taken from memory the other process has made stale.
   */
  async forget(deviceId: string): Promise<void> {
    const mine = [...this.recordings].filter(([, r]) => r.device === deviceId);
    await Promise.all(mine.map(([, r]) => r.tail));
    for (const [key, r] of mine) this.release(key, r);
    this.tops.delete(deviceId);
  }

  sweep(now: number): void {
    const idle = this.opts.idleMs || 60000;
    for (const [key, r] of this.recordings) if (!r.busy() && now - r.lastUsed > idle) this.release(key, r);
  }

  // ---- commits

  /** Make a recording's new parts durable, and acknowledge them once committed (R-ACK-1). */
  private commit(r: RecordingIngest, parts: Parts, from?: Session): void {
    const linked = parts.linked || [];
    const rep = r.verifier.report();
    const now = Date.now();
    const chunks: store.RecordingCommit["chunks"] = [];
    const media: MediaWrite[] = [];
    for (const l of linked) {
      chunks.push({ seq: l.seq, header: l.ref.header, tag: l.ref.tag, chain: l.chain, flags: l.ref.flags, timeMs: l.ref.timeMs, durationMs: l.ref.durationMs, length: l.ref.payload.length, offset: r.offset });
      media.push({ path: r.mediaPath, offset: r.offset, bytes: l.ref.payload });
      r.offset += l.ref.payload.length;
      r.mediaMs += l.ref.durationMs;
    }
    let start: store.RecordingCommit["start"];
    const flags: string[] = [];
    if (parts.start) {
      const g = parseGenesis(parts.start.genesis);
      // Its time against when the station received it: the earliest receipt of the start and of the chunks that confirmed it.
      let reached = r.startReached ?? now;
      for (const l of linked) reached = Math.min(reached, l.ref.reachedAt);
      r.startReached = undefined;
      const t = this.clocks.startAt(r.device, g.startMs, g.beacon, reached);
      if (t.flag) flags.push(t.flag);
      start = { genesis: parts.start.genesis, c0: this.cc.genesisValue(parts.start.genesis), caseTag: parts.start.caseTag, startMs: g.startMs, preEventMs: g.preEventMs, clipAtMs: t.atMs, beaconSentMs: t.beaconSentMs };
    }
    for (const l of linked) {
      const f = this.clocks.chunkFlag(r.device, l.seq, l.ref.timeMs, l.ref.durationMs, l.ref.reachedAt);
      if (f) { flags.push(f); break; }
    }
    const seal = parts.seal && rep.sealValue ? { block: parts.seal.block, tag: parts.seal.tag, caseTag: parts.seal.caseTag, value: rep.sealValue, interrupted: rep.interrupted } : undefined;
    const creates = !r.rowSubmitted;
    r.rowSubmitted = true;
    if (creates && r.recording > (this.tops.get(r.device) || 0)) this.tops.set(r.device, r.recording);
    r.inflight++;
    if (start) r.startInflight = true;
    if (seal) r.sealInflight = true;
    const lastChain = linked.length ? linked[linked.length - 1].chain : null;
    const lastLinked = linked.length ? linked[linked.length - 1].ref : null;
    const c: store.RecordingCommit = {
      device: r.device, recording: r.recording, mediaPath: r.mediaPath, at: now, deviceLost: false, create: creates, start, chunks, seal, timeFlag: flags[0],
      state: {
        linkedSeq: rep.linkedSeq, lastChain, totalBytes: rep.totalBytes, lastTimeMs: lastLinked ? lastLinked.timeMs : -1, mediaMs: r.mediaMs, endMs: rep.lastTimeMs,
        verdict: rep.verdict, final: rep.final, reasons: rep.reasons, lost: rep.lost, prevChecked: rep.prevChecked,
      },
    };
    const dev = this.deviceOf(r.device);
    if (dev) c.deviceLost = dev.state === "lost";
    // While both wait for a batch, a later commit of this recording joins this one.
    const done = this.committer.submit(new RecordingWork(r.device, r, c, media));
    // What a connection sent stays counted until it is on the disk (backpressure).
    let held = 0;
    for (const m of media) held += m.bytes.length;
    if (from) this.weigh(from, 1, held);
    // The tail settles either way (a reload waits for it, never fails on it); the weight goes
    // with the outcome, not in a reaction of its own: every chunk makes these.
    r.tail = done.then(ignore, ignore);
    done.then(() => {
      if (from) this.weigh(from, -1, -held);
      r.inflight--;
      if (start) r.startInflight = false;
      if (seal) r.sealInflight = false;
      r.committed(rep, !!start, !!seal);
      this.stats.chunks += linked.length;
      if (this.opts.live) this.opts.live({ type: "recording", device: r.device, recording: r.recording, at: Date.now() });
      if (this.opts.committed && linked.length) {
        const t = Date.now();
        const latencies: number[] = [];
        for (const l of linked) latencies.push((t - l.ref.receivedAt) / 1000);
        this.opts.committed(linked.length, held, latencies);
      }
      this.ackLive(r);
      // Times outside what the station can vouch for never move a clip to another officer silently.
      // Once per recording: a device whose every chunk claims a future time would otherwise cost a
      // write per commit (the first flag stays on the recording's row).
      if (flags.length && !r.timeAlarmed) {
        r.timeAlarmed = true;
        void this.alarm("CLIP_TIME_SUSPECT", r.device, r.recording, flags.join("; "));
      }
      if ((start && start.caseTag) || (seal && seal.caseTag)) this.linkByTag(r.device, r.recording);
      if (seal) {
        const next = { device: r.device, recording: r.recording + 1 };
        this.afterCommit("genesis link check", next, () => this.nextLink(r.device, r.recording, seal.value));
        if (this.opts.sealed) this.opts.sealed(r.device, r.recording);
      }
    }, (e) => {
      if (from) this.weigh(from, -1, -held);
      r.inflight--;
      if (start) r.startInflight = false;
      if (seal) r.sealInflight = false;
      const key = `${r.device}/${r.recording}`;
      this.release(key, r);
      if (!(e instanceof SupersededError)) {
        this.stats.refused++;
        // FENCED: a cluster worker's partition moved to another worker; the store is fine.
        this.opts.refuse(e instanceof FencedError ? "FENCED" : "STORE_FAILED", { device: r.device, recording: r.recording, seq: linked.length ? linked[linked.length - 1].seq : undefined, err: String(e) });
      }
    });
  }

  private deviceOf(id: string): Device | undefined {
    const set = this.byDevice.get(id);
    if (set) for (const s of set) return s.device;
    return undefined;
  }

  /**
   * What one verifier step produced: evidence, durable parts, Acks. A promise only when something
   * must be waited for (evidence kept, an alarm raised); a step that links or repeats chunks, the
   * common case, is handled at once.
   */
  private outcome(s: Session, r: RecordingIngest, res: StepResult<LinkRef>, bytes: () => Uint8Array, seal?: SealMsg): Promise<void> | undefined {
    this.account(r);
    if (res.forgedStarts.length || res.dropped.length || res.status === "rejected" || res.status === "forged" || res.status === "failed" || res.status === "equivocation" || failing(res.reasons).length) {
      return this.outcomeSlow(s, r, res, bytes, seal);
    }
    this.settle(s, r, res, seal, false);
    return undefined;
  }

  /** New parts go to the disk (a verdict that just failed too, on a row that exists); a duplicate is Acked again. */
  private settle(s: Session, r: RecordingIngest, res: StepResult<LinkRef>, seal: SealMsg | undefined, failedNow: boolean): void {
    if (res.confirmed || res.linked.length || seal || (failedNow && r.rowSubmitted)) this.commit(r, { start: res.confirmed, linked: res.linked, seal }, s);
    else if (res.status === "duplicate") this.ack(s, r);
  }

  private async outcomeSlow(s: Session, r: RecordingIngest, res: StepResult<LinkRef>, bytes: () => Uint8Array, seal?: SealMsg): Promise<void> {
    for (const f of res.forgedStarts) await this.forged(s, r, f.reason, encode("RecordingStart", { ...f.start }));
    const failed = failing(res.reasons);
    switch (res.status) {
      case "rejected":
        return this.refuse(s, res.reasons[0].code, { recording: r.recording, seq: res.seq, detail: res.reasons[0].detail });
      case "forged":
        return this.forged(s, r, res.reasons[0], bytes());
      case "failed":
      case "equivocation":
        this.stats.failed++;
        await this.evidence(s, r, res.seq, res.reasons.filter((x) => x.code !== "INTERRUPTED"), bytes());
        break;
      default: {
        // A message that is itself fine whose step failed the recording (a genesis that binds
        // another seal, found as its start is confirmed): the admin hears of it, as of a link
        // found broken later (linkFound).
        const codes = failed.map((x) => x.code).join(",");
        if (codes) {
          this.log.warn({ device: r.device, recording: r.recording, reasons: codes }, "verification failed");
          await this.alarm("FAILED_VERDICT", r.device, r.recording, codes);
        }
      }
    }
    for (const d of res.dropped) await this.evidence(s, r, d.seq, [d.reason], encode("Chunk", { header: d.ref.header, payload: d.ref.payload, tag: d.ref.tag }));
    this.settle(s, r, res, seal, res.status === "failed" || res.status === "equivocation" || res.dropped.length > 0 || failed.length > 0);
  }

  /** A refused message that can't be attributed to the device (R-VER-0): logged, alarmed, kept (bounded). */
  private async forged(s: Session, r: RecordingIngest, reason: Reason, bytes: Uint8Array): Promise<void> {
    this.stats.forged++;
    this.refuse(s, reason.code, { recording: r.recording, seq: reason.seq, forged: true, detail: reason.detail });
    await this.alarm("FORGED_MESSAGE", r.device, r.recording, reason.seq !== undefined ? { key: "forgedChunk", args: { code: reason.code, seq: reason.seq } } : { key: "forgedMessage", args: { code: reason.code } });
    if (r.forgedKept >= (this.opts.maxForgedKept || 16)) return;
    r.forgedKept++;
    const e = { device: r.device, recording: r.recording, seq: reason.seq === undefined ? -1 : reason.seq, reason: "FORGED:" + reason.code, message: bytes, at: Date.now() };
    await this.committer.submit({ device: r.device, sql: (db) => store.insertEvidence(db, e) }).catch((err) => this.log.error({ err: String(err) }, "forged message not kept"));
  }

  /** Keep a message that failed a check, as evidence, and tell the admin (R-VER-6). */
  private async evidence(s: Session, r: RecordingIngest, seq: number, reasons: Reason[], bytes: Uint8Array): Promise<void> {
    const codes = reasons.map((x) => x.code).join(",");
    this.log.warn({ device: r.device, recording: r.recording, seq, reasons: codes }, "verification failed");
    await this.alarm(codes.includes("EQUIVOCATION") ? "EQUIVOCATION" : "FAILED_VERDICT", r.device, r.recording, { key: "failedAtSeq", args: { seq, codes } });
    const e = { device: r.device, recording: r.recording, seq, reason: codes, message: bytes, at: Date.now() };
    await this.committer.submit({ device: r.device, sql: (db) => store.insertEvidence(db, e) }).catch((err) => this.log.error({ err: String(err) }, "evidence not kept"));
  }

  /** A check that changed a verdict with nothing new to store (a genesis link found broken). */
  private async linkFound(r: RecordingIngest, reasons: Reason[]): Promise<void> {
    if (!reasons.length) {
      if (r.rowSubmitted) this.commit(r, {});
      return;
    }
    this.log.warn({ device: r.device, recording: r.recording, reasons: reasons.map((x) => x.code).join(",") }, "verification failed");
    await this.alarm("FAILED_VERDICT", r.device, r.recording, reasons.map((x) => x.code).join(","));
    if (r.rowSubmitted) this.commit(r, {});
  }

  /**
   * Recording `recording`'s seal is committed: the next recording's genesis link can be checked
   * (R-VER-1). One cut short by the process's end is made at the next start (checkUncheckedLinks)
   * or when the device next says Hello.
   */
  private async nextLink(device: string, recording: number, z: Uint8Array): Promise<void> {
    const key = `${device}/${recording + 1}`;
    const cached = this.recordings.get(key);
    if (cached && !cached.dead) {
      if (cached.verifier.startConfirmed()) await this.linkFound(cached, cached.verifier.linkPrevious(z));
      else cached.verifier.linkPrevious(z);
      return;
    }
    const row = await store.loadRecording(this.db, device, recording + 1);
    if (row && row.genesis && !row.prev_checked) {
      const dev = await this.registry.get(device);
      if (dev) await this.rec(dev, recording + 1); // the load checks it
    }
  }

  /** Work that follows a commit (a genesis link to check, a case to link by tag): run now, and later if the store could not be asked. */
  private afterCommit(what: string, fields: Record<string, unknown>, work: () => Promise<unknown>, wait = RETRY_MS): void {
    work().catch((e) => this.tryAgainLater(what, fields, work, e, wait));
  }

  /**
   * Work that failed because the store could not be asked (the database away), such as the work
   * after a commit or an alarm: done again after `wait` ms, doubling up to a minute, for as long
   * as the gateway runs. Any other failure is logged, not tried again.
   */
  private tryAgainLater(what: string, fields: Record<string, unknown>, work: () => Promise<unknown>, e: unknown, wait: number): void {
    if (this.closed) return;
    if (!storeUnavailable(e)) return this.log.error({ ...fields, err: String(e) }, `${what} failed`);
    this.log.error({ ...fields, err: String(e), retryMs: wait }, `${what} could not run: tried again later`);
    const t = setTimeout(() => {
      this.retries.delete(t);
      this.afterCommit(what, fields, work, Math.min(wait * 2, RETRY_MAX_MS));
    }, wait);
    t.unref();
    this.retries.add(t);
  }

  /**
   * Check the genesis links an earlier run left unchecked (store.uncheckedLinks): each such
   * recording is loaded as its next chunk would load it, which checks its link and commits the
   * outcome (a broken link fails it GENESIS_LINK and raises an alarm). All of them, read `page` at
   * a time. Returns how many were loaded.
   */
  checkUncheckedLinks(page = UNDONE_PAGE): Promise<number> {
    const pass = (async () => {
      let n = 0;
      for await (const row of pages((after, n) => store.uncheckedLinks(this.db, n, { after }), page)) {
        if (this.closed) break;
        const dev = await this.registry.get(row.device_id);
        if (!dev) continue;
        await this.rec(dev, row.recording_id);
        n++;
      }
      return n;
    })();
    this.linkPass = pass.then(ignore, ignore);
    return pass;
  }

  // ---- messages

  private async hello(s: Session, c: Control, schema: number, reached: number): Promise<void> {
    const dev = deviceIdBytes(s.device.id);
    if (!c || !checkControl(sha, s.device.keys.controlKey, CONTROL_HELLO, dev, c.body, c.tag)) return this.refuse(s, "CONTROL_TAG", { kind: "hello" });
    let h: Hello;
    try { h = decodeAs("Hello", c.body); } catch (e) { return this.refuse(s, (e as CodecError).code, { kind: "hello" }); }
    const nonce = h.nonce;
    if (nonce.length !== NONCE_LEN) return this.refuse(s, "BLOCK_SIZE", { field: "hello.nonce" });
    const held = h.held;
    const lastSealed = h.lastSealed;
    // R-ACK-7 before anything else: a Hello claiming recording 2^32−1 costs a comparison.
    const limit = (await this.top(s.device.id)) + RECORDING_WINDOW;
    if (lastSealed > limit) return this.refuse(s, "RECORDING_WINDOW", { kind: "hello", field: "last_sealed", recording: lastSealed, window: RECORDING_WINDOW });
    for (const x of held) if (x.recording < 1 || x.recording > limit) return this.refuse(s, "RECORDING_WINDOW", { kind: "hello", field: "held", recording: x.recording, window: RECORDING_WINDOW });
    // The same Hello again (delivered twice, or a cluster worker taking over a session whose Hello
    // its predecessor never answered): answered again in the session it began, its downlink
    // counters going on. Begun again at counter 0, every downlink after it would be refused as a
    // replay by a device that had seen higher counters.
    if (!s.signer || !Buffer.from(s.signer.nonce).equals(Buffer.from(nonce))) {
      if (s.signer) s.signer.destroy();
      s.signer = new DownlinkSigner(sha, s.device.keys.downlinkKey, dev, nonce);
    }
    s.schema = schema;
    // A Hello said again on this connection (R-DL-6) begins a new session: its answers go at once,
    // not folded into the interval of an Ack the device refused under the older nonce.
    dropAcks(s);
    s.held = new Set(held.map((x) => x.recording));
    s.unanswered = new Set(s.held);
    this.log.debug({ device: s.device.id, conn: s.connId, held }, "hello");
    if (h.deviceTimeMs) this.clocks.helloAt(s.device.id, h.deviceTimeMs, reached);
    // Not answered unless kept: a Hello a worker could not commit (fenced) is the successor's to answer.
    // When the station received it, as a Status's: a device's last_seen never goes back when a
    // worker works through messages that waited (a Hello handled now, Statuses stored before it).
    if (!(await this.note(s, { device: s.device.id, at: reached, hello: { firmware: h.firmware, lastSealed, nextRecording: h.nextRecording } }))) return;
    if (this.opts.live) this.opts.live({ type: "device", id: s.device.id, at: Date.now(), online: true, lastSeen: Date.now() });
    // Its first Hello: active, unless the store says otherwise by now (revoked by another process
    // since this one cached it: answered below as revoked, never made active again).
    if (s.device.state === "provisioned") s.device.state = await this.registry.activate(s.device.id);
    if (s.device.state === "revoked") {
      // R-REV-1: answer with an authenticated Revoke, then drop the connection.
      this.refuse(s, "REVOKED", { kind: "hello" });
      this.sendDown(s, { revoke: { reason: "device revoked by the station" } });
      setTimeout(() => this.out.disconnect(s.connId), 200);
      return;
    }
    await this.history(s, lastSealed, h.lastSealValue, s.held);
    await this.finalise(s);
    await this.resumeUndone(s.device);
    for (const x of held) {
      const r = await this.rec(s.device, x.recording);
      // R-VER-10: what the device no longer holds below its first held seq is lost. A device
      // holding no chunk of it (firstSeq 0) holds none up to its last seq.
      const from = x.firstSeq || x.lastSeq + 1;
      if (from > r.verifier.linkedUpTo() + 1 && x.lastSeq > 0) {
        const res = r.verifier.lostBelow(from);
        await this.outcome(s, r, res, () => new Uint8Array(0));
        if (!res.linked.length && !res.confirmed) this.commit(r, {});
      } else this.ack(s, r);
    }
    this.beacon(s);
    if (!s.beaconTimer && !s.closed && this.opts.beaconIntervalS > 0) s.beaconTimer = setInterval(() => this.beacon(s), this.opts.beaconIntervalS * 1000);
  }

  /**
   * R-VER-9: recording ids missing from what the gateway holds, below the highest it holds or the
   * device's last sealed, and not held by the device, were deleted or lost on the device: one
   * alarm naming them as ranges. A last seal value that differs from the stored one means the
   * device's history was rewritten.
   */
  private async history(s: Session, lastSealed: number, lastSealValue: Uint8Array, held: Set<number>): Promise<void> {
    const upTo = Math.max(lastSealed, await this.top(s.device.id));
    if (upTo < 1) return;
    const gone = without(await store.recordingGaps(this.db, s.device.id, upTo), held);
    // Awaited: the alarms a Hello raises are recorded before the Hello is answered.
    if (gone.length) await this.alarm("RECORDING_MISSING", s.device.id, undefined, { key: "recordingsMissing", args: { ranges: ranges(gone) } });
    if (!lastSealed || !lastSealValue || !lastSealValue.length) return;
    const stored = await this.trustedSeal(s.device, lastSealed);
    if (stored && !Buffer.from(stored).equals(Buffer.from(lastSealValue))) await this.alarm("EQUIVOCATION", s.device.id, lastSealed, { key: "lastSealDiffers", args: {} });
  }

  /**
   * R-VER-10: an incomplete recording the device no longer holds any part of will not get
   * better: its verdict becomes final (LOST_ON_DEVICE), and the chunks after a loss are linked
   * among themselves so every check that can still be made is made.
   */
  private async finalise(s: Session): Promise<void> {
    for (const rec of await store.openIncomplete(this.db, s.device.id)) {
      if (s.held.has(rec)) continue;
      const r = await this.rec(s.device, rec);
      const res = r.verifier.finish();
      this.account(r);
      this.commit(r, { start: res.confirmed, linked: res.linked });
    }
  }

  /**
   * What a device said of itself (store.DeviceNote), kept through the group commit, in order with
   * its recordings' commits and, in a cluster, behind the partition's fence. False, and refused
   * (FENCED, or STORE_FAILED), if it was not kept.
   */
  private async note(s: Session, n: store.DeviceNote): Promise<boolean> {
    try {
      await this.committer.submit({ device: n.device, sql: (db) => store.noteDevice(db, n), together: { statements: store.deviceNotesTogether, item: n } });
      return true;
    } catch (e) {
      this.refuse(s, e instanceof FencedError ? "FENCED" : "STORE_FAILED", { kind: "hello" in n ? "hello" : "status", err: String(e) });
      return false;
    }
  }

  /**
   * Clip → case by the tag the recorder sent (a custody event in the model); never blocks ingest.
   * The commit that carried the tag marked the link as waiting (store.tagLinkPending); once made,
   * or refused for good, it no longer waits. One cut short by the process's end is made at the
   * next start (resumeTagLinks), or when the device next says Hello or its session is taken over
   * (resumeUndone). `again`: asked by such a pass, which leaves alone a link this process is making
   * or will try again.
   */
  private linkByTag(device: string, recording: number, again = false): void {
    const link = this.opts.linkByTag;
    const key = `${device}/${recording}`;
    if (!link || (again && this.tagLinking.has(key))) return;
    this.tagLinking.add(key);
    this.afterCommit("case link by tag", { device, recording }, async () => {
      try {
        const asked = await store.tagLinkPending(this.db, device, recording);
        if (asked !== null) {
          await link(device, recording);
          await store.tagLinkDone(this.db, device, recording, asked);
        }
        this.tagLinking.delete(key);
      } catch (e) {
        // Kept while it waits to be tried again; let go once it won't be (afterCommit).
        if (!storeUnavailable(e)) this.tagLinking.delete(key);
        throw e;
      }
    });
  }

  /** Case links by tag an earlier run left unmade (store.pendingTagLinks), all asked again, read `page` at a time; how many. */
  async resumeTagLinks(page = UNDONE_PAGE): Promise<number> {
    if (!this.opts.linkByTag) return 0;
    let n = 0;
    for await (const row of pages((after, n) => store.pendingTagLinks(this.db, n, { after }), page)) {
      this.linkByTag(row.device_id, row.recording_id, true);
      n++;
    }
    return n;
  }

  private async status(s: Session, c: Control, reached: number): Promise<void> {
    if (!checkControl(sha, s.device.keys.controlKey, CONTROL_STATUS, deviceIdBytes(s.device.id), c.body, c.tag)) return this.refuse(s, "CONTROL_TAG", { kind: "status" });
    let st: Status;
    try { st = decodeAs("Status", c.body); } catch (e) { return this.refuse(s, (e as CodecError).code, { kind: "status" }); }
    // The last heartbeat, as the device said it (R-MSG-7): clock offset, queue depth, battery, alarm.
    // Not awaited: a heartbeat does not hold up the chunks behind it for a commit. Its live event
    // follows its commit, as a recording's does: a console that reads the fleet after an event
    // (its live stream just opened) reads what the event said, never the row before it. Online as
    // the device is then: one that said its last Status and went is not shown online again.
    const id = s.device.id;
    void this.note(s, { device: id, at: reached, status: { ...st, receivedAt: reached } }).then((stored) => {
      if (stored && this.opts.live) this.opts.live({ type: "device", id, at: Date.now(), online: this.online(id), lastSeen: reached, status: { ...st, receivedAt: reached } });
    });
    if (typeof st.clockOffsetMs === "number" && st.clockOffsetMs !== 0) this.clocks.offset(s.device.id, st.clockOffsetMs);
    if (st.alarm) void this.alarm("DEVICE_ALARM", s.device.id, undefined, { key: "deviceAlarm", args: { error: String(st.lastError || "unspecified"), free: String(st.storageFree), queue: String(st.queueDepth) } });
  }

  private async start(s: Session, m: StartMsg, reached: number): Promise<void> {
    if (!(m.genesis instanceof Uint8Array) || m.genesis.length !== GENESIS_LEN) return this.refuse(s, "BLOCK_SIZE", { field: "genesis" });
    const recording = parseGenesis(m.genesis).recordingId;
    if (!(await this.inWindow(s, recording, "start"))) return;
    const r = await this.rec(s.device, recording);
    if (!r.startStored && (r.startReached === undefined || reached < r.startReached)) r.startReached = reached;
    await this.outcome(s, r, r.verifier.start(m), () => encode("RecordingStart", { ...m }));
  }

  private async chunk(s: Session, m: ChunkMsg, arrived: number, reached: number): Promise<void> {
    if (!(m.header instanceof Uint8Array) || m.header.length !== HEADER_LEN) return this.refuse(s, "BLOCK_SIZE", { field: "header" });
    // The header's fields through protocol/blocks.ts, the one place that knows their offsets.
    const h = parseHeader(m.header);
    const recording = h.recordingId;
    const seq = h.seq;
    // The common case, a recording in memory of a device whose highest recording is known, takes
    // no turn of the promise queue (each is an allocation and a tick, per chunk).
    const inside = this.inWindow(s, recording, "chunk");
    if (!(typeof inside === "boolean" ? inside : await inside)) return;
    const r = this.inMemory(s.device, recording) || await this.rec(s.device, recording);
    // A seq already committed: the chain value of its stored header decides duplicate or
    // equivocation (R-VER-6), once the stored tag shows the stored header is still the device's.
    let stored: Uint8Array | null = null;
    if (seq >= 1 && seq <= r.settled && !r.history.get(seq)) {
      const row = await store.storedChunk(this.db, r.device, recording, seq);
      if (row) {
        if (!r.verifier.vouches(seq, row.header, row.tag)) {
          await this.alarm("STORAGE_CORRUPT", r.device, recording, { key: "storedChunkCorrupt", args: { seq } });
          return this.refuse(s, "STORAGE_CORRUPT", { recording, seq });
        }
        stored = this.cc.chunkValue(row.header);
      }
    }
    // R-ACK-5 over all recordings: a chunk that would wait out of order is refused when the buffers are full.
    if (this.buffered >= (this.opts.maxBufferedBytes || 256 * 1048576) && r.verifier.nextSeq() !== seq && !stored) {
      return this.refuse(s, "BUFFER_FULL", { recording, seq, bufferedBytes: this.buffered });
    }
    const ref: LinkRef = { payload: m.payload, header: m.header, tag: m.tag, flags: h.flags, timeMs: h.timeMs, durationMs: h.durationMs, receivedAt: arrived, reachedAt: reached };
    const res = r.verifier.chunk(m, ref, stored);
    if (res.status === "duplicate") this.stats.duplicates++;
    const slow = this.outcome(s, r, res, () => encode("Chunk", { ...m }));
    if (slow) await slow;
  }

  private async seal(s: Session, m: SealMsg): Promise<void> {
    if (!(m.block instanceof Uint8Array) || m.block.length !== SEAL_LEN) return this.refuse(s, "BLOCK_SIZE", { field: "seal" });
    const recording = parseSeal(m.block).recordingId;
    if (!(await this.inWindow(s, recording, "seal"))) return;
    const r = await this.rec(s.device, recording);
    if (!r.verifier.canSeal(m.block)) {
      // No start held or on its way: the device is told (ACK_UNKNOWN) and sends start, chunks, seal again.
      this.refuse(s, "NO_START", { recording });
      return this.ack(s, r);
    }
    const res = r.verifier.seal(m);
    if (res.status === "duplicate") {
      // Its commit is in flight (its completion answers) or done; a seal accepted but neither is
      // impossible (a failed commit drops the state), and would be committed here.
      if (!r.sealStored && !r.sealInflight) return this.commit(r, { seal: m });
      return this.ack(s, r);
    }
    await this.outcome(s, r, res, () => encode("Seal", { ...m }), res.status === "sealed" ? m : undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
    await this.linkPass;
    for (const id of [...this.sessions.keys()]) this.disconnected(id);
    await this.committer.flush();
  }
}

function ignore(): void {}

/**
 * Every recording a paged store read finds, read `page` at a time, each read resuming after the
 * last key of the one before: a row handled meanwhile (its link checked, so no longer found) does
 * not shift the next page, and one that stays undone is not read again.
 */
async function* pages(read: (after: store.RecordingKey | undefined, page: number) => Promise<store.RecordingKey[]>, page = UNDONE_PAGE): AsyncGenerator<store.RecordingKey> {
  let after: store.RecordingKey | undefined;
  for (;;) {
    const rows = await read(after, page);
    yield* rows;
    if (rows.length < page) return;
    after = rows[rows.length - 1];
  }
}

/**
 * What an Ack of `r` says now, or -1 when nothing may be said: while a commit that would create
 * its start is in flight, that commit's completion answers (an ACK_UNKNOWN then would make the
 * device send everything again).
 */
function ackState(r: RecordingIngest): number {
  if (r.sealStored) return AckState.ACK_SEALED;
  if (r.startStored) return AckState.ACK_OPEN;
  if (r.startInflight || (r.rowSubmitted && r.busy())) return -1;
  return AckState.ACK_UNKNOWN;
}

/** Forget a connection's Acks, sent and waiting (it closed, or a new Hello began a new session). */
function dropAcks(s: Session): void {
  for (const a of s.acks.values()) {
    if (a.timer) clearTimeout(a.timer);
    a.soon = false;
  }
  s.acks.clear();
}
