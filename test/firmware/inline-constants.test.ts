// The build's inlining of the minified bundle's numeric constants (firmware/build/inline-constants.ts):
// the inlined text behaves as the original, names that are not constants are left alone.
import { describe, expect, it } from "vitest";
import vm from "node:vm";
import { inlineConstants } from "../../firmware/build/inline-constants.js";

/** What a bundle text leaves in `out` when run. */
const run = (text: string) => {
  const ctx = { out: [] as unknown[] };
  vm.runInNewContext(text, ctx);
  return JSON.stringify(ctx.out);
};

const BUNDLE = `(()=>{var p=32,q=7,w=1e3;var m=16,k="s";var c=0;var Y=class{constructor(){this.n=p+m}get(t){let p=t;return p+q}};` +
  `function f(t){return{p,w,k:t.toString(m),x:p.toString(16)}}function g(){c++;return c}` +
  `for(var i in {a:1})out.push(i);out.push(new Y().n,new Y().get(5),f(255),g(),g(),typeof p,q*w)})();`;

describe("inlining the bundle's numeric constants", () => {
  it("replaces references to numeric constants and drops their declarations; the text behaves the same", () => {
    const r = inlineConstants(BUNDLE, 100);
    expect(run(r.text)).toBe(run(BUNDLE));
    expect(r.inlined.sort()).toEqual(["m", "p", "q", "w"]);
    expect(r.text).not.toMatch(/var p=/);
    expect(r.text).toContain("{p:32,w:1e3,"); // shorthand properties keep their names
    expect(r.text).toContain("(32).toString(16)"); // a member access on a literal needs parentheses
  });

  it("leaves alone a local of the same name, a constant that is assigned, strings, and the loop variable", () => {
    const r = inlineConstants(BUNDLE, 100);
    expect(r.text).toContain("let p=t;return p+7");
    expect(r.text).toContain("var c=0;");
    expect(r.text).toContain('k="s"');
    expect(r.text).toContain("for(var i in");
  });

  it("inlines only where the text grows by at most the slack", () => {
    const text = `(()=>{var B=65536;out.push(B,B,B,B,B,B)})();`;
    expect(inlineConstants(text, 0).inlined).toEqual([]);
    const all = inlineConstants(text, 100);
    expect(all.inlined).toEqual(["B"]);
    expect(run(all.text)).toBe(run(text));
    expect(() => inlineConstants("var x=1;")).toThrow(/not one/);
  });
});
