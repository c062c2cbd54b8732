// Ed25519 for the in-browser verifier, in place of protocol/ed25519-node.ts: @noble/curves, with
// RFC 8032's strict rules (as node:crypto applies them), not ZIP-215's lenient ones.
import { ed25519 } from "@noble/curves/ed25519.js";
import type { Ed25519Verify } from "../../protocol/note.js";

export const nodeEd25519Verify: Ed25519Verify = (publicKey, message, signature) => {
  try {
    return signature.length === 64 && publicKey.length === 32 && ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
};
