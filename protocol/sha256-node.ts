// The gateway's SHA-256 path: node:crypto (SPEC.md R-CRY-1).
import * as crypto from "node:crypto";
import type { Sha256 } from "./bytes.js";

const oneShot = (crypto as unknown as { hash?: (alg: string, data: Uint8Array, enc: "buffer") => Buffer }).hash;

// Digests come back as plain Uint8Arrays, not Buffers: Buffer.slice returns a view, so a "copy"
// made with slice and then wiped or flipped would change the original. Copying the 32 bytes is
// cheaper than reaching the Buffer's ArrayBuffer for a view (measured on Node 20).
/** SHA-256 through node:crypto; uses the one-shot crypto.hash where Node has it. */
export const nodeSha256: Sha256 = oneShot
  ? (data) => new Uint8Array(oneShot("sha256", data, "buffer"))
  : (data) => new Uint8Array(crypto.createHash("sha256").update(data).digest());
