// The ingest pipeline (RULES.md, protocol/SPEC.md section 9): identity → decode → schema → verify (protocol/) →
// durable commit → authenticated Ack. One queue per device connection, so a device's messages
// are handled in order and one device never waits on another's.
import { randomBytes } from "node:crypto";
import { decode, encode, which } from "../../protocol/codec.js";
import type { CodecError } from "../../protocol/codec.js";
import { DownlinkSigner, checkControl } from "../../protocol/downlink.js";
import { deviceIdBytes, encodeAckBlock } from "../../protocol/blocks.js";
import { ChainCrypto } from "../../protocol/chain.js";
import { CONTROL_HELLO, CONTROL_STATUS, HEADER_LEN, NONCE_LEN, SCHEMA_VERSION, SCHEMA_VERSION_1 } from "../../protocol/constants.js";
import { AckState } from "../../protocol/schema.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import type { Reason } from "../../protocol/reasons.js";
import type { Db } from "../store/db.js";
import type { MediaStore } from "../store/media.js";
import type { DeviceRegistry, Device } from "../devices.js";
import type { Logger } from "../log.js";
import type { GroupCommitter } from "./commit.js";
import { RecordingIngest } from "./recording.js";
import type { LinkRef } from "./recording.js";

/** How the pipeline talks back: publish on the device's downlink topic, or drop the connection. */
export interface Downlink {
  send(deviceId: string, bytes: Uint8Array): void;
  disconnect(connId: string): void;
}

interface Session {
  connId: string;
  device: Device;
  closed: boolean;
  signer: DownlinkSigner | null;
  queue: Promise<void>;
  beaconTimer: NodeJS.Timeout | null;
  /** The last Ack sent per recording on this connection, and a coalesced one waiting (ackIntervalMs). */
  acks: Map<number, { at: number; state: number; timer: NodeJS.Timeout | null }>;
  /** The schema of this connection's Hello, which its downlink answers in (R-ENV-1); 0 before Hello. */
  schema?: number;
}

export class Ingest {
  private sessions = new Map<string, Session>();
  private cc = new ChainCrypto(sha);
  private recordings = new Map<string, RecordingIngest>();
  /** Counters for the API and tests. */
  stats = { chunks: 0, duplicates: 0, refused: 0, failed: 0, acks: 0 };
  /** Set while the disk is below its threshold: nothing is acknowledged (R-ACK-6). */
  diskLow = false;

  constructor(
    private db: Db,
    private media: MediaStore,
    private registry: DeviceRegistry,
    private committer: GroupCommitter,
    private out: Downlink,
    private log: Logger,
    private opts: { beaconIntervalS: number; ackIntervalMs?: number; refuse: (code: string, f: Record<string, unknown>) => void; alarm?: (kind: string, subject: string, detail: string) => void | Promise<void>; linkByTag?: (device: string, recording: number) => Promise<unknown> },
  ) {}

  /**
   * The session of a connection, made on its first message. Its queue starts with the device
   * lookup, so a client that publishes right after CONNACK loses nothing to the lookup.
   */
  private session(connId: string, deviceId: string): Session {
    let s = this.sessions.get(connId);
    if (!s) {
      const made: Session = { connId, device: null as unknown as Device, closed: false, signer: null, queue: Promise.resolve(), beaconTimer: null, acks: new Map() };
      made.queue = this.registry.get(deviceId).then((d) => {
        if (!d) throw new Error("device " + deviceId + " vanished from the registry");
        made.device = d;
      });
      this.sessions.set(connId, made);
      s = made;
    }
    return s;
  }

  disconnected(connId: string): void {
    const s = this.sessions.get(connId);
    if (!s) return;
    s.closed = true;
    if (s.beaconTimer) clearInterval(s.beaconTimer);
    s.beaconTimer = null;
    for (const a of s.acks.values()) if (a.timer) clearTimeout(a.timer);
    s.acks.clear();
    this.sessions.delete(connId);
    // The signer is released once the messages already queued are handled.
    void s.queue.then(() => { if (s.signer) s.signer.destroy(); });
  }

  /** An uplink message from a connection; handled after the ones before it. */
  message(connId: string, deviceId: string, payload: Uint8Array): Promise<void> {
    const s = this.session(connId, deviceId);
    s.queue = s.queue.then(() => this.handle(s, payload)).catch((e) => {
      this.log.error({ err: String((e as Error).stack || e), device: s.device.id }, "ingest error");
    });
    return s.queue;
  }

  private refuse(s: Session, code: string, f: Record<string, unknown> = {}): void {
    this.stats.refused++;
    this.opts.refuse(code, { device: s.device.id, ...f });
  }

  private async handle(s: Session, payload: Uint8Array): Promise<void> {
    let up: Record<string, unknown>;
    try {
      up = decode("Uplink", payload);
    } catch (e) {
      return this.refuse(s, (e as CodecError).code || "DECODE_TRUNCATED", { detail: (e as Error).message });
    }
    if (up.schema !== SCHEMA_VERSION && up.schema !== SCHEMA_VERSION_1) return this.refuse(s, "SCHEMA_VERSION", { schema: up.schema });
    const kind = which(up, "Uplink");
    if (!kind) return this.refuse(s, "DECODE_EMPTY");
    if (kind === "hello") return this.hello(s, up.hello as { body: Uint8Array; tag: Uint8Array }, up.schema as number);
    if (!s.signer) return this.refuse(s, "HELLO_REQUIRED", { kind });
    if (s.device.state === "revoked") return this.refuse(s, "REVOKED", { kind });
    if (kind === "status") return this.status(s, up.status as { body: Uint8Array; tag: Uint8Array });
    // R-ACK-6: below the disk threshold media is neither verified nor stored nor acknowledged;
    // the device keeps it and sends it again once space returns.
    if (this.diskLow) return this.refuse(s, "DISK_LOW", { kind });
    if (kind === "start") return this.start(s, up.start as { genesis: Uint8Array; caseTag: string });
    if (kind === "chunk") return this.chunk(s, up.chunk as { header: Uint8Array; payload: Uint8Array; tag: Uint8Array });
    return this.seal(s, up.seal as { block: Uint8Array; tag: Uint8Array; caseTag: string });
  }

  private sendDown(s: Session, body: Record<string, unknown>): void {
    if (!s.signer) return;
    const b = encode("DownBody", body);
    const m = s.signer.sign(b);
    this.out.send(s.device.id, encode("Downlink", { schema: s.schema || SCHEMA_VERSION, counter: m.counter, body: b, mac: m.mac }));
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
   * Acknowledge what is durable of a recording (R-ACK-1, R-ACK-2). While a recording is open, Acks
   * on one connection are coalesced: at most one per `ackIntervalMs`, the later ones folded into one
   * sent when the interval is up, with the cumulative seq of that moment. A board spends more on
   * each Ack (decode, MAC, an Ack record in its queue) than on the chunk it covers, and its window
   * waits on PUBACKs, not on Acks. The first Ack of a recording on a connection (the answer to
   * Hello, R-ACK-3) and one that changes its state go at once.
   */
  private ack(s: Session, r: RecordingIngest): void {
    if (this.diskLow || s.closed) return;
    const state = !r.startDurable ? AckState.ACK_UNKNOWN : r.sealDurable ? AckState.ACK_SEALED : AckState.ACK_OPEN;
    const last = s.acks.get(r.recording);
    const now = Date.now();
    const gap = this.opts.ackIntervalMs || 0;
    if (last && state === AckState.ACK_OPEN && last.state === state && now - last.at < gap) {
      if (!last.timer) last.timer = setTimeout(() => { last.timer = null; last.at = 0; this.ack(s, r); }, gap - (now - last.at));
      return;
    }
    if (last && last.timer) clearTimeout(last.timer);
    s.acks.set(r.recording, { at: now, state, timer: null });
    this.stats.acks++;
    const a = { recording: r.recording, state, cumulative: r.durableSeq };
    // Schema 2 reads the Ack as a fixed-layout block (R-ACKB-1); a schema-1 device as the protobuf Ack.
    this.sendDown(s, s.schema === SCHEMA_VERSION_1 ? { ack: a } : { ackBlock: encodeAckBlock(a) });
  }

  private beacon(s: Session): void {
    this.sendDown(s, { beacon: { timeMs: Date.now(), nonce: randomBytes(NONCE_LEN) } });
  }

  private async rec(s: Session, recording: number): Promise<RecordingIngest> {
    const key = `${s.device.id}/${recording}`;
    let r = this.recordings.get(key);
    if (!r) {
      r = await RecordingIngest.load(this.db, this.media, s.device, recording);
      this.recordings.set(key, r);
    }
    return r;
  }

  private async hello(s: Session, c: { body: Uint8Array; tag: Uint8Array }, schema: number): Promise<void> {
    const dev = deviceIdBytes(s.device.id);
    if (!c || !checkControl(sha, s.device.keys.controlKey, CONTROL_HELLO, dev, c.body, c.tag)) return this.refuse(s, "CONTROL_TAG", { kind: "hello" });
    let h: Record<string, unknown>;
    try { h = decode("Hello", c.body); } catch (e) { return this.refuse(s, (e as CodecError).code, { kind: "hello" }); }
    const nonce = h.nonce as Uint8Array;
    if (nonce.length !== NONCE_LEN) return this.refuse(s, "BLOCK_SIZE", { field: "hello.nonce" });
    if (s.signer) s.signer.destroy();
    s.signer = new DownlinkSigner(sha, s.device.keys.downlinkKey, dev, nonce);
    s.schema = schema;
    await this.db.run("UPDATE devices SET last_seen = ?, last_hello = ? WHERE id = ?", [Date.now(), JSON.stringify({ firmware: h.firmware, lastSealed: h.lastSealed, nextRecording: h.nextRecording }), s.device.id]);
    if (s.device.state === "revoked") {
      // R-REV-1: answer with an authenticated Revoke, then drop the connection.
      this.refuse(s, "REVOKED", { kind: "hello" });
      this.sendDown(s, { revoke: { reason: "device revoked by the station" } });
      setTimeout(() => this.out.disconnect(s.connId), 200);
      return;
    }
    if (s.device.state === "provisioned") await this.registry.setState(s.device.id, "active");
    const heldIds = (h.held as { recording: number }[]).map((x) => x.recording);
    await this.missingRecordings(s, h.lastSealed as number, h.lastSealValue as Uint8Array, heldIds);
    await this.finalise(s, heldIds);
    for (const held of h.held as { recording: number; firstSeq: number; lastSeq: number; sealed: boolean }[]) {
      const r = await this.rec(s, held.recording);
      // R-VER-10: what the device no longer holds below its first held seq is lost.
      const skipped = held.firstSeq > r.durableSeq + 1 && r.startDurable ? r.verifier.skipTo(held.firstSeq).linked : [];
      if (skipped.length) void this.linked(s, r, skipped);
      else this.ack(s, r);
    }
    this.beacon(s);
    if (!s.beaconTimer && !s.closed && this.opts.beaconIntervalS > 0) s.beaconTimer = setInterval(() => this.beacon(s), this.opts.beaconIntervalS * 1000);
  }

  /**
   * R-VER-9: recordings the device says it sealed, that it no longer holds and that never
   * arrived were deleted or lost on the device; a seal value that differs from the stored one
   * means the device's history was rewritten. Either raises an alarm.
   */
  private async missingRecordings(s: Session, lastSealed: number, lastSealValue: Uint8Array, held: number[]): Promise<void> {
    if (!lastSealed || !this.opts.alarm) return;
    const known = await this.db.all<{ recording_id: number; seal_value: Buffer | null }>("SELECT recording_id, seal_value FROM recordings WHERE device_id = ? AND recording_id <= ?", [s.device.id, lastSealed]);
    const have = new Map(known.map((k) => [k.recording_id, k.seal_value]));
    const gone: number[] = [];
    for (let r = 1; r <= lastSealed; r++) if (!have.has(r) && !held.includes(r)) gone.push(r);
    // Awaited: the alarms a Hello raises are recorded before the Hello is answered.
    if (gone.length) await this.opts.alarm("RECORDING_MISSING", s.device.id, `recordings ${gone.join(",")} sealed on the device, no longer held, never received`);
    const stored = have.get(lastSealed);
    if (stored && lastSealValue.length && !Buffer.from(stored).equals(Buffer.from(lastSealValue))) await this.opts.alarm("EQUIVOCATION", `${s.device.id}/${lastSealed}`, "the device's last seal value differs from the stored seal");
  }

  /**
   * R-VER-10: an incomplete recording the device no longer holds any part of will not get
   * better: its verdict becomes final (LOST_ON_DEVICE), and the chunks after a loss are linked
   * among themselves so every check that can still be made is made.
   */
  private async finalise(s: Session, held: number[]): Promise<void> {
    const open = await this.db.all<{ recording_id: number }>("SELECT recording_id FROM recordings WHERE device_id = ? AND verdict = 'incomplete' AND final = 0", [s.device.id]);
    for (const { recording_id: rec } of open) {
      if (held.includes(rec)) continue;
      const r = await this.rec(s, rec);
      await this.linked(s, r, r.verifier.finish().linked);
      const rep = r.verifier.report();
      await this.committer.submit({ sql: (db) => db.run("UPDATE recordings SET verdict = ?, final = ?, reasons = ? WHERE device_id = ? AND recording_id = ?",
        [rep.verdict, rep.final ? 1 : 0, JSON.stringify(rep.reasons), s.device.id, rec]).then(() => undefined) });
    }
  }

  /** Clip → case by the tag the recorder sent (a custody event in the model); never blocks ingest. */
  private linkByTag(s: Session, recording: number): void {
    if (!this.opts.linkByTag) return;
    this.opts.linkByTag(s.device.id, recording).catch((e) => this.log.warn({ device: s.device.id, recording, err: String(e) }, "case link by tag failed"));
  }

  private async status(s: Session, c: { body: Uint8Array; tag: Uint8Array }): Promise<void> {
    if (!checkControl(sha, s.device.keys.controlKey, CONTROL_STATUS, deviceIdBytes(s.device.id), c.body, c.tag)) return this.refuse(s, "CONTROL_TAG", { kind: "status" });
    let st: Record<string, unknown>;
    try { st = decode("Status", c.body); } catch (e) { return this.refuse(s, (e as CodecError).code, { kind: "status" }); }
    // The last heartbeat, as the device said it (R-MSG-7): clock offset, queue depth, battery, alarm.
    const kept = { ...st, receivedAt: Date.now() };
    await this.db.run("UPDATE devices SET last_seen = ?, last_status = ? WHERE id = ?", [Date.now(), JSON.stringify(kept), s.device.id]);
    if (st.alarm && this.opts.alarm) this.opts.alarm("DEVICE_ALARM", s.device.id, `device reports an alarm: ${String(st.lastError || "unspecified")} (storage free ${String(st.storageFree)} B, queue ${String(st.queueDepth)} chunks)`);
  }

  private async start(s: Session, m: { genesis: Uint8Array; caseTag: string }): Promise<void> {
    if (m.genesis.length < 24) return this.refuse(s, "BLOCK_SIZE", { field: "genesis" });
    const recording = new DataView(m.genesis.buffer, m.genesis.byteOffset).getUint32(20);
    const r = await this.rec(s, recording);
    const res = r.verifier.start({ genesis: m.genesis, caseTag: m.caseTag });
    if (res.status === "rejected") return this.refuse(s, res.reasons[0].code, { recording });
    if (res.status === "duplicate") return this.ack(s, r);
    if (res.status === "failed") await this.evidence(s, recording, 0, res.reasons, encode("RecordingStart", m));
    if (!r.known) {
      r.known = true;
      const now = Date.now();
      const g = new DataView(m.genesis.buffer, m.genesis.byteOffset);
      const c0 = this.cc.genesisValue(m.genesis);
      await this.committer.submit({ sql: (db) => db.run(
        "INSERT INTO recordings (device_id, recording_id, genesis, c0, case_tag, start_ms, pre_event_ms, media_path, first_received, last_received, last_chain, device_lost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [s.device.id, recording, m.genesis, c0, m.caseTag, g.getUint32(24) * 4294967296 + g.getUint32(28), g.getUint32(32), r.mediaPath, now, now, c0, s.device.state === "lost" ? 1 : 0]).then(() => undefined) });
      r.startDurable = true;
      if (m.caseTag) this.linkByTag(s, recording);
    }
    if (res.linked.length) void this.linked(s, r, res.linked);
    else this.ack(s, r);
  }

  private async chunk(s: Session, m: { header: Uint8Array; payload: Uint8Array; tag: Uint8Array }): Promise<void> {
    if (m.header.length !== HEADER_LEN) return this.refuse(s, "BLOCK_SIZE", { field: "header" });
    const hv = new DataView(m.header.buffer, m.header.byteOffset);
    const recording = hv.getUint32(20);
    const seq = hv.getUint32(24);
    const r = await this.rec(s, recording);
    if (seq >= 1 && seq <= r.durableSeq && !r.history.inflight.has(seq)) {
      const row = await this.db.get<{ chain: Buffer }>("SELECT chain FROM chunks WHERE device_id = ? AND recording_id = ? AND seq = ?", [s.device.id, recording, seq]);
      r.history.fetched = row ? { seq, chain: new Uint8Array(row.chain) } : null;
    }
    const ref: LinkRef = { payload: m.payload, header: m.header, tag: m.tag, flags: m.header[2], timeMs: hv.getUint32(28) * 4294967296 + hv.getUint32(32), durationMs: hv.getUint32(36) };
    const res = r.verifier.chunk(m, ref);
    r.history.fetched = null;
    if (res.status === "rejected") return this.refuse(s, res.reasons[0].code, { recording, seq });
    if (res.status === "duplicate") {
      this.stats.duplicates++;
      return this.ack(s, r);
    }
    if (res.status === "failed" || res.status === "equivocation") {
      this.stats.failed++;
      await this.evidence(s, recording, seq, res.reasons, encode("Chunk", m));
    }
    for (const d of res.dropped) await this.evidence(s, recording, d.seq, [d.reason], encode("Chunk", { header: d.ref.header, payload: d.ref.payload, tag: d.ref.tag }));
    if (res.linked.length) void this.linked(s, r, res.linked);
  }

  /**
   * Make linked chunks durable (media at their offsets, rows, the recording's chain state) and
   * acknowledge them once committed. The device's queue does not wait for the commit: it goes
   * on verifying, so a batch holds many chunks per device. Commits complete in submission order,
   * so Acks go out in order and never ahead of the disk (R-ACK-1).
   */
  private linked(s: Session, r: RecordingIngest, linked: { seq: number; ref: LinkRef; chain: Uint8Array }[]): Promise<void> {
    if (!linked.length) return Promise.resolve();
    const media: { path: string; offset: number; bytes: Uint8Array }[] = [];
    const rows: unknown[][] = [];
    const now = Date.now();
    for (const l of linked) {
      media.push({ path: r.mediaPath, offset: r.offset, bytes: l.ref.payload });
      rows.push([s.device.id, r.recording, l.seq, l.ref.header, l.ref.tag, l.chain, l.ref.flags, l.ref.timeMs, l.ref.durationMs, l.ref.payload.length, r.offset, now]);
      r.offset += l.ref.payload.length;
    }
    const rep = r.verifier.report();
    const last = linked[linked.length - 1];
    const done = this.committer.submit({
      media,
      sql: async (db) => {
        for (const row of rows) await db.run("INSERT OR IGNORE INTO chunks (device_id, recording_id, seq, header, tag, chain, flags, time_ms, duration_ms, length, media_offset, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row as never);
        await db.run("UPDATE recordings SET linked_seq = ?, last_chain = ?, total_bytes = ?, last_time_ms = ?, end_ms = ?, verdict = ?, final = ?, reasons = ?, last_received = ? WHERE device_id = ? AND recording_id = ?",
          [last.seq, last.chain, rep.totalBytes, last.ref.timeMs, rep.lastTimeMs, rep.verdict, rep.final ? 1 : 0, JSON.stringify(rep.reasons), now, s.device.id, r.recording]);
      },
    });
    return done.then(() => {
      this.stats.chunks += linked.length;
      for (const l of linked) r.history.inflight.delete(l.seq);
      if (last.seq > r.durableSeq) r.durableSeq = last.seq;
      this.ack(s, r);
    }, (e) => {
      // Not acknowledged: the device keeps the chunks and resends them (P4).
      this.refuse(s, "STORE_FAILED", { recording: r.recording, seq: last.seq, err: String(e) });
    });
  }

  private async seal(s: Session, m: { block: Uint8Array; tag: Uint8Array; caseTag: string }): Promise<void> {
    if (m.block.length < 24) return this.refuse(s, "BLOCK_SIZE", { field: "seal" });
    const recording = new DataView(m.block.buffer, m.block.byteOffset).getUint32(20);
    const r = await this.rec(s, recording);
    const res = r.verifier.seal(m);
    if (res.status === "rejected") return this.refuse(s, res.reasons[0].code, { recording });
    if (res.status === "duplicate") return this.ack(s, r);
    if (res.status === "equivocation" || (res.status === "failed" && res.reasons.length)) {
      // A seal that fails its own checks is evidence, never the recording's seal: it must not
      // overwrite a stored genuine seal, and it is not acknowledged.
      this.stats.failed++;
      await this.evidence(s, recording, -1, res.reasons, encode("Seal", m));
      return;
    }
    // "failed" with no reason of its own: the recording failed earlier (an equivocating chunk) and
    // this seal checks out: store it and acknowledge it, so the device can free the recording.
    if (!r.startDurable) return;
    const rep = r.verifier.report();
    await this.committer.submit({ sql: (db) => db.run(
      "UPDATE recordings SET seal_block = ?, seal_tag = ?, seal_case_tag = ?, seal_value = ?, interrupted = ?, verdict = ?, final = ?, reasons = ?, last_received = ? WHERE device_id = ? AND recording_id = ?",
      [m.block, m.tag, m.caseTag, rep.sealValue, rep.interrupted ? 1 : 0, rep.verdict, rep.final ? 1 : 0, JSON.stringify(rep.reasons), Date.now(), s.device.id, recording]).then(() => undefined) });
    r.sealDurable = true;
    if (m.caseTag) this.linkByTag(s, recording);
    this.ack(s, r);
  }

  /** Keep a message that failed a check, as evidence, and flag the recording (R-VER-6). */
  private async evidence(s: Session, recording: number, seq: number, reasons: Reason[], bytes: Uint8Array): Promise<void> {
    const codes = reasons.map((x) => x.code).join(",");
    this.log.warn({ device: s.device.id, recording, seq, reasons: codes }, "verification failed");
    if (this.opts.alarm) this.opts.alarm(codes.includes("EQUIVOCATION") ? "EQUIVOCATION" : "FAILED_VERDICT", `${s.device.id}/${recording}`, `seq ${seq}: ${codes}`);
    const r = this.recordings.get(`${s.device.id}/${recording}`);
    const rep = r ? r.verifier.report() : null;
    await this.committer.submit({
      sql: async (db) => {
        await db.run("INSERT INTO evidence (device_id, recording_id, seq, reason, message, received_at) VALUES (?, ?, ?, ?, ?, ?)", [s.device.id, recording, seq, codes, bytes, Date.now()]);
        if (rep) await db.run("UPDATE recordings SET verdict = ?, final = ?, reasons = ? WHERE device_id = ? AND recording_id = ?", [rep.verdict, rep.final ? 1 : 0, JSON.stringify(rep.reasons), s.device.id, recording]);
      },
    });
  }

  async close(): Promise<void> {
    for (const id of [...this.sessions.keys()]) this.disconnected(id);
    await this.committer.flush();
  }
}
