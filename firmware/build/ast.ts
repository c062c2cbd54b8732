// What the build's passes over the minified firmware bundle share (inline-constants.ts,
// global-scope.ts, overlay.ts): a TypeScript checker over the bundle's text, its
// outer function's statements, the symbol an identifier names, whether an identifier is a
// property's name, text edits applied in order, and the characters and shape of the short names
// the build gives (globals in global-scope.ts, properties in mangle.ts).
import ts from "typescript";

const FILE = "/bundle.js";

/** A replacement of text[start, end) by `text`. */
export interface Edit {
  start: number;
  end: number;
  text: string;
}

/** What a short name the build gives is made of, after its `$` or `_`. */
export const NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$";

/** The i-th name the minifier gives the firmware's own properties: `_a` ... `_$`, `$a` ... `$$`, then `_aa`, `_ab`, ... */
export function propName(i: number): string {
  const n = NAME_CHARS.length;
  if (i < 2 * n) return (i < n ? "_" : "$") + NAME_CHARS[i % n];
  i -= 2 * n;
  return "_" + NAME_CHARS[Math.floor(i / n) % n] + NAME_CHARS[i % n];
}

/** A name propName gives (so a property the build renamed: the firmware's own, private to the bundle). */
export const PROP_NAME = /^[_$][0-9A-Za-z_$]{1,2}$/;

/** A checker over one JavaScript text (no lib, no imports). */
export function checkerFor(text: string): { sf: ts.SourceFile; checker: ts.TypeChecker } {
  const sf = ts.createSourceFile(FILE, text, ts.ScriptTarget.ES2015, true, ts.ScriptKind.JS);
  const options: ts.CompilerOptions = { allowJs: true, noLib: true, noResolve: true, types: [], target: ts.ScriptTarget.ES2015 };
  const host = ts.createCompilerHost(options);
  host.getSourceFile = (name) => (name === FILE ? sf : undefined);
  host.fileExists = (name) => name === FILE;
  host.readFile = (name) => (name === FILE ? text : undefined);
  const program = ts.createProgram([FILE], options, host);
  return { sf: program.getSourceFile(FILE)!, checker: program.getTypeChecker() };
}

/** The statements of the bundle's outer function: `(()=>{ ... })();` */
export function outerStatements(sf: ts.SourceFile): ts.NodeArray<ts.Statement> {
  for (const st of sf.statements) {
    if (!ts.isExpressionStatement(st) || !ts.isCallExpression(st.expression)) continue;
    let f: ts.Expression = st.expression.expression;
    while (ts.isParenthesizedExpression(f)) f = f.expression;
    if ((ts.isArrowFunction(f) || ts.isFunctionExpression(f)) && f.body && ts.isBlock(f.body)) return f.body.statements;
  }
  throw new Error("firmware bundle: not one (()=>{...})() function");
}

/** The symbol `id` names; for a shorthand property `{a}`, the variable `a`, not the property. */
export function symbolOf(checker: ts.TypeChecker, id: ts.Identifier): ts.Symbol | undefined {
  return ts.isShorthandPropertyAssignment(id.parent) && id.parent.name === id
    ? checker.getShorthandAssignmentValueSymbol(id.parent)
    : checker.getSymbolAtLocation(id);
}

/** A property's name (`o.NAME`, `{NAME: v}`, a method): not a variable, so it can't capture one. */
export function isPropertyName(n: ts.Node): boolean {
  const p = n.parent;
  return (ts.isPropertyAccessExpression(p) || ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p) || ts.isPropertyDeclaration(p) ||
    ts.isGetAccessorDeclaration(p) || ts.isSetAccessorDeclaration(p)) && p.name === n;
}

/** `text` from `start` to `end` with the edits that lie inside it applied (in the order given where they start at one place). */
export function applyEdits(text: string, edits: Edit[], start: number, end: number): string {
  let out = "", at = start;
  for (const e of edits.filter((x) => x.start >= start && x.end <= end).sort((a, b) => a.start - b.start)) {
    out += text.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + text.slice(at, end);
}
