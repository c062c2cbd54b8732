// Transport for MqttClient (firmware/core/mqtt.ts) on Espruino's `net` module. Espruino subset.
// Espruino sockets carry binary strings, not bytes: 'data' gives a string (E.toUint8Array turns it
// into bytes natively) and write() takes one (E.toString copies bytes into a string natively, about
// 4 µs for 4 KiB on the Linux build): no per-byte JavaScript on either path.
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

function toBinaryString(rt: NetRuntime, b: Uint8Array): string {
  const s = rt.E.toString(b);
  if (s !== undefined) return s;
  // E.toString returns undefined when it cannot get one flat block of memory: build it in pieces.
  // The end is clamped by hand: Espruino's subarray does not clamp it and reads past the array.
  let out = "";
  for (let i = 0; i < b.length; i += 256) out += String.fromCharCode.apply(null, b.subarray(i, Math.min(b.length, i + 256)) as unknown as number[]);
  return out;
}

export function espruinoNet(net: EspruinoNetModule, runtime?: NetRuntime): Transport {
  const rt = runtime || globalRuntime();
  return {
    connect: function (host: string, port: number, onData: (b: Uint8Array) => void, onClose: () => void): Conn {
      let open = false;
      let closed = false;
      let broken = false;
      // Writes made before the TCP connect completes wait here (the client sends CONNECT at once).
      let early: string[] = [];
      const close = function () {
        if (closed) return;
        closed = true;
        onClose();
      };
      let sock: EspruinoSocket;
      try {
        sock = net.connect({ host: host, port: port }, function () {
          open = true;
          for (let i = 0; i < early.length; i++) sock.write(early[i]);
          early = [];
        });
      } catch (e) {
        // The Linux build throws "Unable to create socket" on a refused connect; a board reports
        // 'error'. Either way the client sees one close, later (it may still be inside connect()).
        rt.setTimeout(close, 0);
        return { write: function () {}, end: function () { closed = true; } };
      }
      sock.on("data", function (d: string) {
        onData(rt.E.toUint8Array(d));
      });
      sock.on("close", close);
      sock.on("error", close); // Espruino may report a refused connect only as 'error'
      return {
        write: function (b: Uint8Array) {
          if (closed || broken) return;
          const s = toBinaryString(rt, b);
          try {
            // Out of memory, Espruino cuts a string short without a word: a short part would make
            // the broker read the next packet's bytes as this one's. Drop the connection instead;
            // what was not acknowledged is sent again on the next one.
            if (s.length !== b.length) throw new Error("short");
            if (!open) early.push(s);
            else sock.write(s);
          } catch (e) {
            // A short string, or "This socket is closed": the connection went before its 'close'
            // event came. End it and close later, not inside the caller's write (a publish or a
            // seal in progress).
            broken = true;
            try { sock.end(); } catch (x) { /* gone already */ }
            rt.setTimeout(close, 0);
          }
        },
        end: function () {
          if (closed) return;
          closed = true; // the caller already knows: no onClose for an end it asked for
          sock.end();
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
