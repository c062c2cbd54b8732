// The build's move of the minified bundle's top level to the global scope (firmware/build/global-scope.ts):
// the result behaves as the original, and none of its global names can hide a pin, a built-in or
// a REPL user's variable.
import { describe, expect, it } from "vitest";
import vm from "node:vm";
import { toGlobalScope } from "../../firmware/build/global-scope.js";

/** What a bundle text leaves in `out` when run as a script, and the globals it defined. */
const run = (text: string) => {
  const ctx: Record<string, unknown> = { out: [] as unknown[] };
  vm.runInNewContext(text, ctx);
  return { out: JSON.stringify(ctx.out), globals: Object.keys(ctx).filter((k) => k !== "out").sort() };
};

const BUNDLE = `(()=>{var x=2;let D2=5;const E1={a:1};function i(e){let x=e+1;return x*D2}var Y=class{constructor(){this.n=x}get(t){return t+E1.a}};` +
  `function f(t){return{x,D2,y:i(t),z:new Y().get(t)}}var $a=0;function g(){$a++;return $a+x}` +
  `out.push(f(3),g(),g(),typeof i,typeof E1,x.toString(16))})();`;

describe("the bundle's top level at the global scope", () => {
  it("behaves as the wrapped bundle, and defines only `$`- or `_`-names", () => {
    const r = toGlobalScope(BUNDLE);
    expect(r.text).not.toMatch(/^\(\(\)=>/);
    const before = run(BUNDLE), after = run(r.text);
    expect(after.out).toBe(before.out);
    expect(before.globals).toEqual([]);
    expect(after.globals.length).toBe(8);
    for (const name of after.globals) expect(name).toMatch(/^[$_][\w$]*$/);
    expect([...r.renames.keys()].sort()).toEqual(["$a", "D2", "E1", "Y", "f", "g", "i", "x"].sort());
  });

  it("keeps shorthand properties' names and inner locals, and makes top-level let and const into var", () => {
    const r = toGlobalScope(BUNDLE);
    const x = r.renames.get("x"), d2 = r.renames.get("D2");
    expect(r.text).toContain(`{x:${x},D2:${d2},`);
    expect(r.text).toContain("let x=e+1;return x*"); // a local that shadows a top-level name is left alone
    expect(r.text).not.toMatch(/^(let|const) /m);
    expect(r.text).not.toMatch(/[;}](let|const) \$/);
    // Loading it twice into one context (a REPL user evaluating the bundle again) does not throw.
    const ctx = { out: [] as unknown[] };
    vm.runInNewContext(r.text, ctx);
    expect(() => vm.runInNewContext(r.text, ctx)).not.toThrow();
  });

  it("never picks a name that an inner local would capture, nor a global the text uses", () => {
    // `a` is the most used name, so it would get `$`, but `f` declares a `$` around one of its
    // references; `_` is a global the text reads.
    const text = `(()=>{var a=1;function f($){return $+a}out.push(f(2),a,a,typeof _)})();`;
    const r = toGlobalScope(text);
    expect(r.renames.get("a")).not.toBe("$");
    expect(r.renames.get("a")).not.toBe("_");
    expect(run(r.text).out).toBe(run(text).out);
    expect(new Set(r.renames.values()).size).toBe(r.renames.size);
    expect(() => toGlobalScope("var x=1;")).toThrow(/not one/);
    expect(() => toGlobalScope("(()=>{var x=1})();var y=2;")).toThrow(/outside/);
  });
});
