#!/usr/bin/env node
// npm run build:verifier: the offline verifier as one file, dist/evrec-verify.mjs, that runs on
// any Node 20 or later with nothing installed: what the station hands an outside expert with a
// bundle. esbuild bundles verifier/cli.ts with the ZIP reader and c2pa-rs's JavaScript glue; the
// WebAssembly is carried inside, gzip-compressed and base64-encoded (9 MB become about 4), in
// place of verifier/wasm-source.ts, which reads it from node_modules when run from the repository.
// `--out FILE` writes elsewhere.
import * as esbuild from "esbuild";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const i = process.argv.indexOf("--out");
const OUT = i > 0 ? path.resolve(process.argv[i + 1]) : path.join(ROOT, "dist", "evrec-verify.mjs");

const wasmFile = createRequire(path.join(ROOT, "package.json")).resolve("@contentauth/c2pa-wasm/c2pa.wasm");
const packed = gzipSync(readFileSync(wasmFile), { level: 9 }).toString("base64");

const embedWasm = {
  name: "embed-c2pa-wasm",
  setup(build) {
    build.onResolve({ filter: /wasm-source\.js$/ }, () => ({ path: "embedded-c2pa-wasm", namespace: "evrec" }));
    build.onLoad({ filter: /.*/, namespace: "evrec" }, () => ({
      loader: "js",
      contents: `import { gunzipSync } from "node:zlib";
const PACKED = ${JSON.stringify(packed)};
export function c2paWasm() { return gunzipSync(Buffer.from(PACKED, "base64")); }`,
    }));
  },
};

mkdirSync(path.dirname(OUT), { recursive: true });
await esbuild.build({
  entryPoints: [path.join(ROOT, "verifier", "cli.ts")],
  outfile: OUT,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  legalComments: "none",
  plugins: [embedWasm],
  // The ZIP reader is CommonJS and requires Node's modules: give the ES module a require.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __evrecRequire } from 'node:module';\nconst require = __evrecRequire(import.meta.url);" },
  logLevel: "warning",
});
console.log(`build:verifier: ${path.relative(process.cwd(), OUT)} (${(statSync(OUT).size / 1048576).toFixed(1)} MiB): node ${path.basename(OUT)} BUNDLE.zip --station-key KEY`);
