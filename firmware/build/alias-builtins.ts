// Pass 3: short names for the built-in constructors the minified bundle names most often (build.ts).
//
// The bundle says `new Uint8Array(` about 50 times: 15 bytes each, where a one-character global
// holding the same constructor takes 6. So the build declares `var __Uint8Array = Uint8Array` at
// the top of the bundle and points every reference there; global-scope.ts then gives that name
// one of the shortest global names, as it does for the bundle's own most used names (so this pass
// needs that one). Its measured gain is in README.md.
//
// Written here because no minifier at hand aliases globals (esbuild keeps every global name, as
// it must when it cannot know that a global is never replaced; the firmware's built-ins never
// are). References are resolved with TypeScript's checker: a local of the same name is left alone.
import ts from "typescript";
import { applyEdits, checkerFor, isPropertyName, outerStatements } from "./ast.js";
import type { Edit } from "./ast.js";

/**
 * `text` (a minified bundle: one outer function) with each of `names` that it uses as a global
 * often enough to save bytes replaced by `__NAME`, declared first in the outer function. Returns
 * the new text and how many references each aliased name had.
 */
export function aliasBuiltins(text: string, names = ["Uint8Array", "DataView"]): { text: string; aliased: Record<string, number> } {
  const { sf, checker } = checkerFor(text);
  const outer = outerStatements(sf);
  const refs = new Map<string, ts.Identifier[]>(names.map((n) => [n, []]));
  (function visit(n: ts.Node) {
    // A shorthand `{Uint8Array}` is left as it is: it still names the global.
    if (ts.isIdentifier(n) && refs.has(n.text) && !isPropertyName(n) && !ts.isShorthandPropertyAssignment(n.parent) && !checker.getSymbolAtLocation(n)) refs.get(n.text)!.push(n);
    ts.forEachChild(n, visit);
  })(sf);
  const edits: Edit[] = [], decls: string[] = [], aliased: Record<string, number> = {};
  for (const [name, ids] of refs) {
    // Each reference becomes a name of at most two characters; the declaration costs `,__N=N`.
    if (ids.length * (name.length - 2) <= 2 * name.length + 3) continue;
    for (const id of ids) edits.push({ start: id.getStart(sf), end: id.getEnd(), text: "__" + name });
    decls.push(`__${name}=${name}`);
    aliased[name] = ids.length;
  }
  if (!decls.length) return { text, aliased };
  const start = outer[0].getStart(sf);
  edits.push({ start, end: start, text: `var ${decls.join(",")};` });
  return { text: applyEdits(text, edits, 0, text.length), aliased };
}
