// The unit tree: regions, cities, counties and agencies, each under its parent.
import type { Db } from "./db.js";

export interface UnitRow { id: number; parent_id: number | null; name: string; level: string; fleet_ratio?: number | null }

const SUBTREE = "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL SELECT u.id FROM units u JOIN sub ON u.parent_id = sub.id)";

/** Add a unit; returns its id. */
export async function insertUnit(db: Db, parentId: number | null, name: string, level: string): Promise<number> {
  return (await db.get<{ id: number }>("INSERT INTO units (parent_id, name, level) VALUES (?, ?, ?) RETURNING id", [parentId, name, level]))!.id;
}

export function getUnit(db: Db, id: number): Promise<UnitRow | undefined> {
  return db.get<UnitRow>("SELECT id, parent_id, name, level, fleet_ratio FROM units WHERE id = ?", [id]);
}

/** Set a unit's own fleet ratio (null: the station's). */
export async function setUnitRatio(db: Db, id: number, ratio: number | null): Promise<void> {
  await db.run("UPDATE units SET fleet_ratio = ? WHERE id = ?", [ratio, id]);
}

export function listUnits(db: Db): Promise<UnitRow[]> {
  return db.all<UnitRow>("SELECT id, parent_id, name, level, fleet_ratio FROM units ORDER BY id");
}

/** A unit and everything below it. */
export function subtree(db: Db, id: number): Promise<UnitRow[]> {
  return db.all<UnitRow>(`${SUBTREE} SELECT u.id, u.parent_id, u.name, u.level FROM units u JOIN sub ON sub.id = u.id`, [id]);
}

/** Is `unit` the unit `root` or one below it? */
export async function inSubtree(db: Db, root: number, unit: number): Promise<boolean> {
  return !!(await db.get(`${SUBTREE} SELECT 1 FROM sub WHERE id = ?`, [root, unit]));
}
