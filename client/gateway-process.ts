// A station gateway as an outside tool starts one: a child process through its public command
// (`bin/evrec-gateway ...`, as `npm start` runs it), its chosen ports read from the ports file it
// writes.
// Tools that use this (the simulator, the demo, tests) talk to it over MQTT and the API only.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = join(import.meta.dirname, "..");

export interface GatewayProcessOptions {
  dataDir: string;
  /** Gateway options as its flags take them (e.g. { mqttPort: 0, faultCommitDelayMs: 300 }). */
  options?: Record<string, string | number>;
  /** The gateway's log level; its log goes to this process's stderr unless silent. */
  logLevel?: string;
  /** Give up waiting for the ports after this long. */
  startTimeoutMs?: number;
  /** More environment for it (say, EVREC_V8_POOL_SIZE), over this process's. */
  env?: Record<string, string>;
}

export interface GatewayPorts { mqtt: number; http: number; tls: number | null; https: boolean; pid: number }

const flag = (k: string) => "--" + k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());

/** A running gateway child process. */
export class GatewayProcess {
  private constructor(private child: ChildProcess, readonly ports: GatewayPorts, readonly dataDir: string, private exited: Promise<number | null>) {}

  /** Start one and wait until it listens; a start that fails says why (its stderr). */
  static async start(given: GatewayProcessOptions): Promise<GatewayProcess> {
    // Its data directory from this process's working directory, whatever the child's.
    const o = { ...given, dataDir: resolve(given.dataDir) };
    const portsFile = join(o.dataDir, "ports.json");
    rmSync(portsFile, { force: true });
    const args = ["--data-dir", o.dataDir, "--host", "127.0.0.1", "--ports-file", portsFile, "--log-level", o.logLevel || "silent"];
    for (const [k, v] of Object.entries(o.options || {})) args.push(flag(k), String(v));
    const child = spawn(join(ROOT, "bin", "evrec-gateway"), args, { cwd: ROOT, env: { ...process.env, ...o.env }, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    const loud = !!o.logLevel && o.logLevel !== "silent";
    // Its log (stdout) and its complaints (stderr) go to this process's stderr when asked for.
    child.stdout!.on("data", (b: Buffer) => { if (loud) process.stderr.write(b); });
    child.stderr!.on("data", (b: Buffer) => {
      err += b.toString();
      if (loud) process.stderr.write(b);
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    let gone: number | null | undefined;
    void exited.then((c) => (gone = c));
    const end = Date.now() + (o.startTimeoutMs ?? 60000);
    for (;;) {
      if (existsSync(portsFile)) {
        try {
          return new GatewayProcess(child, JSON.parse(readFileSync(portsFile, "utf8")) as GatewayPorts, o.dataDir, exited);
        } catch { /* written but not yet whole: read again */ }
      }
      if (gone !== undefined) throw new Error(`GATEWAY_START: the gateway exited (${gone}) before it listened: ${err.trim().split("\n").slice(-3).join(" | ")}`);
      if (Date.now() > end) {
        child.kill("SIGKILL");
        throw new Error(`GATEWAY_START: no ports from the gateway after ${o.startTimeoutMs ?? 60000} ms: ${err.trim().slice(-300)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The process this started (with bin/evrec-gateway, the gateway's own). */
  get pid(): number | undefined { return this.child.pid; }
  get mqttUrl(): string { return `mqtt://127.0.0.1:${this.ports.mqtt}`; }
  get apiUrl(): string { return `${this.ports.https ? "https" : "http"}://127.0.0.1:${this.ports.http}`; }
  /** The admin token the gateway wrote at its first start. */
  adminToken(): string { return readFileSync(join(this.dataDir, "admin.token"), "utf8").trim(); }

  /** Stop it cleanly (SIGTERM), or kill it after a grace period. */
  async stop(graceMs = 15000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}
