// Pass 4: the minified bundle's top level moved to the interpreter's global scope (build.ts).
//
// esbuild wraps the bundle in one function, `(()=>{ ... })();`, so every module's top-level
// function and class is made inside that function's scope. On Espruino a function made inside a
// function scope keeps a reference to that scope, which costs one more variable than a function
// made at the global scope, for as long as the function exists. Its measured gain is in README.md.
//
// Unwrapped, the top-level names become globals, so each is renamed: `$`, `_`, or one of them and
// one or two more characters. Never a name a REPL user types by habit (`x`, `i`), nor a board's pin
// (`A0`, `D2`, `LED1`) or built-in (`E`), which a global would overwrite or hide from
// `global[name]`; and never a name an inner scope would capture. Written here because the minifier
// has no option to prefix or reserve top-level names; names are resolved with TypeScript's
// checker, as in inline-constants.ts.
import ts from "typescript";
import { applyEdits, checkerFor, isPropertyName, NAME_CHARS as CHARS, outerStatements, symbolOf } from "./ast.js";
import type { Edit } from "./ast.js";

interface Top {
  name: string;
  refs: ts.Identifier[];
  to?: string;
}

/** Names `$`, `_`, `$a`, `$b`, ... `_$`, then `$aa`, ...: none of them a pin, a built-in or a REPL habit. */
function* safeNames(): Generator<string> {
  yield "$";
  yield "_";
  for (const p of "$_") for (const c of CHARS) yield p + c;
  for (const a of CHARS) for (const b of CHARS) yield "$" + a + b;
}

/**
 * `text` (a minified bundle: one outer function) with the outer function's statements at the
 * top level and its top-level names renamed. Returns the new text and the renames (old → new).
 */
export function toGlobalScope(text: string): { text: string; renames: Map<string, string> } {
  const { sf, checker } = checkerFor(text);
  const outer = outerStatements(sf);
  const wrapper = sf.statements.find((st) => st.pos <= outer.pos && st.end >= outer.end)!;
  if (sf.statements.length !== 1) throw new Error("global-scope: the bundle has statements outside its outer function");

  // The outer function's own names: functions, classes and variables declared at its top level.
  const tops = new Map<ts.Symbol | undefined, Top>();
  for (const st of outer) {
    const names = ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) ? [st.name]
      : ts.isVariableStatement(st) ? st.declarationList.declarations.map((d) => d.name) : [];
    for (const n of names) {
      if (!n || !ts.isIdentifier(n)) throw new Error("global-scope: a top-level declaration without a plain name");
      tops.set(checker.getSymbolAtLocation(n), { name: n.text, refs: [] });
    }
  }
  const free = new Set<string>(); // names the text uses as globals of the interpreter (`global`, `E`)
  (function visit(n: ts.Node) {
    if (ts.isIdentifier(n) && !isPropertyName(n)) {
      const sym = symbolOf(checker, n);
      const t = sym && tops.get(sym);
      if (t) t.refs.push(n);
      else if (!sym) free.add(n.text);
    }
    ts.forEachChild(n, visit);
  })(sf);

  // The most used names get the shortest new names. A new name is never a global the text uses,
  // nor one declared in an inner scope around any reference to the name it replaces (which would
  // capture the reference).
  const order = [...tops.values()].sort((a, b) => b.refs.length - a.refs.length);
  const taken = new Set<string>();
  const renames = new Map<string, string>();
  const captures = (n: string, t: Top) => t.refs.some((id) => {
    const s = checker.resolveName(n, id, ts.SymbolFlags.Value, false);
    return s !== undefined && !tops.has(s);
  });
  for (const t of order) {
    for (const n of safeNames()) {
      if (taken.has(n) || free.has(n) || captures(n, t)) continue;
      t.to = n;
      break;
    }
    taken.add(t.to!);
    renames.set(t.name, t.to!);
  }
  const edits: Edit[] = [];
  for (const t of order) {
    for (const id of t.refs) {
      const to = ts.isShorthandPropertyAssignment(id.parent) && id.parent.name === id ? `${id.text}:${t.to}` : t.to!;
      edits.push({ start: id.getStart(sf), end: id.getEnd(), text: to });
    }
  }
  // Top-level `let` and `const` become `var`: evaluating the bundle twice in one context (a REPL
  // user loading it again) must not throw on a name declared twice.
  for (const st of outer) {
    if (!ts.isVariableStatement(st)) continue;
    const kw = st.declarationList.getStart(sf);
    const word = text.slice(kw, kw + 5);
    if (word.startsWith("let ")) edits.push({ start: kw, end: kw + 3, text: "var" });
    else if (word === "const") edits.push({ start: kw, end: kw + 5, text: "var" });
  }
  const body = applyEdits(text, edits, outer.pos, outer.end).trim();
  const out = text.slice(0, wrapper.getStart(sf)) + body + text.slice(wrapper.end);
  return { text: out, renames };
}
