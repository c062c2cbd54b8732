// A TCP proxy per simulated device, between it and the gateway: the network faults of the scenarios
// (drops, delay, partitions) applied the same way whatever engine runs the device. In front of a
// region's NATS nodes it is also what a device's one address would be in service (a DNS name with
// every node's address, a load balancer): a connection goes to the node that answered last, and
// to the next in turn when that one refuses.
import net from "node:net";
import type { AddressInfo } from "node:net";

/** Where the proxy connects: a gateway's MQTT listener, or one of a region's NATS nodes'. */
export interface Upstream { host: string; port: number }

export class FaultProxy {
  private server: net.Server;
  private pairs = new Set<[net.Socket, net.Socket]>();
  /** While partitioned, connections are accepted and closed at once (the device sees a dead link). */
  partitioned = false;
  /** Delay applied to every chunk of data each way, ms (order is kept). */
  delayMs = 0;
  connections = 0;
  port = 0;

  /** The upstreams, the one a connection goes to first at `current`. */
  private upstreams: Upstream[];
  private current = 0;

  /** To `host:port`; with `others`, those in turn when the one before refuses. */
  constructor(host: string, port: number, others: Upstream[] = []) {
    this.upstreams = [{ host, port }, ...others];
    this.server = net.createServer((down) => this.accept(down));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  private accept(down: net.Socket): void {
    down.on("error", () => {});
    if (this.partitioned) { down.destroy(); return; }
    this.connections++;
    // What the device sends waits in its socket until an upstream has answered: bytes written to
    // one that then refused would be lost with it.
    down.pause();
    const dial = (tried: number) => {
      const k = (this.current + tried) % this.upstreams.length;
      const up = net.connect(this.upstreams[k].port, this.upstreams[k].host);
      const gone = () => up.destroy();
      down.once("close", gone);
      const refused = () => {
        down.off("close", gone);
        if (tried + 1 < this.upstreams.length && !down.destroyed) dial(tried + 1);
        else down.destroy();
      };
      up.once("error", refused);
      up.once("connect", () => {
        down.off("close", gone);
        up.off("error", refused);
        up.on("error", () => {});
        this.current = k;
        this.pipe(down, up);
      });
    };
    dial(0);
  }

  private pipe(down: net.Socket, up: net.Socket): void {
    // Gone while it dialled, or a partition began meanwhile.
    if (down.destroyed || this.partitioned) { up.destroy(); down.destroy(); return; }
    up.setNoDelay(true);
    down.setNoDelay(true);
    const pair: [net.Socket, net.Socket] = [down, up];
    this.pairs.add(pair);
    // A delay never reorders: TCP delivers a stream's bytes in order, so data waits behind what
    // is already waiting, even after the delay was lowered. (A timer per piece with the delay of
    // the moment let a piece sent after the delay dropped overtake earlier ones: the gateway then
    // read a packet made of two packets' bytes, a PAYLOAD_HASH no real network produces.)
    const forward = (from: net.Socket, to: net.Socket) => {
      const waiting: { at: number; d: Buffer }[] = [];
      let timer: ReturnType<typeof setTimeout> | null = null;
      const flush = () => {
        timer = null;
        while (waiting.length && waiting[0].at <= Date.now()) {
          const d = (waiting.shift() as { d: Buffer }).d;
          if (!to.destroyed) to.write(d);
        }
        if (waiting.length) timer = setTimeout(flush, waiting[0].at - Date.now());
      };
      from.on("data", (d: Buffer) => {
        if (!this.delayMs && !waiting.length) { if (!to.destroyed) to.write(d); return; }
        const last = waiting.length ? waiting[waiting.length - 1].at : 0;
        waiting.push({ at: Math.max(Date.now() + this.delayMs, last), d });
        if (!timer) timer = setTimeout(flush, Math.max(0, waiting[0].at - Date.now()));
      });
    };
    forward(down, up);
    forward(up, down);
    down.resume(); // paused by accept() until the upstream answered
    const close = () => { this.pairs.delete(pair); down.destroy(); up.destroy(); };
    down.on("close", close);
    up.on("close", close);
  }

  /** Cut every live connection (the device reconnects). */
  dropAll(): void {
    for (const [a, b] of this.pairs) { a.destroy(); b.destroy(); }
    this.pairs.clear();
  }

  partition(on: boolean): void {
    this.partitioned = on;
    if (on) this.dropAll();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
