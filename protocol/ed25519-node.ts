// Ed25519 verification through node:crypto, for Node callers of note.ts (the gateway, the
// witness, the offline verifier). A browser passes any RFC 8032 implementation instead.
import { createPublicKey, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import type { Ed25519Verify } from "./note.js";

/** The KeyObject of a raw 32-byte Ed25519 public key. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError("an Ed25519 public key is 32 bytes");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") }, format: "jwk" });
}

/** RFC 8032 Ed25519 verification; false (never a throw) for a malformed key or signature. */
export const nodeEd25519Verify: Ed25519Verify = (publicKey, message, signature) => {
  try {
    return signature.length === 64 && verify(null, message, ed25519PublicKey(publicKey), signature);
  } catch {
    return false;
  }
};
