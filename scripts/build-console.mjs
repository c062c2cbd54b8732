#!/usr/bin/env node
// npm run build:console (npm start runs it first): the station console into dist/console/, built
// with esbuild from console/: app.js (the page's one script, Preact + htm, minified), the offline
// verifier as a worker (verifier/ built for the browser: SHA-256 and Ed25519 from @noble, the ZIP
// read from the dropped File, c2pa-rs's WebAssembly fetched from this origin), the page and its
// style. Prints each file's size; `--out DIR` writes elsewhere. Nothing built is committed.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The browser's stand-ins for what the verifier takes from Node (see console/verify-shims/). */
const browserShims = {
  name: "verifier-for-the-browser",
  setup(build) {
    const shim = (file) => ({ path: path.join(ROOT, "console", "verify-shims", file) });
    build.onResolve({ filter: /(^|\/)sha256-node\.js$/ }, () => shim("sha256.ts"));
    build.onResolve({ filter: /(^|\/)ed25519-node\.js$/ }, () => shim("ed25519.ts"));
    build.onResolve({ filter: /^\.\/zip\.js$/ }, (a) => (a.importer.includes(`${path.sep}verifier${path.sep}`) ? shim("zip.ts") : undefined));
    build.onResolve({ filter: /^\.\/wasm-source\.js$/ }, () => shim("wasm-source.ts"));
    build.onResolve({ filter: /^\.\/hash\.js$/ }, (a) => (a.importer.includes(`${path.sep}verifier${path.sep}`) ? shim("hash.ts") : undefined));
  },
};

/** Build into `out` (default dist/console); returns each file's size in bytes (and app.js gzipped). */
export async function buildConsole(out = path.join(ROOT, "dist", "console"), { quiet = false } = {}) {
  mkdirSync(out, { recursive: true });
  const common = { bundle: true, format: "esm", target: "es2022", platform: "browser", minify: true, legalComments: "none", logLevel: "warning", charset: "utf8" };
  await esbuild.build({ ...common, entryPoints: [path.join(ROOT, "console", "app.ts")], outfile: path.join(out, "app.js") });
  await esbuild.build({ ...common, entryPoints: [path.join(ROOT, "console", "verify-worker.ts")], outfile: path.join(out, "verify-worker.js"), plugins: [browserShims] });
  copyFileSync(path.join(ROOT, "console", "index.html"), path.join(out, "index.html"));
  copyFileSync(path.join(ROOT, "console", "style.css"), path.join(out, "style.css"));
  copyFileSync(createRequire(path.join(ROOT, "package.json")).resolve("@contentauth/c2pa-wasm/c2pa.wasm"), path.join(out, "c2pa.wasm"));
  const size = (f) => statSync(path.join(out, f)).size;
  const sizes = { "app.js": size("app.js"), "app.js.gz": gzipSync(readFileSync(path.join(out, "app.js"))).length, "style.css": size("style.css"), "verify-worker.js": size("verify-worker.js"), "c2pa.wasm": size("c2pa.wasm") };
  writeFileSync(path.join(out, "sizes.json"), JSON.stringify(sizes) + "\n");
  if (!quiet) {
    const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
    console.log(`build:console: ${path.relative(process.cwd(), out) || "."}: app.js ${kib(sizes["app.js"])} (${kib(sizes["app.js.gz"])} gzipped), style.css ${kib(sizes["style.css"])}; in-browser verifier: verify-worker.js ${kib(sizes["verify-worker.js"])}, c2pa.wasm ${kib(sizes["c2pa.wasm"])} (loaded only when a bundle is checked)`);
  }
  return sizes;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--out");
  await buildConsole(i > 0 ? path.resolve(process.argv[i + 1]) : undefined);
}
