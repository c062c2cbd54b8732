// Which devices are connected now, in a region. Devices connect to nats-server's MQTT listener,
// never to a worker or the office: no process of ours sees a connection open or close. nats-server
// does, and says so on its monitoring port (`http:` in its config): `/connz` lists its open
// connections, an MQTT one with its type "mqtt" and, asked with `auth=1`, the user it logged in as
// (the device's id; its client id is the device's choice, so it is not trusted for this). The
// office asks every node in turn, every `presenceMs`, and a device is online while some node holds
// a connection of its user.
//
// What `/connz?auth=1` also shows: nats-server 2.9 puts an MQTT client's password in the "jwt" of
// its entry (a device's login secret in clear). It is never read here; the monitoring ports must
// be reachable from the region's own hosts only (docs/SCALE.md).
import type { Logger } from "../log.js";

/** Connections asked for in one request; nats-server's own cap is 1024 unless configured. */
const PAGE = 1024;
/** A node that does not answer keeps its last view this many rounds, then its devices are shown gone. */
const STALE_ROUNDS = 3;

interface ConnzEntry { type?: string; authorized_user?: string }
interface Connz { total?: number; offset?: number; connections?: ConnzEntry[] }

export interface PresenceOptions {
  /** The nodes' monitoring URLs (http://host:port). */
  urls: string[];
  intervalMs: number;
  log: Logger;
  /** Told of each device that came or went (not of those already there at the first round). */
  changed: (device: string, online: boolean) => void;
}

export class NatsPresence {
  /** Each node's view: the devices it holds a connection of, and rounds since it last answered. */
  private nodes = new Map<string, { devices: Set<string>; missed: number; failing: boolean }>();
  private online = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> = Promise.resolve();
  private first = true;

  constructor(private o: PresenceOptions) {
    for (const u of o.urls) this.nodes.set(u.replace(/\/+$/, ""), { devices: new Set(), missed: STALE_ROUNDS, failing: false });
  }

  /** The first round, then one every intervalMs. */
  async start(): Promise<void> {
    await this.poll();
    // A round still running when the next is due (a node slow to answer) is not queued behind: skipped.
    let running = false;
    this.timer = setInterval(() => {
      if (running) return;
      running = true;
      this.round = this.poll().catch((e) => this.o.log.error({ err: String(e) }, "device presence round failed")).finally(() => { running = false; });
    }, this.o.intervalMs);
    this.timer.unref();
  }

  isOnline(device: string): boolean {
    return this.online.has(device);
  }

  get count(): number {
    return this.online.size;
  }

  /** Ask every node; then say who came and who went. */
  async poll(): Promise<void> {
    await Promise.all([...this.nodes].map(async ([url, node]) => {
      try {
        node.devices = await this.devicesAt(url);
        node.missed = 0;
        if (node.failing) this.o.log.info({ url }, "NATS monitoring answers again: device presence from it resumed");
        node.failing = false;
      } catch (e) {
        node.missed++;
        if (!node.failing) this.o.log.warn({ code: "NATS_MONITOR", url, err: (e as Error).message }, `NATS monitoring does not answer: its devices are kept as last seen for ${STALE_ROUNDS} rounds, then shown gone`);
        node.failing = true;
        if (node.missed >= STALE_ROUNDS) node.devices = new Set();
      }
    }));
    const now = new Set<string>();
    for (const n of this.nodes.values()) for (const d of n.devices) now.add(d);
    const before = this.online;
    this.online = now;
    if (this.first) { this.first = false; return; }
    for (const d of now) if (!before.has(d)) this.o.changed(d, true);
    for (const d of before) if (!now.has(d)) this.o.changed(d, false);
  }

  /** The users of a node's open MQTT connections, page by page. */
  private async devicesAt(url: string): Promise<Set<string>> {
    const out = new Set<string>();
    for (let offset = 0; ;) {
      const res = await fetch(`${url}/connz?auth=1&state=open&limit=${PAGE}&offset=${offset}`, { signal: AbortSignal.timeout(Math.min(5000, this.o.intervalMs)) });
      if (!res.ok) throw new Error(`${url}/connz answered ${res.status}`);
      const page = (await res.json()) as Connz;
      const conns = page.connections || [];
      for (const c of conns) if (c.type === "mqtt" && c.authorized_user) out.add(c.authorized_user);
      offset += conns.length;
      if (!conns.length || offset >= (page.total ?? 0)) return out;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.round;
  }
}
