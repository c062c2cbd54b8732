// The espruino engine: every simulated device is a real Espruino interpreter process (the Linux
// build) running the minified firmware bundle from its own Storage, as a board does. One working
// directory per device: `espruino.flash` there is its Storage (rec.cfg, rec.key, rec.js), the
// directory itself is its SD card (the upload queue, and `media.raw`, the file its "microphone"
// plays): espruinoMedia() below says so to the rest of the simulator (the attacks read a seized
// device's flash and card there). Its console (standard output) is the device's log.
//
// How the simulator talks to it: not through the REPL on standard input. The Linux build reads
// standard input on a second thread that pushes each character into the interpreter's event ring
// while the main loop takes events out of it, with no lock (interrupts on/off are empty on Linux).
// Measured with the recorder running and connected: REPL lines written at 10 per second ended,
// within seconds to a minute, in "ASSERT(len <= 64) FAILED AT src/jsdevices.c:601", a dump of
// every variable and exit(1). So the boot file opens a control connection instead: a TCP socket to
// this engine, read on the main loop like any socket. A request is one line, `<id> <expression>`;
// the device evaluates it and answers `<id> ok <JSON of [value]>` or `<id> err <exception>`. The
// id keeps concurrent requests apart; the array keeps `undefined` alive through JSON. Standard
// input stays an open pipe that is never written nor closed: an ended standard input has been seen
// to spin a core and to trip the same assertion.
//
// The cost of a socket: with any socket open the Linux build never sleeps (its network idle says
// "busy" while a socket exists), so a connected device spins a core polling. The recorder's own
// MQTT connection does that already; the control connection adds the same while the link is down.
// See the `nice` option.
//
// The console, as the interpreter prints it, and how logs() cleans it:
//   - a banner at start, up to the line with "espruino.com/Donate": dropped;
//   - the ">" prompt, which precedes the next output on the same line: stripped;
//   - "\r\x1b[J" (return, clear to end of screen) before a line printed while the prompt shows,
//     and Storage compaction's "\x08|" spinner: the text after the last "\r" is what the line
//     reads on a terminal, escapes and control characters are dropped;
//   - output arrives in arbitrary chunks: lines are cut on "\n" only, partial lines wait.
//
// The clock. On the Linux build setTime() does not change getTime() (its system-time setter is
// empty) and shifts the interpreter's timers as if the clock had moved: intervals then stall or
// fire in bursts. So the boot file gives the firmware a getTime()/setTime() pair with an offset
// over the real clock, as a board's RTC behaves: clock() and the firmware's own setTime (a
// TimeBeacon, on a board reading 1970) move it; timers keep running on true time. As in the node
// engine, a boot starts from true time again (the skew is lost with the power).
//
// Every process is tracked and killed with SIGKILL (SIGTERM does not always end it) by close(),
// and by a process-exit hook if the simulator ends without closing. --telnet is not used (its
// port, 2323, is fixed).
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { setPriority } from "node:os";
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { writeSyntheticPcm } from "../imitation/media.js";
import { FLASH_FILE } from "../imitation/flash.js";
import type { DeviceInfo, DeviceMedia, DeviceSpec, Engine, SimDevice } from "../types.js";
import { configFiles, queueStoreOf } from "./node.js";
import { storageFromFiles } from "../../scripts/espruino-gate.mjs";

/**
 * The first statement every interpreter runs: on the default Linux build it grows the variable store
 * to two blocks. That build's store grows on demand in blocks of 4,096 variables, but a flat string
 * (where a Uint8Array's bytes or a native hash's result live) needs a row of free variables inside
 * one block, and asking for one never grows the store. A recorder near its peak of about 3,600
 * variables in the first block can then find no row of 513 for an 8 KiB chunk with memory left
 * over: "Not enough memory for result". A board has its whole store from the start, in one piece
 * (about 7,100 variables on an Espruino WiFi), so this starts the interpreter nearer to a board. On a
 * build whose store is fixed (it starts above 4,096) it does nothing. The variables in use, the
 * figures the lane prints, are the same either way.
 */
export const BOARD_STORE = "(function () { if (process.memory(false).total > 4096) return; var a = []; for (var i = 0; i < 4500; i++) a.push(i); })();\n";

/**
 * A device's layout on this engine: the interpreter runs in the device's directory (`cwd`), keeps
 * its Storage in FLASH_FILE there, and its `fs` reads and writes that directory itself: the card.
 */
export function espruinoMedia(spec: DeviceSpec): DeviceMedia {
  return { flash: join(spec.dir, FLASH_FILE), card: spec.dir, queue: queueStoreOf(spec) };
}

/** Seconds of synthetic PCM in each device's media file (the firmware loops at its end). */
const MEDIA_SECONDS = 120;
const MEDIA_FILE = "media.raw";
/** The boot file in the device directory. Not "q…" or "pre…": the queue counts those as its own. */
const BOOT_FILE = "boot.js";
const SETUP_FILE = "setup.js";
/** The bundle as a file on the device's card, copied into Storage in pieces by the setup run (then removed). */
const BUNDLE_SOURCE = "rec.src";
/** Lines kept for logs(), across boots. */
const LOG_LINES = 500;
/** Lines quoted in an error about a dead or silent interpreter. */
const ERROR_LINES = 25;
const BOOT_TIMEOUT_MS = 20000;
const SETUP_TIMEOUT_MS = 30000;
// A console request waits behind whatever the interpreter is doing (a Storage compaction takes
// seconds when 20 interpreters, each spinning a core while its socket is open, share two): 10 s
// was measured too short with two busy loops beside a 20-device run.
const REQUEST_TIMEOUT_MS = 30000;
/** Kernel clock ticks per second in /proc/<pid>/stat (USER_HZ: 100 on every common Linux ABI). */
const USER_HZ = 100;

/** What resources() reports about a device's interpreter process. */
export interface ProcessResources {
  pid: number;
  /** Resident set size (VmRSS), KiB. */
  rssKb: number;
  /** User + system CPU time since the process started, ms. */
  cpuMs: number;
}

export interface EspruinoEngineOptions {
  /** The interpreter binary (espruinoBin() in scripts/espruino-gate.mjs finds it). */
  bin: string;
  /** The minified firmware bundle's text (dist/recorder.min.js; buildFirmware().min). */
  bundle: string;
  /**
   * Scheduling priority (nice, 0..19) of the interpreter processes. With a socket open the Linux
   * build never sleeps: each connected device spins a core polling it. A positive value lets the
   * gateway and the simulator itself go first when there are more devices than cores. Default 0.
   */
  nice?: number;
}

// ---- processes: none may outlive the simulator ----

const live = new Set<ChildProcess>();
/** Processes ended on purpose (power cut, close): their exit is no death. */
const ended = new WeakSet<ChildProcess>();
/** Resolves when a tracked process has exited and its output pipes are drained. */
const closed = new WeakMap<ChildProcess, Promise<void>>();
let exitHook = false;

function track(p: ChildProcess): void {
  live.add(p);
  p.once("exit", () => live.delete(p));
  closed.set(p, new Promise((resolve) => {
    p.once("close", () => resolve());
    p.once("error", () => { if (p.pid === undefined) resolve(); }); // never started: no close follows
  }));
  if (!exitHook) {
    exitHook = true;
    // Synchronous by necessity: nothing else runs in an exit handler.
    process.once("exit", () => { for (const q of live) q.kill("SIGKILL"); });
  }
}

function running(p: ChildProcess | null): p is ChildProcess {
  return !!p && p.exitCode === null && p.signalCode === null;
}

/** SIGKILL and wait until its output is drained (so no line of it arrives after this resolves). */
async function killAndWait(p: ChildProcess): Promise<void> {
  ended.add(p);
  if (running(p)) p.kill("SIGKILL");
  await closed.get(p);
}

// ---- text streams ----

/** One line of the interpreter's console as a terminal would show it, prompt and escapes removed. */
export function cleanLine(raw: string): string {
  let s = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
  const cr = s.lastIndexOf("\r");
  if (cr >= 0) s = s.slice(cr + 1); // "\r" returns to column 0: what follows overwrote the line
  s = s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/.\x08/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
  return s.replace(/^>+/, "").trimEnd();
}

/** Cuts a byte stream into lines across chunk boundaries (a UTF-8 character split between chunks is kept whole). */
class LineSplitter {
  private decoder = new StringDecoder("utf8");
  private partial = "";
  constructor(private onLine: (line: string) => void) {}
  push(chunk: Buffer): void {
    const parts = (this.partial + this.decoder.write(chunk)).split("\n");
    this.partial = parts.pop() as string;
    for (const p of parts) this.onLine(p);
  }
  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = "";
    if (rest) this.onLine(rest);
  }
}

// ---- the device side ----

/**
 * The boot file: the board's boot (load rec.js from Storage), the clock the Linux build lacks, and
 * the control connection. Plain ES5 for the interpreter; socket data arrives as strings. The
 * requests are evaluated inside the data handler: globals (`recorder`, `selftest`) are in reach.
 */
function bootScript(port: number, token: string): string {
  return `${BOARD_STORE}var simRealTime = getTime, simClock = 0;
global.getTime = function () { return simRealTime() + simClock; };
global.setTime = function (s) { simClock = s - simRealTime(); };
var simBootError = "";
try { eval(require("Storage").read("rec.js")); } catch (e) { simBootError = "" + e; }
(function () {
  var buf = "";
  var c = require("net").connect({ host: "127.0.0.1", port: ${port} }, function () {
    c.write("hello ${token} " + JSON.stringify(simBootError) + "\\n");
  });
  c.on("data", function (d) {
    buf += d;
    var i = buf.indexOf("\\n");
    while (i >= 0) {
      var line = buf.substr(0, i), sp = line.indexOf(" "), r;
      buf = buf.substr(i + 1);
      try { r = "ok " + JSON.stringify([eval(line.substr(sp + 1))]); } catch (e) { r = "err " + e; }
      c.write(line.substr(0, sp) + " " + r + "\\n");
      i = buf.indexOf("\\n");
    }
  });
})();
`;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** The engine's side of the control connections: the device with a given boot token. */
interface ControlHub {
  port(): Promise<number>;
  expect(token: string, device: EspruinoSimDevice): void;
  forget(token: string): void;
}

/** One simulated device: one interpreter process at a time on one directory. */
export class EspruinoSimDevice implements SimDevice {
  readonly id: string;
  readonly media: DeviceMedia;
  private proc: ChildProcess | null = null;
  private ctl: Socket | null = null;
  private token = "";
  private lines: string[] = [];
  private pending = new Map<number, Pending>();
  private seq = 0;
  /** Set when the interpreter ended without being told to; thrown by later calls until boot(). */
  private died: Error | null = null;
  /** The first internal-assertion line of this process (the memory dump that follows is long). */
  private assertLine = "";
  private booted: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(private bin: string, private spec: DeviceSpec, private hub: ControlHub, private nice = 0) {
    this.id = spec.id;
    this.media = espruinoMedia(spec);
  }

  /** Power on: start the interpreter on the boot file; resolves once the bundle has loaded. */
  async boot(): Promise<void> {
    if (running(this.proc)) throw new Error(`${this.id}: already running (powerCut() first)`);
    this.died = null;
    this.assertLine = "";
    this.ctl = null;
    this.token = randomBytes(8).toString("hex");
    writeFileSync(join(this.spec.dir, BOOT_FILE), bootScript(await this.hub.port(), this.token));
    this.hub.expect(this.token, this);
    const bootDone = new Promise<void>((resolve, reject) => { this.booted = { resolve, reject }; });
    // Its working directory: its card, with its flash file in it (espruinoMedia).
    const p = spawn(this.bin, [BOOT_FILE], { cwd: this.media.card, stdio: ["pipe", "pipe", "pipe"] });
    this.proc = p;
    track(p);
    if (this.nice && p.pid) {
      try { setPriority(p.pid, this.nice); } catch { /* ended already: its close reports it */ }
    }

    let banner = true;
    let held: string[] = []; // banner lines, dropped once its last line is seen
    const onLine = (raw: string): void => {
      const line = cleanLine(raw);
      if (line === "") return;
      if (banner) {
        // The banner ends with the donation address; if this build prints none, keep the lines.
        if (line.includes("espruino.com/Donate")) { banner = false; held = []; return; }
        held.push(line);
        if (held.length < 16) return;
        banner = false;
        for (const l of held.splice(0)) onLine(l);
        return;
      }
      if (!this.assertLine && /ASSERT\(.*FAILED/.test(line)) this.assertLine = line;
      this.lines.push(line);
      if (this.lines.length > LOG_LINES) this.lines.splice(0, this.lines.length - LOG_LINES);
    };
    const out = new LineSplitter(onLine);
    const err = new LineSplitter(onLine);
    p.stdout!.on("data", (d: Buffer) => out.push(d));
    p.stderr!.on("data", (d: Buffer) => err.push(d));
    p.stdin!.on("error", () => { /* never written; EPIPE at most */ });
    p.on("error", (e: Error) => {
      // Spawn failed (no such binary, not executable): no output, no close with a code.
      if (this.proc === p) this.proc = null;
      this.died = new Error(`${this.id}: cannot start the Espruino interpreter ${this.bin}: ${e.message}`);
      this.settle(this.died);
    });
    p.on("close", (code: number | null, signal: string | null) => {
      out.end();
      err.end();
      if (this.proc !== p) return; // an earlier boot's process: already settled
      this.proc = null;
      this.ctl = null;
      if (ended.has(p)) { this.settle(new Error(`${this.id}: powered off`)); return; }
      const why = this.error(`the Espruino interpreter exited unexpectedly (${signal ? "signal " + signal : "exit code " + code})` +
        (this.assertLine ? `: ${this.assertLine}` : ""));
      if (!this.died) this.died = why;
      this.settle(why);
    });

    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.error(`the firmware did not finish loading within ${BOOT_TIMEOUT_MS} ms`)), BOOT_TIMEOUT_MS);
    });
    try {
      await Promise.race([bootDone, timeout]);
    } catch (e) {
      await killAndWait(p);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Press a button: the firmware's own handler (recorder.button), as its setWatch would call it. */
  async press(name: "record" | "marker"): Promise<void> {
    if (!this.alive()) return; // a dead board's button does nothing
    await this.evaluate(`recorder.button(${JSON.stringify(name)})`, `press(${name})`);
  }

  async info(): Promise<DeviceInfo> {
    if (!this.alive()) throw new Error(`${this.id}: powered off`);
    // recorder.info(), not the console's info(): that one also prints the object into the log.
    const v = await this.evaluate("recorder.info()", "info()");
    if (!v || typeof v !== "object" || typeof (v as DeviceInfo).state !== "string") {
      throw this.error(`info() answered ${JSON.stringify(v)}`);
    }
    return v as DeviceInfo;
  }

  /** SIGKILL: timers, sockets and whatever the OS had not written yet die with the process. */
  async powerCut(): Promise<void> {
    const p = this.proc;
    if (p) await killAndWait(p);
    this.proc = null;
  }

  /** Skew the device clock by `skewMs`, or set it to `toMs` (ms since 1970). Nothing while off. */
  async clock(skewMs: number, toMs?: number): Promise<void> {
    if (!this.alive()) return;
    const set = toMs !== undefined ? `setTime(${toMs / 1000})` : `setTime(getTime()+${skewMs / 1000})`;
    await this.evaluate(set, "clock()");
  }

  logs(): string[] {
    return this.lines.slice();
  }

  async close(): Promise<void> {
    await this.powerCut();
  }

  /**
   * Evaluate one line of JavaScript on the device (in the boot file's scope, globals visible) and
   * return its value through JSON: for what the simulator needs beyond SimDevice, such as
   * `selftest()`, `getTime()` or `process.memory().usage`.
   */
  evaluate(expression: string, what = expression, timeoutMs = REQUEST_TIMEOUT_MS): Promise<unknown> {
    if (this.died) return Promise.reject(this.died);
    if (/[\r\n]/.test(expression)) return Promise.reject(new Error(`${this.id}: an expression to evaluate must be one line`));
    const c = this.ctl;
    if (!running(this.proc)) return Promise.reject(new Error(`${this.id}: powered off`));
    if (!c) return Promise.reject(new Error(`${this.id}: not booted yet (no control connection)`));
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(this.error(`no answer to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      c.write(`${id} ${expression}\n`);
    });
  }

  /** The interpreter process's pid, resident memory and CPU time so far; null while powered off. */
  resources(): ProcessResources | null {
    const p = this.proc;
    if (!running(p) || !p.pid) return null;
    try {
      const status = readFileSync(`/proc/${p.pid}/status`, "utf8");
      const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      // The fields after the command name (in parentheses, may hold spaces) start at the 3rd
      // field, so utime (14th) and stime (15th) are at 11 and 12.
      const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]);
      return { pid: p.pid, rssKb: rss ? Number(rss[1]) : 0, cpuMs: (ticks * 1000) / USER_HZ };
    } catch {
      return null; // it ended between the check and the read
    }
  }

  /** The control connection of this boot arrived (called by the engine's hub). */
  attach(socket: Socket, bootError: string): (line: string) => void {
    if (bootError) {
      this.booted?.reject(this.error(`the firmware bundle failed to load: ${bootError}`));
      this.booted = null;
    }
    this.ctl = socket;
    const token = this.token;
    socket.on("close", () => {
      if (this.ctl !== socket) return;
      this.ctl = null;
      // The process's own close usually follows at once and says why; give it a moment.
      setTimeout(() => { if (this.token === token) this.settle(this.died || new Error(`${this.id}: control connection lost`)); }, 200);
    });
    this.booted?.resolve();
    this.booted = null;
    return (line: string) => this.answer(line);
  }

  /** Running and not dead by itself (a dead one throws its death, a powered-off one is off). */
  private alive(): boolean {
    if (this.died) throw this.died;
    return running(this.proc);
  }

  /** An answer line from the control connection: `<id> ok <json>` or `<id> err <message>`. */
  private answer(line: string): void {
    const m = /^(\d+) (ok|err) (.*)$/.exec(line);
    if (!m) { this.lines.push(`[sim] unreadable control line: ${line.slice(0, 200)}`); return; }
    const q = this.pending.get(Number(m[1]));
    if (!q) return; // timed out already
    this.pending.delete(Number(m[1]));
    clearTimeout(q.timer);
    if (m[2] === "err") { q.reject(new Error(`${this.id}: the device threw: ${m[3]}`)); return; }
    try {
      q.resolve((JSON.parse(m[3]) as unknown[])[0]);
    } catch {
      q.reject(this.error(`unreadable answer: ${m[3].slice(0, 200)}`));
    }
  }

  /** The process or its connection is gone: fail the boot and every request still waiting. */
  private settle(why: Error): void {
    this.hub.forget(this.token);
    this.booted?.reject(why);
    this.booted = null;
    for (const [id, q] of this.pending) { clearTimeout(q.timer); q.reject(why); this.pending.delete(id); }
  }

  /** An error about this device that quotes its last console lines. */
  private error(message: string): Error {
    const tail = this.lines.slice(-ERROR_LINES);
    return new Error(`${this.id}: ${message}; last lines of its console:\n${tail.length ? tail.join("\n") : "(none)"}`);
  }
}

/** Runs `file` in `dir` to completion (no timers left), standard input closed; returns its output. */
function runOnce(bin: string, dir: string, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, [file], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    track(p);
    let out = "";
    p.stdout!.on("data", (d: Buffer) => { out += d.toString("utf8"); });
    p.stderr!.on("data", (d: Buffer) => { out += d.toString("utf8"); });
    const timer = setTimeout(() => p.kill("SIGKILL"), SETUP_TIMEOUT_MS);
    p.on("error", (e) => { clearTimeout(timer); reject(new Error(`cannot run the Espruino interpreter ${bin}: ${e.message}`)); });
    p.on("close", () => { clearTimeout(timer); resolve(out); });
  });
}

export class EspruinoEngine implements Engine {
  readonly name = "espruino";
  private bin: string;
  private bundle: string;
  private nice: number;
  private devices: EspruinoSimDevice[] = [];
  private server: Server | null = null;
  private listening: Promise<number> | null = null;
  private waiting = new Map<string, EspruinoSimDevice>();
  private sockets = new Set<Socket>();

  constructor(opts: EspruinoEngineOptions) {
    this.bin = opts.bin;
    this.bundle = opts.bundle;
    this.nice = opts.nice || 0;
    if (!this.bin) throw new Error("espruino engine: no interpreter binary given");
  }

  /**
   * Provision and power on. The Storage files are written by one run of the interpreter itself
   * (the flash format is its own): rec.cfg and rec.key only when the flash has no config yet (as
   * in the node engine, a directory that already is a device stays that device), rec.js whenever
   * it differs from the bundle (a firmware update), in pieces as provisioning writes it: never as
   * one string literal, which a board-sized interpreter cannot hold. Then the media file, and boot.
   */
  async create(spec: DeviceSpec): Promise<SimDevice> {
    mkdirSync(spec.dir, { recursive: true });
    const f = configFiles(spec, `file:${MEDIA_FILE}:${spec.speed}`);
    writeFileSync(join(spec.dir, BUNDLE_SOURCE), this.bundle);
    const setup = `var S = require("Storage");
if (!S.read("rec.cfg")) { S.write("rec.cfg", ${JSON.stringify(f.cfg)}); S.write("rec.key", ${JSON.stringify(f.key)}); }
${storageFromFiles([["rec.js", BUNDLE_SOURCE]])}print("@@setup " + S.getFree());
`;
    const setupPath = join(spec.dir, SETUP_FILE);
    writeFileSync(setupPath, setup);
    let out: string;
    try {
      out = await runOnce(this.bin, spec.dir, SETUP_FILE);
    } finally {
      unlinkSync(setupPath); // it holds the device's keys in clear
    }
    if (!/@@setup \d+/.test(out)) {
      const lines = out.split("\n").map(cleanLine).filter((l) => l !== "").slice(-ERROR_LINES);
      throw new Error(`${spec.id}: writing its Storage failed; interpreter output:\n${lines.join("\n")}`);
    }
    writeSyntheticPcm(join(spec.dir, MEDIA_FILE), spec.seed, MEDIA_SECONDS);
    const d = new EspruinoSimDevice(this.bin, spec, this.hub, this.nice);
    this.devices.push(d);
    await d.boot();
    return d;
  }

  /** Kill every device's interpreter and stop listening for control connections. */
  async close(): Promise<void> {
    const all = this.devices;
    this.devices = [];
    await Promise.all(all.map((d) => d.close()));
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    this.listening = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Control connections: one listening socket for all devices, each known by its boot token. */
  private hub: ControlHub = {
    port: () => {
      if (!this.listening) {
        const server = createServer((s) => this.accept(s));
        this.server = server;
        this.listening = new Promise((resolve, reject) => {
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
        });
      }
      return this.listening;
    },
    expect: (token, device) => { this.waiting.set(token, device); },
    forget: (token) => { this.waiting.delete(token); },
  };

  /** A device's control connection: its first line is `hello <token> <JSON boot error>`. */
  private accept(s: Socket): void {
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
    s.on("error", () => { /* the device died: its process close reports it */ });
    let handle: ((line: string) => void) | null = null;
    const lines = new LineSplitter((line) => {
      const l = line.endsWith("\r") ? line.slice(0, -1) : line;
      if (handle) { handle(l); return; }
      const m = /^hello ([0-9a-f]+) (.*)$/.exec(l);
      const device = m ? this.waiting.get(m[1]) : undefined;
      if (!m || !device) { s.destroy(); return; } // not one of ours, or a boot given up on
      this.waiting.delete(m[1]);
      let bootError = "";
      try { bootError = String(JSON.parse(m[2])); } catch { bootError = m[2]; }
      handle = device.attach(s, bootError);
    });
    s.on("data", (d: Buffer) => lines.push(d));
  }
}
