// The embedded broker: aedes behind a TCP listener, with the admission hooks, the packet
// guard, and a client limit. Uplink publishes go to ingest; ingest's downlinks go out QoS 1.
import { createServer } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Server, Socket } from "node:net";
import { Aedes } from "aedes";
import type { Client, PublishPacket } from "aedes";
import { GuardedConnection } from "./guard.js";
import { admission, downTopic, Refusals, upTopic } from "./admission.js";
import type { DeviceRegistry } from "../devices.js";
import type { Logger } from "../log.js";

export interface BrokerOptions {
  host: string;
  port: number;
  /** A TLS listener too, when given. */
  tls?: { port: number; cert: Buffer; key: Buffer };
  maxPacket: number;
  maxClients: number;
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
  constructor(private registry: DeviceRegistry, readonly refusals: Refusals, private log: Logger, private up: Uplink) {}

  async listen(o: BrokerOptions): Promise<number> {
    const hooks = admission(this.registry, this.refusals, { perSecond: o.ratePerSecond, burst: o.rateBurst });
    const uplinks = new DeviceBroker({ ...hooks, drainTimeout: 30000, connectTimeout: o.connectTimeoutMs ?? 10000 } as never, (client, id, payload) => {
      void this.up.message(this.connOf(client), id, payload);
    });
    await uplinks.listen();
    this.aedes = uplinks;
    // Connections refused before they are a client (MQTT 5, garbage, no CONNECT in time), and
    // clients that break the protocol later: each logged with its reason code (P5).
    this.aedes.on("connectionError", (c: Client, err: Error & { code?: string; errorCode?: number }) => {
      if (err.code && err.code.startsWith("AUTH_")) return; // noted by admission already
      if (err.code === "STORE_FAILED") return;
      const m = err.message || "";
      const code = /protocol version/.test(m) ? "MQTT_VERSION" : /did not arrive in time/.test(m) ? "CONNECT_TIMEOUT" : /ECONNRESET|EPIPE|socket hang up/.test(m) ? "" : "MQTT_MALFORMED";
      if (code) this.refusals.note(code, { remote: (c as unknown as { conn?: { remoteAddress?: string } }).conn?.remoteAddress, detail: m });
    });
    this.aedes.on("clientError", (c: Client, err: Error) => {
      const m = err.message || "";
      if (/ECONNRESET|EPIPE|socket hang up|write after end/.test(m)) return;
      this.refusals.note("MQTT_MALFORMED", { device: (c as Client & { deviceId?: string }).deviceId, client: c.id, detail: m });
    });
    this.aedes.on("client", (c: Client) => this.clients.set(this.connOf(c), c));
    this.aedes.on("clientDisconnect", (c: Client) => {
      const conn = this.connOf(c);
      this.clients.delete(conn);
      this.up.disconnected(conn);
    });
    const accept = (sock: Socket) => {
      if (this.sockets.size >= o.maxClients) {
        this.refusals.note("TOO_MANY_CLIENTS", { remote: sock.remoteAddress, limit: o.maxClients });
        sock.destroy();
        return;
      }
      this.sockets.add(sock);
      // What the gateway writes (PUBACKs, Acks, downlinks) goes at once: with Nagle's algorithm on,
      // an Ack written while the PUBACK before it is unacknowledged waits for the device's delayed
      // ACK (a board's TCP stack delays it up to a few hundred ms). A turn's writes already leave as
      // one (guard.ts), so this sends no more segments than it must.
      sock.setNoDelay(true);
      sock.on("close", () => this.sockets.delete(sock));
      const conn = new GuardedConnection(sock, o.maxPacket, (size) => this.refusals.note("PACKET_TOO_LARGE", { remote: sock.remoteAddress, size, limit: o.maxPacket }));
      this.aedes.handle(conn as never);
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
    this.log.info({ host: o.host, port, maxPacket: o.maxPacket, maxClients: o.maxClients }, "mqtt listening");
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
