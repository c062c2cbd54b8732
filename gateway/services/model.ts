// Units, officers, cases, checkouts and links: the enforcement model's changes and listings, each
// checked here for role, unit scope and input, then written with its one audit entry.
import type { Caller, ServiceContext } from "./context.js";
import { bodyOf, deviceIdOf, intOf, reasonOf, recordingIdOf, requireRole } from "./context.js";
import { parseTime } from "./time.js";
import { GatewayError } from "../errors.js";
import type { Assignment, Case, CaseClipSuggestion, CheckoutTarget, ClipLink, NewCase, Officer, Suggestion, Unit, UnitLevel } from "../model/model.js";
import { ACTIVITY_KINDS } from "../model/model.js";
import * as devices from "../store/devices.js";
import { preDutyCheck } from "./checkout.js";

const READ = ["admin", "supervisor", "legal_reviewer"] as const;

export class ModelService {
  constructor(private ctx: ServiceContext) {}

  private get m() { return this.ctx.model; }

  /** A unit in the caller's scope, or OUTSIDE_UNIT. */
  private async inScope(caller: Caller, unitId: number, what: string): Promise<void> {
    const scope = await this.ctx.scope(caller);
    if (scope && !scope.has(unitId)) throw new GatewayError("OUTSIDE_UNIT", `${what}: unit ${unitId} is outside your unit's subtree`);
  }

  // ---- units

  async addUnit(caller: Caller, nameIn: unknown, levelIn: unknown, parentIn?: unknown): Promise<Unit> {
    requireRole(caller, ["admin"], "adding a unit");
    const parent = parentIn === undefined || parentIn === null ? undefined : intOf(parentIn, "parent");
    return this.ctx.change(caller, async () => {
      const u = await this.m.addUnit(nameIn as string, levelIn as UnitLevel, parent);
      return { result: u, audit: { action: "unit.add", target: String(u.id), details: { name: u.name, level: u.level, parent: u.parentId } } };
    });
  }

  /** Set a unit's own fleet ratio (admin), overriding the station's; "default" (or null) goes back to it. */
  async setUnitRatio(caller: Caller, unitIn: unknown, ratioIn: unknown, reasonIn: unknown): Promise<Unit> {
    requireRole(caller, ["admin"], "setting a unit's fleet ratio");
    const unitId = intOf(unitIn, "unit");
    const reason = reasonOf(reasonIn, "setting a unit's fleet ratio");
    const ratio = ratioIn === null || ratioIn === "default" ? null : typeof ratioIn === "string" && /^\d+(\.\d+)?$/.test(ratioIn.replace(/^1:/, "")) ? Number(ratioIn.replace(/^1:/, "")) : typeof ratioIn === "number" ? ratioIn : NaN;
    return this.ctx.change(caller, async () => {
      const before = await this.m.unit(unitId);
      if (before.fleetRatio === ratio) throw new GatewayError("NO_CHANGE", `unit ${unitId}'s ratio is already ${ratio === null ? `the station's (1:${this.ctx.policy.fleetRatio})` : `1:${ratio}`}`);
      const u = await this.m.setUnitRatio(unitId, ratio);
      return { result: u, audit: { action: "unit.ratio", target: String(unitId), reason, details: { from: before.fleetRatio, to: ratio, station: this.ctx.policy.fleetRatio } } };
    });
  }

  /** The unit tree (structure, not records: every reading role sees it whole). */
  async listUnits(caller: Caller): Promise<Unit[]> {
    requireRole(caller, READ, "listing units");
    return this.m.listUnits();
  }

  // ---- officers

  async addOfficer(caller: Caller, bodyIn: unknown): Promise<Officer> {
    requireRole(caller, ["admin"], "adding an officer");
    const b = bodyOf(bodyIn, "adding an officer");
    const unitId = intOf(b.unitId, "unitId");
    return this.ctx.change(caller, async () => {
      const o = await this.m.addOfficer({ badge: b.badge as string, name: b.name as string, unitId, role: b.role as never,
        certNo: b.certNo as string | undefined, certValidFrom: b.certValidFrom as string | undefined, certValidTo: b.certValidTo as string | undefined });
      return { result: o, audit: { action: "officer.add", target: o.badge, details: { unit: o.unitId, role: o.role, certNo: o.certNo, certValidFrom: o.certValidFrom, certValidTo: o.certValidTo } } };
    });
  }

  /** Officers on the rosters of the caller's scope; the listing is audited. */
  async listOfficers(caller: Caller): Promise<Officer[]> {
    requireRole(caller, READ, "listing officers");
    const scope = await this.ctx.scope(caller);
    const all = await this.m.listOfficers();
    const out = scope ? all.filter((o) => scope.has(o.unitId)) : all;
    await this.ctx.noteRead(caller, { action: "officer.list", details: { count: out.length, scope: scope ? [...scope] : "station" } });
    return out;
  }

  /** Change an officer's name, role or certificate (admin), with a reason. */
  async editOfficer(caller: Caller, badge: unknown, patchIn: unknown, reasonIn: unknown): Promise<Officer> {
    requireRole(caller, ["admin"], "editing an officer");
    const reason = reasonOf(reasonIn, "editing an officer");
    const p = bodyOf(patchIn, "editing an officer");
    const allowed = ["name", "role", "certNo", "certValidFrom", "certValidTo"];
    for (const k of Object.keys(p)) if (!allowed.includes(k)) throw new GatewayError("BAD_INPUT", `an officer edit changes ${allowed.join(", ")}; use transfer for the unit and deactivate to take an officer off duty (got ${k})`);
    if (!Object.keys(p).length) throw new GatewayError("NO_CHANGE", "say what to change");
    return this.ctx.change(caller, async () => {
      const before = await this.m.officer(String(badge));
      const o = await this.m.updateOfficer(before.badge, p as never);
      return { result: o, audit: { action: "officer.edit", target: o.badge, reason, details: { changed: p } } };
    });
  }

  /** Move an officer to another unit (admin), with a reason. */
  async transferOfficer(caller: Caller, badge: unknown, unitIn: unknown, reasonIn: unknown): Promise<Officer> {
    requireRole(caller, ["admin"], "transferring an officer");
    const reason = reasonOf(reasonIn, "transferring an officer");
    const unitId = intOf(unitIn, "unit");
    return this.ctx.change(caller, async () => {
      const before = await this.m.officer(String(badge));
      if (before.unitId === unitId) throw new GatewayError("NO_CHANGE", `officer ${before.badge} is already in unit ${unitId}`);
      const o = await this.m.updateOfficer(before.badge, { unitId });
      return { result: o, audit: { action: "officer.transfer", target: o.badge, reason, details: { from: before.unitId, to: unitId } } };
    });
  }

  /** Take an officer off the roster's counts (or back on), with a reason (admin). */
  async setOfficerActive(caller: Caller, badge: unknown, active: boolean, reasonIn: unknown): Promise<Officer> {
    requireRole(caller, ["admin"], active ? "reactivating an officer" : "deactivating an officer");
    const reason = reasonOf(reasonIn, active ? "reactivating an officer" : "deactivating an officer");
    return this.ctx.change(caller, async () => {
      const before = await this.m.officer(String(badge));
      if (before.active === active) throw new GatewayError("NO_CHANGE", `officer ${before.badge} is already ${active ? "active" : "inactive"}`);
      const o = await this.m.updateOfficer(before.badge, { active });
      return { result: o, audit: { action: active ? "officer.reactivate" : "officer.deactivate", target: o.badge, reason } };
    });
  }

  // ---- cases

  /** Open a case (admin, or a supervisor for a unit of their subtree). */
  async addCase(caller: Caller, bodyIn: unknown): Promise<Case> {
    requireRole(caller, ["admin", "supervisor"], "opening a case");
    const b = bodyOf(bodyIn, "opening a case");
    const unitId = intOf(b.unitId, "unitId");
    const tz = this.ctx.policy.timeZone;
    const c: NewCase = {
      number: b.number as string, unitId, category: b.category as never, activityKind: b.activityKind as string,
      policy: b.policy as never, windowStart: parseTime(b.windowStart, "windowStart", tz), windowEnd: parseTime(b.windowEnd, "windowEnd", tz),
      confidentiality: b.confidentiality === undefined ? undefined : Number(b.confidentiality), room: b.room as string | undefined,
    };
    if (b.confidentiality !== undefined && (typeof b.confidentiality === "string" ? !/^[0-3]$/.test(b.confidentiality) : !Number.isInteger(b.confidentiality))) {
      throw new GatewayError("BAD_CONFIDENTIALITY", `confidentiality is 0 (open), 1 (internal), 2 (restricted) or 3 (secret), got ${JSON.stringify(b.confidentiality)}`);
    }
    await this.inScope(caller, unitId, "opening a case");
    return this.ctx.change(caller, async () => {
      const k = await this.m.addCase(c);
      return { result: k, audit: { action: "case.add", target: k.number, details: { unit: k.unitId, category: k.category, activityKind: k.activityKind, policy: k.policy, confidentiality: k.confidentiality } } };
    });
  }

  /** Cases of the caller's scope; a level 3 (secret) case only to a supervisor or an admin; audited. */
  async listCases(caller: Caller): Promise<Case[]> {
    requireRole(caller, READ, "listing cases");
    const scope = await this.ctx.scope(caller);
    const all = await this.m.listCases();
    const out = all.filter((c) => (!scope || scope.has(c.unitId)) && (c.confidentiality < 3 || caller.role !== "legal_reviewer"));
    await this.ctx.noteRead(caller, { action: "case.list", details: { count: out.length, scope: scope ? [...scope] : "station" } });
    return out;
  }

  /** The activity kinds a case may carry, with the policy each requires. */
  activityKinds(): readonly string[] {
    return ACTIVITY_KINDS;
  }

  // ---- checkouts

  /** Hand a device out (admin, or a supervisor for an officer of their subtree). */
  /**
   * Hand a device out (admin, or a supervisor for an officer of their subtree), after the pre-duty
   * check of its last Status: a refusal stops it with its reason code unless an admin forces it
   * with a reason; warnings come back with the checkout and are in its audit entry.
   */
  async checkOut(caller: Caller, deviceIn: unknown, to: CheckoutTarget, atIn?: unknown, o: { force?: boolean; reason?: unknown } = {}): Promise<Assignment & { warnings: string[] }> {
    requireRole(caller, ["admin", "supervisor"], "checking a device out");
    const device = deviceIdOf(deviceIn);
    const at = atIn === undefined || atIn === null ? this.ctx.now() : parseTime(atIn, "at", this.ctx.policy.timeZone);
    if ("badge" in to) {
      const off = await this.m.officer(String(to.badge));
      await this.inScope(caller, off.unitId, "checking a device out");
    }
    const seen = await devices.lastStatus(this.ctx.db, device);
    if (!seen) throw new GatewayError("UNKNOWN_DEVICE", `no device ${device}`);
    const check = preDutyCheck(seen.last_status ? JSON.parse(seen.last_status) : null, seen.last_seen, this.ctx.now(), this.ctx.policy.checkout);
    let forced: string | null = null;
    if (check.refuse.length) {
      if (!o.force) throw new GatewayError(check.refuse[0].code, `device ${device} fails the pre-duty check: ${check.refuse.map((x) => `${x.code}: ${x.message}`).join("; ")}`);
      requireRole(caller, ["admin"], "forcing a checkout past the pre-duty check");
      forced = reasonOf(o.reason, "forcing a checkout past the pre-duty check");
    }
    const warnings = check.warn.map((w) => `${w.code}: ${w.message}`);
    return this.ctx.change(caller, async () => {
      const a = await this.m.checkOut(device, to, at);
      return { result: { ...a, warnings }, audit: { action: "device.checkout", target: device, reason: forced, details: { ...("badge" in to ? { badge: to.badge } : { room: to.room }), ...(warnings.length ? { warnings } : {}), ...(forced ? { overridden: check.refuse.map((x) => x.code) } : {}) } } };
    });
  }

  async returnDevice(caller: Caller, deviceIn: unknown, atIn?: unknown): Promise<Assignment> {
    requireRole(caller, ["admin", "supervisor"], "taking a device back");
    const device = deviceIdOf(deviceIn);
    const at = atIn === undefined || atIn === null ? this.ctx.now() : parseTime(atIn, "at", this.ctx.policy.timeZone);
    return this.ctx.change(caller, async () => {
      const a = await this.m.returnDevice(device, at);
      return { result: a, audit: { action: "device.return", target: device, details: { badge: a.badge, room: a.room } } };
    });
  }

  // ---- links

  /** Link a clip to a case, or unlink it (admin, or a supervisor for a case of their subtree), with a reason: a custody event. */
  async link(caller: Caller, deviceIn: unknown, recordingIn: unknown, caseIn: unknown, reasonIn: unknown, unlink = false): Promise<ClipLink> {
    requireRole(caller, ["admin", "supervisor"], unlink ? "unlinking a clip" : "linking a clip");
    const device = deviceIdOf(deviceIn);
    const recording = recordingIdOf(recordingIn);
    const reason = reasonOf(reasonIn, unlink ? "unlinking a clip" : "linking a clip");
    const k = await this.m.getCase(String(caseIn ?? ""));
    await this.inScope(caller, k.unitId, unlink ? "unlinking a clip" : "linking a clip");
    return this.ctx.change(caller, async () => {
      const l = unlink ? await this.m.unlink(device, recording, k.number, caller.name, reason) : await this.m.link(device, recording, k.number, caller.name, reason);
      return { result: l, audit: { action: unlink ? "clip.unlink" : "clip.link", target: `${device}/${recording}`, reason, details: { case: k.number } } };
    });
  }

  /** Cases a clip could belong to (admin, supervisor). */
  async suggestions(caller: Caller, deviceIn: unknown, recordingIn: unknown): Promise<Suggestion[]> {
    requireRole(caller, ["admin", "supervisor"], "suggesting cases");
    const device = deviceIdOf(deviceIn);
    const recording = recordingIdOf(recordingIn);
    if (!(await devices.deviceExists(this.ctx.db, device))) throw new GatewayError("UNKNOWN_DEVICE", `no device ${device}`);
    const unit = await this.m.clipUnit(device, recording);
    const scope = await this.ctx.scope(caller);
    if (scope && (unit === null || !scope.has(unit))) throw new GatewayError("OUTSIDE_UNIT", "the clip belongs to no unit in your unit's subtree");
    return this.m.suggestions(device, recording);
  }

  /**
   * For each case of the caller's scope (admin, supervisor), the clips it could link: those of the
   * scope that the clip-side suggestion would offer for it. Audited as a listing of records.
   */
  async caseSuggestions(caller: Caller): Promise<{ case: string; clips: CaseClipSuggestion[] }[]> {
    requireRole(caller, ["admin", "supervisor"], "suggesting clips for cases");
    const scope = await this.ctx.scope(caller);
    // A case's clips are of its unit or below it, so in the caller's scope whenever the case is.
    const out = (await this.m.clipsForCases(scope ?? undefined)).map((x) => ({ case: x.case.number, clips: x.clips }));
    const count = out.reduce((n, x) => n + x.clips.length, 0);
    await this.ctx.noteRead(caller, { action: "case.suggestions", details: { count, scope: scope ? [...scope] : "station" } });
    return out;
  }
}
