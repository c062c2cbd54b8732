// A small driver for the Espruino REPL, over a serial port (`serialport`) or TCP (`tcp://host:port`,
// e.g. the Linux interpreter's `--telnet` port).
//
// Why not EspruinoTools: it connects only to serial ports that `serialport` lists (a pty is not
// listed), it needs a board description with the built-in modules list to run offline, and it
// prints nothing we can check a write against. Provisioning needs a few exact steps with a checked
// answer each (write a piece of a file, read it back, hash it), which this driver does the same way
// on both links.
//
// How a command runs: each one is a single line starting with \x10, which Espruino does not echo,
// wrapping a function body so its result (or the error it threw) is printed as JSON between two
// markers that carry the command's number:
//
//   \x10(function(){...; print("@@E"+"VR7:"+JSON.stringify([1, result])+":EV"+"R7@@")})()
//
// The markers are split in the source, so an echo of the command (a loopback, a terminal) never
// contains them; only an interpreter that ran the line prints them. Anything else on the line
// (prompts, escape codes, log lines the running firmware prints) is ignored. A command is sent only
// after the previous one has answered, which is also the flow control: the board's input buffer
// holds at most one line at a time.
import net from "node:net";
import { SerialPort } from "serialport";
import { ProvisionError, redact } from "./errors.js";

/** A byte stream to the device; bytes travel as latin1 strings (one char per byte). */
export interface Link {
  readonly name: string;
  write(data: string): Promise<void>;
  onData(cb: (data: string) => void): void;
  /**
   * The link went away by itself: the other end closed or reset the connection, the port was
   * unplugged or its device went away. `why` names the OS error when there is one. Called once,
   * and not for close(). A link without it is noticed gone only by a failed write.
   */
  onLost?(cb: (why: string) => void): void;
  close(): Promise<void>;
}

/**
 * PROVISION_LINK_LOST: the link to the board went away while a step waited on it. `fact` says
 * what happened, without advice: the caller that knows what the board may hold adds its own.
 */
export class LinkLostError extends ProvisionError {
  readonly fact: string;
  constructor(public port: string, public why: string, public during: string) {
    const fact = `the link to ${port} went away (${why}) in the step "${during}": the board was reset, unplugged or switched off, or its interpreter ended`;
    super("PROVISION_LINK_LOST", `${fact}. Reconnect the board and run again`);
    this.fact = fact;
  }
}

const OS_ERRORS: Record<string, string> = {
  ECONNRESET: "connection reset by the other end",
  EPIPE: "broken pipe: the other end is gone",
  ETIMEDOUT: "the connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EIO: "input/output error",
  ENXIO: "no such device",
  ENODEV: "no such device",
  EBADF: "bad file descriptor",
};

/** An OS error as its code and what it means ("ECONNRESET: connection reset by the other end"). */
function osError(e: Error & { code?: string }): string {
  const code = e.code && /^E[A-Z0-9]+$/.test(e.code) ? e.code : (/^(E[A-Z0-9]+)\b/.exec(e.message) || [])[1];
  if (code && OS_ERRORS[code]) return `${code}: ${OS_ERRORS[code]}`;
  return code || e.message || String(e);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Open `tcp://host:port` or a serial device path. Failures are PROVISION_PORT. */
export async function openLink(port: string, opts: { baud?: number; timeoutMs?: number } = {}): Promise<Link> {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(port);
  if (m) return openTcp(m[1].replace(/^\[|\]$/g, ""), Number(m[2]), port, opts.timeoutMs || 5000);
  if (port.startsWith("tcp:")) throw new ProvisionError("PROVISION_USAGE", `--port ${port}: write tcp://host:port`);
  return openSerial(port, opts.baud || 115200);
}

function openTcp(host: string, port: number, name: string, timeoutMs: number): Promise<Link> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ProvisionError("PROVISION_PORT", `cannot connect to ${name}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ProvisionError("PROVISION_PORT", `cannot connect to ${name}: ${e.code || e.message}`));
    });
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.setNoDelay(true);
      // After the connection, an error (a reset by the peer, a write into a closed connection),
      // the peer's end of the stream and the close all mean the board is gone: the driver hears
      // it at once, whatever it is waiting for.
      let lost: string | null = null;
      let closing = false;
      let err: Error | null = null;
      const lostCbs: ((why: string) => void)[] = [];
      const gone = (why: string) => {
        if (lost !== null || closing) return;
        lost = why;
        for (const cb of lostCbs) cb(why);
      };
      sock.on("error", (e) => { err = e; gone(osError(e)); });
      sock.on("end", () => gone("the other end closed the connection"));
      sock.on("close", () => gone(err ? osError(err) : "the connection closed"));
      resolve({
        name,
        write: (data) => new Promise((res, rej) => {
          if (lost !== null || sock.destroyed) return rej(new Error(lost || "the connection is closed"));
          sock.write(Buffer.from(data, "latin1"), (e) => (e ? rej(e) : res()));
        }),
        onData: (cb) => sock.on("data", (d: Buffer) => cb(d.toString("latin1"))),
        onLost: (cb) => { lostCbs.push(cb); },
        close: () => new Promise((res) => {
          closing = true;
          if (sock.destroyed) return res();
          sock.end(() => res());
          setTimeout(() => { sock.destroy(); res(); }, 500);
        }),
      });
    });
  });
}

function openSerial(path: string, baudRate: number): Promise<Link> {
  return new Promise((resolve, reject) => {
    const sp = new SerialPort({ path, baudRate, autoOpen: false });
    sp.open((e) => {
      if (e) {
        const hint = /permission|EACCES/i.test(e.message) ? " (is your user in the dialout group?)" : /no such file|ENOENT/i.test(e.message) ? " (is the board plugged in? ls /dev/ttyACM* /dev/ttyUSB*)" : "";
        return reject(new ProvisionError("PROVISION_PORT", `cannot open ${path}: ${e.message}${hint}`));
      }
      // A port that goes away (unplugged, its pty's other end closed) is closed by serialport
      // with a DisconnectedError (a failed read or write); a close we did not ask for is the
      // board gone. Writes queued on a closed port wait for it to open again, so the driver
      // must not wait on them: it hears of the loss here.
      let lost: string | null = null;
      let closing = false;
      let err: Error | null = null;
      const lostCbs: ((why: string) => void)[] = [];
      sp.on("error", (e: Error) => { err = e; });
      sp.on("close", (e: Error | null) => {
        if (lost !== null || closing) return;
        lost = e ? osError(e) : err ? osError(err) : "the port closed";
        for (const cb of lostCbs) cb(lost);
      });
      resolve({
        name: path,
        write: (data) => new Promise((res, rej) => {
          if (lost !== null || !sp.isOpen) return rej(new Error(lost || "the port is closed"));
          sp.write(Buffer.from(data, "latin1"), (err) => { if (err) rej(err); });
          sp.drain((err) => (err ? rej(err) : res()));
        }),
        onData: (cb) => sp.on("data", (d: Buffer) => cb(d.toString("latin1"))),
        onLost: (cb) => { lostCbs.push(cb); },
        close: () => new Promise((res) => {
          closing = true;
          if (sp.isOpen) sp.close(() => res()); else res();
        }),
      });
    });
  });
}

/** The REPL driver. */
export class Repl {
  private buf = "";
  /** Command lines sent since the last answer, so an echo of them can be told from garbage. */
  private sent: string[] = [];
  private n = 0;
  private wake: (() => void) | null = null;
  /** Why the link went away (null: it is up), and a promise that settles then. */
  private lost: string | null = null;
  private signalLost: () => void = () => undefined;
  private lostSignal = new Promise<void>((r) => { this.signalLost = r; });
  /** What the driver is doing, to name it when the link goes away. */
  private doing = "the first contact";
  /** Bytes written to the device, for the summary's rates. */
  bytesSent = 0;

  constructor(private link: Link, private opts: { timeoutMs?: number } = {}) {
    link.onData((d) => {
      this.buf += d;
      // Keep the buffer bounded when a running firmware prints a lot: an answer is one line,
      // far shorter than this, so only old output is dropped.
      if (this.buf.length > 1 << 20) this.buf = this.buf.slice(-(1 << 19));
      if (this.wake) this.wake();
    });
    if (link.onLost) link.onLost((why) => this.linkGone(why));
  }

  /** The link went away: every wait in progress, and every one after, ends with PROVISION_LINK_LOST. */
  private linkGone(why: string): void {
    if (this.lost !== null) return;
    this.lost = why;
    this.signalLost();
    if (this.wake) this.wake();
  }

  get name(): string {
    return this.link.name;
  }

  /** The link went away (the board was reset, unplugged, its interpreter ended): nothing more can be done on it. */
  get linkLost(): boolean {
    return this.lost !== null;
  }

  /** Throw PROVISION_LINK_LOST when the link is gone. */
  private checkLink(): void {
    if (this.lost !== null) throw new LinkLostError(this.link.name, this.lost, this.doing);
  }

  /** Wait for `p`, or until the link goes away (then PROVISION_LINK_LOST, at once). */
  private async unlessLost<T>(p: Promise<T>): Promise<T> {
    this.checkLink();
    const r = await Promise.race([p, this.lostSignal.then(() => undefined)]);
    this.checkLink();
    return r as T;
  }

  /**
   * Check that an Espruino interpreter answers, and get its REPL into a known state.
   * The first try sends the hello command as it is: on an idle REPL it just answers. If nothing
   * useful comes back, a line may be left half-sent (a run interrupted in the middle of an upload)
   * or a board may have been printing its boot banner: the line is cleared and the hello tried once
   * more, with twice the time (a busy board, e.g. one compacting its flash, may be slow to
   * answer), whose answer (or what came instead) decides.
   */
  async sync(timeoutMs = 1500): Promise<void> {
    try {
      await this.call("return 1", { timeoutMs, what: "hello" });
    } catch (e) {
      if (!(e instanceof ProvisionError) || (e.code !== "PROVISION_NO_ANSWER" && e.code !== "PROVISION_GARBAGE")) throw e;
      await this.clearLine();
      await this.call("return 1", { timeoutMs: 2 * timeoutMs, what: "hello" });
    }
  }

  /**
   * Clear the REPL's input line with Ctrl-C. On the Linux build, Ctrl-C on an EMPTY line arms
   * "press Ctrl-C again to exit" and a second one within 5 s ends the interpreter; on a non-empty
   * line it only clears it. So a space goes first, and Ctrl-C only once the space has come back
   * as the echo of a typed character: the line is then not empty. (The interpreter reads its
   * input in batches and handles a Ctrl-C before the characters of the same batch, so sending
   * both at once would not do.) The echo is told by the output going quiet with a space as its
   * last byte: a banner or a log line ends otherwise. No echo: no Ctrl-C.
   */
  private async clearLine(): Promise<void> {
    this.doing = "clearing the input line";
    this.buf = "";
    await this.rawWithin(" ", 1000);
    const first = Date.now() + 1000;
    while (!this.buf.length && Date.now() < first) {
      await this.waitData(first - Date.now());
      this.checkLink();
    }
    await this.quiet(150, 1000);
    if (this.buf.endsWith(" ")) {
      await this.rawWithin("\x03", 1000);
      await this.quiet(150, 1000);
    }
    this.buf = "";
    this.sent = [];
  }

  /**
   * Wait until nothing has arrived for `quietMs` (at most `maxMs`): a reset's banner is done.
   * A link that goes away meanwhile is PROVISION_LINK_LOST at once, not a quiet line.
   */
  async quiet(quietMs: number, maxMs: number): Promise<void> {
    const end = Date.now() + maxMs;
    for (;;) {
      const before = this.buf.length;
      const left = end - Date.now();
      this.checkLink();
      if (left <= 0) return;
      await this.unlessLost(sleep(Math.min(quietMs, left)));
      if (this.buf.length === before) return;
    }
  }

  /** Wait until data arrives or `ms` pass. */
  private waitData(ms: number): Promise<void> {
    return new Promise<void>((res) => {
      const t = setTimeout(() => { this.wake = null; res(); }, Math.max(0, ms));
      this.wake = () => { clearTimeout(t); this.wake = null; res(); };
    });
  }

  /** raw(), but a link that does not take the bytes in time (a pty whose other end died) is no answer. */
  private async rawWithin(data: string, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new ProvisionError("PROVISION_NO_ANSWER", `${this.link.name} does not take data (the device is gone?)`)), ms);
    });
    try {
      await Promise.race([this.raw(data), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Send bytes as they are (reset(), load(): commands that restart the interpreter and print no
   * marker; `what` names it if the link goes away). A link that is gone, or goes away before it
   * takes the bytes, is PROVISION_LINK_LOST at once; so is a failed write (the link is broken).
   */
  async raw(data: string, what?: string): Promise<void> {
    if (what) this.doing = what;
    this.checkLink();
    this.bytesSent += data.length;
    this.sent.push(data);
    try {
      await this.unlessLost(this.link.write(data));
    } catch (e) {
      if (e instanceof ProvisionError) throw e;
      // A write the link refused: the link is broken, whether or not it said so yet.
      this.linkGone(osError(e as Error));
      this.checkLink();
    }
  }

  /**
   * Run `body` (statements, one line, ending in `return <value>`) on the device and return the
   * value. The device's exception becomes PROVISION_DEVICE_ERROR; no answer in time becomes
   * PROVISION_NO_ANSWER, or PROVISION_GARBAGE when bytes came that are not an echo of ours; a link
   * that goes away before the answer came is PROVISION_LINK_LOST, at once.
   */
  async call<T = unknown>(body: string, o: { timeoutMs?: number; what?: string } = {}): Promise<T> {
    if (/[\r\n]/.test(body)) throw new Error("REPL command bodies are one line");
    const id = ++this.n;
    const start = `@@EVR${id}:`;
    const end = `:EVR${id}@@`;
    const line = `\x10(function(){var r;try{r=[1,(function(){${body}})()]}catch(e){r=[0,String(e)]}` +
      `print("@@E"+"VR${id}:"+JSON.stringify(r)+":EV"+"R${id}@@")})()\n`;
    const timeoutMs = o.timeoutMs || this.opts.timeoutMs || 5000;
    this.doing = o.what || "a command";
    await this.rawWithin(line, timeoutMs);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.buf.indexOf(start);
      if (s >= 0) {
        // The end marker followed by the end of the printed line (JSON has no raw newline).
        const e = this.buf.slice(s + start.length).search(new RegExp(`:EVR${id}@@[\\r\\n]`));
        if (e >= 0) {
          const json = this.buf.slice(s + start.length, s + start.length + e);
          this.buf = this.buf.slice(s + start.length + e + end.length);
          this.sent = [];
          let r: unknown;
          try { r = JSON.parse(json); } catch { r = null; }
          if (!Array.isArray(r) || r.length !== 2) throw new ProvisionError("PROVISION_GARBAGE", `the device's answer to ${o.what || "a command"} is not JSON: ${redact(json)}`);
          if (r[0] !== 1) throw new ProvisionError("PROVISION_DEVICE_ERROR", `the device failed ${o.what || "a command"}: ${redact(String(r[1]))}`);
          return r[1] as T;
        }
      }
      // An answer that came before the link went away is taken above; after it, none can come.
      this.checkLink();
      const left = deadline - Date.now();
      if (left <= 0) throw this.noAnswer(o.what || "a command", timeoutMs);
      await this.waitData(left);
    }
  }

  /** Why no answer came: nothing at all, only our own bytes echoed back, or something else. */
  private noAnswer(what: string, timeoutMs: number): ProvisionError {
    const got = this.buf;
    let rest = got;
    for (const l of this.sent) {
      const text = l.replace(/^\x10/, "").replace(/\n$/, "");
      if (text.trim()) rest = rest.split(text).join("");
    }
    rest = rest.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "").replace(/[\x00-\x20\x7f>]/g, "");
    this.buf = "";
    this.sent = [];
    if (!rest) {
      const seen = got.length ? `only an echo of what was sent came back (${got.length} bytes): a terminal or loopback, not an Espruino REPL` : "nothing came back";
      return new ProvisionError("PROVISION_NO_ANSWER", `no answer from ${this.link.name} to ${what} within ${timeoutMs} ms: ${seen}. Is it an Espruino board, powered, with its console on this port?`);
    }
    return new ProvisionError("PROVISION_GARBAGE", `${this.link.name} answered ${what} with something that is not an Espruino REPL answer (wrong port or baud rate?): "${redact(got)}"`);
  }

  async close(): Promise<void> {
    // A link whose other end died may never confirm the close: don't wait for it forever.
    await Promise.race([this.link.close(), sleep(1000)]);
  }
}
