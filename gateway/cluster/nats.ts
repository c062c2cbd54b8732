// How a region's processes (workers, the office) reach its NATS cluster: one place for the login
// and the waits, so they can't drift apart.
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { listOption } from "./config.js";
import type { ClusterOptions } from "./config.js";
import { GatewayError } from "../errors.js";

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

/**
 * A connection that reconnects for as long as the process runs; `role` names it in the server's
 * view. Only the first connection is not tried again: a process that reaches no server when it
 * starts stops and says why (NATS_UNREACHABLE, or NATS_LOGIN_REFUSED for its login) rather than
 * waiting unseen, and its service manager starts it again.
 */
export async function connectCluster(o: ClusterOptions, role: "worker" | "office"): Promise<NatsConnection> {
  try {
    // noAsyncTraces: the client otherwise builds two errors with stack traces for every request
    // (each JetStream publish), in case one fails: 6.2 % of a loaded worker's main thread in a
    // profile, 1.6 % without. A failure still has its name and message, all the logs print.
    return await connect({ servers: listOption(o.natsServers), user: o.natsUser || undefined, pass: o.natsPass || undefined, name: `evrec-${role}-${o.worker}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true });
  } catch (e) {
    const why = (e as Error).message;
    if ((e as Error).name === "AuthorizationError") {
      throw new GatewayError("NATS_LOGIN_REFUSED", `NATS at ${o.natsServers} refused the ${role}'s login (cluster.natsUser ${JSON.stringify(o.natsUser)}): ${why}`, { cause: e });
    }
    throw new GatewayError("NATS_UNREACHABLE", `no NATS server answered at ${o.natsServers} (${why}): is nats-server running there, and are those its client addresses (cluster.natsServers)?`, { cause: e });
  }
}
