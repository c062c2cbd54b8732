// Devices for the provisioning tests: the real Espruino interpreter (ESPRUINO_BIN) behind a
// pseudo-terminal made by Debian's socat, or on its telnet port; and stand-ins that are not
// Espruino (a loopback, a silent line, a line that prints noise).
//
// The interpreter keeps its Storage in ./espruino.flash, so each device gets its own directory.
// It ignores SIGTERM when its console is a pty or telnet: every process is stopped with SIGKILL,
// the interpreter itself included (killing socat alone leaves it running, spinning on a closed pty).
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILDS } from "../espruino/builds.js";

/**
 * The interpreter the devices run: each test file runs its device tests once per installed build
 * (eachBuild in test/espruino/builds.ts), each suite calling useInterpreter() first.
 */
export let BIN = BUILDS.length ? BUILDS[0].bin : "";
export function useInterpreter(bin: string): void {
  BIN = bin;
}
export const HAS_SOCAT = spawnSync("sh", ["-c", "command -v socat"], { stdio: "ignore" }).status === 0;
/** Why the device tests are skipped, or "" when they run. */
export const SKIP_REASON = !BIN ? "no Espruino interpreter (set ESPRUINO_BIN or ESPRUINO_BOARD_BIN, or put espruino-linux or espruino-board on the PATH)" : "";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface TestDevice {
  /** The --port to give the tool. */
  port: string;
  /** The device's working directory (its espruino.flash). */
  dir: string;
  kill(): Promise<void>;
}

const dirs: string[] = [];
/** A directory for one device; removeTempDirs() (in a file's afterAll) removes them all. */
export function tempDir(prefix = "evrec-prov-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** pids of a process's children (Linux /proc). */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killHard(pid: number | undefined): void {
  if (!pid) return;
  try { process.kill(pid, "SIGKILL"); } catch { /* gone already */ }
}

async function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((r) => { p.once("exit", () => r()); setTimeout(r, 2000); });
}

/**
 * A pty at DIR/tty whose other end runs `program` (with `pty,raw,echo=0`, as the real board's USB
 * serial looks: no line discipline in the way). Resolves once the link exists and the program runs.
 */
export async function ptyRunning(program: string, dir = tempDir()): Promise<TestDevice> {
  let kids: number[] = [];
  const { tty, socat } = await socatPty(dir, `EXEC:${program},pty,raw,echo=0`, (s) => (kids = s.pid ? children(s.pid) : []).length > 0);
  if (!kids.length) { killHard(socat.pid); throw new Error(`socat did not start ${program}`); }
  return {
    port: tty, dir,
    kill: async () => {
      for (const k of kids) killHard(k);
      killHard(socat.pid);
      await exited(socat);
    },
  };
}

/**
 * socat with a raw pty linked at `dir`/tty on one side and `other` on the other; waits up to 5 s
 * for the link and for `ready` (socat still running), and returns either way: the caller checks.
 */
export async function socatPty(dir: string, other: string, ready: (socat: ChildProcess) => boolean = () => true): Promise<{ tty: string; socat: ChildProcess }> {
  if (!HAS_SOCAT) throw new Error("socat is not installed: apt-get install -y socat");
  const tty = join(dir, "tty");
  rmSync(tty, { force: true });
  const socat = spawn("socat", [`PTY,link=${tty},raw,echo=0`, other], { cwd: dir, stdio: "ignore" });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && socat.exitCode === null && !(existsSync(tty) && ready(socat))) await sleep(10);
  return { tty, socat };
}

/**
 * The interpreter behind a pty, in its own directory (an existing one keeps its flash): socat
 * joins the pty to the interpreter's telnet console, so the tool talks to a real pty and the
 * interpreter reads what it sends in its main loop.
 *
 * Not its standard input: the Linux build reads that on a second thread, whose push into the
 * input queue (jshPushIOCharEvents appending to the last queued event) races the main loop
 * taking that event. On a loaded machine one provisioning run in a few dozen lost the race and
 * the interpreter died with "ASSERT(len <= 64) FAILED AT src/jsdevices.c". A board pushes from
 * an interrupt, which the main loop cannot preempt, so it has no such race.
 */
export async function espruinoOnPty(dir = tempDir()): Promise<TestDevice> {
  if (!HAS_SOCAT) throw new Error("socat is not installed: apt-get install -y socat");
  const telnet = await espruinoOnTelnet(dir);
  const { tty, socat } = await socatPty(dir, "TCP:127.0.0.1:2323");
  if (!existsSync(tty)) {
    killHard(socat.pid);
    await telnet.kill();
    throw new Error("socat did not make the pty for the interpreter's console");
  }
  // The interpreter prints its banner to a new console; let it pass so the tool's first command
  // does not race it (the tool copes either way, this keeps timings steady).
  await sleep(100);
  return {
    port: tty, dir,
    kill: async () => {
      killHard(socat.pid);
      await exited(socat);
      await telnet.kill();
    },
  };
}

/** A script file in `dir`, made executable, for stand-in devices. */
export function script(dir: string, name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, "#!/bin/sh\n" + body + "\n", { mode: 0o755 });
  return p;
}

// ---- the telnet interpreter: port 2323 is fixed, so one at a time across test files and runs.

const LOCK = join(tmpdir(), "evrec-espruino-telnet-2323.lock");
/** How long a device waits for the port: another file's device may hold it for a whole recording. */
export const LOCK_WAIT_MS = 120000;
/** The timeout for a test that starts interpreters (at most two): each may first wait for the port. */
export const DEVICE_TEST_MS = 2 * LOCK_WAIT_MS + 60000;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/**
 * Take the machine-wide telnet lock: a file holding the owner's pid and a token of its own, so a
 * release by a device that no longer holds it (killed twice) leaves another device's lock alone.
 * A dead owner's lock is taken over. Devices of several test files wait here in turn.
 */
async function lockTelnet(timeoutMs = LOCK_WAIT_MS): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  const mine = `${process.pid} ${Math.random().toString(36).slice(2)}`;
  for (;;) {
    try {
      const fd = openSync(LOCK, "wx");
      writeFileSync(fd, mine);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(LOCK, "utf8") === mine) unlinkSync(LOCK);
        } catch { /* already gone */ }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let owner = 0;
      try {
        owner = Number(readFileSync(LOCK, "utf8").trim().split(" ")[0] || "0");
      } catch {
        continue; // released between the open and the read: try again at once
      }
      if (owner && !alive(owner)) { try { unlinkSync(LOCK); } catch { /* raced */ } continue; }
      if (Date.now() > deadline) throw new Error(`telnet port 2323 still locked by pid ${owner} after ${timeoutMs} ms (${LOCK})`);
      await sleep(50 + Math.random() * 100);
    }
  }
}

const canConnect = (port: number) => new Promise<boolean>((res) => {
  const s = net.connect(port, "127.0.0.1");
  s.once("connect", () => { s.destroy(); res(true); });
  s.once("error", () => res(false));
});

/** The interpreter with `--telnet`, in its own directory; its REPL at tcp://127.0.0.1:2323. */
export async function espruinoOnTelnet(dir = tempDir()): Promise<TestDevice> {
  const unlock = await lockTelnet();
  try {
    if (await canConnect(2323)) throw new Error("something else already listens on port 2323");
    // Standard input stays an open pipe: at end-of-file the interpreter would spin a core.
    const p = spawn(BIN, ["--telnet"], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
    p.stdout!.resume();
    p.stderr!.resume();
    const deadline = Date.now() + 5000;
    while (!(await canConnect(2323))) {
      if (Date.now() > deadline || p.exitCode !== null) { killHard(p.pid); throw new Error("the interpreter's telnet port did not open"); }
      await sleep(20);
    }
    return {
      port: "tcp://127.0.0.1:2323", dir,
      kill: async () => {
        killHard(p.pid);
        await exited(p);
        unlock();
      },
    };
  } catch (e) {
    unlock();
    throw e;
  }
}

/**
 * What a device's flash holds, read by a fresh interpreter started in its directory (after the
 * device was killed): our files' contents, and whether the boot file ran at startup (the test
 * bundle writes booted.txt into the working directory when it runs).
 */
export function readFlashOffline(dir: string, names: string[]): { files: Record<string, string | null>; booted: string | null } {
  rmSync(join(dir, "booted.txt"), { force: true });
  const dump = join(dir, "dump.js");
  writeFileSync(dump, `var S=require("Storage"),o={};${JSON.stringify(names)}.forEach(function(n){var d=S.read(n);o[n]=d===undefined?null:d});print("DUMP "+JSON.stringify(o));\n`);
  const r = spawnSync(BIN, [dump], { cwd: dir, encoding: "latin1", timeout: 5000, killSignal: "SIGKILL" });
  const line = String(r.stdout).split(/\r?\n/).find((l) => l.startsWith("DUMP "));
  if (!line) throw new Error("no DUMP line from the interpreter: " + String(r.stdout).slice(-300));
  const booted = existsSync(join(dir, "booted.txt")) ? readFileSync(join(dir, "booted.txt"), "utf8") : null;
  return { files: JSON.parse(line.slice(5)), booted };
}

/**
 * A test bundle: when run (at boot, from .boot0) it writes booted.txt with the device's id. It
 * carries bytes that need escaping on the REPL line (quotes, backslashes, tabs, UTF-8) and is
 * padded with comment lines to `size` bytes.
 */
export function testBundle(dir: string, size = 4096): string {
  let js = `// test bundle: "quotes", \\backslashes\\, \ttabs, café, ±\n` +
    `var evrTestBundle = 1;\n` +
    `(function () { var c = require("Storage").readJSON("rec.cfg", 1); require("fs").writeFileSync("booted.txt", "booted " + (c ? c.id : "?") + "\\n"); })();\n`;
  let i = 0;
  while (Buffer.byteLength(js) < size) js += `// padding line ${i++} ${"-".repeat(60)}\n`;
  const p = join(dir, `bundle-${size}.js`);
  writeFileSync(p, js);
  return p;
}

/**
 * The recorder's files on a running device, read through a fresh REPL connection. The bundle is
 * given as its length and SHA-256, hashed on the device: read back whole it would be one string of
 * the whole file, more than a board-sized interpreter holds.
 */
export async function deviceFiles(port: string): Promise<{ list: string[]; files: Record<string, string | null> }> {
  const { openLink, Repl } = await import("../../provision/repl.js");
  const { Device, OUR_FILES, BUNDLE_FILE } = await import("../../provision/device.js");
  const repl = new Repl(await openLink(port));
  try {
    await repl.sync();
    const dev = new Device(repl);
    const files: Record<string, string | null> = {};
    for (const f of OUR_FILES) {
      if (f === BUNDLE_FILE) {
        const h = await dev.hashFile(f);
        files[f] = h ? `${h.length} bytes, SHA-256 ${h.sha256}` : null;
        continue;
      }
      const b = await dev.readFile(f);
      files[f] = b ? b.toString("latin1") : null;
    }
    return { list: (await dev.info()).files, files };
  } finally {
    await repl.close();
  }
}

/** A gateway in front of the real one at `target` that refuses registrations (a failure after the device was written). */
export async function refusingProxy(target: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === "POST" && /^\/api\/devices(\/[^/]+\/rekey)?$/.test(req.url || "")) {
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: "INTERNAL", message: "disk on fire" }));
      return;
    }
    const r = await fetch(target + req.url, { method: req.method, headers: { authorization: String(req.headers.authorization || "") }, body: chunks.length ? Buffer.concat(chunks) : undefined });
    res.writeHead(r.status, { "content-type": "application/json" }).end(await r.text());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}
