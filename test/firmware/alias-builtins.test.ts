// The build's short aliases for built-in constructors (firmware/build/alias-builtins.ts), and the names
// the minifier gives the firmware's own properties (propName, firmware/build/mangle.ts): the
// rewritten text behaves as the original, and what is not the global is left alone.
import { describe, expect, it } from "vitest";
import vm from "node:vm";
import { aliasBuiltins } from "../../firmware/build/alias-builtins.js";
import { propName } from "../../firmware/build/build.js";
import { toGlobalScope } from "../../firmware/build/global-scope.js";

/** What a bundle text leaves in `out` when run. */
const run = (text: string) => {
  const ctx = { out: [] as unknown[], Uint8Array, DataView, ArrayBuffer };
  vm.runInNewContext(text, ctx);
  return JSON.stringify(ctx.out);
};

const uses = (n: number) => Array.from({ length: n }, (_, i) => `new Uint8Array(${i + 1}).length`).join(",");
const BUNDLE = `(()=>{function f(t){return new Uint8Array(t)}var o={Uint8Array:1};` +
  `function g(Uint8Array){return Uint8Array+1}class K{Uint8Array(){return 2}}` +
  `out.push(${uses(6)},f(3) instanceof Uint8Array,o.Uint8Array,g(4),new K().Uint8Array(),new DataView(new ArrayBuffer(4)).byteLength)})();`;

describe("aliasing the bundle's most used built-in constructors", () => {
  it("points every reference to the global at one alias declared first; the text behaves the same", () => {
    const r = aliasBuiltins(BUNDLE);
    expect(r.aliased).toEqual({ Uint8Array: 8 });
    expect(r.text.startsWith("(()=>{var __Uint8Array=Uint8Array;function f(t){return new __Uint8Array(t)}")).toBe(true);
    expect(run(r.text)).toBe(run(BUNDLE));
  });

  it("leaves alone property names, methods, a parameter of the same name, and a name used too seldom to pay", () => {
    const r = aliasBuiltins(BUNDLE);
    expect(r.text).toContain("{Uint8Array:1}");
    expect(r.text).toContain("o.Uint8Array");
    expect(r.text).toContain("function g(Uint8Array){return Uint8Array+1}");
    expect(r.text).toContain("Uint8Array(){return 2}");
    expect(r.text).toContain("new DataView("); // once: an alias would cost more than it saves
  });

  it("the alias becomes one of the shortest globals once the bundle is at the global scope, and still behaves the same", () => {
    const g = toGlobalScope(aliasBuiltins(BUNDLE).text);
    const alias = g.renames.get("__Uint8Array") as string;
    expect(alias.length).toBeLessThanOrEqual(2);
    expect(g.text).toContain(`var ${alias}=Uint8Array`);
    expect(run(g.text)).toBe(run(BUNDLE));
  });
});

describe("the minifier's names for the firmware's own properties", () => {
  it("are all different, one or two characters after `_` or `$`, the first 128 of them one", () => {
    const names = Array.from({ length: 2000 }, (_, i) => propName(i));
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[_$][0-9A-Za-z_$]{1,2}$/);
    expect(names.slice(0, 128).every((n) => n.length === 2)).toBe(true);
    expect(names[128].length).toBe(3);
    // Never a name a built-in object has: no such name starts with `_` or `$` (`__proto__` is longer).
    for (const n of names) for (const b of [Object.prototype, Array.prototype, Uint8Array.prototype, String.prototype, Function.prototype]) expect(n in b).toBe(false);
  });
});
