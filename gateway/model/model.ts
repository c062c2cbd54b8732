// The enforcement model: units, officers and their certificates, who holds which device when,
// cases and their recording policy, and the links from clips (rows of `recordings`) to cases.
// Every change that touches evidence (a link or an unlink) names a person and a reason and is
// written with its custody event in one transaction, so the trail can't miss a change.
import { controlIn, reasonProblem } from "../../protocol/text.js";
import { GatewayError } from "../errors.js";
import type { Db } from "../store/db.js";
import { isConstraintError } from "../store/db.js";
import * as units from "../store/units.js";
import * as officers from "../store/officers.js";
import * as devices from "../store/devices.js";
import * as assignments from "../store/assignments.js";
import * as cases from "../store/cases.js";
import * as links from "../store/links.js";
import { clipRow } from "../store/recordings.js";
import type { OfficerRow } from "../store/officers.js";
import type { AssignmentRow } from "../store/assignments.js";
import type { CaseRow } from "../store/cases.js";
import type { LinkRow } from "../store/links.js";
import type { DeviceRow } from "../store/devices.js";
import type { ClipRow } from "../store/recordings.js";
import { POLICY_DEFAULTS } from "../policy.js";
import type { Unit, UnitLevel } from "../../protocol/gateway-api.js";

export type { Unit, UnitLevel };
export type OfficerRole = "enforcement" | "legal_reviewer" | "supervisor";
export type CaseCategory = "penalty" | "compulsion" | "inspection" | "expropriation" | "licensing";
export type RecordingPolicy = "FULL" | "KEY_STEPS" | "OPTIONAL";
export type DeviceKind = "body" | "fixed";

export const UNIT_LEVELS: readonly UnitLevel[] = ["region", "city", "county", "agency"];
export const OFFICER_ROLES: readonly OfficerRole[] = ["enforcement", "legal_reviewer", "supervisor"];
export const CASE_CATEGORIES: readonly CaseCategory[] = ["penalty", "compulsion", "inspection", "expropriation", "licensing"];
const POLICY_RANK: Record<RecordingPolicy, number> = { OPTIONAL: 0, KEY_STEPS: 1, FULL: 2 };

/**
 * The recording policy each activity kind carries (RULES.md §2): full-process recording
 * for actions on property, liberty, life and health; key steps for on-site work, evidence,
 * hearings and service; a few OPTIONAL ones. A kind not listed is refused (BAD_ACTIVITY): a
 * typo must not quietly make a FULL case OPTIONAL.
 */
export const ACTIVITY_POLICY: Readonly<Record<string, RecordingPolicy>> = {
  seizure: "FULL",
  sealing: "FULL",
  forced_demolition: "FULL",
  personal_liberty: "FULL",
  life_health: "FULL",
  major_property: "FULL",
  confiscated_goods_disposal: "FULL",
  on_site_enforcement: "KEY_STEPS",
  evidence_collection: "KEY_STEPS",
  hearing: "KEY_STEPS",
  service_by_leaving: "KEY_STEPS",
  service_by_notice: "KEY_STEPS",
  on_site_inspection: "OPTIONAL",
  routine_patrol: "OPTIONAL",
  consultation: "OPTIONAL",
  other: "OPTIONAL",
};

/** Every activity kind a case may carry, for help texts and error messages. */
export const ACTIVITY_KINDS: readonly string[] = Object.keys(ACTIVITY_POLICY);

export interface ModelOptions {
  /** IANA zone whose calendar dates certificates are valid on. */
  timeZone: string;
  /** Enforcement officers per recorder set. */
  fleetRatio: number;
  /** Largest hole between clips that still counts as covered, in ms. */
  gapToleranceMs: number;
  /** Wall clock for link times; injected so tests don't depend on the real one. */
  now: () => number;
}

/** Every option with its default. */
export const MODEL_DEFAULTS: ModelOptions = {
  timeZone: POLICY_DEFAULTS.timeZone,
  fleetRatio: POLICY_DEFAULTS.fleetRatio,
  gapToleranceMs: POLICY_DEFAULTS.gapToleranceMs,
  now: Date.now,
};

export type ModelErrorCode =
  | "BAD_OPTION" | "BAD_INPUT" | "BAD_LEVEL" | "BAD_ROLE" | "BAD_DATE" | "BAD_CERT" | "BAD_TIME" | "BAD_KIND"
  | "BAD_CATEGORY" | "BAD_POLICY" | "POLICY_TOO_WEAK" | "BAD_WINDOW" | "BAD_CONFIDENTIALITY"
  | "UNIT_NOT_FOUND" | "OFFICER_NOT_FOUND" | "UNKNOWN_DEVICE" | "CASE_NOT_FOUND" | "UNKNOWN_RECORDING"
  | "DUPLICATE_BADGE" | "DUPLICATE_CASE" | "OFFICER_INACTIVE" | "CERT_INVALID"
  | "DEVICE_BUSY" | "DEVICE_NOT_USABLE" | "NOT_BODY_WORN" | "NOT_FIXED" | "NOT_CHECKED_OUT" | "ASSIGNMENT_OVERLAP"
  | "REASON_REQUIRED" | "ACTOR_REQUIRED" | "ALREADY_LINKED" | "NOT_LINKED" | "BAD_ACTIVITY" | "BAD_RATIO" | "NO_CHANGE";

/** A started clip's times as weighing it needs them. */
interface ClipTimes { start_ms: number; end_ms: number | null; last_time_ms: number; seal_case_tag: string | null; case_tag: string | null }

/** A clip's span: from its start to its end, or while unsealed to its last chunk, the best bound known. */
function clipSpan(c: ClipTimes): { start: number; end: number } {
  return { start: c.start_ms, end: Math.max(c.start_ms, c.end_ms ?? (c.last_time_ms >= 0 ? c.last_time_ms : c.start_ms)) };
}

/** How well a clip fits a case, one rule for a clip's suggestions and a case's clips: its case tag, its room, the overlap of their times. */
function weigh(c: ClipTimes, room: string | null, kase: { number: string; room: string | null; window_start: number; window_end: number }): { tagMatch: boolean; roomMatch: boolean; overlapMs: number } {
  const { start, end } = clipSpan(c);
  const tag = c.seal_case_tag || c.case_tag || null;
  return { tagMatch: tag !== null && tag === kase.number, roomMatch: room !== null && kase.room === room, overlapMs: Math.max(0, Math.min(end, kase.window_end) - Math.max(start, kase.window_start)) };
}

export class ModelError extends GatewayError {
  constructor(public override code: ModelErrorCode, message: string) {
    super(code, message);
    this.name = "ModelError";
  }
}

export interface Officer {
  id: number;
  badge: string;
  name: string;
  unitId: number;
  role: OfficerRole;
  certNo: string | null;
  /** Local dates, YYYY-MM-DD, both ends included. */
  certValidFrom: string | null;
  certValidTo: string | null;
  active: boolean;
}

export interface NewOfficer {
  badge: string;
  name: string;
  unitId: number;
  role: OfficerRole;
  certNo?: string | null;
  certValidFrom?: string | null;
  certValidTo?: string | null;
}

export type OfficerPatch = Partial<Omit<NewOfficer, "badge">> & { active?: boolean };

/** Who or where a device goes to: an officer (body-worn) or a room (fixed). */
export type CheckoutTarget = { badge: string } | { room: string };

export interface Assignment {
  id: number;
  deviceId: string;
  officerId: number | null;
  badge: string | null;
  room: string | null;
  checkedOutAt: number;
  returnedAt: number | null;
}

export interface Case {
  id: number;
  number: string;
  unitId: number;
  category: CaseCategory;
  activityKind: string;
  policy: RecordingPolicy;
  windowStart: number;
  windowEnd: number;
  confidentiality: number;
  /** The interview or hearing room, if the case is handled in one; fixed devices match on it. */
  room: string | null;
}

export interface NewCase {
  number: string;
  unitId: number;
  category: CaseCategory;
  activityKind: string;
  /** Defaults to the activity kind's policy; may be stricter, never weaker. */
  policy?: RecordingPolicy;
  windowStart: number;
  windowEnd: number;
  confidentiality?: number;
  room?: string | null;
}

export interface ClipLink {
  id: number;
  deviceId: string;
  recordingId: number;
  caseId: number;
  caseNumber: string;
  linkedBy: string;
  reason: string;
  at: number;
  unlinkedAt: number | null;
}

export interface CustodyEvent {
  id: number;
  at: number;
  actor: string;
  action: "link" | "unlink";
  deviceId: string;
  recordingId: number;
  caseNumber: string;
  reason: string;
}

/** A clip a case could link (Model.clipsForCase). */
export interface CaseClipSuggestion {
  device: string;
  recording: number;
  startMs: number | null;
  endMs: number | null;
  /** The officer who wore the device when it started, if any. */
  officer: string | null;
  tagMatch: boolean;
  roomMatch: boolean;
  overlapMs: number;
  unitDistance: number;
}

export interface Suggestion {
  case: Case;
  /** The clip's case tag names this case. */
  tagMatch: boolean;
  /** A fixed device's room is the case's room. */
  roomMatch: boolean;
  /** How long the clip and the case window overlap, ms. */
  overlapMs: number;
  /** Steps up the unit tree from the clip's unit to the case's unit (0 = same unit). */
  unitDistance: number;
}

export interface CertificateNotice {
  badge: string;
  name: string;
  unitId: number;
  certNo: string | null;
  certValidTo: string;
  /** Days from the given date to the last valid day; negative once expired. */
  daysLeft: number;
  expired: boolean;
}

export interface ExpiredCheckout {
  deviceId: string;
  badge: string;
  name: string;
  certValidTo: string | null;
  checkedOutAt: number;
}

const toUnit = (r: units.UnitRow): Unit => ({ id: r.id, parentId: r.parent_id, name: r.name, level: r.level as UnitLevel, fleetRatio: r.fleet_ratio ?? null });
const toOfficer = (r: OfficerRow): Officer => ({
  id: r.id, badge: r.badge, name: r.name, unitId: r.unit_id, role: r.role as OfficerRole, certNo: r.cert_no,
  certValidFrom: r.cert_valid_from, certValidTo: r.cert_valid_to, active: r.active === 1,
});
const toAssignment = (r: AssignmentRow): Assignment => ({
  id: r.id, deviceId: r.device_id, officerId: r.officer_id, badge: r.badge, room: r.room, checkedOutAt: r.checked_out_at, returnedAt: r.returned_at,
});
const toCase = (r: CaseRow): Case => ({
  id: r.id, number: r.number, unitId: r.unit_id, category: r.category as CaseCategory, activityKind: r.activity_kind, policy: r.policy as RecordingPolicy,
  windowStart: r.window_start, windowEnd: r.window_end, confidentiality: r.confidentiality, room: r.room,
});
const toLink = (r: LinkRow): ClipLink => ({
  id: r.id, deviceId: r.device_id, recordingId: r.recording_id, caseId: r.case_id, caseNumber: r.number,
  linkedBy: r.linked_by, reason: r.reason, at: r.at, unlinkedAt: r.unlinked_at,
});

/** The longest badge an officer may have. */
export const BADGE_MAX = 32;

function text(v: unknown, field: string, code: ModelErrorCode = "BAD_INPUT", max = 200): string {
  if (typeof v !== "string" || !v.trim()) throw new ModelError(code, `${field} is required`);
  if (v.length > max) throw new ModelError(code, `${field} is longer than ${max} characters`);
  // Printed as they are by the CLI, the console and reports: a control character (an escape
  // sequence, a carriage return) would rewrite what an admin's terminal shows. A reason may run
  // over lines; a name may not.
  const bad = controlIn(v, field === "reason");
  if (bad) throw new ModelError("BAD_INPUT", `${field} holds a control character (${bad}): printable text only`);
  return v.trim();
}

function optText(v: unknown, field: string): string | null {
  return v === undefined || v === null || v === "" ? null : text(v, field);
}

function timeMs(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new ModelError("BAD_TIME", `${field} must be a time in ms since the epoch, got ${String(v)}`);
  return v;
}

/** Check a local calendar date written YYYY-MM-DD, and that the day exists. */
export function checkLocalDate(v: unknown, field = "date"): string {
  if (typeof v !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new ModelError("BAD_DATE", `${field} must be a date YYYY-MM-DD, got ${JSON.stringify(v)}`);
  const [y, m, d] = v.split("-").map(Number);
  const t = new Date(Date.UTC(y, m - 1, d));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== m - 1 || t.getUTCDate() !== d) throw new ModelError("BAD_DATE", `${field} is not a calendar day: ${v}`);
  return v;
}

function addDays(date: string, days: number): string {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(to + "T00:00:00Z") - Date.parse(from + "T00:00:00Z")) / 86400000);
}

const certValidOn = (o: { cert_valid_from: string | null; cert_valid_to: string | null }, date: string) =>
  o.cert_valid_from !== null && o.cert_valid_to !== null && o.cert_valid_from <= date && date <= o.cert_valid_to;

const isConstraint = isConstraintError;

export class Model {
  readonly opts: ModelOptions;
  private dateFmt: Intl.DateTimeFormat;

  constructor(private db: Db, opts: Partial<ModelOptions> = {}) {
    this.opts = { ...MODEL_DEFAULTS, ...opts };
    try {
      this.dateFmt = new Intl.DateTimeFormat("en-US", { timeZone: this.opts.timeZone, year: "numeric", month: "2-digit", day: "2-digit" });
    } catch {
      throw new ModelError("BAD_OPTION", `timeZone is not a known IANA zone: ${JSON.stringify(this.opts.timeZone)}`);
    }
    if (!(Number.isFinite(this.opts.fleetRatio) && this.opts.fleetRatio > 0)) throw new ModelError("BAD_OPTION", `fleetRatio must be a positive number, got ${this.opts.fleetRatio}`);
    if (!(Number.isFinite(this.opts.gapToleranceMs) && this.opts.gapToleranceMs >= 0)) throw new ModelError("BAD_OPTION", `gapToleranceMs must be a non-negative number, got ${this.opts.gapToleranceMs}`);
  }

  /** The calendar date (YYYY-MM-DD) of an instant in the station's time zone. */
  localDate(atMs: number): string {
    const p: Record<string, string> = {};
    for (const part of this.dateFmt.formatToParts(atMs)) p[part.type] = part.value;
    return `${p.year}-${p.month}-${p.day}`;
  }

  // ---- units

  /** Add a unit under parentId (none for a root); a child sits at its parent's level or below. */
  async addUnit(name: string, level: UnitLevel, parentId?: number | null): Promise<Unit> {
    const n = text(name, "unit name");
    const rank = UNIT_LEVELS.indexOf(level);
    if (rank < 0) throw new ModelError("BAD_LEVEL", `unit level must be one of ${UNIT_LEVELS.join(", ")}, got ${JSON.stringify(level)}`);
    let parent: Unit | null = null;
    if (parentId !== undefined && parentId !== null) {
      parent = await this.unit(parentId);
      // agencies may nest (a brigade under a bureau); a city under a county may not
      if (rank < UNIT_LEVELS.indexOf(parent.level) || (rank === UNIT_LEVELS.indexOf(parent.level) && level !== "agency")) {
        throw new ModelError("BAD_LEVEL", `a ${level} can't sit under a ${parent.level} (${parent.name})`);
      }
    }
    const id = await units.insertUnit(this.db, parent ? parent.id : null, n, level);
    return { id, parentId: parent ? parent.id : null, name: n, level, fleetRatio: null };
  }

  /** One unit, or UNIT_NOT_FOUND. */
  async unit(unitId: number): Promise<Unit> {
    const row = Number.isSafeInteger(unitId) ? await units.getUnit(this.db, unitId) : undefined;
    if (!row) throw new ModelError("UNIT_NOT_FOUND", `no unit ${unitId}`);
    return toUnit(row);
  }

  /** Set a unit's own fleet ratio (officers per recorder set), or null for the station's. */
  async setUnitRatio(unitId: number, ratio: number | null): Promise<Unit> {
    const u = await this.unit(unitId);
    if (ratio !== null && !(typeof ratio === "number" && Number.isFinite(ratio) && ratio > 0 && ratio <= 100)) throw new ModelError("BAD_RATIO", `a fleet ratio is officers per recorder set, a number above 0 (1:3 is 3), got ${String(ratio)}`);
    await units.setUnitRatio(this.db, unitId, ratio);
    return { ...u, fleetRatio: ratio };
  }

  /** Every unit, by id. */
  async listUnits(): Promise<Unit[]> {
    return (await units.listUnits(this.db)).map(toUnit);
  }

  /** A unit and everything below it, the unit first. */
  async subtree(unitId: number): Promise<Unit[]> {
    await this.unit(unitId);
    const rows = await units.subtree(this.db, unitId);
    return rows.map(toUnit);
  }

  // ---- officers

  /** Put an officer on a unit's roster; the badge is unique across the station. */
  async addOfficer(o: NewOfficer): Promise<Officer> {
    const badge = text(o.badge, "badge", "BAD_INPUT", BADGE_MAX);
    const name = text(o.name, "officer name");
    await this.unit(o.unitId);
    if (!OFFICER_ROLES.includes(o.role)) throw new ModelError("BAD_ROLE", `role must be one of ${OFFICER_ROLES.join(", ")}, got ${JSON.stringify(o.role)}`);
    const cert = this.cert(o.certNo, o.certValidFrom, o.certValidTo);
    try {
      const id = await officers.insertOfficer(this.db, { badge, name, unitId: o.unitId, role: o.role, certNo: cert.no, certValidFrom: cert.from, certValidTo: cert.to });
      return { id, badge, name, unitId: o.unitId, role: o.role, certNo: cert.no, certValidFrom: cert.from, certValidTo: cert.to, active: true };
    } catch (e) {
      if (isConstraint(e)) throw new ModelError("DUPLICATE_BADGE", `badge ${badge} is already on a roster`);
      throw e;
    }
  }

  /** One officer by badge, or OFFICER_NOT_FOUND. */
  async officer(badge: string): Promise<Officer> {
    const row = await officers.officerByBadge(this.db, badge);
    if (!row) throw new ModelError("OFFICER_NOT_FOUND", `no officer with badge ${badge}`);
    return toOfficer(row);
  }

  /** Officers of one unit (or of its whole subtree), or of the station. */
  async listOfficers(unitId?: number, opts: { subtree?: boolean } = {}): Promise<Officer[]> {
    if (unitId === undefined) return (await officers.listOfficers(this.db)).map(toOfficer);
    await this.unit(unitId);
    return (await officers.listOfficers(this.db, unitId, !!opts.subtree)).map(toOfficer);
  }

  /** Change an officer's name, unit, role, certificate or active flag; the badge stays. */
  async updateOfficer(badge: string, patch: OfficerPatch): Promise<Officer> {
    const cur = await this.officer(badge);
    const name = patch.name === undefined ? cur.name : text(patch.name, "officer name");
    const unitId = patch.unitId === undefined ? cur.unitId : (await this.unit(patch.unitId)).id;
    const role = patch.role === undefined ? cur.role : patch.role;
    if (!OFFICER_ROLES.includes(role)) throw new ModelError("BAD_ROLE", `role must be one of ${OFFICER_ROLES.join(", ")}, got ${JSON.stringify(role)}`);
    const certTouched = patch.certNo !== undefined || patch.certValidFrom !== undefined || patch.certValidTo !== undefined;
    const cert = certTouched
      ? this.cert(patch.certNo === undefined ? cur.certNo : patch.certNo,
        patch.certValidFrom === undefined ? cur.certValidFrom : patch.certValidFrom,
        patch.certValidTo === undefined ? cur.certValidTo : patch.certValidTo)
      : { no: cur.certNo, from: cur.certValidFrom, to: cur.certValidTo };
    if (patch.active !== undefined && typeof patch.active !== "boolean") throw new ModelError("BAD_INPUT", "active must be true or false");
    const active = patch.active === undefined ? cur.active : patch.active;
    await officers.updateOfficer(this.db, cur.id, { name, unitId, role, certNo: cert.no, certValidFrom: cert.from, certValidTo: cert.to, active });
    return { ...cur, name, unitId, role, certNo: cert.no, certValidFrom: cert.from, certValidTo: cert.to, active };
  }

  private cert(no: unknown, from: unknown, to: unknown): { no: string | null; from: string | null; to: string | null } {
    const hasFrom = from !== undefined && from !== null;
    const hasTo = to !== undefined && to !== null;
    if (hasFrom !== hasTo) throw new ModelError("BAD_CERT", "a certificate needs both its first and its last valid day");
    if (!hasFrom) return { no: optText(no, "certificate number"), from: null, to: null };
    const f = checkLocalDate(from, "certValidFrom");
    const t = checkLocalDate(to, "certValidTo");
    if (f > t) throw new ModelError("BAD_CERT", `certificate valid from ${f} is after its end ${t}`);
    return { no: text(no, "certificate number", "BAD_CERT", 64), from: f, to: t };
  }

  // ---- devices

  /** Issue a device to a unit (the unit whose fleet it counts in). */
  async setDeviceUnit(deviceId: string, unitId: number | null): Promise<void> {
    await this.device(deviceId);
    if (unitId !== null) await this.unit(unitId);
    await devices.setDeviceUnit(this.db, deviceId, unitId);
  }

  /** Make a device body-worn or fixed; refused while it is checked out. */
  async setDeviceKind(deviceId: string, kind: DeviceKind): Promise<void> {
    if (kind !== "body" && kind !== "fixed") throw new ModelError("BAD_KIND", `device kind must be body or fixed, got ${JSON.stringify(kind)}`);
    await this.device(deviceId);
    await this.db.transaction(async () => {
      const open = await assignments.openAssignment(this.db, deviceId);
      // an open checkout to an officer (or a room) would no longer fit the device's kind
      if (open) throw new ModelError("DEVICE_BUSY", `device ${deviceId} is checked out; return it before changing its kind`);
      await devices.setDeviceKind(this.db, deviceId, kind);
    });
  }

  /** The room a fixed device is installed in, used when no room checkout is in force. */
  async setDeviceRoom(deviceId: string, room: string | null): Promise<void> {
    const d = await this.device(deviceId);
    if (d.kind !== "fixed") throw new ModelError("NOT_FIXED", `device ${deviceId} is body-worn; only fixed devices have a room`);
    await devices.setDeviceRoom(this.db, deviceId, optText(room, "room"));
  }

  private async device(deviceId: string): Promise<DeviceRow> {
    const d = await devices.getDevice(this.db, deviceId);
    if (!d) throw new ModelError("UNKNOWN_DEVICE", `no device ${deviceId}`);
    return d;
  }

  // ---- assignments

  /**
   * Hand a device out at atMs: a body-worn one to an officer whose certificate is valid on that
   * local date, a fixed one to a room.
   */
  async checkOut(deviceId: string, to: CheckoutTarget, atMs: number): Promise<Assignment> {
    timeMs(atMs, "checkout time");
    const d = await this.device(deviceId);
    if (d.state === "lost" || d.state === "retired" || d.state === "revoked") throw new ModelError("DEVICE_NOT_USABLE", `device ${deviceId} is ${d.state}`);
    let officer: OfficerRow | null = null;
    let room: string | null = null;
    if ("badge" in to) {
      if (d.kind !== "body") throw new ModelError("NOT_BODY_WORN", `device ${deviceId} is fixed; it goes to a room, not to an officer`);
      const o = await officers.officerByBadge(this.db, to.badge);
      if (!o) throw new ModelError("OFFICER_NOT_FOUND", `no officer with badge ${to.badge}`);
      if (!o.active) throw new ModelError("OFFICER_INACTIVE", `officer ${o.badge} is not active`);
      const day = this.localDate(atMs);
      if (!certValidOn(o, day)) {
        throw new ModelError("CERT_INVALID", o.cert_valid_to === null
          ? `officer ${o.badge} holds no enforcement certificate`
          : `officer ${o.badge}'s certificate ${o.cert_no ?? ""} is valid ${o.cert_valid_from} to ${o.cert_valid_to}, not on ${day} (${this.opts.timeZone})`);
      }
      officer = o;
    } else {
      if (d.kind !== "fixed") throw new ModelError("NOT_FIXED", `device ${deviceId} is body-worn; it goes to an officer, not to a room`);
      room = text(to.room, "room");
    }
    return this.db.transaction(async () => {
      const open = await assignments.openAssignment(this.db, deviceId);
      if (open) throw new ModelError("DEVICE_BUSY", `device ${deviceId} is already checked out`);
      // a checkout entered after the fact must not overlap a period already on record
      const later = await assignments.returnedAfter(this.db, deviceId, atMs);
      if (later) throw new ModelError("ASSIGNMENT_OVERLAP", `device ${deviceId} was checked out after ${new Date(atMs).toISOString()}`);
      try {
        const id = await assignments.insertAssignment(this.db, deviceId, officer ? officer.id : null, room, atMs);
        return { id, deviceId, officerId: officer ? officer.id : null, badge: officer ? officer.badge : null, room, checkedOutAt: atMs, returnedAt: null };
      } catch (e) {
        if (isConstraint(e)) throw new ModelError("DEVICE_BUSY", `device ${deviceId} is already checked out`);
        throw e;
      }
    });
  }

  /** Take a device back at atMs, closing its open checkout. */
  async returnDevice(deviceId: string, atMs: number): Promise<Assignment> {
    timeMs(atMs, "return time");
    await this.device(deviceId);
    return this.db.transaction(async () => {
      const a = await assignments.openAssignment(this.db, deviceId);
      if (!a) throw new ModelError("NOT_CHECKED_OUT", `device ${deviceId} is not checked out`);
      if (atMs < a.checked_out_at) throw new ModelError("BAD_TIME", `device ${deviceId} can't be returned before it was checked out`);
      await assignments.closeAssignment(this.db, a.id, atMs);
      return toAssignment({ ...a, returned_at: atMs });
    });
  }

  /** The checkout of a device in force at atMs, or null. */
  async assignmentAt(deviceId: string, atMs: number): Promise<Assignment | null> {
    const a = await assignments.assignmentAt(this.db, deviceId, atMs);
    return a ? toAssignment(a) : null;
  }

  /** Every checkout of a device, oldest first. */
  async assignments(deviceId: string): Promise<Assignment[]> {
    return (await assignments.assignmentsOf(this.db, deviceId)).map(toAssignment);
  }

  // ---- cases

  /** Open a case; its policy defaults to the one its activity kind carries. */
  async addCase(c: NewCase): Promise<Case> {
    const number = text(c.number, "case number", "BAD_INPUT", 64);
    await this.unit(c.unitId);
    if (!CASE_CATEGORIES.includes(c.category)) throw new ModelError("BAD_CATEGORY", `category must be one of ${CASE_CATEGORIES.join(", ")}, got ${JSON.stringify(c.category)}`);
    const activityKind = text(c.activityKind, "activity kind", "BAD_ACTIVITY", 64);
    if (!Object.prototype.hasOwnProperty.call(ACTIVITY_POLICY, activityKind)) {
      throw new ModelError("BAD_ACTIVITY", `activity kind must be one of ${ACTIVITY_KINDS.join(", ")}, got ${JSON.stringify(activityKind)}`);
    }
    const floor = ACTIVITY_POLICY[activityKind];
    const policy = c.policy ?? floor;
    if (!(policy in POLICY_RANK)) throw new ModelError("BAD_POLICY", `policy must be FULL, KEY_STEPS or OPTIONAL, got ${JSON.stringify(policy)}`);
    if (POLICY_RANK[policy] < POLICY_RANK[floor]) throw new ModelError("POLICY_TOO_WEAK", `${activityKind} requires ${floor} recording, not ${policy}`);
    const ws = timeMs(c.windowStart, "windowStart");
    const we = timeMs(c.windowEnd, "windowEnd");
    if (we <= ws) throw new ModelError("BAD_WINDOW", "the enforcement window must end after it starts");
    const conf = c.confidentiality ?? 0;
    if (!Number.isInteger(conf) || conf < 0 || conf > 3) throw new ModelError("BAD_CONFIDENTIALITY", `confidentiality must be 0, 1, 2 or 3, got ${String(conf)}`);
    const room = optText(c.room, "room");
    try {
      const id = await cases.insertCase(this.db, { number, unitId: c.unitId, category: c.category, activityKind, policy, windowStart: ws, windowEnd: we, confidentiality: conf, room });
      return { id, number, unitId: c.unitId, category: c.category, activityKind, policy, windowStart: ws, windowEnd: we, confidentiality: conf, room };
    } catch (e) {
      if (isConstraint(e)) throw new ModelError("DUPLICATE_CASE", `case ${number} already exists`);
      throw e;
    }
  }

  /** One case by number, or CASE_NOT_FOUND. */
  async getCase(number: string): Promise<Case> {
    const row = await cases.caseByNumber(this.db, number);
    if (!row) throw new ModelError("CASE_NOT_FOUND", `no case ${number}`);
    return toCase(row);
  }

  /** Cases, optionally of one unit's subtree, by window start. */
  async listCases(filter: { unitId?: number } = {}): Promise<Case[]> {
    if (filter.unitId === undefined) return (await cases.listCases(this.db)).map(toCase);
    await this.unit(filter.unitId);
    return (await cases.listCases(this.db, filter.unitId)).map(toCase);
  }

  // ---- clips and links

  private async clip(deviceId: string, recordingId: number): Promise<ClipRow> {
    const r = await clipRow(this.db, deviceId, recordingId);
    if (!r) throw new ModelError("UNKNOWN_RECORDING", `no recording ${deviceId}/${recordingId}`);
    return r;
  }

  /**
   * When a clip started, in station time: the device's start corrected by its clock offset and
   * bounded by the beacon it carries and its receipt (ingest works it out), or its device time for
   * a clip stored before that was known.
   */
  private clipAt(c: ClipRow): number | null {
    return c.clip_at_ms !== null ? c.clip_at_ms : c.start_ms;
  }

  /** The officer who wore the device when the clip started, or null (fixed device, or not checked out). */
  async clipOfficer(deviceId: string, recordingId: number): Promise<Officer | null> {
    const c = await this.clip(deviceId, recordingId);
    const at = this.clipAt(c);
    if (at === null) return null;
    const row = await assignments.officerAt(this.db, deviceId, at);
    return row ? toOfficer(row) : null;
  }

  /** The room a fixed device was in when the clip started, or null (body-worn, or no room known). */
  async clipRoom(deviceId: string, recordingId: number): Promise<string | null> {
    const c = await this.clip(deviceId, recordingId);
    const d = await this.device(deviceId);
    if (d.kind !== "fixed") return null;
    const at = this.clipAt(c);
    const a = at === null ? null : await this.assignmentAt(deviceId, at);
    return (a && a.room) || d.room;
  }

  /**
   * The unit a clip was recorded for: the unit of the officer who wore the device then, else the
   * device's own unit (a fixed device, or one not checked out); null if neither is known.
   */
  async clipUnit(deviceId: string, recordingId: number): Promise<number | null> {
    const o = await this.clipOfficer(deviceId, recordingId);
    if (o) return o.unitId;
    return (await this.device(deviceId)).unit_id;
  }

  /**
   * Link a clip to the case its (seal's, else start's) case tag names, if that case belongs to the
   * clip's unit or a unit below it. Returns the link, or why there is none: no tag, no such case,
   * or a case outside the clip's units (a tag is a device's claim; it never links a clip into
   * another unit's case: the caller tells an admin, who can link it by hand with a reason).
   */
  async linkByTag(deviceId: string, recordingId: number): Promise<ClipLink | { refused: "NO_TAG" | "NO_CASE" | "CASE_OUT_OF_SCOPE"; tag: string; detail: string }> {
    const c = await this.clip(deviceId, recordingId);
    // the seal carries the tag in force when recording stopped, which a Command may have corrected
    const tag = c.seal_case_tag || c.case_tag;
    if (!tag) return { refused: "NO_TAG", tag: "", detail: "no case tag" };
    const kase = await cases.caseByNumber(this.db, tag);
    if (!kase) return { refused: "NO_CASE", tag, detail: `no case ${tag}` };
    const unit = await this.clipUnit(deviceId, recordingId);
    const inScope = unit !== null && (await units.inSubtree(this.db, unit, kase.unit_id));
    if (!inScope) return { refused: "CASE_OUT_OF_SCOPE", tag, detail: unit === null ? `case ${tag} not linked: the clip's unit is not known (no officer checked out, no device unit)` : `case ${tag} belongs to unit ${kase.unit_id}, outside the clip's unit ${unit} and the units below it` };
    const existing = await links.openLink(this.db, deviceId, recordingId, kase.id);
    if (existing) return toLink(existing);
    try {
      return await this.link(deviceId, recordingId, tag, "system:case-tag", `case tag ${tag} recorded on the device`);
    } catch (e) {
      // The start's and the seal's commits may both ask at once: the second finds the first's link.
      if (!(e instanceof ModelError && e.code === "ALREADY_LINKED")) throw e;
      const l = await links.openLink(this.db, deviceId, recordingId, kase.id);
      if (!l) throw e;
      return toLink(l);
    }
  }

  /** What a link or unlink needs checked first: a reason, an actor, the clip and the case. */
  private async custodyChange(deviceId: string, recordingId: number, caseNumber: string, actor: string, reason: string) {
    const bad = reasonProblem(reason);
    if (bad) throw new ModelError(bad.code, `a link or unlink ${bad.why}`);
    const why = reason.trim();
    const who = text(actor, "actor", "ACTOR_REQUIRED");
    await this.clip(deviceId, recordingId);
    const kase = await this.getCase(caseNumber);
    return { why, who, kase, at: this.opts.now() };
  }

  /** Link a clip to a case, naming who and why; writes a custody event with it. */
  async link(deviceId: string, recordingId: number, caseNumber: string, actor: string, reason: string): Promise<ClipLink> {
    const { why, who, kase, at } = await this.custodyChange(deviceId, recordingId, caseNumber, actor, reason);
    return this.db.transaction(async () => {
      try {
        const id = await links.insertLink(this.db, deviceId, recordingId, kase.id, who, why, at);
        await links.insertCustodyEvent(this.db, { at, actor: who, action: "link", deviceId, recordingId, caseId: kase.id, reason: why });
        return { id, deviceId, recordingId, caseId: kase.id, caseNumber: kase.number, linkedBy: who, reason: why, at, unlinkedAt: null };
      } catch (e) {
        if (isConstraint(e)) throw new ModelError("ALREADY_LINKED", `recording ${recordingId} of ${deviceId} is already linked to case ${kase.number}`);
        throw e;
      }
    });
  }

  /** Remove a clip's link to a case, naming who and why; the link row stays, marked unlinked. */
  async unlink(deviceId: string, recordingId: number, caseNumber: string, actor: string, reason: string): Promise<ClipLink> {
    const { why, who, kase, at } = await this.custodyChange(deviceId, recordingId, caseNumber, actor, reason);
    return this.db.transaction(async () => {
      const l = await links.openLink(this.db, deviceId, recordingId, kase.id);
      if (!l) throw new ModelError("NOT_LINKED", `recording ${recordingId} of ${deviceId} is not linked to case ${kase.number}`);
      await links.markUnlinked(this.db, l.id, at);
      await links.insertCustodyEvent(this.db, { at, actor: who, action: "unlink", deviceId, recordingId, caseId: kase.id, reason: why });
      return toLink({ ...l, unlinked_at: at });
    });
  }

  /** A clip's links in force (or, with history, every link ever made), oldest first. */
  async clipLinks(deviceId: string, recordingId: number, opts: { history?: boolean } = {}): Promise<ClipLink[]> {
    return (await links.clipLinks(this.db, deviceId, recordingId, !!opts.history)).map(toLink);
  }

  /** The custody trail of a clip (links and unlinks), oldest first. */
  async custodyEvents(deviceId: string, recordingId: number): Promise<CustodyEvent[]> {
    const rows = await links.custodyEvents(this.db, deviceId, recordingId);
    return rows.map((r) => ({ id: r.id, at: r.at, actor: r.actor, action: r.action, deviceId: r.device_id, recordingId: r.recording_id, caseNumber: r.number, reason: r.reason }));
  }

  /** A clip's confidentiality: the highest level of the cases it is linked to, 0 if none. */
  async clipConfidentiality(deviceId: string, recordingId: number): Promise<number> {
    return links.clipConfidentiality(this.db, deviceId, recordingId);
  }

  /**
   * Cases a clip could belong to, best first: windows overlapping the clip, handled by the clip's
   * unit (the officer's, or for a fixed device the unit its room belongs to) or one above it.
   * Cases it is already linked to are left out.
   */
  async suggestions(deviceId: string, recordingId: number, limit = 10): Promise<Suggestion[]> {
    const c = await this.clip(deviceId, recordingId);
    const d = await this.device(deviceId);
    if (c.start_ms === null) return [];
    let unitId: number | null = d.unit_id;
    let room: string | null = null;
    if (d.kind === "body") {
      const o = await this.clipOfficer(deviceId, recordingId);
      if (o) unitId = o.unitId;
    } else {
      room = await this.clipRoom(deviceId, recordingId);
    }
    if (unitId === null) return [];
    const { start, end } = clipSpan(c as ClipTimes);
    const rows = await cases.casesAround(this.db, unitId, start, end, deviceId, recordingId);
    const out = rows.map((r): Suggestion => ({ case: toCase(r), ...weigh(c as ClipTimes, room, r), unitDistance: r.distance }));
    out.sort((a, b) => Number(b.tagMatch) - Number(a.tagMatch) || Number(b.roomMatch) - Number(a.roomMatch)
      || b.overlapMs - a.overlapMs || a.unitDistance - b.unitDistance || (a.case.number < b.case.number ? -1 : 1));
    return out.slice(0, limit);
  }

  /**
   * Clips a case could link, by the same rule as suggestions for one clip: those not yet linked
   * whose time overlaps the case's window and for which the case is among the clip's suggestions
   * (the clip's unit is the case's unit or below it), with why; by start.
   */
  async clipsForCase(number: string, limit = 50): Promise<CaseClipSuggestion[]> {
    const row = await cases.caseByNumber(this.db, number);
    if (!row) throw new ModelError("CASE_NOT_FOUND", `no case ${number}`);
    const [one] = await this.weighClips([row], { caseId: row.id }, limit);
    return one ? one.clips : [];
  }

  /**
   * clipsForCase for every case of some units (all of them without `unitIds`), by window start;
   * the cases with no clip to suggest are left out. A few statements whatever the number of cases
   * and clips.
   */
  async clipsForCases(unitIds?: Iterable<number>, limit = 50): Promise<{ case: Case; clips: CaseClipSuggestion[] }[]> {
    const ids = unitIds === undefined ? undefined : [...unitIds];
    if (ids && !ids.length) return [];
    const all = await cases.listCases(this.db);
    const inUnits = ids ? new Set(ids) : null;
    return this.weighClips(all.filter((k) => !inUnits || inUnits.has(k.unit_id)), { unitIds: ids }, limit);
  }

  /** The clips `clipsAroundCases` finds for these cases, weighed as `suggestions` weighs a clip's cases. */
  private async weighClips(kases: CaseRow[], which: { unitIds?: number[]; caseId?: number }, limit: number): Promise<{ case: Case; clips: CaseClipSuggestion[] }[]> {
    if (!kases.length) return [];
    const caseOf = new Map(kases.map((k) => [k.id, k]));
    const byCase = new Map<number, CaseClipSuggestion[]>();
    for (const r of await cases.clipsAroundCases(this.db, which, await cases.longestClipMs(this.db))) {
      const kase = caseOf.get(r.case_id);
      const list = byCase.get(r.case_id) ?? [];
      if (!kase || list.length >= limit) continue;
      const { start, end } = clipSpan(r);
      if (kase.window_start > end || kase.window_end < start) continue;
      list.push({
        device: r.device_id, recording: r.recording_id, startMs: r.clip_at_ms ?? r.start_ms, endMs: r.end_ms, officer: r.badge,
        ...weigh(r, r.kind === "body" ? null : r.assigned_room || r.device_room, kase), unitDistance: r.distance,
      });
      byCase.set(r.case_id, list);
    }
    return kases.filter((k) => byCase.has(k.id)).map((k) => ({ case: toCase(k), clips: byCase.get(k.id)! }));
  }

  // ---- certificates (for the alarms)

  /** Active officers whose certificate ends within `withinDays` of a local date, or has ended; soonest first. */
  async expiringCertificates(onLocalDate: string, withinDays = 30): Promise<CertificateNotice[]> {
    const day = checkLocalDate(onLocalDate, "onLocalDate");
    if (!Number.isInteger(withinDays) || withinDays < 0) throw new ModelError("BAD_INPUT", `withinDays must be a whole number of days, got ${withinDays}`);
    const rows = await officers.certificatesEndingBy(this.db, addDays(day, withinDays));
    return rows.map((r) => {
      const daysLeft = daysBetween(day, r.cert_valid_to as string);
      return { badge: r.badge, name: r.name, unitId: r.unit_id, certNo: r.cert_no, certValidTo: r.cert_valid_to as string, daysLeft, expired: daysLeft < 0 };
    });
  }

  /** Checkouts in force at atMs whose officer's certificate isn't valid on that local date. */
  async checkoutsWithExpiredCert(atMs: number): Promise<ExpiredCheckout[]> {
    timeMs(atMs, "time");
    const day = this.localDate(atMs);
    const rows = await assignments.officerCheckoutsAt(this.db, atMs);
    return rows.filter((r) => !certValidOn(r, day))
      .map((r) => ({ deviceId: r.device_id, badge: r.badge, name: r.name, certValidTo: r.cert_valid_to, checkedOutAt: r.checked_out_at }));
  }
}
