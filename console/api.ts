// The console's one way to the gateway: same-origin requests with the session cookie, the
// session's anti-forgery token on every change, errors as {code, message}; and the live stream.
import type { SentEvent } from "../protocol/gateway-api.js";
import { t } from "./i18n.js";

export interface Session {
  name: string; role: "admin" | "supervisor" | "legal_reviewer" | "officer"; officerBadge: string | null; csrf: string | null; timeZone: string;
  /** A station's gateway, or a region's office (the title says which). */
  gateway?: "station" | "region" | null;
}

/** Who the gateway lets link clips to cases and unlink them (an admin, a supervisor): the page offers it to no one else. */
export const mayLink = (s: Session): boolean => s.role === "admin" || s.role === "supervisor";

export class ApiError extends Error {
  constructor(public code: string, message: string, public status: number) { super(message); }
}

let csrf = "";
export const setCsrf = (c: string | null) => { csrf = c ?? ""; };
/** Called when the session has ended (another tab signed out, it expired): back to sign-in. */
let onEnded: () => void = () => undefined;
export const onSessionEnded = (f: () => void) => { onEnded = f; };

async function request(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["x-csrf-token"] = csrf;
  let r: Response;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  } catch {
    // No answer at all (the gateway restarting, the network down): said so, not as the browser's own words.
    throw new ApiError("GATEWAY_UNREACHABLE", t("unreachable"), 0);
  }
  if (!r.ok) {
    const j = (await r.json().catch(() => null)) as { error?: string; message?: string } | null;
    const e = new ApiError(j?.error ?? `HTTP_${r.status}`, j?.message ?? r.statusText, r.status);
    if (e.code === "SESSION_ENDED" && path !== "/api/session") onEnded();
    throw e;
  }
  return r;
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await request(method, path, body);
  return (r.status === 204 ? null : await r.json()) as T;
}
/** A page of a listing the gateway gives in pages, and the cursor of the next (null after the last: the x-next-cursor header). */
export async function apiPage<T>(path: string): Promise<{ rows: T[]; next: string | null }> {
  const r = await request("GET", path);
  return { rows: (await r.json()) as T[], next: r.headers.get("x-next-cursor") };
}
/** Every page of such a listing (for a view that needs the whole of it). */
export async function apiAll<T>(path: string): Promise<T[]> {
  const out: T[] = [];
  for (let next: string | null = null; ;) {
    const page: { rows: T[]; next: string | null } = await apiPage<T>(path + (path.includes("?") ? "&" : "?") + "limit=1000" + (next ? "&cursor=" + encodeURIComponent(next) : ""));
    out.push(...page.rows);
    if (!(next = page.next)) return out;
  }
}
/** The answer's bytes (media, an export's ZIP). */
export async function apiBytes(method: string, path: string, body?: unknown): Promise<{ bytes: ArrayBuffer; headers: Headers }> {
  const r = await request(method, path, body);
  return { bytes: await r.arrayBuffer(), headers: r.headers };
}
export const q = (o: Record<string, string | number | undefined | null>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
};

/** A live event as the stream sends it (protocol/gateway-api.ts). */
export type LiveEvent = SentEvent;

const listeners = new Set<(e: LiveEvent) => void>();
const stateListeners = new Set<(up: boolean) => void>();
let source: EventSource | null = null;
export let liveUp = false;

/** Open the live stream (after sign-in); EventSource reconnects by itself. */
export function startLive(): void {
  if (source) return;
  source = new EventSource("/api/events");
  source.onopen = () => { liveUp = true; for (const f of stateListeners) f(true); };
  source.onerror = () => { liveUp = false; for (const f of stateListeners) f(false); };
  // Each message is a batch of events (an array), in the order they happened.
  source.onmessage = (m) => {
    const evs = JSON.parse(m.data) as LiveEvent[] | LiveEvent;
    for (const ev of Array.isArray(evs) ? evs : [evs]) for (const f of listeners) f(ev);
  };
}
export function stopLive(): void {
  source?.close();
  source = null;
  liveUp = false;
}
export function onLive(f: (e: LiveEvent) => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}
export function onLiveState(f: (up: boolean) => void): () => void {
  stateListeners.add(f);
  return () => stateListeners.delete(f);
}
