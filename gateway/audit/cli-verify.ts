// What `admin audit verify` prints: one verdict line an admin can paste into a report (the head is
// what an outsider compares against later), then one line per problem with its code.
import type { VerifyResult } from "./log.js";

/** The lines `audit verify` prints for a verify() result; the first says OK or FAILED. */
export function formatVerify(r: VerifyResult): string[] {
  const anchor = r.checkpoint ? `last checkpoint at entry ${r.checkpoint.count}` : "no checkpoint";
  if (r.ok) return [`audit log OK: ${r.count} entries, head ${r.head} (${anchor})`];
  const n = r.problems.length;
  return [
    `audit log FAILED: ${n} problem${n === 1 ? "" : "s"} in ${r.count} entries, head ${r.head} (${anchor})`,
    ...r.problems.map((p) => `  ${p.code}${p.seq !== undefined ? ` at entry ${p.seq}` : ""}: ${p.detail}`),
  ];
}
