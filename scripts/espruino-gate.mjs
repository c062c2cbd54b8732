#!/usr/bin/env node
// Espruino gate: proves, without the interpreter, that code meant for the board stays inside the
// JavaScript subset the Espruino interpreter runs. Three layers, because none catches everything:
//   1. esbuild with `supported` overrides refuses syntax it cannot lower (destructuring, default
//      and rest parameters, async, generators, array spread) and lowers `?.`, `??`, `||=`, fields.
//   2. A TypeScript-AST lint of every source file the entry pulls in refuses missing built-ins and
//      syntax esbuild would pass through or lower badly (labels, computed keys, `**`, statics, ...).
//   3. A scan of the bundled text refuses esbuild helpers and shapes the interpreter cannot run.
//
// Usage: node scripts/espruino-gate.mjs [--strict] [entry.ts ...]   (default: scripts/espruino-entry.ts)
// Exit 1 when there are errors (with --strict, also when there are warnings).
//
// Measured on espruino-linux 2v29.277 (one probe file per feature, run from a temp dir):
//  MISSING (refused here):
//   syntax: destructuring (object and array), spread (call, array, object), rest parameters,
//     default parameters, async/await, generators, labels (`outer:` is read as an identifier),
//     `**` (SyntaxError), `?.` (SyntaxError), `||=`/`&&=` (SyntaxError), computed keys
//     `{[k]: v}` and `class { [k]() {} }` (SyntaxError), class field `x;` (SyntaxError; esbuild
//     lowers fields to __publicField, which works), bigint literals;
//     function hoisting: a function declaration used before its statement has run fails, both
//     nested in a function and at the top level (so: no nested declarations, no early top-level use);
//     a named class expression cannot see its own name (`var B = class A { m() { return A } }`),
//     nor can a static getter see its class name.
//   globals: Map, Set, WeakMap, WeakSet, WeakRef, Symbol, Proxy, Reflect, BigInt, Buffer,
//     TextEncoder, TextDecoder, Intl, queueMicrotask, structuredClone, RangeError (a `throw new
//     RangeError(...)` throws ReferenceError '"RangeError" is not defined' instead, losing the
//     message: refused).
//   statics: Array.from/of, Uint8Array.from/of, Number.MAX_SAFE_INTEGER/MIN_SAFE_INTEGER/EPSILON/
//     isInteger/isFinite/isNaN/isSafeInteger/parseInt/parseFloat, Promise.allSettled/any/race,
//     Object.freeze/is/isFrozen/seal/getOwnPropertySymbols, Math.imul/trunc/log2/log10/clz32/
//     fround/hypot/cbrt, String.fromCodePoint/raw; Math.pow exists but is inexact
//     (Math.pow(2, 32) = 4294967295.99999666, Math.pow(2, 53) = 9007199254740986), and esbuild
//     lowers `**` to it, so both are refused.
//   methods: .at .flat .flatMap .findLast .findLastIndex .codePointAt .trimStart .trimEnd
//     .copyWithin .normalize .matchAll .localeCompare; Array/TypedArray .keys/.values/.entries;
//     ArrayBuffer .slice; Array/TypedArray .lastIndexOf (String has it: warning only);
//     Function .name is undefined (not checked).
//   semantics: a closure made in a `for (let ...)` / `for (const x of ...)` loop shares ONE binding
//     across iterations (warning: fine when the closure runs before the next iteration);
//     String.fromCharCode(c) keeps only the low 8 bits of c (0x6267 -> 0x67), and concatenating
//     an 8-bit string with a UTF-8 one yields raw bytes (not checked: see the report).
//  PRESENT (allowed): let/const, arrow functions (lexical this), classes with extends/super and
//   getters, static methods (refused anyway: see above), template literals, shorthand properties and
//   methods, for...of, for...in, binary/octal literals, `??` (works, but refused by policy with
//   `?.`), optional catch binding, new.target, getters via Object.defineProperty, Object.keys/
//   values/entries/assign/create/defineProperty/getPrototypeOf/setPrototypeOf/fromEntries/
//   getOwnPropertyNames, Array includes/find/findIndex/fill/isArray/some/every/map/filter/reduce/
//   sort/splice/slice/indexOf/join, String padStart/padEnd/repeat/startsWith/endsWith/includes/
//   trim/split/replaceAll/lastIndexOf, Uint8Array fill(v, start, end)/slice/subarray/set (also
//   overlapping)/indexOf/includes/map/join, `new Uint8Array(typed)` copies, `new Uint8Array(buf,
//   off, len)` views, `instanceof Uint8Array`, `.constructor === Uint8Array`, DataView get/set
//   Uint8/16/32 (big- and little-endian, with offsets), Math.floor/round/min/max/sign, `>>>`
//   with doubles above 2^32, doubles to 2^53 exact, `delete o[k]`, Error/TypeError with an added
//   `.code`, JSON.stringify/parse (\u escapes), Promise/then/all, Date, getTime(), E.toString
//   (variadic), require("crypto").SHA256 (Uint8Array, subarray views, strings), require("fs")
//   appendFileSync/readFileSync, process.memory(), globalThis (present in 2v29; refused by policy:
//   board code needs no global object).
import * as esbuild from "esbuild";
import ts from "typescript";
import { readFileSync, writeFileSync, mkdtempSync, rmSync, accessSync, statSync, constants } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_ENTRY = path.join(ROOT, "scripts", "espruino-entry.ts");

/** esbuild features the interpreter lacks: refused when esbuild cannot lower them, else lowered. */
export const ESPRUINO_SUPPORTED = {
  destructuring: false, "default-argument": false, "rest-argument": false, "array-spread": false,
  "object-rest-spread": false, "nested-rest-binding": false, "async-await": false, "async-generator": false,
  "for-await": false, generator: false, "top-level-await": false, bigint: false, "exponent-operator": false,
  "optional-chain": false, "nullish-coalescing": false, "logical-assignment": false, "class-field": false,
  "class-static-field": false, "class-static-blocks": false, "dynamic-import": false, "import-meta": false,
};

/** The build every board bundle uses (tests and the bench bundle with exactly these options). */
export const ESPRUINO_BUILD_OPTIONS = {
  bundle: true, format: "iife", target: "es2015", platform: "neutral", supported: ESPRUINO_SUPPORTED,
  external: ["crypto", "fs", "Storage", "Flash", "net", "http", "Wifi"], // the interpreter's own modules
  logLevel: "silent", legalComments: "none",
  // TypeScript field declarations (`seq: number;`) are types only: with define semantics esbuild would
  // emit a __publicField(this, "seq") call per field per construction, code and time on a board.
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
  // Board code is told it is on a board where it keeps less than Node would (protocol/schema.ts).
  define: { EVREC_BOARD: "true" },
};

const GLOBALS = {
  Map: "missing on Espruino: use an object with string keys", Set: "missing on Espruino: use an object as a set",
  WeakMap: "missing on Espruino", WeakSet: "missing on Espruino", WeakRef: "missing on Espruino",
  Symbol: "missing on Espruino", Proxy: "missing on Espruino", Reflect: "missing on Espruino",
  BigInt: "missing on Espruino: split 64-bit values into two doubles", Buffer: "Node-only: use Uint8Array",
  TextEncoder: "missing on Espruino: use utf8() from protocol/bytes.ts", TextDecoder: "missing on Espruino: use fromUtf8()",
  Intl: "missing on Espruino", queueMicrotask: "missing on Espruino", structuredClone: "missing on Espruino",
  globalThis: "refused by policy (it exists on 2v29): board code needs no global object",
  RangeError: 'missing on Espruino: `new RangeError(m)` throws ReferenceError "RangeError is not defined" and loses m; use Error',
};
// Missing globals that are only advice: none at present.
const GLOBAL_WARNINGS = {};
const STATICS = {
  "Array.from": "loop into a new array", "Array.of": "use an array literal",
  "Uint8Array.from": "use new Uint8Array(array)", "Uint8Array.of": "use new Uint8Array([...])",
  "Number.MAX_SAFE_INTEGER": "use 9007199254740991 (MAX_SAFE in protocol/bytes.ts)", "Number.MIN_SAFE_INTEGER": "use -9007199254740991",
  "Number.EPSILON": "", "Number.isInteger": "use n === Math.floor(n)", "Number.isFinite": "", "Number.isNaN": "use n !== n",
  "Number.isSafeInteger": "", "Number.parseInt": "use parseInt", "Number.parseFloat": "use parseFloat",
  "Promise.allSettled": "", "Promise.any": "", "Promise.race": "",
  "Object.freeze": "", "Object.is": "", "Object.isFrozen": "", "Object.seal": "", "Object.getOwnPropertySymbols": "",
  "Math.imul": "", "Math.trunc": "", "Math.log2": "", "Math.log10": "", "Math.clz32": "", "Math.fround": "", "Math.hypot": "", "Math.cbrt": "",
  "Math.pow": "exists but inexact on Espruino (Math.pow(2, 32) = 4294967295.99999666): multiply, or use constants",
  "String.fromCodePoint": "", "String.raw": "",
};
const METHODS = {
  at: "use [i]", flat: "", flatMap: "", findLast: "", findLastIndex: "", codePointAt: "use charCodeAt",
  trimStart: "", trimEnd: "", copyWithin: "", normalize: "", matchAll: "", localeCompare: "",
};

// esbuild helpers that mean a refused construct slipped through, or that the interpreter cannot run.
const HELPERS = {
  __extends: "TypeScript's ES5 class helper fails on Espruino", __pow: "lowered `**` calls Math.pow, inexact on Espruino",
  __spreadValues: "object spread", __spreadProps: "object spread", __objRest: "object rest", __rest: "object rest",
  __spreadArray: "array spread", __async: "async function", __await: "await", __asyncGenerator: "async generator",
  __forAwait: "for await", __yieldStar: "generator", __generator: "generator", __template: "tagged template (Object.freeze)",
  __privateGet: "#private (WeakMap)", __privateSet: "#private (WeakMap)", __privateAdd: "#private (WeakMap)",
  __privateMethod: "#private (WeakMap)", __privateIn: "#private (WeakMap)", __decorateClass: "decorators",
  __using: "using (Symbol.dispose)", __callDispose: "using (Symbol.dispose)", __knownSymbol: "Symbol",
};

const FUNCTION_LIKE = new Set([
  ts.SyntaxKind.FunctionDeclaration, ts.SyntaxKind.FunctionExpression, ts.SyntaxKind.ArrowFunction,
  ts.SyntaxKind.MethodDeclaration, ts.SyntaxKind.Constructor, ts.SyntaxKind.GetAccessor, ts.SyntaxKind.SetAccessor,
]);

/** True when the identifier is a reference to a variable, not a member name, declaration or type. */
function isValueRef(id) {
  const p = id.parent;
  if (!p) return false;
  if (ts.isPropertyAccessExpression(p) || ts.isQualifiedName(p)) return p.expression === id || p.left === id;
  if (ts.isTypeOfExpression(p)) return false; // `typeof Symbol` is a safe feature test on Espruino
  if (ts.isShorthandPropertyAssignment(p)) return true;
  if (ts.isImportSpecifier(p) || ts.isExportSpecifier(p) || ts.isImportClause(p) || ts.isNamespaceImport(p)) return false;
  if (ts.isLabeledStatement(p) || ts.isBreakOrContinueStatement(p)) return false;
  if (ts.isBindingElement(p)) return p.initializer === id;
  if ("name" in p && p.name === id) return false; // declarations, property names, parameters
  return true;
}

function bindingNames(name, out) {
  if (ts.isIdentifier(name)) out.push(name.text);
  else for (const e of name.elements) if (!ts.isOmittedExpression(e)) bindingNames(e.name, out);
  return out;
}

const isLetOrConst = (list) => ts.isVariableDeclarationList(list) && (list.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const)) !== 0;
const hasModifier = (n, kind) => !!(ts.canHaveModifiers(n) && ts.getModifiers(n) || []).some((m) => m.kind === kind);

/**
 * Lint one source text. mode "source" applies every rule; mode "bundle" (esbuild output, where every
 * module sits inside one IIFE) skips the rules about where function declarations may stand.
 */
export function lintSource(file, text, mode = "source") {
  const kind = /\.tsx?$/.test(file) ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const out = [];
  const source = mode === "source";
  const at = (node, rule, message, severity = "error") => {
    if (!source && severity !== "error") return; // warnings are advice about the source, not the bundle
    const lc = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    out.push({ file, line: lc.line + 1, col: lc.character + 1, rule, message, severity });
  };

  // Top-level function declarations, for the use-before-declaration rule.
  const topFns = new Map();
  if (source) for (const s of sf.statements) if (ts.isFunctionDeclaration(s) && s.name && s.body) topFns.set(s.name.text, s.getStart(sf));

  for (const d of sf.parseDiagnostics || []) {
    const lc = sf.getLineAndCharacterOfPosition(d.start || 0);
    out.push({ file, line: lc.line + 1, col: lc.character + 1, rule: "parse", message: ts.flattenDiagnosticMessageText(d.messageText, " "), severity: "error" });
  }

  // `fnDepth`: inside a function body. `loopVars`: let/const names of enclosing loop headers.
  // `helper`: inside esbuild's __require helper (bundle mode), whose Proxy branch never runs on Espruino.
  function visit(node, fnDepth, loopVars, helper) {
    if (ts.isTypeNode(node) && !ts.isExpressionWithTypeArguments(node)) return;
    if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) || ts.isModuleDeclaration(node)) return;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) return;
    if (hasModifier(node, ts.SyntaxKind.DeclareKeyword)) return;
    if (!source && ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === "__require") helper = true;

    switch (node.kind) {
      case ts.SyntaxKind.ObjectBindingPattern: case ts.SyntaxKind.ArrayBindingPattern:
        at(node, "destructuring", "destructuring is missing on Espruino: read the fields one by one"); break;
      case ts.SyntaxKind.SpreadElement: case ts.SyntaxKind.SpreadAssignment:
        at(node, "spread", "spread `...` is missing on Espruino: loop, concat or .apply"); break;
      case ts.SyntaxKind.LabeledStatement:
        at(node, "label", "labels are missing on Espruino (the label is read as a variable): use a flag or a function"); break;
      case ts.SyntaxKind.ComputedPropertyName:
        at(node, "computed-key", "computed keys `[k]: v` are a SyntaxError on Espruino: assign o[k] = v after the literal"); break;
      case ts.SyntaxKind.BigIntLiteral:
        at(node, "bigint", "BigInt literals are missing on Espruino"); break;
      case ts.SyntaxKind.TaggedTemplateExpression:
        at(node, "tagged-template", "tagged templates need String.raw/Object.freeze, missing on Espruino"); break;
      case ts.SyntaxKind.PrivateIdentifier:
        at(node, "private-member", "#private members are lowered with WeakMap, missing on Espruino: use a plain field"); break;
      case ts.SyntaxKind.ClassStaticBlockDeclaration:
        at(node, "class-static", "class static blocks: esbuild emits a named class expression that cannot see its own name on Espruino"); break;
      case ts.SyntaxKind.AwaitExpression:
        at(node, "async-await", "await is missing on Espruino: use callbacks or .then"); break;
      case ts.SyntaxKind.YieldExpression:
        at(node, "generator", "generators are missing on Espruino"); break;
      case ts.SyntaxKind.ForOfStatement:
        if (node.awaitModifier) at(node, "async-await", "for await is missing on Espruino"); break;
    }
    if (ts.isParameter(node)) {
      if (node.dotDotDotToken) at(node, "rest-parameter", "rest parameters `...args` are missing on Espruino: use arguments");
      if (node.initializer) at(node, "default-parameter", "default parameters are a SyntaxError on Espruino: test for undefined in the body");
    }
    if (ts.isBinaryExpression(node)) {
      const op = node.operatorToken.kind;
      if (op === ts.SyntaxKind.AsteriskAsteriskToken || op === ts.SyntaxKind.AsteriskAsteriskEqualsToken)
        at(node.operatorToken, "exponent", "`**` is a SyntaxError on Espruino and esbuild lowers it to Math.pow, which is inexact there: multiply");
      if (op === ts.SyntaxKind.QuestionQuestionToken || op === ts.SyntaxKind.QuestionQuestionEqualsToken)
        at(node.operatorToken, "nullish", "`??` is refused (policy, with `?.`): write `x !== undefined && x !== null ? x : y`");
      if (op === ts.SyntaxKind.BarBarEqualsToken || op === ts.SyntaxKind.AmpersandAmpersandEqualsToken)
        at(node.operatorToken, "logical-assignment", "`||=`/`&&=` are a SyntaxError on Espruino");
      if (op === ts.SyntaxKind.EqualsToken && (ts.isObjectLiteralExpression(node.left) || ts.isArrayLiteralExpression(node.left)))
        at(node.left, "destructuring", "destructuring assignment is missing on Espruino");
    }
    if ((ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node) || ts.isCallExpression(node)) && node.questionDotToken)
      at(node, "optional-chain", "`?.` is a SyntaxError on Espruino: test the value first");
    if ((ts.isForOfStatement(node) || ts.isForInStatement(node)) && (ts.isObjectLiteralExpression(node.initializer) || ts.isArrayLiteralExpression(node.initializer)))
      at(node.initializer, "destructuring", "destructuring in a loop head is missing on Espruino");
    if ((ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isMethodDeclaration(node)) && node.asteriskToken)
      at(node, "generator", "generators are a SyntaxError on Espruino");
    if (FUNCTION_LIKE.has(node.kind) && hasModifier(node, ts.SyntaxKind.AsyncKeyword))
      at(node, "async-await", "async functions are missing on Espruino: use callbacks or .then");
    if (source && ts.isClassElement(node) && hasModifier(node, ts.SyntaxKind.StaticKeyword))
      at(node, "class-static", "static class members: esbuild names the class expression and Espruino cannot resolve that name inside it; use a module-level function or constant");
    if (!source && ts.isClassExpression(node) && node.name)
      at(node, "named-class-expression", "a named class expression cannot see its own name on Espruino (esbuild emits these for classes with static members)");
    if (!source && ts.isPropertyDeclaration(node))
      at(node, "class-field", "a class field declaration `x;` is a SyntaxError on Espruino (esbuild should have lowered it)");
    if (source && ts.isFunctionDeclaration(node) && node.body && !ts.isSourceFile(node.parent))
      at(node, "nested-function", "function declarations inside a function or block are not hoisted on Espruino: use a top-level function or `const f = function () {}` before its use");

    if (ts.isIdentifier(node) && isValueRef(node) && !helper) {
      const g = GLOBALS[node.text], w = GLOBAL_WARNINGS[node.text];
      if (!source && HELPERS[node.text]) at(node, "esbuild-helper", node.text + ": " + HELPERS[node.text]);
      if (g) at(node, "missing-global", node.text + ": " + g);
      else if (w) at(node, "missing-global", node.text + ": " + w, "warning");
      if (source && fnDepth === 0 && topFns.has(node.text) && topFns.get(node.text) > node.getStart(sf))
        at(node, "use-before-declaration", node.text + " is used at load time before its declaration: Espruino does not hoist function declarations; move the function up");
      if (loopVars.length && fnDepth > 0 && loopVars.some((v) => v.name === node.text && v.fnDepth < fnDepth))
        at(node, "loop-closure", "closure captures loop variable `" + node.text + "`: Espruino shares one binding across iterations (fine only if the closure runs before the next iteration)", "warning");
    }
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.name)) {
      const m = node.name.text;
      const recv = ts.isIdentifier(node.expression) ? node.expression.text : null;
      const called = ts.isCallExpression(node.parent) && node.parent.expression === node;
      if (recv && Object.prototype.hasOwnProperty.call(STATICS, recv + "." + m)) at(node, "missing-builtin", recv + "." + m + " is missing on Espruino" + (STATICS[recv + "." + m] ? ": " + STATICS[recv + "." + m] : ""));
      else if (called && recv && /Array$/.test(recv) && (m === "from" || m === "of")) at(node, "missing-builtin", recv + "." + m + " is missing on Espruino");
      else if (called && Object.prototype.hasOwnProperty.call(METHODS, m)) at(node.name, "missing-builtin", "." + m + "() is missing on Espruino" + (METHODS[m] ? ": " + METHODS[m] : ""));
      else if (called && (m === "keys" || m === "values" || m === "entries") && recv !== "Object") at(node.name, "missing-builtin", "." + m + "() is missing on Espruino arrays and typed arrays: use Object." + m + " or an index loop");
      else if (called && m === "slice" && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === "buffer") at(node.name, "missing-builtin", "ArrayBuffer .slice() is missing on Espruino: copy with new Uint8Array(view)");
      else if (called && m === "lastIndexOf") at(node.name, "missing-builtin", ".lastIndexOf() is missing on Espruino arrays and typed arrays (strings have it)", "warning");
    }

    // Recurse, tracking function depth and the let/const variables of enclosing loop heads.
    let vars = loopVars;
    const depth = FUNCTION_LIKE.has(node.kind) ? fnDepth + 1 : fnDepth;
    if ((ts.isForStatement(node) || ts.isForOfStatement(node) || ts.isForInStatement(node)) && node.initializer && isLetOrConst(node.initializer)) {
      vars = loopVars.slice();
      for (const d of node.initializer.declarations) for (const n of bindingNames(d.name, [])) vars.push({ name: n, fnDepth });
    }
    ts.forEachChild(node, (c) => visit(c, depth, vars, helper));
  }
  visit(sf, 0, [], false);
  return out;
}

/** Source files (not JSON) an entry pulls in, from a permissive esbuild pass that only resolves. */
async function inputsOf(entry) {
  const r = await esbuild.build({ ...ESPRUINO_BUILD_OPTIONS, supported: {}, target: "esnext", entryPoints: [entry], write: false, metafile: true, absWorkingDir: ROOT });
  return Object.keys(r.metafile.inputs).filter((f) => !/\.json$/.test(f)).map((f) => path.resolve(ROOT, f));
}

function fromEsbuild(m, severity) {
  const loc = m.location;
  return { file: loc ? path.resolve(ROOT, loc.file) : "(esbuild)", line: loc ? loc.line : 0, col: loc ? loc.column + 1 : 0, rule: "esbuild", message: m.text, severity };
}

/** Build one entry for the interpreter; throws an Error listing esbuild's messages on failure. */
export async function bundleForEspruino(entry) {
  const r = await esbuild.build({ ...ESPRUINO_BUILD_OPTIONS, entryPoints: [entry], write: false, absWorkingDir: ROOT });
  return r.outputFiles[0].text;
}

/**
 * Run all three layers on each entry. Returns the findings and, for entries that built, the bundle
 * text: { ok, errors, warnings, bundles: [{ entry, code }] }. `strict` turns warnings into errors.
 */
export async function gate(entries, options) {
  const list = entries && entries.length ? entries.map((e) => path.resolve(e)) : [DEFAULT_ENTRY];
  const strict = !!(options && options.strict);
  const findings = [];
  const bundles = [];
  const linted = new Set();
  for (const entry of list) {
    let files;
    try {
      files = await inputsOf(entry);
    } catch (e) {
      if (!e.errors) throw e;
      for (const m of e.errors) findings.push(fromEsbuild(m, "error"));
      continue;
    }
    for (const f of files) {
      if (linted.has(f)) continue;
      linted.add(f);
      findings.push(...lintSource(f, readFileSync(f, "utf8"), "source"));
    }
    // The bundle scan reports what esbuild added; while the sources have errors it would only repeat them.
    const sourceErrors = findings.some((f) => f.severity === "error");
    let code;
    try {
      code = await bundleForEspruino(entry);
    } catch (e) {
      if (!e.errors) throw e;
      for (const m of e.errors) findings.push(fromEsbuild(m, "error"));
      continue;
    }
    const name = "<bundle of " + path.relative(ROOT, entry) + ">";
    if (!sourceErrors) findings.push(...lintSource(name, code, "bundle"));
    bundles.push({ entry, code });
  }
  const seen = new Set();
  const unique = findings.filter((f) => { const k = formatFinding(f); if (seen.has(k)) return false; seen.add(k); return true; });
  const errors = unique.filter((f) => f.severity === "error" || strict);
  const warnings = unique.filter((f) => f.severity !== "error" && !strict);
  return { ok: errors.length === 0, errors, warnings, bundles };
}

/** Bytes per piece when a file goes into `Storage`: what the provisioning tool sends per REPL line. */
export const STORAGE_PIECE = 2048;

/**
 * A script that copies files of the working directory (the interpreter's "SD card") into `Storage`
 * piece by piece, as the provisioning tool writes them: the first piece makes the `Storage` file at
 * its full size, the others fill it in. Never one string literal of the whole file: on a board-sized
 * build a 47 KB literal runs out of memory while it is parsed. `entries` are [Storage name, file
 * name]; each file is removed once copied. A `Storage` file that already holds the same bytes is left
 * as it is (no flash written). Prints nothing.
 */
export function storageFromFiles(entries, piece = STORAGE_PIECE) {
  return `(function () { var S = require("Storage"), fs = require("fs");
  ${JSON.stringify(entries)}.forEach(function (e) {
    var n = e[0], size = fs.statSync(e[1]).size, f = E.openFile(e[1], "r"), o = 0, s, same = S.read(n) !== undefined && S.read(n).length === size;
    while (same && o < size) { s = f.read(${piece}); same = S.read(n, o, s.length) === s; o += s.length; }
    f.close();
    if (!same) {
      f = E.openFile(e[1], "r"); o = 0;
      while (o < size) { s = f.read(${piece}); S.write(n, s, o, size); o += s.length; }
      f.close();
    }
    s = undefined;
    fs.unlinkSync(e[1]);
  });
})();
`;
}

/** A fresh temp dir holding the bundle as Storage pieces, its runner and `files`. */
function runDir(code, files) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "espruino-run-"));
  writeFileSync(path.join(dir, "bundle.src"), code);
  for (const [name, data] of Object.entries(files || {})) writeFileSync(path.join(dir, name), data);
  writeFileSync(path.join(dir, "run.js"), storageFromFiles([["bundle.js", "bundle.src"]]) + 'eval(require("Storage").read("bundle.js"));\n');
  return dir;
}

/** The script's output lines from the interpreter's stdout, and its version from the banner. */
function runOutput(stdout) {
  const out = (stdout || "").replace(/\r/g, "").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
  const cut = out.indexOf("espruino.com/Donate");
  const body = cut < 0 ? out : out.slice(out.indexOf("\n", cut) + 1);
  const lines = body.split("\n").map((l) => l.replace(/^>+/, "").trimEnd()).filter((l) => l !== "");
  const version = (/ (\d+v\d+(?:\.\d+)?) \(c\)/.exec(out) || [])[1] || "unknown";
  return { lines, version };
}

/**
 * Run a bundle on an Espruino interpreter binary (ESPRUINO_BIN) in a fresh temp dir (require("Storage")
 * and fs write there), and return its script output as lines: the banner up to the donation URL,
 * the `>` prompt and terminal escapes are removed. Used by the interpreter tests and the bench.
 * The bundle goes into `Storage` in pieces and runs from there, as code does on a board: its
 * function bodies stay in flash. `files` are written into the directory first (inputs the bundle
 * reads with `fs`, such as test vectors). The runner is named by its full path, so the process
 * says which directory is its own.
 */
export function runOnEspruino(bin, code, timeoutMs, files) {
  const dir = runDir(code, files);
  try {
    const started = Date.now();
    const r = spawnSync(bin, [path.join(dir, "run.js")], { cwd: dir, encoding: "utf8", timeout: timeoutMs || 120000, maxBuffer: 64 << 20 });
    return { ...runOutput(r.stdout), status: r.status, signal: r.signal, error: r.error, stderr: r.stderr || "", ms: Date.now() - started };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * runOnEspruino without blocking: `done` settles with the same result; `stop()` kills the
 * interpreter and removes its directory at once (a bench stopped part way: runOnEspruino's
 * interpreter, blocking its caller, was left running to its own timeout, its directory behind).
 */
export function runOnEspruinoAsync(bin, code, timeoutMs, files) {
  const dir = runDir(code, files);
  const started = Date.now();
  const child = spawn(bin, [path.join(dir, "run.js")], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "", error;
  child.stdout.setEncoding("utf8").on("data", (d) => { stdout += d; });
  child.stderr.setEncoding("utf8").on("data", (d) => { stderr += d; });
  // A binary that can't be started says so on "error" (and may close nothing): settled there too.
  let settle;
  child.once("error", (e) => { error = e; settle(null, null); });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs || 120000);
  const stop = () => {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  const done = new Promise((resolve) => {
    settle = (status, signal) => {
      stop();
      resolve({ ...runOutput(stdout), status, signal, error, stderr, ms: Date.now() - started });
    };
    child.once("close", (status, signal) => settle(status, signal));
  });
  return { done, stop };
}

/** An executable file's path, or "". */
function executable(bin) {
  try {
    accessSync(bin, constants.X_OK);
    return statSync(bin).isFile() ? bin : "";
  } catch {
    return "";
  }
}

function onPathBin(name) {
  const r = spawnSync("sh", ["-c", "command -v " + name], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "";
}

/**
 * The interpreter to run: ESPRUINO_BIN, or with `onPath` an `espruino-linux` on the PATH; ""
 * when that names no executable file. One place, so the lanes and the bench agree on it.
 */
export function espruinoBin(onPath) {
  return executable(process.env.ESPRUINO_BIN || (onPath ? onPathBin("espruino-linux") : ""));
}

/**
 * The board-sized interpreter: a build with a fixed store of 7,100 variables, as an Espruino WiFi
 * has (ESPRUINO_BOARD_BIN, or with `onPath` an `espruino-board` on the PATH); "" when none.
 */
export function espruinoBoardBin(onPath) {
  return executable(process.env.ESPRUINO_BOARD_BIN || (onPath ? onPathBin("espruino-board") : ""));
}

/**
 * The builds the real-interpreter lane runs on, each where installed: `linux` (the default build,
 * whose variable store grows on demand) and `board` (the fixed store of a board). Tests run once per
 * build and name it; an empty list means the lane is skipped.
 */
export function espruinoBuilds(onPath) {
  const out = [];
  const linux = espruinoBin(onPath);
  if (linux) out.push({ name: "linux", bin: linux, board: false });
  const board = espruinoBoardBin(onPath);
  if (board) out.push({ name: "board", bin: board, board: true });
  return out;
}

/** `file:line:col: error [rule] message`, with the file relative to the repository when inside it. */
export function formatFinding(f) {
  const file = path.isAbsolute(f.file) && !path.relative(ROOT, f.file).startsWith("..") ? path.relative(ROOT, f.file) : f.file;
  return file + ":" + f.line + ":" + f.col + ": " + f.severity + " [" + f.rule + "] " + f.message;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const strict = args.includes("--strict");
  const r = await gate(args.filter((a) => a !== "--strict"), { strict });
  for (const f of r.errors) console.error(formatFinding(f));
  for (const f of r.warnings) console.error(formatFinding(f));
  const size = r.bundles.reduce((n, b) => n + b.code.length, 0);
  if (r.ok) console.log("espruino-gate: OK (" + r.bundles.length + " bundle(s), " + size + " bytes, " + r.warnings.length + " warning(s))");
  else console.error("espruino-gate: FAILED with " + r.errors.length + " error(s)");
  process.exit(r.ok ? 0 : 1);
}
