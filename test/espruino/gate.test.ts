// The interpreter-free Espruino gate (scripts/espruino-gate.mjs): it passes the real protocol subset
// and refuses small samples of what the interpreter lacks, naming the file, line and rule.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatFinding, gate, lintSource } from "../../scripts/espruino-gate.mjs";

const dir = mkdtempSync(join(tmpdir(), "espruino-gate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Write a sample entry and return the gate's error lines for it. */
async function refused(name: string, text: string): Promise<string[]> {
  const file = join(dir, name);
  writeFileSync(file, text);
  const r = await gate([file]);
  expect(r.ok).toBe(false);
  return r.errors.map(formatFinding);
}

describe("espruino gate", () => {
  it("passes the Espruino-subset protocol files and bundles them", async () => {
    const r = await gate();
    expect(r.errors.map(formatFinding)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.bundles).toHaveLength(1);
    // Every protocol file must be in the checked bundle, so none escapes the bundle scan.
    for (const f of ["bytes", "hmac", "constants", "blocks", "chain", "writer", "downlink", "codec", "schema"])
      expect(r.bundles[0].code).toContain("// protocol/" + f + ".ts");
  });

  it("refuses destructuring", async () => {
    const f = join(dir, "destructuring.ts");
    const errs = await refused("destructuring.ts", "const o = { a: 1 };\nconst { a } = o;\nconsole.log(a);\n");
    expect(errs).toContain(f + ":2:7: error [destructuring] destructuring is missing on Espruino: read the fields one by one");
    // esbuild's own refusal comes through too.
    expect(errs.some((e) => e.startsWith(f + ":2:7: error [esbuild] Transforming destructuring"))).toBe(true);
  });

  it("refuses Map", async () => {
    const errs = await refused("map.ts", "const m = new Map<string, number>();\nm.set(\"a\", 1);\n");
    expect(errs).toEqual([join(dir, "map.ts") + ":1:15: error [missing-global] Map: missing on Espruino: use an object with string keys"]);
  });

  it("refuses ?.", async () => {
    const errs = await refused("optional.ts", "const o: { a?: { b: number } } = {};\nconsole.log(o.a?.b);\n");
    expect(errs).toEqual([join(dir, "optional.ts") + ":2:13: error [optional-chain] `?.` is a SyntaxError on Espruino: test the value first"]);
  });

  it("refuses a nested function declaration", async () => {
    const errs = await refused("nested.ts", "export function outer(): number {\n  return inner();\n  function inner() { return 1; }\n}\n");
    expect(errs).toEqual([join(dir, "nested.ts") + ":3:3: error [nested-function] function declarations inside a function or block are not hoisted on Espruino: use a top-level function or `const f = function () {}` before its use"]);
  });

  it("refuses default parameters", async () => {
    const f = join(dir, "default.ts");
    const errs = await refused("default.ts", "export function f(a: number, b = 2): number {\n  return a + b;\n}\n");
    expect(errs).toContain(f + ":1:30: error [default-parameter] default parameters are a SyntaxError on Espruino: test for undefined in the body");
  });

  it("scans the bundle for shapes esbuild emits that the interpreter cannot run", () => {
    const named = lintSource("b.js", "var B = class A { m() { return A; } };\n", "bundle").map(formatFinding);
    expect(named).toEqual(["b.js:1:9: error [named-class-expression] a named class expression cannot see its own name on Espruino (esbuild emits these for classes with static members)"]);
    const ext = lintSource("b.js", "var B = (function (_super) { __extends(B, _super); })(A);\n", "bundle").map(formatFinding);
    expect(ext).toEqual(["b.js:1:30: error [esbuild-helper] __extends: TypeScript's ES5 class helper fails on Espruino"]);
  });

  it("exits 1 from the command line, naming file:line and the rule", () => {
    const file = join(dir, "cli.ts");
    writeFileSync(file, "const s = new Set<number>();\nconsole.log(s);\n");
    const script = fileURLToPath(new URL("../../scripts/espruino-gate.mjs", import.meta.url));
    const r = spawnSync(process.execPath, [script, file], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(file + ":1:15: error [missing-global] Set: missing on Espruino");
    expect(r.stderr).toContain("espruino-gate: FAILED with 1 error(s)");
  });
});
