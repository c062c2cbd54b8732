// The enforcement model: units, officers and their certificates, who holds which device when,
// cases and their recording policy, and the links from clips (rows of `recordings`) to cases.
// Every change that touches evidence (a link or an unlink) names a person and a reason and is
// written with its custody event in one transaction, so the trail can't miss a change.
import type { Db } from "../store/db.js";
import { DEFAULT_FLEET_RATIO, fleetReport } from "../reports/ratios.js";
import type { FleetReport } from "../reports/ratios.js";
import { DEFAULT_GAP_TOLERANCE_MS, caseCoverage } from "../reports/coverage.js";
import type { CaseCoverage, ClockOffset } from "../reports/coverage.js";
import { assignmentInForceSql } from "./schema.js";

export type UnitLevel = "region" | "city" | "county" | "agency";
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
 * hearings and service. Kinds not listed are OPTIONAL unless a case asks for more.
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
};

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
  timeZone: "Asia/Shanghai",
  fleetRatio: DEFAULT_FLEET_RATIO,
  gapToleranceMs: DEFAULT_GAP_TOLERANCE_MS,
  now: Date.now,
};

export type ModelErrorCode =
  | "BAD_OPTION" | "BAD_INPUT" | "BAD_LEVEL" | "BAD_ROLE" | "BAD_DATE" | "BAD_CERT" | "BAD_TIME" | "BAD_KIND"
  | "BAD_CATEGORY" | "BAD_POLICY" | "POLICY_TOO_WEAK" | "BAD_WINDOW" | "BAD_CONFIDENTIALITY"
  | "UNIT_NOT_FOUND" | "OFFICER_NOT_FOUND" | "DEVICE_NOT_FOUND" | "CASE_NOT_FOUND" | "CLIP_NOT_FOUND"
  | "DUPLICATE_BADGE" | "DUPLICATE_CASE" | "OFFICER_INACTIVE" | "CERT_INVALID"
  | "DEVICE_BUSY" | "DEVICE_NOT_USABLE" | "NOT_BODY_WORN" | "NOT_FIXED" | "NOT_CHECKED_OUT" | "ASSIGNMENT_OVERLAP"
  | "REASON_REQUIRED" | "ACTOR_REQUIRED" | "ALREADY_LINKED" | "NOT_LINKED";

export class ModelError extends Error {
  constructor(public code: ModelErrorCode, message: string) {
    super(message);
    this.name = "ModelError";
  }
}

export interface Unit { id: number; parentId: number | null; name: string; level: UnitLevel }

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

interface OfficerRow {
  id: number; badge: string; name: string; unit_id: number; role: OfficerRole;
  cert_no: string | null; cert_valid_from: string | null; cert_valid_to: string | null; active: number;
}
interface AssignmentRow { id: number; device_id: string; officer_id: number | null; badge: string | null; room: string | null; checked_out_at: number; returned_at: number | null }
interface CaseRow {
  id: number; number: string; unit_id: number; category: CaseCategory; activity_kind: string; policy: RecordingPolicy;
  window_start: number; window_end: number; confidentiality: number; room: string | null;
}
interface LinkRow { id: number; device_id: string; recording_id: number; case_id: number; number: string; linked_by: string; reason: string; at: number; unlinked_at: number | null }
interface DeviceRow { id: string; kind: DeviceKind; state: string; unit_id: number | null; room: string | null }
interface ClipRow { device_id: string; recording_id: number; start_ms: number | null; end_ms: number | null; last_time_ms: number; case_tag: string | null; seal_case_tag: string | null; clip_at_ms: number | null }

const OFFICER_COLS = "id, badge, name, unit_id, role, cert_no, cert_valid_from, cert_valid_to, active";
const ASSIGNMENT_COLS = "a.id, a.device_id, a.officer_id, o.badge, a.room, a.checked_out_at, a.returned_at";
const CASE_COLS = "id, number, unit_id, category, activity_kind, policy, window_start, window_end, confidentiality, room";
const LINK_COLS = "l.id, l.device_id, l.recording_id, l.case_id, c.number, l.linked_by, l.reason, l.at, l.unlinked_at";

const toUnit = (r: { id: number; parent_id: number | null; name: string; level: UnitLevel }): Unit => ({ id: r.id, parentId: r.parent_id, name: r.name, level: r.level });
const toOfficer = (r: OfficerRow): Officer => ({
  id: r.id, badge: r.badge, name: r.name, unitId: r.unit_id, role: r.role, certNo: r.cert_no,
  certValidFrom: r.cert_valid_from, certValidTo: r.cert_valid_to, active: r.active === 1,
});
const toAssignment = (r: AssignmentRow): Assignment => ({
  id: r.id, deviceId: r.device_id, officerId: r.officer_id, badge: r.badge, room: r.room, checkedOutAt: r.checked_out_at, returnedAt: r.returned_at,
});
const toCase = (r: CaseRow): Case => ({
  id: r.id, number: r.number, unitId: r.unit_id, category: r.category, activityKind: r.activity_kind, policy: r.policy,
  windowStart: r.window_start, windowEnd: r.window_end, confidentiality: r.confidentiality, room: r.room,
});
const toLink = (r: LinkRow): ClipLink => ({
  id: r.id, deviceId: r.device_id, recordingId: r.recording_id, caseId: r.case_id, caseNumber: r.number,
  linkedBy: r.linked_by, reason: r.reason, at: r.at, unlinkedAt: r.unlinked_at,
});

function text(v: unknown, field: string, code: ModelErrorCode = "BAD_INPUT", max = 200): string {
  if (typeof v !== "string" || !v.trim()) throw new ModelError(code, `${field} is required`);
  if (v.length > max) throw new ModelError(code, `${field} is longer than ${max} characters`);
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

const isConstraint = (e: unknown) => (e as { code?: string }).code === "SQLITE_CONSTRAINT";

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
    const r = await this.db.run("INSERT INTO units (parent_id, name, level) VALUES (?, ?, ?)", [parent ? parent.id : null, n, level]);
    return { id: r.lastID, parentId: parent ? parent.id : null, name: n, level };
  }

  /** One unit, or UNIT_NOT_FOUND. */
  async unit(unitId: number): Promise<Unit> {
    const row = await this.db.get<{ id: number; parent_id: number | null; name: string; level: UnitLevel }>("SELECT id, parent_id, name, level FROM units WHERE id = ?", [unitId]);
    if (!row) throw new ModelError("UNIT_NOT_FOUND", `no unit ${unitId}`);
    return toUnit(row);
  }

  /** Every unit, by id. */
  async listUnits(): Promise<Unit[]> {
    return (await this.db.all<{ id: number; parent_id: number | null; name: string; level: UnitLevel }>("SELECT id, parent_id, name, level FROM units ORDER BY id")).map(toUnit);
  }

  /** A unit and everything below it, the unit first. */
  async subtree(unitId: number): Promise<Unit[]> {
    await this.unit(unitId);
    const rows = await this.db.all<{ id: number; parent_id: number | null; name: string; level: UnitLevel }>(
      `WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT u.id FROM units u JOIN sub ON u.parent_id = sub.id)
       SELECT u.id, u.parent_id, u.name, u.level FROM units u JOIN sub ON sub.id = u.id`, [unitId]);
    return rows.map(toUnit);
  }

  // ---- officers

  /** Put an officer on a unit's roster; the badge is unique across the station. */
  async addOfficer(o: NewOfficer): Promise<Officer> {
    const badge = text(o.badge, "badge", "BAD_INPUT", 32);
    const name = text(o.name, "officer name");
    await this.unit(o.unitId);
    if (!OFFICER_ROLES.includes(o.role)) throw new ModelError("BAD_ROLE", `role must be one of ${OFFICER_ROLES.join(", ")}, got ${JSON.stringify(o.role)}`);
    const cert = this.cert(o.certNo, o.certValidFrom, o.certValidTo);
    try {
      const r = await this.db.run(`INSERT INTO officers (badge, name, unit_id, role, cert_no, cert_valid_from, cert_valid_to) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [badge, name, o.unitId, o.role, cert.no, cert.from, cert.to]);
      return { id: r.lastID, badge, name, unitId: o.unitId, role: o.role, certNo: cert.no, certValidFrom: cert.from, certValidTo: cert.to, active: true };
    } catch (e) {
      if (isConstraint(e)) throw new ModelError("DUPLICATE_BADGE", `badge ${badge} is already on a roster`);
      throw e;
    }
  }

  /** One officer by badge, or OFFICER_NOT_FOUND. */
  async officer(badge: string): Promise<Officer> {
    const row = await this.db.get<OfficerRow>(`SELECT ${OFFICER_COLS} FROM officers WHERE badge = ?`, [badge]);
    if (!row) throw new ModelError("OFFICER_NOT_FOUND", `no officer with badge ${badge}`);
    return toOfficer(row);
  }

  /** Officers of one unit (or of its whole subtree), or of the station. */
  async listOfficers(unitId?: number, opts: { subtree?: boolean } = {}): Promise<Officer[]> {
    if (unitId === undefined) return (await this.db.all<OfficerRow>(`SELECT ${OFFICER_COLS} FROM officers ORDER BY badge`)).map(toOfficer);
    await this.unit(unitId);
    const sql = opts.subtree
      ? `WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT u.id FROM units u JOIN sub ON u.parent_id = sub.id)
         SELECT ${OFFICER_COLS} FROM officers WHERE unit_id IN (SELECT id FROM sub) ORDER BY badge`
      : `SELECT ${OFFICER_COLS} FROM officers WHERE unit_id = ? ORDER BY badge`;
    return (await this.db.all<OfficerRow>(sql, [unitId])).map(toOfficer);
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
    await this.db.run("UPDATE officers SET name = ?, unit_id = ?, role = ?, cert_no = ?, cert_valid_from = ?, cert_valid_to = ?, active = ? WHERE id = ?",
      [name, unitId, role, cert.no, cert.from, cert.to, active ? 1 : 0, cur.id]);
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
    await this.db.run("UPDATE devices SET unit_id = ? WHERE id = ?", [unitId, deviceId]);
  }

  /** Make a device body-worn or fixed; refused while it is checked out. */
  async setDeviceKind(deviceId: string, kind: DeviceKind): Promise<void> {
    if (kind !== "body" && kind !== "fixed") throw new ModelError("BAD_KIND", `device kind must be body or fixed, got ${JSON.stringify(kind)}`);
    await this.device(deviceId);
    await this.db.transaction(async () => {
      const open = await this.db.get("SELECT id FROM assignments WHERE device_id = ? AND returned_at IS NULL", [deviceId]);
      // an open checkout to an officer (or a room) would no longer fit the device's kind
      if (open) throw new ModelError("DEVICE_BUSY", `device ${deviceId} is checked out; return it before changing its kind`);
      await this.db.run("UPDATE devices SET kind = ?, room = CASE WHEN ? = 'fixed' THEN room END WHERE id = ?", [kind, kind, deviceId]);
    });
  }

  /** The room a fixed device is installed in, used when no room checkout is in force. */
  async setDeviceRoom(deviceId: string, room: string | null): Promise<void> {
    const d = await this.device(deviceId);
    if (d.kind !== "fixed") throw new ModelError("NOT_FIXED", `device ${deviceId} is body-worn; only fixed devices have a room`);
    await this.db.run("UPDATE devices SET room = ? WHERE id = ?", [optText(room, "room"), deviceId]);
  }

  private async device(deviceId: string): Promise<DeviceRow> {
    const d = await this.db.get<DeviceRow>("SELECT id, kind, state, unit_id, room FROM devices WHERE id = ?", [deviceId]);
    if (!d) throw new ModelError("DEVICE_NOT_FOUND", `no device ${deviceId}`);
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
      const o = await this.db.get<OfficerRow>(`SELECT ${OFFICER_COLS} FROM officers WHERE badge = ?`, [to.badge]);
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
      const open = await this.db.get<{ id: number }>("SELECT id FROM assignments WHERE device_id = ? AND returned_at IS NULL", [deviceId]);
      if (open) throw new ModelError("DEVICE_BUSY", `device ${deviceId} is already checked out`);
      // a checkout entered after the fact must not overlap a period already on record
      const later = await this.db.get<{ id: number }>("SELECT id FROM assignments WHERE device_id = ? AND returned_at > ?", [deviceId, atMs]);
      if (later) throw new ModelError("ASSIGNMENT_OVERLAP", `device ${deviceId} was checked out after ${new Date(atMs).toISOString()}`);
      try {
        const r = await this.db.run("INSERT INTO assignments (device_id, officer_id, room, checked_out_at) VALUES (?, ?, ?, ?)", [deviceId, officer ? officer.id : null, room, atMs]);
        return { id: r.lastID, deviceId, officerId: officer ? officer.id : null, badge: officer ? officer.badge : null, room, checkedOutAt: atMs, returnedAt: null };
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
      const a = await this.db.get<AssignmentRow>(`SELECT ${ASSIGNMENT_COLS} FROM assignments a LEFT JOIN officers o ON o.id = a.officer_id WHERE a.device_id = ? AND a.returned_at IS NULL`, [deviceId]);
      if (!a) throw new ModelError("NOT_CHECKED_OUT", `device ${deviceId} is not checked out`);
      if (atMs < a.checked_out_at) throw new ModelError("BAD_TIME", `device ${deviceId} can't be returned before it was checked out`);
      await this.db.run("UPDATE assignments SET returned_at = ? WHERE id = ?", [atMs, a.id]);
      return toAssignment({ ...a, returned_at: atMs });
    });
  }

  /** The checkout of a device in force at atMs, or null. */
  async assignmentAt(deviceId: string, atMs: number): Promise<Assignment | null> {
    const a = await this.db.get<AssignmentRow>(
      `SELECT ${ASSIGNMENT_COLS} FROM assignments a LEFT JOIN officers o ON o.id = a.officer_id WHERE a.device_id = ? AND ${assignmentInForceSql("a", "?")}`,
      [deviceId, atMs, atMs]);
    return a ? toAssignment(a) : null;
  }

  /** Every checkout of a device, oldest first. */
  async assignments(deviceId: string): Promise<Assignment[]> {
    return (await this.db.all<AssignmentRow>(
      `SELECT ${ASSIGNMENT_COLS} FROM assignments a LEFT JOIN officers o ON o.id = a.officer_id WHERE a.device_id = ? ORDER BY a.checked_out_at, a.id`, [deviceId])).map(toAssignment);
  }

  // ---- cases

  /** Open a case; its policy defaults to the one its activity kind carries. */
  async addCase(c: NewCase): Promise<Case> {
    const number = text(c.number, "case number", "BAD_INPUT", 64);
    await this.unit(c.unitId);
    if (!CASE_CATEGORIES.includes(c.category)) throw new ModelError("BAD_CATEGORY", `category must be one of ${CASE_CATEGORIES.join(", ")}, got ${JSON.stringify(c.category)}`);
    const activityKind = text(c.activityKind, "activity kind", "BAD_INPUT", 64);
    const floor = ACTIVITY_POLICY[activityKind] ?? "OPTIONAL";
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
      const r = await this.db.run(`INSERT INTO cases (number, unit_id, category, activity_kind, policy, window_start, window_end, confidentiality, room) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [number, c.unitId, c.category, activityKind, policy, ws, we, conf, room]);
      return { id: r.lastID, number, unitId: c.unitId, category: c.category, activityKind, policy, windowStart: ws, windowEnd: we, confidentiality: conf, room };
    } catch (e) {
      if (isConstraint(e)) throw new ModelError("DUPLICATE_CASE", `case ${number} already exists`);
      throw e;
    }
  }

  /** One case by number, or CASE_NOT_FOUND. */
  async getCase(number: string): Promise<Case> {
    const row = await this.db.get<CaseRow>(`SELECT ${CASE_COLS} FROM cases WHERE number = ?`, [number]);
    if (!row) throw new ModelError("CASE_NOT_FOUND", `no case ${number}`);
    return toCase(row);
  }

  /** Cases, optionally of one unit's subtree, by window start. */
  async listCases(filter: { unitId?: number } = {}): Promise<Case[]> {
    if (filter.unitId === undefined) return (await this.db.all<CaseRow>(`SELECT ${CASE_COLS} FROM cases ORDER BY window_start, number`)).map(toCase);
    await this.unit(filter.unitId);
    return (await this.db.all<CaseRow>(
      `WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT u.id FROM units u JOIN sub ON u.parent_id = sub.id)
       SELECT ${CASE_COLS} FROM cases WHERE unit_id IN (SELECT id FROM sub) ORDER BY window_start, number`, [filter.unitId])).map(toCase);
  }

  // ---- clips and links

  private async clip(deviceId: string, recordingId: number): Promise<ClipRow> {
    const r = await this.db.get<ClipRow>("SELECT device_id, recording_id, start_ms, end_ms, last_time_ms, case_tag, seal_case_tag, clip_at_ms FROM recordings WHERE device_id = ? AND recording_id = ?", [deviceId, recordingId]);
    if (!r) throw new ModelError("CLIP_NOT_FOUND", `no recording ${recordingId} from device ${deviceId}`);
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
    const row = await this.db.get<OfficerRow>(
      `SELECT ${OFFICER_COLS.split(", ").map((k) => "o." + k).join(", ")} FROM assignments a JOIN officers o ON o.id = a.officer_id
       WHERE a.device_id = ? AND ${assignmentInForceSql("a", "?")}`, [deviceId, at, at]);
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
    const kase = await this.db.get<{ id: number; unit_id: number }>("SELECT id, unit_id FROM cases WHERE number = ?", [tag]);
    if (!kase) return { refused: "NO_CASE", tag, detail: `no case ${tag}` };
    const unit = await this.clipUnit(deviceId, recordingId);
    const inScope = unit !== null && !!(await this.db.get(
      `WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT u.id FROM units u JOIN sub ON u.parent_id = sub.id) SELECT 1 FROM sub WHERE id = ?`, [unit, kase.unit_id]));
    if (!inScope) return { refused: "CASE_OUT_OF_SCOPE", tag, detail: unit === null ? `case ${tag} not linked: the clip's unit is not known (no officer checked out, no device unit)` : `case ${tag} belongs to unit ${kase.unit_id}, outside the clip's unit ${unit} and the units below it` };
    const existing = await this.db.get<LinkRow>(`SELECT ${LINK_COLS} FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = ? AND l.recording_id = ? AND l.case_id = ? AND l.unlinked_at IS NULL`, [deviceId, recordingId, kase.id]);
    if (existing) return toLink(existing);
    try {
      return await this.link(deviceId, recordingId, tag, "system:case-tag", `case tag ${tag} recorded on the device`);
    } catch (e) {
      // The start's and the seal's commits may both ask at once: the second finds the first's link.
      if (!(e instanceof ModelError && e.code === "ALREADY_LINKED")) throw e;
      const l = await this.db.get<LinkRow>(`SELECT ${LINK_COLS} FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = ? AND l.recording_id = ? AND l.case_id = ? AND l.unlinked_at IS NULL`, [deviceId, recordingId, kase.id]);
      if (!l) throw e;
      return toLink(l);
    }
  }

  /** What a link or unlink needs checked first: a reason, an actor, the clip and the case. */
  private async custodyChange(deviceId: string, recordingId: number, caseNumber: string, actor: string, reason: string) {
    const why = text(reason, "reason", "REASON_REQUIRED", 500);
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
        const r = await this.db.run("INSERT INTO clip_links (device_id, recording_id, case_id, linked_by, reason, at) VALUES (?, ?, ?, ?, ?, ?)", [deviceId, recordingId, kase.id, who, why, at]);
        await this.db.run("INSERT INTO custody_events (at, actor, action, device_id, recording_id, case_id, reason) VALUES (?, ?, 'link', ?, ?, ?, ?)", [at, who, deviceId, recordingId, kase.id, why]);
        return { id: r.lastID, deviceId, recordingId, caseId: kase.id, caseNumber: kase.number, linkedBy: who, reason: why, at, unlinkedAt: null };
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
      const l = await this.db.get<LinkRow>(`SELECT ${LINK_COLS} FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = ? AND l.recording_id = ? AND l.case_id = ? AND l.unlinked_at IS NULL`, [deviceId, recordingId, kase.id]);
      if (!l) throw new ModelError("NOT_LINKED", `recording ${recordingId} of ${deviceId} is not linked to case ${kase.number}`);
      await this.db.run("UPDATE clip_links SET unlinked_at = ? WHERE id = ?", [at, l.id]);
      await this.db.run("INSERT INTO custody_events (at, actor, action, device_id, recording_id, case_id, reason) VALUES (?, ?, 'unlink', ?, ?, ?, ?)", [at, who, deviceId, recordingId, kase.id, why]);
      return toLink({ ...l, unlinked_at: at });
    });
  }

  /** A clip's links in force (or, with history, every link ever made), oldest first. */
  async clipLinks(deviceId: string, recordingId: number, opts: { history?: boolean } = {}): Promise<ClipLink[]> {
    return (await this.db.all<LinkRow>(
      `SELECT ${LINK_COLS} FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = ? AND l.recording_id = ?${opts.history ? "" : " AND l.unlinked_at IS NULL"} ORDER BY l.at, l.id`,
      [deviceId, recordingId])).map(toLink);
  }

  /** The custody trail of a clip (links and unlinks), oldest first. */
  async custodyEvents(deviceId: string, recordingId: number): Promise<CustodyEvent[]> {
    const rows = await this.db.all<{ id: number; at: number; actor: string; action: "link" | "unlink"; device_id: string; recording_id: number; number: string; reason: string }>(
      `SELECT e.id, e.at, e.actor, e.action, e.device_id, e.recording_id, c.number, e.reason FROM custody_events e JOIN cases c ON c.id = e.case_id
       WHERE e.device_id = ? AND e.recording_id = ? ORDER BY e.id`, [deviceId, recordingId]);
    return rows.map((r) => ({ id: r.id, at: r.at, actor: r.actor, action: r.action, deviceId: r.device_id, recordingId: r.recording_id, caseNumber: r.number, reason: r.reason }));
  }

  /** A clip's confidentiality: the highest level of the cases it is linked to, 0 if none. */
  async clipConfidentiality(deviceId: string, recordingId: number): Promise<number> {
    const r = await this.db.get<{ level: number | null }>(
      "SELECT MAX(c.confidentiality) AS level FROM clip_links l JOIN cases c ON c.id = l.case_id WHERE l.device_id = ? AND l.recording_id = ? AND l.unlinked_at IS NULL", [deviceId, recordingId]);
    return (r && r.level) || 0;
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
    const start = c.start_ms;
    // an unsealed clip has no end yet; its last chunk is the best bound known
    const end = Math.max(start, c.end_ms ?? (c.last_time_ms >= 0 ? c.last_time_ms : start));
    let unitId: number | null = d.unit_id;
    let room: string | null = null;
    if (d.kind === "body") {
      const o = await this.clipOfficer(deviceId, recordingId);
      if (o) unitId = o.unitId;
    } else {
      room = await this.clipRoom(deviceId, recordingId);
    }
    if (unitId === null) return [];
    const rows = await this.db.all<CaseRow & { distance: number }>(
      `WITH RECURSIVE up(id, distance) AS (SELECT ?, 0 UNION ALL SELECT u.parent_id, up.distance + 1 FROM units u JOIN up ON u.id = up.id WHERE u.parent_id IS NOT NULL)
       SELECT ${CASE_COLS.split(", ").map((k) => "c." + k).join(", ")}, up.distance FROM cases c JOIN up ON up.id = c.unit_id
       WHERE c.window_start <= ? AND c.window_end >= ?
         AND NOT EXISTS (SELECT 1 FROM clip_links l WHERE l.case_id = c.id AND l.device_id = ? AND l.recording_id = ? AND l.unlinked_at IS NULL)`,
      [unitId, end, start, deviceId, recordingId]);
    const tag = c.seal_case_tag || c.case_tag || null;
    const out = rows.map((r): Suggestion => ({
      case: toCase(r),
      tagMatch: tag !== null && r.number === tag,
      roomMatch: room !== null && r.room === room,
      overlapMs: Math.max(0, Math.min(end, r.window_end) - Math.max(start, r.window_start)),
      unitDistance: r.distance,
    }));
    out.sort((a, b) => Number(b.tagMatch) - Number(a.tagMatch) || Number(b.roomMatch) - Number(a.roomMatch)
      || b.overlapMs - a.overlapMs || a.unitDistance - b.unitDistance || (a.case.number < b.case.number ? -1 : 1));
    return out.slice(0, limit);
  }

  // ---- certificates (for the alarms)

  /** Active officers whose certificate ends within `withinDays` of a local date, or has ended; soonest first. */
  async expiringCertificates(onLocalDate: string, withinDays = 30): Promise<CertificateNotice[]> {
    const day = checkLocalDate(onLocalDate, "onLocalDate");
    if (!Number.isInteger(withinDays) || withinDays < 0) throw new ModelError("BAD_INPUT", `withinDays must be a whole number of days, got ${withinDays}`);
    const rows = await this.db.all<OfficerRow>(
      `SELECT ${OFFICER_COLS} FROM officers WHERE active = 1 AND cert_valid_to IS NOT NULL AND cert_valid_to <= ? ORDER BY cert_valid_to, badge`, [addDays(day, withinDays)]);
    return rows.map((r) => {
      const daysLeft = daysBetween(day, r.cert_valid_to as string);
      return { badge: r.badge, name: r.name, unitId: r.unit_id, certNo: r.cert_no, certValidTo: r.cert_valid_to as string, daysLeft, expired: daysLeft < 0 };
    });
  }

  /** Checkouts in force at atMs whose officer's certificate isn't valid on that local date. */
  async checkoutsWithExpiredCert(atMs: number): Promise<ExpiredCheckout[]> {
    timeMs(atMs, "time");
    const day = this.localDate(atMs);
    const rows = await this.db.all<{ device_id: string; badge: string; name: string; cert_valid_from: string | null; cert_valid_to: string | null; checked_out_at: number }>(
      `SELECT a.device_id, o.badge, o.name, o.cert_valid_from, o.cert_valid_to, a.checked_out_at FROM assignments a JOIN officers o ON o.id = a.officer_id
       WHERE ${assignmentInForceSql("a", "?")} ORDER BY a.device_id`, [atMs, atMs]);
    return rows.filter((r) => !certValidOn(r, day))
      .map((r) => ({ deviceId: r.device_id, badge: r.badge, name: r.name, certValidTo: r.cert_valid_to, checkedOutAt: r.checked_out_at }));
  }

  // ---- reports with this station's policy

  /** The fleet and reviewer report at the configured ratio. */
  fleetReport(unitId?: number): Promise<FleetReport> {
    return fleetReport(this.db, { ratio: this.opts.fleetRatio, unitId });
  }

  /** Coverage of a case's window at the configured gap tolerance. */
  async caseCoverage(caseNumber: string, offsetMs?: ClockOffset): Promise<CaseCoverage> {
    const r = await caseCoverage(this.db, caseNumber, { gapToleranceMs: this.opts.gapToleranceMs, offsetMs });
    if (!r) throw new ModelError("CASE_NOT_FOUND", `no case ${caseNumber}`);
    return r;
  }
}
