// The devices table: provisioned recorders, their state, encrypted root, unit and room.
import type { Db } from "./db.js";

export interface DeviceKeyRow { id: string; kind: "body" | "fixed"; state: string; root_enc: Buffer }
export interface DeviceRow { id: string; kind: "body" | "fixed"; state: string; unit_id: number | null; room: string | null }
export interface DeviceListRow { id: string; kind: string; state: string; unit_id: number | null; last_seen: number | null; last_status: string | null }

/** How many devices the registry holds, in any state. */
export async function deviceCount(db: Db): Promise<number> {
  return Number((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM devices"))!.n);
}

export async function deviceExists(db: Db, id: string): Promise<boolean> {
  return !!(await db.get("SELECT id FROM devices WHERE id = ?", [id]));
}

export async function insertDevice(db: Db, d: { id: string; kind: string; rootEnc: Uint8Array; chipSerial: string | null; createdAt: number }): Promise<void> {
  await db.run("INSERT INTO devices (id, kind, root_enc, chip_serial, created_at) VALUES (?, ?, ?, ?, ?)", [d.id, d.kind, d.rootEnc, d.chipSerial, d.createdAt]);
}

/** Replace a device's root (re-provisioning): back to provisioned, its last Hello forgotten. */
export async function rekeyDevice(db: Db, id: string, rootEnc: Uint8Array, chipSerial: string | null): Promise<void> {
  await db.run("UPDATE devices SET root_enc = ?, chip_serial = COALESCE(?, chip_serial), state = 'provisioned', last_hello = NULL WHERE id = ?", [rootEnc, chipSerial, id]);
}

export function deviceWithRoot(db: Db, id: string): Promise<DeviceKeyRow | undefined> {
  return db.get<DeviceKeyRow>("SELECT id, kind, state, root_enc FROM devices WHERE id = ?", [id]);
}

export function getDevice(db: Db, id: string): Promise<DeviceRow | undefined> {
  return db.get<DeviceRow>("SELECT id, kind, state, unit_id, room FROM devices WHERE id = ?", [id]);
}

/** Set a device's state; returns false when there is no such device. */
export async function setDeviceState(db: Db, id: string, state: string): Promise<boolean> {
  return (await db.run("UPDATE devices SET state = ? WHERE id = ?", [state, id])).changes > 0;
}

/**
 * A provisioned device's first Hello makes it active, only if it is still provisioned: a state
 * another process stored meanwhile (the CLI revoked it, or marked it lost) is never overwritten.
 * Returns the stored state after it, or undefined for a device that is not there.
 */
export async function activateDevice(db: Db, id: string): Promise<string | undefined> {
  await db.run("UPDATE devices SET state = 'active' WHERE id = ? AND state = 'provisioned'", [id]);
  return (await deviceState(db, id))?.state;
}

/** Every device, or those issued to the given units. */
/** The first `n` device ids, in id order: a few to try the station key on, without reading the registry whole. */
export async function firstDeviceIds(db: Db, n: number): Promise<string[]> {
  return (await db.all<{ id: string }>("SELECT id FROM devices ORDER BY id LIMIT ?", [n])).map((r) => r.id);
}

export function listDevices(db: Db, unitIds?: number[]): Promise<DeviceListRow[]> {
  if (!unitIds) return db.all<DeviceListRow>("SELECT id, kind, state, unit_id, last_seen, last_status FROM devices ORDER BY id");
  if (!unitIds.length) return Promise.resolve([]);
  return db.all<DeviceListRow>(`SELECT id, kind, state, unit_id, last_seen, last_status FROM devices WHERE unit_id IN (${unitIds.map(() => "?").join(", ")}) ORDER BY id`, unitIds);
}

export async function setDeviceUnit(db: Db, id: string, unitId: number | null): Promise<void> {
  await db.run("UPDATE devices SET unit_id = ? WHERE id = ?", [unitId, id]);
}

/** Set the kind; a fixed device keeps its room, a body-worn one has none. */
export async function setDeviceKind(db: Db, id: string, kind: string): Promise<void> {
  await db.run("UPDATE devices SET kind = ?, room = CASE WHEN ? = 'fixed' THEN room END WHERE id = ?", [kind, kind, id]);
}

export async function setDeviceRoom(db: Db, id: string, room: string | null): Promise<void> {
  await db.run("UPDATE devices SET room = ? WHERE id = ?", [room, id]);
}

export async function recordingCount(db: Db, id: string): Promise<number> {
  return (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM recordings WHERE device_id = ?", [id]))!.n;
}

/** Active or lost devices not heard from since the cutoff (never connected: since registration). */
export function silentDevices(db: Db, cutoff: number): Promise<{ id: string; state: string; last_seen: number | null; created_at: number }[]> {
  return db.all("SELECT id, state, last_seen, created_at FROM devices WHERE state IN ('active', 'lost') AND COALESCE(last_seen, created_at) < ? ORDER BY id", [cutoff]);
}

/** A device's last Status heartbeat (JSON as stored) and when it was last heard from. */
export function lastStatus(db: Db, id: string): Promise<{ last_status: string | null; last_seen: number | null } | undefined> {
  return db.get("SELECT last_status, last_seen FROM devices WHERE id = ?", [id]);
}

/** A device's state alone (no unit or room: usable before the model's tables exist). */
export function deviceState(db: Db, id: string): Promise<{ state: string } | undefined> {
  return db.get<{ state: string }>("SELECT state FROM devices WHERE id = ?", [id]);
}
