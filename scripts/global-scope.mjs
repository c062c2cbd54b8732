// The minified firmware bundle's top level moved to the interpreter's global scope
// (scripts/build-firmware.mjs).
//
// esbuild wraps the bundle in one function, `(()=>{ ... })();`, so every module's top-level
// function and class is made inside that function's scope. On Espruino a function made inside a
// function scope keeps a reference to that scope, which costs one more variable than a function
// made at the global scope, for as long as the function exists: with about 300 functions and
// methods, the wrapper costs about 300 variables while the recorder runs (measured on the
// interpreter: 2,632 variables in use after boot with the wrapper, 2,325 without).
//
// Unwrapped, the top-level names become globals, so each is renamed: `$`, `_`, or one of them and
// one or two more characters. Never a name a REPL user types by habit (`x`, `i`), nor a board's pin
// (`A0`, `D2`, `LED1`) or built-in (`E`), which a global would overwrite or hide from
// `global[name]`; and never a name an inner scope would capture. Written here because the minifier
// has no option to prefix or reserve top-level names; names are resolved with TypeScript's
// checker, as in scripts/inline-constants.mjs.
import ts from "typescript";
import { applyEdits, checkerFor, isPropertyName, NAME_CHARS as CHARS, outerStatements, symbolOf } from "./bundle-ast.mjs";

/** Names `$`, `_`, `$a`, `$b`, ... `_$`, then `$aa`, ...: none of them a pin, a built-in or a REPL habit. */
function* safeNames() {
  yield "$";
  yield "_";
  for (const p of "$_") for (const c of CHARS) yield p + c;
  for (const a of CHARS) for (const b of CHARS) yield "$" + a + b;
}

/**
 * `text` (a minified bundle: one outer function) with the outer function's statements at the
 * top level and its top-level names renamed. Returns the new text and the renames (old → new).
 */
export function toGlobalScope(text) {
  const { sf, checker } = checkerFor(text);
  const outer = outerStatements(sf);
  const wrapper = sf.statements.find((st) => st.pos <= outer.pos && st.end >= outer.end);
  if (sf.statements.length !== 1) throw new Error("global-scope: the bundle has statements outside its outer function");

  // The outer function's own names: functions, classes and variables declared at its top level.
  const tops = new Map(); // symbol -> { name, refs: [] }
  for (const st of outer) {
    const names = ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) ? [st.name]
      : ts.isVariableStatement(st) ? st.declarationList.declarations.map((d) => d.name) : [];
    for (const n of names) {
      if (!n || !ts.isIdentifier(n)) throw new Error("global-scope: a top-level declaration without a plain name");
      tops.set(checker.getSymbolAtLocation(n), { name: n.text, refs: [] });
    }
  }
  const free = new Set(); // names the text uses as globals of the interpreter (`global`, `E`)
  (function visit(n) {
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
  const taken = new Set();
  const renames = new Map();
  const captures = (n, t) => t.refs.some((id) => {
    const s = checker.resolveName(n, id, ts.SymbolFlags.Value, false);
    return s !== undefined && !tops.has(s);
  });
  for (const t of order) {
    for (const n of safeNames()) {
      if (taken.has(n) || free.has(n) || captures(n, t)) continue;
      t.to = n;
      break;
    }
    taken.add(t.to);
    renames.set(t.name, t.to);
  }
  const edits = [];
  for (const t of order) {
    for (const id of t.refs) {
      const text = ts.isShorthandPropertyAssignment(id.parent) && id.parent.name === id ? `${id.text}:${t.to}` : t.to;
      edits.push({ start: id.getStart(sf), end: id.getEnd(), text });
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
