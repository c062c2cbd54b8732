// firmware/core/mqtt.ts: the codec byte-exact against mqtt-packet (the codec mqtt.js and aedes use),
// the stream decoder at every split, the client against fake timers and a real in-process aedes
// broker, the Espruino gate, and (with ESPRUINO_BIN) the client on the real interpreter.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import net from "node:net";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqttPacket from "mqtt-packet";
import mqtt from "mqtt";
import { Aedes } from "aedes";
import {
  CONNACK, MqttClient, MqttParser, PINGRESP, PUBACK, PUBLISH, SUBACK, encodeConnect, encodeDisconnect, encodePingreq,
  encodePuback, encodePublish, encodeSubscribe, publishHeader, putRemainingLength, remainingLengthSize,
} from "../../firmware/core/mqtt.js";
import type { Conn, MqttOptions, Packet, Transport } from "../../firmware/core/mqtt.js";
import { formatFinding, gate } from "../../scripts/espruino-gate.mjs";
import { BUILDS, missingBuilds } from "../espruino/builds.js";
import { nodeNet } from "./node-net.js";
import { SLICE, espruinoNet } from "../../firmware/hosts/espruino-net.js";

const ENTRY = fileURLToPath(new URL("./mqtt-entry.ts", import.meta.url));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const gen = (p: object) => new Uint8Array(mqttPacket.generate(p as never));
const bytes = (n: number, seed: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 255;
  return b;
};
const all256 = () => {
  const b = new Uint8Array(256);
  for (let i = 0; i < 256; i++) b[i] = i;
  return b;
};

/** Everything mqtt-packet's parser makes of `b`. */
function parseWithMqttPacket(b: Uint8Array): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const p = mqttPacket.parser({ protocolVersion: 4 });
  p.on("packet", (k: unknown) => out.push(k as Record<string, unknown>));
  p.on("error", (e: Error) => { throw e; });
  p.parse(Buffer.from(b));
  return out;
}

describe("codec: encodings equal mqtt-packet's byte for byte", () => {
  it("CONNECT with and without credentials", () => {
    const full = encodeConnect({ clientId: "BWC-0042", username: "BWC-0042", password: "0a1b2c", keepalive: 60, clean: true });
    expect(hex(full)).toBe(hex(gen({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "BWC-0042", username: "BWC-0042", password: Buffer.from("0a1b2c"), keepalive: 60, clean: true })));
    const bare = encodeConnect({ clientId: "x", keepalive: 0, clean: false });
    expect(hex(bare)).toBe(hex(gen({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "x", keepalive: 0, clean: false })));
    const k = parseWithMqttPacket(full)[0];
    expect(k).toMatchObject({ cmd: "connect", clientId: "BWC-0042", username: "BWC-0042", keepalive: 60, clean: true });
    expect(Buffer.from(k.password as Buffer).toString()).toBe("0a1b2c");
  });

  it("PUBLISH QoS 0 and 1 (with DUP), across every remaining-length size", () => {
    for (const n of [0, 1, 100, 121, 122, 16370, 16371, 16500, 70000, 2097140, 2097141]) {
      const payload = bytes(n, n);
      for (const qos of [0, 1]) {
        for (const dup of qos ? [false, true] : [false]) {
          const ours = encodePublish("rec/BWC-0042/up", payload, qos, qos ? 4660 : 0, dup);
          const theirs = gen({ cmd: "publish", topic: "rec/BWC-0042/up", payload: Buffer.from(payload), qos, dup, retain: false, messageId: qos ? 4660 : undefined });
          expect(ours.length).toBe(theirs.length);
          expect(Buffer.compare(Buffer.from(ours), Buffer.from(theirs))).toBe(0);
          // The header alone is what publishParts writes first: a prefix of the whole packet.
          const h = publishHeader(new TextEncoder().encode("rec/BWC-0042/up"), n, qos, 4660, dup);
          expect(hex(h)).toBe(hex(theirs.subarray(0, h.length)));
          expect(theirs.length - h.length).toBe(n);
        }
      }
    }
  });

  it("PUBLISH headers repeated for one topic and length (a recording's chunks): right id and DUP each time, each its own buffer", () => {
    const topic = new TextEncoder().encode("rec/BWC-0042/up");
    const seen: Uint8Array[] = [];
    for (const [n, id, dup] of [[8192, 1, false], [8192, 2, false], [8192, 65535, true], [100, 3, false], [8192, 4, false]] as [number, number, boolean][]) {
      const h = publishHeader(topic, n, 1, id, dup);
      const theirs = gen({ cmd: "publish", topic: "rec/BWC-0042/up", payload: Buffer.alloc(n), qos: 1, dup, retain: false, messageId: id });
      expect(hex(h)).toBe(hex(theirs.subarray(0, h.length)));
      seen.push(h);
    }
    // Each header is still the one it was when made: no later one wrote into it.
    expect(hex(seen[0])).toBe(hex(gen({ cmd: "publish", topic: "rec/BWC-0042/up", payload: Buffer.alloc(8192), qos: 1, dup: false, retain: false, messageId: 1 }).subarray(0, seen[0].length)));
    expect(new Set(seen.map((h) => h.buffer)).size).toBe(seen.length);
  });

  it("SUBSCRIBE, PUBACK, PINGREQ, DISCONNECT", () => {
    expect(hex(encodeSubscribe(7, "rec/BWC-0042/down", 1))).toBe(hex(gen({ cmd: "subscribe", messageId: 7, subscriptions: [{ topic: "rec/BWC-0042/down", qos: 1 }] })));
    expect(hex(encodePuback(65535))).toBe(hex(gen({ cmd: "puback", messageId: 65535 })));
    expect(hex(encodePingreq())).toBe(hex(gen({ cmd: "pingreq" })));
    expect(hex(encodeDisconnect())).toBe(hex(gen({ cmd: "disconnect" })));
  });

  it("remaining-length varint at its boundaries (MQTT 3.1.1 table 2.4)", () => {
    const cases: [number, string][] = [[0, "00"], [127, "7f"], [128, "8001"], [16383, "ff7f"], [16384, "808001"], [2097151, "ffff7f"], [2097152, "80808001"], [268435455, "ffffff7f"]];
    for (const [n, h] of cases) {
      const b = new Uint8Array(4);
      const end = putRemainingLength(b, 0, n);
      expect(hex(b.subarray(0, end))).toBe(h);
      expect(remainingLengthSize(n)).toBe(end);
    }
    expect(() => putRemainingLength(new Uint8Array(5), 0, 268435456)).toThrow(/PACKET_TOO_LARGE/);
  });
});

describe("codec: stream decoding", () => {
  const big = bytes(3000, 5);
  const stream = Buffer.concat([
    mqttPacket.generate({ cmd: "connack", returnCode: 0, sessionPresent: true } as never),
    mqttPacket.generate({ cmd: "suback", messageId: 9, granted: [1] } as never),
    mqttPacket.generate({ cmd: "publish", topic: "rec/d/down", payload: Buffer.from(all256()), qos: 1, messageId: 300, dup: true, retain: false } as never),
    mqttPacket.generate({ cmd: "puback", messageId: 65535 } as never),
    mqttPacket.generate({ cmd: "pingresp" } as never),
    mqttPacket.generate({ cmd: "publish", topic: "t/ü", payload: Buffer.from(big), qos: 0, retain: true, dup: false } as never),
    mqttPacket.generate({ cmd: "publish", topic: "e", payload: Buffer.alloc(0), qos: 1, messageId: 1, dup: false, retain: false } as never),
  ]);
  const summary = (k: Packet) => [k.type, k.code, k.sessionPresent, k.id, k.qos, k.dup, k.retain, k.topic, k.payload ? hex(k.payload) : null].join("|");
  const expected = [
    [CONNACK, 0, true, 0, 0, false, false, "", null],
    [SUBACK, 1, false, 9, 0, false, false, "", null],
    [PUBLISH, 0, false, 300, 1, true, false, "rec/d/down", hex(all256())],
    [PUBACK, 0, false, 65535, 0, false, false, "", null],
    [PINGRESP, 0, false, 0, 0, false, false, "", null],
    [PUBLISH, 0, false, 0, 0, false, true, "t/ü", hex(big)],
    [PUBLISH, 0, false, 1, 1, false, false, "e", ""],
  ].map((a) => a.join("|"));

  function decodeIn(pieces: Uint8Array[], max: number): string[] {
    const p = new MqttParser(max);
    const out: string[] = [];
    for (const piece of pieces) expect(p.push(piece, (k) => out.push(summary(k)))).toBe("");
    expect(p.len).toBe(0);
    return out;
  }

  it("whole, and split into two at every byte offset", () => {
    const b = new Uint8Array(stream);
    expect(decodeIn([b], 4096)).toEqual(expected);
    for (let i = 0; i <= b.length; i++) expect(decodeIn([b.subarray(0, i), b.subarray(i)], 4096)).toEqual(expected);
  });

  it("one byte at a time, and in three pieces at every pair of offsets around the varints", () => {
    const b = new Uint8Array(stream);
    const ones: Uint8Array[] = [];
    for (let i = 0; i < b.length; i++) ones.push(b.subarray(i, i + 1));
    expect(decodeIn(ones, 4096)).toEqual(expected);
    for (let i = 0; i < 300; i += 3) for (let j = i; j < 320; j += 5) expect(decodeIn([b.subarray(0, i), b.subarray(i, j), b.subarray(j)], 4096)).toEqual(expected);
  });

  it("our encodings decode to what was encoded (round trip through mqtt-packet too)", () => {
    const pub = encodePublish("rec/x/up", all256(), 1, 42, true);
    const theirs = parseWithMqttPacket(pub)[0];
    expect(theirs).toMatchObject({ cmd: "publish", topic: "rec/x/up", qos: 1, messageId: 42, dup: true });
    expect(hex(theirs.payload as Buffer)).toBe(hex(all256()));
    const got: Packet[] = [];
    expect(new MqttParser(1000).push(pub, (k) => got.push(k))).toBe("");
    expect(summary(got[0])).toBe([PUBLISH, 0, false, 42, 1, true, false, "rec/x/up", hex(all256())].join("|"));
  });

  it("refuses a packet above the limit from its header alone, and a malformed varint", () => {
    const pub = encodePublish("t", bytes(2000, 1), 1, 1, false);
    const p = new MqttParser(1000);
    expect(p.push(pub.subarray(0, 3), () => {})).toBe("PACKET_TOO_LARGE");
    expect(p.len).toBe(0);
    expect(p.buf.length).toBeLessThanOrEqual(1005);
    expect(new MqttParser(1000).push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), () => {})).toBe("MQTT_MALFORMED");
    expect(new MqttParser(1000).push(new Uint8Array([0x40, 0x03, 0, 1, 2]), () => {})).toBe("MQTT_MALFORMED");
    expect(new MqttParser(1000).push(new Uint8Array([0x10, 0x00]), () => {})).toBe("MQTT_UNEXPECTED");
    expect(new MqttParser(1000).push(new Uint8Array([0x34, 0x03, 0, 1, 0x61]), () => {})).toBe("MQTT_QOS");
  });
});

/** A transport whose sockets the test plays broker for, on the (fake or real) global timers. */
function fakeTransport() {
  const conns: { writes: Uint8Array[]; ended: boolean; onData: (b: Uint8Array) => void; onClose: () => void }[] = [];
  const t: Transport = {
    connect(_host: string, _port: number, onData: (b: Uint8Array) => void, onClose: () => void): Conn {
      const c = { writes: [] as Uint8Array[], ended: false, onData, onClose };
      conns.push(c);
      return { write: (b) => { c.writes.push(new Uint8Array(b)); }, end: () => { c.ended = true; } };
    },
    after: (fn, ms) => setTimeout(fn, ms),
    cancel: (h) => clearTimeout(h as NodeJS.Timeout),
    now: () => Date.now(),
  };
  return { t, conns };
}
const connack = () => new Uint8Array([0x20, 2, 0, 0]);
const typesOf = (writes: Uint8Array[]) => writes.filter((w) => w.length >= 2 && w[0] >> 4 !== 0).map((w) => w[0] >> 4);
const opts = (o: Partial<MqttOptions>): MqttOptions => ({ host: "h", port: 1, clientId: "c", keepalive: 10, clean: true, ...o });

describe("client (fake transport and timers)", () => {
  afterEach(() => { vi.useRealTimers(); });

  it("keepalive: PINGREQ after the interval; PINGRESP keeps the link; silence closes it", () => {
    vi.useFakeTimers();
    const f = fakeTransport();
    const c = new MqttClient(f.t, opts({ keepalive: 10, responseTimeout: 3000, backoffMin: 1000, random: () => 0 }));
    const closes: string[] = [];
    c.onClose = (r) => closes.push(r);
    c.connect();
    f.conns[0].onData(connack());
    expect(c.connected).toBe(true);
    const pings = () => f.conns[0].writes.filter((w) => w[0] === 0xc0).length;
    vi.advanceTimersByTime(9999);
    expect(pings()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(pings()).toBe(1);
    f.conns[0].onData(new Uint8Array([0xd0, 0]));
    vi.advanceTimersByTime(5000);
    expect(c.connected).toBe(true);
    // A write pushes the next ping back: keepalive counts from the last packet sent.
    c.publish("t", new Uint8Array([1]), 0);
    vi.advanceTimersByTime(9000);
    expect(pings()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(pings()).toBe(2);
    // No answer: dead after responseTimeout, socket closed, reconnect after the backoff.
    vi.advanceTimersByTime(2999);
    expect(c.connected).toBe(true);
    vi.advanceTimersByTime(1);
    expect(c.connected).toBe(false);
    expect(f.conns[0].ended).toBe(true);
    expect(closes).toEqual(["TIMEOUT"]);
    vi.advanceTimersByTime(500); // random 0: half of backoffMin
    expect(f.conns).toHaveLength(2);
    expect(typesOf(f.conns[1].writes)).toEqual([1]);
  });

  it("no CONNACK within responseTimeout: closed and retried with growing, bounded, jittered backoff", () => {
    vi.useFakeTimers();
    const f = fakeTransport();
    let r = 0.999;
    const c = new MqttClient(f.t, opts({ responseTimeout: 1000, backoffMin: 100, backoffMax: 800, random: () => r }));
    c.connect();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      vi.advanceTimersByTime(1000); // dead: retry scheduled
      const before = f.conns.length;
      let waited = 0;
      while (f.conns.length === before) { vi.advanceTimersByTime(1); waited++; }
      delays.push(waited);
    }
    expect(delays).toEqual([100, 200, 400, 800, 800, 800].map((d) => Math.floor(d / 2 + (0.999 * d) / 2)));
    r = 0;
    vi.advanceTimersByTime(1000);
    expect(c.backoff()).toBeGreaterThanOrEqual(400);
    c.end();
    vi.advanceTimersByTime(100000);
    expect(f.conns).toHaveLength(7);
  });

  it("a connection the broker closes before its CONNACK (nats-server that cannot make the session) is tried again after the backoff", () => {
    vi.useFakeTimers();
    const f = fakeTransport();
    const c = new MqttClient(f.t, opts({ responseTimeout: 10000, backoffMin: 1000, random: () => 0 }));
    const closes: string[] = [];
    c.onClose = (r) => closes.push(r);
    c.connect();
    c.publish("rec/c/up", new Uint8Array([7]), 1);
    expect(typesOf(f.conns[0].writes)).toEqual([1]); // CONNECT; the publish waits for the CONNACK
    f.conns[0].onClose();
    expect(closes).toEqual(["CLOSED"]);
    vi.advanceTimersByTime(499); // random 0: half of backoffMin
    expect(f.conns).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(f.conns).toHaveLength(2);
    f.conns[1].onData(connack());
    expect(c.connected).toBe(true);
    expect(typesOf(f.conns[1].writes)).toEqual([1, 3]); // CONNECT, then the waiting PUBLISH
    c.end();
  });

  it("a refused subscription (SUBACK 0x80, as nats-server gives while a stream elects its leader) ends the connection; the next asks again, the backoff growing until one is granted", () => {
    vi.useFakeTimers();
    const f = fakeTransport();
    const c = new MqttClient(f.t, opts({ backoffMin: 1000, backoffMax: 8000, random: () => 0 }));
    const closes: string[] = [];
    const granted: number[] = [];
    c.onClose = (r) => closes.push(r);
    c.onSuback = (_id, g) => granted.push(g);
    c.subscribe("rec/c/down");
    c.connect();
    const subackFor = (i: number, code: number) => {
      const sub = f.conns[i].writes.find((w) => w[0] >> 4 === 8)!;
      f.conns[i].onData(new Uint8Array([0x90, 3, sub[2], sub[3], code]));
    };
    // Refused three times: each connection closed, the next made after a growing wait (half of 1, 2, 4 s with random 0).
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      f.conns[i].onData(connack());
      expect(typesOf(f.conns[i].writes)).toEqual([1, 8]); // CONNECT, SUBSCRIBE
      subackFor(i, 0x80);
      expect(f.conns[i].ended).toBe(true);
      expect(c.connected).toBe(false);
      let waited = 0;
      while (f.conns.length === i + 1) { vi.advanceTimersByTime(1); waited++; }
      waits.push(waited);
    }
    expect(closes).toEqual(["SUBACK_REFUSED", "SUBACK_REFUSED", "SUBACK_REFUSED"]);
    expect(waits).toEqual([500, 1000, 2000]);
    expect(granted).toEqual([]);
    // Granted on the fourth: the connection stays, and a later drop waits the shortest backoff again.
    f.conns[3].onData(connack());
    subackFor(3, 1);
    expect(granted).toEqual([1]);
    expect(c.connected).toBe(true);
    f.conns[3].onClose();
    let waited = 0;
    while (f.conns.length === 4) { vi.advanceTimersByTime(1); waited++; }
    expect(waited).toBe(500);
    c.end();
  });

  it("packet ids: 1..65535, wrapping, skipping ids in use; window bounded; PUBACK frees a slot", () => {
    const f = fakeTransport();
    const c = new MqttClient(f.t, opts({ keepalive: 0, maxInflight: 3 }));
    const acks: number[] = [];
    c.onPuback = (id) => acks.push(id);
    c.connect();
    f.conns[0].onData(connack());
    expect(c.publish("t", new Uint8Array([1]), 1)).toBe(1);
    c.nextId = 65533;
    expect(c.publish("t", new Uint8Array([2]), 1)).toBe(65534);
    expect(c.publish("t", new Uint8Array([3]), 1)).toBe(65535);
    expect(c.canPublish()).toBe(false);
    expect(c.publish("t", new Uint8Array([4]), 1)).toBe(-1);
    f.conns[0].onData(new Uint8Array([0x40, 2, 0xff, 0xfe, 0x40, 2, 0x12, 0x34])); // 65534, and an unknown id
    expect(acks).toEqual([65534]);
    expect(c.publish("t", new Uint8Array([5]), 1)).toBe(2); // wrapped past 65535, skipped 1 (in use)
    expect(c.publish("t", new Uint8Array([6]), 1)).toBe(-1);
    // A QoS 1 PUBLISH from the broker is acknowledged and delivered.
    const got: string[] = [];
    c.onMessage = (topic, p) => got.push(topic + ":" + hex(p));
    f.conns[0].onData(encodePublish("rec/c/down", new Uint8Array([9, 8]), 1, 77, false));
    expect(got).toEqual(["rec/c/down:0908"]);
    expect(hex(f.conns[0].writes[f.conns[0].writes.length - 1])).toBe(hex(encodePuback(77)));
  });

  it("publishes made offline wait for the CONNACK; resends after a drop carry DUP and the same ids", () => {
    vi.useFakeTimers();
    const f = fakeTransport();
    const c = new MqttClient(f.t, opts({ keepalive: 0, backoffMin: 10, random: () => 0 }));
    expect(c.publish("t", new Uint8Array([1]), 1)).toBe(1);
    c.connect();
    expect(typesOf(f.conns[0].writes)).toEqual([1]); // CONNECT only
    f.conns[0].onData(connack());
    const firstHeader = f.conns[0].writes[1];
    expect(firstHeader[0]).toBe(0x32); // PUBLISH QoS 1, no DUP: never sent before
    expect(c.publish("t", new Uint8Array([2]), 1)).toBe(2);
    f.conns[0].onClose();
    vi.advanceTimersByTime(5);
    f.conns[1].onData(connack());
    const headers = f.conns[1].writes.filter((w) => w[0] >> 4 === PUBLISH);
    expect(headers.map((h) => h[0])).toEqual([0x3a, 0x3a]); // DUP | QoS 1
    expect(headers.map((h) => (h[h.length - 2] << 8) | h[h.length - 1])).toEqual([1, 2]);
  });
});

// ---- against a real broker ----

interface Broker { port: number; close(): Promise<void> }

async function startBroker(): Promise<Broker> {
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle as never);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () => new Promise<void>((ok) => {
      server.close();
      broker.close(() => ok());
    }),
  };
}

/** mqtt.js subscribed to `topic`: every payload it receives, and the DUP flags. */
async function listen(port: number, topic: string) {
  const sub = await mqtt.connectAsync("mqtt://127.0.0.1:" + port, { clientId: "listener-" + Math.random(), reconnectPeriod: 0 });
  await sub.subscribeAsync(topic, { qos: 1 });
  const got: Buffer[] = [];
  sub.on("message", (_t, payload) => got.push(Buffer.from(payload)));
  const until = async (pred: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error("timed out waiting; got " + got.length);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { sub, got, until };
}

describe("Espruino net transport (hosts/espruino-net.ts)", () => {
  it("a write to a socket that went before its 'close' event (Espruino throws) does not throw; one close follows", async () => {
    const handlers: Record<string, (a: string) => void> = {};
    const written: string[] = [];
    let gone = false;
    const sock = {
      on: (ev: string, fn: (a: string) => void) => { handlers[ev] = fn; },
      write: (s: string) => { if (gone) throw new Error("This socket is closed"); written.push(s); },
      end: () => {},
    };
    const netMod = { connect: (_o: unknown, cb: () => void) => { setTimeout(cb, 0); return sock; } };
    const rt = {
      E: { toUint8Array: (s: string) => new Uint8Array(Buffer.from(s, "latin1")), toString: (b: Uint8Array) => Buffer.from(b).toString("latin1") },
      setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout), getTime: () => Date.now() / 1000,
    };
    const t = espruinoNet(netMod, rt);
    let closes = 0;
    const c = t.connect("h", 1, () => {}, () => { closes++; });
    await new Promise((r) => setTimeout(r, 5));
    c.write(new Uint8Array([1, 2]));
    expect(written).toEqual(["\x01\x02"]);
    handlers.drain("");
    gone = true;
    expect(() => c.write(new Uint8Array([3]))).not.toThrow();
    expect(() => c.write(new Uint8Array([4]))).not.toThrow();
    expect(closes).toBe(0); // not inside the caller's write
    await new Promise((r) => setTimeout(r, 5));
    handlers.close("");
    expect(closes).toBe(1);
  });
});

describe("Espruino net transport pacing (SLICE)", () => {
  it("the socket is given one slice at a time, the next on its 'drain': small parts share a slice, a big one is cut, a short tail rides with the slice before it, the bytes arrive whole and in order", async () => {
    const handlers: Record<string, (a: string) => void> = {};
    const written: string[] = [];
    const sock = { on: (ev: string, fn: (a: string) => void) => { handlers[ev] = fn; }, write: (s: string) => { written.push(s); }, end: () => {} };
    const netMod = { connect: (_o: unknown, cb: () => void) => { setTimeout(cb, 0); return sock; } };
    const rt = {
      E: { toUint8Array: (s: string) => new Uint8Array(Buffer.from(s, "latin1")), toString: (...b: Uint8Array[]) => Buffer.concat(b).toString("latin1") },
      setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout), getTime: () => Date.now() / 1000,
    };
    const c = espruinoNet(netMod, rt).connect("h", 1, () => {}, () => {});
    // A chunk's packet: its header, a prefix, the payload, a suffix; written before the connect completes.
    const parts = [bytes(5, 1), bytes(140, 2), bytes(2 * SLICE + 100, 3), bytes(34, 4)];
    for (const p of parts) c.write(p);
    expect(written).toEqual([]);
    await new Promise((r) => setTimeout(r, 5));
    let drains = 0;
    while (written.length === drains + 1) {
      expect(written[drains].length).toBeLessThanOrEqual(SLICE + SLICE / 4); // never more than a slice (and a short tail) in the socket's buffer
      handlers.drain("");
      drains++;
    }
    expect(written.map((w) => w.length)).toEqual([SLICE, SLICE + 5 + 140 + 100 + 34]);
    expect(Buffer.from(written.join(""), "latin1").equals(Buffer.concat(parts))).toBe(true);
  });
});

describe("Espruino net transport when memory runs out", () => {
  it("a part that E.toString cut short is never written: the socket is ended and one close follows", async () => {
    const written: string[] = [];
    let ended = 0;
    const handlers: Record<string, (a: string) => void> = {};
    const sock = { on: (ev: string, fn: (a: string) => void) => { handlers[ev] = fn; }, write: (s: string) => { written.push(s); }, end: () => { ended++; } };
    const netMod = { connect: (_o: unknown, cb: () => void) => { setTimeout(cb, 0); return sock; } };
    let short = false;
    const rt = {
      E: { toUint8Array: (s: string) => new Uint8Array(Buffer.from(s, "latin1")), toString: (b: Uint8Array) => Buffer.from(short ? b.subarray(0, b.length - 1) : b).toString("latin1") },
      setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout), getTime: () => Date.now() / 1000,
    };
    let closes = 0;
    const c = espruinoNet(netMod, rt).connect("h", 1, () => {}, () => { closes++; });
    await new Promise((r) => setTimeout(r, 5));
    c.write(new Uint8Array([1, 2]));
    handlers.drain("");
    short = true;
    c.write(new Uint8Array([3, 4, 5]));
    short = false;
    c.write(new Uint8Array([6])); // nothing more goes on a connection that lost a part
    expect(written).toEqual(["\x01\x02"]);
    expect(ended).toBe(1);
    await new Promise((r) => setTimeout(r, 5));
    expect(closes).toBe(1);
  });
});

describe("client against aedes (in-process) through node:net", () => {
  let broker: Broker;
  beforeAll(async () => { broker = await startBroker(); });
  afterAll(async () => { await broker.close(); });

  it("QoS 1 binary payloads arrive byte-exact, one PUBACK each; a 20 KiB payload goes out as separate part writes", async () => {
    const l = await listen(broker.port, "rec/dev1/up");
    const t = nodeNet();
    const c = new MqttClient(t, opts({ host: "127.0.0.1", port: broker.port, clientId: "dev1", keepalive: 30 }));
    const acks: number[] = [];
    c.onPuback = (id) => acks.push(id);
    await new Promise<void>((ok) => { c.onConnect = () => ok(); c.connect(); });
    const prefix = bytes(37, 1), payload = bytes(20480, 2), suffix = bytes(35, 3);
    const ids = [c.publish("rec/dev1/up", all256(), 1), c.publish("rec/dev1/up", new Uint8Array(0), 1)];
    const before = t.written[0].length;
    ids.push(c.publishParts("rec/dev1/up", [prefix, payload, suffix], 1));
    const w = t.written[0].slice(before);
    expect(w.map((b) => b.length)).toEqual([1 + 3 + 2 + 11 + 2, 37, 20480, 35]);
    await l.until(() => l.got.length === 3 && acks.length === 3, 5000);
    expect(ids).toEqual([1, 2, 3]);
    expect(acks).toEqual([1, 2, 3]);
    expect(hex(l.got[0])).toBe(hex(all256()));
    expect(l.got[1].length).toBe(0);
    expect(Buffer.compare(l.got[2], Buffer.concat([prefix, payload, suffix]))).toBe(0);
    expect(c.queue).toHaveLength(0);
    c.end();
    await l.sub.endAsync();
  });

  it("a socket killed mid-stream: the client reconnects and resends what was not PUBACKed, with DUP", async () => {
    const l = await listen(broker.port, "rec/dev2/up");
    const t = nodeNet();
    const c = new MqttClient(t, opts({ host: "127.0.0.1", port: broker.port, clientId: "dev2", keepalive: 30, backoffMin: 50, random: () => 0.5 }));
    const acks: number[] = [];
    const closes: string[] = [];
    let connects = 0;
    c.onPuback = (id) => acks.push(id);
    c.onClose = (r) => closes.push(r);
    await new Promise<void>((ok) => { c.onConnect = () => { connects++; ok(); }; c.connect(); });
    const payloads = [0, 1, 2, 3, 4, 5].map((i) => bytes(4096 + i, 10 + i));
    const ids = payloads.map((p) => c.publishParts("rec/dev2/up", [p.subarray(0, 100), p.subarray(100)], 1));
    // Kill it in the same tick: nothing has been PUBACKed yet, and part of what was written is lost.
    t.sockets[0].destroy();
    await l.until(() => acks.length === 6 && connects === 2, 5000);
    expect(closes).toEqual(["CLOSED"]);
    expect(acks.slice().sort((a, b) => a - b)).toEqual(ids);
    // Everything was resent on the second connection, in order, with DUP and the original ids.
    const resent = t.written[1].filter((b) => b[0] >> 4 === PUBLISH);
    expect(resent.map((b) => b[0])).toEqual(ids.map(() => 0x3a));
    expect(resent.map((b) => (b[b.length - 2] << 8) | b[b.length - 1])).toEqual(ids);
    await l.until(() => payloads.every((p) => l.got.some((g) => Buffer.compare(g, Buffer.from(p)) === 0)), 5000);
    for (const g of l.got) expect(payloads.some((p) => Buffer.compare(g, Buffer.from(p)) === 0)).toBe(true);
    c.end();
    await l.sub.endAsync();
  });

  it("subscribes at QoS 1 and receives, and renews the subscription after a reconnect", async () => {
    const t = nodeNet();
    const c = new MqttClient(t, opts({ host: "127.0.0.1", port: broker.port, clientId: "dev3", keepalive: 30, backoffMin: 20, random: () => 0 }));
    const got: string[] = [];
    const subacks: number[] = [];
    c.onMessage = (topic, p) => got.push(topic + ":" + hex(p));
    c.onSuback = (_id, granted) => subacks.push(granted);
    c.subscribe("rec/dev3/down");
    await new Promise<void>((ok) => { c.onConnect = () => ok(); c.connect(); });
    const pub = await mqtt.connectAsync("mqtt://127.0.0.1:" + broker.port, { clientId: "pub3", reconnectPeriod: 0 });
    const wait = async (n: number) => { const end = Date.now() + 5000; while (got.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10)); };
    while (subacks.length < 1) await new Promise((r) => setTimeout(r, 10));
    await pub.publishAsync("rec/dev3/down", Buffer.from(all256()), { qos: 1 });
    await wait(1);
    t.sockets[0].destroy();
    while (subacks.length < 2) await new Promise((r) => setTimeout(r, 10));
    await pub.publishAsync("rec/dev3/down", Buffer.from([1, 2, 3]), { qos: 1 });
    await wait(2);
    expect(subacks).toEqual([1, 1]);
    expect(got).toEqual(["rec/dev3/down:" + hex(all256()), "rec/dev3/down:010203"]);
    c.end();
    await pub.endAsync();
  });
});

// ---- Espruino ----

describe("Espruino", () => {
  it("the gate accepts the client and its net transport", async () => {
    const r = await gate([ENTRY]);
    expect(r.errors.map(formatFinding)).toEqual([]);
    expect(r.ok).toBe(true);
    console.log("mqtt entry bundle: " + r.bundles[0].code.length + " bytes");
  });

  if (missingBuilds()) console.log("MQTT client on the real interpreter: " + missingBuilds() + ": skipped there");
  for (const build of BUILDS) it(`runs on the real interpreter (${build.name} build) against aedes: 3 QoS 1 publishes, 3 PUBACKs`, async () => {
    const BIN = build.bin;
    const broker = await startBroker();
    const l = await listen(broker.port, "rec/esp/up");
    const dir = mkdtempSync(join(tmpdir(), "espruino-mqtt-"));
    try {
      const g = await gate([ENTRY]);
      expect(g.ok).toBe(true);
      writeFileSync(join(dir, "bundle.js"), "var MQTT_PORT = " + broker.port + ";\n" + g.bundles[0].code);
      // Not runOnEspruino: it blocks in spawnSync, and the broker here needs this event loop.
      const started = Date.now();
      const out = await new Promise<string>((ok) => {
        const child = spawn(BIN, ["bundle.js"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
        let text = "";
        child.stdout.on("data", (d: Buffer) => { text += d.toString("latin1"); });
        const kill = setTimeout(() => child.kill("SIGKILL"), 20000);
        child.on("close", () => { clearTimeout(kill); ok(text); });
      });
      const ms = Date.now() - started;
      const lines = out.replace(/\r/g, "").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").split("\n").map((s) => s.replace(/^>+/, "").trim())
        .filter((s) => /^(CONNECTED|PUBACK|DONE|TIMEOUT|CLOSE|Uncaught|ERROR)/.test(s));
      console.log("espruino mqtt run (" + ms + " ms): " + lines.join(" / "));
      expect(lines.filter((s) => s.startsWith("PUBACK"))).toEqual(["PUBACK 1", "PUBACK 2", "PUBACK 3"]);
      expect(lines.some((s) => s.startsWith("DONE "))).toBe(true);
      expect(lines.filter((s) => /^(TIMEOUT|Uncaught|ERROR)/.test(s))).toEqual([]);
      await l.until(() => l.got.length === 3, 5000);
      for (let i = 0; i < 3; i++) {
        const want = all256();
        want[0] = i + 1;
        expect(hex(l.got[i])).toBe(hex(want));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await l.sub.endAsync();
      await broker.close();
    }
  }, 40000);
});
