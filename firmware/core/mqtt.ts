// MQTT 3.1.1 client for the board, over Espruino's `net` (or any injected transport). Espruino subset.
//
// Why our own: Espruino's MQTT module and tinyMQTT publish and subscribe at QoS 0 only, and the
// protocol needs QoS 1 both ways (SPEC R-TOP-3): a chunk is freed only on an application Ack, but
// the broker's PUBACK is what paces the in-flight window and tells us what to resend on reconnect.
//
// Two layers:
//   - a sans-IO codec: encode* functions return the bytes of one packet, and MqttParser turns a
//     byte stream split or coalesced anywhere into packets, with a bounded reassembly buffer;
//   - MqttClient, with the socket, timers and clock injected (Transport), so tests drive it with
//     fake timers and any socket, and the board runs it on require("net") (firmware/hosts/espruino-net.ts).
// Only what the recorder uses: one topic per SUBSCRIBE, no QoS 2, no retained messages, no will.
import { codedError, fromUtf8, utf8 } from "../../protocol/bytes.js";

export const CONNECT = 1;
export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBSCRIBE = 8;
export const SUBACK = 9;
export const PINGREQ = 12;
export const PINGRESP = 13;
export const DISCONNECT = 14;

/** Largest packet the gateway accepts (SPEC R-TOP-4); also our default limit for what we receive. */
export const MAX_PACKET = 69632;
/** The remaining-length varint holds at most 4 bytes (MQTT 3.1.1 section 2.2.3). */
const MAX_REMAINING = 268435455;

// ---- encoding ----

/** Bytes the remaining-length varint of `n` takes. */
export function remainingLengthSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

/** Write the remaining-length varint of `n` at `p`; returns the position after it. */
export function putRemainingLength(buf: Uint8Array, p: number, n: number): number {
  if (n > MAX_REMAINING) throw codedError("PACKET_TOO_LARGE", "remaining length " + n);
  while (n >= 128) {
    buf[p++] = (n & 127) | 128;
    n = n >>> 7;
  }
  buf[p++] = n;
  return p;
}

/** A new packet buffer with its fixed header written; returns it and where the body starts. */
function packet(first: number, remaining: number): { b: Uint8Array; p: number } {
  const b = new Uint8Array(1 + remainingLengthSize(remaining) + remaining);
  b[0] = first;
  return { b: b, p: putRemainingLength(b, 1, remaining) };
}

function putU16(b: Uint8Array, p: number, v: number): number {
  b[p] = v >> 8;
  b[p + 1] = v & 255;
  return p + 2;
}

function putStr(b: Uint8Array, p: number, s: Uint8Array): number {
  p = putU16(b, p, s.length);
  b.set(s, p);
  return p + s.length;
}

export interface ConnectOptions {
  clientId: string;
  username?: string;
  password?: string;
  /** Seconds; 0 turns keepalive off. */
  keepalive: number;
  clean: boolean;
}

export function encodeConnect(o: ConnectOptions): Uint8Array {
  const id = utf8(o.clientId);
  const user = o.username !== undefined ? utf8(o.username) : null;
  const pass = o.password !== undefined ? utf8(o.password) : null;
  const n = 10 + 2 + id.length + (user ? 2 + user.length : 0) + (pass ? 2 + pass.length : 0);
  const k = packet(CONNECT << 4, n);
  let p = putStr(k.b, k.p, utf8("MQTT"));
  k.b[p++] = 4; // protocol level 4 = 3.1.1
  k.b[p++] = (user ? 0x80 : 0) | (pass ? 0x40 : 0) | (o.clean ? 0x02 : 0);
  p = putU16(k.b, p, o.keepalive);
  p = putStr(k.b, p, id);
  if (user) p = putStr(k.b, p, user);
  if (pass) putStr(k.b, p, pass);
  return k.b;
}

/** The last PUBLISH header's topic, length and QoS, and its bytes. */
let lastHeader: { t: Uint8Array; n: number; q: number; b: Uint8Array } | null = null;

/**
 * Everything of a PUBLISH before its payload: fixed header, topic and (QoS 1) packet id. The
 * payload follows as separate writes, so a big payload is never copied into a packet buffer.
 */
export function publishHeader(topic: Uint8Array, payloadLength: number, qos: number, id: number, dup: boolean): Uint8Array {
  const l = lastHeader;
  let b: Uint8Array;
  if (l && l.t === topic && l.n === payloadLength && l.q === qos) {
    // The recorder publishes chunks of one size to one topic: copy the last header (one native
    // copy costs a board less than the length and string helpers) and set flags and id below.
    b = new Uint8Array(l.b);
  } else {
    const rest = 2 + topic.length + (qos ? 2 : 0);
    const remaining = rest + payloadLength;
    b = new Uint8Array(1 + remainingLengthSize(remaining) + rest);
    putStr(b, putRemainingLength(b, 1, remaining), topic);
    lastHeader = { t: topic, n: payloadLength, q: qos, b: new Uint8Array(b) };
  }
  b[0] = (PUBLISH << 4) | (dup ? 8 : 0) | (qos << 1);
  if (qos) putU16(b, b.length - 2, id);
  return b;
}

/** A whole PUBLISH in one buffer (small messages, and tests); publishParts avoids this copy. */
export function encodePublish(topic: string, payload: Uint8Array, qos: number, id: number, dup: boolean): Uint8Array {
  const h = publishHeader(utf8(topic), payload.length, qos, id, dup);
  const b = new Uint8Array(h.length + payload.length);
  b.set(h, 0);
  b.set(payload, h.length);
  return b;
}

export function encodeSubscribe(id: number, topic: string, qos: number): Uint8Array {
  const t = utf8(topic);
  const k = packet((SUBSCRIBE << 4) | 2, 2 + 2 + t.length + 1); // flags 0010 are mandatory
  const p = putStr(k.b, putU16(k.b, k.p, id), t);
  k.b[p] = qos;
  return k.b;
}

export function encodePuback(id: number): Uint8Array {
  const b = new Uint8Array(4);
  b[0] = PUBACK << 4;
  b[1] = 2;
  putU16(b, 2, id);
  return b;
}

export function encodePingreq(): Uint8Array {
  const b = new Uint8Array(2);
  b[0] = PINGREQ << 4;
  return b;
}

export function encodeDisconnect(): Uint8Array {
  const b = new Uint8Array(2);
  b[0] = DISCONNECT << 4;
  return b;
}

// ---- decoding ----

export interface MqttError extends Error {
  code: string;
}


/** A decoded packet from the broker. Fields not used by its type stay at their zero values. */
export interface Packet {
  type: number;
  /** CONNACK return code (0 = accepted), or SUBACK granted QoS (0x80 = refused). */
  code: number;
  sessionPresent: boolean;
  /** PUBLISH, PUBACK, SUBACK packet id (0 for a QoS 0 PUBLISH). */
  id: number;
  qos: number;
  dup: boolean;
  retain: boolean;
  topic: string;
  /** A copy: the reassembly buffer is reused. */
  payload: Uint8Array | null;
}

function newPacket(type: number): Packet {
  return { type: type, code: 0, sessionPresent: false, id: 0, qos: 0, dup: false, retain: false, topic: "", payload: null };
}

/** Decode one whole packet b[start..end) whose body starts at `body`; returns it or an error code. */
function decodeOne(b: Uint8Array, start: number, body: number, end: number): Packet | string {
  const first = b[start];
  const type = first >> 4;
  const n = end - body;
  const k = newPacket(type);
  if (type === PUBLISH) {
    k.qos = (first >> 1) & 3;
    k.dup = (first & 8) !== 0;
    k.retain = (first & 1) !== 0;
    if (k.qos > 1) return "MQTT_QOS"; // we never subscribe at QoS 2; 3 is malformed
    if (n < 2) return "MQTT_MALFORMED";
    const tl = (b[body] << 8) | b[body + 1];
    let p = body + 2 + tl;
    if (p + (k.qos ? 2 : 0) > end) return "MQTT_MALFORMED";
    const topic = fromUtf8(b.subarray(body + 2, p));
    if (topic === null) return "MQTT_MALFORMED";
    k.topic = topic;
    if (k.qos) {
      k.id = (b[p] << 8) | b[p + 1];
      p += 2;
    }
    // A copy (the buffer is reused). Not slice(): on Espruino a typed array's slice() returns a plain Array.
    k.payload = new Uint8Array(b.subarray(p, end));
    return k;
  }
  if (type === CONNACK) {
    if (n !== 2) return "MQTT_MALFORMED";
    k.sessionPresent = (b[body] & 1) !== 0;
    k.code = b[body + 1];
    return k;
  }
  if (type === PUBACK) {
    if (n !== 2) return "MQTT_MALFORMED";
    k.id = (b[body] << 8) | b[body + 1];
    return k;
  }
  if (type === SUBACK) {
    if (n < 3) return "MQTT_MALFORMED";
    k.id = (b[body] << 8) | b[body + 1];
    k.code = b[body + 2];
    return k;
  }
  if (type === PINGRESP) return n === 0 ? k : "MQTT_MALFORMED";
  return "MQTT_UNEXPECTED"; // a server sends nothing else to a QoS 0/1 client
}

/**
 * Stream decoder. push() takes bytes as they arrive (split or coalesced at any byte) and calls
 * onPacket for each whole packet. A partial packet waits in a buffer that grows only to the size
 * of the packet being assembled, and never past maxPacket: a larger one is refused by its header.
 */
export class MqttParser {
  maxPacket: number;
  buf: Uint8Array;
  len: number;

  constructor(maxPacket: number) {
    this.maxPacket = maxPacket;
    this.buf = new Uint8Array(64);
    this.len = 0;
  }

  reset(): void {
    this.len = 0;
  }

  /** Returns "" or an error code (PACKET_TOO_LARGE, MQTT_MALFORMED, ...); after an error, drop the connection. */
  push(chunk: Uint8Array, onPacket: (k: Packet) => void): string {
    let src = chunk;
    let end = chunk.length;
    if (this.len > 0) {
      // Something is pending: append, so the packet is contiguous. Whole packets in `chunk` are
      // decoded straight from it, with no copy, when nothing is pending (the common case).
      this.grow(this.len + end);
      this.buf.set(chunk, this.len);
      this.len += end;
      src = this.buf;
      end = this.len;
    }
    let p = 0;
    while (end - p >= 2) {
      let rl = 0;
      let mul = 1;
      let i = p + 1;
      let done = false;
      while (i < end && i - p <= 4) {
        const c = src[i++];
        rl += (c & 127) * mul;
        mul *= 128;
        if (c < 128) { done = true; break; }
      }
      if (!done) {
        if (i - p > 4) return this.fail("MQTT_MALFORMED");
        break; // varint not complete yet
      }
      const total = i - p + rl;
      if (total > this.maxPacket) return this.fail("PACKET_TOO_LARGE");
      if (end - p < total) break;
      const k = decodeOne(src, p, i, p + total);
      if (typeof k === "string") return this.fail(k);
      p += total;
      onPacket(k);
    }
    // Keep the incomplete tail (Uint8Array.set copes with the overlap when src is buf).
    const rest = end - p;
    if (rest > 0) {
      if (src !== this.buf) this.grow(rest);
      this.buf.set(src.subarray(p, end), 0);
    }
    this.len = rest;
    return "";
  }

  grow(n: number): void {
    if (n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    if (cap < n) cap = n;
    if (cap > this.maxPacket + 5) cap = this.maxPacket + 5;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len), 0);
    this.buf = b;
  }

  fail(code: string): string {
    this.len = 0;
    return code;
  }
}

// ---- client ----

export interface Conn {
  /**
   * Write bytes; the parts of one packet come as consecutive writes. (One write of all the parts
   * was tried: Espruino's E.toString then copies the whole packet, where for a whole buffer it
   * hands over the buffer's own string, and under memory pressure a copy can come out short.)
   * `more`: another part of the same packet follows at once, so a transport that paces its writes
   * may wait for it and hand the socket the parts together.
   */
  write(b: Uint8Array, more?: boolean): void;
  end(): void;
  /** Bytes written and not yet handed to the socket (a transport that paces its writes); 0 if none. */
  buffered?: () => number;
}

/** What the client needs from its host: a socket, timers and a millisecond clock. */
export interface Transport {
  /**
   * Open a connection; onClose must be called once when it ends, whoever ended it. A transport that
   * paces its writes calls onDrain when everything written has gone to the socket.
   */
  connect(host: string, port: number, onData: (b: Uint8Array) => void, onClose: () => void, onDrain?: () => void): Conn;
  /** A timer (setTimeout) and its cancel (clearTimeout). */
  after(fn: () => void, ms: number): unknown;
  cancel(h: unknown): void;
  now(): number;
}

export interface MqttOptions extends ConnectOptions {
  host: string;
  port: number;
  /** Unacknowledged QoS 1 publishes at most (default 8). */
  maxInflight?: number;
  /** Largest packet accepted from the broker (default MAX_PACKET). */
  maxPacket?: number;
  /** No CONNACK within this many ms, or no answer to a PINGREQ: the connection is dead (default 10000). */
  responseTimeout?: number;
  /** Reconnect backoff: first delay and ceiling, ms (defaults 1000 and 60000). */
  backoffMin?: number;
  backoffMax?: number;
  /** Uniform in [0, 1): the jitter source (default Math.random; tests inject their own). */
  random?: () => number;
  /**
   * false: let a publish's parts go once they are written (its id stays in the window until the
   * PUBACK). For a caller that resends from its own store after a reconnect and calls discard(), as
   * the recorder does: a window of 8 KiB chunks would otherwise hold each chunk until its PUBACK,
   * about 1,500 variables on a board. Default true: kept, and resent with DUP after a reconnect.
   */
  holdParts?: boolean;
}

/** One QoS 1 publish awaiting its PUBACK, kept as the parts the caller gave (no copy). */
interface Inflight {
  id: number;
  topic: Uint8Array;
  parts: Uint8Array[];
  length: number;
  sent: boolean;
}

function opt(v: number | undefined, d: number): number {
  return v === undefined ? d : v;
}

/**
 * MQTT 3.1.1 client, QoS 0/1. Callbacks are plain fields: set them before connect().
 * publish()/publishParts() return the packet id (0 for QoS 0), or -1 when the in-flight window is
 * full; onPuback(id) says a slot is free again. Publishes made while disconnected wait in the
 * window and go out after the next CONNACK; unacknowledged ones are resent then with DUP set.
 */
export class MqttClient {
  t: Transport;
  o: MqttOptions;
  conn: Conn | null;
  parser: MqttParser;
  connected: boolean;
  ended: boolean;
  /** Bumped at each connect, so a stale socket's late callbacks are ignored. */
  gen: number;
  nextId: number;
  /** In publish order, for in-order resends; at most maxInflight long. */
  queue: Inflight[];
  /** Packet ids in use (publishes and subscriptions), as object keys: no Map on Espruino. */
  used: { [id: string]: number };
  subs: string[];
  attempts: number;
  lastTx: number;
  lastTopic: string;
  lastTopicBytes: Uint8Array;
  pingTimer: unknown;
  deadTimer: unknown;
  retryTimer: unknown;
  onConnect: (sessionPresent: boolean) => void;
  onMessage: (topic: string, payload: Uint8Array) => void;
  onPuback: (id: number) => void;
  /** A subscription granted (a refused one ends the connection instead: onClose "SUBACK_REFUSED"). */
  onSuback: (id: number, granted: number) => void;
  onClose: (reason: string) => void;
  /** Everything written has gone to the socket (a pacing transport): room for the next big publish. */
  onDrain: () => void;

  constructor(transport: Transport, options: MqttOptions) {
    this.t = transport;
    this.o = options;
    this.conn = null;
    this.parser = new MqttParser(opt(options.maxPacket, MAX_PACKET));
    this.connected = false;
    this.ended = false;
    this.gen = 0;
    this.nextId = 0;
    this.queue = [];
    this.used = {};
    this.subs = [];
    this.attempts = 0;
    this.lastTx = 0;
    this.lastTopic = "";
    this.lastTopicBytes = new Uint8Array(0);
    this.pingTimer = null;
    this.deadTimer = null;
    this.retryTimer = null;
    this.onConnect = function () {};
    this.onMessage = function () {};
    this.onPuback = function () {};
    this.onSuback = function () {};
    this.onClose = function () {};
    this.onDrain = function () {};
  }

  /** Open the connection (and keep reopening it until end()). */
  connect(): void {
    this.ended = false;
    this.open();
  }

  open(): void {
    const self = this;
    const gen = ++this.gen;
    this.retryTimer = null;
    this.parser.reset();
    const c = this.t.connect(this.o.host, this.o.port, function (b) {
      if (gen === self.gen) self.data(b);
    }, function () {
      if (gen === self.gen) self.drop("CLOSED");
    }, function () {
      if (gen === self.gen) self.onDrain();
    });
    if (gen !== this.gen) return; // the transport failed synchronously and drop() already ran
    this.conn = c;
    this.send(encodeConnect(this.o));
    this.armDead();
  }

  /**
   * Send DISCONNECT and close; no reconnect, no timer left (so the interpreter can exit).
   * Unacknowledged publishes stay queued for a later connect().
   */
  end(): void {
    this.ended = true;
    if (this.retryTimer !== null) this.t.cancel(this.retryTimer);
    this.retryTimer = null;
    if (this.conn && this.connected) this.send(encodeDisconnect());
    this.drop("END");
  }

  /**
   * Forget every publish not yet acknowledged (their ids become free). For an application that
   * resends by itself after a reconnect, as the recorder does from its durable queue (Hello must be
   * the first message of each connection, so the window must not replay the previous one first).
   */
  discard(): void {
    for (let i = 0; i < this.queue.length; i++) delete this.used[this.queue[i].id];
    this.queue = [];
  }

  /** True when publish() would accept a QoS 1 message now. */
  canPublish(): boolean {
    return this.queue.length < opt(this.o.maxInflight, 8);
  }

  /**
   * True when nothing written waits in the transport: the caller that publishes big messages one at a
   * time (so that at most one is in RAM beside the socket's slice) checks it, and publishes the next
   * on onDrain.
   */
  writable(): boolean {
    const c = this.conn;
    return !c || !c.buffered || c.buffered() === 0;
  }

  publish(topic: string, payload: Uint8Array, qos: number): number {
    return this.publishParts(topic, [payload], qos);
  }

  /**
   * Publish the concatenation of `parts` as one payload, each part its own transport write after a
   * small header write: chunkFrame's prefix, the payload and its suffix go out without a copy.
   * At QoS 1 the parts are kept (not copied) until the PUBACK, or with holdParts false until written:
   * the caller must not change them.
   */
  publishParts(topic: string, parts: Uint8Array[], qos: number): number {
    let length = 0;
    for (let i = 0; i < parts.length; i++) length += parts[i].length;
    // The topic's bytes are kept from the last publish: the recorder publishes to one topic, and
    // utf8() is a per-character loop (every statement costs on a board).
    if (topic !== this.lastTopic) {
      this.lastTopic = topic;
      this.lastTopicBytes = utf8(topic);
    }
    const t = this.lastTopicBytes;
    if (!qos) {
      if (!this.connected) return -1; // QoS 0 is fire-and-forget: nothing to send it on
      this.sendParts(publishHeader(t, length, 0, 0, false), parts);
      return 0;
    }
    if (!this.canPublish()) return -1;
    const id = this.allocId();
    const e: Inflight = { id: id, topic: t, parts: parts, length: length, sent: false };
    this.queue.push(e);
    if (this.connected) this.sendInflight(e);
    return id;
  }

  /** Subscribe at QoS 1; remembered and renewed on every reconnect. Returns the packet id, or 0 when offline. */
  subscribe(topic: string): number {
    if (this.subs.indexOf(topic) < 0) this.subs.push(topic);
    return this.connected ? this.sendSubscribe(topic) : 0;
  }

  sendSubscribe(topic: string): number {
    const id = this.allocId();
    this.send(encodeSubscribe(id, topic, 1));
    return id;
  }

  /** Next free packet id in 1..65535, wrapping, skipping ids still in use (at most window + subs are). */
  allocId(): number {
    let id = this.nextId;
    id = id >= 65535 ? 1 : id + 1;
    while (this.used[id] !== undefined) id = id >= 65535 ? 1 : id + 1;
    this.nextId = id;
    this.used[id] = 1;
    return id;
  }

  sendInflight(e: Inflight): void {
    if (e.sent && !e.parts.length && e.length) return; // let go (holdParts false): the caller resends
    this.sendParts(publishHeader(e.topic, e.length, 1, e.id, e.sent), e.parts);
    e.sent = true;
    if (this.o.holdParts === false) e.parts = [];
  }

  sendParts(header: Uint8Array, parts: Uint8Array[]): void {
    const c = this.conn;
    if (!c) return;
    this.lastTx = this.t.now(); // once per packet: a clock read per part costs three calls on a board
    // The header and the parts reach the socket together: a paced transport would otherwise send the
    // few header bytes alone and call back for the rest (a drain per chunk more, about 1 ms on a
    // board-sized build with the code in Storage).
    let last = parts.length - 1;
    while (last >= 0 && !parts[last].length) last--;
    c.write(header, last >= 0);
    for (let i = 0; i <= last; i++) if (parts[i].length) c.write(parts[i], i < last);
  }

  send(b: Uint8Array): void {
    if (!this.conn) return;
    this.lastTx = this.t.now();
    this.conn.write(b);
  }

  data(b: Uint8Array): void {
    // Any byte from the broker proves the connection alive: the PINGREQ (or CONNACK) wait is over,
    // except while CONNACK is still awaited, which only a CONNACK ends.
    if (this.connected && this.deadTimer !== null) this.clearDead();
    // A lone PUBACK, what a QoS 1 publisher reads most (one per chunk): its id straight from the
    // four bytes, without the parser, a packet object and the dispatch by type.
    if (b.length === 4 && b[0] === 0x40 && b[1] === 2 && !this.parser.len) {
      this.puback((b[2] << 8) | b[3]);
      return;
    }
    const self = this;
    const err = this.parser.push(b, function (k) {
      self.packet(k);
    });
    if (err) this.drop(err);
  }

  packet(k: Packet): void {
    if (k.type === PUBLISH) {
      // Ack first: a QoS 1 message handed to the application is one we have taken.
      if (k.qos) this.send(encodePuback(k.id));
      this.onMessage(k.topic, k.payload as Uint8Array);
    } else if (k.type === PUBACK) this.puback(k.id);
    else if (k.type === SUBACK) {
      delete this.used[k.id];
      // Refused (0x80): nothing would reach us on this connection. nats-server refuses one while a
      // JetStream stream elects a leader after a node's loss; a new connection after the backoff
      // asks again. The backoff restarts only once a subscription is granted: a broker that always
      // refuses is asked ever more slowly, not every second.
      if (k.code & 0x80) {
        this.drop("SUBACK_REFUSED");
        return;
      }
      this.attempts = 0;
      this.onSuback(k.id, k.code);
    } else if (k.type === CONNACK) {
      if (this.connected) return;
      if (k.code !== 0) {
        this.drop("CONNACK_" + k.code);
        return;
      }
      this.clearDead();
      this.connected = true;
      if (!this.subs.length) this.attempts = 0; // with subscriptions, at the SUBACK
      for (let i = 0; i < this.subs.length; i++) this.sendSubscribe(this.subs[i]);
      for (let i = 0; i < this.queue.length && this.conn; i++) this.sendInflight(this.queue[i]);
      this.armPing();
      this.onConnect(k.sessionPresent);
    }
    // PINGRESP: its arrival already cleared the dead timer in data().
  }

  /** The broker has publish `id`: its slot in the window is free. An id not in the window is ignored. */
  puback(id: number): void {
    const q = this.queue;
    for (let i = 0; i < q.length; i++) {
      if (q[i].id === id) {
        q.splice(i, 1);
        delete this.used[id];
        this.onPuback(id);
        return;
      }
    }
  }

  /** One timer for keepalive: fires when `keepalive` has passed since the last write, so a busy link never pings. */
  armPing(): void {
    const ka = this.o.keepalive * 1000;
    if (!ka) return;
    const self = this;
    let wait = this.lastTx + ka - this.t.now();
    if (wait < 0) wait = 0;
    this.pingTimer = this.t.after(function () {
      self.pingTimer = null;
      self.pingTick();
    }, wait);
  }

  pingTick(): void {
    if (!this.connected) return;
    if (this.t.now() - this.lastTx >= this.o.keepalive * 1000) {
      this.send(encodePingreq());
      if (this.deadTimer === null) this.armDead();
    }
    this.armPing();
  }

  armDead(): void {
    const self = this;
    this.deadTimer = this.t.after(function () {
      self.deadTimer = null;
      self.drop("TIMEOUT");
    }, opt(this.o.responseTimeout, 10000));
  }

  clearDead(): void {
    if (this.deadTimer !== null) this.t.cancel(this.deadTimer);
    this.deadTimer = null;
  }

  /** Close the connection (if any), tell the application once, and schedule a reconnect unless ended. */
  drop(reason: string): void {
    const c = this.conn;
    const had = c !== null;
    this.gen++; // from here the old socket's callbacks are ignored
    this.conn = null;
    this.connected = false;
    this.parser.reset();
    this.clearDead();
    if (this.pingTimer !== null) this.t.cancel(this.pingTimer);
    this.pingTimer = null;
    // SUBSCRIBEs in flight die with the connection (renewed from `subs`); publishes stay in `queue`.
    for (const k in this.used) delete this.used[k];
    for (let i = 0; i < this.queue.length; i++) this.used[this.queue[i].id] = 1;
    if (c) c.end();
    if (had) this.onClose(reason);
    if (!this.ended && this.retryTimer === null) this.scheduleRetry();
  }

  /** Exponential backoff with "equal jitter": a delay in [d/2, d), d doubling from backoffMin up to backoffMax. */
  backoff(): number {
    let d = opt(this.o.backoffMin, 1000);
    const max = opt(this.o.backoffMax, 60000);
    for (let i = 0; i < this.attempts && d < max; i++) d *= 2;
    if (d > max) d = max;
    const r = this.o.random ? this.o.random() : Math.random();
    return Math.floor(d / 2 + (r * d) / 2);
  }

  scheduleRetry(): void {
    const self = this;
    const wait = this.backoff();
    this.attempts++;
    this.retryTimer = this.t.after(function () {
      self.retryTimer = null;
      if (!self.ended) self.open();
    }, wait);
  }
}
