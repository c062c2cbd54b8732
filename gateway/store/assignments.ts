// Who held which device when: checkouts to officers (body-worn) or rooms (fixed).
import type { Db } from "./db.js";
import { OFFICER_COLS } from "./officers.js";
import type { OfficerRow } from "./officers.js";

/**
 * SQL: assignment row `a` is in force at time expression `t` (used twice, so bind it twice).
 * Half-open, so a return and a re-checkout at the same instant hand over cleanly.
 */
export function assignmentInForceSql(a: string, t: string): string {
  return `${a}.checked_out_at <= ${t} AND (${a}.returned_at IS NULL OR ${a}.returned_at > ${t})`;
}

export interface AssignmentRow { id: number; device_id: string; officer_id: number | null; badge: string | null; room: string | null; checked_out_at: number; returned_at: number | null }
const ASSIGNMENT_COLS = "a.id, a.device_id, a.officer_id, o.badge, a.room, a.checked_out_at, a.returned_at";

/** The device's open checkout, if any. */
export function openAssignment(db: Db, deviceId: string): Promise<AssignmentRow | undefined> {
  return db.get<AssignmentRow>(`SELECT ${ASSIGNMENT_COLS} FROM assignments a LEFT JOIN officers o ON o.id = a.officer_id WHERE a.device_id = ? AND a.returned_at IS NULL`, [deviceId]);
}

/** Is there a checkout of this device returned after atMs (a back-dated checkout would overlap it)? */
export async function returnedAfter(db: Db, deviceId: string, atMs: number): Promise<boolean> {
  return !!(await db.get("SELECT id FROM assignments WHERE device_id = ? AND returned_at > ?", [deviceId, atMs]));
}

/** Open a checkout; a second open one for the device fails on a constraint (isConstraintError). */
export async function insertAssignment(db: Db, deviceId: string, officerId: number | null, room: string | null, atMs: number): Promise<number> {
  return (await db.get<{ id: number }>("INSERT INTO assignments (device_id, officer_id, room, checked_out_at) VALUES (?, ?, ?, ?) RETURNING id", [deviceId, officerId, room, atMs]))!.id;
}

export async function closeAssignment(db: Db, id: number, atMs: number): Promise<void> {
  await db.run("UPDATE assignments SET returned_at = ? WHERE id = ?", [atMs, id]);
}

export function assignmentAt(db: Db, deviceId: string, atMs: number): Promise<AssignmentRow | undefined> {
  return db.get<AssignmentRow>(`SELECT ${ASSIGNMENT_COLS} FROM assignments a LEFT JOIN officers o ON o.id = a.officer_id WHERE a.device_id = ? AND ${assignmentInForceSql("a", "?")}`, [deviceId, atMs, atMs]);
}

export function assignmentsOf(db: Db, deviceId: string): Promise<AssignmentRow[]> {
  return db.all<AssignmentRow>(`SELECT ${ASSIGNMENT_COLS} FROM assignments a LEFT JOIN officers o ON o.id = a.officer_id WHERE a.device_id = ? ORDER BY a.checked_out_at, a.id`, [deviceId]);
}

/** The officer a device was checked out to at atMs. */
export function officerAt(db: Db, deviceId: string, atMs: number): Promise<OfficerRow | undefined> {
  return db.get<OfficerRow>(
    `SELECT ${OFFICER_COLS.split(", ").map((k) => "o." + k).join(", ")} FROM assignments a JOIN officers o ON o.id = a.officer_id
     WHERE a.device_id = ? AND ${assignmentInForceSql("a", "?")}`, [deviceId, atMs, atMs]);
}

/**
 * Checkouts to officers in force at atMs, with the officer's certificate: for each device, its
 * latest checkout started by atMs (a device's checkouts never overlap, so no other can be in
 * force), found by assignments_device_time, not by reading every checkout ever made.
 */
export function officerCheckoutsAt(db: Db, atMs: number): Promise<{ device_id: string; badge: string; name: string; cert_valid_from: string | null; cert_valid_to: string | null; checked_out_at: number }[]> {
  return db.all(
    `SELECT a.device_id, o.badge, o.name, o.cert_valid_from, o.cert_valid_to, a.checked_out_at FROM devices d
       JOIN assignments a ON a.id = (SELECT l.id FROM assignments l WHERE l.device_id = d.id AND l.checked_out_at <= ? ORDER BY l.checked_out_at DESC, l.id DESC LIMIT 1)
       JOIN officers o ON o.id = a.officer_id
     WHERE ${assignmentInForceSql("a", "?")} ORDER BY d.id`, [atMs, atMs, atMs]);
}
