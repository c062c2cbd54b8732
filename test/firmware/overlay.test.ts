// The build's overlays (firmware/build/overlay.ts): top-level functions and private methods kept as text
// in a comment at the end of the bundle and made into functions on first call. The result behaves
// as the original; what can't safely become an overlay stays a function. On the interpreter, the
// firmware lane runs the real bundle this way (test/firmware/lane.test.ts).
import { describe, expect, it } from "vitest";
import vm from "node:vm";
import { OVERLAY_FILE, overlayFinish, overlayPrepare } from "../../firmware/build/overlay.js";
import { BUNDLE_FILE } from "../../provision/device.js";
import { toGlobalScope } from "../../firmware/build/global-scope.js";
import { RECORDING_STATE, buildFirmware } from "../../firmware/build/build.js";
import { REC_RECORDING } from "../../protocol/schema.js";

// `_a` and `_b` are private methods (mangled names); `_c` is also an object's key, so it stays;
// `keep` is passed as a value, so it stays; `twice` calls itself through an overlay. The calls run in
// `go`, after the load, as the firmware's run after its boot line (see "runs while the bundle loads").
const BUNDLE = `(()=>{var n=3;function add(a,b){return a+b+n}function keep(x){return x*2}function twice(k,x){return k?twice(k-1,x*2):x}` +
  `var K=class{constructor(v){this.v=v}_a(t){return add(this.v,t)+this._b()}_b(){return this.v*10}_c(){return 1}get(t){return this._a(t)}};` +
  `var o={_c:5};var k=new K(4);` +
  `go=function(){out.push(k.get(1),new K(2)._a(add(1,1)),[1,2].map(keep),twice(3,1),k._c(),o._c,typeof keep)}})();`;

/** The three build steps, as firmware/build/build.ts runs them. */
const build = (text: string) => {
  const pre = overlayPrepare(text);
  const g = toGlobalScope(pre.text);
  return { ...overlayFinish(g.text), pre, cache: g.renames.get("__ovlCache") as string, renames: g.renames };
};

/** What a text leaves in `out`, run as a script and then its `go`; RECORDER_TEXT is the text itself, as the node engine passes it. */
const run = (text: string, withText = true) => {
  const ctx: Record<string, unknown> = { out: [] as unknown[], ...(withText ? { RECORDER_TEXT: text } : {}) };
  vm.runInNewContext(text, ctx);
  if (typeof ctx.go === "function") (ctx.go as () => void)();
  return { out: JSON.stringify(ctx.out), ctx };
};

describe("overlays: functions kept as text and made on first call", () => {
  it("behave as the original; functions used as values and names shared with other properties stay functions", () => {
    const b = build(BUNDLE);
    expect(b.pre.functions).toBe(2); // add, twice
    expect(b.pre.methods).toBe(2); // _a, _b
    expect(run(b.text).out).toBe(run(BUNDLE).out);
    // As on a board: no text in RAM, each record read from Storage by offset and made with Function().
    const reads: number[][] = [];
    const board = { out: [] as unknown[], require: () => ({ read: (f: string, o: number, n: number) => { reads.push([o, n]); return f === "rec.js" ? b.text.substr(o, n) : undefined; } }) };
    vm.runInNewContext(b.text, board);
    vm.runInNewContext("go()", board);
    expect(JSON.stringify(board.out)).toBe(run(BUNDLE).out);
    expect(Math.max(...reads.map(([, n]) => n))).toBeLessThan(60); // the record only, never the whole text
    const [code, comment] = [b.text.slice(0, b.text.lastIndexOf("/*")), b.text.slice(b.text.lastIndexOf("/*"))];
    expect(code).toContain("function"); // keep, and the loader
    expect(code).not.toContain("a+b+"); // add's body is only in the comment
    expect(code).not.toContain("*10");
    expect(comment.slice(2, comment.lastIndexOf("*/")).split("\n").length - 1).toBe(4); // one record per line
    expect(comment).toMatch(/\n(\w+)\{return \1\.v\*10\}\n/); // `this` became the record's first parameter
  });

  it("a method's `this` inside an arrow function is its receiver too", () => {
    const src = `(()=>{var K=class{constructor(v){this.v=v}_d(t){return [t].map((x)=>x+this.v)[0]}get(t){return this._d(t)}};go=function(){out.push(new K(40).get(2))}})();`;
    const b = build(src);
    expect(b.pre.methods).toBe(1);
    expect(run(b.text).out).toBe("[42]");
    expect(run(b.text).out).toBe(run(src).out);
  });

  it("a method whose mangled name is also a variable's (the minifier names functions `$n` too) is still an overlay", () => {
    // `$n` is both a top-level function and K's private method; `$o` a method and a parameter.
    const src = `(()=>{function $n(x){return x+100}var K=class{constructor(v){this.v=v}$n(t){return this.v+t}$o($o){return this.$n($o)+$n($o)}};` +
      `go=function(){var k=new K(1);out.push(k.$n(2),k.$o(3),$n(4))}})();`;
    const b = build(src);
    expect([b.pre.functions, b.pre.methods]).toEqual([1, 2]);
    expect(run(b.text).out).toBe("[3,107,104]");
    expect(run(b.text).out).toBe(run(src).out);
  });

  it("makes each function once and keeps it until the cache is emptied", () => {
    const b = build(BUNDLE);
    const { ctx } = run(b.text);
    const cache = ctx[b.cache] as unknown[];
    expect(cache.filter((f) => typeof f === "function").length).toBe(4);
    const again = vm.runInNewContext(`${b.cache}=[];` + `out.length=0;out.push(new ${b.renames.get("K")}(1).get(0));out[0]`, ctx, {});
    expect(again).toBe(1 + 0 + 3 + 10); // _a(0): add(1, 0) + _b()
    expect((ctx[b.cache] as unknown[]).filter((f) => typeof f === "function").length).toBe(3); // _a, add, _b again
  });

  it("says where the text must be when there is none (on a board: the Storage file rec.js), at the first call after the load", () => {
    const b = build(BUNDLE);
    const ctx: Record<string, unknown> = { out: [], require: () => ({ read: () => undefined }) };
    vm.runInNewContext(b.text, ctx);
    expect(() => vm.runInNewContext("go()", ctx)).toThrow(/no Storage file rec\.js/);
  });

  it("what runs while the bundle loads is never an overlay: loaded from anywhere but rec.js, the load gets past every class", () => {
    // `lit` makes a constant at load; K's constructor runs at load (new at the top level) and calls `_m`.
    const src = `(()=>{function lit(s){return s+"!"}function later(x){return x+1}var L=lit("a");` +
      `var K=class{constructor(){this.v=this._m()}_m(){return 1}_n(){return 2}};var k=new K();var J=class{};` +
      `go=function(){out.push(L,later(1),k.v,k._n(),typeof J)}})();`;
    const b = build(src);
    expect([b.pre.functions, b.pre.methods]).toEqual([1, 1]); // later and _n
    expect(run(b.text).out).toBe(run(src).out);
    const ctx: Record<string, unknown> = { out: [], require: () => ({ read: () => undefined }) };
    vm.runInNewContext(b.text, ctx); // no rec.js: the load itself reads nothing
    expect(() => vm.runInNewContext("go()", ctx)).toThrow(/no Storage file rec\.js/);
  });

  it("a recorder whose rec.js was replaced under it stops with a reason, not with another bundle's code", () => {
    const b = build(BUNDLE);
    const other = build(BUNDLE.replace("return x*2", "return x*3").replace("this.v*10", "this.v*100"));
    let file = b.text;
    const ctx: Record<string, unknown> = { out: [], require: () => ({ read: (_f: string, o: number, n: number) => file.substr(o, n) }) };
    vm.runInNewContext(b.text, ctx);
    file = other.text; // a new bundle written while the old one runs
    const K = b.renames.get("K");
    expect(() => vm.runInNewContext(`${b.cache}=[];new ${K}(1).get(0)`, ctx)).toThrow(/rec\.js changed: restart the recorder/);
  });

  it("on the firmware bundle: most code is records, the text is ASCII, and idle means not recording", async () => {
    const { min, plain } = await buildFirmware();
    // The board's build says it is one: the codec parses a message type's fields each time, and keeps
    // no table of them in variables (protocol/schema.ts), as Node does.
    expect(plain).not.toMatch(/EVREC_BOARD/);
    expect(plain).toMatch(/var parsed = false \?/);
    const at = min.lastIndexOf("/*");
    const records = min.slice(at + 2).split("\n").length - 1;
    expect(records).toBeGreaterThan(100);
    expect(min.length - at).toBeGreaterThan(at); // more than half of the bytes are kept as text
    expect(min).toMatch(/^[\x00-\x7e]*$/);
    expect(RECORDING_STATE).toBe(REC_RECORDING);
    expect(OVERLAY_FILE).toBe(BUNDLE_FILE); // the file provisioning stores the bundle in
    // The node engine's way to load it: the functions are made from RECORDER_TEXT.
    const g = { Recorder: undefined as unknown };
    new Function("RECORDER_NO_BOOT", "RECORDER_TEXT", "global", min)(1, min, g);
    expect(typeof (g.Recorder as { start: unknown }).start).toBe("function");
  });
});
