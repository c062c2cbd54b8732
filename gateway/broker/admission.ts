// Who may connect and what they may do (SPEC.md R-ADM, R-TOP): aedes hooks with a reason code
// on every refusal, logged and counted.
import type { Client } from "aedes";
import type { DeviceRegistry } from "../devices.js";
import type { Logger } from "../log.js";
import { ctEqual } from "../../protocol/bytes.js";

export const upTopic = (id: string) => `rec/${id}/up`;
export const downTopic = (id: string) => `rec/${id}/down`;

/** Refusals by reason code, for the API and the tests. */
export class Refusals {
  counts: { [code: string]: number } = {};
  constructor(private log: Logger, private counted?: (code: string) => void) {}
  note(code: string, fields: Record<string, unknown>): void {
    this.counts[code] = (this.counts[code] || 0) + 1;
    if (this.counted) this.counted(code);
    this.log.warn({ code, ...fields }, "refused");
  }
}

/** A token bucket per device (R-ADM-3). */
class Bucket {
  tokens: number;
  at = Date.now();
  constructor(private rate: number, private burst: number) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export function authError(code: string, returnCode: number): Error & { returnCode: number; code: string } {
  return Object.assign(new Error(code), { returnCode, code });
}

/** Install authenticate, authorizePublish and authorizeSubscribe on a broker. */
export function admission(registry: DeviceRegistry, refusals: Refusals, rate: { perSecond: number; burst: number }) {
  const buckets = new Map<string, Bucket>();
  const deviceOf = (c: Client | null) => (c ? (c as Client & { deviceId?: string }).deviceId : undefined);
  return {
    authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (e: (Error & { returnCode: number }) | null, ok: boolean | null) => void) {
      const id = username || "";
      registry.get(id).then((d) => {
        if (!d) { refusals.note("AUTH_UNKNOWN_DEVICE", { device: id, client: client.id }); return done(authError("AUTH_UNKNOWN_DEVICE", 5), false); }
        if (!password || !ctEqual(Buffer.from(d.password), password)) { refusals.note("AUTH_BAD_CREDENTIAL", { device: id }); return done(authError("AUTH_BAD_CREDENTIAL", 4), false); }
        // The client id is the device's own: its id, or its id, "/" and a suffix for a second
        // connection ("/" is outside R-ID-1, so no device can take another's id and with it the
        // other's live session: MQTT drops a session when a new one claims its client id).
        if (client.id !== id && !client.id.startsWith(id + "/")) {
          refusals.note("AUTH_CLIENT_ID", { device: id, client: client.id });
          return done(authError("AUTH_CLIENT_ID", 2), false);
        }
        if (d.state === "retired") { refusals.note("AUTH_DEVICE_STATE", { device: id, state: d.state }); return done(authError("AUTH_DEVICE_STATE", 5), false); }
        (client as Client & { deviceId?: string }).deviceId = id;
        done(null, true);
      }, (e) => {
        refusals.note("STORE_FAILED", { device: id, err: String(e) });
        done(authError("STORE_FAILED", 3), false);
      });
    },
    authorizePublish(client: Client | null, packet: { topic: string; qos: number; retain: boolean }, cb: (e?: Error | null) => void) {
      const id = deviceOf(client);
      if (!id) return cb(new Error("ACL_TOPIC"));
      if (packet.topic !== upTopic(id)) { refusals.note("ACL_TOPIC", { device: id, topic: packet.topic }); return cb(new Error("ACL_TOPIC")); }
      if (packet.qos > 1 || packet.retain) { refusals.note("ACL_QOS", { device: id, qos: packet.qos, retain: packet.retain }); return cb(new Error("ACL_QOS")); }
      let b = buckets.get(id);
      if (!b) buckets.set(id, (b = new Bucket(rate.perSecond, rate.burst)));
      if (!b.take()) { refusals.note("RATE_LIMITED", { device: id }); return cb(new Error("RATE_LIMITED")); }
      cb(null);
    },
    authorizeSubscribe(client: Client, sub: { topic: string; qos: number }, cb: (e: Error | null, s?: { topic: string; qos: number } | null) => void) {
      const id = deviceOf(client);
      if (!id || sub.topic !== downTopic(id)) { refusals.note("ACL_TOPIC", { device: id, topic: sub.topic, subscribe: true }); return cb(new Error("ACL_TOPIC")); }
      cb(null, { topic: sub.topic, qos: Math.min(1, sub.qos) });
    },
  };
}
