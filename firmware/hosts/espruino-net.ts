// Transport for MqttClient (firmware/core/mqtt.ts) on Espruino's `net` module. Espruino subset.
// Espruino sockets carry binary strings, not bytes: 'data' gives a string (E.toUint8Array turns it
// into bytes natively) and write() takes one (E.toString copies bytes into a string natively, about
// 4 µs for 4 KiB on the Linux build): no per-byte JavaScript on either path. Writes are paced by the
// socket's 'drain' (SLICE below), so its send buffer stays small.
import type { Conn, Transport } from "../core/mqtt.js";
import type { EspNet, EspSocket } from "./env.js";

declare const E: { toUint8Array(s: string): Uint8Array; toString(b: Uint8Array): string | undefined };
declare function getTime(): number;

/**
 * The interpreter globals the transport uses. Passed in by the board host (from its EspruinoEnv),
 * so the simulator can run many devices, each with its own timers and clock, in one context.
 */
export interface NetRuntime {
  E: { toUint8Array(s: string): Uint8Array; toString(b: Uint8Array): string | undefined };
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
  getTime(): number;
  /** Called right after each slice is handed to the socket, when its send buffer is at its fullest (peak sampling). */
  probe?: () => void;
}

/** The interpreter's own globals, for code that runs as a board's only program. */
export function globalRuntime(): NetRuntime {
  return {
    E: E,
    setTimeout: function (fn: () => void, ms: number) { return setTimeout(fn, ms); },
    clearTimeout: function (h: unknown) { clearTimeout(h as ReturnType<typeof setTimeout>); },
    getTime: function () { return getTime(); },
  };
}

/** The part of Espruino's net.Socket this adapter uses (hosts/env.ts). */
export type EspruinoSocket = EspSocket;

/** Espruino's require("net"), passed in so this file has no load-time require and tests can fake it. */
export type EspruinoNetModule = EspNet;

/**
 * Bytes the transport hands the socket at a time. Espruino's socket keeps what it is given in a
 * string of variables ("send data") and sends it from its idle loop in pieces of its chunk size
 * (536 bytes on the Linux build and through an ESP8266), each time copying what is left into a new
 * string: a whole 8 KiB chunk written at once holds about 650 variables there, twice that while the
 * rest is copied, and three chunks written back to back (a resend after Hello) held over 4,000 on a
 * board-sized build, which ran out of memory and cut strings short without a word. So the transport
 * keeps the caller's buffers (references, no copy) and gives the socket one slice at a time, the next
 * on its 'drain': its send data never holds more than a slice (and a short tail, which rides with the
 * slice before it rather than costing a drain of its own). Measured on the board-sized build, 160 KiB
 * to a local sink: 536-byte slices 122 ms and 120 variables above the data, 1 KiB 88 ms and 190,
 * 2 KiB 62 ms and 330, 8 KiB 122 ms and 680 (the copies of what is left cost more than the extra
 * callbacks). Each drain costs the recorder a call into JavaScript (about 1 ms with the code in
 * Storage on that build): 4 KiB takes an 8 KiB chunk's packet in two drains, against five at 2 KiB
 * (about 3.8 against 5.2 ms of drains per chunk), for about 300 variables more at the peak.
 */
export const SLICE = 4096;

/** The connection a refused connect gives: writes go nowhere; its one close comes from a timer. */
const DEAD: Conn = { write: function () {}, end: function () {} };

export function espruinoNet(net: EspruinoNetModule, runtime?: NetRuntime): Transport {
  const rt = runtime || globalRuntime();
  return {
    connect: function (host: string, port: number, onData: (b: Uint8Array) => void, onClose: () => void, onDrain?: () => void): Conn {
      let open = false;
      let closed = false;
      let broken = false;
      // Buffers waiting for the socket, in order; `off` bytes of the first one are written. `busy`:
      // the socket holds a slice not yet sent ('drain' clears it).
      let q: Uint8Array[] = [];
      let off = 0;
      let busy = false;
      const close = function () {
        if (closed) return;
        closed = true;
        q = [];
        onClose();
      };
      let sock: EspruinoSocket;
      // A connection that lost bytes must not carry another: end it and close later, not inside the
      // caller's write (a publish or a seal in progress).
      const fail = function () {
        broken = true;
        q = [];
        try { sock.end(); } catch (x) { /* gone already */ }
        rt.setTimeout(close, 0);
      };
      // The next slice: up to SLICE bytes from the head of the queue, across buffers when they are
      // small (a packet's header, a chunk's prefix and suffix go in one slice with their neighbours).
      const next = function () {
        busy = false;
        if (!open || closed || broken) return;
        if (!q.length) {
          if (onDrain) onDrain();
          return;
        }
        const views: Uint8Array[] = [];
        // A short tail goes with the slice before it rather than costing a drain of its own.
        let all = -off;
        for (let i = 0; i < q.length; i++) all += q[i].length;
        const limit = all <= SLICE + (SLICE >> 2) ? all : SLICE;
        let n = 0;
        while (q.length && n < limit) {
          const b = q[0];
          const take = Math.min(b.length - off, limit - n);
          // A whole buffer as is: E.toString hands over its own string (no copy before the socket's).
          views.push(off === 0 && take === b.length ? b : b.subarray(off, off + take));
          n += take;
          off += take;
          if (off >= b.length) { q.shift(); off = 0; }
        }
        const s = views.length === 1 ? rt.E.toString(views[0]) : rt.E.toString.apply(rt.E, views as unknown as [Uint8Array]);
        try {
          // Out of memory, Espruino cuts a string short or gives none: a short slice would make the
          // broker read the next packet's bytes as this one's. Drop the connection instead; what was
          // not acknowledged is sent again on the next one.
          if (s === undefined || s.length !== n) throw new Error("short");
          busy = true;
          sock.write(s);
          if (rt.probe) rt.probe();
        } catch (e) {
          // A short string, or "This socket is closed": the connection went before its 'close' event.
          fail();
        }
      };
      try {
        sock = net.connect({ host: host, port: port }, function () {
          open = true;
          next();
        });
      } catch (e) {
        // The Linux build throws "Unable to create socket" on a refused connect; a board reports
        // 'error'. Either way the client sees one close, later (it may still be inside connect()).
        // Not a closure made here: one would keep this scope, the exception's stack text included,
        // for as long as the client holds the dead connection.
        rt.setTimeout(close, 0);
        return DEAD;
      }
      sock.on("data", function (d: string) {
        onData(rt.E.toUint8Array(d));
      });
      sock.on("drain", next);
      sock.on("close", close);
      sock.on("error", close); // Espruino may report a refused connect only as 'error'
      return {
        // The buffer is kept until its last byte went to the socket: the caller must not change it.
        write: function (b: Uint8Array, more?: boolean) {
          if (closed || broken || !b.length) return;
          q.push(b);
          if (!busy && !more) next();
        },
        end: function () {
          if (closed) return;
          closed = true; // the caller already knows: no onClose for an end it asked for
          q = [];
          sock.end();
        },
        buffered: function () {
          let n = -off;
          for (let i = 0; i < q.length; i++) n += q[i].length;
          return n;
        },
      };
    },
    after: function (fn: () => void, ms: number) {
      return rt.setTimeout(fn, ms);
    },
    cancel: function (h: unknown) {
      rt.clearTimeout(h);
    },
    now: function () {
      return rt.getTime() * 1000;
    },
  };
}
