// C2PA manifests on exported media (docs/EVIDENCE.md, SPEC.md R-EXP-8), signed with the
// station's C2PA certificate (x509.ts) through c2pa-rs built for WebAssembly
// (@contentauth/c2pa-wasm), in a thread of its own (c2pa-worker.mjs says why, and how the
// signature is made): one for the process, whatever exports run at once, signing one asset at a
// time, started at a signature and ended once none has come for IDLE_MS, so an export's signing
// neither holds the gateway's event loop nor leaves its memory behind.
import { Worker } from "node:worker_threads";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { SigningCredentials } from "./x509.js";
import { pemCertificates } from "./x509.js";
import { C2PA_ASSERTION } from "../../protocol/bundle.js";

/** The signing thread ends once no signature has come for this long (its memory goes with it). */
const IDLE_MS = 2000;

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

/** A signing thread, and the signatures waiting for it. */
interface Thread { worker: Worker; waiting: Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }> }

/** The process's signing thread (c2pa-worker.mjs). */
class SigningThread {
  private current: Thread | null = null;
  private next = 1;
  private idle: NodeJS.Timeout | null = null;

  sign(job: Record<string, unknown>): Promise<Uint8Array> {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const t = this.thread();
    // Held while a signature waits (a CLI's export waits for it), let go of once none does.
    t.worker.ref();
    return new Promise((resolve, reject) => {
      const id = this.next++;
      t.waiting.set(id, { resolve, reject });
      t.worker.postMessage({ id, ...job });
    });
  }

  /** End the thread now; what waited for it fails, and the next signature starts another. */
  async stop(): Promise<void> {
    const t = this.current;
    this.current = null;
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    if (t) await t.worker.terminate();
  }

  private thread(): Thread {
    if (this.current) return this.current;
    const worker = new Worker(new URL("./c2pa-worker.mjs", import.meta.url), { workerData: { module: wasmModule(), assertionLabel: C2PA_ASSERTION } });
    const t: Thread = { worker, waiting: new Map() };
    worker.on("message", (m: Reply) => {
      const p = t.waiting.get(m.id);
      if (!p) return;
      t.waiting.delete(m.id);
      if (m.ok) p.resolve(m.signed);
      else p.reject(new C2paError(m.code, m.message));
      if (!t.waiting.size && this.current === t) {
        worker.unref();
        this.idle = setTimeout(() => { if (this.current === t && !t.waiting.size) void this.stop(); }, IDLE_MS).unref();
      }
    });
    // The thread gone (ended, failed to load, out of memory): what waited for it fails, and the next signature starts another.
    const gone = (why: string) => {
      if (this.current === t) this.current = null;
      for (const p of t.waiting.values()) p.reject(new C2paError("C2PA_STOPPED", `C2PA signing stopped: ${why}`));
      t.waiting.clear();
    };
    worker.on("error", (e) => gone(e.message));
    worker.on("exit", (code) => gone(`its thread ended (exit code ${code})`));
    return (this.current = t);
  }
}

const signing = new SigningThread();

/** End the process's signing thread now (its memory given back); a signature after this starts another. */
export function stopSigning(): Promise<void> {
  return signing.stop();
}

/** Signs exported media with one certificate chain and its key. */
export class C2paSigner {
  private chain: Uint8Array[];
  /** The key, read at the first signature: once a signer (an export), not once a frame. */
  private keyPem: string | null = null;

  constructor(private cred: SigningCredentials) {
    this.chain = pemCertificates(cred.chainPem).map((p) => new Uint8Array(new X509Certificate(p).raw));
    if (!this.chain.length) throw new C2paError("NO_CERTIFICATE", "no C2PA signing certificate");
  }

  /**
   * Embed a manifest in `asset` (format "audio/wav" or "image/jpeg"): a c2pa.created action (the
   * recording was made by a recorder and kept as it was) and our assertion with the recording's ids,
   * seal value and log index. Returns the signed asset; `asset` is copied, not taken.
   */
  sign(asset: Uint8Array, format: "audio/wav" | "image/jpeg", title: string, a: RecordingAssertion, createdAt: number): Promise<Uint8Array> {
    const keyFile = this.cred.keyFile;
    try {
      this.keyPem ??= readFileSync(keyFile, "utf8");
    } catch (e) {
      return Promise.reject(new C2paError("C2PA_KEY", `the C2PA signing key ${keyFile} can't be read: ${(e as Error).message}`));
    }
    return signing.sign({ keyFile, keyPem: this.keyPem, chain: this.chain, asset, format, title, assertion: a, createdAt });
  }
}
