// The embedded broker: aedes behind a TCP listener, with the admission hooks, the packet
// guard, and the slot limits (slots.ts). Uplink publishes go to ingest; ingest's downlinks go out QoS 1.
import { createServer } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Server, Socket } from "node:net";
import type { EventEmitter } from "node:events";
import { Aedes } from "aedes";
import type { Client, PublishPacket } from "aedes";
import { GuardedConnection } from "./guard.js";
import { admission, downTopic, noted, Refusals, upTopic } from "./admission.js";
import { Slots } from "./slots.js";
import type { Slot } from "./slots.js";
import type { DeviceRegistry } from "../devices.js";
import type { Logger } from "../log.js";
import { DEFAULTS } from "../config.js";

export interface BrokerOptions {
  host: string;
  port: number;
  /** A TLS listener too, when given. */
  tls?: { port: number; cert: Buffer; key: Buffer };
  maxPacket: number;
  /** All MQTT sockets at once (R-ADM-2). */
  maxClients: number;
  /** Sockets that have sent no CONNECT yet, at once; past it the oldest of the address holding the most is closed (default: a quarter of maxClients). */
  maxPendingClients?: number;
  /** Sessions one device's login holds at once; more are refused TOO_MANY_SESSIONS (default 4). */
  maxSessionsPerDevice?: number;
  /** A socket that sends no CONNECT within this many ms is closed (and the refusal logged). */
  connectTimeoutMs?: number;
  ratePerSecond: number;
  rateBurst: number;
}

/** Where the broker hands what devices send: given at construction, so the wiring goes one way. */
export interface Uplink {
  /** A message a device published on its uplink topic, from one connection. */
  message(connId: string, deviceId: string, payload: Uint8Array): unknown;
  /** A connection closed. */
  disconnected(connId: string): void;
}

/**
 * aedes with a device's uplink taken out of its routing. aedes routes every authorized publish (a
 * search of its persistence for offline subscribers, its emitter's topic match, a retained check,
 * a `publish` event) before anything sees it. Admission lets a device publish only on its own
 * uplink topic (QoS 0 or 1, never retained) and subscribe only to its own downlink topic, so no
 * subscription can ever match an uplink: routing one was work for nothing on every chunk, about
 * 4 % of the gateway's CPU a chunk at 4 KiB (docs/SCALE.md). aedes' handlers call
 * `publish(packet, client, done)` once a publish is authorized and its PUBACK written: a device's
 * own uplink goes from there to `uplink`; everything else (the downlinks the gateway sends with
 * the public `publish(packet, done)`, which names no client) is routed as before.
 */
class DeviceBroker extends Aedes {
  constructor(opts: never, private uplink: (client: Client, deviceId: string, payload: Buffer) => void) {
    super(opts);
  }
  override publish(packet: PublishPacket, client: Client | null | ((e?: Error) => void), done?: (e?: Error) => void): void {
    const id = client && typeof client === "object" ? (client as Client & { deviceId?: string }).deviceId : undefined;
    if (!id || packet.topic !== upTopic(id)) return (super.publish as (...a: unknown[]) => void).call(this, packet, client, done);
    this.uplink(client as Client, id, packet.payload as Buffer);
    if (done) done();
  }
}

type DeviceClient = Client & { deviceId?: string; conn?: { remoteAddress?: string } };

/**
 * What an error that ends a connection is refused as, or "" when the peer just went away. Refusals
 * that admission made (login, topic, QoS, rate, sessions) were counted there and are not seen here.
 */
function errorCode(err: Error): string {
  const m = err.message || "";
  if (/ECONNRESET|EPIPE|socket hang up|write after end/.test(m)) return "";
  if (/protocol version/.test(m)) return "MQTT_VERSION";
  if (/did not arrive in time/.test(m)) return "CONNECT_TIMEOUT";
  // A logged-in client silent for 1.5 keep-alive periods: gone, or idle on purpose; not malformed.
  if (/keep alive timeout/.test(m)) return "KEEPALIVE_TIMEOUT";
  // It did not read what the gateway wrote to it for aedes' drain timeout (30 s).
  if (/drain timeout/.test(m)) return "DRAIN_TIMEOUT";
  return "MQTT_MALFORMED";
}

/**
 * The SUBACK says the QoS admission grants. aedes writes into the SUBACK the QoS the SUBSCRIBE asked
 * for, whatever authorizeSubscribe returned (it delivers at the returned one): a QoS 2 subscription
 * was answered [2] and sent QoS 1. Downlinks go at QoS 1 (R-TOP-3), and MQTT 3.1.1 §3.8.4 lets a
 * server grant less than asked, saying so in the SUBACK (§3.9.3), so the request is lowered to 1
 * before aedes reads it. The parser is aedes' own (a private field): test/gateway/mqtt-limits.test.ts
 * fails if a new aedes moves it.
 */
function grantQos(client: Client): void {
  const parser = (client as unknown as { _parser?: EventEmitter })._parser;
  parser?.prependListener("packet", (p: { cmd: string; subscriptions?: { qos: number }[] }) => {
    if (p.cmd !== "subscribe" || !p.subscriptions) return;
    for (const s of p.subscriptions) if (s.qos > 1) s.qos = 1;
  });
}

export class Broker {
  aedes!: Aedes;
  server!: Server;
  tlsServer: Server | null = null;
  tlsPort = 0;
  /** Live connections by connection id (not the MQTT client id: a device reconnects under the same one). */
  private clients = new Map<string, Client>();
  private connIds = new WeakMap<Client, string>();
  private connSeq = 0;
  private sockets = new Set<Socket>();
  /** Who holds the connection slots; null until listen(). */
  slots: Slots | null = null;
  private slotOf = new WeakMap<Client, Slot>();
  constructor(private registry: DeviceRegistry, readonly refusals: Refusals, private log: Logger, private up: Uplink) {}

  async listen(o: BrokerOptions): Promise<number> {
    const slots = new Slots({
      maxClients: o.maxClients,
      maxPending: o.maxPendingClients || Slots.pendingShare(o.maxClients),
      maxSessionsPerDevice: o.maxSessionsPerDevice || DEFAULTS.maxSessionsPerDevice,
    }, (code, fields) => this.refusals.note(code, fields));
    this.slots = slots;
    const sessions = {
      limit: slots.limits.maxSessionsPerDevice,
      claim: (c: Client, device: string) => {
        const slot = this.slotOf.get(c);
        return slot ? slots.claim(slot, device, c.id) : null;
      },
    };
    const hooks = admission(this.registry, this.refusals, { perSecond: o.ratePerSecond, burst: o.rateBurst }, sessions);
    // A CONNECT arrived: the socket is no longer an idle one that a newer socket may displace.
    const preConnect = (c: Client, _p: unknown, done: (e: Error | null, ok: boolean) => void) => {
      const slot = this.slotOf.get(c);
      if (slot) slots.connecting(slot);
      done(null, true);
    };
    const uplinks = new DeviceBroker({ ...hooks, preConnect, drainTimeout: 30000, connectTimeout: o.connectTimeoutMs ?? 10000 } as never, (client, id, payload) => {
      void this.up.message(this.connOf(client), id, payload);
    });
    await uplinks.listen();
    this.aedes = uplinks;
    // Connections refused before they are a client (MQTT 5, garbage, no CONNECT in time), and
    // clients that break the protocol later: each logged once, with its reason code (P5). aedes
    // reports an error as a connectionError before the CONNECT names a client id and as a
    // clientError after; admission's own refusals come back here too, counted already.
    const ended = (c: Client, err: Error) => {
      if (noted(err)) return;
      const code = errorCode(err);
      const dc = c as DeviceClient;
      if (code) this.refusals.note(code, { device: dc.deviceId, client: c.id || undefined, remote: dc.conn?.remoteAddress, detail: err.message });
    };
    this.aedes.on("connectionError", ended);
    this.aedes.on("clientError", ended);
    this.aedes.on("client", (c: Client) => this.clients.set(this.connOf(c), c));
    this.aedes.on("clientDisconnect", (c: Client) => {
      const conn = this.connOf(c);
      this.clients.delete(conn);
      this.up.disconnected(conn);
    });
    const accept = (sock: Socket) => {
      const slot = slots.open(sock.remoteAddress, () => sock.destroy());
      if (!slot) {
        sock.destroy();
        return;
      }
      this.sockets.add(sock);
      // What the gateway writes (PUBACKs, Acks, downlinks) goes at once: with Nagle's algorithm on,
      // an Ack written while the PUBACK before it is unacknowledged waits for the device's delayed
      // ACK (a board's TCP stack delays it up to a few hundred ms). A turn's writes already leave as
      // one (guard.ts), so this sends no more segments than it must.
      sock.setNoDelay(true);
      sock.on("close", () => {
        this.sockets.delete(sock);
        slots.free(slot);
      });
      let client: DeviceClient | undefined;
      const conn = new GuardedConnection(sock, o.maxPacket, (size) =>
        this.refusals.note("PACKET_TOO_LARGE", { device: client?.deviceId, client: client?.id || undefined, remote: sock.remoteAddress, size, limit: o.maxPacket }));
      client = this.aedes.handle(conn as never) as DeviceClient;
      this.slotOf.set(client, slot);
      grantQos(client);
    };
    this.server = createServer(accept);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(o.port, o.host, () => resolve());
    });
    if (o.tls) {
      const t = createTlsServer({ cert: o.tls.cert, key: o.tls.key, minVersion: "TLSv1.2" }, accept);
      this.tlsServer = t;
      await new Promise<void>((resolve, reject) => {
        t.once("error", reject);
        t.listen(o.tls!.port, o.host, () => resolve());
      });
      this.tlsPort = (t.address() as { port: number }).port;
      this.log.info({ host: o.host, port: this.tlsPort }, "mqtt over tls listening");
    }
    const addr = this.server.address();
    const port = typeof addr === "object" && addr ? addr.port : o.port;
    this.log.info({ host: o.host, port, maxPacket: o.maxPacket, maxClients: o.maxClients, maxPendingClients: slots.limits.maxPending, maxSessionsPerDevice: slots.limits.maxSessionsPerDevice }, "mqtt listening");
    return port;
  }

  /**
   * One id per connection. A device reconnects under the same MQTT client id, and the old
   * connection's disconnect can be reported after the new one's first message: keyed by client id,
   * that disconnect closed the new connection's session, and its Acks stopped.
   */
  private connOf(c: Client): string {
    let id = this.connIds.get(c);
    if (!id) {
      id = `${c.id}#${++this.connSeq}`;
      this.connIds.set(c, id);
    }
    return id;
  }

  /** Publish a downlink message to a device, QoS 1, not retained (R-TOP-3). */
  send(deviceId: string, bytes: Uint8Array): void {
    this.aedes.publish({ cmd: "publish", topic: downTopic(deviceId), payload: Buffer.from(bytes), qos: 1, retain: false, dup: false } as never, () => undefined);
  }

  /** Backpressure from ingest: stop reading a connection's socket, or read it again. */
  pause(connId: string): void {
    const c = this.clients.get(connId) as (Client & { conn?: unknown }) | undefined;
    if (c && c.conn instanceof GuardedConnection) c.conn.hold();
  }

  resume(connId: string): void {
    const c = this.clients.get(connId) as (Client & { conn?: unknown }) | undefined;
    if (c && c.conn instanceof GuardedConnection) c.conn.release();
  }

  disconnect(connId: string): void {
    const c = this.clients.get(connId);
    if (c) c.close();
  }

  /** Close every live connection of a device (after a revoke). Returns how many. */
  disconnectDevice(deviceId: string): number {
    let n = 0;
    for (const c of this.clients.values()) {
      if ((c as Client & { deviceId?: string }).deviceId === deviceId) {
        c.close();
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    if (this.tlsServer) await new Promise<void>((r) => this.tlsServer!.close(() => r()));
    await new Promise<void>((r) => this.aedes.close(() => r()));
  }
}
