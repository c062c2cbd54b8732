// Pass 1, property mangling: which member names of the firmware's own classes and interfaces the
// minifier may shorten (esbuild's mangleProps), and the short names it gives them (build.ts).
//
// Member names take about a tenth of the minified bundle's bytes, and on Espruino a property whose name is
// longer than a variable's few bytes of inline text costs one more variable for every object that
// holds it. So every member of a class or interface declared in the firmware's core or the
// protocol code it bundles is renamed, except a name the outside world also uses:
// - a name reachable from the types that cross the bundle's boundary: the bundle's API
//   (firmware/api.ts: what the REPL and the simulator call, the EspruinoEnv a host is built from
//   with the interpreter's API, the options the simulator passes) and the device's files
//   (RecorderConfig and KeyState in protocol/device-files.ts: rec.cfg and rec.key are JSON). They are
//   read from the types with the TypeScript compiler at build time, members of members included, so
//   a field added to one of those types is kept without a list to update;
// - a string in the bundle that is one identifier, or a word of a schema string (protobuf field
//   names live in protocol/schema.ts as "name type ..." strings, and a name read with o[k] is one);
// - a property of a JavaScript built-in; and a name of one or two characters (nothing to gain).
// Tests run the minified bundle on the interpreter and in the simulator, so a wrong rename shows there.
import ts from "typescript";
import path from "node:path";
import { propName } from "./ast.js";

/** The boundary: [file, exported type] whose member names the world outside the bundle uses. */
export const BOUNDARY: [string, string][] = [
  ["firmware/api.ts", "RecorderApi"],
  ["protocol/device-files.ts", "RecorderConfig"],
  ["protocol/device-files.ts", "KeyState"],
];
/** Folders whose classes' and interfaces' members are the firmware's own (firmware/hosts is the boundary with the interpreter). */
const OWN = ["firmware/core/", "protocol/"];

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true, skipLibCheck: true, noEmit: true, types: [],
};

/** A program over the entry and the boundary's files (one per build: about a second). */
export function sourceProgram(root: string, entry: string): ts.Program {
  return ts.createProgram([entry, ...BOUNDARY.map(([f]) => path.join(root, f))], OPTIONS);
}

const inRepo = (root: string, sf: ts.SourceFile) => !sf.isDeclarationFile && !path.relative(root, sf.fileName).startsWith("..") && !sf.fileName.includes("node_modules");

/**
 * Member names reachable from the boundary's types: each type's properties, the types of those
 * properties (through unions, arrays' elements, functions' parameters and results), and so on,
 * as far as types declared in the repository go.
 */
export function boundaryNames(program: ts.Program, root: string): Set<string> {
  const checker = program.getTypeChecker();
  const names = new Set<string>();
  const seen = new Set<ts.Type>();
  const visit = (t: ts.Type): void => {
    if (seen.has(t)) return;
    seen.add(t);
    if (t.isUnionOrIntersection()) { t.types.forEach(visit); return; }
    for (const sig of [...t.getCallSignatures(), ...t.getConstructSignatures()]) {
      for (const p of sig.getParameters()) visit(checker.getTypeOfSymbol(p));
      visit(sig.getReturnType());
    }
    if (checker.isArrayType(t)) { checker.getTypeArguments(t as ts.TypeReference).forEach(visit); return; }
    if (!(t.flags & ts.TypeFlags.Object)) return;
    for (const p of checker.getPropertiesOfType(t)) {
      // A property of a built-in (Uint8Array's `length`) says nothing about the boundary.
      if (!(p.declarations || []).some((d) => inRepo(root, d.getSourceFile()))) continue;
      names.add(p.name);
      visit(checker.getTypeOfSymbol(p));
    }
  };
  for (const [file, type] of BOUNDARY) {
    const sf = program.getSourceFile(path.join(root, file));
    const sym = sf && checker.getSymbolAtLocation(sf);
    const decl = sym && checker.getExportsOfModule(sym).find((s) => s.name === type);
    if (!decl) throw new Error(`build: the boundary type ${type} is not exported by ${file}`);
    visit(checker.getDeclaredTypeOfSymbol(decl));
  }
  return names;
}

/** Member names of the classes and interfaces declared in the firmware's own files that the entry reaches. */
function ownMembers(program: ts.Program, root: string): Set<string> {
  const names = new Set<string>();
  for (const sf of program.getSourceFiles()) {
    const rel = path.relative(root, sf.fileName).split(path.sep).join("/");
    if (!inRepo(root, sf) || !OWN.some((d) => rel.startsWith(d))) continue;
    sf.forEachChild(function visit(n: ts.Node) {
      if (ts.isClassDeclaration(n) || ts.isInterfaceDeclaration(n)) {
        for (const m of n.members) if (m.name && ts.isIdentifier(m.name)) names.add(m.name.text);
      }
      ts.forEachChild(n, visit);
    });
  }
  return names;
}

const BUILTINS = [Object.prototype, Array.prototype, Uint8Array.prototype, String.prototype, Function.prototype, Promise.prototype, DataView.prototype, Error.prototype];

/** What mangleable() decided: the names to shorten, and the boundary's names (kept). */
export interface Mangling {
  names: string[];
  keep: Set<string>;
}

/** The property names of `bundleText` (esbuild's unminified bundle) that the minifier may shorten. */
export function mangleable(program: ts.Program, root: string, bundleText: string): Mangling {
  const keep = boundaryNames(program, root);
  // Names a string may use as a key: a string that is one identifier, and every word of a schema
  // string (protocol/schema.ts: "name type ..." per field). Words of log messages don't count.
  const strings = new Set<string>();
  for (const q of bundleText.match(/"(?:[^"\\\n]|\\.)*"/g) || []) {
    if (!/^"[A-Za-z_$][\w$]*( \d.*)?"$/.test(q)) continue;
    for (const w of q.match(/[A-Za-z_$][\w$]*/g) || []) strings.add(w);
  }
  const names = [...ownMembers(program, root)].filter((n) => n.length > 2 && !keep.has(n) && !strings.has(n) && !BUILTINS.some((b) => n in b)).sort();
  return { names, keep };
}

/**
 * esbuild's mangleCache for `names`: `_` or `$` and one character, then `_` and two, so none can
 * be the name of a built-in method. The names used most in `text` get the short ones (the bundle is
 * about 700 bytes smaller than with names given in alphabetical order).
 */
export function mangleCache(names: string[], text: string): Record<string, string> {
  const uses = (n: string) => text.split(new RegExp("\\b" + n.replace(/\$/g, "\\$") + "\\b")).length - 1;
  const count = new Map(names.map((n) => [n, uses(n)]));
  const cache: Record<string, string> = {};
  [...names].sort((a, b) => count.get(b)! - count.get(a)! || (a < b ? -1 : 1)).forEach((n, i) => { cache[n] = propName(i); });
  return cache;
}
