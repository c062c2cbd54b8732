// Instants as people read them in a station's time zone (an IANA name such as Asia/Shanghai):
// the zone's offset at an instant, ISO 8601 with that offset, and a plain "date time offset"
// line. Shared by the station (its reports and exports) and the offline verifier.

/** The offset of a zone from UTC at an instant, in ms. Throws RangeError for a zone Intl does not know. */
export function zoneOffsetMs(timeZone: string, atMs: number): number {
  const f = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const p: Record<string, number> = {};
  for (const x of f.formatToParts(atMs)) if (x.type !== "literal") p[x.type] = Number(x.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second) - Math.floor(atMs / 1000) * 1000;
}

/** An offset as +08:00. */
export function offsetText(offMs: number): string {
  const a = Math.abs(offMs) / 60000;
  return `${offMs < 0 ? "-" : "+"}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}

/** An instant as ISO 8601 with the zone's offset, e.g. 2026-03-01T09:30:00.000+08:00. */
export function isoLocal(ms: number, timeZone: string): string {
  const off = zoneOffsetMs(timeZone, ms);
  return new Date(ms + off).toISOString().slice(0, 23) + offsetText(off);
}

/** Whether Intl knows the zone. */
export function knownZone(timeZone: unknown): timeZone is string {
  if (typeof timeZone !== "string" || !timeZone) return false;
  try { zoneOffsetMs(timeZone, 0); return true; } catch { return false; }
}

/**
 * An instant as a person reads it: "2026-03-01 09:30:00 UTC+08:00", in the zone given (its offset at
 * that instant), or in UTC (UTC+00:00) when the zone is null or unknown: never without its offset.
 */
export function formatTime(ms: number, timeZone: string | null): string {
  const off = knownZone(timeZone) ? zoneOffsetMs(timeZone, ms) : 0;
  return `${new Date(ms + off).toISOString().slice(0, 19).replace("T", " ")} UTC${offsetText(off)}`;
}
