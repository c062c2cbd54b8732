// The gateway's admin HTTP API as outside tools use it (the provisioning tool, the simulator, the
// demo): a token, JSON in and out, the gateway's reason code in every refusal. One client for all
// of them; each tool names its own error codes and error type.

/** How a tool names what went wrong: unreachable, token refused, or a refusal with the gateway's code. */
export interface ApiErrorCodes {
  down: string;
  auth: string;
  refused: string;
}

/** The error a call throws unless the tool gives its own: `code` is the tool's, `gatewayCode` the gateway's reason. */
export class AdminApiError extends Error {
  constructor(public code: string, message: string, public status = 0, public gatewayCode = "") {
    super(`${code}: ${message}`);
  }
}

export interface AdminApiOptions {
  timeoutMs?: number;
  codes?: ApiErrorCodes;
  /** Build the tool's own error from a code and a message (default AdminApiError). */
  error?: (code: string, message: string, status: number, gatewayCode: string) => Error;
  /** Scrub a message from the gateway before it is shown (key material never reaches a screen). */
  redact?: (s: string) => string;
}

export interface RecordingRow {
  device: string;
  recording: number;
  verdict: string;
  final: boolean;
  chunks: number;
  bytes: number;
  interrupted: boolean;
  caseTag: string | null;
  officer?: string | null;
  cases?: string[] | string | null;
  reasons?: unknown;
}

export interface GatewayDevice { id: string; kind: string; state: string; lastSeen: number | null }
export interface GatewayUnit { id: number; parentId: number | null; name: string; level: string }

export class AdminApi {
  private base: string;
  private codes: ApiErrorCodes;
  constructor(base: string, private token: string, private o: AdminApiOptions = {}) {
    this.base = base.replace(/\/+$/, "");
    this.codes = o.codes ?? { down: "GATEWAY_DOWN", auth: "GATEWAY_AUTH", refused: "GATEWAY_REFUSED" };
  }

  private fail(code: string, message: string, status = 0, gatewayCode = ""): Error {
    return this.o.error ? this.o.error(code, message, status, gatewayCode) : new AdminApiError(code, message, status, gatewayCode);
  }

  private async fetch(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(this.base + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30000),
      });
    } catch (e) {
      // fetch's own message is "fetch failed"; the reason (ECONNREFUSED, a timeout) is in its cause.
      const c = (e as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
      const why = (c && (c.code || (c.errors && c.errors[0] && c.errors[0].code) || c.message)) || (e as Error).message;
      throw this.fail(this.codes.down, `the gateway at ${this.base} did not answer ${method} ${path}: ${why}`);
    }
  }

  /** One call; a refusal throws with the tool's code (or `failCode`) and the gateway's reason code in the message. */
  async call<T>(method: string, path: string, body?: unknown, failCode?: string): Promise<T> {
    return (await this.answer<T>(method, path, body, failCode)).body;
  }

  /** One call's answer with its headers (a listing in pages names its next page in x-next-cursor). */
  private async answer<T>(method: string, path: string, body?: unknown, failCode?: string): Promise<{ body: T; headers: Headers }> {
    const r = await this.fetch(method, path, body);
    const text = await r.text();
    let j: ({ error?: string; message?: string } & Record<string, unknown>) | unknown = null;
    try { j = JSON.parse(text); } catch { j = text; }
    const e = (j && typeof j === "object" ? j : {}) as { error?: string; message?: string };
    const red = this.o.redact ?? ((s: string) => s);
    if (r.status === 401 || r.status === 403) throw this.fail(this.codes.auth, `the gateway refused the token for ${method} ${path}: ${e.error || r.status} ${red(e.message || "")}`.trim(), r.status, e.error || "");
    if (!r.ok) throw this.fail(failCode ?? this.codes.refused, `the gateway refused ${method} ${path}: ${r.status} ${e.error || ""} ${red(e.message || (typeof j === "string" ? j : ""))}`.replace(/\s+/g, " ").trim(), r.status, e.error || "");
    return { body: j as T, headers: r.headers };
  }

  me(): Promise<{ name: string; role: string }> { return this.call("GET", "/api/me"); }
  devices(): Promise<GatewayDevice[]> { return this.call("GET", "/api/devices"); }
  registerDevice(id: string, rootHex: string, o: { chipSerial?: string; unit?: number } = {}, failCode?: string): Promise<unknown> {
    return this.call("POST", "/api/devices", { id, root: rootHex, ...(o.chipSerial !== undefined ? { chipSerial: o.chipSerial.slice(0, 64) } : {}), ...(o.unit !== undefined ? { unit: o.unit } : {}) }, failCode);
  }
  rekeyDevice(id: string, rootHex: string, reason: string, o: { chipSerial?: string; unit?: number } = {}, failCode?: string): Promise<unknown> {
    return this.call("POST", `/api/devices/${encodeURIComponent(id)}/rekey`, { root: rootHex, reason, ...(o.chipSerial !== undefined ? { chipSerial: o.chipSerial.slice(0, 64) } : {}), ...(o.unit !== undefined ? { unit: o.unit } : {}) }, failCode);
  }
  setDeviceState(id: string, state: string, reason: string): Promise<unknown> {
    return this.call("POST", `/api/devices/${encodeURIComponent(id)}/state`, { state, reason });
  }
  units(): Promise<GatewayUnit[]> { return this.call("GET", "/api/units"); }
  addUnit(name: string, level: string, parentId?: number): Promise<{ id: number }> {
    return this.call("POST", "/api/units", { name, level, ...(parentId !== undefined ? { parentId } : {}) });
  }
  officers(): Promise<{ badge: string }[]> { return this.call("GET", "/api/officers"); }
  addOfficer(o: Record<string, unknown>): Promise<unknown> { return this.call("POST", "/api/officers", o); }
  cases(): Promise<{ number: string }[]> { return this.call("GET", "/api/cases"); }
  addCase(c: Record<string, unknown>): Promise<unknown> { return this.call("POST", "/api/cases", c); }
  checkOut(device: string, badge: string): Promise<unknown> { return this.call("POST", "/api/assignments", { device, badge }); }
  /** Every recording the token's account may see (of one device), the listing's pages read in turn. */
  async recordings(device?: string): Promise<RecordingRow[]> {
    const out: RecordingRow[] = [];
    for (let next: string | null = null; ;) {
      const page: { body: RecordingRow[]; headers: Headers } = await this.answer<RecordingRow[]>("GET", "/api/recordings?limit=1000" + (device ? `&device=${encodeURIComponent(device)}` : "") + (next ? `&cursor=${encodeURIComponent(next)}` : ""));
      out.push(...page.body);
      if (!(next = page.headers.get("x-next-cursor"))) return out;
    }
  }
  alarms(): Promise<{ kind: string; subject: string }[]> { return this.call("GET", "/api/alarms"); }

  /** A recording's media, retrieved with a reason (audited by the gateway). */
  async media(device: string, recording: number, reason: string): Promise<Buffer> {
    const r = await this.fetch("GET", `/api/recordings/${encodeURIComponent(device)}/${recording}/media?reason=${encodeURIComponent(reason)}`);
    if (!r.ok) {
      const e = (await r.json().catch(() => ({}))) as { error?: string; message?: string };
      throw this.fail(r.status === 401 || r.status === 403 ? this.codes.auth : this.codes.refused, `media of ${device}/${recording}: ${r.status} ${e.error || ""} ${e.message || ""}`.trim(), r.status, e.error || "");
    }
    return Buffer.from(await r.arrayBuffer());
  }
}
