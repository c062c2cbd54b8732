// Pass 2: the minified bundle's top-level numeric constants inlined (build.ts).
//
// The bundle is one function scope holding every module's top-level names. esbuild hoists the
// modules into it but keeps `var X = 128` for a constant exported by one module and used by
// another. On Espruino each such name costs variables for as long as the recorder runs, and each
// reference is a lookup that scans the scope's names one by one: every top-level name makes every
// other lookup a little slower. A numeric literal costs neither. So the build replaces each
// reference to a top-level numeric constant with its literal and drops the declaration, wherever
// that adds at most a few bytes. Its measured gain is in README.md.
//
// Written here because the minifiers at hand don't do it across modules: esbuild inlines enums
// across modules but not constants, and the protocol's constants are plain exports shared with
// the gateway. Names are resolved with TypeScript's checker, so a local of the same short name in
// an inner scope is left alone.
import ts from "typescript";
import { applyEdits, checkerFor, outerStatements, symbolOf } from "./ast.js";
import type { Edit } from "./ast.js";

interface Constant {
  name: string;
  literal: string;
  decl: ts.VariableDeclaration;
  refs: ts.Identifier[];
}

const isWrite = (id: ts.Identifier): boolean => {
  const p = id.parent;
  if (ts.isBinaryExpression(p) && p.left === id && p.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && p.operatorToken.kind <= ts.SyntaxKind.LastAssignment) return true;
  if ((ts.isPrefixUnaryExpression(p) || ts.isPostfixUnaryExpression(p)) && (p.operator === ts.SyntaxKind.PlusPlusToken || p.operator === ts.SyntaxKind.MinusMinusToken)) return true;
  return (ts.isForInStatement(p) || ts.isForOfStatement(p)) && p.initializer === id;
};

/** The literal for one reference: `(32).x` for a member access, `p:32` for a shorthand property. */
function replacement(id: ts.Identifier, c: Constant): string {
  const p = id.parent;
  if (ts.isShorthandPropertyAssignment(p)) return `${id.text}:${c.literal}`;
  if (ts.isPropertyAccessExpression(p) && p.expression === id) return `(${c.literal})`;
  return c.literal;
}

/**
 * `text` with its top-level numeric constants inlined. A constant is inlined when its literals
 * add at most `slack` bytes more than its declaration takes away (a 32 used 14 times as `p` is
 * worth 9 bytes; 65536 used 9 times is not). Returns the new text and what was done: the names
 * inlined, the references replaced, and the bytes saved.
 */
export function inlineConstants(text: string, slack = 12): { text: string; inlined: string[]; refs: number; saved: number } {
  const { sf, checker } = checkerFor(text);
  // Candidates: `var NAME = <number>` among the outer function's statements.
  const consts = new Map<ts.Symbol, Constant>();
  for (const st of outerStatements(sf)) {
    if (!ts.isVariableStatement(st)) continue;
    for (const d of st.declarationList.declarations) {
      if (!ts.isIdentifier(d.name) || !d.initializer || !ts.isNumericLiteral(d.initializer)) continue;
      const sym = checker.getSymbolAtLocation(d.name);
      if (sym && sym.declarations && sym.declarations.length === 1) consts.set(sym, { name: d.name.text, literal: d.initializer.getText(sf), decl: d, refs: [] });
    }
  }
  const rejected = new Set<Constant>();
  (function visit(n: ts.Node) {
    if (ts.isIdentifier(n)) {
      const sym = symbolOf(checker, n);
      const c = sym && consts.get(sym);
      if (c && n !== c.decl.name) {
        if (isWrite(n)) rejected.add(c);
        else c.refs.push(n);
      }
    }
    ts.forEachChild(n, visit);
  })(sf);

  // Keep only the constants whose inlining lengthens the text by at most `slack`.
  const refEdits: Edit[] = [];
  const chosen = new Set<ts.VariableDeclaration>();
  let refs = 0;
  for (const c of consts.values()) {
    if (rejected.has(c)) continue;
    const declBytes = c.decl.getText(sf).length + 1; // "NAME=VALUE" and its comma (or "var " and ";")
    const growth = c.refs.reduce((n, id) => n + replacement(id, c).length - id.getText(sf).length, 0);
    if (growth - declBytes > slack) continue;
    chosen.add(c.decl);
    refs += c.refs.length;
    for (const id of c.refs) refEdits.push({ start: id.getStart(sf), end: id.getEnd(), text: replacement(id, c) });
  }
  const rewrite = (start: number, end: number) => applyEdits(text, refEdits, start, end);
  // Each statement of the outer function is rewritten whole: declarations of chosen constants
  // dropped (a statement left with none goes), references replaced.
  const outer = outerStatements(sf);
  let out = text.slice(0, outer.pos);
  for (const st of outer) {
    const decls = ts.isVariableStatement(st) ? st.declarationList.declarations : null;
    if (decls && ts.isVariableStatement(st) && decls.some((d) => chosen.has(d))) {
      const keep = decls.filter((d) => !chosen.has(d));
      const kw = st.declarationList.getText(sf).split(/\s/)[0];
      out += text.slice(st.pos, st.getStart(sf));
      if (keep.length) out += `${kw} ${keep.map((d) => rewrite(d.getStart(sf), d.getEnd())).join(",")};`;
    } else {
      out += rewrite(st.pos, st.end);
    }
  }
  out += rewrite(outer.end, text.length);
  const inlined = [...consts.values()].filter((c) => chosen.has(c.decl)).map((c) => c.name);
  return { text: out, inlined, refs, saved: text.length - out.length };
}
