// The verifier's SHA-256 helpers in the browser (in place of verifier/hash.ts): @noble/hashes on
// this thread, Web Crypto's digest for the large files.
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex } from "../../protocol/bytes.js";

export const sha256hex = (b: Uint8Array): string => toHex(sha256(b));

export function sha256Parts(parts: Uint8Array[]): Uint8Array {
  const h = sha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

export async function sha256hexAsync(b: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>)));
}
