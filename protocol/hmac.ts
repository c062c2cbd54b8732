// HMAC-SHA256 (RFC 2104) on an injected one-shot SHA-256, Espruino subset.
// Written by hand because the board has only one-shot SHA256 and no HMAC; the pads are
// built once per key, so each MAC costs two native hashes and two copies (SPEC.md R-CRY-3).
import type { Sha256 } from "./bytes.js";
import { wipe } from "./bytes.js";

const BLOCK = 64;

/** An HMAC-SHA256 key with its pads precomputed. Call destroy() to wipe them. */
export class Hmac {
  sha: Sha256;
  ipad: Uint8Array;
  opad: Uint8Array;
  outer: Uint8Array;
  constructor(sha: Sha256, key: Uint8Array) {
    this.sha = sha;
    let k = key;
    if (k.length > BLOCK) k = sha(k);
    this.ipad = new Uint8Array(BLOCK);
    this.opad = new Uint8Array(BLOCK);
    this.ipad.set(k);
    this.opad.set(k);
    if (k !== key) wipe(k);
    // Word-sized XOR would be faster on a board, but this runs once per key.
    for (let i = 0; i < BLOCK; i++) {
      this.ipad[i] ^= 0x36;
      this.opad[i] ^= 0x5c;
    }
    this.outer = new Uint8Array(BLOCK + 32);
    this.outer.set(this.opad);
  }
  /** HMAC over the concatenation of parts. */
  mac(parts: Uint8Array[]): Uint8Array {
    let n = BLOCK;
    for (let i = 0; i < parts.length; i++) n += parts[i].length;
    const inner = new Uint8Array(n);
    inner.set(this.ipad);
    let o = BLOCK;
    for (let i = 0; i < parts.length; i++) {
      inner.set(parts[i], o);
      o += parts[i].length;
    }
    const ih = this.sha(inner);
    this.outer.set(ih, BLOCK);
    const out = this.sha(this.outer);
    wipe(ih);
    this.outer.fill(0, BLOCK);
    return out;
  }
  /** Wipe the key pads. The object must not be used afterwards. */
  destroy(): void {
    wipe(this.ipad);
    wipe(this.opad);
    wipe(this.outer);
  }
}

/** One-off HMAC-SHA256(key, message). */
export function hmacSha256(sha: Sha256, key: Uint8Array, msg: Uint8Array): Uint8Array {
  const h = new Hmac(sha, key);
  const out = h.mac([msg]);
  h.destroy();
  return out;
}
