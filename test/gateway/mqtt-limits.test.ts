// The broker's limits and refusals as a device, a thief with one device's login, or a stranger on
// the station network meets them (P5): one device's login holds a few sessions at most
// (TOO_MANY_SESSIONS), sockets that never send CONNECT can't keep provisioned devices out, every
// refusal is counted once under its own code, and the logs say who.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { Writable } from "node:stream";
import { readFileSync } from "node:fs";
import { pino } from "pino";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { testGateway, provision } from "./harness.js";
import type { Gateway } from "../../gateway/gateway.js";
import { loginPassword } from "../../protocol/chain.js";
import type { FakeDevice } from "./fake-device.js";
import { until } from "../helpers/wait.js";

/** A logger that keeps every line it writes, parsed. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, log: pino({ level: "info" }, stream) };
}

/** An MQTT 3.1.1 CONNECT, by hand (clean session, username and password). */
function connectPacket(clientId: string, user: string, pass: string, keepaliveS: number): Buffer {
  const str = (s: string) => { const b = Buffer.from(s); return [b.length >> 8, b.length & 0xff, ...b]; };
  const body = [...str("MQTT"), 4, 0xc2, keepaliveS >> 8, keepaliveS & 0xff, ...str(clientId), ...str(user), ...str(pass)];
  const len: number[] = [];
  let n = body.length;
  do { let b = n % 128; n = Math.floor(n / 128); if (n) b |= 0x80; len.push(b); } while (n);
  return Buffer.from([0x10, ...len, ...body]);
}

/** Raw TCP sockets that connect and never say anything; resolves once each is open. */
async function rawSockets(port: number, n: number): Promise<Socket[]> {
  return Promise.all(Array.from({ length: n }, () => new Promise<Socket>((res, rej) => {
    const s = connect(port, "127.0.0.1", () => res(s));
    s.on("error", () => undefined);
    s.once("error", rej);
  })));
}

const login = (d: FakeDevice) => loginPassword(d.keys.login);
const mqttAs = (port: number, d: FakeDevice, clientId: string, extra: Record<string, unknown> = {}) =>
  mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: d.id, password: login(d), clientId, reconnectPeriod: 0, connectTimeout: 5000, ...extra }, false);

describe("one device's login can't take every slot", () => {
  let gw: Gateway;
  let close: () => Promise<void>;
  let admin: string;
  const logs = capture();
  beforeAll(async () => {
    ({ gw, close } = await testGateway({ maxClients: 12 }));
    admin = readFileSync(gw.adminTokenFile!, "utf8").trim();
    // The harness's gateway is silent; the broker's refusals are logged through this one instead.
    (gw.broker.refusals as unknown as { log: unknown }).log = logs.log;
  });
  afterAll(() => close());
  const system = async () => (await (await fetch(`http://127.0.0.1:${gw.httpPort}/api/system`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { refusals: Record<string, number> };

  it("refuses the sessions above the per-device limit with TOO_MANY_SESSIONS, naming the device; another device still connects", async () => {
    const thief = await provision(gw, "LIM-0001", { connect: false });
    const honest = await provision(gw, "LIM-0002", { connect: false });
    const held: MqttClient[] = [];
    const refused: unknown[] = [];
    // Far more than the default limit (4), as the tester's 1995 sessions were, on a gateway of 12 slots.
    for (let i = 0; i < 12; i++) {
      const c = await mqttAs(gw.mqttPort, thief, `LIM-0001/${i}`).catch((e) => e);
      if (c instanceof Error) refused.push(c);
      else held.push(c);
    }
    try {
      expect(held.length).toBe(4);
      expect(refused.length).toBe(8);
      // Refused at CONNECT with "server unavailable" (3): the login is good, the device is busy.
      expect((refused[0] as { code?: number }).code).toBe(3);
      expect((await system()).refusals.TOO_MANY_SESSIONS).toBe(8);
      const line = logs.lines.find((l) => l.code === "TOO_MANY_SESSIONS")!;
      expect(line).toMatchObject({ device: "LIM-0001", client: "LIM-0001/4", limit: 4, sessions: 4 });
      // The honest device is let in and works.
      await honest.connect(gw.mqttPort);
      await honest.hello();
      await honest.waitFor((m) => m.kind === "beacon");
      // Taking over one of its own client ids is no new session: admitted at the limit.
      const again = await mqttAs(gw.mqttPort, thief, "LIM-0001/0");
      held.push(again);
      // One ended: the slot is the device's again.
      await again.endAsync();
      await until("the ended session released", async () => {
        const c = await mqttAs(gw.mqttPort, thief, "LIM-0001/new").catch(() => null);
        if (c) held.push(c);
        return !!c;
      }, 5000);
      // The recorder itself, under its own client id, is never kept out by the copies of its login:
      // the oldest of them is closed for it.
      const oldest = held.find((c) => c.connected)!; // LIM-0001/0 was taken over above
      expect(oldest.options.clientId).toBe("LIM-0001/1");
      const closedOldest = new Promise<void>((r) => oldest.once("close", () => r()));
      held.push(await mqttAs(gw.mqttPort, thief, "LIM-0001"));
      await closedOldest;
      expect((await system()).refusals.TOO_MANY_SESSIONS).toBe(9);
      expect((await system()).refusals.MQTT_MALFORMED || 0).toBe(0);
    } finally {
      if (honest.client) await honest.end();
      for (const c of held) c.end(true);
    }
  });

  it("a full gateway says how its slots are held when it refuses TOO_MANY_CLIENTS", async () => {
    // The first test's sessions are gone.
    await until("every slot free", () => gw.broker.slots!.size === 0, 5000);
    const a = await provision(gw, "LIM-0003", { connect: false });
    const held: MqttClient[] = [];
    try {
      // 12 slots: one device's 4 sessions, 8 other devices' one each.
      for (let i = 0; i < 4; i++) held.push(await mqttAs(gw.mqttPort, a, `LIM-0003/${i}`));
      for (let i = 0; i < 8; i++) {
        const d = await provision(gw, `LIM-01${i}0`, { connect: false });
        held.push(await mqttAs(gw.mqttPort, d, d.id));
      }
      const s = connect(gw.mqttPort, "127.0.0.1");
      s.on("error", () => undefined);
      await new Promise((r) => s.once("close", r));
      const line = logs.lines.filter((l) => l.code === "TOO_MANY_CLIENTS").at(-1)!;
      expect(line).toMatchObject({ limit: 12, loggedIn: 12, awaitingConnect: 0, busiest: { device: "LIM-0003", sessions: 4 } });
    } finally {
      for (const c of held) c.end(true);
    }
  });
});

describe("sockets that never send CONNECT can't keep provisioned devices out", () => {
  let gw: Gateway;
  let close: () => Promise<void>;
  beforeAll(async () => {
    // Every slot taken by idle sockets long before their CONNECT timeout (10 s) frees any.
    ({ gw, close } = await testGateway({ maxClients: 40 }));
  });
  afterAll(() => close());

  it("a provisioned device connects while 100 raw sockets wait, and the idle ones make room", async () => {
    const d = await provision(gw, "IDL-0001", { connect: false });
    const socks = await rawSockets(gw.mqttPort, 100);
    try {
      await d.connect(gw.mqttPort);
      await d.hello();
      await d.waitFor((m) => m.kind === "beacon");
      // Idle sockets were closed to make room, each counted; none was called malformed.
      const counts = gw.broker.refusals.counts;
      expect((counts.TOO_MANY_PENDING || 0) + (counts.TOO_MANY_CLIENTS || 0)).toBeGreaterThanOrEqual(60);
      expect(counts.MQTT_MALFORMED || 0).toBe(0);
    } finally {
      for (const s of socks) s.destroy();
      if (d.client) await d.end();
    }
  });
});

describe("every refusal counted once, under its own code", () => {
  let gw: Gateway;
  let close: () => Promise<void>;
  let admin: string;
  const logs = capture();
  beforeAll(async () => {
    ({ gw, close } = await testGateway({ maxPacket: 70000 }));
    admin = readFileSync(gw.adminTokenFile!, "utf8").trim();
    (gw.broker.refusals as unknown as { log: unknown }).log = logs.log;
  });
  afterAll(() => close());
  const system = async () => (await (await fetch(`http://127.0.0.1:${gw.httpPort}/api/system`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { refusals: Record<string, number> };

  it("logins, publishes and subscribes refused: each code once, MQTT_MALFORMED never", async () => {
    const a = await provision(gw, "REF-0001", { connect: false });
    const b = await provision(gw, "REF-0002", { connect: false });
    const fail = (p: Promise<unknown>) => p.then(() => { throw new Error("admitted"); }, () => undefined);
    await fail(mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqttPort}`, { username: "REF-9999", password: "00", clientId: "REF-9999", reconnectPeriod: 0 }, false));
    await fail(mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqttPort}`, { username: a.id, password: "f".repeat(64), clientId: a.id, reconnectPeriod: 0 }, false));
    await fail(mqttAs(gw.mqttPort, a, b.id));
    // A publish on another device's topic, a QoS 2 publish, a subscription to another's downlink:
    // each ends its connection (how aedes refuses them).
    const closed = (c: MqttClient) => new Promise<void>((r) => (c.connected ? c.once("close", () => r()) : r()));
    let c = await mqttAs(gw.mqttPort, a, `${a.id}/x`);
    c.publish(`rec/${b.id}/up`, Buffer.from("x"), { qos: 1 });
    await closed(c);
    c = await mqttAs(gw.mqttPort, a, `${a.id}/x`);
    c.publish(`rec/${a.id}/up`, Buffer.from("x"), { qos: 2 });
    await closed(c);
    c = await mqttAs(gw.mqttPort, a, `${a.id}/x`);
    c.subscribe(`rec/${b.id}/down`, { qos: 1 });
    await closed(c);
    await until("the last refusal counted", async () => ((await system()).refusals.ACL_TOPIC || 0) >= 2, 5000);
    await new Promise((r) => setTimeout(r, 200));
    const r = (await system()).refusals;
    expect(r).toMatchObject({ AUTH_UNKNOWN_DEVICE: 1, AUTH_BAD_CREDENTIAL: 1, AUTH_CLIENT_ID: 1, ACL_TOPIC: 2, ACL_QOS: 1 });
    expect(r.MQTT_MALFORMED || 0).toBe(0);
    expect(logs.lines.filter((l) => l.code === "MQTT_MALFORMED")).toEqual([]);
    // Garbage is still malformed, once.
    const g = connect(gw.mqttPort, "127.0.0.1");
    g.on("error", () => undefined);
    g.write(Buffer.from([0x10, 0x02, 0xff, 0xff]));
    await until("garbage counted", async () => ((await system()).refusals.MQTT_MALFORMED || 0) === 1, 5000);
    g.destroy();
  });

  it("a logged-in device that goes quiet past its keep-alive is KEEPALIVE_TIMEOUT, naming it", async () => {
    const a = await provision(gw, "REF-0003", { connect: false });
    const before = (await system()).refusals;
    const s = connect(gw.mqttPort, "127.0.0.1");
    s.on("error", () => undefined);
    const connack = new Promise<Buffer>((r) => s.once("data", r));
    s.write(connectPacket(a.id, a.id, login(a), 1));
    expect([...(await connack)]).toEqual([0x20, 0x02, 0x00, 0x00]);
    // Keep-alive 1 s: the broker gives up after 1.5 s of silence.
    await new Promise((r) => s.once("close", r));
    const r = (await system()).refusals;
    expect(r.KEEPALIVE_TIMEOUT).toBe(1);
    expect(r.MQTT_MALFORMED || 0).toBe(before.MQTT_MALFORMED || 0);
    expect(logs.lines.find((l) => l.code === "KEEPALIVE_TIMEOUT")).toMatchObject({ device: a.id, client: a.id });
  });

  it("a packet above the limit from a logged-in device names the device", async () => {
    const a = await provision(gw, "REF-0004", { connect: false });
    const c = await mqttAs(gw.mqttPort, a, `${a.id}/big`);
    const gone = new Promise<void>((r) => c.once("close", () => r()));
    c.publish(`rec/${a.id}/up`, Buffer.alloc(80000), { qos: 1 });
    await gone;
    await until("PACKET_TOO_LARGE logged", () => logs.lines.some((l) => l.code === "PACKET_TOO_LARGE"), 5000);
    expect(logs.lines.find((l) => l.code === "PACKET_TOO_LARGE")).toMatchObject({ device: a.id, client: `${a.id}/big`, limit: 70000 });
    c.end(true);
  });

  it("a QoS 2 subscription is granted QoS 1, as the SUBACK says", async () => {
    const a = await provision(gw, "REF-0005", { connect: false });
    const c = await mqttAs(gw.mqttPort, a, a.id);
    try {
      const granted = await c.subscribeAsync(`rec/${a.id}/down`, { qos: 2 });
      expect(granted.map((g) => g.qos)).toEqual([1]);
      // And what it is sent comes at QoS 1.
      const got = new Promise<number>((r) => c.once("packetreceive", (p) => { if (p.cmd === "publish") r(p.qos); }));
      gw.broker.send(a.id, new Uint8Array([1, 2, 3]));
      expect(await got).toBe(1);
    } finally {
      await c.endAsync();
    }
  });
});

describe("the per-device limit as the station's option sets it", () => {
  it("--max-sessions-per-device 2: a third session of one device's login refused", async () => {
    const { gw, close } = await testGateway({ maxSessionsPerDevice: 2 });
    const held: MqttClient[] = [];
    try {
      const d = await provision(gw, "LIM-0201", { connect: false });
      for (let i = 0; i < 2; i++) held.push(await mqttAs(gw.mqttPort, d, `LIM-0201/${i}`));
      await expect(mqttAs(gw.mqttPort, d, "LIM-0201/2")).rejects.toMatchObject({ code: 3 });
    } finally {
      for (const c of held) c.end(true);
      await close();
    }
  });
});
