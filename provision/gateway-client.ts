// The gateway's HTTP API as the provisioning tool uses it (gateway/api/server.ts, model-routes.ts):
// an admin token, read-only checks first, then one registering call.
import { ProvisionError, redact } from "./errors.js";

export interface GatewayDevice { id: string; kind: string; state: string; last_seen: number | null }
export interface GatewayUnit { id: number; parentId: number | null; name: string; level: string }

export class GatewayClient {
  constructor(private base: string, private token: string, private timeoutMs = 10000) {
    this.base = base.replace(/\/+$/, "");
  }

  /**
   * One API call. Unreachable: PROVISION_GATEWAY_DOWN; bad or missing token: PROVISION_GATEWAY_AUTH;
   * any other refusal: `failCode` with the gateway's own reason code in the message.
   */
  private async call<T>(method: string, path: string, body: unknown, failCode: string): Promise<T> {
    let r: Response;
    try {
      r = await fetch(this.base + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      // fetch's own message is "fetch failed"; the reason (ECONNREFUSED, a timeout) is in its cause.
      const c = (e as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
      const why = (c && (c.code || (c.errors && c.errors[0] && c.errors[0].code) || c.message)) || (e as Error).message;
      throw new ProvisionError("PROVISION_GATEWAY_DOWN", `the gateway at ${this.base} did not answer ${method} ${path}: ${why}`);
    }
    const text = await r.text();
    let j: { error?: string; message?: string } & Record<string, unknown> = {};
    try { j = JSON.parse(text); } catch { /* not JSON: reported below */ }
    if (r.status === 401 || r.status === 403) {
      throw new ProvisionError("PROVISION_GATEWAY_AUTH", `the gateway refused the token for ${method} ${path}: ${j.error || r.status} ${redact(j.message || "")}`.trim());
    }
    if (!r.ok) throw new ProvisionError(failCode, `the gateway refused ${method} ${path}: ${r.status} ${j.error || ""} ${redact(j.message || text)}`.replace(/\s+/g, " ").trim());
    return j as T;
  }

  /** The token's account; provisioning needs an admin. */
  async checkAdmin(): Promise<string> {
    const me = await this.call<{ name: string; role: string }>("GET", "/api/me", undefined, "PROVISION_GATEWAY");
    if (me.role !== "admin") throw new ProvisionError("PROVISION_GATEWAY_AUTH", `the token belongs to ${me.name}, a ${me.role}; provisioning needs an admin token`);
    return me.name;
  }

  /** A unit by id ("12") or by exact name. */
  async findUnit(unit: string): Promise<GatewayUnit> {
    const units = await this.call<GatewayUnit[]>("GET", "/api/units", undefined, "PROVISION_GATEWAY");
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
    const all = await this.call<GatewayDevice[]>("GET", "/api/devices", undefined, "PROVISION_GATEWAY");
    return all.find((d) => d.id === id);
  }

  async recordingCount(id: string): Promise<number> {
    const rows = await this.call<unknown[]>("GET", `/api/recordings?device=${encodeURIComponent(id)}`, undefined, "PROVISION_GATEWAY");
    return rows.length;
  }

  async register(id: string, rootHex: string, chipSerial: string, unit?: number): Promise<void> {
    await this.call("POST", "/api/devices", { id, root: rootHex, chipSerial: chipSerial.slice(0, 64), ...(unit !== undefined ? { unit } : {}) }, "PROVISION_REGISTER");
  }

  async rekey(id: string, rootHex: string, chipSerial: string, reason: string, unit?: number): Promise<void> {
    await this.call("POST", `/api/devices/${encodeURIComponent(id)}/rekey`, { root: rootHex, chipSerial: chipSerial.slice(0, 64), reason, ...(unit !== undefined ? { unit } : {}) }, "PROVISION_REGISTER");
  }

  async setState(id: string, state: string, reason: string): Promise<void> {
    await this.call("POST", `/api/devices/${encodeURIComponent(id)}/state`, { state, reason }, "PROVISION_GATEWAY");
  }
}
