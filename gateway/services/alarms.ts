// Alarms as people see and clear them; raising is the gateway's own (alarms.ts). An admin sees and
// clears every alarm; a supervisor those about a device of their unit's subtree or its recordings
// (the subject names the device: DEV, or DEV/N), as with the fleet and the records themselves.
// Alarms about the station as a whole (its disk, its log's witnesses, retention, a region's
// partitions) are the admin's.
import type { Caller, ServiceContext } from "./context.js";
import { reasonOf, requireRole } from "./context.js";
import { GatewayError } from "../errors.js";
import type { Alarm } from "../alarms.js";
import { STATION_ALARM_KINDS } from "../alarms.js";
import * as store from "../store/alarms.js";
import { getDevice } from "../store/devices.js";

/**
 * The device an alarm is about: the one its subject names (DEV, or DEV/N for one of its
 * recordings), unless its kind is about the station as a whole; null when it is about none.
 */
export function alarmDevice(kind: string, subject: string): string | null {
  if (STATION_ALARM_KINDS.has(kind)) return null;
  const m = /^([^/\s]+)(?:\/[0-9]+)?$/.exec(subject);
  return m ? m[1] : null;
}

export class AlarmService {
  constructor(private ctx: ServiceContext) {}

  /**
   * Whether a caller may see (and clear) an alarm of this kind and subject: a function of both, for
   * one listing or one clear (it keeps the devices' units it read).
   */
  async visibility(caller: Caller): Promise<(kind: string, subject: string) => Promise<boolean>> {
    requireRole(caller, ["admin", "supervisor"], "seeing alarms");
    const scope = await this.ctx.scope(caller);
    if (!scope) return async () => true;
    const units = new Map<string, Promise<number | null>>();
    return async (kind, subject) => {
      const id = alarmDevice(kind, subject);
      if (!id) return false;
      let u = units.get(id);
      if (!u) units.set(id, (u = getDevice(this.ctx.db, id).then((d) => (d ? d.unit_id : null))));
      const unit = await u;
      return unit !== null && scope.has(unit);
    };
  }

  async list(caller: Caller, q: { open?: boolean } = { open: true }): Promise<Alarm[]> {
    requireRole(caller, ["admin", "supervisor"], "listing alarms");
    const visible = await this.visibility(caller);
    const all = await store.listAlarms(this.ctx.db, q.open);
    const seen = await Promise.all(all.map((a) => visible(a.kind, a.subject)));
    return all.filter((_, i) => seen[i]);
  }

  /** Close the open alarm of a kind and subject, with a reason; ALARM_NOT_FOUND when none is open, OUTSIDE_UNIT when it is not the caller's to clear. */
  async clear(caller: Caller, kindIn: unknown, subjectIn: unknown, reasonIn: unknown): Promise<Alarm> {
    requireRole(caller, ["admin", "supervisor"], "clearing an alarm");
    const kind = String(kindIn ?? ""), subject = String(subjectIn ?? "");
    if (!kind) throw new GatewayError("KIND_REQUIRED", "clearing an alarm names its kind");
    const reason = reasonOf(reasonIn, `clearing ${kind} ${subject}`);
    if (!(await (await this.visibility(caller))(kind, subject))) {
      throw new GatewayError("OUTSIDE_UNIT", !alarmDevice(kind, subject) ? `${kind} ${subject} is about the station as a whole: an admin clears it` : `${kind} ${subject}: the device is in no unit of your unit's subtree`);
    }
    const a = await this.ctx.change(caller, async () => {
      const a = await store.closeAlarm(this.ctx.db, kind, subject, caller.name, reason, this.ctx.now());
      if (!a) throw new GatewayError("ALARM_NOT_FOUND", `no open alarm ${kind} ${subject}`);
      return { result: a, audit: { action: "alarm.clear", target: `${kind}:${subject}`, reason, details: { alarm: a.id, count: a.count } } };
    });
    this.ctx.deps.live.bus?.publish({ type: "alarm", kind, subject, at: this.ctx.now() });
    return a;
  }
}
