// Where the offline verifier finds c2pa-rs's WebAssembly: here, next to the installed package.
// `npm run build:verifier` replaces this module with one that carries the bytes inside the
// bundle (compressed), so the single file needs nothing installed.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** The bytes of c2pa_bg.wasm. */
export function c2paWasm(): Uint8Array {
  return readFileSync(createRequire(import.meta.url).resolve("@contentauth/c2pa-wasm/c2pa.wasm"));
}
