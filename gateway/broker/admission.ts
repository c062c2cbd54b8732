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

/**
 * A refusal admission has logged and counted already. aedes hands the error back to the broker as
 * a client error (it ends the connection with it); the broker counts it no second time.
 */
export class Refused extends Error {
  readonly noted = true;
  constructor(readonly code: string, readonly returnCode?: number) {
    super(code);
  }
}

/** Was this error a refusal admission noted already? */
export const noted = (e: unknown): boolean => e instanceof Refused;

export function authError(code: string, returnCode: number): Error & { returnCode: number; code: string } {
  return new Refused(code, returnCode) as Refused & { returnCode: number };
}

/** Where a login is counted as one of its device's sessions (slots.ts). */
export interface Sessions {
  /** null: counted; else the client ids the device already holds at its limit (refuse this one). */
  claim(client: Client, device: string): string[] | null;
  readonly limit: number;
}

/** Install authenticate, authorizePublish and authorizeSubscribe on a broker. */
export function admission(registry: DeviceRegistry, refusals: Refusals, rate: { perSecond: number; burst: number }, sessions?: Sessions) {
  const buckets = new Map<string, Bucket>();
  const deviceOf = (c: Client | null) => (c ? (c as Client & { deviceId?: string }).deviceId : undefined);
  const remoteOf = (c: Client | null) => (c as unknown as { conn?: { remoteAddress?: string } } | null)?.conn?.remoteAddress;
  /** Refuse a publish or subscribe: logged and counted here, once. */
  const refuse = (code: string, fields: Record<string, unknown>) => {
    refusals.note(code, fields);
    return new Refused(code);
  };
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
        // Suffixed client ids are for a second connection beside the recorder's own (a tool, the
        // simulator's intruder, the tests' devices), not for holding the broker's slots: a few at
        // once per device (TOO_MANY_SESSIONS). "Server unavailable": the login is good, try later.
        const held = sessions ? sessions.claim(client, id) : null;
        if (held) {
          refusals.note("TOO_MANY_SESSIONS", { device: id, client: client.id, remote: remoteOf(client), sessions: held.length, limit: sessions!.limit, held: held.slice(0, 8) });
          return done(authError("TOO_MANY_SESSIONS", 3), false);
        }
        (client as Client & { deviceId?: string }).deviceId = id;
        done(null, true);
      }, (e) => {
        refusals.note("STORE_FAILED", { device: id, err: String(e) });
        done(authError("STORE_FAILED", 3), false);
      });
    },
    authorizePublish(client: Client | null, packet: { topic: string; qos: number; retain: boolean }, cb: (e?: Error | null) => void) {
      const id = deviceOf(client);
      const who = { device: id, client: client ? client.id : undefined };
      if (!id || packet.topic !== upTopic(id)) return cb(refuse("ACL_TOPIC", { ...who, topic: packet.topic }));
      if (packet.qos > 1 || packet.retain) return cb(refuse("ACL_QOS", { ...who, qos: packet.qos, retain: packet.retain }));
      let b = buckets.get(id);
      if (!b) buckets.set(id, (b = new Bucket(rate.perSecond, rate.burst)));
      if (!b.take()) return cb(refuse("RATE_LIMITED", who));
      cb(null);
    },
    authorizeSubscribe(client: Client, sub: { topic: string; qos: number }, cb: (e: Error | null, s?: { topic: string; qos: number } | null) => void) {
      const id = deviceOf(client);
      if (!id || sub.topic !== downTopic(id)) return cb(refuse("ACL_TOPIC", { device: id, client: client.id, topic: sub.topic, subscribe: true }));
      // Downlinks go at QoS 1 (R-TOP-3): a QoS 2 subscription is granted QoS 1, as MQTT 3.1.1 §3.8.4
      // lets a server grant less than asked; the SUBACK says 1 (server.ts, grantQos).
      cb(null, { topic: sub.topic, qos: Math.min(1, sub.qos) });
    },
  };
}
