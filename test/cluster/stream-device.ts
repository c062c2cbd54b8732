// A recorder for cluster tests: streams its recordings through any of the cluster's MQTT listeners
// with a window of messages in flight, resends what is not Acked, and when its connection drops
// (a NATS node killed) connects to the next listener and says Hello with what it still holds, as
// the firmware does. It counts only Acks whose downlink MAC and counter it accepts.
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { randomBytes } from "node:crypto";
import { FakeDevice } from "../gateway/fake-device.js";
import { decode, encode } from "../../protocol/codec.js";
import { parseAckBlock } from "../../protocol/blocks.js";
import { loginPassword } from "../../protocol/chain.js";
import { tagControl } from "../../protocol/downlink.js";
import { CONTROL_HELLO } from "../../protocol/constants.js";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";

const bounded = <T>(p: Promise<T>, ms: number): Promise<T> => new Promise((ok, fail) => {
  const t = setTimeout(() => fail(new Error(`no answer in ${ms} ms`)), ms);
  p.then((v) => { clearTimeout(t); ok(v); }, (e) => { clearTimeout(t); fail(e); });
});

interface Rec { recording: number; start: Uint8Array; chunks: Uint8Array[]; seal: Uint8Array; payloads: Uint8Array[]; cumulative: number; startAcked: boolean; sealed: boolean }
interface Sent { at: number; tries: number }

/**
 * A recording the device may free: its seal stored (ACK_SEALED) and every chunk covered (R-ACK-2).
 * A seal can be stored before chunks it follows (a commit of them failed): those are sent again.
 */
const covered = (r: Rec) => r.sealed && r.cumulative >= r.chunks.length;

export class StreamDevice {
  fake: FakeDevice;
  recs: Rec[] = [];
  client: MqttClient | null = null;
  connects = 0;
  resends = 0;
  /** Connection tries that failed, by their error's message (a close before the CONNACK among them). */
  failedTries = new Map<string, number>();
  rejectedDownlinks = 0;
  /** Acks accepted (MAC and counter good). */
  acks = 0;
  /** Hellos said again because the gateway's downlinks kept using another nonce. */
  helloAgain = 0;
  /** Why each downlink refused was refused. */
  refusals: string[] = [];
  /**
   * A downlink was accepted since this device's last Hello (every Hello is answered, with a beacon
   * at least): a worker knows the session the device is in.
   */
  answered = false;
  /** Time beacons accepted: every Hello is answered with one. */
  beacons = 0;
  private macRefusedInRow = 0;
  private sent = new Map<string, Sent>();
  private portIndex: number;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private connecting = false;

  constructor(id: string, root: Uint8Array, private ports: number[], recordings: number, chunks: number, chunkBytes: number, first: number, private window = 8, private resendMs = 2000,
    /** Each recording's start and seal carry this case tag. */
    opts: { caseTag?: string } = {}) {
    this.fake = new FakeDevice(id, root);
    this.portIndex = first % ports.length;
    let prevSeal: Uint8Array | undefined;
    for (let r = 1; r <= recordings; r++) {
      const payloads = Array.from({ length: chunks }, () => randomBytes(chunkBytes));
      // Each recording's genesis names the seal before it (R-VER-1).
      const m = this.fake.recording(r, payloads, { prevSeal, caseTag: opts.caseTag });
      prevSeal = m.sealValue;
      this.recs.push({ recording: r, start: m.start, chunks: m.chunks, seal: m.seal, payloads, cumulative: 0, startAcked: false, sealed: false });
    }
  }

  get id(): string { return this.fake.id; }
  get done(): boolean { return this.recs.every(covered); }
  /** Chunks the gateway has Acked (cumulatively), over all recordings. */
  get acked(): number { return this.recs.reduce((a, r) => a + r.cumulative, 0); }

  async start(): Promise<void> {
    await this.connect();
    this.timer = setInterval(() => this.pump(), 50);
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.connecting) return;
    this.connecting = true;
    try {
      for (;;) {
        const port = this.ports[this.portIndex % this.ports.length];
        let c: MqttClient | null = null;
        try {
          // `false`: a connection the server closes before its CONNACK rejects. Without it, and with
          // no reconnect, mqtt.js's promise never settles (the close clears its connect timer), and
          // nats-server does close so when it cannot make the session while a JetStream stream elects
          // a leader after a node's loss: the device then stayed unconnected for good.
          c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: this.id, password: loginPassword(this.fake.keys.login), clientId: this.id, reconnectPeriod: 0, connectTimeout: 3000, clean: true }, false);
          const conn = c;
          c.on("message", (_t, p) => this.downlink(p));
          c.on("close", () => {
            if (this.client !== conn) return;
            this.client = null;
            this.portIndex++;
            if (!this.stopped) setTimeout(() => void this.connect(), 200);
          });
          c.on("error", () => undefined);
          // A connection that dies mid-way leaves mqtt.js's promises pending (no reconnect): bounded.
          await bounded(c.subscribeAsync(`rec/${this.id}/down`, { qos: 1 }), 5000);
          if (c.disconnected || c.disconnecting) throw new Error("closed while subscribing");
          this.client = c;
          this.connects++;
          this.hello(c);
          // Everything not Acked goes again on the new connection.
          this.sent.clear();
          return;
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          this.failedTries.set(why, (this.failedTries.get(why) || 0) + 1);
          // A half-made connection is closed: left open, it would hold the client id.
          if (c) c.end(true);
          this.portIndex++;
          if (this.stopped) return;
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    } finally {
      this.connecting = false;
    }
  }

  /** Hello with the recordings this device still holds (started, not yet freed). */
  private hello(c: MqttClient): void {
    const held = this.recs.filter((r) => !covered(r) && (r.startAcked || r.cumulative > 0 || this.wasSent(r))).map((r) => ({ recording: r.recording, firstSeq: r.cumulative + 1, lastSeq: r.chunks.length, sealed: false, open: true }));
    const nonce = randomBytes(16);
    this.fake.guard.open(nonce);
    this.answered = false;
    const body = encode("Hello", { nonce, held, firmware: "test", deviceTimeMs: Date.now(), lastSealed: 0, lastSealValue: new Uint8Array(0) });
    c.publish(`rec/${this.id}/up`, Buffer.from(encode("Uplink", { schema: 1, hello: { body, tag: tagControl(sha, this.fake.keys.controlKey, CONTROL_HELLO, this.fake.dev, body) } })), { qos: 1 }, () => undefined);
  }

  private everSent = new Set<number>();
  private wasSent(r: Rec): boolean { return this.everSent.has(r.recording); }

  private downlink(p: Buffer): void {
    let d;
    try { d = decode("Downlink", p); } catch { return; }
    const refused = this.fake.guard.check(d.counter as number, d.body as Uint8Array, d.mac as Uint8Array);
    if (refused) {
      this.rejectedDownlinks++;
      this.refusals.push(refused);
      // Downlinks MAC'd under another nonce, one after another: the gateway never got this
      // connection's Hello (nats-server PUBACKs a publish it could not store while a stream elects
      // its leader), so it is said again (SPEC.md R-DL-6), as the firmware does.
      if (refused === "DOWNLINK_MAC" && ++this.macRefusedInRow >= 3 && this.client) {
        this.macRefusedInRow = 0;
        this.helloAgain++;
        this.hello(this.client);
      }
      return;
    }
    this.macRefusedInRow = 0;
    this.answered = true;
    const body = decode("DownBody", d.body as Uint8Array);
    if (body.beacon) this.beacons++;
    const ack = (body.ackBlock ? parseAckBlock(body.ackBlock as Uint8Array) : body.ack) as { recording: number; state: number; cumulative: number } | undefined;
    if (!ack) return;
    this.acks++;
    const r = this.recs.find((x) => x.recording === ack.recording);
    if (!r) return;
    if (ack.state === 2) { // ACK_UNKNOWN: the start again
      this.sent.delete(`${r.recording}:start`);
      return;
    }
    r.startAcked = true;
    if (ack.cumulative > r.cumulative) r.cumulative = ack.cumulative;
    if (ack.state === 1) r.sealed = true;
  }

  /** Send what the window allows; resend what waited too long (the wait doubles per try, at most 4 times). */
  private pump(): void {
    const c = this.client;
    if (!c || this.stopped) return;
    const now = Date.now();
    let inFlight = 0;
    for (const r of this.recs) {
      if (covered(r)) continue;
      const msgs: [string, Uint8Array, boolean][] = [[`${r.recording}:start`, r.start, r.startAcked]];
      r.chunks.forEach((b, i) => msgs.push([`${r.recording}:${i + 1}`, b, i + 1 <= r.cumulative]));
      msgs.push([`${r.recording}:seal`, r.seal, r.sealed]);
      for (const [key, bytes, acked] of msgs) {
        if (acked) { this.sent.delete(key); continue; }
        if (inFlight >= this.window) return;
        inFlight++;
        const s = this.sent.get(key);
        if (s && now - s.at < this.resendMs * Math.min(4, s.tries)) continue;
        if (s) this.resends++;
        this.sent.set(key, { at: now, tries: s ? s.tries + 1 : 1 });
        this.everSent.add(r.recording);
        c.publish(`rec/${this.id}/up`, Buffer.from(bytes), { qos: 1 }, () => undefined);
      }
    }
  }

  /** Send a recording's seal again, as a device does that missed its Ack. */
  resendSeal(recording: number): void {
    const r = this.recs.find((x) => x.recording === recording)!;
    this.client!.publish(`rec/${this.id}/up`, Buffer.from(r.seal), { qos: 1 }, () => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const c = this.client;
    this.client = null;
    if (c) await c.endAsync(true).catch(() => undefined);
  }
}
