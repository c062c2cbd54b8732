// Per-device runtime: whether the device is alive, its log, its timers and its clock. One Node
// process hosts many devices, so nothing here may leak from one device to another or let one
// device's exception end the process.
import { PowerLoss } from "./node-store.js";

export { PowerLoss };

/** A scheduler: Node's timers by default; a virtual-time scheduler can be injected. */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

export const nodeScheduler: Scheduler = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Life and death of one device. After a power cut every API call throws PowerLoss (`check`), and
 * callbacks (timers, socket events, media) are no longer delivered (`run`).
 */
export class Life {
  name: string;
  dead: boolean;
  /** Exceptions that escaped a callback: on Espruino they print "Uncaught ..." and the program goes on. */
  errors: unknown[];
  lines: string[];
  maxLines: number;
  echo: boolean;

  constructor(name: string, maxLines: number, echo: boolean) {
    this.name = name;
    this.dead = false;
    this.errors = [];
    this.lines = [];
    this.maxLines = maxLines;
    this.echo = echo;
  }

  check(): void {
    if (this.dead) throw new PowerLoss();
  }

  log(line: string): void {
    // A ring: a long run must not grow memory per device.
    if (this.lines.length >= this.maxLines) this.lines.shift();
    this.lines.push(line);
    if (this.echo) console.log("[" + this.name + "] " + line);
  }

  /** Runs a callback the way the interpreter's event loop would: not when dead, errors caught. */
  run(fn: () => void): void {
    if (this.dead) return;
    try {
      fn();
    } catch (e) {
      if (e instanceof PowerLoss) return; // the callback hit the power cut it caused: nothing more runs
      this.errors.push(e);
      this.log("Uncaught " + (e instanceof Error ? e.stack || e.message : String(e)));
    }
  }
}

/**
 * setTimeout/clearTimeout with Espruino's contract: integer ids from 1, clearTimeout() with no
 * argument clears all, clearTimeout(undefined) throws (measured: "clearTimeout(undefined) not
 * allowed. Use clearTimeout() instead"), an unknown id is ignored. Every timer is tracked so a power
 * cut can clear them all.
 */
export class Timers {
  life: Life;
  sched: Scheduler;
  nextId: number;
  live: Map<number, unknown>;

  constructor(life: Life, sched: Scheduler) {
    this.life = life;
    this.sched = sched;
    this.nextId = 1;
    this.live = new Map();
  }

  set(fn: () => void, ms: number): number {
    if (typeof fn !== "function") throw new TypeError("setTimeout: expected a function");
    const id = this.nextId++;
    const delay = typeof ms === "number" && ms > 0 ? ms : 0;
    this.live.set(id, this.sched.setTimeout(() => {
      this.live.delete(id);
      this.life.run(fn);
    }, delay));
    return id;
  }

  clear(id: unknown, argc: number): void {
    if (argc === 0) return this.clearAll();
    if (id === undefined) throw new Error("clearTimeout(undefined) not allowed. Use clearTimeout() instead");
    const h = this.live.get(id as number);
    if (h === undefined) return;
    this.sched.clearTimeout(h);
    this.live.delete(id as number);
  }

  clearAll(): void {
    for (const h of this.live.values()) this.sched.clearTimeout(h);
    this.live.clear();
  }

  get count(): number {
    return this.live.size;
  }
}

export interface ClockOptions {
  /** The simulation's true time in ms (default Date.now): what the clock drifts and skews from. */
  now?: () => number;
  /** Device time at creation, ms since 1970 (default: true time; 0 = a board that boots in 1970). */
  startMs?: number;
  /** Rate error in parts per million (a crystal's drift; default 0). */
  driftPpm?: number;
}

/**
 * A device's wall clock: true time, offset and scaled by drift, that can be skewed or reset like a
 * board's RTC. device ms = anchorDevice + (true ms - anchorTrue) * (1 + ppm / 1e6).
 */
export class DeviceClock {
  trueNow: () => number;
  anchorTrue: number;
  anchorDevice: number;
  ppm: number;

  constructor(opts?: ClockOptions) {
    this.trueNow = opts && opts.now ? opts.now : Date.now;
    this.anchorTrue = this.trueNow();
    this.anchorDevice = opts && opts.startMs !== undefined ? opts.startMs : this.anchorTrue;
    this.ppm = opts && opts.driftPpm ? opts.driftPpm : 0;
  }

  nowMs(): number {
    return this.anchorDevice + (this.trueNow() - this.anchorTrue) * (1 + this.ppm / 1e6);
  }

  /** Jump the clock by `ms` (positive: ahead). */
  skew(ms: number): void {
    this.anchorDevice += ms;
  }

  /** Set the clock to `toMs` (setTime on a board; an RTC reset with 0). */
  reset(toMs: number): void {
    this.anchorTrue = this.trueNow();
    this.anchorDevice = toMs;
  }

  /** Change the drift from now on (the time already shown is kept). */
  drift(ppm: number): void {
    this.reset(this.nowMs());
    this.ppm = ppm;
  }
}
