// The pre-duty device check (the rules' device check before duty: battery, storage, clock): what a
// device's last Status says about taking it out now. Refusals stop a checkout (an admin may
// override with --force and a reason, audited); warnings go with it. A battery below the policy's
// minimum refuses; a battery the device cannot read (no sensor) does not: it is a warning,
// BATTERY_UNKNOWN, in the checkout's answer and its audit entry.
import type { Policy } from "../policy.js";
import { statusBatteryPct } from "../../protocol/status.js";

export interface StatusSeen {
  firmware?: string; batteryMv?: number; batteryPct?: number; storageFree?: number; clockOffsetMs?: number; alarm?: boolean; state?: number; lastError?: string; receivedAt?: number;
}

export interface CheckResult {
  /** Reason codes that refuse the checkout, with what was seen. */
  refuse: { code: string; message: string }[];
  warn: { code: string; message: string }[];
}

/** Judge a device's last Status (null: it never sent one) at `now` against the policy. */
export function preDutyCheck(st: StatusSeen | null, lastSeen: number | null, now: number, p: Policy["checkout"]): CheckResult {
  const r: CheckResult = { refuse: [], warn: [] };
  if (!st) {
    r.warn.push({ code: "NO_STATUS", message: "the device has never reported a Status: check battery, storage and clock by hand" });
    return r;
  }
  const at = st.receivedAt ?? lastSeen ?? 0;
  if (now - at > p.statusMaxAgeH * 3600e3) r.warn.push({ code: "STATUS_STALE", message: `its last Status is ${Math.round((now - at) / 3600e3)} h old: check it by hand` });
  if (st.alarm || st.state === 2) r.refuse.push({ code: "CHECKOUT_DEVICE_ALARM", message: `the device reports an alarm${st.lastError ? ` (${st.lastError})` : ""}: its storage holds unacknowledged evidence` });
  const pct = statusBatteryPct(st);
  if (pct === null) r.warn.push({ code: "BATTERY_UNKNOWN", message: "the device reports no battery reading (no battery sensor): check its charge by hand" });
  else if (pct < p.minBatteryPct) r.refuse.push({ code: "CHECKOUT_BATTERY", message: `battery ${pct} %, below ${p.minBatteryPct} %: charge it first` });
  else if (pct < p.warnBatteryPct) r.warn.push({ code: "BATTERY_LOW", message: `battery ${pct} %` });
  if (typeof st.storageFree === "number") {
    const mb = st.storageFree / 1048576;
    if (mb < p.minFreeMb) r.refuse.push({ code: "CHECKOUT_STORAGE", message: `${mb.toFixed(1)} MiB free, below ${p.minFreeMb} MiB: let it upload first` });
    else if (mb < p.warnFreeMb) r.warn.push({ code: "STORAGE_LOW", message: `${mb.toFixed(1)} MiB free` });
  }
  if (typeof st.clockOffsetMs === "number") {
    const off = Math.abs(st.clockOffsetMs);
    if (off > p.maxClockMs) r.refuse.push({ code: "CHECKOUT_CLOCK", message: `its clock is ${(off / 1000).toFixed(1)} s off, beyond ${(p.maxClockMs / 1000).toFixed(0)} s: let it take a beacon first` });
    else if (off > p.warnClockMs) r.warn.push({ code: "CLOCK_OFF", message: `its clock is ${(off / 1000).toFixed(1)} s off` });
  }
  if (p.firmware && st.firmware !== undefined && st.firmware !== p.firmware) r.refuse.push({ code: "CHECKOUT_FIRMWARE", message: `firmware ${st.firmware}, the station expects ${p.firmware}` });
  return r;
}
