// The node engine's Espruino REPL: one simulated device's console, character by character, so that
// tools made for a real board's USB console (the provisioning tool, a terminal) work against the
// node engine where no Espruino interpreter is available. simulator/device-repl.ts runs it on
// standard input and output; `socat PTY,link=tty,raw,echo=0 EXEC:"...device-repl.ts --dir D",pty,
// raw,echo=0` turns that into a serial port.
//
// The device is createEnv() (espruino-env.ts) for one directory: Storage in D/espruino.flash, the SD
// card in D/sd. Each line typed runs in a node:vm context whose globals are Espruino's, built from
// that env; a firmware bundle loaded by .boot0 runs there unmodified (it reads the same globals a
// board gives it). reset() and load() start a new env and a new context on the same directory: the
// device after a soft reset (files kept, variables, timers and sockets gone; the clock keeps time).
//
// Measured on the Linux interpreter (2v29) on a socat pty, and reproduced:
//   - Typed characters are echoed. A line whose first character is \x10 (DLE) is not echoed, and
//     no "=result" follows it; echo stays off until a line runs (also across continuation lines
//     and a Ctrl-C). A \x10 later in a line is dropped.
//   - Enter runs the line when its brackets are balanced (an unfinished string runs too, so that it
//     fails; an unfinished comment or template waits), else continues it on a "\r\n:" prompt.
//     "\r\n" counts as one Enter. Output uses "\r\n" for every "\n". Other control characters
//     (tab too) are dropped. Input is bytes; a UTF-8 sequence in a line is one character.
//   - After an echoed line: "\r\n", the output, "=<value>\r\n" (not for an empty line, nor after an
//     error), then the prompt ">". After a \x10 line the prompt is printed again only if the line
//     printed something.
//   - Output from a callback (timer, socket) while the prompt shows first clears the line with
//     "\r\x1b[J" and puts the prompt back after it.
//   - Errors print "Uncaught <Name>: <message>" ("Uncaught <value>" for a non-Error), with
//     `"x" is not defined` for an unknown name, and for a REPL line "    at REPL (:line:col)", an
//     empty line and a caret.
//   - Ctrl-C on a typed line moves back over it ("\x1b[D" each), clears it ("\r\x1b[J") and prints
//     ">"; on a \x10 line it clears it silently. On an empty line it prints "Press Ctrl-C again to
//     exit"; a second one within 5 s ends the process (the Linux build's behaviour).
//   - Backspace echoes "\b \b".
//   - reset(), load() run once the current line or callback is done. Both run the Storage boot
//     files .boot0 ... .boot3 (load() then .bootcde, saved code); reset() then prints the banner,
//     load() prints none. At power-on: boot files, then the banner.
//   - JSON.stringify escapes every character above 0x7e as \u00XX: answers stay 7-bit.
//   - require() of an unknown module: Error('Module "x" not found'). clearTimeout(undefined) throws.
//   - Storage.write(name, data, offset, size): offset 0 creates the file at `size` bytes (the rest
//     reads 0xFF); a later offset writes into it; past its size: "Too much data for file size"; at
//     an offset into a missing file: "Unable to find or create file".
//
// Differs from the real REPL (none of it is used by the provisioning tool):
//   - no line editing beyond backspace: no cursor keys, no history (escape sequences are dropped);
//   - "=value" is printed on one line ({ a: 1, b: [ 1, 2 ] }); Espruino wraps long values, shows
//     a function declaration's value where V8 gives undefined, and shows a Unicode string's
//     characters below 256 as \u00HH where this shows \xHH;
//   - error messages other than "is not defined" are V8's, and locations are V8's columns;
//   - no interrupting a running line with Ctrl-C (the line runs to its end);
//   - a file written in pieces reaches the flash when its last piece comes (or before any other
//     Storage call): a process killed in the middle of an upload leaves no partial file, where a
//     board leaves one of full size with its unwritten part erased; writing into a file replaces
//     bytes where flash could only clear bits;
//   - the input rate: the Linux interpreter reads about 7.5 KiB/s from a pty, this reads as fast as
//     node does;
//   - process.env.BOARD is "NODE_ENGINE"; getSerial() is derived from the directory's path;
//     process.memory() counts nothing (see README: one device's heap can't be told apart);
//   - the "espruino: ..." start-up lines of the Linux build are not printed, and "Compacting..."
//     (a Storage write that compacts) goes to the env's log ring, not the console.
//
// Values crossing between the engine (Node's realm) and the device's context (its own realm) pass
// through a Bridge: the firmware checks `x instanceof Uint8Array` against its realm's Uint8Array, so
// bytes the engine returns are copied into that realm, and the engine's `instanceof ArrayBuffer`
// would miss the context's buffers, so those are viewed as Node Uint8Arrays on the way in.
import { createHash } from "node:crypto";
import * as path from "node:path";
import * as vm from "node:vm";
import type { EspruinoEnv } from "../../firmware/hosts/env.js";
import { binaryOf, bytesOf, dataBytes } from "./binary.js";
import { createEnv, type DeviceHandle } from "./espruino-env.js";
import { mix32 } from "./rand.js";
import { strict } from "./strict.js";

/** process.env.VERSION: the interpreter version whose behaviour is imitated. */
export const REPL_VERSION = "2v29";
export const REPL_BOARD = "NODE_ENGINE";
/** Storage files run at every boot, in order (measured: .boot0 to .boot3; .boot4 and later are not run). */
const BOOT_FILES = [".boot0", ".boot1", ".boot2", ".boot3"];
/** Saved code: run at power-on and by load(), not by reset() ("does not load a saved program"). */
const SAVED_CODE = ".bootcde";
const CTRL_C_EXIT_MS = 5000;
/** process.memory().total of the Linux build (variables). */
const MEMORY_TOTAL = 4096;

/**
 * The banner, as the Linux interpreter prints it after reset() and at power-on, with the version
 * line saying what this is. Tools that read a console (simulator/engines/espruino.ts, the test
 * lanes) find the banner's end by its last line, "http://espruino.com/Donate".
 */
const BANNER =
  "\n" +
  " ____                 _ \n" +
  "|  __|___ ___ ___ _ _|_|___ ___ \n" +
  "|  __|_ -| . |  _| | | |   | . |\n" +
  "|____|___|  _|_| |___|_|_|_|___|\n" +
  "         |_| espruino.com\n" +
  ` ${REPL_VERSION} imitated by the evidence recorder's node engine\n` +
  "\n" +
  "Espruino is Open Source. Our work is supported\n" +
  "only by sales of official boards and donations:\n" +
  "http://espruino.com/Donate\n" +
  "\n";

export interface ReplOptions {
  /** The device's directory: espruino.flash (Storage) and sd/ (fs, E.openFile). */
  dir: string;
  /** Seeds E.hwRand (a different stream after each reset). */
  seed: number;
  /** Bytes to the console. */
  write(bytes: Buffer): void;
  /** Ctrl-C twice on an empty line: the process should end (the REPL is closed already). */
  exit?(): void;
  /** Label in the env's log lines (default: the directory's name). */
  name?: string;
}

/** getSerial() of the device in `dir`: stable for a directory, different between directories. */
export function chipSerial(dir: string): string {
  const h = createHash("sha256").update("evrec-chip:" + path.resolve(dir)).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 16)}-${h.slice(16, 24)}`;
}

const KEYWORDS_BEFORE_REGEX = new Set(["return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield"]);

/**
 * Whether typed input is ready to run, decided as Espruino decides it: brackets outside strings,
 * comments and regular expressions balance (or a closing one comes first). An unfinished string
 * runs, so that it fails; an unfinished comment or template literal waits for more lines.
 */
export function inputComplete(src: string): boolean {
  let depth = 0;
  // What came last, to tell a regular expression from a division: "" (start), "value" (a name, a
  // number, a closing bracket) or "op" (anything after which an expression starts).
  let last = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '"' || c === "'") {
      i++;
      while (i < src.length && src[i] !== c && src[i] !== "\n") i += src[i] === "\\" ? 2 : 1;
      if (i >= src.length || src[i] === "\n") return true;
      i++;
      last = "value";
    } else if (c === "`") {
      i++;
      while (i < src.length && src[i] !== "`") i += src[i] === "\\" ? 2 : 1;
      if (i >= src.length) return false;
      i++;
      last = "value";
    } else if (c === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      if (end < 0) return false;
      i = end + 2;
    } else if (c === "/" && last !== "value") {
      // A regular expression: to its closing slash, outside a character class.
      let cls = false;
      i++;
      while (i < src.length && src[i] !== "\n" && (cls || src[i] !== "/")) {
        if (src[i] === "\\") i++;
        else if (src[i] === "[") cls = true;
        else if (src[i] === "]") cls = false;
        i++;
      }
      i++;
      last = "value";
    } else if (/[A-Za-z0-9_$]/.test(c)) {
      const start = i;
      while (i < src.length && /[A-Za-z0-9_$.]/.test(src[i])) i++;
      last = KEYWORDS_BEFORE_REGEX.has(src.slice(start, i)) ? "op" : "value";
    } else {
      if (c === "(" || c === "[" || c === "{") depth++;
      else if (c === ")" || c === "]" || c === "}") {
        depth--;
        if (depth < 0) return true; // a closing bracket first: run it, and let it fail
      }
      if (!/\s/.test(c)) last = c === ")" || c === "]" ? "value" : "op";
      i++;
    }
  }
  return depth <= 0;
}

/**
 * A typed line as the interpreter's lexer reads it: a UTF-8 sequence is one (Unicode) character,
 * any other byte above 0x7f is that byte (measured: "\xC3\xA9".length is 1, "\xE9".length is 1).
 */
function utf8(line: string): string {
  return line.replace(/[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}/g, (m) => Buffer.from(m, "latin1").toString("utf8"));
}

const hex = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, "0");

/** A string as Espruino shows it in "=" results: quoted, bytes above 0x7e as \xHH. */
function quote(s: string): string {
  return '"' + s.replace(/[\\"\x00-\x1f\x7f-\uffff]/g, (c) => {
    if (c === "\\" || c === '"') return "\\" + c;
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    const n = c.charCodeAt(0);
    return n < 256 ? "\\x" + hex(n, 2) : "\\u" + hex(n, 4);
  }) + '"';
}

/**
 * A value as the REPL prints it: strings quoted, objects as `{ a: 1 }` (keys quoted in console.log,
 * as Espruino does), typed arrays as `new Uint8Array([1, 2])`. On one line.
 */
function show(v: unknown, quoteKeys: boolean, depth = 0): string {
  try {
    if (v === undefined) return "undefined";
    if (v === null) return "null";
    if (typeof v === "string") return quote(v);
    if (typeof v === "function") {
      // Functions of this engine (require, print...) are the interpreter's own: native.
      const src = Function.prototype.toString.call(v);
      if (v instanceof Function || src.includes("[native code]")) return "function () { [native code] }";
      const params = /^[^(]*\(([^)]*)\)/.exec(src);
      return `function (${params ? params[1].trim() : ""}) ${/\{\s*\}$/.test(src) ? "{}" : "{ ... }"}`;
    }
    if (typeof v !== "object") return String(v);
    const tag = Object.prototype.toString.call(v).slice(8, -1);
    if (ArrayBuffer.isView(v) && tag !== "DataView") return `new ${tag}([${Array.from(v as unknown as ArrayLike<number>).join(", ")}])`;
    if (tag === "ArrayBuffer") return `new Uint8Array([${Array.from(new Uint8Array(v as ArrayBuffer)).join(", ")}]).buffer`;
    if (depth > 4) return Array.isArray(v) ? "[ ... ]" : "{ ... }";
    if (Array.isArray(v)) return v.length ? "[ " + v.map((x) => show(x, quoteKeys, depth + 1)).join(", ") + " ]" : "[ ]";
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (!keys.length) return "{ }";
    return "{ " + keys.map((k) => (quoteKeys || !/^[A-Za-z_$][\w$]*$/.test(k) ? JSON.stringify(k) : k) + ": " + show(o[k], quoteKeys, depth + 1)).join(", ") + " }";
  } catch {
    return String(v);
  }
}

/** "Name: message" of an exception, with Espruino's wording for an unknown name. */
function describe(e: unknown): string {
  if (e && typeof e === "object" && "name" in e && "message" in e) {
    const name = String((e as Error).name);
    let msg = String((e as Error).message);
    if (name === "ReferenceError") msg = msg.replace(/^(\S+) is not defined$/, '"$1" is not defined');
    return name + ": " + msg;
  }
  return typeof e === "string" ? e : show(e, true);
}

/** Where a REPL line failed, as Espruino prints it; "" when the error did not come from a typed line. */
function where(e: unknown): string {
  const stack = e && typeof e === "object" && "stack" in e ? String((e as Error).stack) : "";
  const m = /\bREPL:(\d+):(\d+)/.exec(stack);
  if (!m) return "";
  return `    at REPL (:${m[1]}:${m[2]})\n\n${" ".repeat(Math.max(0, Number(m[2]) - 1))}^\n`;
}

/** The device context's own constructors, to make values of its realm. */
interface Realm {
  Uint8Array: Uint8ArrayConstructor;
  Array: ArrayConstructor;
  Error: ErrorConstructor;
  errors: Record<string, ErrorConstructor>;
  global: object;
}

type AnyFn = (...a: unknown[]) => unknown;

/**
 * Values between the engine's realm and the device's. Engine objects (modules, sockets, files) are
 * seen through a proxy whose methods convert their arguments and results; functions the device
 * hands to the engine (socket handlers) run as the REPL's callbacks (`event`).
 */
class Bridge {
  private views = new WeakMap<object, object>();
  private callbacks = new WeakMap<object, AnyFn>();

  constructor(private realm: Realm, private event: (fn: () => void) => void) {}

  /** An engine object as the device sees it. */
  object<T extends object>(o: T): T {
    const seen = this.views.get(o);
    if (seen) return seen as T;
    const methods = new Map<PropertyKey, AnyFn>();
    const view = new Proxy(o, {
      get: (target, prop) => {
        // Unknown names still fail as the engine's strict modules make them fail.
        const v: unknown = Reflect.get(target, prop, target);
        if (typeof v !== "function") return v;
        let m = methods.get(prop);
        if (!m) {
          m = this.method(target, v as AnyFn);
          methods.set(prop, m);
        }
        return m;
      },
    });
    this.views.set(o, view);
    return view;
  }

  private method(self: object, fn: AnyFn): AnyFn {
    const bridge = this;
    // The argument count is kept: some engine methods act on it (clearTimeout(), maxArgs).
    return function (...args: unknown[]) {
      let r: unknown;
      try {
        r = fn.apply(self, args.map((a) => bridge.toEngine(a)));
      } catch (e) {
        throw bridge.error(e);
      }
      return bridge.toDevice(r);
    };
  }

  toDevice(v: unknown): unknown {
    if (v instanceof Uint8Array) {
      const c = new this.realm.Uint8Array(v.length);
      c.set(v);
      return c;
    }
    if (v instanceof ArrayBuffer) return (this.toDevice(new Uint8Array(v)) as Uint8Array).buffer;
    if (Array.isArray(v) && v instanceof Array) return this.realm.Array.from(v, (x) => this.toDevice(x));
    if (v && typeof v === "object" && Object.keys(v).some((k) => typeof (v as Record<string, unknown>)[k] === "function")) return this.object(v);
    return v;
  }

  toEngine(a: unknown): unknown {
    if (typeof a === "function") {
      let cb = this.callbacks.get(a);
      if (!cb) {
        const fn = a as AnyFn;
        cb = (...xs: unknown[]) => { this.event(() => { fn(...xs.map((x) => this.toDevice(x))); }); };
        this.callbacks.set(a, cb);
      }
      return cb;
    }
    if (a && typeof a === "object" && !(a instanceof ArrayBuffer) && Object.prototype.toString.call(a) === "[object ArrayBuffer]") {
      return new Uint8Array(a as ArrayBuffer);
    }
    return a;
  }

  /** An engine exception as one of the device's realm, message and stack kept. */
  error(e: unknown): unknown {
    if (!(e instanceof Error)) return e;
    const C = this.realm.errors[e.name] || this.realm.Error;
    const d = new C(e.message);
    d.stack = e.stack;
    return d;
  }
}

/** The node engine's Storage module, complete enough for Storage.write(name, data, offset, size). */
type StorageFns = Record<string, AnyFn>;

/**
 * Storage with the write-in-pieces form the node engine's Storage does not take. A file being
 * written in pieces is kept here until its last piece, then written once: written piece by piece,
 * a 48 KB bundle would take a new copy of the whole file per piece, far more than the flash holds
 * between compactions. Any other Storage call writes out what is kept first, so it sees the file
 * as a board would.
 */
function storageWithPieces(S: StorageFns): { face: StorageFns; flush(): void } {
  const open = new Map<string, { buf: Buffer; size: number }>();
  const flush = (): void => {
    for (const [name, f] of open) {
      open.delete(name); // once, even if the flash refuses it
      S.write(name, binaryOf(f.buf));
    }
  };
  const plain = (fn: string) => (...a: unknown[]) => { flush(); return S[fn](...a); };
  const face: StorageFns = {
    read: plain("read"),
    readJSON: plain("readJSON"),
    readArrayBuffer: plain("readArrayBuffer"),
    writeJSON: plain("writeJSON"),
    compact: plain("compact"),
    getFree: plain("getFree"),
    getStats: plain("getStats"),
    list: plain("list"),
    eraseAll: (...a) => { open.clear(); return S.eraseAll(...a); },
    erase: (...a) => { open.delete(String(a[0])); return plain("erase")(...a); },
    write(...a: unknown[]): unknown {
      if (a.length <= 2 || a[2] === undefined) return plain("write")(...a);
      const name = String(a[0]);
      const bytes = dataBytes("Storage.write", a[1]);
      const offset = Number(a[2]) || 0;
      const f = open.get(name);
      if (offset === 0) {
        // A new file of `size` bytes (the data's length by default); what is not written yet is erased flash.
        const size = a[3] === undefined ? bytes.length : Number(a[3]);
        if (bytes.length > size) throw new Error("Too much data for file size");
        open.delete(name);
        if (size === bytes.length) return plain("write")(name, binaryOf(bytes));
        flush();
        const buf = Buffer.alloc(size, 0xff);
        bytes.copy(buf, 0);
        open.set(name, { buf, size });
        return true;
      }
      if (f) {
        if (offset + bytes.length > f.size) throw new Error("Too much data for file size");
        bytes.copy(f.buf, offset);
        if (offset + bytes.length === f.size) flush(); // the last piece: the file is complete
        return true;
      }
      // Into a file already in flash.
      flush();
      const cur = S.read(name) as string | undefined;
      if (cur === undefined) throw new Error("Unable to find or create file");
      if (offset + bytes.length > cur.length) throw new Error("Too much data for file size");
      return S.write(name, cur.slice(0, offset) + binaryOf(bytes) + cur.slice(offset + bytes.length));
    },
  };
  return { face: strict("Storage", face, { unimplemented: ["hash", "open", "optimise"] }), flush };
}

/** One node-engine device with Espruino's REPL on its console. */
export class DeviceRepl {
  private opts: ReplOptions;
  private readonly serial: string;
  private env!: EspruinoEnv;
  private dev: DeviceHandle | null = null;
  private ctx!: vm.Context;
  private flushStorage: () => void = () => undefined;
  /** Boots so far: seeds each boot's random stream. */
  private boots = 0;
  /** Bumped at every boot and at close: callbacks of an earlier boot are not run. */
  private gen = 0;
  private closed = false;
  // The line editor.
  private line = "";
  private echoOff = false;
  private afterCR = false;
  private inEscape = false;
  private promptShown = false;
  /** A typed line is running (its output does not clear the prompt first). */
  private inLine = false;
  /** Code of the device is running (a line, a boot file or a callback). */
  private busy = 0;
  private pendingBoot: "reset" | "load" | null = null;
  private ctrlCAt = 0;
  // Timers: Espruino's ids (from 1, one space for timeouts and intervals) over the env's timers,
  // which die with the env at a reset.
  private timers = new Map<number, unknown>();
  private nextTimer = 1;

  constructor(opts: ReplOptions) {
    this.opts = opts;
    this.serial = chipSerial(opts.dir);
  }

  /** The current boot's device handle (clock, network faults, logs). */
  get device(): DeviceHandle {
    if (!this.dev) throw new Error("the device has not started");
    return this.dev;
  }

  /** Power-on: boot files, then the banner and the prompt. */
  start(): void {
    this.boot("power");
  }

  /** Bytes typed on the console. */
  input(data: Buffer | string): void {
    // Bytes, one character each, as the interpreter reads them; UTF-8 is decoded when a line runs.
    const text = typeof data === "string" ? data : data.toString("latin1");
    for (const ch of text) {
      if (this.closed) return;
      this.key(ch);
    }
  }

  /** Power off: what is kept for a file written in pieces is written, timers and sockets end. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.teardown();
  }

  // ---- the console ----

  private raw(s: string): void {
    if (s) this.opts.write(bytesOf(s));
  }

  /** Text the device prints: "\n" as "\r\n"; a prompt left showing while idle is cleared first. */
  private print(text: string, clearPrompt = true): void {
    if (this.promptShown) {
      if (!this.inLine && clearPrompt) this.raw(this.eraseLine());
      this.promptShown = false;
    }
    this.raw(text.replace(/\n/g, "\r\n"));
  }

  /** Back over what is typed on the current row, then clear to the end of the screen. */
  private eraseLine(): string {
    const row = this.echoOff ? "" : this.line.slice(this.line.lastIndexOf("\n") + 1);
    return "\x1b[D".repeat(row.length) + "\r\x1b[J";
  }

  private prompt(): void {
    if (this.promptShown || this.closed) return;
    this.raw(">" + (this.echoOff ? "" : this.line.replace(/\n/g, "\r\n:")));
    this.promptShown = true;
  }

  private uncaught(e: unknown): void {
    this.print("Uncaught " + describe(e) + "\n" + where(e));
  }

  // ---- keys ----

  private key(ch: string): void {
    const wasCR = this.afterCR;
    this.afterCR = ch === "\r";
    if (this.inEscape) {
      // ESC [ ... final byte (cursor keys and the like): not imitated, dropped whole.
      if (ch !== "[" && ch >= "@" && ch <= "~") this.inEscape = false;
      return;
    }
    if (ch === "\n" && wasCR) return;
    if (ch === "\r" || ch === "\n") return this.enter();
    if (ch === "\x03") return this.ctrlC();
    if (ch === "\x10") {
      if (!this.line) this.echoOff = true;
      return;
    }
    if (ch === "\x08" || ch === "\x7f") {
      if (this.line && !this.line.endsWith("\n")) {
        this.line = this.line.slice(0, -1);
        if (!this.echoOff) this.raw("\b \b");
      }
      return;
    }
    if (ch === "\x1b") {
      this.inEscape = true;
      return;
    }
    if (ch < " ") return; // other control characters, tab included, are dropped (measured)
    this.line += ch;
    if (!this.echoOff) {
      this.prompt();
      this.raw(ch);
    }
  }

  private ctrlC(): void {
    if (this.line) {
      if (!this.echoOff) {
        this.raw(this.eraseLine() + ">");
        this.promptShown = true;
      }
      this.line = "";
      return;
    }
    const now = Date.now();
    if (now - this.ctrlCAt < CTRL_C_EXIT_MS) {
      this.close();
      if (this.opts.exit) this.opts.exit();
      return;
    }
    this.ctrlCAt = now;
    this.print("Press Ctrl-C again to exit\n");
    this.prompt();
  }

  private enter(): void {
    if (!inputComplete(this.line)) {
      this.line += "\n";
      if (!this.echoOff) this.raw("\r\n:");
      return;
    }
    const code = this.line.replace(/\s+$/, "");
    const echo = !this.echoOff;
    this.line = "";
    if (echo) {
      this.raw("\r\n");
      this.promptShown = false;
    }
    let ok = true;
    let value: unknown;
    this.inLine = true;
    this.busy++;
    try {
      value = vm.runInContext(utf8(code), this.ctx, { filename: "REPL" });
    } catch (e) {
      ok = false;
      this.uncaught(e);
    } finally {
      this.busy--;
      this.inLine = false;
    }
    if (echo && ok && code) this.print("=" + show(value, false) + "\n");
    this.echoOff = false;
    this.idle();
  }

  /**
   * A callback of the device (timer, socket event) as the interpreter's idle loop runs it: an
   * exception is printed as "Uncaught", then the prompt comes back. One made while device code
   * runs (an engine calling back at once) is part of that code.
   */
  private event(gen: number, fn: () => void): void {
    if (this.closed || gen !== this.gen) return;
    if (this.busy) {
      fn();
      return;
    }
    this.busy++;
    try {
      fn();
    } catch (e) {
      this.uncaught(e);
    } finally {
      this.busy--;
    }
    this.idle();
  }

  /** Between events: a reset() or load() asked for runs now; then the prompt. */
  private idle(): void {
    if (this.pendingBoot && !this.closed) {
      const kind = this.pendingBoot;
      this.pendingBoot = null;
      this.boot(kind);
      return;
    }
    this.prompt();
  }

  // ---- boots ----

  private teardown(): void {
    this.gen++;
    if (!this.dev) return;
    try {
      this.flushStorage();
    } catch {
      // A flash that refuses the file: as power lost in the middle of the upload.
    }
    for (const h of this.timers.values()) this.env.clearTimeout(h);
    this.timers.clear();
    this.dev.kill(); // sockets closed, the env's APIs dead
    this.dev = null;
  }

  private boot(kind: "power" | "reset" | "load"): void {
    // A soft reset keeps the clock running; power-on starts from the host's clock.
    const clockMs = this.dev ? this.dev.clock.nowMs() : undefined;
    this.teardown();
    this.pendingBoot = null;
    const { env, device } = createEnv({
      dir: this.opts.dir,
      seed: mix32(this.opts.seed | 0, this.boots++),
      name: this.opts.name,
      // The firmware reads its media from rec.cfg ("file:..."), as on the interpreter.
      media: false,
      clock: clockMs === undefined ? undefined : { startMs: clockMs },
    });
    this.env = env;
    this.dev = device;
    this.ctx = this.context(env, this.gen);
    const S = (this.ctx.require as (n: string) => { read(n: string): string | undefined })("Storage");
    const files = kind === "reset" ? BOOT_FILES : BOOT_FILES.concat(SAVED_CODE);
    this.busy++;
    try {
      for (const f of files) {
        const code = S.read(f);
        if (code === undefined) continue;
        try {
          vm.runInContext(code, this.ctx, { filename: f });
        } catch (e) {
          this.uncaught(e);
        }
      }
    } finally {
      this.busy--;
    }
    if (kind !== "load") this.print(BANNER, false);
    if (this.pendingBoot) {
      // A boot file asked for another boot: on the next turn, so that a device whose boot file
      // resets it loops as a board would, instead of nesting boots until the stack overflows.
      const gen = this.gen;
      setImmediate(() => { if (gen === this.gen) this.idle(); });
      return;
    }
    this.idle();
  }

  /** The device's global scope: Espruino's globals over this boot's env. */
  private context(env: EspruinoEnv, gen: number): vm.Context {
    const sandbox: Record<string, unknown> = {};
    const ctx = vm.createContext(sandbox, { name: "device " + (this.opts.name || path.basename(this.opts.dir)) });
    const realm = vm.runInContext(
      "({ Uint8Array: Uint8Array, Array: Array, Error: Error, errors: { Error: Error, TypeError: TypeError, RangeError: RangeError," +
      " ReferenceError: ReferenceError, SyntaxError: SyntaxError }, global: this })", ctx) as Realm;
    // Espruino's JSON.stringify escapes every character above 0x7e (measured: "\u00E9"), so an
    // answer carrying file bytes is 7-bit on the wire.
    vm.runInContext(
      "(function () { var s = JSON.stringify; JSON.stringify = function () { var r = s.apply(JSON, arguments);" +
      " return typeof r == 'string' ? r.replace(/[\\u007f-\\uffff]/g, function (c) { return '\\\\u' + ('000' + c.charCodeAt(0).toString(16).toUpperCase()).slice(-4); }) : r; }; })()",
      ctx);
    const event = (fn: () => void) => this.event(gen, fn);
    const bridge = new Bridge(realm, event);
    const storage = storageWithPieces(env.Storage as unknown as StorageFns);
    this.flushStorage = storage.flush;
    const modules: Record<string, unknown> = {
      Storage: bridge.object(storage.face),
      fs: env.fs ? bridge.object(env.fs) : undefined,
      crypto: bridge.object(env.crypto),
      net: bridge.object(env.net),
    };
    const fail = (msg: string) => new realm.Error(msg);
    const out = (...args: unknown[]) => { this.print(args.map((a) => (typeof a === "string" ? a : show(a, true))).join(" ") + "\n"); };
    const later = (fn: unknown, args: unknown[], what: string): (() => void) => {
      if (typeof fn === "string") return () => { vm.runInContext(fn, ctx, { filename: what }); };
      if (typeof fn !== "function") throw new realm.errors.TypeError(what + ": expected a function");
      return () => { (fn as AnyFn)(...args); };
    };
    const timers = this.timers;
    const clear = (what: string) => function (this: unknown, id?: unknown) {
      if (arguments.length === 0) {
        for (const h of timers.values()) env.clearTimeout(h);
        timers.clear();
        return;
      }
      if (id === undefined) throw fail(`${what}(undefined) not allowed. Use ${what}() instead`);
      const h = timers.get(id as number);
      if (h === undefined) return;
      env.clearTimeout(h);
      timers.delete(id as number);
    };
    Object.assign(sandbox, {
      global: realm.global,
      require: (name: unknown) => {
        const m = typeof name === "string" && Object.prototype.hasOwnProperty.call(modules, name) ? modules[name] : undefined;
        if (m === undefined) throw fail(`Module ${JSON.stringify(String(name))} not found`);
        return m;
      },
      E: bridge.object(env.E),
      getTime: () => env.getTime(),
      setTime: (s: number) => { if (env.setTime) env.setTime(Number(s)); },
      setTimeout: (fn: unknown, ms?: unknown, ...args: unknown[]) => {
        const run = later(fn, args, "setTimeout");
        const id = this.nextTimer++;
        timers.set(id, env.setTimeout(() => { timers.delete(id); event(run); }, Number(ms) || 0));
        return id;
      },
      setInterval: (fn: unknown, ms?: unknown, ...args: unknown[]) => {
        const run = later(fn, args, "setInterval");
        const id = this.nextTimer++;
        const every = Math.max(1, Number(ms) || 0);
        const arm = () => { timers.set(id, env.setTimeout(() => { arm(); event(run); }, every)); };
        arm();
        return id;
      },
      clearTimeout: clear("clearTimeout"),
      clearInterval: clear("clearInterval"),
      print: out,
      console: { log: out, debug: out, info: out, warn: out, error: out },
      process: {
        version: REPL_VERSION,
        env: { VERSION: REPL_VERSION, BOARD: REPL_BOARD, SERIAL: this.serial, CONSOLE: "USB", STORAGE: 262144 },
        memory: () => {
          const usage = env.memory();
          return { free: MEMORY_TOTAL - usage, usage, total: MEMORY_TOTAL, history: 0, gc: 0, gctime: 0, blocksize: 0 };
        },
      },
      getSerial: () => this.serial,
      reset: () => { this.pendingBoot = "reset"; },
      load: () => { this.pendingBoot = "load"; },
    });
    return ctx;
  }
}
