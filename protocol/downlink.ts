// Downlink MACs and uplink control tags (SPEC.md R-DL, R-CTL). Espruino subset.
// HMAC-SHA256 here, not the keyed hash of chunk tags, because these inputs vary in length.
import type { Sha256 } from "./bytes.js";
import { copyBytes, ctEqual, hashedEqual, u32be } from "./bytes.js";
import { Hmac } from "./hmac.js";
import { D_CONTROL, D_DOWNLINK, NONCE_LEN, TAG_LEN } from "./constants.js";

/** MAC = HMAC-SHA256(K_down, D_DOWNLINK ‖ device16 ‖ nonce16 ‖ u32be(counter) ‖ body) (R-DL-2). */
export function downlinkMac(h: Hmac, deviceId: Uint8Array, nonce: Uint8Array, counter: number, body: Uint8Array): Uint8Array {
  return h.mac([D_DOWNLINK, deviceId, nonce, u32be(counter), body]);
}

/** Control tag = HMAC-SHA256(K_ctl, D_CONTROL ‖ u8(kind) ‖ device16 ‖ body) (R-CTL-2). */
export function controlTag(h: Hmac, kind: number, deviceId: Uint8Array, body: Uint8Array): Uint8Array {
  const k = new Uint8Array(1);
  k[0] = kind;
  return h.mac([D_CONTROL, k, deviceId, body]);
}

/** The gateway's side of one connection's downlink: counter from 1, MAC on every message (R-DL-3). */
export class DownlinkSigner {
  h: Hmac;
  deviceId: Uint8Array;
  nonce: Uint8Array;
  counter: number;
  constructor(sha: Sha256, key: Uint8Array, deviceId: Uint8Array, helloNonce: Uint8Array) {
    if (helloNonce.length !== NONCE_LEN) throw new Error("hello nonce must be " + NONCE_LEN + " bytes");
    this.h = new Hmac(sha, key);
    this.deviceId = deviceId;
    this.nonce = copyBytes(helloNonce);
    this.counter = 0;
  }
  /** Next counter and MAC for an encoded DownBody. */
  sign(body: Uint8Array): { counter: number; mac: Uint8Array } {
    this.counter++;
    return { counter: this.counter, mac: downlinkMac(this.h, this.deviceId, this.nonce, this.counter, body) };
  }
  destroy(): void {
    this.h.destroy();
  }
}

/** Result codes of DownlinkGuard.check (reasons.ts). Empty string: accepted. */
export const DL_OK = "";

/**
 * The device's side: accepts a downlink message only with a valid MAC under this connection's
 * Hello nonce and a counter above the last accepted one (R-DL-4, R-DL-5). Nothing is freed or
 * obeyed otherwise; rejections are counted for Status.
 */
export class DownlinkGuard {
  h: Hmac;
  deviceId: Uint8Array;
  nonce: Uint8Array | null;
  last: number;
  rejected: number;
  constructor(sha: Sha256, key: Uint8Array, deviceId: Uint8Array) {
    this.h = new Hmac(sha, key);
    this.deviceId = deviceId;
    this.nonce = null;
    this.last = 0;
    this.rejected = 0;
  }
  /** Start a connection's session with the nonce just sent in Hello. */
  open(nonce: Uint8Array): void {
    this.nonce = copyBytes(nonce);
    this.last = 0;
  }
  /** End the session: nothing is accepted until the next Hello. */
  close(): void {
    this.nonce = null;
  }
  /** "" when the message is authentic and fresh, else a reason code. */
  check(counter: number, body: Uint8Array, mac: Uint8Array): string {
    let code = DL_OK;
    if (!this.nonce) code = "DOWNLINK_NO_SESSION";
    else if (mac.length !== TAG_LEN || !hashedEqual(this.h.sha, downlinkMac(this.h, this.deviceId, this.nonce, counter, body), mac)) code = "DOWNLINK_MAC";
    else if (!(counter > this.last) || counter > 4294967295) code = "DOWNLINK_REPLAY";
    if (code) this.rejected++;
    else this.last = counter;
    return code;
  }
}

/** Tag an encoded Hello or Status body with the control key (R-CTL-2). */
export function tagControl(sha: Sha256, key: Uint8Array, kind: number, deviceId: Uint8Array, body: Uint8Array): Uint8Array {
  const h = new Hmac(sha, key);
  const t = controlTag(h, kind, deviceId, body);
  h.destroy();
  return t;
}

/** Check a control tag in constant time. */
export function checkControl(sha: Sha256, key: Uint8Array, kind: number, deviceId: Uint8Array, body: Uint8Array, tag: Uint8Array): boolean {
  return tag.length === TAG_LEN && ctEqual(tagControl(sha, key, kind, deviceId, body), tag);
}

