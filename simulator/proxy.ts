// A TCP proxy per simulated device, between it and the gateway: the network faults of the scenarios
// (drops, delay, partitions) applied the same way whatever engine runs the device.
import net from "node:net";
import type { AddressInfo } from "node:net";

export class FaultProxy {
  private server: net.Server;
  private pairs = new Set<[net.Socket, net.Socket]>();
  /** While partitioned, connections are accepted and closed at once (the device sees a dead link). */
  partitioned = false;
  /** Delay applied to every chunk of data each way, ms (order is kept). */
  delayMs = 0;
  connections = 0;
  port = 0;

  constructor(private upstreamHost: string, private upstreamPort: number) {
    this.server = net.createServer((down) => this.accept(down));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** Point the proxy at another gateway address (after a gateway restart on new ports). */
  retarget(host: string, port: number): void {
    this.upstreamHost = host;
    this.upstreamPort = port;
  }

  private accept(down: net.Socket): void {
    down.on("error", () => {});
    if (this.partitioned) { down.destroy(); return; }
    this.connections++;
    const up = net.connect(this.upstreamPort, this.upstreamHost);
    up.on("error", () => {});
    up.setNoDelay(true);
    down.setNoDelay(true);
    const pair: [net.Socket, net.Socket] = [down, up];
    this.pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on("data", (d) => {
        if (this.delayMs) setTimeout(() => { if (!to.destroyed) to.write(d); }, this.delayMs);
        else if (!to.destroyed) to.write(d);
      });
    };
    forward(down, up);
    forward(up, down);
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
