// The firmware bundle's entry (npm run build:firmware → dist/recorder.js and dist/recorder.min.js).
// The bundle's API is one global, `Recorder` (set on `global` at the end of this file, not through
// esbuild's globalName: its exports object is made of getters, which the interpreter reads wrongly).
// The minified bundle's own functions are globals too, under `$` and `_` names (build/global-scope.ts):
//   Recorder.start(env)  make a recorder from an EspruinoEnv (hosts/env.ts) and start it: what the
//                        board's boot does, and what the simulator calls once per simulated device;
//   Recorder.boot()      on a board or the Linux interpreter: build the env from the interpreter's
//                        globals, start one recorder, and define info() and selftest() for the REPL.
// The bundle ends with `if (typeof RECORDER_NO_BOOT === "undefined") Recorder.boot();` (see the build
// script), so loading it on a board starts the recorder and the simulator can load it without. The
// API's names (api.ts) are what the build's renaming keeps.
// Espruino subset.
import { Recorder as Core, FIRMWARE_VERSION } from "./core/recorder.js";
import type { RecorderOptions } from "./core/recorder.js";
import { espruinoHost } from "./hosts/espruino.js";
import { makeBoard } from "./hosts/board.js";
import type { BoardGlobals } from "./hosts/board.js";
import type { EspruinoEnv, EspBoard } from "./hosts/env.js";
import type { RecorderApi } from "./api.js";

declare const E: EspruinoEnv["E"];
declare function getTime(): number;
declare function setTime(s: number): void;
declare function setWatch(fn: (e: { state: boolean }) => void, pin: unknown, opts: unknown): unknown;
declare function digitalWrite(pin: unknown, v: boolean | number): void;
declare function analogRead(pin: unknown): number;
/** Set (to anything) before the bundle loads: sample memory inside each socket write as well (the lane). */
declare const RECORDER_PROBE: unknown;
declare const global: { [k: string]: unknown; require: (name: string) => any }
// The interpreter's modules through global.require: a bare require() makes esbuild add a 250-byte
// shim for environments without one.
const need = function (name: string) { return global.require(name); };

/** Make a recorder on `env` and start it. A config problem leaves it refusing to record, saying why. */
function start(env: EspruinoEnv, options?: Partial<RecorderOptions>): Core {
  const r = new Core(espruinoHost(env), options);
  const why = r.start();
  if (why) env.log("[rec] NOT RECORDING: " + why);
  return r;
}

/** On a real board: the peripherals of hosts/board.ts; on the Linux interpreter there are none. */
function boardOf(g: { [k: string]: unknown }, pins: { [k: string]: unknown } | undefined): EspBoard {
  if (typeof g.LED1 === "undefined") return {};
  const globals: BoardGlobals = {
    setWatch: function (fn, pin, opts) { return setWatch(fn, pin, opts); },
    digitalWrite: function (pin, v) { digitalWrite(pin, v); },
    analogRead: function (pin) { return analogRead(pin); },
    setInterval: function (fn, ms) { return setInterval(fn, ms); },
    clearInterval: function (h) { clearInterval(h as ReturnType<typeof setInterval>); },
    pin: function (name) { return g[name]; },
    Waveform: g.Waveform as BoardGlobals["Waveform"],
    E: E as unknown as BoardGlobals["E"],
  };
  try { globals.wifi = need("Wifi"); } catch (e) { /* no Wi-Fi module on this board */ }
  return makeBoard(globals, (pins || {}) as never);
}

/** Start one recorder from the interpreter's globals, and give the REPL info() and selftest(). */
function boot(): Core {
  const Storage = need("Storage");
  let fs = null;
  try { fs = need("fs"); } catch (e) { fs = null; }
  const cfg = Storage.readJSON("rec.cfg", true);
  // The interpreter's own functions where a plain call does (each wrapper would cost variables and
  // a call); memory() reads a property, so it stays a function.
  const env: EspruinoEnv = {
    Storage: Storage, fs: fs, net: need("net"), crypto: need("crypto"), E: E,
    getTime: getTime, setTime: setTime,
    setTimeout: setTimeout as unknown as EspruinoEnv["setTimeout"], clearTimeout: clearTimeout as unknown as EspruinoEnv["clearTimeout"],
    memory: memory,
    memInfo: memInfo,
    probe: typeof RECORDER_PROBE !== "undefined",
    log: console.log as (line: string) => void,
    board: boardOf(global, cfg ? cfg.pins : undefined),
  };
  const bd = env.board;
  const r = start(env, env.probe ? { probe: 1 } : undefined);
  if (bd.network && cfg && cfg.wifi) bd.network(cfg.wifi, wifiDone);
  global.info = info;
  global.selftest = selftest;
  global.recorder = r;
  return r;
}

// Outside boot(): a function made inside it would keep its whole scope (rec.cfg, keys included)
// alive for as long as the REPL or the recorder can call it.
function info() { const i = (global.recorder as Core).info(); console.log(JSON.stringify(i, null, 1)); return i; }
function selftest() { return (global.recorder as Core).selftest(); }
function memory() { return (process as unknown as { memory(): { usage: number } }).memory().usage; }
function memInfo(gc?: boolean) { return (process as unknown as { memory(gc: boolean): { free: number; total: number } }).memory(!!gc); }
function wifiDone(err: string) { if (err) console.log("[rec] " + err); }

global.Recorder = { start: start, boot: boot, version: FIRMWARE_VERSION } satisfies RecorderApi;
