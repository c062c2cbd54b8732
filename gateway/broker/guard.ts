// A duplex in front of each MQTT socket that measures packets from their fixed headers and
// cuts a connection whose packet is larger than the limit, before aedes buffers it: aedes
// has no packet-size option (R-TOP-4).
import { Duplex } from "node:stream";
import type { Socket } from "node:net";

/** Tracks MQTT packet boundaries in a byte stream; returns false once a packet exceeds `max`. */
export class PacketMeter {
  private state = 0; // 0: first byte, 1: length varint, 2: body
  private len = 0;
  private mul = 1;
  private left = 0;
  largest = 0;
  constructor(private max: number) {}
  feed(b: Uint8Array): boolean {
    let i = 0;
    while (i < b.length) {
      if (this.state === 0) { this.state = 1; this.len = 0; this.mul = 1; i++; continue; }
      if (this.state === 1) {
        const c = b[i++];
        this.len += (c & 127) * this.mul;
        this.mul *= 128;
        if (c & 128) { if (this.mul > 128 ** 4) return false; continue; }
        if (this.len + 5 > this.max) { this.largest = this.len; return false; }
        this.left = this.len;
        this.state = this.left ? 2 : 0;
        continue;
      }
      const take = Math.min(this.left, b.length - i);
      this.left -= take;
      i += take;
      if (!this.left) this.state = 0;
    }
    return true;
  }
}

/** The socket as aedes sees it, with the meter on the way in. */
export class GuardedConnection extends Duplex {
  readonly remoteAddress: string | undefined;
  /** Ingest is behind on this connection: nothing more is read until it catches up (backpressure). */
  private held = false;
  /** Writes are corked until the callback that made them is done (write()). */
  private corkedNow = false;
  constructor(private sock: Socket, max: number, onTooLarge: (size: number) => void) {
    super();
    this.remoteAddress = sock.remoteAddress;
    const meter = new PacketMeter(max);
    sock.on("data", (buf) => {
      if (!meter.feed(buf)) {
        onTooLarge(meter.largest);
        sock.destroy();
        return;
      }
      if (!this.push(buf)) sock.pause();
    });
    sock.on("end", () => this.push(null));
    sock.on("close", () => this.destroy());
    sock.on("error", (e) => this.destroy(e));
  }
  override _read(): void {
    if (!this.held) this.sock.resume();
  }
  /**
   * Stop reading the socket until release(): the device's writes wait in TCP, its PUBACKs wait,
   * its window stops it. Memory stays flat whatever one device sends, and others are not slowed.
   */
  hold(): void {
    this.held = true;
    this.sock.pause();
  }
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.sock.resume();
  }
  /**
   * What aedes writes to a connection in one callback (the PUBACKs of every packet one read
   * brought) leaves as one socket write once the callback's work is done (process.nextTick), not
   * one system call per packet: a loaded gateway spent a twentieth of its main thread in them.
   * Not at the end of the loop's turn (setImmediate), as before: aedes writes a downlink from a
   * setImmediate of its own, and a setImmediate made there waits for the next turn, so every Ack
   * left one turn late (10 to 20 ms at half the maximum rate).
   */
  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (!this.corkedNow) {
      this.corkedNow = true;
      this.cork();
      process.nextTick(() => {
        this.corkedNow = false;
        this.uncork();
      });
    }
    return super.write(chunk, encoding as BufferEncoding, cb as (e?: Error | null) => void);
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.sock.write(chunk, cb);
  }
  /**
   * What aedes writes for one packet (mqtt-packet corks the stream, then writes the fixed header,
   * the length, the packet id and the payload one by one) leaves as one socket write. Without
   * this, Duplex hands the corked pieces to _write one at a time and each goes out as its own
   * TCP segment: a PUBACK reached a recorder in two or three reads, and every read costs a board
   * a call into its interpreter.
   */
  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.sock.write(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }
  override _final(cb: (e?: Error | null) => void): void {
    this.sock.end(cb);
  }
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.sock.destroy();
    cb(err);
  }
}
