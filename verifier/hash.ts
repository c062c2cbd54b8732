// The verifier's SHA-256 helpers on Node: hex of one buffer, one digest over parts, and a digest
// run off the main thread (WebCrypto). The in-browser build swaps in the same three on @noble and
// the browser's Web Crypto (console/verify-shims/hash.ts).
import { createHash, webcrypto } from "node:crypto";
import { toHex } from "../protocol/bytes.js";

export const sha256hex = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

export function sha256Parts(parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** SHA-256 on the thread pool, as hex. */
export async function sha256hexAsync(b: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await webcrypto.subtle.digest("SHA-256", b)));
}
