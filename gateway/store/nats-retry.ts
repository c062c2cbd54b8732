// JetStream calls made while a stream elects a new leader. When the NATS node holding a stream's
// leader is lost, the stream keeps a quorum and elects another within seconds (3 to 7 s measured on
// a loaded machine), but meanwhile no server takes its messages: nats-server answers a publish at
// once with "no responders" (the client's JetStreamNotEnabled), and a request that reached the old
// leader as it died is never answered (a timeout). A call that is safe to make twice is made again,
// with a growing pause, until it is answered or its time is up; then its last error is thrown.
import type { Logger } from "../log.js";

/** Nobody took the call (no stream leader, no replica answering) or no answer came: worth asking again. */
export function unanswered(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e.name === "JetStreamNotEnabled" || e.name === "TimeoutError") return true;
  const x = e as Error & { isNoResponders?: () => boolean; status?: number };
  if (e.name === "RequestError" && typeof x.isNoResponders === "function" && x.isNoResponders()) return true;
  // "JetStream system temporarily unavailable" and its kind: the API's own 503.
  return /^JetStream/.test(e.name) && x.status === 503;
}

/** No answer to be had now: unanswered (above), or the connection closed, draining or failed. */
export function unreachable(e: unknown): boolean {
  return unanswered(e) || (e instanceof Error && (e.name === "ClosedConnectionError" || e.name === "DrainingConnectionError" || e.name === "ConnectionError"));
}

export interface Retry {
  /** Give up once this long has passed since the first try. */
  withinMs: number;
  /** What the call is, for the log. */
  what: string;
  log?: Logger;
  /** Another failure that means "not yet" for this call (a stream made at start that a node of a cluster just formed does not know yet). */
  alsoRetry?: (e: unknown) => boolean;
}

/** `call()`, made again while it goes unanswered (it must be safe to repeat), for `o.withinMs` at most. */
export async function untilAnswered<T>(call: () => Promise<T>, o: Retry): Promise<T> {
  const start = Date.now();
  for (let tries = 1; ; tries++) {
    try {
      const v = await call();
      if (tries > 1 && o.log) o.log.warn({ call: o.what, tries, ms: Date.now() - start }, "JetStream answered after a leader election");
      return v;
    } catch (e) {
      const pause = Math.min(1000, 50 * 2 ** tries);
      if (!(unanswered(e) || (o.alsoRetry && o.alsoRetry(e))) || Date.now() - start + pause > o.withinMs) throw e;
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
