// C2PA manifests on exported media (docs/EVIDENCE.md, SPEC.md R-EXP-8), signed with the
// station's C2PA certificate (x509.ts) through c2pa-rs built for WebAssembly
// (@contentauth/c2pa-wasm), in a thread of its own (c2pa-worker.mjs says why, and how the
// signature is made): one per signer, started at its first signature and ended by close(), so an
// export's signing neither holds the gateway's event loop nor leaves its memory behind.
import { Worker } from "node:worker_threads";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { SigningCredentials } from "./x509.js";
import { pemCertificates } from "./x509.js";
import { C2PA_ASSERTION } from "../../protocol/bundle.js";

export class C2paError extends Error {
  constructor(public code: string, message: string) {
    super(message);
    this.name = "C2paError";
  }
}

export interface RecordingAssertion {
  device: string;
  recording: number;
  sealValue: string;
  logIndex: number;
  fromSeq: number;
  toSeq: number;
  excerpt: boolean;
}

/** WebAssembly's global (the types this project builds with declare its types only). */
const Wasm = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => object } }).WebAssembly;
let compiled: object | null = null;
/** c2pa-rs's WebAssembly module, compiled once for the process: each signing thread instantiates it. */
function wasmModule(): object {
  return (compiled ??= new Wasm.Module(readFileSync(createRequire(import.meta.url).resolve("@contentauth/c2pa-wasm/c2pa.wasm"))));
}

type Reply = { id: number; ok: true; signed: Uint8Array } | { id: number; ok: false; code: string; message: string };

/** Signs exported media with one certificate chain and its key. */
export class C2paSigner {
  private worker: Worker | null = null;
  private waiting = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  private next = 1;
  private chain: Uint8Array[];

  constructor(private cred: SigningCredentials) {
    this.chain = pemCertificates(cred.chainPem).map((p) => new Uint8Array(new X509Certificate(p).raw));
    if (!this.chain.length) throw new C2paError("NO_CERTIFICATE", "no C2PA signing certificate");
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL("./c2pa-worker.mjs", import.meta.url), { workerData: { module: wasmModule(), keyFile: this.cred.keyFile, chain: this.chain, assertionLabel: C2PA_ASSERTION } });
    w.on("message", (m: Reply) => {
      const p = this.waiting.get(m.id);
      if (!p) return;
      this.waiting.delete(m.id);
      if (m.ok) p.resolve(m.signed);
      else p.reject(new C2paError(m.code, m.message));
    });
    // The thread gone (it failed to load, or ran out of memory): what waited fails, and the next signature starts another.
    const gone = (why: string) => {
      if (this.worker === w) this.worker = null;
      for (const p of this.waiting.values()) p.reject(new C2paError("C2PA_SIGN", `C2PA signing stopped: ${why}`));
      this.waiting.clear();
    };
    w.on("error", (e) => gone(e.message));
    w.on("exit", (code) => gone(`its thread ended (exit code ${code})`));
    return (this.worker = w);
  }

  /**
   * Embed a manifest in `asset` (format "audio/wav" or "image/jpeg"): a c2pa.created action (the
   * recording was made by a recorder and kept as it was) and our assertion with the recording's ids,
   * seal value and log index. Returns the signed asset; `asset` is copied, not taken.
   */
  sign(asset: Uint8Array, format: "audio/wav" | "image/jpeg", title: string, a: RecordingAssertion, createdAt: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.waiting.set(id, { resolve, reject });
      this.thread().postMessage({ id, asset, format, title, assertion: a, createdAt });
    });
  }

  /** End the signing thread and give back its memory; a signature after this starts another. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
