// The audit entry hash (protocol/audit-entry.ts), the one encoding the gateway's audit log chains
// its entries with and an offline verifier recomputes from an export: checked against the
// encoding as its definition states it, written here straight with node:crypto, and pinned by two
// known answers, since every stored log and every export made so far depends on it not changing.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { nodeSha256 as sha } from "../../protocol/sha256-node.js";
import { auditEntryHash } from "../../protocol/audit-entry.js";
import type { AuditEntryFields } from "../../protocol/audit-entry.js";

/** DOMAIN ‖ u64 seq ‖ u64 at ‖ str actor ‖ str action ‖ opt target ‖ opt reason ‖ opt details ‖ prev. */
function definition(e: AuditEntryFields): string {
  const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
  const str = (s: string) => { const body = Buffer.from(s, "utf8"); const n = Buffer.alloc(4); n.writeUInt32BE(body.length); return Buffer.concat([n, body]); };
  const opt = (s: string | null) => (s === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([1]), str(s)]));
  return createHash("sha256").update("evrec-audit-entry-v1\0").update(u64(e.seq)).update(u64(e.at)).update(str(e.actor)).update(str(e.action))
    .update(opt(e.target)).update(opt(e.reason)).update(opt(e.details)).update(Buffer.from(e.prev, "hex")).digest("hex");
}

const first: AuditEntryFields = { seq: 1, at: 1764979200000, actor: "admin", action: "officer.create", target: "officer:7", reason: null, details: '{"name":"李明"}', prev: "0".repeat(64) };
const odd: AuditEntryFields = { seq: 4294967297, at: 0, actor: "", action: "view", target: null, reason: "", details: null, prev: "ab".repeat(32) };

describe("the audit entry hash", () => {
  it("is the encoding its definition states, and has not changed", () => {
    expect(auditEntryHash(sha, first)).toBe(definition(first));
    expect(auditEntryHash(sha, odd)).toBe(definition(odd));
    expect(auditEntryHash(sha, first)).toBe("88ec695885ac7a2b933a25fecf2b75a50f84687f373d145714db5af139716b83");
    expect(auditEntryHash(sha, odd)).toBe("b0f080c7570c8cdaafef59246b6919a85254730fe1bbcee319115899e4af1e75");
  });

  it("changes with every field, tells an absent text from an empty one, and refuses a prev that is not a hash", () => {
    const base = auditEntryHash(sha, first);
    const changed: Partial<AuditEntryFields>[] = [{ seq: 2 }, { at: first.at + 1 }, { actor: "admin2" }, { action: "officer.update" }, { target: null }, { target: "" },
      { reason: "" }, { details: null }, { details: '{"name":"李"}' }, { prev: "1" + "0".repeat(63) }];
    const hashes = changed.map((c) => auditEntryHash(sha, { ...first, ...c }));
    expect(new Set([base, ...hashes]).size).toBe(changed.length + 1);
    // The lengths keep fields apart: moving a character from one text to the next is another entry.
    expect(auditEntryHash(sha, { ...first, actor: "admino", action: "fficer.create" })).not.toBe(base);
    expect(() => auditEntryHash(sha, { ...first, prev: "0".repeat(63) })).toThrow("prev is not 32 bytes of hex");
    expect(() => auditEntryHash(sha, { ...first, prev: "G".repeat(64) })).toThrow("prev is not 32 bytes of hex");
  });
});
