// Devices: registration, re-keying, state changes along the allowed transitions, listings.
import type { Caller, ServiceContext } from "./context.js";
import { deviceIdOf, intOf, reasonOf, requireRole } from "./context.js";
import { GatewayError } from "../errors.js";
import type { DeviceState } from "../devices.js";
import * as store from "../store/devices.js";
import { ROOT_LEN } from "../../protocol/constants.js";

export const DEVICE_STATES: readonly DeviceState[] = ["provisioned", "active", "lost", "retired", "revoked"];

/**
 * The state changes a person may make (RULES.md §2: a device counts once active; lost, retired and
 * revoked ones don't). A retired device never comes back (its recorder is provisioned under a new
 * id); a revoked one goes back only to provisioned, and becomes active again by connecting.
 */
export const TRANSITIONS: Readonly<Record<DeviceState, readonly DeviceState[]>> = {
  provisioned: ["active", "retired", "revoked"],
  active: ["lost", "retired", "revoked"],
  lost: ["active", "retired", "revoked"],
  retired: ["revoked"],
  revoked: ["provisioned"],
};

export interface NewDevice { id: unknown; root?: Uint8Array; kind?: unknown; chipSerial?: unknown; unit?: unknown }

export class DeviceService {
  constructor(private ctx: ServiceContext) {}

  /** Register a device (admin). Returns its root secret (drawn when none is given): the caller hands it on once, then wipes it. */
  async add(caller: Caller, d: NewDevice): Promise<{ id: string; state: DeviceState; root: Uint8Array }> {
    requireRole(caller, ["admin"], "registering a device");
    const id = deviceIdOf(d.id);
    const kind = d.kind === undefined ? "body" : d.kind;
    if (kind !== "body" && kind !== "fixed") throw new GatewayError("BAD_KIND", `a device is body or fixed, got ${JSON.stringify(kind)}`);
    if (d.root && d.root.length !== ROOT_LEN) throw new GatewayError("BAD_ROOT", `a root secret is ${ROOT_LEN} bytes`);
    const chip = d.chipSerial === undefined || d.chipSerial === null ? undefined : String(d.chipSerial).slice(0, 64);
    const unit = d.unit === undefined || d.unit === null ? undefined : intOf(d.unit, "unit");
    return this.ctx.change(caller, async () => {
      if (unit !== undefined) await this.ctx.model.unit(unit);
      const root = await this.ctx.deps.registry.add(id, { kind, root: d.root, chipSerial: chip });
      if (unit !== undefined) await this.ctx.model.setDeviceUnit(id, unit);
      return { result: { id, state: "provisioned" as DeviceState, root }, audit: { action: "device.add", target: id, details: { kind, ...(unit !== undefined ? { unit } : {}) } } };
    });
  }

  /** Re-provision a device under a new root (admin); see DeviceRegistry.rekey for what is refused. */
  async rekey(caller: Caller, idIn: unknown, root: Uint8Array, o: { chipSerial?: unknown; unit?: unknown; reason: unknown }): Promise<{ id: string; state: DeviceState }> {
    requireRole(caller, ["admin"], "re-keying a device");
    const id = deviceIdOf(idIn);
    const reason = reasonOf(o.reason, "re-keying a device");
    const unit = o.unit === undefined || o.unit === null ? undefined : intOf(o.unit, "unit");
    return this.ctx.change(caller, async () => {
      if (unit !== undefined) await this.ctx.model.unit(unit);
      const from = await this.ctx.deps.registry.rekey(id, root, { chipSerial: o.chipSerial === undefined ? undefined : String(o.chipSerial).slice(0, 64) });
      if (unit !== undefined) await this.ctx.model.setDeviceUnit(id, unit);
      return { result: { id, state: "provisioned" as DeviceState }, audit: { action: "device.rekey", target: id, reason, details: { from, ...(unit !== undefined ? { unit } : {}) } } };
    });
  }

  /** Change a device's state (admin), only along TRANSITIONS, with a reason; a revoke reaches its live connection at once. */
  async setState(caller: Caller, idIn: unknown, stateIn: unknown, reasonIn: unknown): Promise<{ id: string; state: DeviceState; from: DeviceState }> {
    requireRole(caller, ["admin"], "changing a device's state");
    const id = deviceIdOf(idIn);
    const state = stateIn as DeviceState;
    if (!DEVICE_STATES.includes(state)) throw new GatewayError("BAD_STATE", `a device state is one of ${DEVICE_STATES.join(", ")}, got ${JSON.stringify(stateIn)}`);
    const reason = reasonOf(reasonIn, `device ${state === "revoked" ? "revoke" : state}`);
    const out = await this.ctx.change(caller, async () => {
      const row = await store.getDevice(this.ctx.db, id);
      if (!row) throw new GatewayError("UNKNOWN_DEVICE", `no device ${id}`);
      const from = row.state as DeviceState;
      if (!TRANSITIONS[from].includes(state)) {
        throw new GatewayError("BAD_TRANSITION", `device ${id} is ${from}; from ${from} it can become ${TRANSITIONS[from].join(" or ") || "nothing else"}, not ${state}`);
      }
      await this.ctx.deps.registry.writeState(id, state);
      return { result: { id, state, from }, audit: { action: "device.state", target: id, reason, details: { state, from } } };
    });
    this.ctx.deps.registry.noteState(id, state);
    if (state === "revoked" && this.ctx.deps.live.deviceRevoked) await this.ctx.deps.live.deviceRevoked(id, reason);
    return out;
  }

  /** Issue a device to a unit (admin): the fleet it counts in. */
  async setUnit(caller: Caller, idIn: unknown, unitIn: unknown, reasonIn: unknown): Promise<{ id: string; unit: number | null }> {
    requireRole(caller, ["admin"], "issuing a device to a unit");
    const id = deviceIdOf(idIn);
    const unit = unitIn === null ? null : intOf(unitIn, "unit");
    const reason = reasonOf(reasonIn, "issuing a device to a unit");
    return this.ctx.change(caller, async () => {
      const before = await store.getDevice(this.ctx.db, id);
      // Nothing to change: audited, it would read as an issue that never happened.
      if (before && before.unit_id === unit) throw new GatewayError("NO_CHANGE", `device ${id} is already ${unit === null ? "issued to no unit" : `issued to unit ${unit}`}`);
      await this.ctx.model.setDeviceUnit(id, unit);
      return { result: { id, unit }, audit: { action: "device.unit", target: id, reason, details: { unit } } };
    });
  }

  /** Devices the caller may see (admin: all; a supervisor: those issued to their unit's subtree), with their last Status. */
  async list(caller: Caller): Promise<{ id: string; kind: string; state: string; unit: number | null; online: boolean; lastSeen: number | null; lastStatus: Record<string, unknown> | null }[]> {
    requireRole(caller, ["admin", "supervisor"], "listing devices");
    const scope = await this.ctx.scope(caller);
    const rows = await store.listDevices(this.ctx.db, scope ? [...scope] : undefined);
    const online = this.ctx.deps.live.online ?? (() => false);
    return rows.map((r) => ({ id: r.id, kind: r.kind, state: r.state, unit: r.unit_id, online: online(r.id), lastSeen: r.last_seen, lastStatus: r.last_status ? JSON.parse(r.last_status) : null }));
  }
}
