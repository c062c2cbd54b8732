// What a device's Status says, read one way by the gateway (its checkout rule, its CLI) and by its
// console: a fact about the message, so it lives with the protocol.

/**
 * The battery percent a Status reports, or null when it reports none. A device without a battery
 * sensor (the Linux interpreter, a board without a battery pin) sends neither battery field, and
 * proto3 reads an absent number as 0: 0 % with no millivolts is no reading, not a flat battery (a
 * real battery, however flat, reads some millivolts; the firmware too takes 0 mV as no reading).
 */
export function statusBatteryPct(st: { batteryMv?: unknown; batteryPct?: unknown }): number | null {
  if (typeof st.batteryPct !== "number") return null;
  return st.batteryPct === 0 && !st.batteryMv ? null : st.batteryPct;
}
