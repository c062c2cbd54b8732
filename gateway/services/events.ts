// The live event stream as a caller may see it: device events only to those who may list devices
// (admin, a supervisor for their unit's subtree), alarm events as alarms are listed (an admin all of
// them, a supervisor those about a device of their subtree: services/alarms.ts),
// recording events with their ids to an admin and, to everyone else, as a bare "something new"
// (their page asks again through its scoped, audited listing). Subscribing is audited.
import type { Caller, ServiceContext } from "./context.js";
import { GatewayError } from "../errors.js";
import type { SentEvent } from "../../protocol/gateway-api.js";
import { getDevice } from "../store/devices.js";
import { alarmDevice } from "./alarms.js";

/** How long a device's unit is trusted from the cache before it is read again. */
const UNIT_TTL_MS = 30e3;

export class EventService {
  private units = new Map<string, { unit: number | null; at: number }>();
  constructor(private ctx: ServiceContext) {}

  private async unitOf(device: string): Promise<number | null> {
    const now = this.ctx.now();
    const c = this.units.get(device);
    if (c && now - c.at < UNIT_TTL_MS) return c.unit;
    const d = await getDevice(this.ctx.db, device);
    const unit = d ? d.unit_id : null;
    this.units.set(device, { unit, at: now });
    if (this.units.size > 100000) this.units.delete(this.units.keys().next().value!);
    return unit;
  }

  /** Send `caller` what it may see of each event, until the returned function is called. */
  async subscribe(caller: Caller, send: (ev: SentEvent) => void): Promise<() => void> {
    const bus = this.ctx.deps.live.bus;
    if (!bus) throw new GatewayError("NO_LIVE_EVENTS", "this gateway has no live event stream");
    const scope = caller.role === "admin" || caller.role === "officer" ? null : await this.ctx.scope(caller);
    const devices = caller.role === "admin" || caller.role === "supervisor";
    await this.ctx.noteRead(caller, { action: "events.subscribe", target: null, details: { scope: scope ? [...scope] : caller.role === "admin" ? "station" : "own" } });
    return bus.subscribe((ev) => {
      if (ev.type === "alarm") {
        if (!devices) return;
        if (!scope) return send(ev);
        const id = alarmDevice(ev.kind, ev.subject);
        if (id) void this.unitOf(id).then((u) => { if (u !== null && scope.has(u)) send(ev); }, () => undefined);
      } else if (ev.type === "recording") {
        send(caller.role === "admin" ? ev : { type: "recording", at: ev.at });
      } else if (devices) {
        if (!scope) return send(ev);
        void this.unitOf(ev.id).then((u) => { if (u !== null && scope.has(u)) send(ev); }, () => undefined);
      }
    });
  }
}
