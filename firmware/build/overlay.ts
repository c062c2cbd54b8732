// Pass 5, overlays: the minified bundle's top-level functions and private methods kept as text in a
// comment at the end of the bundle, made into functions only when called (build.ts).
//
// On Espruino every function costs variables for as long as it exists: the function, its code
// (one variable when the code is read from flash), its name, one per parameter; 4 to 8 each. The
// bundle's functions and methods cost most of the 1,500 variables a board may use once booted,
// and most of them run only at boot, at a recording's start and end, or from the REPL. Here each
// call `f(a)` becomes `$(k)(a)` (a method call `x.m(a)` becomes `$(k)(x, a)`): `$` returns the
// function from a cache, making it on first use from the k-th record of the comment: on Espruino
// with `Function(params..., body)`, where `body` is read from the Storage file `rec.js` as a flash
// string (so the code stays in flash, and the function is made at the global scope, where the
// bundle's names are); elsewhere (the simulator's node engine, which passes the bundle's text as
// RECORDER_TEXT) with eval. The boot entry empties the cache when boot is done: what boot alone
// needed is freed, and what the recorder needs afterwards is made again on first use.
//
// Written here because no minifier or bundler splits code this way for an interpreter that keeps
// code in flash. The pass runs in two halves around global-scope.ts, so that the records and the
// loader are renamed with the rest of the bundle (so it needs that pass). Its measured gain is in
// README.md.
import { createHash } from "node:crypto";
import ts from "typescript";
import { applyEdits, checkerFor, outerStatements, PROP_NAME, symbolOf } from "./ast.js";
import type { Edit } from "./ast.js";

/** An edit of a call: `order` 0 opens a call (before its receiver), `outer` the end of the call it opens. */
interface CallEdit extends Edit {
  order: number;
  outer?: number;
}

interface FnCandidate {
  st: ts.FunctionDeclaration & { body: ts.Block; name: ts.Identifier };
  refs: ts.Identifier[];
  ok: boolean;
}

interface MethodCandidate {
  m: ts.MethodDeclaration & { body: ts.Block };
  calls: ts.CallExpression[];
  ok: boolean;
}

/** The Storage file the bundle is stored in on a board (provisioning, the simulator, the lane). */
export const OVERLAY_FILE = "rec.js";
const MARK = "OVERLAY-RECORDS";
const BASE = "98765"; // where the table starts in the final text: a placeholder until then

// The records' comment starts with the records' id (the first 8 hex digits of their hash): the
// loader checks it before each read, so a recorder whose rec.js was replaced under it (a new
// bundle written while the old one runs) stops with a reason instead of making a function from
// the wrong bytes. Then a table: for record k, where it starts and where the next one
// starts, as offsets from the end of the table in three base-36 digits each. So a record is found
// with two short reads, whatever k is: no scan of the text (on the Linux build every character read
// from Storage is a file read: scanning to record 100 took 20 ms).
const OFFSET_DIGITS = 3;
const OFFSET_MAX = 36 ** OFFSET_DIGITS - 1;
const ID = "OVLRECID"; // the records' id in the loader: a placeholder until overlayFinish
const ID_LEN = ID.length;

// The loader, at the start of the outer function (so its cache exists before any top-level code
// runs). Its locals are single letters; a record made by eval inside it sees them, but the
// records name the bundle's own functions by `$`/`_` names only (global-scope.ts).
// `TABLE` is replaced by the length of the id and the table in overlayPrepare; `BASE` (where the
// id starts) and `ID` in overlayFinish. The reader is a function of its own, not a closure made in
// the loader: such a closure and the loader's scope hold each other, a cycle that only a garbage
// collection frees, and a board-sized interpreter was seen with 2,500 variables of such scopes
// (138 loads after a reboot with a backlog) that counted as used.
const LOADER = `var __ovlCache=[];function __ovl(k){return __ovlCache[k]||(__ovlCache[k]=__ovlLoad(k))}` +
  `function __ovlRead(o,n){return typeof RECORDER_TEXT<"u"?RECORDER_TEXT.substr(o,n):require("Storage").read("${OVERLAY_FILE}",o,n)}` +
  `function __ovlLoad(k){var t=typeof RECORDER_TEXT<"u"?RECORDER_TEXT:0,s=__ovlRead(${BASE}+${ID_LEN}+${OFFSET_DIGITS}*k,${OFFSET_DIGITS * 2}),i,n,q,p;` +
  `if(!s)throw new Error("no Storage file ${OVERLAY_FILE}: the firmware reads its functions from it");` +
  `if(""+__ovlRead(${BASE},${ID_LEN})!="${ID}")throw new Error("${OVERLAY_FILE} changed: restart the recorder");` +
  `s=""+s;i=${BASE}+TABLE+parseInt(s.substr(0,${OFFSET_DIGITS}),36);n=${BASE}+TABLE+parseInt(s.substr(${OFFSET_DIGITS}),36)-i-1;` +
  `q=__ovlRead(i,n).indexOf("{");p=q?""+__ovlRead(i,q):"";` +
  // eval where the text is in RAM (its scope then keeps only this small string, not the text)
  `if(t)return s="(function("+p+")"+t.substr(i+q,n-q)+")",eval(s);` +
  `return Function.apply(0,(p?p.split(","):[]).concat([__ovlRead(i+q+1,n-q-2)]))}`;

/** Edits in text order; at one position an insertion that opens a call (order 0) comes first, the outer call's first. */
const byPosition = (a: CallEdit, b: CallEdit): number => a.start - b.start || a.order - b.order || (b.outer || 0) - (a.outer || 0);

const isPlainParams = (ps: ts.NodeArray<ts.ParameterDeclaration>): boolean => ps.every((p) => ts.isIdentifier(p.name) && !p.initializer && !p.dotDotDotToken);

/** `this` at a method's own level: not inside a function or class nested in it, but inside an arrow function (whose `this` is the method's). */
function ownThis(body: ts.Node): ts.Node[] {
  const out: ts.Node[] = [];
  (function visit(n: ts.Node) {
    if (n.kind === ts.SyntaxKind.ThisKeyword) out.push(n);
    if ((ts.isFunctionLike(n) && !ts.isArrowFunction(n)) || ts.isClassLike(n)) return;
    ts.forEachChild(n, visit);
  })(body);
  return out;
}

/** A one- or two-letter name that no identifier in `node` uses: the method's receiver as a parameter. */
function freshName(node: ts.Node, sf: ts.SourceFile): string {
  const used = new Set<string>();
  (function visit(n: ts.Node) { if (ts.isIdentifier(n)) used.add(n.text); ts.forEachChild(n, visit); })(node);
  for (const a of "abcdefghijklmnopqrstuvwxyz") if (!used.has(a)) return a;
  for (const a of "abcdefghijklmnopqrstuvwxyz") for (const b of "abcdefghijklmnopqrstuvwxyz") if (!used.has(a + b)) return a + b;
  throw new Error("overlay: no free name in " + sf.text.slice(node.getStart(sf), node.getStart(sf) + 40));
}

/**
 * Whether identifier `n` names a property (a member access, a key, a destructured field), not a
 * variable: only such a name can be a use of a method.
 */
function namesProperty(n: ts.Identifier): boolean {
  const p = n.parent;
  if (ts.isPropertyAccessExpression(p)) return p.name === n;
  if (ts.isShorthandPropertyAssignment(p)) return true;
  if (ts.isBindingElement(p)) return p.propertyName === n || (!p.propertyName && ts.isObjectBindingPattern(p.parent));
  if (ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p) || ts.isGetAccessorDeclaration(p) || ts.isSetAccessorDeclaration(p)) return p.name === n;
  return false;
}

/**
 * The candidates that run while the bundle loads: called by a top-level statement outside any function
 * or class body (a constant's initializer), or by such a function or method, transitively; a class
 * made with `new` at the top level brings in its constructor. Returns the function candidates and the
 * method names.
 */
function loadTimeCalls(checker: ts.TypeChecker, outer: ts.NodeArray<ts.Statement>, cands: Map<ts.Symbol | undefined, FnCandidate>,
  methods: Map<string, MethodCandidate>): { fns: Set<FnCandidate | ts.Node>; methods: Set<string> } {
  const fns = new Set<FnCandidate | ts.Node>(); // candidates, and the constructors of classes made at load
  const meths = new Set<string>();
  const queue: ts.Node[] = [];
  // Calls made by `node` when it runs: nested functions and classes are only defined, not run, unless
  // `deep` (a function's whole body: it may call its own nested functions).
  const scan = (node: ts.Node, deep: boolean) => {
    (function visit(n: ts.Node) {
      if (!deep && n !== node && (ts.isFunctionLike(n) || ts.isClassLike(n))) return;
      if (ts.isCallExpression(n) || ts.isNewExpression(n)) {
        const e = n.expression;
        const c = ts.isIdentifier(e) ? cands.get(symbolOf(checker, e)) : undefined;
        if (c && !fns.has(c)) { fns.add(c); queue.push(c.st.body); }
        const name = ts.isPropertyAccessExpression(e) ? e.name.text : "";
        const m = name ? methods.get(name) : undefined;
        if (m && !meths.has(name)) { meths.add(name); queue.push(m.m.body); }
        if (ts.isNewExpression(n) && ts.isIdentifier(e)) {
          const decl = symbolOf(checker, e)?.valueDeclaration;
          const cls = decl && (ts.isClassLike(decl) ? decl : ts.isVariableDeclaration(decl) && decl.initializer && ts.isClassLike(decl.initializer) ? decl.initializer : null);
          const ctor = cls ? (cls.members as ts.NodeArray<ts.ClassElement>).find((x): x is ts.ConstructorDeclaration => ts.isConstructorDeclaration(x)) : undefined;
          if (ctor && ctor.body && !fns.has(ctor)) { fns.add(ctor); queue.push(ctor.body); }
        }
      }
      ts.forEachChild(n, visit);
    })(node);
  };
  for (const st of outer) if (!ts.isFunctionDeclaration(st) && !ts.isClassDeclaration(st)) scan(st, false);
  while (queue.length) scan(queue.pop()!, true);
  return { fns, methods: meths };
}

/**
 * First half, on the wrapped bundle. Taken as records:
 * - every top-level function whose every use is a plain call: `f(a)` becomes `__ovl(k)(a)`;
 * - every private method (a mangled name, defined once, every use a call `x.m(a)`), which becomes
 *   `__ovl(k)(x, a)`: the record takes its receiver as a first parameter in place of `this`.
 * Parameters must be plain names. Returns the new text and how many functions were taken.
 */
export function overlayPrepare(text: string): { text: string; count: number; functions: number; methods: number } {
  const { sf, checker } = checkerFor(text);
  const outer = outerStatements(sf);
  const fits = (n: ts.Node) => { const own = text.slice(n.getStart(sf), n.end); return !own.includes("*/") && !own.includes("\n"); };
  const cands = new Map<ts.Symbol | undefined, FnCandidate>();
  for (const st of outer) {
    if (!ts.isFunctionDeclaration(st) || !st.name || !st.body || st.asteriskToken || st.modifiers?.length) continue;
    if (!isPlainParams(st.parameters) || !fits(st)) continue;
    cands.set(checker.getSymbolAtLocation(st.name), { st: st as FnCandidate["st"], refs: [], ok: true });
  }
  const methods = new Map<string, MethodCandidate>();
  const props = new Map<string, number>(); // property name -> how many times it is declared (methods, fields, keys)
  (function collect(n: ts.Node) {
    if ((ts.isMethodDeclaration(n) || ts.isPropertyDeclaration(n) || ts.isPropertyAssignment(n) || ts.isShorthandPropertyAssignment(n) ||
      ts.isGetAccessorDeclaration(n) || ts.isSetAccessorDeclaration(n)) && n.name && ts.isIdentifier(n.name)) {
      props.set(n.name.text, (props.get(n.name.text) || 0) + 1);
      if (ts.isMethodDeclaration(n) && ts.isClassLike(n.parent) && PROP_NAME.test(n.name.text) && n.body && !n.asteriskToken &&
        !n.modifiers?.length && isPlainParams(n.parameters) && fits(n) && !text.slice(n.getStart(sf), n.end).includes("super")) {
        methods.set(n.name.text, { m: n as MethodCandidate["m"], calls: [], ok: true });
      }
    }
    ts.forEachChild(n, collect);
  })(sf);
  (function visit(n: ts.Node) {
    if (ts.isIdentifier(n)) {
      const c = cands.get(symbolOf(checker, n));
      if (c && n !== c.st.name) {
        if (ts.isCallExpression(n.parent) && n.parent.expression === n) c.refs.push(n);
        else c.ok = false; // used as a value: its identity may matter, so it stays a function
      }
      const m = methods.get(n.text);
      // A variable of the same name (the minifier names top-level functions `$n` too) is not a use.
      if (m && n !== m.m.name && namesProperty(n)) {
        const pa = n.parent;
        if (ts.isPropertyAccessExpression(pa) && pa.name === n && ts.isCallExpression(pa.parent) && pa.parent.expression === pa && !pa.questionDotToken) m.calls.push(pa.parent);
        else m.ok = false;
      }
    }
    ts.forEachChild(n, visit);
  })(sf);
  // Nothing that runs while the bundle loads is an overlay: loaded from anywhere but rec.js, a load
  // that read an overlay would throw before the bundle's classes are defined, and the interpreter
  // parsing a class after an uncaught exception fails ASSERT(jsvHasChildren(target)) and dies
  // (jsvar.c, the class's static fields). So a bundle in the wrong place gets to its boot line, which
  // says what is missing, and the interpreter lives on.
  const atLoad = loadTimeCalls(checker, outer, cands, methods);
  const fns = [...cands.values()].filter((c) => c.ok && !atLoad.fns.has(c));
  const meths = [...methods.entries()].filter(([name, m]) => m.ok && props.get(name) === 1 && !atLoad.methods.has(name)).map(([, m]) => m);

  // Edits: a call of a taken function; the receiver of a taken method's call moved into the
  // arguments (an insertion before it, and `.m(` replaced), the outer call's insertion first.
  const calls: CallEdit[] = [];
  fns.forEach((c, k) => {
    for (const id of c.refs) calls.push({ start: id.getStart(sf), end: id.getEnd(), text: `__ovl(${k})`, order: 1 });
  });
  meths.forEach((m, i) => {
    const k = fns.length + i;
    for (const call of m.calls) {
      const recv = (call.expression as ts.PropertyAccessExpression).expression;
      const open = call.arguments.pos; // just after "("
      calls.push({ start: recv.getStart(sf), end: recv.getStart(sf), text: `__ovl(${k})(`, order: 0, outer: call.end });
      calls.push({ start: recv.end, end: open, text: call.arguments.length ? "," : "", order: 1 });
    }
  });
  calls.sort(byPosition);
  const record = (params: ts.NodeArray<ts.ParameterDeclaration>, body: ts.Block, self: string | null) => {
    const own: CallEdit[] = self ? ownThis(body).map((t) => ({ start: t.getStart(sf), end: t.end, text: self, order: 1 })) : [];
    const edits = [...calls, ...own].sort(byPosition);
    return `function(${[...(self ? [self] : []), ...params.map((p) => (p.name as ts.Identifier).text)].join(",")})` + applyEdits(text, edits, body.getStart(sf), body.end);
  };
  const records = [
    ...fns.map((c) => record(c.st.parameters, c.st.body, null)),
    ...meths.map((m) => record(m.m.parameters, m.m.body, freshName(m.m, sf))),
  ];
  // The outer body without the taken declarations (and without the edits inside them).
  const removed: CallEdit[] = [...fns.map((c) => c.st), ...meths.map((m) => m.m)].map((n) => ({ start: n.getStart(sf), end: n.end, text: "", order: 1 }));
  const inside = (e: Edit) => removed.some((r) => e.start >= r.start && e.end <= r.end);
  const first = outer[0].getStart(sf), end = outer[outer.length - 1].end;
  const body = applyEdits(text, [...removed, ...calls.filter((e) => !inside(e))].sort(byPosition), first, end);
  const loader = LOADER.replaceAll("TABLE", String(ID_LEN + OFFSET_DIGITS * (records.length + 1)));
  const out = text.slice(0, first) + loader + body + `;"${MARK}",[${records.join(",")}];` + text.slice(end);
  return { text: out, count: records.length, functions: fns.length, methods: meths.length };
}

/**
 * Second half, on the whole final text (global scope, boot line included): the records statement
 * is taken out and written as a comment at the end, one record per line (`params{body}`), and the
 * loader is told where they start. `cache` is the loader's cache's final name.
 */
export function overlayFinish(text: string): { text: string; count: number } {
  const sf = ts.createSourceFile("/bundle.js", text, ts.ScriptTarget.ES2015, true, ts.ScriptKind.JS);
  const st = sf.statements.find((s) => ts.isExpressionStatement(s) && ts.isBinaryExpression(s.expression) &&
    ts.isStringLiteral(s.expression.left) && s.expression.left.text === MARK);
  if (!st) throw new Error("overlay: the records statement is missing");
  const list = ((st as ts.ExpressionStatement).expression as ts.BinaryExpression).right as ts.ArrayLiteralExpression;
  const records = (list.elements as ts.NodeArray<ts.FunctionExpression>).map((f) => f.parameters.map((p) => (p.name as ts.Identifier).text).join(",") + text.slice(f.body.getStart(sf), f.body.end));
  let code = text.slice(0, st.getStart(sf)) + text.slice(st.end);
  if (code.split(BASE).length !== LOADER.split(BASE).length) throw new Error("overlay: the loader's placeholder is not unique");
  if (/[^\x00-\x7e]/.test(code + records.join(""))) throw new Error("overlay: the bundle must be ASCII, so that offsets are bytes in Storage");
  // The id, the table and the records start right after "/*"; the number written in its place may change the length.
  const offsets = [0];
  for (const r of records) offsets.push(offsets[offsets.length - 1] + r.length + 1);
  if (offsets[offsets.length - 1] > OFFSET_MAX) throw new Error(`overlay: the records take ${offsets[offsets.length - 1]} bytes, more than ${OFFSET_MAX} (${OFFSET_DIGITS} base-36 digits)`);
  const table = offsets.map((o) => o.toString(36).padStart(OFFSET_DIGITS, "0")).join("");
  const id = createHash("sha256").update(table + records.join("\n")).digest("hex").slice(0, ID_LEN);
  if (code.split(ID).length !== 2) throw new Error("overlay: the loader's id placeholder is not unique");
  code = code.replace(ID, id);
  let base = code.length + 2, prev = -1;
  while (base !== prev) { prev = base; base = code.replaceAll(BASE, String(prev)).length + 2; }
  code = code.replaceAll(BASE, String(base));
  return { text: code + "/*" + id + table + records.map((r) => r + "\n").join("") + "*/\n", count: records.length };
}
