// The store owns the data: every SQL statement of the project's sources sits in gateway/store/,
// so a rule checked in a service can't be bypassed by a query written somewhere else.
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const ROOT = join(import.meta.dirname, "..", "..");
const PARTS = ["gateway", "simulator", "provision", "protocol", "witness", "firmware", "scripts", "client"];
const SQL = /\b(SELECT\s+(\*|DISTINCT\b|[a-z_][\w.]*\s*(,|\bAS\b|\bFROM\b))|INSERT\s+INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|CREATE\s+(TABLE|INDEX|UNIQUE\s+INDEX|TRIGGER|VIEW)\b|ALTER\s+TABLE\b|DROP\s+(TABLE|INDEX|TRIGGER)\b|PRAGMA\s+\w|SAVEPOINT\s+\w|ROLLBACK\b|BEGIN\s+(IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION)\b|WITH\s+RECURSIVE\b)/i;

function sources(dir: string, out: string[] = []): string[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return out; }
  for (const n of names) {
    if (n === "node_modules" || n.startsWith(".")) continue;
    const p = join(dir, n);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(n)) out.push(p);
  }
  return out;
}

/** The text of every string and template literal in a file, with its line. */
function literals(file: string): { line: number; text: string }[] {
  const src = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const out: { line: number; text: string }[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n)) {
      out.push({ line: src.getLineAndCharacterOfPosition(n.getStart()).line + 1, text: n.text });
    }
    n.forEachChild(visit);
  };
  visit(src);
  return out;
}

describe("where SQL lives", () => {
  it("finds SQL in string literals (the scan itself works)", () => {
    expect(SQL.test("SELECT id, name FROM units")).toBe(true);
    expect(SQL.test("UPDATE devices SET state = ?")).toBe(true);
    expect(SQL.test("select the unit to update")).toBe(false);
    expect(SQL.test("ROLLBACK TO item")).toBe(true);
  });

  it("has no SQL statement in any source file outside gateway/store/", () => {
    const found: string[] = [];
    let files = 0;
    for (const part of PARTS) {
      for (const f of sources(join(ROOT, part))) {
        const rel = relative(ROOT, f);
        if (rel.startsWith(join("gateway", "store") + "/")) continue;
        files++;
        for (const l of literals(f)) if (SQL.test(l.text)) found.push(`${rel}:${l.line}: ${l.text.trim().slice(0, 80)}`);
      }
    }
    expect(files).toBeGreaterThan(50);
    expect(found).toEqual([]);
  });
});
