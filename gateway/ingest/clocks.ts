// What the station can vouch for about a device's times (DESIGN.md section 5, SPEC.md R-TIME):
// a device's clock drifts and resets, and its times are its own claims. A chunk or genesis that
// carries a beacon's nonce was made after that beacon was sent; its receipt bounds it from above;
// the device's clock offset (from its Status, or estimated at its Hello) corrects it. A clip is
// attributed (officer, room) at its corrected start, clamped into those bounds; a time outside them
// is flagged, and the flag raises an alarm, so no clip moves to another officer silently.

/** Beacons remembered per device, and devices remembered. */
const BEACONS_PER_DEVICE = 64;
const MAX_DEVICES = 20000;
/** Slack for transit and the device's clock granularity. */
const TOLERANCE_MS = 5000;
/** A chunk longer than this is not one any recorder makes (a board's chunk is seconds of media). */
const MAX_CHUNK_DURATION_MS = 10 * 60 * 1000;

const iso = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

interface Clock { offsetMs: number | null; beacons: Map<string, number> }

export class DeviceClocks {
  private devices = new Map<string, Clock>();

  private of(device: string): Clock {
    let c = this.devices.get(device);
    if (c) {
      this.devices.delete(device);
    } else {
      c = { offsetMs: null, beacons: new Map() };
      if (this.devices.size >= MAX_DEVICES) this.devices.delete(this.devices.keys().next().value as string);
    }
    this.devices.set(device, c);
    return c;
  }

  beaconSent(device: string, nonce: Uint8Array, atMs: number): void {
    const b = this.of(device).beacons;
    b.set(hex(nonce), atMs);
    if (b.size > BEACONS_PER_DEVICE) b.delete(b.keys().next().value as string);
  }

  /** Gateway − device, measured by the device from beacons (R-MSG-7): the best estimate. */
  offset(device: string, offsetMs: number): void {
    this.of(device).offsetMs = offsetMs;
  }

  /** A Hello's device time against its receipt: an estimate until the device reports its own. */
  helloAt(device: string, deviceTimeMs: number, receivedMs: number): void {
    const c = this.of(device);
    if (c.offsetMs === null) c.offsetMs = receivedMs - deviceTimeMs;
  }

  private corrected(device: string, deviceMs: number): number {
    const c = this.devices.get(device);
    return deviceMs + (c && c.offsetMs !== null ? c.offsetMs : 0);
  }

  /** When a recording started in station time, and why that differs from the device's claim, if it does. */
  startAt(device: string, startMs: number, beacon: Uint8Array, receivedMs: number): { atMs: number; flag: string | null; beaconSentMs: number | null } {
    const at = this.corrected(device, startMs);
    const c = this.devices.get(device);
    const sent = c && beacon.some((x) => x !== 0) ? c.beacons.get(hex(beacon)) : undefined;
    const beaconSentMs = sent === undefined ? null : sent;
    if (at > receivedMs + TOLERANCE_MS) return { atMs: receivedMs, flag: `start ${iso(at)} (device time corrected by its clock offset) is after the start reached the station at ${iso(receivedMs)}`, beaconSentMs };
    if (sent !== undefined && at < sent - TOLERANCE_MS) return { atMs: sent, flag: `start ${iso(at)} (device time corrected by its clock offset) is before the time beacon its genesis carries was sent at ${iso(sent)}`, beaconSentMs };
    return { atMs: at, flag: null, beaconSentMs };
  }

  /** A chunk whose time lies in the future of its receipt, or whose duration no recorder makes. */
  chunkFlag(device: string, seq: number, timeMs: number, durationMs: number, receivedMs: number): string | null {
    const at = this.corrected(device, timeMs);
    if (at > receivedMs + TOLERANCE_MS) return `chunk ${seq} starts at ${iso(at)}, after it reached the station at ${iso(receivedMs)}`;
    if (durationMs > MAX_CHUNK_DURATION_MS) return `chunk ${seq} claims ${Math.round(durationMs / 1000)} s of media`;
    return null;
  }
}
