// c2pa-rs's WebAssembly for the in-browser verifier (in place of verifier/wasm-source.ts): the
// worker fetches /console/c2pa.wasm from the gateway before it verifies, and hands it here.
let bytes: Uint8Array | null = null;
export function setC2paWasm(b: Uint8Array): void { bytes = b; }
export function c2paWasm(): Uint8Array {
  if (!bytes) throw new Error("c2pa.wasm not loaded");
  return bytes;
}
