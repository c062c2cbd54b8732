// What the provisioning tool asks of the gateway, over the one admin-API client outside tools share
// (client/admin-api.ts): an admin token, read-only checks first, then one registering call.
import { ProvisionError, redact } from "./errors.js";
import { AdminApi } from "../client/admin-api.js";
import type { GatewayDevice, GatewayUnit } from "../client/admin-api.js";

export type { GatewayDevice, GatewayUnit };

export class GatewayClient {
  private api: AdminApi;
  constructor(base: string, token: string, timeoutMs = 10000) {
    // Unreachable: PROVISION_GATEWAY_DOWN; bad or missing token: PROVISION_GATEWAY_AUTH; any other
    // refusal: PROVISION_GATEWAY (or the call's own code) with the gateway's reason code in the message.
    this.api = new AdminApi(base, token, {
      timeoutMs, redact,
      codes: { down: "PROVISION_GATEWAY_DOWN", auth: "PROVISION_GATEWAY_AUTH", refused: "PROVISION_GATEWAY" },
      error: (code, message) => new ProvisionError(code, message),
    });
  }

  /** The token's account; provisioning needs an admin. */
  async checkAdmin(): Promise<string> {
    const me = await this.api.me();
    if (me.role !== "admin") throw new ProvisionError("PROVISION_GATEWAY_AUTH", `the token belongs to ${me.name}, a ${me.role}; provisioning needs an admin token`);
    return me.name;
  }

  /** A unit by id ("12") or by exact name. */
  async findUnit(unit: string): Promise<GatewayUnit> {
    const units = await this.api.units();
    if (/^\d+$/.test(unit)) {
      const u = units.find((x) => x.id === Number(unit));
      if (u) return u;
    }
    const named = units.filter((x) => x.name === unit);
    if (named.length === 1) return named[0];
    if (named.length > 1) throw new ProvisionError("PROVISION_UNIT", `${named.length} units are named ${JSON.stringify(unit)} (ids ${named.map((x) => x.id).join(", ")}): give --unit by id`);
    throw new ProvisionError("PROVISION_UNIT", `no unit ${JSON.stringify(unit)} at the gateway (npm run admin -- unit list)`);
  }

  async device(id: string): Promise<GatewayDevice | undefined> {
    return (await this.api.devices()).find((d) => d.id === id);
  }

  async recordingCount(id: string): Promise<number> {
    return (await this.api.recordings(id)).length;
  }

  async register(id: string, rootHex: string, chipSerial: string, unit?: number): Promise<void> {
    await this.api.registerDevice(id, rootHex, { chipSerial, unit }, "PROVISION_REGISTER");
  }

  async rekey(id: string, rootHex: string, chipSerial: string, reason: string, unit?: number): Promise<void> {
    await this.api.rekeyDevice(id, rootHex, reason, { chipSerial, unit }, "PROVISION_REGISTER");
  }

  async setState(id: string, state: string, reason: string): Promise<void> {
    await this.api.setDeviceState(id, state, reason);
  }
}
