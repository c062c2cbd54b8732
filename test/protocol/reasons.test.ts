// SPEC.md section 10 and protocol/reasons.ts are the same table, one for readers and one for code:
// a code added, moved to another rule or given another severity in one and not the other would
// have the gateway and a reader of the specification disagree on what a refusal means.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { REASONS } from "../../protocol/reasons.js";

function specTable(): Map<string, { severity: string; rule: string }> {
  const spec = readFileSync(new URL("../../protocol/SPEC.md", import.meta.url), "utf8");
  const from = spec.indexOf("\n## 10.");
  const section = spec.slice(from, spec.indexOf("\n## ", from + 1));
  const rows = new Map<string, { severity: string; rule: string }>();
  for (const line of section.split("\n")) {
    // A row may give several codes of one severity and rule, comma-separated.
    const m = /^\| ([A-Z0-9_, ]+) \| (\w+) \| (R-[A-Z]+-\d+) \|/.exec(line);
    if (m) for (const code of m[1].split(", ")) rows.set(code, { severity: m[2], rule: m[3] });
  }
  return rows;
}

describe("reason codes", () => {
  it("SPEC.md's table and reasons.ts list the same codes, each with the same severity and rule", () => {
    const spec = specTable();
    expect(spec.size).toBeGreaterThan(50);
    const code = Object.fromEntries(Object.entries(REASONS).map(([k, v]) => [k, { severity: v.severity, rule: v.rule }]));
    expect(Object.fromEntries(spec)).toEqual(code);
  });

  it("every rule a code cites is stated in SPEC.md", () => {
    const spec = readFileSync(new URL("../../protocol/SPEC.md", import.meta.url), "utf8");
    const missing = [...new Set(Object.values(REASONS).map((r) => r.rule))].filter((rule) => !new RegExp(`\\*\\*${rule}\\b`).test(spec));
    expect(missing).toEqual([]);
  });
});
