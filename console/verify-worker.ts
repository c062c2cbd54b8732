// The in-browser offline verifier: a worker that checks a dropped bundle with verifier/verify.ts,
// built for the browser (scripts/build-console.mjs swaps Node's hashing, Ed25519, ZIP reading and
// WebAssembly loading for the browser's). Nothing leaves the browser: the only request is for
// c2pa-rs's WebAssembly, from the gateway that served this page.
import { verifyOpened } from "../verifier/verify.js";
import { openBlobArchive } from "./verify-shims/zip.js";
import { setC2paWasm } from "./verify-shims/wasm-source.js";

interface Job { file: File; stationKey?: string }

addEventListener("message", (m: MessageEvent<Job>) => {
  void (async () => {
    try {
      const r = await fetch("/console/c2pa.wasm", { credentials: "same-origin" });
      if (!r.ok) throw new Error(`c2pa.wasm: HTTP ${r.status}`);
      setC2paWasm(new Uint8Array(await r.arrayBuffer()));
      const zip = await openBlobArchive(m.data.file).catch((e: Error) => e);
      const report = await verifyOpened(zip, m.data.file.name, { stationKey: m.data.stationKey, onProgress: (done, total) => postMessage({ progress: [done, total] }) });
      postMessage({ report });
    } catch (e) {
      postMessage({ error: String((e as Error).message ?? e) });
    }
  })();
});
