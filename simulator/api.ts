// The gateway's admin API as the simulator uses it, like any outside tool: register devices, seed
// units, officers and cases, check devices out to officers, read recordings and alarms.

export class ApiError extends Error {
  constructor(public code: string, message: string) { super(`${code}: ${message}`); }
}

export class GatewayApi {
  constructor(private base: string, private token: string) {
    this.base = base.replace(/\/+$/, "");
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let r: Response;
    try {
      r = await fetch(this.base + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30000),
      });
    } catch (e) {
      const c = (e as { cause?: { code?: string } }).cause;
      throw new ApiError("SIM_GATEWAY_DOWN", `no answer from ${this.base}${path}: ${(c && c.code) || (e as Error).message}`);
    }
    const text = await r.text();
    let j: unknown = null;
    try { j = JSON.parse(text); } catch { j = text; }
    if (r.status === 401 || r.status === 403) throw new ApiError("SIM_GATEWAY_AUTH", `${method} ${path} refused the token (${r.status}); pass --token or --token-file`);
    if (!r.ok) throw new ApiError("SIM_GATEWAY", `${method} ${path}: ${r.status} ${typeof j === "object" && j ? JSON.stringify(j) : text}`);
    return j as T;
  }

  registerDevice(id: string, rootHex: string): Promise<unknown> {
    return this.call("POST", "/api/devices", { id, root: rootHex });
  }
  devices(): Promise<{ id: string; state: string }[]> {
    return this.call("GET", "/api/devices");
  }
  addUnit(name: string, level: string): Promise<{ id: number }> {
    return this.call("POST", "/api/units", { name, level });
  }
  units(): Promise<{ id: number; name: string }[]> {
    return this.call("GET", "/api/units");
  }
  addOfficer(o: Record<string, unknown>): Promise<unknown> {
    return this.call("POST", "/api/officers", o);
  }
  officers(): Promise<{ badge: string }[]> {
    return this.call("GET", "/api/officers");
  }
  addCase(c: Record<string, unknown>): Promise<unknown> {
    return this.call("POST", "/api/cases", c);
  }
  cases(): Promise<{ number: string }[]> {
    return this.call("GET", "/api/cases");
  }
  checkOut(device: string, badge: string): Promise<unknown> {
    return this.call("POST", "/api/assignments", { device, badge });
  }
  recordings(device?: string): Promise<RecordingRow[]> {
    return this.call("GET", "/api/recordings" + (device ? `?device=${encodeURIComponent(device)}` : ""));
  }
  alarms(): Promise<{ kind: string; subject: string }[]> {
    return this.call("GET", "/api/alarms");
  }
}

export interface RecordingRow {
  device: string;
  recording: number;
  verdict: string;
  final: number;
  chunks: number;
  bytes: number;
  interrupted: number;
  caseTag: string | null;
  officer?: string | null;
  cases?: string | null;
  reasons?: string;
}
