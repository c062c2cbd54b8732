// What changed at the gateway, as it happens: a device heard from or gone, a recording committed,
// an alarm raised or cleared. Ingest and the alarms publish here; the console's event stream
// (services/events.ts) reads it, filtered to each caller's scope. Nothing here is stored.
import { EventEmitter } from "node:events";

export type LiveEvent =
  | { type: "device"; id: string; at: number; online: boolean; lastSeen: number; status?: Record<string, unknown> }
  | { type: "recording"; device: string; recording: number; at: number }
  | { type: "alarm"; kind: string; subject: string; at: number };

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
