// `npm start -- --cluster FILE --office`: a region's office beside its workers (docs/SCALE.md).
// The station's API, console, exports, transparency log and witnesses, scrub and retention
// (office.ts), on the workers' database, reading their media from JetStream. Devices connect to
// NATS, never to it: it runs no broker and no ingest. Its data directory holds the region's
// identity (the key that signs log checkpoints, manifests and C2PA) and the audit log's key: one
// office per region, as one gateway per station.
import { resolve } from "node:path";
import { connectCluster, JS_WAIT_MS, LIVE_SUBJECT } from "./nats.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsPresence } from "./presence.js";
import { PartitionWatch } from "./partitions.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { liveEventFrom } from "../live.js";
import type { LiveEvent } from "../live.js";
import type { Logger } from "../log.js";
import { listOption } from "./config.js";
import type { ClusterConfig } from "./config.js";
import { freeBytes, lockDataDir, prepareDataDir } from "../datadir.js";
import { openStore } from "../gateway.js";
import { officeCore, serveOffice, writePorts } from "../office.js";
import type { Office } from "../office.js";
import { Metrics } from "../metrics.js";
import { parseWitnesses } from "../evidence/witness-client.js";
import { NatsMediaStore } from "../store/media-nats.js";

export interface ClusterOffice {
  office: Office;
  httpPort: number;
  /** Set on the first start: where the admin token was written. */
  adminTokenFile: string | null;
  close(): Promise<void>;
}


/** A region's media (JetStream), as its office and the admin CLI read it, and the connection it came by; close() ends it. */
export async function openRegionMedia(cfg: ClusterConfig, log?: Logger): Promise<{ media: NatsMediaStore; nc: NatsConnection; close(): Promise<void> }> {
  const o = cfg.cluster;
  const nc = await connectCluster(o, "office");
  try {
    const media = await NatsMediaStore.open(nc, { stream: o.mediaStream, replicas: o.replicas, timeoutMs: JS_WAIT_MS, log });
    return { media, nc, close: () => nc.drain().catch(() => undefined) };
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw e;
  }
}

export async function startClusterOffice(cfg: ClusterConfig, log: Logger): Promise<ClusterOffice> {
  const g = cfg.gateway;
  const o = cfg.cluster;
  // Checked before anything listens: a bad witness entry stops the start with its reason.
  const witnesses = parseWitnesses(g.witnesses);
  const dir = resolve(g.dataDir);
  prepareDataDir(dir, { create: true });
  const unlock = lockDataDir(dir);
  // What is opened, closed again in reverse order: at close, or if a later step fails.
  const opened: (() => unknown)[] = [unlock];
  const undo = async () => { while (opened.length) await opened.pop()!(); };
  try {
    const store = await openStore(g);
    opened.push(() => store.db.close());
    const r = await openRegionMedia(cfg, log);
    opened.push(() => r.close());
    const media = r.media;
    const core = officeCore(g, log, witnesses, store, media);
    // The workers count what they take in (their own /metrics); the office, its scrub and its disk.
    const metrics = new Metrics({
      sessions: () => ({ connections: 0, paused: 0, backlogMax: 0, backlogTotal: 0, backlogBytes: 0 }),
      ingest: () => ({ recordings: 0, bufferedBytes: 0 }),
      diskFreeBytes: () => freeBytes(dir),
      scrub: () => core.evidence.scrubber.progress,
    });
    // Which devices are connected is nats-server's to know (presence.ts); what changes, the workers'.
    const monitors = listOption(o.natsMonitor);
    const presence = monitors.length ? new NatsPresence({ urls: monitors, intervalMs: o.presenceMs, log,
      changed: (id, on) => core.bus.publish({ type: "device", id, at: Date.now(), online: on, lastSeen: Date.now() }) }) : null;
    if (presence) {
      await presence.start();
      opened.push(() => presence.close());
    } else log.warn("cluster.natsMonitor is not set: the console shows no device online (see --cluster-help)");
    const online = (id: string) => presence?.isOnline(id) ?? false;
    const liveSub = r.nc.subscribe(LIVE_SUBJECT, {
      callback: (err, m) => {
        if (err) return;
        let ev: LiveEvent | null = null;
        try { ev = liveEventFrom(JSON.parse(m.string())); } catch { ev = null; }
        if (!ev) { log.warn({ code: "LIVE_EVENT_MALFORMED", subject: m.subject }, "a live event not understood: dropped"); return; }
        // A worker sees a device's messages, not its connection: whether it is online is nats-server's.
        if (ev.type === "device") ev = { ...ev, online: online(ev.id) };
        core.bus.publish(ev);
      },
    });
    opened.push(() => liveSub.unsubscribe());
    // Every partition served by some worker, or an alarm (partitions.ts).
    const watch = new PartitionWatch(await jetstreamManager(r.nc, { timeout: JS_WAIT_MS }), { stream: o.leaseStream, partitions: o.partitions, leaseMs: o.leaseMs, alarms: core.alarms, log });
    // Revokes reach devices through the workers (the NATS authorization file, authSyncMs).
    const office = await serveOffice(g, log, store, media, core, {
      live: { online }, metrics,
      gateway: { kind: "region", state: () => ({ disk: { freeBytes: freeBytes(dir), minFreeBytes: null, low: false }, cluster: { natsServers: o.natsServers, partitions: watch.view, workers: watch.workers, devicesOnline: presence ? presence.count : null } }) },
    });
    opened.push(() => office.close());
    const check = () => void Promise.all([office.checkFleet(), watch.check()]).catch((e) => log.error({ err: String(e) }, "fleet check failed"));
    check();
    const timer = setInterval(check, 5000);
    timer.unref();
    opened.push(() => clearInterval(timer));
    writePorts(g.portsFile, { http: office.httpPort, https: office.apiScheme === "https" });
    return { office, httpPort: office.httpPort, adminTokenFile: store.adminTokenFile, close: undo };
  } catch (e) {
    await undo();
    throw e;
  }
}
