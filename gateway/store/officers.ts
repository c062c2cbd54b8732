// Officers on the units' rosters, with their enforcement certificates.
import type { Db } from "./db.js";

export interface OfficerRow {
  id: number; badge: string; name: string; unit_id: number; role: string;
  cert_no: string | null; cert_valid_from: string | null; cert_valid_to: string | null; active: number;
}

export const OFFICER_COLS = "id, badge, name, unit_id, role, cert_no, cert_valid_from, cert_valid_to, active";
const SUBTREE = "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT u.id FROM units u JOIN sub ON u.parent_id = sub.id)";

export interface OfficerValues { badge: string; name: string; unitId: number; role: string; certNo: string | null; certValidFrom: string | null; certValidTo: string | null }

/** Add an officer; a second officer with the same badge fails on a constraint (isConstraintError). */
export async function insertOfficer(db: Db, o: OfficerValues): Promise<number> {
  return (await db.get<{ id: number }>("INSERT INTO officers (badge, name, unit_id, role, cert_no, cert_valid_from, cert_valid_to) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    [o.badge, o.name, o.unitId, o.role, o.certNo, o.certValidFrom, o.certValidTo]))!.id;
}

export function officerByBadge(db: Db, badge: string): Promise<OfficerRow | undefined> {
  return db.get<OfficerRow>(`SELECT ${OFFICER_COLS} FROM officers WHERE badge = ?`, [badge]);
}

/** Officers of the station, of one unit, or of a unit's subtree, by badge. */
export function listOfficers(db: Db, unitId?: number, subtreeOf = false): Promise<OfficerRow[]> {
  if (unitId === undefined) return db.all<OfficerRow>(`SELECT ${OFFICER_COLS} FROM officers ORDER BY badge`);
  return subtreeOf
    ? db.all<OfficerRow>(`${SUBTREE} SELECT ${OFFICER_COLS} FROM officers WHERE unit_id IN (SELECT id FROM sub) ORDER BY badge`, [unitId])
    : db.all<OfficerRow>(`SELECT ${OFFICER_COLS} FROM officers WHERE unit_id = ? ORDER BY badge`, [unitId]);
}

export async function updateOfficer(db: Db, id: number, o: Omit<OfficerValues, "badge"> & { active: boolean }): Promise<void> {
  await db.run("UPDATE officers SET name = ?, unit_id = ?, role = ?, cert_no = ?, cert_valid_from = ?, cert_valid_to = ?, active = ? WHERE id = ?",
    [o.name, o.unitId, o.role, o.certNo, o.certValidFrom, o.certValidTo, o.active ? 1 : 0, id]);
}

/** Active officers whose certificate ends on or before a local date. */
export function certificatesEndingBy(db: Db, lastDay: string): Promise<OfficerRow[]> {
  return db.all<OfficerRow>(`SELECT ${OFFICER_COLS} FROM officers WHERE active = 1 AND cert_valid_to IS NOT NULL AND cert_valid_to <= ? ORDER BY cert_valid_to, badge`, [lastDay]);
}
