// Alarms as people see and clear them; raising is the gateway's own (alarms.ts).
import type { Caller, ServiceContext } from "./context.js";
import { reasonOf, requireRole } from "./context.js";
import { GatewayError } from "../errors.js";
import type { Alarm } from "../alarms.js";
import * as store from "../store/alarms.js";

export class AlarmService {
  constructor(private ctx: ServiceContext) {}

  async list(caller: Caller, q: { open?: boolean } = { open: true }): Promise<Alarm[]> {
    requireRole(caller, ["admin", "supervisor"], "listing alarms");
    return store.listAlarms(this.ctx.db, q.open);
  }

  /** Close the open alarm of a kind and subject, with a reason; ALARM_NOT_FOUND when none is open. */
  async clear(caller: Caller, kindIn: unknown, subjectIn: unknown, reasonIn: unknown): Promise<Alarm> {
    requireRole(caller, ["admin", "supervisor"], "clearing an alarm");
    const kind = String(kindIn ?? ""), subject = String(subjectIn ?? "");
    if (!kind) throw new GatewayError("KIND_REQUIRED", "clearing an alarm names its kind");
    const reason = reasonOf(reasonIn, `clearing ${kind} ${subject}`);
    const a = await this.ctx.change(caller, async () => {
      const a = await store.closeAlarm(this.ctx.db, kind, subject, caller.name, reason, this.ctx.now());
      if (!a) throw new GatewayError("ALARM_NOT_FOUND", `no open alarm ${kind} ${subject}`);
      return { result: a, audit: { action: "alarm.clear", target: `${kind}:${subject}`, reason, details: { alarm: a.id, count: a.count } } };
    });
    this.ctx.deps.live.bus?.publish({ type: "alarm", kind, subject, at: this.ctx.now() });
    return a;
  }
}
