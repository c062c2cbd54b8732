// npm run build:firmware: the firmware bundle, ready for EspruinoTools or a Storage file.
//   dist/recorder.js      readable bundle (esbuild, es2015, iife; defines the global `Recorder`)
//   dist/recorder.min.js  the same, minified and put through the passes below: what provisioning
//                         writes into Storage as `rec.js`
// Both pass the Espruino gate first (scripts/espruino-gate.mjs: the build refuses syntax the
// interpreter lacks and the lint refuses missing built-ins and functions used before their
// definition), and the script prints their sizes against the budget.
//
//   --check               build and check, write nothing
//   --without P[,P...]    switch passes off (also FIRMWARE_WITHOUT=P,P in the environment), to
//                         measure what each one gains or to rule one out when a bundle misbehaves
//   --measure             build once with every pass and once without each, run each bundle on the
//                         interpreter builds installed, and print bytes and variables after boot (measure.ts)
//
// The passes, in the order they run (README.md says what each gains, measured, and why a fifth,
// short aliases for built-in constructors, was dropped):
//   mangle            the firmware's own property names shortened (mangle.ts)
//   inline-constants  top-level numeric constants become literals (inline-constants.ts)
//   global-scope      the outer function taken away, its names renamed (global-scope.ts)
//   overlay           functions and private methods kept as text, made on first call (overlay.ts)
import * as esbuild from "esbuild";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ESPRUINO_BUILD_OPTIONS, gate, formatFinding } from "../../scripts/espruino-gate.mjs";
import { inlineConstants } from "./inline-constants.js";
import { mangleable, mangleCache, sourceProgram } from "./mangle.js";
import { overlayFinish, overlayPrepare } from "./overlay.js";
import { toGlobalScope } from "./global-scope.js";

export { propName } from "./ast.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ENTRY = path.join(ROOT, "firmware", "main.ts");
export const OUT = path.join(ROOT, "dist", "recorder.js");
export const OUT_MIN = path.join(ROOT, "dist", "recorder.min.js");
// 64 KB read as 64,000 bytes. What binds on a board is its variables (after boot and at the peak,
// measured on the board-sized interpreter by the lane), not the bytes of flash the code takes: the
// bundle lives in Storage beside about 200 KiB of free flash, and its code runs from there.
export const BUDGET = 64000;
// The recorder's state while recording: REC_RECORDING of protocol/schema.ts (a test checks it).
export const RECORDING_STATE = 1;
// Loading the bundle starts the recorder unless the loader defined RECORDER_NO_BOOT first
// (firmware/main.ts defines the global `Recorder`).
const BOOT = '\nif (typeof RECORDER_NO_BOOT === "undefined") Recorder.boot();\n';

/** The passes over the bundle, in the order they run. */
export const PASSES = ["mangle", "inline-constants", "global-scope", "overlay"] as const;
export type Pass = (typeof PASSES)[number];
/** Passes that work only after another: an overlay is made at the global scope, so the names it uses must be there. */
const NEEDS: Partial<Record<Pass, Pass>> = { overlay: "global-scope" };

export interface BuildOptions {
  /** Passes switched off (default: FIRMWARE_WITHOUT in the environment, a comma-separated list). */
  without?: Pass[];
}

/** The passes named in a comma-separated list; throws on an unknown name or a pass left on without the one it needs. */
export function passList(list: string): Pass[] {
  const out = list.split(",").map((s) => s.trim()).filter(Boolean);
  for (const p of out) if (!(PASSES as readonly string[]).includes(p)) throw new Error(`build: no pass "${p}" (passes: ${PASSES.join(", ")})`);
  return out as Pass[];
}

function checkPasses(off: Set<Pass>): void {
  for (const [p, need] of Object.entries(NEEDS) as [Pass, Pass][]) {
    if (!off.has(p) && off.has(need)) throw new Error(`build: ${p} needs ${need}: switch ${p} off too`);
  }
}

/** Build both bundles in memory; throws with the gate's findings when the code leaves the subset. */
export async function buildFirmware(options?: BuildOptions): Promise<{ plain: string; min: string; without: Pass[] }> {
  const without = options?.without ?? passList(process.env.FIRMWARE_WITHOUT || "");
  const off = new Set(without);
  checkPasses(off);
  const g = await gate([ENTRY]);
  if (!g.ok) throw new Error("firmware fails the Espruino gate:\n" + g.errors.map(formatFinding).join("\n"));
  const opts: esbuild.BuildOptions & { write: false } = { ...ESPRUINO_BUILD_OPTIONS, entryPoints: [ENTRY], write: false, absWorkingDir: ROOT };
  const plain = (await esbuild.build(opts)).outputFiles[0].text + BOOT;
  let min: string;
  if (off.has("mangle")) {
    min = (await esbuild.build({ ...opts, minify: true })).outputFiles[0].text;
  } else {
    const m = mangleable(sourceProgram(ROOT, ENTRY), ROOT, plain);
    min = (await esbuild.build({ ...opts, minify: true, mangleProps: new RegExp("^(" + m.names.join("|") + ")$"), mangleCache: mangleCache(m.names, plain) })).outputFiles[0].text;
  }
  // The minifier and the passes after it only rename, remove and substitute: the gate already
  // checked every construct in the sources. The result is parsed once more so a bad substitution
  // fails the build, not a board. Overlays run in two halves around the renaming. With overlays the
  // boot line empties their cache once boot is done, and every minute the recorder is idle, so
  // what a recording needed is freed after it.
  if (!off.has("inline-constants")) min = inlineConstants(min).text;
  if (!off.has("overlay")) min = overlayPrepare(min).text;
  if (!off.has("global-scope")) {
    const global = toGlobalScope(min);
    const cache = global.renames.get("__ovlCache");
    const boot = off.has("overlay") ? "Recorder.boot();"
      : `{ Recorder.boot(); ${cache} = []; setInterval(function () { if (recorder.state !== ${RECORDING_STATE}) ${cache} = []; }, 6e4); }`;
    min = global.text + BOOT.replace("Recorder.boot();", boot);
  } else {
    min += BOOT;
  }
  if (!off.has("overlay")) min = overlayFinish(min).text;
  await esbuild.transform(min, { loader: "js" });
  return { plain, min, without };
}

/** dist/recorder.min.js, built first when missing (tests, the simulator, the demo). Returns its path. */
export async function ensureBundle(): Promise<string> {
  if (!existsSync(OUT_MIN)) write(await buildFirmware());
  return OUT_MIN;
}

function write(b: { plain: string; min: string }): void {
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, b.plain);
  writeFileSync(OUT_MIN, b.min);
}

/** The value of `--name v` or `--name=v` in `args`, or undefined. */
function arg(args: string[], name: string): string | undefined {
  const i = args.findIndex((a) => a === name || a.startsWith(name + "="));
  if (i < 0) return undefined;
  return args[i].includes("=") ? args[i].slice(name.length + 1) : args[i + 1] || "";
}

async function main(args: string[]): Promise<number> {
  if (args.includes("--measure")) {
    const { measurePasses } = await import("./measure.js");
    return measurePasses();
  }
  const check = args.includes("--check");
  const list = arg(args, "--without");
  const b = await buildFirmware(list !== undefined ? { without: passList(list) } : undefined);
  if (!check) write(b);
  const kb = (n: number) => (n / 1024).toFixed(1) + " KiB";
  const verb = check ? "checked" : "wrote";
  if (b.without.length) console.log(`passes switched off: ${b.without.join(", ")}`);
  console.log(`${verb} ${path.relative(ROOT, OUT)}      ${String(b.plain.length).padStart(7)} bytes (${kb(b.plain.length)})`);
  console.log(`${verb} ${path.relative(ROOT, OUT_MIN)}  ${String(b.min.length).padStart(7)} bytes (${kb(b.min.length)}); budget ${BUDGET} bytes: ${b.min.length <= BUDGET ? "OK" : "OVER"}`);
  return b.min.length > BUDGET ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: Error) => {
    console.error(String(e.message || e));
    process.exit(1);
  });
}
