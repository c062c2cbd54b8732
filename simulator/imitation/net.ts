// require("net") imitated with real TCP (node:net), plus the network faults a test can inject.
//
// Measured on the Linux interpreter (2v29), reproduced: `data` events carry binary strings of at
// most 536 bytes; write(s) takes a binary string and returns false (the data is queued; a "drain"
// event follows once it is sent); writes before the connection is up are sent after it; the connect
// callback gets the socket; when the peer closes, "end" (null) then "close" (false) arrive.
// Differs on purpose: the Linux interpreter connects synchronously and THROWS on a refused connect
// ("Unable to create socket"); a board connects asynchronously and reports an "error" event. This
// imitation does what a board does: "error" ({code, message}, code negative) then "close" (true).
//
// Faults (device.net): each socket has two lanes, device-to-network and network-to-device, through
// which everything passes in order:
//   - delay(ms): every action (connect, write, end) and every event waits ms more (one-way latency).
//   - partition(true): both lanes stop; nothing is lost (TCP would retransmit) and everything
//     resumes in order on partition(false). A connect made meanwhile starts on resume. Whether the
//     firmware's keepalive gives up first is what such a test is about.
//   - dropAll(): every connection is reset now (the peer gets an RST); the device sees "error" and
//     "close"; data not yet delivered either way is lost.
import * as nodeNet from "node:net";
import type { EspNet, EspSocket } from "../../firmware/hosts/env.js";
import { dataBytes } from "./binary.js";
import type { Life, Scheduler } from "./runtime.js";
import { strict } from "./strict.js";

/** The largest `data` event (the Linux interpreter's). */
export const DATA_CHUNK = 536;

/** Actions in order, each due `delay` after it was queued; held while the network is partitioned. */
class Lane {
  net: SimNet;
  items: { due: number; run: () => void }[];
  timer: unknown;
  pumping: boolean;

  constructor(net: SimNet) {
    this.net = net;
    this.items = [];
    this.timer = null;
    this.pumping = false;
  }

  push(run: () => void): void {
    this.items.push({ due: this.net.now() + this.net.delayMs, run });
    this.pump();
  }

  pump(): void {
    if (this.pumping || this.timer !== null) return;
    this.pumping = true;
    try {
      while (this.items.length && !this.net.partitioned) {
        const wait = this.items[0].due - this.net.now();
        if (wait > 0) {
          this.timer = this.net.sched.setTimeout(() => { this.timer = null; this.pump(); }, wait);
          return;
        }
        (this.items.shift() as { run: () => void }).run();
      }
    } finally {
      this.pumping = false;
    }
  }

  clear(): void {
    this.items = [];
    if (this.timer !== null) this.net.sched.clearTimeout(this.timer);
    this.timer = null;
  }
}

type Handler = (arg: unknown) => void;

class SimSocket {
  net: SimNet;
  face: EspSocket;
  handlers: Record<string, Handler[]>;
  node: nodeNet.Socket | null;
  out: Lane;
  inn: Lane;
  ended: boolean;
  closed: boolean;
  /** The connection is gone (its "close" may still be on its way to the device). */
  gone: boolean;
  unsent: number;
  listeners: [string, (...a: unknown[]) => void][];

  constructor(net: SimNet, host: string, port: number, onConnect: Handler | undefined) {
    this.net = net;
    this.handlers = {};
    this.node = null;
    this.out = new Lane(net);
    this.inn = new Lane(net);
    this.ended = false;
    this.closed = false;
    this.gone = false;
    this.unsent = 0;
    this.listeners = [];
    if (onConnect) this.handlers.connect = [onConnect];
    const life = net.life;
    this.face = strict("Socket", {
      // The env's type says string; "error" gets {code, message}, "close" a boolean, "end" null.
      on: (ev: string, fn: (arg: string) => void): void => {
        life.check();
        if (typeof fn !== "function") throw new TypeError("Socket.on: expected a function");
        (this.handlers[ev] = this.handlers[ev] || []).push(fn as Handler);
      },
      removeAllListeners: (ev?: string): void => {
        life.check();
        if (ev === undefined) this.handlers = {};
        else delete this.handlers[ev];
      },
      write: (s: string): boolean => {
        life.check();
        // As Espruino: a write once the connection has gone, even before the device has had its
        // "close" event, throws.
        if (this.gone || this.closed) throw new Error("This socket is closed");
        this.write(s);
        return false;
      },
      end: (): void => {
        life.check();
        this.end();
      },
    }, { unimplemented: ["available", "read", "pipe", "emit", "removeListener"] });
    this.out.push(() => this.open(host, port));
  }

  emit(ev: string, arg?: unknown): void {
    const hs = this.handlers[ev];
    if (!hs) return;
    for (const h of hs.slice()) this.net.life.run(() => h(arg));
  }

  open(host: string, port: number): void {
    const s = nodeNet.connect({ host, port });
    this.node = s;
    s.setNoDelay(true);
    this.listen("connect", () => this.inn.push(() => this.emit("connect", this.face)));
    this.listen("data", (b: Buffer) => {
      this.net.rx += b.length;
      for (let off = 0; off < b.length; off += this.net.chunk) {
        const str = b.toString("latin1", off, Math.min(b.length, off + this.net.chunk));
        this.inn.push(() => this.emit("data", str));
      }
    });
    this.listen("end", () => this.inn.push(() => this.emit("end", null)));
    this.listen("error", (e: NodeJS.ErrnoException) => this.inn.push(() => this.emit("error", { code: -1, message: e.code || e.message })));
    this.listen("close", (hadError: boolean) => {
      this.gone = true;
      this.inn.push(() => {
        this.closed = true;
        this.net.sockets.delete(this);
        this.emit("close", hadError);
      });
    });
  }

  /** Our listeners on the Node socket, kept so detach() removes exactly them (not Node's own). */
  listen<A extends unknown[]>(ev: string, fn: (...a: A) => void): void {
    (this.node as nodeNet.Socket).on(ev, fn as (...a: unknown[]) => void);
    this.listeners.push([ev, fn as (...a: unknown[]) => void]);
  }

  write(s: string): void {
    if (this.ended || this.closed) return;
    const b = dataBytes("Socket.write", s);
    this.net.tx += b.length;
    this.unsent++;
    this.out.push(() => {
      const node = this.node;
      if (!node || node.destroyed) return;
      node.write(b, () => {
        // Espruino signals "drain" once everything queued has gone out.
        if (--this.unsent === 0) this.inn.push(() => this.emit("drain"));
      });
    });
  }

  end(): void {
    if (this.ended || this.closed) return;
    this.ended = true;
    this.out.push(() => { if (this.node) this.node.end(); });
  }

  /** Detach from the Node socket: no more events reach the device. */
  detach(): nodeNet.Socket | null {
    this.out.clear();
    this.inn.clear();
    this.closed = true;
    this.net.sockets.delete(this);
    const s = this.node;
    if (s) {
      for (const [ev, fn] of this.listeners) s.off(ev, fn);
      this.listeners = [];
      s.on("error", () => {}); // a late error on a detached socket must not reach the process
    }
    return s;
  }

  /** The network resets the connection: RST to the peer, error and close to the device. */
  reset(): void {
    if (this.closed) return;
    const s = this.detach();
    if (s) s.resetAndDestroy();
    const life = this.net.life;
    this.net.sched.setTimeout(() => {
      life.run(() => this.emit("error", { code: -1, message: "connection reset (simulated)" }));
      life.run(() => this.emit("close", true));
    }, 0);
  }
}

/** How long a silently dead device's connections stay open at most, if the peer never closes them. */
const ZOMBIE_MS = 10 * 60 * 1000;

/** The network of one device. */
export class SimNet {
  life: Life;
  sched: Scheduler;
  now: () => number;
  chunk: number;
  partitioned: boolean;
  delayMs: number;
  sockets: Set<SimSocket>;
  tx: number;
  rx: number;

  constructor(life: Life, sched: Scheduler, now: () => number) {
    this.life = life;
    this.sched = sched;
    this.now = now;
    this.chunk = DATA_CHUNK;
    this.partitioned = false;
    this.delayMs = 0;
    this.sockets = new Set();
    this.tx = 0;
    this.rx = 0;
  }

  connect(opts: { host: string; port: number }, onConnect?: () => void): EspSocket {
    if (!opts || typeof opts.host !== "string" || typeof opts.port !== "number") throw new TypeError("net.connect: expected {host, port}");
    const sock = new SimSocket(this, opts.host, opts.port, onConnect);
    this.sockets.add(sock);
    return sock.face;
  }

  partition(on: boolean): void {
    this.partitioned = on;
    if (!on) for (const s of Array.from(this.sockets)) { s.out.pump(); s.inn.pump(); }
  }

  delay(ms: number): void {
    this.delayMs = Math.max(0, ms);
  }

  dropAll(): void {
    for (const s of Array.from(this.sockets)) s.reset();
  }

  /**
   * Power cut. Default: the connections close as when a process dies (the OS sends FIN), which is
   * what the real-interpreter lane shows when its process is killed. `silent`: as when a board loses
   * power, nothing is sent; the peer notices only by its own timeout (the socket is freed when the
   * peer closes it, or after ZOMBIE_MS).
   */
  cut(silent: boolean): void {
    for (const sock of Array.from(this.sockets)) {
      const s = sock.detach();
      if (!s) continue;
      if (!silent) { s.destroy(); continue; }
      // Nothing more is sent; what arrives is read and dropped, so a peer's close still frees it.
      const t = setTimeout(() => s.destroy(), ZOMBIE_MS);
      t.unref();
      s.unref();
      s.on("data", () => {});
      s.on("close", () => clearTimeout(t));
    }
  }
}

/** require("net"), strict. */
export function netModule(net: SimNet): EspNet {
  return strict("net", {
    connect(opts: { host: string; port: number }, onConnect: () => void): EspSocket {
      net.life.check();
      return net.connect(opts, onConnect);
    },
  }, { unimplemented: ["createServer"] });
}
