// A test device speaking the protocol over mqtt.js: what a recorder sends, built with protocol/.
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { randomBytes } from "node:crypto";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { deviceIdBytes, parseAckBlock } from "../../protocol/blocks.js";
import { ChainCrypto, deriveDeviceKeys, loginPassword, recordingKey, stateAt } from "../../protocol/chain.js";
import { ChainWriter, genesisFor } from "../../protocol/writer.js";
import { DownlinkGuard, tagControl } from "../../protocol/downlink.js";
import { chunkFrame, decode, encode, which } from "../../protocol/codec.js";
import { CONTROL_HELLO, CONTROL_STATUS, END_REBOOT, END_STOPPED, FLAG_INTERRUPTED, MEDIA_PCM_8K_S16LE } from "../../protocol/constants.js";
import { concat } from "../../protocol/bytes.js";

export interface Received { kind: string; body: Record<string, unknown>; ok: string; schema?: number; counter?: number }

export class FakeDevice {
  client!: MqttClient;
  keys;
  dev: Uint8Array;
  guard: DownlinkGuard;
  received: Received[] = [];
  private waiters: (() => void)[] = [];
  constructor(public id: string, public root: Uint8Array) {
    this.keys = deriveDeviceKeys(sha, root);
    this.dev = deviceIdBytes(id);
    this.guard = new DownlinkGuard(sha, this.keys.downlinkKey, this.dev);
  }

  async connect(port: number, password = loginPassword(this.keys.login), tls?: { ca: Buffer }, clientId = this.id + "/" + randomBytes(3).toString("hex")): Promise<void> {
    // `false`: a connection closed before its CONNACK rejects; with no reconnect, mqtt.js would wait for ever.
    this.client = await mqtt.connectAsync(`${tls ? "mqtts" : "mqtt"}://127.0.0.1:${port}`, { username: this.id, password, reconnectPeriod: 0, clientId, ...(tls ? { ca: tls.ca, rejectUnauthorized: true } : {}) }, false);
    this.client.on("message", (_t, payload) => this.receive(payload));
    await this.client.subscribeAsync(`rec/${this.id}/down`, { qos: 1 });
  }

  /** A downlink message as the device takes it: checked (MAC, counter) and kept in `received`. */
  receive(payload: Uint8Array): void {
    const d = decode("Downlink", payload);
    const ok = this.guard.check(d.counter as number, d.body as Uint8Array, d.mac as Uint8Array);
    const body = decode("DownBody", d.body as Uint8Array);
    // An Ack block (schema 2, R-ACKB-1) is read into the protobuf Ack's fields: tests look at `ack`.
    if (body.ackBlock) body.ack = parseAckBlock(body.ackBlock as Uint8Array);
    this.received.push({ kind: body.ack ? "ack" : which(body, "DownBody"), body, ok, schema: d.schema as number, counter: d.counter as number });
    for (const w of this.waiters.splice(0)) w();
  }

  publish(bytes: Uint8Array, topic = `rec/${this.id}/up`): Promise<unknown> {
    return this.client.publishAsync(topic, Buffer.from(bytes), { qos: 1 });
  }

  /** Hello in `schema` (1 by default: a device of the first schema; 2 reads Acks as blocks, R-ACKB-1). */
  async hello(held: { recording: number; firstSeq: number; lastSeq: number; sealed: boolean; open: boolean }[] = [], claims: { lastSealed?: number; lastSealValue?: Uint8Array } = {}, schema = 1): Promise<void> {
    await this.publish(this.helloMessage(held, claims, schema));
  }

  /** A Hello's bytes, its nonce now the one the device checks downlinks under. */
  helloMessage(held: { recording: number; firstSeq: number; lastSeq: number; sealed: boolean; open: boolean }[] = [], claims: { lastSealed?: number; lastSealValue?: Uint8Array } = {}, schema = 1): Uint8Array {
    const nonce = randomBytes(16);
    this.guard.open(nonce);
    const body = encode("Hello", { nonce, held, firmware: "test", deviceTimeMs: Date.now(), lastSealed: claims.lastSealed || 0, lastSealValue: claims.lastSealValue || new Uint8Array(0) });
    return encode("Uplink", { schema, hello: { body, tag: tagControl(sha, this.keys.controlKey, CONTROL_HELLO, this.dev, body) } });
  }

  /** A heartbeat (Status) as the recorder sends it: battery, queue, storage, clock offset... */
  async status(fields: Record<string, unknown>): Promise<void> {
    await this.publish(this.statusMessage(fields));
  }

  /** A Status's bytes. */
  statusMessage(fields: Record<string, unknown>): Uint8Array {
    const body = encode("Status", { firmware: "test", deviceTimeMs: Date.now(), ...fields });
    return encode("Uplink", { schema: 1, status: { body, tag: tagControl(sha, this.keys.controlKey, CONTROL_STATUS, this.dev, body) } });
  }

  /** Messages of one recording, in the order a device sends them. */
  recording(r: number, payloads: Uint8Array[], opts: { caseTag?: string; prevSeal?: Uint8Array; interrupted?: boolean; startMs?: number; beacon?: Uint8Array; endReason?: number; media?: number } = {}) {
    const media = opts.media ?? MEDIA_PCM_8K_S16LE;
    const cc = new ChainCrypto(sha);
    const k1 = recordingKey(sha, stateAt(sha, this.keys.stateKey0, r - 1), r);
    const t0 = opts.startMs ?? Date.now();
    const g = genesisFor(cc, this.dev, { recordingId: r, startMs: t0, preEventMs: 0, uptimeMs: 1, media, caseTag: opts.caseTag || "", beacon: opts.beacon || new Uint8Array(16), prevSeal: opts.prevSeal || new Uint8Array(32) });
    const w = new ChainWriter(sha, this.dev, r, k1, 0, g.c0, 0);
    const parts: { header: Uint8Array; payload: Uint8Array; tag: Uint8Array }[] = [];
    const chunks = payloads.map((p, i) => {
      const o = w.chunk(p, 0, media, t0 + i * 1000, 1000, i, new Uint8Array(16));
      parts.push({ header: o.header.slice(), payload: p, tag: o.tag.slice() });
      const f = chunkFrame(o.header, p.length, o.tag);
      return concat([f.prefix, p, f.suffix]);
    });
    const s = w.seal(opts.interrupted ? FLAG_INTERRUPTED : 0, t0 + payloads.length * 1000, 9, cc.caseTagHash(opts.caseTag || ""), new Uint8Array(16), opts.endReason ?? (opts.interrupted ? END_REBOOT : END_STOPPED));
    return {
      recording: r,
      start: encode("Uplink", { schema: 1, start: { genesis: g.block, caseTag: opts.caseTag || "" } }),
      chunks,
      /** Each chunk's header, payload and tag, for tests that rebuild a message from them. */
      parts,
      seal: encode("Uplink", { schema: 1, seal: { block: s.block, tag: s.tag, caseTag: opts.caseTag || "" } }),
      sealValue: s.value,
    };
  }

  /** Wait until a received message satisfies `pred`. */
  async waitFor(pred: (r: Received) => boolean, ms = 5000): Promise<Received> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.received.find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`timed out; received: ${JSON.stringify(this.received.map((r) => [r.kind, r.body, r.ok]))}`);
      await new Promise<void>((res) => { this.waiters.push(res); setTimeout(res, 50); });
    }
  }

  async end(): Promise<void> {
    await this.client.endAsync();
  }
}
