#!/usr/bin/env node
// npm run build:firmware: the firmware bundle, ready for EspruinoTools or a Storage file.
//   dist/recorder.js      readable bundle (esbuild, es2015, iife; defines the global `Recorder`)
//   dist/recorder.min.js  the same, minified, its top level at the global scope: what provisioning
//                         writes into Storage as `rec.js`
// Both pass the Espruino gate first (the build refuses syntax the interpreter lacks and the lint
// refuses missing built-ins and functions used before their definition), and the script prints
// their sizes against the 48 KB budget. `--check` builds and checks without writing.
import * as esbuild from "esbuild";
import ts from "typescript";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ESPRUINO_BUILD_OPTIONS, gate, formatFinding } from "./espruino-gate.mjs";
import { aliasBuiltins } from "./alias-builtins.mjs";
import { inlineConstants } from "./inline-constants.mjs";
import { overlayFinish, overlayPrepare } from "./overlay.mjs";
import { toGlobalScope } from "./global-scope.mjs";
import { propName } from "./bundle-ast.mjs";

export { propName };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ENTRY = path.join(ROOT, "firmware", "main.ts");
export const OUT = path.join(ROOT, "dist", "recorder.js");
export const OUT_MIN = path.join(ROOT, "dist", "recorder.min.js");
// 64 KB read as 64,000 bytes. What binds on a board is its variables (after boot and at the peak,
// measured on the board-sized interpreter by the lane), not the bytes of flash the code takes: the
// bundle lives in Storage beside about 200 KiB of free flash, and its code runs from there.
export const BUDGET = 64000;
// Loading the bundle starts the recorder unless the loader defined RECORDER_NO_BOOT first
// (firmware/main.ts defines the global `Recorder`).
// The recorder's state while recording: REC_RECORDING of protocol/schema.ts (a test checks it).
export const RECORDING_STATE = 1;
const BOOT = '\nif (typeof RECORDER_NO_BOOT === "undefined") Recorder.boot();\n';

/**
 * Property names the minified bundle may shorten. Member names of the firmware's own classes and interfaces take
 * about a third of the bundle, so the minifier renames them (esbuild mangleProps), except any name
 * that the outside world also uses: a string in the bundle (protobuf field names live in the schema
 * table as strings), a property of a JavaScript built-in, a field of rec.cfg / rec.key (JSON), the
 * Espruino API and the env the host is built from (the simulator provides it), and the recorder's
 * console and simulator API. Tests run the minified bundle on the interpreter and in the simulator,
 * so a wrong rename shows there.
 */
const CLASS_FILES = ["firmware/core/recorder.ts", "firmware/core/uplink.ts", "firmware/core/mqtt.ts", "firmware/core/queue.ts", "protocol/writer.ts",
  "protocol/chain.ts", "protocol/downlink.ts", "protocol/hmac.ts", "firmware/core/host.ts"];
// Interfaces whose objects come from outside the bundle (the simulator passes them in).
const OUTSIDE = new Set(["RecorderOptions", "MediaSource", "Battery"]);
const KEEP = new Set((
  // rec.cfg and rec.key fields (protocol/device-files.ts)
  "v id host port login dl ctl chunk pre status case wifi pins media sd j s next ls lz open r k1 g c0 sc t0 ssid pass rec mark mic bat led " +
  // the Espruino API and EspruinoEnv (firmware/hosts/env.ts), MediaSource, battery
  "Storage fs net crypto E getTime setTime setTimeout clearTimeout memory log board read readJSON write writeJSON erase compact getFree " +
  "list readdirSync statSync unlinkSync readFileSync writeFileSync on end connect SHA256 toString toUint8Array toArrayBuffer openFile hwRand skip close " +
  "watchButtons battery network start stop size mv pct usage memInfo probe free total " +
  // the recorder's console and simulator API
  "boot version record button info selftest halt state alarm lastError setCaseTag"
).split(" "));
function mangleable(bundleText) {
  const names = new Set();
  for (const f of CLASS_FILES) {
    const sf = ts.createSourceFile(f, readFileSync(path.join(ROOT, f), "utf8"), ts.ScriptTarget.Latest, true);
    sf.forEachChild(function visit(n) {
      const own = ts.isClassDeclaration(n) || (ts.isInterfaceDeclaration(n) && !OUTSIDE.has(n.name.text));
      if (own) for (const m of n.members) if (m.name && ts.isIdentifier(m.name)) names.add(m.name.text);
      ts.forEachChild(n, visit);
    });
  }
  // Names a string may use as a key: a string that is one identifier, and every word of a schema
  // string (protocol/schema.ts: "name type ..." per field). Words of log messages don't count.
  const strings = new Set();
  for (const q of bundleText.match(/"(?:[^"\\\n]|\\.)*"/g) || []) {
    if (!/^"[A-Za-z_$][\w$]*( \d.*)?"$/.test(q)) continue;
    for (const w of q.match(/[A-Za-z_$][\w$]*/g) || []) strings.add(w);
  }
  const builtins = [Object.prototype, Array.prototype, Uint8Array.prototype, String.prototype, Function.prototype, Promise.prototype, DataView.prototype, Error.prototype];
  return [...names].filter((n) => n.length > 2 && !KEEP.has(n) && !strings.has(n) && !builtins.some((b) => n in b)).sort();
}

/** Build both bundles in memory; throws with the gate's findings when the code leaves the subset. */
export async function buildFirmware() {
  const g = await gate([ENTRY]);
  if (!g.ok) throw new Error("firmware fails the Espruino gate:\n" + g.errors.map(formatFinding).join("\n"));
  const opts = { ...ESPRUINO_BUILD_OPTIONS, entryPoints: [ENTRY], write: false, absWorkingDir: ROOT };
  const plain = (await esbuild.build(opts)).outputFiles[0].text + BOOT;
  const names = mangleable(plain);
  // New names are chosen here: `_` or `$` and one character, then `_` and two, so none can be the
  // name of a built-in method. The names used most get the short ones (the bundle is about 700
  // bytes smaller than with names given in alphabetical order).
  const uses = (n) => plain.split(new RegExp("\\b" + n.replace(/\$/g, "\\$") + "\\b")).length - 1;
  const count = new Map(names.map((n) => [n, uses(n)]));
  const mangleCache = {};
  [...names].sort((a, b) => count.get(b) - count.get(a) || (a < b ? -1 : 1)).forEach((n, i) => { mangleCache[n] = propName(i); });
  const mangled = (await esbuild.build({ ...opts, minify: true, mangleProps: new RegExp("^(" + names.join("|") + ")$"), mangleCache })).outputFiles[0].text;
  // Top-level numeric constants become literals (scripts/inline-constants.mjs), the built-in
  // constructors used most get a short global alias (scripts/alias-builtins.mjs), then the outer
  // function is taken away and its names renamed (scripts/global-scope.mjs). The minifier and
  // these steps only rename, remove and substitute: the gate already checked every construct in
  // the sources. The result is parsed once more so a bad substitution fails the build, not a board.
  // Functions and private methods become overlays (scripts/overlay.mjs), in two halves around the
  // renaming. The boot line empties the overlay cache once boot is done, and every minute the
  // recorder is idle, so what a recording needed is freed after it.
  const pre = overlayPrepare(aliasBuiltins(inlineConstants(mangled).text).text);
  const global = toGlobalScope(pre.text);
  const cache = global.renames.get("__ovlCache");
  const boot = `{ Recorder.boot(); ${cache} = []; setInterval(function () { if (recorder.state !== ${RECORDING_STATE}) ${cache} = []; }, 6e4); }`;
  const min = overlayFinish(global.text + BOOT.replace("Recorder.boot();", boot)).text;
  await esbuild.transform(min, { loader: "js" });
  return { plain, min };
}

/** dist/recorder.min.js, built first when missing (tests, the simulator, the demo). Returns its path. */
export async function ensureBundle() {
  if (!existsSync(OUT_MIN)) {
    const b = await buildFirmware();
    mkdirSync(path.dirname(OUT), { recursive: true });
    writeFileSync(OUT, b.plain);
    writeFileSync(OUT_MIN, b.min);
  }
  return OUT_MIN;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes("--check");
  try {
    const b = await buildFirmware();
    if (!check) {
      mkdirSync(path.dirname(OUT), { recursive: true });
      writeFileSync(OUT, b.plain);
      writeFileSync(OUT_MIN, b.min);
    }
    const kb = (n) => (n / 1024).toFixed(1) + " KiB";
    console.log(`${check ? "checked" : "wrote"} ${path.relative(ROOT, OUT)}      ${String(b.plain.length).padStart(7)} bytes (${kb(b.plain.length)})`);
    console.log(`${check ? "checked" : "wrote"} ${path.relative(ROOT, OUT_MIN)}  ${String(b.min.length).padStart(7)} bytes (${kb(b.min.length)}); budget ${BUDGET} bytes: ${b.min.length <= BUDGET ? "OK" : "OVER"}`);
    if (b.min.length > BUDGET) process.exit(1);
  } catch (e) {
    console.error(String(e.message || e));
    process.exit(1);
  }
}
