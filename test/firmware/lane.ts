// Running the firmware bundle on the real Espruino interpreter (ESPRUINO_BIN), one working directory
// per device: its Storage is ./espruino.flash there, its SD card is the directory itself.
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { toHex } from "../../protocol/bytes.js";
import { deriveDeviceKeys } from "../../protocol/chain.js";
import { nodeSha256 } from "../../protocol/sha256-node.js";
import { initialKeys } from "../../protocol/device-files.js";
import { BOARD_STORE } from "../../simulator/engines/espruino.js";
import { storageFromFiles } from "../../scripts/espruino-gate.mjs";

/** Lines the interpreter printed, without its banner, prompts and terminal escapes. */
export function clean(out: string): string[] {
  const cut = out.indexOf("espruino.com/Donate");
  const body = cut < 0 ? out : out.slice(out.indexOf("\n", cut) + 1);
  return body.replace(/\r/g, "").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").split("\n").map((l) => l.replace(/^>+/, "").trimEnd()).filter((l) => l !== "");
}

/** rec.cfg and rec.key for a device as provisioning writes them. */
export function deviceFiles(id: string, root: Uint8Array, port: number, over: Record<string, unknown> = {}): { cfg: string; key: string } {
  const k = deriveDeviceKeys(nodeSha256, root);
  const cfg = { v: 1, id, host: "127.0.0.1", port, login: toHex(k.login), dl: toHex(k.downlinkKey), ctl: toHex(k.controlKey), ...over };
  return { cfg: JSON.stringify(cfg), key: JSON.stringify(initialKeys(toHex(k.stateKey0))) };
}

/** 8 kHz 16-bit mono PCM: a 440 Hz tone, `seconds` long, for the file media source. */
export function tone(seconds: number): Uint8Array {
  const n = 8000 * seconds;
  const b = new Uint8Array(2 * n);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < n; i++) dv.setInt16(2 * i, Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)), true);
  return b;
}

export class EspruinoDevice {
  dir: string;
  proc: ChildProcess | null = null;
  out = "";
  /** Scheduling priority of the interpreter (nice, 0..19). */
  nice = 10;
  constructor(public bin: string) {
    this.dir = mkdtempSync(join(tmpdir(), "evrec-esp-"));
  }
  /**
   * Write Storage files (name → text) with one short interpreter run, each in pieces as the
   * provisioning tool writes them (never one literal of a whole file); returns its output lines.
   */
  storage(files: Record<string, string>): string[] {
    const entries = Object.entries(files).map(([n, t], i): [string, string] => {
      writeFileSync(join(this.dir, `st${i}.src`), t);
      return [n, `st${i}.src`];
    });
    const code = storageFromFiles(entries) + `console.log("STORAGE " + require("Storage").getFree());\n`;
    writeFileSync(join(this.dir, "setup.js"), code);
    const r = spawnSync(this.bin, ["setup.js"], { cwd: this.dir, encoding: "utf8", timeout: 30000 });
    return clean(r.stdout || "");
  }
  file(name: string, data: Uint8Array | string): void {
    writeFileSync(join(this.dir, name), data);
  }
  /** Start the interpreter on a driver script (kept running: sockets and timers hold it). */
  start(driver: string, bare = false): void {
    writeFileSync(join(this.dir, "driver.js"), (bare ? "" : BOARD_STORE) + driver);
    this.out = "";
    const p = spawn(this.bin, ["driver.js"], { cwd: this.dir, stdio: ["ignore", "pipe", "pipe"] });
    // The Linux build never sleeps while a socket is open: at a lower priority, its polling leaves the
    // cores to the gateway and to the other test files first (the cost test, which times, keeps 0).
    if (this.nice && p.pid) {
      try { setPriority(p.pid, this.nice); } catch { /* ended already */ }
    }
    p.stdout!.on("data", (d: Buffer) => { this.out += d.toString("latin1"); });
    p.stderr!.on("data", (d: Buffer) => { this.out += d.toString("latin1"); });
    this.proc = p;
  }
  /**
   * Power on as a board does: the program is one line that runs a Storage file (a board's .boot0), and
   * `code` (which loads the bundle and drives the test) is that file, so that none of it is held in
   * RAM as program text: what the variables in use count is the firmware's.
   */
  boot(code: string): void {
    expect(this.storage({ "drv.js": BOARD_STORE + code }).join("\n")).toMatch(/STORAGE \d+/);
    this.start('eval(require("Storage").read("drv.js"));\n', true);
  }
  lines(): string[] {
    return clean(this.out);
  }
  /**
   * First whole line matching `re`, waiting up to `ms` (a line still arriving is not matched: it may
   * be cut). A minute by default: the interpreter runs at a lower priority (nice 10, above), and a
   * loaded machine gives it little. A reboot with a backlog printed BOOTMEM 0.5 to 0.7 s after it
   * started alone, 5.3 s with three busy processes beside it, and not within 20 s beside the rest of
   * the suite with one busy process more (the wait's old default, measured).
   */
  async waitLine(re: RegExp, ms = 60000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = clean(this.out.slice(0, this.out.lastIndexOf("\n") + 1)).find((l) => re.test(l));
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no line matching ${re} within ${ms} ms; output:\n${this.lines().slice(-40).join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** Kill it and remove its directory (its flash and card). */
  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
  /** SIGKILL (SIGTERM does not always stop it) and wait for the exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((res) => { p.once("exit", () => res()); p.kill("SIGKILL"); });
    this.proc = null;
  }
}

/** A driver line that loads the bundle from its Storage file, as a board's boot does. */
export const LOAD_FROM_STORAGE = 'eval(require("Storage").read("rec.js"));';

/** A gateway's recordings of one device, in id order. */
export async function laneRecordings(g: { gw: { db: { all<T>(sql: string, args: string[]): Promise<T[]> } } }, id: string) {
  return g.gw.db.all<{ recording_id: number; verdict: string; linked_seq: number; interrupted: number; reasons: string }>(
    "SELECT recording_id, verdict, linked_seq, interrupted, reasons FROM recordings WHERE device_id = ? ORDER BY recording_id", [id]);
}

/** Wait until `pred` holds, polling every 50 ms, or throw naming `what`. */
export async function until(pred: () => Promise<boolean> | boolean, what: string, ms = 30000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}
