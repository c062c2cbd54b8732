// What changed at the gateway, as it happens: a device heard from or gone, a recording committed,
// an alarm raised or cleared. Ingest and the alarms publish here; the console's event stream
// (services/events.ts) reads it, filtered to each caller's scope. Nothing here is stored.
import { EventEmitter } from "node:events";
import type { LiveEvent } from "../protocol/gateway-api.js";

export type { LiveEvent };

export class LiveBus {
  private e = new EventEmitter();
  constructor() {
    // One listener per open console page; the bound is the API's own (connections), not this.
    this.e.setMaxListeners(0);
  }
  publish(ev: LiveEvent): void {
    this.e.emit("ev", ev);
  }
  /** Listen; returns the function that stops listening. */
  subscribe(fn: (ev: LiveEvent) => void): () => void {
    this.e.on("ev", fn);
    return () => this.e.off("ev", fn);
  }
  get listeners(): number {
    return this.e.listenerCount("ev");
  }
}

/** An event as another process sent it (a cluster worker, as JSON): the event if it has an event's shape, else null. */
export function liveEventFrom(x: unknown): LiveEvent | null {
  if (!x || typeof x !== "object") return null;
  const e = x as Record<string, unknown>;
  const str = (k: string) => typeof e[k] === "string";
  const num = (k: string) => typeof e[k] === "number" && Number.isFinite(e[k]);
  if (!num("at")) return null;
  if (e.type === "device" && str("id") && typeof e.online === "boolean" && num("lastSeen") && (e.status === undefined || (typeof e.status === "object" && e.status !== null)))
    return { type: "device", id: e.id as string, at: e.at as number, online: e.online, lastSeen: e.lastSeen as number, ...(e.status ? { status: e.status as Record<string, unknown> } : {}) };
  if (e.type === "recording" && str("device") && num("recording")) return { type: "recording", device: e.device as string, recording: e.recording as number, at: e.at as number };
  if (e.type === "alarm" && str("kind") && str("subject")) return { type: "alarm", kind: e.kind as string, subject: e.subject as string, at: e.at as number };
  return null;
}
