// The MQTT topics of a device (SPEC.md R-TOP-1): the one place the firmware and the tools take them
// from. Espruino subset.

/** Where device `id` publishes: Hello, starts, chunks, seals, Status. */
export function upTopic(id: string): string {
  return "rec/" + id + "/up";
}

/** Where device `id` subscribes: Acks, beacons, Config, Commands, Revoke. */
export function downTopic(id: string): string {
  return "rec/" + id + "/down";
}
