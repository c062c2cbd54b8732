// A 3-node nats-server cluster for tests, started from Debian's binary on free loopback ports: JetStream
// on every node, an MQTT listener on every node, the partition mapping, and an authorization file the
// gateway workers rewrite (included by every node).
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { authorizationText } from "../../gateway/cluster/auth.js";

export const NATS_BIN = process.env.NATS_SERVER_BIN || "/usr/sbin/nats-server";

/** A port nothing listens on now (the kernel's choice). */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => ok(p));
    });
  });
}

export interface NatsNode { name: string; client: number; route: number; mqtt: number; /** Its monitoring port (`http:`). */ http: number;
  /** Its Go profiler's port (`prof_port`, /debug/pprof/), 0 when not asked for. */ prof: number; conf: string; pidFile: string; log: string; proc: ChildProcess | null }

export class NatsCluster {
  nodes: NatsNode[] = [];
  readonly authFile: string;
  constructor(readonly dir: string, readonly partitions: number, readonly worker: { user: string; pass: string },
    /** Each node serves Go's profiler (bench:cluster --nats-profile). */
    private readonly profile = false) {
    this.authFile = join(dir, "auth.conf");
  }

  /**
   * Start `n` nodes and wait until they are ready. The ports are the kernel's free ones when asked,
   * but another process (a test file running beside) may bind one before the node does: a node
   * that exits before the cluster is ready makes a fresh start on other ports, up to three times.
   */
  async start(n = 3): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce(n);
        return;
      } catch (e) {
        await this.stop();
        for (const x of this.nodes) rmSync(join(this.dir, x.name), { recursive: true, force: true });
        this.nodes = [];
        if (attempt === 3) throw e;
        console.warn(`nats cluster: attempt ${attempt} failed, starting again on other ports: ${(e as Error).message.slice(0, 400)}`);
      }
    }
  }

  private async startOnce(n: number): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    // The workers' login only, until a worker writes the devices' (under its own digest key: it hashes the workers' login again then).
    writeFileSync(this.authFile, await authorizationText({ user: this.worker.user, password: this.worker.pass }, [], "", randomBytes(32)), { mode: 0o600 });
    // Four ports a node, all different (a port just closed may be handed out again).
    const taken = new Set<number>();
    const port = async () => {
      for (;;) {
        const p = await freePort();
        if (!taken.has(p)) { taken.add(p); return p; }
      }
    };
    for (let i = 1; i <= n; i++) {
      this.nodes.push({ name: `n${i}`, client: await port(), route: await port(), mqtt: await port(), http: await port(), prof: this.profile ? await port() : 0, conf: join(this.dir, `n${i}.conf`), pidFile: join(this.dir, `n${i}.pid`), log: join(this.dir, `n${i}.log`), proc: null });
    }
    const routes = this.nodes.map((x) => `nats-route://127.0.0.1:${x.route}`).join(", ");
    for (const x of this.nodes) {
      mkdirSync(join(this.dir, x.name), { recursive: true });
      writeFileSync(x.conf, [
        `server_name: ${x.name}`,
        `listen: 127.0.0.1:${x.client}`,
        `http: 127.0.0.1:${x.http}`,
        x.prof ? `prof_port: ${x.prof}` : "",
        `pid_file: "${x.pidFile}"`,
        `jetstream { store_dir: "${join(this.dir, x.name)}", max_mem: 64M, max_file: 2G }`,
        n > 1 ? `cluster { name: evrec, listen: 127.0.0.1:${x.route}, routes: [ ${routes} ] }` : "",
        `mqtt { listen: 127.0.0.1:${x.mqtt} }`,
        `mappings { "rec.*.up": "part.{{partition(${this.partitions},1)}}.rec.{{wildcard(1)}}.up" }`,
        `include "auth.conf"`,
        "",
      ].join("\n"));
      this.startNode(x);
    }
    await this.ready();
  }

  private startNode(x: NatsNode): void {
    x.proc = spawn(NATS_BIN, ["-c", x.conf, "-l", x.log], { stdio: "ignore" });
  }

  /** Every running node has a JetStream meta leader and its MQTT listener up. */
  async ready(timeoutMs = 30000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const log = (x: NatsNode) => (existsSync(x.log) ? readFileSync(x.log, "utf8") : "");
      const tails = (xs: NatsNode[]) => xs.map((x) => `${x.name}: ${log(x).slice(-600) || "no log"}`).join("\n");
      const dead = this.nodes.filter((x) => x.proc && (x.proc.exitCode !== null || x.proc.signalCode));
      if (dead.length) throw new Error("nats node exited: " + tails(dead));
      const ok = this.nodes.every((x) => {
        const l = log(x);
        return /Listening for MQTT clients/.test(l) && (this.nodes.length === 1 || /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/.test(l));
      });
      if (ok) return;
      if (Date.now() > end) throw new Error("nats cluster did not come up: " + tails(this.nodes));
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  get servers(): string {
    return this.nodes.map((x) => `127.0.0.1:${x.client}`).join(",");
  }

  /** The nodes' monitoring URLs, as the office's natsMonitor takes them. */
  get monitors(): string {
    return this.nodes.map((x) => `http://127.0.0.1:${x.http}`).join(",");
  }

  get pidFiles(): string {
    return this.nodes.map((x) => x.pidFile).join(",");
  }

  /** Start a killed node again, as its service manager would: the same ports, configuration and store. */
  restart(i: number): void {
    this.startNode(this.nodes[i]);
  }

  /** kill -9 one node. */
  kill(i: number): void {
    const p = this.nodes[i].proc;
    if (p && p.exitCode === null) p.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((x) => new Promise<void>((r) => {
      const p = x.proc;
      if (!p || p.exitCode !== null || p.signalCode) return r();
      p.once("exit", () => r());
      p.kill("SIGKILL");
    })));
  }
}
