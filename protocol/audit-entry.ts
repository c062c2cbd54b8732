// The audit log's entry hash (the gateway's audit log, RULES.md P6), as an offline verifier
// recomputes it: an export discloses the audit entries of its custody events, and the log's
// custody leaves commit to their hashes (SPEC.md R-LOG-4). SHA-256 injected; no Buffer.
import type { Sha256 } from "./bytes.js";
import { concat, fromHex, setU64, toHex, utf8 } from "./bytes.js";

/** An audit entry as stored: `details` is the canonical JSON text that was hashed, or null. */
export interface AuditEntryFields {
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  details: string | null;
  /** The previous entry's hash (64 hex digits; zeros for the first). */
  prev: string;
}

const DOMAIN = utf8("evrec-audit-entry-v1\0");

/** n as 8 bytes, big-endian (bytes.ts setU64). */
function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  setU64(new DataView(b.buffer), 0, n);
  return b;
}

function str(s: string): Uint8Array {
  const body = utf8(s);
  return concat([u64(body.length).subarray(4), body]);
}

// Null and "" hash differently: a presence byte before optional strings.
function optStr(s: string | null): Uint8Array {
  return s === null ? new Uint8Array([0]) : concat([new Uint8Array([1]), str(s)]);
}

/**
 * SHA-256 of DOMAIN ‖ u64 seq ‖ u64 at ‖ str actor ‖ str action ‖ opt target ‖ opt reason ‖
 * opt details ‖ prev (32 bytes), str being a u32 length and the UTF-8 bytes: lowercase hex.
 */
export function auditEntryHash(sha: Sha256, e: AuditEntryFields): string {
  if (!/^[0-9a-f]{64}$/.test(e.prev)) throw new Error("prev is not 32 bytes of hex");
  return toHex(sha(concat([DOMAIN, u64(e.seq), u64(e.at), str(e.actor), str(e.action), optStr(e.target), optStr(e.reason), optStr(e.details), fromHex(e.prev)])));
}
