// How a region's processes (workers, the office) reach its NATS cluster: one place for the login
// and the waits, so they can't drift apart.
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { listOption } from "./config.js";
import type { ClusterOptions } from "./config.js";

/**
 * How long a JetStream call waits for its answer; one that finds no stream leader (a node lost) is
 * made again, when it is safe to repeat, for as long (store/nats-retry.ts).
 */
export const JS_WAIT_MS = 10000;

/**
 * What changed, as it happens (live.ts), from the workers to the office's console: core NATS, not
 * a stream (nothing here is kept; an office not running misses it, as a closed console page does).
 * Devices can't publish here (their permissions allow their own uplink only, auth.ts).
 */
export const LIVE_SUBJECT = "evrec.live";

/** A connection that reconnects for as long as the process runs; `role` names it in the server's view. */
export function connectCluster(o: ClusterOptions, role: "worker" | "office"): Promise<NatsConnection> {
  return connect({ servers: listOption(o.natsServers), user: o.natsUser || undefined, pass: o.natsPass || undefined, name: `evrec-${role}-${o.worker}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
}
