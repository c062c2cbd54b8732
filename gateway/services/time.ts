// Times people type and read: ISO 8601 in, station-local or ISO with offset out.
import { GatewayError } from "../errors.js";
import { isoLocal, zoneOffsetMs } from "../../protocol/time.js";

export { isoLocal, zoneOffsetMs };

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * A time given as ms since the epoch (a number) or ISO 8601 text: with Z or an offset it is that
 * instant; without, it is the station's local time (a date alone: its local midnight).
 */
export function parseTime(v: unknown, field: string, timeZone: string): number {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) throw new GatewayError("BAD_TIME", `${field}: a time is ISO 8601, e.g. 2026-03-01T09:30+08:00; got ${v}`);
    return v;
  }
  const m = typeof v === "string" ? ISO.exec(v.trim()) : null;
  if (!m) throw new GatewayError("BAD_TIME", `${field}: a time is ISO 8601, e.g. 2026-03-01T09:30+08:00 or 2026-03-01 (local date, ${timeZone}); got ${JSON.stringify(v)}`);
  const [y, mo, d, h = "0", mi = "0", s = "0", ms = "0"] = m.slice(1, 8).map((x) => x ?? undefined) as string[];
  const wall = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, +ms.padEnd(3, "0"));
  const check = new Date(wall);
  if (check.getUTCFullYear() !== +y || check.getUTCMonth() !== +mo - 1 || check.getUTCDate() !== +d || +h > 23 || +mi > 59 || +s > 59) {
    throw new GatewayError("BAD_TIME", `${field}: ${JSON.stringify(v)} is not a real date and time`);
  }
  const zone = m[8];
  if (zone === "Z") return wall;
  if (zone) {
    const sign = zone[0] === "-" ? -1 : 1;
    const hh = Number(zone.slice(1, 3)), mm = Number(zone.replace(":", "").slice(3, 5));
    return wall - sign * (hh * 60 + mm) * 60000;
  }
  // Local wall time: the offset at that instant (twice, to settle across a change of offset).
  let t = wall - zoneOffsetMs(timeZone, wall);
  t = wall - zoneOffsetMs(timeZone, t);
  return t;
}

/**
 * The end of a period, as parseTime reads it, except that a date alone is the end of that day (the
 * next day's local midnight): "to 2026-03-07" takes in the 7th, as people mean it.
 */
export function parseEnd(v: unknown, field: string, timeZone: string): number {
  const t = parseTime(v, field, timeZone);
  if (typeof v !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(v.trim())) return t;
  const [y, m, d] = v.trim().split("-").map(Number);
  return parseTime(new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10), field, timeZone);
}

const TIME_KEY = /(Ms|At|_at|^at|^windowStart|^windowEnd|^lastSeen|Received|^from|^to)$/;

/**
 * A copy of a value where every time field (ms since the epoch, named …Ms, …At, windowStart, ...)
 * has its ISO 8601 twin in the station's offset beside it (`…Iso`): machines keep the ms, people
 * and spreadsheets read the twin.
 */
export function withIsoTimes<T>(v: T, timeZone: string, depth = 0): T {
  if (depth > 6 || v === null || typeof v !== "object" || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map((x) => withIsoTimes(x, timeZone, depth + 1)) as T;
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    o[k] = withIsoTimes(x, timeZone, depth + 1);
    if (typeof x === "number" && TIME_KEY.test(k) && Number.isSafeInteger(x) && x > 946684800000 && !(k + "Iso" in (v as object))) o[k + "Iso"] = isoLocal(x, timeZone);
  }
  return o as T;
}
